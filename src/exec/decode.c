/*
 * decode.c - instruction decoding: prefixes, opcode, ModRM/SIB for 16- and
 * 32-bit addressing, displacement and immediates, into an Insn; the LOCK
 * rules; the handler table indexed by opcode (0x100 + second byte for 0F xx).
 *
 * Decoding reads only code bytes, never registers, so an Insn depends only
 * on the bytes and the code/default sizes: a decode cache keyed by physical
 * address can keep them.
 */
#include "x86.h"

/* Per-opcode decoding properties. */
enum {
	M = 0x01,  /* ModRM follows */
	IB = 0x02, /* 8-bit immediate */
	IZ = 0x04, /* 16/32-bit immediate (operand size) */
	IW = 0x08, /* 16-bit immediate */
	MO = 0x10, /* moffs: address-size offset */
	FP = 0x20, /* far pointer: IZ + IW */
	GI = 0x40, /* group: immediate depends on reg (F6/F7 /0 /1) */
};

/* clang-format off */
static const uint8_t info1[256] = {
	/* 00 */ M, M, M, M, IB, IZ, 0, 0, M, M, M, M, IB, IZ, 0, 0,
	/* 10 */ M, M, M, M, IB, IZ, 0, 0, M, M, M, M, IB, IZ, 0, 0,
	/* 20 */ M, M, M, M, IB, IZ, 0, 0, M, M, M, M, IB, IZ, 0, 0,
	/* 30 */ M, M, M, M, IB, IZ, 0, 0, M, M, M, M, IB, IZ, 0, 0,
	/* 40 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 50 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 60 */ 0, 0, M, M, 0, 0, 0, 0, IZ, M | IZ, IB, M | IB, 0, 0, 0, 0,
	/* 70 */ IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB, IB,
	/* 80 */ M | IB, M | IZ, M | IB, M | IB, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 90 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, FP, 0, 0, 0, 0, 0,
	/* A0 */ MO, MO, MO, MO, 0, 0, 0, 0, IB, IZ, 0, 0, 0, 0, 0, 0,
	/* B0 */ IB, IB, IB, IB, IB, IB, IB, IB, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ,
	/* C0 */ M | IB, M | IB, IW, 0, M, M, M | IB, M | IZ, IW | IB, 0, IW, 0, 0, IB, 0, 0,
	/* D0 */ M, M, M, M, IB, IB, 0, 0, M, M, M, M, M, M, M, M,
	/* E0 */ IB, IB, IB, IB, IB, IB, IB, IB, IZ, IZ, FP, IB, 0, 0, 0, 0,
	/* F0 */ 0, 0, 0, 0, 0, 0, M | GI, M | GI, 0, 0, 0, 0, 0, 0, M, M,
};

