/*
 * dcache.c - the decode cache and self-modifying-code detection.
 *
 * Decoded instructions are kept in a direct-mapped table keyed by the host
 * address of their first byte (so RAM aliases share entries) and the code
 * size.  Each entry records the code version of its page; the entry is
 * valid while the version is unchanged.  Versions change when:
 *  - the CPU writes a watched page: such pages never get write TLB entries
 *    (their DIRTY_CODE bit is clear, see tlb_fill), so every write reaches
 *    phys_write's slow path, which calls code_write();
 *  - anything else (device DMA) marks the page dirty: watched pages are
 *    checked after every port or MMIO access and at each cpu_exec() entry;
 *  - the memory map changes or cpu_flush_tlb() is called: all is dropped.
 * Only instructions that lie whole in one page of RAM/ROM are cached.
 */
#include <stdlib.h>
#include <string.h>

#include "x86.h"

static DCEntry *dc_table(CPU *cpu)
{
	if (!cpu->dc)
		cpu->dc = xcalloc(DC_SIZE, sizeof(DCEntry));
	return cpu->dc;
}

/*
 * The running instruction's Insn lives in the cache; a device callback in
 * its middle (a PCI BAR remap, a snapshot) must not wipe it, so flushes
 * asked for then wait for the instruction's end (dc_settle).
 */
void dc_flush(CPU *cpu)
{
	if (cpu->in_insn) {
		cpu->dc_pending |= 1;
		return;
	}
	if (cpu->dc)
		memset(cpu->dc, 0, DC_SIZE * sizeof(DCEntry));
}

void dc_settle(CPU *cpu)
{
	unsigned p = cpu->dc_pending;

	cpu->in_insn = false;
	cpu->dc_pending = 0;
	if (p & 2) {
		tlb_flush(cpu);
		dc_reset(cpu);
	} else if (p & 1) {
		dc_flush(cpu);
	}
}

void dc_reset(CPU *cpu)
{
	if (cpu->in_insn) {
		cpu->dc_pending |= 2;
		return;
	}
	dc_flush(cpu);
	for (size_t i = 0; i < cpu->n_vers; i++)
		free(cpu->vers[i].ver);
	free(cpu->vers);
	cpu->vers = NULL;
	cpu->n_vers = 0;
	cpu->n_code = 0;
}

void dc_free(CPU *cpu)
{
	dc_reset(cpu);
	free(cpu->dc);
	free(cpu->code);
	cpu->dc = NULL;
	cpu->code = NULL;
}

/* The version word of the page at @off in @mr (created on first use). */
uint32_t *code_ver_slot(CPU *cpu, MemoryRegion *mr, uint64_t off)
{
	for (size_t i = 0; i < cpu->n_vers; i++)
		if (cpu->vers[i].mr == mr)
			return off >> PAGE_BITS < cpu->vers[i].pages
				   ? &cpu->vers[i].ver[off >> PAGE_BITS]
				   : NULL;
	uint64_t pages = (mr_size(mr) + PAGE_SIZE - 1) >> PAGE_BITS;

	cpu->vers = xrealloc(cpu->vers, (cpu->n_vers + 1) * sizeof(*cpu->vers));
	cpu->vers[cpu->n_vers] = (CodeVers){mr, pages, xcalloc(pages, sizeof(uint32_t))};
	cpu->n_vers++;
	return off >> PAGE_BITS < pages ? &cpu->vers[cpu->n_vers - 1].ver[off >> PAGE_BITS] : NULL;
}

/* Start watching the page of TLB entry @e: clear its DIRTY_CODE bit and
 * drop the write TLB entries that map it, so every later write is seen. */
static void watch_page(CPU *cpu, TLBEntry *e)
{
	uint32_t *ver = e->ver;

	if (*ver & 1)
		return;
	ram_test_and_clear_dirty(e->ram, e->ram_off, PAGE_SIZE, DIRTY_CODE);
	*ver = (*ver + 2) | 1;
	for (int u = 0; u < 2; u++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			if (cpu->tlb[u][i].ver == ver)
				cpu->tlb[u][i].wtag = 0;
	if (cpu->n_code == cpu->cap_code) {
		cpu->cap_code = cpu->cap_code ? 2 * cpu->cap_code : 64;
		cpu->code = xrealloc(cpu->code, cpu->cap_code * sizeof(*cpu->code));
	}
	cpu->code[cpu->n_code++] = (CodePage){e->ram, e->ram_off, ver};
}

static void unwatch(uint32_t *ver)
{
	*ver = (*ver + 2) & ~1u;
}

void code_write(CPU *cpu, MemoryRegion *mr, uint64_t off)
{
	uint32_t *ver = code_ver_slot(cpu, mr, off);

	if (ver && (*ver & 1))
		unwatch(ver);
}

void code_pages_check(CPU *cpu)
{
	size_t k = 0;

	cpu->io_done = false;
	for (size_t i = 0; i < cpu->n_code; i++) {
		CodePage *c = &cpu->code[i];

		if ((*c->ver & 1) && ram_is_dirty(c->mr, c->off, DIRTY_CODE))
			unwatch(c->ver);
		if (*c->ver & 1)
			cpu->code[k++] = *c;
	}
	cpu->n_code = k;
}

/* A cache miss at @host (the page of TLB entry @e): decode and keep it. */
Insn *dc_miss(CPU *cpu, TLBEntry *e, const uint8_t *host, bool c32)
{
	DCEntry *d = &dc_table(cpu)[dc_hash(host)];

	if (mr_kind(e->ram) == MR_RAM)
		watch_page(cpu, e);
	d->host = NULL;
	decode(cpu, &d->in);
	d->host = host;
	d->c32 = c32;
	d->ver = *e->ver;
	return &d->in;
}

Insn *dc_slow_decode(CPU *cpu)
{
	decode(cpu, &cpu->in);
	return &cpu->in;
}
