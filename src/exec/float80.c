/*
 * float80.c - integer soft-float on the x87 80-bit extended format.
 *
 * The basic operations compute an exact (or truncated + sticky) result in a
 * 128-bit integer significand and hand it to one rounding routine that
 * knows the rounding modes, precision control, denormals and the x87
 * responses to overflow and underflow.  The transcendental functions are
 * evaluated in a 256-bit software float (series with argument reduction)
 * and go through the same rounding routine.  No host floating point
 * arithmetic is used anywhere.
 */
#include <stdint.h>
#include <string.h>

#include "float80.h"

__extension__ typedef unsigned __int128 u128;

#define EXP_BIAS    16383
#define EXP_MIN	    (-16382) /* exponent of the smallest normal */
#define EXP_MAX	    16383
#define BIAS_ADJUST 24576 /* unmasked OE/UE on a register destination */

const F80 f80_indefinite = {0xC000000000000000ull, 0xFFFF};

/* An unpacked finite value: mant * 2^(exp - 63), mant normalized unless 0. */
typedef struct Unp {
	bool sign;
	int32_t exp;
	uint64_t mant;
} Unp;

/* A destination format for the rounding routine. */
typedef struct Fmt {
	int prec, emin, emax;
} Fmt;

static const Fmt fmt_single = {24, -126, 127};
static const Fmt fmt_double = {53, -1022, 1023};

/* The rounded result before packing: finite mant * 2^(exp - 63) (mant top
 * aligned, J bit clear for denormals) or an infinity. */
typedef struct Res {
	bool sign, inf;
	int32_t exp;
	uint64_t mant;
} Res;

static int clz128(u128 m)
{
	uint64_t hi = (uint64_t)(m >> 64);
	if (hi)
		return __builtin_clzll(hi);
	return 64 + __builtin_clzll((uint64_t)m);
}

enum f80_class f80_classify(F80 a)
{
	unsigned e = a.se & 0x7FFF;
	bool j = a.mant >> 63;

	if (e == 0)
		return a.mant ? F80_DENORMAL : F80_ZERO;
	if (!j)
		return F80_UNSUPPORTED;
	if (e == 0x7FFF) {
		if ((a.mant << 1) == 0)
			return F80_INF;
		return (a.mant >> 62) & 1 ? F80_QNAN : F80_SNAN;
	}
	return F80_NORMAL;
}

static F80 make(bool sign, unsigned bexp, uint64_t mant)
{
	F80 r = {mant, (uint16_t)((sign ? 0x8000 : 0) | bexp)};
	return r;
}

static F80 zero(bool sign)
{
	return make(sign, 0, 0);
}

static F80 inf(bool sign)
{
	return make(sign, 0x7FFF, 1ull << 63);
}

/* Unpack a zero, denormal or normal.  Pseudo-denormals take exponent 1 like
 * denormals (SDM: "treated as if it were 00..01B"). */
static Unp unpack_raw(F80 a)
{
	unsigned e = a.se & 0x7FFF;
	Unp u = {f80_sign(a), (int32_t)(e ? e : 1) - EXP_BIAS, a.mant};

	if (u.mant && !(u.mant >> 63)) {
		int s = __builtin_clzll(u.mant);
		u.mant <<= s;
		u.exp -= s;
	}
	return u;
}

/* Unpack an arithmetic operand: denormals raise DE. */
static Unp unpack(F80 a, F80Env *env)
{
	if (f80_classify(a) == F80_DENORMAL)
		env->flags |= FX_DE;
	return unpack_raw(a);
}

static void note_denormal(F80 a, F80Env *env)
{
	if (f80_classify(a) == F80_DENORMAL)
		env->flags |= FX_DE;
}

static F80 invalid(F80Env *env)
{
	env->flags |= FX_IE;
	return f80_indefinite;
}

static F80 quiet(F80 a)
{
	a.mant |= 1ull << 62;
	return a;
}

/* x87 NaN propagation (SDM vol. 1 table 4-7): a QNaN wins over an SNaN,
 * between two NaNs of the same kind the larger significand wins (the
 * positive one on a tie, as Intel parts do); an SNaN raises IE and is
 * delivered quiet. */
static F80 propagate_nan(F80 a, F80 b, F80Env *env)
{
	enum f80_class ca = f80_classify(a), cb = f80_classify(b);
	bool an = ca == F80_QNAN || ca == F80_SNAN;
	bool bn = cb == F80_QNAN || cb == F80_SNAN;

	if (ca == F80_SNAN || cb == F80_SNAN)
		env->flags |= FX_IE;
	if (an && bn) {
		if (ca != cb)
			return ca == F80_QNAN ? a : b;
		if (a.mant == b.mant) /* equal significands: the positive one */
			return quiet(f80_sign(a) ? b : a);
		return quiet(b.mant > a.mant ? b : a);
	}
	return quiet(an ? a : b);
}

/* Unsupported operands and NaNs: the result every operation shares. */
static bool special2(F80 a, F80 b, F80Env *env, F80 *r)
{
	enum f80_class ca = f80_classify(a), cb = f80_classify(b);

	if (ca == F80_UNSUPPORTED || cb == F80_UNSUPPORTED) {
		*r = invalid(env);
		return true;
	}
	if (ca == F80_QNAN || ca == F80_SNAN || cb == F80_QNAN || cb == F80_SNAN) {
		*r = propagate_nan(a, b, env);
		return true;
	}
	return false;
}

static bool special1(F80 a, F80Env *env, F80 *r)
{
	return special2(a, a, env, r);
}

/*
 * Keep the top @keep bits of @m (bit 127 set; @sticky stands for nonzero
 * bits below it) and round them per @rc.  keep <= 0 means every bit is
 * below the last kept position.  The result may carry into bit @keep.
 */
static u128 round_top(u128 m, bool sticky, int keep, bool sign, unsigned rc, bool *inexact,
		      bool *up)
{
	u128 kept;
	bool rbit, rest, inc;

	if (keep <= 0) {
		kept = 0;
		rbit = keep == 0;
		rest = sticky || (keep == 0 ? (m << 1) != 0 : m != 0);
	} else {
		int sh = 128 - keep;
		kept = m >> sh;
		rbit = (m >> (sh - 1)) & 1;
		rest = sticky || (m & (((u128)1 << (sh - 1)) - 1)) != 0;
	}
	switch (rc) {
	case RC_NEAREST:
		inc = rbit && (rest || (kept & 1));
		break;
	case RC_UP:
		inc = !sign && (rbit || rest);
		break;
	case RC_DOWN:
		inc = sign && (rbit || rest);
		break;
	default:
		inc = false;
		break;
	}
	*inexact = rbit || rest;
	*up = inc;
	return kept + inc;
}

