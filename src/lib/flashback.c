/*
 * flashback.c - libflashback (flashback.h) over the trace library
 * (src/replay/trace.h) and the replay engine (src/replay/replay.h).
 *
 * Nothing here keeps state outside its objects but the last error of each
 * thread: a session is a ReplaySession, which owns its CPU, memory map,
 * DMA target and journal cursor, so sessions on one trace or on several
 * coexist.  Checks and messages that the commands make are shared with
 * them (replay_history_range() for the memory history), so that a Python
 * exception says what `flashback` would.
 */
#include "flashback.h"
#include "internal.h"

#include <dirent.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <capstone/capstone.h>

#include "../replay/pages.h"
#include "../replay/replay.h"

#define API __attribute__((visibility("default")))

static _Thread_local char last_error[1024];
static _Thread_local int last_status;

__attribute__((format(printf, 2, 3))) static int fail(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_status = status;
	return FB_ERROR;
}

API int fb_api_version(void)
{
	return FB_API_VERSION;
}

API const char *fb_error(void)
{
	return last_error;
}

API int fb_error_status(void)
{
	return last_status;
}

/* ---- traces --------------------------------------------------------------- */

struct fb_trace {
	char *dir;
	Trace *t;
	double timeout; /* seconds a statement may run (fb_query_limits) */
};

