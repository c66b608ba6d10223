/*
 * test_ata.c - the ATA disk and its bus master, driven through the I/O
 * ports as a guest driver does, with guest RAM behind
 * cpu_physical_memory_rw() for DMA: IDENTIFY, PIO reads and writes (LBA28,
 * LBA48, CHS, multiple), errors, reset, interrupts, DMA in both directions
 * and DMA aimed at things that are not RAM.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define SECTORS	  4096 /* a 2 MiB disk */
#define RAM_SIZE  0x100000
#define MMIO_BASE 0x100000
#define BM_BASE	  0xC000

/* Status and error bits as a driver sees them. */
#define BSY  0x80
#define DRDY 0x40
#define DSC  0x10
#define DRQ  0x08
#define ERR  0x01
#define ABRT 0x04
#define IDNF 0x10

static AddressSpace *io;
static PCIBus *pci;
static ATA *ata;
static DMATarget *dma; /* the test machine's way into its RAM */
static uint8_t *image;
static uint8_t *ram;
static uint64_t icount;
static Clock *clk; /* the test's virtual clock */

/* ---- the interrupt line and an MMIO region that must never see DMA ---- */

static int irq_level, irq_edges;

static void irq_handler(void *opaque, int n, int level)
{
	if (level && !irq_level)
		irq_edges++;
	irq_level = level;
}

static const IRQ irq14 = {irq_handler, NULL, 14};

static int mmio_accesses;

static uint64_t mmio_read(void *opaque, uint64_t offset, unsigned size)
{
	mmio_accesses++;
	return 0;
}

static void mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	mmio_accesses++;
}

static const MemoryRegionOps mmio_ops = {mmio_read, mmio_write};

/* ---- helpers ---------------------------------------------------------- */

/* The controller with one hard disk, the primary master. */
static ATA *one_disk(MemoryRegion *root, PCIBus *bus, uint8_t *img, uint64_t size)
{
	ATADrive drives[4] = {{img, size, false}};

	return ata_new(root, clk, bus, dma, &irq14, NULL, drives);
}

static uint8_t pattern(uint64_t sector, unsigned i)
{
	return (uint8_t)(sector * 31 + i * 7 + (sector >> 8) + 1);
}

static uint8_t inb(uint16_t port)
{
	return (uint8_t)as_read(io, port, 1);
}

static void outb(uint16_t port, uint8_t v)
{
	as_write(io, port, v, 1);
}

static void lba28_setup(uint32_t lba, uint8_t count)
{
	outb(0x1F6, (uint8_t)(0xE0 | (lba >> 24)));
	outb(0x1F2, count);
	outb(0x1F3, (uint8_t)lba);
	outb(0x1F4, (uint8_t)(lba >> 8));
	outb(0x1F5, (uint8_t)(lba >> 16));
}

static void lba48_setup(uint64_t lba, uint16_t count)
{
	outb(0x1F6, 0x40);
	outb(0x1F2, (uint8_t)(count >> 8));
	outb(0x1F3, (uint8_t)(lba >> 24));
	outb(0x1F4, (uint8_t)(lba >> 32));
	outb(0x1F5, (uint8_t)(lba >> 40));
	outb(0x1F2, (uint8_t)count);
	outb(0x1F3, (uint8_t)lba);
	outb(0x1F4, (uint8_t)(lba >> 8));
	outb(0x1F5, (uint8_t)(lba >> 16));
}

/* Read one 512-byte block through the 16-bit data port. */
static void read_block(uint8_t *buf)
{
	for (int i = 0; i < 256; i++)
		st16(buf + 2 * i, (uint16_t)as_read(io, 0x1F0, 2));
}

static bool sector_matches(const uint8_t *buf, uint64_t sector)
{
	for (unsigned i = 0; i < 512; i++)
		if (buf[i] != pattern(sector, i))
			return false;
	return true;
}

static void fill_image(void)
{
	for (uint64_t s = 0; s < SECTORS; s++)
		for (unsigned i = 0; i < 512; i++)
			image[s * 512 + i] = pattern(s, i);
}

/* Acknowledge whatever is pending and start each test from a quiet drive. */
static void quiesce(void)
{
	inb(0x1F7);
	irq_edges = 0;
}

static void run_timers_for(int64_t ns)
{
	clock_warp(clk, ns);
	timers_run(clk);
}

/* ---- IDENTIFY ----------------------------------------------------------- */

static uint16_t id[256];

static void identify(void)
{
	uint8_t buf[512];

	outb(0x1F6, 0xA0);
	outb(0x1F7, 0xEC);
	read_block(buf);
	for (int i = 0; i < 256; i++)
		id[i] = ld16(buf + 2 * i);
}

/* Undo the ATA string byte order of words [first, first + n). */
static void id_string(int first, int n, char *out)
{
	for (int i = 0; i < n; i++) {
		out[2 * i] = (char)(id[first + i] >> 8);
		out[2 * i + 1] = (char)id[first + i];
	}
	out[2 * n] = 0;
}

