#!/usr/bin/env python3
"""Records the Linux guest's session and replays it elsewhere (issue 7,
point 3).

1. Copies bzImage and init.cpio into a temporary folder A and runs boot.py's
   session (boot, the commands typed at each prompt, `exit 0`) under
   `flashback record -o A/linux.fbt`: the typed input reaches the guest
   through the UART and is journalled as port reads.
2. Copies the trace into a second folder B and deletes A (the kernel, the
   initramfs and the original trace), so the replay can only use the trace.
3. Replays B/linux.fbt with --verify, from inside B, and checks: status 0;
   the replayed console equals the recorded one byte for byte; the final
   icount equals the record's --stats icount and `flashback info`'s; the
   final hash equals the one `info` read from the recording; the trace's
   console index (`flashback console`) holds the same lines.
4. Replays to the icount where `work 1` was typed (after snapshot 1, at
   2^26 instructions) twice: `--until N`, which starts from snapshot 1, and
   `--until N --snapshot 0`, from the start: the CPU dumps are equal.

Exit status 0 when all hold, 1 if not, 77 when the kernel is missing.

Usage: record_replay.py --flashback BIN --kernel bzImage --initrd init.cpio
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot  # noqa: E402

STATS = re.compile(rb"flashback: [^\n]*\n")
VERIFIED = re.compile(rb"verified: (\d+) checks, final icount (\d+) hash "
                      rb"([0-9a-f]+)\n")
INFO_STATE = re.compile(r"state\s+complete, final icount (\d+) hash "
                        r"([0-9a-f]+)")


def console_of_record(out):
    """The record run's output without flashback's own lines."""
    return STATS.sub(b"", out)


def trace_info(flashback, trace):
    """(final icount, hash) from `flashback info`, or None."""
    r = subprocess.run([flashback, "info", trace], capture_output=True,
                       text=True)
    m = INFO_STATE.search(r.stdout)
    if r.returncode != 0 or not m:
        print(r.stdout + r.stderr)
        return None
    return int(m.group(1)), m.group(2)


def indexed_console(flashback, trace):
    """The console lines the trace's index holds, without their icount."""
    r = subprocess.run([flashback, "console", trace], capture_output=True)
    lines = r.stdout.decode(errors="replace").splitlines()
    return r.returncode, [re.sub(r"^\[\d+\] ", "", line) for line in lines]


def record(args, folder):
    """Runs the session under record; (failures, output, trace)."""
    for name in ("kernel", "initrd"):
        copy = os.path.join(folder, os.path.basename(getattr(args, name)))
        shutil.copyfile(getattr(args, name), copy)
        setattr(args, name, copy)
    args.record = os.path.join(folder, "linux.fbt")
    t0 = time.monotonic()
    failures, status, out, to_prompt = boot.run_session(args)
    print(f"record: prompt after {to_prompt or 0:.1f} s, session "
          f"{time.monotonic() - t0:.1f} s host, status {status}")
    return failures, out, args.record


def replay(args, trace):
    """Replays trace from its own folder; (status, stdout, stderr)."""
    t0 = time.monotonic()
    r = subprocess.run([os.path.abspath(args.flashback), "replay",
                        os.path.basename(trace), "--verify"],
                       cwd=os.path.dirname(trace), capture_output=True,
                       timeout=args.timeout)
    print(f"replay: {time.monotonic() - t0:.1f} s host, "
          f"status {r.returncode}")
    return r.returncode, r.stdout, r.stderr


def compare(args, recorded, info, trace):
    """Replays trace and lists every difference from the recording."""
    failures = []
    status, out, err = replay(args, trace)
    if status != 0:
        failures.append(f"replay status {status}: {err.decode()[-500:]}")
    m = VERIFIED.search(out)
    if not m:
        return failures + ["replay printed no 'verified:' line"]
    checks, icount, hash_ = int(m.group(1)), int(m.group(2)), m.group(3)
    print(m.group(0).decode().strip())
    replayed = VERIFIED.sub(b"", out)
    if replayed != recorded:
        failures.append(f"replayed console ({len(replayed)} bytes) differs "
                        f"from the recorded one ({len(recorded)} bytes)")
    if checks < 2:
        failures.append(f"only {checks} checks verified")
    if icount != info[0] or hash_.decode() != info[1]:
        failures.append(f"replay ended at icount {icount} hash "
                        f"{hash_.decode()}, the recording at {info[0]} "
                        f"hash {info[1]}")
    status, lines = indexed_console(args.flashback, trace)
    want = recorded.decode(errors="replace").replace("\r", "").splitlines()
    if status != 0 or lines != want:
        failures.append("`flashback console` lines differ from the "
                        "recorded console")
    return failures


def cpu_dump(out):
    """The register dump `replay --until` prints after the console."""
    at = out.rfind(b"EAX=")
    return out[at:] if at >= 0 else None


def compare_until(args, trace):
    """Replays to the `work 1` line from snapshot 1 and from snapshot 0;
    the list of differences."""
    r = subprocess.run([args.flashback, "console", trace, "--grep",
                        "# work 1"], capture_output=True, text=True)
    m = re.search(r"^\[(\d+)\] # work 1", r.stdout, re.M)
    if not m:
        return ["no '# work 1' line in `flashback console`"]
    until = m.group(1)
    dumps = []
    for extra in ([], ["--snapshot", "0"]):
        r = subprocess.run([args.flashback, "replay", trace, "--until",
                            until] + extra, capture_output=True,
                           timeout=args.timeout)
        if r.returncode != 0 or cpu_dump(r.stdout) is None:
            return [f"replay --until {until} {' '.join(extra)}: status "
                    f"{r.returncode}, {r.stderr.decode()[-300:]}"]
        dumps.append(cpu_dump(r.stdout))
    print(f"replay --until {until}: same CPU state from snapshot 1 and 0")
    if dumps[0] != dumps[1]:
        return [f"replay --until {until}: the CPU state from the latest "
                f"snapshot differs from the one from snapshot 0:\n"
                f"{dumps[0].decode()}\n{dumps[1].decode()}"]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flashback", required=True)
    boot.add_guest_arguments(ap)
    args = ap.parse_args()
    ready = boot.prepare(args, args.flashback)
    if ready is not None:
        return ready

    with tempfile.TemporaryDirectory(prefix="fb-linux-rr-") as tmp:
        folder_a = os.path.join(tmp, "a")
        folder_b = os.path.join(tmp, "b")
        os.mkdir(folder_a)
        os.mkdir(folder_b)
        failures, out, trace = record(args, folder_a)
        if failures:
            return boot.report(failures, out)
        recorded = console_of_record(out)
        icount = boot.final_icount(out)
        info = trace_info(args.flashback, trace)
        if info is None:
            return boot.report(["`flashback info` on the recording failed"],
                               out)
        if icount != info[0]:
            return boot.report([f"record --stats says icount {icount}, "
                                f"the trace {info[0]}"], out)
        size = sum(os.path.getsize(os.path.join(trace, f))
                   for f in os.listdir(trace))
        print(f"trace: {size} bytes, final icount {info[0]} hash {info[1]}")
        print("  " + ", ".join(f"{f} {os.path.getsize(os.path.join(trace, f))}"
                               for f in sorted(os.listdir(trace))))

        moved = os.path.join(folder_b, "linux.fbt")
        shutil.copytree(trace, moved)
        shutil.rmtree(folder_a)
        failures = compare(args, recorded, info, moved)
        failures += compare_until(args, moved)
    if boot.report(failures, out):
        return 1
    print("PASS linux record and replay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