API fb_trace *fb_open(const char *dir)
{
	char err[TRACE_ERR_LEN];
	fb_trace *t;
	Trace *tr;

	if (!dir) {
		fail(EXIT_USAGE, "no trace named");
		return NULL;
	}
	tr = trace_open(dir, err);
	if (!tr) {
		fail(EXIT_USAGE, "%s", err);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->dir = xstrdup(dir);
	t->t = tr;
	t->timeout = 600.0;
	trace_sql_limits(tr, t->timeout, NULL, NULL);
	return t;
}

API void fb_close(fb_trace *t)
{
	if (!t)
		return;
	trace_free(t->t);
	free(t->dir);
	free(t);
}

static uint32_t count_snapshots(fb_trace *t)
{
	sqlite3_stmt *st = NULL;
	uint32_t n = 0;

	if (sqlite3_prepare_v2(trace_db(t->t), "SELECT count(*) FROM snapshots", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

API int fb_trace_info(fb_trace *t, fb_info *out)
{
	const TraceInfo *i = trace_info(t->t);
	uint64_t counts[TEV_KIND_COUNT] = {0};

	memset(out, 0, sizeof(*out));
	out->start_icount = i->first_icount;
	out->end_icount = i->complete ? i->final_icount : i->last_icount;
	out->final_hash = i->final_hash;
	out->events = i->events;
	out->ram_size = i->ram_size;
	out->start_time = i->start_time;
	out->format_version = i->format_version;
	out->chunks = i->chunks;
	out->snapshots = count_snapshots(t);
	out->complete = i->complete;
	out->truncated = i->truncated;
	if (trace_counts(t->t, counts))
		for (int k = 1; k < TEV_KIND_COUNT; k++)
			out->counts[k] = counts[k];
	snprintf(out->emulator_version, sizeof(out->emulator_version), "%s", i->emulator_version);
	snprintf(out->cpu_model, sizeof(out->cpu_model), "%s", i->cpu_model);
	snprintf(out->machine_options, sizeof(out->machine_options), "%s", i->machine_options);
	snprintf(out->id, sizeof(out->id), "%s", i->id_hex);
	snprintf(out->truncation, sizeof(out->truncation), "%s", i->truncation);
	return FB_OK;
}

/* The files beside the journal: their sizes, and the first damage their headers show. */
static void summarize(const char *dir, const uint8_t *id, fb_summary *d)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char path[4096], err[TRACE_ERR_LEN];
	struct stat st;
	PageStore *ps;

	while (dp && (e = readdir(dp)) != NULL) {
		unsigned n;
		char tail[8];
		RRSnapHeader h;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		d->total_bytes += (uint64_t)st.st_size;
		if (sscanf(e->d_name, "snap-%6u.fb%1s", &n, tail) != 2)
			continue;
		d->snapshot_files++;
		d->snapshot_bytes += (uint64_t)st.st_size;
		if (!rr_snapshot_header(dir, n, id, &h, err, sizeof(err)) && !d->damage[0])
			snprintf(d->damage, sizeof(d->damage), "%s", err);
	}
	if (dp)
		closedir(dp);
	ps = ps_open(dir, id, err, sizeof(err));
	if (!ps && !d->damage[0])
		snprintf(d->damage, sizeof(d->damage), "%s", err);
	if (ps) {
		d->pages = ps_count(ps);
		snprintf(path, sizeof(path), "%s/" PS_FILE, dir);
		if (stat(path, &st) == 0)
			d->page_bytes = (uint64_t)st.st_size;
		ps_close(ps);
	}
}

API int fb_trace_summary(fb_trace *t, fb_summary *out)
{
	const TraceInfo *i = trace_info(t->t);

	memset(out, 0, sizeof(*out));
	out->last_event_icount = i->last_icount;
	snprintf(out->index_note, sizeof(out->index_note), "%s", i->index_note);
	summarize(t->dir, i->id, out);
	return FB_OK;
}

/* The machine options name the shift as "-icount shift=N" or "-icount N". */
API int fb_icount_shift(fb_trace *t)
{
	const char *o = strstr(trace_info(t->t)->machine_options, "-icount ");
	long v;

	if (!o)
		return 0;
	o += strlen("-icount ");
	if (strncmp(o, "shift=", 6) == 0)
		o += 6;
	v = strtol(o, NULL, 10);
	return v >= 0 && v <= 10 ? (int)v : 0;
}

API const char *fb_kind_name(unsigned kind)
{
	return kind >= 1 && kind < TEV_KIND_COUNT ? trace_kind_name(kind) : NULL;
}

API int fb_kind_number(const char *name)
{
	for (unsigned k = 1; name && k < TEV_KIND_COUNT; k++)
		if (strcmp(trace_kind_name(k), name) == 0)
			return (int)k;
	return FB_ERROR;
}

/* ---- events -------------------------------------------------------------
 *
 * Every event comes from the journal (exact payloads), but only from the
 * chunks that hold one of the kinds asked for: the index's exact per-chunk
 * counts (chunk_counts) say which, so a rare kind in a long recording costs
 * the chunks that have it.  Consecutive such chunks are read as one run;
 * a run reads everything up to its last chunk's last icount, so the next
 * run starts after that icount (chunks may share a boundary icount).
 */

typedef struct Run {
	uint64_t first, last; /* icounts */
} Run;

struct fb_events {
	fb_trace *t;
	TraceCursor *c;
	uint32_t kinds;
	uint64_t start, stop, addr;
	bool has_addr, done;
	Run *runs; /* NULL: read the journal from start on */
	size_t nruns, run;
	uint64_t consumed; /* every event at or before it was read (runs) */
	bool any_consumed;
	uint8_t *arena; /* the data of the events of the last batch */
	size_t cap;
};

/* The runs of chunks in [start, stop) holding a kind of @kinds; false if the
 * index cannot say (then the journal is read whole). */
static bool plan_runs(fb_events *e)
{
	static const char sql[] =
	    "SELECT c.first_icount, c.last_icount, "
	    "(SELECT count(*) FROM chunk_counts k WHERE k.chunk = c.number AND k.count > 0 "
	    " AND (?1 >> k.kind) & 1) FROM chunks c "
	    "WHERE c.last_icount >= ?2 AND c.first_icount < ?3 ORDER BY c.number";
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	bool ok = true, open_run = false;
	int rc;

	if (sqlite3_prepare_v2(trace_db(e->t->t), sql, -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_int64(st, 1, e->kinds);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(e->start > INT64_MAX ? INT64_MAX : e->start));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(e->stop > INT64_MAX ? INT64_MAX : e->stop));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t first = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t last = (uint64_t)sqlite3_column_int64(st, 1);

		if (sqlite3_column_int64(st, 2) == 0) {
			open_run = false;
			continue;
		}
		if (open_run) {
			e->runs[e->nruns - 1].last = last;
			continue;
		}
		if (e->nruns == cap) {
			cap = cap ? 2 * cap : 16;
			e->runs = xrealloc(e->runs, cap * sizeof(*e->runs));
		}
		e->runs[e->nruns++] = (Run){first, last};
		open_run = true;
	}
	if (rc != SQLITE_DONE)
		ok = false;
	sqlite3_finalize(st);
	if (!ok) {
		free(e->runs);
		e->runs = NULL;
		e->nruns = 0;
	}
	return ok;
}

API fb_events *fb_events_open(fb_trace *t, uint32_t kinds, uint64_t start, uint64_t stop,
			      int has_addr, uint64_t addr)
{
	fb_events *e;

	if (kinds & ~((1u << TEV_KIND_COUNT) - 2)) {
		fail(EXIT_USAGE, "unknown event kind (kinds are 1 to %d)", TEV_KIND_COUNT - 1);
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->t = t;
	e->kinds = kinds;
	e->start = start;
	e->stop = stop;
	e->has_addr = has_addr;
	e->addr = addr;
	if (!kinds || !plan_runs(e)) {
		e->c = trace_cursor(t->t, start);
		if (!e->c) {
			fail(EXIT_USAGE, "%s", trace_error(t->t));
			free(e);
			return NULL;
		}
	}
	return e;
}

static bool wanted(const fb_events *e, const TraceEvent *ev)
{
	return ev->icount >= e->start && (!e->kinds || (e->kinds >> ev->kind & 1)) &&
	       (!e->has_addr || ev->addr == e->addr);
}

/* With runs: the cursor of the next run, or false when none is left. */
static bool next_run(fb_events *e)
{
	uint64_t from;

	if (e->c) {
		trace_cursor_free(e->c);
		e->c = NULL;
	}
	while (e->run < e->nruns) {
		const Run *r = &e->runs[e->run];

		from = r->first > e->start ? r->first : e->start;
		if (e->any_consumed && from <= e->consumed)
			from = e->consumed + 1;
		if (from > r->last || from >= e->stop) {
			e->run++;
			continue;
		}
		e->c = trace_cursor(e->t->t, from);
		return e->c != NULL;
	}
	return false;
}

/* The next event to look at: 1, 0 at the end, -1 damaged. */
static int next_event(fb_events *e, TraceEvent *ev)
{
	for (;;) {
		int rc;

		if (!e->c && (!e->runs || !next_run(e)))
			return e->runs && e->run < e->nruns ? -1 : 0;
		rc = trace_next(e->c, ev);
		if (rc < 0 || !e->runs)
			return rc;
		if (rc == 1 && ev->icount <= e->runs[e->run].last)
			return 1;
		/* this run is done: everything up to its last icount was read */
		e->consumed = e->runs[e->run].last;
		e->any_consumed = true;
		e->run++;
		trace_cursor_free(e->c);
		e->c = NULL;
	}
}

API int fb_events_next(fb_events *e, fb_event *out, unsigned max)
{
	size_t used = 0;
	unsigned n = 0;
	TraceEvent ev;

	while (n < max && !e->done) {
		int rc = next_event(e, &ev);

		if (rc < 0) {
			e->done = true;
			return fail(EXIT_USAGE, "%s", trace_error(e->t->t));
		}
		if (rc == 0 || ev.icount >= e->stop) {
			e->done = true;
			break;
		}
		if (!wanted(e, &ev))
			continue;
		out[n] = (fb_event){.icount = ev.icount,
				    .addr = ev.addr,
				    .value = ev.value,
				    .value2 = ev.value2,
				    .size = ev.size,
				    .kind = ev.kind,
				    .flags = ev.flags};
		if (ev.data && ev.size) {
			if (used + ev.size > e->cap) {
				e->cap = (used + ev.size) * 2;
				e->arena = xrealloc(e->arena, e->cap);
			}
			memcpy(e->arena + used, ev.data, ev.size);
			/* an offset for now: the arena may move while the batch fills */
			out[n].data = (const uint8_t *)(uintptr_t)(used + 1);
			used += ev.size;
		}
		n++;
	}
	for (unsigned i = 0; i < n; i++)
		if (out[i].data)
			out[i].data = e->arena + ((uintptr_t)out[i].data - 1);
	return (int)n;
}

API void fb_events_close(fb_events *e)
{
	if (!e)
		return;
	if (e->c)
		trace_cursor_free(e->c);
	free(e->runs);
	free(e->arena);
	free(e);
}

/* ---- SQL ---------------------------------------------------------------- */

struct fb_query {
	fb_trace *t;
	sqlite3_stmt *st;
};

/* Prepare the first statement of @sql; *@rest after it.  FB_END: none. */
static int prepare(fb_trace *t, const char *sql, const char **rest, sqlite3_stmt **out)
{
	sqlite3 *db = trace_db(t->t);
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql ? sql : "", -1, &st, rest) != SQLITE_OK)
		return fail(EXIT_USAGE, "query: %s", sqlite3_errmsg(db));
	if (!st)
		return FB_END;
	if (!sqlite3_stmt_readonly(st)) {
		fail(EXIT_USAGE,
		     "query: only read-only SQL is allowed (refused: %.60s%s); "
		     "use sqlite3 on %s/index.sqlite to change the index",
		     sqlite3_sql(st), strlen(sqlite3_sql(st)) > 60 ? "..." : "", t->dir);
		sqlite3_finalize(st);
		return FB_ERROR;
	}
	*out = st;
	return FB_OK;
}

static fb_query *query_new(fb_trace *t, sqlite3_stmt *st)
{
	fb_query *q = xcalloc(1, sizeof(*q));

	q->t = t;
	q->st = st;
	return q;
}

API int fb_query_first(fb_trace *t, const char *sql, const char **rest, fb_query **q)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc = prepare(t, sql, &tail, &st);

	if (rest)
		*rest = tail ? tail : "";
	if (rc == FB_OK)
		*q = query_new(t, st);
	return rc;
}

API fb_query *fb_query_open(fb_trace *t, const char *sql)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc = prepare(t, sql, &tail, &st);

	if (rc == FB_END)
		fail(EXIT_USAGE, "query: no SQL statement");
	if (rc != FB_OK)
		return NULL;
	while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == ';'))
		tail++;
	if (tail && *tail) {
		fail(EXIT_USAGE, "query: one statement at a time (left: %.40s)", tail);
		sqlite3_finalize(st);
		return NULL;
	}
	return query_new(t, st);
}

