/*
 * internal.h - what the flashback commands share with libflashback but
 * programs do not see (not exported from the shared library).
 */
#ifndef FB_LIB_INTERNAL_H
#define FB_LIB_INTERNAL_H

#include "flashback.h"

/* For the commands that replay: say on stderr, in one line, which snapshot
 * file the session leaves out (@damage: fb_session_warning(); NULL: none). */
void lib_warn_snapshot(const char *damage);

#endif
