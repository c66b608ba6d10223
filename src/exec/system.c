/*
 * system.c - system instructions: port I/O with the IOPL and TSS I/O bitmap
 * checks, control and debug registers, MSRs, RDTSC, CPUID, descriptor table
 * registers, LLDT/LTR/LAR/LSL/VERR/VERW/ARPL, CLTS/INVD/WBINVD/INVLPG, the
 * x87 escapes (handed to fpu.c) and #UD.
 */
#include "x86.h"

H(op_ud)
{
	cpu_fault(cpu, EX_UD);
}

/* ---- port I/O ------------------------------------------------------- */

bool io_allowed(CPU *cpu, uint16_t port, unsigned size)
{
	if (!pmode(cpu) || (!v86(cpu) && cpu->cpl <= iopl(cpu)))
		return true;
	/* the I/O permission bitmap of a 32-bit TSS */
	if ((cpu->tr.attr & 0xf) != 0x9 && (cpu->tr.attr & 0xf) != 0xb)
		return false;
	if (cpu->tr.limit < 0x67)
		return false;
	uint32_t base = sys_read16(cpu, cpu->tr.base + 0x66);
	uint32_t byte = base + port / 8;

	if (byte + 1 > cpu->tr.limit)
		return false;
	uint32_t bits = sys_read16(cpu, cpu->tr.base + byte);

	return !((bits >> (port & 7)) & ((1u << size) - 1));
}

/* ---- I/O breakpoints (DR7 R/W = 10b, with CR4.DE) ------------------ */

static bool io_bp_enabled(const CPU *cpu, int n)
{
	return (cpu->dr[7] >> (2 * n)) & 3 && ((cpu->dr[7] >> (16 + 4 * n)) & 3) == 2;
}

static bool io_bp_armed(const CPU *cpu)
{
	if (!(cpu->cr4 & CR4_DE))
		return false;
	for (int n = 0; n < 4; n++)
		if (io_bp_enabled(cpu, n))
			return true;
	return false;
}

/*
 * DR7 or CR4.DE changed.  dbg_update() (cpu.c) knows the instruction and
 * data breakpoints; an armed I/O breakpoint needs the same per-instruction
 * path (dbg_data: the trap after the instruction is taken there), so it
 * sets that too.
 */
void dbg_refresh(CPU *cpu)
{
	dbg_update(cpu);
	if (io_bp_armed(cpu))
		cpu->dbg_data = true;
}

/* An access to ports [port, port + size): note the I/O breakpoints it hits;
 * the #DB trap comes after the instruction (as for data breakpoints). */
static void io_bp_check(CPU *cpu, uint16_t port, unsigned size)
{
	static const uint8_t lens[4] = {1, 2, 8, 4};

	if (!(cpu->cr4 & CR4_DE))
		return;
	for (int n = 0; n < 4; n++) {
		unsigned len = lens[(cpu->dr[7] >> (18 + 4 * n)) & 3];
		uint32_t a = cpu->dr[n] & 0xffff & ~(len - 1);

		if (io_bp_enabled(cpu, n) && port <= a + len - 1 && a <= port + size - 1u)
			cpu->dbg_hits |= 1u << n;
	}
}

uint32_t io_in(CPU *cpu, uint16_t port, unsigned size)
{
	cpu->io_done = true;
	io_bp_check(cpu, port, size);
	if (!cpu->bus.io_read)
		return bits_mask(size * 8);
	return cpu->bus.io_read(cpu->bus.opaque, port, size) & bits_mask(size * 8);
}

/* The PC's answer to a write of port 0xF0 (see fpu_check_pending()). */
#define PORT_IGNNE 0xf0

static bool ferr_active(CPU *cpu)
{
	return fpu_exception_pending(&cpu->fpu) && !(cpu->cr0 & CR0_NE);
}

void io_out(CPU *cpu, uint16_t port, uint32_t v, unsigned size)
{
	cpu->io_done = true;
	io_bp_check(cpu, port, size);
	if (port <= PORT_IGNNE && port + size > PORT_IGNNE && ferr_active(cpu))
		cpu->fpu.ignne = true;
	if (cpu->bus.io_write)
		cpu->bus.io_write(cpu->bus.opaque, port, v & bits_mask(size * 8), size);
}