API int fb_query_limits(fb_trace *t, double seconds, void (*tick)(void *opaque), void *opaque)
{
	if (!(seconds > 0))
		return fail(EXIT_USAGE, "a query's time limit must be more than 0 s");
	t->timeout = seconds;
	trace_sql_limits(t->t, seconds, tick, opaque);
	return FB_OK;
}

API int fb_query_timed_out(const fb_query *q)
{
	return trace_sql_timed_out(q->t->t);
}

API int fb_query_step(fb_query *q)
{
	int rc = sqlite3_step(q->st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	if (trace_sql_timed_out(q->t->t))
		return fail(EXIT_USAGE, "%s/index.sqlite: the query took longer than %g s",
			    q->t->dir, q->t->timeout);
	return fail(EXIT_USAGE, "%s/index.sqlite: %s", q->t->dir,
		    sqlite3_errmsg(sqlite3_db_handle(q->st)));
}

API int fb_query_columns(fb_query *q)
{
	return sqlite3_column_count(q->st);
}

API const char *fb_query_name(fb_query *q, int col)
{
	return sqlite3_column_name(q->st, col);
}

API int fb_query_type(fb_query *q, int col)
{
	return sqlite3_column_type(q->st, col);
}

API int64_t fb_query_int(fb_query *q, int col)
{
	return sqlite3_column_int64(q->st, col);
}

API double fb_query_double(fb_query *q, int col)
{
	return sqlite3_column_double(q->st, col);
}

API const void *fb_query_bytes(fb_query *q, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(q->st, col);

	*len = (size_t)sqlite3_column_bytes(q->st, col);
	return p;
}

API void fb_query_close(fb_query *q)
{
	if (!q)
		return;
	sqlite3_finalize(q->st);
	free(q);
}

API int fb_query_bind_int(fb_query *q, int n, int64_t v)
{
	if (sqlite3_bind_int64(q->st, n, v) != SQLITE_OK)
		return fail(EXIT_USAGE, "query: parameter %d: %s", n,
			    sqlite3_errmsg(sqlite3_db_handle(q->st)));
	return FB_OK;
}

API int fb_query_reset(fb_query *q)
{
	sqlite3_reset(q->st);
	return FB_OK;
}

/* ---- the event scan ------------------------------------------------------
 *
 * Chunks whose events of the filtered kinds all have rows in the index are
 * answered from the index; chunks the index samples (chunk_counts.indexed
 * < count) are decompressed from the journal, and only those.
 */

/* One chunk row of the index. */
typedef struct ScanChunk {
	uint64_t first_icount, last_icount;
	uint32_t events;
	/* its rows of table events: rowids first_row .. first_row + rows - 1
	 * (rows are added chunk by chunk, in journal order) */
	uint64_t first_row, rows;
} ScanChunk;

typedef struct Scan {
	fb_trace *t;
	fb_filter *f;
	fb_event_fn fn;
	void *opaque;
	ScanChunk *chunks;
	size_t nchunks;
	sqlite3_stmt *rows;
	uint64_t done; /* chunks delivered, for progress */
	bool stop, failed;
	bool data; /* the kinds with data from the journal (fb_scanner) */
	/* where the scan is, for it to go on after a stop (fb_scanner) */
	bool *journal;	     /* which chunks come from the journal */
	size_t at, end;	     /* the next run of chunks starts at @at; runs end at @end */
	size_t run_a, run_b; /* the run being delivered, while in_run */
	bool in_run;
	TraceCursor *cur; /* a journal run: the cursor, its chunk and event */
	size_t jc;
	uint32_t jn;
} Scan;

static bool scan_prepare(Scan *s, const char *sql, sqlite3_stmt **st)
{
	sqlite3 *db = trace_db(s->t->t);

	*st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
		return true;
	fail(EXIT_USAGE, "%s/index.sqlite: %s", s->t->dir, sqlite3_errmsg(db));
	s->failed = true;
	return false;
}

/* sqlite3_step(): true while there is a row; an error fails the scan. */
static bool scan_step(Scan *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return true;
	if (rc != SQLITE_DONE) {
		if (trace_sql_timed_out(s->t->t))
			fail(EXIT_USAGE, "%s/index.sqlite: the query took longer than %g s",
			     s->t->dir, s->t->timeout);
		else
			fail(EXIT_USAGE, "%s/index.sqlite: %s", s->t->dir,
			     sqlite3_errmsg(trace_db(s->t->t)));
		s->failed = true;
	}
	return false;
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

/* Load the chunk table (numbers are 0..n-1, as trace_open() checked). */
static bool scan_chunks(Scan *s)
{
	sqlite3_stmt *st;
	size_t cap = 0;

	if (!scan_prepare(s,
			  "SELECT number, first_icount, last_icount, events FROM chunks "
			  "ORDER BY number",
			  &st))
		return false;
	while (scan_step(s, st)) {
		if (col_u64(st, 0) != s->nchunks) {
			fail(EXIT_USAGE, "%s/index.sqlite: chunk %zu is missing from table chunks",
			     s->t->dir, s->nchunks);
			s->failed = true;
			break;
		}
		if (s->nchunks == cap) {
			cap = cap ? cap * 2 : 256;
			s->chunks = xrealloc(s->chunks, cap * sizeof(*s->chunks));
		}
		s->chunks[s->nchunks++] = (ScanChunk){
		    .first_icount = col_u64(st, 1),
		    .last_icount = col_u64(st, 2),
		    .events = (uint32_t)col_u64(st, 3),
		};
	}
	sqlite3_finalize(st);
	if (s->failed)
		return false;
	if (s->nchunks != trace_info(s->t->t)->chunks) {
		fail(EXIT_USAGE, "%s/index.sqlite lists %zu chunks but the journal holds %u",
		     s->t->dir, s->nchunks, trace_info(s->t->t)->chunks);
		return false;
	}
	if (!scan_prepare(s, "SELECT chunk, sum(indexed) FROM chunk_counts GROUP BY chunk", &st))
		return false;
	while (scan_step(s, st)) {
		uint64_t c = col_u64(st, 0);

		if (c < s->nchunks)
			s->chunks[c].rows = col_u64(st, 1);
	}
	sqlite3_finalize(st);
	for (size_t i = 0, row = 1; i < s->nchunks; row += s->chunks[i++].rows)
		s->chunks[i].first_row = row;
	return !s->failed;
}

/* The address column of the index for @ev, as index.c fills it. */
static bool event_address(const TraceEvent *ev, uint64_t *a)
{
	switch (ev->kind) {
	case TEV_MMIO_READ:
	case TEV_DMA_WRITE:
	case TEV_MAP_CHANGE:
		*a = ev->addr;
		return true;
	case TEV_TIME_READ: /* NULL for RDTSC */
		*a = ev->addr;
		return ev->addr != 0;
	default:
		return false;
	}
}

static bool event_passes(const fb_filter *f, const TraceEvent *ev)
{
	uint64_t a;

	if (ev->icount < f->from || ev->icount > f->to)
		return false;
	if (f->kinds && !(f->kinds >> ev->kind & 1))
		return false;
	if (f->has_port && (ev->kind != TEV_PORT_READ || ev->addr != f->port))
		return false;
	if (f->has_addr && (!event_address(ev, &a) || a != f->addr))
		return false;
	return true;
}

/* The kinds a filter can match: a port or an address narrows the kinds. */
static uint32_t filter_kinds(const fb_filter *f)
{
	uint32_t all = ((1u << TEV_KIND_COUNT) - 1) & ~1u;
	uint32_t k = f->kinds ? f->kinds : all;

	if (f->has_port)
		k &= 1u << TEV_PORT_READ;
	if (f->has_addr)
		k &= 1u << TEV_MMIO_READ | 1u << TEV_DMA_WRITE | 1u << TEV_MAP_CHANGE |
		     1u << TEV_TIME_READ;
	return k;
}

static const char sampled_sql[] = "SELECT DISTINCT chunk FROM chunk_counts "
				  "WHERE chunk BETWEEN ?1 AND ?2 AND indexed < count "
				  "AND (?3 >> kind) & 1";

/* The chunks holding events of ?3 at all (their data is only in the journal). */
static const char holding_sql[] = "SELECT DISTINCT chunk FROM chunk_counts "
				  "WHERE chunk BETWEEN ?1 AND ?2 AND count > 0 "
				  "AND (?3 >> kind) & 1";

/*
 * The SQL for the index path; ?1-?4 icount and chunk ranges, ?5 port, ?6
 * address, ?7-?8 the rowids of those chunks: the rows are in journal order,
 * so a range of chunks is a range of rowids (no index on icount needed),
 * and rowid order is icount order.
 */
static void index_sql(const fb_filter *f, uint32_t kinds, char *sql, size_t len)
{
	char list[64] = "";
	size_t at = 0;
	bool some = f->kinds || f->has_port || f->has_addr;

	for (unsigned k = 1; k < TEV_KIND_COUNT; k++)
		if (kinds >> k & 1)
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%u", at ? "," : "",
					       k);
	snprintf(sql, len,
		 "SELECT icount, kind, port, address, size, value, value2 FROM events "
		 "WHERE icount BETWEEN ?1 AND ?2 AND chunk BETWEEN ?3 AND ?4%s%s%s%s%s "
		 "AND rowid BETWEEN ?7 AND ?8 ORDER BY %s",
		 some ? " AND kind IN (" : "", some ? list : "", some ? ")" : "",
		 f->has_port ? " AND port = ?5" : "", f->has_addr ? " AND address = ?6" : "",
		 /* the order the index searched gives, so that nothing is sorted:
		  * one kind, a port or an address search an index by icount,
		  * anything else goes through the chunks' rowids */
		 f->has_port || f->has_addr || (kinds && !(kinds & (kinds - 1))) ? "icount, rowid"
										 : "rowid");
}

API int fb_scan_sql(const fb_filter *f, unsigned i, char *buf, size_t len)
{
	if (i == 0)
		snprintf(buf, len, "%s", sampled_sql);
	else if (i == 1)
		index_sql(f, filter_kinds(f), buf, len);
	else
		return FB_END;
	return FB_OK;
}

static void scan_progress(Scan *s)
{
	if (s->f->progress)
		s->f->progress(s->f->progress_opaque, s->done, s->nchunks);
}

static void deliver(Scan *s, const TraceEvent *ev, bool journal)
{
	fb_event e = {.icount = ev->icount,
		      .addr = ev->addr,
		      .value = ev->value,
		      .value2 = ev->value2,
		      .size = ev->size,
		      .kind = ev->kind,
		      .flags = ev->flags,
		      .data = ev->data};

	s->stop = !s->fn(s->opaque, &e, journal);
}

/* Start delivering the index rows of chunks [a, b]. */
static void scan_index_start(Scan *s, size_t a, size_t b)
{
	ScanChunk *c = s->chunks;
	sqlite3_stmt *st = s->rows;
	uint64_t lo = c[a].first_icount > s->f->from ? c[a].first_icount : s->f->from;
	uint64_t hi = c[b].last_icount < s->f->to ? c[b].last_icount : s->f->to;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)a);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)b);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)c[a].first_row);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)(c[b].first_row + c[b].rows - 1));
}

