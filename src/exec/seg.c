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

	if (nsp + size - 1 > ss->limit || nsp + size - 1 < nsp)
		cpu_raise(cpu, EX_SS, ss->sel & ~3u);
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

		seg_check(cpu, S_SS,
			  (stack32(cpu) ? cpu->r[R_ESP] : cpu->r[R_ESP] & 0xffff) - (o32 ? 8 : 4),
			  o32 ? 8 : 4, true);
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

		if ((back & 4) || !desc_read(cpu, back, &lo, &hi))
			cpu_raise(cpu, EX_TS, back & ~3u);
		if (((hi >> 8) & 0x1d) != 0x09 || !(hi & 0x1000) == 0)
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

/*
 * Hardware task switch (32-bit TSS only): save the state into the current
 * TSS, load the new one.  16-bit TSSes raise #TS.
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

	if (type != 0x09 && type != 0x0b)
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (how != TS_IRET && type == 0x0b)
		cpu_raise(cpu, EX_GP, sel & ~3u);
	if (!(hi2 & 0x8000))
		cpu_raise(cpu, EX_NP, sel & ~3u);
	SegReg nt;

	seg_from_desc(&nt, sel, lo2, hi2);
	if (nt.limit < 0x67)
		cpu_raise(cpu, EX_TS, sel & ~3u);
	if ((cpu->tr.attr & 0xf) != 0xb)
		cpu_raise(cpu, EX_TS, cpu->tr.sel & ~3u);

	/* read the whole new state first: faults here leave the old task intact */
	uint32_t b = nt.base, regs[8], neip, nfl, ncr3;
	uint16_t nsel[6], nldt;

	ncr3 = sys_read32(cpu, b + 0x1c);
	neip = sys_read32(cpu, b + 0x20);
	nfl = sys_read32(cpu, b + 0x24);
	for (int i = 0; i < 8; i++)
		regs[i] = sys_read32(cpu, b + 0x28 + 4 * i);
	for (int i = 0; i < 6; i++)
		nsel[i] = sys_read16(cpu, b + 0x48 + 4 * i);
	nldt = sys_read16(cpu, b + 0x60);

	/* save the old state */
	uint32_t ob = cpu->tr.base;
	uint32_t fl = cpu_flags(cpu);

	if (how == TS_IRET)
		fl &= ~F_NT;
	sys_write32(cpu, ob + 0x20, cpu->eip);
	sys_write32(cpu, ob + 0x24, fl);
	for (int i = 0; i < 8; i++)
		sys_write32(cpu, ob + 0x28 + 4 * i, cpu->r[i]);
	for (int i = 0; i < 6; i++)
		sys_write16(cpu, ob + 0x48 + 4 * i, cpu->seg[i].sel);

	uint32_t gdt = cpu->gdtr.base;

	if (how == TS_JMP || how == TS_IRET) {
		uint32_t ohi = sys_read32(cpu, gdt + (cpu->tr.sel & ~7u) + 4);

		sys_write32(cpu, gdt + (cpu->tr.sel & ~7u) + 4, ohi & ~0x200u);
	}
	if (how == TS_CALL || how == TS_INT) {
		sys_write16(cpu, b, cpu->tr.sel);
		nfl |= F_NT;
	}
	if (how != TS_IRET)
		sys_write32(cpu, gdt + (sel & ~7u) + 4, hi2 | 0x200);
	seg_from_desc(&cpu->tr, sel, lo2, hi2 | 0x200);

	/* load the new state */
	cpu->cr0 |= CR0_TS;
	if (cpu->cr0 & CR0_PG) {
		cpu->cr3 = ncr3;
		tlb_flush(cpu);
	}
	memcpy(cpu->r, regs, sizeof(regs));
	cpu->eip = neip;
	cpu->cc_op = CC_EAGER;
	cpu->flags = (nfl | 2) & 0x003f7fd7u;
	for (int i = 0; i < 6; i++)
		cpu->seg[i].sel = nsel[i];
	if (v86(cpu)) {
		for (int i = 0; i < 6; i++)
			seg_load_real(cpu, i, nsel[i]);
		set_cpl(cpu, 3);
	} else {
		set_cpl(cpu, nsel[S_CS] & 3u);
		load_ldt(cpu, nldt);
		uint32_t clo, chi;

		if (!desc_read(cpu, nsel[S_CS], &clo, &chi) || !(chi & 0x800))
			cpu_raise(cpu, EX_TS, nsel[S_CS] & ~3u);
		seg_from_desc(&cpu->seg[S_CS], nsel[S_CS], clo, chi);
		seg_load(cpu, S_SS, nsel[S_SS]);
		seg_load(cpu, S_DS, nsel[S_DS]);
		seg_load(cpu, S_ES, nsel[S_ES]);
		seg_load(cpu, S_FS, nsel[S_FS]);
		seg_load(cpu, S_GS, nsel[S_GS]);
	}
	if (has_err)
		push(cpu, err, true);
}
