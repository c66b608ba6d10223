/*
 * tasks16.c - more of the hardware task switch: 16-bit TSSes (JMP to one
 * and back, CALL through a task gate and IRET back along the link: the
 * 16-bit fields saved and loaded, busy bits, NT), a fault after the point
 * of no return (a bad DS selector in the new TSS: #TS taken in the new
 * task, at its first instruction), and far calls through a call gate and
 * to a code segment on an expand-down stack (and #SS(0) below its limit).
 *
 * Built twice: cpu-tasks16-strict also checks that the #TS after the point
 * of no return reports the new task's EIP (SDM vol. 3, "Task Switching"),
 * and the #SS(0) of a push below an expand-down stack's limit; QEMU 7.2
 * reports the old task's next instruction and pushes below the limit, so
 * meson.build marks that QEMU run should_fail.
 *
 * The 16-bit tasks run assembly at offsets below 64 KiB of a code segment
 * based on t16_code (IP is 16 bits), with a 16-bit stack segment, and
 * touch only the low halves of the registers: what a 16-bit TSS leaves in
 * the high halves is not the SDM's to say.
 */
#include "xlib.h"

#define SEL_T16A   0x30 /* 16-bit TSS, entered by JMP */
#define SEL_T16B   0x38 /* 16-bit TSS, entered by CALL through SEL_GATE_B */
#define SEL_GATE_B 0x40
#define SEL_CS16   0x48 /* 32-bit code based at t16_code, 64 KiB */
#define SEL_SS16   0x50 /* 16-bit stack segment based at t16_stack */
#define SEL_TBAD   0x58 /* 32-bit TSS whose DS is beyond the GDT */
#define SEL_XDOWN  0x60 /* expand-down 32-bit stack: offsets 0x1001-0xFFFFFFFF */
#define SEL_CGATE  0x68 /* call gate to xd_callee */
#define BAD_DS	   0x100

struct tss16 {
	u16 link, sp0, ss0, sp1, ss1, sp2, ss2;
	u16 ip, flags, ax, cx, dx, bx, sp, bp, si, di;
	u16 es, cs, ss, ds, ldt;
} __attribute__((packed));

static struct tss16 tss_a, tss_b;
static struct tss tss_bad;
static u8 stack_bad[4096];
u8 t16_stack[4096];

/* What the 16-bit tasks saw. */
u16 a_ax, a_si, a_flags, a_ss, a_sp, a_tr, b_flags, b_tr, b_link;
u32 a_runs, b_runs;

__asm__(".text\n"
	"t16_code:\n"
	/* Task A: entered by JMP, leaves by JMP back to the main task. */
	"t16a_entry: mov %ax, a_ax\nmov %si, a_si\npushfw\npopw a_flags\n"
	"mov %ss, a_ss\nmov %sp, a_sp\nstr a_tr\nincl a_runs\n"
	"mov $0x5678, %ax\nmov $0x0bad, %dx\nljmp $0x28, $0\n"
	"t16a_resume: jmp t16a_entry\n"
	/* Task B: entered by CALL through a task gate, leaves by IRET. */
	"t16b_entry: pushfw\npopw b_flags\nstr b_tr\nincl b_runs\n"
	"mov $0x9abc, %bx\niret\n"
	"t16b_resume: jmp t16b_entry\n"
	/* A 32-bit task that never runs: its DS faults first. */
	"tbad_entry: hlt\njmp tbad_entry\n");
extern const char t16_code[], t16a_entry[], t16a_resume[], t16b_entry[], t16b_resume[];
extern const char tbad_entry[];

#define T16_OFF(label) ((u16)((u32)(label) - (u32)t16_code))

u32 jmp_a(void);
void call_b(void);
__asm__(".text\n"
	"jmp_a: ljmp $0x30, $0\nret\n"
	"call_b: lcall $0x40, $0\nret\n");
TRIGGER(t_tbad, "t_tbad_fault: ljmp $0x58, $0\nt_tbad_resume: ret\n")

static u16 str(void)
{
	u16 tr;

	__asm__ volatile("str %0" : "=r"(tr));
	return tr;
}

static bool busy(u16 sel)
{
	return (gdt_access(sel / 8) & 0x0f) == 0x03 || (gdt_access(sel / 8) & 0x0f) == 0x0b;
}

