/*
 * stress.c - the guest of the record/replay stress test (tests/stress/stress.py).
 *
 * It runs rounds of work that the host's input cuts into at moments that
 * differ from one run to the next, so that each recording holds interrupts
 * at other places: the PIT at 20-150 kHz on IRQ 0 (through an interrupt
 * gate, and in every other round through a task gate to a handler task),
 * COM1's receive interrupts (IRQ 4) for the bytes the host types at random
 * times, and page faults on a demand-paged region; the last two through
 * trap gates, so that IRQ 0 nests inside their handlers.  Each round:
 *
 *   - a PTE changed without INVLPG and the page read again later; IRQ 0
 *     through a gate marked not present (#NP during its delivery);
 *   - REP MOVSD, REP MOVSB backwards (DF=1), REP STOSD and REP MOVSB into
 *     the demand region (a page fault at each page), each checked;
 *   - REP INSB / INSW from ports whose values follow time (port B 0x61,
 *     the PIT count, the UART's LSR) and REP MOVSD from the local APIC's
 *     registers (MMIO: its timer count) into the demand region;
 *   - REP OUTSB to port 0x80 from the demand region, to the master PIC's
 *     mask (masking and unmasking IRQ 0 and 4 between iterations) and 16
 *     bytes to COM1;
 *   - latched PIT counts and RDTSC; MOV SS / POP SS / STI shadows, POPF
 *     and IRET setting IF; INT 0x82 through a task gate; HLT after STI and
 *     after MOV SS.
 *
 * The handlers note where they interrupted: a REP instruction (each has a
 * label in stress_asm.asm) or a shadowed boundary, which must never
 * happen.  The guest ends after the round in which it received 'q' (the
 * host sends it last), but not before its sixth round, and prints what it
 * saw: rounds, ticks, the bytes received (count and a sum the host
 * computes too), page faults, interrupts that landed inside each kind of
 * REP, task switches, and "PASS stress" when every check held.  Its console depends on the input's
 * timing; the test checks that every replay reproduces it.
 */
#include "../guests/cpu/xlib.h"

#define SEL_TICK 0x30 /* TSS of the IRQ 0 handler task */
#define SEL_SOFT 0x38 /* TSS of the INT 0x82 handler task */

#define DEMAND	     0x40000000u /* demand-paged region */
#define DEMAND_PAGES 8
#define DEMAND_BYTES (DEMAND_PAGES * 4096u)
#define BUF_BYTES    DEMAND_BYTES
#define STALE	     0x408F0000u /* own page table and TLB slot: nothing else evicts it */
#define LAPIC	     0xFEE00000u /* identity-mapped: its timer count is read by REP MOVSD */
#define MIN_ROUNDS   6		 /* however fast the input comes: 3 with each IRQ 0 gate */
#define MAX_ROUNDS   2000
#define TERMINATOR   'q'

/* stress_asm.asm */
void rep_movsd(void *dst, const void *src, u32 dwords);
void rep_movsb_down(void *dst_last, const void *src_last, u32 bytes);
void rep_movsb(void *dst, const void *src, u32 bytes);
void rep_stosd(void *dst, u32 value, u32 dwords);
void rep_insb(void *dst, u16 port, u32 bytes);
void rep_insw(void *dst, u16 port, u32 words);
void rep_outsb(u16 port, const void *src, u32 bytes);
void shadows(u32 rounds);
void sti_hlt_at(void);
void movss_hlt(void);
void tick_task_entry(void);
void soft_task_entry(void);
void tick_task_body(void);
void soft_task_body(void);
extern const char rep_movsd_at[], rep_movsb_down_at[], rep_movsb_at[], rep_stosd_at[];
extern const char rep_insb_at[], rep_insw_at[], rep_outsb_at[];
extern const char after_movss[], after_popss[], after_sti[], hlt_after_sti[], hlt_after_movss[];

static u8 src[BUF_BYTES] __attribute__((aligned(4096)));
static u8 dst[BUF_BYTES] __attribute__((aligned(4096)));
static u8 backing[DEMAND_PAGES][4096] __attribute__((aligned(4096)));
static u8 stale_frame[2][4096] __attribute__((aligned(4096)));
static struct tss tick_tss, soft_tss;
static u8 tick_stack[4096] __attribute__((aligned(16)));
static u8 soft_stack[4096] __attribute__((aligned(16)));

/* Where interrupts and faults landed. */
enum { AT_MOVSD, AT_MOVSB_DOWN, AT_MOVSB, AT_STOSD, AT_INSB, AT_INSW, AT_OUTSB, AT_KINDS };
static const char *const at_names[AT_KINDS] = {"movsd", "movsb-down", "movsb", "stosd",
					       "insb",	"insw",	      "outsb"};
