/*
 * query.c - flashback query TRACE [--csv | --json] SQL: read-only SQL over
 * a trace's index.sqlite.
 *
 * Built on libflashback (fb_query_first: the database is opened read-only
 * and every statement must also pass sqlite3_stmt_readonly(), so that a
 * writing statement is refused with one line before it runs rather than
 * failing half-way); a program gets the rows and errors this prints.
 * Several statements separated by ';' run in turn.  The default output is an
 * aligned table whose column widths come from the first rows (later,
 * wider values push their line out rather than hold the output back).
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum format { TABLE, CSV, JSON };

/* Rows buffered to size the table's columns. */
#define WIDTH_ROWS 1000

typedef struct Table {
	int ncols;
	size_t *width;
	char **cells; /* WIDTH_ROWS rows of ncols cells */
	size_t nrows;
	bool flushed; /* the buffered rows are out: print the rest at once */
} Table;

/* A cell as text: NULL is empty, a blob is x'..' as in SQL. */
static char *cell_text(fb_query *q, int i)
{
	size_t n;
	const unsigned char *b = fb_query_bytes(q, i, &n);
	char *s;

	switch (fb_query_type(q, i)) {
	case FB_SQL_NULL:
		return xstrdup("");
	case FB_SQL_BLOB:
		s = xmalloc(n * 2 + 4);
		strcpy(s, "x'");
		for (size_t k = 0; k < n; k++)
			sprintf(s + 2 + k * 2, "%02x", b[k]);
		strcpy(s + 2 + n * 2, "'");
		return s;
	default:
		s = xmalloc(n + 1);
		if (n)
			memcpy(s, b, n);
		s[n] = 0;
		/* One row a line: newlines and tabs in text become spaces. */
		for (size_t k = 0; k < n; k++)
			if (s[k] == '\n' || s[k] == '\r' || s[k] == '\t' || s[k] == 0)
				s[k] = ' ';
		return s;
	}
}

static void table_line(Table *t, char **cells)
{
	for (int i = 0; i < t->ncols; i++) {
		bool last = i == t->ncols - 1;
		printf("%s%-*s", i ? "  " : "", last ? 0 : (int)t->width[i], cells[i]);
	}
	putchar('\n');
}

static void table_flush(Table *t, fb_query *st)
{
	char **rule = xcalloc((size_t)t->ncols, sizeof(*rule));
	char **names = xcalloc((size_t)t->ncols, sizeof(*names));

	for (int i = 0; i < t->ncols; i++) {
		names[i] = (char *)fb_query_name(st, i);
		rule[i] = xmalloc(t->width[i] + 1);
		memset(rule[i], '-', t->width[i]);
		rule[i][t->width[i]] = 0;
	}
	table_line(t, names);
	table_line(t, rule);
	for (size_t r = 0; r < t->nrows; r++)
		table_line(t, t->cells + r * (size_t)t->ncols);
	for (size_t k = 0; k < t->nrows * (size_t)t->ncols; k++)
		free(t->cells[k]);
	for (int i = 0; i < t->ncols; i++)
		free(rule[i]);
	free(rule);
	free(names);
	t->nrows = 0;
	t->flushed = true;
}

static void table_init(Table *t, fb_query *st)
{
	t->ncols = fb_query_columns(st);
	t->width = xcalloc((size_t)t->ncols, sizeof(*t->width));
	t->cells = xcalloc(WIDTH_ROWS * (size_t)t->ncols, sizeof(*t->cells));
	for (int i = 0; i < t->ncols; i++)
		t->width[i] = strlen(fb_query_name(st, i));
}

static void table_row(Table *t, fb_query *st)
{
	char **row;

	if (!t->cells)
		table_init(t, st);
	if (t->flushed) {
		row = xcalloc((size_t)t->ncols, sizeof(*row));
		for (int i = 0; i < t->ncols; i++)
			row[i] = cell_text(st, i);
		table_line(t, row);
		for (int i = 0; i < t->ncols; i++)
			free(row[i]);
		free(row);
		return;
	}
	row = t->cells + t->nrows++ * (size_t)t->ncols;
	for (int i = 0; i < t->ncols; i++) {
		row[i] = cell_text(st, i);
		if (strlen(row[i]) > t->width[i])
			t->width[i] = strlen(row[i]);
	}
	if (t->nrows == WIDTH_ROWS)
		table_flush(t, st);
}

static void csv_field(const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void csv_row(fb_query *st, bool header)
{
	int n = fb_query_columns(st);

	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		if (header) {
			csv_field(fb_query_name(st, i));
		} else if (fb_query_type(st, i) == FB_SQL_TEXT) {
			size_t len;
			const char *b = fb_query_bytes(st, i, &len);
			char *s = xmalloc(len + 1);

			memcpy(s, b ? b : "", len);
			s[len] = 0;
			csv_field(s);
			free(s);
		} else {
			char *s = cell_text(st, i);
			csv_field(s);
			free(s);
		}
	}
	putchar('\n');
}

