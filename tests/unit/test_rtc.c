/*
 * test_rtc.c - the MC146818 RTC driven through ports 0x70/0x71 as a guest
 * would: dates for known base times in every format, time following the
 * virtual clock, UIP, the three interrupt sources on IRQ 8 at the right
 * virtual times, SET-bit time changes, the NMI mask and CMOS RAM.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#define SEC 1000000000ll

static uint64_t icount;
static Clock *clk; /* the test's virtual clock */
static AddressSpace *io_as;
static int irq_level, irq_raises;

static void irq8_handler(void *opaque, int n, int level)
{
	if (level && !irq_level)
		irq_raises++;
	irq_level = level;
}

static const IRQ irq8 = {irq8_handler, NULL, 8};

/* A fresh machine: virtual time 0, an RTC with @base in a new I/O space. */
static RTC *setup(int64_t base)
{
	MemoryRegion *io = mr_container("io", 0x10000);

	icount = 0;
	clk = clock_new(&icount, 0);
	io_as = as_new("io", io);
	irq_level = irq_raises = 0;
	return rtc_new(io, clk, &irq8, base);
}

/* Move virtual time to @ns and fire due timers, as the main loop does. */
static void run_to(int64_t ns)
{
	icount = (uint64_t)ns;
	timers_run(clk);
}

static uint8_t rd(int index)
{
	as_write(io_as, 0x70, (uint64_t)index, 1);
	return (uint8_t)as_read(io_as, 0x71, 1);
}

static void wr(int index, uint8_t v)
{
	as_write(io_as, 0x70, (uint64_t)index, 1);
	as_write(io_as, 0x71, v, 1);
}

struct regs {
	uint8_t sec, min, hour, wday, mday, month, year, century;
};

static void check_time(const struct regs *e, int line)
{
	struct regs g = {rd(0), rd(2), rd(4), rd(6), rd(7), rd(8), rd(9), rd(0x32)};

	if (g.sec != e->sec || g.min != e->min || g.hour != e->hour || g.wday != e->wday ||
	    g.mday != e->mday || g.month != e->month || g.year != e->year ||
	    g.century != e->century) {
		fprintf(stderr,
			"line %d: got %02x:%02x:%02x wday %x %02x-%02x-%02x%02x, "
			"want %02x:%02x:%02x wday %x %02x-%02x-%02x%02x\n",
			line, g.hour, g.min, g.sec, g.wday, g.mday, g.month, g.century, g.year,
			e->hour, e->min, e->sec, e->wday, e->mday, e->month, e->century, e->year);
	}
	CHECK(g.sec == e->sec && g.min == e->min && g.hour == e->hour && g.wday == e->wday &&
	      g.mday == e->mday && g.month == e->month && g.year == e->year &&
	      g.century == e->century);
}

#define CHECK_TIME(...)                                                                            \
	do {                                                                                       \
		struct regs want_ = {__VA_ARGS__};                                                 \
		check_time(&want_, __LINE__);                                                      \
	} while (0)

static void test_epoch(void)
{
	setup(0);
	/* 1970-01-01 00:00:00, a Thursday (weekday 5 with Sunday = 1). */
	CHECK_TIME(0x00, 0x00, 0x00, 5, 0x01, 0x01, 0x70, 0x19);
	CHECK_EQ(rd(0x0A), 0x26);
	CHECK_EQ(rd(0x0B), 0x02);
	CHECK_EQ(rd(0x0D), 0x80);
}

