/*
 * reach.c - a guest for the gdb tests of breakpoints and watchpoints
 * (tests/gdb/test_reach.py): every way control reaches an instruction, and
 * every kind of access a watchpoint must see.
 *
 * The instructions live in reach_code.asm, one global label each.  Each
 * phase runs twice (the timer phase takes three ticks), so that a test
 * sees more than one arrival and reverse-continue has one to go back to:
 *
 *   mid-block    mid_a and mid_c, in one straight block
 *   hot loop     hot_loop(40) to make its blocks hot and linked, then
 *                hot_marker(), then hot_loop(3)
 *   IRET         iret_ret, reached only by IRET
 *   exceptions   ud_stub (#UD, trap gate), de_stub (#DE, interrupt gate)
 *   call gates   cg_call_entry (far CALL), cg_jmp_entry (far JMP)
 *   TSS          tss_call_entry (far CALL), tss_jmp_entry (far JMP)
 *   task gate    task_gate_entry (INT 0x41)
 *   SYSENTER     sysenter_entry, sysexit_ret (ring 3)
 *   stack        PUSH/POP of wstack[15]
 *   strings      REP STOSD / REP MOVSD into sbuf from ssrc
 *   IRQ 0        irq0_stub: three PIT ticks, the first ending a HLT, the
 *                others interrupting a busy loop, then IRQ 0 masked
 *   NMI          nmi_stub: two NMIs the local APIC sends itself (ICR),
 *                with interrupts off
 *   DMA          two READ DMAs (sectors 5 and 9 of the pattern disk) into
 *                dbuf: bytes 4-7 of a sector hold its LBA
 *
 * Interrupts are off except in the IRQ 0 and DMA phases.  It prints
 * "PASS reach" and exits with code 0 (emulator status 1).
 */
#include "guest.h"
#include "../guests/cpu/xlib.h"

#define SEL_CG_CALL   0x30
#define SEL_CG_JMP    0x38
#define SEL_TSS_CALL  0x40
#define SEL_TSS_JMP   0x48
#define SEL_TSS_GATE  0x50
#define VEC_TASK_GATE 0x41

/* Arrivals, counted by the code in reach_code.asm. */
volatile u32 irq0_count, nmi_count, exc_count, task_count, iret_count, gate_count, sys_count;
volatile u32 hot_count, hot_sum, mid_count;
/* A stack of its own (only the stack phase uses it), the string phase's
 * destination and source. */
volatile u32 wstack[16] __attribute__((aligned(64)));
volatile u32 sbuf[8], ssrc[8];
extern const char irq0_stub[], nmi_stub[], ud_stub[], de_stub[], task_gate_entry[], cg_call_entry[],
    cg_jmp_entry[], tss_call_entry[], tss_jmp_entry[], u_sys[], sysenter_entry[];
void ud_trigger(void);
void de_trigger(void);
void int_task_gate(void);
void iret_jump(void);
void far_gates(void);
void far_tss(void);
void hot_loop(u32 n);
void mid_block(void);
u32 stack_phase(void);
void string_phase(void);

static struct tss tss_call, tss_jmp, tss_gate;
static u8 task_stack[3][1024] __attribute__((aligned(16)));
u8 sysenter_stack[1024] __attribute__((aligned(16)));
u8 dbuf[ATA_SECTOR] __attribute__((aligned(4096)));

/* Points IDT @vector at @handler with gate @type (the runtime's IDT). */
static void gate(int vector, const char *handler, u8 type)
{
	struct {
		u16 limit;
		u32 base;
	} __attribute__((packed)) p;
	u32 *e;

	__asm__ volatile("sidt %0" : "=m"(p));
	e = (u32 *)(p.base + vector * 8);
	e[0] = ((u32)handler & 0xFFFF) | KERNEL_CS << 16;
	e[1] = ((u32)handler & 0xFFFF0000) | (u32)type << 8;
}

/* A TSS ready to start at @eip: called before every switch to it, because
 * a task that ends with IRET or JMP saves where it stopped. */
static void task_at(struct tss *t, int slot, const char *eip, u8 *stack)
{
	tss_task(t, (void (*)(void))eip, stack + 1024);
	gdt_set(slot, (u32)t, TSS_LIMIT, ACC_TSS, 0);
}

__attribute__((noinline)) void hot_marker(void)
{
	barrier();
}

