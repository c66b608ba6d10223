/*
 * trace.c - a trace directory: the journal and its index kept in step.
 *
 * The journal is the truth: it is written and fsync'd first, then the
 * index commits the same chunk.  On open, the index's chunk list must be a
 * prefix of the journal's; anything else is reported, naming the file that
 * is wrong.  Opening never writes: chunks the index lacks (a recording that
 * was killed or ran out of disk) and a missing index are indexed from the
 * journal into memory for this run (`flashback reindex` writes them), so a
 * trace on read-only media, or on a full disk, opens where it lies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../base/base.h"
#include "index.h"

struct Trace {
	char *dir, *jpath, *ipath;
	bool writing, failed;
	JournalWriter w;
	JournalReader r;
	int rfd;
	Index ix;
	uint64_t last_icount;
	TraceInfo info;
	char err[TRACE_ERR_LEN];
};

struct TraceCursor {
	Trace *t;
	size_t chunk; /* the next chunk to load */
	uint64_t from;
	TraceEvent *evs;
	size_t n, pos, cap;
	/* the payloads of evs: a copy, since the journal reader's buffer is
	 * reused by whoever loads the next chunk (another cursor, the index) */
	uint8_t *data;
	size_t data_len, data_cap;
};

#define terr(t, ...) snprintf((t)->err, sizeof((t)->err), __VA_ARGS__)

static char *path_join(const char *dir, const char *file)
{
	size_t n = strlen(dir) + strlen(file) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, file);
	return p;
}

static Trace *trace_new(const char *dir)
{
	Trace *t = xcalloc(1, sizeof(*t));
	t->dir = xstrdup(dir);
	t->jpath = path_join(dir, "journal.fbj");
	t->ipath = path_join(dir, "index.sqlite");
	t->rfd = -1;
	t->w.fd = -1;
	return t;
}

void trace_free(Trace *t)
{
	if (!t)
		return;
	if (t->writing)
		journal_writer_close(&t->w);
	else
		journal_close(&t->r);
	if (t->rfd >= 0)
		close(t->rfd);
	index_close(&t->ix);
	free(t->dir);
	free(t->jpath);
	free(t->ipath);
	free(t);
}

const char *trace_error(const Trace *t)
{
	return t->err;
}

const TraceInfo *trace_info(const Trace *t)
{
	return &t->info;
}

const uint8_t *trace_id(const Trace *t)
{
	return t->info.id;
}

/* ---- metadata text of the journal header ----------------------------- */

/* Append "key=value\n", with newlines in the value made spaces. */
static void meta_put(char *buf, size_t len, const char *key, const char *value)
{
	size_t at = strlen(buf);
	snprintf(buf + at, len - at, "%s=%s\n", key, value ? value : "");
	for (char *p = buf + at; *p && p[1]; p++)
		if (*p == '\n')
			*p = ' ';
}

static void meta_get(const char *text, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);

	out[0] = 0;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t n = strcspn(v, "\n");
			snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), v);
			return;
		}
	}
}

/* ---- writing --------------------------------------------------------- */

/*
 * One event into @ix; a snapshot marker also gets its row in table
 * snapshots (the file and its size as found in @dir now), so that the
 * table is derived from the journal like the rest of the index.
 */
static bool index_one(Index *ix, const char *dir, const TraceEvent *ev, uint32_t chunk)
{
	char name[64], *path;
	struct stat st;
	bool ok;

	if (!index_event(ix, ev, chunk))
		return false;
	if (ev->kind != TEV_SNAPSHOT)
		return true;
	snprintf(name, sizeof(name), TRACE_SNAP_FMT, (unsigned)ev->value);
	path = path_join(dir, name);
	ok = index_add_snapshot(ix, ev->icount, name,
				stat(path, &st) == 0 ? (uint64_t)st.st_size : 0);
	free(path);
	return ok;
}

