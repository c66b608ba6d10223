/*
 * jit_x64.c - x86-64 code for a block: call-threaded.
 *
 * Per instruction the code does what run_block() in cpu.c does, in the same
 * order: save ESP, EFLAGS and the lazy flags when Insn.save says so (else
 * mark nothing saved), note the instruction's EIP, advance EIP by its
 * length, call its handler directly with the CPU and its Insn, count it, and
 * leave the block if a device or a code write asked (cpu->brk).  The
 * handler call is a direct call (rel32 when the code lies within 2 GiB of
 * the text, else through RAX), so there is no dispatch loop and no
 * indirect branch to predict.  A fault longjmps out of the handler to
 * cpu_exec() as it does from the interpreter: this code keeps nothing in
 * registers that the CPU structure does not hold.
 *
 * Register use: RBX holds the CPU (callee-saved, so it survives the calls).
 * The frame is one push, which leaves RSP 16-byte aligned at each call.
 */
#include <stddef.h>
#include <string.h>

#include "jit.h"

#if FB_JIT_HOST

/*
 * A write-through cache of guest registers in R8-R11 along the inline code:
 * a guest register an inline form read or wrote is also kept in one of
 * them, so the next inline form reads it from there rather than from the
 * CPU structure it was just stored to.  Every write still goes to the CPU
 * structure at once, so forgetting the cache costs nothing: it is emptied
 * by anything that may change a guest register another way or clobber the
 * host registers (a handler call, the shift and INC/DEC forms, which use
 * R8/R9), and a stub reloads the registers the cache holds where the inline
 * path goes on after it.
 */
#define NSLOT 4
typedef struct Cache {
	int8_t slot[8];	     /* guest register -> slot, or -1 */
	int8_t guest[NSLOT]; /* slot -> guest register, or -1 */
	unsigned next;	     /* the slot to reuse next */
} Cache;

/*
 * The lazy-flag state an inline form of alu2_kind() left, when the code
 * knows it: the next such form (before anything else runs) reads CF or
 * makes flags eager from it without testing cc_op.  Valid only from one
 * instruction to the next one: emit_insn() forgets it for every other.
 */
typedef struct CcKnown {
	bool valid;
	uint8_t op;   /* CC_*; CC_ADD and CC_SUB only with cc_c = 0 */
	uint8_t bits; /* cc_bits */
} CcKnown;

typedef struct Emit {
	uint8_t *p, *end;  /* where the next byte goes, end of the room */
	const uint8_t *at; /* run-time address of the first byte */
	uint8_t *start;	   /* first byte in the write view */
	bool full;
	unsigned pend_eip; /* bytes of inline instructions not yet added to EIP */
	unsigned pend_ic;  /* inline instructions not yet added to icount */
	const TB *tb;	   /* the block */
	Cache c;	   /* guest registers also in host registers */
	bool dead_cc;	   /* the next instruction overwrites all lazy flags */
	CcKnown cc;	   /* what the instruction emitted last left in cc_op */
	CcKnown cc_prev;   /* the same before the instruction being emitted */
	uint32_t flat;	   /* jit_flat_state() the block is compiled for */
	uint32_t need;	   /* the flat segments its memory paths rely on */
	uint8_t *body;	   /* the first instruction's code, after the entry check */
	unsigned jcc_op;   /* the lazy flags before the Jcc: CC_SUB or CC_LOGIC */
	unsigned jcc_bits; /* (with cc_c 0) and their size, or jcc_op 0: unknown */
} Emit;

static void b(Emit *e, uint8_t v)
{
	if (e->p < e->end)
		*e->p++ = v;
	else
		e->full = true;
}

static void d32(Emit *e, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b(e, (uint8_t)(v >> (8 * i)));
}

static void d64(Emit *e, uint64_t v)
{
	d32(e, (uint32_t)v);
	d32(e, (uint32_t)(v >> 32));
}

/* The run-time address of the next byte. */
static const uint8_t *here(const Emit *e)
{
	return e->at + (e->p - e->start);
}

/* ModRM (+ disp) for [RBX + @off] with register field @reg. */
static void m_rbx(Emit *e, unsigned reg, size_t off)
{
	if (off < 128) {
		b(e, (uint8_t)(0x40 | reg << 3 | 3));
		b(e, (uint8_t)off);
	} else {
		b(e, (uint8_t)(0x80 | reg << 3 | 3));
		d32(e, (uint32_t)off);
	}
}

static void load_eax(Emit *e, size_t off) /* mov eax, [rbx+off] */
{
	b(e, 0x8b);
	m_rbx(e, 0, off);
}

static void store_eax(Emit *e, size_t off) /* mov [rbx+off], eax */
{
	b(e, 0x89);
	m_rbx(e, 0, off);
}

static void store_byte(Emit *e, size_t off, uint8_t v) /* mov byte [rbx+off], v */
{
	b(e, 0xc6);
	m_rbx(e, 0, off);
	b(e, v);
}

static void copy32(Emit *e, size_t from, size_t to)
{
	load_eax(e, from);
	store_eax(e, to);
}

static void call(Emit *e, const void *fn)
{
	intptr_t rel = (intptr_t)((uintptr_t)fn - (uintptr_t)(here(e) + 5));

	if (rel >= INT32_MIN && rel <= INT32_MAX) {
		b(e, 0xe8);
		d32(e, (uint32_t)rel);
	} else {
		b(e, 0x48); /* mov rax, imm64; call rax */
		b(e, 0xb8);
		d64(e, (uint64_t)(uintptr_t)fn);
		b(e, 0xff);
		b(e, 0xd0);
	}
}

/* return @in: mov rax, imm64; pop rbx; ret */
static void ret_insn(Emit *e, const Insn *in)
{
	b(e, 0x48);
	b(e, 0xb8);
	d64(e, (uint64_t)(uintptr_t)in);
	b(e, 0x5b);
	b(e, 0xc3);
}

#define OFF(field) offsetof(CPU, field)

/* the prologue's length: push rbx; mov rbx, rdi */
#define JIT_ENTRY_SKIP 4

/* the code reads these Insn fields with an 8-bit displacement */
_Static_assert(offsetof(Insn, disp) < 128 && offsetof(Insn, imm) < 128, "Insn layout");

/* save_state() of cpu.c */
static void emit_save(Emit *e, const Insn *in)
{
	if (in->save) {
		store_byte(e, OFF(saved), 1);
		copy32(e, OFF(r[R_ESP]), OFF(save_esp));
		copy32(e, OFF(flags), OFF(save_flags));
		copy32(e, OFF(cc_op), OFF(save_cc[0]));
		copy32(e, OFF(cc_bits), OFF(save_cc[1]));
		copy32(e, OFF(cc_res), OFF(save_cc[2]));
		copy32(e, OFF(cc_a), OFF(save_cc[3]));
		copy32(e, OFF(cc_b), OFF(save_cc[4]));
		copy32(e, OFF(cc_c), OFF(save_cc[5]));
	} else {
		store_byte(e, OFF(saved), 0);
	}
	load_eax(e, OFF(eip));
	if (e->pend_eip) {
		b(e, 0x05); /* add eax, imm32 */
		d32(e, e->pend_eip);
		e->pend_eip = 0;
	}
	store_eax(e, OFF(start_eip));
}

/* icount += the inline instructions before this point */
static void flush_icount(Emit *e)
{
	if (!e->pend_ic)
		return;
	b(e, 0x48); /* add qword [rbx+icount], imm8 */
	b(e, 0x83);
	m_rbx(e, 0, OFF(icount));
	b(e, (uint8_t)e->pend_ic);
	e->pend_ic = 0;
}

/* icount += @n (1 to 127) */
static void icount_add(Emit *e, unsigned n)
{
	b(e, 0x48); /* add qword [rbx+icount], imm8 */
	b(e, 0x83);
	m_rbx(e, 0, OFF(icount));
	b(e, (uint8_t)n);
}

/* ---- the register cache ------------------------------------------------ */

static void cache_clear(Emit *e)
{
	memset(e->c.slot, -1, sizeof(e->c.slot));
	memset(e->c.guest, -1, sizeof(e->c.guest));
}

/* mov r8d+@s, @h (eax, ecx, edx) */
static void to_slot(Emit *e, unsigned s, unsigned h)
{
	b(e, 0x41);
	b(e, 0x89);
	b(e, (uint8_t)(0xc0 | h << 3 | s));
}

/* the slot that now holds guest register @g (a free or the oldest one) */
static unsigned cache_take(Emit *e, unsigned g)
{
	if (e->c.slot[g] >= 0)
		return (unsigned)e->c.slot[g];
	unsigned s = e->c.next++ % NSLOT;

	if (e->c.guest[s] >= 0)
		e->c.slot[e->c.guest[s]] = -1;
	e->c.guest[s] = (int8_t)g;
	e->c.slot[g] = (int8_t)s;
	return s;
}

/* host register @h (eax, ecx, edx) = guest register @g, 32 bits */
static void get_reg(Emit *e, unsigned h, unsigned g)
{
	if (e->c.slot[g] >= 0) {
		b(e, 0x44); /* mov h, r8d+slot */
		b(e, 0x89);
		b(e, (uint8_t)(0xc0 | (unsigned)e->c.slot[g] << 3 | h));
		return;
	}
	b(e, 0x8b); /* mov h, [rbx+r[g]] */
	m_rbx(e, h, OFF(r[g]));
	to_slot(e, cache_take(e, g), h);
}

/* guest register @g = host register @h (eax, ecx, edx), 32 bits */
static void put_reg(Emit *e, unsigned h, unsigned g)
{
	b(e, 0x89); /* mov [rbx+r[g]], h */
	m_rbx(e, h, OFF(r[g]));
	to_slot(e, cache_take(e, g), h);
}

/* reload the slots of @c from the CPU structure (a stub, after the handler) */
static void cache_reload(Emit *e, const Cache *c)
{
	for (unsigned s = 0; s < NSLOT; s++) {
		if (c->guest[s] < 0)
			continue;
		b(e, 0x44); /* mov r8d+s, [rbx+r[g]] */
		b(e, 0x8b);
		m_rbx(e, s, OFF(r[c->guest[s]]));
	}
}

/* ---- inline forms ------------------------------------------------------ */

/*
 * A few register-only forms run inline: they cannot fault, touch no memory
 * and read neither EIP nor icount, so nothing can see that their EIP and
 * icount are added later, with the next called instruction's (the last
 * instruction of a block is always called, so a block ends with both
 * exact, and start_eip and Insn.save as the interpreter leaves them).
 * They write the registers and the lazy flags exactly as alu_op() does.
 * Immediates are read from the Insn at run time, never put in the code.
 */
enum inl { INL_NONE, INL_MOV_RR, INL_ALU_RR, INL_ALU_RI, INL_MOV_RI, INL_TEST_RR, INL_ALU_AI };

/* Opcode bit 0 of the forms that have it (Insn.jit families ALU, ACC,
 * ALUI, TEST, TESTA, MOV, MOVEI, SHIFT, GRP3, XCHG): a word or dword, not a
 * byte.  Bit 1 of ALU and MOV: to the ModRM.reg register. */
static bool wide(const Insn *in)
{
	return in->op & 1;
}

static bool to_reg(const Insn *in)
{
	return in->op & 2;
}

/* The ALU operation of ALU and ACC forms (0 ADD .. 7 CMP) */
static unsigned alu_of(const Insn *in)
{
	return (in->op >> 3) & 7;
}

/* ADD OR AND SUB XOR CMP, not ADC SBB */
static bool no_carry_in(unsigned alu)
{
	return alu != 2 && alu != 3;
}

static enum inl inline_kind(const Insn *in)
{
	if (in->lock)
		return INL_NONE;
	switch (in->jit) {
	case JIT_MOVI:
		return INL_MOV_RI;
	case JIT_ACC: /* op eAX, imm (op_alu_acc) */
		return wide(in) && no_carry_in(alu_of(in)) ? INL_ALU_AI : INL_NONE;
	}
	if (in->mod != 3 || !wide(in))
		return INL_NONE;
	switch (in->jit) {
	case JIT_MOV:
		return INL_MOV_RR;
	case JIT_TEST:
		return INL_TEST_RR;
	case JIT_ALU:
		return no_carry_in(alu_of(in)) ? INL_ALU_RR : INL_NONE;
	case JIT_ALUI:
		return no_carry_in(in->reg) ? INL_ALU_RI : INL_NONE;
	}
	return INL_NONE;
}

static void load_ecx(Emit *e, size_t off) /* mov ecx, [rbx+off] */
{
	b(e, 0x8b);
	m_rbx(e, 1, off);
}

static void store_imm32(Emit *e, size_t off, uint32_t v) /* mov dword [rbx+off], v */
{
	b(e, 0xc7);
	m_rbx(e, 0, off);
	d32(e, v);
}

/* eax = a, ecx = b, both already masked to @bits: the ALU operation @op
 * (not ADC, SBB) with alu_op()'s lazy flags; the result in eax. */
/* eax = eax op ecx, masked to @bits; cc_res, cc_op, cc_bits, cc_c */
static void alu_flags_res(Emit *e, unsigned op, unsigned bits)
{
	static const uint8_t opc[8] = {0x01, 0x09, 0, 0, 0x21, 0x29, 0x31, 0x29};
	static const uint8_t cc[8] = {CC_ADD, CC_LOGIC, 0, 0, CC_LOGIC, CC_SUB, CC_LOGIC, CC_SUB};

	b(e, opc[op]); /* op eax, ecx */
	b(e, 0xc8);
	if (bits < 32) {
		b(e, 0x0f); /* movzx eax, al / ax */
		b(e, bits == 8 ? 0xb6 : 0xb7);
		b(e, 0xc0);
	}
	if (e->dead_cc)
		return;
	store_eax(e, OFF(cc_res));
	store_imm32(e, OFF(cc_op), cc[op]);
	store_imm32(e, OFF(cc_bits), bits);
	store_imm32(e, OFF(cc_c), 0);
}

static void alu_flags(Emit *e, unsigned op, unsigned bits)
{
	if (!e->dead_cc) {
		store_eax(e, OFF(cc_a));
		b(e, 0x89); /* mov [rbx+cc_b], ecx */
		m_rbx(e, 1, OFF(cc_b));
	}
	alu_flags_res(e, op, bits);
}

/* The same, 32-bit, the result to register @dst when @write. */
static void alu_inline(Emit *e, unsigned op, unsigned dst, bool write)
{
	alu_flags(e, op, 32);
	if (write)
		put_reg(e, 0, dst);
}

/* eax / ecx = register @r (its low 16 bits, zero-extended, for 16-bit
 * operands); the store keeps the upper half for 16 bits (setr()). */
static void ld_reg(Emit *e, unsigned reg, unsigned r, unsigned bits)
{
	if (bits == 32) {
		get_reg(e, reg, r);
		return;
	}
	if (e->c.slot[r] >= 0) {
		b(e, 0x41); /* movzx reg, r8w+slot */
		b(e, 0x0f);
		b(e, 0xb7);
		b(e, (uint8_t)(0xc0 | reg << 3 | (unsigned)e->c.slot[r]));
		return;
	}
	if (bits == 16) {
		b(e, 0x0f); /* movzx reg, word [rbx+r] */
		b(e, 0xb7);
	} else {
		b(e, 0x8b);
	}
	m_rbx(e, reg, OFF(r[r]));
}

static void st_reg(Emit *e, unsigned r, unsigned bits) /* r = eax / ax */
{
	if (bits == 32) {
		put_reg(e, 0, r);
		return;
	}
	/* the whole register, merged: a 16-bit store would make the next
	 * 32-bit load of the register wait for it (see setr_whole()) */
	get_reg(e, 2, r);
	b(e, 0x81); /* and edx, 0xffff0000 */
	b(e, 0xe2);
	d32(e, 0xffff0000u);
	b(e, 0x09); /* or edx, eax */
	b(e, 0xc2);
	put_reg(e, 2, r);
}

/* ecx (eax for MOV) = the immediate of @in, as the handler takes it */
static void ld_imm(Emit *e, const Insn *in, unsigned reg, unsigned bits, bool sx8)
{
	b(e, 0x48); /* mov rdx, imm64 */
	b(e, 0xba);
	d64(e, (uint64_t)(uintptr_t)in);
	if (sx8) {
		b(e, 0x0f); /* movsx reg, byte [rdx+imm] */
		b(e, 0xbe);
	} else if (bits == 16) {
		b(e, 0x0f); /* movzx reg, word [rdx+imm] */
		b(e, 0xb7);
	} else {
		b(e, 0x8b); /* mov reg, [rdx+imm] */
	}
	b(e, (uint8_t)(0x40 | reg << 3 | 2));
	b(e, (uint8_t)offsetof(Insn, imm));
	if (sx8 && bits == 16) {
		b(e, 0x0f); /* movzx ecx, cx: b & 0xffff */
		b(e, 0xb7);
		b(e, (uint8_t)(0xc0 | reg << 3 | reg));
	}
}

