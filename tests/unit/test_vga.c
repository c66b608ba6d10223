/*
 * test_vga.c - the VGA through its ports: mode 03h at power-on, the CRTC
 * (index/data, CR11 protection, the colour/mono address chosen by misc
 * output bit 0), the attribute controller's flip-flop, the DAC's cycles,
 * input status 1 following the virtual clock, vga_text_state() after the
 * writes a console makes, and the VGA BIOS as the PCI function's
 * expansion ROM, mapped and unmapped by its BAR.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#include <string.h>

static AddressSpace *io, *mem;
static uint64_t icount;
static Clock *clk; /* the test's virtual clock */

static uint8_t inb(uint16_t port)
{
	return (uint8_t)as_read(io, port, 1);
}

static void outb(uint16_t port, uint8_t v)
{
	as_write(io, port, v, 1);
}

static uint8_t crtc(uint16_t base, uint8_t index)
{
	outb(base, index);
	return inb(base + 1);
}

static void pci_write(int devfn, int reg, uint32_t v)
{
	as_write(io, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)reg, 4);
	as_write(io, 0xCFC, v, 4);
}

static uint32_t pci_read(int devfn, int reg)
{
	as_write(io, 0xCF8, 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)reg, 4);
	return (uint32_t)as_read(io, 0xCFC, 4);
}

static void test_registers(VGA *v)
{
	VGAText t;

	CHECK_EQ(inb(0x3CC), 0x67);
	CHECK_EQ(crtc(0x3D4, 0x01), 0x4F);
	/* Cursor location reads back; CR11 bit 7 protects CR00-CR07. */
	outb(0x3D4, 0x0E);
	outb(0x3D5, 0x07);
	as_write(io, 0x3D4, 0xD00F, 2); /* index and data in one 16-bit OUT */
	CHECK_EQ(crtc(0x3D4, 0x0E) << 8 | crtc(0x3D4, 0x0F), 0x07D0);
	outb(0x3D4, 0x01);
	outb(0x3D5, 0x20);
	CHECK_EQ(crtc(0x3D4, 0x01), 0x4F);
	outb(0x3D4, 0x11);
	outb(0x3D5, 0x0E); /* protection off */
	outb(0x3D4, 0x01);
	outb(0x3D5, 0x27);
	CHECK_EQ(crtc(0x3D4, 0x01), 0x27);
	outb(0x3D4, 0x01);
	outb(0x3D5, 0x4F);
	/* Mono addressing: the CRTC moves to 0x3B4, 0x3D4 floats. */
	outb(0x3C2, 0x66);
	CHECK_EQ(crtc(0x3B4, 0x0F), 0xD0);
	CHECK_EQ(crtc(0x3D4, 0x0F), 0xFF);
	outb(0x3C2, 0x67);
	/* The attribute controller: index, then data; input status 1 resets. */
	inb(0x3DA);
	outb(0x3C0, 0x32); /* index 12h, PAS */
	outb(0x3C0, 0x05);
	CHECK_EQ(inb(0x3C0), 0x32);
	CHECK_EQ(inb(0x3C1), 0x05);
	outb(0x3C0, 0x31); /* an index again: the flip-flop toggled */
	CHECK_EQ(inb(0x3C1), 0x00);
	inb(0x3DA);
	/* DAC: write three, read three. */
	outb(0x3C8, 0x10);
	outb(0x3C9, 0x3F);
	outb(0x3C9, 0x41); /* six bits kept */
	outb(0x3C9, 0x02);
	CHECK_EQ(inb(0x3C8), 0x11);
	outb(0x3C7, 0x10);
	CHECK_EQ(inb(0x3C7), 0x03);
	CHECK_EQ(inb(0x3C9), 0x3F);
	CHECK_EQ(inb(0x3C9), 0x01);
	CHECK_EQ(inb(0x3C9), 0x02);
	/* What a console's scroll does: the start address. */
	outb(0x3D4, 0x0C);
	outb(0x3D5, 0x01);
	outb(0x3D4, 0x0D);
	outb(0x3D5, 0x40);
	vga_text_state(v, &t);
	CHECK(t.text);
	CHECK_EQ(t.base, 0xB8000);
	CHECK_EQ(t.cols, 80);
	CHECK_EQ(t.rows, 25);
	CHECK_EQ(t.pitch, 80);
	CHECK_EQ(t.start, 0x140);
	CHECK_EQ(t.cursor, 0x07D0);
	/* Graphics controller misc bit 0: a graphics mode. */
	outb(0x3CE, 0x06);
	outb(0x3CF, 0x05);
	vga_text_state(v, &t);
	CHECK(!t.text);
	CHECK_EQ(t.base, 0xA0000);
	vga_reset(v);
	vga_text_state(v, &t);
	CHECK(t.text && t.start == 0);
}

