/*
 * screen.c - `flashback screen TRACE --at N [--color]`: the VGA text screen
 * as it was at icount N of a recording.
 *
 * The characters are guest RAM (0xB8000), which a replay reproduces: a
 * libflashback session goes to icount N (fb_goto, from the trace's snapshot
 * before it) and the screen is read from its physical memory (fb_read).
 * What RAM alone cannot say - whether the VGA was in a text mode, its size,
 * and the CRTC start address a console scrolls with - is device state that
 * replay does not have; the recorder journals it as display map-changes
 * (RR_MAP_DISPLAY, traces/FORMAT.md) whenever it changes, and the last one
 * at or before N holds: the index says where it is (or the journal chunks
 * where the index samples map changes), and its chunk of the journal has
 * its payload (fb_scan, twice).
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"
#include "../src/lib/internal.h"
#include "../src/replay/replay.h"

#include <inttypes.h>
#include <string.h>

struct last_display {
	bool decode; /* events come with their payload (from the journal) */
	bool found, bad;
	uint64_t icount;
	RRDisplay d;
};

static int keep_display(void *opaque, const fb_event *ev, int journal_read)
{
	struct last_display *l = opaque;

	(void)journal_read;
	if (ev->kind != FB_MAP_CHANGE || ev->addr != RR_MAP_DISPLAY)
		return 1;
	l->found = true;
	l->icount = ev->icount;
	if (!l->decode)
		return 1;
	if (!ev->data || !rr_display_decode(ev->data, ev->size, &l->d)) {
		l->bad = true;
		return 0;
	}
	return 1;
}

/* The display change in force at icount @at. */
static struct last_display display_at(fb_trace *t, const char *dir, uint64_t at)
{
	fb_filter f = {.kinds = 1u << FB_MAP_CHANGE, .has_addr = true, .addr = RR_MAP_DISPLAY};
	struct last_display l = {0};
	fb_info info;

	fb_trace_info(t, &info);
	if (at > info.end_icount)
		fatal(EXIT_USAGE,
		      "--at %" PRIu64 ": outside the recording (icounts 0 to %" PRIu64 ")", at,
		      info.end_icount);
	/* Which is the last one: the index knows (rows carry no payload)... */
	f.from = 0;
	f.to = at;
	if (fb_scan(t, &f, keep_display, &l) != FB_OK)
		tool_lib_failed();
	/* ... and its chunk of the journal has its payload. */
	if (l.found) {
		f.from = f.to = l.icount;
		f.journal = true;
		l.decode = true;
		if (fb_scan(t, &f, keep_display, &l) != FB_OK)
			tool_lib_failed();
	}
	if (l.bad)
		fatal(EXIT_USAGE, "%s: malformed display change at icount %" PRIu64, dir, l.icount);
	return l;
}

/* A byte of physical memory; 0xff where there is no RAM (as a hole reads). */
static uint8_t phys_byte(fb_session *s, uint32_t addr)
{
	uint8_t b;

	return fb_read(s, addr, &b, 1, 0) == FB_OK ? b : 0xff;
}

static void print_screen(fb_session *s, const RRDisplay *d, bool color)
{
	uint32_t window = 0xC0000 - d->base; /* the CRTC wraps within the window */
	uint8_t row[2 * 1024];

	for (uint32_t r = 0; r < d->rows; r++) {
		for (uint32_t c = 0; c < d->cols; c++) {
			uint32_t at = (uint32_t)(((uint64_t)d->start + (uint64_t)r * d->pitch + c) *
						 2 % window);

			row[2 * c] = phys_byte(s, d->base + at);
			row[2 * c + 1] = phys_byte(s, d->base + at + 1);
		}
		text_row_print(stdout, row, d->cols, color);
		fputc('\n', stdout);
	}
}

static _Noreturn void screen_usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback screen TRACE --at N [--color]");
}

int tools_screen(int argc, char **argv)
{
	const char *dir = NULL;
	bool has_at = false, color = false;
	uint64_t at = 0;
	struct last_display l;
	fb_session *s;
	fb_trace *t;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--at") == 0) {
			at = tool_number(a, v);
			has_at = true;
			i++;
		} else if (strcmp(a, "--color") == 0) {
			color = true;
		} else if (a[0] == '-' && a[1]) {
			fatal(EXIT_USAGE, "screen: unknown option '%s'", a);
		} else if (!dir) {
			dir = a;
		} else {
			screen_usage();
		}
	}
	if (!dir || !has_at)
		screen_usage();
	if (!(t = fb_open(dir)))
		tool_lib_failed();
	l = display_at(t, dir, at);
	if (!l.found)
		fatal(EXIT_USAGE,
		      "%s: no text screen at icount %" PRIu64
		      " (the recording has no VGA: -vga none, or an older flashback)",
		      dir, at);
	if (!l.d.text || !l.d.cols || !l.d.rows || l.d.base < 0xA0000 || l.d.base >= 0xC0000)
		fatal(EXIT_USAGE,
		      "%s: no text screen at icount %" PRIu64
		      ": the VGA is in a graphics mode since icount %" PRIu64,
		      dir, at, l.icount);
	if (!(s = fb_session_new(t, 0)))
		tool_lib_failed();
	lib_warn_snapshot(fb_session_warning(s));
	if (at < fb_start_icount(s))
		fatal(EXIT_USAGE,
		      "--at %" PRIu64 ": before the recording starts (icount %" PRIu64 ")", at,
		      fb_start_icount(s));
	if (fb_goto(s, at) == FB_ERROR)
		tool_lib_failed();
	if (fb_icount(s) != at)
		fatal(EXIT_USAGE, "--at %" PRIu64 ": the recording ends at icount %" PRIu64, at,
		      fb_icount(s));
	print_screen(s, &l.d, color);
	fb_session_free(s);
	fb_close(t);
	return 0;
}
