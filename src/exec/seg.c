/*
 * seg.c - segmentation: descriptor tables, segment register loads with
 * their protection checks, far JMP/CALL/RET through code segments and call
 * gates, IRET (incl. returns to virtual-8086 mode), LLDT/LTR, and the
 * hardware task switch.
 */
#include <string.h>

#include "x86.h"

void set_cpl(CPU *cpu, unsigned cpl)
{
	cpu->cpl = cpl;
}

void seg_from_desc(SegReg *sr, uint16_t sel, uint32_t lo, uint32_t hi)
{
	uint32_t limit = (lo & 0xffff) | (hi & 0xf0000);

	sr->sel = sel;
	sr->base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000u);
	sr->limit = (hi & 0x800000) ? (limit << 12) | 0xfff : limit;
	sr->attr = (hi >> 8) & 0xffff;
}

bool desc_read(CPU *cpu, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
	uint32_t base, limit;

	if (sel & 4) {
		if (!(cpu->ldtr.sel & ~3u) || !(cpu->ldtr.attr & A_P))
			return false;
		base = cpu->ldtr.base;
		limit = cpu->ldtr.limit;
	} else {
		base = cpu->gdtr.base;
		limit = cpu->gdtr.limit;
	}
	if ((uint32_t)(sel & ~7u) + 7 > limit)
		return false;
	*lo = sys_read32(cpu, base + (sel & ~7u));
	*hi = sys_read32(cpu, base + (sel & ~7u) + 4);
	return true;
}

void desc_set_accessed(CPU *cpu, uint16_t sel, uint32_t hi)
{
	uint32_t base = (sel & 4) ? cpu->ldtr.base : cpu->gdtr.base;

	if (!(hi & 0x100) && (hi & 0x1000))
		sys_write8(cpu, base + (sel & ~7u) + 5, (uint8_t)((hi | 0x100) >> 8));
}

void seg_load_real(CPU *cpu, int s, uint16_t sel)
{
	SegReg *sr = &cpu->seg[s];

	sr->sel = sel;
	sr->base = (uint32_t)sel << 4;
	if (v86(cpu)) {
		sr->limit = 0xffff;
		sr->attr = s == S_CS ? 0xfb : 0xf3;
	} else if (!(sr->attr & A_P) || !(sr->attr & A_S)) {
		/* back in real mode after a null load: make the cache usable */
		sr->attr = s == S_CS ? 0x9b : 0x93;
	}
}

void seg_load(CPU *cpu, int s, uint16_t sel)
{
	uint32_t lo, hi;

	if (!pmode(cpu) || v86(cpu)) {
		seg_load_real(cpu, s, sel);
		return;
	}
	uint16_t esel = sel & ~3u;

	if (s == S_SS) {
		if (!esel)
			cpu_raise(cpu, EX_GP, 0);
		if (!desc_read(cpu, sel, &lo, &hi))
			cpu_raise(cpu, EX_GP, esel);
		unsigned dpl = (hi >> 13) & 3;

		if ((sel & 3) != cpu->cpl || dpl != cpu->cpl || (hi & 0x1a00) != 0x1200)
			cpu_raise(cpu, EX_GP, esel);
		if (!(hi & 0x8000))
			cpu_raise(cpu, EX_SS, esel);
	} else {
		if (!esel) {
			cpu->seg[s] = (SegReg){sel, 0, 0, 0};
			return;
		}
		if (!desc_read(cpu, sel, &lo, &hi))
			cpu_raise(cpu, EX_GP, esel);
		unsigned dpl = (hi >> 13) & 3;
		bool code = hi & 0x800;

		if (!(hi & 0x1000) || (code && !(hi & 0x200)))
			cpu_raise(cpu, EX_GP, esel);
		if ((!code || !(hi & 0x400)) && (dpl < cpu->cpl || dpl < (sel & 3u)))
			cpu_raise(cpu, EX_GP, esel);
		if (!(hi & 0x8000))
			cpu_raise(cpu, EX_NP, esel);
	}
	desc_set_accessed(cpu, sel, hi);
	seg_from_desc(&cpu->seg[s], sel, lo, hi | 0x100);
}

/* After a return to an outer level: data segments the new CPL may not use
 * become null. */
static void null_inaccessible(CPU *cpu)
{
	static const int segs[4] = {S_ES, S_DS, S_FS, S_GS};

	for (int i = 0; i < 4; i++) {
		SegReg *sr = &cpu->seg[segs[i]];
		unsigned dpl = (sr->attr >> 5) & 3;
		bool conf_code = (sr->attr & A_CODE) && (sr->attr & A_CONFORM);

		if ((sr->attr & A_S) && !conf_code && dpl < cpu->cpl)
			*sr = (SegReg){0, 0, 0, 0};
	}
}

