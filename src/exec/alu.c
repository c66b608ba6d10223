/*
 * alu.c - arithmetic, logic, shift and rotate operations with their flags.
 *
 * The common operations (ADD ADC SUB SBB CMP NEG AND OR XOR TEST INC DEC)
 * set flags lazily: they record the operation, its width, operands and
 * result, and cc_compute() derives the six arithmetic flags only when
 * something reads them.  Shifts and rotates compute flags at once.
 */
#include "x86.h"

static inline unsigned parity(uint32_t v)
{
	return __builtin_parity(v & 0xff) ? 0 : F_PF;
}

static uint32_t szp(uint32_t res, unsigned bits)
{
	uint32_t f = parity(res);

	res &= bits_mask(bits);
	if (!res)
		f |= F_ZF;
	if (res >> (bits - 1))
		f |= F_SF;
	return f;
}

uint32_t cc_compute(const CPU *cpu)
{
	unsigned bits = cpu->cc_bits;
	uint32_t m = bits_mask(bits), top = bits - 1;
	uint32_t res = cpu->cc_res & m, a = cpu->cc_a & m, b = cpu->cc_b & m;
	uint32_t f = szp(res, bits);

	switch (cpu->cc_op) {
	case CC_ADD:
		if ((uint64_t)a + b + cpu->cc_c > m)
			f |= F_CF;
		f |= (((a ^ res) & (b ^ res)) >> top & 1) ? F_OF : 0;
		f |= (a ^ b ^ res) & F_AF;
		break;
	case CC_SUB:
		if ((uint64_t)a < (uint64_t)b + cpu->cc_c)
			f |= F_CF;
		f |= (((a ^ b) & (a ^ res)) >> top & 1) ? F_OF : 0;
		f |= (a ^ b ^ res) & F_AF;
		break;
	case CC_INC:
		f |= cpu->cc_c ? F_CF : 0;
		f |= (((a ^ res) & (1 ^ res)) >> top & 1) ? F_OF : 0;
		f |= (a ^ 1 ^ res) & F_AF;
		break;
	case CC_DEC:
		f |= cpu->cc_c ? F_CF : 0;
		f |= (((a ^ 1) & (a ^ res)) >> top & 1) ? F_OF : 0;
		f |= (a ^ 1 ^ res) & F_AF;
		break;
	case CC_LOGIC:
		break;
	default:
		return cpu->flags & FLAGS_ARITH;
	}
	return f;
}

bool cc_zf(CPU *cpu)
{
	if (cpu->cc_op != CC_EAGER)
		return !(cpu->cc_res & bits_mask(cpu->cc_bits));
	return cpu->flags & F_ZF;
}

/* Conditions straight from a lazy CMP/SUB or logic result, the common
 * case before a Jcc; -1 when the flags must be computed. */
static int cond_fast(const CPU *cpu, unsigned cc)
{
	unsigned bits = cpu->cc_bits;
	uint32_t m = bits_mask(bits), res = cpu->cc_res & m;
	int32_t sres = (int32_t)sign_ext(res, bits);

	if (cpu->cc_op == CC_LOGIC) {
		switch (cc >> 1) {
		case 0: /* O */
		case 1: /* B */
			return 0;
		case 2: /* E */
			return res == 0;
		case 3: /* BE */
			return res == 0;
		case 4: /* S */
		case 6: /* L: SF != OF(0) */
			return sres < 0;
		case 7: /* LE */
			return res == 0 || sres < 0;
		}
		return -1;
	}
	if (cpu->cc_op == CC_SUB && !cpu->cc_c) {
		uint32_t a = cpu->cc_a & m, b = cpu->cc_b & m;
		int32_t sa = (int32_t)sign_ext(a, bits), sb = (int32_t)sign_ext(b, bits);

		switch (cc >> 1) {
		case 1:
			return a < b;
		case 2:
			return a == b;
		case 3:
			return a <= b;
		case 4:
			return sres < 0;
		case 6:
			return sa < sb;
		case 7:
			return sa <= sb;
		}
	}
	return -1;
}

bool cond_true(CPU *cpu, unsigned cc)
{
	if (cpu->cc_op == CC_LOGIC || cpu->cc_op == CC_SUB) {
		int r = cond_fast(cpu, cc);

		if (r >= 0)
			return (bool)r != (cc & 1);
	}
	uint32_t f = cpu_flags(cpu);
	bool r;

	switch ((cc >> 1) & 7) {
	case 0:
		r = f & F_OF;
		break;
	case 1:
		r = f & F_CF;
		break;
	case 2:
		r = f & F_ZF;
		break;
	case 3:
		r = f & (F_CF | F_ZF);
		break;
	case 4:
		r = f & F_SF;
		break;
	case 5:
		r = f & F_PF;
		break;
	case 6:
		r = !(f & F_SF) != !(f & F_OF);
		break;
	default:
		r = (f & F_ZF) || (!(f & F_SF) != !(f & F_OF));
		break;
	}
	return r != (cc & 1);
}

/* Store eagerly computed flags: SF/ZF/PF from @res, the rest from @other. */
void set_flags_szp(CPU *cpu, uint32_t res, unsigned bits, uint32_t other)
{
	/* all six arithmetic flags are replaced: no need to evaluate them */
	cpu->cc_op = CC_EAGER;
	cpu->flags = (cpu->flags & ~FLAGS_ARITH) | szp(res, bits) | (other & (F_CF | F_AF | F_OF));
}

