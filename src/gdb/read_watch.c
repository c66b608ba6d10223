/*
 * read_watch.c - read and access watchpoints, approximated by decoding.
 *
 * The CPU offers no memory-access hook, so before each instruction (only
 * while a Z3/Z4 watchpoint is set) the stub decodes it with capstone,
 * computes the linear address of every explicit memory operand from the
 * current registers and segment bases, and checks it against the watched
 * ranges.  If the instruction then retires, the watchpoint triggers.
 * Implicit accesses that capstone does not list as operands (the stack of
 * POP/RET/IRET, descriptor tables, page tables) are not seen: that is the
 * approximation.  A memory-access hook in the CPU would make this exact.
 */
#include "gdb_int.h"

#include <capstone/capstone.h>

/* A register of an address: its CPU number and width. */
static bool addr_reg(CPU *cpu, x86_reg r, uint32_t *v)
{
	static const struct {
		x86_reg r32, r16;
		int n;
	} regs[] = {
	    {X86_REG_EAX, X86_REG_AX, R_EAX}, {X86_REG_ECX, X86_REG_CX, R_ECX},
	    {X86_REG_EDX, X86_REG_DX, R_EDX}, {X86_REG_EBX, X86_REG_BX, R_EBX},
	    {X86_REG_ESP, X86_REG_SP, R_ESP}, {X86_REG_EBP, X86_REG_BP, R_EBP},
	    {X86_REG_ESI, X86_REG_SI, R_ESI}, {X86_REG_EDI, X86_REG_DI, R_EDI},
	};

	*v = 0;
	if (r == X86_REG_INVALID)
		return true;
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (r == regs[i].r32) {
			*v = cpu_get_reg(cpu, regs[i].n);
			return true;
		}
		if (r == regs[i].r16) {
			*v = cpu_get_reg(cpu, regs[i].n) & 0xffff;
			return true;
		}
	}
	return false; /* EIP-relative and the like: not in 32-bit x86 */
}

static int seg_of(x86_reg r, x86_reg base)
{
	switch (r) {
	case X86_REG_ES:
		return S_ES;
	case X86_REG_CS:
		return S_CS;
	case X86_REG_SS:
		return S_SS;
	case X86_REG_FS:
		return S_FS;
	case X86_REG_GS:
		return S_GS;
	case X86_REG_DS:
		return S_DS;
	default:
		/* the default segment: SS for (E)SP / (E)BP based addresses */
		return base == X86_REG_ESP || base == X86_REG_EBP || base == X86_REG_SP ||
			       base == X86_REG_BP
			   ? S_SS
			   : S_DS;
	}
}

static bool want_read_watch(const GdbStub *s)
{
	for (int i = 0; i < s->nwp; i++)
		if (s->wp[i].type != 2)
			return true;
	return false;
}

static bool open_capstone(GdbStub *s)
{
	csh h;

	if (s->capstone)
		return true;
	if (cs_open(CS_ARCH_X86, CS_MODE_32, &h) != CS_ERR_OK)
		return false;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	s->capstone = h;
	return true;
}

/* The bytes of the next instruction (fewer near an unmapped page). */
static size_t fetch(GdbStub *s, uint32_t lin, uint8_t *buf)
{
	size_t n = 15;

	while (n && !s->t.read_mem(s->t.opaque, lin, buf, (uint32_t)n))
		n--;
	return n;
}

/* Does operand @op of the decoded instruction touch a watched range? */
static bool check_operand(GdbStub *s, const cs_x86_op *op, bool addr16, ReadWatch *rw)
{
	CPU *cpu = s->t.cpu;
	uint32_t base, index, ea, lin;

	if (op->type != X86_OP_MEM || !addr_reg(cpu, op->mem.base, &base) ||
	    !addr_reg(cpu, op->mem.index, &index))
		return false;
	ea = base + index * (uint32_t)op->mem.scale + (uint32_t)op->mem.disp;
	if (addr16)
		ea &= 0xffff;
	lin = cpu_get_seg(cpu, seg_of(op->mem.segment, op->mem.base)).base + ea;
	for (int i = 0; i < s->nwp; i++) {
		const Watchpoint *w = &s->wp[i];
		bool read = op->access & CS_AC_READ, any = op->access != 0;

		if (w->type == 2 || !(w->type == 3 ? read : any))
			continue;
		if (lin < w->addr + w->len && w->addr < lin + op->size) {
			rw->hit = true;
			rw->stop.kind = w->type == 3 ? GDB_STOP_RWATCH : GDB_STOP_AWATCH;
			rw->stop.addr = w->addr;
			return true;
		}
	}
	return false;
}

void read_watch_prepare(GdbStub *s, ReadWatch *rw)
{
	CPU *cpu = s->t.cpu;
	SegReg cs = cpu_get_seg(cpu, S_CS);
	bool code32 =
	    (cpu_get_cr(cpu, 0) & CR0_PE) && !(cpu_get_eflags(cpu) & F_VM) && (cs.attr & 0x4000);
	uint8_t code[15];
	cs_insn *insn;
	size_t len;

	rw->hit = false;
	if (!want_read_watch(s) || !open_capstone(s))
		return;
	len = fetch(s, cs.base + cpu_get_eip(cpu), code);
	cs_option(s->capstone, CS_OPT_MODE, code32 ? CS_MODE_32 : CS_MODE_16);
	if (!len || cs_disasm(s->capstone, code, len, cpu_get_eip(cpu), 1, &insn) != 1)
		return;
	if (insn->id == X86_INS_LEA || insn->id == X86_INS_NOP) {
		cs_free(insn, 1); /* an address operand that is never accessed */
		return;
	}
	for (int i = 0; i < insn->detail->x86.op_count && !rw->hit; i++) {
		const cs_x86_op *op = &insn->detail->x86.operands[i];
		/* the address size: the mode, flipped by a 0x67 prefix */
		bool addr16 = code32 == (insn->detail->x86.prefix[3] == 0x67);

		check_operand(s, op, addr16, rw);
	}
	cs_free(insn, 1);
}

bool read_watch_hit(GdbStub *s, const ReadWatch *rw, GdbStop *why)
{
	if (!rw->hit)
		return false;
	*why = rw->stop;
	return true;
}

void read_watch_free(GdbStub *s)
{
	csh h = s->capstone;

	if (h)
		cs_close(&h);
	s->capstone = 0;
}
