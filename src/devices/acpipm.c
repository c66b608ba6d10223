/*
 * acpipm.c - the ACPI fixed power-management registers of a PIIX4-style
 * south bridge, at a fixed I/O base (the machine uses 0x600, where QEMU's
 * firmware puts PIIX4's PMBA; there is no PCI function to move it): the
 * PM1a event block (PM1_STS at +0, PM1_EN at +2), the PM1a control block
 * (PM1_CNT at +4) and the PM timer (PM_TMR at +8).  Facts from the ACPI
 * specification (6.x, section 4.8).
 *
 * The PM timer is a 24-bit counter at 3.579545 MHz of virtual time: tick k
 * starts at the first nanosecond ns with ns * F / 10^9 >= k, counted from
 * virtual time 0 (nothing ticks; the value is computed when read).
 * TMR_STS is set whenever bit 23 of the timer changes; with TMR_EN and
 * SCI_EN that raises the SCI (a level, active high, until TMR_STS is
 * cleared by writing 1 to it), and a Timer is armed for the next change
 * only then.
 *
 * The other fixed events (power and sleep buttons, RTC alarm, global lock)
 * have enable bits that read back but never happen here: the FADT says the
 * buttons are absent and the RTC alarm is not a fixed event.  SLP_EN does
 * nothing: the DSDT defines no sleep state.
 */
#include "devices.h"

#define PM_HZ	   3579545u
#define NS_PER_SEC 1000000000u
#define PM_IO_SIZE 64 /* PIIX4's PM I/O space */
#define TMR_BIT23  23

/* PM1_STS / PM1_EN bits. */
#define TMR_STS	 0x0001u
#define PM1_EN_W 0x0721u /* TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN */
/* PM1_CNT bits. */
#define SCI_EN	  0x0001u
#define PM1_CNT_W 0x1C03u /* SCI_EN, BM_RLD, SLP_TYP */

struct ACPIPM {
	Clock *clk; /* the machine's virtual clock */
	const IRQ *sci;
	bool sci_level;
	uint16_t en, cnt;
	bool tmr_sts;	     /* TMR_STS as of tmr_period */
	uint64_t tmr_period; /* ticks >> 23 when TMR_STS was last brought up to date */
	Timer *timer;	     /* the next change of bit 23, while it may raise the SCI */
};

static uint64_t ticks_at(int64_t ns)
{
	if (ns <= 0)
		return 0;
	return (uint64_t)((unsigned __int128)ns * PM_HZ / NS_PER_SEC);
}

/* First nanosecond of tick @t. */
static int64_t tick_ns(uint64_t t)
{
	unsigned __int128 ns = ((unsigned __int128)t * NS_PER_SEC + PM_HZ - 1) / PM_HZ;

	return ns > INT64_MAX ? INT64_MAX : (int64_t)ns;
}

/* Bring TMR_STS up to date: set if bit 23 changed since it was last looked at. */
static void tmr_update(ACPIPM *p)
{
	uint64_t period = ticks_at(clock_ns(p->clk)) >> TMR_BIT23;

	if (period != p->tmr_period)
		p->tmr_sts = true;
	p->tmr_period = period;
}

static uint16_t status(ACPIPM *p)
{
	tmr_update(p);
	return p->tmr_sts ? TMR_STS : 0;
}

/* The SCI follows the enabled status bits; the Timer watches bit 23 only
 * while a change of it would raise the SCI. */
static void update(ACPIPM *p)
{
	bool may = (p->cnt & SCI_EN) && (p->en & TMR_STS);
	bool level = may && (status(p) & TMR_STS);

	if (level != p->sci_level) {
		p->sci_level = level;
		irq_set(p->sci, level);
	}
	if (may && !level)
		timer_mod(p->timer, tick_ns((p->tmr_period + 1) << TMR_BIT23));
	else
		timer_del(p->timer);
}

static void timer_fire(void *opaque)
{
	update(opaque);
}

/* One byte of the register block at @off; @tmr is the timer value read
 * once for the whole access. */
static uint8_t byte_read(ACPIPM *p, unsigned off, uint32_t tmr)
{
	switch (off) {
	case 0:
	case 1:
		return (uint8_t)(status(p) >> (8 * off));
	case 2:
	case 3:
		return (uint8_t)(p->en >> (8 * (off - 2)));
	case 4:
	case 5:
		return (uint8_t)(p->cnt >> (8 * (off - 4)));
	case 8:
	case 9:
	case 10:
	case 11:
		return (uint8_t)(tmr >> (8 * (off - 8)));
	default:
		return 0;
	}
}

static void byte_write(ACPIPM *p, unsigned off, uint8_t v)
{
	unsigned shift = 8 * (off & 1);

	switch (off) {
	case 0:
		if (v & TMR_STS) { /* write 1 to clear */
			tmr_update(p);
			p->tmr_sts = false;
		}
		break;
	case 2:
	case 3:
		p->en =
		    (uint16_t)((p->en & ~(0xFFu << shift)) | (((unsigned)v << shift) & PM1_EN_W));
		break;
	case 4:
	case 5:
		p->cnt =
		    (uint16_t)((p->cnt & ~(0xFFu << shift)) | (((unsigned)v << shift) & PM1_CNT_W));
		break;
	}
}

static uint64_t pm_read(void *opaque, uint64_t offset, unsigned size)
{
	ACPIPM *p = opaque;
	uint32_t tmr = (uint32_t)ticks_at(clock_ns(p->clk)) & 0xFFFFFF;
	uint64_t v = 0;

	for (unsigned i = 0; i < size && offset + i < PM_IO_SIZE; i++)
		v |= (uint64_t)byte_read(p, (unsigned)offset + i, tmr) << (8 * i);
	return v;
}

static void pm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	ACPIPM *p = opaque;

	for (unsigned i = 0; i < size && offset + i < PM_IO_SIZE; i++)
		byte_write(p, (unsigned)offset + i, (uint8_t)(value >> (8 * i)));
	update(p);
}

static const MemoryRegionOps pm_ops = {pm_read, pm_write};

void acpipm_reset(ACPIPM *p)
{
	p->en = p->cnt = 0;
	p->tmr_sts = false;
	p->tmr_period = ticks_at(clock_ns(p->clk)) >> TMR_BIT23;
	update(p);
}

bool acpipm_may_interrupt(ACPIPM *p)
{
	return timer_pending(p->timer);
}

ACPIPM *acpipm_new(MemoryRegion *io, Clock *clk, uint16_t base, const IRQ *sci)
{
	ACPIPM *p = xcalloc(1, sizeof(*p));

	p->sci = sci;
	p->clk = clk;
	p->timer = timer_new(clk, timer_fire, p);
	mr_add(io, mr_mmio("acpi-pm", PM_IO_SIZE, &pm_ops, p), base, 0);
	acpipm_reset(p);
	return p;
}