static const uint8_t info2[256] = {
	/* 00 */ M, M, M, M, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 10 */ 0, 0, 0, 0, 0, 0, 0, 0, M, M, M, M, M, M, M, M,
	/* 20 */ M, M, M, M, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 30 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 40 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 50 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 60 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 70 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 80 */ IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ, IZ,
	/* 90 */ M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* A0 */ 0, 0, 0, M, M | IB, M, 0, 0, 0, 0, 0, M, M | IB, M, 0, M,
	/* B0 */ M, M, M, M, M, M, M, M, 0, 0, M | IB, M, M, M, M, M,
	/* C0 */ M, M, 0, 0, 0, 0, 0, M, 0, 0, 0, 0, 0, 0, 0, 0,
	/* D0 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* E0 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* F0 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* clang-format on */

/* Fetch state: the offset of the next byte in CS and the bytes taken;
 * @host when the @avail bytes there lie in one RAM page inside the limit.
 * @soft: running out of bytes marks the decode @bad instead of faulting. */
typedef struct Fetch {
	uint32_t off;
	unsigned n, avail;
	const uint8_t *host;
	bool soft, bad;
} Fetch;

static uint8_t fetch_slow(CPU *cpu, Fetch *f)
{
	const SegReg *cs = &cpu->seg[S_CS];
	uint32_t off = f->off;

	if (f->soft) {
		f->bad = true;
		return 0;
	}
	if (++f->n > 15)
		cpu_raise(cpu, EX_GP, 0);
	if (!code32(cpu))
		off &= 0xffff;
	if (off > cs->limit)
		cpu_raise(cpu, EX_GP, 0);
	f->off++;
	return fetch8_lin(cpu, cs->base + off);
}

static inline uint8_t fetch(CPU *cpu, Fetch *f)
{
	if (f->host) {
		if (f->n < f->avail)
			return f->host[f->n++];
		if (!f->soft)
			cpu_raise(cpu, EX_GP, 0);
		f->bad = true;
		return 0;
	}
	return fetch_slow(cpu, f);
}

static void fetch_start(CPU *cpu, Fetch *f)
{
	const SegReg *cs = &cpu->seg[S_CS];
	uint32_t eip = cpu->eip, lin = cs->base + eip;

	f->off = eip;
	f->n = 0;
	f->avail = 15;
	f->host = NULL;
	f->soft = f->bad = false;
	if ((lin & (PAGE_SIZE - 1)) > PAGE_SIZE - 15 || eip > cs->limit || cs->limit - eip < 14)
		return;
	if (!code32(cpu) && eip > 0xffff - 14)
		return;
	f->host = tlb_read_ptr(cpu, lin);
}

static uint32_t fetch16(CPU *cpu, Fetch *f)
{
	uint32_t v = fetch(cpu, f);

	return v | (uint32_t)fetch(cpu, f) << 8;
}

static uint32_t fetch32(CPU *cpu, Fetch *f)
{
	uint32_t v = fetch16(cpu, f);

	return v | fetch16(cpu, f) << 16;
}

static void decode_modrm16(CPU *cpu, Insn *in, Fetch *f)
{
	static const int8_t base[8] = {R_EBX, R_EBX, R_EBP, R_EBP, R_ESI, R_EDI, R_EBP, R_EBX};
	static const int8_t index[8] = {R_ESI, R_EDI, R_ESI, R_EDI, -1, -1, -1, -1};

	in->base = base[in->rm];
	in->index = index[in->rm];
	in->scale = 0;
	in->ea_seg = (in->rm == 2 || in->rm == 3 || in->rm == 6) ? S_SS : S_DS;
	if (in->mod == 0 && in->rm == 6) {
		in->base = -1;
		in->ea_seg = S_DS;
		in->disp = fetch16(cpu, f);
	} else if (in->mod == 1) {
		in->disp = (uint32_t)(int32_t)(int8_t)fetch(cpu, f);
	} else if (in->mod == 2) {
		in->disp = fetch16(cpu, f);
	} else {
		in->disp = 0;
	}
}

static void decode_modrm32(CPU *cpu, Insn *in, Fetch *f)
{
	in->index = -1;
	in->scale = 0;
	in->base = (int8_t)in->rm;
	if (in->rm == 4) {
		uint8_t sib = fetch(cpu, f);
		unsigned idx = (sib >> 3) & 7;

		in->scale = sib >> 6;
		in->index = idx == 4 ? -1 : (int8_t)idx;
		in->base = (int8_t)(sib & 7);
		if (in->base == R_EBP && in->mod == 0)
			in->base = -1;
	} else if (in->rm == 5 && in->mod == 0) {
		in->base = -1;
	}
	in->ea_seg = (in->base == R_ESP || in->base == R_EBP) ? S_SS : S_DS;
	if (in->mod == 1)
		in->disp = (uint32_t)(int32_t)(int8_t)fetch(cpu, f);
	else if (in->mod == 2 || in->base == -1)
		in->disp = fetch32(cpu, f);
	else
		in->disp = 0;
}

/* Can LOCK prefix this instruction?  Only read-modify-write forms with a
 * memory destination. */
static bool lockable(const Insn *in)
{
	unsigned op = in->op;

	if (in->mod == 3)
		return false;
	if (op < 0x40)
		return (op & 7) < 2 && (op & 0x38) != 0x38;
	switch (op) {
	case 0x80:
	case 0x81:
	case 0x82:
	case 0x83:
		return in->reg != 7;
	case 0x86:
	case 0x87:
		return true;
	case 0xf6:
	case 0xf7:
		return in->reg == 2 || in->reg == 3;
	case 0xfe:
	case 0xff:
		return in->reg < 2;
	case 0x1ab:
	case 0x1b3:
	case 0x1bb:
	case 0x1b0:
	case 0x1b1:
	case 0x1c0:
	case 0x1c1:
		return true;
	case 0x1ba:
		return in->reg >= 5;
	case 0x1c7:
		return in->reg == 1;
	}
	return false;
}

/* Does the instruction end a block?  Only the forms listed here run in the
 * middle of one: they neither jump nor change modes, segments, IF, TF or
 * the paging state, and touch devices only through MMIO (which stops the
 * block, see mmu.c).  Everything else ends its block, so the loop's
 * boundary checks run right after it. */
static uint8_t insn_flow(const Insn *in)
{
	static const uint8_t next1[256 / 8] = {
		/* 00-3F: the ALU forms, DAA DAS AAA AAS; not the segment pushes/pops */
		0x3f, 0x3f, 0x3f, 0x3f, 0xbf, 0xbf, 0xbf, 0xbf,
		/* 40-5F: INC DEC PUSH POP r */
		0xff, 0xff, 0xff, 0xff,
		/* 60 PUSHA 61 POPA 62 BOUND 68-6B PUSH/IMUL */
		0x07, 0x0f,
		/* 70-7F Jcc */
		0x00, 0x00,
		/* 80-8D, 8F (not 8E MOV Sreg) */
		0xff, 0xbf,
		/* 90-99, 9E 9F (not 9A CALLF 9B FWAIT 9C PUSHF 9D POPF) */
		0xff, 0xc3,
		/* A0-AF: MOV moffs, string forms (REP checked below), TEST */
		0xff, 0xff,
		/* B0-BF MOV r, imm */
		0xff, 0xff,
		/* C0 C1 C6 C7 C8 C9 */
		0xc3, 0x03,
		/* D0-D7, D8-DF x87 */
		0xff, 0xff,
		/* E0-EF: loops, I/O, calls, jumps */
		0x00, 0x00,
		/* F5 F6 F7, F8 F9 FC FD FE FF (FF: by reg, below) */
		0xe0, 0xf3,
	};
	static const uint8_t next2[256 / 8] = {
		/* 0F 18-1F hint NOPs */
		0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00,
		/* 0F 40-4F CMOVcc */
		0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		/* 0F 90-9F SETcc */
		0x00, 0x00, 0xff, 0xff,
		/* 0F A0 A3 A4 A5 A8 AB AC AD AF; B0 B1 B3 B6 B7 BA-BF */
		0x39, 0xb9, 0xcb, 0xfc,
		/* 0F C0 C1 C7, C8-CF BSWAP */
		0x83, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	unsigned op = in->op & 0xff;
	const uint8_t *t = in->op < 0x100 ? next1 : next2;

	if (!((t[op >> 3] >> (op & 7)) & 1)) {
		/* Jcc, JMP rel, CALL rel, RET near, LOOP/JCXZ */
		if ((in->op >= 0x70 && in->op <= 0x7f) || (in->op >= 0x180 && in->op <= 0x18f) ||
		    (in->op >= 0xe0 && in->op <= 0xe3) || in->op == 0xe8 || in->op == 0xe9 ||
		    in->op == 0xeb || in->op == 0xc2 || in->op == 0xc3)
			return FLOW_JUMP;
		return FLOW_END;
	}
	if (in->rep && in->op >= 0xa4 && in->op <= 0xaf && (in->op & 0xfe) != 0xa8)
		return FLOW_REP; /* A8 A9 are TEST */
	if (in->op == 0xff && (in->reg == 2 || in->reg == 4))
		return FLOW_JUMP; /* near indirect CALL / JMP */
	if (in->op == 0xff && (in->reg == 3 || in->reg == 5))
		return FLOW_END;
	return FLOW_NEXT;
}

/*
 * Must the loop save ESP and EFLAGS before running the instruction?  Not
 * for these: they cannot fault after changing either (they read and write
 * memory first; folding lazy flags into EFLAGS changes no value), so a
 * fault needs only EIP back.  SV_MEM: only the register forms (their memory
 * forms write the result after setting the flags).
 */
enum { SV_ALWAYS, SV_NEVER, SV_MEM };
#define SV2(b, v) [b] = v, [b + 1] = v
#define SV4(b, v) SV2(b, v), SV2(b + 2, v)
#define SV8(b, v) SV4(b, v), SV4(b + 4, v)
#define SVALU(b) SV2(b, SV_MEM), SV4(b + 2, SV_NEVER)
static const uint8_t save_rule[0x200] = {
	SVALU(0x00), SVALU(0x08), SVALU(0x10), SVALU(0x18), SVALU(0x20), SVALU(0x28),
	SVALU(0x30), SV4(0x38, SV_NEVER), SV2(0x3c, SV_NEVER),
	[0x27] = SV_NEVER, [0x2f] = SV_NEVER, [0x37] = SV_NEVER, [0x3f] = SV_NEVER,
	SV8(0x40, SV_NEVER), SV8(0x48, SV_NEVER), SV8(0x50, SV_NEVER), SV8(0x58, SV_NEVER),
	SV2(0x60, SV_NEVER), SV4(0x68, SV_NEVER), SV8(0x70, SV_NEVER), SV8(0x78, SV_NEVER),
	SV4(0x80, SV_MEM), SV8(0x84, SV_NEVER), [0x8d] = SV_NEVER, [0x8f] = SV_MEM,
	SV8(0x90, SV_NEVER), SV2(0x98, SV_NEVER), [0x9c] = SV_NEVER, SV2(0x9e, SV_NEVER),
	SV8(0xa0, SV_NEVER), SV8(0xa8, SV_NEVER), SV8(0xb0, SV_NEVER), SV8(0xb8, SV_NEVER),
	SV2(0xc0, SV_MEM), SV2(0xc6, SV_NEVER), [0xc9] = SV_NEVER, SV4(0xd0, SV_MEM),
	SV4(0xd4, SV_NEVER), [0xe8] = SV_NEVER, [0xe9] = SV_NEVER, [0xeb] = SV_NEVER,
	[0xf5] = SV_NEVER, SV2(0xf6, SV_MEM), SV4(0xf8, SV_NEVER), SV2(0xfc, SV_NEVER),
	SV2(0xfe, SV_MEM),
	SV8(0x118, SV_NEVER), SV8(0x140, SV_NEVER), SV8(0x148, SV_NEVER),
	SV8(0x180, SV_NEVER), SV8(0x188, SV_NEVER), SV8(0x190, SV_NEVER), SV8(0x198, SV_NEVER),
	[0x1a3] = SV_NEVER, SV2(0x1a4, SV_MEM), [0x1ab] = SV_NEVER, SV2(0x1ac, SV_MEM),
	[0x1af] = SV_NEVER, SV2(0x1b0, SV_NEVER), [0x1b3] = SV_NEVER, SV2(0x1b6, SV_NEVER),
	SV4(0x1ba, SV_NEVER), SV2(0x1be, SV_NEVER), SV2(0x1c0, SV_MEM), SV8(0x1c8, SV_NEVER),
};

static bool decode_body(CPU *cpu, Insn *in, Fetch *f, bool c32);

void decode(CPU *cpu, Insn *in)
{
	Fetch f;

	fetch_start(cpu, &f);
	decode_body(cpu, in, &f, code32(cpu));
}

bool decode_soft(CPU *cpu, Insn *in, const uint8_t *p, unsigned avail, bool c32)
{
	Fetch f = {.avail = avail < 15 ? avail : 15, .host = p, .soft = true};

	return decode_body(cpu, in, &f, c32);
}

static bool decode_body(CPU *cpu, Insn *in, Fetch *f, bool c32)
{
	uint8_t b;

	in->o32 = c32;
	in->a32 = c32;
	in->lock = false;
	in->rep = 0;
	in->seg = S_NONE;
	for (;;) {
		b = fetch(cpu, f);
		switch (b) {
		case 0x26:
			in->seg = S_ES;
			continue;
		case 0x2e:
			in->seg = S_CS;
			continue;
		case 0x36:
			in->seg = S_SS;
			continue;
		case 0x3e:
			in->seg = S_DS;
			continue;
		case 0x64:
			in->seg = S_FS;
			continue;
		case 0x65:
			in->seg = S_GS;
			continue;
		case 0x66:
			in->o32 = !c32;
			continue;
		case 0x67:
			in->a32 = !c32;
			continue;
		case 0xf0:
			in->lock = true;
			continue;
		case 0xf2:
		case 0xf3:
			in->rep = b;
			continue;
		}
		break;
	}
	uint8_t inf;

	if (b == 0x0f) {
		b = fetch(cpu, f);
		in->op = 0x100 | b;
		inf = info2[b];
	} else {
		in->op = b;
		inf = info1[b];
	}
	if (inf & M) {
		in->modrm = fetch(cpu, f);
		in->mod = in->modrm >> 6;
		in->reg = (in->modrm >> 3) & 7;
		in->rm = in->modrm & 7;
		if (in->mod != 3) {
			if (in->a32)
				decode_modrm32(cpu, in, f);
			else
				decode_modrm16(cpu, in, f);
			if (in->seg != S_NONE)
				in->ea_seg = in->seg;
		}
	} else {
		in->mod = 3;
		in->reg = in->rm = b & 7;
		in->ea_seg = in->seg != S_NONE ? in->seg : S_DS;
	}
	if (inf & MO) {
		in->base = in->index = -1;
		in->disp = in->a32 ? fetch32(cpu, f) : fetch16(cpu, f);
		in->mod = 0;
	}
	if (inf & (IW | FP)) {
		if (inf & FP) {
			in->imm = in->o32 ? fetch32(cpu, f) : fetch16(cpu, f);
			in->imm2 = fetch16(cpu, f);
		} else {
			in->imm = fetch16(cpu, f);
			if (inf & IB)
				in->imm2 = fetch(cpu, f);
		}
	} else if (inf & IB) {
		in->imm = fetch(cpu, f);
	} else if (inf & IZ) {
		in->imm = in->o32 ? fetch32(cpu, f) : fetch16(cpu, f);
	} else if ((inf & GI) && in->reg < 2) {
		in->imm = b == 0xf6 ? fetch(cpu, f)
			  : in->o32 ? fetch32(cpu, f)
				    : fetch16(cpu, f);
	}
	in->len = (uint8_t)f->n;
	if (in->lock && !lockable(in)) {
		if (f->soft)
			return false;
		cpu_fault(cpu, EX_UD);
	}
	in->fn = insn_specialise(in);
	if (!in->fn)
		in->fn = insn_table[in->op];
	in->flow = insn_flow(in);
	in->save = save_rule[in->op] == SV_ALWAYS || (save_rule[in->op] == SV_MEM && in->mod != 3);
	return !f->bad;
}
