/*
 * hpet.c - the HPET's interrupts, timed by the ACPI PM timer (port 0x608,
 * as the firmware guest found it in the FADT; the HPET at 0xFED00000, from
 * its ACPI table):
 *   - legacy replacement: timer 0 at 1 kHz, one-shot re-armed by its
 *     handler, takes IRQ 0 from the 8254 (which keeps running at 10 kHz,
 *     unheard); timer 1 takes IRQ 8,
 *     one-shot, edge- then level-triggered (the status bit set until
 *     written back), the first waking a HLT nothing else could end;
 *   - leaving legacy replacement gives IRQ 0 back to the 8254;
 *   - a route through the IOAPIC: timer 2, level-triggered, on the first
 *     pin its route capabilities offer above the ISA lines, waking a HLT,
 *     delivered once and held until its status is cleared and the local
 *     APIC sees the EOI
 *     (QEMU's PC offers pin 2 only, shared with the 8254: skipped there).
 */
#include "guest.h"

#define HPET	    0xFED00000u
#define PM_TMR	    0x608
#define PM_HZ	    3579545u
#define GCAP_HI	    0x004
#define CONF	    0x010
#define ISR	    0x020
#define COUNTER	    0x0F0
#define TCONF(n)    (0x100 + 0x20 * (n))
#define TCAP(n)	    (0x104 + 0x20 * (n))
#define TCMP(n)	    (0x108 + 0x20 * (n))
#define ENABLE	    0x1
#define LEGACY	    0x2
#define TN_LEVEL    0x02
#define TN_ENB	    0x04
#define TN_PERIODIC 0x08
#define TN_SETVAL   0x40
#define TN_32BIT    0x100
#define LAPIC	    0xFEE00000u
#define IOAPIC	    0xFEC00000u
#define VEC_ROUTED  0x50

static u32 counts_per_ms;
static volatile u32 irq8s, routed, routed_status;

static u32 rd(u32 reg)
{
	return *(volatile u32 *)(HPET + reg);
}

static void wr(u32 reg, u32 v)
{
	*(volatile u32 *)(HPET + reg) = v;
}

static u32 pm_now(void)
{
	return inl(PM_TMR) & 0xFFFFFF;
}

/* Runs with interrupts on for @ms milliseconds of the PM timer. */
static void wait_ms(u32 ms)
{
	u32 t0 = pm_now(), ticks = ms * (PM_HZ / 1000);

	sti();
	while (((pm_now() - t0) & 0xFFFFFF) < ticks)
		for (volatile int i = 0; i < 100; i++) /* fewer port reads to record */
			;
	cli();
}

static void on_irq8(struct regs *r)
{
	irq8s++;
}

static void ioapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)IOAPIC = reg;
	*(volatile u32 *)(IOAPIC + 0x10) = v;
}

static void on_routed(struct regs *r)
{
	routed++;
	routed_status = rd(ISR);
	wr(ISR, 0x4); /* level: clear the status, the line goes down */
	*(volatile u32 *)(LAPIC + 0xB0) = 0;
}

/* The next match of timer 0, a millisecond after this one.  (Periodic mode
 * would do this by itself, but QEMU 7.2 with -icount delivers its periodic
 * interrupts twice as often; the unit test checks ours.) */
static void rearm_timer0(void)
{
	wr(TCMP(0), rd(TCMP(0)) + counts_per_ms);
}

/* Timer 0 at 1 kHz on IRQ 0 instead of the 8254's 10 kHz. */
static void test_legacy_timer0(void)
{
	timer_ticks = 0;
	wait_ms(10);
	check(timer_ticks >= 90 && timer_ticks <= 110, "8254 at 10 kHz: %u ticks in 10 ms",
	      timer_ticks);
	wr(CONF, ENABLE | LEGACY);
	wr(TCONF(0), TN_ENB | TN_32BIT);
	wr(TCMP(0), rd(COUNTER) + counts_per_ms);
	timer_hook = rearm_timer0;
	timer_ticks = 0;
	wait_ms(10);
	timer_hook = NULL;
	check(timer_ticks >= 9 && timer_ticks <= 11,
	      "legacy replacement: %u IRQ 0s in 10 ms from timer 0 at 1 kHz", timer_ticks);
	printf("hpet: timer 0 took IRQ 0 from the 8254: %u ticks in 10 ms\n", timer_ticks);
}

