/*
 * history.c - flashback history TRACE --addr A [--len N] [--phys] [--from I]
 * [--to J] [--save]: every write to a range of guest memory in a span of
 * the recording, who made it, when, and the bytes before and after.
 *
 * The address is linear (as gdb shows it: a kernel variable's address),
 * translated through the guest's page tables at icount --from; --phys
 * gives a physical address.  The command is built on libflashback
 * (fb_history, the same facts a program or the Python module gets), which
 * stands on the replay engine's memory history (src/replay/history.c): a
 * replay at block speed with a
 * watch on the physical range, so writes through any mapping, the page
 * walker's accessed/dirty bits and DMA all count.  --save stores them in
 * the index's table history (traces/FORMAT.md) for `flashback query`.
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"
#include "../src/lib/internal.h"
#include "../src/replay/replay.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SHOWN_BYTES	16 /* of a long write, on the terminal */

typedef struct Found {
	TraceHistoryRow *rows;
	size_t n, cap;
	bool save;
	uint64_t count;
} Found;

static void usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback history TRACE --addr A [--len N] [--phys] "
			  "[--from I] [--to J] [--save]");
}

/* Bytes as a little-endian value up to 8 bytes, else hex bytes. */
static void show_bytes(const uint8_t *b, uint32_t n, char *out, size_t len)
{
	size_t at = 0;

	if (!b) {
		snprintf(out, len, "?");
		return;
	}
	if (n <= 8) {
		for (uint32_t i = n; i-- > 0;)
			at += (size_t)snprintf(out + at, len - at, "%02x", b[i]);
		return;
	}
	for (uint32_t i = 0; i < n && i < SHOWN_BYTES; i++)
		at += (size_t)snprintf(out + at, len - at, "%02x", b[i]);
	if (n > SHOWN_BYTES)
		snprintf(out + at, len - at, "... (%u bytes)", n);
}

/* One line of the history: when, by whom, the instruction, what changed. */
static void print_write(FILE *out, const fb_write *w)
{
	char who[32], old[64], now[64];

	if (w->dma)
		snprintf(who, sizeof(who), "dma");
	else if (w->walker)
		snprintf(who, sizeof(who), "page walker");
	else
		snprintf(who, sizeof(who), "%04x:%08" PRIx32, w->cs, w->eip);
	show_bytes(w->old, w->size, old, sizeof(old));
	show_bytes(w->now, w->size, now, sizeof(now));
	fprintf(out, "%14" PRIu64 "  %-16s %-36s 0x%08" PRIx32 " %5u  %s -> %s\n", w->icount, who,
		w->text, w->phys, w->size, old, now);
}

void history_header(FILE *out)
{
	fprintf(out, "%14s  %-16s %-36s %-10s %5s  %s\n", "icount", "by", "instruction", "address",
		"size", "old -> new");
}

/* gdb's monitor history: the lines fb_history's callers get. */
void history_line(FILE *out, const fb_write *w)
{
	print_write(out, w);
}

static int found(void *opaque, const fb_write *w)
{
	Found *f = opaque;

	print_write(stdout, w);
	f->count++;
	if (f->save) {
		TraceHistoryRow *r;
		uint8_t *bytes = xmalloc(2 * (size_t)w->size);

		if (f->n == f->cap) {
			f->cap = f->cap ? 2 * f->cap : 64;
			f->rows = xrealloc(f->rows, f->cap * sizeof(*f->rows));
		}
		r = &f->rows[f->n++];
		memcpy(bytes + w->size, w->now, w->size);
		if (w->old)
			memcpy(bytes, w->old, w->size);
		*r = (TraceHistoryRow){w->icount,
				       (uint16_t)w->cs,
				       w->eip,
				       w->lin,
				       w->phys,
				       w->size,
				       w->lin != 0,
				       w->dma,
				       w->walker,
				       w->dma || w->walker ? NULL : xstrdup(w->text),
				       w->old ? bytes : NULL,
				       bytes + w->size};
	}
	return 1;
}

int tools_history(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t addr = 0, len = 4, from = 0, to = UINT64_MAX;
	bool has_addr = false, phys = false, has_from = false, has_to = false;
	char err[TRACE_ERR_LEN], query[160];
	Found f = {0};
	fb_trace *t;
	fb_session *s;
	uint32_t pa;

	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--addr") == 0) {
			addr = tool_number("--addr", v), has_addr = true, i++;
		} else if (strcmp(argv[i], "--len") == 0) {
			len = tool_number("--len", v), i++;
		} else if (strcmp(argv[i], "--from") == 0) {
			from = tool_number("--from", v), has_from = true, i++;
		} else if (strcmp(argv[i], "--to") == 0) {
			to = tool_number("--to", v), has_to = true, i++;
		} else if (strcmp(argv[i], "--phys") == 0) {
			phys = true;
		} else if (strcmp(argv[i], "--save") == 0) {
			f.save = true;
		} else if (argv[i][0] == '-') {
			fatal(EXIT_USAGE, "history: unknown option '%s'", argv[i]);
		} else if (!dir) {
			dir = argv[i];
		} else {
			usage();
		}
	}
	if (!dir || !has_addr)
		usage();
	/* built on libflashback: what it finds is what a program finds */
	if (!(t = fb_open(dir)) || !(s = fb_session_new(t, 0)))
		tool_lib_failed();
	lib_warn_snapshot(fb_session_warning(s));
	if (!has_from)
		from = fb_start_icount(s);
	if (!has_to)
		to = fb_end_icount(s);
	if (fb_history_range(s, addr, len, phys, from, to, &pa) != FB_OK)
		tool_lib_failed();
	printf("writes to physical 0x%08" PRIx32 "-0x%08" PRIx32 " from icount %" PRIu64
	       " to %" PRIu64 ":\n",
	       pa, (uint32_t)(pa + len - 1), from, to);
	history_header(stdout);
	if (fb_history(s, pa, len, 1, from, to, found, &f) != FB_OK)
		tool_lib_failed();
	printf("%" PRIu64 " writes\n", f.count);
	if (f.save) {
		snprintf(query, sizeof(query),
			 "phys=0x%08" PRIx32 " len=%" PRIu64 " from=%" PRIu64 " to=%" PRIu64, pa,
			 len, from, to);
		if (!trace_save_history(dir, query, f.rows, f.n, err))
			fatal(EXIT_USAGE, "%s", err);
		printf("saved as table history, query = '%s'\n", query);
	}
	for (size_t i = 0; i < f.n; i++) {
		free((char *)f.rows[i].insn);
		free((uint8_t *)f.rows[i].now - f.rows[i].size);
	}
	free(f.rows);
	fb_session_free(s);
	fb_close(t);
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "history: cannot write the output");
	return 0;
}