/* eax = a, ecx = b: op with lazy flags of @bits; result to @dst if @write */
static void alu_bits(Emit *e, unsigned op, unsigned dst, bool write, unsigned bits)
{
	alu_flags(e, op, bits);
	if (write)
		st_reg(e, dst, bits);
}

static void emit_inline(Emit *e, const Insn *in, enum inl k)
{
	unsigned bits = in->o32 ? 32 : 16, op = (in->op >> 3) & 7;

	switch (k) {
	case INL_MOV_RR: /* 89: rm = reg; 8B: reg = rm */
		ld_reg(e, 0, to_reg(in) ? in->rm : in->reg, bits);
		st_reg(e, to_reg(in) ? in->reg : in->rm, bits);
		break;
	case INL_MOV_RI:
		ld_imm(e, in, 0, bits, false);
		st_reg(e, in->op & 7, bits);
		break;
	case INL_TEST_RR:
		ld_reg(e, 0, in->rm, bits);
		ld_reg(e, 1, in->reg, bits);
		alu_bits(e, 4, 0, false, bits); /* AND, no result */
		break;
	case INL_ALU_RR:
		if (in->op & 2) { /* op reg, rm */
			ld_reg(e, 0, in->reg, bits);
			ld_reg(e, 1, in->rm, bits);
			alu_bits(e, op, in->reg, op != 7, bits);
		} else { /* op rm, reg */
			ld_reg(e, 0, in->rm, bits);
			ld_reg(e, 1, in->reg, bits);
			alu_bits(e, op, in->rm, op != 7, bits);
		}
		break;
	case INL_ALU_RI:
		ld_reg(e, 0, in->rm, bits);
		ld_imm(e, in, 1, bits, in->op == 0x83);
		alu_bits(e, in->reg, in->rm, in->reg != 7, bits);
		break;
	case INL_ALU_AI:
		ld_reg(e, 0, R_EAX, bits);
		ld_imm(e, in, 1, bits, false);
		alu_bits(e, op, R_EAX, op != 7, bits);
		break;
	case INL_NONE:
		break;
	}
	e->pend_eip += in->len;
	e->pend_ic++;
}

/* x86 condition codes of the jumps used */
enum { J_B = 0x2, J_E = 0x4, J_NE = 0x5, J_A = 0x7 };

/* jcc rel32 with its field noted in @fix[*n] (patched by patch_to) */
static void jcc_fix(Emit *e, uint8_t cc, uint8_t **fix, unsigned *n)
{
	b(e, 0x0f);
	b(e, (uint8_t)(0x80 | cc));
	if (e->p + 4 <= e->end)
		fix[(*n)++] = e->p;
	d32(e, 0);
}

static void patch_to(Emit *e, uint8_t **fix, unsigned n)
{
	for (unsigned i = 0; i < n && !e->full; i++) {
		int32_t rel = (int32_t)(e->p - (fix[i] + 4));

		memcpy(fix[i], &rel, 4);
	}
}

/* jmp rel32 with its field noted (patched by patch_to) */
static void jmp_fix(Emit *e, uint8_t **fix, unsigned *n)
{
	b(e, 0xe9);
	if (e->p + 4 <= e->end)
		fix[(*n)++] = e->p;
	d32(e, 0);
}

/* A short forward jump; returns where to patch its rel8 (skip_here). */
static uint8_t *jcc8(Emit *e, uint8_t cc)
{
	b(e, (uint8_t)(0x70 | cc));
	b(e, 0);
	return e->full ? NULL : e->p - 1;
}

static void skip_here(Emit *e, uint8_t *rel)
{
	if (rel && !e->full)
		*rel = (uint8_t)(e->p - (rel + 1));
}

/* ModRM + disp32 for [RSI + off] / [R9 + off] (REX.B set by the caller) */
static void m_rsi(Emit *e, unsigned reg, size_t off)
{
	b(e, (uint8_t)(0x80 | (reg & 7) << 3 | 6));
	d32(e, (uint32_t)off);
}

static void m_r9(Emit *e, unsigned reg, size_t off)
{
	b(e, (uint8_t)(0x80 | (reg & 7) << 3 | 1));
	d32(e, (uint32_t)off);
}

#define TBOFF(field) offsetof(TB, field)

/* r9 = a block the next one may be (host, size and version checked),
 * eax = EIP, ecx = its linear address: go to its code when it has code,
 * lies inside the CS limit and fits under cpu->jit_limit; else to @miss
 * (or, past the limit, @out). */
static void emit_try(Emit *e, const TB *tb, uint8_t **miss, unsigned *nmiss, uint8_t **out,
		     unsigned *nout)
{
	size_t cs = OFF(seg[0]) + (size_t)S_CS * sizeof(SegReg);

	b(e, 0x4d); /* mov r10, [r9+code] */
	b(e, 0x8b);
	m_r9(e, 2, TBOFF(code));
	b(e, 0x4d); /* test r10, r10 */
	b(e, 0x85);
	b(e, 0xd2);
	jcc_fix(e, J_E, miss, nmiss);
	/* eip <= limit, limit - eip >= bytes - 1 */
	b(e, 0x44); /* mov r11d, [rbx+cs.limit] */
	b(e, 0x8b);
	m_rbx(e, 3, cs + offsetof(SegReg, limit));
	b(e, 0x44); /* cmp eax, r11d */
	b(e, 0x39);
	b(e, 0xd8);
	jcc_fix(e, J_A, miss, nmiss);
	b(e, 0x41); /* sub r11d, eax */
	b(e, 0x29);
	b(e, 0xc3);
	b(e, 0x45); /* movzx r8d, word [r9+bytes] */
	b(e, 0x0f);
	b(e, 0xb7);
	m_r9(e, 0, TBOFF(bytes));
	b(e, 0x41); /* dec r8d */
	b(e, 0xff);
	b(e, 0xc8);
	b(e, 0x45); /* cmp r11d, r8d */
	b(e, 0x39);
	b(e, 0xc3);
	jcc_fix(e, J_B, miss, nmiss);
	if (!tb->c32) {
		/* eip + bytes <= 0xffff */
		b(e, 0x41); /* inc r8d */
		b(e, 0xff);
		b(e, 0xc0);
		b(e, 0x41); /* add r8d, eax */
		b(e, 0x01);
		b(e, 0xc0);
		b(e, 0x41); /* cmp r8d, 0xffff */
		b(e, 0x81);
		b(e, 0xf8);
		d32(e, 0xffff);
		jcc_fix(e, J_A, miss, nmiss);
	}
	/* icount + n <= jit_limit */
	b(e, 0x45); /* movzx r8d, byte [r9+n] */
	b(e, 0x0f);
	b(e, 0xb6);
	m_r9(e, 0, TBOFF(n));
	b(e, 0x4c); /* add r8, [rbx+icount] */
	b(e, 0x03);
	m_rbx(e, 0, OFF(icount));
	b(e, 0x4c); /* cmp r8, [rbx+jit_limit] */
	b(e, 0x3b);
	m_rbx(e, 0, OFF(jit_limit));
	jcc_fix(e, J_A, out, nout);
	/* go: what tb_next() and run_block() would note */
	b(e, 0x41); /* mov [r9+lstart], ecx */
	b(e, 0x89);
	m_r9(e, 1, TBOFF(lstart));
	b(e, 0x4c); /* mov [rbx+jit_tb], r9 */
	b(e, 0x89);
	m_rbx(e, 1, OFF(jit_tb));
	store_byte(e, OFF(skip_bp), 0);
	b(e, 0x49); /* add r10, JIT_ENTRY_SKIP: past the next block's prologue */
	b(e, 0x83);
	b(e, 0xc2);
	b(e, JIT_ENTRY_SKIP);
	b(e, 0x41); /* jmp r10 */
	b(e, 0xff);
	b(e, 0xe2);
}

/* r9 = the block table's entry for host address rdx, when it holds the
 * block there with this block's code size (tb_find's lookup but for the
 * code version, which the callers compare), else to @miss */
static void emit_table_entry(Emit *e, const TB *tb, uint8_t **miss, unsigned *nmiss)
{
	b(e, 0x49); /* mov r9, rdx */
	b(e, 0x89);
	b(e, 0xd1);
	b(e, 0x49); /* shr r9, TB_BITS */
	b(e, 0xc1);
	b(e, 0xe9);
	b(e, TB_BITS);
	b(e, 0x49); /* xor r9, rdx */
	b(e, 0x31);
	b(e, 0xd1);
	b(e, 0x41); /* and r9d, TB_SIZE - 1 */
	b(e, 0x81);
	b(e, 0xe1);
	d32(e, TB_SIZE - 1);
	b(e, 0x4d); /* imul r9, r9, sizeof(TB) */
	b(e, 0x69);
	b(e, 0xc9);
	d32(e, (uint32_t)sizeof(TB));
	b(e, 0x4c); /* add r9, [rbx+tb] */
	b(e, 0x03);
	m_rbx(e, 1, OFF(tb));
	b(e, 0x49); /* cmp rdx, [r9+host] */
	b(e, 0x3b);
	m_r9(e, 2, TBOFF(host));
	jcc_fix(e, J_NE, miss, nmiss);
	b(e, 0x41); /* cmp byte [r9+c32], tb->c32 */
	b(e, 0x80);
	m_r9(e, 7, TBOFF(c32));
	b(e, tb->c32);
	jcc_fix(e, J_NE, miss, nmiss);
}

/* The same for a block in this block's page: its code version too */
static void emit_table(Emit *e, const TB *tb, uint8_t **miss, unsigned *nmiss)
{
	emit_table_entry(e, tb, miss, nmiss);
	b(e, 0x41); /* cmp dword [r9+ver], tb->ver */
	b(e, 0x81);
	m_r9(e, 7, TBOFF(ver));
	d32(e, tb->ver);
	jcc_fix(e, J_NE, miss, nmiss);
}

/* Host register @r (eax 0, ecx 1, edx 2) holding a linear address becomes
 * the offset of its TLB entry in the CPL 0-2 half: (lin >> PAGE_BITS) mod
 * TLB_SIZE, times sizeof(TLBEntry), in one shift and one mask. */
static void emit_tlb_slot(Emit *e, unsigned r)
{
	b(e, 0xc1); /* shr r32, PAGE_BITS - TLB_ENTRY_BITS */
	b(e, 0xe8 | r);
	b(e, PAGE_BITS - TLB_ENTRY_BITS);
	b(e, 0x81); /* and r32, (TLB_SIZE - 1) << TLB_ENTRY_BITS */
	b(e, 0xe0 | r);
	d32(e, (TLB_SIZE - 1) << TLB_ENTRY_BITS);
}

/*
 * The end of a block that ends with a near jump or runs on: go straight to
 * the next block's code when tb_next() (dcache.c) would find that block
 * through this one's links and run_block() would run it whole as host
 * code: nothing asked to stop (cpu->brk, cpu->io_done), the same linear
 * page, a link whose block lies at the same distance in the same host page
 * with this block's code version and code size, inside the CS limit, with
 * code, and whose instructions all fit under cpu->jit_limit (0 when
 * run_block() saw something the loop must look at).  Else return to
 * run_block(), whose tb_next() learns the links.
 */
static void emit_chain(Emit *e, const TB *tb)
{
	uint8_t *out[32] = {0}, *miss[12] = {0}, *cross[2] = {0}, *skip;
	unsigned nout = 0, nmiss, ncross = 0;
	size_t cs = OFF(seg[0]) + (size_t)S_CS * sizeof(SegReg);

	b(e, 0x80); /* cmp byte [rbx+brk], 0 */
	m_rbx(e, 7, OFF(brk));
	b(e, 0);
	jcc_fix(e, J_NE, out, &nout);
	b(e, 0x80); /* cmp byte [rbx+io_done], 0 */
	m_rbx(e, 7, OFF(io_done));
	b(e, 0);
	jcc_fix(e, J_NE, out, &nout);
	if (e->body) {
		/*
		 * A loop of one block: back to its own start.  tb_next() would
		 * find this block again (same page, host address, version
		 * and CS), whose code runs now, lies inside the CS limit and
		 * checked its segments on entry; what is left to check is
		 * the limit.  lstart and jit_tb stay.
		 */
		const Insn *last = &tb->insn[tb->n - 1];
		uint8_t *other;

		b(e, 0x8b); /* mov ecx, [rbx+start_eip]: the last instruction's */
		m_rbx(e, 1, OFF(start_eip));
		b(e, 0x81); /* sub ecx, bytes before it: the block's start */
		b(e, 0xe9);
		d32(e, (uint32_t)(tb->bytes - last->len));
		b(e, 0x3b); /* cmp ecx, [rbx+eip] */
		m_rbx(e, 1, OFF(eip));
		other = jcc8(e, J_NE);
		b(e, 0x48); /* mov rcx, [rbx+icount] */
		b(e, 0x8b);
		m_rbx(e, 1, OFF(icount));
		b(e, 0x48); /* add rcx, n */
		b(e, 0x83);
		b(e, 0xc1);
		b(e, tb->n);
		b(e, 0x48); /* cmp rcx, [rbx+jit_limit] */
		b(e, 0x3b);
		m_rbx(e, 1, OFF(jit_limit));
		jcc_fix(e, J_A, out, &nout);
		store_byte(e, OFF(skip_bp), 0);
		b(e, 0xe9); /* jmp body */
		d32(e, (uint32_t)(int32_t)(e->body - (e->p + 4)));
		skip_here(e, other);
	}
	b(e, 0x48); /* mov rsi, imm64: this TB */
	b(e, 0xbe);
	d64(e, (uint64_t)(uintptr_t)tb);
	load_eax(e, OFF(eip));			  /* eax = eip */
	load_ecx(e, cs + offsetof(SegReg, base)); /* ecx = lin */
	b(e, 0x01);				  /* add ecx, eax */
	b(e, 0xc1);
	b(e, 0x8b); /* mov edx, [rsi+lstart] */
	m_rsi(e, 2, TBOFF(lstart));
	b(e, 0x31); /* xor edx, ecx */
	b(e, 0xca);
	b(e, 0x81); /* cmp edx, PAGE_SIZE - 1 */
	b(e, 0xfa);
	d32(e, PAGE_SIZE - 1);
	jcc_fix(e, J_A, cross, &ncross); /* another page */
	b(e, 0x89);		     /* mov edx, ecx */
	b(e, 0xca);
	b(e, 0x2b); /* sub edx, [rsi+lstart] */
	m_rsi(e, 2, TBOFF(lstart));
	b(e, 0x48); /* movsxd rdx, edx */
	b(e, 0x63);
	b(e, 0xd2);
	b(e, 0x48); /* add rdx, [rsi+host]: the host address of the next block */
	b(e, 0x03);
	m_rsi(e, 2, TBOFF(host));
	for (int k = 0; k < 2; k++) {
		nmiss = 0;
		b(e, 0x4c); /* mov r9, [rsi+link[k]] */
		b(e, 0x8b);
		m_rsi(e, 1, TBOFF(link) + (size_t)k * sizeof(TB *));
		b(e, 0x4d); /* test r9, r9 */
		b(e, 0x85);
		b(e, 0xc9);
		jcc_fix(e, J_E, miss, &nmiss);
		b(e, 0x49); /* cmp rdx, [r9+host] */
		b(e, 0x3b);
		m_r9(e, 2, TBOFF(host));
		jcc_fix(e, J_NE, miss, &nmiss);
		b(e, 0x41); /* cmp byte [r9+c32], tb->c32 */
		b(e, 0x80);
		m_r9(e, 7, TBOFF(c32));
		b(e, tb->c32);
		jcc_fix(e, J_NE, miss, &nmiss);
		b(e, 0x41); /* cmp dword [r9+ver], tb->ver */
		b(e, 0x81);
		m_r9(e, 7, TBOFF(ver));
		d32(e, tb->ver);
		jcc_fix(e, J_NE, miss, &nmiss);
		emit_try(e, tb, miss, &nmiss, out, &nout);
		patch_to(e, miss, nmiss);
	}
	/*
	 * Neither link (a return, an indirect jump to one of many targets):
	 * the block table, as tb_next() does (without learning the link: the
	 * links stay run_block()'s hints).  rdx is the host address already,
	 * and the page's code version is this block's: it runs, so nothing
	 * wrote the page since it was entered (a write would have set brk),
	 * and its translation held (a paging change sets brk too).
	 */
	emit_table(e, tb, out, &nout);
	emit_try(e, tb, out, &nout, out, &nout);
	/* another page: tb_find()'s way, through the TLB and the block table */
	patch_to(e, cross, ncross);
	b(e, 0x89); /* mov edx, ecx */
	b(e, 0xca);
	/* edx = the TLB index times sizeof(TLBEntry) */
	emit_tlb_slot(e, 2);
	b(e, 0x83); /* cmp dword [cpl], 3 */
	m_rbx(e, 7, OFF(cpl));
	b(e, 3);
	skip = jcc8(e, J_NE);
	b(e, 0x81); /* add edx, TLB_SIZE << TLB_ENTRY_BITS */
	b(e, 0xc2);
	d32(e, TLB_SIZE << TLB_ENTRY_BITS);
	skip_here(e, skip);
	b(e, 0x41); /* mov r8d, ecx */
	b(e, 0x89);
	b(e, 0xc8);
	b(e, 0x41); /* and r8d, ~(PAGE_SIZE - 1) */
	b(e, 0x81);
	b(e, 0xe0);
	d32(e, ~(uint32_t)(PAGE_SIZE - 1));
	b(e, 0x41); /* or r8d, 1 */
	b(e, 0x83);
	b(e, 0xc8);
	b(e, 1);
	b(e, 0x44); /* cmp r8d, [rbx + rdx + tlb + rtag] */
	b(e, 0x3b);
	b(e, 0x84);
	b(e, 0x13);
	d32(e, (uint32_t)(OFF(tlb) + offsetof(TLBEntry, rtag)));
	jcc_fix(e, J_NE, out, &nout);
	b(e, 0x48); /* mov rsi, [rbx + rdx + tlb + ver] */
	b(e, 0x8b);
	b(e, 0xb4);
	b(e, 0x13);
	d32(e, (uint32_t)(OFF(tlb) + offsetof(TLBEntry, ver)));
	b(e, 0x48); /* test rsi, rsi */
	b(e, 0x85);
	b(e, 0xf6);
	jcc_fix(e, J_E, out, &nout);
	b(e, 0x8b); /* mov esi, [rsi]: the page's code version */
	b(e, 0x36);
	b(e, 0x4c); /* mov r10, [rbx + rdx + tlb + addend] */
	b(e, 0x8b);
	b(e, 0x94);
	b(e, 0x13);
	d32(e, (uint32_t)(OFF(tlb) + offsetof(TLBEntry, addend)));
	b(e, 0x89); /* mov edx, ecx */
	b(e, 0xca);
	b(e, 0x4c); /* add rdx, r10: the host address */
	b(e, 0x01);
	b(e, 0xd2);
	emit_table_entry(e, tb, out, &nout); /* CS is the same */
	b(e, 0x41); /* cmp [r9+ver], esi */
	b(e, 0x39);
	m_r9(e, 6, TBOFF(ver));
	jcc_fix(e, J_NE, out, &nout);
	emit_try(e, tb, out, &nout, out, &nout);
	patch_to(e, out, nout);
}