static TraceOptions defaults(const TraceOptions *opt)
{
	TraceOptions o = opt ? *opt : (TraceOptions){0};
	if (!o.chunk_bytes)
		o.chunk_bytes = 64 * 1024;
	if (!o.chunk_events)
		o.chunk_events = 65536;
	if (!o.index_limit)
		o.index_limit = TRACE_INDEX_LIMIT;
	if (!o.zstd_level)
		o.zstd_level = 3;
	return o;
}

/* The recording's identity as 32 hex digits, and back. */
void trace_id_hex(const uint8_t id[TRACE_ID_LEN], char out[2 * TRACE_ID_LEN + 1])
{
	for (int i = 0; i < TRACE_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static bool id_parse(const char *hex, uint8_t id[TRACE_ID_LEN])
{
	unsigned v;

	if (strlen(hex) != 2 * TRACE_ID_LEN)
		return false;
	for (int i = 0; i < TRACE_ID_LEN; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		id[i] = (uint8_t)v;
	}
	return true;
}

static bool index_meta(Index *ix, const char *text)
{
	static const char *const keys[] = {"format_version", "emulator_version", "machine_options",
					   "ram_size",	     "cpu_model",	 "start_time",
					   "recording_id"};
	char v[1024];

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		meta_get(text, keys[i], v, sizeof(v));
		if (!index_set_meta(ix, keys[i], v))
			return false;
	}
	return index_set_meta(ix, "complete", "0");
}

Trace *trace_create(const char *dir, const TraceMeta *meta, const TraceOptions *opt,
		    char err[TRACE_ERR_LEN])
{
	TraceOptions o = defaults(opt);
	TraceMeta m = meta ? *meta : (TraceMeta){0};
	char text[2048] = "", num[32], idhex[2 * TRACE_ID_LEN + 1];
	static const uint8_t zero[TRACE_ID_LEN];

	/* A recording is named by 128 random bits unless the caller chose
	 * (reproducible recordings derive it from what they record). */
	if (!memcmp(m.id, zero, TRACE_ID_LEN) && getrandom(m.id, TRACE_ID_LEN, 0) != TRACE_ID_LEN) {
		snprintf(err, TRACE_ERR_LEN, "%s: no random bytes for the recording's identity: %s",
			 dir, strerror(errno));
		return NULL;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, TRACE_ERR_LEN, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	Trace *t = trace_new(dir);
	t->writing = true;
	snprintf(num, sizeof(num), "%d", TRACE_FORMAT_VERSION);
	meta_put(text, sizeof(text), "format_version", num);
	meta_put(text, sizeof(text), "emulator_version", m.emulator_version);
	meta_put(text, sizeof(text), "machine_options", m.machine_options);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)m.ram_size);
	meta_put(text, sizeof(text), "ram_size", num);
	meta_put(text, sizeof(text), "cpu_model", m.cpu_model);
	snprintf(num, sizeof(num), "%lld", (long long)(m.start_time ? m.start_time : time(NULL)));
	meta_put(text, sizeof(text), "start_time", num);
	trace_id_hex(m.id, idhex);
	meta_put(text, sizeof(text), "recording_id", idhex);
	memcpy(t->info.id, m.id, TRACE_ID_LEN);
	memcpy(t->info.id_hex, idhex, sizeof(idhex));

	if (!journal_create(&t->w, t->jpath, text, &o)) {
		if (errno == EEXIST)
			snprintf(err, TRACE_ERR_LEN,
				 "%s: already holds a trace (journal.fbj exists)", dir);
		else
			snprintf(err, TRACE_ERR_LEN, "%s", t->w.err);
		if (errno != EEXIST)
			unlink(t->jpath);
		trace_free(t);
		return NULL;
	}
	/* An index without its journal is stale. */
	unlink(t->ipath);
	if (!index_create(&t->ix, t->ipath, o.index_limit) || !index_meta(&t->ix, text)) {
		snprintf(err, TRACE_ERR_LEN, "%s", t->ix.err);
		trace_free(t);
		return NULL;
	}
	return t;
}

static bool fail(Trace *t, const char *msg)
{
	if (!t->failed)
		snprintf(t->err, sizeof(t->err), "%s", msg);
	t->failed = true;
	return false;
}

