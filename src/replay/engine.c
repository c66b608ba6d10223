/*
 * engine.c - the replay engine: a recording as a machine that can be moved
 * to any icount (replay.h, "The replay engine").
 *
 * No device exists in replay.  The memory map is rebuilt from a snapshot
 * and the journal's map-change events; the CPU's bus takes every read,
 * interrupt vector and time value from the journal, in order, checking
 * that the CPU asks for exactly what the recording saw (kind, port or
 * address, size, icount).  Writes are dropped, except that bytes written
 * to the UART's THR and the debug console ports are printed again.
 *
 * The loop runs the CPU up to the icount of the next event.  Between
 * instructions it applies DMA writes and map changes, compares check
 * hashes and raises INTR for an interrupt event (the CPU must take it at
 * that boundary).  Inside a bus callback, DMA writes and map changes the
 * journal puts right after the read (a device that acts synchronously)
 * are applied before the callback returns.  The first mismatch stops the
 * replay with one line (a divergence).
 *
 * Going backwards restores the latest snapshot at or before the target
 * and replays forwards from it.
 */
#include "replay.h"
#include "pages.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MSG_LEN 1024

typedef struct ReplaySession {
	char *dir;
	Trace *t;
	TraceCursor *c;
	TraceEvent ev; /* the next event, when have_ev */
	bool have_ev, eof, damaged;
	uint64_t consumed; /* events taken so far */
	CPU *cpu;
	RRMemory mem;
	DMATarget *dma; /* the journal's DMA goes into mem through it */
	FILE *console;
	RRConsole con; /* which port writes are console output */
	/* console bytes the journal announced and the CPU has not written yet */
	uint8_t expect[4096];
	unsigned expect_len, expect_pos;
	bool diverged;
	char msg[MSG_LEN];
	uint64_t checks;
	/* the journal position, for the snapshot cache: events consumed at
	 * icount here_icount (all earlier ones are consumed) */
	uint64_t here_icount, here_count;
	/* console bytes are printed only past the furthest icount reached */
	uint64_t high_water;
	replay_step_fn hook;
	void *hook_opaque;
	/* the trace's snapshots, by number; a damaged one is refused when used */
	RRSnapHeader *snaps;
	unsigned nsnaps;
	char *snap_damage; /* the first damaged snapshot file's message, or NULL */
	PageStore *ps;	   /* the pages of every snapshot, opened when first needed */
	/* `replay --verify`: compare the replay with each snapshot it passes */
	bool verify;
	RRMarker *markers; /* the snapshot markers passed, in order */
	unsigned nmarkers;
	CPU *scratch; /* a CPU to load a snapshot's state into */
	/* the debugger's watches see journalled DMA (one asked to stop at the
	 * last DMA: dma_stop); a breakpoint or watch stopped the instruction
	 * of an event, or a DMA between instructions */
	bool watching, dma_stop, bp_stop;
	uint32_t bps[CPU_MAX_BREAKPOINTS];
	unsigned nbps;
	CPUWatch watches[CPU_MAX_WATCHES];
	unsigned nwatches;
	cpu_watch_fn watch_fn;
	void *watch_opaque;
	uint64_t start_icount, end_icount;
	RRCache *cache;	     /* NULL when off */
	uint64_t cache_stop; /* the next icount to stop at for the cache */
	bool (*cancel)(void *opaque); /* asked every CANCEL_SLICE instructions */
	void *cancel_opaque;
	uint64_t cancel_next; /* the icount to ask it at */
} ReplaySession;

/* Instructions between two questions to the cancel function. */
#define CANCEL_SLICE (1ull << 22)

/* ---- the journal ------------------------------------------------------------ */

static const TraceEvent *peek(ReplaySession *r)
{
	if (!r->have_ev && !r->eof) {
		int rc = trace_next(r->c, &r->ev);

		if (rc == 1) {
			r->have_ev = true;
		} else {
			r->eof = true;
			if (rc < 0) {
				r->damaged = true;
				snprintf(r->msg, sizeof(r->msg), "%s", trace_error(r->t));
			}
		}
	}
	return r->have_ev ? &r->ev : NULL;
}

static void consume(ReplaySession *r)
{
	r->have_ev = false;
	r->consumed++;
	if (r->ev.icount != r->here_icount) {
		r->here_icount = r->ev.icount;
		r->here_count = 0;
	}
	r->here_count++;
}

/* "port-read 0x3fd size 1" and friends. */
static void describe(const TraceEvent *ev, char *buf, size_t len)
{
	const char *name = trace_kind_name(ev->kind);

	switch (ev->kind) {
	case TEV_PORT_READ:
	case TEV_MMIO_READ:
		snprintf(buf, len, "%s 0x%" PRIx64 " size %u", name, ev->addr, ev->size);
		break;
	case TEV_INTERRUPT:
		snprintf(buf, len, "interrupt 0x%02" PRIx64, ev->value);
		break;
	case TEV_TIME_READ:
		if (ev->addr == 0)
			snprintf(buf, len, "time-read rdtsc");
		else
			snprintf(buf, len, "time-read rdmsr 0x%" PRIx64, ev->addr & 0xffffffffu);
		break;
	case TEV_CHECK:
	case TEV_END:
		snprintf(buf, len, "%s hash %016" PRIx64, name, ev->value);
		break;
	default:
		snprintf(buf, len, "%s", name);
	}
}

