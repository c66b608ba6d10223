#!/usr/bin/env python3
"""test_packets.py - the gdb stub at the packet level, over a raw socket.

usage: test_packets.py FLASHBACK HELLO_ELF SPIN_ELF CASE

Bad input (malformed packets, bad checksums, oversized packets, unknown
packets, unmapped memory, packets in the wrong state, a client that
disconnects mid-packet) must get an answer or a dropped connection, never
a crash, and the stub must keep serving.
"""

import socket
import sys
import time

from gdbtest import Client, Flashback, check, check_error, fail, symbol

FLASHBACK, HELLO, SPIN, CASE = sys.argv[1:5]


def finish_hello(fb, c):
    """Detach and let the guest finish: the stub served to the end."""
    check(c.ask('D'), 'OK', 'detach')
    c.close()
    status = fb.finish()
    if status != 0x43:
        fail('flashback exited with %d after detach' % status)


def case_basics():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    sup = c.ask('qSupported:multiprocess+;swbreak+;hwbreak+')
    for feat in ('PacketSize=', 'qXfer:features:read+', 'swbreak+', 'hwbreak+',
                 'QStartNoAckMode+'):
        if feat not in sup:
            fail('qSupported lacks %s: %r' % (feat, sup))
    if 'ReverseStep' in sup:
        fail('a live run must not advertise reverse execution')
    check(c.ask('?'), 'T05thread:01;', 'initial stop')
    regs = c.ask('g')
    check(len(regs), (16 * 4 + 8 * 10 + 8 * 4) * 2, 'g length')
    check(regs[:8], '02b0ad2b', 'EAX in g')
    check(c.ask('p0'), '02b0ad2b', 'p0')
    xml = c.ask('qXfer:features:read:target.xml:0,fff')
    if not (xml.startswith('l') and 'org.gnu.gdb.i386.core' in xml and 'fop' in xml):
        fail('target description: %r' % xml[:200])
    check(c.ask('qC'), 'QC01', 'qC')
    check(c.ask('qfThreadInfo'), 'm01', 'qfThreadInfo')
    check(c.ask('qsThreadInfo'), 'l', 'qsThreadInfo')
    check(c.ask('qAttached'), '1', 'qAttached')
    check(c.ask('Hg0'), 'OK', 'Hg0')
    check(c.ask('vCont?'), 'vCont;c;C;s;S', 'vCont?')
    check(c.ask('P1=78563412'), 'OK', 'P ecx')
    check(c.ask('p1'), '78563412', 'ecx read back')
    check(c.ask('P1=00000000'), 'OK', 'P ecx back')
    check(c.ask('vCont;s:1'), 'T05thread:01;', 'single step')
    entry = symbol(HELLO, '_start')
    check(c.ask('p8'), (entry + 1).to_bytes(4, 'little').hex(), 'EIP after cli')
    finish_hello(fb, c)


def case_bad_checksum():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    c.send_raw(b'$g#00')
    c.expect_ack(b'-')
    c.send_raw(b'$?#zz')
    c.expect_ack(b'-')
    print('ok: bad checksums answered with -')
    # The stub retransmits its last reply when we say '-'.
    reply = c.ask('qC')
    c.send_raw(b'-')
    check(c.packet(), reply, 'retransmission after -')
    finish_hello(fb, c)


def case_malformed():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    for bad in ('m1000', 'mzz,4', 'm1000,', 'm1000,4x', 'M1000,4:1', 'M1000,4:zzzzzzzz',
                'Z0,1000', 'Z2,1000,0', 'Z2,1000,100000', 'P8', 'Pzz=00', 'P8=1', 'p',
                'p99', 'pzz', 'X1000,4:ab', 'qXfer:features:read:target.xml:zz',
                'qRcmd,6', 'qRcmd,zz', 'vCont;q', 'Hx1', 'c12345678901234567890',
                'm' + 'f' * 40 + ',4'):
        check_error(c.ask(bad), bad)
    check(c.ask('?'), 'T05thread:01;', 'still serving')
    finish_hello(fb, c)


