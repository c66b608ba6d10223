/*
 * test_clock.c - the virtual clock, timers and bottom halves (src/base/clock.c).
 *
 * Time is driven by hand: the test owns the icount the clock reads and
 * warps time, then checks what fired and in which order.
 */
#include "unit.h"
#include "../../src/base/base.h"

#include <string.h>

static uint64_t icount;
static Clock *clk; /* the clock under test, made in main() */

/* ---- the clock --------------------------------------------------------- */

static void test_virtual_clock(void)
{
	icount = 0;
	clock_init(clk, &icount, 3);
	CHECK_EQ(clock_shift(clk), 3);
	CHECK_EQ(clock_ns(clk), 0);
	icount = 10;
	CHECK_EQ(clock_ns(clk), 80);
	clock_warp(clk, 5);
	CHECK_EQ(clock_ns(clk), 85);
	clock_warp(clk, -100); /* time never goes back */
	clock_warp(clk, 0);
	CHECK_EQ(clock_ns(clk), 85);
	icount = 11;
	CHECK_EQ(clock_ns(clk), 93);

	/* The icount at which time reaches a value, rounded up. */
	icount = 10; /* now = 85 */
	CHECK_EQ(clock_icount_at(clk, 85), 10);
	CHECK_EQ(clock_icount_at(clk, 0), 10);
	CHECK_EQ(clock_icount_at(clk, 86), 11);
	CHECK_EQ(clock_icount_at(clk, 93), 11);
	CHECK_EQ(clock_icount_at(clk, 94), 12);
	CHECK_EQ(clock_icount_at(clk, 85 + 8 * 1000), 1010);
	/* "No timer" (INT64_MAX) is far away, without wrapping. */
	CHECK(clock_icount_at(clk, INT64_MAX) > (uint64_t)1 << 58);

	/* Re-initialising drops the warp; shift 0 is one ns per instruction. */
	clock_init(clk, &icount, 0);
	CHECK_EQ(clock_ns(clk), 10);
	CHECK_EQ(clock_icount_at(clk, 15), 15);
	CHECK(clock_icount_at(clk, INT64_MAX) >= (uint64_t)INT64_MAX);

	/* Without an icount the clock moves only by warps. */
	clock_init(clk, NULL, 2);
	CHECK_EQ(clock_ns(clk), 0);
	clock_warp(clk, 40);
	CHECK_EQ(clock_ns(clk), 40);
	CHECK_EQ(clock_icount_at(clk, 48), 2);
}

/* ---- timers -------------------------------------------------------------- */

static char fired[64];
static size_t nfired;

static void record(void *opaque)
{
	if (nfired < sizeof(fired) - 1)
		fired[nfired++] = *(const char *)opaque;
	fired[nfired] = 0;
}

static void reset_log(void)
{
	nfired = 0;
	fired[0] = 0;
}

static int kicks;

static void count_kick(void *opaque)
{
	kicks++;
}

static void test_timer_order(void)
{
	static const char a = 'a', b = 'b', c = 'c', d = 'd';
	Timer *ta = timer_new(clk, record, (void *)&a);
	Timer *tb = timer_new(clk, record, (void *)&b);
	Timer *tc = timer_new(clk, record, (void *)&c);
	Timer *td = timer_new(clk, record, (void *)&d);

	icount = 0;
	clock_init(clk, &icount, 0);
	reset_log();
	CHECK_EQ(timers_deadline(clk), INT64_MAX);
	CHECK(!timer_pending(ta));
	timer_mod(ta, 300);
	timer_mod(tb, 100);
	timer_mod(tc, 200);
	timer_mod(td, 100); /* same expiry as b, armed later: fires after b */
	CHECK(timer_pending(ta));
	CHECK_EQ(timer_expire(tc), 200);
	CHECK_EQ(timers_deadline(clk), 100);

	icount = 99;
	timers_run(clk);
	CHECK_EQ(nfired, 0);
	icount = 250;
	timers_run(clk);
	CHECK(strcmp(fired, "bdc") == 0);
	CHECK(!timer_pending(tb));
	CHECK(timer_pending(ta));
	CHECK_EQ(timers_deadline(clk), 300);

	/* Re-arming moves a timer, earlier or later. */
	timer_mod(ta, 260);
	CHECK_EQ(timers_deadline(clk), 260);
	timer_mod(tb, 270);
	timer_mod(ta, 280);
	CHECK_EQ(timers_deadline(clk), 270);
	/* Re-arming at an equal expiry puts it after those armed before. */
	timer_mod(tc, 290);
	timer_mod(td, 290);
	timer_mod(tc, 290);
	reset_log();
	icount = 1000;
	timers_run(clk);
	CHECK(strcmp(fired, "badc") == 0);
	CHECK_EQ(timers_deadline(clk), INT64_MAX);

	/* A deleted timer does not fire; deleting twice is harmless. */
	reset_log();
	timer_mod(ta, 1100);
	timer_mod(tb, 1200);
	timer_del(ta);
	timer_del(ta);
	CHECK(!timer_pending(ta));
	CHECK_EQ(timers_deadline(clk), 1200);
	icount = 2000;
	timers_run(clk);
	CHECK(strcmp(fired, "b") == 0);

	/* An expiry already in the past fires at the next run. */
	reset_log();
	timer_mod(tc, 5);
	timers_run(clk);
	CHECK(strcmp(fired, "c") == 0);

	timer_free(ta);
	timer_free(tb);
	timer_free(tc);
	timer_mod(td, 5000);
	timer_free(td); /* freeing an armed timer disarms it */
	CHECK_EQ(timers_deadline(clk), INT64_MAX);
}

