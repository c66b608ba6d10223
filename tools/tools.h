/*
 * tools.h - the trace tools: flashback replay, query, events, console,
 * export, screen, history, disasm and trace, over the index (index.sqlite)
 * and the journal of a recording (replay, screen, history, disasm and trace
 * replay it).
 *
 * All are programs over libflashback (src/lib/flashback.h): fb_open()
 * checks the journal against the index and says clearly what is wrong with
 * a damaged trace; their lines and errors are what the library gives a
 * program.  Exact events of kinds the index samples come from the journal
 * chunks that hold them (fb_scan), never from a full decompression.
 * docs/tools.md describes the commands; traces/FORMAT.md the files.
 *
 * Exit statuses: 0, 1 (console --grep found nothing), 2 bad usage or input
 * (SQL errors, writing statements, damaged or missing traces), 3 a replay
 * that diverged, 4 host failure (an output file that cannot be written),
 * 128 + a signal that stopped a replay.
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
/* disasm.c: the instructions as executed, from a session's replay. */
int tools_disasm(int argc, char **argv);
int tools_trace(int argc, char **argv);
/* history.c: every write to a range of memory, from a replay with a watch. */
int tools_history(int argc, char **argv);
/* The lines it prints, for the gdb server's `monitor history`. */
struct fb_write;
void history_header(FILE *out);
void history_line(FILE *out, const struct fb_write *w);

/* replay.c: replay a recording, print its console output again. */
int tools_replay(int argc, char **argv);
typedef struct ToolReplay {
	const char *dir;
	bool has_until, verify;
	uint64_t until; /* stop there and print the CPU state */
	int snapshot;	/* start from this trace snapshot; -1: from the start */
	FILE *console;	/* where the guest's console output goes again (NULL: nowhere) */
	/* where it ended, for the demo */
	uint64_t final_icount, final_hash;
} ToolReplay;
/* The exit status (0, 2, 3, 128 + a signal). */
int tool_replay_run(ToolReplay *o);

/* info.c: a summary of the trace; returns the exit status. */
int tools_info(int argc, char **argv);

/* screen.c: the VGA text screen at an icount, from the replayed RAM. */
int tools_screen(int argc, char **argv);

/* ---- shared by the tools (common.c) ------------------------------------ */

/* The commands built on libflashback (flashback.h): exit with its last
 * error line and status. */
_Noreturn void tool_lib_failed(void);
/* Print EXPLAIN QUERY PLAN of @sql on stdout: "plan: SQL", then a step a line. */
struct fb_trace;
void tool_explain(struct fb_trace *t, const char *sql);

/* What a statement may take unless --timeout says otherwise. */
#define TOOL_SQL_SECONDS 600.0

/* A number given to option @opt: decimal or 0x hex, or exit 2. */
uint64_t tool_number(const char *opt, const char *s);
/* The kind named @s ("port-read" or 1), or exit 2. */
unsigned tool_kind(const char *s);

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
