/*
 * ata.c - the ATA hard disk on the primary IDE channel, with the PIIX3
 * bus-master IDE function (00:01.1) for DMA.
 *
 * The channel decodes 0x1F0-0x1F7 (command block) and 0x3F6 (alternate
 * status / device control) and interrupts on IRQ 14.  The master drive is
 * the disk image; the slave is absent: with it selected, status reads 0 and
 * commands are ignored, as ATA requires of a lone device 0.
 *
 * PIO commands complete at once: the data for a block is ready as soon as
 * the command (or the previous block) is done, which keeps the model simple
 * and deterministic.  DMA commands wait for the bus master to be started and
 * then finish after a short delay on the virtual clock, moving data between
 * the image and guest RAM through cpu_physical_memory_rw() only, so a bad
 * descriptor table can at worst lose data, never touch host memory.
 *
 * Writes change the image buffer the machine handed us (its private copy).
 */
#include "devices.h"

#include <string.h>

#define SECTOR_SIZE  512
#define MAX_MULTIPLE 16 /* sectors per DRQ block in READ/WRITE MULTIPLE */

/* Status register. */
#define ST_ERR	 0x01
#define ST_DRQ	 0x08
#define ST_DSC	 0x10
#define ST_DF	 0x20
#define ST_DRDY	 0x40
#define ST_BSY	 0x80
#define ST_READY (ST_DRDY | ST_DSC)

/* Error register. */
#define ERR_ABRT 0x04
#define ERR_IDNF 0x10

/* Device/head register. */
#define DH_LBA 0x40
#define DH_DEV 0x10

/* Device control register. */
#define DC_NIEN 0x02
#define DC_SRST 0x04
#define DC_HOB	0x80

/* Bus-master IDE registers (offsets in the BAR4 window). */
#define BM_CMD		0
#define BM_STATUS	2
#define BM_PRD		4
#define BM_SECONDARY	8
#define BM_CMD_START	0x01
#define BM_CMD_TO_MEM	0x08 /* "read/write control": the bus master writes memory */
#define BM_ST_ACTIVE	0x01
#define BM_ST_ERROR	0x02
#define BM_ST_INTR	0x04
#define BM_ST_DMA0	0x20 /* drive 0 DMA capable */
#define BM_ST_DMA1	0x40
#define BM_BAR		4
#define BM_BAR_SIZE	16
#define BM_DEFAULT_BASE 0xC000

/* A PRD table cannot cross a 64 KiB boundary, so it has at most 8192 entries. */
#define MAX_PRD_ENTRIES 8192
#define PRD_EOT		0x80000000u

/* Virtual time a DMA command takes once the bus master is started. */
#define DMA_DELAY_NS 10000

/* Command flags. */
#define CF_LBA48    0x01 /* 48-bit addressing: registers are two deep */
#define CF_WRITE    0x02 /* data goes from the host to the disk */
#define CF_MULTIPLE 0x04 /* PIO blocks of the SET MULTIPLE size */
#define CF_BUFFER   0x08 /* PIO data is a buffer made up by the drive (IDENTIFY) */

enum xfer { XFER_NONE, XFER_PIO, XFER_DMA };
enum addr_mode { ADDR_CHS, ADDR_LBA28, ADDR_LBA48 };

/* The registers that are two deep for 48-bit commands. */
struct taskfile {
	uint8_t feature, nsect, lbal, lbam, lbah;
};

struct ATA {
	MemoryRegion *io;
	MemoryRegion *cmd_ports, *ctl_port, *bm_ports;
	PCIDevice *pci;
	uint32_t bm_mapped; /* base the bus-master window sits at, 0: unmapped */
	const IRQ *irq;
	Timer *dma_timer;

	uint8_t *image;
	uint64_t sectors;
	uint16_t cyls, heads, spt;	       /* default geometry (IDENTIFY words 1/3/6) */
	uint16_t cur_cyls, cur_heads, cur_spt; /* after INITIALIZE DEVICE PARAMETERS */
	uint8_t multiple;		       /* sectors per block, 0: multiple mode off */
	uint8_t xfer_mode;		       /* SET FEATURES 03h value */

	/* Task file. */
	struct taskfile cur, hob;
	uint8_t error, select, status, devctl;
	bool irq_pending, irq_line;

	/* The command in progress. */
	enum xfer xfer;
	unsigned flags;
	enum addr_mode mode;
	uint64_t lba;	    /* next sector to transfer */
	uint32_t remaining; /* sectors still to transfer */
	uint8_t buf[MAX_MULTIPLE * SECTOR_SIZE];
	uint32_t pos, len; /* PIO position in buf, bytes in the current block */

