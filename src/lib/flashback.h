/*
 * flashback.h - libflashback: recordings of Flashback as a C library.
 *
 * A trace (NAME.fbt/) is opened read-only; its index answers questions
 * about the recorded inputs (fb_events, fb_query).  A session is a replay
 * of the recording - CPU and RAM, every input from the journal - that can
 * be moved to any icount, forwards or backwards, and looked at there:
 * registers, memory by physical or linear address, runs to a breakpoint,
 * a watchpoint or an icount, and the memory history of a range (the facts
 * of `flashback history`).  Any number of sessions, on one trace or on
 * several, live in one process; each owns its machine, and none changes
 * what another sees.  The library is not thread-safe: call it from one
 * thread at a time (the memory module's list of address spaces and a few
 * tables built on first use are process-wide: docs/architecture.md); the
 * Python module holds the GIL through every call for that reason.
 *
 * Errors: a function that fails returns NULL or FB_ERROR and leaves one
 * line in fb_error() (this thread's last error): the same line the
 * flashback command prints after "flashback: ".  fb_error_status() is the
 * command's exit status for it (2 bad input or a damaged trace, 3 a
 * divergence).  No input - a damaged trace, an address, an icount - makes
 * the library exit or crash.
 *
 * The Python module (build/python/flashback) is ctypes over this header;
 * docs/python.md describes both.
 */
#ifndef FLASHBACK_H
#define FLASHBACK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FB_API_VERSION 1

typedef struct fb_trace fb_trace;
typedef struct fb_session fb_session;
typedef struct fb_events fb_events;
typedef struct fb_scanner fb_scanner;
typedef struct fb_query fb_query;

enum {
	FB_ERROR = -1,
	FB_OK = 0,
	FB_END = 1,	/* the recording ends first: the session is at its end */
	FB_STOPPED = 2, /* the session's cancel function asked to stop (fb_session_cancel) */
};

int fb_api_version(void);
const char *fb_error(void);
int fb_error_status(void);

/* ---- traces --------------------------------------------------------------- */

fb_trace *fb_open(const char *dir);
void fb_close(fb_trace *t);

typedef struct fb_info {
	uint64_t start_icount; /* where replay starts (the initial snapshot) */
	uint64_t
	    end_icount; /* where it ends: the end event, or the last one of a truncated trace */
	uint64_t final_hash; /* CPU state hash at the end (complete traces) */
	uint64_t events;
	uint64_t ram_size;
	int64_t start_time; /* Unix seconds */
	uint32_t format_version, chunks, snapshots;
	uint32_t complete, truncated; /* 0 or 1 */
	uint64_t counts[16];	      /* events by kind number (1-10) */
	char emulator_version[128], cpu_model[64], machine_options[256];
	char id[33];
	char truncation[512]; /* "truncated after chunk K at icount N", or "" */
} fb_info;
int fb_trace_info(fb_trace *t, fb_info *out);
/*
 * What `flashback info` says beyond fb_info: the files of the trace and
 * the first damage the quick checks find (snapshot and page store headers
 * only; `replay --verify` reads everything).  FB_OK even with damage.
 */
typedef struct fb_summary {
	uint64_t last_event_icount; /* of the last event in the journal */
	uint64_t total_bytes;	    /* of every file in the directory */
	uint64_t snapshot_bytes, page_bytes;
	uint64_t pages; /* distinct pages in the page store */
	uint32_t snapshot_files;
	char index_note[512]; /* how the index was read when not simply the file, or "" */
	char damage[1024];    /* the first damage found, or "" */
} fb_summary;
int fb_trace_summary(fb_trace *t, fb_summary *out);
/* Guest time: an instruction takes 2^N ns, N the recording's -icount shift=N (0 if none). */
int fb_icount_shift(fb_trace *t);

/* Event kinds: the numbers of traces/FORMAT.md. */
enum {
	FB_PORT_READ = 1,
	FB_MMIO_READ = 2,
	FB_INTERRUPT = 3,
	FB_DMA_WRITE = 4,
	FB_TIME_READ = 5,
	FB_MAP_CHANGE = 6,
	FB_CHECK = 7,
	FB_CONSOLE = 8,
	FB_SNAPSHOT = 9,
	FB_END_EVENT = 10,
};
/* "port-read"... for 1-10, NULL otherwise; and back (-1: unknown). */
const char *fb_kind_name(unsigned kind);
int fb_kind_number(const char *name);

