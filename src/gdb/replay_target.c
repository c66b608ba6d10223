/*
 * replay_target.c - a recording as a gdb target: `flashback gdb TRACE`.
 *
 * The replay engine (src/replay/replay.h) holds the CPU and RAM of the
 * recording at some icount and moves to any other icount.  This target
 * gives the stub that CPU and RAM, read-only, and runs it:
 *
 *   forwards   replay_forward() in slices at block speed, with the stub's
 *              breakpoints and watchpoints in the CPU (set_hooks: the
 *              engine keeps them there while it runs, and shows journalled
 *              DMA to the watches).  At the end of the recording gdb is
 *              told "replaylog:end".
 *   backwards  a reverse step is replay_goto(icount - 1).  A reverse
 *              continue scans the history window by window, newest first,
 *              each window from the nearest restore point: it replays the
 *              window with a watch function that notes every hit and never
 *              stops (breakpoint stops are noted and passed), keeps the
 *              last before the current icount, and goes there.  With
 *              nothing found back to the start of the recording, gdb is
 *              told "replaylog:begin".
 *
 * Positions, in gdb's terms (as native reverse debugging does it):
 *   - a breakpoint at X stops at the state where EIP = X, before the
 *     instruction at X runs, in both directions;
 *   - a write watchpoint going forwards stops just after the writing
 *     instruction; going backwards just before it, so that gdb, which
 *     remembers the value after the write, shows it as the old value and
 *     the value before the write as the new one;
 *   - a read watchpoint going backwards stops before the reading
 *     instruction too.
 */
#include "gdb_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../replay/replay.h"

/* Instructions between two polls of the socket while running forwards. */
#define SLICE (1ull << 22)

typedef struct ReplayTarget {
	ReplaySession *rs;
	void (*history_header)(FILE *out);
	void (*history_line)(FILE *out, const HistoryWrite *w);
	GdbStub *stub;
	const char *dir;
	/* the reverse scan */
	uint64_t limit; /* candidates must be before this icount */
	bool found;
	uint64_t found_icount;
	GdbStop found_stop;
} ReplayTarget;

/* ---- memory and monitor ------------------------------------------------------ */

static bool rt_read(void *opaque, uint32_t addr, void *buf, uint32_t len)
{
	ReplayTarget *rt = opaque;

	return vmem_read(replay_cpu(rt->rs), replay_address_space(rt->rs), addr, buf, len);
}

static bool rt_write(void *opaque, uint32_t addr, const void *buf, uint32_t len)
{
	return false; /* never called: the target is read-only */
}

/* Say where a move ended; an error is one line from the engine. */
static void report_status(ReplayTarget *rt, enum replay_status st, FILE *out)
{
	switch (st) {
	case REPLAY_OK:
	case REPLAY_STOPPED:
		break;
	case REPLAY_END:
		fprintf(out, "the recording ends here\n");
		break;
	case REPLAY_ERROR:
		fprintf(out, "replay error: %s\n", replay_error(rt->rs));
		break;
	}
	fprintf(out, "icount %" PRIu64 "\n", replay_icount(rt->rs));
}

static void mon_when(ReplayTarget *rt, FILE *out)
{
	fprintf(out, "Current icount: %" PRIu64 " (recording from %" PRIu64 " to %" PRIu64 ")\n",
		replay_icount(rt->rs), replay_start_icount(rt->rs), replay_end_icount(rt->rs));
}

static void mon_goto(ReplayTarget *rt, const char *arg, FILE *out)
{
	char *end, err[128];
	unsigned long long n = strtoull(arg, &end, 0);

	if (!*arg || *end) {
		fprintf(out, "usage: monitor goto ICOUNT\n");
		return;
	}
	if (!replay_goto_check(rt->rs, n, err, sizeof(err))) {
		fprintf(out, "%s: not moved\n", err); /* fb_goto's line */
		return;
	}
	report_status(rt, replay_goto(rt->rs, n), out);
	fprintf(out, "(gdb caches registers: run 'maintenance flush register-cache', or use "
		     "fb-goto from tools/flashback-gdb.py)\n");
}

