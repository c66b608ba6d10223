/*
 * verify.c - `flashback replay TRACE --verify`: prove the whole trace.
 *
 * Every byte of every file of a trace is covered by a check (FORMAT.md):
 * the journal's header and chunks (CRCs, each chunk naming the one before),
 * the page store's frames likewise, each snapshot's header and body, and
 * the index, which is derived from the journal.  Verifying reads them all,
 * also the parts a replay from the start never needs: the index is
 * compared row by row with the journal indexed again, every frame of the
 * page store is decoded, and every snapshot is loaded on its own and must
 * hash to what it says.  Then the recording is replayed: every check
 * event, the end hash, the console, and at each snapshot marker the
 * replayed machine against the snapshot.
 *
 * Damage: one line naming the file, exit 2.  A replay that does not match
 * the recording (a snapshot included): one line, exit 3.
 */
#include "replay.h"

#include <inttypes.h>
#include <string.h>

#define ERR_LEN (TRACE_ERR_LEN + 256)

static int damaged(ReplaySession *s, const char *msg)
{
	fprintf(stderr, "flashback: %s\n", msg);
	replay_close(s);
	return EXIT_USAGE;
}

/*
 * Every snapshot file after the one the replay started from must have had
 * its marker in the journal, at its icount (the markers themselves were
 * checked against their files as the replay passed them).
 */
static bool markers_match(ReplaySession *s, unsigned first, char *err, size_t errlen)
{
	const RRSnapHeader *snaps;
	const RRMarker *marks;
	unsigned n = replay_snapshots(s, &snaps), m = replay_markers(s, &marks);

	for (unsigned i = 0; i < n; i++) {
		bool found = snaps[i].number <= first;

		for (unsigned j = 0; j < m && !found; j++)
			found = marks[j].number == snaps[i].number &&
				marks[j].icount == snaps[i].icount;
		if (!found) {
			snprintf(err, errlen,
				 "snap-%06u.fbs (icount %" PRIu64
				 ") has no marker in the journal: it "
				 "is not part of this recording",
				 snaps[i].number, snaps[i].icount);
			return false;
		}
	}
	return true;
}

/* The parts a replay does not read on its way: index, pages, snapshots. */
static bool check_parts(ReplaySession *s, char *err, size_t errlen)
{
	const RRSnapHeader *snaps;
	unsigned n = replay_snapshots(s, &snaps);
	Trace *t = replay_trace(s);

	/* the files first: a replaced one is named as such, not as an
	 * index row that no longer fits it */
	if (replay_snapshot_damage(s)) {
		snprintf(err, errlen, "%s", replay_snapshot_damage(s));
		return false;
	}
	if (!replay_check_pages(s, err, errlen))
		return false;
	for (unsigned i = 0; i < n; i++)
		if (!replay_check_snapshot(s, snaps[i].number, err, errlen))
			return false;
	if (!trace_verify_index(t)) {
		snprintf(err, errlen, "%s", trace_error(t));
		return false;
	}
	return true;
}

int replay_verify(const char *dir, ReplayOptions *o)
{
	char err[ERR_LEN];
	ReplaySession *s = replay_open(dir, o->console, err, sizeof(err));
	const TraceInfo *info;
	enum replay_status st = REPLAY_OK;
	uint64_t start;

	if (!s) {
		fprintf(stderr, "flashback: %s\n", err);
		return EXIT_USAGE;
	}
	info = trace_info(replay_trace(s));
	stop_signals_catch();
	if (!check_parts(s, err, sizeof(err)))
		return damaged(s, err);
	replay_set_verify(s, true);
	if (o->snapshot >= 0)
		st = replay_goto_snapshot(s, (unsigned)o->snapshot);
	start = replay_icount(s);
	if (st == REPLAY_OK)
		st = replay_forward_stoppable(s, UINT64_MAX);
	if (st == REPLAY_ERROR) {
		int status = replay_error_status(s);

		fprintf(stderr, "flashback: %s\n", replay_error(s));
		replay_close(s);
		return status;
	}
	if (st == REPLAY_OK && stop_signal()) {
		fprintf(stderr, "flashback: verify stopped by %s at icount %" PRIu64 "\n",
			stop_signal_name(stop_signal()), replay_icount(s));
		replay_close(s);
		return 128 + stop_signal();
	}
	if (!markers_match(s, o->snapshot >= 0 ? (unsigned)o->snapshot : 0, err, sizeof(err)))
		return damaged(s, err);
	o->final_icount = replay_icount(s);
	o->final_hash = cpu_state_hash(replay_cpu(s));
	o->checks = replay_checks(s);
	if (!info->complete) {
		snprintf(
		    err, sizeof(err),
		    "the trace is truncated (%s): what it holds is intact and replays from icount "
		    "%" PRIu64 " to %" PRIu64 ", but nothing proves the rest",
		    info->truncation[0] ? info->truncation : "no end event", start,
		    o->final_icount);
		return damaged(s, err);
	}
	printf("verified: %" PRIu64 " checks, final icount %" PRIu64 " hash %016" PRIx64 "\n",
	       o->checks, o->final_icount, o->final_hash);
	replay_close(s);
	return 0;
}
