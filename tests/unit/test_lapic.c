/*
 * test_lapic.c - the local APIC through its MMIO page as the guest sees it
 * and through the calls the CPU makes (intack, the APIC base MSR): register
 * masks, software enable, the timer in one-shot and periodic mode with the
 * divide configuration, self-IPIs, priorities, nested EOIs, the spurious
 * vector and the EOI notification of level-triggered vectors; NMIs from the
 * ICR, the LINT pins and the IOAPIC's NMI messages.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#define APIC 0xFEE00000u

static uint64_t icount;
static Clock *clk; /* the test's virtual clock */
static AddressSpace *mem;
static LAPIC *apic;
static int intr_level;
static int eoi_calls, eoi_vector;

static void intr_handler(void *opaque, int n, int level)
{
	intr_level = level;
}

static const IRQ cpu_intr = {intr_handler, NULL, 0};

/* The CPU's NMI input: count the rising edges. */
static int nmi_level, nmis;

static void nmi_handler(void *opaque, int n, int level)
{
	if (level && !nmi_level)
		nmis++;
	nmi_level = level;
}

static const IRQ nmi_line = {nmi_handler, NULL, 0};

static void on_eoi(void *opaque, int vector)
{
	CHECK(opaque == &eoi_calls);
	eoi_calls++;
	eoi_vector = vector;
}

static uint32_t rd(uint32_t reg)
{
	return (uint32_t)as_read(mem, APIC + reg, 4);
}

static void wr(uint32_t reg, uint32_t v)
{
	as_write(mem, APIC + reg, v, 4);
}

static void run_to(int64_t ns)
{
	icount = (uint64_t)ns;
	timers_run(clk);
}

/* Bit @v of the 256-bit register starting at @reg (ISR 0x100, TMR 0x180, IRR 0x200). */
static bool reg_bit(uint32_t reg, int v)
{
	return rd(reg + (uint32_t)(v / 32) * 0x10) >> (v % 32) & 1;
}

/* A fresh, software-enabled APIC at virtual time 0. */
static void fresh(void)
{
	icount = 0;
	lapic_reset(apic);
	wr(0xF0, 0x1FF);
}

static void test_reset_values(void)
{
	int i;

	lapic_reset(apic);
	CHECK_EQ(lapic_get_base(apic), 0xFEE00900);
	CHECK_EQ(rd(0x20), 0);
	CHECK_EQ(rd(0x30), 0x00040014);
	CHECK_EQ(rd(0xD0), 0);
	CHECK_EQ(rd(0xE0), 0xFFFFFFFF);
	CHECK_EQ(rd(0xF0), 0xFF);
	for (i = 0; i < 6; i++)
		CHECK_EQ(rd(0x320 + 0x10 * (uint32_t)i), 0x10000);
	CHECK_EQ(rd(0x380), 0);
	CHECK_EQ(rd(0x390), 0);
	CHECK_EQ(rd(0x3E0), 0);
	CHECK(!intr_level);
	/* Byte reads see the register's bytes. */
	CHECK_EQ(as_read(mem, APIC + 0x30, 1), 0x14);
	CHECK_EQ(as_read(mem, APIC + 0x32, 1), 0x04);
}