static void test_leap_day_formats(void)
{
	setup(1709210096); /* 2024-02-29 12:34:56 UTC, Thursday */
	CHECK_TIME(0x56, 0x34, 0x12, 5, 0x29, 0x02, 0x24, 0x20);

	wr(0x0B, 0x06); /* binary, 24 h */
	CHECK_TIME(56, 34, 12, 5, 29, 2, 24, 20);

	wr(0x0B, 0x04); /* binary, 12 h: 12:34 PM */
	CHECK_EQ(rd(4), 0x80 | 12);

	wr(0x0B, 0x00); /* BCD, 12 h */
	CHECK_EQ(rd(4), 0x92);

	/* 11.5 hours later: 00:04:56 on March 1st, 12 AM. */
	run_to(41400 * SEC);
	CHECK_EQ(rd(4), 0x12);
	CHECK_EQ(rd(7), 0x01);
	CHECK_EQ(rd(8), 0x03);
	CHECK_EQ(rd(6), 6); /* Friday */

	/* 13 hours later still: 13:04:56 is 1 PM. */
	run_to((41400 + 13 * 3600) * SEC);
	CHECK_EQ(rd(4), 0x81);
	wr(0x0B, 0x02);
	CHECK_EQ(rd(4), 0x13);
}

static void test_century_rollover(void)
{
	setup(946684799); /* 1999-12-31 23:59:59, Friday */
	CHECK_TIME(0x59, 0x59, 0x23, 6, 0x31, 0x12, 0x99, 0x19);
	run_to(SEC - 1);
	CHECK_EQ(rd(0), 0x59);
	run_to(SEC);
	/* 2000-01-01 00:00:00, Saturday. */
	CHECK_TIME(0x00, 0x00, 0x00, 7, 0x01, 0x01, 0x00, 0x20);
	run_to(SEC * 3 + SEC / 2);
	CHECK_EQ(rd(0), 0x02);

	/* 2100 is not a leap year: 2100-02-28 + 1 day = March 1st, Monday. */
	setup(4107542400ll - 1);
	CHECK_TIME(0x59, 0x59, 0x23, 1, 0x28, 0x02, 0x00, 0x21);
	run_to(SEC);
	CHECK_TIME(0x00, 0x00, 0x00, 2, 0x01, 0x03, 0x00, 0x21);
}

static void test_uip(void)
{
	setup(0);
	run_to(SEC + SEC - 244000 - 1);
	CHECK_EQ(rd(0x0A) & 0x80, 0);
	run_to(SEC + SEC - 244000);
	CHECK_EQ(rd(0x0A) & 0x80, 0x80);
	CHECK_EQ(rd(0), 0x01); /* the update has not happened yet */
	run_to(2 * SEC - 1);
	CHECK_EQ(rd(0x0A), 0xA6);
	run_to(2 * SEC);
	CHECK_EQ(rd(0x0A), 0x26);
	CHECK_EQ(rd(0), 0x02);
	/* SET stops updates, and UIP with them. */
	wr(0x0B, 0x82);
	run_to(3 * SEC - 1000);
	CHECK_EQ(rd(0x0A) & 0x80, 0);
}

static void test_update_interrupt(void)
{
	RTC *r = setup(0);

	/* The default rate sets PF 1024 times a second even without PIE. */
	run_to(SEC / 100);
	CHECK_EQ(rd(0x0C), 0x40);
	CHECK(!rtc_may_interrupt(r)); /* the updates run, but no interrupt is on */
	wr(0x0A, 0x20); /* no periodic rate: only UF below */
	CHECK_EQ(rd(0x0C), 0);
	wr(0x0B, 0x12); /* UIE */
	CHECK(rtc_may_interrupt(r));
	run_to(SEC - 1);
	CHECK_EQ(irq_level, 0);
	run_to(SEC);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(irq_raises, 1);
	/* IRQ 8 stays high until register C is read: no new edge before. */
	CHECK(!rtc_may_interrupt(r));
	CHECK_EQ(rd(0x0C), 0x90); /* IRQF | UF */
	CHECK(rtc_may_interrupt(r));
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(0x0C), 0x00);
	run_to(2 * SEC);
	CHECK_EQ(irq_raises, 2);

	/* UF is set without UIE too, but does not interrupt. */
	/* IRQF follows the enables: dropping UIE releases IRQ 8. */
	wr(0x0B, 0x02);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(0x0C), 0x10);
	run_to(3 * SEC);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(0x0C), 0x10);
}

