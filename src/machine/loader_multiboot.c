/*
 * loader_multiboot.c - multiboot v1 kernels (what GRUB legacy boots).
 *
 * The kernel is an ELF32 i386 executable, or any image whose multiboot
 * header carries its own load addresses (the "a.out kludge", header flag
 * bit 16).  Its segments go to their physical addresses, which must lie in
 * usable RAM; an initrd becomes the one boot module, page aligned above
 * the kernel; the boot information structure (memory sizes, command line,
 * modules, memory map, loader name) goes to low memory where the kernel is
 * not.  The CPU starts in flat 32-bit protected mode at the entry point
 * with EAX = 0x2BADB002 and EBX = the information structure, CS = 0x08 and
 * the data segments 0x10, from a GDT left in the BIOS area: GRUB legacy's
 * and QEMU's (its multiboot option ROM) five entries, so that a kernel that
 * never loads a GDT of its own can take interrupts and reload its segment
 * registers.  (The specification says the GDTR may be invalid; real
 * loaders leave a usable one, and small kernels rely on it.  GRUB 2 uses
 * 0x10 and 0x18 instead: a kernel hard-wired to those is one for GRUB 2.)  An entry
 * point outside the loaded image is refused, as GRUB refuses it: the CPU
 * would start in memory the kernel never filled (or none at all, and fault
 * before its first instruction after every reset).
 *
 * Facts from the Multiboot Specification, version 0.6.96.
 */
#include "loader.h"

#include <stdlib.h>
#include <string.h>

/* Header flags (the low 16 bits are requirements the loader must meet). */
#define MBH_PAGE_ALIGN	0x00000001u /* modules page aligned: we always do */
#define MBH_MEMORY_INFO 0x00000002u /* mem_* fields: we always give them */
#define MBH_VIDEO_MODE	0x00000004u /* video mode: ignored, text mode it is */
#define MBH_AOUT_KLUDGE 0x00010000u /* the header holds the load addresses */
#define MBH_KNOWN	(MBH_PAGE_ALIGN | MBH_MEMORY_INFO | MBH_VIDEO_MODE)

/* Boot information flags and layout. */
#define MBI_MEMORY  0x001u
#define MBI_CMDLINE 0x004u
#define MBI_MODS    0x008u
#define MBI_MMAP    0x040u
#define MBI_LOADER  0x200u

enum {
	MBI_FLAGS = 0,
	MBI_MEM_LOWER = 4,
	MBI_MEM_UPPER = 8,
	MBI_BOOT_DEVICE = 12,
	MBI_CMDLINE_PTR = 16,
	MBI_MODS_COUNT = 20,
	MBI_MODS_ADDR = 24,
	MBI_MMAP_LENGTH = 44,
	MBI_MMAP_ADDR = 48,
	MBI_LOADER_NAME = 64,
	MBI_SIZE = 120, /* through the framebuffer fields, all zero */
};

#define MB_MODULE_SIZE 16 /* mod_start, mod_end, string, reserved */
#define MB_MMAP_ENTRY  24 /* size (= 20), base_addr, length, type */
#define MB_LOADER_NAME "flashback"

/* Where the information structure goes if the kernel leaves it free. */
#define MBI_LOW_ADDR 0x9000u
#define HIGH_MEM     0x100000u
#define MB_PAGE	     4096u

/* ELF32 header and program header offsets. */
enum {
	EH_TYPE = 16,
	EH_MACHINE = 18,
	EH_ENTRY = 24,
	EH_PHOFF = 28,
	EH_PHENTSIZE = 42,
	EH_PHNUM = 44,
	EH_SIZE = 52,
	PH_TYPE = 0,
	PH_OFFSET = 4,
	PH_VADDR = 8,
	PH_PADDR = 12,
	PH_FILESZ = 16,
	PH_MEMSZ = 20,
	PH_SIZE = 32,
};
#define ET_EXEC 2
#define EM_386	3
#define PT_LOAD 1

