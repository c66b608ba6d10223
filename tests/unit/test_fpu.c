/*
 * test_fpu.c - the x87 FPU driven through fpu_exec() as the CPU drives it:
 * escape opcode + ModRM, a fake FPUMem over a byte array, FPUCtx with
 * EFLAGS and AX.  Expected bit patterns were derived by hand or computed
 * once on a host x87 (Intel) and pasted here.
 */
#include <string.h>

#include "../../src/exec/fpu.h"
#include "unit.h"

#define C0 0x0100
#define C1 0x0200
#define C2 0x0400
#define C3 0x4000
#define ES 0x0080
#define B  0x8000
#define IE 0x01
#define DE 0x02
#define ZE 0x04
#define OE 0x08
#define UE 0x10
#define PE 0x20
#define SF 0x40

#define CF  0x001
#define PF  0x004
#define AF  0x010
#define ZF  0x040
#define SFL 0x080
#define OF  0x800

#define ONE   0x3fff, 0x8000000000000000ull
#define TWO   0x4000, 0x8000000000000000ull
#define THREE 0x4000, 0xc000000000000000ull
#define INDEF 0xffff, 0xc000000000000000ull

static uint8_t ram[4096];
static FPU fpu;
static uint32_t eflags;
static uint16_t ax;
static FPUCtx ctx;
static int mem_faults;

static void mem_read(void *cpu, int seg, uint32_t off, void *buf, unsigned len)
{
	(void)cpu;
	(void)seg;
	if (off + len > sizeof(ram)) {
		mem_faults++;
		memset(buf, 0, len);
		return;
	}
	memcpy(buf, ram + off, len);
}

static void mem_write(void *cpu, int seg, uint32_t off, const void *buf, unsigned len)
{
	(void)cpu;
	(void)seg;
	if (off + len > sizeof(ram)) {
		mem_faults++;
		return;
	}
	memcpy(ram + off, buf, len);
}

static void reset(void)
{
	FPUCtx c = {.op32 = true,
		    .pmode = true,
		    .ip = 0x1000,
		    .cs = 0x08,
		    .ds = 0x10,
		    .eflags = &eflags,
		    .ax = &ax};
	fpu_reset(&fpu);
	ctx = c;
	eflags = 0x2;
}

/* A memory form: ModRM mod=00 with the given /reg. */
static enum fpu_result mem_op(unsigned opcode, unsigned reg, uint32_t off)
{
	FPUMem m = {NULL, 3, off, mem_read, mem_write};

	ctx.dp = off;
	return fpu_exec(&fpu, opcode, reg << 3, &m, &ctx);
}

static enum fpu_result reg_op(unsigned opcode, unsigned modrm)
{
	return fpu_exec(&fpu, opcode, modrm, NULL, &ctx);
}

static void put_le(uint32_t off, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		ram[off + i] = (uint8_t)v;
}

static uint64_t get_le(uint32_t off, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | ram[off + n];
	return v;
}

/* FLD m80 of se:mant (through memory at 0xF00). */
static void ld80(uint16_t se, uint64_t mant)
{
	put_le(0xF00, mant, 8);
	put_le(0xF08, se, 2);
	CHECK_EQ(mem_op(0xDB, 5, 0xF00), FPU_OK);
}

static void set_cw(uint16_t cw)
{
	put_le(0xF10, cw, 2);
	CHECK_EQ(mem_op(0xD9, 5, 0xF10), FPU_OK);
}

static unsigned top(void)
{
	return (fpu.sw >> 11) & 7;
}

static F80 st(unsigned i)
{
	return fpu.st[(top() + i) & 7];
}

static bool st_empty(unsigned i)
{
	return ((fpu.tw >> (2 * ((top() + i) & 7))) & 3) == 3;
}

#define CHECK_ST(i, ...) CHECK_ST_(i, __VA_ARGS__)
#define CHECK_ST_(i, se_, mant_)                                                                   \
	do {                                                                                       \
		CHECK_EQ(st(i).se, se_);                                                           \
		CHECK_EQ(st(i).mant, mant_);                                                       \
	} while (0)

#define CHECK_F80_AT(off, ...) CHECK_F80_AT_(off, __VA_ARGS__)
#define CHECK_F80_AT_(off, se_, mant_)                                                             \
	do {                                                                                       \
		CHECK_EQ(get_le(off, 8), mant_);                                                   \
		CHECK_EQ(get_le((off) + 8, 2), se_);                                               \
	} while (0)

/* FDIV under every rounding mode and precision: 1/3, 2/3, -2/3 (host x87). */
static void test_div_rounding(void)
{
	static const struct {
		unsigned rc, pc;
		uint16_t nse;
		uint64_t nmant;
		uint16_t se;
		uint64_t mant;
		bool c1;
	} t[] = {
	    {0, 0, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaab0000000000ull, 1},
	    {0, 0, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaab0000000000ull, 1},
	    {0, 0, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaab0000000000ull, 1},
	    {0, 2, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaaa800ull, 0},
	    {0, 2, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaaa800ull, 0},
	    {0, 2, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaaa800ull, 0},
	    {0, 3, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaaaaabull, 1},
	    {0, 3, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaaaaabull, 1},
	    {0, 3, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaaaaabull, 1},
	    {1, 0, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaa0000000000ull, 0},
	    {1, 0, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaa0000000000ull, 0},
	    {1, 0, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaab0000000000ull, 1},
	    {1, 2, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaaa800ull, 0},
	    {1, 2, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaaa800ull, 0},
	    {1, 2, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaab000ull, 1},
	    {1, 3, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaaaaaaull, 0},
	    {1, 3, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaaaaaaull, 0},
	    {1, 3, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaaaaabull, 1},
	    {2, 0, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaab0000000000ull, 1},
	    {2, 0, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaab0000000000ull, 1},
	    {2, 0, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaa0000000000ull, 0},
	    {2, 2, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaab000ull, 1},
	    {2, 2, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaab000ull, 1},
	    {2, 2, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaaa800ull, 0},
	    {2, 3, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaaaaabull, 1},
	    {2, 3, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaaaaabull, 1},
	    {2, 3, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaaaaaaull, 0},
	    {3, 0, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaa0000000000ull, 0},
	    {3, 0, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaa0000000000ull, 0},
	    {3, 0, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaa0000000000ull, 0},
	    {3, 2, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaaa800ull, 0},
	    {3, 2, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaaa800ull, 0},
	    {3, 2, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaaa800ull, 0},
	    {3, 3, 0x3fff, 0x8000000000000000ull, 0x3ffd, 0xaaaaaaaaaaaaaaaaull, 0},
	    {3, 3, 0x4000, 0x8000000000000000ull, 0x3ffe, 0xaaaaaaaaaaaaaaaaull, 0},
	    {3, 3, 0xc000, 0x8000000000000000ull, 0xbffe, 0xaaaaaaaaaaaaaaaaull, 0},
	};

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		reset();
		set_cw((uint16_t)(0x007F | t[i].pc << 8 | t[i].rc << 10));
		ld80(THREE);
		ld80(t[i].nse, t[i].nmant);
		CHECK_EQ(reg_op(0xD8, 0xF1), FPU_OK); /* FDIV ST(0), ST(1) */
		CHECK_ST(0, t[i].se, t[i].mant);
		CHECK_EQ(!!(fpu.sw & C1), t[i].c1);
		CHECK_EQ(fpu.sw & 0x3F, PE);
		CHECK(!fpu_exception_pending(&fpu));
	}
}

