/*
 * kbd.c - the i8042 keyboard controller with a PS/2 keyboard and a minimal
 * PS/2 mouse behind it.
 *
 * Port 0x64 reads the status byte and takes controller commands; port 0x60
 * reads the output buffer and takes data bytes (for a controller command
 * that expects one, otherwise for the keyboard).  The controller has one
 * output buffer; bytes waiting for it queue in three places, served in this
 * order whenever the buffer empties: the controller's own replies, the
 * keyboard (unless its clock is disabled in the command byte), the mouse
 * (likewise).  IRQ 1 (keyboard) or IRQ 12 (mouse) is high while the buffer
 * holds a byte from that side and the command byte enables its interrupt.
 *
 * The output port carries the CPU reset line (bit 0, active low) and the
 * A20 gate (bit 1); changes are requests to the machine (MachineRequests).
 *
 * Host scancodes arrive in set 1, which is what a set-2 keyboard looks like
 * through the controller's translation (command byte bit 6, on by default).
 * With translation off and scan set 2 (or 3) selected, the keyboard sends
 * the set-2 codes of the same keys: a make code maps through a table, a
 * break code becomes 0xF0 and the make code, and 0xE0 prefixes pass.
 */
#include "devices.h"

#include <string.h>

#define PORT_DATA 0x60
#define PORT_CMD  0x64
#define QUEUE_LEN 16

/* Status register. */
#define ST_OBF	   0x01
#define ST_SYS	   0x04
#define ST_CMD	   0x08 /* last write went to 0x64 */
#define ST_UNLOCK  0x10 /* keyboard not inhibited */
#define ST_AUX_OBF 0x20

/* Controller command byte (internal RAM byte 0). */
#define CCB_KBD_INT   0x01
#define CCB_AUX_INT   0x02
#define CCB_SYS	      0x04
#define CCB_KBD_OFF   0x10
#define CCB_AUX_OFF   0x20
#define CCB_TRANSLATE 0x40
/* After POST: keyboard interrupt, system flag, translation. */
#define CCB_DEFAULT (CCB_KBD_INT | CCB_SYS | CCB_TRANSLATE)

/* Output port. */
#define OUT_RESET   0x01 /* 0 holds the CPU in reset */
#define OUT_A20	    0x02
#define OUT_KBD_OBF 0x10
#define OUT_AUX_OBF 0x20
#define OUT_DEFAULT (OUT_RESET | OUT_A20)

/* Replies. */
#define ACK	      0xFA
#define RESEND	      0xFE
#define BAT_OK	      0xAA
#define ECHO	      0xEE
#define SELF_TEST_OK  0x55
#define IFACE_TEST_OK 0x00

struct queue {
	uint8_t data[QUEUE_LEN];
	bool aux[QUEUE_LEN]; /* controller queue: whose byte it looks like */
	int head, count;
};

struct KBD {
	const MachineRequests *req; /* reset and A20 go to the machine */
	MemoryRegion *data_port, *cmd_port;
	const IRQ *irq1, *irq12;
	bool irq1_level, irq12_level;

	/* Controller. */
	uint8_t ram[32];    /* ram[0] is the command byte */
	uint8_t status_cmd; /* ST_CMD */
	uint8_t outport;
	uint8_t obuf;
	bool obf, obuf_aux;
	uint8_t pending; /* command waiting for its data byte, 0 if none */
	struct queue ctrl, kbd, aux;

	/* Keyboard. */
	bool kbd_scanning;
	uint8_t kbd_pending; /* ED, F3 or F0 waiting for its argument */
	uint8_t scan_set, leds, typematic, kbd_last;
	bool extended; /* the last host byte was an 0xE0 prefix */

	/* Mouse. */
	bool aux_enabled;
	uint8_t aux_pending; /* E8 or F3 waiting for its argument */
	uint8_t aux_rate, aux_resolution;
};

/* ---- queues and the output buffer --------------------------------------- */