/* The interpreter's sequence for one instruction: bookkeeping, the call,
 * the count; then leave the block if something asked (not after @last,
 * where the block returns anyway). */
static void emit_call(Emit *e, const Insn *in, bool first, bool last)
{
	flush_icount(e);
	emit_save(e, in);
	/* add eax, len; mov [rbx+eip], eax */
	b(e, 0x83);
	b(e, 0xc0);
	b(e, in->len);
	store_eax(e, OFF(eip));
	/* handler(cpu, in) */
	b(e, 0x48); /* mov rdi, rbx */
	b(e, 0x89);
	b(e, 0xdf);
	b(e, 0x48); /* mov rsi, imm64 */
	b(e, 0xbe);
	d64(e, (uint64_t)(uintptr_t)in);
	call(e, (const void *)in->fn);
	/* inc qword [rbx+icount] */
	b(e, 0x48);
	b(e, 0xff);
	m_rbx(e, 0, OFF(icount));
	if (first)
		store_imm32(e, OFF(stuck), 0); /* an instruction retired */
	if (last) {
		if (e->tb && (in->flow == FLOW_JUMP || in->flow == FLOW_NEXT))
			emit_chain(e, e->tb);
		ret_insn(e, in);
		return;
	}
	/* cmp byte [rbx+brk], 0; je over; (return in) */
	b(e, 0x80);
	m_rbx(e, 7, OFF(brk));
	b(e, 0);
	b(e, 0x74);
	b(e, 12);
	ret_insn(e, in);
}

/* ---- memory operands through the TLB ------------------------------------ */

/*
 * The hot memory forms (32-bit addressing) run their fast path inline: the
 * checks of mem_fast() (x86.h) in the same order, then the access through
 * the TLB's host address.  Whenever one of them fails, the code jumps to a
 * stub after the block that runs the instruction the interpreter's way
 * (emit_call: exact EIP and icount, the handler, which does the whole
 * access again and faults where it must), then takes back what the inline
 * path would still owe (EIP and icount of the inline instructions so far)
 * and jumps back.  The fast path cannot fault and touches only RAM the TLB
 * maps for this access, so as with the register forms nothing can see the
 * deferred EIP and icount.  Data breakpoints (cpu->dbg_data) never reach
 * host code: cpu_exec() steps then.
 */
enum mem {
	MEM_NONE,
	LD32,
	LD8Z,
	LD8S,
	LD16Z,
	ST32,
	ST8R,
	ST8I,
	ST32I,
	LEA,
	ALU_R_M,
	CMP_M_I,
	PUSH_R,
	POP_R,
	ALU_M_R
};

static enum mem mem_kind(const Insn *in)
{
	if (in->lock)
		return MEM_NONE;
	switch (in->jit) { /* PUSH/POP r32 on a 32-bit stack */
	case JIT_PUSH:
		return in->o32 ? PUSH_R : MEM_NONE;
	case JIT_POP:
		return in->o32 ? POP_R : MEM_NONE;
	}
	if (in->mod == 3 || !in->a32)
		return MEM_NONE;
	if (!wide(in)) { /* the byte forms of any operand size */
		switch (in->jit) {
		case JIT_MOV: /* MOV Eb,Gb only */
			return to_reg(in) ? MEM_NONE : ST8R;
		case JIT_MOVEI:
			return ST8I;
		case JIT_ALUI:
			return in->reg == 7 ? CMP_M_I : MEM_NONE;
		}
	}
	if (!in->o32)
		return MEM_NONE;
	switch (in->jit) {
	case JIT_MOV:
		return !wide(in) ? MEM_NONE : to_reg(in) ? LD32 : ST32;
	case JIT_MOVEI:
		return wide(in) ? ST32I : MEM_NONE;
	case JIT_LEA:
		return LEA;
	case JIT_MOVX: /* bit 0: from a word; bit 3: sign-extended (not of a word) */
		return !(in->op & 8) ? (wide(in) ? LD16Z : LD8Z) : !wide(in) ? LD8S : MEM_NONE;
	case JIT_ALUI:
		return wide(in) && in->reg == 7 ? CMP_M_I : MEM_NONE;
	case JIT_ALU:
		if (!wide(in) || !no_carry_in(alu_of(in)))
			return MEM_NONE;
		return to_reg(in) ? ALU_R_M : ALU_M_R;
	}
	return MEM_NONE;
}

/* A stub the fast paths of one instruction jump to. */
#define MAX_FIX 8
typedef struct Stub {
	const Insn *in;
	bool first;
	unsigned pend_eip, pend_ic; /* owed before the instruction */
	uint8_t *fix[MAX_FIX];	    /* rel32 fields to point at the stub */
	unsigned nfix;
	uint8_t *join; /* where the inline path goes on */
	Cache c;       /* the register cache there */
} Stub;

/* jcc rel32 to the stub (patched when the stub is written) */
static void jcc_stub(Emit *e, Stub *st, uint8_t cc)
{
	b(e, 0x0f);
	b(e, (uint8_t)(0x80 | cc));
	if (st->nfix < MAX_FIX && e->p + 4 <= e->end)
		st->fix[st->nfix++] = e->p;
	else
		e->full = true; /* never: at most MAX_FIX checks per access */
	d32(e, 0);
}

/* ecx = the offset of the memory operand (ea32 of fast.c); rdx = the Insn */
static void emit_ea(Emit *e, const Insn *in)
{
	b(e, 0x48); /* mov rdx, imm64 */
	b(e, 0xba);
	d64(e, (uint64_t)(uintptr_t)in);
	b(e, 0x8b); /* mov ecx, [rdx+disp] */
	b(e, 0x4a);
	b(e, (uint8_t)offsetof(Insn, disp));
	if (in->base >= 0) {
		get_reg(e, 0, (unsigned)in->base);
		b(e, 0x01); /* add ecx, eax */
		b(e, 0xc1);
	}
	if (in->index >= 0) {
		get_reg(e, 0, (unsigned)in->index);
		if (in->scale) {
			b(e, 0xc1); /* shl eax, scale */
			b(e, 0xe0);
			b(e, in->scale);
		}
		b(e, 0x01); /* add ecx, eax */
		b(e, 0xc1);
	}
}

/*
 * emit_tlb() for a flat segment (jit_flat_state(): base 0, limit 4 GiB,
 * writable data) with CPL as compiled: mem_fast()'s segment checks reduce
 * to "no wrap", the linear address is the offset and the TLB half is
 * known.  The block's entry checks that all of it still holds.
 */
static void emit_tlb_flat(Emit *e, unsigned s, unsigned size, bool write, bool also_read, Stub *st)
{
	uint32_t tlb = (uint32_t)OFF(tlb) + ((e->flat & JIT_CPL3) ? TLB_SIZE << TLB_ENTRY_BITS : 0);

	e->need |= 1u << s;
	b(e, 0x8d); /* lea eax, [rcx + size - 1]: the last byte */
	b(e, 0x41);
	b(e, (uint8_t)(size - 1));
	if (size > 1) {
		b(e, 0x39); /* cmp eax, ecx */
		b(e, 0xc8);
		jcc_stub(e, st, J_B);
		if (e->flat & JIT_CPL3) {
			b(e, 0xf6); /* test cl, size - 1: misaligned at CPL 3 */
			b(e, 0xc1);
			b(e, (uint8_t)(size - 1));
			jcc_stub(e, st, J_NE);
		}
	}
	b(e, 0x89); /* mov edx, ecx */
	b(e, 0xca);
	emit_tlb_slot(e, 2);
	/* the tag of the last byte's page: see emit_tlb() */
	b(e, 0x25); /* and eax, ~(PAGE_SIZE - 1) */
	d32(e, ~(uint32_t)(PAGE_SIZE - 1));
	b(e, 0x83); /* or eax, 1 */
	b(e, 0xc8);
	b(e, 1);
	b(e, 0x3b); /* cmp eax, [rbx + rdx + tlb + tag] */
	b(e, 0x84);
	b(e, 0x13);
	d32(e, tlb + (uint32_t)(write ? offsetof(TLBEntry, wtag) : offsetof(TLBEntry, rtag)));
	jcc_stub(e, st, J_NE);
	if (also_read) {
		b(e, 0x3b); /* cmp eax, [rbx + rdx + tlb + rtag] */
		b(e, 0x84);
		b(e, 0x13);
		d32(e, tlb + (uint32_t)offsetof(TLBEntry, rtag));
		jcc_stub(e, st, J_NE);
	}
	b(e, 0x48); /* mov rdx, [rbx + rdx + tlb + addend] */
	b(e, 0x8b);
	b(e, 0x94);
	b(e, 0x13);
	d32(e, tlb + (uint32_t)offsetof(TLBEntry, addend));
	b(e, 0x48); /* add rdx, rcx (ecx's upper half is zero) */
	b(e, 0x01);
	b(e, 0xca);
}

/* rdx = the host address of the @size-byte access at segment @s:ecx, or a
 * jump to the stub: mem_fast() of x86.h. */
static void emit_tlb(Emit *e, unsigned s, unsigned size, bool write, Stub *st)
{
	size_t seg = OFF(seg[0]) + (size_t)s * sizeof(SegReg);
	uint32_t want = A_P | A_S | (write ? A_RW : 0);
	uint8_t *r1, *r2;

	if (e->flat & (1u << s)) {
		emit_tlb_flat(e, s, size, write, false, st);
		return;
	}

	/* the limit: last = off + size - 1, no wrap, last <= limit */
	b(e, 0x8d); /* lea eax, [rcx + size - 1] */
	b(e, 0x41);
	b(e, (uint8_t)(size - 1));
	b(e, 0x39); /* cmp eax, ecx */
	b(e, 0xc8);
	jcc_stub(e, st, J_B);
	b(e, 0x3b); /* cmp eax, [seg.limit] */
	m_rbx(e, 0, seg + offsetof(SegReg, limit));
	jcc_stub(e, st, J_A);
	/* protected mode, not virtual-8086: the type */
	b(e, 0xf6); /* test byte [cr0], CR0_PE */
	m_rbx(e, 0, OFF(cr0));
	b(e, CR0_PE);
	r1 = jcc8(e, J_E);
	b(e, 0xf7); /* test dword [flags], F_VM */
	m_rbx(e, 0, OFF(flags));
	d32(e, F_VM);
	r2 = jcc8(e, J_NE);
	load_eax(e, seg + offsetof(SegReg, attr));
	b(e, 0x25); /* and eax, mask */
	d32(e, want | A_CODE | A_EXPDOWN);
	b(e, 0x3d); /* cmp eax, want */
	d32(e, want);
	jcc_stub(e, st, J_NE);
	skip_here(e, r1);
	skip_here(e, r2);
	/* eax = lin */
	load_eax(e, seg + offsetof(SegReg, base));
	b(e, 0x01); /* add eax, ecx */
	b(e, 0xc8);
	/* the TLB index: (lin >> 12) & 255, + 256 for CPL 3 */
	b(e, 0x89); /* mov ecx, eax */
	b(e, 0xc1);
	/* ecx = the TLB index times sizeof(TLBEntry), a shift away */
	emit_tlb_slot(e, 1);
	b(e, 0x83); /* cmp dword [cpl], 3 */
	m_rbx(e, 7, OFF(cpl));
	b(e, 3);
	r1 = jcc8(e, J_NE);
	if (size > 1) {
		b(e, 0xa8); /* test al, size - 1: misaligned at CPL 3 (#AC) */
		b(e, (uint8_t)(size - 1));
		jcc_stub(e, st, J_NE);
	}
	b(e, 0x81); /* add ecx, TLB_SIZE << TLB_ENTRY_BITS */
	b(e, 0xc1);
	d32(e, TLB_SIZE << TLB_ENTRY_BITS);
	skip_here(e, r1);
	/* the tag of the page of the access's last byte: equal to the entry's
	 * (at the index of the first byte's page) only when both bytes lie in
	 * that page, so this also checks that the access does not cross it */
	b(e, 0x8d); /* lea edx, [rax + size - 1] */
	b(e, 0x50);
	b(e, (uint8_t)(size - 1));
	b(e, 0x81); /* and edx, ~(PAGE_SIZE - 1) */
	b(e, 0xe2);
	d32(e, ~(uint32_t)(PAGE_SIZE - 1));
	b(e, 0x83); /* or edx, 1 */
	b(e, 0xca);
	b(e, 1);
	b(e, 0x3b); /* cmp edx, [rbx + rcx + tlb + tag] */
	b(e, 0x94);
	b(e, 0x0b);
	d32(e,
	    (uint32_t)(OFF(tlb) + (write ? offsetof(TLBEntry, wtag) : offsetof(TLBEntry, rtag))));
	jcc_stub(e, st, J_NE);
	/* rdx = lin + addend (eax is zero-extended) */
	b(e, 0x48); /* mov rdx, [rbx + rcx + tlb + addend] */
	b(e, 0x8b);
	b(e, 0x94);
	b(e, 0x0b);
	d32(e, (uint32_t)(OFF(tlb) + offsetof(TLBEntry, addend)));
	b(e, 0x48); /* add rdx, rax */
	b(e, 0x01);
	b(e, 0xc2);
}

/*
 * emit_tlb() for a read-modify-write: the interpreter reads the operand
 * (rdv) and then writes it (wrv), each through mem_fast(); the inline path
 * takes both only when both would be fast, so both TLB tags must match
 * (the segment checks for a write cover the read's: data segments are
 * readable).
 */
static void emit_tlb_rw(Emit *e, unsigned s, unsigned size, Stub *st)
{
	if (e->flat & (1u << s)) {
		emit_tlb_flat(e, s, size, true, true, st);
		return;
	}
	emit_tlb(e, s, size, true, st);
	/* eax = lin, ecx = the TLB entry's offset: the read tag too */
	b(e, 0x8d); /* lea eax, [rax + size - 1] */
	b(e, 0x40);
	b(e, (uint8_t)(size - 1));
	b(e, 0x25); /* and eax, ~(PAGE_SIZE - 1) */
	d32(e, ~(uint32_t)(PAGE_SIZE - 1));
	b(e, 0x83); /* or eax, 1 */
	b(e, 0xc8);
	b(e, 1);
	b(e, 0x3b); /* cmp eax, [rbx + rcx + tlb + rtag] */
	b(e, 0x84);
	b(e, 0x0b);
	d32(e, (uint32_t)(OFF(tlb) + offsetof(TLBEntry, rtag)));
	jcc_stub(e, st, J_NE);
}

