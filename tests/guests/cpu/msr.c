/*
 * msr.c - the P6 model-specific registers and SYSENTER/SYSEXIT: the
 * microcode, platform-id, MTRR, machine-check and IA32_MISC_ENABLE MSRs read
 * without #GP, MTRRs read back what was written, fast strings are enabled
 * in IA32_MISC_ENABLE and the bit writes back, SYSENTER enters ring 0 with the flat
 * segments SYSENTER_CS names and SYSEXIT returns to ring 3, and both raise
 * #GP(0) where the SDM says.
 *
 * Built twice.  cpu-msr has what QEMU (TCG) gets right; with STRICT it is
 * cpu-msr-strict, plus what QEMU 7.2 does not do (meson.build marks its QEMU
 * run should_fail):
 *   - CPUID.1:EDX of this CPU (QEMU's qemu32 model advertises other bits);
 *   - #GP for the CR4 bits of what this CPU does not have: VME, PVI, PAE
 *     (QEMU takes VME and PVI although qemu32 does not advertise VME);
 *   - #GP for reserved bits and invalid memory types in MTRR writes, for
 *     writes to read-only MSRs and for MSRs that do not exist (QEMU reads
 *     them as 0 and ignores the writes);
 *   - the performance counters (QEMU has none without a PMU and reads 0):
 *     event selects read back, counter writes sign-extend bit 31 to 40 bits;
 *   - IA32_MISC_ENABLE's read-only bits (performance monitoring available,
 *     BTS and PEBS unavailable: QEMU reads 1, fast strings only) and #GP for
 *     the bits of features this CPU lacks (QEMU takes any value).
 */
#include "xlib.h"

static u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (u64)hi << 32 | lo;
}

static void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf));
}

/* RDMSR / WRMSR of the MSR in msr_n (value msr_v) that may fault. */
u32 msr_n, msr_lo, msr_hi;
TRIGGER(t_rdmsr, "mov msr_n, %ecx\nt_rdmsr_fault: rdmsr\nt_rdmsr_resume: ret\n")
TRIGGER(t_wrmsr, "mov msr_n, %ecx\nmov msr_lo, %eax\nmov msr_hi, %edx\n"
		 "t_wrmsr_fault: wrmsr\nt_wrmsr_resume: ret\n")

static bool rdmsr_ok(u32 msr)
{
	msr_n = msr;
	return xcatch(t_rdmsr, 0).count == 0;
}

static struct fault try_wrmsr(u32 msr, u64 v)
{
	msr_n = msr;
	msr_lo = (u32)v;
	msr_hi = (u32)(v >> 32);
	return xcatch(t_wrmsr, 0);
}

static void test_readable(void)
{
	static const u32 msrs[] = {0x17,  0x8b,	 0xfe,	0x179, 0x17a, 0x1a0, 0x200, 0x201,
				   0x20f, 0x250, 0x258, 0x259, 0x268, 0x26f, 0x2ff};

	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		check(rdmsr_ok(msrs[i]), "RDMSR 0x%x faults", msrs[i]);
	/* the microcode update protocol: write 0, CPUID, read the revision */
	wrmsr(0x8b, 0);
	u32 a, b, c, d;

	cpuid(1, &a, &b, &c, &d);
	check(rdmsr(0x8b) >> 32 != 0, "BIOS_SIGN_ID: no microcode revision");
}

static void test_mtrr(void)
{
	const u64 base = 0x0000000012345006ull, mask = 0x0000000ffff00800ull;
	const u64 fixed = 0x0605040100060504ull;

	wrmsr(0x20e, base);
	wrmsr(0x20f, mask);
	wrmsr(0x268, fixed);
	wrmsr(0x2ff, 0xc06);
	check(rdmsr(0x20e) == base, "PHYSBASE7 0x%x", (u32)rdmsr(0x20e));
	check(rdmsr(0x20f) == mask, "PHYSMASK7 0x%x", (u32)rdmsr(0x20f));
	check(rdmsr(0x268) == fixed, "FIX4K_C0000 0x%x", (u32)rdmsr(0x268));
	check((rdmsr(0x2ff) & 0xcff) == 0xc06, "MTRRdefType 0x%x", (u32)rdmsr(0x2ff));
	wrmsr(0x2ff, 0);
	wrmsr(0x20f, 0);
}