	/* Bus master, primary channel; the secondary one is plain storage. */
	uint8_t bm_cmd, bm_status;
	uint32_t bm_prd;
	uint8_t bm_secondary[8];
};

static uint32_t min_u32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}

/* ---- interrupts ----------------------------------------------------------- */

static void update_irq(ATA *a)
{
	bool level = a->irq_pending && !(a->devctl & DC_NIEN);

	if (level == a->irq_line)
		return;
	a->irq_line = level;
	/* The bus master latches each rising edge of INTRQ. */
	if (level)
		a->bm_status |= BM_ST_INTR;
	irq_set(a->irq, level);
}

static void raise_irq(ATA *a)
{
	a->irq_pending = true;
	update_irq(a);
}

static void clear_irq(ATA *a)
{
	a->irq_pending = false;
	update_irq(a);
}

/* ---- drive state ------------------------------------------------------------ */

static bool drive_selected(const ATA *a)
{
	return a->image && !(a->select & DH_DEV);
}

static void end_transfer(ATA *a)
{
	a->xfer = XFER_NONE;
	a->pos = a->len = 0;
	timer_del(a->dma_timer);
}

/* The registers after power-on, reset or EXECUTE DEVICE DIAGNOSTIC. */
static void set_signature(ATA *a)
{
	memset(&a->cur, 0, sizeof(a->cur));
	a->cur.nsect = 1;
	a->cur.lbal = 1;
	a->hob = a->cur;
	a->select = 0;
	a->error = 0x01; /* device 0 passed, device 1 absent */
	a->status = ST_READY;
}

static void command_ok(ATA *a)
{
	end_transfer(a);
	a->status = ST_READY;
	raise_irq(a);
}

static void command_error(ATA *a, uint8_t error)
{
	end_transfer(a);
	a->error = error;
	a->status = ST_READY | ST_ERR;
	raise_irq(a);
}

/* ---- addressing ------------------------------------------------------------- */

static uint32_t sector_count(const ATA *a, unsigned flags)
{
	if (flags & CF_LBA48) {
		uint32_t n = (uint32_t)a->hob.nsect << 8 | a->cur.nsect;
		return n ? n : 65536;
	}
	return a->cur.nsect ? a->cur.nsect : 256;
}

/*
 * The first sector a command addresses, from the task file in the mode the
 * command uses; false for a CHS address outside the current geometry.
 */
static bool start_sector(ATA *a, unsigned flags, uint64_t *lba)
{
	if (flags & CF_LBA48) {
		a->mode = ADDR_LBA48;
		*lba = (uint64_t)a->hob.lbah << 40 | (uint64_t)a->hob.lbam << 32 |
		       (uint64_t)a->hob.lbal << 24 | (uint64_t)a->cur.lbah << 16 |
		       (uint64_t)a->cur.lbam << 8 | a->cur.lbal;
	} else if (a->select & DH_LBA) {
		a->mode = ADDR_LBA28;
		*lba = (uint64_t)(a->select & 0x0F) << 24 | (uint64_t)a->cur.lbah << 16 |
		       (uint64_t)a->cur.lbam << 8 | a->cur.lbal;
	} else {
		unsigned cyl = (unsigned)a->cur.lbah << 8 | a->cur.lbam;
		unsigned head = a->select & 0x0F, sec = a->cur.lbal;

		a->mode = ADDR_CHS;
		if (sec == 0 || sec > a->cur_spt || head >= a->cur_heads || cyl >= a->cur_cyls)
			return false;
		*lba = ((uint64_t)cyl * a->cur_heads + head) * a->cur_spt + sec - 1;
	}
	return true;
}

/* Leave @lba in the task file, in the mode of the current command. */
static void set_address(ATA *a, uint64_t lba)
{
	switch (a->mode) {
	case ADDR_LBA48:
		a->hob.lbah = (uint8_t)(lba >> 40);
		a->hob.lbam = (uint8_t)(lba >> 32);
		a->hob.lbal = (uint8_t)(lba >> 24);
		break;
	case ADDR_LBA28:
		a->select = (uint8_t)((a->select & 0xF0) | ((lba >> 24) & 0x0F));
		break;
	case ADDR_CHS: {
		uint64_t track = lba / a->cur_spt;
		uint64_t cyl = track / a->cur_heads;

		a->select = (uint8_t)((a->select & 0xF0) | (track % a->cur_heads));
		a->cur.lbal = (uint8_t)(lba % a->cur_spt + 1);
		a->cur.lbam = (uint8_t)cyl;
		a->cur.lbah = (uint8_t)(cyl >> 8);
		return;
	}
	}
	a->cur.lbah = (uint8_t)(lba >> 16);
	a->cur.lbam = (uint8_t)(lba >> 8);
	a->cur.lbal = (uint8_t)lba;
}

