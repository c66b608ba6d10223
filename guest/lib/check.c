/*
 * check.c - how test guests report: a "FAIL: ..." line per failed check,
 * then one "PASS name" or "FAIL name" line at the end.
 */
#include "guest.h"

int check_failures;

bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return true;
	check_failures++;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return false;
}

int check_done(const char *name)
{
	if (check_failures) {
		printf("FAIL %s (%d failed checks)\n", name, check_failures);
		return 1;
	}
	printf("PASS %s\n", name);
	return 0;
}
