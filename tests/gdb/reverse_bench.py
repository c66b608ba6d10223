#!/usr/bin/env python3
"""reverse_bench.py - figures for reverse debugging (not a test: it prints figures).

usage: reverse_bench.py FLASHBACK LOOP_ELF [--trace DIR] [--samples N]
                        [--qemu QEMU_SYSTEM_I386 [--no-flashback]]
                        [--snapshot-memory MB]

Records tests/gdb/loop.c (5 rounds of ~2.4 * 10^8 instructions; `marker`
written once at the start of each round) unless --trace names a recording
of it, serves it with `flashback gdb`, and talks the remote protocol to it
directly (the packets gdb sends, timed without gdb's own overhead):

  - reverse-stepi: `monitor goto P` to N random positions, then `bs`;
    median and worst latency of the `bs`, and of the goto;
  - reverse-continue with a write watchpoint on `marker` from 10^8
    instructions after its last write (`Z2`, `bc`);
  - memory: the snapshot cache as `monitor info snapshots` reports it, and
    the server's peak RSS.

With --qemu it tries the same on QEMU's record/replay (-icount
shift=0,rr=record|replay with a qcow2 overlay for rrsnapshot) and says where
that does not work.
"""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gdbtest import Client, ReplayServer, free_port, record, symbol  # noqa: E402
from benchlib import icount, monitor, ms, peak_rss, timed  # noqa: E402


def serve(args, trace):
    extra = ['--snapshot-memory', str(args.snapshot_memory)] if args.snapshot_memory else []
    srv = ReplayServer(args.flashback, trace, extra)
    c = Client(srv.port)
    c.sock.settimeout(3600)
    c.ask('qSupported:swbreak+;hwbreak+')
    c.ask('?')
    return srv, c


