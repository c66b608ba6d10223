/*
 * test_opcodes.c - the CPU's opcode table (src/exec/opcodes.def) checked
 * against itself, against what the decoder does, and against capstone as a
 * second opinion.
 *
 * The table is the one place that says what each opcode form is, so a
 * wrong row is a wrong CPU.  Checked here:
 *  - every opcode and ModRM.reg value has exactly one row, group rows name
 *    one opcode, and the rows of an opcode agree on whether ModRM follows;
 *  - insn_forms[] carries each row's columns, one handler per handler name;
 *  - the decoder takes the bytes the row says, for every form in 16- and
 *    32-bit code with either operand size, and sets Insn.flow, Insn.save,
 *    the LOCK rule and the specialised handler (FAST_*) as the row says;
 *    prefix bytes are prefixes and 0F escapes;
 *  - capstone decodes every valid form to the same length, and no form
 *    capstone calls a jump, call, return, interrupt or privileged
 *    instruction may stay inside a block (flow NEXT);
 *  - lists of encodings with the flow each must have, and whether LOCK
 *    may prefix them;
 *  - every form a fast family specialises does what the row's generic
 *    handler does, from random states.
 *
 * It includes exec's private header: the table is exec's inside.
 */
#include <capstone/capstone.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/exec/x86.h"
#include "../../src/memory/memory.h"
#include "unit.h"

typedef struct Row {
	unsigned first, last, reg1, reg2;
	const char *name, *fn;
	uint8_t fmt, flow, save, lock, fast, jit;
} Row;

static const Row rows[] = {
#define FORM(first, last, reg1, reg2, name, fmt, fn, flow, save, lock, fast, jit)                  \
	{first,	    last,	 reg1,	    reg2,	name,	     #fn,                          \
	 OPF_##fmt, FLOW_##flow, SV_##save, OPL_##lock, FAST_##fast, JIT_##jit},
#include "../../src/exec/opcodes.def"
};
#define NROWS  (sizeof(rows) / sizeof(rows[0]))
#define NFORMS (0x200u << 3)

static const Row *row_of[NFORMS];
static CPU *cpu;

static bool is_ud(const Row *r)
{
	return !strcmp(r->name, "#UD");
}

/* Every form in exactly one row; group rows are one opcode with ModRM. */
static void test_coverage(void)
{
	unsigned twice = 0, missing = 0;

	for (size_t i = 0; i < NROWS; i++) {
		const Row *r = &rows[i];

		CHECK(r->first <= r->last && r->last < 0x200);
		CHECK(r->reg1 <= r->reg2 && r->reg2 < 8);
		if (r->reg1 != 0 || r->reg2 != 7)
			CHECK(r->first == r->last && (r->fmt & OPF_E));
		for (unsigned op = r->first; op <= r->last; op++)
			for (unsigned reg = r->reg1; reg <= r->reg2; reg++) {
				if (row_of[op << 3 | reg]) {
					fprintf(stderr, "form %03x/%u: rows \"%s\" and \"%s\"\n",
						op, reg, row_of[op << 3 | reg]->name, r->name);
					twice++;
				}
				row_of[op << 3 | reg] = r;
			}
	}
	for (unsigned s = 0; s < NFORMS; s++)
		if (!row_of[s]) {
			fprintf(stderr, "form %03x/%u: no row\n", s >> 3, s & 7);
			missing++;
		}
	CHECK_EQ(twice, 0);
	CHECK_EQ(missing, 0);
}

/* LOCK by the name: the instructions the SDM lets it prefix, with a
 * ModRM destination ("Grp1" is group 1 without CMP). */
static bool lockable_by_name(const char *name)
{
	static const char *const ok[] = {
	    "ADD", "ADC", "AND", "BTC", "BTR", "BTS", "CMPXCHG", "CMPXCHG8B", "DEC", "INC",
	    "NEG", "NOT", "OR",	 "SBB", "SUB", "XOR", "XADD",	 "XCHG",      "Grp1"};
	size_t n = strcspn(name, " /");
	const char *dst = strchr(name, ' ');

	if (!dst || (dst[1] != 'E' && dst[1] != 'M'))
		return false;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strlen(ok[i]) == n && !strncmp(name, ok[i], n))
			return true;
	return false;
}

