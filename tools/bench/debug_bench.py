#!/usr/bin/env python3
"""debug_bench.py - figures for debugging a recording (issue 14); not a test.

usage: debug_bench.py FLASHBACK DEBUG_LOOP_ELF [--trace DIR] [--samples N]
                      [--skip-record-replay]

Records tools/bench/debug_loop.c (about 10^10 instructions) unless --trace
names such a recording, then prints, each measured through the remote
protocol as gdb would drive it (`flashback gdb TRACE`):

  - plain `flashback replay` of the recording: instructions per second, the
    reference for the rest;
  - continue from the start to the end with a breakpoint that is never hit,
    and with a watchpoint that is never hit; reverse-continue from the end to
    the start with each: speed, and its ratio to the plain replay;
  - reverse-continue to a watchpoint hit 10^9 instructions back;
  - reverse-stepi at random positions of the whole recording, on a fresh
    server (cold: only the trace's snapshots) and after one forward pass:
    median and worst;
  - `flashback history` over 10^9 instructions;
  - the server's peak resident memory.
"""
import argparse
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'gdb'))
from gdbtest import Client, ReplayServer, record, symbol  # noqa: E402
from benchlib import icount, monitor, ms, peak_rss, proc_cpu, timed  # noqa: E402


def serve(args, trace):
    srv = ReplayServer(args.flashback, trace)
    c = Client(srv.port)
    c.sock.settimeout(3600)
    c.ask('qSupported:swbreak+;hwbreak+')
    c.ask('?')
    return srv, c


def stop(srv, c):
    c.send('k')
    c.close()
    srv.finish()


