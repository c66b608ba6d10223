/*
 * vga.c - a VGA adapter as far as text mode needs it: the registers a
 * VGA BIOS and an OS text console program, the text buffer as plain RAM,
 * and (with a VGA BIOS image) a PCI display function whose expansion ROM
 * holds it.
 *
 * Memory.  The text buffer at 0xB8000-0xBFFFF (and the rest of the legacy
 * window 0xA0000-0xBFFFF) stays the machine's RAM: the CPU writes characters
 * through its TLB like any RAM, with no callback per write, and snapshots
 * and replay see it as RAM.  Planes, write modes and latches are not
 * modelled: a VGA BIOS loading a font into plane 2 through the 0xA0000
 * window writes RAM that nothing displays, which is harmless.  The device
 * only reads that memory, for vga_text_state()'s users (the terminal
 * display, the recorder), never on the CPU's path.
 *
 * Registers (VGA reference: misc output, sequencer, CRTC, graphics
 * controller, attribute controller, DAC): each is storage that reads back
 * what was written, with the few behaviours software relies on: the
 * attribute controller's index/data flip-flop (reset by reading input
 * status 1), CRTC registers 0-7 write-protected by CR11 bit 7, the CRTC at
 * 0x3B4/0x3B5 or 0x3D4/0x3D5 and input status 1 at 0x3BA or 0x3DA as misc
 * output bit 0 selects, the DAC's three-byte read and write cycles.
 *
 * Retrace.  Input status 1 reports display enable and vertical retrace
 * from the virtual clock, as a 70 Hz 720x400 text mode would (449 lines of
 * 31.778 us, 400 shown, retrace on lines 412-413): a guest that waits for
 * retrace waits the same number of instructions in every run, and replay
 * reads the journalled value like any port read.
 *
 * Power-on state.  The registers come up as a VGA BIOS leaves them after
 * setting mode 03h (80x25 colour text), so that a kernel started without
 * a BIOS (-kernel) finds a working text console; a VGA BIOS reprograms
 * them anyway.
 */
#include "devices.h"

#include <string.h>

#define SEQ_REGS  5
#define GR_REGS	  9
#define AR_REGS	  21
#define CRTC_REGS 25

#define MISC_COLOR 0x01 /* I/O address select: CRTC at 0x3Dx (else 0x3Bx) */

/* Input status 1 bits. */
#define ST1_DISP_DISABLED 0x01 /* horizontal or vertical blanking */
#define ST1_VRETRACE	  0x08

/* 720x400 at 70 Hz: 28.322 MHz dot clock, 900 dots a line, 449 lines. */
#define LINE_NS	       31778
#define LINE_ACTIVE_NS 25422 /* the 720 shown dots of the 900 */
#define FRAME_LINES    449
#define SHOWN_LINES    400
#define VRETRACE_LINE  412
#define VRETRACE_LINES 2
#define LEGACY_WINDOW  0xA0000

/* Standard VGA mode 03h (VGA reference tables, and what VGA BIOSes load). */
static const uint8_t mode3_seq[SEQ_REGS] = {0x03, 0x00, 0x03, 0x00, 0x02};
static const uint8_t mode3_crtc[CRTC_REGS] = {0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00,
					      0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00, 0x00, 0x9C, 0x8E,
					      0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF};
static const uint8_t mode3_ar[AR_REGS] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14,
					  0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D,
					  0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00};
static const uint8_t mode3_gr[GR_REGS] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF};
#define MODE3_MISC 0x67

struct VGA {
	Clock *clk; /* the machine's virtual clock */
	MemoryRegion *sysmem;
	const uint8_t *window; /* host view of guest RAM at 0xA0000, 128 KiB */
	uint8_t misc, feature, subsys_enable;
	uint8_t seq_index, seq[SEQ_REGS];
	uint8_t gr_index, gr[GR_REGS];
	uint8_t ar_index, ar[AR_REGS];
	bool ar_data_next; /* the flip-flop: the next 0x3C0 write is data */
	uint8_t crtc_index, crtc[CRTC_REGS];
	uint8_t dac_mask, dac_read, dac_write, dac_sub, dac_state;
	uint8_t dac_latch[3], dac[256 * 3];

	/* The PCI display function carrying the VGA BIOS (NULL without one). */
	PCIDevice *pci;
	MemoryRegion *rom;
	uint32_t rom_size, rom_mapped; /* where the ROM BAR shows it, 0: nowhere */
};

/* ---- input status 1, from the virtual clock --------------------------------- */

static uint8_t input_status1(VGA *v)
{
	int64_t t = clock_ns(v->clk) % ((int64_t)LINE_NS * FRAME_LINES);
	int64_t line = t / LINE_NS, dot = t % LINE_NS;
	uint8_t st = 0;

	if (line >= SHOWN_LINES || dot >= LINE_ACTIVE_NS)
		st |= ST1_DISP_DISABLED;
	if (line >= VRETRACE_LINE && line < VRETRACE_LINE + VRETRACE_LINES)
		st |= ST1_VRETRACE;
	v->ar_data_next = false; /* reading input status 1 resets the flip-flop */
	return st;
}

