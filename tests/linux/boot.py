#!/usr/bin/env python3
"""Boots Flashback's Linux test guest (bzImage + init.cpio from
build-kernel.sh and mkinitramfs.py) under flashback or qemu-system-i386,
types commands at the tiny shell's prompt one at a time (each after the
previous prompt appeared, as a person would), checks their output, and ends
the guest through the debug-exit port (`exit 0`) or a restart (`reboot`).

Checks: the kernel reaches the prompt, and on its way says it found the
firmware's ACPI tables, the PM timer, the HPET (and uses both as clock
sources), the IOAPIC and the local APIC's NMI line (with acpi=off in the
command line instead: the MP table); uname, echo, ls, cat /proc/version
and an unknown command answer as they should; `work` prints the checksum
that this script computes itself (an independent model of init.c's
workload); the emulator's exit status is the expected one.

With --nmi the emulator also listens for gdb: at the prompt the script
connects, sends "monitor nmi" (an NMI on LINT1, QEMU's command too) and
lets the guest go on; the kernel must report the NMI ("NMI received for
unknown reason": nothing in this PC claims one) and count it in
/proc/interrupts.

Prints the host time to the prompt and, with --stats (flashback), the
emulator's icount line.  Exit status 0 when every check passed, 1 if not,
77 (meson's "skipped") when the kernel or the emulator is missing.

With --build-kernel SCRIPT, first runs `SCRIPT DIR` (build-kernel.sh,
cached: quick when the kernel is built) where DIR is --kernel's folder: the
kernel is built when the linux tests run, not by a plain `ninja`.

Bad input: with --corrupt-initrd the archive's first bytes are spoiled
(a copy, in a temporary folder); --pad-initrd MB appends an MB MiB file to
a copy (too large for a small -m); with --panic-expect TEXT (repeatable) no
shell is expected: the guest must print every TEXT and end with the reset
that `panic=1` on the command line causes (status 0).

With --record TRACE the flashback session runs under `flashback record -o
TRACE` instead of `run` (record_replay.py replays it); --icount-shift N
and --mem MB pass -icount shift=N and -m MB; --expect-status S and
--expect-output TEXT (repeatable) set what a failing boot must end with
(status, and emulator lines such as "triple fault").

Other scripts (record_replay.py, determinism.py) import this file for the
guest options, the kernel build step and the session.

Usage:
  boot.py --flashback BIN --kernel bzImage --initrd init.cpio [--end reboot]
  boot.py --qemu BIN --kernel bzImage --initrd init.cpio
"""
import argparse
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

PROMPT = re.compile(rb"(?:^|\n)# ")
BANNER = b"Flashback tiny shell"

# What the kernel says on its way when it finds the firmware's ACPI tables
# and the devices they describe (flashback and QEMU alike).
ACPI_TEXTS = [
    b"ACPI: RSDP 0x",
    b"ACPI: PM-Timer IO Port: 0x608",
    b"ACPI: LAPIC_NMI (acpi_id[0xff] dfl dfl lint[0x1])",
    b"ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)",
    b"ACPI: HPET id: 0x8086a201 base: 0xfed00000",
    b"clocksource: hpet: mask: 0xffffffff",
    b"Enabling APIC mode:  Flat.  Using 1 I/O APICs",
    b"..TIMER: vector=0x30 apic1=0 pin1=2",
    b"ACPI: Interpreter enabled",
    b"clocksource: acpi_pm: mask: 0xffffff",
]
# ... and with acpi=off, from the MP table.
MPTABLE_TEXTS = [
    b"found SMP MP-table at [mem 0x000f",
    b"Intel MultiProcessor Specification v1.4",
    b"Processor #0 (Bootup-CPU)",
    b"IOAPIC[0]: apic_id ",
    b"..TIMER: vector=0x30 apic1=0 pin1=2",
]


def workload(rounds):
    """init.c's workload, computed here so the guest's answer is checked
    against an independent model, not a recorded value."""
    size = 65536
    crc, primes = 0xFFFFFFFF, 0
    for _ in range(rounds):
        composite = bytearray(size)
        for i in range(2, size):
            if composite[i]:
                continue
            primes += 1
            composite[i * 2::i] = b"\1" * len(range(i * 2, size, i))
        for i in range(size):
            crc ^= composite[i] ^ (i & 0xFF)
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    x = crc ^ primes
    for i in range(1, 100000 * rounds + 1):
        x = (x * 2654435761 + i) & 0xFFFFFFFF
        x ^= x // (i | 1)
        x = ((x << 7) | (x >> 25)) & 0xFFFFFFFF
    return x


