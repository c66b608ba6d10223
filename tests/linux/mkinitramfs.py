#!/usr/bin/env python3
"""Writes the initramfs of Flashback's Linux test guest: a cpio archive in
the "newc" format (the one the kernel unpacks, see the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst) holding /init,
/dev/console (character device 5:1, which the kernel opens as init's
stdin, stdout and stderr), and the empty /dev, /proc and /sys directories.

Every header field is fixed (inode numbers in order, times 0, owner root),
so the same init gives the same archive byte for byte.

Usage: mkinitramfs.py OUT.cpio INIT [--gzip]
"""
import argparse
import gzip
import sys

S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFCHR = 0o020000


def pad4(n):
    return (4 - n % 4) % 4


def entry(ino, name, mode, data=b"", nlink=1, rdev=(0, 0)):
    """One newc member: "070701", 13 eight-digit hex fields, the name with
    its NUL padded so the data starts on a 4-byte boundary, the data
    padded to 4 bytes."""
    name_bytes = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
              len(name_bytes), 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + name_bytes + b"\0" * pad4(len(header) + len(name_bytes))
    return out + data + b"\0" * pad4(len(data))


def archive(init):
    members = [
        ("dev", S_IFDIR | 0o755, b"", 2, (0, 0)),
        ("dev/console", S_IFCHR | 0o600, b"", 1, (5, 1)),
        ("proc", S_IFDIR | 0o555, b"", 2, (0, 0)),
        ("sys", S_IFDIR | 0o555, b"", 2, (0, 0)),
        ("init", S_IFREG | 0o755, init, 1, (0, 0)),
    ]
    out = b"".join(entry(i + 1, name, mode, data, nlink, rdev)
                   for i, (name, mode, data, nlink, rdev) in enumerate(members))
    out += entry(0, "TRAILER!!!", 0)
    return out + b"\0" * pad4(len(out) + 0)  # whole archive: 4-byte multiple


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("init")
    ap.add_argument("--gzip", action="store_true",
                    help="compress (the kernel needs CONFIG_RD_GZIP)")
    args = ap.parse_args()
    with open(args.init, "rb") as f:
        init = f.read()
    if not init.startswith(b"\x7fELF"):
        sys.exit(f"mkinitramfs.py: {args.init} is not an ELF program")
    data = archive(init)
    if args.gzip:
        data = gzip.compress(data, mtime=0)
    with open(args.out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
