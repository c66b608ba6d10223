/*
 * pit.c - the 8254 programmable interval timer and port 0x61.
 *
 * Three counters at 0x40-0x42 and the control word at 0x43, clocked at
 * 1.193182 MHz.  Nothing ticks: each counter remembers the input-clock tick
 * at which it was loaded, and its count and OUT level are computed from the
 * virtual clock when asked.  Channel 0 arms one Timer for its next OUT edge
 * only, and drives IRQ 0 from it.  Port 0x61 (System Control Port B) holds
 * the channel 2 gate and speaker data and shows OUT2 and the refresh toggle.
 *
 * Ticks are counted from virtual time 0: tick k starts at the first
 * nanosecond ns with ns * F / 10^9 >= k, so every counter sees the same
 * clock edges whatever the moment it was programmed.
 */
#include "devices.h"

#define PIT_HZ	   1193182u
#define NS_PER_SEC 1000000000u
/* DRAM refresh request period: port 0x61 bit 4 toggles this often. */
#define REFRESH_NS 15085

enum { RW_LATCH, RW_LSB, RW_MSB, RW_WORD };

struct counter {
	struct PIT *pit;
	int index;
	uint8_t mode; /* 0-5 */
	uint8_t rw;   /* RW_LSB, RW_MSB, RW_WORD */
	bool bcd;
	uint8_t ctrl;	   /* bits 5-0 of the last control word, for status */
	uint32_t count;	   /* 1..65536 (binary) or 1..10000 (BCD) */
	bool started;	   /* counting (loaded, or triggered) */
	uint64_t start;	   /* tick of the count write / trigger / gate edge */
	bool paused;	   /* modes 0 and 4 with the gate low */
	uint64_t paused_d; /* elapsed ticks when paused */
	uint32_t held;	   /* count shown while stopped in modes 2 and 3 */
	bool pending;	   /* a new count waits for the end of the period */
	uint32_t next_count;
	uint64_t next_start; /* its start: it loads one tick later */
	bool null_count;
	bool gate;
	uint8_t write_lsb; /* RW_WORD: LSB written, MSB expected */
	bool write_msb_next;
	bool read_lsb_done; /* RW_WORD read flip-flop (unlatched reads) */
	/* Counter latch: up to two bytes waiting to be read. */
	uint8_t latch[2];
	int latch_len, latch_pos;
	/* Status latch (read-back command). */
	bool status_latched;
	uint8_t status;
};

struct PIT {
	Clock *clk; /* the machine's virtual clock */
	struct counter ch[3];
	IRQ irq0;
	Timer *timer;	/* next OUT edge of channel 0 */
	uint64_t edge;	/* tick of that edge */
	bool out0;	/* level last given to irq0 */
	uint8_t port61; /* bits 0-3 as written */
};

/* ---- time ---------------------------------------------------------------- */

static uint64_t ticks_at(int64_t ns)
{
	if (ns <= 0)
		return 0;
	return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS_PER_SEC);
}

/* First nanosecond of tick @t. */
static int64_t tick_ns(uint64_t t)
{
	unsigned __int128 ns = ((unsigned __int128)t * NS_PER_SEC + PIT_HZ - 1) / PIT_HZ;

	return ns > INT64_MAX ? INT64_MAX : (int64_t)ns;
}

static uint64_t now_ticks(const PIT *p)
{
	return ticks_at(clock_ns(p->clk));
}

/* ---- counting ------------------------------------------------------------ */

static uint32_t modulus(const struct counter *c)
{
	return c->bcd ? 10000 : 65536;
}

/* Apply a count rewritten in mode 2/3 once the running period ended. */
static void settle(struct counter *c, uint64_t t)
{
	if (c->pending && t > c->next_start) {
		c->count = c->next_count;
		c->start = c->next_start;
		c->pending = false;
	}
}

/* Clock edges since the count was written (the first one loads it), or -1
 * if the counter is not counting. */
static int64_t elapsed(const struct counter *c, uint64_t t)
{
	if (!c->started)
		return -1;
	if (c->paused)
		return (int64_t)c->paused_d;
	return t >= c->start ? (int64_t)(t - c->start) : 0;
}

/* OUT level @d ticks after the count was written (modes 2 and 3 need N >= 2). */
static bool out_at(const struct counter *c, int64_t d)
{
	int64_t n = c->count, e = d - 1;

	switch (c->mode) {
	case 0:
		return d >= n + 1;
	case 1:
		return d < 1 || d >= n + 1;
	case 4:
	case 5:
		return d != n + 1;
	case 2:
		return n < 2 || e < 0 || e % n != n - 1;
	default: /* 3 */
		return n < 2 || e < 0 || e % n < (n + 1) / 2;
	}
}

