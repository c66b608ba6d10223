/*
 * hpet.c - the High Precision Event Timer (IA-PC HPET specification 1.0a)
 * at 0xFED00000: a 64-bit main counter at 100 MHz of virtual time and three
 * 64-bit comparators, timer 0 also periodic, with the legacy replacement
 * route.
 *
 * Registers (64 bits each, read and written 32 or 64 bits at a time):
 * capabilities and ID, general configuration (ENABLE_CNF, LEG_RT_CNF),
 * general interrupt status, the main counter, and per timer its
 * configuration/capabilities, comparator and FSB route (no FSB delivery:
 * reads 0).
 *
 * Nothing ticks.  The counter is computed from the virtual clock: it holds
 * `base` at virtual time `start` and counts one per 10 ns while enabled.
 * Each timer arms one Timer for its next match: the first counter value,
 * from now on, equal to its comparator (in 32-bit mode, to the counter's
 * low 32 bits, so it matches again every 2^32 counts).  At a match a
 * level-triggered timer sets its bit in the interrupt status and holds its
 * line while the bit is set and its interrupt is enabled; an edge-triggered
 * one pulses its line if enabled.  A periodic timer then adds its period
 * (the last value written to its comparator) to the comparator.
 *
 * Lines: in legacy replacement mode timer 0 drives ISA IRQ 0 (8259 IR0 and
 * IOAPIC pin 2 in the machine's wiring) and timer 1 ISA IRQ 8, and the
 * 8254's IRQ 0 and the RTC's IRQ 8, which enter here, reach nothing.
 * Otherwise those two pass through and each timer drives the IOAPIC pin of
 * its Tn_INT_ROUTE_CNF, among the pins the machine wired (advertised in
 * Tn_INT_ROUTE_CAP); a route to a pin not wired reaches nothing.
 */
#include "devices.h"

#include <string.h>

#define HPET_SIZE      0x400
#define HPET_TIMERS    3
#define HPET_PERIOD_FS 10000000ull /* 10 ns: 100 MHz */
#define HPET_NS	       10	   /* virtual ns per count */
#define HPET_VENDOR    0x8086ull

/* General capabilities: revision 1, NUM_TIM_CAP = timers - 1, 64-bit
 * counter, legacy replacement capable. */
#define GCAP                                                                                       \
	(1ull | (HPET_TIMERS - 1ull) << 8 | 1ull << 13 | 1ull << 15 | HPET_VENDOR << 16 |          \
	 HPET_PERIOD_FS << 32)

enum {
	R_GCAP = 0x000,
	R_CONF = 0x010,
	R_ISR = 0x020,
	R_COUNTER = 0x0F0,
	R_TIMER0 = 0x100, /* + 0x20 * n: configuration, comparator, FSB route */
};

#define CONF_ENABLE 0x1ull
#define CONF_LEGACY 0x2ull

/* Tn_CONF_CAP bits. */
#define TN_LEVEL    (1ull << 1)
#define TN_ENABLE   (1ull << 2)
#define TN_PERIODIC (1ull << 3)
#define TN_PER_CAP  (1ull << 4)
#define TN_SIZE_CAP (1ull << 5)
#define TN_SETVAL   (1ull << 6)
#define TN_32BIT    (1ull << 8)
#define TN_ROUTE(c) ((int)(((c) >> 9) & 31))
#define TN_WMASK    (TN_LEVEL | TN_ENABLE | TN_PERIODIC | TN_SETVAL | TN_32BIT | 31ull << 9)

struct hpet_timer {
	HPET *h;
	int n;
	uint64_t conf; /* writable bits and the read-only capabilities */
	uint64_t cmp;
	uint64_t period;
	Timer *timer;
	uint64_t match;	 /* the counter value the Timer is armed for */
	const IRQ *line; /* the line the timer drives now (NULL: none) */
	bool level;	 /* what it drives on it */
};

