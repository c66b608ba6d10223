/*
 * test_pci.c - the PCI host bridge driven through ports 0xCF8/0xCFC as a
 * guest (or firmware) does: device IDs, absent slots, byte and word
 * accesses, read-only fields, BAR sizing, the command register, config
 * ops, the PAM hook and the 0xCF9 reset register.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

static AddressSpace *io;
static PCIBus *bus;

static uint32_t cfg_addr(int devfn, int reg)
{
	return 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)(reg & 0xFC);
}

static uint32_t cfg_read(int devfn, int reg, unsigned size)
{
	as_write(io, 0xCF8, cfg_addr(devfn, reg), 4);
	return (uint32_t)as_read(io, 0xCFC + (reg & 3), size);
}

static void cfg_write(int devfn, int reg, uint32_t value, unsigned size)
{
	as_write(io, 0xCF8, cfg_addr(devfn, reg), 4);
	as_write(io, 0xCFC + (reg & 3), value, size);
}

static void test_bridges(void)
{
	/* 440FX host bridge at 00:00.0. */
	CHECK_EQ(cfg_read(0, 0x00, 4), 0x12378086);
	CHECK_EQ(cfg_read(0, 0x08, 4) >> 8, 0x060000);
	CHECK_EQ(cfg_read(0, 0x0E, 1), 0x00);
	/* PIIX3 ISA bridge at 00:01.0, multi-function. */
	CHECK_EQ(cfg_read(1 << 3, 0x00, 4), 0x70008086);
	CHECK_EQ(cfg_read(1 << 3, 0x08, 4) >> 8, 0x060100);
	CHECK_EQ(cfg_read(1 << 3, 0x0E, 1), 0x80);
	/* The address register reads back what was latched. */
	as_write(io, 0xCF8, 0x80000810, 4);
	CHECK_EQ(as_read(io, 0xCF8, 4), 0x80000810);
}

static void test_absent(void)
{
	/* Empty slot, function 1 of the host bridge, bus 1, enable bit off. */
	CHECK_EQ(cfg_read(5 << 3, 0x00, 4), 0xFFFFFFFF);
	CHECK_EQ(cfg_read(1, 0x00, 4), 0xFFFFFFFF);
	as_write(io, 0xCF8, 0x80010000, 4);
	CHECK_EQ(as_read(io, 0xCFC, 4), 0xFFFFFFFF);
	as_write(io, 0xCF8, 0x00000000, 4);
	CHECK_EQ(as_read(io, 0xCFC, 4), 0xFFFFFFFF);
	CHECK_EQ(cfg_read(5 << 3, 0x02, 2), 0xFFFF);
	CHECK_EQ(cfg_read(5 << 3, 0x03, 1), 0xFF);
	/* Writes to nothing change nothing (and do not crash). */
	cfg_write(5 << 3, 0x04, 0xFFFF, 2);
	CHECK_EQ(cfg_read(5 << 3, 0x04, 4), 0xFFFFFFFF);
	CHECK(pci_find(bus, 5 << 3) == NULL);
	/* With the enable bit clear, data writes reach no device. */
	as_write(io, 0xCF8, 0x0000000C, 4);
	as_write(io, 0xCFC, 0xAB, 1);
	CHECK_EQ(cfg_read(0, 0x0C, 1), 0x00);
}

static void test_byte_word(void)
{
	CHECK_EQ(cfg_read(0, 0x00, 1), 0x86);
	CHECK_EQ(cfg_read(0, 0x01, 1), 0x80);
	CHECK_EQ(cfg_read(0, 0x02, 2), 0x1237);
	CHECK_EQ(cfg_read(0, 0x03, 1), 0x12);
	CHECK_EQ(cfg_read(1 << 3, 0x0B, 1), 0x06);
	CHECK_EQ(cfg_read(1 << 3, 0x0A, 1), 0x01);
	/* Byte and word accesses to 0xCF8 leave the address register alone. */
	as_write(io, 0xCF8, cfg_addr(0, 0), 4);
	as_write(io, 0xCF8, 0x00, 1);
	as_write(io, 0xCFA, 0x1234, 2);
	CHECK_EQ(as_read(io, 0xCF8, 4), cfg_addr(0, 0));
	/* A byte write at an offset only touches that byte. */
	cfg_write(0, 0x0D, 0x40, 1); /* latency timer */
	CHECK_EQ(cfg_read(0, 0x0C, 4) & 0xFFFF, 0x4000);
	cfg_write(0, 0x0C, 0x08, 1); /* cache line size */
	CHECK_EQ(cfg_read(0, 0x0C, 2), 0x4008);
}

