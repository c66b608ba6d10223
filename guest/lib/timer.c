/*
 * timer.c - PIT channel 0 as the guests' tick (IRQ 0), counter readback,
 * and a HLT-based wait with a tick limit.
 */
#include "guest.h"

#define PIT_CH0 0x40
#define PIT_CMD 0x43

volatile u32 timer_ticks;
void (*timer_hook)(void);

static void tick(struct regs *r)
{
	timer_ticks++;
	if (timer_hook)
		timer_hook();
}

void timer_start(u32 hz)
{
	u32 divisor = (PIT_HZ + hz / 2) / hz;

	if (divisor > 0xFFFF)
		divisor = 0; /* 0 means 65536 */
	set_irq(0, tick);
	outb(PIT_CMD, 0x34); /* channel 0, lobyte/hibyte, mode 2, binary */
	outb(PIT_CH0, divisor & 0xFF);
	outb(PIT_CH0, divisor >> 8);
	pic_unmask(0);
}

void timer_stop(void)
{
	pic_mask(0);
	set_irq(0, NULL);
}

u16 pit_read_count(int ch)
{
	u8 lo, hi;

	outb(PIT_CMD, (u8)(ch << 6)); /* counter latch command */
	lo = inb(PIT_CH0 + ch);
	hi = inb(PIT_CH0 + ch);
	return lo | hi << 8;
}

bool wait_flag(volatile int *flag, u32 ticks)
{
	u32 start = timer_ticks;

	cli();
	while (!*flag) {
		if (ticks && timer_ticks - start >= ticks)
			break;
		sti_hlt();
		cli();
	}
	sti();
	return *flag != 0;
}