/* IA32_MISC_ENABLE: fast strings on after reset, and the bit writes back. */
static void test_misc_enable(void)
{
	u64 v = rdmsr(0x1a0);
	struct fault f;

	check(v & 1, "IA32_MISC_ENABLE 0x%x: fast strings off after reset", (u32)v);
	f = try_wrmsr(0x1a0, v & ~1ull);
	check(f.count == 0, "WRMSR IA32_MISC_ENABLE without fast strings: vector %u", f.vector);
	check(rdmsr(0x1a0) == (v & ~1ull), "IA32_MISC_ENABLE 0x%x after clearing bit 0",
	      (u32)rdmsr(0x1a0));
	wrmsr(0x1a0, v);
	check(rdmsr(0x1a0) == v, "IA32_MISC_ENABLE 0x%x, wrote back 0x%x", (u32)rdmsr(0x1a0),
	      (u32)v);
}

/* ---- SYSENTER / SYSEXIT ---------------------------------------------- */

/* What the ring-0 side saw, and what ring 3 saw after SYSEXIT. */
u32 se_cs, se_ss, se_esp, se_eflags, sx_cs, sx_ss, sx_esp;
u8 sysenter_stack[1024];

/* Ring 3: remember ESP in EBP, SYSENTER; the kernel side records its
 * state and SYSEXITs to sx_back with ESP = the old ESP - 16. */
__asm__(".text\n"
	"sys_user: mov %esp, %ebp\nsysenter\n"
	"sx_back: mov %cs, sx_cs\nmov %ss, sx_ss\nmov %esp, sx_esp\n"
	"mov $0, %eax\nint $0x80\n"
	"sys_kernel: mov %cs, se_cs\nmov %ss, se_ss\nmov %esp, se_esp\n"
	"pushf\npopl se_eflags\n"
	"lea -16(%ebp), %ecx\nmov $sx_back, %edx\nsysexit\n"
	/* SYSEXIT at CPL 3 */
	"sysexit_user: sysexit\n");
extern const char sys_user[], sys_kernel[], sysexit_user[];
TRIGGER(t_sysenter, "t_sysenter_fault: sysenter\nt_sysenter_resume: ret\n")

static void test_sysenter(void)
{
	u32 top = (u32)(user_stack + sizeof(user_stack));
	u32 ktop = (u32)(sysenter_stack + sizeof(sysenter_stack));
	struct fault f;

	wrmsr(0x174, 0x08);
	wrmsr(0x175, ktop);
	wrmsr(0x176, (u32)sys_kernel);
	check(rdmsr(0x174) == 0x08 && rdmsr(0x175) == ktop, "SYSENTER MSRs read back");
	f = run_user((u32)sys_user, top, EFLAGS_IF);
	check(f.count == 0, "SYSENTER round trip: vector %u at 0x%x", f.vector, f.eip);
	check(se_cs == 0x08 && se_ss == 0x10, "after SYSENTER: CS %x SS %x", se_cs, se_ss);
	check(se_esp == ktop, "after SYSENTER: ESP %x, want %x", se_esp, ktop);
	check(!(se_eflags & EFLAGS_IF), "SYSENTER leaves IF set");
	check(sx_cs == USER_CS && sx_ss == USER_DS, "after SYSEXIT: CS %x SS %x", sx_cs, sx_ss);
	check(sx_esp == top - 16, "after SYSEXIT: ESP %x, want %x", sx_esp, top - 16);

	f = run_user((u32)sysexit_user, top, 0);
	check_fault("SYSEXIT at CPL 3", f, 13, 0, (u32)sysexit_user);
	wrmsr(0x174, 0);
	f = xcatch(t_sysenter, 0);
	check_fault("SYSENTER with SYSENTER_CS 0", f, 13, 0, (u32)t_sysenter_fault);
}

/* ---- CR4 --------------------------------------------------------------- */

u32 cr4_bits;
TRIGGER(t_cr4, "mov %cr4, %eax\nor cr4_bits, %eax\nt_cr4_fault: mov %eax, %cr4\n"
	       "t_cr4_resume: ret\n")

static void cr4_refused(const char *what, u32 bits)
{
	struct fault f;

	cr4_bits = bits;
	f = xcatch(t_cr4, 0);
	check_fault(what, f, 13, 0, (u32)t_cr4_fault);
}

static __attribute__((unused)) void test_cr4(void)
{
	cr4_refused("CR4.VME", 0x1);
	cr4_refused("CR4.PVI", 0x2);
	cr4_refused("CR4.PAE", 0x20);
}

/* ---- what QEMU does not do --------------------------------------------- */