typedef struct fb_event {
	uint64_t icount;
	uint64_t addr;	 /* port, physical address, MSR, map-change kind */
	uint64_t value;	 /* value read, vector, hash, snapshot number */
	uint64_t value2; /* a check's RAM hash */
	uint32_t size;	 /* access size, or bytes of data */
	uint32_t kind, flags;
	const uint8_t
	    *data; /* DMA, console, map-change bytes: valid until the next fb_events_next() */
} fb_event;

/*
 * The events of the kinds in @kinds (bit k for kind k; 0: every kind) with
 * @start <= icount < @stop, in journal order; with @has_addr, only those
 * whose addr is @addr (a port, an address).  The journal is read from the
 * chunk holding @start on.
 */
fb_events *fb_events_open(fb_trace *t, uint32_t kinds, uint64_t start, uint64_t stop, int has_addr,
			  uint64_t addr);
/* Up to @max events into @out: how many (0 at the end), FB_ERROR on a damaged chunk. */
int fb_events_next(fb_events *e, fb_event *out, unsigned max);
void fb_events_close(fb_events *e);

/*
 * The events that pass @f, in icount order (`flashback events`, `screen`,
 * `export`), answered from the index where it lists every event of the
 * kinds asked for (such events carry no data: DMA and console bytes are in
 * the journal), and from the journal for the chunks where the index only
 * samples them (or all chunks, with @journal).  @fn returns 0 to stop;
 * @journal_read tells it where an event came from.
 */
typedef struct fb_filter {
	uint32_t kinds; /* bit k for kind k; 0: every kind */
	uint32_t has_port, has_addr;
	uint64_t port;	   /* port-read events of this port */
	uint64_t addr;	   /* events with this address: MMIO, DMA, map change (its kind), RDMSR */
	uint64_t from, to; /* icounts, both included */
	uint32_t journal;  /* every chunk from the journal */
	/* chunks read so far and of all, while the scan goes (or NULL) */
	void (*progress)(void *opaque, uint64_t done, uint64_t total);
	void *progress_opaque;
	/* set by fb_scan: chunks of the trace, and those read from the journal */
	uint64_t chunks, journal_chunks;
} fb_filter;
typedef int (*fb_event_fn)(void *opaque, const fb_event *ev, int journal_read);
int fb_scan(fb_trace *t, fb_filter *f, fb_event_fn fn, void *opaque);
/*
 * fb_scan() in batches (the Python module's Trace.events): the events that
 * pass @f (its progress is not called), up to @max into @out a call: how
 * many (0 at the end), FB_ERROR.  Unlike fb_scan(), every event carries
 * its data (the chunks holding DMA writes, map changes or console bytes
 * of the kinds asked for are read from the journal); it stays valid until
 * the next call.
 */
fb_scanner *fb_scanner_open(fb_trace *t, const fb_filter *f);
int fb_scanner_next(fb_scanner *sc, fb_event *out, unsigned max);
void fb_scanner_close(fb_scanner *sc);
/* The @i-th SQL statement fb_scan() runs for @f (for EXPLAIN QUERY PLAN) in
 * @buf: FB_OK, FB_END past the last. */
int fb_scan_sql(const fb_filter *f, unsigned i, char *buf, size_t len);

/*
 * One read-only SQL statement over the index (traces/FORMAT.md; as
 * `flashback query`).  Column types are SQLite's (FB_SQL_*).
 */
enum { FB_SQL_INTEGER = 1, FB_SQL_FLOAT = 2, FB_SQL_TEXT = 3, FB_SQL_BLOB = 4, FB_SQL_NULL = 5 };
fb_query *fb_query_open(fb_trace *t, const char *sql);
/*
 * The first statement of @sql, for a text of several separated by ';'
 * (`flashback query` runs them in turn): FB_OK with *@q and *@rest after
 * that statement, FB_END if @sql holds none (only blanks or comments),
 * FB_ERROR (a syntax error, a writing statement).
 */
