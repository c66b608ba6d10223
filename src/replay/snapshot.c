/*
 * snapshot.c - machine state for record and replay: the memory-map payload,
 * RAM hashes and snapshot files.
 *
 * A snapshot file is a 64-byte header and one zstd frame of records: the
 * blocks with a table of page ids each, the flat view, the CPU state and
 * its hashes (traces/FORMAT.md, "Snapshot files").  Page contents live in
 * the trace's page store (pages.h), each distinct page once: a snapshot
 * costs the pages dirtied since the previous one that are new, plus its
 * tables, and loads on its own.
 */
#include "replay.h"
#include "journal.h"
#include "pages.h"

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
			mr_begin_update(mem->root);
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
			mr_commit_update(mem->root);
	}
	if (r.pos != r.len)
		goto bad;
	return true;
bad:
	snprintf(err, errlen, "malformed memory map payload (byte %zu of %zu)", r.pos, len);
	return false;
}

/* ---- snapshot files ---------------------------------------------------------------- */

/*
 * A snapshot file is a 64-byte header and one zstd frame of records.  The
 * header names the recording, the snapshot's number and icount, and
 * carries the CRC32C of the compressed body and of itself: every byte is
 * checked.  The body holds every block, a table of page ids per block
 * (pages.h: the contents are in the page store), the flat view, the CPU
 * state and what that state hashes to, so that `replay --verify` can check
 * a snapshot it never loads and compare one it passes with the replay.
 */
#define SNAP_MAGIC "FBSNAP\0\0"
#define SNAP_VERSION 2
#define SNAP_HEADER  64
#define SNAP_MAX_RAW (256u << 20)

enum {
	REC_BLOCK = 'B',
	REC_TABLE = 'T',
	REC_VIEW = 'M',
	REC_CPU = 'C',
	REC_HASH = 'H',
	REC_END = 'E'
};

static uint64_t block_pages(uint64_t size)
{
	return (size + PAGE_SIZE - 1) >> PAGE_BITS;
}

/* Page @pg of @b, padded with zeros to a whole page in @tmp if short. */
static const uint8_t *block_page(const RRBlock *b, uint64_t pg, uint8_t *tmp)
{
	uint64_t off = pg << PAGE_BITS;
	const uint8_t *p = mr_host(b->mr) + off;

	if (b->size - off >= PAGE_SIZE)
		return p;
	memset(tmp, 0, PAGE_SIZE);
	memcpy(tmp, p, (size_t)(b->size - off));
	return tmp;
}

/*
 * The memory digest: every non-zero page's keyed hash (pages.h), folded in
 * block and page order.  The recorder computes it from the hashes it has
 * anyway; a replay from the pages themselves.
 */
static uint64_t digest_fold(uint64_t d, unsigned blk, uint64_t pg, uint64_t h)
{
	d ^= ((uint64_t)blk << 40 | pg) * 0x9e3779b97f4a7c15ull;
	d = (d ^ h) * 0xc2b2ae3d27d4eb4full;
	return d ^ (d >> 29);
}

uint64_t rr_mem_digest(const RRBlocks *blocks, const uint8_t id[TRACE_ID_LEN])
{
	uint64_t d = 0x6a09e667f3bcc908ull;
	uint8_t tmp[PAGE_SIZE];

	for (unsigned i = 0; i < blocks->n; i++) {
		const RRBlock *b = &blocks->b[i];

		for (uint64_t pg = 0; pg < block_pages(b->size); pg++) {
			uint64_t h = ps_hash(id, block_page(b, pg, tmp));

			if (h)
				d = digest_fold(d, i, pg, h);
		}
	}
	return d;
}

/* ---- writing --------------------------------------------------------------------------- */

struct RRSnapWriter {
	char *dir;
	uint8_t id[TRACE_ID_LEN];
	PageStore *ps;
	uint64_t **ids;	  /* per block: its page ids at the last snapshot (NULL: none yet) */
	uint64_t *clears; /* per block: ram_clears() at the last snapshot */
	unsigned nids;
};

RRSnapWriter *rr_snapwriter_new(const char *dir, const uint8_t id[TRACE_ID_LEN], char *err,
				size_t errlen)
{
	RRSnapWriter *w = xcalloc(1, sizeof(*w));

	w->ps = ps_create(dir, id, err, errlen);
	if (!w->ps) {
		free(w);
		return NULL;
	}
	w->dir = xstrdup(dir);
	memcpy(w->id, id, TRACE_ID_LEN);
	return w;
}

