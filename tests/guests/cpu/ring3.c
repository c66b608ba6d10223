/*
 * ring3.c - privilege levels: ring 3 entered with IRET, system calls through
 * a DPL-3 trap gate (stack switch to the TSS's SS0:ESP0), a call gate that
 * copies two parameters, the instructions and selector loads ring 3 may not
 * do (#GP with the right error code), I/O through the TSS's permission
 * bitmap, and a conforming code segment that keeps CPL 3.
 *
 * Each ring-3 snippet starts with ESP at the top of user_stack and ends
 * with INT 0x80 / EAX = SYS_EXIT, or faults.
 */
#include "xlib.h"

#define SEL_CALLGATE 0x30 /* DPL 3 call gate to cg_target, 2 parameters */
#define SEL_CONFORM  0x38 /* DPL 0 conforming code */
#define PORT_ALLOWED (COM1 + UART_SCR)
#define PORT_DENIED  (COM1 + UART_MSR)

#define U_TOP  ((u32)user_stack + sizeof(user_stack))
#define R0_TOP ((u32)ring0_stack + sizeof(ring0_stack))

#define SNIPPET(name, body)                                                                        \
	__asm__(".text\n.globl " #name "\n" #name ":\n" body);                                     \
	extern const char name[], name##_fault[], name##_resume[];

/* INT 0x80 with EAX = 1: the handler checks its frame, sets EBX. */
SNIPPET(u_syscall, "mov $1, %eax\nmov $0x1111, %ebx\nu_syscall_fault: int $0x80\n"
		   "u_syscall_resume: mov %ebx, %esi\nmov %esp, %edi\nxor %eax, %eax\nint $0x80\n")
/* Far call through the call gate with two parameters on the stack. */
SNIPPET(u_callgate, "push $0x11111111\npush $0x22222222\nmov %esp, %esi\n"
		    "u_callgate_fault: lcall $0x33, $0\n"
		    "u_callgate_resume: mov %esp, %edi\nxor %eax, %eax\nint $0x80\n")
SNIPPET(u_cli, "u_cli_fault: cli\nu_cli_resume: xor %eax, %eax\nint $0x80\n")
SNIPPET(u_hlt, "u_hlt_fault: hlt\nu_hlt_resume: xor %eax, %eax\nint $0x80\n")
SNIPPET(u_cr0, "u_cr0_fault: mov %eax, %cr0\nu_cr0_resume: xor %eax, %eax\nint $0x80\n")
SNIPPET(u_in_ok, "mov $0x3FF, %edx\nu_in_ok_fault: in %dx, %al\n"
		 "u_in_ok_resume: movzbl %al, %esi\nxor %eax, %eax\nint $0x80\n")
SNIPPET(u_in_bad, "mov $0x3FE, %edx\nu_in_bad_fault: in %dx, %al\n"
		  "u_in_bad_resume: xor %eax, %eax\nint $0x80\n")
SNIPPET(u_ds, "mov $0x10, %eax\nu_ds_fault: mov %ax, %ds\n"
	      "u_ds_resume: xor %eax, %eax\nint $0x80\n")
SNIPPET(u_jmp, "u_jmp_fault: ljmp $0x08, $u_jmp_resume\n"
	       "u_jmp_resume: xor %eax, %eax\nint $0x80\n")
/* A conforming segment: entered at CPL 3, CS.RPL becomes 3. */
SNIPPET(u_conform, "u_conform_fault: lcall $0x38, $conf_target\n"
		   "u_conform_resume: mov %ecx, %esi\nxor %eax, %eax\nint $0x80\n"
		   "conf_target: mov %cs, %ecx\nlret\n")
/* ... and still CPL 3 there: CLI faults with CS = 0x3B. */
SNIPPET(u_conform_cli, "lcall $0x38, $u_conform_cli_fault\n"
		       "u_conform_cli_resume: xor %eax, %eax\nint $0x80\n"
		       "u_conform_cli_fault: cli\nlret\n")

/* The call gate's ring-0 side: copies the frame it finds, returns. */
u32 cg_frame[6], cg_cs, cg_ss;
__asm__(".text\ncg_target:\n"
	"mov %cs, %eax\nmov %eax, cg_cs\nmov %ss, %eax\nmov %eax, cg_ss\n"
	"mov %esp, %ecx\nmov $0, %edx\n"
	"1: mov (%ecx,%edx,4), %eax\nmov %eax, cg_frame(,%edx,4)\n"
	"inc %edx\ncmp $6, %edx\njne 1b\n"
	"lret $8\n");
extern const char cg_target[];

static struct {
	u32 frame_addr, esp, ss, cs, eip, eflags, handler_eflags;
} sc;

static void syscall_handler(struct xregs *r)
{
	u32 fl;

	if (r->eax != 1) {
		sys_handler(r);
		return;
	}
	__asm__ volatile("pushf\n\tpop %0" : "=r"(fl));
	sc.frame_addr = (u32)&r->ss;
	sc.esp = r->esp;
	sc.ss = r->ss;
	sc.cs = r->cs;
	sc.eip = r->eip;
	sc.eflags = r->eflags;
	sc.handler_eflags = fl;
	r->ebx = 0x2222;
}

static void test_syscall(void)
{
	struct fault f;

	idt_set(0x80, GATE_TRAP | GATE_DPL3, syscall_handler);
	f = run_user((u32)u_syscall, U_TOP, 0x2 | EFLAGS_IF);
	cli();
	check(f.count == 0, "syscall: exception %u", f.vector);
	check(sc.frame_addr == R0_TOP - 4,
	      "syscall: SS pushed at 0x%x, want the top of the "
	      "ring-0 stack 0x%x",
	      sc.frame_addr, R0_TOP - 4);
	check(sc.esp == U_TOP && sc.ss == USER_DS, "syscall: pushed SS:ESP %x:%x, want %x:%x",
	      sc.ss, sc.esp, USER_DS, U_TOP);
	check(sc.cs == USER_CS && sc.eip == (u32)u_syscall_resume, "syscall: pushed CS:EIP %x:%x",
	      sc.cs, sc.eip);
	check(sc.eflags & EFLAGS_IF, "syscall: pushed EFLAGS 0x%x lost IF", sc.eflags);
	check(sc.handler_eflags & EFLAGS_IF, "syscall: a trap gate cleared IF (0x%x)",
	      sc.handler_eflags);
	check(user_regs.esi == 0x2222, "syscall: EBX after IRET is 0x%x", user_regs.esi);
	check(user_regs.edi == U_TOP, "syscall: ESP after IRET is 0x%x", user_regs.edi);
	check(user_regs.cs == USER_CS, "syscall: exit from CS 0x%x", user_regs.cs);
	idt_set(0x80, GATE_INT | GATE_DPL3, sys_handler);
}

static void test_callgate(void)
{
	struct fault f;
	u32 esp_at_call;

	gdt_set_gate(SEL_CALLGATE / 8, KERNEL_CS, (u32)cg_target, 0xEC, 2);
	f = run_user((u32)u_callgate, U_TOP, 0x2);
	esp_at_call = U_TOP - 8;
	check(f.count == 0, "call gate: exception %u err 0x%x at 0x%x", f.vector, f.error, f.eip);
	check(cg_cs == KERNEL_CS && cg_ss == KERNEL_DS, "call gate: ran with CS %x SS %x", cg_cs,
	      cg_ss);
	check(cg_frame[0] == (u32)u_callgate_resume && cg_frame[1] == USER_CS,
	      "call gate: return address %x:%x", cg_frame[1], cg_frame[0]);
	check(cg_frame[2] == 0x22222222 && cg_frame[3] == 0x11111111, "call gate: parameters %x %x",
	      cg_frame[2], cg_frame[3]);
	check(cg_frame[4] == esp_at_call && cg_frame[5] == USER_DS,
	      "call gate: caller's SS:ESP %x:%x, want %x:%x", cg_frame[5], cg_frame[4], USER_DS,
	      esp_at_call);
	check(user_regs.esi == esp_at_call && user_regs.edi == U_TOP,
	      "call gate: ESP %x before the call, %x after RETF 8 (want %x)", user_regs.esi,
	      user_regs.edi, U_TOP);
}

struct ucase {
	const char *name;
	const char *entry, *fault;
	u32 eflags, vector, error, cs;
};

static const struct ucase faults[] = {
    {"CLI, IOPL 0", u_cli, u_cli_fault, 0x2, 13, 0, USER_CS},
    {"HLT", u_hlt, u_hlt_fault, 0x2 | IOPL(3), 13, 0, USER_CS},
    {"MOV CR0", u_cr0, u_cr0_fault, 0x2 | IOPL(3), 13, 0, USER_CS},
    {"IN, port denied by the bitmap", u_in_bad, u_in_bad_fault, 0x2, 13, 0, USER_CS},
    {"MOV DS, DPL-0 data", u_ds, u_ds_fault, 0x2, 13, 0x10, USER_CS},
    {"JMP FAR to DPL-0 code", u_jmp, u_jmp_fault, 0x2, 13, 0x08, USER_CS},
    {"CLI in conforming code", u_conform_cli, u_conform_cli_fault, 0x2, 13, 0, SEL_CONFORM | 3},
};

static void test_faults(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(faults); i++) {
		const struct ucase *c = &faults[i];
		struct fault f = run_user((u32)c->entry, U_TOP, c->eflags);

		check_fault(c->name, f, c->vector, c->error, (u32)c->fault);
		check(f.cs == c->cs, "%s: CS 0x%x, want 0x%x", c->name, f.cs, c->cs);
		/* The conforming case faults with its return address pushed. */
		if (c->cs == USER_CS)
			check(f.esp == U_TOP && f.ss == USER_DS, "%s: SS:ESP %x:%x", c->name, f.ss,
			      f.esp);
	}
}

