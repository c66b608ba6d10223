/*
 * cpu.c - a digest of integer instructions, compared with what QEMU computes.
 *
 * Each group runs its instructions over a fixed set of operands and input
 * flags and folds the results and the output flags into an FNV-1a digest.
 * Only flags the SDM defines for an instruction are folded in (e.g. no AF
 * after AND, only CF/OF after MUL), so two correct CPUs agree bit for bit.
 * The expected digests are what qemu-system-i386 (TCG, QEMU 7.2) printed: a
 * mismatch means flashback and QEMU disagree, and the group's name says
 * where to look.  The CPUID vendor is printed but not part of any digest.
 */
#include "guest.h"

#define F_CF	   0x001
#define F_PF	   0x004
#define F_AF	   0x010
#define F_ZF	   0x040
#define F_SF	   0x080
#define F_OF	   0x800
#define F_RESERVED 0x002
#define F_ARITH	   (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_LOGIC	   (F_ARITH & ~F_AF)

struct res {
	u32 r, r2, f;
};
typedef struct res (*op_fn)(u32 a, u32 b, u32 f);

static u32 digest;

static void mix(u32 v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		digest = (digest ^ (v & 0xFF)) * 16777619u;
}

static const u32 operands[] = {
    0,	    1,		2,	    0x7F,	0x80,	    0xFF,	0x7FFF,	    0x8000,
    0xFFFF, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0x12345678, 0xDEADBEEF, 0x0F0F0F0F,
};
static const u32 counts[] = {0, 1, 2, 7, 8, 9, 15, 16, 31, 32, 33};
/* Input flags: all arithmetic flags clear, and all set. */
static const u32 flag_inputs[] = {F_RESERVED, F_RESERVED | F_ARITH};

#define FLAGS_IN  "push %[f]\n\tpopf\n\t"
#define FLAGS_OUT "\n\tpushf\n\tpop %[f]"

#define OP2(name, insn, size, cons)                                                                \
	static struct res name(u32 a, u32 b, u32 f)                                                \
	{                                                                                          \
		__asm__(FLAGS_IN insn " %" size "[b], %" size "[a]" FLAGS_OUT                      \
			: [a] "+" cons(a), [f] "+r"(f)                                             \
			: [b] cons(b)                                                              \
			: "cc");                                                                   \
		return (struct res){a, 0, f};                                                      \
	}
#define OP1(name, insn, size, cons)                                                                \
	static struct res name(u32 a, u32 b, u32 f)                                                \
	{                                                                                          \
		__asm__(FLAGS_IN insn " %" size "[a]" FLAGS_OUT                                    \
			: [a] "+" cons(a), [f] "+r"(f)                                             \
			:                                                                          \
			: "cc");                                                                   \
		return (struct res){a, 0, f};                                                      \
	}
#define OPCL(name, insn, size, cons)                                                               \
	static struct res name(u32 a, u32 b, u32 f)                                                \
	{                                                                                          \
		__asm__(FLAGS_IN insn " %%cl, %" size "[a]" FLAGS_OUT                              \
			: [a] "+" cons(a), [f] "+r"(f)                                             \
			: "c"(b)                                                                   \
			: "cc");                                                                   \
		return (struct res){a, 0, f};                                                      \
	}
#define OPSHD(name, insn)                                                                          \
	static struct res name(u32 a, u32 b, u32 f)                                                \
	{                                                                                          \
		__asm__(FLAGS_IN insn " %%cl, %[src], %[a]" FLAGS_OUT                              \
			: [a] "+r"(a), [f] "+r"(f)                                                 \
			: "c"(b), [src] "r"(a ^ 0x5A5AA5A5)                                        \
			: "cc");                                                                   \
		return (struct res){a, 0, f};                                                      \
	}

