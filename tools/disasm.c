/*
 * disasm.c - flashback disasm TRACE --at N [-n COUNT] and flashback trace
 * TRACE --from N --to M: the instructions a recording executed, as they
 * executed, with the registers each one changed.
 *
 * Both are built on libflashback (a session: fb_goto() to the first icount,
 * one bounded replay from the nearest snapshot with progress on a
 * terminal, then one fb_step() per instruction; fb_regs_get(), fb_read()).
 * Before each step the CPU state is noted and the instruction at CS:EIP is
 * disassembled with capstone in the mode the CPU is in (16-bit in real
 * mode, V86 mode or a 16-bit code segment); after the step the registers
 * that differ are printed.
 *
 * An interrupt or exception delivered between two instructions does not
 * count as an instruction: the step then runs the handler's first
 * instruction instead of the one at CS:EIP.  Interrupts are inputs, so
 * the journal says which vector came at which icount (fb_events, walked
 * alongside the replay).  Exceptions are not inputs: they are
 * recognised when the next EIP is not where the instruction flows, and the
 * vector is found from the IDT (the gate whose handler leads there).
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/exec/cpu.h" /* the architecture's constants: EFLAGS, CR0, segments */
#include "../src/lib/flashback.h"
#include "../src/lib/internal.h" /* lib_warn_snapshot: the line every replaying command prints */

#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_INSN      15
#define STEP_PROGRESS (1ull << 20) /* instructions between progress updates */
#define A_DB	      (1u << 14)   /* SegReg.attr: descriptor bit 22 (D/B) */

/* The state the listing compares before and after each instruction. */
typedef struct Regs {
	uint32_t r[8], eip, eflags, cr[5];
	uint16_t sel[6];
} Regs;

/* Where an instruction lies and how it decodes. */
typedef struct Where {
	uint16_t cs;
	uint32_t eip, linear;
	int bits; /* 16 or 32 */
	uint8_t bytes[MAX_INSN];
	unsigned nbytes; /* bytes that could be read */
	cs_insn *insn;	 /* NULL when capstone cannot decode it */
} Where;

typedef struct Lister {
	fb_trace *t;
	fb_session *s;
	fb_regs regs; /* the session's, as of the last regs_read() */
	csh cs;
	fb_events *irq; /* the journal's interrupts, alongside the replay */
	fb_event ev;
	bool have_ev;
	bool stats;
	FILE *out;
	char line[1024]; /* the line being built: padded columns, trimmed at the end */
	size_t len;
} Lister;

static const char *const reg_names[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
static const char *const seg_names[6] = {"es", "cs", "ss", "ds", "fs", "gs"};

/* The architectural exceptions, by vector, for the delivery lines. */
static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", NULL,
    "#TS", "#NP", "#SS", "#GP", "#PF", NULL,  "#MF", "#AC", "#MC", "#XM",
};

/* EFLAGS bits worth naming when they change. */
static const struct {
	uint32_t bit;
	const char *name;
} flag_names[] = {
    {F_CF, "CF"}, {F_PF, "PF"}, {F_AF, "AF"}, {F_ZF, "ZF"}, {F_SF, "SF"},
    {F_TF, "TF"}, {F_IF, "IF"}, {F_DF, "DF"}, {F_OF, "OF"}, {F_NT, "NT"},
    {F_RF, "RF"}, {F_VM, "VM"}, {F_AC, "AC"}, {F_ID, "ID"},
};

static void regs_read(Lister *l, Regs *g)
{
	const fb_regs *r = &l->regs;

	if (fb_regs_get(l->s, &l->regs) != FB_OK)
		tool_lib_failed();
	for (int i = 0; i < 8; i++)
		g->r[i] = r->gpr[i];
	for (int i = 0; i < 6; i++)
		g->sel[i] = (uint16_t)r->seg[i].sel;
	g->eip = r->eip;
	g->eflags = r->eflags;
	for (int i = 0; i < 5; i++)
		g->cr[i] = r->cr[i];
}

/* 16-bit code in real mode, V86 mode and 16-bit code segments. */
static int code_bits(const fb_regs *r)
{
	if (!(r->cr[0] & CR0_PE) || (r->eflags & F_VM))
		return 16;
	return r->seg[S_CS].attr & A_DB ? 32 : 16;
}

/* @n bytes of guest memory at linear @addr now, or false. */
static bool read_linear(Lister *l, uint32_t addr, void *buf, size_t n)
{
	return fb_read(l->s, addr, buf, n, 1) == FB_OK;
}

