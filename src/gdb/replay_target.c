/*
 * replay_target.c - a recording as a gdb target: `flashback gdb TRACE`.
 *
 * A libflashback session (src/lib/flashback.h) holds the CPU and RAM of
 * the recording at some icount and moves to any other icount.  This target
 * gives the stub that machine, read-only, and runs it through the
 * library's calls, as any program could:
 *
 *   forwards   fb_run() to the next breakpoint, watchpoint or the end, at
 *              block speed (the CPU checks them itself; journalled DMA is
 *              shown to the watches), asking between slices whether gdb
 *              sent Ctrl-C (fb_session_cancel).  At the end of the
 *              recording gdb is told "replaylog:end".
 *   backwards  a reverse step is fb_goto(icount - 1).  A reverse continue
 *              scans the history window by window, newest first, each
 *              window from the nearest restore point (fb_restore_point):
 *              fb_run_hits() replays the window showing every hit to a
 *              function that notes it and never stops, keeps the last
 *              before the current icount, and goes there.  With nothing
 *              found back to the start of the recording, gdb is told
 *              "replaylog:begin".
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
 *
 * The registers come from fb_regs_get() and fb_fpu_get() (read_regs): the
 * stub gets no CPU from this target, and writes nothing.
 */
#include "gdb_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "../lib/internal.h"

typedef struct ReplayTarget {
	fb_trace *t;
	fb_session *s;
	void (*history_header)(FILE *out);
	void (*history_line)(FILE *out, const fb_write *w);
	GdbStub *stub;
	const char *dir;
	/* the stub's breakpoints and watchpoints, for the next run */
	uint32_t bps[GDB_MAX_BREAKPOINTS];
	unsigned nbp;
	fb_watch w[GDB_MAX_WATCHPOINTS];
	unsigned nw;
	/* the reverse scan */
	uint64_t limit; /* candidates must be before this icount */
	bool found;
	uint64_t found_icount;
	GdbStop found_stop;
} ReplayTarget;

static uint32_t eip_now(ReplayTarget *rt)
{
	fb_regs r;

	fb_regs_get(rt->s, &r);
	return r.eip;
}

/* Ctrl-C from gdb (or the client gone) while a move runs. */
static int interrupted(void *opaque)
{
	ReplayTarget *rt = opaque;

	return net_interrupt_pending(rt->stub);
}

/* ---- registers, memory and monitor ------------------------------------------- */

static void rt_read_regs(void *opaque, GdbRegs *g)
{
	/* gdb's cs ss ds es fs gs among fb_regs' es cs ss ds fs gs */
	static const int seg_of[6] = {1, 2, 3, 0, 4, 5};
	ReplayTarget *rt = opaque;
	fb_regs r;
	fb_fpu f;

	fb_regs_get(rt->s, &r);
	fb_fpu_get(rt->s, &f);
	memcpy(g->gpr, r.gpr, sizeof(g->gpr));
	g->eip = r.eip;
	g->eflags = r.eflags;
	for (int i = 0; i < 6; i++)
		g->sel[i] = r.seg[seg_of[i]].sel;
	memcpy(g->mant, f.mant, sizeof(g->mant));
	memcpy(g->se, f.se, sizeof(g->se));
	memcpy(g->fctrl, (uint32_t[8]){f.cw, f.sw, f.tw, f.fcs, f.fip, f.fds, f.fdp, f.fop},
	       sizeof(g->fctrl));
}

static bool rt_read(void *opaque, uint32_t addr, void *buf, uint32_t len)
{
	ReplayTarget *rt = opaque;

	return fb_read(rt->s, addr, buf, len, 1) == FB_OK;
}

static bool rt_write(void *opaque, uint32_t addr, const void *buf, uint32_t len)
{
	return false; /* never called: the target is read-only */
}

/* Say where a move ended; an error is one line from the library. */
static void report_status(ReplayTarget *rt, int rc, FILE *out)
{
	if (rc == FB_END)
		fprintf(out, "the recording ends here\n");
	else if (rc == FB_ERROR)
		fprintf(out, "replay error: %s\n", fb_error());
	fprintf(out, "icount %" PRIu64 "\n", fb_icount(rt->s));
}

static void mon_when(ReplayTarget *rt, FILE *out)
{
	fprintf(out, "Current icount: %" PRIu64 " (recording from %" PRIu64 " to %" PRIu64 ")\n",
		fb_icount(rt->s), fb_start_icount(rt->s), fb_end_icount(rt->s));
}

