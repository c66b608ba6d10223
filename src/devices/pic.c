/*
 * pic.c - the PC/AT pair of 8259A programmable interrupt controllers.
 *
 * The master answers at 0x20/0x21, the slave at 0xA0/0xA1 with its INT
 * output wired to the master's IR2; the ELCR at 0x4D0/0x4D1 selects edge or
 * level sensing per line.  The master's INT output drives the CPU's INTR pin
 * and pic_intack() performs the INTA cycle that gives the vector.
 *
 * Priorities are kept as a rotation: line (lowest_prio + 1) & 7 has the
 * highest priority, which is how rotation and "set priority" are expressed
 * by the datasheet.
 *
 * After a reset each chip is uninitialised and drives no INT until the
 * guest has written its ICW1..ICW4 sequence (the 8259A datasheet: the
 * chip must be initialised before it is used; its vector base, among
 * others, is undefined until then).  The PIT's first edge after reset
 * would otherwise arrive at vector 0 in a ROM that sets IF before it
 * programs the 8259s.  A new ICW1 makes a chip uninitialised again until
 * its sequence is complete.
 */
#include "devices.h"

/* ELCR bits that may be set: IRQ 0, 1, 2 (master) and 8, 13 (slave) are
 * always edge-triggered on the PC. */
static const uint8_t elcr_writable[2] = {0xf8, 0xde};

/* Init state machine: which ICW the next odd-port write is. */
enum icw_step { ICW_DONE, ICW_2, ICW_3, ICW_4 };

/* One 8259A. */
struct i8259 {
	uint8_t irr;	/* interrupt requests */
	uint8_t isr;	/* in service */
	uint8_t imr;	/* mask (OCW1) */
	uint8_t elcr;	/* level-triggered lines */
	uint8_t input;	/* current level of each IR pin */
	uint8_t vector; /* ICW2, low 3 bits clear */
	uint8_t icw3;	/* cascade wiring, kept for completeness */
	uint8_t lowest; /* line with the lowest priority (rotation) */
	enum icw_step step;
	bool icw4_needed;
	bool single;
	bool ltim; /* ICW1: every line level-triggered */
	bool auto_eoi;
	bool rotate_aeoi;
	bool sfnm; /* special fully nested mode (ICW4) */
	bool special_mask;
	bool read_isr; /* OCW3: even-port read gives ISR, not IRR */
	bool poll;     /* OCW3: next even-port read is a poll */
	bool int_out;  /* level of the INT pin */
	bool ready;    /* the ICW sequence is complete: INT may be driven */
};

struct PIC {
	struct i8259 chip[2]; /* 0 = master, 1 = slave */
	IRQ in[16];
	IRQ cpu_intr;
	bool intr; /* last level given to cpu_intr */
};

enum { MASTER, SLAVE, CASCADE_LINE = 2 };

static bool line_is_level(const struct i8259 *c, int line)
{
	return c->ltim || (c->elcr >> line & 1);
}

/*
 * Relative priority of the best request in @mask: 0 is the highest, 8
 * means none.
 */
static int best_priority(const struct i8259 *c, uint8_t mask)
{
	int p;

	for (p = 0; p < 8; p++) {
		if (mask & (1u << ((c->lowest + 1 + p) & 7)))
			return p;
	}
	return 8;
}

static int line_of_priority(const struct i8259 *c, int p)
{
	return (c->lowest + 1 + p) & 7;
}

/* The lines in service that hold back requests of lower or equal priority. */
static uint8_t blocking_in_service(const struct i8259 *c, bool is_master)
{
	uint8_t in_service = c->isr;

	/* Special mask mode: masked in-service levels do not block others. */
	if (c->special_mask)
		in_service &= ~c->imr;
	/* SFNM: the slave may interrupt while its cascade line is in service. */
	if (is_master && c->sfnm)
		in_service &= (uint8_t) ~(1u << CASCADE_LINE);
	return in_service;
}

