/*
 * clock.c - virtual clocks, their timers and bottom-half queues.
 *
 * Time is derived from the instruction count, never from the host, so that
 * a guest sees the same times on every run.  Each Clock belongs to one
 * machine; its timers sit in one list sorted by expiry, and firing order
 * among equal expiries is the order they were armed, which keeps the
 * machine deterministic.
 */
#include "base.h"

#include <stdlib.h>

struct bh {
	TimerFn *fn;
	void *opaque;
};

struct Clock {
	const uint64_t *icount;
	uint64_t zero_icount;
	int shift;
	int64_t bias;
	Timer *timers;
	void (*kick)(void *opaque);
	void *kick_opaque;
	struct bh *bh_queue;
	size_t bh_count, bh_cap;
};

struct Timer {
	Clock *clock;
	TimerFn *fn;
	void *opaque;
	int64_t expire;
	bool armed;
	Timer *next;
};

/* Shifts outside [0, CLOCK_MAX_SHIFT] would make icount << shift undefined. */
#define CLOCK_MAX_SHIFT 62

Clock *clock_new(const uint64_t *icount, int shift)
{
	Clock *c = xcalloc(1, sizeof(*c));

	clock_init(c, icount, shift);
	return c;
}

void clock_init(Clock *c, const uint64_t *icount, int shift)
{
	c->icount = icount ? icount : &c->zero_icount;
	c->shift = shift < 0 ? 0 : shift > CLOCK_MAX_SHIFT ? CLOCK_MAX_SHIFT : shift;
	c->bias = 0;
}

void clock_free(Clock *c)
{
	if (!c)
		return;
	free(c->bh_queue);
	free(c);
}

void clock_set_kick(Clock *c, void (*kick)(void *opaque), void *opaque)
{
	c->kick = kick;
	c->kick_opaque = opaque;
}

static void kick(Clock *c)
{
	if (c->kick)
		c->kick(c->kick_opaque);
}

int64_t clock_ns(const Clock *c)
{
	return (int64_t)(*c->icount << c->shift) + c->bias;
}

int clock_shift(const Clock *c)
{
	return c->shift;
}

void clock_warp(Clock *c, int64_t ns)
{
	if (ns > 0)
		c->bias += ns;
}

uint64_t clock_icount_at(const Clock *c, int64_t ns)
{
	uint64_t ic = *c->icount;
	int64_t now = clock_ns(c);
	uint64_t d, n;

	if (ns <= now)
		return ic;
	d = (uint64_t)ns - (uint64_t)now;
	n = (d >> c->shift) + ((d & ((1ull << c->shift) - 1)) != 0);
	/* Far deadlines (INT64_MAX means "none") saturate instead of wrapping. */
	return n > UINT64_MAX - ic ? UINT64_MAX : ic + n;
}

Timer *timer_new(Clock *c, TimerFn *fn, void *opaque)
{
	Timer *t = xcalloc(1, sizeof(*t));
	t->clock = c;
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
	for (pp = &t->clock->timers; *pp; pp = &(*pp)->next) {
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
	for (pp = &t->clock->timers; *pp && (*pp)->expire <= expire_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->armed = true;
	if (pp == &t->clock->timers)
		kick(t->clock);
}

bool timer_pending(const Timer *t)
{
	return t->armed;
}

int64_t timer_expire(const Timer *t)
{
	return t->expire;
}

int64_t timers_deadline(const Clock *c)
{
	return c->timers ? c->timers->expire : INT64_MAX;
}

void timers_run(Clock *c)
{
	int64_t now = clock_ns(c);

	while (c->timers && c->timers->expire <= now) {
		Timer *t = c->timers;
		c->timers = t->next;
		t->next = NULL;
		t->armed = false;
		t->fn(t->opaque);
	}
}

/* ---- bottom halves ---------------------------------------------------- */

void bh_schedule(Clock *c, TimerFn *fn, void *opaque)
{
	if (c->bh_count == c->bh_cap) {
		c->bh_cap = c->bh_cap ? c->bh_cap * 2 : 16;
		c->bh_queue = xrealloc(c->bh_queue, c->bh_cap * sizeof(*c->bh_queue));
	}
	c->bh_queue[c->bh_count].fn = fn;
	c->bh_queue[c->bh_count].opaque = opaque;
	c->bh_count++;
	kick(c);
}

void bh_run(Clock *c)
{
	size_t i;

	/* A bottom half may schedule another: run until the queue is empty. */
	for (i = 0; i < c->bh_count; i++)
		c->bh_queue[i].fn(c->bh_queue[i].opaque);
	c->bh_count = 0;
}
