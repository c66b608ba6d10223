/*
 * insn.c - the general-purpose instructions: data movement, arithmetic and
 * logic, multiply/divide, BCD, bit operations, stack, near and far control
 * transfers, flags; and insn_forms[], the opcode table built from
 * opcodes.def.
 */
#include "x86.h"

#define OPB(in) ((in)->o32 ? 32u : 16u)

/* ---- stack ----------------------------------------------------------- */

uint32_t sp_get(CPU *cpu)
{
	return stack32(cpu) ? cpu->r[R_ESP] : cpu->r[R_ESP] & 0xffff;
}

void sp_set(CPU *cpu, uint32_t v)
{
	if (stack32(cpu))
		cpu->r[R_ESP] = v;
	else
		setr_whole(cpu, R_ESP, (cpu->r[R_ESP] & 0xffff0000u) | (v & 0xffff));
}

void sp_add(CPU *cpu, uint32_t n)
{
	sp_set(cpu, sp_get(cpu) + n);
}

void push(CPU *cpu, uint32_t v, bool o32)
{
	uint32_t sp = sp_get(cpu) - (o32 ? 4 : 2);

	if (!stack32(cpu))
		sp &= 0xffff;
	if (o32)
		wr32(cpu, S_SS, sp, v);
	else
		wr16(cpu, S_SS, sp, (uint16_t)v);
	sp_set(cpu, sp);
}

uint32_t pop(CPU *cpu, bool o32)
{
	uint32_t sp = sp_get(cpu);
	uint32_t v = o32 ? rd32(cpu, S_SS, sp) : rd16(cpu, S_SS, sp);

	sp_set(cpu, sp + (o32 ? 4 : 2));
	return v;
}

static void jump_near(CPU *cpu, uint32_t target, bool o32)
{
	if (!o32)
		target &= 0xffff;
	if (target > cpu->seg[S_CS].limit)
		cpu_raise(cpu, EX_GP, 0);
	cpu->eip = target;
}

/* ---- ALU ------------------------------------------------------------- */

/* 00-3B: op r/m, r and op r, r/m (bit 1: direction, bit 0: width). */
static H(op_alu_rm)
{
	unsigned op = (in->op >> 3) & 7, bits = in->op & 1 ? OPB(in) : 8;

	if (in->op & 2) {
		uint32_t res =
		    alu_op(cpu, op, getr(cpu, in->reg, bits), rm_read(cpu, in, bits), bits);

		if (op != 7)
			setr(cpu, in->reg, res, bits);
		return;
	}
	if (in->mod == 3) {
		uint32_t res =
		    alu_op(cpu, op, getr(cpu, in->rm, bits), getr(cpu, in->reg, bits), bits);

		if (op != 7)
			setr(cpu, in->rm, res, bits);
		return;
	}
	uint32_t off = ea_offset(cpu, in);
	uint32_t res =
	    alu_op(cpu, op, rdv(cpu, in->ea_seg, off, bits), getr(cpu, in->reg, bits), bits);

	if (op != 7)
		wrv(cpu, in->ea_seg, off, res, bits);
}

static H(op_alu_acc)
{
	unsigned op = (in->op >> 3) & 7, bits = in->op & 1 ? OPB(in) : 8;
	uint32_t res = alu_op(cpu, op, getr(cpu, R_EAX, bits), in->imm, bits);

	if (op != 7)
		setr(cpu, R_EAX, res, bits);
}

static H(op_grp1)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;
	uint32_t imm = in->op == 0x83 ? sign_ext(in->imm, 8) : in->imm;

	if (in->mod == 3) {
		uint32_t res = alu_op(cpu, in->reg, getr(cpu, in->rm, bits), imm, bits);

		if (in->reg != 7)
			setr(cpu, in->rm, res, bits);
		return;
	}
	uint32_t off = ea_offset(cpu, in);
	uint32_t res = alu_op(cpu, in->reg, rdv(cpu, in->ea_seg, off, bits), imm, bits);

	if (in->reg != 7)
		wrv(cpu, in->ea_seg, off, res, bits);
}

static H(op_test_rm)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;

	alu_op(cpu, 4, rm_read(cpu, in, bits), getr(cpu, in->reg, bits), bits);
}

static H(op_test_acc)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;

	alu_op(cpu, 4, getr(cpu, R_EAX, bits), in->imm, bits);
}

static H(op_incr)
{
	unsigned bits = OPB(in);

	setr(cpu, in->reg, alu_inc(cpu, getr(cpu, in->reg, bits), bits, in->op & 8), bits);
}

/* Read-modify-write of r/m with a unary function. */
static void rmw(CPU *cpu, Insn *in, unsigned bits,
		uint32_t (*fn)(CPU *cpu, uint32_t v, unsigned bits, unsigned arg), unsigned arg)
{
	if (in->mod == 3) {
		setr(cpu, in->rm, fn(cpu, getr(cpu, in->rm, bits), bits, arg), bits);
		return;
	}
	uint32_t off = ea_offset(cpu, in);
	uint32_t v = rdv(cpu, in->ea_seg, off, bits);

	wrv(cpu, in->ea_seg, off, fn(cpu, v, bits, arg), bits);
}

