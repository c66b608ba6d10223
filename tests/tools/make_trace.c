/*
 * make_trace.c - write a synthetic trace with the trace library, for the
 * tests of the trace tools (and their timings on a large trace).
 *
 * usage: make_trace DIR EVENTS [TRUTH] [--big]
 *
 * The events are those of a small PC guest, in a fixed pseudo-random
 * order: a polling loop on the UART line status port 0x3fd (dense, so the
 * index samples it), PIC mask reads, timer and disk interrupts, an NMI,
 * DMA writes, RDTSC and RDMSR (one refused), local APIC MMIO reads, an A20
 * map change, console lines (one split over two events, one "kernel
 * panic"), check events and a snapshot.  TRUTH receives every event, one a
 * line: "icount kind addr size value value2 flags data-hex" (data "-" if
 * none), for the test to compare with what the tools print.  Small chunks
 * (2000 events) and a small index limit (32 per kind per chunk) make the
 * sampling visible; --big uses the library's defaults.
 */
#include "../../src/replay/trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_rand(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng >> 33);
}

static Trace *t;
static FILE *truth;

static void put(const TraceEvent *ev)
{
	if (!trace_append(t, ev)) {
		fprintf(stderr, "make_trace: %s\n", trace_error(t));
		exit(1);
	}
	if (!truth)
		return;
	fprintf(truth, "%" PRIu64 " %u %" PRIu64 " %u %" PRIu64 " %" PRIu64 " %u ", ev->icount,
		ev->kind, ev->addr, ev->size, ev->value, ev->value2, ev->flags);
	if (!ev->data)
		fputc('-', truth);
	for (uint32_t i = 0; ev->data && i < ev->size; i++)
		fprintf(truth, "%02x", ev->data[i]);
	fputc('\n', truth);
}

static void console(uint64_t icount, const char *text)
{
	put(&(TraceEvent){.kind = TEV_CONSOLE,
			  .icount = icount,
			  .size = (uint32_t)strlen(text),
			  .data = (const uint8_t *)text});
}

/* One event of the mix at @icount; @i numbers them. */
static void one(uint64_t i, uint64_t icount, uint64_t n)
{
	static uint8_t sector[512];
	static char line[64];
	static uint64_t lines;

	if (i == n / 2) {
		put(&(TraceEvent){.kind = TEV_SNAPSHOT, .icount = icount, .value = 1});
	} else if (i == n / 3) {
		static const uint8_t on = 1;
		put(&(TraceEvent){
		    .kind = TEV_MAP_CHANGE, .icount = icount, .addr = 2, .size = 1, .data = &on});
	} else if (i == n / 4) {
		put(&(TraceEvent){.kind = TEV_INTERRUPT, .icount = icount, .value = TRACE_NMI});
	} else if (i == n * 2 / 3) {
		console(icount, "kernel panic: attempted to kill init\n");
	} else if (i == n / 5) {
		put(&(TraceEvent){
		    .kind = TEV_TIME_READ, .icount = icount, .addr = 0x10 | 1ull << 32});
	} else if (i % 5000 == 4999) {
		put(&(TraceEvent){
		    .kind = TEV_CHECK, .icount = icount, .value = i * 0x9e3779b97f4a7c15ull});
	} else if (i % 1500 == 700) {
		/* A console line, its end sometimes in a second event. */
		snprintf(line, sizeof(line), "boot: line %" PRIu64 " ok\n", lines++);
		if (lines % 3 == 0) {
			char head[8];
			snprintf(head, sizeof(head), "%.6s", line);
			console(icount, head);
			console(icount, line + 6);
		} else {
			console(icount, line);
		}
	} else if (i % 2000 == 1000) {
		memset(sector, (int)(i / 2000), sizeof(sector));
		put(&(TraceEvent){.kind = TEV_DMA_WRITE,
				  .icount = icount,
				  .addr = 0x7c00 + (i / 2000 % 8) * 512,
				  .size = 512,
				  .data = sector});
	} else if (i % 1013 == 17) {
		put(&(TraceEvent){.kind = TEV_INTERRUPT, .icount = icount, .value = 0x2e});
	} else if (i % 97 == 3) {
		put(&(TraceEvent){.kind = TEV_INTERRUPT, .icount = icount, .value = 0x20});
	} else if (i % 700 == 11) {
		put(&(TraceEvent){.kind = TEV_MMIO_READ,
				  .icount = icount,
				  .addr = 0xfee00020,
				  .size = 4,
				  .value = 0x01000000});
	} else if (i % 3000 == 29) {
		put(&(TraceEvent){.kind = TEV_TIME_READ,
				  .icount = icount,
				  .addr = 0x10,
				  .value = icount * 3 + 7});
	} else if (i % 50 == 5) {
		put(&(TraceEvent){.kind = TEV_TIME_READ, .icount = icount, .value = icount * 3});
	} else if (i % 500 == 13) {
		put(&(TraceEvent){.kind = TEV_PORT_READ,
				  .icount = icount,
				  .addr = 0x21,
				  .size = 1,
				  .value = 0xb8});
	} else {
		put(&(TraceEvent){.kind = TEV_PORT_READ,
				  .icount = icount,
				  .addr = 0x3fd,
				  .size = 1,
				  .value = next_rand() % 16 ? 0x60 : 0x61});
	}
}

int main(int argc, char **argv)
{
	TraceMeta meta = {.emulator_version = "flashback 0.1.0",
			  .machine_options = "-kernel synthetic.elf -serial stdio -icount shift=2",
			  .cpu_model = "i686",
			  .ram_size = 32u << 20,
			  .start_time = 1700000000};
	TraceOptions opt = {.chunk_events = 2000, .index_limit = 32, .no_fsync = true};
	char err[TRACE_ERR_LEN];
	uint64_t n, icount = 1000;
	bool big = argc > 3 && strcmp(argv[argc - 1], "--big") == 0;

	if (argc < 3) {
		fprintf(stderr, "usage: make_trace DIR EVENTS [TRUTH] [--big]\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 0);
	if (big) {
		opt.chunk_events = 0;
		opt.index_limit = 0;
		argc--;
	}
	if (argc > 3 && !(truth = fopen(argv[3], "w"))) {
		perror(argv[3]);
		return 1;
	}
	t = trace_create(argv[1], &meta, &opt, err);
	if (!t) {
		fprintf(stderr, "make_trace: %s\n", err);
		return 1;
	}
	for (uint64_t i = 0; i < n; i++) {
		icount += next_rand() % 20;
		one(i, icount, n);
	}
	if (truth)
		fprintf(truth, "%" PRIu64 " %u 0 0 %" PRIu64 " 0 0 -\n", icount + 5, TEV_END,
			(uint64_t)0x1234567890abcdefull);
	if (!trace_close(t, icount + 5, 0x1234567890abcdefull, err)) {
		fprintf(stderr, "make_trace: %s\n", err);
		return 1;
	}
	if (truth && fclose(truth) != 0) {
		perror("truth");
		return 1;
	}
	return 0;
}
