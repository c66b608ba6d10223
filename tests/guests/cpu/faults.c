/*
 * faults.c - every exception vector the i686 raises, each with its error
 * code and saved EIP (the faulting instruction for a fault, the next one
 * for a trap), and DR6 for debug exceptions, CR2 for page faults.
 *
 * Each case is a trigger routine with a label on the instruction that
 * should raise the exception and one after it; xcatch() runs it and
 * records the first exception.  Optional setup/teardown functions switch
 * on what the case needs (debug registers, CR0 bits, a broken IDT entry).
 *
 * Built twice.  cpu-faults has everything QEMU (TCG) gets right.  With
 * STRICT defined it becomes cpu-faults-strict: the checks QEMU's TCG does
 * not implement, so that run is expected to fail under QEMU (meson.build
 * marks it should_fail there).  In QEMU 7.2 these raise nothing:
 *   - LOCK MOV [mem], reg (the SDM: #UD for LOCK on a non-lockable
 *     instruction; QEMU only checks some opcodes);
 *   - segment limit and type checks on data accesses: a load past the SS or
 *     ES limit (#SS(0) / #GP(0)), an access through a null ES, a write to a
 *     read-only data segment and a write through CS (#GP(0));
 *   - alignment checking (#AC(0) in ring 3 with CR0.AM and EFLAGS.AC).
 */
#include "xlib.h"

#define SEL_BADTSS 0x30 /* TSS descriptor with a limit below 0x67 */
#define SEL_NP	   0x38 /* data segment, not present */
#define SEL_SMALL  0x40 /* data segment, limit 4 MiB - 1 */
#define SEL_RO	   0x48 /* read-only data segment */

#define NP_VA  0x40000000u /* not present */
#define RO_VA  0x40001000u /* present, read-only, supervisor */
#define SUP_VA 0x40002000u /* present, writable, supervisor only */

#define CR0_NE 0x20
#define CR0_TS 0x08
#define CR0_AM 0x40000

u32 dvar, bounds[2] = {10, 20}, scratch[4];

TRIGGER(t_de, "mov $1, %eax\nxor %edx, %edx\nxor %ecx, %ecx\n"
	      "t_de_fault: div %ecx\nt_de_resume: ret\n")
TRIGGER(t_idiv, "mov $0x80000000, %eax\ncltd\nmov $-1, %ecx\n"
		"t_idiv_fault: idiv %ecx\nt_idiv_resume: ret\n")
/* TF set by POPF traps after the instruction that follows POPF. */
TRIGGER(t_step, "pushf\norl $0x100, (%esp)\npopf\nt_step_fault: nop\n"
		"t_step_resume: nop\nret\n")
TRIGGER(t_dr0, "nop\nt_dr0_fault: nop\nt_dr0_resume: ret\n")
TRIGGER(t_dr1, "t_dr1_fault: movl $5, dvar\nt_dr1_resume: ret\n")
TRIGGER(t_bp, "t_bp_fault: int3\nt_bp_resume: ret\n")
TRIGGER(t_of, "mov $0x7fffffff, %eax\nadd $1, %eax\nt_of_fault: into\nt_of_resume: ret\n")
TRIGGER(t_br, "mov $30, %eax\nt_br_fault: bound %eax, bounds\nt_br_resume: ret\n")
TRIGGER(t_ud2, "t_ud2_fault: ud2\nt_ud2_resume: ret\n")
/* LOCK MOV [ECX], EAX and LOCK ADD EBX, EAX: not lockable. */
TRIGGER(t_lockmov, "mov $scratch, %ecx\nt_lockmov_fault: .byte 0xf0, 0x89, 0x01\n"
		   "t_lockmov_resume: ret\n")
TRIGGER(t_lockreg, "t_lockreg_fault: .byte 0xf0, 0x01, 0xc3\nt_lockreg_resume: ret\n")
TRIGGER(t_nm, "t_nm_fault: fld1\nt_nm_resume: fstp %st(0)\nret\n")
TRIGGER(t_ts, "t_ts_fault: ljmp $0x30, $0\nt_ts_resume: ret\n")
TRIGGER(t_np, "mov $0x38, %eax\nt_np_fault: mov %ax, %ds\nt_np_resume: ret\n")
TRIGGER(t_ss_np, "mov $0x38, %eax\nt_ss_np_fault: mov %ax, %ss\nt_ss_np_resume: ret\n")
TRIGGER(t_ss_lim, "mov $0x40, %eax\nmov %ax, %ss\nnop\n"
		  "t_ss_lim_fault: mov %ss:0x500000, %eax\nt_ss_lim_resume: ret\n")
