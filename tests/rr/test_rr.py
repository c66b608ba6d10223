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
import socket
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


def case_accel_cross():
    """The engines (-accel interp|jit) make the same recording, and a
    recording made with one replays and verifies with the other: checks
    every 997 instructions (so slices end inside blocks), the final state,
    and --until at a few icounts inside the run."""
    for name in sorted(GUEST_STATUS):
        finals, lives = {}, {}
        for rec in ('interp', 'jit', 'jit-tiny'):
            trace = os.path.join(TMP, '%s-%s.fbt' % (name, rec))
            # jit-tiny: a code cache of 4 KiB, flushed and refilled all the time
            os.environ['FB_JIT_CACHE_KB'] = '4' if rec == 'jit-tiny' else '32768'
            try:
                lives[rec] = record(name, trace, '-accel', rec.split('-')[0],
                                    '--check-interval', '997')
            finally:
                del os.environ['FB_JIT_CACHE_KB']
            finals[rec] = final_of(trace)
            for rep in ('interp', 'jit') if rec != 'jit-tiny' else ('interp',):
                replay_ok(trace, lives[rec], '-accel', rep)
        assert finals['interp'] == finals['jit'] == finals['jit-tiny'], (name, finals)
        assert lives['interp'] == lives['jit'] == lives['jit-tiny'], name
        if name not in ('timer', 'cpu', 'exceptions', 'paging'):
            continue
        icount = finals['jit'][0]
        trace = os.path.join(TMP, '%s-jit.fbt' % name)
        for n in (1, icount // 3, icount // 2 + 7, icount - 1):
            dumps = [until_state(trace, n, '-accel', rep) for rep in ('interp', 'jit')]
            assert dumps[0] == dumps[1], (name, n, dumps)
    code, out, err = run('run', '-accel', 'fast', *guest_args('hello'))
    assert code == 2, code
    assert 'fast' in one_line_error(err)


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

    # the written part opens where it is, with no byte of space left
    def no_space():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    for cmd in (['info', trace], ['replay', trace], ['query', trace, 'SELECT count(*) FROM chunks']):
        p = subprocess.run([FB] + cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                           preexec_fn=no_space)
        assert p.returncode == 0, '%s with no space: status %d %r' % (cmd[0], p.returncode,
                                                                      p.stderr)


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


# ---- every part of a trace is checked (issue 12) ----------------------------

def snapshot_trace(name='t'):
    """The timer guest with snapshots 0-3 (every 400000 instructions)."""
    trace = os.path.join(TMP, name + '.fbt')
    live = record('timer', trace)
    snaps = sorted(f for f in os.listdir(trace) if f.startswith('snap-'))
    assert len(snaps) >= 3, snaps
    return trace, live


def snap_icount(trace, k):
    with open(os.path.join(trace, 'snap-%06d.fbs' % k), 'rb') as f:
        return int.from_bytes(f.read(32)[24:32], 'little')


def cpu_dump(out):
    at = out.rfind('EAX=')
    assert at >= 0, out[-300:]
    return out[at:]


def flip(path, offset, mask=0x40):
    with open(path, 'r+b') as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ mask]))


def verify_refused(trace, want, status=2):
    """replay --verify fails with @status and one line matching @want."""
    code, out, err = run('replay', trace, '--verify')
    assert code == status, 'verify: status %d, stderr %r' % (code, err)
    line = one_line_error(err)
    assert re.search(want, line), 'verify: %r does not match %r' % (line, want)
    return line


def until_state(trace, n, *extra):
    code, out, err = run('replay', trace, '--until', n, *extra)
    assert code == 0, 'replay --until %d: status %d %r' % (n, code, err)
    return cpu_dump(out), err


def case_snap_header():
    """The icount in a snapshot's header is checked: --verify and info name
    the file; seeking past it uses an earlier snapshot and still gets the
    right state."""
    trace, _ = snapshot_trace()
    n = snap_icount(trace, 2) + 1000
    good, _ = until_state(trace, n, '--snapshot', '0')
    flip(os.path.join(trace, 'snap-000002.fbs'), 26)
    verify_refused(trace, r'snap-000002\.fbs: header checksum mismatch')
    code, out, err = run('info', trace)
    assert code == 2 and 'snap-000002.fbs' in one_line_error(err), (code, err)
    state, err = until_state(trace, n)
    assert state == good, 'replay --until past a damaged snapshot gives another state'
    assert 'snap-000002.fbs' in one_line_error(err) and 'left out' in err, err


