/*
 * debug_loop.c - the guest of the debugging benchmark (debug_bench.py):
 * ROUNDS rounds of a counting loop of about 2.4 * 10^8 instructions each
 * with the timer ticking at 1 kHz: about 10^10 instructions in all.
 *
 *   marker    written at the start of every round;
 *   landmark  written at the start of every fifth round (1, 6, 11, ...):
 *             a watchpoint on it from 10^9 instructions after a write
 *             reverse-continues 10^9 instructions back;
 *   unused    never written nor read by the guest (in .data: not even the
 *             start-up code's clearing of .bss touches it), on a page of its
 *             own: a watchpoint that is never hit;
 *   never()   never called: a breakpoint that is never hit.
 */
#include "guest.h"

#ifndef ROUNDS
#define ROUNDS 42
#endif
#define INNER 40000000u

volatile u32 marker, landmark, counter;
volatile u32 unused __attribute__((aligned(4096))) = 0x5eed;

void never(void);
void never(void)
{
	counter++;
}

int guest_main(void)
{
	cpu_init();
	pic_init();
	timer_start(1000);
	sti();
	for (u32 round = 1; round <= ROUNDS; round++) {
		marker = round;
		if (round % 5 == 1)
			landmark = round;
		for (u32 i = 0; i < INNER; i++)
			counter += i;
	}
	cli();
	timer_stop();
	printf("debug_loop: counter 0x%08x after %u ticks\n", counter, timer_ticks);
	if (counter == 1)
		never(); /* keeps never() in the image */
	return 0;
}
