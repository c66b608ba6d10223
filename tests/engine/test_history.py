#!/usr/bin/env python3
"""test_history.py - `flashback history` against a brute-force reference.

usage: test_history.py FLASHBACK HISTORY_REF GUESTS_DIR DISK REACH_ELF [SEED]

For each of three recordings (tests/gdb's reach guest: stack, data, REP
strings, interrupts, task switches, two ATA DMAs; tests/guests' ata: PIO
and DMA; paging: page tables the walker sets accessed/dirty bits in),
random ranges of 1 to 8 bytes are drawn, seeded (the seed is printed; give
it to reproduce), from the memory the recording writes: history_ref's
`written` pass, sorted by the guest's symbols into the stack, the DMA
buffers, the page tables, the descriptor tables, the TSSes and the other
data.

history_ref replays the recording one instruction at a time and diffs the
ranges after each (C lines), and lists what each journalled DMA writes into
them (D lines).  `flashback history TRACE --addr A --len N --phys` must
agree, byte by byte:
  - every change the reference sees at icount I is reported at icount I:
    the writes to that byte at I, in order, go from the value before I to
    the value after it, each starting where the one before ended;
  - writes that change nothing (history reports them too) are consistent
    the same way: from the value before I back to the same value;
  - every DMA byte is reported as a DMA write at its icount with its value.
"""

import os
import random
import re
import subprocess
import sys
import tempfile
import time

FLASHBACK, REF, GUESTS, DISK, REACH = sys.argv[1:6]
SEED = int(sys.argv[6]) if len(sys.argv) > 6 else int(time.time() * 1000) % 1000000
PER_KIND = 6  # ranges drawn from each kind of written memory


def fail(msg):
    print('FAIL: %s (seed %d)' % (msg, SEED))
    sys.exit(1)


def run(args):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        fail('%s: exit %d: %s%s' % (' '.join(args), r.returncode, r.stdout[-500:], r.stderr))
    return r.stdout


def symbols(elf):
    """name: (address, size) of the data symbols (nm -S; size 0 if none)."""
    sym = {}
    for p in (line.split() for line in run(['nm', '-S', elf]).splitlines()):
        if len(p) in (3, 4) and p[-2] in 'bBdD':
            sym[p[-1]] = (int(p[0], 16), int(p[1], 16) if len(p) == 4 else 0)
    return sym


def record(elf, disk):
    trace = os.path.join(tempfile.mkdtemp(prefix='fbhist-'), 'guest.fbt')
    args = [FLASHBACK, 'record', '-o', trace, '-kernel', elf]
    subprocess.run(args + (['-hda', disk] if disk else []), capture_output=True, timeout=600)
    if not os.path.exists(os.path.join(trace, 'index.sqlite')):
        fail('recording %s failed' % elf)
    return trace


def kinds(sym, dma_buffers):
    """Classify an address: stack, DMA buffer, page tables, descriptor tables,
    TSS (the CPU writes them in task switches) or other data."""
    spans = [('stack', sym['stack_bottom'][0], sym['stack_top'][0])]
    named = [(name, 'dma') for name in dma_buffers] + [
        (name, 'page tables') for name in ('tables', 'page_dir')] + [
        (name, 'descriptor tables') for name in ('gdt', 'idt')] + [
        (name, 'TSS') for name in ('main_tss', 'tss_call', 'tss_jmp', 'tss_gate')]
    for name, k in named:
        if name in sym:
            spans.append((k, sym[name][0], sym[name][0] + sym[name][1]))

    def kind(addr):
        for k, lo, hi in spans:
            if lo <= addr < hi:
                return k
        return 'data'
    return kind


def draw(trace, sym, dma_buffers, rng):
    """Random ranges over the written memory, PER_KIND of each kind."""
    lo, hi = sym['multiboot_magic'][0], sym['__bss_end'][0]
    written = []
    for line in run([REF, trace, 'written', hex(lo), hex(hi)]).splitlines():
        _, addr, length, how = line.split()
        written += [(a, int(how)) for a in range(int(addr, 16), int(addr, 16) + int(length))]
    kind = kinds(sym, dma_buffers)
    by_kind = {}
    for a, how in written:
        k = kind(a)
        if k == 'page tables' and how & 2:
            k = 'page tables, paging on'  # where the walker sets A and D
        by_kind.setdefault(k, []).append(a)
    ranges = []
    for k in sorted(by_kind):
        for a in rng.sample(by_kind[k], min(PER_KIND, len(by_kind[k]))):
            length = rng.randint(1, 8)
            ranges.append((k, a - rng.randint(0, length - 1), length))
    print('written bytes: %s' %
          ', '.join('%s %d' % (k, len(v)) for k, v in sorted(by_kind.items())))
    return ranges


