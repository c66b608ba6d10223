/*
 * cpu.h - the i686 CPU: state, the execution loop and its boundary.
 *
 * The CPU executes guest instructions until its instruction count (icount)
 * reaches a limit.  Everything that enters the CPU from outside goes through
 * the CPUBus callbacks - port reads, MMIO reads, interrupt acknowledge, time
 * reads - which is exactly the set of events the recorder journals and the
 * replayer feeds back.  RAM is reached directly through host pointers found
 * in the "memory" address space.
 *
 * icount: +1 per retired instruction; each iteration of a REP string
 * instruction counts as one; an instruction that faults does not retire
 * (delivering the exception does not count either).  External interrupts are
 * taken only between instructions.
 */
#ifndef FB_CPU_H
#define FB_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "../memory/memory.h"

enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_NONE = -1 };

/* EFLAGS bits */
#define F_CF 0x00000001u
#define F_PF 0x00000004u
#define F_AF 0x00000010u
#define F_ZF 0x00000040u
#define F_SF 0x00000080u
#define F_TF 0x00000100u
#define F_IF 0x00000200u
#define F_DF 0x00000400u
#define F_OF 0x00000800u
#define F_IOPL 0x00003000u
#define F_NT 0x00004000u
#define F_RF 0x00010000u
#define F_VM 0x00020000u
#define F_AC 0x00040000u
#define F_ID 0x00200000u

/* CR0 / CR4 bits */
#define CR0_PE 0x00000001u
#define CR0_MP 0x00000002u
#define CR0_EM 0x00000004u
#define CR0_TS 0x00000008u
#define CR0_ET 0x00000010u
#define CR0_NE 0x00000020u
#define CR0_WP 0x00010000u
#define CR0_AM 0x00040000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u
#define CR4_VME 0x0001u
#define CR4_PVI 0x0002u
#define CR4_TSD 0x0004u
#define CR4_DE 0x0008u
#define CR4_PSE 0x0010u
#define CR4_PGE 0x0080u

/* A segment register with its hidden descriptor cache. */
typedef struct SegReg {
	uint16_t sel;
	uint32_t base;
	uint32_t limit; /* byte granular, already scaled by G */
	uint32_t attr;	/* descriptor bits 8-23 of the high dword: type, S, DPL, P, AVL, L, D/B, G */
} SegReg;

typedef struct DescTable {
	uint32_t base;
	uint16_t limit;
} DescTable;

/* Why cpu_exec() returned. */
enum cpu_exit {
	CPU_EXIT_LIMIT,	       /* icount reached the limit */
	CPU_EXIT_HALT,	       /* HLT with nothing to wake it */
	CPU_EXIT_REQUEST,      /* cpu_request_exit() or a device kick */
	CPU_EXIT_TRIPLE_FAULT, /* shutdown: the machine resets */
	CPU_EXIT_BREAKPOINT,   /* a debugger breakpoint or watchpoint: cpu_stop_reason() */
};

/* The CPU's view of the outside world: the nondeterminism boundary. */
typedef struct CPUBus {
	void *opaque;
	AddressSpace *memory; /* for RAM lookups; non-RAM goes to mmio_* */
	uint32_t (*io_read)(void *opaque, uint16_t port, unsigned size);
	void (*io_write)(void *opaque, uint16_t port, uint32_t value, unsigned size);
	uint64_t (*mmio_read)(void *opaque, uint64_t addr, unsigned size);
	void (*mmio_write)(void *opaque, uint64_t addr, uint64_t value, unsigned size);
	int (*intack)(void *opaque); /* the vector of the pending external interrupt */
	void (*nmi_ack)(void *opaque); /* the CPU takes the pending NMI (optional) */
	uint64_t (*rdtsc)(void *opaque);
	/* MSRs the machine owns (APIC base); return false for #GP. */
	bool (*rdmsr)(void *opaque, uint32_t msr, uint64_t *value);
	bool (*wrmsr)(void *opaque, uint32_t msr, uint64_t value);
} CPUBus;

typedef struct CPU CPU;

CPU *cpu_new(const CPUBus *bus);
void cpu_free(CPU *cpu);
/* Power-on / RESET state: real mode, CS:IP = F000:FFF0 with CS base FFFF0000. */
void cpu_reset(CPU *cpu);

/*
 * Run until icount == @limit or another exit.  Returns at once with
 * CPU_EXIT_LIMIT if icount >= limit.
 */
enum cpu_exit cpu_exec(CPU *cpu, uint64_t limit);

/*
 * The execution engine: the interpreter (the reference) or the host-code
 * backend (x86-64 hosts).  They give the same results at every instruction
 * boundary, so a trace does not depend on the engine that made it.  New CPUs
 * take the process default; "-accel interp|jit" sets it (main.c).
 */
