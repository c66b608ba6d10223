/*
 * serial.c - polled COM1 (16550A at 0x3F8): 115200 8N1, FIFOs on.
 *
 * Output waits for THRE before each byte, so nothing is lost whatever the
 * emulator's pacing.  MCR.OUT2 is set because on a PC it gates the UART's
 * interrupt line to the PIC; guests that want interrupts set IER themselves.
 */
#include "guest.h"

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x80); /* DLAB on */
	outb(COM1 + UART_DLL, 0x01); /* divisor 1: 115200 baud */
	outb(COM1 + UART_DLM, 0x00);
	outb(COM1 + UART_LCR, 0x03); /* 8N1, DLAB off */
	outb(COM1 + UART_FCR, 0x07); /* enable and clear both FIFOs */
	outb(COM1 + UART_MCR, 0x0B); /* DTR, RTS, OUT2 */
}

static void put_raw(char c)
{
	while (!(inb(COM1 + UART_LSR) & LSR_THRE))
		;
	outb(COM1 + UART_THR, (u8)c);
}

void serial_putc(char c)
{
	if (c == '\n')
		put_raw('\r');
	put_raw(c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

int serial_getc_nowait(void)
{
	if (!(inb(COM1 + UART_LSR) & LSR_DR))
		return -1;
	return inb(COM1 + UART_RBR);
}

void serial_flush(void)
{
	while (!(inb(COM1 + UART_LSR) & LSR_TEMT))
		;
}
