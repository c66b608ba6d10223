/*
 * tools.h - the trace database tools: flashback query, events, console,
 * export, disasm and trace, over the index (index.sqlite) and the journal
 * of a recording (disasm and trace replay it).
 *
 * Each tool opens the trace with trace_open() (which checks the journal
 * against the index and says clearly what is wrong with a damaged trace),
 * then reads index.sqlite through a second, read-only SQLite connection.
 * Exact events of kinds the index samples come from the journal chunks
 * that hold them (tt_scan), never from a full decompression.
 * docs/tools.md describes the commands; traces/FORMAT.md the files.
 *
 * Exit statuses: 0, 1 (console --grep found nothing), 2 bad usage or input
 * (SQL errors, writing statements, damaged or missing traces), 4 host
 * failure (an output file that cannot be written).
 */
#ifndef FB_TOOLS_H
#define FB_TOOLS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../src/replay/trace.h"

/* The subcommands; @argc / @argv start after the subcommand's name. */
int tools_query(int argc, char **argv);
int tools_events(int argc, char **argv);
int tools_console(int argc, char **argv);
int tools_export(int argc, char **argv);
/* disasm.c: the instructions as executed, replayed with src/replay's engine. */
int tools_disasm(int argc, char **argv);
int tools_trace(int argc, char **argv);
/* history.c: every write to a range of memory, from a replay with a watch. */
int tools_history(int argc, char **argv);
/* The lines it prints, for the gdb server's `monitor history`. */
struct HistoryWrite;
void history_header(FILE *out);
void history_line(FILE *out, const struct HistoryWrite *w);

/* screen.c: the VGA text screen at an icount, from the replayed RAM. */
int tools_screen(int argc, char **argv);

/* ---- shared by the tools (common.c) ------------------------------------ */

/* The commands built on libflashback (flashback.h): exit with its last
 * error line and status. */
_Noreturn void tool_lib_failed(void);
/* Print EXPLAIN QUERY PLAN of @sql on stdout, one step a line (as tt_explain). */
struct fb_trace;
void tool_explain(struct fb_trace *t, const char *sql);

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

/* One chunk row of the index. */
typedef struct ToolChunk {
	uint64_t first_icount, last_icount;
	uint32_t events;
	/* its rows of table events: rowids first_row .. first_row + rows - 1
	 * (rows are added chunk by chunk, in journal order) */
	uint64_t first_row, rows;
} ToolChunk;

/* An open trace: the library's handle and a read-only SQL connection. */
typedef struct ToolTrace {
	const char *dir;
	Trace *t;
	const TraceInfo *info;
	sqlite3 *db;	   /* index.sqlite, read-only (trace_db) */
	double timeout;	   /* seconds any statement may take */
	ToolChunk *chunks; /* loaded by tt_chunks() */
	size_t nchunks;
} ToolTrace;

/* What a statement may take unless --timeout says otherwise. */
#define TOOL_SQL_SECONDS 600.0

/* Open @dir or exit 2 with one line. */
void tt_open(ToolTrace *tt, const char *dir);
void tt_close(ToolTrace *tt);
/* Prepare @sql on the read-only connection or exit 2 naming the error. */
sqlite3_stmt *tt_prepare(ToolTrace *tt, const char *sql);
/* Print EXPLAIN QUERY PLAN of @st's SQL on stdout, one step a line. */
void tt_explain(ToolTrace *tt, sqlite3_stmt *st);
/* sqlite3_step(); exits 2 on an error.  true while there is a row. */
bool tt_step(ToolTrace *tt, sqlite3_stmt *st);
/* Load the chunk table (numbers are 0..n-1, as trace_open() checked). */
void tt_chunks(ToolTrace *tt);
/* The icount range of the recording: 0 to the last event's icount. */
uint64_t tt_last_icount(const ToolTrace *tt);
/* Nanoseconds per instruction as a power of two: -icount shift=N of the recording. */
int tt_icount_shift(ToolTrace *tt);

/* A number given to option @opt: decimal or 0x hex, or exit 2. */
uint64_t tool_number(const char *opt, const char *s);
/* The kind named @s ("port-read" or 1), or exit 2. */
unsigned tool_kind(const char *s);

/* Which events tt_scan() delivers. */
typedef struct EventFilter {
	uint32_t kinds; /* bit k = kind k; 0 = every kind */
	bool has_port, has_addr;
	uint64_t port, addr;
	uint64_t from, to; /* icount range, inclusive */
	bool journal;	   /* take every chunk from the journal, not only sampled ones */
	bool plan;	   /* print the SQLite query plans instead of the events */
} EventFilter;

/* Where tt_scan() found an event. */
enum event_source { FROM_INDEX, FROM_JOURNAL };

typedef bool (*EventFn)(void *opaque, const TraceEvent *ev, enum event_source src);

/*
 * Deliver the events that pass @f in icount order.  Chunks whose events of
 * the filtered kinds all have rows in the index are answered from the
 * index; chunks the index samples (chunk_counts.indexed < count) are
 * decompressed from the journal, and only those.  Returns the number of
 * chunks read from the journal; exits 2 on a damaged trace.  @fn returning
 * false stops the scan.
 */
uint64_t tt_scan(ToolTrace *tt, const EventFilter *f, EventFn fn, void *opaque);

/* ---- progress on a terminal -------------------------------------------- */

typedef struct Progress {
	const char *what;
	bool tty, shown;
	double start, last;
	double delay; /* seconds before the first line: 1, or $FLASHBACK_PROGRESS_DELAY (tests) */
} Progress;

/* Progress lines appear on stderr, if it is a terminal, after one second. */
void progress_init(Progress *p, const char *what);
void progress_update(Progress *p, uint64_t done, uint64_t total, const char *unit);
/* For work of unknown size (an SQL query): the seconds so far. */
void progress_elapsed(Progress *p);
void progress_done(Progress *p);

#endif
