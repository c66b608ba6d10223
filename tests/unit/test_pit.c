/*
 * test_pit.c - the 8254 and port 0x61 driven through the io address space
 * while the test moves the virtual clock the way the main loop does: to
 * each timer deadline in turn, firing the timers there.
 *
 * Expected times come from the datasheet: the input clock has period
 * 1/1193182 s, ticks counted from virtual time 0, and a count written
 * between two clock edges is loaded on the next edge and decremented on
 * the ones after it.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#define HZ 1193182ull

static AddressSpace *io;
static PIT *pit;
static uint64_t icount; /* the virtual clock runs 1 ns per "instruction" */
static Clock *clk;	/* the test's virtual clock */

/* IRQ 0 as seen by the PIC. */
static int irq0_level;
static int64_t rises[64], falls[64];
static int nrises, nfalls;

static void irq0(void *opaque, int n, int level)
{
	if (level && !irq0_level && nrises < 64)
		rises[nrises++] = clock_ns(clk);
	if (!level && irq0_level && nfalls < 64)
		falls[nfalls++] = clock_ns(clk);
	irq0_level = level;
}

static void outb(uint16_t port, uint8_t v)
{
	as_write(io, port, v, 1);
}

static uint8_t inb(uint16_t port)
{
	return (uint8_t)as_read(io, port, 1);
}

/* Run virtual time up to @ns, stopping at every timer deadline. */
static void run_until(int64_t ns)
{
	while (timers_deadline(clk) <= ns) {
		if (timers_deadline(clk) > (int64_t)icount)
			icount = (uint64_t)timers_deadline(clk);
		timers_run(clk);
	}
	if (ns > (int64_t)icount)
		icount = (uint64_t)ns;
	timers_run(clk);
}

/* The input-clock tick running at @ns, and the first ns of tick @t. */
static uint64_t tick_of(int64_t ns)
{
	return (uint64_t)ns * HZ / 1000000000ull;
}

static int64_t ns_of(uint64_t t)
{
	return (int64_t)((t * 1000000000ull + HZ - 1) / HZ);
}

/* A time safely inside tick @t. */
static int64_t inside(uint64_t t)
{
	return ns_of(t) + 300;
}

static void clear_edges(void)
{
	nrises = nfalls = 0;
}

static uint16_t latch_read(int ch)
{
	uint16_t lo, hi;

	outb(0x43, (uint8_t)(ch << 6)); /* counter latch command */
	lo = inb((uint16_t)(0x40 + ch));
	hi = inb((uint16_t)(0x40 + ch));
	return (uint16_t)(lo | hi << 8);
}

static void write_count(int ch, uint16_t n)
{
	outb((uint16_t)(0x40 + ch), (uint8_t)n);
	outb((uint16_t)(0x40 + ch), (uint8_t)(n >> 8));
}

static void test_mode2_periodic(void)
{
	uint64_t t0;

	run_until(inside(tick_of((int64_t)icount) + 10));
	outb(0x43, 0x34); /* channel 0, LSB then MSB, mode 2 */
	t0 = tick_of((int64_t)icount);
	write_count(0, 1193);
	clear_edges();
	CHECK_EQ(irq0_level, 1);

	run_until(ns_of(t0) + 5000000 + 100);
	CHECK_EQ(nrises, 5); /* ~1 ms each */
	CHECK_EQ(nfalls, 5);
	for (int k = 0; k < nrises; k++) {
		/* OUT drops when the count reaches 1, rises on the reload. */
		CHECK_EQ(falls[k], ns_of(t0 + 1193 * (k + 1)));
		CHECK_EQ(rises[k], ns_of(t0 + 1193 * (k + 1) + 1));
	}
	for (int k = 1; k < nrises; k++) {
		int64_t period = rises[k] - rises[k - 1];

		CHECK(period >= 999846 && period <= 999848);
	}
	CHECK(rises[0] - ns_of(t0) >= 999847 && rises[0] - ns_of(t0) <= 1001600);

	/* Mode 6 is mode 2; the status shows the mode as written. */
	outb(0x43, 0x3c);
	t0 = tick_of((int64_t)icount);
	write_count(0, 100);
	clear_edges();
	run_until(ns_of(t0 + 201) + 10);
	CHECK_EQ(nrises, 2);
	CHECK_EQ(rises[1], ns_of(t0 + 201));
	outb(0x43, 0xe2);
	CHECK_EQ(inb(0x40), 0xbc);
}

