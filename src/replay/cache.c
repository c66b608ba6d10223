/*
 * cache.c - the in-memory snapshot cache of a replay session.
 *
 * Reverse execution goes back by restoring a snapshot at or before the
 * target and replaying forwards; the trace's own snapshots are far apart
 * (2^26 instructions), so the engine keeps its own, every @interval
 * instructions, as it replays.
 *
 * An entry holds what the engine needs apart from RAM (an opaque blob:
 * CPU state, memory map, journal position) and an undo log: the contents,
 * at the previous entry, of every RAM page that changed between the
 * previous entry and this one.  Page contents at the entry itself are not
 * kept; instead a mirror - a copy of RAM as it was at the anchor entry -
 * together with the DIRTY_SNAPSHOT bits gives the pages that changed since
 * the anchor and what they held.  Going back from the anchor to entry j
 * puts the dirty pages back from the mirror, then applies the undo logs of
 * the anchor, the entry before it, ..., down to j + 1.  Undo logs only
 * chain between entries taken one after the other by a replay that saw
 * every RAM change through the dirty bits: when RAM changes behind them
 * (a trace snapshot loaded, a block of RAM defined by the journal), the
 * mirror is copied afresh and the next entry starts a new chain.
 *
 * Over the memory budget, entries are thinned where they are densest, by
 * merging an entry's undo log into the next one's: the spacing grows
 * evenly, and every position keeps a bounded replay distance.
 */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

typedef struct CacheEntry {
	uint64_t icount;
	uint8_t *blob;
	size_t blob_len;
	bool linked; /* the undo log leads back to the previous entry */
	/* the undo log: pages sorted by key (block << 32 | page number) */
	uint64_t *keys;
	uint8_t *pages;
	size_t npages;
} CacheEntry;

struct RRCache {
	uint64_t interval;
	size_t max_bytes, bytes;
	CacheEntry *e;
	unsigned n, cap;
	int anchor; /* the entry the mirror holds, -1 if none */
	uint8_t **mirror;
	uint64_t *mirror_size;
	uint64_t **mirror_nz; /* per page: may hold non-zero bytes */
	unsigned nmirror;
};

static size_t entry_bytes(const CacheEntry *e)
{
	return sizeof(*e) + e->blob_len + e->npages * (PAGE_SIZE + sizeof(uint64_t));
}

static void entry_free(CacheEntry *e)
{
	free(e->blob);
	free(e->keys);
	free(e->pages);
}

RRCache *rr_cache_new(uint64_t interval, size_t max_bytes)
{
	RRCache *c = xcalloc(1, sizeof(*c));

	c->interval = interval ? interval : 1;
	c->max_bytes = max_bytes;
	c->anchor = -1;
	return c;
}

void rr_cache_free(RRCache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->n; i++)
		entry_free(&c->e[i]);
	for (unsigned i = 0; i < c->nmirror; i++) {
		free(c->mirror[i]);
		free(c->mirror_nz[i]);
	}
	free(c->mirror);
	free(c->mirror_nz);
	free(c->mirror_size);
	free(c->e);
	free(c);
}

uint64_t rr_cache_interval(const RRCache *c)
{
	return c->interval;
}

static bool page_is_zero(const uint8_t *p, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)p;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

static void mark_nz(RRCache *c, unsigned blk, uint64_t off)
{
	uint64_t page = off >> PAGE_BITS;

	c->mirror_nz[blk][page / 64] |= 1ull << (page % 64);
}

/*
 * Copy RAM block @i's page at @off into the mirror.  Zero pages are
 * common (RAM the guest never touched): they are only written where the
 * mirror may hold something else, so that the mirror's untouched pages
 * stay unallocated.
 */
static void mirror_page(RRCache *c, unsigned i, const uint8_t *host, uint64_t off, uint64_t len)
{
	uint64_t page = off >> PAGE_BITS;
	uint64_t *nz = &c->mirror_nz[i][page / 64], bit = 1ull << (page % 64);

	if (page_is_zero(host + off, len)) {
		if (*nz & bit)
			memset(c->mirror[i] + off, 0, len);
		*nz &= ~bit;
	} else {
		memcpy(c->mirror[i] + off, host + off, len);
		*nz |= bit;
	}
}