static bool counter_out(struct counter *c, uint64_t t)
{
	int64_t d;

	settle(c, t);
	if ((c->mode == 2 || c->mode == 3) && !c->gate)
		return true; /* a low gate forces OUT high */
	d = elapsed(c, t);
	if (d < 0)
		return c->mode != 0; /* mode 0 is low until it expires */
	return out_at(c, d);
}

/* Count shown @d ticks after the write (binary, before any BCD encoding). */
static uint32_t count_at(const struct counter *c, int64_t d)
{
	int64_t n = c->count, e = d - 1, m = modulus(c), p, half;

	if (e < 0)
		return (uint32_t)(n % m);
	switch (c->mode) {
	case 2:
		return (uint32_t)((n - e % n) % m);
	case 3:
		/* Decrements by two from N; an odd N spends one tick more
		 * high than low (N, N-1, N-3 .. 2 high; N, N-3 .. 2 low). */
		p = e % n;
		half = (n + 1) / 2;
		if (!(n & 1)) {
			p %= n / 2;
			return (uint32_t)((p ? n - 2 * p : n) % m);
		}
		if (p < half)
			return (uint32_t)((p ? n + 1 - 2 * p : n) % m);
		p -= half;
		return (uint32_t)((p ? n - 1 - 2 * p : n) % m);
	default:
		/* Modes 0, 1, 4, 5 count down and wrap after zero. */
		return (uint32_t)(((n - e) % m + m) % m);
	}
}

static uint32_t counter_value(struct counter *c, uint64_t t)
{
	int64_t d;

	settle(c, t);
	if ((c->mode == 2 || c->mode == 3) && c->started && !c->gate)
		return c->held;
	d = elapsed(c, t);
	if (d < 0)
		return c->count % modulus(c);
	return count_at(c, d);
}

/*
 * Tick of the next OUT change strictly after @d ticks (relative to start),
 * or -1 if OUT stays as it is.
 */
static int64_t next_change(const struct counter *c, int64_t d)
{
	int64_t n = c->count, e = d - 1, r, half;

	switch (c->mode) {
	case 0:
		return d < n + 1 ? n + 1 : -1;
	case 1:
		return d < 1 ? 1 : d < n + 1 ? n + 1 : -1;
	case 4:
	case 5:
		return d < n + 1 ? n + 1 : d < n + 2 ? n + 2 : -1;
	case 2:
		if (n < 2)
			return -1;
		if (e < 0)
			return n; /* e = n - 1 */
		r = e % n;
		return (r < n - 1 ? e + (n - 1 - r) : e + 1) + 1;
	default:
		if (n < 2)
			return -1;
		half = (n + 1) / 2;
		if (e < 0)
			return half + 1;
		r = e % n;
		return (r < half ? e + (half - r) : e + (n - r)) + 1;
	}
}

/* Absolute tick of the next OUT change after tick @t, or UINT64_MAX. */
static uint64_t next_edge(struct counter *c, uint64_t t)
{
	int64_t d, nd;

	settle(c, t);
	d = elapsed(c, t);
	if (d < 0 || c->paused)
		return UINT64_MAX;
	if ((c->mode == 2 || c->mode == 3) && !c->gate)
		return UINT64_MAX;
	nd = next_change(c, d);
	if (nd < 0)
		return UINT64_MAX;
	/* A count rewritten in mode 2/3 takes over at the period end. */
	if (c->pending && c->start + (uint64_t)nd > c->next_start + 1)
		return c->next_start + 1;
	return c->start + (uint64_t)nd;
}

/* ---- channel 0 and IRQ 0 -------------------------------------------------- */

static void set_out0(PIT *p, bool level)
{
	if (level != p->out0) {
		p->out0 = level;
		irq_set(&p->irq0, level);
	}
}

bool pit_may_interrupt(PIT *p)
{
	return timer_pending(p->timer);
}

static void arm_channel0(PIT *p, uint64_t t)
{
	uint64_t e = next_edge(&p->ch[0], t);

	if (e == UINT64_MAX) {
		timer_del(p->timer);
		return;
	}
	p->edge = e;
	timer_mod(p->timer, tick_ns(e));
}

/*
 * The timer fires at the edge it was armed for.  Even if it runs late, the
 * edge is replayed at its own tick so that a one-tick pulse (mode 2) still
 * reaches the PIC; the next edge, if already past, fires in the same run.
 */
static void channel0_edge(void *opaque)
{
	PIT *p = opaque;
	uint64_t t = p->edge;

	set_out0(p, counter_out(&p->ch[0], t));
	arm_channel0(p, t);
}

