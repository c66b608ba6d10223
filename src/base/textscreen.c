/*
 * textscreen.c - a text screen (character, attribute pairs as a VGA holds
 * them) as terminal text: code page 437 in UTF-8, and the attribute as ANSI
 * colours.  The terminal display of a live run (src/machine/display.c) and
 * `flashback screen` (tools/screen.c) print screens through here, so both
 * show a screen the same way.
 */
#include "base.h"

#include <string.h>

/*
 * Code page 437, the VGA's font, 16 characters a row.  Character 0 shows
 * as a space (a cleared screen holds zeros), 0xFF as a no-break space.
 */
static const char *const cp437_rows[16] = {
    " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼", "►◄↕‼¶§▬↨↑↓→←∟↔▲▼",  " !\"#$%&'()*+,-./", "0123456789:;<=>?",
    "@ABCDEFGHIJKLMNO", "PQRSTUVWXYZ[\\]^_", "`abcdefghijklmno",  "pqrstuvwxyz{|}~⌂",
    "ÇüéâäàåçêëèïîìÄÅ", "ÉæÆôöòûùÿÖÜ¢£¥₧ƒ",  "áíóúñÑªº¿⌐¬½¼¡«»",  "░▒▓│┤╡╢╖╕╣║╗╝╜╛┐",
    "└┴┬├─┼╞╟╚╔╩╦╠═╬╧", "╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀",  "αßΓπΣσµτΦΘΩδ∞φε∩",  "≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0",
};

/* The UTF-8 bytes of each character, split from the rows once. */
static char cp437[256][4];

static void cp437_init(void)
{
	if (cp437[1][0])
		return;
	for (int r = 0; r < 16; r++) {
		const unsigned char *p = (const unsigned char *)cp437_rows[r];

		for (int i = 0; i < 16; i++) {
			int n = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;

			memcpy(cp437[r * 16 + i], p, (size_t)n); /* at most 3 bytes here */
			p += n;
		}
	}
}

const char *text_char_utf8(uint8_t c)
{
	cp437_init();
	return cp437[c];
}

/* VGA colour numbers (blue = 1, red = 4) to ANSI's (red = 1, blue = 4). */
static const uint8_t ansi_color[8] = {0, 4, 2, 6, 1, 5, 3, 7};

/* The SGR sequence of attribute @attr (bit 7 shows as a bright background,
 * as with blinking turned off, rather than blinking text). */
static void sgr(FILE *out, uint8_t attr)
{
	unsigned fg = attr & 0x0F, bg = (attr >> 4) & 0x0F;

	fprintf(out, "\x1b[0;%u;%um", (fg & 8 ? 90 : 30) + ansi_color[fg & 7],
		(bg & 8 ? 100 : 40) + ansi_color[bg & 7]);
}

void text_row_print(FILE *out, const uint8_t *cells, unsigned cols, bool color)
{
	unsigned end = cols;
	int attr = -1;

	/* Without colour, trailing blanks say nothing: leave them out. */
	if (!color)
		while (end && (cells[2 * (end - 1)] == ' ' || cells[2 * (end - 1)] == 0))
			end--;
	for (unsigned i = 0; i < end; i++) {
		if (color && cells[2 * i + 1] != attr) {
			attr = cells[2 * i + 1];
			sgr(out, (uint8_t)attr);
		}
		fputs(text_char_utf8(cells[2 * i]), out);
	}
	if (color)
		fputs("\x1b[0m", out);
}
