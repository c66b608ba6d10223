/*
 * timer.c - PIT channel 0 at 1 kHz on IRQ 0 through the remapped master PIC.
 *
 * Checks: the PIC mask registers read back; HLT wakes on each tick and 100
 * ticks arrive with no stray interrupt; the latched count of channel 0 lies
 * in 1..divisor and decreases between two latches; with interrupts off the
 * tick waits in the IRR and is delivered exactly once after STI; nothing is
 * left in service.
 */
#include "guest.h"

#define HZ	1000
#define TICKS	100
#define DIVISOR ((PIT_HZ + HZ / 2) / HZ)

static void spin(u32 n)
{
	for (volatile u32 i = 0; i < n; i++)
		;
}

static void check_ticks(void)
{
	u32 wakeups = 0;

	while (timer_ticks < TICKS) {
		sti_hlt();
		wakeups++;
	}
	cli();
	printf("timer: %u ticks, %u wake-ups from HLT\n", timer_ticks, wakeups);
	check(wakeups >= TICKS - 1 && wakeups <= timer_ticks + 1, "%u wake-ups for %u ticks",
	      wakeups, timer_ticks);
	check(unhandled_irqs == 0, "%u unexpected interrupts", unhandled_irqs);
}

/* Two latches ~10 PIT clocks apart: the second is lower unless the counter
 * reloaded in between, so a few tries must show a decrease. */
static void check_latch(void)
{
	bool decreased = false;

	for (int try = 0; try < 8 && !decreased; try++) {
		u16 a = pit_read_count(0);

		spin(300);
		u16 b = pit_read_count(0);

		check(a >= 1 && a <= DIVISOR && b >= 1 && b <= DIVISOR,
		      "latched counts %u, %u outside 1..%u", a, b, DIVISOR);
		if (b < a) {
			printf("timer: latched count went %u -> %u\n", a, b);
			decreased = true;
		}
	}
	check(decreased, "the latched count never decreased");
}

/* With IF clear, IRQ 0 must wait in the IRR (the counter keeps reloading
 * meanwhile) and arrive exactly once on STI: the PIC latches one edge. */
static void check_pending(void)
{
	u32 before, wraps = 0;
	u16 prev = pit_read_count(0);
	bool pending = false;

	cli();
	before = timer_ticks;
	/* The IRR may lag the counter a little on emulators that deliver the
	 * tick from another thread, so give it up to 20 reloads. */
	for (u32 i = 0; i < 10000000 && wraps < 20 && !pending; i++) {
		u16 now = pit_read_count(0);

		if (now > prev)
			wraps++;
		prev = now;
		pending = wraps >= 1 && (pic_read_irr() & 1);
	}
	printf("timer: IRQ 0 pending after %u counter reloads\n", wraps);
	check(pending, "IRQ 0 not pending in the IRR after %u reloads", wraps);
	check(timer_ticks == before, "ticks advanced with interrupts off");
	sti();
	__asm__ volatile("nop");
	cli();
	check(timer_ticks == before + 1, "%u ticks delivered after STI, want 1",
	      timer_ticks - before);
}

int guest_main(void)
{
	pic_init();
	check(pic_read_mask() == 0xFFFF, "masks read 0x%04x after init", pic_read_mask());
	timer_start(HZ);
	check(pic_read_mask() == 0xFFFE, "masks read 0x%04x with IRQ 0 open", pic_read_mask());
	check_ticks();
	check_latch();
	check_pending();
	check(pic_read_isr() == 0, "in-service bits left: 0x%04x", pic_read_isr());
	timer_stop();
	return check_done("timer");
}