static void test_periodic_interrupt(void)
{
	setup(0);
	wr(0x0A, 0x2F); /* rate 15: 2 Hz */
	wr(0x0B, 0x42); /* PIE */
	run_to(SEC / 2 - 1);
	CHECK_EQ(irq_level, 0);
	run_to(SEC / 2);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(rd(0x0C), 0xC0); /* IRQF | PF */
	CHECK_EQ(irq_level, 0);
	run_to(SEC - 1);
	CHECK_EQ(irq_raises, 1);
	run_to(SEC);
	CHECK_EQ(irq_raises, 2);
	/* The update at 1 s set UF too (not enabled, so no IRQF for it). */
	CHECK_EQ(rd(0x0C), 0xD0);

	/* 1024 Hz: a period of 976562.5 ns, edges on the 32 kHz grid. */
	wr(0x0A, 0x26);
	run_to(SEC + 976562);
	CHECK_EQ(irq_raises, 2);
	run_to(SEC + 976563);
	CHECK_EQ(irq_raises, 3);
	CHECK_EQ(rd(0x0C), 0xC0);
	run_to(SEC + 1953125);
	CHECK_EQ(irq_raises, 4);

	/* Rate 0 stops it. */
	CHECK_EQ(rd(0x0C), 0xC0);
	wr(0x0A, 0x20);
	run_to(2 * SEC - 1);
	CHECK_EQ(irq_raises, 4);
	CHECK_EQ(rd(0x0C), 0x00);

	/* PF without PIE is still reported when C is read. */
	wr(0x0B, 0x02);
	wr(0x0A, 0x2F);
	CHECK_EQ(rd(0x0C), 0x00);
	run_to(2 * SEC + SEC / 2 - 1);
	CHECK_EQ(rd(0x0C), 0x50); /* the update and the 2 Hz edge at 2 s */
	run_to(2 * SEC + SEC / 2);
	CHECK_EQ(rd(0x0C), 0x40);
	run_to(3 * SEC - 1);
	CHECK_EQ(rd(0x0C), 0x00);
	CHECK_EQ(irq_raises, 4);
}

static void test_alarm_interrupt(void)
{
	setup(3600 * 5 + 60 * 7 + 10); /* 05:07:10 */
	wr(0x0A, 0x20);		       /* no periodic flag */
	wr(0x01, 0x12);
	wr(0x03, 0x07);
	wr(0x05, 0x05);
	wr(0x0B, 0x22); /* AIE */
	run_to(SEC);
	CHECK_EQ(irq_raises, 0);
	CHECK_EQ(rd(0x0C), 0x10);
	run_to(2 * SEC);
	CHECK_EQ(irq_raises, 1);
	CHECK_EQ(rd(0x0C), 0xB0); /* IRQF | AF | UF */
	run_to(3 * SEC);
	CHECK_EQ(rd(0x0C), 0x10);

	/* Don't-care hours and minutes: second 15 of every minute. */
	wr(0x01, 0x15);
	wr(0x03, 0xC0);
	wr(0x05, 0xFF);
	run_to(4 * SEC);
	CHECK_EQ(irq_raises, 1);
	run_to(5 * SEC); /* 05:07:15 */
	CHECK_EQ(irq_raises, 2);
	CHECK_EQ(rd(0x0C), 0xB0);
	run_to(64 * SEC);
	CHECK_EQ(irq_raises, 2);
	CHECK_EQ(rd(0x0C), 0x10);
	run_to(65 * SEC); /* 05:08:15 */
	CHECK_EQ(irq_raises, 3);
	CHECK_EQ(rd(0x0C), 0xB0);
}