static void test_power_on(void)
{
	/* Signature of a non-packet device; device 1 absent. */
	CHECK_EQ(inb(0x1F2), 1);
	CHECK_EQ(inb(0x1F3), 1);
	CHECK_EQ(inb(0x1F4), 0);
	CHECK_EQ(inb(0x1F5), 0);
	CHECK_EQ(inb(0x1F1), 0x01);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(irq_level, 0);
}

static void test_identify(void)
{
	char s[41];
	uint8_t sum = 0;

	quiesce();
	outb(0x1F6, 0xA0);
	outb(0x1F7, 0xEC);
	CHECK_EQ(irq_edges, 1);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(inb(0x3F6), DRDY | DSC | DRQ);
	CHECK_EQ(irq_level, 1); /* alternate status leaves INTRQ alone */
	CHECK_EQ(inb(0x1F7), DRDY | DSC | DRQ);
	CHECK_EQ(irq_level, 0); /* status acknowledges it */
	for (int i = 0; i < 256; i++)
		id[i] = (uint16_t)as_read(io, 0x1F0, 2);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);

	id_string(27, 20, s);
	CHECK(strcmp(s, "FLASHBACK HARDDISK                      ") == 0);
	id_string(10, 10, s);
	CHECK(s[0] != ' ' && s[19] == ' ');
	CHECK_EQ(id[0] & 0x8000, 0); /* ATA device */
	CHECK_EQ(id[1], SECTORS / (16 * 63));
	CHECK_EQ(id[3], 16);
	CHECK_EQ(id[6], 63);
	CHECK_EQ(id[47] & 0xFF, 16);
	CHECK_EQ(id[47] >> 8, 0x80);
	CHECK_EQ(id[49] & 0x0300, 0x0300); /* LBA and DMA */
	CHECK_EQ(id[53] & 0x0007, 0x0007);
	CHECK_EQ(id[60] | (uint32_t)id[61] << 16, SECTORS);
	CHECK_EQ(id[63] & 0x0007, 0x0007);
	CHECK(id[80] & (1 << 6));  /* ATA/ATAPI-6 */
	CHECK(id[83] & (1 << 10)); /* 48-bit addressing */
	CHECK(id[86] & (1 << 10));
	CHECK_EQ(id[83] >> 14, 1);
	CHECK_EQ(id[88] & 0x3F, 0x3F);
	CHECK_EQ(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
		     (uint64_t)id[103] << 48,
		 SECTORS);
	/* Integrity word: A5h and a checksum that makes all bytes sum to 0. */
	CHECK_EQ(id[255] & 0xFF, 0xA5);
	for (int i = 0; i < 256; i++)
		sum = (uint8_t)(sum + (id[i] & 0xFF) + (id[i] >> 8));
	CHECK_EQ(sum, 0);

	/* Setting a transfer mode shows in the selected bits. */
	outb(0x1F1, 0x03);
	outb(0x1F2, 0x22); /* multiword DMA 2 */
	outb(0x1F7, 0xEF);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	identify();
	CHECK_EQ(id[63] >> 8, 0x04);
	CHECK_EQ(id[88] >> 8, 0x00);
	outb(0x1F1, 0x03);
	outb(0x1F2, 0x46); /* UDMA 6 is not claimed */
	outb(0x1F7, 0xEF);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), ABRT);
}

/* ---- PIO reads and writes ------------------------------------------------ */

static void test_pio_read_lba28(void)
{
	uint8_t buf[512];
	bool all_ok = true;

	quiesce();
	lba28_setup(1234, 3);
	outb(0x1F7, 0x20);
	for (int s = 0; s < 3; s++) {
		/* Each sector: an interrupt, then DRQ with the data. */
		CHECK_EQ(irq_edges, s + 1);
		CHECK_EQ(inb(0x1F7), DRDY | DSC | DRQ);
		CHECK_EQ(irq_level, 0);
		read_block(buf);
		all_ok &= sector_matches(buf, 1234 + (uint64_t)s);
	}
	CHECK(all_ok);
	CHECK_EQ(irq_edges, 3);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	/* The task file points at the last sector read. */
	CHECK_EQ(inb(0x1F3) | inb(0x1F4) << 8 | inb(0x1F5) << 16, 1236);

	/* 32-bit data port reads give the same bytes. */
	lba28_setup(7, 1);
	outb(0x1F7, 0x21);
	for (int i = 0; i < 128; i++)
		st32(buf + 4 * i, (uint32_t)as_read(io, 0x1F0, 4));
	CHECK(sector_matches(buf, 7));
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
}

