#!/usr/bin/env python3
"""test_gdb.py - the real gdb against `flashback run -S -gdb tcp::PORT`.

usage: test_gdb.py FLASHBACK HELLO_ELF SPIN_ELF GDB CASE

Each case writes a gdb command file, runs `gdb -batch -nx` with the guest's
symbols, and checks gdb's output, the guest's serial output and flashback's
exit status.  At the end of a batch gdb detaches (qAttached says 1), so the
guest runs to its end: hello exits with status 0x43.
"""

import os
import re
import subprocess
import sys

from gdbtest import Flashback, fail, symbol

FLASHBACK, HELLO, SPIN, GDB, CASE = sys.argv[1:6]
HELLO_STATUS = 0x43
SPIN_STATUS = 0x2b


def run_gdb(fb, guest, commands, connect=True, timeout=120):
    path = os.path.join(fb.dir, 'cmds%d.gdb' % len(os.listdir(fb.dir)))
    with open(path, 'w') as f:
        f.write('\n'.join(commands) + '\n')
    args = [GDB, '-batch', '-nx', '-ex', 'set architecture i386', '-ex', 'file ' + guest]
    if connect:
        args += ['-ex', 'target remote 127.0.0.1:%d' % fb.port]
    args += ['-x', path]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fb.kill()
        fail('gdb did not finish within %d s' % timeout)
    out = r.stdout + r.stderr
    print(out)
    return out


def expect(out, pattern, what):
    m = re.search(pattern, out, re.M)
    if not m:
        fail('%s: no match for %r' % (what, pattern))
    return m


def hex_values(out, name):
    """Values of `p/x $name`-style lines tagged 'name = 0x...'."""
    return [int(v, 16) for v in re.findall(r'^%s = (0x[0-9a-f]+)' % re.escape(name), out, re.M)]


def expect_exit(fb, status, text=None):
    got = fb.finish()
    if got != status:
        fail('flashback exited with %d, expected %d; stderr: %s' % (got, status, fb.stderr()))
    if text and text not in fb.serial_output():
        fail('serial output lacks %r: %r' % (text, fb.serial_output()))


def case_entry_registers():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['info registers', 'echo EAX=\\n', 'p/x $eax', 'p/x $eip'])
    expect(out, r'^eax\s+0x2badb002', 'info registers eax')
    expect(out, r'^eip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <_start>', 'eip at _start')
    expect(out, r'^cs\s+0x', 'segment registers')
    if symbol(HELLO, '_start') not in [int(x, 16) for x in re.findall(r'= (0x[0-9a-f]+)', out)]:
        fail('p/x $eip is not _start')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_break_continue():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break guest_main', 'continue', 'p/x $pc', 'hbreak printf',
                              'continue', 'bt', 'info breakpoints'])
    expect(out, r'^Breakpoint 1, guest_main \(\)', 'software breakpoint hit')
    if symbol(HELLO, 'guest_main') not in [int(x, 16) for x in re.findall(r'= (0x[0-9a-f]+)', out)]:
        fail('$pc at the breakpoint is not guest_main')
    expect(out, r'^Hardware assisted breakpoint 2 at', 'hbreak set')
    expect(out, r'^Breakpoint 2, (0x[0-9a-f]+ in )?printf', 'hbreak hit')
    expect(out, r'^#1 .* in guest_main', 'backtrace through the caller')
    expect(out, r'breakpoint already hit 1 time', 'hit count')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_stepi():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break guest_main', 'continue', 'p/x $pc', 'monitor icount',
                              'stepi', 'p/x $pc', 'monitor icount', 'next', 'p/x $pc',
                              'step', 'bt 1', 'finish'])
    pcs = [int(x, 16) for x in re.findall(r'^\$\d+ = (0x[0-9a-f]+)', out, re.M)]
    counts = [int(x) for x in re.findall(r'^(\d+)$', out, re.M)]
    if len(pcs) != 3 or len(counts) != 2:
        fail('expected 3 pcs and 2 icounts, got %r %r' % (pcs, counts))
    if pcs[0] != symbol(HELLO, 'guest_main') or pcs[1] == pcs[0]:
        fail('stepi did not move EIP: %r' % pcs)
    if counts[1] != counts[0] + 1:
        fail('stepi retired %d instructions' % (counts[1] - counts[0]))
    if pcs[2] == pcs[1]:
        fail('next did not move EIP')
    expect(out, r'^Value returned is \$\d+ = ', 'finish')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_memory():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break guest_main', 'continue', 'x/4xw &multiboot_magic',
                              'set var multiboot_info = 0x12345678',
                              'x/1xw &multiboot_info', 'set var multiboot_info = 0x9000',
                              'x/4xb 0x100000', 'x/2xb 0xf0000000'])
    magic = symbol(HELLO, 'multiboot_magic')
    expect(out, r'^0x%x[^:]*:\s+0x2badb002\s+0x00009000' % magic, 'x/4x of the variables')
    expect(out, r'^0x%x[^:]*:\s+0x12345678' % (magic + 4), 'memory write read back')
    expect(out, r'Cannot access memory at address 0xf0000000', 'unmapped memory')
    # The multiboot header at 1 MiB starts with its magic 0x1BADB002.
    expect(out, r'0x100000[^:]*:\s+0x02\s+0xb0\s+0xad\s+0x1b', 'x/4xb of the kernel image')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_set_register():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break guest_main', 'continue', 'p/x $ecx', 'set $ecx = 0x12345678',
                              'p/x $ecx', 'info registers ecx', 'set $edi = 0xcafe',
                              'p/x $edi', 'monitor info registers'])
    vals = [int(x, 16) for x in re.findall(r'^\$\d+ = (0x[0-9a-f]+)', out, re.M)]
    if len(vals) != 3 or vals[1] != 0x12345678 or vals[2] != 0xcafe:
        fail('register writes not read back: %r' % vals)
    expect(out, r'^ecx\s+0x12345678', 'info registers after the write')
    expect(out, r'ECX=12345678', 'the CPU itself has the value')
    expect(out, r'EDI=0000cafe', 'the CPU itself has the value')
    fb.finish()