static void test_set_time(void)
{
	setup(0);
	run_to(SEC / 4);
	wr(0x0B, 0x82); /* SET */
	wr(0x00, 0x30);
	wr(0x02, 0x15);
	wr(0x04, 0x10);
	wr(0x07, 0x04);
	wr(0x08, 0x07);
	wr(0x09, 0x21);
	wr(0x32, 0x20);
	/* Frozen while SET: the written values stay. */
	run_to(3 * SEC);
	CHECK_EQ(rd(0x00), 0x30);
	wr(0x0B, 0x02);
	/* 2021-07-04 10:15:30, a Sunday. */
	CHECK_TIME(0x30, 0x15, 0x10, 1, 0x04, 0x07, 0x21, 0x20);
	run_to(4 * SEC);
	CHECK_EQ(rd(0x00), 0x31);
	run_to(34 * SEC);
	CHECK_EQ(rd(0x02), 0x16);
	CHECK_EQ(rd(0x00), 0x01);

	/* Binary, 12 h mode: 11 PM. */
	wr(0x0B, 0x84);
	wr(0x04, 0x80 | 11);
	wr(0x0B, 0x04);
	CHECK_EQ(rd(0x04), 0x80 | 11);
	wr(0x0B, 0x02);
	CHECK_EQ(rd(0x04), 0x23);

	/* SET clears UIE. */
	wr(0x0B, 0x12);
	wr(0x0B, 0x92);
	CHECK_EQ(rd(0x0B), 0x82);

	/* A write without SET moves the running clock. */
	wr(0x0B, 0x02);
	wr(0x02, 0x45);
	CHECK_EQ(rd(0x02), 0x45);
	CHECK_EQ(rd(0x04), 0x23);
	run_to(94 * SEC);
	CHECK_EQ(rd(0x02), 0x46);
}

static void test_divider_reset(void)
{
	setup(100);
	run_to(SEC / 3);
	wr(0x0A, 0x66); /* divider held in reset */
	wr(0x0A, 0x26); /* first update half a second from now */
	run_to(SEC / 3 + SEC / 2 - 1);
	CHECK_EQ(rd(0x00), 0x40);
	run_to(SEC / 3 + SEC / 2);
	CHECK_EQ(rd(0x00), 0x41);
}

static void test_nmi_mask_and_ram(void)
{
	RTC *r = setup(0);

	as_write(io_as, 0x70, 0x8F, 1);
	CHECK_EQ(as_read(io_as, 0x70, 1), 0x8F);
	as_write(io_as, 0x71, 0x5A, 1);
	CHECK_EQ(as_read(io_as, 0x71, 1), 0x5A);
	as_write(io_as, 0x70, 0x0F, 1);
	CHECK_EQ(as_read(io_as, 0x70, 1), 0x0F);
	CHECK_EQ(as_read(io_as, 0x71, 1), 0x5A);

	rtc_set_cmos(r, 0x15, 0x80);
	rtc_set_cmos(r, 0x16, 0x02);
	rtc_set_cmos(r, 0x7F, 0x77);
	rtc_set_cmos(r, 128, 0x11); /* out of range: ignored */
	CHECK_EQ(rd(0x15), 0x80);
	CHECK_EQ(rd(0x16), 0x02);
	CHECK_EQ(rd(0x7F), 0x77);
	/* C and D are read-only. */
	wr(0x0D, 0x00);
	CHECK_EQ(rd(0x0D), 0x80);

	/* Reset keeps RAM and time, drops the interrupt enables. */
	wr(0x0B, 0x72);
	rtc_reset(r);
	CHECK_EQ(rd(0x0B), 0x02);
	CHECK_EQ(rd(0x15), 0x80);
	CHECK_EQ(rd(0x09), 0x70);
}

int main(void)
{
	test_epoch();
	test_leap_day_formats();
	test_century_rollover();
	test_uip();
	test_update_interrupt();
	test_periodic_interrupt();
	test_alarm_interrupt();
	test_set_time();
	test_divider_reset();
	test_nmi_mask_and_ram();
	return unit_done("rtc");
}