/*
 * Decode the range a read/write command asks for into lba/remaining; on a
 * bad address, end the command with IDNF and return false.
 */
static bool setup_range(ATA *a, unsigned flags)
{
	uint64_t lba = 0;
	uint32_t count = sector_count(a, flags);

	a->flags = flags;
	if (!start_sector(a, flags, &lba) || lba >= a->sectors || count > a->sectors - lba) {
		if (a->mode != ADDR_CHS)
			set_address(a, lba < a->sectors ? a->sectors : lba);
		command_error(a, ERR_IDNF);
		return false;
	}
	a->lba = lba;
	a->remaining = count;
	return true;
}

/* ---- PIO ------------------------------------------------------------------------ */

static uint32_t block_sectors(const ATA *a)
{
	uint32_t per_block = (a->flags & CF_MULTIPLE) ? a->multiple : 1;

	return min_u32(per_block, a->remaining);
}

/* Offer the next block: data in for reads, room for writes. */
static void pio_next_block(ATA *a, bool irq)
{
	a->len = block_sectors(a) * SECTOR_SIZE;
	a->pos = 0;
	if (!(a->flags & CF_WRITE))
		memcpy(a->buf, a->image + a->lba * SECTOR_SIZE, a->len);
	a->status = ST_READY | ST_DRQ;
	if (irq)
		raise_irq(a);
}

/* The host has read or written the whole block in buf. */
static void pio_block_done(ATA *a)
{
	uint32_t n = a->len / SECTOR_SIZE;

	if (a->flags & CF_BUFFER) {
		end_transfer(a);
		a->status = ST_READY;
		return;
	}
	if (a->flags & CF_WRITE)
		memcpy(a->image + a->lba * SECTOR_SIZE, a->buf, a->len);
	a->lba += n;
	a->remaining -= n;
	set_address(a, a->lba - 1);
	if (a->remaining) {
		pio_next_block(a, true);
	} else if (a->flags & CF_WRITE) {
		command_ok(a);
	} else {
		end_transfer(a);
		a->status = ST_READY;
	}
}

static uint32_t data_read(ATA *a, unsigned size)
{
	uint32_t v = 0;

	if (a->xfer != XFER_PIO || (a->flags & CF_WRITE) || !drive_selected(a))
		return 0;
	for (unsigned i = 0; i < size && a->pos < a->len; i++)
		v |= (uint32_t)a->buf[a->pos++] << (8 * i);
	if (a->pos == a->len)
		pio_block_done(a);
	return v;
}

static void data_write(ATA *a, uint32_t value, unsigned size)
{
	if (a->xfer != XFER_PIO || !(a->flags & CF_WRITE) || !drive_selected(a))
		return;
	for (unsigned i = 0; i < size && a->pos < a->len; i++)
		a->buf[a->pos++] = (uint8_t)(value >> (8 * i));
	if (a->pos == a->len)
		pio_block_done(a);
}

static void cmd_pio(ATA *a, unsigned flags)
{
	if ((flags & CF_MULTIPLE) && !a->multiple) {
		command_error(a, ERR_ABRT);
		return;
	}
	if (!setup_range(a, flags))
		return;
	a->xfer = XFER_PIO;
	/* Reads interrupt when the first block is ready; writes just ask for it. */
	pio_next_block(a, !(flags & CF_WRITE));
}

/* ---- IDENTIFY DEVICE ---------------------------------------------------------- */

/* An ATA string: two characters a word, the first in the high byte. */
static void id_string(uint8_t *id, int word, int nwords, const char *s)
{
	size_t len = strlen(s);

	for (int i = 0; i < 2 * nwords; i++) {
		char c = (size_t)i < len ? s[i] : ' ';
		id[2 * word + (i ^ 1)] = (uint8_t)c;
	}
}

static void id_word(uint8_t *id, int word, uint16_t v)
{
	st16(id + 2 * word, v);
}

static void id_dword(uint8_t *id, int word, uint32_t v)
{
	id_word(id, word, (uint16_t)v);
	id_word(id, word + 1, (uint16_t)(v >> 16));
}

