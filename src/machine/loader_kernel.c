/*
 * loader_kernel.c - recognising a kernel image, and what the loaders share.
 *
 * load_kernel() tells a Linux bzImage from a multiboot v1 kernel by content
 * and hands it to loader_linux.c or loader_multiboot.c.  This file also
 * holds the PC's physical memory map (one table for the multiboot mmap and
 * the Linux e820 table) and the bounds-checked writes into guest RAM that
 * every loader goes through: nothing here reads outside the image or writes
 * outside RAM, whatever the file says.
 */
#include "loader.h"

#include <stdarg.h>
#include <string.h>

/* ---- the physical memory map ---------------------------------------- */

/* Placeholders in the table for values known only at run time. */
#define AT_RAM_END UINT64_MAX	    /* end of RAM (ram_size) */
#define AT_BIOS	   (UINT64_MAX - 1) /* start of the BIOS ROM below 4 GiB */
#define FOUR_GIB   (1ull << 32)

/*
 * The PC below 4 GiB, sorted by address.  Usable rows are clipped to RAM;
 * holes (VGA, option ROMs, PCI) are simply not listed, which is what a
 * PC BIOS reports for them.
 */
static const struct map_row {
	uint64_t start, end; /* [start, end) */
	uint32_t type;
} pc_map[] = {
    {0x00000000, 0x0009FC00, MEM_USABLE},   /* conventional memory */
    {0x0009FC00, 0x000A0000, MEM_RESERVED}, /* extended BIOS data area */
    {0x000F0000, 0x00100000, MEM_RESERVED}, /* BIOS area */
    {0x00100000, AT_RAM_END, MEM_USABLE},   /* extended memory */
    {0xFEC00000, 0xFEC01000, MEM_RESERVED}, /* IOAPIC */
    {0xFED00000, 0xFED00400, MEM_RESERVED}, /* HPET */
    {0xFEE00000, 0xFEE01000, MEM_RESERVED}, /* local APIC */
    {AT_BIOS, FOUR_GIB, MEM_RESERVED},	    /* BIOS ROM, when there is one */
};

/*
 * Where the BIOS ROM starts, or FOUR_GIB without one: load_bios() maps it
 * so that it ends at 4 GiB, so the ROM region covering the last byte of the
 * address space tells.
 */
static uint64_t bios_start(Machine *m)
{
	const FlatRange *r;

	if (!m->memory)
		return FOUR_GIB;
	r = as_lookup(m->memory, FOUR_GIB - 1);
	if (!r || mr_kind(r->mr) != MR_ROM)
		return FOUR_GIB;
	return FOUR_GIB - mr_size(r->mr);
}

size_t loader_memory_map(Machine *m, MemRange *map)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(pc_map); i++) {
		uint64_t start = pc_map[i].start, end = pc_map[i].end;

		if (start == AT_BIOS)
			start = bios_start(m);
		if (end == AT_RAM_END)
			end = m->ram_size;
		if (pc_map[i].type == MEM_USABLE && end > m->ram_size)
			end = m->ram_size;
		if (start >= end)
			continue;
		map[n++] = (MemRange){start, end - start, pc_map[i].type};
	}
	return n;
}

bool loader_usable(Machine *m, uint64_t addr, uint64_t len)
{
	MemRange map[MEMMAP_MAX];
	size_t n = loader_memory_map(m, map);

	for (size_t i = 0; i < n; i++) {
		if (map[i].type == MEM_USABLE && addr >= map[i].start &&
		    addr - map[i].start <= map[i].len && len <= map[i].len - (addr - map[i].start))
			return true;
	}
	return false;
}

uint64_t loader_usable_at(Machine *m, uint64_t start)
{
	MemRange map[MEMMAP_MAX];
	size_t n = loader_memory_map(m, map);

	for (size_t i = 0; i < n; i++)
		if (map[i].type == MEM_USABLE && map[i].start == start)
			return map[i].len;
	return 0;
}

/* ---- writing guest RAM ---------------------------------------------- */

bool loader_put(Machine *m, uint64_t addr, const void *src, uint64_t len)
{
	if (addr > m->ram_size || len > m->ram_size - addr)
		return false;
	if (!len)
		return true;
	if (src)
		memcpy(m->ram_host + addr, src, len);
	else
		memset(m->ram_host + addr, 0, len);
	/* The CPU may hold code decoded from these pages before a reset. */
	if (m->ram)
		ram_mark_dirty(m->ram, addr, len);
	return true;
}