/* The line this chip would interrupt for now, or -1. */
static int pending_line(const struct i8259 *c, bool is_master)
{
	int req = best_priority(c, c->irr & ~c->imr);

	if (!c->ready)
		return -1;
	if (req == 8)
		return -1;
	if (req < best_priority(c, blocking_in_service(c, is_master)))
		return line_of_priority(c, req);
	return -1;
}

/* Whether a request on @line would make this chip interrupt now. */
static bool chip_line_open(const struct i8259 *c, int line, bool is_master)
{
	uint8_t bit = (uint8_t)(1u << line);

	if (!c->ready || (c->imr & bit))
		return false;
	return best_priority(c, bit) < best_priority(c, blocking_in_service(c, is_master));
}

/* Drive one IR pin of one chip. */
static void chip_set_input(struct i8259 *c, int line, int level)
{
	uint8_t bit = (uint8_t)(1u << line);

	if (line_is_level(c, line)) {
		if (level)
			c->irr |= bit;
		else
			c->irr &= (uint8_t)~bit;
	} else if (level && !(c->input & bit)) {
		/* Edge: latch on the rising edge; a falling edge leaves the
		 * request in place until it is acknowledged. */
		c->irr |= bit;
	}
	if (level)
		c->input |= bit;
	else
		c->input &= (uint8_t)~bit;
}

/* Recompute both INT outputs and tell the CPU if its INTR level changed. */
static void pic_update(PIC *p)
{
	struct i8259 *m = &p->chip[MASTER], *s = &p->chip[SLAVE];

	s->int_out = pending_line(s, false) >= 0;
	if (!m->single)
		chip_set_input(m, CASCADE_LINE, s->int_out);
	m->int_out = pending_line(m, true) >= 0;
	if (m->int_out != p->intr) {
		p->intr = m->int_out;
		irq_set(&p->cpu_intr, p->intr);
	}
}

static void pic_set_irq(void *opaque, int n, int level)
{
	PIC *p = opaque;

	if (n < 0 || n > 15)
		return;
	chip_set_input(&p->chip[n >> 3], n & 7, level);
	pic_update(p);
}

/* The part of INTA done inside one chip once @line won. */
static void chip_ack(struct i8259 *c, int line)
{
	uint8_t bit = (uint8_t)(1u << line);

	if (!line_is_level(c, line))
		c->irr &= (uint8_t)~bit;
	if (!c->auto_eoi)
		c->isr |= bit;
	else if (c->rotate_aeoi)
		c->lowest = (uint8_t)line;
}

int pic_intack(PIC *p)
{
	struct i8259 *m = &p->chip[MASTER], *s = &p->chip[SLAVE];
	int line = pending_line(m, true);
	int vector;

	if (line < 0) {
		/* Spurious: the request went away before INTA. */
		vector = m->vector + 7;
	} else {
		chip_ack(m, line);
		if (line == CASCADE_LINE && !m->single) {
			int sline = pending_line(s, false);

			if (sline >= 0) {
				chip_ack(s, sline);
				vector = s->vector + sline;
			} else {
				/* The master's ISR bit 2 stays set, as on
				 * real hardware: the handler must EOI it. */
				vector = s->vector + 7;
			}
		} else {
			vector = m->vector + line;
		}
	}
	pic_update(p);
	return vector;
}

bool pic_int_output(PIC *p)
{
	return p->chip[MASTER].int_out;
}

bool pic_line_open(PIC *p, int n)
{
	const struct i8259 *m = &p->chip[MASTER];

	if (n < 0 || n > 15)
		return false;
	if (n < 8)
		return chip_line_open(m, n, true);
	return !m->single && chip_line_open(&p->chip[SLAVE], n & 7, false) &&
	       chip_line_open(m, CASCADE_LINE, true);
}

const IRQ *pic_irq(PIC *p, int n)
{
	if (n < 0 || n > 15)
		return NULL;
	return &p->in[n];
}

/* ---- the command words ------------------------------------------------ */

