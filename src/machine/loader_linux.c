/*
 * loader_linux.c - the Linux/x86 32-bit boot protocol (bzImage).
 *
 * The real-mode setup code is not run: like a 32-bit boot loader we build
 * the "zero page" (struct boot_params) ourselves from the image's setup
 * header, put the protected-mode part at 1 MiB, the command line and the
 * initrd where the kernel may find them, and enter the kernel at
 * code32_start in flat protected mode with a GDT holding __BOOT_CS (0x10)
 * and __BOOT_DS (0x18), and ESI = the zero page.
 *
 * Facts from the kernel's Documentation/arch/x86/boot.rst and
 * zero-page.rst.  Protocol 2.02 or later is required: older kernels need
 * the setup code to run in real mode.
 */
#include "loader.h"

#include <stdlib.h>
#include <string.h>

/* Offsets in the image's first sector and in boot_params (they coincide). */
enum {
	BP_EXT_MEM_K = 0x002,	    /* u16, in screen_info */
	BP_ALT_MEM_K = 0x1E0,	    /* u32 */
	BP_E820_ENTRIES = 0x1E8,    /* u8 */
	BP_SETUP_SECTS = 0x1F1,	    /* u8: the setup header starts here */
	BP_SYSSIZE = 0x1F4,	    /* u32, in 16-byte units */
	BP_JUMP = 0x200,	    /* EB xx: xx + 0x202 is the header's end */
	BP_VERSION = 0x206,	    /* u16 */
	BP_TYPE_OF_LOADER = 0x210,  /* u8 */
	BP_LOADFLAGS = 0x211,	    /* u8 */
	BP_CODE32_START = 0x214,    /* u32 */
	BP_RAMDISK_IMAGE = 0x218,   /* u32 */
	BP_RAMDISK_SIZE = 0x21C,    /* u32 */
	BP_HEAP_END_PTR = 0x224,    /* u16 */
	BP_CMD_LINE_PTR = 0x228,    /* u32 (2.02+) */
	BP_INITRD_ADDR_MAX = 0x22C, /* u32 (2.03+) */
	BP_CMDLINE_SIZE = 0x238,    /* u32 (2.06+) */
	BP_INIT_SIZE = 0x260,	    /* u32 (2.10+) */
	BP_E820_TABLE = 0x2D0,	    /* 20-byte entries */
	BP_SIZE = 0x1000,
};
#define E820_ENTRY_SIZE	 20
#define E820_MAX_ENTRIES 128

/* loadflags */
#define LOADED_HIGH  0x01
#define CAN_USE_HEAP 0x80

/* Where things go in guest memory. */
#define BOOT_PARAMS_ADDR 0x10000u /* the zero page */
#define GDT_ADDR	 0x11000u
#define CMDLINE_ADDR	 0x20000u
#define CMDLINE_END	 0x90000u /* keep clear of the EBDA */
#define KERNEL_ADDR	 0x100000u
#define PAGE		 4096u

/* The setup heap ends 0x200 below the end of a 64 KiB real-mode segment. */
#define HEAP_END_PTR 0xFE00u

/* Boot GDT: null, null, __BOOT_CS (flat code, execute/read), __BOOT_DS (flat data). */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
static const uint64_t boot_gdt[] = {
    0,
    0,
    0x00CF9B000000FFFFull,
    0x00CF93000000FFFFull,
};

/* What the setup header says, checked against the file. */
typedef struct Setup {
	uint16_t version;
	uint8_t loadflags;
	size_t hdr_end;	       /* end of the setup header in the image */
	size_t pm_off, pm_len; /* the protected-mode part */
	uint32_t code32_start, initrd_addr_max, cmdline_size;
	uint64_t init_size; /* what the kernel occupies from 1 MiB while it boots */
} Setup;

