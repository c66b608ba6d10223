/*
 * rtc.c - the MC146818 real-time clock and its 128 bytes of CMOS RAM.
 *
 * Port 0x70 latches the register index (bits 0-6) and the NMI mask (bit 7);
 * port 0x71 reads or writes the indexed byte.  Registers 0-9 hold the time
 * and the alarm, A-D control the chip, the rest (and the century at 0x32)
 * is battery-backed RAM the BIOS uses.
 *
 * The clock is not counted: the time is derived whenever it is read,
 *
 *	seconds = sec_base + (clock_ns(clk) + phase_ns) / 10^9,
 *
 * where sec_base starts as the machine's base time and phase_ns (below one
 * second) is where the divider chain's second boundary falls on the virtual
 * clock.  Guest writes to the time registers move sec_base (and a divider
 * reset moves phase_ns), so no host time is ever read.
 *
 * The update-ended and alarm flags are set by a timer at each second
 * boundary, the periodic flag by a timer at the rate of register A while
 * the periodic interrupt is enabled (and computed lazily when register C is
 * read otherwise).  IRQ 8 follows IRQF, which register C reads clear.
 *
 * Not modelled: daylight saving (DSE is stored only), the square-wave
 * output, time bases other than 32.768 kHz, and the weekday register as an
 * independent counter (it is always derived from the date).
 */
#include "devices.h"

#include <string.h>

#define NS_PER_SEC 1000000000ll
#define RTC_HZ	   32768  /* the divider chain's input */
#define UIP_NS	   244000 /* UIP rises this long before an update */
#define CMOS_SIZE  128
#define PORT_INDEX 0
#define PORT_DATA  1

/* Register indices. */
enum {
	REG_SEC = 0x00,
	REG_SEC_ALARM = 0x01,
	REG_MIN = 0x02,
	REG_MIN_ALARM = 0x03,
	REG_HOUR = 0x04,
	REG_HOUR_ALARM = 0x05,
	REG_WDAY = 0x06,
	REG_MDAY = 0x07,
	REG_MONTH = 0x08,
	REG_YEAR = 0x09,
	REG_A = 0x0A,
	REG_B = 0x0B,
	REG_C = 0x0C,
	REG_D = 0x0D,
	REG_CENTURY = 0x32,
};

#define A_UIP	  0x80
#define A_DV_MASK 0x70
#define A_DV_32K  0x20 /* divider in normal operation */
#define A_DV_RST  0x60 /* 11x: divider chain held in reset */
#define A_RS_MASK 0x0F

#define B_SET  0x80
#define B_PIE  0x40
#define B_AIE  0x20
#define B_UIE  0x10
#define B_SQWE 0x08
#define B_DM   0x04 /* 1: binary, 0: BCD */
#define B_24H  0x02
#define B_DSE  0x01

#define C_IRQF 0x80
#define C_PF   0x40
#define C_AF   0x20
#define C_UF   0x10

#define D_VRT 0x80

#define HOUR_PM	  0x80
#define ALARM_ANY 0xC0 /* alarm bytes >= this match every value */

struct RTC {
	Clock *clk; /* the machine's virtual clock */
	MemoryRegion *ports;
	const IRQ *irq;
	uint8_t cmos[CMOS_SIZE];
	uint8_t index_latch; /* last byte written to 0x70 (index, NMI mask) */
	int64_t sec_base;
	int64_t phase_ns;
	int64_t pf_checked; /* 32 kHz count up to which PF is accounted for */
	Timer *update_timer;
	Timer *periodic_timer;
};

/* A broken-down time, as the registers show it. */
struct civil {
	int64_t year;
	int month, mday, wday; /* wday: 0 = Sunday */
	int hour, min, sec;
};

/* ---- calendar arithmetic ----------------------------------------------
 *
 * Days since 1970-01-01 <-> proleptic Gregorian dates.  Counting from a
 * year that starts on March 1st puts the leap day last, so the month
 * lengths of March..February follow the 153-days-per-5-months pattern and
 * the 400-year cycle (146097 days) repeats exactly.
 */

