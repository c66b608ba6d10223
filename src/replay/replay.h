/*
 * replay.h - record and replay on top of the trace library (trace.h).
 *
 * Recording (record.c) wraps the live machine's CPUBus, the DMA hook, the
 * A20 hook and the memory map, and journals every input that enters CPU +
 * RAM, plus periodic check events and snapshots.  Replay (engine.c) builds
 * CPU + RAM alone from a snapshot and feeds every input back from the
 * journal, stopping at the first divergence.  Snapshots (snapshot.c) hold
 * the CPU state, RAM / ROM pages and the flat view of the memory map.
 * docs/record-replay.md describes how it works; traces/FORMAT.md the files.
 */
#ifndef FB_REPLAY_H
#define FB_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../base/base.h"
#include "../exec/cpu.h"
#include "../memory/memory.h"
#include "trace.h"

/* The live machine (machine.h), which only the recorder looks into: the
 * replay engine knows no device. */
typedef struct Machine Machine;

/* ---- recording ----------------------------------------------------------- */

typedef struct RecordOptions {
	const char *dir;	     /* the trace directory to create */
	const char *machine_options; /* the command line, for the metadata */
	uint64_t check_interval;     /* instructions between check events (0: default) */
	uint64_t snapshot_interval;  /* instructions between snapshots (0: default) */
	uint32_t chunk_events;	     /* events per journal chunk (0: the library's) */
} RecordOptions;

/* Defaults: a check every 2^24 instructions, a snapshot every 2^26. */
#define RR_CHECK_INTERVAL (1ull << 24)
#define RR_SNAPSHOT_INTERVAL (1ull << 26)

typedef struct Recorder Recorder;

/* A recorder, and how the machine it records shows it what happens
 * (machine_new(o, record_observer(r))): the bus, resets, the A20 gate. */
Recorder *record_new(void);
struct MachineObserver;
const struct MachineObserver *record_observer(Recorder *r);
/*
 * Start recording @m (built by machine_new with record_observer(@r)) into
 * o->dir: create the trace, write the initial snapshot, hook the DMA and
 * the memory map.  One line and exit 2 or 4 on failure.  (SIGINT and
 * SIGTERM end machine_run() cleanly; then record_finish() closes the trace
 * as after any other end.)
 */
void record_start(Recorder *r, Machine *m, const RecordOptions *o);
/* The final check (with RAM hash) and end event; false after an error. */
bool record_finish(Recorder *r);
/* Every console byte the guest wrote while recording (for the demo). */
const uint8_t *record_console(const Recorder *r, size_t *len);

/* ---- replay -------------------------------------------------------------- */

/*
 * The replay engine (engine.c): a recording opened as a machine that can be
 * moved to any icount, forwards or backwards.  libflashback's sessions
 * (src/lib/flashback.h) stand on it, and every command that replays
 * (`replay`, `gdb TRACE`, the tools) on those.
 *
 * Moving backwards restores the latest snapshot at or before the target -
 * one of the trace's own (snap-*.fbs) or one of the in-memory snapshot
 * cache (cache.c) - and replays forwards from there.  The guest's console
 * output goes to the session's console only the first time replay passes
 * it, so that going back and forth does not print it twice.
 */
typedef struct ReplaySession ReplaySession;

enum replay_status {
	REPLAY_OK,	  /* reached the requested icount */
	REPLAY_END,	  /* the recording ends first: the session is at its end */
	REPLAY_STOPPED,	  /* the step hook, a breakpoint or a watch asked to stop */
	REPLAY_ERROR,	  /* divergence or a damaged trace: see replay_error() */
	REPLAY_CANCELLED, /* the cancel function said so (replay_set_cancel) */
};

/* Open the trace in @dir at its initial snapshot; NULL with a message in
 * @err on failure.  @console receives the guest's console output (NULL: none). */
ReplaySession *replay_open(const char *dir, FILE *console, char *err, size_t errlen);
void replay_close(ReplaySession *s);
/* Where the console output goes from now on (NULL: nowhere). */
void replay_set_console(ReplaySession *s, FILE *console);
/*
 * A long replay_forward() or replay_goto() asks @fn every 2^22
 * instructions whether to go on: true ends it with REPLAY_CANCELLED between
 * two instructions (`replay` on SIGINT, gdb's Ctrl-C).  NULL: never.
 */
