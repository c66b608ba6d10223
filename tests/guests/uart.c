/*
 * uart.c - the COM1 16550A: register readback, loopback mode (modem lines
 * and received data, polled), and transmission driven by the THRE interrupt
 * on IRQ 4.  Nothing is printed while loopback is on (the line is cut off),
 * so results are gathered first and reported after.
 */
#include "guest.h"

#define SPIN_LIMIT 1000000
#define MCR_LOOP   0x10
#define IIR_NONE   0x01
#define IIR_THRE   0x02
#define IIR_RDA	   0x04

/* Raw bytes on the line: the CR is ours to send. */
static const char thre_line[] = "uart: this line was sent by THRE interrupts\r\n";
static volatile u32 thre_pos, thre_irqs;
static volatile int thre_done;

static void check_registers(void)
{
	static const u8 values[] = {0x00, 0x55, 0xAA, 0xFF, 0x3C};
	u8 iir;

	for (u32 i = 0; i < sizeof(values); i++) {
		outb(COM1 + UART_SCR, values[i]);
		check(inb(COM1 + UART_SCR) == values[i], "scratch: wrote 0x%02x, read 0x%02x",
		      values[i], inb(COM1 + UART_SCR));
	}
	outb(COM1 + UART_IER, 0x0F);
	check(inb(COM1 + UART_IER) == 0x0F, "IER reads 0x%02x", inb(COM1 + UART_IER));
	outb(COM1 + UART_IER, 0x00);
	check(inb(COM1 + UART_LCR) == 0x03, "LCR reads 0x%02x", inb(COM1 + UART_LCR));
	iir = inb(COM1 + UART_IIR);
	check(iir == (0xC0 | IIR_NONE), "IIR reads 0x%02x, want 0xc1 (FIFOs on, idle)", iir);
	/* The divisor latch reads back with DLAB set. */
	outb(COM1 + UART_LCR, 0x83);
	check(inb(COM1 + UART_DLL) == 1 && inb(COM1 + UART_DLM) == 0, "divisor latch");
	outb(COM1 + UART_LCR, 0x03);
}

/* Returns the received byte, or -1 if none arrives. */
static int rx_poll(void)
{
	for (int i = 0; i < SPIN_LIMIT; i++)
		if (inb(COM1 + UART_LSR) & LSR_DR)
			return inb(COM1 + UART_RBR);
	return -1;
}

struct loop_result {
	u8 msr_all, msr_rts;
	u8 iir_rda;
	int got[8];
};

static void loopback(struct loop_result *res)
{
	static const u8 sent[8] = {'L', 'o', 'o', 'p', 0x00, 0xFF, 0x80, 0x7F};

	serial_flush();
	while (inb(COM1 + UART_LSR) & LSR_DR)
		inb(COM1 + UART_RBR);
	/* In loopback, MSR's high nibble mirrors MCR: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2. */
	outb(COM1 + UART_MCR, MCR_LOOP | 0x0F);
	res->msr_all = inb(COM1 + UART_MSR) & 0xF0;
	outb(COM1 + UART_MCR, MCR_LOOP | 0x02);
	res->msr_rts = inb(COM1 + UART_MSR) & 0xF0;
	outb(COM1 + UART_MCR, MCR_LOOP | 0x0B);

	/* One byte with the RX interrupt enabled: IIR must say data ready. */
	outb(COM1 + UART_IER, 0x01);
	outb(COM1 + UART_THR, sent[0]);
	for (int i = 0; i < SPIN_LIMIT && !(inb(COM1 + UART_LSR) & LSR_DR); i++)
		;
	res->iir_rda = inb(COM1 + UART_IIR) & 0x0F;
	res->got[0] = rx_poll();
	outb(COM1 + UART_IER, 0x00);

	/* The rest back to back: the FIFO keeps them in order. */
	for (int i = 1; i < 8; i++) {
		while (!(inb(COM1 + UART_LSR) & LSR_THRE))
			;
		outb(COM1 + UART_THR, sent[i]);
	}
	for (int i = 1; i < 8; i++)
		res->got[i] = rx_poll();
	outb(COM1 + UART_MCR, 0x0B);

	check(res->msr_all == 0xF0, "loopback MSR 0x%02x with all MCR lines up", res->msr_all);
	check(res->msr_rts == 0x10, "loopback MSR 0x%02x with RTS alone", res->msr_rts);
	check(res->iir_rda == IIR_RDA, "IIR 0x%x with received data, want 0x4", res->iir_rda);
	for (int i = 0; i < 8; i++)
		check(res->got[i] == sent[i], "loopback byte %d: sent 0x%02x, got %d", i, sent[i],
		      res->got[i]);
	printf("uart: loopback returned %d bytes in order\n", 8);
}

static void thre_irq(struct regs *r)
{
	u8 iir = inb(COM1 + UART_IIR);

	if ((iir & 0x0F) != IIR_THRE)
		return;
	thre_irqs++;
	if (thre_line[thre_pos] == '\0') {
		outb(COM1 + UART_IER, 0);
		thre_done = 1;
		return;
	}
	/* One byte per interrupt. */
	outb(COM1 + UART_THR, thre_line[thre_pos++]);
}

static void interrupt_transmit(void)
{
	serial_flush();
	set_irq(4, thre_irq);
	pic_unmask(4);
	sti();
	/* Enabling the THRE interrupt with THR empty raises it at once. */
	outb(COM1 + UART_IER, 0x02);
	check(wait_flag(&thre_done, 200), "THRE transmission did not finish (%u bytes sent)",
	      thre_pos);
	cli();
	pic_mask(4);
	serial_flush();
	printf("uart: %u THRE interrupts for %u bytes\n", thre_irqs, (u32)strlen(thre_line));
	check(thre_irqs >= strlen(thre_line), "too few THRE interrupts");
	check(inb(COM1 + UART_IIR) == (0xC0 | IIR_NONE), "IIR 0x%02x after transmission",
	      inb(COM1 + UART_IIR));
}

int guest_main(void)
{
	struct loop_result res;

	pic_init();
	timer_start(100); /* only as a time limit for the waits */
	check_registers();
	loopback(&res);
	interrupt_transmit();
	timer_stop();
	return check_done("uart");
}
