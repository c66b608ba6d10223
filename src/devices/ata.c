/*
 * ata.c - the PIIX3 IDE controller: two ATA channels with a master and a
 * slave each, hard disks and ATAPI CD-ROMs, and the bus-master IDE
 * function (00:01.1) for DMA on both channels.
 *
 * The primary channel decodes 0x1F0-0x1F7 and 0x3F6 and interrupts on
 * IRQ 14, the secondary one 0x170-0x177 and 0x376 on IRQ 15.  Drive index
 * 0-3 is primary master, primary slave, secondary master, secondary slave
 * (QEMU's -drive index).  Each drive keeps its own copy of the task file:
 * writes to the command block go to both drives of a channel, reads and
 * commands to the one the device/head register selects, as ATA/ATAPI-4
 * describes; an absent drive's status reads 0 ("no device").
 *
 * PIO commands complete at once: the data for a block is ready as soon as
 * the command (or the previous block) is done, which keeps the model simple
 * and deterministic.  DMA commands wait for the bus master to be started and
 * then finish after a short delay on the virtual clock, moving data between
 * the medium and guest RAM through cpu_physical_memory_rw() only, so a bad
 * descriptor table can at worst lose data, never touch host memory.
 *
 * CD-ROMs speak the PACKET protocol (ATA/ATAPI-4 section 9): a 12-byte
 * command block, then data in pieces of at most the byte count the host
 * allows, each announced by an interrupt with the interrupt reason in the
 * sector count register, then a completion interrupt.  The commands are
 * those of MMC that firmware and drivers send (TEST UNIT READY, REQUEST
 * SENSE, INQUIRY, READ CAPACITY, READ(10)/(12), MODE SENSE, READ TOC, ...);
 * anything else ends in CHECK CONDITION, ILLEGAL REQUEST, with the sense
 * data REQUEST SENSE returns.  The medium is always present and never
 * changes, so there is no unit attention.
 *
 * A disk's writes go to the bytes the machine handed over: its private
 * copy (snapshot=on) or the image file mapped shared.  CD-ROMs never write.
 */
#include "devices.h"

#include <string.h>

#define SECTOR_SIZE    512
#define CD_SECTOR_SIZE 2048
#define MAX_MULTIPLE   16 /* sectors per DRQ block in READ/WRITE MULTIPLE */
#define BUF_SIZE       (MAX_MULTIPLE * SECTOR_SIZE)

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

/* ATAPI interrupt reason (the sector count register). */
#define IR_COD 0x01 /* command packet (1) or data (0) */
#define IR_IO  0x02 /* to the host */

/* Sense keys and additional sense codes (MMC / SPC). */
#define SK_NO_SENSE	   0x00
#define SK_ILLEGAL_REQUEST 0x05
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_RANGE	   0x21
#define ASC_INVALID_FIELD  0x24

/* Bus-master IDE registers (offsets in the BAR4 window, per channel). */
#define BM_CMD		0
#define BM_STATUS	2
#define BM_PRD		4
#define BM_CHANNEL	8 /* the secondary channel's registers follow at +8 */
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
#define CF_PACKET   0x10 /* an ATAPI command's data (pieces of the byte count limit) */

enum xfer { XFER_NONE, XFER_PIO, XFER_DMA, XFER_PACKET /* receiving the command packet */ };
enum addr_mode { ADDR_CHS, ADDR_LBA28, ADDR_LBA48 };

/* The registers that are two deep for 48-bit commands. */
struct taskfile {
	uint8_t feature, nsect, lbal, lbam, lbah;
};

struct channel;

struct drive {
	struct channel *ch;
	int unit; /* 0 master, 1 slave */
	uint8_t *media;
	uint64_t sectors; /* of SECTOR_SIZE, or CD_SECTOR_SIZE for a CD-ROM */
	bool present, atapi;
	uint16_t cyls, heads, spt;	       /* default geometry (IDENTIFY words 1/3/6) */
	uint16_t cur_cyls, cur_heads, cur_spt; /* after INITIALIZE DEVICE PARAMETERS */
	uint8_t multiple;		       /* sectors per block, 0: multiple mode off */
	uint8_t xfer_mode;		       /* SET FEATURES 03h value */

	/* Task file: this drive's copy. */
	struct taskfile cur, hob;
	uint8_t error, status;

	/* The command in progress. */
	enum xfer xfer;
	unsigned flags;
	enum addr_mode mode;
	uint64_t lba;	    /* next sector to transfer */
	uint32_t remaining; /* sectors still to transfer */
	uint8_t buf[BUF_SIZE];
	uint32_t pos, len; /* PIO position in the current block, bytes in it */
	/* Data of a packet command or of DMA: bytes at src (the medium or buf). */
	uint8_t *src;
	uint32_t src_left; /* bytes of the whole command still to move */
	uint32_t limit;	   /* ATAPI byte count limit of each DRQ piece */

	/* ATAPI */
	uint8_t packet[12];
	uint8_t sense_key, asc;
};

struct channel {
	struct ATA *ata;
	int index;
	MemoryRegion *cmd_ports, *ctl_port;
	const IRQ *irq;
	bool irq_pending, irq_line;
	uint8_t select, devctl;
	struct drive drive[2];
	/* bus master */
	uint8_t bm_cmd, bm_status;
	uint32_t bm_prd;
	Timer *dma_timer;
};

struct ATA {
	Clock *clk; /* the machine's virtual clock */
	MemoryRegion *io, *bm_ports;
	PCIDevice *pci;
	DMATarget *dma;
	uint32_t bm_mapped; /* base the bus-master window sits at, 0: unmapped */
	struct channel ch[2];
};

static uint32_t min_u32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}

/* ---- interrupts ----------------------------------------------------------- */

static void update_irq(struct channel *c)
{
	bool level = c->irq_pending && !(c->devctl & DC_NIEN);

	if (level == c->irq_line)
		return;
	c->irq_line = level;
	/* The bus master latches each rising edge of INTRQ. */
	if (level)
		c->bm_status |= BM_ST_INTR;
	irq_set(c->irq, level);
}