static void test_mode2_new_count_and_late_timers(void)
{
	uint64_t t0;

	outb(0x43, 0x34);
	t0 = tick_of((int64_t)icount);
	write_count(0, 1000);
	run_until(inside(t0 + 300));
	/* A new count while running takes over at the end of the period. */
	write_count(0, 400);
	clear_edges();
	run_until(ns_of(t0 + 1 + 1000 + 2 * 400) + 10);
	CHECK_EQ(nrises, 3);
	CHECK_EQ(rises[0], ns_of(t0 + 1 + 1000));
	CHECK_EQ(rises[1], ns_of(t0 + 1 + 1000 + 400));
	CHECK_EQ(rises[2], ns_of(t0 + 1 + 1000 + 800));
	CHECK_EQ(falls[1], ns_of(t0 + 1000 + 400));

	/* Timers run late (one big step): every pulse still reaches the PIC. */
	clear_edges();
	icount += 4000000;
	timers_run(clk);
	CHECK(nrises >= 11 && nrises <= 12); /* 4 ms at 335 us */
	CHECK_EQ(nrises, nfalls);
	CHECK_EQ(irq0_level, 1);
}

static void test_mode3_square(void)
{
	uint64_t t0;

	outb(0x43, 0x36); /* channel 0, mode 3 */
	t0 = tick_of((int64_t)icount);
	write_count(0, 1000);
	clear_edges();
	run_until(ns_of(t0 + 3001) + 10);
	CHECK_EQ(nfalls, 3);
	CHECK_EQ(nrises, 3);
	/* 500 ticks high, 500 low. */
	CHECK_EQ(falls[0], ns_of(t0 + 1 + 500));
	CHECK_EQ(rises[0], ns_of(t0 + 1 + 1000));
	CHECK_EQ(falls[1], ns_of(t0 + 1 + 1500));
	CHECK_EQ(rises[1], ns_of(t0 + 1 + 2000));

	/* An odd count is high one tick longer than low. */
	outb(0x43, 0x36);
	t0 = tick_of((int64_t)icount);
	write_count(0, 1001);
	clear_edges();
	run_until(ns_of(t0 + 2003) + 10);
	CHECK_EQ(nfalls, 2);
	CHECK_EQ(falls[0], ns_of(t0 + 1 + 501));
	CHECK_EQ(rises[0], ns_of(t0 + 1 + 1001));
	CHECK_EQ(falls[1], ns_of(t0 + 1 + 1001 + 501));
}

static void test_counter_reads(void)
{
	uint64_t t0;
	uint16_t a, b, c, lo, hi;

	outb(0x43, 0x34);
	t0 = tick_of((int64_t)icount);
	write_count(0, 1193);
	run_until(inside(t0 + 11));
	a = latch_read(0);
	CHECK_EQ(a, 1193 - 10);
	run_until(inside(t0 + 111));
	b = latch_read(0);
	CHECK_EQ(b, 1193 - 110);
	CHECK(b < a);
	/* Wraps at the reload: 1193, 1192 .. 1, 1193 .. */
	run_until(inside(t0 + 1193 + 5));
	CHECK_EQ(latch_read(0), 1193 - 4);

	/* The latch holds the value at the command, however late it is read. */
	outb(0x43, 0x00);
	c = (uint16_t)(1193 - ((tick_of((int64_t)icount) - t0 - 1) % 1193));
	run_until((int64_t)icount + 100000);
	lo = inb(0x40);
	hi = inb(0x40);
	CHECK_EQ(lo | hi << 8, c);
	/* A second latch before reading is ignored. */
	outb(0x43, 0x00);
	run_until((int64_t)icount + 50000);
	outb(0x43, 0x00);
	c = (uint16_t)(1193 - ((tick_of((int64_t)icount - 50000) - t0 - 1) % 1193));
	lo = inb(0x40);
	hi = inb(0x40);
	CHECK_EQ(lo | hi << 8, c);

	/* Unlatched reads alternate LSB and MSB. */
	run_until(inside(t0 + 2 * 1193 + 300));
	lo = inb(0x40);
	hi = inb(0x40);
	CHECK_EQ(lo | hi << 8, 1193 - 299);
}

