/*
 * query.c - flashback query TRACE [--csv | --json] SQL: read-only SQL over
 * a trace's index.sqlite.
 *
 * The database is opened SQLITE_OPEN_READONLY and every statement must
 * also pass sqlite3_stmt_readonly(), so that a writing statement is refused
 * with one line before it runs (rather than failing half-way).  Several
 * statements separated by ';' run in turn.  The default output is an
 * aligned table whose column widths come from the first rows (later,
 * wider values push their line out rather than hold the output back).
 */
#include "tools.h"
#include "../src/base/base.h"

#include <sqlite3.h>
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
static char *cell_text(sqlite3_stmt *st, int i)
{
	const unsigned char *b;
	int n = sqlite3_column_bytes(st, i);
	char *s;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return xstrdup("");
	case SQLITE_BLOB:
		b = sqlite3_column_blob(st, i);
		n = sqlite3_column_bytes(st, i);
		s = xmalloc((size_t)n * 2 + 4);
		strcpy(s, "x'");
		for (int k = 0; k < n; k++)
			sprintf(s + 2 + k * 2, "%02x", b[k]);
		strcpy(s + 2 + n * 2, "'");
		return s;
	default:
		b = sqlite3_column_text(st, i);
		n = sqlite3_column_bytes(st, i);
		s = xmalloc((size_t)n + 1);
		memcpy(s, b, (size_t)n);
		s[n] = 0;
		/* One row a line: newlines and tabs in text become spaces. */
		for (int k = 0; k < n; k++)
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

static void table_flush(Table *t, sqlite3_stmt *st)
{
	char **rule = xcalloc((size_t)t->ncols, sizeof(*rule));
	char **names = xcalloc((size_t)t->ncols, sizeof(*names));

	for (int i = 0; i < t->ncols; i++) {
		names[i] = (char *)sqlite3_column_name(st, i);
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

static void table_init(Table *t, sqlite3_stmt *st)
{
	t->ncols = sqlite3_column_count(st);
	t->width = xcalloc((size_t)t->ncols, sizeof(*t->width));
	t->cells = xcalloc(WIDTH_ROWS * (size_t)t->ncols, sizeof(*t->cells));
	for (int i = 0; i < t->ncols; i++)
		t->width[i] = strlen(sqlite3_column_name(st, i));
}

static void table_row(Table *t, sqlite3_stmt *st)
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

static void csv_row(sqlite3_stmt *st, bool header)
{
	int n = sqlite3_column_count(st);

	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		if (header) {
			csv_field(sqlite3_column_name(st, i));
		} else if (sqlite3_column_type(st, i) == SQLITE_TEXT) {
			csv_field((const char *)sqlite3_column_text(st, i));
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

static void json_row(sqlite3_stmt *st, bool first)
{
	int n = sqlite3_column_count(st);

	printf("%s\n  {", first ? "" : ",");
	for (int i = 0; i < n; i++) {
		printf("%s", i ? ", " : "");
		json_string(sqlite3_column_name(st, i));
		putchar(':');
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_NULL:
			printf("null");
			break;
		case SQLITE_INTEGER:
			printf("%lld", (long long)sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			printf("%.17g", sqlite3_column_double(st, i));
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

/* Run one prepared statement, printing its rows. */
static void run_statement(ToolTrace *tt, sqlite3_stmt *st, enum format fmt, QueryProgress *q)
{
	Table t = {0};
	uint64_t rows = 0;

	if (fmt == JSON)
		putchar('[');
	if (fmt == CSV && sqlite3_column_count(st) > 0)
		csv_row(st, true);
	while (tt_step(tt, st)) {
		before_row(q);
		if (fmt == TABLE)
			table_row(&t, st);
		else if (fmt == CSV)
			csv_row(st, false);
		else
			json_row(st, rows == 0);
		rows++;
	}
	if (fmt == JSON)
		printf("%s]\n", rows ? "\n" : "");
	if (fmt == TABLE && sqlite3_column_count(st) > 0) {
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
	ToolTrace tt;
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
	tt_open(&tt, dir);
	progress_init(&q.p, "querying");
	tt.timeout = timeout;
	trace_sql_limits(tt.t, timeout, query_progress, &q);
	for (tail = sql; *tail;) {
		sqlite3_stmt *st = NULL;
		const char *next;

		if (sqlite3_prepare_v2(tt.db, tail, -1, &st, &next) != SQLITE_OK)
			fatal(EXIT_USAGE, "query: %s", sqlite3_errmsg(tt.db));
		if (!st) /* only blanks or a comment were left */
			break;
		if (!sqlite3_stmt_readonly(st))
			fatal(EXIT_USAGE,
			      "query: only read-only SQL is allowed (refused: %.60s%s); "
			      "use sqlite3 on %s/index.sqlite to change the index",
			      sqlite3_sql(st), strlen(sqlite3_sql(st)) > 60 ? "..." : "", dir);
		run_statement(&tt, st, fmt, &q);
		sqlite3_finalize(st);
		tail = next;
	}
	progress_done(&q.p);
	if (fflush(stdout) != 0)
		fatal(EXIT_INTERNAL, "query: cannot write the output");
	tt_close(&tt);
	return 0;
}