class Guest:
    """The emulator as a child process whose console we read and type to."""

    def __init__(self, argv, log):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.out = b""
        self.log = log
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        os.set_blocking(self.proc.stdout.fileno(), False)

    def pump(self, deadline):
        """Reads what is there; False at end of output or past deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if not self.sel.select(timeout=min(left, 1.0)):
            return True
        data = self.proc.stdout.read()
        if not data:
            return False
        self.out += data
        self.log.write(data)
        self.log.flush()
        return True

    def wait_for(self, pattern, start, deadline):
        """Waits until pattern appears in the output after offset start;
        returns the offset just after it, or None."""
        while True:
            m = pattern.search(self.out, start)
            if m:
                return m.end()
            if not self.pump(deadline):
                return None

    def type(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def finish(self, deadline):
        while self.pump(deadline):
            pass
        try:
            return self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def session(expected_work):
    """(command, [texts its output must hold]) in the order typed."""
    return [
        ("uname", [b"Linux 6.1."]),
        ("echo hello from flashback", [b"hello from flashback"]),
        ("ls /", [b"init\r\n", b"proc/", b"dev/"]),
        ("ls /dev", [b"console", b"ttyS0"]),
        ("cat /proc/version", [b"Linux version 6.1."]),
        ("work 1", [b"work: rounds 1 checksum 0x%08x" % expected_work]),
        ("frobnicate", [b"sh: frobnicate: not found"]),
    ]


def make_iso(args, folder):
    """An El Torito CD (no emulation) with ISOLINUX from Debian's packages
    booting the kernel and initramfs with args.append: what -cdrom boots."""
    root = os.path.join(folder, "iso")
    os.makedirs(os.path.join(root, "isolinux"))
    shutil.copy(os.path.join(args.isolinux, "isolinux.bin"), os.path.join(root, "isolinux"))
    shutil.copy(os.path.join(args.syslinux_modules, "ldlinux.c32"), os.path.join(root, "isolinux"))
    shutil.copy(args.kernel, os.path.join(root, "bzimage"))
    shutil.copy(args.initrd, os.path.join(root, "initrd.img"))  # 8.3 names
    with open(os.path.join(root, "isolinux", "isolinux.cfg"), "w") as f:
        f.write("SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\n"
                "LABEL linux\n  KERNEL /bzimage\n  INITRD /initrd.img\n"
                f"  APPEND {args.append}\n")
    iso = os.path.join(folder, "linux.iso")
    r = subprocess.run([args.xorriso, "-as", "mkisofs", "-quiet", "-o", iso,
                        "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
                        "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", root],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise SystemExit("FAIL: xorriso: " + r.stdout.decode(errors="replace")[-2000:])
    return iso


def emulator_argv(args):
    if getattr(args, "hda", None):
        # a PC booting from its disk (syslinux_boot.py): no kernel loader
        common = ["-bios", args.bios, "-hda", args.hda, "-no-reboot"]
        if getattr(args, "hdb", None):
            common += ["-hdb", args.hdb]  # the root file system's disk
    elif getattr(args, "iso", None):
        # SeaBIOS boots the CD (El Torito) on the secondary master.
        common = ["-cdrom", args.iso, "-boot", "d", "-no-reboot"]
        if not getattr(args, "qemu", None):
            common += ["-bios", args.bios]
    else:
        common = ["-kernel", args.kernel, "-initrd", args.initrd,
                  "-append", args.append, "-no-reboot"]
    if args.mem:
        common += ["-m", str(args.mem)]
    if getattr(args, "gdb_port", None):
        common += ["-gdb", f"tcp:127.0.0.1:{args.gdb_port}"]
    if getattr(args, "qemu", None):
        return [args.qemu] + common + [
            "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-icount", f"shift={args.icount_shift}"]
    if getattr(args, "record", None):
        argv = [args.flashback, "record", "-o", args.record] + common
    else:
        argv = [args.flashback, "run"] + common
    argv += ["-serial", "stdio", "--max-insns", str(args.max_insns), "--stats"]
    if args.icount_shift:
        argv += ["-icount", f"shift={args.icount_shift}"]
    return argv


def free_port():
    """A TCP port nobody listens on (the kernel picks it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def open_log(args):
    return open(args.log, "wb") if args.log else open(os.devnull, "wb")


def flashback_lines(out):
    """The emulator's own lines (stderr is merged into the output)."""
    return [line for line in out.decode(errors="replace").splitlines()
            if line.startswith("flashback:")]


def final_icount(out):
    """The icount of flashback's --stats line, or None."""
    for line in flashback_lines(out):
        m = re.match(r"flashback: icount (\d+),", line)
        if m:
            return int(m.group(1))
    return None


def padded_initrd(initrd, mib, folder):
    """A copy of initrd followed by a second newc archive holding /big, a
    file of mib MiB (the kernel unpacks concatenated archives in turn):
    an initramfs too large for a small RAM."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mkinitramfs

    big = mkinitramfs.entry(100, "big", mkinitramfs.S_IFREG | 0o644,
                            b"\xa5" * (mib << 20))
    big += mkinitramfs.entry(0, "TRAILER!!!", 0)
    big += b"\0" * mkinitramfs.pad4(len(big))
    path = os.path.join(folder, "padded.cpio")
    with open(initrd, "rb") as f, open(path, "wb") as out:
        out.write(f.read() + big)
    return path


def expect_panic(args):
    """A boot that must fail as on hardware: the guest's texts (and the
    emulator's, --expect-output), then the expected exit (default: the
    reset that panic=N causes, status 0 with -no-reboot)."""
    start = time.monotonic()
    guest = Guest(emulator_argv(args), open_log(args))
    guest.proc.stdin.close()
    status = guest.finish(start + args.timeout)
    failures = [f"{t!r} not in the output" for t in
                args.panic_expect + args.expect_output
                if t.encode() not in guest.out]
    if BANNER in guest.out:
        failures.append("the shell started")
    if status != args.expect_status:
        failures.append(f"emulator exit status {status}, "
                        f"expected {args.expect_status}")
    for line in flashback_lines(guest.out):
        print(line)
    print(f"session: {time.monotonic() - start:.1f} s host time")
    if failures:
        print(guest.out[-3000:].decode(errors="replace"))
        for f in failures:
            print("FAIL:", f)
        return 1
    print("PASS linux bad input")
    return 0


def add_guest_arguments(ap):
    """The options every linux test script shares."""
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--append", default="console=ttyS0")
    ap.add_argument("--mem", type=int, help="RAM in MiB (-m)")
    ap.add_argument("--icount-shift", type=int, default=0,
                    help="-icount shift=N (QEMU: default 0 as well)")
    ap.add_argument("--max-insns", type=int, default=40_000_000_000)
    ap.add_argument("--timeout", type=float, default=600,
                    help="host seconds for the whole session")
    ap.add_argument("--log", help="also write the console output here")
    ap.add_argument("--build-kernel", metavar="SCRIPT",
                    help="build the kernel with SCRIPT first (cached)")
    ap.add_argument("--build-kernel-tarball",
                    default="/usr/src/linux-source-6.1.tar.xz")


def prepare(args, emulator):
    """Builds the kernel if asked (cached), then checks that the kernel,
    the initrd and the emulator exist.  None when ready, else the exit
    status (77: skipped, 1: the build failed)."""
    if args.build_kernel:
        if not os.path.exists(args.build_kernel_tarball):
            print(f"SKIP: {args.build_kernel_tarball} does not exist")
            return 77
        t0 = time.monotonic()
        r = subprocess.run([args.build_kernel, os.path.dirname(
            os.path.abspath(args.kernel)), args.build_kernel_tarball],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode(errors="replace")
        if r.returncode != 0:
            print(out[-5000:])
            print("FAIL: the kernel build failed")
            return 1
        print(out.strip().splitlines()[-1])
        print(f"kernel build step: {time.monotonic() - t0:.1f} s")

    for path in (args.kernel, args.initrd, emulator):
        if not os.path.exists(path):
            print(f"SKIP: {path} does not exist")
            return 77
    return None


def boot_texts(args):
    """What the kernel must say before the prompt (booted by a BIOS, the
    tables are SeaBIOS's own: nothing is checked)."""
    if getattr(args, "hda", None) or getattr(args, "iso", None):
        return []
    return MPTABLE_TEXTS if "acpi=off" in args.append.split() else ACPI_TEXTS


def gdb_packet(sock, payload, skip=b"O"):
    """Sends one remote-protocol packet and returns the next reply that is
    not console output nor starts with a byte of @skip ("OK" always
    counts; acknowledgements skipped)."""
    data = payload.encode()
    sock.sendall(b"$%s#%02x" % (data, sum(data) & 0xFF))
    buf = b""
    while True:
        while b"#" not in buf or len(buf) < buf.index(b"#") + 3:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            buf += chunk
        start = buf.index(b"$")
        end = buf.index(b"#", start)
        reply, buf = buf[start + 1:end], buf[end + 3:]
        sock.sendall(b"+")
        if reply == b"OK" or not reply or reply[0] not in skip:
            return reply.decode(errors="replace")


def send_nmi(port):
    """Connects to the emulator's gdb port (which stops the guest), sends
    "monitor nmi", continues and hangs up.  A list of failures."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            stop = gdb_packet(sock, "?")
            # QEMU may send a late stop reply of its own before the answer.
            reply = gdb_packet(sock, "qRcmd," + b"nmi".hex(), skip=b"OST")
            sock.sendall(b"$c#63")
            time.sleep(0.2)
    except OSError as e:
        return [f"gdb connection for the NMI: {e}"]
    if not stop or stop[0] not in "ST" or reply != "OK":
        return [f"gdb: stop reply {stop!r}, monitor nmi {reply!r}"]
    return []


def nmi_session():
    """(command, [texts]) after the NMI: the kernel counted it."""
    return [("cat /proc/interrupts", [re.compile(rb"NMI:\s+1 ")])]


def run_session(args, end="exit", extra=(), boot_input=()):
    """Boots, types session() and then extra (more (command, texts)) at
    the prompts, then `exit 0` or `reboot`.  boot_input: (text to wait
    for, bytes to type) pairs for before the kernel (a boot loader's
    prompt).  Returns (failures, emulator status, output, host seconds to
    the prompt or None)."""
    expected_work = workload(1)
    start = time.monotonic()
    deadline = start + args.timeout
    if getattr(args, "nmi", False):
        args.gdb_port = free_port()
    guest = Guest(emulator_argv(args), open_log(args))
    failures = []
    to_prompt = None

    pos = 0
    for wait, keys in boot_input:
        pos = guest.wait_for(re.compile(re.escape(wait)), pos, deadline)
        if pos is None:
            failures.append(f"no {wait!r} before the kernel")
            pos = 0
            break
        guest.proc.stdin.write(keys)
        guest.proc.stdin.flush()
    pos = guest.wait_for(re.compile(re.escape(BANNER)), pos, deadline)
    booted = guest.out[:pos] if pos else guest.out
    pos = pos and guest.wait_for(PROMPT, pos, deadline)
    if pos is None:
        failures.append("no prompt")
    else:
        to_prompt = time.monotonic() - start
        failures += [f"the kernel did not say {t!r} before the prompt"
                     for t in boot_texts(args) if t not in booted]
        commands = session(expected_work) + list(extra)
        if getattr(args, "nmi", False):
            failures += send_nmi(args.gdb_port)
            commands = nmi_session() + commands
        for command, texts in commands:
            guest.type(command)
            end_pos = guest.wait_for(PROMPT, pos, deadline)
            if end_pos is None:
                failures.append(f"{command!r}: no prompt after it")
                break
            reply = guest.out[pos:end_pos]
            for text in texts:
                if not (text.search(reply) if hasattr(text, "search")
                        else text in reply):
                    failures.append(f"{command!r}: {text!r} not in {reply!r}")
            pos = end_pos
        if getattr(args, "nmi", False) and \
                b"NMI received for unknown reason" not in guest.out:
            failures.append("the kernel did not report the NMI")

    if pos is not None and not failures:
        guest.type("exit 0" if end == "exit" else "reboot")
    else:
        guest.proc.stdin.close()
        deadline = min(deadline, time.monotonic() + 5)
    status = guest.finish(deadline)
    want = 1 if end == "exit" else 0
    if not failures and status != want:
        failures.append(f"emulator exit status {status}, expected {want}")
    return failures, status, guest.out, to_prompt


def verify_trace(args):
    """replay --verify of the recording, and its last screen."""
    failures = []
    r = subprocess.run([args.flashback, "replay", args.record, "--verify"],
                       capture_output=True)
    if r.returncode != 0 or b"verified:" not in r.stdout:
        failures.append("replay --verify: status %d: %s" % (
            r.returncode, r.stderr.decode(errors="replace")[-1000:]))
        return failures
    print(r.stdout.decode(errors="replace").strip().splitlines()[-1])
    q = subprocess.run([args.flashback, "query", args.record, "--csv",
                        "SELECT value FROM meta WHERE key = 'final_icount'"], capture_output=True)
    end = q.stdout.decode().splitlines()[-1]
    s = subprocess.run([args.flashback, "screen", args.record, "--at", end], capture_output=True)
    screen = s.stdout.decode(errors="replace")
    print("--- the screen at the end of the recording ---")
    print(screen.rstrip())
    for text in args.screen_expect:
        if text not in screen:
            failures.append(f"screen at icount {end}: {text!r} missing")
    return failures


def report(failures, out):
    """Prints the failures with the console's tail; the exit status."""
    if not failures:
        return 0
    print("--- console tail ---")
    print(out[-3000:].decode(errors="replace"))
    for f in failures:
        print("FAIL:", f)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    who = ap.add_mutually_exclusive_group(required=True)
    who.add_argument("--flashback", help="the flashback binary")
    who.add_argument("--qemu", help="the qemu-system-i386 binary")
    add_guest_arguments(ap)
    ap.add_argument("--end", choices=["exit", "reboot"], default="exit",
                    help="leave with `exit 0` (status 1) or `reboot`")
    ap.add_argument("--record", metavar="TRACE",
                    help="flashback record -o TRACE instead of run (-: a temporary one)")
    ap.add_argument("--corrupt-initrd", action="store_true",
                    help="boot a copy of the initrd with a spoiled header")
    ap.add_argument("--pad-initrd", type=int, metavar="MB",
                    help="boot a copy of the initrd with an extra MB MiB file")
    ap.add_argument("--panic-expect", action="append", default=[],
                    metavar="TEXT", help="expect a panic printing TEXT")
    ap.add_argument("--expect-output", action="append", default=[],
                    metavar="TEXT", help="with --panic-expect or "
                    "--expect-status: a text the output must hold")
    ap.add_argument("--expect-status", type=int,
                    help="no shell: the boot must fail with this status")
    ap.add_argument("--cdrom-bios", metavar="BIOS", dest="bios",
                    help="boot an ISOLINUX CD (-cdrom) through this BIOS instead of -kernel")
    ap.add_argument("--isolinux", default="/usr/lib/ISOLINUX")
    ap.add_argument("--syslinux-modules", default="/usr/lib/syslinux/modules/bios")
    ap.add_argument("--xorriso", default="xorriso")
    ap.add_argument("--verify", action="store_true",
                    help="with --record: replay --verify the trace, and its last "
                    "screen must show SCREEN_TEXT")
    ap.add_argument("--screen-expect", action="append", default=[], metavar="TEXT")
    ap.add_argument("--nmi", action="store_true",
                    help="at the prompt, an NMI through gdb's monitor nmi")
    args = ap.parse_args()

    ready = prepare(args, args.flashback or args.qemu)
    if ready is not None:
        return ready

    if args.corrupt_initrd:
        tmp = tempfile.TemporaryDirectory()
        with open(args.initrd, "rb") as f:
            data = bytearray(f.read())
        data[0:6] = b"XXXXXX"
        args.initrd = os.path.join(tmp.name, "corrupt.cpio")
        with open(args.initrd, "wb") as f:
            f.write(data)
    if args.pad_initrd:
        tmp = tempfile.TemporaryDirectory()
        args.initrd = padded_initrd(args.initrd, args.pad_initrd, tmp.name)
    if args.panic_expect or args.expect_status is not None:
        if args.expect_status is None:
            args.expect_status = 0
        return expect_panic(args)

    if args.bios:
        isotmp = tempfile.TemporaryDirectory()
        args.iso = make_iso(args, isotmp.name)
    if args.record == "-":  # a new trace in a temporary folder
        rectmp = tempfile.TemporaryDirectory()
        args.record = os.path.join(rectmp.name, "boot.fbt")

    start = time.monotonic()
    failures, status, out, to_prompt = run_session(args, args.end)
    if not failures and args.record and args.verify:
        failures += verify_trace(args)
    if to_prompt is not None:
        print(f"prompt after {to_prompt:.1f} s host time")
    for line in flashback_lines(out):
        print(line)
    print(f"session: {time.monotonic() - start:.1f} s host time, "
          f"emulator status {status}")
    if report(failures, out):
        return 1
    print("PASS linux boot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