/* Deliver the index rows of the run until the end (true) or a stop. */
static bool scan_index(Scan *s)
{
	sqlite3_stmt *st = s->rows;

	while (!s->stop) {
		if (!scan_step(s, st))
			goto end;
		TraceEvent ev = {
		    .icount = col_u64(st, 0),
		    .kind = (uint8_t)sqlite3_column_int(st, 1),
		    .size = (uint32_t)sqlite3_column_int64(st, 4),
		    .value = col_u64(st, 5),
		    .value2 = col_u64(st, 6),
		};
		ev.addr = ev.kind == TEV_PORT_READ ? col_u64(st, 2) : col_u64(st, 3);
		if (ev.kind == TEV_CHECK && sqlite3_column_type(st, 6) != SQLITE_NULL)
			ev.flags = TRACE_CHECK_RAM;
		deliver(s, &ev, false);
	}
	return false;
end:
	if (s->failed)
		s->stop = true;
	s->done += s->run_b - s->run_a + 1;
	scan_progress(s);
	return true;
}

/*
 * Deliver the events of the run's chunks from the journal, until its end
 * (true) or a stop.  The cursor gives every event from an icount on, so it
 * starts at a chunk no earlier chunk shares its first icount with (the
 * caller ensures it), and the chunk sizes of the index say where each
 * chunk ends.
 */
static bool scan_journal(Scan *s)
{
	TraceEvent ev;

	if (!s->cur) {
		s->cur = trace_cursor(s->t->t, s->chunks[s->run_a].first_icount);
		s->jc = s->run_a;
		s->jn = 0;
		if (!s->cur) {
			fail(EXIT_USAGE, "%s", trace_error(s->t->t));
			s->failed = s->stop = true;
			return true;
		}
		s->f->journal_chunks++;
	}
	while (!s->stop) {
		if (s->jn == s->chunks[s->jc].events) {
			s->done++;
			scan_progress(s);
			if (s->jc == s->run_b)
				break;
			s->jc++;
			s->jn = 0;
			s->f->journal_chunks++;
			continue;
		}
		int rc = trace_next(s->cur, &ev);

		if (rc <= 0) {
			if (rc < 0)
				fail(EXIT_USAGE, "%s", trace_error(s->t->t));
			else
				fail(EXIT_USAGE, "%s: the journal ends inside chunk %zu", s->t->dir,
				     s->jc);
			s->failed = s->stop = true;
			break;
		}
		s->jn++;
		if (event_passes(s->f, &ev))
			deliver(s, &ev, true);
	}
	if (s->stop && !s->failed)
		return false;
	trace_cursor_free(s->cur);
	s->cur = NULL;
	return true;
}

/* Mark the chunks in [a, b] whose events of @kinds the index samples
 * (@sql sampled_sql), or that hold any (holding_sql). */
static void mark_sampled(Scan *s, const char *sql, size_t a, size_t b, uint32_t kinds,
			 bool *journal)
{
	sqlite3_stmt *st;

	if (!scan_prepare(s, sql, &st))
		return;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)a);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)b);
	sqlite3_bind_int64(st, 3, kinds);
	while (scan_step(s, st)) {
		uint64_t c = col_u64(st, 0);

		if (c >= a && c <= b)
			journal[c] = true;
	}
	sqlite3_finalize(st);
}