/* Timer 1 one-shot on IRQ 8, edge then level. */
static void test_legacy_timer1(void)
{
	set_irq(8, on_irq8);
	pic_unmask(8);
	wr(TCONF(1), TN_ENB | TN_32BIT);
	wr(TCMP(1), rd(COUNTER) + counts_per_ms / 2);
	/* Halted, only the HPET can wake us: the 8254 is unheard and timer 0
	 * no longer re-armed. */
	while (!irq8s)
		sti_hlt();
	wait_ms(2);
	check(irq8s == 1, "timer 1 one-shot, edge: %u IRQ 8s", irq8s);
	check(!(rd(ISR) & 2), "timer 1 edge-triggered: status %x", rd(ISR));

	wr(TCONF(1), TN_LEVEL | TN_ENB | TN_32BIT);
	wr(TCMP(1), rd(COUNTER) + counts_per_ms / 2);
	wait_ms(2);
	check(irq8s == 2, "timer 1 one-shot, level: %u IRQ 8s in all", irq8s);
	check(rd(ISR) & 2, "timer 1 level-triggered: status %x after the match", rd(ISR));
	wr(ISR, 2);
	check(!(rd(ISR) & 2), "timer 1: status %x after writing it back", rd(ISR));
	wr(TCONF(1), 0);
	pic_mask(8);
	printf("hpet: timer 1 on IRQ 8, edge and level\n");
}

static void test_leave_legacy(void)
{
	wr(TCONF(0), 0);
	wr(CONF, ENABLE);
	timer_ticks = 0;
	wait_ms(10);
	check(timer_ticks >= 90 && timer_ticks <= 110, "back to the 8254: %u ticks in 10 ms",
	      timer_ticks);
	timer_stop();
}

static void test_routed(void)
{
	u32 cap = rd(TCAP(2)), pin;

	for (pin = 16; pin < 32 && !(cap >> pin & 1); pin++)
		;
	if (pin == 32) {
		printf("hpet: timer 2 routes only to ISA lines (%x): no IOAPIC test\n", cap);
		return;
	}
	*(volatile u32 *)(LAPIC + 0xF0) = 0x1FF;
	set_isr(VEC_ROUTED, on_routed);
	ioapic_write(0x11 + 2 * pin, 0);
	ioapic_write(0x10 + 2 * pin, VEC_ROUTED | 0x8000); /* level, unmasked */
	wr(TCONF(2), TN_LEVEL | TN_ENB | TN_32BIT | pin << 9);
	wr(TCMP(2), rd(COUNTER) + counts_per_ms);
	while (!routed) /* nothing else can wake us */
		sti_hlt();
	wait_ms(3);
	check(routed == 1, "timer 2 through IOAPIC pin %u: %u interrupts", pin, routed);
	check(routed_status & 4, "timer 2: status %x in its handler", routed_status);
	check(!(rd(ISR) & 4), "timer 2: status %x after clearing it", rd(ISR));
	ioapic_write(0x10 + 2 * pin, 0x10000);
	wr(TCONF(2), 0);
	printf("hpet: timer 2, level-triggered, once through IOAPIC pin %u\n", pin);
}

int guest_main(void)
{
	u32 period_fs = rd(GCAP_HI);

	if (!check(period_fs && period_fs <= 100000000, "HPET period %u fs", period_fs))
		return check_done("hpet");
	counts_per_ms = (u32)(1000000000000ull / period_fs);
	pic_init();
	timer_start(10000);
	test_legacy_timer0();
	test_legacy_timer1();
	test_leave_legacy();
	test_routed();
	wr(CONF, 0);
	return check_done("hpet");
}
