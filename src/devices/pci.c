/*
 * pci.c - the PCI host bridge (Intel 440FX) and bus 0 configuration space.
 *
 * Configuration mechanism #1: a dword write to 0xCF8 latches an address
 * (bit 31 enable, bus 23-16, device 15-11, function 10-8, register 7-2) and
 * 0xCFC-0xCFF read or write the addressed dword at the byte offset of the
 * port.  Only bus 0 exists; slots with no device read as all ones and
 * ignore writes.  Byte and word accesses to 0xCF8-0xCFB do not reach the
 * address register (the 440FX passes them on to the ISA bus), except 0xCF9,
 * the PIIX3 reset control register.
 *
 * Each device keeps its 256-byte configuration space as plain bytes with a
 * mask of writable bits, so read-only fields (IDs, class, header type, the
 * low bits of a BAR) stay read-only without special cases.  A BAR of size S
 * has its low log2(S) bits read-only, which gives the usual sizing protocol:
 * write all ones, read back the size mask and the type bits.
 */
#include "devices.h"

#include <string.h>

#define CONFIG_ADDR_ENABLE 0x80000000u
#define RESET_CONTROL_PORT 1 /* 0xCF9, offset in our 0xCF8 region */
#define RC_SYS_RESET	   0x02
#define RC_RESET_CPU	   0x04

/* Standard header offsets. */
enum {
	PCI_VENDOR = 0x00,
	PCI_DEVICE = 0x02,
	PCI_COMMAND = 0x04,
	PCI_STATUS = 0x06,
	PCI_REVISION = 0x08,
	PCI_CLASS = 0x09,
	PCI_CACHE_LINE = 0x0C,
	PCI_LATENCY = 0x0D,
	PCI_HEADER_TYPE = 0x0E,
	PCI_BAR0 = 0x10,
	PCI_SUBSYS_VENDOR = 0x2C,
	PCI_SUBSYS_ID = 0x2E,
	PCI_ROM_ADDRESS = 0x30,
	PCI_INT_LINE = 0x3C,
};

#define PCI_NUM_BARS	     6
#define PCI_COMMAND_WMASK    0x0547 /* I/O, memory, master, parity, SERR, INTx disable */
#define PCI_STATUS_DEFAULT   0x0280 /* medium DEVSEL timing, fast back-to-back */
#define PCI_HEADER_MULTIFUNC 0x80

/* 440FX registers kept as storage. */
#define I440FX_PAM0	 0x59
#define I440FX_PAM_COUNT 7
#define I440FX_SMRAM	 0x72

struct PCIBus {
	const MachineRequests *req; /* 0xCF9 resets the machine */
	MemoryRegion *ports; /* 0xCF8-0xCFF */
	uint32_t config_addr;
	uint8_t reset_control;
	PCIDevice *devices[256];
	void (*pam_hook)(void *opaque, const uint8_t pam[7]);
	void *pam_opaque;
	bool power_on_kept; /* pci_mark_power_on() was called */
};

/* ---- per-device configuration storage ---------------------------------- */

static uint8_t wmask_byte(const PCIDevice *d, int offset)
{
	return (uint8_t)(d->wmask[offset >> 2] >> ((offset & 3) * 8));
}

static void set_wmask_bytes(PCIDevice *d, int offset, int len, uint8_t mask)
{
	for (int i = offset; i < offset + len && i < 256; i++) {
		int shift = (i & 3) * 8;
		d->wmask[i >> 2] = (d->wmask[i >> 2] & ~(0xFFu << shift)) | (uint32_t)mask << shift;
	}
}

/* Set the writable bits of the config dword at @offset. */
static void set_wmask_dword(PCIDevice *d, int offset, uint32_t mask)
{
	d->wmask[offset >> 2] = mask;
}

uint32_t pci_default_config_read(PCIDevice *d, int offset, int size)
{
	uint32_t v = 0;

	for (int i = 0; i < size && offset + i < 256; i++)
		v |= (uint32_t)d->config[offset + i] << (8 * i);
	return v;
}

static bool overlaps(int offset, int size, int start, int len)
{
	return offset < start + len && start < offset + size;
}

