/*
 * nmi.c - NMIs reach the CPU, each exactly once, from every source this PC
 * has:
 *   - a self-IPI in NMI delivery mode through the local APIC's ICR;
 *   - the same from inside the NMI handler: it must wait for the handler's
 *     IRET (the CPU blocks NMIs until then), then run once;
 *   - an IOAPIC entry in NMI mode: the PIT's one-shot on IRQ 0 (pin 2),
 *     waking a HLT with interrupts disabled;
 *   - with -append lint1, the PC's NMI line on LVT LINT1 in NMI mode: the
 *     guest says "nmi: waiting on LINT1" and spins until gdb's
 *     "monitor nmi" sends one (tests/gdb/test_nmi.py, under flashback and
 *     QEMU).
 * Recorded and replayed by the rr suite: the NMIs are journal events.
 */
#include "guest.h"

#define PIT_CH0	    0x40
#define PIT_CMD	    0x43
#define LAPIC	    0xFEE00000u
#define LAPIC_SVR   0x0F0
#define LAPIC_ICR   0x300
#define LAPIC_LINT1 0x360
#define IOAPIC	    0xFEC00000u
#define MBI_CMDLINE 0x004

#define ICR_SELF_NMI 0x00040400u /* shorthand self, delivery mode NMI */
#define LVT_NMI	     0x00000400u
#define RE_NMI	     0x00000400u /* unmasked, NMI, edge, physical 0 */
#define RE_MASKED    0x00010000u

static volatile int nmis, depth, deepest;
static volatile int resend; /* the handler sends one more NMI itself */

static void lapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(LAPIC + reg) = v;
}

static void ioapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)IOAPIC = reg;
	*(volatile u32 *)(IOAPIC + 0x10) = v;
}

static void on_nmi(struct regs *r)
{
	if (++depth > deepest)
		deepest = depth;
	nmis++;
	if (resend) {
		resend = 0;
		lapic_write(LAPIC_ICR, ICR_SELF_NMI);
		/* Blocked: it must not arrive before our IRET. */
		for (volatile int i = 0; i < 1000; i++)
			;
	}
	depth--;
}

/* Gives a pending NMI a few instruction boundaries to arrive. */
static void settle(void)
{
	for (volatile int i = 0; i < 100; i++)
		;
}

static bool cmdline_has(const char *word)
{
	const u32 *mbi = (const u32 *)multiboot_info;
	const char *s = mbi && (mbi[0] & MBI_CMDLINE) ? (const char *)mbi[4] : "";
	size_t n = strlen(word);

	for (; *s; s++)
		if (!memcmp(s, word, n) && (s[n] == 0 || s[n] == ' '))
			return true;
	return false;
}

static void test_icr(void)
{
	nmis = 0;
	lapic_write(LAPIC_ICR, ICR_SELF_NMI);
	settle();
	check(nmis == 1, "ICR self NMI: handler ran %d times", nmis);

	resend = 1;
	lapic_write(LAPIC_ICR, ICR_SELF_NMI);
	settle();
	check(nmis == 3, "NMI sent from the handler: %d NMIs in all, expected 3", nmis);
	check(deepest == 1, "an NMI nested in the NMI handler (depth %d)", deepest);
	printf("nmi: ICR self NMI once, and once more after the handler's IRET\n");
}

/* The PIT's one-shot (mode 0) raises OUT once: one NMI through pin 2. */
static void test_ioapic(void)
{
	nmis = 0;
	ioapic_write(0x14, RE_NMI); /* pin 2: IRQ 0 */
	ioapic_write(0x15, 0);
	outb(PIT_CMD, 0x30); /* channel 0, lobyte/hibyte, mode 0 */
	outb(PIT_CH0, 1000 & 0xFF);
	outb(PIT_CH0, 1000 >> 8);
	hlt(); /* IF is clear: only the NMI ends this */
	check(nmis == 1, "IOAPIC NMI entry: handler ran %d times after the HLT", nmis);
	for (int i = 0; i < 20; i++) /* OUT stays high: no second NMI */
		settle();
	check(nmis == 1, "IOAPIC NMI entry: %d NMIs for one PIT edge", nmis);
	ioapic_write(0x14, RE_MASKED);
	printf("nmi: IOAPIC pin 2 in NMI mode woke a HLT with IF clear, once\n");
}

static void test_lint1(void)
{
	nmis = 0;
	lapic_write(LAPIC_LINT1, LVT_NMI);
	printf("nmi: waiting on LINT1\n");
	serial_flush();
	for (u32 i = 0; !nmis && i < 0x7FFFFFFF; i++)
		__asm__ volatile("pause");
	for (int i = 0; i < 20; i++)
		settle();
	check(nmis == 1, "LINT1 NMI: handler ran %d times", nmis);
	printf("nmi: LINT1 NMI once\n");
}

int guest_main(void)
{
	pic_init();
	set_isr(2, on_nmi);
	lapic_write(LAPIC_SVR, 0x1FF); /* software-enabled, spurious 0xFF */
	test_icr();
	test_ioapic();
	if (cmdline_has("lint1"))
		test_lint1();
	return check_done("nmi");
}