/* Check a code segment descriptor as the target of a JMP/CALL/RET. */
static void code_target_check(CPU *cpu, uint16_t sel, uint32_t hi, unsigned rpl_ok_cpl)
{
	unsigned dpl = (hi >> 13) & 3;

	if ((hi & 0x1800) != 0x1800)
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (hi & 0x400) {
		if (dpl > cpu->cpl)
			cpu_raise(cpu, EX_GP, sel & ~3u);
	} else if ((sel & 3u) > rpl_ok_cpl || dpl != cpu->cpl) {
		cpu_raise(cpu, EX_GP, sel & ~3u);
	}
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
}

static void load_cs(CPU *cpu, uint16_t sel, uint32_t lo, uint32_t hi, unsigned cpl, uint32_t off)
{
	SegReg cs;

	seg_from_desc(&cs, (sel & ~3u) | cpl, lo, hi | 0x100);
	if (off > cs.limit)
		cpu_raise(cpu, EX_GP, 0);
	desc_set_accessed(cpu, sel, hi);
	cpu->seg[S_CS] = cs;
	set_cpl(cpu, cpl);
	cpu->eip = off;
}

static void real_far(CPU *cpu, uint16_t sel, uint32_t off, bool o32)
{
	if (!o32)
		off &= 0xffff;
	if (off > cpu->seg[S_CS].limit && !v86(cpu))
		cpu_raise(cpu, EX_GP, 0);
	seg_load_real(cpu, S_CS, sel);
	cpu->eip = off;
}

void far_jmp(CPU *cpu, uint16_t sel, uint32_t off, bool o32)
{
	uint32_t lo, hi;

	if (!pmode(cpu) || v86(cpu)) {
		real_far(cpu, sel, off, o32);
		return;
	}
	if (!(sel & ~3u))
		cpu_raise(cpu, EX_GP, 0);
	if (!desc_read(cpu, sel, &lo, &hi))
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (hi & 0x1000) {
		code_target_check(cpu, sel, hi, cpu->cpl);
		load_cs(cpu, sel, lo, hi, cpu->cpl, o32 ? off : off & 0xffff);
		return;
	}
	unsigned type = (hi >> 8) & 0xf, dpl = (hi >> 13) & 3;

	switch (type) {
	case 0x4:
	case 0xc: { /* call gate */
		if (dpl < cpu->cpl || dpl < (sel & 3u))
			cpu_raise(cpu, EX_GP, sel & ~3u);
		if (!(hi & 0x8000))
			cpu_raise(cpu, EX_NP, sel & ~3u);
		uint16_t tsel = (uint16_t)(lo >> 16);
		uint32_t toff = type == 0xc ? (lo & 0xffff) | (hi & 0xffff0000u) : lo & 0xffff;
		uint32_t tlo, thi;

		if (!(tsel & ~3u))
			cpu_raise(cpu, EX_GP, 0);
		if (!desc_read(cpu, tsel, &tlo, &thi))
			cpu_raise(cpu, EX_GP, tsel & ~3u);
		code_target_check(cpu, tsel, thi, 3);
		load_cs(cpu, tsel, tlo, thi, cpu->cpl, toff);
		return;
	}
	case 0x1:
	case 0x9:
	case 0x5:
		if (dpl < cpu->cpl || dpl < (sel & 3u))
			cpu_raise(cpu, EX_GP, sel & ~3u);
		if (!(hi & 0x8000))
			cpu_raise(cpu, EX_NP, sel & ~3u);
		task_switch(cpu, sel, lo, hi, TS_JMP, false, 0);
		return;
	}
	cpu_raise(cpu, EX_GP, sel & ~3u);
}

/* Push on a stack that is not loaded yet (privilege change). */
static uint32_t push_on(CPU *cpu, const SegReg *ss, uint32_t esp, uint32_t v, bool g32, bool user)
{
	unsigned size = g32 ? 4 : 2;
	bool s32 = ss->attr & A_DB;
	uint32_t nsp = s32 ? esp - size : (esp - size) & 0xffff;
	bool bad;

	if (ss->attr & A_EXPDOWN) /* valid offsets: limit+1 to the top (B bit) */
		bad = nsp <= ss->limit || nsp + size - 1 > (s32 ? 0xffffffffu : 0xffffu) ||
		      nsp + size - 1 < nsp;
	else
		bad = nsp + size - 1 > ss->limit || nsp + size - 1 < nsp;
	/* #SS(0) on the current stack, #SS(selector) on a new one */
	if (bad)
		cpu_raise(cpu, EX_SS, ss == &cpu->seg[S_SS] ? 0 : ss->sel & ~3u);
	if (g32)
		lin_write32(cpu, ss->base + nsp, v, user);
	else
		lin_write16(cpu, ss->base + nsp, (uint16_t)v, user);
	return s32 ? nsp : (esp & 0xffff0000u) | nsp;
}

