#!/usr/bin/env python3
"""The engines in lockstep on every test guest (suite 'lockstep').

usage: test_lockstep.py FLASHBACK LOCKSTEP SEED GUEST.elf[:DISK] ...

Each guest is recorded (with the host-code backend, the default engine),
then lockstep.c replays the recording in two sessions, one interpreting
and one running host code, stopping both every few instructions and
comparing CPU state and RAM.  SEED is printed so that a failure can be
run again; it varies the strides, not the recordings.
"""
import os
import subprocess
import sys
import tempfile

# guests that reboot on purpose (the reset guest goes through port 0x92)
REBOOTS = {'reset'}
MAX_INSNS = 60000000


def record(fb, elf, disk, trace):
    name = os.path.basename(elf)[:-len('.elf')]
    cmd = [fb, 'record', '-o', trace, '-kernel', elf, '-serial', 'stdio',
           '--max-insns', str(MAX_INSNS)]
    if name not in REBOOTS:
        cmd.append('-no-reboot')
    if disk:
        cmd += ['-hda', disk]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    # the guest's own status does not matter here (fatal ends on purpose);
    # a trace that says it is complete does
    info = subprocess.run([fb, 'info', trace], capture_output=True, timeout=60)
    out = info.stdout.decode(errors='replace')
    if info.returncode != 0 or 'complete' not in out:
        sys.exit('%s: no complete recording (record status %d: %s)' %
                 (name, p.returncode, p.stderr.decode(errors='replace').strip()[-300:]))


def main():
    fb, lockstep, seed = sys.argv[1], sys.argv[2], int(sys.argv[3], 0)
    guests = sys.argv[4:]
    print('seed %d (run again: %s)' % (seed, ' '.join(sys.argv)))
    failed = []
    with tempfile.TemporaryDirectory(prefix='fb-lockstep-') as tmp:
        for i, g in enumerate(guests):
            elf, _, disk = g.partition(':')
            name = os.path.basename(elf)[:-len('.elf')]
            trace = os.path.join(tmp, name + '.fbt')
            record(fb, elf, disk, trace)
            p = subprocess.run([lockstep, trace, str(seed + i)], capture_output=True,
                               timeout=600)
            out = p.stdout.decode(errors='replace') + p.stderr.decode(errors='replace')
            sys.stdout.write('%-20s %s' % (name, out))
            if p.returncode != 0:
                failed.append(name)
    if failed:
        sys.exit('the engines disagree on: ' + ' '.join(failed))
    print('%d guests: interp and jit agree at every stop' % len(guests))


if __name__ == '__main__':
    main()
