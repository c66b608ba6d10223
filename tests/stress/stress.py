#!/usr/bin/env python3
"""Record/replay determinism under stress: many recordings of the stress
guest (stress.c), each with serial input typed at random host moments, and
every one must replay exactly.

usage: stress.py FLASHBACK STRESS_ELF [--runs N] [--seed S]

The seed (random unless --seed; printed first) fixes, for each run, the
-icount shift (0-3), the bytes typed (8-40 random bytes, then 'q', which
ends the guest), how they are grouped (bursts of up to 24, more than the
UART's 16-byte FIFO) and the host delays before each group (0-30 ms).
Host scheduling still moves the moment each group reaches the guest, which
is the point: every recording differs, and each must replay.

Per run:
  1. `flashback record -serial stdio` with the input fed through a pipe
     once the guest says it is ready; the guest must pass its own checks
     (status 1, "PASS stress") and report the bytes sent (count and the
     sum s = s * 31 + byte, computed here too); each round's PTE changed
     without INVLPG must show the new frame and the accessed bit set again
     (flashback's TLB follows the page tables, src/exec/mmu.c).
  2. `flashback replay --verify`: status 0, the console byte for byte the
     recorded one, the final icount that of the recording's --stats line
     and the final hash that of `flashback info`.
  3. `flashback replay --until N` at two random N, from the latest
     snapshot and from snapshot 0: the same CPU dump; `flashback disasm
     --at N` shows the instruction at that dump's CS:EIP, and every
     register it says the instruction changed had, before it, the value
     of the dump.  (tests/engine's engine_check does this at hundreds of
     positions, with the snapshot cache, but takes ~20 s per recording of
     this size.)

Across all runs, interrupts and page faults must have landed inside REP
string instructions, IRQ 0 must have gone through the task gate and have
nested in the UART or page fault handler, and the UART must have
interrupted: a stress test that stopped stressing fails.

Exit status 0 when everything held, 1 otherwise (each failure one line,
with the seed and run to reproduce it: --seed S --runs R+1 replays the
same choices for runs 0..R).
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TERMINATOR = b"q"
READY = b"stress: ready\r\n"
STATS = re.compile(rb"flashback: icount (\d+),")
VERIFIED = re.compile(rb"verified: (\d+) checks, final icount (\d+) hash ([0-9a-f]{16})\n$")
FINAL = re.compile(r"complete, final icount (\d+) hash ([0-9a-f]{16})")
RECEIVED = re.compile(rb"stress: received (\d+) bytes, sum ([0-9a-f]{8})")
IN_REP = re.compile(rb"stress: in rep (\S+): interrupts (\d+) page faults (\d+)")
ROUND_TLB = re.compile(rb"^r(\d+) .* tlb (..)\r$", re.M)
NESTED = re.compile(rb"stress: page faults \d+, #NP in IRQ 0 delivery \d+, nested (\d+)")
TICKS = re.compile(rb"stress: rounds (\d+) ticks (\d+) task-ticks (\d+) int82 (\d+) "
                   rb"uart-irqs (\d+)")
DUMP_REG = re.compile(r"\b([A-Z]{2,3})=([0-9a-f]{4,8})\b")
DISASM = re.compile(r"^\s*(\d+)\s+([0-9a-f]{4}):([0-9a-f]{8}) ")
DELIVERED = re.compile(r"^-- interrupt .* delivered before ([0-9a-f]{4}):([0-9a-f]{8})$")
CHANGED = re.compile(r"\b([a-z]{2,3})=[0-9a-f]+ \(was ([0-9a-f]+)\)")


class Failed(Exception):
    pass


def input_plan(rng):
    """(bytes, [(delay seconds, chunk)]) for one run."""
    body = bytes(rng.choice([b for b in range(256) if b != TERMINATOR[0]])
                 for _ in range(rng.randint(8, 40)))
    data = body + TERMINATOR
    plan, i = [], 0
    while i < len(data):
        n = rng.choice([1, 1, 2, 3, 5, rng.randint(1, 24)])
        plan.append((rng.uniform(0, 0.03), data[i:i + n]))
        i += n
    return data, plan


def host_sum(data):
    s = 0
    for b in data:
        s = (s * 31 + b) & 0xFFFFFFFF
    return s


def record(fb, elf, trace, shift, plan):
    """Runs the guest under record, typing plan; (status, stdout, stderr)."""
    # checks and snapshots close together: a divergence shows near its
    # cause, and a snapshot lands inside many a stale-TLB window
    argv = [fb, "record", "-o", trace, "--check-interval", "100000",
            "--snapshot-interval", "1000000", "-kernel", elf, "-serial",
            "stdio", "-no-reboot", "-m", "16", "-icount", f"shift={shift}", "--stats"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = bytearray(), bytearray()
    ready = threading.Event()

    def drain(stream, buf, watch):
        for chunk in iter(lambda: stream.read1(65536), b""):
            buf += chunk
            if watch and READY in buf:
                ready.set()
        ready.set()  # end of output: stop waiting

    readers = [threading.Thread(target=drain, args=(proc.stdout, out, True)),
               threading.Thread(target=drain, args=(proc.stderr, err, False))]
    for t in readers:
        t.start()
    try:
        ready.wait(60)
        for delay, chunk in plan:
            time.sleep(delay)
            proc.stdin.write(chunk)
            proc.stdin.flush()
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the guest ended early: its status says why
    try:
        status = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = None
    for t in readers:
        t.join()
    return status, bytes(out), bytes(err)


def run(argv, timeout=120):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def final_state(fb, trace):
    status, out, err = run([fb, "info", trace])
    m = FINAL.search(out.decode(errors="replace"))
    if status != 0 or not m:
        raise Failed(f"`flashback info`: status {status}: {err.decode(errors='replace')}")
    return int(m.group(1)), m.group(2)


def check_record(status, out, err, data):
    """The recording ended as the guest's checks say it must."""
    if status != 1 or b"PASS stress" not in out:
        tail = out[-1500:].decode(errors="replace") + err[-500:].decode(errors="replace")
        raise Failed(f"record: status {status}, no 'PASS stress':\n{tail}")
    m = RECEIVED.search(out)
    if not m:
        raise Failed("record: no 'received' line")
    if int(m.group(1)) != len(data) or int(m.group(2), 16) != host_sum(data):
        raise Failed(f"record: the guest received {m.group(1).decode()} bytes, sum "
                     f"{m.group(2).decode()}; sent {len(data)}, sum {host_sum(data):08x}")
    # flashback's TLB follows the page tables (src/exec/mmu.c): the new
    # translation at once, the accessed bit set again
    rounds = ROUND_TLB.findall(out)
    stale = [r.decode() for r, tlb in rounds if tlb != b"1a"]
    if not rounds or stale:
        raise Failed(f"record: a PTE changed without INVLPG: the old translation or a "
                     f"clear A bit in rounds {', '.join(stale) or '(no round line)'}")
    m = STATS.search(err)
    if not m:
        raise Failed(f"record: no --stats line: {err.decode(errors='replace')}")
    return int(m.group(1))