static void print_event(const TraceEvent *ev, FILE *out)
{
	fprintf(out, "  %12" PRIu64 "  %-11s", ev->icount, trace_kind_name(ev->kind));
	switch (ev->kind) {
	case TEV_PORT_READ:
	case TEV_MMIO_READ:
	case TEV_TIME_READ:
		fprintf(out, " addr 0x%" PRIx64 " size %u value 0x%" PRIx64 "\n", ev->addr,
			ev->size, ev->value);
		break;
	case TEV_INTERRUPT:
	case TEV_CHECK:
	case TEV_SNAPSHOT:
	case TEV_END:
		fprintf(out, " value 0x%" PRIx64 "\n", ev->value);
		break;
	default:
		fprintf(out, " addr 0x%" PRIx64 " %u bytes\n", ev->addr, ev->size);
		break;
	}
}

/*
 * The journal events around the current icount: up to @n before it (looked
 * for in the last 2^24 instructions) and @n from it on.
 */
static void mon_events(ReplayTarget *rt, const char *arg, FILE *out)
{
	enum { MAX_AROUND = 64 };
	uint64_t now = replay_icount(rt->rs), from = now > (1u << 24) ? now - (1u << 24) : 0;
	TraceEvent ring[MAX_AROUND], ev;
	unsigned n = 5, have = 0, head = 0, after = 0;
	TraceCursor *c;
	int rc;

	if (*arg) {
		char *end;
		unsigned long v = strtoul(arg, &end, 0);

		if (*end || v == 0 || v > MAX_AROUND) {
			fprintf(out, "usage: monitor events [N]  (N from 1 to %d)\n", MAX_AROUND);
			return;
		}
		n = (unsigned)v;
	}
	c = trace_cursor(replay_trace(rt->rs), from);
	while ((rc = trace_next(c, &ev)) == 1 && ev.icount < now) {
		ev.data = NULL; /* not kept past the next trace_next() */
		ring[head] = ev;
		head = (head + 1) % n;
		if (have < n)
			have++;
	}
	for (unsigned i = 0; i < have; i++)
		print_event(&ring[(head + n - have + i) % n], out);
	fprintf(out, "  %12" PRIu64 "  <-- here\n", now);
	while (rc == 1 && after < n) {
		print_event(&ev, out);
		after++;
		if (after < n)
			rc = trace_next(c, &ev);
	}
	if (rc < 0)
		fprintf(out, "journal error: %s\n", trace_error(replay_trace(rt->rs)));
	trace_cursor_free(c);
}

static void mon_snapshots(ReplayTarget *rt, FILE *out)
{
	ReplayCacheInfo ci;
	const RRSnapHeader *snaps;
	unsigned n = replay_snapshots(rt->rs, &snaps);

	fprintf(out, "trace snapshots (%s):\n", rt->dir);
	for (unsigned k = 0; k < n; k++)
		fprintf(out, "  snap-%06u  icount %12" PRIu64 "  %" PRIu64 " bytes\n",
			snaps[k].number, snaps[k].icount, snaps[k].size);
	replay_cache_info(rt->rs, &ci);
	if (!ci.interval) {
		fprintf(out, "in-memory cache: off\n");
		return;
	}
	fprintf(out,
		"in-memory cache: %u snapshots every %" PRIu64 " instructions, icount %" PRIu64
		" to %" PRIu64 "\n"
		"  %zu bytes in snapshots (limit %zu) + %zu bytes RAM mirror\n",
		ci.entries, ci.interval, ci.first_icount, ci.last_icount, ci.bytes, ci.max_bytes,
		ci.mirror_bytes);
}

static void land(ReplayTarget *rt, uint64_t icount);
static void land_at(ReplayTarget *rt, uint64_t icount, uint32_t eip);

/* monitor history: one line per write, as `flashback history` prints them. */
typedef struct MonHistory {
	ReplayTarget *rt;
	FILE *out;
	uint64_t count;
} MonHistory;

static bool mon_history_line(void *opaque, const HistoryWrite *w)
{
	MonHistory *h = opaque;

	h->rt->history_line(h->out, w);
	h->count++;
	return true;
}

static bool mon_history_cancel(void *opaque)
{
	MonHistory *h = opaque;

	return net_interrupt_pending(h->rt->stub);
}

/* monitor history ADDR [LEN]: every write to the memory that linear ADDR
 * maps to here, over the whole recording; then back where we were. */
