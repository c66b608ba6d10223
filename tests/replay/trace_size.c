/*
 * trace_size.c - how big a trace of a CPU-bound guest is.
 *
 * Writes a synthetic stream shaped like a guest that computes with the
 * timer running: timer interrupts, RDTSC reads, PIT / UART status port
 * reads, and a check event every million instructions; prints journal and
 * index bytes per million events and per million instructions (the figures
 * for the documentation) and fails if the journal costs more than 3 bytes
 * an event, which would mean the compact encoding broke.  It also prints
 * what an event costs the recorder in host time (trace_append() through
 * trace_close(): encoding, sampled index rows, zstd, the chunk commits;
 * fsync left out), a figure, not a test.
 */
#include "common.h"

#include <sys/stat.h>
#include <time.h>

#include "../../src/base/base.h"
#include "../unit/unit.h"

#define EVENTS 1000000

static uint64_t file_size(const char *dir, const char *name)
{
	char p[300];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
	char dir[256], err[TRACE_ERR_LEN];
	TraceOptions o = {.no_fsync = true};
	uint64_t icount = 0, tsc = 0, next_check = 1000000;

	scratch(dir, sizeof(dir));
	Trace *t = trace_create(dir, NULL, &o, err);
	CHECK(t != NULL);
	if (!t)
		return 1;
	rng_state = 7;
	double start = now_s();
	for (int i = 0; i < EVENTS; i++) {
		uint64_t r = rng();
		TraceEvent ev = {0};
		/* Loop bodies repeat: a few distinct distances between inputs. */
		static const uint32_t gap[] = {317, 1024, 1031, 2048, 4400, 9000};
		icount += gap[r % ARRAY_SIZE(gap)];
		ev.icount = icount;
		switch (r >> 32 & 3) {
		case 0: /* the timer tick */
			ev.kind = TEV_INTERRUPT;
			ev.value = 0x20;
			break;
		case 1: /* RDTSC: the virtual TSC follows icount */
			ev.kind = TEV_TIME_READ;
			tsc = icount * 4 + (r >> 40 & 3);
			ev.value = tsc;
			break;
		default: /* PIT latch reads and UART LSR polls */
			ev.kind = TEV_PORT_READ;
			ev.size = 1;
			ev.addr = r >> 36 & 1 ? 0x40 : 0x3fd;
			ev.value = ev.addr == 0x40 ? (r >> 48 & 0xff) : 0x60;
			break;
		}
		CHECK(trace_append(t, &ev));
		if (icount >= next_check) {
			TraceEvent chk = {.kind = TEV_CHECK, .icount = icount, .value = rng()};
			CHECK(trace_append(t, &chk));
			next_check += 1000000;
		}
	}
	CHECK(trace_close(t, icount, 1, err));
	double elapsed = now_s() - start;
	uint64_t jb = file_size(dir, "journal.fbj");
	uint64_t ib = file_size(dir, "index.sqlite") + file_size(dir, "index.sqlite-wal");
	double per_mev = (double)jb * 1e6 / EVENTS;
	double per_minsn = (double)jb * 1e6 / (double)icount;
	printf("synthetic CPU-bound stream: %d events over %llu instructions\n", EVENTS,
	       (unsigned long long)icount);
	printf(
	    "journal: %llu bytes = %.0f bytes per million events, %.0f per million instructions\n",
	    (unsigned long long)jb, per_mev, per_minsn);
	printf("index:   %llu bytes = %.0f bytes per million events\n", (unsigned long long)ib,
	       (double)ib * 1e6 / EVENTS);
	printf("writing: %.3f s = %.0f ns per event (without fsync)\n", elapsed,
	       elapsed * 1e9 / EVENTS);
	CHECK(jb > 0);
	CHECK(per_mev < 3e6);
	rm_scratch(dir);
	return unit_done("trace_size");
}
