/*
 * pages.c - pages.fbp, the page store shared by a trace's snapshots (pages.h).
 *
 * Writing appends each new page to an open frame and closes the frame at
 * PS_FRAME_PAGES pages or when the snapshot being written asks (ps_flush),
 * so that a snapshot only ever names pages already in the file.  Reading
 * checks the file header and every frame header once, then decodes frames
 * on demand and keeps the last one decoded: a snapshot's pages are loaded
 * in id order, so each frame is decoded once per load.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../base/base.h"
#include "journal.h"
#include "pages.h"

#define PS_MAGIC     "FBPAGES\0"
#define PS_VERSION   1u
#define PS_HEADER    40u
#define FRAME_MAGIC  "FBPF"
#define FRAME_HEADER 32u
#define FRAME_RAW    (PS_FRAME_PAGES * PS_PAGE)
/* Each page is compressed once in a recording's life, and the page store is
 * most of a trace's size: worth more effort than the journal's level 3
 * (on the Linux boot of the suite: 1.90 MB at 3, 1.86 at 6, 1.84 at 9). */
#define PS_LEVEL 9

typedef struct Frame {
	uint64_t offset; /* of the frame header */
	uint32_t pages, csize, crc, header_crc;
} Frame;

/* Hash table slot: a page's 128-bit hash and its id (0: empty). */
typedef struct Slot {
	uint64_t h1, h2, id;
} Slot;

struct PageStore {
	int fd;
	char *path;
	bool writing, failed;
	uint64_t key[2];
	/* the frames in the file, in order */
	Frame *frames;
	size_t nframes, cap;
	uint32_t prev_crc; /* header CRC of the last frame (the file's at first) */
	uint64_t end;	   /* where the next frame goes / the checked frames end */
	uint64_t size;	   /* reading: of the file */
	/* writing: the open frame and the hash table */
	uint8_t *raw;
	uint32_t open_pages;
	uint8_t *cbuf;
	size_t cbuf_cap;
	ZSTD_CCtx *cctx;
	Slot *slots;
	size_t nslots, used;
	uint64_t *hashes; /* by id: the page's hash (ps_id_hash) */
	size_t nhashes;
	/* reading: the frame decoded last */
	ZSTD_DCtx *dctx;
	uint8_t *frame_buf;
	size_t frame_at; /* index into frames, or SIZE_MAX */
	char err[TRACE_ERR_LEN];
};

#define perr(ps, ...) snprintf((ps)->err, sizeof((ps)->err), __VA_ARGS__)

const char *ps_error(const PageStore *ps)
{
	return ps->err;
}

uint64_t ps_count(const PageStore *ps)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ps->nframes; i++)
		n += ps->frames[i].pages;
	return n;
}

uint64_t ps_tail_bytes(const PageStore *ps)
{
	return ps->size - ps->end;
}

/* ---- the keyed page hash ------------------------------------------------ */

static uint64_t fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* Two independent lanes over the page's 64-bit words, each started from
 * the key and finished with an avalanche: 128 bits that the guest cannot
 * predict without the key. */
static void page_hash(const uint64_t key[2], const uint8_t *p, uint64_t *h1, uint64_t *h2)
{
	uint64_t a = key[0], b = key[1] ^ 0x9e3779b97f4a7c15ull;

	for (unsigned i = 0; i < PS_PAGE; i += 8) {
		uint64_t w = ld64(p + i);

		a = (a ^ w) * 0x9e3779b97f4a7c15ull;
		a ^= a >> 31;
		b = (b + (w ^ key[1])) * 0xc2b2ae3d27d4eb4full;
		b = (b << 27) | (b >> 37);
	}
	*h1 = fmix(a ^ key[1]);
	*h2 = fmix(b + key[0] + a);
}

static bool page_is_zero(const uint8_t *p);

uint64_t ps_hash(const uint8_t id[TRACE_ID_LEN], const uint8_t *page)
{
	uint64_t key[2] = {ld64(id), ld64(id + 8)}, h1, h2;

	if (page_is_zero(page))
		return 0;
	page_hash(key, page, &h1, &h2);
	return h1 ? h1 : 1;
}

uint64_t ps_id_hash(const PageStore *ps, uint64_t id)
{
	return id < ps->nhashes ? ps->hashes[id] : 0;
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[PS_PAGE];

	return memcmp(p, zero, PS_PAGE) == 0;
}

/* ---- the hash table ------------------------------------------------------- */

static Slot *slot_find(PageStore *ps, uint64_t h1, uint64_t h2)
{
	size_t mask = ps->nslots - 1, i = (size_t)h1 & mask;

	while (ps->slots[i].id && (ps->slots[i].h1 != h1 || ps->slots[i].h2 != h2))
		i = (i + 1) & mask;
	return &ps->slots[i];
}

