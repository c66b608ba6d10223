/*
 * engine_check.c - the replay engine moved around a recording must always
 * be where a straight replay is.
 *
 * usage: engine_check TRACE [SEED]
 *
 * A first session replays the trace from start to end once, recording the
 * CPU state hash and the RAM hash at a few hundred positions (every
 * instruction near the start, then spread out).  Then sessions with and
 * without the snapshot cache (and with a tiny cache budget, so that
 * thinning happens) jump to those positions in a random order, forwards
 * and backwards, and single-step through some of them with a step hook;
 * every arrival must give the same hashes.  Exit 0 if all agree, 1 with a
 * line per mismatch otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay.h"

#define MAXPOS 400
#define JUMPS 150

typedef struct Pos {
	uint64_t icount, cpu_hash, ram_hash;
} Pos;

static Pos pos[MAXPOS];
static unsigned npos;
static unsigned failures;

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t ram_hash(ReplaySession *s)
{
	/* the RAM as the CPU sees it: 1 MiB of low memory is enough to notice */
	static uint64_t buf[(1 << 20) / 8];
	uint64_t h = 0xcbf29ce484222325ull;

	replay_read_phys(s, 0, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf) / 8; i++)
		h = (h ^ buf[i]) * 0x100000001b3ull;
	return h;
}

static void check_here(ReplaySession *s, const Pos *p, const char *how)
{
	uint64_t now = replay_icount(s), ch = cpu_state_hash(replay_cpu(s)), rh = ram_hash(s);

	if (now != p->icount || ch != p->cpu_hash || rh != p->ram_hash) {
		printf("MISMATCH %s at icount %" PRIu64 " (wanted %" PRIu64 "): cpu %016" PRIx64
		       "/%016" PRIx64 " ram %016" PRIx64 "/%016" PRIx64 "\n",
		       how, now, p->icount, ch, p->cpu_hash, rh, p->ram_hash);
		failures++;
	}
}

static ReplaySession *open_or_die(const char *dir)
{
	char err[1024];
	ReplaySession *s = replay_open(dir, NULL, err, sizeof(err));

	if (!s) {
		printf("cannot open %s: %s\n", dir, err);
		exit(1);
	}
	return s;
}

/* The positions: the first 100 instructions, then spread to the end. */
static void pick_positions(ReplaySession *s)
{
	uint64_t start = replay_start_icount(s), end = replay_end_icount(s);
	uint64_t step = (end - start) / (MAXPOS - 100) + 1;

	for (uint64_t i = start; i < end && npos < MAXPOS; i += npos < 100 ? 1 : step)
		pos[npos++].icount = i;
	if (npos < MAXPOS)
		pos[npos++].icount = end;
}

static void straight(const char *dir)
{
	ReplaySession *s = open_or_die(dir);

	pick_positions(s);
	for (unsigned i = 0; i < npos; i++) {
		enum replay_status st = replay_forward(s, pos[i].icount);

		if (st == REPLAY_ERROR) {
			printf("straight replay failed: %s\n", replay_error(s));
			exit(1);
		}
		pos[i].icount = replay_icount(s);
		pos[i].cpu_hash = cpu_state_hash(replay_cpu(s));
		pos[i].ram_hash = ram_hash(s);
	}
	replay_close(s);
}

static uint64_t rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void jumps(const char *dir, uint64_t interval, size_t budget, bool warm, const char *how)
{
	ReplaySession *s = open_or_die(dir);
	ReplayCacheInfo ci;
	double t0 = seconds();

	if (interval)
		replay_set_cache(s, interval, budget);
	/* warm: go to the end first so that the cache fills in order */
	if (warm) {
		replay_goto(s, pos[npos - 1].icount);
		check_here(s, &pos[npos - 1], how);
	}
	for (unsigned k = 0; k < JUMPS; k++) {
		const Pos *p = &pos[rnd(npos)];
		const RRSnapHeader *snaps;
		unsigned nsnaps = replay_snapshots(s, &snaps);

		/* now and then from one of the trace's snapshots: a new undo chain */
		if (k % 5 == 4 && nsnaps > 1 &&
		    replay_goto_snapshot(s, snaps[rnd(nsnaps)].number) == REPLAY_ERROR) {
			printf("goto snapshot failed (%s): %s\n", how, replay_error(s));
			failures++;
			break;
		}

		if (replay_goto(s, p->icount) == REPLAY_ERROR) {
			printf("goto %" PRIu64 " failed (%s): %s\n", p->icount, how, replay_error(s));
			failures++;
			break;
		}
		check_here(s, p, how);
	}
	replay_cache_info(s, &ci);
	printf("%s: %d jumps in %.2f s; %u cached snapshots, %zu + %zu bytes\n", how,
	       JUMPS, seconds() - t0, ci.entries, ci.bytes, ci.mirror_bytes);
	replay_close(s);
}

static bool count_steps(void *opaque)
{
	(*(uint64_t *)opaque)++;
	return false;
}

/* Single steps backwards over the first 100 instructions, then a hooked run. */
static void steps(const char *dir)
{
	ReplaySession *s = open_or_die(dir);
	uint64_t n = 0, from = pos[0].icount, to = pos[npos - 1].icount;

	replay_set_cache(s, 64, 1 << 20);
	replay_goto(s, pos[99 < npos ? 99 : npos - 1].icount);
	for (int i = (99 < npos ? 99 : (int)npos - 1); i >= 0; i--) {
		replay_goto(s, pos[i].icount);
		check_here(s, &pos[i], "reverse-step");
	}
	replay_set_step_hook(s, count_steps, &n);
	replay_forward(s, to);
	if (n != to - from) {
		printf("MISMATCH the step hook ran %" PRIu64 " times over %" PRIu64 " instructions\n",
		       n, to - from);
		failures++;
	}
	check_here(s, &pos[npos - 1], "stepped to the end");
	replay_close(s);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: engine_check TRACE [SEED]\n");
		return 2;
	}
	if (argc > 2)
		rng ^= strtoull(argv[2], NULL, 0);
	straight(argv[1]);
	printf("%u positions, icount %" PRIu64 " to %" PRIu64 "\n", npos, pos[0].icount,
	       pos[npos - 1].icount);
	jumps(argv[1], 0, 0, false, "no cache");
	jumps(argv[1], 4096, (size_t)64 << 20, true, "cache");
	jumps(argv[1], 4096, (size_t)64 << 20, false, "cold cache");
	jumps(argv[1], 1024, 64 << 10, true, "thinned cache");
	jumps(argv[1], 1024, 64 << 10, false, "cold thinned cache");
	steps(argv[1]);
	printf("%s: %u mismatches\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