/* The columns make sense together. */
static void test_rows(void)
{
	static const uint8_t fmts[] = {OPF_NONE, OPF_E,	    OPF_IB,    OPF_IZ,	OPF_IW,	 OPF_E_IB,
				       OPF_E_IZ, OPF_IW_IB, OPF_MOFFS, OPF_FAR, OPF_PFX, OPF_ESC};
	static const uint8_t prefixes[] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65,
					   0x66, 0x67, 0xf0, 0xf2, 0xf3};

	for (unsigned op = 0; op < 0x200; op++) {
		const Row *r0 = row_of[op << 3];
		bool pfx = memchr(prefixes, op, sizeof(prefixes)) && op < 0x100;

		if (!r0)
			continue;
		CHECK(memchr(fmts, r0->fmt, sizeof(fmts)) != NULL);
		CHECK_EQ(r0->fmt == OPF_PFX, pfx);
		CHECK_EQ(r0->fmt == OPF_ESC, op == 0x0f);
		for (unsigned reg = 1; reg < 8; reg++) {
			const Row *r = row_of[op << 3 | reg];

			if (r && (r->fmt & OPF_E) != (r0->fmt & OPF_E)) {
				fprintf(stderr, "opcode %03x: rows disagree on ModRM\n", op);
				CHECK(0);
			}
		}
		for (unsigned reg = 0; reg < 8; reg++) {
			const Row *r = row_of[op << 3 | reg];

			if (!r)
				continue;
			CHECK(memchr(fmts, r->fmt, sizeof(fmts)) != NULL);
			/* LOCK needs a memory operand, so a ModRM */
			if (r->lock == OPL_LOCK)
				CHECK(r->fmt & OPF_E);
			if ((r->lock == OPL_LOCK) != lockable_by_name(r->name)) {
				fprintf(stderr, "form %03x/%u (%s): LOCK %d\n", op, reg, r->name,
					r->lock);
				CHECK(0);
			}
			/* only ModRM forms have a memory form to save for */
			if (r->save == SV_MEM)
				CHECK(r->fmt & OPF_E);
			if (r->flow == FLOW_STR)
				CHECK(r->fmt == OPF_NONE);
			if (is_ud(r) && !(r->fmt & OPF_E))
				CHECK(r->flow == FLOW_END && r->fast == FAST_NONE);
		}
	}
}

/* insn_forms[] holds each row's columns; handler names and handlers pair
 * one to one. */
static void test_table(void)
{
	const char *names[256];
	InsnFn *fns[256];
	unsigned n = 0;

	for (unsigned s = 0; s < NFORMS; s++) {
		const Row *r = row_of[s];
		const InsnForm *f = &insn_forms[s];
		unsigned k;

		if (!r)
			continue;
		CHECK(f->fn != NULL);
		CHECK_EQ(f->fmt, r->fmt);
		CHECK_EQ(f->flow, r->flow);
		CHECK_EQ(f->save, r->save);
		CHECK_EQ(f->lock, r->lock);
		CHECK_EQ(f->fast, r->fast);
		CHECK_EQ(f->jit, r->jit);
		for (k = 0; k < n; k++)
			if (!strcmp(names[k], r->fn))
				break;
		if (k == n && n < 256) {
			for (unsigned j = 0; j < n; j++)
				if (fns[j] == f->fn)
					fprintf(stderr, "%s and %s: one handler\n", names[j],
						r->fn);
			names[n] = r->fn;
			fns[n++] = f->fn;
		} else if (k < n && fns[k] != f->fn) {
			fprintf(stderr, "form %03x/%u: not the %s of the other rows\n", s >> 3,
				s & 7, r->fn);
			CHECK(0);
		}
	}
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			CHECK(fns[i] != fns[j]);
}

/* Bytes after the opcode and ModRM (ModRM rm = 0, mod 0 or 3: no SIB or
 * displacement in either address size). */
static unsigned imm_bytes(uint8_t fmt, bool o32, bool a32)
{
	unsigned n = 0;

	if (fmt & OPF_FAR)
		return (o32 ? 4 : 2) + 2;
	if (fmt & OPF_MOFFS)
		n += a32 ? 4 : 2;
	if (fmt & OPF_IW)
		n += 2;
	if (fmt & OPF_IB)
		n += 1;
	if (fmt & OPF_IZ)
		n += o32 ? 4 : 2;
	return n;
}