static void build_identify(ATA *a, uint8_t *id)
{
	uint32_t cur_capacity = (uint32_t)a->cur_cyls * a->cur_heads * a->cur_spt;
	uint8_t mwdma = (a->xfer_mode >> 3) == 4 ? 1u << (a->xfer_mode & 7) : 0;
	uint8_t udma = (a->xfer_mode >> 3) == 8 ? 1u << (a->xfer_mode & 7) : 0;
	uint8_t sum = 0;

	memset(id, 0, SECTOR_SIZE);
	id_word(id, 0, 0x0040); /* fixed, non-removable ATA device */
	id_word(id, 1, a->cyls);
	id_word(id, 3, a->heads);
	id_word(id, 6, a->spt);
	id_string(id, 10, 10, "FB00000000000001");
	id_string(id, 23, 4, "0.1.0");
	id_string(id, 27, 20, "FLASHBACK HARDDISK");
	id_word(id, 47, 0x8000 | MAX_MULTIPLE);
	id_word(id, 49, 0x0B00); /* IORDY, LBA, DMA */
	id_word(id, 50, 0x4000);
	id_word(id, 51, 0x0200); /* PIO timing mode 2 */
	id_word(id, 53, 0x0007); /* words 54-58, 64-70 and 88 are valid */
	id_word(id, 54, a->cur_cyls);
	id_word(id, 55, a->cur_heads);
	id_word(id, 56, a->cur_spt);
	id_dword(id, 57, cur_capacity);
	id_word(id, 59, a->multiple ? 0x0100 | a->multiple : 0);
	id_dword(id, 60, min_u32(a->sectors, 0x0FFFFFFF));
	id_word(id, 63, 0x0007 | mwdma << 8); /* multiword DMA 0-2 */
	id_word(id, 64, 0x0003);	      /* PIO modes 3 and 4 */
	id_word(id, 65, 120);
	id_word(id, 66, 120);
	id_word(id, 67, 120);
	id_word(id, 68, 120);
	id_word(id, 80, 0x00F0); /* ATA/ATAPI-4 to -7 */
	id_word(id, 82, 0x4020); /* NOP, write cache */
	id_word(id, 83, 0x7400); /* FLUSH CACHE (EXT), 48-bit addressing */
	id_word(id, 84, 0x4000);
	id_word(id, 85, 0x4020);
	id_word(id, 86, 0x3400);
	id_word(id, 87, 0x4000);
	id_word(id, 88, 0x003F | udma << 8); /* UDMA 0-5 */
	id_word(id, 93, 0x6001);	     /* reset result: device 0, 80-wire cable */
	id_dword(id, 100, (uint32_t)a->sectors);
	id_dword(id, 102, (uint32_t)(a->sectors >> 32));
	/* Integrity word: signature A5h, then the byte that makes the sum 0. */
	id[510] = 0xA5;
	for (int i = 0; i < 511; i++)
		sum += id[i];
	id[511] = (uint8_t)-sum;
}

static void cmd_identify(ATA *a, unsigned flags)
{
	build_identify(a, a->buf);
	a->flags = CF_BUFFER;
	a->xfer = XFER_PIO;
	a->pos = 0;
	a->len = SECTOR_SIZE;
	a->status = ST_READY | ST_DRQ;
	raise_irq(a);
}

/* ---- non-data commands -------------------------------------------------------- */

static void cmd_nodata(ATA *a, unsigned flags)
{
	command_ok(a);
}

static void cmd_abort(ATA *a, unsigned flags)
{
	command_error(a, ERR_ABRT);
}

static void cmd_verify(ATA *a, unsigned flags)
{
	if (!setup_range(a, flags))
		return;
	set_address(a, a->lba + a->remaining - 1);
	command_ok(a);
}

static void cmd_set_multiple(ATA *a, unsigned flags)
{
	uint8_t n = a->cur.nsect;

	if (n > MAX_MULTIPLE || (n & (n - 1))) {
		command_error(a, ERR_ABRT);
		return;
	}
	a->multiple = n;
	command_ok(a);
}

static void cmd_init_params(ATA *a, unsigned flags)
{
	uint16_t spt = a->cur.nsect, heads = (uint16_t)((a->select & 0x0F) + 1);
	uint64_t cyls;

	if (!spt) {
		command_error(a, ERR_ABRT);
		return;
	}
	cyls = a->sectors / ((uint64_t)spt * heads);
	a->cur_spt = spt;
	a->cur_heads = heads;
	a->cur_cyls = (uint16_t)(cyls > 65535 ? 65535 : cyls);
	command_ok(a);
}

/* Whether @mode (SET FEATURES 03h) names a transfer mode we claim. */
static bool valid_xfer_mode(uint8_t mode)
{
	switch (mode >> 3) {
	case 0:
		return mode <= 1; /* PIO default */
	case 1:
		return (mode & 7) <= 4; /* PIO flow control 0-4 */
	case 4:
		return (mode & 7) <= 2; /* multiword DMA 0-2 */
	case 8:
		return (mode & 7) <= 5; /* UDMA 0-5 */
	default:
		return false;
	}
}