static uint32_t f_inc(CPU *cpu, uint32_t v, unsigned bits, unsigned dec)
{
	return alu_inc(cpu, v, bits, dec);
}

static uint32_t f_not(CPU *cpu, uint32_t v, unsigned bits, unsigned arg)
{
	return ~v & bits_mask(bits);
}

static uint32_t f_neg(CPU *cpu, uint32_t v, unsigned bits, unsigned arg)
{
	return alu_op(cpu, 5, 0, v, bits);
}

/* @arg: the operation (ModRM.reg) in bits 0-2, the masked count above */
static uint32_t f_shift(CPU *cpu, uint32_t v, unsigned bits, unsigned arg)
{
	return alu_shift(cpu, arg & 7, v, arg >> 3, bits);
}

static H(op_grp2)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;
	unsigned count;

	if (in->op <= 0xc1)
		count = in->imm;
	else if (in->op <= 0xd1)
		count = 1;
	else
		count = cpu->r[R_ECX];
	rmw(cpu, in, bits, f_shift, in->reg | (count & 31) << 3);
}

/* ---- multiply and divide ------------------------------------------- */

static void mul_flags(CPU *cpu, uint32_t lo, unsigned bits, bool over)
{
	set_flags_szp(cpu, lo, bits, over ? F_CF | F_OF : 0);
}

static void do_mul(CPU *cpu, uint32_t src, unsigned bits, bool sign)
{
	if (bits == 8) {
		uint32_t a = cpu->r[R_EAX] & 0xff;
		uint16_t r =
		    sign ? (uint16_t)((int8_t)a * (int8_t)src) : (uint16_t)(a * (src & 0xff));

		setr(cpu, R_EAX, r, 16);
		mul_flags(cpu, r & 0xff, 8, sign ? (int16_t)r != (int8_t)r : (r >> 8) != 0);
	} else if (bits == 16) {
		uint32_t a = cpu->r[R_EAX] & 0xffff;
		uint32_t r = sign ? (uint32_t)((int16_t)a * (int16_t)src) : a * (src & 0xffff);

		setr(cpu, R_EAX, r, 16);
		setr(cpu, R_EDX, r >> 16, 16);
		mul_flags(cpu, r & 0xffff, 16, sign ? (int32_t)r != (int16_t)r : (r >> 16) != 0);
	} else {
		uint64_t r = sign ? (uint64_t)((int64_t)(int32_t)cpu->r[R_EAX] * (int32_t)src)
				  : (uint64_t)cpu->r[R_EAX] * src;

		cpu->r[R_EAX] = (uint32_t)r;
		cpu->r[R_EDX] = (uint32_t)(r >> 32);
		mul_flags(cpu, (uint32_t)r, 32, sign ? (int64_t)r != (int32_t)r : (r >> 32) != 0);
	}
}

static void do_div(CPU *cpu, uint32_t src, unsigned bits, bool sign)
{
	uint32_t m = bits_mask(bits);

	src &= m;
	if (!src)
		cpu_fault(cpu, EX_DE);
	if (!sign) {
		uint64_t n = bits == 8 ? cpu->r[R_EAX] & 0xffff
			     : bits == 16
				 ? (cpu->r[R_EDX] & 0xffff) << 16 | (cpu->r[R_EAX] & 0xffff)
				 : (uint64_t)cpu->r[R_EDX] << 32 | cpu->r[R_EAX];
		/* a 64-bit host division is several times slower than a
		 * 32-bit one: that one when the dividend fits */
		uint64_t q = n <= UINT32_MAX ? (uint32_t)n / src : n / src;
		uint64_t r = n <= UINT32_MAX ? (uint32_t)n % src : n % src;

		if (q > m)
			cpu_fault(cpu, EX_DE);
		if (bits == 8) {
			setr(cpu, R_EAX, (uint32_t)(r << 8 | q), 16);
		} else {
			setr(cpu, R_EAX, (uint32_t)q, bits);
			setr(cpu, R_EDX, (uint32_t)r, bits);
		}
		return;
	}
	int64_t n = bits == 8 ? (int16_t)cpu->r[R_EAX]
		    : bits == 16
			? (int32_t)((cpu->r[R_EDX] & 0xffff) << 16 | (cpu->r[R_EAX] & 0xffff))
			: (int64_t)((uint64_t)cpu->r[R_EDX] << 32 | cpu->r[R_EAX]);
	int64_t d = (int32_t)sign_ext(src, bits);

	if (n == INT64_MIN && d == -1)
		cpu_fault(cpu, EX_DE);
	bool narrow = n == (int32_t)n && d != -1; /* as above; INT32_MIN / -1 would trap */
	int64_t q = narrow ? (int32_t)n / (int32_t)d : n / d;
	int64_t r = narrow ? (int32_t)n % (int32_t)d : n % d;
	int64_t lo = -((int64_t)1 << (bits - 1)), hi = ((int64_t)1 << (bits - 1)) - 1;

	if (q < lo || q > hi)
		cpu_fault(cpu, EX_DE);
	if (bits == 8) {
		setr(cpu, R_EAX, (uint32_t)((r & 0xff) << 8 | (q & 0xff)), 16);
	} else {
		setr(cpu, R_EAX, (uint32_t)q, bits);
		setr(cpu, R_EDX, (uint32_t)r, bits);
	}
}

