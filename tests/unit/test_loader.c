/*
 * test_loader.c - the kernel and BIOS loaders, driven through load_kernel()
 * and load_bios() on a machine built by hand (RAM, an address space and a
 * CPU whose bus does nothing).
 *
 * Kernels are made here byte by byte: a multiboot ELF, an a.out-kludge
 * image, a bzImage with a setup header.  The tests read back what landed in
 * guest RAM, the boot information the kernel would see, and the CPU state;
 * and feed broken images, each of which must be refused with a message
 * naming the file.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/machine/machine.h"
#include "unit.h"

#define RAM_SIZE (16u << 20)

/* ---- a machine with RAM and a CPU only ------------------------------- */

static uint32_t no_io_read(void *o, uint16_t port, unsigned size)
{
	return 0xFFFFFFFFu;
}
static void no_io_write(void *o, uint16_t port, uint32_t value, unsigned size)
{
}
static uint64_t no_mmio_read(void *o, uint64_t addr, unsigned size)
{
	return ~0ull;
}
static void no_mmio_write(void *o, uint64_t addr, uint64_t value, unsigned size)
{
}
static int no_intack(void *o)
{
	return 0;
}
static uint64_t no_rdtsc(void *o)
{
	return 0;
}
static bool no_msr_read(void *o, uint32_t msr, uint64_t *value)
{
	return false;
}
static bool no_msr_write(void *o, uint32_t msr, uint64_t value)
{
	return false;
}

static Machine *machine_make(uint64_t ram_size)
{
	Machine *m = calloc(1, sizeof(*m));
	CPUBus bus;

	m->sysmem = mr_container("system", 1ull << 32);
	m->memory = as_new("memory", m->sysmem);
	m->ram_size = ram_size;
	m->ram = mr_ram("pc.ram", ram_size);
	m->ram_host = mr_host(m->ram);
	mr_add(m->sysmem, m->ram, 0, 0);
	bus = (CPUBus){.opaque = m,
		       .memory = m->memory,
		       .io_read = no_io_read,
		       .io_write = no_io_write,
		       .mmio_read = no_mmio_read,
		       .mmio_write = no_mmio_write,
		       .intack = no_intack,
		       .rdtsc = no_rdtsc,
		       .rdmsr = no_msr_read,
		       .wrmsr = no_msr_write};
	m->cpu = cpu_new(&bus);
	return m;
}

static void machine_drop(Machine *m)
{
	as_free(m->memory);
	mr_free(m->sysmem);
	cpu_free(m->cpu);
	free(m);
}

/* A refused image: false, and a message that starts with the file name. */
#define CHECK_REFUSED(ok, err, name)                                                               \
	do {                                                                                       \
		CHECK(!(ok));                                                                      \
		CHECK(strncmp((err), (name), strlen(name)) == 0);                                  \
		CHECK(strlen(err) > strlen(name) + 2);                                             \
	} while (0)