static void task16(struct tss16 *t, const char *entry)
{
	memset(t, 0, sizeof(*t));
	t->ip = T16_OFF(entry);
	t->flags = 0x0002;
	t->cs = SEL_CS16;
	t->ss = SEL_SS16;
	t->sp = sizeof(t16_stack) - 16;
	t->ds = t->es = KERNEL_DS;
}

static void test_jmp16(void)
{
	task16(&tss_a, t16a_entry);
	tss_a.ax = 0x1234;
	tss_a.si = 0x4321;
	tss_a.flags = 0x0002 | 0x0001 | 0x0800; /* CF, OF */
	gdt_set(SEL_T16A / 8, (u32)&tss_a, sizeof(tss_a) - 1, 0x81, 0);
	jmp_a();
	check(a_runs == 1, "JMP to a 16-bit TSS: task ran %u times", a_runs);
	check(a_ax == 0x1234 && a_si == 0x4321, "16-bit TSS: AX %x SI %x", a_ax, a_si);
	check((a_flags & 0x0fd5) == 0x0801, "16-bit TSS: FLAGS %x, want CF and OF", a_flags);
	check(a_ss == SEL_SS16 && a_sp == sizeof(t16_stack) - 16, "16-bit TSS: SS:SP %x:%x",
	      a_ss, a_sp);
	check(a_tr == SEL_T16A, "in the 16-bit task: TR %x", a_tr);
	check(tss_a.ip == T16_OFF(t16a_resume), "saved IP %x, want %x", tss_a.ip,
	      T16_OFF(t16a_resume));
	check(tss_a.ax == 0x5678 && tss_a.dx == 0x0bad, "saved AX %x DX %x", tss_a.ax, tss_a.dx);
	check(tss_a.cs == SEL_CS16 && tss_a.ss == SEL_SS16 && tss_a.ds == KERNEL_DS,
	      "saved CS %x SS %x DS %x", tss_a.cs, tss_a.ss, tss_a.ds);
	check(!busy(SEL_T16A) && busy(SEL_TSS), "after JMP back: 16-bit busy %d, main busy %d",
	      busy(SEL_T16A), busy(SEL_TSS));
	check(gdt_access(SEL_T16A / 8) == 0x81, "16-bit TSS type after JMP back: %x",
	      gdt_access(SEL_T16A / 8));
	check(str() == SEL_TSS, "back in the main task: TR %x", str());
}

static void test_call16(void)
{
	u32 fl;

	task16(&tss_b, t16b_entry);
	gdt_set(SEL_T16B / 8, (u32)&tss_b, sizeof(tss_b) - 1, 0x81, 0);
	gdt_set_gate(SEL_GATE_B / 8, SEL_T16B, 0, 0x85, 0);
	call_b();
	__asm__ volatile("pushf\n\tpop %0" : "=r"(fl));
	check(b_runs == 1, "CALL to a 16-bit TSS: task ran %u times", b_runs);
	check(b_flags & EFLAGS_NT, "called 16-bit task: NT clear (FLAGS %x)", b_flags);
	check(b_tr == SEL_T16B, "in the called task: TR %x", b_tr);
	check(tss_b.link == SEL_TSS, "16-bit back link %x", tss_b.link);
	check(tss_b.ip == T16_OFF(t16b_resume), "saved IP after IRET %x, want %x", tss_b.ip,
	      T16_OFF(t16b_resume));
	check(tss_b.bx == 0x9abc, "saved BX %x", tss_b.bx);
	check(!(tss_b.flags & EFLAGS_NT), "IRET saved NT set in the 16-bit TSS");
	check(!(fl & EFLAGS_NT), "main task NT set after IRET");
	check(!busy(SEL_T16B) && busy(SEL_TSS), "after IRET: 16-bit busy %d, main busy %d",
	      busy(SEL_T16B), busy(SEL_TSS));
}

/* ---- expand-down stacks ------------------------------------------------- */

u32 xd_eip, xd_cs, xd_esp;
void xd_calls(void);
__asm__(".text\n"
	"xd_callee: mov (%esp), %eax\nmov %eax, xd_eip\nmov 4(%esp), %eax\n"
	"mov %eax, xd_cs\nmov %esp, xd_esp\nlret\n"
	/* on an expand-down SS: a CALL through a call gate, then a direct
	 * far CALL; each callee records its return address */
	"xd_calls: push %ebx\nmov %ss, %bx\nmov $0x60, %eax\nmov %ax, %ss\n"
	"lcall $0x68, $0\nxd_ret1: mov xd_eip, %eax\nmov %eax, xd_seen\n"
	"lcall $0x08, $xd_callee\nxd_ret2: mov %bx, %ss\npop %ebx\nret\n");