/* Read and decode the instruction at @cs (base @base) : @eip. */
static void where_decode(Lister *l, Where *w, uint16_t cs, uint32_t base, uint32_t eip, int bits)
{
	uint64_t addr = eip;
	const uint8_t *code;
	size_t size;

	w->cs = cs;
	w->eip = eip;
	w->linear = base + eip;
	w->bits = bits;
	w->nbytes = 0;
	w->insn = NULL;
	/* Byte by byte: an instruction may end just before an unmapped page. */
	while (w->nbytes < MAX_INSN &&
	       read_linear(l, w->linear + w->nbytes, w->bytes + w->nbytes, 1))
		w->nbytes++;
	cs_option(l->cs, CS_OPT_MODE, bits == 32 ? CS_MODE_32 : CS_MODE_16);
	code = w->bytes;
	size = w->nbytes;
	w->insn = cs_malloc(l->cs);
	if (!cs_disasm_iter(l->cs, &code, &size, &addr, w->insn)) {
		cs_free(w->insn, 1);
		w->insn = NULL;
	}
}

static void where_free(Where *w)
{
	if (w->insn)
		cs_free(w->insn, 1);
	w->insn = NULL;
}

/* The instruction at CS:EIP (the registers of the last regs_read()). */
static void where_here(Lister *l, Where *w)
{
	const fb_seg *cs = &l->regs.seg[S_CS];

	where_decode(l, w, (uint16_t)cs->sel, cs->base, l->regs.eip, code_bits(&l->regs));
}

/* ---- the handler of a vector, from the IVT or the IDT ----------------------- */

/*
 * Where delivering @vector jumps: the real-mode IVT, or an interrupt or
 * trap gate of the IDT and its code segment in the GDT.  false for task
 * gates, LDT selectors and tables that cannot be read.
 */
static bool handler_of(Lister *l, unsigned vector, uint16_t *cs, uint32_t *base, uint32_t *eip,
		       int *bits)
{
	const fb_regs *r = &l->regs;
	uint8_t g[8], d[8];
	unsigned type;
	uint16_t sel;

	if (!(r->cr[0] & CR0_PE)) {
		if (vector * 4 + 3 > r->idt_limit ||
		    !read_linear(l, r->idt_base + vector * 4, g, 4))
			return false;
		*eip = (uint32_t)(g[0] | g[1] << 8);
		*cs = (uint16_t)(g[2] | g[3] << 8);
		*base = (uint32_t)*cs << 4;
		*bits = 16;
		return true;
	}
	if (vector * 8 + 7 > r->idt_limit || !read_linear(l, r->idt_base + vector * 8, g, 8))
		return false;
	type = g[5] & 0x1f;
	sel = (uint16_t)(g[2] | g[3] << 8);
	if ((type != 0x06 && type != 0x07 && type != 0x0e && type != 0x0f) || (sel & 4) ||
	    (sel | 7u) > r->gdt_limit || !read_linear(l, r->gdt_base + (sel & ~7u), d, 8))
		return false;
	*eip = (uint32_t)(g[0] | g[1] << 8);
	if (type & 0x08)
		*eip |= (uint32_t)(g[6] | g[7] << 8) << 16;
	*cs = sel;
	*base = (uint32_t)(d[2] | d[3] << 8 | d[4] << 16 | (uint32_t)d[7] << 24);
	*bits = d[6] & 0x40 ? 32 : 16;
	return true;
}

/* ---- where an instruction flows ------------------------------------------- */

static bool in_group(const cs_insn *insn, uint8_t group)
{
	for (unsigned i = 0; insn->detail && i < insn->detail->groups_count; i++)
		if (insn->detail->groups[i] == group)
			return true;
	return false;
}

/*
 * Could @w, retiring, leave the CPU at @cs:@eip?  Straight-line code goes
 * to the next instruction (a REP string instruction also stays put while
 * it repeats), relative branches also to their target.  Indirect and far
 * branches, returns and software interrupts go where memory says: any
 * place is possible.  Undecodable bytes are not judged either.
 */
