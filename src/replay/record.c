/*
 * record.c - recording a live run into a trace.
 *
 * The recorder sits on the nondeterminism boundary: it wraps the machine's
 * CPUBus (port and MMIO reads, interrupt acknowledge, RDTSC, RDMSR), the
 * DMA hook of the machine's DMA target, the A20 hook and the "memory" address space's
 * listener, and appends one event per input, stamped with cpu_icount() (the
 * instructions retired before the current one).  Writes are not journalled,
 * except that bytes written to the UART's THR and the debug console ports
 * become console events for the index.
 *
 * A virtual timer takes a check event (cpu_state_hash) every check interval
 * and an incremental snapshot every snapshot interval, always between
 * instructions.  The timer is not re-armed while the CPU halts (it would
 * keep a halted guest alive); the next interrupt re-arms it.
 */
#include "replay.h"
#include "../machine/machine.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#define CONSOLE_MAX 256

struct Recorder {
	Machine *m;
	Trace *t;
	char *dir;
	CPUBus live;
	bool active, failed;
	bool in_write;	 /* inside the live bus's io_write / mmio_write */
	bool warned_dma; /* said once that a DMA came from inside a write */
	RRConsole con;	 /* which port writes are console output */
	uint8_t console[CONSOLE_MAX];
	unsigned console_len;
	uint64_t console_icount;
	MachineObserver observer; /* given to machine_new() */
	RRBlocks blocks;
	unsigned snapshots; /* snapshot files written */
	RRSnapWriter *sw;   /* the page store and the last snapshot's page ids */
	Timer *tick;
	uint64_t check_interval, snapshot_interval;
	uint64_t last_check, last_snap;
	RRBuf all_console; /* every console byte, for record_console() */
	bool display_known; /* a display change was journalled: display holds it */
	RRDisplay display;
};

/* ---- appending ------------------------------------------------------------- */

static void fail(Recorder *r, const char *what)
{
	if (r->failed)
		return;
	r->failed = true;
	warn("recording stopped: %s; the trace stays replayable up to its last chunk", what);
	r->m->exit_requested = true;
	r->m->exit_status = EXIT_INTERNAL;
	cpu_request_exit(r->m->cpu);
}

static void append_raw(Recorder *r, const TraceEvent *ev)
{
	if (r->failed)
		return;
	if (!trace_append(r->t, ev))
		fail(r, trace_error(r->t));
}

static void console_flush(Recorder *r)
{
	TraceEvent ev = {.kind = TEV_CONSOLE, .icount = r->console_icount};

	if (!r->console_len)
		return;
	ev.size = r->console_len;
	ev.data = r->console;
	r->console_len = 0;
	append_raw(r, &ev);
}

static void append(Recorder *r, const TraceEvent *ev)
{
	console_flush(r);
	append_raw(r, ev);
}

static void append_simple(Recorder *r, uint8_t kind, uint64_t addr, unsigned size, uint64_t value)
{
	TraceEvent ev = {.kind = kind, .size = size, .addr = addr, .value = value};

	ev.icount = cpu_icount(r->m->cpu);
	append(r, &ev);
}

static void console_byte(Recorder *r, uint8_t c)
{
	if (!r->console_len)
		r->console_icount = cpu_icount(r->m->cpu);
	r->console[r->console_len++] = c;
	rrbuf_u8(&r->all_console, c);
	if (c == '\n' || r->console_len == CONSOLE_MAX)
		console_flush(r);
}

/* ---- the wrapped bus ----------------------------------------------------------- */

static uint32_t rec_io_read(void *opaque, uint16_t port, unsigned size)
{
	Recorder *r = opaque;
	uint32_t v = r->live.io_read(r->live.opaque, port, size);

	if (r->active)
		append_simple(r, TEV_PORT_READ, port, size, v);
	return v;
}

/* What the guest writes to COM1's THR or the debug console ports. */
static void watch_console(Recorder *r, uint16_t port, uint32_t value, unsigned size)
{
	for (unsigned i = 0; i < size; i++) {
		uint16_t p = (uint16_t)(port + i);
		uint8_t b = (uint8_t)(value >> (8 * i));

		if (rr_console_write(&r->con, p, b))
			console_byte(r, b);
	}
}