/* Stop at the first divergence: one line, kept for the caller. */
static void diverge(ReplaySession *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diverge(ReplaySession *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->diverged)
		return;
	r->diverged = true;
	n = snprintf(r->msg, sizeof(r->msg), "divergence at icount %" PRIu64 ": ",
		     cpu_icount(r->cpu));
	va_start(ap, fmt);
	vsnprintf(r->msg + n, sizeof(r->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	cpu_request_exit(r->cpu);
}

/* What the journal holds next, for a message. */
static void journal_says(ReplaySession *r, char *buf, size_t len)
{
	const TraceEvent *ev = peek(r);
	uint64_t now = cpu_icount(r->cpu);

	if (!ev) {
		snprintf(buf, len, "no more events");
		return;
	}
	describe(ev, buf, len);
	if (ev->icount != now) {
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, " at icount %" PRIu64, ev->icount);
	}
}

/* ---- applying events -------------------------------------------------------- */

static void note_marker(ReplaySession *r, unsigned number, uint64_t icount)
{
	if (!r->verify)
		return;
	r->markers = xrealloc(r->markers, (r->nmarkers + 1) * sizeof(*r->markers));
	r->markers[r->nmarkers++] = (RRMarker){number, icount};
}

/* The replay's CPU state with its lazy flags worked out, for comparing. */
static uint8_t *state_blob(CPU *cpu)
{
	uint8_t *b = xmalloc(cpu_state_size());

	cpu_get_eflags(cpu);
	cpu_state_save(cpu, b);
	return b;
}

/*
 * `replay --verify` passes snapshot @k's marker: the replayed CPU, memory
 * map and memory must be what the snapshot holds (its CPU state, its view,
 * the digest of its pages).  A difference is a divergence.
 */
static bool check_marker(ReplaySession *r, unsigned k)
{
	RRSnapState st;
	RRBuf view = {0};
	char err[512];
	uint8_t *mine = NULL, *theirs = NULL;
	const char *what = NULL;

	if (!rr_snapshot_state(r->dir, k, trace_id(r->t), &st, err, sizeof(err))) {
		snprintf(r->msg, sizeof(r->msg), "%s", err);
		r->damaged = true;
		return false;
	}
	if (!r->scratch)
		r->scratch = cpu_new(&(CPUBus){0});
	mine = state_blob(r->cpu);
	if (st.header.icount != cpu_icount(r->cpu)) {
		what = "icount";
	} else if (!cpu_state_load(r->scratch, st.cpu, st.cpu_len)) {
		what = "CPU state (of another version or damaged)";
	} else {
		theirs = state_blob(r->scratch);
		rr_view_encode(r->mem.as, &r->mem.blocks, &view, false);
		if (memcmp(mine, theirs, cpu_state_size()) != 0)
			what = "CPU state";
		else if (view.len != st.view_len || memcmp(view.p, st.view, view.len) != 0)
			what = "memory map";
		else if (rr_mem_digest(&r->mem.blocks, trace_id(r->t)) != st.digest)
			what = "memory";
	}
	if (what)
		diverge(r, "snap-%06u.fbs holds another %s than the replay reaches here", k, what);
	free(mine);
	free(theirs);
	free(view.p);
	rr_snapshot_state_free(&st);
	return !what;
}

static bool load_snapshot(ReplaySession *r, unsigned number)
{
	char err[512];

	if (!r->ps && !(r->ps = ps_open(r->dir, trace_id(r->t), err, sizeof(err)))) {
		snprintf(r->msg, sizeof(r->msg), "%s", err);
		r->damaged = true;
		return false;
	}
	if (!rr_snapshot_load(r->dir, number, trace_id(r->t), r->ps, r->cpu, &r->mem, err,
			      sizeof(err))) {
		snprintf(r->msg, sizeof(r->msg), "%s", err);
		r->damaged = true;
		return false;
	}
	r->con = (RRConsole){0};
	return true;
}

/* RAM changed without the dirty bits seeing it: the cache must know. */
static void untracked(ReplaySession *r)
{
	if (r->cache) {
		rr_cache_untracked(r->cache, &r->mem);
		cpu_flush_tlb(r->cpu);
	}
}

bool rr_display_decode(const uint8_t *p, size_t len, RRDisplay *d)
{
	RRReader rd = {p, len, 0};
	uint64_t v[6];

	for (int i = 0; i < 6; i++)
		if (!rr_get_varint(&rd, &v[i]) || v[i] > UINT32_MAX)
			return false;
	if (rd.pos != len || v[0] > 1 || v[2] > 1024 || v[3] > 1024 || v[4] > 65536)
		return false;
	*d = (RRDisplay){v[0] != 0,	 (uint32_t)v[1], (uint32_t)v[2],
			 (uint32_t)v[3], (uint32_t)v[4], (uint32_t)v[5]};
	return true;
}

static bool apply_map_change(ReplaySession *r, const TraceEvent *ev)
{
	RRDisplay display;
	char err[256];
	RRReader rd = {ev->data, ev->size, 0};
	uint64_t number;

	switch (ev->addr) {
	case RR_MAP_VIEW:
		if (rr_view_apply(&r->mem, ev->data, ev->size, err, sizeof(err))) {
			/* blocks defined with their contents: RAM changed wholesale */
			if (ev->size && ev->data[0] != 0)
				untracked(r);
			return true;
		}
		snprintf(r->msg, sizeof(r->msg), "map-change at icount %" PRIu64 ": %s", ev->icount,
			 err);
		break;
	case RR_MAP_A20:
		if (ev->size == 1) {
			cpu_set_a20(r->cpu, ev->data[0] != 0);
			return true;
		}
		snprintf(r->msg, sizeof(r->msg), "malformed A20 change at icount %" PRIu64,
			 ev->icount);
		break;
	case RR_MAP_DISPLAY:
		/* Nothing to apply: the screen is in RAM.  Only its form is checked. */
		if (rr_display_decode(ev->data, ev->size, &display))
			return true;
		snprintf(r->msg, sizeof(r->msg), "malformed display change at icount %" PRIu64,
			 ev->icount);
		break;
	case RR_MAP_RESET:
		if (rr_get_varint(&rd, &number) && number < 1000000) {
			if (!load_snapshot(r, (unsigned)number))
				return false;
			untracked(r);
			if (cpu_icount(r->cpu) != ev->icount) {
				snprintf(r->msg, sizeof(r->msg),
					 "the reset at icount %" PRIu64 " names snapshot %" PRIu64
					 ", which is of icount %" PRIu64,
					 ev->icount, number, cpu_icount(r->cpu));
				break;
			}
			note_marker(r, (unsigned)number, ev->icount);
			return true;
		}
		snprintf(r->msg, sizeof(r->msg), "malformed reset at icount %" PRIu64, ev->icount);
		break;
	default:
		snprintf(r->msg, sizeof(r->msg), "unknown map-change kind %" PRIu64 " at icount %" PRIu64,
			 ev->addr, ev->icount);
	}
	r->damaged = true;
	return false;
}

static void expect_console(ReplaySession *r, const TraceEvent *ev)
{
	if (r->expect_pos == r->expect_len)
		r->expect_pos = r->expect_len = 0;
	if (r->expect_len + ev->size > sizeof(r->expect)) {
		/* far behind: stop cross-checking rather than grow without bound */
		r->expect_pos = r->expect_len = 0;
		return;
	}
	memcpy(r->expect + r->expect_len, ev->data, ev->size);
	r->expect_len += ev->size;
}

/* The debugger's watches see a journalled DMA as they see a device's. */
static void dma_watched(void *opaque, uint64_t addr, const uint8_t *old, const uint8_t *now,
			size_t len)
{
	ReplaySession *r = opaque;

	if (cpu_watch_dma(r->cpu, (uint32_t)addr, old, now, (uint32_t)len))
		r->dma_stop = true;
}

/* Returns true if a watch asked to stop at this DMA (the CPU holds the stop:
 * its next cpu_exec() returns at once). */
static bool dma_write(ReplaySession *r, const TraceEvent *ev)
{
	r->dma_stop = false;
	dma_set_watch(r->dma, r->watching ? dma_watched : NULL, r);
	cpu_physical_memory_rw(r->dma, ev->addr, (void *)ev->data, ev->size, true);
	dma_set_watch(r->dma, NULL, NULL);
	return r->dma_stop;
}

/*
 * Apply the events at the head that act on RAM, the map or the console
 * expectations (DMA, map-change, console, snapshot marker) while their
 * icount is now.  Returns false if replay must stop.
 */
static bool apply_passive(ReplaySession *r)
{
	const TraceEvent *ev;
	uint64_t now = cpu_icount(r->cpu);

	while (!r->diverged && (ev = peek(r)) && ev->icount == now) {
		switch (ev->kind) {
		case TEV_DMA_WRITE:
			dma_write(r, ev);
			break;
		case TEV_MAP_CHANGE:
			if (!apply_map_change(r, ev)) {
				cpu_request_exit(r->cpu);
				return false;
			}
			break;
		case TEV_CONSOLE:
			expect_console(r, ev);
			break;
		case TEV_SNAPSHOT:
			if (ev->value >= 1000000 ||
			    (r->verify && !check_marker(r, (unsigned)ev->value)))
				return false;
			note_marker(r, (unsigned)ev->value, ev->icount);
			break;
		default:
			return true;
		}
		consume(r);
	}
	return !r->diverged;
}

/* What the CPU asked for, for a divergence message (formatted only then). */
static void did_what(uint8_t kind, uint64_t addr, unsigned size, char *buf, size_t len)
{
	TraceEvent ev = {.kind = kind, .addr = addr, .size = size};

	if (kind == TEV_INTERRUPT)
		snprintf(buf, len, "interrupt acknowledge");
	else
		describe(&ev, buf, len);
}

/* The next event must be @kind at @addr with @size at the current icount. */
static const TraceEvent *expect(ReplaySession *r, uint8_t kind, uint64_t addr, unsigned size)
{
	const TraceEvent *ev;
	char says[160], did[96];

	if (r->diverged || !apply_passive(r))
		return NULL;
	ev = peek(r);
	if (ev && ev->kind == kind && ev->addr == addr && ev->size == size &&
	    ev->icount == cpu_icount(r->cpu))
		return ev;
	if (!ev && !r->damaged && !trace_info(r->t)->complete) {
		r->eof = true; /* a truncated trace ends here: not a divergence */
		cpu_request_exit(r->cpu);
		return NULL;
	}
	journal_says(r, says, sizeof(says));
	did_what(kind, addr, size, did, sizeof(did));
	diverge(r, "the journal has %s, the CPU did %s", says, did);
	return NULL;
}

/* After a read: DMA and map changes of the same instruction follow it. */
static void after_read(ReplaySession *r)
{
	apply_passive(r);
}

/* ---- the replay bus ------------------------------------------------------------ */

static uint32_t rp_io_read(void *opaque, uint16_t port, unsigned size)
{
	ReplaySession *r = opaque;
	const TraceEvent *ev = expect(r, TEV_PORT_READ, port, size);
	uint32_t v;

	if (!ev)
		return 0xffffffffu;
	v = (uint32_t)ev->value;
	consume(r);
	after_read(r);
	return v;
}

static uint64_t rp_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
	ReplaySession *r = opaque;
	const TraceEvent *ev = expect(r, TEV_MMIO_READ, addr, size);
	uint64_t v;

	if (!ev)
		return ~0ull;
	v = ev->value;
	consume(r);
	after_read(r);
	return v;
}

