/*
 * x86.h - private header of the CPU interpreter: the CPU structure, the
 * decoded-instruction form, lazy flags, and the functions the files of
 * src/exec/ share (memory access, segmentation, exceptions).
 */
#ifndef FB_X86_H
#define FB_X86_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../base/base.h"
#include "cpu.h"
#include "fpu.h"
#include "feat.h" /* cpufeat */

/* Exception vectors. */
enum {
	EX_DE = 0,
	EX_DB = 1,
	EX_NMI = 2,
	EX_BP = 3,
	EX_OF = 4,
	EX_BR = 5,
	EX_UD = 6,
	EX_NM = 7,
	EX_DF = 8,
	EX_TS = 10,
	EX_NP = 11,
	EX_SS = 12,
	EX_GP = 13,
	EX_PF = 14,
	EX_MF = 16,
	EX_AC = 17,
	EX_MC = 18,
};

/* Segment attribute bits (descriptor high dword bits 8-23, shifted down by 8). */
#define A_TYPE	   0x000fu
#define A_S	   0x0010u
#define A_DPL	   0x0060u
#define A_P	   0x0080u
#define A_DB	   0x4000u
#define A_G	   0x8000u
#define A_CODE	   0x0008u /* in type, with S: code segment */
#define A_CONFORM  0x0004u /* code: conforming */
#define A_EXPDOWN  0x0004u /* data: expand-down */
#define A_RW	   0x0002u /* code: readable; data: writable */
#define A_ACCESSED 0x0001u

/* For the few helpers every handler uses on its fast path. */
#define FB_INLINE static inline __attribute__((always_inline))

/* Lazy flags: the last flag-setting operation, evaluated on demand. */
enum cc_op {
	CC_EAGER, /* arithmetic flags are in cpu->flags */
	CC_ADD,
	CC_SUB, /* also CMP and NEG (a = 0) */
	CC_LOGIC,
	CC_INC, /* CF taken from cc_c */
	CC_DEC,
};

#define FLAGS_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* Software TLB: one entry per linear page, per privilege (0 = supervisor). */
#define TLB_BITS 8
#define TLB_SIZE (1u << TLB_BITS)
typedef struct TLBEntry {
	uint32_t rtag;	   /* linear page | 1 when readable through host pointer */
	uint32_t wtag;	   /* same for writes */
	uintptr_t addend;  /* host address = linear + addend */
	MemoryRegion *ram; /* RAM or ROM region of the page */
	uint32_t ram_off;  /* offset in ram of this page */
	uint32_t *ver;	   /* code version of the page (dcache.c) */
	/* A page that holds a debugger watch gets these instead of rtag/wtag:
	 * the slow path then reads or writes through the host pointer at once
	 * and reports the access (mmu.c), without a page walk. */
	uint32_t wrtag, wwtag;
	uint32_t phys;	 /* the physical page, for physical watches */
	uint32_t pad[2]; /* to 64 bytes: the host code indexes with a shift */
} TLBEntry;
#define TLB_ENTRY_BITS 6
_Static_assert(sizeof(TLBEntry) == 1u << TLB_ENTRY_BITS, "TLBEntry size");

/*
 * An instruction handler.  Rule: it may change ESP, EFLAGS and memory before
 * a fault, but no other general register (do all reads and writes of memory
 * first); a fault restores ESP, EFLAGS and EIP only.
 */
typedef struct Insn Insn;
typedef void InsnFn(CPU *cpu, Insn *in);

/* Insn.flow: how an instruction ends a block (see dcache.c). */
enum {
	FLOW_NEXT = 0, /* falls through to the next instruction, changes no mode */
	FLOW_END = 1,  /* may jump, change modes or flags that the loop checks */
	FLOW_REP = 2,  /* a REP string instruction: may repeat itself */
	FLOW_JUMP = 3, /* a near jump, call or return: ends the block, changes no mode */
	FLOW_STR = 4,  /* in insn_forms[] only: FLOW_REP with a REP prefix, else FLOW_NEXT */
};

/* A decoded instruction.  Decoding never depends on register values, so the
 * block cache can hold these. */