/* Does fast.c specialise this form?  The FAST_* rules in x86.h. */
static bool specialised(uint8_t fast, bool mem, bool o32, bool a32)
{
	if (fast == FAST_NONE || (mem && !a32))
		return false;
	if (fast <= FAST_SHIFT)
		return true;
	if (!o32)
		return false;
	return fast != FAST_LEA || mem;
}

/* Encode form @s with prefixes: LOCK, REP, operand size. */
static unsigned encode(uint8_t *b, unsigned s, bool lock, bool rep, bool opsize, bool mod3)
{
	unsigned op = s >> 3, reg = s & 7, n = 0;

	if (lock)
		b[n++] = 0xf0;
	if (rep)
		b[n++] = 0xf3;
	if (opsize)
		b[n++] = 0x66;
	if (op >= 0x100)
		b[n++] = 0x0f;
	b[n++] = op & 0xff;
	if (row_of[s]->fmt & OPF_E)
		b[n++] = (uint8_t)((mod3 ? 0xc0 : 0) | reg << 3);
	memset(b + n, 0x11, 16);
	return n;
}

/* The decoder does what each row says. */
static void test_decoder(void)
{
	unsigned bad = 0;

	for (unsigned s = 0; s < NFORMS; s++) {
		const Row *r = row_of[s];
		const InsnForm *f = &insn_forms[s];

		if (!r || (r->fmt & (OPF_PFX | OPF_ESC)))
			continue;
		bool e = r->fmt & OPF_E;

		for (unsigned v = 0; v < 32; v++) {
			bool c32 = v & 1, opsize = v & 2, mod3 = v & 4, lock = v & 8, rep = v & 16;
			bool o32 = c32 != opsize, mem = e && !mod3;
			uint8_t b[32];
			Insn in;

			if (!e && mod3)
				continue;
			unsigned len = encode(b, s, lock, rep, opsize, mod3);

			len += imm_bytes(r->fmt, o32, c32);
			bool ok = decode_soft(cpu, &in, b, 15, c32);

			if (lock) {
				CHECK_EQ(ok, r->lock == OPL_LOCK && mem);
				continue;
			}
			CHECK(ok);
			if (!ok)
				continue;
			unsigned flow =
			    r->flow == FLOW_STR ? (rep ? FLOW_REP : FLOW_NEXT) : r->flow;
			bool save = r->save == SV_ALWAYS || (r->save == SV_MEM && mem);
			bool spec = specialised(r->fast, mem, o32, c32);

			if (in.op != s >> 3 || in.len != len || in.flow != flow ||
			    in.save != save || in.jit != r->jit || (e && in.reg != (s & 7)) ||
			    (in.fn != f->fn) != spec) {
				if (bad++ < 20)
					fprintf(stderr,
						"form %03x/%u (%s) c32 %d 66 %d mod3 %d rep %d: op "
						"%03x "
						"len %u (want %u) flow %u (%u) save %d (%d) spec "
						"%d (%d)\n",
						s >> 3, s & 7, r->name, c32, opsize, mod3, rep,
						in.op, in.len, len, in.flow, flow, in.save, save,
						in.fn != f->fn, spec);
			}
		}
	}
	CHECK_EQ(bad, 0);

	/* prefixes are taken before the opcode, 0F escapes, the rest is one */
	for (unsigned op = 0; op < 0x100; op++) {
		uint8_t b[16] = {(uint8_t)op, 0x90, 0xc0};
		Insn in;

		if (!decode_soft(cpu, &in, b, 15, true))
			continue; /* LOCK NOP */
		if (row_of[op << 3]->fmt == OPF_PFX)
			CHECK(in.op == 0x90 && in.len == 2);
		else if (op == 0x0f)
			CHECK(in.op == 0x190 && in.len == 3);
		else
			CHECK_EQ(in.op, op);
	}
}

/* capstone's length for every valid form, and its control transfers end
 * blocks. */