/* ecx = the immediate of @in (rdx is free again); byte: sign-extended */
static void imm_to_ecx(Emit *e, const Insn *in, bool sx8, bool zx8)
{
	b(e, 0x48); /* mov rsi, imm64 */
	b(e, 0xbe);
	d64(e, (uint64_t)(uintptr_t)in);
	if (sx8) {
		b(e, 0x0f); /* movsx ecx, byte [rsi+imm] */
		b(e, 0xbe);
	} else if (zx8) {
		b(e, 0x0f); /* movzx ecx, byte [rsi+imm] */
		b(e, 0xb6);
	} else {
		b(e, 0x8b); /* mov ecx, [rsi+imm] */
	}
	b(e, 0x4e);
	b(e, (uint8_t)offsetof(Insn, imm));
}

/* PUSH r32 / POP r32 with SS a 32-bit stack: push_r() and pop_r() of
 * fast.c; a 16-bit stack goes to the stub.  ESP changes only after the
 * access went through, so the stub starts from the same state. */
static void emit_stack(Emit *e, const Insn *in, bool push, Stub *st)
{
	unsigned r = in->op & 7;

	b(e, 0xf7); /* test dword [ss.attr], A_DB */
	m_rbx(e, 0, OFF(seg[S_SS]) + offsetof(SegReg, attr));
	d32(e, A_DB);
	jcc_stub(e, st, J_E);
	get_reg(e, 1, R_ESP);
	if (push) {
		b(e, 0x83); /* sub ecx, 4 */
		b(e, 0xe9);
		b(e, 4);
	}
	emit_tlb(e, S_SS, 4, push, st);
	if (push) {
		get_reg(e, 0, r); /* PUSH ESP: the value before */
		b(e, 0x89);	  /* mov [rdx], eax */
		b(e, 0x02);
		get_reg(e, 0, R_ESP);
		b(e, 0x83); /* sub eax, 4 */
		b(e, 0xe8);
		b(e, 4);
		put_reg(e, 0, R_ESP);
	} else {
		b(e, 0x8b); /* mov ecx, [rdx] */
		b(e, 0x0a);
		get_reg(e, 0, R_ESP);
		b(e, 0x83); /* add eax, 4 */
		b(e, 0xc0);
		b(e, 4);
		put_reg(e, 0, R_ESP);
		put_reg(e, 1, r); /* POP ESP: the value read wins */
	}
}

/* op [mem], reg (32 bits; not ADC, SBB): as alu##OP##_m_r_32 of fast.c,
 * a = memory, b = the register; CMP only reads */
static void emit_alu_m_r(Emit *e, const Insn *in, Stub *st)
{
	unsigned op = (in->op >> 3) & 7;

	if (op == 7)
		emit_tlb(e, in->ea_seg, 4, false, st);
	else
		emit_tlb_rw(e, in->ea_seg, 4, st);
	b(e, 0x8b); /* mov eax, [rdx] */
	b(e, 0x02);
	get_reg(e, 1, in->reg);
	alu_flags(e, op, 32);
	if (op != 7) {
		b(e, 0x89); /* mov [rdx], eax */
		b(e, 0x02);
	}
}

static void emit_mem(Emit *e, const Insn *in, enum mem k, Stub *st)
{
	static const unsigned sizes[] = {
	    [LD32] = 4, [LD8Z] = 1, [LD8S] = 1,	 [LD16Z] = 2,  [ST32] = 4,
	    [ST8R] = 1, [ST8I] = 1, [ST32I] = 4, [ALU_R_M] = 4};
	if (k == PUSH_R || k == POP_R) {
		emit_stack(e, in, k == PUSH_R, st);
		return;
	}
	emit_ea(e, in);
	if (k == LEA) {
		put_reg(e, 1, in->reg);
		return;
	}
	if (k == ALU_M_R) {
		emit_alu_m_r(e, in, st);
		return;
	}
	unsigned size = k == CMP_M_I ? (wide(in) ? 4 : 1) : sizes[k];
	bool write = k == ST32 || k == ST8R || k == ST8I || k == ST32I;

	emit_tlb(e, in->ea_seg, size, write, st);
	switch (k) {
	case LD32:
		b(e, 0x8b); /* mov eax, [rdx] */
		b(e, 0x02);
		put_reg(e, 0, in->reg);
		break;
	case LD8Z:
	case LD8S:
	case LD16Z:
		b(e, 0x0f); /* movzx / movsx eax, byte/word [rdx] */
		b(e, k == LD8Z ? 0xb6 : k == LD8S ? 0xbe : 0xb7);
		b(e, 0x02);
		put_reg(e, 0, in->reg);
		break;
	case ST32:
		get_reg(e, 1, in->reg);
		b(e, 0x89); /* mov [rdx], ecx */
		b(e, 0x0a);
		break;
	case ST8R:
		get_reg(e, 1, in->reg & 3u);
		if (in->reg >= 4) {
			b(e, 0xc1); /* shr ecx, 8 */
			b(e, 0xe9);
			b(e, 8);
		}
		b(e, 0x88); /* mov [rdx], cl */
		b(e, 0x0a);
		break;
	case ST8I:
	case ST32I:
		imm_to_ecx(e, in, false, false);
		if (k == ST8I)
			b(e, 0x88); /* mov [rdx], cl */
		else
			b(e, 0x89); /* mov [rdx], ecx */
		b(e, 0x0a);
		break;
	case ALU_R_M:	    /* op reg, [mem]: a = reg, b = memory */
		b(e, 0x8b); /* mov ecx, [rdx] */
		b(e, 0x0a);
		get_reg(e, 0, in->reg);
		alu_inline(e, (in->op >> 3) & 7, in->reg, ((in->op >> 3) & 7) != 7);
		break;
	case CMP_M_I: /* cmp [mem], imm: a = memory, b = imm */
		if (size == 1) {
			b(e, 0x0f); /* movzx eax, byte [rdx] */
			b(e, 0xb6);
			b(e, 0x02);
			imm_to_ecx(e, in, false, true);
		} else {
			b(e, 0x8b); /* mov eax, [rdx] */
			b(e, 0x02);
			imm_to_ecx(e, in, in->op == 0x83, false);
		}
		alu_flags(e, 7, size * 8);
		break;
	default:
		break;
	}
}

/* The stub of @st: the instruction the interpreter's way, then back to the
 * inline path owing what it owes there. */
static void emit_stub(Emit *e, Stub *st)
{
	if (e->full || !st->nfix)
		return;
	for (unsigned i = 0; i < st->nfix; i++) {
		int32_t rel = (int32_t)(e->p - (st->fix[i] + 4));

		memcpy(st->fix[i], &rel, 4);
	}
	e->pend_eip = st->pend_eip;
	e->pend_ic = st->pend_ic;
	emit_call(e, st->in, false, false);
	unsigned owe_eip = st->pend_eip + st->in->len, owe_ic = st->pend_ic + 1;

	b(e, 0x81); /* sub dword [rbx+eip], owe_eip */
	m_rbx(e, 5, OFF(eip));
	d32(e, owe_eip);
	b(e, 0x48); /* sub qword [rbx+icount], owe_ic */
	b(e, 0x83);
	m_rbx(e, 5, OFF(icount));
	b(e, (uint8_t)owe_ic);
	cache_reload(e, &st->c);
	b(e, 0xe9); /* jmp join */
	d32(e, (uint32_t)(int32_t)(st->join - (e->p + 4)));
	e->pend_eip = e->pend_ic = 0;
}

/*
 * Register-only forms: no memory, no I/O, no fault, no EIP or icount read,
 * no cpu->brk; they change general registers and flags only.  Their
 * handlers are called with nothing around the call: EIP and icount are
 * added with the next called instruction's, as for the inline forms.
 */
static bool pure_reg(const Insn *in)
{
	bool r = in->mod == 3;

	switch (in->jit) {
	case JIT_PURE: /* without ModRM, or its register forms */
		return !(insn_form(in->op, in->reg & 7)->fmt & OPF_E) || r;
	case JIT_INCDEC: /* INC, DEC r; XCHG, CBW, CWD; MOV r, imm */
	case JIT_XCHGA:
	case JIT_CBW:
	case JIT_CWD:
	case JIT_MOVI8:
	case JIT_MOVI:
		return true;
	case JIT_ALU:
	case JIT_ALUI:
	case JIT_ALUI_REG:
	case JIT_TEST:
	case JIT_XCHG:
	case JIT_MOV:
	case JIT_SHIFT:
	case JIT_SHLD:
	case JIT_IMUL:
	case JIT_MOVX:
	case JIT_SETCC:
	case JIT_INCDEC_E:
		return r;
	case JIT_GRP3: /* TEST NOT NEG MUL IMUL, not DIV IDIV (#DE) */
		return r && in->reg < 6 && in->reg != 1;
	}
	return false;
}

/* A pure_reg() instruction: just the call. */
static void emit_pure(Emit *e, const Insn *in)
{
	b(e, 0x48); /* mov rdi, rbx */
	b(e, 0x89);
	b(e, 0xdf);
	b(e, 0x48); /* mov rsi, imm64 */
	b(e, 0xbe);
	d64(e, (uint64_t)(uintptr_t)in);
	call(e, (const void *)in->fn);
	e->pend_eip += in->len;
	e->pend_ic++;
}

/*
 * A Jcc ending a block (32-bit operand size, the jcc handlers of fast.c):
 * the condition straight from the lazy flags when they are those of a
 * SUB (no borrow in) or logic operation of any size (an 8- or 16-bit one
 * shifted to the top, as cond_quick() does), for the conditions
 * cond_quick() of fast.c answers from the lazy fields without changing
 * them (B, E, BE, S, L, LE and their negations); otherwise, and for a
 * target beyond the CS limit (#GP), the handler.  EIP, start_eip,
 * cpu->saved and icount end as run_block() leaves them.
 */
static bool jcc_inline_ok(const Insn *in)
{
	unsigned cc = in->op & 15;

	return in->o32 && !in->save && in->jit == JIT_JCC && (cc >> 1) != 0 && (cc >> 1) != 5;
}

/* cmp cc_a << cl, cc_b << cl (cl = 32 - cc_bits) */
static void jcc_ab(Emit *e)
{
	load_eax(e, OFF(cc_a));
	b(e, 0x8b); /* mov edx, [cc_b] */
	m_rbx(e, 2, OFF(cc_b));
	b(e, 0xd3); /* shl eax, cl */
	b(e, 0xe0);
	b(e, 0xd3); /* shl edx, cl */
	b(e, 0xe2);
	b(e, 0x39); /* cmp eax, edx */
	b(e, 0xd0);
}

/*
 * The end of a block's last instruction when it has a fast path and a
 * handler (emit_jcc, emit_xfer): the fast paths jump to @fast (their own
 * count and the @ic inline instructions before, one addition); the handler
 * is called with those @ic counted first (it may fault), then counts its
 * own.  Both go on at the same place.
 */
static void count_tail(Emit *e, const Insn *in, unsigned ic, uint8_t **fast, unsigned nfast)
{
	uint8_t *join[1] = {0};
	unsigned nj = 0;

	if (ic)
		icount_add(e, ic);
	b(e, 0x48); /* mov rdi, rbx */
	b(e, 0x89);
	b(e, 0xdf);
	b(e, 0x48); /* mov rsi, imm64 */
	b(e, 0xbe);
	d64(e, (uint64_t)(uintptr_t)in);
	call(e, (const void *)in->fn);
	icount_add(e, 1);
	jmp_fix(e, join, &nj);
	patch_to(e, fast, nfast);
	icount_add(e, ic + 1);
	patch_to(e, join, nj);
}

/*
 * The lazy flags an instruction leaves whatever way it runs (inline, in a
 * stub or its handler): alu_op() of a SUB, CMP, AND, OR, XOR or TEST sets
 * cc_op CC_SUB or CC_LOGIC, cc_c 0 and cc_bits the operand size.  Returns
 * the cc_op (and *bits), or 0 for any other instruction.
 */
static unsigned static_cc(const Insn *in, unsigned *bits)
{
	unsigned alu;

	switch (in->jit) {
	case JIT_ALU:
	case JIT_ACC:
		alu = alu_of(in);
		break;
	case JIT_ALUI:
		alu = in->reg;
		break;
	case JIT_TEST:
	case JIT_TESTA:
		alu = 4;
		break;
	default:
		return 0;
	}
	*bits = wide(in) ? (in->o32 ? 32 : 16) : 8;
	if (alu == 5 || alu == 7)
		return CC_SUB;
	return alu == 1 || alu == 4 || alu == 6 ? CC_LOGIC : 0;
}

/* cmp eax, edx with eax = cc_a, edx = cc_b shifted left by @sh */
static void jcc_ab_static(Emit *e, unsigned sh)
{
	load_eax(e, OFF(cc_a));
	b(e, 0x8b); /* mov edx, [cc_b] */
	m_rbx(e, 2, OFF(cc_b));
	if (sh) {
		b(e, 0xc1); /* shl eax, sh */
		b(e, 0xe0);
		b(e, (uint8_t)sh);
		b(e, 0xc1); /* shl edx, sh */
		b(e, 0xe2);
		b(e, (uint8_t)sh);
	}
	b(e, 0x39); /* cmp eax, edx */
	b(e, 0xd0);
}

/* The Jcc's decision when the flags are known to be e->jcc_op's
 * (static_cc): cond_quick()'s, without looking at cc_op, cc_bits, cc_c */
static void jcc_static(Emit *e, unsigned c, uint8_t **T, unsigned *nT, uint8_t **F, unsigned *nF)
{
	bool logic = e->jcc_op == CC_LOGIC;
	unsigned sh = 32 - e->jcc_bits;

	if (c == 2 || c == 3 || c == 4 || (logic && c >= 6)) {
		load_eax(e, OFF(cc_res));
		if (sh) {
			b(e, 0xc1); /* shl eax, sh */
			b(e, 0xe0);
			b(e, (uint8_t)sh);
		}
		b(e, 0x85); /* test eax, eax */
		b(e, 0xc0);
	}
	switch (c) {
	case 1: /* B: a < b; logic: never */
		if (!logic) {
			jcc_ab_static(e, sh);
			jcc_fix(e, J_B, T, nT);
		}
		break;
	case 2: /* E */
		jcc_fix(e, J_E, T, nT);
		break;
	case 3: /* BE */
		jcc_fix(e, J_E, T, nT);
		if (!logic) {
			jcc_ab_static(e, sh);
			jcc_fix(e, J_B, T, nT);
		}
		break;
	case 4:				/* S */
		jcc_fix(e, 0x8, T, nT); /* js */
		break;
	case 6: /* L */
	case 7: /* LE */
		if (logic) {
			jcc_fix(e, 0x8, T, nT); /* js */
			if (c == 7)
				jcc_fix(e, J_E, T, nT);
			break;
		}
		jcc_ab_static(e, sh);
		jcc_fix(e, c == 6 ? 0xc : 0xe, T, nT); /* jl / jle */
		break;
	}
	jmp_fix(e, F, nF);
}

/* rdx = the mask of the lazy result's width (cc_bits), or only its top
 * bit when @top: ZF tests the result under the one, SF under the other;
 * ecx clobbered */
static void emit_res_mask(Emit *e, bool top)
{
	load_ecx(e, OFF(cc_bits));
	b(e, 0xba); /* mov edx, 1 */
	d32(e, 1);
	b(e, 0x48); /* shl rdx, cl */
	b(e, 0xd3);
	b(e, 0xe2);
	b(e, 0x48); /* dec rdx: the mask */
	b(e, 0xff);
	b(e, 0xca);
	if (top) {
		b(e, 0x48); /* shr rdx, 1 */
		b(e, 0xd1);
		b(e, 0xea);
		b(e, 0xff); /* inc edx: the top bit */
		b(e, 0xc2);
	}
}

