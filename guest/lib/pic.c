/*
 * pic.c - the two 8259A PICs, remapped so IRQ 0-15 arrive at vectors
 * 0x20-0x2F (away from the CPU exceptions), and IRQ handler dispatch with
 * the EOI sent for the handler.
 */
#include "guest.h"

#define PIC1_CMD      0x20
#define PIC1_DATA     0x21
#define PIC2_CMD      0xA0
#define PIC2_DATA     0xA1
#define PIC_EOI	      0x20
#define OCW3_READ_IRR 0x0A
#define OCW3_READ_ISR 0x0B

static isr_fn irq_handlers[16];

void pic_init(void)
{
	outb(PIC1_CMD, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, IRQ_BASE); /* ICW2: vector base */
	outb(PIC2_DATA, IRQ_BASE + 8);
	outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ 2 */
	outb(PIC2_DATA, 0x02); /* ICW3: slave identity 2 */
	outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xFF); /* mask everything */
	outb(PIC2_DATA, 0xFF);
}

void pic_unmask(int irq)
{
	if (irq >= 8) {
		outb(PIC2_DATA, inb(PIC2_DATA) & ~(1 << (irq - 8)));
		irq = 2;
	}
	outb(PIC1_DATA, inb(PIC1_DATA) & ~(1 << irq));
}

void pic_mask(int irq)
{
	if (irq >= 8)
		outb(PIC2_DATA, inb(PIC2_DATA) | 1 << (irq - 8));
	else
		outb(PIC1_DATA, inb(PIC1_DATA) | 1 << irq);
}

void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
}

static u16 read_both(u8 ocw3)
{
	outb(PIC1_CMD, ocw3);
	outb(PIC2_CMD, ocw3);
	return inb(PIC1_CMD) | inb(PIC2_CMD) << 8;
}

u16 pic_read_irr(void)
{
	return read_both(OCW3_READ_IRR);
}
u16 pic_read_isr(void)
{
	return read_both(OCW3_READ_ISR);
}
u16 pic_read_mask(void)
{
	return inb(PIC1_DATA) | inb(PIC2_DATA) << 8;
}

/* IRQ 7 and 15 may be spurious: then the in-service bit is clear and only
 * the master (for 15, which the cascade put in service) wants an EOI. */
static bool spurious(int irq)
{
	if (irq != 7 && irq != 15)
		return false;
	if (pic_read_isr() & (1 << irq))
		return false;
	if (irq == 15)
		outb(PIC1_CMD, PIC_EOI);
	return true;
}

static void irq_entry(struct regs *r)
{
	int irq = r->vector - IRQ_BASE;

	if (spurious(irq))
		return;
	irq_handlers[irq](r);
	pic_eoi(irq);
}

void set_irq(int irq, isr_fn fn)
{
	irq_handlers[irq] = fn;
	set_isr(IRQ_BASE + irq, fn ? irq_entry : NULL);
}