static void cmd_set_features(ATA *a, unsigned flags)
{
	switch (a->cur.feature) {
	case 0x03:
		if (!valid_xfer_mode(a->cur.nsect))
			break;
		a->xfer_mode = a->cur.nsect;
		command_ok(a);
		return;
	case 0x02: /* write cache on/off */
	case 0x82:
	case 0x55: /* read look-ahead off/on */
	case 0xAA:
	case 0x66: /* reverting to defaults off/on */
	case 0xCC:
		command_ok(a);
		return;
	}
	command_error(a, ERR_ABRT);
}

static void cmd_check_power(ATA *a, unsigned flags)
{
	a->cur.nsect = 0xFF; /* active or idle */
	command_ok(a);
}

static void cmd_read_native_max(ATA *a, unsigned flags)
{
	uint64_t max = a->sectors - 1;

	a->mode = flags & CF_LBA48 ? ADDR_LBA48 : ADDR_LBA28;
	if (!(flags & CF_LBA48) && max > 0x0FFFFFFF)
		max = 0x0FFFFFFF;
	set_address(a, max);
	command_ok(a);
}

static void cmd_diagnostic(ATA *a, unsigned flags)
{
	end_transfer(a);
	set_signature(a);
	raise_irq(a);
}

/* ---- DMA -------------------------------------------------------------------------- */

static void dma_kick(ATA *a)
{
	bool master_enabled = a->pci && (a->pci->config[0x04] & 0x04);

	if (a->xfer == XFER_DMA && (a->bm_cmd & BM_CMD_START) && master_enabled &&
	    !timer_pending(a->dma_timer))
		timer_mod(a->dma_timer, clock_ns() + DMA_DELAY_NS);
}

bool ata_may_interrupt(ATA *a)
{
	return timer_pending(a->dma_timer);
}

static void cmd_dma(ATA *a, unsigned flags)
{
	if (!a->pci) {
		command_error(a, ERR_ABRT);
		return;
	}
	if (!setup_range(a, flags))
		return;
	a->xfer = XFER_DMA;
	a->status = ST_READY | ST_DRQ;
	dma_kick(a);
}

/*
 * Walk the PRD table and move the command's data.  Returns false if the
 * table ran out before the data did, or any byte was dropped (a descriptor
 * or buffer outside RAM); *table_done says whether the last descriptor
 * (end of table) was used up exactly.
 */
static bool dma_move(ATA *a, bool *table_done)
{
	bool to_memory = !(a->flags & CF_WRITE);
	uint64_t offset = a->lba * SECTOR_SIZE;
	uint64_t left = (uint64_t)a->remaining * SECTOR_SIZE;
	uint32_t prd = a->bm_prd;
	bool ok = true, eot = false;

	*table_done = false;
	for (int i = 0; i < MAX_PRD_ENTRIES && left && !eot; i++, prd += 8) {
		uint8_t entry[8];
		uint32_t base, count;

		if (!cpu_physical_memory_rw(prd, entry, sizeof(entry), false))
			return false;
		base = ld32(entry) & ~1u;
		count = ld16(entry + 4) & ~1u;
		if (!count)
			count = 0x10000;
		eot = ld32(entry + 4) & PRD_EOT;
		if (count >= left)
			*table_done = eot && count == left;
		count = min_u32(count, left);
		if (!cpu_physical_memory_rw(base, a->image + offset, count, to_memory))
			ok = false;
		offset += count;
		left -= count;
	}
	return ok && !left;
}

static void dma_complete(void *opaque)
{
	ATA *a = opaque;
	bool direction_ok, table_done = false, ok = false;

	if (a->xfer != XFER_DMA || !(a->bm_cmd & BM_CMD_START))
		return;
	direction_ok = !(a->bm_cmd & BM_CMD_TO_MEM) == !!(a->flags & CF_WRITE);
	if (direction_ok)
		ok = dma_move(a, &table_done);
	if (ok && table_done)
		a->bm_status &= ~BM_ST_ACTIVE;
	if (!ok) {
		a->bm_status &= ~BM_ST_ACTIVE;
		a->bm_status |= BM_ST_ERROR;
	}
	a->bm_status |= BM_ST_INTR;
	if (!ok) {
		command_error(a, ERR_ABRT);
		return;
	}
	a->lba += a->remaining;
	a->remaining = 0;
	set_address(a, a->lba - 1);
	command_ok(a);
}

/* ---- the command table ------------------------------------------------------------ */

typedef void CommandFn(ATA *a, unsigned flags);

