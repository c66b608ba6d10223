/*
 * test_trace.c - the trace library: write and read back, chunks, seeking,
 * counts, the index, and every kind of bad input (truncation, corruption,
 * empty and foreign files, a newer version, a stale index, a full disk).
 */
#include "common.h"

#include <errno.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "journal.h"
#include "../unit/unit.h"

#define NEVENTS 20000

static TraceEvent expect[NEVENTS];
static uint8_t *expect_data[NEVENTS];
static uint64_t final_icount;
static const uint64_t final_hash = 0x0123456789abcdefull;

static const TraceMeta meta = {
    .emulator_version = "flashback test",
    .machine_options = "-m 32 -kernel x.elf",
    .cpu_model = "i686",
    .ram_size = 32 << 20,
    .start_time = 1700000000,
};

static void make_stream(void)
{
	uint8_t data[300];
	uint64_t icount = 1000;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < NEVENTS; i++) {
		make_event(&expect[i], &icount, data);
		expect_data[i] = malloc(expect[i].size + 1);
		if (expect[i].data)
			memcpy(expect_data[i], data, expect[i].size);
		expect[i].data = expect_data[i];
	}
	final_icount = icount + 17;
}

/* Write the stream (the first @n events) into @dir with small chunks. */
static bool write_trace(const char *dir, int n, const TraceOptions *o, char *err)
{
	TraceOptions def = {.chunk_bytes = 4096, .no_fsync = true};
	Trace *t = trace_create(dir, &meta, o ? o : &def, err);

	if (!t)
		return false;
	for (int i = 0; i < n; i++) {
		if (!trace_append(t, &expect[i])) {
			snprintf(err, TRACE_ERR_LEN, "%s", trace_error(t));
			trace_close(t, final_icount, final_hash, err);
			return false;
		}
	}
	return trace_close(t, final_icount, final_hash, err);
}

/* Read every event from @from; returns how many matched the stream in order. */
static int read_back(Trace *t, uint64_t from, int *first, int *status)
{
	TraceCursor *c = trace_cursor(t, from);
	TraceEvent ev;
	int i = 0, matched = 0, rc;

	while (i < NEVENTS && expect[i].icount < from)
		i++;
	*first = i;
	while ((rc = trace_next(c, &ev)) == 1) {
		if (ev.kind == TEV_END)
			break;
		if (i < NEVENTS && same_event(&ev, &expect[i]))
			matched++;
		i++;
	}
	*status = rc;
	trace_cursor_free(c);
	return matched;
}

static void test_roundtrip(void)
{
	char dir[256], err[TRACE_ERR_LEN];
	int first, status;

	scratch(dir, sizeof(dir));
	CHECK(write_trace(dir, NEVENTS, NULL, err));
	Trace *t = trace_open(dir, err);
	CHECK(t != NULL);
	if (!t) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	const TraceInfo *in = trace_info(t);
	CHECK(in->complete);
	CHECK(!in->truncated);
	CHECK(!in->reindexed);
	CHECK_EQ(in->events, NEVENTS + 1);
	CHECK(in->chunks > 20);
	CHECK_EQ(in->final_icount, final_icount);
	CHECK_EQ(in->final_hash, final_hash);
	CHECK_EQ(in->ram_size, 32 << 20);
	CHECK(strcmp(in->cpu_model, "i686") == 0);
	CHECK(strcmp(in->machine_options, "-m 32 -kernel x.elf") == 0);
	CHECK_EQ(in->start_time, 1700000000);
	CHECK_EQ(read_back(t, 0, &first, &status), NEVENTS);
	CHECK_EQ(status, 1);

	/* Seeking into the middle starts at the first event at or after it. */
	uint64_t mid = expect[NEVENTS / 2].icount + 1;
	int matched = read_back(t, mid, &first, &status);
	CHECK_EQ(matched, NEVENTS - first);
	CHECK(first > NEVENTS / 2 - 5);

	/* Counts by kind are exact. */
	uint64_t counts[TEV_KIND_COUNT], want[TEV_KIND_COUNT] = {0};
	for (int i = 0; i < NEVENTS; i++)
		want[expect[i].kind]++;
	want[TEV_END] = 1;
	CHECK(trace_counts(t, counts));
	for (int k = 1; k < TEV_KIND_COUNT; k++)
		CHECK_EQ(counts[k], want[k]);
	/* A trace opened for reading is never written. */
	CHECK(!trace_add_bookmark(t, 1234, "boot", "reached main"));
	CHECK(strstr(trace_error(t), "read-only") != NULL);
	trace_free(t);
	rm_scratch(dir);
}