def reference(trace, ranges):
    """Per range: initial bytes, {icount: {off: (old, new)}}, {(icount, off): value}."""
    init = [[0] * n for _, _, n in ranges]
    changes = [{} for _ in ranges]
    dma = [{} for _ in ranges]
    out = run([REF, trace, 'ref'] + ['%#x:%d' % (a, n) for _, a, n in ranges])
    for line in out.splitlines():
        f = line.split()
        k = int(f[1])
        if f[0] == 'I':
            init[k][int(f[2])] = int(f[3])
        elif f[0] == 'C':
            changes[k].setdefault(int(f[2]), {})[int(f[3])] = (int(f[4]), int(f[5]))
        elif f[0] == 'D':
            dma[k][(int(f[2]), int(f[3]))] = int(f[4])
    return init, changes, dma


LINE = re.compile(r'^\s*(\d+)\s+(dma|page walker|[0-9a-f]{4}:[0-9a-f]{8})\s+(.*)\s+'
                  r'0x([0-9a-f]{8})\s+(\d+)\s+([0-9a-f]+|\?) -> ([0-9a-f]+)$')


def history(trace, addr, length):
    """[(icount, who, offset, old bytes or None, new bytes)] from the CLI."""
    out = run([FLASHBACK, 'history', trace, '--addr', hex(addr), '--len', str(length),
               '--phys'])
    writes = []
    for line in out.splitlines()[2:]:
        m = LINE.match(line)
        if not m:
            if re.match(r'^\d+ writes$', line):
                continue
            fail('flashback history printed %r' % line)
        size = int(m.group(5))
        # up to 8 bytes are printed as a little-endian value
        new = int(m.group(7), 16).to_bytes(size, 'little')
        old = None if m.group(6) == '?' else int(m.group(6), 16).to_bytes(size, 'little')
        writes.append((int(m.group(1)), m.group(2), int(m.group(4), 16) - addr, old, new))
    return writes


def check_range(trace, what, addr, length, init, changes, dma):
    writes = history(trace, addr, length)
    # per byte: the value timeline from the reference, the writes from history
    per_byte = {}
    for icount, who, off, old, new in writes:
        for i in range(len(new)):
            per_byte.setdefault((icount, off + i), []).append(
                (who, None if old is None else old[i], new[i]))
    value = list(init)
    at = sorted(set(changes) | {i for i, _ in per_byte} | {i for i, _ in dma})
    for icount in at:
        after = list(value)
        for off, (old, new) in changes.get(icount, {}).items():
            if old != value[off]:
                fail('reference inconsistent at %d' % icount)
            after[off] = new
        for off in range(length):
            chain = per_byte.get((icount, off), [])
            where = '%s 0x%x+%d at icount %d' % (what, addr, off, icount)
            if value[off] != after[off] and not chain:
                fail('%s: %02x -> %02x, history reports no write' %
                     (where, value[off], after[off]))
            cur = value[off]
            for who, old, new in chain:
                if old is not None and old != cur:
                    fail('%s: history says %s wrote over %02x, the byte was %02x' %
                         (where, who, old, cur))
                cur = new
            if chain and cur != after[off]:
                fail('%s: history ends at %02x, the reference at %02x' % (where, cur, after[off]))
            want = dma.get((icount, off))
            if want is not None and not any(w == 'dma' and n == want for w, _, n in chain):
                fail('%s: the journal DMAs %02x, history reports no such DMA write' %
                     (where, want))
        value = after
    return len(writes), sum(1 for w in writes if w[1] == 'dma'), sum(
        1 for w in writes if w[1] == 'page walker')


def main():
    rng = random.Random(SEED)
    print('seed %d' % SEED)
    guests = [
        (REACH, DISK, ['dbuf']),
        (os.path.join(GUESTS, 'ata.elf'), DISK, ['buf']),
        (os.path.join(GUESTS, 'paging.elf'), None, []),
    ]
    for elf, disk, dma_buffers in guests:
        sym = symbols(elf)
        trace = record(elf, disk)
        ranges = draw(trace, sym, dma_buffers, rng)
        init, changes, dma = reference(trace, ranges)
        totals = [0, 0, 0]
        for k, (what, addr, length) in enumerate(ranges):
            counts = check_range(trace, what, addr, length, init[k], changes[k], dma[k])
            totals = [a + b for a, b in zip(totals, counts)]
        print('ok: %s: %d ranges (%s), %d writes (%d DMA, %d page walker) as the reference '
              'sees them' % (os.path.basename(elf), len(ranges),
                             ', '.join(sorted({w for w, _, _ in ranges})), *totals))
    print('PASS (seed %d)' % SEED)


main()
