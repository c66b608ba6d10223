/*
 * wake.c - every way this PC has of waking a halted CPU does wake it.
 *
 * The counterpart of the checks that end a run whose CPU halted for good
 * (tests/cli/test_wedge.py): a halt that an enabled source will end must
 * not be mistaken for one.  Each case arms one source, opens one path and
 * halts with interrupts on until its handler has run:
 *   - a PIT one-shot (mode 0) through the 8259 (IRQ 0);
 *   - the RTC's periodic interrupt through the slave 8259 (IRQ 8, cascade);
 *   - the local APIC timer, with both 8259s masked;
 *   - a PIT one-shot through the IOAPIC (pin 2) and the local APIC.
 * A wake-up that never comes is a hang under QEMU (the runner's time
 * limit) and, under flashback, a run that ends with the guest halted: both
 * fail without "PASS wake".
 */
#include "guest.h"

#define PIT_CH0	     0x40
#define PIT_CMD	     0x43
#define CMOS_INDEX   0x70
#define CMOS_DATA    0x71
#define RTC_A	     0x0A
#define RTC_B	     0x0B
#define RTC_C	     0x0C
#define RTC_B_PIE    0x40
#define LAPIC	     0xFEE00000u
#define LAPIC_TPR    0x080
#define LAPIC_EOI    0x0B0
#define LAPIC_SVR    0x0F0
#define LAPIC_LVT_T  0x320
#define LAPIC_INIT   0x380
#define LAPIC_DIVIDE 0x3E0
#define IOAPIC	     0xFEC00000u
#define VEC_LAPIC_T  0x40
#define VEC_IOAPIC   0x41
#define VEC_SPURIOUS 0xFF

static volatile int woken;

static void lapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(LAPIC + reg) = v;
}

static void ioapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)IOAPIC = reg;
	*(volatile u32 *)(IOAPIC + 0x10) = v;
}

static u8 cmos_read(u8 index)
{
	outb(CMOS_INDEX, index);
	return inb(CMOS_DATA);
}

static void cmos_write(u8 index, u8 v)
{
	outb(CMOS_INDEX, index);
	outb(CMOS_DATA, v);
}

/* Channel 0 in mode 0: one rising edge of OUT0 after @count PIT clocks. */
static void pit_one_shot(u16 count)
{
	outb(PIT_CMD, 0x30); /* channel 0, lobyte/hibyte, mode 0, binary */
	outb(PIT_CH0, count & 0xFF);
	outb(PIT_CH0, count >> 8);
}

/* HLT with interrupts on until a handler says so; interrupts off after. */
static void halt_until_woken(const char *what)
{
	u32 halts = 0;

	while (!woken) {
		sti_hlt();
		halts++;
	}
	cli();
	printf("wake: %s woke the CPU (%u halt%s)\n", what, halts, halts == 1 ? "" : "s");
	woken = 0;
}

static void on_irq(struct regs *r)
{
	woken = 1;
}

static void on_rtc(struct regs *r)
{
	cmos_read(RTC_C); /* acknowledge, or IRQ 8 stays high */
	woken = 1;
}

static void on_apic(struct regs *r)
{
	woken = 1;
	lapic_write(LAPIC_EOI, 0);
}

static void via_8259(void)
{
	set_irq(0, on_irq);
	pit_one_shot(0xFFFF); /* about 55 ms */
	pic_unmask(0);
	halt_until_woken("a PIT one-shot on IRQ 0");
	pic_mask(0);
	set_irq(0, NULL);
}

static void via_cascade(void)
{
	set_irq(8, on_rtc);
	cmos_write(RTC_A, (cmos_read(RTC_A) & 0xF0) | 0x06); /* 1024 Hz */
	cmos_write(RTC_B, cmos_read(RTC_B) | RTC_B_PIE);
	cmos_read(RTC_C);
	pic_unmask(8);
	halt_until_woken("the RTC's periodic interrupt on IRQ 8");
	cmos_write(RTC_B, cmos_read(RTC_B) & ~RTC_B_PIE);
	cmos_read(RTC_C);
	pic_mask(8);
	pic_mask(2);
	set_irq(8, NULL);
}

static void via_lapic_timer(void)
{
	set_isr(VEC_LAPIC_T, on_apic);
	lapic_write(LAPIC_DIVIDE, 0xB);	       /* divide by 1 */
	lapic_write(LAPIC_LVT_T, VEC_LAPIC_T); /* one-shot, unmasked */
	lapic_write(LAPIC_INIT, 1000000);
	halt_until_woken("the local APIC timer");
	lapic_write(LAPIC_LVT_T, 1u << 16);
}

static void via_ioapic(void)
{
	set_isr(VEC_IOAPIC, on_apic);
	pit_one_shot(0x8000);
	ioapic_write(0x10 + 2 * 2 + 1, 0);	/* pin 2 to APIC ID 0 */
	ioapic_write(0x10 + 2 * 2, VEC_IOAPIC); /* fixed, edge, unmasked */
	halt_until_woken("a PIT one-shot through the IOAPIC");
	ioapic_write(0x10 + 2 * 2, 1u << 16);
}

int guest_main(void)
{
	pic_init(); /* everything masked */
	set_isr(VEC_SPURIOUS, NULL);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS); /* software-enabled */
	via_8259();
	via_cascade();
	via_lapic_timer();
	via_ioapic();
	check(unhandled_irqs == 0, "%u unexpected interrupts", unhandled_irqs);
	return check_done("wake");
}
