/*
 * loop.c - the main loop: CPU slices, host input, timers and bottom halves.
 *
 * One thread.  Each iteration runs the CPU up to the next deadline (the next
 * virtual timer, the end of the slice, --max-insns), then polls host input
 * without blocking, fires expired timers and runs bottom halves.  When the
 * CPU halts, virtual time jumps to the next timer deadline; only while the
 * guest could be waiting for host input (an open stdin on -serial stdio)
 * does the loop sleep for that time on the host clock instead, so that what
 * the user types arrives at a plausible moment.  With no host input two runs
 * are identical.
 *
 * No guest can keep the loop going without a limit the user set.  A halt
 * that nothing can end (machine_can_wake(): interrupts off, or every source
 * masked or idle) ends the run; with --max-insns N a halt lasts at most as
 * long as N instructions take, since a halted CPU retires none; SIGINT and
 * SIGTERM end the run between slices; a reset before the guest retired a
 * single instruction would repeat forever, so it ends the run too.
 *
 * On a terminal, stdin is put in raw mode and Ctrl-A is the escape key, as
 * in QEMU: Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends Ctrl-A.
 */
#include "machine.h"
#include "display.h"
#include "../gdb/gdb.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Instructions per slice when no deadline is nearer: bounds input latency. */
#define SLICE_INSNS (1u << 20)

static struct termios saved_tio;
static bool tio_saved;

static void restore_terminal(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	tio_saved = false;
}

static void raw_terminal(void)
{
	struct termios tio;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) != 0)
		return;
	tio = saved_tio;
	tio.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	tio.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	tio.c_cflag |= CS8;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) == 0) {
		tio_saved = true;
		atexit(restore_terminal);
	}
}

/* ---- host input -------------------------------------------------------- */

struct input {
	bool open;	    /* stdin may still deliver bytes */
	bool escape;	    /* the last byte was Ctrl-A */
	uint8_t buf[256];   /* bytes read but not yet taken by the UART */
	int len;
};

static int64_t host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns false when the user asked to quit. */
static bool take_byte(Machine *m, struct input *in, uint8_t c)
{
	if (in->escape) {
		in->escape = false;
		switch (c) {
		case 'x':
		case 'X':
			return false;
		case 'h':
		case 'H':
			fprintf(stderr, "\r\nC-a h    print this help\r\nC-a x    exit flashback\r\n"
					"C-a C-a  send C-a\r\n");
			return true;
		case 1:
			break;
		default:
			return true;
		}
	} else if (c == 1 && tio_saved) {
		in->escape = true;
		return true;
	}
	if (in->len < (int)sizeof(in->buf))
		in->buf[in->len++] = c;
	return true;
}

/* Move buffered bytes into the UART's receive FIFO as it has room. */
static void feed_uart(Machine *m, struct input *in)
{
	int n = uart_can_receive(m->uart);

	if (n > in->len)
		n = in->len;
	if (n <= 0)
		return;
	uart_receive(m->uart, in->buf, n);
	memmove(in->buf, in->buf + n, (size_t)(in->len - n));
	in->len -= n;
}

/*
 * Poll stdin for up to @timeout_ms (0: don't wait).  Returns false when the
 * user quit with Ctrl-A x.
 */
static bool poll_input(Machine *m, struct input *in, int timeout_ms)
{
	struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
	uint8_t buf[64];
	ssize_t n, i;

	if (!in->open || in->len >= (int)sizeof(in->buf) - (int)sizeof(buf))
		return true;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return true;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			in->open = false;
		return true;
	}
	for (i = 0; i < n; i++)
		if (!take_byte(m, in, buf[i]))
			return false;
	return true;
}

/* ---- the loop ------------------------------------------------------------ */

static uint64_t slice_limit(Machine *m)
{
	uint64_t now = cpu_icount(m->cpu);
	uint64_t limit = now + SLICE_INSNS;
	int64_t deadline = timers_deadline(m->clock);

	if (deadline != INT64_MAX) {
		uint64_t at = clock_icount_at(m->clock, deadline);
		if (at < limit)
			limit = at > now ? at : now + 1;
	}
	if (m->opt.max_insns && limit > m->opt.max_insns)
		limit = m->opt.max_insns;
	return limit;
}