static uint32_t ram32(Machine *m, uint64_t addr)
{
	return ld32(m->ram_host + addr);
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/*
 * load_kernel() on an exact-size heap copy of @img[0..len), so that the
 * sanitizer catches any read past the end of a truncated file.
 */
static bool load_copy(Machine *m, const char *name, const uint8_t *img, size_t len,
		      const uint8_t *initrd, size_t initrd_len, char *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	bool ok;

	memcpy(copy, img, len);
	ok = load_kernel(m, name, copy, len, initrd, initrd_len, "", err);
	free(copy);
	return ok;
}

/* ---- building kernels ------------------------------------------------- */

static void put_multiboot_header(uint8_t *p, uint32_t flags)
{
	st32(p, 0x1BADB002u);
	st32(p + 4, flags);
	st32(p + 8, (uint32_t) - (0x1BADB002u + flags));
}

typedef struct Phdr {
	uint32_t type, offset, paddr, filesz, memsz;
} Phdr;

/* An ELF32 i386 executable: header, program headers at 52, multiboot header at 0x100. */
static void make_elf(uint8_t *img, uint32_t entry, const Phdr *ph, unsigned nph)
{
	static const uint8_t ident[16] = {0x7F, 'E', 'L', 'F', 1, 1, 1};

	memcpy(img, ident, sizeof(ident));
	st16(img + 16, 2); /* ET_EXEC */
	st16(img + 18, 3); /* EM_386 */
	st32(img + 20, 1);
	st32(img + 24, entry);
	st32(img + 28, 52); /* e_phoff */
	st16(img + 40, 52); /* e_ehsize */
	st16(img + 42, 32); /* e_phentsize */
	st16(img + 44, (uint16_t)nph);
	for (unsigned i = 0; i < nph; i++) {
		uint8_t *p = img + 52 + 32 * i;

		st32(p, ph[i].type);
		st32(p + 4, ph[i].offset);
		st32(p + 8, ph[i].paddr);
		st32(p + 12, ph[i].paddr);
		st32(p + 16, ph[i].filesz);
		st32(p + 20, ph[i].memsz);
	}
	put_multiboot_header(img + 0x100, 0x3);
}

/* ---- multiboot --------------------------------------------------------- */

/* The memory map a 16 MiB PC reports, with a BIOS of @bios bytes (0 = none). */
static size_t expected_map(uint64_t (*e)[3], uint64_t bios)
{
	const uint64_t rows[][3] = {
	    {0, 0x9FC00, 1},	     {0x9FC00, 0x400, 2},
	    {0xF0000, 0x10000, 2},   {0x100000, RAM_SIZE - 0x100000, 1},
	    {0xFEC00000, 0x1000, 2}, {0xFED00000, 0x400, 2},
	    {0xFEE00000, 0x1000, 2},
	};
	size_t n = ARRAY_SIZE(rows);

	memcpy(e, rows, sizeof(rows));
	if (bios) {
		e[n][0] = (1ull << 32) - bios;
		e[n][1] = bios;
		e[n][2] = 2;
		n++;
	}
	return n;
}

static void check_mmap(Machine *m, uint32_t info, uint64_t bios)
{
	uint64_t e[9][3];
	size_t n = expected_map(e, bios);
	uint32_t addr = ram32(m, info + 48), len = ram32(m, info + 44);

	CHECK_EQ(len, n * 24);
	for (size_t i = 0; i < n && (i + 1) * 24 <= len; i++) {
		const uint8_t *p = m->ram_host + addr + 24 * i;

		CHECK_EQ(ld32(p), 20);
		CHECK_EQ(ld64(p + 4), e[i][0]);
		CHECK_EQ(ld64(p + 12), e[i][1]);
		CHECK_EQ(ld32(p + 20), e[i][2]);
	}
}

static void test_multiboot_elf(void)
{
	Machine *m = machine_make(RAM_SIZE);
	static uint8_t img[0x1120];
	uint8_t initrd[5000];
	const Phdr ph[] = {
	    {1, 0x1000, 0x100000, 0x100, 0x100},
	    {4, 0x1000, 0x40000000, 0x10, 0x10}, /* PT_NOTE: not loaded */
	    {1, 0x1100, 0x102000, 0x20, 0x1000}, /* data + bss */
	};
	char err[256] = "";
	const char *cmd = "console=ttyS0 quiet";
	uint32_t info, mods, mod_start, mod_end;
	bool ok;

	fill_pattern(img, sizeof(img), 1);
	make_elf(img, 0x100010, ph, ARRAY_SIZE(ph));
	fill_pattern(initrd, sizeof(initrd), 2);
	memset(m->ram_host + 0x100100, 0xCC, 0x1F00); /* a gap: stays as it is */
	memset(m->ram_host + 0x102000, 0xCC, 0x1000); /* bss must be cleared */

	ok = load_kernel(m, "mb.elf", img, sizeof(img), initrd, sizeof(initrd), cmd, err);
	CHECK(ok);
	if (!ok) {
		fprintf(stderr, "  %s\n", err);
		machine_drop(m);
		return;
	}
	CHECK(!memcmp(m->ram_host + 0x100000, img + 0x1000, 0x100));
	CHECK(!memcmp(m->ram_host + 0x102000, img + 0x1100, 0x20));
	for (uint32_t a = 0x102020; a < 0x103000; a++)
		if (m->ram_host[a]) {
			CHECK_EQ(a, 0); /* bss byte not zeroed */
			break;
		}
	CHECK_EQ(m->ram_host[0x100100], 0xCC); /* nothing between the segments */
	CHECK_EQ(m->ram_host[0x101FFF], 0xCC);

	/* CPU: flat protected mode at the entry, the multiboot registers */
	CHECK_EQ(cpu_get_eip(m->cpu), 0x100010);
	CHECK_EQ(cpu_get_reg(m->cpu, R_EAX), 0x2BADB002);
	info = cpu_get_reg(m->cpu, R_EBX);
	CHECK_EQ(info, 0x9000);
	for (int r = R_ECX; r <= R_EDI; r++)
		if (r != R_EBX)
			CHECK_EQ(cpu_get_reg(m->cpu, r), 0);
	CHECK(cpu_get_cr(m->cpu, 0) & CR0_PE);
	CHECK(!(cpu_get_cr(m->cpu, 0) & CR0_PG));
	CHECK(!(cpu_get_eflags(m->cpu) & F_IF));
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).base, 0);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).limit, 0xFFFFFFFF);
	CHECK_EQ(cpu_get_seg(m->cpu, S_DS).limit, 0xFFFFFFFF);
	/* GRUB legacy's and QEMU's selectors, from a GDT left in the BIOS area */
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).sel, 0x08);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).attr, 0xC09B);
	for (int s = S_ES; s <= S_GS; s++)
		if (s != S_CS) {
			CHECK_EQ(cpu_get_seg(m->cpu, s).sel, 0x10);
			CHECK_EQ(cpu_get_seg(m->cpu, s).attr, 0xC093);
		}
	CHECK_EQ(cpu_get_gdtr(m->cpu).base, 0xF0000);
	CHECK_EQ(cpu_get_gdtr(m->cpu).limit, 39);
	CHECK_EQ(ld64(m->ram_host + 0xF0000), 0);
	CHECK_EQ(ld64(m->ram_host + 0xF0008), 0x00CF9B000000FFFFull);
	CHECK_EQ(ld64(m->ram_host + 0xF0010), 0x00CF93000000FFFFull);

	/* The information structure */
	CHECK_EQ(ram32(m, info) & 0x24D, 0x24D); /* mem, cmdline, mods, mmap, loader */
	CHECK_EQ(ram32(m, info + 4), 639);
	CHECK_EQ(ram32(m, info + 8), (RAM_SIZE - 0x100000) / 1024);
	CHECK(!strcmp((char *)m->ram_host + ram32(m, info + 16), cmd));
	CHECK_EQ(ram32(m, info + 20), 1);
	mods = ram32(m, info + 24);
	mod_start = ram32(m, mods);
	mod_end = ram32(m, mods + 4);
	CHECK_EQ(mod_start % 4096, 0);
	CHECK(mod_start >= 0x103000);
	CHECK_EQ(mod_end - mod_start, sizeof(initrd));
	CHECK(mod_end <= RAM_SIZE && !memcmp(m->ram_host + mod_start, initrd, sizeof(initrd)));
	CHECK(!strcmp((char *)m->ram_host + ram32(m, mods + 8), "initrd"));
	check_mmap(m, info, 0);
	CHECK(!strcmp((char *)m->ram_host + ram32(m, info + 64), "flashback"));
	machine_drop(m);
}

