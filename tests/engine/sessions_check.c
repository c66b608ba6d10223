/*
 * sessions_check.c - several replay sessions in one process, each where a
 * straight replay of its own recording is.
 *
 * usage: sessions_check TRACE_A TRACE_B [SEED]
 *
 * A session owns its CPU, memory map, DMA target and journal cursor; no
 * state is shared between two of them (issue 16).  First each trace is
 * replayed straight, alone, noting the CPU state hash and a hash of RAM at
 * some hundred positions.  Then four sessions are open at once - two on
 * TRACE_A (one with the snapshot cache, one without), two on TRACE_B - and
 * are moved in an interleaved random order, forwards, backwards and one
 * instruction at a time, so that one session's DMA, map changes and
 * snapshot restores happen between another's steps; after every move the
 * moved session and one other must be where the straight replay was.
 * Exit 0 if all agree, 1 with a line per mismatch otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

#define MAXPOS 200
#define MOVES  400
#define NSESS  4

typedef struct Pos {
	uint64_t icount, cpu_hash, ram_hash;
} Pos;

typedef struct Rec {
	const char *dir;
	Pos pos[MAXPOS];
	unsigned npos;
} Rec;

typedef struct Sess {
	ReplaySession *s;
	Rec *rec;
	int at; /* index in rec->pos where the session is, or -1 */
	char name[16];
} Sess;

static unsigned failures;

static uint64_t ram_hash(ReplaySession *s)
{
	static uint64_t buf[(1 << 20) / 8];
	uint64_t h = 0xcbf29ce484222325ull;

	replay_read_phys(s, 0, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf) / 8; i++)
		h = (h ^ buf[i]) * 0x100000001b3ull;
	return h;
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

/* The positions: the first 50 instructions, then spread to the end. */
static void straight(Rec *rec)
{
	ReplaySession *s = open_or_die(rec->dir);
	uint64_t start = replay_start_icount(s), end = replay_end_icount(s);
	uint64_t step = (end - start) / (MAXPOS - 50) + 1;

	for (uint64_t i = start; i < end && rec->npos < MAXPOS; i += rec->npos < 50 ? 1 : step)
		rec->pos[rec->npos++].icount = i;
	if (rec->npos < MAXPOS)
		rec->pos[rec->npos++].icount = end;
	for (unsigned i = 0; i < rec->npos; i++) {
		Pos *p = &rec->pos[i];

		if (replay_forward(s, p->icount) == REPLAY_ERROR) {
			printf("straight replay of %s failed: %s\n", rec->dir, replay_error(s));
			exit(1);
		}
		p->icount = replay_icount(s);
		p->cpu_hash = cpu_state_hash(replay_cpu(s));
		p->ram_hash = ram_hash(s);
	}
	replay_close(s);
}

static void check(Sess *x, const char *how)
{
	const Pos *p = &x->rec->pos[x->at];
	uint64_t now = replay_icount(x->s), ch = cpu_state_hash(replay_cpu(x->s));
	uint64_t rh = ram_hash(x->s);

	if (now != p->icount || ch != p->cpu_hash || rh != p->ram_hash) {
		printf("MISMATCH %s %s at icount %" PRIu64 " (wanted %" PRIu64 "): cpu %016" PRIx64
		       "/%016" PRIx64 " ram %016" PRIx64 "/%016" PRIx64 "\n",
		       x->name, how, now, p->icount, ch, p->cpu_hash, rh, p->ram_hash);
		failures++;
	}
}

static uint64_t rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Move @x: to a random position, or on to the next one (often one
 * instruction), or back to the one before. */
static void move(Sess *x)
{
	unsigned n = x->rec->npos, k = rnd(3);
	int to = k == 0 || x->at < 0 ? (int)rnd(n)
		 : k == 1	     ? (x->at + 1 < (int)n ? x->at + 1 : 0)
				     : (x->at > 0 ? x->at - 1 : (int)n - 1);
	enum replay_status st = replay_goto(x->s, x->rec->pos[to].icount);

	if (st == REPLAY_ERROR) {
		printf("%s: goto %" PRIu64 " failed: %s\n", x->name, x->rec->pos[to].icount,
		       replay_error(x->s));
		failures++;
		return;
	}
	x->at = to;
	check(x, k == 0 ? "after a jump" : k == 1 ? "after going on" : "after going back");
}

int main(int argc, char **argv)
{
	static Rec recs[2];
	Sess sess[NSESS];

	if (argc < 3) {
		fprintf(stderr, "usage: sessions_check TRACE_A TRACE_B [SEED]\n");
		return 2;
	}
	if (argc > 3)
		rng ^= strtoull(argv[3], NULL, 0);
	for (int i = 0; i < 2; i++) {
		recs[i].dir = argv[1 + i];
		straight(&recs[i]);
		printf("%s: %u positions, icount %" PRIu64 " to %" PRIu64 "\n", recs[i].dir,
		       recs[i].npos, recs[i].pos[0].icount, recs[i].pos[recs[i].npos - 1].icount);
	}
	for (int i = 0; i < NSESS; i++) {
		sess[i] = (Sess){.s = open_or_die(recs[i / 2].dir), .rec = &recs[i / 2], .at = -1};
		snprintf(sess[i].name, sizeof(sess[i].name), "%c%d", 'A' + i / 2, i % 2 + 1);
		if (i % 2)
			replay_set_cache(sess[i].s, 1024, (size_t)8 << 20);
	}
	for (int k = 0; k < MOVES; k++) {
		Sess *x = &sess[rnd(NSESS)], *y = &sess[rnd(NSESS)];

		move(x);
		/* another session, untouched by that move, is still where it was */
		if (y != x && y->at >= 0)
			check(y, "after another session moved");
	}
	for (int i = 0; i < NSESS; i++)
		replay_close(sess[i].s);
	printf("%s: %u mismatches\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