#define DAYS_PER_ERA	146097 /* 400 Gregorian years */
#define EPOCH_FROM_0000 719468 /* days from 0000-03-01 to 1970-01-01 */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(int64_t year, int month, int mday)
{
	int64_t y = month <= 2 ? year - 1 : year;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;		     /* 0..399 */
	int mp = month > 2 ? month - 3 : month + 9;  /* March = 0 */
	int64_t doy = (153 * mp + 2) / 5 + mday - 1; /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * DAYS_PER_ERA + doe - EPOCH_FROM_0000;
}

static void civil_from_days(int64_t days, struct civil *c)
{
	int64_t z = days + EPOCH_FROM_0000;
	int64_t era = floor_div(z, DAYS_PER_ERA);
	int64_t doe = z - era * DAYS_PER_ERA; /* 0..146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (int)((5 * doy + 2) / 153);

	c->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->month = mp < 10 ? mp + 3 : mp - 9;
	c->year = era * 400 + yoe + (c->month <= 2);
	/* 1970-01-01 was a Thursday. */
	c->wday = (int)((days % 7 + 7 + 4) % 7);
}

static void civil_from_seconds(int64_t t, struct civil *c)
{
	int64_t days = floor_div(t, 86400);
	int64_t sod = t - days * 86400;

	civil_from_days(days, c);
	c->hour = (int)(sod / 3600);
	c->min = (int)(sod / 60 % 60);
	c->sec = (int)(sod % 60);
}

/* ---- register encoding -------------------------------------------------- */

static uint8_t to_bcd(int v)
{
	return (uint8_t)(v / 10 << 4 | v % 10);
}

static int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0F);
}

static uint8_t encode(const RTC *r, int v)
{
	return (r->cmos[REG_B] & B_DM) ? (uint8_t)v : to_bcd(v);
}

static int decode(const RTC *r, uint8_t v)
{
	return (r->cmos[REG_B] & B_DM) ? v : from_bcd(v);
}

static uint8_t encode_hour(const RTC *r, int hour)
{
	int h12;

	if (r->cmos[REG_B] & B_24H)
		return encode(r, hour);
	h12 = hour % 12 ? hour % 12 : 12;
	return (uint8_t)(encode(r, h12) | (hour >= 12 ? HOUR_PM : 0));
}

static int decode_hour(const RTC *r, uint8_t v)
{
	if (r->cmos[REG_B] & B_24H)
		return decode(r, v);
	return decode(r, v & ~HOUR_PM) % 12 + (v & HOUR_PM ? 12 : 0);
}