OP2(add32, "add", "", "r")
OP2(adc32, "adc", "", "r")
OP2(sub32, "sub", "", "r")
OP2(sbb32, "sbb", "", "r")
OP2(and32, "and", "", "r")
OP2(or32, "or", "", "r")
OP2(xor32, "xor", "", "r")
OP2(cmp32, "cmp", "", "r")
OP2(test32, "test", "", "r")
OP2(add8, "add", "b", "q")
OP2(sbb8, "sbb", "b", "q")
OP2(adc16, "adc", "w", "r")
OP2(sub16, "sub", "w", "r")
OP1(inc32, "inc", "", "r")
OP1(dec32, "dec", "", "r")
OP1(neg32, "neg", "", "r")
OP1(not32, "not", "", "r")
OP1(neg8, "neg", "b", "q")
OP2(imul32, "imul", "", "r")
OP2(bsf32, "bsf", "", "r")
OP2(bsr32, "bsr", "", "r")
OP2(bt32, "bt", "", "r")
OP2(bts32, "bts", "", "r")
OP2(btr32, "btr", "", "r")
OP2(btc32, "btc", "", "r")
OPCL(shl32, "shl", "", "r")
OPCL(shr32, "shr", "", "r")
OPCL(sar32, "sar", "", "r")
OPCL(rol32, "rol", "", "r")
OPCL(ror32, "ror", "", "r")
OPCL(rcl32, "rcl", "", "r")
OPCL(rcr32, "rcr", "", "r")
OPCL(shl8, "shl", "b", "q")
OPCL(sar16, "sar", "w", "r")
OPCL(rcl8, "rcl", "b", "q")
OPCL(rol16, "rol", "w", "r")
OPSHD(shld32, "shld")
OPSHD(shrd32, "shrd")

struct op {
	const char *name;
	op_fn fn;
	u32 mask; /* defined output flags */
};

/* ---- ALU: every operand pair, both flag inputs ---- */
static const struct op alu_ops[] = {
    {"add", add32, F_ARITH},	    {"adc", adc32, F_ARITH}, {"sub", sub32, F_ARITH},
    {"sbb", sbb32, F_ARITH},	    {"and", and32, F_LOGIC}, {"or", or32, F_LOGIC},
    {"xor", xor32, F_LOGIC},	    {"cmp", cmp32, F_ARITH}, {"test", test32, F_LOGIC},
    {"addb", add8, F_ARITH},	    {"sbbb", sbb8, F_ARITH}, {"adcw", adc16, F_ARITH},
    {"subw", sub16, F_ARITH},	    {"inc", inc32, F_ARITH}, {"dec", dec32, F_ARITH},
    {"neg", neg32, F_ARITH},	    {"not", not32, F_ARITH}, {"negb", neg8, F_ARITH},
    {"imul2", imul32, F_CF | F_OF},
};

static void run_pairs(const struct op *ops, u32 n)
{
	for (u32 i = 0; i < n; i++)
		for (u32 a = 0; a < ARRAY_SIZE(operands); a++)
			for (u32 b = 0; b < ARRAY_SIZE(operands); b++)
				for (u32 fi = 0; fi < ARRAY_SIZE(flag_inputs); fi++) {
					struct res r =
					    ops[i].fn(operands[a], operands[b], flag_inputs[fi]);

					mix(r.r);
					mix(r.f & ops[i].mask);
				}
}

static void group_alu(void)
{
	run_pairs(alu_ops, ARRAY_SIZE(alu_ops));
}

/* ---- shifts and rotates: operands x counts; OF only for count 1, no AF;
 * a zero (masked) count leaves every flag alone ---- */
static const struct op shift_ops[] = {
    {"shl", shl32, F_LOGIC},   {"shr", shr32, F_LOGIC},	 {"sar", sar32, F_LOGIC},
    {"rol", rol32, F_ARITH},   {"ror", ror32, F_ARITH},	 {"rcl", rcl32, F_ARITH},
    {"rcr", rcr32, F_ARITH},   {"shlb", shl8, F_LOGIC},	 {"sarw", sar16, F_LOGIC},
    {"rclb", rcl8, F_ARITH},   {"rolw", rol16, F_ARITH}, {"shld", shld32, F_LOGIC},
    {"shrd", shrd32, F_LOGIC},
};

static void group_shift(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(shift_ops); i++)
		for (u32 a = 0; a < ARRAY_SIZE(operands); a++)
			for (u32 c = 0; c < ARRAY_SIZE(counts); c++)
				for (u32 fi = 0; fi < ARRAY_SIZE(flag_inputs); fi++) {
					const struct op *op = &shift_ops[i];
					u32 count = counts[c] & 31, mask = op->mask;
					struct res r;

					/* 8-bit RCL rotates by count mod 9: keep to
					 * counts that really rotate. */
					if (op->fn == rcl8 && (count % 9) == 0)
						continue;
					if (count != 1)
						mask &= ~F_OF;
					/* SHL by the operand size or more: CF undefined. */
					if (op->fn == shl8 && count >= 8)
						mask &= ~F_CF;
					if (count == 0)
						mask = F_ARITH;
					r = op->fn(operands[a], counts[c], flag_inputs[fi]);
					mix(r.r);
					mix(r.f & mask);
				}
}