static void test_pio_read_chs(void)
{
	uint8_t buf[512];
	/* Cylinder 2, head 3, sector 5 in the 16-head, 63-sector geometry. */
	uint64_t lba = (2 * 16 + 3) * 63 + 5 - 1;

	quiesce();
	outb(0x1F6, 0xA3);
	outb(0x1F2, 1);
	outb(0x1F3, 5);
	outb(0x1F4, 2);
	outb(0x1F5, 0);
	outb(0x1F7, 0x20);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | DRQ);
	read_block(buf);
	CHECK(sector_matches(buf, lba));
	CHECK(!sector_matches(buf, lba + 1));

	/* Sector 0 does not exist in CHS. */
	outb(0x1F3, 0);
	outb(0x1F7, 0x20);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), IDNF);

	/* INITIALIZE DEVICE PARAMETERS: 4 heads, 32 sectors a track. */
	outb(0x1F6, 0xA3);
	outb(0x1F2, 32);
	outb(0x1F7, 0x91);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	identify();
	CHECK_EQ(id[55], 4);
	CHECK_EQ(id[56], 32);
	CHECK_EQ(id[54], SECTORS / (4 * 32));
	outb(0x1F6, 0xA1); /* head 1 */
	outb(0x1F2, 1);
	outb(0x1F3, 3);
	outb(0x1F4, 1);
	outb(0x1F5, 0);
	outb(0x1F7, 0x20);
	read_block(buf);
	CHECK(sector_matches(buf, (1 * 4 + 1) * 32 + 3 - 1));
	/* Back to the default translation for the other tests. */
	outb(0x1F6, 0xAF);
	outb(0x1F2, 63);
	outb(0x1F7, 0x91);
	quiesce();
}

static void test_pio_write(void)
{
	uint8_t buf[512];

	quiesce();
	lba28_setup(100, 2);
	outb(0x1F7, 0x30);
	/* The first block is asked for without an interrupt. */
	CHECK_EQ(irq_edges, 0);
	CHECK_EQ(inb(0x3F6), DRDY | DSC | DRQ);
	for (int s = 0; s < 2; s++) {
		for (int i = 0; i < 256; i++)
			as_write(io, 0x1F0, (uint16_t)(0xA500 + s * 256 + i), 2);
		CHECK_EQ(irq_edges, s + 1);
		inb(0x1F7);
	}
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(ld16(image + 100 * 512), 0xA500);
	CHECK_EQ(ld16(image + 101 * 512 + 510), 0xA500 + 256 + 255);
	/* Neighbours untouched. */
	CHECK(sector_matches(image + 99 * 512, 99));
	CHECK(sector_matches(image + 102 * 512, 102));

	/* Read it back through the drive. */
	lba28_setup(101, 1);
	outb(0x1F7, 0x20);
	read_block(buf);
	CHECK(memcmp(buf, image + 101 * 512, 512) == 0);

	/* 32-bit writes. */
	lba28_setup(102, 1);
	outb(0x1F7, 0x30);
	for (int i = 0; i < 128; i++)
		as_write(io, 0x1F0, 0xDEAD0000u + (uint32_t)i, 4);
	CHECK_EQ(ld32(image + 102 * 512 + 4), 0xDEAD0001);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	fill_image();
}

static void test_lba48(void)
{
	uint8_t buf[512];

	quiesce();
	lba48_setup(0xABC, 2);
	/* The HOB bit shows the previous (high order) byte of each register. */
	outb(0x3F6, 0x80);
	CHECK_EQ(inb(0x1F2), 0);
	CHECK_EQ(inb(0x1F3), 0);
	outb(0x3F6, 0x00);
	CHECK_EQ(inb(0x1F2), 2);
	CHECK_EQ(inb(0x1F3), 0xBC);
	outb(0x1F7, 0x24);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | DRQ);
	read_block(buf);
	CHECK(sector_matches(buf, 0xABC));
	CHECK_EQ(inb(0x1F7), DRDY | DSC | DRQ);
	read_block(buf);
	CHECK(sector_matches(buf, 0xABD));
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(irq_edges, 2);

	/* WRITE SECTORS EXT. */
	lba48_setup(SECTORS - 1, 1);
	outb(0x1F7, 0x34);
	for (int i = 0; i < 256; i++)
		as_write(io, 0x1F0, 0x5A5A, 2);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(image[(SECTORS - 1) * 512 + 17], 0x5A);

	/* Beyond 2^28 (and the disk): IDNF. */
	lba48_setup(1ull << 32, 1);
	outb(0x1F7, 0x24);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), IDNF);
	fill_image();
}

static void test_multiple(void)
{
	uint8_t buf[512];
	bool all_ok = true;

	quiesce();
	/* READ MULTIPLE before SET MULTIPLE aborts. */
	lba28_setup(10, 4);
	outb(0x1F7, 0xC4);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), ABRT);
	/* A block size that is not a power of two aborts. */
	outb(0x1F2, 3);
	outb(0x1F7, 0xC6);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	outb(0x1F2, 4);
	outb(0x1F7, 0xC6);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	identify();
	CHECK_EQ(id[59], 0x0104);

	/* Ten sectors in blocks of 4, 4, 2: one interrupt and DRQ per block. */
	quiesce();
	lba28_setup(10, 10);
	outb(0x1F7, 0xC4);
	for (int s = 0; s < 10; s++) {
		if (s % 4 == 0) {
			CHECK_EQ(irq_edges, s / 4 + 1);
			CHECK_EQ(inb(0x1F7), DRDY | DSC | DRQ);
		}
		read_block(buf);
		all_ok &= sector_matches(buf, 10 + (uint64_t)s);
		/* DRQ stays up inside a block, no interrupt per sector. */
		if (s % 4 != 3 && s != 9)
			CHECK_EQ(inb(0x3F6), DRDY | DSC | DRQ);
	}
	CHECK(all_ok);
	CHECK_EQ(irq_edges, 3);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);

	/* WRITE MULTIPLE: an interrupt per block after the first, and at the end. */
	quiesce();
	lba28_setup(20, 6);
	outb(0x1F7, 0xC5);
	for (int i = 0; i < 6 * 256; i++)
		as_write(io, 0x1F0, 0x1111, 2);
	CHECK_EQ(irq_edges, 1); /* INTRQ stays asserted until status is read */
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(image[25 * 512 + 511], 0x11);
	CHECK(sector_matches(image + 26 * 512, 26));
	fill_image();
}

