/*
 * fpu.c - the x87: FNINIT state, loads and stores of every format,
 * rounding by the control word, exact results of the basic operations
 * (bit patterns worked out offline with exact rational arithmetic),
 * FPREM's quotient bits, FXAM's classes, FCOMI/FUCOMI flags, FSAVE/FRSTOR,
 * packed BCD, stack overflow and underflow, and an unmasked exception
 * delivered as #MF with CR0.NE = 1.
 *
 * FSIN and FCOS are only checked to within one unit in the last place of
 * the correctly rounded value (the SDM's accuracy for them on the P6 for
 * arguments this small): real chips and software x87s may differ in that
 * last bit.
 *
 * Built twice.  cpu-fpu has what QEMU (TCG) gets right; with STRICT it is
 * cpu-fpu-strict: all of cpu-fpu plus the checks QEMU 7.2 fails
 * (meson.build marks its QEMU run should_fail):
 *   - stack overflow and underflow: QEMU never sets IE, SF and C1 for them
 *     and an overflowing load overwrites the register instead of storing
 *     the indefinite QNaN;
 *   - FSIN/FCOS: QEMU computes them in host double precision, so the last
 *     11 bits of the 64-bit significand are zero (off by up to 2^11 ulp).
 */
#include "xlib.h"

struct ext {
	u64 mant;
	u16 se; /* sign and biased exponent */
} __attribute__((packed));

#define SW_IE	   0x0001
#define SW_ZE	   0x0004
#define SW_SF	   0x0040
#define SW_ES	   0x0080
#define SW_C0	   0x0100
#define SW_C1	   0x0200
#define SW_C2	   0x0400
#define SW_C3	   0x4000
#define CW_DEFAULT 0x037F
#define CW_RC(n)   (CW_DEFAULT | (n) << 10)
#define CW_PC53	   (CW_DEFAULT & ~0x0100)

static void fninit(void)
{
	__asm__ volatile("fninit");
}
static u16 fnstsw(void)
{
	u16 v;
	__asm__ volatile("fnstsw %0" : "=m"(v));
	return v;
}
static u16 fnstcw(void)
{
	u16 v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}
static void fldcw(u16 cw)
{
	__asm__ volatile("fldcw %0" : : "m"(cw));
}
static u64 bits_of(double d)
{
	u64 v;
	memcpy(&v, &d, 8);
	return v;
}

/* Loads @a and @b (b ends on top), runs @op, stores ST(0) as extended. */
#define BINOP(op, a, b, out)                                                                       \
	__asm__ volatile("fldt %1\n\tfldt %2\n\t" op "\n\tfstpt %0\n\tfstp %%st(0)"                \
			 : "=m"(out)                                                               \
			 : "m"(a), "m"(b))

static const struct ext ONE = {0x8000000000000000ull, 0x3FFF};
static const struct ext TWO = {0x8000000000000000ull, 0x4000};
static const struct ext THREE = {0xC000000000000000ull, 0x4000};

static void check_ext(const char *what, struct ext got, u16 se, u64 mant)
{
	check(got.se == se && got.mant == mant, "%s: %04x:%08x%08x, want %04x:%08x%08x", what,
	      got.se, (u32)(got.mant >> 32), (u32)got.mant, se, (u32)(mant >> 32), (u32)mant);
}

static void test_init(void)
{
	u32 env[7];

	fninit();
	__asm__ volatile("fnstenv %0" : "=m"(env));
	check(fnstcw() == CW_DEFAULT, "FNINIT control word 0x%x", fnstcw());
	check(fnstsw() == 0, "FNINIT status word 0x%x", fnstsw());
	check((env[2] & 0xFFFF) == 0xFFFF, "FNINIT tag word 0x%x", env[2] & 0xFFFF);
}

static void test_load_store(void)
{
	static const struct ext odd = {0xDEADBEEFCAFEF00Dull, 0xC123};
	struct ext e;
	float f;
	double d;
	u32 fb;

	fninit();
	__asm__ volatile("fldt %1\n\tfstpt %0" : "=m"(e) : "m"(odd));
	check_ext("FLD/FSTP extended round trip", e, odd.se, odd.mant);
	/* 1/3 stored as float and double: round to nearest. */
	__asm__ volatile("fld1\n\tfldt %2\n\tfdivrp\n\tfsts %0\n\tfstpl %1"
			 : "=m"(f), "=m"(d)
			 : "m"(THREE));
	memcpy(&fb, &f, 4);
	check(fb == 0x3EAAAAAB, "1/3 as float: 0x%08x", fb);
	check(bits_of(d) == 0x3FD5555555555555ull, "1/3 as double: 0x%08x%08x",
	      (u32)(bits_of(d) >> 32), (u32)bits_of(d));
	/* A float loads exactly. */
	f = 1.5f;
	__asm__ volatile("flds %1\n\tfstpt %0" : "=m"(e) : "m"(f));
	check_ext("FLD float 1.5", e, 0x3FFF, 0xC000000000000000ull);
}

