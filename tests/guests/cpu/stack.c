/*
 * stack.c - which stack pointer an instruction moves and by how much.  The
 * B bit of SS picks SP or ESP: on a 16-bit stack only SP changes, it wraps
 * at 64 KiB and ESP's upper half stays; the operand size (or the gate
 * size) is the width of each slot.  Every kind of instruction that moves
 * the stack runs in 16- and 32-bit code on a 16- and a 32-bit stack
 * (stack_code.asm): PUSH/POP of registers, immediates and segment
 * registers (also POP SS from one stack size to the other), PUSHA/POPA,
 * PUSHF/POPF, near and far CALL and RET with immediates, ENTER (nesting 0,
 * 1 and 3) and LEAVE, INT n/INT3/INTO and #GP with its error code through
 * 16- and 32-bit gates, IRET of both sizes; then interrupts from ring 3
 * into a 16-bit ring-0 stack and from a 16-bit ring-3 stack, IRET to a
 * 16-bit ring-3 stack, the error code a task switch pushes on the new
 * task's 16-bit stack, and far CALLs in virtual-8086 mode at SP 0 and 2.
 *
 * Both stack segments are based at stk[]: a 16-bit stack runs with ESP =
 * 0xABCD0000 + SP, a 32-bit one with ESP = 0x00010000 + the same low half.
 * Pushes from just above 0 land on the same offsets of stk[] (across the
 * 64 KiB wrap on the 16-bit stack, below 0x10000 on the 32-bit one); pops
 * from just below 0x10000 wrap to 0 on the 16-bit stack and go on past
 * 0x20000 on the 32-bit one.  ESP tells the two apart.
 *
 * Built twice.  cpu-stack-strict adds what QEMU 7.2 does otherwise than
 * the SDM (meson.build marks its QEMU run should_fail): an interrupt that
 * switches to a 16-bit inner stack.  The SDM loads ESP from the TSS
 * ("ESP <- NewESP") and then the pushes move SP alone, so ESP's upper half
 * is the TSS's; QEMU keeps the upper half of the interrupted ESP.
 */
#include "xlib.h"

#define SEL_C16	 0x30 /* 16-bit code based at st16_base */
#define SEL_S16	 0x38 /* 16-bit stack (B = 0) based at stk */
#define SEL_S32	 0x40 /* 32-bit stack (B = 1) based at stk */
#define SEL_US16 0x48 /* ring-3 16-bit stack based at stk */
#define SEL_TSSH 0x50 /* the #GP handler task */

#define FLAGS_IN 0x8c3u /* OF SF ZF CF: IF stays clear on these stacks */
#define UP16	 0xabcd0000u
#define UP32	 0x00010000u
#define V86_BASE 0x8000u
#define V86_SS	 0x2000u /* linear 0x20000 */
#define GP_SEL	 0xfff8u /* beyond the GDT: MOV DS gives #GP(0xfff8) */

struct st_regs {
	u32 eax, ecx, edx, ebx, esp, ebp, esi, edi, ss, eflags;
};
extern struct st_regs st_in, st_out;
extern u32 st_entry[2], st_kesp_iret, st_task_esp, st_task_ss, st_resume;
extern const char st16_base[], back16[], st_back[], st_task_entry[];
extern const char st_user_int62[], st_user_int63[], st_user_esp_int62[];
extern const char v86s_blob[], v86s_blob_end[], v86s_callf16[], v86s_callf32[], v86s_target[];
void st_run(void);
void st_user(u32 ss, u32 esp, const char *eip);
void st_v86(const u32 frame[9]);

#define SNIP(n) extern const char s16_##n[], s32_##n[]
SNIP(pushad);
SNIP(pushaw);
SNIP(pushds);
SNIP(popds);
SNIP(popss);
SNIP(pushf);
SNIP(popf);
SNIP(pushimm);
SNIP(enter80);
SNIP(enter43);
SNIP(enter01);
SNIP(leave);
SNIP(callnear);
SNIP(callnear_ret);
SNIP(ret4);
SNIP(callfar);
SNIP(callfar_ret);
SNIP(retf_o16);
SNIP(retf_o32);
SNIP(int60);
SNIP(int60_ret);
SNIP(int61);
SNIP(int61_ret);
SNIP(int3);
SNIP(int3_ret);
SNIP(into);
SNIP(into_ret);
SNIP(movds);
SNIP(iret_o16);
SNIP(iret_o32);
extern const char s32_popad[], s16_popaw[], s16_pushfs32[], s32_movds_next[];