static void queue_push(struct queue *q, uint8_t v, bool aux)
{
	int tail;

	if (q->count == QUEUE_LEN)
		return; /* overrun: the byte is lost, as on a real keyboard */
	tail = (q->head + q->count) % QUEUE_LEN;
	q->data[tail] = v;
	q->aux[tail] = aux;
	q->count++;
}

static uint8_t queue_pop(struct queue *q, bool *aux)
{
	uint8_t v = q->data[q->head];

	*aux = q->aux[q->head];
	q->head = (q->head + 1) % QUEUE_LEN;
	q->count--;
	return v;
}

static void queue_clear(struct queue *q)
{
	q->head = q->count = 0;
}

static uint8_t ccb(const KBD *k)
{
	return k->ram[0];
}

static void update_irq(KBD *k)
{
	bool l1 = k->obf && !k->obuf_aux && (ccb(k) & CCB_KBD_INT);
	bool l12 = k->obf && k->obuf_aux && (ccb(k) & CCB_AUX_INT);

	if (l1 != k->irq1_level) {
		k->irq1_level = l1;
		irq_set(k->irq1, l1);
	}
	if (l12 != k->irq12_level) {
		k->irq12_level = l12;
		irq_set(k->irq12, l12);
	}
}

/* Move the next waiting byte into an empty output buffer. */
static void refill(KBD *k)
{
	bool aux;

	if (!k->obf) {
		if (k->ctrl.count) {
			k->obuf = queue_pop(&k->ctrl, &aux);
			k->obuf_aux = aux;
			k->obf = true;
		} else if (k->kbd.count && !(ccb(k) & CCB_KBD_OFF)) {
			k->obuf = queue_pop(&k->kbd, &aux);
			k->obuf_aux = false;
			k->obf = true;
		} else if (k->aux.count && !(ccb(k) & CCB_AUX_OFF)) {
			k->obuf = queue_pop(&k->aux, &aux);
			k->obuf_aux = true;
			k->obf = true;
		}
	}
	update_irq(k);
}

static void ctrl_reply(KBD *k, uint8_t v, bool aux)
{
	queue_push(&k->ctrl, v, aux);
	refill(k);
}

static void kbd_reply(KBD *k, uint8_t v)
{
	k->kbd_last = v;
	queue_push(&k->kbd, v, false);
	refill(k);
}

static void aux_reply(KBD *k, uint8_t v)
{
	queue_push(&k->aux, v, true);
	refill(k);
}

/* ---- the keyboard ------------------------------------------------------------ */

static void kbd_defaults(KBD *k)
{
	k->scan_set = 2;
	k->typematic = 0x2B; /* 10.9 characters/s, 500 ms delay */
	k->leds = 0;
}

/* The scan-set number as the guest sees it through translation. */
static uint8_t scan_set_reply(const KBD *k)
{
	static const uint8_t translated[4] = {0, 0x43, 0x41, 0x3F};

	return (ccb(k) & CCB_TRANSLATE) ? translated[k->scan_set] : k->scan_set;
}

static void kbd_argument(KBD *k, uint8_t v)
{
	uint8_t cmd = k->kbd_pending;

	k->kbd_pending = 0;
	switch (cmd) {
	case 0xED:
		k->leds = v & 0x07;
		kbd_reply(k, ACK);
		break;
	case 0xF3:
		k->typematic = v & 0x7F;
		kbd_reply(k, ACK);
		break;
	case 0xF0:
		if (v == 0) {
			kbd_reply(k, ACK);
			kbd_reply(k, scan_set_reply(k));
		} else if (v <= 3) {
			k->scan_set = v;
			kbd_reply(k, ACK);
		} else {
			kbd_reply(k, RESEND);
		}
		break;
	}
}

