/*
 * cpu.c - the CPU object: creation, reset, the state accessors, the dump and
 * state hash, and the execution loop with its interrupt checks.
 *
 * The loop checks, in this order: a pending exception to deliver, the
 * icount limit, an exit request, NMI, INTR (unless in an interrupt shadow),
 * HLT; then it runs a block of decoded instructions (dcache.c).  Inside a
 * block none of these can change: every instruction that could change them
 * ends its block, and what devices do in the middle of an instruction (an
 * MMIO access, cpu_set_intr, cpu_request_exit, a cache flush) sets cpu->brk,
 * which stops the block after that instruction.  So the checks still happen
 * at every boundary where their outcome could differ, and icount stays
 * exact: the block is cut short at the limit, each instruction counts one.
 * With TF, RF, debug registers or an interrupt shadow the loop runs one
 * instruction at a time.  Exceptions unwind the instruction with longjmp
 * back into cpu_exec().
 */
#include <stdlib.h>
#include <string.h>

#include "jit.h"

static const SegReg seg_reset = {0, 0, 0xffff, 0x93};

/* Exceptions delivered in a row without a retired instruction before the
 * CPU is declared stuck (reported as a shutdown). */
#define STUCK_LIMIT 100000u

CPU *cpu_new(const CPUBus *bus)
{
	CPU *cpu = xcalloc(1, sizeof(*cpu));

	cpu->bus = *bus;
	dc_alloc(cpu);
	cpu_set_accel(cpu, cpu_default_accel());
	if (cpu->bus.memory)
		as_add_listener(cpu->bus.memory, mmu_as_changed, cpu);
	cpu_reset(cpu);
	return cpu;
}

void cpu_free(CPU *cpu)
{
	dc_free(cpu);
	jit_free(cpu);
	free(cpu);
}

void cpu_reset(CPU *cpu)
{
	memset(cpu->r, 0, sizeof(cpu->r));
	/* EDX holds the processor signature after RESET: family 6 model 1 */
	cpu->r[R_EDX] = CPUID_SIGNATURE;
	cpu->eip = 0xfff0;
	cpu->flags = 0x2;
	cpu->cc_op = CC_EAGER;
	for (int s = 0; s < 6; s++)
		cpu->seg[s] = seg_reset;
	cpu->seg[S_CS] = (SegReg){0xf000, 0xffff0000, 0xffff, 0x9b};
	cpu->ldtr = (SegReg){0, 0, 0xffff, 0x82};
	cpu->tr = (SegReg){0, 0, 0xffff, 0x8b};
	cpu->gdtr = (DescTable){0, 0xffff};
	cpu->idtr = (DescTable){0, 0xffff};
	cpu->cr0 = CR0_CD | CR0_NW | CR0_ET;
	cpu->cr2 = cpu->cr3 = cpu->cr4 = 0;
	memset(cpu->dr, 0, sizeof(cpu->dr));
	cpu->dr[6] = 0xffff0ff0;
	cpu->dr[7] = 0x400;
	dbg_update(cpu);
	cpu->cpl = 0;
	cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
	/* RESET disables the MTRRs (MTRRdefType = 0), stops the counters and
	 * clears MCG_STATUS; the rest of the MTRRs are undefined: zero here */
	memset(&cpu->msrs, 0, sizeof(cpu->msrs));
	cpu->msrs.misc_enable = MISC_ENABLE_RESET;
	cpu->tsc_adjust = 0;
	fpu_reset(&cpu->fpu);
	cpu->fpu.tw = 0xffff;
	cpu->a20 = true;
	/* nothing is pending after RESET: a level the INTR pin held before it
	 * counts again only when a device drives the pin anew (cpu_set_intr) */
	cpu->intr = false;
	cpu->nmi_pending = cpu->nmi_blocked = false;
	cpu->halted = cpu->exit_req = cpu->shadow = cpu->in_shadow = false;
	cpu->triple = false;
	cpu->stuck = 0;
	cpu->pending_exc = -1;
	cpu->delivering = -1;
	tlb_flush(cpu);
	dc_flush(cpu);
}

/* ---- flags ----------------------------------------------------------- */

uint32_t cpu_flags(CPU *cpu)
{
	if (cpu->cc_op != CC_EAGER) {
		cpu->flags = (cpu->flags & ~FLAGS_ARITH) | cc_compute(cpu);
		cpu->cc_op = CC_EAGER;
	}
	return cpu->flags;
}