static bool flows_to(const Where *w, uint16_t cs, uint32_t eip)
{
	const cs_insn *in = w->insn;
	uint32_t mask = w->bits == 16 ? 0xffffu : 0xffffffffu;
	uint32_t next = (w->eip + (in ? in->size : 0)) & mask;
	const cs_x86 *x;

	if (!in || !in->detail)
		return true;
	x = &in->detail->x86;
	if (in_group(in, CS_GRP_JUMP) || in_group(in, CS_GRP_CALL) || in_group(in, CS_GRP_RET) ||
	    in_group(in, CS_GRP_IRET) || in_group(in, CS_GRP_INT) || in->id == X86_INS_SYSENTER ||
	    in->id == X86_INS_SYSEXIT || in->id == X86_INS_RSM) {
		if (!in_group(in, CS_GRP_BRANCH_RELATIVE) || x->op_count != 1 ||
		    x->operands[0].type != X86_OP_IMM)
			return true;
		/* a near relative branch: its target or the next instruction */
		return cs == w->cs && (eip == next || eip == ((uint32_t)x->operands[0].imm & mask));
	}
	if (cs != w->cs) /* mov/pop to cs are #UD; lcall/ljmp are branches */
		return false;
	if (eip == next)
		return true;
	return eip == w->eip &&
	       (x->prefix[0] == X86_PREFIX_REP || x->prefix[0] == X86_PREFIX_REPNE);
}

/* ---- printing --------------------------------------------------------------- */

static void lprintf(Lister *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lprintf(Lister *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->line + l->len, sizeof(l->line) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len =
		    l->len + (size_t)n < sizeof(l->line) ? l->len + (size_t)n : sizeof(l->line) - 1;
}

/* Write the line without the padding at its end. */
static void lflush(Lister *l)
{
	while (l->len && l->line[l->len - 1] == ' ')
		l->len--;
	l->line[l->len] = 0;
	fprintf(l->out, "%s\n", l->line);
	l->len = 0;
}

static void print_where(Lister *l, uint64_t icount, const Where *w)
{
	char bytes[3 * MAX_INSN + 1] = "", text[192];
	unsigned n = w->insn ? w->insn->size : (w->nbytes ? 1 : 0);

	for (unsigned i = 0, at = 0; i < n; i++)
		at += (unsigned)snprintf(bytes + at, sizeof(bytes) - at, "%s%02x", i ? " " : "",
					 w->bytes[i]);
	if (w->insn)
		snprintf(text, sizeof(text), "%s%s%s", w->insn->mnemonic,
			 w->insn->op_str[0] ? " " : "", w->insn->op_str);
	else if (w->nbytes)
		snprintf(text, sizeof(text), "(bad)");
	else
		snprintf(text, sizeof(text), "(not mapped)");
	if (w->bits == 16)
		lprintf(l, "%12" PRIu64 "  %04x:%04x     (%08x)  %-23s  %-34s", icount, w->cs,
			w->eip & 0xffff, w->linear, bytes, text);
	else
		lprintf(l, "%12" PRIu64 "  %04x:%08x (%08x)  %-23s  %-34s", icount, w->cs, w->eip,
			w->linear, bytes, text);
}

/* The registers that differ, "eax=00000003 (was 00000002)", then the newline. */
static void print_changes(Lister *l, const Regs *a, const Regs *b)
{
	for (int i = 0; i < 8; i++)
		if (a->r[i] != b->r[i])
			lprintf(l, "  %s=%08x (was %08x)", reg_names[i], b->r[i], a->r[i]);
	for (int i = 0; i < 6; i++)
		if (a->sel[i] != b->sel[i])
			lprintf(l, "  %s=%04x (was %04x)", seg_names[i], b->sel[i], a->sel[i]);
	if (a->eflags != b->eflags) {
		lprintf(l, "  eflags=%08x (was %08x:", b->eflags, a->eflags);
		for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++) {
			uint32_t bit = flag_names[i].bit;
			if ((a->eflags ^ b->eflags) & bit)
				lprintf(l, " %c%s", b->eflags & bit ? '+' : '-',
					flag_names[i].name);
		}
		if ((a->eflags ^ b->eflags) & F_IOPL)
			lprintf(l, " IOPL=%u", (b->eflags & F_IOPL) >> 12);
		lprintf(l, ")");
	}
	for (int i = 0; i < 5; i++)
		if (a->cr[i] != b->cr[i])
			lprintf(l, "  cr%d=%08x (was %08x)", i, b->cr[i], a->cr[i]);
	lflush(l);
}

static void vector_name(uint64_t v, char *buf, size_t len)
{
	if (v == TRACE_NMI)
		snprintf(buf, len, "NMI");
	else if (v == TRACE_INIT)
		snprintf(buf, len, "INIT");
	else if (v == TRACE_SMI)
		snprintf(buf, len, "SMI");
	else
		snprintf(buf, len, "vector 0x%02" PRIx64, v);
}

/* ---- the journal's interrupts ------------------------------------------------ */

/* Interrupt events at @icount (the cursor moves forwards only); returns how
 * many, the vectors of the first @max in @vec. */
