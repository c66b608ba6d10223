/*
 * loop.c - the guest of the reverse-debugging benchmark
 * (tests/gdb/reverse_bench.py): ROUNDS rounds of a counting loop of about
 * 2 * 10^8 instructions each, with the timer ticking at 1 kHz.  `marker`
 * is written once at the start of each round and nowhere else, so a
 * reverse-continue with a watchpoint on it from the middle of a round
 * goes back about 10^8 instructions.  Exits with code 0 (status 1).
 */
#include "guest.h"

#define ROUNDS 5
#define INNER  40000000u

volatile u32 marker, counter;

int guest_main(void)
{
	cpu_init();
	pic_init();
	timer_start(1000);
	sti();
	for (u32 round = 1; round <= ROUNDS; round++) {
		marker = round;
		for (u32 i = 0; i < INNER; i++)
			counter += i;
	}
	cli();
	timer_stop();
	printf("loop: counter 0x%08x after %u ticks\n", counter, timer_ticks);
	return 0;
}