static const struct ata_command {
	CommandFn *run;
	unsigned flags;
} ata_commands[256] = {
    [0x10] = {cmd_nodata, 0},				   /* RECALIBRATE */
    [0x20] = {cmd_pio, 0},				   /* READ SECTORS */
    [0x21] = {cmd_pio, 0},				   /* ... without retry */
    [0x24] = {cmd_pio, CF_LBA48},			   /* READ SECTORS EXT */
    [0x25] = {cmd_dma, CF_LBA48},			   /* READ DMA EXT */
    [0x27] = {cmd_read_native_max, CF_LBA48},		   /* READ NATIVE MAX ADDRESS EXT */
    [0x29] = {cmd_pio, CF_LBA48 | CF_MULTIPLE},		   /* READ MULTIPLE EXT */
    [0x30] = {cmd_pio, CF_WRITE},			   /* WRITE SECTORS */
    [0x31] = {cmd_pio, CF_WRITE},			   /* ... without retry */
    [0x34] = {cmd_pio, CF_LBA48 | CF_WRITE},		   /* WRITE SECTORS EXT */
    [0x35] = {cmd_dma, CF_LBA48 | CF_WRITE},		   /* WRITE DMA EXT */
    [0x39] = {cmd_pio, CF_LBA48 | CF_WRITE | CF_MULTIPLE}, /* WRITE MULTIPLE EXT */
    [0x40] = {cmd_verify, 0},				   /* READ VERIFY SECTORS */
    [0x41] = {cmd_verify, 0},
    [0x42] = {cmd_verify, CF_LBA48},
    [0x70] = {cmd_nodata, 0}, /* SEEK */
    [0x90] = {cmd_diagnostic, 0},
    [0x91] = {cmd_init_params, 0},
    [0xC4] = {cmd_pio, CF_MULTIPLE}, /* READ MULTIPLE */
    [0xC5] = {cmd_pio, CF_WRITE | CF_MULTIPLE},
    [0xC6] = {cmd_set_multiple, 0},
    [0xC8] = {cmd_dma, 0}, /* READ DMA */
    [0xC9] = {cmd_dma, 0},
    [0xCA] = {cmd_dma, CF_WRITE}, /* WRITE DMA */
    [0xCB] = {cmd_dma, CF_WRITE},
    [0xE0] = {cmd_nodata, 0}, /* STANDBY IMMEDIATE */
    [0xE1] = {cmd_nodata, 0}, /* IDLE IMMEDIATE */
    [0xE2] = {cmd_nodata, 0}, /* STANDBY */
    [0xE3] = {cmd_nodata, 0}, /* IDLE */
    [0xE5] = {cmd_check_power, 0},
    [0xE7] = {cmd_nodata, 0}, /* FLUSH CACHE: writes are already in the image */
    [0xEA] = {cmd_nodata, 0}, /* FLUSH CACHE EXT */
    [0xEC] = {cmd_identify, 0},
    [0xEF] = {cmd_set_features, 0},
    [0xF8] = {cmd_read_native_max, 0},
};

static void command_write(ATA *a, uint8_t opcode)
{
	const struct ata_command *c = &ata_commands[opcode];

	if (!drive_selected(a) || (a->status & ST_BSY))
		return;
	/* A new command ends whatever was going on and clears INTRQ. */
	end_transfer(a);
	clear_irq(a);
	a->error = 0;
	if (c->run)
		c->run(a, c->flags);
	else
		cmd_abort(a, 0); /* unknown, NOP, IDENTIFY PACKET DEVICE (not ATAPI) */
}

/* ---- the command block and control ports ------------------------------------------ */

static uint8_t status_read(ATA *a, bool clear)
{
	if (!drive_selected(a))
		return 0;
	if (clear)
		clear_irq(a);
	return a->status;
}

static uint8_t reg_read(ATA *a, unsigned reg)
{
	const struct taskfile *tf = (a->devctl & DC_HOB) ? &a->hob : &a->cur;

	switch (reg) {
	case 1:
		return a->error;
	case 2:
		return tf->nsect;
	case 3:
		return tf->lbal;
	case 4:
		return tf->lbam;
	case 5:
		return tf->lbah;
	case 6:
		return a->select;
	default:
		return status_read(a, true);
	}
}

/* The 48-bit registers are a two-deep FIFO: a write pushes the old value to HOB. */
static void push(uint8_t *cur, uint8_t *hob, uint8_t value)
{
	*hob = *cur;
	*cur = value;
}

