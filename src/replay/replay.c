/*
 * replay.c - re-executing a trace on CPU + RAM alone, and `flashback info`.
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
 * replay with one line and exit status 3.
 */
#include "replay.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MSG_LEN 1024

typedef struct Replayer {
	const char *dir;
	Trace *t;
	TraceCursor *c;
	TraceEvent ev; /* the next event, when have_ev */
	bool have_ev, eof, damaged;
	uint64_t consumed; /* events taken so far */
	CPU *cpu;
	RRMemory mem;
	FILE *console;
	uint8_t lcr, mcr; /* UART line and modem control (DLAB, loopback) */
	/* console bytes the journal announced and the CPU has not written yet */
	uint8_t expect[4096];
	unsigned expect_len, expect_pos;
	bool diverged;
	char msg[MSG_LEN];
	uint64_t checks;
} Replayer;

/* ---- the journal ------------------------------------------------------------ */

static const TraceEvent *peek(Replayer *r)
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

static void consume(Replayer *r)
{
	r->have_ev = false;
	r->consumed++;
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
static void diverge(Replayer *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diverge(Replayer *r, const char *fmt, ...)
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
static void journal_says(Replayer *r, char *buf, size_t len)
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

static bool load_snapshot(Replayer *r, unsigned number)
{
	char err[512];

	if (!rr_snapshot_load(r->dir, number, r->cpu, &r->mem, err, sizeof(err))) {
		snprintf(r->msg, sizeof(r->msg), "%s", err);
		r->damaged = true;
		return false;
	}
	r->lcr = r->mcr = 0;
	return true;
}

static bool apply_map_change(Replayer *r, const TraceEvent *ev)
{
	char err[256];
	RRReader rd = {ev->data, ev->size, 0};
	uint64_t number;

	switch (ev->addr) {
	case RR_MAP_VIEW:
		if (rr_view_apply(&r->mem, ev->data, ev->size, err, sizeof(err)))
			return true;
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
	case RR_MAP_RESET:
		if (rr_get_varint(&rd, &number) && number < 1000000)
			return load_snapshot(r, (unsigned)number);
		snprintf(r->msg, sizeof(r->msg), "malformed reset at icount %" PRIu64, ev->icount);
		break;
	default:
		snprintf(r->msg, sizeof(r->msg), "unknown map-change kind %" PRIu64 " at icount %" PRIu64,
			 ev->addr, ev->icount);
	}
	r->damaged = true;
	return false;
}

static void expect_console(Replayer *r, const TraceEvent *ev)
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

/*
 * Apply the events at the head that act on RAM, the map or the console
 * expectations (DMA, map-change, console, snapshot marker) while their
 * icount is now.  Returns false if replay must stop.
 */
static bool apply_passive(Replayer *r)
{
	const TraceEvent *ev;
	uint64_t now = cpu_icount(r->cpu);

	while (!r->diverged && (ev = peek(r)) && ev->icount == now) {
		switch (ev->kind) {
		case TEV_DMA_WRITE:
			cpu_physical_memory_rw(ev->addr, (void *)ev->data, ev->size, true);
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
			break;
		default:
			return true;
		}
		consume(r);
	}
	return !r->diverged;
}

/* The next event must be @kind at @addr with @size at the current icount. */
static const TraceEvent *expect(Replayer *r, uint8_t kind, uint64_t addr, unsigned size,
				const char *did)
{
	const TraceEvent *ev;
	char says[160];

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
	diverge(r, "the journal has %s, the CPU did %s", says, did);
	return NULL;
}

/* After a read: DMA and map changes of the same instruction follow it. */
static void after_read(Replayer *r)
{
	apply_passive(r);
}

/* ---- the replay bus ------------------------------------------------------------ */

static uint32_t rp_io_read(void *opaque, uint16_t port, unsigned size)
{
	Replayer *r = opaque;
	char did[64];
	const TraceEvent *ev;
	uint32_t v;

	snprintf(did, sizeof(did), "port-read 0x%x size %u", port, size);
	ev = expect(r, TEV_PORT_READ, port, size, did);
	if (!ev)
		return 0xffffffffu;
	v = (uint32_t)ev->value;
	consume(r);
	after_read(r);
	return v;
}

static uint64_t rp_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
	Replayer *r = opaque;
	char did[64];
	const TraceEvent *ev;
	uint64_t v;

	snprintf(did, sizeof(did), "mmio-read 0x%" PRIx64 " size %u", addr, size);
	ev = expect(r, TEV_MMIO_READ, addr, size, did);
	if (!ev)
		return ~0ull;
	v = ev->value;
	consume(r);
	after_read(r);
	return v;
}

static void console_out(Replayer *r, uint8_t c)
{
	if (r->console) {
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
	Replayer *r = opaque;

	for (unsigned i = 0; i < size; i++) {
		uint16_t p = (uint16_t)(port + i);
		uint8_t b = (uint8_t)(value >> (8 * i));

		if (p == 0x3fb) {
			r->lcr = b;
		} else if (p == 0x3fc) {
			r->mcr = b;
		} else if ((p == 0x3f8 && !(r->lcr & 0x80) && !(r->mcr & 0x10)) || p == 0xe9 ||
			   p == 0x402) {
			if (r->expect_pos == r->expect_len)
				apply_passive(r); /* the console event of this byte */
			console_out(r, b);
		}
	}
}

static void rp_mmio_write(void *opaque, uint64_t addr, uint64_t value, unsigned size)
{
}

static int rp_intack(void *opaque)
{
	Replayer *r = opaque;
	const TraceEvent *ev;
	int vec;

	ev = expect(r, TEV_INTERRUPT, 0, 0, "interrupt acknowledge");
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

static uint64_t rp_rdtsc(void *opaque)
{
	Replayer *r = opaque;
	const TraceEvent *ev = expect(r, TEV_TIME_READ, 0, 0, "time-read rdtsc");
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
	Replayer *r = opaque;
	const TraceEvent *ev;
	char did[64];
	bool ok;

	snprintf(did, sizeof(did), "time-read rdmsr 0x%x", msr);
	if (!apply_passive(r))
		return false;
	ev = peek(r);
	if (ev && ev->kind == TEV_TIME_READ && ev->addr == (msr | RR_MSR_REFUSED))
		ev = expect(r, TEV_TIME_READ, msr | RR_MSR_REFUSED, 0, did);
	else
		ev = expect(r, TEV_TIME_READ, msr, 0, did);
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

/* ---- the loop ------------------------------------------------------------------ */

/* The latest snapshot at or before @icount (0 when none is later). */
static unsigned pick_snapshot(const char *dir, uint64_t icount)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned best = 0;
	uint64_t best_icount = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		unsigned n;
		char tail[8];
		RRSnapHeader h;
		char err[256];

		if (sscanf(e->d_name, "snap-%6u.fb%1s", &n, tail) != 2 ||
		    !rr_snapshot_header(dir, n, &h, err, sizeof(err)))
			continue;
		if (h.icount <= icount && h.icount >= best_icount && n >= best) {
			best = n;
			best_icount = h.icount;
		}
	}
	closedir(d);
	return best;
}

/* Restore snapshot @k: the full one before it and the increments up to it. */
static bool restore(Replayer *r, unsigned k, uint64_t *icount)
{
	RRSnapHeader h;
	char err[512];
	unsigned base = k;

	for (;;) {
		if (!rr_snapshot_header(r->dir, base, &h, err, sizeof(err))) {
			snprintf(r->msg, sizeof(r->msg), "%s", err);
			return false;
		}
		if (h.full || base == 0)
			break;
		base--;
	}
	for (unsigned i = base; i <= k; i++)
		if (!load_snapshot(r, i))
			return false;
	if (!rr_snapshot_header(r->dir, k, &h, err, sizeof(err)))
		return false;
	*icount = h.icount;
	return true;
}

/* Move the cursor just past the journal's marker of snapshot @k. */
static bool seek_snapshot(Replayer *r, unsigned k, uint64_t icount)
{
	const TraceEvent *ev;

	r->c = trace_cursor(r->t, icount);
	if (!r->c) {
		snprintf(r->msg, sizeof(r->msg), "%s", trace_error(r->t));
		return false;
	}
	if (k == 0)
		return true; /* the initial snapshot precedes every event */
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

/* Handle the event at the head, whose icount is now. */
static bool step_event(Replayer *r, const TraceEvent *ev)
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
			hash = rr_ram_hash(&r->mem.blocks);
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
		cpu_set_intr(r->cpu, true);
		cpu_exec(r->cpu, now + 1);
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
		cpu_exec(r->cpu, now + 1);
		if (r->diverged || r->damaged)
			return false;
		if (r->consumed == before) {
			journal_says(r, says, sizeof(says));
			diverge(r, "the journal has %s at icount %" PRIu64 ", the CPU did no read",
				says, now);
			return false;
		}
		return true;
	default:
		if (!apply_passive(r))
			return false;
		return true;
	}
}

static void halt_divergence(Replayer *r, const TraceEvent *ev)
{
	char says[160];

	describe(ev, says, sizeof(says));
	diverge(r, "the journal has %s at icount %" PRIu64 ", the CPU halted", says, ev->icount);
}

/* Run until the end event, --until, a divergence or the end of the journal. */
static void run(Replayer *r, ReplayOptions *o)
{
	for (;;) {
		const TraceEvent *ev = peek(r);
		uint64_t now = cpu_icount(r->cpu), limit;
		enum cpu_exit why;

		if (r->diverged || r->damaged)
			return;
		if (o->has_until && now >= o->until)
			return;
		if (!ev)
			return; /* truncated */
		if (ev->icount < now) {
			char says[160];

			describe(ev, says, sizeof(says));
			diverge(r, "the journal has %s at icount %" PRIu64 ", the CPU is past it",
				says, ev->icount);
			return;
		}
		if (ev->icount == now) {
			if (ev->kind == TEV_END)
				return;
			if (!step_event(r, ev))
				return;
			continue;
		}
		limit = ev->icount;
		if (o->has_until && o->until < limit)
			limit = o->until;
		why = cpu_exec(r->cpu, limit);
		if (r->diverged || r->damaged || r->eof)
			return;
		if (why == CPU_EXIT_HALT && cpu_icount(r->cpu) < limit) {
			halt_divergence(r, ev);
			return;
		}
		if (why == CPU_EXIT_TRIPLE_FAULT) {
			ev = peek(r);
			if (!ev || ev->kind != TEV_MAP_CHANGE || ev->addr != RR_MAP_RESET ||
			    ev->icount != cpu_icount(r->cpu)) {
				diverge(r, "the CPU triple-faulted, the journal has no reset here");
				return;
			}
		}
	}
}

static int finish(Replayer *r, ReplayOptions *o)
{
	const TraceInfo *info = trace_info(r->t);
	const TraceEvent *ev;
	uint64_t hash = cpu_state_hash(r->cpu), now = cpu_icount(r->cpu);

	if (r->console)
		fflush(r->console);
	if (r->diverged) {
		fprintf(stderr, "flashback: %s\n", r->msg);
		return EXIT_DIVERGENCE;
	}
	if (r->damaged) {
		fprintf(stderr, "flashback: %s\n", r->msg);
		return EXIT_USAGE;
	}
	o->final_icount = now;
	o->final_hash = hash;
	o->checks = r->checks;
	if (o->has_until && now >= o->until) {
		cpu_dump(r->cpu, stdout);
		return 0;
	}
	ev = peek(r);
	if (!ev || ev->kind != TEV_END) {
		if (r->damaged)
			return EXIT_USAGE;
		fprintf(stderr, "flashback: the trace is truncated (%s); replayed to icount %" PRIu64 "\n",
			info->truncation[0] ? info->truncation : "no end event", now);
		return 0;
	}
	if (ev->value != hash) {
		diverge(r, "the journal has end hash %016" PRIx64 ", the CPU state hashes to %016" PRIx64,
			ev->value, hash);
		fprintf(stderr, "flashback: %s\n", r->msg);
		return EXIT_DIVERGENCE;
	}
	if (r->expect_pos < r->expect_len) {
		diverge(r, "the journal has %u console bytes the CPU never wrote",
			r->expect_len - r->expect_pos);
		fprintf(stderr, "flashback: %s\n", r->msg);
		return EXIT_DIVERGENCE;
	}
	if (o->verify)
		printf("verified: %" PRIu64 " checks, final icount %" PRIu64 " hash %016" PRIx64 "\n",
		       r->checks, now, hash);
	return 0;
}

int replay_run(const char *dir, ReplayOptions *o)
{
	Replayer *r = xcalloc(1, sizeof(*r));
	char err[TRACE_ERR_LEN];
	CPUBus bus;
	unsigned snap = 0;
	uint64_t start = 0;
	int status;

	r->dir = dir;
	r->console = o->console;
	r->t = trace_open(dir, err);
	if (!r->t) {
		fprintf(stderr, "flashback: %s\n", err);
		free(r);
		return EXIT_USAGE;
	}
	rr_memory_init(&r->mem);
	physmem_init(r->mem.as);
	physmem_set_dma_hook(NULL, NULL);
	bus = (CPUBus){
		.opaque = r,
		.memory = r->mem.as,
		.io_read = rp_io_read,
		.io_write = rp_io_write,
		.mmio_read = rp_mmio_read,
		.mmio_write = rp_mmio_write,
		.intack = rp_intack,
		.rdtsc = rp_rdtsc,
		.rdmsr = rp_rdmsr,
		.wrmsr = rp_wrmsr,
	};
	r->cpu = cpu_new(&bus);
	clock_init(cpu_icount_ptr(r->cpu), 0);

	if (o->snapshot >= 0)
		snap = (unsigned)o->snapshot;
	else if (o->has_until)
		snap = pick_snapshot(dir, o->until);
	if (!restore(r, snap, &start) || !seek_snapshot(r, snap, start)) {
		fprintf(stderr, "flashback: %s: %s\n", dir, r->msg);
		status = EXIT_USAGE;
		goto out;
	}
	run(r, o);
	status = finish(r, o);
out:
	if (r->c)
		trace_cursor_free(r->c);
	trace_free(r->t);
	cpu_free(r->cpu);
	rr_memory_free(&r->mem);
	free(r);
	return status;
}

/* ---- flashback info ------------------------------------------------------------ */

static uint64_t dir_bytes(const char *dir, unsigned *snapshots, uint64_t *snap_bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t total = 0;
	char path[4096];

	*snapshots = 0;
	*snap_bytes = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t len;
		char rerr[256];
		FILE *f;
		long sz;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		fclose(f);
		(void)len;
		(void)rerr;
		if (sz < 0)
			continue;
		total += (uint64_t)sz;
		if (strncmp(e->d_name, "snap-", 5) == 0) {
			(*snapshots)++;
			*snap_bytes += (uint64_t)sz;
		}
	}
	closedir(d);
	return total;
}