/* 64 KiB for the 16-bit stacks, and what a 32-bit one reaches above them */
u8 stk[0x30000] __attribute__((aligned(16)));
static struct tss tss_h;
static u8 tss_h_stack[256];

/* One configuration: code size, stack size, and its name for messages. */
struct cfg {
	bool c32, s32;
	const char *name;
};
static const struct cfg cfgs[4] = {
    {false, false, "16-bit code, 16-bit stack"},
    {true, false, "32-bit code, 16-bit stack"},
    {false, true, "16-bit code, 32-bit stack"},
    {true, true, "32-bit code, 32-bit stack"},
};

/* ESP with low half @lo for the stack size. */
static u32 esp_at(bool s32, u32 lo)
{
	return (s32 ? UP32 : UP16) | lo;
}

/* ESP after the stack pointer moves by @d: SP alone on a 16-bit stack. */
static u32 moved(bool s32, u32 esp, int d)
{
	return s32 ? esp + d : (esp & 0xffff0000u) | ((esp + d) & 0xffff);
}

/* The offset in stk[] of the slot @d bytes from @esp. */
static u32 at(bool s32, u32 esp, int d)
{
	return s32 ? esp + d : (esp + d) & 0xffff;
}

static u32 rd32(u32 off)
{
	return *(volatile u32 *)(stk + off);
}
static u16 rd16(u32 off)
{
	return *(volatile u16 *)(stk + off);
}
static void wr32(u32 off, u32 v)
{
	*(volatile u32 *)(stk + off) = v;
}
static void wr16(u32 off, u16 v)
{
	*(volatile u16 *)(stk + off) = v;
}

/* An offset in the segment @c32 code runs in. */
static u32 code_off(bool c32, const char *label)
{
	return c32 ? (u32)label : (u32)(label - st16_base);
}

/* Fresh bytes (0xA5) around the offsets the tests use, and registers
 * 0x11111111 * (n + 1) with ESP = @esp on the stack of @c. */
static void prepare(const struct cfg *c, u32 esp)
{
	memset(stk, 0xa5, 0x100);
	memset(stk + 0xff00, 0xa5, 0x200);
	st_in = (struct st_regs){.eax = 0x11111111,
				 .ecx = 0x22222222,
				 .edx = 0x33333333,
				 .ebx = 0x44444444,
				 .esp = esp,
				 .ebp = 0x66666666,
				 .esi = 0x77777777,
				 .edi = 0x88888888,
				 .ss = c->s32 ? SEL_S32 : SEL_S16,
				 .eflags = FLAGS_IN};
}

/* Runs the snippet for @c's code size. */
static void run(const struct cfg *c, const char *l16, const char *l32)
{
	st_entry[0] = code_off(c->c32, c->c32 ? l32 : l16);
	st_entry[1] = c->c32 ? KERNEL_CS : SEL_C16;
	memset(&st_out, 0, sizeof(st_out));
	st_run();
}

static bool check_esp(const struct cfg *c, const char *what, u32 want)
{
	return check(st_out.esp == want, "%s, %s: ESP 0x%x, want 0x%x", what, c->name, st_out.esp,
		     want);
}

static bool check_slot(const struct cfg *c, const char *what, u32 off, u32 got, u32 want)
{
	return check(got == want, "%s, %s: slot at 0x%x holds 0x%x, want 0x%x", what, c->name, off,
		     got, want);
}

/* A slot of @size bytes at offset @off. */
static u32 slot(u32 off, unsigned size)
{
	return size == 4 ? rd32(off) : rd16(off);
}

static void idt_raw(int vec, u16 sel, u32 off, u8 type)
{
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) p;

	__asm__ volatile("sidt %0" : "=m"(p));
	u32 *e = (u32 *)(p.base + vec * 8);

	e[0] = (off & 0xffff) | (u32)sel << 16;
	e[1] = (off & 0xffff0000u) | (u32)type << 8;
}

/* Gates whose handler is st_back (32-bit) or back16 (16-bit). */
static void gate32(int vec, u8 dpl)
{
	idt_raw(vec, KERNEL_CS, (u32)st_back, 0x8e | dpl << 5);
}
static void gate16(int vec, u8 dpl)
{
	idt_raw(vec, SEL_C16, (u32)(back16 - st16_base), 0x86 | dpl << 5);
}

/* ---- PUSH, POP ----------------------------------------------------------- */

