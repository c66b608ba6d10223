/*
 * history.c - flashback history TRACE --addr A [--len N] [--phys] [--from I]
 * [--to J] [--save]: every write to a range of guest memory in a span of
 * the recording, who made it, when, and the bytes before and after.
 *
 * The address is linear (as gdb shows it: a kernel variable's address),
 * translated through the guest's page tables at icount --from; --phys
 * gives a physical address.  The writes are found by the replay engine's
 * memory history (src/replay/history.c): a replay at block speed with a
 * watch on the physical range, so writes through any mapping, the page
 * walker's accessed/dirty bits and DMA all count.  --save stores them in
 * the index's table history (traces/FORMAT.md) for `flashback query`.
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/replay/replay.h"

#include <capstone/capstone.h>
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

unsigned history_insn(const HistoryWrite *w, char *out, size_t len)
{
	static csh cs;
	static bool opened;
	cs_insn *in;
	const uint8_t *code = w->insn;
	size_t size = w->insn_len;
	uint64_t addr = w->eip;
	unsigned n = 0;

	if (w->dma || w->walker) {
		snprintf(out, len, "%s", w->dma ? "(device DMA)" : "(accessed/dirty bits)");
		return 0;
	}
	if (!opened && cs_open(CS_ARCH_X86, CS_MODE_32, &cs) == CS_ERR_OK)
		opened = true;
	in = opened ? cs_malloc(cs) : NULL;
	if (in)
		cs_option(cs, CS_OPT_MODE, w->bits == 32 ? CS_MODE_32 : CS_MODE_16);
	if (in && cs_disasm_iter(cs, &code, &size, &addr, in)) {
		snprintf(out, len, "%s%s%s", in->mnemonic, in->op_str[0] ? " " : "", in->op_str);
		n = in->size;
	} else {
		snprintf(out, len, "(bad)");
	}
	if (in)
		cs_free(in, 1);
	return n;
}

/* The instruction's text as capstone prints it ("mov dword ptr [eax], 1"). */
static char *insn_text(const HistoryWrite *w)
{
	char buf[192];

	history_insn(w, buf, sizeof(buf));
	return xstrdup(buf);
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
static void print_write(FILE *out, const HistoryWrite *w, const char *text)
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
		text, w->phys, w->size, old, now);
}

void history_header(FILE *out)
{
	fprintf(out, "%14s  %-16s %-36s %-10s %5s  %s\n", "icount", "by", "instruction", "address",
		"size", "old -> new");
}

void history_line(FILE *out, const HistoryWrite *w)
{
	char *text = insn_text(w);

	print_write(out, w, text);
	free(text);
}

static bool found(void *opaque, const HistoryWrite *w)
{
	Found *f = opaque;
	char *text = insn_text(w);

	print_write(stdout, w, text);
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
				       w->cs,
				       w->eip,
				       w->lin,
				       w->phys,
				       w->size,
				       w->lin != 0,
				       w->dma,
				       w->walker,
				       w->dma || w->walker ? NULL : text,
				       w->old ? bytes : NULL,
				       bytes + w->size};
		if (!w->dma && !w->walker)
			text = NULL; /* the row keeps it */
	}
	free(text);
	return true;
}

int tools_history(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t addr = 0, len = 4, from = 0, to = UINT64_MAX;
	bool has_addr = false, phys = false, has_from = false, has_to = false;
	char err[TRACE_ERR_LEN + 64], query[160];
	Found f = {0};
	ReplaySession *s;
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
	s = replay_open(dir, NULL, err, sizeof(err));
	if (!s)
		fatal(EXIT_USAGE, "%s", err);
	replay_warn_damage(s);
	if (!has_from)
		from = replay_start_icount(s);
	if (!has_to)
		to = replay_end_icount(s);
	if (!replay_history_range(s, addr, len, phys, from, to, &pa, err, sizeof(err)))
		fatal(replay_error_status(s) == EXIT_DIVERGENCE ? EXIT_DIVERGENCE : EXIT_USAGE,
		      "%s", err);
	printf("writes to physical 0x%08" PRIx32 "-0x%08" PRIx32 " from icount %" PRIu64
	       " to %" PRIu64 ":\n",
	       pa, (uint32_t)(pa + len - 1), from, to);
	history_header(stdout);
	if (!replay_history(s, pa, (uint32_t)len, from, to, found, NULL, &f, err, sizeof(err)))
		fatal(replay_error_status(s) == EXIT_DIVERGENCE ? EXIT_DIVERGENCE : EXIT_USAGE,
		      "%s", err);
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
	replay_close(s);
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "history: cannot write the output");
	return 0;
}