/* The loop is told when a timer becomes the earliest deadline. */
static void test_kick(void)
{
	static const char a = 'a', b = 'b';
	Timer *ta = timer_new(clk, record, (void *)&a);
	Timer *tb = timer_new(clk, record, (void *)&b);

	icount = 0;
	clock_init(clk, &icount, 0);
	kicks = 0;
	clock_set_kick(clk, count_kick, NULL);
	timer_mod(ta, 500);
	CHECK_EQ(kicks, 1);
	timer_mod(tb, 600); /* not the earliest: no need to end the slice */
	CHECK_EQ(kicks, 1);
	timer_mod(tb, 400);
	CHECK_EQ(kicks, 2);
	clock_set_kick(clk, NULL, NULL);
	timer_free(ta);
	timer_free(tb);
}

/* A periodic timer re-arms itself from its callback. */
struct periodic {
	Timer *t;
	int64_t period;
	int count;
	int64_t seen[8];
};

static void tick(void *opaque)
{
	struct periodic *p = opaque;

	if (p->count < 8)
		p->seen[p->count] = timer_expire(p->t);
	p->count++;
	timer_mod(p->t, timer_expire(p->t) + p->period);
}

static void test_self_rearm(void)
{
	struct periodic p = {.period = 100};

	icount = 0;
	clock_init(clk, &icount, 0);
	p.t = timer_new(clk, tick, &p);
	timer_mod(p.t, 700);
	icount = 650;
	timers_run(clk);
	CHECK_EQ(p.count, 0);
	/* Behind by three periods: catches up within one run, then waits. */
	icount = 1000;
	timers_run(clk);
	CHECK_EQ(p.count, 4);
	CHECK_EQ(p.seen[0], 700);
	CHECK_EQ(p.seen[3], 1000);
	CHECK_EQ(timers_deadline(clk), 1100);
	icount = 1099;
	timers_run(clk);
	CHECK_EQ(p.count, 4);
	icount = 1100;
	timers_run(clk);
	CHECK_EQ(p.count, 5);
	timer_free(p.t);
	CHECK_EQ(timers_deadline(clk), INT64_MAX);
}

/* A callback may cancel another timer due in the same run. */
static Timer *victim;

static void cancel_victim(void *opaque)
{
	record(opaque);
	timer_del(victim);
}

static void test_cancel_from_callback(void)
{
	static const char a = 'a', v = 'v';
	Timer *ta = timer_new(clk, cancel_victim, (void *)&a);

	victim = timer_new(clk, record, (void *)&v);
	icount = 0;
	clock_init(clk, &icount, 0);
	reset_log();
	timer_mod(ta, 10);
	timer_mod(victim, 20);
	icount = 30;
	timers_run(clk);
	CHECK(strcmp(fired, "a") == 0);
	CHECK(!timer_pending(victim));
	timer_free(ta);
	timer_free(victim);
}

/* ---- bottom halves ---------------------------------------------------------- */

static int bh_runs[4];

static void bh_count(void *opaque)
{
	bh_runs[*(const int *)opaque]++;
}

static void bh_chain(void *opaque)
{
	static const int two = 2;

	bh_count(opaque);
	bh_schedule(clk, bh_count, (void *)&two);
}

/* Schedules @n more of itself, one at a time, forcing the queue to grow. */
static int chain_left;

static void bh_relay(void *opaque)
{
	bh_runs[3]++;
	if (chain_left-- > 0)
		bh_schedule(clk, bh_relay, opaque);
}

static void test_bottom_halves(void)
{
	static const int zero = 0, one = 1;
	int i;

	memset(bh_runs, 0, sizeof(bh_runs));
	kicks = 0;
	clock_set_kick(clk, count_kick, NULL);
	bh_schedule(clk, bh_count, (void *)&zero);
	bh_schedule(clk, bh_chain, (void *)&one);
	CHECK_EQ(kicks, 2);
	clock_set_kick(clk, NULL, NULL);
	CHECK_EQ(bh_runs[0] + bh_runs[1] + bh_runs[2], 0); /* deferred */
	bh_run(clk);
	CHECK_EQ(bh_runs[0], 1);
	CHECK_EQ(bh_runs[1], 1);
	CHECK_EQ(bh_runs[2], 1); /* scheduled by a bottom half, run in the same call */
	bh_run(clk);
	CHECK_EQ(bh_runs[0], 1);
	CHECK_EQ(bh_runs[2], 1);

	/* Many scheduled, and a relay that keeps adding one: all run once each. */
	for (i = 0; i < 40; i++)
		bh_schedule(clk, bh_count, (void *)&zero);
	chain_left = 50;
	bh_schedule(clk, bh_relay, NULL);
	bh_run(clk);
	CHECK_EQ(bh_runs[0], 41);
	CHECK_EQ(bh_runs[3], 51);
	bh_run(clk);
	CHECK_EQ(bh_runs[3], 51);
}

int main(void)
{
	clk = clock_new(NULL, 0);
	test_virtual_clock();
	test_timer_order();
	test_kick();
	test_self_rearm();
	test_cancel_from_callback();
	test_bottom_halves();
	return unit_done("clock");
}
