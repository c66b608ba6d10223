/*
 * xlib.c - descriptor tables, TSS, exception catching and ring-3 entry for
 * the CPU test guests (see xlib.h).
 */
#include "xlib.h"

#define XSTUB_SIZE 16

struct desc_ptr {
	u16 limit;
	u32 base;
} __attribute__((packed));

u64 gdt[GDT_SLOTS] __attribute__((aligned(8)));
struct tss main_tss;
u8 ring0_stack[8192] __attribute__((aligned(16)));
u8 user_stack[8192] __attribute__((aligned(16)));
struct fault last_fault;
struct xregs user_regs;

static xisr_fn xhandlers[256];
extern const u8 xstubs[];
int xcatch_run(void (*fn)(u32), u32 arg);
extern u32 catch_esp;
void enter_user(u32 eip, u32 esp, u32 eflags);
__attribute__((noreturn)) void xcatch_unwind(void);
void xdispatch(struct xregs *r);

void gdt_set(int slot, u32 base, u32 limit, u8 access, u8 flags)
{
	gdt[slot] = (limit & 0xFFFF) | (u64)(base & 0xFFFFFF) << 16 | (u64)access << 40 |
		    (u64)((limit >> 16) & 0xF) << 48 | (u64)(flags & 0xF0) << 48 |
		    (u64)(base >> 24) << 56;
}

void gdt_set_gate(int slot, u16 sel, u32 offset, u8 access, u8 params)
{
	gdt[slot] = (offset & 0xFFFF) | (u64)sel << 16 | (u64)(params & 0x1F) << 32 |
		    (u64)access << 40 | (u64)(offset >> 16) << 48;
}

static u32 *idt_entry(int vector)
{
	struct desc_ptr p;

	__asm__ volatile("sidt %0" : "=m"(p));
	return (u32 *)(p.base + vector * 8);
}

void idt_set(int vector, u8 type, xisr_fn fn)
{
	u32 *e = idt_entry(vector);
	u32 addr = (u32)xstubs + vector * XSTUB_SIZE;

	xhandlers[vector] = fn;
	e[0] = (addr & 0xFFFF) | KERNEL_CS << 16;
	e[1] = (addr & 0xFFFF0000) | type << 8;
}

void idt_set_task(int vector, u16 tss_sel, u8 dpl)
{
	u32 *e = idt_entry(vector);

	e[0] = (u32)tss_sel << 16;
	e[1] = (u32)(GATE_TASK | dpl << 5) << 8;
}

void idt_set_present(int vector, bool present)
{
	u32 *e = idt_entry(vector);

	e[1] = present ? e[1] | 0x8000 : e[1] & ~0x8000u;
}

void tss_io(struct tss *t, u16 port, bool allow)
{
	if (allow)
		t->iobits[port / 8] &= ~(1 << (port % 8));
	else
		t->iobits[port / 8] |= 1 << (port % 8);
}

void tss_task(struct tss *t, void (*eip)(void), void *esp)
{
	memset(t, 0, sizeof(*t));
	t->eip = (u32)eip;
	t->esp = (u32)esp;
	t->eflags = 0x2;
	t->cs = KERNEL_CS;
	t->ss = t->ds = t->es = t->fs = t->gs = KERNEL_DS;
	t->ss0 = KERNEL_DS;
	t->esp0 = (u32)esp;
	t->cr3 = read_cr3();
	t->iomap = __builtin_offsetof(struct tss, iobits);
	memset(t->iobits, 0xFF, sizeof(t->iobits));
	t->iobits_end = 0xFF;
}

/* The default handler for INT 0x80: SYS_EXIT leaves ring 3. */
void sys_handler(struct xregs *r)
{
	if (r->eax == SYS_EXIT) {
		user_regs = *r;
		xcatch_unwind();
	}
}

void xlib_init(void)
{
	struct desc_ptr p = {sizeof(gdt) - 1, (u32)gdt};

	gdt_set(1, 0, 0xFFFFF, ACC_CODE0, 0xC0);
	gdt_set(2, 0, 0xFFFFF, ACC_DATA0, 0xC0);
	gdt_set(SEL_UCODE / 8, 0, 0xFFFFF, ACC_CODE0 | 0x60, 0xC0);
	gdt_set(SEL_UDATA / 8, 0, 0xFFFFF, ACC_DATA0 | 0x60, 0xC0);
	tss_task(&main_tss, NULL, ring0_stack + sizeof(ring0_stack));
	gdt_set(SEL_TSS / 8, (u32)&main_tss, TSS_LIMIT, ACC_TSS, 0);
	__asm__ volatile("lgdt %0\n\t"
			 "ljmp %1, $1f\n"
			 "1:\n\t"
			 "mov %2, %%ax\n\t"
			 "mov %%ax, %%ds\n\t"
			 "mov %%ax, %%es\n\t"
			 "mov %%ax, %%fs\n\t"
			 "mov %%ax, %%gs\n\t"
			 "mov %%ax, %%ss\n\t"
			 "mov %3, %%ax\n\t"
			 "ltr %%ax"
			 :
			 : "m"(p), "i"(KERNEL_CS), "i"(KERNEL_DS), "i"(SEL_TSS)
			 : "eax", "memory");
	for (int v = 0; v < 32; v++)
		idt_set(v, GATE_INT, NULL);
	idt_set(0x80, GATE_INT | GATE_DPL3, sys_handler);
}

__attribute__((noreturn)) void xcatch_escape(struct xregs *r)
{
	struct fault *f = &last_fault;
	u32 dr6;

	__asm__ volatile("mov %%db6, %0" : "=r"(dr6));
	f->count++;
	f->vector = r->vector;
	f->error = r->error;
	f->eip = r->eip;
	f->cs = r->cs;
	f->eflags = r->eflags;
	/* Only meaningful after a privilege change. */
	f->esp = r->esp;
	f->ss = r->ss;
	f->cr2 = read_cr2();
	f->dr6 = dr6;
	xcatch_unwind();
}

void xdispatch(struct xregs *r)
{
	xisr_fn fn = xhandlers[r->vector];

	if (fn) {
		fn(r);
		return;
	}
	if (!catch_esp) {
		printf("FAIL: unexpected exception %u err 0x%x at %x:%08x\n", r->vector, r->error,
		       r->cs, r->eip);
		exit_guest(EXIT_EXCEPTION);
	}
	xcatch_escape(r);
}

struct fault xcatch(void (*fn)(u32 arg), u32 arg)
{
	memset(&last_fault, 0, sizeof(last_fault));
	xcatch_run(fn, arg);
	return last_fault;
}

bool check_fault(const char *what, struct fault f, u32 vector, u32 error, u32 eip)
{
	bool ok = true;

	printf("%-40s vector %2u err 0x%04x eip 0x%08x\n", what, f.vector, f.error, f.eip);
	ok &= check(f.count == 1, "%s: %d exceptions", what, f.count);
	ok &= check(f.vector == vector, "%s: vector %u, want %u", what, f.vector, vector);
	ok &= check(f.error == error, "%s: error 0x%x, want 0x%x", what, f.error, error);
	ok &= check(f.eip == eip, "%s: EIP 0x%08x, want 0x%08x", what, f.eip, eip);
	return ok;
}

static u32 user_eip, user_esp, user_eflags;

static void user_trampoline(u32 unused)
{
	enter_user(user_eip, user_esp, user_eflags);
}

struct fault run_user(u32 eip, u32 esp, u32 eflags)
{
	user_eip = eip;
	user_esp = esp;
	user_eflags = eflags;
	memset(&user_regs, 0, sizeof(user_regs));
	return xcatch(user_trampoline, 0);
}