static volatile u32 irq_in_rep[AT_KINDS], pf_in_rep[AT_KINDS];
static volatile u32 ticks, task_ticks, soft_runs, uart_irqs, page_faults;
static volatile u32 rx_count, rx_sum;
static volatile int terminated;
static volatile u32 shadow_hits; /* interrupts taken on a shadowed boundary */
static volatile u32 in_handler, nested; /* IRQ 0 inside the UART or #PF handler */
static volatile u32 np_faults;	 /* IRQ 0 delivered through a gate marked not present */
static volatile u32 spurious;	 /* IRQ 7 with nothing in service (a PC may see some) */

static int rep_kind(u32 eip)
{
	static const char *const at[AT_KINDS] = {rep_movsd_at, rep_movsb_down_at, rep_movsb_at,
						 rep_stosd_at, rep_insb_at,	  rep_insw_at,
						 rep_outsb_at};

	for (int k = 0; k < AT_KINDS; k++)
		if (eip == (u32)at[k])
			return k;
	return -1;
}

/* An interrupt arrived with @eip as the next instruction. */
static void note_interrupt(u32 eip)
{
	int k = rep_kind(eip);

	if (in_handler)
		nested++;

	if (k >= 0)
		irq_in_rep[k]++;
	if (eip == (u32)after_movss || eip == (u32)after_popss || eip == (u32)after_sti ||
	    eip == (u32)hlt_after_sti || eip == (u32)hlt_after_movss)
		shadow_hits++;
}

/* ---- handlers ---------------------------------------------------------------------- */

static void tick_irq(struct xregs *r)
{
	ticks++;
	note_interrupt(r->eip);
	outb(0x20, 0x20);
}

void tick_task_body(void)
{
	ticks++;
	task_ticks++;
	note_interrupt(main_tss.eip); /* the main task was saved there */
	outb(0x20, 0x20);
}

void soft_task_body(void)
{
	soft_runs++;
}

/* The sum the host computes over what it sent: s = s * 31 + byte. */
static void uart_irq(struct xregs *r)
{
	uart_irqs++;
	note_interrupt(r->eip);
	in_handler++;
	while (inb(COM1 + UART_LSR) & LSR_DR) {
		u8 c = inb(COM1 + UART_RBR);

		rx_count++;
		rx_sum = rx_sum * 31 + c;
		if (c == TERMINATOR)
			terminated = 1;
	}
	in_handler--;
	outb(0x20, 0x20);
}

/* Nothing to acknowledge: the master PIC had no interrupt after all. */
static void spurious_irq(struct xregs *r)
{
	spurious++;
}

/* #NP while delivering IRQ 0: the PIC has been acknowledged, the handler
 * never runs.  Mark the gate present again and end the interrupt. */
static void np_fault(struct xregs *r)
{
	u32 want = IRQ_BASE << 3 | 2 | 1; /* IDT, external (QEMU 7.2 leaves EXT clear) */

	if (r->error != want) {
		printf("FAIL: #NP error 0x%x, want 0x%x, eip 0x%08x\n", r->error, want, r->eip);
		exit_guest(EXIT_EXCEPTION);
	}
	np_faults++;
	idt_set_present(IRQ_BASE, true);
	outb(0x20, 0x20);
}

static bool in_demand(u32 va)
{
	return va >= DEMAND && va < DEMAND + DEMAND_BYTES;
}

static void page_fault(struct xregs *r)
{
	u32 va = read_cr2();
	int k = rep_kind(r->eip);

	if (!in_demand(va) || (r->error & 1)) {
		printf("FAIL: page fault at 0x%08x, error 0x%x, eip 0x%08x\n", va, r->error,
		       r->eip);
		exit_guest(EXIT_EXCEPTION);
	}
	in_handler++;
	page_faults++;
	if (k >= 0)
		pf_in_rep[k]++;
	paging_map(va & ~0xFFFu, (u32)backing[(va - DEMAND) >> 12], PTE_P | PTE_W);
	in_handler--;
}

/* Every demand page not present again: the next access faults. */
static void evict(void)
{
	for (u32 i = 0; i < DEMAND_PAGES; i++) {
		u32 va = DEMAND + i * 4096;

		*paging_pte(va) &= ~PTE_P;
		invlpg(va);
	}
}

/* ---- set-up -------------------------------------------------------------------------- */

static void pit_rate(u32 divisor)
{
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 */
	outb(0x40, divisor & 0xFF);
	outb(0x40, divisor >> 8);
}

/* Called with IF=0: the gate is written in two halves, and an interrupt
 * between them would find neither gate. */
static void tick_gate(bool task)
{
	if (task)
		idt_set_task(IRQ_BASE, SEL_TICK, 0);
	else
		idt_set(IRQ_BASE, GATE_INT, tick_irq);
}