static unsigned interrupts_at(Lister *l, uint64_t icount, uint64_t *vec, unsigned max)
{
	unsigned n = 0;

	for (;;) {
		if (!l->have_ev) {
			int rc = fb_events_next(l->irq, &l->ev, 1);
			if (rc < 0)
				tool_lib_failed();
			if (rc == 0)
				return n;
			l->have_ev = true;
		}
		if (l->ev.icount > icount)
			return n;
		if (l->ev.icount == icount && l->ev.kind == FB_INTERRUPT) {
			if (n < max)
				vec[n] = l->ev.value;
			n++;
		}
		l->have_ev = false;
	}
}

/* ---- stepping ------------------------------------------------------------------ */

/* Run the instruction at @icount; false when the recording ends first. */
static bool step(Lister *l, uint64_t icount)
{
	switch (fb_step(l->s, 1)) {
	case FB_OK:
		return true;
	case FB_END:
		return fb_icount(l->s) > icount;
	default:
		tool_lib_failed();
	}
}

/*
 * After an instruction that did not flow: find the exception whose
 * handler's first instruction leads to where the CPU is now.
 */
static int guess_exception(Lister *l, Where *h)
{
	uint16_t cs = (uint16_t)l->regs.seg[S_CS].sel;
	uint32_t eip = l->regs.eip;

	for (unsigned v = 0; v < 32; v++) {
		uint16_t sel;
		uint32_t base, off;
		int bits;

		if (!handler_of(l, v, &sel, &base, &off, &bits))
			continue;
		where_decode(l, h, sel, base, off, bits);
		if (h->insn && flows_to(h, cs, eip) &&
		    !(h->insn->id == X86_INS_JMP && sel == cs && off == eip))
			return (int)v;
		where_free(h);
	}
	return -1;
}

/* One instruction at @icount: print it and what it changed.  false at the end. */
static bool list_one(Lister *l, uint64_t icount)
{
	uint64_t vec[8];
	unsigned nirq = interrupts_at(l, icount, vec, ARRAY_SIZE(vec));
	Regs before, after;
	Where w, h = {0};
	bool have_h = false;
	char name[32];

	regs_read(l, &before);
	where_here(l, &w);
	if (nirq) {
		/* The journal says: delivered before the instruction at CS:EIP. */
		uint16_t sel;
		uint32_t base, off;
		int bits;

		for (unsigned i = 0; i < nirq && i < ARRAY_SIZE(vec); i++) {
			vector_name(vec[i], name, sizeof(name));
			fprintf(l->out, "%12s  -- interrupt %s delivered before %04x:%08x\n", "",
				name, w.cs, w.eip);
		}
		uint64_t last = vec[nirq - 1];

		if (last == TRACE_NMI)
			last = 2; /* an NMI goes through the IDT's vector 2 */
		if (nirq <= ARRAY_SIZE(vec) && last < 256 &&
		    handler_of(l, (unsigned)last, &sel, &base, &off, &bits)) {
			where_decode(l, &h, sel, base, off, bits);
			have_h = true;
		}
	}
	if (!step(l, icount)) {
		where_free(&w);
		where_free(&h);
		return false;
	}
	regs_read(l, &after);
	if (!nirq && !flows_to(&w, after.sel[S_CS], after.eip)) {
		int v = guess_exception(l, &h);

		print_where(l, icount, &w);
		lprintf(l, "  (did not retire)");
		lflush(l);
		if (v >= 0 && exc_names[v])
			snprintf(name, sizeof(name), "%s (vector 0x%02x)", exc_names[v], v);
		else if (v >= 0)
			snprintf(name, sizeof(name), "vector 0x%02x", v);
		else
			snprintf(name, sizeof(name), "(vector unknown)");
		fprintf(l->out, "%12s  -- exception %s delivered\n", "", name);
		have_h = v >= 0;
	}
	if (nirq || !flows_to(&w, after.sel[S_CS], after.eip)) {
		if (have_h) {
			print_where(l, icount, &h);
		} else {
			/* the handler's first instruction ran somewhere we cannot name */
			lprintf(l, "%12" PRIu64 "  %-61s  %-34s", icount,
				"(the handler's first instruction)", "");
		}
	} else {
		print_where(l, icount, &w);
	}
	print_changes(l, &before, &after);
	where_free(&w);
	where_free(&h);
	return true;
}

