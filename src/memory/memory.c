/*
 * memory.c - the region tree, its flat views, dispatch and dirty pages.
 *
 * Regions form a tree: containers hold children placed at an offset with a
 * priority; aliases show a window of another region.  Each address space
 * flattens its tree into a sorted array of FlatRange.  Flattening walks the
 * tree depth first, visiting siblings from the highest priority down (and,
 * at equal priority, from the most recently added down), and lets each leaf
 * (RAM, ROM, MMIO) fill only the addresses that nothing visited before has
 * claimed.  That one rule gives all the overlap semantics: higher priority
 * wins, later wins on ties, and a container claims nothing by itself, so
 * lower siblings show through its holes.  Adjacent pieces of one region with
 * contiguous offsets are then merged.
 *
 * Any change to a tree rebuilds the flat view of every address space that
 * reaches the changed region (through children or aliases), bumps its
 * generation and calls its listeners.  mr_begin_update()/mr_commit_update()
 * batch several changes to one map (the tree under one root) into one
 * rebuild; the batch is the root's, so maps of other machines and replay
 * sessions in the process are not held back.
 *
 * Text formats (as_dump_tree / as_dump_flat), addresses as 16 hex digits:
 *
 *   address-space: NAME
 *     START-END (prio P, KIND): NAME
 *     START-END (prio P, KIND): alias NAME @TARGET TSTART-TEND
 *
 * one line per region, indented by two spaces per level (the root at one
 * level); START-END is the absolute, inclusive range; KIND is container, ram,
 * rom or i/o (an alias shows the kind of the region it finally resolves to,
 * TSTART-TEND is its window in TARGET); a disabled region ends with
 * " [disabled]".  Siblings are listed by offset, then priority (highest
 * first), then most recently added first.  Alias targets that are not part
 * of the tree follow, each after an empty line, as "memory-region: NAME" with
 * its subtree placed at 0.
 *
 *   FlatView for NAME
 *     START-END (prio P, KIND): NAME[ @OFFSET]
 *
 * one line per flat range, P being the priority of the leaf region in its
 * parent, " @OFFSET" (16 hex digits) present when the range does not start
 * at offset 0 of the region; "  (empty)" when nothing is mapped.
 */
#include "memory.h"
#include "../base/base.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Deeper nesting than this is an alias cycle: stop instead of recursing forever. */
#define MAX_DEPTH 32
/* Backings at least this large come straight from mmap, so that untouched RAM costs nothing. */
#define MMAP_THRESHOLD (64u << 10)

struct MemoryRegion {
	char *name;
	enum mr_kind kind;
	uint64_t size;
	bool enabled;

	/* Placement in the parent. */
	MemoryRegion *parent;
	uint64_t offset;
	int priority;
	uint64_t seq; /* order of mr_add calls: later wins at equal priority */
	int updates;  /* an address space's root: update batches open on its map */

	/* Container: children sorted by priority, then seq, both descending. */
	MemoryRegion **children;
	size_t nchildren, cap;

	/* RAM and ROM. */
	uint8_t *host;
	bool mapped; /* host came from mmap */
	uint64_t *dirty[DIRTY_CLIENTS];
	uint64_t clears; /* ram_clear() calls so far */
	uint64_t marks;	 /* times pages were marked dirty (ram_marks) */

	/* MMIO. */
	const MemoryRegionOps *ops;
	void *opaque;

	/* Alias. */
	MemoryRegion *target;
	uint64_t alias_offset;
};

struct listener {
	ASListener *fn;
	void *opaque;
};

struct AddressSpace {
	char *name;
	MemoryRegion *root;
	FlatRange *ranges;
	size_t nranges;
	size_t last_hit; /* index of the range the last lookup found */
	uint64_t generation;
	bool stale; /* changed during an update batch */
	struct listener *listeners;
	size_t nlisteners;
	AddressSpace *next;
};

static AddressSpace *all_spaces;
static uint64_t add_counter;

/* ---- regions ------------------------------------------------------------ */

static MemoryRegion *region_new(const char *name, enum mr_kind kind, uint64_t size)
{
	MemoryRegion *mr = xcalloc(1, sizeof(*mr));

	mr->name = xstrdup(name ? name : "");
	mr->kind = kind;
	mr->size = size;
	mr->enabled = true;
	return mr;
}

