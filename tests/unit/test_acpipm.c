/*
 * test_acpipm.c - the ACPI fixed power-management registers through their
 * ports, on a virtual clock the test moves: the 24-bit PM timer at
 * 3.579545 MHz, TMR_STS on each change of its bit 23, the SCI it raises
 * with TMR_EN and SCI_EN, the enable and control registers' writable bits.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#define BASE	0x600
#define PM1_STS (BASE + 0)
#define PM1_EN	(BASE + 2)
#define PM1_CNT (BASE + 4)
#define PM_TMR	(BASE + 8)

static uint64_t icount;
static Clock *clk; /* the test's virtual clock */
static AddressSpace *io;
static ACPIPM *pm;
static int sci_level, sci_edges;

static void sci_set(void *opaque, int n, int level)
{
	if (level && !sci_level)
		sci_edges++;
	sci_level = level;
}

static const IRQ sci = {sci_set, NULL, 9};

static uint32_t in(uint16_t port, unsigned size)
{
	return (uint32_t)as_read(io, port, size);
}

static void out(uint16_t port, uint32_t v, unsigned size)
{
	as_write(io, port, v, size);
}

static void run_to(int64_t ns)
{
	icount = (uint64_t)ns;
	timers_run(clk);
}

/* The first nanosecond of PM timer tick @t. */
static int64_t tick_ns(uint64_t t)
{
	return (int64_t)((t * 1000000000ull + 3579545 - 1) / 3579545);
}

static void test_timer(void)
{
	icount = 0;
	acpipm_reset(pm);
	CHECK_EQ(in(PM_TMR, 4), 0);
	run_to(1000000000); /* one second */
	CHECK_EQ(in(PM_TMR, 4), 3579545);
	run_to(tick_ns(1000) - 1);
	CHECK_EQ(in(PM_TMR, 4), 999);
	run_to(tick_ns(1000));
	CHECK_EQ(in(PM_TMR, 4), 1000);
	CHECK_EQ(in(PM_TMR, 2), 1000);
	CHECK_EQ(in(PM_TMR + 1, 1), 1000 >> 8);
	/* 24 bits: it wraps after 2^24 ticks (4.69 s). */
	run_to(tick_ns((1u << 24) + 5));
	CHECK_EQ(in(PM_TMR, 4), 5);
	CHECK_EQ(in(BASE + 12, 4), 0); /* nothing else in the block */
}

static void test_tmr_sts(void)
{
	icount = 0;
	acpipm_reset(pm);
	CHECK_EQ(in(PM1_STS, 2), 0);
	run_to(tick_ns(1u << 23) - 1);
	CHECK_EQ(in(PM1_STS, 2), 0);
	run_to(tick_ns(1u << 23)); /* bit 23 changes */
	CHECK_EQ(in(PM1_STS, 2), 1);
	out(PM1_STS, 0xFFFE, 2); /* other bits: nothing */
	CHECK_EQ(in(PM1_STS, 2), 1);
	out(PM1_STS, 1, 2); /* write 1 to clear */
	CHECK_EQ(in(PM1_STS, 2), 0);
	run_to(tick_ns(2u << 23) - 1);
	CHECK_EQ(in(PM1_STS, 1), 0);
	run_to(tick_ns(2u << 23));
	CHECK_EQ(in(PM1_STS, 1), 1);
	CHECK_EQ(sci_level, 0); /* not enabled */
	CHECK(!acpipm_may_interrupt(pm));
}

static void test_sci(void)
{
	icount = 0;
	acpipm_reset(pm);
	sci_edges = 0;
	out(PM1_EN, 0xFFFF, 2);
	CHECK_EQ(in(PM1_EN, 2), 0x0721);
	out(PM1_CNT, 0xFFFF, 2); /* SLP_EN (bit 13) is write-only */
	CHECK_EQ(in(PM1_CNT, 2), 0x1C03);
	CHECK(acpipm_may_interrupt(pm));
	run_to(tick_ns(1u << 23) - 1);
	CHECK_EQ(sci_level, 0);
	run_to(tick_ns(1u << 23));
	CHECK_EQ(sci_level, 1); /* raised by the Timer at the change itself */
	CHECK(!acpipm_may_interrupt(pm));
	out(PM1_STS, 1, 2);
	CHECK_EQ(sci_level, 0);
	CHECK(acpipm_may_interrupt(pm));
	/* SCI_EN off: status only. */
	out(PM1_CNT, 0, 2);
	run_to(tick_ns(2u << 23));
	CHECK_EQ(sci_level, 0);
	CHECK_EQ(in(PM1_STS, 2), 1);
	CHECK(!acpipm_may_interrupt(pm));
	/* SCI_EN back on with the status pending: the SCI at once. */
	out(PM1_CNT + 0, 1, 1);
	CHECK_EQ(sci_level, 1);
	CHECK_EQ(sci_edges, 2);
	out(PM1_EN, 0, 2);
	CHECK_EQ(sci_level, 0);
	acpipm_reset(pm);
	CHECK_EQ(in(PM1_CNT, 2), 0);
	CHECK_EQ(in(PM1_EN, 2), 0);
}

int main(void)
{
	MemoryRegion *root = mr_container("io", 0x10000);

	clk = clock_new(&icount, 0);
	io = as_new("io", root);
	pm = acpipm_new(root, clk, BASE, &sci);

	test_timer();
	test_tmr_sts();
	test_sci();
	return unit_done("acpipm");
}