static void test_capstone(void)
{
	csh cs[2];
	unsigned compared = 0, transfers = 0, bad = 0;

	CHECK(cs_open(CS_ARCH_X86, CS_MODE_16, &cs[0]) == CS_ERR_OK);
	CHECK(cs_open(CS_ARCH_X86, CS_MODE_32, &cs[1]) == CS_ERR_OK);
	cs_option(cs[0], CS_OPT_DETAIL, CS_OPT_ON);
	cs_option(cs[1], CS_OPT_DETAIL, CS_OPT_ON);
	for (unsigned s = 0; s < NFORMS; s++) {
		const Row *r = row_of[s];

		if (!r || is_ud(r) || (r->fmt & (OPF_PFX | OPF_ESC)))
			continue;
		for (unsigned v = 0; v < 8; v++) {
			bool c32 = v & 1, opsize = v & 2, mod3 = v & 4;
			uint8_t b[32];
			Insn in;
			cs_insn *ci;

			if (!(r->fmt & OPF_E) && mod3)
				continue;
			/* LES/LDS with a register operand: a VEX prefix to capstone */
			if (mod3 && (s >> 3 == 0xc4 || s >> 3 == 0xc5))
				continue;
			encode(b, s, false, false, opsize, mod3);
			if (!decode_soft(cpu, &in, b, 15, c32)) {
				CHECK(0);
				continue;
			}
			/* capstone refuses the invalid ones (a register where the
			 * form takes memory, a ModRM.reg naming nothing) */
			size_t k = cs_disasm(cs[c32], b, 15, 0x1000, 1, &ci);

			if (!k)
				continue;
			compared++;
			bool transfer = false;

			for (unsigned g = 0; g < ci->detail->groups_count; g++)
				if (ci->detail->groups[g] >= CS_GRP_JUMP &&
				    ci->detail->groups[g] <= CS_GRP_PRIVILEGE)
					transfer = true;
			transfers += transfer;
			if (ci->size != in.len ||
			    (transfer && in.flow != FLOW_END && in.flow != FLOW_JUMP)) {
				if (bad++ < 20)
					fprintf(stderr,
						"form %03x/%u (%s) c32 %d 66 %d mod3 %d: capstone "
						"%s %s, "
						"%u bytes; decoder %u bytes, flow %u\n",
						s >> 3, s & 7, r->name, c32, opsize, mod3,
						ci->mnemonic, ci->op_str, (unsigned)ci->size,
						in.len, in.flow);
			}
			cs_free(ci, k);
		}
	}
	cs_close(&cs[0]);
	cs_close(&cs[1]);
	CHECK_EQ(bad, 0);
	/* capstone did look at most of the table */
	CHECK(compared > 10000);
	CHECK(transfers > 500);
	printf("capstone: %u encodings compared, %u control transfers\n", compared, transfers);
}

