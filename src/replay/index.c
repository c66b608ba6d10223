/*
 * index.c - index.sqlite: metadata, chunks, events, counts, console lines,
 * snapshots and bookmarks of a trace, in the schema traces/FORMAT.md
 * documents.
 *
 * While recording: WAL mode with synchronous=NORMAL, one transaction per
 * chunk; a commit is durable against a process crash at once and against
 * power loss by the next checkpoint, and the journal, fsync'd first, is the
 * truth either way.  At the end the index becomes a plain rollback-journal
 * database, one file that any reader can open where it lies.  At most
 * ix->limit events of each kind per chunk get an events row (a dense
 * polling loop would otherwise make the index many times larger than the
 * journal); the chunk_counts table has the exact numbers.
 *
 * Reading treats the file as untrusted input: it is opened immutable (no
 * lock, no -wal or -shm file created, nothing written), with SQLite's
 * defensive settings, triggers and views off until the schema is checked
 * to be exactly ours, and every statement bounded in time.  What a reader
 * has to add (the chunks a crashed recording did not index) goes into an
 * in-memory copy, never into the file.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "../base/base.h"
#include "index.h"

#define LINE_MAX_BYTES 4096

/* Small pages: a trace's index is mostly small tables and indexes, each at
 * least a page; the events table of a long recording still fits well. */
static const char writer_pragmas[] = "PRAGMA page_size=1024;"
				     "PRAGMA journal_mode=WAL;"
				     "PRAGMA synchronous=NORMAL;";

static const char schema[] =
    "BEGIN;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE kinds(kind INTEGER PRIMARY KEY, name TEXT NOT NULL);"
    "CREATE TABLE chunks(number INTEGER PRIMARY KEY, first_icount INTEGER NOT NULL,"
    " last_icount INTEGER NOT NULL, offset INTEGER NOT NULL,"
    " compressed_size INTEGER NOT NULL, raw_size INTEGER NOT NULL,"
    " events INTEGER NOT NULL, crc INTEGER NOT NULL);"
    "CREATE TABLE events(icount INTEGER NOT NULL, kind INTEGER NOT NULL, port INTEGER,"
    " address INTEGER, size INTEGER, value INTEGER, value2 INTEGER,"
    " chunk INTEGER NOT NULL);"
    "CREATE TABLE chunk_counts(chunk INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " count INTEGER NOT NULL, indexed INTEGER NOT NULL, PRIMARY KEY(chunk, kind));"
    "CREATE VIEW counts AS SELECT kind, name, sum(count) AS count,"
    " sum(indexed) AS indexed FROM chunk_counts JOIN kinds USING(kind) GROUP BY kind;"
    "CREATE TABLE snapshots(icount INTEGER NOT NULL, file TEXT NOT NULL,"
    " size INTEGER NOT NULL);"
    "CREATE TABLE console(icount INTEGER NOT NULL, line TEXT NOT NULL);"
    "CREATE TABLE bookmarks(icount INTEGER NOT NULL, name TEXT NOT NULL, note TEXT);"
    "CREATE TABLE history(query TEXT NOT NULL, icount INTEGER NOT NULL, cs INTEGER,"
    " eip INTEGER, lin INTEGER, phys INTEGER NOT NULL, size INTEGER NOT NULL,"
    " dma INTEGER NOT NULL, insn TEXT, old BLOB, new BLOB);"
    "CREATE INDEX events_kind_icount ON events(kind, icount);"
    "CREATE INDEX events_port ON events(port, icount) WHERE port IS NOT NULL;"
    "CREATE INDEX events_address ON events(address, icount) WHERE address IS NOT NULL;"
    "CREATE INDEX console_icount ON console(icount);"
    "CREATE INDEX snapshots_icount ON snapshots(icount);"
    "CREATE INDEX bookmarks_icount ON bookmarks(icount);"
    "CREATE INDEX history_query ON history(query, icount);"
    "COMMIT;";

/*
 * One line: the file, what we were doing and SQLite's reason, with the
 * system's when the file itself failed ("disk I/O error (File too large)"
 * says more than SQLite alone).  Called right after the failing SQLite
 * call: SQLite does not always keep the system error for a failed write
 * (sqlite3_system_errno() is 0 after EFBIG), but errno still holds it.
 */
