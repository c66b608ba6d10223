#!/usr/bin/env python3
"""run_bios.py - boot a disk image through a real BIOS and check the result.

usage: run_bios.py EMULATOR BIOS DISK [--qemu | --record]

Runs `flashback run -bios BIOS -hda DISK` (or qemu-system-i386 with the same
BIOS and disk), with no input and a time limit, and passes when the exit
status is 1 (the boot sector wrote 0 to isa-debug-exit), "PASS" is on the
console and no "FAIL" line is.

With --record, `flashback record` instead, then `flashback replay --verify`
of the trace: it must agree (exit 0, the same console byte for byte).  The
recording starts at the reset vector, with the 8259s in their power-on
state, so this is the first thing to break if the replay's interrupt line
does not follow the journal alone.
"""
import os
import subprocess
import sys
import tempfile


def run(cmd):
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        print('FAIL: timed out: %s' % ' '.join(cmd))
        sys.exit(1)


def main():
    emu, bios, disk = sys.argv[1:4]
    tmp = tempfile.TemporaryDirectory()
    trace = os.path.join(tmp.name, 'bios.fbt')
    if '--qemu' in sys.argv:
        cmd = [emu, '-bios', bios, '-display', 'none', '-serial', 'stdio', '-no-reboot',
               '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
               '-drive', 'file=%s,format=raw,if=ide,snapshot=on' % disk]
    elif '--record' in sys.argv:
        cmd = [emu, 'record', '-o', trace, '-bios', bios, '-hda', disk, '-no-reboot',
               '--max-insns', '2000000000']
    else:
        cmd = [emu, 'run', '-bios', bios, '-hda', disk, '-no-reboot',
               '--max-insns', '2000000000']
    p = run(cmd)
    out = p.stdout.decode(errors='replace')
    err = p.stderr.decode(errors='replace')
    ok = p.returncode == 1 and 'PASS' in out and 'FAIL' not in out
    if not ok:
        print(out[-3000:])
        print(err[-2000:])
        print('FAIL: exit status %d' % p.returncode)
        return 1
    print('PASS: %s' % ' '.join(cmd))
    if '--record' in sys.argv:
        r = run([emu, 'replay', trace, '--verify'])
        console, _, verdict = r.stdout.rpartition(b'verified: ')
        if r.returncode != 0 or console != p.stdout or not verdict:
            print(r.stderr.decode(errors='replace')[-2000:])
            print('FAIL: replay --verify: exit status %d, console %s' %
                  (r.returncode, 'identical' if console == p.stdout else 'differs'))
            return 1
        print('PASS: replay --verify: verified: %s' % verdict.decode().strip())
    return 0


if __name__ == '__main__':
    sys.exit(main())