/* Something changed in channel 0's programming: show OUT now, re-arm. */
static void channel0_changed(PIT *p)
{
	uint64_t t = now_ticks(p);

	set_out0(p, counter_out(&p->ch[0], t));
	arm_channel0(p, t);
}

static void counter_changed(struct counter *c)
{
	if (c->index == 0)
		channel0_changed(c->pit);
}

/* ---- programming ------------------------------------------------------ */

static uint32_t from_bcd(uint32_t v)
{
	return (v >> 12 & 15) * 1000 + (v >> 8 & 15) * 100 + (v >> 4 & 15) * 10 + (v & 15);
}

static uint32_t to_bcd(uint32_t v)
{
	return (v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10;
}

static void load_count(struct counter *c, uint32_t raw)
{
	uint64_t t = now_ticks(c->pit);
	uint32_t n = c->bcd ? from_bcd(raw) : raw;
	int64_t d;

	if (n == 0)
		n = modulus(c);
	settle(c, t);
	c->null_count = true;
	d = elapsed(c, t);
	if ((c->mode == 2 || c->mode == 3) && c->gate && d >= 1) {
		/* Running: the new count is used from the next reload. */
		int64_t e = d - 1, len = c->count;

		c->pending = true;
		c->next_count = n;
		c->next_start = c->start + (uint64_t)((e / len + 1) * len);
		return;
	}
	c->count = n;
	c->pending = false;
	if (c->mode == 1 || c->mode == 5) {
		/* Waits for a gate trigger. */
		return;
	}
	c->started = true;
	c->start = t;
	c->paused = false;
	if ((c->mode == 0 || c->mode == 4) && !c->gate) {
		/* The count is loaded on the next clock, gate or not; it
		 * only decrements once the gate is high. */
		c->paused = true;
		c->paused_d = 1;
	}
	c->held = n % modulus(c);
	counter_changed(c);
}

static void write_counter(struct counter *c, uint8_t v)
{
	switch (c->rw) {
	case RW_LSB:
		load_count(c, v);
		break;
	case RW_MSB:
		load_count(c, (uint32_t)v << 8);
		break;
	default:
		if (!c->write_msb_next) {
			c->write_lsb = v;
			c->write_msb_next = true;
			/* Mode 0: writing the first byte stops the count. */
			if (c->mode == 0 && c->started) {
				c->started = false;
				c->pending = false;
				counter_changed(c);
			}
		} else {
			c->write_msb_next = false;
			load_count(c, c->write_lsb | (uint32_t)v << 8);
		}
		break;
	}
}

static void latch_count(struct counter *c)
{
	uint32_t v;

	if (c->latch_len)
		return; /* the first latch holds until read */
	v = counter_value(c, now_ticks(c->pit));
	if (c->bcd)
		v = to_bcd(v);
	c->latch_pos = 0;
	switch (c->rw) {
	case RW_LSB:
		c->latch[0] = (uint8_t)v;
		c->latch_len = 1;
		break;
	case RW_MSB:
		c->latch[0] = (uint8_t)(v >> 8);
		c->latch_len = 1;
		break;
	default:
		c->latch[0] = (uint8_t)v;
		c->latch[1] = (uint8_t)(v >> 8);
		c->latch_len = 2;
		break;
	}
}

static void latch_status(struct counter *c)
{
	uint64_t t = now_ticks(c->pit);
	bool loaded;

	if (c->status_latched)
		return;
	settle(c, t);
	/* NULL COUNT clears once the written count reached the counter. */
	loaded = c->started && !c->pending && elapsed(c, t) >= 1;
	if (loaded)
		c->null_count = false;
	/* Bits 5-0 are the control word as written (mode 6 stays 6). */
	c->status = (uint8_t)(counter_out(c, t) << 7 | c->null_count << 6 | c->ctrl);
	c->status_latched = true;
}

static void set_mode(struct counter *c, uint8_t v)
{
	uint8_t mode = v >> 1 & 7;

	c->ctrl = v & 0x3f;
	c->rw = v >> 4 & 3;
	c->mode = mode > 5 ? mode - 4 : mode; /* 6, 7 are 2, 3 */
	c->bcd = v & 1;
	c->started = false;
	c->paused = false;
	c->pending = false;
	c->null_count = true;
	c->write_msb_next = false;
	c->read_lsb_done = false;
	c->latch_len = 0;
	counter_changed(c);
}

static void write_control(PIT *p, uint8_t v)
{
	int sc = v >> 6;

	if (sc == 3) {
		/* Read-back: bit 5 clear latches counts, bit 4 clear status. */
		for (int i = 0; i < 3; i++) {
			if (!(v & (2 << i)))
				continue;
			if (!(v & 0x20))
				latch_count(&p->ch[i]);
			if (!(v & 0x10))
				latch_status(&p->ch[i]);
		}
		return;
	}
	if ((v >> 4 & 3) == RW_LATCH)
		latch_count(&p->ch[sc]);
	else
		set_mode(&p->ch[sc], v);
}

static uint8_t read_counter(struct counter *c)
{
	uint32_t v;
	uint8_t b;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latch_len) {
		b = c->latch[c->latch_pos++];
		if (c->latch_pos == c->latch_len)
			c->latch_len = 0;
		return b;
	}
	v = counter_value(c, now_ticks(c->pit));
	if (c->bcd)
		v = to_bcd(v);
	switch (c->rw) {
	case RW_LSB:
		return (uint8_t)v;
	case RW_MSB:
		return (uint8_t)(v >> 8);
	default:
		c->read_lsb_done = !c->read_lsb_done;
		return c->read_lsb_done ? (uint8_t)v : (uint8_t)(v >> 8);
	}
}