static bool sql_fail(Index *ix, const char *what)
{
	int saved = errno;
	int code = ix->db ? sqlite3_errcode(ix->db) & 0xff : SQLITE_NOMEM;
	int sys = ix->db ? sqlite3_system_errno(ix->db) : 0;
	char why[64] = "";

	if (!sys)
		sys = saved;

	if (sys && (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN))
		snprintf(why, sizeof(why), " (%s)", strerror(sys));
	snprintf(ix->err, sizeof(ix->err), "%s: %s: %s%s", ix->name, what,
		 ix->db ? sqlite3_errmsg(ix->db) : "out of memory", why);
	return false;
}

static bool exec_as(Index *ix, const char *sql, const char *what)
{
	if (sqlite3_exec(ix->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(ix, what);
	return true;
}

static bool exec(Index *ix, const char *sql)
{
	return exec_as(ix, sql, sql);
}

static bool prepare(Index *ix, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(ix->db, sql, -1, st, NULL) != SQLITE_OK)
		return sql_fail(ix, "prepare");
	return true;
}

/* Run a prepared statement that returns no rows, and reset it. */
static bool step_done(Index *ix, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int saved = errno;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	errno = saved;
	if (rc != SQLITE_DONE)
		return sql_fail(ix, what);
	return true;
}

static bool prepare_writes(Index *ix)
{
	sqlite3_busy_timeout(ix->db, 2000);
	return prepare(ix,
		       "INSERT INTO events(icount, kind, port, address, size, value, value2,"
		       " chunk) VALUES(?,?,?,?,?,?,?,?)",
		       &ix->ins_event) &&
	       prepare(ix, "INSERT INTO console(icount, line) VALUES(?,?)", &ix->ins_console);
}

/* ---- bounds and defences ---------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* SQLite calls this every few thousand steps of a statement: past the
 * deadline the statement stops with SQLITE_INTERRUPT. */
static int on_progress(void *opaque)
{
	Index *ix = opaque;

	if (ix->tick)
		ix->tick(ix->tick_opaque);
	if (ix->deadline && now_s() > ix->deadline) {
		ix->timed_out = true;
		return 1;
	}
	return 0;
}

void index_set_limits(Index *ix, double seconds, void (*tick)(void *), void *opaque)
{
	ix->deadline = seconds > 0 ? now_s() + seconds : 0;
	ix->limit_seconds = seconds;
	ix->tick = tick;
	ix->tick_opaque = opaque;
}

/* What a connection to an index may do, whoever wrote the file: no
 * triggers, no views (until the schema is known to be ours), no
 * functions the file's schema names on its own, no ATTACH, no writes to
 * the schema by way of PRAGMA writable_schema. */
static void harden(Index *ix)
{
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	sqlite3_limit(ix->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_progress_handler(ix->db, 1000, on_progress, ix);
}

static bool open_db(Index *ix, const char *path, const char *uri, int flags)
{
	memset(ix, 0, sizeof(*ix));
	ix->name = path;
	if (sqlite3_open_v2(uri ? uri : path, &ix->db, flags, NULL) != SQLITE_OK)
		return sql_fail(ix, "cannot open");
	harden(ix);
	return true;
}

/* "file:" + @path with everything but [A-Za-z0-9/._~-] percent-encoded,
 * then @query. */
static char *file_uri(const char *path, const char *query)
{
	size_t n = strlen(path);
	char *u = xmalloc(3 * n + strlen(query) + 8), *p = u;

	p += sprintf(p, "file:");
	for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("/._~-", *s))
			*p++ = (char)*s;
		else
			p += sprintf(p, "%%%02X", *s);
	}
	strcpy(p, query);
	return u;
}

/* A growing NUL-terminated string. */
typedef struct RRText {
	char *p;
	size_t len, cap;
} RRText;

static void text_add(RRText *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = xrealloc(t->p, t->cap);
	}
	memcpy(t->p + t->len, s, n + 1);
	t->len += n;
}

/* The rows of sqlite_schema that a fresh index has, in a stable order. */
static const char schema_rows_sql[] =
    "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name";