extern const char xd_callee[], xd_ret1[], xd_ret2[];
u32 xd_seen;

static void test_expand_down(void)
{
	u32 esp;

	gdt_set(SEL_XDOWN / 8, 0, 0x1000, 0x96, 0x40);
	gdt_set_gate(SEL_CGATE / 8, KERNEL_CS, (u32)xd_callee, 0x8C, 0);
	__asm__ volatile("mov %%esp, %0" : "=r"(esp));
	xd_calls();
	check(xd_seen == (u32)xd_ret1, "call gate on an expand-down stack: return EIP %x", xd_seen);
	check(xd_eip == (u32)xd_ret2 && xd_cs == KERNEL_CS,
	      "far call on an expand-down stack: return %x:%x", xd_cs, xd_eip);
	check(xd_esp < esp && esp - xd_esp < 64, "callee ESP %x, caller near %x", xd_esp, esp);
}

/* A ring-3 far CALL on a DPL-3 expand-down stack with ESP 0x1006: CS goes
 * to 0x1002, EIP would go to 0xFFE, below the limit: #SS(0) (no stack
 * switch), with nothing changed. */
#define SEL_XDOWN3 0x70
__asm__(".text\n"
	"xd_user: mov $0x73, %ax\nmov %ax, %ss\nnop\n"
	"xd_user_call: lcall $0x1b, $xd_user_exit\n"
	"xd_user_exit: mov $0, %eax\nint $0x80\n");
extern const char xd_user[], xd_user_call[];

static __attribute__((unused)) void test_expand_down_fault(void)
{
	struct fault f;

	gdt_set(SEL_XDOWN3 / 8, 0, 0x1000, 0xF6, 0x40);
	f = run_user((u32)xd_user, 0x1006, 0);
	check_fault("far CALL below an expand-down limit", f, 12, 0, (u32)xd_user_call);
	check(f.esp == 0x1006, "#SS on the expand-down stack: ESP %x, want 0x1006", f.esp);
}

/* ---- a fault after the point of no return ------------------------------- */

static void test_fault_in_new_task(void)
{
	struct fault f;

	tss_task(&tss_bad, (void (*)(void))tbad_entry, stack_bad + sizeof(stack_bad));
	tss_bad.ds = BAD_DS;
	gdt_set(SEL_TBAD / 8, (u32)&tss_bad, TSS_LIMIT, ACC_TSS, 0);
	f = xcatch(t_tbad, 0);
	/* taken in the new task: its EIP, TR, busy bit; the old task saved */
	check(f.count && f.vector == 10 && f.error == BAD_DS,
	      "JMP to a task with a bad DS: vector %u error %x, want #TS(%x)", f.vector, f.error,
	      BAD_DS);
#ifdef STRICT
	check(f.eip == (u32)tbad_entry, "#TS in the new task: EIP %x, want its first %x", f.eip,
	      (u32)tbad_entry);
#endif
	check(str() == SEL_TBAD, "after the fault: TR %x, want the new task", str());
	check(busy(SEL_TBAD) && !busy(SEL_TSS), "after the fault: new busy %d, old busy %d",
	      busy(SEL_TBAD), busy(SEL_TSS));
	check(main_tss.eip == (u32)t_tbad_resume, "old task saved EIP %x, want %x", main_tss.eip,
	      (u32)t_tbad_resume);
}

int guest_main(void)
{
	xlib_init();
	gdt_set(SEL_CS16 / 8, (u32)t16_code, 0xffff, ACC_CODE0, 0x40);
	gdt_set(SEL_SS16 / 8, (u32)t16_stack, 0xffff, ACC_DATA0, 0);
	test_jmp16();
	test_call16();
	test_expand_down();
#ifdef STRICT
	test_expand_down_fault();
#endif
	/* last: it leaves the CPU in the other task */
	test_fault_in_new_task();
#ifdef STRICT
	return check_done("cpu-tasks16-strict");
#else
	return check_done("cpu-tasks16");
#endif
}