static unsigned io_size(const Insn *in)
{
	return (in->op & 1) ? (in->o32 ? 4 : 2) : 1;
}

H(op_in)
{
	unsigned size = io_size(in);
	uint16_t port = in->op & 8 ? (uint16_t)cpu->r[R_EDX] : (uint16_t)in->imm;

	if (!io_allowed(cpu, port, size))
		cpu_raise(cpu, EX_GP, 0);
	setr(cpu, R_EAX, io_in(cpu, port, size), size * 8);
}

H(op_out)
{
	unsigned size = io_size(in);
	uint16_t port = in->op & 8 ? (uint16_t)cpu->r[R_EDX] : (uint16_t)in->imm;

	if (!io_allowed(cpu, port, size))
		cpu_raise(cpu, EX_GP, 0);
	io_out(cpu, port, cpu->r[R_EAX], size);
}

/* ---- privilege helpers ---------------------------------------------- */

static void need_cpl0(CPU *cpu)
{
	if (pmode(cpu) && (cpu->cpl != 0 || v86(cpu)))
		cpu_raise(cpu, EX_GP, 0);
}

static void need_pmode(CPU *cpu)
{
	if (!pmode(cpu) || v86(cpu))
		cpu_fault(cpu, EX_UD);
}

/* ---- control and debug registers ------------------------------------ */

#define CR4_MCE	  0x0040u
#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE | CR4_MCE | CR4_PGE)

static void write_cr0(CPU *cpu, uint32_t v)
{
	if ((v & CR0_PG) && !(v & CR0_PE))
		cpu_raise(cpu, EX_GP, 0);
	if ((v & CR0_NW) && !(v & CR0_CD))
		cpu_raise(cpu, EX_GP, 0);
	v = (v & 0xe005003fu) | CR0_ET;
	if ((v ^ cpu->cr0) & (CR0_PG | CR0_PE | CR0_WP))
		tlb_flush(cpu);
	cpu->cr0 = v;
	if (!(v & CR0_PE))
		cpu->cpl = 0; /* back in real mode */
}

H(op_mov_cr)
{
	need_cpl0(cpu);
	if (in->reg == 1 || in->reg > 4)
		cpu_fault(cpu, EX_UD);
	if (in->op == 0x120) {
		cpu->r[in->rm] = cpu_get_cr(cpu, in->reg);
		return;
	}
	uint32_t v = cpu->r[in->rm];

	switch (in->reg) {
	case 0:
		write_cr0(cpu, v);
		break;
	case 2:
		cpu->cr2 = v;
		break;
	case 3:
		cpu->cr3 = v & 0xfffff018u;
		tlb_flush(cpu);
		break;
	case 4:
		if (v & ~CR4_VALID)
			cpu_raise(cpu, EX_GP, 0);
		if ((v ^ cpu->cr4) & (CR4_PSE | CR4_PGE))
			tlb_flush(cpu);
		cpu->cr4 = v;
		dbg_refresh(cpu); /* CR4.DE arms I/O breakpoints */
		break;
	}
}

H(op_mov_dr)
{
	unsigned n = in->reg;

	need_cpl0(cpu);
	if (n == 4 || n == 5) {
		if (cpu->cr4 & CR4_DE)
			cpu_fault(cpu, EX_UD);
		n += 2;
	}
	if (in->op == 0x121) {
		cpu->r[in->rm] = cpu->dr[n];
		return;
	}
	uint32_t v = cpu->r[in->rm];

	if (n == 6)
		v = (v & 0x0000e00fu) | 0xffff0ff0u;
	else if (n == 7)
		v = (v & 0xffff2bffu) | 0x400u;
	cpu->dr[n] = v;
	dbg_refresh(cpu);
}

H(op_clts)
{
	need_cpl0(cpu);
	cpu->cr0 &= ~CR0_TS;
}

H(op_wbinvd)
{
	need_cpl0(cpu);
}

/* ---- MSRs, TSC, CPUID ---------------------------------------------- */