struct Insn {
	InsnFn *fn;  /* the handler (InsnForm.fn or a specialised form) */
	uint16_t op; /* opcode; 0x100 + second byte for 0F xx */
	uint8_t len;
	uint8_t modrm;
	uint8_t mod, reg, rm;
	bool o32; /* 32-bit operand size */
	bool a32; /* 32-bit address size */
	bool lock;
	uint8_t rep; /* 0, 0xF2 (REPNE) or 0xF3 (REP/REPE) */
	int8_t seg;  /* override, or S_NONE */
	/* effective address of a memory operand */
	int8_t base, index; /* register numbers or -1 */
	uint8_t scale;
	int8_t ea_seg; /* segment after overrides */
	uint8_t flow; /* FLOW_* */
	bool save;    /* may change ESP or EFLAGS before it can fault (decode.c) */
	uint8_t jit;  /* JIT_*: InsnForm.jit */
	uint32_t disp;
	uint32_t imm, imm2;
};

/*
 * The block cache: straight-line runs of decoded instructions (blocks),
 * keyed by the host address of their first byte and the default size,
 * valid while their page's code version holds.  A block lies in one page
 * and ends after the first instruction that is not FLOW_NEXT.
 */
#define TB_BITS	   15
#define TB_SIZE	   (1u << TB_BITS)
#define TB_MAX	   32	      /* instructions per block */
#define POOL_INSNS (1u << 17) /* decoded instructions held by all blocks */
typedef struct TB {
	const uint8_t *host;
	uint32_t ver;
	uint16_t bytes; /* length of all its instructions */
	uint8_t n;	/* instructions */
	bool c32;
	Insn *insn;
	uint32_t lstart; /* linear address it was last entered at */
	struct TB *link[2]; /* blocks seen to follow it in the same page: a hint */
	void *code;	    /* its host code (jit.c), or NULL */
	uint8_t runs;	    /* times interpreted before it gets code */
} TB;

/* Code versions of the pages of one RAM/ROM region: bit 0 says the page is
 * watched (its DIRTY_CODE bit was cleared when code was cached from it);
 * the version steps by 2 whenever the page may have changed. */
typedef struct CodeVers {
	MemoryRegion *mr;
	uint64_t pages;
	uint32_t *ver;
	uint64_t marks; /* ram_marks(mr) when its pages were last checked */
} CodeVers;

typedef struct CodePage {
	MemoryRegion *mr;
	uint32_t off;
	uint32_t *ver;
} CodePage;

/* A RAM page holding paging entries that TLB entries were made from
 * (mmu.c, "The TLB follows the page tables"). */
#define PT_PAGES 32
typedef struct PTPage {
	MemoryRegion *mr;
	uint32_t off;
} PTPage;

struct CPU {
	uint32_t r[8];
	uint32_t eip;
	uint32_t flags; /* EFLAGS; arithmetic bits stale unless cc_op == CC_EAGER */
	uint32_t cc_op, cc_bits, cc_res, cc_a, cc_b, cc_c;

	SegReg seg[6];
	SegReg ldtr, tr;
	DescTable gdtr, idtr;
	uint32_t cr0, cr2, cr3, cr4;
	uint32_t dr[8];
	bool dbg_insn, dbg_data; /* DR7 enables instruction / data breakpoints */
	uint32_t dbg_hits;	 /* DR6 B0-B3 of data breakpoints hit by this insn */
	unsigned cpl;
	uint64_t icount;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc_adjust; /* written TSC minus the bus time at that moment */
	FPU fpu;
	CPUMsrs msrs; /* cpufeat: P6 MSRs (feat.h, system.c) */

	CPUBus bus;
	bool a20;
	bool intr; /* INTR pin level */
	bool nmi_pending;
	bool nmi_blocked; /* from NMI delivery until IRET */
	bool halted;
	bool exit_req;
	bool shadow;	/* interrupt shadow for the next boundary */
	bool in_shadow; /* the current instruction began in a shadow */
	bool triple;

	/* execution of the current instruction */
	Insn in;
	uint32_t start_eip; /* EIP of the instruction being executed */
	uint32_t save_esp;  /* see save_state(): handlers change no other GPR before a fault */
	uint32_t save_flags, save_cc[6];
	bool saved; /* save_esp..save_cc hold this instruction's start */
	int pending_exc; /* exception to deliver, -1 for none */
	uint32_t pending_err;
	bool pending_has_err;
	bool pending_trap; /* EIP already after the instruction */
	int delivering;	   /* vector being delivered, -1 when not */
	unsigned stuck;	   /* exceptions delivered since an instruction retired */
	jmp_buf jb;

	/* software TLB, [0] supervisor, [1] user */
	TLBEntry tlb[2][TLB_SIZE];
	PTPage pt[PT_PAGES]; /* the pages its translations were read from */
	unsigned n_pt;
	bool walking; /* the page walker itself writes A/D bits */

