# flashback-gdb.py - gdb commands for Flashback's gdb stub.
#
# Load it into gdb with
#     source tools/flashback-gdb.py
# (or put that line in ~/.gdbinit).  The commands talk to the stub through
# its monitor commands (docs/gdb.md), so that nobody needs to know them:
#
#     fb-goto N             go to icount N of a recording and show where
#     fb-icount             the current icount (also in $fb_icount)
#     fb-events [N]         the recording's events before and after here
#     fb-history EXPR [LEN] every write to the bytes of EXPR in the recording
#
# `help fb-goto` and so on say more.  They work with `flashback gdb TRACE`;
# fb-icount works with a live `flashback run -s` too.

import re

import gdb


def monitor(command):
    """The stub's reply to `monitor COMMAND`, as text."""
    try:
        return gdb.execute('monitor ' + command, to_string=True)
    except gdb.error as e:
        raise gdb.GdbError('%s (is gdb connected to flashback?)' % e)


def needs_recording(name, reply):
    if reply.startswith('unknown monitor command'):
        raise gdb.GdbError('%s works on a recording (flashback gdb TRACE), not on a live run'
                           % name)


def number(name, text):
    """@text as a non-negative integer: a number or any gdb expression."""
    try:
        value = int(gdb.parse_and_eval(text))
    except (gdb.error, ValueError) as e:
        raise gdb.GdbError('%s: %s' % (name, e))
    if value < 0:
        raise gdb.GdbError('%s: %d is negative' % (name, value))
    return value


class FbGoto(gdb.Command):
    """Go to an icount of the recording: fb-goto N

N (an expression: 12345, 0x3000, $fb_icount - 10) is the number of
instructions retired since the recording began; fb-goto moves there,
forwards or backwards, and shows the frame.  Unlike `monitor goto N` it
also refreshes gdb's registers (maintenance flush register-cache).  An
icount outside the recording is refused and nothing moves.  Only on a
recording (flashback gdb TRACE)."""

    def __init__(self):
        super().__init__('fb-goto', gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError('usage: fb-goto N')
        n = number('fb-goto', arg)
        reply = monitor('goto %d' % n)
        needs_recording('fb-goto', reply)
        gdb.execute('maintenance flush register-cache')
        # the stub's hint about the register cache is done already
        text = [line for line in reply.splitlines() if not line.startswith('(gdb caches')]
        m = re.search(r'^icount (\d+)$', reply, re.M)
        if not m:
            raise gdb.GdbError('\n'.join(text))
        if int(m.group(1)) != n:
            print('\n'.join(text))
        gdb.execute('frame')


class FbIcount(gdb.Command):
    """Show the current icount: fb-icount

The number of instructions retired so far (on a recording: since it
began).  It is stored in $fb_icount too."""

    def __init__(self):
        super().__init__('fb-icount', gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise gdb.GdbError('usage: fb-icount')
        reply = monitor('icount').strip()
        if not reply.isdigit():
            raise gdb.GdbError('fb-icount: the stub said %r' % reply)
        gdb.set_convenience_variable('fb_icount', int(reply))
        print('icount %s' % reply)


class FbEvents(gdb.Command):
    """List the recording's events near here: fb-events [N]

The N (5, at most 64) journal events before the current icount and the N
from it on (port and MMIO reads, interrupts, DMA, ...), with an arrow
where we are.  Only on a recording."""

    def __init__(self):
        super().__init__('fb-events', gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        reply = monitor('events %d' % number('fb-events', arg) if arg else 'events')
        needs_recording('fb-events', reply)
        if reply.startswith('usage:'):
            raise gdb.GdbError('usage: fb-events [N]  (N from 1 to 64)')
        gdb.write(reply)


def split_length(arg):
    """'EXPR LEN' -> (EXPR, LEN), when LEN is a number and EXPR an expression
    by itself; else (ARG, None)."""
    words = arg.rsplit(None, 1)
    if len(words) == 2 and re.fullmatch(r'0[xX][0-9a-fA-F]+|\d+', words[1]):
        try:
            gdb.parse_and_eval(words[0])
            return words[0], int(words[1], 0)
        except gdb.error:
            pass
    return arg, None


def address_and_size(expr):
    """The bytes @expr names: an lvalue's own, what a pointer points at, or an
    integer taken as an address (4 bytes)."""
    try:
        v = gdb.parse_and_eval(expr)
        t = v.type.strip_typedefs()
        if t.code == gdb.TYPE_CODE_PTR:
            target = t.target().strip_typedefs()
            return int(v), 1 if target.code == gdb.TYPE_CODE_VOID else target.sizeof
        if v.address is not None:
            return int(v.address), t.sizeof
        if t.code == gdb.TYPE_CODE_INT:
            return int(v), 4
    except gdb.error as e:
        raise gdb.GdbError('fb-history: %s' % e)
    raise gdb.GdbError('fb-history: %s is neither a variable, a pointer nor an address' % expr)


class FbHistory(gdb.Command):
    """Show every write to some memory in the recording: fb-history EXPR [LEN]

EXPR names the memory: a variable (fb-history jiffies: its bytes), a
pointer (fb-history &var, fb-history p: the bytes it points at) or an
address (fb-history 0x1000: 4 bytes).  LEN, a number after the
expression, gives the number of bytes instead of the size of EXPR's type.

The address is translated through the guest's page tables here; the
writes are looked for over the whole recording, through any mapping, by
the CPU (with the instruction), the page walker and DMA, whether or not
they changed the value.  Each line gives the icount (fb-goto goes there),
who wrote, the address, the size and the bytes before and after.
Ctrl-C stops a long search.  Only on a recording."""

    def __init__(self):
        super().__init__('fb-history', gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError('usage: fb-history EXPR [LEN]')
        expr, length = split_length(arg.strip())
        addr, size = address_and_size(expr)
        if length is not None:
            size = length
        reply = monitor('history 0x%x %d' % (addr, size))
        needs_recording('fb-history', reply)
        first = reply.split('\n', 1)[0]
        if not first.startswith('writes to'):  # a usage line, unmapped memory
            raise gdb.GdbError('fb-history %s: %s' % (arg.strip(), reply.strip()))
        gdb.write(reply.replace('monitor goto ICOUNT', 'fb-goto ICOUNT'))


FbGoto()
FbIcount()
FbEvents()
FbHistory()
