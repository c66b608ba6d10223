/*
 * loader_bios.c - a BIOS image (e.g. SeaBIOS) as the PC's firmware ROM.
 *
 * The image becomes a ROM region that ends at 4 GiB, where the reset vector
 * (FFFFFFF0) is, and its last 128 KiB (or all of it, if smaller) also
 * appears just below 1 MiB, where real-mode code expects the BIOS
 * (0xE0000-0xFFFFF on a PC).  Both sit above RAM.  The CPU needs nothing:
 * its reset state already starts at F000:FFF0 with CS base FFFF0000.
 */
#include "loader.h"

#include <string.h>

#define BIOS_UNIT    (64u << 10)
#define BIOS_MAX     (16u << 20)
#define ISA_BIOS_MAX (128u << 10)
#define ONE_MIB	     (1u << 20)
/* Above RAM (priority 0) so that the ROM shows through. */
#define BIOS_PRIORITY 1

bool load_bios(Machine *m, const char *name, const uint8_t *img, size_t len, char *err)
{
	uint64_t isa_len;
	MemoryRegion *rom, *alias;

	if (!img || len == 0)
		return loader_fail(err, name, "empty file, not a BIOS image");
	if (len % BIOS_UNIT || len > BIOS_MAX)
		return loader_fail(err, name,
				   "a BIOS image must be a multiple of 64 KiB and at most 16 MiB, "
				   "this one has %zu bytes",
				   len);
	isa_len = len < ISA_BIOS_MAX ? len : ISA_BIOS_MAX;
	rom = mr_rom("pc.bios", len);
	if (!rom)
		return loader_fail(err, name, "the host cannot provide %zu bytes for the BIOS",
				   len);
	memcpy(mr_host(rom), img, len);
	alias = mr_alias("isa-bios", rom, len - isa_len, isa_len);
	mr_add(m->sysmem, rom, (1ull << 32) - len, BIOS_PRIORITY);
	mr_add(m->sysmem, alias, ONE_MIB - isa_len, BIOS_PRIORITY);
	return true;
}
