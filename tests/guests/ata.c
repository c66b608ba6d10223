/*
 * ata.c - the primary master disk.  The runner attaches guest-disk.img, made
 * by `tools/mkdisk.py --sectors 256 --pattern`: sector n starts with "FBDK"
 * and n (little endian), then byte i = (n * 31 + i * 7 + (i >> 8)) & 0xFF.
 *
 * Checks: IDENTIFY (an ATA device, LBA and DMA supported, 256 sectors),
 * PIO reads of single and multiple sectors, a PIO write read back (the
 * neighbours untouched), and READ DMA through the PIIX bus master with
 * completion on IRQ 14.
 */
#include "guest.h"

#define DISK_SECTORS 256
#define WRITE_LBA    100

static u8 buf[8 * ATA_SECTOR] __attribute__((aligned(4096)));
static u8 wbuf[2 * ATA_SECTOR];

static u8 pattern_byte(u32 lba, u32 i)
{
	static const char magic[4] = "FBDK";

	if (i < 4)
		return magic[i];
	if (i < 8)
		return (lba >> (8 * (i - 4))) & 0xFF;
	return (lba * 31 + i * 7 + (i >> 8)) & 0xFF;
}

/* Checks @count sectors at @p against the pattern of @lba onwards. */
static bool pattern_ok(const u8 *p, u32 lba, int count, const char *how)
{
	for (int s = 0; s < count; s++)
		for (u32 i = 0; i < ATA_SECTOR; i++)
			if (p[s * ATA_SECTOR + i] != pattern_byte(lba + s, i))
				return check(false, "%s: sector %u byte %u is 0x%02x, want 0x%02x",
					     how, lba + s, i, p[s * ATA_SECTOR + i],
					     pattern_byte(lba + s, i));
	return true;
}

/* IDENTIFY strings are byte-swapped words, padded with spaces. */
static void identify_string(const u16 *id, int first, int words, char *out)
{
	int n = 0;

	for (int w = first; w < first + words; w++) {
		out[n++] = id[w] >> 8;
		out[n++] = id[w] & 0xFF;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static void check_identify(void)
{
	static u16 id[256];
	char model[41], serial[21];
	u32 sectors;

	if (!check(ata_identify(id) == 0, "IDENTIFY DEVICE failed"))
		return;
	identify_string(id, 27, 20, model);
	identify_string(id, 10, 10, serial);
	sectors = id[60] | (u32)id[61] << 16;
	printf("ata: model \"%s\", serial \"%s\", %u sectors\n", model, serial, sectors);
	check(!(id[0] & 0x8000), "word 0 = 0x%04x: not an ATA device", id[0]);
	check(id[49] & 0x0200, "word 49 = 0x%04x: no LBA", id[49]);
	check(id[49] & 0x0100, "word 49 = 0x%04x: no DMA", id[49]);
	check(sectors == DISK_SECTORS, "%u LBA28 sectors, want %u", sectors, DISK_SECTORS);
	check(model[0] != '\0', "empty model string");
}

static void check_pio(void)
{
	if (check(ata_pio_read(0, 1, buf) == 0, "PIO read of sector 0"))
		pattern_ok(buf, 0, 1, "PIO read");
	if (check(ata_pio_read(200, 8, buf) == 0, "PIO read of sectors 200-207"))
		pattern_ok(buf, 200, 8, "PIO read");
	if (check(ata_pio_read(DISK_SECTORS - 1, 1, buf) == 0, "PIO read of the last sector"))
		pattern_ok(buf, DISK_SECTORS - 1, 1, "PIO read");
	printf("ata: PIO reads done\n");
}

static void check_write(void)
{
	for (u32 i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = ~pattern_byte(WRITE_LBA + i / ATA_SECTOR, i % ATA_SECTOR) ^ 0x5A;
	if (!check(ata_pio_write(WRITE_LBA, 2, wbuf) == 0, "PIO write of sectors %u-%u", WRITE_LBA,
		   WRITE_LBA + 1))
		return;
	check(ata_flush() == 0, "FLUSH CACHE");
	memset(buf, 0, sizeof(buf));
	if (check(ata_pio_read(WRITE_LBA - 1, 4, buf) == 0, "PIO read around the write")) {
		pattern_ok(buf, WRITE_LBA - 1, 1, "sector before the write");
		check(memcmp(buf + ATA_SECTOR, wbuf, sizeof(wbuf)) == 0, "written data read back");
		pattern_ok(buf + 3 * ATA_SECTOR, WRITE_LBA + 2, 1, "sector after the write");
	}
	printf("ata: PIO write read back\n");
}

static void check_dma(void)
{
	u16 bm = ata_dma_init();

	if (!check(bm != 0, "no bus-master IDE function"))
		return;
	printf("ata: bus master at I/O 0x%x\n", bm);
	memset(buf, 0, sizeof(buf));
	if (check(ata_dma_read(10, 8, buf, 200) == 0, "READ DMA of sectors 10-17"))
		pattern_ok(buf, 10, 8, "DMA read");
	memset(buf, 0, sizeof(buf));
	if (check(ata_dma_read(WRITE_LBA, 2, buf, 200) == 0, "READ DMA of the written sectors"))
		check(memcmp(buf, wbuf, sizeof(wbuf)) == 0, "DMA read of the written data");
	check(unhandled_irqs == 0, "%u unexpected interrupts", unhandled_irqs);
	printf("ata: DMA reads done\n");
}

int guest_main(void)
{
	pic_init();
	timer_start(100); /* a time limit for the DMA waits */
	sti();
	check_identify();
	check_pio();
	check_write();
	check_dma();
	timer_stop();
	return check_done("ata");
}
