/*
 * test_uart.c - the 16550A at COM1 driven through the io address space,
 * with the host side (output callback, uart_receive) and the IRQ line
 * played by the test, and the virtual clock moved for the character
 * timeout.
 */
#include "../../src/devices/devices.h"
#include "unit.h"

#include <string.h>

#define COM1 0x3f8
enum { THR = COM1, IER, IIR, LCR, MCR, LSR, MSR, SCR };

static AddressSpace *io;
static UART *uart;
static uint64_t icount;
static Clock *clk; /* the test's virtual clock */

static uint8_t sent[64];
static int nsent;

static int irq_level, irq_rises;

static void out(void *opaque, uint8_t byte)
{
	if (nsent < (int)sizeof(sent))
		sent[nsent++] = byte;
}

static void irq4(void *opaque, int n, int level)
{
	if (level && !irq_level)
		irq_rises++;
	irq_level = level;
}

static void outb(uint16_t port, uint8_t v)
{
	as_write(io, port, v, 1);
}

static uint8_t inb(uint16_t port)
{
	return (uint8_t)as_read(io, port, 1);
}

static void run_until(int64_t ns)
{
	while (timers_deadline(clk) <= ns) {
		if (timers_deadline(clk) > (int64_t)icount)
			icount = (uint64_t)timers_deadline(clk);
		timers_run(clk);
	}
	if (ns > (int64_t)icount)
		icount = (uint64_t)ns;
	timers_run(clk);
}

static void receive(const char *s)
{
	uart_receive(uart, (const uint8_t *)s, (int)strlen(s));
}

static void test_registers(void)
{
	uart_reset(uart);
	CHECK_EQ(inb(IIR), 0x01);
	CHECK_EQ(inb(LSR), 0x60);	 /* THRE and TEMT: nothing to send */
	CHECK_EQ(inb(MSR) & 0xf0, 0xb0); /* CTS, DSR, DCD: a terminal is there */

	outb(SCR, 0x5a);
	CHECK_EQ(inb(SCR), 0x5a);
	outb(SCR, 0xa5);
	CHECK_EQ(inb(SCR), 0xa5);

	/* Divisor latch behind DLAB. */
	outb(IER, 0x05);
	outb(LCR, 0x80);
	outb(THR, 0x01);
	outb(IER, 0x00);
	CHECK_EQ(inb(THR), 0x01);
	CHECK_EQ(inb(IER), 0x00);
	outb(THR, 0x0c);
	outb(IER, 0x03);
	CHECK_EQ(inb(THR), 0x0c);
	CHECK_EQ(inb(IER), 0x03);
	CHECK_EQ(nsent, 0); /* DLL writes are not data */
	outb(LCR, 0x1b);
	CHECK_EQ(inb(LCR), 0x1b);
	CHECK_EQ(inb(IER), 0x05); /* IER was kept apart from DLM */
	outb(IER, 0xff);
	CHECK_EQ(inb(IER), 0x0f); /* only four enable bits */
	outb(IER, 0x00);
	outb(MCR, 0xff);
	CHECK_EQ(inb(MCR), 0x1f);
	outb(MCR, 0x00);
	outb(LCR, 0x03);
}

static void test_transmit_and_thre(void)
{
	int rises;

	uart_reset(uart);
	nsent = 0;
	outb(THR, 'H');
	outb(THR, 'i');
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent[0], 'H');
	CHECK_EQ(sent[1], 'i');
	CHECK_EQ(inb(LSR) & 0x60, 0x60); /* sent at once */
	CHECK_EQ(irq_level, 0);

	/* Enabling the THRE interrupt with THR empty interrupts at once. */
	rises = irq_rises;
	outb(IER, 0x02);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(irq_rises, rises + 1);
	CHECK_EQ(inb(IIR), 0x02);
	/* Reading IIR while it reports THRE acknowledges it. */
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(inb(IIR), 0x01);

	/* A THR write clears it; the byte leaves at once, so THR is empty
	 * again and a new THRE interrupt (a new edge) asks for more. */
	outb(THR, '!');
	CHECK_EQ(sent[2], '!');
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(irq_rises, rises + 2);
	CHECK_EQ(inb(IIR), 0x02);
	CHECK_EQ(irq_level, 0);

	/* Writing IER again with the bit already set is no new event. */
	outb(IER, 0x02);
	CHECK_EQ(irq_level, 0);
	/* Disabling hides a pending THRE interrupt. */
	outb(THR, '.');
	CHECK_EQ(irq_level, 1);
	outb(IER, 0x00);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(inb(IIR), 0x01);

	/* The line is not gated by OUT2 (MCR is 0 throughout). */
	CHECK_EQ(inb(MCR), 0x00);
}