static void emit_jcc(Emit *e, const Insn *in, bool first)
{
	unsigned cc = in->op & 15, c = cc >> 1;
	bool neg = cc & 1;
	uint8_t *taken[8] = {0}, *nottaken[8] = {0}, *slow[6] = {0}, *done[12] = {0};
	unsigned nt = 0, nn = 0, ns = 0, nd = 0;
	size_t cs = OFF(seg[0]) + (size_t)S_CS * sizeof(SegReg);

	unsigned ic = e->pend_ic; /* counted at the end (count_tail) */

	e->pend_ic = 0;
	emit_save(e, in); /* eax = its EIP */
	b(e, 0x83);	  /* add eax, len */
	b(e, 0xc0);
	b(e, in->len);
	store_eax(e, OFF(eip));
	if (e->jcc_op) {
		if (neg)
			jcc_static(e, c, nottaken, &nn, taken, &nt);
		else
			jcc_static(e, c, taken, &nt, nottaken, &nn);
		goto decided;
	}
	b(e, 0x8b); /* mov ecx, [cc_op] */
	m_rbx(e, 1, OFF(cc_op));
	{
		/* eager flags (after shifts and the like): EFLAGS itself */
		uint8_t **T = neg ? nottaken : taken, **F = neg ? taken : nottaken;
		unsigned *nT = neg ? &nn : &nt, *nF = neg ? &nt : &nn;
		uint8_t *lazy[1] = {0};
		unsigned nl = 0;
		static const uint32_t test[8] = {0, F_CF, F_ZF, F_CF | F_ZF, F_SF, 0, 0, F_ZF};

		b(e, 0x85); /* test ecx, ecx: CC_EAGER is 0 */
		b(e, 0xc9);
		jcc_fix(e, J_NE, lazy, &nl);
		load_eax(e, OFF(flags));
		if (test[c]) {
			b(e, 0xa9); /* test eax, bits */
			d32(e, test[c]);
			jcc_fix(e, J_NE, T, nT);
		}
		if (c >= 6) {	    /* SF != OF */
			b(e, 0x89); /* mov edx, eax */
			b(e, 0xc2);
			b(e, 0xc1); /* shr edx, 4: OF to SF's place */
			b(e, 0xea);
			b(e, 4);
			b(e, 0x31); /* xor edx, eax */
			b(e, 0xc2);
			b(e, 0xf7); /* test edx, F_SF */
			b(e, 0xc2);
			d32(e, F_SF);
			jcc_fix(e, J_NE, T, nT);
		}
		jmp_fix(e, F, nF);
		patch_to(e, lazy, nl);
		if (c == 2 || c == 4) {
			/* ZF and SF of every lazy operation (INC, DEC, ADD, 8 and
			 * 16 bits too) come from its result alone, masked to its
			 * width: the code below is not reached */
			emit_res_mask(e, c == 4);
			b(e, 0x85); /* test [cc_res], edx */
			m_rbx(e, 2, OFF(cc_res));
			jcc_fix(e, c == 2 ? J_E : J_NE, T, nT);
			jmp_fix(e, F, nF);
		}
	}
	/* cl = 32 - cc_bits (mod 32): 8- and 16-bit results shifted to the
	 * top, as cond_quick() compares them */
	b(e, 0xb9); /* mov ecx, 32 */
	d32(e, 32);
	b(e, 0x2b); /* sub ecx, [cc_bits] */
	m_rbx(e, 1, OFF(cc_bits));
	b(e, 0x83); /* and ecx, 31 */
	b(e, 0xe1);
	b(e, 31);
	for (int logic = 0; logic < 2; logic++) {
		uint8_t *other[2] = {0};
		unsigned no = 0;
		/* the condition c is true -> T, false -> F (swapped for neg) */
		uint8_t **T = neg ? nottaken : taken, **F = neg ? taken : nottaken;
		unsigned *nT = neg ? &nn : &nt, *nF = neg ? &nt : &nn;

		b(e, 0x83); /* cmp dword [cc_op], CC_SUB / CC_LOGIC */
		m_rbx(e, 7, OFF(cc_op));
		b(e, logic ? CC_LOGIC : CC_SUB);
		jcc_fix(e, J_NE, logic ? slow : other, logic ? &ns : &no);
		if (!logic) {
			b(e, 0x83); /* cmp dword [cc_c], 0 */
			m_rbx(e, 7, OFF(cc_c));
			b(e, 0);
			jcc_fix(e, J_NE, slow, &ns);
		}
		if (c == 2 || c == 3 || c == 4 || (logic && c >= 6)) {
			load_eax(e, OFF(cc_res));
			b(e, 0xd3); /* shl eax, cl */
			b(e, 0xe0);
			b(e, 0x85); /* test eax, eax */
			b(e, 0xc0);
		}
		switch (c) {
		case 1: /* B: a < b; logic: never */
			if (logic)
				break;
			jcc_ab(e);
			jcc_fix(e, J_B, T, nT);
			break;
		case 2: /* E */
			jcc_fix(e, J_E, T, nT);
			break;
		case 3: /* BE */
			jcc_fix(e, J_E, T, nT);
			if (logic)
				break;
			jcc_ab(e);
			jcc_fix(e, J_B, T, nT);
			break;
		case 4:				/* S */
			jcc_fix(e, 0x8, T, nT); /* js */
			break;
		case 6: /* L */
		case 7: /* LE */
			if (logic) {
				jcc_fix(e, 0x8, T, nT); /* js */
				if (c == 7)
					jcc_fix(e, J_E, T, nT);
				break;
			}
			jcc_ab(e);
			jcc_fix(e, c == 6 ? 0xc : 0xe, T, nT); /* jl / jle */
			break;
		}
		b(e, 0xe9); /* jmp F */
		if (e->p + 4 <= e->end)
			F[(*nF)++] = e->p;
		d32(e, 0);
		patch_to(e, other, no);
	}
decided:
	/* taken: EIP + rel inside the CS limit */
	patch_to(e, taken, nt);
	load_eax(e, OFF(eip));
	imm_to_ecx(e, in, in->op < 0x100, false);
	b(e, 0x01); /* add eax, ecx */
	b(e, 0xc8);
	b(e, 0x3b); /* cmp eax, [cs.limit] */
	m_rbx(e, 0, cs + offsetof(SegReg, limit));
	jcc_fix(e, J_A, slow, &ns);
	store_eax(e, OFF(eip));
	b(e, 0xe9); /* jmp done */
	if (e->p + 4 <= e->end)
		done[nd++] = e->p;
	d32(e, 0);
	/* the handler */
	patch_to(e, slow, ns);
	for (unsigned k = 0; k < nn; k++) /* not taken: a fast path too */
		if (nd < 12)
			done[nd++] = nottaken[k];
	count_tail(e, in, ic, done, nd);
	if (first)
		store_imm32(e, OFF(stuck), 0);
	emit_chain(e, e->tb);
	ret_insn(e, in);
}

/*
 * The near transfers that end most blocks (32-bit operand size): JMP rel8/
 * rel32, CALL rel32, RET, and JMP/CALL through a register or a memory word
 * with 32-bit addressing; CALL and RET on a 32-bit stack.  The fast path
 * does the checks of the handler (op_jmp_rel, op_call_rel, op_ret_near,
 * op_grp5) and of mem_fast() first and writes nothing until all passed:
 * target inside the CS limit, the stack or memory word in RAM the TLB maps.
 * When one fails the handler runs the interpreter's way, which faults where
 * it must.  Either way EIP, start_eip and icount end as run_block() leaves
 * them, and the block goes on as after any near jump (emit_chain).
 *
 * Only cpu->saved differs from the interpreter on the fast path of RET
 * (whose row says "save always"): it is left clear and save_* are not
 * written.  Those fields are read only by cpu_restore_state() when the
 * same instruction faults, and the fast path does not fault; the next
 * instruction writes them again before it runs.
 */
static bool xfer_inline_ok(const Insn *in)
{
	if (!in->o32 || in->lock)
		return false;
	if (in->jit == JIT_XFER)
		return true;
	return in->jit == JIT_XFER_E && (in->mod == 3 || in->a32);
}

/* cmp r11d, [cs.limit]; ja slow */
static void xfer_limit(Emit *e, uint8_t **slow, unsigned *ns)
{
	size_t cs = OFF(seg[0]) + (size_t)S_CS * sizeof(SegReg);

	b(e, 0x44); /* cmp r11d, [rbx+cs.limit] */
	b(e, 0x3b);
	m_rbx(e, 3, cs + offsetof(SegReg, limit));
	jcc_fix(e, J_A, slow, ns);
}

/* rdx = the host address of the dword at SS:ESP (@push: ESP - 4) on a
 * 32-bit stack; the failures are noted in @st */
static void xfer_stack(Emit *e, bool push, Stub *st)
{
	b(e, 0xf7); /* test dword [ss.attr], A_DB */
	m_rbx(e, 0, OFF(seg[S_SS]) + offsetof(SegReg, attr));
	d32(e, A_DB);
	jcc_stub(e, st, J_E);
	load_ecx(e, OFF(r[R_ESP]));
	if (push) {
		b(e, 0x83); /* sub ecx, 4 */
		b(e, 0xe9);
		b(e, 4);
	}
	emit_tlb(e, S_SS, 4, push, st);
}

/* the failures of a TLB path noted in @st go to @slow too */
static void xfer_fixes(Stub *st, uint8_t **slow, unsigned *ns)
{
	for (unsigned i = 0; i < st->nfix; i++)
		slow[(*ns)++] = st->fix[i];
	st->nfix = 0;
}

static void emit_xfer(Emit *e, const Insn *in, bool first)
{
	uint8_t *slow[24] = {0}, *done[1] = {0};
	unsigned ns = 0, nd = 0;
	unsigned op = in->op;
	/* the TLB paths report their failures through a Stub's fixups; here
	 * they all go to the handler below */
	Stub st = {0};

	unsigned ic = e->pend_ic; /* counted at the end (count_tail) */

	cache_clear(e);
	e->pend_ic = 0;
	/* start_eip, then EIP = the next instruction (eax) */
	load_eax(e, OFF(eip));
	if (e->pend_eip) {
		b(e, 0x05); /* add eax, imm32 */
		d32(e, e->pend_eip);
		e->pend_eip = 0;
	}
	store_eax(e, OFF(start_eip));
	b(e, 0x83); /* add eax, len */
	b(e, 0xc0);
	b(e, in->len);
	store_eax(e, OFF(eip));
	/* r11d = the target */
	if (op == 0xeb || op == 0xe9 || op == 0xe8) {
		imm_to_ecx(e, in, op == 0xeb, false);
		b(e, 0x01); /* add ecx, eax */
		b(e, 0xc1);
		b(e, 0x41); /* mov r11d, ecx */
		b(e, 0x89);
		b(e, 0xcb);
	} else if (op == 0xc3) {
		xfer_stack(e, false, &st);
		xfer_fixes(&st, slow, &ns);
		b(e, 0x44); /* mov r11d, [rdx] */
		b(e, 0x8b);
		b(e, 0x1a);
	} else if (in->mod == 3) {
		b(e, 0x44); /* mov r11d, [rbx+r[rm]] */
		b(e, 0x8b);
		m_rbx(e, 3, OFF(r[in->rm]));
	} else {
		emit_ea(e, in);
		emit_tlb(e, in->ea_seg, 4, false, &st);
		xfer_fixes(&st, slow, &ns);
		b(e, 0x44); /* mov r11d, [rdx] */
		b(e, 0x8b);
		b(e, 0x1a);
	}
	xfer_limit(e, slow, &ns);
	if (op == 0xe8 || (op == 0xff && in->reg == 2)) {
		xfer_stack(e, true, &st);
		xfer_fixes(&st, slow, &ns);
		load_eax(e, OFF(eip)); /* the return address */
		b(e, 0x89);	       /* mov [rdx], eax */
		b(e, 0x02);
		b(e, 0x83); /* sub dword [rbx+r[ESP]], 4 */
		m_rbx(e, 5, OFF(r[R_ESP]));
		b(e, 4);
	} else if (op == 0xc3) {
		b(e, 0x83); /* add dword [rbx+r[ESP]], 4 */
		m_rbx(e, 0, OFF(r[R_ESP]));
		b(e, 4);
	}
	b(e, 0x44); /* mov [rbx+eip], r11d */
	b(e, 0x89);
	m_rbx(e, 3, OFF(eip));
	store_byte(e, OFF(saved), 0);
	jmp_fix(e, done, &nd);
	/* the handler, as emit_call() does it */
	patch_to(e, slow, ns);
	if (in->save) {
		store_byte(e, OFF(saved), 1);
		copy32(e, OFF(r[R_ESP]), OFF(save_esp));
		copy32(e, OFF(flags), OFF(save_flags));
		copy32(e, OFF(cc_op), OFF(save_cc[0]));
		copy32(e, OFF(cc_bits), OFF(save_cc[1]));
		copy32(e, OFF(cc_res), OFF(save_cc[2]));
		copy32(e, OFF(cc_a), OFF(save_cc[3]));
		copy32(e, OFF(cc_b), OFF(save_cc[4]));
		copy32(e, OFF(cc_c), OFF(save_cc[5]));
	} else {
		store_byte(e, OFF(saved), 0);
	}
	count_tail(e, in, ic, done, nd);
	if (first)
		store_imm32(e, OFF(stuck), 0);
	cache_clear(e);
	emit_chain(e, e->tb);
	ret_insn(e, in);
}

/* SHL/SAL, SHR, SAR of a 32-bit register (C1, D1, D3 /4-/7), as
 * alu_shift() of alu.c: a zero count changes nothing; otherwise the result,
 * and all six arithmetic flags eagerly (set_flags_szp): SF ZF PF CF from
 * the host's shift of the same value, AF clear, OF as alu_shift() defines
 * it (SHL: sign of the result ^ CF; SHR: the old sign for a count of 1,
 * else 0; SAR: 0). */
static void emit_shift(Emit *e, const Insn *in)
{
	unsigned op = in->reg == 6 ? 4 : in->reg;
	uint8_t *zero[1] = {0}, *skip;
	unsigned nz = 0;

	if (in->op == 0xc1) {
		imm_to_ecx(e, in, false, true);
	} else if (in->op == 0xd1) {
		b(e, 0xb9); /* mov ecx, 1 */
		d32(e, 1);
	} else {
		load_ecx(e, OFF(r[R_ECX]));
	}
	b(e, 0x83); /* and ecx, 31 */
	b(e, 0xe1);
	b(e, 31);
	jcc_fix(e, J_E, zero, &nz);
	load_eax(e, OFF(r[in->rm]));
	b(e, 0x41); /* mov r8d, eax: the old value */
	b(e, 0x89);
	b(e, 0xc0);
	b(e, 0xd3); /* shl / shr / sar eax, cl */
	b(e, op == 4 ? 0xe0 : op == 5 ? 0xe8 : 0xf8);
	b(e, 0x9c); /* pushfq; pop rdx */
	b(e, 0x5a);
	store_eax(e, OFF(r[in->rm]));
	b(e, 0x81); /* and edx, CF PF ZF SF */
	b(e, 0xe2);
	d32(e, F_CF | F_PF | F_ZF | F_SF);
	if (op == 4) {
		b(e, 0x41); /* mov r9d, eax */
		b(e, 0x89);
		b(e, 0xc1);
		b(e, 0x41); /* shr r9d, 31 */
		b(e, 0xc1);
		b(e, 0xe9);
		b(e, 31);
		b(e, 0x41); /* xor r9d, edx: sign ^ CF in bit 0 */
		b(e, 0x31);
		b(e, 0xd1);
		b(e, 0x41); /* and r9d, 1 */
		b(e, 0x83);
		b(e, 0xe1);
		b(e, 1);
		b(e, 0x41); /* shl r9d, 11: OF */
		b(e, 0xc1);
		b(e, 0xe1);
		b(e, 11);
		b(e, 0x44); /* or edx, r9d */
		b(e, 0x09);
		b(e, 0xca);
	} else if (op == 5) {
		b(e, 0x83); /* cmp ecx, 1 */
		b(e, 0xf9);
		b(e, 1);
		skip = jcc8(e, J_NE);
		b(e, 0x41); /* shr r8d, 31 */
		b(e, 0xc1);
		b(e, 0xe8);
		b(e, 31);
		b(e, 0x41); /* shl r8d, 11: OF */
		b(e, 0xc1);
		b(e, 0xe0);
		b(e, 11);
		b(e, 0x44); /* or edx, r8d */
		b(e, 0x09);
		b(e, 0xc2);
		skip_here(e, skip);
	}
	load_eax(e, OFF(flags));
	b(e, 0x25); /* and eax, ~FLAGS_ARITH */
	d32(e, ~(uint32_t)FLAGS_ARITH);
	b(e, 0x09); /* or eax, edx */
	b(e, 0xd0);
	store_eax(e, OFF(flags));
	store_imm32(e, OFF(cc_op), CC_EAGER);
	patch_to(e, zero, nz);
	e->pend_eip += in->len;
	e->pend_ic++;
}

/* ---- 8- and 16-bit register forms, ADC/SBB, MOVZX/MOVSX, XCHG ----------- */