static char *schema_text(sqlite3 *db)
{
	sqlite3_stmt *st;
	RRText t = {0};

	if (sqlite3_prepare_v2(db, schema_rows_sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < 4; c++) {
			const char *v = (const char *)sqlite3_column_text(st, c);

			text_add(&t, v ? v : "");
			text_add(&t, c < 3 ? "|" : "\n");
		}
	}
	if (sqlite3_finalize(st) != SQLITE_OK) {
		free(t.p);
		return NULL;
	}
	return t.p ? t.p : xstrdup("");
}

/* The file's schema must be exactly the one index_create() writes: a
 * table turned into a view, an added trigger or index is refused. */
static bool schema_check(Index *ix)
{
	static char *want;
	char *have;
	bool ok;

	if (!want) {
		sqlite3 *ref;

		if (sqlite3_open(":memory:", &ref) != SQLITE_OK ||
		    sqlite3_exec(ref, schema, NULL, NULL, NULL) != SQLITE_OK ||
		    !(want = schema_text(ref)))
			fatal(EXIT_INTERNAL, "index: cannot build the reference schema");
		sqlite3_close(ref);
	}
	have = schema_text(ix->db);
	if (!have)
		return sql_fail(ix, "reading its schema");
	ok = strcmp(have, want) == 0;
	if (!ok) {
		const char *a = have, *b = want;
		const char *line;
		size_t len;

		while (*a && *a == *b)
			a++, b++;
		for (line = a; line > have && line[-1] != '\n'; line--)
			;
		len = strcspn(line, "\n");
		snprintf(ix->err, sizeof(ix->err),
			 "%s: not the schema of a flashback index (at '%.*s'); the index is wrong",
			 ix->name, (int)(len > 120 ? 120 : len), line);
	}
	free(have);
	return ok;
}

bool index_create(Index *ix, const char *path, uint32_t limit)
{
	bool memory = path == NULL;

	if (!open_db(ix, memory ? "index (in memory)" : path, memory ? ":memory:" : NULL,
		     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
		return false;
	ix->in_memory = memory;
	ix->limit = limit;
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_ENABLE_VIEW, 1, NULL);
	if ((!memory && !exec_as(ix, writer_pragmas, "setting it up")) ||
	    !exec_as(ix, schema, "creating the tables") || !exec(ix, "BEGIN"))
		return false;
	for (unsigned k = 1; k < TEV_KIND_COUNT; k++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "INSERT INTO kinds VALUES(%u, '%s')", k,
			 trace_kind_name(k));
		if (!exec(ix, sql))
			return false;
	}
	char v[32];
	snprintf(v, sizeof(v), "%u", limit);
	return index_set_meta(ix, "index_limit", v) && exec(ix, "COMMIT") && prepare_writes(ix);
}

bool index_open(Index *ix, const char *path)
{
	char v[TRACE_ERR_LEN];
	char *uri = file_uri(path, "?immutable=1");
	bool opened = open_db(ix, path, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);

	free(uri);
	if (!opened)
		return false;
	index_set_limits(ix, 60, NULL, NULL);
	if (!schema_check(ix))
		return false;
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_ENABLE_VIEW, 1, NULL); /* ours: counts */
	/* Reading a table proves the file is a database of ours. */
	if (!index_get_meta(ix, "index_limit", v, sizeof(v))) {
		if (!ix->err[0])
			snprintf(ix->err, sizeof(ix->err), "%s: no index_limit in table meta",
				 path);
		return false;
	}
	ix->limit = (uint32_t)strtoul(v, NULL, 10);
	/* Resume the console line an interrupted recording left open. */
	if (index_get_meta(ix, "console_pending", v, sizeof(v)) && v[0]) {
		ix->line = xmalloc(LINE_MAX_BYTES);
		ix->line_len = strlen(v) < LINE_MAX_BYTES ? strlen(v) : LINE_MAX_BYTES - 1;
		memcpy(ix->line, v, ix->line_len);
		if (index_get_meta(ix, "console_pending_icount", v, sizeof(v)))
			ix->line_icount = strtoull(v, NULL, 10);
	}
	index_set_limits(ix, 0, NULL, NULL);
	return true;
}

