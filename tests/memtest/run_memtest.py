#!/usr/bin/env python3
"""run_memtest.py - a bounded memtest86+ session as a CPU and chipset workout.

usage: run_memtest.py EMULATOR KERNEL [--qemu] [--insns N] [--min-test K]
                      [--mem MB] [--shift S] [--timeout SECONDS]

Boots Debian's memtest86+ (memtest86+ia32.bin, Linux boot protocol) with its
screen on the serial console, under `flashback run` (the default) or under
qemu-system-i386 (--qemu), and checks what memtest itself reports:

  - its banner ("Memtest86+ vX.Y") and the status line appear;
  - the tests it announces ("#N  [name]") start in ascending order, from
    test #0 up to at least test #K (--min-test, default 5);
  - every status line says "Errors: 0", the elapsed time never goes back,
    and nothing on the screen says Fail/Failed/Failing.

Flashback runs a fixed instruction budget (--insns, default 1.2e9) and must
stop because of it; QEMU has no such budget, so it is stopped as soon as
test #K shows on the screen (or fails at --timeout).  -icount shift=S (default
6) makes each instruction 2^S virtual ns: memtest measures time with the TSC
and redraws its screen every 2 virtual seconds, so a larger shift gives more
progress lines per instruction without changing the work the tests do.

Debian's image is 8 bytes shorter than its header's syssize * 16 (the last
paragraph is cut short): the loader must accept it as QEMU and GRUB do.

Prints the icount, host time and the tests seen; exit status 0 on success.
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

CMDLINE = 'console=ttyS0,115200 nopause nosmp keyboard=none powersave=off'

# One screen refresh: the "Test #" field (row 4, column 35) and the status
# and pass/error fields (rows 8 and 9).
TEST_RE = re.compile(r'\x1b\[4;35H #(\d+) +\[([^\]]*)\]')
STATUS_RE = re.compile(r'Time: +(\d+):(\d\d):(\d\d) +Status: (\w+).*?'
                       r'Pass: +(\d+) +Errors: +(\d+)', re.S)
BANNER_RE = re.compile(r'Memtest86\+ v\d+\.\d+')
FAIL_RE = re.compile(r'\bFail|\bFAIL')


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('emulator')
    ap.add_argument('kernel')
    ap.add_argument('--qemu', action='store_true')
    ap.add_argument('--insns', type=float, default=1.2e9)
    ap.add_argument('--min-test', type=int, default=5)
    ap.add_argument('--mem', type=int, default=8)
    ap.add_argument('--shift', type=int, default=6)
    ap.add_argument('--timeout', type=float, default=150)
    return ap.parse_args()


def screen_facts(out):
    """The tests announced, in order, and every status line's fields."""
    tests = []
    for m in TEST_RE.finditer(out):
        num = int(m.group(1))
        if not tests or tests[-1][0] != num:
            tests.append((num, m.group(2).strip()))
    status = []
    for m in STATUS_RE.finditer(out):
        h, mi, s, state, passes, errors = m.groups()
        secs = int(h) * 3600 + int(mi) * 60 + int(s)
        status.append((secs, state, int(passes), int(errors)))
    return tests, status


def check_screen(out, min_test):
    """Problems memtest's own screen reports; an empty list when all is well."""
    problems = []
    tests, status = screen_facts(out)
    if not BANNER_RE.search(out):
        problems.append('no memtest86+ banner on the serial console')
    if not status:
        problems.append('no status line (Time/Status/Pass/Errors)')
    nums = [n for n, _ in tests]
    if not nums or nums[0] != 0:
        problems.append('the first test shown is not #0: %s' % nums[:3])
    if nums != sorted(nums):
        problems.append('tests out of order: %s' % nums)
    if not nums or max(nums) < min_test:
        problems.append('did not reach test #%d (tests seen: %s)' % (min_test, nums))
    for secs, state, passes, errors in status:
        if errors:
            problems.append('memtest reports %d errors (status %s)' % (errors, state))
            break
    times = [s[0] for s in status]
    if times != sorted(times):
        problems.append('elapsed time went backwards: %s' % times)
    m = FAIL_RE.search(out)
    if m:
        problems.append('failure text on screen: %r' % out[m.start():m.start() + 60])
    return problems, tests, status


def run_flashback(args, kernel):
    cmd = [args.emulator, 'run', '-kernel', kernel, '-append', CMDLINE,
           '-m', str(args.mem), '-icount', 'shift=%d' % args.shift,
           '-serial', 'stdio', '-no-reboot', '--max-insns', str(int(args.insns)),
           '--stats']
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return cmd, '', 'host timeout after %gs' % args.timeout, None, args.timeout
    host = time.monotonic() - t0
    out = p.stdout.decode('latin-1')
    err = p.stderr.decode(errors='replace')
    problems = []
    if p.returncode != 0 or 'stopped at --max-insns' not in err:
        problems.append('flashback did not run to its budget: exit status %d' %
                        p.returncode)
    m = re.search(r'icount (\d+)', err)
    icount = int(m.group(1)) if m else None
    return cmd, out, err, (problems, icount), host


def run_qemu(args, kernel):
    """QEMU until test #min_test is on the screen, or until the timeout."""
    cmd = [args.emulator, '-kernel', kernel, '-append', CMDLINE, '-m', str(args.mem),
           '-icount', 'shift=%d' % args.shift, '-display', 'none', '-serial', 'stdio',
           '-monitor', 'none', '-no-reboot']
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    chunks = []
    reached = False
    while time.monotonic() - t0 < args.timeout:
        ready, _, _ = select.select([p.stdout], [], [], 1.0)
        if not ready:
            if p.poll() is not None:
                break
            continue
        data = os.read(p.stdout.fileno(), 65536)
        if not data:
            break
        chunks.append(data)
        tests, _ = screen_facts(b''.join(chunks).decode('latin-1'))
        if tests and max(n for n, _ in tests) >= args.min_test:
            reached = True
            break
    host = time.monotonic() - t0
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    out = b''.join(chunks).decode('latin-1')
    problems = [] if reached else ['qemu: test #%d not reached in %gs' %
                                   (args.min_test, args.timeout)]
    return cmd, out, err.decode(errors='replace'), (problems, None), host


def main():
    args = parse_args()
    runner = run_qemu if args.qemu else run_flashback
    cmd, out, err, result, host = runner(args, args.kernel)
    if result is None:
        print('FAIL: %s: %s' % (' '.join(cmd), err))
        return 1
    problems, icount = result
    screen_problems, tests, status = check_screen(out, args.min_test)
    problems += screen_problems
    print('command: %s' % ' '.join(cmd))
    print('tests seen: %s' % ', '.join('#%d %s' % t for t in tests))
    if status:
        secs, state, passes, errors = status[-1]
        print('last status: time %ds, %s, pass %d, errors %d' %
              (secs, state, passes, errors))
    print('icount %s, host time %.1f s' % (icount if icount is not None else 'n/a', host))
    if problems:
        print(err[-2000:])
        print(out[-1500:].replace('\x1b', '^['))
        for p in problems:
            print('FAIL: %s' % p)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
