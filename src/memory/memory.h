/*
 * memory.h - the guest's physical address spaces.
 *
 * A tree of regions (RAM, ROM, MMIO with callbacks, aliases, containers),
 * each placed at an offset in its parent with a priority that decides
 * overlaps, is flattened into a sorted array of ranges (the flat view) that
 * dispatch binary-searches.  The flat view is rebuilt whenever the tree
 * changes, and listeners (the CPU's TLB) are told.
 *
 * The machine has two address spaces built this way: "memory" (4 GiB,
 * physical memory) and "io" (64 KiB, x86 I/O ports).  Devices register their
 * port ranges as MMIO regions in the io space.
 *
 * Overlap rules: among siblings the higher priority wins; at equal
 * priority the one added later wins.  A container contributes only where one
 * of its children (recursively) covers; where it has none, lower-priority
 * siblings show through.  Disabled regions contribute nothing.  An alias
 * shows a window [offset, offset+size) of another region.  Unassigned
 * addresses read as all ones and ignore writes.
 *
 * Devices touch guest RAM only through cpu_physical_memory_rw().
 */
#ifndef FB_MEMORY_H
#define FB_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct MemoryRegion MemoryRegion;
typedef struct AddressSpace AddressSpace;

/* Callbacks of an MMIO region; @offset is relative to the region start. */
typedef struct MemoryRegionOps {
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
} MemoryRegionOps;

enum mr_kind { MR_CONTAINER, MR_RAM, MR_ROM, MR_MMIO, MR_ALIAS };

/* ---- building the tree ------------------------------------------------ */

MemoryRegion *mr_container(const char *name, uint64_t size);
/* Zero-filled RAM; returns NULL if the host cannot provide @size bytes. */
MemoryRegion *mr_ram(const char *name, uint64_t size);
/*
 * Like RAM, but guest writes are ignored; fill it through mr_host().  ROMs
 * are small, so failing to back one is fatal(EXIT_INTERNAL) rather than NULL.
 */
MemoryRegion *mr_rom(const char *name, uint64_t size);
MemoryRegion *mr_mmio(const char *name, uint64_t size, const MemoryRegionOps *ops, void *opaque);
MemoryRegion *mr_alias(const char *name, MemoryRegion *target, uint64_t offset, uint64_t size);
/* Frees @mr (which must not be in a tree) and, for a container, its children. */
void mr_free(MemoryRegion *mr);

/*
 * @parent must be a container; @child must not be in another one, nor make
 * a cycle (through aliases) with @parent: either is fatal(EXIT_INTERNAL).
 */
void mr_add(MemoryRegion *parent, MemoryRegion *child, uint64_t offset, int priority);
void mr_remove(MemoryRegion *parent, MemoryRegion *child);
void mr_set_enabled(MemoryRegion *mr, bool enabled);
/* Move within the parent; keeps its place among equal-priority siblings. */
void mr_set_offset(MemoryRegion *mr, uint64_t offset);
void mr_set_alias_offset(MemoryRegion *alias, uint64_t offset);

/*
 * Batch changes to the views of the map under @root (an address space's
 * root region: a machine's or a replay session's): between begin and the
 * matching commit (they nest), changes only mark its address spaces; the
 * outermost commit rebuilds each of them once (one generation bump, one
 * listener call each).  Other maps are not held back meanwhile: a batch
 * belongs to its map, not to the process.
 */
void mr_begin_update(MemoryRegion *root);
void mr_commit_update(MemoryRegion *root);

const char *mr_name(const MemoryRegion *mr);
enum mr_kind mr_kind(const MemoryRegion *mr);
uint64_t mr_size(const MemoryRegion *mr);
/* Host backing of a RAM or ROM region, NULL for others. */
uint8_t *mr_host(const MemoryRegion *mr);

/* ---- address spaces and the flat view ---------------------------------- */

/* One piece of the flat view: [start, end] is inclusive. */
typedef struct FlatRange {
	uint64_t start, end;
	MemoryRegion *mr;     /* RAM, ROM or MMIO (aliases are resolved) */
	uint64_t mr_offset;   /* offset in @mr that corresponds to @start */
} FlatRange;

AddressSpace *as_new(const char *name, MemoryRegion *root);
/* Frees the address space only: the root region belongs to the caller. */
void as_free(AddressSpace *as);
MemoryRegion *as_root(AddressSpace *as);
const char *as_name(const AddressSpace *as);

/*
 * The range covering @addr, or NULL for an unassigned address.  Pointers
 * into the flat view stay valid until the next rebuild (see listeners).
 */