static void kbd_command(KBD *k, uint8_t v)
{
	if (k->kbd_pending) {
		kbd_argument(k, v);
		return;
	}
	/* A command discards whatever the keyboard had not sent yet. */
	queue_clear(&k->kbd);
	switch (v) {
	case 0xFF:
		kbd_defaults(k);
		k->kbd_scanning = true;
		kbd_reply(k, ACK);
		kbd_reply(k, BAT_OK);
		break;
	case 0xFE:
		kbd_reply(k, k->kbd_last);
		break;
	case 0xF2:
		kbd_reply(k, ACK);
		kbd_reply(k, 0xAB);
		kbd_reply(k, (ccb(k) & CCB_TRANSLATE) ? 0x41 : 0x83);
		break;
	case 0xF4:
		k->kbd_scanning = true;
		kbd_reply(k, ACK);
		break;
	case 0xF5:
		kbd_defaults(k);
		k->kbd_scanning = false;
		kbd_reply(k, ACK);
		break;
	case 0xF6:
		kbd_defaults(k);
		kbd_reply(k, ACK);
		break;
	case 0xED:
	case 0xF3:
	case 0xF0:
		k->kbd_pending = v;
		kbd_reply(k, ACK);
		break;
	case 0xEE:
		kbd_reply(k, ECHO);
		break;
	default:
		kbd_reply(k, RESEND);
	}
}

/* ---- the mouse ----------------------------------------------------------------- */

static void aux_defaults(KBD *k)
{
	k->aux_enabled = false;
	k->aux_rate = 100;
	k->aux_resolution = 2;
}

static void aux_command(KBD *k, uint8_t v)
{
	if (k->aux_pending) {
		if (k->aux_pending == 0xF3)
			k->aux_rate = v;
		else
			k->aux_resolution = v & 3;
		k->aux_pending = 0;
		aux_reply(k, ACK);
		return;
	}
	queue_clear(&k->aux);
	switch (v) {
	case 0xFF:
		aux_defaults(k);
		aux_reply(k, ACK);
		aux_reply(k, BAT_OK);
		aux_reply(k, 0x00); /* device ID: standard mouse */
		break;
	case 0xF2:
		aux_reply(k, ACK);
		aux_reply(k, 0x00);
		break;
	case 0xE9: /* status request */
		aux_reply(k, ACK);
		aux_reply(k, k->aux_enabled ? 0x20 : 0x00);
		aux_reply(k, k->aux_resolution);
		aux_reply(k, k->aux_rate);
		break;
	case 0xE8:
	case 0xF3:
		k->aux_pending = v;
		aux_reply(k, ACK);
		break;
	case 0xF4:
		k->aux_enabled = true;
		aux_reply(k, ACK);
		break;
	case 0xF5:
	case 0xF6:
		aux_defaults(k);
		aux_reply(k, ACK);
		break;
	default:
		aux_reply(k, ACK);
	}
}

/* ---- the controller ------------------------------------------------------------- */

static uint8_t read_outport(const KBD *k)
{
	uint8_t v = k->outport & ~(OUT_KBD_OBF | OUT_AUX_OBF);

	if (k->obf)
		v |= k->obuf_aux ? OUT_AUX_OBF : OUT_KBD_OBF;
	return v;
}

static void write_outport(KBD *k, uint8_t v)
{
	uint8_t old = k->outport;

	k->outport = v;
	if ((old ^ v) & OUT_A20)
		request_a20(k->req, v & OUT_A20);
	if (!(v & OUT_RESET))
		request_reset(k->req);
}

static void set_ccb(KBD *k, uint8_t v)
{
	k->ram[0] = v;
	refill(k); /* clocks or interrupts may have been enabled */
}

/* The data byte of a controller command that takes one. */
static void ctrl_data(KBD *k, uint8_t cmd, uint8_t v)
{
	if (cmd >= 0x60 && cmd <= 0x7F) {
		if (cmd == 0x60)
			set_ccb(k, v);
		else
			k->ram[cmd & 0x1F] = v;
		return;
	}
	switch (cmd) {
	case 0xD1:
		write_outport(k, v);
		break;
	case 0xD2:
		ctrl_reply(k, v, false);
		break;
	case 0xD3:
		ctrl_reply(k, v, true);
		break;
	case 0xD4:
		aux_command(k, v);
		break;
	}
}