/* The chunks [*a, *b) that hold the icount range, and which to read from the journal. */
static void scan_plan(Scan *s, uint32_t kinds, size_t *pa, size_t *pb, bool *journal)
{
	size_t a, b;

	for (a = 0; a < s->nchunks && s->chunks[a].last_icount < s->f->from; a++)
		;
	for (b = a; b < s->nchunks && s->chunks[b].first_icount <= s->f->to; b++)
		;
	if (a < b && s->f->journal)
		memset(journal + a, 1, b - a);
	else if (a < b) {
		uint32_t data =
		    kinds & (1u << TEV_DMA_WRITE | 1u << TEV_MAP_CHANGE | 1u << TEV_CONSOLE);

		mark_sampled(s, sampled_sql, a, b - 1, kinds, journal);
		if (s->data && data)
			mark_sampled(s, holding_sql, a, b - 1, data, journal);
	}
	/*
	 * A journal run must start at a chunk whose first icount no earlier
	 * chunk reaches, for the cursor to start exactly there: take the
	 * earlier chunks from the journal too (their events outside the range
	 * are filtered out).
	 */
	for (size_t i = b; i-- > 0;)
		if (journal[i] && i > 0 &&
		    s->chunks[i - 1].last_icount >= s->chunks[i].first_icount)
			journal[i - 1] = true;
	if (a < b && journal[a])
		while (a > 0 && journal[a - 1])
			a--;
	*pa = a;
	*pb = b;
}

/* Plan the scan of @s->f: false if it failed (s->failed) or there is nothing to read. */
static bool scan_begin(Scan *s)
{
	uint32_t kinds = filter_kinds(s->f);
	char sql[512];

	s->f->chunks = s->f->journal_chunks = 0;
	if (!scan_chunks(s))
		return false;
	s->f->chunks = s->nchunks;
	if (!kinds || !s->nchunks || s->f->from > s->f->to)
		return true;
	s->journal = xcalloc(s->nchunks, sizeof(*s->journal));
	scan_plan(s, kinds, &s->at, &s->end, s->journal);
	index_sql(s->f, kinds, sql, sizeof(sql));
	if (s->failed || s->at == s->end || !scan_prepare(s, sql, &s->rows))
		return false;
	if (s->f->has_port)
		sqlite3_bind_int64(s->rows, 5, (sqlite3_int64)s->f->port);
	if (s->f->has_addr)
		sqlite3_bind_int64(s->rows, 6, (sqlite3_int64)s->f->addr);
	return true;
}

/* Deliver events until the end (true) or a stop (false). */
static bool scan_go(Scan *s)
{
	while (!s->stop) {
		if (!s->in_run) {
			size_t i = s->at, j = i;

			if (!s->rows || i >= s->end)
				return true;
			while (j + 1 < s->end && s->journal[j + 1] == s->journal[i])
				j++;
			s->run_a = i;
			s->run_b = j;
			s->at = j + 1;
			s->in_run = true;
			if (!s->journal[i])
				scan_index_start(s, i, j);
		}
		if (!(s->journal[s->run_a] ? scan_journal(s) : scan_index(s)))
			return false;
		s->in_run = false;
	}
	return s->failed;
}

static void scan_end(Scan *s)
{
	trace_cursor_free(s->cur);
	sqlite3_finalize(s->rows);
	free(s->journal);
	free(s->chunks);
}

API int fb_scan(fb_trace *t, fb_filter *f, fb_event_fn fn, void *opaque)
{
	Scan s = {.t = t, .f = f, .fn = fn, .opaque = opaque};

	if (scan_begin(&s))
		scan_go(&s);
	scan_end(&s);
	return s.failed ? FB_ERROR : FB_OK;
}

/* fb_scan() in batches. */
struct fb_scanner {
	Scan s;
	fb_filter f;
	bool done;
	fb_event *out;
	unsigned max, n;
	uint8_t *arena; /* the data of the events of the last batch */
	size_t cap, used;
};

static int scanner_take(void *opaque, const fb_event *ev, int journal_read)
{
	fb_scanner *sc = opaque;

	(void)journal_read;
	sc->out[sc->n] = *ev;
	if (ev->data && ev->size) {
		if (sc->used + ev->size > sc->cap) {
			sc->cap = (sc->used + ev->size) * 2;
			sc->arena = xrealloc(sc->arena, sc->cap);
		}
		memcpy(sc->arena + sc->used, ev->data, ev->size);
		/* an offset for now: the arena may move while the batch fills */
		sc->out[sc->n].data = (const uint8_t *)(uintptr_t)(sc->used + 1);
		sc->used += ev->size;
	} else {
		sc->out[sc->n].data = NULL;
	}
	return ++sc->n < sc->max;
}

API fb_scanner *fb_scanner_open(fb_trace *t, const fb_filter *f)
{
	fb_scanner *sc = xcalloc(1, sizeof(*sc));

	sc->f = *f;
	sc->f.progress = NULL;
	sc->s = (Scan){.t = t, .f = &sc->f, .fn = scanner_take, .opaque = sc, .data = true};
	if (!scan_begin(&sc->s)) {
		if (sc->s.failed) {
			fb_scanner_close(sc);
			return NULL;
		}
		sc->done = true;
	}
	return sc;
}

API int fb_scanner_next(fb_scanner *sc, fb_event *out, unsigned max)
{
	if (sc->done || !max)
		return 0;
	sc->out = out;
	sc->max = max;
	sc->n = 0;
	sc->used = 0;
	sc->s.stop = false;
	if (scan_go(&sc->s))
		sc->done = true;
	if (sc->s.failed)
		return FB_ERROR;
	for (unsigned i = 0; i < sc->n; i++)
		if (out[i].data)
			out[i].data = sc->arena + ((uintptr_t)out[i].data - 1);
	return (int)sc->n;
}

API void fb_scanner_close(fb_scanner *sc)
{
	if (!sc)
		return;
	scan_end(&sc->s);
	free(sc->arena);
	free(sc);
}

/* ---- console ------------------------------------------------------------ */

/* Keep in step with docs/tools.md (the plan `console --plan` shows). */
static const char console_sql[] =
    "SELECT icount, line FROM console "
    "WHERE icount BETWEEN ?2 AND ?3 AND (?1 IS NULL OR instr(line, ?1) > 0) "
    "ORDER BY icount, rowid";

struct fb_console {
	fb_query q;
	char *grep;
};

API const char *fb_console_sql(void)
{
	return console_sql;
}

