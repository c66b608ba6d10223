/*
 * fpu_regs.c - the x87 registers for gdb.
 *
 * cpu.h has no accessor for the FPU yet, so this one file reads the FPU
 * state through the interpreter's private header.  It is the only place
 * in src/gdb/ that does; once cpu.h offers cpu_get_fpu()/cpu_set_fpu()
 * (an FPU snapshot in and out), this file shrinks to calls of those.
 *
 * gdb's st0-st7 are the stack registers ST(i), i.e. physical register
 * (TOP + i) mod 8; ftag is the full 16-bit tag word, fstat the status word
 * with TOP in bits 11-13, fiseg/fioff and foseg/fooff the last instruction
 * and operand pointers, fop the 11-bit last opcode.
 */
#include "gdb_int.h"

#include "../base/base.h"
#include "../exec/x86.h"

static F80 *stack_reg(FPU *f, int i)
{
	unsigned top = (f->sw >> 11) & 7;

	return &f->st[(top + (unsigned)i) & 7];
}

void fpu_reg_read(CPU *cpu, int i, uint8_t *buf)
{
	FPU *f = &cpu->fpu;
	const uint32_t ctl[8] = {f->cw, f->sw, f->tw, f->fcs, f->fip, f->fds, f->fdp, f->fop};

	if (i < 8) {
		const F80 *r = stack_reg(f, i);
		st64(buf, r->mant);
		st16(buf + 8, r->se);
	} else {
		st32(buf, ctl[i - 8]);
	}
}

void fpu_reg_write(CPU *cpu, int i, const uint8_t *buf)
{
	FPU *f = &cpu->fpu;
	uint32_t v = ld32(buf);

	switch (i) {
	case 8:
		f->cw = (uint16_t)v;
		break;
	case 9:
		f->sw = (uint16_t)v;
		break;
	case 10:
		f->tw = (uint16_t)v;
		break;
	case 11:
		f->fcs = (uint16_t)v;
		break;
	case 12:
		f->fip = v;
		break;
	case 13:
		f->fds = (uint16_t)v;
		break;
	case 14:
		f->fdp = v;
		break;
	case 15:
		f->fop = (uint16_t)(v & 0x7ff);
		break;
	default: {
		F80 *r = stack_reg(f, i);
		r->mant = ld64(buf);
		r->se = ld16(buf + 8);
	}
	}
}