def case_watch_write():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['watch multiboot_magic', 'continue', 'p/x $pc', 'delete',
                              'continue'])
    expect(out, r'^Hardware watchpoint 1: multiboot_magic\s*\n\s*Old value = 0\s*\nNew value = 732803074',
           'watchpoint with old and new values')
    expect(out, r'^_start \(\) at .*start\.asm', 'stopped in _start after the store')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_watch_read():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break guest_main', 'continue', 'rwatch multiboot_info',
                              'continue', 'delete', 'awatch multiboot_magic', 'continue'])
    expect(out, r'^Hardware read watchpoint 2: multiboot_info\s*\n\s*Value = 36864',
           'read watchpoint')
    expect(out, r'^Hardware access \(read/write\) watchpoint 3: multiboot_magic\s*\n\s*Value = 732803074',
           'access watchpoint on a read (check() reads the magic)')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_monitor():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['monitor icount', 'stepi', 'monitor icount', 'monitor info mtree',
                              'monitor info registers', 'monitor help', 'monitor bogus'])
    counts = [int(x) for x in re.findall(r'^(\d+)$', out, re.M)]
    if counts[:2] != [0, 1]:
        fail('monitor icount: %r' % counts)
    expect(out, r'pc\.ram', 'mtree lists RAM')
    expect(out, r'FlatView for I/O', 'mtree flat view')
    expect(out, r'^CR0=[0-9a-f]{7}1 CR2=00000000 CR3=00000000 CR4=00000000', 'control registers')
    expect(out, r'^EAX=2badb002', 'info registers')
    expect(out, r'monitor info mtree', 'help lists mtree')
    expect(out, r"unknown monitor command 'bogus'", 'unknown monitor command')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_detach_exit():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break check_done', 'continue', 'detach'])
    expect(out, r'^Breakpoint 1, (0x[0-9a-f]+ in )?check_done', 'breakpoint before detach')
    expect(out, r'Detaching from program|detached', 'detach')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_attach_running():
    """Without -S the guest runs; gdb attaches, which stops it, and ends it."""
    fb = Flashback(FLASHBACK, SPIN, wait=False)
    out = run_gdb(fb, SPIN, ['p counter > 0', 'p stop_request', 'set var stop_request = 1',
                             'continue'])
    expect(out, r'^\$1 = 1', 'the guest ran before gdb attached')
    expect(out, r'^\$2 = 0', 'stop_request readable')
    expect(out, r'\[Inferior 1 \(Remote target\) exited with code 053\]', 'exit reported to gdb')
    expect_exit(fb, SPIN_STATUS, 'spin: stopped after')


def case_kill():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break guest_main', 'continue', 'kill'])
    expect(out, r'\[Inferior 1 \(Remote target\) killed\]', 'gdb saw the kill')
    fb.finish(timeout=20)
    if 'PASS hello' in fb.serial_output():
        fail('the guest ran on after kill')


def case_float_registers():
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['info float', 'p/x $fctrl', 'set $fctrl = 0x27f', 'p/x $fctrl',
                              'p $st0', 'monitor info registers', 'set $fctrl = 0x37f'])
    expect(out, r'^Control Word:\s+0x037f', 'info float')
    vals = [int(x, 16) for x in re.findall(r'^\$\d+ = (0x[0-9a-f]+)', out, re.M)]
    if vals[:2] != [0x37f, 0x27f]:
        fail('fctrl: %r' % vals)
    expect(out, r'FCW=027f', 'the FPU itself has the value')
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


def case_reconnect():
    """A client that goes away leaves the guest stopped for the next one."""
    fb = Flashback(FLASHBACK, HELLO)
    out = run_gdb(fb, HELLO, ['break guest_main', 'continue', 'disconnect'])
    expect(out, r'^Breakpoint 1, guest_main', 'first session')
    out = run_gdb(fb, HELLO, ['p/x $pc', 'info breakpoints', 'stepi', 'p/x $pc'])
    pcs = [int(x, 16) for x in re.findall(r'^\$\d+ = (0x[0-9a-f]+)', out, re.M)]
    if not pcs or pcs[0] != symbol(HELLO, 'guest_main') or pcs[1] == pcs[0]:
        fail('second session did not find the guest where the first left it: %r' % pcs)
    expect_exit(fb, HELLO_STATUS, 'PASS hello')


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith('case_')}

if __name__ == '__main__':
    if CASE not in CASES:
        fail('unknown case ' + CASE)
    CASES[CASE]()
    print('PASS gdb-' + CASE)