TRIGGER(t_gp_lim, "mov $0x40, %eax\nmov %ax, %es\n"
		  "t_gp_lim_fault: mov %es:0x500000, %eax\nt_gp_lim_resume: ret\n")
TRIGGER(t_gp_null, "xor %eax, %eax\nmov %ax, %es\n"
		   "t_gp_null_fault: mov %es:scratch, %eax\nt_gp_null_resume: ret\n")
TRIGGER(t_gp_ro, "mov $0x48, %eax\nmov %ax, %es\nmov %es:scratch, %eax\n"
		 "t_gp_ro_fault: movl $1, %es:scratch\nt_gp_ro_resume: ret\n")
TRIGGER(t_gp_cs, "t_gp_cs_fault: movl $1, %cs:scratch\nt_gp_cs_resume: ret\n")
TRIGGER(t_gp_sel, "mov $0x0f08, %eax\nt_gp_sel_fault: mov %ax, %ds\nt_gp_sel_resume: ret\n")
TRIGGER(t_np_idt, "t_np_idt_fault: int $0x41\nt_np_idt_resume: ret\n")
TRIGGER(t_pf_read, "mov 4(%esp), %ecx\nt_pf_read_fault: mov (%ecx), %eax\n"
		   "t_pf_read_resume: ret\n")
TRIGGER(t_pf_write, "mov 4(%esp), %ecx\nt_pf_write_fault: movl $0x12345678, (%ecx)\n"
		    "t_pf_write_resume: ret\n")
/* 1/0 with ZE unmasked: the #MF waits for the next x87 instruction. */
TRIGGER(t_mf, "fldz\nfld1\nfdiv %st(1), %st\nnop\nt_mf_fault: fwait\nt_mf_resume: ret\n")
/* Ring-3 snippets (entered with run_user). */
TRIGGER(u_ac, "mov $scratch + 1, %ecx\nt_u_ac: mov (%ecx), %eax\nxor %eax, %eax\nint $0x80\n")
TRIGGER(u_pf_read, "t_u_pf_read: mov 0x40002010, %eax\nxor %eax, %eax\nint $0x80\n")
TRIGGER(u_pf_write, "t_u_pf_write: movl $1, 0x40002020\nxor %eax, %eax\nint $0x80\n")
extern const char t_u_ac[], t_u_pf_read[], t_u_pf_write[];

static inline void set_dr7(u32 v)
{
	__asm__ volatile("mov %0, %%db7" : : "r"(v));
}

static void dr0_on(void)
{
	__asm__ volatile("mov %0, %%db0" : : "r"(t_dr0_fault));
	set_dr7(0x1); /* L0, execute, 1 byte */
}

static void dr1_on(void)
{
	__asm__ volatile("mov %0, %%db1" : : "r"(&dvar));
	set_dr7(0x4 | 1 << 20 | 3 << 22); /* L1, data writes, 4 bytes */
}

static void dr_off(void)
{
	set_dr7(0);
}
static void ts_on(void)
{
	write_cr0(read_cr0() | CR0_TS);
}
static void ts_off(void)
{
	__asm__ volatile("clts");
}
static void mf_on(void)
{
	u16 cw = 0x037F & ~0x4; /* ZE unmasked */

	write_cr0(read_cr0() | CR0_NE);
	__asm__ volatile("fninit\n\tfldcw %0" : : "m"(cw));
}
static void fpu_reset(void)
{
	__asm__ volatile("fnclex\n\tfninit");
}
static void gp_gate_off(void)
{
	idt_set_present(13, false);
}
static void gp_gate_on(void)
{
	idt_set_present(13, true);
}
static void np_gate_off(void)
{
	idt_set_present(11, false);
}
static void np_gate_on(void)
{
	idt_set_present(11, true);
}
static void int41_off(void)
{
	idt_set_present(0x41, false);
}

struct xcase {
	const char *name;
	void (*trigger)(u32 arg);
	u32 arg;
	const char *fault, *resume;
	u32 vector, error;
	bool trap; /* saved EIP is the next instruction */
	u32 dr6;   /* DR6 bits that must be set */
	void (*setup)(void), (*teardown)(void);
};