static void test_register_masks(void)
{
	lapic_reset(apic);
	/* Software-disabled: LVT writes stay masked. */
	wr(0x350, 0x700);
	CHECK_EQ(rd(0x350), 0x10700);

	wr(0x20, 0xFFFFFFFF);
	CHECK_EQ(rd(0x20), 0x0F000000);
	wr(0x20, 0);
	wr(0x30, 0);
	CHECK_EQ(rd(0x30), 0x00040014);
	wr(0x80, 0x1FF);
	CHECK_EQ(rd(0x80), 0xFF);
	wr(0x80, 0);
	wr(0xD0, 0xFFFFFFFF);
	CHECK_EQ(rd(0xD0), 0xFF000000);
	wr(0xE0, 0);
	CHECK_EQ(rd(0xE0), 0x0FFFFFFF);
	wr(0xF0, 0xFFFFFFFF);
	CHECK_EQ(rd(0xF0), 0x3FF);
	wr(0xF0, 0x1E0); /* bits 0-3 of the vector are hardwired on P6 */
	CHECK_EQ(rd(0xF0), 0x1EF);

	wr(0x320, 0xFFFFFFFF);
	CHECK_EQ(rd(0x320), 0x300FF);
	wr(0x330, 0xFFFFFFFF);
	CHECK_EQ(rd(0x330), 0x107FF);
	wr(0x340, 0xFFFFFFFF);
	CHECK_EQ(rd(0x340), 0x107FF);
	wr(0x350, 0xFFFFFFFF);
	CHECK_EQ(rd(0x350), 0x1A7FF);
	wr(0x360, 0x00000400); /* NMI, unmasked */
	CHECK_EQ(rd(0x360), 0x400);
	wr(0x370, 0xFFFFFFFF);
	CHECK_EQ(rd(0x370), 0x100FF);
	wr(0x3E0, 0xFFFFFFFF);
	CHECK_EQ(rd(0x3E0), 0xB);
	wr(0x310, 0xFFFFFFFF);
	CHECK_EQ(rd(0x310), 0xFF000000);
	wr(0x300, 0xFFF3FFFF & ~0xC0000u & ~0x700u); /* fixed, vector 0xFF, no shorthand */
	CHECK_EQ(rd(0x300) & 0x1000, 0);	     /* delivery status idle */

	/* Clearing the software enable masks every LVT. */
	wr(0xF0, 0xFF);
	CHECK_EQ(rd(0x360), 0x10400);
	CHECK_EQ(rd(0x320), 0x300FF);
	wr(0x360, 0x400);
	CHECK_EQ(rd(0x360), 0x10400);
}

static void test_timer_one_shot(void)
{
	fresh();
	wr(0x320, 0x40); /* one-shot, vector 0x40 */
	wr(0x3E0, 0x3);	 /* divide by 16 */
	wr(0x380, 1000); /* 16000 ns */
	CHECK_EQ(rd(0x390), 1000);
	run_to(8000);
	CHECK_EQ(rd(0x390), 500);
	run_to(15999);
	CHECK_EQ(rd(0x390), 1);
	CHECK(!intr_level);
	CHECK(!reg_bit(0x200, 0x40));
	run_to(16000);
	CHECK_EQ(rd(0x390), 0);
	CHECK(reg_bit(0x200, 0x40));
	CHECK(intr_level);
	CHECK_EQ(lapic_intack(apic), 0x40);
	CHECK(!intr_level);
	wr(0xB0, 0);
	run_to(100000);
	CHECK(!reg_bit(0x200, 0x40)); /* one shot only */

	/* Divide by 1 (0xB) and by 2 (0x0). */
	wr(0x3E0, 0xB);
	wr(0x380, 50);
	run_to(100049);
	CHECK(!intr_level);
	run_to(100050);
	CHECK(intr_level);
	CHECK_EQ(lapic_intack(apic), 0x40);
	wr(0xB0, 0);
	wr(0x3E0, 0x0);
	wr(0x380, 50);
	run_to(100149);
	CHECK_EQ(rd(0x390), 1);
	CHECK(!intr_level);
	run_to(100150);
	CHECK(intr_level);
	CHECK_EQ(lapic_intack(apic), 0x40);
	wr(0xB0, 0);

	/* Masked: counts down, delivers nothing. */
	wr(0x320, 0x10040);
	wr(0x380, 10);
	run_to(100200);
	CHECK_EQ(rd(0x390), 0);
	CHECK(!intr_level);
	CHECK(!reg_bit(0x200, 0x40));

	/* Divide by 128 (0xA) and a change of divisor in the middle. */
	wr(0x320, 0x41);
	wr(0x3E0, 0xA);
	wr(0x380, 100); /* 12800 ns */
	run_to(100200 + 6400);
	CHECK_EQ(rd(0x390), 50);
	wr(0x3E0, 0xB); /* the other 50 counts at 1 ns each */
	CHECK_EQ(rd(0x390), 50);
	run_to(100200 + 6449);
	CHECK(!intr_level);
	run_to(100200 + 6450);
	CHECK(intr_level);
	CHECK_EQ(lapic_intack(apic), 0x41);
	wr(0xB0, 0);
}