static void setup(void)
{
	xlib_init();
	pic_init();
	paging_init();
	for (u32 i = 0; i < DEMAND_PAGES; i++)
		paging_map(DEMAND + i * 4096, (u32)backing[i], 0);
	paging_map(STALE, (u32)stale_frame[0], PTE_P | PTE_W);
	paging_map(LAPIC, LAPIC, PTE_P | PTE_W);
	paging_enable();
	/* a task switch back to the main task loads CR3 from its TSS */
	main_tss.cr3 = read_cr3();
	tss_task(&tick_tss, tick_task_entry, tick_stack + sizeof(tick_stack));
	tss_task(&soft_tss, soft_task_entry, soft_stack + sizeof(soft_stack));
	gdt_set(SEL_TICK / 8, (u32)&tick_tss, TSS_LIMIT, ACC_TSS, 0);
	gdt_set(SEL_SOFT / 8, (u32)&soft_tss, TSS_LIMIT, ACC_TSS, 0);
	idt_set(11, GATE_INT, np_fault);
	/* trap gates: IRQ 0 (through either gate) nests inside these two */
	idt_set(14, GATE_TRAP, page_fault);
	idt_set(IRQ_BASE + 4, GATE_TRAP, uart_irq);
	idt_set(IRQ_BASE + 7, GATE_INT, spurious_irq);
	idt_set_task(0x82, SEL_SOFT, 0);
	tick_gate(false);
	for (u32 i = 0; i < BUF_BYTES; i++)
		src[i] = (u8)(i * 7 + (i >> 9));
	pit_rate(40);
	/* the local APIC's timer counts down (masked, periodic, divide by 1) */
	*(volatile u32 *)(LAPIC + 0x320) = 0x30040;
	*(volatile u32 *)(LAPIC + 0x3E0) = 0xB;
	*(volatile u32 *)(LAPIC + 0x380) = 1000000;
	outb(COM1 + UART_IER, 0x01); /* received data available */
	pic_unmask(0);
	pic_unmask(4);
}

/* ---- the phases ------------------------------------------------------------------------ */

static u32 sum(const void *p, u32 n)
{
	const u8 *b = p;
	u32 s = 0;

	for (u32 i = 0; i < n; i++)
		s = s * 31 + b[i];
	return s;
}

static void copies(u32 round)
{
	u32 n = BUF_BYTES - (round % 7) * 512;
	u8 *demand = (u8 *)DEMAND;

	memset(dst, 0, sizeof(dst));
	rep_movsd(dst, src, n / 4);
	check(memcmp(dst, src, n) == 0, "round %u: REP MOVSD copied wrong", round);
	memset(dst, 0, sizeof(dst));
	rep_movsb_down(dst + n / 2 - 1, src + n / 2 - 1, n / 2 - 3);
	check(memcmp(dst + 3, src + 3, n / 2 - 3) == 0 && dst[2] == 0,
	      "round %u: REP MOVSB with DF=1 copied wrong", round);

	evict();
	rep_stosd(demand, 0x5a5a0000u + round, DEMAND_BYTES / 4);
	for (u32 i = 0; i < DEMAND_PAGES; i++)
		check(*(u32 *)backing[i] == 0x5a5a0000u + round &&
			  *(u32 *)(backing[i] + 4092) == 0x5a5a0000u + round,
		      "round %u: REP STOSD missed page %u", round, i);
	evict();
	rep_movsb(demand + 1 + round % 5, src, DEMAND_BYTES - 8);
	check(memcmp((u8 *)backing + 1 + round % 5, src, DEMAND_BYTES - 8) == 0,
	      "round %u: REP MOVSB into the demand region copied wrong", round);
}

/* Port reads whose values depend on when they happen; their sum is printed. */
static u32 port_reads(u32 round)
{
	u8 *demand = (u8 *)DEMAND;
	u32 s = 0;

	evict();
	rep_insb(demand + 4096 - 100, 0x61, 3000);
	rep_insw(demand + 3 * 4096 - 64, 0x40, 1500);
	rep_insb(demand + 5 * 4096 - 10, COM1 + UART_LSR, 400);
	/* MMIO reads inside a REP (ICR to the timer's current count), then a
	 * page fault on the destination */
	for (int i = 0; i < 8; i++)
		rep_movsd(demand + 6 * 4096 - 64, (const void *)(LAPIC + 0x300), 40);
	s = sum(demand + 4096 - 100, 3000) ^ sum(demand + 3 * 4096 - 64, 3000) ^
	    sum(demand + 5 * 4096 - 10, 400) ^ sum(demand + 6 * 4096 - 64, 160);
	for (int i = 0; i < 8 + (int)round % 8; i++) {
		u32 lo, hi;

		outb(0x43, 0x00); /* latch channel 0 */
		s = s * 31 + inb(0x40);
		s = s * 31 + inb(0x40);
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		s = s * 31 + (lo >> 8);
	}
	return s;
}