def case_oversized():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    check_error(c.ask('m' * 10000), 'a 10000-byte packet')
    check_error(c.ask('M100000,1000:' + '00' * 0x1000), 'an M packet over PacketSize')
    check(c.ask('?'), 'T05thread:01;', 'still serving')
    finish_hello(fb, c)


def case_unknown():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    for unknown in ('qFooBar', 'vMustReplyEmpty', 'vFile:open:', 'Q', 'j', '!', 'bs', 'bc',
                    'Z7,1000,1', 'qTStatus'):
        check(c.ask(unknown), '', unknown)
    finish_hello(fb, c)


def case_unmapped():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    check(c.ask('mf0000000,4'), 'E14', 'read of unmapped memory')
    check(c.ask('mfee00000,4'), 'E14', 'read of MMIO (no side effects)')
    check(c.ask('Mf0000000,1:00'), 'E14', 'write to unmapped memory')
    check(c.ask('m7fffffe,4'), '0000', 'short read at the end of RAM')
    check(c.ask('mffffffff,2'), 'E16', 'read past 4 GiB')
    finish_hello(fb, c)


def case_disconnect():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    check(c.ask('Z0,%x,1' % symbol(HELLO, 'guest_main')), 'OK', 'breakpoint')
    c.send_raw(b'$m100000,4')  # cut off mid-packet
    c.close()
    time.sleep(0.2)
    c = Client(fb.port)
    check(c.ask('?'), 'T05thread:01;', 'still stopped for the next client')
    check(c.ask('m100000,4'), '02b0ad1b', 'memory after reconnect')
    c.send_raw(b'$qSupp')  # and once more, this time a half-sent packet then a close
    c.close()
    time.sleep(0.2)
    c = Client(fb.port)
    # The first client's breakpoint went with it: continue runs to the end.
    c.send('c')
    c.expect_ack()
    check(c.packet(), 'W43', 'the guest ran to its end')
    c.close()
    if fb.finish() != 0x43:
        fail('exit status')


def case_wrong_state():
    fb = Flashback(FLASHBACK, SPIN)
    c = Client(fb.port)
    c.send('c')
    c.expect_ack()
    for busy in ('g', 'm100000,4', 'Z0,100000,1', 'G00', 's'):
        check(c.ask(busy), 'E10', busy + ' while running')
    c.send_raw(b'\x03')
    check(c.packet(), 'T02thread:01;', 'Ctrl-C')
    check(c.ask('?'), 'T02thread:01;', '? after Ctrl-C')
    c.send_raw(b'\x03')  # while stopped: ignored
    check(c.ask('qC'), 'QC01', 'served after a stray Ctrl-C')
    # On a loaded machine the Ctrl-C can come before the guest's start-up
    # code has cleared .bss, which would clear stop_request again: run on
    # until the guest is in its loop (counter moving).
    counter = symbol(SPIN, 'counter')
    for _ in range(100):
        if int.from_bytes(bytes.fromhex(c.ask('m%x,4' % counter)), 'little'):
            break
        c.send('c')
        c.expect_ack()
        time.sleep(0.1)
        c.send_raw(b'\x03')
        check(c.packet(), 'T02thread:01;', 'Ctrl-C again')
    else:
        fail('the guest never reached its loop')
    stop = symbol(SPIN, 'stop_request')
    check(c.ask('M%x,4:01000000' % stop), 'OK', 'set stop_request')
    c.send('c')
    c.expect_ack()
    check(c.packet(), 'W2b', 'the guest ended')
    c.close()
    if fb.finish() != 0x2b:
        fail('exit status')


def case_no_ack():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    check(c.ask('QStartNoAckMode'), 'OK', 'QStartNoAckMode')
    c.ack = False
    c.send('qC')
    check(c.packet(), 'QC01', 'a reply without a + before it')
    c.send_raw(b'$qC#00')  # bad checksum: dropped silently in no-ack mode
    c.send('?')
    check(c.packet(), 'T05thread:01;', 'after a bad packet in no-ack mode')
    check(c.buf, b'', 'no stray acknowledgements')
    finish_hello(fb, c)


