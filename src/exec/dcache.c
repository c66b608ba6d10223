/*
 * dcache.c - the block cache and self-modifying-code detection.
 *
 * Decoded instructions are kept in blocks: straight runs of instructions
 * in one page, ending after the first one that may jump or change what the
 * execution loop checks between instructions (Insn.flow).  Blocks sit in a
 * direct-mapped table keyed by the host address of their first byte (so
 * RAM aliases share them) and the code size; their instructions live in a
 * pool that is emptied, with the table, when it fills up.  Each block
 * records the code version of its page and is valid while that holds.
 * Versions change when:
 *  - the CPU writes a watched page: such pages never get write TLB entries
 *    (their DIRTY_CODE bit is clear, see tlb_fill), so every write reaches
 *    phys_write's slow path, which calls code_write();
 *  - anything else (device DMA) marks the page dirty: watched pages are
 *    checked after every port or MMIO access and at each cpu_exec() entry;
 *  - the memory map changes or cpu_flush_tlb() is called: all is dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "x86.h"

void dc_alloc(CPU *cpu)
{
	cpu->tb = xcalloc(TB_SIZE, sizeof(TB));
	cpu->pool = xcalloc(POOL_INSNS, sizeof(Insn));
	cpu->pool_used = 0;
}

/*
 * The running block's instructions live in the pool; a device callback in
 * the middle of one (a PCI BAR remap, a snapshot) must not wipe them, so
 * flushes asked for then wait for the block's end (dc_settle), and the
 * block stops after the current instruction.
 */