int replay_info(const char *dir, FILE *out)
{
	char err[TRACE_ERR_LEN];
	Trace *t = trace_open(dir, err);
	const TraceInfo *i;
	uint64_t counts[TEV_KIND_COUNT] = {0}, snap_bytes;
	unsigned snapshots;
	uint64_t total;

	if (!t) {
		fprintf(stderr, "flashback: %s\n", err);
		return EXIT_USAGE;
	}
	i = trace_info(t);
	total = dir_bytes(dir, &snapshots, &snap_bytes);
	fprintf(out, "trace           %s\n", dir);
	fprintf(out, "format version  %u\n", i->format_version);
	fprintf(out, "recorded by     %s\n", i->emulator_version);
	fprintf(out, "machine         %s\n", i->machine_options);
	fprintf(out, "cpu, ram        %s, %" PRIu64 " MiB\n", i->cpu_model, i->ram_size >> 20);
	fprintf(out, "icount range    %" PRIu64 " - %" PRIu64 "\n", i->first_icount, i->last_icount);
	fprintf(out, "chunks          %u\n", i->chunks);
	fprintf(out, "events          %" PRIu64 "\n", i->events);
	if (trace_counts(t, counts))
		for (unsigned k = 1; k < TEV_KIND_COUNT; k++)
			if (counts[k])
				fprintf(out, "  %-13s %" PRIu64 "\n", trace_kind_name(k), counts[k]);
	fprintf(out, "snapshots       %u (%" PRIu64 " bytes)\n", snapshots, snap_bytes);
	fprintf(out, "size            %" PRIu64 " bytes\n", total);
	if (i->complete)
		fprintf(out, "state           complete, final icount %" PRIu64 " hash %016" PRIx64 "\n",
			i->final_icount, i->final_hash);
	else
		fprintf(out, "state           truncated: %s\n",
			i->truncation[0] ? i->truncation : "no end event");
	trace_free(t);
	return 0;
}