/* Ties, signed zeros and the reversed/popping register forms. */
static void test_add_forms(void)
{
	/* 1 + 2^-64 is a tie at 64 bits: even to nearest, up in RC=up */
	reset();
	ld80(0x3fbf, 0x8000000000000000ull);
	ld80(ONE);
	reg_op(0xD8, 0xC1); /* FADD ST(0), ST(1) */
	CHECK_ST(0, ONE);
	CHECK_EQ(fpu.sw & (C1 | PE), PE);
	reset();
	set_cw(0x0B7F); /* RC = up */
	ld80(0x3fbf, 0x8000000000000000ull);
	ld80(ONE);
	reg_op(0xD8, 0xC1);
	CHECK_ST(0, 0x3fff, 0x8000000000000001ull);
	CHECK_EQ(fpu.sw & (C1 | PE), C1 | PE);

	/* x - x is +0, but -0 when rounding down */
	reset();
	ld80(ONE);
	ld80(ONE);
	reg_op(0xD8, 0xE1); /* FSUB */
	CHECK_ST(0, 0x0000, 0);
	CHECK_EQ(fpu.tw >> (2 * top()) & 3, 1); /* tag: zero */
	reset();
	set_cw(0x077F);
	ld80(ONE);
	ld80(ONE);
	reg_op(0xD8, 0xE1);
	CHECK_ST(0, 0x8000, 0);

	/* ST(0) = 2, ST(1) = 3 for the forms below */
	reset();
	ld80(THREE);
	ld80(TWO);
	reg_op(0xD8, 0xE9); /* FSUBR ST(0), ST(1): 3 - 2 */
	CHECK_ST(0, ONE);
	reg_op(0xDC, 0xE9); /* FSUB ST(1), ST(0): 3 - 1 */
	CHECK_ST(1, TWO);
	reg_op(0xDC, 0xE1); /* FSUBR ST(1), ST(0): 1 - 2 */
	CHECK_ST(1, 0xbfff, 0x8000000000000000ull);
	reg_op(0xDE, 0xF9); /* FDIVP ST(1), ST(0): -1 / 1, pop */
	CHECK_ST(0, 0xbfff, 0x8000000000000000ull);
	CHECK(st_empty(1));
	ld80(TWO);
	reg_op(0xDE, 0xF1); /* FDIVRP ST(1), ST(0): 2 / -1 */
	CHECK_ST(0, 0xc000, 0x8000000000000000ull);
	ld80(THREE);
	reg_op(0xDE, 0xE9); /* FSUBP ST(1), ST(0): -2 - 3 */
	CHECK_ST(0, 0xc001, 0xa000000000000000ull);
	ld80(TWO);
	reg_op(0xDE, 0xC9); /* FMULP: -10 */
	CHECK_ST(0, 0xc002, 0xa000000000000000ull);
	ld80(ONE);
	reg_op(0xDE, 0xC1); /* FADDP: -9 */
	CHECK_ST(0, 0xc002, 0x9000000000000000ull);
	CHECK_EQ(top(), 7);

	/* memory operands: m32fp, m64fp, m16int, m32int */
	reset();
	ld80(ONE);
	put_le(0x10, 0x3FC00000, 4);		 /* 1.5f */
	CHECK_EQ(mem_op(0xD8, 0, 0x10), FPU_OK); /* FADD m32: 2.5 */
	CHECK_ST(0, 0x4000, 0xa000000000000000ull);
	put_le(0x10, 0xFFFD, 2); /* -3 */
	mem_op(0xDE, 0, 0x10);	 /* FIADD m16: -0.5 */
	CHECK_ST(0, 0xbffe, 0x8000000000000000ull);
	put_le(0x10, 4, 4);
	mem_op(0xDA, 5, 0x10); /* FISUBR m32: 4 - -0.5 = 4.5 */
	CHECK_ST(0, 0x4001, 0x9000000000000000ull);
	put_le(0x10, 0x4022000000000000ull, 8); /* 9.0 */
	mem_op(0xDC, 7, 0x10);			/* FDIVR m64: 9 / 4.5 = 2 */
	CHECK_ST(0, TWO);
	put_le(0x10, 0x40000000, 4); /* 2.0f */
	mem_op(0xD8, 1, 0x10);	     /* FMUL m32 */
	CHECK_ST(0, 0x4001, 0x8000000000000000ull);
}

/* Division by zero, invalid operations, unmasked responses. */
static void test_exceptions(void)
{
	reset();
	ld80(0x0000, 0);
	ld80(ONE);
	reg_op(0xD8, 0xF1); /* 1 / 0 */
	CHECK_ST(0, 0x7fff, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & 0x7F, ZE);
	CHECK(!fpu_exception_pending(&fpu));

	reset();
	set_cw(0x037B); /* ZE unmasked */
	ld80(0x0000, 0);
	ld80(0xbfff, 0x8000000000000000ull);
	reg_op(0xD8, 0xF1);
	CHECK_ST(0, 0xbfff, 0x8000000000000000ull); /* unchanged */
	CHECK_EQ(fpu.sw & (0x7F | ES | B), ZE | ES | B);
	CHECK(fpu_exception_pending(&fpu));
	reg_op(0xDB, 0xE2); /* FNCLEX */
	CHECK(!fpu_exception_pending(&fpu));
	CHECK_EQ(fpu.sw & 0x80FF, 0);

	/* 0 / 0, inf - inf, sqrt(-1): the real indefinite */
	reset();
	ld80(0x0000, 0);
	ld80(0x8000, 0);
	reg_op(0xD8, 0xF1);
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	reset();
	ld80(0x7fff, 0x8000000000000000ull);
	ld80(0x7fff, 0x8000000000000000ull);
	reg_op(0xD8, 0xE1);
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	reset();
	ld80(0xbfff, 0x8000000000000000ull);
	reg_op(0xD9, 0xFA); /* FSQRT */
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	/* IE unmasked: the operand stays */
	reset();
	set_cw(0x037E);
	ld80(0xbfff, 0x8000000000000000ull);
	reg_op(0xD9, 0xFA);
	CHECK_ST(0, 0xbfff, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & (IE | ES | B), IE | ES | B);

	/* SNaN + 1: quieted SNaN, IE; two QNaNs: the larger significand */
	reset();
	ld80(ONE);
	ld80(0x7fff, 0xa000000000000001ull);
	reg_op(0xD8, 0xC1);
	CHECK_ST(0, 0x7fff, 0xe000000000000001ull);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	reset();
	ld80(0xffff, 0xc000000000000002ull);
	ld80(0x7fff, 0xc000000000000001ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0xffff, 0xc000000000000002ull);
	CHECK_EQ(fpu.sw & 0x7F, 0);
	/* equal significands: the positive NaN (host x87) */
	reset();
	ld80(0x7fff, 0xc000000000000001ull);
	ld80(0xffff, 0xc000000000000001ull);
	reg_op(0xD8, 0xC1);
	CHECK_ST(0, 0x7fff, 0xc000000000000001ull);
	/* a QNaN in ST(0) wins over an SNaN m32 however large (host x87) */
	reset();
	ld80(INDEF);
	put_le(0x10, 0xff8644a5, 4);
	mem_op(0xD8, 1, 0x10);
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	/* an unnormal is invalid (P6), a pseudo-denormal a denormal */
	reset();
	ld80(ONE);
	ld80(0x4000, 0x4000000000000000ull);
	reg_op(0xD8, 0xC1);
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	reset();
	ld80(0x0001, 0x8000000000000000ull);
	ld80(0x0000, 0x8000000000000000ull); /* pseudo-denormal = 2^-16382 */
	reg_op(0xD8, 0xC1);
	CHECK_ST(0, 0x0002, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & 0x7F, DE);
}