static void test_pusha(void)
{
	for (int i = 0; i < 4; i++) {
		const struct cfg *c = &cfgs[i];

		/* PUSHAD from SP 4: eight dwords down through the wrap; the
		 * ESP slot holds all of ESP */
		u32 esp = esp_at(c->s32, 4);

		prepare(c, esp);
		run(c, s16_pushad, s32_pushad);
		check_esp(c, "PUSHAD", moved(c->s32, esp, -32));
		for (int r = 0; r < 8; r++) {
			u32 off = at(c->s32, esp, -4 * (r + 1));
			u32 want = r == 4 ? esp : 0x11111111u * (r + 1);

			check_slot(c, "PUSHAD", off, rd32(off), want);
		}
		/* PUSHA: words, SP for the ESP slot */
		esp = esp_at(c->s32, 2);
		prepare(c, esp);
		run(c, s16_pushaw, s32_pushaw);
		check_esp(c, "PUSHA", moved(c->s32, esp, -16));
		for (int r = 0; r < 8; r++) {
			u32 off = at(c->s32, esp, -2 * (r + 1));
			u32 want = r == 4 ? esp & 0xffff : 0x1111u * (r + 1);

			check_slot(c, "PUSHA", off, rd16(off), want);
		}
		/* POPAD in 32-bit code, POPA in 16-bit code, from 16 or 32
		 * bytes below the top: the slots wrap on a 16-bit stack, ESP's
		 * slot is skipped */
		unsigned size = c->c32 ? 4 : 2;

		esp = esp_at(c->s32, 0x10000 - 8 * size);
		prepare(c, esp);
		for (int r = 0; r < 8; r++) {
			u32 off = at(c->s32, esp, size * (7 - r));

			if (size == 4)
				wr32(off, 0x01010101u * (r + 1));
			else
				wr16(off, 0x0101 * (r + 1));
		}
		run(c, s16_popaw, s32_popad);
		check_esp(c, c->c32 ? "POPAD" : "POPA", moved(c->s32, esp, 8 * size));
		check(st_out.eax == (size == 4 ? 0x01010101 : 0x11110101) &&
			  st_out.edi == (size == 4 ? 0x08080808 : 0x88880808),
		      "POPA(D), %s: EAX 0x%x EDI 0x%x", c->name, st_out.eax, st_out.edi);
	}
}

static void test_push_pop(void)
{
	for (int i = 0; i < 4; i++) {
		const struct cfg *c = &cfgs[i];
		unsigned size = c->c32 ? 4 : 2;
		u32 esp = esp_at(c->s32, 2);

		/* PUSH imm at SP 2: a dword crosses the 16-bit stack's top, so
		 * 32-bit code starts at SP 4 */
		if (c->c32)
			esp += 2;
		prepare(c, esp);
		run(c, s16_pushimm, s32_pushimm);
		check_esp(c, "PUSH imm", moved(c->s32, esp, -size));
		check_slot(c, "PUSH imm", at(c->s32, esp, -size),
			   slot(at(c->s32, esp, -size), size), c->c32 ? 0x12345678 : 0x1234);

		/* PUSHF / POPF */
		prepare(c, esp);
		run(c, s16_pushf, s32_pushf);
		check_esp(c, "PUSHF", moved(c->s32, esp, -size));
		check_slot(c, "PUSHF", at(c->s32, esp, -size),
			   slot(at(c->s32, esp, -size), size) & 0xfff, FLAGS_IN);
		esp = esp_at(c->s32, 0x10000 - size);
		prepare(c, esp);
		if (c->c32)
			wr32(at(c->s32, esp, 0), 0x2 | 0x4 | 0x10);
		else
			wr16(at(c->s32, esp, 0), 0x2 | 0x4 | 0x10);
		run(c, s16_popf, s32_popf);
		check_esp(c, "POPF", moved(c->s32, esp, size));
		check((st_out.eflags & 0xfff) == 0x16, "POPF, %s: EFLAGS 0x%x, want PF AF", c->name,
		      st_out.eflags);

		/* PUSH DS; in 16-bit code also a 32-bit PUSH FS: a 4-byte slot
		 * whose low word is the selector (the SDM lets the upper word be
		 * left alone or zeroed) */
		esp = esp_at(c->s32, 4);
		prepare(c, esp);
		run(c, s16_pushds, s32_pushds);
		check_esp(c, "PUSH DS", moved(c->s32, esp, -size));
		check_slot(c, "PUSH DS", at(c->s32, esp, -size), rd16(at(c->s32, esp, -size)),
			   KERNEL_DS);
		if (size == 4)
			check(rd16(at(c->s32, esp, -2)) == 0xa5a5 || rd16(at(c->s32, esp, -2)) == 0,
			      "PUSH DS, %s: upper word 0x%x", c->name, rd16(at(c->s32, esp, -2)));
		if (!c->c32) {
			prepare(c, esp);
			run(c, s16_pushfs32, NULL);
			check_esp(c, "o32 PUSH FS", moved(c->s32, esp, -4));
			check_slot(c, "o32 PUSH FS", at(c->s32, esp, -4), rd16(at(c->s32, esp, -4)),
				   KERNEL_DS);
			check(rd16(at(c->s32, esp, -2)) == 0xa5a5 || rd16(at(c->s32, esp, -2)) == 0,
			      "o32 PUSH FS, %s: upper word 0x%x", c->name,
			      rd16(at(c->s32, esp, -2)));
		}

		/* POP DS at the top: SP wraps to 0 */
		esp = esp_at(c->s32, 0x10000 - size);
		prepare(c, esp);
		wr32(at(c->s32, esp, 0), KERNEL_DS);
		run(c, s16_popds, s32_popds);
		check_esp(c, "POP DS", moved(c->s32, esp, size));

		/* POP SS of the other stack size: the pointer moves by the
		 * stack it popped from */
		u16 other = c->s32 ? SEL_S16 : SEL_S32;

		prepare(c, esp);
		wr32(at(c->s32, esp, 0), other);
		run(c, s16_popss, s32_popss);
		check(st_out.ss == other, "POP SS, %s: SS 0x%x", c->name, st_out.ss);
		check_esp(c, "POP SS", moved(c->s32, esp, size));
	}
}

