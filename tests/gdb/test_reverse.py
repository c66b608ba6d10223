#!/usr/bin/env python3
"""test_reverse.py - reverse debugging: the real gdb against `flashback gdb TRACE`.

usage: test_reverse.py FLASHBACK CHAIN_ELF GDB CASE

Each case records the chain guest (tests/gdb/chain.c: guest_main -> top ->
middle -> leaf four times, the global `watched` written in leaf, in middle
and once at the end, timer interrupts meanwhile), serves the recording with
`flashback gdb`, drives `gdb -batch -nx` with a command file and checks
gdb's output.  The packets-level cases (packets_*) talk to the stub over a
raw socket instead.  Every case ends with `kill`, after which the server
must exit with status 0: it served to the end without crashing.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

from gdbtest import Client, ReplayServer, check, check_error, fail, record, symbol

FLASHBACK, CHAIN, GDB, CASE = sys.argv[1:5]

# Commands that may fail, run through gdb's Python so that the batch goes on.
TRY = ['python',
       'def tryit(c):',
       '    try:',
       '        gdb.execute(c)',
       '    except gdb.error as e:',
       '        print("ERROR: %s" % e)',
       'end']

GENERAL = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip', 'eflags',
           'cs', 'ss', 'ds', 'es', 'fs', 'gs']


def serve(extra=()):
    work = tempfile.mkdtemp(prefix='fbrev-trace-')
    trace = record(FLASHBACK, CHAIN, work)
    srv = ReplayServer(FLASHBACK, trace, extra)
    srv.trace = trace
    return trace, srv


def srv_trace(srv):
    return srv.trace


def run_gdb(srv, commands, timeout=240):
    path = os.path.join(srv.dir, 'cmds%d.gdb' % len(os.listdir(srv.dir)))
    with open(path, 'w') as f:
        f.write('\n'.join(TRY + commands + ['kill']) + '\n')
    args = [GDB, '-batch', '-nx', '-ex', 'set architecture i386', '-ex', 'file ' + CHAIN,
            '-ex', 'target remote 127.0.0.1:%d' % srv.port, '-x', path]
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        srv.kill()
        fail('gdb did not finish within %d s' % timeout)
    out = r.stdout
    print(out)
    status = srv.finish()
    if status != 0:
        fail('flashback gdb exited with %d after kill: %s' % (status, srv.stderr()))
    return out


def expect(out, pattern, what):
    m = re.search(pattern, out, re.M)
    if not m:
        fail('%s: no match for %r' % (what, pattern))
    print('ok: ' + what)
    return m


def sections(out, tag):
    """gdb output split at 'echo TAG\\n' markers: the text after each."""
    return out.split(tag + '\n')[1:]


def registers(text):
    """The general registers in an `info registers` listing."""
    regs = {}
    for name in GENERAL:
        m = re.search(r'^%s\s+(0x[0-9a-f]+)' % name, text, re.M)
        if not m:
            fail('no %s in %r' % (name, text[:400]))
        regs[name] = int(m.group(1), 16)
    return regs


def same_registers(a, b, what):
    if a != b:
        diff = ', '.join('%s %#x/%#x' % (k, a[k], b[k]) for k in GENERAL if a[k] != b[k])
        fail('%s: registers differ: %s' % (what, diff))
    print('ok: %s (eip %#x)' % (what, a['eip']))


def snap(n):
    """Commands that print a marked register listing."""
    return ['echo @@REGS%d\\n' % n, 'info registers']


def regs_at(out, n):
    return registers(out.split('@@REGS%d\n' % n)[1])


def end_icount(trace):
    info = subprocess.run([FLASHBACK, 'info', trace], capture_output=True, text=True).stdout
    m = re.search(r'final icount (\d+)', info)
    if not m:
        fail('flashback info says no final icount: %r' % info)
    return int(m.group(1))


# ---- gdb cases ----------------------------------------------------------------------


def case_reverse_stepi():
    """A breakpoint forwards, two stepi, two reverse-stepi: the same registers back."""
    _, srv = serve()
    out = run_gdb(srv, ['break leaf', 'continue'] + snap(0) + ['stepi'] + snap(1) +
                  ['stepi'] + snap(2) + ['reverse-stepi'] + snap(3) + ['reverse-stepi'] +
                  snap(4))
    expect(out, r'^Breakpoint 1, leaf \(x=x@entry=1\)', 'breakpoint at leaf')
    r = [regs_at(out, i) for i in range(5)]
    if r[0]['eip'] != symbol(CHAIN, 'leaf'):
        fail('eip at the breakpoint is %#x, not leaf' % r[0]['eip'])
    if len({r[0]['eip'], r[1]['eip'], r[2]['eip']}) != 3:
        fail('stepi did not move: %s' % [hex(x['eip']) for x in r[:3]])
    same_registers(r[3], r[1], 'first reverse-stepi lands on the previous instruction')
    same_registers(r[4], r[0], 'second reverse-stepi back at the breakpoint')


def case_reverse_break():
    """reverse-continue stops at earlier hits of a breakpoint, then at the start."""
    _, srv = serve()
    out = run_gdb(srv, ['break leaf', 'continue', 'continue', 'continue', 'echo @@BACK\\n',
                        'reverse-continue', 'reverse-continue', 'reverse-continue', 'p $pc',
                        'continue'])
    back = out.split('@@BACK\n')[1]
    expect(out, r'^Breakpoint 1, leaf \(x=x@entry=3\)', 'third hit forwards')
    hits = re.findall(r'^Breakpoint 1, leaf \(x=x@entry=(\d)\)', back, re.M)
    if hits[:3] != ['2', '1', '1']:
        fail('hits going back then forwards: %s, expected 2, 1, then 1 again' % hits)
    print('ok: reverse-continue hits x=2 then x=1; from the start, continue hits x=1 again')
    expect(back, r'No more reverse-execution history\.\n_start \(\)', 'history begins at _start')
    start = symbol(CHAIN, '_start')
    if '0x%x <_start>' % start not in back:
        fail('$pc at the start of history is not _start')


def case_watch_reverse():
    """At the end, watch `watched` and go back: each write, last first, old and new values."""
    trace, srv = serve()
    out = run_gdb(srv, ['continue', 'monitor when', 'watch watched', 'echo @@W1\\n',
                        'reverse-continue', 'p $pc', 'x/i $pc', 'echo @@W2\\n',
                        'reverse-continue', 'echo @@W3\\n', 'reverse-continue',
                        'echo @@W4\\n', 'continue'])
    expect(out, r'^Current icount: %d ' % end_icount(trace), 'continue ran to the end')
    w1, w2, w3, w4 = [out.split('@@W%d\n' % i)[1] for i in range(1, 5)]
    # the last write: guest_main's `watched = 0x1234`, after middle(4) wrote 10
    expect(w1, r'Old value = 4660\nNew value = 10\n', 'last writer: 0x1234 over 10')
    expect(w1, r'watched = 0x1234;', 'stopped on the writing line in guest_main')
    expect(w1, r'=> 0x[0-9a-f]+ <guest_main\+\d+>:\s+mov\S*\s+[^,]+,0x%x$' % symbol(CHAIN, 'watched'),
           'stopped before the store to watched')
    expect(w2, r'Old value = 10\nNew value = 12\n', 'middle(4) wrote 10 over 12')
    expect(w2, r'^middle \(x=x@entry=4\) at .*\n24\s+watched = r;', 'in middle, line 24')
    expect(w3, r'Old value = 12\nNew value = 8\n', 'leaf(4) wrote 12 over 8')
    expect(w3, r'leaf \(x=x@entry=4\)', 'in leaf')
    expect(w4, r'Old value = 8\nNew value = 12\n', 'forwards again: the same write')


def case_reverse_finish():
    """reverse-finish from leaf returns to the call in middle."""
    _, srv = serve()
    out = run_gdb(srv, ['break leaf', 'continue', 'continue', 'echo @@RF\\n', 'reverse-finish',
                        'x/i $pc', 'bt 2', 'echo @@RF2\\n', 'reverse-finish', 'x/i $pc'])
    rf, rf2 = out.split('@@RF\n')[1], out.split('@@RF2\n')[1]
    expect(rf, r'=> 0x[0-9a-f]+ <middle\+\d+>:\s+call\s+0x[0-9a-f]+ <leaf>', 'at the call of leaf')
    expect(rf, r'^#1\s+0x[0-9a-f]+ in top \(x=x@entry=2\)', 'middle called from top')
    expect(rf2, r'=> 0x[0-9a-f]+ <top\+\d+>:\s+call\s+0x[0-9a-f]+ <middle>', 'again: the call of middle')


def case_reverse_next():
    """reverse-next steps back over calls, reverse-step into them."""
    _, srv = serve()
    out = run_gdb(srv, ['break top', 'continue', 'next', 'next', 'echo @@RN\\n', 'reverse-next',
                        'echo @@RS\\n', 'reverse-step', 'bt 1'])
    rn, rs = out.split('@@RN\n')[1], out.split('@@RS\n')[1]
    expect(rn, r'^32\s+last_total \+= r;', 'reverse-next back to line 32 of top')
    expect(rs, r'^middle \(x=x@entry=1\) at .*\n25\s+return r;', 'reverse-step into middle')


def case_goto():
    """monitor goto back, then forwards again, and from the end: the same registers."""
    _, srv = serve()
    out = run_gdb(srv, ['break middle', 'continue', 'continue', 'echo @@IC\\n',
                        'monitor icount'] + snap(0) +
                  ['delete', 'continue', 'monitor goto 30000',
                   'maintenance flush register-cache'] + snap(1) +
                  ['echo @@IC2\\n', 'monitor icount', 'monitor goto ICOUNT'])
    n = int(out.split('@@IC\n')[1].split()[0])
    r0, r1 = regs_at(out, 0), regs_at(out, 1)
    if r1['eip'] == r0['eip']:
        fail('monitor goto 30000 did not move')
    if int(out.split('@@IC2\n')[1].split()[0]) != 30000:
        fail('monitor icount after goto 30000 is not 30000')
    expect(out, r'^usage: monitor goto ICOUNT', 'a bad goto argument is refused')
    # a second session: forwards from 30000 to the hit, and back from the end
    srv = ReplayServer(FLASHBACK, srv_trace(srv))
    out = run_gdb(srv, ['monitor goto 30000', 'monitor goto %d' % n,
                        'maintenance flush register-cache'] + snap(2) +
                  ['continue', 'monitor goto %d' % n,
                   'maintenance flush register-cache'] + snap(3))
    same_registers(regs_at(out, 2), r0, 'goto forwards to the hit')
    same_registers(regs_at(out, 3), r0, 'goto backwards from the end to the hit')


def case_history():
    """replaylog:begin at the start, replaylog:end at the end, in both directions."""
    trace, srv = serve()
    out = run_gdb(srv, ['echo @@B\\n', 'reverse-stepi', 'monitor when', 'echo @@E\\n',
                        'continue', 'monitor when', 'echo @@E2\\n', 'stepi', 'monitor when',
                        'echo @@B2\\n', 'reverse-continue', 'monitor when'])
    b, e, e2, b2 = [out.split('@@%s\n' % k)[1] for k in ('B', 'E', 'E2', 'B2')]
    end = end_icount(trace)
    expect(b, r'^No more reverse-execution history\.\n_start \(\)', 'reverse-stepi at the start')
    expect(b, r'^Current icount: 0 ', 'still at icount 0')
    expect(e, r'^No more reverse-execution history\.', 'continue to the end')
    expect(e, r'^Current icount: %d ' % end, 'at the final icount')
    expect(e2, r'^No more reverse-execution history\.', 'stepi at the end')
    expect(e2, r'^Current icount: %d ' % end, 'still at the final icount')
    expect(b2, r'^No more reverse-execution history\.\n_start \(\)', 'reverse-continue to the start')
    expect(b2, r'^Current icount: 0 ', 'back at icount 0')
    with open(srv.serial) as f:
        console = f.read()
    if console.count('chain: total 48') != 1:
        fail('the guest console should be printed once: %r' % console)
    print('ok: console printed once')


def case_refused_writes():
    """A recording is read-only: register and memory writes fail, nothing changes."""
    _, srv = serve()
    out = run_gdb(srv, ['break middle', 'continue', 'p/x $eax', 'p watched',
                        'python tryit("set $eax = 0x5555")',
                        'python tryit("set var watched = 77")',
                        'python tryit("jump *0x100010")',
                        'python tryit("x/4x 0xf0000000")',
                        'p/x $eax', 'p watched', 'monitor when'])
    expect(out, r'^ERROR: Could not write register "eax"; remote failure reply \'E30\'',
           'register write refused')
    expect(out, r'^ERROR: Cannot access memory at address 0x[0-9a-f]+', 'memory write refused')
    expect(out, r'ERROR: Cannot access memory at address 0xf0000000', 'unmapped read')
    eax = re.findall(r'^\$\d+ = (0x[0-9a-f]+)', out, re.M)
    watched = re.findall(r'^\$\d+ = (\d+)$', out, re.M)
    if len(eax) != 2 or eax[0] != eax[1] or len(watched) != 2 or watched[0] != watched[1]:
        fail('values changed: eax %s, watched %s' % (eax, watched))
    print('ok: eax and watched unchanged')


def case_monitor():
    """The replay target's monitor commands."""
    _, srv = serve(['--snapshot-memory', '64'])
    out = run_gdb(srv, ['monitor help', 'break leaf', 'continue', 'monitor when',
                        'monitor icount', 'monitor events 3', 'monitor events 999',
                        'monitor info snapshots', 'monitor info mtree',
                        'monitor info registers', 'monitor nonsense', 'delete', 'continue',
                        'echo @@SNAP\\n', 'monitor info snapshots'])
    for cmd in ('when', 'goto N', 'events', 'info snapshots', 'info mtree', 'info registers'):
        expect(out, r'^monitor %s\b' % re.escape(cmd), 'help lists ' + cmd)
    here = int(expect(out, r'^Current icount: (\d+) \(recording from 0 to \d+\)', 'when').group(1))
    expect(out, r'^%d$' % here, 'icount agrees with when')
    expect(out, r'^\s+%d\s+<-- here' % here, 'events marks here')
    expect(out, r'^\s+\d+\s+port-read\s+addr 0x', 'events lists a port read')
    expect(out, r'^usage: monitor events', 'events with a bad count')
    expect(out, r'^\s+snap-000000\s+icount\s+0\s+\d+ bytes', 'the trace snapshot')
    expect(out, r'^in-memory cache: \d+ snapshots every 2097152 instructions', 'the cache')
    expect(out, r'ram', 'memory map')
    expect(out, r'CR0=', 'control registers')
    expect(out, r"^unknown monitor command 'nonsense'", 'unknown command')
    # after a pass over the recording (4.8 * 10^6 instructions): an entry every 2^21
    snap = out.split('@@SNAP\n')[1]
    m = expect(snap, r'^in-memory cache: (\d+) snapshots every 2097152 instructions, '
               r'icount 0 to (\d+)', 'the cache after a pass')
    if int(m.group(1)) < 3 or int(m.group(2)) != 2 * 2097152:
        fail('expected entries at 0, 2^21 and 2^22: %r' % m.group(0))
    expect(snap, r'\(limit 67108864\)', '--snapshot-memory 64 is the limit')


