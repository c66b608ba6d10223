/*
 * clock.c - the virtual clock, its timers and the bottom-half queue.
 *
 * Time is derived from the instruction count, never from the host, so that
 * a guest sees the same times on every run.  Timers sit in one list sorted
 * by expiry; firing order among equal expiries is the order they were armed,
 * which keeps the machine deterministic.
 */
#include "base.h"

#include <stdlib.h>

struct Timer {
	TimerFn *fn;
	void *opaque;
	int64_t expire;
	bool armed;
	Timer *next;
};

static const uint64_t *clk_icount;
static uint64_t zero_icount;
static int clk_shift;
static int64_t clk_bias;
static Timer *timer_list;

/* Shifts outside [0, CLOCK_MAX_SHIFT] would make icount << shift undefined. */
#define CLOCK_MAX_SHIFT 62

void clock_init(const uint64_t *icount, int shift)
{
	clk_icount = icount ? icount : &zero_icount;
	clk_shift = shift < 0 ? 0 : shift > CLOCK_MAX_SHIFT ? CLOCK_MAX_SHIFT : shift;
	clk_bias = 0;
}

int64_t clock_ns(void)
{
	uint64_t ic = clk_icount ? *clk_icount : 0;
	return (int64_t)(ic << clk_shift) + clk_bias;
}

int clock_shift(void)
{
	return clk_shift;
}

void clock_warp(int64_t ns)
{
	if (ns > 0)
		clk_bias += ns;
}

uint64_t clock_icount_at(int64_t ns)
{
	uint64_t ic = clk_icount ? *clk_icount : 0;
	int64_t now = clock_ns();
	uint64_t d, n;

	if (ns <= now)
		return ic;
	d = (uint64_t)ns - (uint64_t)now;
	n = (d >> clk_shift) + ((d & ((1ull << clk_shift) - 1)) != 0);
	/* Far deadlines (INT64_MAX means "none") saturate instead of wrapping. */
	return n > UINT64_MAX - ic ? UINT64_MAX : ic + n;
}

Timer *timer_new(TimerFn *fn, void *opaque)
{
	Timer *t = xcalloc(1, sizeof(*t));
	t->fn = fn;
	t->opaque = opaque;
	return t;
}

void timer_free(Timer *t)
{
	if (!t)
		return;
	timer_del(t);
	free(t);
}

void timer_del(Timer *t)
{
	Timer **pp;

	if (!t->armed)
		return;
	for (pp = &timer_list; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = false;
	t->next = NULL;
}

void timer_mod(Timer *t, int64_t expire_ns)
{
	Timer **pp;

	timer_del(t);
	t->expire = expire_ns;
	for (pp = &timer_list; *pp && (*pp)->expire <= expire_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->armed = true;
	if (pp == &timer_list && machine_hooks.kick)
		machine_hooks.kick();
}

bool timer_pending(const Timer *t)
{
	return t->armed;
}

int64_t timer_expire(const Timer *t)
{
	return t->expire;
}

int64_t timers_deadline(void)
{
	return timer_list ? timer_list->expire : INT64_MAX;
}

void timers_run(void)
{
	int64_t now = clock_ns();

	while (timer_list && timer_list->expire <= now) {
		Timer *t = timer_list;
		timer_list = t->next;
		t->next = NULL;
		t->armed = false;
		t->fn(t->opaque);
	}
}

/* ---- bottom halves ---------------------------------------------------- */

struct bh {
	TimerFn *fn;
	void *opaque;
};

static struct bh *bh_queue;
static size_t bh_count, bh_cap;

void bh_schedule(TimerFn *fn, void *opaque)
{
	if (bh_count == bh_cap) {
		bh_cap = bh_cap ? bh_cap * 2 : 16;
		bh_queue = xrealloc(bh_queue, bh_cap * sizeof(*bh_queue));
	}
	bh_queue[bh_count].fn = fn;
	bh_queue[bh_count].opaque = opaque;
	bh_count++;
	if (machine_hooks.kick)
		machine_hooks.kick();
}

void bh_run(void)
{
	size_t i;

	/* A bottom half may schedule another: run until the queue is empty. */
	for (i = 0; i < bh_count; i++)
		bh_queue[i].fn(bh_queue[i].opaque);
	bh_count = 0;
}
