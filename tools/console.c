/*
 * console.c - flashback console TRACE [--grep TEXT] [--from N] [--to N]:
 * the guest's console output, one line per row of the index's console
 * table, as "[icount] text".
 *
 * The console table is the index of the console output: one row per line
 * (not per byte or per event), read in icount order through its
 * console(icount) index without touching the journal.  --grep keeps the
 * lines holding TEXT (a plain, case-sensitive substring) and says on stderr
 * the icount to jump to with gdb's `monitor goto N`.
 */
#include "tools.h"
#include "../src/base/base.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <string.h>

/* Used by the test that checks the query plan: keep in step with docs/tools.md. */
static const char console_sql[] =
    "SELECT icount, line FROM console "
    "WHERE icount BETWEEN ?2 AND ?3 AND (?1 IS NULL OR instr(line, ?1) > 0) "
    "ORDER BY icount, rowid";

static void usage(void)
{
	fatal(EXIT_USAGE,
	      "usage: flashback console TRACE [--grep TEXT] [--from N] [--to N] [--plan]");
}

int tools_console(int argc, char **argv)
{
	const char *dir = NULL, *grep = NULL;
	bool plan = false;
	uint64_t from = 0, to = UINT64_MAX, lines = 0, first = 0;
	sqlite3_stmt *st;
	ToolTrace tt;

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
	tt_open(&tt, dir);
	if (from > tt_last_icount(&tt) || (to != UINT64_MAX && to > tt_last_icount(&tt)))
		fatal(EXIT_USAGE,
		      "--%s %" PRIu64 " is outside the recording (icount 0 to %" PRIu64 ")",
		      from > tt_last_icount(&tt) ? "from" : "to",
		      from > tt_last_icount(&tt) ? from : to, tt_last_icount(&tt));
	st = tt_prepare(&tt, console_sql);
	if (plan) {
		tt_explain(&tt, st);
		sqlite3_finalize(st);
		tt_close(&tt);
		return 0;
	}
	if (grep)
		sqlite3_bind_text(st, 1, grep, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
	sqlite3_bind_int64(st, 3, to > INT64_MAX ? INT64_MAX : (sqlite3_int64)to);
	while (tt_step(&tt, st)) {
		uint64_t icount = (uint64_t)sqlite3_column_int64(st, 0);
		if (!lines++)
			first = icount;
		printf("[%" PRIu64 "] ", icount);
		fwrite(sqlite3_column_text(st, 1), 1, (size_t)sqlite3_column_bytes(st, 1), stdout);
		putchar('\n');
	}
	sqlite3_finalize(st);
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "console: cannot write the output");
	tt_close(&tt);
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