void pci_default_config_write(PCIDevice *d, int offset, uint32_t value, int size)
{
	bool bars = false;

	for (int i = 0; i < size && offset + i < 256; i++) {
		uint8_t mask = wmask_byte(d, offset + i);
		uint8_t *b = &d->config[offset + i];
		uint8_t nv = (uint8_t)((*b & ~mask) | ((value >> (8 * i)) & mask));

		if (nv != *b && (overlaps(offset + i, 1, PCI_COMMAND, 2) ||
				 overlaps(offset + i, 1, PCI_BAR0, 4 * PCI_NUM_BARS) ||
				 overlaps(offset + i, 1, PCI_ROM_ADDRESS, 4)))
			bars = true;
		*b = nv;
	}
	/* Let the device move its decoders only when something changed. */
	if (bars && d->bars_changed)
		d->bars_changed(d);
}

static uint32_t config_read(PCIDevice *d, int offset, int size)
{
	if (d->ops && d->ops->config_read)
		return d->ops->config_read(d, offset, size);
	return pci_default_config_read(d, offset, size);
}

static void config_write(PCIDevice *d, int offset, uint32_t value, int size)
{
	if (d->ops && d->ops->config_write)
		d->ops->config_write(d, offset, value, size);
	else
		pci_default_config_write(d, offset, value, size);
}

/* ---- devices on the bus ------------------------------------------------- */

PCIDevice *pci_find(PCIBus *bus, int devfn)
{
	if (devfn < 0 || devfn > 255)
		return NULL;
	return bus->devices[devfn];
}