static void phase_timer(void)
{
	gate(IRQ_BASE, irq0_stub, GATE_INT);
	outb(0x43, 0x34); /* channel 0, mode 2, lobyte/hibyte */
	outb(0x40, 119);
	outb(0x40, 0); /* 10 kHz: a tick every 10^5 instructions */
	pic_unmask(0);
	sti_hlt(); /* the first tick ends a HLT */
	while (irq0_count < 3)
		barrier(); /* the next ones interrupt this loop */
	cli();
	pic_mask(0);
	check(irq0_count == 3, "%u ticks", irq0_count);
}

/* NMIs through the local APIC: an ICR write with delivery mode NMI and
 * shorthand self; IF is clear, which an NMI ignores. */
static void phase_nmi(void)
{
	volatile u32 *lapic = (volatile u32 *)0xFEE00000u;

	gate(2, nmi_stub, GATE_INT);
	lapic[0x0F0 / 4] = 0x1FF; /* SVR: software-enabled */
	for (int i = 0; i < 2; i++) {
		lapic[0x300 / 4] = 0x00040400u; /* ICR: self, NMI */
		for (volatile int n = 0; n < 100 && nmi_count == (u32)i; n++)
			;
	}
	check(nmi_count == 2, "%u NMIs", nmi_count);
}

static void phase_dma(void)
{
	check(ata_dma_init() != 0, "no bus master");
	check(ata_dma_read(5, 1, dbuf, 0) == 0, "READ DMA of sector 5");
	check(*(u32 *)&dbuf[4] == 5, "sector 5 says %u", *(u32 *)&dbuf[4]);
	check(ata_dma_read(9, 1, dbuf, 0) == 0, "READ DMA of sector 9");
	check(*(u32 *)&dbuf[4] == 9, "sector 9 says %u", *(u32 *)&dbuf[4]);
	cli();
}

int guest_main(void)
{
	xlib_init();
	pic_init();
	gate(6, ud_stub, GATE_TRAP);
	gate(0, de_stub, GATE_INT);
	gdt_set_gate(SEL_CG_CALL / 8, KERNEL_CS, (u32)cg_call_entry, 0x8C, 0);
	gdt_set_gate(SEL_CG_JMP / 8, KERNEL_CS, (u32)cg_jmp_entry, 0x8C, 0);
	idt_set_task(VEC_TASK_GATE, SEL_TSS_GATE, 0);
	__asm__ volatile("wrmsr" : : "c"(0x174), "a"(KERNEL_CS), "d"(0));
	__asm__ volatile("wrmsr"
			 :
			 : "c"(0x175), "a"((u32)(sysenter_stack + sizeof(sysenter_stack))),
			   "d"(0));
	__asm__ volatile("wrmsr" : : "c"(0x176), "a"((u32)sysenter_entry), "d"(0));
	for (u32 i = 0; i < 8; i++)
		ssrc[i] = 0x55550000 + i;

	for (int round = 0; round < 2; round++) {
		mid_block();
		iret_jump();
		ud_trigger();
		de_trigger();
		far_gates();
		task_at(&tss_call, SEL_TSS_CALL / 8, tss_call_entry, task_stack[0]);
		task_at(&tss_jmp, SEL_TSS_JMP / 8, tss_jmp_entry, task_stack[1]);
		far_tss();
		task_at(&tss_gate, SEL_TSS_GATE / 8, task_gate_entry, task_stack[2]);
		int_task_gate();
		run_user((u32)u_sys, (u32)(user_stack + sizeof(user_stack)), 0x2);
	}
	hot_loop(40);
	hot_marker();
	hot_loop(3);
	/* (the stack's words are read by POP only: rwatch tests count reads) */
	check(stack_phase() == 0x22222222, "the stack phase popped something else");
	string_phase();
	phase_timer();
	phase_nmi();
	phase_dma();

	check(mid_count == 8 && iret_count == 2 && exc_count == 4 && gate_count == 4,
	      "counts: mid %u iret %u exc %u gate %u", mid_count, iret_count, exc_count,
	      gate_count);
	check(task_count == 6 && sys_count == 4 && hot_count == 43, "counts: task %u sys %u hot %u",
	      task_count, sys_count, hot_count);
	check(sbuf[5] == 0x55550005, "strings: %x", sbuf[5]);
	return check_done("reach");
}