/* Zero-filled host memory; NULL if the host refuses. */
static uint8_t *host_alloc(uint64_t size, bool *mapped)
{
	void *p;

	*mapped = false;
	if (size > SIZE_MAX)
		return NULL;
	if (size < MMAP_THRESHOLD)
		return calloc(1, size ? (size_t)size : 1);
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*mapped = true;
	return p;
}

static void host_free(MemoryRegion *mr)
{
	if (mr->mapped)
		munmap(mr->host, (size_t)mr->size);
	else
		free(mr->host);
	mr->host = NULL;
}

static uint64_t page_count(uint64_t size)
{
	return (size >> PAGE_BITS) + ((size & (PAGE_SIZE - 1)) != 0);
}

static MemoryRegion *backed_region(const char *name, enum mr_kind kind, uint64_t size)
{
	MemoryRegion *mr = region_new(name, kind, size);
	size_t words = (size_t)((page_count(size) + 63) / 64);
	int c;

	mr->host = host_alloc(size, &mr->mapped);
	if (!mr->host)
		goto fail;
	if (kind == MR_RAM) {
		for (c = 0; c < DIRTY_CLIENTS; c++) {
			mr->dirty[c] = calloc(words ? words : 1, sizeof(uint64_t));
			if (!mr->dirty[c])
				goto fail;
		}
	}
	return mr;
fail:
	mr_free(mr);
	return NULL;
}

MemoryRegion *mr_container(const char *name, uint64_t size)
{
	return region_new(name, MR_CONTAINER, size);
}

MemoryRegion *mr_ram(const char *name, uint64_t size)
{
	return backed_region(name, MR_RAM, size);
}

/* ROM images are small (firmware files): failing to back one is fatal, not NULL. */
MemoryRegion *mr_rom(const char *name, uint64_t size)
{
	MemoryRegion *mr = backed_region(name, MR_ROM, size);

	if (!mr)
		fatal(EXIT_INTERNAL, "out of memory for ROM %s (%" PRIu64 " bytes)", name, size);
	return mr;
}

MemoryRegion *mr_mmio(const char *name, uint64_t size, const MemoryRegionOps *ops, void *opaque)
{
	MemoryRegion *mr = region_new(name, MR_MMIO, size);

	mr->ops = ops;
	mr->opaque = opaque;
	return mr;
}

MemoryRegion *mr_alias(const char *name, MemoryRegion *target, uint64_t offset, uint64_t size)
{
	MemoryRegion *mr;

	if (!target)
		fatal(EXIT_INTERNAL, "alias %s: no target region", name);
	mr = region_new(name, MR_ALIAS, size);
	mr->target = target;
	mr->alias_offset = offset;
	return mr;
}

void mr_free(MemoryRegion *mr)
{
	size_t i;
	int c;

	if (!mr)
		return;
	if (mr->parent)
		mr_remove(mr->parent, mr);
	for (i = 0; i < mr->nchildren; i++) {
		mr->children[i]->parent = NULL;
		mr_free(mr->children[i]);
	}
	free(mr->children);
	if (mr->host)
		host_free(mr);
	for (c = 0; c < DIRTY_CLIENTS; c++)
		free(mr->dirty[c]);
	free(mr->name);
	free(mr);
}

const char *mr_name(const MemoryRegion *mr)
{
	return mr->name;
}

enum mr_kind mr_kind(const MemoryRegion *mr)
{
	return mr->kind;
}

uint64_t mr_size(const MemoryRegion *mr)
{
	return mr->size;
}

uint8_t *mr_host(const MemoryRegion *mr)
{
	return mr->kind == MR_RAM || mr->kind == MR_ROM ? mr->host : NULL;
}

/* ---- noticing changes ---------------------------------------------------- */

/* Does the tree under @from (following aliases) contain @mr? */
static bool reaches(const MemoryRegion *from, const MemoryRegion *mr, int depth)
{
	size_t i;

	if (from == mr)
		return true;
	if (depth > MAX_DEPTH)
		return false;
	if (from->kind == MR_ALIAS)
		return reaches(from->target, mr, depth + 1);
	for (i = 0; i < from->nchildren; i++)
		if (reaches(from->children[i], mr, depth + 1))
			return true;
	return false;
}

static void as_rebuild(AddressSpace *as);