static void test_read_only(void)
{
	uint32_t class_rev = cfg_read(0, 0x08, 4);

	cfg_write(0, 0x00, 0, 4);
	CHECK_EQ(cfg_read(0, 0x00, 4), 0x12378086);
	cfg_write(0, 0x08, 0xFFFFFFFF, 4);
	CHECK_EQ(cfg_read(0, 0x08, 4), class_rev);
	cfg_write(1 << 3, 0x0E, 0x00, 1);
	CHECK_EQ(cfg_read(1 << 3, 0x0E, 1), 0x80);
	cfg_write(0, 0x2C, 0, 4);
	CHECK_EQ(cfg_read(0, 0x2C, 4), 0x12378086);
	cfg_write(0, 0x3C, 0x0B, 1); /* interrupt line is writable */
	CHECK_EQ(cfg_read(0, 0x3C, 1), 0x0B);
}

static int bars_changed_count;
static uint32_t last_io_base;

static void bars_changed(PCIDevice *d)
{
	bars_changed_count++;
	last_io_base = pci_io_bar(d, 0);
}

static uint32_t fake_config_read(PCIDevice *d, int offset, int size)
{
	if (offset == 0x40)
		return 0xCAFE;
	return pci_default_config_read(d, offset, size);
}

static const PCIDeviceOps fake_ops = {
    .config_read = fake_config_read,
};

static void test_bar_and_command(void)
{
	int devfn = 3 << 3;
	PCIDevice *d = pci_add(bus, devfn, 0x1234, 0x5678, 0xFF000001, &fake_ops, NULL);

	d->bars_changed = bars_changed;
	pci_declare_io_bar(d, 0, 32);
	CHECK(pci_find(bus, devfn) == d);
	CHECK_EQ(cfg_read(devfn, 0x00, 4), 0x56781234);
	CHECK_EQ(cfg_read(devfn, 0x40, 2), 0xCAFE);
	CHECK_EQ(cfg_read(devfn, 0x10, 4), 0x00000001);

	/* Sizing: all ones read back as the size mask with the I/O bit. */
	bars_changed_count = 0;
	cfg_write(devfn, 0x10, 0xFFFFFFFF, 4);
	CHECK_EQ(cfg_read(devfn, 0x10, 4), 0xFFFFFFE1);
	CHECK_EQ(bars_changed_count, 1);
	/* Unimplemented BARs read 0 and stay 0. */
	cfg_write(devfn, 0x14, 0xFFFFFFFF, 4);
	CHECK_EQ(cfg_read(devfn, 0x14, 4), 0);

	cfg_write(devfn, 0x10, 0x1234, 4);
	CHECK_EQ(cfg_read(devfn, 0x10, 4), 0x1221);
	CHECK_EQ(bars_changed_count, 2);
	/* Decoding is off until the command register enables I/O. */
	CHECK_EQ(pci_io_bar(d, 0), 0);
	CHECK_EQ(last_io_base, 0);
	cfg_write(devfn, 0x04, 0x0001, 2);
	CHECK_EQ(bars_changed_count, 3);
	CHECK_EQ(last_io_base, 0x1220);
	CHECK_EQ(pci_io_bar(d, 0), 0x1220);
	/* Writing the same value again is no change. */
	cfg_write(devfn, 0x04, 0x0001, 2);
	CHECK_EQ(bars_changed_count, 3);

	/* Only the defined command bits are writable; status is read-only. */
	cfg_write(devfn, 0x04, 0xFFFFFFFF, 4);
	CHECK_EQ(cfg_read(devfn, 0x04, 2), 0x0547);
	CHECK_EQ(cfg_read(devfn, 0x06, 2), 0x0280);
	cfg_write(devfn, 0x04, 0x0000, 2);
	CHECK_EQ(pci_io_bar(d, 0), 0);
	CHECK_EQ(last_io_base, 0);
	CHECK_EQ(bars_changed_count, 5);

	/* A byte write into the BAR moves the base too. */
	cfg_write(devfn, 0x04, 0x0001, 2);
	cfg_write(devfn, 0x11, 0x56, 1);
	CHECK_EQ(pci_io_bar(d, 0), 0x5620);
	CHECK_EQ(last_io_base, 0x5620);

	/* Adding function 1 makes slot 3 multi-function. */
	CHECK_EQ(cfg_read(devfn, 0x0E, 1), 0x00);
	pci_add(bus, devfn | 1, 0x1234, 0x5679, 0xFF000000, NULL, NULL);
	CHECK_EQ(cfg_read(devfn, 0x0E, 1), 0x80);
	CHECK_EQ(cfg_read(devfn | 1, 0x00, 4), 0x56791234);
}

static int pam_calls;
static uint8_t pam_seen[7];

