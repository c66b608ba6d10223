/*
 * exception.c - raising exceptions and delivering exceptions and interrupts:
 * the real-mode IVT, protected-mode interrupt and trap gates (with the TSS
 * stack switch on a privilege change, and from virtual-8086 mode), task
 * gates, double and triple faults.
 *
 * A fault unwinds the instruction: cpu_raise() restores the registers saved
 * at the instruction start and longjmps back to cpu_exec(), which then
 * delivers the exception.  A fault during that delivery is combined with the
 * first one into a double fault as the SDM's table says; a fault while
 * delivering a double fault shuts the CPU down (triple fault).
 */
#include "x86.h"

bool exc_has_error(int vec)
{
	return vec == EX_DF || (vec >= EX_TS && vec <= EX_PF) || vec == EX_AC;
}

static bool contributory(int vec)
{
	return vec == EX_DE || (vec >= EX_TS && vec <= EX_GP);
}

_Noreturn static void raise_full(CPU *cpu, int vec, bool has_err, uint32_t err, bool trap)
{
	int first = cpu->delivering;

	if (first >= 0) {
		if (first == EX_DF) {
			cpu->triple = true;
			cpu->delivering = -1;
			cpu->pending_exc = -1;
			longjmp(cpu->jb, 1);
		}
		if ((contributory(first) && contributory(vec)) ||
		    (first == EX_PF && (contributory(vec) || vec == EX_PF))) {
			vec = EX_DF;
			has_err = true;
			err = 0;
		}
		cpu->delivering = -1;
	}
	if (!trap)
		cpu_restore_state(cpu);
	cpu->halted = false;
	cpu->pending_exc = vec;
	cpu->pending_err = err;
	cpu->pending_has_err = has_err;
	longjmp(cpu->jb, 1);
}

void cpu_raise(CPU *cpu, int vec, uint32_t err)
{
	raise_full(cpu, vec, true, err, false);
}

void cpu_fault(CPU *cpu, int vec)
{
	raise_full(cpu, vec, exc_has_error(vec), 0, false);
}

void cpu_trap(CPU *cpu, int vec)
{
	raise_full(cpu, vec, false, 0, true);
}

/* The instruction must wait for an interrupt before it can run (an x87
 * instruction frozen on FERR#): unwind it like a fault, with nothing to
 * deliver, and halt.  The interrupt's return address is the instruction. */
_Noreturn void cpu_freeze(CPU *cpu)
{
	cpu_restore_state(cpu);
	cpu->halted = true;
	longjmp(cpu->jb, 1);
}

void cpu_deliver_pending(CPU *cpu)
{
	int vec = cpu->pending_exc;

	cpu->pending_exc = -1;
	cpu->delivering = vec;
	cpu_interrupt(cpu, vec, false, cpu->pending_has_err, cpu->pending_err);
	cpu->delivering = -1;
}

/* ---- real mode ------------------------------------------------------- */

static void real_interrupt(CPU *cpu, int vec)
{
	if ((uint32_t)vec * 4 + 3 > cpu->idtr.limit)
		cpu_raise(cpu, EX_GP, 0);
	uint32_t ent = sys_read32(cpu, cpu->idtr.base + vec * 4);
	uint32_t fl = cpu_flags(cpu);

	push(cpu, fl, false);
	push(cpu, cpu->seg[S_CS].sel, false);
	push(cpu, cpu->eip, false);
	cpu->flags &= ~(F_IF | F_TF | F_AC | F_RF);
	seg_load_real(cpu, S_CS, (uint16_t)(ent >> 16));
	cpu->eip = ent & 0xffff;
}

/* ---- protected mode -------------------------------------------------- */

/* Write @v at @sr:@esp - size (the new stack before it is loaded). */
static uint32_t stack_push(CPU *cpu, const SegReg *sr, uint16_t ssel, uint32_t esp, uint32_t v,
			   bool g32, bool user)
{
	unsigned size = g32 ? 4 : 2;
	bool s32 = sr->attr & A_DB;
	uint32_t nsp = esp - size;
	uint32_t off = s32 ? nsp : nsp & 0xffff;
	bool bad;

	if (sr->attr & A_EXPDOWN) {
		uint32_t top = s32 ? 0xffffffffu : 0xffff;

		bad = off <= sr->limit || off + size - 1 > top;
	} else {
		bad = off + size - 1 > sr->limit || off + size - 1 < off;
	}
	/* #SS(0) on the current stack, #SS(selector) on a new one */
	if (bad)
		cpu_raise(cpu, EX_SS, sr == &cpu->seg[S_SS] ? 0 : ssel & ~3u);
	if (g32)
		lin_write32(cpu, sr->base + off, v, user);
	else
		lin_write16(cpu, sr->base + off, (uint16_t)v, user);
	return s32 ? nsp : (esp & 0xffff0000u) | (nsp & 0xffff);
}

