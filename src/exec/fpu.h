/*
 * fpu.h - the x87 FPU, computed in software (interface inside src/exec/).
 *
 * Results never depend on the host FPU: all arithmetic is done on integers
 * in the 80-bit extended format with the rounding mode and precision of the
 * control word.  The CPU decodes the escape opcodes (D8-DF), computes the
 * effective address of a memory operand, does the #NM checks (CR0.EM/TS)
 * and the pending-exception check, then calls fpu_exec().
 */
#ifndef FB_FPU_H
#define FB_FPU_H

#include <stdbool.h>
#include <stdint.h>

/* An 80-bit extended value: 64-bit significand (explicit integer bit) and
 * sign + 15-bit exponent. */
typedef struct F80 {
	uint64_t mant;
	uint16_t se;
} F80;

typedef struct FPU {
	F80 st[8];     /* physical registers R0-R7; ST(i) = st[(top + i) & 7] */
	uint16_t cw;   /* control word */
	uint16_t sw;   /* status word, TOP kept in bits 11-13 */
	uint16_t tw;   /* full tag word: 2 bits per physical register (00 valid,
			* 01 zero, 10 special, 11 empty), kept current on
			* every register write */
	uint16_t fop;  /* last non-control opcode (11 bits) */
	uint32_t fip, fdp; /* last instruction / operand pointer (offsets) */
	uint16_t fcs, fds; /* their selectors */
	/* MS-DOS compatibility mode (CR0.NE = 0, see system.c): IGNNE# is
	 * asserted; it goes when SW.ES does. */
	bool ignne;
	const struct IRQ *ferr_line; /* where FERR# goes (not state: wiring) */
} FPU;

/*
 * The memory operand of an x87 instruction.  read/write access @len bytes
 * at seg:off + @disp; they may not return (a guest fault unwinds the
 * instruction), so fpu_exec() reads all its operands before it changes any
 * FPU state and changes state only after its writes succeeded.
 */
typedef struct FPUMem {
	void *cpu;
	int seg;
	uint32_t off;
	void (*read)(void *cpu, int seg, uint32_t off, void *buf, unsigned len);
	void (*write)(void *cpu, int seg, uint32_t off, const void *buf, unsigned len);
} FPUMem;

/* The execution context fpu_exec() needs beyond the operand. */
typedef struct FPUCtx {
	bool op32;	  /* 32-bit operand size (FSTENV/FSAVE layouts) */
	bool pmode;	  /* protected mode (not real / V86) layouts */
	uint32_t ip;	  /* offset of the instruction (for FIP) */
	uint16_t cs;
	uint32_t dp;	  /* offset of the memory operand (for FDP) */
	uint16_t ds;	  /* selector of the operand's segment */
	/*
	 * EFLAGS of the CPU, in and out: FCMOVcc reads CF/ZF/PF; FCOMI,
	 * FCOMIP, FUCOMI, FUCOMIP write ZF/PF/CF and clear OF/SF/AF.  Only
	 * those instructions touch it; if it is NULL they give FPU_UD.
	 */
	uint32_t *eflags;
	/* AX of the CPU, written by FNSTSW AX (DF E0); NULL -> FPU_UD. */
	uint16_t *ax;
} FPUCtx;

enum fpu_result {
	FPU_OK,
	FPU_UD, /* not an x87 instruction the FPU implements: #UD */
};

void fpu_reset(FPU *f); /* FNINIT state (also the power-on state, with tw = 0xFFFF) */
/*
 * Execute one escape: @opcode is D8-DF, @modrm the ModRM byte; @mem is the
 * memory operand (NULL for the register forms, modrm >= 0xC0).  FNINIT,
 * FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE are executed as the no-wait forms:
 * the CPU does the FWAIT part (fpu_exception_pending) of FINIT & co itself.
 * An unmasked exception sets SW.ES/B and, as the SDM says, leaves the
 * destination and TOP alone for IE/DE/ZE (and for stores to memory also
 * OE/UE); it returns FPU_OK: #MF comes with the next waiting instruction.
 * FPU_UD: reserved encodings (including FISTTP, an SSE3 instruction), a
 * memory form without @mem, FCMOVcc/FCOMI without ctx->eflags, FNSTSW AX
 * without ctx->ax.  Nothing has changed when FPU_UD is returned.
 */
enum fpu_result fpu_exec(FPU *f, unsigned opcode, unsigned modrm, const FPUMem *mem,
			 const FPUCtx *ctx);
/* An unmasked exception is pending (SW.ES): the next waiting x87
 * instruction or FWAIT must raise #MF (CR0.NE=1) or assert FERR (IRQ 13). */
bool fpu_exception_pending(const FPU *f);

#endif