static void raise_irq(struct drive *d)
{
	d->ch->irq_pending = true;
	update_irq(d->ch);
}

static void clear_irq(struct channel *c)
{
	c->irq_pending = false;
	update_irq(c);
}

/* ---- drive state ------------------------------------------------------------ */

static struct drive *selected(struct channel *c)
{
	struct drive *d = &c->drive[(c->select & DH_DEV) ? 1 : 0];

	return d->present ? d : NULL;
}

static void end_transfer(struct drive *d)
{
	d->xfer = XFER_NONE;
	d->pos = d->len = 0;
	d->src_left = 0;
	timer_del(d->ch->dma_timer);
}

/* The registers after power-on, reset or EXECUTE DEVICE DIAGNOSTIC: the
 * signature says what the device is (ATAPI: 14h EBh in the cylinder). */
static void set_signature(struct drive *d)
{
	memset(&d->cur, 0, sizeof(d->cur));
	d->cur.nsect = 1;
	d->cur.lbal = 1;
	if (d->atapi) {
		d->cur.lbam = 0x14;
		d->cur.lbah = 0xEB;
	}
	d->hob = d->cur;
	d->error = 0x01; /* passed (device 0: device 1 passed or absent) */
	d->status = ST_READY;
}

static void command_ok(struct drive *d)
{
	end_transfer(d);
	d->status = ST_READY;
	raise_irq(d);
}

static void command_error(struct drive *d, uint8_t error)
{
	end_transfer(d);
	d->error = error;
	d->status = ST_READY | ST_ERR;
	raise_irq(d);
}

/* ---- addressing ------------------------------------------------------------- */

static uint32_t sector_count(const struct drive *d, unsigned flags)
{
	if (flags & CF_LBA48) {
		uint32_t n = (uint32_t)d->hob.nsect << 8 | d->cur.nsect;
		return n ? n : 65536;
	}
	return d->cur.nsect ? d->cur.nsect : 256;
}

/*
 * The first sector a command addresses, from the task file in the mode the
 * command uses; false for a CHS address outside the current geometry.
 */
static bool start_sector(struct drive *d, unsigned flags, uint64_t *lba)
{
	uint8_t select = d->ch->select;

	if (flags & CF_LBA48) {
		d->mode = ADDR_LBA48;
		*lba = (uint64_t)d->hob.lbah << 40 | (uint64_t)d->hob.lbam << 32 |
		       (uint64_t)d->hob.lbal << 24 | (uint64_t)d->cur.lbah << 16 |
		       (uint64_t)d->cur.lbam << 8 | d->cur.lbal;
	} else if (select & DH_LBA) {
		d->mode = ADDR_LBA28;
		*lba = (uint64_t)(select & 0x0F) << 24 | (uint64_t)d->cur.lbah << 16 |
		       (uint64_t)d->cur.lbam << 8 | d->cur.lbal;
	} else {
		unsigned cyl = (unsigned)d->cur.lbah << 8 | d->cur.lbam;
		unsigned head = select & 0x0F, sec = d->cur.lbal;

		d->mode = ADDR_CHS;
		if (sec == 0 || sec > d->cur_spt || head >= d->cur_heads || cyl >= d->cur_cyls)
			return false;
		*lba = ((uint64_t)cyl * d->cur_heads + head) * d->cur_spt + sec - 1;
	}
	return true;
}

/* Leave @lba in the task file, in the mode of the current command. */
static void set_address(struct drive *d, uint64_t lba)
{
	uint8_t *select = &d->ch->select;

	switch (d->mode) {
	case ADDR_LBA48:
		d->hob.lbah = (uint8_t)(lba >> 40);
		d->hob.lbam = (uint8_t)(lba >> 32);
		d->hob.lbal = (uint8_t)(lba >> 24);
		break;
	case ADDR_LBA28:
		*select = (uint8_t)((*select & 0xF0) | ((lba >> 24) & 0x0F));
		break;
	case ADDR_CHS: {
		uint64_t track = lba / d->cur_spt;
		uint64_t cyl = track / d->cur_heads;

		*select = (uint8_t)((*select & 0xF0) | (track % d->cur_heads));
		d->cur.lbal = (uint8_t)(lba % d->cur_spt + 1);
		d->cur.lbam = (uint8_t)cyl;
		d->cur.lbah = (uint8_t)(cyl >> 8);
		return;
	}
	}
	d->cur.lbah = (uint8_t)(lba >> 16);
	d->cur.lbam = (uint8_t)(lba >> 8);
	d->cur.lbal = (uint8_t)lba;
}

/*
 * Decode the range a read/write command asks for into lba/remaining; on a
 * bad address, end the command with IDNF and return false.
 */
static bool setup_range(struct drive *d, unsigned flags)
{
	uint64_t lba = 0;
	uint32_t count = sector_count(d, flags);

	d->flags = flags;
	if (!start_sector(d, flags, &lba) || lba >= d->sectors || count > d->sectors - lba) {
		if (d->mode != ADDR_CHS)
			set_address(d, lba < d->sectors ? d->sectors : lba);
		command_error(d, ERR_IDNF);
		return false;
	}
	d->lba = lba;
	d->remaining = count;
	return true;
}

/* ---- PIO ------------------------------------------------------------------------ */

static uint32_t block_sectors(const struct drive *d)
{
	uint32_t per_block = (d->flags & CF_MULTIPLE) ? d->multiple : 1;

	return min_u32(per_block, d->remaining);
}

/* Offer the next block: data in for reads, room for writes. */
static void pio_next_block(struct drive *d, bool irq)
{
	d->len = block_sectors(d) * SECTOR_SIZE;
	d->pos = 0;
	if (!(d->flags & CF_WRITE))
		memcpy(d->buf, d->media + d->lba * SECTOR_SIZE, d->len);
	d->status = ST_READY | ST_DRQ;
	if (irq)
		raise_irq(d);
}

static void packet_next_piece(struct drive *d);