static bool flush_chunk(Trace *t)
{
	ChunkInfo c;
	int rc = journal_flush(&t->w, &c);

	if (rc < 0) {
		index_rollback(&t->ix);
		return fail(t, t->w.err);
	}
	if (rc > 0 && !index_commit_chunk(&t->ix, &c))
		return fail(t, t->ix.err);
	return true;
}

static bool event_ok(Trace *t, const TraceEvent *ev)
{
	char msg[TRACE_ERR_LEN];
	const char *why = NULL;

	if (ev->kind == 0 || ev->kind >= TEV_KIND_COUNT)
		why = "unknown kind";
	else if (ev->icount < t->last_icount)
		why = "icount going backwards";
	else if ((ev->kind == TEV_PORT_READ || ev->kind == TEV_MMIO_READ) &&
		 (ev->size & (ev->size - 1) || !ev->size || ev->size > 8 ||
		  (ev->size < 8 && ev->value >> (ev->size * 8))))
		why = "bad size or value";
	else if (ev->kind == TEV_PORT_READ && (ev->addr > 0xffff || ev->size > 4))
		why = "bad port or size";
	else if (ev->kind == TEV_INTERRUPT && ev->value > TRACE_SMI)
		why = "bad vector";
	else if (ev->size > TRACE_MAX_DATA)
		why = "payload too large";
	if (!why)
		return true;
	snprintf(msg, sizeof(msg), "%s: refused %s event at icount %llu: %s", t->jpath,
		 trace_kind_name(ev->kind), (unsigned long long)ev->icount, why);
	return fail(t, msg);
}

bool trace_append(Trace *t, const TraceEvent *ev)
{
	bool full;

	if (t->failed || !t->writing)
		return fail(t, "trace not open for writing");
	if (!event_ok(t, ev))
		return false;
	t->last_icount = ev->icount;
	if (!journal_append(&t->w, ev, &full))
		return fail(t, t->w.err);
	if (!index_one(&t->ix, t->dir, ev, t->w.next_chunk))
		return fail(t, t->ix.err);
	return !full || flush_chunk(t);
}

bool trace_close(Trace *t, uint64_t final_icount, uint64_t final_hash, char err[TRACE_ERR_LEN])
{
	TraceEvent end = {.kind = TEV_END, .icount = final_icount, .value = final_hash};
	char v[32];
	bool ok = trace_append(t, &end) && flush_chunk(t);

	if (ok) {
		ok = index_flush_console(&t->ix);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)final_icount);
		ok = ok && index_set_meta(&t->ix, "final_icount", v);
		snprintf(v, sizeof(v), "%016llx", (unsigned long long)final_hash);
		ok = ok && index_set_meta(&t->ix, "final_hash", v) &&
		     index_set_meta(&t->ix, "complete", "1") && index_finish(&t->ix);
		if (!ok)
			fail(t, t->ix.err);
	}
	if (!ok)
		snprintf(err, TRACE_ERR_LEN, "%s", t->err);
	trace_free(t);
	return ok;
}

bool trace_add_bookmark(Trace *t, uint64_t icount, const char *name, const char *note)
{
	if (!t->writing) {
		terr(t, "%s: a trace opened for reading is read-only (add bookmarks with sqlite3)",
		     t->ipath);
		return false;
	}
	return index_add_bookmark(&t->ix, icount, name, note) || fail(t, t->ix.err);
}

/* ---- opening --------------------------------------------------------- */

/* Where index_chunk() puts the events of the chunk being decoded. */
typedef struct Indexing {
	Index *ix;
	const char *dir;
	uint32_t chunk;
} Indexing;

static bool index_chunk(void *opaque, const TraceEvent *ev)
{
	Indexing *in = opaque;
	return index_one(in->ix, in->dir, ev, in->chunk);
}

