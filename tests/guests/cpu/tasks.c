/*
 * tasks.c - hardware task switching: JMP to a TSS, CALL through a task
 * gate (back link, NT, both tasks busy), IRET back along the link, CALL or
 * JMP to a busy task (#GP(selector)), INT n through an IDT task gate and a
 * double fault handled by a task of its own.  Registers are checked where
 * the CPU keeps them: in the TSS of the task that was switched away from.
 *
 * The main task runs on main_tss (selector 0x28, loaded by xlib_init).
 * Each other task starts at an assembly entry that records EFLAGS and a few
 * registers, calls its C body and switches back; if it is resumed later it
 * starts over.
 */
#include "xlib.h"

#define SEL_B	   0x30 /* TSS of task B (JMP) */
#define SEL_C	   0x38 /* TSS of task C (CALL through GATE_C) */
#define SEL_GATE_C 0x40 /* task gate to task C */
#define SEL_D	   0x48 /* TSS of task D (IDT task gate, INT 0x81) */
#define SEL_DF	   0x50 /* TSS of the double-fault task */

static struct tss tss_b, tss_c, tss_d, tss_df;
static u8 stack_b[4096], stack_c[4096], stack_d[4096], stack_df[4096];

/* What each task saw when it started. */
struct entry {
	u32 eflags, eax, error;
};
struct entry b_in, c_in, d_in, df_in;

void task_b_body(void);
void task_c_body(void);
void task_d_body(void);
void task_df_body(void);
extern const char task_b[], task_c[], task_d[], task_df[];
extern const char jmp_b_resume[], call_c_resume[], c_iret_resume[], df_fault[], df_resume[];
u32 jmp_b(void);
void call_c(void);
void int_81(void);
u32 double_fault(void);

__asm__(".text\n"
	/* Task B: entered by JMP, leaves by JMP back to the main task. */
	"task_b: pushf\npopl b_in\nmov %eax, b_in+4\ncall task_b_body\n"
	"ljmp $0x28, $0\njmp task_b\n"
	/* Task C: entered by CALL, leaves by IRET (NT set). */
	"task_c: pushf\npopl c_in\nmov %eax, c_in+4\ncall task_c_body\n"
	"iret\nc_iret_resume: jmp task_c\n"
	/* Task D: entered by INT 0x81 through a task gate. */
	"task_d: pushf\npopl d_in\ncall task_d_body\niret\njmp task_d\n"
	/* Double-fault task: the error code is on its stack. */
	"task_df: pushf\npopl df_in\npopl df_in+8\ncall task_df_body\niret\njmp task_df\n"
	/* The main task's side. */
	"jmp_b: push %esi\nmov $0x51515151, %esi\nljmp $0x30, $0\n"
	"jmp_b_resume: mov %esi, %eax\npop %esi\nret\n"
	"call_c: lcall $0x40, $0\ncall_c_resume: ret\n"
	"int_81: int $0x81\nret\n"
	"double_fault: push %ebx\nmov $0x77777777, %ebx\nmov $0x0f08, %eax\n"
	"df_fault: mov %ax, %ds\n"
	"df_resume: mov %ebx, %eax\npop %ebx\nret\n");

static u16 str(void)
{
	u16 tr;

	__asm__ volatile("str %0" : "=r"(tr));
	return tr;
}

static bool busy(u16 sel)
{
	return gdt_access(sel / 8) == ACC_TSS_BUSY;
}

static struct {
	u32 tr, a_esi, a_eip, a_busy, b_busy;
} b_saw;

void task_b_body(void)
{
	b_saw.tr = str();
	b_saw.a_esi = main_tss.esi;
	b_saw.a_eip = main_tss.eip;
	b_saw.a_busy = busy(SEL_TSS);
	b_saw.b_busy = busy(SEL_B);
	/* The main task gets this ESI back from its TSS. */
	main_tss.esi = 0x61616161;
}

TRIGGER(call_a, "t_call_a_fault: lcall $0x28, $0\nt_call_a_resume: ret\n")
TRIGGER(jmp_a, "t_jmp_a_fault: ljmp $0x28, $0\nt_jmp_a_resume: ret\n")
extern const char t_call_a_fault[], t_jmp_a_fault[];

static struct {
	u32 tr, link, a_busy, c_busy;
	struct fault call_busy, jmp_busy;
} c_saw;

void task_c_body(void)
{
	c_saw.tr = str();
	c_saw.link = tss_c.link;
	c_saw.a_busy = busy(SEL_TSS);
	c_saw.c_busy = busy(SEL_C);
	/* The main task is busy (it is nested below us): no way back in. */
	c_saw.call_busy = xcatch(call_a, 0);
	c_saw.jmp_busy = xcatch(jmp_a, 0);
}

static u32 d_runs, d_link;

void task_d_body(void)
{
	d_runs++;
	d_link = tss_d.link;
}

static struct {
	u32 runs, link, a_ebx, a_eip;
} df_saw;

void task_df_body(void)
{
	df_saw.runs++;
	df_saw.link = tss_df.link;
	df_saw.a_ebx = main_tss.ebx;
	df_saw.a_eip = main_tss.eip;
	/* Repair and resume the main task after the faulting instruction. */
	idt_set_present(13, true);
	main_tss.eip = (u32)df_resume;
}

static void new_task(int slot, struct tss *t, const char *entry, u8 *stack, u32 size)
{
	tss_task(t, (void (*)(void))entry, stack + size);
	gdt_set(slot, (u32)t, TSS_LIMIT, ACC_TSS, 0);
}

