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
 * the recording (a snapshot included): one line, exit 3.  The lines are
 * libflashback's fb_verify(), which `flashback replay --verify` calls.
 */
#include "replay.h"

#include <inttypes.h>
#include <string.h>

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

/* A failed verify: @msg (or the engine's line) and its status. */
static enum replay_status failed(int *status, int value)
{
	*status = value;
	return REPLAY_ERROR;
}

enum replay_status replay_verify(ReplaySession *s, int snapshot, char *err, size_t errlen,
				 int *status)
{
	const TraceInfo *info = trace_info(replay_trace(s));
	enum replay_status st = REPLAY_OK;
	uint64_t start;

	if (!check_parts(s, err, errlen))
		return failed(status, EXIT_USAGE);
	replay_set_verify(s, true);
	if (snapshot >= 0)
		st = replay_goto_snapshot(s, (unsigned)snapshot);
	start = replay_icount(s);
	if (st == REPLAY_OK)
		st = replay_forward(s, UINT64_MAX);
	replay_set_verify(s, false);
	if (st == REPLAY_CANCELLED)
		return st;
	if (st == REPLAY_ERROR) {
		snprintf(err, errlen, "%s", replay_error(s));
		return failed(status, replay_error_status(s));
	}
	if (!markers_match(s, snapshot >= 0 ? (unsigned)snapshot : 0, err, errlen))
		return failed(status, EXIT_USAGE);
	if (!info->complete) {
		snprintf(err, errlen,
			 "the trace is truncated (%s): what it holds is intact and replays from "
			 "icount %" PRIu64 " to %" PRIu64 ", but nothing proves the rest",
			 info->truncation[0] ? info->truncation : "no end event", start,
			 replay_icount(s));
		return failed(status, EXIT_USAGE);
	}
	return REPLAY_END;
}