static void mon_goto(ReplayTarget *rt, const char *arg, FILE *out)
{
	char *end;
	unsigned long long n = strtoull(arg, &end, 0);

	if (!*arg || *end) {
		fprintf(out, "usage: monitor goto ICOUNT\n");
		return;
	}
	if (n < fb_start_icount(rt->s) || n > fb_end_icount(rt->s)) {
		fb_goto(rt->s, n); /* refused, with the library's line */
		fprintf(out, "%s: not moved\n", fb_error());
		return;
	}
	report_status(rt, fb_goto(rt->s, n), out);
	fprintf(out, "(gdb caches registers: run 'maintenance flush register-cache', or use "
		     "fb-goto from tools/flashback-gdb.py)\n");
}

static void print_event(const fb_event *ev, FILE *out)
{
	fprintf(out, "  %12" PRIu64 "  %-11s", ev->icount, fb_kind_name(ev->kind));
	switch (ev->kind) {
	case FB_PORT_READ:
	case FB_MMIO_READ:
	case FB_TIME_READ:
		fprintf(out, " addr 0x%" PRIx64 " size %u value 0x%" PRIx64 "\n", ev->addr,
			ev->size, ev->value);
		break;
	case FB_INTERRUPT:
	case FB_CHECK:
	case FB_SNAPSHOT:
	case FB_END_EVENT:
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
	uint64_t now = fb_icount(rt->s), from = now > (1u << 24) ? now - (1u << 24) : 0;
	fb_event ring[MAX_AROUND], ev;
	unsigned n = 5, have = 0, head = 0, after = 0;
	fb_events *e;
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
	e = fb_events_open(rt->t, 0, from, UINT64_MAX, 0, 0);
	if (!e) {
		fprintf(out, "journal error: %s\n", fb_error());
		return;
	}
	while ((rc = fb_events_next(e, &ev, 1)) == 1 && ev.icount < now) {
		ev.data = NULL; /* not kept past the next fb_events_next() */
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
			rc = fb_events_next(e, &ev, 1);
	}
	if (rc < 0)
		fprintf(out, "journal error: %s\n", fb_error());
	fb_events_close(e);
}

static void mon_snapshots(ReplayTarget *rt, FILE *out)
{
	fb_cache_stats ci;
	fb_snapshot sn;

	fprintf(out, "trace snapshots (%s):\n", rt->dir);
	for (uint32_t k = 0; fb_snapshot_get(rt->s, k, &sn) == FB_OK; k++)
		fprintf(out, "  snap-%06u  icount %12" PRIu64 "  %" PRIu64 " bytes\n", sn.number,
			sn.icount, sn.bytes);
	fb_session_cache_stats(rt->s, &ci);
	if (!ci.interval) {
		fprintf(out, "in-memory cache: off\n");
		return;
	}
	fprintf(out,
		"in-memory cache: %u snapshots every %" PRIu64 " instructions, icount %" PRIu64
		" to %" PRIu64 "\n"
		"  %" PRIu64 " bytes in snapshots (limit %" PRIu64 ") + %" PRIu64
		" bytes RAM mirror\n",
		ci.entries, ci.interval, ci.first_icount, ci.last_icount, ci.bytes, ci.max_bytes,
		ci.mirror_bytes);
}

/* The text of fb_cpu_text() or fb_mtree_text(). */
static void mon_text(ReplayTarget *rt, size_t (*fn)(fb_session *, char *, size_t), FILE *out)
{
	size_t n = fn(rt->s, NULL, 0);
	char *text = xmalloc(n + 1);

	fn(rt->s, text, n + 1);
	fputs(text, out);
	free(text);
}

static void land(ReplayTarget *rt, uint64_t icount);
static void land_at(ReplayTarget *rt, uint64_t icount, uint32_t eip);

/* monitor history: one line per write, as `flashback history` prints them. */
typedef struct MonHistory {
	ReplayTarget *rt;
	FILE *out;
	uint64_t count;
} MonHistory;

static int mon_history_line(void *opaque, const fb_write *w)
{
	MonHistory *h = opaque;

	h->rt->history_line(h->out, w);
	h->count++;
	return 1;
}

/* The physical range linear [@lin, +@len) maps to here, if it is one. */
static bool one_range(ReplayTarget *rt, uint32_t lin, uint64_t len, uint32_t *phys)
{
	uint32_t p;

	for (uint64_t a = ((uint64_t)lin | 0xfff) + 1; a < (uint64_t)lin + len; a += 0x1000)
		if (fb_translate(rt->s, (uint32_t)a, &p) != FB_OK ||
		    p != *phys + (uint32_t)(a - lin))
			return false;
	return true;
}

/* monitor history ADDR [LEN]: every write to the memory that linear ADDR
 * maps to here, over the whole recording; then back where we were. */
static void mon_history(ReplayTarget *rt, const char *arg, FILE *out)
{
	MonHistory h = {rt, out, 0};
	uint64_t now = fb_icount(rt->s), addr, len = 4;
	uint32_t eip = eip_now(rt), phys;
	char *end;
	int rc;

	addr = strtoull(arg, &end, 0);
	if (end != arg && *end == ' ')
		len = strtoull(end + 1, &end, 0);
	if (end == arg || *end || len == 0 || len > (16u << 20) || addr > UINT32_MAX ||
	    addr + len - 1 > UINT32_MAX) {
		fprintf(out, "usage: monitor history ADDR [LEN]  (LEN 1 to 16 MiB, below 4 GiB)\n");
		return;
	}
	if (fb_translate(rt->s, (uint32_t)addr, &phys) != FB_OK) {
		fprintf(out, "0x%" PRIx64 " is not mapped to RAM here\n", addr);
		return;
	}
	if (!one_range(rt, (uint32_t)addr, len, &phys)) {
		fprintf(out,
			"0x%" PRIx64 " +%" PRIu64 ": the pages are not one physical range here\n",
			addr, len);
		return;
	}
	fprintf(out,
		"writes to 0x%" PRIx64 " (phys 0x%08" PRIx32 "), %" PRIu64 " bytes, icount %" PRIu64
		" to %" PRIu64 ":\n",
		addr, phys, len, fb_start_icount(rt->s), fb_end_icount(rt->s));
	rt->history_header(out);
	fb_session_cancel(rt->s, interrupted, rt);
	rc = fb_history(rt->s, phys, len, 1, fb_start_icount(rt->s), fb_end_icount(rt->s),
			mon_history_line, &h);
	fb_session_cancel(rt->s, NULL, NULL);
	if (rc == FB_STOPPED)
		fprintf(out, "history: stopped at icount %" PRIu64 "\n", fb_icount(rt->s));
	else if (rc != FB_OK)
		fprintf(out, "%s\n", fb_error());
	fprintf(out, "%" PRIu64 " writes (monitor goto ICOUNT goes to one)\n", h.count);
	land_at(rt, now, eip); /* where gdb thinks we are: in a handler, say */
}

static bool rt_monitor(void *opaque, const char *cmd, FILE *out)
{
	ReplayTarget *rt = opaque;

	if (strcmp(cmd, "icount") == 0)
		fprintf(out, "%" PRIu64 "\n", fb_icount(rt->s));
	else if (strcmp(cmd, "info registers") == 0)
		mon_text(rt, fb_cpu_text, out);
	else if (strcmp(cmd, "when") == 0)
		mon_when(rt, out);
	else if (strncmp(cmd, "goto ", 5) == 0 || strcmp(cmd, "goto") == 0)
		mon_goto(rt, cmd + (cmd[4] ? 5 : 4), out);
	else if (strcmp(cmd, "events") == 0 || strncmp(cmd, "events ", 7) == 0)
		mon_events(rt, cmd + (cmd[6] ? 7 : 6), out);
	else if (strncmp(cmd, "history ", 8) == 0 || strcmp(cmd, "history") == 0)
		mon_history(rt, cmd + (cmd[7] ? 8 : 7), out);
	else if (strcmp(cmd, "info snapshots") == 0)
		mon_snapshots(rt, out);
	else if (strcmp(cmd, "info mtree") == 0)
		mon_text(rt, fb_mtree_text, out);
	else
		return false;
	return true;
}

/* ---- backwards ------------------------------------------------------------------ */

/* Land on @icount; a failure is reported on stderr and leaves us where the
 * replay stopped. */
static void land(ReplayTarget *rt, uint64_t icount)
{
	if (fb_goto(rt->s, icount) == FB_ERROR)
		warn("gdb: replay to icount %" PRIu64 " failed: %s", icount, fb_error());
}

/*
 * Land on @icount with EIP @eip.  An interrupt, an exception or a reset
 * leads to the handler (or the reset vector) without retiring an
 * instruction, so a stop there (a breakpoint at the handler) has the same
 * icount as the instruction before the delivery, and fb_goto() lands
 * before the delivery.  Running on with a breakpoint at @eip delivers it
 * and stops there, still at @icount.
 */
static void land_at(ReplayTarget *rt, uint64_t icount, uint32_t eip)
{
	fb_stop stop;
	int rc;

	land(rt, icount);
	if (eip_now(rt) == eip)
		return;
	rc = fb_run(rt->s, icount + 1, &eip, 1, NULL, 0, &stop);
	if (rc != FB_OK || stop.reason != FB_STOP_BREAKPOINT || fb_icount(rt->s) != icount) {
		warn("gdb: EIP 0x%08" PRIx32 " is not reached at icount %" PRIu64, eip, icount);
		land(rt, icount);
	}
}

/* The gdb stop a watch hit means: the stub matches it as it would an access. */
static bool watch_stop(ReplayTarget *rt, const fb_stop *hit, GdbStop *why)
{
	CPUAccess a = {
	    .lin = hit->addr, .size = hit->size, .has_lin = true, .write = hit->write != 0};

	return stub_watch_match(rt->stub, &a, why);
}

/* Hit function of the probes and scans below: note, never stop.  Going
 * backwards a watch stops before the access (an instruction's, or a DMA
 * between instructions), so gdb sees the write undone. */
static int note(void *opaque, const fb_stop *hit)
{
	ReplayTarget *rt = opaque;
	GdbStop why;
	bool ours = hit->reason == FB_STOP_BREAKPOINT ? breakpoint_at(rt->stub, hit->eip, &why)
						      : watch_stop(rt, hit, &why);

	if (ours && hit->icount < rt->limit) {
		rt->found = true;
		rt->found_icount = hit->icount;
		rt->found_stop = why;
	}
	return 0;
}

static GdbStop reverse_step(ReplayTarget *rt)
{
	uint64_t now = fb_icount(rt->s);
	fb_stop stop;

	if (now <= fb_start_icount(rt->s))
		return (GdbStop){GDB_STOP_HISTORY_BEGIN, 0};
	land(rt, now - 1);
	if (!rt->nw)
		return (GdbStop){GDB_STOP_TRAP, 0};
	/* did the instruction stepped back over touch a watched byte? */
	rt->limit = now;
	rt->found = false;
	fb_run_hits(rt->s, now, NULL, 0, rt->w, rt->nw, note, rt, &stop);
	land(rt, now - 1);
	return rt->found ? rt->found_stop : (GdbStop){GDB_STOP_TRAP, 0};
}

/* Scan [@lo, @hi) forwards at block speed for the last stop before rt->limit. */
static bool scan_window(ReplayTarget *rt, uint64_t lo, uint64_t hi)
{
	fb_stop stop;

	if (fb_goto(rt->s, lo) == FB_ERROR)
		return false;
	rt->found = false;
	return fb_run_hits(rt->s, hi, rt->bps, rt->nbp, rt->w, rt->nw, note, rt, &stop) != FB_ERROR;
}

static GdbStop reverse_continue(ReplayTarget *rt)
{
	uint64_t start = fb_start_icount(rt->s), hi = fb_icount(rt->s);
	GdbStub *s = rt->stub;
	GdbStop why;

	rt->limit = hi;
	while ((rt->nbp || rt->nw) && hi > start) {
		/* from the nearest place the session restores cheaply: each
		 * instruction is replayed once, newest window first */
		uint64_t lo = fb_restore_point(rt->s, hi - 1);

		if (lo < start)
			lo = start;
		if (!scan_window(rt, lo, hi)) {
			warn("gdb: reverse scan failed: %s", fb_error());
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
	land(rt, start);
	if (breakpoint_at(s, eip_now(rt), &why) && start < rt->limit)
		return why;
	return (GdbStop){GDB_STOP_HISTORY_BEGIN, 0};
}

static GdbStop rt_reverse(void *opaque, GdbStub *stub, bool step)
{
	ReplayTarget *rt = opaque;

	return step ? reverse_step(rt) : reverse_continue(rt);
}

/* ---- forwards -------------------------------------------------------------------- */

/* The stub's lists, kept for the runs (gdb's watch types are fb_watch kinds). */
static void rt_set_hooks(void *opaque, const uint32_t *eips, unsigned nbp, const CPUWatch *w,
			 unsigned nw, cpu_watch_fn fn, void *fn_opaque)
{
	ReplayTarget *rt = opaque;

	(void)fn, (void)fn_opaque; /* a hit's meaning is decided here, per run */
	rt->nbp = nbp < GDB_MAX_BREAKPOINTS ? nbp : GDB_MAX_BREAKPOINTS;
	if (rt->nbp)
		memcpy(rt->bps, eips, rt->nbp * sizeof(*eips));
	rt->nw = nw < GDB_MAX_WATCHPOINTS ? nw : GDB_MAX_WATCHPOINTS;
	for (unsigned i = 0; i < rt->nw; i++)
		rt->w[i] = (fb_watch){w[i].addr, w[i].len,
				      (w[i].kinds & CPU_WATCH_READ ? FB_WATCH_READ : 0) |
					  (w[i].kinds & CPU_WATCH_WRITE ? FB_WATCH_WRITE : 0),
				      w[i].phys};
}

static void stop_with(GdbStub *s, GdbStop why)
{
	s->state = RS_STOPPED;
	s->stop = why;
	send_stop(s);
}

/* Why a forward run that ended at @stop stopped, for gdb. */
static GdbStop forward_stop(ReplayTarget *rt, const fb_stop *stop)
{
	GdbStop why = {GDB_STOP_TRAP, 0};

	switch (stop->reason) {
	case FB_STOP_BREAKPOINT:
		breakpoint_at(rt->stub, stop->eip, &why);
		break;
	case FB_STOP_WATCH:
		watch_stop(rt, stop, &why);
		break;
	case FB_STOP_END:
		why.kind = GDB_STOP_HISTORY_END;
		break;
	}
	return why;
}

/* Run forwards for a continue or a step, at block speed: the CPU checks
 * breakpoints and watchpoints itself. */
static void forward(ReplayTarget *rt)
{
	GdbStub *s = rt->stub;
	bool step = s->state == RS_STEPPING;
	fb_stop stop;
	int rc;

	fb_session_cancel(rt->s, interrupted, rt);
	rc = fb_run(rt->s, step ? fb_icount(rt->s) + 1 : UINT64_MAX, rt->bps, rt->nbp, rt->w,
		    rt->nw, &stop);
	fb_session_cancel(rt->s, NULL, NULL);
	if (rc == FB_STOPPED) {
		stop_with(s, (GdbStop){GDB_STOP_INTERRUPT, 0});
	} else if (rc == FB_ERROR) {
		warn("gdb: replay stopped: %s", fb_error());
		stop_with(s, (GdbStop){GDB_STOP_TRAP, 0});
	} else {
		stop_with(s, forward_stop(rt, &stop));
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
	uint64_t interval = o->cache_interval ? o->cache_interval : (1ull << 21);
	uint64_t bytes = o->cache_bytes ? o->cache_bytes : (256ull << 20);
	GdbTarget t = {
	    .opaque = &rt,
	    .can_reverse = true,
	    .read_only = true,
	    .read_regs = rt_read_regs,
	    .read_mem = rt_read,
	    .write_mem = rt_write,
	    .monitor = rt_monitor,
	    .monitor_help = monitor_help,
	    .reverse = rt_reverse,
	    .set_hooks = rt_set_hooks,
	};
	char err[256];

	rt.t = fb_open(o->dir);
	rt.s = rt.t ? fb_session_new(rt.t, 0) : NULL;
	if (!rt.s || fb_session_cache(rt.s, interval, bytes) != FB_OK) {
		fprintf(stderr, "flashback: %s\n", fb_error());
		fb_session_free(rt.s);
		fb_close(rt.t);
		return EXIT_USAGE;
	}
	lib_warn_snapshot(fb_session_warning(rt.s));
	fb_session_console(rt.s, stdout); /* the guest's output, as `replay` prints it */
	rt.stub = gdb_listen(&t, o->host, o->port, true, err);
	if (!rt.stub) {
		fprintf(stderr, "flashback: %s\n", err);
		fb_session_free(rt.s);
		fb_close(rt.t);
		return EXIT_USAGE;
	}
	fprintf(stderr,
		"flashback: gdb stub on %s:%d, replaying %s (icount %" PRIu64 " to %" PRIu64 ")\n",
		o->host ? o->host : "127.0.0.1", o->port, o->dir, fb_start_icount(rt.s),
		fb_end_icount(rt.s));
	while (!gdb_kill_requested(rt.stub)) {
		bool running = rt.stub->state == RS_RUNNING || rt.stub->state == RS_STEPPING;

		gdb_poll(rt.stub, running ? 0 : 200);
		if (rt.stub->state == RS_RUNNING || rt.stub->state == RS_STEPPING)
			forward(&rt);
	}
	gdb_poll(rt.stub, 0); /* the last replies */
	gdb_free(rt.stub);
	fb_session_free(rt.s);
	fb_close(rt.t);
	return 0;
}
