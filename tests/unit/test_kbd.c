/*
 * test_kbd.c - the i8042 driven through ports 0x60/0x64 as a BIOS or
 * kernel driver would: controller self tests, the command byte, the output
 * port (A20 and reset requests), the reset pulse, keyboard and mouse
 * replies in order, IRQ 1 / IRQ 12 and scancode delivery.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

static AddressSpace *as;
static KBD *kbd;
static int a20_calls, reset_calls;
static bool a20_state;
static int levels[16], raises[16];

static void on_a20(void *opaque, bool on)
{
	a20_calls++;
	a20_state = on;
}

static void on_reset(void *opaque)
{
	reset_calls++;
}

static void irq_handler(void *opaque, int n, int level)
{
	if (level && !levels[n])
		raises[n]++;
	levels[n] = level;
}

static const IRQ irq1 = {irq_handler, NULL, 1};
static const IRQ irq12 = {irq_handler, NULL, 12};

static uint8_t status(void)
{
	return (uint8_t)as_read(as, 0x64, 1);
}

static void command(uint8_t c)
{
	as_write(as, 0x64, c, 1);
}

static void data(uint8_t v)
{
	as_write(as, 0x60, v, 1);
}

/* Read one byte the way a driver does: wait for OBF, then read 0x60. */
static int next_byte(void)
{
	if (!(status() & 0x01))
		return -1;
	return (int)as_read(as, 0x60, 1);
}

static void test_controller(void)
{
	CHECK_EQ(status() & 0x01, 0);
	command(0xAA);
	CHECK_EQ(status() & 0x09, 0x09); /* OBF, last write was a command */
	CHECK_EQ(next_byte(), 0x55);
	CHECK_EQ(next_byte(), -1);
	command(0xAB);
	CHECK_EQ(next_byte(), 0x00);
	command(0xA9);
	CHECK_EQ(next_byte(), 0x00);

	/* Command byte: the default after POST, then a write read back. */
	command(0x20);
	CHECK_EQ(next_byte(), 0x45);
	CHECK_EQ(status() & 0x04, 0x04); /* SYS follows CCB bit 2 */
	command(0x60);
	data(0x30);
	CHECK_EQ(status() & 0x08, 0x00); /* last write was data */
	command(0x20);
	CHECK_EQ(next_byte(), 0x30);
	CHECK_EQ(status() & 0x04, 0x00);
	/* 0xAD / 0xAE / 0xA7 / 0xA8 flip the clock bits. */
	command(0xAE);
	command(0xA8);
	command(0x20);
	CHECK_EQ(next_byte(), 0x00);
	command(0xAD);
	command(0xA7);
	command(0x20);
	CHECK_EQ(next_byte(), 0x30);
	/* Other internal RAM bytes. */
	command(0x65);
	data(0x99);
	command(0x25);
	CHECK_EQ(next_byte(), 0x99);
	command(0x60);
	data(0x45);
	kbd_reset(kbd);
	command(0x25);
	CHECK_EQ(next_byte(), 0x00);
}

static void test_output_port(void)
{
	command(0xD0);
	CHECK_EQ(next_byte() & 0x03, 0x03);

	command(0xD1);
	data(0x01); /* A20 off, not in reset */
	CHECK_EQ(a20_calls, 1);
	CHECK(!a20_state);
	CHECK_EQ(reset_calls, 0);
	command(0xD0);
	CHECK_EQ(next_byte() & 0x03, 0x01);
	command(0xD1);
	data(0x03);
	CHECK_EQ(a20_calls, 2);
	CHECK(a20_state);
	command(0xD1);
	data(0x03); /* no change, no request */
	CHECK_EQ(a20_calls, 2);
	command(0xDD);
	CHECK_EQ(a20_calls, 3);
	CHECK(!a20_state);
	command(0xDF);
	CHECK_EQ(a20_calls, 4);
	CHECK(a20_state);
	CHECK_EQ(reset_calls, 0);

	/* Output port bit 0 low resets. */
	command(0xD1);
	data(0x02);
	CHECK_EQ(reset_calls, 1);
	command(0xD1);
	data(0x03);

	/* The reset pulse: 0xFE, and any 0xF0-0xFF with bit 0 clear. */
	command(0xFE);
	CHECK_EQ(reset_calls, 2);
	command(0xFF); /* pulses nothing */
	command(0xFD); /* pulses line 1 only */
	CHECK_EQ(reset_calls, 2);
	command(0xF0);
	CHECK_EQ(reset_calls, 3);
	CHECK_EQ(status() & 0x01, 0);
}