/* A piece of the image to put in RAM: @filesz bytes from the file, then zeros. */
typedef struct Segment {
	uint64_t addr, filesz, memsz;
	const uint8_t *data;
} Segment;

/* What the kernel occupies, and where it starts. */
typedef struct Kernel {
	Segment *seg;
	size_t nseg, cap;
	uint32_t entry;
	uint64_t end; /* highest end of any segment */
} Kernel;

static void add_segment(Kernel *k, Segment s)
{
	if (k->nseg == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 8;
		k->seg = xrealloc(k->seg, k->cap * sizeof(*k->seg));
	}
	k->seg[k->nseg++] = s;
	if (s.addr + s.memsz > k->end)
		k->end = s.addr + s.memsz;
}

/* Checks a segment's destination, with the address range in the message. */
static bool check_in_ram(Machine *m, const char *name, const Segment *s, char *err)
{
	if (loader_usable(m, s->addr, s->memsz))
		return true;
	return loader_fail(
	    err, name, "segment 0x%llx-0x%llx is outside usable RAM (0-0x%llx, 0x%x-0x%llx)",
	    (unsigned long long)s->addr, (unsigned long long)(s->addr + s->memsz - 1),
	    (unsigned long long)loader_usable_at(m, 0) - 1, HIGH_MEM,
	    (unsigned long long)(m->ram_size > HIGH_MEM ? m->ram_size - 1 : HIGH_MEM));
}

/*
 * e_entry is a virtual address; paging is off at entry, so a kernel linked
 * higher than it is loaded (p_vaddr != p_paddr) is entered at the physical
 * address of its entry point, found in the segment that holds it.
 */
static void entry_to_physical(Kernel *k, uint32_t vaddr, const Segment *s, uint32_t entry)
{
	if (vaddr != s->addr && entry >= vaddr && entry - vaddr < s->memsz && k->entry == entry)
		k->entry = (uint32_t)(s->addr + (entry - vaddr));
}

/* The PT_LOAD segments of an ELF32 i386 executable. */
static bool parse_elf(Machine *m, const char *name, const uint8_t *img, size_t len, Kernel *k,
		      char *err)
{
	static const uint8_t ident[7] = {0x7F, 'E', 'L', 'F', 1 /* 32-bit */, 1 /* LSB */, 1};
	uint64_t phoff, phentsize, phnum;
	uint32_t entry;

	if (len < EH_SIZE || memcmp(img, ident, sizeof(ident)))
		return loader_fail(
		    err, name,
		    "multiboot kernel is not a 32-bit little-endian ELF file and its "
		    "header has no load addresses (flag bit 16)");
	if (ld16(img + EH_TYPE) != ET_EXEC || ld16(img + EH_MACHINE) != EM_386)
		return loader_fail(err, name,
				   "ELF file is not an i386 executable (type %u, machine %u)",
				   ld16(img + EH_TYPE), ld16(img + EH_MACHINE));
	phoff = ld32(img + EH_PHOFF);
	phentsize = ld16(img + EH_PHENTSIZE);
	phnum = ld16(img + EH_PHNUM);
	if (phnum == 0 || phentsize < PH_SIZE)
		return loader_fail(err, name, "ELF file has no usable program headers");
	if (phoff > len || phnum * phentsize > len - phoff)
		return loader_fail(err, name,
				   "ELF program headers at 0x%llx-0x%llx run past the end of the "
				   "file (%zu bytes)",
				   (unsigned long long)phoff,
				   (unsigned long long)(phoff + phnum * phentsize), len);
	entry = ld32(img + EH_ENTRY);
	k->entry = entry;
	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *ph = img + phoff + i * phentsize;
		uint64_t off = ld32(ph + PH_OFFSET);
		Segment s = {ld32(ph + PH_PADDR), ld32(ph + PH_FILESZ), ld32(ph + PH_MEMSZ), NULL};

		if (ld32(ph + PH_TYPE) != PT_LOAD || s.memsz == 0)
			continue;
		if (s.filesz > s.memsz)
			return loader_fail(
			    err, name,
			    "ELF segment %llu has more file bytes (0x%llx) than memory "
			    "bytes (0x%llx)",
			    (unsigned long long)i, (unsigned long long)s.filesz,
			    (unsigned long long)s.memsz);
		if (off > len || s.filesz > len - off)
			return loader_fail(
			    err, name,
			    "ELF segment %llu (file 0x%llx-0x%llx) runs past the end of "
			    "the file (%zu bytes)",
			    (unsigned long long)i, (unsigned long long)off,
			    (unsigned long long)(off + s.filesz), len);
		if (!check_in_ram(m, name, &s, err))
			return false;
		s.data = img + off;
		add_segment(k, s);
		entry_to_physical(k, ld32(ph + PH_VADDR), &s, entry);
	}
	if (!k->nseg)
		return loader_fail(err, name, "ELF file has no loadable segment");
	return true;
}