/* ---- errors, reset, interrupt masking, device selection ------------------- */

static void test_errors(void)
{
	quiesce();
	lba28_setup(SECTORS - 1, 2);
	outb(0x1F7, 0x20);
	CHECK_EQ(irq_edges, 1);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), IDNF);
	lba28_setup(SECTORS, 1);
	outb(0x1F7, 0x30);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), IDNF);
	/* No data phase after an error. */
	CHECK_EQ(as_read(io, 0x1F0, 2), 0);

	quiesce();
	outb(0x1F7, 0xFF);
	CHECK_EQ(irq_edges, 1);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), ABRT);
	outb(0x1F7, 0xA1); /* IDENTIFY PACKET DEVICE: not a packet device */
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), ABRT);
	/* A good command clears the error. */
	outb(0x1F7, 0xE7);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(inb(0x1F1), 0);
	outb(0x1F7, 0xEA);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
}

static void test_srst(void)
{
	quiesce();
	lba28_setup(100, 9);
	outb(0x1F7, 0x20); /* leave a transfer half done */
	outb(0x3F6, 0x04);
	CHECK_EQ(inb(0x1F7) & BSY, BSY);
	outb(0x1F7, 0xEC); /* ignored while busy */
	CHECK_EQ(inb(0x1F7) & DRQ, 0);
	outb(0x3F6, 0x00);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(inb(0x1F2), 1);
	CHECK_EQ(inb(0x1F3), 1);
	CHECK_EQ(inb(0x1F4), 0);
	CHECK_EQ(inb(0x1F5), 0);
	CHECK_EQ(inb(0x1F6) & 0x1F, 0);
	CHECK_EQ(inb(0x1F1), 0x01);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(as_read(io, 0x1F0, 2), 0); /* the old transfer is gone */

	/* EXECUTE DEVICE DIAGNOSTIC gives the same signature and interrupts. */
	quiesce();
	lba28_setup(77, 5);
	outb(0x1F7, 0x90);
	CHECK_EQ(irq_edges, 1);
	CHECK_EQ(inb(0x1F2), 1);
	CHECK_EQ(inb(0x1F3), 1);
	CHECK_EQ(inb(0x1F1), 0x01);
}

static void test_nien(void)
{
	quiesce();
	outb(0x3F6, 0x02);
	outb(0x1F6, 0xA0);
	outb(0x1F7, 0xE7);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(irq_edges, 0);
	/* The pending interrupt shows once nIEN is cleared ... */
	outb(0x3F6, 0x00);
	CHECK_EQ(irq_level, 1);
	/* ... and goes when status is read. */
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(irq_level, 0);
	/* Masking an asserted line lowers it. */
	outb(0x1F7, 0xE7);
	CHECK_EQ(irq_level, 1);
	outb(0x3F6, 0x02);
	CHECK_EQ(irq_level, 0);
	outb(0x3F6, 0x00);
	quiesce();
}

static void test_slave_absent(void)
{
	quiesce();
	outb(0x1F6, 0xB0);
	CHECK_EQ(inb(0x1F7), 0);
	CHECK_EQ(inb(0x3F6), 0);
	outb(0x1F7, 0xEC);
	CHECK_EQ(irq_edges, 0);
	CHECK_EQ(inb(0x1F7), 0);
	CHECK_EQ(as_read(io, 0x1F0, 2), 0);
	/* The shared registers still latch. */
	outb(0x1F2, 0x42);
	CHECK_EQ(inb(0x1F2), 0x42);
	outb(0x1F6, 0xA0);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
}

/* ---- bus-master DMA -------------------------------------------------------- */

static void prd(uint32_t table, int i, uint32_t base, uint32_t count, bool eot)
{
	st32(ram + table + 8 * i, base);
	st32(ram + table + 8 * i + 4, (count & 0xFFFF) | (eot ? 0x80000000u : 0));
}

static void bm_start(uint32_t table, bool to_memory)
{
	as_write(io, BM_BASE + 4, table, 4);
	/* Clear error and interrupt (write 1), keep the DMA capable bits. */
	as_write(io, BM_BASE + 2, 0x26, 1);
	as_write(io, BM_BASE, to_memory ? 0x09 : 0x01, 1);
}