enum cpu_accel { CPU_ACCEL_INTERP, CPU_ACCEL_JIT };
/* Parse "interp" / "jit": false for anything else. */
bool cpu_accel_parse(const char *name, enum cpu_accel *out);
void cpu_set_default_accel(enum cpu_accel a);
enum cpu_accel cpu_default_accel(void);
/* Falls back to the interpreter where there is no backend for the host. */
void cpu_set_accel(CPU *cpu, enum cpu_accel a);
enum cpu_accel cpu_get_accel(const CPU *cpu);
/* For the engines' differential tests (tests/cpu): @fn after every block,
 * run as host code or interpreted, whole or cut by the limit.  While a hook
 * is set, host code does not go on to the next block by itself, so no
 * block end goes unseen.  NULL removes it. */
void cpu_set_block_hook(CPU *cpu, void (*fn)(void *opaque, CPU *cpu), void *opaque);

/* Make the running cpu_exec() return after the current instruction. */
void cpu_request_exit(CPU *cpu);

/* The INTR pin (level) and the NMI pin (edge). */
void cpu_set_intr(CPU *cpu, bool level);
void cpu_nmi(CPU *cpu);
/* A20 gate: when off, physical address bit 20 is forced to 0. */
void cpu_set_a20(CPU *cpu, bool on);
/*
 * Connect the x87's FERR# output: @line is raised whenever FERR# is active
 * and a waiting x87 instruction freezes on it (an unmasked exception
 * pending with CR0.NE = 0, IGNNE# deasserted); NULL disconnects.  A line rather than a CPUBus callback, so the recorder's
 * wrapping of the bus leaves it alone; the interrupt it leads to is
 * journaled like any other.
 */
struct IRQ; /* base.h */
void cpu_set_ferr_line(CPU *cpu, const struct IRQ *line);

/* ---- the debugger's breakpoints and watchpoints (debug.c) -------------
 *
 * The CPU checks them itself, so that execution without a hit runs at
 * block speed.  A breakpoint is an EIP: cpu_exec() returns
 * CPU_EXIT_BREAKPOINT before running the instruction there, however control
 * arrived (a jump, a block link, an interrupt or exception delivery, IRET,
 * a task switch, SYSENTER, the reset vector, a resume in the middle of a
 * block).  A watch is a range of linear or physical addresses: every CPU
 * access that overlaps it (loads, stores, pushes and pops, string
 * instructions, descriptor table, TSS and IDT accesses, the page walker's
 * accessed/dirty updates; not instruction fetches) is reported to the
 * watch function during the instruction, with the bytes before and after a
 * write; if it asks to stop, cpu_exec() returns CPU_EXIT_BREAKPOINT after
 * that instruction.  Pages that hold a watch never get TLB entries for the
 * watched kind of access, so only they take the slow path.
 */
#define CPU_MAX_BREAKPOINTS 64
#define CPU_MAX_WATCHES	    64
enum { CPU_WATCH_READ = 1, CPU_WATCH_WRITE = 2 };

typedef struct CPUWatch {
	uint32_t addr, len;
	uint8_t kinds; /* CPU_WATCH_READ | CPU_WATCH_WRITE */
	bool phys;     /* physical addresses (else linear) */
} CPUWatch;

/* One access that overlaps a watch. */
typedef struct CPUAccess {
	uint32_t lin;  /* linear address, when has_lin */
	uint32_t phys; /* physical address (a DMA: the device's) */
	uint32_t size; /* bytes; a DMA may be long */
	bool has_lin;
	bool write;
	bool dma;	    /* a device wrote it (cpu_watch_dma) */
	const uint8_t *old; /* a write to RAM: the bytes before it (else NULL) */
	const uint8_t *now; /* the bytes read or written */
} CPUAccess;

/* Returns true to stop after the instruction (or, for a DMA, at once). */
typedef bool (*cpu_watch_fn)(void *opaque, CPU *cpu, const CPUAccess *a);

/* Replace the breakpoints (at most CPU_MAX_BREAKPOINTS EIPs). */
void cpu_set_breakpoints(CPU *cpu, const uint32_t *eips, unsigned n);
/* Replace the watches (at most CPU_MAX_WATCHES) and their function. */
void cpu_set_watches(CPU *cpu, const CPUWatch *w, unsigned n, cpu_watch_fn fn, void *opaque);
/* The next instruction runs even if a breakpoint is at its EIP (leaving one). */
void cpu_skip_breakpoint(CPU *cpu);
/*
 * A device (or the replay of a journalled DMA) wrote @len bytes at physical
 * @phys, @old before: the watches are told; returns true if the watch
 * function asked to stop (the next cpu_exec() returns at once).
 */
bool cpu_watch_dma(CPU *cpu, uint32_t phys, const uint8_t *old, const uint8_t *now, uint32_t len);