const FlatRange *as_lookup(AddressSpace *as, uint64_t addr);
/* The range covering @addr, else the first one above it, else NULL. */
const FlatRange *as_lookup_next(AddressSpace *as, uint64_t addr);
/* All ranges, sorted by start. */
const FlatRange *as_ranges(AddressSpace *as, size_t *count);
/* Bumped each time the flat view is rebuilt (it is 1 after as_new). */
uint64_t as_generation(AddressSpace *as);

/*
 * Read or write @size (1, 2, 4 or 8) bytes, little-endian, going through
 * RAM, ROM or MMIO callbacks; an access that spans ranges is split into
 * bytes.  Unassigned reads give all ones.
 */
uint64_t as_read(AddressSpace *as, uint64_t addr, unsigned size);
void as_write(AddressSpace *as, uint64_t addr, uint64_t value, unsigned size);

/* Called after each rebuild of the flat view. */
typedef void ASListener(void *opaque, AddressSpace *as);
void as_add_listener(AddressSpace *as, ASListener *fn, void *opaque);

/*
 * The printable views: what QEMU's "info mtree" and "info mtree -f" show.
 * The exact text is described at the top of memory.c.
 */
void as_dump_tree(AddressSpace *as, FILE *out);
void as_dump_flat(AddressSpace *as, FILE *out);

/* ---- dirty tracking ----------------------------------------------------
 *
 * Every RAM region keeps one bit per 4 KiB page for each client.  All writes
 * that go through as_write() or cpu_physical_memory_rw() mark pages; the CPU,
 * which writes RAM through host pointers, calls ram_mark_dirty() itself.
 */
enum dirty_client { DIRTY_SNAPSHOT, DIRTY_CODE, DIRTY_CLIENTS };

#define PAGE_BITS 12
#define PAGE_SIZE (1u << PAGE_BITS)

void ram_mark_dirty(MemoryRegion *ram, uint64_t offset, uint64_t len);
bool ram_is_dirty(MemoryRegion *ram, uint64_t offset, enum dirty_client c);
/* Counts the calls that marked pages dirty (ram_mark_dirty, ram_clear): while
 * it stays the same, no page of @ram became dirty for any client. */
uint64_t ram_marks(const MemoryRegion *ram);
/* The offset of the first dirty page at or after @offset; mr_size() if none. */
uint64_t ram_find_dirty(MemoryRegion *ram, uint64_t offset, enum dirty_client c);
/* Returns whether any page in [offset, offset+len) was dirty, and clears them. */
bool ram_test_and_clear_dirty(MemoryRegion *ram, uint64_t offset, uint64_t len, enum dirty_client c);
/*
 * Zero all of @ram (a reset): every page becomes DIRTY_CODE, and
 * ram_clears() counts up (DIRTY_SNAPSHOT is left alone: a snapshot writer
 * that sees the count change knows every page is zero but those dirtied
 * since).  Large regions give their pages back to the host instead of
 * writing zeros, so -m 3584 stays cheap across resets.
 */
void ram_clear(MemoryRegion *ram);
uint64_t ram_clears(const MemoryRegion *ram);
/*
 * Ask the host for transparent huge pages over @ram (@on) or take the ask
 * back.  A hint only (contents never change): reading RAM the guest never
 * touched then costs one fault per 2 MiB instead of one per 4 KiB.
 */
void ram_huge_pages(MemoryRegion *ram, bool on);

/* ---- device DMA ---------------------------------------------------------
 *
 * The one way for devices to read or write guest memory: through a
 * DMATarget, which belongs to one machine (the live PC, a replay session)
 * and names its "memory" address space.  Goes to RAM only: bytes that fall
 * on ROM writes, MMIO or holes are dropped (reads of them give 0xff).
 * Returns false if any byte was dropped.  Each RAM byte written is reported
 * to the target's DMA hook (the recorder) and marks pages dirty.
 */
typedef struct DMATarget DMATarget;
DMATarget *dma_target_new(AddressSpace *memory);
void dma_target_free(DMATarget *t);
AddressSpace *dma_target_space(const DMATarget *t);
typedef void DMAHook(void *opaque, uint64_t addr, const void *buf, size_t len);
void dma_set_hook(DMATarget *t, DMAHook *fn, void *opaque);
/* The debugger's watch on DMA: each RAM piece written, with its bytes
 * before and after (NULL: none). */
typedef void DMAWatch(void *opaque, uint64_t addr, const uint8_t *old, const uint8_t *now,
		      size_t len);
void dma_set_watch(DMATarget *t, DMAWatch *fn, void *opaque);
/* Whether a watch is set. */
bool dma_has_watch(const DMATarget *t);
bool cpu_physical_memory_rw(DMATarget *t, uint64_t addr, void *buf, size_t len, bool is_write);

#endif
