#!/usr/bin/env python3
"""test_bad.py - the stub's breakpoints, watchpoints, memory history and goto
under bad input and interruption, at packet level: each gets one reply (an
error, or one line of monitor output), and nothing hangs.

usage: test_bad.py FLASHBACK REACH_ELF DISK LOOP_ELF SPIN_ELF GUESTS_DIR CASE

  points_live, points_replay
      more watchpoints (GDB_MAX_WATCHPOINTS, 16, for Z2-Z4 together) and
      breakpoints (64) than the stub holds: E28, and a freed slot is usable
      again; malformed points (length 0 or above 256, beyond 4 GiB, an
      unknown type): E16 or the empty reply.  Points at unmapped addresses
      (a kernel's breakpoint before paging maps it) and inside an
      instruction are accepted and never stop; a watchpoint at an odd
      address, unaligned, 4 bytes of which only the last overlaps the word
      a PUSH writes, stops right after that PUSH.  Then the guest runs to
      its end.
  monitor_bad
      monitor history with a length of 0, past 4 GiB, on unmapped memory,
      without an address; monitor goto outside the recording or without a
      number: one line each, and the position does not move.
  monitor_pages
      monitor history through the paging guest's window page finds the
      write made through it; a range into the unmapped page after it is
      refused (it would watch the physical page after, which that linear
      page does not map).
  interrupt
      Ctrl-C (0x03) stops a continue on a long recording (3 * 10^8
      instructions of the loop guest), a reverse-continue from its end, a
      monitor history over it, and a live continue of a guest that never
      ends, each with a watchpoint set (the CPU's slow path on its page).
"""

import os
import re
import subprocess
import sys
import tempfile
import time

from gdbtest import Client, Flashback, ReplayServer, check, check_error, fail, record, symbol

FLASHBACK, REACH, DISK, LOOP, SPIN, GUESTS, CASE = sys.argv[1:8]
LONG = 300000000  # instructions in the long recording
UNUSED = 0x200000  # RAM no guest here touches


def monitor(c, cmd):
    """The text of `monitor CMD`."""
    c.send('qRcmd,' + cmd.encode().hex())
    c.expect_ack()
    text = ''
    while True:
        p = c.packet()
        if p == 'OK':
            return text
        if not p.startswith('O'):
            fail('monitor %s: %r' % (cmd, p))
        text += bytes.fromhex(p[1:]).decode()


def icount(c):
    return int(monitor(c, 'icount').split()[0])


def eip(c):
    return int.from_bytes(bytes.fromhex(c.ask('p8')), 'little')


def end_icount(trace):
    info = subprocess.run([FLASHBACK, 'info', trace], capture_output=True, text=True).stdout
    return int(re.search(r'final icount (\d+)', info).group(1))


def kill(srv, c):
    c.send('k')
    c.close()
    status = srv.finish()
    if status != 0:
        fail('flashback gdb exited with %d after k: %s' % (status, srv.stderr()))
    print('ok: exit 0 after k')


def past_bss_clear(c, elf):
    """To guest_main: watchpoints set from here on do not see _start clear
    .bss (a write of zeros over zeros, which the stub reports too)."""
    check(c.ask('Z0,%x,1' % symbol(elf, 'guest_main')), 'OK', 'breakpoint at guest_main')
    check(c.ask('vCont;c'), 'T05swbreak:;thread:01;', 'at guest_main')
    check(c.ask('z0,%x,1' % symbol(elf, 'guest_main')), 'OK', 'removed')


