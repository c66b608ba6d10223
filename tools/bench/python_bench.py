#!/usr/bin/env python3
"""python_bench.py FLASHBACK PYTHON_DIR MAKE_TRACE BENCH_ELF [--scale N] [--points N]

Figures for docs/python.md (a measurement, not a test):
  1. a loop over 10^6 events from Python (t.events() on a synthetic trace
     of 10^6 events made by tests/tools/make_trace);
  2. goto + read at 1,000 random icounts of a recording of about 10^9
     instructions (the CPU benchmark guest, -append scale=4), in random
     order and then sorted, with the snapshot cache on.
Prints wall and CPU times; best of 3 for the loop."""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('flashback')
    ap.add_argument('pydir')
    ap.add_argument('make_trace')
    ap.add_argument('bench_elf')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--points', type=int, default=1000)
    ap.add_argument('--keep', help='directory for the recordings (reused if there)')
    a = ap.parse_args()
    sys.path.insert(0, a.pydir)
    import flashback

    tmp = a.keep or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    events = os.path.join(tmp, 'events.fbt')
    if not os.path.isdir(events):
        subprocess.run([a.make_trace, events, '1000000'], check=True)
    with flashback.open(events) as t:
        best = None
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            n = 0
            for ev in t.events():
                n += 1
            w, c = time.perf_counter() - w0, time.process_time() - c0
            best = min(best or (w, c), (w, c))
        print('events: %d events in %.2f s wall, %.2f s CPU (%.2f us each)'
              % (n, best[0], best[1], best[0] / n * 1e6))
        w0 = time.perf_counter()
        n = sum(1 for ev in t.events(kind='interrupt'))
        print('events(kind="interrupt"): %d events in %.2f s' % (n, time.perf_counter() - w0))

    big = os.path.join(tmp, 'bench.fbt')
    if not os.path.isdir(big):
        w0 = time.perf_counter()
        subprocess.run([a.flashback, 'record', '-o', big, '-kernel', a.bench_elf, '-append',
                        'scale=%d' % a.scale, '-serial', 'null'],
                       stdin=subprocess.DEVNULL)
        print('recorded %s in %.1f s' % (big, time.perf_counter() - w0))
    with flashback.open(big) as t:
        end = t.info.end_icount
        print('recording: %d instructions, %d snapshots' % (end, t.info.snapshots))
        rnd = random.Random(16)
        points = [rnd.randrange(0, end) for _ in range(a.points)]
        for order, pts in (('random order', points), ('sorted', sorted(points))):
            with t.session() as s:
                w0, c0 = time.perf_counter(), time.process_time()
                times = []
                for p in pts:
                    t0 = time.perf_counter()
                    s.goto(p)
                    s.read(s.regs.esp, 64)
                    times.append(time.perf_counter() - t0)
                w, c = time.perf_counter() - w0, time.process_time() - c0
                times.sort()
                print('goto + read, %d icounts, %s: %.1f s wall, %.1f s CPU; per point '
                      'median %.0f ms, 90%% %.0f ms, max %.0f ms'
                      % (len(pts), order, w, c, times[len(times) // 2] * 1e3,
                         times[len(times) * 9 // 10] * 1e3, times[-1] * 1e3))


if __name__ == '__main__':
    main()