static void console_out(ReplaySession *r, uint8_t c)
{
	if (r->console && cpu_icount(r->cpu) >= r->high_water) {
		fputc(c, r->console);
		if (c == '\n')
			fflush(r->console);
	}
	if (r->expect_pos < r->expect_len) {
		uint8_t want = r->expect[r->expect_pos++];
		if (want != c)
			diverge(r, "the journal has console byte 0x%02x, the CPU wrote 0x%02x", want, c);
	}
}

static void rp_io_write(void *opaque, uint16_t port, uint32_t value, unsigned size)
{
	ReplaySession *r = opaque;

	for (unsigned i = 0; i < size; i++) {
		uint16_t p = (uint16_t)(port + i);
		uint8_t b = (uint8_t)(value >> (8 * i));

		if (rr_console_write(&r->con, p, b)) {
			if (r->expect_pos == r->expect_len)
				apply_passive(r); /* the console event of this byte */
			console_out(r, b);
		}
	}
}

static void rp_mmio_write(void *opaque, uint64_t addr, uint64_t value, unsigned size)
{
}

/*
 * INTR and NMI are raised only by the journal: step_event() raises them
 * at the icount of an interrupt event, and the CPU must take them there.
 */
static int rp_intack(void *opaque)
{
	ReplaySession *r = opaque;
	const TraceEvent *ev;
	int vec;

	ev = expect(r, TEV_INTERRUPT, 0, 0);
	if (ev && ev->value > 0xff) {
		diverge(r, "the journal has interrupt 0x%03" PRIx64 ", the CPU took INTR",
			ev->value);
		ev = NULL;
	}
	if (!ev) {
		cpu_set_intr(r->cpu, false);
		return -1;
	}
	vec = (int)ev->value;
	consume(r);
	/* Another interrupt at the same icount keeps INTR up; anything that is
	 * not a read of the next instruction is handled between instructions. */
	ev = peek(r);
	cpu_set_intr(r->cpu, ev && ev->icount == cpu_icount(r->cpu) && ev->kind == TEV_INTERRUPT);
	if (ev && ev->icount == cpu_icount(r->cpu) && ev->kind != TEV_PORT_READ &&
	    ev->kind != TEV_MMIO_READ && ev->kind != TEV_TIME_READ)
		cpu_request_exit(r->cpu);
	return vec;
}