/* Stack overflow / underflow: IE + SF, C1 = direction. */
static void test_stack_faults(void)
{
	reset();
	for (int i = 0; i < 8; i++)
		reg_op(0xD9, 0xE8); /* FLD1 */
	CHECK_EQ(fpu.sw & 0x7F, 0);
	reg_op(0xD9, 0xEE); /* FLDZ onto a full stack */
	CHECK_EQ(fpu.sw & 0x7F, IE | SF);
	CHECK(fpu.sw & C1);
	CHECK_ST(0, INDEF);

	reset();
	ld80(ONE);
	reg_op(0xD8, 0xC1); /* FADD ST(0), ST(1) with ST(1) empty */
	CHECK_EQ(fpu.sw & 0x7F, IE | SF);
	CHECK(!(fpu.sw & C1));
	CHECK_ST(0, INDEF);

	/* FSTP m32 from an empty stack stores the indefinite and pops */
	reset();
	put_le(0x20, 0, 4);
	mem_op(0xD9, 3, 0x20);
	CHECK_EQ(get_le(0x20, 4), 0xFFC00000);
	CHECK_EQ(fpu.sw & 0x7F, IE | SF);
	CHECK_EQ(top(), 1);

	/* unmasked: nothing moves */
	reset();
	set_cw(0x037E);
	ld80(ONE);
	reg_op(0xD8, 0xC1);
	CHECK_ST(0, ONE);
	CHECK(st_empty(1));
	CHECK_EQ(top(), 7);
	CHECK_EQ(fpu.sw & (IE | SF | ES), IE | SF | ES);
}

/* Denormal results, underflow and overflow, masked and unmasked. */
static void test_under_overflow(void)
{
	/* min normal * 0.5: exact denormal, no UE */
	reset();
	ld80(0x3ffe, 0x8000000000000000ull);
	ld80(0x0001, 0x8000000000000000ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0x0000, 0x4000000000000000ull);
	CHECK_EQ(fpu.sw & 0x7F, 0);
	CHECK_EQ(fpu.tw >> (2 * top()) & 3, 2); /* special */
	/* min normal * (1 - 2^-64): tiny, inexact (host x87) */
	reset();
	ld80(0x3ffe, 0xffffffffffffffffull);
	ld80(0x0001, 0x8000000000000000ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0x0001, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & (0x7F | C1), UE | PE | C1);
	/* the same with UE unmasked: exponent + 24576, no PE (exact) */
	reset();
	set_cw(0x036F);
	ld80(0x3ffe, 0xffffffffffffffffull);
	ld80(0x0001, 0x8000000000000000ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0x6000, 0xffffffffffffffffull);
	CHECK_EQ(fpu.sw & (0x7F | ES | B | C1), UE | ES | B);
	/* 2^16383 * 3: masked -> inf; unmasked -> exponent - 24576 */
	reset();
	ld80(THREE);
	ld80(0x7ffe, 0x8000000000000000ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0x7fff, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & (0x7F | C1), OE | PE | C1);
	reset();
	set_cw(0x0377);
	ld80(THREE);
	ld80(0x7ffe, 0x8000000000000000ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0x1fff, 0xc000000000000000ull);
	CHECK_EQ(fpu.sw & (0x7F | ES), OE | ES);
	/* RC=chop: overflow gives the largest finite */
	reset();
	set_cw(0x0F7F);
	ld80(THREE);
	ld80(0x7ffe, 0x8000000000000000ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0x7ffe, 0xffffffffffffffffull);
	/* PC=24 rounds the significand but keeps the extended exponent */
	reset();
	set_cw(0x007F);
	ld80(0x3ffe, 0xffffffffffffffffull);
	ld80(0x0001, 0x8000000000000000ull);
	reg_op(0xD8, 0xC9);
	CHECK_ST(0, 0x0001, 0x8000000000000000ull);

	/* FLD m32 of a denormal: DE, loaded normalized (2^-149) */
	reset();
	put_le(0x30, 1, 4);
	mem_op(0xD9, 0, 0x30);
	CHECK_ST(0, 0x3f6a, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & 0x7F, DE);
	/* DE unmasked: loaded all the same (host x87), DE pending */
	reset();
	set_cw(0x037D);
	mem_op(0xD9, 0, 0x30);
	CHECK_ST(0, 0x3f6a, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & (0x7F | ES), DE | ES);
	/* but it stops arithmetic: FADD m32 leaves ST(0), and no PE */
	mem_op(0xD8, 0, 0x30);
	CHECK_ST(0, 0x3f6a, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & 0x7F, DE);
	/* an unmasked IE stops the load of an SNaN */
	reset();
	set_cw(0x037E);
	put_le(0x30, 0x7f800001, 4);
	mem_op(0xD9, 0, 0x30);
	CHECK(st_empty(0));
	CHECK_EQ(fpu.sw & (0x7F | ES), IE | ES);
	/* FLD m64 of an SNaN: IE, loaded quiet */
	reset();
	put_le(0x30, 0x7FF0000000000001ull, 8);
	mem_op(0xDD, 0, 0x30);
	CHECK_ST(0, 0x7fff, 0xc000000000000800ull);
	CHECK_EQ(fpu.sw & 0x7F, IE);
}