/* The host has read or written the whole block in buf. */
static void pio_block_done(struct drive *d)
{
	uint32_t n = d->len / SECTOR_SIZE;

	if (d->flags & CF_PACKET) {
		packet_next_piece(d);
		return;
	}
	if (d->flags & CF_BUFFER) {
		end_transfer(d);
		d->status = ST_READY;
		return;
	}
	if (d->flags & CF_WRITE)
		memcpy(d->media + d->lba * SECTOR_SIZE, d->buf, d->len);
	d->lba += n;
	d->remaining -= n;
	set_address(d, d->lba - 1);
	if (d->remaining) {
		pio_next_block(d, true);
	} else if (d->flags & CF_WRITE) {
		command_ok(d);
	} else {
		end_transfer(d);
		d->status = ST_READY;
	}
}

static void packet_received(struct drive *d);

static uint8_t pio_byte(struct drive *d)
{
	return (d->flags & CF_PACKET) ? d->src[d->pos++] : d->buf[d->pos++];
}

static uint32_t data_read(struct drive *d, unsigned size)
{
	uint32_t v = 0;

	if (!d || d->xfer != XFER_PIO || (d->flags & CF_WRITE))
		return 0;
	for (unsigned i = 0; i < size && d->pos < d->len; i++)
		v |= (uint32_t)pio_byte(d) << (8 * i);
	if (d->pos == d->len)
		pio_block_done(d);
	return v;
}

static void data_write(struct drive *d, uint32_t value, unsigned size)
{
	if (!d || (d->xfer != XFER_PIO && d->xfer != XFER_PACKET) ||
	    (d->xfer == XFER_PIO && !(d->flags & CF_WRITE)))
		return;
	for (unsigned i = 0; i < size && d->pos < d->len; i++)
		d->buf[d->pos++] = (uint8_t)(value >> (8 * i));
	if (d->pos < d->len)
		return;
	if (d->xfer == XFER_PACKET)
		packet_received(d);
	else
		pio_block_done(d);
}

static void cmd_pio(struct drive *d, unsigned flags)
{
	if ((flags & CF_MULTIPLE) && !d->multiple) {
		command_error(d, ERR_ABRT);
		return;
	}
	if (!setup_range(d, flags))
		return;
	d->xfer = XFER_PIO;
	/* Reads interrupt when the first block is ready; writes just ask for it. */
	pio_next_block(d, !(flags & CF_WRITE));
}

/* ---- IDENTIFY DEVICE and IDENTIFY PACKET DEVICE ----------------------------------- */

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

/* Words every device reports the same way: strings, DMA and PIO modes. */
static void id_common(struct drive *d, uint8_t *id, const char *model)
{
	uint8_t mwdma = (d->xfer_mode >> 3) == 4 ? 1u << (d->xfer_mode & 7) : 0;
	uint8_t udma = (d->xfer_mode >> 3) == 8 ? 1u << (d->xfer_mode & 7) : 0;
	char serial[] = "FB000000000000001";

	serial[sizeof(serial) - 2] = (char)('1' + d->ch->index * 2 + d->unit);
	id_string(id, 10, 10, serial);
	id_string(id, 23, 4, "0.1.0");
	id_string(id, 27, 20, model);
	id_word(id, 51, 0x0200);	      /* PIO timing mode 2 */
	id_word(id, 63, 0x0007 | mwdma << 8); /* multiword DMA 0-2 */
	id_word(id, 64, 0x0003);	      /* PIO modes 3 and 4 */
	id_word(id, 65, 120);
	id_word(id, 66, 120);
	id_word(id, 67, 120);
	id_word(id, 68, 120);
	id_word(id, 88, 0x003F | udma << 8);	    /* UDMA 0-5 */
	id_word(id, 93, d->unit ? 0x6100 : 0x6001); /* reset result, 80-wire cable */
}

/* Integrity word: signature A5h, then the byte that makes the sum 0. */
static void id_checksum(uint8_t *id)
{
	uint8_t sum = 0;

	id[510] = 0xA5;
	for (int i = 0; i < 511; i++)
		sum += id[i];
	id[511] = (uint8_t)-sum;
}

static void build_identify(struct drive *d, uint8_t *id)
{
	uint32_t cur_capacity = (uint32_t)d->cur_cyls * d->cur_heads * d->cur_spt;

	memset(id, 0, SECTOR_SIZE);
	id_word(id, 0, 0x0040); /* fixed, non-removable ATA device */
	id_word(id, 1, d->cyls);
	id_word(id, 3, d->heads);
	id_word(id, 6, d->spt);
	id_common(d, id, "FLASHBACK HARDDISK");
	id_word(id, 47, 0x8000 | MAX_MULTIPLE);
	id_word(id, 49, 0x0B00); /* IORDY, LBA, DMA */
	id_word(id, 50, 0x4000);
	id_word(id, 53, 0x0007); /* words 54-58, 64-70 and 88 are valid */
	id_word(id, 54, d->cur_cyls);
	id_word(id, 55, d->cur_heads);
	id_word(id, 56, d->cur_spt);
	id_dword(id, 57, cur_capacity);
	id_word(id, 59, d->multiple ? 0x0100 | d->multiple : 0);
	id_dword(id, 60, min_u32(d->sectors, 0x0FFFFFFF));
	id_word(id, 80, 0x00F0); /* ATA/ATAPI-4 to -7 */
	id_word(id, 82, 0x4020); /* NOP, write cache */
	id_word(id, 83, 0x7400); /* FLUSH CACHE (EXT), 48-bit addressing */
	id_word(id, 84, 0x4000);
	id_word(id, 85, 0x4020);
	id_word(id, 86, 0x3400);
	id_word(id, 87, 0x4000);
	id_dword(id, 100, (uint32_t)d->sectors);
	id_dword(id, 102, (uint32_t)(d->sectors >> 32));
	id_checksum(id);
}