/* Encodings and the flow each must have, whatever the table says. */
static void test_flows(void)
{
	static const struct {
		const char *bytes;
		unsigned len, flow;
		bool c32;
	} cases[] = {
	    {"\x01\xc0", 2, FLOW_NEXT, true},	       /* add eax, eax */
	    {"\x8b\x45\x08", 3, FLOW_NEXT, true},      /* mov eax, [ebp+8] */
	    {"\x8c\xd8", 2, FLOW_NEXT, false},	       /* mov ax, ds */
	    {"\xfc", 1, FLOW_NEXT, true},	       /* cld */
	    {"\xa5", 1, FLOW_NEXT, true},	       /* movsd */
	    {"\xf3\xa8\x01", 3, FLOW_NEXT, true},      /* rep test al, 1: not a string op */
	    {"\xd9\xc0", 2, FLOW_NEXT, true},	       /* fld st0 */
	    {"\x0f\x44\xc1", 3, FLOW_NEXT, true},      /* cmove eax, ecx */
	    {"\x0f\xc8", 2, FLOW_NEXT, true},	       /* bswap eax */
	    {"\xff\x30", 2, FLOW_NEXT, true},	       /* push dword [eax] */
	    {"\xf3\xa5", 2, FLOW_REP, true},	       /* rep movsd */
	    {"\xf2\xae", 2, FLOW_REP, false},	       /* repne scasb */
	    {"\xeb\xfe", 2, FLOW_JUMP, true},	       /* jmp short $ */
	    {"\xe8\0\0\0\0", 5, FLOW_JUMP, true},      /* call rel32 */
	    {"\xe9\0\0", 3, FLOW_JUMP, false},	       /* jmp rel16 */
	    {"\x0f\x84\0\0\0\0", 6, FLOW_JUMP, true},  /* je rel32 */
	    {"\x75\x02", 2, FLOW_JUMP, true},	       /* jne short */
	    {"\xe2\xfe", 2, FLOW_JUMP, true},	       /* loop */
	    {"\xe3\xfe", 2, FLOW_JUMP, true},	       /* jecxz */
	    {"\xc3", 1, FLOW_JUMP, true},	       /* ret */
	    {"\xc2\x04\x00", 3, FLOW_JUMP, true},      /* ret 4 */
	    {"\xff\xd0", 2, FLOW_JUMP, true},	       /* call eax */
	    {"\xff\x20", 2, FLOW_JUMP, true},	       /* jmp [eax] */
	    {"\xff\x18", 2, FLOW_END, true},	       /* call far [eax] */
	    {"\xff\x28", 2, FLOW_END, true},	       /* jmp far [eax] */
	    {"\xea\0\0\0\0\x08\0", 7, FLOW_END, true}, /* jmp far ptr */
	    {"\x9a\0\0\x08\0", 5, FLOW_END, false},    /* call far ptr */
	    {"\xca\0\0", 3, FLOW_END, true},	       /* retf 0 */
	    {"\xcf", 1, FLOW_END, true},	       /* iret */
	    {"\xcd\x80", 2, FLOW_END, true},	       /* int 0x80 */
	    {"\xcc", 1, FLOW_END, true},	       /* int3 */
	    {"\x8e\xd8", 2, FLOW_END, true},	       /* mov ds, eax */
	    {"\x1f", 1, FLOW_END, false},	       /* pop ds */
	    {"\x0f\xa1", 2, FLOW_END, true},	       /* pop fs */
	    {"\xc5\x06\0\0", 4, FLOW_END, false},      /* lds ax, [0] */
	    {"\x9d", 1, FLOW_END, true},	       /* popf */
	    {"\xfa", 1, FLOW_END, true},	       /* cli */
	    {"\xfb", 1, FLOW_END, true},	       /* sti */
	    {"\xf4", 1, FLOW_END, true},	       /* hlt */
	    {"\xe4\x60", 2, FLOW_END, true},	       /* in al, 0x60 */
	    {"\xee", 1, FLOW_END, true},	       /* out dx, al */
	    {"\xf3\x6c", 2, FLOW_END, true},	       /* rep insb */
	    {"\x0f\x01\x10", 3, FLOW_END, true},       /* lgdt [eax] */
	    {"\x0f\x22\xc0", 3, FLOW_END, true},       /* mov cr0, eax */
	    {"\x0f\x23\xf8", 3, FLOW_END, true},       /* mov dr7, eax */
	    {"\x0f\x30", 2, FLOW_END, true},	       /* wrmsr */
	    {"\x0f\xa2", 2, FLOW_END, true},	       /* cpuid */
	    {"\x0f\x31", 2, FLOW_END, true},	       /* rdtsc */
	    {"\x0f\x34", 2, FLOW_END, true},	       /* sysenter */
	    {"\x9b", 1, FLOW_END, true},	       /* fwait */
	    {"\x0f\x0b", 2, FLOW_END, true},	       /* ud2 */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[32] = {0};
		Insn in;

		memcpy(b, cases[i].bytes, cases[i].len);
		bool ok = decode_soft(cpu, &in, b, cases[i].len, cases[i].c32);

		bool good = ok && in.len == cases[i].len && in.flow == cases[i].flow;

		if (!good)
			fprintf(stderr, "case %zu (%02x %02x): ok %d len %u flow %u, want %u %u\n",
				i, b[0], b[1], ok, in.len, in.flow, cases[i].len, cases[i].flow);
		CHECK(good);
	}
}