static void mon_history(ReplayTarget *rt, const char *arg, FILE *out)
{
	MonHistory h = {rt, out, 0};
	uint64_t now = replay_icount(rt->rs), addr, len = 4;
	uint32_t eip = cpu_get_eip(replay_cpu(rt->rs));
	char *end, err[TRACE_ERR_LEN + 64];
	uint32_t phys;

	addr = strtoull(arg, &end, 0);
	if (end != arg && *end == ' ')
		len = strtoull(end + 1, &end, 0);
	if (end == arg || *end || len == 0 || len > (16u << 20) || addr > UINT32_MAX ||
	    addr + len - 1 > UINT32_MAX) {
		fprintf(out, "usage: monitor history ADDR [LEN]  (LEN 1 to 16 MiB, below 4 GiB)\n");
		return;
	}
	if (!replay_phys_of(rt->rs, (uint32_t)addr, &phys)) {
		fprintf(out, "0x%" PRIx64 " is not mapped to RAM here\n", addr);
		return;
	}
	if (!replay_phys_range(rt->rs, (uint32_t)addr, (uint32_t)len, &phys)) {
		fprintf(out,
			"0x%" PRIx64 " +%" PRIu64 ": the pages are not one physical range here\n",
			addr, len);
		return;
	}
	fprintf(out,
		"writes to 0x%" PRIx64 " (phys 0x%08" PRIx32 "), %" PRIu64 " bytes, icount %" PRIu64
		" to %" PRIu64 ":\n",
		addr, phys, len, replay_start_icount(rt->rs), replay_end_icount(rt->rs));
	rt->history_header(out);
	replay_set_breakpoints(rt->rs, NULL, 0); /* the history's own watch only */
	replay_set_watches(rt->rs, NULL, 0, NULL, NULL);
	if (!replay_history(rt->rs, phys, (uint32_t)len, replay_start_icount(rt->rs),
			    replay_end_icount(rt->rs), mon_history_line, mon_history_cancel, &h,
			    err, sizeof(err)))
		fprintf(out, "%s\n", err);
	fprintf(out, "%" PRIu64 " writes (monitor goto ICOUNT goes to one)\n", h.count);
	stub_apply_hooks(rt->stub, NULL, NULL);
	land_at(rt, now, eip); /* where gdb thinks we are: in a handler, say */
}

static bool rt_monitor(void *opaque, const char *cmd, FILE *out)
{
	ReplayTarget *rt = opaque;

	if (strcmp(cmd, "when") == 0)
		mon_when(rt, out);
	else if (strncmp(cmd, "goto ", 5) == 0 || strcmp(cmd, "goto") == 0)
		mon_goto(rt, cmd + (cmd[4] ? 5 : 4), out);
	else if (strcmp(cmd, "events") == 0 || strncmp(cmd, "events ", 7) == 0)
		mon_events(rt, cmd + (cmd[6] ? 7 : 6), out);
	else if (strncmp(cmd, "history ", 8) == 0 || strcmp(cmd, "history") == 0)
		mon_history(rt, cmd + (cmd[7] ? 8 : 7), out);
	else if (strcmp(cmd, "info snapshots") == 0)
		mon_snapshots(rt, out);
	else if (strcmp(cmd, "info mtree") == 0) {
		as_dump_tree(replay_address_space(rt->rs), out);
		fputc('\n', out);
		as_dump_flat(replay_address_space(rt->rs), out);
	} else
		return false;
	return true;
}

/* ---- backwards ------------------------------------------------------------------ */

/* Land on @icount; a failure is reported on stderr and leaves us where the
 * engine stopped. */
static void land(ReplayTarget *rt, uint64_t icount)
{
	enum replay_status st = replay_goto(rt->rs, icount);

	if (st == REPLAY_ERROR)
		warn("gdb: replay to icount %" PRIu64 " failed: %s", icount, replay_error(rt->rs));
}

/*
 * Land on @icount with EIP @eip.  An interrupt, an exception or a reset
 * leads to the handler (or the reset vector) without retiring an
 * instruction, so a stop there (a breakpoint at the handler) has the same
 * icount as the instruction before the delivery, and replay_goto() lands
 * before the delivery.  Replaying on with a breakpoint at @eip delivers it
 * and stops there, still at @icount.
 */
static void land_at(ReplayTarget *rt, uint64_t icount, uint32_t eip)
{
	CPU *cpu = replay_cpu(rt->rs);
	enum replay_status st;

	land(rt, icount);
	if (cpu_get_eip(cpu) == eip)
		return;
	replay_set_watches(rt->rs, NULL, 0, NULL, NULL);
	replay_set_breakpoints(rt->rs, &eip, 1);
	st = replay_forward(rt->rs, icount + 1);
	stub_apply_hooks(rt->stub, NULL, NULL);
	if (st != REPLAY_STOPPED || replay_icount(rt->rs) != icount || cpu_get_eip(cpu) != eip) {
		warn("gdb: EIP 0x%08" PRIx32 " is not reached at icount %" PRIu64, eip, icount);
		land(rt, icount);
	}
}