	/* block cache, its instruction pool, and the pages it watches */
	TB *tb;
	Insn *pool;
	size_t pool_used;
	bool brk;    /* stop the running block after this instruction */
	TB *last_tb; /* the block that just ended with a near jump or none */
	CodeVers *vers;
	size_t n_vers;
	CodePage *code;
	size_t n_code, cap_code;
	bool io_done;	     /* port or MMIO access: DMA may have written code */
	bool in_insn;	     /* an instruction runs from a cache entry: flushes wait */
	unsigned dc_pending; /* 1: flush, 2: reset, asked for during it */

	/* the debugger's breakpoints and watches (debug.c) */
	uint32_t bp[CPU_MAX_BREAKPOINTS];
	unsigned nbp;
	CPUWatch watch[CPU_MAX_WATCHES];
	unsigned nwatch;
	cpu_watch_fn watch_fn;
	void *watch_opaque;
	bool skip_bp; /* the instruction at skip_eip runs even at a breakpoint */
	uint32_t skip_eip;
	bool dbg_stop; /* a watch asked to stop after this instruction */
	enum cpu_stop stop_reason;
	bool fetching; /* an instruction fetch: not a watched data access */

	/* the host-code backend (jit.c), when it is the engine */
	bool use_jit;
	struct Jit *jit;
	TB *jit_tb;	    /* the block whose host code runs or ran last */
	uint64_t jit_limit; /* host code may go on to the next block below this icount */
	uint32_t jit_flat;  /* jit_flat_state() as the running host code started */
	/* cpu_set_block_hook(): the differential tests' look at every block end */
	void (*block_hook)(void *opaque, CPU *cpu);
	void *block_hook_opaque;
};

/* ---- cpu.c ---- */
uint32_t cpu_flags(CPU *cpu); /* EFLAGS with lazy flags folded in */
void cpu_load_flags(CPU *cpu, uint32_t v, uint32_t mask);
void cpu_mode_changed(CPU *cpu);
void cpu_restore_state(CPU *cpu);
void cpu_begin(CPU *cpu); /* snapshot registers: a fault now restores them */

/* ---- alu.c: lazy flags and the arithmetic helpers ---- */
uint32_t cc_compute(const CPU *cpu); /* the six arithmetic flags */
bool cc_zf(CPU *cpu);
bool cond_true(CPU *cpu, unsigned cc); /* Jcc/SETcc/CMOVcc condition 0-15 */
uint32_t alu_shift(CPU *cpu, unsigned op, uint32_t a, unsigned count, unsigned bits);
uint32_t alu_shld(CPU *cpu, uint32_t dst, uint32_t src, unsigned count, unsigned bits, bool right);
void set_flags_szp(CPU *cpu, uint32_t res, unsigned bits, uint32_t other);
static inline uint32_t bits_mask(unsigned bits)
{
	return bits == 32 ? 0xffffffffu : (1u << bits) - 1;
}

/* CF alone, straight from the lazy state (ADC, SBB, INC and DEC need no
 * more, and leave the other flags lazy). */
static inline bool cc_cf(CPU *cpu)
{
	uint32_t m = bits_mask(cpu->cc_bits);

	switch (cpu->cc_op) {
	case CC_ADD:
		return (uint64_t)(cpu->cc_a & m) + (cpu->cc_b & m) + cpu->cc_c > m;
	case CC_SUB:
		return (uint64_t)(cpu->cc_a & m) < (uint64_t)(cpu->cc_b & m) + cpu->cc_c;
	case CC_LOGIC:
		return false;
	case CC_INC:
	case CC_DEC:
		return cpu->cc_c;
	default:
		return cpu->flags & F_CF;
	}
}

static inline void cc_lazy(CPU *cpu, unsigned op, unsigned bits, uint32_t res, uint32_t a,
			   uint32_t b, uint32_t c)
{
	cpu->cc_op = op;
	cpu->cc_bits = bits;
	cpu->cc_res = res;
	cpu->cc_a = a;
	cpu->cc_b = b;
	cpu->cc_c = c;
}

/* The eight ALU operations of opcodes 00-3F and group 1: ADD OR ADC SBB AND
 * SUB XOR CMP, with lazy flags.  Returns the result (CMP returns @a). */