static void chip_icw1(struct i8259 *c, uint8_t v)
{
	c->icw4_needed = v & 0x01;
	c->single = v & 0x02;
	c->ltim = v & 0x08;
	/* Datasheet: IMR cleared, IR7 lowest priority, special mask mode
	 * off, status read set to IRR, ICW4 functions zero unless IC4; the
	 * edge sense is reset so a line that stays high needs a new rising
	 * edge (level lines show their level again). */
	c->imr = 0;
	c->isr = 0;
	c->irr = 0;
	for (int line = 0; line < 8; line++) {
		if (line_is_level(c, line) && (c->input >> line & 1))
			c->irr |= (uint8_t)(1u << line);
	}
	c->lowest = 7;
	c->special_mask = false;
	c->read_isr = false;
	c->poll = false;
	c->auto_eoi = false;
	c->rotate_aeoi = false;
	c->sfnm = false;
	c->step = ICW_2;
	c->ready = false;
}

static void chip_icw(struct i8259 *c, uint8_t v)
{
	switch (c->step) {
	case ICW_2:
		c->vector = v & 0xf8;
		c->step = !c->single ? ICW_3 : c->icw4_needed ? ICW_4 : ICW_DONE;
		break;
	case ICW_3:
		c->icw3 = v;
		c->step = c->icw4_needed ? ICW_4 : ICW_DONE;
		break;
	case ICW_4:
		c->auto_eoi = v & 0x02;
		c->sfnm = v & 0x10;
		c->step = ICW_DONE;
		break;
	case ICW_DONE:
		break;
	}
	c->ready = c->step == ICW_DONE;
}

/* The highest-priority line in service, or -1. */
static int highest_in_service(const struct i8259 *c)
{
	int prio = best_priority(c, c->isr);

	return prio == 8 ? -1 : line_of_priority(c, prio);
}

static void chip_ocw2(struct i8259 *c, uint8_t v)
{
	int level = v & 7;
	int line;

	switch (v >> 5) {
	case 0: /* clear rotate in automatic EOI mode */
		c->rotate_aeoi = false;
		break;
	case 4: /* set rotate in automatic EOI mode */
		c->rotate_aeoi = true;
		break;
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI */
		line = highest_in_service(c);
		if (line < 0)
			break;
		c->isr &= (uint8_t) ~(1u << line);
		if (v >> 5 == 5)
			c->lowest = (uint8_t)line;
		break;
	case 3: /* specific EOI */
	case 7: /* rotate on specific EOI */
		c->isr &= (uint8_t) ~(1u << level);
		if (v >> 5 == 7)
			c->lowest = (uint8_t)level;
		break;
	case 6: /* set priority: @level becomes the lowest */
		c->lowest = (uint8_t)level;
		break;
	case 2: /* no operation */
		break;
	}
}

static void chip_ocw3(struct i8259 *c, uint8_t v)
{
	if (v & 0x40) /* ESMM: SMM bit is valid */
		c->special_mask = v & 0x20;
	if (v & 0x04)
		c->poll = true;
	if (v & 0x02) /* RR: RIS bit is valid */
		c->read_isr = v & 0x01;
}

static void chip_write(struct i8259 *c, int port, uint8_t v)
{
	if (port == 1) {
		if (c->step != ICW_DONE)
			chip_icw(c, v);
		else
			c->imr = v;
	} else if (v & 0x10) {
		chip_icw1(c, v);
	} else if (v & 0x08) {
		chip_ocw3(c, v);
	} else {
		chip_ocw2(c, v);
	}
}

/*
 * Poll command: the read acts as an INTA for this chip alone and returns
 * bit 7 = request present, bits 2-0 = its line.
 */
static uint8_t chip_poll(struct i8259 *c, bool is_master)
{
	int line = pending_line(c, is_master);

	c->poll = false;
	if (line < 0)
		return 0;
	chip_ack(c, line);
	return (uint8_t)(0x80 | line);
}

static uint8_t chip_read(struct i8259 *c, int port, bool is_master)
{
	if (c->poll)
		return chip_poll(c, is_master);
	if (port == 1)
		return c->imr;
	return c->read_isr ? c->isr : c->irr;
}

