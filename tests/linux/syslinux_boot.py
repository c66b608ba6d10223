#!/usr/bin/env python3
"""Boots the Linux guest the way a PC does and checks that the recording
of it replays (issue 12, part 1).

1. Makes a disk image in a temporary folder A: an MBR with SYSLINUX's boot
   code (/usr/lib/syslinux/mbr/mbr.bin) and one active FAT16 partition at
   1 MiB, made with mkfs.fat, holding bzImage, init.cpio and a
   syslinux.cfg (copied in with mcopy) and SYSLINUX itself (`syslinux
   --install` on the partition image, which needs no root).
2. Records under `flashback record -bios bios.bin -hda disk.img -serial
   stdio` (a copy of Debian's SeaBIOS in A): SeaBIOS from the reset vector
   reads the MBR, the MBR loads SYSLINUX, SYSLINUX reads its config, the
   kernel and the initramfs through the BIOS's INT 13h and starts the
   kernel.  SYSLINUX waits at its "boot:" prompt (on the serial line) for
   the label the test types; at the shell's prompt boot.py's session is
   typed, plus `cat /proc/cmdline`.  The console must show each stage:
   SeaBIOS's banner and "Booting from Hard Disk", SYSLINUX's banner and
   the label typed at its prompt, the kernel's command line as SYSLINUX
   built it from that label of syslinux.cfg, the shell.
3. Copies the trace into folder B, deletes A (BIOS, disk, trace) and
   replays with --verify from B: status 0, the console byte for byte the
   recorded one, the final icount and state hash those of the recording;
   then `replay --until N` at the `work 1` line from the latest snapshot
   and from snapshot 0 give the same CPU state (record_replay.py's checks).

With --root-disk MKE2FS (issue 13's two-disk PC), the initramfs stays
out: the test writes an ext2 file system with mke2fs -d (init, and /dev,
/proc, /sys to mount on) as a second disk image, `-hdb`, and syslinux.cfg
boots the kernel with root=/dev/sdb: the kernel finds both disks on the
PIIX3's IDE channel through its own ATA driver (ata_piix, bus-master DMA)
and runs /init from the second one.  The console must also show the
kernel's driver finding both disks and mounting the ext2 root.

Exit status 0 when all hold, 1 if not, 77 when the kernel, SeaBIOS or a
disk tool is missing.

Usage: syslinux_boot.py --flashback BIN --kernel bzImage --initrd init.cpio
         --bios bios.bin --mbr mbr.bin --mkfs-fat P --mcopy P --syslinux P
         [--root-disk MKE2FS --init INIT]
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot  # noqa: E402
import record_replay  # noqa: E402

# A word on the kernel command line that only syslinux.cfg holds.  SYSLINUX
# waits at its prompt for a label (TIMEOUT 0: for ever); the test types
# the one that boots Linux, over the serial line SYSLINUX polls.
MARK = "flashback.loader=syslinux"
LABEL = "flashback"
CONFIG = """SERIAL 0 115200
PROMPT 1
TIMEOUT 0
DEFAULT nothing
LABEL nothing
  KERNEL nothing.bin
