#!/usr/bin/env python3
"""test_wedge.py - no guest keeps flashback running against the user's will.

usage: test_wedge.py FLASHBACK WEDGE_ELF CASE

WEDGE_ELF is tests/guests/wedge.c built: a guest that never ends by itself,
in the way its command line (-append MODE) chooses.  Each CASE runs it (or a
tiny kernel made here) and checks how the run ends: a halt nothing can end
stops the run with one line and status 0; --max-insns bounds a halt; SIGINT
and SIGTERM end run, record (the trace then replays with --verify) and
replay; a guest that faults before its first instruction does not reset
forever.  The time limits only catch a run that would not end.
"""
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cli import multiboot_elf  # noqa: E402

FB = WEDGE = TMP = None
LIMIT = 60  # seconds: only a run that hangs gets near this


def run(*args, stdin=subprocess.DEVNULL):
    p = subprocess.run([FB] + list(args), stdin=stdin, capture_output=True, timeout=LIMIT)
    return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')


def flashback_lines(err):
    return [line for line in err.splitlines() if line.startswith('flashback:')]


def expect_end(args, status, *needles, stats=False):
    """Run; the exit status and one line on stderr (two with --stats) holding the needles."""
    code, out, err = run(*args)
    lines = err.strip().splitlines()
    assert code == status, 'exit status %d, expected %d; stderr %r' % (code, status, err)
    assert len(lines) == (2 if stats else 1), 'stderr: %r' % err
    for n in needles:
        assert n in lines[0], '%r not in %r' % (n, lines[0])
    return out, err


def wedge(mode, *more):
    return ['-kernel', WEDGE, '-append', mode, '-serial', 'stdio'] + list(more)


class Running:
    """A flashback process whose stdout is read as it comes."""

    def __init__(self, args, ignore_sigint=False, stdin=subprocess.DEVNULL):
        # A parent that ignores SIGINT (a script's background job) passes
        # that on: flashback must end on it all the same.
        pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
        self.p = subprocess.Popen([FB] + args, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, preexec_fn=pre)
        self.out = b''

    def wait_for(self, text):
        deadline = time.monotonic() + LIMIT
        fd = self.p.stdout.fileno()
        while text.encode() not in self.out:
            assert time.monotonic() < deadline, 'no %r in %r' % (text, self.out[-500:])
            r, _, _ = select.select([fd], [], [], 1)
            if r:
                chunk = os.read(fd, 65536)
                assert chunk, 'ended before %r: %r' % (text, self.out[-500:])
                self.out += chunk

    def finish(self, sig=None):
        """Send @sig (if any); the exit status, stdout and stderr."""
        if sig:
            self.p.send_signal(sig)
        try:
            rest, err = self.p.communicate(timeout=LIMIT)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.communicate()
        return self.p.returncode, (self.out + rest).decode(errors='replace'), err.decode(
            errors='replace')


def replay_verifies(trace):
    code, out, err = run('replay', trace, '--verify')
    assert code == 0 and 'verified:' in out, 'replay --verify: status %d, %r %r' % (
        code, out[-300:], err)


# ---- halts nothing can end ------------------------------------------------

def case_halt_cli():
    out, _ = expect_end(['run'] + wedge('cli'), 0, 'interrupts disabled', 'nothing can wake it')
    assert 'wedge: cli; hlt' in out, out


def case_halt_cli_max_insns():
    """The bare two instructions of the report, with --max-insns 1000."""
    k = os.path.join(TMP, 'clihlt.elf')
    with open(k, 'wb') as f:
        f.write(multiboot_elf(0x100000, payload=b'\xfa\xf4'))
    _, err = expect_end(['run', '-kernel', k, '--max-insns', '1000', '--stats'], 0,
                        'guest halted at icount 2 with interrupts disabled', stats=True)
    assert 'icount 2, virtual time 2 ns' in err, err


def case_halt_masked():
    out, _ = expect_end(['run'] + wedge('masked'), 0, 'every interrupt source masked or idle')
    assert 'every timer armed' in out, out


def case_halt_no_eoi():
    out, _ = expect_end(['run'] + wedge('noeoi'), 0, 'every interrupt source masked or idle')
    assert 'tick 1 taken' in out, out


def case_halt_record():
    """A halt for good ends a recording the same way; the trace replays."""
    trace = os.path.join(TMP, 'masked.fbt')
    expect_end(['record', '-o', trace] + wedge('masked'), 0, 'masked or idle')
    replay_verifies(trace)


# ---- waiting for input --------------------------------------------------------