/* @mr changed: rebuild (now, or at the end of the batch) every view that shows it. */
static void tree_changed(MemoryRegion *mr)
{
	AddressSpace *as;

	for (as = all_spaces; as; as = as->next) {
		if (!as->root || !reaches(as->root, mr, 0))
			continue;
		if (as->root->updates)
			as->stale = true;
		else
			as_rebuild(as);
	}
}

void mr_begin_update(MemoryRegion *root)
{
	root->updates++;
}

void mr_commit_update(MemoryRegion *root)
{
	AddressSpace *as;

	if (root->updates == 0 || --root->updates)
		return;
	for (as = all_spaces; as; as = as->next) {
		if (as->root == root && as->stale) {
			as->stale = false;
			as_rebuild(as);
		}
	}
}

/* ---- changing the tree ----------------------------------------------------- */

/* True when @a is visited before @b while flattening. */
static bool stacks_above(const MemoryRegion *a, const MemoryRegion *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return a->seq > b->seq;
}

void mr_add(MemoryRegion *parent, MemoryRegion *child, uint64_t offset, int priority)
{
	size_t i;

	if (parent->kind != MR_CONTAINER)
		fatal(EXIT_INTERNAL, "mr_add: %s is not a container (adding %s)", parent->name,
		      child->name);
	if (child->parent)
		fatal(EXIT_INTERNAL, "mr_add: %s is already in %s", child->name,
		      child->parent->name);
	/* Aliases cannot be retargeted, so refusing cycles here keeps every tree acyclic. */
	if (reaches(child, parent, 0))
		fatal(EXIT_INTERNAL, "mr_add: %s inside %s would make a cycle", child->name,
		      parent->name);
	if (parent->nchildren == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->children =
		    xrealloc(parent->children, parent->cap * sizeof(*parent->children));
	}
	child->parent = parent;
	child->offset = offset;
	child->priority = priority;
	child->seq = ++add_counter;
	for (i = 0; i < parent->nchildren && stacks_above(parent->children[i], child); i++)
		;
	memmove(&parent->children[i + 1], &parent->children[i],
		(parent->nchildren - i) * sizeof(*parent->children));
	parent->children[i] = child;
	parent->nchildren++;
	tree_changed(parent);
}

void mr_remove(MemoryRegion *parent, MemoryRegion *child)
{
	size_t i;

	for (i = 0; i < parent->nchildren && parent->children[i] != child; i++)
		;
	if (i == parent->nchildren)
		return;
	parent->nchildren--;
	memmove(&parent->children[i], &parent->children[i + 1],
		(parent->nchildren - i) * sizeof(*parent->children));
	child->parent = NULL;
	tree_changed(parent);
}

void mr_set_enabled(MemoryRegion *mr, bool enabled)
{
	if (mr->enabled == enabled)
		return;
	mr->enabled = enabled;
	tree_changed(mr);
}

void mr_set_offset(MemoryRegion *mr, uint64_t offset)
{
	if (mr->offset == offset)
		return;
	mr->offset = offset;
	tree_changed(mr);
}

void mr_set_alias_offset(MemoryRegion *alias, uint64_t offset)
{
	if (alias->kind != MR_ALIAS || alias->alias_offset == offset)
		return;
	alias->alias_offset = offset;
	tree_changed(alias);
}

/* ---- flattening -------------------------------------------------------------- */

struct view {
	FlatRange *r;
	size_t n, cap;
};

static void view_insert(struct view *v, size_t at, uint64_t start, uint64_t end, MemoryRegion *mr,
			uint64_t mr_offset)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->r = xrealloc(v->r, v->cap * sizeof(*v->r));
	}
	memmove(&v->r[at + 1], &v->r[at], (v->n - at) * sizeof(*v->r));
	v->r[at] = (FlatRange){start, end, mr, mr_offset};
	v->n++;
}

