/*
 * exceptions.c - faults and traps, each caught by a handler that checks the
 * vector, the error code, the saved EIP (the faulting instruction for a
 * fault, the next one for a trap), CS and, for #PF, CR2, then resumes after
 * the instruction so the test goes on.
 *
 * The triggers are small assembly routines with a label on the instruction
 * that should fault and one after it.  #PF runs with paging on (identity
 * map of the low 8 MiB, CR0.WP set) and three kinds of page: read-only,
 * missing PTE, missing page table.
 */
#include "guest.h"

#define RO_PAGE 0x40000000u /* mapped read-only */
#define NO_PTE	0x40001000u /* page table present, PTE not */
#define NO_PDE	0x80000000u /* no page table at all */

/* Each trigger takes one argument (an address, for #PF) and returns. */
#define TRIGGER(name, body)                                                                        \
	__asm__(".text\n.globl " #name "\n" #name ":\n" body);                                     \
	void name(u32 arg);                                                                        \
	extern const char name##_fault[], name##_resume[];

TRIGGER(t_de, "mov $1, %eax\nxor %edx, %edx\nxor %ecx, %ecx\n"
	      "t_de_fault: div %ecx\nt_de_resume: ret\n")
TRIGGER(t_de_idiv, "mov $0x80000000, %eax\ncltd\nmov $-1, %ecx\n"
		   "t_de_idiv_fault: idiv %ecx\nt_de_idiv_resume: ret\n")
TRIGGER(t_bp, "t_bp_fault: int3\nt_bp_resume: ret\n")
TRIGGER(t_of, "mov $0x7fffffff, %eax\nadd $1, %eax\nt_of_fault: into\nt_of_resume: ret\n")
TRIGGER(t_ud, "t_ud_fault: ud2\nt_ud_resume: ret\n")
TRIGGER(t_gp_sel, "mov $0x0f08, %ax\nt_gp_sel_fault: mov %ax, %ds\nt_gp_sel_resume: ret\n")
TRIGGER(t_gp_ss, "xor %eax, %eax\nt_gp_ss_fault: mov %ax, %ss\nt_gp_ss_resume: ret\n")
TRIGGER(t_pf_read, "mov 4(%esp), %ecx\nt_pf_read_fault: mov (%ecx), %eax\n"
		   "t_pf_read_resume: ret\n")
TRIGGER(t_pf_write, "mov 4(%esp), %ecx\nt_pf_write_fault: movl $0x12345678, (%ecx)\n"
		    "t_pf_write_resume: ret\n")

struct xcase {
	const char *name;
	void (*trigger)(u32 arg);
	u32 arg;
	const char *fault, *resume;
	u32 vector, error;
	bool trap; /* saved EIP is the next instruction */
	bool paging;
};

/* clang-format off */
#define CASE(n, t, a, v, e, trap, pg) { n, t, a, t##_fault, t##_resume, v, e, trap, pg }

static const struct xcase cases[] = {
	CASE("#DE div by zero", t_de, 0, 0, 0, false, false),
	CASE("#DE idiv overflow", t_de_idiv, 0, 0, 0, false, false),
	CASE("#BP int3", t_bp, 0, 3, 0, true, false),
	CASE("#OF into", t_of, 0, 4, 0, true, false),
	CASE("#UD ud2", t_ud, 0, 6, 0, false, false),
	CASE("#GP selector past the GDT limit", t_gp_sel, 0, 13, 0x0F08, false, false),
	CASE("#GP null SS", t_gp_ss, 0, 13, 0, false, false),
	CASE("#PF read, no PTE", t_pf_read, NO_PTE + 0x10, 14, 0, false, true),
	CASE("#PF write, no page table", t_pf_write, NO_PDE + 0x234, 14, 2, false, true),
	CASE("#PF write, read-only page", t_pf_write, RO_PAGE + 0xFFC, 14, 3, false, true),
};
/* clang-format on */

static const struct xcase *current;
static struct {
	int count;
	u32 vector, error, eip, cs, cr2;
} seen;

static void handler(struct regs *r)
{
	seen.count++;
	seen.vector = r->vector;
	seen.error = r->error;
	seen.eip = r->eip;
	seen.cs = r->cs;
	seen.cr2 = r->vector == 14 ? read_cr2() : 0;
	/* Resume after the instruction, wherever the CPU said it was. */
	r->eip = (u32)current->resume;
}

static void run_case(const struct xcase *c)
{
	u32 want_eip = (u32)(c->trap ? c->resume : c->fault);

	current = c;
	memset(&seen, 0, sizeof(seen));
	c->trigger(c->arg);
	printf("%-34s vector %2u err 0x%04x eip 0x%08x", c->name, seen.vector, seen.error,
	       seen.eip);
	if (c->vector == 14)
		printf(" cr2 0x%08x", seen.cr2);
	printf("\n");
	check(seen.count == 1, "%s: %d exceptions", c->name, seen.count);
	check(seen.vector == c->vector, "%s: vector %u, want %u", c->name, seen.vector, c->vector);
	check(seen.error == c->error, "%s: error code 0x%x, want 0x%x", c->name, seen.error,
	      c->error);
	check(seen.eip == want_eip, "%s: EIP 0x%08x, want 0x%08x", c->name, seen.eip, want_eip);
	check(seen.cs == KERNEL_CS, "%s: CS 0x%x", c->name, seen.cs);
	if (c->vector == 14)
		check(seen.cr2 == c->arg, "%s: CR2 0x%08x, want 0x%08x", c->name, seen.cr2, c->arg);
}

static u8 ro_page[4096] __attribute__((aligned(4096)));

int guest_main(void)
{
	static const int vectors[] = {0, 3, 4, 6, 13, 14};
	bool paging = false;
	u16 ds;

	for (u32 i = 0; i < ARRAY_SIZE(vectors); i++)
		set_isr(vectors[i], handler);
	paging_init();
	paging_map(RO_PAGE, (u32)ro_page, PTE_P);
	paging_map(NO_PTE, 0, 0);
	ro_page[0xFFC] = 0xA5;

	for (u32 i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cases[i].paging && !paging) {
			paging_enable();
			write_cr0(read_cr0() | CR0_WP);
			paging = true;
			check(*(volatile u8 *)(RO_PAGE + 0xFFC) == 0xA5,
			      "read-only page reads wrong");
		}
		run_case(&cases[i]);
	}
	paging_disable();
	check(ro_page[0xFFC] == 0xA5, "the read-only page was written");
	__asm__ volatile("mov %%ds, %0" : "=r"(ds));
	check(ds == KERNEL_DS, "DS is 0x%x after the faulting load", ds);
	return check_done("exceptions");
}
