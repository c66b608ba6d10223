#!/usr/bin/env python3
"""run_bios.py - boot a disk image through a real BIOS and check the result.

usage: run_bios.py EMULATOR BIOS [DISK] [--qemu | --record] [--reboot] [--expect TEXT]...

Runs `flashback run -bios BIOS -hda DISK` (or qemu-system-i386 with the same
BIOS and disk; without DISK, for a ROM of ours that needs none), with no
input and a time limit, and passes when the exit
status is 1 (the boot sector wrote 0 to isa-debug-exit), "PASS" and every
--expect TEXT are on the console and no "FAIL" line is.  A reset ends the
run (-no-reboot) unless --reboot says the boot sector resets on purpose.

With --record, `flashback record` instead, then `flashback replay --verify`
of the trace: it must agree (exit 0, the same console byte for byte).  The
recording starts at the reset vector, with the 8259s in their power-on
state, so this is the first thing to break if the replay's interrupt line
does not follow the journal alone.
"""
import argparse
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
    ap = argparse.ArgumentParser(description='boot a disk through a BIOS')
    ap.add_argument('emu')
    ap.add_argument('bios')
    ap.add_argument('disk', nargs='?')
    ap.add_argument('--qemu', action='store_true')
    ap.add_argument('--record', action='store_true')
    ap.add_argument('--reboot', action='store_true', help='let the guest reset the machine')
    ap.add_argument('--expect', action='append', default=[], metavar='TEXT')
    ap.add_argument('--hdb', help='a disk image for the primary slave (IDE index 1)')
    ap.add_argument('--hdd', help='a disk image for the secondary slave (IDE index 3)')
    args = ap.parse_args()
    emu, bios, disk = args.emu, args.bios, args.disk
    more = [(1, args.hdb), (3, args.hdd)]
    tmp = tempfile.TemporaryDirectory()
    trace = os.path.join(tmp.name, 'bios.fbt')
    no_reboot = [] if args.reboot else ['-no-reboot']
    hda = ['-hda', disk] if disk else []
    if args.qemu:
        cmd = [emu, '-bios', bios, '-display', 'none', '-serial', 'stdio'] + no_reboot + [
               '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']
        if disk:
            cmd += ['-drive', 'file=%s,format=raw,if=ide,snapshot=on' % disk]
        for index, img in more:
            if img:
                cmd += ['-drive', 'file=%s,format=raw,if=ide,index=%d,snapshot=on' % (img, index)]
    elif args.record:
        cmd = [emu, 'record', '-o', trace, '-bios', bios] + hda + no_reboot + [
               '--max-insns', '2000000000']
    else:
        cmd = [emu, 'run', '-bios', bios] + hda + ['-snapshot'] + no_reboot + [
               '--max-insns', '2000000000']
    if not args.qemu:
        for index, img in more:
            if img:
                cmd += ['-hd' + 'abcd'[index], img]
    p = run(cmd)
    out = p.stdout.decode(errors='replace')
    err = p.stderr.decode(errors='replace')
    ok = (p.returncode == 1 and 'PASS' in out and 'FAIL' not in out and
          all(text in out for text in args.expect))
    if not ok:
        print(out[-3000:])
        print(err[-2000:])
        print('FAIL: exit status %d' % p.returncode)
        return 1
    print('PASS: %s' % ' '.join(cmd))
    if args.record:
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
