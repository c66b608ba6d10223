/*
 * test_pic.c - the 8259A pair driven through the io address space, the way
 * a guest programs it, with the CPU's INTR pin and INTA cycle played by the
 * test.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

static AddressSpace *io;
static PIC *pic;

/* The CPU's INTR pin as the PIC drives it. */
static int intr_level;
static int intr_changes;

static void cpu_intr(void *opaque, int n, int level)
{
	intr_level = level;
	intr_changes++;
}

static void outb(uint16_t port, uint8_t v)
{
	as_write(io, port, v, 1);
}

static uint8_t inb(uint16_t port)
{
	return (uint8_t)as_read(io, port, 1);
}

static void irq(int n, int level)
{
	irq_set(pic_irq(pic, n), level);
}

/* What Linux and most BIOSes do: vectors 0x08 and 0x70, slave on IR2. */
static void init_pair(uint8_t icw4)
{
	outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(0x21, 0x08); /* ICW2 */
	outb(0x21, 0x04); /* ICW3: slave on IR2 */
	outb(0x21, icw4);
	outb(0xa0, 0x11);
	outb(0xa1, 0x70);
	outb(0xa1, 0x02); /* ICW3: slave id 2 */
	outb(0xa1, icw4);
}

static uint8_t read_irr(uint16_t cmd)
{
	outb(cmd, 0x0a);
	return inb(cmd);
}

static uint8_t read_isr(uint16_t cmd)
{
	outb(cmd, 0x0b);
	return inb(cmd);
}

static void eoi_both(void)
{
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
}

static void test_init_and_vectors(void)
{
	init_pair(0x01);
	CHECK_EQ(inb(0x21), 0x00); /* ICW1 cleared the mask */
	CHECK_EQ(inb(0xa1), 0x00);
	CHECK_EQ(intr_level, 0);

	irq(1, 1);
	CHECK_EQ(intr_level, 1);
	CHECK(pic_int_output(pic));
	CHECK_EQ(read_irr(0x20), 0x02);
	CHECK_EQ(pic_intack(pic), 0x09);
	CHECK_EQ(intr_level, 0);
	CHECK_EQ(read_isr(0x20), 0x02);
	CHECK_EQ(read_irr(0x20), 0x00); /* edge: INTA took the request */
	irq(1, 0);
	outb(0x20, 0x20); /* non-specific EOI */
	CHECK_EQ(read_isr(0x20), 0x00);
	CHECK_EQ(intr_level, 0);

	/* A slave line: the master sees IR2, the vector is the slave's. */
	irq(12, 1);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(read_irr(0xa0), 0x10);
	CHECK_EQ(pic_intack(pic), 0x74);
	CHECK_EQ(read_isr(0x20), 0x04);
	CHECK_EQ(read_isr(0xa0), 0x10);
	irq(12, 0);
	eoi_both();
	CHECK_EQ(read_isr(0x20), 0x00);
	CHECK_EQ(read_isr(0xa0), 0x00);

	/* IRQ 2 from a device is IRQ 9 on the PC/AT. */
	irq(2, 1);
	CHECK_EQ(pic_intack(pic), 0x71);
	irq(2, 0);
	eoi_both();
	CHECK_EQ(intr_level, 0);

	/* Initialising again moves the vectors (no ICW3 in single mode). */
	outb(0x20, 0x13);
	outb(0x21, 0x20);
	outb(0x21, 0x01);
	irq(0, 1);
	CHECK_EQ(pic_intack(pic), 0x20);
	irq(0, 0);
	outb(0x20, 0x20);
	init_pair(0x01);
}

static void test_imr(void)
{
	init_pair(0x01);
	outb(0x21, 0x08); /* mask IRQ 3 */
	CHECK_EQ(inb(0x21), 0x08);
	/* A 16-bit read covers both ports: IRR, then IMR. */
	CHECK_EQ(as_read(io, 0x20, 2), 0x0800);
	irq(3, 1);
	CHECK_EQ(intr_level, 0);
	CHECK_EQ(read_irr(0x20), 0x08); /* requested, but masked */
	outb(0x21, 0x00);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x0b);
	irq(3, 0);
	outb(0x20, 0x20);

	/* A masked slave line does not reach IR2... */
	outb(0x21, 0x04);
	outb(0xa1, 0x40);
	irq(14, 1);
	CHECK_EQ(read_irr(0xa0), 0x40);
	CHECK_EQ(read_irr(0x20), 0x00);
	/* ...and masking the cascade line hides every slave line. */
	outb(0xa1, 0x00);
	CHECK_EQ(read_irr(0x20), 0x04);
	CHECK_EQ(intr_level, 0);
	outb(0x21, 0x00);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x76);
	irq(14, 0);
	eoi_both();
}