static inline uint32_t alu_op(CPU *cpu, unsigned op, uint32_t a, uint32_t b, unsigned bits)
{
	uint32_t m = bits_mask(bits), res, c;

	a &= m;
	b &= m;
	switch (op) {
	case 0:
		res = (a + b) & m;
		cc_lazy(cpu, CC_ADD, bits, res, a, b, 0);
		return res;
	case 1:
		res = a | b;
		cc_lazy(cpu, CC_LOGIC, bits, res, a, b, 0);
		return res;
	case 2:
		c = cc_cf(cpu);
		res = (a + b + c) & m;
		cc_lazy(cpu, CC_ADD, bits, res, a, b, c);
		return res;
	case 3:
		c = cc_cf(cpu);
		res = (a - b - c) & m;
		cc_lazy(cpu, CC_SUB, bits, res, a, b, c);
		return res;
	case 4:
		res = a & b;
		cc_lazy(cpu, CC_LOGIC, bits, res, a, b, 0);
		return res;
	case 5:
		res = (a - b) & m;
		cc_lazy(cpu, CC_SUB, bits, res, a, b, 0);
		return res;
	case 6:
		res = a ^ b;
		cc_lazy(cpu, CC_LOGIC, bits, res, a, b, 0);
		return res;
	default:
		res = (a - b) & m;
		cc_lazy(cpu, CC_SUB, bits, res, a, b, 0);
		return a;
	}
}

static inline uint32_t alu_inc(CPU *cpu, uint32_t a, unsigned bits, bool dec)
{
	uint32_t m = bits_mask(bits);
	uint32_t c = cc_cf(cpu);
	uint32_t res = (dec ? a - 1 : a + 1) & m;

	cc_lazy(cpu, dec ? CC_DEC : CC_INC, bits, res, a & m, 1, c);
	return res;
}
static inline uint32_t sign_ext(uint32_t v, unsigned bits)
{
	return bits == 32   ? v
	       : bits == 16 ? (uint32_t)(int32_t)(int16_t)v
			    : (uint32_t)(int32_t)(int8_t)v;
}

/* ---- exception.c ---- */
_Noreturn void cpu_raise(CPU *cpu, int vec, uint32_t err); /* with error code */
_Noreturn void cpu_fault(CPU *cpu, int vec);		   /* without */
_Noreturn void cpu_trap(CPU *cpu, int vec);		   /* EIP after the insn */
void cpu_interrupt(CPU *cpu, int vec, bool soft, bool has_err, uint32_t err);
void cpu_deliver_pending(CPU *cpu);
bool exc_has_error(int vec);

/* debug registers (cpu.c) */
void dbg_update(CPU *cpu);
void dbg_data_check(CPU *cpu, uint32_t lin, unsigned size, bool write);

/* ---- mmu.c: linear and virtual memory ---- */
void tlb_flush(CPU *cpu);
void tlb_flush_page(CPU *cpu, uint32_t lin);
void pt_dma_check(CPU *cpu); /* a device wrote a page-table page: flush */
uint8_t lin_read8(CPU *cpu, uint32_t lin, bool user);
uint16_t lin_read16(CPU *cpu, uint32_t lin, bool user);
uint32_t lin_read32(CPU *cpu, uint32_t lin, bool user);
void lin_write8(CPU *cpu, uint32_t lin, uint8_t v, bool user);
void lin_write16(CPU *cpu, uint32_t lin, uint16_t v, bool user);
void lin_write32(CPU *cpu, uint32_t lin, uint32_t v, bool user);
uint8_t fetch8_lin(CPU *cpu, uint32_t lin);
const uint8_t *tlb_read_ptr(CPU *cpu, uint32_t lin);
/* system accesses (descriptor tables, TSS): supervisor, whatever the CPL */
uint32_t sys_read32(CPU *cpu, uint32_t lin);
uint16_t sys_read16(CPU *cpu, uint32_t lin);
uint8_t sys_read8(CPU *cpu, uint32_t lin);
void sys_write32(CPU *cpu, uint32_t lin, uint32_t v);
void sys_write16(CPU *cpu, uint32_t lin, uint16_t v);
void sys_write8(CPU *cpu, uint32_t lin, uint8_t v);
/* translate for a debugger: false if unmapped, no side effects */
bool mmu_probe(CPU *cpu, uint32_t lin, uint32_t *phys);
void mmu_as_changed(void *opaque, AddressSpace *as);

