/*
 * index.h - inside src/replay: index.sqlite, the queryable side of a trace.
 *
 * Not part of the module's interface (trace.h is).  Events are added inside
 * a transaction that index_commit_chunk() commits together with the chunk's
 * row, so the index never lists a chunk the journal does not hold whole.
 */
#ifndef FB_REPLAY_INDEX_H
#define FB_REPLAY_INDEX_H

#include "journal.h"

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

typedef struct Index {
	sqlite3 *db;
	const char *name; /* for messages */
	sqlite3_stmt *ins_event, *ins_console;
	uint32_t limit; /* events indexed per kind per chunk */
	bool in_tx;
	bool in_memory; /* a copy (or a rebuild) in memory: the file is not written */
	/* every statement stops at the deadline (0: none) */
	double deadline, limit_seconds;
	bool timed_out;
	void (*tick)(void *opaque);
	void *tick_opaque;
	uint64_t count[TEV_KIND_COUNT], indexed[TEV_KIND_COUNT]; /* of the open chunk */
	/* The console line being assembled, which may span chunks. */
	char *line;
	size_t line_len;
	uint64_t line_icount;
	char err[TRACE_ERR_LEN];
} Index;

/* Create a new index at @path (replacing nothing: the file must not exist),
 * or in memory when @path is NULL. */
bool index_create(Index *ix, const char *path, uint32_t limit);
/* Open an existing index for reading: immutable, defensive, its schema
 * checked to be exactly ours.  Nothing is written to the file. */
bool index_open(Index *ix, const char *path);
/* Go on with an in-memory copy of an index opened by index_open(), so that
 * what a reader must add never reaches the file. */
bool index_to_memory(Index *ix);
/* Open an existing index to write (flashback history --save): its schema
 * checked, defensive settings. */
bool index_open_rw(Index *ix, const char *path);
/* Replace the rows of table history saved under @query. */
bool index_save_history(Index *ix, const char *query, const TraceHistoryRow *rows, size_t n);
/* At the end of a recording: checkpoint and leave WAL mode (one file). */
bool index_finish(Index *ix);
/* Bound every statement to @seconds from now (0: no bound); @tick is
 * called now and then while one runs. */
void index_set_limits(Index *ix, double seconds, void (*tick)(void *), void *opaque);
bool index_set_meta(Index *ix, const char *key, const char *value);
/* The value of @key into @buf (@len bytes); false if absent. */
bool index_get_meta(Index *ix, const char *key, char *buf, size_t len);
/* Add one event of chunk @chunk (opens the chunk's transaction). */
bool index_event(Index *ix, const TraceEvent *ev, uint32_t chunk);
/* Add the chunk row and its counts, and commit. */
bool index_commit_chunk(Index *ix, const ChunkInfo *c);
void index_rollback(Index *ix);
/* Write the unfinished console line (at the end of a recording). */
bool index_flush_console(Index *ix);
/* The chunk rows in order; *out is malloc'd. */
bool index_chunks(Index *ix, ChunkInfo **out, size_t *n);
bool index_counts(Index *ix, uint64_t counts[TEV_KIND_COUNT]);
bool index_add_snapshot(Index *ix, uint64_t icount, const char *file, uint64_t size);
bool index_add_bookmark(Index *ix, uint64_t icount, const char *name, const char *note);
/* @ix holds exactly the rows @ref does in every table derived from the
 * journal (all but bookmarks), and passes SQLite's integrity check; else
 * false with one line in ix->err. */
bool index_same(Index *ix, Index *ref);
void index_close(Index *ix);

#endif