static H(op_grp3)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;

	switch (in->reg) {
	case 0:
	case 1:
		alu_op(cpu, 4, rm_read(cpu, in, bits), in->imm, bits);
		return;
	case 2:
		rmw(cpu, in, bits, f_not, 0);
		return;
	case 3:
		rmw(cpu, in, bits, f_neg, 0);
		return;
	case 4:
	case 5:
		do_mul(cpu, rm_read(cpu, in, bits), bits, in->reg == 5);
		return;
	default:
		do_div(cpu, rm_read(cpu, in, bits), bits, in->reg == 7);
		return;
	}
}

static uint32_t imul_trunc(CPU *cpu, uint32_t a, uint32_t b, unsigned bits)
{
	int64_t r = (int64_t)(int32_t)sign_ext(a, bits) * (int32_t)sign_ext(b, bits);
	uint32_t lo = (uint32_t)r & bits_mask(bits);

	mul_flags(cpu, lo, bits, r != (int32_t)sign_ext(lo, bits));
	return lo;
}

static H(op_imul3)
{
	unsigned bits = OPB(in);
	uint32_t imm = in->op == 0x6b ? sign_ext(in->imm, 8) : in->imm;

	setr(cpu, in->reg, imul_trunc(cpu, rm_read(cpu, in, bits), imm, bits), bits);
}

static H(op_imul2)
{
	unsigned bits = OPB(in);

	setr(cpu, in->reg, imul_trunc(cpu, getr(cpu, in->reg, bits), rm_read(cpu, in, bits), bits),
	     bits);
}

/* ---- BCD --------------------------------------------------------------- */

static void set_al_flags(CPU *cpu, uint32_t al, uint32_t other)
{
	set_flags_szp(cpu, al, 8, other);
}

static H(op_daa)
{
	uint32_t f = cpu_flags(cpu), al = cpu->r[R_EAX] & 0xff, old = al, out = 0;

	if ((al & 0xf) > 9 || (f & F_AF)) {
		al += 6;
		out |= F_AF | ((f & F_CF) || al > 0xff ? F_CF : 0);
	}
	if (old > 0x99 || (f & F_CF)) {
		al += 0x60;
		out |= F_CF;
	}
	/* OF: what a P6 leaves is undefined; take the sign change */
	if (!(old & 0x80) && (al & 0x80))
		out |= F_OF;
	setr(cpu, R_EAX, al, 8);
	set_al_flags(cpu, al, out);
}

static H(op_das)
{
	uint32_t f = cpu_flags(cpu), al = cpu->r[R_EAX] & 0xff, old = al, out = 0;

	if ((al & 0xf) > 9 || (f & F_AF)) {
		out |= F_AF | ((f & F_CF) || al < 6 ? F_CF : 0);
		al = (al - 6) & 0xff;
	}
	if (old > 0x99 || (f & F_CF)) {
		al = (al - 0x60) & 0xff;
		out |= F_CF;
	}
	if ((old & 0x80) && !(al & 0x80))
		out |= F_OF;
	setr(cpu, R_EAX, al, 8);
	set_al_flags(cpu, al, out);
}

static H(op_aaa)
{
	uint32_t f = cpu_flags(cpu), ax = cpu->r[R_EAX] & 0xffff, out = 0;

	if ((ax & 0xf) > 9 || (f & F_AF)) {
		ax += 0x106;
		out = F_AF | F_CF;
	}
	ax &= 0xff0f;
	setr(cpu, R_EAX, ax, 16);
	set_al_flags(cpu, ax & 0xff, out);
}

static H(op_aas)
{
	uint32_t f = cpu_flags(cpu), ax = cpu->r[R_EAX] & 0xffff, out = 0;

	if ((ax & 0xf) > 9 || (f & F_AF)) {
		ax = (ax - 6) & 0xffff;
		ax = (ax - 0x100) & 0xffff;
		out = F_AF | F_CF;
	}
	ax &= 0xff0f;
	setr(cpu, R_EAX, ax, 16);
	set_al_flags(cpu, ax & 0xff, out);
}

static H(op_aam)
{
	uint32_t al = cpu->r[R_EAX] & 0xff, base = in->imm & 0xff;

	if (!base)
		cpu_fault(cpu, EX_DE);
	setr(cpu, R_EAX, (al / base) << 8 | (al % base), 16);
	set_al_flags(cpu, al % base, 0);
}

static H(op_aad)
{
	uint32_t al = cpu->r[R_EAX] & 0xff, ah = (cpu->r[R_EAX] >> 8) & 0xff;
	uint32_t t = (ah * (in->imm & 0xff)) & 0xff;
	uint32_t res = alu_op(cpu, 0, al, t, 8);

	setr(cpu, R_EAX, res, 16);
}

