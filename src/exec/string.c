/*
 * string.c - the string instructions MOVS CMPS STOS LODS SCAS INS OUTS,
 * with REP/REPE/REPNE.
 *
 * A REP instruction executes one iteration per pass through the loop: when
 * more iterations remain, EIP is put back on the instruction, so each
 * iteration retires (and counts) alone and interrupts, icount limits and
 * exit requests are honoured between iterations.
 */
#include "x86.h"

static inline unsigned str_bits(const Insn *in)
{
	return (in->op & 1) ? (in->o32 ? 32 : 16) : 8;
}

static inline uint32_t idx(CPU *cpu, const Insn *in, int r)
{
	return in->a32 ? cpu->r[r] : cpu->r[r] & 0xffff;
}

static inline void idx_step(CPU *cpu, const Insn *in, int r, unsigned bits)
{
	uint32_t d = (cpu->flags & F_DF) ? (uint32_t) - (int32_t)(bits / 8) : bits / 8;

	if (in->a32)
		cpu->r[r] += d;
	else
		setr_whole(cpu, r, (cpu->r[r] & 0xffff0000u) | ((cpu->r[r] + d) & 0xffff));
}

static inline int src_seg(const Insn *in)
{
	return in->seg != S_NONE ? in->seg : S_DS;
}

/* With a REP prefix and a zero count the instruction does nothing. */
static inline bool rep_skip(CPU *cpu, const Insn *in)
{
	return in->rep && idx(cpu, in, R_ECX) == 0;
}

/* After one iteration: count down and repeat while the condition holds.
 * @zf_cond: 0 for no condition, else REPE/REPNE semantics. */
static void rep_next(CPU *cpu, const Insn *in, bool cmp)
{
	if (!in->rep)
		return;
	uint32_t c = idx(cpu, in, R_ECX) - 1;

	if (in->a32)
		cpu->r[R_ECX] = c;
	else
		setr_whole(cpu, R_ECX, (cpu->r[R_ECX] & 0xffff0000u) | (c & 0xffff));
	if (!(in->a32 ? c : c & 0xffff))
		return;
	if (cmp && cc_zf(cpu) != (in->rep == 0xf3))
		return;
	cpu->eip = cpu->start_eip;
}

H(op_movs)
{
	unsigned bits = str_bits(in);

	if (rep_skip(cpu, in))
		return;
	uint32_t v = rdv(cpu, src_seg(in), idx(cpu, in, R_ESI), bits);

	wrv(cpu, S_ES, idx(cpu, in, R_EDI), v, bits);
	idx_step(cpu, in, R_ESI, bits);
	idx_step(cpu, in, R_EDI, bits);
	rep_next(cpu, in, false);
}

H(op_cmps)
{
	unsigned bits = str_bits(in);

	if (rep_skip(cpu, in))
		return;
	uint32_t a = rdv(cpu, src_seg(in), idx(cpu, in, R_ESI), bits);
	uint32_t b = rdv(cpu, S_ES, idx(cpu, in, R_EDI), bits);

	alu_op(cpu, 7, a, b, bits);
	idx_step(cpu, in, R_ESI, bits);
	idx_step(cpu, in, R_EDI, bits);
	rep_next(cpu, in, true);
}

H(op_stos)
{
	unsigned bits = str_bits(in);

	if (rep_skip(cpu, in))
		return;
	wrv(cpu, S_ES, idx(cpu, in, R_EDI), getr(cpu, R_EAX, bits), bits);
	idx_step(cpu, in, R_EDI, bits);
	rep_next(cpu, in, false);
}

H(op_lods)
{
	unsigned bits = str_bits(in);

	if (rep_skip(cpu, in))
		return;
	setr(cpu, R_EAX, rdv(cpu, src_seg(in), idx(cpu, in, R_ESI), bits), bits);
	idx_step(cpu, in, R_ESI, bits);
	rep_next(cpu, in, false);
}

H(op_scas)
{
	unsigned bits = str_bits(in);

	if (rep_skip(cpu, in))
		return;
	uint32_t b = rdv(cpu, S_ES, idx(cpu, in, R_EDI), bits);

	alu_op(cpu, 7, getr(cpu, R_EAX, bits), b, bits);
	idx_step(cpu, in, R_EDI, bits);
	rep_next(cpu, in, true);
}

H(op_ins)
{
	unsigned bits = str_bits(in);
	uint16_t port = (uint16_t)cpu->r[R_EDX];

	if (!io_allowed(cpu, port, bits / 8))
		cpu_raise(cpu, EX_GP, 0);
	if (rep_skip(cpu, in))
		return;
	uint32_t di = idx(cpu, in, R_EDI);

	/* check the destination before the port read, which has effects */
	seg_check(cpu, S_ES, di, bits / 8, true);
	wrv(cpu, S_ES, di, io_in(cpu, port, bits / 8), bits);
	idx_step(cpu, in, R_EDI, bits);
	rep_next(cpu, in, false);
}

H(op_outs)
{
	unsigned bits = str_bits(in);
	uint16_t port = (uint16_t)cpu->r[R_EDX];

	if (!io_allowed(cpu, port, bits / 8))
		cpu_raise(cpu, EX_GP, 0);
	if (rep_skip(cpu, in))
		return;
	uint32_t v = rdv(cpu, src_seg(in), idx(cpu, in, R_ESI), bits);

	io_out(cpu, port, v, bits / 8);
	idx_step(cpu, in, R_ESI, bits);
	rep_next(cpu, in, false);
}