/* Replace the EFLAGS bits in @mask with those of @v (bit 1 always set). */
void cpu_load_flags(CPU *cpu, uint32_t v, uint32_t mask)
{
	uint32_t old = cpu_flags(cpu);

	cpu->flags = ((old & ~mask) | (v & mask) | 2) & 0x003f7fd7u;
	if ((old ^ cpu->flags) & F_VM)
		cpu_mode_changed(cpu);
}

/* CPL, VM or paging mode changed: the TLB's user/supervisor split still
 * holds, nothing is cached per mode yet beyond that. */
void cpu_mode_changed(CPU *cpu)
{
	/* CPL: 0 in real mode, 3 in virtual-8086 mode, else CS.RPL */
	cpu->cpl = !pmode(cpu) ? 0 : v86(cpu) ? 3 : cpu->seg[S_CS].sel & 3u;
}

/* ---- debug registers ----------------------------------------------- */

/* DR7 field of breakpoint @n: enabled (L or G), R/W type, length in bytes. */
static bool dbg_enabled(const CPU *cpu, int n)
{
	return (cpu->dr[7] >> (2 * n)) & 3;
}

static unsigned dbg_type(const CPU *cpu, int n)
{
	return (cpu->dr[7] >> (16 + 4 * n)) & 3;
}

static unsigned dbg_len(const CPU *cpu, int n)
{
	static const uint8_t lens[4] = {1, 2, 8, 4};

	return lens[(cpu->dr[7] >> (18 + 4 * n)) & 3];
}

void dbg_update(CPU *cpu)
{
	cpu->dbg_insn = cpu->dbg_data = false;
	for (int n = 0; n < 4; n++) {
		if (!dbg_enabled(cpu, n))
			continue;
		if (dbg_type(cpu, n) == 0)
			cpu->dbg_insn = true;
		else if (dbg_type(cpu, n) != 2) /* 2: I/O, needs CR4.DE; not supported */
			cpu->dbg_data = true;
	}
}

/* A data access at [lin, lin+size): note the breakpoints it hits; the #DB
 * trap comes after the instruction. */
void dbg_data_check(CPU *cpu, uint32_t lin, unsigned size, bool write)
{
	for (int n = 0; n < 4; n++) {
		unsigned type = dbg_type(cpu, n), len = dbg_len(cpu, n);
		uint32_t a = cpu->dr[n] & ~(len - 1);

		if (!dbg_enabled(cpu, n) || type == 0 || type == 2 || (type == 1 && !write))
			continue;
		if (lin <= a + len - 1 && a <= lin + size - 1)
			cpu->dbg_hits |= 1u << n;
	}
}

/* An instruction breakpoint on the instruction about to run: a fault. */
static void dbg_insn_check(CPU *cpu)
{
	uint32_t lin = cpu->seg[S_CS].base + cpu->eip, hits = 0;

	if (cpu->flags & F_RF)
		return;
	for (int n = 0; n < 4; n++)
		if (dbg_enabled(cpu, n) && dbg_type(cpu, n) == 0 && cpu->dr[n] == lin)
			hits |= 1u << n;
	if (hits) {
		cpu->dr[6] = (cpu->dr[6] & ~0xfu) | hits;
		cpu_fault(cpu, EX_DB);
	}
}

/* ---- the loop -------------------------------------------------------- */

/*
 * What a fault must undo.  Instruction handlers change no general register
 * but ESP before their last possible fault (they read and write memory
 * first), so ESP, EFLAGS with the lazy flags, and EIP are all there is to
 * save.  (Copying all eight registers costs a store-forwarding stall per
 * instruction.)
 */
static inline uint32_t ld_word(const uint32_t *p)
{
	uint32_t v = *p;

	/* one 32-bit load per field: the compiler would pair neighbours into
	 * 64-bit loads, which cannot be forwarded from the handler's 32-bit
	 * stores just before and stall */
	__asm__("" : "+r"(v));
	return v;
}