static void test_keyboard(void)
{
	data(0xFF);
	CHECK_EQ(levels[1], 1);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xAA);
	CHECK_EQ(next_byte(), -1);
	CHECK_EQ(levels[1], 0);

	data(0xF2); /* identify, translated */
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xAB);
	CHECK_EQ(next_byte(), 0x41);
	command(0x60);
	data(0x05); /* translation off */
	data(0xF2);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xAB);
	CHECK_EQ(next_byte(), 0x83);
	data(0xF0);
	data(0x00);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0x02); /* scan set 2 */
	command(0x60);
	data(0x45);

	data(0xED); /* LEDs */
	CHECK_EQ(next_byte(), 0xFA);
	data(0x07);
	CHECK_EQ(next_byte(), 0xFA);
	data(0xF3); /* typematic */
	CHECK_EQ(next_byte(), 0xFA);
	data(0x20);
	CHECK_EQ(next_byte(), 0xFA);
	data(0xF0); /* set 1, then ask: 0x43 through translation */
	data(0x01);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xFA);
	data(0xF0);
	data(0x00);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0x43);
	data(0xF0);
	data(0x07); /* no such set */
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xFE);
	data(0xEE);
	CHECK_EQ(next_byte(), 0xEE);
	data(0xAB); /* unknown */
	CHECK_EQ(next_byte(), 0xFE);
	CHECK_EQ(next_byte(), -1);
}

static void test_scancodes(void)
{
	raises[1] = 0;
	kbd_put_scancode(kbd, 0x1E); /* 'a' make */
	kbd_put_scancode(kbd, 0x9E); /* 'a' break */
	CHECK_EQ(levels[1], 1);
	CHECK_EQ(raises[1], 1);
	CHECK_EQ(status() & 0x21, 0x01); /* keyboard byte, not aux */
	CHECK_EQ(as_read(as, 0x60, 1), 0x1E);
	/* The line dropped on the read and rose again for the next byte. */
	CHECK_EQ(raises[1], 2);
	CHECK_EQ(levels[1], 1);
	CHECK_EQ(as_read(as, 0x60, 1), 0x9E);
	CHECK_EQ(levels[1], 0);
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(as_read(as, 0x60, 1), 0x9E); /* empty: the last byte again */
	CHECK_EQ(raises[1], 2);

	/* Keyboard interrupt disabled: OBF without IRQ 1. */
	command(0x60);
	data(0x44);
	kbd_put_scancode(kbd, 0x10);
	CHECK_EQ(status() & 0x01, 0x01);
	CHECK_EQ(levels[1], 0);
	CHECK_EQ(next_byte(), 0x10);

	/* Keyboard clock disabled: the byte waits in the keyboard. */
	command(0x60);
	data(0x45);
	command(0xAD);
	kbd_put_scancode(kbd, 0x2C);
	CHECK_EQ(status() & 0x01, 0);
	CHECK_EQ(levels[1], 0);
	command(0xAE);
	CHECK_EQ(levels[1], 1);
	CHECK_EQ(next_byte(), 0x2C);

	/* Scanning disabled (0xF5): keys are dropped until 0xF4. */
	data(0xF5);
	CHECK_EQ(next_byte(), 0xFA);
	kbd_put_scancode(kbd, 0x11);
	CHECK_EQ(next_byte(), -1);
	data(0xF4);
	CHECK_EQ(next_byte(), 0xFA);
	kbd_put_scancode(kbd, 0x12);
	CHECK_EQ(next_byte(), 0x12);

	/* Translation off: the keyboard speaks scan set 2. */
	command(0x60);
	data(0x05);
	kbd_put_scancode(kbd, 0x1E); /* 'a' */
	kbd_put_scancode(kbd, 0x9E);
	kbd_put_scancode(kbd, 0xE0); /* cursor up */
	kbd_put_scancode(kbd, 0x48);
	kbd_put_scancode(kbd, 0xE0);
	kbd_put_scancode(kbd, 0xC8);
	kbd_put_scancode(kbd, 0x58); /* F12 */
	CHECK_EQ(next_byte(), 0x1C);
	CHECK_EQ(next_byte(), 0xF0);
	CHECK_EQ(next_byte(), 0x1C);
	CHECK_EQ(next_byte(), 0xE0);
	CHECK_EQ(next_byte(), 0x75);
	CHECK_EQ(next_byte(), 0xE0);
	CHECK_EQ(next_byte(), 0xF0);
	CHECK_EQ(next_byte(), 0x75);
	CHECK_EQ(next_byte(), 0x07);
	CHECK_EQ(next_byte(), -1);
	/* ... unless the guest selected set 1. */
	data(0xF0);
	data(0x01);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xFA);
	kbd_put_scancode(kbd, 0x9E);
	CHECK_EQ(next_byte(), 0x9E);
	data(0xFF);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xAA);
	command(0x60);
	data(0x45);

	/* 0xD2 puts a byte in the output buffer as if the keyboard sent it. */
	command(0xD2);
	data(0x5B);
	CHECK_EQ(levels[1], 1);
	CHECK_EQ(next_byte(), 0x5B);
}

