/*
 * common.c - what the trace tools share: opening a trace with a read-only
 * SQL connection, numbers and kinds from the command line, the event scan
 * that answers from the index where it is exact and from the journal
 * chunks where the index samples, and progress on a terminal.
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- opening ------------------------------------------------------------ */

void tt_open(ToolTrace *tt, const char *dir)
{
	char err[TRACE_ERR_LEN];

	memset(tt, 0, sizeof(*tt));
	tt->dir = dir;
	tt->timeout = TOOL_SQL_SECONDS;
	/* Checks the journal against the index (indexing in memory what a
	 * crashed recording left out); the index is checked and read-only. */
	tt->t = trace_open(dir, err);
	if (!tt->t)
		fatal(EXIT_USAGE, "%s", err);
	tt->info = trace_info(tt->t);
	tt->db = trace_db(tt->t);
	trace_sql_limits(tt->t, tt->timeout, NULL, NULL);
}

void tt_close(ToolTrace *tt)
{
	trace_free(tt->t);
	free(tt->chunks);
	memset(tt, 0, sizeof(*tt));
}

sqlite3_stmt *tt_prepare(ToolTrace *tt, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(tt->db, sql, -1, &st, NULL) != SQLITE_OK)
		fatal(EXIT_USAGE, "%s/index.sqlite: %s", tt->dir, sqlite3_errmsg(tt->db));
	return st;
}

void tt_explain(ToolTrace *tt, sqlite3_stmt *st)
{
	size_t n = strlen(sqlite3_sql(st)) + sizeof("EXPLAIN QUERY PLAN ");
	char *sql = xmalloc(n);
	sqlite3_stmt *plan;

	snprintf(sql, n, "EXPLAIN QUERY PLAN %s", sqlite3_sql(st));
	plan = tt_prepare(tt, sql);
	printf("plan: %s\n", sqlite3_sql(st));
	while (tt_step(tt, plan))
		printf("  %s\n", (const char *)sqlite3_column_text(plan, 3));
	sqlite3_finalize(plan);
	free(sql);
}

_Noreturn void tool_lib_failed(void)
{
	fatal(fb_error_status() ? fb_error_status() : EXIT_USAGE, "%s", fb_error());
}

void tool_explain(fb_trace *t, const char *sql)
{
	size_t n = strlen(sql) + sizeof("EXPLAIN QUERY PLAN ");
	char *text = xmalloc(n);
	fb_query *plan;
	int rc;

	snprintf(text, n, "EXPLAIN QUERY PLAN %s", sql);
	if (!(plan = fb_query_open(t, text)))
		tool_lib_failed();
	printf("plan: %s\n", sql);
	while ((rc = fb_query_step(plan)) == 1) {
		size_t len;
		const char *detail = fb_query_bytes(plan, 3, &len);

		printf("  %.*s\n", (int)len, detail ? detail : "");
	}
	if (rc == FB_ERROR)
		tool_lib_failed();
	fb_query_close(plan);
	free(text);
}

bool tt_step(ToolTrace *tt, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return true;
	if (rc == SQLITE_DONE)
		return false;
	if (trace_sql_timed_out(tt->t))
		fatal(EXIT_USAGE, "%s/index.sqlite: the query took longer than %g s (--timeout)",
		      tt->dir, tt->timeout);
	fatal(EXIT_USAGE, "%s/index.sqlite: %s", tt->dir, sqlite3_errmsg(tt->db));
}

