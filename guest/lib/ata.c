/*
 * ata.c - the master disk on the primary ATA channel: IDENTIFY, PIO reads
 * and writes (polled, interrupts off with nIEN), and READ DMA through the
 * PIIX bus-master IDE function, completed by IRQ 14.
 */
#include "guest.h"

#define ATA_DATA    0x1F0
#define ATA_ERROR   0x1F1
#define ATA_COUNT   0x1F2
#define ATA_LBA0    0x1F3
#define ATA_LBA1    0x1F4
#define ATA_LBA2    0x1F5
#define ATA_DEVICE  0x1F6
#define ATA_STATUS  0x1F7 /* reading it acknowledges the interrupt */
#define ATA_COMMAND 0x1F7
#define ATA_CTRL    0x3F6 /* device control (write), alternate status (read) */

#define ST_ERR	  0x01
#define ST_DRQ	  0x08
#define ST_DF	  0x20
#define ST_BSY	  0x80
#define CTRL_NIEN 0x02

#define CMD_READ_SECTORS  0x20
#define CMD_WRITE_SECTORS 0x30
#define CMD_READ_DMA	  0xC8
#define CMD_FLUSH_CACHE	  0xE7
#define CMD_IDENTIFY	  0xEC

/* Bus-master IDE registers (primary channel) relative to BAR4. */
#define BM_CMD		 0
#define BM_STATUS	 2
#define BM_PRDT		 4
#define BM_CMD_START	 0x01
#define BM_CMD_TO_MEMORY 0x08
#define BM_ST_ERROR	 0x02
#define BM_ST_IRQ	 0x04

#define SPIN_LIMIT 10000000

static u16 bm_base;

/* Waits for BSY to clear; returns the status, or -1 after SPIN_LIMIT polls. */
static int wait_not_busy(void)
{
	for (int i = 0; i < SPIN_LIMIT; i++) {
		u8 st = inb(ATA_CTRL);

		if (!(st & ST_BSY))
			return inb(ATA_STATUS);
	}
	return -1;
}

/* Waits for the device to want data: 0, -1 (time out) or -2 (error). */
static int wait_drq(void)
{
	int st = wait_not_busy();

	if (st < 0)
		return -1;
	if (st & (ST_ERR | ST_DF))
		return -2;
	return (st & ST_DRQ) ? 0 : -2;
}

static int issue(u8 cmd, u32 lba, int count, bool irq)
{
	if (wait_not_busy() < 0)
		return -1;
	outb(ATA_CTRL, irq ? 0 : CTRL_NIEN);
	outb(ATA_DEVICE, 0xE0 | ((lba >> 24) & 0x0F)); /* master, LBA */
	if (wait_not_busy() < 0)
		return -1;
	outb(ATA_COUNT, (u8)count);
	outb(ATA_LBA0, lba & 0xFF);
	outb(ATA_LBA1, (lba >> 8) & 0xFF);
	outb(ATA_LBA2, (lba >> 16) & 0xFF);
	outb(ATA_COMMAND, cmd);
	return 0;
}

int ata_identify(u16 id[256])
{
	int err;

	if (issue(CMD_IDENTIFY, 0, 0, false) < 0)
		return -1;
	if (inb(ATA_STATUS) == 0)
		return -2; /* no device */
	err = wait_drq();
	if (err)
		return err;
	for (int i = 0; i < 256; i++)
		id[i] = inw(ATA_DATA);
	return 0;
}

int ata_pio_read(u32 lba, int count, void *buf)
{
	u16 *p = buf;

	if (issue(CMD_READ_SECTORS, lba, count, false) < 0)
		return -1;
	for (int s = 0; s < count; s++) {
		int err = wait_drq();

		if (err)
			return err;
		for (int i = 0; i < ATA_SECTOR / 2; i++)
			*p++ = inw(ATA_DATA);
	}
	return 0;
}

int ata_pio_write(u32 lba, int count, const void *buf)
{
	const u16 *p = buf;
	int st;

	if (issue(CMD_WRITE_SECTORS, lba, count, false) < 0)
		return -1;
	for (int s = 0; s < count; s++) {
		int err = wait_drq();

		if (err)
			return err;
		for (int i = 0; i < ATA_SECTOR / 2; i++)
			outw(ATA_DATA, *p++);
	}
	st = wait_not_busy();
	if (st < 0)
		return -1;
	return (st & (ST_ERR | ST_DF)) ? -2 : 0;
}

int ata_flush(void)
{
	int st;

	if (issue(CMD_FLUSH_CACHE, 0, 0, false) < 0)
		return -1;
	st = wait_not_busy();
	if (st < 0)
		return -1;
	return (st & (ST_ERR | ST_DF)) ? -2 : 0;
}

u16 ata_dma_init(void)
{
	int bdf = pci_find_class(0x01, 0x01); /* mass storage, IDE */
	u32 bar4;

	if (bdf < 0)
		return 0;
	bar4 = pci_read32(bdf, 0x20);
	if (!(bar4 & 1))
		return 0; /* not an I/O BAR */
	/* Command: I/O space decoding and bus mastering. */
	pci_write16(bdf, 0x04, pci_read16(bdf, 0x04) | 0x0005);
	bm_base = bar4 & 0xFFFC;
	return bm_base;
}

struct prd {
	u32 addr;
	u16 bytes; /* 0 means 64 KiB */
	u16 flags; /* bit 15: last entry */
} __attribute__((packed));

static struct prd prdt[1] __attribute__((aligned(8)));
static volatile int dma_done;
static volatile u8 dma_ata_status, dma_bm_status;

static void ide_irq(struct regs *r)
{
	dma_bm_status = inb(bm_base + BM_STATUS);
	dma_ata_status = inb(ATA_STATUS); /* acknowledges the device */
	dma_done = 1;
}

int ata_dma_read(u32 lba, int count, void *buf, u32 timeout_ticks)
{
	u32 bytes = (u32)count * ATA_SECTOR;
	int err = 0;

	if (!bm_base || bytes == 0 || bytes > 0x10000)
		return -2;
	if (((u32)buf & 0xFFFF) + bytes > 0x10000)
		return -2; /* the PRD must not cross 64 KiB */
	prdt[0].addr = (u32)buf;
	prdt[0].bytes = (u16)bytes;
	prdt[0].flags = 0x8000;

	outb(bm_base + BM_CMD, 0); /* stopped */
	outl(bm_base + BM_PRDT, (u32)prdt);
	outb(bm_base + BM_STATUS, BM_ST_ERROR | BM_ST_IRQ); /* write 1 to clear */
	outb(bm_base + BM_CMD, BM_CMD_TO_MEMORY);
	dma_done = 0;
	set_irq(14, ide_irq);
	pic_unmask(14);
	if (issue(CMD_READ_DMA, lba, count, true) < 0)
		return -1;
	outb(bm_base + BM_CMD, BM_CMD_TO_MEMORY | BM_CMD_START);
	if (!wait_flag(&dma_done, timeout_ticks))
		err = -1;
	outb(bm_base + BM_CMD, 0);
	pic_mask(14);
	outb(bm_base + BM_STATUS, BM_ST_ERROR | BM_ST_IRQ);
	if (!err && ((dma_bm_status & BM_ST_ERROR) || !(dma_bm_status & BM_ST_IRQ) ||
		     (dma_ata_status & (ST_ERR | ST_DF))))
		err = -2;
	return err;
}