/* The ring @dpl stack from the current TSS. */
static void tss_stack(CPU *cpu, unsigned dpl, uint16_t *ss, uint32_t *esp, uint32_t ext)
{
	bool t32 = (cpu->tr.attr & 0xf) == 0x9 || (cpu->tr.attr & 0xf) == 0xb;
	uint32_t off = t32 ? 4 + dpl * 8 : 2 + dpl * 4;
	uint32_t need = t32 ? off + 5 : off + 3;

	if (need > cpu->tr.limit)
		cpu_raise(cpu, EX_TS, (cpu->tr.sel & ~3u) | ext);
	if (t32) {
		*esp = sys_read32(cpu, cpu->tr.base + off);
		*ss = sys_read16(cpu, cpu->tr.base + off + 4);
	} else {
		*esp = sys_read16(cpu, cpu->tr.base + off);
		*ss = sys_read16(cpu, cpu->tr.base + off + 2);
	}
}

static void load_new_stack(CPU *cpu, uint16_t ss, unsigned dpl, uint32_t ext, SegReg *out)
{
	uint32_t lo, hi;

	if (!(ss & ~3u))
		cpu_raise(cpu, EX_TS, ext);
	if (!desc_read(cpu, ss, &lo, &hi))
		cpu_raise(cpu, EX_TS, (ss & ~3u) | ext);
	unsigned sdpl = (hi >> 13) & 3;

	if ((ss & 3) != dpl || sdpl != dpl || (hi & 0x1a00) != 0x1200)
		cpu_raise(cpu, EX_TS, (ss & ~3u) | ext);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_SS, (ss & ~3u) | ext);
	desc_set_accessed(cpu, ss, hi);
	seg_from_desc(out, ss, lo, hi | 0x100);
}