static void pam_hook(void *opaque, const uint8_t pam[7])
{
	(*(int *)opaque)++;
	for (int i = 0; i < 7; i++)
		pam_seen[i] = pam[i];
}

static void test_pam(void)
{
	pci_set_pam_hook(bus, pam_hook, &pam_calls);
	/* PAM0 (0x59) has only the high nibble's RE/WE bits. */
	cfg_write(0, 0x59, 0xFF, 1);
	CHECK_EQ(cfg_read(0, 0x59, 1), 0x30);
	CHECK_EQ(pam_calls, 1);
	CHECK_EQ(pam_seen[0], 0x30);
	/* A dword write at 0x5C covers PAM3-PAM6. */
	cfg_write(0, 0x5C, 0x11223311, 4);
	CHECK_EQ(cfg_read(0, 0x5C, 4), 0x11223311 & 0x33333333);
	CHECK_EQ(pam_calls, 2);
	CHECK_EQ(pam_seen[3], 0x11);
	CHECK_EQ(pam_seen[5], 0x22);
	CHECK_EQ(pam_seen[4], 0x33);
	CHECK_EQ(pam_seen[6], 0x11);
	/* No change, no call; other registers do not call it. */
	cfg_write(0, 0x59, 0x30, 1);
	cfg_write(0, 0x0D, 0x20, 1);
	CHECK_EQ(pam_calls, 2);
	/* SMRAM: base segment fixed at 010b, the control bits are storage. */
	CHECK_EQ(cfg_read(0, 0x72, 1), 0x02);
	cfg_write(0, 0x72, 0xFF, 1);
	CHECK_EQ(cfg_read(0, 0x72, 1), 0x7A);
	cfg_write(0, 0x72, 0x00, 1);
	CHECK_EQ(cfg_read(0, 0x72, 1), 0x02);
}

static int resets;
static MachineRequests req; /* the bus's requests: a reset through 0xCF9 */

static void count_reset(void *opaque)
{
	resets++;
}

static void test_reset_control(void)
{
	req.reset = count_reset;
	as_write(io, 0xCF9, 0x02, 1);
	CHECK_EQ(resets, 0);
	CHECK_EQ(as_read(io, 0xCF9, 1), 0x02);
	as_write(io, 0xCF9, 0x06, 1);
	CHECK_EQ(resets, 1);
	req.reset = NULL;
}

/* A reset goes back to the configuration pci_mark_power_on() kept. */
static void test_reset(void)
{
	int devfn = 4 << 3;
	PCIDevice *d = pci_add(bus, devfn, 0x1234, 0x9999, 0xFF000000, NULL, NULL);
	int calls;

	pci_declare_io_bar(d, 0, 0x20);
	d->bars_changed = bars_changed;
	st16(d->config + 0x04, 0x0001);
	st32(d->config + 0x10, 0x1001);
	pci_set_pam_hook(bus, pam_hook, &pam_calls);
	pci_mark_power_on(bus);
	CHECK_EQ(cfg_read(0, 0x5A, 1), 0x00);

	cfg_write(0, 0x5A, 0x33, 1); /* PAM1: 0xC0000-0xC7FFF from RAM */
	cfg_write(devfn, 0x10, 0x2000, 4);
	cfg_write(devfn, 0x3C, 0x0B, 1);
	as_write(io, 0xCF8, 0x80000000u | (unsigned)devfn << 8, 4);
	calls = pam_calls;
	bars_changed_count = 0;
	pci_reset(bus);
	CHECK_EQ(as_read(io, 0xCF8, 4), 0);
	CHECK_EQ(cfg_read(0, 0x5A, 1), 0x00);
	CHECK_EQ(pam_calls, calls + 1);
	CHECK_EQ(pam_seen[1], 0x00);
	CHECK_EQ(cfg_read(0, 0x59, 1), 0x30); /* as kept, not zero */
	CHECK_EQ(cfg_read(devfn, 0x10, 4), 0x1001);
	CHECK_EQ(cfg_read(devfn, 0x3C, 1), 0);
	CHECK_EQ(cfg_read(devfn, 0x00, 4), 0x99991234u);
	CHECK_EQ(bars_changed_count, 1);
	CHECK_EQ(last_io_base, 0x1000);
	/* Nothing changed since: no calls. */
	pci_reset(bus);
	CHECK_EQ(pam_calls, calls + 1);
	CHECK_EQ(bars_changed_count, 1);
}

int main(void)
{
	MemoryRegion *root = mr_container("io", 0x10000);

	bus = pci_new(root, &req);
	io = as_new("io", root);
	test_bridges();
	test_absent();
	test_byte_word();
	test_read_only();
	test_bar_and_command();
	test_pam();
	test_reset_control();
	test_reset();
	return unit_done("pci");
}