void replay_set_cancel(ReplaySession *s, bool (*fn)(void *opaque), void *opaque);

CPU *replay_cpu(ReplaySession *s);
AddressSpace *replay_address_space(ReplaySession *s);
Trace *replay_trace(ReplaySession *s);
uint64_t replay_icount(const ReplaySession *s);
/* The icount where the recording ends: its end event, or for a truncated
 * trace the last event in the journal. */
uint64_t replay_end_icount(const ReplaySession *s);
/* The icount of the initial snapshot (where replay_open() leaves the CPU). */
uint64_t replay_start_icount(const ReplaySession *s);

/*
 * Run forwards until icount @target (nothing if already there or past it).
 * At the end event the CPU state hash and the console are checked against
 * the journal (a mismatch is a divergence).
 */
enum replay_status replay_forward(ReplaySession *s, uint64_t target);
/* Be at exactly icount @target (or the end), forwards or backwards. */
enum replay_status replay_goto(ReplaySession *s, uint64_t target);
/* A trace snapshot's header (snapshot.c). */
typedef struct RRSnapHeader {
	unsigned number;
	uint64_t icount;
	uint64_t size; /* of its file */
} RRSnapHeader;
/* The trace's own snapshots, sorted by number (and icount). */
unsigned replay_snapshots(const ReplaySession *s, const RRSnapHeader **list);
/* A snapshot marker of the journal: snapshot @number taken at @icount. */
typedef struct RRMarker {
	unsigned number;
	uint64_t icount;
} RRMarker;
/*
 * `replay --verify` (verify.c): where the replay passes a snapshot's
 * marker, compare the replayed machine with the snapshot (a difference is
 * a divergence), and list the markers passed.
 */
void replay_set_verify(ReplaySession *s, bool on);
unsigned replay_markers(const ReplaySession *s, const RRMarker **list);
/* Load snapshot @k on its own and check its hashes; false with one line. */
bool replay_check_snapshot(ReplaySession *s, unsigned k, char *err, size_t errlen);
/* Read every frame of the page store; false with one line. */
bool replay_check_pages(ReplaySession *s, char *err, size_t errlen);
/* Why a snapshot file of the trace was left out (damaged, from another
 * recording), or NULL. */
const char *replay_snapshot_damage(const ReplaySession *s);
/* Whether replay_goto(@icount) may go there; if not, why in @err:
 * "icount N is outside the recording (A to B)" (fb_goto, gdb's monitor goto). */
bool replay_goto_check(const ReplaySession *s, uint64_t icount, char *err, size_t errlen);
/* Restart from the trace's snapshot @number (`replay --snapshot K`). */
enum replay_status replay_goto_snapshot(ReplaySession *s, unsigned number);

/* The latest icount at or before @icount that replay_goto() reaches without
 * replaying from further back (a trace snapshot or a cached one). */
uint64_t replay_restore_point(ReplaySession *s, uint64_t icount);
/*
 * The debugger's breakpoints and watches (cpu.h), kept by the CPU itself:
 * replay_forward() stops with REPLAY_STOPPED at a hit (cpu_stop_reason()
 * says which); journalled DMA is shown to the watches too.  replay_goto()
 * and restores go through them without stopping.
 */
void replay_set_breakpoints(ReplaySession *s, const uint32_t *eips, unsigned n);
void replay_set_watches(ReplaySession *s, const CPUWatch *w, unsigned n, cpu_watch_fn fn,
			void *opaque);

/*
 * Memory history (history.c): every write to physical [@phys, +@len) between
 * icounts @from and @to - by an instruction (its CS:EIP and bytes, and the
 * linear address it used), by the page walker (accessed/dirty bits) or by a
 * device's DMA - in icount order, each given to @fn (which returns false to
 * stop).  The session's cancel function ends it early too.  The replay
 * runs at block speed with a watch on the range; the session ends at @to.
 * false with one line in @err.
 */
