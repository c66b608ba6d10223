/*
 * events.c - flashback events TRACE [--kind K] [--port P] [--addr A]
 * [--from N] [--to N] [--journal] [--limit N]: the recorded inputs with
 * their icount and decoded payload, one a line.
 *
 * Answered by tt_scan(): from the index for chunks where it lists every
 * event of the asked kinds, from the journal chunks it samples (and only
 * those).  A summary line on stderr says how many chunks were read from
 * the journal.  --journal reads every chunk of the range from the journal
 * (exact payload bytes for DMA and console events).
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/replay/replay.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <string.h>

typedef struct EventsOut {
	ToolTrace *tt;
	sqlite3_stmt *line; /* the console line that starts at an icount */
	uint64_t limit, shown;
} EventsOut;

/* Printable text: C escapes for everything that is not ASCII. */
static void put_text(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
}

static void put_vector(FILE *out, uint64_t v)
{
	static const char *const special[] = {"NMI", "INIT", "SMI"};

	if (v >= TRACE_NMI && v <= TRACE_SMI)
		fprintf(out, "%s", special[v - TRACE_NMI]);
	else
		fprintf(out, "vector 0x%02" PRIx64, v);
}

static void put_time(FILE *out, const TraceEvent *ev)
{
	if (ev->addr == 0)
		fprintf(out, "rdtsc -> %" PRIu64, ev->value);
	else if (ev->addr >> 32)
		fprintf(out, "rdmsr 0x%" PRIx64 " refused (#GP)", ev->addr & 0xffffffffu);
	else
		fprintf(out, "rdmsr 0x%" PRIx64 " -> 0x%" PRIx64, ev->addr, ev->value);
}

static void put_map_change(FILE *out, const TraceEvent *ev)
{
	static const char *const names[] = {"?", "view", "a20", "reset", "display"};
	RRDisplay d;
	const char *name = ev->addr < ARRAY_SIZE(names) ? names[ev->addr] : "?";

	fprintf(out, "%s (kind %" PRIu64 ") len %u", name, ev->addr, ev->size);
	if (ev->data && ev->addr == 2 && ev->size == 1)
		fprintf(out, " a20=%u", ev->data[0]);
	if (ev->data && ev->addr == RR_MAP_DISPLAY && rr_display_decode(ev->data, ev->size, &d))
		fprintf(out, " %s %ux%u at 0x%x start %u", d.text ? "text" : "graphics", d.cols,
			d.rows, d.base, d.start);
}

/* A DMA payload: the first bytes in hex. */
static void put_bytes(FILE *out, const uint8_t *p, uint32_t n)
{
	uint32_t show = n < 16 ? n : 16;

	fputs(" [", out);
	for (uint32_t i = 0; i < show; i++)
		fprintf(out, "%s%02x", i ? " " : "", p[i]);
	fputs(n > show ? " ...]" : "]", out);
}

/* The console text of an index row: the line of the console table that starts there. */
static void put_console(EventsOut *o, FILE *out, const TraceEvent *ev)
{
	if (ev->data) {
		fputc('"', out);
		put_text(out, ev->data, ev->size);
		fputc('"', out);
		return;
	}
	fprintf(out, "%u bytes", ev->size);
	sqlite3_reset(o->line);
	sqlite3_bind_int64(o->line, 1, (sqlite3_int64)ev->icount);
	if (tt_step(o->tt, o->line)) {
		fputs(", line \"", out);
		put_text(out, sqlite3_column_text(o->line, 0),
			 (size_t)sqlite3_column_bytes(o->line, 0));
		fputc('"', out);
	}
}

static void put_payload(EventsOut *o, FILE *out, const TraceEvent *ev)
{
	switch (ev->kind) {
	case TEV_PORT_READ:
		fprintf(out, "port 0x%" PRIx64 " size %u -> 0x%" PRIx64, ev->addr, ev->size,
			ev->value);
		break;
	case TEV_MMIO_READ:
		fprintf(out, "addr 0x%" PRIx64 " size %u -> 0x%" PRIx64, ev->addr, ev->size,
			ev->value);
		break;
	case TEV_INTERRUPT:
		put_vector(out, ev->value);
		break;
	case TEV_DMA_WRITE:
		fprintf(out, "addr 0x%" PRIx64 " len %u", ev->addr, ev->size);
		if (ev->data)
			put_bytes(out, ev->data, ev->size);
		break;
	case TEV_TIME_READ:
		put_time(out, ev);
		break;
	case TEV_MAP_CHANGE:
		put_map_change(out, ev);
		break;
	case TEV_CHECK:
		fprintf(out, "cpu %016" PRIx64, ev->value);
		if (ev->flags & TRACE_CHECK_RAM)
			fprintf(out, " ram %016" PRIx64, ev->value2);
		break;
	case TEV_CONSOLE:
		put_console(o, out, ev);
		break;
	case TEV_SNAPSHOT:
		fprintf(out, "snapshot %" PRIu64, ev->value);
		break;
	case TEV_END:
		fprintf(out, "final hash %016" PRIx64, ev->value);
		break;
	}
}

