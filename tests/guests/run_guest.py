#!/usr/bin/env python3
"""run_guest.py - run one test guest under flashback (or QEMU) and judge it.

usage: run_guest.py [--qemu] EMULATOR KERNEL [--hda IMG] [--expect-status N]
                    [--expect TEXT ...] [--timeout S] [--max-insns N] [--icount]
                    [--reboot]

Without --qemu, EMULATOR is flashback and the guest runs as
    EMULATOR run -kernel KERNEL -serial stdio [-hda IMG] --max-insns N
With --qemu, EMULATOR is qemu-system-i386 (the second opinion), run with the
isa-debug-exit device at 0xF4 and the disk attached read-only in effect
(snapshot=on), so guests that write to it never change the image, and with
-no-reboot unless --reboot says the guest resets the machine on purpose.

Standard input is /dev/null.  The guest passes when the emulator exits with
the expected status (default 1: the guest wrote 0 to port 0xF4), every
--expect text (default: "PASS <kernel name>") appears in its serial output,
and no line starts with "FAIL".
Prints one verdict line (and the output when it failed); exits 0 on a pass.
"""
import argparse
import os
import re
import subprocess
import sys
import time


def command(args):
    if args.qemu:
        cmd = [args.emulator, '-nodefaults', '-machine', 'pc', '-kernel', args.kernel,
               '-display', 'none', '-serial', 'stdio',
               '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']
        if not args.reboot:
            cmd += ['-no-reboot']
        if args.vga:
            cmd += ['-vga', 'std']  # -nodefaults leaves it out
        if args.hda:
            cmd += ['-drive', 'file=%s,format=raw,if=ide,index=0,snapshot=on' % args.hda]
        if args.icount:
            cmd += ['-icount', 'shift=0,sleep=off', '-rtc', 'clock=vm']
        return cmd
    cmd = [args.emulator, 'run', '-kernel', args.kernel, '-serial', 'stdio']
    if args.hda:
        # -snapshot: the guest's writes stay in memory, as QEMU's snapshot=on
        # above: the image is shared by the tests.
        cmd += ['-hda', args.hda, '-snapshot']
    cmd += ['--max-insns', str(args.max_insns)]
    return cmd


def run(cmd, timeout):
    """Returns (status or None on time out, stdout text, stderr text, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        status = None
    text = out.decode('utf-8', 'replace').replace('\r\n', '\n').replace('\r', '\n')
    return status, text, err.decode('utf-8', 'replace'), time.monotonic() - start


def judge(args, status, output):
    """Returns the list of problems (empty: pass)."""
    problems = []
    if status is None:
        problems.append('timed out after %g s' % args.timeout)
    elif status != args.expect_status:
        problems.append('exit status %d (0x%x), expected %d (0x%x)' %
                        (status, status & 0xFFFFFFFF, args.expect_status, args.expect_status))
    for text in args.expect:
        if text not in output:
            problems.append('missing %r' % text)
    for line in output.splitlines():
        if re.match(r'\s*FAIL', line):
            problems.append('guest said %r' % line.strip())
    return problems


def main():
    ap = argparse.ArgumentParser(description='run a test guest and check its output')
    ap.add_argument('--qemu', action='store_true', help='EMULATOR is qemu-system-i386')
    ap.add_argument('emulator')
    ap.add_argument('kernel')
    ap.add_argument('--hda', help='raw disk image for the primary master')
    ap.add_argument('--vga', action='store_true', help='QEMU: add the standard VGA')
    ap.add_argument('--expect-status', type=lambda s: int(s, 0), default=1)
    ap.add_argument('--expect', action='append', default=[], metavar='TEXT')
    ap.add_argument('--timeout', type=float, default=30.0, help='wall-clock seconds')
    ap.add_argument('--max-insns', type=int, default=2_000_000_000,
                    help='instruction limit for flashback')
    ap.add_argument('--icount', action='store_true',
                    help='QEMU: -icount shift=0,sleep=off -rtc clock=vm: guest time '
                    'follows instructions and host load cannot skew it')
    ap.add_argument('--reboot', action='store_true',
                    help='QEMU: the guest resets the machine on purpose (no -no-reboot)')
    args = ap.parse_args()

    name = os.path.splitext(os.path.basename(args.kernel))[0]
    who = 'qemu' if args.qemu else 'flashback'
    if not args.expect:
        args.expect = ['PASS ' + name]
    for path in [args.kernel] + ([args.hda] if args.hda else []):
        if not os.path.isfile(path):
            print('FAIL %s under %s: no such file %s' % (name, who, path))
            return 1
    cmd = command(args)
    try:
        status, output, errors, secs = run(cmd, args.timeout)
    except OSError as e:
        print('FAIL %s under %s: cannot run %s: %s' % (name, who, cmd[0], e.strerror))
        return 1
    problems = judge(args, status, output)
    if not problems:
        print('PASS %s under %s (status %d, %.1f s)' % (name, who, status, secs))
        return 0
    print('FAIL %s under %s: %s' % (name, who, '; '.join(problems)))
    print('--- command: %s' % ' '.join(cmd))
    print('--- serial output:\n%s' % output.rstrip())
    if errors.strip():
        print('--- stderr:\n%s' % errors.rstrip())
    return 1


if __name__ == '__main__':
    sys.exit(main())