static void call_gate(CPU *cpu, uint16_t sel, uint32_t lo, uint32_t hi, bool o32)
{
	unsigned type = (hi >> 8) & 0xf, dpl = (hi >> 13) & 3;
	bool g32 = type == 0xc;

	if (dpl < cpu->cpl || dpl < (sel & 3u))
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
	uint16_t tsel = (uint16_t)(lo >> 16);
	uint32_t toff = g32 ? (lo & 0xffff) | (hi & 0xffff0000u) : lo & 0xffff;
	uint32_t tlo, thi;

	if (!(tsel & ~3u))
		cpu_raise(cpu, EX_GP, 0);
	if (!desc_read(cpu, tsel, &tlo, &thi))
		cpu_raise(cpu, EX_GP, tsel & ~3u);
	unsigned tdpl = (thi >> 13) & 3;

	if ((thi & 0x1800) != 0x1800 || tdpl > cpu->cpl)
		cpu_raise(cpu, EX_GP, tsel & ~3u);
	if (!(thi & 0x8000))
		cpu_raise(cpu, EX_NP, tsel & ~3u);

	uint16_t old_cs = cpu->seg[S_CS].sel;
	uint32_t old_eip = cpu->eip;

	if (!(thi & 0x400) && tdpl < cpu->cpl) {
		/* more privileged: new stack from the TSS, copy the parameters */
		bool t32 = (cpu->tr.attr & 0xf) == 0x9 || (cpu->tr.attr & 0xf) == 0xb;
		uint32_t toffs = t32 ? 4 + tdpl * 8 : 2 + tdpl * 4;
		uint32_t nesp, slo, shi;
		uint16_t nss;

		if (toffs + (t32 ? 5 : 3) > cpu->tr.limit)
			cpu_raise(cpu, EX_TS, cpu->tr.sel & ~3u);
		if (t32) {
			nesp = sys_read32(cpu, cpu->tr.base + toffs);
			nss = sys_read16(cpu, cpu->tr.base + toffs + 4);
		} else {
			nesp = sys_read16(cpu, cpu->tr.base + toffs);
			nss = sys_read16(cpu, cpu->tr.base + toffs + 2);
		}
		if (!(nss & ~3u))
			cpu_raise(cpu, EX_TS, 0);
		if (!desc_read(cpu, nss, &slo, &shi))
			cpu_raise(cpu, EX_TS, nss & ~3u);
		if ((nss & 3u) != tdpl || ((shi >> 13) & 3) != tdpl || (shi & 0x1a00) != 0x1200)
			cpu_raise(cpu, EX_TS, nss & ~3u);
		if (!(shi & 0x8000))
			cpu_raise(cpu, EX_SS, nss & ~3u);
		SegReg ss;

		seg_from_desc(&ss, nss, slo, shi | 0x100);
		unsigned nparams = hi & 0x1f;
		uint32_t params[32];
		uint32_t osp = cpu->r[R_ESP];

		for (unsigned i = 0; i < nparams; i++) {
			uint32_t o = stack32(cpu) ? osp + i * (g32 ? 4 : 2)
						  : (osp + i * (g32 ? 4 : 2)) & 0xffff;

			params[i] = g32 ? rd32(cpu, S_SS, o) : rd16(cpu, S_SS, o);
		}
		/* the pushes are writes at the new privilege */
		bool user = tdpl == 3;
		uint32_t esp = push_on(cpu, &ss, nesp, cpu->seg[S_SS].sel, g32, user);

		esp = push_on(cpu, &ss, esp, cpu->r[R_ESP], g32, user);
		for (unsigned i = nparams; i-- > 0;)
			esp = push_on(cpu, &ss, esp, params[i], g32, user);
		esp = push_on(cpu, &ss, esp, old_cs, g32, user);
		esp = push_on(cpu, &ss, esp, old_eip, g32, user);
		SegReg cs;

		seg_from_desc(&cs, (tsel & ~3u) | tdpl, tlo, thi | 0x100);
		if (toff > cs.limit)
			cpu_raise(cpu, EX_GP, 0);
		desc_set_accessed(cpu, nss, shi);
		desc_set_accessed(cpu, tsel, thi);
		cpu->seg[S_SS] = ss;
		cpu->r[R_ESP] = esp;
		cpu->seg[S_CS] = cs;
		set_cpl(cpu, tdpl);
		cpu->eip = toff;
		return;
	}
	(void)o32;
	uint32_t esp = push_on(cpu, &cpu->seg[S_SS], cpu->r[R_ESP], old_cs, g32, cpu_user(cpu));

	esp = push_on(cpu, &cpu->seg[S_SS], esp, old_eip, g32, cpu_user(cpu));
	load_cs(cpu, tsel, tlo, thi, cpu->cpl, toff);
	cpu->r[R_ESP] = esp;
}