/* The largest finite value of a format. */
static Res max_finite(bool sign, const Fmt *f)
{
	Res r = {sign, false, f->emax, ~0ull << (64 - f->prec)};
	return r;
}

/*
 * Round sign * (m + sticky) * 2^scale (m != 0) into format @f, with the x87
 * responses: masked overflow gives infinity or the largest finite per RC,
 * masked underflow a denormal (UE only when also inexact); unmasked OE/UE
 * give the result with the exponent adjusted by 24576, rounded with
 * unbounded exponent (what a register destination gets; for a memory
 * destination the caller stores nothing).  Tininess is detected
 * after rounding with unbounded exponent (SDM vol. 1 4.9.1.5).
 */
static Res round_to(const Fmt *f, bool sign, int32_t scale, u128 m, bool sticky, F80Env *env)
{
	int n = clz128(m);
	int32_t exp;
	bool inexact, up;
	u128 k;
	Res r = {sign, false, 0, 0};

	m <<= n;
	exp = scale + 127 - n; /* exponent of bit 127 */
	k = round_top(m, sticky, f->prec, sign, env->rc, &inexact, &up);
	r.exp = exp;
	if (k >> f->prec) {
		k >>= 1;
		r.exp++;
	}
	r.mant = (uint64_t)(k << (64 - f->prec));

	if (r.exp > f->emax) {
		if (env->masks & FX_OE) {
			env->flags |= FX_OE | FX_PE;
			switch (env->rc) {
			case RC_NEAREST:
				r.inf = true;
				break;
			case RC_UP:
				r.inf = !sign;
				break;
			case RC_DOWN:
				r.inf = sign;
				break;
			default:
				break;
			}
			env->c1 = r.inf;
			return r.inf ? r : max_finite(sign, f);
		}
		env->flags |= FX_OE | (inexact ? FX_PE : 0);
		env->c1 = up;
		r.exp -= BIAS_ADJUST;
		if (r.exp > f->emax) /* massive overflow (FSCALE) */
			r.inf = true;
		return r;
	}
	if (r.exp < f->emin) {
		if (!(env->masks & FX_UE)) {
			env->flags |= FX_UE | (inexact ? FX_PE : 0);
			env->c1 = up;
			r.exp += BIAS_ADJUST;
			if (r.exp < f->emin) /* massive underflow: signed zero */
				r.mant = 0;
			return r;
		}
		/* Denormalize: the last kept bit has weight 2^(emin - prec + 1). */
		k = round_top(m, sticky, exp - f->emin + f->prec, sign, env->rc, &inexact, &up);
		r.exp = f->emin;
		r.mant = (uint64_t)(k << (64 - f->prec));
		if (inexact)
			env->flags |= FX_UE | FX_PE;
		env->c1 = up;
		return r;
	}
	if (inexact)
		env->flags |= FX_PE;
	env->c1 = up;
	return r;
}

static F80 pack80(Res r)
{
	if (r.inf)
		return inf(r.sign);
	if (!r.mant)
		return zero(r.sign);
	if (!(r.mant >> 63))
		return make(r.sign, 0, r.mant);
	return make(r.sign, (unsigned)(r.exp + EXP_BIAS), r.mant);
}

/* Round a register result with the precision of env->prec. */
static F80 finish(bool sign, int32_t scale, u128 m, bool sticky, F80Env *env)
{
	Fmt f = {(int)env->prec, EXP_MIN, EXP_MAX};

	if (!m && !sticky)
		return zero(sign);
	return pack80(round_to(&f, sign, scale, m, sticky, env));
}

static F80 finish_unp(Unp u, F80Env *env)
{
	return finish(u.sign, u.exp - 63, u.mant, false, env);
}

/* |a| compared with |b| for finite values. */
static int cmp_unp(Unp a, Unp b)
{
	if (!a.mant || !b.mant)
		return (a.mant != 0) - (b.mant != 0);
	if (a.exp != b.exp)
		return a.exp < b.exp ? -1 : 1;
	return a.mant < b.mant ? -1 : a.mant > b.mant;
}

static F80 addsub(F80 a, F80 b, bool negb, F80Env *env)
{
	F80 r;
	Unp ua, ub, t;
	bool sa, sb, sticky = false;
	u128 ma, mb;
	int32_t d;

	if (special2(a, b, env, &r))
		return r;
	note_denormal(a, env);
	note_denormal(b, env);
	sa = f80_sign(a);
	sb = f80_sign(b) ^ negb;
	if (f80_classify(a) == F80_INF || f80_classify(b) == F80_INF) {
		if (f80_classify(a) == F80_INF && f80_classify(b) == F80_INF && sa != sb)
			return invalid(env);
		return inf(f80_classify(a) == F80_INF ? sa : sb);
	}
	ua = unpack_raw(a);
	ub = unpack_raw(b);
	ub.sign = sb;
	if (!ua.mant && !ub.mant)
		return zero(sa == sb ? sa : env->rc == RC_DOWN);
	if (cmp_unp(ua, ub) < 0) {
		t = ua;
		ua = ub;
		ub = t;
	}
	if (!ub.mant)
		return finish_unp(ua, env);
	ma = (u128)ua.mant << 64;
	mb = (u128)ub.mant << 64;
	d = ua.exp - ub.exp;
	if (d >= 128) {
		sticky = true;
		mb = 0;
	} else if (d > 0) {
		sticky = (mb & (((u128)1 << d) - 1)) != 0;
		mb >>= d;
	}
	if (ua.sign == ub.sign) {
		u128 s = ma + mb;
		int32_t scale = ua.exp - 127;
		if (s < ma) { /* carry out of bit 127 */
			sticky |= s & 1;
			s = (s >> 1) | ((u128)1 << 127);
			scale++;
		}
		return finish(ua.sign, scale, s, sticky, env);
	}
	/* The bits shifted out of mb are a fraction in (0, 1): borrow one. */
	ma -= mb + sticky;
	if (!ma && !sticky)
		return zero(env->rc == RC_DOWN);
	return finish(ua.sign, ua.exp - 127, ma, sticky, env);
}

F80 f80_add(F80 a, F80 b, F80Env *env)
{
	return addsub(a, b, false, env);
}

F80 f80_sub(F80 a, F80 b, F80Env *env)
{
	return addsub(a, b, true, env);
}