static void test_timer_periodic(void)
{
	int i;

	fresh();
	wr(0x3E0, 0xB);	    /* divide by 1 */
	wr(0x320, 0x20050); /* periodic, vector 0x50 */
	wr(0x380, 100);
	for (i = 1; i <= 3; i++) {
		run_to(100 * i - 50);
		CHECK_EQ(rd(0x390), 50);
		run_to(100 * i - 1);
		CHECK(!intr_level);
		run_to(100 * i);
		CHECK(intr_level);
		CHECK_EQ(rd(0x390), 100); /* reloaded */
		CHECK_EQ(lapic_intack(apic), 0x50);
		wr(0xB0, 0);
	}
	/* Back to one-shot: runs out the current period, then stops. */
	run_to(330);
	wr(0x320, 0x50);
	CHECK_EQ(rd(0x390), 70);
	run_to(400);
	CHECK(intr_level);
	CHECK_EQ(lapic_intack(apic), 0x50);
	wr(0xB0, 0);
	run_to(600);
	CHECK(!intr_level);
	CHECK_EQ(rd(0x390), 0);
	/* Initial count 0 stops the timer. */
	wr(0x320, 0x20050);
	wr(0x380, 100);
	wr(0x380, 0);
	run_to(1000);
	CHECK(!intr_level);
}

static void test_self_ipi(void)
{
	fresh();
	wr(0x300, 0x00040055); /* self shorthand, fixed, vector 0x55 */
	CHECK(reg_bit(0x200, 0x55));
	CHECK(!reg_bit(0x180, 0x55));
	CHECK(intr_level);
	CHECK(lapic_has_interrupt(apic));
	CHECK_EQ(lapic_intack(apic), 0x55);
	CHECK(!reg_bit(0x200, 0x55));
	CHECK(reg_bit(0x100, 0x55));
	CHECK(!intr_level);
	wr(0xB0, 0);
	CHECK(!reg_bit(0x100, 0x55));

	/* Physical destination: our ID 0 gets it, ID 3 does not. */
	wr(0x310, 0x00000000);
	wr(0x300, 0x00000066);
	CHECK(reg_bit(0x200, 0x66));
	wr(0x310, 0x03000000);
	wr(0x300, 0x00000067);
	CHECK(!reg_bit(0x200, 0x67));
	/* All excluding self. */
	wr(0x300, 0x000C0068);
	CHECK(!reg_bit(0x200, 0x68));
	/* Logical, flat: LDR bit 1 matches destination 0x02. */
	wr(0xD0, 0x02000000);
	wr(0x310, 0x02000000);
	wr(0x300, 0x00000869);
	CHECK(reg_bit(0x200, 0x69));
	/* INIT to self is ignored. */
	wr(0x300, 0x00040500);
	CHECK_EQ(lapic_intack(apic), 0x69);
	wr(0xB0, 0);
	CHECK_EQ(lapic_intack(apic), 0x66);
	wr(0xB0, 0);
	CHECK(!lapic_has_interrupt(apic));

	/* An illegal vector: ESR after the next ESR write. */
	wr(0x300, 0x00040005);
	CHECK(!lapic_has_interrupt(apic));
	CHECK_EQ(rd(0x280), 0);
	wr(0x280, 0);
	CHECK_EQ(rd(0x280), 0x20);
	wr(0x280, 0);
	CHECK_EQ(rd(0x280), 0);

	/* With the error LVT unmasked the error interrupts. */
	wr(0x370, 0xFE);
	wr(0x300, 0x00040001);
	CHECK_EQ(lapic_intack(apic), 0xFE);
	wr(0xB0, 0);
}

