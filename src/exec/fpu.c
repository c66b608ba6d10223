/*
 * fpu.c - the x87 FPU: decoding of the escape opcodes D8-DF, the register
 * stack and tag word, exception flags and their masked/unmasked responses,
 * the status/control words and the environment and save images.  The
 * arithmetic itself lives in float80.c.
 */
#include <string.h>

#include "fpu.h"
#include "float80.h"

#define SW_ES	  0x0080
#define SW_C0	  0x0100
#define SW_C1	  0x0200
#define SW_C2	  0x0400
#define SW_C3	  0x4000
#define SW_B	  0x8000
#define SW_TOP	  0x3800
#define SW_CC	  (SW_C0 | SW_C1 | SW_C2 | SW_C3)
#define TOP_SHIFT 11

#define TAG_VALID   0
#define TAG_ZERO    1
#define TAG_SPECIAL 2
#define TAG_EMPTY   3

#define EFL_CF 0x0001
#define EFL_PF 0x0004
#define EFL_AF 0x0010
#define EFL_ZF 0x0040
#define EFL_SF 0x0080
#define EFL_OF 0x0800

/* ---- register stack ---- */

static unsigned top(const FPU *f)
{
	return (f->sw >> TOP_SHIFT) & 7;
}

static void set_top(FPU *f, unsigned t)
{
	f->sw = (uint16_t)((f->sw & ~SW_TOP) | ((t & 7) << TOP_SHIFT));
}

static unsigned phys(const FPU *f, unsigned i)
{
	return (top(f) + i) & 7;
}

static unsigned tag_for(F80 v)
{
	switch (f80_classify(v)) {
	case F80_NORMAL:
		return TAG_VALID;
	case F80_ZERO:
		return TAG_ZERO;
	default:
		return TAG_SPECIAL;
	}
}

static void set_tag(FPU *f, unsigned p, unsigned tag)
{
	f->tw = (uint16_t)((f->tw & ~(3u << (2 * p))) | (tag << (2 * p)));
}

static bool empty(const FPU *f, unsigned i)
{
	return ((f->tw >> (2 * phys(f, i))) & 3) == TAG_EMPTY;
}

static F80 get(const FPU *f, unsigned i)
{
	return f->st[phys(f, i)];
}

static void put(FPU *f, unsigned i, F80 v)
{
	unsigned p = phys(f, i);

	f->st[p] = v;
	set_tag(f, p, tag_for(v));
}

static void push(FPU *f, F80 v)
{
	set_top(f, top(f) - 1);
	put(f, 0, v);
}

static void pop(FPU *f)
{
	set_tag(f, phys(f, 0), TAG_EMPTY);
	set_top(f, top(f) + 1);
}

/* ---- status word, exceptions ---- */

static void set_cc(FPU *f, uint16_t mask, uint16_t bits)
{
	f->sw = (uint16_t)((f->sw & ~mask) | (bits & mask));
}

static void set_c1(FPU *f, bool v)
{
	set_cc(f, SW_C1, v ? SW_C1 : 0);
}

/* ES and B summarize the unmasked exceptions flagged in the status word. */
static void update_es(FPU *f)
{
	if (f->sw & ~f->cw & 0x3F)
		f->sw |= SW_ES | SW_B;
	else
		f->sw &= (uint16_t) ~(SW_ES | SW_B);
}

static void raise_flags(FPU *f, unsigned flags)
{
	f->sw |= (uint16_t)(flags & 0x7F);
	update_es(f);
}

static bool masked(const FPU *f, unsigned flag)
{
	return (f->cw & flag) != 0;
}

/* Unmasked IE, DE or ZE: the destination and TOP stay unchanged. */
static bool blocked(const FPU *f, unsigned flags)
{
	return (flags & ~f->cw & (FX_IE | FX_DE | FX_ZE)) != 0;
}

/* Raise the exceptions of an operation; true when an unmasked IE, DE or ZE
 * stops it (the operation is not carried out, so its PE/UE/OE go). */
static bool raise_op(FPU *f, unsigned flags)
{
	bool stop = blocked(f, flags);

	raise_flags(f, stop ? flags & (FX_IE | FX_DE | FX_ZE) : flags);
	return stop;
}

/* Stack overflow (push onto a full register) or underflow (empty source):
 * IE + SF, C1 tells which.  Returns true when IE is masked, i.e. the
 * instruction goes on with the real indefinite. */
static bool stack_fault(FPU *f, bool overflow)
{
	set_c1(f, overflow);
	raise_flags(f, FX_IE | FX_SF);
	return masked(f, FX_IE);
}

