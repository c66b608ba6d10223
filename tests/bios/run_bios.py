#!/usr/bin/env python3
"""run_bios.py - boot a disk image through a real BIOS and check the result.

usage: run_bios.py EMULATOR BIOS DISK [--qemu]

Runs `flashback run -bios BIOS -hda DISK` (or qemu-system-i386 with the same
BIOS and disk), with no input and a time limit, and passes when the exit
status is 1 (the boot sector wrote 0 to isa-debug-exit), "PASS" is on the
console and no "FAIL" line is.
"""
import subprocess
import sys


def main():
    emu, bios, disk = sys.argv[1:4]
    if '--qemu' in sys.argv:
        cmd = [emu, '-bios', bios, '-display', 'none', '-serial', 'stdio', '-no-reboot',
               '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
               '-drive', 'file=%s,format=raw,if=ide,snapshot=on' % disk]
    else:
        cmd = [emu, 'run', '-bios', bios, '-hda', disk, '-no-reboot',
               '--max-insns', '2000000000']
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        print('FAIL: timed out: %s' % ' '.join(cmd))
        return 1
    out = p.stdout.decode(errors='replace')
    err = p.stderr.decode(errors='replace')
    ok = p.returncode == 1 and 'PASS' in out and 'FAIL' not in out
    if not ok:
        print(out[-3000:])
        print(err[-2000:])
        print('FAIL: exit status %d' % p.returncode)
        return 1
    print('PASS: %s' % ' '.join(cmd))
    return 0


if __name__ == '__main__':
    sys.exit(main())