static void test_priority(void)
{
	fresh();
	wr(0x80, 0x50);
	lapic_deliver(apic, 0x45, false);
	CHECK(!lapic_has_interrupt(apic));
	CHECK(!intr_level);
	CHECK_EQ(rd(0xA0), 0x50);
	lapic_deliver(apic, 0x61, false);
	CHECK(lapic_has_interrupt(apic));
	CHECK(intr_level);
	wr(0x80, 0x60); /* same class: blocked */
	CHECK(!lapic_has_interrupt(apic));
	CHECK(!intr_level);
	CHECK_EQ(rd(0x90), 0x60); /* APR = TPR */
	wr(0x80, 0x5F);
	CHECK(intr_level);
	CHECK_EQ(rd(0x90), 0x60); /* APR: the IRR class */
	CHECK_EQ(lapic_intack(apic), 0x61);
	CHECK_EQ(rd(0xA0), 0x60); /* PPR: the ISR class */
	wr(0xB0, 0);
	CHECK_EQ(rd(0xA0), 0x5F);
	wr(0x80, 0);
	CHECK_EQ(lapic_intack(apic), 0x45);
	wr(0xB0, 0);
	CHECK(!lapic_has_interrupt(apic));
}

/* What could still wake a halted CPU: the timer, and vectors arriving. */
static void test_may_interrupt(void)
{
	fresh();
	CHECK(!lapic_may_interrupt(apic)); /* not armed */
	wr(0x3E0, 0xB);
	wr(0x320, 0x40); /* one-shot, vector 0x40 */
	wr(0x380, 1000);
	CHECK(lapic_may_interrupt(apic));
	CHECK(lapic_would_deliver(apic, 0x40));
	wr(0x80, 0x40); /* the task priority holds class 4 back */
	CHECK(!lapic_may_interrupt(apic));
	CHECK(!lapic_would_deliver(apic, 0x4F));
	CHECK(lapic_would_deliver(apic, 0x50));
	wr(0x80, 0);
	wr(0x320, 0x10040); /* masked */
	CHECK(!lapic_may_interrupt(apic));
	wr(0x320, 0x40);
	run_to(1000); /* fired: a one-shot is over */
	CHECK(!lapic_may_interrupt(apic));
	CHECK_EQ(lapic_intack(apic), 0x40);
	/* In service: its own class and below are held back. */
	CHECK(!lapic_would_deliver(apic, 0x41));
	CHECK(lapic_would_deliver(apic, 0x51));
	wr(0xB0, 0);
	/* An illegal vector: what counts is the error interrupt it raises. */
	CHECK(!lapic_would_deliver(apic, 5));
	wr(0x370, 0x60);
	CHECK(lapic_would_deliver(apic, 5));
	/* Software-disabled: nothing. */
	wr(0xF0, 0xFF);
	CHECK(!lapic_would_deliver(apic, 0x80));
}

static void test_nested_eoi(void)
{
	fresh();
	lapic_deliver(apic, 0x30, false);
	CHECK_EQ(lapic_intack(apic), 0x30);
	lapic_deliver(apic, 0x80, false);
	CHECK(lapic_has_interrupt(apic));
	CHECK_EQ(lapic_intack(apic), 0x80);
	lapic_deliver(apic, 0x40, false);
	CHECK(!lapic_has_interrupt(apic)); /* below the 0x80 in service */
	CHECK(reg_bit(0x100, 0x30));
	CHECK(reg_bit(0x100, 0x80));
	CHECK_EQ(rd(0xA0), 0x80);
	wr(0xB0, 0); /* ends 0x80, the highest */
	CHECK(!reg_bit(0x100, 0x80));
	CHECK(reg_bit(0x100, 0x30));
	CHECK(lapic_has_interrupt(apic));
	CHECK_EQ(lapic_intack(apic), 0x40);
	wr(0xB0, 0);
	CHECK(!reg_bit(0x100, 0x40));
	CHECK(reg_bit(0x100, 0x30));
	wr(0xB0, 0);
	CHECK_EQ(rd(0x100 + 0x10), 0);
	CHECK_EQ(rd(0xA0), 0);
	wr(0xB0, 0); /* EOI with nothing in service: harmless */
	CHECK_EQ(eoi_calls, 0);

	/* Same class while in service: waits (not above the PPR). */
	lapic_deliver(apic, 0x52, false);
	CHECK_EQ(lapic_intack(apic), 0x52);
	lapic_deliver(apic, 0x53, false);
	CHECK(!lapic_has_interrupt(apic));
	wr(0xB0, 0);
	CHECK_EQ(lapic_intack(apic), 0x53);
	wr(0xB0, 0);
}

