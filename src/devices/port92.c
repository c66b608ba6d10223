/*
 * port92.c - System Control Port A (0x92): fast A20 gate and fast reset.
 *
 * Bit 1 gates address line 20 (the machine is asked to change A20 when the
 * bit changes); a 0 -> 1 transition of bit 0 resets the machine.  The other
 * bits (the hard-disk LED, the CMOS lock) are kept and read back as
 * written, so reads return the latched byte.  The reset clears bit 0 (as
 * QEMU's does): a guest that sets it with "in; or 1; out" after a reset
 * must see a new edge, or its second fast reset would do nothing.
 */
#include "devices.h"

#define P92_RESET 0x01
#define P92_A20	  0x02

struct Port92 {
	const MachineRequests *req;
	MemoryRegion *port;
	uint8_t value;
};

static uint64_t port92_read(void *opaque, uint64_t offset, unsigned size)
{
	Port92 *p = opaque;

	return p->value;
}

static void port92_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	Port92 *p = opaque;
	uint8_t old = p->value;
	uint8_t v = (uint8_t)value;

	p->value = v;
	if ((old ^ v) & P92_A20)
		request_a20(p->req, v & P92_A20);
	if (!(old & P92_RESET) && (v & P92_RESET))
		request_reset(p->req);
}

static const MemoryRegionOps port92_ops = {
	.read = port92_read,
	.write = port92_write,
};

void port92_reset(Port92 *p)
{
	p->value &= (uint8_t)~P92_RESET;
}

Port92 *port92_new(MemoryRegion *io, const MachineRequests *req)
{
	Port92 *p = xcalloc(1, sizeof(*p));

	p->req = req;
	p->port = mr_mmio("port92", 1, &port92_ops, p);
	mr_add(io, p->port, 0x92, 0);
	return p;
}
