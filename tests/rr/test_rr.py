#!/usr/bin/env python3
"""test_rr.py - record and replay through the flashback command.

usage: test_rr.py FLASHBACK RR_REWRITE GUEST_DIR GUEST_DISK CASE

Each CASE records a guest (or the demo) into a trace in a temporary
directory and replays it: the console printed again must equal the one of
the recording, the final icount and hash must be those of the trace, the
exit status 0.  Damaged traces are made with rr_rewrite (the trace library
writes them, so the chunks are well-formed and only replay can notice) and
must stop with exit status 3 and a one-line divergence message.
"""
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FB = REWRITE = GUESTS = DISK = TMP = None

# guest : (expected status of the recording, needs the disk)
GUEST_STATUS = {'hello': 0x43, 'timer': 1, 'uart': 1, 'rtc': 1, 'ata': 1, 'pci': 1,
                'exceptions': 1, 'paging': 1, 'cpu': 1, 'nmi': 1, 'firmware': 1, 'hpet': 1}
# guest : (event kind, text in its `flashback events` line, how many)
GUEST_EVENTS = {'nmi': ('interrupt', 'NMI', 4)}


def run(*args, stdin=subprocess.DEVNULL, timeout=120, cwd=None):
    p = subprocess.run([FB] + [str(a) for a in args], stdin=stdin, capture_output=True,
                       timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')


def guest_args(name):
    args = ['-kernel', os.path.join(GUESTS, name + '.elf'), '-serial', 'stdio']
    if name == 'ata':
        args += ['-hda', DISK]
    return args


def record(name, trace, *extra):
    code, out, err = run('record', '-o', trace, '--check-interval', '50000',
                         '--snapshot-interval', '400000', *extra, *guest_args(name))
    assert code == GUEST_STATUS[name], 'record status %d; stderr %r' % (code, err)
    return out


def info(trace):
    code, out, err = run('info', trace)
    assert code == 0, 'info status %d: %r' % (code, err)
    return out


def final_of(trace):
    m = re.search(r'complete, final icount (\d+) hash ([0-9a-f]{16})', info(trace))
    assert m, info(trace)
    return int(m.group(1)), m.group(2)


VERIFIED = re.compile(r'verified: (\d+) checks, final icount (\d+) hash ([0-9a-f]{16})$', re.M)


def replay_ok(trace, live_out, *extra):
    code, out, err = run('replay', trace, '--verify', *extra)
    assert code == 0, 'replay status %d; stderr %r' % (code, err)
    m = VERIFIED.search(out)
    assert m, 'no summary in %r' % out
    console = out[:m.start()]
    assert console == live_out, 'replay console differs:\n%r\n%r' % (console, live_out)
    icount, h = final_of(trace)
    assert int(m.group(2)) == icount and m.group(3) == h, (m.group(0), icount, h)
    return int(m.group(1))


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, 'expected one line on stderr, got %r' % err
    assert lines[0].startswith('flashback: '), lines[0]
    return lines[0]


def guest_case(name):
    trace = os.path.join(TMP, name + '.fbt')
    live = record(name, trace)
    assert live, 'the guest printed nothing'
    if name in GUEST_EVENTS:
        kind, text, count = GUEST_EVENTS[name]
        code, out, err = run('events', trace, '--kind', kind)
        assert code == 0, 'events status %d: %r' % (code, err)
        found = [line for line in out.splitlines() if line.split()[-1:] == [text]]
        assert len(found) == count, '%d %s events, expected %d: %r' % (
            len(found), text, count, out)
    checks = replay_ok(trace, live)
    assert checks >= 1
    # twice: replay is deterministic
    replay_ok(trace, live)


def case_demo():
    code, out, err = run('demo', timeout=180)
    assert code == 0, 'status %d, stderr %r' % (code, err)
    m = re.search(r'demo trace: (\S+)\n', err)
    assert m, err
    assert 'console bytes identical' in out, out
    trace = m.group(1)
    code2, out2, err2 = run('replay', trace)
    assert code2 == 0, err2
    assert '=== Flashback demo guest ===' in out2 and '[summary]' in out2, out2
    shutil.rmtree(os.path.dirname(trace), ignore_errors=True)


def case_snapshots():
    """Incremental snapshots: replay from each gives the same end as from the start."""
    trace = os.path.join(TMP, 't.fbt')
    live = record('cpu', trace)
    snaps = sorted(f for f in os.listdir(trace) if f.startswith('snap-'))
    assert len(snaps) >= 3, snaps
    icount, h = final_of(trace)
    for k in range(len(snaps)):
        code, out, err = run('replay', trace, '--snapshot', k, '--verify')
        assert code == 0, 'from snapshot %d: status %d %r' % (k, code, err)
        m = VERIFIED.search(out)
        assert m and int(m.group(2)) == icount and m.group(3) == h, (k, out[-200:])
        if k > 0:
            assert out[:m.start()] != live, 'snapshot %d replays the whole console' % k
            assert live.endswith(out[:m.start()]), 'snapshot %d: console is not a suffix' % k


def case_portable():
    """Moved elsewhere with the kernel and disk gone, the trace replays the same."""
    trace = os.path.join(TMP, 'a.fbt')
    kernel_dir = os.path.join(TMP, 'k')
    os.mkdir(kernel_dir)
    kernel = os.path.join(kernel_dir, 'ata.elf')
    disk = os.path.join(kernel_dir, 'disk.img')
    shutil.copy(os.path.join(GUESTS, 'ata.elf'), kernel)
    shutil.copy(DISK, disk)
    code, live, err = run('record', '-o', trace, '-kernel', kernel, '-hda', disk,
                          '-serial', 'stdio')
    assert code == 1, err
    shutil.rmtree(kernel_dir)
    other = os.path.join(TMP, 'elsewhere', 'b.fbt')
    os.mkdir(os.path.dirname(other))
    shutil.move(trace, other)
    replay_ok(other, live)


def dump_at(trace, n, *extra):
    code, out, err = run('replay', trace, '--until', n, *extra)
    assert code == 0, 'until %d: %r' % (n, err)
    regs = out[out.find('EAX='):]
    assert regs.startswith('EAX='), out[-500:]
    return regs


def case_until():
    trace = os.path.join(TMP, 'u.fbt')
    record('timer', trace)
    icount, _ = final_of(trace)
    seen = set()
    for n in (1, icount // 3, icount // 2, icount - 1):
        a = dump_at(trace, n)
        b = dump_at(trace, n, '--snapshot', 0)  # from the start, not the nearest snapshot
        assert a == b, 'state at %d differs with and without snapshots' % n
        seen.add(a)
    assert len(seen) == 4, 'different icounts gave the same state'


def rewrite(mode, k, expect_msg):
    trace = os.path.join(TMP, 'orig.fbt')
    if not os.path.exists(trace):
        record('timer', trace)
    bad = os.path.join(TMP, 'bad-%s-%d.fbt' % (mode, k))
    p = subprocess.run([REWRITE, trace, bad, mode, str(k)], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    at = int(p.stdout.strip())
    code, out, err = run('replay', bad, '--verify')
    assert code == 3, '%s %d: status %d, stderr %r' % (mode, k, code, err)
    line = one_line_error(err)
    assert re.search(r'divergence at icount \d+: the journal has .*, the CPU', line), line
    if expect_msg:
        assert re.search(expect_msg, line), '%r does not match %r' % (line, expect_msg)
    return at, line


def case_div_port_value():
    assert rewrite('port-value', 3, None)


def case_div_drop_interrupt():
    r = rewrite('drop-interrupt', 2, None)
    assert r


def case_div_icount():
    for k in range(2, 40):
        r = rewrite('icount', k, r'the journal has port-read 0x[0-9a-f]+ size \d at icount \d+, '
                    r'the CPU did port-read')
        if r:
            at, line = r
            assert ('divergence at icount %d:' % at) in line, (at, line)
            return
    assert False, 'no port-read could be moved'


def case_div_check_hash():
    at, line = rewrite('check-hash', 1, r'the journal has check hash [0-9a-f]{16}, '
                       r'the CPU state hashes to')
    assert ('divergence at icount %d:' % at) in line, (at, line)


def case_truncated_cut():
    trace = os.path.join(TMP, 'c.fbt')
    record('rtc', trace, '--chunk-events', '64')
    journal = os.path.join(trace, 'journal.fbj')
    size = os.path.getsize(journal)
    with open(journal, 'r+b') as f:
        f.truncate(size * 2 // 3)
    # as after a crash before the index caught up: it is rebuilt from the journal
    for f in os.listdir(trace):
        if f.startswith('index.sqlite'):
            os.unlink(os.path.join(trace, f))
    out = info(trace)
    m = re.search(r'truncated: .*truncated after chunk (\d+) at icount (\d+)', out)
    assert m, out
    last = int(m.group(2))
    code, rout, err = run('replay', trace)
    assert code == 0, 'status %d %r' % (code, err)
    line = one_line_error(err)
    assert 'truncated' in line, line
    n = int(re.search(r'replayed to icount (\d+)', line).group(1))
    assert n >= last, (n, last)


def demo_args():
    """The demo guest waits 3 s of host time for input on an open stdin pipe."""
    d = os.path.join(GUESTS, '..', '..', 'guest')
    return ['-kernel', os.path.join(d, 'demo.elf'), '-hda', os.path.join(d, 'demo-disk.img'),
            '-serial', 'stdio']


def case_truncated_kill():
    """kill -9 while recording: the trace replays to its last chunk."""
    trace = os.path.join(TMP, 'k.fbt')
    p = subprocess.Popen([FB, 'record', '-o', trace, '--chunk-events', '8', *demo_args()],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out = b''
    while b'type something' not in out:
        chunk = p.stdout.read1(4096)
        assert chunk, 'demo ended before its prompt: %r' % out
        out += chunk
    time.sleep(0.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    text = info(trace)
    m = re.search(r'truncated: (.*)', text)
    assert m, text
    code, rout, err = run('replay', trace)
    assert code == 0, 'status %d %r' % (code, err)
    assert 'truncated' in one_line_error(err)
    assert '=== Flashback demo guest ===' in rout, rout


def case_deterministic():
    """Recording the same guest twice gives the same bytes (journal and
    snapshots) once SOURCE_DATE_EPOCH fixes the start time: nothing else in
    a trace depends on the host.  The ata guest: PIO, DMA and IRQ 14."""
    env = dict(os.environ, SOURCE_DATE_EPOCH='1700000000')
    files = []
    for name in ('a.fbt', 'b.fbt'):
        trace = os.path.join(TMP, name)
        p = subprocess.run([FB, 'record', '-o', trace, '--check-interval', '20000',
                            '--snapshot-interval', '100000', '--chunk-events', '64',
                            *guest_args('ata')],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120, env=env)
        assert p.returncode == GUEST_STATUS['ata'], (p.returncode, p.stderr)
        names = sorted(f for f in os.listdir(trace)
                       if f == 'journal.fbj' or f.startswith('snap-'))
        assert len(names) >= 3, names
        files.append({f: open(os.path.join(trace, f), 'rb').read() for f in names})
    assert files[0].keys() == files[1].keys(), (files[0].keys(), files[1].keys())
    differ = [f for f in files[0] if files[0][f] != files[1][f]]
    assert not differ, 'two recordings differ in %s' % differ
    assert b'start_time=1700000000\n' in files[0]['journal.fbj'][:4096]


def case_disk_full():
    """A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: write() fails with
    EFBIG, as on a full disk, and as root too) stops the recording with one
    line and status 4; what was written replays, and info says truncated."""
    opts = ['--chunk-events', '16', '--check-interval', '5000']
    full = os.path.join(TMP, 'full.fbt')
    live = record('timer', full, *opts)
    limit = 256 * 1024
    sizes = [os.path.getsize(os.path.join(full, f)) for f in os.listdir(full)]
    assert max(sizes) > 2 * limit, 'the trace is too small to fill the limit: %r' % sizes

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    trace = os.path.join(TMP, 'limited.fbt')
    p = subprocess.run([FB, 'record', '-o', trace, *opts, *guest_args('timer')],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                       preexec_fn=limited)
    err = p.stderr.decode(errors='replace')
    assert p.returncode == 4, 'status %d, stderr %r' % (p.returncode, err)
    line = one_line_error(err)
    assert re.search(r'recording stopped: .*(File too large|No space left)', line), line
    assert 'replayable' in line, line

    m = re.search(r'truncated: .*truncated after chunk (\d+) at icount (\d+)', info(trace))
    assert m, info(trace)
    last = int(m.group(2))
    code, out, err = run('replay', trace)
    assert code == 0, 'replay status %d %r' % (code, err)
    line = one_line_error(err)
    assert 'truncated' in line, line
    assert int(re.search(r'replayed to icount (\d+)', line).group(1)) >= last, (line, last)
    assert live.startswith(out), 'the replayed console is not a prefix:\n%r\n%r' % (out, live)
    assert len(out) < len(live), 'the limited recording replays the whole console'


def case_sigterm():
    """SIGTERM ends the recording cleanly: a complete trace that replays."""
    trace = os.path.join(TMP, 's.fbt')
    p = subprocess.Popen([FB, 'record', '-o', trace, *demo_args()], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = b''
    while b'type something' not in out:
        chunk = p.stdout.read1(4096)
        assert chunk, 'demo ended before its prompt: %r' % out
        out += chunk
    p.send_signal(signal.SIGTERM)
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, (p.returncode, err)
    final_of(trace)
    replay_ok(trace, (out + rest).decode(errors='replace'))


def case_future_version():
    trace = os.path.join(TMP, 'f.fbt')
    record('hello', trace)
    with open(os.path.join(trace, 'journal.fbj'), 'r+b') as f:
        f.seek(8)
        f.write((99).to_bytes(4, 'little'))
    code, out, err = run('replay', trace)
    assert code == 2, (code, err)
    assert 'version 99' in one_line_error(err), err
    code, out, err = run('info', trace)
    assert code == 2 and 'version 99' in one_line_error(err), err


def case_foreign():
    empty = os.path.join(TMP, 'empty')
    os.mkdir(empty)
    junk = os.path.join(TMP, 'junk.bin')
    with open(junk, 'wb') as f:
        f.write(os.urandom(1000))
    for target in (empty, junk, os.path.join(TMP, 'missing')):
        for cmd in ('replay', 'info'):
            code, out, err = run(cmd, target)
            assert code == 2, '%s %s: %d %r' % (cmd, target, code, err)
            one_line_error(err)


def refused(trace, want, *cmds):
    """@cmds on @trace fail with status 2 and one line matching @want."""
    for cmd in cmds or ('replay', 'info'):
        code, out, err = run(cmd, trace)
        assert code == 2, '%s: status %d, stderr %r' % (cmd, code, err)
        line = one_line_error(err)
        assert re.search(want, line), '%s: %r does not match %r' % (cmd, line, want)


def chunk_offsets(journal):
    """Byte offsets of the chunk headers of a journal (FORMAT.md)."""
    with open(journal, 'rb') as f:
        data = f.read()
    at = 24 + int.from_bytes(data[16:20], 'little')
    offsets = []
    while at + 48 <= len(data) and data[at:at + 4] == b'FBCK':
        offsets.append(at)
        at += 48 + int.from_bytes(data[at + 28:at + 32], 'little')
    return offsets


def drop_index(trace):
    for f in os.listdir(trace):
        if f.startswith('index.sqlite'):
            os.unlink(os.path.join(trace, f))


def case_bad_input():
    """Damaged traces through the command line: each gives one clear line
    and status 2, never a crash (the trace library's own tests check the
    same cases in detail, tests/replay/test_trace.c)."""
    good = os.path.join(TMP, 'good.fbt')
    record('hello', good, '--chunk-events', '16')
    other = os.path.join(TMP, 'other.fbt')
    record('timer', other, '--chunk-events', '16')

    def copy(name):
        t = os.path.join(TMP, name + '.fbt')
        shutil.copytree(good, t)
        return t, os.path.join(t, 'journal.fbj')

    # a bit flipped in the compressed data of a chunk in the middle
    t, j = copy('crc')
    offs = chunk_offsets(j)
    assert len(offs) >= 4, offs
    with open(j, 'r+b') as f:
        f.seek(offs[2] + 48 + 3)
        b = f.read(1)[0]
        f.seek(offs[2] + 48 + 3)
        f.write(bytes([b ^ 0x10]))
    refused(t, r'journal\.fbj: chunk 2 at offset %d: checksum mismatch' % offs[2], 'replay')

    # a damaged chunk header, found when the trace is opened
    t, j = copy('hdr')
    with open(j, 'r+b') as f:
        f.seek(offs[1] + 8)
        f.write(b'\xff')
    drop_index(t)
    refused(t, r'journal\.fbj: chunk header checksum mismatch at offset %d' % offs[1])

    # an empty journal, and one that is not a journal at all
    t, j = copy('empty')
    open(j, 'wb').close()
    drop_index(t)
    refused(t, r'journal\.fbj.*empty file')
    t, j = copy('magic')
    with open(j, 'r+b') as f:
        f.write(b'\x89PNG\r\n')
    drop_index(t)
    refused(t, r'not a flashback journal')

    # the index of another recording
    t, j = copy('index')
    drop_index(t)
    shutil.copy(os.path.join(other, 'index.sqlite'), t)
    refused(t, r'index\.sqlite belongs to another recording \([0-9a-f]{32}, the journal is '
            r'[0-9a-f]{32}\)')

    # an index that is not a database
    t, j = copy('notdb')
    drop_index(t)
    with open(os.path.join(t, 'index.sqlite'), 'wb') as f:
        f.write(b'not a database ' * 100)
    refused(t, r'index\.sqlite.*rebuild')

    # the initial snapshot missing (later ones are there)
    t = os.path.join(TMP, 'nosnap.fbt')
    shutil.copytree(other, t)
    assert os.path.exists(os.path.join(t, 'snap-000001.fbs'))
    os.unlink(os.path.join(t, 'snap-000000.fbs'))
    refused(t, r'snap-000000\.fbs', 'replay')


def case_record_target_exists():
    full = os.path.join(TMP, 'full')
    os.mkdir(full)
    open(os.path.join(full, 'x'), 'w').close()
    f = os.path.join(TMP, 'file')
    open(f, 'w').close()
    for target in (full, f):
        code, out, err = run('record', '-o', target, *guest_args('hello'))
        assert code == 2, (code, err)
        assert target in one_line_error(err)
    empty = os.path.join(TMP, 'emptydir')
    os.mkdir(empty)
    live = record('hello', empty)
    replay_ok(empty, live)


def main():
    global FB, REWRITE, GUESTS, DISK, TMP
    FB, REWRITE, GUESTS, DISK, name = sys.argv[1:6]
    with tempfile.TemporaryDirectory() as TMP:
        try:
            if name.startswith('guest_'):
                guest_case(name[6:])
            else:
                globals()['case_' + name]()
        except AssertionError as e:
            print('FAIL %s: %s' % (name, e))
            return 1
        except subprocess.TimeoutExpired:
            print('FAIL %s: timed out' % name)
            return 1
    print('PASS %s' % name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