/* Watch function of the probes and scans below: note, never stop. */
static void note(ReplayTarget *rt, uint64_t icount, GdbStop why)
{
	if (icount >= rt->limit)
		return;
	rt->found = true;
	rt->found_icount = icount;
	rt->found_stop = why;
}

static bool scan_watch(void *opaque, CPU *cpu, const CPUAccess *a)
{
	ReplayTarget *rt = opaque;
	GdbStop why;

	/* going backwards a watch stops before the access (an instruction's,
	 * or a DMA between instructions), so gdb sees the write undone */
	if (stub_watch_match(rt->stub, a, &why))
		note(rt, cpu_icount(cpu), why);
	return false;
}

static GdbStop reverse_step(ReplayTarget *rt)
{
	uint64_t now = replay_icount(rt->rs);
	GdbStub *s = rt->stub;

	if (now <= replay_start_icount(rt->rs))
		return (GdbStop){GDB_STOP_HISTORY_BEGIN, 0};
	land(rt, now - 1);
	if (!s->nwp)
		return (GdbStop){GDB_STOP_TRAP, 0};
	/* did the instruction stepped back over touch a watched byte? */
	rt->limit = now;
	rt->found = false;
	stub_apply_hooks(s, scan_watch, rt);
	cpu_skip_breakpoint(replay_cpu(rt->rs));
	replay_forward(rt->rs, now);
	stub_apply_hooks(s, NULL, NULL);
	land(rt, now - 1);
	return rt->found ? rt->found_stop : (GdbStop){GDB_STOP_TRAP, 0};
}

/* Scan [@lo, @hi) forwards at block speed for the last stop before rt->limit. */
static bool scan_window(ReplayTarget *rt, uint64_t lo, uint64_t hi)
{
	GdbStub *s = rt->stub;
	CPU *cpu = replay_cpu(rt->rs);
	enum replay_status st;
	GdbStop why;

	if (replay_goto(rt->rs, lo) == REPLAY_ERROR)
		return false;
	rt->found = false;
	stub_apply_hooks(s, scan_watch, rt);
	for (;;) {
		st = replay_forward(rt->rs, hi);
		if (st != REPLAY_STOPPED)
			break;
		/* a breakpoint: before the instruction at EIP */
		if (breakpoint_at(s, cpu_get_eip(cpu), &why))
			note(rt, replay_icount(rt->rs), why);
		cpu_skip_breakpoint(cpu);
	}
	stub_apply_hooks(s, NULL, NULL);
	return st != REPLAY_ERROR;
}

static GdbStop reverse_continue(ReplayTarget *rt)
{
	uint64_t start = replay_start_icount(rt->rs), hi = replay_icount(rt->rs);
	GdbStub *s = rt->stub;
	GdbStop why;

	rt->limit = hi;
	if (s->nbp || s->nwp) {
		while (hi > start) {
			/* from the nearest place the engine restores cheaply: each
			 * instruction is replayed once, newest window first */
			uint64_t lo = replay_restore_point(rt->rs, hi - 1);

			if (lo < start)
				lo = start;
			if (!scan_window(rt, lo, hi)) {
				warn("gdb: reverse scan failed: %s", replay_error(rt->rs));
				land(rt, rt->limit);
				return (GdbStop){GDB_STOP_TRAP, 0};
			}
			if (rt->found) {
				/* a breakpoint: at its EIP; a watch: before the access */
				if (rt->found_stop.kind == GDB_STOP_SWBREAK ||
				    rt->found_stop.kind == GDB_STOP_HWBREAK)
					land_at(rt, rt->found_icount, rt->found_stop.addr);
				else
					land(rt, rt->found_icount);
				return rt->found_stop;
			}
			hi = lo;
			if (net_interrupt_pending(s)) {
				land(rt, lo); /* Ctrl-C: stop where the scan got to */
				return (GdbStop){GDB_STOP_INTERRUPT, 0};
			}
		}
	}
	land(rt, start);
	if (breakpoint_at(s, cpu_get_eip(replay_cpu(rt->rs)), &why) && start < rt->limit)
		return why;
	return (GdbStop){GDB_STOP_HISTORY_BEGIN, 0};
}