static void test_priority_and_eoi(void)
{
	init_pair(0x01);
	irq(5, 1);
	irq(3, 1);
	CHECK_EQ(pic_intack(pic), 0x0b); /* 3 before 5 */
	CHECK_EQ(intr_level, 0);	 /* 5 waits: 3 is in service */
	irq(1, 1);
	CHECK_EQ(intr_level, 1); /* but 1 nests above 3 */
	CHECK_EQ(pic_intack(pic), 0x09);
	CHECK_EQ(read_isr(0x20), 0x0a);
	outb(0x20, 0x20); /* non-specific EOI ends the highest: 1 */
	CHECK_EQ(read_isr(0x20), 0x08);
	CHECK_EQ(intr_level, 0);
	outb(0x20, 0x63); /* specific EOI for 3 */
	CHECK_EQ(read_isr(0x20), 0x00);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x0d);
	outb(0x20, 0x65);
	CHECK_EQ(read_isr(0x20), 0x00);
	irq(1, 0);
	irq(3, 0);
	irq(5, 0);

	/* Slave lines rank at the master's IR2: above 3, below 1. */
	irq(3, 1);
	irq(8, 1);
	CHECK_EQ(pic_intack(pic), 0x70);
	eoi_both();
	CHECK_EQ(pic_intack(pic), 0x0b);
	outb(0x20, 0x20);
	irq(3, 0);
	irq(8, 0);
	CHECK_EQ(intr_level, 0);
}

static void test_rotation(void)
{
	init_pair(0x01);
	/* Rotate on non-specific EOI: the line just served goes last. */
	irq(3, 1);
	CHECK_EQ(pic_intack(pic), 0x0b);
	outb(0x20, 0xa0);
	irq(3, 0);
	irq(3, 1);
	irq(5, 1);
	CHECK_EQ(pic_intack(pic), 0x0d); /* 5 now outranks 3 */
	outb(0x20, 0x20);
	CHECK_EQ(pic_intack(pic), 0x0b);
	outb(0x20, 0x20);
	irq(3, 0);
	irq(5, 0);

	/* Set priority: 6 lowest, so 7 is highest, then 0. */
	outb(0x20, 0xc6);
	irq(0, 1);
	irq(7, 1);
	CHECK_EQ(pic_intack(pic), 0x0f);
	outb(0x20, 0x20);
	CHECK_EQ(pic_intack(pic), 0x08);
	outb(0x20, 0x20);
	irq(0, 0);
	irq(7, 0);
	outb(0x20, 0xc7); /* back to the default order */
	irq(0, 1);
	irq(7, 1);
	CHECK_EQ(pic_intack(pic), 0x08);
	outb(0x20, 0x20);
	CHECK_EQ(pic_intack(pic), 0x0f);
	outb(0x20, 0x20);
	irq(0, 0);
	irq(7, 0);
}

static void test_auto_eoi(void)
{
	init_pair(0x03); /* 8086 mode, auto-EOI */
	irq(4, 1);
	CHECK_EQ(pic_intack(pic), 0x0c);
	CHECK_EQ(read_isr(0x20), 0x00); /* nothing left in service */
	irq(4, 0);
	irq(6, 1);
	CHECK_EQ(intr_level, 1); /* a lower line goes through at once */
	CHECK_EQ(pic_intack(pic), 0x0e);
	irq(6, 0);

	/* Rotate in auto-EOI mode. */
	outb(0x20, 0x80);
	irq(3, 1);
	CHECK_EQ(pic_intack(pic), 0x0b);
	irq(3, 0);
	irq(3, 1);
	irq(4, 1);
	CHECK_EQ(pic_intack(pic), 0x0c); /* 3 went to the bottom */
	CHECK_EQ(pic_intack(pic), 0x0b);
	irq(3, 0);
	irq(4, 0);
	outb(0x20, 0x00);
	init_pair(0x01);
}