/*
 * --max-insns N bounds a halt too: the CPU halted since virtual time @since
 * sleeps no longer than N instructions take (N << shift ns).  Otherwise a
 * guest waiting for an interrupt that could come but never does (an RTC
 * alarm set for an hour that does not exist) would never reach the limit.
 */
static int64_t halt_bound(const Machine *m, int64_t since)
{
	uint64_t n = m->opt.max_insns;
	int shift = clock_shift(m->clock);
	int64_t span;

	if (!n)
		return INT64_MAX;
	span = n > ((uint64_t)INT64_MAX >> shift) ? INT64_MAX : (int64_t)(n << shift);
	return span > INT64_MAX - since ? INT64_MAX : since + span;
}

enum idle {
	IDLE_WAITED, /* virtual time moved on: run timers and the CPU again */
	IDLE_NEVER,  /* nothing can ever wake the CPU */
	IDLE_BOUND,  /* the halt reached its --max-insns bound */
	IDLE_QUIT,   /* the user quit (Ctrl-A x) */
};

/*
 * The CPU is halted.  Advance virtual time to the next timer deadline, or to
 * @bound if that is nearer: at once, or - while host input could arrive - by
 * sleeping on the host clock until then or until input comes.
 */
static enum idle idle(Machine *m, struct input *in, int64_t bound)
{
	bool input = in->open && m->opt.serial == SERIAL_STDIO;
	int64_t until = timers_deadline(m->clock), now = clock_ns(m->clock);

	if (!machine_can_wake(m, input))
		return IDLE_NEVER;
	if (now >= bound)
		return IDLE_BOUND;
	if (until > bound)
		until = bound;
	if (!input) {
		if (until == INT64_MAX)
			return IDLE_NEVER; /* not reached: a wake-up needs a timer or input */
		clock_warp(m->clock, until - now);
		return IDLE_WAITED;
	}
	/* Sleep on the host clock for as long as virtual time must pass. */
	{
		int64_t start = host_ns(), wait_ns = until == INT64_MAX ? 100000000 : until - now;
		int ms = (int)(wait_ns > 100000000 ? 100 : (wait_ns + 999999) / 1000000);
		int64_t spent;

		if (!poll_input(m, in, ms))
			return IDLE_QUIT;
		spent = host_ns() - start;
		if (until != INT64_MAX && spent > until - now)
			spent = until - now;
		clock_warp(m->clock, spent > 0 ? spent : 0);
	}
	return IDLE_WAITED;
}

static int finish(Machine *m, enum run_end end, int status)
{
	m->end = end;
	if (m->serial_out)
		fflush(m->serial_out);
	if (m->display)
		display_finish(m->display);
	restore_terminal();
	if (m->gdb)
		gdb_guest_exited(m->gdb, status);
	if (m->opt.stats)
		fprintf(stderr,
			"flashback: icount %" PRIu64 ", virtual time %" PRId64
			" ns, exit status %d\n",
			cpu_icount(m->cpu), clock_ns(m->clock), status);
	return status;
}

/* The run ends on a halt: say why, in one line. */
static int end_of_halt(Machine *m, enum idle why, int64_t since)
{
	uint64_t icount = cpu_icount(m->cpu);

	if (why == IDLE_BOUND) {
		warn("stopped at --max-insns %" PRIu64 ": halted since icount %" PRIu64
		     " for as long as that many instructions take (%" PRId64 " ns)",
		     m->opt.max_insns, icount, clock_ns(m->clock) - since);
		return finish(m, RUN_MAX_INSNS, 0);
	}
	if (!(cpu_get_eflags(m->cpu) & F_IF))
		warn("guest halted at icount %" PRIu64
		     " with interrupts disabled: nothing can wake it",
		     icount);
	else
		warn("guest halted at icount %" PRIu64
		     " with every interrupt source masked or idle: nothing can wake it",
		     icount);
	return finish(m, RUN_HALT, 0);
}

