#!/usr/bin/env python3
"""test_drives.py - the drive options and what writes do to disk images.

usage: test_drives.py FLASHBACK GUESTS_DIR DISK CASE

DISK is the ata guest's disk (tests/guests); it is copied before each use.
The ata guest (tests/guests/ata.c) writes sectors 100-101 and reads them
back.  Cases:
  bad       -drive and -hd*/-cdrom mistakes: one line, exit 2
  writes    run writes the image (QEMU's default); -snapshot and
            snapshot=on leave it alone; record leaves it alone unless the
            drive says snapshot=off; every recording replays with --verify
  slots     -hdb, -hdc, -hdd and -drive index=N put the disk where the
            guest finds it (the ata guest only looks at the primary
            master: elsewhere it fails)
"""
import os
import shutil
import subprocess
import sys
import tempfile

FB = GUESTS = DISK = TMP = None
SECTOR = 512


def run(*args, timeout=120):
    p = subprocess.run([FB] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')


def expect_error(args, *needles):
    code, out, err = run(*args)
    lines = err.strip().splitlines()
    assert code == 2, '%s: exit status %d, expected 2; stderr: %r' % (args, code, err)
    assert len(lines) == 1, '%s: expected one line on stderr, got %r' % (args, err)
    for n in needles:
        assert n in lines[0], '%r not in %r' % (n, lines[0])


def tmpfile(name, data):
    path = os.path.join(TMP, name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def copy_disk(name):
    path = os.path.join(TMP, name)
    shutil.copy(DISK, path)
    return path


def kernel():
    return os.path.join(GUESTS, 'ata.elf')


def case_bad():
    k = kernel()
    d = copy_disk('d.img')
    iso = tmpfile('odd.iso', bytes(2048 * 3 + 512))
    expect_error(['run', '-kernel', k, '-drive', 'file=%s,cache=none' % d], "unknown key 'cache'")
    expect_error(['run', '-kernel', k, '-drive', 'file=%s,format=qcow2' % d], 'format=raw')
    expect_error(['run', '-kernel', k, '-drive', 'file=%s,if=virtio' % d], 'if=ide')
    expect_error(['run', '-kernel', k, '-drive', 'file=%s,index=4' % d], 'index must be 0-3')
    expect_error(['run', '-kernel', k, '-drive', 'file=%s,snapshot=maybe' % d], 'on or off')
    expect_error(['run', '-kernel', k, '-drive', 'format=raw'], 'file=FILE is missing')
    expect_error(['run', '-kernel', k, '-drive', 'file=%s,media=tape' % d], 'disk or cdrom')
    expect_error(['run', '-kernel', k, '-drive', 'junk'], 'not key=value')
    expect_error(['run', '-kernel', k, '-hda', d, '-drive', 'file=%s,index=0' % d],
                 'index 0 is taken', '-hda')
    expect_error(['run', '-kernel', k, '-hdc', d, '-cdrom', iso], 'index 2 is taken')
    expect_error(['run', '-kernel', k, '-hdb', os.path.join(TMP, 'missing.img')],
                 '-hdb', 'missing.img', 'cannot open')
    expect_error(['run', '-kernel', k, '-cdrom', iso], 'odd.iso', '2048-byte sectors')
    expect_error(['run', '-kernel', k, '-hdd', TMP, '-snapshot'], 'not a regular file')
    expect_error(['run', '-kernel', k, '-boot', 'x'], '-boot')
    ro = copy_disk('ro.img')
    os.chmod(ro, 0o444)
    if os.geteuid() != 0:  # root may write anyway
        expect_error(['run', '-kernel', k, '-hda', ro], 'for writing', 'snapshot=on')
    # Five drives: four places only.
    args = ['run', '-kernel', k]
    for i in range(5):
        args += ['-drive', 'file=%s' % d]
    expect_error(args, 'all four IDE positions are taken')


def written(path):
    """Whether sectors 100-101 differ from the original image."""
    with open(path, 'rb') as f:
        now = f.read()
    with open(DISK, 'rb') as f:
        orig = f.read()
    assert len(now) == len(orig)
    changed = [i // SECTOR for i in range(len(now)) if now[i] != orig[i]]
    assert not changed or set(changed) == {100, 101}, 'changed sectors %r' % sorted(set(changed))
    return bool(changed)


def guest(*args, record=None):
    cmd = (['record', '-o', record] if record else ['run']) + ['-kernel', kernel(),
                                                               '-serial', 'stdio'] + list(args)
    code, out, err = run(*cmd)
    assert code == 1 and 'PASS ata' in out, '%s: status %d\n%s%s' % (cmd, code, out, err)
    if record:
        code, out, err = run('replay', record, '--verify')
        assert code == 0 and 'verified:' in out, 'replay --verify: %s' % err


def case_writes():
    d = copy_disk('run.img')
    guest('-hda', d)
    assert written(d), 'run: the guest\'s writes did not reach the image'
    for args in (['-snapshot'], ['-drive-snap']):
        d = copy_disk('snap.img')
        guest(*(['-hda', d, '-snapshot'] if args == ['-snapshot'] else
                ['-drive', 'file=%s,format=raw,if=ide,index=0,snapshot=on' % d]))
        assert not written(d), '%s: the image changed' % args
    d = copy_disk('rec.img')
    guest('-hda', d, record=os.path.join(TMP, 'rec.fbt'))
    assert not written(d), 'record changed the image'
    d = copy_disk('recw.img')
    guest('-drive', 'file=%s,snapshot=off' % d, record=os.path.join(TMP, 'recw.fbt'))
    assert written(d), 'record with snapshot=off: the writes did not reach the image'


def case_slots():
    d = copy_disk('s.img')
    guest('-drive', 'file=%s,index=0,media=disk,snapshot=on' % d)
    for opt in ('-hdb', '-hdc', '-hdd'):
        code, out, err = run('run', '-kernel', kernel(), '-serial', 'stdio', opt, d, '-snapshot',
                             '--max-insns', '200000000')
        assert code != 1 and 'PASS ata' not in out, '%s: the guest found a primary master' % opt
    assert not written(d)


def main():
    global FB, GUESTS, DISK, TMP
    FB, GUESTS, DISK, case = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        globals()['case_' + case]()
    print('PASS ' + case)
    return 0


if __name__ == '__main__':
    sys.exit(main())
