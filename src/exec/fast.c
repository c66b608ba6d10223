/*
 * fast.c - specialised handlers for the hot instruction forms, chosen once
 * at decode time by insn_specialise() from the family that the form's row
 * of opcodes.def names (InsnForm.fast).
 *
 * The generic handlers of insn.c work out at every execution the operand
 * size, the direction, whether the ModRM operand is a register or memory,
 * the ALU operation and the address size.  None of that depends on register
 * values, so for the forms programs run most (MOV, ALU, TEST, shifts and
 * rotates of every size; 32-bit INC/DEC, LEA, MOVZX/MOVSX, PUSH/POP and
 * Jcc) the decoder picks a handler with all of it fixed.  Memory forms need
 * 32-bit addressing.  Each does exactly what the generic handler does for
 * that form, in the same order: memory is read and written before any
 * general register changes (the rule in x86.h), and Insn.op, .flow and
 * .save stay those of the generic form.
 */
#include "x86.h"

/* The offset of a memory operand with 32-bit addressing. */
FB_INLINE uint32_t ea32(CPU *cpu, const Insn *in)
{
	uint32_t v = in->disp;

	if (in->base >= 0)
		v += cpu->r[in->base];
	if (in->index >= 0)
		v += cpu->r[in->index] << in->scale;
	return v;
}

/* ---- ALU: 00-3B (op r/m, r and op r, r/m), 80, 81 and 83 ------------ */

/* The immediate of group 1: 83 sign-extends a byte. */
FB_INLINE uint32_t grp1_imm(const Insn *in)
{
	return in->op == 0x83 ? (uint32_t)(int32_t)(int8_t)in->imm : in->imm;
}