struct HPET {
	Clock *clk; /* the machine's virtual clock */
	MemoryRegion *mmio;
	uint64_t conf, isr;
	uint64_t base; /* counter value at virtual time start */
	int64_t start;
	struct hpet_timer t[HPET_TIMERS];
	const IRQ *isa0, *isa8; /* ISA IRQ 0 and 8 */
	const IRQ *route[32];	/* IOAPIC pins by number; NULL: not wired */
	uint32_t route_cap;
	IRQ legacy_in[2]; /* the 8254's IRQ 0 and the RTC's IRQ 8 */
	bool legacy_level[2];
};

/* ---- the main counter -------------------------------------------------- */

static bool running(const HPET *h)
{
	return h->conf & CONF_ENABLE;
}

static uint64_t counter(const HPET *h)
{
	int64_t d = clock_ns(h->clk) - h->start;

	if (!running(h) || d <= 0)
		return h->base;
	return h->base + (uint64_t)d / HPET_NS;
}

/* Restart the counter's time origin at @value, now. */
static void counter_set(HPET *h, uint64_t value)
{
	h->base = value;
	h->start = clock_ns(h->clk);
}

/* ---- lines ---------------------------------------------------------------- */

static bool legacy(const HPET *h)
{
	return h->conf & CONF_LEGACY;
}

/* The line timer @t drives with the current configuration. */
static const IRQ *timer_line(const struct hpet_timer *t)
{
	if (legacy(t->h) && t->n < 2)
		return t->n == 0 ? t->h->isa0 : t->h->isa8;
	return t->h->route[TN_ROUTE(t->conf)];
}

/* Drive the timer's line: a level-triggered timer holds it while its status
 * bit is set and its interrupt enabled.  A change of route first lowers the
 * line it drove. */
static void timer_drive(struct hpet_timer *t)
{
	const IRQ *line = timer_line(t);
	bool level = (t->conf & TN_LEVEL) && (t->conf & TN_ENABLE) && (t->h->isr >> t->n & 1);

	if (line != t->line && t->level)
		irq_lower(t->line);
	if (line != t->line || level != t->level)
		irq_set(line, level);
	t->line = line;
	t->level = level;
}

/* ISA IRQ 0 and 8 when legacy replacement does not own them: the 8254's
 * and the RTC's levels. */
static void legacy_pass(HPET *h)
{
	if (legacy(h))
		return;
	irq_set(h->isa0, h->legacy_level[0]);
	irq_set(h->isa8, h->legacy_level[1]);
}

static void legacy_in(void *opaque, int n, int level)
{
	HPET *h = opaque;

	h->legacy_level[n] = level;
	if (!legacy(h))
		irq_set(n == 0 ? h->isa0 : h->isa8, level);
}

/* ---- comparators ------------------------------------------------------- */

static uint64_t width_mask(const struct hpet_timer *t)
{
	return (t->conf & TN_32BIT) ? 0xFFFFFFFFull : ~0ull;
}

/* Arm the Timer for the first counter value from @from on that matches the
 * comparator (@from itself counts). */
static void timer_arm_from(struct hpet_timer *t, uint64_t from)
{
	HPET *h = t->h;
	uint64_t delta = (t->cmp - from) & width_mask(t);

	/* More than 2^62 ns away (146 years): never, for us. */
	if (!running(h) || delta > ((uint64_t)INT64_MAX >> 1) / HPET_NS) {
		timer_del(t->timer);
		return;
	}
	t->match = from + delta;
	timer_mod(t->timer, h->start + (int64_t)((t->match - h->base) * HPET_NS));
}

static void timer_arm(struct hpet_timer *t)
{
	timer_arm_from(t, counter(t->h));
}

static void timer_fire(void *opaque)
{
	struct hpet_timer *t = opaque;
	HPET *h = t->h;

	if (t->conf & TN_LEVEL) {
		h->isr |= 1ull << t->n;
		timer_drive(t);
	} else if (t->conf & TN_ENABLE) {
		irq_pulse(timer_line(t));
	}
	/* The next match counts from this one, not from now: no drift when
	 * the Timer runs a little late. */
	if ((t->conf & TN_PERIODIC) && (t->period & width_mask(t))) {
		t->cmp = (t->cmp + t->period) & width_mask(t);
		timer_arm_from(t, t->match);
	} else if (t->conf & TN_32BIT) {
		/* One-shot in 32-bit mode: the counter's low half wraps and
		 * matches again 2^32 counts later. */
		timer_arm_from(t, t->match + 1);
	}
}