/* A JSON string; bytes that are not ASCII are escaped one by one (\u00XX). */
static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void json_row(fb_query *st, bool first)
{
	int n = fb_query_columns(st);

	printf("%s\n  {", first ? "" : ",");
	for (int i = 0; i < n; i++) {
		printf("%s", i ? ", " : "");
		json_string(fb_query_name(st, i));
		putchar(':');
		switch (fb_query_type(st, i)) {
		case FB_SQL_NULL:
			printf("null");
			break;
		case FB_SQL_INTEGER:
			printf("%lld", (long long)fb_query_int(st, i));
			break;
		case FB_SQL_FLOAT:
			printf("%.17g", fb_query_double(st, i));
			break;
		default: {
			char *s = cell_text(st, i);
			json_string(s);
			free(s);
		}
		}
	}
	putchar('}');
}

/*
 * A long query shows the seconds it has taken on a terminal, until its
 * first row is printed to a terminal too (the two would mix on one line).
 */
typedef struct QueryProgress {
	Progress p;
	bool quiet;
} QueryProgress;

static void query_progress(void *opaque)
{
	QueryProgress *q = opaque;

	if (!q->quiet)
		progress_elapsed(&q->p);
}

static void before_row(QueryProgress *q)
{
	if (!q->quiet && isatty(STDOUT_FILENO)) {
		progress_done(&q->p);
		q->quiet = true;
	}
}

/* A failure of the library: its line (naming --timeout when that was it). */
static _Noreturn void query_failed(fb_query *st)
{
	fatal(fb_error_status() ? fb_error_status() : EXIT_USAGE, "%s%s", fb_error(),
	      st && fb_query_timed_out(st) ? " (--timeout)" : "");
}

/* Run one prepared statement, printing its rows. */
static void run_statement(fb_query *st, enum format fmt, QueryProgress *q)
{
	Table t = {0};
	uint64_t rows = 0;
	int rc;

	if (fmt == JSON)
		putchar('[');
	if (fmt == CSV && fb_query_columns(st) > 0)
		csv_row(st, true);
	while ((rc = fb_query_step(st)) == 1) {
		before_row(q);
		if (fmt == TABLE)
			table_row(&t, st);
		else if (fmt == CSV)
			csv_row(st, false);
		else
			json_row(st, rows == 0);
		rows++;
	}
	if (rc == FB_ERROR)
		query_failed(st);
	if (fmt == JSON)
		printf("%s]\n", rows ? "\n" : "");
	if (fmt == TABLE && fb_query_columns(st) > 0) {
		if (!t.cells)
			table_init(&t, st);
		if (!t.flushed)
			table_flush(&t, st);
		free(t.cells);
		free(t.width);
	}
}

static void usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback query TRACE [--csv | --json] [--timeout SECONDS] SQL");
}

int tools_query(int argc, char **argv)
{
	const char *dir = NULL, *sql = NULL, *tail;
	enum format fmt = TABLE;
	fb_trace *t;
	QueryProgress q = {0};
	double timeout = TOOL_SQL_SECONDS;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--timeout") == 0) {
			uint64_t s = tool_number("--timeout", i + 1 < argc ? argv[i + 1] : NULL);

			if (s == 0 || s > 86400)
				fatal(EXIT_USAGE, "--timeout: %s is not 1 to 86400 seconds",
				      argv[i + 1]);
			timeout = (double)s;
			i++;
		} else if (strcmp(argv[i], "--csv") == 0)
			fmt = CSV;
		else if (strcmp(argv[i], "--json") == 0)
			fmt = JSON;
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			fatal(EXIT_USAGE, "query: unknown option '%s'", argv[i]);
		else if (!dir)
			dir = argv[i];
		else if (!sql)
			sql = argv[i];
		else
			usage();
	}
	if (!dir || !sql)
		usage();
	if (!(t = fb_open(dir)))
		query_failed(NULL);
	progress_init(&q.p, "querying");
	fb_query_limits(t, timeout, query_progress, &q);
	for (tail = sql; *tail;) {
		fb_query *st = NULL;
		int rc = fb_query_first(t, tail, &tail, &st);

		if (rc == FB_ERROR)
			query_failed(NULL);
		if (rc == FB_END) /* only blanks or a comment were left */
			break;
		run_statement(st, fmt, &q);
		fb_query_close(st);
	}
	progress_done(&q.p);
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "query: cannot write the output");
	fb_close(t);
	return 0;
}