/* Index of the first range ending at or after @addr (v->n if none). */
static size_t first_ending_at_or_after(const FlatRange *r, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].end < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Give leaf @mr the parts of [start, end] nobody claimed yet; @mr_offset matches @start. */
static void view_fill_gaps(struct view *v, uint64_t start, uint64_t end, MemoryRegion *mr,
			   uint64_t mr_offset)
{
	size_t i = first_ending_at_or_after(v->r, v->n, start);
	uint64_t cur = start;

	for (;;) {
		if (i == v->n || v->r[i].start > end) {
			view_insert(v, i, cur, end, mr, mr_offset + (cur - start));
			return;
		}
		if (v->r[i].start > cur) {
			view_insert(v, i, cur, v->r[i].start - 1, mr, mr_offset + (cur - start));
			i++;
		}
		if (v->r[i].end >= end)
			return;
		cur = v->r[i].end + 1;
		i++;
	}
}

/* Flatten offsets [lo, hi] (inclusive) of @mr, whose offset 0 sits at address @base. */
static void render(struct view *v, MemoryRegion *mr, uint64_t base, uint64_t lo, uint64_t hi,
		   int depth)
{
	size_t i;

	if (!mr->enabled || depth > MAX_DEPTH)
		return;
	switch (mr->kind) {
	case MR_RAM:
	case MR_ROM:
	case MR_MMIO:
		view_fill_gaps(v, base + lo, base + hi, mr, lo);
		return;
	case MR_ALIAS: {
		MemoryRegion *t = mr->target;
		uint64_t aoff = mr->alias_offset, tlo, thi;

		if (lo > UINT64_MAX - aoff || lo + aoff >= t->size)
			return;
		tlo = lo + aoff;
		thi = hi > UINT64_MAX - aoff ? UINT64_MAX : hi + aoff;
		if (thi > t->size - 1)
			thi = t->size - 1;
		render(v, t, base - aoff, tlo, thi, depth + 1);
		return;
	}
	case MR_CONTAINER:
		for (i = 0; i < mr->nchildren; i++) {
			MemoryRegion *c = mr->children[i];
			uint64_t cend;

			if (c->size == 0)
				continue;
			cend = c->offset > UINT64_MAX - (c->size - 1) ? UINT64_MAX
								      : c->offset + (c->size - 1);
			if (cend < lo || c->offset > hi)
				continue;
			render(v, c, base + c->offset,
			       (lo > c->offset ? lo : c->offset) - c->offset,
			       (hi < cend ? hi : cend) - c->offset, depth + 1);
		}
		return;
	}
}

/* Join neighbours that continue the same region at the next offset. */
static void view_merge(struct view *v)
{
	size_t i, out = 0;

	for (i = 0; i < v->n; i++) {
		FlatRange *prev = out ? &v->r[out - 1] : NULL;
		FlatRange *r = &v->r[i];

		if (prev && prev->mr == r->mr && prev->end + 1 == r->start &&
		    prev->mr_offset + (prev->end - prev->start) + 1 == r->mr_offset)
			prev->end = r->end;
		else
			v->r[out++] = *r;
	}
	v->n = out;
}

static void as_rebuild(AddressSpace *as)
{
	struct view v = {0};
	size_t i;

	if (as->root && as->root->size)
		render(&v, as->root, 0, 0, as->root->size - 1, 0);
	view_merge(&v);
	free(as->ranges);
	as->ranges = v.r;
	as->nranges = v.n;
	as->last_hit = 0;
	as->generation++;
	for (i = 0; i < as->nlisteners; i++)
		as->listeners[i].fn(as->listeners[i].opaque, as);
}

/* ---- address spaces -------------------------------------------------------- */

AddressSpace *as_new(const char *name, MemoryRegion *root)
{
	AddressSpace *as = xcalloc(1, sizeof(*as));

	as->name = xstrdup(name ? name : "");
	as->root = root;
	as->next = all_spaces;
	all_spaces = as;
	as_rebuild(as);
	return as;
}

/* The root region stays: its owner frees it. */
void as_free(AddressSpace *as)
{
	AddressSpace **pp;

	if (!as)
		return;
	for (pp = &all_spaces; *pp; pp = &(*pp)->next) {
		if (*pp == as) {
			*pp = as->next;
			break;
		}
	}
	free(as->ranges);
	free(as->listeners);
	free(as->name);
	free(as);
}

MemoryRegion *as_root(AddressSpace *as)
{
	return as->root;
}

const char *as_name(const AddressSpace *as)
{
	return as->name;
}