static H(op_salc)
{
	setr(cpu, R_EAX, cc_cf(cpu) ? 0xff : 0, 8);
}

/* ---- moves --------------------------------------------------------- */

static H(op_mov_rm)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;

	if (in->op & 2)
		setr(cpu, in->reg, rm_read(cpu, in, bits), bits);
	else
		rm_write(cpu, in, getr(cpu, in->reg, bits), bits);
}

static H(op_mov_rm_imm)
{
	if (in->reg)
		cpu_fault(cpu, EX_UD);
	rm_write(cpu, in, in->imm, in->op & 1 ? OPB(in) : 8);
}

static H(op_mov_r_imm)
{
	if (in->op < 0xb8)
		setr(cpu, in->op & 7, in->imm, 8);
	else
		setr(cpu, in->op & 7, in->imm, OPB(in));
}

static H(op_mov_moffs)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;
	int s = in->seg != S_NONE ? in->seg : S_DS;

	if (in->op & 2)
		wrv(cpu, s, in->disp, getr(cpu, R_EAX, bits), bits);
	else
		setr(cpu, R_EAX, rdv(cpu, s, in->disp, bits), bits);
}

static H(op_mov_from_sreg)
{
	if (in->reg > 5)
		cpu_fault(cpu, EX_UD);
	if (in->mod == 3)
		setr(cpu, in->rm, cpu->seg[in->reg].sel, OPB(in));
	else
		wr16(cpu, in->ea_seg, ea_offset(cpu, in), cpu->seg[in->reg].sel);
}

static H(op_mov_to_sreg)
{
	if (in->reg > 5 || in->reg == S_CS)
		cpu_fault(cpu, EX_UD);
	seg_load(cpu, in->reg, (uint16_t)rm_read(cpu, in, 16));
	if (in->reg == S_SS)
		cpu->shadow = true;
}

static H(op_lea)
{
	if (in->mod == 3)
		cpu_fault(cpu, EX_UD);
	setr(cpu, in->reg, ea_offset(cpu, in), OPB(in));
}

static H(op_xchg_rm)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;
	uint32_t r = getr(cpu, in->reg, bits);

	if (in->mod == 3) {
		setr(cpu, in->reg, getr(cpu, in->rm, bits), bits);
		setr(cpu, in->rm, r, bits);
		return;
	}
	uint32_t off = ea_offset(cpu, in);
	uint32_t m = rdv(cpu, in->ea_seg, off, bits);

	wrv(cpu, in->ea_seg, off, r, bits);
	setr(cpu, in->reg, m, bits);
}

static H(op_xchg_acc)
{
	unsigned bits = OPB(in), r = in->op & 7;
	uint32_t a = getr(cpu, R_EAX, bits);

	setr(cpu, R_EAX, getr(cpu, r, bits), bits);
	setr(cpu, r, a, bits);
}

static H(op_cbw)
{
	if (in->o32)
		cpu->r[R_EAX] = sign_ext(cpu->r[R_EAX], 16);
	else
		setr(cpu, R_EAX, sign_ext(cpu->r[R_EAX], 8), 16);
}

static H(op_cwd)
{
	if (in->o32)
		cpu->r[R_EDX] = (cpu->r[R_EAX] & 0x80000000u) ? 0xffffffffu : 0;
	else
		setr(cpu, R_EDX, (cpu->r[R_EAX] & 0x8000) ? 0xffff : 0, 16);
}

static H(op_xlat)
{
	int s = in->seg != S_NONE ? in->seg : S_DS;
	uint32_t off = cpu->r[R_EBX] + (cpu->r[R_EAX] & 0xff);

	setr(cpu, R_EAX, rd8(cpu, s, in->a32 ? off : off & 0xffff), 8);
}

static H(op_movx)
{
	unsigned sbits = in->op & 1 ? 16 : 8;
	uint32_t v = rm_read(cpu, in, sbits);

	if (in->op >= 0x1be)
		v = sign_ext(v, sbits);
	setr(cpu, in->reg, v, OPB(in));
}

static H(op_lxs)
{
	static const int8_t segs[] = {[0xc4 - 0xc4] = S_ES, [0xc5 - 0xc4] = S_DS};
	int s;

	if (in->mod == 3)
		cpu_fault(cpu, EX_UD);
	if (in->op < 0x100)
		s = segs[in->op - 0xc4];
	else
		s = in->op == 0x1b2 ? S_SS : in->op == 0x1b4 ? S_FS : S_GS;
	uint32_t off = ea_offset(cpu, in);
	uint32_t v = rdv(cpu, in->ea_seg, off, OPB(in));
	uint32_t o2 = off + (in->o32 ? 4 : 2);
	uint16_t sel = rd16(cpu, in->ea_seg, in->a32 ? o2 : o2 & 0xffff);

	seg_load(cpu, s, sel);
	setr(cpu, in->reg, v, OPB(in));
}

