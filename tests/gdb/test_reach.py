#!/usr/bin/env python3
"""test_reach.py - breakpoints and watchpoints stop exactly where asked, however
control or the access arrives: the real gdb against a live guest (`flashback
run -S`) and against its recording (`flashback gdb TRACE`), forwards and with
reverse-continue.

usage: test_reach.py FLASHBACK REACH_ELF DISK GDB SEABIOS RESET92_IMG CASE

The guest is tests/gdb/reach.c (every way of reaching an instruction, each
at a global label, and the watched accesses).

Breakpoint cases: the reference is where the recording's
instruction-by-instruction listing (`flashback trace`, which steps the
replay engine one instruction at a time and knows nothing of breakpoints)
has EIP at one of the labels: a list of (icount, EIP).  gdb must stop at
exactly those, in order: live with `continue` (icounts from `monitor
icount`), on the recording with `continue`, and from the recording's end
with `reverse-continue`, last first, until the history begins.

Watchpoint cases (watch_*, rwatch_*): the stops, their PC, ECX (in a REP)
and the old and new values gdb prints, live and recorded, forwards and
backwards (where gdb shows the write undone: the old value is the one
after it).

NMI delivery: `reach-nmi` (the local APIC's self-IPI); gdb's `monitor nmi`
on LINT1 is tests/gdb/test_nmi.py.
"""

import os
import re
import subprocess
import sys
import tempfile

from gdbtest import Flashback, ReplayServer, fail, record, symbol

FLASHBACK, REACH, DISK, GDB, SEABIOS, RESET92, CASE = sys.argv[1:8]
MACHINE = ['-kernel', REACH, '-hda', DISK]
START = 0  # the icount a recording (and a live run) starts at

TRY = ['python',
       'def tryit(c):',
       '    try:',
       '        gdb.execute(c)',
       '    except gdb.error as e:',
       '        print("ERROR: %s" % e)',
       'end']


def run_gdb(target, commands, symbols=REACH, timeout=300):
    """gdb -batch with @commands against @target (a Flashback or ReplayServer)."""
    path = os.path.join(target.dir, 'cmds%d.gdb' % len(os.listdir(target.dir)))
    with open(path, 'w') as f:
        f.write('\n'.join(TRY + commands) + '\n')
    args = [GDB, '-batch', '-nx', '-ex', 'set architecture i386', '-ex', 'file ' + symbols,
            '-ex', 'target remote 127.0.0.1:%d' % target.port, '-x', path]
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        target.kill()
        fail('gdb did not finish within %d s' % timeout)
    print(r.stdout)
    return r.stdout


def expect(out, pattern, what):
    m = re.search(pattern, out, re.M)
    if not m:
        fail('%s: no match for %r' % (what, pattern))
    print('ok: ' + what)
    return m


def live(extra=(), machine=MACHINE):
    return Flashback(FLASHBACK, REACH, wait=True, extra=extra, machine=machine)


def recording(machine=MACHINE, extra=()):
    work = tempfile.mkdtemp(prefix='fbreach-')
    return record(FLASHBACK, REACH, work, extra=extra, machine=machine)


def end_of_live(fb, out, status=1):
    # gdb is told flashback's exit status, and prints it in octal
    expect(out, r'^\[Inferior 1 \(Remote target\) exited with code 0*%o\]' % status,
           'the guest ran to its end')
    got = fb.finish()
    if got != status:
        fail('flashback exited with %d, expected %d: %s' % (got, status, fb.stderr()))


def end_of_replay(srv):
    status = srv.finish()
    if status != 0:
        fail('flashback gdb exited with %d after kill: %s' % (status, srv.stderr()))


# ---- the reference -------------------------------------------------------------------

TRACE_LINE = re.compile(r'^\s*(\d+)\s+[0-9a-f]{4}:([0-9a-f]{4,8})\s+\(')