static void test_spurious(void)
{
	init_pair(0x01);
	/* The request vanished (masked) between INT and INTA: IRQ 7. */
	irq(4, 1);
	CHECK_EQ(intr_level, 1);
	outb(0x21, 0x10);
	CHECK_EQ(pic_intack(pic), 0x0f);
	CHECK_EQ(read_isr(0x20), 0x00); /* a spurious 7 sets no ISR bit */
	irq(4, 0);
	outb(0x21, 0x00);
	CHECK_EQ(pic_intack(pic), 0x0c); /* the latched edge is still there */
	outb(0x20, 0x20);

	/* A level slave line drops before INTA: 15, with master ISR 2 set. */
	outb(0x4d1, 0x04); /* IRQ 10 level */
	irq(10, 1);
	CHECK_EQ(intr_level, 1);
	irq(10, 0);
	CHECK_EQ(pic_intack(pic), 0x77);
	CHECK_EQ(read_isr(0x20), 0x04);
	CHECK_EQ(read_isr(0xa0), 0x00);
	outb(0x20, 0x20);
	CHECK_EQ(read_isr(0x20), 0x00);
	outb(0x4d1, 0x00);
	CHECK_EQ(intr_level, 0);
}

static void test_level_edge(void)
{
	init_pair(0x01);
	outb(0x4d0, 0xff);
	outb(0x4d1, 0xff);
	CHECK_EQ(inb(0x4d0), 0xf8); /* 0, 1, 2 are always edge */
	CHECK_EQ(inb(0x4d1), 0xde); /* so are 8 and 13 */
	outb(0x4d0, 0x00);
	outb(0x4d1, 0x08); /* IRQ 11 level */
	CHECK_EQ(inb(0x4d1), 0x08);

	/* Level: a line still high after EOI asks again. */
	irq(11, 1);
	CHECK_EQ(pic_intack(pic), 0x73);
	CHECK_EQ(read_irr(0xa0), 0x08); /* level keeps IRR while high */
	eoi_both();
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x73);
	irq(11, 0);
	CHECK_EQ(read_irr(0xa0), 0x00);
	eoi_both();
	CHECK_EQ(intr_level, 0);

	/* Edge: one interrupt per rising edge, however long it stays high. */
	irq(10, 1);
	CHECK_EQ(pic_intack(pic), 0x72);
	eoi_both();
	CHECK_EQ(intr_level, 0);
	irq(10, 0);
	irq(10, 1);
	CHECK_EQ(intr_level, 1);
	/* A pulse is latched even though the line is low by INTA. */
	irq(10, 0);
	CHECK_EQ(pic_intack(pic), 0x72);
	eoi_both();
	CHECK_EQ(intr_level, 0);

	/* A line turned level while high shows up at once. */
	irq(5, 1);
	CHECK_EQ(pic_intack(pic), 0x0d);
	outb(0x20, 0x20);
	CHECK_EQ(intr_level, 0);
	outb(0x4d0, 0x20);
	CHECK_EQ(intr_level, 1);
	irq(5, 0);
	CHECK_EQ(intr_level, 0);
	outb(0x4d0, 0x00);
	outb(0x4d1, 0x00);
}

static void test_ocw3_poll_smm(void)
{
	init_pair(0x01);
	/* Poll: the read is the acknowledge. */
	irq(6, 1);
	outb(0x20, 0x0c);
	CHECK_EQ(inb(0x20), 0x86);
	CHECK_EQ(read_isr(0x20), 0x40);
	outb(0x20, 0x0c);
	CHECK_EQ(inb(0x20), 0x00); /* nothing else pending */
	outb(0x20, 0x20);
	irq(6, 0);

	/* Special mask mode: masking the level in service lets lower ones in. */
	irq(3, 1);
	CHECK_EQ(pic_intack(pic), 0x0b);
	irq(5, 1);
	CHECK_EQ(intr_level, 0);
	outb(0x21, 0x08);
	outb(0x20, 0x68); /* set SMM */
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x0d);
	outb(0x20, 0x65);
	outb(0x20, 0x48); /* reset SMM */
	outb(0x21, 0x00);
	outb(0x20, 0x63);
	irq(3, 0);
	irq(5, 0);
	CHECK_EQ(read_isr(0x20), 0x00);
	CHECK_EQ(intr_level, 0);
}

static void test_intr_tracking(void)
{
	int before;

	init_pair(0x01);
	before = intr_changes;
	irq(7, 1);
	irq(6, 1); /* INT is already high: no new transition */
	CHECK_EQ(intr_changes, before + 1);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x0e);
	/* 7 waits behind 6: INT drops. */
	CHECK_EQ(intr_level, 0);
	CHECK_EQ(intr_changes, before + 2);
	outb(0x20, 0x20);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x0f);
	CHECK_EQ(read_isr(0x20), 0x80); /* a real 7 is in service */
	outb(0x20, 0x20);
	irq(6, 0);
	irq(7, 0);
	CHECK_EQ(intr_level, 0);
	CHECK(!pic_int_output(pic));

	/* Reset forgets everything pending. */
	irq(1, 1);
	CHECK_EQ(intr_level, 1);
	pic_reset(pic);
	CHECK_EQ(intr_level, 0);
	irq(1, 0);
}