/* segmented accesses with limit/type checks */
uint32_t seg_lin(CPU *cpu, int s, uint32_t off, unsigned size, bool write);
uint32_t rd_slow(CPU *cpu, int s, uint32_t off, unsigned size);
void wr_slow(CPU *cpu, int s, uint32_t off, uint32_t v, unsigned size);
/* check that [off, off+size) is writable (for read-modify-write and pushes) */
void seg_check(CPU *cpu, int s, uint32_t off, unsigned size, bool write);

static inline bool cpu_user(const CPU *cpu)
{
	return cpu->cpl == 3;
}
static inline bool pmode(const CPU *cpu)
{
	return cpu->cr0 & CR0_PE;
}
static inline bool v86(const CPU *cpu)
{
	return cpu->flags & F_VM;
}
static inline bool code32(const CPU *cpu)
{
	return cpu->seg[S_CS].attr & A_DB;
}
static inline bool stack32(const CPU *cpu)
{
	return cpu->seg[S_SS].attr & A_DB;
}
static inline unsigned iopl(const CPU *cpu)
{
	return (cpu->flags >> 12) & 3;
}

/*
 * The host address of a @size-byte access at @s:@off when it needs no
 * check beyond what is done here: inside the limit of a usable segment,
 * no data breakpoints, no possible alignment check, one page of RAM the TLB
 * maps for this access.  NULL: take rd_slow / wr_slow, which do the rest
 * (and fault where they must).
 */
FB_INLINE uint8_t *mem_fast(CPU *cpu, int s, uint32_t off, unsigned size, bool write)
{
	const SegReg *sr = &cpu->seg[s];
	uint32_t lin = sr->base + off, last = off + size - 1;
	uint32_t want = A_P | A_S | (write ? A_RW : 0);

	if (__builtin_expect(cpu->dbg_data, 0) || ((lin & (size - 1)) && cpu->cpl == 3))
		return NULL;
	if (last > sr->limit || last < off)
		return NULL;
	if (pmode(cpu) && !v86(cpu) && (sr->attr & (want | A_CODE | A_EXPDOWN)) != want)
		return NULL;
	const TLBEntry *e = &cpu->tlb[cpu->cpl == 3][(lin >> PAGE_BITS) & (TLB_SIZE - 1)];

	if ((write ? e->wtag : e->rtag) != ((lin & ~(PAGE_SIZE - 1)) | 1) ||
	    (lin & (PAGE_SIZE - 1)) > PAGE_SIZE - size)
		return NULL;
	return (uint8_t *)(lin + e->addend);
}

FB_INLINE uint8_t rd8(CPU *cpu, int s, uint32_t off)
{
	const uint8_t *p = mem_fast(cpu, s, off, 1, false);

	return p ? *p : (uint8_t)rd_slow(cpu, s, off, 1);
}

FB_INLINE uint16_t rd16(CPU *cpu, int s, uint32_t off)
{
	const uint8_t *p = mem_fast(cpu, s, off, 2, false);

	return p ? ld16(p) : (uint16_t)rd_slow(cpu, s, off, 2);
}

FB_INLINE uint32_t rd32(CPU *cpu, int s, uint32_t off)
{
	const uint8_t *p = mem_fast(cpu, s, off, 4, false);

	return p ? ld32(p) : rd_slow(cpu, s, off, 4);
}

FB_INLINE void wr8(CPU *cpu, int s, uint32_t off, uint8_t v)
{
	uint8_t *p = mem_fast(cpu, s, off, 1, true);

	if (p)
		*p = v;
	else
		wr_slow(cpu, s, off, v, 1);
}

FB_INLINE void wr16(CPU *cpu, int s, uint32_t off, uint16_t v)
{
	uint8_t *p = mem_fast(cpu, s, off, 2, true);

	if (p)
		st16(p, v);
	else
		wr_slow(cpu, s, off, v, 2);
}

FB_INLINE void wr32(CPU *cpu, int s, uint32_t off, uint32_t v)
{
	uint8_t *p = mem_fast(cpu, s, off, 4, true);

	if (p)
		st32(p, v);
	else
		wr_slow(cpu, s, off, v, 4);
}

FB_INLINE uint32_t rdv(CPU *cpu, int s, uint32_t off, unsigned bits)
{
	return bits == 8 ? rd8(cpu, s, off) : bits == 16 ? rd16(cpu, s, off) : rd32(cpu, s, off);
}

FB_INLINE void wrv(CPU *cpu, int s, uint32_t off, uint32_t v, unsigned bits)
{
	if (bits == 8)
		wr8(cpu, s, off, (uint8_t)v);
	else if (bits == 16)
		wr16(cpu, s, off, (uint16_t)v);
	else
		wr32(cpu, s, off, v);
}

