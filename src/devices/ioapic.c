/*
 * ioapic.c - the 82093AA I/O APIC at 0xFEC00000 with 24 input pins.
 *
 * The guest selects a register through IOREGSEL (+0x00) and reads or
 * writes it through IOWIN (+0x10): the ID, the version (0x00170011: 24
 * redirection entries, version 0x11), the arbitration ID and the 24 64-bit
 * redirection entries (two registers each, low dword first).
 *
 * An edge-triggered pin delivers on each rising edge while it is unmasked
 * (an edge while masked is lost).  A level-triggered pin delivers while it
 * is asserted, unmasked and its Remote IRR is clear; delivery sets Remote
 * IRR, and the local APIC's EOI for that vector (eoi_notify) clears it and
 * delivers again if the pin is still asserted.  Pin levels are logical (1 =
 * asserted) as the devices drive them, so the polarity bit is stored only.
 *
 * There is one processor: fixed and lowest-priority entries go to its
 * local APIC whatever the destination field says, and so do NMI entries
 * (the vector is ignored; an NMI entry is edge-triggered whatever its
 * trigger bit says, as the 82093AA requires it to be programmed).  SMI,
 * INIT and ExtINT entries are stored but not delivered; the 8259 reaches
 * the CPU through the machine's INTR wiring instead.
 */
#include "devices.h"

#define IOAPIC_SIZE    0x1000
#define IOAPIC_VERSION 0x00170011u

#define OFF_REGSEL 0x00
#define OFF_WIN	   0x10

enum { REG_ID = 0x00, REG_VERSION = 0x01, REG_ARB = 0x02, REG_REDIR = 0x10 };

#define ID_MASK 0x0F000000u

/* Redirection entry, low dword. */
#define RE_VECTOR     0x000000FFu
#define RE_DM_SHIFT   8
#define RE_REMOTE_IRR (1u << 14)
#define RE_LEVEL      (1u << 15)
#define RE_MASKED     (1u << 16)
#define RE_LO_WMASK   0x0001AFFFu /* all but delivery status, remote IRR */
#define RE_HI_WMASK   0xFF000000u /* destination */

enum { DM_FIXED = 0, DM_LOWEST = 1, DM_NMI = 4 };

struct IOAPIC {
	MemoryRegion *mmio;
	LAPIC *lapic;
	uint32_t id;
	uint8_t regsel;
	uint32_t lo[IOAPIC_PINS], hi[IOAPIC_PINS];
	uint32_t asserted; /* one bit per pin */
	IRQ pins[IOAPIC_PINS];
};

static bool pin_asserted(const IOAPIC *io, int n)
{
	return io->asserted >> n & 1;
}

static int mode_of(uint32_t lo)
{
	return (int)((lo >> RE_DM_SHIFT) & 7);
}

/* Whether the entry is handled as level-triggered (NMI entries never are). */
static bool is_level(uint32_t lo)
{
	return (lo & RE_LEVEL) && mode_of(lo) != DM_NMI;
}

static void deliver(IOAPIC *io, int n)
{
	uint32_t lo = io->lo[n];
	int mode = mode_of(lo);

	if (mode == DM_FIXED || mode == DM_LOWEST)
		lapic_deliver(io->lapic, (int)(lo & RE_VECTOR), lo & RE_LEVEL);
	else if (mode == DM_NMI)
		lapic_deliver_nmi(io->lapic);
}

/* A level-triggered pin: deliver if it may. */
static void service_level(IOAPIC *io, int n)
{
	uint32_t lo = io->lo[n];

	if (!is_level(lo) || (lo & (RE_MASKED | RE_REMOTE_IRR)) || !pin_asserted(io, n))
		return;
	io->lo[n] |= RE_REMOTE_IRR;
	deliver(io, n);
}

static void pin_set(void *opaque, int n, int level)
{
	IOAPIC *io = opaque;
	bool was = pin_asserted(io, n);

	if (level)
		io->asserted |= 1u << n;
	else
		io->asserted &= ~(1u << n);
	if (is_level(io->lo[n]))
		service_level(io, n);
	else if (level && !was && !(io->lo[n] & RE_MASKED))
		deliver(io, n);
}

bool ioapic_pin_nmi(IOAPIC *io, int n)
{
	if (n < 0 || n >= IOAPIC_PINS)
		return false;
	return !(io->lo[n] & RE_MASKED) && mode_of(io->lo[n]) == DM_NMI;
}