static void test_dma_read(void)
{
	/* 512 + 64 KiB + 1 KiB = 131 sectors into three buffers. */
	const uint32_t table = 0x1000, lba = 200, count = 131;
	bool all_ok = true;

	quiesce();
	memset(ram, 0, RAM_SIZE);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1) & 0x61, 0x20); /* drive 0 DMA capable */
	prd(table, 0, 0x10000, 512, false);
	prd(table, 1, 0x20000, 0, false); /* 0 = 64 KiB */
	prd(table, 2, 0x40000, 1024, true);
	lba28_setup(lba, (uint8_t)count);
	outb(0x1F7, 0xC8);
	CHECK_EQ(inb(0x3F6) & (BSY | DRQ), DRQ);
	bm_start(table, true);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x21); /* active */
	/* Nothing moves until the transfer time has passed. */
	CHECK_EQ(irq_edges, 0);
	CHECK_EQ(ram[0x10000], 0);
	run_timers_for(1000);
	CHECK_EQ(irq_edges, 0);
	run_timers_for(1000000);
	CHECK_EQ(irq_edges, 1);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x24); /* interrupt, not active */
	CHECK(sector_matches(ram + 0x10000, lba));
	CHECK_EQ(ram[0x10000 + 512], 0);
	for (uint32_t s = 0; s < 128; s++)
		all_ok &= sector_matches(ram + 0x20000 + 512 * s, lba + 1 + s);
	CHECK(all_ok);
	CHECK(sector_matches(ram + 0x40000, lba + 129));
	CHECK(sector_matches(ram + 0x40200, lba + 130));
	CHECK_EQ(ram[0x40400], 0);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	CHECK_EQ(irq_level, 0);
	/* The driver stops the engine and clears the interrupt bit (write 1). */
	as_write(io, BM_BASE, 0x00, 1);
	as_write(io, BM_BASE + 2, 0x24, 1);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x20);
	CHECK_EQ(as_read(io, BM_BASE + 4, 4), table);
}

static void test_dma_write(void)
{
	const uint32_t table = 0x2000;

	quiesce();
	for (int i = 0; i < 4096; i++)
		ram[0x50000 + i] = (uint8_t)(i * 13 + 5);
	prd(table, 0, 0x50000, 1024, false);
	prd(table, 1, 0x50400, 3072, true);
	/* Start the engine first this time, then issue WRITE DMA EXT. */
	bm_start(table, false);
	lba48_setup(3000, 8);
	outb(0x1F7, 0x35);
	CHECK(sector_matches(image + 3000 * 512, 3000));
	run_timers_for(1000000);
	CHECK_EQ(irq_edges, 1);
	CHECK(memcmp(image + 3000 * 512, ram + 0x50000, 4096) == 0);
	CHECK(sector_matches(image + 3008 * 512, 3008));
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x24);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	as_write(io, BM_BASE, 0x00, 1);
	fill_image();
}

static void test_dma_status(void)
{
	const uint32_t table = 0x3000;

	/* A table larger than the transfer leaves the engine active. */
	quiesce();
	prd(table, 0, 0x60000, 0x2000, true);
	lba28_setup(5, 2);
	outb(0x1F7, 0xC8);
	bm_start(table, true);
	run_timers_for(1000000);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x25);
	CHECK(sector_matches(ram + 0x60200, 6));
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	as_write(io, BM_BASE, 0x00, 1);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1) & 0x01, 0);

	/* A table smaller than the transfer: error, the command fails. */
	quiesce();
	prd(table, 0, 0x60000, 512, true);
	lba28_setup(5, 2);
	outb(0x1F7, 0xC8);
	bm_start(table, true);
	run_timers_for(1000000);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x26);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	as_write(io, BM_BASE, 0x00, 1);

	/* Direction bit against the command: error, nothing written to disk. */
	quiesce();
	memset(ram + 0x60000, 0xEE, 512);
	prd(table, 0, 0x60000, 512, true);
	lba28_setup(9, 1);
	outb(0x1F7, 0xCA);
	bm_start(table, true);
	run_timers_for(1000000);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x26);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK(sector_matches(image + 9 * 512, 9));
	as_write(io, BM_BASE, 0x00, 1);

	/* Stopping the engine before the transfer completes: nothing happens. */
	quiesce();
	memset(ram + 0x60000, 0, 512);
	lba28_setup(9, 1);
	outb(0x1F7, 0xC8);
	bm_start(table, true);
	as_write(io, BM_BASE, 0x08, 1);
	run_timers_for(1000000);
	CHECK_EQ(irq_edges, 0);
	CHECK_EQ(ram[0x60000], 0);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0x20);
	/* Restarting finishes it. */
	as_write(io, BM_BASE, 0x09, 1);
	run_timers_for(1000000);
	CHECK_EQ(irq_edges, 1);
	CHECK(sector_matches(ram + 0x60000, 9));
	as_write(io, BM_BASE, 0x00, 1);

	/* The PRD address register keeps dword alignment. */
	as_write(io, BM_BASE + 4, 0x12345677, 4);
	CHECK_EQ(as_read(io, BM_BASE + 4, 4), 0x12345674);
	quiesce();
}

