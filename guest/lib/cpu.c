/*
 * cpu.c - the guest's GDT and IDT, and the C side of interrupt dispatch.
 *
 * The GDT is flat (ring-0 code and data over 4 GiB).  Every IDT vector points
 * at its stub in isr.asm; isr_dispatch() calls the handler registered with
 * set_isr() or, for an exception nobody expects, prints what happened on
 * COM1 and exits with EXIT_EXCEPTION, so a crash never looks like a hang.
 */
#include "guest.h"

#define ISR_STUB_SIZE 16

struct desc_ptr {
	u16 limit;
	u32 base;
} __attribute__((packed));

struct idt_gate {
	u16 offset_lo, selector;
	u8 zero, type_attr;
	u16 offset_hi;
} __attribute__((packed));

static const u64 gdt[] __attribute__((aligned(8))) = {
    0,			   /* null */
    0x00CF9A000000FFFFull, /* 0x08: code, base 0, 4 GiB, 32-bit, ring 0 */
    0x00CF92000000FFFFull, /* 0x10: data, base 0, 4 GiB, writable */
};

static struct idt_gate idt[256] __attribute__((aligned(8)));
static isr_fn handlers[256];
volatile u32 unhandled_irqs;

extern const u8 isr_stubs[];

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    "#22", "#23", "#24", "#25", "#26", "#27", "#28", "#VC", "#SX", "#31",
};

static void load_gdt(void)
{
	struct desc_ptr p = {sizeof(gdt) - 1, (u32)gdt};

	__asm__ volatile("lgdt %0\n\t"
			 "ljmp %1, $1f\n"
			 "1:\n\t"
			 "mov %2, %%ax\n\t"
			 "mov %%ax, %%ds\n\t"
			 "mov %%ax, %%es\n\t"
			 "mov %%ax, %%fs\n\t"
			 "mov %%ax, %%gs\n\t"
			 "mov %%ax, %%ss"
			 :
			 : "m"(p), "i"(KERNEL_CS), "i"(KERNEL_DS)
			 : "eax", "memory");
}

static void load_idt(void)
{
	struct desc_ptr p = {sizeof(idt) - 1, (u32)idt};

	for (int v = 0; v < 256; v++) {
		u32 addr = (u32)isr_stubs + v * ISR_STUB_SIZE;

		idt[v].offset_lo = addr & 0xFFFF;
		idt[v].offset_hi = addr >> 16;
		idt[v].selector = KERNEL_CS;
		idt[v].zero = 0;
		idt[v].type_attr = 0x8E; /* present, ring 0, 32-bit interrupt gate */
	}
	__asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

void cpu_init(void)
{
	load_gdt();
	load_idt();
}

void set_isr(int vector, isr_fn fn)
{
	handlers[vector & 0xFF] = fn;
}

static __attribute__((noreturn)) void fatal_exception(struct regs *r)
{
	printf("\nEXCEPTION %s (vector %u) err=0x%08x eip=0x%08x",
	       r->vector < 32 ? exception_names[r->vector] : "?", r->vector, r->error, r->eip);
	if (r->vector == 14)
		printf(" cr2=0x%08x", read_cr2());
	printf("\n  eax=%08x ebx=%08x ecx=%08x edx=%08x esi=%08x edi=%08x ebp=%08x eflags=%08x\n",
	       r->eax, r->ebx, r->ecx, r->edx, r->esi, r->edi, r->ebp, r->eflags);
	printf("unhandled exception: exit code 0x%x\n", EXIT_EXCEPTION);
	exit_guest(EXIT_EXCEPTION);
}

void isr_dispatch(struct regs *r);
void isr_dispatch(struct regs *r)
{
	isr_fn fn = handlers[r->vector];

	if (fn) {
		fn(r);
		return;
	}
	if (r->vector < 32)
		fatal_exception(r);
	/* An interrupt nobody asked for: count it, keep going. */
	unhandled_irqs++;
	if (r->vector >= IRQ_BASE && r->vector < IRQ_BASE + 16)
		pic_eoi(r->vector - IRQ_BASE);
}

void exit_guest(u32 code)
{
	serial_flush();
	outb(0xF4, code);
	/* No isa-debug-exit device: stop here for good. */
	for (;;) {
		cli();
		hlt();
	}
}
