/*
 * state.c - saving and restoring the whole CPU state, for snapshots.
 *
 * The state is a flat little-endian byte string: a 4-byte tag, a version,
 * then every architectural and hidden field of struct CPU in a fixed order
 * (registers, lazy flags as they are, segment caches, descriptor tables,
 * control and debug registers, MSRs, the x87, icount and the latches:
 * halted, interrupt shadow, NMI blocking, A20, a pending exception).  Host
 * pointers, the bus, the TLB and the instruction being decoded are not part
 * of it; loading flushes the TLB and decode cache.  The layout is part of the
 * trace format (snapshot files), so a change bumps STATE_VERSION.
 *
 * Neither is the INTR pin nor a pending NMI: they are inputs, driven by the
 * devices in a live machine and by the journal's interrupt events in a
 * replay.  A snapshot taken while the live PIC held INTR up (as it does
 * after reset) would otherwise raise it in a replay that has no PIC to lower
 * it again, and the CPU would take an interrupt the recording never saw.
 * Loading leaves both low.
 */
#include <string.h>

#include "x86.h"

#define STATE_TAG 0x55504346u /* "FCPU" */
#define STATE_VERSION 5u

/* A cursor over the byte string, writing or reading. */
struct sbuf {
	uint8_t *w;
	const uint8_t *r;
	size_t pos, len;
	bool bad;
};

static void put(struct sbuf *b, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		b->w[b->pos++] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(struct sbuf *b, unsigned bytes)
{
	uint64_t v = 0;

	if (b->pos + bytes > b->len) {
		b->bad = true;
		return 0;
	}
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)b->r[b->pos++] << (8 * i);
	return v;
}

/*
 * One walk over the fields serves both directions: FIELD moves @n bytes of
 * lvalue @x to or from the buffer.  Sizes are explicit so the layout never
 * depends on the host's struct layout.
 */
#define FIELD(x, n)                                                                        \
	do {                                                                               \
		if (b->w)                                                                  \
			put(b, (uint64_t)(x), n);                                          \
		else                                                               \
			(x) = (__typeof__(x))get(b, n);                                   \
	} while (0)

static void walk_seg(struct sbuf *b, SegReg *s)
{
	FIELD(s->sel, 2);
	FIELD(s->base, 4);
	FIELD(s->limit, 4);
	FIELD(s->attr, 4);
}

static void walk_fpu(struct sbuf *b, FPU *f)
{
	for (int i = 0; i < 8; i++) {
		FIELD(f->st[i].mant, 8);
		FIELD(f->st[i].se, 2);
	}
	FIELD(f->cw, 2);
	FIELD(f->sw, 2);
	FIELD(f->tw, 2);
	FIELD(f->fop, 2);
	FIELD(f->fip, 4);
	FIELD(f->fdp, 4);
	FIELD(f->fcs, 2);
	FIELD(f->fds, 2);
	FIELD(f->ignne, 1);
}

static void walk_msrs(struct sbuf *b, CPUMsrs *m, uint32_t version)
{
	for (int i = 0; i < 2; i++) {
		FIELD(m->perfevtsel[i], 8);
		FIELD(m->perfctr[i], 8);
	}
	for (int i = 0; i < MTRR_VAR_REGS; i++)
		FIELD(m->mtrr_var[i], 8);
	for (int i = 0; i < MTRR_FIXED_REGS; i++)
		FIELD(m->mtrr_fixed[i], 8);
	FIELD(m->mtrr_def_type, 8);
	FIELD(m->mcg_status, 8);
	/* version 4 and before had no IA32_MISC_ENABLE: its reset value */
	if (version >= 5)
		FIELD(m->misc_enable, 8);
	else
		m->misc_enable = MISC_ENABLE_RESET;
}