/* Encodings LOCK may prefix, and some it may not. */
static void test_lock(void)
{
	static const struct {
		const char *bytes;
		unsigned len;
		bool ok;
	} cases[] = {
	    {"\xf0\x01\x00", 3, true},		/* lock add [eax], eax */
	    {"\xf0\x01\xc0", 3, false},		/* lock add eax, eax */
	    {"\xf0\x39\x00", 3, false},		/* lock cmp [eax], eax */
	    {"\xf0\x83\x00\x01", 4, true},	/* lock add dword [eax], 1 */
	    {"\xf0\x83\x38\x01", 4, false},	/* lock cmp dword [eax], 1 */
	    {"\xf0\x87\x00", 3, true},		/* lock xchg [eax], eax */
	    {"\xf0\x89\x00", 3, false},		/* lock mov [eax], eax */
	    {"\xf0\xf7\x18", 3, true},		/* lock neg dword [eax] */
	    {"\xf0\xf7\x20", 3, false},		/* lock mul dword [eax] */
	    {"\xf0\xff\x00", 3, true},		/* lock inc dword [eax] */
	    {"\xf0\xff\x30", 3, false},		/* lock push dword [eax] */
	    {"\xf0\x0f\xab\x00", 4, true},	/* lock bts [eax], eax */
	    {"\xf0\x0f\xa3\x00", 4, false},	/* lock bt [eax], eax */
	    {"\xf0\x0f\xba\x30\x01", 5, true},	/* lock btr dword [eax], 1 */
	    {"\xf0\x0f\xba\x20\x01", 5, false}, /* lock bt dword [eax], 1 */
	    {"\xf0\x0f\xb1\x08", 4, true},	/* lock cmpxchg [eax], ecx */
	    {"\xf0\x0f\xc7\x08", 4, true},	/* lock cmpxchg8b [eax] */
	    {"\xf0\x0f\xc1\x08", 4, true},	/* lock xadd [eax], ecx */
	    {"\xf0\x90", 2, false},		/* lock nop */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[32] = {0};
		Insn in;

		memcpy(b, cases[i].bytes, cases[i].len);
		bool ok = decode_soft(cpu, &in, b, cases[i].len, true);

		if (ok != cases[i].ok)
			fprintf(stderr, "lock case %zu (%02x %02x %02x): want %d\n", i, b[1], b[2],
				b[3], cases[i].ok);
		CHECK_EQ(ok, cases[i].ok);
	}
}

/* ---- the fast families against the generic handlers ------------------ */

/*
 * A row's fast column picks fast.c's handler for the form, which must do
 * exactly what the row's generic handler does.  Each specialised form runs
 * both ways from the same random state (registers, EFLAGS or a lazy flags
 * state, memory at the operand and the stack) and must leave the same
 * registers, EIP, EFLAGS, memory and exception.  Unreal mode: real mode
 * with 4 GiB segments, 32-bit stack; memory operands are [disp32].
 */
#define RAM_SIZE  (1u << 20)
#define MEM_AT	  0x2000u /* the memory operand */
#define STACK_AT  0x8000u /* ESP near here */
#define STACK_WIN 0x400u

static uint8_t *ram;
static uint32_t rng = 0x2545f491;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

typedef struct State {
	uint32_t r[8], eip, flags;
	int exc;
	uint8_t mem[16], stack[2 * STACK_WIN];
} State;

static void state_get(State *st)
{
	memcpy(st->r, cpu->r, sizeof(st->r));
	st->eip = cpu->eip;
	st->flags = cpu_get_eflags(cpu);
	st->exc = cpu->pending_exc;
	memcpy(st->mem, ram + MEM_AT, sizeof(st->mem));
	memcpy(st->stack, ram + STACK_AT - STACK_WIN, sizeof(st->stack));
}

/* A random start: registers, flags eager or lazy, memory. */
static void state_random(uint32_t eip)
{
	for (int i = 0; i < 8; i++)
		cpu->r[i] = rnd();
	cpu->r[R_ESP] = STACK_AT - 0x100 + (rnd() & 0x1fc);
	cpu_set_eflags(cpu, (rnd() & (FLAGS_ARITH | F_DF)) | 2);
	switch (rnd() % 3) {
	case 0:
		break;
	case 1:
		alu_op(cpu, rnd() & 7, rnd(), rnd(), 8u << (rnd() % 3));
		break;
	default:
		alu_inc(cpu, rnd(), 8u << (rnd() % 3), rnd() & 1);
		break;
	}
	for (unsigned i = 0; i < sizeof(((State *)0)->mem); i++)
		ram[MEM_AT + i] = (uint8_t)rnd();
	for (unsigned i = 0; i < 2 * STACK_WIN; i++)
		ram[STACK_AT - STACK_WIN + i] = (uint8_t)rnd();
	cpu->eip = eip;
	cpu->start_eip = eip;
	cpu->saved = false;
	cpu->pending_exc = -1;
}

static void state_put(const State *st, const uint32_t cc[6])
{
	memcpy(cpu->r, st->r, sizeof(st->r));
	cpu->eip = st->eip;
	cpu->start_eip = st->eip;
	cpu->saved = false;
	cpu->pending_exc = -1;
	cpu->flags = st->flags;
	cpu->cc_op = cc[0];
	cpu->cc_bits = cc[1];
	cpu->cc_res = cc[2];
	cpu->cc_a = cc[3];
	cpu->cc_b = cc[4];
	cpu->cc_c = cc[5];
	memcpy(ram + MEM_AT, st->mem, sizeof(st->mem));
	memcpy(ram + STACK_AT - STACK_WIN, st->stack, sizeof(st->stack));
}