enum {
	MSR_TSC = 0x10,
	MSR_PLATFORM_ID = 0x17,
	MSR_BIOS_SIGN_ID = 0x8b, /* microcode revision */
	MSR_PERFCTR0 = 0xc1,
	MSR_MTRRCAP = 0xfe,
	MSR_SYSENTER_CS = 0x174,
	MSR_SYSENTER_ESP = 0x175,
	MSR_SYSENTER_EIP = 0x176,
	MSR_MCG_CAP = 0x179,
	MSR_MCG_STATUS = 0x17a,
	MSR_EVNTSEL0 = 0x186,
	MSR_MISC_ENABLE = 0x1a0,
	MSR_MTRR_PHYSBASE0 = 0x200,
	MSR_MTRR_FIX64K = 0x250,
	MSR_MTRR_FIX16K = 0x258,
	MSR_MTRR_FIX4K = 0x268,
	MSR_MTRR_DEF_TYPE = 0x2ff,
};

/* Read-only facts of this chip: a microcode revision, eight variable and
 * the fixed MTRRs (no write-combining type), machine-check architecture
 * with no error-reporting banks. */
#define MICROCODE_REV 1u
#define MTRRCAP	      (0x100u | MTRR_VAR_REGS / 2)
#define MCG_CAP	      0u
#define PHYS_RESERVED 0xfffffff000000000ull /* 36-bit physical addresses */

static uint64_t tsc_now(CPU *cpu)
{
	uint64_t t = cpu->bus.rdtsc ? cpu->bus.rdtsc(cpu->bus.opaque) : cpu->icount;

	return t + cpu->tsc_adjust;
}

H(op_rdtsc)
{
	if ((cpu->cr4 & CR4_TSD) && pmode(cpu) && (cpu->cpl != 0 || v86(cpu)))
		cpu_raise(cpu, EX_GP, 0);
	uint64_t t = tsc_now(cpu);

	cpu->r[R_EAX] = (uint32_t)t;
	cpu->r[R_EDX] = (uint32_t)(t >> 32);
}

/* The memory types an MTRR may hold: UC, WC, WT, WP, WB. */
static bool mtrr_type_ok(unsigned type)
{
	return type <= 1 || (type >= 4 && type <= 6);
}

static bool mtrr_fixed_ok(uint64_t v)
{
	for (int i = 0; i < 8; i++)
		if (!mtrr_type_ok((v >> (8 * i)) & 0xff))
			return false;
	return true;
}

/* Index in msrs.mtrr_fixed of a fixed-range MTRR, or -1. */
static int mtrr_fixed_index(uint32_t msr)
{
	if (msr == MSR_MTRR_FIX64K)
		return 0;
	if (msr == MSR_MTRR_FIX16K || msr == MSR_MTRR_FIX16K + 1)
		return 1 + (int)(msr - MSR_MTRR_FIX16K);
	if (msr >= MSR_MTRR_FIX4K && msr < MSR_MTRR_FIX4K + 8)
		return 3 + (int)(msr - MSR_MTRR_FIX4K);
	return -1;
}

/*
 * The MSRs the CPU keeps itself: where each lives and whether @v is a
 * value WRMSR accepts (reserved bits clear, valid memory types).  Returns
 * NULL for an MSR that is not one of them.
 */