def case_interrupt():
    fb = Flashback(FLASHBACK, SPIN)
    c = Client(fb.port)
    counter = symbol(SPIN, 'counter')
    check(c.ask('m%x,4' % counter), '00000000', 'counter before running')
    c.send('vCont;c')
    c.expect_ack()
    time.sleep(0.3)
    c.send_raw(b'\x03')
    check(c.packet(), 'T02thread:01;', 'interrupted')
    value = int.from_bytes(bytes.fromhex(c.ask('m%x,4' % counter)), 'little')
    if value == 0:
        fail('the guest did not run')
    print('ok: counter = %d' % value)
    check(c.ask('Z2,%x,4' % counter), 'OK', 'write watchpoint')
    c.send('c')
    c.expect_ack()
    check(c.packet(), 'T05watch:%08x;thread:01;' % counter, 'watchpoint stop')
    after = int.from_bytes(bytes.fromhex(c.ask('m%x,4' % counter)), 'little')
    check(after, value + 1, 'counter after the watched write')
    check(c.ask('z2,%x,4' % counter), 'OK', 'remove watchpoint')
    check(c.ask('M%x,4:01000000' % symbol(SPIN, 'stop_request')), 'OK', 'stop the guest')
    c.send('c')
    c.expect_ack()
    check(c.packet(), 'W2b', 'exit')
    c.close()
    if fb.finish() != 0x2b:
        fail('exit status')


def case_binary_write():
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    addr = 0x200000
    data = bytes([0x7d ^ 0x20, 0x23 ^ 0x20, 0x24 ^ 0x20, 0x2a ^ 0x20, 0x00, 0x41])
    escaped = b'}' + bytes([0x5d]) + b'}' + bytes([0x03]) + b'}' + bytes([0x04]) + \
        b'}' + bytes([0x0a]) + b'\x00A'
    expect = bytes([0x7d, 0x23, 0x24, 0x2a, 0x00, 0x41])
    del data
    c.send(b'X%x,%x:' % (addr, len(expect)) + escaped)
    c.expect_ack()
    check(c.packet(), 'OK', 'X with escaped bytes')
    check(c.ask('m%x,%x' % (addr, len(expect))), expect.hex(), 'read back')
    check(c.ask('X%x,0:' % addr), 'OK', 'X probe')
    check(c.ask('M%x,2:beef' % addr), 'OK', 'M')
    check(c.ask('m%x,2' % addr), 'beef', 'M read back')
    finish_hello(fb, c)


def case_code_write():
    """Code written by gdb over an instruction already executed (and so
    decoded and cached) is what runs next."""
    fb = Flashback(FLASHBACK, HELLO)
    c = Client(fb.port)
    entry = symbol(HELLO, '_start')
    check(c.ask('s'), 'T05thread:01;', 'step over cli')
    check(c.ask('P8=' + entry.to_bytes(4, 'little').hex()), 'OK', 'EIP back to the entry')
    check(c.ask('M%x,1:40' % entry), 'OK', 'inc eax over cli')
    check(c.ask('s'), 'T05thread:01;', 'step the new instruction')
    check(c.ask('p0'), '03b0ad2b', 'EAX incremented')
    check(c.ask('P0=02b0ad2b'), 'OK', 'EAX restored')
    check(c.ask('M%x,1:fa' % entry), 'OK', 'cli restored')
    finish_hello(fb, c)


def case_localhost():
    fb = Flashback(FLASHBACK, HELLO)
    with open('/proc/net/tcp') as f:
        rows = [line.split() for line in f.readlines()[1:]]
    listening = [r[1] for r in rows if r[3] == '0A' and int(r[1].split(':')[1], 16) == fb.port]
    check(listening, ['0100007F:%04X' % fb.port], 'listens on 127.0.0.1 only')
    c = Client(fb.port)
    # A second client is refused while one is connected.
    other = socket.create_connection(('127.0.0.1', fb.port), timeout=5)
    if other.recv(16) != b'':
        fail('a second client was served')
    other.close()
    print('ok: second client closed')
    finish_hello(fb, c)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith('case_')}

if __name__ == '__main__':
    if CASE not in CASES:
        fail('unknown case ' + CASE)
    CASES[CASE]()
    print('PASS packets-' + CASE)