#define X(n, t, a, v, e, trap, dr6, su, td)                                                        \
	{                                                                                          \
		n, t, a, t##_fault, t##_resume, v, e, trap, dr6, su, td                            \
	}

#ifdef STRICT
static const struct xcase cases[] = {
    X("#UD LOCK MOV", t_lockmov, 0, 6, 0, false, 0, NULL, NULL),
    X("#SS past the SS limit", t_ss_lim, 0, 12, 0, false, 0, NULL, NULL),
    X("#GP past the ES limit", t_gp_lim, 0, 13, 0, false, 0, NULL, NULL),
    X("#GP access through a null ES", t_gp_null, 0, 13, 0, false, 0, NULL, NULL),
    X("#GP write to read-only data", t_gp_ro, 0, 13, 0, false, 0, NULL, NULL),
    X("#GP write through CS", t_gp_cs, 0, 13, 0, false, 0, NULL, NULL),
};
#else
static const struct xcase cases[] = {
    X("#DE DIV by zero", t_de, 0, 0, 0, false, 0, NULL, NULL),
    X("#DE IDIV overflow", t_idiv, 0, 0, 0, false, 0, NULL, NULL),
    X("#DB single step (TF)", t_step, 0, 1, 0, true, 0x4000, NULL, NULL),
    X("#DB DR0 instruction breakpoint", t_dr0, 0, 1, 0, false, 0x1, dr0_on, dr_off),
    X("#DB DR1 data write breakpoint", t_dr1, 0, 1, 0, true, 0x2, dr1_on, dr_off),
    X("#BP INT3", t_bp, 0, 3, 0, true, 0, NULL, NULL),
    X("#OF INTO", t_of, 0, 4, 0, true, 0, NULL, NULL),
    X("#BR BOUND", t_br, 0, 5, 0, false, 0, NULL, NULL),
    X("#UD UD2", t_ud2, 0, 6, 0, false, 0, NULL, NULL),
    X("#UD LOCK ADD reg, reg", t_lockreg, 0, 6, 0, false, 0, NULL, NULL),
    X("#NM CR0.TS and FLD1", t_nm, 0, 7, 0, false, 0, ts_on, ts_off),
    X("#TS JMP to a TSS with limit 0x20", t_ts, 0, 10, SEL_BADTSS, false, 0, NULL, NULL),
    X("#NP MOV DS, not present", t_np, 0, 11, SEL_NP, false, 0, NULL, NULL),
    X("#NP INT n, IDT gate not present", t_np_idt, 0, 11, 0x41 * 8 + 2, false, 0, int41_off, NULL),
    X("#SS MOV SS, not present", t_ss_np, 0, 12, SEL_NP, false, 0, NULL, NULL),
    X("#GP selector past the GDT limit", t_gp_sel, 0, 13, 0x0F08, false, 0, NULL, NULL),
    X("#MF unmasked divide by zero", t_mf, 0, 16, 0, false, 0, mf_on, fpu_reset),
    /* #GP finds its gate not present: #NP on top of #GP is a #DF(0). */
    X("#DF #GP with a not-present gate", t_gp_sel, 0, 8, 0, false, 0, gp_gate_off, gp_gate_on),
    /* #NP whose own gate is not present: #NP while delivering #NP. */
    X("#DF #NP with a not-present gate", t_np, 0, 8, 0, false, 0, np_gate_off, np_gate_on),
};
#endif

static void run_case(const struct xcase *c)
{
	u32 want_eip = (u32)(c->trap ? c->resume : c->fault);
	struct fault f;

	__asm__ volatile("mov %0, %%db6" : : "r"(0));
	if (c->setup)
		c->setup();
	f = xcatch(c->trigger, c->arg);
	if (c->teardown)
		c->teardown();
	/* A double fault's saved EIP is undefined: not checked. */
	if (c->vector == 8)
		want_eip = f.eip;
	check_fault(c->name, f, c->vector, c->error, want_eip);
	check(f.cs == KERNEL_CS, "%s: CS 0x%x", c->name, f.cs);
	check((f.dr6 & c->dr6) == c->dr6, "%s: DR6 0x%x, want bits 0x%x", c->name, f.dr6, c->dr6);
}

/* Page faults: with paging on, every page user-accessible except SUP_VA
 * and RO_VA. */