static void test_spurious_and_level(void)
{
	fresh();
	wr(0xF0, 0x1E0);
	lapic_deliver(apic, 0x70, false);
	CHECK(intr_level);
	wr(0x80, 0x80); /* raised between INTR and INTA */
	CHECK_EQ(lapic_intack(apic), 0xEF);
	CHECK(!reg_bit(0x100, 0x70));
	CHECK(reg_bit(0x200, 0x70));
	wr(0x80, 0);
	CHECK_EQ(lapic_intack(apic), 0x70);
	wr(0xB0, 0);
	CHECK_EQ(eoi_calls, 0); /* edge: no notification */

	lapic_deliver(apic, 0x90, true);
	CHECK(reg_bit(0x180, 0x90));
	CHECK_EQ(lapic_intack(apic), 0x90);
	wr(0xB0, 0);
	CHECK_EQ(eoi_calls, 1);
	CHECK_EQ(eoi_vector, 0x90);

	/* Software-disabled: nothing is accepted. */
	wr(0xF0, 0xFF);
	lapic_deliver(apic, 0x91, false);
	CHECK(!reg_bit(0x200, 0x91));
	CHECK(!lapic_has_interrupt(apic));
	CHECK(!intr_level);
}

static void test_base_msr(void)
{
	fresh();
	lapic_set_base(apic, 0xFED00800); /* moved; BSP stays */
	CHECK_EQ(lapic_get_base(apic), 0xFED00900);
	CHECK_EQ(as_read(mem, 0xFED00030, 4), 0x00040014);
	CHECK_EQ(as_read(mem, APIC + 0x30, 4), 0xFFFFFFFF);
	as_write(mem, 0xFED00080, 0x33, 4);
	CHECK_EQ(as_read(mem, 0xFED00080, 4), 0x33);

	lapic_set_base(apic, 0xFED00000); /* globally disabled: gone */
	CHECK_EQ(lapic_get_base(apic), 0xFED00100);
	CHECK_EQ(as_read(mem, 0xFED00030, 4), 0xFFFFFFFF);
	lapic_deliver(apic, 0x40, false);
	CHECK(!lapic_has_interrupt(apic));

	lapic_set_base(apic, 0xFEE00800);
	CHECK_EQ(lapic_get_base(apic), 0xFEE00900);
	CHECK_EQ(rd(0x30), 0x00040014);
	CHECK_EQ(rd(0x80), 0); /* registers were reset by the disable */
	CHECK_EQ(rd(0xF0), 0xFF);
	lapic_reset(apic);
	CHECK_EQ(lapic_get_base(apic), 0xFEE00900);
}

/* NMI IPIs: to self, by destination; the vector is ignored, and a
 * software-disabled APIC still sends them. */
static void test_nmi_ipi(void)
{
	fresh();
	nmis = 0;
	wr(0x300, 0x00040400); /* self, NMI, vector 0 (ignored) */
	CHECK_EQ(nmis, 1);
	CHECK(!nmi_level);
	CHECK(!lapic_has_interrupt(apic));
	CHECK_EQ(rd(0x280), 0); /* no illegal-vector error for an NMI */
	wr(0x280, 0);
	CHECK_EQ(rd(0x280), 0);
	wr(0x310, 0x00000000); /* physical destination 0: us */
	wr(0x300, 0x00000477);
	CHECK_EQ(nmis, 2);
	wr(0x310, 0x05000000); /* someone else */
	wr(0x300, 0x00000477);
	wr(0x300, 0x000C0400); /* all excluding self */
	CHECK_EQ(nmis, 2);
	CHECK(!reg_bit(0x200, 0x77));
	wr(0xF0, 0xFF);	       /* software-disabled */
	wr(0x300, 0x00080400); /* all including self */
	CHECK_EQ(nmis, 3);
	lapic_deliver_nmi(apic); /* an IOAPIC NMI entry */
	CHECK_EQ(nmis, 4);
}

