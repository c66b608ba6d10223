/*
 * export.c - flashback export TRACE --perfetto FILE: a timeline of the
 * recording in the Chrome trace-event JSON format, which ui.perfetto.dev
 * and chrome://tracing open.
 *
 * One process ("flashback TRACE") with these tracks:
 *   - a counter per interrupt vector: interrupts per second of guest time,
 *     in EXPORT_BINS bins over the recording (exact: chunks the index
 *     samples are read from the journal);
 *   - "port I/O": an instant per port read the index lists (sampled: at
 *     most index_limit per chunk, see traces/FORMAT.md);
 *   - "DMA": an instant per DMA write (exact);
 *   - "console": an instant per console line;
 *   - "snapshots": an instant per snapshot file.
 * Timestamps are guest time: an instruction takes 2^shift ns (-icount
 * shift=N of the recording, from the machine options in the meta table),
 * so at shift 0, 1 instruction = 1 ns; "ts" is in microseconds as the
 * format wants, printed exactly (three decimals).  Built on libflashback
 * (fb_scan, fb_query, fb_console_open).
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_BINS	  500
#define EXPORT_MAX_PORTIO 1000000 /* port-read instants at most, to keep the file loadable */
#define NVECTORS	  (TRACE_SMI + 1)

enum track { T_IRQ = 1, T_PORTIO, T_DMA, T_CONSOLE, T_SNAPSHOT };

typedef struct Export {
	fb_trace *t;
	FILE *out;
	int shift;
	uint64_t first, last; /* icount range */
	uint64_t bin;	      /* icounts per interrupt-rate bin */
	size_t nbins;
	uint64_t *irq[NVECTORS]; /* interrupts per bin, per vector (NULL: none seen) */
	uint64_t dma;
	bool comma; /* an event was written: the next needs a comma */
} Export;

static void json_str(FILE *out, const unsigned char *s, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fprintf(out, "\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			fprintf(out, "\\u%04x", s[i]);
		else
			fputc(s[i], out);
	}
	fputc('"', out);
}

/* Guest time of @icount in microseconds, exactly: ns / 1000 with three decimals. */
static void put_ts(Export *x, uint64_t icount)
{
	uint64_t ns = icount << x->shift;
	fprintf(x->out, "%" PRIu64 ".%03" PRIu64, ns / 1000, ns % 1000);
}

/* Opens one event object: its phase, track, name, and ts. */
static void begin_event(Export *x, const char *ph, enum track tid, const char *name,
			uint64_t icount)
{
	fprintf(x->out, "%s\n{\"ph\":\"%s\",\"pid\":1,\"tid\":%d,\"name\":", x->comma ? "," : "",
		ph, (int)tid);
	json_str(x->out, (const unsigned char *)name, strlen(name));
	fputs(",\"ts\":", x->out);
	put_ts(x, icount);
	if (ph[0] == 'i')
		fputs(",\"s\":\"t\"", x->out);
	x->comma = true;
}

static void metadata(Export *x, const char *what, int tid, const char *name)
{
	fprintf(x->out,
		"%s\n{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"%s\",\"args\":{\"name\":",
		x->comma ? "," : "", tid, what);
	json_str(x->out, (const unsigned char *)name, strlen(name));
	fputs("}}", x->out);
	x->comma = true;
}

static void vector_name(char *buf, size_t len, unsigned v)
{
	static const char *const special[] = {"NMI", "INIT", "SMI"};

	if (v >= TRACE_NMI)
		snprintf(buf, len, "interrupts/s %s", special[v - TRACE_NMI]);
	else
		snprintf(buf, len, "interrupts/s vector 0x%02x", v);
}

/* ---- the tracks ---------------------------------------------------------- */

static int count_event(void *opaque, const fb_event *ev, int journal_read)
{
	Export *x = opaque;

	(void)journal_read;
	if (ev->kind == TEV_INTERRUPT && ev->value < NVECTORS) {
		size_t b = (size_t)((ev->icount - x->first) / x->bin);
		if (!x->irq[ev->value])
			x->irq[ev->value] = xcalloc(x->nbins, sizeof(uint64_t));
		x->irq[ev->value][b < x->nbins ? b : x->nbins - 1]++;
	} else if (ev->kind == TEV_DMA_WRITE) {
		begin_event(x, "i", T_DMA, "dma-write", ev->icount);
		fprintf(x->out,
			",\"args\":{\"icount\":%" PRIu64 ",\"addr\":\"0x%" PRIx64 "\",\"len\":%u}}",
			ev->icount, ev->addr, ev->size);
		x->dma++;
	}
	return 1;
}

/* Interrupt counts (exact) and DMA instants, in one scan of the recording. */
static void scan_interrupts_dma(Export *x)
{
	fb_filter f = {
	    .kinds = 1u << FB_INTERRUPT | 1u << FB_DMA_WRITE, .from = x->first, .to = x->last};

	if (fb_scan(x->t, &f, count_event, x) != FB_OK)
		tool_lib_failed();
}

static void irq_counters(Export *x)
{
	double bin_s = (double)(x->bin << x->shift) * 1e-9;
	char name[64];

	for (unsigned v = 0; v < NVECTORS; v++) {
		if (!x->irq[v])
			continue;
		vector_name(name, sizeof(name), v);
		for (size_t b = 0; b < x->nbins; b++) {
			begin_event(x, "C", T_IRQ, name, x->first + b * x->bin);
			fprintf(x->out, ",\"args\":{\"rate\":%.6g}}", (double)x->irq[v][b] / bin_s);
		}
		/* The counter's last value lasts to the end of the recording. */
		begin_event(x, "C", T_IRQ, name, x->last);
		fprintf(x->out, ",\"args\":{\"rate\":%.6g}}",
			(double)x->irq[v][x->nbins - 1] / bin_s);
	}
}