static uint64_t *msr_slot(CPU *cpu, uint32_t msr, uint64_t v, bool *ok)
{
	CPUMsrs *m = &cpu->msrs;
	int fix = mtrr_fixed_index(msr);

	if (msr == MSR_PERFCTR0 || msr == MSR_PERFCTR0 + 1) {
		*ok = true;
		return &m->perfctr[msr - MSR_PERFCTR0];
	}
	if (msr == MSR_EVNTSEL0 || msr == MSR_EVNTSEL0 + 1) {
		*ok = !(v >> 32);
		return &m->perfevtsel[msr - MSR_EVNTSEL0];
	}
	if (msr >= MSR_MTRR_PHYSBASE0 && msr < MSR_MTRR_PHYSBASE0 + MTRR_VAR_REGS) {
		bool mask = msr & 1;

		*ok = mask ? !(v & (PHYS_RESERVED | 0x7ff))
			   : !(v & (PHYS_RESERVED | 0xf00)) && mtrr_type_ok(v & 0xff);
		return &m->mtrr_var[msr - MSR_MTRR_PHYSBASE0];
	}
	if (fix >= 0) {
		*ok = mtrr_fixed_ok(v);
		return &m->mtrr_fixed[fix];
	}
	if (msr == MSR_MTRR_DEF_TYPE) {
		*ok = !(v & ~0xcffull) && mtrr_type_ok(v & 0xff);
		return &m->mtrr_def_type;
	}
	if (msr == MSR_MCG_STATUS) {
		*ok = !(v & ~7ull);
		return &m->mcg_status;
	}
	if (msr == MSR_MISC_ENABLE) {
		*ok = !(v & ~(MISC_ENABLE_RW | MISC_ENABLE_RO));
		return &m->misc_enable;
	}
	return NULL;
}

/* The read-only MSRs (and BIOS_SIGN_ID, whose writes only arm the update
 * of the revision by the next CPUID: it is always loaded here).  Returns
 * false if @msr is not one of them. */
static bool msr_const(uint32_t msr, uint64_t *v, bool *writable)
{
	*writable = false;
	switch (msr) {
	case MSR_PLATFORM_ID:
		*v = 0;
		return true;
	case MSR_BIOS_SIGN_ID:
		*v = (uint64_t)MICROCODE_REV << 32;
		*writable = true;
		return true;
	case MSR_MTRRCAP:
		*v = MTRRCAP;
		return true;
	case MSR_MCG_CAP:
		*v = MCG_CAP;
		return true;
	}
	return false;
}

/* Reads a CPU-kept MSR; false if there is no such MSR here. */
static bool msr_read(CPU *cpu, uint32_t msr, uint64_t *v)
{
	bool ok, writable;
	uint64_t *slot = msr_slot(cpu, msr, 0, &ok);

	if (slot) {
		*v = *slot;
		return true;
	}
	if (msr_const(msr, v, &writable))
		return true;
	switch (msr) {
	case MSR_TSC:
		*v = tsc_now(cpu);
		return true;
	case MSR_SYSENTER_CS:
		*v = cpu->sysenter_cs;
		return true;
	case MSR_SYSENTER_ESP:
		*v = cpu->sysenter_esp;
		return true;
	case MSR_SYSENTER_EIP:
		*v = cpu->sysenter_eip;
		return true;
	}
	return false;
}

/* Writes a CPU-kept MSR: 1 done, 0 no such MSR here, -1 #GP. */
static int msr_write(CPU *cpu, uint32_t msr, uint64_t v)
{
	bool ok, writable;
	uint64_t old;
	uint64_t *slot = msr_slot(cpu, msr, v, &ok);

	if (slot) {
		if (!ok)
			return -1;
		/* P6 counters: bits 31-0 written, sign-extended to 40 bits */
		if (msr == MSR_PERFCTR0 || msr == MSR_PERFCTR0 + 1)
			v = (uint64_t)(int64_t)(int32_t)v & 0xffffffffffull;
		/* read-only bits keep their value whatever is written */
		if (msr == MSR_MISC_ENABLE)
			v = (v & MISC_ENABLE_RW) | (*slot & MISC_ENABLE_RO);
		*slot = v;
		return 1;
	}
	if (msr_const(msr, &old, &writable))
		return writable ? 1 : -1;
	switch (msr) {
	case MSR_TSC:
		cpu->tsc_adjust = v - (tsc_now(cpu) - cpu->tsc_adjust);
		return 1;
	case MSR_SYSENTER_CS:
		cpu->sysenter_cs = v & 0xffff;
		return 1;
	case MSR_SYSENTER_ESP:
		cpu->sysenter_esp = (uint32_t)v;
		return 1;
	case MSR_SYSENTER_EIP:
		cpu->sysenter_eip = (uint32_t)v;
		return 1;
	}
	return 0;
}

