/*
 * snapshot.c - machine state for record and replay: the memory-map payload,
 * RAM hashes and snapshot files.
 *
 * A snapshot file is a 32-byte header and one zstd frame (with a content
 * checksum) of records: block definitions, 4 KiB pages, the flat view and
 * the CPU state (traces/FORMAT.md, "Snapshot files").  A full snapshot
 * holds every non-zero RAM page and all ROM; an incremental one only the
 * RAM pages dirtied since the previous snapshot (memory.h, DIRTY_SNAPSHOT).
 */
#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- byte buffers ---------------------------------------------------------- */

void rrbuf_put(RRBuf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

void rrbuf_u8(RRBuf *b, uint8_t v)
{
	rrbuf_put(b, &v, 1);
}

void rrbuf_varint(RRBuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	rrbuf_put(b, tmp, n);
}

bool rr_get_varint(RRReader *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 10; i++) {
		if (r->pos >= r->len)
			return false;
		uint8_t c = r->p[r->pos++];
		if (i == 9 && c > 1)
			return false;
		x |= (uint64_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

bool rr_get_u8(RRReader *r, uint8_t *v)
{
	if (r->pos >= r->len)
		return false;
	*v = r->p[r->pos++];
	return true;
}

const uint8_t *rr_get_bytes(RRReader *r, size_t n)
{
	const uint8_t *p;

	if (n > r->len - r->pos)
		return NULL;
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

/* ---- the flat view ------------------------------------------------------------ */

static int block_find(const RRBlocks *blocks, const MemoryRegion *mr)
{
	for (unsigned i = 0; i < blocks->n; i++)
		if (blocks->b[i].mr == mr)
			return (int)i;
	return -1;
}

static unsigned block_add(RRBlocks *blocks, MemoryRegion *mr, uint8_t kind, uint64_t size)
{
	blocks->b = xrealloc(blocks->b, (blocks->n + 1) * sizeof(*blocks->b));
	blocks->b[blocks->n] = (RRBlock){mr, kind, size};
	return blocks->n++;
}

/*
 * Payload: varint count of new blocks, each (varint number, u8 kind, varint
 * size, size bytes); varint count of ranges, each (varint start, varint
 * end inclusive, u8 type: 1 block / 2 MMIO, and for 1: varint block,
 * varint offset).
 */
void rr_view_encode(AddressSpace *as, RRBlocks *blocks, RRBuf *out, bool inline_new)
{
	size_t count;
	const FlatRange *fr = as_ranges(as, &count);
	unsigned first_new = blocks->n;

	for (size_t i = 0; i < count; i++) {
		enum mr_kind k = mr_kind(fr[i].mr);

		if ((k == MR_RAM || k == MR_ROM) && block_find(blocks, fr[i].mr) < 0)
			block_add(blocks, fr[i].mr, k == MR_RAM ? RR_BLOCK_RAM : RR_BLOCK_ROM,
				  mr_size(fr[i].mr));
	}
	rrbuf_varint(out, inline_new ? blocks->n - first_new : 0);
	for (unsigned i = first_new; inline_new && i < blocks->n; i++) {
		rrbuf_varint(out, i);
		rrbuf_u8(out, blocks->b[i].kind);
		rrbuf_varint(out, blocks->b[i].size);
		rrbuf_put(out, mr_host(blocks->b[i].mr), blocks->b[i].size);
	}
	rrbuf_varint(out, count);
	for (size_t i = 0; i < count; i++) {
		int blk = block_find(blocks, fr[i].mr);

		rrbuf_varint(out, fr[i].start);
		rrbuf_varint(out, fr[i].end);
		if (blk >= 0) {
			rrbuf_u8(out, 1);
			rrbuf_varint(out, (unsigned)blk);
			rrbuf_varint(out, fr[i].mr_offset);
		} else {
			rrbuf_u8(out, 2);
		}
	}
}

void rr_memory_init(RRMemory *mem)
{
	memset(mem, 0, sizeof(*mem));
	mem->root = mr_container("replay-system", 1ull << 32);
	mem->as = as_new("memory", mem->root);
}

void rr_memory_free(RRMemory *mem)
{
	as_free(mem->as);
	mr_free(mem->root); /* and the aliases and MMIO regions in it */
	for (unsigned i = 0; i < mem->blocks.n; i++)
		mr_free(mem->blocks.b[i].mr);
	free(mem->blocks.b);
	free(mem->mapped);
	memset(mem, 0, sizeof(*mem));
}

/* MMIO in replay: the CPU sends non-RAM accesses to the bus, never here. */
static uint64_t mmio_unused_read(void *opaque, uint64_t offset, unsigned size)
{
	return ~0ull;
}

static void mmio_unused_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
}

static const MemoryRegionOps mmio_unused = {mmio_unused_read, mmio_unused_write};

/* Define block @num of @kind and @size (numbers come in order). */
static bool define_block(RRMemory *mem, uint64_t num, uint8_t kind, uint64_t size,
			 const uint8_t *data, char *err, size_t errlen)
{
	MemoryRegion *mr;

	if (num < mem->blocks.n) {
		RRBlock *b = &mem->blocks.b[num];
		if (b->kind != kind || b->size != size) {
			snprintf(err, errlen, "block %llu redefined with another kind or size",
				 (unsigned long long)num);
			return false;
		}
		mr = b->mr;
	} else if (num == mem->blocks.n && (kind == RR_BLOCK_RAM || kind == RR_BLOCK_ROM) &&
		   size > 0 && size <= (1ull << 32)) {
		mr = kind == RR_BLOCK_RAM ? mr_ram("replay.ram", size) : mr_rom("replay.rom", size);
		if (!mr) {
			snprintf(err, errlen, "cannot allocate %llu bytes of RAM",
				 (unsigned long long)size);
			return false;
		}
		/* replay reads all of RAM now and then (the RAM hash, the
		 * snapshot cache's copy): untouched RAM should cost little */
		if (kind == RR_BLOCK_RAM)
			ram_huge_pages(mr, true);
		block_add(&mem->blocks, mr, kind, size);
	} else {
		snprintf(err, errlen, "bad block definition %llu", (unsigned long long)num);
		return false;
	}
	if (data)
		memcpy(mr_host(mr), data, size);
	return true;
}

bool rr_view_apply(RRMemory *mem, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	RRReader r = {p, len, 0};
	uint64_t nnew, nranges;

	if (!rr_get_varint(&r, &nnew))
		goto bad;
	for (uint64_t i = 0; i < nnew; i++) {
		uint64_t num, size;
		uint8_t kind;
		const uint8_t *data;

		if (!rr_get_varint(&r, &num) || !rr_get_u8(&r, &kind) || !rr_get_varint(&r, &size) ||
		    !(data = rr_get_bytes(&r, size)))
			goto bad;
		if (!define_block(mem, num, kind, size, data, err, errlen))
			return false;
	}
	if (!rr_get_varint(&r, &nranges) || nranges > len)
		goto bad;

	/* Check the whole payload before touching the map. */
	size_t start_pos = r.pos;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t prev_end = 0;

		r.pos = start_pos;
		if (pass == 1) {
			mr_begin_update();
			for (unsigned i = 0; i < mem->nmapped; i++) {
				mr_remove(mem->root, mem->mapped[i]);
				mr_free(mem->mapped[i]);
			}
			free(mem->mapped);
			mem->mapped = xcalloc(nranges ? nranges : 1, sizeof(*mem->mapped));
			mem->nmapped = 0;
		}
		for (uint64_t i = 0; i < nranges; i++) {
			uint64_t start, end, blk = 0, off = 0;
			uint8_t type;

			if (!rr_get_varint(&r, &start) || !rr_get_varint(&r, &end) ||
			    !rr_get_u8(&r, &type) || end < start || end > 0xffffffffull ||
			    (i > 0 && start <= prev_end))
				goto bad;
			prev_end = end;
			if (type == 1) {
				if (!rr_get_varint(&r, &blk) || !rr_get_varint(&r, &off) ||
				    blk >= mem->blocks.n ||
				    off + (end - start) >= mem->blocks.b[blk].size)
					goto bad;
			} else if (type != 2) {
				goto bad;
			}
			if (pass == 0)
				continue;
			MemoryRegion *mr =
				type == 1 ? mr_alias("replay-map", mem->blocks.b[blk].mr, off,
						     end - start + 1)
					  : mr_mmio("replay-mmio", end - start + 1, &mmio_unused, NULL);
			mr_add(mem->root, mr, start, 0);
			mem->mapped[mem->nmapped++] = mr;
		}
		if (pass == 1)
			mr_commit_update();
	}
	if (r.pos != r.len)
		goto bad;
	return true;
bad:
	snprintf(err, errlen, "malformed memory map payload (byte %zu of %zu)", r.pos, len);
	return false;
}

/* ---- RAM hash ------------------------------------------------------------------- */

uint64_t rr_ram_hash(const RRBlocks *blocks)
{
	uint64_t h = 0x243f6a8885a308d3ull;

	for (unsigned i = 0; i < blocks->n; i++) {
		const uint8_t *p = mr_host(blocks->b[i].mr);
		uint64_t size = blocks->b[i].size, j;

		if (blocks->b[i].kind != RR_BLOCK_RAM)
			continue;
		for (j = 0; j + 8 <= size; j += 8) {
			h = (h ^ ld64(p + j)) * 0x9e3779b97f4a7c15ull;
			h ^= h >> 29;
		}
		for (; j < size; j++)
			h = (h ^ p[j]) * 0x100000001b3ull;
		h = (h ^ size) * 0x9e3779b97f4a7c15ull;
	}
	return h ^ (h >> 32);
}

/* ---- snapshot files ---------------------------------------------------------------- */

#define SNAP_MAGIC "FBSNAP\0\0"
#define SNAP_VERSION 1
#define SNAP_HEADER 32

enum { REC_BLOCK = 'B', REC_PAGE = 'P', REC_VIEW = 'M', REC_CPU = 'C', REC_END = 'E' };

/* A zstd stream into a file. */
struct zout {
	FILE *f;
	ZSTD_CCtx *cctx;
	uint8_t in[1 << 16];
	size_t inlen;
	uint8_t out[1 << 16];
	bool bad;
};

static void zflush(struct zout *z, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {z->in, z->inlen, 0};
	size_t left;

	do {
		ZSTD_outBuffer out = {z->out, sizeof(z->out), 0};

		left = ZSTD_compressStream2(z->cctx, &out, &in, mode);
		if (ZSTD_isError(left)) {
			z->bad = true;
			return;
		}
		if (out.pos && fwrite(z->out, 1, out.pos, z->f) != out.pos)
			z->bad = true;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	z->inlen = 0;
}

static void zput(struct zout *z, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n) {
		size_t k = sizeof(z->in) - z->inlen;

		if (k > n)
			k = n;
		memcpy(z->in + z->inlen, p, k);
		z->inlen += k;
		p += k;
		n -= k;
		if (z->inlen == sizeof(z->in))
			zflush(z, ZSTD_e_continue);
	}
}

static void zput32(struct zout *z, uint32_t v)
{
	uint8_t b[4];

	st32(b, v);
	zput(z, b, 4);
}

static void zput64(struct zout *z, uint64_t v)
{
	uint8_t b[8];

	st64(b, v);
	zput(z, b, 8);
}

static bool page_is_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zero[PAGE_SIZE];

	return memcmp(p, zero, n) == 0;
}

static void write_page(struct zout *z, unsigned blk, const RRBlock *b, uint64_t page)
{
	uint64_t off = page << PAGE_BITS;
	size_t n = b->size - off < PAGE_SIZE ? (size_t)(b->size - off) : PAGE_SIZE;

	zput(z, (uint8_t[]){REC_PAGE}, 1);
	zput32(z, blk);
	zput32(z, (uint32_t)page);
	zput(z, mr_host(b->mr) + off, n);
}

static void write_block(struct zout *z, unsigned blk, const RRBlock *b, bool all_pages)
{
	uint64_t pages = (b->size + PAGE_SIZE - 1) >> PAGE_BITS;

	zput(z, (uint8_t[]){REC_BLOCK}, 1);
	zput32(z, blk);
	zput(z, &b->kind, 1);
	zput64(z, b->size);
	for (uint64_t pg = 0; pg < pages; pg++) {
		uint64_t off = pg << PAGE_BITS;
		size_t n = b->size - off < PAGE_SIZE ? (size_t)(b->size - off) : PAGE_SIZE;

		if (all_pages || !page_is_zero(mr_host(b->mr) + off, n))
			write_page(z, blk, b, pg);
	}
	if (b->kind == RR_BLOCK_RAM)
		ram_test_and_clear_dirty(b->mr, 0, b->size, DIRTY_SNAPSHOT);
}

static void write_dirty_pages(struct zout *z, unsigned blk, const RRBlock *b)
{
	uint64_t pages = (b->size + PAGE_SIZE - 1) >> PAGE_BITS;

	for (uint64_t pg = 0; pg < pages; pg++)
		if (ram_test_and_clear_dirty(b->mr, pg << PAGE_BITS, PAGE_SIZE, DIRTY_SNAPSHOT))
			write_page(z, blk, b, pg);
}

uint64_t rr_snapshot_write(const char *dir, unsigned number, bool full, CPU *cpu,
			   AddressSpace *as, RRBlocks *blocks, unsigned first_new, char *err,
			   size_t errlen)
{
	char path[4096], name[64];
	uint8_t hdr[SNAP_HEADER] = {0};
	struct zout *z = xcalloc(1, sizeof(*z));
	RRBuf view = {0};
	size_t cs = cpu_state_size();
	uint8_t *state = xmalloc(cs);
	uint64_t size = 0;
	long end;

	snprintf(name, sizeof(name), RR_SNAP_FMT, number);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	z->f = fopen(path, "wb");
	if (!z->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	memcpy(hdr, SNAP_MAGIC, 8);
	st32(hdr + 8, SNAP_VERSION);
	st32(hdr + 12, full ? 0 : 1);
	st64(hdr + 16, cpu_icount(cpu));
	st32(hdr + 24, number);
	if (fwrite(hdr, 1, sizeof(hdr), z->f) != sizeof(hdr))
		z->bad = true;
	z->cctx = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);

	/* Number blocks that appeared in the map, then write the view. */
	rr_view_encode(as, blocks, &view, false);
	for (unsigned i = 0; i < blocks->n; i++) {
		const RRBlock *b = &blocks->b[i];

		if (full || i >= first_new)
			write_block(z, i, b, b->kind == RR_BLOCK_ROM);
		else if (b->kind == RR_BLOCK_RAM)
			write_dirty_pages(z, i, b);
	}
	zput(z, (uint8_t[]){REC_VIEW}, 1);
	zput32(z, (uint32_t)view.len);
	zput(z, view.p, view.len);
	cpu_state_save(cpu, state);
	zput(z, (uint8_t[]){REC_CPU}, 1);
	zput32(z, (uint32_t)cs);
	zput(z, state, cs);
	zput(z, (uint8_t[]){REC_END}, 1);
	zflush(z, ZSTD_e_end);
	cpu_flush_tlb(cpu); /* dirty bits were cleared: the CPU must mark again */
	end = ftell(z->f);
	if (fflush(z->f) != 0 || z->bad || end < 0) {
		snprintf(err, errlen, "%s: cannot write the snapshot: %s", path,
			 errno ? strerror(errno) : "compression failed");
		goto out;
	}
	size = (uint64_t)end;
out:
	if (z->f && fclose(z->f) != 0 && size) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		size = 0;
	}
	ZSTD_freeCCtx(z->cctx);
	free(z);
	free(view.p);
	free(state);
	return size;
}

