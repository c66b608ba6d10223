/*
 * cache.c - the in-memory snapshot cache of a replay session.
 *
 * Reverse execution goes back by restoring a snapshot at or before the
 * target and replaying forwards; the trace's own snapshots are far apart
 * (2^26 instructions), so the engine keeps its own, every @interval
 * instructions, as it replays.
 *
 * An entry holds what the engine needs apart from RAM (an opaque blob:
 * CPU state, memory map, journal position), a link to the entry replay
 * came from (prev) and an undo log: the contents, at prev, of every RAM
 * page that changed between prev and this entry.  Page contents at the
 * entry itself are not kept; instead a mirror - a copy of RAM as it was at
 * the anchor entry (the last one replay passed or restored) - together
 * with the DIRTY_SNAPSHOT bits gives the pages that changed since the
 * anchor and what they held.  Going back from the anchor to entry j puts
 * the dirty pages back from the mirror, then applies the undo logs along
 * the prev links down to j.  Links only exist where replay saw every RAM
 * change through the dirty bits: when RAM changes behind them (a trace
 * snapshot loaded, a block of RAM defined by the journal), the mirror is
 * copied afresh and the next entry starts a new chain.  Entries can be
 * added anywhere, so replay from a trace snapshot fills the gap after it
 * and the links form a tree; jumping back only follows prev links.
 *
 * Over the memory budget, entries are thinned where they are densest, by
 * merging an entry's undo log into its children's: the spacing grows
 * evenly, and every position keeps a bounded replay distance.
 */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

typedef struct CacheEntry {
	uint64_t icount;
	uint8_t *blob;
	size_t blob_len;
	struct CacheEntry *prev; /* where the undo log leads back to; NULL: nowhere */
	/* the undo log: pages sorted by key (block << 32 | page number) */
	uint64_t *keys;
	uint8_t *pages;
	size_t npages;
} CacheEntry;

struct RRCache {
	uint64_t interval;
	size_t max_bytes, bytes;
	CacheEntry **e; /* sorted by icount */
	unsigned n, cap;
	CacheEntry *anchor; /* the entry the mirror holds, NULL if none */
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
	free(e);
}

RRCache *rr_cache_new(uint64_t interval, size_t max_bytes)
{
	RRCache *c = xcalloc(1, sizeof(*c));

	c->interval = interval ? interval : 1;
	c->max_bytes = max_bytes;
	return c;
}

void rr_cache_free(RRCache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->n; i++)
		entry_free(c->e[i]);
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
	c->anchor = NULL;
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
 * Fold entry @k's undo log into its child @next's: the result leads from
 * k's prev to @next.  A page in both keeps k's (the older) contents.
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
	next->prev = k->prev;
}

/* Remove entry @k, its undo log going into its children's. */
static void drop_entry(RRCache *c, unsigned k)
{
	CacheEntry *victim = c->e[k];

	for (unsigned i = 0; i < c->n; i++) {
		CacheEntry *child = c->e[i];

		if (child->prev != victim)
			continue;
		c->bytes -= entry_bytes(child);
		if (victim->prev) {
			merge_into_next(victim, child);
		} else { /* the chain now starts at the child: its log is useless */
			child->prev = NULL;
			free(child->keys);
			free(child->pages);
			child->keys = NULL;
			child->pages = NULL;
			child->npages = 0;
		}
		c->bytes += entry_bytes(child);
	}
	c->bytes -= entry_bytes(victim);
	entry_free(victim);
	memmove(&c->e[k], &c->e[k + 1], (c->n - k - 1) * sizeof(*c->e));
	c->n--;
}

/* Over budget: drop entries where they are densest (never the first, the
 * last or the anchor). */
static void thin(RRCache *c)
{
	while (c->bytes > c->max_bytes && c->n > 3) {
		int best = -1;
		uint64_t best_gap = UINT64_MAX;

		for (unsigned k = 1; k + 1 < c->n; k++) {
			uint64_t gap = c->e[k + 1]->icount - c->e[k - 1]->icount;

			if (c->e[k] != c->anchor && gap < best_gap) {
				best_gap = gap;
				best = (int)k;
			}
		}
		if (best < 0)
			return;
		drop_entry(c, (unsigned)best);
	}
}

/* Where an entry at @icount goes (or is) in the sorted array. */
static unsigned lower_bound(const RRCache *c, uint64_t icount)
{
	unsigned lo = 0, hi = c->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (c->e[mid]->icount < icount)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void rr_cache_pass(RRCache *c, uint64_t icount, RRMemory *mem, const void *blob, size_t len)
{
	unsigned at = lower_bound(c, icount);
	CacheEntry *e;

	if (at < c->n && c->e[at]->icount == icount) {
		/* an entry we had: re-anchor there (same RAM, replay is exact) */
		sync_mirror(c, mem, NULL);
		c->anchor = c->e[at];
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->e = xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	e = xcalloc(1, sizeof(*e));
	e->icount = icount;
	e->prev = c->anchor;
	sync_mirror(c, mem, e->prev ? e : NULL);
	e->blob = xmalloc(len ? len : 1);
	memcpy(e->blob, blob, len);
	e->blob_len = len;
	memmove(&c->e[at + 1], &c->e[at], (c->n - at) * sizeof(*c->e));
	c->e[at] = e;
	c->n++;
	c->anchor = e;
	c->bytes += entry_bytes(e);
	thin(c);
}

/* The latest entry at or before @target that the undo logs reach from the anchor. */
static CacheEntry *find(const RRCache *c, uint64_t target)
{
	CacheEntry *j = c->anchor;

	while (j && j->icount > target)
		j = j->prev;
	return j;
}

bool rr_cache_find(const RRCache *c, uint64_t target, uint64_t *icount)
{
	CacheEntry *j = find(c, target);

	if (!j)
		return false;
	*icount = j->icount;
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
	CacheEntry *j = find(c, target);

	if (!j)
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
	/* then back along the prev links to entry j */
	for (CacheEntry *k = c->anchor; k != j; k = k->prev)
		for (size_t p = 0; p < k->npages; p++)
			put_page(c, mem, k->keys[p], k->pages + p * PAGE_SIZE);
	c->anchor = j;
	*len = j->blob_len;
	return j->blob;
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
		info->first_icount = c->e[0]->icount;
		info->last_icount = c->e[c->n - 1]->icount;
	}
}
