/*
 * events.c - flashback events TRACE [--kind K] [--port P] [--addr A]
 * [--from N] [--to N] [--journal] [--limit N]: the recorded inputs with
 * their icount and decoded payload, one a line.
 *
 * Built on libflashback's fb_scan(): from the index for chunks where it
 * lists every event of the asked kinds, from the journal chunks it samples
 * (and only those); a program gets the same events.  A summary line on stderr says how many chunks
 * were read from the journal.  --journal reads every chunk of the range from the journal (exact
 * payload bytes for DMA and console events).
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"
#include "../src/replay/replay.h"

#include <inttypes.h>
#include <string.h>

/* The console line that starts at an icount (for console events from the index). */
static const char line_sql[] = "SELECT line FROM console WHERE icount = ?1 ORDER BY rowid LIMIT 1";

typedef struct EventsOut {
	fb_query *line; /* line_sql */
	uint64_t limit, shown;
	Progress progress;
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

static void put_time(FILE *out, const fb_event *ev)
{
	if (ev->addr == 0)
		fprintf(out, "rdtsc -> %" PRIu64, ev->value);
	else if (ev->addr >> 32)
		fprintf(out, "rdmsr 0x%" PRIx64 " refused (#GP)", ev->addr & 0xffffffffu);
	else
		fprintf(out, "rdmsr 0x%" PRIx64 " -> 0x%" PRIx64, ev->addr, ev->value);
}

static void put_map_change(FILE *out, const fb_event *ev)
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
static void put_console(EventsOut *o, FILE *out, const fb_event *ev)
{
	if (ev->data) {
		fputc('"', out);
		put_text(out, ev->data, ev->size);
		fputc('"', out);
		return;
	}
	fprintf(out, "%u bytes", ev->size);
	fb_query_reset(o->line);
	fb_query_bind_int(o->line, 1, (int64_t)ev->icount);
	switch (fb_query_step(o->line)) {
	case 1: {
		size_t n;
		const uint8_t *text = fb_query_bytes(o->line, 0, &n);

		fputs(", line \"", out);
		put_text(out, text, n);
		fputc('"', out);
		break;
	}
	case FB_ERROR:
		tool_lib_failed();
	}
}

static void put_payload(EventsOut *o, FILE *out, const fb_event *ev)
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

static int print_event(void *opaque, const fb_event *ev, int journal_read)
{
	EventsOut *o = opaque;

	(void)journal_read;
	if (o->limit && o->shown >= o->limit)
		return 0;
	printf("%12" PRIu64 "  %-10s  ", ev->icount, fb_kind_name(ev->kind));
	put_payload(o, stdout, ev);
	putchar('\n');
	o->shown++;
	return 1;
}

static void progress(void *opaque, uint64_t done, uint64_t total)
{
	progress_update(opaque, done, total, "chunks");
}

static void usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback events TRACE [--kind K] [--port P] [--addr A] "
			  "[--from N] [--to N] [--journal] [--limit N] [--plan]");
}

/* The icount range must lie in the recording; one line otherwise. */
static void check_range(fb_trace *t, fb_filter *f, bool has_to)
{
	fb_info info;
	uint64_t last;

	fb_trace_info(t, &info);
	last = info.end_icount;
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

/* --plan: the plans of the scan's statements and of the console line's. */
static void explain(fb_trace *t, const fb_filter *f)
{
	char sql[512];

	for (unsigned i = 0; fb_scan_sql(f, i, sql, sizeof(sql)) == FB_OK; i++)
		tool_explain(t, sql);
	tool_explain(t, line_sql);
}

int tools_events(int argc, char **argv)
{
	fb_filter f = {.to = UINT64_MAX};
	EventsOut o = {0};
	fb_trace *t;
	const char *dir = NULL;
	bool has_to = false, plan = false;

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
			plan = true;
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
	if (!(t = fb_open(dir)))
		tool_lib_failed();
	check_range(t, &f, has_to);
	if (plan) {
		explain(t, &f);
		fb_close(t);
		return 0;
	}
	if (!(o.line = fb_query_open(t, line_sql)))
		tool_lib_failed();
	progress_init(&o.progress, "reading");
	f.progress = progress;
	f.progress_opaque = &o.progress;
	if (fb_scan(t, &f, print_event, &o) != FB_OK)
		tool_lib_failed();
	progress_done(&o.progress);
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "events: cannot write the output");
	fprintf(stderr,
		"flashback: %" PRIu64 " events; %" PRIu64 " of %" PRIu64
		" chunks read from the journal, the rest from the index\n",
		o.shown, f.journal_chunks, f.chunks);
	fb_query_close(o.line);
	fb_close(t);
	return 0;
}