static F80Env env_for(const FPU *f, bool precision_control)
{
	static const unsigned pc_bits[4] = {24, 64, 53, 64}; /* 01 is reserved */
	F80Env e = {(f->cw >> 10) & 3, 64, f->cw & 0x3F, 0, false};

	if (precision_control)
		e.prec = pc_bits[(f->cw >> 8) & 3];
	return e;
}

/* ---- little-endian memory images ---- */

static uint64_t le_get(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | b[n];
	return v;
}

static void le_put(uint8_t *b, unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		b[i] = (uint8_t)v;
}

static F80 f80_get(const uint8_t *b)
{
	F80 v = {le_get(b, 8), (uint16_t)le_get(b + 8, 2)};
	return v;
}

static void f80_put(uint8_t *b, F80 v)
{
	le_put(b, 8, v.mant);
	le_put(b + 8, 2, v.se);
}

static void mem_read(const FPUMem *m, uint32_t disp, void *buf, unsigned len)
{
	m->read(m->cpu, m->seg, m->off + disp, buf, len);
}

static void mem_write(const FPUMem *m, uint32_t disp, const void *buf, unsigned len)
{
	m->write(m->cpu, m->seg, m->off + disp, buf, len);
}

/* ---- arithmetic ---- */

/* The /reg operation on x = ST(0) and y (the other operand). */
static F80 compute(unsigned reg, F80 x, F80 y, F80Env *env)
{
	switch (reg) {
	case 0:
		return f80_add(x, y, env);
	case 1:
		return f80_mul(x, y, env);
	case 4:
		return f80_sub(x, y, env);
	case 5:
		return f80_sub(y, x, env);
	case 6:
		return f80_div(x, y, env);
	default:
		return f80_div(y, x, env);
	}
}

/* ST(dst) = ST(0) op y, then pop if asked.  @pre: exceptions already
 * raised converting a memory operand. */
static void do_arith(FPU *f, unsigned reg, F80 y, bool y_empty, unsigned dst, bool pop_after,
		     unsigned pre)
{
	F80Env env = env_for(f, true);
	F80 r;

	if (empty(f, 0) || y_empty) {
		if (!stack_fault(f, false))
			return;
		r = f80_indefinite;
	} else {
		env.flags = pre;
		r = compute(reg, get(f, 0), y, &env);
		if (raise_op(f, env.flags))
			return;
		set_c1(f, env.c1);
	}
	put(f, dst, r);
	if (pop_after)
		pop(f);
}

/* Compare ST(0) with y: the relation in C3/C2/C0, or with @eflags in
 * ZF/PF/CF (FCOMI).  @pops: registers to pop afterwards. */
static void do_compare(FPU *f, F80 y, bool y_empty, bool quiet, unsigned pops, unsigned pre,
		       uint32_t *eflags)
{
	static const uint16_t cc[4] = {SW_C0, 0, 0, SW_C0 | SW_C2 | SW_C3};
	static const uint32_t efl[4] = {EFL_CF, 0, 0, EFL_CF | EFL_PF | EFL_ZF};
	F80Env env = env_for(f, false);
	bool stop;
	int rel;

	if (empty(f, 0) || y_empty) {
		stop = !stack_fault(f, false);
		rel = 2;
	} else {
		env.flags = pre;
		rel = f80_compare(get(f, 0), y, quiet, &env);
		stop = raise_op(f, env.flags);
		if (!stop)
			set_c1(f, false);
	}
	/* rel: -1, 0, 1, 2 (unordered) -> index 0, 1(=: ZF/C3), 2, 3.  The
	 * flags are set even when an unmasked IE stops the pop (a host x87
	 * does so, though the SDM says they are left). */
	if (eflags) {
		uint32_t v =
		    *eflags & ~(uint32_t)(EFL_CF | EFL_PF | EFL_ZF | EFL_OF | EFL_SF | EFL_AF);
		*eflags = v | (rel == 0 ? EFL_ZF : efl[rel + 1]);
	} else {
		set_cc(f, SW_C0 | SW_C2 | SW_C3, rel == 0 ? SW_C3 : cc[rel + 1]);
	}
	if (stop)
		return;
	while (pops--)
		pop(f);
}

/* Push a loaded value; @flags are those of the conversion (IE, DE). */
static void do_load(FPU *f, F80 v, bool v_empty, unsigned flags)
{
	if (v_empty || !empty(f, 7)) { /* an empty source is reported first */
		if (stack_fault(f, !v_empty))
			push(f, f80_indefinite);
		return;
	}
	/* An unmasked IE (SNaN) stops a load; an unmasked DE does not (what a
	 * host x87 does, though the SDM lists DE among the blocking ones). */
	raise_flags(f, flags);
	if (flags & ~f->cw & FX_IE)
		return;
	set_c1(f, false);
	push(f, v);
}

typedef F80 (*unary_fn)(F80 a, F80Env *env);