/* ---- ENTER, LEAVE ---------------------------------------------------------- */

static void test_enter_leave(void)
{
	for (int i = 0; i < 4; i++) {
		const struct cfg *c = &cfgs[i];
		unsigned size = c->c32 ? 4 : 2;
		u32 esp = esp_at(c->s32, 8), up = esp & 0xffff0000u;
		u32 frame = moved(c->s32, esp, -size);

		/* ENTER 8,0: push (E)BP, (E)BP = FrameTemp, allocate 8.  EBP's
		 * upper half is ESP's here, not in the next case */
		prepare(c, esp);
		st_in.ebp = up | 0x0010;
		run(c, s16_enter80, s32_enter80);
		check_slot(c, "ENTER 8,0", at(c->s32, esp, -size),
			   slot(at(c->s32, esp, -size), size), c->c32 ? up | 0x10 : 0x10);
		check(st_out.ebp == frame, "ENTER 8,0, %s: EBP 0x%x, want 0x%x", c->name,
		      st_out.ebp, frame);
		check_esp(c, "ENTER 8,0", moved(c->s32, esp, -size - 8));

		/* the same with EBP's upper half unlike ESP's: ENTER sets BP
		 * (16-bit operand) or EBP (32-bit) to FrameTemp, whatever the
		 * stack size */
		u32 want = c->c32 ? frame : 0x55550000u | (frame & 0xffff);

		prepare(c, esp);
		st_in.ebp = 0x55550010;
		run(c, s16_enter80, s32_enter80);
		check(st_out.ebp == want, "ENTER 8,0, %s: EBP 0x%x, want 0x%x", c->name, st_out.ebp,
		      want);

		/* ENTER 4,3: (E)BP, two frame pointers copied from [(E)BP - n],
		 * FrameTemp; from SP 8 the 32-bit slots wrap */
		prepare(c, esp);
		st_in.ebp = up | 0x0020;
		for (unsigned k = 1; k <= 2; k++) {
			u32 from = at(c->s32, st_in.ebp, -(int)size * k);

			if (c->c32)
				wr32(from, 0x0a0a0a0a * k);
			else
				wr16(from, 0x0a0a * k);
		}
		run(c, s16_enter43, s32_enter43);
		for (unsigned k = 1; k <= 2; k++) {
			u32 off = at(c->s32, esp, -(int)size * (1 + k));

			check_slot(c, "ENTER 4,3 copy", off, slot(off, size),
				   c->c32 ? 0x0a0a0a0a * k : 0x0a0a * k);
		}
		u32 off = at(c->s32, esp, -4 * (int)size);

		check_slot(c, "ENTER 4,3 FrameTemp", off, slot(off, size),
			   c->c32 ? frame : frame & 0xffff);
		check(st_out.ebp == frame, "ENTER 4,3, %s: EBP 0x%x, want 0x%x", c->name,
		      st_out.ebp, frame);
		check_esp(c, "ENTER 4,3", moved(c->s32, esp, -4 * (int)size - 4));

		/* ENTER 0,1: (E)BP and FrameTemp */
		prepare(c, esp);
		st_in.ebp = up | 0x0030;
		run(c, s16_enter01, s32_enter01);
		off = at(c->s32, esp, -2 * (int)size);
		check_slot(c, "ENTER 0,1 FrameTemp", off, slot(off, size),
			   c->c32 ? frame : frame & 0xffff);
		check_esp(c, "ENTER 0,1", moved(c->s32, esp, -2 * (int)size));

		/* LEAVE: SP <- BP (ESP <- EBP), then pop (E)BP across the top */
		u32 ebp = (c->s32 ? UP32 : 0x1111u << 16) | (0x10000 - size);

		prepare(c, esp_at(c->s32, 0x1234));
		st_in.ebp = ebp;
		wr32(at(c->s32, ebp, 0), 0xcafef00d);
		if (!c->c32)
			wr16(at(c->s32, ebp, 0), 0xf00d);
		run(c, s16_leave, s32_leave);
		check(st_out.ebp == (c->c32 ? 0xcafef00d : (ebp & 0xffff0000u) | 0xf00d),
		      "LEAVE, %s: EBP 0x%x", c->name, st_out.ebp);
		check_esp(c, "LEAVE", moved(c->s32, esp_at(c->s32, ebp & 0xffff), size));
	}
}

