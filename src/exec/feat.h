/*
 * feat.h - the P6 model-specific registers the CPU keeps itself (system.c):
 * performance counters, MTRRs, machine-check global status,
 * IA32_MISC_ENABLE.  They have no effect on execution here (no counting, no
 * cache modelling, no machine checks, no fast-string switch); software
 * reads back what it wrote, as on the chip.
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
	uint64_t misc_enable;	/* 0x1A0 */
} CPUMsrs;

/*
 * IA32_MISC_ENABLE as this CPU has it (SDM vol. 4, table 2-2): fast strings
 * enabled (bit 0, the only writable bit) after reset; performance monitoring
 * available (bit 7: the P6 counters exist), branch trace storage and PEBS
 * unavailable (bits 11, 12), all three read-only.  Every other bit belongs
 * to a feature this CPU lacks (thermal monitor, SpeedStep, MONITOR, a CPUID
 * maximum above 2, xTPR, XD), so setting one raises #GP.
 */
#define MISC_ENABLE_RESET 0x1881ull
#define MISC_ENABLE_RW	  0x0001ull
#define MISC_ENABLE_RO	  0x1880ull

#endif