void rr_snapwriter_free(RRSnapWriter *w)
{
	if (!w)
		return;
	ps_close(w->ps);
	for (unsigned i = 0; i < w->nids; i++)
		free(w->ids[i]);
	free(w->ids);
	free(w->clears);
	free(w->dir);
	free(w);
}

/* The RAM pages of block @i dirtied since the last snapshot, found a
 * dirty page at a time (after a reset only the loader's pages are). */
static bool update_dirty(RRSnapWriter *w, unsigned i, const RRBlock *b)
{
	uint8_t tmp[PAGE_SIZE];

	for (uint64_t off = ram_find_dirty(b->mr, 0, DIRTY_SNAPSHOT); off < b->size;
	     off = ram_find_dirty(b->mr, off + PAGE_SIZE, DIRTY_SNAPSHOT)) {
		uint64_t pg = off >> PAGE_BITS;

		ram_test_and_clear_dirty(b->mr, off, PAGE_SIZE, DIRTY_SNAPSHOT);
		if (!ps_put(w->ps, block_page(b, pg, tmp), &w->ids[i][pg]))
			return false;
	}
	return true;
}

/*
 * Bring block @i's ids up to date: every page when the block is new to the
 * writer, else the RAM pages dirtied since the last snapshot - after making
 * them all zero if RAM was cleared since (a reset: ram_clears()).  ROM never
 * changes from the guest's side; @rescan (a reset reloaded it) looks at it
 * again.
 */
static bool update_ids(RRSnapWriter *w, unsigned i, const RRBlock *b, bool rescan)
{
	uint64_t pages = block_pages(b->size);
	uint8_t tmp[PAGE_SIZE];
	bool all = i >= w->nids || !w->ids[i];

	if (i >= w->nids) {
		w->ids = xrealloc(w->ids, (i + 1) * sizeof(*w->ids));
		w->clears = xrealloc(w->clears, (i + 1) * sizeof(*w->clears));
		memset(w->ids + w->nids, 0, (i + 1 - w->nids) * sizeof(*w->ids));
		w->nids = i + 1;
	}
	if (!w->ids[i])
		w->ids[i] = xcalloc(pages, sizeof(uint64_t));
	if (b->kind == RR_BLOCK_RAM && !all && w->clears[i] != ram_clears(b->mr))
		memset(w->ids[i], 0, pages * sizeof(uint64_t));
	w->clears[i] = ram_clears(b->mr);
	if (b->kind == RR_BLOCK_RAM && !all)
		return update_dirty(w, i, b);
	if (!all && !rescan)
		return true;
	for (uint64_t pg = 0; pg < pages; pg++)
		if (!ps_put(w->ps, block_page(b, pg, tmp), &w->ids[i][pg]))
			return false;
	if (b->kind == RR_BLOCK_RAM)
		ram_test_and_clear_dirty(b->mr, 0, b->size, DIRTY_SNAPSHOT);
	return true;
}

/* The page table of one block: runs of zero pages and of stored pages,
 * the ids of the latter as differences (varints, zigzag). */