H(op_rdmsr)
{
	uint32_t msr = cpu->r[R_ECX];
	uint64_t v;

	need_cpl0(cpu);
	if (!msr_read(cpu, msr, &v) &&
	    (!cpu->bus.rdmsr || !cpu->bus.rdmsr(cpu->bus.opaque, msr, &v)))
		cpu_raise(cpu, EX_GP, 0);
	cpu->r[R_EAX] = (uint32_t)v;
	cpu->r[R_EDX] = (uint32_t)(v >> 32);
}

H(op_wrmsr)
{
	uint32_t msr = cpu->r[R_ECX];
	uint64_t v = (uint64_t)cpu->r[R_EDX] << 32 | cpu->r[R_EAX];
	int done;

	need_cpl0(cpu);
	done = msr_write(cpu, msr, v);
	if (done < 0)
		cpu_raise(cpu, EX_GP, 0);
	if (!done && (!cpu->bus.wrmsr || !cpu->bus.wrmsr(cpu->bus.opaque, msr, v)))
		cpu_raise(cpu, EX_GP, 0);
}

/* ---- SYSENTER / SYSEXIT: fast calls to ring 0 and back ------------- */

/* A flat 4 GiB segment as SYSENTER and SYSEXIT load it (no descriptor
 * table access): @type 0xB code, 0x3 data. */
static void flat_seg(SegReg *sr, uint16_t sel, unsigned type, unsigned dpl)
{
	*sr = (SegReg){sel, 0, 0xffffffffu, type | A_S | dpl << 5 | A_P | A_DB | A_G};
}

H(op_sysenter)
{
	uint16_t cs = (uint16_t)cpu->sysenter_cs & 0xfffc;

	if (!pmode(cpu) || !cs)
		cpu_raise(cpu, EX_GP, 0);
	cpu_flags(cpu);
	cpu->flags &= ~(F_VM | F_IF | F_RF);
	flat_seg(&cpu->seg[S_CS], cs, 0xb, 0);
	flat_seg(&cpu->seg[S_SS], cs + 8, 0x3, 0);
	set_cpl(cpu, 0);
	cpu->r[R_ESP] = (uint32_t)cpu->sysenter_esp;
	cpu->eip = (uint32_t)cpu->sysenter_eip;
}

H(op_sysexit)
{
	uint16_t cs = (uint16_t)cpu->sysenter_cs & 0xfffc;

	if (!pmode(cpu) || v86(cpu) || cpu->cpl != 0 || !cs)
		cpu_raise(cpu, EX_GP, 0);
	flat_seg(&cpu->seg[S_CS], (cs + 16) | 3, 0xb, 3);
	flat_seg(&cpu->seg[S_SS], (cs + 24) | 3, 0x3, 3);
	set_cpl(cpu, 3);
	cpu->r[R_ESP] = cpu->r[R_ECX];
	cpu->eip = cpu->r[R_EDX];
}

/* CPUID.1:EDX: only what this CPU implements. */
uint32_t cpuid_features(void)
{
	uint32_t f = 1u << 0	 /* FPU */
		     | 1u << 2	 /* DE: CR4.DE, I/O breakpoints */
		     | 1u << 3	 /* PSE */
		     | 1u << 4	 /* TSC */
		     | 1u << 5	 /* MSR */
		     | 1u << 7	 /* MCE (no bank ever reports) */
		     | 1u << 8	 /* CX8 */
		     | 1u << 9	 /* APIC (the machine's local APIC) */
		     | 1u << 11	 /* SEP: SYSENTER/SYSEXIT (model 1, stepping 9 >= 3) */
		     | 1u << 12	 /* MTRR (kept, no cache to control) */
		     | 1u << 13	 /* PGE (global pages flushed like others) */
		     | 1u << 14	 /* MCA (MCG_CAP: no banks) */
		     | 1u << 15; /* CMOV */
	return f;
}

uint32_t cpu_signature(void)
{
	return CPUID_SIGNATURE;
}

uint32_t cpu_feature_flags(void)
{
	return cpuid_features();
}