static void test_dma_bad_addresses(void)
{
	const uint32_t table = 0x3000;

	/* The PRD table itself outside RAM. */
	quiesce();
	mmio_accesses = 0;
	lba28_setup(1, 1);
	outb(0x1F7, 0xC8);
	bm_start(0xF0000000, true);
	run_timers_for(1000000);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1) & 0x07, 0x06);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	as_write(io, BM_BASE, 0x00, 1);

	/* A buffer in MMIO: the device is never called, the data is dropped. */
	quiesce();
	prd(table, 0, MMIO_BASE, 512, true);
	lba28_setup(1, 1);
	outb(0x1F7, 0xC8);
	bm_start(table, true);
	run_timers_for(1000000);
	CHECK_EQ(mmio_accesses, 0);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1) & 0x07, 0x06);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	as_write(io, BM_BASE, 0x00, 1);

	/* A buffer straddling the end of RAM and a 64 KiB entry far past it. */
	quiesce();
	memset(ram + RAM_SIZE - 512, 0, 512);
	prd(table, 0, RAM_SIZE - 256, 512, false);
	prd(table, 1, 0xFFFF0000, 0, true);
	lba48_setup(40, 129);
	outb(0x1F7, 0x25);
	bm_start(table, true);
	run_timers_for(1000000);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1) & 0x07, 0x06);
	CHECK_EQ(ram[RAM_SIZE - 257], 0);
	CHECK_EQ(ram[RAM_SIZE - 256], pattern(40, 0));
	CHECK_EQ(ram[RAM_SIZE - 1], pattern(40, 255));
	CHECK_EQ(mmio_accesses, 0);
	as_write(io, BM_BASE, 0x00, 1);

	/* WRITE DMA from a buffer past RAM: the disk gets what a hole reads. */
	quiesce();
	prd(table, 0, 0xF0000000, 512, true);
	lba28_setup(50, 1);
	outb(0x1F7, 0xCA);
	bm_start(table, false);
	run_timers_for(1000000);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1) & 0x07, 0x06);
	CHECK_EQ(image[50 * 512], 0xFF);
	as_write(io, BM_BASE, 0x00, 1);
	fill_image();
	quiesce();
}

static uint32_t cfg_read(int devfn, int reg)
{
	as_write(io, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)reg, 4);
	return (uint32_t)as_read(io, 0xCFC, 4);
}

static void cfg_write(int devfn, int reg, uint32_t v)
{
	as_write(io, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)reg, 4);
	as_write(io, 0xCFC, v, 4);
}

static void test_ide_function(void)
{
	const int devfn = 1 << 3 | 1;

	CHECK_EQ(cfg_read(devfn, 0x00), 0x70108086);
	CHECK_EQ(cfg_read(devfn, 0x08) >> 8, 0x010180);
	CHECK_EQ(cfg_read(devfn, 0x20), BM_BASE | 1);
	CHECK_EQ(cfg_read(devfn, 0x04) & 0x05, 0x05);
	/* Sizing the BAR moves it off the I/O space: it decodes nothing ... */
	cfg_write(devfn, 0x20, 0xFFFFFFFF);
	CHECK_EQ(cfg_read(devfn, 0x20), 0xFFFFFFF1);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0xFF);
	/* ... and the window follows a new base. */
	cfg_write(devfn, 0x20, 0xD001);
	CHECK_EQ(as_read(io, 0xD002, 1) & 0x61, 0x20);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1), 0xFF);
	/* I/O decoding off: gone. */
	cfg_write(devfn, 0x04, 0x0004);
	CHECK_EQ(as_read(io, 0xD002, 1), 0xFF);
	cfg_write(devfn, 0x04, 0x0005);
	cfg_write(devfn, 0x20, BM_BASE);
	CHECK_EQ(as_read(io, BM_BASE + 2, 1) & 0x61, 0x20);

	/* Bus mastering off in the command register: DMA does not happen. */
	quiesce();
	cfg_write(devfn, 0x04, 0x0001);
	prd(0x3000, 0, 0x60000, 512, true);
	lba28_setup(3, 1);
	outb(0x1F7, 0xC8);
	bm_start(0x3000, true);
	run_timers_for(1000000);
	CHECK_EQ(irq_edges, 0);
	cfg_write(devfn, 0x04, 0x0005);
	as_write(io, BM_BASE, 0x00, 1);
	outb(0x3F6, 0x04);
	outb(0x3F6, 0x00);
	quiesce();
}

/* More machines (kept reachable for the leak checker). */
static AddressSpace *io2, *io3;
static ATA *ata2, *ata3;

/* A disk of another size without a bus master, and a channel with no disk. */
static void test_other_disks(void)
{
	MemoryRegion *root = mr_container("io2", 0x10000);
	AddressSpace *saved = io;
	uint64_t big = 80000; /* sectors, about 39 MiB */
	uint8_t *img = calloc(big, 512);

	io = io2 = as_new("io2", root);
	ata2 = one_disk(root, NULL, img, big * 512 + 100); /* a partial sector is ignored */
	quiesce();
	identify();
	CHECK_EQ(id[60] | (uint32_t)id[61] << 16, big);
	CHECK_EQ(id[100] | (uint32_t)id[101] << 16, big);
	CHECK_EQ(id[1], big / (16 * 63));
	/* Without a bus master, DMA commands abort. */
	lba28_setup(0, 1);
	outb(0x1F7, 0xC8);
	CHECK_EQ(inb(0x1F7), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x1F1), ABRT);
	io = saved;
	free(img);

	root = mr_container("io3", 0x10000);
	io = io3 = as_new("io3", root);
	ata3 = ata_new(root, clk, NULL, dma, &irq14, NULL, NULL);
	quiesce();
	CHECK_EQ(inb(0x1F7), 0);
	outb(0x1F6, 0xA0);
	outb(0x1F7, 0xEC);
	CHECK_EQ(irq_edges, 0);
	CHECK_EQ(inb(0x1F7), 0);
	io = saved;
}