typedef struct HistoryWrite {
	uint64_t icount; /* of the writing instruction (before it retires), or the DMA */
	uint16_t cs;	 /* a CPU write: CS:EIP of the instruction */
	uint32_t eip;
	uint8_t insn[15]; /* its bytes (insn_len of them) */
	unsigned insn_len;
	int bits;	 /* 16 or 32: how they decode */
	uint32_t lin;	 /* the linear address of the first byte (0: DMA, walker) */
	uint32_t phys;	 /* the first byte written inside the range */
	uint32_t offset; /* its offset in the range */
	uint32_t size;	 /* bytes of the range written */
	bool dma, walker;
	const uint8_t *old, *now; /* the @size bytes before (NULL: not RAM) and after */
} HistoryWrite;
typedef bool (*history_fn)(void *opaque, const HistoryWrite *w);
bool replay_history(ReplaySession *s, uint32_t phys, uint32_t len, uint64_t from, uint64_t to,
		    history_fn fn, void *opaque, char *err, size_t errlen);
/*
 * What a memory history of [@addr, +@len) between @from and @to watches:
 * the checks and messages of `flashback history` (the command and
 * libflashback share them).  @addr is linear, translated at @from (the
 * session goes there), unless @phys.  false with one line in @err.
 */
#define HISTORY_MAX_LEN (16u << 20)
bool replay_history_range(ReplaySession *s, uint64_t addr, uint64_t len, bool phys, uint64_t from,
			  uint64_t to, uint32_t *pa, char *err, size_t errlen);
/* Read physical [@addr, +@len) at the session's position: RAM and ROM;
 * bytes of MMIO and holes read as 0xff and make it return false. */
bool replay_read_phys(ReplaySession *s, uint64_t addr, void *buf, size_t len);
/* The physical address linear @lin maps to at the session's position
 * (RAM or ROM); false if none. */
bool replay_phys_of(ReplaySession *s, uint32_t lin, uint32_t *phys);
/* The same for [@lin, +@len), which must map to one physical range (where a
 * memory history can watch it); false if it does not. */
bool replay_phys_range(ReplaySession *s, uint32_t lin, uint32_t len, uint32_t *phys);
/* True if physical [@phys, +@len) is all RAM or ROM now. */
bool replay_phys_is_memory(ReplaySession *s, uint32_t phys, uint32_t len);

/*
 * A hook called after every instruction replay_forward() retires (the CPU
 * then runs one instruction at a time: slower).  Returning true stops the
 * replay with REPLAY_STOPPED right there.  NULL removes it.
 */
typedef bool (*replay_step_fn)(void *opaque);
void replay_set_step_hook(ReplaySession *s, replay_step_fn fn, void *opaque);

/* After REPLAY_ERROR: one line, and the exit status (3 divergence, 2 damage). */
const char *replay_error(const ReplaySession *s);
int replay_error_status(const ReplaySession *s);
/* Check events compared so far. */
uint64_t replay_checks(const ReplaySession *s);

/*
 * The in-memory snapshot cache (cache.c): a snapshot every @interval
 * instructions as replay goes forwards, their undo logs using at most
 * @max_bytes (entries are thinned where densest beyond it), plus one copy
 * of guest RAM (the mirror).  replay_set_cache(s, 0, 0) turns it off.
 */
void replay_set_cache(ReplaySession *s, uint64_t interval, size_t max_bytes);
typedef struct ReplayCacheInfo {
	unsigned entries;
	size_t bytes;	     /* entries: CPU state, map, undo logs */
	size_t mirror_bytes; /* the copy of RAM (its pages that hold data) */
	size_t max_bytes;
	uint64_t interval;
	uint64_t first_icount, last_icount; /* of the cached snapshots */
} ReplayCacheInfo;
/* All zero when the cache is off. */
void replay_cache_info(const ReplaySession *s, ReplayCacheInfo *info);
/* Defaults for gdb: a snapshot every 2^21 instructions, 256 MiB. */
#define REPLAY_CACHE_INTERVAL (1ull << 21)
#define REPLAY_CACHE_BYTES ((size_t)256 << 20)