/* ---- port callbacks ---------------------------------------------------- */

/*
 * A 16-bit access to 0x20 reaches 0x20 then 0x21, one byte each; every
 * region here is two ports wide.
 */
static unsigned bytes_in(uint64_t off, unsigned size)
{
	return off >= 2 ? 0 : size < 2 - off ? size : (unsigned)(2 - off);
}

static uint64_t master_read(void *opaque, uint64_t off, unsigned size)
{
	PIC *p = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes_in(off, size); i++)
		v |= (uint64_t)chip_read(&p->chip[MASTER], (int)(off + i), true) << (8 * i);
	pic_update(p);
	return v;
}

static void master_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	PIC *p = opaque;

	for (unsigned i = 0; i < bytes_in(off, size); i++)
		chip_write(&p->chip[MASTER], (int)(off + i), (uint8_t)(value >> (8 * i)));
	pic_update(p);
}

static uint64_t slave_read(void *opaque, uint64_t off, unsigned size)
{
	PIC *p = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes_in(off, size); i++)
		v |= (uint64_t)chip_read(&p->chip[SLAVE], (int)(off + i), false) << (8 * i);
	pic_update(p);
	return v;
}

static void slave_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	PIC *p = opaque;

	for (unsigned i = 0; i < bytes_in(off, size); i++)
		chip_write(&p->chip[SLAVE], (int)(off + i), (uint8_t)(value >> (8 * i)));
	pic_update(p);
}

static uint64_t elcr_read(void *opaque, uint64_t off, unsigned size)
{
	PIC *p = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes_in(off, size); i++)
		v |= (uint64_t)p->chip[off + i].elcr << (8 * i);
	return v;
}

static void elcr_set(struct i8259 *c, uint8_t mask, uint8_t v)
{
	c->elcr = v & mask;
	/* A line that becomes level-triggered shows its current level. */
	for (int line = 0; line < 8; line++) {
		if (line_is_level(c, line))
			chip_set_input(c, line, c->input >> line & 1);
	}
}

static void elcr_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	PIC *p = opaque;

	for (unsigned i = 0; i < bytes_in(off, size); i++)
		elcr_set(&p->chip[off + i], elcr_writable[off + i], (uint8_t)(value >> (8 * i)));
	pic_update(p);
}

static const MemoryRegionOps master_ops = {master_read, master_write};
static const MemoryRegionOps slave_ops = {slave_read, slave_write};
static const MemoryRegionOps elcr_ops = {elcr_read, elcr_write};

/* ---- life cycle -------------------------------------------------------- */

static void chip_reset(struct i8259 *c)
{
	uint8_t input = c->input;

	*c = (struct i8259){0};
	/* The pins are wires outside the chip: reset does not change them. */
	c->input = input;
	c->lowest = 7;
}

void pic_reset(PIC *p)
{
	chip_reset(&p->chip[MASTER]);
	chip_reset(&p->chip[SLAVE]);
	pic_update(p);
}

PIC *pic_new(MemoryRegion *io, const IRQ *cpu_intr)
{
	PIC *p = xcalloc(1, sizeof(*p));

	if (cpu_intr)
		p->cpu_intr = *cpu_intr;
	for (int n = 0; n < 16; n++) {
		/* PC/AT: the cascade input is taken; IRQ 2 devices sit on 9. */
		p->in[n] = (IRQ){pic_set_irq, p, n == CASCADE_LINE ? 9 : n};
	}
	chip_reset(&p->chip[MASTER]);
	chip_reset(&p->chip[SLAVE]);
	mr_add(io, mr_mmio("pic-master", 2, &master_ops, p), 0x20, 0);
	mr_add(io, mr_mmio("pic-slave", 2, &slave_ops, p), 0xa0, 0);
	mr_add(io, mr_mmio("elcr", 2, &elcr_ops, p), 0x4d0, 0);
	return p;
}