/* FST m32/m64 of 1/3 and -2/3 in every rounding mode (host x87). */
static void test_store_float(void)
{
	static const struct {
		uint32_t f13, f23;
		uint64_t d13, d23;
	} t[4] = {
	    {0x3eaaaaab, 0xbf2aaaab, 0x3fd5555555555555ull, 0xbfe5555555555555ull},
	    {0x3eaaaaaa, 0xbf2aaaab, 0x3fd5555555555555ull, 0xbfe5555555555556ull},
	    {0x3eaaaaab, 0xbf2aaaaa, 0x3fd5555555555556ull, 0xbfe5555555555555ull},
	    {0x3eaaaaaa, 0xbf2aaaaa, 0x3fd5555555555555ull, 0xbfe5555555555555ull},
	};

	for (unsigned rc = 0; rc < 4; rc++) {
		reset();
		set_cw((uint16_t)(0x037F | rc << 10));
		ld80(0xbffe, 0xaaaaaaaaaaaaaaabull); /* -2/3 rounded to nearest */
		ld80(0x3ffd, 0xaaaaaaaaaaaaaaabull); /* 1/3 */
		mem_op(0xD9, 2, 0x40);
		mem_op(0xDD, 2, 0x48);
		CHECK_EQ(get_le(0x40, 4), t[rc].f13);
		CHECK_EQ(get_le(0x48, 8), t[rc].d13);
		CHECK_EQ(fpu.sw & PE, PE);
		mem_op(0xDD, 3, 0x48); /* FSTP m64 pops */
		mem_op(0xD9, 2, 0x40);
		mem_op(0xDD, 2, 0x48);
		CHECK_EQ(get_le(0x40, 4), t[rc].f23);
		CHECK_EQ(get_le(0x48, 8), t[rc].d23);
	}
	/* 1.5 * 2^-130: an exact single denormal, no UE */
	reset();
	ld80(0x3fff - 130, 0xc000000000000000ull);
	mem_op(0xD9, 2, 0x40);
	CHECK_EQ(get_le(0x40, 4), 0x000c0000);
	CHECK_EQ(fpu.sw & 0x7F, 0);
	ld80(0x3fff - 130, 0xc000000000000001ull);
	mem_op(0xD9, 2, 0x40);
	CHECK_EQ(get_le(0x40, 4), 0x000c0000);
	CHECK_EQ(fpu.sw & 0x7F, UE | PE);
	/* 2^200 to m32: infinity, OE PE C1 */
	reset();
	ld80(0x3fff + 200, 0x8000000000000000ull);
	mem_op(0xD9, 2, 0x40);
	CHECK_EQ(get_le(0x40, 4), 0x7f800000);
	CHECK_EQ(fpu.sw & (0x7F | C1), OE | PE | C1);
	/* OE unmasked: memory and stack untouched */
	reset();
	set_cw(0x0377);
	put_le(0x40, 0x12345678, 4);
	ld80(0x3fff + 200, 0x8000000000000000ull);
	mem_op(0xD9, 3, 0x40);
	CHECK_EQ(get_le(0x40, 4), 0x12345678);
	CHECK_EQ(top(), 7);
	CHECK_EQ(fpu.sw & (OE | ES), OE | ES);
	/* FSTP m80 writes the register as is */
	reset();
	ld80(0x0000, 0x0000000000000123ull);
	mem_op(0xDB, 7, 0x50);
	CHECK_F80_AT(0x50, 0x0000, 0x0000000000000123ull);
	CHECK(st_empty(0));
}

/* FIST in every rounding mode, out of range -> integer indefinite. */
static void test_store_int(void)
{
	static const int16_t expect[4][3] = {
	    {2, -2, 4}, /* nearest even */
	    {2, -3, 3}, /* down */
	    {3, -2, 4}, /* up */
	    {2, -2, 3}, /* chop */
	};

	for (unsigned rc = 0; rc < 4; rc++) {
		reset();
		set_cw((uint16_t)(0x037F | rc << 10));
		ld80(0x4000, 0xe000000000000000ull); /* 3.5 */
		ld80(0xc000, 0xa000000000000000ull); /* -2.5 */
		ld80(0x4000, 0xa000000000000000ull); /* 2.5 */
		mem_op(0xDF, 3, 0x60);		     /* FISTP m16 */
		mem_op(0xDB, 3, 0x62);		     /* FISTP m32 */
		mem_op(0xDF, 7, 0x66);		     /* FISTP m64 */
		CHECK_EQ((int16_t)get_le(0x60, 2), expect[rc][0]);
		CHECK_EQ((int32_t)get_le(0x62, 4), expect[rc][1]);
		CHECK_EQ((int64_t)get_le(0x66, 8), expect[rc][2]);
		CHECK_EQ(fpu.sw & 0x7F, PE);
		CHECK_EQ(top(), 0);
	}
	reset();
	ld80(0x400e, 0x9c40000000000000ull); /* 40000 */
	mem_op(0xDF, 2, 0x60);
	CHECK_EQ(get_le(0x60, 2), 0x8000);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	reset();
	ld80(0xc00e, 0x8000000000000000ull); /* -32768 fits */
	mem_op(0xDF, 2, 0x60);
	CHECK_EQ(get_le(0x60, 2), 0x8000);
	CHECK_EQ(fpu.sw & 0x7F, 0);
	reset();
	ld80(0x401e, 0x8000000000000000ull); /* 2^31 does not fit m32 */
	mem_op(0xDB, 2, 0x62);
	CHECK_EQ(get_le(0x62, 4), 0x80000000);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	reset();
	ld80(0x7fff, 0xc000000000000000ull); /* QNaN: IE too */
	mem_op(0xDF, 7, 0x66);
	CHECK_EQ(get_le(0x66, 8), 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	/* IE unmasked: nothing stored, nothing popped */
	reset();
	set_cw(0x037E);
	put_le(0x60, 0x1111, 2);
	ld80(0x400e, 0x9c40000000000000ull);
	mem_op(0xDF, 3, 0x60);
	CHECK_EQ(get_le(0x60, 2), 0x1111);
	CHECK_EQ(top(), 7);
	/* FILD */
	reset();
	put_le(0x70, 0xFFFF, 2);
	mem_op(0xDF, 0, 0x70);
	CHECK_ST(0, 0xbfff, 0x8000000000000000ull);
	put_le(0x70, 0x8000000000000000ull, 8);
	mem_op(0xDF, 5, 0x70);
	CHECK_ST(0, 0xc03e, 0x8000000000000000ull);
	put_le(0x70, 100000, 4);
	mem_op(0xDB, 0, 0x70);
	CHECK_ST(0, 0x400f, 0xc350000000000000ull);
}

static void test_bcd(void)
{
	static const uint8_t v[10] = {0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80};
	static const uint8_t indefinite[10] = {0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF};

	reset();
	memcpy(ram + 0x80, v, 10);
	mem_op(0xDF, 4, 0x80); /* FBLD */
	CHECK_EQ(fpu.sw & 0x7F, 0);
	mem_op(0xDD, 2, 0xA0); /* FST m64 for a look at the value */
	CHECK_EQ(get_le(0xA0, 8), 0xc37b69b4ba630f35ull);
	reg_op(0xD9, 0xC0);    /* FLD ST(0) */
	mem_op(0xDF, 7, 0xA0); /* FISTP m64: exact */
	CHECK_EQ((int64_t)get_le(0xA0, 8), -123456789012345678ll);
	mem_op(0xDF, 6, 0x90); /* FBSTP */
	CHECK(!memcmp(ram + 0x90, v, 10));
	CHECK(st_empty(0));
	/* 10^18 does not fit 18 digits */
	reset();
	put_le(0x70, 1000000000000000000ull, 8);
	mem_op(0xDF, 5, 0x70);
	mem_op(0xDF, 6, 0x90);
	CHECK(!memcmp(ram + 0x90, indefinite, 10));
	CHECK_EQ(fpu.sw & 0x7F, IE);
	/* rounding per RC: 2.5 -> 2 to nearest */
	reset();
	ld80(0x4000, 0xa000000000000000ull);
	mem_op(0xDF, 6, 0x90);
	CHECK_EQ(ram[0x90], 0x02);
	CHECK_EQ(ram[0x99], 0x00);
	CHECK_EQ(fpu.sw & 0x7F, PE);
}

static void test_fprem(void)
{
	/* 17 rem 5: q = 3 -> C0 = 0, C3 = 1, C1 = 1; remainder 2 */
	reset();
	ld80(0x4001, 0xa000000000000000ull);
	ld80(0x4003, 0x8800000000000000ull);
	reg_op(0xD9, 0xF8);
	CHECK_ST(0, TWO);
	CHECK_EQ(fpu.sw & (C0 | C1 | C2 | C3), C3 | C1);
	/* FPREM1 18 rem 5: q = 4 (nearest), remainder -2 */
	reset();
	ld80(0x4001, 0xa000000000000000ull);
	ld80(0x4003, 0x9000000000000000ull);
	reg_op(0xD9, 0xF5);
	CHECK_ST(0, 0xc000, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & (C0 | C1 | C2 | C3), C0);
	/* FPREM 2^100 rem 3: partial (C2), then done (host x87) */
	reset();
	ld80(THREE);
	ld80(0x3fff + 100, 0x8000000000000000ull);
	reg_op(0xD9, 0xF8);
	CHECK_ST(0, 0x403f, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & (C0 | C1 | C2 | C3), C2);
	reg_op(0xD9, 0xF8);
	reg_op(0xD9, 0xF8);
	CHECK_ST(0, ONE);
	CHECK_EQ(fpu.sw & (C0 | C1 | C2 | C3), 0);
	/* inf rem x and x rem 0 are invalid */
	reset();
	ld80(0x0000, 0);
	ld80(ONE);
	reg_op(0xD9, 0xF8);
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
}

static void test_fxam(void)
{
	static const struct {
		uint16_t se;
		uint64_t mant;
		uint16_t cc;
	} t[] = {
	    {0x0000, 0, C3},
	    {0x8000, 0, C3 | C1},
	    {0xbfff, 0x8000000000000000ull, C2 | C1},
	    {0x0000, 0x0000000000000001ull, C3 | C2},
	    {0x7fff, 0x8000000000000000ull, C2 | C0},
	    {0xffff, 0xc000000000000000ull, C1 | C0},
	    {0x7fff, 0x8000000000000001ull, C0},
	    {0x4000, 0x4000000000000000ull, 0}, /* unnormal: unsupported */
	};

	reset();
	reg_op(0xD9, 0xE5);
	CHECK_EQ(fpu.sw & (C0 | C2 | C3), C3 | C0); /* empty */
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		reset();
		ld80(t[i].se, t[i].mant);
		reg_op(0xD9, 0xE5);
		CHECK_EQ(fpu.sw & (C0 | C1 | C2 | C3), t[i].cc);
	}
}

