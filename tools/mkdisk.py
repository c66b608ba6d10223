#!/usr/bin/env python3
"""mkdisk.py - make the raw disk images the guests read.

usage: mkdisk.py OUT --sectors N [--pattern] [--file LBA=PATH ...] [--text LBA=STRING ...]

The image is N sectors of 512 bytes, zero unless:
  --pattern        every sector holds the test pattern (see pattern_sector),
                   which tests/guests/ata.c computes independently;
  --file LBA=PATH  the bytes of PATH are written from sector LBA on, followed
                   by a NUL (the demo's message lives in sector 1);
  --text LBA=STR   the same with a literal string.
"""
import argparse
import struct
import sys

SECTOR = 512


def pattern_sector(lba):
    """Sector LBA of a --pattern disk: 'FBDK', the LBA (little endian), then
    byte i = (lba * 31 + i * 7 + (i >> 8)) & 0xFF."""
    body = bytearray((lba * 31 + i * 7 + (i >> 8)) & 0xFF for i in range(SECTOR))
    body[0:8] = b'FBDK' + struct.pack('<I', lba)
    return bytes(body)


def place(image, spec, data, nsectors):
    lba_text, _, _ = spec.partition('=')
    lba = int(lba_text, 0)
    data = data + b'\0'
    if lba < 0 or (lba * SECTOR + len(data)) > nsectors * SECTOR:
        sys.exit('mkdisk.py: %r does not fit in %d sectors' % (spec, nsectors))
    image[lba * SECTOR:lba * SECTOR + len(data)] = data


def main():
    ap = argparse.ArgumentParser(description='make a raw disk image for the guests')
    ap.add_argument('out')
    ap.add_argument('--sectors', type=int, required=True)
    ap.add_argument('--pattern', action='store_true')
    ap.add_argument('--file', action='append', default=[], metavar='LBA=PATH')
    ap.add_argument('--text', action='append', default=[], metavar='LBA=STRING')
    args = ap.parse_args()
    if args.sectors <= 0:
        sys.exit('mkdisk.py: --sectors must be positive')

    if args.pattern:
        image = bytearray(b''.join(pattern_sector(lba) for lba in range(args.sectors)))
    else:
        image = bytearray(args.sectors * SECTOR)
    for spec in args.file:
        with open(spec.partition('=')[2], 'rb') as f:
            place(image, spec, f.read(), args.sectors)
    for spec in args.text:
        place(image, spec, spec.partition('=')[2].encode(), args.sectors)
    with open(args.out, 'wb') as f:
        f.write(image)


if __name__ == '__main__':
    main()