void tt_chunks(ToolTrace *tt)
{
	sqlite3_stmt *st;
	size_t cap = 0;

	if (tt->chunks)
		return;
	st = tt_prepare(tt, "SELECT number, first_icount, last_icount, events FROM chunks "
			    "ORDER BY number");
	while (tt_step(tt, st)) {
		if ((uint64_t)sqlite3_column_int64(st, 0) != tt->nchunks)
			fatal(EXIT_USAGE, "%s/index.sqlite: chunk %zu is missing from table chunks",
			      tt->dir, tt->nchunks);
		if (tt->nchunks == cap) {
			cap = cap ? cap * 2 : 256;
			tt->chunks = xrealloc(tt->chunks, cap * sizeof(*tt->chunks));
		}
		tt->chunks[tt->nchunks++] = (ToolChunk){
		    .first_icount = (uint64_t)sqlite3_column_int64(st, 1),
		    .last_icount = (uint64_t)sqlite3_column_int64(st, 2),
		    .events = (uint32_t)sqlite3_column_int64(st, 3),
		};
	}
	sqlite3_finalize(st);
	if (tt->nchunks != tt->info->chunks)
		fatal(EXIT_USAGE, "%s/index.sqlite lists %zu chunks but the journal holds %u",
		      tt->dir, tt->nchunks, tt->info->chunks);
	st = tt_prepare(tt, "SELECT chunk, sum(indexed) FROM chunk_counts GROUP BY chunk");
	while (tt_step(tt, st)) {
		uint64_t c = (uint64_t)sqlite3_column_int64(st, 0);

		if (c < tt->nchunks)
			tt->chunks[c].rows = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	for (size_t i = 0, row = 1; i < tt->nchunks; row += tt->chunks[i++].rows)
		tt->chunks[i].first_row = row;
}

uint64_t tt_last_icount(const ToolTrace *tt)
{
	return tt->info->complete ? tt->info->final_icount : tt->info->last_icount;
}

/* The machine options name the shift as "-icount shift=N" or "-icount N". */
int tt_icount_shift(ToolTrace *tt)
{
	const char *o = strstr(tt->info->machine_options, "-icount ");
	long v;

	if (!o)
		return 0;
	o += strlen("-icount ");
	if (strncmp(o, "shift=", 6) == 0)
		o += 6;
	v = strtol(o, NULL, 10);
	return v >= 0 && v <= 10 ? (int)v : 0;
}

/* ---- arguments ---------------------------------------------------------- */

uint64_t tool_number(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	if (!s)
		fatal(EXIT_USAGE, "%s needs a value", opt);
	errno = 0;
	/* base 10 unless 0x: a leading zero is not octal here */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoull(s + 2, &end, 16);
	else
		v = strtoull(s, &end, 10);
	if (!*s || *end || errno ||
	    !isxdigit((unsigned char)s[s[0] == '0' && (s[1] | 32) == 'x' ? 2 : 0]))
		fatal(EXIT_USAGE, "%s: '%s' is not a number (decimal or 0x hex, 0 to 2^64-1)", opt,
		      s);
	return v;
}

unsigned tool_kind(const char *s)
{
	char *end;
	unsigned long v;

	for (unsigned k = 1; k < TEV_KIND_COUNT; k++)
		if (strcmp(s, trace_kind_name(k)) == 0)
			return k;
	v = strtoul(s, &end, 0);
	if (*s && !*end && v >= 1 && v < TEV_KIND_COUNT)
		return (unsigned)v;
	fatal(EXIT_USAGE,
	      "unknown event kind '%s' (port-read, mmio-read, interrupt, dma-write, time-read, "
	      "map-change, check, console, snapshot, end, or 1-10)",
	      s);
}

/* ---- the event scan ------------------------------------------------------ */

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

static bool event_passes(const EventFilter *f, const TraceEvent *ev)
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

/* The kinds a filter can match: --port and --addr narrow --kind. */
static uint32_t filter_kinds(const EventFilter *f)
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

typedef struct Scan {
	ToolTrace *tt;
	const EventFilter *f;
	EventFn fn;
	void *opaque;
	sqlite3_stmt *rows;
	Progress progress;
	uint64_t done;	  /* chunks delivered, for progress */
	uint64_t journal; /* chunks read from the journal */
	bool stop;
} Scan;

/*
 * The SQL for the index path; ?1-?4 icount and chunk ranges, ?5 port, ?6
 * address, ?7-?8 the rowids of those chunks: the rows are in journal order,
 * so a range of chunks is a range of rowids (no index on icount needed),
 * and rowid order is icount order.
 */
static sqlite3_stmt *index_rows(ToolTrace *tt, const EventFilter *f, uint32_t kinds)
{
	char sql[512], list[64] = "";
	size_t at = 0;

	for (unsigned k = 1; k < TEV_KIND_COUNT; k++)
		if (kinds >> k & 1)
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%u", at ? "," : "",
					       k);
	snprintf(sql, sizeof(sql),
		 "SELECT icount, kind, port, address, size, value, value2 FROM events "
		 "WHERE icount BETWEEN ?1 AND ?2 AND chunk BETWEEN ?3 AND ?4%s%s%s%s%s "
		 "AND rowid BETWEEN ?7 AND ?8 ORDER BY %s",
		 f->kinds || f->has_port || f->has_addr ? " AND kind IN (" : "",
		 f->kinds || f->has_port || f->has_addr ? list : "",
		 f->kinds || f->has_port || f->has_addr ? ")" : "",
		 f->has_port ? " AND port = ?5" : "", f->has_addr ? " AND address = ?6" : "",
		 /* the order the index searched gives, so that nothing is sorted:
		  * one kind, a port or an address search an index by icount,
		  * anything else goes through the chunks' rowids */
		 f->has_port || f->has_addr || (kinds && !(kinds & (kinds - 1))) ? "icount, rowid"
										 : "rowid");
	sqlite3_stmt *st = tt_prepare(tt, sql);
	if (f->has_port)
		sqlite3_bind_int64(st, 5, (sqlite3_int64)f->port);
	if (f->has_addr)
		sqlite3_bind_int64(st, 6, (sqlite3_int64)f->addr);
	return st;
}