PCIDevice *pci_add(PCIBus *bus, int devfn, uint16_t vendor, uint16_t device, uint32_t class_rev,
		   const PCIDeviceOps *ops, void *opaque)
{
	PCIDevice *d, *fn0;

	if (devfn < 0 || devfn > 255 || bus->devices[devfn])
		fatal(EXIT_INTERNAL, "pci: slot %02x.%x is taken or invalid", devfn >> 3,
		      devfn & 7);
	d = xcalloc(1, sizeof(*d));
	d->bus = bus;
	d->devfn = devfn;
	d->ops = ops;
	d->opaque = opaque;
	st16(d->config + PCI_VENDOR, vendor);
	st16(d->config + PCI_DEVICE, device);
	st16(d->config + PCI_STATUS, PCI_STATUS_DEFAULT);
	d->config[PCI_REVISION] = (uint8_t)class_rev;
	d->config[PCI_CLASS] = (uint8_t)(class_rev >> 8);
	d->config[PCI_CLASS + 1] = (uint8_t)(class_rev >> 16);
	d->config[PCI_CLASS + 2] = (uint8_t)(class_rev >> 24);
	st16(d->config + PCI_SUBSYS_VENDOR, vendor);
	st16(d->config + PCI_SUBSYS_ID, device);

	set_wmask_bytes(d, PCI_COMMAND, 1, PCI_COMMAND_WMASK & 0xFF);
	set_wmask_bytes(d, PCI_COMMAND + 1, 1, PCI_COMMAND_WMASK >> 8);
	set_wmask_bytes(d, PCI_CACHE_LINE, 2, 0xFF);
	set_wmask_bytes(d, PCI_INT_LINE, 1, 0xFF);
	bus->devices[devfn] = d;

	/* A function other than 0 makes its slot multi-function. */
	fn0 = bus->devices[devfn & ~7];
	if ((devfn & 7) && fn0)
		fn0->config[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFUNC;
	if (!(devfn & 7)) {
		for (int f = 1; f < 8; f++)
			if (bus->devices[devfn + f])
				d->config[PCI_HEADER_TYPE] |= PCI_HEADER_MULTIFUNC;
	}
	return d;
}

void pci_set_subsystem(PCIDevice *d, uint16_t vendor, uint16_t id)
{
	st16(d->config + PCI_SUBSYS_VENDOR, vendor);
	st16(d->config + PCI_SUBSYS_ID, id);
}

void pci_declare_io_bar(PCIDevice *d, int n, uint32_t size)
{
	int offset = PCI_BAR0 + 4 * n;

	if (n < 0 || n >= PCI_NUM_BARS || size < 4 || (size & (size - 1)))
		fatal(EXIT_INTERNAL, "pci: bad I/O BAR %d of %u bytes", n, size);
	/* Bit 0 (I/O space indicator) and the size bits are read-only. */
	st32(d->config + offset, 1);
	set_wmask_dword(d, offset, ~(size - 1) & ~3u);
}

uint32_t pci_io_bar(PCIDevice *d, int n)
{
	uint32_t bar;

	if (n < 0 || n >= PCI_NUM_BARS || !(d->config[PCI_COMMAND] & 1))
		return 0;
	bar = ld32(d->config + PCI_BAR0 + 4 * n);
	if (!(bar & 1))
		return 0;
	return bar & ~3u;
}

void pci_declare_rom_bar(PCIDevice *d, uint32_t size)
{
	if (size < 2048 || (size & (size - 1)))
		fatal(EXIT_INTERNAL, "pci: bad ROM BAR of %u bytes", size);
	/* The address bits above the size and the enable bit are writable. */
	set_wmask_dword(d, PCI_ROM_ADDRESS, ~(size - 1) | 1u);
}

uint32_t pci_rom_bar(PCIDevice *d)
{
	uint32_t bar = ld32(d->config + PCI_ROM_ADDRESS);

	if (!(d->config[PCI_COMMAND] & 2) || !(bar & 1))
		return 0;
	return bar & ~0x7FFu;
}

/* ---- the configuration ports ------------------------------------------- */

/* The device the latched address selects, or NULL (disabled, absent). */
static PCIDevice *selected_device(PCIBus *bus)
{
	uint32_t a = bus->config_addr;

	if (!(a & CONFIG_ADDR_ENABLE) || ((a >> 16) & 0xFF) != 0)
		return NULL;
	return bus->devices[(a >> 8) & 0xFF];
}

static uint64_t ports_read(void *opaque, uint64_t offset, unsigned size)
{
	PCIBus *bus = opaque;
	uint64_t all_ones = size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
	PCIDevice *d;

	if (offset < 4) {
		if (offset == 0 && size == 4)
			return bus->config_addr;
		if (offset == RESET_CONTROL_PORT && size == 1)
			return bus->reset_control;
		return all_ones;
	}
	d = selected_device(bus);
	if (!d)
		return all_ones;
	offset -= 4;
	if (offset + size > 4)
		size = (unsigned)(4 - offset);
	return config_read(d, (int)((bus->config_addr & 0xFC) + offset), (int)size);
}

static void reset_control_write(PCIBus *bus, uint8_t value)
{
	/* Writing RCPU with SRST set (or toggling RCPU) resets the system. */
	bool reset = (value & RC_RESET_CPU) && !(bus->reset_control & RC_RESET_CPU);

	bus->reset_control = value & RC_SYS_RESET;
	if (reset)
		request_reset(bus->req);
}

static void ports_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	PCIBus *bus = opaque;
	PCIDevice *d;

	if (offset < 4) {
		if (offset == 0 && size == 4)
			bus->config_addr = (uint32_t)value & ~3u;
		else if (offset == RESET_CONTROL_PORT && size == 1)
			reset_control_write(bus, (uint8_t)value);
		return;
	}
	d = selected_device(bus);
	if (!d)
		return;
	offset -= 4;
	if (offset + size > 4)
		size = (unsigned)(4 - offset);
	config_write(d, (int)((bus->config_addr & 0xFC) + offset), (uint32_t)value, (int)size);
}

static const MemoryRegionOps ports_ops = {
    .read = ports_read,
    .write = ports_write,
};

/* ---- the 440FX host bridge and the PIIX3 ISA bridge --------------------- */

static void i440fx_config_write(PCIDevice *d, int offset, uint32_t value, int size)
{
	PCIBus *bus = d->bus;
	uint8_t before[I440FX_PAM_COUNT];

	memcpy(before, d->config + I440FX_PAM0, sizeof(before));
	pci_default_config_write(d, offset, value, size);
	if (bus->pam_hook && memcmp(before, d->config + I440FX_PAM0, sizeof(before)))
		bus->pam_hook(bus->pam_opaque, d->config + I440FX_PAM0);
}