static F80 op_chs(F80 a, F80Env *env)
{
	(void)env;
	a.se ^= 0x8000;
	return a;
}

static F80 op_abs(F80 a, F80Env *env)
{
	(void)env;
	a.se &= 0x7FFF;
	return a;
}

/* ST(0) = fn(ST(0)). */
static void do_unary(FPU *f, unary_fn fn, bool precision_control)
{
	F80Env env = env_for(f, precision_control);
	F80 r;

	if (empty(f, 0)) {
		if (stack_fault(f, false))
			put(f, 0, f80_indefinite);
		return;
	}
	r = fn(get(f, 0), &env);
	if (raise_op(f, env.flags))
		return;
	set_c1(f, env.c1);
	put(f, 0, r);
}

/* ST(0) = r1 then push r2 (FPTAN, FSINCOS, FXTRACT). */
enum { TWO_TAN, TWO_SINCOS, TWO_XTRACT };

static void do_two_results(FPU *f, int kind)
{
	F80Env env = env_for(f, false);
	F80 a, r1, r2;

	if (empty(f, 0) || !empty(f, 7)) {
		if (kind != TWO_XTRACT)
			set_cc(f, SW_C2, 0);
		if (stack_fault(f, !empty(f, 0))) {
			put(f, 0, f80_indefinite);
			push(f, f80_indefinite);
		}
		return;
	}
	a = get(f, 0);
	if (kind != TWO_XTRACT) {
		bool out = f80_trig_out_of_range(a);
		set_cc(f, SW_C2, out ? SW_C2 : 0);
		if (out)
			return;
	}
	switch (kind) {
	case TWO_TAN:
		r1 = f80_tan(a, &env);
		r2 = f80_is_nan(r1) ? r1 : f80_constant(0, RC_NEAREST);
		break;
	case TWO_SINCOS:
		r1 = f80_sin(a, &env);
		r2 = f80_cos(a, &env);
		break;
	default:
		f80_xtract(a, &env, &r1, &r2);
		break;
	}
	if (raise_op(f, env.flags))
		return;
	set_c1(f, env.c1);
	put(f, 0, r1);
	push(f, r2);
}

/* FSIN, FCOS: C2 and the operand unchanged when |x| >= 2^63. */
static void do_trig(FPU *f, unary_fn fn)
{
	if (!empty(f, 0) && f80_trig_out_of_range(get(f, 0))) {
		set_cc(f, SW_C2, SW_C2);
		return;
	}
	set_cc(f, SW_C2, 0);
	do_unary(f, fn, false);
}

typedef F80 (*binary_fn)(F80 st0, F80 st1, F80Env *env);

static F80 op_yl2x(F80 st0, F80 st1, F80Env *env)
{
	return f80_yl2x(st0, st1, env);
}

static F80 op_yl2xp1(F80 st0, F80 st1, F80Env *env)
{
	return f80_yl2xp1(st0, st1, env);
}

static F80 op_atan(F80 st0, F80 st1, F80Env *env)
{
	return f80_atan2(st1, st0, env);
}

static F80 op_scale(F80 st0, F80 st1, F80Env *env)
{
	return f80_scale(st0, st1, env);
}

/* ST(dst) = fn(ST(0), ST(1)), dst 1 with a pop, or 0. */
static void do_binary(FPU *f, binary_fn fn, unsigned dst)
{
	F80Env env = env_for(f, false);
	F80 r;

	if (empty(f, 0) || empty(f, 1)) {
		if (!stack_fault(f, false))
			return;
		r = f80_indefinite;
	} else {
		r = fn(get(f, 0), get(f, 1), &env);
		if (raise_op(f, env.flags))
			return;
		set_c1(f, env.c1);
	}
	put(f, dst, r);
	if (dst)
		pop(f);
}

static void do_prem(FPU *f, bool ieee)
{
	F80Env env = env_for(f, false);
	unsigned q;
	bool partial;
	F80 r;

	if (empty(f, 0) || empty(f, 1)) {
		set_cc(f, SW_C2, 0);
		if (stack_fault(f, false))
			put(f, 0, f80_indefinite);
		return;
	}
	r = f80_rem(get(f, 0), get(f, 1), ieee, &env, &q, &partial);
	if (raise_op(f, env.flags))
		return;
	if (partial) /* the quotient bits read as 0, as on current parts */
		set_cc(f, SW_CC, SW_C2);
	else if (f80_is_nan(r)) /* NaN or invalid: C0 and C3 stay */
		set_cc(f, SW_C1 | SW_C2, 0);
	else
		set_cc(f, SW_CC, (q & 4 ? SW_C0 : 0) | (q & 2 ? SW_C3 : 0) | (q & 1 ? SW_C1 : 0));
	put(f, 0, r);
}

