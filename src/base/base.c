/*
 * base.c - errors, checked allocation, whole-file reading and SIGINT/SIGTERM.
 */
#include "base.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void (*stop_signal_kick)(void);

static void vreport(const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs("flashback: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void fatal(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	exit(status);
}

void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
}

static void *check(void *p, size_t n)
{
	if (!p && n)
		fatal(EXIT_INTERNAL, "out of host memory (%zu bytes)", n);
	return p;
}

void *xmalloc(size_t n)
{
	return check(malloc(n ? n : 1), n);
}

void *xcalloc(size_t n, size_t size)
{
	return check(calloc(n ? n : 1, size ? size : 1), n * size);
}

void *xrealloc(void *p, size_t n)
{
	return check(realloc(p, n ? n : 1), n);
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

uint8_t *read_file(const char *path, size_t *len, char *err)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;

	if (!f) {
		snprintf(err, 256, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, 256, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		snprintf(err, 256, "%s: too large to load (%lld bytes)", path,
			 (long long)st.st_size);
		fclose(f);
		return NULL;
	}
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		snprintf(err, 256, "%s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

/* ---- SIGINT and SIGTERM ----------------------------------------------- */

static volatile sig_atomic_t caught_signal;

/* Only what is safe in a handler: note the signal, end the CPU slice. */
static void on_stop_signal(int sig)
{
	caught_signal = sig;
	if (stop_signal_kick)
		stop_signal_kick();
}

void stop_signals_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a poll() waiting for host input returns at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int stop_signal(void)
{
	return caught_signal;
}

const char *stop_signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}
