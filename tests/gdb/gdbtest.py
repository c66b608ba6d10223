"""gdbtest.py - shared by the gdb tests: start flashback with its gdb stub on
a free port, wait until it listens, and collect its exit status and serial
output."""

import atexit
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
    """flashback run -gdb tcp::PORT [-S] -kernel GUEST, serial to a file.
    @machine replaces `-kernel GUEST` (a -bios run, say)."""

    def __init__(self, flashback, guest, wait=True, extra=(), machine=None):
        self.dir = tempfile.mkdtemp(prefix='fbgdb-')
        self.serial = os.path.join(self.dir, 'serial.txt')
        self.errfile = os.path.join(self.dir, 'stderr.txt')
        self.port = free_port()
        machine = list(machine) if machine else ['-kernel', guest]
        args = [flashback, 'run', '-gdb', 'tcp::%d' % self.port] + machine + [
                '-serial', 'file:' + self.serial] + list(extra)
        if wait:
            args.append('-S')
        self.err = open(self.errfile, 'w')
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err)
        atexit.register(self.kill)  # a failing test must not leave a server behind
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


def checksum(data):
    return sum(data) & 0xff


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=20)
        # As gdb does: without it an ack followed by the next packet waits
        # for the stub's delayed ACK (40 ms per command).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.ack = True

    def send_raw(self, data):
        self.sock.sendall(data)

    def frame(self, payload):
        if isinstance(payload, str):
            payload = payload.encode('latin-1')
        return b'$' + payload + b'#%02x' % checksum(payload)

    def send(self, payload):
        self.send_raw(self.frame(payload))

    def read_byte(self):
        while not self.buf:
            data = self.sock.recv(65536)
            if not data:
                fail('the stub closed the connection')
            self.buf += data
        c, self.buf = self.buf[:1], self.buf[1:]
        return c

    def expect_ack(self, want=b'+'):
        c = self.read_byte()
        if c != want:
            fail('expected %r, got %r' % (want, c))

    def packet(self):
        """The next packet (its checksum verified), acknowledged."""
        c = self.read_byte()
        while c in (b'+', b'-'):
            c = self.read_byte()
        if c != b'$':
            fail('expected a packet, got %r' % c)
        data = b''
        while True:
            c = self.read_byte()
            if c == b'#':
                break
            data += c
        cs = self.read_byte() + self.read_byte()
        if int(cs, 16) != checksum(data):
            fail('bad checksum from the stub on %r' % data)
        if self.ack:
            self.send_raw(b'+')
        out, i = b'', 0
        while i < len(data):  # undo '}' escapes
            if data[i:i + 1] == b'}':
                out += bytes([data[i + 1] ^ 0x20])
                i += 2
            else:
                out += data[i:i + 1]
                i += 1
        return out.decode('latin-1')

    def ask(self, payload):
        self.send(payload)
        if self.ack:
            self.expect_ack()
        return self.packet()

    def close(self):
        self.sock.close()


def check(got, want, what):
    if got != want:
        fail('%s: got %r, expected %r' % (what, got, want))
    print('ok: %s -> %r' % (what, got))


def check_error(got, what):
    if not (len(got) == 3 and got[0] == 'E'):
        fail('%s: expected an error reply, got %r' % (what, got))
    print('ok: %s -> %r' % (what, got))


def record(flashback, guest, directory, extra=(), machine=None):
    """Record @guest (or @machine) into DIRECTORY/guest.fbt; the trace's path."""
    trace = os.path.join(directory, 'guest.fbt')
    machine = list(machine) if machine else ['-kernel', guest]
    r = subprocess.run([flashback, 'record', '-o', trace] + machine + list(extra),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=600)
    if not os.path.exists(os.path.join(trace, 'snap-000000.fbs')):
        fail('recording %s failed (%d): %s' % (guest, r.returncode, r.stderr))
    return trace


class ReplayServer(Flashback):
    """flashback gdb TRACE --port PORT: a recording served to gdb."""

    def __init__(self, flashback, trace, extra=()):
        self.dir = tempfile.mkdtemp(prefix='fbrev-')
        self.serial = os.path.join(self.dir, 'console.txt')
        self.errfile = os.path.join(self.dir, 'stderr.txt')
        self.port = free_port()
        args = [flashback, 'gdb', trace, '--port', str(self.port)] + list(extra)
        self.err = open(self.errfile, 'w')
        self.out = open(self.serial, 'w')
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.err)
        atexit.register(self.kill)  # a failing test must not leave a server behind
        self.wait_listening()
