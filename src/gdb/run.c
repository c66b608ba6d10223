/*
 * run.c - run control for gdb: breakpoints, watchpoints, single steps.
 *
 * The CPU has no debug hook, so the stub runs it one instruction at a time
 * (cpu_exec(cpu, icount + 1)) whenever a breakpoint or watchpoint is set or
 * gdb single-steps, and checks after each instruction:
 *   - breakpoints (Z0 and Z1 alike): EIP equals a breakpoint address; the
 *     guest's memory is never patched with 0xCC;
 *   - write watchpoints (Z2, and the write half of Z4): the watched bytes
 *     differ from their copy taken before the instruction.  A write of the
 *     value already there is not seen (gdb would not report it either);
 *   - read watchpoints (Z3, and the read half of Z4): approximated by
 *     decoding the instruction before it runs (see read_watch.c).
 * Without breakpoints and watchpoints a continue runs whole slices.
 */
#include "gdb_int.h"

#include <string.h>

bool break_insert(GdbStub *s, int type, uint32_t addr)
{
	if (s->nbp == GDB_MAX_BREAKPOINTS)
		return false;
	s->bp[s->nbp++] = (Breakpoint){addr, (uint8_t)type};
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
	return true;
}

static void watch_snapshot(GdbStub *s, Watchpoint *w)
{
	w->valid = s->t.read_mem(s->t.opaque, w->addr, w->old, w->len);
}

void watch_snapshot_all(GdbStub *s)
{
	for (int i = 0; i < s->nwp; i++)
		watch_snapshot(s, &s->wp[i]);
}

bool watch_insert(GdbStub *s, int type, uint32_t addr, uint32_t len)
{
	Watchpoint *w;

	if (s->nwp == GDB_MAX_WATCHPOINTS)
		return false;
	w = &s->wp[s->nwp++];
	w->addr = addr;
	w->len = len;
	w->type = (uint8_t)type;
	watch_snapshot(s, w);
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
	return true;
}

bool watch_changed(GdbStub *s, GdbStop *why)
{
	uint8_t now[GDB_MAX_WATCH_LEN];
	bool hit = false;

	for (int i = 0; i < s->nwp; i++) {
		Watchpoint *w = &s->wp[i];
		bool valid = s->t.read_mem(s->t.opaque, w->addr, now, w->len);

		if (w->type != 3 && valid && w->valid && memcmp(now, w->old, w->len) != 0 && !hit) {
			hit = true;
			why->kind = w->type == 2 ? GDB_STOP_WATCH : GDB_STOP_AWATCH;
			why->addr = w->addr;
		}
		w->valid = valid;
		if (valid)
			memcpy(w->old, now, w->len);
	}
	return hit;
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

bool gdb_stop_here(GdbStub *s, GdbStop *why)
{
	return watch_changed(s, why) || breakpoint_at(s, cpu_get_eip(s->t.cpu), why);
}

void gdb_watch_snapshot(GdbStub *s)
{
	watch_snapshot_all(s);
}

void resume(GdbStub *s, bool step)
{
	s->state = step ? RS_STEPPING : RS_RUNNING;
	s->step_from = cpu_icount(s->t.cpu);
	watch_snapshot_all(s);
}

bool gdb_may_run(const GdbStub *s)
{
	return s->state != RS_STOPPED && !s->kill;
}

/* After one retired instruction: should we stop, and why? */
bool stub_should_stop(GdbStub *s, const ReadWatch *rw, GdbStop *why)
{
	if (watch_changed(s, why) || read_watch_hit(s, rw, why))
		return true;
	if (s->state == RS_STEPPING) {
		why->kind = GDB_STOP_TRAP;
		return true;
	}
	return breakpoint_at(s, cpu_get_eip(s->t.cpu), why);
}

enum cpu_exit gdb_exec(GdbStub *s, uint64_t limit)
{
	CPU *cpu = s->t.cpu;

	if (s->state == RS_STOPPED || s->kill)
		return CPU_EXIT_BREAKPOINT;
	if (s->state == RS_FREE || (s->state == RS_RUNNING && !s->nbp && !s->nwp))
		return cpu_exec(cpu, limit);
	while (cpu_icount(cpu) < limit) {
		uint64_t before = cpu_icount(cpu);
		ReadWatch rw;
		enum cpu_exit why;

		read_watch_prepare(s, &rw);
		why = cpu_exec(cpu, before + 1);
		if (cpu_icount(cpu) == before)
			return why; /* halted, reset, or asked to exit: nothing retired */
		if (stub_should_stop(s, &rw, &s->stop)) {
			s->state = RS_STOPPED;
			send_stop(s);
			return CPU_EXIT_BREAKPOINT;
		}
		if (why != CPU_EXIT_LIMIT)
			return why;
	}
	return CPU_EXIT_LIMIT;
}