def points(c, end_reply):
    # limits: 16 watchpoints of any kind, 64 breakpoints
    for i in range(16):
        check(c.ask('Z%d,%x,4' % (2 + i % 3, UNUSED + 8 * i)), 'OK', 'watchpoint %d' % (i + 1))
    for t in (2, 3, 4):
        check(c.ask('Z%d,%x,4' % (t, UNUSED + 0x100)), 'E28', 'a 17th watchpoint (Z%d)' % t)
    check(c.ask('z2,%x,4' % UNUSED), 'OK', 'one removed')
    check(c.ask('Z4,%x,4' % (UNUSED + 0x100)), 'OK', 'its slot used again')
    check(c.ask('Z2,%x,4' % (UNUSED + 0x200)), 'E28', 'and no more')
    for i in range(1, 16):
        check(c.ask('z%d,%x,4' % (2 + i % 3, UNUSED + 8 * i)), 'OK', 'removed %d' % i)
    check(c.ask('z4,%x,4' % (UNUSED + 0x100)), 'OK', 'the last removed')
    for i in range(64):
        check(c.ask('Z0,%x,1' % (UNUSED + i)), 'OK', 'breakpoint %d' % (i + 1))
    check(c.ask('Z0,%x,1' % (UNUSED + 64)), 'E28', 'a 65th breakpoint')
    check(c.ask('Z1,%x,1' % (UNUSED + 64)), 'E28', 'a 65th (hardware) breakpoint')
    for i in range(64):
        check(c.ask('z0,%x,1' % (UNUSED + i)), 'OK', 'breakpoint %d removed' % (i + 1))
    # malformed
    check_error(c.ask('Z2,%x,0' % UNUSED), 'a watchpoint of 0 bytes')
    check_error(c.ask('Z2,%x,101' % UNUSED), 'a watchpoint of 257 bytes')
    check_error(c.ask('Z2,fffffffe,4'), 'a watchpoint beyond 4 GiB')
    check_error(c.ask('Z0,100000000,1'), 'a breakpoint beyond 4 GiB')
    check_error(c.ask('Z0,100000'), 'a breakpoint without a kind')
    check(c.ask('Z5,100000,1'), '', 'an unknown type')
    # unmapped, inside an instruction, unaligned: accepted
    past_bss_clear(c, REACH)
    wstack15 = symbol(REACH, 'wstack') + 60
    odd = wstack15 - 3
    check(c.ask('Z0,f0000000,1'), 'OK', 'a breakpoint at an unmapped address')
    check(c.ask('Z1,%x,1' % (symbol(REACH, 'w_push1') + 1)), 'OK',
          'a breakpoint inside an instruction')
    check(c.ask('Z2,f0000000,4'), 'OK', 'a watchpoint at an unmapped address')
    check(c.ask('Z3,f0000001,3'), 'OK', 'a read watchpoint there, odd')
    check(c.ask('Z2,%x,4' % odd), 'OK', 'a watchpoint at an odd address')
    check(c.ask('vCont;c'), 'T05watch:%08x;thread:01;' % odd, 'the PUSH into its last byte')
    check(eip(c), symbol(REACH, 'w_pop1'), 'stopped right after it')
    check(c.ask('z2,%x,4' % odd), 'OK', 'removed')
    check(c.ask('vCont;c'), end_reply, 'nothing else stops')


def case_points_live():
    fb = Flashback(FLASHBACK, REACH, machine=['-kernel', REACH, '-hda', DISK])
    c = Client(fb.port)
    c.sock.settimeout(60)
    points(c, 'W01')
    c.close()
    status = fb.finish()
    if status != 1:
        fail('flashback exited with %d: %s' % (status, fb.stderr()))


def case_points_replay():
    trace = record(FLASHBACK, REACH, tempfile.mkdtemp(prefix='fbbad-'),
                   machine=['-kernel', REACH, '-hda', DISK])
    srv = ReplayServer(FLASHBACK, trace)
    c = Client(srv.port)
    c.sock.settimeout(60)
    points(c, 'T05replaylog:end;thread:01;')
    kill(srv, c)


def one_line(text, pattern, what):
    lines = text.splitlines()
    if len(lines) != 1 or not re.search(pattern, lines[0]):
        fail('%s: %r, expected one line matching %r' % (what, text, pattern))
    print('ok: %s -> %r' % (what, lines[0]))


def case_monitor_bad():
    trace = record(FLASHBACK, REACH, tempfile.mkdtemp(prefix='fbbad-'),
                   machine=['-kernel', REACH, '-hda', DISK])
    end = end_icount(trace)
    srv = ReplayServer(FLASHBACK, trace)
    c = Client(srv.port)
    c.sock.settimeout(60)
    monitor(c, 'goto 1000')
    usage = r'^usage: monitor history ADDR \[LEN\]'
    one_line(monitor(c, 'history 0x104000 0'), usage, 'history of 0 bytes')
    one_line(monitor(c, 'history 0xfffffffe 4'), usage, 'history beyond 4 GiB')
    one_line(monitor(c, 'history 0x104000 0x1000001'), usage, 'history of 16 MiB + 1')
    one_line(monitor(c, 'history'), usage, 'history without an address')
    one_line(monitor(c, 'history zz'), usage, 'history of a bad number')
    one_line(monitor(c, 'history 0xf0000000'), r'^0xf0000000 is not mapped to RAM here$',
             'history of unmapped memory')
    one_line(monitor(c, 'goto %d' % (end + 1)),
             r'^icount %d is outside the recording \(0 to %d\): not moved$' % (end + 1, end),
             'goto past the end')
    one_line(monitor(c, 'goto 99999999999999999999999'), r'is outside the recording',
             'goto beyond 64 bits')
    one_line(monitor(c, 'goto -1'), r'is outside the recording', 'goto -1')
    one_line(monitor(c, 'goto'), r'^usage: monitor goto ICOUNT$', 'goto without a number')
    one_line(monitor(c, 'goto 12x'), r'^usage: monitor goto ICOUNT$', 'goto of a bad number')
    check(icount(c), 1000, 'not moved')
    kill(srv, c)