API fb_console *fb_console_open(fb_trace *t, const char *grep, uint64_t from, uint64_t to)
{
	sqlite3 *db = trace_db(t->t);
	sqlite3_stmt *st = NULL;
	fb_console *c;

	if (sqlite3_prepare_v2(db, console_sql, -1, &st, NULL) != SQLITE_OK) {
		fail(EXIT_USAGE, "%s/index.sqlite: %s", t->dir, sqlite3_errmsg(db));
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->q = (fb_query){t, st};
	if (grep) {
		c->grep = xstrdup(grep);
		sqlite3_bind_text(st, 1, c->grep, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 2, from > INT64_MAX ? INT64_MAX : (sqlite3_int64)from);
	sqlite3_bind_int64(st, 3, to > INT64_MAX ? INT64_MAX : (sqlite3_int64)to);
	return c;
}

API int fb_console_next(fb_console *c, fb_line *out)
{
	int rc = fb_query_step(&c->q);

	if (rc != 1)
		return rc;
	out->icount = (uint64_t)sqlite3_column_int64(c->q.st, 0);
	out->text = (const char *)sqlite3_column_text(c->q.st, 1);
	out->len = (size_t)sqlite3_column_bytes(c->q.st, 1);
	if (!out->text)
		out->text = "";
	return 1;
}

API void fb_console_close(fb_console *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->q.st);
	free(c->grep);
	free(c);
}

/* ---- sessions ----------------------------------------------------------- */

struct fb_session {
	ReplaySession *rs;
	fb_trace *t;
	/* fb_run's watches: which one was hit, and how; fb_run_hits' @fn */
	const fb_watch *w;
	unsigned nw;
	fb_stop *stop;
	bool hit;
	fb_hit_fn fn;
	void *fn_opaque;
	/* fb_session_cancel's */
	int (*cancel)(void *opaque);
	void *cancel_opaque;
	bool cancelled; /* it said stop */
};

API fb_session *fb_session_new(fb_trace *t, int cache)
{
	char err[1024];
	ReplaySession *rs = replay_open(t->dir, NULL, err, sizeof(err));
	fb_session *s;

	if (!rs) {
		fail(EXIT_USAGE, "%s", err);
		return NULL;
	}
	if (cache)
		replay_set_cache(rs, REPLAY_CACHE_INTERVAL, REPLAY_CACHE_BYTES);
	s = xcalloc(1, sizeof(*s));
	s->rs = rs;
	s->t = t;
	return s;
}

API void fb_session_free(fb_session *s)
{
	if (!s)
		return;
	replay_close(s->rs);
	free(s);
}

API uint64_t fb_icount(const fb_session *s)
{
	return replay_icount(s->rs);
}

API uint64_t fb_start_icount(const fb_session *s)
{
	return replay_start_icount(s->rs);
}

API uint64_t fb_end_icount(const fb_session *s)
{
	return replay_end_icount(s->rs);
}

API const char *fb_session_warning(const fb_session *s)
{
	return replay_snapshot_damage(s->rs);
}

void lib_warn_snapshot(const char *damage)
{
	if (damage)
		fprintf(stderr, "flashback: %s: left out (an earlier snapshot is used instead)\n",
			damage);
}

API int fb_session_console(fb_session *s, FILE *out)
{
	replay_set_console(s->rs, out);
	return FB_OK;
}

static bool ask_cancel(void *opaque)
{
	fb_session *s = opaque;

	s->cancelled = s->cancel(s->cancel_opaque) != 0;
	return s->cancelled;
}

API void fb_session_cancel(fb_session *s, int (*fn)(void *opaque), void *opaque)
{
	s->cancel = fn;
	s->cancel_opaque = opaque;
	replay_set_cancel(s->rs, fn ? ask_cancel : NULL, s);
}

API int fb_session_cache(fb_session *s, uint64_t interval, uint64_t max_bytes)
{
	if (!interval != !max_bytes || max_bytes > SIZE_MAX)
		return fail(EXIT_USAGE,
			    "the snapshot cache needs an interval and a size (or neither)");
	replay_set_cache(s->rs, interval, (size_t)max_bytes);
	return FB_OK;
}

API int fb_session_accel(fb_session *s, const char *name)
{
	enum cpu_accel a;

	if (!name || !cpu_accel_parse(name, &a))
		return fail(EXIT_USAGE, "accel '%s': expected interp or jit", name ? name : "");
	cpu_set_accel(replay_cpu(s->rs), a);
	return FB_OK;
}

API const char *fb_session_accel_name(const fb_session *s)
{
	return cpu_get_accel(replay_cpu(s->rs)) == CPU_ACCEL_JIT ? "jit" : "interp";
}

API int fb_session_cache_stats(const fb_session *s, fb_cache_stats *out)
{
	ReplayCacheInfo ci;

	replay_cache_info(s->rs, &ci);
	*out = (fb_cache_stats){.entries = ci.entries,
				.bytes = ci.bytes,
				.mirror_bytes = ci.mirror_bytes,
				.max_bytes = ci.max_bytes,
				.interval = ci.interval,
				.first_icount = ci.first_icount,
				.last_icount = ci.last_icount};
	return FB_OK;
}

API int fb_snapshot_get(const fb_session *s, uint32_t i, fb_snapshot *out)
{
	const RRSnapHeader *snaps;
	unsigned n = replay_snapshots(s->rs, &snaps);

	if (i >= n)
		return FB_END;
	*out = (fb_snapshot){snaps[i].number, snaps[i].icount, snaps[i].size};
	return FB_OK;
}

static bool has_snapshot(const fb_session *s, uint32_t number)
{
	fb_snapshot sn;

	for (uint32_t i = 0; fb_snapshot_get(s, i, &sn) == FB_OK; i++)
		if (sn.number == number)
			return true;
	return false;
}

API uint64_t fb_restore_point(fb_session *s, uint64_t icount)
{
	return replay_restore_point(s->rs, icount);
}

API int fb_snapshot_before(const fb_session *s, uint64_t icount, uint32_t *number, uint64_t *at)
{
	const RRSnapHeader *snaps;
	unsigned n = replay_snapshots(s->rs, &snaps);
	int rc = FB_END;

	for (unsigned i = 0; i < n && snaps[i].icount <= icount; i++) {
		*number = snaps[i].number;
		*at = snaps[i].icount;
		rc = FB_OK;
	}
	return rc;
}

static int replay_failed(fb_session *s)
{
	return fail(replay_error_status(s->rs), "%s", replay_error(s->rs));
}

/* What a move that ended with @st returns. */
static int moved(fb_session *s, enum replay_status st)
{
	switch (st) {
	case REPLAY_ERROR:
		return replay_failed(s);
	case REPLAY_END:
		return FB_END;
	case REPLAY_CANCELLED:
		return FB_STOPPED;
	default:
		return FB_OK;
	}
}

API int fb_goto(fb_session *s, uint64_t icount)
{
	char err[128];

	if (!replay_goto_check(s->rs, icount, err, sizeof(err)))
		return fail(EXIT_USAGE, "%s", err);
	return moved(s, replay_goto(s->rs, icount));
}

API int fb_step(fb_session *s, uint64_t n)
{
	uint64_t now = replay_icount(s->rs);
	uint64_t to = n > UINT64_MAX - now ? UINT64_MAX : now + n;
	int rc;

	/* past the end: up to the end event, whose checks then run */
	if (to > replay_end_icount(s->rs))
		to = UINT64_MAX;
	rc = moved(s, replay_forward(s->rs, to));
	if (rc == FB_OK && replay_icount(s->rs) < to)
		return FB_END;
	return rc;
}

API int fb_goto_snapshot(fb_session *s, uint32_t number)
{
	const char *damage = replay_snapshot_damage(s->rs);

	if (!has_snapshot(s, number))
		return fail(EXIT_USAGE, "%s has no snapshot %u%s%s%s", s->t->dir, number,
			    damage ? " (" : "", damage ? damage : "", damage ? ")" : "");
	return moved(s, replay_goto_snapshot(s->rs, number));
}

API int fb_verify(fb_session *s, int64_t snapshot)
{
	char err[TRACE_ERR_LEN + 256];
	int status = EXIT_USAGE;

	if (snapshot >= 0 && (snapshot > UINT32_MAX || !has_snapshot(s, (uint32_t)snapshot)))
		return fail(EXIT_USAGE, "%s has no snapshot %" PRId64, s->t->dir, snapshot);
	/* the markers from the start: a session that moved begins again */
	if (snapshot < 0 && replay_icount(s->rs) != replay_start_icount(s->rs))
		snapshot = 0;
	switch (replay_verify(s->rs, (int)snapshot, err, sizeof(err), &status)) {
	case REPLAY_CANCELLED:
		return FB_STOPPED;
	case REPLAY_ERROR:
		return fail(status, "%s", err);
	default:
		return FB_OK;
	}
}

API uint64_t fb_checks(const fb_session *s)
{
	return replay_checks(s->rs);
}

API uint64_t fb_state_hash(fb_session *s)
{
	return cpu_state_hash(replay_cpu(s->rs));
}

API int fb_regs_get(fb_session *s, fb_regs *r)
{
	CPU *cpu = replay_cpu(s->rs);
	DescTable g = cpu_get_gdtr(cpu), i = cpu_get_idtr(cpu);

	memset(r, 0, sizeof(*r));
	for (int k = 0; k < 8; k++)
		r->gpr[k] = cpu_get_reg(cpu, k);
	r->eip = cpu_get_eip(cpu);
	r->eflags = cpu_get_eflags(cpu);
	for (int k = 0; k < 5; k++)
		r->cr[k] = k == 1 ? 0 : cpu_get_cr(cpu, k);
	for (int k = 0; k < 6; k++) {
		SegReg sr = cpu_get_seg(cpu, k);

		r->seg[k] = (fb_seg){sr.sel, sr.base, sr.limit, sr.attr};
	}
	r->gdt_base = g.base;
	r->gdt_limit = g.limit;
	r->idt_base = i.base;
	r->idt_limit = i.limit;
	r->halted = cpu_halted(cpu);
	return FB_OK;
}

API int fb_fpu_get(fb_session *s, fb_fpu *f)
{
	CPUFpuRegs c;

	cpu_get_fpu(replay_cpu(s->rs), &c);
	for (int k = 0; k < 8; k++) {
		f->mant[k] = c.mant[k];
		f->se[k] = c.se[k];
	}
	f->cw = c.cw;
	f->sw = c.sw;
	f->tw = c.tw;
	f->fop = c.fop;
	f->fip = c.fip;
	f->fdp = c.fdp;
	f->fcs = c.fcs;
	f->fds = c.fds;
	return FB_OK;
}

/* What @dump writes, as fb_cpu_text() gives text. */
static size_t text_of(void (*dump)(fb_session *s, FILE *out), fb_session *s, char *buf, size_t len)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);

	if (len)
		buf[0] = '\0';
	if (!f)
		return 0;
	dump(s, f);
	if (fclose(f) != 0) {
		free(p);
		return 0;
	}
	if (len) {
		size_t k = n < len - 1 ? n : len - 1;

		memcpy(buf, p, k);
		buf[k] = '\0';
	}
	free(p);
	return n;
}