static void set_cf_of(CPU *cpu, bool cf, bool of)
{
	uint32_t f = cpu_flags(cpu) & ~(F_CF | F_OF);

	cpu->flags = f | (cf ? F_CF : 0) | (of ? F_OF : 0);
}

/* RCL/RCR's count modulo bits + 1 (a count is under 32): without the
 * host's division, which a modulo by a value known only at run time is */
static unsigned rc_count(unsigned count, unsigned bits)
{
	while (bits < 32 && count > bits)
		count -= bits + 1;
	return count;
}

/* Group 2: ROL ROR RCL RCR SHL SHR SAL SAR; @count is already masked to 5
 * bits.  A zero count changes nothing, not even flags. */
uint32_t alu_shift(CPU *cpu, unsigned op, uint32_t a, unsigned count, unsigned bits)
{
	uint32_t m = bits_mask(bits), top = bits - 1, res;
	bool cf;

	a &= m;
	if (!count)
		return a;
	switch (op) {
	case 0: { /* ROL */
		unsigned n = count & top; /* count % bits: bits is a power of 2 */

		res = n ? ((a << n) | (a >> (bits - n))) & m : a;
		cf = res & 1;
		set_cf_of(cpu, cf, (res >> top & 1) ^ cf);
		return res;
	}
	case 1: { /* ROR */
		unsigned n = count & top; /* count % bits: bits is a power of 2 */

		res = n ? ((a >> n) | (a << (bits - n))) & m : a;
		cf = res >> top & 1;
		set_cf_of(cpu, cf, cf ^ (res >> (top - 1) & 1));
		return res;
	}
	case 2: { /* RCL: rotate the bits+1 wide value CF:a */
		unsigned n = rc_count(count, bits);
		uint64_t v = (uint64_t)a | (uint64_t)cc_cf(cpu) << bits;

		/* a count that is a multiple of bits+1 still sets OF (undefined:
		 * what the real chips do) */
		if (n)
			v = ((v << n) | (v >> (bits + 1 - n))) & (((uint64_t)1 << (bits + 1)) - 1);
		res = (uint32_t)v & m;
		cf = v >> bits & 1;
		set_cf_of(cpu, cf, (res >> top & 1) ^ cf);
		return res;
	}
	case 3: { /* RCR */
		unsigned n = rc_count(count, bits);
		uint64_t v = (uint64_t)a | (uint64_t)cc_cf(cpu) << bits;

		if (n)
			v = ((v >> n) | (v << (bits + 1 - n))) & (((uint64_t)1 << (bits + 1)) - 1);
		res = (uint32_t)v & m;
		cf = v >> bits & 1;
		set_cf_of(cpu, cf, (res >> top & 1) ^ (res >> (top - 1) & 1));
		return res;
	}
	case 4:
	case 6: /* SHL / SAL */
		res = (uint32_t)((uint64_t)a << count) & m;
		cf = ((uint64_t)a << (count - 1)) >> top & 1;
		set_flags_szp(cpu, res, bits,
			      (cf ? F_CF : 0) | (((res >> top & 1) ^ cf) ? F_OF : 0));
		return res;
	case 5: /* SHR */
		res = (uint32_t)((uint64_t)a >> count);
		cf = ((uint64_t)a >> (count - 1)) & 1;
		/* OF is defined for a count of 1 (the old sign); for larger counts
		 * it is the sign before the last step, as the real chips leave it */
		set_flags_szp(cpu, res, bits,
			      (cf ? F_CF : 0) |
				  ((((uint64_t)a >> (count - 1)) >> top & 1) ? F_OF : 0));
		return res;
	default: { /* SAR */
		int64_t s = (int32_t)sign_ext(a, bits);

		res = (uint32_t)(s >> count) & m;
		cf = (s >> (count - 1)) & 1;
		set_flags_szp(cpu, res, bits, cf ? F_CF : 0);
		return res;
	}
	}
}

/* SHLD / SHRD with @count masked to 5 bits.  For 16-bit operands with a
 * count above 16 the result is undefined; we shift through dst:src:dst. */
uint32_t alu_shld(CPU *cpu, uint32_t dst, uint32_t src, unsigned count, unsigned bits, bool right)
{
	uint32_t m = bits_mask(bits), top = bits - 1, res;
	bool cf;

	dst &= m;
	src &= m;
	if (!count)
		return dst;
	if (bits == 32) {
		if (!right) {
			uint64_t v = (uint64_t)dst << 32 | src;

			res = (uint32_t)((v << count) >> 32);
			cf = (dst >> (32 - count)) & 1;
		} else {
			uint64_t v = (uint64_t)src << 32 | dst;

			res = (uint32_t)(v >> count);
			cf = (dst >> (count - 1)) & 1;
		}
	} else {
		if (!right) {
			uint64_t v = (uint64_t)dst << 32 | (uint64_t)src << 16 | dst;

			res = (uint32_t)((v << count) >> 32) & m;
			cf = (uint32_t)((v << (count - 1)) >> 47) & 1;
		} else {
			/* the low 48 bits hold dst:src:dst, shifted right */
			uint64_t v = (uint64_t)dst | (uint64_t)src << 16 | (uint64_t)dst << 32;
			res = (uint32_t)(v >> count) & m;
			cf = (v >> (count - 1)) & 1;
		}
	}
	set_flags_szp(cpu, res, bits, (cf ? F_CF : 0) | (((res ^ dst) >> top & 1) ? F_OF : 0));
	return res;
}