/* LINT0 and LINT1 through their LVT entries. */
static void test_lint(void)
{
	const IRQ *lint1 = lapic_lint(apic, 1), *lint0 = lapic_lint(apic, 0);

	fresh();
	nmis = 0;
	CHECK(lapic_lint(apic, 2) == NULL);
	/* Masked (the reset value): nothing. */
	irq_pulse(lint1);
	CHECK_EQ(nmis, 0);
	/* NMI: one per rising edge. */
	wr(0x360, 0x400);
	CHECK_EQ(rd(0x360), 0x400);
	irq_raise(lint1);
	CHECK_EQ(nmis, 1);
	irq_raise(lint1); /* still high: no new edge */
	CHECK_EQ(nmis, 1);
	irq_lower(lint1);
	irq_pulse(lint1);
	CHECK_EQ(nmis, 2);
	CHECK(!lapic_has_interrupt(apic));
	/* Masked again. */
	wr(0x360, 0x10400);
	irq_pulse(lint1);
	CHECK_EQ(nmis, 2);

	/* Fixed, edge: the LVT's vector. */
	wr(0x360, 0x00000061);
	irq_pulse(lint1);
	CHECK(reg_bit(0x200, 0x61));
	CHECK(!reg_bit(0x180, 0x61));
	CHECK_EQ(lapic_intack(apic), 0x61);
	wr(0xB0, 0);
	CHECK_EQ(nmis, 2);

	/* Fixed, level: Remote IRR until the EOI, then again while asserted. */
	eoi_calls = 0;
	wr(0x350, 0x00008062);
	irq_raise(lint0);
	CHECK_EQ(rd(0x350), 0x0000C062);
	CHECK(reg_bit(0x180, 0x62));
	CHECK_EQ(lapic_intack(apic), 0x62);
	wr(0x350, 0x00008062); /* a rewrite keeps Remote IRR */
	CHECK_EQ(rd(0x350), 0x0000C062);
	CHECK(!lapic_has_interrupt(apic));
	wr(0xB0, 0); /* EOI: still asserted, so delivered again */
	CHECK_EQ(eoi_calls, 1);
	CHECK(reg_bit(0x200, 0x62));
	CHECK_EQ(rd(0x350), 0x0000C062);
	irq_lower(lint0);
	CHECK_EQ(lapic_intack(apic), 0x62);
	wr(0xB0, 0);
	CHECK_EQ(rd(0x350), 0x00008062);
	CHECK(!lapic_has_interrupt(apic));
	/* Unmasking a level LINT that is asserted delivers. */
	wr(0x350, 0x00018063);
	irq_raise(lint0);
	CHECK(!lapic_has_interrupt(apic));
	wr(0x350, 0x00008063);
	CHECK_EQ(lapic_intack(apic), 0x63);
	irq_lower(lint0);
	wr(0xB0, 0);
	/* ExtINT on LINT0 delivers nothing from the APIC (the 8259's INTA). */
	wr(0x350, 0x00000700);
	irq_pulse(lint0);
	CHECK(!lapic_has_interrupt(apic));
	CHECK_EQ(nmis, 2);

	/* Software-disabled: the LVTs are masked, nothing gets through. */
	wr(0x360, 0x400);
	wr(0xF0, 0xFF);
	irq_pulse(lint1);
	CHECK_EQ(nmis, 2);
	/* Globally disabled: LINT1 is the NMI pin itself. */
	lapic_set_base(apic, 0xFEE00000);
	irq_pulse(lint1);
	CHECK_EQ(nmis, 3);
	lapic_set_base(apic, 0xFEE00800);
}

int main(void)
{
	MemoryRegion *root = mr_container("memory", 1ull << 32);

	clk = clock_new(&icount, 0);
	mem = as_new("memory", root);
	apic = lapic_new(root, clk, &cpu_intr, &nmi_line);
	lapic_set_eoi_notify(apic, on_eoi, &eoi_calls);

	test_reset_values();
	test_register_masks();
	test_timer_one_shot();
	test_timer_periodic();
	test_self_ipi();
	test_priority();
	test_may_interrupt();
	test_nested_eoi();
	test_spurious_and_level();
	test_base_msr();
	test_nmi_ipi();
	test_lint();
	return unit_done("lapic");
}