static void encode_table(RRBuf *out, const uint64_t *ids, uint64_t pages)
{
	uint64_t pg = 0, prev = 0;

	while (pg < pages) {
		uint64_t zeros = 0, run = 0;

		while (pg + zeros < pages && !ids[pg + zeros])
			zeros++;
		while (pg + zeros + run < pages && ids[pg + zeros + run])
			run++;
		rrbuf_varint(out, zeros);
		rrbuf_varint(out, run);
		for (uint64_t k = 0; k < run; k++) {
			int64_t d = (int64_t)(ids[pg + zeros + k] - prev);

			rrbuf_varint(out, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
			prev = ids[pg + zeros + k];
		}
		pg += zeros + run;
	}
}

/*
 * The memory digest now, without storing anything: the writer's ids for
 * pages clean since the last snapshot, the pages themselves for the rest
 * (the final check of a recording: no read of every page of RAM).
 */
uint64_t rr_snapwriter_digest(RRSnapWriter *w, const RRBlocks *blocks)
{
	uint64_t d = 0x6a09e667f3bcc908ull;
	uint8_t tmp[PAGE_SIZE];

	for (unsigned i = 0; i < blocks->n; i++) {
		const RRBlock *b = &blocks->b[i];
		bool known = i < w->nids && w->ids[i];
		bool cleared =
		    known && b->kind == RR_BLOCK_RAM && w->clears[i] != ram_clears(b->mr);

		for (uint64_t pg = 0; pg < block_pages(b->size); pg++) {
			uint64_t h;

			if (!known || (b->kind == RR_BLOCK_RAM &&
				       ram_is_dirty(b->mr, pg << PAGE_BITS, DIRTY_SNAPSHOT)))
				h = ps_hash(w->id, block_page(b, pg, tmp));
			else
				h = cleared ? 0 : ps_id_hash(w->ps, w->ids[i][pg]);
			if (h)
				d = digest_fold(d, i, pg, h);
		}
	}
	return d;
}

/* What the memory digest of the snapshot is, from the writer's ids. */
static uint64_t writer_digest(RRSnapWriter *w, const RRBlocks *blocks)
{
	uint64_t d = 0x6a09e667f3bcc908ull;

	for (unsigned i = 0; i < blocks->n; i++)
		for (uint64_t pg = 0; pg < block_pages(blocks->b[i].size); pg++)
			if (w->ids[i][pg])
				d = digest_fold(d, i, pg, ps_id_hash(w->ps, w->ids[i][pg]));
	return d;
}

static void put_record(RRBuf *b, uint8_t tag, const void *data, size_t n)
{
	uint8_t len[4];

	rrbuf_u8(b, tag);
	st32(len, (uint32_t)n);
	rrbuf_put(b, len, 4);
	rrbuf_put(b, data, n);
}

static void put_u64(RRBuf *b, uint64_t v)
{
	uint8_t x[8];

	st64(x, v);
	rrbuf_put(b, x, 8);
}

/* Header + compressed @body into DIR/snap-NNNNNN.fbs; the file's size or 0. */
static uint64_t write_file(RRSnapWriter *w, unsigned number, uint64_t icount, const RRBuf *body,
			   char *err, size_t errlen)
{
	char path[4096];
	size_t bound = ZSTD_compressBound(body->len), csize;
	uint8_t *buf = xmalloc(SNAP_HEADER + bound);
	uint64_t size = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/" RR_SNAP_FMT, w->dir, number);
	csize = ZSTD_compress(buf + SNAP_HEADER, bound, body->p, body->len, 3);
	if (ZSTD_isError(csize)) {
		snprintf(err, errlen, "%s: zstd: %s", path, ZSTD_getErrorName(csize));
		goto out;
	}
	memset(buf, 0, SNAP_HEADER);
	memcpy(buf, SNAP_MAGIC, 8);
	st32(buf + 8, SNAP_VERSION);
	st32(buf + 16, number);
	st64(buf + 24, icount);
	memcpy(buf + 32, w->id, TRACE_ID_LEN);
	st32(buf + 48, (uint32_t)csize);
	st32(buf + 52, (uint32_t)body->len);
	st32(buf + 56, crc32c(0, buf + SNAP_HEADER, csize));
	st32(buf + 60, crc32c(0, buf, 60));
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, SNAP_HEADER + csize, f) != SNAP_HEADER + csize || fflush(f) != 0) {
		snprintf(err, errlen, "%s: cannot write the snapshot: %s", path, strerror(errno));
		if (f)
			fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	size = SNAP_HEADER + csize;
out:
	free(buf);
	return size;
}

