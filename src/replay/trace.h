/*
 * trace.h - the on-disk trace of a recording: journal and SQLite index.
 *
 * A trace is a directory NAME.fbt/ holding journal.fbj (every
 * nondeterministic input, in order, in independently decodable zstd chunks)
 * and index.sqlite (metadata, the chunk list, events by kind / port /
 * address / icount, exact counts by kind, console lines, snapshots and
 * bookmarks).  traces/FORMAT.md describes both files byte by byte.
 *
 * Writing: trace_create(), trace_append() for each event in icount order,
 * trace_close() at the end.  Each chunk is committed to the index as soon as
 * it is written to the journal, so a recording killed at any point leaves a
 * trace readable up to its last finished chunk.
 *
 * Reading: trace_open() checks the journal against the index (and re-indexes
 * chunks the index missed), trace_info() says what the trace holds and
 * whether it is truncated, a TraceCursor walks the events from any icount.
 *
 * Every function that can fail returns false / NULL / -1 and leaves one
 * line naming the file, the byte offset and the chunk in a caller-supplied
 * buffer of TRACE_ERR_LEN bytes or in trace_error().  Nothing here exits the
 * process.  This module is independent of the CPU and the machine.
 */
#ifndef FB_TRACE_H
#define FB_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The trace format version this flashback writes and reads (FORMAT.md,
 * "Compatibility": version 1 traces had unchecked snapshot headers and no
 * recording identity, and are refused by number). */
#define TRACE_FORMAT_VERSION 2
#define TRACE_ID_LEN	     16 /* bytes of a recording's identity */
#define TRACE_ERR_LEN	     512

/* A snapshot's file in the trace directory, by number. */
#define TRACE_SNAP_FMT "snap-%06u.fbs"

/* Event kinds.  The numbers are part of the format (FORMAT.md). */
enum trace_kind {
	TEV_PORT_READ = 1,  /* addr = port, size = 1/2/4, value */
	TEV_MMIO_READ = 2,  /* addr = physical address, size = 1/2/4/8, value */
	TEV_INTERRUPT = 3,  /* value = vector 0-255, or TRACE_NMI / TRACE_INIT / TRACE_SMI */
	TEV_DMA_WRITE = 4,  /* addr = physical address, data/size = the bytes written */
	TEV_TIME_READ = 5,  /* addr = 0 for RDTSC or the MSR number, value */
	TEV_MAP_CHANGE = 6, /* addr = change kind (machine-defined), data/size = payload */
	TEV_CHECK = 7,	    /* value = CPU state hash; value2 = RAM hash if TRACE_CHECK_RAM */
	TEV_CONSOLE = 8,    /* data/size = bytes the guest wrote to the UART */
	TEV_SNAPSHOT = 9,   /* value = snapshot number: its file TRACE_SNAP_FMT was written */
	TEV_END = 10,	    /* value = final CPU state hash; written by trace_close() */
	TEV_KIND_COUNT
};

/* Interrupt "vectors" that are not INTR vectors. */
enum { TRACE_NMI = 0x100, TRACE_INIT = 0x101, TRACE_SMI = 0x102 };

/* TraceEvent.flags */
#define TRACE_CHECK_RAM 0x01 /* a check event that carries a RAM hash in value2 */

/* Events of one kind per chunk that get a row in the index (the rest are
 * counted, and read from the journal when asked for). */
#define TRACE_INDEX_LIMIT 32

/* Largest payload (DMA bytes, console bytes, map-change payload) of one event. */
#define TRACE_MAX_DATA (16u << 20)

typedef struct TraceEvent {
	uint8_t kind; /* enum trace_kind */
	uint8_t flags;
	uint32_t size; /* access size, or the length of data */
	uint64_t icount;
	uint64_t addr;
	uint64_t value;
	uint64_t value2;
	const uint8_t *data; /* reading: valid until the next trace_next() */
} TraceEvent;

/* The name of a kind ("port-read", ...), or "?" for an unknown one. */
const char *trace_kind_name(unsigned kind);

/* What a recording is of; copied into the journal header and the index. */
typedef struct TraceMeta {
	const char *emulator_version; /* e.g. "flashback 0.1.0" */
	const char *machine_options;  /* the command line that built the machine */
	const char *cpu_model;
	uint64_t ram_size;  /* bytes */
	int64_t start_time; /* Unix seconds; 0 = now */
	/* Names this recording in every file of the trace; all zero: random. */
	uint8_t id[TRACE_ID_LEN];
} TraceMeta;

/* How to write; a zeroed struct (or NULL) gives the defaults. */
typedef struct TraceOptions {
	uint32_t chunk_bytes;  /* close a chunk at this many raw bytes (64 KiB) */
	uint32_t chunk_events; /* ... or this many events (65536) */
	uint32_t index_limit;  /* index at most this many events per kind per chunk (32) */
	int zstd_level;	       /* 0 = 3 */
	bool no_fsync;	       /* skip fsync after each chunk (tests, tmpfs) */
	/* Replaces write(2) on the journal; for tests of a full disk. */
	ssize_t (*write_hook)(int fd, const void *buf, size_t len, void *opaque);
	void *write_opaque;
} TraceOptions;

typedef struct Trace Trace;

/* ---- writing --------------------------------------------------------- */