static __attribute__((unused)) void test_cpuid(void)
{
	u32 a, b, c, d;

	cpuid(1, &a, &b, &c, &d);
	check(a == 0x619, "CPUID.1:EAX 0x%x, want family 6 model 1 stepping 9", a);
	/* FPU DE PSE TSC MSR MCE CX8 APIC SEP MTRR PGE MCA CMOV; no VME, PAE */
	check(d == 0xfbbd, "CPUID.1:EDX 0x%x, want 0xfbbd", d);
	/* QEMU's qemu32 has no MTRRs: its MTRRcap reads 0 */
	check((rdmsr(0xfe) & 0xff) == 8 && (rdmsr(0xfe) & 0x100),
	      "MTRRcap 0x%x: want 8 variable and the fixed MTRRs", (u32)rdmsr(0xfe));
}

static __attribute__((unused)) void test_gp(void)
{
	static const struct {
		u32 msr;
		u64 v;
	} bad[] = {
	    {0x200, 0x0000000012345002ull}, /* memory type 2 */
	    {0x200, 0x0000000112345100ull}, /* reserved bits 11:8 and above 35 */
	    {0x201, 0x00000000fff00001ull}, /* reserved mask bits */
	    {0x250, 0x0000000000000300ull}, /* type 3 in a fixed range */
	    {0x2ff, 0x0000000000001006ull}, /* reserved bit 12 */
	    {0x17, 0},			    /* read-only */
	    {0xfe, 0},			    /* read-only */
	    {0x179, 0},			    /* read-only */
	    {0x186, 0x100000000ull},	    /* reserved event-select bits */
	    {0x1234, 0},		    /* no such MSR */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fault f = try_wrmsr(bad[i].msr, bad[i].v);

		check(f.count && f.vector == 13 && f.error == 0, "WRMSR 0x%x, 0x%x%08x: no #GP(0)",
		      bad[i].msr, (u32)(bad[i].v >> 32), (u32)bad[i].v);
	}
	check(!rdmsr_ok(0x1234), "RDMSR 0x1234 (no such MSR) does not fault");
	check(!rdmsr_ok(0x400), "RDMSR MC0_CTL (no banks) does not fault");
}

/* This CPU's IA32_MISC_ENABLE exactly: read-only bits, and #GP for features
 * it lacks. */
static __attribute__((unused)) void test_misc_enable_strict(void)
{
	static const int lacking[] = {3, 16, 18, 22, 23, 34};

	check(rdmsr(0x1a0) == 0x1881, "IA32_MISC_ENABLE 0x%x, want 0x1881", (u32)rdmsr(0x1a0));
	wrmsr(0x1a0, 0x0001); /* the read-only bits keep their value */
	check(rdmsr(0x1a0) == 0x1881, "IA32_MISC_ENABLE 0x%x after writing 1", (u32)rdmsr(0x1a0));
	for (unsigned i = 0; i < sizeof(lacking) / sizeof(lacking[0]); i++) {
		struct fault f = try_wrmsr(0x1a0, 0x1881 | 1ull << lacking[i]);

		check(f.count && f.vector == 13 && f.error == 0,
		      "WRMSR IA32_MISC_ENABLE bit %d: no #GP(0)", lacking[i]);
	}
	check(rdmsr(0x1a0) == 0x1881, "IA32_MISC_ENABLE 0x%x after the refused writes",
	      (u32)rdmsr(0x1a0));
}

static __attribute__((unused)) void test_pmu(void)
{
	wrmsr(0x186, 0x0043c0);
	wrmsr(0x187, 0x000079);
	check(rdmsr(0x186) == 0x43c0 && rdmsr(0x187) == 0x79, "PerfEvtSel0/1 read back");
	wrmsr(0xc1, 0x80000005);
	wrmsr(0xc2, 0x12345678);
	check(rdmsr(0xc1) == 0xff80000005ull, "PerfCtr0 0x%x%08x, want sign-extended to 40 bits",
	      (u32)(rdmsr(0xc1) >> 32), (u32)rdmsr(0xc1));
	check(rdmsr(0xc2) == 0x12345678, "PerfCtr1 0x%x", (u32)rdmsr(0xc2));
	wrmsr(0x186, 0);
	wrmsr(0x187, 0);
}

int guest_main(void)
{
	xlib_init();
	/* SYSENTER is tested with IF set in ring 3: no interrupt may come
	 * (under QEMU the BIOS left the timer running) */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	test_readable();
	test_mtrr();
	test_misc_enable();
	test_sysenter();
#ifdef STRICT
	test_cr4();
	test_cpuid();
	test_gp();
	test_pmu();
	test_misc_enable_strict();
	return check_done("cpu-msr-strict");
#else
	return check_done("cpu-msr");
#endif
}