static void rp_nmi_ack(void *opaque)
{
	ReplaySession *r = opaque;
	const TraceEvent *ev = expect(r, TEV_INTERRUPT, 0, 0);

	if (ev && ev->value != TRACE_NMI) {
		diverge(r, "the journal has interrupt 0x%02" PRIx64 ", the CPU took an NMI",
			ev->value);
		return;
	}
	if (ev)
		consume(r);
}

static uint64_t rp_rdtsc(void *opaque)
{
	ReplaySession *r = opaque;
	const TraceEvent *ev = expect(r, TEV_TIME_READ, 0, 0);
	uint64_t v;

	if (!ev)
		return 0;
	v = ev->value;
	consume(r);
	after_read(r);
	return v;
}

static bool rp_rdmsr(void *opaque, uint32_t msr, uint64_t *value)
{
	ReplaySession *r = opaque;
	const TraceEvent *ev;
	bool ok;

	if (!apply_passive(r))
		return false;
	ev = peek(r);
	if (ev && ev->kind == TEV_TIME_READ && ev->addr == (msr | RR_MSR_REFUSED))
		ev = expect(r, TEV_TIME_READ, msr | RR_MSR_REFUSED, 0);
	else
		ev = expect(r, TEV_TIME_READ, msr, 0);
	if (!ev)
		return false;
	ok = !(ev->addr & RR_MSR_REFUSED);
	*value = ev->value;
	consume(r);
	after_read(r);
	return ok;
}

/* The PC's only writable bus MSR is the APIC base (writes are not journalled). */
static bool rp_wrmsr(void *opaque, uint32_t msr, uint64_t value)
{
	return msr == 0x1b;
}


/* ---- snapshots ------------------------------------------------------------------ */

static int cmp_snap(const void *a, const void *b)
{
	const RRSnapHeader *x = a, *y = b;

	return x->number < y->number ? -1 : x->number > y->number;
}

/*
 * The trace's snapshots, sorted by number (their icounts grow with it).  A
 * file that is damaged or from another recording is left out, and the
 * first such message kept (replay_snapshot_damage()): snapshots only make
 * going somewhere faster, so starting from an earlier one still gives the
 * right state; `replay --verify` and `info` report it.
 */
static void list_snapshots(ReplaySession *r)
{
	DIR *d = opendir(r->dir);
	struct dirent *e;
	unsigned cap = 0;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		unsigned n;
		char tail[8], err[512];
		RRSnapHeader h;

		if (sscanf(e->d_name, "snap-%6u.fb%1s", &n, tail) != 2)
			continue;
		if (!rr_snapshot_header(r->dir, n, trace_id(r->t), &h, err, sizeof(err))) {
			if (!r->snap_damage)
				r->snap_damage = xstrdup(err);
			continue;
		}
		if (r->nsnaps == cap) {
			cap = cap ? cap * 2 : 16;
			r->snaps = xrealloc(r->snaps, cap * sizeof(*r->snaps));
		}
		r->snaps[r->nsnaps++] = h;
	}
	closedir(d);
	if (r->nsnaps)
		qsort(r->snaps, r->nsnaps, sizeof(*r->snaps), cmp_snap);
}

/* Index in r->snaps of the latest snapshot at or before @icount; -1 if none. */
static int pick_snapshot(const ReplaySession *r, uint64_t icount)
{
	int best = -1;

	for (unsigned i = 0; i < r->nsnaps; i++)
		if (r->snaps[i].icount <= icount)
			best = (int)i;
	return best;
}

/* Forget the journal position and everything read from it. */
static void drop_cursor(ReplaySession *r)
{
	if (r->c)
		trace_cursor_free(r->c);
	r->c = NULL;
	r->have_ev = r->eof = r->damaged = r->diverged = false;
	r->expect_len = r->expect_pos = 0;
	r->msg[0] = 0;
}

/* Restore snapshot @k (each one holds the whole machine). */
static bool restore(ReplaySession *r, unsigned k, uint64_t *icount)
{
	RRSnapHeader h;
	char err[512];

	if (!rr_snapshot_header(r->dir, k, trace_id(r->t), &h, err, sizeof(err))) {
		snprintf(r->msg, sizeof(r->msg), "%s", err);
		return false;
	}
	if (!load_snapshot(r, k))
		return false;
	*icount = h.icount;
	return true;
}

/* Move the cursor just past the journal's marker of snapshot @k. */
static bool seek_snapshot(ReplaySession *r, unsigned k, uint64_t icount)
{
	const TraceEvent *ev;

	r->c = trace_cursor(r->t, icount);
	if (!r->c) {
		snprintf(r->msg, sizeof(r->msg), "%s", trace_error(r->t));
		return false;
	}
	r->here_icount = icount;
	r->here_count = 0;
	while ((ev = peek(r)) && ev->icount == icount) {
		RRReader rd = {ev->data, ev->size, 0};
		uint64_t num;
		bool marker = (ev->kind == TEV_SNAPSHOT && ev->value == k) ||
			      (ev->kind == TEV_MAP_CHANGE && ev->addr == RR_MAP_RESET &&
			       rr_get_varint(&rd, &num) && num == k);
		consume(r);
		if (marker)
			return true;
	}
	snprintf(r->msg, sizeof(r->msg), "the journal has no marker for snapshot %u", k);
	return false;
}