static void dump_cpu(fb_session *s, FILE *out)
{
	cpu_dump(replay_cpu(s->rs), out);
}

static void dump_mtree(fb_session *s, FILE *out)
{
	as_dump_tree(replay_address_space(s->rs), out);
	fputc('\n', out);
	as_dump_flat(replay_address_space(s->rs), out);
}

API size_t fb_cpu_text(fb_session *s, char *buf, size_t len)
{
	return text_of(dump_cpu, s, buf, len);
}

API size_t fb_mtree_text(fb_session *s, char *buf, size_t len)
{
	return text_of(dump_mtree, s, buf, len);
}

API int fb_read(fb_session *s, uint64_t addr, void *buf, size_t len, int linear)
{
	uint64_t now = replay_icount(s->rs);

	if (len > HISTORY_MAX_LEN * 16ull)
		return fail(EXIT_USAGE, "read of %zu bytes: at most %u at a time", len,
			    HISTORY_MAX_LEN * 16);
	if (!linear) {
		if (addr + len < addr || addr + len > (1ull << 32) ||
		    !replay_read_phys(s->rs, addr, buf, len))
			return fail(EXIT_USAGE,
				    "physical 0x%" PRIx64
				    " +%zu: not all RAM or ROM at icount %" PRIu64,
				    addr, len, now);
		return FB_OK;
	}
	if (addr + len > (1ull << 32))
		return fail(EXIT_USAGE, "linear 0x%" PRIx64 " +%zu: beyond 4 GiB", addr, len);
	for (size_t done = 0; done < len;) {
		uint32_t a = (uint32_t)(addr + done), n = 4096 - (a & 4095);

		if (n > len - done)
			n = (uint32_t)(len - done);
		if (!cpu_read_linear(replay_cpu(s->rs), a, (uint8_t *)buf + done, n))
			return fail(EXIT_USAGE,
				    "linear 0x%08" PRIx32
				    ": not mapped to RAM or ROM at icount %" PRIu64,
				    a, now);
		done += n;
	}
	return FB_OK;
}

API int fb_translate(fb_session *s, uint32_t lin, uint32_t *phys)
{
	if (!replay_phys_of(s->rs, lin, phys))
		return fail(EXIT_USAGE,
			    "linear 0x%08" PRIx32 ": not mapped to RAM or ROM at icount %" PRIu64,
			    lin, replay_icount(s->rs));
	return FB_OK;
}

/* ---- running ------------------------------------------------------------ */

static bool overlaps(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
	return a - b < blen || b - a < (alen ? alen : 1);
}

static bool run_watch(void *opaque, CPU *cpu, const CPUAccess *a)
{
	fb_session *s = opaque;

	for (unsigned i = 0; i < s->nw; i++) {
		const fb_watch *w = &s->w[i];
		uint32_t at = w->phys ? a->phys : a->lin;

		if ((!w->phys && !a->has_lin) ||
		    !(w->kinds & (a->write ? FB_WATCH_WRITE : FB_WATCH_READ)))
			continue;
		if (!overlaps(at, a->size, w->addr, w->len))
			continue;
		fb_stop hit = {.reason = FB_STOP_WATCH,
			       .eip = a->dma ? 0 : cpu_insn_eip(cpu),
			       .icount = cpu_icount(cpu),
			       .watch = i,
			       .addr = at,
			       .size = a->size,
			       .write = a->write,
			       .dma = a->dma};
		if (s->fn && !s->fn(s->fn_opaque, &hit))
			return false;
		*s->stop = hit;
		s->hit = true;
		return true;
	}
	return false;
}

/* Replay to @target; breakpoints the hit function passes are run over. */
static enum replay_status run_to(fb_session *s, uint64_t target)
{
	CPU *cpu = replay_cpu(s->rs);
	enum replay_status st;