/* ---- the secondary channel, a slave, an ATAPI CD-ROM ------------------------- */

static AddressSpace *io4;
static ATA *ata4;
static PCIBus *pci4;
static int irq15_edges, irq15_level;

static void irq15_handler(void *opaque, int n, int level)
{
	if (level && !irq15_level)
		irq15_edges++;
	irq15_level = level;
}

static const IRQ irq15 = {irq15_handler, NULL, 15};

#define CD_SECTORS 64
static uint8_t cd_byte(uint32_t lba, uint32_t i)
{
	return (uint8_t)(lba * 13 + i * 3 + (i >> 8));
}

/* A packet command to the secondary master: the 12 bytes, PIO or DMA. */
static void packet(const uint8_t cdb[12], uint16_t limit, bool dma)
{
	outb(0x176, 0xA0);
	outb(0x171, dma ? 1 : 0);
	outb(0x174, (uint8_t)limit);
	outb(0x175, (uint8_t)(limit >> 8));
	irq15_edges = 0;
	outb(0x177, 0xA0);
	CHECK_EQ(inb(0x376) & (BSY | DRQ), DRQ);
	CHECK_EQ(inb(0x172), 0x01); /* interrupt reason: command packet */
	CHECK_EQ(irq15_edges, 0);
	for (int i = 0; i < 12; i += 2)
		as_write(io, 0x170, cdb[i] | cdb[i + 1] << 8, 2);
}

/* Read one DRQ piece of a data-in packet command into @buf; its length. */
static uint32_t piece(uint8_t *buf)
{
	uint32_t n = inb(0x174) | inb(0x175) << 8;

	CHECK_EQ(inb(0x172), 0x02); /* data to the host */
	CHECK_EQ(inb(0x177) & (DRQ | ERR), DRQ);
	for (uint32_t i = 0; i < n; i += 2) {
		uint16_t w = (uint16_t)as_read(io, 0x170, 2);
		buf[i] = (uint8_t)w;
		if (i + 1 < n)
			buf[i + 1] = (uint8_t)(w >> 8);
	}
	return n;
}

static void packet_end(uint8_t status)
{
	CHECK_EQ(irq15_level, 1);
	CHECK_EQ(inb(0x172), 0x03); /* completion */
	CHECK_EQ(inb(0x177) & (BSY | DRQ | ERR | DRDY), status);
	CHECK_EQ(irq15_level, 0);
}