static void build_identify_packet(struct drive *d, uint8_t *id)
{
	memset(id, 0, SECTOR_SIZE);
	/* ATAPI, CD-ROM (type 5), removable, DRQ within 50 us, 12-byte packets. */
	id_word(id, 0, 0x85C0);
	id_common(d, id, "FLASHBACK CD-ROM");
	id_word(id, 49, 0x0B00); /* IORDY, LBA, DMA */
	id_word(id, 53, 0x0006); /* words 64-70 and 88 are valid */
	id_word(id, 71, 30);	 /* typical times (ns) the host may wait */
	id_word(id, 72, 30);
	id_word(id, 80, 0x001E); /* ATA/ATAPI-1 to -4 */
	id_word(id, 82, 0x4214); /* PACKET feature set, DEVICE RESET, removable media */
	id_word(id, 83, 0x4000);
	id_word(id, 84, 0x4000);
	id_word(id, 85, 0x4214);
	id_word(id, 86, 0x0000);
	id_word(id, 87, 0x4000);
	id_checksum(id);
}

static void send_buffer(struct drive *d)
{
	d->flags = CF_BUFFER;
	d->xfer = XFER_PIO;
	d->pos = 0;
	d->len = SECTOR_SIZE;
	d->status = ST_READY | ST_DRQ;
	raise_irq(d);
}

static void cmd_identify(struct drive *d, unsigned flags)
{
	if (d->atapi) {
		/* A packet device aborts it, leaving its signature for the host. */
		set_signature(d);
		command_error(d, ERR_ABRT);
		return;
	}
	build_identify(d, d->buf);
	send_buffer(d);
}

static void cmd_identify_packet(struct drive *d, unsigned flags)
{
	build_identify_packet(d, d->buf);
	send_buffer(d);
}

/* ---- non-data commands -------------------------------------------------------- */

static void cmd_nodata(struct drive *d, unsigned flags)
{
	command_ok(d);
}

static void cmd_verify(struct drive *d, unsigned flags)
{
	if (!setup_range(d, flags))
		return;
	set_address(d, d->lba + d->remaining - 1);
	command_ok(d);
}

static void cmd_set_multiple(struct drive *d, unsigned flags)
{
	uint8_t n = d->cur.nsect;

	if (n > MAX_MULTIPLE || (n & (n - 1))) {
		command_error(d, ERR_ABRT);
		return;
	}
	d->multiple = n;
	command_ok(d);
}

