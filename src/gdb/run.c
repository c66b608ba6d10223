/*
 * run.c - run control for gdb: breakpoints, watchpoints, single steps.
 *
 * The CPU checks breakpoints and watchpoints itself (src/exec/debug.c), so
 * a continue runs whole slices at block speed whatever is set:
 *   - breakpoints (Z0 and Z1 alike) stop before the instruction at their
 *     EIP however it is reached; the guest's memory is never patched;
 *   - watchpoints (Z2 write, Z3 read, Z4 access) see every data access the
 *     CPU makes to the watched bytes (stack, strings, descriptor tables
 *     included) and every DMA write into them, and stop after the
 *     instruction (or the DMA), whether or not the value changed.
 * The stub hands its lists to the target (set_hooks), or to the CPU when
 * the target has no such function (the live machine).  Every resume lets
 * the instruction at EIP run even if a breakpoint is on it: gdb steps over
 * its own breakpoints anyway, and a resume must make progress.
 */
#include "gdb_int.h"

#include <string.h>

/* Does @a touch watchpoint @w the way it watches? */
static bool matches(const Watchpoint *w, const CPUAccess *a)
{
	uint32_t size = a->size ? a->size : 1;

	if (!a->has_lin || (w->type == 2 && !a->write) || (w->type == 3 && a->write))
		return false;
	return a->lin - w->addr < w->len || w->addr - a->lin < size;
}

bool stub_watch_match(GdbStub *s, const CPUAccess *a, GdbStop *why)
{
	static const enum gdb_stop_kind kinds[] = {
	    [2] = GDB_STOP_WATCH, [3] = GDB_STOP_RWATCH, [4] = GDB_STOP_AWATCH};

	for (int i = 0; i < s->nwp; i++) {
		if (matches(&s->wp[i], a)) {
			*why = (GdbStop){kinds[s->wp[i].type], s->wp[i].addr};
			return true;
		}
	}
	return false;
}

/* The stub's own watch function: stop, saying which watchpoint. */
static bool watch_stop(void *opaque, CPU *cpu, const CPUAccess *a)
{
	GdbStub *s = opaque;

	return stub_watch_match(s, a, &s->stop);
}

void stub_apply_hooks(GdbStub *s)
{
	uint32_t eips[GDB_MAX_BREAKPOINTS];
	CPUWatch w[GDB_MAX_WATCHPOINTS];
	static const uint8_t kinds[] = {
	    [2] = CPU_WATCH_WRITE, [3] = CPU_WATCH_READ, [4] = CPU_WATCH_READ | CPU_WATCH_WRITE};

	for (int i = 0; i < s->nbp; i++)
		eips[i] = s->bp[i].addr;
	for (int i = 0; i < s->nwp; i++)
		w[i] = (CPUWatch){s->wp[i].addr, s->wp[i].len, kinds[s->wp[i].type], false};
	if (s->t.set_hooks) {
		s->t.set_hooks(s->t.opaque, eips, (unsigned)s->nbp, w, (unsigned)s->nwp, watch_stop,
			       s);
	} else {
		cpu_set_breakpoints(s->t.cpu, eips, (unsigned)s->nbp);
		cpu_set_watches(s->t.cpu, w, (unsigned)s->nwp, watch_stop, s);
	}
}

bool break_insert(GdbStub *s, int type, uint32_t addr)
{
	if (s->nbp == GDB_MAX_BREAKPOINTS)
		return false;
	s->bp[s->nbp++] = (Breakpoint){addr, (uint8_t)type};
	stub_apply_hooks(s);
	return true;
}

/* Removing a breakpoint that is not there succeeds: after a reconnect gdb
 * may remove what the previous client inserted, which we already dropped. */
bool break_remove(GdbStub *s, int type, uint32_t addr)
{
	for (int i = 0; i < s->nbp; i++) {
		if (s->bp[i].addr == addr && s->bp[i].type == type) {
			s->bp[i] = s->bp[--s->nbp];
			break;
		}
	}
	stub_apply_hooks(s);
	return true;
}

bool watch_insert(GdbStub *s, int type, uint32_t addr, uint32_t len)
{
	if (s->nwp == GDB_MAX_WATCHPOINTS)
		return false;
	s->wp[s->nwp++] = (Watchpoint){addr, len, (uint8_t)type};
	stub_apply_hooks(s);
	return true;
}

bool watch_remove(GdbStub *s, int type, uint32_t addr, uint32_t len)
{
	for (int i = 0; i < s->nwp; i++) {
		Watchpoint *w = &s->wp[i];

		if (w->addr == addr && w->len == len && w->type == type) {
			*w = s->wp[--s->nwp];
			break;
		}
	}
	stub_apply_hooks(s);
	return true;
}

void stub_clear_points(GdbStub *s)
{
	s->nbp = s->nwp = 0;
	stub_apply_hooks(s);
}

bool breakpoint_at(GdbStub *s, uint32_t eip, GdbStop *why)
{
	for (int i = 0; i < s->nbp; i++) {
		if (s->bp[i].addr == eip) {
			why->kind = s->bp[i].type == 0 ? GDB_STOP_SWBREAK : GDB_STOP_HWBREAK;
			why->addr = eip;
			return true;
		}
	}
	return false;
}

void stub_cpu_stopped(GdbStub *s)
{
	/* a watch stop was described by watch_stop() as it happened */
	if (cpu_stop_reason(s->t.cpu) == CPU_STOP_BREAKPOINT &&
	    !breakpoint_at(s, cpu_get_eip(s->t.cpu), &s->stop))
		s->stop = (GdbStop){GDB_STOP_TRAP, 0};
}

void resume(GdbStub *s, bool step)
{
	s->state = step ? RS_STEPPING : RS_RUNNING;
	stub_apply_hooks(s);
	if (!s->t.cpu)
		return; /* the target runs its own CPU (and steps over a breakpoint) */
	s->step_from = cpu_icount(s->t.cpu);
	cpu_skip_breakpoint(s->t.cpu);
}

bool gdb_may_run(const GdbStub *s)
{
	return s->state != RS_STOPPED && !s->kill;
}

enum cpu_exit gdb_exec(GdbStub *s, uint64_t limit)
{
	CPU *cpu = s->t.cpu;
	enum cpu_exit why;

	if (s->state == RS_STOPPED || s->kill)
		return CPU_EXIT_BREAKPOINT;
	if (s->state == RS_STEPPING && limit > s->step_from + 1)
		limit = s->step_from + 1;
	why = cpu_exec(cpu, limit);
	if (s->state == RS_FREE)
		return why;
	if (why == CPU_EXIT_BREAKPOINT) {
		stub_cpu_stopped(s);
	} else if (s->state == RS_STEPPING && cpu_icount(cpu) > s->step_from) {
		s->stop = (GdbStop){GDB_STOP_TRAP, 0};
	} else {
		return why;
	}
	s->state = RS_STOPPED;
	send_stop(s);
	return CPU_EXIT_BREAKPOINT;
}