def case_monitor_pages():
    """monitor history translates through the guest's paging at this point: a
    window page of the paging guest finds the write made through it; a range
    whose next page is not mapped is refused with one line."""
    paging = os.path.join(GUESTS, 'paging.elf')
    trace = record(FLASHBACK, paging, tempfile.mkdtemp(prefix='fbbad-'))
    page_a = symbol(paging, 'page_a')
    out = subprocess.run([FLASHBACK, 'history', trace, '--addr', hex(page_a + 0x200), '--phys'],
                         capture_output=True, text=True).stdout
    m = re.search(r'^\s*(\d+)  \S+\s+mov dword ptr \[0x40000200\], eax .* -> cafef00d$', out,
                  re.M)
    if not m:
        fail('the paging guest did not write through its window: %r' % out)
    srv = ReplayServer(FLASHBACK, trace)
    c = Client(srv.port)
    c.sock.settimeout(60)
    monitor(c, 'goto ' + m.group(1))
    text = monitor(c, 'history 0x40000200 4')
    if not re.search(r'^writes to 0x40000200 \(phys 0x%08x\)' % (page_a + 0x200), text, re.M) or \
            not re.search(r'^\s*%s  .* -> cafef00d$' % m.group(1), text, re.M):
        fail('monitor history through the window: %r' % text)
    print('ok: monitor history 0x40000200 is page A\'s, with the write through the window')
    one_line(monitor(c, 'history 0x40000ffc 8'),
             r'^0x40000ffc \+8: the pages are not one physical range here$',
             'a range whose second page is not mapped')
    kill(srv, c)


def interrupted(c, what):
    """Ctrl-C right after a command: the stop reply, in bounded time."""
    c.send_raw(b'\x03')
    t = time.time()
    reply = c.packet()
    check(reply, 'T02thread:01;', what + ': Ctrl-C answered as SIGINT')
    return time.time() - t


def case_interrupt():
    trace = record(FLASHBACK, LOOP, tempfile.mkdtemp(prefix='fbbad-'),
                   extra=['--max-insns', str(LONG)])
    end = end_icount(trace)
    if end != LONG:
        fail('the long recording ends at %d' % end)
    srv = ReplayServer(FLASHBACK, trace)
    c = Client(srv.port)
    c.sock.settimeout(60)
    marker = symbol(LOOP, 'marker')
    # a watchpoint beside `counter`, which the loop writes all the time:
    # every access to that page takes the CPU's slow path
    past_bss_clear(c, LOOP)
    check(c.ask('Z2,%x,4' % (symbol(LOOP, 'counter') + 16)), 'OK', 'watchpoint')
    c.send('vCont;c')
    c.expect_ack()
    time.sleep(0.1)
    dt = interrupted(c, 'continue')
    here = icount(c)
    if not here < end:
        fail('the continue was not interrupted: icount %d' % here)
    print('ok: continue stopped at icount %d, %.2f s after Ctrl-C' % (here, dt))

    monitor(c, 'goto %d' % end)
    c.send('bc')
    c.expect_ack()
    dt = interrupted(c, 'reverse-continue')
    here = icount(c)
    if not 0 < here < end:
        fail('the reverse-continue was not interrupted: icount %d' % here)
    print('ok: reverse-continue stopped at icount %d, %.2f s after Ctrl-C' % (here, dt))

    c.send('qRcmd,' + ('history 0x%x 4' % marker).encode().hex())
    c.expect_ack()
    c.send_raw(b'\x03')
    t, text = time.time(), ''
    while True:
        p = c.packet()
        if p == 'OK':
            break
        text += bytes.fromhex(p[1:]).decode()
    print(text)
    m = re.search(r'^history: stopped at icount (\d+)$', text, re.M)
    if not m or not int(m.group(1)) < end:
        fail('monitor history was not stopped: %r' % text)
    print('ok: monitor history stopped at icount %s, %.2f s after Ctrl-C' %
          (m.group(1), time.time() - t))
    check(icount(c), here, 'and went back to where it was')
    kill(srv, c)

    # live: a guest that never ends
    fb = Flashback(FLASHBACK, SPIN)
    c = Client(fb.port)
    c.sock.settimeout(60)
    past_bss_clear(c, SPIN)
    check(c.ask('Z2,%x,4' % (symbol(SPIN, 'counter') + 16)), 'OK', 'watchpoint (live)')
    check(c.ask('Z0,f0000000,1'), 'OK', 'breakpoint never reached (live)')
    c.send('vCont;c')
    c.expect_ack()
    time.sleep(0.3)
    dt = interrupted(c, 'live continue')
    print('ok: live continue stopped at icount %d, %.2f s after Ctrl-C' % (icount(c), dt))
    c.send('k')
    c.close()
    fb.finish()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith('case_')}

if CASE not in CASES:
    fail('unknown case ' + CASE)
CASES[CASE]()
print('PASS ' + CASE)