static void port_writes(u32 round)
{
	static u8 masks[64];
	static const char line[16] = "rep outsb 16 b\r\n";

	for (u32 i = 0; i < sizeof(masks); i++)
		masks[i] = (i + round) % 3 ? 0xEE : 0xFF; /* IRQ 0 and 4 open, or all shut */
	masks[sizeof(masks) - 1] = 0xEE;
	evict(); /* page faults on the source, in the middle */
	rep_outsb(0x80, (u8 *)DEMAND + 2 * 4096 - 1000, 3000);
	rep_outsb(0x21, masks, sizeof(masks));
	check(inb(0x21) == 0xEE, "round %u: PIC mask 0x%02x after REP OUTSB", round, inb(0x21));
	if (round % 4 == 0) {
		serial_flush();
		rep_outsb(COM1 + UART_THR, line, sizeof(line));
	}
}

static void waits(u32 round)
{
	u32 t = ticks;

	cli();
	while (ticks == t) {
		sti_hlt_at();
		cli();
	}
	sti();
	if (round % 2)
		movss_hlt();
	for (u32 i = 0; i < 4; i++)
		__asm__ volatile("int $0x82");
}

/*
 * A PTE changed without INVLPG, the page read ~100,000 instructions later:
 * the SDM lets the CPU use the old translation or the new one until the
 * TLB entry goes, and set the accessed bit again or not.  Whatever it
 * chooses, a replay must choose the same (flashback's TLB follows the page
 * tables: src/exec/mmu.c).  stale_end() says which frame the page showed
 * ('0' or '1') and whether the PTE's A bit was set again ('a' or '-').
 */
static void stale_begin(void)
{
	u32 *pte = paging_pte(STALE);

	stale_frame[0][0] = '0';
	stale_frame[1][0] = '1';
	*pte = (u32)stale_frame[0] | PTE_P | PTE_W;
	invlpg(STALE);
	(void)*(volatile u8 *)STALE;
	*pte = (u32)stale_frame[1] | PTE_P | PTE_W;
}

static void stale_end(char out[3])
{
	out[0] = *(volatile u8 *)STALE;
	out[1] = *paging_pte(STALE) & PTE_A ? 'a' : '-';
	out[2] = 0;
}

static void round_once(u32 round)
{
	char stale[3];

	/* a window with no task switch (they reload CR3) and no INVLPG */
	cli();
	tick_gate(false);
	sti();
	stale_begin();
	for (volatile u32 i = 0; i < 20000; i++)
		;
	stale_end(stale);
	/* an interrupt whose delivery faults (one 32-bit store: atomic) */
	u32 np = np_faults;
	idt_set_present(IRQ_BASE, false);
	while (np_faults == np)
		;
	cli();
	tick_gate(round % 2);
	sti();
	/* 8-60 PIT clocks a tick: 150-20 kHz */
	pit_rate(8 + (round * 13 + rx_sum) % 53);
	outb(COM1 + UART_FCR, 0x01 | (round % 4) << 6); /* trigger at 1, 4, 8, 14 bytes */
	copies(round);
	u32 inputs = port_reads(round);
	port_writes(round);
	shadows(200 + round % 50);
	waits(round);
	printf("r%u ticks %u rx %u ports %08x tlb %s\n", round, ticks, rx_count, inputs, stale);
}

int guest_main(void)
{
	u32 round = 0;

	setup();
	sti();
	printf("stress: ready\n");
	while ((!terminated || round < MIN_ROUNDS) && round < MAX_ROUNDS)
		round_once(round++);
	cli();
	tick_gate(false);
	printf("stress: rounds %u ticks %u task-ticks %u int82 %u uart-irqs %u\n", round, ticks,
	       task_ticks, soft_runs, uart_irqs);
	printf("stress: received %u bytes, sum %08x\n", rx_count, rx_sum);
	printf("stress: page faults %u, #NP in IRQ 0 delivery %u, nested %u\n", page_faults,
	       np_faults, nested);
	for (int k = 0; k < AT_KINDS; k++)
		printf("stress: in rep %s: interrupts %u page faults %u\n", at_names[k],
		       irq_in_rep[k], pf_in_rep[k]);
	printf("stress: shadow hits %u, spurious %u\n", shadow_hits, spurious);
	check(terminated, "no '%c' after %u rounds", TERMINATOR, round);
	check(shadow_hits == 0, "%u interrupts taken on a shadowed boundary", shadow_hits);
	check(soft_runs == 4 * round, "INT 0x82 ran its task %u times in %u rounds", soft_runs,
	      round);
	check(np_faults == round, "%u #NP for %u rounds", np_faults, round);
	check(unhandled_irqs == 0, "%u unexpected interrupts", unhandled_irqs);
	return check_done("stress");
}