/* Fill the time registers (not the alarm ones) with @t. */
static void store_time(RTC *r, int64_t t)
{
	struct civil c;

	civil_from_seconds(t, &c);
	r->cmos[REG_SEC] = encode(r, c.sec);
	r->cmos[REG_MIN] = encode(r, c.min);
	r->cmos[REG_HOUR] = encode_hour(r, c.hour);
	r->cmos[REG_WDAY] = (uint8_t)(c.wday + 1);
	r->cmos[REG_MDAY] = encode(r, c.mday);
	r->cmos[REG_MONTH] = encode(r, c.month);
	r->cmos[REG_YEAR] = encode(r, (int)((c.year % 100 + 100) % 100));
	r->cmos[REG_CENTURY] = encode(r, (int)((floor_div(c.year, 100) % 100 + 100) % 100));
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The time the registers hold (whatever the guest put there). */
static int64_t load_time(const RTC *r)
{
	int yy = clamp(decode(r, r->cmos[REG_YEAR]), 0, 99);
	int cc = decode(r, r->cmos[REG_CENTURY]);
	int month = clamp(decode(r, r->cmos[REG_MONTH]), 1, 12);
	int mday = clamp(decode(r, r->cmos[REG_MDAY]), 1, 31);
	int hour = clamp(decode_hour(r, r->cmos[REG_HOUR]), 0, 23);
	int min = clamp(decode(r, r->cmos[REG_MIN]), 0, 59);
	int sec = clamp(decode(r, r->cmos[REG_SEC]), 0, 59);

	/* A century byte nobody set: assume the usual 1970-2069 window. */
	if (cc < 19 || cc > 99)
		cc = yy < 70 ? 20 : 19;
	return days_from_civil(cc * 100 + yy, month, mday) * 86400 + hour * 3600 + min * 60 + sec;
}

/* ---- the clock ----------------------------------------------------------- */

/* Nanoseconds on the divider chain: seconds boundaries fall on multiples. */
static int64_t chain_ns(const RTC *r)
{
	return clock_ns(r->clk) + r->phase_ns;
}

static int64_t now_seconds(const RTC *r)
{
	return r->sec_base + floor_div(chain_ns(r), NS_PER_SEC);
}

/* Make the clock read @t now, keeping the divider phase. */
static void set_seconds(RTC *r, int64_t t)
{
	r->sec_base = t - floor_div(chain_ns(r), NS_PER_SEC);
}

static bool updating(const RTC *r)
{
	return !(r->cmos[REG_B] & B_SET);
}

/* 32 kHz ticks of the divider chain up to @ns, and back (rounded up). */
static int64_t ticks_at(int64_t ns)
{
	int64_t s = floor_div(ns, NS_PER_SEC);
	return s * RTC_HZ + (ns - s * NS_PER_SEC) * RTC_HZ / NS_PER_SEC;
}

static int64_t ns_of_ticks(int64_t ticks)
{
	int64_t s = floor_div(ticks, RTC_HZ);
	return s * NS_PER_SEC + ((ticks - s * RTC_HZ) * NS_PER_SEC + RTC_HZ - 1) / RTC_HZ;
}

/* The periodic interrupt's period in 32 kHz ticks, 0 when off. */
static int64_t periodic_ticks(const RTC *r)
{
	int rs = r->cmos[REG_A] & A_RS_MASK;

	if (rs == 0)
		return 0;
	/* Rates 1 and 2 repeat rates 8 and 9 (256 Hz and 128 Hz). */
	if (rs <= 2)
		rs += 7;
	return 1ll << (rs - 1);
}

static void update_irq(RTC *r)
{
	uint8_t c = r->cmos[REG_C] & (C_PF | C_AF | C_UF);
	uint8_t enabled = r->cmos[REG_B] & (B_PIE | B_AIE | B_UIE);

	/* The enable bits sit at the same positions as the flags. */
	if (c & enabled)
		c |= C_IRQF;
	r->cmos[REG_C] = c;
	irq_set(r->irq, !!(c & C_IRQF));
}

/* ---- timers -------------------------------------------------------------- */

static void arm_update(RTC *r)
{
	int64_t now = chain_ns(r);
	int64_t next = (floor_div(now, NS_PER_SEC) + 1) * NS_PER_SEC;

	if (updating(r))
		timer_mod(r->update_timer, next - r->phase_ns);
	else
		timer_del(r->update_timer);
}

static bool alarm_matches(uint8_t alarm, uint8_t value)
{
	return alarm >= ALARM_ANY || alarm == value;
}

/* The update cycle at a second boundary: UF, and AF if the alarm matches. */
static void update_fire(void *opaque)
{
	RTC *r = opaque;
	int64_t boundary = timer_expire(r->update_timer) + r->phase_ns;
	struct civil c;

	civil_from_seconds(r->sec_base + floor_div(boundary, NS_PER_SEC), &c);
	r->cmos[REG_C] |= C_UF;
	if (alarm_matches(r->cmos[REG_SEC_ALARM], encode(r, c.sec)) &&
	    alarm_matches(r->cmos[REG_MIN_ALARM], encode(r, c.min)) &&
	    alarm_matches(r->cmos[REG_HOUR_ALARM], encode_hour(r, c.hour)))
		r->cmos[REG_C] |= C_AF;
	update_irq(r);
	arm_update(r);
}

static void arm_periodic(RTC *r)
{
	int64_t period = periodic_ticks(r);
	int64_t next;

	if (!period || !(r->cmos[REG_B] & B_PIE)) {
		timer_del(r->periodic_timer);
		return;
	}
	next = (floor_div(ticks_at(chain_ns(r)), period) + 1) * period;
	timer_mod(r->periodic_timer, ns_of_ticks(next) - r->phase_ns);
}

static void periodic_fire(void *opaque)
{
	RTC *r = opaque;
	int64_t period = periodic_ticks(r);
	int64_t edge = ticks_at(timer_expire(r->periodic_timer) + r->phase_ns);

	/* A register C read may already have accounted for this edge. */
	if (period && floor_div(edge, period) > floor_div(r->pf_checked, period)) {
		r->cmos[REG_C] |= C_PF;
		r->pf_checked = edge;
	}
	update_irq(r);
	arm_periodic(r);
}

/* PF without PIE: whether a periodic edge passed since the last check. */
static void account_periodic(RTC *r)
{
	int64_t period = periodic_ticks(r);
	int64_t now = ticks_at(chain_ns(r));

	if (period && floor_div(now, period) > floor_div(r->pf_checked, period))
		r->cmos[REG_C] |= C_PF;
	r->pf_checked = now;
}

/* ---- register access ----------------------------------------------------- */

static bool is_time_reg(int index)
{
	switch (index) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_WDAY:
	case REG_MDAY:
	case REG_MONTH:
	case REG_YEAR:
	case REG_CENTURY:
		return true;
	default:
		return false;
	}
}

