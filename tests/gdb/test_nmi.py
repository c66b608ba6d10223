#!/usr/bin/env python3
"""test_nmi.py - an NMI on the PC's NMI line (the local APIC's LINT1), sent
by gdb's "monitor nmi", reaches the guest once.

usage: test_nmi.py flashback FLASHBACK NMI_ELF
       test_nmi.py qemu QEMU NMI_ELF

The nmi guest (tests/guests/nmi.c) runs with -append lint1: after its ICR
and IOAPIC cases it sets LVT LINT1 to NMI mode, prints "nmi: waiting on
LINT1" and spins.  Over the remote protocol we continue it, wait for that
line, interrupt it (Ctrl-C), send qRcmd "nmi" - QEMU's monitor command of
that name, which QEMU delivers through LINT1 too - and continue: the guest
must say "nmi: LINT1 NMI once" and "PASS nmi" and leave through port 0xF4
(status 1).
"""

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import time

from gdbtest import Client, Flashback, fail, free_port

WHO, EMU, GUEST = sys.argv[1:4]


class Qemu:
    """qemu-system-i386 -gdb tcp:127.0.0.1:PORT -S, serial to a file."""

    def __init__(self, qemu, guest):
        self.dir = tempfile.mkdtemp(prefix='fbnmi-')
        self.serial = os.path.join(self.dir, 'serial.txt')
        self.port = free_port()
        args = [qemu, '-nodefaults', '-machine', 'pc', '-display', 'none',
                '-kernel', guest, '-append', 'lint1', '-serial', 'file:' + self.serial,
                '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-no-reboot',
                '-gdb', 'tcp:127.0.0.1:%d' % self.port, '-S']
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(self.kill)  # a failing test must not leave QEMU behind
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail('qemu exited early with %d' % self.proc.returncode)
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        fail('qemu never listened on its gdb port')

    def serial_output(self):
        try:
            with open(self.serial, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def finish(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail('qemu did not exit within %d s' % timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_serial(emu, text, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in emu.serial_output():
            return
        time.sleep(0.05)
    fail('%r never appeared; serial output: %r' % (text, emu.serial_output()))


def next_reply(c, skip='O'):
    """The next packet that is not console output ("O" and hex digits) nor
    starts with a letter of @skip ("OK" always counts)."""
    while True:
        p = c.packet()
        if p == 'OK' or not p or p[0] not in skip:
            return p


def main():
    if WHO == 'qemu':
        emu = Qemu(EMU, GUEST)
        # QEMU's stub needs its client to connect again: the probe closed.
        time.sleep(0.2)
    else:
        emu = Flashback(EMU, GUEST, extra=['-append', 'lint1'])
        atexit.register(emu.kill)  # nor flashback
    c = Client(emu.port)
    c.send('c')
    wait_serial(emu, 'nmi: waiting on LINT1')
    if 'LINT1 NMI once' in emu.serial_output():
        fail('the guest saw an NMI before gdb sent one')
    c.send_raw(b'\x03')
    reply = next_reply(c)
    if not (reply.startswith('T') or reply.startswith('S')):
        fail('stop reply after Ctrl-C: %r' % reply)
    c.send('qRcmd,' + b'nmi'.hex())
    if c.ack:
        c.expect_ack()
    # QEMU may send a late stop reply of its own before the answer.
    reply = next_reply(c, 'OST')
    if reply != 'OK':
        fail('monitor nmi: %r' % reply)
    print('ok: monitor nmi -> OK')
    c.send('c')
    status = emu.finish()
    out = emu.serial_output()
    if status != 1 or 'nmi: LINT1 NMI once' not in out or 'PASS nmi' not in out or 'FAIL' in out:
        fail('status %d, serial output %r' % (status, out))
    print('PASS nmi on LINT1 under %s' % WHO)
    return 0


if __name__ == '__main__':
    sys.exit(main())