/* ---- seg.c: segment loads, descriptors, far transfers ---- */
void seg_load(CPU *cpu, int s, uint16_t sel); /* MOV/POP/LxS semantics */
void seg_load_real(CPU *cpu, int s, uint16_t sel);
bool desc_read(CPU *cpu, uint16_t sel, uint32_t *lo, uint32_t *hi); /* false: beyond limit */
void desc_set_accessed(CPU *cpu, uint16_t sel, uint32_t hi);
void seg_from_desc(SegReg *sr, uint16_t sel, uint32_t lo, uint32_t hi);
void far_jmp(CPU *cpu, uint16_t sel, uint32_t off, bool o32);
void far_call(CPU *cpu, uint16_t sel, uint32_t off, bool o32);
void far_ret(CPU *cpu, bool o32, uint16_t extra);
void do_iret(CPU *cpu, bool o32);
void load_ldt(CPU *cpu, uint16_t sel);
void load_tr(CPU *cpu, uint16_t sel);
void task_switch(CPU *cpu, uint16_t sel, uint32_t lo, uint32_t hi, int how, bool has_err,
		 uint32_t err);
enum { TS_JMP, TS_CALL, TS_IRET, TS_INT };
void set_cpl(CPU *cpu, unsigned cpl);

/* ---- stack helpers (insn.c) ---- */
void push(CPU *cpu, uint32_t v, bool o32);
uint32_t pop(CPU *cpu, bool o32);
uint32_t sp_get(CPU *cpu);
void sp_set(CPU *cpu, uint32_t v);
void sp_add(CPU *cpu, uint32_t n);

/* ---- debug.c: the debugger's breakpoints and watches ---- */
bool bp_at(CPU *cpu, uint32_t eip);		/* a breakpoint stops before @eip */
unsigned bp_run_length(CPU *cpu, const TB *tb); /* instructions before a breakpoint */
bool watch_tlb_ok(CPU *cpu, uint32_t lpage, uint32_t ppage, bool write);
void watch_access(CPU *cpu, const CPUAccess *a); /* report an access (cpu->nwatch) */

/* ---- dcache.c ---- */
void dc_alloc(CPU *cpu);
TB *tb_find(CPU *cpu); /* the block at CS:EIP; NULL when it cannot be cached */
TB *tb_next(CPU *cpu); /* the same, just after cpu->last_tb */
Insn *dc_slow_decode(CPU *cpu);
void dc_flush(CPU *cpu);
void dc_settle(CPU *cpu); /* the instruction ended: do the flushes it deferred */
void dc_reset(CPU *cpu);  /* the memory map changed: forget regions too */
uint32_t *code_ver_slot(CPU *cpu, MemoryRegion *mr, uint64_t off);
void code_write(CPU *cpu, MemoryRegion *mr, uint64_t off); /* a slow-path RAM write */
void code_pages_check(CPU *cpu);
void dc_free(CPU *cpu);

/* ---- the opcode table (opcodes.def, built in insn.c) ---- */

/* InsnForm.fmt: the bytes after the opcode. */
enum {
	OPF_NONE = 0,
	OPF_E = 0x01,	  /* ModRM, with SIB and displacement */
	OPF_IB = 0x02,	  /* 8-bit immediate */
	OPF_IZ = 0x04,	  /* 16/32-bit immediate (operand size) */
	OPF_IW = 0x08,	  /* 16-bit immediate */
	OPF_MOFFS = 0x10, /* an offset of the address size */
	OPF_FAR = 0x20,	  /* far pointer: IZ, then a 16-bit selector */
	OPF_PFX = 0x40,	  /* a prefix: never an Insn.op */
	OPF_ESC = 0x80,	  /* 0F: the opcode is the next byte */
	OPF_E_IB = OPF_E | OPF_IB,
	OPF_E_IZ = OPF_E | OPF_IZ,
	OPF_IW_IB = OPF_IW | OPF_IB, /* ENTER: imm = Iw, imm2 = Ib */
};

/* InsnForm.save: must the loop save ESP and EFLAGS before the instruction
 * (Insn.save)?  NEVER: it cannot fault after changing either. */
enum { SV_ALWAYS, SV_NEVER, SV_MEM /* its memory forms only */ };

/* InsnForm.lock: may LOCK prefix the form (with a memory operand)? */
enum { OPL_NOLOCK, OPL_LOCK };