uint64_t rr_snapshot_write(RRSnapWriter *w, unsigned number, bool rescan, CPU *cpu,
			   AddressSpace *as, RRBlocks *blocks, char *err, size_t errlen)
{
	RRBuf body = {0}, view = {0}, table = {0};
	size_t cs = cpu_state_size();
	uint8_t *state = xmalloc(cs);
	uint64_t size = 0;

	/* Number the blocks that appeared in the map, then their pages. */
	rr_view_encode(as, blocks, &view, false);
	for (unsigned i = 0; i < blocks->n; i++) {
		if (!update_ids(w, i, &blocks->b[i], rescan)) {
			snprintf(err, errlen, "%s", ps_error(w->ps));
			goto out;
		}
	}
	if (!ps_flush(w->ps)) {
		snprintf(err, errlen, "%s", ps_error(w->ps));
		goto out;
	}
	for (unsigned i = 0; i < blocks->n; i++) {
		uint8_t rec[13];

		rec[0] = REC_BLOCK;
		st32(rec + 1, i);
		st64(rec + 5, blocks->b[i].size);
		rrbuf_put(&body, rec, 13);
		rrbuf_u8(&body, blocks->b[i].kind);
		table.len = 0;
		st32(rec, i);
		rrbuf_put(&table, rec, 4);
		encode_table(&table, w->ids[i], block_pages(blocks->b[i].size));
		put_record(&body, REC_TABLE, table.p, table.len);
	}
	put_record(&body, REC_VIEW, view.p, view.len);
	cpu_state_save(cpu, state);
	put_record(&body, REC_CPU, state, cs);
	rrbuf_u8(&body, REC_HASH);
	put_u64(&body, cpu_state_hash(cpu));
	put_u64(&body, writer_digest(w, blocks));
	rrbuf_u8(&body, REC_END);
	size = write_file(w, number, cpu_icount(cpu), &body, err, errlen);
out:
	cpu_flush_tlb(cpu); /* dirty bits were cleared: the CPU must mark again */
	free(body.p);
	free(view.p);
	free(table.p);
	free(state);
	return size;
}

/* ---- reading --------------------------------------------------------------------------- */

/* A snapshot's body, parsed: pointers into the decompressed bytes. */
typedef struct SnapBody {
	uint8_t *raw;
	unsigned nblocks;
	struct {
		uint8_t kind;
		uint64_t size;
		const uint8_t *table;
		size_t table_len;
	} * blocks;
	const uint8_t *view, *cpu;
	size_t view_len, cpu_len;
	uint64_t cpu_hash, digest;
} SnapBody;

static void body_free(SnapBody *b)
{
	free(b->raw);
	free(b->blocks);
	memset(b, 0, sizeof(*b));
}

static bool get32(RRReader *r, uint32_t *v)
{
	const uint8_t *p = rr_get_bytes(r, 4);

	if (p)
		*v = ld32(p);
	return p != NULL;
}

static bool get64(RRReader *r, uint64_t *v)
{
	const uint8_t *p = rr_get_bytes(r, 8);

	if (p)
		*v = ld64(p);
	return p != NULL;
}

/* Records in order: blocks with their tables, the view, the CPU, the hashes. */
static bool parse_body(SnapBody *b, size_t len)
{
	RRReader r = {b->raw, len, 0};
	bool have_hash = false;
	uint8_t tag;

	for (;;) {
		uint32_t n, blk;
		const uint8_t *p;

		if (!rr_get_u8(&r, &tag))
			return false;
		switch (tag) {
		case REC_BLOCK: {
			uint64_t size;
			uint8_t kind;

			if (!get32(&r, &blk) || !get64(&r, &size) || !rr_get_u8(&r, &kind) ||
			    blk != b->nblocks || b->nblocks >= 4096 || !size ||
			    size > (1ull << 32) || (kind != RR_BLOCK_RAM && kind != RR_BLOCK_ROM))
				return false;
			b->blocks = xrealloc(b->blocks, (b->nblocks + 1) * sizeof(*b->blocks));
			b->blocks[b->nblocks].kind = kind;
			b->blocks[b->nblocks].size = size;
			b->blocks[b->nblocks].table = NULL;
			b->nblocks++;
			break;
		}
		case REC_TABLE:
			if (!get32(&r, &n) || n < 4 || !(p = rr_get_bytes(&r, n)) ||
			    (blk = ld32(p)) >= b->nblocks || b->blocks[blk].table)
				return false;
			b->blocks[blk].table = p + 4;
			b->blocks[blk].table_len = n - 4;
			break;
		case REC_VIEW:
		case REC_CPU:
			if (!get32(&r, &n) || !(p = rr_get_bytes(&r, n)) ||
			    (tag == REC_VIEW ? b->view : b->cpu))
				return false;
			if (tag == REC_VIEW) {
				b->view = p;
				b->view_len = n;
			} else {
				b->cpu = p;
				b->cpu_len = n;
			}
			break;
		case REC_HASH:
			if (have_hash || !get64(&r, &b->cpu_hash) || !get64(&r, &b->digest))
				return false;
			have_hash = true;
			break;
		case REC_END:
			for (unsigned i = 0; i < b->nblocks; i++)
				if (!b->blocks[i].table)
					return false;
			return r.pos == len && b->view && b->cpu && have_hash;
		default:
			return false;
		}
	}
}

