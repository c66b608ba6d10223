#!/usr/bin/env python3
"""test_cli.py - the command line and bad input files.

usage: test_cli.py FLASHBACK CASE

Each CASE runs flashback once and checks its exit status and that stderr is
exactly one line saying what is wrong (naming the file or option).  Input
files are made in a temporary directory by the case itself.
"""
import os
import struct
import subprocess
import sys
import tempfile

FB = None
TMP = None


def run(*args, stdin=subprocess.DEVNULL, timeout=30):
    p = subprocess.run([FB] + list(args), stdin=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')


def expect_error(args, *needles, status=2):
    code, out, err = run(*args)
    lines = err.strip().splitlines()
    assert code == status, 'exit status %d, expected %d; stderr: %r' % (code, status, err)
    assert len(lines) == 1, 'expected one line on stderr, got %r' % err
    for n in needles:
        assert n in lines[0], '%r not in %r' % (n, lines[0])
    assert lines[0].startswith('flashback: '), lines[0]


def tmpfile(name, data):
    path = os.path.join(TMP, name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def multiboot_elf(paddr, memsz=0x1000, payload=b'\xf4'):
    """A minimal ELF32 i386 with a multiboot header in its one PT_LOAD segment."""
    magic, flags = 0x1BADB002, 0
    mb = struct.pack('<III', magic, flags, (-(magic + flags)) & 0xffffffff)
    body = mb + payload
    ehsize, phsize = 52, 32
    off = ehsize + phsize
    eh = b'\x7fELF' + bytes([1, 1, 1, 0]) + bytes(8)
    eh += struct.pack('<HHIIIIIHHHHHH', 2, 3, 1, paddr + len(mb), ehsize, 0, 0, ehsize,
                      phsize, 1, 40, 0, 0)
    ph = struct.pack('<IIIIIIII', 1, off, paddr, paddr, len(body), max(memsz, len(body)), 7, 4)
    return eh + ph + body


# ---- cases ----------------------------------------------------------------

def case_help():
    code, out, err = run('--help')
    assert code == 0 and 'flashback run' in out and '-kernel' in out and '-icount' in out, out


def case_no_args():
    code, out, err = run()
    assert code == 2 and 'usage' in out


def case_unknown_command():
    expect_error(['frobnicate'], "unknown command 'frobnicate'")


def case_unknown_option():
    expect_error(['run', '-frob'], "unknown option '-frob'")


def case_missing_value():
    expect_error(['run', '-kernel'], '-kernel', 'needs a value')


def case_missing_file():
    expect_error(['run', '-kernel', os.path.join(TMP, 'nope.elf')], 'nope.elf',
                 'No such file')


def case_directory_as_kernel():
    expect_error(['run', '-kernel', TMP], TMP, 'not a regular file')


def case_not_a_kernel():
    path = tmpfile('random.bin', bytes((i * 37 + 11) & 0xff for i in range(20000)))
    expect_error(['run', '-kernel', path], 'random.bin', 'not a multiboot or Linux kernel')


def case_empty_kernel():
    path = tmpfile('empty.elf', b'')
    expect_error(['run', '-kernel', path], 'empty.elf')


def case_truncated_elf():
    img = multiboot_elf(0x100000)
    path = tmpfile('trunc.elf', img[:60])  # program header cut off
    expect_error(['run', '-kernel', path], 'trunc.elf')


def case_segment_outside_ram():
    path = tmpfile('high.elf', multiboot_elf(0x40000000))
    expect_error(['run', '-m', '16', '-kernel', path], 'high.elf')


def case_entry_outside_image():
    """An entry point in no loaded segment (here not even in RAM) is refused:
    the CPU would fault before its first instruction, after every reset."""
    img = bytearray(multiboot_elf(0x100000))
    img[24:28] = (0x40000000).to_bytes(4, 'little')  # e_entry
    path = tmpfile('entry.elf', bytes(img))
    expect_error(['run', '-kernel', path], 'entry.elf', 'entry point 0x40000000')


def case_mem_zero():
    expect_error(['run', '-m', '0', '-kernel', '/dev/null'], '-m', "'0'")


def case_mem_too_large():
    expect_error(['run', '-m', '100000', '-kernel', '/dev/null'], '-m', 'max')


def case_mem_malformed():
    expect_error(['run', '-m', '12x', '-kernel', '/dev/null'], '-m', "'12x'")


def case_disk_not_sectors():
    k = tmpfile('k.elf', multiboot_elf(0x100000))
    d = tmpfile('odd.img', bytes(1000))
    expect_error(['run', '-kernel', k, '-hda', d], 'odd.img', 'sectors')


def case_bad_icount():
    expect_error(['run', '-icount', 'shift=99', '-kernel', '/dev/null'], '-icount')


def case_bad_serial():
    expect_error(['run', '-serial', 'tcp:1', '-kernel', '/dev/null'], '-serial')


def case_bad_rtc():
    expect_error(['run', '-rtc', 'base=2024-13-01', '-kernel', '/dev/null'], '-rtc')


def case_no_guest():
    expect_error(['run'], 'no guest')


def case_bad_bios_size():
    b = tmpfile('bios.bin', bytes(1000))
    expect_error(['run', '-bios', b], 'bios.bin')


def case_kernel_and_bios():
    k = tmpfile('k.elf', multiboot_elf(0x100000))
    b = tmpfile('bios.bin', bytes(65536))
    expect_error(['run', '-kernel', k, '-bios', b], '-kernel and -bios')


def case_dump_mtree():
    k = tmpfile('k.elf', multiboot_elf(0x100000))
    code, out, err = run('run', '-m', '64', '-kernel', k, '--dump-mtree')
    assert code == 0, err
    for needle in ('address-space: memory', 'pc.ram', 'address-space: I/O', 'hpet',
                   'acpi-pm'):
        assert needle in out, '%r missing from:\n%s' % (needle, out)


def case_demo():
    code, out, err = run('demo', timeout=120)
    assert code == 0, 'status %d, stderr %r' % (code, err)
    for needle in ('=== Flashback demo guest ===', '[timer] 50 ticks', 'sector 1 says',
                   's without input', '[summary]', 'disk ok'):
        assert needle in out, '%r missing from:\n%s' % (needle, out)


def case_demo_input():
    """Typed input reaches the guest through the UART and is echoed.

    The text is sent once the guest prompts for it, as a person would: bytes
    typed before the guest sets up its UART are lost, as on hardware."""
    p = subprocess.Popen([FB, 'demo'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out = b''
    try:
        while b'type something' not in out:
            chunk = p.stdout.read1(4096)
            assert chunk, 'demo ended before its prompt: %r' % out
            out += chunk
        p.stdin.write(b'hello flashback\nq')
        p.stdin.flush()
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    out = (out + rest).decode(errors='replace')
    assert p.returncode == 0, 'status %d, stderr %r' % (p.returncode, err)
    assert 'hello flashback' in out.split('[echo] type something')[1], out
    assert '[echo] end of input' in out, out


def case_terminal_quit():
    """On a terminal: keystrokes reach the guest, Ctrl-A x quits, the terminal is restored."""
    import pty
    import select
    import termios
    import time
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(FB, [FB, 'demo'])
    out = b''
    deadline = time.time() + 60

    def read_until(needle):
        nonlocal out
        while needle not in out:
            assert time.time() < deadline, 'timed out waiting for %r in %r' % (needle, out)
            r, _, _ = select.select([fd], [], [], 1)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
        return needle in out

    assert read_until(b'type something'), out
    assert not termios.tcgetattr(fd)[3] & termios.ECHO, 'terminal not in raw mode'
    os.write(fd, b'xyz')
    assert read_until(b'xyz'), out
    os.write(fd, b'\x01x')
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert termios.tcgetattr(fd)[3] & termios.ECHO, 'terminal mode not restored'
    assert b'[summary]' not in out, 'the guest should not have finished: %r' % out


def case_deterministic():
    """Two runs with no host input: the same output, icount and virtual time."""
    runs = [run('demo', '--stats', timeout=120) for _ in range(2)]
    for code, out, err in runs:
        assert code == 0, 'status %d, stderr %r' % (code, err)
        assert 'icount' in err, err
    assert runs[0][1] == runs[1][1], 'outputs differ'
    stats = [[l for l in r[2].splitlines() if 'icount' in l] for r in runs]
    assert stats[0] == stats[1], stats


def case_max_insns():
    code, out, err = run('demo', '--max-insns', '5000', '--stats')
    assert code == 0, err
    assert 'icount 5000,' in err, err


def main():
    global FB, TMP
    FB, name = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as TMP:
        try:
            globals()['case_' + name]()
        except AssertionError as e:
            print('FAIL %s: %s' % (name, e))
            return 1
        except subprocess.TimeoutExpired:
            print('FAIL %s: timed out' % name)
            return 1
    print('PASS %s' % name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
