/*
 * jit.c - the host-code backend: which engine runs, and the code cache.
 *
 * A block of decoded instructions (dcache.c) that has been interpreted
 * JIT_HOT times gets host code (jit_x64.c): the interpreter's own loop body
 * written out per instruction, with each handler called directly and its
 * Insn baked in, so the two engines do the same things in the same order
 * and agree at every boundary.  The code belongs to its TB: whatever drops
 * or rebuilds a block (a new code version, the pool emptied, a flush) drops
 * its code with it, since TB.code is part of the TB.  So self-modifying
 * code and DMA into code pages need nothing here.
 *
 * The cache is bounded (FB_JIT_CACHE_KB, default 32 MiB): when it is full
 * every block's code is dropped and compiling starts again from the
 * bottom.  That never happens while host code runs: blocks are compiled
 * only between blocks, and dc_flush() waits for the end of the running
 * instruction (cpu->in_insn) before it calls jit_flush().
 *
 * No guest-chosen byte becomes host code: the code holds host addresses
 * (the CPU, the Insn, the handler), structure offsets and instruction
 * lengths (1-15); immediates, displacements and everything else the guest
 * wrote stay in the Insn, data that the handlers read.
 */
#include <stdlib.h>
#include <string.h>

#include "jit.h"

/* Interpretations of a block before it is compiled: code run once (boot,
 * initialisation) is not worth compiling.  FB_JIT_HOT=N for tests. */
#define JIT_HOT 2
static int jit_hot = -1;

static enum cpu_accel default_accel = FB_JIT_HOST ? CPU_ACCEL_JIT : CPU_ACCEL_INTERP;

bool cpu_accel_parse(const char *name, enum cpu_accel *out)
{
	if (strcmp(name, "interp") == 0 || strcmp(name, "tcg-interp") == 0) {
		*out = CPU_ACCEL_INTERP;
		return true;
	}
	if (strcmp(name, "jit") == 0) {
		*out = CPU_ACCEL_JIT;
		return true;
	}
	return false;
}

void cpu_set_default_accel(enum cpu_accel a)
{
	default_accel = a;
}

enum cpu_accel cpu_default_accel(void)
{
	return default_accel;
}

enum cpu_accel cpu_get_accel(const CPU *cpu)
{
	return cpu->use_jit ? CPU_ACCEL_JIT : CPU_ACCEL_INTERP;
}

#if FB_JIT_HOST

static size_t cache_size(void)
{
	const char *e = getenv("FB_JIT_CACHE_KB");
	size_t kb = 32 * 1024;

	if (e && *e) {
		char *end;
		unsigned long v = strtoul(e, &end, 10);

		if (*end || v < 4 || v > (1ul << 22))
			fatal(EXIT_USAGE, "FB_JIT_CACHE_KB=%s: expected 4 to 4194304 (KiB)", e);
		kb = v;
	}
	return kb * 1024;
}

void cpu_set_accel(CPU *cpu, enum cpu_accel a)
{
	if (a == CPU_ACCEL_JIT && !cpu->jit) {
		struct Jit *j = xcalloc(1, sizeof(*j));

		if (!cb_init(&j->cb, cache_size())) {
			warn("jit: no executable memory; interpreting");
			free(j);
			a = CPU_ACCEL_INTERP;
		} else {
			cpu->jit = j;
		}
	}
	cpu->use_jit = a == CPU_ACCEL_JIT;
}

/* Drop every block's code.  Never while host code runs (see above). */
void jit_flush(CPU *cpu)
{
	if (!cpu->jit)
		return;
	if (cpu->tb)
		for (unsigned i = 0; i < TB_SIZE; i++)
			cpu->tb[i].code = NULL;
	cb_reset(&cpu->jit->cb);
	cpu->jit->flushes++;
}

void jit_free(CPU *cpu)
{
	if (!cpu->jit)
		return;
	cb_free(&cpu->jit->cb);
	free(cpu->jit);
	cpu->jit = NULL;
	cpu->use_jit = false;
}

static void *compile(CPU *cpu, TB *tb)
{
	CodeBuf *cb = &cpu->jit->cb;

	for (;;) {
		size_t at = (cb->used + 15) & ~(size_t)15, n = 0;

		if (at < cb->size) {
			cb_begin(cb);
			n = jit_emit_block(cb->rw + at, cb->size - at, cb->rx + at, tb,
					   jit_flat_state(cpu));
			cb_end(cb);
		}
		if (n) {
			cb->used = at + n;
			cpu->jit->blocks++;
			return cb->rx + at;
		}
		if (at == 0)
			return NULL; /* bigger than the whole cache: interpret it */
		jit_flush(cpu);	     /* full: start again with this block */
	}
}