void far_call(CPU *cpu, uint16_t sel, uint32_t off, bool o32)
{
	uint32_t lo, hi;

	if (!pmode(cpu) || v86(cpu)) {
		uint16_t old_cs = cpu->seg[S_CS].sel;
		uint32_t old_eip = cpu->eip;

		unsigned size = o32 ? 4 : 2;

		/* room for both slots before either is written (SDM CALL, real
		 * and V86 modes); on a 16-bit stack each wraps in its 64 KiB, so
		 * SP = 0 or 2 is no fault */
		for (uint32_t k = 1; k <= 2; k++)
			seg_check(cpu, S_SS,
				  stack32(cpu) ? cpu->r[R_ESP] - k * size
					       : (cpu->r[R_ESP] - k * size) & 0xffff,
				  size, true);
		push(cpu, old_cs, o32);
		push(cpu, old_eip, o32);
		real_far(cpu, sel, off, o32);
		return;
	}
	if (!(sel & ~3u))
		cpu_raise(cpu, EX_GP, 0);
	if (!desc_read(cpu, sel, &lo, &hi))
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (hi & 0x1000) {
		code_target_check(cpu, sel, hi, cpu->cpl);
		uint32_t esp = push_on(cpu, &cpu->seg[S_SS], cpu->r[R_ESP], cpu->seg[S_CS].sel, o32,
				       cpu_user(cpu));

		esp = push_on(cpu, &cpu->seg[S_SS], esp, cpu->eip, o32, cpu_user(cpu));
		load_cs(cpu, sel, lo, hi, cpu->cpl, o32 ? off : off & 0xffff);
		cpu->r[R_ESP] = esp;
		return;
	}
	unsigned type = (hi >> 8) & 0xf, dpl = (hi >> 13) & 3;

	switch (type) {
	case 0x4:
	case 0xc:
		call_gate(cpu, sel, lo, hi, o32);
		return;
	case 0x1:
	case 0x9:
	case 0x5:
		if (dpl < cpu->cpl || dpl < (sel & 3u))
			cpu_raise(cpu, EX_GP, sel & ~3u);
		if (!(hi & 0x8000))
			cpu_raise(cpu, EX_NP, sel & ~3u);
		task_switch(cpu, sel, lo, hi, TS_CALL, false, 0);
		return;
	}
	cpu_raise(cpu, EX_GP, sel & ~3u);
}

/* Read the stack at ESP + @off (without popping). */
static uint32_t stack_peek(CPU *cpu, uint32_t off, bool o32)
{
	uint32_t sp = cpu->r[R_ESP] + off;

	if (!stack32(cpu))
		sp &= 0xffff;
	return o32 ? rd32(cpu, S_SS, sp) : rd16(cpu, S_SS, sp);
}

/* Return to an outer level: check the SS popped from the old stack (all
 * checks come before CS or SS change, so a fault leaves them alone). */
static SegReg outer_stack_check(CPU *cpu, uint16_t nss, unsigned rpl)
{
	uint32_t lo, hi;
	SegReg ss;

	if (!(nss & ~3u))
		cpu_raise(cpu, EX_GP, 0);
	if (!desc_read(cpu, nss, &lo, &hi))
		cpu_raise(cpu, EX_GP, nss & ~3u);
	if ((nss & 3u) != rpl || ((hi >> 13) & 3) != rpl || (hi & 0x1a00) != 0x1200)
		cpu_raise(cpu, EX_GP, nss & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_SS, nss & ~3u);
	desc_set_accessed(cpu, nss, hi);
	seg_from_desc(&ss, nss, lo, hi | 0x100);
	return ss;
}

static void outer_stack(CPU *cpu, const SegReg *ss, uint32_t nesp)
{
	cpu->seg[S_SS] = *ss;
	if (cpu->seg[S_SS].attr & A_DB)
		cpu->r[R_ESP] = nesp;
	else
		cpu->r[R_ESP] = (cpu->r[R_ESP] & 0xffff0000u) | (nesp & 0xffff);
}