/* ---- multiply and divide ---- */
static void group_muldiv(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(operands); i++) {
		for (u32 j = 0; j < ARRAY_SIZE(operands); j++) {
			u32 a = operands[i], b = operands[j], lo, hi, f = F_RESERVED;

			__asm__(FLAGS_IN "mul %[b]" FLAGS_OUT
				: "=a"(lo), "=d"(hi), [f] "+r"(f)
				: "a"(a), [b] "r"(b)
				: "cc");
			mix(lo), mix(hi), mix(f & (F_CF | F_OF));
			f = F_RESERVED;
			__asm__(FLAGS_IN "imul %[b]" FLAGS_OUT
				: "=a"(lo), "=d"(hi), [f] "+r"(f)
				: "a"(a), [b] "r"(b)
				: "cc");
			mix(lo), mix(hi), mix(f & (F_CF | F_OF));
			f = F_RESERVED;
			__asm__(FLAGS_IN "imul $-12345, %[b], %[lo]" FLAGS_OUT
				: [lo] "=r"(lo), [f] "+r"(f)
				: [b] "r"(b)
				: "cc");
			mix(lo), mix(f & (F_CF | F_OF));
			f = F_RESERVED;
			__asm__(FLAGS_IN "mulb %b[b]" FLAGS_OUT
				: "=a"(lo), [f] "+r"(f)
				: "a"(a), [b] "q"(b)
				: "cc");
			mix(lo & 0xFFFF), mix(f & (F_CF | F_OF));
			if (b == 0)
				continue;
			/* DIV of (a % b):a by b never overflows. */
			__asm__("div %[b]"
				: "=a"(lo), "=d"(hi)
				: "a"(a), "d"(a % b), [b] "r"(b)
				: "cc");
			mix(lo), mix(hi);
			if (!(a == 0x80000000 && b == 0xFFFFFFFF)) {
				__asm__("cltd\n\tidiv %[b]"
					: "=a"(lo), "=d"(hi)
					: "a"(a), [b] "r"(b)
					: "cc");
				mix(lo), mix(hi);
			}
			if ((a & 0xFFFF) / (b & 0xFF ? b & 0xFF : 1) <= 0xFF && (b & 0xFF)) {
				__asm__("divb %b[b]"
					: "=a"(lo)
					: "a"(a & 0xFFFF), [b] "q"(b)
					: "cc");
				mix(lo & 0xFFFF);
			}
		}
	}
}

/* ---- bit operations ---- */
static void group_bits(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(operands); i++) {
		u32 a = operands[i], v;

		for (u32 fi = 0; fi < ARRAY_SIZE(flag_inputs); fi++) {
			struct res r = bsf32(0, a, flag_inputs[fi]);

			if (a)
				mix(r.r);
			mix(r.f & F_ZF);
			r = bsr32(0, a, flag_inputs[fi]);
			if (a)
				mix(r.r);
			mix(r.f & F_ZF);
		}
		for (u32 j = 0; j < ARRAY_SIZE(operands); j++) {
			u32 bit = operands[j];
			struct res r = bt32(a, bit, F_RESERVED);

			mix(r.f & F_CF);
			r = bts32(a, bit, F_RESERVED);
			mix(r.r), mix(r.f & F_CF);
			r = btr32(a, bit, F_RESERVED);
			mix(r.r), mix(r.f & F_CF);
			r = btc32(a, bit, F_RESERVED);
			mix(r.r), mix(r.f & F_CF);
		}
		v = a;
		__asm__("bswap %0" : "+r"(v));
		mix(v);
		__asm__("movsbl %b1, %0" : "=r"(v) : "q"(a));
		mix(v);
		__asm__("movswl %w1, %0" : "=r"(v) : "r"(a));
		mix(v);
		__asm__("movzbl %b1, %0" : "=r"(v) : "q"(a));
		mix(v);
		__asm__("movzwl %w1, %0" : "=r"(v) : "r"(a));
		mix(v);
	}
}