H(op_cpuid)
{
	uint32_t leaf = cpu->r[R_EAX];

	if (leaf > 2)
		leaf = 2;
	switch (leaf) {
	case 0:
		cpu->r[R_EAX] = 2;
		cpu->r[R_EBX] = 0x756e6547; /* "Genu" */
		cpu->r[R_EDX] = 0x49656e69; /* "ineI" */
		cpu->r[R_ECX] = 0x6c65746e; /* "ntel" */
		break;
	case 1:
		cpu->r[R_EAX] = CPUID_SIGNATURE;
		cpu->r[R_EBX] = 0;
		cpu->r[R_ECX] = 0;
		cpu->r[R_EDX] = cpuid_features();
		break;
	default:
		/* one descriptor round, no cache or TLB descriptors */
		cpu->r[R_EAX] = 1;
		cpu->r[R_EBX] = cpu->r[R_ECX] = cpu->r[R_EDX] = 0;
		break;
	}
}

/* ---- descriptor tables --------------------------------------------- */

static H(op_sgdt_sidt)
{
	if (in->mod == 3)
		cpu_fault(cpu, EX_UD);
	const DescTable *t = in->reg == 0 ? &cpu->gdtr : &cpu->idtr;
	uint32_t off = ea_offset(cpu, in);
	uint32_t o2 = in->a32 ? off + 2 : (off + 2) & 0xffff;

	seg_check(cpu, in->ea_seg, off, 6, true);
	wr16(cpu, in->ea_seg, off, t->limit);
	wr32(cpu, in->ea_seg, o2, in->o32 ? t->base : t->base & 0xffffff);
}

static H(op_lgdt_lidt)
{
	if (in->mod == 3)
		cpu_fault(cpu, EX_UD);
	need_cpl0(cpu);
	uint32_t off = ea_offset(cpu, in);
	uint32_t o2 = in->a32 ? off + 2 : (off + 2) & 0xffff;
	uint16_t limit = rd16(cpu, in->ea_seg, off);
	uint32_t base = rd32(cpu, in->ea_seg, o2);
	DescTable *t = in->reg == 2 ? &cpu->gdtr : &cpu->idtr;

	t->limit = limit;
	t->base = in->o32 ? base : base & 0xffffff;
}

H(op_grp7)
{
	switch (in->reg) {
	case 0:
	case 1:
		op_sgdt_sidt(cpu, in);
		return;
	case 2:
	case 3:
		op_lgdt_lidt(cpu, in);
		return;
	case 4: /* SMSW */
		if (in->mod == 3)
			setr(cpu, in->rm, cpu->cr0, in->o32 ? 32 : 16);
		else
			wr16(cpu, in->ea_seg, ea_offset(cpu, in), (uint16_t)cpu->cr0);
		return;
	case 6: { /* LMSW: PE can be set, not cleared */
		need_cpl0(cpu);
		uint32_t v = rm_read(cpu, in, 16);
		uint32_t cr0 = (cpu->cr0 & ~0xeu) | (v & 0xf) | (cpu->cr0 & CR0_PE);

		write_cr0(cpu, cr0);
		return;
	}
	case 7: /* INVLPG */
		if (in->mod == 3)
			cpu_fault(cpu, EX_UD);
		need_cpl0(cpu);
		tlb_flush_page(cpu, cpu->seg[in->ea_seg].base + ea_offset(cpu, in));
		return;
	default:
		cpu_fault(cpu, EX_UD);
	}
}

/* Can the current privilege see the descriptor @sel (LAR/LSL/VERR/VERW)? */
static bool desc_visible(CPU *cpu, uint16_t sel, uint32_t hi)
{
	unsigned dpl = (hi >> 13) & 3;

	if ((hi & 0x1c00) == 0x1c00) /* conforming code */
		return true;
	return dpl >= cpu->cpl && dpl >= (sel & 3u);
}

static void set_zf(CPU *cpu, bool z)
{
	cpu_flags(cpu);
	cpu->flags = (cpu->flags & ~F_ZF) | (z ? F_ZF : 0);
}

