/*
 * v86.c - virtual-8086 mode: entered with IRET (EFLAGS.VM = 1), 16-bit code
 * (v86_code.asm) that does real-mode arithmetic and segment arithmetic,
 * INT n with IOPL 3 through the protected-mode IDT (the frame holds the
 * V86 segment registers, the data segment registers arrive null), I/O
 * through the TSS bitmap, and with IOPL 0 the #GP(0) that CLI, STI, PUSHF,
 * POPF and INT n raise (INT3 raises #GP(0x1A) from its DPL-0 gate instead),
 * handled by a monitor that skips them; HLT makes the monitor leave back to
 * protected mode.
 */
#include "xlib.h"

#define V86_BASE 0x8000u
#define V86_SEG	 (V86_BASE >> 4)
#define V86_SP	 0xF000u
#define R0_TOP	 ((u32)ring0_stack + sizeof(ring0_stack))

extern const char v86_blob[], v86_blob_end[], v86_phase1[], v86_phase2[], v86_int30_ret[];
extern const char res_arith[], res_ror[], res_seg[], res_wrap[], res_flags[], res_int[], res_in[],
    res_in2[];
void enter_v86(const u32 frame[9]);

/* The copy of a label of the blob, where V86 code sees it. */
static u32 off(const char *label)
{
	return (u32)(label - v86_blob);
}
static u16 res16(const char *label)
{
	return *(volatile u16 *)(V86_BASE + off(label));
}
static u32 res32(const char *label)
{
	return *(volatile u32 *)(V86_BASE + off(label));
}

static u32 entry_eip, entry_eflags;

static void v86_trampoline(u32 unused)
{
	const u32 frame[9] = {entry_eip, V86_SEG, entry_eflags, V86_SP, V86_SEG,
			      V86_SEG,	 V86_SEG, V86_SEG,	V86_SEG};

	enter_v86(frame);
}

static struct fault run_v86(const char *entry, u32 iopl)
{
	entry_eip = off(entry);
	entry_eflags = 0x2 | EFLAGS_VM | IOPL(iopl);
	return xcatch(v86_trampoline, 0);
}

/* INT 0x30 from V86 with IOPL 3: look at the frame, change BX. */
static struct xregs int30;
static u32 int30_frame_top, int30_count;

static void int30_handler(struct xregs *r)
{
	int30 = *r;
	int30_count++;
	int30_frame_top = (u32)(&r->v86_gs + 1);
	r->ebx = 0x5555;
}

static void test_iopl3(void)
{
	struct fault f;
	u32 ip = off(v86_int30_ret);

	outb(COM1 + UART_SCR, 0xA7);
	f = run_v86(v86_phase1, 3);
	check(f.count == 1 && f.vector == 0x31, "phase 1 ended with vector %u (%d)", f.vector,
	      f.count);
	check(f.eflags & EFLAGS_VM, "INT 0x31 frame: EFLAGS 0x%x without VM", f.eflags);
	check(res16(res_arith) == 0xEEFC, "16-bit arithmetic: 0x%x", res16(res_arith));
	check(res32(res_ror) == 0x78123456, "32-bit ROR in 16-bit code: 0x%x", res32(res_ror));
	check(res16(res_seg) == 0xBEEF, "0x1001:0 read 0x%x, not what 0x1000:0x10 holds",
	      res16(res_seg));
	check(*(volatile u16 *)0x10010 == 0xBEEF, "0x1000:0x10 is not linear 0x10010");
	check((res16(res_wrap) & 0xFF) == 0x5A, "offset 0xFFFF + 2 did not wrap (0x%x)",
	      res16(res_wrap));
	check((res16(res_flags) & 0x3200) == 0x3200, "PUSHF after STI: 0x%x", res16(res_flags));

	check(int30_count == 1, "INT 0x30 ran %u times", int30_count);
	check(int30.eip == ip && int30.cs == V86_SEG, "INT 0x30 frame CS:EIP %x:%x, want %x:%x",
	      int30.cs, int30.eip, V86_SEG, ip);
	check(int30.eflags & EFLAGS_VM, "INT 0x30 frame EFLAGS 0x%x", int30.eflags);
	check(int30.ss == V86_SEG && int30.esp == V86_SP, "INT 0x30 frame SS:ESP %x:%x", int30.ss,
	      int30.esp);
	check(int30.v86_es == 0x2000 && int30.v86_ds == V86_SEG && int30.v86_fs == 0x1001 &&
		  int30.v86_gs == 0x3000,
	      "INT 0x30 frame ES %x DS %x FS %x GS %x", int30.v86_es, int30.v86_ds, int30.v86_fs,
	      int30.v86_gs);
	check(int30.ds == 0 && int30.es == 0 && int30.fs == 0 && int30.gs == 0,
	      "in the handler DS %x ES %x FS %x GS %x, want null", int30.ds, int30.es, int30.fs,
	      int30.gs);
	check(int30_frame_top == R0_TOP, "INT 0x30 frame ends at 0x%x, want ESP0 0x%x",
	      int30_frame_top, R0_TOP);
	check(res16(res_int) == 0x5555, "BX after IRET to V86: 0x%x", res16(res_int));
	check((res16(res_in) & 0xFF) == 0xA7, "IN from an allowed port: 0x%x", res16(res_in));
}

