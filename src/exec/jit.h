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
 * there: a REP instruction's further iterations, the links). */
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

/* jit.c */
JitFn *jit_block(CPU *cpu, TB *tb); /* @tb's code, compiled now if need be; NULL: interpret */
/* Further iterations of a REP MOVS/STOS at once, up to icount @limit. */
bool jit_rep_bulk(CPU *cpu, const Insn *in, uint64_t limit);

/* jit_x64.c: write @tb's code at @buf (@cap bytes; it will run at @at).
 * Returns its length, or 0 when it does not fit. */
size_t jit_emit_block(uint8_t *buf, size_t cap, const uint8_t *at, const TB *tb);

#endif