static void ctrl_command(KBD *k, uint8_t cmd)
{
	k->pending = 0;
	if (cmd >= 0x20 && cmd <= 0x3F) {
		ctrl_reply(k, k->ram[cmd & 0x1F], false);
		return;
	}
	if ((cmd >= 0x60 && cmd <= 0x7F) || (cmd >= 0xD1 && cmd <= 0xD4)) {
		k->pending = cmd;
		return;
	}
	if (cmd >= 0xF0) {
		/* Pulse the output lines whose bit is 0; line 0 is reset. */
		if (!(cmd & OUT_RESET))
			request_reset(k->req);
		return;
	}
	switch (cmd) {
	case 0xA7:
		set_ccb(k, ccb(k) | CCB_AUX_OFF);
		break;
	case 0xA8:
		set_ccb(k, ccb(k) & ~CCB_AUX_OFF);
		break;
	case 0xA9:
	case 0xAB:
		ctrl_reply(k, IFACE_TEST_OK, false);
		break;
	case 0xAA:
		ctrl_reply(k, SELF_TEST_OK, false);
		break;
	case 0xAD:
		set_ccb(k, ccb(k) | CCB_KBD_OFF);
		break;
	case 0xAE:
		set_ccb(k, ccb(k) & ~CCB_KBD_OFF);
		break;
	case 0xD0:
		ctrl_reply(k, read_outport(k), false);
		break;
	case 0xDD:
		write_outport(k, k->outport & ~OUT_A20);
		break;
	case 0xDF:
		write_outport(k, k->outport | OUT_A20);
		break;
	case 0xE0: /* test inputs: clock and data lines low */
		ctrl_reply(k, 0x00, false);
		break;
	default:
		break; /* unknown commands are ignored */
	}
}

static uint8_t read_status(const KBD *k)
{
	uint8_t st = k->status_cmd | ST_UNLOCK;

	if (ccb(k) & CCB_SYS)
		st |= ST_SYS;
	if (k->obf)
		st |= k->obuf_aux ? (ST_OBF | ST_AUX_OBF) : ST_OBF;
	return st;
}

static uint8_t read_data(KBD *k)
{
	uint8_t v = k->obuf;

	/* With the buffer empty the last byte reads again. */
	if (k->obf) {
		k->obf = false;
		update_irq(k); /* the line drops before the next byte comes in */
		refill(k);
	}
	return v;
}

static void write_data(KBD *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->status_cmd = 0;
	if (cmd) {
		k->pending = 0;
		ctrl_data(k, cmd, v);
	} else {
		kbd_command(k, v);
	}
}

/* ---- ports ---------------------------------------------------------------------- */

static uint64_t data_read(void *opaque, uint64_t offset, unsigned size)
{
	return read_data(opaque);
}

static void data_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	write_data(opaque, (uint8_t)value);
}

static uint64_t cmd_read(void *opaque, uint64_t offset, unsigned size)
{
	return read_status(opaque);
}

static void cmd_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	KBD *k = opaque;

	k->status_cmd = ST_CMD;
	ctrl_command(k, (uint8_t)value);
}

static const MemoryRegionOps data_ops = {.read = data_read, .write = data_write};
static const MemoryRegionOps cmd_ops = {.read = cmd_read, .write = cmd_write};

/* ---- interface ------------------------------------------------------------------ */

void kbd_reset(KBD *k)
{
	memset(k->ram, 0, sizeof(k->ram));
	k->ram[0] = CCB_DEFAULT;
	k->status_cmd = 0;
	k->outport = OUT_DEFAULT;
	k->obuf = 0;
	k->obf = k->obuf_aux = false;
	k->pending = 0;
	queue_clear(&k->ctrl);
	queue_clear(&k->kbd);
	queue_clear(&k->aux);
	kbd_defaults(k);
	k->kbd_scanning = true;
	k->kbd_pending = 0;
	k->kbd_last = 0;
	k->extended = false;
	aux_defaults(k);
	k->aux_pending = 0;
	update_irq(k);
}

