/*
 * replay.c - `flashback replay` and `flashback info` on top of the replay
 * engine (engine.c) and the trace library.
 */
#include "replay.h"
#include "pages.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- flashback replay ------------------------------------------------------------ */

void replay_warn_damage(const ReplaySession *s)
{
	if (replay_snapshot_damage(s))
		fprintf(stderr, "flashback: %s: left out (an earlier snapshot is used instead)\n",
			replay_snapshot_damage(s));
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

/* ---- flashback info ------------------------------------------------------------ */

/* What `info` learns from the files beside the journal: their sizes, and
 * the first damage its quick checks find (headers only: --verify reads all). */
typedef struct DirSummary {
	uint64_t total, snap_bytes, pages_bytes;
	unsigned snapshots;
	uint64_t pages;
	char damage[TRACE_ERR_LEN + 64];
} DirSummary;

static void summarize(const char *dir, const uint8_t *id, DirSummary *d)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char path[4096], err[TRACE_ERR_LEN];
	struct stat st;
	PageStore *ps;

	memset(d, 0, sizeof(*d));
	while (dp && (e = readdir(dp)) != NULL) {
		unsigned n;
		char tail[8];
		RRSnapHeader h;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		d->total += (uint64_t)st.st_size;
		if (sscanf(e->d_name, "snap-%6u.fb%1s", &n, tail) != 2)
			continue;
		d->snapshots++;
		d->snap_bytes += (uint64_t)st.st_size;
		if (!rr_snapshot_header(dir, n, id, &h, err, sizeof(err)) && !d->damage[0])
			snprintf(d->damage, sizeof(d->damage), "%s", err);
	}
	if (dp)
		closedir(dp);
	ps = ps_open(dir, id, err, sizeof(err));
	if (!ps && !d->damage[0])
		snprintf(d->damage, sizeof(d->damage), "%s", err);
	if (ps) {
		d->pages = ps_count(ps);
		snprintf(path, sizeof(path), "%s/" PS_FILE, dir);
		if (stat(path, &st) == 0)
			d->pages_bytes = (uint64_t)st.st_size;
		ps_close(ps);
	}
}

int replay_info(const char *dir, FILE *out)
{
	char err[TRACE_ERR_LEN];
	Trace *t = trace_open(dir, err);
	const TraceInfo *i;
	uint64_t counts[TEV_KIND_COUNT] = {0};
	DirSummary d;

	if (!t) {
		fprintf(stderr, "flashback: %s\n", err);
		return EXIT_USAGE;
	}
	i = trace_info(t);
	summarize(dir, i->id, &d);
	fprintf(out, "trace           %s\n", dir);
	fprintf(out, "recording       %s\n", i->id_hex);
	fprintf(out, "format version  %u\n", i->format_version);
	fprintf(out, "recorded by     %s\n", i->emulator_version);
	fprintf(out, "machine         %s\n", i->machine_options);
	fprintf(out, "cpu, ram        %s, %" PRIu64 " MiB\n", i->cpu_model, i->ram_size >> 20);
	fprintf(out, "icount range    %" PRIu64 " - %" PRIu64 "\n", i->first_icount, i->last_icount);
	fprintf(out, "chunks          %u\n", i->chunks);
	fprintf(out, "events          %" PRIu64 "\n", i->events);
	if (trace_counts(t, counts))
		for (unsigned k = 1; k < TEV_KIND_COUNT; k++)
			if (counts[k])
				fprintf(out, "  %-13s %" PRIu64 "\n", trace_kind_name(k), counts[k]);
	fprintf(out, "snapshots       %u (%" PRIu64 " bytes)\n", d.snapshots, d.snap_bytes);
	fprintf(out, "pages           %" PRIu64 " distinct (%" PRIu64 " bytes)\n", d.pages,
		d.pages_bytes);
	if (i->index_note[0])
		fprintf(out, "index           %s\n", i->index_note);
	fprintf(out, "size            %" PRIu64 " bytes\n", d.total);
	if (i->complete)
		fprintf(out, "state           complete, final icount %" PRIu64 " hash %016" PRIx64 "\n",
			i->final_icount, i->final_hash);
	else
		fprintf(out, "state           truncated: %s\n",
			i->truncation[0] ? i->truncation : "no end event");
	trace_free(t);
	if (d.damage[0]) {
		fflush(out);
		fprintf(stderr, "flashback: %s\n", d.damage);
		return EXIT_USAGE;
	}
	return 0;
}