def check_replay(fb, trace, recorded, icount):
    final = final_state(fb, trace)
    if final[0] != icount:
        raise Failed(f"record --stats says icount {icount}, the trace {final[0]}")
    status, out, err = run([fb, "replay", trace, "--verify"])
    m = VERIFIED.search(out)
    if status != 0 or not m:
        raise Failed(f"replay --verify: status {status}: "
                     f"{err.decode(errors='replace').strip()}")
    console = out[:m.start()]
    if console != recorded:
        at = next((i for i, (a, b) in enumerate(zip(console, recorded)) if a != b),
                  min(len(console), len(recorded)))
        raise Failed(f"replay --verify: the console differs from byte {at}: "
                     f"{console[at:at + 60]!r} vs {recorded[at:at + 60]!r}")
    got = (int(m.group(2)), m.group(3).decode())
    if got != final:
        raise Failed(f"replay --verify ended at icount {got[0]} hash {got[1]}, the "
                     f"recording at {final[0]} hash {final[1]}")
    return int(m.group(1)), final


def dump_of(out):
    at = out.rfind(b"EAX=")
    if at < 0:
        return None
    return out[at:].decode(errors="replace")


def check_until(fb, trace, n):
    """replay --until n from the nearest snapshot and from snapshot 0, and
    disasm --at n, agree."""
    dumps = []
    for extra in ([], ["--snapshot", "0"]):
        status, out, err = run([fb, "replay", trace, "--until", str(n)] + extra)
        if status != 0 or dump_of(out) is None:
            raise Failed(f"replay --until {n} {' '.join(extra)}: status {status}: "
                         f"{err.decode(errors='replace').strip()}")
        dumps.append(dump_of(out))
    if dumps[0] != dumps[1]:
        raise Failed(f"replay --until {n}: the CPU from the nearest snapshot differs "
                     f"from the one from snapshot 0:\n{dumps[0]}\n{dumps[1]}")
    regs = {name.lower(): int(v, 16) for name, v in DUMP_REG.findall(dumps[0])}
    status, out, err = run([fb, "disasm", trace, "--at", str(n), "-n", "1"])
    line = out.decode(errors="replace").strip().splitlines()
    if line and DELIVERED.match(line[0]):
        # An interrupt is delivered at n: the listing names the instruction
        # it comes before, which is where --until n stops (the handler's
        # first instruction, listed next, also has icount n).
        d = DELIVERED.match(line[0])
        cs = int(re.search(r"CS =([0-9a-f]{4})", dumps[0]).group(1), 16)
        if int(d.group(1), 16) != cs or int(d.group(2), 16) != regs["eip"]:
            raise Failed(f"disasm --at {n} shows {line[0]!r}, the dump has EIP "
                         f"{regs['eip']:08x}")
        return
    m = DISASM.match(line[0]) if line else None
    if status != 0 or not m:
        raise Failed(f"disasm --at {n}: status {status}: {out[:200]!r} "
                     f"{err.decode(errors='replace').strip()}")
    if int(m.group(1)) != n or int(m.group(3), 16) != regs["eip"] or \
            int(m.group(2), 16) != int(re.search(r"CS =([0-9a-f]{4})", dumps[0]).group(1), 16):
        raise Failed(f"disasm --at {n} shows {line[0]!r}, the dump has EIP "
                     f"{regs['eip']:08x}")
    for reg, was in CHANGED.findall(line[0]):
        if reg in regs and int(was, 16) != regs[reg]:
            raise Failed(f"disasm --at {n}: {reg} was {was}, the dump has "
                         f"{regs[reg]:08x}")


