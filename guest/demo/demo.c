/*
 * demo.c - the guest that `flashback demo` records and replays.
 *
 * It shows each kind of input the recorder journals: timer interrupts
 * (PIT at 100 Hz on IRQ 0), a bus-master DMA read from the built-in disk
 * (sector 1 holds guest/demo/message.txt; completion on IRQ 14), and serial
 * input (interrupt-driven RX on IRQ 4, echoed back).  The echo ends on `q`,
 * Ctrl-D, or 3 s of virtual time (300 ticks) without input.
 *
 * Exit: the demo writes 0 to the isa-debug-exit port 0xF4 when everything
 * worked, so the emulator exits with status (0 << 1) | 1 = 1, as QEMU does.
 * If the disk read fails it writes 2 (status 5); an unexpected CPU exception
 * writes EXIT_EXCEPTION, 0x7F (status 255).
 */
#include "guest.h"

#define TICK_HZ	    100
#define TICK_PHASE  50	/* ticks shown in the timer phase */
#define TICK_REPORT 10	/* a line every this many ticks */
#define IDLE_TICKS  300 /* 3 s without input ends the echo */
#define CTRL_D	    0x04

static u8 sector[ATA_SECTOR] __attribute__((aligned(16)));

/* Serial input, filled by the IRQ 4 handler, drained by the main loop. */
static volatile u8 rx_ring[64];
static volatile u32 rx_head, rx_tail;

static void banner(void)
{
	printf("\n=== Flashback demo guest ===\n");
	printf("A bare-metal i386 multiboot kernel.  It will:\n");
	printf("  1. program the PIT at %d Hz and count timer interrupts (IRQ 0),\n", TICK_HZ);
	printf("  2. read sector 1 of the disk by bus-master DMA (IRQ 14),\n");
	printf("  3. echo what you type on the serial line (IRQ 4);\n");
	printf("     `q`, Ctrl-D or %d s without input ends it.\n\n", IDLE_TICKS / TICK_HZ);
}

static void timer_phase(void)
{
	u32 shown = 0;

	while (timer_ticks < TICK_PHASE) {
		sti_hlt();
		if (timer_ticks / TICK_REPORT > shown) {
			shown = timer_ticks / TICK_REPORT;
			printf("[timer] %u ticks (%u ms of virtual time)\n", shown * TICK_REPORT,
			       shown * TICK_REPORT * 1000 / TICK_HZ);
		}
	}
}

static int disk_phase(void)
{
	u16 bm = ata_dma_init();
	int err;

	if (!bm) {
		printf("[disk] no bus-master IDE function on PCI bus 0\n");
		return -1;
	}
	printf("[disk] bus-master IDE at I/O 0x%x; READ DMA of sector 1...\n", bm);
	err = ata_dma_read(1, 1, sector, TICK_HZ);
	if (err) {
		printf("[disk] READ DMA failed (%d)\n", err);
		return -1;
	}
	sector[ATA_SECTOR - 1] = 0;
	printf("[disk] done at tick %u; sector 1 says:\n%s\n", timer_ticks, (char *)sector);
	return 0;
}

static void uart_irq(struct regs *r)
{
	inb(COM1 + UART_IIR);
	while (inb(COM1 + UART_LSR) & LSR_DR) {
		u8 c = inb(COM1 + UART_RBR);

		if (rx_head - rx_tail < sizeof(rx_ring))
			rx_ring[rx_head++ % sizeof(rx_ring)] = c;
	}
}

/* Echoes input with minimal line editing; returns the bytes echoed. */
static u32 echo_phase(void)
{
	u32 echoed = 0, line_len = 0, last_input = timer_ticks;

	printf("[echo] type something (q or Ctrl-D to end):\n> ");
	set_irq(4, uart_irq);
	outb(COM1 + UART_IER, 0x01); /* received data available */
	pic_unmask(4);
	for (;;) {
		cli();
		if (rx_tail == rx_head) {
			if (timer_ticks - last_input >= IDLE_TICKS) {
				sti();
				printf("\n[echo] %d s without input\n", IDLE_TICKS / TICK_HZ);
				break;
			}
			sti_hlt();
			continue;
		}
		sti();
		u8 c = rx_ring[rx_tail++ % sizeof(rx_ring)];

		last_input = timer_ticks;
		if (c == 'q' || c == CTRL_D) {
			printf("\n[echo] end of input\n");
			break;
		}
		if (c == '\r' || c == '\n') {
			printf("\n> ");
			line_len = 0;
		} else if (c == 0x08 || c == 0x7F) {
			if (line_len) {
				printf("\b \b");
				line_len--;
			}
		} else if (c >= 0x20 && c < 0x7F) {
			serial_putc(c);
			line_len++;
		} else {
			continue; /* other control characters are ignored */
		}
		echoed++;
	}
	pic_mask(4);
	outb(COM1 + UART_IER, 0);
	return echoed;
}

int guest_main(void)
{
	int disk_ok;
	u32 echoed;

	banner();
	pic_init();
	timer_start(TICK_HZ);
	sti();
	timer_phase();
	disk_ok = disk_phase() == 0;
	echoed = echo_phase();
	printf("[summary] %u timer ticks, %u bytes echoed, disk %s\n", timer_ticks, echoed,
	       disk_ok ? "ok" : "FAILED");
	printf("[summary] exiting through port 0xF4 with %d (emulator status %d)\n",
	       disk_ok ? 0 : 2, disk_ok ? 1 : 5);
	return disk_ok ? 0 : 2;
}