static bool col_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL;
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

/* Deliver the index rows of chunks [a, b]. */
static void scan_index(Scan *s, size_t a, size_t b)
{
	ToolChunk *c = s->tt->chunks;
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
	while (!s->stop && tt_step(s->tt, st)) {
		TraceEvent ev = {
		    .icount = col_u64(st, 0),
		    .kind = (uint8_t)sqlite3_column_int(st, 1),
		    .size = (uint32_t)sqlite3_column_int64(st, 4),
		    .value = col_u64(st, 5),
		    .value2 = col_u64(st, 6),
		};
		ev.addr = ev.kind == TEV_PORT_READ ? col_u64(st, 2) : col_u64(st, 3);
		if (ev.kind == TEV_CHECK && !col_null(st, 6))
			ev.flags = TRACE_CHECK_RAM;
		s->stop = !s->fn(s->opaque, &ev, FROM_INDEX);
	}
	s->done += b - a + 1;
	progress_update(&s->progress, s->done, s->tt->nchunks, "chunks");
}

/*
 * Deliver the events of chunks [a, b] from the journal.  The cursor gives
 * every event from an icount on, so it starts at a chunk no earlier chunk
 * shares its first icount with (the caller ensures it), and the chunk
 * sizes of the index say where chunk b ends.
 */
static void scan_journal(Scan *s, size_t a, size_t b)
{
	ToolTrace *tt = s->tt;
	TraceCursor *cur = trace_cursor(tt->t, tt->chunks[a].first_icount);
	TraceEvent ev;

	for (size_t i = a; i <= b && !s->stop; i++) {
		s->journal++;
		for (uint32_t n = 0; n < tt->chunks[i].events && !s->stop; n++) {
			int rc = trace_next(cur, &ev);
			if (rc < 0)
				fatal(EXIT_USAGE, "%s", trace_error(tt->t));
			if (rc == 0)
				fatal(EXIT_USAGE, "%s: the journal ends inside chunk %zu", tt->dir,
				      i);
			if (event_passes(s->f, &ev))
				s->stop = !s->fn(s->opaque, &ev, FROM_JOURNAL);
		}
		s->done++;
		progress_update(&s->progress, s->done, tt->nchunks, "chunks");
	}
	trace_cursor_free(cur);
}

static const char sampled_sql[] = "SELECT DISTINCT chunk FROM chunk_counts "
				  "WHERE chunk BETWEEN ?1 AND ?2 AND indexed < count "
				  "AND (?3 >> kind) & 1";