LABEL {label}
  KERNEL bzImage
{initrd}  APPEND {append} {mark}
"""
# The two-disk PC: root on the primary slave (hdb: sdb to libata), PCI
# scanned without ACPI (our DSDT has no PCI root bridge).
ROOT_APPEND = "root=/dev/sdb rootfstype=ext2 ro init=/init pci=noacpi"
PART_START = 2048  # sectors: the partition starts at 1 MiB
MIB = 1 << 20


def run(argv):
    """Runs a disk tool; its output and a line naming it if it fails."""
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        print(f"FAIL: {' '.join(argv)}: exit status {r.returncode}")
        return False
    return True


def mbr_sector(boot_code, part_sectors):
    """The MBR: SYSLINUX's boot code, a disk signature, one active
    partition of type 6 (FAT16) at PART_START, the 0x55AA signature.  The
    CHS fields say "use LBA" (mbr.bin reads with EDD, which SeaBIOS has)."""
    if len(boot_code) > 440:
        raise ValueError(f"MBR boot code of {len(boot_code)} bytes, more "
                         f"than the 440 an MBR holds")
    sector = bytearray(512)
    sector[:len(boot_code)] = boot_code
    sector[440:444] = struct.pack("<I", 0x46424b31)
    sector[446:462] = (bytes([0x80, 0xfe, 0xff, 0xff, 0x06, 0xfe, 0xff, 0xff])
                       + struct.pack("<II", PART_START, part_sectors))
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def make_disk(args, folder):
    """Writes folder/disk.img; its path, or None (the reason printed)."""
    part = os.path.join(folder, "part.img")
    cfg = os.path.join(folder, "syslinux.cfg")
    initrd = "" if args.root_disk else "  INITRD init.cpio\n"
    with open(cfg, "w") as f:
        f.write(CONFIG.format(label=LABEL, append=args.append, mark=MARK, initrd=initrd))
    payload = os.path.getsize(args.kernel) + os.path.getsize(args.initrd)
    # room for both and SYSLINUX; FAT16 with 1 KiB clusters needs >= 4 MiB
    mib = max(8, payload // MIB + 2)
    if not (run([args.mkfs_fat, "-F", "16", "-s", "2", "-h", str(PART_START),
                 "-n", "FLASHBACK", "-C", part, str(mib * 1024)])
            and run([args.mcopy, "-i", part, args.kernel, "::/bzImage"])
            and (args.root_disk or run([args.mcopy, "-i", part, args.initrd, "::/init.cpio"]))
            and run([args.mcopy, "-i", part, cfg, "::/syslinux.cfg"])
            and run([args.syslinux, "--install", part])):
        return None
    with open(args.mbr, "rb") as f:
        code = f.read()
    with open(part, "rb") as f:
        fs = f.read()
    disk = os.path.join(folder, "disk.img")
    try:
        sector = mbr_sector(code, len(fs) // 512)
    except ValueError as e:
        print(f"FAIL: {args.mbr}: {e}")
        return None
    with open(disk, "wb") as f:
        f.write(sector + bytes((PART_START - 1) * 512) + fs)
    os.unlink(part)
    print(f"disk: {os.path.getsize(disk)} bytes, FAT16 partition of {mib} "
          f"MiB at sector {PART_START}")
    return disk


def make_root_disk(args, folder):
    """Writes folder/root.img, an ext2 file system holding /init and the
    directories init mounts on; its path, or None (the reason printed)."""
    tree = os.path.join(folder, "root")
    for d in ("dev", "proc", "sys"):
        os.makedirs(os.path.join(tree, d))
    shutil.copyfile(args.init, os.path.join(tree, "init"))
    os.chmod(os.path.join(tree, "init"), 0o755)
    img = os.path.join(folder, "root.img")
    if not run([args.root_disk, "-q", "-F", "-t", "ext2", "-b", "1024", "-L", "flashback-root",
                "-E", "root_owner=0:0", "-d", tree, img, "4096"]):
        return None
    shutil.rmtree(tree)
    print(f"root disk: {os.path.getsize(img)} bytes, ext2")
    return img


def stages(args, out):
    """What the console must show of each stage, in order; the list of
    what is missing or out of order."""
    want = [b"SeaBIOS (version", b"Booting from Hard Disk", b"SYSLINUX ",
            b"boot: " + LABEL.encode(),
            f"Kernel command line: BOOT_IMAGE=bzImage {args.append} {MARK}".encode()]
    if args.root_disk:
        # libata finds both disks on the first channel, then the root mounts
        want += [b"ata_piix", b"[sda]", b"[sdb]",
                 b"VFS: Mounted root (ext2 filesystem) readonly"]
    want += [boot.BANNER]
    failures, pos = [], 0
    for text in want:
        at = out.find(text, pos)
        if at < 0:
            failures.append(f"{text!r} not in the console after byte {pos}")
        else:
            pos = at + len(text)
    return failures


def record(args, folder):
    """The session under record from folder A; (failures, output, trace)."""
    bios = os.path.join(folder, "bios.bin")
    shutil.copyfile(args.bios, bios)
    args.bios = bios
    if args.root_disk:
        args.append = f"{args.append} {ROOT_APPEND}"
        args.hdb = make_root_disk(args, folder)
        if not args.hdb:
            return ["the root disk image could not be made"], b"", None
    args.hda = make_disk(args, folder)
    if not args.hda:
        return ["the disk image could not be made"], b"", None
    args.record = os.path.join(folder, "linux.fbt")
    extra = [("cat /proc/cmdline", [MARK.encode()])]
    failures, status, out, to_prompt = boot.run_session(
        args, extra=extra, boot_input=[(b"boot: ", LABEL.encode() + b"\r")])
    print(f"record: prompt after {to_prompt or 0:.1f} s host, status "
          f"{status}")
    return failures + stages(args, out), out, args.record


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flashback", required=True)
    ap.add_argument("--bios", required=True, help="SeaBIOS's bios.bin")
    ap.add_argument("--mbr", required=True, help="SYSLINUX's mbr.bin")
    ap.add_argument("--mkfs-fat", required=True)
    ap.add_argument("--mcopy", required=True)
    ap.add_argument("--syslinux", required=True)
    ap.add_argument("--root-disk", metavar="MKE2FS",
                    help="root on a second disk: an ext2 image made with this mke2fs")
    ap.add_argument("--init", help="the init program for --root-disk's file system")
    boot.add_guest_arguments(ap)
    args = ap.parse_args()
    if args.root_disk and not args.init:
        ap.error("--root-disk needs --init")
    ready = boot.prepare(args, args.flashback)
    if ready is not None:
        return ready
    for path in (args.bios, args.mbr):
        if not os.path.exists(path):
            print(f"SKIP: {path} does not exist")
            return 77

    with tempfile.TemporaryDirectory(prefix="fb-syslinux-") as tmp:
        folder_a = os.path.join(tmp, "a")
        folder_b = os.path.join(tmp, "b")
        os.mkdir(folder_a)
        os.mkdir(folder_b)
        failures, out, trace = record(args, folder_a)
        if failures:
            return boot.report(failures, out)
        recorded = record_replay.console_of_record(out)
        icount = boot.final_icount(out)
        info = record_replay.trace_info(args.flashback, trace)
        if info is None:
            return boot.report(["`flashback info` on the recording failed"],
                               out)
        if icount != info[0]:
            return boot.report([f"record --stats says icount {icount}, "
                                f"the trace {info[0]}"], out)
        print(f"trace: final icount {info[0]} hash {info[1]}")
        moved = os.path.join(folder_b, "linux.fbt")
        shutil.copytree(trace, moved)
        shutil.rmtree(folder_a)
        failures = record_replay.compare(args, recorded, info, moved)
        failures += record_replay.compare_until(args, moved)
    if boot.report(failures, out):
        return 1
    if args.root_disk:
        print("PASS SeaBIOS, SYSLINUX and Linux with its root on the second disk, "
              "recorded and replayed")
    else:
        print("PASS SeaBIOS, SYSLINUX and Linux recorded and replayed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