static void test_allowed(void)
{
	struct fault f;

	outb(PORT_ALLOWED, 0x5A);
	f = run_user((u32)u_in_ok, U_TOP, 0x2);
	check(f.count == 0 && user_regs.esi == 0x5A,
	      "IN from a port the bitmap allows: exception %d, read 0x%x", f.count, user_regs.esi);

	f = run_user((u32)u_cli, U_TOP, 0x2 | IOPL(3) | EFLAGS_IF);
	cli();
	check(f.count == 0 && !(user_regs.eflags & EFLAGS_IF),
	      "CLI with IOPL 3: exception %d, EFLAGS 0x%x", f.count, user_regs.eflags);

	gdt_set(SEL_CONFORM / 8, 0, 0xFFFFF, 0x9E, 0xC0);
	f = run_user((u32)u_conform, U_TOP, 0x2);
	check(f.count == 0, "conforming call: exception %u err 0x%x", f.vector, f.error);
	check(user_regs.esi == (SEL_CONFORM | 3), "conforming code ran with CS 0x%x",
	      user_regs.esi);
}

int guest_main(void)
{
	xlib_init();
	pic_init();
	tss_io(&main_tss, PORT_ALLOWED, true);
	test_syscall();
	test_callgate();
	test_allowed();
	test_faults();
	return check_done("cpu-ring3");
}
