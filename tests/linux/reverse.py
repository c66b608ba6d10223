#!/usr/bin/env python3
"""Reverse-debugs a recording of the Linux guest with gdb and vmlinux's
symbols (issue 7, point 4).

Records boot.py's session (the shell's `uname` makes the newuname system
call), serves the trace with `flashback gdb TRACE --port P` and drives
`gdb -batch vmlinux`:

1. `monitor goto` the icount where the console shows `# uname` (found
   with `flashback console --grep`), then `break __do_sys_newuname` and
   continue: the breakpoint hits, and the backtrace shows the syscall path
   (__ia32_sys_newuname).
2. Deletes the breakpoint (reverse-finish would stop on it at the
   entry), steps a few instructions in, then `reverse-finish`: back in the caller,
   on the `call __do_sys_newuname` instruction; `reverse-stepi` from the
   callee's first instruction lands on the same call.
3. Runs forward out of up_read() (called by __do_sys_newuname after it
   copied the name), `watch uts_sem.count`, `reverse-continue`: stops in
   up_read, the last writer, with the count before the release (a reader
   held it) different from the count after.
4. `watch jiffies`, `reverse-continue`: stops in do_timer, whose tick is
   the last write; jiffies there is one less than at the start.

Exit status 0 when every check holds, 1 if not, 77 when the kernel,
vmlinux or gdb is missing.

Usage: reverse.py --flashback BIN --kernel bzImage --initrd init.cpio
                  [--gdb gdb]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def uname_icount(flashback, trace):
    """The icount of the console line on which `uname` was typed."""
    r = subprocess.run([flashback, "console", trace, "--grep", "# uname"],
                       capture_output=True, text=True)
    m = re.search(r"^\[(\d+)\] # uname", r.stdout, re.M)
    return int(m.group(1)) if m else None


def gdb_script(goto):
    """The commands; `echo @NAME` lines mark the output's sections."""
    return f"""set pagination off
set confirm off
monitor goto {goto}
break __do_sys_newuname
continue
echo @bt\\n
bt 3
delete
stepi 4
reverse-finish
echo @caller\\n
x/i $pc
info symbol $pc
stepi
echo @entry\\n
info symbol $pc
reverse-stepi
echo @rstepi\\n
x/i $pc
delete
break up_read
continue
finish
echo @after-up-read\\n
info symbol $pc
print/x uts_sem.count.counter
watch uts_sem.count.counter
reverse-continue
echo @in-up-read\\n
info symbol $pc
print/x uts_sem.count.counter
delete
echo @jiffies-now\\n
print jiffies
watch jiffies
reverse-continue
echo @in-do-timer\\n
info symbol $pc
print jiffies
kill
"""


def section(out, name):
    parts = out.split(f"@{name}\n", 1)
    if len(parts) < 2:
        return ""
    return parts[1].split("\n@", 1)[0]


def last_value(text):
    """The value of the last `$N = V` line in text, as an int, or None."""
    values = re.findall(r"^\$\d+ = (0x[0-9a-f]+|\d+)", text, re.M)
    return int(values[-1], 0) if values else None


def check(out):
    """Every failed expectation in gdb's output."""
    failures = []

    def want(cond, what):
        if not cond:
            failures.append(what)

    bt = section(out, "bt")
    want("Breakpoint 1, __do_sys_newuname" in out,
         "the breakpoint at __do_sys_newuname did not hit")
    want("__ia32_sys_newuname" in bt, "no __ia32_sys_newuname in bt")
    caller = section(out, "caller")
    want(re.search(r"call\s+0x[0-9a-f]+ <__do_sys_newuname>", caller),
         "reverse-finish did not stop on the call of __do_sys_newuname")
    want("__ia32_sys_newuname + " in caller,
         "reverse-finish did not stop in __ia32_sys_newuname")
    want("__do_sys_newuname in section" in section(out, "entry"),
         "stepi over the call did not enter __do_sys_newuname")
    want(section(out, "rstepi").split("\n")[0:1] ==
         caller.split("\n")[0:1],
         "reverse-stepi from the entry is not on the call")

    after = section(out, "after-up-read")
    inside = section(out, "in-up-read")
    want("__do_sys_newuname + " in after,
         "finish from up_read did not return to __do_sys_newuname")
    want(re.search(r"^up_read \+ \d+ in section", inside, re.M),
         "reverse-continue on uts_sem.count did not stop in up_read")
    count_after, count_held = last_value(after), last_value(inside)
    want(count_after is not None and count_held is not None and
         count_after != count_held,
         f"uts_sem.count {count_held} in up_read, {count_after} after it")

    now = last_value(section(out, "jiffies-now"))
    timer = section(out, "in-do-timer")
    want(re.search(r"^do_timer \+ \d+ in section", timer, re.M),
         "reverse-continue on jiffies did not stop in do_timer")
    then = last_value(timer)
    want(now is not None and then is not None and then == now - 1,
         f"jiffies {then} at the last tick, {now} later: not one less")
    return failures


def debug(args, trace, work):
    """Serves trace, runs gdb; (gdb output, server status, its stderr)."""
    goto = uname_icount(args.flashback, trace)
    if goto is None:
        return None, None, "no '# uname' line in `flashback console`"
    port = free_port()
    err_path = os.path.join(work, "server.err")
    with open(err_path, "w") as err, open(os.devnull, "w") as out:
        server = subprocess.Popen([args.flashback, "gdb", trace, "--port",
                                   str(port)], stdout=out, stderr=err)
        try:
            if not wait_listening(port, server):
                return None, server.poll(), "the server did not listen"
            script = os.path.join(work, "reverse.gdb")
            with open(script, "w") as f:
                f.write(gdb_script(goto))
            t0 = time.monotonic()
            r = subprocess.run([args.gdb, "-batch", "-nx", args.vmlinux,
                                "-ex", f"target remote 127.0.0.1:{port}", "-x",
                                script], capture_output=True, text=True,
                               timeout=args.timeout)
            print(f"gdb: {time.monotonic() - t0:.1f} s host")
            status = server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    with open(err_path) as f:
        return r.stdout + r.stderr, status, f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flashback", required=True)
    ap.add_argument("--gdb", default=shutil.which("gdb"))
    boot.add_guest_arguments(ap)
    args = ap.parse_args()
    ready = boot.prepare(args, args.flashback)
    if ready is not None:
        return ready
    args.vmlinux = os.path.join(os.path.dirname(args.kernel), "vmlinux")
    for path in (args.vmlinux, args.gdb):
        if not path or not os.path.exists(path):
            print(f"SKIP: {path or 'gdb'} does not exist")
            return 77

    with tempfile.TemporaryDirectory(prefix="fb-linux-rev-") as work:
        args.record = os.path.join(work, "linux.fbt")
        failures, _, out, _ = boot.run_session(args)
        if failures:
            return boot.report(failures, out)
        out, status, err = debug(args, args.record, work)
    if out is None:
        print("FAIL:", err)
        return 1
    print(out)
    failures = check(out)
    if status != 0:
        failures.append(f"flashback gdb exited with {status}: {err}")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("PASS linux reverse debugging")
    return 0


if __name__ == "__main__":
    sys.exit(main())
