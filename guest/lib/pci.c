/*
 * pci.c - PCI configuration mechanism #1 (address at 0xCF8, data at 0xCFC).
 */
#include "guest.h"

#define PCI_ADDR 0xCF8
#define PCI_DATA 0xCFC

static void select(int bdf, int off)
{
	outl(PCI_ADDR, 0x80000000u | (u32)bdf << 8 | (off & 0xFC));
}

u32 pci_read32(int bdf, int off)
{
	select(bdf, off);
	return inl(PCI_DATA);
}

u16 pci_read16(int bdf, int off)
{
	select(bdf, off);
	return inw(PCI_DATA + (off & 2));
}

u8 pci_read8(int bdf, int off)
{
	select(bdf, off);
	return inb(PCI_DATA + (off & 3));
}

void pci_write32(int bdf, int off, u32 v)
{
	select(bdf, off);
	outl(PCI_DATA, v);
}

void pci_write16(int bdf, int off, u16 v)
{
	select(bdf, off);
	outw(PCI_DATA + (off & 2), v);
}

int pci_find_class(u8 cls, u8 subclass)
{
	for (int dev = 0; dev < 32; dev++) {
		for (int fn = 0; fn < 8; fn++) {
			int bdf = PCI_BDF(0, dev, fn);

			if (pci_read16(bdf, 0x00) == 0xFFFF) {
				if (fn == 0)
					break;
				continue;
			}
			if (pci_read8(bdf, 0x0B) == cls && pci_read8(bdf, 0x0A) == subclass)
				return bdf;
			/* Functions 1-7 exist only on multi-function devices. */
			if (fn == 0 && !(pci_read8(bdf, 0x0E) & 0x80))
				break;
		}
	}
	return -1;
}
