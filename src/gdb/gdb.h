/*
 * gdb.h - the GDB remote serial protocol stub.
 *
 * The stub speaks the protocol over one TCP connection at a time (it keeps
 * listening when a client goes away) and debugs a *target*: the live
 * machine (gdb_live_new, src/gdb/live.c) or a recording
 * (gdb_replay_serve, src/gdb/replay_target.c, a libflashback session).  A
 * target hands the stub its CPU (registers go through src/exec/cpu.h), its
 * guest memory, its own monitor commands and - only if it can - reverse
 * execution.  Breakpoints, watchpoints, single steps and stop replies are
 * the stub's business and are the same for every target.
 *
 * The stub never blocks the machine: the main loop calls gdb_poll() between
 * CPU slices, asks gdb_may_run() whether the CPU may run at all, and runs
 * the CPU through gdb_exec().  Breakpoints and watchpoints are checked by
 * the CPU itself (src/exec/debug.c), so slices run at block speed with
 * them set.  Breakpoints never write 0xCC into guest memory.
 */
#ifndef FB_GDB_H
#define FB_GDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../exec/cpu.h"

typedef struct GdbStub GdbStub;

/* Why the target stopped, as the stop reply will say. */
enum gdb_stop_kind {
	GDB_STOP_TRAP,		/* a single step ended, or the initial stop (-S) */
	GDB_STOP_INTERRUPT,	/* Ctrl-C, or gdb attached to a running guest */
	GDB_STOP_SWBREAK,	/* Z0 breakpoint */
	GDB_STOP_HWBREAK,	/* Z1 breakpoint */
	GDB_STOP_WATCH,		/* Z2 write watchpoint, @addr = watched address */
	GDB_STOP_RWATCH,	/* Z3 read watchpoint */
	GDB_STOP_AWATCH,	/* Z4 access watchpoint */
	GDB_STOP_HISTORY_BEGIN, /* replay: reverse execution reached the start */
	GDB_STOP_HISTORY_END,	/* replay: forward execution reached the end */
};

typedef struct GdbStop {
	enum gdb_stop_kind kind;
	uint32_t addr; /* the watched address for watchpoint stops */
} GdbStop;

/* The registers gdb reads, in its numbering (the i386 target description
 * of regs.c): what a target without a CPU of its own hands the stub. */
typedef struct GdbRegs {
	uint32_t gpr[8]; /* eax ecx edx ebx esp ebp esi edi */
	uint32_t eip, eflags;
	uint32_t sel[6];   /* cs ss ds es fs gs */
	uint64_t mant[8];  /* the x87's physical registers R0-R7 */
	uint32_t se[8];	   /* their sign and exponent */
	uint32_t fctrl[8]; /* fctrl fstat ftag fiseg fioff foseg fooff fop */
} GdbRegs;

/*
 * What the stub debugs: the live machine (a CPU the stub reads and writes
 * through cpu.h) or a recording (read_only, can_reverse, a reverse() that
 * goes back in the replay, the registers through read_regs and no CPU);
 * the packet layer does not change.
 */
typedef struct GdbTarget {
	void *opaque;
	CPU *cpu; /* registers are read and written through cpu.h; NULL with read_regs */
	/* A target with no CPU (read_only): the registers now. */
	void (*read_regs)(void *opaque, GdbRegs *r);
	bool can_reverse; /* advertise ReverseStep+/ReverseContinue+, accept bs/bc */
	bool read_only;	  /* refuse G, P, M, X (a replay must not diverge) */
	/* Guest virtual memory through the current paging; false if any byte
	 * is unmapped (or not RAM/ROM: reading MMIO would have side effects). */
	bool (*read_mem)(void *opaque, uint32_t addr, void *buf, uint32_t len);
	bool (*write_mem)(void *opaque, uint32_t addr, const void *buf, uint32_t len);
	/* Monitor commands beyond the stub's own, asked first (a target with
	 * no CPU answers "icount" and "info registers"): print to @out, return
	 * false if @cmd is not one of them.  May be NULL. */
	bool (*monitor)(void *opaque, const char *cmd, FILE *out);
	const char *monitor_help; /* lines for "monitor help"; may be NULL */
	/*
	 * Reverse execution (only when can_reverse): go back one instruction
	 * (@step) or to the last place a breakpoint or watchpoint triggers,
	 * and say why it stopped.
	 */
	GdbStop (*reverse)(void *opaque, GdbStub *stub, bool step);
	/*
	 * The breakpoints and watchpoints for the CPU (cpu_set_breakpoints,
	 * cpu_set_watches): a target that runs the CPU through something that
	 * must know them (the replay engine) takes them here.  NULL: straight
	 * to the CPU.
	 */
	void (*set_hooks)(void *opaque, const uint32_t *eips, unsigned nbp, const CPUWatch *w,
			  unsigned nw, cpu_watch_fn fn, void *fn_opaque);
} GdbTarget;

/*
 * Listen on @host:@port (host NULL = 127.0.0.1).  With @wait (-S) the CPU
 * stays stopped until gdb continues or steps; without it the guest runs and
 * is stopped when gdb connects.  Returns NULL with a reason in @err (256
 * bytes) when the socket cannot be set up.
 */
GdbStub *gdb_listen(const GdbTarget *t, const char *host, int port, bool wait, char *err);
/* A stub without a socket: bytes come from gdb_feed(), replies go to
 * gdb_take_output().  For tests and the fuzzer. */
GdbStub *gdb_new(const GdbTarget *t, bool wait);
void gdb_free(GdbStub *s);

/* Accept a connection, read and answer packets, flush replies; waits up to
 * @timeout_ms for something to happen (0: never blocks). */
void gdb_poll(GdbStub *s, int timeout_ms);
/* Bytes as if received from the client (gdb_new stubs). */
void gdb_feed(GdbStub *s, const void *buf, size_t len);
/* Move up to @max pending reply bytes into @buf; returns how many. */
size_t gdb_take_output(GdbStub *s, void *buf, size_t max);

/* May the CPU run now?  False while gdb holds it stopped. */
bool gdb_may_run(const GdbStub *s);
/*
 * Run the CPU up to @limit as cpu_exec() does, stopping early - with
 * CPU_EXIT_BREAKPOINT - at a breakpoint, a watchpoint or the end of a
 * single step, in which case the stop reply has been sent.
 */
enum cpu_exit gdb_exec(GdbStub *s, uint64_t limit);

/* The guest ended (status = flashback's exit status): tell gdb ("W"). */
void gdb_guest_exited(GdbStub *s, int status);
/* gdb sent "k": the run must end. */
bool gdb_kill_requested(const GdbStub *s);

/* A recording as a target (src/gdb/replay_target.c): `flashback gdb TRACE`. */
struct fb_write; /* src/lib/flashback.h */
typedef struct GdbReplayOptions {
	const char *dir;  /* the trace directory */
	const char *host; /* NULL: 127.0.0.1 */
	int port;
	size_t cache_bytes;	 /* the in-memory snapshot cache's budget (0: default) */
	uint64_t cache_interval; /* instructions between cached snapshots (0: default) */
	/* How `monitor history` prints (tools/history.c, which the stub does
	 * not link): a header and one line per write. */
	void (*history_header)(FILE *out);
	void (*history_line)(FILE *out, const struct fb_write *w);
} GdbReplayOptions;
/* Serve the recording until gdb kills it; returns the exit status. */
int gdb_replay_serve(const GdbReplayOptions *o);

/* The live machine as a target (src/gdb/live.c). */
struct Machine;
GdbStub *gdb_live_new(struct Machine *m, const char *host, int port, bool wait);

#endif
