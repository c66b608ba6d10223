/*
 * lib_check.c - libflashback from C, through its one public header and the
 * shared library's exported fb_* functions only.
 *
 * usage: lib_check TRACE_A TRACE_B
 *
 * A straight session per trace notes the registers and 256 bytes at ESP
 * at some positions; then two sessions per trace, all four open at once,
 * go to those positions in an interleaved order (forwards and backwards)
 * and must see the same.  Bad input must fail with one line in fb_error():
 * a missing trace, an icount outside, an unmapped read.  The calls
 * `flashback replay` and gdb's target stand on (console, verify, snapshots,
 * text dumps, runs that show every hit) are checked against each other and
 * against the index.  Exit 0 or 1.
 */
#include <flashback.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPOS 40

typedef struct Seen {
	uint64_t icount;
	fb_regs regs;
	uint8_t stack[256];
} Seen;

static unsigned failures;

static void fail(const char *what, uint64_t icount)
{
	printf("MISMATCH %s at icount %" PRIu64 " (%s)\n", what, icount, fb_error());
	failures++;
}

static void look(fb_session *s, Seen *x)
{
	x->icount = fb_icount(s);
	if (fb_regs_get(s, &x->regs) != FB_OK)
		fail("fb_regs_get", x->icount);
	memset(x->stack, 0, sizeof(x->stack));
	fb_read(s, x->regs.gpr[4], x->stack, sizeof(x->stack), 1); /* may be unmapped: zeros */
}

static void straight(fb_trace *t, Seen *seen)
{
	fb_session *s = fb_session_new(t, 0);
	fb_info info;

	fb_trace_info(t, &info);
	for (int i = 0; i < NPOS; i++) {
		uint64_t at =
		    info.start_icount + (info.end_icount - info.start_icount) * i / NPOS + i;

		if (fb_step(s, at - fb_icount(s)) == FB_ERROR)
			fail("fb_step", at);
		look(s, &seen[i]);
	}
	fb_session_free(s);
}

/* Several statements in turn (fb_query_first), a writing one refused, the limits. */
static void check_query(fb_trace *t)
{
	const char *sql = "SELECT 1; SELECT 'a', NULL, 2.5, x'00ff'; -- the end\n", *rest;
	fb_query *q = NULL;
	size_t n;
	int k = 0;

	if (fb_query_limits(t, 0, NULL, NULL) != FB_ERROR ||
	    fb_query_limits(t, 30, NULL, NULL) != FB_OK)
		fail("fb_query_limits", 0);
	while (fb_query_first(t, sql, &rest, &q) == FB_OK) {
		if (fb_query_step(q) != 1 || fb_query_columns(q) != (k ? 4 : 1) ||
		    fb_query_timed_out(q))
			fail("a statement of several", 0);
		if (k == 1 &&
		    (fb_query_type(q, 0) != FB_SQL_TEXT || fb_query_type(q, 1) != FB_SQL_NULL ||
		     fb_query_type(q, 2) != FB_SQL_FLOAT || fb_query_type(q, 3) != FB_SQL_BLOB ||
		     memcmp(fb_query_bytes(q, 3, &n), "\0\377", 2) || n != 2))
			fail("column types", 0);
		if (fb_query_step(q) != 0)
			fail("one row", 0);
		fb_query_close(q);
		sql = rest;
		k++;
	}
	if (k != 2 || fb_query_first(t, sql, &rest, &q) != FB_END)
		fail("the statements of a text", (uint64_t)k);
	if (fb_query_first(t, "DELETE FROM events; SELECT 1", &rest, &q) != FB_ERROR ||
	    !strstr(fb_error(), "only read-only SQL"))
		fail("a writing statement", 0);
	if (fb_query_open(t, "SELECT 1; SELECT 2") || !strstr(fb_error(), "one statement"))
		fail("fb_query_open with two statements", 0);
	q = fb_query_open(t, "SELECT ?1 + 1");
	for (int64_t v = 41; q && v > 0; v -= 40) {
		if (fb_query_reset(q) != FB_OK || fb_query_bind_int(q, 1, v) != FB_OK ||
		    fb_query_step(q) != 1 || fb_query_int(q, 0) != v + 1)
			fail("a parameter", (uint64_t)v);
	}
	if (!q || fb_query_bind_int(q, 2, 0) != FB_ERROR)
		fail("a parameter that is not there", 0);
	fb_query_close(q);
}