void far_ret(CPU *cpu, bool o32, uint16_t extra)
{
	unsigned sz = o32 ? 4 : 2;
	uint32_t off = stack_peek(cpu, 0, o32);
	uint16_t sel = (uint16_t)stack_peek(cpu, sz, o32);

	if (!pmode(cpu) || v86(cpu)) {
		real_far(cpu, sel, off, o32);
		sp_add(cpu, 2 * sz + extra);
		return;
	}
	uint32_t lo, hi;

	if (!(sel & ~3u))
		cpu_raise(cpu, EX_GP, 0);
	if (!desc_read(cpu, sel, &lo, &hi))
		cpu_raise(cpu, EX_GP, sel & ~3u);
	unsigned rpl = sel & 3u, dpl = (hi >> 13) & 3;

	if (rpl < cpu->cpl || (hi & 0x1800) != 0x1800)
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if ((hi & 0x400) ? dpl > rpl : dpl != rpl)
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
	if (rpl == cpu->cpl) {
		load_cs(cpu, sel, lo, hi, rpl, o32 ? off : off & 0xffff);
		sp_add(cpu, 2 * sz + extra);
		return;
	}
	uint32_t nesp = stack_peek(cpu, 2 * sz + extra, o32);
	uint16_t nss = (uint16_t)stack_peek(cpu, 3 * sz + extra, o32);
	SegReg ss = outer_stack_check(cpu, nss, rpl);

	load_cs(cpu, sel, lo, hi, rpl, o32 ? off : off & 0xffff);
	outer_stack(cpu, &ss, nesp);
	sp_add(cpu, extra);
	null_inaccessible(cpu);
}

static void iret_v86_return(CPU *cpu, uint32_t eip, uint16_t cs, uint32_t fl)
{
	uint32_t nesp = stack_peek(cpu, 12, true);
	uint16_t nss = (uint16_t)stack_peek(cpu, 16, true);
	uint16_t es = (uint16_t)stack_peek(cpu, 20, true);
	uint16_t ds = (uint16_t)stack_peek(cpu, 24, true);
	uint16_t fs = (uint16_t)stack_peek(cpu, 28, true);
	uint16_t gs = (uint16_t)stack_peek(cpu, 32, true);

	cpu_load_flags(cpu, fl, 0x003f7fd5u);
	set_cpl(cpu, 3);
	seg_load_real(cpu, S_CS, cs);
	seg_load_real(cpu, S_SS, nss);
	seg_load_real(cpu, S_ES, es);
	seg_load_real(cpu, S_DS, ds);
	seg_load_real(cpu, S_FS, fs);
	seg_load_real(cpu, S_GS, gs);
	cpu->r[R_ESP] = nesp;
	cpu->eip = eip & 0xffff;
}

void do_iret(CPU *cpu, bool o32)
{
	unsigned sz = o32 ? 4 : 2;
	uint32_t eip = stack_peek(cpu, 0, o32);
	uint16_t cs = (uint16_t)stack_peek(cpu, sz, o32);
	uint32_t fl = stack_peek(cpu, 2 * sz, o32);
	uint32_t old = cpu_flags(cpu);

	cpu->nmi_blocked = false;
	if (!pmode(cpu)) {
		uint32_t mask = o32 ? 0x00277fd5u : 0x7fd5u;

		real_far(cpu, cs, eip, o32);
		cpu_load_flags(cpu, fl, mask);
		sp_add(cpu, 3 * sz);
		return;
	}
	if (v86(cpu)) {
		if (iopl(cpu) < 3)
			cpu_raise(cpu, EX_GP, 0);
		real_far(cpu, cs, eip, o32);
		cpu_load_flags(cpu, fl, o32 ? 0x00244fd5u : 0x4fd5u);
		sp_add(cpu, 3 * sz);
		return;
	}
	if (old & F_NT) {
		uint16_t back = sys_read16(cpu, cpu->tr.base);
		uint32_t lo, hi;

		/* the type (a busy TSS) is checked by task_switch() */
		if ((back & 4) || !desc_read(cpu, back, &lo, &hi))
			cpu_raise(cpu, EX_TS, back & ~3u);
		task_switch(cpu, back, lo, hi, TS_IRET, false, 0);
		return;
	}
	if (o32 && (fl & F_VM) && cpu->cpl == 0) {
		iret_v86_return(cpu, eip, cs, fl);
		return;
	}
	uint32_t lo, hi;

	if (!(cs & ~3u))
		cpu_raise(cpu, EX_GP, 0);
	if (!desc_read(cpu, cs, &lo, &hi))
		cpu_raise(cpu, EX_GP, cs & ~3u);
	unsigned rpl = cs & 3u, dpl = (hi >> 13) & 3;

	if (rpl < cpu->cpl || (hi & 0x1800) != 0x1800)
		cpu_raise(cpu, EX_GP, cs & ~3u);
	if ((hi & 0x400) ? dpl > rpl : dpl != rpl)
		cpu_raise(cpu, EX_GP, cs & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, cs & ~3u);

	/* which flags the old privilege level may change */
	uint32_t mask =
	    F_CF | F_PF | F_AF | F_ZF | F_SF | F_TF | F_DF | F_OF | F_NT | F_RF | F_AC | F_ID;
	unsigned old_cpl = cpu->cpl;

	if (old_cpl <= iopl(cpu))
		mask |= F_IF;
	if (old_cpl == 0)
		mask |= F_IOPL;
	if (!o32)
		mask &= 0xffff;
	if (rpl == old_cpl) {
		load_cs(cpu, cs, lo, hi, rpl, o32 ? eip : eip & 0xffff);
		cpu_load_flags(cpu, fl, mask);
		sp_add(cpu, 3 * sz);
		return;
	}
	uint32_t nesp = stack_peek(cpu, 3 * sz, o32);
	uint16_t nss = (uint16_t)stack_peek(cpu, 4 * sz, o32);
	SegReg ss = outer_stack_check(cpu, nss, rpl);

	load_cs(cpu, cs, lo, hi, rpl, o32 ? eip : eip & 0xffff);
	outer_stack(cpu, &ss, nesp);
	cpu_load_flags(cpu, fl, mask);
	null_inaccessible(cpu);
}

