/*
 * decode.c - instruction decoding: prefixes, opcode, ModRM/SIB for 16- and
 * 32-bit addressing, displacement and immediates, into an Insn with its
 * handler, flow and save rule.  What each opcode takes and is comes from
 * its row of insn_forms[] (opcodes.def); this file knows only the encoding.
 *
 * Decoding reads only code bytes, never registers, so an Insn depends only
 * on the bytes and the code/default sizes: the block cache keeps them.
 */
#include "x86.h"

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
	if (b == 0x0f) {
		b = fetch(cpu, f);
		in->op = 0x100 | b;
	} else {
		in->op = b;
	}
	/* all rows of an opcode agree on whether ModRM follows; its reg field
	 * then picks the row of a group opcode */
	const InsnForm *form = insn_form(in->op, 0);

	if (form->fmt & OPF_E) {
		in->modrm = fetch(cpu, f);
		in->mod = in->modrm >> 6;
		in->reg = (in->modrm >> 3) & 7;
		in->rm = in->modrm & 7;
		form = insn_form(in->op, in->reg);
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
	unsigned fmt = form->fmt;

	if (fmt & OPF_MOFFS) {
		in->base = in->index = -1;
		in->disp = in->a32 ? fetch32(cpu, f) : fetch16(cpu, f);
		in->mod = 0;
	}
	if (fmt & (OPF_IW | OPF_FAR)) {
		if (fmt & OPF_FAR) {
			in->imm = in->o32 ? fetch32(cpu, f) : fetch16(cpu, f);
			in->imm2 = fetch16(cpu, f);
		} else {
			in->imm = fetch16(cpu, f);
			if (fmt & OPF_IB)
				in->imm2 = fetch(cpu, f);
		}
	} else if (fmt & OPF_IB) {
		in->imm = fetch(cpu, f);
	} else if (fmt & OPF_IZ) {
		in->imm = in->o32 ? fetch32(cpu, f) : fetch16(cpu, f);
	}
	in->len = (uint8_t)f->n;
	/* LOCK: only the read-modify-write forms with a memory destination */
	if (in->lock && !(form->lock == OPL_LOCK && in->mod != 3)) {
		if (f->soft)
			return false;
		cpu_fault(cpu, EX_UD);
	}
	in->fn = insn_specialise(in);
	if (!in->fn)
		in->fn = form->fn;
	in->flow = form->flow;
	in->jit = form->jit;
	if (in->flow == FLOW_STR)
		in->flow = in->rep ? FLOW_REP : FLOW_NEXT;
	in->save = form->save == SV_ALWAYS || (form->save == SV_MEM && in->mod != 3);
	return !f->bad;
}