/* The console lines: as many as the console table has, in icount order; --grep's filter. */
static void check_console(fb_trace *t)
{
	fb_query *q = fb_query_open(t, "SELECT count(*), min(icount) FROM console");
	fb_console *c = fb_console_open(t, NULL, 0, UINT64_MAX);
	uint64_t rows, first, n = 0, prev = 0;
	char word[8] = "";
	fb_line l;

	if (!q || fb_query_step(q) != 1 || !c) {
		fail("the console table", 0);
		return;
	}
	rows = (uint64_t)fb_query_int(q, 0);
	first = (uint64_t)fb_query_int(q, 1);
	fb_query_close(q);
	while (fb_console_next(c, &l) == 1) {
		if (l.icount < prev || memchr(l.text, '\n', l.len))
			fail("console line order", l.icount);
		if (!n++ && l.len >= 3)
			memcpy(word, l.text, 3);
		prev = l.icount;
	}
	fb_console_close(c);
	if (n != rows || (n && !word[0]))
		fail("console lines", n);
	if (!n)
		return;
	c = fb_console_open(t, word, first, first);
	if (!c || fb_console_next(c, &l) != 1 || l.icount != first || memcmp(l.text, word, 3))
		fail("console --grep", first);
	fb_console_close(c);
	c = fb_console_open(t, "no such text\x01", 0, UINT64_MAX);
	if (!c || fb_console_next(c, &l) != 0)
		fail("console --grep nothing", 0);
	fb_console_close(c);
}

typedef struct Seen2 {
	uint64_t n, last, journal_data, counts[16];
	int sorted;
} Seen2;

static int count_event(void *opaque, const fb_event *ev, int journal_read)
{
	Seen2 *x = opaque;

	if (ev->icount < x->last)
		x->sorted = 0;
	x->last = ev->icount;
	x->n++;
	x->counts[ev->kind & 15]++;
	if (journal_read && ev->data)
		x->journal_data++;
	return 1;
}

/* fb_scan from the index and from the journal: the counts of fb_trace_info; a bound, a stop. */
static void check_scan(fb_trace *t)
{
	fb_info info;
	fb_summary sum;
	fb_filter f = {.to = UINT64_MAX};
	Seen2 a = {.sorted = 1}, b = {.sorted = 1}, c = {.sorted = 1};
	char sql[512];

	fb_trace_info(t, &info);
	if (fb_icount_shift(t) != (strstr(info.machine_options, "-icount shift=")
				       ? atoi(strstr(info.machine_options, "shift=") + 6)
				       : 0))
		fail("fb_icount_shift", 0);
	if (fb_trace_summary(t, &sum) != FB_OK || sum.damage[0] || !sum.snapshot_files ||
	    sum.total_bytes <= sum.snapshot_bytes + sum.page_bytes ||
	    sum.last_event_icount > info.end_icount || sum.last_event_icount < info.start_icount)
		fail("fb_trace_summary", sum.snapshot_files);
	if (fb_scan(t, &f, count_event, &a) != FB_OK || !a.sorted || f.chunks != info.chunks)
		fail("fb_scan", 0);
	f.journal = 1;
	if (fb_scan(t, &f, count_event, &b) != FB_OK || !b.sorted ||
	    f.journal_chunks != info.chunks)
		fail("fb_scan --journal", 0);
	for (int k = 1; k <= 10; k++)
		if (a.counts[k] != info.counts[k] || b.counts[k] != info.counts[k])
			fail("fb_scan's counts", (uint64_t)k);
	if (info.counts[FB_DMA_WRITE] + info.counts[FB_CONSOLE] && !b.journal_data)
		fail("fb_scan --journal's payloads", 0);
	f = (fb_filter){
	    .kinds = 1u << FB_INTERRUPT, .from = info.end_icount / 2, .to = info.end_icount};
	if (fb_scan(t, &f, count_event, &c) != FB_OK || c.n != c.counts[FB_INTERRUPT] ||
	    (c.n && c.last < f.from))
		fail("fb_scan of a kind and a range", c.n);
	if (fb_scan_sql(&f, 0, sql, sizeof(sql)) != FB_OK || !strstr(sql, "chunk_counts") ||
	    fb_scan_sql(&f, 1, sql, sizeof(sql)) != FB_OK || !strstr(sql, "kind IN (3)") ||
	    fb_scan_sql(&f, 2, sql, sizeof(sql)) != FB_END)
		fail("fb_scan_sql", 0);
}

