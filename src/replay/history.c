/*
 * history.c - memory history: every write to a range of guest memory, who
 * made it and when, computed by replaying with a watch on the range.
 *
 * The range is physical, so that whatever linear address the writer used
 * (another mapping, the page walker's accessed/dirty bits) and a device's
 * DMA are all seen.  The replay runs at block speed: only the pages of the
 * range take the CPU's slow path (src/exec/debug.c), and the watch function
 * stops it only when the caller has seen enough; the session's cancel
 * function (replay_set_cancel: gdb's Ctrl-C) ends it early.
 */
#include "replay.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct HistoryRun {
	ReplaySession *s;
	uint32_t phys, len;
	history_fn fn;
	void *opaque;
	bool gave_up;
} HistoryRun;

static bool on_write(void *opaque, CPU *cpu, const CPUAccess *a)
{
	HistoryRun *h = opaque;
	HistoryWrite w = {
	    .icount = cpu_icount(cpu), .dma = a->dma, .walker = !a->dma && !a->has_lin};
	uint32_t lo = a->phys > h->phys ? a->phys : h->phys;
	uint32_t hi_a = a->phys + (a->size ? a->size : 1), hi_w = h->phys + h->len;
	uint32_t hi = hi_a < hi_w ? hi_a : hi_w;

	if (!a->write || hi <= lo)
		return false;
	w.phys = lo;
	w.offset = lo - h->phys;
	w.size = hi - lo;
	w.lin = a->has_lin ? a->lin + (lo - a->phys) : 0;
	w.old = a->old ? a->old + (lo - a->phys) : NULL;
	w.now = a->now + (lo - a->phys);
	if (!a->dma) {
		SegReg cs = cpu_get_seg(cpu, S_CS);

		w.cs = cs.sel;
		w.eip = cpu_insn_eip(cpu);
		w.bits = cpu_code_bits(cpu);
		w.insn_len = sizeof(w.insn);
		while (w.insn_len && !cpu_read_linear(cpu, cs.base + w.eip, w.insn, w.insn_len))
			w.insn_len--; /* the instruction's page is mapped: its end may not be */
	}
	if (!h->fn(h->opaque, &w))
		h->gave_up = true;
	return h->gave_up; /* stop right after this write if @fn said so */
}

bool replay_history(ReplaySession *s, uint32_t phys, uint32_t len, uint64_t from, uint64_t to,
		    history_fn fn, void *opaque, char *err, size_t errlen)
{
	HistoryRun h = {s, phys, len, fn, opaque, false};
	CPUWatch w = {phys, len, CPU_WATCH_WRITE, true};
	enum replay_status st = REPLAY_OK;

	if (!len || (uint64_t)phys + len > (1ull << 32)) {
		snprintf(err, errlen, "history: the range must be 1 byte to 4 GiB, below 4 GiB");
		return false;
	}
	if (from > to || from < replay_start_icount(s) || to > replay_end_icount(s)) {
		snprintf(err, errlen,
			 "history: icounts %" PRIu64 " to %" PRIu64
			 " are not within the recording (%" PRIu64 " to %" PRIu64 ")",
			 from, to, replay_start_icount(s), replay_end_icount(s));
		return false;
	}
	st = replay_goto(s, from);
	if (st == REPLAY_OK) {
		replay_set_watches(s, &w, 1, on_write, &h);
		st = replay_forward(s, to);
		replay_set_watches(s, NULL, 0, NULL, NULL);
	}
	if (st == REPLAY_CANCELLED)
		h.gave_up = true;
	if (st == REPLAY_ERROR) {
		snprintf(err, errlen, "%s", replay_error(s));
		return false;
	}
	if (h.gave_up) {
		snprintf(err, errlen, "history: stopped at icount %" PRIu64, replay_icount(s));
		return false;
	}
	return true;
}

bool replay_phys_range(ReplaySession *s, uint32_t lin, uint32_t len, uint32_t *phys)
{
	uint32_t p;

	if (!len || !replay_phys_of(s, lin, phys))
		return false;
	/* every later page must follow on: the history watches one range */
	for (uint64_t a = ((uint64_t)lin | 0xfff) + 1; a < (uint64_t)lin + len; a += 0x1000)
		if (!replay_phys_of(s, (uint32_t)a, &p) || p != *phys + (uint32_t)(a - lin))
			return false;
	return true;
}

bool replay_phys_is_memory(ReplaySession *s, uint32_t phys, uint32_t len)
{
	uint64_t a = phys, end = (uint64_t)phys + len;

	if (!len)
		return false;
	/* a history watches memory: device registers have no writes to list */
	while (a < end) {
		const FlatRange *r = as_lookup(replay_address_space(s), a);

		if (!r || (mr_kind(r->mr) != MR_RAM && mr_kind(r->mr) != MR_ROM))
			return false;
		a = r->end + 1;
	}
	return true;
}

bool replay_phys_of(ReplaySession *s, uint32_t lin, uint32_t *phys)
{
	uint8_t b;

	/* mapped to RAM or ROM: the same test a read by the debugger makes */
	if (!cpu_read_linear(replay_cpu(s), lin, &b, 1))
		return false;
	return cpu_translate(replay_cpu(s), lin, phys);
}

bool replay_history_range(ReplaySession *s, uint64_t addr, uint64_t len, bool phys, uint64_t from,
			  uint64_t to, uint32_t *pa, char *err, size_t errlen)
{
	if (len == 0 || len > HISTORY_MAX_LEN) {
		snprintf(err, errlen, "--len %" PRIu64 ": 1 to %u bytes", len, HISTORY_MAX_LEN);
		return false;
	}
	if (addr > UINT32_MAX || addr + len - 1 > UINT32_MAX) {
		snprintf(err, errlen, "--addr 0x%" PRIx64 " --len %" PRIu64 ": beyond 4 GiB", addr,
			 len);
		return false;
	}
	if (from > to || from < replay_start_icount(s) || to > replay_end_icount(s)) {
		snprintf(err, errlen,
			 "--from %" PRIu64 " --to %" PRIu64 ": the recording spans icount %" PRIu64
			 " to %" PRIu64,
			 from, to, replay_start_icount(s), replay_end_icount(s));
		return false;
	}
	*pa = (uint32_t)addr;
	if (phys && !replay_phys_is_memory(s, *pa, (uint32_t)len)) {
		snprintf(err, errlen,
			 "--addr 0x%" PRIx64 " --len %" PRIu64
			 " --phys: not RAM or ROM (flashback run --dump-mtree shows the machine's map)",
			 addr, len);
		return false;
	}
	if (phys)
		return true;
	/* the linear address as the guest's paging maps it at --from */
	if (replay_goto(s, from) == REPLAY_ERROR) {
		snprintf(err, errlen, "%s", replay_error(s));
		return false;
	}
	if (!replay_phys_of(s, (uint32_t)addr, pa)) {
		snprintf(err, errlen,
			 "--addr 0x%" PRIx64 ": not mapped to RAM at icount %" PRIu64
			 " (give --phys for a physical address)",
			 addr, from);
		return false;
	}
	if (!replay_phys_range(s, (uint32_t)addr, (uint32_t)len, pa)) {
		snprintf(err, errlen,
			 "--addr 0x%" PRIx64 " --len %" PRIu64
			 ": the pages are not one physical range at icount %" PRIu64
			 " (give --phys)",
			 addr, len, from);
		return false;
	}
	return true;
}