static H(op_cmov)
{
	unsigned bits = OPB(in);
	uint32_t v = rm_read(cpu, in, bits);

	if (cond_true(cpu, in->op & 0xf))
		setr(cpu, in->reg, v, bits);
}

static H(op_setcc)
{
	rm_write(cpu, in, cond_true(cpu, in->op & 0xf), 8);
}

static H(op_bswap)
{
	unsigned r = in->op & 7;

	if (in->o32)
		cpu->r[r] = __builtin_bswap32(cpu->r[r]);
	else
		setr(cpu, r, 0, 16);
}

/* ---- bit operations ------------------------------------------------ */

/* BT/BTS/BTR/BTC: @op 0-3, bit offset from a register (may reach beyond
 * the operand in memory) or an immediate. */
static void bit_op(CPU *cpu, Insn *in, unsigned op, uint32_t bitoff, bool from_reg)
{
	unsigned bits = OPB(in);
	uint32_t v, mask, res;

	if (in->mod == 3) {
		bitoff &= bits - 1;
		v = getr(cpu, in->rm, bits);
	} else {
		uint32_t off = ea_offset(cpu, in);

		if (from_reg) {
			int32_t disp = bits == 32 ? ((int32_t)bitoff >> 5) * 4
						  : ((int32_t)(int16_t)bitoff >> 4) * 2;
			off += (uint32_t)disp;
			if (!in->a32)
				off &= 0xffff;
		}
		bitoff &= bits - 1;
		v = rdv(cpu, in->ea_seg, off, bits);
		mask = 1u << bitoff;
		res = op == 1 ? v | mask : op == 2 ? v & ~mask : v ^ mask;
		if (op)
			wrv(cpu, in->ea_seg, off, res, bits);
		cpu_flags(cpu);
		cpu->flags = (cpu->flags & ~F_CF) | ((v >> bitoff) & 1);
		return;
	}
	mask = 1u << bitoff;
	res = op == 1 ? v | mask : op == 2 ? v & ~mask : v ^ mask;
	if (op)
		setr(cpu, in->rm, res, bits);
	cpu_flags(cpu);
	cpu->flags = (cpu->flags & ~F_CF) | ((v >> bitoff) & 1);
}

static H(op_bt)
{
	static const uint8_t ops[4] = {0, 1, 2, 3}; /* A3 AB B3 BB */
	unsigned i = ((in->op & 0xff) - 0xa3) >> 3;

	bit_op(cpu, in, ops[i & 3], getr(cpu, in->reg, OPB(in)), true);
}

static H(op_grp8)
{
	if (in->reg < 4)
		cpu_fault(cpu, EX_UD);
	bit_op(cpu, in, in->reg - 4, in->imm & 0xff, false);
}

static H(op_bsf)
{
	unsigned bits = OPB(in);
	uint32_t v = rm_read(cpu, in, bits);

	cpu_flags(cpu);
	if (!v) {
		cpu->flags |= F_ZF;
		return;
	}
	cpu->flags &= ~F_ZF;
	setr(cpu, in->reg,
	     in->op == 0x1bc ? (uint32_t)__builtin_ctz(v) : 31u - (uint32_t)__builtin_clz(v), bits);
}

static H(op_shld)
{
	unsigned bits = OPB(in);
	unsigned count = ((in->op & 1) ? cpu->r[R_ECX] : in->imm) & 31;
	bool right = in->op >= 0x1ac;
	uint32_t src = getr(cpu, in->reg, bits);

	if (in->mod == 3) {
		setr(cpu, in->rm, alu_shld(cpu, getr(cpu, in->rm, bits), src, count, bits, right),
		     bits);
		return;
	}
	uint32_t off = ea_offset(cpu, in);
	uint32_t v = rdv(cpu, in->ea_seg, off, bits);

	wrv(cpu, in->ea_seg, off, alu_shld(cpu, v, src, count, bits, right), bits);
}

static H(op_xadd)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;
	uint32_t src = getr(cpu, in->reg, bits);

	if (in->mod == 3) {
		uint32_t d = getr(cpu, in->rm, bits);

		setr(cpu, in->reg, d, bits);
		setr(cpu, in->rm, alu_op(cpu, 0, d, src, bits), bits);
		return;
	}
	uint32_t off = ea_offset(cpu, in);
	uint32_t d = rdv(cpu, in->ea_seg, off, bits);
	uint32_t sum = alu_op(cpu, 0, d, src, bits);

	wrv(cpu, in->ea_seg, off, sum, bits);
	setr(cpu, in->reg, d, bits);
}

static H(op_cmpxchg)
{
	unsigned bits = in->op & 1 ? OPB(in) : 8;
	uint32_t acc = getr(cpu, R_EAX, bits);
	uint32_t off = in->mod == 3 ? 0 : ea_offset(cpu, in);
	uint32_t d = in->mod == 3 ? getr(cpu, in->rm, bits) : rdv(cpu, in->ea_seg, off, bits);
	bool eq = acc == d;
	uint32_t nd = eq ? getr(cpu, in->reg, bits) : d;

	/* the destination is always written back, as on the real chip */
	if (in->mod == 3)
		setr(cpu, in->rm, nd, bits);
	else
		wrv(cpu, in->ea_seg, off, nd, bits);
	alu_op(cpu, 7, acc, d, bits);
	if (!eq)
		setr(cpu, R_EAX, d, bits);
}