static const PCIDeviceOps i440fx_ops = {
    .config_write = i440fx_config_write,
};

static void add_host_bridge(PCIBus *bus)
{
	PCIDevice *d = pci_add(bus, 0, 0x8086, 0x1237, 0x06000002, &i440fx_ops, NULL);

	st16(d->config + PCI_COMMAND, 0x0006);
	/* PMCCFG, DETURBO, DBC, DRT, DRAMC, DRAMT: plain storage for firmware. */
	set_wmask_bytes(d, 0x50, 8, 0xFF);
	/* PAM0 only has the 0xF0000 segment (high nibble); the others two segments. */
	set_wmask_bytes(d, I440FX_PAM0, 1, 0x30);
	set_wmask_bytes(d, I440FX_PAM0 + 1, I440FX_PAM_COUNT - 1, 0x33);
	/* DRB0-7 (row boundaries), FDHC. */
	set_wmask_bytes(d, 0x60, 9, 0xFF);
	/* SMRAM: D_OPEN, D_CLS, D_LCK, G_SMRAME; C_BASE_SEG reads 010b (0xA0000). */
	d->config[I440FX_SMRAM] = 0x02;
	set_wmask_bytes(d, I440FX_SMRAM, 1, 0x78);
}

static void add_isa_bridge(PCIBus *bus)
{
	PCIDevice *d = pci_add(bus, 1 << 3, 0x8086, 0x7000, 0x06010000, NULL, NULL);

	d->config[PCI_HEADER_TYPE] = PCI_HEADER_MULTIFUNC;
	st16(d->config + PCI_COMMAND, 0x0007);
	/* The function-specific registers (PIRQ routing, TOM, ...) are storage. */
	set_wmask_bytes(d, 0x40, 0xC0, 0xFF);
	/* PIRQA-D routing: disabled until the firmware routes them. */
	memset(d->config + 0x60, 0x80, 4);
}

PCIBus *pci_new(MemoryRegion *io, const MachineRequests *req)
{
	PCIBus *bus = xcalloc(1, sizeof(*bus));

	bus->req = req;
	bus->ports = mr_mmio("pci-conf", 8, &ports_ops, bus);
	mr_add(io, bus->ports, 0xCF8, 0);
	add_host_bridge(bus);
	add_isa_bridge(bus);
	return bus;
}

void pci_set_pam_hook(PCIBus *bus, void (*fn)(void *opaque, const uint8_t pam[7]), void *opaque)
{
	bus->pam_hook = fn;
	bus->pam_opaque = opaque;
}

void pci_mark_power_on(PCIBus *bus)
{
	for (int i = 0; i < 256; i++)
		if (bus->devices[i])
			memcpy(bus->devices[i]->power_on, bus->devices[i]->config,
			       sizeof(bus->devices[i]->config));
	bus->power_on_kept = true;
}

/*
 * A reset puts the chipset back as it came up: above all the 440FX's PAM
 * registers, so that the BIOS is read from ROM again and not from the
 * shadow copy in RAM, which the machine's reset clears.
 */
void pci_reset(PCIBus *bus)
{
	bus->config_addr = 0;
	bus->reset_control = 0;
	if (!bus->power_on_kept)
		return;
	for (int i = 0; i < 256; i++) {
		PCIDevice *d = bus->devices[i];
		bool pam;

		if (!d || !memcmp(d->config, d->power_on, sizeof(d->config)))
			continue;
		pam = i == 0 &&
		      memcmp(d->config + I440FX_PAM0, d->power_on + I440FX_PAM0, I440FX_PAM_COUNT);
		memcpy(d->config, d->power_on, sizeof(d->config));
		if (d->bars_changed)
			d->bars_changed(d);
		if (pam && bus->pam_hook)
			bus->pam_hook(bus->pam_opaque, d->config + I440FX_PAM0);
	}
}
