/*
 * fatal.c - an exception nobody handles (#UD from UD2): the runtime must
 * report it on COM1 (vector, error code, EIP) and exit with EXIT_EXCEPTION
 * (0x7F, emulator status 0xFF) instead of hanging or rebooting.
 */
#include "guest.h"

int guest_main(void)
{
	printf("fatal: executing UD2 with no handler installed\n");
	__asm__ volatile("ud2");
	printf("FAIL fatal: execution continued after UD2\n");
	return 1;
}