static void test_atapi(void)
{
	static uint8_t cd[CD_SECTORS * 2048], disk2[64 * 512], buf[8192];
	uint8_t cdb[12];
	ATADrive drives[4] = {{image, (uint64_t)SECTORS * 512, false},
			      {disk2, sizeof(disk2), false},
			      {cd, sizeof(cd), true}};
	MemoryRegion *root = mr_container("io4", 0x10000);
	AddressSpace *saved = io;
	bool all_ok = true;

	for (uint32_t l = 0; l < CD_SECTORS; l++)
		for (uint32_t i = 0; i < 2048; i++)
			cd[l * 2048 + i] = cd_byte(l, i);
	memset(disk2, 0x5A, sizeof(disk2));
	io = io4 = as_new("io4", root);
	pci4 = pci_new(root, NULL);
	ata4 = ata_new(root, clk, pci4, dma, &irq14, &irq15, drives);

	/* The CD-ROM's signature, and IDENTIFY DEVICE aborted with it. */
	outb(0x176, 0xA0);
	CHECK_EQ(inb(0x174), 0x14);
	CHECK_EQ(inb(0x175), 0xEB);
	outb(0x177, 0xEC);
	CHECK_EQ(inb(0x177), DRDY | DSC | ERR);
	CHECK_EQ(inb(0x171), ABRT);
	CHECK_EQ(inb(0x174) | inb(0x175) << 8, 0xEB14);
	/* IDENTIFY PACKET DEVICE: an ATAPI CD-ROM. */
	outb(0x177, 0xA1);
	CHECK_EQ(inb(0x177) & DRQ, DRQ);
	CHECK_EQ(as_read(io, 0x170, 2), 0x85C0);
	for (int i = 1; i < 256; i++)
		as_read(io, 0x170, 2);
	CHECK_EQ(inb(0x177) & DRQ, 0);
	/* The secondary slave is absent. */
	outb(0x176, 0xB0);
	CHECK_EQ(inb(0x177), 0);

	memset(cdb, 0, 12); /* TEST UNIT READY */
	packet(cdb, 0, false);
	packet_end(DRDY);

	memset(cdb, 0, 12); /* INQUIRY, 36 bytes */
	cdb[0] = 0x12;
	cdb[4] = 36;
	packet(cdb, 0xFFFF, false);
	CHECK_EQ(irq15_edges, 1);
	CHECK_EQ(piece(buf), 36);
	CHECK_EQ(buf[0], 0x05);
	CHECK_EQ(buf[1], 0x80);
	packet_end(DRDY);

	memset(cdb, 0, 12); /* READ CAPACITY */
	cdb[0] = 0x25;
	packet(cdb, 0xFFFF, false);
	CHECK_EQ(piece(buf), 8);
	CHECK_EQ(buf[3], CD_SECTORS - 1);
	CHECK_EQ(buf[6] << 8 | buf[7], 2048);
	packet_end(DRDY);

	/* READ(10) of sectors 2-3 in pieces of the 2048-byte limit. */
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[5] = 2;
	cdb[8] = 2;
	packet(cdb, 2048, false);
	CHECK_EQ(piece(buf), 2048);
	CHECK_EQ(irq15_edges, 2); /* a second piece announced */
	CHECK_EQ(piece(buf + 2048), 2048);
	packet_end(DRDY);
	for (uint32_t i = 0; i < 4096; i++)
		all_ok &= buf[i] == cd_byte(2 + i / 2048, i % 2048);
	CHECK(all_ok);

	/* MODE SENSE(10), the capabilities page. */
	memset(cdb, 0, 12);
	cdb[0] = 0x5A;
	cdb[2] = 0x2A;
	cdb[8] = 64;
	packet(cdb, 0xFFFF, false);
	CHECK_EQ(piece(buf), 28);
	CHECK_EQ(buf[8], 0x2A);
	packet_end(DRDY);

	/* An unknown command: CHECK CONDITION; REQUEST SENSE says why. */
	memset(cdb, 0, 12);
	cdb[0] = 0xFF;
	packet(cdb, 0xFFFF, false);
	CHECK_EQ(inb(0x171), 0x54); /* ILLEGAL REQUEST, ABRT */
	packet_end(DRDY | ERR);
	cdb[0] = 0x03;
	cdb[4] = 18;
	packet(cdb, 0xFFFF, false);
	CHECK_EQ(piece(buf), 18);
	CHECK_EQ(buf[2], 0x05);
	CHECK_EQ(buf[12], 0x20); /* invalid command operation code */
	packet_end(DRDY);
	/* Past the end of the disc. */
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[5] = CD_SECTORS - 1;
	cdb[8] = 2;
	packet(cdb, 0xFFFF, false);
	packet_end(DRDY | ERR);

	/* READ(10) by DMA through the secondary channel's bus master. */
	memset(ram + 0x30000, 0, 2048);
	st32(ram + 0x2000, 0x30000);
	st32(ram + 0x2004, 2048 | 0x80000000u);
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[5] = 7;
	cdb[8] = 1;
	packet(cdb, 0, true);
	as_write(io, BM_BASE + 8 + 4, 0x2000, 4);
	as_write(io, BM_BASE + 8, 0x09, 1);
	run_timers_for(1000000);
	CHECK_EQ(irq15_edges, 1);
	CHECK_EQ(as_read(io, BM_BASE + 8 + 2, 1) & 0x07, 0x04); /* interrupt, done */
	as_write(io, BM_BASE + 8, 0x00, 1);
	CHECK_EQ(ram[0x30000 + 100], cd_byte(7, 100));
	CHECK_EQ(ram[0x30000 + 2047], cd_byte(7, 2047));
	packet_end(DRDY);
	CHECK_EQ(irq_edges, 0); /* the primary channel's line stayed low */

	/* The primary slave: its own disk. */
	outb(0x1F6, 0xF0);
	outb(0x1F2, 1);
	outb(0x1F3, 3);
	outb(0x1F4, 0);
	outb(0x1F5, 0);
	outb(0x1F7, 0x20);
	CHECK_EQ(inb(0x1F7) & (DRQ | ERR), DRQ);
	CHECK_EQ(as_read(io, 0x1F0, 2), 0x5A5A);
	io = saved;
}

int main(void)
{
	MemoryRegion *iomr = mr_container("io", 0x10000);
	MemoryRegion *mem = mr_container("memory", 1ull << 32);
	MemoryRegion *ram_mr = mr_ram("ram", RAM_SIZE);

	clk = clock_new(&icount, 0);
	mr_add(mem, ram_mr, 0, 0);
	mr_add(mem, mr_mmio("trap", 0x1000, &mmio_ops, NULL), MMIO_BASE, 0);
	dma = dma_target_new(as_new("memory", mem));
	ram = mr_host(ram_mr);
	image = malloc((size_t)SECTORS * 512);
	fill_image();

	io = as_new("io", iomr);
	pci = pci_new(iomr, NULL);
	ata = one_disk(iomr, pci, image, (uint64_t)SECTORS * 512);

	test_power_on();
	test_identify();
	test_pio_read_lba28();
	test_pio_read_chs();
	test_pio_write();
	test_lba48();
	test_multiple();
	test_errors();
	test_srst();
	test_nien();
	test_slave_absent();
	test_dma_read();
	test_dma_write();
	test_dma_status();
	test_dma_bad_addresses();
	test_ide_function();
	test_other_disks();
	test_atapi();
	ata_reset(ata);
	CHECK_EQ(inb(0x1F7), DRDY | DSC);
	free(image);
	return unit_done("ata");
}