static void reg_write(ATA *a, unsigned reg, uint8_t value)
{
	/* Writing the command block during reset is ignored. */
	if (a->status & ST_BSY)
		return;
	a->devctl &= ~DC_HOB;
	switch (reg) {
	case 1:
		push(&a->cur.feature, &a->hob.feature, value);
		break;
	case 2:
		push(&a->cur.nsect, &a->hob.nsect, value);
		break;
	case 3:
		push(&a->cur.lbal, &a->hob.lbal, value);
		break;
	case 4:
		push(&a->cur.lbam, &a->hob.lbam, value);
		break;
	case 5:
		push(&a->cur.lbah, &a->hob.lbah, value);
		break;
	case 6:
		a->select = value;
		break;
	default:
		command_write(a, value);
		break;
	}
}

static uint64_t cmd_ports_read(void *opaque, uint64_t offset, unsigned size)
{
	ATA *a = opaque;
	uint64_t v = 0;

	if (offset == 0)
		return data_read(a, size > 4 ? 4 : size);
	for (unsigned i = 0; i < size && offset + i < 8; i++)
		v |= (uint64_t)reg_read(a, (unsigned)offset + i) << (8 * i);
	return v;
}

static void cmd_ports_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	ATA *a = opaque;

	if (offset == 0) {
		data_write(a, (uint32_t)value, size > 4 ? 4 : size);
		return;
	}
	for (unsigned i = 0; i < size && offset + i < 8; i++)
		reg_write(a, (unsigned)offset + i, (uint8_t)(value >> (8 * i)));
}

static const MemoryRegionOps cmd_ports_ops = {
    .read = cmd_ports_read,
    .write = cmd_ports_write,
};

static void devctl_write(ATA *a, uint8_t value)
{
	bool was_reset = a->devctl & DC_SRST;

	a->devctl = value;
	if ((value & DC_SRST) && !was_reset) {
		/* Reset asserted: abandon the command, busy until released. */
		end_transfer(a);
		a->irq_pending = false;
		a->status = ST_BSY;
	} else if (!(value & DC_SRST) && was_reset) {
		set_signature(a);
	}
	update_irq(a);
}

static uint64_t ctl_port_read(void *opaque, uint64_t offset, unsigned size)
{
	return status_read(opaque, false);
}

static void ctl_port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	devctl_write(opaque, (uint8_t)value);
}

static const MemoryRegionOps ctl_port_ops = {
    .read = ctl_port_read,
    .write = ctl_port_write,
};

/* ---- the bus-master registers ------------------------------------------------------ */

static void bm_cmd_write(ATA *a, uint8_t value)
{
	bool was_started = a->bm_cmd & BM_CMD_START;

	a->bm_cmd = value & (BM_CMD_START | BM_CMD_TO_MEM);
	if ((value & BM_CMD_START) && !was_started) {
		a->bm_status |= BM_ST_ACTIVE;
		dma_kick(a);
	} else if (!(value & BM_CMD_START) && was_started) {
		/* Stopping the engine abandons a transfer in flight. */
		timer_del(a->dma_timer);
		a->bm_status &= ~BM_ST_ACTIVE;
	}
}

static void bm_status_write(uint8_t *status, uint8_t value)
{
	*status &= (uint8_t) ~(value & (BM_ST_ERROR | BM_ST_INTR));
	*status =
	    (uint8_t)((*status & ~(BM_ST_DMA0 | BM_ST_DMA1)) | (value & (BM_ST_DMA0 | BM_ST_DMA1)));
}

static uint8_t bm_read_byte(ATA *a, unsigned offset)
{
	if (offset >= BM_SECONDARY)
		return a->bm_secondary[offset - BM_SECONDARY];
	switch (offset) {
	case BM_CMD:
		return a->bm_cmd;
	case BM_STATUS:
		return a->bm_status;
	case BM_PRD:
	case BM_PRD + 1:
	case BM_PRD + 2:
	case BM_PRD + 3:
		return (uint8_t)(a->bm_prd >> (8 * (offset - BM_PRD)));
	default:
		return 0;
	}
}

static void bm_write_byte(ATA *a, unsigned offset, uint8_t value)
{
	unsigned shift;

	if (offset >= BM_SECONDARY) {
		/* No drive on the secondary channel: keep the registers only. */
		uint8_t *r = a->bm_secondary;
		if (offset == BM_SECONDARY + BM_CMD)
			r[BM_CMD] = value & (BM_CMD_START | BM_CMD_TO_MEM);
		else if (offset == BM_SECONDARY + BM_STATUS)
			bm_status_write(&r[BM_STATUS], value);
		else if (offset >= BM_SECONDARY + BM_PRD)
			r[offset - BM_SECONDARY] =
			    offset == BM_SECONDARY + BM_PRD ? value & 0xFC : value;
		return;
	}
	switch (offset) {
	case BM_CMD:
		bm_cmd_write(a, value);
		break;
	case BM_STATUS:
		bm_status_write(&a->bm_status, value);
		break;
	case BM_PRD:
	case BM_PRD + 1:
	case BM_PRD + 2:
	case BM_PRD + 3:
		shift = 8 * (offset - BM_PRD);
		a->bm_prd = (a->bm_prd & ~(0xFFu << shift)) | (uint32_t)value << shift;
		a->bm_prd &= ~3u; /* the table is dword aligned */
		break;
	}
}