static void do_xam(FPU *f)
{
	/* C3 C2 C0 per class, C1 = sign */
	static const uint16_t cls[] = {
	    [F80_ZERO] = SW_C3,	   [F80_DENORMAL] = SW_C3 | SW_C2,
	    [F80_NORMAL] = SW_C2,  [F80_INF] = SW_C2 | SW_C0,
	    [F80_QNAN] = SW_C0,	   [F80_SNAN] = SW_C0,
	    [F80_UNSUPPORTED] = 0,
	};
	F80 v = get(f, 0);
	uint16_t cc = empty(f, 0) ? SW_C3 | SW_C0 : cls[f80_classify(v)];

	set_cc(f, SW_CC, cc | (f80_sign(v) ? SW_C1 : 0));
}

static void do_xch(FPU *f, unsigned i)
{
	F80 a = get(f, 0), b = get(f, i);

	if (empty(f, 0) || empty(f, i)) {
		if (!stack_fault(f, false))
			return;
		if (empty(f, 0))
			a = f80_indefinite;
		if (empty(f, i))
			b = f80_indefinite;
	} else {
		set_c1(f, false);
	}
	put(f, 0, b);
	put(f, i, a);
}

/* FST/FSTP ST(i). */
static void do_st_reg(FPU *f, unsigned i, bool pop_after)
{
	if (empty(f, 0)) {
		if (!stack_fault(f, false))
			return;
		put(f, i, f80_indefinite);
	} else {
		set_c1(f, false);
		put(f, i, get(f, 0));
	}
	if (pop_after)
		pop(f);
}

/* ---- stores to memory ---- */

enum store_kind { ST_F32, ST_F64, ST_F80, ST_I16, ST_I32, ST_I64, ST_BCD };

/*
 * Convert ST(0) for a store and write it.  Unmasked IE, OE, UE leave memory
 * and the stack alone (the handler sees the operand).  Status changes only
 * after the write, which may fault.
 */
static void do_store(FPU *f, const FPUMem *m, enum store_kind kind, bool pop_after)
{
	static const unsigned size[] = {4, 8, 10, 2, 4, 8, 10};
	F80Env env = env_for(f, false);
	uint8_t buf[10];
	bool fault = empty(f, 0);
	F80 v = fault ? f80_indefinite : get(f, 0);

	if (fault && !masked(f, FX_IE)) {
		stack_fault(f, false);
		return;
	}
	switch (kind) {
	case ST_F32:
		le_put(buf, 4, f80_to_f32(v, &env));
		break;
	case ST_F64:
		le_put(buf, 8, f80_to_f64(v, &env));
		break;
	case ST_F80:
		f80_put(buf, v);
		break;
	case ST_I16:
		le_put(buf, 2, (uint64_t)f80_to_int(v, 16, &env));
		break;
	case ST_I32:
		le_put(buf, 4, (uint64_t)f80_to_int(v, 32, &env));
		break;
	case ST_I64:
		le_put(buf, 8, (uint64_t)f80_to_int(v, 64, &env));
		break;
	default:
		f80_to_bcd(v, &env, buf);
		break;
	}
	if (fault) {
		env.flags = 0; /* the indefinite itself raises nothing more */
		env.c1 = false;
	}
	if (env.flags & ~f->cw & (FX_IE | FX_OE | FX_UE)) { /* nothing stored, no PE */
		raise_flags(f, env.flags & (FX_IE | FX_OE | FX_UE));
		return;
	}
	mem_write(m, 0, buf, size[kind]);
	if (fault) {
		stack_fault(f, false);
	} else {
		raise_flags(f, env.flags);
		set_c1(f, env.c1);
	}
	if (pop_after)
		pop(f);
}

/* ---- control: environment and save images ---- */

static uint16_t full_tag(const FPU *f)
{
	uint16_t tw = 0;

	for (unsigned p = 0; p < 8; p++) {
		unsigned t = (f->tw >> (2 * p)) & 3;
		if (t != TAG_EMPTY)
			t = tag_for(f->st[p]);
		tw |= (uint16_t)(t << (2 * p));
	}
	return tw;
}

static unsigned env_size(const FPUCtx *c)
{
	return c->op32 ? 28 : 14;
}

/*
 * The FSTENV image (SDM vol. 1 figures 8-9 to 8-12).  Real-mode layouts
 * hold 20/32-bit linear pointers (selector * 16 + offset) and the opcode;
 * the reserved upper halves of the 32-bit layouts are written as ones.
 */