/* The one segment described by the header's address fields (flag bit 16). */
static bool parse_aout(Machine *m, const char *name, const uint8_t *img, size_t len, size_t hdr_off,
		       Kernel *k, char *err)
{
	const uint8_t *h = img + hdr_off;
	uint64_t header_addr, load_addr, load_end, bss_end, file_off;
	Segment s;

	if (hdr_off + 32 > len || hdr_off + 32 > MULTIBOOT_SEARCH)
		return loader_fail(
		    err, name, "multiboot header at 0x%zx: its address fields run past %s", hdr_off,
		    hdr_off + 32 > len ? "the end of the file" : "the first 8 KiB");
	header_addr = ld32(h + 12);
	load_addr = ld32(h + 16);
	load_end = ld32(h + 20);
	bss_end = ld32(h + 24);
	k->entry = ld32(h + 28);
	if (header_addr < load_addr || header_addr - load_addr > hdr_off)
		return loader_fail(err, name,
				   "multiboot header_addr 0x%llx and load_addr 0x%llx do not match "
				   "the header's offset 0x%zx in the file",
				   (unsigned long long)header_addr, (unsigned long long)load_addr,
				   hdr_off);
	file_off = hdr_off - (header_addr - load_addr);
	if (!load_end)
		load_end = load_addr + (len - file_off);
	if (load_end < load_addr || load_end - load_addr > len - file_off)
		return loader_fail(err, name,
				   "multiboot load_end_addr 0x%llx needs 0x%llx bytes of the file "
				   "from offset 0x%llx, the file has %zu",
				   (unsigned long long)load_end,
				   (unsigned long long)(load_end - load_addr),
				   (unsigned long long)file_off, len);
	if (!bss_end)
		bss_end = load_end;
	if (bss_end < load_end)
		return loader_fail(err, name,
				   "multiboot bss_end_addr 0x%llx is below load_end_addr 0x%llx",
				   (unsigned long long)bss_end, (unsigned long long)load_end);
	s = (Segment){load_addr, load_end - load_addr, bss_end - load_addr, img + file_off};
	if (!s.memsz)
		return loader_fail(err, name, "multiboot header describes an empty image");
	if (!check_in_ram(m, name, &s, err))
		return false;
	add_segment(k, s);
	return true;
}

/*
 * The lowest @align-aligned address >= @lo where @size bytes overlap no
 * kernel segment and end by @hi; 0 if there is none.
 */
static uint64_t find_free(const Kernel *k, uint64_t size, uint64_t lo, uint64_t hi, uint64_t align)
{
	uint64_t a = align_up(lo, align);
	bool moved = true;

	while (moved) {
		moved = false;
		for (size_t i = 0; i < k->nseg; i++) {
			const Segment *s = &k->seg[i];

			if (a < s->addr + s->memsz && s->addr < a + size) {
				a = align_up(s->addr + s->memsz, align);
				moved = true;
			}
		}
	}
	return a + size <= hi ? a : 0;
}

/* The boot information structure, built in a host buffer before it is placed. */
typedef struct Info {
	uint8_t *buf;
	size_t len;
} Info;

