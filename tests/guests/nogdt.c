/*
 * nogdt.c - a multiboot kernel that never loads a GDT of its own: it keeps
 * the segment registers and the GDT the loader left (nogdt_start.asm notes
 * them), takes timer interrupts through an IDT whose gates name the
 * loader's code selector, reloads every segment register from the loader's
 * selectors (a far jump for CS) and leaves through port 0xF4.
 *
 * The multiboot specification allows an invalid GDTR; GRUB and QEMU leave a
 * usable GDT with flat code and data, and small kernels rely on it.  A
 * loader that leaves GDTR pointing at nothing makes the first interrupt (or
 * segment load) read garbage descriptors: a triple fault.
 */
#include "guest.h"

extern u32 entry_cs, entry_ds;
extern struct {
	u16 limit;
	u32 base;
} __attribute__((packed)) entry_gdtr;
extern const u8 isr_stubs[];

#define ISR_STUB_SIZE 16

static struct {
	u16 offset_lo, selector;
	u8 zero, type_attr;
	u16 offset_hi;
} __attribute__((packed)) idt[256] __attribute__((aligned(8)));

/* The descriptor @sel names in the loader's GDT, or 0 if beyond its limit. */
static u64 descriptor(u32 sel)
{
	if ((sel & ~7u) + 7 > entry_gdtr.limit)
		return 0;
	return *(const u64 *)(entry_gdtr.base + (sel & ~7u));
}

/* Flat: base 0, limit 4 GiB (G set), present, ring 0, 32-bit, of @type
 * (the code/data and readable/writable bits; DPL 0; accessed ignored). */
static bool flat(u64 d, u32 type)
{
	u32 lo = (u32)d, hi = (u32)(d >> 32);

	return (lo & 0xFFFF) == 0xFFFF && (hi & 0x000F0000) == 0x000F0000 && (lo >> 16) == 0 &&
	       (hi & 0xFF0000FF) == 0 && (hi & 0x00C00000) == 0x00C00000 &&
	       (hi & 0xFE00) == (0x9000 | type << 8);
}

static void load_idt(u16 cs)
{
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) p = {sizeof(idt) - 1, (u32)idt};

	for (int v = 0; v < 256; v++) {
		u32 addr = (u32)isr_stubs + v * ISR_STUB_SIZE;

		idt[v].offset_lo = addr & 0xFFFF;
		idt[v].offset_hi = addr >> 16;
		idt[v].selector = cs;
		idt[v].zero = 0;
		idt[v].type_attr = 0x8E;
	}
	__asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

/* A far jump through the loader's code selector, then every data segment
 * register loaded from its data selector. */
static void reload_segments(void)
{
	struct {
		u32 offset;
		u16 sel;
	} __attribute__((packed)) target = {0, (u16)entry_cs};

	__asm__ volatile("movl $1f, %0\n\t"
			 "ljmp *%0\n"
			 "1:\n\t"
			 "mov %1, %%ds\n\t"
			 "mov %1, %%es\n\t"
			 "mov %1, %%fs\n\t"
			 "mov %1, %%gs\n\t"
			 "mov %1, %%ss"
			 : "+m"(target)
			 : "r"((u16)entry_ds)
			 : "memory");
}

int guest_main(void)
{
	printf("nogdt: the loader left CS %x, DS %x, GDTR base %x limit %x\n", entry_cs, entry_ds,
	       entry_gdtr.base, entry_gdtr.limit);
	check(flat(descriptor(entry_cs), 0xA), "CS %x: not flat 32-bit code in the GDT (%x%08x)",
	      entry_cs, (u32)(descriptor(entry_cs) >> 32), (u32)descriptor(entry_cs));
	check(flat(descriptor(entry_ds), 0x2), "DS %x: not flat 32-bit data in the GDT (%x%08x)",
	      entry_ds, (u32)(descriptor(entry_ds) >> 32), (u32)descriptor(entry_ds));
	if (check_failures)
		return check_done("nogdt");
	reload_segments();
	load_idt((u16)entry_cs);
	pic_init();
	timer_start(1000);
	while (timer_ticks < 10)
		sti_hlt();
	cli();
	timer_stop();
	printf("nogdt: %u timer interrupts through the loader's GDT\n", timer_ticks);
	return check_done("nogdt");
}
