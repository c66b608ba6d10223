"""gdbtest.py - shared by the gdb tests: start flashback with its gdb stub on
a free port, wait until it listens, and collect its exit status and serial
output."""

import os
import socket
import subprocess
import sys
import tempfile
import time


def fail(msg):
    print('FAIL: ' + msg)
    sys.exit(1)


def free_port():
    """A port nobody listens on: bind to port 0 and let the kernel choose."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Flashback:
    """flashback run -gdb tcp::PORT [-S] -kernel GUEST, serial to a file."""

    def __init__(self, flashback, guest, wait=True, extra=()):
        self.dir = tempfile.mkdtemp(prefix='fbgdb-')
        self.serial = os.path.join(self.dir, 'serial.txt')
        self.errfile = os.path.join(self.dir, 'stderr.txt')
        self.port = free_port()
        args = [flashback, 'run', '-gdb', 'tcp::%d' % self.port, '-kernel', guest,
                '-serial', 'file:' + self.serial] + list(extra)
        if wait:
            args.append('-S')
        self.err = open(self.errfile, 'w')
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err)
        self.wait_listening()

    def wait_listening(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail('flashback exited early with %d: %s' % (self.proc.returncode, self.stderr()))
            with open(self.errfile) as f:
                if 'gdb stub on' in f.read():
                    return
            time.sleep(0.02)
        fail('flashback never said it listens')

    def stderr(self):
        with open(self.errfile) as f:
            return f.read()

    def serial_output(self):
        try:
            with open(self.serial, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def finish(self, timeout=60):
        """The exit status, killing flashback if it does not end in time."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail('flashback did not exit within %d s' % timeout)
        finally:
            self.err.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def symbol(elf, name):
    """The address of @name in @elf (nm)."""
    out = subprocess.run(['nm', elf], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    fail('no symbol %s in %s' % (name, elf))