bool index_to_memory(Index *ix)
{
	sqlite3 *mem = NULL;
	sqlite3_backup *b;
	int rc;

	if (ix->in_memory)
		return true;
	if (sqlite3_open(":memory:", &mem) != SQLITE_OK) {
		sqlite3_close(mem);
		return sql_fail(ix, "copying it into memory");
	}
	b = sqlite3_backup_init(mem, "main", ix->db, "main");
	rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(mem);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(ix->err, sizeof(ix->err), "%s: copying it into memory: %s", ix->name,
			 sqlite3_errmsg(mem));
		sqlite3_close(mem);
		return false;
	}
	sqlite3_close(ix->db);
	ix->db = mem;
	ix->in_memory = true;
	harden(ix);
	sqlite3_db_config(ix->db, SQLITE_DBCONFIG_ENABLE_VIEW, 1, NULL);
	return prepare_writes(ix);
}

bool index_finish(Index *ix)
{
	return ix->in_memory || (exec_as(ix, "PRAGMA wal_checkpoint(TRUNCATE)", "checkpointing") &&
				 exec_as(ix, "PRAGMA journal_mode=DELETE", "leaving WAL mode"));
}

bool index_set_meta(Index *ix, const char *key, const char *value)
{
	sqlite3_stmt *st;

	if (!prepare(ix, "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)", &st))
		return false;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	bool ok = step_done(ix, st, "writing table meta");
	sqlite3_finalize(st);
	return ok;
}

bool index_get_meta(Index *ix, const char *key, char *buf, size_t len)
{
	sqlite3_stmt *st;
	bool found = false;

	ix->err[0] = 0;
	if (!prepare(ix, "SELECT value FROM meta WHERE key = ?", &st))
		return false;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);
		snprintf(buf, len, "%s", v ? (const char *)v : "");
		found = true;
	} else if (rc != SQLITE_DONE) {
		sql_fail(ix, "reading table meta");
	}
	sqlite3_finalize(st);
	return found;
}

static bool begin(Index *ix)
{
	if (ix->in_tx)
		return true;
	if (!exec(ix, "BEGIN"))
		return false;
	ix->in_tx = true;
	return true;
}

static void bind_u64(sqlite3_stmt *st, int col, uint64_t v)
{
	sqlite3_bind_int64(st, col, (sqlite3_int64)v);
}

static bool emit_line(Index *ix)
{
	/* A carriage return before the newline is not part of the text. */
	size_t n = ix->line_len;
	if (n && ix->line[n - 1] == '\r')
		n--;
	bind_u64(ix->ins_console, 1, ix->line_icount);
	sqlite3_bind_text(ix->ins_console, 2, ix->line, (int)n, SQLITE_STATIC);
	ix->line_len = 0;
	return step_done(ix, ix->ins_console, "writing table console");
}

/* Cut console bytes into lines, each stamped with the icount of its first byte. */
static bool console_bytes(Index *ix, const TraceEvent *ev)
{
	if (!ix->line)
		ix->line = xmalloc(LINE_MAX_BYTES);
	for (uint32_t i = 0; i < ev->size; i++) {
		uint8_t b = ev->data[i];
		if (ix->line_len == 0)
			ix->line_icount = ev->icount;
		if (b == '\n') {
			if (!emit_line(ix))
				return false;
			continue;
		}
		ix->line[ix->line_len++] = b ? (char)b : ' ';
		if (ix->line_len == LINE_MAX_BYTES && !emit_line(ix))
			return false;
	}
	return true;
}