static void env_store(const FPU *f, const FPUCtx *c, uint8_t *b)
{
	uint32_t ip = f->fip, dp = f->fdp;
	uint16_t fop = f->fop & 0x7FF;

	if (!c->pmode) {
		ip += (uint32_t)f->fcs << 4;
		dp += (uint32_t)f->fds << 4;
	}
	if (!c->op32) {
		le_put(b, 2, f->cw);
		le_put(b + 2, 2, f->sw);
		le_put(b + 4, 2, full_tag(f));
		if (c->pmode) {
			le_put(b + 6, 2, ip);
			le_put(b + 8, 2, f->fcs);
			le_put(b + 10, 2, dp);
			le_put(b + 12, 2, f->fds);
		} else {
			le_put(b + 6, 2, ip);
			le_put(b + 8, 2, ((ip >> 16) & 0xF) << 12 | fop);
			le_put(b + 10, 2, dp);
			le_put(b + 12, 2, ((dp >> 16) & 0xF) << 12);
		}
		return;
	}
	memset(b, 0xFF, 28);
	le_put(b, 2, f->cw);
	le_put(b + 4, 2, f->sw);
	le_put(b + 8, 2, full_tag(f));
	if (c->pmode) {
		le_put(b + 12, 4, ip);
		le_put(b + 16, 4, (uint32_t)fop << 16 | f->fcs);
		le_put(b + 20, 4, dp);
		le_put(b + 24, 2, f->fds);
	} else {
		le_put(b + 12, 2, ip);
		le_put(b + 16, 4, (ip >> 16) << 12 | fop);
		le_put(b + 20, 2, dp);
		le_put(b + 24, 4, (dp >> 16) << 12);
	}
}

static void load_cw(FPU *f, uint16_t cw)
{
	/* bits 6, 7, 13-15 are reserved; bit 6 reads as 1 */
	f->cw = (uint16_t)((cw & 0x1F3F) | 0x0040);
}

/* FLDENV: the 2-bit tags only say empty / not empty; the others come from
 * the register contents. */
static void env_load(FPU *f, const FPUCtx *c, const uint8_t *b)
{
	unsigned w = c->op32 ? 4 : 2;
	uint16_t tw = (uint16_t)le_get(b + 2 * w, 2);

	load_cw(f, (uint16_t)le_get(b, 2));
	f->sw = (uint16_t)le_get(b + w, 2);
	if (c->pmode) {
		f->fip = (uint32_t)le_get(b + 3 * w, w);
		f->fcs = (uint16_t)le_get(b + 4 * w, 2);
		if (c->op32)
			f->fop = (uint16_t)le_get(b + 18, 2) & 0x7FF;
		f->fdp = (uint32_t)le_get(b + 5 * w, w);
		f->fds = (uint16_t)le_get(b + 6 * w, 2);
	} else {
		uint32_t hi_ip = (uint32_t)le_get(b + 4 * w, w);
		uint32_t hi_dp = (uint32_t)le_get(b + 6 * w, w);
		uint32_t himask = c->op32 ? 0xFFFF : 0xF;
		f->fip = (uint32_t)le_get(b + 3 * w, 2) | ((hi_ip >> 12) & himask) << 16;
		f->fdp = (uint32_t)le_get(b + 5 * w, 2) | ((hi_dp >> 12) & himask) << 16;
		f->fop = hi_ip & 0x7FF;
		f->fcs = f->fds = 0;
	}
	for (unsigned p = 0; p < 8; p++) {
		bool e = ((tw >> (2 * p)) & 3) == TAG_EMPTY;
		set_tag(f, p, e ? TAG_EMPTY : tag_for(f->st[p]));
	}
	update_es(f);
}

static void finit(FPU *f)
{
	f->cw = 0x037F;
	f->sw = 0;
	f->tw = 0xFFFF;
	f->fop = 0;
	f->fip = f->fdp = 0;
	f->fcs = f->fds = 0;
}

void fpu_reset(FPU *f)
{
	memset(f->st, 0, sizeof(f->st));
	finit(f);
	f->ignne = false;
}

bool fpu_exception_pending(const FPU *f)
{
	return (f->sw & SW_ES) != 0;
}

static void do_fsave(FPU *f, const FPUMem *m, const FPUCtx *c)
{
	uint8_t img[108];
	unsigned n = env_size(c);

	env_store(f, c, img);
	for (unsigned i = 0; i < 8; i++)
		f80_put(img + n + 10 * i, get(f, i));
	mem_write(m, 0, img, n + 80);
	finit(f);
}

static void do_frstor(FPU *f, const FPUMem *m, const FPUCtx *c)
{
	uint8_t img[108];
	unsigned n = env_size(c);

	mem_read(m, 0, img, n + 80);
	/* TOP comes from the image's status word: load it first */
	f->sw = (uint16_t)le_get(img + (c->op32 ? 4 : 2), 2);
	for (unsigned i = 0; i < 8; i++)
		f->st[phys(f, i)] = f80_get(img + n + 10 * i);
	env_load(f, c, img);
}