/* Index journal chunks [from, nchunks) into @ix. */
static bool index_journal(Trace *t, Index *ix, size_t from)
{
	for (size_t i = from; i < t->r.nchunks; i++) {
		const uint8_t *raw;
		const ChunkInfo *c = &t->r.chunks[i];
		Indexing in = {ix, t->dir, c->number};
		bool ok =
		    journal_load(&t->r, i, &raw) && journal_decode(&t->r, i, raw, index_chunk, &in);
		if (!ok) {
			index_rollback(ix);
			terr(t, "%s", t->r.err[0] ? t->r.err : ix->err);
			return false;
		}
		if (!index_commit_chunk(ix, c)) {
			terr(t, "%s", ix->err);
			return false;
		}
	}
	return true;
}

/* Index the journal chunks [from, nchunks) that the index is missing. */
static bool reindex(Trace *t, size_t from)
{
	if (!index_journal(t, &t->ix, from))
		return false;
	t->info.reindexed = from < t->r.nchunks;
	return true;
}

static bool same_chunk(const ChunkInfo *a, const ChunkInfo *b)
{
	return a->number == b->number && a->first_icount == b->first_icount &&
	       a->last_icount == b->last_icount && a->offset == b->offset && a->csize == b->csize &&
	       a->rsize == b->rsize && a->events == b->events && a->crc == b->crc;
}

/* The index's chunk list must be a prefix of the journal's. */
static bool check_chunks(Trace *t, size_t *indexed)
{
	ChunkInfo *ic;
	size_t n;

	if (!index_chunks(&t->ix, &ic, &n)) {
		free(ic);
		terr(t, "%s", t->ix.err);
		return false;
	}
	bool ok = true;
	for (size_t i = 0; ok && i < n && i < t->r.nchunks; i++) {
		const ChunkInfo *j = &t->r.chunks[i];
		if (same_chunk(&ic[i], j))
			continue;
		terr(t,
		     "%s does not match %s at chunk %zu: the journal has icount %llu..%llu at "
		     "offset %llu, the index icount %llu..%llu at offset %llu; the index is wrong "
		     "(flashback reindex rebuilds it from the journal)",
		     t->ipath, t->jpath, i, (unsigned long long)j->first_icount,
		     (unsigned long long)j->last_icount, (unsigned long long)j->offset,
		     (unsigned long long)ic[i].first_icount, (unsigned long long)ic[i].last_icount,
		     (unsigned long long)ic[i].offset);
		ok = false;
	}
	if (ok && n > t->r.nchunks) {
		terr(t,
		     "%s is shorter than its index: the index lists %zu chunks, the journal holds "
		     "%zu whole chunks; the journal is wrong (truncated or replaced)",
		     t->jpath, n, t->r.nchunks);
		ok = false;
	}
	free(ic);
	*indexed = n;
	return ok;
}

/* Note the end event, if the last chunk has one. */
static bool find_end(void *opaque, const TraceEvent *ev)
{
	TraceInfo *info = opaque;
	info->complete = ev->kind == TEV_END;
	if (info->complete) {
		info->final_icount = ev->icount;
		info->final_hash = ev->value;
	}
	return true;
}

static bool scan_end(Trace *t)
{
	TraceInfo *in = &t->info;
	JournalReader *r = &t->r;
	const uint8_t *raw;

	in->format_version = r->version;
	in->chunks = (uint32_t)r->nchunks;
	for (size_t i = 0; i < r->nchunks; i++)
		in->events += r->chunks[i].events;
	if (r->nchunks) {
		in->first_icount = r->chunks[0].first_icount;
		in->last_icount = r->chunks[r->nchunks - 1].last_icount;
		size_t last = r->nchunks - 1;
		if (!journal_load(r, last, &raw) || !journal_decode(r, last, raw, find_end, in)) {
			terr(t, "%s", r->err);
			return false;
		}
	}
	in->truncated = !in->complete || r->truncated;
	if (!in->truncated)
		return true;
	if (!r->nchunks)
		snprintf(in->truncation, sizeof(in->truncation),
			 "%s: truncated before the first chunk (offset %llu)", t->jpath,
			 (unsigned long long)r->end_offset);
	else
		snprintf(in->truncation, sizeof(in->truncation),
			 "%s: truncated after chunk %zu at icount %llu%s", t->jpath, r->nchunks - 1,
			 (unsigned long long)in->last_icount,
			 r->truncated ? " (a partial chunk follows)" : " (no end event)");
	return true;
}