/* ---- the register groups ---------------------------------------------------- */

static void crtc_write(VGA *v, uint8_t value)
{
	uint8_t i = v->crtc_index;

	if (i >= CRTC_REGS)
		return;
	/* CR11 bit 7 protects CR00-CR07, except CR07 bit 4 (line compare bit 8). */
	if ((v->crtc[0x11] & 0x80) && i <= 7) {
		if (i == 7)
			v->crtc[7] = (uint8_t)((v->crtc[7] & ~0x10) | (value & 0x10));
		return;
	}
	v->crtc[i] = value;
}

static uint8_t crtc_read(VGA *v)
{
	return v->crtc_index < CRTC_REGS ? v->crtc[v->crtc_index] : 0xFF;
}

static void ar_write(VGA *v, uint8_t value)
{
	if (!v->ar_data_next)
		v->ar_index = value & 0x3F; /* bit 5: palette address source */
	else if ((v->ar_index & 0x1F) < AR_REGS)
		v->ar[v->ar_index & 0x1F] = value;
	v->ar_data_next = !v->ar_data_next;
}

static void dac_data_write(VGA *v, uint8_t value)
{
	v->dac_latch[v->dac_sub++] = value & 0x3F;
	if (v->dac_sub == 3) {
		memcpy(&v->dac[v->dac_write * 3], v->dac_latch, 3);
		v->dac_write++;
		v->dac_sub = 0;
	}
}

static uint8_t dac_data_read(VGA *v)
{
	uint8_t value = v->dac[v->dac_read * 3 + v->dac_sub++];

	if (v->dac_sub == 3) {
		v->dac_read++;
		v->dac_sub = 0;
	}
	return value;
}

/* ---- the ports ----------------------------------------------------------------
 * One region covers 0x3B0-0x3DF; each byte is decoded here.  The CRTC and
 * input status 1 answer only at the address misc output bit 0 selects.
 */

static bool mono_port(VGA *v, uint16_t port)
{
	return port >= 0x3B0 && port <= 0x3BF;
}

static bool crtc_port_live(VGA *v, uint16_t port)
{
	bool color = v->misc & MISC_COLOR;

	return mono_port(v, port) ? !color : (port >= 0x3D0 && color);
}

static uint8_t port_read(VGA *v, uint16_t port)
{
	switch (port) {
	case 0x3C0:
		return v->ar_index;
	case 0x3C1:
		return (v->ar_index & 0x1F) < AR_REGS ? v->ar[v->ar_index & 0x1F] : 0;
	case 0x3C2:
		return 0x10; /* input status 0: switch sense, no interrupt pending */
	case 0x3C3:
		return v->subsys_enable;
	case 0x3C4:
		return v->seq_index;
	case 0x3C5:
		return v->seq_index < SEQ_REGS ? v->seq[v->seq_index] : 0xFF;
	case 0x3C6:
		return v->dac_mask;
	case 0x3C7:
		return v->dac_state;
	case 0x3C8:
		return v->dac_write;
	case 0x3C9:
		return dac_data_read(v);
	case 0x3CA:
		return v->feature;
	case 0x3CC:
		return v->misc;
	case 0x3CE:
		return v->gr_index;
	case 0x3CF:
		return v->gr_index < GR_REGS ? v->gr[v->gr_index] : 0xFF;
	}
	if (!crtc_port_live(v, port))
		return 0xFF;
	switch (port & 0x0F) {
	case 0x4:
		return v->crtc_index;
	case 0x5:
		return crtc_read(v);
	case 0xA:
		return input_status1(v);
	}
	return 0xFF;
}

static void port_write(VGA *v, uint16_t port, uint8_t value)
{
	switch (port) {
	case 0x3C0:
		ar_write(v, value);
		return;
	case 0x3C2:
		v->misc = value;
		return;
	case 0x3C3:
		v->subsys_enable = value & 1;
		return;
	case 0x3C4:
		v->seq_index = value & 0x07;
		return;
	case 0x3C5:
		if (v->seq_index < SEQ_REGS)
			v->seq[v->seq_index] = value;
		return;
	case 0x3C6:
		v->dac_mask = value;
		return;
	case 0x3C7:
		v->dac_read = value;
		v->dac_sub = 0;
		v->dac_state = 0x03; /* the DAC is in read mode */
		return;
	case 0x3C8:
		v->dac_write = value;
		v->dac_sub = 0;
		v->dac_state = 0x00;
		return;
	case 0x3C9:
		dac_data_write(v, value);
		return;
	case 0x3CE:
		v->gr_index = value & 0x0F;
		return;
	case 0x3CF:
		if (v->gr_index < GR_REGS)
			v->gr[v->gr_index] = value;
		return;
	}
	if (!crtc_port_live(v, port))
		return;
	switch (port & 0x0F) {
	case 0x4:
		v->crtc_index = value & 0x3F;
		break;
	case 0x5:
		crtc_write(v, value);
		break;
	case 0xA:
		v->feature = value; /* feature control is written at 0x3BA / 0x3DA */
		break;
	}
}

