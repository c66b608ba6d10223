/*
 * display.c - the VGA text screen in the terminal (-display curses).
 *
 * Between CPU slices the loop calls display_poll(); at most every
 * DISPLAY_PERIOD_MS of host time, and only when something the screen shows
 * changed (characters, attributes, the CRTC start address, the cursor),
 * the whole screen is drawn again with ANSI sequences: home, each row in
 * its colours, the cursor's cell (where the CRTC puts it) in reverse video,
 * and the terminal's own cursor left below the screen, so that anything
 * else printed (a line on stderr at the end) goes there.  Host time decides only
 * when a frame is drawn; the display reads guest memory and the VGA's
 * registers through vga_text_state(), never an I/O port, so the guest runs
 * exactly as without it.  The last frame is drawn when the run ends, so
 * the final screen stays in the terminal.
 */
#include "display.h"

#include <string.h>
#include <time.h>

#define DISPLAY_PERIOD_MS 100

struct Display {
	VGA *vga;
	FILE *out;
	int64_t next_ns; /* host time of the next look */
	bool drawn;	 /* a frame is on the terminal */
	/* What the last frame showed. */
	VGAText shown;
	uint8_t cells[VGA_MAX_ROWS * VGA_MAX_COLS * 2];
};

static int64_t host_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

Display *display_new(VGA *vga, FILE *out)
{
	Display *d = xcalloc(1, sizeof(*d));

	d->vga = vga;
	d->out = out;
	return d;
}

/* The characters the screen shows now, row after row, into @cells. */
static void screen_cells(const VGAText *t, uint8_t *cells)
{
	for (unsigned r = 0; r < t->rows; r++)
		for (unsigned c = 0; c < t->cols; c++) {
			/* The CRTC counts characters (words) within the window and wraps. */
			uint32_t at = ((t->start + r * t->pitch + c) * 2) % t->memory_size;

			cells[(r * t->cols + c) * 2] = t->memory[at];
			cells[(r * t->cols + c) * 2 + 1] = t->memory[at + 1];
		}
}

static bool same_view(const VGAText *a, const VGAText *b)
{
	return a->text == b->text && a->cols == b->cols && a->rows == b->rows &&
	       a->cursor == b->cursor && a->cursor_on == b->cursor_on && a->start == b->start;
}

static void draw(Display *d, const VGAText *t, const uint8_t *cells)
{
	FILE *out = d->out;

	if (!d->drawn || t->rows != d->shown.rows || t->cols != d->shown.cols)
		fputs("\x1b[0m\x1b[2J", out); /* a new size: clear what was there */
	fputs("\x1b[?25l\x1b[H", out);
	if (!t->text) {
		fputs("\x1b[0m[the VGA is in a graphics mode]\x1b[K", out);
	} else {
		for (unsigned r = 0; r < t->rows; r++) {
			text_row_print(out, cells + r * t->cols * 2, t->cols, true);
			fputs(r + 1 < t->rows ? "\r\n" : "", out);
		}
		/* The guest's cursor: its cell in reverse video. */
		if (t->cursor_on && t->cursor >= t->start &&
		    t->cursor - t->start < t->rows * t->pitch) {
			uint32_t off = t->cursor - t->start, r = off / t->pitch, c = off % t->pitch;

			if (c < t->cols)
				fprintf(out, "\x1b[%u;%uH\x1b[0;7m%s\x1b[0m", r + 1, c + 1,
					text_char_utf8(cells[(r * t->cols + c) * 2]));
		}
	}
	/* The terminal's cursor below the screen: what else is printed (a
	 * line on stderr) goes there, not over the screen. */
	fprintf(out, "\x1b[%u;1H", t->text ? t->rows + 1 : 2);
	fflush(out);
	d->shown = *t;
	memcpy(d->cells, cells, (size_t)t->rows * t->cols * 2);
	d->drawn = true;
}

/* Draw if the screen changed since the last frame (or @force). */
static void refresh(Display *d, bool force)
{
	VGAText t;
	uint8_t cells[sizeof(d->cells)];

	vga_text_state(d->vga, &t);
	if (t.text)
		screen_cells(&t, cells);
	if (!force && d->drawn && same_view(&t, &d->shown) &&
	    (!t.text || !memcmp(cells, d->cells, (size_t)t.rows * t.cols * 2)))
		return;
	draw(d, &t, cells);
}

void display_poll(Display *d)
{
	int64_t now = host_ns();

	if (now < d->next_ns)
		return;
	d->next_ns = now + (int64_t)DISPLAY_PERIOD_MS * 1000000;
	refresh(d, false);
}

void display_finish(Display *d)
{
	refresh(d, !d->drawn);
	/* Leave the terminal below the screen, in its own colours. */
	fputs("\x1b[0m\x1b[?25h", d->out);
	fflush(d->out);
}
