/*
 * feat.h - the P6 model-specific registers the CPU keeps itself (system.c):
 * performance counters, MTRRs, machine-check global status.  They have no
 * effect on execution here (no counting, no cache modelling, no machine
 * checks); software reads back what it wrote, as on the chip.
 */
#ifndef FB_FEAT_H
#define FB_FEAT_H

#include <stdint.h>

#define MTRR_VAR_REGS	16 /* 0x200-0x20F: PHYSBASE0/PHYSMASK0 .. 7 */
#define MTRR_FIXED_REGS 11 /* 0x250, 0x258, 0x259, 0x268-0x26F */

typedef struct CPUMsrs {
	uint64_t perfevtsel[2]; /* 0x186, 0x187 */
	uint64_t perfctr[2];	/* 0xC1, 0xC2 (40 bits) */
	uint64_t mtrr_var[MTRR_VAR_REGS];
	uint64_t mtrr_fixed[MTRR_FIXED_REGS];
	uint64_t mtrr_def_type; /* 0x2FF */
	uint64_t mcg_status;	/* 0x17A */
} CPUMsrs;

#endif