/* A kernel with a low segment over 0x9000: the information must go elsewhere. */
static void test_multiboot_info_collision(void)
{
	Machine *m = machine_make(RAM_SIZE);
	static uint8_t img[0x2000];
	const Phdr ph[] = {{1, 0x1000, 0x8800, 0x1000, 0x1000}};
	char err[256] = "";
	uint32_t info, end;
	bool ok;

	fill_pattern(img, sizeof(img), 3);
	make_elf(img, 0x8800, ph, 1);
	ok = load_kernel(m, "low.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK(ok);
	info = cpu_get_reg(m->cpu, R_EBX);
	CHECK(info >= 0x9800);
	/* Still intact: the segment, and the whole structure outside it */
	CHECK(!memcmp(m->ram_host + 0x8800, img + 0x1000, 0x1000));
	end = ram32(m, info + 64) + sizeof("flashback");
	CHECK(end > info && (info >= 0x9800 || end <= 0x8800));
	CHECK(!(ram32(m, info) & 0x8)); /* no module without an initrd */
	CHECK(!strcmp((char *)m->ram_host + ram32(m, info + 16), ""));

	/* Linked at 0xC0008800, loaded at 0x8800: entered at the physical address */
	st32(img + 52 + 8, 0xC0008800);
	st32(img + 24, 0xC0008810);
	ok = load_kernel(m, "high.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK(ok);
	CHECK_EQ(cpu_get_eip(m->cpu), 0x8810);
	machine_drop(m);
}

static void test_multiboot_aout(void)
{
	Machine *m = machine_make(RAM_SIZE);
	uint8_t img[0x300];
	uint8_t *h = img + 0x40;
	const uint32_t load = 0x200000;
	char err[256] = "";
	bool ok;

	fill_pattern(img, sizeof(img), 4);
	memset(img, 0x7F, 4); /* looks nothing like ELF: the header's fields decide */
	put_multiboot_header(h, 0x00010002);
	st32(h + 12, load + 0x40);   /* header_addr */
	st32(h + 16, load);	     /* load_addr */
	st32(h + 20, load + 0x200);  /* load_end_addr: the rest of the file stays out */
	st32(h + 24, load + 0x1000); /* bss_end_addr */
	st32(h + 28, load + 0x60);   /* entry_addr */
	memset(m->ram_host + load, 0xEE, 0x2000);

	ok = load_kernel(m, "aout.bin", img, sizeof(img), NULL, 0, "x", err);
	CHECK(ok);
	CHECK(!memcmp(m->ram_host + load, img, 0x200));
	CHECK_EQ(m->ram_host[load + 0x200], 0);
	CHECK_EQ(m->ram_host[load + 0xFFF], 0);
	CHECK_EQ(m->ram_host[load + 0x1000], 0xEE);
	CHECK_EQ(cpu_get_eip(m->cpu), load + 0x60);
	CHECK_EQ(cpu_get_reg(m->cpu, R_EAX), 0x2BADB002);
	CHECK(!strcmp((char *)m->ram_host + ram32(m, cpu_get_reg(m->cpu, R_EBX) + 16), "x"));

	/* header_addr - load_addr larger than the header's offset: refused */
	st32(h + 16, load - 0x1000);
	ok = load_kernel(m, "aout.bin", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "aout.bin");
	/* load_end_addr past the end of the file: refused */
	st32(h + 16, load);
	st32(h + 20, load + 0x400);
	ok = load_kernel(m, "aout.bin", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "aout.bin");
	machine_drop(m);
}

/* ---- Linux ------------------------------------------------------------- */

#define BZ_SETUP_SECTS 4
#define BZ_PM_OFF      ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD     0x2000

/* A bzImage: boot sector, setup header of protocol @version, payload. */
static uint8_t *make_bzimage(size_t *len, uint16_t version, uint32_t init_size)
{
	uint8_t *img;

	*len = BZ_PM_OFF + BZ_PAYLOAD;
	img = calloc(1, *len);
	fill_pattern(img + BZ_PM_OFF, BZ_PAYLOAD, 5);
	img[0x1F1] = BZ_SETUP_SECTS;
	st32(img + 0x1F4, BZ_PAYLOAD / 16); /* syssize */
	st16(img + 0x1FE, 0xAA55);
	img[0x200] = 0xEB;
	img[0x201] = 0x66; /* header ends at 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	st16(img + 0x206, version);
	img[0x211] = 0x01;	     /* LOADED_HIGH */
	st32(img + 0x214, 0x100000); /* code32_start */
	st32(img + 0x22C, 0x7FFFFF); /* initrd_addr_max: below 8 MiB */
	st32(img + 0x238, 2047);     /* cmdline_size */
	st32(img + 0x260, init_size);
	img[0x270] = 0x5A; /* past the header: must not reach boot_params */
	return img;
}

static void test_linux(void)
{
	Machine *m = machine_make(RAM_SIZE);
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x20F, 0x300000);
	uint8_t initrd[10000];
	const char *cmd = "console=ttyS0 root=/dev/ram0";
	char err[256] = "";
	uint32_t bp, rd, rd_size, gdt_base;
	uint64_t e[9][3];
	size_t n;
	DescTable gdtr;
	bool ok;

	fill_pattern(initrd, sizeof(initrd), 6);
	ok = load_kernel(m, "bzImage", img, len, initrd, sizeof(initrd), cmd, err);
	CHECK(ok);
	if (!ok) {
		fprintf(stderr, "  %s\n", err);
		goto out;
	}
	CHECK(!memcmp(m->ram_host + 0x100000, img + BZ_PM_OFF, BZ_PAYLOAD));

	bp = cpu_get_reg(m->cpu, R_ESI);
	CHECK(bp > 0 && bp + 4096 <= 0x9FC00);
	CHECK_EQ(m->ram_host[bp + 0x1F1], BZ_SETUP_SECTS);
	CHECK_EQ(ld16(m->ram_host + bp + 0x1FE), 0xAA55);
	CHECK(!memcmp(m->ram_host + bp + 0x202, "HdrS", 4));
	CHECK_EQ(ld16(m->ram_host + bp + 0x206), 0x20F);
	CHECK_EQ(ram32(m, bp + 0x214), 0x100000);
	CHECK_EQ(m->ram_host[bp + 0x270], 0);
	CHECK_EQ(m->ram_host[bp + 0x210], 0xFF);    /* type_of_loader */
	CHECK_EQ(m->ram_host[bp + 0x211], 0x81);    /* LOADED_HIGH | CAN_USE_HEAP */
	CHECK(ld16(m->ram_host + bp + 0x224) != 0); /* heap_end_ptr */
	CHECK(!strcmp((char *)m->ram_host + ram32(m, bp + 0x228), cmd));

	rd = ram32(m, bp + 0x218);
	rd_size = ram32(m, bp + 0x21C);
	CHECK_EQ(rd_size, sizeof(initrd));
	CHECK_EQ(rd % 4096, 0);
	CHECK(rd + rd_size <= 0x800000);       /* initrd_addr_max */
	CHECK(rd + rd_size > 0x800000 - 4096); /* as high as it may go */
	CHECK(rd >= 0x100000 + 0x300000);      /* above init_size */
	CHECK(!memcmp(m->ram_host + rd, initrd, sizeof(initrd)));

	CHECK_EQ(ld16(m->ram_host + bp + 0x002), (RAM_SIZE - 0x100000) / 1024);
	CHECK_EQ(ram32(m, bp + 0x1E0), (RAM_SIZE - 0x100000) / 1024);
	n = expected_map(e, 0);
	CHECK_EQ(m->ram_host[bp + 0x1E8], n);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = m->ram_host + bp + 0x2D0 + 20 * i;

		CHECK_EQ(ld64(p), e[i][0]);
		CHECK_EQ(ld64(p + 8), e[i][1]);
		CHECK_EQ(ld32(p + 16), e[i][2]);
	}

	/* The 32-bit boot protocol's CPU state */
	gdtr = cpu_get_gdtr(m->cpu);
	gdt_base = gdtr.base;
	CHECK(gdtr.limit >= 0x1F);
	CHECK_EQ(ld64(m->ram_host + gdt_base + 0x10), 0x00CF9B000000FFFFull);
	CHECK_EQ(ld64(m->ram_host + gdt_base + 0x18), 0x00CF93000000FFFFull);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).sel, 0x10);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).base, 0);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).limit, 0xFFFFFFFF);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).attr & 0x0F, 0xB);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).attr & 0x4000, 0x4000); /* 32-bit */
	for (int s = S_ES; s <= S_DS; s++) {
		if (s == S_CS)
			continue;
		CHECK_EQ(cpu_get_seg(m->cpu, s).sel, 0x18);
		CHECK_EQ(cpu_get_seg(m->cpu, s).base, 0);
		CHECK_EQ(cpu_get_seg(m->cpu, s).limit, 0xFFFFFFFF);
		CHECK_EQ(cpu_get_seg(m->cpu, s).attr & 0x0F, 0x3);
	}
	CHECK(cpu_get_cr(m->cpu, 0) & CR0_PE);
	CHECK(!(cpu_get_cr(m->cpu, 0) & CR0_PG));
	CHECK(!(cpu_get_eflags(m->cpu) & F_IF));
	CHECK_EQ(cpu_get_eip(m->cpu), 0x100000);
	CHECK_EQ(cpu_get_reg(m->cpu, R_EBP), 0);
	CHECK_EQ(cpu_get_reg(m->cpu, R_EDI), 0);
	CHECK_EQ(cpu_get_reg(m->cpu, R_EBX), 0);
