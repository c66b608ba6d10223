/*
 * test_port92.c - port 0x92 through the I/O space: A20 requests on bit 1
 * changes, a reset request on each 0 -> 1 edge of bit 0, latched reads, and
 * bit 0 clear after a reset so that the next fast reset is an edge again.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

static int a20_calls, reset_calls;
static bool a20_state;

static void on_a20(void *opaque, bool on)
{
	a20_calls++;
	a20_state = on;
}

static void on_reset(void *opaque)
{
	reset_calls++;
}

int main(void)
{
	MemoryRegion *io = mr_container("io", 0x10000);
	AddressSpace *as = as_new("io", io);

	static MachineRequests req = {.reset = on_reset, .set_a20 = on_a20};

	Port92 *p = port92_new(io, &req);

	CHECK_EQ(as_read(as, 0x92, 1), 0x00);
	as_write(as, 0x92, 0x02, 1);
	CHECK_EQ(a20_calls, 1);
	CHECK(a20_state);
	CHECK_EQ(reset_calls, 0);
	CHECK_EQ(as_read(as, 0x92, 1), 0x02);

	/* Same A20 value again: no request. */
	as_write(as, 0x92, 0x02, 1);
	CHECK_EQ(a20_calls, 1);

	/* Fast reset on the rising edge of bit 0 only. */
	as_write(as, 0x92, 0x03, 1);
	CHECK_EQ(reset_calls, 1);
	CHECK_EQ(a20_calls, 1);
	CHECK_EQ(as_read(as, 0x92, 1), 0x03);
	as_write(as, 0x92, 0x03, 1);
	CHECK_EQ(reset_calls, 1);
	as_write(as, 0x92, 0x02, 1);
	as_write(as, 0x92, 0x03, 1);
	CHECK_EQ(reset_calls, 2);

	/* A20 off, other bits latched. */
	as_write(as, 0x92, 0xC0, 1);
	CHECK_EQ(a20_calls, 2);
	CHECK(!a20_state);
	CHECK_EQ(reset_calls, 2);
	CHECK_EQ(as_read(as, 0x92, 1), 0xC0);

	/* The machine's reset clears bit 0 only: "in; or 1; out" resets again. */
	as_write(as, 0x92, 0x03, 1);
	CHECK_EQ(reset_calls, 3);
	port92_reset(p);
	CHECK_EQ(as_read(as, 0x92, 1), 0x02);
	as_write(as, 0x92, as_read(as, 0x92, 1) | 1, 1);
	CHECK_EQ(reset_calls, 4);
	CHECK_EQ(a20_calls, 3);

	/* Neighbouring ports are not ours. */
	CHECK_EQ(as_read(as, 0x93, 1), 0xFF);
	return unit_done("port92");
}