/*
 * Journal what the VGA's text screen is now, if that changed since the
 * last display event (RR_MAP_DISPLAY): `flashback screen` reads the
 * characters from replayed RAM and needs the rest from here.  The VGA
 * itself says what its registers mean (vga_text_state), so this stays right
 * whatever port write changed them.  The event carries the first icount
 * at which the screen is so: after a write, that of the next instruction
 * (nothing else of the writing instruction follows it in the journal).
 */
static void watch_display(Recorder *r, bool after_write)
{
	VGAText t;
	RRDisplay d;
	RRBuf buf = {0};
	TraceEvent ev = {.kind = TEV_MAP_CHANGE, .addr = RR_MAP_DISPLAY};

	if (!r->m->vga)
		return;
	vga_text_state(r->m->vga, &t);
	d = (RRDisplay){t.text, t.base, t.cols, t.rows, t.pitch, t.start};
	if (r->display_known && !memcmp(&d, &r->display, sizeof(d)))
		return;
	r->display = d;
	r->display_known = true;
	rrbuf_varint(&buf, d.text);
	rrbuf_varint(&buf, d.base);
	rrbuf_varint(&buf, d.cols);
	rrbuf_varint(&buf, d.rows);
	rrbuf_varint(&buf, d.pitch);
	rrbuf_varint(&buf, d.start);
	ev.icount = cpu_icount(r->m->cpu) + after_write;
	ev.size = (uint32_t)buf.len;
	ev.data = buf.p;
	append(r, &ev);
	free(buf.p);
}

static void rec_io_write(void *opaque, uint16_t port, uint32_t value, unsigned size)
{
	Recorder *r = opaque;

	if (r->active)
		watch_console(r, port, value, size);
	r->in_write = true;
	r->live.io_write(r->live.opaque, port, value, size);
	r->in_write = false;
	if (r->active && port + size > 0x3B0 && port <= 0x3DF)
		watch_display(r, true);
}

static uint64_t rec_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
	Recorder *r = opaque;
	uint64_t v = r->live.mmio_read(r->live.opaque, addr, size);

	if (r->active)
		append_simple(r, TEV_MMIO_READ, addr, size, v);
	return v;
}

static void rec_mmio_write(void *opaque, uint64_t addr, uint64_t value, unsigned size)
{
	Recorder *r = opaque;

	r->in_write = true;
	r->live.mmio_write(r->live.opaque, addr, value, size);
	r->in_write = false;
}

static void arm_tick(Recorder *r);

static int rec_intack(void *opaque)
{
	Recorder *r = opaque;
	int vec = r->live.intack(r->live.opaque);

	if (r->active && vec >= 0) {
		append_simple(r, TEV_INTERRUPT, 0, 0, (uint64_t)vec);
		if (!timer_pending(r->tick))
			arm_tick(r); /* the CPU wakes: checks resume */
	}
	return vec;
}

static void rec_nmi_ack(void *opaque)
{
	Recorder *r = opaque;

	if (r->live.nmi_ack)
		r->live.nmi_ack(r->live.opaque);
	if (r->active) {
		append_simple(r, TEV_INTERRUPT, 0, 0, TRACE_NMI);
		if (!timer_pending(r->tick))
			arm_tick(r);
	}
}

static uint64_t rec_rdtsc(void *opaque)
{
	Recorder *r = opaque;
	uint64_t v = r->live.rdtsc(r->live.opaque);

	if (r->active)
		append_simple(r, TEV_TIME_READ, 0, 0, v);
	return v;
}

static bool rec_rdmsr(void *opaque, uint32_t msr, uint64_t *value)
{
	Recorder *r = opaque;
	bool ok = r->live.rdmsr(r->live.opaque, msr, value);

	if (r->active)
		append_simple(r, TEV_TIME_READ, ok ? msr : msr | RR_MSR_REFUSED, 0,
			      ok ? *value : 0);
	return ok;
}