static void pm_interrupt(CPU *cpu, int vec, bool soft, bool has_err, uint32_t err)
{
	uint32_t ext = soft ? 0 : 1;
	uint32_t idt_err = (uint32_t)vec * 8 + 2 + ext;

	if ((uint32_t)vec * 8 + 7 > cpu->idtr.limit)
		cpu_raise(cpu, EX_GP, idt_err);
	uint32_t glo = sys_read32(cpu, cpu->idtr.base + vec * 8);
	uint32_t ghi = sys_read32(cpu, cpu->idtr.base + vec * 8 + 4);
	unsigned type = (ghi >> 8) & 0x1f;
	unsigned gdpl = (ghi >> 13) & 3;

	if (type != 0x05 && type != 0x06 && type != 0x07 && type != 0x0e && type != 0x0f)
		cpu_raise(cpu, EX_GP, idt_err);
	if (soft && gdpl < cpu->cpl)
		cpu_raise(cpu, EX_GP, idt_err);
	if (!(ghi & 0x8000))
		cpu_raise(cpu, EX_NP, idt_err);
	if (type == 0x05) {
		uint16_t tsel = (uint16_t)(glo >> 16);
		uint32_t lo, hi;

		if ((tsel & 4) || !desc_read(cpu, tsel, &lo, &hi))
			cpu_raise(cpu, EX_GP, (tsel & ~3u) | ext);
		task_switch(cpu, tsel, lo, hi, TS_INT, has_err, err);
		return;
	}

	bool g32 = type & 0x08;
	uint16_t sel = (uint16_t)(glo >> 16);
	uint32_t off = g32 ? (glo & 0xffff) | (ghi & 0xffff0000u) : glo & 0xffff;
	uint32_t lo, hi;

	if (!(sel & ~3u))
		cpu_raise(cpu, EX_GP, ext);
	if (!desc_read(cpu, sel, &lo, &hi))
		cpu_raise(cpu, EX_GP, (sel & ~3u) | ext);
	unsigned dpl = (hi >> 13) & 3;

	if ((hi & 0x1800) != 0x1800 || dpl > cpu->cpl)
		cpu_raise(cpu, EX_GP, (sel & ~3u) | ext);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, (sel & ~3u) | ext);

	bool conforming = hi & 0x400;
	uint32_t fl = cpu_flags(cpu);
	SegReg cs;

	seg_from_desc(&cs, sel, lo, hi | 0x100);
	if (!conforming && dpl < cpu->cpl) {
		/* inter-privilege: switch to the ring-dpl stack of the TSS */
		uint16_t nss;
		uint32_t nesp;
		SegReg ss;

		if (v86(cpu) && dpl != 0)
			cpu_raise(cpu, EX_GP, (sel & ~3u) | ext);
		tss_stack(cpu, dpl, &nss, &nesp, ext);
		load_new_stack(cpu, nss, dpl, ext, &ss);
		/* ESP <- the TSS's ESP, then the pushes move SP alone on a 16-bit
		 * stack: its upper half is the TSS's (SDM INT n, as a call gate
		 * does in seg.c) */
		bool user = dpl == 3;

		if (v86(cpu)) {
			nesp = stack_push(cpu, &ss, nss, nesp, cpu->seg[S_GS].sel, g32, user);
			nesp = stack_push(cpu, &ss, nss, nesp, cpu->seg[S_FS].sel, g32, user);
			nesp = stack_push(cpu, &ss, nss, nesp, cpu->seg[S_DS].sel, g32, user);
			nesp = stack_push(cpu, &ss, nss, nesp, cpu->seg[S_ES].sel, g32, user);
		}
		nesp = stack_push(cpu, &ss, nss, nesp, cpu->seg[S_SS].sel, g32, user);
		nesp = stack_push(cpu, &ss, nss, nesp, cpu->r[R_ESP], g32, user);
		nesp = stack_push(cpu, &ss, nss, nesp, fl, g32, user);
		nesp = stack_push(cpu, &ss, nss, nesp, cpu->seg[S_CS].sel, g32, user);
		nesp = stack_push(cpu, &ss, nss, nesp, cpu->eip, g32, user);
		if (has_err)
			nesp = stack_push(cpu, &ss, nss, nesp, err, g32, user);
		desc_set_accessed(cpu, sel, hi);
		if (v86(cpu)) {
			static const SegReg null = {0, 0, 0, 0};

			cpu->seg[S_ES] = cpu->seg[S_DS] = cpu->seg[S_FS] = cpu->seg[S_GS] = null;
		}
		cpu->seg[S_SS] = ss;
		cpu->r[R_ESP] = nesp;
		cs.sel = (sel & ~3u) | dpl;
		cpu->seg[S_CS] = cs;
		set_cpl(cpu, dpl);
	} else {
		if (v86(cpu))
			cpu_raise(cpu, EX_GP, (sel & ~3u) | ext);
		bool user = cpu->cpl == 3;
		uint32_t esp = cpu->r[R_ESP];

		esp = stack_push(cpu, &cpu->seg[S_SS], cpu->seg[S_SS].sel, esp, fl, g32, user);
		esp = stack_push(cpu, &cpu->seg[S_SS], cpu->seg[S_SS].sel, esp, cpu->seg[S_CS].sel,
				 g32, user);
		esp =
		    stack_push(cpu, &cpu->seg[S_SS], cpu->seg[S_SS].sel, esp, cpu->eip, g32, user);
		if (has_err)
			esp = stack_push(cpu, &cpu->seg[S_SS], cpu->seg[S_SS].sel, esp, err, g32,
					 user);
		desc_set_accessed(cpu, sel, hi);
		cpu->r[R_ESP] = esp;
		cs.sel = (sel & ~3u) | cpu->cpl;
		cpu->seg[S_CS] = cs;
	}
	cpu->eip = g32 ? off : off & 0xffff;
	cpu->flags &= ~(F_TF | F_NT | F_RF | F_VM);
	if (!(type & 1))
		cpu->flags &= ~F_IF;
}

/*
 * Deliver interrupt @vec now: @soft for INT n / INT3 / INTO (gate DPL is
 * checked, EIP already points after the instruction).
 */
void cpu_interrupt(CPU *cpu, int vec, bool soft, bool has_err, uint32_t err)
{
	cpu->halted = false;
	if (!pmode(cpu))
		real_interrupt(cpu, vec);
	else
		pm_interrupt(cpu, vec, soft, has_err, err);
	cpu->shadow = false;
}
