#!/usr/bin/env python3
"""run_bench.py - Flashback's CPU benchmark: flashback against QEMU.

usage: run_bench.py FLASHBACK BENCH_ELF [--qemu PATH | --no-qemu] [--runs N]
                    [--scale N] [--timeout S]

Runs the benchmark guest (tools/bench/bench.c) under
    FLASHBACK run -kernel BENCH_ELF -serial stdio -no-reboot --stats
recorded and replayed by flashback:
    FLASHBACK record -o TMP.fbt -kernel BENCH_ELF ... --stats
    FLASHBACK replay TMP.fbt --verify
and under qemu-system-i386 (TCG, one vCPU) in four ways:
    -icount shift=0,sleep=off                          plain, for reference
    -icount shift=0,sleep=off,rr=record,rrfile=TMP     the peer
    -icount shift=0,sleep=off,rr=replay,rrfile=TMP     replay of that recording
    -icount shift=0,rr=record,rrfile=TMP2              QEMU's default sleep=on
sleep=off makes QEMU skip the time the guest spends halted, as flashback
does; with sleep=on QEMU waits the timer phase's half second in real time.

Each is run N times (default 3); the best wall time and the best CPU time
(user + system, all threads) are kept.  Every run
must print the same phase checksums and "bench: done"; a mismatch is a
wrong CPU, reported loudly with exit status 1.

Guest instructions are flashback's icount for the whole run (its --stats
line), used for every row: it is the same program.  QEMU's own count of the
CPU phases (the guest's RDTSC span under -icount shift=0) is shown as a
cross-check, and stands in, marked approximate, when flashback cannot run
the guest.

Exit status: 0 all ran and agreed, 1 checksum mismatch, 2 an emulator did
not complete the benchmark (the other figures are still printed).
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

STATS_RE = re.compile(r'flashback: icount (\d+), virtual time (-?\d+) ns, exit status (-?\d+)')
VERIFIED_RE = re.compile(r'^verified: (\d+) checks, final icount (\d+) hash ([0-9a-f]{16})$', re.M)
CHECKSUM_RE = re.compile(r'^bench: (\S+) checksum (0x[0-9a-fA-F]+)\s*$', re.M)
TSC_RE = re.compile(r'^bench: (\S+) tsc (\d+)\s*$', re.M)
DONE = 'bench: done'
GUEST_OK = 1  # isa-debug-exit: the guest wrote 0 to port 0xF4
ACCELS = ('jit', 'interp')  # flashback's engines (-accel), the default first
REPLAY_OK = 0  # flashback replay: the trace replayed and verified


class Result:
    """One run of one emulator."""

    def __init__(self, status, wall, cpu, out, err, want=GUEST_OK, rss=0):
        self.status = status  # None: timed out
        self.rss = rss  # peak resident set, KiB
        self.want = want  # the exit status of a completed run
        self.wall = wall
        self.cpu = cpu  # user + system seconds of the emulator process
        self.out = out
        self.err = err
        self.checksums = dict(CHECKSUM_RE.findall(out))
        self.tsc = {k: int(v) for k, v in TSC_RE.findall(out)}
        m = STATS_RE.search(err)
        self.icount = int(m.group(1)) if m else None
        m = VERIFIED_RE.search(out)  # a replay: the summary follows the console
        if m:
            self.icount = int(m.group(2))
            self.out = out[:m.start()]

    def problem(self):
        """Why this run does not count (None: it completed)."""
        if self.status is None:
            return 'timed out'
        if self.status != self.want:
            return 'exit status %d (want %d)' % (self.status, self.want)
        if DONE not in self.out:
            return 'no "%s" line' % DONE
        if not self.checksums:
            return 'no checksum lines'
        return None

    def last_words(self):
        """The last line of stderr, else of stdout: what went wrong."""
        for text in (self.err, self.out):
            lines = [l.strip() for l in text.splitlines() if l.strip()]
            if lines:
                return lines[-1]
        return '(no output)'


def run_once(cmd, timeout, want=GUEST_OK):
    """Runs @cmd with stdin from /dev/null; returns a Result."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, wstatus, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(wstatus)
        status = None if timed_out.is_set() else proc.returncode
        out.seek(0)
        err.seek(0)
        text = out.read().decode('utf-8', 'replace').replace('\r\n', '\n')
        return Result(status, wall, usage.ru_utime + usage.ru_stime, text,
                      err.read().decode('utf-8', 'replace'), want, usage.ru_maxrss)


