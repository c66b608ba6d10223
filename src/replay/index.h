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
	uint64_t count[TEV_KIND_COUNT], indexed[TEV_KIND_COUNT]; /* of the open chunk */
	/* The console line being assembled, which may span chunks. */
	char *line;
	size_t line_len;
	uint64_t line_icount;
	char err[TRACE_ERR_LEN];
} Index;

/* Create a new index at @path (replacing nothing: the file must not exist). */
bool index_create(Index *ix, const char *path, uint32_t limit);
/* Open an existing index. */
bool index_open(Index *ix, const char *path);
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
void index_close(Index *ix);

#endif