/* ---- CALL, RET ------------------------------------------------------------- */

static void test_call_ret(void)
{
	for (int i = 0; i < 4; i++) {
		const struct cfg *c = &cfgs[i];
		unsigned size = c->c32 ? 4 : 2;
		u32 esp = esp_at(c->s32, c->c32 ? 4 : 2), off;

		/* near CALL: the return offset below SP */
		prepare(c, esp);
		run(c, s16_callnear, s32_callnear);
		off = at(c->s32, esp, -size);
		check_slot(c, "CALL near", off, slot(off, size),
			   code_off(c->c32, c->c32 ? s32_callnear_ret : s16_callnear_ret));
		check_esp(c, "CALL near", moved(c->s32, esp, -size));

		/* RET 4 from the top: SP wraps past 0 */
		esp = esp_at(c->s32, 0x10000 - size);
		prepare(c, esp);
		wr32(at(c->s32, esp, 0), code_off(c->c32, c->c32 ? st_back : back16));
		run(c, s16_ret4, s32_ret4);
		check_esp(c, "RET 4", moved(c->s32, esp, size + 4));

		/* far CALL at SP 4 (2 in 16-bit code): CS at 0, the offset
		 * across the wrap */
		esp = esp_at(c->s32, size);
		prepare(c, esp);
		run(c, s16_callfar, s32_callfar);
		off = at(c->s32, esp, -size);
		check_slot(c, "CALL far CS", off, slot(off, size) & 0xffff,
			   c->c32 ? KERNEL_CS : SEL_C16);
		off = at(c->s32, esp, -2 * (int)size);
		check_slot(c, "CALL far offset", off, slot(off, size),
			   code_off(c->c32, c->c32 ? s32_callfar_ret : s16_callfar_ret));
		check_esp(c, "CALL far", moved(c->s32, esp, -2 * (int)size));

		/* RETF 8 of both sizes from 16 bytes below the top */
		for (unsigned o32 = 0; o32 < 2; o32++) {
			unsigned sz = o32 ? 4 : 2;

			esp = esp_at(c->s32, 0x10000 - 2 * sz);
			prepare(c, esp);
			if (o32) {
				wr32(at(c->s32, esp, 0), (u32)st_back);
				wr32(at(c->s32, esp, 4), KERNEL_CS);
			} else {
				wr16(at(c->s32, esp, 0), (u16)(back16 - st16_base));
				wr16(at(c->s32, esp, 2), SEL_C16);
			}
			run(c, o32 ? s16_retf_o32 : s16_retf_o16,
			    o32 ? s32_retf_o32 : s32_retf_o16);
			check_esp(c, o32 ? "RETF 8 (32-bit)" : "RETF 8 (16-bit)",
				  moved(c->s32, esp, 2 * sz + 8));
		}
	}
}

/* ---- interrupts -------------------------------------------------------------- */