def bench_flashback(args, trace, loop_elf):
    srv, c = serve(args, trace)
    when = monitor(c, 'when')
    m = re.search(r'from (\d+) to (\d+)', when)
    start, end = int(m.group(1)), int(m.group(2))
    print('recording: icount %d to %d (%.2f * 10^9 instructions)' % (start, end, end / 1e9))

    def stepi_latency(label, samples, seed):
        rng = random.Random(seed)
        gotos, steps = [], []
        for i in range(samples):
            p = rng.randrange(start + 1, end)
            _, tg = timed(lambda: monitor(c, 'goto %d' % p))
            reply, ts = timed(lambda: c.ask('bs'))
            if reply != 'T05thread:01;' and 'watch' not in reply:
                raise RuntimeError('bs at %d: %r' % (p, reply))
            if i % 10 == 0 and icount(c) != p - 1:
                raise RuntimeError('bs from %d did not land on %d' % (p, p - 1))
            gotos.append(tg)
            steps.append(ts)
        print('reverse-stepi, %s, %d random positions: median %s, worst %s '
              '(the goto there first: median %s, worst %s)' %
              (label, samples, ms(statistics.median(steps)), ms(max(steps)),
               ms(statistics.median(gotos)), ms(max(gotos))))

    # cold: nothing cached but the trace's own snapshots (every 2^26); the
    # engine's cache only grows at its end, so a fresh server follows
    stepi_latency('cold cache', max(args.samples // 5, 5), 2)
    c.send('k')
    c.close()
    srv.finish()
    srv, c = serve(args, trace)
    # one forward pass over the whole recording fills the cache
    reply, t = timed(lambda: c.ask('vCont;c'))
    print('continue from the start to the end (fills the cache): %.1f s (%s)' % (t, reply))
    stepi_latency('after one forward pass', args.samples, 1)

    # the last writes of marker, from the end backwards
    marker = symbol(loop_elf, 'marker')
    monitor(c, 'goto %d' % end)
    c.ask('Z2,%x,4' % marker)
    reply, t5 = timed(lambda: c.ask('bc'))
    w5 = icount(c)
    print('reverse-continue from the end to the last write of marker: %s back, %s (%s)' %
          (end - w5, ms(t5), reply))
    reply, t4 = timed(lambda: c.ask('bc'))
    w4 = icount(c)
    print('reverse-continue to the write before: %d back, %s (%s)' % (w5 - w4, ms(t4), reply))
    target = w4 + 10 ** 8
    monitor(c, 'goto %d' % target)
    reply, t = timed(lambda: c.ask('bc'))
    got = icount(c)
    print('reverse-continue to a watchpoint hit 10^8 instructions back: %s, landed at %d '
          '(write at %d: %s) %s' % (ms(t), got, w4, 'ok' if got == w4 else 'WRONG', reply))
    c.ask('z2,%x,4' % marker)
    print(monitor(c, 'info snapshots').rstrip().split('\n', 1)[0])
    for line in monitor(c, 'info snapshots').splitlines():
        if 'cache' in line or 'bytes' in line:
            print(line)
    print('flashback gdb peak RSS: %.0f MiB' % (peak_rss(srv.proc.pid) / 2 ** 20))
    c.send('k')
    c.close()
    srv.finish()


def store_address(elf, addr):
    """The address of the instruction that stores to @addr (objdump)."""
    out = subprocess.run(['objdump', '-d', elf], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if re.search(r'\tmov\s+%%\w+,0x%x$' % addr, line):
            return int(line.split(':')[0], 16)
    raise RuntimeError('no store to %#x in %s' % (addr, elf))


def qemu_icount(c):
    m = re.search(r'instruction count = (\d+)', monitor(c, 'info replay'))
    return int(m.group(1)) if m else None


def bench_qemu(args, loop_elf):
    """QEMU's reverse debugging on the same guest."""
    work = tempfile.mkdtemp(prefix='fbrev-qemu-')
    disk = os.path.join(work, 'empty.qcow2')
    rr = os.path.join(work, 'replay.bin')
    subprocess.run(['qemu-img', 'create', '-f', 'qcow2', disk, '16M'], check=True,
                   capture_output=True)
    common = [args.qemu, '-display', 'none', '-nodefaults', '-serial', 'null', '-m', '128',
              '-kernel', loop_elf, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
              '-drive', 'file=%s,if=none,snapshot=off,id=img-direct' % disk,
              '-drive', 'driver=blkreplay,if=none,image=img-direct,id=img-blkreplay',
              '-device', 'ide-hd,drive=img-blkreplay', '-net', 'none']
    t0 = time.perf_counter()
    r = subprocess.run(common + ['-icount', 'shift=0,rr=record,rrfile=%s,rrsnapshot=init' % rr],
                       capture_output=True, text=True, timeout=3600)
    print('qemu record: %.1f s, exit %d %s' % (time.perf_counter() - t0, r.returncode,
                                              r.stderr.strip()[:200]))
    port = free_port()
    q = subprocess.Popen(common + ['-icount', 'shift=0,rr=replay,rrfile=%s,rrsnapshot=init' % rr,
                                   '-gdb', 'tcp::%d' % port, '-S'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    try:
        c = Client(port)
        c.sock.settimeout(600)
        c.ask('qSupported:swbreak+;hwbreak+')
        c.ask('?')
        # QEMU has no goto, and its write watchpoints misfire in replay
        # (after the first hit every continue advances one instruction and
        # reports the watchpoint again): a breakpoint on the store to
        # marker takes us to each round instead.
        store = store_address(loop_elf, symbol(loop_elf, 'marker'))
        c.ask('Z0,%x,1' % store)
        for rnd in range(1, 6):
            reply, tc = timed(lambda: c.ask('c'))
            where = qemu_icount(c)
            reply2, ts = timed(lambda: c.ask('bs'))
            print('qemu round %d: continue to the store %s (%s), icount %s; '
                  'reverse-stepi %s (%s)' % (rnd, ms(tc), reply, where, ms(ts), reply2))
            c.ask('s')  # back on the store, then over it as gdb does: without the breakpoint
            c.ask('z0,%x,1' % store)
            c.ask('s')
            c.ask('Z0,%x,1' % store)
        reply, t = timed(lambda: c.ask('bc'))
        print('qemu reverse-continue to the previous round\'s store (about 2.4 * 10^8 back): '
              '%s (%s), icount %s' % (ms(t), reply, qemu_icount(c)))
        c.ask('z0,%x,1' % store)
        c.ask('Z2,%x,4' % symbol(loop_elf, 'marker'))
        reply, t = timed(lambda: c.ask('bc'))
        print('qemu reverse-continue with a write watchpoint on marker: %s (%s), icount %s' %
              (ms(t), reply, qemu_icount(c)))
        c.close()
    except Exception as e:  # report and go on: this part is a comparison
        print('qemu reverse debugging failed: %r' % e)
    q.kill()
    q.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('flashback')
    ap.add_argument('loop_elf')
    ap.add_argument('--trace')
    ap.add_argument('--samples', type=int, default=100)
    ap.add_argument('--snapshot-memory', type=int, default=0)
    ap.add_argument('--qemu')
    ap.add_argument('--no-flashback', action='store_true', help='only the QEMU part')
    args = ap.parse_args()
    trace = args.trace
    if not trace and not args.no_flashback:
        work = tempfile.mkdtemp(prefix='fbrev-bench-')
        t0 = time.perf_counter()
        trace = record(args.flashback, args.loop_elf, work)
        print('record: %.1f s (%s)' % (time.perf_counter() - t0, trace))
    if not args.no_flashback:
        bench_flashback(args, trace, args.loop_elf)
    if args.qemu:
        bench_qemu(args, args.loop_elf)


main()