static void test_jmp(void)
{
	u32 esi;

	tss_b.eax = 0xB0B0B0B0;
	esi = jmp_b();
	check(b_in.eax == 0xB0B0B0B0, "task B started with EAX 0x%x", b_in.eax);
	check(!(b_in.eflags & EFLAGS_NT), "JMP set NT (EFLAGS 0x%x)", b_in.eflags);
	check(b_saw.tr == SEL_B, "task B: TR 0x%x", b_saw.tr);
	check(b_saw.a_esi == 0x51515151, "main task's saved ESI 0x%x", b_saw.a_esi);
	check(b_saw.a_eip == (u32)jmp_b_resume, "main task's saved EIP 0x%x, want 0x%x",
	      b_saw.a_eip, (u32)jmp_b_resume);
	check(!b_saw.a_busy && b_saw.b_busy, "after JMP: main busy %u, B busy %u", b_saw.a_busy,
	      b_saw.b_busy);
	check(tss_b.link == 0, "JMP wrote a back link 0x%x", tss_b.link);
	check(esi == 0x61616161, "ESI 0x%x: not reloaded from the TSS", esi);
	check(str() == SEL_TSS && busy(SEL_TSS) && !busy(SEL_B),
	      "back from B: TR 0x%x, main busy %u, B busy %u", str(), busy(SEL_TSS), busy(SEL_B));
	check(tss_b.eip > (u32)task_b && tss_b.eip < (u32)task_c,
	      "task B's saved EIP 0x%x is not after its JMP", tss_b.eip);
}

static void test_call(void)
{
	u32 fl;

	tss_c.eax = 0xC0C0C0C0;
	call_c();
	__asm__ volatile("pushf\n\tpop %0" : "=r"(fl));
	check(c_in.eax == 0xC0C0C0C0, "task C started with EAX 0x%x", c_in.eax);
	check(c_in.eflags & EFLAGS_NT, "CALL to a task did not set NT (0x%x)", c_in.eflags);
	check(c_saw.tr == SEL_C && c_saw.link == SEL_TSS, "task C: TR 0x%x, link 0x%x", c_saw.tr,
	      c_saw.link);
	check(c_saw.a_busy && c_saw.c_busy, "in C: main busy %u, C busy %u", c_saw.a_busy,
	      c_saw.c_busy);
	check_fault("CALL to the busy main task", c_saw.call_busy, 13, SEL_TSS,
		    (u32)t_call_a_fault);
	check_fault("JMP to the busy main task", c_saw.jmp_busy, 13, SEL_TSS, (u32)t_jmp_a_fault);
	check(!(fl & EFLAGS_NT), "NT set after IRET back (0x%x)", fl);
	check(main_tss.eip == (u32)call_c_resume, "main task's saved EIP 0x%x, want 0x%x",
	      main_tss.eip, (u32)call_c_resume);
	check(str() == SEL_TSS && !busy(SEL_C), "after IRET: TR 0x%x, C busy %u", str(),
	      busy(SEL_C));
	check(tss_c.eip == (u32)c_iret_resume, "task C's saved EIP 0x%x, want 0x%x", tss_c.eip,
	      (u32)c_iret_resume);
	/* C is free again: a second call starts it at its saved EIP. */
	call_c();
	check(c_saw.tr == SEL_C && str() == SEL_TSS, "second call to C");
}

static void test_idt_gate(void)
{
	idt_set_task(0x81, SEL_D, 0);
	int_81();
	check(d_runs == 1 && d_link == SEL_TSS, "INT 0x81 task gate: %u runs, link 0x%x", d_runs,
	      d_link);
	check(d_in.eflags & EFLAGS_NT, "task D: NT clear (0x%x)", d_in.eflags);
	check(str() == SEL_TSS && !busy(SEL_D), "after task D: TR 0x%x, D busy %u", str(),
	      busy(SEL_D));
}

static void test_double_fault(void)
{
	u32 ebx;

	idt_set_task(8, SEL_DF, 0);
	idt_set_present(13, false);
	ebx = double_fault();
	printf("double fault: task ran %u times, error 0x%x, main task's EIP 0x%x\n", df_saw.runs,
	       df_in.error, df_saw.a_eip);
	check(df_saw.runs == 1, "double-fault task ran %u times", df_saw.runs);
	check(df_in.error == 0, "#DF error code 0x%x", df_in.error);
	check(df_saw.link == SEL_TSS, "#DF task link 0x%x", df_saw.link);
	check(df_saw.a_ebx == 0x77777777 && ebx == 0x77777777,
	      "EBX 0x%x saved, 0x%x after the return", df_saw.a_ebx, ebx);
	check(str() == SEL_TSS && !busy(SEL_DF), "after #DF: TR 0x%x", str());
}

int guest_main(void)
{
	xlib_init();
	new_task(SEL_B / 8, &tss_b, task_b, stack_b, sizeof(stack_b));
	new_task(SEL_C / 8, &tss_c, task_c, stack_c, sizeof(stack_c));
	gdt_set_gate(SEL_GATE_C / 8, SEL_C, 0, 0x85, 0);
	new_task(SEL_D / 8, &tss_d, task_d, stack_d, sizeof(stack_d));
	new_task(SEL_DF / 8, &tss_df, task_df, stack_df, sizeof(stack_df));

	test_jmp();
	test_call();
	test_idt_gate();
	test_double_fault();
	return check_done("cpu-tasks");
}