/* Read the file of snapshot @number: its header, and the body if @body. */
static uint8_t *read_snapshot(const char *dir, unsigned number, RRSnapHeader *h, size_t *len,
			      char *err, size_t errlen)
{
	char path[4096], name[64], rerr[256];
	uint8_t *buf;

	snprintf(name, sizeof(name), RR_SNAP_FMT, number);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf = read_file(path, len, rerr);
	if (!buf) {
		snprintf(err, errlen, "%s", rerr);
		return NULL;
	}
	if (*len < SNAP_HEADER || memcmp(buf, SNAP_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s: not a flashback snapshot", path);
		goto bad;
	}
	if (ld32(buf + 8) != SNAP_VERSION) {
		snprintf(err, errlen, "%s: snapshot version %u is not %u", path, ld32(buf + 8),
			 SNAP_VERSION);
		goto bad;
	}
	if (ld32(buf + 12) > 1 || ld32(buf + 24) != number) {
		snprintf(err, errlen, "%s: malformed snapshot header", path);
		goto bad;
	}
	h->number = number;
	h->full = ld32(buf + 12) == 0;
	h->icount = ld64(buf + 16);
	return buf;
bad:
	free(buf);
	return NULL;
}

bool rr_snapshot_header(const char *dir, unsigned number, RRSnapHeader *h, char *err,
			size_t errlen)
{
	size_t len;
	uint8_t *buf = read_snapshot(dir, number, h, &len, err, errlen);

	free(buf);
	return buf != NULL;
}

/* Decompress the body into a new buffer. */
static uint8_t *inflate_body(const uint8_t *src, size_t srclen, size_t *outlen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer in = {src, srclen, 0};
	size_t cap = 1 << 20, len = 0, ret = 1;
	uint8_t *out = xmalloc(cap);

	while (ret != 0) {
		ZSTD_outBuffer o;

		if (cap - len < (1 << 18)) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		o = (ZSTD_outBuffer){out + len, cap - len, 0};
		ret = ZSTD_decompressStream(d, &o, &in);
		len += o.pos;
		if (ZSTD_isError(ret) || (ret != 0 && in.pos == in.size && o.pos == 0)) {
			free(out);
			out = NULL;
			break;
		}
	}
	ZSTD_freeDCtx(d);
	if (out && in.pos != in.size) {
		free(out);
		out = NULL;
	}
	*outlen = len;
	return out;
}

static bool get32(RRReader *r, uint32_t *v)
{
	const uint8_t *p = rr_get_bytes(r, 4);

	if (p)
		*v = ld32(p);
	return p != NULL;
}

bool rr_snapshot_load(const char *dir, unsigned number, CPU *cpu, RRMemory *mem, char *err,
		      size_t errlen)
{
	RRSnapHeader h;
	size_t len, rawlen = 0;
	uint8_t *file = read_snapshot(dir, number, &h, &len, err, errlen);
	uint8_t *raw;
	RRReader r;
	bool ok = false, ended = false;

	if (!file)
		return false;
	raw = inflate_body(file + SNAP_HEADER, len - SNAP_HEADER, &rawlen);
	if (!raw) {
		snprintf(err, errlen, "snapshot %u: damaged (zstd frame or checksum)", number);
		free(file);
		return false;
	}
	if (h.full) {
		for (unsigned i = 0; i < mem->blocks.n; i++)
			if (mem->blocks.b[i].kind == RR_BLOCK_RAM)
				ram_clear(mem->blocks.b[i].mr); /* gives the pages back: cheap */
	}
	r = (RRReader){raw, rawlen, 0};
	while (!ended) {
		uint8_t tag, kind;
		uint32_t blk, page, n;
		const uint8_t *p;

		if (!rr_get_u8(&r, &tag))
			goto bad;
		switch (tag) {
		case REC_BLOCK: {
			const uint8_t *sz;

			if (!get32(&r, &blk) || !rr_get_u8(&r, &kind) || !(sz = rr_get_bytes(&r, 8)))
				goto bad;
			if (!define_block(mem, blk, kind, ld64(sz), NULL, err, errlen))
				goto out;
			if (kind == RR_BLOCK_RAM)
				ram_clear(mem->blocks.b[blk].mr);
			break;
		}
		case REC_PAGE: {
			uint64_t off, size;

			if (!get32(&r, &blk) || !get32(&r, &page) || blk >= mem->blocks.n)
				goto bad;
			size = mem->blocks.b[blk].size;
			off = (uint64_t)page << PAGE_BITS;
			if (off >= size)
				goto bad;
			n = size - off < PAGE_SIZE ? (uint32_t)(size - off) : PAGE_SIZE;
			if (!(p = rr_get_bytes(&r, n)))
				goto bad;
			memcpy(mr_host(mem->blocks.b[blk].mr) + off, p, n);
			if (mem->blocks.b[blk].kind == RR_BLOCK_RAM)
				ram_mark_dirty(mem->blocks.b[blk].mr, off, n);
			break;
		}
		case REC_VIEW:
			if (!get32(&r, &n) || !(p = rr_get_bytes(&r, n)))
				goto bad;
			if (!rr_view_apply(mem, p, n, err, errlen))
				goto out;
			break;
		case REC_CPU:
			if (!get32(&r, &n) || !(p = rr_get_bytes(&r, n)))
				goto bad;
			if (!cpu_state_load(cpu, p, n)) {
				snprintf(err, errlen,
					 "snapshot %u: the CPU state is of another version or damaged",
					 number);
				goto out;
			}
			break;
		case REC_END:
			ended = true;
			break;
		default:
			goto bad;
		}
	}
	if (r.pos != r.len)
		goto bad;
	cpu_flush_tlb(cpu);
	ok = true;
	goto out;
bad:
	snprintf(err, errlen, "snapshot %u: malformed record at byte %zu", number, r.pos);
out:
	free(raw);
	free(file);
	return ok;
}
