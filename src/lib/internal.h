/*
 * internal.h - what the flashback commands share with libflashback but
 * programs do not see (not exported from the shared library).
 */
#ifndef FB_LIB_INTERNAL_H
#define FB_LIB_INTERNAL_H

#include "flashback.h"

struct HistoryWrite;

/* The engine's memory-history write as the library gives it (fb_history's
 * fb_write, its instruction text included): gdb's monitor history prints
 * the lines fb_history's callers get. */
void lib_write_of(const struct HistoryWrite *h, fb_write *w);

#endif