static inline __attribute__((always_inline)) void save_regs(CPU *cpu)
{
	cpu->saved = true;
	cpu->save_esp = ld_word(&cpu->r[R_ESP]);
	cpu->save_flags = ld_word(&cpu->flags);
	cpu->save_cc[0] = ld_word(&cpu->cc_op);
	cpu->save_cc[1] = ld_word(&cpu->cc_bits);
	cpu->save_cc[2] = ld_word(&cpu->cc_res);
	cpu->save_cc[3] = ld_word(&cpu->cc_a);
	cpu->save_cc[4] = ld_word(&cpu->cc_b);
	cpu->save_cc[5] = ld_word(&cpu->cc_c);
}

static inline __attribute__((always_inline)) void save_state(CPU *cpu)
{
	save_regs(cpu);
	cpu->start_eip = cpu->eip;
}

void cpu_restore_state(CPU *cpu)
{
	cpu->eip = cpu->start_eip;
	if (!cpu->saved)
		return; /* the instruction changed neither (Insn.save) */
	cpu->r[R_ESP] = cpu->save_esp;
	cpu->flags = cpu->save_flags;
	cpu->cc_op = cpu->save_cc[0];
	cpu->cc_bits = cpu->save_cc[1];
	cpu->cc_res = cpu->save_cc[2];
	cpu->cc_a = cpu->save_cc[3];
	cpu->cc_b = cpu->save_cc[4];
	cpu->cc_c = cpu->save_cc[5];
}

void cpu_begin(CPU *cpu)
{
	save_state(cpu);
}

/* One instruction with the single-step, debug register and shadow rules;
 * @tb: its block if cached. */
static void step(CPU *cpu, TB *tb)
{
	bool tf = cpu->flags & F_TF, rf = cpu->flags & F_RF;

	cpu->in_shadow = cpu->shadow;
	cpu->shadow = false;
	save_state(cpu);
	if (cpu->dbg_insn)
		dbg_insn_check(cpu);
	cpu->dbg_hits = 0;
	cpu->in_insn = true;
	Insn *in = tb ? tb->insn : dc_slow_decode(cpu);

	cpu->eip += in->len;
	if (!code32(cpu))
		cpu->eip &= 0xffff;
	in->fn(cpu, in);
	cpu->in_insn = false;
	if (cpu->dc_pending)
		dc_settle(cpu);
	cpu->icount++;
	cpu->stuck = 0;
	if (cpu->io_done)
		code_pages_check(cpu); /* a device may have written code by DMA */
	if (rf)
		cpu->flags &= ~F_RF; /* RF covers one instruction */
	if ((tf || cpu->dbg_hits) && !cpu->halted) {
		/* single-step and data breakpoint traps after the instruction */
		cpu->dr[6] = (cpu->dr[6] & ~0xfu) | cpu->dbg_hits | (tf ? 0x4000 : 0);
		cpu->dbg_hits = 0;
		save_state(cpu);
		cpu_interrupt(cpu, EX_DB, false, false, 0);
	}
}

/* Interpret the instructions [in, end) of a block; returns the last one
 * that retired (a device, a code write or a watch may stop it early). */
static Insn *interp_block(CPU *cpu, Insn *in, Insn *end)
{
	for (;;) {
		if (in->save) {
			save_state(cpu);
		} else {
			cpu->saved = false;
			cpu->start_eip = cpu->eip;
		}
		cpu->eip += in->len;
		in->fn(cpu, in);
		cpu->icount++;
		cpu->stuck = 0;
		if (++in == end || cpu->brk)
			return in - 1;
	}
}

/*
 * Nothing that the loop in cpu_exec() checks before the next block can make
 * a difference: the block just run ended with a near jump or ran on
 * (last_tb), nothing is pending, no interrupt can be taken, no breakpoint or
 * single-step rule applies, and the limit is not reached.  Then the loop
 * would do nothing but tb_next(), and run_block() may do that itself.
 */
/* take_interrupt() would do nothing, and nothing else is pending: what the
 * loop checks before a block, but for the icount limit.  A block that does
 * not end FLOW_END changes none of it but through cpu->brk (x86.h: IF, TF,
 * RF, the shadow and debug registers change only in FLOW_END instructions;
 * INTR, NMI, exit requests and watches set cpu->brk). */
static inline bool quiet(const CPU *cpu)
{
	return !cpu->dbg_stop && !cpu->triple && cpu->pending_exc < 0 && !cpu->exit_req &&
	       !cpu->shadow && !(cpu->intr && (cpu->flags & F_IF) && cpu->bus.intack) &&
	       !(cpu->nmi_pending && !cpu->nmi_blocked) && !cpu->halted && !cpu->nbp &&
	       !(cpu->flags & (F_TF | F_RF)) && !cpu->dbg_insn && !cpu->dbg_data;
}