static void test_arith(void)
{
	struct ext e;
	double a = 0.1, b = 0.2, d;

	fninit();
	BINOP("fdivrp", ONE, THREE, e); /* 1 / 3 */
	check_ext("FDIV 1/3", e, 0x3FFD, 0xAAAAAAAAAAAAAAABull);
	fldcw(CW_PC53);
	BINOP("fdivrp", ONE, THREE, e);
	check_ext("FDIV 1/3, precision control 53 bits", e, 0x3FFD, 0xAAAAAAAAAAAAA800ull);
	fninit();
	__asm__ volatile("fldt %1\n\tfsqrt\n\tfstpt %0" : "=m"(e) : "m"(TWO));
	check_ext("FSQRT 2", e, 0x3FFF, 0xB504F333F9DE6484ull);
	__asm__ volatile("fldl %1\n\tfaddl %2\n\tfstpt %0" : "=m"(e) : "m"(a), "m"(b));
	check_ext("FADD 0.1 + 0.2", e, 0x3FFD, 0x9999999999999C00ull);
	__asm__ volatile("fldl %1\n\tfaddl %2\n\tfstpl %0" : "=m"(d) : "m"(a), "m"(b));
	check(bits_of(d) == 0x3FD3333333333334ull, "0.1 + 0.2 stored as double: %08x%08x",
	      (u32)(bits_of(d) >> 32), (u32)bits_of(d));
	BINOP("fmulp", THREE, THREE, e);
	check_ext("FMUL 3 * 3", e, 0x4002, 0x9000000000000000ull);
	__asm__ volatile("fldpi\n\tfstpt %0" : "=m"(e));
	check_ext("FLDPI", e, 0x4000, 0xC90FDAA22168C235ull);
}

static void test_fist(void)
{
	static const double in[] = {2.5, -2.5, 3.5, -0.5};
	static const char *const name[] = {"2.5", "-2.5", "3.5", "-0.5"};
	/* Rows: nearest, down, up, toward zero. */
	static const s32 want[4][4] = {
	    {2, -2, 4, 0},
	    {2, -3, 3, -1},
	    {3, -2, 4, 0},
	    {2, -2, 3, 0},
	};
	double big = 3e9;
	s32 v;

	for (int rc = 0; rc < 4; rc++) {
		fninit();
		fldcw(CW_RC(rc));
		for (int i = 0; i < 4; i++) {
			__asm__ volatile("fldl %1\n\tfistpl %0" : "=m"(v) : "m"(in[i]));
			check(v == want[rc][i], "FIST RC=%d of %s: %d, want %d", rc, name[i], v,
			      want[rc][i]);
		}
	}
	fninit();
	__asm__ volatile("fldl %1\n\tfistpl %0" : "=m"(v) : "m"(big));
	check((u32)v == 0x80000000u && (fnstsw() & SW_IE), "FIST of 3e9: 0x%x, status 0x%x", (u32)v,
	      fnstsw());
}

static void test_fprem(void)
{
	static const struct ext ten = {0xA000000000000000ull, 0x4002};
	static const struct ext t23 = {0xB800000000000000ull, 0x4003};
	static const struct ext four = {0x8000000000000000ull, 0x4001};
	struct ext e;
	u16 sw;

	fninit();
	/* 10 rem 3 = 1, quotient 3 = 0b011: C1 = Q0, C3 = Q1, C0 = Q2. */
	__asm__ volatile("fldt %2\n\tfldt %3\n\tfprem\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)"
			 : "=m"(e), "=m"(sw)
			 : "m"(THREE), "m"(ten));
	check_ext("FPREM 10, 3", e, 0x3FFF, 0x8000000000000000ull);
	check((sw & (SW_C0 | SW_C1 | SW_C2 | SW_C3)) == (SW_C1 | SW_C3),
	      "FPREM 10, 3: status 0x%04x", sw);
	/* 23 rem 4 = 3, quotient 5 = 0b101. */
	__asm__ volatile("fldt %2\n\tfldt %3\n\tfprem\n\tfnstsw %1\n\tfstpt %0\n\tfstp %%st(0)"
			 : "=m"(e), "=m"(sw)
			 : "m"(four), "m"(t23));
	check_ext("FPREM 23, 4", e, 0x4000, 0xC000000000000000ull);
	check((sw & (SW_C0 | SW_C1 | SW_C2 | SW_C3)) == (SW_C0 | SW_C1),
	      "FPREM 23, 4: status 0x%04x", sw);
}