int fb_query_first(fb_trace *t, const char *sql, const char **rest, fb_query **q);
/*
 * How long one statement of @t may run (600 s unless set; 0 < @seconds),
 * and @tick (or NULL), called about ten times a second while one runs.  A
 * statement that takes longer fails, fb_query_timed_out() says so.
 */
int fb_query_limits(fb_trace *t, double seconds, void (*tick)(void *opaque), void *opaque);
int fb_query_timed_out(const fb_query *q);
int fb_query_step(fb_query *q); /* 1 a row, 0 done, FB_ERROR */
int fb_query_columns(fb_query *q);
const char *fb_query_name(fb_query *q, int col);
int fb_query_type(fb_query *q, int col);
int64_t fb_query_int(fb_query *q, int col);
double fb_query_double(fb_query *q, int col);
/* A text or blob; a number as its text (as SQLite converts it). */
const void *fb_query_bytes(fb_query *q, int col, size_t *len);
/* Parameters ?N of the statement (1-based), before its first step or after a reset. */
int fb_query_bind_int(fb_query *q, int n, int64_t v);
int fb_query_reset(fb_query *q); /* to run it again, parameters kept */
void fb_query_close(fb_query *q);

/*
 * The guest's console output, one line per row of the index's console
 * table (no journal is read), in icount order: the lines with @from <=
 * icount <= @to, holding @grep (a plain, case-sensitive substring) unless
 * it is NULL (`flashback console`).
 */
typedef struct fb_console fb_console;
typedef struct fb_line {
	uint64_t icount;  /* where the line starts */
	const char *text; /* @len bytes, no newline: valid until the next fb_console_next() */
	size_t len;
} fb_line;
fb_console *fb_console_open(fb_trace *t, const char *grep, uint64_t from, uint64_t to);
int fb_console_next(fb_console *c, fb_line *out); /* 1 a line, 0 done, FB_ERROR */
void fb_console_close(fb_console *c);
/* The statement fb_console_open() runs (?1 grep, ?2 from, ?3 to), for EXPLAIN. */
const char *fb_console_sql(void);

/* ---- sessions ----------------------------------------------------------- */

/* A replay of @t at its start.  @cache: keep in-memory snapshots as replay
 * goes (fast back and forth; up to 256 MiB). */
fb_session *fb_session_new(fb_trace *t, int cache);
void fb_session_free(fb_session *s);
uint64_t fb_icount(const fb_session *s);
/* Where this session can go: the initial snapshot's icount to the end. */
uint64_t fb_start_icount(const fb_session *s);
uint64_t fb_end_icount(const fb_session *s);
/* A snapshot file of the trace that the session leaves out (damaged, or of
 * another recording; an earlier one serves), as one line, or NULL. */
const char *fb_session_warning(const fb_session *s);

/*
 * The guest's console output (COM1's THR, ports 0xE9 and 0x402) as the
 * session replays it, written to @out from now on (NULL, the default:
 * nowhere); only the first time replay passes it, so going back and forth
 * does not repeat it (`flashback replay` prints it on stdout).
 */
int fb_session_console(fb_session *s, FILE *out);
/*
 * A long fb_goto(), fb_step(), fb_run(), fb_history() or fb_verify() asks
 * @fn every 2^22 instructions whether to go on: nonzero ends it there, with
 * FB_STOPPED, between two instructions (`flashback replay` on SIGINT, gdb's
 * Ctrl-C).  NULL: never asked.
 */
void fb_session_cancel(fb_session *s, int (*fn)(void *opaque), void *opaque);
/*
 * The in-memory snapshot cache: a snapshot every @interval instructions as
 * replay goes forwards, at most @max_bytes of them (thinned where densest
 * beyond), plus one copy of guest RAM.  0, 0 turns it off; fb_session_new()
 * with @cache is 2^21 and 256 MiB.
 */
int fb_session_cache(fb_session *s, uint64_t interval, uint64_t max_bytes);
typedef struct fb_cache_stats {
	uint32_t entries;
	uint64_t bytes;	       /* in the entries: CPU state, memory map, undo logs */
	uint64_t mirror_bytes; /* the copy of RAM */
	uint64_t max_bytes, interval;
	uint64_t first_icount, last_icount; /* of the cached snapshots */
} fb_cache_stats;
/* All zero when the cache is off. */
int fb_session_cache_stats(const fb_session *s, fb_cache_stats *out);