/* Append @n bytes (4-byte aligned); returns their offset in the structure. */
static size_t info_add(Info *info, const void *data, size_t n)
{
	size_t off = align_up(info->len, 4);

	info->buf = xrealloc(info->buf, off + n);
	memset(info->buf + info->len, 0, off - info->len);
	if (data)
		memcpy(info->buf + off, data, n);
	else
		memset(info->buf + off, 0, n);
	info->len = off + n;
	return off;
}

/* The pointer fields, relative to the structure until it has an address. */
typedef struct InfoLayout {
	size_t cmdline, mods, mod_string, mmap, mmap_len, loader;
} InfoLayout;

static void build_info(Machine *m, Info *info, InfoLayout *lay, const char *cmdline,
		       const char *mod_string, bool have_module)
{
	MemRange map[MEMMAP_MAX];
	size_t n = loader_memory_map(m, map);

	info_add(info, NULL, MBI_SIZE);
	lay->cmdline = info_add(info, cmdline, strlen(cmdline) + 1);
	if (have_module) {
		lay->mods = info_add(info, NULL, MB_MODULE_SIZE);
		lay->mod_string = info_add(info, mod_string, strlen(mod_string) + 1);
	}
	lay->mmap_len = n * MB_MMAP_ENTRY;
	lay->mmap = info_add(info, NULL, lay->mmap_len);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = info->buf + lay->mmap + i * MB_MMAP_ENTRY;

		st32(e, MB_MMAP_ENTRY - 4);
		st64(e + 4, map[i].start);
		st64(e + 12, map[i].len);
		st32(e + 20, map[i].type);
	}
	lay->loader = info_add(info, MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
}

/* Fill in the fields that hold addresses, now that the structure is at @at. */
static void link_info(Machine *m, Info *info, const InfoLayout *lay, uint32_t at, bool have_module,
		      uint32_t mod_start, uint32_t mod_end)
{
	uint8_t *b = info->buf;
	uint32_t flags = MBI_MEMORY | MBI_CMDLINE | MBI_MMAP | MBI_LOADER;

	st32(b + MBI_MEM_LOWER, (uint32_t)(loader_usable_at(m, 0) / 1024));
	st32(b + MBI_MEM_UPPER, (uint32_t)(loader_usable_at(m, HIGH_MEM) / 1024));
	st32(b + MBI_CMDLINE_PTR, at + (uint32_t)lay->cmdline);
	if (have_module) {
		flags |= MBI_MODS;
		st32(b + MBI_MODS_COUNT, 1);
		st32(b + MBI_MODS_ADDR, at + (uint32_t)lay->mods);
		st32(b + lay->mods, mod_start);
		st32(b + lay->mods + 4, mod_end);
		st32(b + lay->mods + 8, at + (uint32_t)lay->mod_string);
	}
	st32(b + MBI_MMAP_LENGTH, (uint32_t)lay->mmap_len);
	st32(b + MBI_MMAP_ADDR, at + (uint32_t)lay->mmap);
	st32(b + MBI_LOADER_NAME, at + (uint32_t)lay->loader);
	st32(b + MBI_FLAGS, flags);
}

/* The entry point must lie in a segment (physical: entry_to_physical). */
static bool check_entry(const char *name, const Kernel *k, char *err)
{
	for (size_t i = 0; i < k->nseg; i++)
		if (k->entry >= k->seg[i].addr && k->entry - k->seg[i].addr < k->seg[i].memsz)
			return true;
	return loader_fail(err, name, "entry point 0x%x is outside every loaded segment", k->entry);
}

static bool parse_kernel(Machine *m, const char *name, const uint8_t *img, size_t len,
			 size_t hdr_off, Kernel *k, char *err)
{
	uint32_t flags = ld32(img + hdr_off + 4);
	bool ok;

	if (flags & 0xFFFF & ~MBH_KNOWN)
		return loader_fail(err, name,
				   "multiboot header requires features 0x%x this loader does not "
				   "provide",
				   flags & 0xFFFF & ~MBH_KNOWN);
	if (flags & MBH_AOUT_KLUDGE)
		ok = parse_aout(m, name, img, len, hdr_off, k, err);
	else
		ok = parse_elf(m, name, img, len, k, err);
	return ok && check_entry(name, k, err);
}

