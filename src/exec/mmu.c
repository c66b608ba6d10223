/*
 * mmu.c - guest memory as the CPU sees it: segment limit and type checks,
 * paging (4 KiB and 4 MiB pages, U/S, R/W, CR0.WP, accessed/dirty bits,
 * #PF), the A20 gate, and the software TLB that maps linear pages of RAM to
 * host pointers.
 *
 * The TLB has separate entries for supervisor and user accesses and separate
 * read and write tags.  A write tag is only filled once the page is dirty
 * for every dirty-tracking client, so that stores through the TLB never
 * need to mark anything; whoever clears dirty bits flushes the TLB
 * (cpu_flush_tlb).  Non-RAM accesses go to the bus (mmio_read/mmio_write),
 * which is the recording boundary.
 *
 * The TLB follows the page tables.  A hardware TLB may keep a translation
 * after its PDE or PTE changed until INVLPG or a CR3 load, and leave the
 * accessed bit clear while it does; this one never does.  Ours is flushed
 * for reasons the guest cannot see and which differ between a recording
 * and its replay: a snapshot clears the dirty bits (and flushes), the
 * replay's snapshot cache flushes at its own moments, a replay from a
 * snapshot starts empty.  A stale entry would make what the guest reads,
 * and the A/D bits the CPU writes, depend on those moments, and a replay
 * would diverge from its recording (tests/stress: a PTE changed without
 * INVLPG, read again later).  So the RAM pages that translations were read
 * from (cpu->pt) are watched like code pages: their DIRTY_CODE bit is clear
 * and no write TLB entry maps them, so every CPU write reaches phys_write,
 * which flushes the TLB; a device's write (DMA) is seen by pt_dma_check()
 * where code pages are checked.  The walker's own A/D updates flush
 * nothing: they do not change a translation.  Using the new translation at
 * once is one of the behaviours the SDM allows.
 */
#include <string.h>

#include "x86.h"

#define PTE_P  0x001u
#define PTE_W  0x002u
#define PTE_U  0x004u
#define PTE_A  0x020u
#define PTE_D  0x040u
#define PTE_PS 0x080u

void tlb_flush(CPU *cpu)
{
	memset(cpu->tlb, 0, sizeof(cpu->tlb));
	cpu->n_pt = 0;
}

/* The index in cpu->pt of the page at @off in @mr, or -1. */
static int pt_find(const CPU *cpu, const MemoryRegion *mr, uint64_t off)
{
	off &= ~(uint64_t)(PAGE_SIZE - 1);
	for (unsigned i = 0; i < cpu->n_pt; i++)
		if (cpu->pt[i].mr == mr && cpu->pt[i].off == off)
			return (int)i;
	return -1;
}