/* The segment cache for @sel from its descriptor @d (a flat one: base 0,
 * limit 4 GiB with G set). */
static SegReg seg_from(uint16_t sel, uint64_t d)
{
	uint32_t hi = (uint32_t)(d >> 32);
	uint32_t limit = (uint32_t)(d & 0xFFFF) | (hi & 0xF0000);
	uint32_t base = (uint32_t)(d >> 16 & 0xFFFFFF) | (hi & 0xFF000000u);

	if (hi & (1u << 23))
		limit = limit << 12 | 0xFFF;
	/* attr holds descriptor bits 8-23 of the high dword, less limit 19:16. */
	return (SegReg){sel, base, limit, (hi >> 8) & 0xF0FF};
}

void loader_boot_gdt(Machine *m, uint32_t at, const uint64_t *gdt, size_t n, uint16_t cs,
		     uint16_t ds)
{
	static const int data_segs[] = {S_DS, S_ES, S_SS, S_FS, S_GS};
	uint8_t buf[8 * 8];

	for (size_t i = 0; i < n && i < 8; i++)
		st64(buf + 8 * i, gdt[i]);
	loader_put(m, at, buf, 8 * n);
	cpu_set_gdtr(m->cpu, (DescTable){at, (uint16_t)(8 * n - 1)});
	cpu_set_seg(m->cpu, S_CS, seg_from(cs, gdt[cs >> 3]));
	for (size_t i = 0; i < ARRAY_SIZE(data_segs); i++)
		cpu_set_seg(m->cpu, data_segs[i], seg_from(ds, gdt[ds >> 3]));
}

bool loader_fail(char *err, const char *name, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, 256, "%s: ", name);

	if (n < 0 || n >= 256)
		return false;
	va_start(ap, fmt);
	vsnprintf(err + n, 256 - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* ---- recognising the image ------------------------------------------ */

/* A Linux boot sector: the 0xAA55 signature and the "HdrS" setup header. */
static bool is_linux(const uint8_t *img, size_t len)
{
	return len >= 0x206 && ld16(img + 0x1FE) == 0xAA55 && !memcmp(img + 0x202, "HdrS", 4);
}

/*
 * The offset of the first multiboot header (aligned magic, valid checksum)
 * wholly inside the first 8 KiB, or -1.  @bad_sum gets the offset of the
 * first magic whose checksum is wrong (or stays -1), for the message.
 */
static long find_multiboot(const uint8_t *img, size_t len, long *bad_sum)
{
	size_t end = len < MULTIBOOT_SEARCH ? len : MULTIBOOT_SEARCH;

	*bad_sum = -1;
	for (size_t off = 0; off + 12 <= end; off += 4) {
		uint32_t magic = ld32(img + off);

		if (magic != MULTIBOOT_HEADER_MAGIC)
			continue;
		if ((uint32_t)(magic + ld32(img + off + 4) + ld32(img + off + 8)) == 0)
			return (long)off;
		if (*bad_sum < 0)
			*bad_sum = (long)off;
	}
	return -1;
}

bool load_kernel(Machine *m, const char *name, const uint8_t *img, size_t len,
		 const uint8_t *initrd, size_t initrd_len, const char *cmdline, char *err)
{
	long mb, bad_sum;

	if (!img || !len)
		return loader_fail(err, name, "empty file, not a kernel image");
	if (!cmdline)
		cmdline = "";
	if (is_linux(img, len))
		return load_linux(m, name, img, len, initrd, initrd_len, cmdline, err);
	mb = find_multiboot(img, len, &bad_sum);
	if (mb >= 0)
		return load_multiboot(m, name, img, len, (size_t)mb, initrd, initrd_len, cmdline,
				      err);
	if (bad_sum >= 0)
		return loader_fail(err, name, "multiboot header at offset 0x%lx has a bad checksum",
				   bad_sum);
	if (len >= 0x200 && ld16(img + 0x1FE) == 0xAA55)
		return loader_fail(err, name,
				   "not a multiboot or Linux kernel image (a boot sector without "
				   "a Linux setup header: boot protocol 2.02 or later needed)");
	return loader_fail(err, name, "not a multiboot or Linux kernel image");
}