/*
 * `replay --verify` (verify.c) on @s, which must not have moved yet: check
 * every part of the trace, then replay it all (from trace snapshot
 * @snapshot if >= 0) comparing each snapshot it passes.  REPLAY_END when
 * all of it is proven; REPLAY_CANCELLED; REPLAY_ERROR with one line in @err
 * and the exit status in *@status (2 damage, 3 divergence).
 */
enum replay_status replay_verify(ReplaySession *s, int snapshot, char *err, size_t errlen,
				 int *status);

/* ---- shared by record.c, engine.c and snapshot.c -------------------------- */

/* Map-change kinds (TraceEvent.addr of TEV_MAP_CHANGE). */
enum { RR_MAP_VIEW = 1, RR_MAP_A20 = 2, RR_MAP_RESET = 3, RR_MAP_DISPLAY = 4 };

/*
 * RR_MAP_DISPLAY: where the VGA's text screen is and what part of memory
 * it shows, each time that changes (the recorder asks the VGA after every
 * write to its ports).  Replay needs none of it (the screen is RAM); it is
 * there for `flashback screen`, which reads the characters from the
 * replayed RAM.  Payload: six varints, as the fields below.
 */
typedef struct RRDisplay {
	bool text;		    /* an alphanumeric mode (else graphics: no text screen) */
	uint32_t base;		    /* physical address of the window, 0xB8000 */
	uint32_t cols, rows, pitch; /* characters shown; from one row to the next */
	uint32_t start;		    /* CRTC start address, characters from base */
} RRDisplay;
bool rr_display_decode(const uint8_t *p, size_t len, RRDisplay *d);
/*
 * The guest's console, as recorder and engine both see it (console.c, the
 * one place that knows its ports): bytes written to COM1's THR (0x3F8 while
 * LCR.DLAB is clear and MCR is not in loopback) and to the debug console
 * ports 0xE9 and 0x402.  Feed every byte of every port write in order.
 */
typedef struct RRConsole {
	uint8_t lcr, mcr; /* COM1's line and modem control, as last written */
} RRConsole;
/* true if @b, written to @port, is a console byte. */
bool rr_console_write(RRConsole *c, uint16_t port, uint8_t b);

/* time-read addr bit: the rdmsr was refused (#GP) */
#define RR_MSR_REFUSED (1ull << 32)

/* A growable byte buffer. */
typedef struct RRBuf {
	uint8_t *p;
	size_t len, cap;
} RRBuf;
void rrbuf_put(RRBuf *b, const void *data, size_t n);
void rrbuf_u8(RRBuf *b, uint8_t v);
void rrbuf_varint(RRBuf *b, uint64_t v);

/* Reading: false when the bytes run out or a varint is malformed. */
typedef struct RRReader {
	const uint8_t *p;
	size_t len, pos;
} RRReader;
bool rr_get_varint(RRReader *r, uint64_t *v);
bool rr_get_u8(RRReader *r, uint8_t *v);
const uint8_t *rr_get_bytes(RRReader *r, size_t n);

/* The RAM and ROM blocks of a memory map, numbered in order of discovery. */
enum { RR_BLOCK_RAM = 1, RR_BLOCK_ROM = 2 };
typedef struct RRBlock {
	MemoryRegion *mr;
	uint8_t kind;
	uint64_t size;
} RRBlock;
typedef struct RRBlocks {
	RRBlock *b;
	unsigned n;
} RRBlocks;

/*
 * Encode the flat view of @as (see FORMAT.md, map-change payload),
 * numbering RAM/ROM regions not yet in @blocks; with @inline_new, their
 * contents go into the payload, else the caller writes them elsewhere.
 */
void rr_view_encode(AddressSpace *as, RRBlocks *blocks, RRBuf *out, bool inline_new);

/* Replay's side of the memory map: blocks it owns and what is mapped. */
typedef struct RRMemory {
	RRBlocks blocks;
	MemoryRegion *root;
	AddressSpace *as;
	MemoryRegion **mapped;
	unsigned nmapped;
} RRMemory;
void rr_memory_init(RRMemory *mem);
/* Free it all (the CPU using it must be freed first). */
void rr_memory_free(RRMemory *mem);
/* Apply a view payload; false with a message in @err on a malformed one. */
bool rr_view_apply(RRMemory *mem, const uint8_t *p, size_t len, char *err, size_t errlen);