JitFn *jit_block(CPU *cpu, TB *tb)
{
	if (tb->code)
		return (JitFn *)tb->code;
	if (jit_hot < 0) {
		const char *h = getenv("FB_JIT_HOT");

		jit_hot = h && *h ? atoi(h) : JIT_HOT;
		if (jit_hot < 0 || jit_hot > 255)
			jit_hot = JIT_HOT;
	}
	if (tb->runs < jit_hot) {
		tb->runs++;
		return NULL;
	}
	tb->code = compile(cpu, tb);
	return (JitFn *)tb->code;
}

#else /* no backend for this host */

void cpu_set_accel(CPU *cpu, enum cpu_accel a)
{
	(void)a;
	cpu->use_jit = false;
}

void jit_flush(CPU *cpu)
{
	(void)cpu;
}

void jit_free(CPU *cpu)
{
	(void)cpu;
}

JitFn *jit_block(CPU *cpu, TB *tb)
{
	(void)cpu;
	(void)tb;
	return NULL;
}

size_t jit_emit_block(uint8_t *buf, size_t cap, const uint8_t *at, const TB *tb, uint32_t flat)
{
	(void)flat;
	(void)buf;
	(void)cap;
	(void)at;
	(void)tb;
	return 0;
}

#endif

/* ---- REP MOVS / STOS in bulk -------------------------------------------- */

/* How many @size-byte elements from offset @off fit in segment @s's limit
 * and in the page of linear address @lin. */
static uint32_t room(const CPU *cpu, int s, uint32_t off, uint32_t lin, unsigned size)
{
	uint64_t in_seg = ((uint64_t)cpu->seg[s].limit - off + 1) / size;
	uint32_t in_page = (PAGE_SIZE - (lin & (PAGE_SIZE - 1))) / size;

	return off > cpu->seg[s].limit ? 0 : in_seg < in_page ? (uint32_t)in_seg : in_page;
}

/*
 * The iterations of a REP MOVS or REP STOS (32-bit addressing, DF clear)
 * after its first, while they stay on mem_fast()'s path: inside the
 * segment limits and one page each of RAM the TLB maps for the access, up
 * to the icount @limit.  Such an iteration cannot fault, reach a device or
 * a watched page, or set cpu->brk, so n of them at once leave exactly what
 * n passes through run_block()'s REP loop leave: the elements moved one
 * after the other (an overlap repeats as it does there), ESI, EDI, ECX,
 * icount, and EIP back on the instruction while ECX is not zero.  Returns
 * false (nothing done) when the next iteration is not such a one.
 */
bool jit_rep_bulk(CPU *cpu, const Insn *in, uint64_t limit)
{
	unsigned op = in->op, size = (op & 1) ? (in->o32 ? 4 : 2) : 1;
	bool movs = op == 0xa4 || op == 0xa5;
	int src = in->seg != S_NONE ? in->seg : S_DS;

	if (in->rep != 0xf3 || !in->a32 || in->save || (cpu->flags & F_DF) ||
	    !(movs || op == 0xaa || op == 0xab))
		return false;
	uint64_t n = cpu->r[R_ECX];
	uint32_t di = cpu->r[R_EDI], si = cpu->r[R_ESI];
	uint8_t *d = mem_fast(cpu, S_ES, di, size, true);
	const uint8_t *sp = movs ? mem_fast(cpu, src, si, size, false) : NULL;

	if (!d || (movs && !sp))
		return false;
	if (n > limit - cpu->icount)
		n = limit - cpu->icount;
	uint32_t r = room(cpu, S_ES, di, cpu->seg[S_ES].base + di, size);

	if (n > r)
		n = r;
	if (movs) {
		r = room(cpu, src, si, cpu->seg[src].base + si, size);
		if (n > r)
			n = r;
	}
	if (n == 0)
		return false;
	uint32_t bytes = (uint32_t)n * size;

	if (movs) {
		/* apart: the same as one at a time */
		if ((uintptr_t)d >= (uintptr_t)sp + bytes || (uintptr_t)sp >= (uintptr_t)d + bytes)
			memcpy(d, sp, bytes);
		else
			for (uint32_t i = 0; i < bytes; i += size) /* one element at a time */
				for (unsigned k = 0; k < size; k++)
					d[i + k] = sp[i + k];
		cpu->r[R_ESI] = si + bytes;
	} else {
		uint32_t v = cpu->r[R_EAX];

		if (size == 1)
			memset(d, (int)(v & 0xff), bytes);
		else if (size == 2)
			for (uint32_t i = 0; i < bytes; i += 2)
				st16(d + i, (uint16_t)v);
		else
			for (uint32_t i = 0; i < bytes; i += 4)
				st32(d + i, v);
	}
	cpu->r[R_EDI] = di + bytes;
	cpu->r[R_ECX] -= (uint32_t)n;
	cpu->icount += n;
	cpu->eip = cpu->r[R_ECX] ? cpu->start_eip : cpu->start_eip + in->len;
	return true;
}