/* Every chunk holds whole events and chunk boundaries do not lose any. */
static void test_chunk_boundaries(void)
{
	char dir[256], err[TRACE_ERR_LEN];
	int first, status;

	for (uint32_t per = 1; per <= 7; per += 3) {
		TraceOptions o = {.chunk_events = per, .no_fsync = true};
		scratch(dir, sizeof(dir));
		CHECK(write_trace(dir, 500, &o, err));
		Trace *t = trace_open(dir, err);
		CHECK(t != NULL);
		if (!t)
			continue;
		CHECK_EQ(trace_info(t)->chunks, (500 + per) / per);
		CHECK_EQ(read_back(t, 0, &first, &status), 500);
		trace_free(t);
		rm_scratch(dir);
	}
}

static char *jpath(const char *dir, char *buf)
{
	sprintf(buf, "%s/journal.fbj", dir);
	return buf;
}

static char *ipath(const char *dir, char *buf)
{
	sprintf(buf, "%s/index.sqlite", dir);
	return buf;
}

/* The chunk offsets and icounts of a good trace, from its header scan. */
static int chunk_ends(const char *dir, uint64_t *ends, uint64_t *last_icount, int max)
{
	char j[300];
	size_t len;
	uint8_t *p = slurp(jpath(dir, j), &len);
	uint64_t off = 24 + (p[16] | p[17] << 8);
	int n = 0;

	while (off + 48 <= len && n < max) {
		uint32_t csize = p[off + 28] | p[off + 29] << 8 | p[off + 30] << 16;
		last_icount[n] = 0;
		for (int b = 7; b >= 0; b--)
			last_icount[n] = last_icount[n] << 8 | p[off + 16 + b];
		off += 48 + csize;
		ends[n++] = off;
	}
	free(p);
	return n;
}

/* Cut the journal at many offsets: the complete chunks before the cut read back. */
static void test_truncation(void)
{
	char dir[256], err[TRACE_ERR_LEN], j[300], ix[300];
	uint64_t ends[512], lasts[512];
	size_t len;
	int first, status;

	scratch(dir, sizeof(dir));
	CHECK(write_trace(dir, 3000, NULL, err));
	int nch = chunk_ends(dir, ends, lasts, 512);
	uint8_t *full = slurp(jpath(dir, j), &len);
	CHECK(nch > 5);
	for (size_t cut = 0; cut < len; cut += 1 + cut / 7) {
		spit(j, full, cut);
		/* A killed recording has an index no further than its journal. */
		unlink(ipath(dir, ix));
		Trace *t = trace_open(dir, err);
		int whole = 0;
		while (whole < nch && ends[whole] <= cut)
			whole++;
		/* Inside the file header: refused, one line. */
		if (cut < 24u + (full[16] | full[17] << 8)) {
			CHECK(t == NULL);
			CHECK(strstr(err, cut ? (cut < 8 ? "bad magic" : "truncated header")
					      : "empty file") != NULL);
			trace_free(t);
			continue;
		}
		CHECK(t != NULL);
		if (!t) {
			fprintf(stderr, "cut %zu: %s\n", cut, err);
			continue;
		}
		const TraceInfo *in = trace_info(t);
		CHECK_EQ(in->chunks, whole);
		CHECK(in->truncated);
		char want[128];
		if (whole)
			sprintf(want, "truncated after chunk %d at icount %llu", whole - 1,
				(unsigned long long)lasts[whole - 1]);
		else
			sprintf(want, "truncated before the first chunk");
		CHECK(strstr(in->truncation, want) != NULL);
		int got = read_back(t, 0, &first, &status);
		CHECK_EQ(status, 0);
		CHECK_EQ(got, in->events);
		trace_free(t);
	}
	free(full);
	rm_scratch(dir);
}

