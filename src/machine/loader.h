/*
 * loader.h - what the kernel and BIOS loaders share (private to
 * src/machine/loader_*.c).
 *
 * The PC's physical memory map (one table, used for both the multiboot
 * mmap and the Linux e820 table), bounds-checked placement of bytes in
 * guest RAM, and the format-specific loaders that load_kernel() dispatches
 * to once it has recognised the image.
 */
#ifndef FB_LOADER_H
#define FB_LOADER_H

#include "machine.h"

/* Memory map entry types: the e820 values, which multiboot shares. */
enum { MEM_USABLE = 1, MEM_RESERVED = 2 };

/* One range of the physical memory map: [start, start + len). */
typedef struct MemRange {
	uint64_t start, len;
	uint32_t type;
} MemRange;

/* Enough for every row of the table in loader_kernel.c. */
#define MEMMAP_MAX 8

/* The machine's memory map, sorted by address; returns the entry count. */
size_t loader_memory_map(Machine *m, MemRange *map);
/* Whether [addr, addr + len) lies inside one usable range of the map. */
bool loader_usable(Machine *m, uint64_t addr, uint64_t len);
/* The size of the usable range that starts at @start, 0 if none does. */
uint64_t loader_usable_at(Machine *m, uint64_t start);

/*
 * Copy @len bytes to guest physical @addr, or zero them (src == NULL).
 * Returns false, writing nothing, if any byte would fall outside RAM.
 */
bool loader_put(Machine *m, uint64_t addr, const void *src, uint64_t len);

/*
 * The BIOS area 0xF0000-0xFFFFF (reserved in the memory map): what the
 * loaders and firmware.c leave there for -kernel guests.
 */
#define FW_MB_GDT   0xF0000u /* the multiboot loader's GDT (loader_multiboot.c) */
#define FW_CODE	    0xF0100u /* real-mode interrupt handlers, F000:0100 */
#define FW_MP_FLOAT 0xF0200u /* MP floating pointer structure */
#define FW_MP_TABLE 0xF0210u /* MP configuration table */
#define FW_ACPI	    0xF0400u /* RSDP, then the ACPI tables */
#define FW_ACPI_END 0xF0800u

/* firmware.c: the RAM a BIOS leaves (IVT, BDA, EBDA, MP and ACPI tables),
 * written before the kernel is loaded; the devices as it programs them
 * (8259s, 8254, local APIC, IOAPIC, ACPI mode), after. */
void firmware_tables(Machine *m);
void firmware_devices(Machine *m);

/*
 * Leave the @n descriptors of @gdt at guest physical @at as the GDT (GDTR
 * pointing at them) and load CS from selector @cs and DS, ES, SS, FS and GS
 * from @ds, their caches filled from those descriptors as a far jump and
 * segment loads would.  The CPU must already be in protected mode.
 */
void loader_boot_gdt(Machine *m, uint32_t at, const uint64_t *gdt, size_t n, uint16_t cs,
		     uint16_t ds);

/* Format "NAME: reason" into @err (256 bytes); always returns false. */
bool loader_fail(char *err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* The format loaders: @img has been recognised as their format. */
bool load_multiboot(Machine *m, const char *name, const uint8_t *img, size_t len, size_t hdr_off,
		    const uint8_t *initrd, size_t initrd_len, const char *cmdline, char *err);
bool load_linux(Machine *m, const char *name, const uint8_t *img, size_t len, const uint8_t *initrd,
		size_t initrd_len, const char *cmdline, char *err);

/* Multiboot v1 header magic (in the image) and the magic left in EAX. */
#define MULTIBOOT_HEADER_MAGIC 0x1BADB002u
#define MULTIBOOT_BOOT_MAGIC   0x2BADB002u
/* The multiboot header must lie within the image's first 8 KiB. */
#define MULTIBOOT_SEARCH 8192u

#endif