/*
 * The engine this session runs guest code with: "jit" (host code, the
 * default on x86-64 Linux hosts) or "interp" (the interpreter, the
 * reference).  Results do not depend on it; two sessions with different
 * engines are how the differential tests compare them.  Where the host
 * cannot run host code, "jit" interprets.
 */
int fb_session_accel(fb_session *s, const char *name);
const char *fb_session_accel_name(const fb_session *s);

/* A snapshot file of the trace that the session can restore. */
typedef struct fb_snapshot {
	uint32_t number;
	uint64_t icount;
	uint64_t bytes; /* of its file */
} fb_snapshot;
/* The @i-th one, in icount order: FB_OK, FB_END past the last. */
int fb_snapshot_get(const fb_session *s, uint32_t i, fb_snapshot *out);

/* The latest snapshot of the trace at or before @icount that the session
 * can restore (where a fb_goto() there replays from at the most): its
 * number and icount.  FB_END if there is none. */
int fb_snapshot_before(const fb_session *s, uint64_t icount, uint32_t *number, uint64_t *at);

/* The latest icount at or before @icount that fb_goto() reaches without
 * replaying from further back: a trace snapshot, or one of the cache. */
uint64_t fb_restore_point(fb_session *s, uint64_t icount);
/* Be at @icount (start_icount to end_icount), forwards or backwards. */
int fb_goto(fb_session *s, uint64_t icount);
/* @n instructions forwards: FB_OK, FB_END if the recording ends first (then
 * its end is checked: the final state hash and console, as `replay` does). */
int fb_step(fb_session *s, uint64_t n);
/* Be at trace snapshot @number as it was recorded (`replay --snapshot K`). */
int fb_goto_snapshot(fb_session *s, uint32_t number);
/*
 * `flashback replay --verify`: check every file of the trace (journal,
 * index, page store, each snapshot on its own), then replay the whole
 * recording from its start (or from trace snapshot @snapshot, if >= 0)
 * comparing every check event and each snapshot it passes; a session that
 * has moved starts again from snapshot 0.  FB_OK: all of it proven, the
 * session at the end; FB_ERROR with status 2 (damage, a truncated trace)
 * or 3 (divergence); FB_STOPPED.
 */
int fb_verify(fb_session *s, int64_t snapshot);
/* Check events compared by this session so far. */
uint64_t fb_checks(const fb_session *s);
/* The hash of the CPU state (what check events hold). */
uint64_t fb_state_hash(fb_session *s);

typedef struct fb_seg {
	uint32_t sel, base, limit, attr; /* attr: descriptor bits 8-23 of the high dword */
} fb_seg;
typedef struct fb_regs {
	uint32_t gpr[8]; /* eax ecx edx ebx esp ebp esi edi */
	uint32_t eip, eflags;
	uint32_t cr[5]; /* cr0 - cr4 (cr1 is 0) */
	fb_seg seg[6];	/* es cs ss ds fs gs */
	uint32_t gdt_base, gdt_limit, idt_base, idt_limit;
	uint32_t halted;
} fb_regs;
int fb_regs_get(fb_session *s, fb_regs *r);

/* The x87: mant/se of physical registers R0-R7 (ST(i) = R[(TOP + i) & 7],
 * TOP = sw bits 11-13); tw the full tag word. */
typedef struct fb_fpu {
	uint64_t mant[8];
	uint32_t se[8];
	uint32_t cw, sw, tw, fop, fip, fdp, fcs, fds;
} fb_fpu;
int fb_fpu_get(fb_session *s, fb_fpu *f);

/*
 * As text, the way snprintf() gives it (the length of the whole text; @buf
 * gets what fits of it, NUL-terminated): the CPU state as `replay --until`
 * prints it, and the memory map (region tree, then the flat view) as gdb's
 * `monitor info mtree`.
 */
size_t fb_cpu_text(fb_session *s, char *buf, size_t len);
size_t fb_mtree_text(fb_session *s, char *buf, size_t len);

/* Guest memory at the session's position: physical (RAM and ROM), or a
 * linear address (as gdb shows a pointer) through the guest's page tables
 * as they are at that icount. */
int fb_read(fb_session *s, uint64_t addr, void *buf, size_t len, int linear);
int fb_translate(fb_session *s, uint32_t lin, uint32_t *phys);