/* Every event fb_scan --journal gives, with its data, for fb_scanner to match. */
typedef struct All {
	fb_event *ev;
	uint8_t **data;
	size_t n, cap;
} All;

static int keep_event(void *opaque, const fb_event *ev, int journal_read)
{
	All *a = opaque;

	(void)journal_read;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->ev = realloc(a->ev, a->cap * sizeof(*a->ev));
		a->data = realloc(a->data, a->cap * sizeof(*a->data));
		if (!a->ev || !a->data)
			abort();
	}
	a->ev[a->n] = *ev;
	a->data[a->n] = NULL;
	if (ev->data && ev->size) {
		a->data[a->n] = malloc(ev->size);
		memcpy(a->data[a->n], ev->data, ev->size);
	}
	a->n++;
	return 1;
}

/* fb_scanner in batches of 1, 7 and 4096: the events of fb_scan --journal, data and all. */
static void check_scanner(fb_trace *t)
{
	fb_filter f = {.to = UINT64_MAX, .journal = 1};
	All all = {0};
	fb_event out[4096];
	static const unsigned batch[] = {1, 7, 4096};

	if (fb_scan(t, &f, keep_event, &all) != FB_OK || !all.n)
		fail("fb_scan --journal for fb_scanner", 0);
	f.journal = 0;
	for (unsigned b = 0; b < 3; b++) {
		fb_scanner *sc = fb_scanner_open(t, &f);
		size_t at = 0;
		int n;

		if (!sc)
			fail("fb_scanner_open", batch[b]);
		while ((n = fb_scanner_next(sc, out, batch[b])) > 0)
			for (int i = 0; i < n; i++, at++) {
				const fb_event *x = &out[i], *y = &all.ev[at];

				if (at >= all.n || x->icount != y->icount || x->kind != y->kind ||
				    x->addr != y->addr || x->value != y->value ||
				    x->size != y->size || !x->data != !all.data[at] ||
				    (x->data && memcmp(x->data, all.data[at], x->size)))
					fail("fb_scanner's events", at);
			}
		if (n < 0 || at != all.n)
			fail("fb_scanner's count", at);
		fb_scanner_close(sc);
	}
	/* a kind from the index, stopped early */
	f.kinds = 1u << FB_INTERRUPT;
	fb_scanner *sc = fb_scanner_open(t, &f);
	if (!sc || fb_scanner_next(sc, out, 1) < 0)
		fail("fb_scanner stopped early", 0);
	fb_scanner_close(sc);
	for (size_t i = 0; i < all.n; i++)
		free(all.data[i]);
	free(all.ev);
	free(all.data);
}

/* The console printed again: every line the index has, in order, once. */
static void check_console_out(fb_trace *t)
{
	fb_session *s = fb_session_new(t, 1);
	fb_console *c = fb_console_open(t, NULL, 0, UINT64_MAX);
	char *out = NULL, *at;
	size_t len = 0, first;
	FILE *f = open_memstream(&out, &len);
	fb_line line;
	fb_info info;

	fb_trace_info(t, &info);
	fb_session_console(s, f);
	if (fb_step(s, UINT64_MAX) != FB_END || fb_icount(s) != info.end_icount)
		fail("fb_step to the end", fb_icount(s));
	if (info.complete && fb_state_hash(s) != info.final_hash)
		fail("fb_state_hash at the end", fb_icount(s));
	fflush(f);
	first = len;
	/* back and forth again: nothing is printed twice */
	if (fb_goto(s, info.start_icount) != FB_OK || fb_step(s, UINT64_MAX) != FB_END)
		fail("a second pass", fb_icount(s));
	fb_session_console(s, NULL);
	fclose(f);
	if (len != first)
		fail("the console printed twice", fb_icount(s));
	at = out;
	while (c && fb_console_next(c, &line) == 1) {
		char *text = strndup(line.text, line.len);
		char *hit = strstr(at, text);

		if (!hit)
			fail("a console line not printed again", line.icount);
		else
			at = hit + line.len;
		free(text);
	}
	fb_console_close(c);
	free(out);
	fb_session_free(s);
}