static H(op_grp9)
{
	if (in->reg != 1 || in->mod == 3)
		cpu_fault(cpu, EX_UD);
	uint32_t off = ea_offset(cpu, in);
	uint32_t o2 = in->a32 ? off + 4 : (off + 4) & 0xffff;
	uint32_t lo = rd32(cpu, in->ea_seg, off), hi = rd32(cpu, in->ea_seg, o2);
	bool eq = lo == cpu->r[R_EAX] && hi == cpu->r[R_EDX];

	seg_check(cpu, in->ea_seg, off, 8, true);
	if (eq) {
		wr32(cpu, in->ea_seg, off, cpu->r[R_EBX]);
		wr32(cpu, in->ea_seg, o2, cpu->r[R_ECX]);
	} else {
		wr32(cpu, in->ea_seg, off, lo);
		wr32(cpu, in->ea_seg, o2, hi);
		cpu->r[R_EAX] = lo;
		cpu->r[R_EDX] = hi;
	}
	cpu_flags(cpu);
	cpu->flags = (cpu->flags & ~F_ZF) | (eq ? F_ZF : 0);
}

/* ---- stack instructions ---------------------------------------------- */

static H(op_push_r)
{
	push(cpu, cpu->r[in->op & 7], in->o32);
}

static H(op_pop_r)
{
	uint32_t v = pop(cpu, in->o32);

	setr(cpu, in->op & 7, v, OPB(in));
}

static H(op_push_imm)
{
	push(cpu, in->op == 0x6a ? sign_ext(in->imm, 8) : in->imm, in->o32);
}

static H(op_pop_rm)
{
	if (in->reg)
		cpu_fault(cpu, EX_UD);
	uint32_t v = pop(cpu, in->o32);

	/* the address is computed with ESP already incremented */
	rm_write(cpu, in, v, OPB(in));
}

static int seg_of_pushpop(unsigned op)
{
	switch (op) {
	case 0x06:
	case 0x07:
		return S_ES;
	case 0x0e:
		return S_CS;
	case 0x16:
	case 0x17:
		return S_SS;
	case 0x1e:
	case 0x1f:
		return S_DS;
	case 0x1a0:
	case 0x1a1:
		return S_FS;
	default:
		return S_GS;
	}
}

static H(op_push_seg)
{
	uint16_t sel = cpu->seg[seg_of_pushpop(in->op)].sel;

	if (in->o32) {
		/* a P6 writes only the low word of the 32-bit slot */
		uint32_t sp = sp_get(cpu) - 4;

		if (!stack32(cpu))
			sp &= 0xffff;
		seg_check(cpu, S_SS, sp, 4, true);
		wr16(cpu, S_SS, sp, sel);
		sp_set(cpu, sp);
	} else {
		push(cpu, sel, false);
	}
}

static H(op_pop_seg)
{
	int s = seg_of_pushpop(in->op);
	uint32_t sp = sp_get(cpu);
	uint16_t sel = rd16(cpu, S_SS, sp);

	if (in->o32)
		seg_check(cpu, S_SS, sp, 4, false);
	/* the pop moves SP or ESP by the size of the stack it popped from:
	 * POP SS must not take the new segment's B bit for it */
	sp_add(cpu, in->o32 ? 4 : 2);
	seg_load(cpu, s, sel);
	if (s == S_SS)
		cpu->shadow = true;
}

/* PUSHA/PUSHAD: the slots are addressed with SP or ESP (the stack's size),
 * the value pushed for ESP is the register before the instruction at the
 * operand size: all of ESP for PUSHAD, also on a 16-bit stack (SDM PUSHA:
 * "Temp <- (ESP)"). */
static H(op_pusha)
{
	uint32_t sp = sp_get(cpu);
	unsigned size = in->o32 ? 4 : 2;

	for (int r = 0; r < 8; r++) {
		uint32_t v = cpu->r[r];
		uint32_t a = sp - size * (r + 1);

		if (!stack32(cpu))
			a &= 0xffff;
		wrv(cpu, S_SS, a, v, OPB(in));
	}
	sp_set(cpu, sp - 8 * size);
}

static H(op_popa)
{
	uint32_t sp = sp_get(cpu);
	unsigned size = in->o32 ? 4 : 2;
	uint32_t v[8];

	for (int r = 0; r < 8; r++) {
		uint32_t a = sp + size * (7 - r);

		if (!stack32(cpu))
			a &= 0xffff;
		v[r] = rdv(cpu, S_SS, a, OPB(in));
	}
	for (int r = 0; r < 8; r++)
		if (r != R_ESP)
			setr(cpu, r, v[r], OPB(in));
	sp_set(cpu, sp + 8 * size);
}