static bool parse_setup(const char *name, const uint8_t *img, size_t len, Setup *s, char *err)
{
	unsigned sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	uint64_t syssize;

	s->version = ld16(img + BP_VERSION);
	if (s->version < 0x202)
		return loader_fail(err, name,
				   "Linux boot protocol %u.%02u is too old (2.02 or later needed)",
				   s->version >> 8, s->version & 0xFF);
	s->hdr_end = 0x202 + (size_t)img[BP_JUMP + 1];
	s->pm_off = (size_t)(sects + 1) * 512;
	if (s->hdr_end < BP_CMD_LINE_PTR + 4)
		return loader_fail(err, name, "Linux setup header ends at 0x%zx, before its fields",
				   s->hdr_end);
	if (s->hdr_end > len || s->pm_off >= len)
		return loader_fail(err, name,
				   "truncated bzImage: setup (%zu bytes) not followed by a kernel "
				   "(file has %zu bytes)",
				   s->pm_off, len);
	s->loadflags = img[BP_LOADFLAGS];
	if (!(s->loadflags & LOADED_HIGH))
		return loader_fail(err, name,
				   "a zImage (loaded low) is not supported, only bzImage");
	s->pm_len = len - s->pm_off;
	/* syssize was 16 bits wide before protocol 2.04 */
	syssize = (s->version >= 0x204 ? ld32(img + BP_SYSSIZE) : ld16(img + BP_SYSSIZE)) * 16ull;
	/* syssize counts 16-byte paragraphs: a file may end inside the last one */
	if (syssize > ((s->pm_len + 15) & ~(size_t)15))
		return loader_fail(
		    err, name,
		    "truncated bzImage: the kernel needs %llu bytes after the setup, "
		    "the file has %zu",
		    (unsigned long long)syssize, s->pm_len);
	s->code32_start = ld32(img + BP_CODE32_START);
	s->initrd_addr_max = 0x37FFFFFF;
	if (s->version >= 0x203 && s->hdr_end >= BP_INITRD_ADDR_MAX + 4)
		s->initrd_addr_max = ld32(img + BP_INITRD_ADDR_MAX);
	s->cmdline_size = 255;
	if (s->version >= 0x206 && s->hdr_end >= BP_CMDLINE_SIZE + 4)
		s->cmdline_size = ld32(img + BP_CMDLINE_SIZE);
	s->init_size = s->pm_len;
	if (s->version >= 0x20A && s->hdr_end >= BP_INIT_SIZE + 4 &&
	    ld32(img + BP_INIT_SIZE) > s->init_size)
		s->init_size = ld32(img + BP_INIT_SIZE);
	return true;
}

/* The initrd as high as allowed, page aligned, above what the kernel needs. */
static bool place_initrd(Machine *m, const char *name, const Setup *s, uint8_t *bp,
			 const uint8_t *initrd, size_t initrd_len, char *err)
{
	uint64_t top = (uint64_t)s->initrd_addr_max + 1;
	uint64_t floor = KERNEL_ADDR + s->init_size, addr;

	if (top > m->ram_size)
		top = m->ram_size;
	if (initrd_len > top || (addr = (top - initrd_len) & ~(uint64_t)(PAGE - 1)) < floor)
		return loader_fail(err, name,
				   "initrd (%zu bytes) does not fit between the kernel (ends at "
				   "0x%llx) and 0x%llx (RAM %llu MiB, initrd_addr_max 0x%x)",
				   initrd_len, (unsigned long long)floor, (unsigned long long)top,
				   (unsigned long long)(m->ram_size >> 20), s->initrd_addr_max);
	loader_put(m, addr, initrd, initrd_len);
	st32(bp + BP_RAMDISK_IMAGE, (uint32_t)addr);
	st32(bp + BP_RAMDISK_SIZE, (uint32_t)initrd_len);
	return true;
}