def case_input_closed():
    """No input can come (stdin at its end): the wait is for good."""
    out, _ = expect_end(['run'] + wedge('input'), 0, 'masked or idle')
    assert 'waiting for input' in out, out


def case_input_open():
    """While stdin is open, input may still come: the guest waits for it."""
    r = Running(['run'] + wedge('input'), stdin=subprocess.PIPE)
    r.wait_for('waiting for input')
    time.sleep(0.5)  # a wrong early end shows here, with its message
    assert r.p.poll() is None, 'ended while stdin was open: %r' % (r.finish()[2])
    r.p.stdin.write(b'x')
    r.p.stdin.flush()
    code, out, err = r.finish()
    assert code == 1 and "wedge: got 'x'" in out, 'status %d, %r, %r' % (code, out, err)


# ---- --max-insns bounds a halt ---------------------------------------------------

def case_max_insns_halted():
    """An RTC alarm that never comes: the halt lasts what 10^6 instructions take.

    Twice, with the same result: the bound is virtual time, not the host's."""
    args = wedge('alarm', '--max-insns', '1000000', '--stats')
    ends = [expect_end(['run'] + args, 0, 'stopped at --max-insns 1000000',
                       '(1000000 ns)', stats=True) for _ in range(2)]
    assert 'waiting for an alarm' in ends[0][0], ends[0][0]
    assert ends[0] == ends[1], ends
    trace = os.path.join(TMP, 'alarm.fbt')
    expect_end(['record', '-o', trace] + args, 0, 'stopped at --max-insns', stats=True)
    replay_verifies(trace)


# ---- SIGINT and SIGTERM --------------------------------------------------------

def signal_ends(command, mode, sig, ignore_sigint=False):
    args = [command] + (['-o', os.path.join(TMP, 'sig.fbt')] if command == 'record' else [])
    r = Running(args + wedge(mode), ignore_sigint=ignore_sigint)
    r.wait_for('wedge: %s' % ('tick 1000' if mode == 'ticks' else 'busy 1'))
    code, out, err = r.finish(sig)
    name = signal.Signals(sig).name
    assert code == 128 + sig, 'status %d after %s, stderr %r' % (code, name, err)
    lines = flashback_lines(err)
    assert len(lines) == 1 and 'stopped by %s' % name in lines[0], err


def case_sigint_run():
    signal_ends('run', 'ticks', signal.SIGINT, ignore_sigint=True)


def case_sigterm_run():
    signal_ends('run', 'busy', signal.SIGTERM)


def case_sigint_record():
    signal_ends('record', 'ticks', signal.SIGINT)
    replay_verifies(os.path.join(TMP, 'sig.fbt'))


def case_sigterm_record():
    signal_ends('record', 'busy', signal.SIGTERM)
    replay_verifies(os.path.join(TMP, 'sig.fbt'))


def case_sigint_replay():
    """A replay of 2 * 10^8 instructions stops on SIGINT well before its end."""
    trace = os.path.join(TMP, 'long.fbt')
    expect_end(['record', '-o', trace] + wedge('busy', '--max-insns', '200000000'), 0,
               'stopped at --max-insns')
    r = Running(['replay', trace])
    r.wait_for('wedge: busy 1')
    code, out, err = r.finish(signal.SIGINT)
    lines = flashback_lines(err)
    assert code == 130, 'status %d, stderr %r' % (code, err)
    assert len(lines) == 1 and 'replay stopped by SIGINT at icount' in lines[0], err
    assert int(lines[0].rsplit(' ', 1)[1]) < 200000000, lines


# ---- resets ----------------------------------------------------------------------

def case_reset_before_first_insn():
    """UD2 at the entry point: the fault comes before any instruction retires,
    so every reset would bring it again.  One line, not one per reset."""
    k = os.path.join(TMP, 'ud2.elf')
    with open(k, 'wb') as f:
        f.write(multiboot_elf(0x100000, payload=b'\x0f\x0b'))
    expect_end(['run', '-kernel', k], 0, 'triple fault at icount 0',
               'before the guest ran an instruction')
    trace = os.path.join(TMP, 'ud2.fbt')
    expect_end(['record', '-o', trace, '-kernel', k], 0, 'before the guest ran')
    replay_verifies(trace)


def main():
    global FB, WEDGE, TMP
    FB, WEDGE, name = sys.argv[1], sys.argv[2], sys.argv[3]
    with tempfile.TemporaryDirectory() as TMP:
        try:
            globals()['case_' + name]()
        except AssertionError as e:
            print('FAIL %s: %s' % (name, e))
            return 1
        except subprocess.TimeoutExpired:
            print('FAIL %s: timed out: the run did not end' % name)
            return 1
    print('PASS %s' % name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