out:
	free(img);
	machine_drop(m);
}

/*
 * The state the Linux loader leaves, run by the CPU: reload DS and CS from
 * the loader's GDT, read cmd_line_ptr through ESI, store it, halt.
 */
static void test_linux_runs(void)
{
	static const uint8_t code[] = {
	    0x66, 0xB8, 0x18, 0x00,					/* mov ax, 0x18 */
	    0x8E, 0xD8,							/* mov ds, ax */
	    0x8B, 0x86, 0x28, 0x02, 0x00, 0x00,				/* mov eax, [esi+0x228] */
	    0xA3, 0x00, 0x05, 0x00, 0x00,				/* mov [0x500], eax */
	    0xEA, 0x18, 0x00, 0x10, 0x00, 0x10, 0x00,			/* jmp 0x10:0x100018 */
	    0xC7, 0x05, 0x04, 0x05, 0x00, 0x00, 0xEF, 0xBE, 0xAD, 0xDE, /* mov [0x504], .. */
	    0xF4,							/* hlt */
	};
	Machine *m = machine_make(RAM_SIZE);
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x20F, 0);
	char err[256] = "";
	enum cpu_exit why;

	memcpy(img + BZ_PM_OFF, code, sizeof(code));
	CHECK(load_kernel(m, "run.bz", img, len, NULL, 0, "ro", err));
	why = cpu_exec(m->cpu, 100);
	CHECK_EQ(why, CPU_EXIT_HALT);
	CHECK_EQ(ram32(m, 0x500), ram32(m, cpu_get_reg(m->cpu, R_ESI) + 0x228));
	CHECK(!strcmp((char *)m->ram_host + ram32(m, 0x500), "ro"));
	CHECK_EQ(ram32(m, 0x504), 0xDEADBEEF);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).sel, 0x10);
	free(img);
	machine_drop(m);
}

