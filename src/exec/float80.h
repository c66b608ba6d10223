/*
 * float80.h - software arithmetic on the x87 80-bit extended format (private
 * to src/exec/fpu.c).
 *
 * Every operation works on integers only, so results are the same on every
 * host.  An operation takes its operands as F80 values and an F80Env (the
 * rounding control, precision and exception masks of the control word); it
 * returns the result the x87 delivers when the exceptions it raises are
 * masked, and ORs the exceptions it detected into env->flags.  For unmasked
 * numeric overflow/underflow it returns the exponent-bias-adjusted result the
 * x87 writes to a register.  The caller (fpu.c) decides whether an unmasked
 * IE/DE/ZE suppresses the store.
 */
#ifndef FB_FLOAT80_H
#define FB_FLOAT80_H

#include <stdbool.h>
#include <stdint.h>

#include "fpu.h"

/* Exception flags, at their status word / control word bit positions. */
enum {
	FX_IE = 0x01,
	FX_DE = 0x02,
	FX_ZE = 0x04,
	FX_OE = 0x08,
	FX_UE = 0x10,
	FX_PE = 0x20,
	FX_SF = 0x40,
};

/* Rounding control (CW bits 10-11). */
enum { RC_NEAREST, RC_DOWN, RC_UP, RC_CHOP };

typedef struct F80Env {
	unsigned rc;	/* RC_* */
	unsigned prec;	/* significand bits: 24, 53 or 64 */
	unsigned masks; /* CW bits 0-5: set = masked */
	unsigned flags; /* out: FX_* detected */
	bool c1;	/* out: the last rounding increased the magnitude */
} F80Env;

enum f80_class {
	F80_ZERO,
	F80_DENORMAL, /* also pseudo-denormals (exponent 0, J bit set) */
	F80_NORMAL,
	F80_INF,
	F80_QNAN,
	F80_SNAN,
	F80_UNSUPPORTED, /* unnormals, pseudo-NaNs, pseudo-infinities */
};

extern const F80 f80_indefinite;
enum f80_class f80_classify(F80 a);
static inline bool f80_sign(F80 a)
{
	return a.se >> 15;
}
static inline bool f80_is_nan(F80 a)
{
	enum f80_class c = f80_classify(a);
	return c == F80_QNAN || c == F80_SNAN;
}

/* Basic arithmetic (precision control applies). */
F80 f80_add(F80 a, F80 b, F80Env *env);
F80 f80_sub(F80 a, F80 b, F80Env *env);
F80 f80_mul(F80 a, F80 b, F80Env *env);
F80 f80_div(F80 a, F80 b, F80Env *env);
F80 f80_sqrt(F80 a, F80Env *env);

/* FPREM (ieee = false) / FPREM1 (ieee = true): *quot gets the low 3 bits
 * of the quotient, *partial is set when the reduction is incomplete (C2). */
F80 f80_rem(F80 a, F80 b, bool ieee, F80Env *env, unsigned *quot, bool *partial);
F80 f80_round_int(F80 a, F80Env *env);	  /* FRNDINT */
F80 f80_scale(F80 a, F80 b, F80Env *env); /* FSCALE: a * 2^trunc(b) */
void f80_xtract(F80 a, F80Env *env, F80 *exponent, F80 *significand);

/* Comparison: -1 (a < b), 0, 1 (a > b), 2 unordered.  quiet: only SNaNs
 * (and unsupported formats) raise IE, as FUCOM does. */
int f80_compare(F80 a, F80 b, bool quiet, F80Env *env);

/* Conversions.  Loads of m32/m64 raise DE on denormals and IE on SNaNs;
 * stores round with env->rc and report overflow/underflow for the memory
 * format (the caller skips the store when they are unmasked). */
F80 f80_from_f32(uint32_t v, F80Env *env);
F80 f80_from_f64(uint64_t v, F80Env *env);
uint32_t f80_to_f32(F80 a, F80Env *env);
uint64_t f80_to_f64(F80 a, F80Env *env);
F80 f80_from_int(int64_t v);
/* Round to an integer of @bits bits (16, 32, 64); IE and the integer
 * indefinite (the most negative value) when it does not fit. */
int64_t f80_to_int(F80 a, unsigned bits, F80Env *env);
F80 f80_from_bcd(const uint8_t bcd[10]);
void f80_to_bcd(F80 a, F80Env *env, uint8_t bcd[10]);
/* The constant with index 0..6 (1, log2 10, log2 e, pi, log10 2, ln 2, 0)
 * as the 66-bit internal value rounded per env->rc (no exceptions). */
F80 f80_constant(unsigned idx, unsigned rc);

/* Transcendentals (results rounded to 64 bits per env->rc).  The trig
 * functions expect |a| < 2^63 (the caller checks and sets C2). */
F80 f80_f2xm1(F80 a, F80Env *env);
F80 f80_yl2x(F80 x, F80 y, F80Env *env);   /* y * log2(x) */
F80 f80_yl2xp1(F80 x, F80 y, F80Env *env); /* y * log2(x + 1) */
F80 f80_atan2(F80 y, F80 x, F80Env *env);  /* FPATAN: atan(y / x) */
F80 f80_tan(F80 a, F80Env *env);
F80 f80_sin(F80 a, F80Env *env);
F80 f80_cos(F80 a, F80Env *env);
/* True when |a| >= 2^63 (FSIN & co leave the operand and set C2). */
bool f80_trig_out_of_range(F80 a);

#endif
