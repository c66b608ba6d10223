/*
 * journal.c - journal.fbj: the file header and the chunks, written and read.
 *
 * The file is a header (magic, version, flags, metadata text, CRC32C) and
 * then chunks, each a 48-byte header and one zstd frame.  A chunk is written
 * with a single write() and fsync'd before the index commits it, so after a
 * crash the file holds whole chunks and at most one partial one at the end,
 * which the reader recognises as truncation rather than damage.  A failed
 * write cuts the file back to its last whole chunk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../base/base.h"
#include "journal.h"

#define FILE_FLAGS_KNOWN 0u /* no flags defined in version 2 */

/* ---- writing --------------------------------------------------------- */

static bool write_all(JournalWriter *w, const void *buf, size_t len, const char *what)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n;
		if (w->opt.write_hook)
			n = w->opt.write_hook(w->fd, p, len, w->opt.write_opaque);
		else
			n = write(w->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(w->err, sizeof(w->err), "%s: writing %s at offset %llu: %s",
				 w->name, what, (unsigned long long)w->offset,
				 n < 0 ? strerror(errno) : "write returned 0");
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool sync_file(JournalWriter *w)
{
	if (w->opt.no_fsync || fsync(w->fd) == 0)
		return true;
	snprintf(w->err, sizeof(w->err), "%s: fsync: %s", w->name, strerror(errno));
	return false;
}

bool journal_create(JournalWriter *w, const char *path, const char *meta_text,
		    const TraceOptions *opt)
{
	size_t mlen = strlen(meta_text);

	memset(w, 0, sizeof(*w));
	w->opt = *opt;
	w->name = path;
	w->fd = -1;
	if (mlen > JOURNAL_MAX_META) {
		snprintf(w->err, sizeof(w->err), "%s: metadata too long (%zu bytes)", path, mlen);
		return false;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		snprintf(w->err, sizeof(w->err), "%s: %s", path, strerror(errno));
		return false;
	}
	uint8_t *hdr = xmalloc(JOURNAL_HEADER_SIZE + mlen);
	memcpy(hdr, JOURNAL_MAGIC, 8);
	st32(hdr + 8, TRACE_FORMAT_VERSION);
	st32(hdr + 12, 0);
	st32(hdr + 16, (uint32_t)mlen);
	memcpy(hdr + JOURNAL_HEADER_SIZE, meta_text, mlen);
	uint32_t crc = crc32c(0, hdr, 20);
	st32(hdr + 20, crc32c(crc, meta_text, mlen));
	w->prev_crc = ld32(hdr + 20);
	bool ok = write_all(w, hdr, JOURNAL_HEADER_SIZE + mlen, "the header") && sync_file(w);
	free(hdr);
	w->offset = JOURNAL_HEADER_SIZE + mlen;
	w->cctx = ZSTD_createCCtx();
	if (ok && !w->cctx) {
		snprintf(w->err, sizeof(w->err), "%s: cannot create a zstd context", path);
		ok = false;
	}
	w->failed = !ok;
	return ok;
}

bool journal_append(JournalWriter *w, const TraceEvent *ev, bool *full)
{
	size_t need = event_max_size(ev);

	if (w->raw_len + need > w->raw_cap) {
		w->raw_cap = (w->raw_len + need) * 2 + 4096;
		w->raw = xrealloc(w->raw, w->raw_cap);
	}
	if (w->events == 0) {
		w->first_icount = ev->icount;
		w->codec.icount = ev->icount;
		w->codec.time = 0;
	}
	w->raw_len += event_encode(&w->codec, ev, w->raw + w->raw_len);
	w->events++;
	w->last_icount = ev->icount;
	*full = w->raw_len >= w->opt.chunk_bytes || w->events >= w->opt.chunk_events;
	return true;
}

/* Undo a partial chunk write so the file ends on a whole chunk again. */
static void cut_back(JournalWriter *w)
{
	if (ftruncate(w->fd, (off_t)w->offset) == 0)
		lseek(w->fd, (off_t)w->offset, SEEK_SET);
	w->failed = true;
}

int journal_flush(JournalWriter *w, ChunkInfo *out)
{
	if (w->failed)
		return -1;
	if (w->events == 0)
		return 0;
	size_t bound = ZSTD_compressBound(w->raw_len) + CHUNK_HEADER_SIZE;
	if (bound > w->cbuf_cap) {
		w->cbuf_cap = bound;
		w->cbuf = xrealloc(w->cbuf, bound);
	}
	uint8_t *hdr = w->cbuf;
	size_t csize =
	    ZSTD_compressCCtx(w->cctx, hdr + CHUNK_HEADER_SIZE, bound - CHUNK_HEADER_SIZE, w->raw,
			      w->raw_len, w->opt.zstd_level);
	if (ZSTD_isError(csize)) {
		snprintf(w->err, sizeof(w->err), "%s: chunk %u: zstd: %s", w->name, w->next_chunk,
			 ZSTD_getErrorName(csize));
		w->failed = true;
		return -1;
	}
	ChunkInfo c = {
	    .number = w->next_chunk,
	    .events = w->events,
	    .first_icount = w->first_icount,
	    .last_icount = w->last_icount,
	    .offset = w->offset,
	    .csize = (uint32_t)csize,
	    .rsize = (uint32_t)w->raw_len,
	    .crc = crc32c(0, hdr + CHUNK_HEADER_SIZE, csize),
	};
	memcpy(hdr, CHUNK_MAGIC, 4);
	st32(hdr + 4, c.number);
	st64(hdr + 8, c.first_icount);
	st64(hdr + 16, c.last_icount);
	st32(hdr + 24, c.events);
	st32(hdr + 28, c.csize);
	st32(hdr + 32, c.rsize);
	st32(hdr + 36, c.crc);
	st32(hdr + 40, w->prev_crc);
	st32(hdr + 44, crc32c(0, hdr, 44));
	c.header_crc = ld32(hdr + 44);
	char what[48];
	snprintf(what, sizeof(what), "chunk %u", c.number);
	if (!write_all(w, hdr, CHUNK_HEADER_SIZE + csize, what) || !sync_file(w)) {
		cut_back(w);
		return -1;
	}
	w->offset += CHUNK_HEADER_SIZE + csize;
	w->prev_crc = c.header_crc;
	w->next_chunk++;
	w->events = 0;
	w->raw_len = 0;
	*out = c;
	return 1;
}

void journal_writer_close(JournalWriter *w)
{
	if (w->fd >= 0)
		close(w->fd);
	ZSTD_freeCCtx(w->cctx);
	free(w->raw);
	free(w->cbuf);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

/* ---- reading --------------------------------------------------------- */

#define rerr(r, ...) snprintf((r)->err, sizeof((r)->err), __VA_ARGS__)

static bool read_at(JournalReader *r, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(r->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rerr(r, "%s: read at offset %llu: %s", r->name, (unsigned long long)off,
			     n < 0 ? strerror(errno) : "unexpected end of file");
			return false;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_file_header(JournalReader *r)
{
	uint8_t h[JOURNAL_HEADER_SIZE];
	size_t have = r->file_size < sizeof(h) ? (size_t)r->file_size : sizeof(h);

	if (r->file_size == 0) {
		rerr(r, "%s: empty file, not a flashback journal", r->name);
		return false;
	}
	if (!read_at(r, h, have, 0))
		return false;
	if (have < 8 || memcmp(h, JOURNAL_MAGIC, 8) != 0) {
		rerr(r, "%s: not a flashback journal (bad magic at offset 0)", r->name);
		return false;
	}
	if (have < sizeof(h)) {
		rerr(r, "%s: truncated header: %zu of %d bytes", r->name, have,
		     JOURNAL_HEADER_SIZE);
		return false;
	}
	r->version = ld32(h + 8);
	r->flags = ld32(h + 12);
	if (r->version > TRACE_FORMAT_VERSION) {
		rerr(r, "%s: trace format version %u is newer than this flashback (%d)", r->name,
		     r->version, TRACE_FORMAT_VERSION);
		return false;
	}
	if (r->version == 0) {
		rerr(r, "%s: trace format version 0 at offset 8 is invalid", r->name);
		return false;
	}
	if (r->version < TRACE_FORMAT_VERSION) {
		rerr(r,
		     "%s: trace format version %u is older than this flashback reads (%d): its "
		     "snapshots carry no checks; record it again",
		     r->name, r->version, TRACE_FORMAT_VERSION);
		return false;
	}
	uint32_t mlen = ld32(h + 16);
	if (mlen > JOURNAL_MAX_META || JOURNAL_HEADER_SIZE + (uint64_t)mlen > r->file_size) {
		rerr(r, "%s: truncated header: metadata of %u bytes at offset %d", r->name, mlen,
		     JOURNAL_HEADER_SIZE);
		return false;
	}
	r->meta = xmalloc(mlen + 1);
	if (!read_at(r, r->meta, mlen, JOURNAL_HEADER_SIZE))
		return false;
	r->meta[mlen] = 0;
	uint32_t crc = crc32c(crc32c(0, h, 20), r->meta, mlen);
	if (crc != ld32(h + 20)) {
		rerr(r, "%s: header checksum mismatch at offset 20", r->name);
		return false;
	}
	r->header_crc = crc;
	if (r->flags & ~FILE_FLAGS_KNOWN) {
		rerr(r, "%s: unknown header flags 0x%x at offset 12", r->name, r->flags);
		return false;
	}
	r->end_offset = JOURNAL_HEADER_SIZE + mlen;
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Parse and check one chunk header; false = damaged (message set). */
static bool parse_chunk_header(JournalReader *r, const uint8_t *h, uint64_t off, ChunkInfo *c)
{
	uint32_t n = (uint32_t)r->nchunks;

	if (memcmp(h, CHUNK_MAGIC, 4) != 0) {
		rerr(r, "%s: bad chunk magic at offset %llu (chunk %u)", r->name,
		     (unsigned long long)off, n);
		return false;
	}
	if (crc32c(0, h, 44) != ld32(h + 44)) {
		rerr(r, "%s: chunk header checksum mismatch at offset %llu (chunk %u)", r->name,
		     (unsigned long long)off, n);
		return false;
	}
	c->number = ld32(h + 4);
	c->first_icount = ld64(h + 8);
	c->last_icount = ld64(h + 16);
	c->events = ld32(h + 24);
	c->csize = ld32(h + 28);
	c->rsize = ld32(h + 32);
	c->crc = ld32(h + 36);
	c->header_crc = ld32(h + 44);
	c->offset = off;
	if (c->number != n) {
		rerr(r, "%s: chunk at offset %llu is numbered %u, expected chunk %u", r->name,
		     (unsigned long long)off, c->number, n);
		return false;
	}
	/* Each chunk names the header before it: a chunk of another
	 * recording (or another place in this one) does not fit. */
	if (ld32(h + 40) != (n ? r->chunks[n - 1].header_crc : r->header_crc)) {
		rerr(r,
		     "%s: chunk %u at offset %llu does not follow %s (it belongs to another "
		     "recording or another place)",
		     r->name, n, (unsigned long long)off, n ? "the chunk before it" : "the header");
		return false;
	}
	if (!c->events || !c->csize || c->rsize > CHUNK_MAX_RAW ||
	    c->csize > ZSTD_compressBound(c->rsize) || c->rsize < c->events * 2u) {
		rerr(r,
		     "%s: chunk %u at offset %llu: impossible sizes (%u events, %u compressed, %u "
		     "raw bytes)",
		     r->name, n, (unsigned long long)off, c->events, c->csize, c->rsize);
		return false;
	}
	if (c->first_icount > c->last_icount) {
		rerr(r, "%s: chunk %u at offset %llu: icount going backwards (%llu..%llu)", r->name,
		     n, (unsigned long long)off, (unsigned long long)c->first_icount,
		     (unsigned long long)c->last_icount);
		return false;
	}
	if (n && c->first_icount < r->chunks[n - 1].last_icount) {
		rerr(r,
		     "%s: chunk %u at offset %llu: icount going backwards (starts at %llu, chunk "
		     "%u ended at %llu)",
		     r->name, n, (unsigned long long)off, (unsigned long long)c->first_icount,
		     n - 1, (unsigned long long)r->chunks[n - 1].last_icount);
		return false;
	}
	return true;
}

bool journal_open(JournalReader *r, int fd, const char *name)
{
	struct stat st;
	size_t cap = 0;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->name = name;
	if (fstat(fd, &st) != 0) {
		rerr(r, "%s: %s", name, strerror(errno));
		return false;
	}
	r->file_size = (uint64_t)st.st_size;
	if (!read_file_header(r))
		return false;
	for (uint64_t off = r->end_offset; off < r->file_size;) {
		uint8_t h[CHUNK_HEADER_SIZE];
		ChunkInfo c;

		/* A partial header, or one a crash left as zeros: the end. */
		if (r->file_size - off < CHUNK_HEADER_SIZE) {
			r->truncated = true;
			break;
		}
		if (!read_at(r, h, sizeof(h), off))
			return false;
		if (all_zero(h, sizeof(h))) {
			r->truncated = true;
			break;
		}
		if (!parse_chunk_header(r, h, off, &c))
			return false;
		if (r->file_size - off - CHUNK_HEADER_SIZE < c.csize) {
			r->truncated = true;
			break;
		}
		if (r->nchunks == cap) {
			cap = cap ? cap * 2 : 64;
			r->chunks = xrealloc(r->chunks, cap * sizeof(*r->chunks));
		}
		r->chunks[r->nchunks++] = c;
		off += CHUNK_HEADER_SIZE + c.csize;
		r->end_offset = off;
	}
	return true;
}

bool journal_load(JournalReader *r, size_t i, const uint8_t **raw)
{
	const ChunkInfo *c = &r->chunks[i];
	uint64_t data_off = c->offset + CHUNK_HEADER_SIZE;

	if (c->csize > r->cbuf_cap) {
		r->cbuf_cap = c->csize;
		r->cbuf = xrealloc(r->cbuf, r->cbuf_cap);
	}
	if (c->rsize + 1u > r->rbuf_cap) {
		r->rbuf_cap = c->rsize + 1u;
		r->rbuf = xrealloc(r->rbuf, r->rbuf_cap);
	}
	if (!read_at(r, r->cbuf, c->csize, data_off))
		return false;
	uint32_t crc = crc32c(0, r->cbuf, c->csize);
	if (crc != c->crc) {
		rerr(r,
		     "%s: chunk %u at offset %llu: checksum mismatch (stored 0x%08x, computed "
		     "0x%08x)",
		     r->name, c->number, (unsigned long long)c->offset, c->crc, crc);
		return false;
	}
	if (!r->dctx)
		r->dctx = ZSTD_createDCtx();
	if (!r->dctx) {
		rerr(r, "%s: cannot create a zstd context", r->name);
		return false;
	}
	unsigned long long content = ZSTD_getFrameContentSize(r->cbuf, c->csize);
	if (content != c->rsize) {
		rerr(r, "%s: chunk %u at offset %llu: zstd frame holds %lld bytes, header says %u",
		     r->name, c->number, (unsigned long long)c->offset, (long long)content,
		     c->rsize);
		return false;
	}
	size_t n = ZSTD_decompressDCtx(r->dctx, r->rbuf, r->rbuf_cap, r->cbuf, c->csize);
	if (ZSTD_isError(n) || n != c->rsize) {
		rerr(r, "%s: chunk %u at offset %llu: decompression error: %s", r->name, c->number,
		     (unsigned long long)c->offset,
		     ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
		return false;
	}
	*raw = r->rbuf;
	return true;
}

bool journal_decode(JournalReader *r, size_t i, const uint8_t *raw,
		    bool (*fn)(void *opaque, const TraceEvent *ev), void *opaque)
{
	const ChunkInfo *c = &r->chunks[i];
	const uint8_t *p = raw, *end = raw + c->rsize;
	EventCodec codec = {.icount = c->first_icount};
	char why[128];
	TraceEvent ev = {0};

	for (uint32_t k = 0; k < c->events; k++) {
		size_t at = (size_t)(p - raw);
		if (!event_decode(&codec, &p, end, &ev, why)) {
			rerr(r, "%s: chunk %u at offset %llu: event %u (raw byte %zu): %s", r->name,
			     c->number, (unsigned long long)c->offset, k, at, why);
			return false;
		}
		if (k == 0 && ev.icount != c->first_icount) {
			rerr(r,
			     "%s: chunk %u at offset %llu: first event at icount %llu, header says "
			     "%llu",
			     r->name, c->number, (unsigned long long)c->offset,
			     (unsigned long long)ev.icount, (unsigned long long)c->first_icount);
			return false;
		}
		if (ev.icount > c->last_icount) {
			rerr(r,
			     "%s: chunk %u at offset %llu: event %u at icount %llu is past the "
			     "chunk's last icount %llu",
			     r->name, c->number, (unsigned long long)c->offset, k,
			     (unsigned long long)ev.icount, (unsigned long long)c->last_icount);
			return false;
		}
		if (fn && !fn(opaque, &ev))
			return false;
	}
	if (p != end || ev.icount != c->last_icount) {
		rerr(r,
		     "%s: chunk %u at offset %llu: events do not fill the chunk (%zu of %u bytes, "
		     "last icount %llu of %llu)",
		     r->name, c->number, (unsigned long long)c->offset, (size_t)(p - raw), c->rsize,
		     (unsigned long long)ev.icount, (unsigned long long)c->last_icount);
		return false;
	}
	return true;
}

void journal_close(JournalReader *r)
{
	ZSTD_freeDCtx(r->dctx);
	free(r->chunks);
	free(r->cbuf);
	free(r->rbuf);
	free(r->meta);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}