static H(op_enter)
{
	unsigned size = in->o32 ? 4 : 2, level = in->imm2 & 31;
	uint32_t bp = stack32(cpu) ? cpu->r[R_EBP] : cpu->r[R_EBP] & 0xffff;

	push(cpu, cpu->r[R_EBP], in->o32);
	/* FrameTemp: ESP after the push (SDM ENTER); on a 16-bit stack its
	 * upper half is ESP's, kept by the push.  A 16-bit ENTER uses SP. */
	uint32_t frame = cpu->r[R_ESP];

	if (level) {
		for (unsigned i = 1; i < level; i++) {
			bp -= size;
			if (!stack32(cpu))
				bp &= 0xffff;
			push(cpu, rdv(cpu, S_SS, bp, OPB(in)), in->o32);
		}
		push(cpu, frame, in->o32);
	}
	uint32_t nsp = sp_get(cpu) - in->imm;

	if (!stack32(cpu))
		nsp &= 0xffff;
	seg_check(cpu, S_SS, nsp, 1, true);
	setr(cpu, R_EBP, frame, OPB(in));
	sp_set(cpu, nsp);
}

static H(op_leave)
{
	uint32_t bp = stack32(cpu) ? cpu->r[R_EBP] : cpu->r[R_EBP] & 0xffff;
	uint32_t v = rdv(cpu, S_SS, bp, OPB(in));

	sp_set(cpu, bp + (in->o32 ? 4 : 2));
	setr(cpu, R_EBP, v, OPB(in));
}

static H(op_bound)
{
	if (in->mod == 3)
		cpu_fault(cpu, EX_UD);
	unsigned bits = OPB(in);
	uint32_t off = ea_offset(cpu, in);
	uint32_t o2 = in->a32 ? off + bits / 8 : (off + bits / 8) & 0xffff;
	int32_t lo = (int32_t)sign_ext(rdv(cpu, in->ea_seg, off, bits), bits);
	int32_t hi = (int32_t)sign_ext(rdv(cpu, in->ea_seg, o2, bits), bits);
	int32_t v = (int32_t)sign_ext(getr(cpu, in->reg, bits), bits);

	if (v < lo || v > hi)
		cpu_fault(cpu, EX_BR);
}

/* ---- flags ----------------------------------------------------------- */

static H(op_pushf)
{
	if (v86(cpu) && iopl(cpu) < 3)
		cpu_raise(cpu, EX_GP, 0);
	push(cpu, cpu_flags(cpu) & ~(F_VM | F_RF), in->o32);
}

static H(op_popf)
{
	if (v86(cpu) && iopl(cpu) < 3)
		cpu_raise(cpu, EX_GP, 0);
	uint32_t v = pop(cpu, in->o32);
	uint32_t mask = F_CF | F_PF | F_AF | F_ZF | F_SF | F_TF | F_DF | F_OF | F_NT | F_AC | F_ID;

	if (cpu->cpl == 0 && !v86(cpu))
		mask |= F_IOPL;
	if (cpu->cpl <= iopl(cpu))
		mask |= F_IF;
	if (!in->o32)
		mask &= 0xffff;
	cpu_load_flags(cpu, v, mask);
}

static H(op_sahf)
{
	uint32_t ah = (cpu->r[R_EAX] >> 8) & 0xff;

	cpu_flags(cpu);
	cpu->flags = (cpu->flags & ~(F_SF | F_ZF | F_AF | F_PF | F_CF)) |
		     (ah & (F_SF | F_ZF | F_AF | F_PF | F_CF));
}

static H(op_lahf)
{
	setr(cpu, 4, (cpu_flags(cpu) & 0xd5) | 2, 8);
}

static H(op_flagop)
{
	uint32_t f = cpu_flags(cpu);

	switch (in->op) {
	case 0xf5:
		cpu->flags = f ^ F_CF;
		break;
	case 0xf8:
		cpu->flags = f & ~F_CF;
		break;
	case 0xf9:
		cpu->flags = f | F_CF;
		break;
	case 0xfc:
		cpu->flags = f & ~F_DF;
		break;
	case 0xfd:
		cpu->flags = f | F_DF;
		break;
	case 0xfa:
	case 0xfb:
		if (pmode(cpu) && cpu->cpl > iopl(cpu))
			cpu_raise(cpu, EX_GP, 0);
		if (in->op == 0xfa) {
			cpu->flags = f & ~F_IF;
		} else {
			if (!(f & F_IF))
				cpu->shadow = true;
			cpu->flags = f | F_IF;
		}
		break;
	}
}

/* ---- control transfer ----------------------------------------------- */

static H(op_jcc)
{
	uint32_t rel = in->op < 0x100 ? sign_ext(in->imm, 8) : in->imm;

	if (cond_true(cpu, in->op & 0xf))
		jump_near(cpu, cpu->eip + rel, in->o32);
}

static H(op_jmp_rel)
{
	uint32_t rel = in->op == 0xeb ? sign_ext(in->imm, 8) : in->imm;

	jump_near(cpu, cpu->eip + rel, in->o32);
}

