#!/usr/bin/env python3
"""disks-data.py - a data disk for disks.asm: OUT with N (2 or 4, the disk's
number) and 256 sectors, sector L holding "disk N sector L: ..." (a line and
a NUL), which the boot sector checks and prints.

usage: disks-data.py OUT N
"""
import sys


def main():
    out, n = sys.argv[1], sys.argv[2]
    with open(out, 'wb') as f:
        for lba in range(256):
            text = ('disk %s sector %d: data the boot sector found on it\r\n' % (n, lba)).encode()
            f.write(text + bytes(512 - len(text)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