bool index_event(Index *ix, const TraceEvent *ev, uint32_t chunk)
{
	sqlite3_stmt *st = ix->ins_event;

	if (!begin(ix))
		return false;
	ix->count[ev->kind]++;
	if (ev->kind == TEV_CONSOLE && !console_bytes(ix, ev))
		return false;
	if (ix->indexed[ev->kind] >= ix->limit)
		return true;
	ix->indexed[ev->kind]++;
	bind_u64(st, 1, ev->icount);
	sqlite3_bind_int(st, 2, ev->kind);
	switch (ev->kind) {
	case TEV_PORT_READ:
		bind_u64(st, 3, ev->addr);
		break;
	case TEV_MMIO_READ:
	case TEV_DMA_WRITE:
	case TEV_MAP_CHANGE:
		bind_u64(st, 4, ev->addr);
		break;
	case TEV_TIME_READ:
		if (ev->addr)
			bind_u64(st, 4, ev->addr);
		break;
	}
	if (ev->size || ev->kind == TEV_DMA_WRITE || ev->kind == TEV_CONSOLE ||
	    ev->kind == TEV_MAP_CHANGE)
		sqlite3_bind_int64(st, 5, ev->size);
	if (ev->kind != TEV_DMA_WRITE && ev->kind != TEV_CONSOLE && ev->kind != TEV_MAP_CHANGE)
		bind_u64(st, 6, ev->value);
	if (ev->flags & TRACE_CHECK_RAM)
		bind_u64(st, 7, ev->value2);
	sqlite3_bind_int64(st, 8, chunk);
	return step_done(ix, st, "writing table events");
}

bool index_commit_chunk(Index *ix, const ChunkInfo *c)
{
	sqlite3_stmt *st;
	char pending[32];

	if (!begin(ix))
		return false;
	if (!prepare(ix, "INSERT INTO chunks VALUES(?,?,?,?,?,?,?,?)", &st))
		return false;
	bind_u64(st, 1, c->number);
	bind_u64(st, 2, c->first_icount);
	bind_u64(st, 3, c->last_icount);
	bind_u64(st, 4, c->offset);
	bind_u64(st, 5, c->csize);
	bind_u64(st, 6, c->rsize);
	bind_u64(st, 7, c->events);
	bind_u64(st, 8, c->crc);
	bool ok = step_done(ix, st, "writing table chunks");
	sqlite3_finalize(st);
	if (!ok || !prepare(ix, "INSERT INTO chunk_counts VALUES(?,?,?,?)", &st))
		return false;
	for (unsigned k = 1; ok && k < TEV_KIND_COUNT; k++) {
		if (!ix->count[k])
			continue;
		bind_u64(st, 1, c->number);
		bind_u64(st, 2, k);
		bind_u64(st, 3, ix->count[k]);
		bind_u64(st, 4, ix->indexed[k]);
		ok = step_done(ix, st, "writing table chunk_counts");
	}
	sqlite3_finalize(st);
	memset(ix->count, 0, sizeof(ix->count));
	memset(ix->indexed, 0, sizeof(ix->indexed));
	/* The open console line, so that re-indexing can resume it. */
	if (ix->line)
		ix->line[ix->line_len < LINE_MAX_BYTES ? ix->line_len : LINE_MAX_BYTES - 1] = 0;
	snprintf(pending, sizeof(pending), "%llu", (unsigned long long)ix->line_icount);
	ok = ok && index_set_meta(ix, "console_pending", ix->line ? ix->line : "") &&
	     index_set_meta(ix, "console_pending_icount", pending) && exec(ix, "COMMIT");
	if (ok)
		ix->in_tx = false;
	return ok;
}

void index_rollback(Index *ix)
{
	if (ix->in_tx)
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	ix->in_tx = false;
	memset(ix->count, 0, sizeof(ix->count));
	memset(ix->indexed, 0, sizeof(ix->indexed));
}

bool index_flush_console(Index *ix)
{
	if (!ix->line_len)
		return index_set_meta(ix, "console_pending", "");
	return emit_line(ix) && index_set_meta(ix, "console_pending", "");
}

bool index_chunks(Index *ix, ChunkInfo **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 64;
	int rc;

	*n = 0;
	*out = xmalloc(cap * sizeof(**out));
	if (!prepare(ix,
		     "SELECT number, first_icount, last_icount, offset, compressed_size,"
		     " raw_size, events, crc FROM chunks ORDER BY number",
		     &st))
		return false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap *= 2;
			*out = xrealloc(*out, cap * sizeof(**out));
		}
		ChunkInfo *c = &(*out)[(*n)++];
		c->number = (uint32_t)sqlite3_column_int64(st, 0);
		c->first_icount = (uint64_t)sqlite3_column_int64(st, 1);
		c->last_icount = (uint64_t)sqlite3_column_int64(st, 2);
		c->offset = (uint64_t)sqlite3_column_int64(st, 3);
		c->csize = (uint32_t)sqlite3_column_int64(st, 4);
		c->rsize = (uint32_t)sqlite3_column_int64(st, 5);
		c->events = (uint32_t)sqlite3_column_int64(st, 6);
		c->crc = (uint32_t)sqlite3_column_int64(st, 7);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(ix, "reading table chunks");
	return true;
}