F80 f80_mul(F80 a, F80 b, F80Env *env)
{
	F80 r;
	Unp ua, ub;
	bool sign = f80_sign(a) ^ f80_sign(b);
	enum f80_class ca = f80_classify(a), cb = f80_classify(b);

	if (special2(a, b, env, &r))
		return r;
	ua = unpack(a, env);
	ub = unpack(b, env);
	if (ca == F80_INF || cb == F80_INF) {
		if (ca == F80_ZERO || cb == F80_ZERO)
			return invalid(env);
		return inf(sign);
	}
	if (!ua.mant || !ub.mant)
		return zero(sign);
	return finish(sign, ua.exp + ub.exp - 126, (u128)ua.mant * ub.mant, false, env);
}

F80 f80_div(F80 a, F80 b, F80Env *env)
{
	F80 r;
	Unp ua, ub;
	bool sign = f80_sign(a) ^ f80_sign(b);
	enum f80_class ca = f80_classify(a), cb = f80_classify(b);
	u128 q1, r1, q2, r2;

	if (special2(a, b, env, &r))
		return r;
	ua = unpack(a, env);
	ub = unpack(b, env);
	if (ca == F80_INF)
		return cb == F80_INF ? invalid(env) : inf(sign);
	if (cb == F80_INF)
		return zero(sign);
	if (!ub.mant) {
		if (!ua.mant)
			return invalid(env);
		env->flags |= FX_ZE;
		return inf(sign);
	}
	if (!ua.mant)
		return zero(sign);
	/* Two 64-bit quotient digits of (ma << 128) / mb, remainder -> sticky. */
	q1 = ((u128)ua.mant << 64) / ub.mant;
	r1 = ((u128)ua.mant << 64) % ub.mant;
	q2 = (r1 << 64) / ub.mant;
	r2 = (r1 << 64) % ub.mant;
	if (q1 >> 64)
		return finish(sign, ua.exp - ub.exp - 127, (q1 << 63) | (q2 >> 1), (q2 & 1) || r2,
			      env);
	return finish(sign, ua.exp - ub.exp - 128, (q1 << 64) | q2, r2 != 0, env);
}

/* Integer square root of a 128-bit value; *rem = x - root^2. */
static uint64_t isqrt128(u128 x, u128 *rem)
{
	u128 root = 0, bit = (u128)1 << 126;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= root + bit) {
			x -= root + bit;
			root = (root >> 1) + bit;
		} else {
			root >>= 1;
		}
		bit >>= 2;
	}
	*rem = x;
	return (uint64_t)root;
}

F80 f80_sqrt(F80 a, F80Env *env)
{
	F80 r;
	Unp u;
	int s;
	int32_t half;
	uint64_t root;
	u128 rem, m;

	if (special1(a, env, &r))
		return r;
	u = unpack(a, env);
	if (f80_classify(a) == F80_ZERO)
		return a;
	if (u.sign)
		return invalid(env);
	if (f80_classify(a) == F80_INF)
		return a;
	/* Make the exponent even, so that the root of 2^(2k) is 2^k. */
	s = ((u.exp - 63 - 64) & 1) ? 63 : 64;
	half = (u.exp - 63 - s) / 2;
	root = isqrt128((u128)u.mant << s, &rem);
	/* Two more bits: the half bit (never an exact tie) and a sticky bit. */
	m = ((u128)root << 2) | (rem > root ? 3 : rem ? 1 : 0);
	return finish(false, half - 2, m, false, env);
}

int f80_compare(F80 a, F80 b, bool quiet_nan, F80Env *env)
{
	enum f80_class ca = f80_classify(a), cb = f80_classify(b);
	bool sa = f80_sign(a), sb = f80_sign(b);
	Unp ua, ub;
	int mag;

	if (ca == F80_UNSUPPORTED || cb == F80_UNSUPPORTED) {
		env->flags |= FX_IE;
		return 2;
	}
	if (ca == F80_QNAN || ca == F80_SNAN || cb == F80_QNAN || cb == F80_SNAN) {
		if (!quiet_nan || ca == F80_SNAN || cb == F80_SNAN)
			env->flags |= FX_IE;
		return 2;
	}
	note_denormal(a, env);
	note_denormal(b, env);
	if (ca == F80_ZERO && cb == F80_ZERO)
		return 0;
	if (ca == F80_INF || cb == F80_INF)
		mag = (ca == F80_INF) - (cb == F80_INF);
	else {
		ua = unpack_raw(a);
		ub = unpack_raw(b);
		mag = cmp_unp(ua, ub);
	}
	if (ca == F80_ZERO)
		sa = !sb;
	if (cb == F80_ZERO)
		sb = !sa;
	if (sa != sb)
		return sa ? -1 : 1;
	return sa ? -mag : mag;
}

/* Round a finite value to an integer magnitude per env->rc. */
static u128 round_to_integer(Unp u, F80Env *env, bool *inexact, bool *up)
{
	*inexact = *up = false;
	if (!u.mant)
		return 0;
	if (u.exp >= 63)
		return (u128)u.mant << (u.exp - 63 > 64 ? 64 : u.exp - 63);
	return round_top((u128)u.mant << 64, false, u.exp + 1, u.sign, env->rc, inexact, up);
}

static F80 from_magnitude(bool sign, uint64_t mag)
{
	int s;

	if (!mag)
		return zero(sign);
	s = __builtin_clzll(mag);
	return make(sign, (unsigned)(63 - s + EXP_BIAS), mag << s);
}

F80 f80_round_int(F80 a, F80Env *env)
{
	F80 r;
	Unp u;
	bool inexact, up;
	u128 k;

	if (special1(a, env, &r))
		return r;
	u = unpack(a, env);
	if (f80_classify(a) == F80_INF || !u.mant || u.exp >= 63)
		return a;
	k = round_to_integer(u, env, &inexact, &up);
	if (inexact)
		env->flags |= FX_PE;
	env->c1 = up;
	return from_magnitude(u.sign, (uint64_t)k);
}

