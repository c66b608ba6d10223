/*
 * test_ioapic.c - the IOAPIC programmed through IOREGSEL/IOWIN as a guest
 * would, with its pins driven like device interrupt lines and a real local
 * APIC behind it: redirection entries read back, edge and level delivery
 * with the right vector, masking, Remote IRR and re-delivery after EOI.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#define IOAPIC_ADDR 0xFEC00000u
#define APIC_ADDR   0xFEE00000u

static uint64_t icount;
static Clock *clk; /* the test's virtual clock */
static AddressSpace *mem;
static LAPIC *apic;
static IOAPIC *ioapic;
static int intr_level;

static void intr_handler(void *opaque, int n, int level)
{
	intr_level = level;
}

static const IRQ cpu_intr = {intr_handler, NULL, 0};

static int nmis;

static void nmi_handler(void *opaque, int n, int level)
{
	nmis += level;
}

static const IRQ nmi_line = {nmi_handler, NULL, 0};

static uint32_t io_rd(unsigned reg)
{
	as_write(mem, IOAPIC_ADDR, reg, 4);
	return (uint32_t)as_read(mem, IOAPIC_ADDR + 0x10, 4);
}

static void io_wr(unsigned reg, uint32_t v)
{
	as_write(mem, IOAPIC_ADDR, reg, 4);
	as_write(mem, IOAPIC_ADDR + 0x10, v, 4);
}

static void redir(int pin, uint32_t lo, uint32_t hi)
{
	io_wr(0x11 + 2 * (unsigned)pin, hi);
	io_wr(0x10 + 2 * (unsigned)pin, lo);
}

static void apic_eoi(void)
{
	as_write(mem, APIC_ADDR + 0xB0, 0, 4);
}

/* What the CPU would take next: a vector, or -1. */
static int take(void)
{
	if (!lapic_has_interrupt(apic))
		return -1;
	return lapic_intack(apic);
}

static void test_registers(void)
{
	int pin;

	CHECK_EQ(io_rd(0x01), 0x00170011);
	CHECK_EQ(io_rd(0x00), 0);
	io_wr(0x00, 0xFFFFFFFF);
	CHECK_EQ(io_rd(0x00), 0x0F000000);
	CHECK_EQ(io_rd(0x02), 0x0F000000);
	io_wr(0x01, 0);
	CHECK_EQ(io_rd(0x01), 0x00170011);
	io_wr(0x00, 0x02000000);
	CHECK_EQ(as_read(mem, IOAPIC_ADDR, 4), 0x00); /* IOREGSEL reads back */

	for (pin = 0; pin < 24; pin++) {
		CHECK_EQ(io_rd(0x10 + 2 * (unsigned)pin), 0x00010000);
		CHECK_EQ(io_rd(0x11 + 2 * (unsigned)pin), 0);
	}
	/* Every writable field, the read-only ones stay 0. */
	redir(5, 0xFFFFFFFF, 0xFFFFFFFF);
	CHECK_EQ(io_rd(0x10 + 10), 0x0001AFFF);
	CHECK_EQ(io_rd(0x11 + 10), 0xFF000000);
	redir(5, 0x0000A935, 0x01000000); /* level, low, logical, lowest prio */
	CHECK_EQ(io_rd(0x10 + 10), 0x0000A935);
	CHECK_EQ(io_rd(0x11 + 10), 0x01000000);
	redir(5, 0x00010000, 0);
	/* Beyond pin 23 and unknown registers: nothing. */
	io_wr(0x40, 0x1234);
	CHECK_EQ(io_rd(0x40), 0);
}

static void test_edge(void)
{
	const IRQ *pin4 = ioapic_irq(ioapic, 4);

	CHECK(ioapic_irq(ioapic, 24) == NULL);
	redir(4, 0x00000034, 0); /* edge, fixed, vector 0x34 */
	irq_raise(pin4);
	CHECK(intr_level);
	CHECK_EQ(take(), 0x34);
	CHECK(!intr_level);
	/* Staying high is not a new edge. */
	irq_raise(pin4);
	CHECK_EQ(take(), -1);
	apic_eoi();
	irq_lower(pin4);
	irq_raise(pin4);
	CHECK_EQ(take(), 0x34);
	apic_eoi();
	irq_lower(pin4);
	CHECK_EQ(io_rd(0x10 + 8) & 0x4000, 0); /* no Remote IRR on edge */

	/* Masked: the edge is lost, unmasking does not bring it back. */
	redir(4, 0x00010034, 0);
	irq_pulse(pin4);
	CHECK_EQ(take(), -1);
	redir(4, 0x00000034, 0);
	CHECK_EQ(take(), -1);
	irq_pulse(pin4);
	CHECK_EQ(take(), 0x34);
	apic_eoi();

	/* Pin 0 with its own vector, and lowest priority mode delivers too. */
	redir(0, 0x00000130, 0);
	irq_pulse(ioapic_irq(ioapic, 0));
	CHECK_EQ(take(), 0x30);
	apic_eoi();
	/* NMI delivery mode is not delivered as a vector. */
	redir(1, 0x00000431, 0);
	irq_pulse(ioapic_irq(ioapic, 1));
	CHECK_EQ(take(), -1);
}

