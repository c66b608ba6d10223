/*
 * internal.h - what the flashback commands share with libflashback but
 * programs do not see (not exported from the shared library).
 */
#ifndef FB_LIB_INTERNAL_H
#define FB_LIB_INTERNAL_H

#include "flashback.h"

struct CPU;

/* The session's CPU, for the gdb stub, which reads the registers of every
 * target through cpu.h (the replay target never writes them). */
struct CPU *lib_session_cpu(fb_session *s);

/* For the commands that replay: say on stderr, in one line, which snapshot
 * file the session leaves out (@damage: fb_session_warning(); NULL: none). */
void lib_warn_snapshot(const char *damage);

#endif
