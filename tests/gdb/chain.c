/*
 * chain.c - a guest for the reverse-debugging tests: a known call chain
 * (guest_main -> top -> middle -> leaf) run four times, and a global,
 * `watched`, written at known places (in leaf, in middle, and once at the
 * end of guest_main).  Timer interrupts tick meanwhile, so the recording
 * holds interrupt events too.  It prints the total and exits with code
 * 0x11 (emulator status 0x23).
 */
#include "guest.h"

volatile u32 watched;
volatile u32 last_total;

__attribute__((noinline)) u32 leaf(u32 x)
{
	watched = x * 3;
	return x + 1;
}

__attribute__((noinline)) u32 middle(u32 x)
{
	u32 r = leaf(x) * 2;

	watched = r;
	return r;
}

__attribute__((noinline)) u32 top(u32 x)
{
	u32 r = middle(x) + 5;

	last_total += r;
	return r;
}

int guest_main(void)
{
	u32 total = 0;

	cpu_init();
	pic_init();
	timer_start(1000);
	sti();
	for (u32 i = 1; i <= 4; i++) {
		total += top(i);
		/* some work between calls, long enough for timer ticks */
		for (volatile u32 spin = 0; spin < 200000; spin++)
			;
	}
	cli();
	timer_stop();
	watched = 0x1234;
	printf("chain: total %u\n", total);
	return 0x11;
}
