/*
 * common.c - what the trace tools share: a library failure as the
 * command's line, query plans, numbers and kinds from the command line,
 * and progress on a terminal.  Everything about the trace itself is
 * libflashback's (src/lib/flashback.h).
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- over libflashback ------------------------------------------------- */

_Noreturn void tool_lib_failed(void)
{
	fatal(fb_error_status() ? fb_error_status() : EXIT_USAGE, "%s", fb_error());
}

void tool_explain(fb_trace *t, const char *sql)
{
	size_t n = strlen(sql) + sizeof("EXPLAIN QUERY PLAN ");
	char *text = xmalloc(n);
	fb_query *plan;
	int rc;

	snprintf(text, n, "EXPLAIN QUERY PLAN %s", sql);
	if (!(plan = fb_query_open(t, text)))
		tool_lib_failed();
	printf("plan: %s\n", sql);
	while ((rc = fb_query_step(plan)) == 1) {
		size_t len;
		const char *detail = fb_query_bytes(plan, 3, &len);

		printf("  %.*s\n", (int)len, detail ? detail : "");
	}
	if (rc == FB_ERROR)
		tool_lib_failed();
	fb_query_close(plan);
	free(text);
}

/* ---- arguments ---------------------------------------------------------- */

uint64_t tool_number(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	if (!s)
		fatal(EXIT_USAGE, "%s needs a value", opt);
	errno = 0;
	/* base 10 unless 0x: a leading zero is not octal here */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoull(s + 2, &end, 16);
	else
		v = strtoull(s, &end, 10);
	if (!*s || *end || errno ||
	    !isxdigit((unsigned char)s[s[0] == '0' && (s[1] | 32) == 'x' ? 2 : 0]))
		fatal(EXIT_USAGE, "%s: '%s' is not a number (decimal or 0x hex, 0 to 2^64-1)", opt,
		      s);
	return v;
}

unsigned tool_kind(const char *s)
{
	char *end;
	unsigned long v;
	int k = fb_kind_number(s);

	if (k != FB_ERROR)
		return (unsigned)k;
	v = strtoul(s, &end, 0);
	if (*s && !*end && fb_kind_name((unsigned)v) && v == (unsigned)v)
		return (unsigned)v;
	fatal(EXIT_USAGE,
	      "unknown event kind '%s' (port-read, mmio-read, interrupt, dma-write, time-read, "
	      "map-change, check, console, snapshot, end, or 1-10)",
	      s);
}

/* ---- progress ------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(Progress *p, const char *what)
{
	const char *delay = getenv("FLASHBACK_PROGRESS_DELAY");

	*p = (Progress){.what = what, .tty = isatty(STDERR_FILENO) == 1, .delay = 1.0};
	if (delay && *delay)
		p->delay = strtod(delay, NULL);
	p->start = p->last = now();
}

void progress_update(Progress *p, uint64_t done, uint64_t total, const char *unit)
{
	double t;

	if (!p->tty)
		return;
	t = now();
	/* Only for work over a second, ten refreshes a second at most. */
	if (t - p->start < p->delay || (p->shown && t - p->last < 0.1))
		return;
	p->last = t;
	p->shown = true;
	fprintf(stderr, "\rflashback: %s: %3u%% (%llu/%llu %s)\033[K", p->what,
		total ? (unsigned)(done * 100 / total) : 100, (unsigned long long)done,
		(unsigned long long)total, unit);
	fflush(stderr);
}

void progress_elapsed(Progress *p)
{
	double t;

	if (!p->tty)
		return;
	t = now();
	if (t - p->start < p->delay || (p->shown && t - p->last < 0.1))
		return;
	p->last = t;
	p->shown = true;
	fprintf(stderr, "\rflashback: %s: %.1f s\033[K", p->what, t - p->start);
	fflush(stderr);
}

void progress_done(Progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	p->shown = false;
}
