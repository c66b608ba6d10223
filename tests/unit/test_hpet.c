/*
 * test_hpet.c - the HPET through its MMIO registers as a guest programs it,
 * on a virtual clock the test moves: capabilities, the main counter
 * (halted, running, written), one-shot, 32-bit and periodic comparators,
 * edge and level interrupts with the status register, routes to IOAPIC
 * pins and the legacy replacement route that takes IRQ 0 and 8 from the
 * 8254 and the RTC.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#define HPET_ADDR   0xFED00000u
#define GCAP	    0x000
#define CONF	    0x010
#define ISR	    0x020
#define COUNTER	    0x0F0
#define TCONF(n)    (0x100 + 0x20 * (n))
#define TCMP(n)	    (0x108 + 0x20 * (n))
#define ENABLE	    0x1
#define LEGACY	    0x2
#define TN_LEVEL    0x02
#define TN_ENB	    0x04
#define TN_PERIODIC 0x08
#define TN_SETVAL   0x40
#define TN_32BIT    0x100
#define ROUTE(p)    ((uint32_t)(p) << 9)

static uint64_t icount;
static Clock *clk; /* the test's virtual clock */
static AddressSpace *mem;
static HPET *hpet;

/* Every output line: its level and the rising edges seen. */
enum { LINE_ISA0 = 32, LINE_ISA8, LINES };
static int level[LINES], edges[LINES];

static void line_set(void *opaque, int n, int lvl)
{
	if (lvl && !level[n])
		edges[n]++;
	level[n] = lvl;
}

static IRQ lines[LINES];

static uint32_t rd(uint32_t reg)
{
	return (uint32_t)as_read(mem, HPET_ADDR + reg, 4);
}

static uint64_t rd64(uint32_t reg)
{
	return as_read(mem, HPET_ADDR + reg, 4) | as_read(mem, HPET_ADDR + reg + 4, 4) << 32;
}

static void wr(uint32_t reg, uint32_t v)
{
	as_write(mem, HPET_ADDR + reg, v, 4);
}

static void run_to(int64_t ns)
{
	icount = (uint64_t)ns;
	timers_run(clk);
}

static void fresh(void)
{
	icount = 0;
	hpet_reset(hpet);
	for (int i = 0; i < LINES; i++)
		edges[i] = 0;
}

static void test_caps_and_counter(void)
{
	fresh();
	CHECK_EQ(rd(GCAP), 0x8086A201);	  /* vendor, legacy, 64-bit, 3 timers, rev 1 */
	CHECK_EQ(rd(GCAP + 4), 10000000); /* 10 ns in femtoseconds */
	CHECK_EQ(rd(TCONF(0)), 0x30);	  /* periodic capable, 64-bit */
	CHECK_EQ(rd(TCONF(1)), 0x20);
	CHECK_EQ(rd(TCONF(0) + 4), 0x00F00000); /* routes to pins 20-23 */
	CHECK_EQ(rd64(TCMP(2)), ~0ull);
	CHECK_EQ(rd(CONF), 0);

	run_to(5000); /* halted: the counter stays */
	CHECK_EQ(rd64(COUNTER), 0);
	wr(CONF, ENABLE);
	run_to(6000);
	CHECK_EQ(rd64(COUNTER), 100);
	run_to(6019);
	CHECK_EQ(rd64(COUNTER), 101);
	wr(CONF, 0);
	run_to(9000);
	CHECK_EQ(rd64(COUNTER), 101);
	wr(COUNTER + 4, 1); /* halted: written in halves */
	wr(COUNTER, 0xFFFFFFF0u);
	CHECK_EQ(rd64(COUNTER), 0x1FFFFFFF0ull);
	wr(CONF, ENABLE);
	run_to(9200);
	CHECK_EQ(rd64(COUNTER), 0x200000004ull); /* carries into the high half */
	/* Narrow reads see their bytes. */
	CHECK_EQ(as_read(mem, HPET_ADDR + GCAP + 2, 2), 0x8086);
	CHECK_EQ(as_read(mem, HPET_ADDR + GCAP + 1, 1), 0xA2);
}