def case_snap_foreign():
    """A snapshot of another recording (the same guest recorded again) is
    refused by name, never used."""
    trace, _ = snapshot_trace('a')
    other, _ = snapshot_trace('b')
    n = snap_icount(trace, 1) + 500
    good, _ = until_state(trace, n)
    code, dis_good, err = run('disasm', trace, '--at', n, '-n', '3')
    assert code == 0, err
    shutil.copy(os.path.join(other, 'snap-000001.fbs'), os.path.join(trace, 'snap-000001.fbs'))
    verify_refused(trace, r'snap-000001\.fbs belongs to another recording \([0-9a-f]{32}\)')
    state, err = until_state(trace, n)
    assert state == good and 'another recording' in one_line_error(err), err
    code, dis, err = run('disasm', trace, '--at', n, '-n', '3')
    assert code == 0 and dis == dis_good, (code, err)
    assert 'another recording' in one_line_error(err), err
    # the page store of another recording: refused before anything is loaded
    shutil.copy(os.path.join(other, 'pages.fbp'), os.path.join(trace, 'pages.fbp'))
    verify_refused(trace, r'pages\.fbp belongs to another recording')
    code, out, err = run('replay', trace)
    assert code == 2 and 'pages.fbp belongs to another recording' in one_line_error(err), err