/* Only channel 2's gate is wired (port 0x61 bit 0); 0 and 1 stay high. */
static void set_gate(struct counter *c, bool gate)
{
	uint64_t t = now_ticks(c->pit);
	int64_t d;

	if (gate == c->gate)
		return;
	settle(c, t);
	d = elapsed(c, t);
	switch (c->mode) {
	case 0:
	case 4:
		if (c->started && !gate) {
			c->paused_d = (uint64_t)d;
			c->paused = true;
		} else if (c->started && gate) {
			c->start = t - c->paused_d;
			c->paused = false;
		}
		break;
	case 1:
	case 5:
		if (gate) { /* trigger: (re)load on the next clock */
			c->started = true;
			c->start = t;
		}
		break;
	default: /* 2, 3: low stops (OUT high), the rising edge reloads */
		if (!gate && c->started)
			c->held = counter_value(c, t);
		else if (gate && c->started) {
			c->start = t;
			c->pending = false;
		}
		break;
	}
	c->gate = gate;
	counter_changed(c);
}

/* ---- ports ---------------------------------------------------------------- */

static uint64_t pit_read(void *opaque, uint64_t off, unsigned size)
{
	PIT *p = opaque;

	if (off >= 3)
		return 0xff; /* the control word register is write-only */
	return read_counter(&p->ch[off]);
}

static void pit_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	PIT *p = opaque;

	if (off == 3)
		write_control(p, (uint8_t)value);
	else if (off < 3)
		write_counter(&p->ch[off], (uint8_t)value);
}

static uint64_t port61_read(void *opaque, uint64_t off, unsigned size)
{
	PIT *p = opaque;
	int64_t ns = clock_ns(p->clk);
	bool refresh = (ns / REFRESH_NS) & 1;
	bool out2 = counter_out(&p->ch[2], now_ticks(p));

	return (uint64_t)(p->port61 | refresh << 4 | out2 << 5);
}

static void port61_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	PIT *p = opaque;

	p->port61 = value & 0x0f;
	set_gate(&p->ch[2], value & 1);
}

static const MemoryRegionOps pit_ops = {pit_read, pit_write};
static const MemoryRegionOps port61_ops = {port61_read, port61_write};

/* ---- life cycle --------------------------------------------------------- */

/*
 * Power-on state as a BIOS leaves it: every counter in mode 3 with count
 * 65536, channel 0 ticking at 18.2 Hz; channel 2 waits for its gate.
 */
void pit_reset(PIT *p)
{
	uint64_t t = now_ticks(p);

	for (int i = 0; i < 3; i++) {
		struct counter *c = &p->ch[i];

		*c = (struct counter){.pit = p, .index = i};
		c->mode = 3;
		c->rw = RW_WORD;
		c->ctrl = 0x36;
		c->count = 65536;
		c->held = 0;
		c->gate = i != 2;
		c->started = true;
		c->start = t;
	}
	p->port61 = 0;
	p->out0 = false;
	irq_lower(&p->irq0);
	channel0_changed(p);
}

PIT *pit_new(MemoryRegion *io, Clock *clk, const IRQ *irq0)
{
	PIT *p = xcalloc(1, sizeof(*p));

	if (irq0)
		p->irq0 = *irq0;
	p->clk = clk;
	p->timer = timer_new(clk, channel0_edge, p);
	pit_reset(p);
	mr_add(io, mr_mmio("pit", 4, &pit_ops, p), 0x40, 0);
	mr_add(io, mr_mmio("port61", 1, &port61_ops, p), 0x61, 0);
	return p;
}
