#!/usr/bin/env python3
"""tools_bench.py - how long the trace tools take on a large recording.

usage: tools_bench.py FLASHBACK TRACE [--runs N] [--port P] [--grep TEXT] [--at N]
       tools_bench.py FLASHBACK --record TRACE -- MACHINE OPTIONS...

The first form times, on an existing recording, each of
    flashback info TRACE
    flashback events TRACE --port P          (default: the port read most often)
    flashback events TRACE --kind interrupt
    flashback console TRACE --grep TEXT      (default: the text of a console line
                                              half-way through the recording)
    flashback disasm TRACE --at N -n 10      (default: N half-way; --stats says which
                                              snapshot the replay started from)
    flashback export TRACE --perfetto FILE
    flashback query TRACE 'SELECT count(*) FROM events'
--runs times (default 3) and prints the best wall time of each as a Markdown
table, with what each command found.  The second form only records a trace
(flashback record -o TRACE MACHINE...), e.g. the benchmark guest:
    tools_bench.py build/flashback --record /tmp/big.fbt -- \\
        -kernel build/tools/bench/bench.elf -serial stdio -append scale=4
A measurement, not a test: it never fails on speed (exit 0, or 2 when a
command fails).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time


def run(fb, args):
    t = time.monotonic()
    p = subprocess.run([fb] + [str(a) for a in args], capture_output=True,
                       stdin=subprocess.DEVNULL)
    return time.monotonic() - t, p


def query(fb, trace, sql):
    _, p = run(fb, ['query', trace, '--csv', sql])
    if p.returncode != 0:
        sys.exit('tools_bench: query failed: %s' % p.stderr.decode().strip())
    return [line.split(',', 1) for line in p.stdout.decode().splitlines()[1:]]


def defaults(fb, trace, a):
    """Fill in the port, the text and the icount from the trace itself."""
    first, last = map(int, query(fb, trace, 'SELECT min(first_icount), max(last_icount) '
                                 'FROM chunks')[0])
    if a.port is None:
        rows = query(fb, trace, 'SELECT port FROM events WHERE kind = 1 '
                     'GROUP BY port ORDER BY count(*) DESC LIMIT 1')
        a.port = int(rows[0][0]) if rows else 0x3fd
    if a.grep is None:
        rows = query(fb, trace, 'SELECT line FROM console WHERE icount >= %d AND '
                     "length(line) > 8 ORDER BY icount LIMIT 1" % ((first + last) // 2))
        a.grep = rows[0][0].strip('"')[:40] if rows else 'PASS'
    if a.at is None:
        a.at = (first + last) // 2
    return first, last


def summary(args, p):
    """One phrase saying what the command found."""
    out, err = p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')
    m = re.search(r'(\d+) events; (\d+) of (\d+) chunks read from the journal', err)
    if m:
        return '%s events, %s of %s chunks from the journal' % m.groups()
    if args[0] == 'console':
        return '%d lines' % len(out.splitlines())
    m = re.search(r'replayed (\d+) instructions from snapshot (\d+) at icount (\d+) in', err)
    if m:
        return '%s instructions replayed from snapshot %s (icount %s)' % m.groups()
    if args[0] == 'info':
        m = re.search(r'icount range\s+(\d+) - (\d+)', out)
        return 'icount %s to %s' % m.groups() if m else ''
    if args[0] == 'export':
        return '%d bytes of JSON' % os.path.getsize(args[-1])
    if args[0] == 'query':
        return out.splitlines()[-1].strip()
    return ''


def measure(fb, trace, a):
    first, last = defaults(fb, trace, a)
    tmp = tempfile.mkdtemp(prefix='tools-bench-')
    out = os.path.join(tmp, 'timeline.json')
    cmds = [['info', trace],
            ['events', trace, '--port', hex(a.port)],
            ['events', trace, '--kind', 'interrupt'],
            ['console', trace, '--grep', a.grep],
            ['disasm', trace, '--at', a.at, '-n', 10, '--stats'],
            ['export', trace, '--perfetto', out],
            ['query', trace, 'SELECT count(*) FROM events']]
    sizes = {f: os.path.getsize(os.path.join(trace, f)) for f in os.listdir(trace)}
    print('trace %s: icount %d to %d, journal %d bytes, index %d bytes, %d snapshots' % (
        trace, first, last, sizes.get('journal.fbj', 0), sizes.get('index.sqlite', 0),
        sum(1 for f in sizes if f.startswith('snap-'))))
    print()
    print('| command | result | best of %d |' % a.runs)
    print('| --- | --- | --- |')
    status = 0
    for args in cmds:
        best, p = None, None
        for _ in range(a.runs):
            t, p = run(fb, args)
            if p.returncode not in (0, 1):
                break
            best = t if best is None else min(best, t)
        shown = ' '.join(str(x) for x in args[:1] + args[2:]).replace(out, 'FILE')
        if best is None:
            print('| `%s` | failed: %s | |' % (shown, p.stderr.decode().strip()))
            status = 2
        else:
            print('| `%s` | %s | %.3f s |' % (shown, summary(args, p), best))
    if os.path.exists(out):
        os.unlink(out)
    os.rmdir(tmp)
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('flashback')
    ap.add_argument('trace', nargs='?')
    ap.add_argument('--record', metavar='TRACE')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--port', type=lambda s: int(s, 0))
    ap.add_argument('--grep')
    ap.add_argument('--at', type=int)
    argv = sys.argv[1:]
    machine = argv[argv.index('--') + 1:] if '--' in argv else []
    a = ap.parse_args(argv[:len(argv) - len(machine) - (1 if machine else 0)])
    if a.record:
        t, p = run(a.flashback, ['record', '-o', a.record] + machine)
        print('recorded %s in %.1f s (status %d)' % (a.record, t, p.returncode))
        sys.stderr.write(p.stderr.decode(errors='replace'))
        return 0 if os.path.exists(os.path.join(a.record, 'journal.fbj')) else 2
    if not a.trace:
        ap.error('give a TRACE (or --record TRACE -- MACHINE...)')
    return measure(a.flashback, a.trace, a)


if __name__ == '__main__':
    sys.exit(main())