/* The frame of an interrupt through a @g32 gate from SP @esp at the same
 * level: (E)FLAGS, CS, (E)IP and maybe an error code, below @esp. */
static void check_frame(const struct cfg *c, const char *what, u32 esp, bool g32, u16 cs, u32 eip,
			bool has_err, u32 err)
{
	unsigned size = g32 ? 4 : 2;
	u32 off;

	off = at(c->s32, esp, -size);
	check_slot(c, what, off, slot(off, size) & 0xfff, FLAGS_IN);
	off = at(c->s32, esp, -2 * (int)size);
	check_slot(c, what, off, slot(off, size) & 0xffff, cs);
	off = at(c->s32, esp, -3 * (int)size);
	check_slot(c, what, off, slot(off, size), g32 ? eip : eip & 0xffff);
	if (has_err) {
		off = at(c->s32, esp, -4 * (int)size);
		check_slot(c, what, off, slot(off, size), err);
	}
	check_esp(c, what, moved(c->s32, esp, -(3 + has_err) * (int)size));
}

static void test_interrupts(void)
{
	gate32(0x60, 0);
	gate16(0x61, 0);
	for (int i = 0; i < 4; i++) {
		const struct cfg *c = &cfgs[i];
		u16 cs = c->c32 ? KERNEL_CS : SEL_C16;
		u32 esp = esp_at(c->s32, 8);

		prepare(c, esp);
		run(c, s16_int60, s32_int60);
		check_frame(c, "INT through a 32-bit gate", esp, true, cs,
			    code_off(c->c32, c->c32 ? s32_int60_ret : s16_int60_ret), false, 0);
		esp = esp_at(c->s32, 4);
		prepare(c, esp);
		run(c, s16_int61, s32_int61);
		check_frame(c, "INT through a 16-bit gate", esp, false, cs,
			    code_off(c->c32, c->c32 ? s32_int61_ret : s16_int61_ret), false, 0);

		/* INT3 and INTO (OF is set) through 32-bit gates */
		gate32(3, 0);
		gate32(4, 0);
		esp = esp_at(c->s32, 8);
		prepare(c, esp);
		run(c, s16_int3, s32_int3);
		check_frame(c, "INT3", esp, true, cs,
			    code_off(c->c32, c->c32 ? s32_int3_ret : s16_int3_ret), false, 0);
		prepare(c, esp);
		run(c, s16_into, s32_into);
		check_frame(c, "INTO", esp, true, cs,
			    code_off(c->c32, c->c32 ? s32_into_ret : s16_into_ret), false, 0);
		idt_set(3, GATE_INT, NULL);
		idt_set(4, GATE_INT, NULL);

		/* #GP(selector) from MOV DS: the error code is the last slot,
		 * a dword through a 32-bit gate, a word through a 16-bit one */
		for (int g32 = 0; g32 < 2; g32++) {
			esp = esp_at(c->s32, g32 ? 8 : 4);
			if (g32)
				gate32(13, 0);
			else
				gate16(13, 0);
			prepare(c, esp);
			st_in.eax = GP_SEL;
			run(c, s16_movds, s32_movds);
			idt_set(13, GATE_INT, NULL);
			check_frame(c,
				    g32 ? "#GP through a 32-bit gate" : "#GP through a 16-bit gate",
				    esp, g32, cs, code_off(c->c32, c->c32 ? s32_movds : s16_movds),
				    true, GP_SEL);
		}

		/* IRET of both sizes from the top: (E)IP, CS, (E)FLAGS */
		for (unsigned o32 = 0; o32 < 2; o32++) {
			unsigned sz = o32 ? 4 : 2;

			esp = esp_at(c->s32, 0x10000 - 2 * sz);
			prepare(c, esp);
			if (o32) {
				wr32(at(c->s32, esp, 0), (u32)st_back);
				wr32(at(c->s32, esp, 4), KERNEL_CS);
				wr32(at(c->s32, esp, 8), 0x2 | 0x4);
			} else {
				wr16(at(c->s32, esp, 0), (u16)(back16 - st16_base));
				wr16(at(c->s32, esp, 2), SEL_C16);
				wr16(at(c->s32, esp, 4), 0x2 | 0x4);
			}
			run(c, o32 ? s16_iret_o32 : s16_iret_o16,
			    o32 ? s32_iret_o32 : s32_iret_o16);
			check_esp(c, o32 ? "IRET (32-bit)" : "IRET (16-bit)",
				  moved(c->s32, esp, 3 * sz));
			check((st_out.eflags & 0xfff) == 0x6, "IRET, %s: EFLAGS 0x%x, want PF",
			      c->name, st_out.eflags);
		}
	}
}