F80 f80_from_int(int64_t v)
{
	return from_magnitude(v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

int64_t f80_to_int(F80 a, unsigned bits, F80Env *env)
{
	enum f80_class c = f80_classify(a);
	uint64_t limit = 1ull << (bits - 1); /* magnitude of the most negative */
	int64_t indefinite = (int64_t)(0 - limit);
	bool inexact, up;
	Unp u;
	u128 k;

	if (c == F80_UNSUPPORTED || c == F80_QNAN || c == F80_SNAN || c == F80_INF) {
		env->flags |= FX_IE;
		return indefinite;
	}
	u = unpack_raw(a);
	if (u.exp > 63) {
		env->flags |= FX_IE;
		return indefinite;
	}
	k = round_to_integer(u, env, &inexact, &up);
	if (k > limit || (k == limit && !u.sign)) {
		env->flags |= FX_IE;
		return indefinite;
	}
	if (inexact)
		env->flags |= FX_PE;
	env->c1 = up;
	return u.sign ? (int64_t)(0 - (uint64_t)k) : (int64_t)(uint64_t)k;
}

F80 f80_from_bcd(const uint8_t bcd[10])
{
	uint64_t v = 0;

	for (int i = 8; i >= 0; i--)
		v = v * 100 + (bcd[i] >> 4) * 10 + (bcd[i] & 15);
	return from_magnitude(bcd[9] >> 7, v);
}

void f80_to_bcd(F80 a, F80Env *env, uint8_t bcd[10])
{
	static const uint8_t indefinite[10] = {0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF};
	enum f80_class c = f80_classify(a);
	bool inexact, up;
	uint64_t v;
	Unp u;
	u128 k;

	if (c == F80_UNSUPPORTED || c == F80_QNAN || c == F80_SNAN || c == F80_INF)
		goto bad;
	u = unpack_raw(a);
	if (u.exp > 63)
		goto bad;
	k = round_to_integer(u, env, &inexact, &up);
	if (k > 999999999999999999ull)
		goto bad;
	if (inexact)
		env->flags |= FX_PE;
	env->c1 = up;
	v = (uint64_t)k;
	for (int i = 0; i < 9; i++) {
		bcd[i] = (uint8_t)(v % 10);
		v /= 10;
		bcd[i] |= (uint8_t)((v % 10) << 4);
		v /= 10;
	}
	bcd[9] = u.sign ? 0x80 : 0;
	return;
bad:
	env->flags |= FX_IE;
	memcpy(bcd, indefinite, 10);
}

/* Load a binary32/binary64 field layout: @fbits fraction bits, @ebits
 * exponent bits. */
static F80 from_ieee(uint64_t v, int fbits, int ebits, F80Env *env)
{
	bool sign = (v >> (fbits + ebits)) & 1;
	unsigned emax = (1u << ebits) - 1, bias = emax >> 1;
	unsigned e = (unsigned)(v >> fbits) & emax;
	uint64_t frac = v & ((1ull << fbits) - 1);
	int s;

	if (e == emax) {
		F80 r = make(sign, 0x7FFF, (1ull << 63) | (frac << (63 - fbits)));
		if (frac && !((frac >> (fbits - 1)) & 1)) {
			env->flags |= FX_IE; /* SNaN */
			r = quiet(r);
		}
		return r;
	}
	if (e == 0) {
		if (!frac)
			return zero(sign);
		env->flags |= FX_DE;
		s = __builtin_clzll(frac);
		/* frac * 2^(1 - bias - fbits); its top bit sits at 63 - s. */
		return make(sign, (unsigned)(EXP_BIAS + 1 - (int)bias - fbits + 63 - s), frac << s);
	}
	return make(sign, e - bias + EXP_BIAS, (1ull << 63) | (frac << (63 - fbits)));
}

F80 f80_from_f32(uint32_t v, F80Env *env)
{
	return from_ieee(v, 23, 8, env);
}

F80 f80_from_f64(uint64_t v, F80Env *env)
{
	return from_ieee(v, 52, 11, env);
}

/* Store to a binary32/binary64 layout, rounding per env->rc. */
static uint64_t to_ieee(F80 a, const Fmt *f, int ebits, F80Env *env)
{
	int fbits = f->prec - 1;
	uint64_t sign = (uint64_t)f80_sign(a) << (fbits + ebits);
	uint64_t emask = ((1ull << ebits) - 1) << fbits;
	uint64_t fmask = (1ull << fbits) - 1;
	unsigned bias = (1u << (ebits - 1)) - 1;
	Unp u;
	Res r;

	switch (f80_classify(a)) {
	case F80_UNSUPPORTED:
		env->flags |= FX_IE;
		return (1ull << (fbits + ebits)) | emask | (1ull << (fbits - 1));
	case F80_SNAN:
		env->flags |= FX_IE;
		/* fall through */
	case F80_QNAN:
		return sign | emask | (1ull << (fbits - 1)) | ((a.mant >> (63 - fbits)) & fmask);
	case F80_INF:
		return sign | emask;
	case F80_ZERO:
		return sign;
	default:
		break;
	}
	u = unpack_raw(a);
	r = round_to(f, u.sign, u.exp - 63, u.mant, false, env);
	if (r.inf)
		return sign | emask;
	if (!(r.mant >> 63)) /* denormal or zero */
		return sign | (r.mant >> (63 - fbits));
	return sign | ((uint64_t)(r.exp + (int)bias) << fbits) | ((r.mant >> (63 - fbits)) & fmask);
}

uint32_t f80_to_f32(F80 a, F80Env *env)
{
	return (uint32_t)to_ieee(a, &fmt_single, 8, env);
}

uint64_t f80_to_f64(F80 a, F80Env *env)
{
	return to_ieee(a, &fmt_double, 11, env);
}

/* The constants: 128 bits of each (exact value truncated), rounded per RC
 * from the exact value, which gives the P6's documented results
 * (e.g. FLDLG2 = 3FFD 9A209A84FBCFF799 to nearest). */
static const struct {
	uint16_t se;
	uint64_t hi, lo;
} constants[7] = {
    {0x3FFF, 0x8000000000000000ull, 0},			    /* 1 */
    {0x4000, 0xD49A784BCD1B8AFEull, 0x492BF6FF4DAFDB4Cull}, /* log2(10) */
    {0x3FFF, 0xB8AA3B295C17F0BBull, 0xBE87FED0691D3E88ull}, /* log2(e) */
    {0x4000, 0xC90FDAA22168C234ull, 0xC4C6628B80DC1CD1ull}, /* pi */
    {0x3FFD, 0x9A209A84FBCFF798ull, 0x8F8959AC0B7C9178ull}, /* log10(2) */
    {0x3FFE, 0xB17217F7D1CF79ABull, 0xC9E3B39803F2F6AFull}, /* ln(2) */
    {0, 0, 0},						    /* +0 */
};

F80 f80_constant(unsigned idx, unsigned rc)
{
	F80Env env = {rc, 64, 0x3F, 0, false};
	bool sticky;

	if (idx >= 7 || !constants[idx].hi)
		return zero(false);
	sticky = constants[idx].lo != 0; /* irrational: bits beyond the 128 */
	return finish(false, (int32_t)constants[idx].se - EXP_BIAS - 127,
		      ((u128)constants[idx].hi << 64) | constants[idx].lo, sticky, &env);
}

F80 f80_scale(F80 a, F80 b, F80Env *env)
{
	enum f80_class ca = f80_classify(a), cb = f80_classify(b);
	F80 r;
	Unp ua, ub;
	int32_t n = 0;

	if (special2(a, b, env, &r))
		return r;
	ua = unpack(a, env);
	ub = unpack(b, env);
	if (ca == F80_ZERO)
		return cb == F80_INF && !ub.sign ? invalid(env) : a;
	if (ca == F80_INF)
		return cb == F80_INF && ub.sign ? invalid(env) : a;
	if (cb == F80_INF)
		return ub.sign ? zero(ua.sign) : inf(ua.sign);
	if (ub.mant && ub.exp >= 0) {
		/* trunc(b), clamped far beyond any exponent that can matter */
		n = ub.exp > 20 ? 1 << 21 : (int32_t)(ub.mant >> (63 - ub.exp));
		if (ub.sign)
			n = -n;
	}
	{
		F80Env e64 = *env;
		e64.prec = 64;
		r = finish(ua.sign, ua.exp - 63 + n, ua.mant, false, &e64);
		env->flags = e64.flags;
		env->c1 = e64.c1;
	}
	return r;
}

void f80_xtract(F80 a, F80Env *env, F80 *exponent, F80 *significand)
{
	enum f80_class c = f80_classify(a);
	Unp u;

	if (special1(a, env, exponent)) {
		*significand = *exponent;
		return;
	}
	if (c == F80_ZERO) {
		env->flags |= FX_ZE;
		*exponent = inf(true);
		*significand = a;
		return;
	}
	if (c == F80_INF) {
		*exponent = inf(false);
		*significand = a;
		return;
	}
	u = unpack(a, env);
	*exponent = f80_from_int(u.exp);
	*significand = make(u.sign, EXP_BIAS, u.mant);
}

/* An operand given back unchanged, but in canonical form (a pseudo-denormal
 * gets exponent 1, as the hardware does); exact, so no flags. */
static F80 renormalize(Unp u, F80Env *env)
{
	F80Env e = *env;

	e.prec = 64;
	e.masks |= FX_UE;
	return finish_unp(u, &e);
}

/*
 * FPREM/FPREM1.  With exponent difference d < 64 the remainder is exact and
 * complete; otherwise one partial step removes N bits of quotient (the SDM
 * leaves N to the implementation, between 32 and 63) and C2 tells the
 * program to loop.
 */
F80 f80_rem(F80 a, F80 b, bool ieee, F80Env *env, unsigned *quot, bool *partial)
{
	enum f80_class ca = f80_classify(a), cb = f80_classify(b);
	F80 r;
	Unp ua, ub;
	int32_t d, scale;
	u128 num, den, q, rem;
	bool sign;

	*quot = 0;
	*partial = false;
	if (special2(a, b, env, &r))
		return r;
	ua = unpack(a, env);
	ub = unpack(b, env);
	if (ca == F80_INF || cb == F80_ZERO)
		return invalid(env);
	if (ca == F80_ZERO)
		return a;
	d = ua.exp - ub.exp;
	if (cb == F80_INF || d < -1 || (d == -1 && !ieee))
		return renormalize(ua, env);
	sign = ua.sign;
	if (d >= 64) {
		/* N = 32 + d mod 32: what current Intel parts do (the result
		 * exponent stays a multiple of 32 above ST(1)'s) */
		int32_t n = 32 + d % 32;
		*partial = true;
		scale = ub.exp + (d - n) - 64;
		d = n;
	} else {
		scale = ub.exp - 64;
	}
	num = (u128)ua.mant << (d + 1);
	den = (u128)ub.mant << 1;
	q = num / den;
	rem = num % den;
	if (ieee && !*partial && (2 * rem > den || (2 * rem == den && (q & 1)))) {
		rem = den - rem;
		sign = !sign;
		q++;
	}
	*quot = (unsigned)(q & 7);
	if (!rem)
		return zero(ua.sign);
	{
		F80Env e64 = *env;
		e64.prec = 64;
		r = finish(sign, scale, rem, false, &e64);
		env->flags = e64.flags;
	}
	return r;
}

/* ---- transcendental functions: a 256-bit software float ---- */

#define XL    4 /* 64-bit limbs, m[XL - 1] the most significant */
#define XBITS (64 * XL)
#define XSTOP 270 /* series stop: term below 2^-270 of the sum */

/* sign * m * 2^(exp - 255), m normalized (bit 255 set) unless zero.  The
 * operations truncate; 256 bits leave ~190 guard bits over the result. */
typedef struct Xf {
	bool neg;
	int32_t exp;
	uint64_t m[XL];
} Xf;

static const Xf xf_one = {false, 0, {0, 0, 0, 1ull << 63}};
static const Xf xf_ln2 = {
    false,
    -1,
    {0x8a0d175b8baafa2bull, 0x40f343267298b62dull, 0xc9e3b39803f2f6afull, 0xb17217f7d1cf79abull}};
static const Xf xf_log2e = {
    false,
    0,
    {0x8b25166cd1a13247ull, 0xeb577aa8dd695a58ull, 0xbe87fed0691d3e88ull, 0xb8aa3b295c17f0bbull}};
static const Xf xf_pi = {
    false,
    1,
    {0x020bbea63b139b22ull, 0x29024e088a67cc74ull, 0xc4c6628b80dc1cd1ull, 0xc90fdaa22168c234ull}};

static bool xf_is_zero(const Xf *a)
{
	return !(a->m[0] | a->m[1] | a->m[2] | a->m[3]);
}

static void xf_norm(Xf *a)
{
	int s;

	if (xf_is_zero(a)) {
		a->exp = 0;
		return;
	}
	while (!a->m[XL - 1]) {
		memmove(a->m + 1, a->m, (XL - 1) * sizeof(a->m[0]));
		a->m[0] = 0;
		a->exp -= 64;
	}
	s = __builtin_clzll(a->m[XL - 1]);
	if (s) {
		for (int i = XL - 1; i > 0; i--)
			a->m[i] = a->m[i] << s | a->m[i - 1] >> (64 - s);
		a->m[0] <<= s;
		a->exp -= s;
	}
}

static void mag_shr(uint64_t *m, int32_t n)
{
	int w, b;

	if (n >= XBITS) {
		memset(m, 0, XL * sizeof(m[0]));
		return;
	}
	w = n / 64;
	b = n % 64;
	for (int i = 0; i < XL; i++) {
		uint64_t lo = i + w < XL ? m[i + w] : 0;
		uint64_t hi = i + w + 1 < XL ? m[i + w + 1] : 0;
		m[i] = b ? lo >> b | hi << (64 - b) : lo;
	}
}

static void mag_shl1(uint64_t *m)
{
	for (int i = XL - 1; i > 0; i--)
		m[i] = m[i] << 1 | m[i - 1] >> 63;
	m[0] <<= 1;
}

static int mag_cmp(const uint64_t *a, const uint64_t *b)
{
	for (int i = XL - 1; i >= 0; i--)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

static bool mag_add(uint64_t *r, const uint64_t *b)
{
	bool carry = false;

	for (int i = 0; i < XL; i++) {
		uint64_t s = r[i] + b[i];
		bool c = s < r[i];
		r[i] = s + carry;
		carry = c || r[i] < s;
	}
	return carry;
}

static void mag_sub(uint64_t *r, const uint64_t *b)
{
	bool borrow = false;

	for (int i = 0; i < XL; i++) {
		uint64_t d = r[i] - b[i];
		bool c = r[i] < b[i];
		r[i] = d - borrow;
		borrow = c || d < (uint64_t)borrow;
	}
}

static Xf xf_add(Xf a, Xf b)
{
	Xf t;

	if (xf_is_zero(&b))
		return a;
	if (xf_is_zero(&a))
		return b;
	if (a.exp < b.exp || (a.exp == b.exp && mag_cmp(a.m, b.m) < 0)) {
		t = a;
		a = b;
		b = t;
	}
	mag_shr(b.m, a.exp - b.exp > XBITS ? XBITS : a.exp - b.exp);
	if (a.neg == b.neg) {
		if (mag_add(a.m, b.m)) {
			mag_shr(a.m, 1);
			a.m[XL - 1] |= 1ull << 63;
			a.exp++;
		}
	} else {
		mag_sub(a.m, b.m);
		xf_norm(&a);
	}
	return a;
}

static Xf xf_neg(Xf a)
{
	a.neg = !a.neg;
	return a;
}

static Xf xf_sub(Xf a, Xf b)
{
	return xf_add(a, xf_neg(b));
}

static Xf xf_mul(Xf a, Xf b)
{
	uint64_t p[2 * XL] = {0};
	Xf r = {a.neg ^ b.neg, a.exp + b.exp + 1, {0}};

	if (xf_is_zero(&a) || xf_is_zero(&b))
		return r.exp = 0, r;
	for (int i = 0; i < XL; i++) {
		u128 carry = 0;
		for (int j = 0; j < XL; j++) {
			u128 t = (u128)a.m[i] * b.m[j] + p[i + j] + carry;
			p[i + j] = (uint64_t)t;
			carry = t >> 64;
		}
		p[i + XL] = (uint64_t)carry;
	}
	memcpy(r.m, p + XL, sizeof(r.m));
	if (!(r.m[XL - 1] >> 63)) {
		mag_shl1(r.m);
		r.m[0] |= p[XL - 1] >> 63;
		r.exp--;
	}
	return r;
}

/* Restoring division, 256 quotient bits.  The callers never divide by 0. */
static Xf xf_div(Xf a, Xf b)
{
	Xf q = {a.neg ^ b.neg, a.exp - b.exp, {0}};
	uint64_t r[XL];
	int pos = XBITS - 1;

	if (xf_is_zero(&a) || xf_is_zero(&b))
		return q.exp = 0, q;
	memcpy(r, a.m, sizeof(r));
	for (int step = 0; pos >= 0; step++) {
		bool carry = false, bit;
		if (step) {
			carry = r[XL - 1] >> 63;
			mag_shl1(r);
		}
		bit = carry || mag_cmp(r, b.m) >= 0;
		if (bit)
			mag_sub(r, b.m);
		if (!step && !bit) { /* ma < mb: the first bit weighs 1/2 */
			q.exp--;
			continue;
		}
		if (bit)
			q.m[pos / 64] |= 1ull << (pos % 64);
		pos--;
	}
	return q;
}

static Xf xf_from_u128(bool neg, u128 v, int32_t scale)
{
	Xf r = {neg, scale + 127, {0, 0, (uint64_t)v, (uint64_t)(v >> 64)}};

	xf_norm(&r);
	return r;
}

static Xf xf_from_int(int64_t v)
{
	return xf_from_u128(v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 0);
}

static Xf xf_from_unp(Unp u)
{
	Xf r = {u.sign, u.mant ? u.exp : 0, {0, 0, 0, u.mant}};
	return r;
}

/* a / d for a small integer d: long division on 5 limbs, then normalize. */
static Xf xf_div_small(Xf a, uint64_t d)
{
	uint64_t x[XL + 1] = {0};
	u128 rem = 0;
	Xf r = {a.neg, a.exp, {0}};
	int s;

	memcpy(x + 1, a.m, sizeof(a.m));
	for (int i = XL; i >= 0; i--) {
		u128 cur = rem << 64 | x[i];
		x[i] = (uint64_t)(cur / d);
		rem = cur % d;
	}
	if (!x[XL]) { /* the quotient lost a whole limb (d >= the top limb) */
		memmove(x + 1, x, XL * sizeof(x[0]));
		x[0] = 0;
		r.exp -= 64;
	}
	if (!x[XL])
		return r.exp = 0, r;
	s = __builtin_clzll(x[XL]);
	for (int i = 0; i < XL; i++)
		r.m[i] = s ? x[i + 1] << s | x[i] >> (64 - s) : x[i + 1];
	r.exp -= s;
	return r;
}

static Xf xf_small(uint64_t v)
{
	return xf_from_u128(false, v, 0);
}

/* Round to the 80-bit format (64 bits, env->rc); @exact: the Xf value is
 * the exact result, otherwise it stands for an irrational one. */
static F80 xf_to_f80(Xf x, bool exact, F80Env *env)
{
	F80Env e64 = *env;
	F80 r;

	if (xf_is_zero(&x))
		return zero(x.neg);
	e64.prec = 64;
	r = finish(x.neg, x.exp - 127, (u128)x.m[3] << 64 | x.m[2], !exact || x.m[1] || x.m[0],
		   &e64);
	env->flags = e64.flags;
	env->c1 = e64.c1;
	return r;
}

static bool xf_done(const Xf *term, const Xf *sum)
{
	return xf_is_zero(term) || term->exp < sum->exp - XSTOP;
}

/* e^t - 1: series on t / 2^k, then k times expm1(2s) = E (E + 2), which
 * keeps the relative accuracy of small results. */
static Xf xf_expm1(Xf t)
{
	Xf sum, term, two = xf_small(2);
	int k = 0;

	if (xf_is_zero(&t))
		return t;
	if (t.exp > -10) {
		k = t.exp + 10;
		t.exp -= k;
	}
	sum = term = t;
	for (uint64_t n = 2;; n++) {
		term = xf_div_small(xf_mul(term, t), n);
		if (xf_done(&term, &sum))
			break;
		sum = xf_add(sum, term);
	}
	while (k--)
		sum = xf_mul(sum, xf_add(sum, two));
	return sum;
}

/* 2 atanh(z) = ln((1 + z) / (1 - z)), |z| small. */
static Xf xf_atanh2(Xf z)
{
	Xf z2 = xf_mul(z, z), p = z, sum = z;

	for (uint64_t k = 3;; k += 2) {
		Xf t;
		p = xf_mul(p, z2);
		t = xf_div_small(p, k);
		if (xf_done(&t, &sum))
			break;
		sum = xf_add(sum, t);
	}
	sum.exp++;
	return sum;
}

/* log2(w), w > 0.  Exact (and *k set) when w is a power of two. */
static Xf xf_log2(Xf w, bool *exact, int32_t *k)
{
	static const uint64_t sqrt2_top = 0xB504F333F9DE6484ull;
	int32_t e = w.exp;
	Xf m = w, z;

	m.exp = 0;
	m.neg = false;
	*exact = m.m[3] == 1ull << 63 && !m.m[2] && !m.m[1] && !m.m[0];
	*k = e;
	if (*exact)
		return xf_from_int(e);
	if (m.m[3] > sqrt2_top) { /* m in [sqrt(1/2), sqrt(2)] */
		m.exp = -1;
		e++;
	}
	z = xf_div(xf_sub(m, xf_one), xf_add(m, xf_one));
	return xf_add(xf_mul(xf_atanh2(z), xf_log2e), xf_from_int(e));
}

/* log2(1 + x), x > -1. */
static Xf xf_log2p1(Unp u, bool *exact, int32_t *k)
{
	Xf x = xf_from_unp(u);

	if (u.exp <= -3) { /* |x| < 1/4: 2 atanh(x / (2 + x)) keeps small x exact */
		*exact = false;
		return xf_mul(xf_atanh2(xf_div(x, xf_add(xf_small(2), x))), xf_log2e);
	}
	return xf_log2(xf_add(xf_one, x), exact, k);
}

/* atan(x) for 0 <= x <= 1: Euler's series, sum of
 * t_n = x / (1 + x^2) * prod (2i / (2i + 1)) * y^n with y = x^2 / (1 + x^2). */
static Xf xf_atan01(Xf x)
{
	Xf pi4 = xf_pi, x2, d, y, t, sum;
	bool big = x.exp >= -1; /* x >= 1/2: atan x = pi/4 - atan((1-x)/(1+x)) */

	pi4.exp -= 2;
	if (big)
		x = xf_div(xf_sub(xf_one, x), xf_add(xf_one, x));
	if (xf_is_zero(&x))
		return big ? pi4 : x;
	x2 = xf_mul(x, x);
	d = xf_add(xf_one, x2);
	y = xf_div(x2, d);
	sum = t = xf_div(x, d);
	for (uint64_t n = 0;; n++) {
		t = xf_div_small(xf_mul(xf_mul(t, y), xf_small(2 * n + 2)), 2 * n + 3);
		if (xf_done(&t, &sum))
			break;
		sum = xf_add(sum, t);
	}
	return big ? xf_sub(pi4, sum) : sum;
}

/* sin and cos of r, |r| <= pi/4, by their Taylor series. */
static void xf_sincos_small(Xf r, Xf *s, Xf *c)
{
	Xf r2 = xf_neg(xf_mul(r, r)), term;

	*s = term = r;
	for (uint64_t n = 1;; n++) {
		term = xf_div_small(xf_mul(term, r2), 2 * n * (2 * n + 1));
		if (xf_done(&term, s))
			break;
		*s = xf_add(*s, term);
	}
	*c = term = xf_one;
	for (uint64_t n = 1;; n++) {
		term = xf_div_small(xf_mul(term, r2), (2 * n - 1) * 2 * n);
		if (xf_done(&term, c))
			break;
		*c = xf_add(*c, term);
	}
}

/*
 * sin and cos of a finite |x| < 2^63.  Like the P6, the argument is reduced
 * modulo pi/2 with the 66-bit value of pi (SDM vol. 1 8.3.10), exactly:
 * FSIN(FLDPI) gives -2^-64 as the hardware does, not the true sin.
 * *exact: the reduced argument is 0 (results 0 or +-1).
 */
static void xf_sincos(Unp u, Xf *sinx, Xf *cosx, bool *exact)
{
	const u128 pio2 = (u128)3 << 64 | 0x243F6A8885A308D3ull; /* pi66 / 2 * 2^65 */
	unsigned k = 0;
	Xf r, s, c;

	if (!u.mant || u.exp < -1) {
		r = xf_from_unp(u);
		r.neg = false;
	} else {
		u128 x = (u128)u.mant << (u.exp + 2); /* in units of 2^-65 */
		u128 q = x / pio2, rem = x % pio2;
		bool neg = false;
		if (2 * rem > pio2) {
			q++;
			rem = pio2 - rem;
			neg = true;
		}
		k = (unsigned)(q & 3);
		r = xf_from_u128(neg, rem, -65);
	}
	*exact = xf_is_zero(&r);
	xf_sincos_small(r, &s, &c);
	switch (k) {
	case 0:
		*sinx = s;
		*cosx = c;
		break;
	case 1:
		*sinx = c;
		*cosx = xf_neg(s);
		break;
	case 2:
		*sinx = xf_neg(s);
		*cosx = xf_neg(c);
		break;
	default:
		*sinx = xf_neg(c);
		*cosx = s;
		break;
	}
	if (u.sign)
		*sinx = xf_neg(*sinx);
}

bool f80_trig_out_of_range(F80 a)
{
	enum f80_class c = f80_classify(a);

	return (c == F80_NORMAL) && (int)(a.se & 0x7FFF) - EXP_BIAS >= 63;
}

enum trig_kind { TRIG_SIN, TRIG_COS, TRIG_TAN };

static F80 trig(enum trig_kind kind, F80 a, F80Env *env)
{
	Xf s, c;
	bool exact;
	F80 r;

	if (special1(a, env, &r))
		return r;
	if (f80_classify(a) == F80_INF)
		return invalid(env);
	if (f80_classify(a) == F80_ZERO && kind != TRIG_COS)
		return a;
	xf_sincos(unpack(a, env), &s, &c, &exact);
	switch (kind) {
	case TRIG_SIN:
		return xf_to_f80(s, exact, env);
	case TRIG_COS:
		return xf_to_f80(c, exact, env);
	default:
		if (xf_is_zero(&c)) { /* only for an exact multiple of pi66 / 2 */
			env->flags |= FX_ZE;
			return inf(s.neg);
		}
		return xf_to_f80(xf_div(s, c), exact, env);
	}
}

F80 f80_sin(F80 a, F80Env *env)
{
	return trig(TRIG_SIN, a, env);
}

F80 f80_cos(F80 a, F80Env *env)
{
	return trig(TRIG_COS, a, env);
}

F80 f80_tan(F80 a, F80Env *env)
{
	return trig(TRIG_TAN, a, env);
}

F80 f80_f2xm1(F80 a, F80Env *env)
{
	F80 r;
	Unp u;

	if (special1(a, env, &r))
		return r;
	if (f80_classify(a) == F80_INF)
		return f80_sign(a) ? make(true, EXP_BIAS, 1ull << 63) : a;
	if (f80_classify(a) == F80_ZERO)
		return a;
	u = unpack(a, env);
	if (u.exp > 0 || (u.exp == 0 && u.mant != 1ull << 63)) {
		env->flags |= FX_PE; /* |x| > 1: the operand stays, PE (host x87) */
		return a;
	}
	if (u.exp >= 0 && !(u.mant << (u.exp + 1))) { /* integer: exact */
		int32_t n = (int32_t)(u.mant >> (63 - u.exp));
		Xf p = xf_one;
		p.exp = u.sign ? -n : n;
		if (n <= 200)
			return xf_to_f80(xf_sub(p, xf_one), true, env);
	}
	return xf_to_f80(xf_expm1(xf_mul(xf_from_unp(u), xf_ln2)), false, env);
}

F80 f80_atan2(F80 y, F80 x, F80Env *env)
{
	enum f80_class cy = f80_classify(y), cx = f80_classify(x);
	bool sx = f80_sign(x);
	Xf r, pi2 = xf_pi;
	F80 res;

	if (special2(y, x, env, &res))
		return res;
	note_denormal(y, env);
	note_denormal(x, env);
	pi2.exp--;
	if (cy == F80_ZERO) {
		r = sx ? xf_pi : xf_from_int(0);
	} else if (cx == F80_ZERO) {
		r = pi2;
	} else if (cy == F80_INF) {
		Xf pi4 = xf_pi;
		pi4.exp -= 2;
		r = cx != F80_INF ? pi2 : sx ? xf_sub(xf_pi, pi4) : pi4;
	} else if (cx == F80_INF) {
		r = sx ? xf_pi : xf_from_int(0);
	} else {
		Unp uy = unpack_raw(y), ux = unpack_raw(x);
		Xf ay = xf_from_unp(uy), ax = xf_from_unp(ux);
		ay.neg = ax.neg = false;
		if (cmp_unp(uy, ux) <= 0)
			r = xf_atan01(xf_div(ay, ax));
		else
			r = xf_sub(pi2, xf_atan01(xf_div(ax, ay)));
		if (sx)
			r = xf_sub(xf_pi, r);
	}
	r.neg = f80_sign(y);
	return xf_to_f80(r, xf_is_zero(&r), env);
}

/*
 * y * log2(x) (FYL2X) or y * log2(x + 1) (FYL2XP1), with the special cases
 * of the SDM tables: log of a negative number and 0 * inf are invalid; log
 * of zero times a finite nonzero y is a division by zero.
 */
static F80 y_log2(F80 x, F80 y, bool plus1, F80Env *env)
{
	enum f80_class cx = f80_classify(x), cy = f80_classify(y);
	bool sx = f80_sign(x), sy = f80_sign(y), log_inf = false, zsign = false, exact;
	int below; /* sign of the logarithm: -1, 0, 1; -2 outside the domain */
	int32_t k;
	Unp ux;
	Xf l;
	F80 res;

	if (special2(x, y, env, &res))
		return res;
	note_denormal(x, env);
	note_denormal(y, env);
	ux = unpack_raw(x);
	if (cx == F80_INF) {
		below = sx ? -2 : 1;
		log_inf = true;
	} else if (cx == F80_ZERO) {
		below = plus1 ? 0 : -1;
		log_inf = !plus1;
		zsign = plus1 && sx; /* log2(1 + -0) = -0 */
	} else if (plus1) {
		int vs1 = ux.exp > 0 || (ux.exp == 0 && ux.mant > 1ull << 63) ? 1
			  : ux.exp == 0 && ux.mant == 1ull << 63	      ? 0
									      : -1;
		below = !sx ? 1 : vs1 > 0 ? -2 : -1;
		log_inf = sx && vs1 == 0;
	} else {
		below = sx ? -2 : ux.exp < 0 ? -1 : ux.exp == 0 && ux.mant == 1ull << 63 ? 0 : 1;
	}
	if (below == -2)
		return invalid(env);
	if (log_inf) {
		if (cy == F80_ZERO)
			return invalid(env);
		if (cy != F80_INF && cx != F80_INF)
			env->flags |= FX_ZE;
		return inf(sy ^ (below < 0));
	}
	if (cy == F80_INF)
		return below == 0 ? invalid(env) : inf(sy ^ (below < 0));
	if (below == 0)
		return zero(sy ^ zsign);
	if (cy == F80_ZERO)
		return zero(sy ^ (below < 0));
	l = plus1 ? xf_log2p1(ux, &exact, &k) : xf_log2(xf_from_unp(ux), &exact, &k);
	if (exact)
		return f80_mul(f80_from_int(k), y, env);
	return xf_to_f80(xf_mul(l, xf_from_unp(unpack_raw(y))), false, env);
}

F80 f80_yl2x(F80 x, F80 y, F80Env *env)
{
	return y_log2(x, y, false, env);
}

F80 f80_yl2xp1(F80 x, F80 y, F80Env *env)
{
	return y_log2(x, y, true, env);
}