/* ---- registers ----------------------------------------------------------- */

static uint64_t reg_read(HPET *h, unsigned reg)
{
	unsigned n = (reg - R_TIMER0) / 0x20;

	switch (reg) {
	case R_GCAP:
		return GCAP;
	case R_CONF:
		return h->conf;
	case R_ISR:
		return h->isr;
	case R_COUNTER:
		return counter(h);
	}
	if (reg < R_TIMER0 || n >= HPET_TIMERS)
		return 0;
	switch ((reg - R_TIMER0) % 0x20) {
	case 0x00:
		return h->t[n].conf | (uint64_t)h->route_cap << 32;
	case 0x08:
		return h->t[n].cmp;
	default:
		return 0; /* FSB route: no FSB delivery */
	}
}

static void write_conf(HPET *h, uint64_t v)
{
	uint64_t old = h->conf, now = counter(h);

	h->conf = v & (CONF_ENABLE | CONF_LEGACY);
	if ((old ^ h->conf) & CONF_ENABLE)
		counter_set(h, now); /* halted here, or counting on from here */
	if ((old ^ h->conf) & CONF_LEGACY) {
		/* The 8254 and the RTC give their lines up (or get them back);
		 * timers 0 and 1 move to them (or back to their routes). */
		if (legacy(h)) {
			irq_lower(h->isa0);
			irq_lower(h->isa8);
		}
		for (int n = 0; n < HPET_TIMERS; n++)
			timer_drive(&h->t[n]);
		legacy_pass(h);
	}
	if ((old ^ h->conf) & CONF_ENABLE)
		for (int n = 0; n < HPET_TIMERS; n++)
			timer_arm(&h->t[n]);
}

static void write_timer_conf(struct hpet_timer *t, uint64_t v)
{
	uint64_t wmask = TN_WMASK & ~((t->conf & TN_PER_CAP) ? 0 : TN_PERIODIC);
	uint64_t old = t->conf;

	t->conf = (t->conf & ~wmask) | (v & wmask);
	/* Edge-triggered: the status bit has no meaning (spec 2.3.9.1). */
	if (!(t->conf & TN_LEVEL))
		t->h->isr &= ~(1ull << t->n);
	if ((old ^ t->conf) & TN_32BIT) {
		t->cmp &= width_mask(t);
		t->period &= width_mask(t);
	}
	timer_drive(t);
	timer_arm(t);
}

/* A comparator write of the bytes in @mask: a periodic timer takes them
 * into its period, and into its next match only while Tn_VAL_SET_CNF is set
 * (which the write clears); others take them as the match. */
static void write_cmp(struct hpet_timer *t, uint64_t v, uint64_t mask)
{
	mask &= width_mask(t);
	if (!(t->conf & TN_PERIODIC) || (t->conf & TN_SETVAL))
		t->cmp = (t->cmp & ~mask) | (v & mask);
	t->period = (t->period & ~mask) | (v & mask);
	t->conf &= ~TN_SETVAL;
	timer_arm(t);
}

/* A write of the bytes in @mask of register @reg (@v already in place). */
static void reg_write(HPET *h, unsigned reg, uint64_t v, uint64_t mask)
{
	unsigned n = (reg - R_TIMER0) / 0x20;

	if (reg >= R_TIMER0 && n < HPET_TIMERS && (reg - R_TIMER0) % 0x20 == 0x08) {
		write_cmp(&h->t[n], v, mask);
		return;
	}
	v = (reg_read(h, reg) & ~mask) | (v & mask);
	switch (reg) {
	case R_CONF:
		write_conf(h, v);
		return;
	case R_ISR:
		/* Write 1 to clear a level-triggered timer's status. */
		h->isr &= ~(v & mask);
		for (int i = 0; i < HPET_TIMERS; i++)
			timer_drive(&h->t[i]);
		return;
	case R_COUNTER:
		/* The spec allows it while halted; done at any time, the
		 * counter continues from the value written. */
		counter_set(h, v);
		for (int i = 0; i < HPET_TIMERS; i++)
			timer_arm(&h->t[i]);
		return;
	}
	if (reg >= R_TIMER0 && n < HPET_TIMERS && (reg - R_TIMER0) % 0x20 == 0x00)
		write_timer_conf(&h->t[n], v);
	/* the rest is read-only or reserved */
}

