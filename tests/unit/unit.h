/*
 * unit.h - the few macros the unit tests share.
 *
 * CHECK() records a failure with file, line and the failed expression and
 * goes on, so one run shows every broken assertion; unit_done() prints the
 * count and gives the exit status for main().
 */
#ifndef FB_UNIT_H
#define FB_UNIT_H

#include <inttypes.h>
#include <stdio.h>

static int unit_checks, unit_failures;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		unit_checks++;                                                           \
		if (!(cond)) {                                                           \
			unit_failures++;                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
		}                                                                        \
	} while (0)

/* Compare two integers and show both values when they differ. */
#define CHECK_EQ(a, b)                                                                   \
	do {                                                                             \
		unsigned long long va_ = (unsigned long long)(a);                        \
		unsigned long long vb_ = (unsigned long long)(b);                        \
		unit_checks++;                                                           \
		if (va_ != vb_) {                                                        \
			unit_failures++;                                                 \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (0x%llx != 0x%llx)\n", \
				__FILE__, __LINE__, #a, #b, va_, vb_);                   \
		}                                                                        \
	} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