def best_of(name, cmd, runs, timeout, before=None, want=GUEST_OK):
    """Runs @cmd @runs times (@before() ahead of each); returns (best, all).
    Stops at the first run that does not complete."""
    results = []
    for _ in range(runs):
        if before:
            before()
        try:
            r = run_once(cmd, timeout, want)
        except OSError as e:
            print('%s: cannot run %s: %s' % (name, cmd[0], e.strerror))
            return None, results
        results.append(r)
        print('  %-28s %7.2f s wall %7.2f s cpu  %s' % (name, r.wall, r.cpu,
                                                       r.problem() or 'ok'), flush=True)
        if r.problem():
            return None, results
    best = min(results, key=lambda r: r.wall)
    best.cpu = min(r.cpu for r in results)  # each column its own best
    best.rss = max(r.rss for r in results)
    return best, results


def qemu_command(qemu, elf, scale, icount):
    return [qemu, '-nodefaults', '-machine', 'pc', '-m', '128', '-kernel', elf,
            '-append', 'scale=%d' % scale, '-display', 'none', '-serial', 'stdio',
            '-no-reboot', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
            '-icount', icount]


def flashback_command(flashback, elf, scale, accel):
    return [flashback, 'run', '-accel', accel, '-kernel', elf, '-append', 'scale=%d' % scale, '-serial',
            'stdio', '-no-reboot', '--stats', '--max-insns', str(20_000_000_000 * scale)]


def flashback_record_command(flashback, elf, scale, trace, accel):
    cmd = flashback_command(flashback, elf, scale, accel)
    return cmd[:1] + ['record', '-o', trace] + cmd[2:]


def flashback_replay_command(flashback, trace, accel):
    return [flashback, 'replay', '-accel', accel, trace, '--verify']


def trace_sizes(trace):
    """Bytes of a flashback trace: (journal, snapshots with their page store, index, total)."""
    journal = snaps = index = 0
    for name in os.listdir(trace):
        size = os.path.getsize(os.path.join(trace, name))
        if name == 'journal.fbj':
            journal = size
        elif name.startswith('snap-') or name == 'pages.fbp':
            snaps += size
        else:
            index += size
    return journal, snaps, index, journal + snaps + index


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def print_rr_costs(by_label, plain_label, record_label, replay_label, wrong):
    """What recording adds to a plain run of the same emulator, and how fast
    its replay goes relative to that plain run (wall and cpu time)."""
    plain = by_label.get(plain_label)
    if plain is None or record_label not in by_label:
        return
    print()
    for label in (record_label, replay_label):
        r = by_label.get(label)
        if r is None:
            print('%s: pending (did not complete)' % label)
            continue
        invalid = ' (INVALID: the checksums differ)' if label in wrong else ''
        print('%s: %+.1f %% time over %s by wall, %+.1f %% by cpu; '
              'speed %.2f of it (wall), %.2f (cpu)%s' %
              (label, 100 * (r.wall / plain.wall - 1), plain_label,
               100 * (r.cpu / plain.cpu - 1), plain.wall / r.wall, plain.cpu / r.cpu,
               invalid))