/* Watch the page of the paging entry at @phys (see the top). */
static void pt_watch_page(CPU *cpu, uint32_t phys)
{
	const FlatRange *fr = as_lookup(cpu->bus.memory, phys);

	if (!fr || mr_kind(fr->mr) != MR_RAM)
		return;
	uint64_t off = (fr->mr_offset + (phys - fr->start)) & ~(uint64_t)(PAGE_SIZE - 1);

	if (pt_find(cpu, fr->mr, off) >= 0)
		return;
	/* a device's write the code watch has not seen yet must not be lost */
	if (ram_test_and_clear_dirty(fr->mr, off, PAGE_SIZE, DIRTY_CODE))
		code_write(cpu, fr->mr, off);
	for (int u = 0; u < 2; u++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			if (cpu->tlb[u][i].ram == fr->mr && cpu->tlb[u][i].ram_off == off)
				cpu->tlb[u][i].wtag = cpu->tlb[u][i].wwtag = 0;
	cpu->pt[cpu->n_pt++] = (PTPage){fr->mr, (uint32_t)off};
}

/* A walk read the PDE at @pde and, unless it maps a 4 MiB page, the PTE at
 * @pte: a TLB entry made from them must see them change. */
static void pt_watch(CPU *cpu, uint32_t pde, uint32_t pte, bool big)
{
	if (cpu->n_pt + 2 > PT_PAGES)
		tlb_flush(cpu); /* start again rather than grow */
	pt_watch_page(cpu, pde);
	if (!big)
		pt_watch_page(cpu, pte);
}

/* A paging entry the TLB may hold changed: forget every translation.  The
 * running block stops too: a link to the next block (tb_next) assumes the
 * code page's translation held. */
static void pt_changed(CPU *cpu)
{
	tlb_flush(cpu);
	cpu->brk = true;
	cpu->last_tb = NULL;
}

void pt_dma_check(CPU *cpu)
{
	for (unsigned i = 0; i < cpu->n_pt; i++) {
		if (ram_is_dirty(cpu->pt[i].mr, cpu->pt[i].off, DIRTY_CODE)) {
			pt_changed(cpu);
			return;
		}
	}
}

void cpu_flush_tlb(CPU *cpu)
{
	tlb_flush(cpu);
	dc_flush(cpu);
	code_pages_check(cpu);
}

/* INVLPG: drop every entry in the 4 MiB region of @lin (a large page may
 * be cached as many 4 KiB entries). */
void tlb_flush_page(CPU *cpu, uint32_t lin)
{
	for (int u = 0; u < 2; u++) {
		for (unsigned i = 0; i < TLB_SIZE; i++) {
			TLBEntry *e = &cpu->tlb[u][i];
			uint32_t tags = e->rtag | e->wtag | e->wrtag | e->wwtag;

			if (tags && ((tags & ~1u) >> 22) == (lin >> 22))
				e->rtag = e->wtag = e->wrtag = e->wwtag = 0;
		}
	}
}

void mmu_as_changed(void *opaque, AddressSpace *as)
{
	CPU *cpu = opaque;

	(void)as;
	tlb_flush(cpu);
	dc_reset(cpu);
}

static inline uint32_t a20_mask(const CPU *cpu, uint32_t phys)
{
	return cpu->a20 ? phys : phys & ~(1u << 20);
}

/* ---- physical memory ------------------------------------------------- */

/* The host pointer for @phys if it is RAM or ROM, with the range. */
static uint8_t *phys_host(CPU *cpu, uint32_t phys, const FlatRange **out)
{
	const FlatRange *fr = as_lookup(cpu->bus.memory, phys);

	*out = fr;
	if (!fr || (mr_kind(fr->mr) != MR_RAM && mr_kind(fr->mr) != MR_ROM))
		return NULL;
	return mr_host(fr->mr) + fr->mr_offset + (phys - fr->start);
}

static uint32_t phys_read(CPU *cpu, uint32_t phys, unsigned size)
{
	const FlatRange *fr;
	uint8_t *p = phys_host(cpu, phys, &fr);

	if (p && phys + size - 1 <= fr->end) {
		uint32_t v = 0;

		for (unsigned i = 0; i < size; i++)
			v |= (uint32_t)p[i] << (8 * i);
		return v;
	}
	if (fr && mr_kind(fr->mr) == MR_MMIO && phys + size - 1 <= fr->end) {
		cpu->io_done = true;
		cpu->brk = true; /* the device may raise an interrupt */
		return (uint32_t)cpu->bus.mmio_read(cpu->bus.opaque, phys, size);
	}
	if (size > 1) {
		uint32_t v = 0;

		for (unsigned i = 0; i < size; i++)
			v |= phys_read(cpu, phys + i, 1) << (8 * i);
		return v;
	}
	return 0xff;
}

static void phys_write(CPU *cpu, uint32_t phys, uint32_t v, unsigned size)
{
	const FlatRange *fr;
	uint8_t *p = phys_host(cpu, phys, &fr);

	if (p && phys + size - 1 <= fr->end) {
		if (mr_kind(fr->mr) != MR_RAM)
			return;
		uint64_t off = fr->mr_offset + (phys - fr->start);
		bool watched = !ram_is_dirty(fr->mr, off, DIRTY_CODE);

		if (watched) {
			code_write(cpu, fr->mr, off);
			if (!cpu->walking && pt_find(cpu, fr->mr, off) >= 0)
				pt_changed(cpu);
		}
		ram_mark_dirty(fr->mr, off, size);
		for (unsigned i = 0; i < size; i++)
			p[i] = (uint8_t)(v >> (8 * i));
		/* the walker's A/D update: its page stays watched */
		if (watched && cpu->walking)
			ram_test_and_clear_dirty(fr->mr, off & ~(uint64_t)(PAGE_SIZE - 1),
						 PAGE_SIZE, DIRTY_CODE);
		return;
	}
	if (fr && mr_kind(fr->mr) == MR_MMIO && phys + size - 1 <= fr->end) {
		cpu->io_done = true;
		cpu->brk = true;
		cpu->bus.mmio_write(cpu->bus.opaque, phys, v, size);
		return;
	}
	if (size > 1) {
		for (unsigned i = 0; i < size; i++)
			phys_write(cpu, phys + i, (v >> (8 * i)) & 0xff, 1);
	}
}

/* ---- paging ---------------------------------------------------------- */

_Noreturn static void page_fault(CPU *cpu, uint32_t lin, uint32_t err)
{
	cpu->cr2 = lin;
	cpu_raise(cpu, EX_PF, err);
}

/* Set the accessed (and dirty) bits of a paging entry if not yet set. */
static void pte_update(CPU *cpu, uint32_t addr, uint32_t pte, uint32_t bits)
{
	if ((pte & bits) != bits) {
		if (__builtin_expect(cpu->nwatch, 0)) {
			uint8_t old[4];

			st32(old, pte);
			/* the walker writes too: no linear address of its own */
			watch_access(
			    cpu, &(CPUAccess){.phys = addr,
					      .size = 4,
					      .write = true,
					      .old = old,
					      .now = (uint8_t[4]){(uint8_t)(pte | bits),
								  (uint8_t)((pte | bits) >> 8),
								  (uint8_t)((pte | bits) >> 16),
								  (uint8_t)((pte | bits) >> 24)}});
		}
		cpu->walking = true;
		phys_write(cpu, addr, pte | bits, 4);
		cpu->walking = false;
	}
}

/*
 * Translate @lin for an access; raises #PF.  *@wok says whether a write at
 * this privilege would be allowed (for filling the TLB).
 */
static uint32_t translate(CPU *cpu, uint32_t lin, bool write, bool user)
{
	if (!(cpu->cr0 & CR0_PG))
		return a20_mask(cpu, lin);

	uint32_t err = (write ? 2 : 0) | (user ? 4 : 0);
	uint32_t pde_addr = (cpu->cr3 & 0xfffff000u) | ((lin >> 20) & 0xffc);
	uint32_t pde = phys_read(cpu, a20_mask(cpu, pde_addr), 4);

	if (!(pde & PTE_P))
		page_fault(cpu, lin, err);
	bool big = (pde & PTE_PS) && (cpu->cr4 & CR4_PSE);
	uint32_t pte_addr = 0, pte = pde, perm = pde;

	if (!big) {
		pte_addr = (pde & 0xfffff000u) | ((lin >> 10) & 0xffc);
		pte = phys_read(cpu, a20_mask(cpu, pte_addr), 4);
		if (!(pte & PTE_P))
			page_fault(cpu, lin, err);
		perm = pde & pte;
	}
	if (user && !(perm & PTE_U))
		page_fault(cpu, lin, err | 1);
	if (write && !(perm & PTE_W) && (user || (cpu->cr0 & CR0_WP)))
		page_fault(cpu, lin, err | 1);
	pt_watch(cpu, a20_mask(cpu, pde_addr), a20_mask(cpu, pte_addr), big);
	if (big) {
		pte_update(cpu, a20_mask(cpu, pde_addr), pde, PTE_A | (write ? PTE_D : 0));
		return a20_mask(cpu, (pde & 0xffc00000u) | (lin & 0x3fffffu));
	}
	pte_update(cpu, a20_mask(cpu, pde_addr), pde, PTE_A);
	pte_update(cpu, a20_mask(cpu, pte_addr), pte, PTE_A | (write ? PTE_D : 0));
	return a20_mask(cpu, (pte & 0xfffff000u) | (lin & 0xfff));
}

/*
 * A page-table entry for mmu_probe(): from RAM or ROM only, so that a look
 * by a debugger or a tool never reaches a device (an MMIO read would
 * change it, or in replay take the journal's next event).  false if the
 * entry is anywhere else.
 */
static bool probe_entry(CPU *cpu, uint32_t phys, uint32_t *v)
{
	const FlatRange *fr;
	uint8_t *p = phys_host(cpu, a20_mask(cpu, phys), &fr);

	if (!p || a20_mask(cpu, phys) + 3 > fr->end)
		return false;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return true;
}

/*
 * The one page walk for everything outside the instructions (gdb, the
 * trace tools, libflashback, the watch's page search): the walk of
 * translate() above without its checks and side effects (no fault, no
 * accessed or dirty bits, no TLB fill, no device read).
 */
bool mmu_probe(CPU *cpu, uint32_t lin, uint32_t *phys)
{
	uint32_t pde, pte;

	if (!(cpu->cr0 & CR0_PG)) {
		*phys = a20_mask(cpu, lin);
		return true;
	}
	if (!probe_entry(cpu, (cpu->cr3 & 0xfffff000u) | ((lin >> 20) & 0xffc), &pde) ||
	    !(pde & PTE_P))
		return false;
	if ((pde & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
		*phys = a20_mask(cpu, (pde & 0xffc00000u) | (lin & 0x3fffffu));
		return true;
	}
	if (!probe_entry(cpu, (pde & 0xfffff000u) | ((lin >> 10) & 0xffc), &pte) || !(pte & PTE_P))
		return false;
	*phys = a20_mask(cpu, (pte & 0xfffff000u) | (lin & 0xfff));
	return true;
}

/* ---- linear accesses ------------------------------------------------- */

static inline TLBEntry *tlb_of(CPU *cpu, uint32_t lin, bool user)
{
	return &cpu->tlb[user][(lin >> PAGE_BITS) & (TLB_SIZE - 1)];
}

/* Try to make a TLB entry for the page of @lin that maps to @phys. */
static void tlb_fill(CPU *cpu, uint32_t lin, uint32_t phys, bool write, bool user)
{
	uint32_t ppage = phys & ~(PAGE_SIZE - 1);
	const FlatRange *fr;
	uint8_t *host = phys_host(cpu, ppage, &fr);

	if (!host || fr->end < ppage + PAGE_SIZE - 1)
		return;
	/* A20 off folds bit 20 of the page number: the whole page folds alike */
	TLBEntry *e = tlb_of(cpu, lin, user);
	uint32_t lpage = lin & ~(PAGE_SIZE - 1);
	uintptr_t addend = (uintptr_t)host - (uintptr_t)lpage;

	if (e->addend != addend || ((e->rtag | e->wtag | e->wrtag | e->wwtag) & ~1u) != lpage)
		e->rtag = e->wtag = e->wrtag = e->wwtag = 0;
	e->addend = addend;
	e->ram = fr->mr;
	e->ram_off = (uint32_t)(fr->mr_offset + (ppage - fr->start));
	e->ver = code_ver_slot(cpu, fr->mr, e->ram_off);
	e->phys = ppage;
	/* a watched kind of access on this page must be reported: the
	 * watched tags send it to the slow path's short way (read_slow) */
	bool watched = cpu->nwatch && !watch_tlb_ok(cpu, lpage, ppage, write);

	if (!write) {
		if (watched)
			e->wrtag = lpage | 1;
		else
			e->rtag = lpage | 1;
		return;
	}
	if (mr_kind(fr->mr) != MR_RAM)
		return;
	if (ram_is_dirty(fr->mr, e->ram_off, DIRTY_SNAPSHOT) &&
	    ram_is_dirty(fr->mr, e->ram_off, DIRTY_CODE)) {
		if (watched)
			e->wwtag = lpage | 1;
		else
			e->wtag = lpage | 1;
	}
}

/* The RAM bytes at @phys, or NULL (MMIO, nothing, or across a range). */
static const uint8_t *ram_bytes(CPU *cpu, uint32_t phys, unsigned size)
{
	const FlatRange *fr;
	const uint8_t *p = phys_host(cpu, phys, &fr);

	return p && mr_kind(fr->mr) == MR_RAM && phys + size - 1 <= fr->end ? p : NULL;
}

/* A watched page: tell debug.c about this access. */
static void watched(CPU *cpu, uint32_t lin, uint32_t phys, unsigned size, bool write,
		    const uint8_t *old, uint32_t v)
{
	uint8_t now[4];

	for (unsigned i = 0; i < size; i++)
		now[i] = (uint8_t)(v >> (8 * i));
	watch_access(cpu, &(CPUAccess){.lin = lin,
				       .phys = phys,
				       .size = size,
				       .has_lin = true,
				       .write = write,
				       .old = old,
				       .now = now});
}

static uint32_t read_slow(CPU *cpu, uint32_t lin, unsigned size, bool user)
{
	TLBEntry *e = tlb_of(cpu, lin, user);
	uint32_t off = lin & (PAGE_SIZE - 1);

	/* a watched page the TLB knows: no walk, just the report */
	if (e->wrtag == ((lin & ~(PAGE_SIZE - 1)) | 1) && off + size <= PAGE_SIZE) {
		const uint8_t *p = (const uint8_t *)(lin + e->addend);
		uint32_t v = 0;

		for (unsigned i = 0; i < size; i++)
			v |= (uint32_t)p[i] << (8 * i);
		watched(cpu, lin, e->phys | off, size, false, NULL, v);
		return v;
	}
	if ((lin & (PAGE_SIZE - 1)) + size > PAGE_SIZE) {
		uint32_t v = 0;

		for (unsigned i = 0; i < size; i++)
			v |= (uint32_t)lin_read8(cpu, lin + i, user) << (8 * i);
		return v;
	}
	uint32_t phys = translate(cpu, lin, false, user);

	tlb_fill(cpu, lin, phys, false, user);
	uint32_t v = phys_read(cpu, phys, size);

	if (__builtin_expect(cpu->nwatch, 0))
		watched(cpu, lin, phys, size, false, NULL, v);
	return v;
}

static void write_slow(CPU *cpu, uint32_t lin, uint32_t v, unsigned size, bool user)
{
	uint32_t off = lin & (PAGE_SIZE - 1);
	TLBEntry *e = tlb_of(cpu, lin, user);

	/* a watched page the TLB knows (dirty, no code): write and report */
	if (e->wwtag == ((lin & ~(PAGE_SIZE - 1)) | 1) && off + size <= PAGE_SIZE) {
		uint8_t *p = (uint8_t *)(lin + e->addend), old[4];

		memcpy(old, p, size);
		for (unsigned i = 0; i < size; i++)
			p[i] = (uint8_t)(v >> (8 * i));
		watched(cpu, lin, e->phys | off, size, true, old, v);
		return;
	}

	if (off + size > PAGE_SIZE) {
		/* translate both pages first: a fault on the second writes nothing */
		unsigned first = PAGE_SIZE - off;
		uint32_t p1 = translate(cpu, lin, true, user);
		uint32_t p2 = translate(cpu, lin + first, true, user);

		for (unsigned i = 0; i < size; i++) {
			uint32_t p = i < first ? p1 + i : p2 + (i - first);
			const uint8_t *r = cpu->nwatch ? ram_bytes(cpu, p, 1) : NULL;
			uint8_t old = r ? *r : 0;

			phys_write(cpu, p, (v >> (8 * i)) & 0xff, 1);
			if (__builtin_expect(cpu->nwatch, 0))
				watched(cpu, lin + i, p, 1, true, r ? &old : NULL, v >> (8 * i));
		}
		return;
	}
	uint32_t phys = translate(cpu, lin, true, user);
	uint8_t old[4];
	const uint8_t *r = cpu->nwatch ? ram_bytes(cpu, phys, size) : NULL;

	if (r)
		memcpy(old, r, size);
	phys_write(cpu, phys, v, size);
	tlb_fill(cpu, lin, phys, true, user);
	if (__builtin_expect(cpu->nwatch, 0))
		watched(cpu, lin, phys, size, true, r ? old : NULL, v);
}

uint8_t lin_read8(CPU *cpu, uint32_t lin, bool user)
{
	TLBEntry *e = tlb_of(cpu, lin, user);

	if (e->rtag == ((lin & ~(PAGE_SIZE - 1)) | 1))
		return *(uint8_t *)(lin + e->addend);
	return (uint8_t)read_slow(cpu, lin, 1, user);
}

uint16_t lin_read16(CPU *cpu, uint32_t lin, bool user)
{
	TLBEntry *e = tlb_of(cpu, lin, user);

	if (e->rtag == ((lin & ~(PAGE_SIZE - 1)) | 1) && (lin & 0xfff) <= 0xffe)
		return ld16((uint8_t *)(lin + e->addend));
	return (uint16_t)read_slow(cpu, lin, 2, user);
}

uint32_t lin_read32(CPU *cpu, uint32_t lin, bool user)
{
	TLBEntry *e = tlb_of(cpu, lin, user);

	if (e->rtag == ((lin & ~(PAGE_SIZE - 1)) | 1) && (lin & 0xfff) <= 0xffc)
		return ld32((uint8_t *)(lin + e->addend));
	return read_slow(cpu, lin, 4, user);
}

void lin_write8(CPU *cpu, uint32_t lin, uint8_t v, bool user)
{
	TLBEntry *e = tlb_of(cpu, lin, user);

	if (e->wtag == ((lin & ~(PAGE_SIZE - 1)) | 1))
		*(uint8_t *)(lin + e->addend) = v;
	else
		write_slow(cpu, lin, v, 1, user);
}

void lin_write16(CPU *cpu, uint32_t lin, uint16_t v, bool user)
{
	TLBEntry *e = tlb_of(cpu, lin, user);

	if (e->wtag == ((lin & ~(PAGE_SIZE - 1)) | 1) && (lin & 0xfff) <= 0xffe)
		st16((uint8_t *)(lin + e->addend), v);
	else
		write_slow(cpu, lin, v, 2, user);
}

void lin_write32(CPU *cpu, uint32_t lin, uint32_t v, bool user)
{
	TLBEntry *e = tlb_of(cpu, lin, user);

	if (e->wtag == ((lin & ~(PAGE_SIZE - 1)) | 1) && (lin & 0xfff) <= 0xffc)
		st32((uint8_t *)(lin + e->addend), v);
	else
		write_slow(cpu, lin, v, 4, user);
}

/* The host address of @lin for reading if the TLB holds it, else NULL. */
const uint8_t *tlb_read_ptr(CPU *cpu, uint32_t lin)
{
	TLBEntry *e = tlb_of(cpu, lin, cpu_user(cpu));

	if (e->rtag == ((lin & ~(PAGE_SIZE - 1)) | 1))
		return (const uint8_t *)(lin + e->addend);
	return NULL;
}

uint8_t fetch8_lin(CPU *cpu, uint32_t lin)
{
	uint8_t b;

	cpu->fetching = true; /* not a data access for the watches */
	b = lin_read8(cpu, lin, cpu_user(cpu));
	cpu->fetching = false;
	return b;
}

/* Descriptor tables and the TSS are accessed with supervisor rights. */
uint32_t sys_read32(CPU *cpu, uint32_t lin)
{
	return lin_read32(cpu, lin, false);
}

uint16_t sys_read16(CPU *cpu, uint32_t lin)
{
	return lin_read16(cpu, lin, false);
}

uint8_t sys_read8(CPU *cpu, uint32_t lin)
{
	return lin_read8(cpu, lin, false);
}

void sys_write32(CPU *cpu, uint32_t lin, uint32_t v)
{
	lin_write32(cpu, lin, v, false);
}

void sys_write16(CPU *cpu, uint32_t lin, uint16_t v)
{
	lin_write16(cpu, lin, v, false);
}

void sys_write8(CPU *cpu, uint32_t lin, uint8_t v)
{
	lin_write8(cpu, lin, v, false);
}

/* ---- segmentation ---------------------------------------------------- */

_Noreturn static void seg_fault(CPU *cpu, int s)
{
	cpu_raise(cpu, s == S_SS ? EX_SS : EX_GP, 0);
}

void seg_check(CPU *cpu, int s, uint32_t off, unsigned size, bool write)
{
	const SegReg *sr = &cpu->seg[s];
	uint32_t last = off + size - 1;

	if (pmode(cpu) && !v86(cpu)) {
		if (!(sr->attr & A_P))
			seg_fault(cpu, s);
		if (sr->attr & A_CODE) {
			if (write || !(sr->attr & A_RW))
				seg_fault(cpu, s);
		} else if (write && !(sr->attr & A_RW)) {
			seg_fault(cpu, s);
		}
	}
	if (!(sr->attr & A_CODE) && (sr->attr & A_EXPDOWN)) {
		uint32_t top = (sr->attr & A_DB) ? 0xffffffffu : 0xffffu;

		if (off <= sr->limit || last > top || last < off)
			seg_fault(cpu, s);
		return;
	}
	if (last > sr->limit || last < off)
		seg_fault(cpu, s);
}

uint32_t seg_lin(CPU *cpu, int s, uint32_t off, unsigned size, bool write)
{
	const SegReg *sr = &cpu->seg[s];

	if (__builtin_expect(cpu->dbg_data, 0))
		dbg_data_check(cpu, sr->base + off, size, write);
	/* alignment check: ring 3 with CR0.AM and EFLAGS.AC */
	if (size <= 8 && ((sr->base + off) & (size - 1)) && cpu->cpl == 3 && (cpu->cr0 & CR0_AM) &&
	    (cpu->flags & F_AC))
		cpu_raise(cpu, EX_AC, 0);

	/* the common case: a present, flat-enough, right-typed segment */
	if (off + size - 1 <= sr->limit && off + size - 1 >= off &&
	    (!pmode(cpu) || v86(cpu) ||
	     ((sr->attr & (A_P | A_S | A_CODE | A_EXPDOWN | (write ? A_RW : 0))) ==
	      (A_P | A_S | (write ? A_RW : 0)))))
		return sr->base + off;
	seg_check(cpu, s, off, size, write);
	return sr->base + off;
}

/* The accesses mem_fast() (x86.h) cannot do alone. */
uint32_t rd_slow(CPU *cpu, int s, uint32_t off, unsigned size)
{
	uint32_t lin = seg_lin(cpu, s, off, size, false);

	if (size == 1)
		return lin_read8(cpu, lin, cpu_user(cpu));
	if (size == 2)
		return lin_read16(cpu, lin, cpu_user(cpu));
	return lin_read32(cpu, lin, cpu_user(cpu));
}

void wr_slow(CPU *cpu, int s, uint32_t off, uint32_t v, unsigned size)
{
	uint32_t lin = seg_lin(cpu, s, off, size, true);

	if (size == 1)
		lin_write8(cpu, lin, (uint8_t)v, cpu_user(cpu));
	else if (size == 2)
		lin_write16(cpu, lin, (uint16_t)v, cpu_user(cpu));
	else
		lin_write32(cpu, lin, v, cpu_user(cpu));
}