/* Read and check the file of snapshot @number: header, and the body into @b. */
static bool read_snapshot(const char *dir, unsigned number, const uint8_t id[TRACE_ID_LEN],
			  RRSnapHeader *h, SnapBody *b, char *err, size_t errlen)
{
	char path[4096], rerr[256], hex[2 * TRACE_ID_LEN + 1];
	uint8_t *buf;
	size_t len;
	unsigned long long rsize;

	snprintf(path, sizeof(path), "%s/" RR_SNAP_FMT, dir, number);
	buf = read_file(path, &len, rerr);
	if (!buf) {
		snprintf(err, errlen, "%s", rerr);
		return false;
	}
	if (len < SNAP_HEADER || memcmp(buf, SNAP_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s: not a flashback snapshot", path);
		goto bad;
	}
	if (crc32c(0, buf, 60) != ld32(buf + 60)) {
		snprintf(err, errlen, "%s: header checksum mismatch (bytes 0-59 are damaged)",
			 path);
		goto bad;
	}
	if (ld32(buf + 8) != SNAP_VERSION || ld32(buf + 12) || ld32(buf + 20)) {
		snprintf(err, errlen, "%s: snapshot version %u is not %u", path, ld32(buf + 8),
			 SNAP_VERSION);
		goto bad;
	}
	if (memcmp(buf + 32, id, TRACE_ID_LEN) != 0) {
		trace_id_hex(buf + 32, hex);
		snprintf(err, errlen, "%s belongs to another recording (%s)", path, hex);
		goto bad;
	}
	if (ld32(buf + 16) != number) {
		snprintf(err, errlen, "%s holds snapshot %u, not %u", path, ld32(buf + 16), number);
		goto bad;
	}
	if (len != SNAP_HEADER + (uint64_t)ld32(buf + 48) || ld32(buf + 52) > SNAP_MAX_RAW) {
		snprintf(err, errlen, "%s: %zu bytes, the header says %u + %d", path, len,
			 ld32(buf + 48), SNAP_HEADER);
		goto bad;
	}
	if (crc32c(0, buf + SNAP_HEADER, len - SNAP_HEADER) != ld32(buf + 56)) {
		snprintf(err, errlen, "%s: checksum mismatch in the body (bytes %d-%zu)", path,
			 SNAP_HEADER, len - 1);
		goto bad;
	}
	h->number = number;
	h->icount = ld64(buf + 24);
	h->size = len;
	if (b) {
		memset(b, 0, sizeof(*b));
		rsize = ZSTD_getFrameContentSize(buf + SNAP_HEADER, len - SNAP_HEADER);
		if (rsize != ld32(buf + 52)) {
			snprintf(err, errlen, "%s: the body is not the size the header says", path);
			goto bad;
		}
		b->raw = xmalloc(rsize ? rsize : 1);
		if (ZSTD_decompress(b->raw, rsize, buf + SNAP_HEADER, len - SNAP_HEADER) != rsize) {
			snprintf(err, errlen, "%s: the body does not decompress", path);
			body_free(b);
			goto bad;
		}
		if (!parse_body(b, (size_t)rsize)) {
			snprintf(err, errlen, "%s: malformed body", path);
			body_free(b);
			goto bad;
		}
	}
	free(buf);
	return true;
bad:
	free(buf);
	return false;
}

bool rr_snapshot_header(const char *dir, unsigned number, const uint8_t id[TRACE_ID_LEN],
			RRSnapHeader *h, char *err, size_t errlen)
{
	return read_snapshot(dir, number, id, h, NULL, err, errlen);
}

/* One stored page of a snapshot: where it goes and which it is. */
typedef struct PageRef {
	uint64_t id;
	uint32_t blk;
	uint32_t pg;
} PageRef;

static int cmp_ref(const void *a, const void *b)
{
	const PageRef *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Decode block @blk's table, appending its stored pages to @refs. */
static bool decode_table(const SnapBody *b, unsigned blk, PageRef **refs, size_t *n, size_t *cap)
{
	RRReader r = {b->blocks[blk].table, b->blocks[blk].table_len, 0};
	uint64_t pages = block_pages(b->blocks[blk].size), pg = 0, id = 0;

	while (pg < pages) {
		uint64_t zeros, run, z;

		if (!rr_get_varint(&r, &zeros) || !rr_get_varint(&r, &run) || zeros > pages - pg ||
		    run > pages - pg - zeros || (!zeros && !run))
			return false;
		pg += zeros;
		for (uint64_t k = 0; k < run; k++, pg++) {
			if (!rr_get_varint(&r, &z))
				return false;
			id += (z >> 1) ^ (0 - (z & 1));
			if (!id)
				return false;
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 1024;
				*refs = xrealloc(*refs, *cap * sizeof(**refs));
			}
			(*refs)[(*n)++] = (PageRef){id, blk, (uint32_t)pg};
		}
	}
	return r.pos == r.len;
}

bool rr_snapshot_load(const char *dir, unsigned number, const uint8_t id[TRACE_ID_LEN],
		      PageStore *ps, CPU *cpu, RRMemory *mem, char *err, size_t errlen)
{
	RRSnapHeader h;
	SnapBody b;
	PageRef *refs = NULL;
	size_t n = 0, cap = 0;
	uint8_t page[PAGE_SIZE];
	bool ok = false;

	if (!read_snapshot(dir, number, id, &h, &b, err, errlen))
		return false;
	for (unsigned i = 0; i < b.nblocks; i++) {
		if (!decode_table(&b, i, &refs, &n, &cap)) {
			snprintf(err, errlen, "snapshot %u: malformed page table of block %u",
				 number, i);
			goto out;
		}
	}
	for (unsigned i = 0; i < b.nblocks; i++) {
		if (!define_block(mem, i, b.blocks[i].kind, b.blocks[i].size, NULL, err, errlen))
			goto out;
		if (b.blocks[i].kind == RR_BLOCK_RAM)
			ram_clear(mem->blocks.b[i].mr); /* gives the pages back: cheap */
		else
			memset(mr_host(mem->blocks.b[i].mr), 0, (size_t)b.blocks[i].size);
	}
	/* in id order: each frame of the page store is decoded once */
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t k = 0; k < n; k++) {
		const RRBlock *blk = &mem->blocks.b[refs[k].blk];
		uint64_t off = (uint64_t)refs[k].pg << PAGE_BITS;
		size_t len = blk->size - off < PAGE_SIZE ? (size_t)(blk->size - off) : PAGE_SIZE;

		if (!ps_get(ps, refs[k].id, page)) {
			snprintf(err, errlen, "snapshot %u: %s", number, ps_error(ps));
			goto out;
		}
		memcpy(mr_host(blk->mr) + off, page, len);
		if (blk->kind == RR_BLOCK_RAM)
			ram_mark_dirty(blk->mr, off, len);
	}
	if (!rr_view_apply(mem, b.view, b.view_len, err, errlen))
		goto out;
	if (!cpu_state_load(cpu, b.cpu, b.cpu_len)) {
		snprintf(err, errlen, "snapshot %u: the CPU state is of another version or damaged",
			 number);
		goto out;
	}
	cpu_flush_tlb(cpu);
	ok = true;
out:
	free(refs);
	body_free(&b);
	return ok;
}

bool rr_snapshot_state(const char *dir, unsigned number, const uint8_t id[TRACE_ID_LEN],
		       RRSnapState *st, char *err, size_t errlen)
{
	SnapBody b;

	memset(st, 0, sizeof(*st));
	if (!read_snapshot(dir, number, id, &st->header, &b, err, errlen))
		return false;
	st->cpu_hash = b.cpu_hash;
	st->digest = b.digest;
	st->cpu_len = b.cpu_len;
	st->cpu = xmalloc(b.cpu_len ? b.cpu_len : 1);
	memcpy(st->cpu, b.cpu, b.cpu_len);
	st->view_len = b.view_len;
	st->view = xmalloc(b.view_len ? b.view_len : 1);
	memcpy(st->view, b.view, b.view_len);
	body_free(&b);
	return true;
}

void rr_snapshot_state_free(RRSnapState *st)
{
	free(st->cpu);
	free(st->view);
	memset(st, 0, sizeof(*st));
}