/* ---- the snapshot cache's entries: the engine's state apart from RAM ------------- */

static void cache_reset_stop(ReplaySession *r)
{
	uint64_t iv, now = cpu_icount(r->cpu);

	if (!r->cache)
		return;
	iv = rr_cache_interval(r->cache);
	r->cache_stop = now % iv ? now + iv - now % iv : now;
}

/* Blob: events consumed here, LCR, MCR, view length and view, CPU state. */
static void cache_pass(ReplaySession *r)
{
	RRBuf b = {0}, view = {0};
	size_t cs = cpu_state_size();
	uint8_t *state = xmalloc(cs);
	uint64_t now = cpu_icount(r->cpu);

	rrbuf_varint(&b, r->here_icount == now ? r->here_count : 0);
	rrbuf_u8(&b, r->con.lcr);
	rrbuf_u8(&b, r->con.mcr);
	rr_view_encode(r->mem.as, &r->mem.blocks, &view, false);
	rrbuf_varint(&b, view.len);
	rrbuf_put(&b, view.p, view.len);
	cpu_state_save(r->cpu, state);
	rrbuf_put(&b, state, cs);
	rr_cache_pass(r->cache, now, &r->mem, b.p, b.len);
	cpu_flush_tlb(r->cpu); /* the dirty bits were cleared */
	r->cache_stop = now + rr_cache_interval(r->cache);
	free(state);
	free(b.p);
	free(view.p);
}

/* Restore a cache entry's blob (RAM is already back). */
static bool cache_load(ReplaySession *r, const uint8_t *blob, size_t len)
{
	RRReader rd = {blob, len, 0};
	RRBuf cur = {0};
	uint64_t skip, view_len, icount;
	uint8_t lcr, mcr;
	const uint8_t *view, *state;
	char err[256];
	bool ok = false;

	drop_cursor(r);
	if (!rr_get_varint(&rd, &skip) || !rr_get_u8(&rd, &lcr) || !rr_get_u8(&rd, &mcr) ||
	    !rr_get_varint(&rd, &view_len) || !(view = rr_get_bytes(&rd, view_len)) ||
	    !(state = rr_get_bytes(&rd, cpu_state_size())) ||
	    !cpu_state_load(r->cpu, state, cpu_state_size())) {
		snprintf(r->msg, sizeof(r->msg), "a cached snapshot is damaged");
		goto out;
	}
	rr_view_encode(r->mem.as, &r->mem.blocks, &cur, false);
	if ((cur.len != view_len || memcmp(cur.p, view, view_len) != 0) &&
	    !rr_view_apply(&r->mem, view, view_len, err, sizeof(err))) {
		snprintf(r->msg, sizeof(r->msg), "a cached snapshot's map: %s", err);
		goto out;
	}
	cpu_flush_tlb(r->cpu);
	r->con = (RRConsole){lcr, mcr};
	icount = cpu_icount(r->cpu);
	r->c = trace_cursor(r->t, icount);
	r->here_icount = icount;
	r->here_count = 0;
	while (skip-- > 0) {
		const TraceEvent *ev = peek(r);

		if (!ev || ev->icount != icount) {
			snprintf(r->msg, sizeof(r->msg), "the journal lost events at icount %" PRIu64,
				 icount);
			goto out;
		}
		consume(r);
	}
	cache_reset_stop(r);
	ok = true;
out:
	free(cur.p);
	if (!ok)
		r->damaged = true;
	return ok;
}

void replay_set_cache(ReplaySession *r, uint64_t interval, size_t max_bytes)
{
	rr_cache_free(r->cache);
	r->cache = NULL;
	if (!interval)
		return;
	r->cache = rr_cache_new(interval, max_bytes);
	rr_cache_untracked(r->cache, &r->mem);
	cpu_flush_tlb(r->cpu);
	cache_pass(r); /* an entry where we are */
	cache_reset_stop(r);
}

void replay_cache_info(const ReplaySession *r, ReplayCacheInfo *info)
{
	if (r->cache)
		rr_cache_info(r->cache, info);
	else
		memset(info, 0, sizeof(*info));
}

/* Start again from the trace's snapshot @k. */
static bool start_at(ReplaySession *r, unsigned k)
{
	uint64_t icount;

	drop_cursor(r);
	if (restore(r, k, &icount) && seek_snapshot(r, k, icount)) {
		untracked(r);
		if (r->cache)
			cache_pass(r); /* a new chain starts here */
		cache_reset_stop(r);
		return true;
	}
	r->damaged = true;
	return false;
}

/* ---- the loop ------------------------------------------------------------------ */