static inline bool may_chain(const CPU *cpu, uint64_t limit)
{
	return cpu->last_tb && cpu->icount < limit && quiet(cpu);
}

/*
 * Run block @tb up to the icount @limit.  Its instructions lie inside the
 * CS limit without wrapping (tb_find), so EIP just advances.  A REP string
 * instruction at its end repeats in place, one iteration per count.  The
 * host code of a block (jit.c) does what interp_block() does; it runs
 * whole blocks only: one cut short by the limit (a breakpoint, an exact
 * stop, the next journal event) is interpreted.  With the host-code
 * backend, the blocks that follow run from here too while may_chain().
 */
static void run_block(CPU *cpu, TB *tb, uint64_t limit)
{
	for (;;) {
		Insn *in = tb->insn, *end = in + tb->n;
		JitFn *code = NULL;

		if (limit - cpu->icount < tb->n)
			end = in + (limit - cpu->icount);
		else if (cpu->use_jit)
			code = tb->code ? (JitFn *)tb->code : jit_block(cpu, tb);
		cpu->in_shadow = false;
		cpu->brk = false;
		cpu->in_insn = true;
		if (code) {
			/* the block's code goes on to the next block itself
			 * (jit_x64.c) while nothing asks to stop and neither
			 * a block ending FLOW_END nor the limit comes: none of
			 * what quiet() checks changes without cpu->brk then */
			cpu->jit_tb = tb;
			cpu->jit_limit = quiet(cpu) && !cpu->block_hook ? limit : 0;
			cpu->jit_flat = jit_flat_state(cpu);
			in = code(cpu);
			tb = cpu->jit_tb;
			if (!in) {
				/* its code is for other segments: interpret
				 * the block (whole: it fits under the limit,
				 * a chained jump checked), compile it again */
				tb->code = NULL;
				tb->runs = 0;
				in = interp_block(cpu, tb->insn, tb->insn + tb->n);
			}
		} else {
			in = interp_block(cpu, in, end);
		}
		if (in->flow == FLOW_REP) {
			while (cpu->eip == cpu->start_eip && !cpu->brk && cpu->icount < limit) {
				if (cpu->use_jit && jit_rep_bulk(cpu, in, limit))
					continue;
				/* start_eip stays: the same instruction again */
				if (in->save)
					save_state(cpu);
				cpu->eip += in->len;
				in->fn(cpu, in);
				cpu->icount++;
			}
		}
		cpu->in_insn = false;
		/* nothing stopped it and it ended with a near jump (or ran on):
		 * the next block may be found from this one (tb_next) */
		cpu->last_tb = cpu->brk || in->flow == FLOW_END ? NULL : tb;
		if (cpu->dc_pending)
			dc_settle(cpu);
		if (cpu->io_done)
			code_pages_check(cpu); /* a device may have written code by DMA */
		if (cpu->block_hook)
			cpu->block_hook(cpu->block_hook_opaque, cpu);
		if (!cpu->use_jit || !may_chain(cpu, limit))
			return;
		cpu->skip_bp = false;
		tb = tb_next(cpu);
		if (!tb)
			return; /* the loop steps through it */
	}
}

void cpu_set_block_hook(CPU *cpu, void (*fn)(void *opaque, CPU *cpu), void *opaque)
{
	cpu->block_hook = fn;
	cpu->block_hook_opaque = opaque;
}

static bool take_interrupt(CPU *cpu)
{
	if (cpu->nmi_pending && !cpu->nmi_blocked) {
		cpu->nmi_pending = false;
		cpu->nmi_blocked = true;
		cpu->halted = false;
		if (cpu->bus.nmi_ack)
			cpu->bus.nmi_ack(cpu->bus.opaque);
		save_state(cpu);
		cpu_interrupt(cpu, EX_NMI, false, false, 0);
		return true;
	}
	if (cpu->intr && (cpu->flags & F_IF) && cpu->bus.intack) {
		int vec = cpu->bus.intack(cpu->bus.opaque);

		if (vec < 0)
			return false;
		cpu->halted = false;
		save_state(cpu);
		cpu_interrupt(cpu, vec & 0xff, false, false, 0);
		return true;
	}
	return false;
}

