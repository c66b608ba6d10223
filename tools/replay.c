/*
 * replay.c - flashback replay TRACE [--until N] [--snapshot K] [--verify]:
 * replay a recording from the trace alone, printing the guest's console
 * output again on stdout.
 *
 * A program over libflashback like the other tools: a session
 * (fb_session_new) with its console on stdout (fb_session_console), moved
 * to --snapshot K (fb_goto_snapshot) or --until N (fb_goto), run to the end
 * (fb_step, which checks the end's hash and console), or proven whole
 * (fb_verify).  SIGINT and SIGTERM stop it between two slices of 2^22
 * instructions (fb_session_cancel).  At --until the CPU state is printed
 * (fb_cpu_text).
 *
 * Exit statuses: 0; 2 bad usage, a damaged or missing trace; 3 a
 * divergence (one line: the icount, what the journal had, what the CPU
 * did); 128 + the signal that stopped it.
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"
#include "../src/lib/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int signalled(void *opaque)
{
	(void)opaque;
	return stop_signal() != 0;
}

/* One line for a library error; its status. */
static int failed(void)
{
	fprintf(stderr, "flashback: %s\n", fb_error());
	return fb_error_status() ? fb_error_status() : EXIT_USAGE;
}

static int stopped(const char *what, fb_session *s)
{
	fprintf(stderr, "flashback: %s stopped by %s at icount %" PRIu64 "\n", what,
		stop_signal_name(stop_signal()), fb_icount(s));
	return 128 + stop_signal();
}

/* Does the trace have snapshot @k?  If not, say so. */
static bool snapshot_named(fb_session *s, const ToolReplay *o)
{
	const char *damage = fb_session_warning(s);
	fb_snapshot sn;

	for (uint32_t i = 0; fb_snapshot_get(s, i, &sn) == FB_OK; i++)
		if (sn.number == (uint32_t)o->snapshot)
			return true;
	fprintf(stderr, "flashback: --snapshot %d: %s has no such snapshot%s%s%s\n", o->snapshot,
		o->dir, damage ? " (" : "", damage ? damage : "", damage ? ")" : "");
	return false;
}

/* --until N within the recording, --snapshot K one of its files. */
static bool arguments_fit(fb_session *s, const ToolReplay *o)
{
	uint64_t start = fb_start_icount(s), end = fb_end_icount(s);

	if (o->has_until && (o->until < start || o->until > end)) {
		fprintf(stderr,
			"flashback: --until %" PRIu64 ": the recording spans icount %" PRIu64
			" to %" PRIu64 "\n",
			o->until, start, end);
		return false;
	}
	return o->snapshot < 0 || snapshot_named(s, o);
}

static int verify(fb_session *s, ToolReplay *o)
{
	int rc = fb_verify(s, o->snapshot);

	if (rc == FB_STOPPED)
		return stopped("verify", s);
	if (rc != FB_OK)
		return failed();
	o->final_icount = fb_icount(s);
	o->final_hash = fb_state_hash(s);
	printf("verified: %" PRIu64 " checks, final icount %" PRIu64 " hash %016" PRIx64 "\n",
	       fb_checks(s), o->final_icount, o->final_hash);
	return 0;
}

/* Where the replay is to go: --snapshot K, then --until N or the end. */
static int go(fb_session *s, const ToolReplay *o)
{
	int rc = FB_OK;

	if (o->snapshot >= 0)
		rc = fb_goto_snapshot(s, (uint32_t)o->snapshot);
	if (rc != FB_OK)
		return rc;
	if (!o->has_until)
		return fb_step(s, UINT64_MAX); /* to the end, and its checks */
	if (o->snapshot < 0)
		return fb_goto(s, o->until);
	return o->until > fb_icount(s) ? fb_step(s, o->until - fb_icount(s)) : FB_OK;
}

/* The CPU state where --until stopped. */
static void print_cpu(fb_session *s)
{
	char small[4096], *text = small;
	size_t n = fb_cpu_text(s, small, sizeof(small));

	if (n >= sizeof(small)) {
		text = xmalloc(n + 1);
		fb_cpu_text(s, text, n + 1);
	}
	fputs(text, stdout);
	if (text != small)
		free(text);
}

static int replay(fb_trace *t, fb_session *s, ToolReplay *o)
{
	int rc;
	fb_info info;

	lib_warn_snapshot(fb_session_warning(s));
	rc = go(s, o);
	if (rc == FB_ERROR)
		return failed();
	if (rc == FB_STOPPED && !(o->has_until && fb_icount(s) >= o->until))
		return stopped("replay", s);
	o->final_icount = fb_icount(s);
	o->final_hash = fb_state_hash(s);
	fb_trace_info(t, &info);
	if (o->has_until && o->final_icount >= o->until)
		print_cpu(s);
	else if (!info.complete)
		fprintf(stderr,
			"flashback: the trace is truncated (%s); replayed to icount %" PRIu64 "\n",
			info.truncation[0] ? info.truncation : "no end event", o->final_icount);
	return 0;
}

int tool_replay_run(ToolReplay *o)
{
	fb_trace *t = fb_open(o->dir);
	fb_session *s = t ? fb_session_new(t, 0) : NULL;
	int status;

	if (!s) {
		status = failed();
		fb_close(t);
		return status;
	}
	if (!arguments_fit(s, o)) {
		status = EXIT_USAGE;
	} else {
		stop_signals_catch();
		fb_session_console(s, o->console);
		fb_session_cancel(s, signalled, NULL);
		status = o->verify ? verify(s, o) : replay(t, s, o);
	}
	fb_session_free(s);
	fb_close(t);
	return status;
}

int tools_replay(int argc, char **argv)
{
	ToolReplay o = {.snapshot = -1, .console = stdout};

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--until") == 0) {
			o.has_until = true;
			o.until = tool_number(argv[i], argv[i + 1]);
			i++;
		} else if (strcmp(argv[i], "--verify") == 0) {
			o.verify = true;
		} else if (strcmp(argv[i], "--snapshot") == 0) {
			uint64_t k = tool_number(argv[i], argv[i + 1]);

			if (k > 999999)
				fatal(EXIT_USAGE,
				      "--snapshot %s: snapshots are numbered 0 to 999999",
				      argv[i + 1]);
			o.snapshot = (int)k;
			i++;
		} else if (argv[i][0] == '-') {
			fatal(EXIT_USAGE, "replay: unknown option '%s'", argv[i]);
		} else if (!o.dir) {
			o.dir = argv[i];
		} else {
			fatal(EXIT_USAGE, "replay: one trace at a time ('%s')", argv[i]);
		}
	}
	if (!o.dir)
		fatal(EXIT_USAGE, "usage: flashback replay TRACE [--until N] [--verify]");
	if (o.verify && o.has_until)
		fatal(EXIT_USAGE,
		      "replay: --verify checks the whole recording: it does not go with "
		      "--until");
	return tool_replay_run(&o);
}