static void cmd_init_params(struct drive *d, unsigned flags)
{
	uint16_t spt = d->cur.nsect, heads = (uint16_t)((d->ch->select & 0x0F) + 1);
	uint64_t cyls;

	if (!spt) {
		command_error(d, ERR_ABRT);
		return;
	}
	cyls = d->sectors / ((uint64_t)spt * heads);
	d->cur_spt = spt;
	d->cur_heads = heads;
	d->cur_cyls = (uint16_t)(cyls > 65535 ? 65535 : cyls);
	command_ok(d);
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

static void cmd_set_features(struct drive *d, unsigned flags)
{
	switch (d->cur.feature) {
	case 0x03:
		if (!valid_xfer_mode(d->cur.nsect))
			break;
		d->xfer_mode = d->cur.nsect;
		command_ok(d);
		return;
	case 0x02: /* write cache on/off */
	case 0x82:
	case 0x55: /* read look-ahead off/on */
	case 0xAA:
	case 0x66: /* reverting to defaults off/on */
	case 0xCC:
		command_ok(d);
		return;
	}
	command_error(d, ERR_ABRT);
}

static void cmd_check_power(struct drive *d, unsigned flags)
{
	d->cur.nsect = 0xFF; /* active or idle */
	command_ok(d);
}

static void cmd_read_native_max(struct drive *d, unsigned flags)
{
	uint64_t max = d->sectors - 1;

	d->mode = flags & CF_LBA48 ? ADDR_LBA48 : ADDR_LBA28;
	if (!(flags & CF_LBA48) && max > 0x0FFFFFFF)
		max = 0x0FFFFFFF;
	set_address(d, max);
	command_ok(d);
}

/* Both drives of the channel run their diagnostics; device 0 is selected. */
static void cmd_diagnostic(struct drive *d, unsigned flags)
{
	struct channel *c = d->ch;

	for (int i = 0; i < 2; i++) {
		if (!c->drive[i].present)
			continue;
		end_transfer(&c->drive[i]);
		set_signature(&c->drive[i]);
	}
	c->select &= (uint8_t)~DH_DEV;
	raise_irq(d);
}

/* DEVICE RESET (packet devices): the signature back, DRDY clear, no interrupt. */
static void cmd_device_reset(struct drive *d, unsigned flags)
{
	end_transfer(d);
	set_signature(d);
	d->status = 0;
}

/* ---- DMA -------------------------------------------------------------------------- */

static void dma_kick(struct channel *c)
{
	struct drive *d = selected(c);
	bool master_enabled = c->ata->pci && (c->ata->pci->config[0x04] & 0x04);

	if (d && d->xfer == XFER_DMA && (c->bm_cmd & BM_CMD_START) && master_enabled &&
	    !timer_pending(c->dma_timer))
		timer_mod(c->dma_timer, clock_ns(c->ata->clk) + DMA_DELAY_NS);
}

bool ata_may_interrupt(ATA *a, int channel)
{
	return timer_pending(a->ch[channel & 1].dma_timer);
}

/* Start a DMA of @len bytes at @src (the medium or the drive's buffer). */
static void dma_start(struct drive *d, uint8_t *src, uint32_t len)
{
	d->src = src;
	d->src_left = len;
	d->xfer = XFER_DMA;
	d->status = ST_READY | ST_DRQ;
	dma_kick(d->ch);
}

static void cmd_dma(struct drive *d, unsigned flags)
{
	if (!d->ch->ata->pci) {
		command_error(d, ERR_ABRT);
		return;
	}
	if (!setup_range(d, flags))
		return;
	dma_start(d, d->media + d->lba * SECTOR_SIZE, d->remaining * SECTOR_SIZE);
}

/*
 * Walk the PRD table and move the command's data.  Returns false if the
 * table ran out before the data did, or any byte was dropped (a descriptor
 * or buffer outside RAM); *table_done says whether the last descriptor
 * (end of table) was used up exactly.
 */
static bool dma_move(struct drive *d, bool *table_done)
{
	bool to_memory = !(d->flags & CF_WRITE);
	uint8_t *src = d->src;
	uint64_t left = d->src_left;
	uint32_t prd = d->ch->bm_prd;
	bool ok = true, eot = false;

	*table_done = false;
	for (int i = 0; i < MAX_PRD_ENTRIES && left && !eot; i++, prd += 8) {
		uint8_t entry[8];
		uint32_t base, count;

		if (!cpu_physical_memory_rw(d->ch->ata->dma, prd, entry, sizeof(entry), false))
			return false;
		base = ld32(entry) & ~1u;
		count = ld16(entry + 4) & ~1u;
		if (!count)
			count = 0x10000;
		eot = ld32(entry + 4) & PRD_EOT;
		if (count >= left)
			*table_done = eot && count == left;
		count = min_u32(count, left);
		if (!cpu_physical_memory_rw(d->ch->ata->dma, base, src, count, to_memory))
			ok = false;
		src += count;
		left -= count;
	}
	return ok && !left;
}

static void dma_complete(void *opaque)
{
	struct channel *c = opaque;
	struct drive *d = selected(c);
	bool direction_ok, table_done = false, ok = false;

	if (!d || d->xfer != XFER_DMA || !(c->bm_cmd & BM_CMD_START))
		return;
	direction_ok = !(c->bm_cmd & BM_CMD_TO_MEM) == !!(d->flags & CF_WRITE);
	if (direction_ok)
		ok = dma_move(d, &table_done);
	if (ok && table_done)
		c->bm_status &= ~BM_ST_ACTIVE;
	if (!ok) {
		c->bm_status &= ~BM_ST_ACTIVE;
		c->bm_status |= BM_ST_ERROR;
	}
	c->bm_status |= BM_ST_INTR;
	if (!ok) {
		command_error(d, ERR_ABRT);
		return;
	}
	if (d->flags & CF_PACKET) {
		end_transfer(d);
		d->cur.nsect = IR_IO | IR_COD;
		d->status = ST_READY;
		raise_irq(d);
		return;
	}
	d->lba += d->remaining;
	d->remaining = 0;
	set_address(d, d->lba - 1);
	command_ok(d);
}

/* ---- ATAPI: the PACKET command ------------------------------------------------------ */

/* CHECK CONDITION: the sense is kept for REQUEST SENSE. */
static void packet_error(struct drive *d, uint8_t key, uint8_t asc)
{
	d->sense_key = key;
	d->asc = asc;
	end_transfer(d);
	d->error = (uint8_t)(key << 4 | ERR_ABRT);
	d->status = ST_READY | ST_ERR;
	d->cur.nsect = IR_IO | IR_COD;
	raise_irq(d);
}

static void packet_done(struct drive *d)
{
	d->sense_key = SK_NO_SENSE;
	d->asc = 0;
	end_transfer(d);
	d->status = ST_READY;
	d->cur.nsect = IR_IO | IR_COD;
	raise_irq(d);
}

/* Offer the next piece of data-in (at most the byte count limit), or end. */
static void packet_next_piece(struct drive *d)
{
	uint32_t n;

	d->src += d->len;
	if (!d->src_left) {
		packet_done(d);
		return;
	}
	n = min_u32(d->src_left, d->limit);
	d->src_left -= n;
	d->pos = 0;
	d->len = n;
	d->xfer = XFER_PIO;
	d->flags = CF_PACKET;
	d->cur.lbam = (uint8_t)n;
	d->cur.lbah = (uint8_t)(n >> 8);
	d->cur.nsect = IR_IO;
	d->status = ST_READY | ST_DRQ;
	raise_irq(d);
}

/* Send @len bytes at @src to the host, by PIO or by DMA as the packet asked. */
static void packet_data_in(struct drive *d, uint8_t *src, uint32_t len)
{
	if (!len) {
		packet_done(d);
		return;
	}
	if (d->cur.feature & 1) { /* DMA */
		if (!d->ch->ata->pci) {
			packet_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
		d->flags = CF_PACKET;
		dma_start(d, src, len);
		return;
	}
	d->src = src;
	d->src_left = len;
	d->len = 0;
	packet_next_piece(d);
}

/* Reply with the first @avail bytes of buf, at most the allocation length. */
static void reply(struct drive *d, uint32_t avail, uint32_t alloc)
{
	packet_data_in(d, d->buf, min_u32(avail, alloc));
}

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v);
}