static bool rec_wrmsr(void *opaque, uint32_t msr, uint64_t value)
{
	Recorder *r = opaque;

	return r->live.wrmsr(r->live.opaque, msr, value);
}

/* machine_new() hands us its bus before it creates the CPU. */
static void wrap_bus(void *opaque, Machine *m, CPUBus *bus)
{
	Recorder *r = opaque;

	r->m = m;
	r->live = *bus;
	bus->opaque = r;
	bus->io_read = rec_io_read;
	bus->io_write = rec_io_write;
	bus->mmio_read = rec_mmio_read;
	bus->mmio_write = rec_mmio_write;
	bus->intack = rec_intack;
	bus->nmi_ack = rec_nmi_ack;
	bus->rdtsc = rec_rdtsc;
	bus->rdmsr = rec_rdmsr;
	bus->wrmsr = rec_wrmsr;
}

/* ---- DMA, A20, the memory map ------------------------------------------------------ */

/*
 * Replay applies a DMA before the instruction at its icount.  That is exact
 * for DMA from timers and bottom halves (between instructions: the ATA bus
 * master) and for DMA inside a read (replay applies it before the read
 * returns), but not for one a device would do inside a port or MMIO write:
 * a REP OUTS could then read memory the DMA has already changed.  No device
 * of this machine does that; say so if one ever does (docs/record-replay.md).
 */
static void note_dma_in_write(Recorder *r)
{
	if (!r->in_write || r->warned_dma)
		return;
	r->warned_dma = true;
	warn("a device wrote guest memory inside a port or MMIO write at icount %" PRIu64
	     ": replay applies it before that instruction",
	     cpu_icount(r->m->cpu));
}

static void rec_dma(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	Recorder *r = opaque;

	if (r->active)
		note_dma_in_write(r);

	while (r->active && len) {
		size_t n = len > TRACE_MAX_DATA ? TRACE_MAX_DATA : len;
		TraceEvent ev = {.kind = TEV_DMA_WRITE, .addr = addr, .size = (uint32_t)n};

		ev.icount = cpu_icount(r->m->cpu);
		ev.data = buf;
		append(r, &ev);
		addr += n;
		buf = (const uint8_t *)buf + n;
		len -= n;
	}
}

static void rec_a20(void *opaque, bool on)
{
	Recorder *r = opaque;
	uint8_t b = on;
	TraceEvent ev = {.kind = TEV_MAP_CHANGE, .addr = RR_MAP_A20, .size = 1, .data = &b};

	if (!r->active)
		return;
	ev.icount = cpu_icount(r->m->cpu);
	append(r, &ev);
}

static void rec_map_changed(void *opaque, AddressSpace *as)
{
	Recorder *r = opaque;
	RRBuf buf = {0};
	TraceEvent ev = {.kind = TEV_MAP_CHANGE, .addr = RR_MAP_VIEW};

	if (!r->active)
		return;
	rr_view_encode(as, &r->blocks, &buf, true);
	if (buf.len > TRACE_MAX_DATA) {
		fail(r, "a memory map change is larger than an event can hold");
	} else {
		ev.icount = cpu_icount(r->m->cpu);
		ev.size = (uint32_t)buf.len;
		ev.data = buf.p;
		append(r, &ev);
	}
	free(buf.p);
}

/* ---- checks and snapshots ---------------------------------------------------------- */

/*
 * Write the next snapshot's file; its marker in the journal follows
 * (mark_snapshot), after anything else of this icount that belongs before
 * it.  @rescan: RAM changed behind the dirty bits (a reset reloaded it).
 */
static bool take_snapshot(Recorder *r, bool rescan)
{
	char err[512];

	console_flush(r);
	if (!rr_snapshot_write(r->sw, r->snapshots, rescan, r->m->cpu, r->m->memory, &r->blocks,
			       err, sizeof(err))) {
		fail(r, err);
		return false;
	}
	r->snapshots++;
	r->last_snap = cpu_icount(r->m->cpu);
	return true;
}

/* The journal's marker of the snapshot just written: replay resumes after it. */
static void mark_snapshot(Recorder *r)
{
	append_simple(r, TEV_SNAPSHOT, 0, 0, r->snapshots - 1);
}