/* Protocol 2.05: no cmdline_size field, 255 bytes at most; no initrd. */
static void test_linux_old_cmdline(void)
{
	Machine *m = machine_make(RAM_SIZE);
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x205, 0);
	char cmd[400], err[256] = "";
	uint32_t bp;
	bool ok;

	memset(cmd, 'a', sizeof(cmd) - 1);
	cmd[sizeof(cmd) - 1] = 0;
	st32(img + 0x238, 4000);     /* not a field before 2.06: ignored */
	st32(img + 0x218, 0x400000); /* stale ramdisk fields: no initrd given */
	st32(img + 0x21C, 77);
	ok = load_kernel(m, "old.bz", img, len, NULL, 0, cmd, err);
	CHECK(ok);
	bp = cpu_get_reg(m->cpu, R_ESI);
	CHECK_EQ(strlen((char *)m->ram_host + ram32(m, bp + 0x228)), 255);
	CHECK_EQ(ram32(m, bp + 0x218), 0);
	CHECK_EQ(ram32(m, bp + 0x21C), 0);

	/* Before 2.04 syssize is 16 bits: the next two bytes are another field */
	st16(img + 0x206, 0x203);
	st16(img + 0x1F6, 0xFFFF);
	ok = load_kernel(m, "old.bz", img, len, NULL, 0, "", err);
	CHECK(ok);
	st16(img + 0x206, 0x204);
	ok = load_kernel(m, "old.bz", img, len, NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "old.bz");
	free(img);
	machine_drop(m);
}

