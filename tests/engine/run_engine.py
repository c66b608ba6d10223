#!/usr/bin/env python3
"""run_engine.py FLASHBACK ENGINE_CHECK GUEST_DIR DISK CASE

Records a guest (CASE: a test guest's name, or 'demo') with small snapshot
intervals and runs engine_check on the trace: the replay engine, moved
around with and without its snapshot cache, must agree with a straight
replay everywhere."""
import glob
import os
import subprocess
import sys
import tempfile


def main():
    flashback, check, guests, disk, case = sys.argv[1:6]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        if case == 'demo':
            r = subprocess.run([flashback, 'demo'], input=b'hi\n', env=env,
                               capture_output=True, timeout=120)
            found = glob.glob(os.path.join(tmp, 'flashback-demo-*', 'demo.fbt'))
            if not found:
                print('demo left no trace:', r.stderr.decode(errors='replace'))
                return 1
            trace = found[0]
        else:
            trace = os.path.join(tmp, 't.fbt')
            # snapshots every 10^5 instructions: many undo chains
            r = subprocess.run([flashback, 'record', '--snapshot-interval', '100000',
                                '-o', trace, '-kernel',
                                os.path.join(guests, case + '.elf'), '-hda', disk,
                                '-serial', 'stdio', '-no-reboot'],
                               stdin=subprocess.DEVNULL, env=env,
                               capture_output=True, timeout=120)
            if not os.path.exists(trace):
                print('record failed:', r.stderr.decode(errors='replace'))
                return 1
        r = subprocess.run([check, trace], capture_output=True, timeout=600)
        sys.stdout.write(r.stdout.decode(errors='replace'))
        sys.stdout.write(r.stderr.decode(errors='replace'))
        return r.returncode


if __name__ == '__main__':
    sys.exit(main())