/* The metadata of a complete recording: its end, the last console line. */
static bool index_final(Index *ix, const TraceInfo *info)
{
	char v[64];
	bool ok;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)info->final_icount);
	ok = index_flush_console(ix) && index_set_meta(ix, "final_icount", v);
	snprintf(v, sizeof(v), "%016llx", (unsigned long long)info->final_hash);
	return ok && index_set_meta(ix, "final_hash", v) && index_set_meta(ix, "complete", "1");
}

/* A complete index must agree with the journal's end event. */
static bool check_final(Trace *t)
{
	char v[64];

	if (!index_get_meta(&t->ix, "complete", v, sizeof(v)) || strcmp(v, "1") != 0) {
		if (!t->info.complete)
			return true;
		/* Killed between the last chunk and the final metadata: say
		 * so in the copy in memory. */
		if (!index_to_memory(&t->ix)) {
			terr(t, "%s", t->ix.err);
			return false;
		}
		if (!index_final(&t->ix, &t->info)) {
			terr(t, "%s", t->ix.err);
			return false;
		}
		return true;
	}
	index_get_meta(&t->ix, "final_icount", v, sizeof(v));
	unsigned long long fi = strtoull(v, NULL, 10);
	if (!t->info.complete || fi != t->info.final_icount) {
		terr(t,
		     "%s says the recording ended at icount %llu, but %s %s %llu; the journal is "
		     "wrong (truncated)",
		     t->ipath, fi, t->jpath,
		     t->info.complete ? "ends at icount" : "has no end event after icount",
		     (unsigned long long)(t->info.complete ? t->info.final_icount
							   : t->info.last_icount));
		return false;
	}
	return true;
}

static bool info_meta(Trace *t)
{
	TraceInfo *in = &t->info;
	char v[64];

	meta_get(t->r.meta, "recording_id", v, sizeof(v));
	if (!id_parse(v, in->id)) {
		terr(t, "%s: the header names no recording (recording_id '%s')", t->jpath, v);
		return false;
	}
	trace_id_hex(in->id, in->id_hex);
	meta_get(t->r.meta, "emulator_version", in->emulator_version, sizeof(in->emulator_version));
	meta_get(t->r.meta, "cpu_model", in->cpu_model, sizeof(in->cpu_model));
	meta_get(t->r.meta, "machine_options", in->machine_options, sizeof(in->machine_options));
	meta_get(t->r.meta, "ram_size", v, sizeof(v));
	in->ram_size = strtoull(v, NULL, 10);
	meta_get(t->r.meta, "start_time", v, sizeof(v));
	in->start_time = strtoll(v, NULL, 10);
	return true;
}

static bool open_index(Trace *t)
{
	size_t indexed = 0;
	char v[64];

	if (access(t->ipath, F_OK) != 0) {
		/* No index: build one from the journal, in memory. */
		if (!index_create(&t->ix, NULL, TRACE_INDEX_LIMIT) ||
		    !index_meta(&t->ix, t->r.meta)) {
			terr(t, "%s", t->ix.err);
			return false;
		}
		snprintf(t->info.index_note, sizeof(t->info.index_note),
			 "%s is missing: indexed from the journal in memory (flashback reindex "
			 "writes it)",
			 t->ipath);
	} else if (!index_open(&t->ix, t->ipath)) {
		/* ix.err is as long as t->err: join without format truncation checks. */
		snprintf(t->err, sizeof(t->err), "%s", t->ix.err);
		size_t at = strlen(t->err);
		const char *hint = "; flashback reindex rebuilds it from the journal";
		snprintf(t->err + at, sizeof(t->err) - at, "%s", hint);
		return false;
	} else {
		index_get_meta(&t->ix, "format_version", v, sizeof(v));
		if (strtoul(v, NULL, 10) != t->r.version) {
			terr(t,
			     "%s is for format version %s but %s is version %u; the index is wrong "
			     "(flashback reindex rebuilds it from the journal)",
			     t->ipath, v, t->jpath, t->r.version);
			return false;
		}
		index_get_meta(&t->ix, "recording_id", v, sizeof(v));
		if (strcmp(v, t->info.id_hex) != 0) {
			terr(t, "%s belongs to another recording (%s, the journal is %s)", t->ipath,
			     v, t->info.id_hex);
			return false;
		}
		if (!check_chunks(t, &indexed))
			return false;
		if (indexed < t->r.nchunks) {
			if (!index_to_memory(&t->ix)) {
				terr(t, "%s", t->ix.err);
				return false;
			}
			snprintf(t->info.index_note, sizeof(t->info.index_note),
				 "%s lacks chunks %zu-%zu of the journal (the recording did not "
				 "finish): indexed in memory (flashback reindex writes them)",
				 t->ipath, indexed, t->r.nchunks - 1);
		}
	}
	return reindex(t, indexed) && check_final(t);
}