static void test_compare(void)
{
	static const struct {
		uint16_t se0;
		uint64_t m0;
		uint32_t flags;
	} t[] = {
	    {ONE, CF},					   /* 1 < 2 */
	    {TWO, ZF},					   /* 2 = 2 */
	    {THREE, 0},					   /* 3 > 2 */
	    {0x7fff, 0xc000000000000000ull, ZF | PF | CF}, /* unordered */
	};

	for (unsigned i = 0; i < 4; i++) {
		reset();
		ld80(TWO);
		ld80(t[i].se0, t[i].m0);
		eflags = 0x2 | OF | SFL | AF | ZF | PF | CF;
		CHECK_EQ(reg_op(0xDB, 0xE9), FPU_OK); /* FUCOMI ST(0), ST(1) */
		CHECK_EQ(eflags, 0x2 | t[i].flags);
		CHECK_EQ(fpu.sw & IE, 0);
		CHECK_EQ(reg_op(0xDB, 0xF1), FPU_OK); /* FCOMI: a QNaN is invalid */
		CHECK_EQ(eflags, 0x2 | t[i].flags);
		CHECK_EQ(fpu.sw & IE, i == 3 ? IE : 0);
		reg_op(0xDF, 0xF1); /* FCOMIP pops */
		CHECK_EQ(top(), 7);
	}
	/* FCOM / FCOMPP / FUCOMPP / FTST / FICOM condition codes */
	reset();
	ld80(TWO);
	ld80(ONE);
	reg_op(0xD8, 0xD1);
	CHECK_EQ(fpu.sw & (C0 | C2 | C3), C0);
	reg_op(0xDE, 0xD9); /* FCOMPP */
	CHECK_EQ(top(), 0);
	CHECK_EQ(fpu.sw & (C0 | C2 | C3), C0);
	ld80(0x7fff, 0xc000000000000000ull);
	ld80(ONE);
	reg_op(0xDA, 0xE9); /* FUCOMPP */
	CHECK_EQ(fpu.sw & (C0 | C2 | C3 | IE), C0 | C2 | C3);
	CHECK_EQ(top(), 0);
	ld80(0xbfff, 0x8000000000000000ull);
	reg_op(0xD9, 0xE4); /* FTST: -1 < 0 */
	CHECK_EQ(fpu.sw & (C0 | C2 | C3), C0);
	put_le(0x10, 0xFFFF, 2);
	mem_op(0xDE, 2, 0x10); /* FICOM m16 -1 */
	CHECK_EQ(fpu.sw & (C0 | C2 | C3), C3);
	mem_op(0xDE, 3, 0x10); /* FICOMP */
	CHECK(st_empty(0));
	/* -0 == +0 */
	ld80(0x0000, 0);
	ld80(0x8000, 0);
	reg_op(0xDD, 0xE1); /* FUCOM */
	CHECK_EQ(fpu.sw & (C0 | C2 | C3), C3);
	/* IE unmasked: FCOMIP still reports unordered but does not pop */
	reset();
	set_cw(0x037E);
	ld80(ONE);
	eflags = 0x2 | OF;
	reg_op(0xDF, 0xF1);
	CHECK_EQ(eflags, 0x2 | ZF | PF | CF);
	CHECK_EQ(top(), 7);
	CHECK_EQ(fpu.sw & (IE | SF | ES), IE | SF | ES);
	/* a missing EFLAGS pointer is refused */
	ctx.eflags = NULL;
	CHECK_EQ(reg_op(0xDB, 0xF1), FPU_UD);
	CHECK_EQ(reg_op(0xDA, 0xC1), FPU_UD);
}

static void test_fcmov(void)
{
	reset();
	ld80(ONE);
	ld80(TWO);
	ld80(THREE);
	eflags = 0x2 | CF;
	reg_op(0xDB, 0xC1); /* FCMOVNB ST(0), ST(1): CF set, no move */
	CHECK_ST(0, THREE);
	reg_op(0xDA, 0xC2); /* FCMOVB ST(0), ST(2) */
	CHECK_ST(0, ONE);
	eflags = 0x2 | PF;
	reg_op(0xDA, 0xC9); /* FCMOVE: ZF clear, no move */
	CHECK_ST(0, ONE);
	reg_op(0xDA, 0xD9); /* FCMOVU ST(0), ST(1) */
	CHECK_ST(0, TWO);
	eflags = 0x2 | ZF;
	reg_op(0xDB, 0xD2); /* FCMOVNBE: ZF set, no move */
	CHECK_ST(0, TWO);
	reg_op(0xDA, 0xD2); /* FCMOVBE ST(0), ST(2) */
	CHECK_ST(0, ONE);
	reg_op(0xDB, 0xD9); /* FCMOVNU: PF clear, moves */
	CHECK_ST(0, TWO);
	CHECK_EQ(fpu.sw & 0x7F, 0);
	/* stack underflow: ST(0) gets the indefinite even if no move (host) */
	reset();
	ld80(ONE);
	eflags = 0x2;
	reg_op(0xDA, 0xC1); /* FCMOVB ST(0), ST(1): CF clear, ST(1) empty */
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE | SF);
}

