/*
 * live.c - the live machine as a gdb target (flashback run -s / -gdb).
 *
 * Memory goes through the guest's current paging.  Only RAM and ROM are
 * read and only RAM is written: reading an MMIO register from the debugger
 * would change the device (a UART's receive FIFO) behind the guest's back,
 * so such addresses answer like unmapped ones.  Writes go through
 * cpu_physical_memory_rw(), the one entry point for writes into guest RAM
 * from outside the CPU, so they mark pages dirty and a recorder sees them.
 */
#include "gdb.h"

#include <string.h>

#include "../machine/machine.h"

/*
 * Linear to physical through the page tables (Intel SDM vol. 3, 4.3:
 * 32-bit paging, 4 KiB pages and, with CR4.PSE, 4 MiB pages).  Page
 * tables are read from RAM only.
 */
static bool read_phys32(Machine *m, uint32_t phys, uint32_t *v)
{
	const FlatRange *r = as_lookup(m->memory, phys);

	if (!r || mr_kind(r->mr) != MR_RAM || r->end - phys < 3)
		return false;
	*v = ld32(mr_host(r->mr) + r->mr_offset + (phys - r->start));
	return true;
}

static bool translate(Machine *m, uint32_t lin, uint32_t *phys)
{
	CPU *cpu = m->cpu;
	uint32_t cr3 = cpu_get_cr(cpu, 3), pde, pte;

	if (!(cpu_get_cr(cpu, 0) & CR0_PG)) {
		*phys = lin;
		return true;
	}
	if (!read_phys32(m, (cr3 & 0xfffff000u) | (lin >> 22) << 2, &pde) || !(pde & 1))
		return false;
	if ((pde & 0x80) && (cpu_get_cr(cpu, 4) & CR4_PSE)) {
		*phys = (pde & 0xffc00000u) | (lin & 0x003fffffu);
		return true;
	}
	if (!read_phys32(m, (pde & 0xfffff000u) | ((lin >> 12) & 0x3ff) << 2, &pte) || !(pte & 1))
		return false;
	*phys = (pte & 0xfffff000u) | (lin & 0xfff);
	return true;
}

/* The page of @lin is mapped to RAM (or, unless @write, ROM). */
static bool page_ok(Machine *m, uint32_t lin, bool write, uint32_t *phys)
{
	const FlatRange *r;

	if (!translate(m, lin, phys))
		return false;
	r = as_lookup(m->memory, *phys);
	return r && (mr_kind(r->mr) == MR_RAM || (!write && mr_kind(r->mr) == MR_ROM));
}

/* Split [addr, addr + len) at page boundaries and check each page. */
static bool range_ok(Machine *m, uint32_t addr, uint32_t len, bool write)
{
	uint64_t a = addr, end = (uint64_t)addr + len;
	uint32_t phys;

	while (a < end) {
		if (!page_ok(m, (uint32_t)a, write, &phys))
			return false;
		a = (a | 0xfff) + 1;
	}
	return true;
}

static bool live_read(void *opaque, uint32_t addr, void *buf, uint32_t len)
{
	Machine *m = opaque;

	if ((uint64_t)addr + len > (uint64_t)UINT32_MAX + 1 || !range_ok(m, addr, len, false))
		return false;
	return cpu_read_linear(m->cpu, addr, buf, len);
}

static bool live_write(void *opaque, uint32_t addr, const void *buf, uint32_t len)
{
	Machine *m = opaque;
	const uint8_t *p = buf;
	uint32_t done = 0;

	if ((uint64_t)addr + len > (uint64_t)UINT32_MAX + 1 || !range_ok(m, addr, len, true))
		return false;
	while (done < len) {
		uint32_t a = addr + done, n = 4096 - (a & 4095), phys;

		if (n > len - done)
			n = len - done;
		if (!page_ok(m, a, true, &phys))
			return false;
		cpu_physical_memory_rw(phys, (void *)(p + done), n, true);
		done += n;
	}
	return true;
}

static bool live_monitor(void *opaque, const char *cmd, FILE *out)
{
	Machine *m = opaque;

	if (strcmp(cmd, "info mtree") == 0) {
		as_dump_tree(m->memory, out);
		as_dump_tree(m->io, out);
		fputc('\n', out);
		as_dump_flat(m->memory, out);
		as_dump_flat(m->io, out);
		return true;
	}
	return false;
}

GdbStub *gdb_live_new(struct Machine *m, const char *host, int port, bool wait)
{
	GdbTarget t = {
	    .opaque = m,
	    .cpu = m->cpu,
	    .read_mem = live_read,
	    .write_mem = live_write,
	    .monitor = live_monitor,
	    .monitor_help =
		"monitor info mtree       the memory and I/O region trees and flat views\n",
	};
	char err[256];
	GdbStub *s = gdb_listen(&t, host, port, wait, err);

	if (!s)
		fatal(EXIT_USAGE, "%s", err);
	return s;
}