/* ---- privilege changes ----------------------------------------------------- */

/* From ring 3 through a DPL-3 gate into a 16-bit ring-0 stack at SP 8: the
 * frame (SS, ESP, EFLAGS, CS, EIP) wraps below 0. */
static void test_ring3_to_stack16(void)
{
	static const struct cfg c16 = {true, false, "from ring 3 to a 16-bit ring-0 stack"};
	u32 esp0 = main_tss.esp0, ss0 = main_tss.ss0, ustack = (u32)user_stack + 0x1000;

	gate32(0x62, 3);
	gate16(0x63, 3);
	main_tss.ss0 = SEL_S16;
	main_tss.esp0 = 0x5a5a0008;
	prepare(&c16, 0);
	st_user(USER_DS, ustack, st_user_int62);
	check(st_out.ss == SEL_S16, "32-bit gate from ring 3: SS 0x%x", st_out.ss);
	check((st_out.esp & 0xffff) == 0xfff4, "32-bit gate from ring 3: SP 0x%x, want 0xfff4",
	      st_out.esp);
	check_slot(&c16, "32-bit gate, old SS", 0x0004, rd16(0x0004), USER_DS);
	check_slot(&c16, "32-bit gate, old ESP", 0x0000, rd32(0x0000), ustack);
	check_slot(&c16, "32-bit gate, old CS", 0xfff8, rd16(0xfff8), USER_CS);
	check_slot(&c16, "32-bit gate, old EIP", 0xfff4, rd32(0xfff4), (u32)st_user_int62 + 2);
#ifdef STRICT
	/* ESP <- the TSS's ESP0, then the pushes move SP alone */
	check(st_out.esp == 0x5a5afff4, "32-bit gate from ring 3: ESP 0x%x, want 0x5a5afff4",
	      st_out.esp);
#endif

	/* a 16-bit gate pushes words, SP for the old ESP */
	prepare(&c16, 0);
	st_user(USER_DS, ustack, st_user_int63);
	check((st_out.esp & 0xffff) == 0xfffe, "16-bit gate from ring 3: SP 0x%x, want 0xfffe",
	      st_out.esp);
	check_slot(&c16, "16-bit gate, old SS", 0x0006, rd16(0x0006), USER_DS);
	check_slot(&c16, "16-bit gate, old SP", 0x0004, rd16(0x0004), ustack & 0xffff);
	check_slot(&c16, "16-bit gate, old CS", 0x0000, rd16(0x0000), USER_CS);
	check_slot(&c16, "16-bit gate, old IP", 0xfffe, rd16(0xfffe),
		   ((u32)st_user_int63 + 2) & 0xffff);
	main_tss.ss0 = ss0;
	main_tss.esp0 = esp0;
}

/* IRET to a 16-bit ring-3 stack sets SP alone (ESP's upper half is the
 * kernel's at the IRET); a 32-bit gate from there pushes all of ESP. */
static void test_ring3_stack16(void)
{
	u32 *frame = (u32 *)((u8 *)main_tss.esp0 - 20);

	gate32(0x62, 3);
	st_user(SEL_US16 | 3, 0x1234fff0, st_user_int62);
	check(frame[3] == ((st_kesp_iret & 0xffff0000u) | 0xfff0),
	      "IRET to a 16-bit ring-3 stack: ESP 0x%x, want 0x%x", frame[3],
	      (st_kesp_iret & 0xffff0000u) | 0xfff0);
	check((frame[4] & 0xffff) == (SEL_US16 | 3), "IRET to a 16-bit ring-3 stack: SS 0x%x",
	      frame[4]);
	st_user(SEL_US16 | 3, 0xfff0, st_user_esp_int62);
	check(frame[3] == 0xabcd0010, "from a 16-bit ring-3 stack: old ESP 0x%x, want 0xabcd0010",
	      frame[3]);
}

/* #GP through a task gate: the error code goes on the new task's 16-bit
 * stack, at SP - 4 across the wrap; ESP's upper half is the TSS's. */