static void test_receive(void)
{
	uint8_t b;

	uart_reset(uart);
	/* 16450 mode: one byte, RDA as soon as it is there. */
	outb(IER, 0x01);
	CHECK_EQ(uart_can_receive(uart), 1);
	receive("a");
	CHECK_EQ(uart_can_receive(uart), 0);
	CHECK_EQ(inb(LSR) & 0x01, 0x01);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(inb(IIR), 0x04); /* no FIFO bits */
	CHECK_EQ(inb(THR), 'a');
	CHECK_EQ(inb(LSR) & 0x01, 0x00);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(inb(IIR), 0x01);

	/* FIFO with trigger level 4. */
	outb(IIR, 0x47);
	CHECK_EQ(inb(IIR), 0xc1);
	CHECK_EQ(uart_can_receive(uart), 16);
	receive("xyz");
	CHECK_EQ(inb(LSR) & 0x01, 0x01);
	CHECK_EQ(irq_level, 0); /* 3 < 4 */
	receive("w");
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(inb(IIR), 0xc4);
	CHECK_EQ(uart_can_receive(uart), 12);
	b = inb(THR);
	CHECK_EQ(b, 'x');
	CHECK_EQ(irq_level, 0); /* below the trigger again */
	CHECK_EQ(inb(THR), 'y');
	CHECK_EQ(inb(THR), 'z');
	CHECK_EQ(inb(THR), 'w');
	CHECK_EQ(inb(LSR) & 0x01, 0x00);

	/* Trigger 14 and the FCR clear bit. */
	outb(IIR, 0xc1);
	receive("0123456789abc");
	CHECK_EQ(irq_level, 0);
	receive("d");
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(inb(IIR), 0xc4);
	outb(IIR, 0xc3); /* clear the receive FIFO */
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(inb(LSR) & 0x01, 0x00);
	CHECK_EQ(uart_can_receive(uart), 16);

	/* Trigger 8. */
	outb(IIR, 0x81);
	receive("1234567");
	CHECK_EQ(irq_level, 0);
	receive("8");
	CHECK_EQ(irq_level, 1);
	outb(IIR, 0x83);
	outb(IIR, 0x00); /* FIFOs off */
	CHECK_EQ(inb(IIR), 0x01);
}

static void test_char_timeout(void)
{
	int64_t t0, four_chars;

	uart_reset(uart);
	outb(LCR, 0x83);
	outb(THR, 0x01); /* 115200 baud */
	outb(IER, 0x00);
	outb(LCR, 0x03); /* 8N1: 10 bits a character */
	outb(IIR, 0xc7); /* FIFO, trigger 14 */
	CHECK(!uart_may_interrupt(uart, true)); /* receive interrupts off */
	outb(IER, 0x01);
	CHECK(uart_may_interrupt(uart, true)); /* input may come */
	CHECK(!uart_may_interrupt(uart, false));
	four_chars = 4 * 10 * 1000000000ll / 115200; /* 347222 ns */

	t0 = clock_ns(clk);
	receive("ab");
	CHECK_EQ(irq_level, 0);
	CHECK(uart_may_interrupt(uart, false)); /* the character timeout runs */
	run_until(t0 + four_chars - 1000);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(inb(IIR), 0xc1);
	run_until(t0 + four_chars + 1000);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(inb(IIR), 0xcc);
	/* Reading a byte clears it and starts the wait again. */
	CHECK_EQ(inb(THR), 'a');
	CHECK_EQ(irq_level, 0);
	t0 = clock_ns(clk);
	run_until(t0 + four_chars / 2);
	receive("c"); /* a new byte also restarts it */
	t0 = clock_ns(clk);
	run_until(t0 + four_chars - 1000);
	CHECK_EQ(irq_level, 0);
	run_until(t0 + four_chars + 1000);
	CHECK_EQ(inb(IIR), 0xcc);
	CHECK_EQ(inb(THR), 'b');
	CHECK_EQ(inb(THR), 'c');
	/* An empty FIFO has no timeout. */
	run_until(clock_ns(clk) + 10 * four_chars);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(inb(IIR), 0xc1);

	/* Slower line, longer format: 7E2 at 9600 baud = 11 bits. */
	outb(LCR, 0x80);
	outb(THR, 12);
	outb(LCR, 0x1e);
	four_chars = 4 * 11 * 12 * 1000000000ll / 115200;
	t0 = clock_ns(clk);
	receive("z");
	run_until(t0 + four_chars - 1000);
	CHECK_EQ(irq_level, 0);
	run_until(t0 + four_chars + 1000);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(inb(THR), 'z');
	CHECK_EQ(irq_level, 0);
}