void load_ldt(CPU *cpu, uint16_t sel)
{
	uint32_t lo, hi;

	if (!(sel & ~3u)) {
		cpu->ldtr = (SegReg){sel, 0, 0, 0};
		return;
	}
	if ((sel & 4) || !desc_read(cpu, sel, &lo, &hi))
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (((hi >> 8) & 0x1f) != 0x02)
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
	seg_from_desc(&cpu->ldtr, sel, lo, hi);
}

void load_tr(CPU *cpu, uint16_t sel)
{
	uint32_t lo, hi;

	if (!(sel & ~3u))
		cpu_raise(cpu, EX_GP, 0);
	if ((sel & 4) || !desc_read(cpu, sel, &lo, &hi))
		cpu_raise(cpu, EX_GP, sel & ~3u);
	unsigned type = (hi >> 8) & 0x1f;

	if (type != 0x01 && type != 0x09)
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
	hi |= 0x200; /* busy */
	sys_write32(cpu, cpu->gdtr.base + (sel & ~7u) + 4, hi);
	seg_from_desc(&cpu->tr, sel, lo, hi);
}

/* ---- hardware task switch ------------------------------------------- */

/* Where a TSS keeps each field: 32-bit (types 9/B) and 16-bit (types 1/3). */
typedef struct TSSLayout {
	bool t32;
	uint32_t min_limit;
	uint32_t cr3; /* 0: none (16-bit) */
	uint32_t eip, eflags, regs, seg, ldt;
	unsigned width;	      /* bytes per IP, FLAGS and register slot */
	unsigned seg_stride;  /* bytes between selector slots */
	unsigned nseg;	      /* ES CS SS DS (FS GS) */
} TSSLayout;

static const TSSLayout tss32 = {true, 0x67, 0x1c, 0x20, 0x24, 0x28, 0x48, 0x60, 4, 4, 6};
static const TSSLayout tss16 = {false, 0x2b, 0, 0x0e, 0x10, 0x12, 0x22, 0x2a, 2, 2, 4};

static const TSSLayout *tss_layout(uint32_t type)
{
	return (type & 8) ? &tss32 : &tss16;
}

static bool tss_busy_type(unsigned type)
{
	return type == 0x03 || type == 0x0b;
}

static bool tss_avail_type(unsigned type)
{
	return type == 0x01 || type == 0x09;
}

static uint32_t tss_read(CPU *cpu, const TSSLayout *l, uint32_t lin)
{
	return l->t32 ? sys_read32(cpu, lin) : sys_read16(cpu, lin);
}

static void tss_write(CPU *cpu, const TSSLayout *l, uint32_t lin, uint32_t v)
{
	if (l->t32)
		sys_write32(cpu, lin, v);
	else
		sys_write16(cpu, lin, (uint16_t)v);
}

/* Set or clear the busy bit of the TSS descriptor @sel in the GDT. */
static void tss_set_busy(CPU *cpu, uint16_t sel, bool busy)
{
	uint32_t lin = cpu->gdtr.base + (sel & ~7u) + 4;
	uint32_t hi = sys_read32(cpu, lin);

	sys_write32(cpu, lin, busy ? hi | 0x200 : hi & ~0x200u);
}