H(op_grp6)
{
	uint32_t lo, hi;

	need_pmode(cpu);
	switch (in->reg) {
	case 0:
	case 1: {
		uint16_t sel = in->reg == 0 ? cpu->ldtr.sel : cpu->tr.sel;

		if (in->mod == 3)
			setr(cpu, in->rm, sel, in->o32 ? 32 : 16);
		else
			wr16(cpu, in->ea_seg, ea_offset(cpu, in), sel);
		return;
	}
	case 2:
	case 3: {
		uint16_t sel = (uint16_t)rm_read(cpu, in, 16);

		need_cpl0(cpu);
		if (in->reg == 2)
			load_ldt(cpu, sel);
		else
			load_tr(cpu, sel);
		return;
	}
	case 4:
	case 5: {
		uint16_t sel = (uint16_t)rm_read(cpu, in, 16);
		bool ok = (sel & ~3u) && desc_read(cpu, sel, &lo, &hi) && (hi & 0x1000) &&
			  desc_visible(cpu, sel, hi);

		if (ok) {
			bool code = hi & 0x800, rw = hi & 0x200;

			ok = in->reg == 4 ? (!code || rw) : (!code && rw);
		}
		set_zf(cpu, ok);
		return;
	}
	default:
		cpu_fault(cpu, EX_UD);
	}
}

/* LAR (valid system types: TSS, LDT, call/task gates) and LSL. */
static bool lar_lsl_ok(CPU *cpu, uint16_t sel, uint32_t *lo, uint32_t *hi, bool lsl)
{
	if (!(sel & ~3u) || !desc_read(cpu, sel, lo, hi))
		return false;
	if (!(*hi & 0x1000)) {
		unsigned type = (*hi >> 8) & 0xf;
		static const uint16_t lar_types =
		    1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 9 | 1 << 11 | 1 << 12;
		static const uint16_t lsl_types = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 9 | 1 << 11;

		if (!(((lsl ? lsl_types : lar_types) >> type) & 1))
			return false;
	}
	return desc_visible(cpu, sel, *hi);
}

H(op_lar)
{
	uint32_t lo, hi;

	need_pmode(cpu);
	uint16_t sel = (uint16_t)rm_read(cpu, in, 16);
	bool ok = lar_lsl_ok(cpu, sel, &lo, &hi, false);

	set_zf(cpu, ok);
	if (ok)
		setr(cpu, in->reg, hi & 0x00f0ff00u, in->o32 ? 32 : 16);
}

H(op_lsl)
{
	uint32_t lo, hi;

	need_pmode(cpu);
	uint16_t sel = (uint16_t)rm_read(cpu, in, 16);
	bool ok = lar_lsl_ok(cpu, sel, &lo, &hi, true);

	set_zf(cpu, ok);
	if (ok) {
		SegReg s;

		seg_from_desc(&s, sel, lo, hi);
		setr(cpu, in->reg, s.limit, in->o32 ? 32 : 16);
	}
}

H(op_arpl)
{
	need_pmode(cpu);
	uint32_t off = in->mod == 3 ? 0 : ea_offset(cpu, in);
	uint16_t d = in->mod == 3 ? (uint16_t)getr(cpu, in->rm, 16) : rd16(cpu, in->ea_seg, off);
	uint16_t s = (uint16_t)getr(cpu, in->reg, 16);

	if ((d & 3) < (s & 3)) {
		d = (d & ~3u) | (s & 3);
		if (in->mod == 3)
			setr(cpu, in->rm, d, 16);
		else
			wr16(cpu, in->ea_seg, off, d);
		set_zf(cpu, true);
	} else {
		set_zf(cpu, false);
	}
}

/* ---- x87 escapes ------------------------------------------------------ */

static void fpu_mem_read(void *opaque, int seg, uint32_t off, void *buf, unsigned len)
{
	CPU *cpu = opaque;
	uint8_t *b = buf;
	uint32_t lin = seg_lin(cpu, seg, off, len, false);

	for (unsigned i = 0; i < len; i++)
		b[i] = lin_read8(cpu, lin + i, cpu_user(cpu));
}

