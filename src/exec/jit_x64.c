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

typedef struct Emit {
	uint8_t *p, *end;  /* where the next byte goes, end of the room */
	const uint8_t *at; /* run-time address of the first byte */
	uint8_t *start;	   /* first byte in the write view */
	bool full;
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
	store_eax(e, OFF(start_eip));
}

static void emit_insn(Emit *e, const Insn *in, bool first, bool last)
{
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
	if (first) {
		/* mov dword [rbx+stuck], 0: an instruction retired */
		b(e, 0xc7);
		m_rbx(e, 0, OFF(stuck));
		d32(e, 0);
	}
	if (last) {
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

size_t jit_emit_block(uint8_t *buf, size_t cap, const uint8_t *at, const TB *tb)
{
	Emit e = {buf, buf + cap, at, buf, false};

	b(&e, 0x53); /* push rbx */
	b(&e, 0x48); /* mov rbx, rdi */
	b(&e, 0x89);
	b(&e, 0xfb);
	for (unsigned i = 0; i < tb->n; i++)
		emit_insn(&e, &tb->insn[i], i == 0, i + 1 == tb->n);
	return e.full ? 0 : (size_t)(e.p - buf);
}

#endif