static uint8_t read_a(const RTC *r)
{
	uint8_t a = r->cmos[REG_A] & ~A_UIP;
	int64_t into_second = chain_ns(r) - floor_div(chain_ns(r), NS_PER_SEC) * NS_PER_SEC;

	if (updating(r) && into_second >= NS_PER_SEC - UIP_NS)
		a |= A_UIP;
	return a;
}

static uint8_t read_c(RTC *r)
{
	uint8_t c;

	account_periodic(r);
	update_irq(r);
	c = r->cmos[REG_C];
	r->cmos[REG_C] = 0;
	irq_lower(r->irq);
	return c;
}

static uint8_t cmos_read(RTC *r, int index)
{
	if (is_time_reg(index) && updating(r))
		store_time(r, now_seconds(r));
	switch (index) {
	case REG_A:
		return read_a(r);
	case REG_C:
		return read_c(r);
	case REG_D:
		return D_VRT;
	default:
		return r->cmos[index];
	}
}

static void write_a(RTC *r, uint8_t v)
{
	uint8_t old_dv = r->cmos[REG_A] & A_DV_MASK;
	int64_t t = now_seconds(r);

	r->cmos[REG_A] = v & ~A_UIP;
	/*
	 * Leaving divider reset starts the chain: the first update comes half
	 * a second later.
	 */
	if ((old_dv & A_DV_RST) == A_DV_RST && (v & A_DV_MASK) == A_DV_32K) {
		r->phase_ns = NS_PER_SEC / 2 - (clock_ns(r->clk) % NS_PER_SEC);
		if (r->phase_ns < 0)
			r->phase_ns += NS_PER_SEC;
		set_seconds(r, t);
		r->pf_checked = ticks_at(chain_ns(r));
		arm_update(r);
	}
	arm_periodic(r);
}