/* Handle the event at the head, whose icount is now. */
static bool step_event(ReplaySession *r, const TraceEvent *ev)
{
	uint64_t now = cpu_icount(r->cpu);
	uint64_t hash, before = r->consumed;
	char says[160];

	switch (ev->kind) {
	case TEV_CHECK:
		hash = cpu_state_hash(r->cpu);
		if (hash != ev->value) {
			diverge(r, "the journal has check hash %016" PRIx64
				   ", the CPU state hashes to %016" PRIx64,
				ev->value, hash);
			return false;
		}
		if (ev->flags & TRACE_CHECK_RAM) {
			hash = rr_mem_digest(&r->mem.blocks, trace_id(r->t));
			if (hash != ev->value2) {
				diverge(r, "the journal has RAM hash %016" PRIx64
					   ", the replayed RAM hashes to %016" PRIx64,
					ev->value2, hash);
				return false;
			}
		}
		r->checks++;
		consume(r);
		return true;
	case TEV_INTERRUPT:
		if (ev->value == TRACE_NMI)
			cpu_nmi(r->cpu);
		else if (ev->value <= 0xff)
			cpu_set_intr(r->cpu, true);
		if (cpu_exec(r->cpu, now + 1) == CPU_EXIT_BREAKPOINT)
			r->bp_stop = true; /* at the handler's first instruction */
		cpu_set_intr(r->cpu, false);
		if (r->diverged || r->damaged)
			return false;
		if (r->consumed == before) {
			diverge(r, "the journal has interrupt 0x%02" PRIx64
				   ", the CPU could not take it (IF=%d)",
				ev->value, (cpu_get_eflags(r->cpu) & F_IF) != 0);
			return false;
		}
		return true;
	case TEV_PORT_READ:
	case TEV_MMIO_READ:
	case TEV_TIME_READ:
		if (cpu_exec(r->cpu, now + 1) == CPU_EXIT_BREAKPOINT) {
			/* before the reading instruction, or after it (a watch) */
			r->bp_stop = true;
			if (r->consumed == before && cpu_icount(r->cpu) == now)
				return true;
		}
		if (r->diverged || r->damaged)
			return false;
		if (r->consumed == before) {
			journal_says(r, says, sizeof(says));
			diverge(r, "the journal has %s at icount %" PRIu64 ", the CPU did no read",
				says, now);
			return false;
		}
		return true;
	case TEV_DMA_WRITE:
		/* Between instructions a watched DMA stops right after itself,
		 * before the events that follow at this icount (the device's
		 * interrupt, say).  The CPU holds the stop until its next
		 * cpu_exec(), which would return at once and so take no
		 * interrupt: take the stop now (nothing runs with limit now). */
		if (dma_write(r, ev)) {
			consume(r);
			cpu_exec(r->cpu, now);
			r->bp_stop = true;
			return true;
		}
		consume(r);
		return true;
	default:
		return apply_passive(r);
	}
}

/* The end event: the CPU state and the console must be where the recording left them. */
static bool check_end(ReplaySession *r, const TraceEvent *ev)
{
	uint64_t hash = cpu_state_hash(r->cpu);

	if (ev->value != hash) {
		diverge(r, "the journal has end hash %016" PRIx64 ", the CPU state hashes to %016" PRIx64,
			ev->value, hash);
		return false;
	}
	if (r->expect_pos < r->expect_len) {
		diverge(r, "the journal has %u console bytes the CPU never wrote",
			r->expect_len - r->expect_pos);
		return false;
	}
	return true;
}

/* After cpu_exec() stopped short of @limit: is that what the journal says? */
static bool exec_exit_ok(ReplaySession *r, enum cpu_exit why, uint64_t limit)
{
	const TraceEvent *ev = peek(r);
	char says[160];

	if (why == CPU_EXIT_HALT && cpu_icount(r->cpu) < limit && ev) {
		describe(ev, says, sizeof(says));
		diverge(r, "the journal has %s at icount %" PRIu64 ", the CPU halted", says,
			ev->icount);
		return false;
	}
	if (why == CPU_EXIT_TRIPLE_FAULT &&
	    (!ev || ev->kind != TEV_MAP_CHANGE || ev->addr != RR_MAP_RESET ||
	     ev->icount != cpu_icount(r->cpu))) {
		diverge(r, "the CPU triple-faulted, the journal has no reset here");
		return false;
	}
	return true;
}

static enum replay_status stopped(ReplaySession *r, enum replay_status st)
{
	uint64_t now = cpu_icount(r->cpu);

	if (now > r->high_water)
		r->high_water = now;
	if (r->console)
		fflush(r->console);
	return st;
}

/* Ask the cancel function when a slice is done: true to stop now. */
static bool cancelled(ReplaySession *r, uint64_t now)
{
	if (!r->cancel || now < r->cancel_next)
		return false;
	r->cancel_next = now + CANCEL_SLICE;
	return r->cancel(r->cancel_opaque);
}

enum replay_status replay_forward(ReplaySession *r, uint64_t target)
{
	r->cancel_next = cpu_icount(r->cpu) + CANCEL_SLICE;
	for (;;) {
		const TraceEvent *ev;
		uint64_t now = cpu_icount(r->cpu), limit;
		enum cpu_exit why;

		if (r->diverged || r->damaged)
			return stopped(r, REPLAY_ERROR);
		if (r->cache && now == r->cache_stop)
			cache_pass(r);
		if (now >= target)
			return stopped(r, REPLAY_OK);
		if (cancelled(r, now))
			return stopped(r, REPLAY_CANCELLED);
		ev = peek(r);
		if (r->damaged)
			return stopped(r, REPLAY_ERROR);
		if (!ev || r->eof)
			return stopped(r, REPLAY_END); /* a truncated trace */
		if (ev->icount < now) {
			char says[160];

			describe(ev, says, sizeof(says));
			diverge(r, "the journal has %s at icount %" PRIu64 ", the CPU is past it",
				says, ev->icount);
			return stopped(r, REPLAY_ERROR);
		}
		if (ev->icount == now) {
			if (ev->kind == TEV_END)
				return stopped(r, check_end(r, ev) ? REPLAY_END : REPLAY_ERROR);
			if (!step_event(r, ev))
				return stopped(r, REPLAY_ERROR);
			if (r->bp_stop) {
				r->bp_stop = false;
				return stopped(r, REPLAY_STOPPED);
			}
			if (r->hook && cpu_icount(r->cpu) > now && r->hook(r->hook_opaque))
				return stopped(r, REPLAY_STOPPED);
			continue;
		}
		limit = ev->icount < target ? ev->icount : target;
		if (r->cache && r->cache_stop > now && r->cache_stop < limit)
			limit = r->cache_stop;
		if (r->cancel && r->cancel_next < limit)
			limit = r->cancel_next;
		if (r->hook)
			limit = now + 1;
		why = cpu_exec(r->cpu, limit);
		if (r->diverged || r->damaged)
			return stopped(r, REPLAY_ERROR);
		if (r->eof)
			return stopped(r, REPLAY_END);
		if (!exec_exit_ok(r, why, limit))
			return stopped(r, REPLAY_ERROR);
		if (why == CPU_EXIT_BREAKPOINT)
			return stopped(r, REPLAY_STOPPED);
		if (r->hook && cpu_icount(r->cpu) > now && r->hook(r->hook_opaque))
			return stopped(r, REPLAY_STOPPED);
	}
}