/* Set-1 make code -> set-2 make code, for the keys of a 102-key keyboard. */
/* clang-format off */
static const uint8_t set1_to_set2[0x59] = {
	0x00, 0x76, 0x16, 0x1E, 0x26, 0x25, 0x2E, 0x36,	/* 00-07 */
	0x3D, 0x3E, 0x46, 0x45, 0x4E, 0x55, 0x66, 0x0D,	/* 08-0F */
	0x15, 0x1D, 0x24, 0x2D, 0x2C, 0x35, 0x3C, 0x43,	/* 10-17 */
	0x44, 0x4D, 0x54, 0x5B, 0x5A, 0x14, 0x1C, 0x1B,	/* 18-1F */
	0x23, 0x2B, 0x34, 0x33, 0x3B, 0x42, 0x4B, 0x4C,	/* 20-27 */
	0x52, 0x0E, 0x12, 0x5D, 0x1A, 0x22, 0x21, 0x2A,	/* 28-2F */
	0x32, 0x31, 0x3A, 0x41, 0x49, 0x4A, 0x59, 0x7C,	/* 30-37 */
	0x11, 0x29, 0x58, 0x05, 0x06, 0x04, 0x0C, 0x03,	/* 38-3F */
	0x0B, 0x83, 0x0A, 0x01, 0x09, 0x77, 0x7E, 0x6C,	/* 40-47 */
	0x75, 0x7D, 0x7B, 0x6B, 0x73, 0x74, 0x79, 0x69,	/* 48-4F */
	0x72, 0x7A, 0x70, 0x71, 0x84, 0x00, 0x61, 0x78,	/* 50-57 */
	0x07,						/* 58 */
};
/* clang-format on */

/* The same for the keys that send an 0xE0 prefix. */
static const struct {
	uint8_t set1, set2;
} e0_set1_to_set2[] = {
	{0x1C, 0x5A}, {0x1D, 0x14}, {0x35, 0x4A}, {0x38, 0x11}, {0x47, 0x6C}, {0x48, 0x75},
	{0x49, 0x7D}, {0x4B, 0x6B}, {0x4D, 0x74}, {0x4F, 0x69}, {0x50, 0x72}, {0x51, 0x7A},
	{0x52, 0x70}, {0x53, 0x71}, {0x5B, 0x1F}, {0x5C, 0x27}, {0x5D, 0x2F},
};

static uint8_t to_set2(uint8_t make, bool extended)
{
	size_t i;

	if (!extended)
		return make < sizeof(set1_to_set2) ? set1_to_set2[make] : 0;
	for (i = 0; i < ARRAY_SIZE(e0_set1_to_set2); i++)
		if (e0_set1_to_set2[i].set1 == make)
			return e0_set1_to_set2[i].set2;
	return 0;
}

/* Queue a host byte as the keyboard sends it in its current mode. */
static void queue_scancode(KBD *k, uint8_t code)
{
	uint8_t set2;

	if ((ccb(k) & CCB_TRANSLATE) || k->scan_set == 1 || code == 0xE0 || code == 0xE1) {
		k->extended = code == 0xE0;
		queue_push(&k->kbd, code, false);
		return;
	}
	set2 = to_set2(code & 0x7F, k->extended);
	k->extended = false;
	if (!set2)
		return; /* no such key in set 2 */
	if (code & 0x80)
		queue_push(&k->kbd, 0xF0, false);
	queue_push(&k->kbd, set2, false);
}

void kbd_put_scancode(KBD *k, uint8_t code)
{
	if (!k->kbd_scanning)
		return;
	queue_scancode(k, code);
	refill(k);
}

KBD *kbd_new(MemoryRegion *io, const MachineRequests *req, const IRQ *irq1, const IRQ *irq12)
{
	KBD *k = xcalloc(1, sizeof(*k));

	k->req = req;
	k->irq1 = irq1;
	k->irq12 = irq12;
	k->data_port = mr_mmio("i8042-data", 1, &data_ops, k);
	k->cmd_port = mr_mmio("i8042-cmd", 1, &cmd_ops, k);
	mr_add(io, k->data_port, PORT_DATA, 0);
	mr_add(io, k->cmd_port, PORT_CMD, 0);
	kbd_reset(k);
	return k;
}