/* The new task's LDT, after the point of no return: faults are #TS. */
static void task_load_ldt(CPU *cpu, uint16_t sel)
{
	uint32_t lo, hi;

	if (!(sel & ~3u)) {
		cpu->ldtr = (SegReg){sel, 0, 0, 0};
		return;
	}
	if ((sel & 4) || !desc_read(cpu, sel, &lo, &hi) || ((hi >> 8) & 0x1f) != 0x02)
		cpu_raise(cpu, EX_TS, sel & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_TS, sel & ~3u);
	seg_from_desc(&cpu->ldtr, sel, lo, hi);
}

/* The new task's CS: code, DPL = RPL (conforming: DPL <= RPL). */
static void task_load_cs(CPU *cpu, uint16_t sel)
{
	uint32_t lo, hi;
	unsigned dpl, rpl = sel & 3u;

	if (!(sel & ~3u) || !desc_read(cpu, sel, &lo, &hi) || (hi & 0x1800) != 0x1800)
		cpu_raise(cpu, EX_TS, sel & ~3u);
	dpl = (hi >> 13) & 3;
	if ((hi & 0x400) ? dpl > rpl : dpl != rpl)
		cpu_raise(cpu, EX_TS, sel & ~3u);
	if (!(hi & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
	desc_set_accessed(cpu, sel, hi);
	seg_from_desc(&cpu->seg[S_CS], sel, lo, hi | 0x100);
}

/* The new task's SS and data segments: the checks of MOV, with #TS for
 * invalid descriptors (#SS / #NP when not present). */
static void task_load_data(CPU *cpu, int s, uint16_t sel)
{
	uint32_t lo, hi;
	uint16_t esel = sel & ~3u;

	if (!esel && s != S_SS) {
		cpu->seg[s] = (SegReg){sel, 0, 0, 0};
		return;
	}
	if (!esel || !desc_read(cpu, sel, &lo, &hi) || !(hi & 0x1000))
		cpu_raise(cpu, EX_TS, esel);
	unsigned dpl = (hi >> 13) & 3;
	bool code = hi & 0x800;

	if (s == S_SS) {
		if ((sel & 3u) != cpu->cpl || dpl != cpu->cpl || code || !(hi & 0x200))
			cpu_raise(cpu, EX_TS, esel);
		if (!(hi & 0x8000))
			cpu_raise(cpu, EX_SS, esel);
	} else {
		if (code && !(hi & 0x200))
			cpu_raise(cpu, EX_TS, esel);
		if ((!code || !(hi & 0x400)) && (dpl < cpu->cpl || dpl < (sel & 3u)))
			cpu_raise(cpu, EX_TS, esel);
		if (!(hi & 0x8000))
			cpu_raise(cpu, EX_NP, esel);
	}
	desc_set_accessed(cpu, sel, hi);
	seg_from_desc(&cpu->seg[s], sel, lo, hi | 0x100);
}

/* The state a task switch takes from the new TSS. */
typedef struct TaskState {
	uint32_t cr3, eip, eflags, regs[8];
	uint16_t sel[6], ldt;
} TaskState;

static void task_read(CPU *cpu, const TSSLayout *l, uint32_t b, TaskState *t)
{
	t->cr3 = l->cr3 ? sys_read32(cpu, b + l->cr3) : cpu->cr3;
	t->eip = tss_read(cpu, l, b + l->eip);
	t->eflags = tss_read(cpu, l, b + l->eflags);
	for (int i = 0; i < 8; i++) {
		uint32_t v = tss_read(cpu, l, b + l->regs + l->width * i);

		/* a 16-bit TSS holds the low halves; the high ones stay */
		t->regs[i] = l->t32 ? v : (cpu->r[i] & 0xffff0000u) | v;
	}
	for (int i = 0; i < 6; i++)
		t->sel[i] = i < (int)l->nseg ? sys_read16(cpu, b + l->seg + l->seg_stride * i)
					    : cpu->seg[i].sel;
	t->ldt = sys_read16(cpu, b + l->ldt);
}

static void task_save(CPU *cpu, const TSSLayout *l, uint32_t b, uint32_t eflags)
{
	tss_write(cpu, l, b + l->eip, cpu->eip);
	tss_write(cpu, l, b + l->eflags, eflags);
	for (int i = 0; i < 8; i++)
		tss_write(cpu, l, b + l->regs + l->width * i, cpu->r[i]);
	for (unsigned i = 0; i < l->nseg; i++)
		sys_write16(cpu, b + l->seg + l->seg_stride * i, cpu->seg[i].sel);
}

/* Load the new task's registers and segments.  Runs after the point of no
 * return: a fault here is taken in the new task. */
static void task_load(CPU *cpu, const TSSLayout *l, const TaskState *t)
{
	cpu->cr0 |= CR0_TS;
	if ((cpu->cr0 & CR0_PG) && l->cr3) {
		cpu->cr3 = t->cr3 & 0xfffff018u;
		tlb_flush(cpu);
	}
	memcpy(cpu->r, t->regs, sizeof(t->regs));
	cpu->eip = t->eip;
	cpu->cc_op = CC_EAGER;
	cpu->flags = (t->eflags | 2) & (l->t32 ? 0x003f7fd7u : 0x7fd7u);
	for (int i = 0; i < 6; i++)
		cpu->seg[i].sel = t->sel[i];
	if (v86(cpu)) {
		set_cpl(cpu, 3);
	} else {
		set_cpl(cpu, t->sel[S_CS] & 3u);
		/* the selectors are loaded: a fault below is reported with them */
	}
	cpu_begin(cpu); /* from here a fault is taken in the new task */
	if (v86(cpu)) {
		task_load_ldt(cpu, t->ldt);
		for (int i = 0; i < 6; i++)
			seg_load_real(cpu, i, t->sel[i]);
		return;
	}
	task_load_ldt(cpu, t->ldt);
	task_load_cs(cpu, t->sel[S_CS]);
	task_load_data(cpu, S_SS, t->sel[S_SS]);
	task_load_data(cpu, S_DS, t->sel[S_DS]);
	task_load_data(cpu, S_ES, t->sel[S_ES]);
	if (l->t32) {
		task_load_data(cpu, S_FS, t->sel[S_FS]);
		task_load_data(cpu, S_GS, t->sel[S_GS]);
	}
}

/*
 * Hardware task switch to the TSS (or through the task gate) @sel with
 * descriptor @lo/@hi, by JMP, CALL, IRET or an interrupt: 32-bit and 16-bit
 * TSSes.  Every check that can fail before the old state is saved leaves
 * the old task alone; the segment checks after the new state is loaded
 * fault in the new task (the SDM's order).  A 16-bit TSS has no CR3, FS,
 * GS: they stay; nor upper halves of the registers: they stay too.
 */
void task_switch(CPU *cpu, uint16_t sel, uint32_t lo, uint32_t hi, int how, bool has_err,
		 uint32_t err)
{
	uint32_t lo2 = lo, hi2 = hi;

	if (((hi >> 8) & 0x1f) == 0x05) {
		/* task gate: fetch the TSS descriptor it names */
		sel = (uint16_t)(lo >> 16);
		if ((sel & 4) || !desc_read(cpu, sel, &lo2, &hi2))
			cpu_raise(cpu, EX_GP, sel & ~3u);
	}
	unsigned type = (hi2 >> 8) & 0x1f;

	if (how == TS_IRET ? !tss_busy_type(type) : !tss_avail_type(type))
		cpu_raise(cpu, how == TS_IRET ? EX_TS : EX_GP, sel & ~3u);
	if (!(hi2 & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
	const TSSLayout *nl = tss_layout(type), *ol = tss_layout(cpu->tr.attr);
	SegReg nt;

	seg_from_desc(&nt, sel, lo2, hi2);
	if (nt.limit < nl->min_limit)
		cpu_raise(cpu, EX_TS, sel & ~3u);
	if (!tss_busy_type(cpu->tr.attr & 0x1f) || cpu->tr.limit < ol->min_limit)
		cpu_raise(cpu, EX_TS, cpu->tr.sel & ~3u);

	/* read the whole new state first: faults here leave the old task intact */
	TaskState t;

	task_read(cpu, nl, nt.base, &t);

	/* save the old state */
	uint32_t fl = cpu_flags(cpu);

	if (how == TS_IRET)
		fl &= ~F_NT;
	task_save(cpu, ol, cpu->tr.base, fl);
	if (how == TS_JMP || how == TS_IRET)
		tss_set_busy(cpu, cpu->tr.sel, false);
	if (how == TS_CALL || how == TS_INT) {
		sys_write16(cpu, nt.base, cpu->tr.sel);
		t.eflags |= F_NT;
	}
	if (how != TS_IRET)
		tss_set_busy(cpu, sel, true);

	/* the point of no return: TR names the new task */
	seg_from_desc(&cpu->tr, sel, lo2, hi2 | 0x200);
	task_load(cpu, nl, &t);
	if (has_err)
		push(cpu, err, nl->t32);
}