static void walk(struct sbuf *b, CPU *cpu)
{
	uint32_t tag = STATE_TAG, version = STATE_VERSION;

	FIELD(tag, 4);
	FIELD(version, 4);
	/* version 3 also held the INTR pin and the NMI latch (read, dropped) */
	if (tag != STATE_TAG || version < 3 || version > STATE_VERSION ||
	    (b->w && version != STATE_VERSION)) {
		b->bad = true;
		return;
	}
	for (int i = 0; i < 8; i++)
		FIELD(cpu->r[i], 4);
	FIELD(cpu->eip, 4);
	FIELD(cpu->flags, 4);
	FIELD(cpu->cc_op, 4);
	FIELD(cpu->cc_bits, 4);
	FIELD(cpu->cc_res, 4);
	FIELD(cpu->cc_a, 4);
	FIELD(cpu->cc_b, 4);
	FIELD(cpu->cc_c, 4);
	for (int s = 0; s < 6; s++)
		walk_seg(b, &cpu->seg[s]);
	walk_seg(b, &cpu->ldtr);
	walk_seg(b, &cpu->tr);
	FIELD(cpu->gdtr.base, 4);
	FIELD(cpu->gdtr.limit, 2);
	FIELD(cpu->idtr.base, 4);
	FIELD(cpu->idtr.limit, 2);
	FIELD(cpu->cr0, 4);
	FIELD(cpu->cr2, 4);
	FIELD(cpu->cr3, 4);
	FIELD(cpu->cr4, 4);
	for (int i = 0; i < 8; i++)
		FIELD(cpu->dr[i], 4);
	FIELD(cpu->dbg_hits, 4);
	FIELD(cpu->cpl, 1);
	FIELD(cpu->icount, 8);
	FIELD(cpu->sysenter_cs, 8);
	FIELD(cpu->sysenter_esp, 8);
	FIELD(cpu->sysenter_eip, 8);
	FIELD(cpu->tsc_adjust, 8);
	walk_msrs(b, &cpu->msrs, version);
	walk_fpu(b, &cpu->fpu);
	FIELD(cpu->a20, 1);
	if (version == 3) {
		bool intr = false, nmi = false;

		FIELD(intr, 1);
		FIELD(nmi, 1);
	}
	FIELD(cpu->nmi_blocked, 1);
	FIELD(cpu->halted, 1);
	FIELD(cpu->shadow, 1);
	FIELD(cpu->in_shadow, 1);
	FIELD(cpu->triple, 1);
	FIELD(cpu->pending_exc, 4);
	FIELD(cpu->pending_err, 4);
	FIELD(cpu->pending_has_err, 1);
	FIELD(cpu->pending_trap, 1);
	FIELD(cpu->delivering, 4);
}

size_t cpu_state_size(void)
{
	static size_t size;

	if (!size) {
		static CPU scratch;
		static uint8_t buf[1024];
		struct sbuf b = {.w = buf};

		walk(&b, &scratch);
		size = b.pos;
	}
	return size;
}

void cpu_state_save(const CPU *cpu, void *buf)
{
	struct sbuf b = {.w = buf};

	walk(&b, (CPU *)cpu); /* writing only reads the CPU */
}

bool cpu_state_load(CPU *cpu, const void *buf, size_t len)
{
	CPU tmp = *cpu;
	struct sbuf b = {.r = buf, .len = len};

	walk(&b, &tmp);
	if (b.bad || b.pos != len || tmp.cc_op > CC_DEC || tmp.cpl > 3 ||
	    tmp.pending_exc < -1 || tmp.pending_exc > 255)
		return false;
	*cpu = tmp;
	cpu->exit_req = false;
	cpu->intr = cpu->nmi_pending = false;
	dbg_refresh(cpu);
	cpu_flush_tlb(cpu); /* the TLB and the decode cache */
	return true;
}

void cpu_get_fpu(const CPU *cpu, CPUFpuRegs *f)
{
	const FPU *u = &cpu->fpu;

	for (int i = 0; i < 8; i++) {
		f->mant[i] = u->st[i].mant;
		f->se[i] = u->st[i].se;
	}
	f->cw = u->cw;
	f->sw = u->sw;
	f->tw = u->tw;
	f->fop = u->fop;
	f->fip = u->fip;
	f->fdp = u->fdp;
	f->fcs = u->fcs;
	f->fds = u->fds;
}

void cpu_set_fpu(CPU *cpu, const CPUFpuRegs *f)
{
	FPU *u = &cpu->fpu;

	for (int i = 0; i < 8; i++) {
		u->st[i].mant = f->mant[i];
		u->st[i].se = f->se[i];
	}
	u->cw = f->cw;
	u->sw = f->sw;
	u->tw = f->tw;
	u->fop = f->fop & 0x7ff;
	u->fip = f->fip;
	u->fdp = f->fdp;
	u->fcs = f->fcs;
	u->fds = f->fds;
}