/* Segments to RAM (already checked to fit), bss zeroed. */
static void place_kernel(Machine *m, const Kernel *k)
{
	for (size_t i = 0; i < k->nseg; i++) {
		const Segment *s = &k->seg[i];

		loader_put(m, s->addr, s->data, s->filesz);
		loader_put(m, s->addr + s->filesz, NULL, s->memsz - s->filesz);
	}
}

/* GRUB legacy's and QEMU's GDT: null, flat 32-bit code (0x08) and data
 * (0x10), 64 KiB 16-bit code (0x18) and data (0x20). */
static const uint64_t boot_gdt[] = {
    0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull, 0x00009E000000FFFFull, 0x000092000000FFFFull,
};
#define BOOT_CS 0x08
#define BOOT_DS 0x10

static void set_cpu(Machine *m, uint32_t entry, uint32_t info_addr)
{
	static const int zeroed[] = {R_ECX, R_EDX, R_ESP, R_EBP, R_ESI, R_EDI};

	cpu_set_flat32(m->cpu, entry);
	loader_boot_gdt(m, FW_MB_GDT, boot_gdt, ARRAY_SIZE(boot_gdt), BOOT_CS, BOOT_DS);
	for (size_t i = 0; i < ARRAY_SIZE(zeroed); i++)
		cpu_set_reg(m->cpu, zeroed[i], 0);
	cpu_set_reg(m->cpu, R_EAX, MULTIBOOT_BOOT_MAGIC);
	cpu_set_reg(m->cpu, R_EBX, info_addr);
}

bool load_multiboot(Machine *m, const char *name, const uint8_t *img, size_t len, size_t hdr_off,
		    const uint8_t *initrd, size_t initrd_len, const char *cmdline, char *err)
{
	Kernel k = {0};
	Info info = {0};
	InfoLayout lay = {0};
	bool have_module = initrd != NULL;
	uint64_t high_end = HIGH_MEM + loader_usable_at(m, HIGH_MEM);
	uint64_t mod = 0, at;
	bool ok = false;

	if (!parse_kernel(m, name, img, len, hdr_off, &k, err))
		goto out;
	if (have_module) {
		uint64_t lo = k.end > HIGH_MEM ? k.end : HIGH_MEM;

		mod = find_free(&k, initrd_len, lo, high_end, MB_PAGE);
		if (!mod) {
			loader_fail(err, name,
				    "initrd (%zu bytes) does not fit in RAM above the kernel "
				    "(kernel ends at 0x%llx, RAM at 0x%llx)",
				    initrd_len, (unsigned long long)k.end,
				    (unsigned long long)m->ram_size);
			goto out;
		}
		/* The info structure must not land on the module either. */
		add_segment(&k, (Segment){mod, initrd_len, initrd_len, initrd});
	}
	build_info(m, &info, &lay, cmdline, m->opt.initrd ? m->opt.initrd : "initrd", have_module);
	at = find_free(&k, info.len, MBI_LOW_ADDR, loader_usable_at(m, 0), 4);
	if (!at)
		at = find_free(&k, info.len, k.end > HIGH_MEM ? k.end : HIGH_MEM, high_end, 4);
	if (!at) {
		loader_fail(err, name, "no room in RAM for the multiboot information (%zu bytes)",
			    info.len);
		goto out;
	}
	link_info(m, &info, &lay, (uint32_t)at, have_module, (uint32_t)mod,
		  (uint32_t)(mod + initrd_len));
	place_kernel(m, &k);
	loader_put(m, at, info.buf, info.len);
	set_cpu(m, k.entry, (uint32_t)at);
	ok = true;
out:
	free(k.seg);
	free(info.buf);
	return ok;
}