/* In a watch function: the EIP of the instruction that made the access. */
uint32_t cpu_insn_eip(const CPU *cpu);
/* 16 or 32: how the code at CS:EIP decodes now (real and V86 mode: 16). */
int cpu_code_bits(const CPU *cpu);

enum cpu_stop { CPU_STOP_NONE, CPU_STOP_BREAKPOINT, CPU_STOP_WATCH };
/* Why the last CPU_EXIT_BREAKPOINT: a breakpoint (before the instruction at
 * EIP) or a watch (after the instruction, or a DMA). */
enum cpu_stop cpu_stop_reason(const CPU *cpu);

/* ---- state access, for loaders, the replayer and the gdb stub -------- */

uint64_t cpu_icount(const CPU *cpu);
const uint64_t *cpu_icount_ptr(const CPU *cpu);
void cpu_set_icount(CPU *cpu, uint64_t icount);
bool cpu_halted(const CPU *cpu);

uint32_t cpu_get_reg(const CPU *cpu, int r);
void cpu_set_reg(CPU *cpu, int r, uint32_t v);
uint32_t cpu_get_eip(const CPU *cpu);
void cpu_set_eip(CPU *cpu, uint32_t eip);
uint32_t cpu_get_eflags(const CPU *cpu);
void cpu_set_eflags(CPU *cpu, uint32_t eflags);
SegReg cpu_get_seg(const CPU *cpu, int s);
/* Loads the hidden part as given (no descriptor table access). */
void cpu_set_seg(CPU *cpu, int s, SegReg seg);
uint32_t cpu_get_cr(const CPU *cpu, int n);
void cpu_set_cr(CPU *cpu, int n, uint32_t v);
DescTable cpu_get_gdtr(const CPU *cpu);
void cpu_set_gdtr(CPU *cpu, DescTable t);
DescTable cpu_get_idtr(const CPU *cpu);
void cpu_set_idtr(CPU *cpu, DescTable t);

/* The x87 registers as FSAVE lays them out: st[i] is physical register Ri
 * (ST(i) is st[(TOP + i) & 7], TOP = sw bits 11-13), each as its 64-bit
 * significand and 16-bit sign + exponent; tw the full tag word. */
typedef struct CPUFpuRegs {
	uint64_t mant[8];
	uint16_t se[8];
	uint16_t cw, sw, tw, fop;
	uint32_t fip, fdp;
	uint16_t fcs, fds;
} CPUFpuRegs;
void cpu_get_fpu(const CPU *cpu, CPUFpuRegs *f);
void cpu_set_fpu(CPU *cpu, const CPUFpuRegs *f);

/*
 * Put the CPU in the state a multiboot loader leaves: protected mode, flat
 * 4 GiB 32-bit code and data segments, paging and interrupts off.
 */
void cpu_set_flat32(CPU *cpu, uint32_t eip);

/* CPUID leaf 1's EAX (family, model, stepping) and EDX (the features), for
 * firmware tables that repeat them (the MP table's processor entry). */
uint32_t cpu_signature(void);
uint32_t cpu_feature_flags(void);

/* Read guest memory at a linear address (through paging if on), for the
 * debugger and tools; returns false if some byte is not mapped. */
bool cpu_read_linear(CPU *cpu, uint32_t addr, void *buf, uint32_t len);
/* The physical address of linear @lin through the current paging (no
 * fault, no accessed bits); false if it is not mapped. */
bool cpu_translate(CPU *cpu, uint32_t lin, uint32_t *phys);

/*
 * Forget every cached translation and decoded instruction.  The CPU writes
 * RAM through host pointers and marks a page dirty only on the first write
 * after it was clean, so whoever clears dirty bits (ram_test_and_clear_dirty,
 * DIRTY_SNAPSHOT) must call this before the CPU runs again; so must whoever
 * writes guest RAM through mr_host() after the CPU has run (restoring a
 * snapshot, a loader).  Writes through as_write() and
 * cpu_physical_memory_rw() need nothing.
 */
void cpu_flush_tlb(CPU *cpu);

/* Print the registers in the form QEMU's "info registers" uses. */
void cpu_dump(const CPU *cpu, FILE *out);
/* A hash of the architectural state (registers, flags, segments, control
 * and FPU registers); the check events of the journal compare it. */
uint64_t cpu_state_hash(const CPU *cpu);

/* ---- whole-state save and restore (state.c), for snapshots ------------
 * Every architectural and hidden field (registers, lazy flags, segment
 * caches, control/debug registers, MSRs, x87, icount, halted, interrupt
 * shadow, NMI blocking, A20, a pending exception); no host pointers.
 * cpu_state_load() checks the tag, version and size, flushes the TLB, and
 * returns false (leaving the CPU alone) on a malformed buffer.
 */
size_t cpu_state_size(void);
void cpu_state_save(const CPU *cpu, void *buf);
bool cpu_state_load(CPU *cpu, const void *buf, size_t len);

#endif