/* A state worth saving: ST(0) = 1, ST(1) = 0, ST(2) = denormal. */
static void setup_state(void)
{
	reset();
	set_cw(0x0A7F);
	ld80(0x0000, 0x0000000000000001ull);
	reg_op(0xD9, 0xEE); /* FLDZ */
	reg_op(0xD9, 0xE8); /* FLD1 */
	ctx.ip = 0x12345;
	ctx.cs = 0x1B;
	ctx.ds = 0x23;
	put_le(0x40, 0x3F800000, 4);
	mem_op(0xD8, 1, 0x40); /* FMUL m32 by 1.0: FOP 0x008, FDP 0x40 */
	ctx.ip = 0x9999;       /* control instructions leave FIP alone */
}

static void test_fsave(void)
{
	uint8_t img[108];

	setup_state();
	CHECK_EQ(fpu.fip, 0x12345);
	CHECK_EQ(fpu.fop, 0x008);
	CHECK_EQ(mem_op(0xDD, 6, 0x100), FPU_OK); /* FNSAVE, 32-bit protected */
	CHECK_EQ(get_le(0x100, 4), 0xFFFF0A7F);
	CHECK_EQ(get_le(0x104, 2), 5u << 11); /* TOP = 5 */
	/* tags: R7 denormal 10, R6 zero 01, R5 valid 00, others empty */
	CHECK_EQ(get_le(0x108, 2), 0x93FF);
	CHECK_EQ(get_le(0x10C, 4), 0x12345);
	CHECK_EQ(get_le(0x110, 2), 0x1B);
	CHECK_EQ(get_le(0x112, 2), 0x008);
	CHECK_EQ(get_le(0x114, 4), 0x40);
	CHECK_EQ(get_le(0x118, 2), 0x23);
	CHECK_F80_AT(0x11C, ONE);
	CHECK_F80_AT(0x126, 0x0000, 0);
	CHECK_F80_AT(0x130, 0x0000, 0x0000000000000001ull);
	/* FNSAVE ends with FNINIT */
	CHECK_EQ(fpu.cw, 0x037F);
	CHECK_EQ(fpu.sw, 0);
	CHECK_EQ(fpu.tw, 0xFFFF);
	/* FRSTOR then FNSAVE again: the same image */
	memcpy(img, ram + 0x100, 108);
	CHECK_EQ(mem_op(0xDD, 4, 0x100), FPU_OK);
	CHECK_EQ(fpu.cw, 0x0A7F);
	CHECK_ST(0, ONE);
	CHECK_EQ(fpu.fip, 0x12345);
	mem_op(0xDD, 6, 0x200);
	CHECK(!memcmp(img, ram + 0x200, 108));

	/* FLDENV: a tag of 00 on an empty register makes it non-empty with
	 * the tag its contents call for */
	setup_state();
	mem_op(0xD9, 6, 0x300); /* FNSTENV masks everything afterwards */
	CHECK_EQ(fpu.cw, 0x0A7F);
	CHECK_EQ(get_le(0x308, 2), 0x93FF);
	put_le(0x308, 0x93FC, 2); /* R0 (+0 since the reset) "valid" */
	set_cw(0x0A40);
	mem_op(0xD9, 4, 0x300);
	CHECK_EQ(fpu.cw, 0x0A7F);
	CHECK_EQ(fpu.tw, 0x93FD);

	/* 16-bit real mode layout: linear pointers, FOP beside FIP 19:16 */
	setup_state();
	ctx.op32 = false;
	ctx.pmode = false;
	fpu.fcs = 0x1234;
	fpu.fip = 0x0010;
	fpu.fds = 0x2000;
	fpu.fdp = 0x0004;
	mem_op(0xD9, 6, 0x400);
	CHECK_EQ(get_le(0x400, 2), 0x0A7F);
	CHECK_EQ(get_le(0x404, 2), 0x93FF);
	CHECK_EQ(get_le(0x406, 2), 0x2350);
	CHECK_EQ(get_le(0x408, 2), 0x1008);
	CHECK_EQ(get_le(0x40A, 2), 0x0004);
	CHECK_EQ(get_le(0x40C, 2), 0x2000);
	ctx.op32 = true; /* 32-bit real mode: FIP 31:16 in bits 12-27 */
	mem_op(0xD9, 6, 0x600);
	CHECK_EQ(get_le(0x60C, 4), 0xFFFF2350);
	CHECK_EQ(get_le(0x610, 4), 0x00001008);
	CHECK_EQ(get_le(0x614, 4), 0xFFFF0004);
	CHECK_EQ(get_le(0x618, 4), 0x00002000);
	ctx.op32 = false;
	mem_op(0xDD, 6, 0x500); /* 94-byte FSAVE */
	CHECK_F80_AT(0x50E, ONE);
	mem_op(0xDD, 4, 0x500);
	CHECK_EQ(fpu.fip, 0x12350);
	CHECK_EQ(fpu.fop, 0x008);
	CHECK_ST(2, 0x0000, 0x0000000000000001ull);
}

/* The constants in each rounding mode (host x87). */
static void test_constants(void)
{
	static const uint64_t pi[4] = {0xc90fdaa22168c235ull, 0xc90fdaa22168c234ull,
				       0xc90fdaa22168c235ull, 0xc90fdaa22168c234ull};
	static const uint64_t l2t[4] = {0xd49a784bcd1b8afeull, 0xd49a784bcd1b8afeull,
					0xd49a784bcd1b8affull, 0xd49a784bcd1b8afeull};
	static const uint64_t l2e[4] = {0xb8aa3b295c17f0bcull, 0xb8aa3b295c17f0bbull,
					0xb8aa3b295c17f0bcull, 0xb8aa3b295c17f0bbull};
	static const uint64_t lg2[4] = {0x9a209a84fbcff799ull, 0x9a209a84fbcff798ull,
					0x9a209a84fbcff799ull, 0x9a209a84fbcff798ull};
	static const uint64_t ln2[4] = {0xb17217f7d1cf79acull, 0xb17217f7d1cf79abull,
					0xb17217f7d1cf79acull, 0xb17217f7d1cf79abull};

	for (unsigned rc = 0; rc < 4; rc++) {
		reset();
		set_cw((uint16_t)(0x037F | rc << 10));
		reg_op(0xD9, 0xEB);
		CHECK_ST(0, 0x4000, pi[rc]);
		reg_op(0xD9, 0xE9);
		CHECK_ST(0, 0x4000, l2t[rc]);
		reg_op(0xD9, 0xEA);
		CHECK_ST(0, 0x3fff, l2e[rc]);
		reg_op(0xD9, 0xEC);
		CHECK_ST(0, 0x3ffd, lg2[rc]);
		reg_op(0xD9, 0xED);
		CHECK_ST(0, 0x3ffe, ln2[rc]);
		reg_op(0xD9, 0xE8);
		CHECK_ST(0, ONE);
		reg_op(0xD9, 0xEE);
		CHECK_ST(0, 0x0000, 0);
		CHECK_EQ(fpu.sw & (0x7F | C1), 0);
	}
}

/*
 * Transcendentals to nearest.  Expected values are this implementation's,
 * cross-checked with a host x87: they agree exactly here (over random
 * arguments they agree within 1 ulp, the x87 being not correctly rounded).
 * Like the hardware, FSIN reduces with the 66-bit pi: FSIN(FLDPI) = -2^-64.
 */
