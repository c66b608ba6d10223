/*
 * screen.c - `flashback screen TRACE --at N [--color]`: the VGA text screen
 * as it was at icount N of a recording.
 *
 * The characters are guest RAM (0xB8000), which a replay reproduces: the
 * replay engine goes to icount N (replay_goto, from the trace's snapshot
 * before it) and the screen is read through the session's address space.
 * What RAM alone cannot say - whether the VGA was in a text mode, its size,
 * and the CRTC start address a console scrolls with - is device state that
 * replay does not have; the recorder journals it as display map-changes
 * (RR_MAP_DISPLAY, traces/FORMAT.md) whenever it changes, and the last one
 * at or before N holds: the index says where it is (or the journal chunks
 * where the index samples map changes), and its chunk of the journal has
 * its payload.
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/replay/replay.h"

#include <inttypes.h>
#include <string.h>

struct last_display {
	bool decode; /* events come with their payload (from the journal) */
	bool found, bad;
	uint64_t icount;
	RRDisplay d;
};

static bool keep_display(void *opaque, const TraceEvent *ev, enum event_source src)
{
	struct last_display *l = opaque;

	if (ev->kind != TEV_MAP_CHANGE || ev->addr != RR_MAP_DISPLAY)
		return true;
	l->found = true;
	l->icount = ev->icount;
	if (!l->decode)
		return true;
	if (!ev->data || !rr_display_decode(ev->data, ev->size, &l->d)) {
		l->bad = true;
		return false;
	}
	return true;
}

/* The display change in force at icount @at. */
static struct last_display display_at(const char *dir, uint64_t at)
{
	ToolTrace tt;
	EventFilter f = {.kinds = 1u << TEV_MAP_CHANGE, .has_addr = true, .addr = RR_MAP_DISPLAY};
	struct last_display l = {0};

	tt_open(&tt, dir);
	if (at > tt_last_icount(&tt))
		fatal(EXIT_USAGE,
		      "--at %" PRIu64 ": outside the recording (icounts 0 to %" PRIu64 ")", at,
		      tt_last_icount(&tt));
	/* Which is the last one: the index knows (rows carry no payload)... */
	f.from = 0;
	f.to = at;
	tt_scan(&tt, &f, keep_display, &l);
	/* ... and its chunk of the journal has its payload. */
	if (l.found) {
		f.from = f.to = l.icount;
		f.journal = true;
		l.decode = true;
		tt_scan(&tt, &f, keep_display, &l);
	}
	tt_close(&tt);
	if (l.bad)
		fatal(EXIT_USAGE, "%s: malformed display change at icount %" PRIu64, dir, l.icount);
	return l;
}

/* Replay to @at, from the trace's snapshot before it. */
static void go_to(ReplaySession *s, uint64_t at)
{
	const RRSnapHeader *snaps;
	unsigned n = replay_snapshots(s, &snaps);
	enum replay_status st;

	for (unsigned i = n; i-- > 0;)
		if (snaps[i].icount <= at && snaps[i].icount > replay_icount(s)) {
			if (replay_goto(s, snaps[i].icount) != REPLAY_OK)
				fatal(replay_error_status(s), "%s", replay_error(s));
			break;
		}
	st = replay_goto(s, at);
	if (st == REPLAY_ERROR)
		fatal(replay_error_status(s), "%s", replay_error(s));
	if (replay_icount(s) != at)
		fatal(EXIT_USAGE, "--at %" PRIu64 ": the recording ends at icount %" PRIu64, at,
		      replay_icount(s));
}

static void print_screen(ReplaySession *s, const RRDisplay *d, bool color)
{
	AddressSpace *as = replay_address_space(s);
	uint32_t window = 0xC0000 - d->base; /* the CRTC wraps within the window */
	uint8_t row[2 * 1024];

	for (uint32_t r = 0; r < d->rows; r++) {
		for (uint32_t c = 0; c < d->cols; c++) {
			uint32_t at = (uint32_t)(((uint64_t)d->start + (uint64_t)r * d->pitch + c) *
						 2 % window);

			row[2 * c] = (uint8_t)as_read(as, d->base + at, 1);
			row[2 * c + 1] = (uint8_t)as_read(as, d->base + at + 1, 1);
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
	char err[TRACE_ERR_LEN];
	ReplaySession *s;

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
	l = display_at(dir, at);
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
	s = replay_open(dir, NULL, err, sizeof(err));
	if (!s)
		fatal(EXIT_USAGE, "%s", err);
	replay_warn_damage(s);
	if (at < replay_start_icount(s))
		fatal(EXIT_USAGE,
		      "--at %" PRIu64 ": before the recording starts (icount %" PRIu64 ")", at,
		      replay_start_icount(s));
	go_to(s, at);
	print_screen(s, &l.d, color);
	replay_close(s);
	return 0;
}