void dc_flush(CPU *cpu)
{
	if (cpu->in_insn) {
		cpu->dc_pending |= 1;
		cpu->brk = true;
		return;
	}
	if (cpu->tb)
		memset(cpu->tb, 0, TB_SIZE * sizeof(TB));
	jit_flush(cpu); /* the code calls into the pool's instructions */
	cpu->pool_used = 0;
	cpu->last_tb = NULL;
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
		cpu->brk = true;
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
	free(cpu->tb);
	free(cpu->pool);
	free(cpu->code);
	cpu->tb = NULL;
	cpu->pool = NULL;
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
	cpu->vers[cpu->n_vers] = (CodeVers){mr, pages, xcalloc(pages, sizeof(uint32_t)), 0};
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
				cpu->tlb[u][i].wtag = cpu->tlb[u][i].wwtag = 0;
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

/* The CPU wrote a page it runs code from: the running block may be stale
 * from here on, so it stops after this instruction. */
void code_write(CPU *cpu, MemoryRegion *mr, uint64_t off)
{
	uint32_t *ver = code_ver_slot(cpu, mr, off);

	if (ver && (*ver & 1)) {
		unwatch(ver);
		cpu->brk = true;
	}
}

/*
 * Called after port and MMIO accesses and at each cpu_exec() entry: a
 * device may have written a watched page.  Pages become dirty only by
 * ram_mark_dirty() and ram_clear(), which count in ram_marks(): when no
 * region holding code counted one since the last look, no watched page can
 * have become dirty, and the scan of every watched page is skipped (the
 * Linux boot does thousands of port accesses with thousands of pages of
 * code watched).
 */
void code_pages_check(CPU *cpu)
{
	size_t k = 0;
	bool marked = false;

	cpu->io_done = false;
	pt_dma_check(cpu);
	for (size_t i = 0; i < cpu->n_vers; i++) {
		uint64_t m = ram_marks(cpu->vers[i].mr);

		if (m != cpu->vers[i].marks) {
			cpu->vers[i].marks = m;
			marked = true;
		}
	}
	if (!marked)
		return;
	for (size_t i = 0; i < cpu->n_code; i++) {
		CodePage *c = &cpu->code[i];

		if ((*c->ver & 1) && ram_is_dirty(c->mr, c->off, DIRTY_CODE))
			unwatch(c->ver);
		if (*c->ver & 1)
			cpu->code[k++] = *c;
	}
	cpu->n_code = k;
}

/* Decode the block at @host (offset @eip in CS, page of TLB entry @e). */
static TB *tb_build(CPU *cpu, TB *tb, TLBEntry *e, const uint8_t *host, uint32_t eip, bool c32)
{
	const SegReg *cs = &cpu->seg[S_CS];
	uint32_t lin = cs->base + eip;
	unsigned left = PAGE_SIZE - (lin & (PAGE_SIZE - 1)), pos = 0, n = 0;

	/* stay inside the CS limit (and 64 KiB for 16-bit code) as it is now;
	 * tb_find checks the limit again whenever the block is entered */
	if (cs->limit - eip + 1 < left && cs->limit - eip + 1 != 0)
		left = cs->limit - eip + 1;
	if (!c32 && 0x10000 - eip < left)
		left = 0x10000 - eip;
	if (cpu->pool_used + TB_MAX > POOL_INSNS)
		dc_flush(cpu);
	Insn *insn = &cpu->pool[cpu->pool_used];

	while (n < TB_MAX && pos < left) {
		Insn *in = &insn[n];

		if (!decode_soft(cpu, in, host + pos, left - pos, c32))
			break;
		pos += in->len;
		n++;
		if (in->flow != FLOW_NEXT)
			break;
	}
	if (!n)
		return NULL;
	if (mr_kind(e->ram) == MR_RAM)
		watch_page(cpu, e);
	cpu->pool_used += n;
	*tb = (TB){host, *e->ver, (uint16_t)pos, (uint8_t)n, c32, insn, 0, {NULL, NULL}, NULL, 0};
	return tb;
}

static inline uint32_t tb_hash(const uint8_t *host)
{
	uintptr_t h = (uintptr_t)host;

	return (uint32_t)(h ^ (h >> TB_BITS)) & (TB_SIZE - 1);
}

/*
 * The block at CS:EIP, decoded now if need be; NULL when the code is not in
 * a RAM/ROM page the TLB maps, or its first instruction does not fit in the
 * page and the CS limit (the caller decodes it the slow way, which faults
 * where the CPU must).
 */
TB *tb_find(CPU *cpu)
{
	const SegReg *cs = &cpu->seg[S_CS];
	uint32_t eip = cpu->eip, lin = cs->base + eip;
	bool c32 = cs->attr & A_DB;
	TLBEntry *e = &cpu->tlb[cpu->cpl == 3][(lin >> PAGE_BITS) & (TLB_SIZE - 1)];

	if (e->rtag != ((lin & ~(PAGE_SIZE - 1)) | 1) || !e->ver || eip > cs->limit || !cpu->tb)
		return NULL;
	const uint8_t *host = (const uint8_t *)(lin + e->addend);
	TB *tb = &cpu->tb[tb_hash(host)];

	if (tb->host != host || tb->c32 != c32 || tb->ver != *e->ver) {
		tb = tb_build(cpu, tb, e, host, eip, c32);
		if (!tb)
			return NULL;
	}
	/* the whole block inside the limit: no instruction can fault on it */
	if (cs->limit - eip < tb->bytes - 1u || (!c32 && eip + tb->bytes > 0xffff))
		return NULL;
	tb->lstart = lin;
	return tb;
}

/*
 * The block at CS:EIP right after cpu->last_tb ended with a near jump and
 * nothing stopped it: CS, the paging state and the page's code version are
 * what they were when that block was entered, so a block in the same linear
 * page lies at the same distance in the same host page, and is valid if its
 * version is that block's.  The links remember such blocks.
 */
TB *tb_next(CPU *cpu)
{
	TB *prev = cpu->last_tb;
	const SegReg *cs = &cpu->seg[S_CS];
	uint32_t eip = cpu->eip, lin = cs->base + eip;

	cpu->last_tb = NULL;
	if ((lin & ~(PAGE_SIZE - 1)) != (prev->lstart & ~(PAGE_SIZE - 1)))
		return tb_find(cpu);
	const uint8_t *host = prev->host + (int32_t)(lin - prev->lstart);
	for (int k = 0; k < 2; k++) {
		TB *tb = prev->link[k];

		if (tb && tb->host == host && tb->c32 == prev->c32 && tb->ver == prev->ver &&
		    cs->limit - eip >= tb->bytes - 1u && eip <= cs->limit &&
		    (prev->c32 || eip + tb->bytes <= 0xffff)) {
			tb->lstart = lin;
			return tb;
		}
	}
	TB *tb = tb_find(cpu);

	if (tb && tb->host == host) {
		prev->link[1] = prev->link[0];
		prev->link[0] = tb;
	}
	return tb;
}

Insn *dc_slow_decode(CPU *cpu)
{
	decode(cpu, &cpu->in);
	return &cpu->in;
}
