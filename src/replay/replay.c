/*
 * replay.c - `flashback replay` on top of the replay engine (engine.c) and
 * the trace library.  (`flashback info` is tools/info.c, on libflashback.)
 */
#include "replay.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- flashback replay ------------------------------------------------------------ */

void replay_warn_snapshot(const char *damage)
{
	if (damage)
		fprintf(stderr, "flashback: %s: left out (an earlier snapshot is used instead)\n",
			damage);
}

void replay_warn_damage(const ReplaySession *s)
{
	replay_warn_snapshot(replay_snapshot_damage(s));
}

bool replay_goto_check(const ReplaySession *s, uint64_t icount, char *err, size_t errlen)
{
	uint64_t start = replay_start_icount(s), end = replay_end_icount(s);

	if (icount >= start && icount <= end)
		return true;
	snprintf(err, errlen,
		 "icount %" PRIu64 " is outside the recording (%" PRIu64 " to %" PRIu64 ")", icount,
		 start, end);
	return false;
}

static bool has_snapshot(ReplaySession *s, unsigned number)
{
	const RRSnapHeader *snaps;
	unsigned n = replay_snapshots(s, &snaps);

	for (unsigned i = 0; i < n; i++)
		if (snaps[i].number == number)
			return true;
	return false;
}

/* Instructions replayed between two looks at SIGINT/SIGTERM (and two
 * flushes of the console): a long replay ends promptly when asked. */
#define REPLAY_STEP (1ull << 24)

enum replay_status replay_forward_stoppable(ReplaySession *s, uint64_t target)
{
	enum replay_status st = REPLAY_OK;

	while (st == REPLAY_OK && replay_icount(s) < target && !stop_signal()) {
		uint64_t now = replay_icount(s);

		st = replay_forward(s, target - now > REPLAY_STEP ? now + REPLAY_STEP : target);
	}
	return st;
}

int replay_run(const char *dir, ReplayOptions *o)
{
	char err[TRACE_ERR_LEN + 64];
	ReplaySession *s = replay_open(dir, o->console, err, sizeof(err));
	enum replay_status st;
	const TraceInfo *info;
	uint64_t now;
	int status = 0;

	if (!s) {
		fprintf(stderr, "flashback: %s\n", err);
		return EXIT_USAGE;
	}
	if (o->has_until &&
	    (o->until < replay_start_icount(s) || o->until > replay_end_icount(s))) {
		fprintf(stderr,
			"flashback: --until %" PRIu64 ": the recording spans icount %" PRIu64
			" to %" PRIu64 "\n",
			o->until, replay_start_icount(s), replay_end_icount(s));
		replay_close(s);
		return EXIT_USAGE;
	}
	if (o->snapshot >= 0 && !has_snapshot(s, (unsigned)o->snapshot)) {
		fprintf(stderr, "flashback: --snapshot %d: %s has no such snapshot%s%s\n",
			o->snapshot, dir, replay_snapshot_damage(s) ? " (" : "",
			replay_snapshot_damage(s) ? replay_snapshot_damage(s) : "");
		replay_close(s);
		return EXIT_USAGE;
	}
	if (o->verify) {
		replay_close(s);
		return replay_verify(dir, o);
	}
	replay_warn_damage(s);
	stop_signals_catch();
	if (o->snapshot >= 0)
		st = replay_goto_snapshot(s, (unsigned)o->snapshot);
	else if (o->has_until)
		st = replay_goto(s, o->until);
	else
		st = REPLAY_OK;
	if (st == REPLAY_OK)
		st = replay_forward_stoppable(s, o->has_until ? o->until : UINT64_MAX);
	now = replay_icount(s);
	info = trace_info(replay_trace(s));
	if (st == REPLAY_ERROR) {
		fprintf(stderr, "flashback: %s\n", replay_error(s));
		status = replay_error_status(s);
		goto out;
	}
	if (st == REPLAY_OK && stop_signal() && !(o->has_until && now >= o->until)) {
		fprintf(stderr, "flashback: replay stopped by %s at icount %" PRIu64 "\n",
			stop_signal_name(stop_signal()), now);
		status = 128 + stop_signal();
		goto out;
	}
	o->final_icount = now;
	o->final_hash = cpu_state_hash(replay_cpu(s));
	o->checks = replay_checks(s);
	if (o->has_until && now >= o->until) {
		cpu_dump(replay_cpu(s), stdout);
	} else if (!info->complete) {
		fprintf(stderr, "flashback: the trace is truncated (%s); replayed to icount %" PRIu64 "\n",
			info->truncation[0] ? info->truncation : "no end event", now);
	}
out:
	replay_close(s);
	return status;
}