enum replay_status replay_goto_snapshot(ReplaySession *r, unsigned number)
{
	if (!start_at(r, number))
		return REPLAY_ERROR;
	return REPLAY_OK;
}

/*
 * What a restore costs, in instructions of replay: loading a trace snapshot
 * reads its file and copies RAM for the cache (tens of milliseconds); a
 * cached one only puts back the pages that changed.
 */
#define DISK_RESTORE_COST (1ull << 22)
#define CACHE_RESTORE_COST (1ull << 12)

uint64_t replay_restore_point(ReplaySession *r, uint64_t icount)
{
	uint64_t best = r->start_icount, cached;
	int k = pick_snapshot(r, icount);

	if (k >= 0 && r->snaps[k].icount > best)
		best = r->snaps[k].icount;
	if (r->cache && rr_cache_find(r->cache, icount, &cached) && cached > best)
		best = cached;
	return best;
}

void replay_set_breakpoints(ReplaySession *r, const uint32_t *eips, unsigned n)
{
	if (n > CPU_MAX_BREAKPOINTS)
		n = CPU_MAX_BREAKPOINTS;
	if (n) /* eips may be NULL for none */
		memcpy(r->bps, eips, n * sizeof(*eips));
	r->nbps = n;
	cpu_set_breakpoints(r->cpu, r->bps, n);
}

void replay_set_watches(ReplaySession *r, const CPUWatch *w, unsigned n, cpu_watch_fn fn,
			void *opaque)
{
	if (n > CPU_MAX_WATCHES)
		n = CPU_MAX_WATCHES;
	if (n)
		memcpy(r->watches, w, n * sizeof(*w));
	r->nwatches = n;
	r->watch_fn = fn;
	r->watch_opaque = opaque;
	r->watching = n > 0 && fn;
	cpu_set_watches(r->cpu, r->watches, n, fn, opaque);
}

/* Going somewhere is not running: the debugger's stops are off meanwhile. */
static void hooks(ReplaySession *r, bool on)
{
	if (!r->nbps && !r->nwatches)
		return;
	cpu_set_breakpoints(r->cpu, r->bps, on ? r->nbps : 0);
	cpu_set_watches(r->cpu, r->watches, on ? r->nwatches : 0, r->watch_fn, r->watch_opaque);
	r->watching = on && r->nwatches;
}

static enum replay_status go_to(ReplaySession *r, uint64_t target);

enum replay_status replay_goto(ReplaySession *r, uint64_t target)
{
	enum replay_status st;

	hooks(r, false);
	st = go_to(r, target);
	hooks(r, true);
	return st;
}

static enum replay_status go_to(ReplaySession *r, uint64_t target)
{
	uint64_t now = cpu_icount(r->cpu), cached = 0, best;
	bool usable = !r->diverged && !r->damaged;
	bool have_cached = usable && r->cache && rr_cache_find(r->cache, target, &cached);
	int k = pick_snapshot(r, target);
	enum { FORWARD, CACHED, DISK } how = FORWARD;

	/* the cheapest way there: on from here, a cached snapshot, a trace snapshot */
	best = usable && target >= now ? target - now : UINT64_MAX;
	if (have_cached && target - cached + CACHE_RESTORE_COST < best) {
		best = target - cached + CACHE_RESTORE_COST;
		how = CACHED;
	}
	if (k >= 0 && target - r->snaps[k].icount + DISK_RESTORE_COST < best)
		how = DISK;
	if (how == FORWARD && best == UINT64_MAX) {
		snprintf(r->msg, sizeof(r->msg), "no snapshot before icount %" PRIu64, target);
		r->damaged = true;
		return REPLAY_ERROR;
	}
	if (how == CACHED) {
		size_t len;
		const uint8_t *blob = rr_cache_restore(r->cache, target, &r->mem, &len);

		if (!blob || !cache_load(r, blob, len))
			return REPLAY_ERROR;
	} else if (how == DISK && !start_at(r, r->snaps[k].number)) {
		return REPLAY_ERROR;
	}
	return replay_forward(r, target);
}

/* ---- the session ------------------------------------------------------------------ */

ReplaySession *replay_open(const char *dir, FILE *console, char *err, size_t errlen)
{
	ReplaySession *r = xcalloc(1, sizeof(*r));
	char terr[TRACE_ERR_LEN];
	const TraceInfo *info;
	CPUBus bus;

	r->t = trace_open(dir, terr);
	if (!r->t) {
		snprintf(err, errlen, "%s", terr);
		free(r);
		return NULL;
	}
	r->dir = xstrdup(dir);
	r->console = console;
	rr_memory_init(&r->mem);
	r->dma = dma_target_new(r->mem.as);
	bus = (CPUBus){
	    .opaque = r,
	    .memory = r->mem.as,
	    .io_read = rp_io_read,
	    .io_write = rp_io_write,
	    .mmio_read = rp_mmio_read,
	    .mmio_write = rp_mmio_write,
	    .intack = rp_intack,
	    .nmi_ack = rp_nmi_ack,
	    .rdtsc = rp_rdtsc,
	    .rdmsr = rp_rdmsr,
	    .wrmsr = rp_wrmsr,
	};
	r->cpu = cpu_new(&bus);
	list_snapshots(r);
	info = trace_info(r->t);
	r->end_icount = info->complete ? info->final_icount : info->last_icount;
	if (r->nsnaps == 0 || r->snaps[0].number != 0 || !start_at(r, 0)) {
		snprintf(err, errlen, "%s: %s", dir,
			 r->msg[0] ? r->msg : "the initial snapshot snap-000000.fbs is missing");
		replay_close(r);
		return NULL;
	}
	r->start_icount = cpu_icount(r->cpu);
	return r;
}

