/*
 * spin.c - a guest for the gdb tests that runs until the debugger tells it
 * to stop: it counts in a loop until stop_request becomes nonzero (gdb
 * writes it), then prints the count and exits with code 0x15 (emulator
 * status 0x2b).  Lets a test attach to a running guest and interrupt it.
 */
#include "guest.h"

volatile u32 counter, stop_request;

int guest_main(void)
{
	while (!stop_request)
		counter++;
	printf("spin: stopped after %u rounds\n", counter);
	return 0x15;
}