static void test_transcendental(void)
{
	reset();
	ld80(ONE);
	reg_op(0xD9, 0xFE); /* FSIN(1) */
	CHECK_ST(0, 0x3ffe, 0xd76aa47848677021ull);
	CHECK_EQ(fpu.sw & (0x7F | C1 | C2), PE | C1);
	reset();
	ld80(ONE);
	reg_op(0xD9, 0xFF); /* FCOS(1) */
	CHECK_ST(0, 0x3ffe, 0x8a51407da8345c92ull);
	reset();
	ld80(0x3ffe, 0x8000000000000000ull);
	reg_op(0xD9, 0xF2); /* FPTAN(0.5) */
	CHECK_ST(0, ONE);
	CHECK_ST(1, 0x3ffe, 0x8bda7adf9a3a5219ull);
	reset();
	ld80(ONE);
	reg_op(0xD9, 0xFB); /* FSINCOS(1) */
	CHECK_ST(0, 0x3ffe, 0x8a51407da8345c92ull);
	CHECK_ST(1, 0x3ffe, 0xd76aa47848677021ull);
	reset();
	ld80(ONE);
	ld80(ONE);
	reg_op(0xD9, 0xF3); /* FPATAN(1, 1) = pi/4 */
	CHECK_ST(0, 0x3ffe, 0xc90fdaa22168c235ull);
	CHECK_EQ(top(), 7);
	reset();
	ld80(ONE);
	ld80(0x4002, 0xa000000000000000ull);
	reg_op(0xD9, 0xF1); /* FYL2X: 1 * log2(10) */
	CHECK_ST(0, 0x4000, 0xd49a784bcd1b8afeull);
	reset();
	ld80(ONE);
	ld80(0x3ffd, 0x8000000000000000ull);
	reg_op(0xD9, 0xF9); /* FYL2XP1: 1 * log2(1.25) */
	CHECK_ST(0, 0x3ffd, 0xa4d3c25e68dc57f2ull);
	reset();
	ld80(0x3ffe, 0x8000000000000000ull);
	reg_op(0xD9, 0xF0); /* F2XM1(0.5) */
	CHECK_ST(0, 0x3ffd, 0xd413cccfe7799211ull);
	reset();
	reg_op(0xD9, 0xEB);
	reg_op(0xD9, 0xFE); /* FSIN(pi) */
	CHECK_ST(0, 0xbfbf, 0x8000000000000000ull);
	reset();
	reg_op(0xD9, 0xEB);
	reg_op(0xD9, 0xFF); /* FCOS(pi) */
	CHECK_ST(0, 0xbfff, 0x8000000000000000ull);
	reset();
	ld80(0x4028, 0xc90fdaa22168c235ull);
	reg_op(0xD9, 0xFE); /* FSIN(pi * 2^40) */
	CHECK_ST(0, 0x3fe6, 0xffffffffffffd555ull);
	/* |x| >= 2^63: C2 set, operand unchanged */
	reset();
	ld80(0x3fff + 1000, 0x8000000000000000ull);
	reg_op(0xD9, 0xFE);
	CHECK_ST(0, 0x3fff + 1000, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & (C2 | 0x7F), C2);
	reg_op(0xD9, 0xF2); /* FPTAN: no push either */
	CHECK_EQ(top(), 7);
	CHECK_EQ(fpu.sw & C2, C2);
	/* F2XM1 outside -1..1: operand unchanged, PE (host x87) */
	reset();
	ld80(THREE);
	reg_op(0xD9, 0xF0);
	CHECK_ST(0, THREE);
	CHECK_EQ(fpu.sw & 0x7F, PE);
	/* exact cases: log2(8) * 3 = 9, 2^1 - 1 = 1, sin(-0) = -0 */
	reset();
	ld80(THREE);
	ld80(0x4002, 0x8000000000000000ull);
	reg_op(0xD9, 0xF1);
	CHECK_ST(0, 0x4002, 0x9000000000000000ull);
	CHECK_EQ(fpu.sw & PE, 0);
	reset();
	ld80(ONE);
	reg_op(0xD9, 0xF0);
	CHECK_ST(0, ONE);
	CHECK_EQ(fpu.sw & PE, 0);
	reset();
	ld80(0x8000, 0);
	reg_op(0xD9, 0xFE);
	CHECK_ST(0, 0x8000, 0);
	/* FYL2X special cases: log of a negative, 0 * log2(0) invalid; log2(0) ZE */
	reset();
	ld80(ONE);
	ld80(0xbfff, 0x8000000000000000ull);
	reg_op(0xD9, 0xF1);
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
	reset();
	ld80(0xbfff, 0x8000000000000000ull);
	ld80(0x0000, 0);
	reg_op(0xD9, 0xF1);
	CHECK_ST(0, 0x7fff, 0x8000000000000000ull); /* -1 * -inf */
	CHECK_EQ(fpu.sw & 0x7F, ZE);
	/* FSIN of infinity is invalid */
	reset();
	ld80(0x7fff, 0x8000000000000000ull);
	reg_op(0xD9, 0xFE);
	CHECK_ST(0, INDEF);
	CHECK_EQ(fpu.sw & 0x7F, IE);
}

