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

uint32_t io_in(CPU *cpu, uint16_t port, unsigned size)
{
	cpu->io_done = true;
	if (!cpu->bus.io_read)
		return bits_mask(size * 8);
	return cpu->bus.io_read(cpu->bus.opaque, port, size) & bits_mask(size * 8);
}

void io_out(CPU *cpu, uint16_t port, uint32_t v, unsigned size)
{
	cpu->io_done = true;
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

#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE)

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
		if ((v ^ cpu->cr4) & CR4_PSE)
			tlb_flush(cpu);
		cpu->cr4 = v;
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
	dbg_update(cpu);
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
	MSR_SYSENTER_CS = 0x174,
	MSR_SYSENTER_ESP = 0x175,
	MSR_SYSENTER_EIP = 0x176,
};

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

H(op_rdmsr)
{
	uint32_t msr = cpu->r[R_ECX];
	uint64_t v;

	need_cpl0(cpu);
	switch (msr) {
	case MSR_TSC:
		v = tsc_now(cpu);
		break;
	case MSR_SYSENTER_CS:
		v = cpu->sysenter_cs;
		break;
	case MSR_SYSENTER_ESP:
		v = cpu->sysenter_esp;
		break;
	case MSR_SYSENTER_EIP:
		v = cpu->sysenter_eip;
		break;
	default:
		if (!cpu->bus.rdmsr || !cpu->bus.rdmsr(cpu->bus.opaque, msr, &v))
			cpu_raise(cpu, EX_GP, 0);
	}
	cpu->r[R_EAX] = (uint32_t)v;
	cpu->r[R_EDX] = (uint32_t)(v >> 32);
}

H(op_wrmsr)
{
	uint32_t msr = cpu->r[R_ECX];
	uint64_t v = (uint64_t)cpu->r[R_EDX] << 32 | cpu->r[R_EAX];

	need_cpl0(cpu);
	switch (msr) {
	case MSR_TSC:
		cpu->tsc_adjust = v - (tsc_now(cpu) - cpu->tsc_adjust);
		break;
	case MSR_SYSENTER_CS:
		cpu->sysenter_cs = v & 0xffff;
		break;
	case MSR_SYSENTER_ESP:
		cpu->sysenter_esp = (uint32_t)v;
		break;
	case MSR_SYSENTER_EIP:
		cpu->sysenter_eip = (uint32_t)v;
		break;
	default:
		if (!cpu->bus.wrmsr || !cpu->bus.wrmsr(cpu->bus.opaque, msr, v))
			cpu_raise(cpu, EX_GP, 0);
	}
}

/* CPUID.1:EDX: only what this CPU implements. */
uint32_t cpuid_features(void)
{
	uint32_t f = 1u << 0	 /* FPU */
		     | 1u << 3	 /* PSE */
		     | 1u << 4	 /* TSC */
		     | 1u << 5	 /* MSR */
		     | 1u << 8	 /* CX8 */
		     | 1u << 9	 /* APIC (the machine's local APIC) */
		     | 1u << 15; /* CMOV */
	return f;
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
		cpu->r[R_EAX] = 0x00000619; /* family 6, model 1, stepping 9 */
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

static void fpu_check_pending(CPU *cpu)
{
	if (fpu_exception_pending(&cpu->fpu) && (cpu->cr0 & CR0_NE))
		cpu_fault(cpu, EX_MF);
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