def plain_replay(args, trace):
    """Seconds (wall, cpu) of `flashback replay TRACE`."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([args.flashback, 'replay', trace], stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def speed_rows(args, trace, elf, start, end, plain_rate):
    """Continue and reverse-continue across the whole recording with a
    breakpoint, then a watchpoint, that nothing hits."""
    never = symbol(elf, 'never')
    unused = symbol(elf, 'unused')
    for label, z in (('breakpoint', 'Z0,%x,1' % never), ('watchpoint', 'Z2,%x,4' % unused)):
        srv, c = serve(args, trace)
        if c.ask(z) != 'OK':
            raise RuntimeError('%s not set' % z)
        for what, packet in (('continue start -> end', 'vCont;c'),
                             ('reverse-continue end -> start', 'bc')):
            cpu0 = proc_cpu(srv.proc.pid)
            reply, t = timed(lambda: c.ask(packet))
            cpu = proc_cpu(srv.proc.pid) - cpu0
            print('%s, a %s never hit: %.1f s wall, %.1f s cpu: %.0f M instr/s by cpu = %.2f '
                  'of plain replay by cpu (%.2f by wall) (%s)' %
                  (what, label, t, cpu, (end - start) / cpu / 1e6,
                   plain_rate[1] / cpu, plain_rate[0] / t, reply))
        stop(srv, c)


def stepi_latency(srv, c, label, start, end, samples, seed):
    rng = random.Random(seed)
    gotos, steps, cpu = [], [], 0.0
    for i in range(samples):
        p = rng.randrange(start + 1, end)
        _, tg = timed(lambda: monitor(c, 'goto %d' % p))
        cpu0 = proc_cpu(srv.proc.pid)
        reply, ts = timed(lambda: c.ask('bs'))
        cpu += proc_cpu(srv.proc.pid) - cpu0
        if not reply.startswith('T05'):
            raise RuntimeError('bs at %d: %r' % (p, reply))
        if i % 10 == 0 and icount(c) != p - 1:
            raise RuntimeError('bs from %d did not land on %d' % (p, p - 1))
        gotos.append(tg)
        steps.append(ts)
    # Wall time suffers when other work shares the machine; the server's CPU
    # time (in clock ticks, so only its mean over the samples) does not.
    print('reverse-stepi, %s, %d random positions: median %s, worst %s, server cpu mean %s '
          '(the goto there first: median %s, worst %s)' %
          (label, samples, ms(statistics.median(steps)), ms(max(steps)), ms(cpu / samples),
           ms(statistics.median(gotos)), ms(max(gotos))))


def landmark_writes(args, trace, elf):
    """The icounts at which landmark is written (flashback history)."""
    out = subprocess.run([args.flashback, 'history', trace, '--addr',
                          '0x%x' % symbol(elf, 'landmark')], capture_output=True, text=True,
                         check=True).stdout
    return [int(m.group(1)) for m in re.finditer(r'^\s+(\d+)\s+\d{4}:', out, re.M)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('flashback')
    ap.add_argument('elf')
    ap.add_argument('--trace')
    ap.add_argument('--samples', type=int, default=100)
    ap.add_argument('--skip-speed', action='store_true')
    args = ap.parse_args()
    trace = args.trace
    if not trace:
        work = tempfile.mkdtemp(prefix='fbdbg-bench-')
        _, t = timed(lambda: record(args.flashback, args.elf, work))
        trace = os.path.join(work, 'guest.fbt')
        print('record: %.1f s (%s)' % (t, trace))
    srv, c = serve(args, trace)
    m = re.search(r'from (\d+) to (\d+)', monitor(c, 'when'))
    start, end = int(m.group(1)), int(m.group(2))
    stop(srv, c)
    size = sum(os.path.getsize(os.path.join(trace, f)) for f in os.listdir(trace))
    print('recording: icount %d to %d (%.2f * 10^9 instructions), %d bytes' %
          (start, end, end / 1e9, size))

    wall, cpu = plain_replay(args, trace)
    plain_rate = (wall, cpu)  # seconds for the whole recording
    print('plain replay: %.1f s wall, %.1f s cpu, %.0f M instr/s by cpu' %
          (wall, cpu, (end - start) / cpu / 1e6))
    if not args.skip_speed:
        speed_rows(args, trace, args.elf, start, end, plain_rate)

    # reverse-continue to a hit 10^9 instructions back
    writes = landmark_writes(args, trace, args.elf)
    srv, c = serve(args, trace)
    w = writes[-2]
    monitor(c, 'goto %d' % (w + 10 ** 9))
    c.ask('Z2,%x,4' % symbol(args.elf, 'landmark'))
    cpu0 = proc_cpu(srv.proc.pid)
    reply, t = timed(lambda: c.ask('bc'))
    cpu = proc_cpu(srv.proc.pid) - cpu0
    got = icount(c)
    print('reverse-continue to a watchpoint hit 10^9 instructions back: %.2f s wall, %.2f s cpu, '
          'landed at %d (the write at %d: %s) %s' % (t, cpu, got, w, 'ok' if got == w else 'WRONG',
                                                     reply))
    c.ask('z2,%x,4' % symbol(args.elf, 'landmark'))
    stop(srv, c)

    # reverse-stepi: cold, then after a forward pass
    srv, c = serve(args, trace)
    stepi_latency(srv, c, 'cold (the trace\'s snapshots only)', start, end,
                  max(args.samples // 4, 10), 2)
    stop(srv, c)
    srv, c = serve(args, trace)
    monitor(c, 'goto %d' % end)  # one pass over everything fills the cache
    stepi_latency(srv, c, 'after one forward pass', start, end, args.samples, 1)
    for line in monitor(c, 'info snapshots').splitlines():
        if 'cache' in line or 'bytes in' in line:
            print(line.strip())
    print('flashback gdb peak RSS: %.0f MiB' % (peak_rss(srv.proc.pid) / 2 ** 20))
    stop(srv, c)

    # the memory history of marker over 10^9 instructions
    lo = start + (end - start) // 3
    _, t = timed(lambda: subprocess.run(
        [args.flashback, 'history', trace, '--addr', '0x%x' % symbol(args.elf, 'marker'),
         '--from', str(lo), '--to', str(lo + 10 ** 9)], stdout=subprocess.DEVNULL, check=True))
    print('flashback history of marker over 10^9 instructions: %.1f s' % t)


if __name__ == '__main__':
    sys.exit(main())
