#!/usr/bin/env python3
"""test_python.py FLASHBACK PYTHON_DIR GUEST_DIR DEMO_ELF DEMO_DISK OBJDUMP DOCS_MD CASE

The Python module flashback (build/python, ctypes over libflashback) on
recordings made here: CASE 'examples' runs the three worked examples of
docs/python.md as written there and checks their output against the
command line and the module; CASE 'api' checks the module's answers
(info, events, query, registers, memory, runs, history) against the
flashback commands, several sessions at once, and every bad input
(a missing, damaged or foreign trace, icounts and addresses outside,
closed objects): each raises flashback.Error with the command's line and
none crashes the interpreter."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

FLASHBACK, PYDIR, GUESTS, DEMO_ELF, DEMO_DISK, OBJDUMP, DOCS, CASE = sys.argv[1:9]
sys.path.insert(0, PYDIR)
import flashback  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print('FAIL:', what)


def run(*args, **kw):
    return subprocess.run([FLASHBACK] + [str(a) for a in args], capture_output=True,
                          timeout=300, **kw)


def record(out, elf, disk=None, stdin=None):
    args = ['record', '-o', out, '-kernel', elf, '-serial', 'stdio' if stdin else 'null']
    if disk:
        args += ['-hda', disk]
    with open(stdin or os.devnull, 'rb') as f:
        r = subprocess.run([FLASHBACK] + args, stdin=f, capture_output=True, timeout=120)
    if not os.path.isdir(out):
        sys.exit('record failed: ' + r.stderr.decode(errors='replace'))
    return out


def symbol(elf, name):
    out = subprocess.run([OBJDUMP, '-t', elf], capture_output=True, check=True).stdout
    for line in out.decode().splitlines():
        f = line.split()
        if f and f[-1] == name:
            return int(f[0], 16)
    sys.exit('no symbol %s in %s' % (name, elf))


def examples_from_docs():
    """The ```python blocks of docs/python.md that start '# example: NAME'."""
    text = open(DOCS).read()
    out = {}
    for block in re.findall(r'```python\n(.*?)```', text, re.S):
        m = re.match(r'# example: (\S+)', block)
        if m:
            out[m.group(1)] = block
    return out


def run_example(tmp, name, code, *args):
    path = os.path.join(tmp, name)
    with open(path, 'w') as f:
        f.write(code)
    env = dict(os.environ, PYTHONPATH=PYDIR)
    r = subprocess.run([sys.executable, path] + [str(a) for a in args], capture_output=True,
                       env=env, timeout=300)
    out = r.stdout.decode()
    print('$ python3 %s %s' % (name, ' '.join(map(str, args))))
    print(out + r.stderr.decode(), end='')
    check(r.returncode == 0, '%s exits %d' % (name, r.returncode))
    return out


def case_examples(tmp):
    ex = examples_from_docs()
    check(sorted(ex) == ['diverge.py', 'first_value.py', 'ticks.py'],
          'docs/python.md has the three examples: %s' % sorted(ex))
    timer_elf = os.path.join(GUESTS, 'timer.elf')
    trace = record(os.path.join(tmp, 'timer.fbt'), timer_elf)
    ticks = symbol(timer_elf, 'timer_ticks')

    # 1: every timer interrupt and timer_ticks then
    out = run_example(tmp, 'ticks.py', ex['ticks.py'], trace, hex(ticks))
    rows = [tuple(map(int, l.split())) for l in out.splitlines()]
    cli = run('events', trace, '--kind', 'interrupt').stdout.decode().splitlines()
    irq0 = [int(l.split()[0]) for l in cli if 'vector 0x20' in l]
    check([r[0] for r in rows] == irq0, 'ticks.py lists the icounts flashback events lists')
    check([r[1] for r in rows] == list(range(len(rows))),
          'timer_ticks counts 0, 1, 2... at the interrupts')

    # 2: the first icount at which timer_ticks is 10
    out = run_example(tmp, 'first_value.py', ex['first_value.py'], trace, hex(ticks), 10)
    m = re.match(r'icount (\d+): 0x[0-9a-f]+ holds 0xa, written by the instruction at 0x',
                 out)
    check(m is not None, 'first_value.py says where')
    if m:
        at = int(m.group(1))
        with flashback.open(trace) as t, t.session() as s:
            check(s.goto(at).read_int(ticks) == 10, 'timer_ticks is 10 at that icount')
            check(s.goto(at - 1).read_int(ticks) == 9, 'and 9 one instruction before')
        check(rows[9][0] < at < rows[10][0], 'between the 10th and 11th interrupts')
        hist = run('history', trace, '--addr', hex(ticks), '--len', 4).stdout.decode()
        check(any(l.split()[0] == str(at - 1) for l in hist.splitlines()[2:] if l.strip()),
              'flashback history has the write at icount %d' % (at - 1))

    # 3: two recordings of the demo with different input
    traces = []
    for name, typed in (('hello', b'hello\nq'), ('help', b'help!\nq')):
        with open(os.path.join(tmp, name + '.in'), 'wb') as f:
            f.write(typed)
        traces.append(record(os.path.join(tmp, name + '.fbt'), DEMO_ELF, DEMO_DISK,
                             stdin=os.path.join(tmp, name + '.in')))
    out = run_example(tmp, 'diverge.py', ex['diverge.py'], *traces)
    check('first different input at icount' in out, 'diverge.py finds the input')
    check("kind='port-read', addr=1016, value=108" in out and
          "kind='port-read', addr=1016, value=112" in out,
          "the first difference is COM1's 'l' against 'p'")
    check('same registers: True' in out, 'the machines agree before it')
    check(re.search(r'eax = 0x6c in A, 0x70 in B', out) is not None,
          'and differ in EAX after it')


def raises(fn, match, what):
    try:
        fn()
    except flashback.Error as e:
        check(re.search(match, str(e)) is not None, '%s: %r matches %r' % (what, str(e), match))
        check(e.status in (2, 3), '%s: status %d' % (what, e.status))
        return str(e)
    check(False, '%s raises flashback.Error' % what)


def event_text(e):
    """What flashback events prints after the icount and kind, for the kinds
    the golden comparisons ask for."""
    if e.kind == 'port-read':
        return 'port %#x size %d -> %#x' % (e.addr, e.size, e.value)
    if e.kind == 'interrupt':
        return 'vector %#04x' % e.value
    if e.kind == 'dma-write':
        return 'addr %#x len %d' % (e.addr, e.size)
    if e.kind == 'snapshot':
        return 'snapshot %d' % e.value
    if e.kind == 'end':
        return 'final hash %016x' % e.value
    return None


def dump_regs(trace, n):
    out = run('replay', trace, '--until', n).stdout.decode()
    regs = dict(re.findall(r'([A-Z]{2,3}) ?=([0-9a-f]{4,8})', out))
    return {k: int(v, 16) for k, v in regs.items()}


def check_replay_calls(trace):
    """What `flashback replay` stands on, against what it prints."""
    with flashback.open(trace) as t, t.session(cache=False) as s:
        info = t.info
        checks = s.verify()
        line = run('replay', trace, '--verify').stdout.decode().strip().splitlines()[-1]
        check(line == 'verified: %d checks, final icount %d hash %016x' %
              (checks, s.icount, s.state_hash), 'verify() as replay --verify: %r' % line)
        snaps = s.snapshots
        check(len(snaps) == info.snapshots and snaps[0][:2] == (0, info.start_icount),
              'snapshots: %r' % (snaps,))
        check(s.goto_snapshot(snaps[-1].number).icount == snaps[-1].icount,
              'goto_snapshot to the last one')
        check(s.restore_point(info.end_icount) >= snaps[-1].icount, 'restore_point')
        raises(lambda: s.goto_snapshot(999999), 'no snapshot 999999', 'a snapshot not there')
        n = info.end_icount // 3
        out = run('replay', trace, '--until', n).stdout.decode()
        text = s.goto(n).cpu_text()
        check(text and out.endswith(text), 'cpu_text() is what replay --until prints')
        check('\n' in s.mtree_text(), 'mtree_text()')
    # the engine per session: the same state whichever runs the code
    with flashback.open(trace) as t, t.session(accel='interp') as a, \
            t.session(accel='jit') as b:
        check((a.accel, b.accel) == ('interp', 'jit'), 'accel: %s %s' % (a.accel, b.accel))
        for n in (t.info.end_icount // 5, t.info.end_icount // 2 + 3, t.info.end_icount):
            check(a.goto(n).state_hash == b.goto(n).state_hash and
                  a.read(0x100000, 4096) == b.read(0x100000, 4096),
                  'interp and jit sessions agree at icount %d' % n)
        raises(lambda: t.session(accel='fast'), "accel 'fast': expected interp or jit",
               'an engine that does not exist')


def case_api(tmp):
    timer_elf = os.path.join(GUESTS, 'timer.elf')
    trace = record(os.path.join(tmp, 'timer.fbt'), timer_elf)
    ata = record(os.path.join(tmp, 'ata.fbt'), os.path.join(GUESTS, 'ata.elf'),
                 os.path.join(GUESTS, 'guest-disk.img'))
    check_replay_calls(trace)
    with flashback.open(trace) as t:
        info = t.info
        cli = run('info', trace).stdout.decode()
        check(str(info.end_icount) in cli, 'info.end_icount %d in flashback info' %
              info.end_icount)
        check(info.complete and not info.truncated, 'a complete trace')
        evs = list(t.events())
        check(len(evs) == info.events, 'events() gives every event (%d)' % len(evs))
        by_kind = {}
        for e in evs:
            by_kind[e.kind] = by_kind.get(e.kind, 0) + 1
        check(all(by_kind.get(k, 0) == n for k, n in info.counts.items()),
              'events by kind = info.counts')
        check(t.query("SELECT count FROM counts WHERE name = 'interrupt'")[0][0] ==
              info.counts['interrupt'], 'query counts the interrupts')
        check(t.columns == ['count'], 'query column names')
        irqs = list(t.events(kind='interrupt', start=evs[100].icount, stop=evs[-1].icount))
        check(all(evs[100].icount <= e.icount < evs[-1].icount and e.kind == 'interrupt'
                  for e in irqs), 'events(kind, start, stop) filters')
        for kinds in (['interrupt'], ['console', 'check'], ['snapshot'], ['end'],
                      ['port-read', 'time-read']):
            for lo, hi in ((0, None), (evs[len(evs) // 3].icount, evs[2 * len(evs) // 3].icount)):
                want = [e for e in evs if e.kind in kinds and e.icount >= lo and
                        (hi is None or e.icount < hi)]
                check(list(t.events(kind=kinds, start=lo, stop=hi)) == want,
                      'events(kind=%s, %s, %s): only the chunks holding them, the same events'
                      % (kinds, lo, hi))
        # against flashback events on the golden traces, a couple of filters
        golden = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(DOCS))),
                              'traces', 'golden')
        for name, args, kw in (
                ('timer', ['--kind', 'interrupt', '--from', 23400, '--to', 28599],
                 dict(kind='interrupt', start=23400, stop=28600)),
                ('timer', ['--port', '0x3fd', '--from', 1000, '--to', 200000],
                 dict(port=0x3fd, start=1000, stop=200001)),
                ('ata', ['--kind', 'dma-write'], dict(kind='dma-write')),
                ('ata', ['--addr', '0x10a000'], dict(addr=0x10a000)),
                ('timer', ['--kind', 'snapshot', '--kind', 'end'], dict(kind=['snapshot', 'end']))):
            r = run('events', os.path.join(golden, name), *args)
            cli = [l.split(None, 2) for l in r.stdout.decode().splitlines()]
            with flashback.open(os.path.join(golden, name)) as g:
                mine = [[str(e.icount), e.kind, event_text(e)] for e in g.events(**kw)]
            check(r.returncode == 0 and cli and cli == mine,
                  'events(%s) on golden/%s = flashback events %s (%d, %d events)'
                  % (kw, name, ' '.join(map(str, args)), len(cli), len(mine)))
        con = list(t.events(kind=['console']))
        check(b''.join(e.data for e in con).startswith(b'timer'), 'console bytes as data')
        ports = list(t.events(port=0x3fd))
        check(ports and all(e.addr == 0x3fd for e in ports), 'events(port=)')

        # registers against flashback replay --until, with two sessions at once
        a, b = t.session(), t.session(cache=False)
        points = [evs[i].icount for i in (5, 50, 500, len(evs) // 2, len(evs) - 2)]
        for n in points + points[::-1]:
            a.goto(n)
            b.goto(points[0] if n != points[0] else points[-1])
            r, d = a.regs, dump_regs(trace, n)
            check((r.eax, r.ebx, r.ecx, r.edx, r.esp, r.eip, r.eflags) ==
                  (d['EAX'], d['EBX'], d['ECX'], d['EDX'], d['ESP'], d['EIP'], d['EFL']),
                  'registers at %d as flashback replay --until says' % n)
            check(a.icount == n, 'the session is at %d' % n)
        check(a.read(0x100000, 64, linear=False) == a.read(0x100000, 64, linear=True),
              'linear = physical without paging')
        check(a.translate(0x100000) == 0x100000, 'translate without paging')
        check(len(a.regs.fpu.st) == 8, 'x87 registers')

        # runs: a breakpoint, a watch, an icount, the end
        a.goto(points[1])
        eip = a.regs.eip
        st = a.run_until(breakpoint=eip)
        check(st.reason == 'breakpoint' and a.regs.eip == eip and st.icount > points[1],
              'run_until(breakpoint) comes back to the same EIP: %s' % (st,))
        st = a.run_until(icount=a.icount + 10)
        check(st.reason == 'icount' and a.icount == st.icount, 'run_until(icount)')
        ticks = symbol(timer_elf, 'timer_ticks')
        before = a.read_int(ticks)
        st = a.run_until(watch=(ticks, 4))
        check(st.reason == 'watch' and st.write and a.read_int(ticks) == before + 1,
              'run_until(watch) stops after the write: %s' % (st,))
        hist = a.history(ticks, 4)
        incs = [w for w in hist if w.size == 4 and w.old and
                int.from_bytes(w.new, 'little') == int.from_bytes(w.old, 'little') + 1]
        check(len(incs) == info.counts['interrupt'] - 1 or len(incs) >= 10,
              'history of timer_ticks: %d increments' % len(incs))
        st = a.run_until()
        check(st.reason == 'end' and a.icount == info.end_icount, 'run_until() to the end')
        check(not a.step(), 'step at the end')

        # two traces at once: DMA of one never lands in the other
        with flashback.open(ata) as u, u.session() as c:
            dma = list(u.events(kind='dma-write'))
            check(dma, 'the ata guest has DMA')
            for e in dma:
                c.goto(e.icount + 1)
                a.goto(points[2])
                check(c.read(e.addr, e.size, linear=False) == e.data,
                      'DMA at %d is in RAM after it' % e.icount)
            hd = c.history(dma[0].addr, 4, phys=True)
            check(any(w.dma for w in hd), 'history sees DMA')
            cli = run('history', ata, '--addr', hex(dma[0].addr), '--len', 4,
                      '--phys').stdout.decode().splitlines()[2:-1]
            check(len(cli) == len(hd) and all(
                l.split()[0] == str(w.icount) and ('  %s ' % w.text) in l
                for l, w in zip(cli, hd)), 'history: the lines of flashback history')

        # bad input: one line, an exception, never a crash
        raises(lambda: a.goto(info.end_icount + 1), r'^icount \d+ is outside the recording '
               r'\(0 to %d\)$' % info.end_icount, 'goto past the end')
        raises(lambda: a.read(0xf0000000, 4, linear=True), 'not mapped', 'unmapped read')
        raises(lambda: a.read(0xfffffff0, 64, linear=False), 'beyond|not all RAM',
               'read past 4 GiB')
        raises(lambda: list(t.events(kind='nonsense')), 'unknown event kind', 'bad kind')
        raises(lambda: t.query('DELETE FROM events'), 'only read-only SQL', 'writing SQL')
        raises(lambda: t.query('SELEC 1'), '^query: ', 'bad SQL')
        raises(lambda: a.history(0xf0000000, 4), 'not mapped to RAM at icount',
               'history of an unmapped address')
        raises(lambda: a.history(ticks, 0), '1 to 16777216 bytes', 'history of 0 bytes')
        a.goto(100)
        raises(lambda: a.run_until(icount=50), 'runs go forwards', 'run backwards')
        cli_err = run('history', trace, '--addr', '0xf0000000').stderr.decode().strip()
        py_err = raises(lambda: a.history(0xf0000000, 4), 'not mapped', 'history')
        check(cli_err == 'flashback: ' + (py_err or ''),
              'the same line as the command: %r / %r' % (cli_err, py_err))
        b.close()
        raises(lambda: b.goto(0), 'closed', 'a closed session')
    raises(lambda: a.goto(0), 'closed', 'a session of a closed trace')
    raises(lambda: t.session(), 'closed', 'a closed trace')
    missing = os.path.join(tmp, 'nope.fbt')
    cli_err = run('info', missing).stderr.decode().strip()
    py_err = raises(lambda: flashback.open(missing), 'nope.fbt', 'a missing trace')
    check(cli_err == 'flashback: ' + (py_err or ''), 'missing: the same line %r / %r' %
          (cli_err, py_err))
    raises(lambda: flashback.open(GUESTS), '', 'a directory that is not a trace')

    # damaged: a journal byte flipped in the middle of each chunk body
    bad = os.path.join(tmp, 'bad.fbt')
    shutil.copytree(trace, bad)
    jpath = os.path.join(bad, 'journal.fbj')
    data = bytearray(open(jpath, 'rb').read())
    for off in range(len(data) // 3, len(data), len(data) // 5):
        data[off] ^= 0x55
    open(jpath, 'wb').write(bytes(data))

    def use_bad():
        with flashback.open(bad) as t2:
            list(t2.events())
            with t2.session() as s2:
                s2.goto(t2.info.end_icount)
    raises(use_bad, 'journal.fbj|chunk|index', 'a damaged journal')
    for name in ('snap-000000.fbs', 'pages.fbp'):
        bad2 = os.path.join(tmp, 'bad-' + name)
        shutil.copytree(trace, bad2)
        with open(os.path.join(bad2, name), 'r+b') as f:
            f.seek(100)
            f.write(b'\xff' * 64)

        def use_bad2():
            with flashback.open(bad2) as t2, t2.session() as s2:
                s2.goto(t2.info.end_icount // 2)
        raises(use_bad2, name, 'a damaged ' + name)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        {'examples': case_examples, 'api': case_api}[CASE](tmp)
    print('%s: %d failures' % ('FAIL' if failures else 'PASS', len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