/* replay --verify, --snapshot, --until's dump; the cache's settings. */
static void check_replay(fb_trace *t)
{
	fb_session *s = fb_session_new(t, 0);
	fb_snapshot sn, last = {0};
	fb_cache_stats cs;
	fb_info info;
	char small[16], *big;
	size_t n;
	uint32_t k;

	fb_trace_info(t, &info);
	if (fb_verify(s, -1) != FB_OK || fb_icount(s) != info.end_icount || !fb_checks(s) ||
	    fb_state_hash(s) != info.final_hash)
		fail("fb_verify", fb_icount(s));
	/* a session that moved verifies from the start again */
	if (fb_goto(s, info.end_icount / 2) != FB_OK || fb_verify(s, -1) != FB_OK)
		fail("fb_verify after a goto", fb_icount(s));
	for (k = 0; fb_snapshot_get(s, k, &sn) == FB_OK; k++) {
		if (k ? sn.icount < last.icount : sn.icount != info.start_icount || sn.number)
			fail("fb_snapshot_get", sn.icount);
		last = sn;
	}
	if (k != info.snapshots || fb_goto_snapshot(s, last.number) != FB_OK ||
	    fb_icount(s) != last.icount || fb_restore_point(s, last.icount) != last.icount)
		fail("fb_goto_snapshot", last.icount);
	if (fb_goto_snapshot(s, 999999) != FB_ERROR || !strstr(fb_error(), "no snapshot 999999"))
		fail("a snapshot that is not there", 0);
	if (fb_restore_point(s, info.end_icount) < last.icount)
		fail("fb_restore_point", info.end_icount);
	/* text the way snprintf gives it */
	n = fb_cpu_text(s, small, sizeof(small));
	big = malloc(n + 1);
	if (n < 100 || strlen(small) != sizeof(small) - 1 || fb_cpu_text(s, big, n + 1) != n ||
	    strlen(big) != n || strncmp(big, small, sizeof(small) - 1) || !strstr(big, "CR0="))
		fail("fb_cpu_text", fb_icount(s));
	free(big);
	n = fb_mtree_text(s, NULL, 0);
	big = malloc(n + 1);
	if (!n || fb_mtree_text(s, big, n + 1) != n || strlen(big) != n)
		fail("fb_mtree_text", fb_icount(s));
	free(big);
	if (fb_session_cache(s, 1, 0) != FB_ERROR || fb_session_cache(s, 1u << 16, 1u << 24) ||
	    fb_goto(s, info.end_icount) || fb_session_cache_stats(s, &cs) ||
	    cs.interval != 1u << 16 || !cs.entries || fb_session_cache(s, 0, 0) ||
	    fb_session_cache_stats(s, &cs) || cs.entries)
		fail("fb_session_cache", fb_icount(s));
	fb_session_free(s);
}

typedef struct Hits {
	unsigned n;
	uint64_t icount[4096];
	uint32_t eip[4096];
} Hits;

static int note_hit(void *opaque, const fb_stop *hit)
{
	Hits *h = opaque;

	if (h->n < 4096) {
		h->icount[h->n] = hit->icount;
		h->eip[h->n] = hit->eip;
	}
	h->n++;
	return 0;
}

