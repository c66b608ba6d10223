/*
 * test_debugports.c - the POST code latch, the 0xE9 / 0x402 consoles and
 * isa-debug-exit at 0xF4, driven through the I/O space.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#include <string.h>

static char console[64];
static size_t console_len;
static int exit_calls, exit_status;

static void out(void *opaque, uint8_t byte)
{
	CHECK(opaque == console);
	if (console_len < sizeof(console) - 1)
		console[console_len++] = (char)byte;
}

static void on_exit_hook(void *opaque, int status)
{
	exit_calls++;
	exit_status = status;
}

int main(void)
{
	MemoryRegion *io = mr_container("io", 0x10000);
	AddressSpace *as = as_new("io", io);
	DebugPorts *d;
	const char *msg = "hi\n";
	static const struct {
		uint32_t value;
		unsigned size;
		int status;
	} exits[] = {
		{0, 1, 1},
		{1, 1, 3},
		{0x10, 1, 0x21},
		{0xFF, 1, 0x1FF},
		{0x1234, 2, 0x2469},
		{0x31, 4, 0x63},
		{0x12345678, 4, 0x2468ACF1},
	};
	size_t i;

	static MachineRequests req = {.exit = on_exit_hook};

	d = debugports_new(io, &req, out, console);

	/* POST codes. */
	CHECK_EQ(debugports_post_code(d), 0);
	as_write(as, 0x80, 0x5A, 1);
	CHECK_EQ(debugports_post_code(d), 0x5A);
	CHECK_EQ(as_read(as, 0x80, 1), 0x5A);
	as_write(as, 0x80, 0xA5, 1);
	CHECK_EQ(debugports_post_code(d), 0xA5);

	/* Consoles. */
	for (i = 0; msg[i]; i++)
		as_write(as, 0xE9, (uint8_t)msg[i], 1);
	as_write(as, 0x402, 'o', 1);
	as_write(as, 0x402, 'k', 1);
	CHECK(strcmp(console, "hi\nok") == 0);
	CHECK_EQ(as_read(as, 0xE9, 1), 0xE9);
	CHECK_EQ(as_read(as, 0x402, 1), 0xE9);
	CHECK_EQ(exit_calls, 0);

	/* isa-debug-exit: (value << 1) | 1 for each size. */
	for (i = 0; i < ARRAY_SIZE(exits); i++) {
		as_write(as, 0xF4, exits[i].value, exits[i].size);
		CHECK_EQ(exit_calls, (int)i + 1);
		CHECK_EQ(exit_status, exits[i].status);
	}
	/* A byte write sees only the byte. */
	as_write(as, 0xF4, 0x1FF, 1);
	CHECK_EQ(exit_status, 0x1FF);

	/* No callback: bytes are dropped without harm. */
	io = mr_container("io2", 0x10000);
	as = as_new("io2", io);
	debugports_new(io, NULL, NULL, NULL);
	as_write(as, 0xE9, 'x', 1);
	CHECK_EQ(console_len, 5);
	CHECK_EQ(as_read(as, 0xE9, 1), 0xE9);
	return unit_done("debugports");
}