/* Accesses of 1, 2, 4 or 8 bytes within one 64-bit register; a narrow
 * write changes only its bytes (a 64-bit comparator set in two 32-bit
 * halves, as a 32-bit CPU does). */
static uint64_t hpet_read(void *opaque, uint64_t offset, unsigned size)
{
	unsigned shift = 8 * (unsigned)(offset & 7);
	uint64_t v = reg_read(opaque, (unsigned)(offset & ~7ull)) >> shift;

	return size >= 8 ? v : v & ((1ull << (8 * size)) - 1);
}

static void hpet_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	unsigned shift = 8 * (unsigned)(offset & 7);
	uint64_t mask = (size >= 8 ? ~0ull : (1ull << (8 * size)) - 1) << shift;

	reg_write(opaque, (unsigned)(offset & ~7ull), value << shift, mask);
}

static const MemoryRegionOps hpet_ops = {
    .read = hpet_read,
    .write = hpet_write,
};

/* ---- interface -------------------------------------------------------------- */

void hpet_reset(HPET *h)
{
	h->conf = 0;
	h->isr = 0;
	counter_set(h, 0);
	for (int n = 0; n < HPET_TIMERS; n++) {
		struct hpet_timer *t = &h->t[n];

		/* 64-bit comparators; timer 0 may be periodic */
		t->conf = TN_SIZE_CAP | (n == 0 ? TN_PER_CAP : 0);
		t->cmp = ~0ull;
		t->period = 0;
		timer_del(t->timer);
		timer_drive(t);
	}
	legacy_pass(h);
}

const IRQ *hpet_legacy_input(HPET *h, int n)
{
	return n == 0 || n == 1 ? &h->legacy_in[n] : NULL;
}

bool hpet_legacy_route(HPET *h)
{
	return legacy(h);
}

bool hpet_may_interrupt(HPET *h, int n, int *isa, int *pin)
{
	const struct hpet_timer *t;

	*isa = *pin = -1;
	if (n < 0 || n >= HPET_TIMERS)
		return false;
	t = &h->t[n];
	if (legacy(h) && n < 2)
		*isa = n == 0 ? 0 : 8;
	else if (h->route[TN_ROUTE(t->conf)])
		*pin = TN_ROUTE(t->conf);
	/* A level-triggered line already held up makes no new request. */
	return (t->conf & TN_ENABLE) && timer_pending(t->timer) && !t->level;
}

HPET *hpet_new(MemoryRegion *memory, Clock *clk, const IRQ *isa0, const IRQ *isa8,
	       const IRQ *const route[32])
{
	HPET *h = xcalloc(1, sizeof(*h));

	h->clk = clk;
	h->isa0 = isa0;
	h->isa8 = isa8;
	for (int pin = 0; pin < 32; pin++) {
		h->route[pin] = route ? route[pin] : NULL;
		if (h->route[pin])
			h->route_cap |= 1u << pin;
	}
	for (int n = 0; n < 2; n++)
		h->legacy_in[n] = (IRQ){legacy_in, h, n};
	for (int n = 0; n < HPET_TIMERS; n++) {
		h->t[n].h = h;
		h->t[n].n = n;
		h->t[n].timer = timer_new(clk, timer_fire, &h->t[n]);
	}
	h->mmio = mr_mmio("hpet", HPET_SIZE, &hpet_ops, h);
	mr_add(memory, h->mmio, HPET_BASE_ADDR, 0);
	hpet_reset(h);
	return h;
}