/*
 * The register-only forms of every operand size run inline too, with the
 * register and lazy-flag effects of their handlers (getr()/setr() and
 * alu_op()/alu_inc() of x86.h): the ALU operations including ADC and SBB
 * (CF read from the lazy state as cc_cf() does), TEST, NOT, NEG, INC, DEC,
 * MOV of bytes, MOVZX, MOVSX and XCHG.  Like the other inline forms they
 * cannot fault and read neither EIP nor icount.  Host registers: EAX, ECX,
 * EDX, ESI, EDI; R8-R11 stay the register cache.
 */
enum alu2 {
	A2_NONE,
	A2_ALU,	   /* 00-3B op E,G / op G,E */
	A2_ACC,	   /* 04 05 ... 3C 3D op AL/eAX, imm */
	A2_ALUI,   /* 80-83 op E, imm */
	A2_TEST,   /* 84 85 TEST E,G */
	A2_TESTI,  /* A8 A9, F6 F7 /0 /1 TEST E, imm */
	A2_NOT,	   /* F6 F7 /2 */
	A2_NEG,	   /* F6 F7 /3 */
	A2_INCDEC, /* 40-4F (16-bit), FE FF /0 /1 */
	A2_MOV8,   /* 88 8A MOV r8, r8 */
	A2_MOVI8,  /* B0-B7 MOV r8, imm8 */
	A2_MOVX,   /* 0F B6 B7 BE BF */
	A2_XCHG,   /* 86 87, 91-97 */
	A2_SHIFT,  /* C0 C1 D0-D3 */
	A2_MUL,	   /* F6 F7 /4 /5 */
	A2_IMUL,   /* 69 6B, 0F AF */
	A2_SHLD,   /* 0F A4 A5 AC AD, 32 bits */
	A2_SETCC,  /* 0F 90-9F, some conditions */
	A2_CBW,	   /* 98 CBW / CWDE */
	A2_CWD,	   /* 99 CWD / CDQ */
};

static bool setcc_inline_ok(const Insn *in);

static bool shift_inline_ok(const Insn *in);

static enum alu2 alu2_kind(const Insn *in)
{
	if (in->lock)
		return A2_NONE;
	switch (in->jit) { /* no ModRM */
	case JIT_MOVI8:
		return A2_MOVI8;
	case JIT_XCHGA:
		return A2_XCHG;
	case JIT_CBW:
		return A2_CBW;
	case JIT_CWD:
		return A2_CWD;
	case JIT_INCDEC:
		return A2_INCDEC;
	case JIT_ACC:
		return A2_ACC;
	case JIT_TESTA:
		return A2_TESTI;
	}
	if (in->mod != 3)
		return A2_NONE;
	switch (in->jit) {
	case JIT_ALU:
		return A2_ALU;
	case JIT_SETCC:
		return setcc_inline_ok(in) ? A2_SETCC : A2_NONE;
	case JIT_ALUI:
	case JIT_ALUI_REG:
		return A2_ALUI;
	case JIT_TEST:
		return A2_TEST;
	case JIT_XCHG:
		return A2_XCHG;
	case JIT_MOV: /* 88 8A; 89 8B are inline_kind()'s */
		return wide(in) ? A2_NONE : A2_MOV8;
	case JIT_GRP3:
		return in->reg < 2    ? A2_TESTI
		       : in->reg == 2 ? A2_NOT
		       : in->reg == 3 ? A2_NEG
		       : in->reg < 6  ? A2_MUL
				      : A2_NONE;
	case JIT_SHIFT:
		return shift_inline_ok(in) ? A2_NONE : A2_SHIFT; /* 32-bit: emit_shift() */
	case JIT_IMUL:
		return A2_IMUL;
	case JIT_SHLD:
		return in->o32 ? A2_SHLD : A2_NONE;
	case JIT_INCDEC_E:
		return A2_INCDEC;
	case JIT_MOVX:
		return A2_MOVX;
	}
	return A2_NONE;
}

/* movzx h, h8 / h16 (@h: eax, ecx, edx) */
static void zx_bits(Emit *e, unsigned h, unsigned bits)
{
	if (bits == 32)
		return;
	b(e, 0x0f);
	b(e, bits == 8 ? 0xb6 : 0xb7);
	b(e, (uint8_t)(0xc0 | h << 3 | h));
}

/* @h (eax, ecx, edx) = guest register @g of @bits (8: AL..BH, getr()),
 * zero-extended */
static void ld_any(Emit *e, unsigned h, unsigned g, unsigned bits)
{
	get_reg(e, h, bits == 8 ? g & 3 : g);
	if (bits == 8 && g >= 4) {
		b(e, 0xc1); /* shr h, 8 */
		b(e, (uint8_t)(0xe8 | h));
		b(e, 8);
	}
	zx_bits(e, h, bits);
}

/* guest register @g of @bits = eax (zero-extended), as setr() merges it;
 * eax and edx are clobbered */
static void st_any(Emit *e, unsigned g, unsigned bits)
{
	unsigned w = bits == 8 ? g & 3 : g;

	if (bits == 32) {
		put_reg(e, 0, g);
		return;
	}
	get_reg(e, 2, w);
	b(e, 0x81); /* and edx, mask */
	b(e, 0xe2);
	if (bits == 8 && g >= 4) {
		d32(e, 0xffff00ffu);
		b(e, 0xc1); /* shl eax, 8 */
		b(e, 0xe0);
		b(e, 8);
	} else {
		d32(e, bits == 8 ? 0xffffff00u : 0xffff0000u);
	}
	b(e, 0x09); /* or edx, eax */
	b(e, 0xc2);
	put_reg(e, 2, w);
}

/* @h (eax, ecx) = the immediate of @in masked to @bits (sign-extended
 * from 8 bits first for @sx8); rdx is clobbered */
static void ld_imm_any(Emit *e, const Insn *in, unsigned h, unsigned bits, bool sx8)
{
	b(e, 0x48); /* mov rdx, imm64 */
	b(e, 0xba);
	d64(e, (uint64_t)(uintptr_t)in);
	if (sx8 || bits < 32) {
		b(e, 0x0f); /* movsx / movzx h, byte / word [rdx+imm] */
		b(e, sx8 ? 0xbe : bits == 8 ? 0xb6 : 0xb7);
	} else {
		b(e, 0x8b); /* mov h, [rdx+imm] */
	}
	b(e, (uint8_t)(0x40 | h << 3 | 2));
	b(e, (uint8_t)offsetof(Insn, imm));
	if (sx8)
		zx_bits(e, h, bits);
}

/* esi = CF (0 or 1) from the lazy state, cc_cf() of x86.h for every
 * cc_op and width; eax, ecx, edx, edi are clobbered */
/* emit_cf() when the instruction before is known (CcKnown) */
static bool emit_cf_known(Emit *e)
{
	const CcKnown *k = &e->cc_prev;

	if (!k->valid)
		return false;
	switch (k->op) {
	case CC_LOGIC:
		b(e, 0x31); /* xor esi, esi */
		b(e, 0xf6);
		return true;
	case CC_EAGER:
		b(e, 0x8b); /* mov esi, [flags] */
		m_rbx(e, 6, OFF(flags));
		b(e, 0x83); /* and esi, 1 */
		b(e, 0xe6);
		b(e, 1);
		return true;
	case CC_INC:
	case CC_DEC:
		b(e, 0x8b); /* mov esi, [cc_c]: 0 or 1 (incdec_any()) */
		m_rbx(e, 6, OFF(cc_c));
		return true;
	case CC_ADD: /* a + b > m, both masked, no carry in */
		load_eax(e, OFF(cc_a));
		b(e, 0x03); /* add eax, [cc_b] */
		m_rbx(e, 0, OFF(cc_b));
		if (k->bits < 32) {
			b(e, 0xc1); /* shr eax, bits: the carry out */
			b(e, 0xe8);
			b(e, k->bits);
			b(e, 0x89); /* mov esi, eax */
			b(e, 0xc6);
			return true;
		}
		b(e, 0x40); /* setc sil */
		b(e, 0x0f);
		b(e, 0x92);
		b(e, 0xc6);
		break;
	default: /* CC_SUB: a < b, no borrow in */
		load_eax(e, OFF(cc_a));
		b(e, 0x3b); /* cmp eax, [cc_b] */
		m_rbx(e, 0, OFF(cc_b));
		b(e, 0x40); /* setb sil */
		b(e, 0x0f);
		b(e, 0x92);
		b(e, 0xc6);
		break;
	}
	b(e, 0x40); /* movzx esi, sil */
	b(e, 0x0f);
	b(e, 0xb6);
	b(e, 0xf6);
	return true;
}

static void emit_cf(Emit *e)
{
	uint8_t *zero[1] = {0}, *add[1] = {0}, *sub[1] = {0}, *eager[1] = {0}, *done[4] = {0},
		*have[3] = {0};
	unsigned nz = 0, na = 0, ns = 0, ne = 0, nd = 0, nh = 0;

	if (emit_cf_known(e))
		return;
	load_eax(e, OFF(cc_op));
	b(e, 0x83); /* cmp eax, CC_LOGIC */
	b(e, 0xf8);
	b(e, CC_LOGIC);
	jcc_fix(e, J_E, zero, &nz);
	b(e, 0x83); /* cmp eax, CC_ADD */
	b(e, 0xf8);
	b(e, CC_ADD);
	jcc_fix(e, J_E, add, &na);
	b(e, 0x83); /* cmp eax, CC_SUB */
	b(e, 0xf8);
	b(e, CC_SUB);
	jcc_fix(e, J_E, sub, &ns);
	b(e, 0x85); /* test eax, eax: CC_EAGER */
	b(e, 0xc0);
	jcc_fix(e, J_E, eager, &ne);
	/* CC_INC, CC_DEC: cc_c */
	b(e, 0x83); /* cmp dword [cc_c], 0 */
	m_rbx(e, 7, OFF(cc_c));
	b(e, 0);
	b(e, 0x40); /* setne sil */
	b(e, 0x0f);
	b(e, 0x95);
	b(e, 0xc6);
	jmp_fix(e, have, &nh);
	for (int s = 0; s < 2; s++) {
		patch_to(e, s ? sub : add, s ? ns : na);
		load_ecx(e, OFF(cc_bits));
		b(e, 0xba); /* mov edx, 1 */
		d32(e, 1);
		b(e, 0x48); /* shl rdx, cl */
		b(e, 0xd3);
		b(e, 0xe2);
		b(e, 0x48); /* dec rdx: the mask, bits_mask(cc_bits) */
		b(e, 0xff);
		b(e, 0xca);
		load_eax(e, OFF(cc_a));
		b(e, 0x21); /* and eax, edx */
		b(e, 0xd0);
		b(e, 0x8b); /* mov edi, [cc_b] */
		m_rbx(e, 7, OFF(cc_b));
		b(e, 0x21); /* and edi, edx */
		b(e, 0xd7);
		load_ecx(e, OFF(cc_c));
		if (!s) {
			/* ADD: a + b + c > m */
			b(e, 0x48); /* add rax, rdi */
			b(e, 0x01);
			b(e, 0xf8);
			b(e, 0x48); /* add rax, rcx */
			b(e, 0x01);
			b(e, 0xc8);
			b(e, 0x48); /* cmp rdx, rax */
			b(e, 0x39);
			b(e, 0xc2);
		} else {
			/* SUB: a < b + c */
			b(e, 0x48); /* add rdi, rcx */
			b(e, 0x01);
			b(e, 0xcf);
			b(e, 0x48); /* cmp rax, rdi */
			b(e, 0x39);
			b(e, 0xf8);
		}
		b(e, 0x40); /* setb sil */
		b(e, 0x0f);
		b(e, 0x92);
		b(e, 0xc6);
		jmp_fix(e, have, &nh);
	}
	patch_to(e, eager, ne);
	b(e, 0x8b); /* mov esi, [flags] */
	m_rbx(e, 6, OFF(flags));
	b(e, 0x83); /* and esi, 1: F_CF */
	b(e, 0xe6);
	b(e, 1);
	jmp_fix(e, done, &nd);
	patch_to(e, zero, nz);
	b(e, 0x31); /* xor esi, esi */
	b(e, 0xf6);
	jmp_fix(e, done, &nd);
	patch_to(e, have, nh);
	b(e, 0x40); /* movzx esi, sil */
	b(e, 0x0f);
	b(e, 0xb6);
	b(e, 0xf6);
	patch_to(e, done, nd);
}

/* eax = a, ecx = b, both masked to @bits, esi = the carry in for ADC and
 * SBB: alu_op() of @op with its lazy flags; the result in eax */
static void alu_any(Emit *e, unsigned op, unsigned bits)
{
	static const uint8_t opc[8] = {0x01, 0x09, 0x01, 0x29, 0x21, 0x29, 0x31, 0x29};
	static const uint8_t cc[8] = {CC_ADD,	CC_LOGIC, CC_ADD,   CC_SUB,
				      CC_LOGIC, CC_SUB,	  CC_LOGIC, CC_SUB};
	bool carry = op == 2 || op == 3;

	if (!e->dead_cc) {
		store_eax(e, OFF(cc_a));
		b(e, 0x89); /* mov [cc_b], ecx */
		m_rbx(e, 1, OFF(cc_b));
	}
	b(e, opc[op]); /* op eax, ecx */
	b(e, 0xc8);
	if (carry) {
		b(e, opc[op]); /* op eax, esi */
		b(e, 0xf0);
	}
	zx_bits(e, 0, bits);
	if (e->dead_cc)
		return;
	e->cc = (CcKnown){!carry, cc[op], (uint8_t)bits};
	store_eax(e, OFF(cc_res));
	store_imm32(e, OFF(cc_op), cc[op]);
	store_imm32(e, OFF(cc_bits), bits);
	if (carry) {
		b(e, 0x89); /* mov [cc_c], esi */
		m_rbx(e, 6, OFF(cc_c));
	} else {
		store_imm32(e, OFF(cc_c), 0);
	}
}

/* INC / DEC of guest register @g, alu_inc() */
static void incdec_any(Emit *e, unsigned g, unsigned bits, bool dec)
{
	if (!e->dead_cc)
		emit_cf(e);
	ld_any(e, 0, g, bits);
	if (!e->dead_cc)
		store_eax(e, OFF(cc_a));
	b(e, 0xff); /* inc / dec eax */
	b(e, dec ? 0xc8 : 0xc0);
	zx_bits(e, 0, bits);
	if (!e->dead_cc) {
		store_eax(e, OFF(cc_res));
		store_imm32(e, OFF(cc_op), dec ? CC_DEC : CC_INC);
		store_imm32(e, OFF(cc_bits), bits);
		store_imm32(e, OFF(cc_b), 1);
		b(e, 0x89); /* mov [cc_c], esi */
		m_rbx(e, 6, OFF(cc_c));
		e->cc = (CcKnown){true, dec ? CC_DEC : CC_INC, (uint8_t)bits};
	}
	st_any(e, g, bits);
}

/* ---- shifts, rotates, multiplication of every size ----------------------- */

/* SF ZF PF of eax's low @bits, CF AF OF from esi: set_flags_szp() (all six
 * arithmetic flags replaced, cc_op eager); ecx, edx are clobbered */
static void emit_eager(Emit *e, unsigned bits)
{
	if (bits == 16)
		b(e, 0x66);
	b(e, bits == 8 ? 0x84 : 0x85); /* test al, al / ax, ax / eax, eax */
	b(e, 0xc0);
	b(e, 0x9c); /* pushfq; pop rdx */
	b(e, 0x5a);
	b(e, 0x81); /* and edx, SF ZF PF */
	b(e, 0xe2);
	d32(e, F_SF | F_ZF | F_PF);
	b(e, 0x09); /* or edx, esi */
	b(e, 0xf2);
	load_ecx(e, OFF(flags));
	b(e, 0x81); /* and ecx, ~FLAGS_ARITH */
	b(e, 0xe1);
	d32(e, ~(uint32_t)FLAGS_ARITH);
	b(e, 0x09); /* or ecx, edx */
	b(e, 0xd1);
	b(e, 0x89); /* mov [flags], ecx */
	m_rbx(e, 1, OFF(flags));
	store_imm32(e, OFF(cc_op), CC_EAGER);
}

/* esi |= OF when bit @top of eax differs from bit 0 of @h (esi: CF; edx:
 * another bit of the result); edi is clobbered */
static void of_xor(Emit *e, unsigned top, unsigned h)
{
	b(e, 0x89); /* mov edi, eax */
	b(e, 0xc7);
	b(e, 0xc1); /* shr edi, top */
	b(e, 0xef);
	b(e, (uint8_t)top);
	b(e, 0x31); /* xor edi, h */
	b(e, (uint8_t)(0xc7 | h << 3));
	b(e, 0x83); /* and edi, 1 */
	b(e, 0xe7);
	b(e, 1);
	b(e, 0xc1); /* shl edi, 11: OF */
	b(e, 0xe7);
	b(e, 11);
	b(e, 0x09); /* or esi, edi */
	b(e, 0xfe);
}