/* ---- getting there ------------------------------------------------------------- */

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* fb_goto(@target) with progress on a terminal. */
static void go_to(Lister *l, uint64_t target)
{
	uint32_t number = 0;
	uint64_t snap = 0, from;
	Progress p;
	double t0 = seconds();

	if (fb_snapshot_before(l->s, target, &number, &snap) == FB_OK && snap > fb_icount(l->s) &&
	    fb_goto(l->s, snap) != FB_OK)
		tool_lib_failed();
	from = fb_icount(l->s);
	progress_init(&p, "replaying");
	while (fb_icount(l->s) < target) {
		uint64_t now = fb_icount(l->s);
		uint64_t next = target - now > STEP_PROGRESS ? now + STEP_PROGRESS : target;

		if (fb_goto(l->s, next) != FB_OK)
			tool_lib_failed();
		progress_update(&p, fb_icount(l->s) - from, target - from, "instructions");
	}
	progress_done(&p);
	if (l->stats)
		fprintf(stderr,
			"flashback: replayed %" PRIu64
			" instructions from snapshot %u at icount %" PRIu64 " in %.3f s\n",
			target - from, number, from, seconds() - t0);
}

/* ---- the commands ---------------------------------------------------------------- */

/*
 * List the instructions at icounts @from .. @from + @count - 1 (@to_given:
 * that last one must lie in the recording too).
 */
static int listing(const char *dir, uint64_t from, uint64_t count, bool to_given, bool stats)
{
	Lister l = {.out = stdout, .stats = stats};
	uint64_t start, end, i;

	if (!(l.t = fb_open(dir)) || !(l.s = fb_session_new(l.t, 0)))
		tool_lib_failed();
	lib_warn_snapshot(fb_session_warning(l.s));
	start = fb_start_icount(l.s);
	end = fb_end_icount(l.s);
	if (from < start || from >= end || (to_given && from + count > end))
		fatal(EXIT_USAGE,
		      "icount %" PRIu64 " is outside the recording (instructions %" PRIu64
		      " to %" PRIu64 ")",
		      from < start || from >= end ? from : from + count - 1, start,
		      end ? end - 1 : 0);
	if (cs_open(CS_ARCH_X86, CS_MODE_32, &l.cs) != CS_ERR_OK)
		fatal(EXIT_INTERNAL, "capstone: cannot open an x86 disassembler");
	cs_option(l.cs, CS_OPT_DETAIL, CS_OPT_ON);
	go_to(&l, from);
	if (!(l.irq = fb_events_open(l.t, 1u << FB_INTERRUPT, from, UINT64_MAX, 0, 0)))
		tool_lib_failed();
	for (i = from; i - from < count && i < end; i++)
		if (!list_one(&l, i))
			break;
	if (i - from < count)
		fprintf(stdout, "%12s  -- the recording ends at icount %" PRIu64 "\n", "",
			fb_icount(l.s));
	fb_events_close(l.irq);
	cs_close(&l.cs);
	fb_session_free(l.s);
	fb_close(l.t);
	return 0;
}

static _Noreturn void disasm_usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback disasm TRACE --at N [-n COUNT]");
}

int tools_disasm(int argc, char **argv)
{
	const char *dir = NULL;
	bool has_at = false, stats = false;
	uint64_t at = 0, count = 10;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--at") == 0) {
			at = tool_number(a, v);
			has_at = true;
			i++;
		} else if (strcmp(a, "-n") == 0) {
			count = tool_number(a, v);
			i++;
		} else if (strcmp(a, "--stats") == 0) {
			stats = true;
		} else if (a[0] == '-' && a[1]) {
			fatal(EXIT_USAGE, "disasm: unknown option '%s'", a);
		} else if (!dir) {
			dir = a;
		} else {
			disasm_usage();
		}
	}
	if (!dir || !has_at)
		disasm_usage();
	if (count == 0)
		fatal(EXIT_USAGE, "-n: give at least one instruction");
	return listing(dir, at, count, false, stats);
}

static _Noreturn void trace_usage(void)
{
	fatal(EXIT_USAGE, "usage: flashback trace TRACE --from N --to M");
}

int tools_trace(int argc, char **argv)
{
	const char *dir = NULL;
	bool has_from = false, has_to = false, stats = false;
	uint64_t from = 0, to = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--from") == 0) {
			from = tool_number(a, v);
			has_from = true;
			i++;
		} else if (strcmp(a, "--to") == 0) {
			to = tool_number(a, v);
			has_to = true;
			i++;
		} else if (strcmp(a, "--stats") == 0) {
			stats = true;
		} else if (a[0] == '-' && a[1]) {
			fatal(EXIT_USAGE, "trace: unknown option '%s'", a);
		} else if (!dir) {
			dir = a;
		} else {
			trace_usage();
		}
	}
	if (!dir || !has_from || !has_to)
		trace_usage();
	if (to < from)
		fatal(EXIT_USAGE, "--from %" PRIu64 " is after --to %" PRIu64, from, to);
	return listing(dir, from, to - from + 1, true, stats);
}