/* The monitor for IOPL 0: records each #GP and skips the instruction. */
static u8 gp_ops[16];
static u32 gp_count, gp_bad;

static void gp_monitor(struct xregs *r)
{
	u8 op;

	if (!(r->eflags & EFLAGS_VM))
		xcatch_escape(r);
	op = *(u8 *)((r->cs << 4) + (r->eip & 0xFFFF));
	/* INT3 is not IOPL-sensitive (the SDM's IOPL check is for INT n
	 * only): it reaches the IDT, where gate 3's DPL 0 < CPL 3 gives
	 * #GP(3 * 8 + 2).  Everything else here is #GP(0). */
	if (r->error != (op == 0xCC ? 3 * 8 + 2 : 0u)) {
		printf("#GP(0x%x) at opcode 0x%02x\n", r->error, op);
		gp_bad++;
	}
	if (gp_count < ARRAY_SIZE(gp_ops))
		gp_ops[gp_count] = op;
	gp_count++;
	if (op == 0xF4) /* HLT: back to protected mode */
		xcatch_escape(r);
	r->eip += op == 0xCD ? 2 : 1;
}

static void test_iopl0(void)
{
	static const u8 want[] = {0xFA, 0xFB, 0x9C, 0x9D, 0xCD, 0xCC, 0xEC, 0xEE, 0xF4};
	struct fault f;

	idt_set(13, GATE_INT, gp_monitor);
	outb(COM1 + UART_SCR, 0x3C);
	f = run_v86(v86_phase2, 0);
	check(f.count == 1 && f.vector == 13, "phase 2 ended with vector %u", f.vector);
	check(gp_count == ARRAY_SIZE(want), "%u #GPs in phase 2, want %u", gp_count,
	      (u32)ARRAY_SIZE(want));
	for (u32 i = 0; i < ARRAY_SIZE(want) && i < gp_count; i++)
		check(gp_ops[i] == want[i], "#GP %u at opcode 0x%02x, want 0x%02x", i, gp_ops[i],
		      want[i]);
	check(gp_bad == 0, "%u #GPs with the wrong error code", gp_bad);
	check(int30_count == 1, "INT 0x30 with IOPL 0 reached the IDT gate");
	check((res16(res_in2) & 0xFF) == 0x3C, "IN from an allowed port, IOPL 0: 0x%x",
	      res16(res_in2));
	idt_set(13, GATE_INT, NULL);
}

int guest_main(void)
{
	xlib_init();
	pic_init();
	memcpy((void *)V86_BASE, v86_blob, v86_blob_end - v86_blob);
	tss_io(&main_tss, COM1 + UART_SCR, true);
	idt_set(0x30, GATE_INT | GATE_DPL3, int30_handler);
	idt_set(0x31, GATE_INT | GATE_DPL3, NULL);
	test_iopl3();
	test_iopl0();
	return check_done("cpu-v86");
}