/* The mirror of RAM block @i (NULL for ROM), grown as blocks appear. */
static uint8_t *mirror_of(RRCache *c, const RRMemory *mem, unsigned i)
{
	const RRBlock *b = &mem->blocks.b[i];

	if (b->kind != RR_BLOCK_RAM)
		return NULL;
	if (i >= c->nmirror) {
		c->mirror = xrealloc(c->mirror, (i + 1) * sizeof(*c->mirror));
		c->mirror_size = xrealloc(c->mirror_size, (i + 1) * sizeof(*c->mirror_size));
		c->mirror_nz = xrealloc(c->mirror_nz, (i + 1) * sizeof(*c->mirror_nz));
		for (unsigned k = c->nmirror; k <= i; k++) {
			c->mirror[k] = NULL;
			c->mirror_size[k] = 0;
			c->mirror_nz[k] = NULL;
		}
		c->nmirror = i + 1;
	}
	if (!c->mirror[i]) {
		uint64_t pages = (b->size + PAGE_SIZE - 1) >> PAGE_BITS;

		c->mirror[i] = xcalloc(1, b->size);
		c->mirror_size[i] = b->size;
		c->mirror_nz[i] = xcalloc((pages + 63) / 64, sizeof(uint64_t));
		for (uint64_t off = 0; off < b->size; off += PAGE_SIZE)
			mirror_page(c, i, mr_host(b->mr), off,
				    b->size - off < PAGE_SIZE ? b->size - off : PAGE_SIZE);
	}
	return c->mirror[i];
}

void rr_cache_untracked(RRCache *c, RRMemory *mem)
{
	for (unsigned i = 0; i < mem->blocks.n; i++) {
		const RRBlock *b = &mem->blocks.b[i];
		bool fresh = i >= c->nmirror || !c->mirror[i];
		uint8_t *m = mirror_of(c, mem, i);

		if (!m)
			continue;
		for (uint64_t off = 0; off < b->size && !fresh; off += PAGE_SIZE)
			mirror_page(c, i, mr_host(b->mr), off,
				    b->size - off < PAGE_SIZE ? b->size - off : PAGE_SIZE);
		ram_test_and_clear_dirty(b->mr, 0, b->size, DIRTY_SNAPSHOT);
	}
	c->anchor = -1;
}

/*
 * Bring the mirror up to RAM, clearing the dirty bits; with @undo, the
 * mirror's old contents of each changed page go into it first.
 */
static void sync_mirror(RRCache *c, RRMemory *mem, CacheEntry *undo)
{
	size_t cap = 0;

	for (unsigned i = 0; i < mem->blocks.n; i++) {
		const RRBlock *b = &mem->blocks.b[i];
		uint8_t *m = mirror_of(c, mem, i), *host = mr_host(b->mr);

		if (!m)
			continue;
		for (uint64_t off = ram_find_dirty(b->mr, 0, DIRTY_SNAPSHOT); off < b->size;
		     off = ram_find_dirty(b->mr, off + PAGE_SIZE, DIRTY_SNAPSHOT)) {
			uint64_t len = b->size - off < PAGE_SIZE ? b->size - off : PAGE_SIZE;

			ram_test_and_clear_dirty(b->mr, off, len, DIRTY_SNAPSHOT);
			if (undo) {
				if (undo->npages == cap) {
					cap = cap ? cap * 2 : 64;
					undo->keys = xrealloc(undo->keys, cap * sizeof(*undo->keys));
					undo->pages = xrealloc(undo->pages, cap * PAGE_SIZE);
				}
				undo->keys[undo->npages] = (uint64_t)i << 32 | off >> PAGE_BITS;
				memcpy(undo->pages + undo->npages * PAGE_SIZE, m + off, len);
				undo->npages++;
			}
			memcpy(m + off, host + off, len);
			mark_nz(c, i, off);
		}
	}
}

/*
 * Fold entry @k's undo log into entry k + 1's: the result leads from
 * entry k - 1 to k + 1.  A page in both keeps k's (the older) contents.
 */
static void merge_into_next(CacheEntry *k, CacheEntry *next)
{
	size_t n = k->npages + next->npages, a = 0, b = 0, o = 0;
	uint64_t *keys = xmalloc((n ? n : 1) * sizeof(*keys));
	uint8_t *pages = xmalloc((n ? n : 1) * PAGE_SIZE);

	while (a < k->npages || b < next->npages) {
		const uint8_t *src;

		if (b == next->npages || (a < k->npages && k->keys[a] <= next->keys[b])) {
			if (b < next->npages && k->keys[a] == next->keys[b])
				b++;
			keys[o] = k->keys[a];
			src = k->pages + a++ * PAGE_SIZE;
		} else {
			keys[o] = next->keys[b];
			src = next->pages + b++ * PAGE_SIZE;
		}
		memcpy(pages + o++ * PAGE_SIZE, src, PAGE_SIZE);
	}
	free(next->keys);
	free(next->pages);
	next->keys = keys;
	next->pages = pages;
	next->npages = o;
	next->linked = next->linked && k->linked;
}

/* Over budget: drop entries where they are densest (never the first, the
 * last or the anchor). */
static void thin(RRCache *c)
{
	while (c->bytes > c->max_bytes && c->n > 3) {
		int best = -1;
		uint64_t best_gap = UINT64_MAX;

		for (unsigned k = 1; k + 1 < c->n; k++) {
			uint64_t gap = c->e[k + 1].icount - c->e[k - 1].icount;

			if ((int)k != c->anchor && gap < best_gap) {
				best_gap = gap;
				best = (int)k;
			}
		}
		if (best < 0)
			return;
		c->bytes -= entry_bytes(&c->e[best]) + entry_bytes(&c->e[best + 1]);
		merge_into_next(&c->e[best], &c->e[best + 1]);
		c->bytes += entry_bytes(&c->e[best + 1]);
		entry_free(&c->e[best]);
		memmove(&c->e[best], &c->e[best + 1], (c->n - (unsigned)best - 1) * sizeof(*c->e));
		c->n--;
		if (c->anchor > best)
			c->anchor--;
	}
}