# ---- packet-level cases ------------------------------------------------------------


def packets_server():
    work = tempfile.mkdtemp(prefix='fbrev-trace-')
    trace = record(FLASHBACK, CHAIN, work)
    srv = ReplayServer(FLASHBACK, trace)
    srv.trace = trace
    return srv


def kill_and_finish(srv, c):
    c.send('k')
    c.close()
    status = srv.finish()
    if status != 0:
        fail('flashback gdb exited with %d after k: %s' % (status, srv.stderr()))
    print('ok: exit 0 after k')


def case_packets_refused():
    """State-changing packets are refused on a recording; reads of unmapped memory fail."""
    srv = packets_server()
    c = Client(srv.port)
    sup = c.ask('qSupported:swbreak+;hwbreak+')
    for feat in ('ReverseStep+', 'ReverseContinue+'):
        if feat not in sup:
            fail('qSupported lacks %s: %r' % (feat, sup))
    check(c.ask('?'), 'T05thread:01;', 'initial stop')
    regs = c.ask('g')
    check(c.ask('G' + regs), 'E30', 'G refused')
    check(c.ask('P0=00000000'), 'E30', 'P refused')
    check(c.ask('M100000,1:00'), 'E30', 'M refused')
    check(c.ask('X100000,1:a'), 'E30', 'X refused')
    check(c.ask('c100000'), 'E16', 'continue at a new address refused')
    check(c.ask('s100000'), 'E16', 'step at a new address refused')
    check(c.ask('mf0000000,4'), 'E14', 'unmapped read')
    check(c.ask('g'), regs, 'registers unchanged')
    check(c.ask('bs'), 'T05replaylog:begin;thread:01;', 'bs at the start')
    check(c.ask('bc'), 'T05replaylog:begin;thread:01;', 'bc at the start')
    check(c.ask('vCont;s'), 'T05thread:01;', 'one step forwards')
    check(c.ask('bs'), 'T05thread:01;', 'and back')
    check(c.ask('g'), regs, 'the same registers after s, bs')
    check(c.ask('vCont;c'), 'T05replaylog:end;thread:01;', 'continue to the end')
    check(c.ask('vCont;c'), 'T05replaylog:end;thread:01;', 'continue at the end')
    kill_and_finish(srv, c)


