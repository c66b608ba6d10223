/*
 * hello.c - the smallest test guest: it prints, checks what the multiboot
 * loader handed over, exercises printf, and exits with code 0x21 (emulator
 * status 0x43) to prove that exit codes propagate.  The runner expects the
 * printf line below verbatim.
 */
#include "guest.h"

#define MB_INFO_MEMORY 0x001

struct multiboot_info {
	u32 flags, mem_lower, mem_upper;
};

int guest_main(void)
{
	const struct multiboot_info *mbi = (const void *)multiboot_info;

	printf("Hello from a Flashback test guest\n");
	check(multiboot_magic == MULTIBOOT_MAGIC, "EAX at entry was 0x%08x", multiboot_magic);
	if (check(mbi != NULL && (mbi->flags & MB_INFO_MEMORY),
		  "no memory size in the multiboot info")) {
		printf("memory: %u KiB low, %u KiB high\n", mbi->mem_lower, mbi->mem_upper);
		check(mbi->mem_lower >= 256 && mbi->mem_lower <= 640, "mem_lower %u KiB",
		      mbi->mem_lower);
		check(mbi->mem_upper >= 7 * 1024, "mem_upper %u KiB: want 8 MiB of RAM or more",
		      mbi->mem_upper);
	}
	printf("fmt: [%d] [%u] [%x] [%08X] [%s] [%c] [%5d] [%-4s] [%05d] [%%]\n", -42, 3000000000u,
	       0xbeef, 0xc0ffee, "str", 'z', 42, "ab", -17);
	if (check_done("hello"))
		return 1;
	return 0x21;
}