static void table_grow(PageStore *ps)
{
	Slot *old = ps->slots;
	size_t n = ps->nslots;

	ps->nslots = n ? n * 2 : 4096;
	ps->slots = xcalloc(ps->nslots, sizeof(*ps->slots));
	for (size_t i = 0; i < n; i++)
		if (old[i].id)
			*slot_find(ps, old[i].h1, old[i].h2) = old[i];
	free(old);
}

/* ---- file I/O ----------------------------------------------------------- */

static bool write_all(PageStore *ps, const void *buf, size_t len, const char *what)
{
	const uint8_t *p = buf;
	uint64_t at = ps->end;

	while (len) {
		ssize_t n = pwrite(ps->fd, p, len, (off_t)at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perr(ps, "%s: writing %s at offset %llu: %s", ps->path, what,
			     (unsigned long long)at, n < 0 ? strerror(errno) : "write returned 0");
			return false;
		}
		p += n;
		at += (uint64_t)n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_at(PageStore *ps, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(ps->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perr(ps, "%s: read at offset %llu: %s", ps->path, (unsigned long long)off,
			     n < 0 ? strerror(errno) : "unexpected end of file");
			return false;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return true;
}

static void frame_add(PageStore *ps, const Frame *f)
{
	if (ps->nframes == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 64;
		ps->frames = xrealloc(ps->frames, ps->cap * sizeof(*ps->frames));
	}
	ps->frames[ps->nframes++] = *f;
}

static PageStore *ps_new(const char *dir, const uint8_t id[TRACE_ID_LEN])
{
	PageStore *ps = xcalloc(1, sizeof(*ps));
	size_t n = strlen(dir) + sizeof("/" PS_FILE);

	ps->path = xmalloc(n);
	snprintf(ps->path, n, "%s/%s", dir, PS_FILE);
	ps->fd = -1;
	ps->key[0] = ld64(id);
	ps->key[1] = ld64(id + 8);
	ps->frame_at = SIZE_MAX;
	return ps;
}

void ps_close(PageStore *ps)
{
	if (!ps)
		return;
	if (ps->fd >= 0)
		close(ps->fd);
	ZSTD_freeCCtx(ps->cctx);
	ZSTD_freeDCtx(ps->dctx);
	free(ps->frames);
	free(ps->raw);
	free(ps->cbuf);
	free(ps->slots);
	free(ps->hashes);
	free(ps->frame_buf);
	free(ps->path);
	free(ps);
}

static void header_bytes(uint8_t h[PS_HEADER], const uint8_t id[TRACE_ID_LEN])
{
	memset(h, 0, PS_HEADER);
	memcpy(h, PS_MAGIC, 8);
	st32(h + 8, PS_VERSION);
	memcpy(h + 16, id, TRACE_ID_LEN);
	st32(h + 36, crc32c(0, h, 36));
}

/* ---- writing ------------------------------------------------------------ */

PageStore *ps_create(const char *dir, const uint8_t id[TRACE_ID_LEN], char *err, size_t errlen)
{
	PageStore *ps = ps_new(dir, id);
	uint8_t h[PS_HEADER];

	ps->writing = true;
	ps->fd = open(ps->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (ps->fd < 0) {
		snprintf(err, errlen, "%s: %s", ps->path, strerror(errno));
		ps_close(ps);
		return NULL;
	}
	header_bytes(h, id);
	ps->prev_crc = ld32(h + 36);
	ps->cctx = ZSTD_createCCtx();
	if (!ps->cctx || !write_all(ps, h, sizeof(h), "the header")) {
		snprintf(err, errlen, "%s", ps->cctx ? ps->err : "zstd: out of memory");
		ps_close(ps);
		return NULL;
	}
	ps->end = PS_HEADER;
	ps->raw = xmalloc(FRAME_RAW);
	table_grow(ps);
	return ps;
}

bool ps_put(PageStore *ps, const uint8_t *page, uint64_t *id)
{
	uint64_t h1, h2;
	Slot *s;

	if (page_is_zero(page)) {
		*id = 0;
		return true;
	}
	if (ps->failed)
		return false;
	page_hash(ps->key, page, &h1, &h2);
	s = slot_find(ps, h1, h2);
	if (s->id) {
		*id = s->id;
		return true;
	}
	if (ps->open_pages == PS_FRAME_PAGES && !ps_flush(ps))
		return false;
	memcpy(ps->raw + (size_t)ps->open_pages * PS_PAGE, page, PS_PAGE);
	*id = ps->nframes * (uint64_t)PS_FRAME_PAGES + ps->open_pages + 1;
	ps->open_pages++;
	*s = (Slot){h1, h2, *id};
	if (*id >= ps->nhashes) {
		size_t n = ps->nhashes ? ps->nhashes * 2 : 4096;

		while (n <= *id)
			n *= 2;
		ps->hashes = xrealloc(ps->hashes, n * sizeof(*ps->hashes));
		memset(ps->hashes + ps->nhashes, 0, (n - ps->nhashes) * sizeof(*ps->hashes));
		ps->nhashes = n;
	}
	ps->hashes[*id] = h1 ? h1 : 1;
	if (++ps->used * 2 > ps->nslots)
		table_grow(ps);
	return true;
}

bool ps_flush(PageStore *ps)
{
	size_t raw = (size_t)ps->open_pages * PS_PAGE, bound = ZSTD_compressBound(raw), csize;
	uint8_t *h;
	Frame f;
	char what[48];

	if (ps->failed)
		return false;
	if (!ps->open_pages)
		return true;
	if (FRAME_HEADER + bound > ps->cbuf_cap) {
		ps->cbuf_cap = FRAME_HEADER + bound;
		ps->cbuf = xrealloc(ps->cbuf, ps->cbuf_cap);
	}
	h = ps->cbuf;
	csize = ZSTD_compressCCtx(ps->cctx, h + FRAME_HEADER, bound, ps->raw, raw, PS_LEVEL);
	if (ZSTD_isError(csize)) {
		perr(ps, "%s: frame %zu: zstd: %s", ps->path, ps->nframes,
		     ZSTD_getErrorName(csize));
		ps->failed = true;
		return false;
	}
	f = (Frame){ps->end, ps->open_pages, (uint32_t)csize, crc32c(0, h + FRAME_HEADER, csize),
		    0};
	memset(h, 0, FRAME_HEADER);
	memcpy(h, FRAME_MAGIC, 4);
	st32(h + 4, (uint32_t)ps->nframes);
	st32(h + 8, f.pages);
	st32(h + 12, f.csize);
	st32(h + 16, f.crc);
	st32(h + 20, ps->prev_crc);
	st32(h + 28, crc32c(0, h, 28));
	f.header_crc = ld32(h + 28);
	snprintf(what, sizeof(what), "frame %zu", ps->nframes);
	if (!write_all(ps, h, FRAME_HEADER + csize, what)) {
		/* cut back to the last whole frame; should that fail too, a
		 * reader leaves out a frame that runs past the end of the file */
		int rc = ftruncate(ps->fd, (off_t)ps->end);

		(void)rc;
		ps->failed = true;
		return false;
	}
	ps->end += FRAME_HEADER + csize;
	ps->prev_crc = f.header_crc;
	frame_add(ps, &f);
	ps->open_pages = 0;
	return true;
}

/* ---- reading ------------------------------------------------------------ */

/* Check the frame header at @off; false with a message if damaged. */
static bool parse_frame(PageStore *ps, const uint8_t *h, uint64_t off, Frame *f)
{
	size_t n = ps->nframes;

	if (memcmp(h, FRAME_MAGIC, 4) != 0 || crc32c(0, h, 28) != ld32(h + 28)) {
		perr(ps, "%s: frame %zu at offset %llu: bad magic or header checksum", ps->path, n,
		     (unsigned long long)off);
		return false;
	}
	*f = (Frame){off, ld32(h + 8), ld32(h + 12), ld32(h + 16), ld32(h + 28)};
	if (ld32(h + 4) != n || ld32(h + 24) != 0) {
		perr(ps, "%s: frame at offset %llu is numbered %u, expected frame %zu", ps->path,
		     (unsigned long long)off, ld32(h + 4), n);
		return false;
	}
	if (ld32(h + 20) != ps->prev_crc) {
		perr(ps,
		     "%s: frame %zu at offset %llu does not follow %s (it belongs to another "
		     "recording or another place)",
		     ps->path, n, (unsigned long long)off,
		     n ? "the frame before it" : "the header");
		return false;
	}
	if (!f->pages || f->pages > PS_FRAME_PAGES || !f->csize ||
	    f->csize > ZSTD_compressBound(FRAME_RAW)) {
		perr(ps, "%s: frame %zu at offset %llu: impossible sizes (%u pages, %u bytes)",
		     ps->path, n, (unsigned long long)off, f->pages, f->csize);
		return false;
	}
	return true;
}

PageStore *ps_open(const char *dir, const uint8_t id[TRACE_ID_LEN], char *err, size_t errlen)
{
	PageStore *ps = ps_new(dir, id);
	uint8_t h[PS_HEADER], want[PS_HEADER];
	struct stat st;

	ps->fd = open(ps->path, O_RDONLY | O_CLOEXEC);
	if (ps->fd < 0 || fstat(ps->fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", ps->path, strerror(errno));
		goto bad;
	}
	if ((uint64_t)st.st_size < PS_HEADER || !read_at(ps, h, sizeof(h), 0) ||
	    memcmp(h, PS_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s: not a flashback page store", ps->path);
		goto bad;
	}
	if (crc32c(0, h, 36) != ld32(h + 36) || ld32(h + 8) != PS_VERSION || ld32(h + 12) ||
	    ld32(h + 32)) {
		snprintf(err, errlen, "%s: damaged header (checksum or version)", ps->path);
		goto bad;
	}
	header_bytes(want, id);
	if (memcmp(h + 16, id, TRACE_ID_LEN) != 0 || memcmp(h, want, PS_HEADER) != 0) {
		char hex[2 * TRACE_ID_LEN + 1];

		trace_id_hex(h + 16, hex);
		snprintf(err, errlen, "%s belongs to another recording (%s)", ps->path, hex);
		goto bad;
	}
	ps->prev_crc = ld32(h + 36);
	ps->end = PS_HEADER;
	ps->size = (uint64_t)st.st_size;
	while ((uint64_t)st.st_size - ps->end >= FRAME_HEADER) {
		uint8_t fh[FRAME_HEADER];
		Frame f;

		if (!read_at(ps, fh, sizeof(fh), ps->end)) {
			snprintf(err, errlen, "%s", ps->err);
			goto bad;
		}
		if (!parse_frame(ps, fh, ps->end, &f)) {
			snprintf(err, errlen, "%s", ps->err);
			goto bad;
		}
		if ((uint64_t)st.st_size - ps->end - FRAME_HEADER < f.csize)
			break; /* a frame cut short by a crash: not ours to read */
		frame_add(ps, &f);
		ps->prev_crc = f.header_crc;
		ps->end += FRAME_HEADER + f.csize;
	}
	ps->frame_buf = xmalloc(FRAME_RAW);
	return ps;
bad:
	ps_close(ps);
	return NULL;
}

/* Decode frame @i into frame_buf. */
static bool load_frame(PageStore *ps, size_t i)
{
	const Frame *f = &ps->frames[i];
	size_t n;

	if (ps->frame_at == i)
		return true;
	ps->frame_at = SIZE_MAX;
	if (f->csize > ps->cbuf_cap) {
		ps->cbuf_cap = f->csize;
		ps->cbuf = xrealloc(ps->cbuf, ps->cbuf_cap);
	}
	if (!read_at(ps, ps->cbuf, f->csize, f->offset + FRAME_HEADER))
		return false;
	if (crc32c(0, ps->cbuf, f->csize) != f->crc) {
		perr(ps, "%s: frame %zu at offset %llu: checksum mismatch", ps->path, i,
		     (unsigned long long)f->offset);
		return false;
	}
	if (!ps->dctx && !(ps->dctx = ZSTD_createDCtx())) {
		perr(ps, "%s: zstd: out of memory", ps->path);
		return false;
	}
	n = ZSTD_decompressDCtx(ps->dctx, ps->frame_buf, FRAME_RAW, ps->cbuf, f->csize);
	if (ZSTD_isError(n) || n != (size_t)f->pages * PS_PAGE) {
		perr(ps, "%s: frame %zu at offset %llu: %s", ps->path, i,
		     (unsigned long long)f->offset,
		     ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong number of bytes");
		return false;
	}
	ps->frame_at = i;
	return true;
}

bool ps_get(PageStore *ps, uint64_t id, uint8_t *out)
{
	uint64_t frame, slot;

	if (id == 0) {
		memset(out, 0, PS_PAGE);
		return true;
	}
	frame = (id - 1) / PS_FRAME_PAGES;
	slot = (id - 1) % PS_FRAME_PAGES;
	if (frame >= ps->nframes || slot >= ps->frames[frame].pages) {
		perr(ps, "%s: no page %llu (the store holds %llu)", ps->path,
		     (unsigned long long)id, (unsigned long long)ps_count(ps));
		return false;
	}
	if (!load_frame(ps, (size_t)frame))
		return false;
	memcpy(out, ps->frame_buf + slot * PS_PAGE, PS_PAGE);
	return true;
}

bool ps_check_all(PageStore *ps)
{
	for (size_t i = 0; i < ps->nframes; i++)
		if (!load_frame(ps, i))
			return false;
	return true;
}