/* ---- decoding: memory forms ---- */

/* D8/DA/DC/DE with a memory operand: m32fp, m32int, m64fp, m16int. */
static void mem_arith(FPU *f, unsigned op, unsigned reg, const FPUMem *m)
{
	static const unsigned size[4] = {4, 4, 8, 2};
	F80Env env = env_for(f, false);
	uint8_t buf[8];
	unsigned kind = op >> 1;
	uint64_t v;
	F80 y;

	mem_read(m, 0, buf, size[kind]);
	v = le_get(buf, size[kind]);
	switch (kind) {
	case 0:
		y = f80_from_f32((uint32_t)v, &env);
		break;
	case 1:
		y = f80_from_int((int32_t)(uint32_t)v);
		break;
	case 2:
		y = f80_from_f64(v, &env);
		break;
	default:
		y = f80_from_int((int16_t)(uint16_t)v);
		break;
	}
	/* An SNaN operand goes in as an SNaN: the operation raises IE and
	 * picks the NaN to deliver (a QNaN in ST(0) wins over it). */
	if (kind != 1 && kind != 3 && f80_is_nan(y) && (env.flags & FX_IE)) {
		y.mant &= ~(1ull << 62);
		env.flags &= ~(unsigned)FX_IE;
	}
	/* a NaN in ST(0) takes precedence over a denormal memory operand */
	if (!empty(f, 0) && (f80_is_nan(get(f, 0)) || f80_classify(get(f, 0)) == F80_UNSUPPORTED))
		env.flags &= ~(unsigned)FX_DE;
	if (reg == 2 || reg == 3)
		do_compare(f, y, false, false, reg == 3, env.flags, NULL);
	else
		do_arith(f, reg, y, false, 0, false, env.flags);
}

/* Loads: m32fp, m64fp, m80fp, m16/m32/m64int, m80bcd. */
static void mem_load(FPU *f, const FPUMem *m, enum store_kind kind)
{
	static const unsigned size[] = {4, 8, 10, 2, 4, 8, 10};
	F80Env env = env_for(f, false);
	uint8_t buf[10];
	uint64_t v;
	F80 r;

	mem_read(m, 0, buf, size[kind]);
	v = le_get(buf, size[kind] > 8 ? 8 : size[kind]);
	switch (kind) {
	case ST_F32:
		r = f80_from_f32((uint32_t)v, &env);
		break;
	case ST_F64:
		r = f80_from_f64(v, &env);
		break;
	case ST_F80:
		r = f80_get(buf);
		break;
	case ST_I16:
		r = f80_from_int((int16_t)(uint16_t)v);
		break;
	case ST_I32:
		r = f80_from_int((int32_t)(uint32_t)v);
		break;
	case ST_I64:
		r = f80_from_int((int64_t)v);
		break;
	default:
		r = f80_from_bcd(buf);
		break;
	}
	do_load(f, r, false, env.flags);
}

/* 0: done, FIP/FOP/FDP updated; 1: a control instruction (they are not);
 * -1: #UD.  The same for exec_reg(). */
static int exec_mem(FPU *f, unsigned op, unsigned reg, const FPUMem *m, const FPUCtx *c)
{
	uint8_t buf[108];

	if (!(op & 1)) {
		mem_arith(f, op, reg, m);
		return 0;
	}
	switch (op << 3 | reg) {
	case 1 << 3 | 0:
		mem_load(f, m, ST_F32);
		return 0;
	case 1 << 3 | 2:
	case 1 << 3 | 3:
		do_store(f, m, ST_F32, reg == 3);
		return 0;
	case 1 << 3 | 4: /* FLDENV */
		mem_read(m, 0, buf, env_size(c));
		env_load(f, c, buf);
		return 1;
	case 1 << 3 | 5: /* FLDCW */
		mem_read(m, 0, buf, 2);
		load_cw(f, (uint16_t)le_get(buf, 2));
		update_es(f);
		return 1;
	case 1 << 3 | 6: /* FNSTENV */
		env_store(f, c, buf);
		mem_write(m, 0, buf, env_size(c));
		f->cw |= 0x3F;
		return 1;
	case 1 << 3 | 7: /* FNSTCW */
		le_put(buf, 2, f->cw);
		mem_write(m, 0, buf, 2);
		return 1;
	case 3 << 3 | 0:
		mem_load(f, m, ST_I32);
		return 0;
	case 3 << 3 | 2:
	case 3 << 3 | 3:
		do_store(f, m, ST_I32, reg == 3);
		return 0;
	case 3 << 3 | 5:
		mem_load(f, m, ST_F80);
		return 0;
	case 3 << 3 | 7:
		do_store(f, m, ST_F80, true);
		return 0;
	case 5 << 3 | 0:
		mem_load(f, m, ST_F64);
		return 0;
	case 5 << 3 | 2:
	case 5 << 3 | 3:
		do_store(f, m, ST_F64, reg == 3);
		return 0;
	case 5 << 3 | 4:
		do_frstor(f, m, c);
		return 1;
	case 5 << 3 | 6:
		do_fsave(f, m, c);
		return 1;
	case 5 << 3 | 7: /* FNSTSW m16 */
		le_put(buf, 2, f->sw);
		mem_write(m, 0, buf, 2);
		return 1;
	case 7 << 3 | 0:
		mem_load(f, m, ST_I16);
		return 0;
	case 7 << 3 | 2:
	case 7 << 3 | 3:
		do_store(f, m, ST_I16, reg == 3);
		return 0;
	case 7 << 3 | 4:
		mem_load(f, m, ST_BCD);
		return 0;
	case 7 << 3 | 5:
		mem_load(f, m, ST_I64);
		return 0;
	case 7 << 3 | 6:
		do_store(f, m, ST_BCD, true);
		return 0;
	case 7 << 3 | 7:
		do_store(f, m, ST_I64, true);
		return 0;
	default: /* FISTTP (SSE3) and reserved encodings */
		return -1;
	}
}