/* ---- running to a point ---------------------------------------------------- */

enum { FB_WATCH_READ = 1, FB_WATCH_WRITE = 2 };
typedef struct fb_watch {
	uint32_t addr, len;
	uint32_t kinds; /* FB_WATCH_READ | FB_WATCH_WRITE */
	uint32_t phys;	/* 1: physical addresses (DMA included), 0: linear */
} fb_watch;

enum {
	FB_STOP_ICOUNT = 0,	/* reached the icount asked for */
	FB_STOP_BREAKPOINT = 1, /* before the instruction at a breakpoint's EIP */
	FB_STOP_WATCH = 2,	/* after the access to a watched byte */
	FB_STOP_END = 3,	/* the recording ended */
};
typedef struct fb_stop {
	uint32_t reason;
	uint32_t eip; /* breakpoint: its EIP; watch: the accessing instruction's */
	uint64_t icount;
	uint32_t watch; /* which watch (index) */
	uint32_t addr;	/* the access: linear, or physical for a DMA / a physical watch */
	uint32_t size, write, dma;
} fb_stop;

/*
 * Run forwards until icount @until (UINT64_MAX: the end), a breakpoint
 * (the instruction at the session's EIP runs first, so a run always moves)
 * or an access to a watch.  FB_OK with @stop saying where, FB_STOPPED (the
 * session's cancel function), or FB_ERROR.
 */
int fb_run(fb_session *s, uint64_t until, const uint32_t *bps, unsigned nbps, const fb_watch *w,
	   unsigned nw, fb_stop *stop);
/*
 * fb_run() that shows each hit to @fn first (gdb's reverse-continue notes
 * every hit of a stretch and stops at none): a breakpoint before its
 * instruction, a watch at the access, with @hit->icount the access's (the
 * instruction's before it retires, or the DMA's).  @fn returns nonzero to
 * stop there as fb_run() would, 0 to go on.  A breakpoint at the session's
 * EIP is a hit too (fb_run() runs over it).
 */
typedef int (*fb_hit_fn)(void *opaque, const fb_stop *hit);
int fb_run_hits(fb_session *s, uint64_t until, const uint32_t *bps, unsigned nbps,
		const fb_watch *w, unsigned nw, fb_hit_fn fn, void *opaque, fb_stop *stop);

/* ---- memory history --------------------------------------------------- */

typedef struct fb_write {
	uint64_t icount; /* of the writing instruction (before it retires) or the DMA */
	uint32_t cs, eip;
	uint32_t lin;	 /* linear address the instruction used (0: DMA, walker) */
	uint32_t phys;	 /* first byte written inside the range */
	uint32_t offset; /* its offset in the range */
	uint32_t size;	 /* bytes of the range written */
	uint32_t dma, walker, bits, insn_len; /* the instruction: insn_len bytes (0: DMA, walker) */
	uint8_t insn[16];
	const uint8_t *old, *now; /* size bytes before (NULL: not RAM) and after */
	char text[192]; /* the instruction as `flashback history` shows it, or "(device DMA)"... */
} fb_write;
/* Return 0 to stop. */
typedef int (*fb_write_fn)(void *opaque, const fb_write *w);
/*
 * The physical range fb_history() would watch for these arguments, after
 * the checks it makes (the session goes to @from for a linear @addr).
 */
int fb_history_range(fb_session *s, uint64_t addr, uint64_t len, int phys, uint64_t from,
		     uint64_t to, uint32_t *pa);
/*
 * Every write to [@addr, +@len) - linear at icount @from unless @phys -
 * between icounts @from and @to, in order (`flashback history`).  The
 * session ends at @to.
 */
int fb_history(fb_session *s, uint64_t addr, uint64_t len, int phys, uint64_t from, uint64_t to,
	       fb_write_fn fn, void *opaque);

/* ---- disassembly ---------------------------------------------------- */

/* The instruction at the start of @code (@bits 16 or 32, at @eip) as
 * capstone's Intel syntax ("mov dword ptr [eax], 1"), the text `flashback
 * history` and `disasm` show; returns its length, 0 (and "(bad)") if it
 * does not decode. */
unsigned fb_disasm(const uint8_t *code, size_t len, uint32_t eip, int bits, char *out,
		   size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