/* ecx = the count of a shift (@in: C0 C1 D0-D3, 0F A4 A5 AC AD), & 31 */
static void shift_count(Emit *e, const Insn *in)
{
	if (in->op == 0xd0 || in->op == 0xd1) {
		b(e, 0xb9); /* mov ecx, 1 (the AND below sets ZF for the caller) */
		d32(e, 1);
	} else if (in->op == 0xd2 || in->op == 0xd3 || in->op == 0x1a5 || in->op == 0x1ad)
		get_reg(e, 1, R_ECX);
	else
		ld_imm_any(e, in, 1, 8, false);
	b(e, 0x83); /* and ecx, 31 */
	b(e, 0xe1);
	b(e, 31);
}

/* the prefix of an operation on al / ax / eax */
static void size_pfx(Emit *e, unsigned bits)
{
	if (bits == 16)
		b(e, 0x66);
}

/*
 * SF ZF PF AF of lazy flags made eager, CF and OF left for the caller to
 * set (a rotate replaces them): what cpu_flags() leaves of cc_compute()'s
 * result but those two.  SF ZF PF from the result at its width (shifted
 * up so that the host's TEST sees its top bit), AF from the operands.
 * eax, ecx, edx, edi are clobbered; esi is kept.
 */
static void emit_szap_eager(Emit *e)
{
	uint8_t *done[1] = {0}, *logic, *notinc;
	unsigned nd = 0;

	if (e->cc_prev.valid && e->cc_prev.op == CC_EAGER)
		return;

	b(e, 0x83); /* cmp dword [cc_op], CC_EAGER */
	m_rbx(e, 7, OFF(cc_op));
	b(e, CC_EAGER);
	jcc_fix(e, J_E, done, &nd);
	load_ecx(e, OFF(cc_bits));
	load_eax(e, OFF(cc_res));
	b(e, 0xf7); /* neg ecx */
	b(e, 0xd9);
	b(e, 0x83); /* add ecx, 32 */
	b(e, 0xc1);
	b(e, 32);
	b(e, 0x89); /* mov edi, eax */
	b(e, 0xc7);
	b(e, 0xd3); /* shl edi, cl: the result's top bit at bit 31 */
	b(e, 0xe7);
	b(e, 0x85); /* test edi, edi */
	b(e, 0xff);
	b(e, 0x9c); /* pushfq; pop rdx */
	b(e, 0x5a);
	b(e, 0x81); /* and edx, ZF | SF */
	b(e, 0xe2);
	d32(e, F_ZF | F_SF);
	b(e, 0x84); /* test al, al */
	b(e, 0xc0);
	b(e, 0x9c); /* pushfq; pop rdi */
	b(e, 0x5f);
	b(e, 0x83); /* and edi, PF */
	b(e, 0xe7);
	b(e, F_PF);
	b(e, 0x09); /* or edx, edi */
	b(e, 0xfa);
	b(e, 0x83); /* cmp dword [cc_op], CC_LOGIC: AF clear */
	m_rbx(e, 7, OFF(cc_op));
	b(e, CC_LOGIC);
	logic = jcc8(e, J_E);
	b(e, 0x8b); /* mov edi, [cc_b] */
	m_rbx(e, 7, OFF(cc_b));
	b(e, 0x83); /* cmp dword [cc_op], CC_INC */
	m_rbx(e, 7, OFF(cc_op));
	b(e, CC_INC);
	notinc = jcc8(e, J_B);
	b(e, 0xbf); /* mov edi, 1: INC and DEC add or take 1 */
	d32(e, 1);
	skip_here(e, notinc);
	b(e, 0x33); /* xor edi, [cc_a] */
	m_rbx(e, 7, OFF(cc_a));
	b(e, 0x31); /* xor edi, eax */
	b(e, 0xc7);
	b(e, 0x83); /* and edi, AF */
	b(e, 0xe7);
	b(e, F_AF);
	b(e, 0x09); /* or edx, edi */
	b(e, 0xfa);
	skip_here(e, logic);
	load_eax(e, OFF(flags));
	b(e, 0x25); /* and eax, ~FLAGS_ARITH */
	d32(e, ~(uint32_t)FLAGS_ARITH);
	b(e, 0x09); /* or eax, edx */
	b(e, 0xd0);
	store_eax(e, OFF(flags));
	store_imm32(e, OFF(cc_op), CC_EAGER);
	patch_to(e, done, nd);
}

/* Group 2 of a register, every operation and size, as alu_shift(): a zero
 * count changes nothing; SHL SHR SAR set all six flags from the result
 * and CF/OF as alu_shift() defines them; the rotates set CF and OF on
 * EFLAGS made eager first, as set_cf_of() does (emit_szap_eager()). */
static void emit_shift_any(Emit *e, const Insn *in)
{
	unsigned bits = in->op & 1 ? (in->o32 ? 32 : 16) : 8, top = bits - 1, op = in->reg;
	uint8_t *zero[1] = {0};
	unsigned nz = 0;

	shift_count(e, in);
	jcc_fix(e, J_E, zero, &nz);
	if (op < 4) {
		/* RCL, RCR: CF in, from the lazy state; then SF ZF AF PF,
		 * which the rotates keep, made eager */
		if (op >= 2)
			emit_cf(e);
		emit_szap_eager(e);
		shift_count(e, in);
	}
	ld_any(e, 0, in->rm, bits);
	if (op >= 4) {
		if (op == 7) {
			if (bits < 32) {
				b(e, 0x0f); /* movsx eax, al / ax */
				b(e, bits == 8 ? 0xbe : 0xbf);
				b(e, 0xc0);
			}
		}
		/* 32-bit host shifts of the zero- (SAR: sign-) extended value
		 * give bit top of every step for 8 and 16 bits too */
		b(e, 0xff); /* dec ecx: the last step apart */
		b(e, 0xc9);
		b(e, 0xd3); /* shl / shr / sar eax, cl */
		b(e, op == 5 ? 0xe8 : op == 7 ? 0xf8 : 0xe0);
		/* esi = CF: the bit the last step shifts out */
		b(e, 0x89); /* mov esi, eax */
		b(e, 0xc6);
		if (op == 4 || op == 6) {
			b(e, 0xc1); /* shr esi, top */
			b(e, 0xee);
			b(e, (uint8_t)top);
		}
		b(e, 0x83); /* and esi, 1 */
		b(e, 0xe6);
		b(e, 1);
		if (op == 5) {
			/* OF: bit top of a >> (count - 1) */
			b(e, 0x89); /* mov edi, eax */
			b(e, 0xc7);
			b(e, 0xc1); /* shr edi, top */
			b(e, 0xef);
			b(e, (uint8_t)top);
			b(e, 0x83); /* and edi, 1 */
			b(e, 0xe7);
			b(e, 1);
			b(e, 0xc1); /* shl edi, 11 */
			b(e, 0xe7);
			b(e, 11);
			b(e, 0x09); /* or esi, edi */
			b(e, 0xfe);
		}
		b(e, 0xd1); /* shl / shr / sar eax, 1: the last step */
		b(e, op == 5 ? 0xe8 : op == 7 ? 0xf8 : 0xe0);
		zx_bits(e, 0, bits);
		if (op == 4 || op == 6)
			of_xor(e, top, 6); /* OF = sign of the result ^ CF */
		emit_eager(e, bits);
	} else {
		if (op >= 2) {
			b(e, 0x0f); /* bt esi, 0: CF in */
			b(e, 0xba);
			b(e, 0xe6);
			b(e, 0);
		} else {
			if (bits < 32) {
				b(e, 0x83); /* and ecx, top: count % bits */
				b(e, 0xe1);
				b(e, (uint8_t)top);
			}
		}
		/* rol / ror / rcl / rcr al / ax / eax, cl; RCL and RCR take
		 * the count modulo 9 / 17 as rc_count() does */
		size_pfx(e, bits);
		b(e, bits == 8 ? 0xd2 : 0xd3);
		b(e, (uint8_t)(0xc0 | op << 3));
		b(e, 0x40); /* setc sil */
		b(e, 0x0f);
		b(e, 0x92);
		b(e, 0xc6);
		zx_bits(e, 0, bits);
		if (op < 2) {
			/* ROL: CF = bit 0 of the result, ROR: its top bit (the host's
			 * CF is the same but not after a rotation by 0) */
			b(e, 0x89); /* mov esi, eax */
			b(e, 0xc6);
			if (op == 1) {
				b(e, 0xc1); /* shr esi, top */
				b(e, 0xee);
				b(e, (uint8_t)top);
			}
		}
		b(e, 0x83); /* and esi, 1 */
		b(e, 0xe6);
		b(e, 1);
		if (op == 0 || op == 2) {
			of_xor(e, top, 6); /* OF = top bit ^ CF */
		} else {
			b(e, 0x89); /* mov edx, eax */
			b(e, 0xc2);
			b(e, 0xc1); /* shr edx, top - 1 */
			b(e, 0xea);
			b(e, (uint8_t)(top - 1));
			of_xor(e, top, 2); /* OF = top bit ^ the one below */
		}
		load_ecx(e, OFF(flags));
		b(e, 0x81); /* and ecx, ~(CF | OF) */
		b(e, 0xe1);
		d32(e, ~(uint32_t)(F_CF | F_OF));
		b(e, 0x09); /* or ecx, esi */
		b(e, 0xf1);
		b(e, 0x89); /* mov [flags], ecx */
		m_rbx(e, 1, OFF(flags));
	}
	st_any(e, in->rm, bits);
	patch_to(e, zero, nz);
	cache_clear(e); /* the paths may differ in what the cache holds */
}

/* MUL / IMUL r/m (F6 F7 /4 /5, a register): do_mul() of insn.c */
static void emit_mul(Emit *e, const Insn *in)
{
	unsigned bits = in->op & 1 ? (in->o32 ? 32 : 16) : 8;

	ld_any(e, 1, in->rm, bits);
	get_reg(e, 0, R_EAX);
	if (bits == 16)
		get_reg(e, 2, R_EDX); /* the upper half stays */
	size_pfx(e, bits);
	b(e, bits == 8 ? 0xf6 : 0xf7); /* mul / imul cl / cx / ecx */
	b(e, in->reg == 4 ? 0xe1 : 0xe9);
	/* the host's CF = OF: the upper half is not the extension of the
	 * lower, as do_mul() decides */
	b(e, 0x40); /* setc sil */
	b(e, 0x0f);
	b(e, 0x92);
	b(e, 0xc6);
	b(e, 0x40); /* movzx esi, sil */
	b(e, 0x0f);
	b(e, 0xb6);
	b(e, 0xf6);
	b(e, 0x69); /* imul esi, esi, CF | OF */
	b(e, 0xf6);
	d32(e, F_CF | F_OF);
	b(e, 0x89); /* mov edi, edx: the upper half */
	b(e, 0xd7);
	emit_eager(e, bits);
	if (bits == 32) {
		put_reg(e, 0, R_EAX);
		put_reg(e, 7, R_EDX);
		return;
	}
	zx_bits(e, 0, 16); /* 8 bits: AX = the product */
	st_any(e, R_EAX, 16);
	if (bits == 16) {
		b(e, 0x89); /* mov eax, edi */
		b(e, 0xf8);
		zx_bits(e, 0, 16);
		st_any(e, R_EDX, 16);
	}
}

/* IMUL r, r, imm (69 6B) and IMUL r, r (0F AF), registers: imul_trunc() */
static void emit_imul(Emit *e, const Insn *in)
{
	unsigned bits = in->o32 ? 32 : 16;

	if (in->op == 0x1af) {
		ld_any(e, 0, in->reg, bits);
		ld_any(e, 1, in->rm, bits);
	} else {
		ld_any(e, 0, in->rm, bits);
		ld_imm_any(e, in, 1, bits, in->op == 0x6b);
	}
	size_pfx(e, bits);
	b(e, 0x0f); /* imul eax, ecx (ax, cx) */
	b(e, 0xaf);
	b(e, 0xc1);
	b(e, 0x40); /* setc sil */
	b(e, 0x0f);
	b(e, 0x92);
	b(e, 0xc6);
	b(e, 0x40); /* movzx esi, sil */
	b(e, 0x0f);
	b(e, 0xb6);
	b(e, 0xf6);
	b(e, 0x69); /* imul esi, esi, CF | OF */
	b(e, 0xf6);
	d32(e, F_CF | F_OF);
	zx_bits(e, 0, bits);
	emit_eager(e, bits);
	st_any(e, in->reg, bits);
}

/* SHLD / SHRD of 32-bit registers (0F A4 A5 AC AD): alu_shld(); the host
 * instruction gives the result and CF for counts 1-31 */
static void emit_shld(Emit *e, const Insn *in)
{
	uint8_t *zero[1] = {0};
	unsigned nz = 0;

	shift_count(e, in);
	jcc_fix(e, J_E, zero, &nz);
	get_reg(e, 0, in->rm);
	get_reg(e, 2, in->reg);
	b(e, 0x89); /* mov edi, eax: dst before */
	b(e, 0xc7);
	b(e, 0x0f); /* shld / shrd eax, edx, cl */
	b(e, in->op < 0x1ac ? 0xa5 : 0xad);
	b(e, 0xd0);
	b(e, 0x40); /* setc sil */
	b(e, 0x0f);
	b(e, 0x92);
	b(e, 0xc6);
	b(e, 0x83); /* and esi, 1 */
	b(e, 0xe6);
	b(e, 1);
	b(e, 0x31); /* xor edi, eax: OF = the sign changed */
	b(e, 0xc7);
	b(e, 0xc1); /* shr edi, 31 */
	b(e, 0xef);
	b(e, 31);
	b(e, 0xc1); /* shl edi, 11 */
	b(e, 0xe7);
	b(e, 11);
	b(e, 0x09); /* or esi, edi */
	b(e, 0xfe);
	emit_eager(e, 32);
	put_reg(e, 0, in->rm);
	patch_to(e, zero, nz);
	cache_clear(e); /* the paths may differ in what the cache holds */
}

/* SETcc r8 for the conditions on one flag that every lazy state answers
 * cheaply: E (ZF: the result is 0), S (its top bit), B (CF: emit_cf());
 * and their negations.  The others call the handler. */
static bool setcc_inline_ok(const Insn *in)
{
	unsigned c = (in->op & 15) >> 1;

	return c == 1 || c == 2 || c == 4;
}

static void emit_setcc(Emit *e, const Insn *in)
{
	unsigned c = (in->op & 15) >> 1;
	uint8_t *eager, *done;

	if (c == 1) {
		emit_cf(e);
		b(e, 0x89); /* mov eax, esi */
		b(e, 0xf0);
	} else {
		emit_res_mask(e, c == 4);
		b(e, 0x83); /* cmp dword [cc_op], CC_EAGER */
		m_rbx(e, 7, OFF(cc_op));
		b(e, CC_EAGER);
		eager = jcc8(e, J_E);
		b(e, 0x85); /* test [cc_res], edx */
		m_rbx(e, 2, OFF(cc_res));
		b(e, 0x0f); /* ZF: setz al (the result is 0); SF: setnz al */
		b(e, c == 2 ? 0x94 : 0x95);
		b(e, 0xc0);
		b(e, 0xeb); /* jmp done */
		b(e, 0);
		done = e->full ? NULL : e->p - 1;
		skip_here(e, eager);
		b(e, 0xf7); /* test dword [flags], ZF / SF */
		m_rbx(e, 0, OFF(flags));
		d32(e, c == 2 ? F_ZF : F_SF);
		b(e, 0x0f); /* setnz al: the flag is set */
		b(e, 0x95);
		b(e, 0xc0);
		skip_here(e, done);
		b(e, 0x0f); /* movzx eax, al */
		b(e, 0xb6);
		b(e, 0xc0);
	}
	if (in->op & 1) {
		b(e, 0x83); /* xor eax, 1 */
		b(e, 0xf0);
		b(e, 1);
	}
	st_any(e, in->rm, 8);
}

/* TEST m8 / m32, imm (F6 F7 /0 /1, 32-bit addressing): a read through the
 * TLB as the memory forms do (the stub runs the handler when a check
 * fails), then alu_op()'s AND with lazy flags */
static bool testm_inline_ok(const Insn *in)
{
	return in->jit == JIT_GRP3 && (!wide(in) || in->o32) && !in->lock && in->reg < 2 &&
	       in->mod != 3 && in->a32;
}

static void emit_testm(Emit *e, const Insn *in, Stub *st)
{
	unsigned bits = wide(in) ? 32 : 8;

	emit_ea(e, in);
	emit_tlb(e, in->ea_seg, bits / 8, false, st);
	if (bits == 8) {
		b(e, 0x0f); /* movzx eax, byte [rdx] */
		b(e, 0xb6);
		b(e, 0x02);
	} else {
		b(e, 0x8b); /* mov eax, [rdx] */
		b(e, 0x02);
	}
	ld_imm_any(e, in, 1, bits, false);
	alu_any(e, 4, bits);
}