enum cpu_exit cpu_exec(CPU *cpu, uint64_t limit)
{
	/* devices ran since the last slice: DMA may have written code */
	code_pages_check(cpu);
	cpu->last_tb = NULL;
	setjmp(cpu->jb);
	cpu->last_tb = NULL;
	cpu->fetching = false; /* a fault in the middle of a fetch lands here */
	/* a fault may have left the instruction with flushes deferred */
	dc_settle(cpu);
	if (cpu->io_done)
		code_pages_check(cpu);
	for (;;) {
		if (__builtin_expect(cpu->dbg_stop, 0)) {
			/* a watch asked: after the accessing instruction, first */
			cpu->dbg_stop = false;
			cpu->stop_reason = CPU_STOP_WATCH;
			return CPU_EXIT_BREAKPOINT;
		}
		if (cpu->triple)
			return CPU_EXIT_TRIPLE_FAULT;
		if (cpu->pending_exc >= 0) {
			/* a handler that faults at once, forever, retires nothing:
			 * no icount limit would ever stop it, so call it a shutdown */
			if (++cpu->stuck > STUCK_LIMIT) {
				cpu->stuck = 0;
				cpu->pending_exc = -1;
				cpu->triple = true;
				return CPU_EXIT_TRIPLE_FAULT;
			}
			/* the faulting instruction may have left only EIP saved
			 * (Insn.save): a fault in the delivery restores this */
			if (!cpu->saved)
				save_regs(cpu);
			cpu->last_tb = NULL;
			cpu_deliver_pending(cpu);
			continue;
		}
		if (cpu->icount >= limit)
			return CPU_EXIT_LIMIT;
		if (cpu->exit_req) {
			cpu->exit_req = false;
			return CPU_EXIT_REQUEST;
		}
		if (cpu->shadow) {
			/* the shadow covers exactly one boundary */
			if (cpu->halted)
				cpu->shadow = false;
		} else if (take_interrupt(cpu)) {
			cpu->last_tb = NULL;
			cpu->skip_bp = false; /* the skip was for the interrupted instruction */
			/* a trap gate leaves IF set: nested deliveries count too */
			if (++cpu->stuck > STUCK_LIMIT) {
				cpu->stuck = 0;
				cpu->triple = true;
				return CPU_EXIT_TRIPLE_FAULT;
			}
			continue;
		}
		if (cpu->halted)
			return CPU_EXIT_HALT;
		TB *tb = cpu->last_tb ? tb_next(cpu) : tb_find(cpu);
		uint64_t lim = limit;

		if (__builtin_expect(cpu->nbp, 0)) {
			/* stop before the first instruction with a breakpoint */
			unsigned n = tb ? bp_run_length(cpu, tb) : !bp_at(cpu, cpu->eip);

			if (n == 0) {
				cpu->last_tb = NULL;
				cpu->stop_reason = CPU_STOP_BREAKPOINT;
				return CPU_EXIT_BREAKPOINT;
			}
			if (lim - cpu->icount > n)
				lim = cpu->icount + n;
		}
		if (tb && !(cpu->flags & (F_TF | F_RF)) && !cpu->shadow && !cpu->dbg_insn &&
		    !cpu->dbg_data)
			run_block(cpu, tb, lim);
		else
			step(cpu, tb);
		cpu->skip_bp = false;
	}
}

/* These three may come from a device in the middle of an instruction: the
 * running block stops after it, so the loop sees them at the boundary. */
void cpu_request_exit(CPU *cpu)
{
	cpu->exit_req = true;
	cpu->brk = true;
}

void cpu_set_intr(CPU *cpu, bool level)
{
	cpu->intr = level;
	cpu->brk = true;
}

void cpu_nmi(CPU *cpu)
{
	cpu->nmi_pending = true;
	cpu->brk = true;
}

void cpu_set_a20(CPU *cpu, bool on)
{
	if (cpu->a20 != on) {
		cpu->a20 = on;
		tlb_flush(cpu);
	}
}

/* ---- state access ---------------------------------------------------- */

uint64_t cpu_icount(const CPU *cpu)
{
	return cpu->icount;
}

const uint64_t *cpu_icount_ptr(const CPU *cpu)
{
	return &cpu->icount;
}

void cpu_set_icount(CPU *cpu, uint64_t icount)
{
	cpu->icount = icount;
}

