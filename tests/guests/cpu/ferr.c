/*
 * ferr.c - x87 exceptions in MS-DOS compatibility mode (CR0.NE = 0): an
 * unmasked exception makes the next waiting x87 instruction assert FERR#,
 * which the PC turns into IRQ 13 (8259 slave input 5); the handler writes
 * port 0xF0 (clears the IRQ 13 latch, asserts IGNNE#) and FNCLEX.
 *
 * The waiting instruction freezes, so the interrupt returns to it; after
 * the handler writes port 0xF0 without clearing the exception, IGNNE# lets
 * waiting instructions run with no further interrupt until FNCLEX releases
 * FERR#.
 *
 * QEMU 7.2 (TCG) cannot run this: it aborts on an assertion
 * (tcg_handle_interrupt: qemu_mutex_iothread_locked) when FERR# raises IRQ
 * 13, and it would not freeze the waiting instruction either, so its run is
 * marked should_fail in meson.build.
 */
#include "xlib.h"

#define SW_IE	0x0001
#define SW_ES	0x0080
#define CR0_MP	0x02
#define CR0_EM	0x04
#define CR0_NE	0x20
#define IRQ_FPU 13

u16 cw_ie = 0x037e; /* the default control word with IE unmasked */

static volatile int irq13_count;
static volatile u32 irq13_eip;
static volatile u16 irq13_sw;
static volatile bool irq13_fnclex; /* the handler clears the exception */

static void irq13_handler(struct xregs *r)
{
	u16 sw;

	__asm__ volatile("fnstsw %0" : "=m"(sw));
	irq13_count++;
	irq13_eip = r->eip;
	irq13_sw = sw;
	outb(0xf0, 0);
	if (irq13_fnclex)
		__asm__ volatile("fnclex");
	pic_eoi(IRQ_FPU);
}

static u16 fnstsw(void)
{
	u16 v;

	__asm__ volatile("fnstsw %0" : "=m"(v));
	return v;
}

/* FSQRT of -1 with IE unmasked (no interrupt yet: FSQRT found nothing
 * pending), then FWAIT with interrupts on (not in STI's shadow).  A jump
 * before CLI lets QEMU, which does not freeze, take the interrupt. */
__asm__(".text\n"
	"sqrt_neg_fwait: fninit\nfldcw cw_ie\nfld1\nfchs\nfsqrt\n"
	"sti\nnop\nsqrt_fwait: fwait\ncli\nfstp %st(0)\nret\n"
	/* one more waiting instruction with interrupts on */
	"fwait_on: sti\nnop\nfwait\ncli\nret\n");
void sqrt_neg_fwait(void);
void fwait_on(void);
extern const char sqrt_fwait[];

static void test_irq13(void)
{
	irq13_count = 0;
	irq13_fnclex = true;
	sqrt_neg_fwait();
	check(irq13_count == 1, "IRQ 13 taken %d times, want 1", irq13_count);
	check((irq13_sw & (SW_IE | SW_ES)) == (SW_IE | SW_ES), "IRQ 13: status 0x%04x",
	      irq13_sw);
	check(!(fnstsw() & SW_ES), "ES still set after the handler's FNCLEX");
}

static void test_frozen(void)
{
	irq13_count = 0;
	irq13_fnclex = true;
	sqrt_neg_fwait();
	check(irq13_eip == (u32)sqrt_fwait, "IRQ 13 returns to 0x%x, want the FWAIT at 0x%x",
	      irq13_eip, (u32)sqrt_fwait);
}

static void test_ignne(void)
{
	irq13_count = 0;
	irq13_fnclex = false;
	sqrt_neg_fwait();
	check(irq13_count == 1, "IGNNE#: IRQ 13 taken %d times, want 1", irq13_count);
	check(fnstsw() & SW_ES, "IGNNE#: ES cleared by itself");
	fwait_on();
	check(irq13_count == 1, "IGNNE#: a second FWAIT raised IRQ 13 again");
	/* FNCLEX drops FERR# and IGNNE#: the next exception interrupts again */
	__asm__ volatile("fnclex");
	irq13_fnclex = true;
	sqrt_neg_fwait();
	check(irq13_count == 2, "after FNCLEX: IRQ 13 taken %d times in all, want 2",
	      irq13_count);
	check(irq13_eip == (u32)sqrt_fwait, "after FNCLEX: IRQ 13 returns to 0x%x, want 0x%x",
	      irq13_eip, (u32)sqrt_fwait);
}

int guest_main(void)
{
	xlib_init();
	pic_init();
	idt_set(0x20 + IRQ_FPU, GATE_INT, irq13_handler);
	pic_unmask(IRQ_FPU);
	write_cr0((read_cr0() & ~(CR0_EM | CR0_NE)) | CR0_MP);
	test_irq13();
	test_frozen();
	test_ignne();
	return check_done("cpu-ferr");
}