/* fb_run_hits() sees every hit that fb_run() stops at, one by one. */
static void check_hits(fb_trace *t, const Seen *seen)
{
	fb_session *s = fb_session_new(t, 0);
	static Hits h, w;
	uint64_t to = seen[NPOS / 2].icount;
	uint32_t bp = seen[NPOS / 4].regs.eip;
	fb_watch wt = {seen[NPOS / 4].regs.gpr[4] - 16, 16, FB_WATCH_WRITE, 0};
	fb_stop st;
	unsigned n = 0, nw = 0;

	memset(&h, 0, sizeof(h));
	memset(&w, 0, sizeof(w));

	if (fb_run_hits(s, to, &bp, 1, NULL, 0, note_hit, &h, &st) != FB_OK ||
	    st.reason != FB_STOP_ICOUNT || fb_icount(s) != to || !h.n)
		fail("fb_run_hits to an icount", fb_icount(s));
	fb_goto(s, fb_start_icount(s));
	while (fb_run(s, to, &bp, 1, NULL, 0, &st) == FB_OK && st.reason == FB_STOP_BREAKPOINT) {
		if (n < 4096 && (h.icount[n] != st.icount || h.eip[n] != bp))
			fail("a breakpoint hit", st.icount);
		n++;
	}
	if (n != h.n)
		fail("breakpoint hits", n);
	/* watches: every stop of fb_run() is a hit (an instruction or an
	 * interrupt's delivery may write several times: several hits, one stop),
	 * the hit's icount the access's, at most the stop's */
	fb_goto(s, fb_start_icount(s));
	fb_run_hits(s, to, NULL, 0, &wt, 1, note_hit, &w, &st);
	fb_goto(s, fb_start_icount(s));
	while (nw < w.n && nw < 4096 && fb_run(s, to, NULL, 0, &wt, 1, &st) == FB_OK &&
	       st.reason == FB_STOP_WATCH) {
		while (nw < w.n && nw < 4096 &&
		       !(w.eip[nw] == st.eip && w.icount[nw] <= st.icount &&
			 w.icount[nw] + 1 >= st.icount))
			nw++;
		if (nw >= w.n || nw >= 4096)
			fail("a watch stop that was no hit", st.icount);
		nw++;
	}
	if (!w.n)
		fail("no watch hits", 0);
	fb_session_free(s);
}

int main(int argc, char **argv)
{
	static Seen seen[2][NPOS];
	fb_trace *t[2];
	fb_session *s[4];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	char buf[4];

	if (argc != 3) {
		fprintf(stderr, "usage: lib_check TRACE_A TRACE_B\n");
		return 2;
	}
	if (fb_api_version() != FB_API_VERSION)
		fail("fb_api_version", 0);
	for (int k = 0; k < 2; k++) {
		if (!(t[k] = fb_open(argv[1 + k]))) {
			printf("%s\n", fb_error());
			return 1;
		}
		straight(t[k], seen[k]);
	}
	for (int i = 0; i < 4; i++)
		s[i] = fb_session_new(t[i / 2], i % 2);
	for (int n = 0; n < 200; n++) {
		int i, p;
		Seen x;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		i = (int)(rng % 4);
		p = (int)(rng / 4 % NPOS);
		if (fb_goto(s[i], seen[i / 2][p].icount) == FB_ERROR) {
			fail("fb_goto", seen[i / 2][p].icount);
			continue;
		}
		look(s[i], &x);
		if (x.icount != seen[i / 2][p].icount ||
		    memcmp(&x.regs, &seen[i / 2][p].regs, sizeof(x.regs)) ||
		    memcmp(x.stack, seen[i / 2][p].stack, sizeof(x.stack)))
			fail(i / 2 ? "session on B" : "session on A", x.icount);
	}
	/* the snapshots a goto starts from: the latest at or before, in order */
	for (int i = 0; i < 2; i++) {
		uint32_t num, num2;
		uint64_t at, at2, end = fb_end_icount(s[i * 2]);

		if (fb_snapshot_before(s[i * 2], end, &num, &at) != FB_OK || at > end ||
		    fb_snapshot_before(s[i * 2], at, &num2, &at2) != FB_OK || num2 != num ||
		    at2 != at ||
		    (at && fb_snapshot_before(s[i * 2], at - 1, &num2, &at2) == FB_OK &&
		     (at2 >= at || num2 >= num)))
			fail("fb_snapshot_before", end);
	}
	/* bad input: one line each, never a crash */
	if (fb_open("/nonexistent.fbt") || !strstr(fb_error(), "/nonexistent.fbt"))
		fail("a missing trace", 0);
	if (fb_goto(s[0], UINT64_MAX) != FB_ERROR || !strstr(fb_error(), "outside the recording"))
		fail("goto outside", 0);
	if (fb_read(s[0], 0xfffffff0u, buf, sizeof(buf), 1) != FB_ERROR || !strchr(fb_error(), ':'))
		fail("an unmapped read", 0);
	check_query(t[0]);
	check_console(t[0]);
	for (int k = 0; k < 2; k++) {
		check_scan(t[k]);
		check_scanner(t[k]);
		check_console_out(t[k]);
		check_replay(t[k]);
		check_hits(t[k], seen[k]);
	}
	for (int i = 0; i < 4; i++)
		fb_session_free(s[i]);
	fb_close(t[0]);
	fb_close(t[1]);
	printf("%s: %u mismatches\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