/* Flip a byte inside chunk data: the checksum names the chunk and offset. */
static void test_corruption(void)
{
	char dir[256], err[TRACE_ERR_LEN], j[300], ix[300], want[128];
	uint64_t ends[512], lasts[512];
	size_t len;
	int first, status;

	scratch(dir, sizeof(dir));
	CHECK(write_trace(dir, 3000, NULL, err));
	int nch = chunk_ends(dir, ends, lasts, 512);
	uint8_t *p = slurp(jpath(dir, j), &len);
	/* A byte in the middle of chunk 3's compressed data. */
	uint64_t off = ends[2] + 48 + 10;
	p[off] ^= 0x40;
	spit(j, p, len);
	Trace *t = trace_open(dir, err);
	CHECK(t != NULL);
	if (t) {
		read_back(t, 0, &first, &status);
		CHECK_EQ(status, -1);
		sprintf(want, "chunk 3 at offset %llu: checksum mismatch",
			(unsigned long long)ends[2]);
		CHECK(strstr(trace_error(t), want) != NULL);
		/* Chunks before the damage still read. */
		TraceCursor *c = trace_cursor(t, 0);
		TraceEvent ev;
		CHECK_EQ(trace_next(c, &ev), 1);
		CHECK(same_event(&ev, &expect[0]));
		trace_cursor_free(c);
		trace_free(t);
	}
	/* A damaged chunk header is refused at open. */
	p[off] ^= 0x40;
	p[ends[4] + 9] ^= 1;
	spit(j, p, len);
	unlink(ipath(dir, ix));
	t = trace_open(dir, err);
	CHECK(t == NULL);
	sprintf(want, "chunk header checksum mismatch at offset %llu (chunk 5)",
		(unsigned long long)ends[4]);
	CHECK(strstr(err, want) != NULL);
	CHECK(nch > 6);
	free(p);
	rm_scratch(dir);
}

/*
 * Two recordings of the same events have the same chunks but for the
 * identity each header carries and the chain that follows from it: a chunk
 * of one put in the other (same size, same place) does not fit.
 */
static void test_foreign_chunk(void)
{
	char a[256], b[256], err[TRACE_ERR_LEN], ja[300], jb[300], ix[300], want[128];
	uint64_t ends_a[512], ends_b[512], lasts[512];
	size_t la, lb;

	scratch(a, sizeof(a));
	scratch(b, sizeof(b));
	CHECK(write_trace(a, 3000, NULL, err));
	CHECK(write_trace(b, 3000, NULL, err));
	CHECK(chunk_ends(a, ends_a, lasts, 512) > 3);
	chunk_ends(b, ends_b, lasts, 512);
	uint8_t *pa = slurp(jpath(a, ja), &la), *pb = slurp(jpath(b, jb), &lb);
	CHECK_EQ(la, lb);
	CHECK(ends_a[2] == ends_b[2] && ends_a[3] == ends_b[3]);
	/* the header differs in the identity only; chunk 3 in its chain field */
	CHECK(memcmp(pa + ends_a[2], pb + ends_b[2], 40) == 0);
	CHECK(memcmp(pa + ends_a[2], pb + ends_b[2], 48) != 0);
	memcpy(pa + ends_a[2], pb + ends_b[2], (size_t)(ends_a[3] - ends_a[2]));
	spit(ja, pa, la);
	unlink(ipath(a, ix));
	Trace *t = trace_open(a, err);
	CHECK(t == NULL);
	sprintf(want, "chunk 3 at offset %llu does not follow the chunk before it",
		(unsigned long long)ends_a[2]);
	if (!strstr(err, want))
		fprintf(stderr, "expected \"%s\" in \"%s\"\n", want, err);
	CHECK(strstr(err, want) != NULL);
	trace_free(t);
	free(pa);
	free(pb);
	rm_scratch(a);
	rm_scratch(b);
}

static void expect_refused(const char *dir, const void *bytes, size_t len, const char *want)
{
	char err[TRACE_ERR_LEN], j[300], ix[300];

	spit(jpath(dir, j), bytes, len);
	unlink(ipath(dir, ix));
	Trace *t = trace_open(dir, err);
	CHECK(t == NULL);
	if (!strstr(err, want))
		fprintf(stderr, "expected \"%s\" in \"%s\"\n", want, err);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "journal.fbj") != NULL);
	trace_free(t);
}

static void test_bad_files(void)
{
	char dir[256], err[TRACE_ERR_LEN], j[300];
	static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I',
				      'H',  'D', 'R', 0,   0,	 0,    1,    0,	   0, 0, 1, 8,	6};
	size_t len;

	scratch(dir, sizeof(dir));
	CHECK(write_trace(dir, 100, NULL, err));
	uint8_t *good = slurp(jpath(dir, j), &len);

	expect_refused(dir, "", 0, "empty file");
	expect_refused(dir, png, sizeof(png), "not a flashback journal (bad magic at offset 0)");
	expect_refused(dir, good, 12, "truncated header");

	/* A newer version: refused by number, whatever follows. */
	good[8] = TRACE_FORMAT_VERSION + 1;
	char want[96];
	sprintf(want, "trace format version %d is newer than this flashback (%d)",
		TRACE_FORMAT_VERSION + 1, TRACE_FORMAT_VERSION);
	expect_refused(dir, good, len, want);
	good[8] = TRACE_FORMAT_VERSION;
	good[30] ^= 1; /* inside the metadata text */
	expect_refused(dir, good, len, "header checksum mismatch");
	free(good);

	/* Not a directory, no journal. */
	CHECK(trace_open("/nonexistent/x.fbt", err) == NULL);
	CHECK(strstr(err, "/nonexistent/x.fbt") != NULL);
	CHECK(trace_open("/tmp", err) == NULL);
	CHECK(strstr(err, "not a trace directory") != NULL);
	rm_scratch(dir);
}

