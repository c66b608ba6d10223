/*
 * vga.c - a small OS text console on the VGA, as such kernels drive it: the
 * BIOS data area's video fields, the CRTC cursor and start address through
 * 0x3D4/0x3D5 (read back, as a console that panics on a wrong cursor does),
 * CR11's write protection, the attribute controller's flip-flop, the
 * sequencer, graphics controller and DAC, vertical retrace seen coming and
 * going on input status 1, and text written straight into 0xB8000.
 *
 * The screen it leaves (checked by tests/screen): 26 rows written, the
 * start address moved down one row, so the screen shows "row 01" at the
 * top and "row 25" at the bottom, the title in colour on row 1.
 */
#include "guest.h"

#define CRTC_INDEX 0x3D4
#define CRTC_DATA  0x3D5
#define STATUS1	   0x3DA

static volatile u16 *const text = (volatile u16 *)0xB8000;

static u8 crtc_read(u8 index)
{
	outb(CRTC_INDEX, index);
	return inb(CRTC_DATA);
}

static void crtc_write(u8 index, u8 value)
{
	outb(CRTC_INDEX, index);
	outb(CRTC_DATA, value);
}

static void put_text(int row, int col, const char *s, u8 attr)
{
	for (; *s; s++, col++)
		text[row * 80 + col] = (u16)(attr << 8 | (u8)*s);
}

static void set_cursor(u16 pos)
{
	crtc_write(0x0E, (u8)(pos >> 8));
	crtc_write(0x0F, (u8)pos);
}

static u16 get_cursor(void)
{
	return (u16)(crtc_read(0x0E) << 8 | crtc_read(0x0F));
}

static void check_bda(void)
{
	u32 at = 0x400;
	const volatile u8 *bda;

	/* Hide the constant from gcc, which takes low addresses for null ones. */
	__asm__("" : "+r"(at));
	bda = (const volatile u8 *)at;

	check(bda[0x49] == 3, "BDA video mode %u, want 3", bda[0x49]);
	check((bda[0x63] | bda[0x64] << 8) == 0x3D4, "BDA CRTC port 0x%x",
	      bda[0x63] | bda[0x64] << 8);
	check(bda[0x4A] == 80 && bda[0x84] == 24, "BDA %u columns, %u rows", bda[0x4A],
	      bda[0x84] + 1);
}

static void check_registers(void)
{
	u8 v;

	check(inb(0x3CC) == 0x67, "misc output 0x%02x, want 0x67 (mode 03h)", inb(0x3CC));
	/* The cursor location reads back, as consoles rely on. */
	set_cursor(0x0123);
	check(get_cursor() == 0x0123, "cursor 0x%04x, want 0x0123", get_cursor());
	crtc_write(0x0A, 0x0D);
	crtc_write(0x0B, 0x0E);
	check(crtc_read(0x0A) == 0x0D && crtc_read(0x0B) == 0x0E, "cursor shape 0x%02x 0x%02x",
	      crtc_read(0x0A), crtc_read(0x0B));
	/* CR11 bit 7 protects CR00-CR07. */
	v = crtc_read(0x01);
	crtc_write(0x01, 0x12);
	check(crtc_read(0x01) == v, "CR01 changed under CR11 protection (0x%02x)", crtc_read(0x01));
	/* Sequencer and graphics controller: index and data. */
	outb(0x3C4, 0x04);
	check(inb(0x3C5) == 0x02, "sequencer memory mode 0x%02x", inb(0x3C5));
	outb(0x3CE, 0x06);
	check(inb(0x3CF) == 0x0E, "graphics misc 0x%02x (want B8000, text)", inb(0x3CF));
	/* Attribute controller: reading input status 1 resets the flip-flop,
	 * so the next write is an index. */
	inb(STATUS1);
	outb(0x3C0, 0x30); /* mode control, palette address source on */
	check(inb(0x3C1) == 0x0C, "attribute mode control 0x%02x", inb(0x3C1));
	outb(0x3C0, 0x0C); /* data: the flip-flop was at data */
	inb(STATUS1);
	outb(0x3C0, 0x30);
	check(inb(0x3C1) == 0x0C, "attribute write went to the wrong place");
	outb(0x3C0, 0x0C);
	/* DAC: three bytes a colour, read back from the read index. */
	outb(0x3C8, 5);
	outb(0x3C9, 0x11);
	outb(0x3C9, 0x22);
	outb(0x3C9, 0x33);
	outb(0x3C7, 5);
	v = inb(0x3C9);
	check(v == 0x11 && inb(0x3C9) == 0x22 && inb(0x3C9) == 0x33, "DAC entry 5 read back");
}

/* Vertical retrace comes and goes (70 times a virtual second). */
static void check_retrace(void)
{
	int i, seen = 0;

	for (i = 0; i < 20000000 && !(inb(STATUS1) & 0x08); i++)
		;
	seen += i < 20000000;
	for (i = 0; i < 20000000 && (inb(STATUS1) & 0x08); i++)
		;
	seen += i < 20000000;
	check(seen == 2, "vertical retrace never %s", seen ? "ended" : "started");
}

static void fill_screen(void)
{
	char line[16] = "row 00";

	for (int r = 0; r < 26 * 80; r++)
		text[r] = 0x0720;
	for (int r = 0; r < 26; r++) {
		line[4] = (char)('0' + r / 10);
		line[5] = (char)('0' + r % 10);
		put_text(r, 0, line, 0x07);
	}
	put_text(1, 10, "Flashback VGA test", 0x1E); /* yellow on blue */
	put_text(25, 10, "last line", 0x07);
	/* Scroll by one row: the start address counts characters. */
	crtc_write(0x0C, 0);
	crtc_write(0x0D, 80);
	set_cursor(80 + 24 * 80 + 9);
}

int guest_main(void)
{
	check_bda();
	check_registers();
	check_retrace();
	fill_screen();
	printf("vga: screen written\n");
	if (check_done("vga"))
		return 1;
	return 0;
}