static void test_read_back(void)
{
	uint64_t t0;
	uint8_t st;

	outb(0x43, 0x34);
	outb(0x43, 0xe2); /* read-back: status of channel 0 */
	/* OUT high, null count (no count yet), RW 3, mode 2, binary. */
	CHECK_EQ(inb(0x40), 0xf4);
	t0 = tick_of((int64_t)icount);
	write_count(0, 500);
	run_until(inside(t0 + 21));
	outb(0x43, 0xc2); /* status and count */
	st = inb(0x40);
	CHECK_EQ(st, 0xb4); /* loaded: null count clear */
	CHECK_EQ(inb(0x40), (500 - 20) & 0xff);
	CHECK_EQ(inb(0x40), (500 - 20) >> 8);
	/* Once read, the counter reads live again. */
	run_until(inside(t0 + 31));
	CHECK_EQ(latch_read(0), 500 - 30);

	/* Mode 0 shows OUT low until terminal count. */
	outb(0x43, 0x70); /* channel 1, LSB/MSB, mode 0 */
	t0 = tick_of((int64_t)icount);
	write_count(1, 40);
	run_until(inside(t0 + 5));
	outb(0x43, 0xe4);
	CHECK_EQ(inb(0x41), 0x30);
	run_until(inside(t0 + 41));
	outb(0x43, 0xe4);
	CHECK_EQ(inb(0x41), 0xb0);
}

static void test_mode0_one_shot(void)
{
	uint64_t t0;

	outb(0x43, 0x30); /* channel 0, mode 0 */
	CHECK_EQ(irq0_level, 0);
	CHECK(!pit_may_interrupt(pit)); /* no count yet */
	t0 = tick_of((int64_t)icount);
	write_count(0, 100);
	CHECK(pit_may_interrupt(pit));
	clear_edges();
	run_until(ns_of(t0 + 100));
	CHECK_EQ(irq0_level, 0);
	run_until(ns_of(t0 + 101) + 10);
	CHECK_EQ(irq0_level, 1);
	CHECK_EQ(nrises, 1);
	CHECK_EQ(rises[0], ns_of(t0 + 101));
	CHECK(!pit_may_interrupt(pit)); /* the shot is over: OUT stays high */
	/* It stays high and the counter keeps going past zero. */
	run_until((int64_t)icount + 10000000);
	CHECK_EQ(nrises, 1);
	CHECK_EQ(nfalls, 0);
	CHECK_EQ(latch_read(0), (uint16_t)(100 - (tick_of((int64_t)icount) - t0 - 1)));

	/* Rewriting the count restarts the shot: OUT low again. */
	t0 = tick_of((int64_t)icount);
	write_count(0, 10);
	CHECK_EQ(irq0_level, 0);
	run_until(ns_of(t0 + 11) + 10);
	CHECK_EQ(irq0_level, 1);
	CHECK_EQ(rises[1], ns_of(t0 + 11));

	/* In two-byte mode, the first byte alone stops counting. */
	t0 = tick_of((int64_t)icount);
	outb(0x40, 50);
	CHECK_EQ(irq0_level, 0);
	run_until((int64_t)icount + 1000000);
	CHECK_EQ(irq0_level, 0);
	outb(0x40, 0);
	t0 = tick_of((int64_t)icount);
	run_until(ns_of(t0 + 51) + 10);
	CHECK_EQ(irq0_level, 1);
}

