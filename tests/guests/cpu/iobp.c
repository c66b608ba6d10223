/*
 * iobp.c - I/O breakpoints: with CR4.DE set, a DR7 breakpoint of type 10b
 * matches port accesses (IN, OUT, INS, OUTS) that overlap its port range and
 * traps after the instruction with DR6.Bn set; other ports do not.  CPUID
 * advertises DE.  (Type 10b with CR4.DE clear is undefined: not tested;
 * flashback ignores such a breakpoint.)
 */
#include "xlib.h"

#define CR4_DE	    0x08
#define DR7_L(n)    (1u << (2 * (n)))
#define DR7_IO(n)   (2u << (16 + 4 * (n)))
#define DR7_LEN4(n) (3u << (18 + 4 * (n)))
#define PORT_BP0    0x80 /* POST code port: writes go nowhere */
#define PORT_BP1    0x84 /* a 4-byte range: 0x84-0x87 */

static u32 read_cr4(void)
{
	u32 v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void write_cr4(u32 v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v));
}

static void set_dr7(u32 v)
{
	__asm__ volatile("mov %0, %%db7" : : "r"(v));
}

TRIGGER(t_out80, "mov $0x80, %dx\nt_out80_fault: outb %al, %dx\nt_out80_resume: ret\n")
TRIGGER(t_in81, "t_in81_fault: inb $0x81, %al\nt_in81_resume: ret\n")
TRIGGER(t_in86, "t_in86_fault: inw $0x86, %ax\nt_in86_resume: ret\n")
TRIGGER(t_ins83, "push %edi\nmov $scratch, %edi\nmov $0x83, %dx\nmov $1, %ecx\ncld\n"
		 "t_ins83_fault: rep insw\nt_ins83_resume: pop %edi\nret\n")
u32 scratch[4];

static void test_io_bp(void)
{
	struct fault f;

	__asm__ volatile("mov %0, %%db0" : : "r"(PORT_BP0));
	__asm__ volatile("mov %0, %%db1" : : "r"(PORT_BP1));
	set_dr7(DR7_L(0) | DR7_IO(0) | DR7_L(1) | DR7_IO(1) | DR7_LEN4(1));

	write_cr4(read_cr4() | CR4_DE);
	f = xcatch(t_out80, 0);
	check_fault("OUT 0x80, I/O breakpoint 0", f, 1, 0, (u32)t_out80_resume);
	check((f.dr6 & 0xf) == 0x1, "OUT 0x80: DR6 0x%x, want B0", f.dr6);
	f = xcatch(t_in81, 0);
	check(f.count == 0, "IN 0x81 hit a breakpoint (vector %u, DR6 0x%x)", f.vector, f.dr6);
	f = xcatch(t_in86, 0);
	check_fault("IN AX, 0x86 in 0x84-0x87", f, 1, 0, (u32)t_in86_resume);
	check((f.dr6 & 0xf) == 0x2, "IN 0x86: DR6 0x%x, want B1", f.dr6);
	/* a word at 0x83 covers 0x84: breakpoint 1 */
	f = xcatch(t_ins83, 0);
	check_fault("INSW 0x83-0x84", f, 1, 0, (u32)t_ins83_resume);
	check((f.dr6 & 0xf) == 0x2, "INSW 0x83: DR6 0x%x, want B1", f.dr6);

	set_dr7(0);
	write_cr4(read_cr4() & ~CR4_DE);
}

static void test_cpuid(void)
{
	u32 a, b, c, d;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1));
	check(d & 0x4, "CPUID.1:EDX 0x%x: DE not advertised", d);
}

int guest_main(void)
{
	xlib_init();
	test_cpuid();
	test_io_bp();
	return check_done("cpu-iobp");
}