bool index_counts(Index *ix, uint64_t counts[TEV_KIND_COUNT])
{
	sqlite3_stmt *st;
	int rc;

	memset(counts, 0, TEV_KIND_COUNT * sizeof(counts[0]));
	if (!prepare(ix, "SELECT kind, count FROM counts", &st))
		return false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int k = sqlite3_column_int(st, 0);
		if (k > 0 && k < TEV_KIND_COUNT)
			counts[k] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(ix, "reading view counts");
	return true;
}

static bool insert3(Index *ix, const char *sql, uint64_t icount, const char *a, const char *b,
		    uint64_t n)
{
	sqlite3_stmt *st;

	if (!prepare(ix, sql, &st))
		return false;
	bind_u64(st, 1, icount);
	sqlite3_bind_text(st, 2, a, -1, SQLITE_TRANSIENT);
	if (b)
		sqlite3_bind_text(st, 3, b, -1, SQLITE_TRANSIENT);
	else
		bind_u64(st, 3, n);
	bool ok = step_done(ix, st, sql);
	sqlite3_finalize(st);
	return ok;
}

bool index_add_snapshot(Index *ix, uint64_t icount, const char *file, uint64_t size)
{
	return insert3(ix, "INSERT INTO snapshots VALUES(?,?,?)", icount, file, NULL, size);
}

bool index_add_bookmark(Index *ix, uint64_t icount, const char *name, const char *note)
{
	return insert3(ix, "INSERT INTO bookmarks VALUES(?,?,?)", icount, name, note ? note : "",
		       0);
}

void index_close(Index *ix)
{
	if (ix->in_tx)
		index_rollback(ix);
	sqlite3_finalize(ix->ins_event);
	sqlite3_finalize(ix->ins_console);
	if (ix->db)
		sqlite3_close(ix->db);
	free(ix->line);
	memset(ix, 0, sizeof(*ix));
}

/* ---- checking an index against another ------------------------------------ */

/* What index_same() compares: every table derived from the journal. */
static const struct {
	const char *table, *sql;
} derived[] = {
    {"meta", "SELECT key, value FROM meta ORDER BY key"},
    {"kinds", "SELECT kind, name FROM kinds ORDER BY kind"},
    {"chunks", "SELECT * FROM chunks ORDER BY number"},
    {"chunk_counts", "SELECT chunk, kind, count, indexed FROM chunk_counts ORDER BY chunk, kind"},
    {"events", "SELECT rowid, * FROM events ORDER BY rowid"},
    {"console", "SELECT rowid, icount, line FROM console ORDER BY rowid"},
    {"snapshots", "SELECT icount, file, size FROM snapshots ORDER BY icount, file"},
};

static bool same_value(sqlite3_stmt *a, sqlite3_stmt *b, int c)
{
	int t = sqlite3_column_type(a, c);

	if (t != sqlite3_column_type(b, c))
		return false;
	switch (t) {
	case SQLITE_NULL:
		return true;
	case SQLITE_INTEGER:
		return sqlite3_column_int64(a, c) == sqlite3_column_int64(b, c);
	case SQLITE_FLOAT:
		return sqlite3_column_double(a, c) == sqlite3_column_double(b, c);
	default: {
		int n = sqlite3_column_bytes(a, c);

		/* an empty value's blob is NULL: memcmp must not see it */
		return n == sqlite3_column_bytes(b, c) &&
		       (n == 0 || memcmp(sqlite3_column_blob(a, c), sqlite3_column_blob(b, c),
					 (size_t)n) == 0);
	}
	}
}

