/*
 * xlib.h - what the CPU test guests share on top of guest/lib: a bigger GDT
 * with ring-3 segments and room for TSSes and gates, IDT gates of any type,
 * interrupt stubs that save and reload the data segment registers (so that
 * handlers work after entries from ring 3 and from virtual-8086 mode), a
 * "catch" that runs a piece of code and reports the first exception it
 * raises, and ring-3 entry.
 */
#ifndef XLIB_H
#define XLIB_H

#include "guest.h"

/* GDT slots (selector = index * 8).  0x08 and 0x10 are the runtime's. */
#define SEL_UCODE 0x18 /* ring-3 code, flat (use with RPL 3) */
#define SEL_UDATA 0x20 /* ring-3 data, flat (use with RPL 3) */
#define SEL_TSS	  0x28 /* the TSS of the main task */
#define GDT_FREE  6    /* first slot a test may use */
#define GDT_SLOTS 32
#define USER_CS	  (SEL_UCODE | 3)
#define USER_DS	  (SEL_UDATA | 3)

/* Descriptor access bytes. */
#define ACC_CODE0    0x9A /* present, DPL 0, code, readable */
#define ACC_DATA0    0x92 /* present, DPL 0, data, writable */
#define ACC_TSS	     0x89 /* present, DPL 0, available 32-bit TSS */
#define ACC_TSS_BUSY 0x8B

extern u64 gdt[GDT_SLOTS];
/* Writes a segment descriptor: @flags is the high nibble (G, D/B). */
void gdt_set(int slot, u32 base, u32 limit, u8 access, u8 flags);
/* Writes a call or task gate: @access 0x8C call gate, 0x85 task gate. */
void gdt_set_gate(int slot, u16 sel, u32 offset, u8 access, u8 params);
/* The access byte of a slot (to look at busy bits). */
static inline u8 gdt_access(int slot)
{
	return (gdt[slot] >> 40) & 0xFF;
}

/* 32-bit TSS with an I/O permission bitmap for ports 0-0x3FF. */
struct tss {
	u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3;
	u32 eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
	u32 es, cs, ss, ds, fs, gs, ldt;
	u16 trap, iomap;
	u8 iobits[0x400 / 8];
	u8 iobits_end; /* 0xFF, as the SDM asks */
} __attribute__((packed, aligned(128)));
#define TSS_LIMIT (sizeof(struct tss) - 1)

extern struct tss main_tss;
/* Allows (@allow) or denies port @port in @t's bitmap. */
void tss_io(struct tss *t, u16 port, bool allow);
/* Fills @t for a ring-0 task starting at @eip with stack @esp. */
void tss_task(struct tss *t, void (*eip)(void), void *esp);

/* The frame of xstubs.asm, lowest address first. */
struct xregs {
	u32 gs, fs, es, ds;			     /* as they were when the stub started */
	u32 edi, esi, ebp, esp0, ebx, edx, ecx, eax; /* PUSHAD */
	u32 vector, error;
	u32 eip, cs, eflags;		    /* pushed by the CPU */
	u32 esp, ss;			    /* only from another privilege level */
	u32 v86_es, v86_ds, v86_fs, v86_gs; /* only from virtual-8086 mode */
};
typedef void (*xisr_fn)(struct xregs *r);

/* Gate types for idt_set. */
#define GATE_INT  0x8E
#define GATE_TRAP 0x8F
#define GATE_TASK 0x85
#define GATE_DPL3 0x60
/* Points IDT @vector at our stub (or at TSS selector @sel for a task gate)
 * with gate @type and handler @fn (NULL: the catch default). */
void idt_set(int vector, u8 type, xisr_fn fn);
void idt_set_task(int vector, u16 tss_sel, u8 dpl);
void idt_set_present(int vector, bool present);

/* Loads our GDT (keeping CS 0x08 / data 0x10), the main TSS (LTR) and our
 * stubs for vectors 0-31 (catch default). */
void xlib_init(void);

/* What an exception caught by xcatch() looked like. */
struct fault {
	int count; /* 0: nothing happened */
	u32 vector, error, eip, cs, eflags, esp, ss, cr2, dr6;
};
extern struct fault last_fault;
/* Runs @fn(@arg).  If an exception whose vector has the default handler
 * arrives, it is recorded and the call is abandoned (a jump back into
 * xcatch with the segment registers restored).  Returns the record. */
struct fault xcatch(void (*fn)(u32 arg), u32 arg);
/* Abandons the current xcatch() from a handler, recording @r. */
__attribute__((noreturn)) void xcatch_escape(struct xregs *r);

/* Enters ring 3 at @eip with stack @esp and EFLAGS @eflags; returns when
 * the ring-3 code does INT 0x80 with EAX = SYS_EXIT (its registers are
 * then in user_regs, and the result's count is 0) or when it raises an
 * exception with the default handler (the result says which). */
struct fault run_user(u32 eip, u32 esp, u32 eflags);
extern struct xregs user_regs;
#define SYS_EXIT 0
/* The INT 0x80 handler xlib_init() installs (tests that take over the
 * vector pass SYS_EXIT calls on to it). */
void sys_handler(struct xregs *r);

/* Checks a caught fault: vector, error code, saved EIP. */
bool check_fault(const char *what, struct fault f, u32 vector, u32 error, u32 eip);

/* An 8-KiB ring-0 stack for the TSS and a ring-3 stack. */
extern u8 ring0_stack[8192], user_stack[8192];

/* Trigger routines written in assembly inside C: a label on the
 * instruction that should fault and one after it. */
#define TRIGGER(name, body)                                                                        \
	__asm__(".text\n.globl " #name "\n" #name ":\n" body);                                     \
	void name(u32 arg);                                                                        \
	extern const char name##_fault[], name##_resume[];

#define EFLAGS_TF 0x100
#define EFLAGS_IF 0x200
#define EFLAGS_NT 0x4000
#define EFLAGS_RF 0x10000
#define EFLAGS_VM 0x20000
#define EFLAGS_AC 0x40000
#define IOPL(n)	  ((n) << 12)

#endif