/* ---- SETcc: all 16 conditions over every combination of CF ZF SF OF PF ---- */
static void group_setcc(void)
{
	static const u32 bits[] = {F_CF, F_ZF, F_SF, F_OF, F_PF};

	for (u32 combo = 0; combo < 32; combo++) {
		u32 f = F_RESERVED;
		u8 out[16];

		for (u32 i = 0; i < ARRAY_SIZE(bits); i++)
			if (combo & (1 << i))
				f |= bits[i];
		__asm__ volatile(FLAGS_IN "seto 0(%[p])\n\tsetno 1(%[p])\n\tsetb 2(%[p])\n\t"
					  "setae 3(%[p])\n\tsete 4(%[p])\n\tsetne 5(%[p])\n\t"
					  "setbe 6(%[p])\n\tseta 7(%[p])\n\tsets 8(%[p])\n\t"
					  "setns 9(%[p])\n\tsetp 10(%[p])\n\tsetnp 11(%[p])\n\t"
					  "setl 12(%[p])\n\tsetge 13(%[p])\n\tsetle 14(%[p])\n\t"
					  "setg 15(%[p])"
				 : [f] "+r"(f)
				 : [p] "r"(out)
				 : "cc", "memory");
		u32 m = 0;

		for (int i = 0; i < 16; i++)
			m |= (u32)(out[i] & 1) << i;
		mix(m);
	}
}

/* ---- exchange and compare-exchange ---- */
static void group_xchg(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(operands); i++) {
		for (u32 j = 0; j < ARRAY_SIZE(operands); j++) {
			u32 a = operands[i], b = operands[j], acc, mem, f;
			u64 m, expect;
			u32 lo, hi;

			f = F_RESERVED;
			mem = a;
			__asm__(FLAGS_IN "xadd %[b], %[m]" FLAGS_OUT
				: [m] "+m"(mem), [b] "+r"(b), [f] "+r"(f)
				:
				: "cc");
			mix(mem), mix(b), mix(f & F_ARITH);
			b = operands[j];
			/* CMPXCHG: equal when the accumulator matches. */
			for (int k = 0; k < 2; k++) {
				f = F_RESERVED;
				mem = a;
				acc = k ? a : b;
				__asm__(FLAGS_IN "cmpxchg %[n], %[m]" FLAGS_OUT
					: [m] "+m"(mem), "+a"(acc), [f] "+r"(f)
					: [n] "r"(~b)
					: "cc");
				mix(mem), mix(acc), mix(f & F_ARITH);
			}
			/* CMPXCHG8B, matching and not. */
			for (int k = 0; k < 2; k++) {
				m = (u64)a << 32 | b;
				expect = k ? m : m ^ 0x100000001ull;
				lo = (u32)expect, hi = (u32)(expect >> 32), f = F_RESERVED;
				__asm__(FLAGS_IN "cmpxchg8b %[m]" FLAGS_OUT
					: [m] "+m"(m), "+a"(lo), "+d"(hi), [f] "+r"(f)
					: "b"(~a), "c"(b ^ 0x01010101)
					: "cc", "memory");
				mix((u32)m), mix((u32)(m >> 32)), mix(lo), mix(hi), mix(f & F_ZF);
			}
		}
	}
}

/* ---- decimal adjust: every AL with every AF/CF input ---- */
static void group_bcd(void)
{
	for (u32 al = 0; al < 256; al++) {
		for (u32 fi = 0; fi < 4; fi++) {
			u32 fin = F_RESERVED | (fi & 1 ? F_CF : 0) | (fi & 2 ? F_AF : 0);
			u32 ax, f;

			ax = al, f = fin;
			__asm__(FLAGS_IN "daa" FLAGS_OUT : "+a"(ax), [f] "+r"(f) : : "cc");
			mix(ax & 0xFF), mix(f & (F_ARITH & ~F_OF));
			ax = al, f = fin;
			__asm__(FLAGS_IN "das" FLAGS_OUT : "+a"(ax), [f] "+r"(f) : : "cc");
			mix(ax & 0xFF), mix(f & (F_ARITH & ~F_OF));
			ax = 0x0500 | al, f = fin;
			__asm__(FLAGS_IN "aaa" FLAGS_OUT : "+a"(ax), [f] "+r"(f) : : "cc");
			mix(ax & 0xFFFF), mix(f & (F_AF | F_CF));
			ax = 0x0500 | al, f = fin;
			__asm__(FLAGS_IN "aas" FLAGS_OUT : "+a"(ax), [f] "+r"(f) : : "cc");
			mix(ax & 0xFFFF), mix(f & (F_AF | F_CF));
		}
		u32 ax = al, f = F_RESERVED;

		__asm__(FLAGS_IN "aam" FLAGS_OUT : "+a"(ax), [f] "+r"(f) : : "cc");
		mix(ax & 0xFFFF), mix(f & (F_SF | F_ZF | F_PF));
		ax = (al % 10) << 8 | (al / 10), f = F_RESERVED;
		__asm__(FLAGS_IN "aad" FLAGS_OUT : "+a"(ax), [f] "+r"(f) : : "cc");
		mix(ax & 0xFFFF), mix(f & (F_SF | F_ZF | F_PF));
	}
}

