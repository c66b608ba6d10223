/*
 * live.c - the live machine as a gdb target (flashback run -s / -gdb).
 *
 * Memory goes through the guest's current paging (vmem.c).  Only RAM and
 * ROM are read and only RAM is written.  Writes go through
 * cpu_physical_memory_rw(), the one entry point for writes into guest RAM
 * from outside the CPU, so they mark pages dirty and a recorder sees them.
 */
#include "gdb_int.h"

#include <string.h>

#include "../machine/machine.h"

static bool live_read(void *opaque, uint32_t addr, void *buf, uint32_t len)
{
	Machine *m = opaque;

	return vmem_read(m->cpu, m->memory, addr, buf, len);
}

static void live_dma(void *opaque, uint64_t addr, const uint8_t *old, const uint8_t *now,
		     size_t len);

static bool live_write(void *opaque, uint32_t addr, const void *buf, uint32_t len)
{
	Machine *m = opaque;
	const uint8_t *p = buf;
	uint32_t done = 0;
	bool watching = dma_has_watch(m->dma); /* the debugger's watch on DMA is on */

	if (!vmem_range_ok(m->cpu, m->memory, addr, len, true))
		return false;
	while (done < len) {
		uint32_t a = addr + done, n = 4096 - (a & 4095), phys;

		if (n > len - done)
			n = len - done;
		if (!vmem_page_ok(m->cpu, m->memory, a, true, &phys))
			return false;
		/* gdb's own write is not the guest's: no watch sees it */
		dma_set_watch(m->dma, NULL, NULL);
		cpu_physical_memory_rw(m->dma, phys, (void *)(p + done), n, true);
		dma_set_watch(m->dma, watching ? live_dma : NULL, m);
		done += n;
	}
	return true;
}

static bool live_monitor(void *opaque, const char *cmd, FILE *out)
{
	Machine *m = opaque;

	if (strcmp(cmd, "nmi") == 0) {
		/* QEMU's "nmi": the NMI line, taken when the guest runs again. */
		machine_nmi(m);
		return true;
	}
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

/* A device's DMA into a watched range: the CPU's watches decide. */
static void live_dma(void *opaque, uint64_t addr, const uint8_t *old, const uint8_t *now,
		     size_t len)
{
	Machine *m = opaque;

	cpu_watch_dma(m->cpu, (uint32_t)addr, old, now, (uint32_t)len);
}

static void live_set_hooks(void *opaque, const uint32_t *eips, unsigned nbp, const CPUWatch *w,
			   unsigned nw, cpu_watch_fn fn, void *fn_opaque)
{
	Machine *m = opaque;

	cpu_set_breakpoints(m->cpu, eips, nbp);
	cpu_set_watches(m->cpu, w, nw, fn, fn_opaque);
	dma_set_watch(m->dma, nw > 0 ? live_dma : NULL, m);
}

GdbStub *gdb_live_new(struct Machine *m, const char *host, int port, bool wait)
{
	GdbTarget t = {
	    .opaque = m,
	    .cpu = m->cpu,
	    .read_mem = live_read,
	    .write_mem = live_write,
	    .monitor = live_monitor,
	    .set_hooks = live_set_hooks,
	    .monitor_help =
		"monitor info mtree       the memory and I/O region trees and flat views\n"
		"monitor nmi              an NMI on the PC's NMI line (the local APIC's LINT1)\n",
	};
	char err[256];
	GdbStub *s = gdb_listen(&t, host, port, wait, err);

	if (!s)
		fatal(EXIT_USAGE, "%s", err);
	return s;
}