/*
 * InsnForm.fast: the family of specialised handlers fast.c has for a form
 * (insn_specialise).  Each fixes what the generic handler works out at run
 * time: operand size, direction, register or memory, the operation.  Memory
 * forms only with 32-bit addressing; the families from FAST_INCDEC on only
 * with 32-bit operands.
 */
enum {
	FAST_NONE,
	FAST_ALU,    /* 00-3B op Eb/Ev,G and op G,Eb/Ev; the operation in op bits 3-5 */
	FAST_ALUI,   /* 80-83 op Eb/Ev,imm; the operation in ModRM.reg */
	FAST_TEST,   /* 84 85 TEST E,G */
	FAST_MOV,    /* 88-8B MOV E,G and G,E */
	FAST_MOVI,   /* C6 C7 /0 MOV E,imm */
	FAST_SHIFT,  /* C0 C1 D0-D3 shifts and rotates */
	FAST_INCDEC, /* 40-4F INC/DEC r32 */
	FAST_PUSH,   /* 50-57 PUSH r32 */
	FAST_POP,    /* 58-5F POP r32 */
	FAST_JCC,    /* 70-7F, 0F 80-8F Jcc */
	FAST_LEA,    /* 8D LEA r32,m */
	FAST_MOVX,   /* 0F B6 B7 BE BF MOVZX/MOVSX r32 */
};

/*
 * InsnForm.jit (Insn.jit): the family of emitters the host-code backend
 * (jit_x64.c) has for a form, JIT_NONE when it calls the handler.  The
 * backend picks among a family's emitters by operand size, address size,
 * register or memory operand, LOCK, and the bits that choose the operation
 * as the handler does (the width bit 0, the direction bit 1, the ALU
 * operation in bits 3-5 or ModRM.reg, the condition in bits 0-3); which
 * forms belong to a family is this column's alone.
 */
enum {
	JIT_NONE,
	JIT_PURE,     /* the handler called bare: changes registers and flags only
		       * (its register forms, all of them without ModRM) */
	JIT_ALU,      /* 00-3B op E,G / op G,E */
	JIT_ACC,      /* 04 05 ... 3C 3D op AL/eAX, imm */
	JIT_ALUI,     /* 80 81 83 op E, imm; the operation in ModRM.reg */
	JIT_ALUI_REG, /* 82 (= 80): its register forms only */
	JIT_TEST,     /* 84 85 TEST E,G */
	JIT_TESTA,    /* A8 A9 TEST AL/eAX, imm */
	JIT_GRP3,     /* F6 F7 TEST NOT NEG MUL IMUL DIV IDIV, by ModRM.reg */
	JIT_INCDEC,   /* 40-4F INC/DEC Zv */
	JIT_INCDEC_E, /* FE FF /0 /1 INC/DEC E */
	JIT_MOV,      /* 88-8B MOV E,G and G,E */
	JIT_MOVI8,    /* B0-B7 MOV Zb, imm */
	JIT_MOVI,     /* B8-BF MOV Zv, imm */
	JIT_MOVEI,    /* C6 C7 /0 MOV E, imm */
	JIT_MOVX,     /* 0F B6 B7 BE BF MOVZX/MOVSX */
	JIT_XCHG,     /* 86 87 XCHG E,G */
	JIT_XCHGA,    /* 91-97 XCHG eAX,Zv */
	JIT_CBW,      /* 98 CBW/CWDE */
	JIT_CWD,      /* 99 CWD/CDQ */
	JIT_LEA,      /* 8D LEA */
	JIT_PUSH,     /* 50-57 PUSH Zv */
	JIT_POP,      /* 58-5F POP Zv */
	JIT_SHIFT,    /* C0 C1 D0-D3 shifts and rotates */
	JIT_SHLD,     /* 0F A4 A5 AC AD SHLD/SHRD */
	JIT_IMUL,     /* 69 6B, 0F AF IMUL G,E(,imm) */
	JIT_SETCC,    /* 0F 90-9F SETcc */
	JIT_JCC,      /* 70-7F, 0F 80-8F Jcc */
	JIT_XFER,     /* E8 E9 EB CALL/JMP rel, C3 RET */
	JIT_XFER_E,   /* FF /2 /4 CALL/JMP E */
};

/* What the decoder, the block builder and the specialiser know of one
 * opcode form (opcodes.def describes each field). */