int machine_run(Machine *m)
{
	struct input in = {.open = m->opt.serial == SERIAL_STDIO};
	/* The halt under way: since which icount and virtual time. */
	uint64_t halt_icount = UINT64_MAX;
	int64_t halt_since = 0;
	/* Where the guest started: power-on or its last reset. */
	uint64_t start_icount = cpu_icount(m->cpu);

	if (m->opt.serial == SERIAL_STDIO)
		raw_terminal();
	signal(SIGPIPE, SIG_IGN);
	stop_signals_catch();

	for (;;) {
		enum cpu_exit why;
		enum idle idled;

		bh_run(m->clock);
		timers_run(m->clock);
		if (stop_signal()) {
			warn("stopped by %s at icount %" PRIu64, stop_signal_name(stop_signal()),
			     cpu_icount(m->cpu));
			return finish(m, RUN_SIGNAL, 128 + stop_signal());
		}
		if (m->exit_requested)
			return finish(m, RUN_EXIT, m->exit_status);
		if (m->reset_requested) {
			if (m->opt.no_reboot) {
				warn("guest reset at icount %" PRIu64 " (-no-reboot: exiting)",
				     cpu_icount(m->cpu));
				return finish(m, RUN_RESET, 0);
			}
			machine_reset(m);
			halt_icount = UINT64_MAX;
			start_icount = cpu_icount(m->cpu);
		}
		if (m->opt.max_insns && cpu_icount(m->cpu) >= m->opt.max_insns) {
			warn("stopped at --max-insns %" PRIu64, m->opt.max_insns);
			return finish(m, RUN_MAX_INSNS, 0);
		}
		if (!poll_input(m, &in, 0))
			return finish(m, RUN_QUIT, 0);
		feed_uart(m, &in);
		if (m->serial_out)
			fflush(m->serial_out);
		if (m->display)
			display_poll(m->display);

		if (m->gdb) {
			gdb_poll(m->gdb, 0);
			if (gdb_kill_requested(m->gdb))
				return finish(m, RUN_QUIT, 0);
			if (!gdb_may_run(m->gdb)) {
				gdb_poll(m->gdb, 50); /* gdb holds the CPU: wait for it */
				continue;
			}
		}
		/* With gdb, breakpoints and single steps may end the slice early. */
		why = m->gdb ? gdb_exec(m->gdb, slice_limit(m)) : cpu_exec(m->cpu, slice_limit(m));
		switch (why) {
		case CPU_EXIT_HALT:
			/* a new halt: no halt ends without an instruction retired */
			if (halt_icount != cpu_icount(m->cpu)) {
				halt_icount = cpu_icount(m->cpu);
				halt_since = clock_ns(m->clock);
			}
			idled = idle(m, &in, halt_bound(m, halt_since));
			if (idled == IDLE_QUIT)
				return finish(m, RUN_QUIT, 0);
			if (idled != IDLE_WAITED)
				return end_of_halt(m, idled, halt_since);
			break;
		case CPU_EXIT_TRIPLE_FAULT:
			/* Nothing differs after the reset if the guest did nothing
			 * before it: the same fault would come, forever. */
			if (cpu_icount(m->cpu) == start_icount && !m->opt.no_reboot) {
				warn("triple fault at icount %" PRIu64
				     " before the guest ran an instruction: it would reset and "
				     "fault again forever (stopping)",
				     cpu_icount(m->cpu));
				return finish(m, RUN_RESET, 0);
			}
			warn("triple fault at icount %" PRIu64 ": the machine resets",
			     cpu_icount(m->cpu));
			m->reset_requested = true;
			break;
		case CPU_EXIT_LIMIT:
		case CPU_EXIT_REQUEST:
		case CPU_EXIT_BREAKPOINT:
			break;
		}
	}
}