static uint64_t bm_read(void *opaque, uint64_t offset, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size && offset + i < BM_BAR_SIZE; i++)
		v |= (uint64_t)bm_read_byte(opaque, (unsigned)offset + i) << (8 * i);
	return v;
}

static void bm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	for (unsigned i = 0; i < size && offset + i < BM_BAR_SIZE; i++)
		bm_write_byte(opaque, (unsigned)offset + i, (uint8_t)(value >> (8 * i)));
}

static const MemoryRegionOps bm_ops = {
    .read = bm_read,
    .write = bm_write,
};

/* Follow BAR4 and the I/O enable bit: place, move or hide the window. */
static void bm_bars_changed(PCIDevice *d)
{
	ATA *a = d->opaque;
	uint32_t base = pci_io_bar(d, BM_BAR);

	if ((uint64_t)base + BM_BAR_SIZE > 0x10000)
		base = 0; /* outside the I/O space: decodes nothing */
	if (base == a->bm_mapped)
		return;
	if (a->bm_mapped)
		mr_remove(a->io, a->bm_ports);
	if (base)
		mr_add(a->io, a->bm_ports, base, 0);
	a->bm_mapped = base;
}

static void add_ide_function(ATA *a, PCIBus *bus)
{
	PCIDevice *d = pci_add(bus, 1 << 3 | 1, 0x8086, 0x7010, 0x01018000, NULL, a);

	a->pci = d;
	a->bm_ports = mr_mmio("piix3-bmdma", BM_BAR_SIZE, &bm_ops, a);
	pci_declare_io_bar(d, BM_BAR, BM_BAR_SIZE);
	/* IDETIM (primary, secondary): decode enabled; SIDETIM: storage. */
	for (int reg = 0x40; reg <= 0x44; reg++)
		d->wmask[reg >> 2] |= 0xFFu << ((reg & 3) * 8);
	st16(d->config + 0x40, 0x8000);
	st16(d->config + 0x42, 0x8000);
	/* A default window so that guests without firmware can use DMA. */
	st32(d->config + 0x10 + 4 * BM_BAR, BM_DEFAULT_BASE | 1);
	st16(d->config + 0x04, 0x0005); /* I/O space, bus master */
	d->bars_changed = bm_bars_changed;
	bm_bars_changed(d);
}

/* ---- construction and reset ---------------------------------------------------------- */

/* The usual translated geometry: 16 heads, 63 sectors a track. */
static void set_geometry(ATA *a)
{
	uint64_t cyls = a->sectors / (16 * 63);

	a->heads = 16;
	a->spt = 63;
	a->cyls = (uint16_t)(cyls > 16383 ? 16383 : cyls ? cyls : 1);
}

void ata_reset(ATA *a)
{
	end_transfer(a);
	set_signature(a);
	a->devctl = 0;
	a->irq_pending = false;
	update_irq(a);
	a->multiple = 0;
	a->xfer_mode = 0x45; /* UDMA 5 */
	a->cur_cyls = a->cyls;
	a->cur_heads = a->heads;
	a->cur_spt = a->spt;
	a->bm_cmd = 0;
	a->bm_status = a->image ? BM_ST_DMA0 : 0;
	a->bm_prd = 0;
	memset(a->bm_secondary, 0, sizeof(a->bm_secondary));
}

ATA *ata_new(MemoryRegion *io, PCIBus *pci, const IRQ *irq14, uint8_t *image, uint64_t size)
{
	ATA *a = xcalloc(1, sizeof(*a));

	a->io = io;
	a->irq = irq14;
	a->image = image;
	a->sectors = image ? size / SECTOR_SIZE : 0;
	if (image && !a->sectors)
		a->image = NULL; /* smaller than a sector: no disk */
	set_geometry(a);
	a->dma_timer = timer_new(dma_complete, a);
	a->cmd_ports = mr_mmio("ata-cmd", 8, &cmd_ports_ops, a);
	a->ctl_port = mr_mmio("ata-ctl", 1, &ctl_port_ops, a);
	mr_add(io, a->cmd_ports, 0x1F0, 0);
	mr_add(io, a->ctl_port, 0x3F6, 0);
	if (pci)
		add_ide_function(a, pci);
	ata_reset(a);
	return a;
}