static void write_b(RTC *r, uint8_t v)
{
	uint8_t old = r->cmos[REG_B];

	if (!(old & B_SET) && (v & B_SET)) {
		/* Updates stop: the registers keep the time of this moment. */
		store_time(r, now_seconds(r));
		v &= ~B_UIE;
	}
	r->cmos[REG_B] = v;
	if ((old & B_SET) && !(v & B_SET))
		set_seconds(r, load_time(r));
	arm_update(r);
	arm_periodic(r);
	update_irq(r);
}

static void write_time_reg(RTC *r, int index, uint8_t v)
{
	if (!updating(r)) {
		r->cmos[index] = v;
		return;
	}
	/* A running clock takes the byte and goes on from the new time. */
	store_time(r, now_seconds(r));
	r->cmos[index] = v;
	set_seconds(r, load_time(r));
}

static void cmos_write(RTC *r, int index, uint8_t v)
{
	if (is_time_reg(index)) {
		write_time_reg(r, index, v);
		return;
	}
	switch (index) {
	case REG_A:
		write_a(r, v);
		break;
	case REG_B:
		write_b(r, v);
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		r->cmos[index] = v;
	}
}

static uint8_t port_read(RTC *r, uint64_t port)
{
	if (port == PORT_INDEX)
		return r->index_latch;
	return cmos_read(r, r->index_latch & (CMOS_SIZE - 1));
}

static void port_write(RTC *r, uint64_t port, uint8_t v)
{
	if (port == PORT_INDEX)
		r->index_latch = v; /* bit 7 is the NMI mask, kept as written */
	else
		cmos_write(r, r->index_latch & (CMOS_SIZE - 1), v);
}

/* Wider accesses reach consecutive ports, lowest byte first. */
static uint64_t rtc_io_read(void *opaque, uint64_t offset, unsigned size)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < size && offset + i < 2; i++)
		v |= (uint64_t)port_read(opaque, offset + i) << (8 * i);
	for (; i < size; i++)
		v |= 0xFFull << (8 * i);
	return v;
}

static void rtc_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	unsigned i;

	for (i = 0; i < size && offset + i < 2; i++)
		port_write(opaque, offset + i, (uint8_t)(value >> (8 * i)));
}

static const MemoryRegionOps rtc_ops = {
	.read = rtc_io_read,
	.write = rtc_io_write,
};

/* ---- life cycle ------------------------------------------------------------ */

void rtc_reset(RTC *r)
{
	/* RESET clears the interrupt enables and flags; time and RAM survive. */
	r->cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
	r->cmos[REG_C] = 0;
	r->index_latch = 0;
	r->pf_checked = ticks_at(chain_ns(r));
	irq_lower(r->irq);
	arm_update(r);
	arm_periodic(r);
}

bool rtc_may_interrupt(RTC *r)
{
	uint8_t b = r->cmos[REG_B];

	if (r->cmos[REG_C] & C_IRQF)
		return false;
	return ((b & (B_UIE | B_AIE)) && timer_pending(r->update_timer)) ||
	       ((b & B_PIE) && timer_pending(r->periodic_timer));
}

void rtc_set_cmos(RTC *r, int index, uint8_t value)
{
	if (index >= 0 && index < CMOS_SIZE)
		cmos_write(r, index, value);
}

RTC *rtc_new(MemoryRegion *io, Clock *clk, const IRQ *irq8, int64_t base_time)
{
	RTC *r = xcalloc(1, sizeof(*r));

	r->irq = irq8;
	r->sec_base = base_time;
	r->cmos[REG_A] = A_DV_32K | 0x06; /* 32.768 kHz, 1024 Hz rate */
	r->cmos[REG_B] = B_24H;
	r->cmos[REG_D] = D_VRT;
	store_time(r, base_time);
	r->clk = clk;
	r->update_timer = timer_new(clk, update_fire, r);
	r->periodic_timer = timer_new(clk, periodic_fire, r);
	r->ports = mr_mmio("rtc", 2, &rtc_ops, r);
	mr_add(io, r->ports, 0x70, 0);
	rtc_reset(r);
	return r;
}