static void test_task_error(void)
{
	idt_set_task(13, SEL_TSSH, 0);
	st_resume = (u32)s32_movds_next;
	for (int i = 1; i < 4; i += 2) {
		const struct cfg *c = &cfgs[i];

		tss_task(&tss_h, (void (*)(void))st_task_entry, tss_h_stack + sizeof(tss_h_stack));
		tss_h.ss = SEL_S16;
		tss_h.esp = 0x5a5a0000;
		gdt_set(SEL_TSSH / 8, (u32)&tss_h, TSS_LIMIT, ACC_TSS, 0);
		prepare(c, esp_at(c->s32, 0x100));
		st_in.eax = GP_SEL;
		run(c, s16_movds, s32_movds);
		check(st_task_ss == SEL_S16, "#GP task, %s: SS 0x%x", c->name, st_task_ss);
		check(st_task_esp == 0x5a5afffc, "#GP task, %s: ESP 0x%x, want 0x5a5afffc", c->name,
		      st_task_esp);
		check_slot(c, "#GP task error code", 0xfffc, rd32(0xfffc), GP_SEL);
		check_esp(c, "back from the #GP task", esp_at(c->s32, 0x100));
	}
	idt_set(13, GATE_INT, NULL);
}

/* ---- virtual-8086 mode ------------------------------------------------------ */

static struct xregs v86_exit;

static void v86_int30(struct xregs *r)
{
	v86_exit = *r;
	xcatch_escape(r);
}

static u32 v86_eip, v86_esp;

static void v86_trampoline(u32 unused)
{
	const u32 frame[9] = {v86_eip, V86_BASE >> 4, 0x2 | EFLAGS_VM | IOPL(3),
			      v86_esp, V86_SS,	      V86_SS,
			      V86_SS,  V86_SS,	      V86_SS};

	st_v86(frame);
}

/* Far CALL in virtual-8086 mode at SP 0 and 2 (16-bit) and 0 (32-bit): the
 * 64 KiB stack wraps, nothing faults; the INT 0x30 at the target shows
 * ESP with its upper half. */
static void test_v86_callf(void)
{
	static const struct {
		const char *entry;
		u32 sp;
		bool o32;
	} cases[] = {{v86s_callf16, 0, false}, {v86s_callf16, 2, false}, {v86s_callf32, 0, true}};
	volatile u8 *ss = (volatile u8 *)(V86_SS << 4);

	memcpy((void *)V86_BASE, v86s_blob, v86s_blob_end - v86s_blob);
	idt_set(0x30, GATE_INT | GATE_DPL3, v86_int30);
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned size = cases[i].o32 ? 4 : 2;
		u32 sp = cases[i].sp,
		    ret = cases[i].o32 ? v86s_blob_end - v86s_blob : v86s_target - v86s_blob;
		u32 cs_off = (sp - size) & 0xffff, ip_off = (sp - 2 * size) & 0xffff;
		struct fault f;

		v86_eip = cases[i].entry - v86s_blob;
		v86_esp = 0xabcd0000 | sp;
		memset(&v86_exit, 0, sizeof(v86_exit));
		f = xcatch(v86_trampoline, 0);
		check(f.count == 1 && f.vector == 0x30,
		      "V86 far CALL at SP %u: ended with vector %u", sp, f.vector);
		check(v86_exit.esp == (0xabcd0000 | ((sp - 2 * size) & 0xffff)),
		      "V86 far CALL at SP %u (%u-bit): ESP 0x%x", sp, size * 8, v86_exit.esp);
		check(*(volatile u16 *)(ss + cs_off) == (V86_BASE >> 4) &&
			  *(volatile u16 *)(ss + ip_off) == ret,
		      "V86 far CALL at SP %u (%u-bit): CS 0x%x IP 0x%x", sp, size * 8,
		      *(volatile u16 *)(ss + cs_off), *(volatile u16 *)(ss + ip_off));
	}
	idt_set(0x30, GATE_INT, NULL);
}

int guest_main(void)
{
	xlib_init();
	gdt_set(SEL_C16 / 8, (u32)st16_base, 0xffff, ACC_CODE0, 0);
	gdt_set(SEL_S16 / 8, (u32)stk, 0xffff, ACC_DATA0, 0);
	gdt_set(SEL_S32 / 8, (u32)stk, sizeof(stk) - 1, ACC_DATA0, 0x40);
	gdt_set(SEL_US16 / 8, (u32)stk, 0xffff, ACC_DATA0 | 0x60, 0);
	test_pusha();
	test_push_pop();
	test_enter_leave();
	test_call_ret();
	test_interrupts();
	test_ring3_to_stack16();
	test_ring3_stack16();
	test_task_error();
	test_v86_callf();
#ifdef STRICT
	return check_done("cpu-stack-strict");
#else
	return check_done("cpu-stack");
#endif
}
