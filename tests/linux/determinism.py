#!/usr/bin/env python3
"""Checks that a Linux boot under `flashback run -icount shift=N` is the
same every time (issue 7, point 2).

For each --shift N, boots the guest twice with no input (stdin at end of
file) up to --max-insns instructions, past the shell's prompt and into the
idle loop where the virtual clock skips to the next timer tick, and
compares: the whole console output byte for byte, the final icount and the
virtual time of the --stats line, the exit status.  Each boot must reach
the prompt.  Typed input cannot be part of this: in a live run it arrives
at host-dependent moments (record and replay cover that case).

Exit status 0 when all runs agree, 1 if not, 77 when the kernel is missing.

Usage: determinism.py --flashback BIN --kernel bzImage --initrd init.cpio
                      [--shift N]... [--max-insns N]
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot  # noqa: E402


def boot_once(args):
    """(status, stdout, stderr, host seconds) of one boot without input."""
    argv = boot.emulator_argv(args)
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=args.timeout)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def check_shift(args, shift):
    """Two boots with -icount shift=shift; the list of differences."""
    args.icount_shift = shift
    runs = [boot_once(args) for _ in range(2)]
    failures = []
    for i, (status, out, err, secs) in enumerate(runs):
        stats = [line for line in boot.flashback_lines(err)
                 if line.startswith("flashback: icount")]
        print(f"shift={shift} run {i + 1}: status {status}, {secs:.1f} s "
              f"host, {stats[0] if stats else 'no --stats line'}")
        if not stats:
            failures.append(f"shift={shift} run {i + 1}: no --stats line")
        if boot.BANNER not in out or not boot.PROMPT.search(out):
            failures.append(f"shift={shift} run {i + 1}: no prompt before "
                            f"--max-insns {args.max_insns}")
    (s1, out1, err1, _), (s2, out2, err2, _) = runs
    if out1 != out2:
        at = next((i for i, (a, b) in enumerate(zip(out1, out2)) if a != b),
                  min(len(out1), len(out2)))
        failures.append(f"shift={shift}: the console output differs from "
                        f"byte {at}: {out1[at:at + 80]!r} vs "
                        f"{out2[at:at + 80]!r}")
    if (s1, boot.flashback_lines(err1)) != (s2, boot.flashback_lines(err2)):
        failures.append(f"shift={shift}: the end differs: {s1} "
                        f"{boot.flashback_lines(err1)} vs {s2} "
                        f"{boot.flashback_lines(err2)}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flashback", required=True)
    ap.add_argument("--shift", type=int, action="append",
                    help="icount shifts to try (default 0 and 2)")
    boot.add_guest_arguments(ap)
    ap.set_defaults(max_insns=200_000_000)
    args = ap.parse_args()
    ready = boot.prepare(args, args.flashback)
    if ready is not None:
        return ready

    failures = []
    for shift in args.shift or [0, 2]:
        failures += check_shift(args, shift)
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("PASS linux determinism")
    return 0


if __name__ == "__main__":
    sys.exit(main())
