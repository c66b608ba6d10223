/*
 * display.h - the VGA text screen drawn in the terminal (display.c), for
 * -display curses: the machine's private interface between pc.c, which
 * decides whether there is one, and the loop, which refreshes it.
 */
#ifndef FB_DISPLAY_H
#define FB_DISPLAY_H

#include "machine.h"

typedef struct Display Display;

Display *display_new(VGA *vga, FILE *out);
/* Between slices: draw the screen again if it changed and it is time. */
void display_poll(Display *d);
/* The run ended: draw the last screen, leave the terminal below it. */
void display_finish(Display *d);

#endif
