#!/usr/bin/env python3
"""test_screen.py - the VGA text screen: `flashback screen` and -display curses.

usage: test_screen.py FLASHBACK GUESTS_DIR CASE [--bios BIOS --disk IMG]

The vga test guest (tests/guests/vga.c) writes 26 rows into 0xB8000 and
moves the CRTC start address down one row: its screen must show "row 01"
at the top and "row 25    last line" at the bottom, the title in yellow
on blue.  Cases:
  guest        record it, replay --verify, screen at the end and at the start
  color        screen --color: the attribute as ANSI colours
  start        screen right before and after the start-address write
  bad          bad icounts and usage: one line, exit 2
  no_vga       a recording made with -vga none has no text screen: exit 2
  display      -display curses -serial null: the last frame is the screen
  display_bad  -display curses with -serial stdio, -display bogus: exit 2
  seabios      SeaBIOS with its VGA BIOS booting a boot sector: its boot
               screen, recorded and read back
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

FB = GUESTS = None


def run(*args, timeout=120):
    p = subprocess.run([FB] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', errors='replace'), \
        p.stderr.decode(errors='replace')


def fail(msg):
    print('FAIL: ' + msg)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def record_guest(tmp, *extra, passes=True):
    trace = os.path.join(tmp, 'vga.fbt')
    code, out, err = run('record', '-o', trace, '-kernel', os.path.join(GUESTS, 'vga.elf'),
                         '-serial', 'stdio', '--max-insns', '500000000', *extra)
    expect(code == 1 and 'PASS vga' in out if passes else os.path.isdir(trace),
           'record: status %d\n%s%s' % (code, out, err))
    return trace


def final_icount(trace):
    code, out, err = run('query', trace, '--csv',
                         "SELECT value FROM meta WHERE key = 'final_icount'")
    expect(code == 0, 'query: ' + err)
    return int(out.splitlines()[1])


def screen(trace, at, *extra):
    code, out, err = run('screen', trace, '--at', at, *extra)
    expect(code == 0, 'screen --at %s: status %d: %s' % (at, code, err))
    return out.split('\n')[:-1]


def one_line_error(args, needle):
    code, out, err = run(*args)
    expect(code == 2, '%s: status %d, want 2' % (' '.join(map(str, args)), code))
    lines = err.strip().split('\n')
    expect(len(lines) == 1 and needle in lines[0],
           '%s: want one line with %r on stderr, got %r' % (' '.join(map(str, args)), needle, err))


def check_guest_screen(lines):
    expect(len(lines) == 25, 'want 25 lines, got %d: %r' % (len(lines), lines))
    expect(lines[0] == 'row 01    Flashback VGA test', 'top line %r' % lines[0])
    expect(lines[24] == 'row 25    last line', 'bottom line %r' % lines[24])
    for r in range(1, 24):
        expect(lines[r] == 'row %02d' % (r + 1), 'line %d: %r' % (r, lines[r]))


def case_guest(tmp):
    trace = record_guest(tmp)
    code, out, err = run('replay', trace, '--verify')
    expect(code == 0 and 'verified:' in out, 'replay --verify: %d %s' % (code, err))
    end = final_icount(trace)
    check_guest_screen(screen(trace, end))
    # At the start the text buffer is RAM nobody wrote: 25 blank lines.
    start = screen(trace, 0)
    expect(start == [''] * 25, 'screen at icount 0: %r' % start)


def case_color(tmp):
    trace = record_guest(tmp)
    lines = screen(trace, final_icount(trace), '--color')
    expect(len(lines) == 25, '%d lines' % len(lines))
    # 0x1E: yellow (bright brown, 93) on blue (44); 0x07: light grey on black.
    expect('\x1b[0;93;44mFlashback VGA test' in lines[0], 'title colours: %r' % lines[0])
    expect(lines[1].startswith('\x1b[0;37;40mrow 02'), 'row colours: %r' % lines[1])
    expect(all(len(re.sub(r'\x1b\[[0-9;]*m', '', l)) == 80 for l in lines),
           'with colours every line has its 80 cells')


def case_start(tmp):
    """The start address change is journalled: before it the screen begins
    with row 00, after it with row 01."""
    trace = record_guest(tmp)
    code, out, err = run('events', trace, '--kind', 'map-change', '--journal')
    expect(code == 0, 'events: ' + err)
    starts = [(int(l.split()[0]), l) for l in out.splitlines() if 'display' in l]
    moved = [i for i, l in starts if 'start 80' in l]
    expect(len(moved) == 1 and starts[0][0] == 0 and 'start 0' in starts[0][1],
           'display events: %r' % starts)
    before = screen(trace, moved[0] - 1)
    after = screen(trace, moved[0])
    expect(before[0].startswith('row 00') and before[1].startswith('row 01'),
           'before the start address moved: %r' % before[:2])
    expect(after[0].startswith('row 01'), 'after: %r' % after[:2])


def case_bad(tmp):
    trace = record_guest(tmp)
    end = final_icount(trace)
    one_line_error(['screen', trace, '--at', end + 1], 'outside the recording')
    one_line_error(['screen', trace, '--at', 'x12'], '--at')
    one_line_error(['screen', trace], 'usage: flashback screen')
    one_line_error(['screen', trace, '--at', '5', '--bogus'], 'unknown option')
    one_line_error(['screen', os.path.join(tmp, 'missing.fbt'), '--at', '5'], 'missing.fbt')


def case_no_vga(tmp):
    # Without a VGA the guest's console checks fail, as under QEMU -vga none.
    trace = record_guest(tmp, '-vga', 'none', passes=False)
    one_line_error(['screen', trace, '--at', final_icount(trace)], 'no text screen')


def case_display(tmp):
    serial = os.path.join(tmp, 'serial.txt')
    code, out, err = run('run', '-kernel', os.path.join(GUESTS, 'vga.elf'), '-display', 'curses',
                         '-serial', 'file:' + serial, '--max-insns', '500000000')
    expect(code == 1, 'run: status %d: %s' % (code, err))
    expect('PASS vga' in open(serial).read(), 'the serial port still gets the console')
    # The last frame: home, then the 25 rows.
    last = out.rsplit('\x1b[H', 1)[-1]
    plain = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', last).split('\r\n')
    expect(plain[0].startswith('row 01    Flashback VGA test'), 'frame top %r' % plain[:1])
    expect(len(plain) >= 25 and plain[24].startswith('row 25    last line'),
           'frame bottom %r' % plain[24:25])
    # The cursor where the CRTC says: row 25, column 10, in reverse video.
    expect('\x1b[25;10H\x1b[0;7m ' in last, 'cursor position not drawn')


def case_display_bad(tmp):
    k = os.path.join(GUESTS, 'vga.elf')
    one_line_error(['run', '-kernel', k, '-display', 'curses'], '-serial stdio')
    one_line_error(['run', '-kernel', k, '-display', 'bogus'], 'curses')
    one_line_error(['run', '-kernel', k, '-vga', 'cga'], 'std or none')
    one_line_error(['run', '-kernel', k, '-vga', 'none', '-display', 'curses', '-serial', 'null'],
                   '-vga none')


def case_seabios(tmp, bios, disk):
    trace = os.path.join(tmp, 'bios.fbt')
    code, out, err = run('record', '-o', trace, '-bios', bios, '-hda', disk, '-no-reboot',
                         '--max-insns', '2000000000')
    expect(code == 1 and 'PASS' in out, 'record: status %d %s' % (code, err))
    code, out, err = run('replay', trace, '--verify')
    expect(code == 0, 'replay --verify: ' + err)
    lines = screen(trace, final_icount(trace))
    text = '\n'.join(lines)
    expect('SeaBIOS (version' in text and 'Booting from Hard Disk...' in text,
           'the boot screen:\n' + text)


def main():
    global FB, GUESTS
    ap = argparse.ArgumentParser()
    ap.add_argument('flashback')
    ap.add_argument('guests')
    ap.add_argument('case')
    ap.add_argument('--bios')
    ap.add_argument('--disk')
    args = ap.parse_args()
    FB, GUESTS = os.path.abspath(args.flashback), args.guests
    with tempfile.TemporaryDirectory() as tmp:
        if args.case == 'seabios':
            case_seabios(tmp, args.bios, args.disk)
        else:
            globals()['case_' + args.case](tmp)
    print('PASS ' + args.case)
    return 0


if __name__ == '__main__':
    sys.exit(main())
