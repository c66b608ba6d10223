/*
 * debugports.c - the ports firmware and test kernels use to talk to the
 * emulator: the POST code latch at 0x80, the Bochs/QEMU debug consoles at
 * 0xE9 and 0x402, and QEMU's isa-debug-exit at 0xF4.
 *
 * Port 0x80 stores each byte written and reads it back.  A byte written to
 * 0xE9 or 0x402 goes to the output callback; reading either returns 0xE9,
 * the value guests probe to detect the console.  A write of any size to
 * 0xF4 asks the machine to exit with status (value << 1) | 1, so that a
 * guest can never make the emulator exit with 0.  0xF4 is registered as 4
 * ports wide like QEMU's device (iosize=4), so 16- and 32-bit writes arrive
 * whole.
 */
#include "devices.h"

#define DEBUGCON_READBACK 0xE9

struct DebugPorts {
	const MachineRequests *req;
	MemoryRegion *post, *e9, *p402, *exit;
	UARTOutFn *out;
	void *opaque;
	uint8_t post_code;
};

static uint64_t post_read(void *opaque, uint64_t offset, unsigned size)
{
	DebugPorts *d = opaque;

	return d->post_code;
}

static void post_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	DebugPorts *d = opaque;

	d->post_code = (uint8_t)value;
}

static uint64_t console_read(void *opaque, uint64_t offset, unsigned size)
{
	return DEBUGCON_READBACK;
}

static void console_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	DebugPorts *d = opaque;

	if (d->out)
		d->out(d->opaque, (uint8_t)value);
}

static uint64_t exit_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0;
}

static void exit_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	DebugPorts *d = opaque;
	uint32_t v = (uint32_t)value;

	if (size < 4)
		v &= (1u << (8 * size)) - 1;
	request_exit(d->req, (int)((v << 1) | 1));
}

static const MemoryRegionOps post_ops = {.read = post_read, .write = post_write};
static const MemoryRegionOps console_ops = {.read = console_read, .write = console_write};
static const MemoryRegionOps exit_ops = {.read = exit_read, .write = exit_write};

DebugPorts *debugports_new(MemoryRegion *io, const MachineRequests *req, UARTOutFn *out,
			   void *opaque)
{
	DebugPorts *d = xcalloc(1, sizeof(*d));

	d->req = req;
	d->out = out;
	d->opaque = opaque;
	d->post = mr_mmio("post-code", 1, &post_ops, d);
	d->e9 = mr_mmio("debugcon-e9", 1, &console_ops, d);
	d->p402 = mr_mmio("debugcon-402", 1, &console_ops, d);
	d->exit = mr_mmio("isa-debug-exit", 4, &exit_ops, d);
	mr_add(io, d->post, 0x80, 0);
	mr_add(io, d->e9, 0xE9, 0);
	mr_add(io, d->p402, 0x402, 0);
	mr_add(io, d->exit, 0xF4, 0);
	return d;
}

uint8_t debugports_post_code(DebugPorts *d)
{
	return d->post_code;
}