/* pic_line_open(): masks, the cascade and the lines in service decide. */
static void test_line_open(void)
{
	init_pair(0x01);
	outb(0x21, 0xFF);
	outb(0xa1, 0xFF);
	for (int n = 0; n < 16; n++)
		CHECK(!pic_line_open(pic, n));
	outb(0x21, 0xFE); /* IRQ 0 only */
	CHECK(pic_line_open(pic, 0));
	CHECK(!pic_line_open(pic, 1));
	outb(0xa1, 0xFE); /* IRQ 8 unmasked, the cascade not yet */
	CHECK(!pic_line_open(pic, 8));
	outb(0x21, 0xFA);
	CHECK(pic_line_open(pic, 8));

	/* IRQ 0 in service holds back itself and everything below it. */
	irq(0, 1);
	CHECK_EQ(pic_intack(pic), 0x08);
	irq(0, 0);
	CHECK(!pic_line_open(pic, 0));
	CHECK(!pic_line_open(pic, 8));
	outb(0x20, 0x20);
	CHECK(pic_line_open(pic, 0));

	/* IRQ 8 in service holds back IRQ 8 and, through IR2, IRQ 3. */
	outb(0x21, 0xF2);
	irq(8, 1);
	CHECK_EQ(pic_intack(pic), 0x70);
	irq(8, 0);
	CHECK(!pic_line_open(pic, 8));
	CHECK(!pic_line_open(pic, 3));
	CHECK(pic_line_open(pic, 0));
	eoi_both();
	CHECK(pic_line_open(pic, 8));
	CHECK(pic_line_open(pic, 3));
	outb(0x21, 0x00);
	outb(0xa1, 0x00);
}

/*
 * After reset the chips are uninitialised: no INT, whatever the inputs do,
 * until ICW1..ICW4 are written; a new ICW1 stops INT again until its
 * sequence ends.  Runs first, on the chips as pic_new() left them.
 */
static void test_uninitialised(void)
{
	irq(0, 1); /* the PIT's first edge after reset */
	irq(8, 1);
	CHECK_EQ(intr_level, 0);
	CHECK(!pic_int_output(pic));
	for (int n = 0; n < 16; n++)
		CHECK(!pic_line_open(pic, n));
	irq(0, 0);
	irq(8, 0);

	/* Half a sequence is not enough. */
	outb(0x20, 0x11);
	outb(0x21, 0x08);
	outb(0x21, 0x04);
	irq(1, 1);
	CHECK_EQ(intr_level, 0);
	CHECK(!pic_line_open(pic, 1));
	outb(0x21, 0x01); /* ICW4: now it drives INT for the request it holds */
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x09);
	outb(0x20, 0x20);
	irq(1, 0);

	/* The slave too: without its sequence nothing gets through IR2. */
	outb(0x21, 0x00);
	irq(9, 1);
	CHECK_EQ(intr_level, 0);
	CHECK(!pic_line_open(pic, 9));
	irq(9, 0);

	/* Re-initialising the master silences it until its ICW4. */
	irq(3, 1);
	CHECK_EQ(intr_level, 1);
	outb(0x20, 0x11);
	CHECK_EQ(intr_level, 0);
	outb(0x21, 0x08);
	outb(0x21, 0x04);
	irq(3, 0);
	irq(3, 1);
	CHECK_EQ(intr_level, 0);
	outb(0x21, 0x01);
	CHECK_EQ(intr_level, 1);
	CHECK_EQ(pic_intack(pic), 0x0B);
	outb(0x20, 0x20);
	irq(3, 0);
	CHECK_EQ(intr_level, 0);

	/* Reset makes both chips uninitialised again. */
	init_pair(0x01);
	pic_reset(pic);
	irq(4, 1);
	CHECK_EQ(intr_level, 0);
	CHECK_EQ(pic_intack(pic), 0x07); /* spurious: no vector base either */
	irq(4, 0);
}

int main(void)
{
	MemoryRegion *root = mr_container("io", 0x10000);
	IRQ intr = {cpu_intr, NULL, 0};

	pic = pic_new(root, &intr);
	io = as_new("io", root);

	test_uninitialised();
	test_init_and_vectors();
	test_imr();
	test_priority_and_eoi();
	test_rotation();
	test_auto_eoi();
	test_spurious();
	test_level_edge();
	test_ocw3_poll_smm();
	test_intr_tracking();
	test_line_open();
	return unit_done("pic");
}
