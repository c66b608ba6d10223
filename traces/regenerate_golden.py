#!/usr/bin/env python3
"""regenerate_golden.py - record the golden traces of traces/golden/ again.

usage: traces/regenerate_golden.py BUILD [--check] [NAME ...]

The golden traces are small recordings of test guests, committed so that
the test suite (tests/rr/test_golden.py) replays traces written by an
older flashback: a change that makes old traces unreadable or replay
differently fails there.  Regenerate them only when the trace format
version changes (traces/FORMAT.md, "Compatibility"); never to make a
failing golden test pass.

For each golden trace this script records the guest twice (from a
temporary directory, with relative file names and SOURCE_DATE_EPOCH fixed,
so that the metadata holds no host path or time), checks that both
recordings are the same bytes, replays one with --verify and writes into
traces/golden/NAME/:
    journal.fbj, pages.fbp,        the trace (index.sqlite is left out: it
    snap-NNNNNN.fbs                is derived, and every open rebuilds it)
    expected.json                  final icount and hash, checks verified,
                                   exact event counts by kind, the console

--check records and compares with the committed expectation without
writing anything (exit status 1 on a difference).
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, 'golden')
EPOCH = '1700000000'  # start_time in the metadata of every golden trace

# name: (guest, needs the disk, expected exit status of the recording, record options)
TRACES = {
    'hello': ('hello', False, 0x43, ['--check-interval', '2000']),
    'timer': ('timer', False, 1, ['--check-interval', '50000', '--snapshot-interval', '300000']),
    'ata': ('ata', True, 1, ['--check-interval', '20000', '--chunk-events', '256']),
}

VERIFIED = re.compile(r'^verified: (\d+) checks, final icount (\d+) hash ([0-9a-f]{16})$', re.M)


def run(fb, args, cwd, env=None):
    p = subprocess.run([fb] + args, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=300, env=env)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def trace_files(trace):
    """The committed part of a trace: the journal, the page store and the snapshots."""
    return sorted(f for f in os.listdir(trace)
                  if f in ('journal.fbj', 'pages.fbp') or f.startswith('snap-'))


def record(fb, build, name, work):
    guest, disk, status, opts = TRACES[name]
    shutil.copy(os.path.join(build, 'tests', 'guests', guest + '.elf'), work)
    args = ['record', '-o', name + '.fbt', *opts, '-kernel', guest + '.elf', '-serial', 'stdio']
    if disk:
        shutil.copy(os.path.join(build, 'tests', 'guests', 'guest-disk.img'), work)
        args += ['-hda', 'guest-disk.img']
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    code, out, err = run(fb, args, work, env)
    if code != status:
        sys.exit('%s: recording ended with status %d, not %d: %s' % (name, code, status, err))
    return os.path.join(work, name + '.fbt'), out


def expectation(fb, trace, live):
    """Replays @trace and returns what the golden test compares."""
    code, out, err = run(fb, ['replay', trace, '--verify'], os.path.dirname(trace))
    m = VERIFIED.search(out)
    if code != 0 or not m:
        sys.exit('%s: replay failed (status %d): %s' % (trace, code, err.strip()))
    console = out[:m.start()]
    if console != live:
        sys.exit('%s: the replayed console differs from the recording' % trace)
    with sqlite3.connect(os.path.join(trace, 'index.sqlite')) as db:
        counts = {name: n for name, n in db.execute('SELECT name, count FROM counts')}
    return {
        'final_icount': int(m.group(2)),
        'final_hash': m.group(3),
        'checks': int(m.group(1)),
        'counts': counts,
        'console': console,
    }


def same_bytes(a, b):
    """The files of traces @a and @b that differ (a list of names)."""
    names = set(trace_files(a)) | set(trace_files(b))
    differ = []
    for f in sorted(names):
        pa, pb = os.path.join(a, f), os.path.join(b, f)
        if not (os.path.exists(pa) and os.path.exists(pb)):
            differ.append(f)
            continue
        with open(pa, 'rb') as x, open(pb, 'rb') as y:
            if x.read() != y.read():
                differ.append(f)
    return differ


def regenerate(fb, build, name, check):
    with tempfile.TemporaryDirectory() as tmp:
        works = [os.path.join(tmp, 'a'), os.path.join(tmp, 'b')]
        traces = []
        for w in works:
            os.mkdir(w)
            traces.append(record(fb, build, name, w))
        differ = same_bytes(traces[0][0], traces[1][0])
        if differ:
            print('%s: two recordings differ in %s' % (name, ', '.join(differ)))
            return False
        trace, live = traces[0]
        want = expectation(fb, trace, live)
        dest = os.path.join(GOLDEN, name)
        if check:
            with open(os.path.join(dest, 'expected.json')) as f:
                have = json.load(f)
            if have != want:
                print('%s: a new recording differs from the committed expectation' % name)
                return False
            print('%s: same as committed' % name)
            return True
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        size = 0
        for f in trace_files(trace):
            shutil.copy(os.path.join(trace, f), dest)
            size += os.path.getsize(os.path.join(dest, f))
        with open(os.path.join(dest, 'expected.json'), 'w') as f:
            json.dump(want, f, indent=1, sort_keys=True)
            f.write('\n')
        print('%s: %d bytes, final icount %d hash %s' % (name, size, want['final_icount'],
                                                        want['final_hash']))
        return True


def main():
    args = sys.argv[1:]
    check = '--check' in args
    args = [a for a in args if a != '--check']
    if not args:
        sys.exit(__doc__.strip().splitlines()[2])
    build = os.path.abspath(args[0])
    fb = os.path.join(build, 'flashback')
    names = args[1:] or list(TRACES)
    for n in names:
        if n not in TRACES:
            sys.exit('no golden trace %s (have %s)' % (n, ', '.join(TRACES)))
    ok = all([regenerate(fb, build, n, check) for n in names])
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