static void test_byte_modes_and_bcd(void)
{
	uint64_t t0;

	/* LSB only: the MSB is zero and reads give the LSB only. */
	outb(0x43, 0x10);
	t0 = tick_of((int64_t)icount);
	outb(0x40, 200);
	run_until(inside(t0 + 11));
	CHECK_EQ(inb(0x40), 190);
	CHECK_EQ(inb(0x40), 190);
	run_until(ns_of(t0 + 201) + 10);
	CHECK_EQ(irq0_level, 1);

	/* MSB only: the LSB is zero. */
	outb(0x43, 0x20);
	t0 = tick_of((int64_t)icount);
	outb(0x40, 0x02); /* 512 */
	run_until(inside(t0 + 13));
	CHECK_EQ(inb(0x40), (512 - 12) >> 8);
	run_until(ns_of(t0 + 512));
	CHECK_EQ(irq0_level, 0);
	run_until(ns_of(t0 + 513) + 10);
	CHECK_EQ(irq0_level, 1);

	/* BCD: 0100 is one hundred, read back in BCD digits. */
	outb(0x43, 0x31);
	t0 = tick_of((int64_t)icount);
	write_count(0, 0x0100);
	run_until(inside(t0 + 11));
	CHECK_EQ(latch_read(0), 0x0090);
	run_until(ns_of(t0 + 101) + 10);
	CHECK_EQ(irq0_level, 1);
	run_until(inside(t0 + 102));
	CHECK_EQ(latch_read(0), 0x9999); /* wraps in decimal */

	/* Count 0 is 10000 in BCD and 65536 in binary. */
	outb(0x43, 0x31);
	t0 = tick_of((int64_t)icount);
	write_count(0, 0);
	run_until(inside(t0 + 2));
	CHECK_EQ(latch_read(0), 0x9999);
	run_until(ns_of(t0 + 10000));
	CHECK_EQ(irq0_level, 0);
	run_until(ns_of(t0 + 10001) + 10);
	CHECK_EQ(irq0_level, 1);
	outb(0x43, 0x30);
	t0 = tick_of((int64_t)icount);
	write_count(0, 0);
	run_until(inside(t0 + 2));
	CHECK_EQ(latch_read(0), 0xffff);
	run_until(ns_of(t0 + 65536));
	CHECK_EQ(irq0_level, 0);
	run_until(ns_of(t0 + 65537) + 10);
	CHECK_EQ(irq0_level, 1);
}

static bool out2(void)
{
	return inb(0x61) & 0x20;
}

static void test_channel2_port61(void)
{
	uint64_t t0, t1;

	outb(0x61, 0x00);
	outb(0x43, 0xb0); /* channel 2, mode 0 */
	write_count(2, 100);
	t0 = tick_of((int64_t)icount);
	CHECK(!out2());
	/* Gate low: the count does not move. */
	run_until((int64_t)icount + 1000000);
	CHECK(!out2());
	CHECK_EQ(latch_read(2), 100);
	outb(0x61, 0x01);
	t0 = tick_of((int64_t)icount);
	run_until(inside(t0 + 40));
	CHECK_EQ(latch_read(2), 60);
	/* Pause in the middle, then go on from where it stopped. */
	outb(0x61, 0x00);
	run_until((int64_t)icount + 500000);
	CHECK_EQ(latch_read(2), 60);
	CHECK(!out2());
	outb(0x61, 0x01);
	t1 = tick_of((int64_t)icount);
	run_until(inside(t1 + 59));
	CHECK(!out2());
	run_until(inside(t1 + 61));
	CHECK(out2());
	CHECK_EQ(inb(0x61) & 0x0f, 0x01);

	/* Mode 3 on channel 2: OUT2 is the speaker square wave. */
	outb(0x43, 0xb6);
	write_count(2, 1000);
	t0 = tick_of((int64_t)icount);
	run_until(inside(t0 + 100));
	CHECK(out2());
	run_until(inside(t0 + 600));
	CHECK(!out2());
	run_until(inside(t0 + 1100));
	CHECK(out2());
	run_until(inside(t0 + 1600));
	CHECK(!out2());
	outb(0x61, 0x00); /* gate low forces OUT high */
	CHECK(out2());
	outb(0x61, 0x03); /* gate high restarts the period */
	t0 = tick_of((int64_t)icount);
	run_until(inside(t0 + 400));
	CHECK(out2());
	run_until(inside(t0 + 600));
	CHECK(!out2());
}