/*
 * Create the trace directory @dir (which must not hold a journal yet) with
 * its journal and index.  NULL with a message in @err on failure.
 */
Trace *trace_create(const char *dir, const TraceMeta *meta, const TraceOptions *opt,
		    char err[TRACE_ERR_LEN]);
/*
 * Append one event; icounts must not decrease.  false on failure (a write
 * error, a full disk): the trace then refuses further events, and what was
 * written before stays readable.  The message is in trace_error().
 */
bool trace_append(Trace *t, const TraceEvent *ev);
/*
 * Append the end event (icount @final_icount, @final_hash), write the last
 * chunk, mark the index complete and free @t.  false (message in @err) if
 * this or any earlier write failed; @t is freed either way.
 */
bool trace_close(Trace *t, uint64_t final_icount, uint64_t final_hash, char err[TRACE_ERR_LEN]);
/* Add a user bookmark to the index (works on a written or an opened trace). */
bool trace_add_bookmark(Trace *t, uint64_t icount, const char *name, const char *note);

/* ---- reading --------------------------------------------------------- */

typedef struct TraceInfo {
	uint32_t format_version;
	uint32_t chunks;
	uint64_t events;
	uint64_t first_icount, last_icount; /* of the events in the journal */
	bool complete;			    /* an end event closes the journal */
	bool truncated; /* the journal stops inside a chunk or without an end event */
	bool reindexed; /* trace_open() added chunks the index was missing */
	uint64_t final_icount, final_hash; /* of the end event, when complete */
	/* One line saying where a truncated trace ends ("" when complete):
	 * "truncated after chunk K at icount N". */
	char truncation[TRACE_ERR_LEN];
	/* From the journal header; "" when absent. */
	char emulator_version[128], cpu_model[64], machine_options[256];
	uint64_t ram_size;
	int64_t start_time;
	uint8_t id[TRACE_ID_LEN]; /* the recording's identity */
	char id_hex[2 * TRACE_ID_LEN + 1];
	/* How the index was read when it is not simply the file (missing,
	 * behind the journal: indexed in memory), or "". */
	char index_note[TRACE_ERR_LEN];
} TraceInfo;

/*
 * Open the trace directory @dir: read the journal header and every chunk
 * header, check the index against them (rebuilding it, or indexing chunks
 * it is missing, from the journal), and say clearly which file is wrong
 * when they disagree.  NULL with a message in @err on failure.
 */
Trace *trace_open(const char *dir, char err[TRACE_ERR_LEN]);
const TraceInfo *trace_info(const Trace *t);
/*
 * `replay --verify`: every row of @t's index derived from the journal
 * (everything but bookmarks) must be what indexing the journal again
 * gives, and the file must pass SQLite's integrity check.  false with one
 * line in trace_error() naming the table and row.
 */
bool trace_verify_index(Trace *t);
/*
 * `flashback history --save`: store the writes a memory history found as
 * rows of table history (FORMAT.md), under the name @query, replacing rows
 * saved under that name before.  The second command that writes a finished
 * trace; false with one line.
 */
typedef struct TraceHistoryRow {
	uint64_t icount;
	uint16_t cs;
	uint32_t eip, lin, phys, size;
	bool lin_valid, dma, walker;
	const char *insn; /* the instruction as text */
	const uint8_t *old, *now;
} TraceHistoryRow;
bool trace_save_history(const char *dir, const char *query, const TraceHistoryRow *rows, size_t n,
			char err[TRACE_ERR_LEN]);

/*
 * `flashback reindex`: write @dir's index.sqlite afresh from the journal
 * (the only command that writes to a finished trace).  false with one line.
 */
bool trace_reindex(const char *dir, char err[TRACE_ERR_LEN]);
/* The recording's identity (also while writing). */
const uint8_t *trace_id(const Trace *t);
/* @id as 32 lowercase hex digits. */
void trace_id_hex(const uint8_t id[TRACE_ID_LEN], char out[2 * TRACE_ID_LEN + 1]);
/* The last error on @t, one line. */
const char *trace_error(const Trace *t);
/*
 * The index as an SQLite connection for reading (the tools' queries): its
 * schema checked to be flashback's, defensive, never writing the file.
 * Every statement on it stops with SQLITE_INTERRUPT @seconds after
 * trace_sql_limits() (0: no bound); @tick, if set, is called now and then
 * while one runs (a progress display).
 */
typedef struct sqlite3 sqlite3;
sqlite3 *trace_db(Trace *t);
void trace_sql_limits(Trace *t, double seconds, void (*tick)(void *), void *opaque);
/* The last statement stopped because its time ran out. */
bool trace_sql_timed_out(const Trace *t);
/* Exact counts of events by kind (from the index), indexed by enum trace_kind. */
bool trace_counts(Trace *t, uint64_t counts[TEV_KIND_COUNT]);
void trace_free(Trace *t);

typedef struct TraceCursor TraceCursor;

/* A cursor on the first event whose icount is >= @icount. */
TraceCursor *trace_cursor(Trace *t, uint64_t icount);
/*
 * The next event: 1 with *ev filled, 0 at the end of the journal, -1 on a
 * damaged chunk (bad checksum, decompression, encoding), message in
 * trace_error().
 */
int trace_next(TraceCursor *c, TraceEvent *ev);
void trace_cursor_free(TraceCursor *c);

#endif