static void run_handler(InsnFn *fn, Insn *in)
{
	if (setjmp(cpu->jb))
		return;
	fn(cpu, in);
}

static bool same_state(const State *a, const State *b)
{
	return !memcmp(a->r, b->r, sizeof(a->r)) && a->eip == b->eip && a->flags == b->flags &&
	       a->exc == b->exc && !memcmp(a->mem, b->mem, sizeof(a->mem)) &&
	       !memcmp(a->stack, b->stack, sizeof(a->stack));
}

static void test_fast_families(void)
{
	CPUBus bus = {0};
	MemoryRegion *root = mr_container("system", 1ull << 32), *ram_mr = mr_ram("ram", RAM_SIZE);
	unsigned runs = 0, bad = 0;
	static State start, a, b;

	mr_add(root, ram_mr, 0, 0);
	bus.memory = as_new("memory", root);
	ram = mr_host(ram_mr);
	CPU *real = cpu_new(&bus), *soft = cpu;

	cpu = real;
	for (int s = 0; s < 6; s++)
		cpu_set_seg(cpu, s, (SegReg){0, 0, 0xffffffffu, s == S_CS ? 0xc09bu : 0xc093u});
	for (unsigned f = 0; f < NFORMS; f++) {
		const Row *r = row_of[f];

		if (!r || r->fast == FAST_NONE)
			continue;
		for (unsigned v = 0; v < 4; v++) {
			bool opsize = v & 1, mod3 = v & 2, e = r->fmt & OPF_E;
			uint8_t code[32];
			unsigned n = 0, op = f >> 3;
			Insn in;

			if (!e && mod3)
				continue;
			if (opsize)
				code[n++] = 0x66;
			if (op >= 0x100)
				code[n++] = 0x0f;
			code[n++] = op & 0xff;
			if (e)
				code[n++] = (uint8_t)(mod3 ? 0xc0 | (f & 7) << 3 | (rnd() & 7)
							   : (f & 7) << 3 | 5);
			if (e && !mod3) {
				st32(code + n, MEM_AT);
				n += 4;
			}
			for (unsigned i = n; i < sizeof(code); i++)
				code[i] = (uint8_t)rnd();
			if (!decode_soft(cpu, &in, code, 15, true) || in.fn == insn_forms[f].fn)
				continue; /* not a specialised form (e.g. LEA r, r; o16 PUSH) */
			for (int t = 0; t < 40; t++) {
				uint32_t cc[6];

				state_random(0x1000 + in.len);
				state_get(&start);
				start.flags = cpu->flags;
				cc[0] = cpu->cc_op;
				cc[1] = cpu->cc_bits;
				cc[2] = cpu->cc_res;
				cc[3] = cpu->cc_a;
				cc[4] = cpu->cc_b;
				cc[5] = cpu->cc_c;
				run_handler(in.fn, &in);
				state_get(&a);
				state_put(&start, cc);
				run_handler(insn_forms[f].fn, &in);
				state_get(&b);
				runs++;
				if (!same_state(&a, &b) && bad++ < 10)
					fprintf(stderr,
						"form %03x/%u (%s) 66 %d mod3 %d: the fast handler "
						"and %s "
						"differ (eax %08x/%08x flags %x/%x exc %d/%d)\n",
						op, f & 7, r->name, opsize, mod3, r->fn, a.r[0],
						b.r[0], a.flags, b.flags, a.exc, b.exc);
			}
		}
	}
	CHECK_EQ(bad, 0);
	CHECK(runs > 20000);
	printf("fast families: %u runs against the generic handlers\n", runs);
	cpu = soft;
	cpu_free(real);
}

/* ---- the backend's families (the jit column) --------------------------- */

/* Whether the row's first operand is a byte ("Eb", "Gb", "AL"), a word or
 * dword ("Ev", "Gv", "eAX"), or the name does not say (-1). */
static int wide_by_name(const char *name)
{
	const char *sp = strchr(name, ' ');

	if (!sp)
		return -1;
	if (!strncmp(sp + 1, "AL", 2) || (sp[2] == 'b' && strchr("EG", sp[1])))
		return 0;
	if (!strncmp(sp + 1, "eAX", 3) || (sp[2] == 'v' && strchr("EG", sp[1])))
		return 1;
	return -1;
}