static void check_event(Recorder *r, bool with_ram)
{
	TraceEvent ev = {.kind = TEV_CHECK};

	ev.icount = cpu_icount(r->m->cpu);
	ev.value = cpu_state_hash(r->m->cpu);
	if (with_ram) {
		ev.flags = TRACE_CHECK_RAM;
		ev.value2 = rr_snapwriter_digest(r->sw, &r->blocks);
	}
	append(r, &ev);
	r->last_check = ev.icount;
}

static void arm_tick(Recorder *r)
{
	timer_mod(r->tick,
		  clock_ns(r->m->clock) + (int64_t)(r->check_interval << clock_shift(r->m->clock)));
}

static void tick(void *opaque)
{
	Recorder *r = opaque;
	uint64_t now = cpu_icount(r->m->cpu);

	if (!r->active)
		return;
	/* by icount: a halted guest's wake-ups must not each cost a check */
	if (r->last_check == ~0ull || now - r->last_check >= r->check_interval)
		check_event(r, false);
	if (now - r->last_snap >= r->snapshot_interval && take_snapshot(r, false))
		mark_snapshot(r);
	if (!cpu_halted(r->m->cpu))
		arm_tick(r);
}

/* A machine reset reloads RAM and the CPU outside the bus: a snapshot of
 * every page (only the pages it has not stored before cost more than an id). */
static void rec_reset(void *opaque, Machine *m)
{
	Recorder *r = opaque;
	RRBuf buf = {0};
	TraceEvent ev = {.kind = TEV_MAP_CHANGE, .addr = RR_MAP_RESET};

	if (!r || !r->active || !take_snapshot(r, true))
		return;
	r->con = (RRConsole){0};
	rrbuf_varint(&buf, r->snapshots - 1);
	ev.icount = cpu_icount(m->cpu);
	ev.size = (uint32_t)buf.len;
	ev.data = buf.p;
	append(r, &ev);
	mark_snapshot(r);
	free(buf.p);
	watch_display(r, false); /* the reset put the VGA back to mode 03h */
}

/* ---- starting and finishing -------------------------------------------------------- */

Recorder *record_new(void)
{
	Recorder *r = xcalloc(1, sizeof(*r));

	r->observer = (MachineObserver){r, wrap_bus, rec_reset, rec_a20};
	return r;
}

const MachineObserver *record_observer(Recorder *r)
{
	return &r->observer;
}

/* An existing -o is refused unless it is an empty directory. */
static void check_target(const char *dir)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (stat(dir, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode))
		fatal(EXIT_USAGE, "-o %s: the file exists already (give a new name)", dir);
	d = opendir(dir);
	if (!d)
		fatal(EXIT_USAGE, "-o %s: cannot read the directory", dir);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			closedir(d);
			fatal(EXIT_USAGE, "-o %s: the directory exists and is not empty", dir);
		}
	}
	closedir(d);
}

/*
 * Snapshot 0 looks at every RAM page (to leave out the zero ones) and the
 * last check hashes all of RAM.  Reading a page the guest never touched
 * costs a page fault each, which for 128 MiB was most of what recording
 * added to a plain run.  With transparent huge pages for that first scan
 * the kernel maps its huge zero page instead: one fault per 2 MiB.  After
 * the scan the hint is taken back, so that the guest's first write to a
 * region allocates a 4 KiB page as in a plain run, not a zeroed 2 MiB one
 * (the kernel splits the zero mapping: reads stay fault-free), unless the
 * host gives huge pages to everything anyway (a plain run has them then).
 * Hints only: the contents are unchanged whatever the kernel does.
 */
static bool thp_always(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	return strstr(mode, "[always]") != NULL;
}

static void scan_huge_pages(Machine *m, bool on)
{
	if (on || !thp_always())
		ram_huge_pages(m->ram, on);
}

/*
 * The start time in the trace's metadata: now, unless SOURCE_DATE_EPOCH (the
 * reproducible-builds convention) fixes it, so that recording the same guest
 * twice gives the same bytes (the golden traces of traces/golden).
 */
