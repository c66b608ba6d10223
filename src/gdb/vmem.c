/*
 * vmem.c - guest virtual memory for the debugger's live target.
 *
 * Addresses from gdb are linear addresses; they are translated by the
 * CPU's own page walk (cpu_translate: the walk the instructions use, with
 * no side effects), so the debugger and the guest cannot disagree on a
 * mapping.  Only RAM and ROM are accessible: reading an MMIO register
 * from the debugger would change the device (a UART's receive FIFO) behind
 * the guest's back, so such addresses answer like unmapped ones.  (The
 * replay target reads through libflashback's fb_read, which stands on the
 * same walk.)
 */
#include "gdb_int.h"

#include "../base/base.h"
#include "../memory/memory.h"

bool vmem_page_ok(CPU *cpu, AddressSpace *as, uint32_t lin, bool write, uint32_t *phys)
{
	const FlatRange *r;

	if (!cpu_translate(cpu, lin, phys))
		return false;
	r = as_lookup(as, *phys);
	return r && (mr_kind(r->mr) == MR_RAM || (!write && mr_kind(r->mr) == MR_ROM));
}
bool vmem_range_ok(CPU *cpu, AddressSpace *as, uint32_t addr, uint32_t len, bool write)
{
	uint64_t a = addr, end = (uint64_t)addr + len;
	uint32_t phys;

	if (end > (uint64_t)UINT32_MAX + 1)
		return false;
	while (a < end) {
		if (!vmem_page_ok(cpu, as, (uint32_t)a, write, &phys))
			return false;
		a = (a | 0xfff) + 1;
	}
	return true;
}

bool vmem_read(CPU *cpu, AddressSpace *as, uint32_t addr, void *buf, uint32_t len)
{
	if (!vmem_range_ok(cpu, as, addr, len, false))
		return false;
	return cpu_read_linear(cpu, addr, buf, len);
}
