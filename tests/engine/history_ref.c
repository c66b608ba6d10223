/*
 * history_ref.c - the brute-force reference for `flashback history`
 * (tests/engine/test_history.py): a replay one instruction at a time that
 * diffs memory after each, knowing nothing of watches.
 *
 * usage: history_ref TRACE written LO HI
 *            the bytes of physical [LO, HI) that differ between samples
 *            taken every 256 instructions: lines "W ADDR LEN HOW", one per
 *            run, HOW 1 if they changed with paging off, 2 on, 3 both
 *        history_ref TRACE ref ADDR:LEN...
 *            for range K (the K-th argument, physical, LEN 1 to 64):
 *              "I K OFF VALUE"        byte OFF at the start;
 *              "C K ICOUNT OFF OLD NEW" byte OFF differs after icount ICOUNT
 *                      (its events, an interrupt or exception delivered
 *                      there, its instruction) from before it;
 *              "D K ICOUNT OFF VALUE" a journalled DMA at ICOUNT writes
 *                      VALUE into byte OFF (read from the journal).
 *
 * Changes at one icount are all that can be told apart by diffing between
 * instructions: an instruction's writes, the DMA and interrupt delivery at
 * its icount.  The D lines separate the DMA.  Exit 0, or 1 with a line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

#define MAX_RANGES 256
#define MAX_LEN	   64

typedef struct Range {
	uint32_t addr, len;
	uint8_t prev[MAX_LEN];
} Range;

typedef struct Dma {
	uint64_t icount;
	uint32_t addr, len;
	uint8_t *data;
} Dma;

static Range ranges[MAX_RANGES];
static unsigned nranges;
static Dma *dmas;
static size_t ndmas, dma_next;

static void die(const char *msg, const char *detail)
{
	printf("history_ref: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static ReplaySession *the_session;

static void read_phys(uint32_t addr, void *buf, uint32_t len)
{
	if (!replay_read_phys(the_session, addr, buf, len))
		die("cannot read physical memory", NULL);
}

/* Every DMA write of the journal, in order. */
static void load_dmas(ReplaySession *s)
{
	TraceCursor *c = trace_cursor(replay_trace(s), 0);
	TraceEvent ev;
	int rc;

	while ((rc = trace_next(c, &ev)) == 1) {
		if (ev.kind != TEV_DMA_WRITE)
			continue;
		dmas = realloc(dmas, (ndmas + 1) * sizeof(*dmas));
		dmas[ndmas] = (Dma){ev.icount, (uint32_t)ev.addr, ev.size, malloc(ev.size)};
		memcpy(dmas[ndmas++].data, ev.data, ev.size);
	}
	if (rc < 0)
		die("journal", trace_error(replay_trace(s)));
	trace_cursor_free(c);
}

/* The D lines of the DMAs before icount @now. */
static void report_dmas(uint64_t now)
{
	for (; dma_next < ndmas && dmas[dma_next].icount < now; dma_next++) {
		const Dma *d = &dmas[dma_next];

		for (unsigned k = 0; k < nranges; k++)
			for (uint32_t off = 0; off < ranges[k].len; off++) {
				uint32_t a = ranges[k].addr + off;

				if (a - d->addr < d->len)
					printf("D %u %" PRIu64 " %u %u\n", k, d->icount, off,
					       d->data[a - d->addr]);
			}
	}
}

/* The C lines of what changed since the last diff, at icount @at. */
static void diff(uint64_t at)
{
	for (unsigned k = 0; k < nranges; k++) {
		Range *r = &ranges[k];
		uint8_t now[MAX_LEN];

		read_phys(r->addr, now, r->len);
		for (uint32_t off = 0; off < r->len; off++)
			if (now[off] != r->prev[off])
				printf("C %u %" PRIu64 " %u %u %u\n", k, at, off, r->prev[off],
				       now[off]);
		memcpy(r->prev, now, r->len);
	}
}

/* After each instruction: it retired icount - 1. */
static bool step(void *opaque)
{
	ReplaySession *s = opaque;
	uint64_t now = replay_icount(s);

	report_dmas(now);
	diff(now - 1);
	return false;
}

static int reference(ReplaySession *s, int argc, char **argv)
{
	enum replay_status st;

	for (int i = 0; i < argc; i++) {
		Range *r = &ranges[nranges];
		char *end;

		r->addr = (uint32_t)strtoul(argv[i], &end, 0);
		r->len = *end == ':' ? (uint32_t)strtoul(end + 1, &end, 0) : 0;
		if (nranges == MAX_RANGES || *end || r->len == 0 || r->len > MAX_LEN)
			die("bad range", argv[i]);
		read_phys(r->addr, r->prev, r->len);
		for (uint32_t off = 0; off < r->len; off++)
			printf("I %u %u %u\n", nranges, off, r->prev[off]);
		nranges++;
	}
	load_dmas(s);
	replay_set_step_hook(s, step, s);
	st = replay_forward(s, replay_end_icount(s));
	if (st == REPLAY_ERROR || replay_icount(s) != replay_end_icount(s))
		die("the replay did not reach the end", replay_error(s));
	/* what the events at the final icount did, if anything */
	report_dmas(replay_icount(s) + 1);
	diff(replay_icount(s));
	return 0;
}

static int written(ReplaySession *s, uint32_t lo, uint32_t hi)
{
	uint32_t len = hi - lo;
	uint8_t *prev = malloc(len), *now = malloc(len), *hit = calloc(len, 1);
	enum replay_status st = REPLAY_OK;

	if (hi <= lo)
		die("written: empty range", NULL);
	read_phys(lo, prev, len);
	while (st == REPLAY_OK && replay_icount(s) < replay_end_icount(s)) {
		/* 1: changed with paging off at the sample before, 2: on */
		uint8_t how = cpu_get_cr(replay_cpu(s), 0) & CR0_PG ? 2 : 1;

		st = replay_forward(s, replay_icount(s) + 256);
		read_phys(lo, now, len);
		for (uint32_t i = 0; i < len; i++)
			if (now[i] != prev[i])
				hit[i] |= how;
		memcpy(prev, now, len);
	}
	if (st == REPLAY_ERROR || replay_icount(s) != replay_end_icount(s))
		die("the replay did not reach the end", replay_error(s));
	for (uint32_t i = 0; i < len;) {
		uint32_t j = i;

		while (j < len && hit[j] == hit[i])
			j++;
		if (hit[i])
			printf("W 0x%08" PRIx32 " %" PRIu32 " %u\n", lo + i, j - i, hit[i]);
		i = j;
	}
	free(prev);
	free(now);
	free(hit);
	return 0;
}

int main(int argc, char **argv)
{
	char err[1024];
	ReplaySession *s;

	if (argc < 4)
		die("usage: history_ref TRACE written LO HI | TRACE ref ADDR:LEN...", NULL);
	s = replay_open(argv[1], NULL, err, sizeof(err));
	if (!s)
		die(argv[1], err);
	the_session = s;
	if (strcmp(argv[2], "written") == 0 && argc == 5)
		return written(s, (uint32_t)strtoul(argv[3], NULL, 0),
			       (uint32_t)strtoul(argv[4], NULL, 0));
	if (strcmp(argv[2], "ref") == 0)
		return reference(s, argc - 3, argv + 3);
	die("usage: history_ref TRACE written LO HI | TRACE ref ADDR:LEN...", NULL);
	return 1;
}