/* Six forms per operation and operand size B; CMP (7) writes nothing back. */
#define ALU_FORMS(OP, B)                                                                           \
	static H(alu##OP##_rm_r_##B) /* op r(rm), r */                                             \
	{                                                                                          \
		uint32_t res = alu_op(cpu, OP, getr(cpu, in->rm, B), getr(cpu, in->reg, B), B);    \
		if (OP != 7)                                                                       \
			setr(cpu, in->rm, res, B);                                                 \
	}                                                                                          \
	static H(alu##OP##_r_rm_##B) /* op r, r(rm) */                                             \
	{                                                                                          \
		uint32_t res = alu_op(cpu, OP, getr(cpu, in->reg, B), getr(cpu, in->rm, B), B);    \
		if (OP != 7)                                                                       \
			setr(cpu, in->reg, res, B);                                                \
	}                                                                                          \
	static H(alu##OP##_r_m_##B) /* op r, m */                                                  \
	{                                                                                          \
		uint32_t v = rdv(cpu, in->ea_seg, ea32(cpu, in), B);                               \
		uint32_t res = alu_op(cpu, OP, getr(cpu, in->reg, B), v, B);                       \
		if (OP != 7)                                                                       \
			setr(cpu, in->reg, res, B);                                                \
	}                                                                                          \
	static H(alu##OP##_m_r_##B) /* op m, r */                                                  \
	{                                                                                          \
		uint32_t off = ea32(cpu, in);                                                      \
		uint32_t res =                                                                     \
		    alu_op(cpu, OP, rdv(cpu, in->ea_seg, off, B), getr(cpu, in->reg, B), B);       \
		if (OP != 7)                                                                       \
			wrv(cpu, in->ea_seg, off, res, B);                                         \
	}                                                                                          \
	static H(alu##OP##_r_i_##B) /* op r, imm */                                                \
	{                                                                                          \
		uint32_t res = alu_op(cpu, OP, getr(cpu, in->rm, B), grp1_imm(in), B);             \
		if (OP != 7)                                                                       \
			setr(cpu, in->rm, res, B);                                                 \
	}                                                                                          \
	static H(alu##OP##_m_i_##B) /* op m, imm */                                                \
	{                                                                                          \
		uint32_t off = ea32(cpu, in);                                                      \
		uint32_t res = alu_op(cpu, OP, rdv(cpu, in->ea_seg, off, B), grp1_imm(in), B);     \
		if (OP != 7)                                                                       \
			wrv(cpu, in->ea_seg, off, res, B);                                         \
	}
#define ALU_SIZES(OP) ALU_FORMS(OP, 8) ALU_FORMS(OP, 16) ALU_FORMS(OP, 32)

ALU_SIZES(0)
ALU_SIZES(1)
ALU_SIZES(2)
ALU_SIZES(3)
ALU_SIZES(4)
ALU_SIZES(5)
ALU_SIZES(6)
ALU_SIZES(7)

#define ALU_ROW(form, B)                                                                           \
	{                                                                                          \
		alu0_##form##_##B, alu1_##form##_##B, alu2_##form##_##B, alu3_##form##_##B,        \
		    alu4_##form##_##B, alu5_##form##_##B, alu6_##form##_##B, alu7_##form##_##B     \
	}
#define ALU_SIZE(B)                                                                                \
	{                                                                                          \
		ALU_ROW(rm_r, B), ALU_ROW(r_rm, B), ALU_ROW(r_m, B), ALU_ROW(m_r, B),              \
		    ALU_ROW(r_i, B), ALU_ROW(m_i, B)                                               \
	}
/* [size: 8, 16, 32][form, in the order of enum alu_form][operation] */
enum alu_form { AF_RM_R, AF_R_RM, AF_R_M, AF_M_R, AF_R_I, AF_M_I };
static InsnFn *const alu_fns[3][6][8] = {ALU_SIZE(8), ALU_SIZE(16), ALU_SIZE(32)};

#define TEST_FORMS(B)                                                                              \
	static H(test_r_r_##B)                                                                     \
	{                                                                                          \
		alu_op(cpu, 4, getr(cpu, in->rm, B), getr(cpu, in->reg, B), B);                    \
	}                                                                                          \
	static H(test_m_r_##B)                                                                     \
	{                                                                                          \
		alu_op(cpu, 4, rdv(cpu, in->ea_seg, ea32(cpu, in), B), getr(cpu, in->reg, B), B);  \
	}
TEST_FORMS(8)
TEST_FORMS(16)
TEST_FORMS(32)
static InsnFn *const test_fns[3][2] = {
    {test_r_r_8, test_m_r_8}, {test_r_r_16, test_m_r_16}, {test_r_r_32, test_m_r_32}};

static H(inc_r)
{
	unsigned r = in->op & 7;

	cpu->r[r] = alu_inc(cpu, cpu->r[r], 32, false);
}

static H(dec_r)
{
	unsigned r = in->op & 7;

	cpu->r[r] = alu_inc(cpu, cpu->r[r], 32, true);
}

/* ---- shifts and rotates: C0 C1 D0-D3 ------------------------------------ */

/* The count: an immediate, 1, or CL; masked to 5 bits as for every size. */
FB_INLINE unsigned shift_count(CPU *cpu, const Insn *in)
{
	unsigned count = in->op <= 0xc1 ? in->imm : in->op <= 0xd1 ? 1 : cpu->r[R_ECX];

	return count & 31;
}

#define SHIFT_FORMS(B)                                                                             \
	static H(shift_r_##B)                                                                      \
	{                                                                                          \
		uint32_t v = getr(cpu, in->rm, B);                                                 \
		setr(cpu, in->rm, alu_shift(cpu, in->reg, v, shift_count(cpu, in), B), B);         \
	}                                                                                          \
	static H(shift_m_##B)                                                                      \
	{                                                                                          \
		uint32_t off = ea32(cpu, in), v = rdv(cpu, in->ea_seg, off, B);                    \
		wrv(cpu, in->ea_seg, off, alu_shift(cpu, in->reg, v, shift_count(cpu, in), B), B); \
	}
SHIFT_FORMS(8)
SHIFT_FORMS(16)
SHIFT_FORMS(32)
static InsnFn *const shift_fns[3][2] = {
    {shift_r_8, shift_m_8}, {shift_r_16, shift_m_16}, {shift_r_32, shift_m_32}};

/* ---- moves ------------------------------------------------------------ */

/* 88-8B and C6/C7 /0 for operand size B */
#define MOV_FORMS(B)                                                                               \
	static H(mov_rm_r_##B) /* 88/89, register */                                               \
	{                                                                                          \
		setr(cpu, in->rm, getr(cpu, in->reg, B), B);                                       \
	}                                                                                          \
	static H(mov_r_rm_##B) /* 8A/8B, register */                                               \
	{                                                                                          \
		setr(cpu, in->reg, getr(cpu, in->rm, B), B);                                       \
	}                                                                                          \
	static H(mov_m_r_##B) /* 88/89, memory */                                                  \
	{                                                                                          \
		wrv(cpu, in->ea_seg, ea32(cpu, in), getr(cpu, in->reg, B), B);                     \
	}                                                                                          \
	static H(mov_r_m_##B) /* 8A/8B, memory */                                                  \
	{                                                                                          \
		setr(cpu, in->reg, rdv(cpu, in->ea_seg, ea32(cpu, in), B), B);                     \
	}                                                                                          \
	static H(mov_r_i_##B) /* C6/C7 /0, register */                                             \
	{                                                                                          \
		setr(cpu, in->rm, in->imm, B);                                                     \
	}                                                                                          \
	static H(mov_m_i_##B) /* C6/C7 /0, memory */                                               \
	{                                                                                          \
		wrv(cpu, in->ea_seg, ea32(cpu, in), in->imm, B);                                   \
	}
MOV_FORMS(8)
MOV_FORMS(16)
MOV_FORMS(32)

#define MOV_SIZE(B)                                                                                \
	{                                                                                          \
		mov_rm_r_##B, mov_r_rm_##B, mov_r_m_##B, mov_m_r_##B, mov_r_i_##B, mov_m_i_##B     \
	}
/* [size: 8, 16, 32][form, in the order of enum alu_form] */
static InsnFn *const mov_fns[3][6] = {MOV_SIZE(8), MOV_SIZE(16), MOV_SIZE(32)};

static H(lea_r)
{
	cpu->r[in->reg] = ea32(cpu, in);
}

static H(movzx8_r)
{
	cpu->r[in->reg] = getr(cpu, in->rm, 8);
}

static H(movzx8_m)
{
	cpu->r[in->reg] = rd8(cpu, in->ea_seg, ea32(cpu, in));
}

static H(movzx16_r)
{
	cpu->r[in->reg] = cpu->r[in->rm] & 0xffff;
}

static H(movzx16_m)
{
	cpu->r[in->reg] = rd16(cpu, in->ea_seg, ea32(cpu, in));
}

static H(movsx8_r)
{
	cpu->r[in->reg] = (uint32_t)(int32_t)(int8_t)getr(cpu, in->rm, 8);
}

static H(movsx8_m)
{
	cpu->r[in->reg] = (uint32_t)(int32_t)(int8_t)rd8(cpu, in->ea_seg, ea32(cpu, in));
}

static H(movsx16_r)
{
	cpu->r[in->reg] = (uint32_t)(int32_t)(int16_t)cpu->r[in->rm];
}

static H(movsx16_m)
{
	cpu->r[in->reg] = (uint32_t)(int32_t)(int16_t)rd16(cpu, in->ea_seg, ea32(cpu, in));
}

/* ---- stack: the 32-bit stack inline, a 16-bit one the generic way ---- */

static H(push_r)
{
	uint32_t v = cpu->r[in->op & 7];

	if (!stack32(cpu)) {
		push(cpu, v, true);
		return;
	}
	uint32_t sp = cpu->r[R_ESP] - 4;

	wr32(cpu, S_SS, sp, v);
	cpu->r[R_ESP] = sp;
}

static H(pop_r)
{
	uint32_t v;

	if (!stack32(cpu)) {
		v = pop(cpu, true);
	} else {
		v = rd32(cpu, S_SS, cpu->r[R_ESP]);
		cpu->r[R_ESP] += 4;
	}
	cpu->r[in->op & 7] = v; /* POP ESP: the value read wins */
}

/* ---- Jcc ------------------------------------------------------------- */

/*
 * Condition @cc straight from the lazy flags where that is quick: ZF and SF
 * come from the result of any lazy operation, CF from cc_cf(), the signed
 * and unsigned comparisons from a CMP/SUB without borrow in, and logic
 * operations clear CF and OF.  Operands are shifted to the top of the word
 * so that one 32-bit comparison serves every operand size.  Otherwise
 * cond_true() computes the flags.
 */
FB_INLINE bool cond_quick(CPU *cpu, unsigned cc)
{
	unsigned op = cpu->cc_op, sh = (32 - cpu->cc_bits) & 31;
	uint32_t res = cpu->cc_res << sh;
	bool r;

	if (op == CC_EAGER)
		return cond_true(cpu, cc);
	switch (cc >> 1) {
	case 1: /* B */
		r = cc_cf(cpu);
		break;
	case 2: /* E */
		r = res == 0;
		break;
	case 3: /* BE */
		r = res == 0 || cc_cf(cpu);
		break;
	case 4: /* S */
		r = (int32_t)res < 0;
		break;
	case 6: /* L: SF != OF */
	case 7: /* LE: ZF or SF != OF */
		if (op == CC_LOGIC) {
			r = (int32_t)res < 0 || ((cc >> 1) == 7 && res == 0);
		} else if (op == CC_SUB && !cpu->cc_c) {
			int32_t a = (int32_t)(cpu->cc_a << sh), b = (int32_t)(cpu->cc_b << sh);

			r = (cc >> 1) == 6 ? a < b : a <= b;
		} else {
			return cond_true(cpu, cc);
		}
		break;
	default: /* O, P */
		return cond_true(cpu, cc);
	}
	return r != (cc & 1);
}

/* Taken: the target must lie inside CS (as jump_near in insn.c). */
FB_INLINE void jcc32(CPU *cpu, const Insn *in, unsigned cc)
{
	uint32_t rel = in->op < 0x100 ? (uint32_t)(int32_t)(int8_t)in->imm : in->imm;

	if (cond_quick(cpu, cc)) {
		uint32_t target = cpu->eip + rel;

		if (target > cpu->seg[S_CS].limit)
			cpu_raise(cpu, EX_GP, 0);
		cpu->eip = target;
	}
}

#define JCC(cc)                                                                                    \
	static H(jcc##cc)                                                                          \
	{                                                                                          \
		jcc32(cpu, in, cc);                                                                \
	}
JCC(0)
JCC(1)
JCC(2)
JCC(3)
JCC(4)
JCC(5)
JCC(6)
JCC(7)
JCC(8)
JCC(9)
JCC(10)
JCC(11)
JCC(12)
JCC(13)
JCC(14)
JCC(15)

static InsnFn *const jcc_fns[16] = {
    jcc0, jcc1, jcc2,  jcc3,  jcc4,  jcc5,  jcc6,  jcc7,
    jcc8, jcc9, jcc10, jcc11, jcc12, jcc13, jcc14, jcc15,
};

/* ---- the choice -------------------------------------------------------- */

/* Operand size of an 8-bit/full-size opcode pair: 0, 1, 2 for 8, 16, 32. */
static unsigned size_index(const Insn *in, bool full)
{
	return !full ? 0 : in->o32 ? 2 : 1;
}

/* The form of opcodes 00-3B, 88-8B (low bits: direction, width). */
static enum alu_form dir_form(const Insn *in, bool mem)
{
	if (in->op & 2)
		return mem ? AF_R_M : AF_R_RM;
	return mem ? AF_M_R : AF_RM_R;
}

static InsnFn *movx_form(const Insn *in, bool mem)
{
	static InsnFn *const fns[4][2] = {
	    {movzx8_r, movzx8_m},
	    {movzx16_r, movzx16_m},
	    {movsx8_r, movsx8_m},
	    {movsx16_r, movsx16_m},
	};

	return fns[(in->op & 1) | (in->op >= 0x1be ? 2 : 0)][mem];
}

InsnFn *insn_specialise(const Insn *in)
{
	unsigned op = in->op, fast = insn_form(op, in->reg)->fast;
	bool mem = in->mod != 3;

	/* memory forms with 16-bit addressing keep the generic handlers */
	if (fast == FAST_NONE || (mem && !in->a32))
		return NULL;
	switch (fast) {
	case FAST_ALU:
		return alu_fns[size_index(in, op & 1)][dir_form(in, mem)][(op >> 3) & 7];
	case FAST_ALUI:
		return alu_fns[size_index(in, op & 1)][mem ? AF_M_I : AF_R_I][in->reg];
	case FAST_TEST:
		return test_fns[size_index(in, op & 1)][mem];
	case FAST_MOV:
		return mov_fns[size_index(in, op & 1)][dir_form(in, mem)];
	case FAST_MOVI:
		return mov_fns[size_index(in, op & 1)][mem ? AF_M_I : AF_R_I];
	case FAST_SHIFT:
		return shift_fns[size_index(in, op & 1)][mem];
	}
	/* the rest: 32-bit operands only */
	if (!in->o32)
		return NULL;
	switch (fast) {
	case FAST_INCDEC:
		return op & 8 ? dec_r : inc_r;
	case FAST_PUSH:
		return push_r;
	case FAST_POP:
		return pop_r;
	case FAST_JCC:
		return jcc_fns[op & 15];
	case FAST_LEA:
		return mem ? lea_r : NULL;
	case FAST_MOVX:
		return movx_form(in, mem);
	}
	return NULL;
}
