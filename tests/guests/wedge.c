/*
 * wedge.c - guests that would keep an emulator busy forever, one per mode,
 * chosen by the kernel command line (-append MODE).  tests/cli/test_wedge.py
 * runs them under flashback and checks how each run ends; none of them ends
 * by itself except "input".
 *
 *   cli     halts with interrupts disabled.
 *   masked  arms every timer of the PC (PIT, RTC periodic and update, the
 *           local APIC timer) and halts with interrupts on, but nothing gets
 *           through: both 8259s masked, the IOAPIC masked, the APIC's task
 *           priority above the timer's vector, COM1's receive interrupt on
 *           but IRQ 4 masked.
 *   noeoi   takes one PIT tick on IRQ 0 and never sends its EOI: IRQ 0
 *           stays in service and holds back every later tick.
 *   alarm   waits for an RTC alarm at an hour that never comes (0x25): the
 *           RTC could wake it, so only a bound on the halt ends the run.
 *   input   waits for a byte on COM1 (IRQ 4), prints it and exits.
 *   ticks   takes PIT ticks at 1 kHz forever, printing every 1000th.
 *   busy    computes forever, printing now and then.
 */
#include "guest.h"

#define PIT_CH0	    0x40
#define PIT_CMD	    0x43
#define CMOS_INDEX  0x70
#define CMOS_DATA   0x71
#define RTC_A	    0x0A
#define RTC_B	    0x0B
#define RTC_C	    0x0C
#define RTC_B_PIE   0x40
#define RTC_B_AIE   0x20
#define RTC_B_UIE   0x10
#define RTC_HOUR_AL 0x05
#define LAPIC	    0xFEE00000u
#define LAPIC_TPR   0x080
#define LAPIC_SVR   0x0F0
#define LAPIC_LVT_T 0x320
#define LAPIC_INIT  0x380
#define LAPIC_DIV   0x3E0
#define MBI_CMDLINE 0x004

static volatile u32 ticks;
static volatile int got = -1;

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

static void lapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(LAPIC + reg) = v;
}

/* Channel 0 in mode 2 at about @hz, IRQ 0 left as it is. */
static void pit_periodic(u32 hz)
{
	u32 divisor = (PIT_HZ + hz / 2) / hz;

	outb(PIT_CMD, 0x34);
	outb(PIT_CH0, divisor & 0xFF);
	outb(PIT_CH0, divisor >> 8);
}

static bool mode_is(const char *mode)
{
	const u32 *mbi = (const u32 *)multiboot_info;
	const char *cmdline = mbi && (mbi[0] & MBI_CMDLINE) ? (const char *)mbi[4] : "";
	size_t n = strlen(mode);

	return !memcmp(cmdline, mode, n) && (cmdline[n] == 0 || cmdline[n] == ' ');
}

static void halt_forever(void)
{
	for (;;)
		sti_hlt();
}

static void masked(void)
{
	pit_periodic(1000);
	cmos_write(RTC_A, (cmos_read(RTC_A) & 0xF0) | 0x06);
	cmos_write(RTC_B, cmos_read(RTC_B) | RTC_B_PIE | RTC_B_UIE);
	lapic_write(LAPIC_SVR, 0x1FF);
	lapic_write(LAPIC_TPR, 0xF0);
	lapic_write(LAPIC_DIV, 0xB);
	lapic_write(LAPIC_LVT_T, (1u << 17) | 0x40); /* periodic, unmasked */
	lapic_write(LAPIC_INIT, 100000);
	outb(COM1 + UART_IER, 0x01);
	printf("wedge: every timer armed, every path closed\n");
	halt_forever();
}

static void tick_no_eoi(struct regs *r)
{
	ticks++;
}

static void noeoi(void)
{
	set_isr(IRQ_BASE + 0, tick_no_eoi); /* not set_irq(): that sends the EOI */
	pit_periodic(1000);
	pic_unmask(0);
	while (!ticks)
		sti_hlt();
	printf("wedge: tick %u taken, no EOI\n", ticks);
	halt_forever();
}

static void alarm(void)
{
	cmos_write(RTC_HOUR_AL, 0x25); /* BCD hours go to 0x23: never */
	cmos_write(RTC_B, cmos_read(RTC_B) | RTC_B_AIE);
	cmos_read(RTC_C);
	pic_unmask(8);
	printf("wedge: waiting for an alarm at 25:xx\n");
	halt_forever();
}

static void on_com1(struct regs *r)
{
	int c = serial_getc_nowait();

	if (c >= 0)
		got = c;
}

static void input(void)
{
	set_irq(4, on_com1);
	outb(COM1 + UART_IER, 0x01); /* received data available */
	pic_unmask(4);
	printf("wedge: waiting for input\n");
	while (got < 0)
		sti_hlt();
	printf("wedge: got '%c'\n", got);
	exit_guest(0);
}

static void on_tick(struct regs *r)
{
	if (++ticks % 1000 == 0)
		printf("wedge: tick %u\n", ticks);
}

static void ticking(void)
{
	set_irq(0, on_tick);
	pit_periodic(1000);
	pic_unmask(0);
	halt_forever();
}

static void busy(void)
{
	u32 x = 1;

	for (u32 i = 1;; i++) {
		x = x * 1664525u + 1013904223u;
		if (!(i & 0x3FFFFF))
			printf("wedge: busy %u %08x\n", i >> 22, x);
	}
}

int guest_main(void)
{
	pic_init();
	if (mode_is("cli")) {
		printf("wedge: cli; hlt\n");
		cli();
		hlt();
	} else if (mode_is("masked")) {
		masked();
	} else if (mode_is("noeoi")) {
		noeoi();
	} else if (mode_is("alarm")) {
		alarm();
	} else if (mode_is("input")) {
		input();
	} else if (mode_is("ticks")) {
		ticking();
	} else if (mode_is("busy")) {
		busy();
	}
	printf("FAIL wedge: no such mode (give -append MODE)\n");
	return 1;
}