const FlatRange *as_lookup_next(AddressSpace *as, uint64_t addr)
{
	size_t i;

	if (as->last_hit < as->nranges) {
		const FlatRange *r = &as->ranges[as->last_hit];
		if (addr >= r->start && addr <= r->end)
			return r;
	}
	i = first_ending_at_or_after(as->ranges, as->nranges, addr);
	if (i == as->nranges)
		return NULL;
	as->last_hit = i;
	return &as->ranges[i];
}

const FlatRange *as_lookup(AddressSpace *as, uint64_t addr)
{
	const FlatRange *r = as_lookup_next(as, addr);

	return r && r->start <= addr ? r : NULL;
}

const FlatRange *as_ranges(AddressSpace *as, size_t *count)
{
	*count = as->nranges;
	return as->ranges;
}

uint64_t as_generation(AddressSpace *as)
{
	return as->generation;
}

void as_add_listener(AddressSpace *as, ASListener *fn, void *opaque)
{
	as->listeners = xrealloc(as->listeners, (as->nlisteners + 1) * sizeof(*as->listeners));
	as->listeners[as->nlisteners++] = (struct listener){fn, opaque};
}

/* ---- access ------------------------------------------------------------------ */

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static uint64_t load_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;
	unsigned i;

	switch (size) {
	case 1:
		return *p;
	case 2:
		return ld16(p);
	case 4:
		return ld32(p);
	case 8:
		return ld64(p);
	}
	for (i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void store_le(uint8_t *p, uint64_t v, unsigned size)
{
	unsigned i;

	for (i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The range holding all of [addr, addr+size), or NULL if none does. */
static const FlatRange *whole_range(AddressSpace *as, uint64_t addr, unsigned size)
{
	const FlatRange *r = as_lookup(as, addr);

	return r && r->end - addr >= size - 1 ? r : NULL;
}

static bool natural_size(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

uint64_t as_read(AddressSpace *as, uint64_t addr, unsigned size)
{
	const FlatRange *r;
	uint64_t v = 0, off;
	unsigned i;

	if (size == 0)
		return 0;
	if (size > 8)
		size = 8;
	r = whole_range(as, addr, size);
	if (!r || (r->mr->kind == MR_MMIO && !natural_size(size))) {
		/* Unassigned, or spanning ranges: byte by byte (holes give 0xff). */
		for (i = 0; i < size; i++) {
			const FlatRange *b = as_lookup(as, addr + i);
			uint64_t byte = b ? as_read(as, addr + i, 1) : 0xff;
			v |= byte << (8 * i);
		}
		return v;
	}
	off = r->mr_offset + (addr - r->start);
	if (r->mr->kind != MR_MMIO)
		return load_le(r->mr->host + off, size);
	if (!r->mr->ops || !r->mr->ops->read)
		return size_mask(size);
	return r->mr->ops->read(r->mr->opaque, off, size) & size_mask(size);
}

void as_write(AddressSpace *as, uint64_t addr, uint64_t value, unsigned size)
{
	const FlatRange *r;
	MemoryRegion *mr;
	uint64_t off;
	unsigned i;

	if (size == 0)
		return;
	if (size > 8)
		size = 8;
	value &= size_mask(size);
	r = whole_range(as, addr, size);
	if (!r || (r->mr->kind == MR_MMIO && !natural_size(size))) {
		for (i = 0; i < size; i++)
			if (as_lookup(as, addr + i))
				as_write(as, addr + i, (value >> (8 * i)) & 0xff, 1);
		return;
	}
	mr = r->mr;
	off = r->mr_offset + (addr - r->start);
	/* Nothing below may use @r again: an MMIO write can rebuild the view. */
	switch (mr->kind) {
	case MR_RAM:
		store_le(mr->host + off, value, size);
		ram_mark_dirty(mr, off, size);
		break;
	case MR_MMIO:
		if (mr->ops && mr->ops->write)
			mr->ops->write(mr->opaque, off, value, size);
		break;
	default: /* ROM ignores guest writes */
		break;
	}
}

/* ---- dumps ---------------------------------------------------------------------- */

/* clang-format off */
static const char *const kind_names[] = {
	[MR_CONTAINER] = "container",
	[MR_RAM] = "ram",
	[MR_ROM] = "rom",
	[MR_MMIO] = "i/o",
	[MR_ALIAS] = "alias",
};
/* clang-format on */

/* The kind an alias finally shows. */
static enum mr_kind resolved_kind(const MemoryRegion *mr)
{
	int depth;

	for (depth = 0; mr->kind == MR_ALIAS && depth <= MAX_DEPTH; depth++)
		mr = mr->target;
	return mr->kind;
}

static uint64_t last_byte(uint64_t start, uint64_t size)
{
	return start + (size ? size - 1 : 0);
}

/* Alias targets outside the tree, printed after it. */
struct extra_list {
	const MemoryRegion *mr[64];
	size_t n;
};

static void note_extra(struct extra_list *x, const MemoryRegion *root, const MemoryRegion *t)
{
	const MemoryRegion *top = t;
	size_t i;

	while (top->parent)
		top = top->parent;
	if (top == root)
		return;
	for (i = 0; i < x->n; i++)
		if (x->mr[i] == t)
			return;
	if (x->n < ARRAY_SIZE(x->mr))
		x->mr[x->n++] = t;
}

/* Listing order: by offset, then as flattening visits them. */
static int cmp_listing(const void *pa, const void *pb)
{
	const MemoryRegion *a = *(MemoryRegion *const *)pa;
	const MemoryRegion *b = *(MemoryRegion *const *)pb;

	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return stacks_above(a, b) ? -1 : 1;
}

static void dump_region(FILE *out, const MemoryRegion *mr, uint64_t start, int depth,
			const MemoryRegion *root, struct extra_list *extra)
{
	MemoryRegion **kids;
	size_t i;

	fprintf(out, "%*s%016" PRIx64 "-%016" PRIx64 " (prio %d, %s): ", 2 * depth, "", start,
		last_byte(start, mr->size), mr->priority, kind_names[resolved_kind(mr)]);
	if (mr->kind == MR_ALIAS) {
		fprintf(out, "alias %s @%s %016" PRIx64 "-%016" PRIx64, mr->name, mr->target->name,
			mr->alias_offset, last_byte(mr->alias_offset, mr->size));
		note_extra(extra, root, mr->target);
	} else {
		fputs(mr->name, out);
	}
	fputs(mr->enabled ? "\n" : " [disabled]\n", out);
	if (!mr->nchildren || depth > MAX_DEPTH)
		return;
	kids = xmalloc(mr->nchildren * sizeof(*kids));
	memcpy(kids, mr->children, mr->nchildren * sizeof(*kids));
	qsort(kids, mr->nchildren, sizeof(*kids), cmp_listing);
	for (i = 0; i < mr->nchildren; i++)
		dump_region(out, kids[i], start + kids[i]->offset, depth + 1, root, extra);
	free(kids);
}

void as_dump_tree(AddressSpace *as, FILE *out)
{
	struct extra_list extra = {.n = 0};
	size_t i;

	fprintf(out, "address-space: %s\n", as->name);
	if (as->root)
		dump_region(out, as->root, 0, 1, as->root, &extra);
	/* The list may grow while printing: aliases inside alias targets. */
	for (i = 0; i < extra.n; i++) {
		fprintf(out, "\nmemory-region: %s\n", extra.mr[i]->name);
		dump_region(out, extra.mr[i], 0, 1, as->root, &extra);
	}
}

void as_dump_flat(AddressSpace *as, FILE *out)
{
	size_t i;

	fprintf(out, "FlatView for %s\n", as->name);
	if (!as->nranges)
		fputs("  (empty)\n", out);
	for (i = 0; i < as->nranges; i++) {
		const FlatRange *r = &as->ranges[i];

		fprintf(out, "  %016" PRIx64 "-%016" PRIx64 " (prio %d, %s): %s", r->start, r->end,
			r->mr->priority, kind_names[r->mr->kind], r->mr->name);
		if (r->mr_offset)
			fprintf(out, " @%016" PRIx64, r->mr_offset);
		fputc('\n', out);
	}
}

/* ---- dirty pages ------------------------------------------------------------------ */

/*
 * Visit the bits [first, last] of @map a word at a time: set them, or
 * test and clear them.  Returns whether any was set before.
 */
static bool bits_update(uint64_t *map, uint64_t first, uint64_t last, bool set)
{
	uint64_t w, wl = last / 64;
	bool any = false;

	for (w = first / 64; w <= wl; w++) {
		uint64_t mask = UINT64_MAX;

		if (w == first / 64)
			mask &= UINT64_MAX << (first % 64);
		if (w == wl)
			mask &= UINT64_MAX >> (63 - last % 64);
		any |= (map[w] & mask) != 0;
		if (set)
			map[w] |= mask;
		else
			map[w] &= ~mask;
	}
	return any;
}

/* Clip [offset, offset+len) to @ram; false if nothing is left. */
static bool page_span(const MemoryRegion *ram, uint64_t offset, uint64_t len, uint64_t *first,
		      uint64_t *last)
{
	uint64_t end;

	if (!ram || ram->kind != MR_RAM || len == 0 || offset >= ram->size)
		return false;
	end = len > ram->size - offset ? ram->size - 1 : offset + len - 1;
	*first = offset >> PAGE_BITS;
	*last = end >> PAGE_BITS;
	return true;
}

void ram_mark_dirty(MemoryRegion *ram, uint64_t offset, uint64_t len)
{
	uint64_t first, last;
	int c;

	if (!page_span(ram, offset, len, &first, &last))
		return;
	ram->marks++;
	for (c = 0; c < DIRTY_CLIENTS; c++)
		bits_update(ram->dirty[c], first, last, true);
}

uint64_t ram_marks(const MemoryRegion *ram)
{
	return ram && ram->kind == MR_RAM ? ram->marks : 0;
}

bool ram_is_dirty(MemoryRegion *ram, uint64_t offset, enum dirty_client c)
{
	uint64_t page;

	if (!ram || ram->kind != MR_RAM || offset >= ram->size || (unsigned)c >= DIRTY_CLIENTS)
		return false;
	page = offset >> PAGE_BITS;
	return (ram->dirty[c][page / 64] >> (page % 64)) & 1;
}

void ram_huge_pages(MemoryRegion *ram, bool on)
{
	uintptr_t huge = 2u << 20, start, end;

	if (!ram || ram->kind != MR_RAM || !ram->mapped)
		return;
	start = ((uintptr_t)ram->host + huge - 1) & ~(huge - 1);
	end = ((uintptr_t)ram->host + (size_t)ram->size) & ~(huge - 1);
	if (end > start)
		madvise((void *)start, end - start, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

uint64_t ram_find_dirty(MemoryRegion *ram, uint64_t offset, enum dirty_client c)
{
	uint64_t page, pages, w;

	if (!ram || ram->kind != MR_RAM || offset >= ram->size || (unsigned)c >= DIRTY_CLIENTS)
		return ram ? ram->size : 0;
	page = offset >> PAGE_BITS;
	pages = (ram->size + PAGE_SIZE - 1) >> PAGE_BITS;
	/* the rest of the first word, then whole words: most of RAM is clean */
	w = ram->dirty[c][page / 64] >> (page % 64);
	if (w)
		return (page + (uint64_t)__builtin_ctzll(w)) << PAGE_BITS;
	for (page = (page / 64 + 1) * 64; page < pages; page += 64) {
		w = ram->dirty[c][page / 64];
		if (w) {
			page += (uint64_t)__builtin_ctzll(w);
			return page < pages ? page << PAGE_BITS : ram->size;
		}
	}
	return ram->size;
}

bool ram_test_and_clear_dirty(MemoryRegion *ram, uint64_t offset, uint64_t len, enum dirty_client c)
{
	uint64_t first, last;

	if ((unsigned)c >= DIRTY_CLIENTS || !page_span(ram, offset, len, &first, &last))
		return false;
	return bits_update(ram->dirty[c], first, last, false);
}

void ram_clear(MemoryRegion *ram)
{
	if (!ram || ram->kind != MR_RAM)
		return;
	/* A private anonymous mapping reads back as zeros once its pages are dropped. */
	if (!ram->mapped || madvise(ram->host, (size_t)ram->size, MADV_DONTNEED) != 0)
		memset(ram->host, 0, (size_t)ram->size);
	/* Decoded code is stale everywhere.  A snapshot writer is told by the
	 * count instead: "all zero now" costs it nothing to note, where a
	 * dirty bit on every page would have it look at every page. */
	bits_update(ram->dirty[DIRTY_CODE], 0, (ram->size - 1) >> PAGE_BITS, true);
	ram->marks++;
	ram->clears++;
}

uint64_t ram_clears(const MemoryRegion *ram)
{
	return ram && ram->kind == MR_RAM ? ram->clears : 0;
}