/* The index against the journal: stale, foreign, longer, shorter. */
static void test_index_mismatch(void)
{
	char a[256], b[256], err[TRACE_ERR_LEN], j[300], ix[300], ix2[300];
	size_t len;
	int first, status;

	scratch(a, sizeof(a));
	scratch(b, sizeof(b));
	CHECK(write_trace(a, 3000, NULL, err));
	CHECK(write_trace(b, 1000, NULL, err));

	/* The index of another trace. */
	uint8_t *other = slurp(ipath(b, ix2), &len);
	uint8_t *mine = slurp(ipath(a, ix), &len);
	size_t mine_len = len;
	free(slurp(ipath(b, ix2), &len));
	spit(ipath(a, ix), other, len);
	Trace *t = trace_open(a, err);
	CHECK(t == NULL);
	CHECK(strstr(err, "index.sqlite belongs to another recording") != NULL);
	trace_free(t);

	/* A journal cut short under a complete index: the journal is wrong. */
	spit(ipath(a, ix), mine, mine_len);
	uint8_t *jj = slurp(jpath(a, j), &len);
	spit(j, jj, len / 2);
	t = trace_open(a, err);
	CHECK(t == NULL);
	CHECK(strstr(err, "journal.fbj is shorter than its index") != NULL);
	trace_free(t);

	/* A journal longer than its index (killed between write and commit)
	 * or without one is indexed in memory, every time: opening never
	 * writes the file, nor creates one. */
	spit(j, jj, len);
	t = trace_open(a, err);
	CHECK(t != NULL);
	trace_free(t);
	spit(ipath(a, ix), mine, mine_len);
	unlink(ipath(a, ix));
	t = trace_open(a, err);
	CHECK(t != NULL && trace_info(t)->reindexed);
	CHECK(t && strstr(trace_info(t)->index_note, "in memory") != NULL);
	CHECK(access(ipath(a, ix), F_OK) != 0);
	if (t) {
		uint64_t counts[TEV_KIND_COUNT], sum = 0;
		CHECK(trace_counts(t, counts));
		for (int k = 0; k < TEV_KIND_COUNT; k++)
			sum += counts[k];
		CHECK_EQ(sum, 3001);
		CHECK_EQ(read_back(t, 0, &first, &status), 3000);
	}
	trace_free(t);
	t = trace_open(a, err);
	CHECK(t != NULL && trace_info(t)->reindexed);
	trace_free(t);
	CHECK(access(ipath(a, ix), F_OK) != 0);
	spit(ipath(a, ix), mine, mine_len);

	/* Not a database at all. */
	spit(ipath(a, ix),
	     "hello, not sqlite, padding padding padding padding padding padding "
	     "padding padding padding padding padding padding padding padding",
	     130);
	t = trace_open(a, err);
	CHECK(t == NULL);
	CHECK(strstr(err, "index.sqlite") != NULL);
	CHECK(strstr(err, "rebuild") != NULL);
	free(other);
	free(mine);
	free(jj);
	rm_scratch(a);
	rm_scratch(b);
}

/* A disk that fills: write() fails with ENOSPC after @budget bytes. */
static ssize_t full_disk(int fd, const void *buf, size_t len, void *opaque)
{
	size_t *budget = opaque;
	if (*budget == 0) {
		errno = ENOSPC;
		return -1;
	}
	size_t n = len < *budget ? len : *budget;
	*budget -= n;
	return write(fd, buf, n);
}