static void test_level(void)
{
	const IRQ *pin10 = ioapic_irq(ioapic, 10);

	redir(10, 0x0000A0A1, 0); /* level, active low, vector 0xA1 */
	irq_raise(pin10);
	CHECK_EQ(io_rd(0x10 + 20) & 0x4000, 0x4000); /* Remote IRR */
	CHECK_EQ(take(), 0xA1);
	CHECK_EQ(as_read(mem, APIC_ADDR + 0x180 + 0x50, 4) & 2, 2); /* TMR bit 0xA1 */
	/* Still asserted, but Remote IRR holds it back until the EOI. */
	CHECK_EQ(take(), -1);
	apic_eoi();
	CHECK_EQ(io_rd(0x10 + 20) & 0x4000, 0x4000); /* delivered again */
	CHECK_EQ(take(), 0xA1);
	irq_lower(pin10); /* the handler quietened the device */
	apic_eoi();
	CHECK_EQ(io_rd(0x10 + 20) & 0x4000, 0);
	CHECK_EQ(take(), -1);

	/* Asserted while masked: delivered on unmask. */
	redir(10, 0x0001A0A1, 0);
	irq_raise(pin10);
	CHECK_EQ(take(), -1);
	CHECK_EQ(io_rd(0x10 + 20) & 0x4000, 0);
	redir(10, 0x0000A0A1, 0);
	CHECK_EQ(take(), 0xA1);
	irq_lower(pin10);
	apic_eoi();
	CHECK_EQ(take(), -1);

	/* An EOI for another vector leaves Remote IRR alone. */
	redir(11, 0x0000A0B2, 0);
	irq_raise(ioapic_irq(ioapic, 11));
	CHECK_EQ(take(), 0xB2);
	lapic_deliver(apic, 0xC3, false);
	CHECK_EQ(take(), 0xC3);
	apic_eoi(); /* ends 0xC3 */
	CHECK_EQ(io_rd(0x10 + 22) & 0x4000, 0x4000);
	irq_lower(ioapic_irq(ioapic, 11));
	apic_eoi(); /* ends 0xB2 */
	CHECK_EQ(io_rd(0x10 + 22) & 0x4000, 0);

	/* Reset masks every entry. */
	ioapic_reset(ioapic);
	CHECK_EQ(io_rd(0x10 + 20), 0x00010000);
	irq_pulse(ioapic_irq(ioapic, 4));
	CHECK_EQ(take(), -1);
}

/* ioapic_pin_open(): the entry and the local APIC behind it decide. */
static void test_pin_open(void)
{
	ioapic_reset(ioapic);
	CHECK(!ioapic_pin_open(ioapic, 2)); /* masked after reset */
	redir(2, 0x00000041, 0);
	CHECK(ioapic_pin_open(ioapic, 2));
	redir(2, 0x00000241, 0); /* SMI: stored, not delivered */
	CHECK(!ioapic_pin_open(ioapic, 2));
	redir(2, 0x00000141, 0); /* lowest priority */
	CHECK(ioapic_pin_open(ioapic, 2));
	as_write(mem, APIC_ADDR + 0x80, 0x40, 4); /* TPR: class 4 held back */
	CHECK(!ioapic_pin_open(ioapic, 2));
	as_write(mem, APIC_ADDR + 0x80, 0, 4);
	/* Level: Remote IRR set until the EOI. */
	redir(9, 0x00008051, 0);
	irq_raise(ioapic_irq(ioapic, 9));
	CHECK(!ioapic_pin_open(ioapic, 9));
	CHECK_EQ(take(), 0x51);
	irq_lower(ioapic_irq(ioapic, 9));
	apic_eoi();
	CHECK(ioapic_pin_open(ioapic, 9));
	CHECK(!ioapic_pin_open(ioapic, 24));
	ioapic_reset(ioapic);
}

/* NMI entries: an NMI per rising edge, never Remote IRR, even with the
 * trigger bit set; masked, nothing. */
static void test_nmi(void)
{
	const IRQ *pin = ioapic_irq(ioapic, 5);

	nmis = 0;
	CHECK(!ioapic_pin_nmi(ioapic, 5));
	redir(5, 0x00000400, 0);
	CHECK(ioapic_pin_nmi(ioapic, 5));
	CHECK(!ioapic_pin_open(ioapic, 5));
	irq_raise(pin);
	CHECK_EQ(nmis, 1);
	CHECK(!intr_level);
	irq_raise(pin);
	irq_lower(pin);
	CHECK_EQ(nmis, 1);
	redir(5, 0x00008400, 0); /* "level": still one per edge */
	irq_raise(pin);
	CHECK_EQ(nmis, 2);
	CHECK_EQ(io_rd(0x10 + 10) & 0x4000, 0); /* no Remote IRR */
	irq_lower(pin);
	irq_raise(pin);
	CHECK_EQ(nmis, 3);
	irq_lower(pin);
	redir(5, 0x00010400, 0);
	CHECK(!ioapic_pin_nmi(ioapic, 5));
	irq_pulse(pin);
	CHECK_EQ(nmis, 3);
	ioapic_reset(ioapic);
}

int main(void)
{
	MemoryRegion *root = mr_container("memory", 1ull << 32);

	clk = clock_new(&icount, 0);
	mem = as_new("memory", root);
	apic = lapic_new(root, clk, &cpu_intr, &nmi_line);
	ioapic = ioapic_new(root, apic);
	as_write(mem, APIC_ADDR + 0xF0, 0x1FF, 4); /* software-enable the APIC */

	test_registers();
	test_edge();
	test_level();
	test_pin_open();
	test_nmi();
	return unit_done("ioapic");
}