static void test_modes_1_4_5(void)
{
	uint64_t t0;

	/* Mode 1: the gate's rising edge starts a low pulse of N ticks. */
	outb(0x61, 0x00);
	outb(0x43, 0xb2);
	write_count(2, 50);
	run_until((int64_t)icount + 100000);
	CHECK(out2()); /* no trigger yet */
	outb(0x61, 0x01);
	t0 = tick_of((int64_t)icount);
	run_until(inside(t0 + 10));
	CHECK(!out2());
	CHECK_EQ(latch_read(2), 50 - 9);
	run_until(inside(t0 + 50));
	CHECK(!out2());
	run_until(inside(t0 + 52));
	CHECK(out2());
	/* Retriggered: low again for another N. */
	outb(0x61, 0x00);
	outb(0x61, 0x01);
	t0 = tick_of((int64_t)icount);
	run_until(inside(t0 + 30));
	CHECK(!out2());

	/* Mode 4: software strobe, one tick low at terminal count. */
	outb(0x43, 0xb8);
	write_count(2, 30);
	t0 = tick_of((int64_t)icount);
	run_until(inside(t0 + 30));
	CHECK(out2());
	run_until(inside(t0 + 31));
	CHECK(!out2());
	run_until(inside(t0 + 32));
	CHECK(out2());

	/* Mode 5: the same strobe, started by the gate. */
	outb(0x61, 0x00);
	outb(0x43, 0xba);
	write_count(2, 20);
	run_until((int64_t)icount + 100000);
	outb(0x61, 0x01);
	t0 = tick_of((int64_t)icount);
	run_until(inside(t0 + 20));
	CHECK(out2());
	run_until(inside(t0 + 21));
	CHECK(!out2());
	run_until(inside(t0 + 22));
	CHECK(out2());
	outb(0x61, 0x00);
}

static void test_port61_bits(void)
{
	int64_t base;
	uint8_t a, b, c;

	outb(0x61, 0xff);
	CHECK_EQ(inb(0x61) & 0xcf, 0x0f); /* bits 0-3 kept, 6-7 read 0 */
	outb(0x61, 0x02);
	CHECK_EQ(inb(0x61) & 0x0f, 0x02);

	/* Refresh toggles every 15.085 us of virtual time. */
	base = ((int64_t)icount / 15085 + 1) * 15085;
	run_until(base + 100);
	a = inb(0x61) & 0x10;
	run_until(base + 10000);
	b = inb(0x61) & 0x10;
	run_until(base + 15085 + 100);
	c = inb(0x61) & 0x10;
	CHECK_EQ(a, b);
	CHECK(a != c);
	run_until(base + 2 * 15085 + 100);
	CHECK_EQ(inb(0x61) & 0x10, a);
	outb(0x61, 0x00);
}

static void test_reset_state(void)
{
	uint64_t t0;

	/* After reset channel 0 runs mode 3 with 65536: IRQ 0 at 18.2 Hz. */
	pit_reset(pit);
	t0 = tick_of((int64_t)icount);
	clear_edges();
	run_until(ns_of(t0 + 65536 * 2) + 1000);
	CHECK_EQ(nrises, 2);
	CHECK_EQ(nfalls, 2);
	CHECK_EQ(rises[0], ns_of(t0 + 1 + 65536));
}

int main(void)
{
	MemoryRegion *root = mr_container("io", 0x10000);
	IRQ line = {irq0, NULL, 0};

	icount = 12345;
	clk = clock_new(&icount, 0);
	pit = pit_new(root, clk, &line);
	io = as_new("io", root);

	test_mode2_periodic();
	test_mode2_new_count_and_late_timers();
	test_mode3_square();
	test_counter_reads();
	test_read_back();
	test_mode0_one_shot();
	test_byte_modes_and_bcd();
	test_channel2_port61();
	test_modes_1_4_5();
	test_port61_bits();
	test_reset_state();
	return unit_done("pit");
}
