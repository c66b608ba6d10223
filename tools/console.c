/*
 * console.c - flashback console TRACE [--grep TEXT] [--from N] [--to N]:
 * the guest's console output, one line per row of the index's console
 * table, as "[icount] text".
 *
 * The console table is the index of the console output: one row per line
 * (not per byte or per event), read in icount order through its
 * console(icount) index without touching the journal.  --grep keeps the
 * lines holding TEXT (a plain, case-sensitive substring) and says on stderr
 * the icount to jump to with gdb's `monitor goto N`.  Built on libflashback
 * (fb_console_open): a program gets these lines.
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"

#include <inttypes.h>
#include <string.h>

static void usage(void)
{
	fatal(EXIT_USAGE,
	      "usage: flashback console TRACE [--grep TEXT] [--from N] [--to N] [--plan]");
}

int tools_console(int argc, char **argv)
{
	const char *dir = NULL, *grep = NULL;
	bool plan = false;
	uint64_t from = 0, to = UINT64_MAX, lines = 0, first = 0, last;
	fb_console *c;
	fb_trace *t;
	fb_info info;
	fb_line l;
	int rc;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--grep") == 0) {
			if (!v || !*v)
				fatal(EXIT_USAGE, "--grep needs a text to look for");
			grep = v;
			i++;
		} else if (strcmp(a, "--plan") == 0) {
			plan = true;
		} else if (strcmp(a, "--from") == 0) {
			from = tool_number(a, v);
			i++;
		} else if (strcmp(a, "--to") == 0) {
			to = tool_number(a, v);
			i++;
		} else if (a[0] == '-' && a[1]) {
			fatal(EXIT_USAGE, "console: unknown option '%s'", a);
		} else if (!dir) {
			dir = a;
		} else {
			usage();
		}
	}
	if (!dir)
		usage();
	if (!(t = fb_open(dir)))
		tool_lib_failed();
	fb_trace_info(t, &info);
	last = info.end_icount;
	if (from > last || (to != UINT64_MAX && to > last))
		fatal(EXIT_USAGE,
		      "--%s %" PRIu64 " is outside the recording (icount 0 to %" PRIu64 ")",
		      from > last ? "from" : "to", from > last ? from : to, last);
	if (plan) {
		tool_explain(t, fb_console_sql());
		fb_close(t);
		return 0;
	}
	if (!(c = fb_console_open(t, grep, from, to)))
		tool_lib_failed();
	while ((rc = fb_console_next(c, &l)) == 1) {
		if (!lines++)
			first = l.icount;
		printf("[%" PRIu64 "] ", l.icount);
		fwrite(l.text, 1, l.len, stdout);
		putchar('\n');
	}
	if (rc == FB_ERROR)
		tool_lib_failed();
	fb_console_close(c);
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "console: cannot write the output");
	fb_close(t);
	if (grep && !lines) {
		fprintf(stderr, "flashback: no console line contains '%s'\n", grep);
		return 1;
	}
	if (grep)
		fprintf(stderr,
			"flashback: %" PRIu64 " line%s; to go to the first: monitor goto %" PRIu64
			"\n",
			lines, lines == 1 ? "" : "s", first);
	return 0;
}