/* The journal of @dir, its end and its metadata: the first half of opening. */
static Trace *open_journal(const char *dir, char err[TRACE_ERR_LEN])
{
	struct stat st;
	Trace *t;
	bool ok;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, TRACE_ERR_LEN, "%s: %s", dir,
			 errno && stat(dir, &st) != 0 ? strerror(errno) : "not a trace directory");
		return NULL;
	}
	t = trace_new(dir);
	t->rfd = open(t->jpath, O_RDONLY | O_CLOEXEC);
	if (t->rfd < 0) {
		snprintf(err, TRACE_ERR_LEN, "%s: not a trace directory (%s: %s)", dir, t->jpath,
			 strerror(errno));
		trace_free(t);
		return NULL;
	}
	ok = journal_open(&t->r, t->rfd, t->jpath);
	if (!ok)
		terr(t, "%s", t->r.err);
	if (!ok || !scan_end(t) || !info_meta(t)) {
		snprintf(err, TRACE_ERR_LEN, "%s", t->err);
		trace_free(t);
		return NULL;
	}
	return t;
}

bool trace_verify_index(Trace *t)
{
	Index ref;
	bool ok = index_create(&ref, NULL, t->ix.limit) && index_meta(&ref, t->r.meta) &&
		  index_journal(t, &ref, 0) && (!t->info.complete || index_final(&ref, &t->info));

	if (!ok && !t->err[0])
		terr(t, "%s", ref.err);
	if (ok && !index_same(&t->ix, &ref)) {
		size_t at;

		terr(t, "%s", t->ix.err);
		at = strlen(t->err);
		snprintf(t->err + at, sizeof(t->err) - at,
			 "; flashback reindex rebuilds it from the journal");
		ok = false;
	}
	index_close(&ref);
	return ok;
}

bool trace_save_history(const char *dir, const char *query, const TraceHistoryRow *rows, size_t n,
			char err[TRACE_ERR_LEN])
{
	Index ix;
	char *path = path_join(dir, "index.sqlite");
	bool ok = access(path, F_OK) == 0;

	if (!ok) {
		snprintf(err, TRACE_ERR_LEN, "%s is missing: flashback reindex writes it first",
			 path);
		free(path);
		return false;
	}
	ok = index_open_rw(&ix, path) && index_save_history(&ix, query, rows, n);
	if (!ok)
		snprintf(err, TRACE_ERR_LEN, "%s", ix.err);
	index_close(&ix);
	free(path);
	return ok;
}