static void test_disk_full(void)
{
	char dir[256], err[TRACE_ERR_LEN];
	int first, status;

	for (size_t limit = 5000; limit < 60000; limit += 17000) {
		size_t budget = limit;
		TraceOptions o = {.chunk_bytes = 4096,
				  .no_fsync = true,
				  .write_hook = full_disk,
				  .write_opaque = &budget};
		scratch(dir, sizeof(dir));
		Trace *t = trace_create(dir, &meta, &o, err);
		CHECK(t != NULL);
		if (!t)
			continue;
		int i;
		for (i = 0; i < NEVENTS && trace_append(t, &expect[i]); i++)
			;
		CHECK(i < NEVENTS);
		CHECK(strstr(trace_error(t), "No space left on device") != NULL);
		CHECK(strstr(trace_error(t), "journal.fbj: writing chunk") != NULL);
		CHECK(!trace_append(t, &expect[i]));
		CHECK(!trace_close(t, final_icount, final_hash, err));
		CHECK(strstr(err, "No space left on device") != NULL);

		/* What was written reads back, and says where it ends. */
		t = trace_open(dir, err);
		CHECK(t != NULL);
		if (!t) {
			fprintf(stderr, "%s\n", err);
			continue;
		}
		const TraceInfo *in = trace_info(t);
		CHECK(in->truncated);
		CHECK(in->chunks > 0);
		CHECK(strstr(in->truncation, "(no end event)") != NULL);
		CHECK_EQ(read_back(t, 0, &first, &status), in->events);
		CHECK_EQ(status, 0);
		CHECK(in->events < (uint64_t)i + 1);
		trace_free(t);
		rm_scratch(dir);
	}
}

static void test_refused_events(void)
{
	char dir[256], err[TRACE_ERR_LEN];
	TraceEvent a = {.kind = TEV_PORT_READ, .icount = 10, .addr = 0x60, .size = 1, .value = 5};
	TraceEvent back = {.kind = TEV_INTERRUPT, .icount = 9, .value = 8};
	TraceEvent wide = {
	    .kind = TEV_PORT_READ, .icount = 11, .addr = 0x60, .size = 1, .value = 0x100};

	scratch(dir, sizeof(dir));
	Trace *t = trace_create(dir, &meta, NULL, err);
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(trace_append(t, &a));
	CHECK(!trace_append(t, &back));
	CHECK(strstr(trace_error(t), "icount going backwards") != NULL);
	trace_close(t, 20, 0, err);
	rm_scratch(dir);

	scratch(dir, sizeof(dir));
	t = trace_create(dir, &meta, NULL, err);
	CHECK(!trace_append(t, &wide));
	trace_close(t, 20, 0, err);
	/* An existing trace is not overwritten. */
	CHECK(trace_create(dir, &meta, NULL, err) == NULL);
	CHECK(strstr(err, "already holds a trace") != NULL);
	rm_scratch(dir);
}

/* Console bytes become lines stamped with the icount of their first byte. */
static void test_console(void)
{
	char dir[256], err[TRACE_ERR_LEN], ix[300];
	static const char *parts[] = {"abc", "de\nfg\r\n", "h"};
	sqlite3 *db;
	sqlite3_stmt *st;

	CHECK_EQ(crc32c(0, "123456789", 9), 0xe3069283);
	scratch(dir, sizeof(dir));
	Trace *t =
	    trace_create(dir, &meta, &(TraceOptions){.chunk_events = 1, .no_fsync = true}, err);
	CHECK(t != NULL);
	if (!t)
		return;
	for (int i = 0; i < 3; i++) {
		TraceEvent ev = {.kind = TEV_CONSOLE,
				 .icount = 100 * (i + 1),
				 .size = (uint32_t)strlen(parts[i]),
				 .data = (const uint8_t *)parts[i]};
		CHECK(trace_append(t, &ev));
	}
	CHECK(trace_close(t, 400, 0, err));
	CHECK(sqlite3_open(ipath(dir, ix), &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT icount, line FROM console ORDER BY rowid", -1, &st,
				 NULL) == SQLITE_OK);
	static const char *want[] = {"abcde", "fg", "h"};
	static const int want_ic[] = {100, 200, 300};
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW && n < 3) {
		CHECK_EQ(sqlite3_column_int(st, 0), want_ic[n]);
		CHECK(strcmp((const char *)sqlite3_column_text(st, 1), want[n]) == 0);
		n++;
	}
	CHECK_EQ(n, 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
	rm_scratch(dir);
}

int main(void)
{
	test_console();
	make_stream();
	test_roundtrip();
	test_chunk_boundaries();
	test_truncation();
	test_corruption();
	test_foreign_chunk();
	test_bad_files();
	test_index_mismatch();
	test_disk_full();
	test_refused_events();
	for (int i = 0; i < NEVENTS; i++)
		free(expect_data[i]);
	return unit_done("trace");
}
