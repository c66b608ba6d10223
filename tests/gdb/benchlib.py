"""benchlib.py - what the debugging benchmarks share (reverse_bench.py in
this folder, tools/bench/debug_bench.py): monitor commands through the
remote protocol, timing, and a server's peak memory."""

import os
import time


def monitor(c, cmd):
    """Run a monitor command on client @c; its text."""
    c.send('qRcmd,' + cmd.encode().hex())
    if c.ack:
        c.expect_ack()
    text = ''
    while True:
        p = c.packet()
        if p == 'OK':
            return text
        if p.startswith('E'):
            raise RuntimeError('monitor %s: %s' % (cmd, p))
        text += bytes.fromhex(p[1:]).decode()


def icount(c):
    return int(monitor(c, 'icount').split()[0])


def timed(fn):
    """(what @fn returns, the seconds it took)."""
    t = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t


def ms(s):
    return '%.1f ms' % (s * 1000)


def peak_rss(pid):
    """Bytes: the peak resident set of process @pid."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return 0


def proc_cpu(pid):
    """Seconds of CPU (user + system) process @pid has used so far."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