/* One-shot, edge-triggered, routed to IOAPIC pin 21. */
static void test_one_shot(void)
{
	fresh();
	wr(TCONF(1), TN_ENB | ROUTE(21));
	CHECK_EQ(rd(TCONF(1)), 0x20 | TN_ENB | ROUTE(21));
	wr(TCMP(1) + 4, 0);
	wr(TCMP(1), 50);
	wr(CONF, ENABLE);
	run_to(499);
	CHECK_EQ(edges[21], 0);
	run_to(500);
	CHECK_EQ(edges[21], 1);
	CHECK_EQ(level[21], 0); /* a pulse */
	CHECK_EQ(rd(ISR), 0);	/* edge: no status */
	run_to(100000);
	CHECK_EQ(edges[21], 1); /* 64-bit: once */
	CHECK_EQ(rd64(TCMP(1)), 50);

	/* Disabled interrupt: the comparator matches, nothing is raised. */
	wr(TCMP(1), 20000);
	wr(TCONF(1), ROUTE(21));
	run_to(300000);
	CHECK_EQ(edges[21], 1);

	/* A route to a pin the machine did not wire reaches nothing. */
	wr(TCONF(1), TN_ENB | ROUTE(5));
	wr(TCMP(1), 40000);
	run_to(400000);
	for (int i = 0; i < LINES; i++)
		CHECK_EQ(edges[i], i == 21 ? 1 : 0);
}

/* 32-bit mode: the comparator matches the counter's low half, again after
 * every wrap. */
static void test_32bit(void)
{
	fresh();
	wr(TCONF(2), TN_ENB | TN_32BIT | ROUTE(22));
	CHECK_EQ(rd64(TCMP(2)), 0xFFFFFFFFull); /* the high half is gone */
	wr(CONF, ENABLE);
	wr(TCMP(2), 10);
	run_to(100);
	CHECK_EQ(edges[22], 1);
	run_to(100 + (1ll << 32) * 10 - 1);
	CHECK_EQ(edges[22], 1);
	run_to(100 + (1ll << 32) * 10);
	CHECK_EQ(edges[22], 2);
}

/* Periodic: Tn_VAL_SET_CNF sets the first match, the next write the period;
 * the comparator reads the next match. */
static void test_periodic(void)
{
	fresh();
	wr(TCONF(1), TN_PERIODIC); /* timer 1 cannot be periodic */
	CHECK_EQ(rd(TCONF(1)), 0x20);
	wr(CONF, ENABLE);
	run_to(1000); /* counter 100 */
	/* 64 bits in two halves, each with Tn_VAL_SET_CNF (a write clears it). */
	wr(TCONF(0), TN_ENB | TN_PERIODIC | TN_SETVAL | ROUTE(20));
	wr(TCMP(0) + 4, 0);
	CHECK_EQ(rd(TCONF(0)) & TN_SETVAL, 0);
	wr(TCONF(0), TN_ENB | TN_PERIODIC | TN_SETVAL | ROUTE(20));
	wr(TCMP(0), 150);
	wr(TCMP(0), 100); /* the period only */
	CHECK_EQ(rd64(TCMP(0)), 150);
	run_to(1499);
	CHECK_EQ(edges[20], 0);
	run_to(1500);
	CHECK_EQ(edges[20], 1);
	CHECK_EQ(rd64(TCMP(0)), 250);
	run_to(3500);
	CHECK_EQ(edges[20], 3);
	CHECK_EQ(rd64(TCMP(0)), 450);
	/* A late run of the timers catches up without drift. */
	icount = 6200;
	timers_run(clk);
	CHECK_EQ(edges[20], 5); /* 4500 and 5500 ns */
	CHECK_EQ(rd64(TCMP(0)), 650);
	run_to(7500);
	CHECK_EQ(edges[20], 7);
	/* Halting the counter stops the matches. */
	wr(CONF, 0);
	run_to(20000);
	CHECK_EQ(edges[20], 7);
}

/* Level-triggered: the status bit holds the line while enabled; writing 1
 * to it clears both. */