def case_packets_bad_input():
    """Malformed packets, bad checksums, wrong arguments; a client that goes away mid-packet."""
    srv = packets_server()
    c = Client(srv.port)
    c.send_raw(b'$g#00')
    c.expect_ack(b'-')
    print('ok: bad checksum -> -')
    check(c.ask('bsX'), '', 'bs with junk is unknown')
    check_error(c.ask('Z2,zz,4'), 'malformed Z2')
    check_error(c.ask('vCont;x'), 'bad vCont action')
    check_error(c.ask('m100000'), 'm without a length')
    check_error(c.ask('qRcmd,6'), 'odd hex in qRcmd')
    check(c.ask('m' * 5000), 'E01', 'oversized packet')
    # a watchpoint, a step forwards, and a client that disconnects mid-packet
    check(c.ask('Z2,108000,4'), 'OK', 'watchpoint set')
    c.send_raw(b'$m1000')
    c.close()
    c = Client(srv.port)
    check(c.ask('?'), 'T05thread:01;', 'a new client is served')
    check(c.ask('bc'), 'T05replaylog:begin;thread:01;', 'the old watchpoint is gone')
    # monitor goto through qRcmd, then reverse from there
    goto = 'goto 50000'.encode().hex()
    c.send('qRcmd,' + goto)
    c.expect_ack()
    text = ''
    while True:
        p = c.packet()
        if p == 'OK':
            break
        text += bytes.fromhex(p[1:]).decode()
    if 'icount 50000' not in text:
        fail('monitor goto 50000 said %r' % text)
    check(c.ask('bs'), 'T05thread:01;', 'reverse step after goto')
    kill_and_finish(srv, c)


