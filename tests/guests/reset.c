/*
 * reset.c - port 0x92 bit 0 resets the PC, each time it is asked to.
 *
 * Boots are counted in a CMOS byte (a reset leaves CMOS RAM alone): boots 1
 * and 2 reset through System Control Port A, boot 3 passes.  Each boot
 * checks that the machine really started again: the guest's .data is as
 * the loader put it, and port 0x92 reads back with bit 0 clear, or the
 * "in; or 1; out" of the next fast reset would make no 0 -> 1 edge.  The
 * reset is asynchronous on hardware and in QEMU, so the guest waits for it
 * a while; still running after that is a failure.
 */
#include "guest.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define CMOS_BOOTS 0x4A /* neither SeaBIOS nor QEMU use it */
#define PORT_A	   0x92
#define FAST_RESET 0x01
#ifndef BOOTS
#define BOOTS 3 /* resetloop.elf: more (tests/rr: what a reset costs a recording) */
#endif

static volatile u32 marker = 0x600dcafe; /* changed before each reset */

static u8 cmos_read(u8 index)
{
	outb(CMOS_INDEX, index);
	return inb(CMOS_DATA);
}

static void cmos_write(u8 index, u8 v)
{
	outb(CMOS_INDEX, index);
	outb(CMOS_DATA, v);
}

int guest_main(void)
{
	unsigned boot = cmos_read(CMOS_BOOTS) + 1u;

	cmos_write(CMOS_BOOTS, (u8)boot);
	printf("reset: boot %u\n", boot);
	check(marker == 0x600dcafe, "boot %u: .data holds 0x%08x, not the image's", boot, marker);
	check(!(inb(PORT_A) & FAST_RESET), "boot %u: port 0x92 reads 0x%02x", boot, inb(PORT_A));
	if (boot >= BOOTS) {
		cmos_write(CMOS_BOOTS, 0);
		return check_done("reset");
	}
	marker = 0xdeadbeef;
	serial_flush();
	outb(PORT_A, inb(PORT_A) | FAST_RESET);
	for (volatile u32 i = 0; i < 100000000; i++)
		;
	check(false, "boot %u: still running after the fast reset", boot);
	return check_done("reset");
}