bool cpu_halted(const CPU *cpu)
{
	return cpu->halted;
}

uint32_t cpu_get_reg(const CPU *cpu, int r)
{
	return cpu->r[r & 7];
}

void cpu_set_reg(CPU *cpu, int r, uint32_t v)
{
	cpu->r[r & 7] = v;
}

uint32_t cpu_get_eip(const CPU *cpu)
{
	return cpu->eip;
}

uint32_t cpu_insn_eip(const CPU *cpu)
{
	return cpu->start_eip;
}

int cpu_code_bits(const CPU *cpu)
{
	/* EFLAGS.VM is never lazy: no need to work out the arithmetic flags */
	if (!pmode(cpu) || v86(cpu))
		return 16;
	return code32(cpu) ? 32 : 16;
}

void cpu_set_eip(CPU *cpu, uint32_t eip)
{
	cpu->eip = eip;
	cpu->halted = false;
}

uint32_t cpu_get_eflags(const CPU *cpu)
{
	if (cpu->cc_op == CC_EAGER)
		return cpu->flags;
	return (cpu->flags & ~FLAGS_ARITH) | cc_compute(cpu);
}

void cpu_set_eflags(CPU *cpu, uint32_t eflags)
{
	cpu->cc_op = CC_EAGER;
	cpu->flags = (eflags | 2) & 0x003f7fd7u;
	cpu_mode_changed(cpu);
}

SegReg cpu_get_seg(const CPU *cpu, int s)
{
	return cpu->seg[s];
}

void cpu_set_seg(CPU *cpu, int s, SegReg seg)
{
	cpu->seg[s] = seg;
	if (s == S_CS)
		cpu_mode_changed(cpu);
}

uint32_t cpu_get_cr(const CPU *cpu, int n)
{
	switch (n) {
	case 0:
		return cpu->cr0;
	case 2:
		return cpu->cr2;
	case 3:
		return cpu->cr3;
	case 4:
		return cpu->cr4;
	}
	return 0;
}

void cpu_set_cr(CPU *cpu, int n, uint32_t v)
{
	switch (n) {
	case 0:
		cpu->cr0 = v | CR0_ET;
		cpu_mode_changed(cpu);
		break;
	case 2:
		cpu->cr2 = v;
		break;
	case 3:
		cpu->cr3 = v;
		break;
	case 4:
		cpu->cr4 = v;
		break;
	}
	tlb_flush(cpu);
}

DescTable cpu_get_gdtr(const CPU *cpu)
{
	return cpu->gdtr;
}

void cpu_set_gdtr(CPU *cpu, DescTable t)
{
	cpu->gdtr = t;
}

DescTable cpu_get_idtr(const CPU *cpu)
{
	return cpu->idtr;
}

void cpu_set_idtr(CPU *cpu, DescTable t)
{
	cpu->idtr = t;
}

void cpu_set_flat32(CPU *cpu, uint32_t eip)
{
	cpu->cr0 = (cpu->cr0 | CR0_PE) & ~CR0_PG;
	cpu->seg[S_CS] = (SegReg){0x10, 0, 0xffffffff, 0xc09b};
	for (int s = 0; s < 6; s++)
		if (s != S_CS)
			cpu->seg[s] = (SegReg){0x18, 0, 0xffffffff, 0xc093};
	cpu->cpl = 0;
	cpu->eip = eip;
	cpu_set_eflags(cpu, 2);
	cpu->halted = false;
	tlb_flush(cpu);
}

bool cpu_translate(CPU *cpu, uint32_t lin, uint32_t *phys)
{
	return mmu_probe(cpu, lin, phys);
}

bool cpu_read_linear(CPU *cpu, uint32_t addr, void *buf, uint32_t len)
{
	uint8_t *out = buf;

	for (uint32_t i = 0; i < len; i++) {
		uint32_t phys;

		if (!mmu_probe(cpu, addr + i, &phys))
			return false;
		/* RAM and ROM only: a device read would have side effects */
		const FlatRange *fr = as_lookup(cpu->bus.memory, phys);

		if (!fr || (mr_kind(fr->mr) != MR_RAM && mr_kind(fr->mr) != MR_ROM))
			return false;
		out[i] = mr_host(fr->mr)[fr->mr_offset + (phys - fr->start)];
	}
	return true;
}