static u16 fxam_of(const struct ext *v)
{
	u16 sw;

	__asm__ volatile("fldt %1\n\tfxam\n\tfnstsw %0\n\tfstp %%st(0)" : "=m"(sw) : "m"(*v));
	return sw & (SW_C0 | SW_C1 | SW_C2 | SW_C3);
}

static void test_fxam(void)
{
	static const struct {
		const char *name;
		struct ext v;
		u16 want;
	} cases[] = {
	    {"+0", {0, 0}, SW_C3},
	    {"-1", {0x8000000000000000ull, 0xBFFF}, SW_C2 | SW_C1},
	    {"+inf", {0x8000000000000000ull, 0x7FFF}, SW_C2 | SW_C0},
	    {"QNaN", {0xC000000000000000ull, 0x7FFF}, SW_C0},
	    {"denormal", {1, 0}, SW_C3 | SW_C2},
	    {"-denormal", {0x4000000000000000ull, 0x8000}, SW_C3 | SW_C2 | SW_C1},
	};
	u16 sw;

	fninit();
	for (u32 i = 0; i < ARRAY_SIZE(cases); i++) {
		u16 got = fxam_of(&cases[i].v);

		check(got == cases[i].want, "FXAM %s: 0x%04x, want 0x%04x", cases[i].name, got,
		      cases[i].want);
	}
	__asm__ volatile("fxam\n\tfnstsw %0" : "=m"(sw));
	check((sw & (SW_C0 | SW_C2 | SW_C3)) == (SW_C3 | SW_C0), "FXAM empty: 0x%04x", sw);
}

/* FCOMI/FUCOMI of ST(0) = @a with ST(1) = @b: ZF, PF, CF. */
static u32 comi(const char *insn_is_ucomi, const struct ext *a, const struct ext *b)
{
	u32 fl;

	if (insn_is_ucomi)
		__asm__ volatile("fldt %2\n\tfldt %1\n\tfucomi %%st(1), %%st\n\tpushf\n\tpop %0\n\t"
				 "fstp %%st(0)\n\tfstp %%st(0)"
				 : "=r"(fl)
				 : "m"(*a), "m"(*b)
				 : "cc");
	else
		__asm__ volatile("fldt %2\n\tfldt %1\n\tfcomi %%st(1), %%st\n\tpushf\n\tpop %0\n\t"
				 "fstp %%st(0)\n\tfstp %%st(0)"
				 : "=r"(fl)
				 : "m"(*a), "m"(*b)
				 : "cc");
	return fl & 0x45;
}

static void test_fcomi(void)
{
	static const struct ext qnan = {0xC000000000000000ull, 0x7FFF};

	fninit();
	check(comi(NULL, &ONE, &TWO) == 0x01, "FCOMI 1, 2: flags 0x%x", comi(NULL, &ONE, &TWO));
	check(comi(NULL, &TWO, &ONE) == 0x00, "FCOMI 2, 1: flags 0x%x", comi(NULL, &TWO, &ONE));
	check(comi(NULL, &TWO, &TWO) == 0x40, "FCOMI 2, 2: flags 0x%x", comi(NULL, &TWO, &TWO));
	check(!(fnstsw() & SW_IE), "FCOMI of numbers raised IE");
	check(comi("u", &qnan, &ONE) == 0x45, "FUCOMI QNaN: flags 0x%x", comi("u", &qnan, &ONE));
	check(!(fnstsw() & SW_IE), "FUCOMI of a QNaN raised IE");
	check(comi(NULL, &qnan, &ONE) == 0x45, "FCOMI QNaN: flags 0x%x", comi(NULL, &qnan, &ONE));
	check(fnstsw() & SW_IE, "FCOMI of a QNaN did not raise IE");
}

static void test_fsave(void)
{
	u8 area[108];
	struct ext a, b, c;

	fninit();
	fldcw(CW_RC(3));
	__asm__ volatile("fld1\n\tfldpi\n\tfldt %0" : : "m"(THREE));
	__asm__ volatile("fnsave %0" : "=m"(area));
	check(fnstcw() == CW_DEFAULT, "FNSAVE did not reinitialise (CW 0x%x)", fnstcw());
	__asm__ volatile("fldz\n\tfldz");
	__asm__ volatile("frstor %0" : : "m"(area));
	__asm__ volatile("fstpt %0\n\tfstpt %1\n\tfstpt %2" : "=m"(a), "=m"(b), "=m"(c));
	check(fnstcw() == CW_RC(3), "FRSTOR control word 0x%x", fnstcw());
	check_ext("FRSTOR ST(0)", a, THREE.se, THREE.mant);
	/* FLDPI rounds by RC: toward zero, the last bit is 4, not 5. */
	check_ext("FRSTOR ST(1) (FLDPI rounded toward zero)", b, 0x4000, 0xC90FDAA22168C234ull);
	check_ext("FRSTOR ST(2)", c, ONE.se, ONE.mant);
	check(((fnstsw() >> 11) & 7) == 0, "TOP %u after popping everything", (fnstsw() >> 11) & 7);
}