/*
 * DIV / IDIV r/m32 (F7 /6 /7; a register, or memory through the TLB as
 * the memory forms): the host's division when it cannot trap and the
 * quotient fits, which is when do_div() does not raise #DE; otherwise,
 * and for a divisor of -1 (whose INT64_MIN / -1 would trap the host),
 * the stub runs the handler, which raises #DE where it must.  Flags are
 * not changed (do_div() leaves them).
 */
static bool div_inline_ok(const Insn *in)
{
	return in->jit == JIT_GRP3 && wide(in) && in->o32 && !in->lock && in->reg >= 6 &&
	       (in->mod == 3 || in->a32);
}

static void emit_div(Emit *e, const Insn *in, Stub *st)
{
	uint8_t *wide, *done;

	if (in->mod == 3) {
		get_reg(e, 1, in->rm);
	} else {
		emit_ea(e, in);
		emit_tlb(e, in->ea_seg, 4, false, st);
		b(e, 0x8b); /* mov ecx, [rdx] */
		b(e, 0x0a);
	}
	get_reg(e, 0, R_EAX);
	get_reg(e, 2, R_EDX);
	b(e, 0x85); /* test ecx, ecx */
	b(e, 0xc9);
	jcc_stub(e, st, J_E);
	if (in->reg == 6) {
		b(e, 0x39); /* cmp edx, ecx: the quotient fits in 32 bits */
		b(e, 0xca);
		jcc_stub(e, st, 0x3); /* jae */
		b(e, 0xf7);	      /* div ecx */
		b(e, 0xf1);
	} else {
		b(e, 0x83); /* cmp ecx, -1 */
		b(e, 0xf9);
		b(e, 0xff);
		jcc_stub(e, st, J_E);
		b(e, 0x89); /* mov esi, eax */
		b(e, 0xc6);
		b(e, 0xc1); /* sar esi, 31 */
		b(e, 0xfe);
		b(e, 31);
		b(e, 0x39); /* cmp esi, edx: the dividend fits in 32 bits */
		b(e, 0xd6);
		wide = jcc8(e, J_NE);
		b(e, 0xf7); /* idiv ecx: no overflow, the divisor is not -1 */
		b(e, 0xf9);
		b(e, 0xeb); /* jmp done */
		b(e, 0);
		done = e->full ? NULL : e->p - 1;
		skip_here(e, wide);
		b(e, 0x48); /* shl rdx, 32 */
		b(e, 0xc1);
		b(e, 0xe2);
		b(e, 32);
		b(e, 0x48); /* or rax, rdx: the 64-bit dividend */
		b(e, 0x09);
		b(e, 0xd0);
		b(e, 0x48); /* movsxd rcx, ecx */
		b(e, 0x63);
		b(e, 0xc9);
		b(e, 0x48); /* cqo */
		b(e, 0x99);
		b(e, 0x48); /* idiv rcx */
		b(e, 0xf7);
		b(e, 0xf9);
		b(e, 0x48); /* movsxd rsi, eax */
		b(e, 0x63);
		b(e, 0xf0);
		b(e, 0x48); /* cmp rsi, rax: the quotient fits in 32 bits */
		b(e, 0x39);
		b(e, 0xc6);
		jcc_stub(e, st, J_NE);
		skip_here(e, done);
	}
	put_reg(e, 0, R_EAX);
	put_reg(e, 2, R_EDX);
}

static void emit_alu2(Emit *e, const Insn *in, enum alu2 k)
{
	unsigned osz = in->o32 ? 32 : 16, bits = in->op & 1 ? osz : 8;
	unsigned op = (in->op >> 3) & 7, dst, src;

	switch (k) {
	case A2_ALU:
		dst = in->op & 2 ? in->reg : in->rm;
		src = in->op & 2 ? in->rm : in->reg;
		if (op == 2 || op == 3)
			emit_cf(e);
		ld_any(e, 0, dst, bits);
		ld_any(e, 1, src, bits);
		alu_any(e, op, bits);
		if (op != 7)
			st_any(e, dst, bits);
		break;
	case A2_ACC:
	case A2_ALUI:
		if (k == A2_ALUI)
			op = in->reg;
		dst = k == A2_ACC ? R_EAX : in->rm;
		if (op == 2 || op == 3)
			emit_cf(e);
		ld_any(e, 0, dst, bits);
		ld_imm_any(e, in, 1, bits, in->op == 0x83);
		alu_any(e, op, bits);
		if (op != 7)
			st_any(e, dst, bits);
		break;
	case A2_TEST:
		ld_any(e, 0, in->rm, bits);
		ld_any(e, 1, in->reg, bits);
		alu_any(e, 4, bits);
		break;
	case A2_TESTI:
		ld_any(e, 0, in->jit == JIT_TESTA ? R_EAX : in->rm, bits);
		ld_imm_any(e, in, 1, bits, false);
		alu_any(e, 4, bits);
		break;
	case A2_NOT:
		ld_any(e, 0, in->rm, bits);
		b(e, 0xf7); /* not eax */
		b(e, 0xd0);
		zx_bits(e, 0, bits);
		st_any(e, in->rm, bits);
		break;
	case A2_NEG: /* alu_op(SUB, 0, v) */
		ld_any(e, 1, in->rm, bits);
		b(e, 0x31); /* xor eax, eax */
		b(e, 0xc0);
		alu_any(e, 5, bits);
		st_any(e, in->rm, bits);
		break;
	case A2_INCDEC:
		if (in->jit == JIT_INCDEC)
			incdec_any(e, in->op & 7, osz, in->op & 8);
		else
			incdec_any(e, in->rm, bits, in->reg == 1);
		break;
	case A2_MOV8:
		dst = to_reg(in) ? in->reg : in->rm;
		src = to_reg(in) ? in->rm : in->reg;
		ld_any(e, 0, src, 8);
		st_any(e, dst, 8);
		break;
	case A2_MOVI8:
		ld_imm_any(e, in, 0, 8, false);
		st_any(e, in->op & 7, 8);
		break;
	case A2_MOVX:
		src = in->op & 1 ? 16 : 8;
		ld_any(e, 0, in->rm, src);
		if (in->op & 8) {   /* MOVSX */
			b(e, 0x0f); /* movsx eax, al / ax */
			b(e, src == 8 ? 0xbe : 0xbf);
			b(e, 0xc0);
			zx_bits(e, 0, osz);
		}
		st_any(e, in->reg, osz);
		break;
	case A2_XCHG: /* reg (eAX) = rm (r), then rm = reg, as op_xchg_rm() */
		dst = in->jit == JIT_XCHG ? in->reg : R_EAX;
		src = in->jit == JIT_XCHG ? in->rm : in->op & 7;
		if (in->jit == JIT_XCHGA)
			bits = osz;
		ld_any(e, 0, dst, bits);
		b(e, 0x89); /* mov esi, eax */
		b(e, 0xc6);
		ld_any(e, 0, src, bits);
		st_any(e, dst, bits);
		b(e, 0x89); /* mov eax, esi */
		b(e, 0xf0);
		st_any(e, src, bits);
		break;
	case A2_SHIFT:
		emit_shift_any(e, in);
		break;
	case A2_MUL:
		emit_mul(e, in);
		break;
	case A2_IMUL:
		emit_imul(e, in);
		break;
	case A2_SHLD:
		emit_shld(e, in);
		break;
	case A2_SETCC:
		emit_setcc(e, in);
		break;
	case A2_CBW: /* op_cbw(): AX = AL or EAX = AX, sign-extended */
		get_reg(e, 0, R_EAX);
		b(e, 0x0f); /* movsx eax, al / ax */
		b(e, in->o32 ? 0xbf : 0xbe);
		b(e, 0xc0);
		zx_bits(e, 0, osz);
		st_any(e, R_EAX, osz);
		break;
	case A2_CWD: /* op_cwd(): DX or EDX = the sign of AX or EAX */
		get_reg(e, 0, R_EAX);
		if (!in->o32) {
			b(e, 0x0f); /* movsx eax, ax */
			b(e, 0xbf);
			b(e, 0xc0);
		}
		b(e, 0xc1); /* sar eax, 31 */
		b(e, 0xf8);
		b(e, 31);
		zx_bits(e, 0, osz);
		st_any(e, R_EDX, osz);
		break;
	case A2_NONE:
		break;
	}
	switch (k) {
	case A2_NOT: /* the lazy state as it was */
	case A2_MOV8:
	case A2_MOVI8:
	case A2_MOVX:
	case A2_XCHG:
	case A2_CBW:
	case A2_CWD:
	case A2_SETCC:
		e->cc = e->cc_prev;
		break;
	case A2_MUL: /* eager (emit_eager()) */
	case A2_IMUL:
		e->cc = (CcKnown){true, CC_EAGER, 0};
		break;
	case A2_SHIFT: /* eager after a count of 1; a count of 0 changes nothing */
		if (in->op == 0xd0 || in->op == 0xd1)
			e->cc = (CcKnown){true, CC_EAGER, 0};
		break;
	default:
		break;
	}
	e->pend_eip += in->len;
	e->pend_ic++;
}

static bool shift_inline_ok(const Insn *in)
{
	return in->jit == JIT_SHIFT && wide(in) && in->o32 && in->mod == 3 && in->reg >= 4;
}

/*
 * A register-only ALU form but ADC/SBB (ADD OR AND SUB XOR CMP TEST, of
 * any size): it cannot fault and writes all six lazy-flag fields, whether
 * it runs inline or its handler is called bare (alu_op).
 */
static bool reg_sets_cc(const Insn *in)
{
	unsigned alu;

	if (in->lock)
		return false;
	switch (in->jit) {
	case JIT_ALU:
	case JIT_ALUI:
	case JIT_TEST:
		if (in->mod != 3)
			return false;
		alu = in->jit == JIT_ALU ? alu_of(in) : in->jit == JIT_ALUI ? in->reg : 4;
		break;
	case JIT_ACC:
		alu = alu_of(in);
		break;
	case JIT_TESTA:
		alu = 4;
		break;
	default:
		return false;
	}
	return no_carry_in(alu);
}

/*
 * Whether a later instruction is an inline register ALU or TEST form or
 * another reg_sets_cc() form, which writes all six lazy-flag fields and
 * reads none, with only moves and LEA between: then the lazy flags of this
 * one are never seen (nothing between the two can fault or stop, and a
 * block runs whole), and its inline code does not store them.
 */
static bool next_sets_cc(const TB *tb, unsigned i)
{
	if (!tb)
		return false;
	/* past moves and LEA, which neither read flags nor leave the
	 * inline code (no stub, no fault) */
	for (unsigned j = i + 1; j + 1 < tb->n; j++) { /* the last is called */
		const Insn *in = &tb->insn[j];
		enum inl k = inline_kind(in);

		if (k == INL_ALU_RR || k == INL_ALU_RI || k == INL_TEST_RR || k == INL_ALU_AI ||
		    reg_sets_cc(in))
			return true;
		if (k != INL_MOV_RR && k != INL_MOV_RI && mem_kind(in) != LEA)
			return false;
	}
	return false;
}

/* INC/DEC r32 whose flags the next flag-setting form replaces before
 * anything can see them (next_sets_cc): just the register */
static void emit_incdec_dead(Emit *e, const Insn *in)
{
	unsigned r = in->op & 7;

	get_reg(e, 0, r);
	b(e, 0xff); /* inc / dec eax */
	b(e, in->op & 8 ? 0xc8 : 0xc0); /* DEC : INC */
	put_reg(e, 0, r);
	e->pend_eip += in->len;
	e->pend_ic++;
}

static void emit_insn(Emit *e, const Insn *in, bool first, bool last, Stub *stubs, unsigned *nstubs)
{
	enum inl k = last ? INL_NONE : inline_kind(in);
	enum mem m = last || k != INL_NONE ? MEM_NONE : mem_kind(in);

	e->cc_prev = e->cc;
	e->cc.valid = false;

	if (last && e->tb && jcc_inline_ok(in)) {
		cache_clear(e);
		/* the flags of the instruction before, when known */
		e->jcc_op = in > e->tb->insn ? static_cc(in - 1, &e->jcc_bits) : 0;
		emit_jcc(e, in, first);
		e->jcc_op = 0;
		return;
	}
	if (last && e->tb && xfer_inline_ok(in)) {
		emit_xfer(e, in, first);
		return;
	}
	if (!last && (div_inline_ok(in) || testm_inline_ok(in))) {
		Stub *st = &stubs[(*nstubs)++];

		*st = (Stub){in, first, e->pend_eip, e->pend_ic, {NULL}, 0, NULL, {{0}, {0}, 0}};
		if (div_inline_ok(in))
			emit_div(e, in, st);
		else
			emit_testm(e, in, st);
		st->join = e->p;
		st->c = e->c;
		e->pend_eip += in->len;
		e->pend_ic++;
		if (first)
			store_imm32(e, OFF(stuck), 0);
		return;
	}
	if (m != MEM_NONE) {
		Stub *st = &stubs[(*nstubs)++];

		*st = (Stub){in, first, e->pend_eip, e->pend_ic, {NULL}, 0, NULL, {{0}, {0}, 0}};
		emit_mem(e, in, m, st);
		st->join = e->p;
		st->c = e->c;
		e->pend_eip += in->len;
		e->pend_ic++;
		if (first)
			store_imm32(e, OFF(stuck), 0);
		return;
	}
	if (!last && e->dead_cc && in->o32 && in->jit == JIT_INCDEC && !in->lock) {
		emit_incdec_dead(e, in);
		if (first)
			store_imm32(e, OFF(stuck), 0);
		return;
	}
	if (!last && k == INL_NONE && alu2_kind(in) != A2_NONE) {
		emit_alu2(e, in, alu2_kind(in));
		if (first)
			store_imm32(e, OFF(stuck), 0);
		return;
	}
	if (k != INL_NONE || (!last && pure_reg(in))) {
		if (k != INL_NONE) {
			emit_inline(e, in, k);
		} else {
			cache_clear(e); /* R8/R9 used, or a handler called */
			if (shift_inline_ok(in))
				emit_shift(e, in);
			else
				emit_pure(e, in);
		}
		if (first)
			store_imm32(e, OFF(stuck), 0);
		return;
	}
	cache_clear(e);
	emit_call(e, in, first, last);
}

size_t jit_emit_block(uint8_t *buf, size_t cap, const uint8_t *at, const TB *tb, uint32_t flat)
{
	Emit e = {.p = buf, .end = buf + cap, .at = at, .start = buf, .tb = tb, .flat = flat};
	uint8_t *guard, *and_imm, *cmp_imm, *fail[1] = {0};
	unsigned nfail = 0;

	cache_clear(&e);

	b(&e, 0x53); /* push rbx */
	b(&e, 0x48); /* mov rbx, rdi */
	b(&e, 0x89);
	b(&e, 0xfb);
	/* a chained jump enters here, the frame and RBX already set: the
	 * flat segments the memory paths rely on, patched in at the end
	 * (jumped over when there are none) */
	guard = e.p;
	b(&e, 0x8b); /* mov eax, [rbx+jit_flat] */
	m_rbx(&e, 0, OFF(jit_flat));
	b(&e, 0x25); /* and eax, need | JIT_CPL3 */
	and_imm = e.p;
	d32(&e, 0);
	b(&e, 0x3d); /* cmp eax, need | CPL 3 as compiled */
	cmp_imm = e.p;
	d32(&e, 0);
	jcc_fix(&e, J_NE, fail, &nfail);
	e.body = e.p;
	Stub stubs[TB_MAX];
	unsigned nstubs = 0;

	for (unsigned i = 0; i < tb->n; i++) {
		e.dead_cc = next_sets_cc(tb, i);
		emit_insn(&e, &tb->insn[i], i == 0, i + 1 == tb->n, stubs, &nstubs);
	}
	e.dead_cc = false;
	for (unsigned i = 0; i < nstubs; i++)
		emit_stub(&e, &stubs[i]);
	/* entered with other segments: nothing ran (cpu.c compiles again) */
	patch_to(&e, fail, nfail);
	b(&e, 0x31); /* xor eax, eax */
	b(&e, 0xc0);
	b(&e, 0x5b); /* pop rbx */
	b(&e, 0xc3); /* ret */
	if (e.full)
		return 0;
	if (e.need) {
		uint32_t a = e.need | JIT_CPL3, c = e.need | (flat & JIT_CPL3);

		memcpy(and_imm, &a, 4);
		memcpy(cmp_imm, &c, 4);
	} else {
		guard[0] = 0xeb; /* jmp over the guard */
		guard[1] = (uint8_t)(cmp_imm + 4 + 6 - (guard + 2));
	}
	return (size_t)(e.p - buf);
}

#endif