def main():
    ap = argparse.ArgumentParser(description='CPU benchmark: flashback against QEMU')
    ap.add_argument('flashback')
    ap.add_argument('elf', metavar='BENCH_ELF')
    ap.add_argument('--qemu', default='qemu-system-i386', help='qemu-system-i386 to compare with')
    ap.add_argument('--no-qemu', action='store_true', help='run flashback alone')
    ap.add_argument('--runs', type=int, default=3, help='runs of each, best wall time kept')
    ap.add_argument('--scale', type=int, default=1, help='work multiplier (1..1000)')
    ap.add_argument('--timeout', type=float, default=600.0, help='seconds per run')
    ap.add_argument('--linux-bench', metavar='TOOL',
                    help='then tools/linux-bench for the Linux boot (when its kernel is built)')
    ap.add_argument('--build', metavar='DIR', help='the build directory, for --linux-bench')
    args = ap.parse_args()
    if args.runs < 1 or not 1 <= args.scale <= 1000:
        ap.error('--runs must be >= 1 and --scale within 1..1000')
    if not os.path.isfile(args.elf):
        print('run_bench: no such file %s' % args.elf)
        return 2

    tmpdir = tempfile.mkdtemp(prefix='flashback-bench-')
    rrfile = os.path.join(tmpdir, 'record.rr')
    rrfile_sleep = os.path.join(tmpdir, 'record-sleep.rr')
    rows = []  # (label, command, best Result or None)
    print('bench: %s, scale %d, best of %d runs' % (args.elf, args.scale, args.runs))

    trace = os.path.join(tmpdir, 'bench.fbt')
    configs = []
    for accel in ACCELS:
        fb = 'flashback ' + accel
        configs += [
            (fb, flashback_command(args.flashback, args.elf, args.scale, accel), None),
            (fb + ' record', flashback_record_command(args.flashback, args.elf, args.scale,
                                                      trace, accel),
             lambda: shutil.rmtree(trace, ignore_errors=True)),
            (fb + ' replay', flashback_replay_command(args.flashback, trace, accel), None),
        ]
    if not args.no_qemu:
        q = lambda icount: qemu_command(args.qemu, args.elf, args.scale, icount)
        configs += [
            ('qemu -icount', q('shift=0,sleep=off'), None),
            ('qemu rr=record', q('shift=0,sleep=off,rr=record,rrfile=' + rrfile),
             lambda: remove(rrfile)),
            ('qemu rr=replay', q('shift=0,sleep=off,rr=replay,rrfile=' + rrfile), None),
            ('qemu rr=record sleep=on', q('shift=0,rr=record,rrfile=' + rrfile_sleep),
             lambda: remove(rrfile_sleep)),
        ]
    rr_sizes = {}
    fb_sizes = None
    failed = []
    for label, cmd, before in configs:
        if label.endswith('replay') and label.startswith('flashback') and \
                not os.path.isfile(os.path.join(trace, 'journal.fbj')):
            rows.append((label, cmd, None))
            failed.append((label, 'no recording to replay'))
            continue
        if label == 'qemu rr=replay' and not os.path.isfile(rrfile):
            rows.append((label, cmd, None))
            failed.append((label, 'no recording to replay'))
            continue
        want = REPLAY_OK if label.startswith('flashback') and label.endswith('replay') \
            else GUEST_OK
        best, runs = best_of(label, cmd, args.runs, args.timeout, before, want)
        rows.append((label, cmd, best))
        if best is None:
            last = runs[-1] if runs else None
            why = '%s: %s' % (last.problem(), last.last_words()) if last else 'did not start'
            failed.append((label, why))
        if label == 'flashback %s record' % ACCELS[0] and best is not None:
            fb_sizes = trace_sizes(trace)
        if label == 'qemu rr=record' and os.path.isfile(rrfile):
            rr_sizes[label] = os.path.getsize(rrfile)
        if label == 'qemu rr=record sleep=on' and os.path.isfile(rrfile_sleep):
            rr_sizes[label] = os.path.getsize(rrfile_sleep)
    for path in (rrfile, rrfile_sleep):
        remove(path)
    shutil.rmtree(trace, ignore_errors=True)
    os.rmdir(tmpdir)

    # The checksums: every completed run must agree with the reference, the
    # first QEMU row that completed (else flashback's).
    done = [(label, r) for label, _, r in rows if r is not None]
    done.sort(key=lambda d: d[0].startswith('flashback'))
    wrong = set()
    if done:
        ref_label, ref = done[0]
        for label, r in done[1:]:
            if r.checksums == ref.checksums:
                continue
            wrong.add(label)
            print('\n!!! CHECKSUM MISMATCH: %s disagrees with %s: a wrong CPU !!!' %
                  (label, ref_label))
            print('!!!   %-8s %-12s %-12s' % ('phase', ref_label, label))
            for phase in sorted(set(ref.checksums) | set(r.checksums)):
                a = ref.checksums.get(phase, '(missing)')
                b = r.checksums.get(phase, '(missing)')
                print('!!!   %-8s %-12s %-12s%s' % (phase, a, b, '' if a == b else '  <--'))
    mismatch = bool(wrong)

    # The instruction count: flashback's icount, else QEMU's CPU-phase count.
    fb = rows[0][2]
    qemu_ref = next((r for label, _, r in rows[1:] if r is not None), None)
    if fb is not None and fb.icount:
        insns, source = fb.icount, "flashback's icount for the whole run"
    elif qemu_ref is not None and 'cpu' in qemu_ref.tsc:
        insns = qemu_ref.tsc['cpu']
        source = ("APPROXIMATE: QEMU's count of the CPU phases (guest RDTSC under "
                  "-icount shift=0); flashback gave none")
    else:
        insns, source = None, None

    print('\nguest instructions: %s (%s; the same program for every row)' %
          ('%d' % insns if insns else 'unknown', source or 'no emulator completed'))
    if qemu_ref is not None and 'cpu' in qemu_ref.tsc and fb is not None and fb.icount:
        print('  cross-check: CPU phases took %d instructions by QEMU\'s count, '
              '%s by the guest\'s RDTSC under flashback' %
              (qemu_ref.tsc['cpu'], fb.tsc.get('cpu', '?')))
    print('\n%-26s %8s %8s %9s %9s %9s %9s %9s' % ('emulator', 'wall s', 'cpu s', 'Minstr/s',
                                                    'Minstr/s', 'ratio', 'ratio', 'peak RSS'))
    print('%-26s %8s %8s %9s %9s %9s %9s %9s' % ('', '', '', '(wall)', '(cpu)', '(wall)',
                                                 '(cpu)', 'MiB'))
    record = next((r for label, _, r in rows if label == 'qemu rr=record'), None)
    for label, _, r in rows:
        if r is None:
            print('%-26s %8s %8s %9s %9s %9s %9s %9s' % (label, '-', '-', '-', '-', '-', '-',
                                                         '-'))
            continue
        mips = '%.1f' % (insns / r.wall / 1e6) if insns else '?'
        cmips = '%.1f' % (insns / r.cpu / 1e6) if insns and r.cpu > 0 else '?'
        ratio = '%.2f' % (record.wall / r.wall) if record else '-'
        cratio = '%.2f' % (record.cpu / r.cpu) if record and r.cpu > 0 else '-'
        print('%-26s %8.3f %8.3f %9s %9s %9s %9s %9.1f' % (label, r.wall, r.cpu, mips, cmips,
                                                            ratio, cratio, r.rss / 1024))
    per = lambda n: ' (%.0f bytes per 10^9 instructions)' % (n / (insns / 1e9)) if insns else ''
    for label, size in rr_sizes.items():
        print('%s rrfile: %d bytes%s' % (label, size, per(size)))
    if fb_sizes:
        journal, snaps, index, total = fb_sizes
        print('flashback record trace: journal %d bytes%s; snapshots and their pages %d, '
              'index %d; in all %d bytes%s' % (journal, per(journal), snaps, index, total,
                                               per(total)))
    print('(ratio = speed relative to qemu rr=record; wall time includes emulator start-up;\n'
          ' cpu = user + system time of the emulator process, all threads: steadier than\n'
          ' wall time on a loaded host)')

    by_label = {label: r for label, _, r in rows}
    if record is not None:
        invalid = ' (INVALID: the checksums differ)' if wrong else ''
        print()
        for label, _, r in rows:
            if not label.startswith('flashback'):
                continue
            if r is None:
                print('%s / qemu(rr=record) = pending (did not complete the run)' % label)
                continue
            print('%s / qemu(rr=record) = %.2f by wall, %.2f by cpu time%s' %
                  (label, record.wall / r.wall, record.cpu / r.cpu if r.cpu > 0 else 0,
                   invalid))
    for accel in ACCELS:
        fb_label = 'flashback ' + accel
        print_rr_costs(by_label, fb_label, fb_label + ' record', fb_label + ' replay', wrong)
    print_rr_costs(by_label, 'qemu -icount', 'qemu rr=record', 'qemu rr=replay', wrong)
    for label, why in failed:
        print('%s: did not complete the benchmark: %s' % (label, why))
        if label == 'flashback ' + ACCELS[0]:
            print('flashback: figures pending')
    if args.linux_bench and args.build:
        linux_bench(args)
    if mismatch:
        return 1
    return 2 if failed else 0


def linux_bench(args):
    """The Linux boot's figures (tools/linux-bench), when its guest is built."""
    kernel = os.path.join(args.build, 'tests', 'linux', 'bzImage')
    initrd = os.path.join(args.build, 'tests', 'linux', 'init.cpio')
    print('\nlinux: the boot to the shell prompt and `exit 0` (tools/linux-bench)', flush=True)
    if not (os.path.isfile(kernel) and os.path.isfile(initrd)):
        print('linux: skipped: no guest (ninja -C %s linux-guest builds it)' % args.build)
        return
    cmd = [sys.executable, args.linux_bench, '--build', args.build, '--flashback', args.flashback,
           '--accel', ','.join(ACCELS)]
    if not args.no_qemu:
        cmd += ['--qemu', args.qemu]
    subprocess.run(cmd, timeout=3600)


if __name__ == '__main__':
    sys.exit(main())