/* ---- decoding: register forms ---- */

static bool fcmov_cond(unsigned reg, uint32_t efl)
{
	switch (reg & 3) {
	case 0:
		return efl & EFL_CF;
	case 1:
		return efl & EFL_ZF;
	case 2:
		return efl & (EFL_CF | EFL_ZF);
	default:
		return efl & EFL_PF;
	}
}

static void do_fcmov(FPU *f, unsigned i, bool cond)
{
	if (empty(f, 0) || empty(f, i)) {
		/* the indefinite goes to ST(0) whatever the condition (host x87) */
		if (stack_fault(f, false))
			put(f, 0, f80_indefinite);
		return;
	}
	set_c1(f, false);
	if (cond)
		put(f, 0, get(f, i));
}

static int exec_d9(FPU *f, unsigned reg, unsigned i)
{
	static const unary_fn unary7[8] = {
	    [2] = f80_sqrt,
	    [4] = f80_round_int,
	    [6] = f80_sin,
	    [7] = f80_cos,
	};

	switch (reg) {
	case 0: /* FLD ST(i) */
		do_load(f, get(f, i), empty(f, i), 0);
		return 0;
	case 1:
		do_xch(f, i);
		return 0;
	case 2:
		return i == 0 ? 0 : -1; /* FNOP */
	case 3: /* FSTP1 (FSTPNCE): FSTP ST(i), but an empty ST(0) is no fault */
		if (!empty(f, 0))
			put(f, i, get(f, 0));
		set_c1(f, false);
		pop(f);
		return 0;
	case 4:
		switch (i) {
		case 0:
			do_unary(f, op_chs, false);
			return 0;
		case 1:
			do_unary(f, op_abs, false);
			return 0;
		case 4: /* FTST */
			do_compare(f, f80_constant(6, RC_NEAREST), false, false, 0, 0, NULL);
			return 0;
		case 5:
			do_xam(f);
			return 0;
		default:
			return -1;
		}
	case 5:
		if (i == 7)
			return -1;
		do_load(f, f80_constant(i, (f->cw >> 10) & 3), false, 0);
		return 0;
	case 6:
		switch (i) {
		case 0:
			do_unary(f, f80_f2xm1, false);
			break;
		case 1:
			do_binary(f, op_yl2x, 1);
			break;
		case 2:
			do_two_results(f, TWO_TAN);
			break;
		case 3:
			do_binary(f, op_atan, 1);
			break;
		case 4:
			do_two_results(f, TWO_XTRACT);
			break;
		case 5:
			do_prem(f, true);
			break;
		case 6: /* FDECSTP */
			set_top(f, top(f) - 1);
			set_c1(f, false);
			break;
		default: /* FINCSTP */
			set_top(f, top(f) + 1);
			set_c1(f, false);
			break;
		}
		return 0;
	default:
		switch (i) {
		case 0:
			do_prem(f, false);
			break;
		case 1:
			do_binary(f, op_yl2xp1, 1);
			break;
		case 3:
			do_two_results(f, TWO_SINCOS);
			break;
		case 5:
			do_binary(f, op_scale, 0);
			break;
		case 6:
		case 7:
			do_trig(f, unary7[i]);
			break;
		default:
			do_unary(f, unary7[i], i == 2);
			break;
		}
		return 0;
	}
}

