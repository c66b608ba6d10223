/*
 * physmem.c - device DMA into guest RAM: cpu_physical_memory_rw().
 *
 * Every byte a device moves to or from guest memory passes here, through
 * the DMATarget of its machine (each machine and replay session has its
 * own, so several coexist in one process), so this is where the recorder
 * sees DMA (the hook) and where snapshots and the code
 * cache learn which pages changed (dirty bits).  Only RAM takes part: ROM,
 * MMIO and holes are skipped without calling any device (a DMA engine must
 * not be able to poke another device's registers behind the journal's
 * back), reads of them give 0xff.  The walk goes range by range through the
 * flat view and never forms an address past 2^64 - 1 or a host pointer
 * outside a region's backing.
 */
#include "memory.h"
#include "../base/base.h"

#include <stdlib.h>
#include <string.h>

struct DMATarget {
	AddressSpace *space;
	DMAHook *hook;
	void *hook_opaque;
	DMAWatch *watch;
	void *watch_opaque;
};

DMATarget *dma_target_new(AddressSpace *memory)
{
	DMATarget *t = xcalloc(1, sizeof(*t));

	t->space = memory;
	return t;
}

void dma_target_free(DMATarget *t)
{
	free(t);
}

AddressSpace *dma_target_space(const DMATarget *t)
{
	return t ? t->space : NULL;
}

void dma_set_hook(DMATarget *t, DMAHook *fn, void *opaque)
{
	t->hook = fn;
	t->hook_opaque = opaque;
}

void dma_set_watch(DMATarget *t, DMAWatch *fn, void *opaque)
{
	t->watch = fn;
	t->watch_opaque = opaque;
}

bool dma_has_watch(const DMATarget *t)
{
	return t->watch != NULL;
}

/* Move @n bytes between @buf and RAM region @ram at offset @off. */
static void ram_piece(DMATarget *t, MemoryRegion *ram, uint64_t off, uint64_t addr, uint8_t *buf,
		      size_t n, bool is_write)
{
	uint8_t *host = mr_host(ram) + off;

	if (!is_write) {
		memcpy(buf, host, n);
		return;
	}
	if (t->watch) {
		/* the debugger's watches want the bytes before too */
		uint8_t *old = xmalloc(n);

		memcpy(old, host, n);
		memcpy(host, buf, n);
		t->watch(t->watch_opaque, addr, old, buf, n);
		free(old);
	} else {
		memcpy(host, buf, n);
	}
	ram_mark_dirty(ram, off, n);
	if (t->hook)
		t->hook(t->hook_opaque, addr, buf, n);
}

bool cpu_physical_memory_rw(DMATarget *t, uint64_t addr, void *buf, size_t len, bool is_write)
{
	uint8_t *p = buf;
	size_t done = 0;
	bool all = true;

	while (done < len) {
		uint64_t a = addr + done, room;
		size_t left = len - done, n;
		const FlatRange *r;

		/* Bytes past the top of the address space do not exist. */
		if (done && a < addr)
			break;
		r = t && t->space ? as_lookup_next(t->space, a) : NULL;
		if (!r)
			break;
		if (r->start > a) {
			/* A hole up to the next range. */
			room = r->start - a;
			n = left < room ? left : (size_t)room;
		} else {
			room = r->end - a; /* bytes left in the range, minus one */
			n = left - 1 < room ? left : (size_t)room + 1;
			if (mr_kind(r->mr) == MR_RAM) {
				ram_piece(t, r->mr, r->mr_offset + (a - r->start), a, p + done, n,
					  is_write);
				done += n;
				continue;
			}
		}
		/* ROM, MMIO or nothing: dropped. */
		if (!is_write)
			memset(p + done, 0xff, n);
		all = false;
		done += n;
	}
	if (done < len) {
		if (!is_write)
			memset(p + done, 0xff, len - done);
		all = false;
	}
	return all;
}
