/*
 * fpu_regs.c - the x87 registers for gdb, through cpu_get_fpu() and
 * cpu_set_fpu() (cpu.h).
 *
 * gdb's st0-st7 are the stack registers ST(i), i.e. physical register
 * (TOP + i) mod 8; ftag is the full 16-bit tag word, fstat the status word
 * with TOP in bits 11-13, fiseg/fioff and foseg/fooff the last instruction
 * and operand pointers, fop the 11-bit last opcode.
 */
#include "gdb_int.h"

#include "../base/base.h"

#include <string.h>

static unsigned phys_reg(const CPUFpuRegs *f, int i)
{
	return (((unsigned)f->sw >> 11) + (unsigned)i) & 7;
}

void fpu_regs_of_cpu(CPU *cpu, GdbRegs *r)
{
	CPUFpuRegs f;

	cpu_get_fpu(cpu, &f);
	const uint32_t ctl[8] = {f.cw, f.sw, f.tw, f.fcs, f.fip, f.fds, f.fdp, f.fop};

	for (int k = 0; k < 8; k++) {
		r->mant[k] = f.mant[k];
		r->se[k] = f.se[k];
	}
	memcpy(r->fctrl, ctl, sizeof(ctl));
}

void fpu_reg_encode(const GdbRegs *r, int i, uint8_t *buf)
{
	if (i < 8) {
		unsigned k = ((r->fctrl[1] >> 11) + (unsigned)i) & 7; /* ST(i) = R[TOP + i] */

		st64(buf, r->mant[k]);
		st16(buf + 8, (uint16_t)r->se[k]);
	} else {
		st32(buf, r->fctrl[i - 8]);
	}
}

void fpu_reg_write(CPU *cpu, int i, const uint8_t *buf)
{
	CPUFpuRegs f;
	uint32_t v = ld32(buf);

	cpu_get_fpu(cpu, &f);
	switch (i) {
	case 8:
		f.cw = (uint16_t)v;
		break;
	case 9:
		f.sw = (uint16_t)v;
		break;
	case 10:
		f.tw = (uint16_t)v;
		break;
	case 11:
		f.fcs = (uint16_t)v;
		break;
	case 12:
		f.fip = v;
		break;
	case 13:
		f.fds = (uint16_t)v;
		break;
	case 14:
		f.fdp = v;
		break;
	case 15:
		f.fop = (uint16_t)(v & 0x7ff);
		break;
	default: {
		unsigned r = phys_reg(&f, i);
		f.mant[r] = ld64(buf);
		f.se[r] = ld16(buf + 8);
	}
	}
	cpu_set_fpu(cpu, &f);
}
