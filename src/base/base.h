/*
 * base.h - what every module of Flashback stands on.
 *
 * Error reporting (one clear line, then a defined exit status), checked
 * allocation, whole-file reading, SIGINT/SIGTERM, the virtual clock with
 * its timers and bottom halves, interrupt lines between devices, and the
 * few requests a device may make of the machine (reset, exit, A20).
 *
 * Flashback is single-threaded.  A clock (with its timers and bottom halves)
 * belongs to one machine, which hands it to its devices; the hooks below
 * are the live machine's.  Everything that runs reads time only from a
 * Clock.
 */
#ifndef FB_BASE_H
#define FB_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- errors ---------------------------------------------------------- */

/* Exit statuses used by the command line (documented in README). */
enum {
	EXIT_USAGE = 2,	     /* bad option, missing or malformed input file */
	EXIT_DIVERGENCE = 3, /* replay did not match the recording */
	EXIT_INTERNAL = 4,   /* host failure: out of memory, disk full */
};

/* Print "flashback: <message>" on stderr and exit with @status. */
_Noreturn void fatal(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "flashback: <message>" on stderr and go on. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that never returns NULL: out of memory is fatal(EXIT_INTERNAL). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/*
 * Read a whole file.  On failure returns NULL and leaves a one-line reason
 * (naming the file) in @err, which must hold 256 bytes.
 */
uint8_t *read_file(const char *path, size_t *len, char *err);

/*
 * SIGINT and SIGTERM end a run, a recording or a replay cleanly (the trace
 * closed, the terminal restored) instead of killing the process: once
 * stop_signals_catch() is called, either is noted (stop_signal() returns
 * it, 0 before) and stop_signal_kick ends the CPU slice; the loops check
 * stop_signal() between slices.  Installed whatever the parent left, so a
 * run started with SIGINT ignored (a background job of a script) still ends
 * on it.  The exit status is then 128 + the signal number, as a shell
 * reports a process it killed.
 */
void stop_signals_catch(void);
int stop_signal(void);
const char *stop_signal_name(int sig); /* "SIGINT", "SIGTERM" */

/* ---- text screens (textscreen.c) -------------------------------------
 * A VGA text screen as terminal text: the characters of code page 437 in
 * UTF-8; a row of (character, attribute) pairs printed plainly (trailing
 * blanks left out) or with the attributes as ANSI colours.
 */
const char *text_char_utf8(uint8_t c);
void text_row_print(FILE *out, const uint8_t *cells, unsigned cols, bool color);

/* ---- little-endian access to byte buffers ---------------------------- */

static inline uint16_t ld16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t ld32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t ld64(const void *p)
{
	return ld32(p) | (uint64_t)ld32((const uint8_t *)p + 4) << 32;
}
static inline void st16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
static inline void st32(void *p, uint32_t v)
{
	st16(p, (uint16_t)v);
	st16((uint8_t *)p + 2, (uint16_t)(v >> 16));
}
static inline void st64(void *p, uint64_t v)
{
	st32(p, (uint32_t)v);
	st32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the virtual clock ------------------------------------------------
 *
 * Virtual time in nanoseconds = (icount << shift) + bias.  icount is the
 * number of retired guest instructions (owned by the CPU, read through the
 * pointer given to clock_new; NULL: always 0); bias grows only when the CPU
 * halts and the loop skips ahead to the next timer deadline (clock_warp).
 * Devices read time only through their machine's clock, so two runs of the
 * same guest see the same times.  A replay session has no clock: it has no
 * device, and its time is its CPU's icount.
 */
typedef struct Clock Clock;
Clock *clock_new(const uint64_t *icount, int shift);
/* Start @c again on @icount at @shift, without a warp (its timers stay). */
void clock_init(Clock *c, const uint64_t *icount, int shift);
/* Frees the clock; its timers must be freed first. */
void clock_free(Clock *c);
int64_t clock_ns(const Clock *c);
int clock_shift(const Clock *c);
/* Advance virtual time by @ns without retiring instructions (halt, tests). */
void clock_warp(Clock *c, int64_t ns);
/* The icount at which virtual time reaches @ns (rounded up). */
uint64_t clock_icount_at(const Clock *c, int64_t ns);
/* Called when a timer becomes the earliest or a bottom half is scheduled:
 * the machine ends its CPU slice (NULL: nothing). */
void clock_set_kick(Clock *c, void (*kick)(void *opaque), void *opaque);

/* ---- timers on a virtual clock ----------------------------------------- */

typedef void TimerFn(void *opaque);
typedef struct Timer Timer;

Timer *timer_new(Clock *c, TimerFn *fn, void *opaque);
void timer_free(Timer *t);
/* Arm (or re-arm) @t to fire once virtual time >= @expire_ns. */
void timer_mod(Timer *t, int64_t expire_ns);
void timer_del(Timer *t);
bool timer_pending(const Timer *t);
int64_t timer_expire(const Timer *t);
/* Earliest armed expiry on @c, or INT64_MAX when no timer is armed. */
int64_t timers_deadline(const Clock *c);
/* Fire every timer of @c whose expiry is <= clock_ns(c), in expiry order. */
void timers_run(Clock *c);

/* ---- bottom halves: work deferred to the next loop iteration --------- */

void bh_schedule(Clock *c, TimerFn *fn, void *opaque);
/* Run all scheduled bottom halves (including ones they schedule). */
void bh_run(Clock *c);

/* ---- interrupt lines -------------------------------------------------- */

typedef void IRQHandler(void *opaque, int n, int level);

/* One input line of an interrupt sink (a PIC pin, the CPU INTR pin...). */
typedef struct IRQ {
	IRQHandler *handler;
	void *opaque;
	int n;
} IRQ;

static inline void irq_set(const IRQ *irq, int level)
{
	if (irq && irq->handler)
		irq->handler(irq->opaque, irq->n, level);
}
static inline void irq_raise(const IRQ *irq)
{
	irq_set(irq, 1);
}
static inline void irq_lower(const IRQ *irq)
{
	irq_set(irq, 0);
}
static inline void irq_pulse(const IRQ *irq)
{
	irq_set(irq, 1);
	irq_set(irq, 0);
}

/* ---- requests from devices to their machine ----------------------------
 *
 * Each machine fills in one MachineRequests and gives its address to the
 * devices that may ask (unit tests give their own).  A NULL function is
 * ignored.  Each may be called in the middle of an instruction's I/O
 * access: the machine only notes the request and acts on it between
 * instructions.
 */
typedef struct MachineRequests {
	void *opaque;
	void (*reset)(void *opaque);		/* 8042 pulse (0xFE), port 0x92 bit 0, 0xCF9 */
	void (*exit)(void *opaque, int status); /* isa-debug-exit, power off */
	void (*set_a20)(void *opaque, bool on); /* 8042 output port bit 1, port 0x92 bit 1 */
} MachineRequests;

static inline void request_reset(const MachineRequests *r)
{
	if (r && r->reset)
		r->reset(r->opaque);
}
static inline void request_exit(const MachineRequests *r, int status)
{
	if (r && r->exit)
		r->exit(r->opaque, status);
}
static inline void request_a20(const MachineRequests *r, bool on)
{
	if (r && r->set_a20)
		r->set_a20(r->opaque, on);
}

/* What a stop signal calls to end the running CPU slice (signals are the
 * process's: the machine being run sets it; NULL: nothing). */
extern void (*stop_signal_kick)(void);

#endif