/* ---- bad kernels -------------------------------------------------------- */

static void test_bad_kernels(void)
{
	Machine *m = machine_make(RAM_SIZE);
	static uint8_t img[0x1120], rnd[4096];
	const Phdr ph[] = {{1, 0x1000, 0x100000, 0x100, 0x100}};
	uint8_t big[64];
	char err[256];
	size_t len;
	uint8_t *bz;
	bool ok;

	ok = load_kernel(m, "empty.img", img, 0, NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "empty.img");

	fill_pattern(rnd, sizeof(rnd), 7);
	ok = load_copy(m, "random.bin", rnd, sizeof(rnd), NULL, 0, err);
	CHECK_REFUSED(ok, err, "random.bin");
	CHECK(strstr(err, "not a multiboot or Linux kernel") != NULL);

	/* Program headers past the end of a truncated file */
	make_elf(img, 0x100000, ph, 1);
	st16(img + 44, 20);
	ok = load_copy(m, "trunc.elf", img, 0x10C, NULL, 0, err);
	CHECK_REFUSED(ok, err, "trunc.elf");
	/* A segment whose bytes are past the end of the file */
	st16(img + 44, 1);
	ok = load_copy(m, "trunc.elf", img, 0x1080, NULL, 0, err);
	CHECK_REFUSED(ok, err, "trunc.elf");

	/* A segment beyond RAM, and one in the VGA hole */
	st32(img + 52 + 12, 0x2000000);
	ok = load_kernel(m, "far.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "far.elf");
	CHECK(strstr(err, "0x2000000") != NULL);
	st32(img + 52 + 12, 0xA0000);
	ok = load_kernel(m, "vga.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "vga.elf");
	/* More file bytes than memory bytes */
	st32(img + 52 + 12, 0x100000);
	st32(img + 52 + 20, 0x80);
	ok = load_kernel(m, "sizes.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "sizes.elf");
	st32(img + 52 + 20, 0x100);

	/* Bad checksum */
	st32(img + 0x108, ld32(img + 0x108) + 1);
	ok = load_kernel(m, "sum.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "sum.elf");
	CHECK(strstr(err, "checksum") != NULL);
	st32(img + 0x108, ld32(img + 0x108) - 1);
	/* A requirement we do not meet (flag bit 3) */
	put_multiboot_header(img + 0x100, 0x8);
	ok = load_kernel(m, "req.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "req.elf");
	put_multiboot_header(img + 0x100, 0x3);
	/* An entry point outside the loaded image: in RAM, or not even that */
	st32(img + 24, 0x100100);
	ok = load_kernel(m, "entry.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "entry.elf");
	CHECK(strstr(err, "entry point 0x100100") != NULL);
	st32(img + 24, 0x40000000);
	ok = load_kernel(m, "entry.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "entry.elf");
	st32(img + 24, 0x1000FF); /* the segment's last byte is fine */
	ok = load_kernel(m, "entry.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK(ok);
	st32(img + 24, 0x100000);
	/* A multiboot initrd larger than RAM */
	{
		size_t n = RAM_SIZE;
		uint8_t *huge = calloc(1, n);

		ok = load_kernel(m, "mb.elf", img, sizeof(img), huge, n, "", err);
		CHECK_REFUSED(ok, err, "mb.elf");
		free(huge);
	}
	/* And the good one still loads */
	ok = load_kernel(m, "good.elf", img, sizeof(img), NULL, 0, "", err);
	CHECK(ok);

	/* bzImages: protocol 2.01, truncated payload, initrd too large, RAM too small */
	bz = make_bzimage(&len, 0x201, 0);
	ok = load_kernel(m, "old.bz", bz, len, NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "old.bz");
	CHECK(strstr(err, "2.01") != NULL);
	free(bz);
	bz = make_bzimage(&len, 0x20F, 0);
	ok = load_copy(m, "cut.bz", bz, len - 16, NULL, 0, err);
	CHECK_REFUSED(ok, err, "cut.bz");
	/* ending inside the last 16-byte paragraph is fine (Debian's memtest86+) */
	ok = load_copy(m, "short.bz", bz, len - 8, NULL, 0, err);
	CHECK(ok);
	ok = load_copy(m, "cut.bz", bz, 0x300, NULL, 0, err);
	CHECK_REFUSED(ok, err, "cut.bz");
	ok = load_copy(m, "cut.bz", bz, 0x210, NULL, 0, err);
	CHECK_REFUSED(ok, err, "cut.bz");
	{
		size_t n = 0x800000; /* more than fits below initrd_addr_max (8 MiB) */
		uint8_t *huge = calloc(1, n);

		ok = load_kernel(m, "rd.bz", bz, len, huge, n, "", err);
		CHECK_REFUSED(ok, err, "rd.bz");
		free(huge);
	}
	st32(bz + 0x260, 32u << 20); /* init_size: 32 MiB in a 16 MiB machine */
	ok = load_kernel(m, "fat.bz", bz, len, NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "fat.bz");
	CHECK(strstr(err, "RAM") != NULL);
	bz[0x211] = 0; /* a zImage */
	ok = load_kernel(m, "z.bz", bz, len, NULL, 0, "", err);
	CHECK_REFUSED(ok, err, "z.bz");
	free(bz);

	/* A boot sector without a setup header */
	memset(big, 0, sizeof(big));
	ok = load_copy(m, "tiny.bin", big, sizeof(big), NULL, 0, err);
	CHECK_REFUSED(ok, err, "tiny.bin");
	machine_drop(m);
}

/*
 * Damaged headers and truncations of good kernels: whatever the loader
 * decides, it must not read outside the file (the sanitizer watches) and a
 * refusal must name the file.
 */
static void fuzz_one(Machine *m, const uint8_t *good, size_t len, size_t hdr_span, uint32_t seed)
{
	uint8_t *img = malloc(len), initrd[300];
	char err[256];

	memset(initrd, 0x42, sizeof(initrd));
	for (int iter = 0; iter < 300; iter++) {
		size_t cut = len;
		int flips;

		memcpy(img, good, len);
		seed = seed * 1103515245u + 12345u;
		flips = 1 + (int)(seed >> 16) % 4;
		for (int i = 0; i < flips; i++) {
			seed = seed * 1103515245u + 12345u;
			img[(seed >> 8) % hdr_span] = (uint8_t)(seed >> 24);
		}
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 4 == 0)
			cut = (seed >> 4) % len;
		err[0] = 0;
		if (!load_copy(m, "fuzz.img", img, cut, iter % 2 ? initrd : NULL, sizeof(initrd),
			       err)) {
			CHECK(strncmp(err, "fuzz.img: ", 10) == 0);
		}
	}
	free(img);
}

static void test_fuzz(void)
{
	Machine *m = machine_make(RAM_SIZE);
	static uint8_t elf[0x1120];
	const Phdr ph[] = {
	    {1, 0x1000, 0x100000, 0x100, 0x100},
	    {1, 0x1100, 0x102000, 0x20, 0x1000},
	};
	uint8_t aout[0x300];
	uint8_t *bz;
	size_t len;

	make_elf(elf, 0x100000, ph, ARRAY_SIZE(ph));
	fuzz_one(m, elf, sizeof(elf), 0x110, 10);
	memset(aout, 0, sizeof(aout));
	put_multiboot_header(aout + 0x40, 0x00010002);
	st32(aout + 0x4C, 0x200040);
	st32(aout + 0x50, 0x200000);
	st32(aout + 0x54, 0x200200);
	st32(aout + 0x58, 0x201000);
	st32(aout + 0x5C, 0x200060);
	fuzz_one(m, aout, sizeof(aout), 0x60, 11);
	bz = make_bzimage(&len, 0x20F, 0x300000);
	fuzz_one(m, bz, len, 0x270, 12);
	free(bz);
	machine_drop(m);
}

/* ---- BIOS --------------------------------------------------------------- */

static void check_bios_at(Machine *m, const uint8_t *img, size_t len, const char *name)
{
	char err[256] = "";
	bool ok = load_bios(m, name, img, len, err);

	CHECK(ok);
	if (!ok) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	CHECK_EQ(as_read(m->memory, 0xFFFFFFF0, 8), ld64(img + len - 16));
	CHECK_EQ(as_read(m->memory, 0xFFFFFFF8, 8), ld64(img + len - 8));
	CHECK_EQ(as_read(m->memory, 0xFFFF0, 8), ld64(img + len - 16));
	CHECK_EQ(as_read(m->memory, 0xFFFF8, 8), ld64(img + len - 8));
	CHECK_EQ(as_read(m->memory, (1ull << 32) - len, 4), ld32(img));
}

static void test_bios(void)
{
	Machine *m = machine_make(RAM_SIZE);
	size_t len = 256u << 10;
	uint8_t *img = malloc(len);
	static uint8_t kernel[0x1120];
	const Phdr ph[] = {{1, 0x1000, 0x100000, 0x100, 0x100}};
	char err[256] = "";
	uint64_t before;

	fill_pattern(img, len, 8);
	memset(m->ram_host + 0xD0000, 0x11, 0x30000);
	check_bios_at(m, img, len, "bios.bin");
	/* 128 KiB of it below 1 MiB, RAM below that */
	CHECK_EQ(as_read(m->memory, 0xE0000, 4), ld32(img + len - (128u << 10)));
	CHECK_EQ(as_read(m->memory, 0xDFFFC, 4), 0x11111111);
	/* ROM: writes are ignored */
	before = as_read(m->memory, 0xFFFFFFF0, 4);
	as_write(m->memory, 0xFFFFFFF0, ~before, 4);
	CHECK_EQ(as_read(m->memory, 0xFFFFFFF0, 4), before);
	/* The CPU starts at the reset vector, untouched by the loader */
	CHECK_EQ(cpu_get_eip(m->cpu), 0xFFF0);
	CHECK_EQ(cpu_get_seg(m->cpu, S_CS).base, 0xFFFF0000);

	/* With a BIOS, the memory map reserves its ROM */
	make_elf(kernel, 0x100000, ph, 1);
	CHECK(load_kernel(m, "mb.elf", kernel, sizeof(kernel), NULL, 0, "", err));
	check_mmap(m, cpu_get_reg(m->cpu, R_EBX), len);
	free(img);
	machine_drop(m);

	/* A 64 KiB BIOS: all of it below 1 MiB, at 0xF0000 */
	m = machine_make(RAM_SIZE);
	len = 64u << 10;
	img = malloc(len);
	fill_pattern(img, len, 9);
	memset(m->ram_host + 0xE0000, 0x22, 0x10000);
	check_bios_at(m, img, len, "small.bin");
	CHECK_EQ(as_read(m->memory, 0xF0000, 4), ld32(img));
	CHECK_EQ(as_read(m->memory, 0xEFFFC, 4), 0x22222222);
	free(img);
	machine_drop(m);
}

static void test_bad_bios(void)
{
	Machine *m = machine_make(RAM_SIZE);
	size_t big = (16u << 20) + (64u << 10);
	uint8_t *img = calloc(1, big);
	char err[256];
	bool ok;

	ok = load_bios(m, "odd.bin", img, 100000, err);
	CHECK_REFUSED(ok, err, "odd.bin");
	ok = load_bios(m, "empty.bin", img, 0, err);
	CHECK_REFUSED(ok, err, "empty.bin");
	ok = load_bios(m, "huge.bin", img, big, err);
	CHECK_REFUSED(ok, err, "huge.bin");
	/* None of them mapped anything */
	CHECK(as_lookup(m->memory, 0xFFFFFFF0) == NULL);
	CHECK_EQ(as_read(m->memory, 0xFFFFFFF0, 4), 0xFFFFFFFF);
	free(img);
	machine_drop(m);
}

int main(void)
{
	test_multiboot_elf();
	test_multiboot_info_collision();
	test_multiboot_aout();
	test_linux();
	test_linux_runs();
	test_linux_old_cmdline();
	test_bad_kernels();
	test_fuzz();
	test_bios();
	test_bad_bios();
	return unit_done("loader");
}