static bool print_event(void *opaque, const TraceEvent *ev, enum event_source src)
{
	EventsOut *o = opaque;

	if (o->limit && o->shown >= o->limit)
		return false;
	printf("%12" PRIu64 "  %-10s  ", ev->icount, trace_kind_name(ev->kind));
	put_payload(o, stdout, ev);
	putchar('\n');
	o->shown++;
	return true;
}

static void usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback events TRACE [--kind K] [--port P] [--addr A] "
			  "[--from N] [--to N] [--journal] [--limit N] [--plan]");
}

/* The icount range must lie in the recording; one line otherwise. */
static void check_range(ToolTrace *tt, EventFilter *f, bool has_to)
{
	uint64_t last = tt_last_icount(tt);

	if (f->from > last)
		fatal(EXIT_USAGE,
		      "--from %" PRIu64 " is outside the recording (icount 0 to %" PRIu64 ")",
		      f->from, last);
	if (has_to && f->to > last)
		fatal(EXIT_USAGE,
		      "--to %" PRIu64 " is outside the recording (icount 0 to %" PRIu64 ")", f->to,
		      last);
	if (!has_to)
		f->to = last;
	if (f->from > f->to)
		fatal(EXIT_USAGE, "--from %" PRIu64 " is after --to %" PRIu64, f->from, f->to);
}

int tools_events(int argc, char **argv)
{
	EventFilter f = {.to = UINT64_MAX};
	EventsOut o = {0};
	ToolTrace tt;
	const char *dir = NULL;
	bool has_to = false;
	uint64_t journal_chunks;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--kind") == 0) {
			if (!v)
				fatal(EXIT_USAGE, "--kind needs a kind");
			f.kinds |= 1u << tool_kind(v);
			i++;
		} else if (strcmp(a, "--port") == 0) {
			f.port = tool_number(a, v);
			f.has_port = true;
			i++;
			if (f.port > 0xffff)
				fatal(EXIT_USAGE,
				      "--port: 0x%" PRIx64 " is not an I/O port (0-0xffff)",
				      f.port);
		} else if (strcmp(a, "--addr") == 0) {
			f.addr = tool_number(a, v);
			f.has_addr = true;
			i++;
		} else if (strcmp(a, "--from") == 0) {
			f.from = tool_number(a, v);
			i++;
		} else if (strcmp(a, "--to") == 0) {
			f.to = tool_number(a, v);
			has_to = true;
			i++;
		} else if (strcmp(a, "--limit") == 0) {
			o.limit = tool_number(a, v);
			i++;
		} else if (strcmp(a, "--plan") == 0) {
			f.plan = true;
		} else if (strcmp(a, "--journal") == 0) {
			f.journal = true;
		} else if (a[0] == '-' && a[1]) {
			fatal(EXIT_USAGE, "events: unknown option '%s'", a);
		} else if (!dir) {
			dir = a;
		} else {
			usage();
		}
	}
	if (!dir)
		usage();
	tt_open(&tt, dir);
	check_range(&tt, &f, has_to);
	o.tt = &tt;
	o.line =
	    tt_prepare(&tt, "SELECT line FROM console WHERE icount = ?1 ORDER BY rowid LIMIT 1");
	journal_chunks = tt_scan(&tt, &f, print_event, &o);
	if (f.plan) {
		tt_explain(&tt, o.line);
		sqlite3_finalize(o.line);
		tt_close(&tt);
		return 0;
	}
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "events: cannot write the output");
	fprintf(stderr,
		"flashback: %" PRIu64 " events; %" PRIu64 " of %zu chunks read from the "
		"journal, the rest from the index\n",
		o.shown, journal_chunks, tt.nchunks);
	sqlite3_finalize(o.line);
	tt_close(&tt);
	return 0;
}