/* ---- dump and hash --------------------------------------------------- */

static void dump_seg(FILE *out, const char *name, const SegReg *s)
{
	fprintf(out, "%s=%04x %08x %08x %08x\n", name, s->sel, s->base, s->limit,
		(s->attr << 8) & 0x00f0ff00u);
}

void cpu_dump(const CPU *cpu, FILE *out)
{
	static const char *const names[6] = {"ES ", "CS ", "SS ", "DS ", "FS ", "GS "};
	uint32_t fl = cpu_get_eflags(cpu);

	fprintf(out, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n", cpu->r[R_EAX], cpu->r[R_EBX],
		cpu->r[R_ECX], cpu->r[R_EDX]);
	fprintf(out, "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n", cpu->r[R_ESI], cpu->r[R_EDI],
		cpu->r[R_EBP], cpu->r[R_ESP]);
	fprintf(out, "EIP=%08x EFL=%08x [%c%c%c%c%c%c%c] CPL=%u II=%d A20=%d SMM=0 HLT=%d\n",
		cpu->eip, fl, fl & F_DF ? 'D' : '-', fl & F_OF ? 'O' : '-', fl & F_SF ? 'S' : '-',
		fl & F_ZF ? 'Z' : '-', fl & F_AF ? 'A' : '-', fl & F_PF ? 'P' : '-',
		fl & F_CF ? 'C' : '-', cpu->cpl, cpu->shadow, cpu->a20, cpu->halted);
	for (int s = 0; s < 6; s++)
		dump_seg(out, names[s], &cpu->seg[s]);
	dump_seg(out, "LDT", &cpu->ldtr);
	dump_seg(out, "TR ", &cpu->tr);
	fprintf(out, "GDT=     %08x %08x\n", cpu->gdtr.base, cpu->gdtr.limit);
	fprintf(out, "IDT=     %08x %08x\n", cpu->idtr.base, cpu->idtr.limit);
	fprintf(out, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", cpu->cr0, cpu->cr2, cpu->cr3,
		cpu->cr4);
	fprintf(out, "DR0=%08x DR1=%08x DR2=%08x DR3=%08x\n", cpu->dr[0], cpu->dr[1], cpu->dr[2],
		cpu->dr[3]);
	fprintf(out, "DR6=%08x DR7=%08x\n", cpu->dr[6], cpu->dr[7]);
	fprintf(out, "FCW=%04x FSW=%04x FTW=%04x\n", cpu->fpu.cw, cpu->fpu.sw, cpu->fpu.tw);
}

/* FNV-1a, 64-bit, fed field by field so that padding never enters. */
static uint64_t fnv(uint64_t h, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t hash_seg(uint64_t h, const SegReg *s)
{
	h = fnv(h, s->sel, 2);
	h = fnv(h, s->base, 4);
	h = fnv(h, s->limit, 4);
	return fnv(h, s->attr, 4);
}

uint64_t cpu_state_hash(const CPU *cpu)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < 8; i++)
		h = fnv(h, cpu->r[i], 4);
	h = fnv(h, cpu->eip, 4);
	h = fnv(h, cpu_get_eflags(cpu), 4);
	for (int s = 0; s < 6; s++)
		h = hash_seg(h, &cpu->seg[s]);
	h = hash_seg(h, &cpu->ldtr);
	h = hash_seg(h, &cpu->tr);
	h = fnv(h, cpu->gdtr.base, 4);
	h = fnv(h, cpu->gdtr.limit, 2);
	h = fnv(h, cpu->idtr.base, 4);
	h = fnv(h, cpu->idtr.limit, 2);
	h = fnv(h, cpu->cr0, 4);
	h = fnv(h, cpu->cr2, 4);
	h = fnv(h, cpu->cr3, 4);
	h = fnv(h, cpu->cr4, 4);
	for (int i = 0; i < 8; i++)
		h = fnv(h, cpu->dr[i], 4);
	h = fnv(h, cpu->halted, 1);
	for (int i = 0; i < 8; i++) {
		h = fnv(h, cpu->fpu.st[i].mant, 8);
		h = fnv(h, cpu->fpu.st[i].se, 2);
	}
	h = fnv(h, cpu->fpu.cw, 2);
	h = fnv(h, cpu->fpu.sw, 2);
	h = fnv(h, cpu->fpu.tw, 2);
	return h;
}