bool ioapic_pin_open(IOAPIC *io, int n)
{
	uint32_t lo;
	int mode;

	if (n < 0 || n >= IOAPIC_PINS)
		return false;
	lo = io->lo[n];
	mode = mode_of(lo);
	if ((lo & (RE_MASKED | RE_REMOTE_IRR)) || (mode != DM_FIXED && mode != DM_LOWEST))
		return false;
	return lapic_would_deliver(io->lapic, (int)(lo & RE_VECTOR));
}

static void eoi_notify(void *opaque, int vector)
{
	IOAPIC *io = opaque;
	int n;

	for (n = 0; n < IOAPIC_PINS; n++) {
		if ((io->lo[n] & RE_VECTOR) != (uint32_t)vector || !is_level(io->lo[n]))
			continue;
		io->lo[n] &= ~RE_REMOTE_IRR;
		service_level(io, n);
	}
}

/* ---- registers ------------------------------------------------------------ */

static uint32_t reg_read(const IOAPIC *io, unsigned index)
{
	unsigned pin = (index - REG_REDIR) / 2;

	switch (index) {
	case REG_ID:
	case REG_ARB:
		return io->id;
	case REG_VERSION:
		return IOAPIC_VERSION;
	}
	if (index >= REG_REDIR && pin < IOAPIC_PINS)
		return (index & 1) ? io->hi[pin] : io->lo[pin];
	return 0;
}

static void write_redir_lo(IOAPIC *io, int n, uint32_t v)
{
	uint32_t lo = (io->lo[n] & ~RE_LO_WMASK) | (v & RE_LO_WMASK);

	/* Remote IRR has no meaning for an edge-triggered entry. */
	if (!is_level(lo))
		lo &= ~RE_REMOTE_IRR;
	io->lo[n] = lo;
	/* Unmasking (or turning to level) a pin that is asserted delivers. */
	service_level(io, n);
}

static void reg_write(IOAPIC *io, unsigned index, uint32_t v)
{
	unsigned pin = (index - REG_REDIR) / 2;

	if (index == REG_ID) {
		io->id = v & ID_MASK;
		return;
	}
	if (index < REG_REDIR || pin >= IOAPIC_PINS)
		return; /* version, arbitration: read-only; others: nothing */
	if (index & 1)
		io->hi[pin] = v & RE_HI_WMASK;
	else
		write_redir_lo(io, (int)pin, v);
}

static uint64_t ioapic_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
	IOAPIC *io = opaque;

	if (offset == OFF_REGSEL)
		return io->regsel;
	if (offset >= OFF_WIN && offset < OFF_WIN + 4)
		return reg_read(io, io->regsel) >> (8 * (offset - OFF_WIN));
	return 0;
}

static void ioapic_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	IOAPIC *io = opaque;
	uint32_t v = (uint32_t)value, mask;
	unsigned byte;

	if (offset == OFF_REGSEL) {
		io->regsel = (uint8_t)v;
		return;
	}
	if (offset < OFF_WIN || offset >= OFF_WIN + 4)
		return;
	/* Narrow writes to the window merge into the selected register. */
	byte = (unsigned)(offset - OFF_WIN);
	if (size < 4 || byte) {
		mask = (size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1) << (8 * byte);
		v = (reg_read(io, io->regsel) & ~mask) | ((v << (8 * byte)) & mask);
	}
	reg_write(io, io->regsel, v);
}

static const MemoryRegionOps ioapic_ops = {
	.read = ioapic_mmio_read,
	.write = ioapic_mmio_write,
};

/* ---- interface ------------------------------------------------------------- */

void ioapic_reset(IOAPIC *io)
{
	int n;

	io->id = 0;
	io->regsel = 0;
	for (n = 0; n < IOAPIC_PINS; n++) {
		io->lo[n] = RE_MASKED;
		io->hi[n] = 0;
	}
}

const IRQ *ioapic_irq(IOAPIC *io, int n)
{
	if (n < 0 || n >= IOAPIC_PINS)
		return NULL;
	return &io->pins[n];
}

IOAPIC *ioapic_new(MemoryRegion *memory, LAPIC *lapic)
{
	IOAPIC *io = xcalloc(1, sizeof(*io));
	int n;

	io->lapic = lapic;
	for (n = 0; n < IOAPIC_PINS; n++)
		io->pins[n] = (IRQ){pin_set, io, n};
	lapic_set_eoi_notify(lapic, eoi_notify, io);
	io->mmio = mr_mmio("ioapic", IOAPIC_SIZE, &ioapic_ops, io);
	mr_add(memory, io->mmio, IOAPIC_BASE_ADDR, 0);
	ioapic_reset(io);
	return io;
}