static int exec_reg(FPU *f, unsigned op, unsigned reg, unsigned i, const FPUCtx *c)
{
	switch (op) {
	case 0: /* D8: ST(0) = ST(0) op ST(i), FCOM, FCOMP */
		if (reg == 2 || reg == 3)
			do_compare(f, get(f, i), empty(f, i), false, reg == 3, 0, NULL);
		else
			do_arith(f, reg, get(f, i), empty(f, i), 0, false, 0);
		return 0;
	case 1:
		return exec_d9(f, reg, i);
	case 2: /* DA: FCMOVB/E/BE/U, FUCOMPP */
		if (reg < 4) {
			if (!c->eflags)
				return -1;
			do_fcmov(f, i, fcmov_cond(reg, *c->eflags));
			return 0;
		}
		if (reg == 5 && i == 1) {
			do_compare(f, get(f, 1), empty(f, 1), true, 2, 0, NULL);
			return 0;
		}
		return -1;
	case 3: /* DB: FCMOVNcc, FNCLEX, FNINIT, FUCOMI, FCOMI */
		if (reg < 4) {
			if (!c->eflags)
				return -1;
			do_fcmov(f, i, !fcmov_cond(reg, *c->eflags));
			return 0;
		}
		if (reg == 4) {
			switch (i) {
			case 0: /* FNENI, FNDISI, FNSETPM: no-ops since the 387 */
			case 1:
			case 4:
				return 1;
			case 2:
				f->sw &= 0x7F00;
				return 1;
			case 3:
				finit(f);
				return 1;
			default:
				return -1;
			}
		}
		if (reg == 5 || reg == 6) {
			if (!c->eflags)
				return -1;
			do_compare(f, get(f, i), empty(f, i), reg == 5, 0, 0, c->eflags);
			return 0;
		}
		return -1;
	case 4: /* DC: ST(i) = ST(0) op ST(i) (reversed sub/div naming) */
	case 6: /* DE: same and pop; DE D9 is FCOMPP */
		if (reg == 2 || (reg == 3 && op == 4)) {
			do_compare(f, get(f, i), empty(f, i), false, op == 6 || reg == 3, 0, NULL);
			return 0;
		}
		if (reg == 3) {
			if (i != 1)
				return -1;
			do_compare(f, get(f, 1), empty(f, 1), false, 2, 0, NULL);
			return 0;
		}
		do_arith(f, reg, get(f, i), empty(f, i), i, op == 6, 0);
		return 0;
	case 5: /* DD: FFREE, FXCH4, FST, FSTP, FUCOM, FUCOMP */
		switch (reg) {
		case 0: /* FFREE */
			set_tag(f, phys(f, i), TAG_EMPTY);
			set_c1(f, false);
			return 0;
		case 1:
			do_xch(f, i);
			return 0;
		case 2:
		case 3:
			do_st_reg(f, i, reg == 3);
			return 0;
		case 4:
		case 5:
			do_compare(f, get(f, i), empty(f, i), true, reg == 5, 0, NULL);
			return 0;
		default:
			return -1;
		}
	default: /* DF: FFREEP, FXCH7, FSTP8/9, FNSTSW AX, FUCOMIP, FCOMIP */
		switch (reg) {
		case 0: /* FFREEP */
			set_tag(f, phys(f, i), TAG_EMPTY);
			set_c1(f, false);
			pop(f);
			return 0;
		case 1:
			do_xch(f, i);
			return 0;
		case 2:
		case 3:
			do_st_reg(f, i, true);
			return 0;
		case 4:
			if (i != 0 || !c->ax)
				return -1;
			*c->ax = f->sw;
			return 1;
		case 5:
		case 6:
			if (!c->eflags)
				return -1;
			do_compare(f, get(f, i), empty(f, i), reg == 5, 1, 0, c->eflags);
			return 0;
		default:
			return -1;
		}
	}
}

enum fpu_result fpu_exec(FPU *f, unsigned opcode, unsigned modrm, const FPUMem *mem,
			 const FPUCtx *ctx)
{
	unsigned op = opcode & 7, reg = (modrm >> 3) & 7;
	int r;

	if (opcode < 0xD8 || opcode > 0xDF || modrm > 0xFF)
		return FPU_UD;
	if (modrm < 0xC0) {
		if (!mem)
			return FPU_UD;
		r = exec_mem(f, op, reg, mem, ctx);
	} else {
		r = exec_reg(f, op, reg, modrm & 7, ctx);
	}
	if (r < 0)
		return FPU_UD;
	if (r == 0) { /* a non-control instruction: remember where it was */
		f->fop = (uint16_t)(op << 8 | modrm);
		f->fip = ctx->ip;
		f->fcs = ctx->cs;
		if (modrm < 0xC0) {
			f->fdp = ctx->dp;
			f->fds = ctx->ds;
		}
	}
	return FPU_OK;
}