/* Table @i of @ix and @ref hold the same rows; else one line in ix->err. */
static bool same_table(Index *ix, Index *ref, size_t i)
{
	sqlite3_stmt *a = NULL, *b = NULL;
	uint64_t row = 0;
	bool ok = false;

	if (!prepare(ix, derived[i].sql, &a) || !prepare(ref, derived[i].sql, &b)) {
		if (ref->err[0])
			snprintf(ix->err, sizeof(ix->err), "%s", ref->err);
		goto out;
	}
	for (;; row++) {
		int ra = sqlite3_step(a), rb = sqlite3_step(b), c, n;

		if (ra != SQLITE_ROW && ra != SQLITE_DONE) {
			sql_fail(ix, "reading it");
			goto out;
		}
		if (ra != rb) {
			snprintf(ix->err, sizeof(ix->err),
				 "%s: table %s has %s rows than the journal gives (from row %llu)",
				 ix->name, derived[i].table, ra == SQLITE_ROW ? "more" : "fewer",
				 (unsigned long long)row + 1);
			goto out;
		}
		if (ra == SQLITE_DONE)
			break;
		n = sqlite3_column_count(a);
		for (c = 0; c < n && same_value(a, b, c); c++)
			;
		if (c < n) {
			snprintf(ix->err, sizeof(ix->err),
				 "%s: table %s, row %llu, column %s is not what the journal gives",
				 ix->name, derived[i].table, (unsigned long long)row + 1,
				 sqlite3_column_name(a, c));
			goto out;
		}
	}
	ok = true;
out:
	sqlite3_finalize(a);
	sqlite3_finalize(b);
	return ok;
}

bool index_same(Index *ix, Index *ref)
{
	sqlite3_stmt *st;
	const char *v;
	bool ok;

	/* first SQLite's own check of every page and index */
	if (!prepare(ix, "PRAGMA integrity_check(1)", &st))
		return false;
	ok = sqlite3_step(st) == SQLITE_ROW && (v = (const char *)sqlite3_column_text(st, 0)) &&
	     strcmp(v, "ok") == 0;
	if (!ok)
		snprintf(ix->err, sizeof(ix->err), "%s: damaged (SQLite's integrity check: %s)",
			 ix->name,
			 sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
						    : sqlite3_errmsg(ix->db));
	sqlite3_finalize(st);
	for (size_t i = 0; ok && i < ARRAY_SIZE(derived); i++)
		ok = same_table(ix, ref, i);
	return ok;
}

/* ---- writing a finished index (flashback history --save) -------------------- */

bool index_open_rw(Index *ix, const char *path)
{
	if (!open_db(ix, path, NULL, SQLITE_OPEN_READWRITE))
		return false;
	index_set_limits(ix, 60, NULL, NULL);
	if (!schema_check(ix))
		return false;
	sqlite3_busy_timeout(ix->db, 2000);
	return true;
}

bool index_save_history(Index *ix, const char *query, const TraceHistoryRow *rows, size_t n)
{
	sqlite3_stmt *st;
	bool ok;

	if (!exec(ix, "BEGIN") || !prepare(ix, "DELETE FROM history WHERE query = ?", &st))
		return false;
	sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
	ok = step_done(ix, st, "clearing table history");
	sqlite3_finalize(st);
	if (!ok || !prepare(ix, "INSERT INTO history VALUES(?,?,?,?,?,?,?,?,?,?,?)", &st))
		return false;
	for (size_t i = 0; ok && i < n; i++) {
		const TraceHistoryRow *r = &rows[i];

		sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
		bind_u64(st, 2, r->icount);
		if (!r->dma && !r->walker) {
			bind_u64(st, 3, r->cs);
			bind_u64(st, 4, r->eip);
			sqlite3_bind_text(st, 9, r->insn, -1, SQLITE_STATIC);
		}
		if (r->lin_valid)
			bind_u64(st, 5, r->lin);
		bind_u64(st, 6, r->phys);
		bind_u64(st, 7, r->size);
		sqlite3_bind_int(st, 8, r->dma);
		if (r->old)
			sqlite3_bind_blob(st, 10, r->old, (int)r->size, SQLITE_STATIC);
		sqlite3_bind_blob(st, 11, r->now, (int)r->size, SQLITE_STATIC);
		ok = step_done(ix, st, "writing table history");
	}
	sqlite3_finalize(st);
	return ok && exec(ix, "COMMIT");
}