/* A statement over the index, or exit with the library's line. */
static fb_query *query(Export *x, const char *sql)
{
	fb_query *q = fb_query_open(x->t, sql);

	if (!q)
		tool_lib_failed();
	return q;
}

/* fb_query_step(): true while there is a row, exit on an error. */
static bool step(fb_query *q)
{
	int rc = fb_query_step(q);

	if (rc == FB_ERROR)
		tool_lib_failed();
	return rc == 1;
}

static void port_io(Export *x)
{
	fb_query *st = query(x, "SELECT icount, port, size, value FROM events "
				"WHERE kind = 1 ORDER BY icount, rowid");
	uint64_t n = 0;
	char name[32];

	while (n < EXPORT_MAX_PORTIO && step(st)) {
		uint64_t icount = (uint64_t)fb_query_int(st, 0);
		unsigned port = (unsigned)fb_query_int(st, 1);
		snprintf(name, sizeof(name), "in 0x%x", port);
		begin_event(x, "i", T_PORTIO, name, icount);
		fprintf(x->out,
			",\"args\":{\"icount\":%" PRIu64 ",\"port\":\"0x%x\",\"size\":%d,"
			"\"value\":\"0x%" PRIx64 "\"}}",
			icount, port, (int)fb_query_int(st, 2), (uint64_t)fb_query_int(st, 3));
		n++;
	}
	fb_query_close(st);
}

static void console_lines(Export *x)
{
	fb_console *c = fb_console_open(x->t, NULL, 0, UINT64_MAX);
	fb_line l;
	int rc;

	if (!c)
		tool_lib_failed();
	while ((rc = fb_console_next(c, &l)) == 1) {
		const unsigned char *line = (const unsigned char *)l.text;

		fprintf(x->out, "%s\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"name\":",
			x->comma ? "," : "", T_CONSOLE);
		json_str(x->out, line, l.len < 60 ? l.len : 60);
		fputs(",\"ts\":", x->out);
		put_ts(x, l.icount);
		fprintf(x->out, ",\"args\":{\"icount\":%" PRIu64 ",\"line\":", l.icount);
		json_str(x->out, line, l.len);
		fputs("}}", x->out);
		x->comma = true;
	}
	if (rc == FB_ERROR)
		tool_lib_failed();
	fb_console_close(c);
}

static void snapshots(Export *x)
{
	fb_query *st = query(x, "SELECT icount, file, size FROM snapshots "
				"ORDER BY icount, rowid");

	while (step(st)) {
		uint64_t icount = (uint64_t)fb_query_int(st, 0);
		size_t n;
		const unsigned char *file = fb_query_bytes(st, 1, &n);

		begin_event(x, "i", T_SNAPSHOT, "snapshot", icount);
		fprintf(x->out, ",\"args\":{\"icount\":%" PRIu64 ",\"file\":", icount);
		json_str(x->out, file, n);
		fprintf(x->out, ",\"size\":%lld}}", (long long)fb_query_int(st, 2));
	}
	fb_query_close(st);
}

static void header(Export *x, const char *dir)
{
	char name[512];

	fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"trace\":", x->out);
	json_str(x->out, (const unsigned char *)dir, strlen(dir));
	fprintf(x->out,
		",\"icount_shift\":%d,\"ns_per_instruction\":%d,\"first_icount\":%" PRIu64
		",\"last_icount\":%" PRIu64 ",\"irq_bin_icounts\":%" PRIu64
		",\"port_io\":\"sampled (the index's rows)\"},\n\"traceEvents\":[",
		x->shift, 1 << x->shift, x->first, x->last, x->bin);
	snprintf(name, sizeof(name), "flashback %s", dir);
	metadata(x, "process_name", 0, name);
	metadata(x, "thread_name", T_IRQ, "interrupts");
	metadata(x, "thread_name", T_PORTIO, "port I/O (sampled)");
	metadata(x, "thread_name", T_DMA, "DMA");
	metadata(x, "thread_name", T_CONSOLE, "console");
	metadata(x, "thread_name", T_SNAPSHOT, "snapshots");
}

static void usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback export TRACE --perfetto FILE");
}

int tools_export(int argc, char **argv)
{
	const char *dir = NULL, *file = NULL;
	Export x = {0};
	fb_info info;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--perfetto") == 0) {
			if (i + 1 >= argc)
				fatal(EXIT_USAGE, "--perfetto needs an output file");
			file = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fatal(EXIT_USAGE, "export: unknown option '%s'", argv[i]);
		} else if (!dir) {
			dir = argv[i];
		} else {
			usage();
		}
	}
	if (!dir || !file)
		usage();
	if (!(x.t = fb_open(dir)))
		tool_lib_failed();
	fb_trace_info(x.t, &info);
	x.shift = fb_icount_shift(x.t);
	x.first = 0;
	x.last = info.end_icount;
	x.bin = x.last / EXPORT_BINS + 1;
	x.nbins = (size_t)(x.last / x.bin + 1);
	x.out = strcmp(file, "-") == 0 ? stdout : fopen(file, "w");
	if (!x.out)
		fatal(EXIT_INTERNAL, "export: cannot create %s: %m", file);

	header(&x, dir);
	scan_interrupts_dma(&x);
	irq_counters(&x);
	port_io(&x);
	console_lines(&x);
	snapshots(&x);
	fputs("\n]}\n", x.out);
	if (ferror(x.out) || (x.out == stdout ? fflush(x.out) : fclose(x.out)) != 0)
		fatal(EXIT_INTERNAL, "export: cannot write %s: %m", file);
	for (unsigned v = 0; v < NVECTORS; v++)
		free(x.irq[v]);
	fb_close(x.t);
	return 0;
}
