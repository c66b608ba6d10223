/*
 * jit.h - private header of the host-code backend (jit.c, jit_x64.c,
 * codebuf.c): decoded blocks (dcache.c) turned into straight runs of x86-64
 * code.  The interpreter stays the reference; docs/architecture.md, "The
 * host-code backend", says how the two agree.
 */
#ifndef FB_JIT_H
#define FB_JIT_H

#include "x86.h"

#if defined(__x86_64__) && defined(__linux__)
#define FB_JIT_HOST 1
#else
#define FB_JIT_HOST 0
#endif

/* A block's host code: runs the block from its first instruction and
 * returns the last instruction it retired (cpu.c finishes the block from
 * there: a REP instruction's further iterations, the links), or NULL when
 * it ran nothing (compiled for other segments: jit_emit_block). */
typedef Insn *JitFn(CPU *cpu);

/* codebuf.c: host code memory, never writable and executable at once.  @rw
 * is where the emitter writes, @rx where the code runs (the same pages
 * mapped twice, or one mapping whose rights flip when !dual). */
typedef struct CodeBuf {
	uint8_t *rw, *rx;
	size_t size, used;
	bool dual;
} CodeBuf;

bool cb_init(CodeBuf *cb, size_t size);
void cb_free(CodeBuf *cb);
void cb_reset(CodeBuf *cb);
void cb_begin(CodeBuf *cb);
void cb_end(CodeBuf *cb);

struct Jit {
	CodeBuf cb;
	uint64_t blocks;  /* blocks compiled */
	uint64_t flushes; /* times the full cache was emptied */
};

/*
 * Which data segments are flat for the host code's memory paths: based at
 * 0, limit 4 GiB, present writable expand-up data, in protected mode
 * outside virtual-8086 mode (bit S_xx), and whether CPL is 3 (JIT_CPL3).
 * Then mem_fast()'s segment checks reduce to "the access does not wrap".
 * None of it changes inside a chain of blocks: segment loads, mode and CPL
 * changes are FLOW_END instructions, faults and interrupts leave the host
 * code.  run_block() notes it in cpu->jit_flat before each block's code,
 * and a block compiled for flat segments checks it on entry (jit_x64.c).
 */
#define JIT_CPL3 0x100u
static inline uint32_t jit_flat_state(const CPU *cpu)
{
	const uint32_t mask = A_P | A_S | A_RW | A_CODE | A_EXPDOWN, want = A_P | A_S | A_RW;
	uint32_t m = cpu->cpl == 3 ? JIT_CPL3 : 0;

	if (!pmode(cpu) || v86(cpu))
		return m;
	for (int s = S_ES; s <= S_GS; s++) {
		const SegReg *sr = &cpu->seg[s];

		if (s != S_CS && sr->base == 0 && sr->limit == 0xffffffffu &&
		    (sr->attr & mask) == want)
			m |= 1u << s;
	}
	return m;
}

/* jit.c */
JitFn *jit_block(CPU *cpu, TB *tb); /* @tb's code, compiled now if need be; NULL: interpret */
/* Further iterations of a REP MOVS/STOS at once, up to icount @limit. */
bool jit_rep_bulk(CPU *cpu, const Insn *in, uint64_t limit);

/* jit_x64.c: write @tb's code at @buf (@cap bytes; it will run at @at),
 * for the segments of @flat (jit_flat_state() now).  Returns its length,
 * or 0 when it does not fit.  The code returns NULL, having run nothing,
 * when it is entered with other segments (cpu->jit_flat): then it must be
 * compiled again. */
size_t jit_emit_block(uint8_t *buf, size_t cap, const uint8_t *at, const TB *tb, uint32_t flat);

#endif