	for (;;) {
		st = replay_forward(s->rs, target);
		if (st != REPLAY_STOPPED || s->hit || !s->fn ||
		    cpu_stop_reason(cpu) != CPU_STOP_BREAKPOINT)
			return st;
		fb_stop hit = {.reason = FB_STOP_BREAKPOINT,
			       .eip = cpu_get_eip(cpu),
			       .icount = replay_icount(s->rs)};
		if (s->fn(s->fn_opaque, &hit))
			return st;
		cpu_skip_breakpoint(cpu);
	}
}

API int fb_run(fb_session *s, uint64_t until, const uint32_t *bps, unsigned nbps, const fb_watch *w,
	       unsigned nw, fb_stop *stop)
{
	return fb_run_hits(s, until, bps, nbps, w, nw, NULL, NULL, stop);
}

API int fb_run_hits(fb_session *s, uint64_t until, const uint32_t *bps, unsigned nbps,
		    const fb_watch *w, unsigned nw, fb_hit_fn fn, void *opaque, fb_stop *stop)
{
	CPUWatch cw[CPU_MAX_WATCHES];
	uint64_t end = replay_end_icount(s->rs);
	CPU *cpu = replay_cpu(s->rs);
	enum replay_status st;

	if (nbps > CPU_MAX_BREAKPOINTS || nw > CPU_MAX_WATCHES)
		return fail(EXIT_USAGE, "at most %d breakpoints and %d watches",
			    CPU_MAX_BREAKPOINTS, CPU_MAX_WATCHES);
	if (until < replay_icount(s->rs))
		return fail(EXIT_USAGE,
			    "icount %" PRIu64 " is behind the session (at %" PRIu64
			    "): runs go forwards",
			    until, replay_icount(s->rs));
	for (unsigned i = 0; i < nw; i++) {
		if (!w[i].len || !w[i].kinds || (uint64_t)w[i].addr + w[i].len > (1ull << 32))
			return fail(EXIT_USAGE,
				    "watch 0x%08" PRIx32 " +%" PRIu32 ": empty or beyond 4 GiB",
				    w[i].addr, w[i].len);
		cw[i] = (CPUWatch){w[i].addr, w[i].len, (uint8_t)w[i].kinds, w[i].phys != 0};
	}
	memset(stop, 0, sizeof(*stop));
	s->w = w;
	s->nw = nw;
	s->stop = stop;
	s->hit = false;
	s->fn = fn;
	s->fn_opaque = opaque;
	replay_set_breakpoints(s->rs, bps, nbps);
	replay_set_watches(s->rs, cw, nw, nw ? run_watch : NULL, s);
	if (!fn)
		cpu_skip_breakpoint(cpu); /* a run always moves */
	/* past the end: up to the end event, whose checks then run */
	st = run_to(s, until <= end ? until : UINT64_MAX);
	replay_set_breakpoints(s->rs, NULL, 0);
	replay_set_watches(s->rs, NULL, 0, NULL, NULL);
	s->w = NULL;
	s->nw = 0;
	s->fn = NULL;
	if (st == REPLAY_ERROR)
		return replay_failed(s);
	if (st == REPLAY_CANCELLED)
		return FB_STOPPED;
	stop->icount = replay_icount(s->rs);
	if (st == REPLAY_STOPPED && !s->hit && cpu_stop_reason(cpu) == CPU_STOP_BREAKPOINT) {
		stop->reason = FB_STOP_BREAKPOINT;
		stop->eip = cpu_get_eip(cpu);
	} else if (st == REPLAY_END ||
		   (st == REPLAY_OK && replay_icount(s->rs) >= end && until > end)) {
		stop->reason = FB_STOP_END;
	} else if (st == REPLAY_OK) {
		stop->reason = FB_STOP_ICOUNT;
	}
	return FB_OK;
}

/* ---- memory history --------------------------------------------------- */

typedef struct HistoryCall {
	fb_write_fn fn;
	void *opaque;
	bool stopped; /* fn asked to stop: not an error */
} HistoryCall;

/* The engine's memory-history write as the library gives it. */
static void write_of(const HistoryWrite *h, fb_write *w)
{
	*w = (fb_write){.icount = h->icount,
			.cs = h->cs,
			.eip = h->eip,
			.lin = h->lin,
			.phys = h->phys,
			.offset = h->offset,
			.size = h->size,
			.dma = h->dma,
			.walker = h->walker,
			.bits = (uint32_t)h->bits,
			.old = h->old,
			.now = h->now};
	/* the same column `flashback history` prints, and the instruction's own bytes */
	if (h->dma || h->walker)
		snprintf(w->text, sizeof(w->text), "%s",
			 h->dma ? "(device DMA)" : "(accessed/dirty bits)");
	else
		w->insn_len =
		    fb_disasm(h->insn, h->insn_len, h->eip, h->bits, w->text, sizeof(w->text));
	memcpy(w->insn, h->insn, w->insn_len < sizeof(w->insn) ? w->insn_len : sizeof(w->insn));
}

static bool history_one(void *opaque, const HistoryWrite *h)
{
	HistoryCall *c = opaque;
	fb_write w;

	write_of(h, &w);
	if (c->fn(c->opaque, &w))
		return true;
	c->stopped = true;
	return false;
}

API int fb_history_range(fb_session *s, uint64_t addr, uint64_t len, int phys, uint64_t from,
			 uint64_t to, uint32_t *pa)
{
	char err[1024];

	if (!replay_history_range(s->rs, addr, len, phys, from, to, pa, err, sizeof(err)))
		return fail(replay_error_status(s->rs), "%s", err);
	return FB_OK;
}

API int fb_history(fb_session *s, uint64_t addr, uint64_t len, int phys, uint64_t from, uint64_t to,
		   fb_write_fn fn, void *opaque)
{
	HistoryCall c = {fn, opaque, false};
	char err[1024];
	uint32_t pa;

	s->cancelled = false;
	if (!replay_history_range(s->rs, addr, len, phys, from, to, &pa, err, sizeof(err)) ||
	    !replay_history(s->rs, pa, (uint32_t)len, from, to, history_one, &c, err,
			    sizeof(err))) {
		if (c.stopped)
			return FB_OK;
		if (s->cancelled)
			return FB_STOPPED;
		return fail(replay_error_status(s->rs), "%s", err);
	}
	return FB_OK;
}

/* ---- disassembly ---------------------------------------------------- */

API unsigned fb_disasm(const uint8_t *code, size_t len, uint32_t eip, int bits, char *out,
		       size_t outlen)
{
	static _Thread_local csh cs;
	static _Thread_local bool opened;
	uint64_t addr = eip;
	cs_insn *in;
	unsigned n = 0;

	if (!opened && cs_open(CS_ARCH_X86, CS_MODE_32, &cs) == CS_ERR_OK)
		opened = true;
	in = opened ? cs_malloc(cs) : NULL;
	if (in)
		cs_option(cs, CS_OPT_MODE, bits == 16 ? CS_MODE_16 : CS_MODE_32);
	if (in && cs_disasm_iter(cs, &code, &len, &addr, in)) {
		snprintf(out, outlen, "%s%s%s", in->mnemonic, in->op_str[0] ? " " : "", in->op_str);
		n = in->size;
	} else {
		snprintf(out, outlen, "(bad)");
	}
	if (in)
		cs_free(in, 1);
	return n;
}