static uint64_t ports_read(void *opaque, uint64_t offset, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)port_read(opaque, (uint16_t)(0x3B0 + offset + i)) << (8 * i);
	return v;
}

/* A 16-bit OUT to an index port writes the index, then the data port. */
static void ports_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		port_write(opaque, (uint16_t)(0x3B0 + offset + i), (uint8_t)(value >> (8 * i)));
}

static const MemoryRegionOps ports_ops = {
    .read = ports_read,
    .write = ports_write,
};

/* ---- the text screen --------------------------------------------------------- */

void vga_text_state(VGA *v, VGAText *t)
{
	unsigned vde = v->crtc[0x12] | (v->crtc[7] & 0x02) << 7 | (v->crtc[7] & 0x40) << 3;
	unsigned char_height = (v->crtc[9] & 0x1F) + 1;
	static const uint32_t bases[4] = {0xA0000, 0xA0000, 0xB0000, 0xB8000};

	memset(t, 0, sizeof(*t));
	/* Graphics controller misc bit 0 and attribute mode bit 0: graphics. */
	t->text = !(v->gr[6] & 0x01) && !(v->ar[0x10] & 0x01);
	t->base = bases[(v->gr[6] >> 2) & 3];
	t->cols = v->crtc[1] + 1u;
	t->rows = (vde + 1) / char_height;
	t->pitch = v->crtc[0x13] * 2u; /* the offset register counts words */
	t->start = (uint32_t)v->crtc[0x0C] << 8 | v->crtc[0x0D];
	t->cursor = (uint32_t)v->crtc[0x0E] << 8 | v->crtc[0x0F];
	t->cursor_on = !(v->crtc[0x0A] & 0x20) && (v->crtc[0x0A] & 0x1F) <= (v->crtc[0x0B] & 0x1F);
	if (t->rows > VGA_MAX_ROWS)
		t->rows = VGA_MAX_ROWS;
	if (t->cols > VGA_MAX_COLS)
		t->cols = VGA_MAX_COLS;
	if (t->pitch < t->cols)
		t->pitch = t->cols;
	t->memory = v->window + (t->base - LEGACY_WINDOW);
	t->memory_size = VGA_WINDOW_SIZE - (t->base - LEGACY_WINDOW);
}

/* ---- the PCI function and its expansion ROM -------------------------------------- */

static void rom_bar_changed(PCIDevice *d)
{
	VGA *v = d->opaque;
	uint32_t base = pci_rom_bar(d);

	if (base == v->rom_mapped)
		return;
	if (v->rom_mapped)
		mr_remove(v->sysmem, v->rom);
	if (base)
		mr_add(v->sysmem, v->rom, base, 1);
	v->rom_mapped = base;
}

/*
 * The QEMU standard VGA's identity (1234:1111, class 0300): a VGA BIOS built
 * for it (SeaBIOS's vgabios-stdvga.bin) names it in its PCI data structure,
 * which the system BIOS compares before it runs the ROM.  There is no
 * linear framebuffer BAR and no Bochs VBE interface: that VGA BIOS then
 * says so and stays a plain VGA BIOS.
 */
static void add_pci_function(VGA *v, PCIBus *bus, const uint8_t *rom, size_t rom_len)
{
	uint32_t size = 2048;

	while (size < rom_len)
		size <<= 1;
	v->pci = pci_add(bus, 2 << 3, 0x1234, 0x1111, 0x03000002, NULL, v);
	st16(v->pci->config + 0x04, 0x0003); /* I/O and memory decode (legacy VGA) */
	v->rom = mr_rom("vga.rom", size);
	memcpy(mr_host(v->rom), rom, rom_len);
	v->rom_size = size;
	pci_declare_rom_bar(v->pci, size);
	v->pci->bars_changed = rom_bar_changed;
}

void vga_reset(VGA *v)
{
	v->misc = MODE3_MISC;
	v->feature = 0;
	v->subsys_enable = 1;
	memcpy(v->seq, mode3_seq, sizeof(v->seq));
	memcpy(v->crtc, mode3_crtc, sizeof(v->crtc));
	memcpy(v->ar, mode3_ar, sizeof(v->ar));
	memcpy(v->gr, mode3_gr, sizeof(v->gr));
	v->seq_index = v->gr_index = v->crtc_index = 0;
	v->ar_index = 0x20; /* palette address source set: the screen is on */
	v->ar_data_next = false;
	v->dac_mask = 0xFF;
	v->dac_read = v->dac_write = v->dac_sub = v->dac_state = 0;
	memset(v->dac, 0, sizeof(v->dac));
}

VGA *vga_new(MemoryRegion *io, Clock *clk, MemoryRegion *sysmem, const uint8_t *window, PCIBus *pci,
	     const uint8_t *rom, size_t rom_len)
{
	VGA *v = xcalloc(1, sizeof(*v));

	v->clk = clk;

	v->sysmem = sysmem;
	v->window = window;
	mr_add(io, mr_mmio("vga", 0x30, &ports_ops, v), 0x3B0, 0);
	if (pci && rom && rom_len)
		add_pci_function(v, pci, rom, rom_len);
	vga_reset(v);
	return v;
}