static void test_bcd(void)
{
	static const u8 want1[10] = {0x78, 0x56, 0x34, 0x12};
	static const u8 want2[10] = {0x87, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x80};
	static const u8 in[10] = {0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0x80};
	s32 v1 = 12345678, v2 = -987, back;
	u8 out[10];

	fninit();
	__asm__ volatile("fildl %1\n\tfbstp %0" : "=m"(out) : "m"(v1));
	check(!memcmp(out, want1, 10), "FBSTP 12345678: %02x %02x %02x %02x ... %02x", out[0],
	      out[1], out[2], out[3], out[9]);
	__asm__ volatile("fildl %1\n\tfbstp %0" : "=m"(out) : "m"(v2));
	check(!memcmp(out, want2, 10), "FBSTP -987: %02x %02x ... %02x", out[0], out[1], out[9]);
	__asm__ volatile("fbld %1\n\tfistpl %0" : "=m"(back) : "m"(in));
	check(back == -987654321, "FBLD: %d", back);
}

static __attribute__((unused)) void test_stack_faults(void)
{
	double d;
	u16 sw;

	fninit();
	__asm__ volatile("fld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\t"
			 "fld1\n\tfnstsw %0\n\tfstpl %1"
			 : "=m"(sw), "=m"(d));
	check((sw & (SW_IE | SW_SF | SW_C1 | SW_ES)) == (SW_IE | SW_SF | SW_C1),
	      "stack overflow: status 0x%04x", sw);
	check(bits_of(d) == 0xFFF8000000000000ull, "overflow result %08x%08x, want indefinite",
	      (u32)(bits_of(d) >> 32), (u32)bits_of(d));
	fninit();
	__asm__ volatile("fadd %%st(1), %%st\n\tfnstsw %0" : "=m"(sw));
	check((sw & (SW_IE | SW_SF | SW_C1 | SW_ES)) == (SW_IE | SW_SF),
	      "stack underflow: status 0x%04x", sw);
	fninit();
}

static u16 mf_status;
static void mf_handler(struct xregs *r)
{
	mf_status = fnstsw();
	__asm__ volatile("fnclex");
	xcatch_escape(r);
}

TRIGGER(t_mf, "fld1\nfchs\nfsqrt\nt_mf_fault: fwait\nt_mf_resume: ret\n")

static void test_mf(void)
{
	struct fault f;

	write_cr0(read_cr0() | 0x20); /* NE */
	fninit();
	fldcw(CW_DEFAULT & ~1); /* IE unmasked */
	idt_set(16, GATE_INT, mf_handler);
	f = xcatch(t_mf, 0);
	check_fault("#MF FSQRT of -1, IE unmasked", f, 16, 0, (u32)t_mf_fault);
	check((mf_status & (SW_IE | SW_ES)) == (SW_IE | SW_ES), "#MF: status 0x%04x", mf_status);
	fninit();
}

/* Within one unit in the last place of the correctly rounded result. */
static void check_ulp(const char *what, struct ext got, u16 se, u64 mant)
{
	u64 diff = got.mant > mant ? got.mant - mant : mant - got.mant;

	check(got.se == se && diff <= 1, "%s: %04x:%08x%08x, want %04x:%08x%08x +-1", what, got.se,
	      (u32)(got.mant >> 32), (u32)got.mant, se, (u32)(mant >> 32), (u32)mant);
}

static __attribute__((unused)) void test_trig(void)
{
	static const struct ext half = {0x8000000000000000ull, 0x3FFE};
	struct ext s, c;

	fninit();
	__asm__ volatile("fldt %1\n\tfsin\n\tfstpt %0" : "=m"(s) : "m"(half));
	__asm__ volatile("fldt %1\n\tfcos\n\tfstpt %0" : "=m"(c) : "m"(half));
	check_ulp("FSIN 0.5", s, 0x3FFD, 0xF57743A2582F7F44ull);
	check_ulp("FCOS 0.5", c, 0x3FFE, 0xE0A94032DBEA7CEEull);
	__asm__ volatile("fld1\n\tfsin\n\tfstpt %0" : "=m"(s));
	check_ulp("FSIN 1", s, 0x3FFE, 0xD76AA47848677021ull);
}

int guest_main(void)
{
	xlib_init();
	write_cr0((read_cr0() & ~0x4u) | 0x2); /* EM off, MP on */
	test_init();
	test_load_store();
	test_arith();
	test_fist();
	test_fprem();
	test_fxam();
	test_fcomi();
	test_fsave();
	test_bcd();
	test_mf();
#ifdef STRICT
	test_stack_faults();
	test_trig();
	return check_done("cpu-fpu-strict");
#else
	return check_done("cpu-fpu");
#endif
}
