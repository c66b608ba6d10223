#!/usr/bin/env python3
"""test_golden.py - replay a committed golden trace (traces/golden/NAME).

usage: test_golden.py FLASHBACK GOLDEN_DIR NAME

The golden traces were recorded by an older flashback (see
traces/regenerate_golden.py).  The trace is copied to a temporary
directory (it holds no index: opening it rebuilds index.sqlite from the
journal), replayed with --verify, and everything must match the committed
expected.json: the console, the number of checks verified, the final icount
and hash, what `info` says, and the exact event counts by kind of the
rebuilt index.  A failure here means this flashback reads or replays old
traces differently: either a bug, or a format change that needs a new
format version (then regenerate, see traces/FORMAT.md).
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

VERIFIED = re.compile(r'^verified: (\d+) checks, final icount (\d+) hash ([0-9a-f]{16})$', re.M)


def run(fb, *args):
    p = subprocess.run([fb, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def check(fb, golden, name, tmp):
    with open(os.path.join(golden, name, 'expected.json')) as f:
        want = json.load(f)
    trace = os.path.join(tmp, name + '.fbt')
    shutil.copytree(os.path.join(golden, name), trace)
    os.unlink(os.path.join(trace, 'expected.json'))
    assert not os.path.exists(os.path.join(trace, 'index.sqlite'))

    code, out, err = run(fb, 'info', trace)
    assert code == 0, 'info: status %d: %s' % (code, err)
    line = 'complete, final icount %d hash %s' % (want['final_icount'], want['final_hash'])
    assert line in out, 'info does not say %r:\n%s' % (line, out)
    assert 'truncated' not in out, out

    # reading never writes: the index lives in memory until `reindex`
    assert not os.path.exists(os.path.join(trace, 'index.sqlite'))
    code, out, err = run(fb, 'query', trace, '--json', 'SELECT name, count FROM counts')
    assert code == 0, 'query: status %d: %s' % (code, err)
    counts = {r['name']: r['count'] for r in json.loads(out)}
    assert counts == want['counts'], 'event counts %r, expected %r' % (counts, want['counts'])
    code, out, err = run(fb, 'reindex', trace)
    assert code == 0, 'reindex: status %d: %s' % (code, err)
    with sqlite3.connect('file:%s?mode=ro' % os.path.join(trace, 'index.sqlite'), uri=True) as db:
        counts = {k: n for k, n in db.execute('SELECT name, count FROM counts')}
    assert counts == want['counts'], 'reindexed counts %r, expected %r' % (counts, want['counts'])
    files = set(os.listdir(os.path.join(golden, name))) - {'expected.json'} | {'index.sqlite'}
    assert set(os.listdir(trace)) == files, 'reindex left %r' % sorted(os.listdir(trace))

    for attempt in (1, 2):  # replay is deterministic: twice the same
        code, out, err = run(fb, 'replay', trace, '--verify')
        assert code == 0, 'replay %d: status %d: %s' % (attempt, code, err)
        m = VERIFIED.search(out)
        assert m, 'replay %d: no summary in %r' % (attempt, out[-300:])
        got = (int(m.group(1)), int(m.group(2)), m.group(3))
        exp = (want['checks'], want['final_icount'], want['final_hash'])
        assert got == exp, 'replay %d: checks, icount, hash %r, expected %r' % (attempt, got, exp)
        assert out[:m.start()] == want['console'], (
            'replay %d: console differs:\n%r\nexpected\n%r' % (attempt, out[:m.start()],
                                                               want['console']))


def main():
    fb, golden, name = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            check(fb, golden, name, tmp)
        except AssertionError as e:
            print('FAIL golden %s: %s' % (name, e))
            return 1
        except subprocess.TimeoutExpired:
            print('FAIL golden %s: timed out' % name)
            return 1
    print('PASS golden %s' % name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
