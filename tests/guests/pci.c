/*
 * pci.c - configuration mechanism #1 on bus 0: lists every function
 * (vendor:device and class), checks the i440FX host bridge, the PIIX3 ISA
 * bridge (multi-function) and the PIIX3 IDE function, the address register
 * readback, all-ones for absent devices, and BAR4 sizing on the IDE function.
 */
#include "guest.h"

struct expected {
	int bdf;
	u16 vendor, device;
	u16 class;
	const char *what;
};

static const struct expected expected[] = {
    {PCI_BDF(0, 0, 0), 0x8086, 0x1237, 0x0600, "i440FX host bridge"},
    {PCI_BDF(0, 1, 0), 0x8086, 0x7000, 0x0601, "PIIX3 ISA bridge"},
    {PCI_BDF(0, 1, 1), 0x8086, 0x7010, 0x0101, "PIIX3 IDE"},
};

static int enumerate(void)
{
	int found = 0;

	for (int dev = 0; dev < 32; dev++) {
		for (int fn = 0; fn < 8; fn++) {
			int bdf = PCI_BDF(0, dev, fn);
			u32 id = pci_read32(bdf, 0x00);

			if ((id & 0xFFFF) == 0xFFFF) {
				if (fn == 0)
					break;
				continue;
			}
			printf("%02x:%02x.%x %04x:%04x class %04x\n", 0, dev, fn, id & 0xFFFF,
			       id >> 16, pci_read16(bdf, 0x0A));
			found++;
			if (fn == 0 && !(pci_read8(bdf, 0x0E) & 0x80))
				break;
		}
	}
	return found;
}

static void check_ids(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(expected); i++) {
		const struct expected *e = &expected[i];
		u16 vendor = pci_read16(e->bdf, 0x00), device = pci_read16(e->bdf, 0x02);
		u16 class = pci_read16(e->bdf, 0x0A);

		check(vendor == e->vendor && device == e->device && class == e->class,
		      "%s: %04x:%04x class %04x, want %04x:%04x class %04x", e->what, vendor,
		      device, class, e->vendor, e->device, e->class);
	}
	check(pci_read8(PCI_BDF(0, 1, 0), 0x0E) & 0x80, "the ISA bridge is not multi-function");
}

static void check_mechanism(void)
{
	u32 addr = 0x80000000u | PCI_BDF(0, 1, 1) << 8 | 0x08;

	outl(0xCF8, addr);
	check(inl(0xCF8) == addr, "0xCF8 reads 0x%08x, want 0x%08x", inl(0xCF8), addr);
	/* Byte and word reads agree with the dword. */
	u32 id = pci_read32(0, 0);

	check(pci_read16(0, 2) == id >> 16 && pci_read8(0, 1) == ((id >> 8) & 0xFF),
	      "sub-dword reads of 00:00.0 disagree with 0x%08x", id);
	check(pci_read32(PCI_BDF(0, 31, 0), 0) == 0xFFFFFFFF, "absent 00:1f.0 reads 0x%08x",
	      pci_read32(PCI_BDF(0, 31, 0), 0));
}

/* Writing all ones to an I/O BAR reads back its size mask: 16 bytes. */
static void check_bar_sizing(void)
{
	int ide = PCI_BDF(0, 1, 1);
	u32 saved = pci_read32(ide, 0x20), mask;

	pci_write32(ide, 0x20, 0xFFFFFFFF);
	mask = pci_read32(ide, 0x20);
	pci_write32(ide, 0x20, saved);
	printf("pci: IDE BAR4 0x%08x, size mask 0x%08x\n", saved, mask);
	check((saved & 1) == 1, "BAR4 0x%08x is not an I/O BAR", saved);
	check((mask & 0xFFFF) == 0xFFF1, "BAR4 size mask 0x%08x, want 0x....fff1", mask);
	check(pci_read32(ide, 0x20) == saved, "BAR4 not restored");
}

int guest_main(void)
{
	int n = enumerate();

	printf("pci: %d functions on bus 0\n", n);
	check(n >= 3, "only %d functions", n);
	check_ids();
	check_mechanism();
	check_bar_sizing();
	return check_done("pci");
}
