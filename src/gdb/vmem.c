/*
 * vmem.c - guest virtual memory for the debugger, shared by the live and
 * the replay target.
 *
 * Addresses from gdb are linear addresses; they are translated through the
 * CPU's current page tables, read from RAM only.  Only RAM and ROM are
 * accessible: reading an MMIO register from the debugger would change the
 * device (a UART's receive FIFO) behind the guest's back, so such addresses
 * answer like unmapped ones.
 */
#include "gdb_int.h"

#include "../base/base.h"
#include "../memory/memory.h"

static bool read_phys32(AddressSpace *as, uint32_t phys, uint32_t *v)
{
	const FlatRange *r = as_lookup(as, phys);

	if (!r || mr_kind(r->mr) != MR_RAM || r->end - phys < 3)
		return false;
	*v = ld32(mr_host(r->mr) + r->mr_offset + (phys - r->start));
	return true;
}

/*
 * Linear to physical through the page tables (Intel SDM vol. 3, 4.3:
 * 32-bit paging, 4 KiB pages and, with CR4.PSE, 4 MiB pages).
 */
static bool translate(CPU *cpu, AddressSpace *as, uint32_t lin, uint32_t *phys)
{
	uint32_t cr3 = cpu_get_cr(cpu, 3), pde, pte;

	if (!(cpu_get_cr(cpu, 0) & CR0_PG)) {
		*phys = lin;
		return true;
	}
	if (!read_phys32(as, (cr3 & 0xfffff000u) | (lin >> 22) << 2, &pde) || !(pde & 1))
		return false;
	if ((pde & 0x80) && (cpu_get_cr(cpu, 4) & CR4_PSE)) {
		*phys = (pde & 0xffc00000u) | (lin & 0x003fffffu);
		return true;
	}
	if (!read_phys32(as, (pde & 0xfffff000u) | ((lin >> 12) & 0x3ff) << 2, &pte) || !(pte & 1))
		return false;
	*phys = (pte & 0xfffff000u) | (lin & 0xfff);
	return true;
}

bool vmem_page_ok(CPU *cpu, AddressSpace *as, uint32_t lin, bool write, uint32_t *phys)
{
	const FlatRange *r;

	if (!translate(cpu, as, lin, phys))
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