void rr_cache_pass(RRCache *c, uint64_t icount, RRMemory *mem, const void *blob, size_t len)
{
	CacheEntry *e;

	for (unsigned k = 0; k < c->n; k++) {
		if (c->e[k].icount == icount) {
			/* an entry we had: re-anchor there (same RAM, replay is exact) */
			sync_mirror(c, mem, NULL);
			c->anchor = (int)k;
			return;
		}
	}
	if (c->n && icount < c->e[c->n - 1].icount)
		return; /* between entries: they only grow at the end */
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->e = xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	e = &c->e[c->n];
	memset(e, 0, sizeof(*e));
	e->icount = icount;
	e->linked = c->n > 0 && c->anchor == (int)c->n - 1;
	sync_mirror(c, mem, e->linked ? e : NULL);
	e->blob = xmalloc(len ? len : 1);
	memcpy(e->blob, blob, len);
	e->blob_len = len;
	c->anchor = (int)c->n++;
	c->bytes += entry_bytes(e);
	thin(c);
}

/* The latest entry at or before @target that the undo logs reach from the anchor. */
static int find(const RRCache *c, uint64_t target)
{
	int j;

	if (c->anchor < 0)
		return -1;
	for (j = c->anchor; j >= 0 && c->e[j].icount > target; j--)
		if (!c->e[j].linked)
			return -1;
	return j;
}

bool rr_cache_find(const RRCache *c, uint64_t target, uint64_t *icount)
{
	int j = find(c, target);

	if (j < 0)
		return false;
	*icount = c->e[j].icount;
	return true;
}

static void put_page(RRCache *c, RRMemory *mem, uint64_t key, const uint8_t *data)
{
	unsigned blk = (unsigned)(key >> 32);
	uint64_t off = (key & 0xffffffffu) << PAGE_BITS;
	const RRBlock *b;
	uint64_t len;

	if (blk >= mem->blocks.n || blk >= c->nmirror || !c->mirror[blk])
		return;
	b = &mem->blocks.b[blk];
	len = b->size - off < PAGE_SIZE ? b->size - off : PAGE_SIZE;
	memcpy(mr_host(b->mr) + off, data, len);
	memcpy(c->mirror[blk] + off, data, len);
	mark_nz(c, blk, off);
}

const uint8_t *rr_cache_restore(RRCache *c, uint64_t target, RRMemory *mem, size_t *len)
{
	int j = find(c, target);

	if (j < 0)
		return NULL;
	/* RAM back to the anchor: the pages changed since come from the mirror */
	for (unsigned i = 0; i < mem->blocks.n && i < c->nmirror; i++) {
		const RRBlock *b = &mem->blocks.b[i];
		uint8_t *host = mr_host(b->mr);

		if (!c->mirror[i])
			continue;
		for (uint64_t off = ram_find_dirty(b->mr, 0, DIRTY_SNAPSHOT); off < b->size;
		     off = ram_find_dirty(b->mr, off + PAGE_SIZE, DIRTY_SNAPSHOT)) {
			uint64_t n = b->size - off < PAGE_SIZE ? b->size - off : PAGE_SIZE;

			ram_test_and_clear_dirty(b->mr, off, n, DIRTY_SNAPSHOT);
			memcpy(host + off, c->mirror[i] + off, n);
		}
	}
	/* then back through the undo logs to entry j */
	for (int k = c->anchor; k > j; k--)
		for (size_t p = 0; p < c->e[k].npages; p++)
			put_page(c, mem, c->e[k].keys[p], c->e[k].pages + p * PAGE_SIZE);
	c->anchor = j;
	*len = c->e[j].blob_len;
	return c->e[j].blob;
}

void rr_cache_info(const RRCache *c, ReplayCacheInfo *info)
{
	size_t mirror = 0;

	/* the mirror's pages that hold data: the untouched ones cost nothing */
	for (unsigned i = 0; i < c->nmirror; i++) {
		uint64_t pages = (c->mirror_size[i] + PAGE_SIZE - 1) >> PAGE_BITS;

		for (uint64_t w = 0; c->mirror[i] && w < (pages + 63) / 64; w++)
			mirror += (size_t)__builtin_popcountll(c->mirror_nz[i][w]) * PAGE_SIZE;
	}
	memset(info, 0, sizeof(*info));
	info->entries = c->n;
	info->bytes = c->bytes;
	info->mirror_bytes = mirror;
	info->max_bytes = c->max_bytes;
	info->interval = c->interval;
	if (c->n) {
		info->first_icount = c->e[0].icount;
		info->last_icount = c->e[c->n - 1].icount;
	}
}
