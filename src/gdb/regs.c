/*
 * regs.c - the i386 register set gdb sees: the target description and the
 * mapping of gdb's register numbers onto the CPU.
 *
 * The description has one feature, org.gnu.gdb.i386.core, laid out as the
 * GDB manual describes it: eax..edi, eip, eflags, the six segment
 * selectors (32 bits each), st0-st7 (80-bit) and the x87 control
 * registers fctrl..fop.  There is no SSE feature because the CPU has no
 * SSE.  The register numbers are the order of the 'g' packet.
 */
#include "gdb_int.h"

#include <string.h>

#include "../base/base.h"

const char gdb_target_xml[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
    "<target version=\"1.0\">\n"
    "  <architecture>i386</architecture>\n"
    "  <feature name=\"org.gnu.gdb.i386.core\">\n"
    "    <flags id=\"i386_eflags\" size=\"4\">\n"
    "      <field name=\"CF\" start=\"0\" end=\"0\"/>\n"
    "      <field name=\"PF\" start=\"2\" end=\"2\"/>\n"
    "      <field name=\"AF\" start=\"4\" end=\"4\"/>\n"
    "      <field name=\"ZF\" start=\"6\" end=\"6\"/>\n"
    "      <field name=\"SF\" start=\"7\" end=\"7\"/>\n"
    "      <field name=\"TF\" start=\"8\" end=\"8\"/>\n"
    "      <field name=\"IF\" start=\"9\" end=\"9\"/>\n"
    "      <field name=\"DF\" start=\"10\" end=\"10\"/>\n"
    "      <field name=\"OF\" start=\"11\" end=\"11\"/>\n"
    "      <field name=\"NT\" start=\"14\" end=\"14\"/>\n"
    "      <field name=\"RF\" start=\"16\" end=\"16\"/>\n"
    "      <field name=\"VM\" start=\"17\" end=\"17\"/>\n"
    "      <field name=\"AC\" start=\"18\" end=\"18\"/>\n"
    "      <field name=\"VIF\" start=\"19\" end=\"19\"/>\n"
    "      <field name=\"VIP\" start=\"20\" end=\"20\"/>\n"
    "      <field name=\"ID\" start=\"21\" end=\"21\"/>\n"
    "    </flags>\n"
    "    <reg name=\"eax\" bitsize=\"32\" type=\"int32\" regnum=\"0\"/>\n"
    "    <reg name=\"ecx\" bitsize=\"32\" type=\"int32\" regnum=\"1\"/>\n"
    "    <reg name=\"edx\" bitsize=\"32\" type=\"int32\" regnum=\"2\"/>\n"
    "    <reg name=\"ebx\" bitsize=\"32\" type=\"int32\" regnum=\"3\"/>\n"
    "    <reg name=\"esp\" bitsize=\"32\" type=\"data_ptr\" regnum=\"4\"/>\n"
    "    <reg name=\"ebp\" bitsize=\"32\" type=\"data_ptr\" regnum=\"5\"/>\n"
    "    <reg name=\"esi\" bitsize=\"32\" type=\"int32\" regnum=\"6\"/>\n"
    "    <reg name=\"edi\" bitsize=\"32\" type=\"int32\" regnum=\"7\"/>\n"
    "    <reg name=\"eip\" bitsize=\"32\" type=\"code_ptr\" regnum=\"8\"/>\n"
    "    <reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\" regnum=\"9\"/>\n"
    "    <reg name=\"cs\" bitsize=\"32\" type=\"int32\" regnum=\"10\"/>\n"
    "    <reg name=\"ss\" bitsize=\"32\" type=\"int32\" regnum=\"11\"/>\n"
    "    <reg name=\"ds\" bitsize=\"32\" type=\"int32\" regnum=\"12\"/>\n"
    "    <reg name=\"es\" bitsize=\"32\" type=\"int32\" regnum=\"13\"/>\n"
    "    <reg name=\"fs\" bitsize=\"32\" type=\"int32\" regnum=\"14\"/>\n"
    "    <reg name=\"gs\" bitsize=\"32\" type=\"int32\" regnum=\"15\"/>\n"
    "    <reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\" regnum=\"16\"/>\n"
    "    <reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\" regnum=\"17\"/>\n"
    "    <reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\" regnum=\"18\"/>\n"
    "    <reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\" regnum=\"19\"/>\n"
    "    <reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\" regnum=\"20\"/>\n"
    "    <reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\" regnum=\"21\"/>\n"
    "    <reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\" regnum=\"22\"/>\n"
    "    <reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\" regnum=\"23\"/>\n"
    "    <reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"24\"/>\n"
    "    <reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"25\"/>\n"
    "    <reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"26\"/>\n"
    "    <reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"27\"/>\n"
    "    <reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"28\"/>\n"
    "    <reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"29\"/>\n"
    "    <reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"30\"/>\n"
    "    <reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\" regnum=\"31\"/>\n"
    "  </feature>\n"
    "</target>\n";

/* gdb's numbers 10-15 (cs ss ds es fs gs) in the CPU's numbering. */
static const int seg_of_reg[6] = {S_CS, S_SS, S_DS, S_ES, S_FS, S_GS};

enum { REG_EIP = 8, REG_EFLAGS = 9, REG_SEG0 = 10, REG_ST0 = 16, REG_FCTRL = 24 };

unsigned reg_size(int n)
{
	if (n < 0 || n >= GDB_NUM_REGS)
		return 0;
	return n >= REG_ST0 && n < REG_FCTRL ? 10 : 4;
}

void regs_of_cpu(CPU *cpu, GdbRegs *r)
{
	for (int n = 0; n < 8; n++)
		r->gpr[n] = cpu_get_reg(cpu, n); /* gdb's order is the encoding order */
	r->eip = cpu_get_eip(cpu);
	r->eflags = cpu_get_eflags(cpu);
	for (int i = 0; i < 6; i++)
		r->sel[i] = cpu_get_seg(cpu, seg_of_reg[i]).sel;
	fpu_regs_of_cpu(cpu, r);
}

void reg_encode(const GdbRegs *r, int n, uint8_t *buf)
{
	if (n < REG_EIP)
		st32(buf, r->gpr[n]);
	else if (n == REG_EIP)
		st32(buf, r->eip);
	else if (n == REG_EFLAGS)
		st32(buf, r->eflags);
	else if (n < REG_ST0)
		st32(buf, r->sel[n - REG_SEG0]);
	else
		fpu_reg_encode(r, n - REG_ST0, buf);
}

/* Descriptor fields (Intel SDM vol. 3, 3.4.5) into a SegReg. */
static SegReg seg_from_descriptor(uint16_t sel, uint32_t lo, uint32_t hi)
{
	SegReg s = {.sel = sel};
	uint32_t limit = (lo & 0xffff) | (hi & 0x000f0000);

	s.base = (lo >> 16) | (hi & 0xff) << 16 | (hi & 0xff000000);
	s.attr = (hi >> 8) & 0xffff;
	s.limit = hi & 0x00800000 ? limit << 12 | 0xfff : limit;
	return s;
}

/*
 * Loading a selector from gdb: in real and virtual-8086 mode the base is
 * selector * 16; in protected mode the descriptor is read from the GDT
 * (LDT selectors are refused: the LDT base is not visible through cpu.h).
 */
static bool write_seg(const GdbTarget *t, int s, uint16_t sel)
{
	CPU *cpu = t->cpu;
	SegReg seg = cpu_get_seg(cpu, s);
	DescTable gdt = cpu_get_gdtr(cpu);
	uint8_t d[8];

	if (!(cpu_get_cr(cpu, 0) & CR0_PE) || (cpu_get_eflags(cpu) & F_VM)) {
		seg.sel = sel;
		seg.base = (uint32_t)sel << 4;
		cpu_set_seg(cpu, s, seg);
		return true;
	}
	if ((sel & ~3u) == 0 && s != S_CS && s != S_SS) {
		seg.sel = sel; /* a null selector: the segment becomes unusable */
		seg.attr &= ~0x80u;
		cpu_set_seg(cpu, s, seg);
		return true;
	}
	if ((sel & 4) || (uint32_t)(sel & ~7u) + 7 > gdt.limit ||
	    !t->read_mem(t->opaque, gdt.base + (sel & ~7u), d, 8))
		return false;
	cpu_set_seg(cpu, s, seg_from_descriptor(sel, ld32(d), ld32(d + 4)));
	return true;
}

bool reg_write(const GdbTarget *t, int n, const uint8_t *buf)
{
	CPU *cpu = t->cpu;

	if (n < REG_EIP)
		cpu_set_reg(cpu, n, ld32(buf));
	else if (n == REG_EIP)
		cpu_set_eip(cpu, ld32(buf));
	else if (n == REG_EFLAGS)
		cpu_set_eflags(cpu, ld32(buf));
	else if (n < REG_ST0)
		return write_seg(t, seg_of_reg[n - REG_SEG0], ld16(buf));
	else
		fpu_reg_write(cpu, n - REG_ST0, buf);
	return true;
}