static void fpu_mem_write(void *opaque, int seg, uint32_t off, const void *buf, unsigned len)
{
	CPU *cpu = opaque;
	const uint8_t *b = buf;
	uint32_t lin = seg_lin(cpu, seg, off, len, true);

	for (unsigned i = 0; i < len; i++)
		lin_write8(cpu, lin + i, b[i], cpu_user(cpu));
}

/* FNINIT, FNCLEX, FNSTENV, FNSTCW, FNSAVE, FNSTSW do not wait. */
static bool fpu_nowait(const Insn *in)
{
	unsigned op = in->op;

	if (op == 0xdb && (in->modrm == 0xe2 || in->modrm == 0xe3))
		return true;
	if (op == 0xdf && in->modrm == 0xe0)
		return true;
	if (in->mod != 3 && op == 0xd9 && (in->reg == 6 || in->reg == 7))
		return true;
	if (in->mod != 3 && op == 0xdd && (in->reg == 6 || in->reg == 7))
		return true;
	return false;
}

/*
 * A waiting x87 instruction with an unmasked exception pending.  CR0.NE = 1:
 * #MF.  CR0.NE = 0 (MS-DOS compatibility mode): unless IGNNE# is asserted,
 * FERR# goes active, which the PC latches into IRQ 13, and the instruction
 * freezes until an interrupt comes; it runs again after it (the IRQ 13
 * handler clears the exception first).  The PC asserts IGNNE# when
 * software writes port 0xF0 while FERR# is active, and releases it with
 * FERR#.  That is the chipset's answer to our own OUT, so it is computed
 * here (io_out()), from the FPU state alone: replay, which has no devices
 * and may deliver the recorded IRQ 13 before the instruction froze, sees
 * the same IGNNE#.  (So FERR# counts as active from the exception on, as on
 * the 486, rather than from the waiting instruction: only a write to port
 * 0xF0 in between could tell.)
 */
static void fpu_check_pending(CPU *cpu)
{
	FPU *f = &cpu->fpu;

	if (!fpu_exception_pending(f))
		return;
	if (cpu->cr0 & CR0_NE)
		cpu_fault(cpu, EX_MF);
	if (f->ignne)
		return;
	irq_raise(f->ferr_line); /* a level: raising it again changes nothing */
	cpu_freeze(cpu);
}

void cpu_set_ferr_line(CPU *cpu, const struct IRQ *line)
{
	cpu->fpu.ferr_line = line;
}

/* IGNNE# goes with FERR#, when SW.ES is cleared. */
static void ferr_settle(FPU *f)
{
	if (!fpu_exception_pending(f))
		f->ignne = false;
}

H(op_fpu)
{
	if (cpu->cr0 & (CR0_EM | CR0_TS))
		cpu_fault(cpu, EX_NM);
	if (!fpu_nowait(in))
		fpu_check_pending(cpu);
	uint32_t fl = cpu_flags(cpu);
	uint16_t ax = (uint16_t)cpu->r[R_EAX];
	FPUMem mem, *mp = NULL;
	FPUCtx ctx = {
	    .op32 = in->o32,
	    .pmode = pmode(cpu) && !v86(cpu),
	    .ip = cpu->start_eip,
	    .cs = cpu->seg[S_CS].sel,
	    .eflags = &fl,
	    .ax = &ax,
	};

	if (in->mod != 3) {
		mem = (FPUMem){cpu, in->ea_seg, ea_offset(cpu, in), fpu_mem_read, fpu_mem_write};
		mp = &mem;
		ctx.dp = mem.off;
		ctx.ds = cpu->seg[in->ea_seg].sel;
	}
	if (fpu_exec(&cpu->fpu, in->op, in->modrm, mp, &ctx) != FPU_OK)
		cpu_fault(cpu, EX_UD);
	ferr_settle(&cpu->fpu);
	/* FCOMI and friends set flags, FNSTSW AX sets AX */
	cpu->flags = (cpu->flags & ~FLAGS_ARITH) | (fl & FLAGS_ARITH);
	setr(cpu, R_EAX, ax, 16);
}

H(op_fwait)
{
	if ((cpu->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		cpu_fault(cpu, EX_NM);
	fpu_check_pending(cpu);
}