static H(op_call_rel)
{
	uint32_t target = cpu->eip + in->imm;

	if (!in->o32)
		target &= 0xffff;
	if (target > cpu->seg[S_CS].limit)
		cpu_raise(cpu, EX_GP, 0);
	push(cpu, cpu->eip, in->o32);
	cpu->eip = target;
}

static H(op_ret_near)
{
	uint32_t target = pop(cpu, in->o32);

	jump_near(cpu, target, in->o32);
	if (in->op == 0xc2)
		sp_add(cpu, in->imm);
}

static H(op_retf)
{
	far_ret(cpu, in->o32, in->op == 0xca ? (uint16_t)in->imm : 0);
}

static H(op_call_far)
{
	far_call(cpu, (uint16_t)in->imm2, in->imm, in->o32);
}

static H(op_jmp_far)
{
	far_jmp(cpu, (uint16_t)in->imm2, in->imm, in->o32);
}

static H(op_loop)
{
	uint32_t c = in->a32 ? cpu->r[R_ECX] : cpu->r[R_ECX] & 0xffff;
	bool take;

	if (in->op == 0xe3) {
		take = c == 0;
	} else {
		c = in->a32 ? c - 1 : (c - 1) & 0xffff;
		take = c != 0;
		if (in->op == 0xe1)
			take = take && cc_zf(cpu);
		else if (in->op == 0xe0)
			take = take && !cc_zf(cpu);
	}
	if (take)
		jump_near(cpu, cpu->eip + sign_ext(in->imm, 8), in->o32);
	if (in->op != 0xe3)
		setr(cpu, R_ECX, c, in->a32 ? 32 : 16);
}

static H(op_grp4)
{
	if (in->reg > 1)
		cpu_fault(cpu, EX_UD);
	rmw(cpu, in, 8, f_inc, in->reg);
}

static H(op_grp5)
{
	unsigned bits = OPB(in);

	switch (in->reg) {
	case 0:
	case 1:
		rmw(cpu, in, bits, f_inc, in->reg);
		return;
	case 2: {
		uint32_t t = rm_read(cpu, in, bits);

		if (!in->o32)
			t &= 0xffff;
		if (t > cpu->seg[S_CS].limit)
			cpu_raise(cpu, EX_GP, 0);
		push(cpu, cpu->eip, in->o32);
		cpu->eip = t;
		return;
	}
	case 4:
		jump_near(cpu, rm_read(cpu, in, bits), in->o32);
		return;
	case 3:
	case 5: {
		if (in->mod == 3)
			cpu_fault(cpu, EX_UD);
		uint32_t off = ea_offset(cpu, in);
		uint32_t o2 = off + bits / 8;
		uint32_t t = rdv(cpu, in->ea_seg, off, bits);
		uint16_t sel = rd16(cpu, in->ea_seg, in->a32 ? o2 : o2 & 0xffff);

		if (in->reg == 3)
			far_call(cpu, sel, t, in->o32);
		else
			far_jmp(cpu, sel, t, in->o32);
		return;
	}
	case 6:
		push(cpu, rm_read(cpu, in, bits), in->o32);
		return;
	default:
		cpu_fault(cpu, EX_UD);
	}
}

static H(op_int3)
{
	cpu_interrupt(cpu, EX_BP, true, false, 0);
}

static H(op_int)
{
	if (v86(cpu) && iopl(cpu) < 3)
		cpu_raise(cpu, EX_GP, 0);
	cpu_interrupt(cpu, in->imm & 0xff, true, false, 0);
}

static H(op_into)
{
	if (cpu_flags(cpu) & F_OF)
		cpu_interrupt(cpu, EX_OF, true, false, 0);
}

static H(op_int1)
{
	cpu_interrupt(cpu, EX_DB, false, false, 0);
}

static H(op_iret)
{
	do_iret(cpu, in->o32);
}

static H(op_hlt)
{
	if (pmode(cpu) && cpu->cpl != 0)
		cpu_raise(cpu, EX_GP, 0);
	cpu->halted = true;
}

static H(op_nop)
{
}

/* ---- the opcode table ------------------------------------------------- */

/* clang-format off */
/* Every handler opcodes.def names (the other files' are declared here). */
#define FORM(first, last, reg1, reg2, name, fmt, fn, flow, save, lock, fast, jit) H(fn);
#include "opcodes.def"

/* Each row fills its forms.  Two rows that fill one form do not compile
 * (-Woverride-init), and together the rows fill them all: */
#define FORM(first, last, reg1, reg2, ...) + ((last) - (first) + 1) * ((reg2) - (reg1) + 1)
_Static_assert(0
#include "opcodes.def"
	       == 0x200 << 3, "opcodes.def: every opcode and ModRM.reg once");

#define FORM(first, last, reg1, reg2, name, fmt, fn, flow, save, lock, fast, jit) \
	[(first) << 3 | (reg1) ... (last) << 3 | (reg2)] = \
		{fn, OPF_##fmt, FLOW_##flow, SV_##save, OPL_##lock, FAST_##fast, JIT_##jit},
const InsnForm insn_forms[0x200 << 3] = {
#include "opcodes.def"
};
/* clang-format on */