bool trace_reindex(const char *dir, char err[TRACE_ERR_LEN])
{
	Trace *t = open_journal(dir, err);
	char *tmp, *side;
	bool ok;

	if (!t)
		return false;
	tmp = path_join(dir, "index.sqlite.new");
	unlink(tmp);
	ok = index_create(&t->ix, tmp, TRACE_INDEX_LIMIT);
	t->ix.name = tmp;
	ok = ok && index_meta(&t->ix, t->r.meta) && index_journal(t, &t->ix, 0) &&
	     (!t->info.complete || index_final(&t->ix, &t->info)) && index_finish(&t->ix);
	if (!ok && !t->err[0])
		terr(t, "%s", t->ix.err);
	index_close(&t->ix);
	/* what an interrupted recording left beside the old index goes with it */
	for (int i = 0; ok && i < 2; i++) {
		side = path_join(dir, i ? "index.sqlite-shm" : "index.sqlite-wal");
		unlink(side);
		free(side);
	}
	if (ok && rename(tmp, t->ipath) != 0) {
		terr(t, "%s: %s", t->ipath, strerror(errno));
		ok = false;
	}
	if (!ok) {
		unlink(tmp);
		snprintf(err, TRACE_ERR_LEN, "%s", t->err);
	}
	free(tmp);
	trace_free(t);
	return ok;
}

Trace *trace_open(const char *dir, char err[TRACE_ERR_LEN])
{
	Trace *t = open_journal(dir, err);

	if (t && !open_index(t)) {
		snprintf(err, TRACE_ERR_LEN, "%s", t->err);
		trace_free(t);
		return NULL;
	}
	return t;
}

sqlite3 *trace_db(Trace *t)
{
	return t->ix.db;
}

void trace_sql_limits(Trace *t, double seconds, void (*tick)(void *), void *opaque)
{
	t->ix.timed_out = false;
	index_set_limits(&t->ix, seconds, tick, opaque);
}

bool trace_sql_timed_out(const Trace *t)
{
	return t->ix.timed_out;
}

bool trace_counts(Trace *t, uint64_t counts[TEV_KIND_COUNT])
{
	if (index_counts(&t->ix, counts))
		return true;
	terr(t, "%s", t->ix.err);
	return false;
}

/* ---- iterating ------------------------------------------------------- */

TraceCursor *trace_cursor(Trace *t, uint64_t icount)
{
	TraceCursor *c = xcalloc(1, sizeof(*c));
	size_t lo = 0, hi = t->r.nchunks;

	/* The first chunk whose last icount reaches @icount. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->r.chunks[mid].last_icount < icount)
			lo = mid + 1;
		else
			hi = mid;
	}
	c->t = t;
	c->chunk = lo;
	c->from = icount;
	return c;
}

static bool collect(void *opaque, const TraceEvent *ev)
{
	TraceCursor *c = opaque;
	TraceEvent *e;

	if (ev->icount < c->from)
		return true;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->evs = xrealloc(c->evs, c->cap * sizeof(*c->evs));
	}
	e = &c->evs[c->n++];
	*e = *ev;
	if (ev->data) {
		if (c->data_len + ev->size > c->data_cap) {
			c->data_cap = (c->data_len + ev->size) * 2;
			c->data = xrealloc(c->data, c->data_cap);
		}
		memcpy(c->data + c->data_len, ev->data, ev->size);
		/* an offset until the chunk is collected: data may move */
		e->data = (const uint8_t *)(uintptr_t)c->data_len;
		c->data_len += ev->size;
	}
	return true;
}

int trace_next(TraceCursor *c, TraceEvent *ev)
{
	Trace *t = c->t;

	while (c->pos == c->n) {
		const uint8_t *raw;
		if (c->chunk >= t->r.nchunks)
			return 0;
		c->n = c->pos = c->data_len = 0;
		if (!journal_load(&t->r, c->chunk, &raw) ||
		    !journal_decode(&t->r, c->chunk, raw, collect, c)) {
			c->n = 0;
			terr(t, "%s", t->r.err);
			return -1;
		}
		for (size_t i = 0; i < c->n; i++)
			if (c->evs[i].data || c->evs[i].kind == TEV_DMA_WRITE ||
			    c->evs[i].kind == TEV_CONSOLE || c->evs[i].kind == TEV_MAP_CHANGE)
				c->evs[i].data = c->data + (uintptr_t)c->evs[i].data;
		c->chunk++;
	}
	*ev = c->evs[c->pos++];
	return 1;
}

void trace_cursor_free(TraceCursor *c)
{
	if (!c)
		return;
	free(c->data);
	free(c->evs);
	free(c);
}