def totals_of(out, totals):
    for kind, irqs, pfs in IN_REP.findall(out):
        totals["irq in rep " + kind.decode()] += int(irqs)
        totals["pf in rep " + kind.decode()] += int(pfs)
    m = NESTED.search(out)
    if m:
        totals["nested irqs"] += int(m.group(1))
    m = TICKS.search(out)
    if m:
        totals["task ticks"] += int(m.group(3))
        totals["uart irqs"] += int(m.group(5))


def one_run(args, seed, i, tmp, totals):
    rng = random.Random(f"{seed}:{i}")
    shift = rng.randint(0, 3)
    data, plan = input_plan(rng)
    trace = os.path.join(tmp, f"run{i}.fbt")
    t0 = time.monotonic()
    status, out, err = record(args.flashback, args.elf, trace, shift, plan)
    icount = check_record(status, out, err, data)
    t1 = time.monotonic()
    checks, final = check_replay(args.flashback, trace, out, icount)
    t2 = time.monotonic()
    until = sorted(rng.randint(1, final[0] - 1) for _ in range(2))
    for n in until:
        check_until(args.flashback, trace, n)
    totals_of(out, totals)
    print(f"run {i}: shift {shift}, {len(data)} bytes in {len(plan)} writes, icount "
          f"{icount}, {checks} checks; record {t1 - t0:.2f} s, replay {t2 - t1:.2f} s, "
          f"until {until[0]} and {until[1]} ok", flush=True)
    shutil.rmtree(trace)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("flashback")
    ap.add_argument("elf")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"seed {seed} ({args.runs} runs; to repeat: --seed {seed})", flush=True)

    totals = {k: 0 for k in ("task ticks", "uart irqs", "nested irqs")}
    for kind in ("movsd", "movsb-down", "movsb", "stosd", "insb", "insw", "outsb"):
        totals["irq in rep " + kind] = totals["pf in rep " + kind] = 0
    failed, short = 0, 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fb-stress-") as tmp:
        for i in range(args.runs):
            try:
                one_run(args, seed, i, tmp, totals)
            except (Failed, subprocess.TimeoutExpired) as e:
                print(f"FAIL: seed {seed} run {i}: {e}", flush=True)
                failed += 1
    print("totals: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    # what the runs together must have exercised
    need = ["task ticks", "uart irqs", "nested irqs", "irq in rep movsd", "irq in rep movsb-down",
            "irq in rep movsb", "irq in rep stosd", "irq in rep insb", "irq in rep insw",
            "irq in rep outsb", "pf in rep movsd", "pf in rep movsb", "pf in rep stosd", "pf in rep insb",
            "pf in rep insw", "pf in rep outsb"]
    for k in need:
        if not failed and totals[k] == 0:
            print(f"FAIL: seed {seed}: no {k} in {args.runs} runs: the guest no longer "
                  f"stresses that")
            short += 1
    print(f"stress: {args.runs - failed} of {args.runs} runs replayed exactly, "
          f"{time.monotonic() - t0:.1f} s")
    return 1 if failed or short else 0


if __name__ == "__main__":
    sys.exit(main())