typedef struct InsnForm {
	InsnFn *fn;   /* the generic handler */
	uint8_t fmt;  /* OPF_* */
	uint8_t flow; /* FLOW_*, or FLOW_STR */
	uint8_t save; /* SV_* */
	uint8_t lock; /* OPL_LOCK: LOCK allowed with a memory operand */
	uint8_t fast; /* FAST_* */
	uint8_t jit;  /* JIT_* */
} InsnForm;

/* Indexed by Insn.op << 3 | ModRM.reg; the eight entries of an opcode
 * without ModRM are the same. */
extern const InsnForm insn_forms[0x200 << 3];

static inline const InsnForm *insn_form(unsigned op, unsigned reg)
{
	return &insn_forms[op << 3 | reg];
}
/* ---- jit.c: the host-code backend (jit.h) ---- */
void jit_flush(CPU *cpu); /* drop every block's host code */
void jit_free(CPU *cpu);

/* ---- decode.c ---- */
void decode(CPU *cpu, Insn *in);
/* Decode from @p with @avail bytes readable, without faulting: false when
 * the instruction needs more bytes or is invalid (decode() then says how). */
bool decode_soft(CPU *cpu, Insn *in, const uint8_t *p, unsigned avail, bool c32);

/* ---- fast.c ---- */
/* A handler specialised for the decoded form, or NULL for the generic one. */
InsnFn *insn_specialise(const Insn *in);

/* operand access by ModRM */
FB_INLINE uint32_t ea_offset(CPU *cpu, const Insn *in)
{
	uint32_t v = in->disp;

	if (in->base >= 0)
		v += cpu->r[in->base];
	if (in->index >= 0)
		v += cpu->r[in->index] << in->scale;
	return in->a32 ? v : v & 0xffff;
}

FB_INLINE uint32_t getr(CPU *cpu, unsigned r, unsigned bits)
{
	if (bits == 8)
		return r < 4 ? cpu->r[r] & 0xff : (cpu->r[r - 4] >> 8) & 0xff;
	if (bits == 16)
		return cpu->r[r] & 0xffff;
	return cpu->r[r];
}

/*
 * A register's 8- and 16-bit writes store all 32 bits: the compiler would
 * otherwise store only the byte or word, and the next wider load of the
 * register (the host code's, another handler's) could not be forwarded
 * from that store and waits for it (a dozen cycles each time).
 */
FB_INLINE void setr_whole(CPU *cpu, unsigned r, uint32_t v)
{
	__atomic_store_n(&cpu->r[r], v, __ATOMIC_RELAXED);
}

FB_INLINE void setr(CPU *cpu, unsigned r, uint32_t v, unsigned bits)
{
	if (bits == 8) {
		if (r < 4)
			setr_whole(cpu, r, (cpu->r[r] & ~0xffu) | (v & 0xff));
		else
			setr_whole(cpu, r - 4, (cpu->r[r - 4] & ~0xff00u) | (v & 0xff) << 8);
	} else if (bits == 16) {
		setr_whole(cpu, r, (cpu->r[r] & ~0xffffu) | (v & 0xffff));
	} else {
		cpu->r[r] = v;
	}
}

FB_INLINE uint32_t rm_read(CPU *cpu, Insn *in, unsigned bits)
{
	if (in->mod == 3)
		return getr(cpu, in->rm, bits);
	return rdv(cpu, in->ea_seg, ea_offset(cpu, in), bits);
}

FB_INLINE void rm_write(CPU *cpu, Insn *in, uint32_t v, unsigned bits)
{
	if (in->mod == 3)
		setr(cpu, in->rm, v, bits);
	else
		wrv(cpu, in->ea_seg, ea_offset(cpu, in), v, bits);
}

/* ---- per-file handler sets, referenced by opcodes.def ---- */
#define H(name) void name(CPU *cpu, Insn *in)

/* system.c */
H(op_ud);
/* CPUID.1:EAX, also in EDX after RESET: family 6, model 1, stepping 9. */
#define CPUID_SIGNATURE 0x00000619u
uint32_t cpuid_features(void);
bool io_allowed(CPU *cpu, uint16_t port, unsigned size);
uint32_t io_in(CPU *cpu, uint16_t port, unsigned size);
void io_out(CPU *cpu, uint16_t port, uint32_t v, unsigned size);

/* cpufeat: system.c */
H(op_sysenter);
H(op_sysexit);
_Noreturn void cpu_freeze(CPU *cpu); /* exception.c: wait for an interrupt */
void dbg_refresh(CPU *cpu);	     /* dbg_update() plus I/O breakpoints */
/* end cpufeat */

#endif