static void test_mouse(void)
{
	raises[12] = 0;
	/* Aux interrupt off by default: replies come, IRQ 12 stays low. */
	command(0xD4);
	data(0xF2);
	CHECK_EQ(status() & 0x21, 0x21);
	CHECK_EQ(levels[12], 0);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0x00);

	command(0x60);
	data(0x47); /* + aux interrupt */
	command(0xD4);
	data(0xFF);
	CHECK_EQ(levels[12], 1);
	CHECK_EQ(levels[1], 0);
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0xAA);
	CHECK_EQ(next_byte(), 0x00);
	CHECK_EQ(levels[12], 0);
	CHECK_EQ(raises[12], 3);

	command(0xD4);
	data(0xF3); /* sample rate 40 */
	CHECK_EQ(next_byte(), 0xFA);
	command(0xD4);
	data(40);
	CHECK_EQ(next_byte(), 0xFA);
	command(0xD4);
	data(0xF4);
	CHECK_EQ(next_byte(), 0xFA);
	command(0xD4);
	data(0xE9); /* status: enabled, resolution 2, rate 40 */
	CHECK_EQ(next_byte(), 0xFA);
	CHECK_EQ(next_byte(), 0x20);
	CHECK_EQ(next_byte(), 0x02);
	CHECK_EQ(next_byte(), 40);

	/* 0xD3: a byte as if from the mouse. */
	command(0xD3);
	data(0x08);
	CHECK_EQ(status() & 0x21, 0x21);
	CHECK_EQ(levels[12], 1);
	CHECK_EQ(next_byte(), 0x08);

	/* Keyboard bytes come before mouse bytes; each raises its own IRQ. */
	kbd_put_scancode(kbd, 0x1C);
	command(0xD4);
	data(0xF5);
	CHECK_EQ(levels[1], 1);
	CHECK_EQ(levels[12], 0);
	CHECK_EQ(next_byte(), 0x1C);
	CHECK_EQ(levels[1], 0);
	CHECK_EQ(levels[12], 1);
	CHECK_EQ(next_byte(), 0xFA);
	command(0x60);
	data(0x45);
}

int main(void)
{
	MemoryRegion *io = mr_container("io", 0x10000);

	as = as_new("io", io);
	static MachineRequests req = {.reset = on_reset, .set_a20 = on_a20};

	kbd = kbd_new(io, &req, &irq1, &irq12);

	test_controller();
	test_output_port();
	test_keyboard();
	test_scancodes();
	test_mouse();
	return unit_done("kbd");
}