def executed_at(trace, eips, ranges):
    """(icount, EIP) of every instruction the recording ran at one of @eips, in
    the icount ranges @ranges (inclusive), from `flashback trace`."""
    hits = []
    for lo, hi in ranges:
        r = subprocess.run([FLASHBACK, 'trace', trace, '--from', str(lo), '--to', str(hi)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            fail('flashback trace %d-%d: %s' % (lo, hi, r.stderr))
        for line in r.stdout.splitlines():
            m = TRACE_LINE.match(line)
            if m and int(m.group(2), 16) in eips:
                hits.append((int(m.group(1)), int(m.group(2), 16)))
    return hits


def final_icount(trace):
    info = subprocess.run([FLASHBACK, 'info', trace], capture_output=True, text=True).stdout
    return int(expect(info, r'final icount (\d+)', 'the recording has an end').group(1))


def events(trace, kind):
    out = subprocess.run([FLASHBACK, 'events', trace, '--kind', kind], capture_output=True,
                         text=True).stdout
    return [(int(m.group(1)), m.group(2)) for m in
            re.finditer(r'^\s*(\d+)\s+\S+\s+(.*)$', out, re.M)]


# ---- breakpoint stops ----------------------------------------------------------------


def stop_commands(tag, n, cmd):
    out = []
    for _ in range(n):
        out += [cmd, 'echo @@%s\\n' % tag, 'p/x $pc', 'monitor icount']
    return out


def stops(out, tag):
    """(icount, pc) at each marked stop."""
    got = []
    for part in out.split('@@%s\n' % tag)[1:]:
        pc = re.search(r'^\$\d+ = (0x[0-9a-f]+)', part, re.M)
        icount = re.search(r'^(\d+)$', part, re.M)
        if not pc or not icount:
            fail('a %s stop without pc or icount: %r' % (tag, part[:300]))
        got.append((int(icount.group(1)), int(pc.group(1), 16)))
    return got


def same_stops(got, want, what):
    if got != want:
        fail('%s: stops %s, expected %s' % (what, fmt(got), fmt(want)))
    print('ok: %s: %d stops, %s' % (what, len(got), fmt(got)))


def fmt(hits):
    return ', '.join('%d@%#x' % h for h in hits)


def breakpoints_at(names):
    return ['break ' + n for n in names]


def reach(names, after=None, machine=MACHINE, symbols=REACH, addrs=None, ranges=None,
          max_back=None):
    """The breakpoint case: @names (symbols, or '*ADDR' with @addrs) in every
    direction.  @after: a function to stop at first (its hit is not
    counted, only the breakpoints' hits after it)."""
    trace = recording(machine)
    end = final_icount(trace)
    if addrs is None:
        addrs = {symbol(symbols, n) for n in names}
    ref = executed_at(trace, addrs, ranges or [(START, end - 1)])
    first = START
    pre = []
    if after:
        first = executed_at(trace, {symbol(symbols, after)}, [(START, end - 1)])[0][0]
        pre = ['break ' + after, 'continue', 'delete']
    forward = [h for h in ref if h[0] > first]
    print('reference: %s (from `flashback trace`)' % fmt(ref))
    if not forward:
        fail('the reference has no hit: the guest does not reach %s' % names)

    # live: every stop, then the guest's end
    fb = live(machine=machine)
    out = run_gdb(fb, pre + breakpoints_at(names) + stop_commands('STOP', len(forward), 'continue')
                  + ['continue'], symbols=symbols)
    if 'SIGTRAP' in out:
        fail('gdb saw a SIGTRAP that is no breakpoint')
    if len(re.findall(r'^(?:Breakpoint|Temporary breakpoint) \d+, ', out, re.M)) < len(forward):
        fail('gdb did not report every stop as a breakpoint')
    same_stops(stops(out, 'STOP'), forward, 'live continue')
    end_of_live(fb, out)

    # the recording: forwards to the end, then backwards to the start
    back = list(reversed(ref))
    if max_back is not None:
        back = back[:max_back]
    srv = ReplayServer(FLASHBACK, trace)
    cmds = (pre + breakpoints_at(names) + stop_commands('STOP', len(forward), 'continue') +
            ['continue', 'echo @@END\\n', 'monitor icount'] +
            stop_commands('BACK', len(back), 'reverse-continue'))
    if max_back is None:
        cmds += ['echo @@BEGIN\\n', 'reverse-continue', 'monitor icount']
    out = run_gdb(srv, cmds + ['kill'], symbols=symbols)
    if 'SIGTRAP' in out:
        fail('gdb saw a SIGTRAP that is no breakpoint')
    same_stops(stops(out, 'STOP'), forward, 'continue on the recording')
    expect(out.split('@@END\n')[0], r'^No more reverse-execution history\.',
           'continue to the end of the recording')
    if int(out.split('@@END\n')[1].split()[0]) != end:
        fail('continue did not end at the final icount %d' % end)
    same_stops(stops(out.split('@@BEGIN\n')[0], 'BACK'), back, 'reverse-continue')
    if max_back is None:
        begin = out.split('@@BEGIN\n')[1]
        expect(begin, r'^No more reverse-execution history\.', 'then the start')
        if int(re.search(r'^(\d+)$', begin, re.M).group(1)) != START:
            fail('the last reverse-continue did not end at the start')
    end_of_replay(srv)


def case_irq():
    """The issue's headline: `break irq0_stub` (an IDT gate's target) stops
    at each timer interrupt, the first one ending a HLT, the others in the
    middle of a running block."""
    reach(['irq0_stub'])


def case_nmi():
    """The NMI gate's target, reached by two NMIs the guest's local APIC
    sends itself (journalled, and raised on replay from the journal)."""
    reach(['nmi_stub'])


def case_exception():
    """#UD through a trap gate, #DE through an interrupt gate."""
    reach(['ud_stub', 'de_stub'])


def case_task_gate():
    reach(['task_gate_entry'])


def case_iret():
    reach(['iret_ret'])


def case_call_gate():
    """Far CALL and far JMP through call gates."""
    reach(['cg_call_entry', 'cg_jmp_entry'])


def case_tss():
    """Far CALL and far JMP to a TSS: task switches."""
    reach(['tss_call_entry', 'tss_jmp_entry'])


def case_sysenter():
    """SYSENTER's target (MSR 0x176) and SYSEXIT's (EDX), from ring 3 and back."""
    reach(['sysenter_entry', 'sysexit_ret'])


def case_block_link():
    """A hot loop (its blocks run and linked 40 times before the breakpoint
    is set): a breakpoint in the middle of the loop's block, which its own
    backward jump enters through the block link; then one at the loop's
    head, the jump's target; then both.  Backwards the scan goes on into
    the warm-up rounds."""
    reach(['hot_mid'], after='hot_marker', max_back=5)
    reach(['hot_head'], after='hot_marker', max_back=5)
    reach(['hot_mid', 'hot_head'], after='hot_marker', max_back=8)


def case_mid_block():
    """Stopped in the middle of a straight block (mid_a), resumed from there:
    the next breakpoint in the same block (mid_c) stops too."""
    reach(['mid_a', 'mid_c'])


def case_rep():
    """A breakpoint on a REP string instruction: every iteration counts as an
    instruction (icount), so it stops before each, 8 for REP STOSD and 8
    for REP MOVSD, as the listing shows them."""
    reach(['w_stos', 'w_movs'])


def case_reset():
    """-bios: the reset vector (EIP 0xfff0, CS base 0xffff0000) after each of
    the boot sector's two resets through port 0x92, and the first
    instruction of SeaBIOS's POST, reached by the far jump there."""
    if not os.path.exists(SEABIOS):
        print('SKIP: no %s (package seabios)' % SEABIOS)
        sys.exit(77)
    machine = ['-bios', SEABIOS, '-hda', RESET92, '--max-insns', '2000000000']
    trace = recording(machine)
    resets = [i for i, what in events(trace, 'map-change') if 'reset' in what]
    if len(resets) != 2:
        fail('expected two resets in the recording: %s' % resets)
    # SeaBIOS's reset vector jumps to its POST entry: where, the listing says
    first = executed_at(trace, {0xfff0}, [(0, 1)])
    nxt = subprocess.run([FLASHBACK, 'trace', trace, '--from', '1', '--to', '2'],
                         capture_output=True, text=True).stdout
    post = int(TRACE_LINE.match(nxt).group(2), 16)
    if first != [(0, 0xfff0)]:
        fail('the recording does not start at the reset vector: %s' % first)
    ranges = [(0, 1)] + [(i, i + 1) for i in resets]
    # a -bios run has no symbols: the reach guest's stand in for gdb's `file`
    reach(['*0xfff0', '*%#x' % post], machine=machine, addrs={0xfff0, post}, ranges=ranges)


# ---- watchpoints -------------------------------------------------------------------------


def watch_stops(out, tag):
    """(pc, ecx, icount, old, new) at each marked watchpoint stop; a read
    watchpoint's Value is both old and new."""
    got = []
    parts = out.split('@@%s\n' % tag)
    for before, part in zip(parts[:-1], parts[1:]):
        report = before[before.rfind('atchpoint'):]
        old = re.search(r'^Old value = (\d+)$', report, re.M)
        new = re.search(r'^New value = (\d+)$', report, re.M)
        value = re.search(r'^Value = (\d+)$', report, re.M)
        pc, ecx = re.findall(r'^\$\d+ = (0x[0-9a-f]+)', part, re.M)[:2]
        icount = int(re.search(r'^(\d+)$', part, re.M).group(1))
        if value:
            got.append((int(pc, 16), int(ecx, 16), icount, int(value.group(1)),
                        int(value.group(1))))
        elif old and new:
            got.append((int(pc, 16), int(ecx, 16), icount, int(old.group(1)),
                        int(new.group(1))))
        else:
            fail('a %s stop without a watchpoint report: %r' % (tag, report[-300:]))
    return got


def watch_case(command, fwd, back):
    """@command sets the watchpoint; @fwd and @back are the stops expected
    going forwards and (from the end) backwards: (pc, ecx, icount, old, new)
    with None for what is not checked."""
    trace = recording()

    def commands(tag, n, cmd):
        out = []
        for _ in range(n):
            out += [cmd, 'echo @@%s\\n' % tag, 'p/x $pc', 'p/x $ecx', 'monitor icount']
        return out

    def check(got, want, what):
        if len(got) != len(want):
            fail('%s: %d stops, expected %d: %s' % (what, len(got), len(want), got))
        for g, w in zip(got, want):
            for field, gv, wv in zip(('pc', 'ecx', 'icount', 'old', 'new'), g, w):
                if wv is not None and gv != wv:
                    fail('%s: %s is %#x, expected %#x (stop %s)' % (what, field, gv, wv, g))
        print('ok: %s: %s' % (what, ', '.join('pc %#x icount %d %#x -> %#x' %
                                              (g[0], g[2], g[3], g[4]) for g in got)))

    fb = live()
    out = run_gdb(fb, [command] + commands('W', len(fwd), 'continue') + ['continue'])
    check(watch_stops(out, 'W'), fwd, 'live continue')
    end_of_live(fb, out)

    srv = ReplayServer(FLASHBACK, trace)
    out = run_gdb(srv, [command] + commands('W', len(fwd), 'continue') +
                  ['continue', 'echo @@END\\n'] + commands('B', len(back), 'reverse-continue') +
                  ['echo @@BEGIN\\n', 'reverse-continue', 'monitor icount', 'kill'])
    check(watch_stops(out.split('@@END\n')[0], 'W'), fwd, 'continue on the recording')
    check(watch_stops(out.split('@@BEGIN\n')[0].split('@@END\n')[1], 'B'), back,
          'reverse-continue')
    begin = out.split('@@BEGIN\n')[1]
    expect(begin, r'^No more reverse-execution history\.', 'then the start')
    end_of_replay(srv)


V1, V2, V3, V5 = 0x11111111, 0x22222222, 0x33333333, 0x55550005


def sym(name):
    return symbol(REACH, name)


def case_watch_stack():
    """PUSH writes the watched stack word: forwards gdb stops after each push
    with old and new; backwards before it, the write undone."""
    watch_case('watch wstack[15]',
               [(sym('w_pop1'), None, None, 0, V1), (sym('w_pop2'), None, None, V1, V2)],
               [(sym('w_push2'), None, None, V2, V1), (sym('w_push1'), None, None, V1, 0)])


def case_rwatch_stack():
    """POP reads the watched stack word (a read watchpoint)."""
    watch_case('rwatch wstack[15]',
               [(sym('w_push2'), None, None, V1, V1), (sym('w_stack_end'), None, None, V2, V2)],
               [(sym('w_pop2'), None, None, V2, V2), (sym('w_pop1'), None, None, V1, V1)])


def case_watch_string():
    """REP STOSD then REP MOVSD write sbuf[5]: the stop is after the sixth
    iteration (ECX 2 left), backwards before it (ECX 3)."""
    watch_case('watch sbuf[5]',
               [(sym('w_stos'), 2, None, 0, V3), (sym('w_movs'), 2, None, V3, V5)],
               [(sym('w_movs'), 3, None, V5, V3), (sym('w_stos'), 3, None, V3, 0)])


def case_rwatch_string():
    """REP MOVSD reads ssrc[5] in its sixth iteration."""
    watch_case('rwatch ssrc[5]', [(sym('w_movs'), 2, None, V5, V5)],
               [(sym('w_movs'), 3, None, V5, V5)])


def case_watch_dma():
    """The ATA bus master writes the watched word (sector 5's then sector 9's
    LBA): gdb stops at the DMA's icount, old and new values, both ways."""
    trace = recording()
    dma = [i for i, _ in events(trace, 'dma-write')]
    if len(dma) != 2:
        fail('expected two DMA writes in the recording: %s' % dma)
    watch_case('watch *(unsigned int *)&dbuf[4]',
               [(None, None, dma[0], 0, 5), (None, None, dma[1], 5, 9)],
               [(None, None, dma[1], 9, 5), (None, None, dma[0], 5, 0)])


# ---- the gdb extension (tools/flashback-gdb.py) ---------------------------------------

EXTENSION = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tools',
                         'flashback-gdb.py')


def case_extension():
    """fb-goto, fb-icount, fb-events and fb-history, with their help, on a
    recording and (what works there) live; their bad input."""
    trace = recording()
    end = final_icount(trace)
    pushes = executed_at(trace, {sym('w_push1'), sym('w_push2')}, [(START, end - 1)])
    push1, push2 = pushes[0][0], pushes[1][0]
    srv = ReplayServer(FLASHBACK, trace)
    out = run_gdb(srv, [
        'source ' + EXTENSION,
        'echo @@HELP\\n', 'help fb-goto', 'help fb-icount', 'help fb-events', 'help fb-history',
        'break w_push2', 'continue', 'echo @@ICOUNT\\n', 'fb-icount', 'p $fb_icount',
        'echo @@EVENTS\\n', 'fb-events 2',
        'echo @@HIST\\n', 'fb-history wstack[15]',
        'echo @@HIST2\\n', 'fb-history &wstack[15]',
        'echo @@HIST3\\n', 'fb-history wstack[15] 2',
        'echo @@HIST4\\n', 'fb-history sbuf',
        'echo @@GOTO\\n', 'fb-goto %d' % push1, 'p/x $pc', 'p/x wstack[15]', 'stepi',
        'p/x wstack[15]',
        'echo @@GOTO2\\n', 'fb-goto $fb_icount', 'p/x $pc',
        'echo @@BAD\\n',
        'python tryit("fb-goto %d")' % (end + 1),
        'fb-icount',
        'python tryit("fb-goto")',
        'python tryit("fb-goto -1")',
        'python tryit("fb-history nosuchvar")',
        'python tryit("fb-history")',
        'python tryit("fb-history wstack[15] 0")',
        'python tryit("fb-history 0xfffffffe 4")',
        'python tryit("fb-history 0xf0000000")',
        'python tryit("fb-events 999")',
        'python tryit("fb-icount now")',
        'kill'])
    end_of_replay(srv)
    part = lambda tag: out.split('@@%s\n' % tag)[1].split('@@')[0]
    for name, words in (('fb-goto', 'Go to an icount'), ('fb-icount', 'current icount'),
                        ('fb-events', 'events near here'), ('fb-history', 'every write')):
        expect(part('HELP'), words, 'help ' + name)
    expect(part('ICOUNT'), r'^icount %d$' % push2, 'fb-icount at the second push')
    expect(part('ICOUNT'), r'^\$1 = %d$' % push2, '$fb_icount')
    expect(part('EVENTS'), r'^\s+%d\s+<-- here' % push2, 'fb-events marks here')
    for tag, size in (('HIST', 4), ('HIST2', 4), ('HIST3', 2)):
        h = part(tag)
        expect(h, r'^writes to 0x%x .*, %d bytes' % (sym('wstack') + 60, size),
               'fb-history %s: the address and size' % tag)
        expect(h, r'^\s+%d\s+0008:%08x\s+push 0x11111111\s+0x%08x\s+%d\s+0+ -> (11)+$' %
               (push1, sym('w_push1'), sym('wstack') + 60, size), 'the first push')
        expect(h, r'^\s+%d\s+0008:%08x\s+push 0x22222222\s+0x%08x\s+%d\s+(11)+ -> (22)+$' %
               (push2, sym('w_push2'), sym('wstack') + 60, size), 'the second push')
        expect(h, r'^\d+ writes \(fb-goto ICOUNT goes to one\)', 'the count, in its terms')
    h = part('HIST4')
    expect(h, r'^writes to 0x%x .*, 32 bytes' % sym('sbuf'), 'fb-history sbuf: all of it')
    if len(re.findall(r'rep stosd', h)) != 8 or len(re.findall(r'rep movsd', h)) != 8:
        fail('fb-history sbuf: not 8 REP STOSD and 8 REP MOVSD writes')
    print('ok: fb-history sbuf: every iteration of both strings')
    g = part('GOTO')
    expect(g, r'^#0\s+w_push1 \(\) at .*reach_code\.asm:\d+', 'fb-goto shows the frame')
    expect(g, r'^\$\d+ = 0x%x$' % sym('w_push1'), 'registers refreshed: before the push')
    if re.findall(r'^\$\d+ = (0x[0-9a-f]+)$', g, re.M)[1:] != ['0x0', '0x11111111']:
        fail('the push after fb-goto did not write 0x11111111')
    print('ok: stepi from there writes the word')
    expect(part('GOTO2'), r'^\$\d+ = 0x%x$' % sym('w_push2'), 'fb-goto $fb_icount')
    bad = part('BAD')
    for pattern, what in (
            (r'^ERROR: icount %d is outside the recording \(0 to %d\): not moved$' % (end + 1, end),
             'fb-goto past the end'),
            (r'^icount %d$' % push2, 'nothing moved'),
            (r'^ERROR: usage: fb-goto N$', 'fb-goto without N'),
            (r'^ERROR: fb-goto: -1 is negative$', 'a negative icount'),
            (r'^ERROR: fb-history: No symbol "nosuchvar" in current context\.$', 'a bad symbol'),
            (r'^ERROR: usage: fb-history EXPR \[LEN\]$', 'fb-history without EXPR'),
            (r'^ERROR: fb-history wstack\[15\] 0: usage: monitor history ADDR \[LEN\]', 'LEN 0'),
            (r'^ERROR: fb-history 0xfffffffe 4: usage: monitor history', 'beyond 4 GiB'),
            (r'^ERROR: fb-history 0xf0000000: 0xf0000000 is not mapped', 'unmapped memory'),
            (r'^ERROR: usage: fb-events \[N\]', 'fb-events 999'),
            (r'^ERROR: usage: fb-icount$', 'fb-icount with an argument')):
        expect(bad, pattern, what)

    # fb-history from a stop in an interrupt handler comes back to it: the
    # handler's first instruction has the icount of the instruction the
    # interrupt came before, so the icount alone is not the place
    srv = ReplayServer(FLASHBACK, trace)
    out = run_gdb(srv, ['source ' + EXTENSION, 'break irq0_stub', 'continue', 'fb-icount',
                        'fb-history irq0_count', 'maintenance flush register-cache',
                        'echo @@AFTER\\n', 'p/x $pc', 'fb-icount', 'p irq0_count', 'continue',
                        'p irq0_count', 'kill'])
    end_of_replay(srv)
    irq = executed_at(trace, {sym('irq0_stub')}, [(START, end - 1)])
    after = out.split('@@AFTER\n')[1]
    expect(after, r'^\$\d+ = 0x%x$' % sym('irq0_stub'), 'still in irq0_stub after fb-history')
    expect(after, r'^icount %d$' % irq[0][0], 'at the same icount')
    if re.findall(r'^\$\d+ = (\d+)$', after, re.M) != ['0', '1']:
        fail('irq0_count is not 0 at the first tick and 1 at the next')
    print('ok: the next continue stops at the next tick')

    # live: fb-icount works, the rest want a recording
    fb = live()
    out = run_gdb(fb, ['source ' + EXTENSION, 'break mid_a', 'continue', 'fb-icount',
                       'python tryit("fb-goto 5")', 'python tryit("fb-history mid_count")',
                       'python tryit("fb-events")', 'delete', 'continue'])
    mid_a = executed_at(trace, {sym('mid_a')}, [(START, end - 1)])[0][0]
    expect(out, r'^icount %d$' % mid_a, 'fb-icount live')
    for name in ('fb-goto', 'fb-history', 'fb-events'):
        expect(out, r'^ERROR: %s works on a recording' % name, name + ' live is refused')
    end_of_live(fb, out)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith('case_')}

if CASE not in CASES:
    fail('unknown case ' + CASE)
CASES[CASE]()
print('PASS ' + CASE)