static void scsi_inquiry(struct drive *d, const uint8_t *cdb)
{
	uint8_t *b = d->buf;

	if (cdb[1] & 1) { /* no vital product data pages */
		packet_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	memset(b, 0, 36);
	b[0] = 0x05; /* CD-ROM device */
	b[1] = 0x80; /* removable */
	b[2] = 0x00;
	b[3] = 0x21; /* ATAPI transport, response data format 1 */
	b[4] = 31;   /* additional length */
	memcpy(b + 8, "FLASHBCK", 8);
	memcpy(b + 16, "CD-ROM          ", 16);
	memcpy(b + 32, "0.1 ", 4);
	reply(d, 36, be16(cdb + 3));
}

static void scsi_request_sense(struct drive *d, const uint8_t *cdb)
{
	uint8_t *b = d->buf;

	memset(b, 0, 18);
	b[0] = 0x70; /* current error, fixed format */
	b[2] = d->sense_key;
	b[7] = 10; /* additional sense length */
	b[12] = d->asc;
	reply(d, 18, cdb[4]);
}

static void scsi_read_capacity(struct drive *d, const uint8_t *cdb)
{
	put_be32(d->buf, (uint32_t)(d->sectors - 1));
	put_be32(d->buf + 4, CD_SECTOR_SIZE);
	reply(d, 8, 8);
}

static void scsi_read(struct drive *d, uint64_t lba, uint32_t count)
{
	if (lba > d->sectors || count > d->sectors - lba) {
		packet_error(d, SK_ILLEGAL_REQUEST, ASC_LBA_RANGE);
		return;
	}
	/* The largest transfer a command can describe fits in 32 bits of bytes
	 * here: a disc image above 2 TiB is not a CD. */
	if ((uint64_t)count * CD_SECTOR_SIZE > UINT32_MAX) {
		packet_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	packet_data_in(d, d->media + lba * CD_SECTOR_SIZE, count * CD_SECTOR_SIZE);
}

/* MODE SENSE: the error recovery page (01h) and the capabilities page (2Ah). */
static uint32_t mode_page(struct drive *d, uint8_t page, uint8_t *p)
{
	switch (page) {
	case 0x01:
		memset(p, 0, 8);
		p[0] = 0x01;
		p[1] = 6;
		return 8;
	case 0x2A:
		memset(p, 0, 20);
		p[0] = 0x2A;
		p[1] = 18;
		p[2] = 0x00; /* reads CD-ROM media only */
		p[4] = 0x71; /* audio play, composite, digital ports, multisession */
		p[5] = 0x00;
		p[6] = 0x29;		   /* lock, eject, tray loading */
		put_be16(p + 8, 706 * 8);  /* maximum speed, kB/s */
		put_be16(p + 10, 2);	   /* volume levels */
		put_be16(p + 12, 512);	   /* buffer, KiB */
		put_be16(p + 14, 706 * 8); /* current speed */
		return 20;
	}
	return 0;
}

static void scsi_mode_sense(struct drive *d, const uint8_t *cdb, bool ten)
{
	uint8_t page = cdb[2] & 0x3F, *b = d->buf;
	uint32_t header = ten ? 8 : 4, len = header, alloc = ten ? be16(cdb + 7) : cdb[4];

	memset(b, 0, header);
	if (page == 0x3F) {
		len += mode_page(d, 0x01, b + len);
		len += mode_page(d, 0x2A, b + len);
	} else {
		len += mode_page(d, page, b + len);
		if (len == header) {
			packet_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
			return;
		}
	}
	/* The length field counts the bytes after itself; no block descriptors. */
	if (ten)
		put_be16(b, len - 2);
	else
		b[0] = (uint8_t)(len - 1);
	reply(d, len, alloc);
}

/* An address in the TOC: LBA, or minutes/seconds/frames (+2 s of lead-in). */
static void toc_address(uint8_t *p, uint32_t lba, bool msf)
{
	if (msf) {
		uint32_t f = lba + 150;
		p[0] = 0;
		p[1] = (uint8_t)(f / (60 * 75));
		p[2] = (uint8_t)(f / 75 % 60);
		p[3] = (uint8_t)(f % 75);
	} else {
		put_be32(p, lba);
	}
}

/* READ TOC format 0 (one data track and the lead-out) and 1 (sessions). */
static void scsi_read_toc(struct drive *d, const uint8_t *cdb)
{
	bool msf = cdb[1] & 2;
	uint8_t format = cdb[2] & 0x0F, track = cdb[6], *b = d->buf;
	uint32_t len = 4;

	if (!format)
		format = cdb[9] >> 6; /* the older place of the format */
	memset(b, 0, 20);
	b[2] = b[3] = 1; /* first and last track (session) */
	if (format > 1 || (format == 0 && track > 1 && track != 0xAA)) {
		packet_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	if (format == 0 && track <= 1) {
		b[len + 1] = 0x14; /* ADR 1, data track */
		b[len + 2] = 1;
		toc_address(b + len + 4, 0, msf);
		len += 8;
	}
	/* Format 0: the lead-out; format 1: the first track of the last session. */
	b[len + 1] = 0x14;
	b[len + 2] = format == 0 ? 0xAA : 1;
	toc_address(b + len + 4, format == 0 ? (uint32_t)d->sectors : 0, msf);
	len += 8;
	put_be16(b, len - 2);
	reply(d, len, be16(cdb + 7));
}

/* GET CONFIGURATION: the header only, current profile CD-ROM (0008h). */
static void scsi_get_configuration(struct drive *d, const uint8_t *cdb)
{
	memset(d->buf, 0, 8);
	put_be32(d->buf, 4);
	put_be16(d->buf + 6, 0x0008);
	reply(d, 8, be16(cdb + 7));
}

/* GET EVENT STATUS NOTIFICATION (polled): no event, media class supported. */
static void scsi_get_event_status(struct drive *d, const uint8_t *cdb)
{
	if (!(cdb[1] & 1)) { /* asynchronous notification is not supported */
		packet_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
		return;
	}
	memset(d->buf, 0, 4);
	put_be16(d->buf, 2);
	d->buf[2] = 0x80; /* no event available */
	d->buf[3] = 0x10; /* media events */
	reply(d, 4, be16(cdb + 7));
}

/* The 12-byte command packet is in buf: run it. */
static void packet_received(struct drive *d)
{
	uint8_t cdb[12];
	uint32_t limit = (uint32_t)d->cur.lbah << 8 | d->cur.lbam;

	memcpy(cdb, d->buf, sizeof(cdb));
	memcpy(d->packet, cdb, sizeof(cdb));
	d->pos = d->len = 0;
	/* The byte count limit: even, and 0 (or FFFFh) means as much as fits. */
	limit &= ~1u;
	d->limit = limit ? limit : 0xFFFE;
	switch (cdb[0]) {
	case 0x00: /* TEST UNIT READY: the medium is always there */
	case 0x1B: /* START STOP UNIT */
	case 0x1E: /* PREVENT ALLOW MEDIUM REMOVAL */
	case 0xBB: /* SET CD SPEED */
		packet_done(d);
		break;
	case 0x2B: /* SEEK(10) */
		if (be32(cdb + 2) >= d->sectors)
			packet_error(d, SK_ILLEGAL_REQUEST, ASC_LBA_RANGE);
		else
			packet_done(d);
		break;
	case 0x03:
		scsi_request_sense(d, cdb);
		break;
	case 0x12:
		scsi_inquiry(d, cdb);
		break;
	case 0x25:
		scsi_read_capacity(d, cdb);
		break;
	case 0x28: /* READ(10) */
		scsi_read(d, be32(cdb + 2), be16(cdb + 7));
		break;
	case 0xA8: /* READ(12) */
		scsi_read(d, be32(cdb + 2), be32(cdb + 6));
		break;
	case 0x1A:
		scsi_mode_sense(d, cdb, false);
		break;
	case 0x5A:
		scsi_mode_sense(d, cdb, true);
		break;
	case 0x43:
		scsi_read_toc(d, cdb);
		break;
	case 0x46:
		scsi_get_configuration(d, cdb);
		break;
	case 0x4A:
		scsi_get_event_status(d, cdb);
		break;
	default:
		packet_error(d, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
		break;
	}
}

/* PACKET: ask for the 12-byte command (no interrupt: DRQ comes at once). */
static void cmd_packet(struct drive *d, unsigned flags)
{
	d->xfer = XFER_PACKET;
	d->flags = 0;
	d->pos = 0;
	d->len = sizeof(d->packet);
	d->cur.nsect = IR_COD;
	d->status = ST_READY | ST_DRQ;
}

/* ---- the command tables ------------------------------------------------------------ */

typedef void CommandFn(struct drive *d, unsigned flags);

struct command {
	CommandFn *run;
	unsigned flags;
};

static const struct command ata_commands[256] = {
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

/* What a packet device accepts besides PACKET; the rest is aborted. */
static const struct command atapi_commands[256] = {
    [0x08] = {cmd_device_reset, 0},    [0x90] = {cmd_diagnostic, 0}, [0xA0] = {cmd_packet, 0},
    [0xA1] = {cmd_identify_packet, 0}, [0xE0] = {cmd_nodata, 0},     [0xE1] = {cmd_nodata, 0},
    [0xE2] = {cmd_nodata, 0},	       [0xE3] = {cmd_nodata, 0},     [0xE5] = {cmd_check_power, 0},
    [0xEC] = {cmd_identify, 0}, /* aborts with the signature */
    [0xEF] = {cmd_set_features, 0},
};

static void command_write(struct channel *c, uint8_t opcode)
{
	struct drive *d = selected(c);
	const struct command *cmd;

	if (!d || (d->status & ST_BSY))
		return;
	cmd = d->atapi ? &atapi_commands[opcode] : &ata_commands[opcode];
	/* A new command ends whatever was going on and clears INTRQ. */
	end_transfer(d);
	clear_irq(c);
	d->error = 0;
	if (cmd->run)
		cmd->run(d, cmd->flags);
	else
		command_error(d, ERR_ABRT); /* unknown, NOP, the other kind's commands */
}

/* ---- the command block and control ports ------------------------------------------ */

static uint8_t status_read(struct channel *c, bool clear)
{
	struct drive *d = selected(c);

	if (!d)
		return 0;
	if (clear)
		clear_irq(c);
	return d->status;
}

/*
 * With device 1 absent, device 0 answers for it (ATA/ATAPI-4 9.16.1):
 * the task file reads back what was written, status reads 0.
 */
static uint8_t reg_read(struct channel *c, unsigned reg)
{
	struct drive *d = selected(c);
	const struct taskfile *tf;

	if (!d && reg < 7 && c->drive[0].present)
		d = &c->drive[0];
	if (!d)
		return 0;
	tf = (c->devctl & DC_HOB) ? &d->hob : &d->cur;
	switch (reg) {
	case 1:
		return selected(c) ? d->error : 0;
	case 2:
		return tf->nsect;
	case 3:
		return tf->lbal;
	case 4:
		return tf->lbam;
	case 5:
		return tf->lbah;
	case 6:
		return c->select;
	default:
		return status_read(c, true);
	}
}

/* The 48-bit registers are a two-deep FIFO: a write pushes the old value to HOB. */
static void push(uint8_t *cur, uint8_t *hob, uint8_t value)
{
	*hob = *cur;
	*cur = value;
}

static void tf_write(struct drive *d, unsigned reg, uint8_t value)
{
	switch (reg) {
	case 1:
		push(&d->cur.feature, &d->hob.feature, value);
		break;
	case 2:
		push(&d->cur.nsect, &d->hob.nsect, value);
		break;
	case 3:
		push(&d->cur.lbal, &d->hob.lbal, value);
		break;
	case 4:
		push(&d->cur.lbam, &d->hob.lbam, value);
		break;
	case 5:
		push(&d->cur.lbah, &d->hob.lbah, value);
		break;
	}
}

static void reg_write(struct channel *c, unsigned reg, uint8_t value)
{
	struct drive *d = selected(c);

	/* Writing the command block during reset is ignored. */
	if (d && (d->status & ST_BSY))
		return;
	c->devctl &= ~DC_HOB;
	if (reg == 6) {
		c->select = value;
		update_irq(c);
	} else if (reg == 7) {
		command_write(c, value);
	} else {
		/* Both drives see every write to the task file. */
		tf_write(&c->drive[0], reg, value);
		tf_write(&c->drive[1], reg, value);
	}
}

static uint64_t cmd_ports_read(void *opaque, uint64_t offset, unsigned size)
{
	struct channel *c = opaque;
	uint64_t v = 0;

	if (offset == 0)
		return data_read(selected(c), size > 4 ? 4 : size);
	for (unsigned i = 0; i < size && offset + i < 8; i++)
		v |= (uint64_t)reg_read(c, (unsigned)offset + i) << (8 * i);
	return v;
}

static void cmd_ports_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct channel *c = opaque;

	if (offset == 0) {
		data_write(selected(c), (uint32_t)value, size > 4 ? 4 : size);
		return;
	}
	for (unsigned i = 0; i < size && offset + i < 8; i++)
		reg_write(c, (unsigned)offset + i, (uint8_t)(value >> (8 * i)));
}

static const MemoryRegionOps cmd_ports_ops = {
    .read = cmd_ports_read,
    .write = cmd_ports_write,
};

/* SRST reaches both drives of the channel. */
static void devctl_write(struct channel *c, uint8_t value)
{
	bool was_reset = c->devctl & DC_SRST;

	c->devctl = value;
	for (int i = 0; i < 2; i++) {
		struct drive *d = &c->drive[i];

		if (!d->present)
			continue;
		if ((value & DC_SRST) && !was_reset) {
			/* Reset asserted: abandon the command, busy until released. */
			end_transfer(d);
			d->status = ST_BSY;
		} else if (!(value & DC_SRST) && was_reset) {
			set_signature(d);
		}
	}
	if ((value & DC_SRST) && !was_reset)
		c->irq_pending = false;
	else if (!(value & DC_SRST) && was_reset)
		c->select = 0;
	update_irq(c);
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

static void bm_cmd_write(struct channel *c, uint8_t value)
{
	bool was_started = c->bm_cmd & BM_CMD_START;

	c->bm_cmd = value & (BM_CMD_START | BM_CMD_TO_MEM);
	if ((value & BM_CMD_START) && !was_started) {
		c->bm_status |= BM_ST_ACTIVE;
		dma_kick(c);
	} else if (!(value & BM_CMD_START) && was_started) {
		/* Stopping the engine abandons a transfer in flight. */
		timer_del(c->dma_timer);
		c->bm_status &= ~BM_ST_ACTIVE;
	}
}

static void bm_status_write(struct channel *c, uint8_t value)
{
	uint8_t *status = &c->bm_status;

	*status &= (uint8_t) ~(value & (BM_ST_ERROR | BM_ST_INTR));
	*status =
	    (uint8_t)((*status & ~(BM_ST_DMA0 | BM_ST_DMA1)) | (value & (BM_ST_DMA0 | BM_ST_DMA1)));
}

static uint8_t bm_read_byte(ATA *a, unsigned offset)
{
	struct channel *c = &a->ch[offset >= BM_CHANNEL];

	offset %= BM_CHANNEL;
	switch (offset) {
	case BM_CMD:
		return c->bm_cmd;
	case BM_STATUS:
		return c->bm_status;
	case BM_PRD:
	case BM_PRD + 1:
	case BM_PRD + 2:
	case BM_PRD + 3:
		return (uint8_t)(c->bm_prd >> (8 * (offset - BM_PRD)));
	default:
		return 0;
	}
}

static void bm_write_byte(ATA *a, unsigned offset, uint8_t value)
{
	struct channel *c = &a->ch[offset >= BM_CHANNEL];
	unsigned shift;

	offset %= BM_CHANNEL;
	switch (offset) {
	case BM_CMD:
		bm_cmd_write(c, value);
		break;
	case BM_STATUS:
		bm_status_write(c, value);
		break;
	case BM_PRD:
	case BM_PRD + 1:
	case BM_PRD + 2:
	case BM_PRD + 3:
		shift = 8 * (offset - BM_PRD);
		c->bm_prd = (c->bm_prd & ~(0xFFu << shift)) | (uint32_t)value << shift;
		c->bm_prd &= ~3u; /* the table is dword aligned */
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
static void set_geometry(struct drive *d)
{
	uint64_t cyls = d->sectors / (16 * 63);

	d->heads = 16;
	d->spt = 63;
	d->cyls = (uint16_t)(cyls > 16383 ? 16383 : cyls ? cyls : 1);
}

static void drive_reset(struct drive *d)
{
	end_transfer(d);
	set_signature(d);
	d->multiple = 0;
	d->xfer_mode = 0x45; /* UDMA 5 */
	d->cur_cyls = d->cyls;
	d->cur_heads = d->heads;
	d->cur_spt = d->spt;
	d->sense_key = SK_NO_SENSE;
	d->asc = 0;
}

void ata_reset(ATA *a)
{
	for (int i = 0; i < 2; i++) {
		struct channel *c = &a->ch[i];

		c->select = 0;
		c->devctl = 0;
		c->irq_pending = false;
		update_irq(c);
		c->bm_cmd = 0;
		c->bm_prd = 0;
		c->bm_status =
		    (c->drive[0].present ? BM_ST_DMA0 : 0) | (c->drive[1].present ? BM_ST_DMA1 : 0);
		for (int u = 0; u < 2; u++)
			drive_reset(&c->drive[u]);
	}
}

static void attach(struct drive *d, const ATADrive *m)
{
	uint64_t unit = m->cdrom ? CD_SECTOR_SIZE : SECTOR_SIZE;

	d->media = m->media;
	d->atapi = m->cdrom;
	d->sectors = m->media ? m->size / unit : 0;
	d->present = d->sectors != 0; /* smaller than a sector: no drive */
	set_geometry(d);
}

ATA *ata_new(MemoryRegion *io, Clock *clk, PCIBus *pci, DMATarget *dma, const IRQ *irq14,
	     const IRQ *irq15, const ATADrive drives[4])
{
	static const uint16_t cmd_base[2] = {0x1F0, 0x170}, ctl_base[2] = {0x3F6, 0x376};
	ATA *a = xcalloc(1, sizeof(*a));

	a->io = io;
	a->dma = dma;
	a->clk = clk;
	for (int i = 0; i < 2; i++) {
		struct channel *c = &a->ch[i];

		c->ata = a;
		c->index = i;
		c->irq = i ? irq15 : irq14;
		c->dma_timer = timer_new(clk, dma_complete, c);
		for (int u = 0; u < 2; u++) {
			c->drive[u].ch = c;
			c->drive[u].unit = u;
			if (drives)
				attach(&c->drive[u], &drives[2 * i + u]);
		}
		c->cmd_ports = mr_mmio(i ? "ata-cmd-secondary" : "ata-cmd", 8, &cmd_ports_ops, c);
		c->ctl_port = mr_mmio(i ? "ata-ctl-secondary" : "ata-ctl", 1, &ctl_port_ops, c);
		mr_add(io, c->cmd_ports, cmd_base[i], 0);
		mr_add(io, c->ctl_port, ctl_base[i], 0);
	}
	if (pci)
		add_ide_function(a, pci);
	ata_reset(a);
	return a;
}