/*
 * jit_x64.c chooses within a family by the operand fields and the opcode's
 * operation bits and trusts the column for the rest: each form of a family
 * has the ModRM, flow and width bit its emitters take for granted, and the
 * families that match one of fast.c's cover the same forms.
 */
static void test_jit_families(void)
{
	static const struct {
		uint8_t fast, jit;
	} same[] = {{FAST_ALU, JIT_ALU},    {FAST_TEST, JIT_TEST},   {FAST_MOV, JIT_MOV},
		    {FAST_MOVI, JIT_MOVEI}, {FAST_SHIFT, JIT_SHIFT}, {FAST_INCDEC, JIT_INCDEC},
		    {FAST_PUSH, JIT_PUSH},  {FAST_POP, JIT_POP},     {FAST_JCC, JIT_JCC},
		    {FAST_LEA, JIT_LEA},    {FAST_MOVX, JIT_MOVX}};
	/* families whose forms take a ModRM byte (the others never do) */
	static const uint8_t modrm[] = {JIT_ALU,  JIT_ALUI,	JIT_ALUI_REG, JIT_TEST,
					JIT_GRP3, JIT_INCDEC_E, JIT_MOV,      JIT_MOVEI,
					JIT_MOVX, JIT_XCHG,	JIT_LEA,      JIT_SHIFT,
					JIT_SHLD, JIT_IMUL,	JIT_SETCC,    JIT_XFER_E};
	/* families where opcode bit 0 is the operand width (jit_x64.c wide()) */
	static const uint8_t width[] = {JIT_ALU,   JIT_ACC,   JIT_ALUI, JIT_ALUI_REG,
					JIT_TEST,  JIT_TESTA, JIT_MOV,	JIT_MOVEI,
					JIT_SHIFT, JIT_GRP3,  JIT_XCHG, JIT_INCDEC_E};
	unsigned n = 0;

	for (unsigned s = 0; s < NFORMS; s++) {
		const Row *r = row_of[s];
		unsigned op = s >> 3;

		if (!r)
			continue;
		for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
			if (r->fast == same[i].fast || r->jit == same[i].jit)
				CHECK(r->fast == same[i].fast && r->jit == same[i].jit);
		if (r->fast == FAST_ALUI)
			CHECK(r->jit == JIT_ALUI || r->jit == JIT_ALUI_REG);
		if (r->jit == JIT_NONE)
			continue;
		n++;
		if (is_ud(r) || r->fmt == OPF_PFX || r->fmt == OPF_ESC) {
			fprintf(stderr, "form %03x/%u (%s): jit %u\n", op, s & 7, r->name, r->jit);
			CHECK(0);
		}
		if (r->jit != JIT_PURE) /* PURE: either */
			CHECK_EQ(!!(r->fmt & OPF_E), memchr(modrm, r->jit, sizeof(modrm)) != NULL);
		if (r->jit == JIT_JCC || r->jit == JIT_XFER || r->jit == JIT_XFER_E) {
			/* a block's last instruction, a near transfer */
			CHECK_EQ(r->flow, FLOW_JUMP);
		} else {
			/* in the middle of a block; the inline paths never save */
			CHECK_EQ(r->flow, FLOW_NEXT);
			CHECK(r->save != SV_ALWAYS);
		}
		if (memchr(width, r->jit, sizeof(width)) && wide_by_name(r->name) >= 0 &&
		    wide_by_name(r->name) != (int)(op & 1)) {
			fprintf(stderr, "form %03x/%u (%s): width bit\n", op, s & 7, r->name);
			CHECK(0);
		}
		/* PURE: no memory but its memory forms, which it never calls */
		if (r->jit == JIT_PURE)
			CHECK(r->save == SV_NEVER);
	}
	CHECK(n > 0);
	printf("jit families: %u forms\n", n);
}

int main(void)
{
	cpu = calloc(1, sizeof(*cpu));
	test_coverage();
	test_rows();
	test_table();
	test_decoder();
	test_capstone();
	test_flows();
	test_lock();
	test_fast_families();
	test_jit_families();
	printf("%zu rows, %u forms\n", NROWS, NFORMS);
	free(cpu);
	return unit_done("opcodes");
}