/* Input status 1 over one 70 Hz frame of virtual time. */
static void test_retrace(void)
{
	int64_t frame = 31778LL * 449, t0 = clock_ns(clk);
	int64_t base = (t0 / frame + 1) * frame; /* the next frame's start */

	clock_warp(clk, base - t0);
	CHECK_EQ(inb(0x3DA) & 0x09, 0x00); /* line 0, shown */
	clock_warp(clk, 26000);
	CHECK_EQ(inb(0x3DA) & 0x09, 0x01); /* horizontal blanking */
	clock_warp(clk, 31778LL * 412 - 26000);
	CHECK_EQ(inb(0x3DA) & 0x09, 0x09); /* vertical retrace */
	clock_warp(clk, 31778LL * 3);
	CHECK_EQ(inb(0x3DA) & 0x09, 0x01); /* vertical blanking, retrace over */
	CHECK_EQ(inb(0x3BA), 0xFF);	   /* the mono address decodes nothing */
}

static void test_rom(PCIBus *pci)
{
	const int devfn = 2 << 3;

	CHECK_EQ(pci_read(devfn, 0), 0x11111234);
	CHECK_EQ(pci_read(devfn, 8) >> 8, 0x030000);
	/* Sizing: 4 KiB of ROM need a 4 KiB BAR. */
	pci_write(devfn, 0x30, 0xFFFFFFFE);
	CHECK_EQ(pci_read(devfn, 0x30), 0xFFFFF000);
	CHECK_EQ(as_read(mem, 0xFEB00000, 2), 0xFFFF);
	pci_write(devfn, 0x30, 0xFEB00001);
	CHECK_EQ(as_read(mem, 0xFEB00000, 2), 0xAA55);
	CHECK_EQ(as_read(mem, 0xFEB00000 + 3999, 1), 0x77);
	CHECK_EQ(as_read(mem, 0xFEB00FFF, 1), 0x00); /* padding up to the BAR size */
	/* Memory decoding off hides it, as does the enable bit. */
	pci_write(devfn, 0x04, 0x0001);
	CHECK_EQ(as_read(mem, 0xFEB00000, 2), 0xFFFF);
	pci_write(devfn, 0x04, 0x0003);
	CHECK_EQ(as_read(mem, 0xFEB00000, 2), 0xAA55);
	pci_write(devfn, 0x30, 0xFEB00000);
	CHECK_EQ(as_read(mem, 0xFEB00000, 2), 0xFFFF);
}

int main(void)
{
	MemoryRegion *iomr = mr_container("io", 0x10000);
	MemoryRegion *sys = mr_container("memory", 1ull << 32);
	static uint8_t window[VGA_WINDOW_SIZE], rom[4000];
	PCIBus *pci;
	VGA *v;

	clk = clock_new(&icount, 0);
	io = as_new("io", iomr);
	mem = as_new("memory", sys);
	pci = pci_new(iomr, NULL);
	memset(rom, 0x77, sizeof(rom));
	rom[0] = 0x55;
	rom[1] = 0xAA;
	v = vga_new(iomr, clk, sys, window, pci, rom, sizeof(rom));
	test_registers(v);
	test_retrace();
	test_rom(pci);
	return unit_done("vga");
}