static GdbStop rt_reverse(void *opaque, GdbStub *stub, bool step)
{
	ReplayTarget *rt = opaque;

	return step ? reverse_step(rt) : reverse_continue(rt);
}

/* ---- forwards -------------------------------------------------------------------- */

static void rt_set_hooks(void *opaque, const uint32_t *eips, unsigned nbp, const CPUWatch *w,
			 unsigned nw, cpu_watch_fn fn, void *fn_opaque)
{
	ReplayTarget *rt = opaque;

	replay_set_breakpoints(rt->rs, eips, nbp);
	replay_set_watches(rt->rs, w, nw, fn, fn_opaque);
}

static void stop_with(GdbStub *s, enum gdb_stop_kind kind)
{
	s->state = RS_STOPPED;
	s->stop = (GdbStop){kind, 0};
	send_stop(s);
}

/* Run one slice forwards for a continue or a step, at block speed: the
 * CPU checks breakpoints and watchpoints itself. */
static void forward_slice(ReplayTarget *rt)
{
	GdbStub *s = rt->stub;
	bool step = s->state == RS_STEPPING;
	uint64_t now = replay_icount(rt->rs);
	enum replay_status st = replay_forward(rt->rs, step ? s->step_from + 1 : now + SLICE);

	switch (st) {
	case REPLAY_OK:
		if (step && replay_icount(rt->rs) > s->step_from)
			stop_with(s, GDB_STOP_TRAP);
		break;
	case REPLAY_STOPPED:
		stub_cpu_stopped(s);
		s->state = RS_STOPPED;
		send_stop(s);
		break;
	case REPLAY_END:
		stop_with(s, GDB_STOP_HISTORY_END);
		break;
	case REPLAY_ERROR:
		warn("gdb: replay stopped: %s", replay_error(rt->rs));
		stop_with(s, GDB_STOP_TRAP);
		break;
	}
}

/* ---- the server ----------------------------------------------------------------- */

static const char monitor_help[] =
    "monitor when             the current icount and the recording's extent\n"
    "monitor goto N           move to icount N, forwards or backwards\n"
    "monitor events [N]       the N (5) journal events before and after here\n"
    "monitor history ADDR [N] every write to those N (4) bytes in the recording\n"
    "monitor info snapshots   the trace's snapshots and the in-memory cache\n"
    "monitor info mtree       the memory map here\n";

int gdb_replay_serve(const GdbReplayOptions *o)
{
	ReplayTarget rt = {
	    .dir = o->dir, .history_header = o->history_header, .history_line = o->history_line};
	GdbTarget t = {
	    .opaque = &rt,
	    .can_reverse = true,
	    .read_only = true,
	    .read_mem = rt_read,
	    .write_mem = rt_write,
	    .monitor = rt_monitor,
	    .monitor_help = monitor_help,
	    .reverse = rt_reverse,
	    .set_hooks = rt_set_hooks,
	};
	char err[1024];

	rt.rs = replay_open(o->dir, stdout, err, sizeof(err));
	if (!rt.rs) {
		fprintf(stderr, "flashback: %s\n", err);
		return EXIT_USAGE;
	}
	replay_warn_damage(rt.rs);
	replay_set_cache(rt.rs, o->cache_interval ? o->cache_interval : REPLAY_CACHE_INTERVAL,
			 o->cache_bytes ? o->cache_bytes : REPLAY_CACHE_BYTES);
	t.cpu = replay_cpu(rt.rs);
	rt.stub = gdb_listen(&t, o->host, o->port, true, err);
	if (!rt.stub) {
		fprintf(stderr, "flashback: %s\n", err);
		replay_close(rt.rs);
		return EXIT_USAGE;
	}
	fprintf(stderr,
		"flashback: gdb stub on %s:%d, replaying %s (icount %" PRIu64 " to %" PRIu64 ")\n",
		o->host ? o->host : "127.0.0.1", o->port, o->dir, replay_start_icount(rt.rs),
		replay_end_icount(rt.rs));
	while (!gdb_kill_requested(rt.stub)) {
		bool running = rt.stub->state == RS_RUNNING || rt.stub->state == RS_STEPPING;

		gdb_poll(rt.stub, running ? 0 : 200);
		if (rt.stub->state == RS_RUNNING || rt.stub->state == RS_STEPPING)
			forward_slice(&rt);
	}
	gdb_poll(rt.stub, 0); /* the last replies */
	gdb_free(rt.stub);
	replay_close(rt.rs);
	return 0;
}