void replay_close(ReplaySession *r)
{
	if (!r)
		return;
	if (r->c)
		trace_cursor_free(r->c);
	trace_free(r->t);
	cpu_free(r->cpu);
	dma_target_free(r->dma);
	rr_cache_free(r->cache);
	rr_memory_free(&r->mem);
	free(r->snaps);
	free(r->snap_damage);
	free(r->markers);
	if (r->scratch)
		cpu_free(r->scratch);
	ps_close(r->ps);
	free(r->dir);
	free(r);
}

CPU *replay_cpu(ReplaySession *r)
{
	return r->cpu;
}

AddressSpace *replay_address_space(ReplaySession *r)
{
	return r->mem.as;
}

Trace *replay_trace(ReplaySession *r)
{
	return r->t;
}

bool replay_read_phys(ReplaySession *r, uint64_t addr, void *buf, size_t len)
{
	uint8_t *p = buf;
	bool all = true;

	memset(p, 0xff, len);
	for (size_t done = 0; done < len;) {
		uint64_t a = addr + done;
		const FlatRange *f = a >= addr ? as_lookup_next(r->mem.as, a) : NULL;
		size_t n;

		if (!f)
			return false;
		if (f->start > a) { /* a hole up to the next range */
			all = false;
			n = f->start - a < len - done ? (size_t)(f->start - a) : len - done;
		} else {
			n = f->end - a < len - done - 1 ? (size_t)(f->end - a) + 1 : len - done;
			if (mr_kind(f->mr) == MR_RAM || mr_kind(f->mr) == MR_ROM)
				memcpy(p + done, mr_host(f->mr) + f->mr_offset + (a - f->start), n);
			else
				all = false;
		}
		done += n;
	}
	return all;
}

uint64_t replay_icount(const ReplaySession *r)
{
	return cpu_icount(r->cpu);
}

uint64_t replay_end_icount(const ReplaySession *r)
{
	return r->end_icount;
}

uint64_t replay_start_icount(const ReplaySession *r)
{
	return r->start_icount;
}

void replay_set_console(ReplaySession *r, FILE *console)
{
	r->console = console;
}

void replay_set_cancel(ReplaySession *r, bool (*fn)(void *opaque), void *opaque)
{
	r->cancel = fn;
	r->cancel_opaque = opaque;
}

bool replay_goto_check(const ReplaySession *r, uint64_t icount, char *err, size_t errlen)
{
	if (icount >= r->start_icount && icount <= r->end_icount)
		return true;
	snprintf(err, errlen,
		 "icount %" PRIu64 " is outside the recording (%" PRIu64 " to %" PRIu64 ")", icount,
		 r->start_icount, r->end_icount);
	return false;
}

void replay_set_step_hook(ReplaySession *r, replay_step_fn fn, void *opaque)
{
	r->hook = fn;
	r->hook_opaque = opaque;
}

const char *replay_error(const ReplaySession *r)
{
	return r->msg;
}

int replay_error_status(const ReplaySession *r)
{
	return r->diverged ? EXIT_DIVERGENCE : EXIT_USAGE;
}

void replay_set_verify(ReplaySession *r, bool on)
{
	r->verify = on;
}

unsigned replay_markers(const ReplaySession *r, const RRMarker **list)
{
	*list = r->markers;
	return r->nmarkers;
}

/*
 * Load snapshot @k into a machine of its own and check that its CPU state
 * and memory hash to what its file says they do: the snapshot holds what
 * the recorder saw, whether or not any replay ever loads it.
 */
bool replay_check_snapshot(ReplaySession *r, unsigned k, char *err, size_t errlen)
{
	RRMemory mem;
	CPU *cpu;
	RRSnapState st;
	bool ok;

	if (!r->ps && !(r->ps = ps_open(r->dir, trace_id(r->t), err, errlen)))
		return false;
	if (!rr_snapshot_state(r->dir, k, trace_id(r->t), &st, err, errlen))
		return false;
	rr_memory_init(&mem);
	cpu = cpu_new(&(CPUBus){.memory = mem.as});
	ok = rr_snapshot_load(r->dir, k, trace_id(r->t), r->ps, cpu, &mem, err, errlen);
	if (ok && cpu_icount(cpu) != st.header.icount) {
		snprintf(err, errlen,
			 "%s/snap-%06u.fbs: its CPU state is of icount %" PRIu64
			 ", its header says %" PRIu64,
			 r->dir, k, cpu_icount(cpu), st.header.icount);
		ok = false;
	} else if (ok && (cpu_state_hash(cpu) != st.cpu_hash ||
			  rr_mem_digest(&mem.blocks, trace_id(r->t)) != st.digest)) {
		snprintf(
		    err, errlen,
		    "%s/snap-%06u.fbs: its %s does not hash to what the snapshot says (damaged)",
		    r->dir, k, cpu_state_hash(cpu) != st.cpu_hash ? "CPU state" : "memory");
		ok = false;
	}
	cpu_free(cpu);
	rr_memory_free(&mem);
	rr_snapshot_state_free(&st);
	return ok;
}

bool replay_check_pages(ReplaySession *r, char *err, size_t errlen)
{
	if (!r->ps && !(r->ps = ps_open(r->dir, trace_id(r->t), err, errlen)))
		return false;
	if (!ps_check_all(r->ps)) {
		snprintf(err, errlen, "%s", ps_error(r->ps));
		return false;
	}
	if (ps_tail_bytes(r->ps)) {
		snprintf(err, errlen, "%s/" PS_FILE ": %" PRIu64 " bytes after its last frame",
			 r->dir, ps_tail_bytes(r->ps));
		return false;
	}
	return true;
}

const char *replay_snapshot_damage(const ReplaySession *r)
{
	return r->snap_damage;
}

unsigned replay_snapshots(const ReplaySession *r, const RRSnapHeader **list)
{
	*list = r->snaps;
	return r->nsnaps;
}

uint64_t replay_checks(const ReplaySession *r)
{
	return r->checks;
}