static void set_user_bits(void)
{
	u32 *dir = (u32 *)read_cr3();

	for (int i = 0; i < 1024; i++) {
		if (!(dir[i] & PTE_P))
			continue;
		dir[i] |= 4;
		u32 *t = (u32 *)(dir[i] & ~0xFFFu);
		for (int j = 0; j < 1024; j++)
			if (t[j] & PTE_P)
				t[j] |= 4;
	}
	*paging_pte(SUP_VA) &= ~4u;
	*paging_pte(RO_VA) &= ~4u;
}

static void check_pf(const char *what, struct fault f, u32 error, u32 eip, u32 cr2)
{
	check_fault(what, f, 14, error, eip);
	check(f.cr2 == cr2, "%s: CR2 0x%08x, want 0x%08x", what, f.cr2, cr2);
}

static u8 ro_page[4096] __attribute__((aligned(4096)));
static u8 sup_page[4096] __attribute__((aligned(4096)));

static void test_paging(void)
{
	struct fault f;

	paging_init();
	paging_map(NP_VA, 0, 0);
	paging_map(RO_VA, (u32)ro_page, PTE_P);
	paging_map(SUP_VA, (u32)sup_page, PTE_P | PTE_W);
	paging_enable();
	set_user_bits();
	write_cr3(read_cr3()); /* flush the TLB after the PTE edits */

	f = xcatch(t_pf_read, NP_VA + 0x10);
	check_pf("#PF read, not present", f, 0, (u32)t_pf_read_fault, NP_VA + 0x10);
	write_cr0(read_cr0() | CR0_WP);
	f = xcatch(t_pf_write, RO_VA + 0x24);
	check_pf("#PF ring-0 write, read-only, WP=1", f, 3, (u32)t_pf_write_fault, RO_VA + 0x24);
	write_cr0(read_cr0() & ~CR0_WP);
	f = xcatch(t_pf_write, RO_VA + 0x28);
	check(f.count == 0, "ring-0 write to a read-only page with WP=0 faulted (%u)", f.vector);
	check(*(u32 *)(ro_page + 0x28) == 0x12345678, "the WP=0 write did not land");

	f = run_user((u32)u_pf_read, (u32)user_stack + sizeof(user_stack), 0x2);
	check_pf("#PF ring-3 read, supervisor page", f, 5, (u32)t_u_pf_read, SUP_VA + 0x10);
	f = run_user((u32)u_pf_write, (u32)user_stack + sizeof(user_stack), 0x2);
	check_pf("#PF ring-3 write, supervisor page", f, 7, (u32)t_u_pf_write, SUP_VA + 0x20);
	check(f.cs == USER_CS, "#PF from ring 3: CS 0x%x", f.cs);
	paging_disable();
}

static __attribute__((unused)) void test_ac(void)
{
	struct fault f;

	write_cr0(read_cr0() | CR0_AM);
	f = run_user((u32)u_ac, (u32)user_stack + sizeof(user_stack), 0x2 | EFLAGS_AC);
	check_fault("#AC misaligned ring-3 load", f, 17, 0, (u32)t_u_ac);
	check(f.cs == USER_CS, "#AC: CS 0x%x", f.cs);
	/* Without EFLAGS.AC the same load is fine. */
	f = run_user((u32)u_ac, (u32)user_stack + sizeof(user_stack), 0x2);
	check(f.count == 0, "misaligned load without EFLAGS.AC faulted (%u)", f.vector);
	write_cr0(read_cr0() & ~CR0_AM);
}

int guest_main(void)
{
	static struct tss small_tss;

	xlib_init();
	gdt_set(SEL_BADTSS / 8, (u32)&small_tss, 0x20, ACC_TSS, 0);
	gdt_set(SEL_NP / 8, 0, 0xFFFFF, ACC_DATA0 & 0x7F, 0xC0);
	gdt_set(SEL_SMALL / 8, 0, 0x3FF, ACC_DATA0, 0xC0);
	gdt_set(SEL_RO / 8, 0, 0xFFFFF, 0x90, 0xC0);
	idt_set(0x41, GATE_INT, NULL);
	write_cr0((read_cr0() & ~0x4u) | 0x2); /* EM off, MP on */
	__asm__ volatile("fninit");

	for (u32 i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
#ifdef STRICT
	test_ac();
	return check_done("cpu-faults-strict");
#else
	check(dvar == 5, "the watched write did not happen (dvar %u)", dvar);
	test_paging();
	return check_done("cpu-faults");
#endif
}