static int64_t start_time(void)
{
	const char *env = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long t;

	if (!env || !*env)
		return 0;
	t = strtoll(env, &end, 10);
	return *end || t <= 0 ? 0 : (int64_t)t;
}

/*
 * A reproducible recording (SOURCE_DATE_EPOCH) is named by what it records
 * - the command line, the start time and the initial RAM - so that the
 * same recording made twice is the same bytes (traces/golden).
 */
static void reproducible_id(Machine *m, TraceMeta *meta)
{
	uint64_t h[2] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
	const uint8_t *ram = mr_host(m->ram);
	const char *opts = meta->machine_options ? meta->machine_options : "";

	for (int k = 0; k < 2; k++) {
		h[k] = (h[k] ^ (uint64_t)meta->start_time) * 0x100000001b3ull;
		for (const char *p = opts; *p; p++)
			h[k] = (h[k] ^ (uint8_t)*p) * 0x100000001b3ull;
		for (uint64_t i = 0; i + 8 <= m->ram_size; i += 8) {
			h[k] =
			    (h[k] ^ ld64(ram + i)) * (k ? 0xc2b2ae3d27d4eb4full : 0x100000001b3ull);
			h[k] ^= h[k] >> 29;
		}
	}
	st64(meta->id, h[0]);
	st64(meta->id + 8, h[1]);
}

void record_start(Recorder *r, Machine *m, const RecordOptions *o)
{
	char err[TRACE_ERR_LEN];
	TraceMeta meta = {
	    .emulator_version = "flashback 0.1.0",
	    .machine_options = o->machine_options,
	    .cpu_model = "i686",
	    .ram_size = m->ram_size,
	    .start_time = start_time(),
	};
	TraceOptions topt = {0};

	if (r->m != m)
		fatal(EXIT_INTERNAL,
		      "record_start: the machine was not built with record_observer()");
	check_target(o->dir);
	topt.chunk_events = o->chunk_events;
	if (meta.start_time)
		reproducible_id(m, &meta);
	r->t = trace_create(o->dir, &meta, &topt, err);
	if (!r->t)
		fatal(EXIT_USAGE, "-o %s", err);
	r->sw = rr_snapwriter_new(o->dir, trace_id(r->t), err, sizeof(err));
	if (!r->sw)
		fatal(EXIT_INTERNAL, "%s", err);
	r->dir = xstrdup(o->dir);
	r->check_interval = o->check_interval ? o->check_interval : RR_CHECK_INTERVAL;
	r->snapshot_interval = o->snapshot_interval ? o->snapshot_interval : RR_SNAPSHOT_INTERVAL;

	/* The initial state: everything later events change starts here. */
	scan_huge_pages(m, true);
	if (!take_snapshot(r, false))
		fatal(EXIT_INTERNAL, "cannot write the initial snapshot");
	mark_snapshot(r); /* the journal's first event */
	scan_huge_pages(m, false);
	r->last_check = ~0ull;
	dma_set_hook(m->dma, rec_dma, r);
	as_add_listener(m->memory, rec_map_changed, r);
	r->tick = timer_new(m->clock, tick, r);
	arm_tick(r);
	r->active = true;
	watch_display(r, false); /* what the screen is at the start */
}

bool record_finish(Recorder *r)
{
	char err[TRACE_ERR_LEN];
	CPU *cpu = r->m->cpu;
	bool ok;

	if (!r->failed)
		check_event(r, true);
	console_flush(r);
	r->active = false;
	timer_del(r->tick);
	dma_set_hook(r->m->dma, NULL, NULL);
	ok = trace_close(r->t, cpu_icount(cpu), cpu_state_hash(cpu), err);
	r->t = NULL;
	rr_snapwriter_free(r->sw);
	r->sw = NULL;
	/* after a failed write, fail() has said it already: one line */
	if (!ok && !r->failed)
		warn("%s", err);
	return ok && !r->failed;
}

const uint8_t *record_console(const Recorder *r, size_t *len)
{
	*len = r->all_console.len;
	return r->all_console.p;
}