/* ---- string instructions, forward and backward ---- */
static u8 src_buf[64], dst_buf[64];

static void group_string(void)
{
	for (u32 i = 0; i < sizeof(src_buf); i++)
		src_buf[i] = (u8)(i * 37 + 11);
	for (u32 len = 0; len < 40; len += 13) {
		u32 si = (u32)src_buf, di = (u32)dst_buf, cx = len, f;

		memset(dst_buf, 0, sizeof(dst_buf));
		__asm__ volatile("cld\n\trep movsb" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
		mix(si - (u32)src_buf), mix(di - (u32)dst_buf), mix(cx);
		si = (u32)src_buf + 40, di = (u32)dst_buf + 60, cx = len;
		__asm__ volatile("std\n\trep movsb\n\tcld"
				 : "+S"(si), "+D"(di), "+c"(cx)
				 :
				 : "memory");
		mix(si - (u32)src_buf), mix(di - (u32)dst_buf), mix(cx);
		di = (u32)dst_buf + 3, cx = len / 4;
		__asm__ volatile("rep stosl" : "+D"(di), "+c"(cx) : "a"(0xA1B2C3D4u) : "memory");
		for (u32 k = 0; k < sizeof(dst_buf); k += 4)
			mix(*(u32 *)(dst_buf + k));

		/* REPE CMPSB stops at the first difference. */
		memcpy(dst_buf, src_buf, sizeof(dst_buf));
		dst_buf[len] ^= 0x80;
		si = (u32)src_buf, di = (u32)dst_buf, cx = 50, f = F_RESERVED;
		__asm__ volatile(FLAGS_IN "repe cmpsb" FLAGS_OUT
				 : "+S"(si), "+D"(di), "+c"(cx), [f] "+r"(f)
				 :
				 : "cc", "memory");
		mix(si - (u32)src_buf), mix(cx), mix(f & F_ARITH);
		/* REPNE SCASB finds a byte. */
		di = (u32)src_buf, cx = 64, f = F_RESERVED;
		__asm__ volatile(FLAGS_IN "repne scasb" FLAGS_OUT
				 : "+D"(di), "+c"(cx), [f] "+r"(f)
				 : "a"(src_buf[len])
				 : "cc", "memory");
		mix(di - (u32)src_buf), mix(cx), mix(f & F_ARITH);
	}
}

struct group {
	const char *name;
	void (*run)(void);
	u32 expected;
};

static const struct group groups[] = {
    {"alu", group_alu, 0xa2d2fbb9},	  {"shift", group_shift, 0x84c501d1},
    {"muldiv", group_muldiv, 0xd56aea0b}, {"bits", group_bits, 0xec8f5f24},
    {"setcc", group_setcc, 0x353331e5},	  {"xchg", group_xchg, 0xa2280e2c},
    {"bcd", group_bcd, 0xf48ed2cd},	  {"string", group_string, 0x5a3a8161},
};

static void print_cpuid(void)
{
	u32 max, b, c, d, sig;
	char vendor[13];
	bool printable = true;

	__asm__ volatile("cpuid" : "=a"(max), "=b"(b), "=c"(c), "=d"(d) : "a"(0));
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	vendor[12] = '\0';
	for (int i = 0; i < 12; i++)
		printable &= vendor[i] >= 0x20 && vendor[i] < 0x7F;
	__asm__ volatile("cpuid" : "=a"(sig), "=b"(b), "=c"(c), "=d"(d) : "a"(1));
	printf("cpu: CPUID vendor \"%s\", max leaf %u, signature 0x%08x, features 0x%08x\n", vendor,
	       max, sig, d);
	check(printable, "the CPUID vendor is not 12 printable characters");
	check(max >= 1, "CPUID max leaf %u", max);
}

int guest_main(void)
{
	u32 all = 2166136261u;

	print_cpuid();
	for (u32 i = 0; i < ARRAY_SIZE(groups); i++) {
		digest = 2166136261u;
		groups[i].run();
		printf("cpu: %-6s digest 0x%08x (QEMU: 0x%08x)\n", groups[i].name, digest,
		       groups[i].expected);
		check(digest == groups[i].expected, "%s digest differs from QEMU's",
		      groups[i].name);
		all = (all ^ digest) * 16777619u;
	}
	printf("cpu: digest 0x%08x\n", all);
	return check_done("cpu");
}
