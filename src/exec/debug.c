/*
 * debug.c - the debugger's breakpoints and watchpoints, checked by the CPU.
 *
 * Breakpoints cost one test per block entered while any is set: the
 * execution loop asks bp_run_length() how many of the block's
 * instructions may run before one with a breakpoint at its EIP, runs that
 * many, and stops before the next.  Every way of reaching an instruction
 * enters a block (or the single-step path, which asks bp_at()), so none
 * can slip past: jumps, block links, interrupt and exception delivery,
 * IRET, task switches, SYSENTER, a resume in the middle of a block.
 *
 * Watches cost nothing on pages that hold none: tlb_fill() makes no TLB
 * entry for the watched kind of access on a page that overlaps a watch
 * (watch_tlb_ok), so every such access takes the slow path in mmu.c, which
 * reports it here (watch_access) with its linear and physical address and,
 * for a write to RAM, the bytes before it.  The watch function may ask to
 * stop; the instruction finishes and cpu_exec() returns.  Instruction
 * fetches are not data accesses (cpu->fetching), the accessed bits their
 * page walks set are.
 */
#include <string.h>

#include "x86.h"

void cpu_set_breakpoints(CPU *cpu, const uint32_t *eips, unsigned n)
{
	if (n > CPU_MAX_BREAKPOINTS)
		n = CPU_MAX_BREAKPOINTS;
	memcpy(cpu->bp, eips, n * sizeof(*eips));
	cpu->nbp = n;
	cpu->brk = true; /* a running block checks again at its end */
}

void cpu_set_watches(CPU *cpu, const CPUWatch *w, unsigned n, cpu_watch_fn fn, void *opaque)
{
	if (n > CPU_MAX_WATCHES || !fn)
		n = fn ? CPU_MAX_WATCHES : 0;
	memcpy(cpu->watch, w, n * sizeof(*w));
	cpu->nwatch = n;
	cpu->watch_fn = fn;
	cpu->watch_opaque = opaque;
	/* entries made before must not let watched accesses bypass the check */
	tlb_flush(cpu);
	cpu->brk = true;
}

void cpu_skip_breakpoint(CPU *cpu)
{
	cpu->skip_bp = true;
	cpu->skip_eip = cpu->eip;
}

enum cpu_stop cpu_stop_reason(const CPU *cpu)
{
	return cpu->stop_reason;
}

/* ---- breakpoints ---------------------------------------------------------- */

bool bp_at(CPU *cpu, uint32_t eip)
{
	if (cpu->skip_bp && eip == cpu->skip_eip)
		return false;
	for (unsigned i = 0; i < cpu->nbp; i++)
		if (cpu->bp[i] == eip)
			return true;
	return false;
}

unsigned bp_run_length(CPU *cpu, const TB *tb)
{
	uint32_t eip = cpu->eip, end = eip + tb->bytes;
	unsigned n = tb->n;

	for (unsigned i = 0; i < cpu->nbp; i++) {
		uint32_t a = cpu->bp[i], at = eip;

		if (a - eip >= end - eip)
			continue; /* not inside the block's bytes */
		/* at an instruction boundary of the block? */
		for (unsigned k = 0; k < n; at += tb->insn[k++].len) {
			if (at == a) {
				if (!(k == 0 && cpu->skip_bp && cpu->skip_eip == eip))
					n = k;
				break;
			}
			if (at > a)
				break;
		}
	}
	return n;
}

/* ---- watches -------------------------------------------------------------- */

static bool overlaps(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
	return a - b < blen || b - a < alen;
}

bool watch_tlb_ok(CPU *cpu, uint32_t lpage, uint32_t ppage, bool write)
{
	uint8_t kind = write ? CPU_WATCH_WRITE : CPU_WATCH_READ;

	for (unsigned i = 0; i < cpu->nwatch; i++) {
		const CPUWatch *w = &cpu->watch[i];

		if ((w->kinds & kind) &&
		    overlaps(w->phys ? ppage : lpage, PAGE_SIZE, w->addr, w->len ? w->len : 1))
			return false;
	}
	return true;
}

static bool report(CPU *cpu, const CPUAccess *a)
{
	uint8_t kind = a->write ? CPU_WATCH_WRITE : CPU_WATCH_READ;
	uint32_t size = a->size ? a->size : 1;

	for (unsigned i = 0; i < cpu->nwatch; i++) {
		const CPUWatch *w = &cpu->watch[i];
		uint32_t at = w->phys ? a->phys : a->lin;

		if (!(w->kinds & kind) || (!w->phys && !a->has_lin) ||
		    !overlaps(at, size, w->addr, w->len ? w->len : 1))
			continue;
		/* one call per access, whichever watches it overlaps */
		return cpu->watch_fn(cpu->watch_opaque, cpu, a);
	}
	return false;
}

void watch_access(CPU *cpu, const CPUAccess *a)
{
	/* a fetch reads code, which is no data access; but the page walk of a
	 * fetch may set the accessed bit, and that write is one */
	if (!cpu->nwatch || (cpu->fetching && !a->write))
		return;
	if (report(cpu, a)) {
		cpu->dbg_stop = true;
		cpu->brk = true; /* the running block ends after this instruction */
	}
}

/* Where a linear watch sees physical [@phys, +@len) now: the linear address
 * of @phys through the first page of the watch that maps onto the range. */
static bool dma_lin(CPU *cpu, const CPUWatch *w, uint32_t phys, uint32_t len, uint32_t *lin)
{
	uint32_t first = w->addr & ~(PAGE_SIZE - 1);
	uint32_t last = (w->addr + (w->len ? w->len : 1) - 1) & ~(PAGE_SIZE - 1);

	for (uint32_t page = first;; page += PAGE_SIZE) {
		uint32_t p;

		if (mmu_probe(cpu, page, &p) &&
		    overlaps(phys, len, p & ~(PAGE_SIZE - 1), PAGE_SIZE)) {
			*lin = page + (phys - (p & ~(PAGE_SIZE - 1)));
			return true;
		}
		if (page == last)
			return false;
	}
}

bool cpu_watch_dma(CPU *cpu, uint32_t phys, const uint8_t *old, const uint8_t *now, uint32_t len)
{
	CPUAccess a = {
	    .phys = phys, .size = len, .write = true, .dma = true, .old = old, .now = now};

	if (!cpu->nwatch || !len)
		return false;
	for (unsigned i = 0; i < cpu->nwatch && !a.has_lin; i++)
		if (!cpu->watch[i].phys && (cpu->watch[i].kinds & CPU_WATCH_WRITE))
			a.has_lin = dma_lin(cpu, &cpu->watch[i], phys, len, &a.lin);
	if (!report(cpu, &a))
		return false;
	cpu->dbg_stop = true; /* cpu_exec() returns before anything else */
	cpu->brk = true;      /* in the middle of a block: after this instruction */
	return true;
}
