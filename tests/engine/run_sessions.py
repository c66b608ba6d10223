#!/usr/bin/env python3
"""run_sessions.py FLASHBACK SESSIONS_CHECK GUEST_DIR DISK

Records two test guests (ata, whose disk reads arrive by DMA, and timer)
and runs sessions_check on the two traces: four replay sessions in one
process, two per recording, moved in an interleaved order, each where a
straight replay of its recording is."""
import os
import subprocess
import sys
import tempfile


def record(flashback, guests, disk, case, trace):
    r = subprocess.run([flashback, 'record', '--snapshot-interval', '100000',
                        '-o', trace, '-kernel', os.path.join(guests, case + '.elf'),
                        '-hda', disk, '-serial', 'null', '-no-reboot'],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    if not os.path.exists(trace):
        print('record failed:', r.stderr.decode(errors='replace'))
        sys.exit(1)


def main():
    flashback, check, guests, disk = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, 'ata.fbt'), os.path.join(tmp, 'timer.fbt')
        record(flashback, guests, disk, 'ata', a)
        record(flashback, guests, disk, 'timer', b)
        r = subprocess.run([check, a, b], capture_output=True, timeout=600)
        sys.stdout.write(r.stdout.decode(errors='replace'))
        sys.stdout.write(r.stderr.decode(errors='replace'))
        return r.returncode


if __name__ == '__main__':
    sys.exit(main())