def case_snap_body():
    """Damage inside the largest snapshot and inside the page store, which a
    replay from the start does not read: --verify finds both."""
    trace, live = snapshot_trace()
    snaps = [os.path.join(trace, f) for f in os.listdir(trace) if f.startswith('snap-')]
    biggest = max(snaps[1:] if len(snaps) > 1 else snaps, key=os.path.getsize)
    size = os.path.getsize(biggest)
    flip(biggest, 64 + (size - 64) // 2)
    verify_refused(trace, re.escape(os.path.basename(biggest)) + r': checksum mismatch in the body')
    shutil.rmtree(trace)
    trace, live = snapshot_trace()
    pages = os.path.join(trace, 'pages.fbp')
    flip(pages, os.path.getsize(pages) * 3 // 4)
    verify_refused(trace, r'pages\.fbp: frame \d+ at offset \d+: (checksum mismatch|bad magic)')


def case_index_rows():
    """A row of the index changed by hand: --verify names the table and row;
    replay, which does not need the index, still works."""
    import sqlite3
    trace, live = snapshot_trace()
    db = sqlite3.connect(os.path.join(trace, 'index.sqlite'))
    db.execute('UPDATE events SET value = value + 1 WHERE rowid = 3')
    db.commit()
    db.close()
    verify_refused(trace, r'index\.sqlite: table events, row 3, column value is not what the '
                          r'journal gives')
    code, out, err = run('replay', trace)
    assert code == 0 and out == live, (code, err)


def case_marker_missing():
    """A snapshot file the journal has no marker for is not part of the trace."""
    trace, _ = snapshot_trace()
    shutil.copy(os.path.join(trace, 'snap-000001.fbs'), os.path.join(trace, 'snap-000009.fbs'))
    verify_refused(trace, r'snap-000009\.fbs holds snapshot 1, not 9')


def case_until_bad():
    """--until below the start, past the end or not a number: one line, exit 2."""
    trace, _ = snapshot_trace()
    end, _ = final_of(trace)
    for arg, want in (('-1', 'not a number'), ('abc', 'not a number'), ('1e3', 'not a number'),
                      ('', 'not a number'), (str(end + 1), 'the recording spans icount 0 to'),
                      ('18446744073709551616', 'not a number')):
        code, out, err = run('replay', trace, '--until', arg)
        assert code == 2, '--until %r: status %d' % (arg, code)
        assert want in one_line_error(err), (arg, err)
    code, out, err = run('replay', trace, '--until', end)
    assert code == 0, err


# ---- reading never writes; a hostile trace cannot hang or harm --------------

def tree_state(top):
    """Every file under @top: (name, size, mtime_ns, contents)."""
    out = []
    for dirpath, dirs, files in os.walk(top):
        for f in sorted(files + dirs):
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            data = open(p, 'rb').read() if os.path.isfile(p) else b''
            out.append((os.path.relpath(p, top), st.st_size, st.st_mtime_ns, data))
    return sorted(out)


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def read_commands(trace, n):
    return [('info', trace), ('replay', trace, '--verify'), ('replay', trace, '--until', n),
            ('query', trace, 'SELECT count(*) FROM events'), ('events', trace, '--kind', 'check'),
            ('console', trace), ('disasm', trace, '--at', n, '-n', '2'),
            ('export', trace, '--perfetto', os.path.join(OUTSIDE, 'x.json'))]


OUTSIDE = None


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def gdb_ask(port, payload, timeout=20):
    """Send one remote-protocol packet to a gdb server on @port (retrying
    the connection while it starts); its first reply packet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = socket.create_connection(('127.0.0.1', port), timeout=timeout)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError('no gdb server on port %d' % port)
            time.sleep(0.1)
    with c:
        c.sendall(b'$' + payload + b'#%02x' % (sum(payload) & 0xff))
        data = b''
        while b'#' not in data.lstrip(b'+') or len(data.split(b'#', 1)[1]) < 2:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.lstrip(b'+')


def readonly_case(crashed):
    global OUTSIDE
    top = tempfile.mkdtemp(dir='/tmp', prefix='fbro-')
    os.chmod(top, 0o755)
    OUTSIDE = tempfile.mkdtemp(dir='/tmp', prefix='fbro-out-')
    os.chmod(OUTSIDE, 0o777)
    try:
        trace = os.path.join(top, 'r.fbt')
        if crashed:
            p = subprocess.Popen([FB, 'record', '-o', trace, '--chunk-events', '8',
                                  *demo_args()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            out = b''
            while b'type something' not in out:
                chunk = p.stdout.read1(4096)
                assert chunk, 'demo ended before its prompt'
                out += chunk
            p.send_signal(signal.SIGKILL)
            p.wait()
            assert os.path.exists(os.path.join(trace, 'index.sqlite-wal')), os.listdir(trace)
        else:
            record('timer', trace)
        m = re.search(r'icount range\s+\d+ - (\d+)', info(trace))
        n = int(m.group(1)) // 2
        for dirpath, dirs, files in os.walk(top):
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o444)
            os.chmod(dirpath, 0o555)
        before = tree_state(top)
        for who, pre in (('nobody', as_nobody), ('root', None)):
            for cmd in read_commands(trace, n):
                p = subprocess.run([FB] + [str(a) for a in cmd], stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=120, preexec_fn=pre)
                err = p.stderr.decode(errors='replace')
                ok = p.returncode == 0 or (crashed and cmd[1] == trace and
                                          cmd[0] == 'replay' and '--verify' in cmd and
                                          'truncated' in err and p.returncode == 2)
                assert ok, '%s as %s: status %d, stderr %r' % (cmd[0], who, p.returncode, err)
                assert tree_state(top) == before, '%s as %s changed the trace' % (cmd[0], who)
        # the gdb server too: it answers and leaves the trace alone
        for pre in (as_nobody, None):
            port = free_port()
            srv = subprocess.Popen([FB, 'gdb', trace, '--port', str(port)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, preexec_fn=pre)
            try:
                reply = gdb_ask(port, b'?')
            finally:
                srv.kill()
                srv.wait()
            assert reply.startswith(b'$T05'), (reply, srv.stderr.read())
            assert tree_state(top) == before, 'gdb changed the trace'
    finally:
        for dirpath, dirs, files in os.walk(top):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(OUTSIDE, ignore_errors=True)


def case_readonly():
    """A finished trace in a directory nobody may write: every reading
    command works, as nobody and as root, and no file is created or changed."""
    readonly_case(False)


def case_readonly_crashed():
    """The same with a recording killed -9 (its index still in WAL mode, with
    -wal and -shm files): the missing chunks are indexed in memory."""
    readonly_case(True)


def hostile(trace, sql):
    import sqlite3
    db = sqlite3.connect(os.path.join(trace, 'index.sqlite'))
    db.executescript(sql)
    db.commit()
    db.close()


HOSTILE = {
    'view': """ALTER TABLE chunks RENAME TO old_chunks;
        CREATE VIEW chunks AS WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r)
        SELECT n AS number, 0 AS first_icount, 0 AS last_icount, 0 AS offset,
        0 AS compressed_size, 0 AS raw_size, 0 AS events, 0 AS crc FROM r;""",
    'trigger': """CREATE TRIGGER slow AFTER INSERT ON bookmarks BEGIN
        WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r;
        END;""",
    'counts': """DROP VIEW counts; CREATE VIEW counts AS
        WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r)
        SELECT 1 AS kind, 'x' AS name, count(*) AS count, 0 AS indexed FROM r;""",
    'index': """CREATE INDEX extra ON events(value);""",
}


def case_hostile_index():
    """An index.sqlite crafted to hang its reader (a recursive view in place
    of a table, a trigger, a changed view): every command refuses it in one
    line, at once."""
    trace, _ = snapshot_trace()
    for name, sql in HOSTILE.items():
        t = os.path.join(TMP, name + '.fbt')
        shutil.copytree(trace, t)
        hostile(t, sql)
        for cmd in (('info', t), ('replay', t), ('query', t, 'SELECT * FROM counts'),
                    ('events', t), ('console', t), ('disasm', t, '--at', 100)):
            t0 = time.monotonic()
            code, out, err = run(*cmd, timeout=30)
            assert code == 2, '%s with a hostile %s: status %d %r' % (cmd[0], name, code, err)
            line = one_line_error(err)
            assert 'not the schema of a flashback index' in line, (name, cmd[0], line)
            assert time.monotonic() - t0 < 10, '%s took %.1f s' % (cmd[0], time.monotonic() - t0)
        # the journal is the truth: reindex writes a good index again
        code, out, err = run('reindex', t)
        assert code == 0, err
        code, out, err = run('replay', t, '--verify')
        assert code == 0, err


def case_query_timeout():
    """A query that would run forever stops at --timeout with one line."""
    trace, _ = snapshot_trace()
    t0 = time.monotonic()
    code, out, err = run('query', trace, '--timeout', '1',
                         'WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r) '
                         'SELECT count(*) FROM r', timeout=60)
    assert code == 2, (code, err)
    assert 'took longer than 1 s' in one_line_error(err), err
    assert time.monotonic() - t0 < 20, time.monotonic() - t0


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