/* The command line, cut to what the kernel accepts. */
static void place_cmdline(Machine *m, const char *name, const Setup *s, uint8_t *bp,
			  const char *cmdline)
{
	size_t len = strlen(cmdline), max = s->cmdline_size;

	if (max > CMDLINE_END - CMDLINE_ADDR - 1)
		max = CMDLINE_END - CMDLINE_ADDR - 1;
	if (len > max) {
		warn("%s: command line cut to %zu of its %zu bytes (the kernel takes no more)",
		     name, max, len);
		len = max;
	}
	loader_put(m, CMDLINE_ADDR, cmdline, len);
	loader_put(m, CMDLINE_ADDR + len, NULL, 1);
	st32(bp + BP_CMD_LINE_PTR, CMDLINE_ADDR);
}

static void fill_memory(Machine *m, uint8_t *bp)
{
	MemRange map[MEMMAP_MAX];
	size_t n = loader_memory_map(m, map);
	uint64_t ext_k = m->ram_size > KERNEL_ADDR ? (m->ram_size - KERNEL_ADDR) / 1024 : 0;

	st16(bp + BP_EXT_MEM_K, (uint16_t)(ext_k > 0xFFFF ? 0xFFFF : ext_k));
	st32(bp + BP_ALT_MEM_K, (uint32_t)ext_k);
	if (n > E820_MAX_ENTRIES)
		n = E820_MAX_ENTRIES;
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + i * E820_ENTRY_SIZE;

		st64(e, map[i].start);
		st64(e + 8, map[i].len);
		st32(e + 16, map[i].type);
	}
	bp[BP_E820_ENTRIES] = (uint8_t)n;
}

static void set_cpu(Machine *m, uint32_t entry)
{
	static const int zeroed[] = {R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_EDI};

	/* Protected mode, paging and interrupts off; then the protocol's selectors. */
	cpu_set_flat32(m->cpu, entry);
	loader_boot_gdt(m, GDT_ADDR, boot_gdt, ARRAY_SIZE(boot_gdt), BOOT_CS, BOOT_DS);
	for (size_t i = 0; i < ARRAY_SIZE(zeroed); i++)
		cpu_set_reg(m->cpu, zeroed[i], 0);
	cpu_set_reg(m->cpu, R_ESI, BOOT_PARAMS_ADDR);
	cpu_set_eip(m->cpu, entry);
}

bool load_linux(Machine *m, const char *name, const uint8_t *img, size_t len, const uint8_t *initrd,
		size_t initrd_len, const char *cmdline, char *err)
{
	uint8_t *bp;
	Setup s = {0};

	if (!parse_setup(name, img, len, &s, err))
		return false;
	if (m->ram_size < KERNEL_ADDR || s.init_size > m->ram_size - KERNEL_ADDR)
		return loader_fail(
		    err, name,
		    "RAM too small for the kernel: it needs %llu bytes from 1 MiB, "
		    "RAM (%llu MiB) has %llu",
		    (unsigned long long)s.init_size, (unsigned long long)(m->ram_size >> 20),
		    (unsigned long long)(m->ram_size > KERNEL_ADDR ? m->ram_size - KERNEL_ADDR
								   : 0));

	bp = xcalloc(1, BP_SIZE);
	memcpy(bp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, s.hdr_end - BP_SETUP_SECTS);
	bp[BP_TYPE_OF_LOADER] = 0xFF; /* a loader with no assigned id */
	bp[BP_LOADFLAGS] = s.loadflags | CAN_USE_HEAP;
	st16(bp + BP_HEAP_END_PTR, HEAP_END_PTR);
	st32(bp + BP_RAMDISK_IMAGE, 0);
	st32(bp + BP_RAMDISK_SIZE, 0);
	if (initrd && !place_initrd(m, name, &s, bp, initrd, initrd_len, err)) {
		free(bp);
		return false;
	}
	place_cmdline(m, name, &s, bp, cmdline);
	fill_memory(m, bp);
	loader_put(m, BOOT_PARAMS_ADDR, bp, BP_SIZE);
	loader_put(m, KERNEL_ADDR, img + s.pm_off, s.pm_len);
	free(bp);
	set_cpu(m, s.code32_start);
	return true;
}