/* The engine's side of the snapshot cache (cache.c); blobs are the
 * engine's state apart from RAM. */
typedef struct RRCache RRCache;
RRCache *rr_cache_new(uint64_t interval, size_t max_bytes);
void rr_cache_free(RRCache *c);
uint64_t rr_cache_interval(const RRCache *c);
/* RAM changed behind the dirty bits: copy the mirror afresh. */
void rr_cache_untracked(RRCache *c, RRMemory *mem);
/* Replay is at @icount between instructions: take or re-anchor an entry. */
void rr_cache_pass(RRCache *c, uint64_t icount, RRMemory *mem, const void *blob, size_t len);
/* The latest entry at or before @target that RAM can be taken back to. */
bool rr_cache_find(const RRCache *c, uint64_t target, uint64_t *icount);
/* Take RAM back to that entry and return its blob (NULL if none). */
const uint8_t *rr_cache_restore(RRCache *c, uint64_t target, RRMemory *mem, size_t *len);
void rr_cache_info(const RRCache *c, ReplayCacheInfo *info);

/* Snapshot files: "snap-NNNNNN.fbs" in the trace directory; their pages
 * are in the trace's page store (pages.h). */
#define RR_SNAP_FMT TRACE_SNAP_FMT
typedef struct PageStore PageStore;

/* The recorder's side: the page store being written and the page ids of
 * the last snapshot, so that the next one only looks at dirty pages. */
typedef struct RRSnapWriter RRSnapWriter;
RRSnapWriter *rr_snapwriter_new(const char *dir, const uint8_t id[TRACE_ID_LEN], char *err,
				size_t errlen);
void rr_snapwriter_free(RRSnapWriter *w);
/*
 * Write snapshot @number of @cpu and the memory: the RAM pages dirty since
 * the last snapshot (every page with @rescan: RAM changed behind the dirty
 * bits) go to the page store if new, the file gets every block's table.
 * Clears DIRTY_SNAPSHOT, flushes the TLB.  Returns the file size, or 0
 * with a message in @err.
 */
uint64_t rr_snapshot_write(RRSnapWriter *w, unsigned number, bool rescan, CPU *cpu,
			   AddressSpace *as, RRBlocks *blocks, char *err, size_t errlen);
/* Read and check the header of snapshot @number of recording @id. */
bool rr_snapshot_header(const char *dir, unsigned number, const uint8_t id[TRACE_ID_LEN],
			RRSnapHeader *h, char *err, size_t errlen);
/* Load snapshot @number into @cpu and @mem, its pages from @ps. */
bool rr_snapshot_load(const char *dir, unsigned number, const uint8_t id[TRACE_ID_LEN],
		      PageStore *ps, CPU *cpu, RRMemory *mem, char *err, size_t errlen);
/* What a snapshot holds besides its pages, for `replay --verify`. */
typedef struct RRSnapState {
	RRSnapHeader header;
	uint64_t cpu_hash; /* cpu_state_hash() of its CPU */
	uint64_t digest;   /* rr_mem_digest() of its memory */
	uint8_t *cpu, *view;
	size_t cpu_len, view_len;
} RRSnapState;
bool rr_snapshot_state(const char *dir, unsigned number, const uint8_t id[TRACE_ID_LEN],
		       RRSnapState *st, char *err, size_t errlen);
void rr_snapshot_state_free(RRSnapState *st);
/* A digest of every RAM and ROM page of @blocks (keyed by recording @id):
 * what snapshots say their memory is, and the final check's memory hash. */
uint64_t rr_mem_digest(const RRBlocks *blocks, const uint8_t id[TRACE_ID_LEN]);
/* rr_mem_digest() of the recorder's memory now, from what the writer knows. */
uint64_t rr_snapwriter_digest(RRSnapWriter *w, const RRBlocks *blocks);

#endif