def case_packets_interrupt():
    """Ctrl-C during a long reverse-continue stops the scan where it got to."""
    srv = packets_server()
    c = Client(srv.port)
    c.sock.settimeout(120)
    check(c.ask('vCont;c'), 'T05replaylog:end;thread:01;', 'to the end')
    check(c.ask('Z2,200000,4'), 'OK', 'a watchpoint on a byte nobody writes')
    c.send('bc')
    # at once: the scan looks for Ctrl-C between windows, and a fast CPU
    # may scan the whole recording in a few tens of milliseconds
    c.send_raw(b'\x03')
    c.expect_ack()
    check(c.packet(), 'T02thread:01;', 'Ctrl-C answered as SIGINT')
    c.send('qRcmd,' + 'icount'.encode().hex())
    c.expect_ack()
    here = int(bytes.fromhex(c.packet()[1:]).decode())
    check(c.packet(), 'OK', 'monitor icount')
    if not 0 < here < end_icount(srv.trace):
        fail('the interrupted scan stopped at %d, expected inside the recording' % here)
    print('ok: stopped at icount %d' % here)
    check(c.ask('bc'), 'T05replaylog:begin;thread:01;', 'bc again goes to the start')
    kill_and_finish(srv, c)


def case_cli():
    """flashback gdb's bad command lines: one line and exit 2."""
    work = tempfile.mkdtemp(prefix='fbrev-cli-')
    trace = record(FLASHBACK, CHAIN, work)
    cases = [
        ([], 'usage: flashback gdb TRACE'),
        ([os.path.join(work, 'missing.fbt')], 'missing.fbt'),
        ([trace, '--port', '0'], 'expected a TCP port'),
        ([trace, '--port', 'x'], 'not a number'),
        ([trace, '--port'], 'needs a value'),
        ([trace, '--host', 'not-an-address'], 'is not an IPv4 address'),
        ([trace, '--snapshot-memory', '0'], 'expected megabytes'),
        ([trace, '--bogus'], "unknown option '--bogus'"),
        ([trace, trace], 'one trace at a time'),
    ]
    for args, msg in cases:
        r = subprocess.run([FLASHBACK, 'gdb'] + args, capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 2 or msg not in r.stderr:
            fail('flashback gdb %s: exit %d, stderr %r (expected 2 and %r)' %
                 (' '.join(args), r.returncode, r.stderr, msg))
        print('ok: flashback gdb %s -> 2, %s' % (' '.join(args), msg))
    # the port is taken: the second server says so
    srv = ReplayServer(FLASHBACK, trace)
    r = subprocess.run([FLASHBACK, 'gdb', trace, '--port', str(srv.port)], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 2 or 'cannot listen' not in r.stderr:
        fail('a taken port: exit %d, %r' % (r.returncode, r.stderr))
    print('ok: a taken port -> 2')
    c = Client(srv.port)
    kill_and_finish(srv, c)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith('case_')}

if CASE not in CASES:
    fail('unknown case ' + CASE)
CASES[CASE]()
print('PASS ' + CASE)