/* Mark the chunks in [a, b] whose events of @kinds the index samples. */
static void mark_sampled(ToolTrace *tt, size_t a, size_t b, uint32_t kinds, bool *journal)
{
	sqlite3_stmt *st = tt_prepare(tt, sampled_sql);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)a);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)b);
	sqlite3_bind_int64(st, 3, kinds);
	while (tt_step(tt, st)) {
		uint64_t c = col_u64(st, 0);
		if (c >= a && c <= b)
			journal[c] = true;
	}
	sqlite3_finalize(st);
}

uint64_t tt_scan(ToolTrace *tt, const EventFilter *f, EventFn fn, void *opaque)
{
	uint32_t kinds = filter_kinds(f);
	Scan s = {.tt = tt, .f = f, .fn = fn, .opaque = opaque};
	size_t a, b, i;
	bool *journal;

	tt_chunks(tt);
	if (f->plan) {
		sqlite3_stmt *st = tt_prepare(tt, sampled_sql);
		tt_explain(tt, st);
		sqlite3_finalize(st);
		st = index_rows(tt, f, kinds);
		tt_explain(tt, st);
		sqlite3_finalize(st);
		return 0;
	}
	if (!kinds || !tt->nchunks || f->from > f->to)
		return 0;
	/* Chunks [a, b) hold the icount range. */
	for (a = 0; a < tt->nchunks && tt->chunks[a].last_icount < f->from; a++)
		;
	for (b = a; b < tt->nchunks && tt->chunks[b].first_icount <= f->to; b++)
		;
	if (a == b)
		return 0;
	journal = xcalloc(tt->nchunks, sizeof(*journal));
	if (f->journal)
		memset(journal + a, 1, b - a);
	else
		mark_sampled(tt, a, b - 1, kinds, journal);
	/*
	 * A journal run must start at a chunk whose first icount no earlier
	 * chunk reaches, for the cursor to start exactly there: take the
	 * earlier chunks from the journal too (their events outside the range
	 * are filtered out).
	 */
	for (i = b; i-- > 0;)
		if (journal[i] && i > 0 &&
		    tt->chunks[i - 1].last_icount >= tt->chunks[i].first_icount)
			journal[i - 1] = true;
	if (journal[a])
		while (a > 0 && journal[a - 1])
			a--;

	progress_init(&s.progress, "reading");
	s.rows = index_rows(tt, f, kinds);
	for (i = a; i < b && !s.stop;) {
		size_t j = i;
		while (j + 1 < b && journal[j + 1] == journal[i])
			j++;
		if (journal[i])
			scan_journal(&s, i, j);
		else
			scan_index(&s, i, j);
		i = j + 1;
	}
	progress_done(&s.progress);
	sqlite3_finalize(s.rows);
	free(journal);
	return s.journal;
}

/* ---- progress ------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(Progress *p, const char *what)
{
	const char *delay = getenv("FLASHBACK_PROGRESS_DELAY");

	*p = (Progress){.what = what, .tty = isatty(STDERR_FILENO) == 1, .delay = 1.0};
	if (delay && *delay)
		p->delay = strtod(delay, NULL);
	p->start = p->last = now();
}

void progress_update(Progress *p, uint64_t done, uint64_t total, const char *unit)
{
	double t;

	if (!p->tty)
		return;
	t = now();
	/* Only for work over a second, ten refreshes a second at most. */
	if (t - p->start < p->delay || (p->shown && t - p->last < 0.1))
		return;
	p->last = t;
	p->shown = true;
	fprintf(stderr, "\rflashback: %s: %3u%% (%llu/%llu %s)\033[K", p->what,
		total ? (unsigned)(done * 100 / total) : 100, (unsigned long long)done,
		(unsigned long long)total, unit);
	fflush(stderr);
}

void progress_elapsed(Progress *p)
{
	double t;

	if (!p->tty)
		return;
	t = now();
	if (t - p->start < p->delay || (p->shown && t - p->last < 0.1))
		return;
	p->last = t;
	p->shown = true;
	fprintf(stderr, "\rflashback: %s: %.1f s\033[K", p->what, t - p->start);
	fflush(stderr);
}

void progress_done(Progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	p->shown = false;
}