static void test_misc_ops(void)
{
	/* FSQRT(2): nearest and up */
	reset();
	ld80(TWO);
	reg_op(0xD9, 0xFA);
	CHECK_ST(0, 0x3fff, 0xb504f333f9de6484ull);
	CHECK_EQ(fpu.sw & (C1 | PE), PE);
	reset();
	set_cw(0x0B7F);
	ld80(TWO);
	reg_op(0xD9, 0xFA);
	CHECK_ST(0, 0x3fff, 0xb504f333f9de6485ull);
	CHECK_EQ(fpu.sw & (C1 | PE), C1 | PE);
	/* FSCALE(1.5, 3.7) = 12 */
	reset();
	ld80(0x4000, 0xecccccccccccccccull);
	ld80(0x3fff, 0xc000000000000000ull);
	reg_op(0xD9, 0xFD);
	CHECK_ST(0, 0x4002, 0xc000000000000000ull);
	CHECK_ST(1, 0x4000, 0xecccccccccccccccull);
	/* FXTRACT(-10): exponent 3 in ST(1), significand -1.25 in ST(0) */
	reset();
	ld80(0xc002, 0xa000000000000000ull);
	reg_op(0xD9, 0xF4);
	CHECK_ST(0, 0xbfff, 0xa000000000000000ull);
	CHECK_ST(1, THREE);
	/* FXTRACT(0): ZE, -inf and 0 */
	reset();
	ld80(0x0000, 0);
	reg_op(0xD9, 0xF4);
	CHECK_ST(0, 0x0000, 0);
	CHECK_ST(1, 0xffff, 0x8000000000000000ull);
	CHECK_EQ(fpu.sw & 0x7F, ZE);
	/* FRNDINT(2.5): 2 to nearest, 3 up */
	reset();
	ld80(0x4000, 0xa000000000000000ull);
	reg_op(0xD9, 0xFC);
	CHECK_ST(0, TWO);
	CHECK_EQ(fpu.sw & (C1 | PE), PE);
	reset();
	set_cw(0x0B7F);
	ld80(0x4000, 0xa000000000000000ull);
	reg_op(0xD9, 0xFC);
	CHECK_ST(0, THREE);
	CHECK_EQ(fpu.sw & (C1 | PE), C1 | PE);
	/* FCHS, FABS, FXCH, FST/FSTP ST(i), FFREE, FINCSTP/FDECSTP */
	reset();
	ld80(TWO);
	ld80(ONE);
	reg_op(0xD9, 0xE0);
	CHECK_ST(0, 0xbfff, 0x8000000000000000ull);
	reg_op(0xD9, 0xE1);
	CHECK_ST(0, ONE);
	reg_op(0xD9, 0xC9); /* FXCH ST(1) */
	CHECK_ST(0, TWO);
	CHECK_ST(1, ONE);
	reg_op(0xDD, 0xD1); /* FST ST(1) */
	CHECK_ST(1, TWO);
	reg_op(0xD9, 0xC1); /* FLD ST(1) */
	CHECK_ST(0, TWO);
	CHECK_EQ(top(), 5);
	reg_op(0xDD, 0xDA); /* FSTP ST(2) */
	CHECK_EQ(top(), 6);
	reg_op(0xDD, 0xC1); /* FFREE ST(1) */
	CHECK(st_empty(1));
	reg_op(0xD9, 0xF7); /* FINCSTP */
	CHECK_EQ(top(), 7);
	CHECK(st_empty(0));
	reg_op(0xD9, 0xF6); /* FDECSTP */
	CHECK_EQ(top(), 6);
	CHECK_ST(0, TWO);
	reg_op(0xDF, 0xC0); /* FFREEP ST(0) */
	CHECK_EQ(top(), 7);
	CHECK(st_empty(7));
	/* FSTP1 (D9 D8+i) is FSTP without the stack fault (host x87) */
	reset();
	ld80(ONE);
	reg_op(0xD9, 0xEE);
	reg_op(0xD9, 0xD9); /* FSTP1 ST(1): ST(1) = 0, pop */
	CHECK_ST(0, 0x0000, 0);
	CHECK_EQ(top(), 7);
	reg_op(0xD9, 0xF7); /* FINCSTP: ST(0) empty now */
	reg_op(0xD9, 0xDA); /* FSTP1 ST(2) of an empty ST(0): no fault, ST(2) kept */
	CHECK_EQ(fpu.sw & 0x7F, 0);
	CHECK_EQ(top(), 1);
	CHECK_EQ(fpu.st[7].se, 0);
	CHECK(!st_empty(6));
	/* FXCH with an empty register: underflow, the indefinite moves in */
	reset();
	ld80(ONE);
	reg_op(0xD9, 0xC9);
	CHECK_ST(0, INDEF);
	CHECK_ST(1, ONE);
	CHECK_EQ(fpu.sw & 0x7F, IE | SF);
}

static void test_control(void)
{
	reset();
	CHECK_EQ(fpu.cw, 0x037F);
	CHECK_EQ(fpu.tw, 0xFFFF);
	set_cw(0x0000);	       /* all unmasked; bit 6 reads as 1 */
	mem_op(0xD9, 7, 0x20); /* FNSTCW */
	CHECK_EQ(get_le(0x20, 2), 0x0040);
	ld80(ONE);
	ld80(0x0000, 0);
	reg_op(0xDE, 0xF9); /* 1 / 0 with ZE unmasked */
	CHECK(fpu_exception_pending(&fpu));
	ax = 0;
	CHECK_EQ(reg_op(0xDF, 0xE0), FPU_OK); /* FNSTSW AX */
	CHECK_EQ(ax, fpu.sw);
	CHECK_EQ(ax & (ZE | ES | B), ZE | ES | B);
	mem_op(0xDD, 7, 0x22); /* FNSTSW m16 */
	CHECK_EQ(get_le(0x22, 2), ax);
	set_cw(0x037F); /* masking it again clears ES */
	CHECK(!fpu_exception_pending(&fpu));
	CHECK_EQ(fpu.sw & ZE, ZE);
	set_cw(0x037B); /* unmasking a set flag raises ES */
	CHECK(fpu_exception_pending(&fpu));
	reg_op(0xDB, 0xE2); /* FNCLEX */
	CHECK(!fpu_exception_pending(&fpu));
	/* FIP/FOP: non-control instructions only */
	ctx.ip = 0x500;
	reg_op(0xD9, 0xD0); /* FNOP */
	CHECK_EQ(fpu.fip, 0x500);
	CHECK_EQ(fpu.fop, 0x1D0);
	ctx.ip = 0x600;
	reg_op(0xDB, 0xE2);
	mem_op(0xD9, 7, 0x20);
	reg_op(0xDF, 0xE0);
	CHECK_EQ(fpu.fip, 0x500);
	CHECK_EQ(fpu.fop, 0x1D0);
	ctx.ds = 0x77;
	put_le(0x30, 7, 2);
	mem_op(0xDE, 0, 0x30); /* FIADD m16 */
	CHECK_EQ(fpu.fip, 0x600);
	CHECK_EQ(fpu.fop, 0x600);
	CHECK_EQ(fpu.fdp, 0x30);
	CHECK_EQ(fpu.fds, 0x77);
	reg_op(0xDB, 0xE3); /* FNINIT */
	CHECK_EQ(fpu.cw, 0x037F);
	CHECK_EQ(fpu.sw, 0);
	CHECK_EQ(fpu.tw, 0xFFFF);
	CHECK_EQ(fpu.fip, 0);
	/* FNSTSW AX needs the AX pointer */
	ctx.ax = NULL;
	CHECK_EQ(reg_op(0xDF, 0xE0), FPU_UD);
}

static void test_invalid_encodings(void)
{
	static const uint8_t regs[][2] = {
	    {0xD9, 0xD1}, {0xD9, 0xE2}, {0xD9, 0xE3}, {0xD9, 0xE6}, {0xD9, 0xE7}, {0xD9, 0xEF},
	    {0xDA, 0xE8}, {0xDA, 0xEA}, {0xDA, 0xF0}, {0xDB, 0xE5}, {0xDB, 0xF8}, {0xDD, 0xF0},
	    {0xDD, 0xF8}, {0xDE, 0xD8}, {0xDE, 0xDA}, {0xDF, 0xE1}, {0xDF, 0xF8},
	};
	static const uint8_t mems[][2] = {
	    {0xD9, 1}, {0xDB, 1}, {0xDB, 4}, {0xDB, 6}, {0xDD, 1}, {0xDD, 5}, {0xDF, 1},
	};

	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		reset();
		CHECK_EQ(reg_op(regs[i][0], regs[i][1]), FPU_UD);
		CHECK_EQ(fpu.fip, 0);
	}
	for (unsigned i = 0; i < sizeof(mems) / sizeof(mems[0]); i++) {
		reset();
		CHECK_EQ(mem_op(mems[i][0], mems[i][1], 0x10), FPU_UD);
	}
	reset();
	CHECK_EQ(reg_op(0x90, 0xC0), FPU_UD);
	CHECK_EQ(fpu_exec(&fpu, 0xD9, 0x00, NULL, &ctx), FPU_UD); /* memory form, no operand */
	CHECK_EQ(mem_faults, 0);
}

int main(void)
{
	test_div_rounding();
	test_add_forms();
	test_exceptions();
	test_stack_faults();
	test_under_overflow();
	test_store_float();
	test_store_int();
	test_bcd();
	test_fprem();
	test_fxam();
	test_compare();
	test_fcmov();
	test_fsave();
	test_constants();
	test_transcendental();
	test_misc_ops();
	test_control();
	test_invalid_encodings();
	return unit_done("fpu");
}