static void test_level(void)
{
	fresh();
	wr(TCONF(2), TN_LEVEL | TN_ENB | ROUTE(23));
	wr(TCMP(2), 10);
	wr(TCMP(2) + 4, 0);
	wr(CONF, ENABLE);
	run_to(100);
	CHECK_EQ(rd(ISR), 0x4);
	CHECK_EQ(level[23], 1);
	wr(ISR, 0x3); /* other bits: nothing */
	CHECK_EQ(level[23], 1);
	wr(TCONF(2), TN_LEVEL | ROUTE(23)); /* interrupt disabled: line down, status stays */
	CHECK_EQ(level[23], 0);
	CHECK_EQ(rd(ISR), 0x4);
	wr(TCONF(2), TN_LEVEL | TN_ENB | ROUTE(22)); /* moved to pin 22, enabled again */
	CHECK_EQ(level[23], 0);
	CHECK_EQ(level[22], 1);
	wr(ISR, 0x4);
	CHECK_EQ(rd(ISR), 0);
	CHECK_EQ(level[22], 0);
	/* Disabled interrupt: a match still sets the status. */
	wr(TCONF(2), TN_LEVEL | ROUTE(22));
	wr(TCMP(2), 50);
	run_to(500);
	CHECK_EQ(rd(ISR), 0x4);
	CHECK_EQ(level[22], 0);
	/* Edge mode: no status. */
	wr(TCONF(2), ROUTE(22));
	CHECK_EQ(rd(ISR), 0);
}

/* Legacy replacement: timers 0 and 1 take ISA IRQ 0 and 8 from the 8254
 * and the RTC, and give them back. */
static void test_legacy(void)
{
	const IRQ *pit = hpet_legacy_input(hpet, 0), *rtc = hpet_legacy_input(hpet, 1);

	fresh();
	CHECK(hpet_legacy_input(hpet, 2) == NULL);
	irq_raise(pit);
	CHECK_EQ(level[LINE_ISA0], 1);
	irq_lower(pit);
	irq_raise(rtc);
	CHECK_EQ(level[LINE_ISA8], 1);
	CHECK(!hpet_legacy_route(hpet));

	wr(CONF, ENABLE | LEGACY);
	CHECK(hpet_legacy_route(hpet));
	CHECK_EQ(level[LINE_ISA8], 0); /* the RTC's level no longer reaches it */
	edges[LINE_ISA0] = 0;
	irq_pulse(pit);
	CHECK_EQ(edges[LINE_ISA0], 0);
	/* Timer 0 (its route ignored) on IRQ 0, timer 1 on IRQ 8. */
	wr(TCONF(0), TN_ENB | ROUTE(20));
	wr(TCMP(0), 10);
	wr(TCMP(0) + 4, 0);
	wr(TCONF(1), TN_LEVEL | TN_ENB | ROUTE(21));
	wr(TCMP(1), 20);
	wr(TCMP(1) + 4, 0);
	run_to(100);
	CHECK_EQ(edges[LINE_ISA0], 1);
	CHECK_EQ(edges[20], 0);
	run_to(200);
	CHECK_EQ(level[LINE_ISA8], 1);
	CHECK_EQ(level[21], 0);
	int isa, pin;
	wr(TCMP(0), 1000);
	CHECK(hpet_may_interrupt(hpet, 0, &isa, &pin));
	CHECK_EQ(isa, 0);
	CHECK_EQ(pin, -1);
	CHECK(!hpet_may_interrupt(hpet, 1, &isa, &pin)); /* its level line is up */
	CHECK_EQ(isa, 8);

	/* Back: timer 1's level moves to its route, the RTC's level returns. */
	wr(CONF, ENABLE);
	CHECK_EQ(level[21], 1);
	CHECK_EQ(level[LINE_ISA8], 1); /* the RTC still holds it */
	irq_lower(rtc);
	CHECK_EQ(level[LINE_ISA8], 0);
	irq_pulse(pit);
	CHECK_EQ(edges[LINE_ISA0], 2);
	CHECK(hpet_may_interrupt(hpet, 0, &isa, &pin));
	CHECK_EQ(isa, -1);
	CHECK_EQ(pin, 20);
	wr(ISR, 0x2);
	CHECK_EQ(level[21], 0);
	wr(CONF, 0); /* halted: nothing ahead */
	CHECK(!hpet_may_interrupt(hpet, 0, &isa, &pin));
	CHECK(!hpet_may_interrupt(hpet, 3, &isa, &pin));
}

int main(void)
{
	MemoryRegion *root = mr_container("memory", 1ull << 32);
	const IRQ *route[32] = {0};

	clk = clock_new(&icount, 0);
	mem = as_new("memory", root);
	for (int i = 0; i < LINES; i++)
		lines[i] = (IRQ){line_set, NULL, i};
	for (int p = 20; p < 24; p++)
		route[p] = &lines[p];
	hpet = hpet_new(root, clk, &lines[LINE_ISA0], &lines[LINE_ISA8], route);

	test_caps_and_counter();
	test_one_shot();
	test_32bit();
	test_periodic();
	test_level();
	test_legacy();
	return unit_done("hpet");
}