static void test_overrun(void)
{
	uart_reset(uart);
	outb(IIR, 0x07);
	outb(IER, 0x05); /* receive data and line status */
	receive("0123456789abcdef");
	CHECK_EQ(uart_can_receive(uart), 0);
	CHECK_EQ(inb(IIR), 0xc4);
	CHECK_EQ(inb(LSR) & 0x02, 0x00);
	receive("X");		  /* one too many: lost */
	CHECK_EQ(inb(IIR), 0xc6); /* line status outranks data */
	CHECK_EQ(inb(LSR) & 0x03, 0x03);
	CHECK_EQ(inb(LSR) & 0x02, 0x00); /* OE clears when read */
	CHECK_EQ(inb(IIR), 0xc4);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(inb(THR), "0123456789abcdef"[i]);
	CHECK_EQ(inb(LSR) & 0x01, 0x00);
	CHECK_EQ(irq_level, 0);

	/* Without FIFO a second byte overruns the first. */
	outb(IIR, 0x00);
	receive("pq");
	CHECK_EQ(inb(LSR) & 0x03, 0x03);
	CHECK_EQ(inb(THR), 'q');
}

static void test_loopback_and_msr(void)
{
	uart_reset(uart);
	nsent = 0;
	inb(MSR);
	outb(IER, 0x08); /* modem status interrupt */
	CHECK_EQ(irq_level, 0);
	/* Loopback: MSR follows MCR (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD). */
	outb(MCR, 0x10);
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(inb(IIR), 0x00);
	CHECK_EQ(inb(MSR), 0x0b); /* CTS, DSR, DCD fell */
	CHECK_EQ(irq_level, 0);
	outb(MCR, 0x1f);
	CHECK_EQ(inb(MSR), 0xfb);
	outb(MCR, 0x1b); /* OUT1 off: trailing edge of RI */
	CHECK_EQ(inb(MSR), 0xb4);
	CHECK_EQ(inb(MSR), 0xb0);
	outb(MCR, 0x12); /* RTS only */
	CHECK_EQ(inb(MSR) & 0xf0, 0x10);
	outb(IER, 0x00);

	/* Transmitted bytes come back as received ones, not to the host. */
	outb(IIR, 0x01);
	outb(IER, 0x01);
	CHECK_EQ(uart_can_receive(uart), 0);
	outb(THR, 'L');
	CHECK_EQ(nsent, 0);
	CHECK_EQ(inb(LSR) & 0x61, 0x61);
	CHECK_EQ(inb(IIR), 0xc4);
	CHECK_EQ(inb(THR), 'L');
	CHECK_EQ(irq_level, 0);

	/* Leaving loopback reconnects the terminal. */
	outb(MCR, 0x03);
	CHECK_EQ(inb(MSR), 0xba); /* DSR and DCD rose */
	outb(THR, 'M');
	CHECK_EQ(nsent, 1);
	CHECK_EQ(sent[0], 'M');
	CHECK_EQ(uart_can_receive(uart), 16);
}

static void test_wide_access(void)
{
	uart_reset(uart);
	outb(SCR, 0x77);
	/* A 16-bit read at LSR gives LSR and MSR. */
	CHECK_EQ(as_read(io, LSR, 2) & 0xff, 0x60);
	CHECK_EQ(as_read(io, MSR, 2), 0x77b0);
}

int main(void)
{
	MemoryRegion *root = mr_container("io", 0x10000);
	IRQ line = {irq4, NULL, 4};

	icount = 1000;
	clk = clock_new(&icount, 0);
	uart = uart_new(root, clk, COM1, &line, out, NULL);
	io = as_new("io", root);

	test_registers();
	test_transmit_and_thre();
	test_receive();
	test_char_timeout();
	test_overrun();
	test_loopback_and_msr();
	test_wide_access();
	return unit_done("uart");
}
