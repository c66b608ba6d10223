/*
 * rtc.c - the MC146818 CMOS clock: a sane BCD date, the update cycle seen
 * through UIP (register A bit 7), and the periodic interrupt on IRQ 8, which
 * reaches the CPU through the slave PIC and the cascade on IRQ 2.
 *
 * The periodic interrupt runs at 8192 Hz (122 us) and the guest HLTs between
 * interrupts, polling UIP after each: UIP is high for 244 us before every
 * update, so no edge is missed, and waiting costs few instructions.  Two
 * falling edges of UIP are one second apart: the seconds register must
 * advance by one between them, with ~8192 periodic interrupts and ~1000 PIT
 * ticks (1 kHz) in between.
 */
#include "guest.h"

#define CMOS_INDEX  0x70
#define CMOS_DATA   0x71
#define REG_SEC	    0x00
#define REG_MIN	    0x02
#define REG_HOUR    0x04
#define REG_DAY	    0x07
#define REG_MONTH   0x08
#define REG_YEAR    0x09
#define REG_A	    0x0A
#define REG_B	    0x0B
#define REG_C	    0x0C
#define REG_CENTURY 0x32
#define A_UIP	    0x80
#define B_PIE	    0x40
#define B_BINARY    0x04
#define B_24H	    0x02
#define C_IRQF	    0x80
#define C_PF	    0x40
#define C_UF	    0x10
#define RATE_8192HZ 3

static volatile u32 periodic, updates;

static u8 cmos_read(u8 reg)
{
	outb(CMOS_INDEX, reg);
	return inb(CMOS_DATA);
}

static void cmos_write(u8 reg, u8 v)
{
	outb(CMOS_INDEX, reg);
	outb(CMOS_DATA, v);
}

static void rtc_irq(struct regs *r)
{
	/* Reading C acknowledges; without it IRQ 8 would not come again. */
	u8 c = cmos_read(REG_C);

	if (c & C_PF)
		periodic++;
	if (c & C_UF)
		updates++;
}

static bool bcd_ok(u8 v, u8 lo, u8 hi)
{
	return (v & 0x0F) <= 9 && (v >> 4) <= 9 && v >= lo && v <= hi;
}

static u32 bcd(u8 v)
{
	return (v >> 4) * 10 + (v & 0x0F);
}

/* Halts until UIP falls (after having seen it high); false on time out.
 * The update-ended flag in register C (UF, latched until C is read, whether
 * or not its interrupt is enabled) also counts, in case the host ran late
 * and the guest missed the 244 us of UIP. */
static bool wait_update(void)
{
	bool seen_high = false;
	u32 start = periodic, updates0 = updates;

	while (periodic - start < 3 * 8192) {
		u8 a = cmos_read(REG_A);

		if (a & A_UIP)
			seen_high = true;
		else if (seen_high || updates != updates0)
			return true;
		sti_hlt();
		cli();
	}
	return false;
}

struct date {
	u8 sec, min, hour, day, month, year, century;
};

static void read_date(struct date *d)
{
	d->sec = cmos_read(REG_SEC);
	d->min = cmos_read(REG_MIN);
	d->hour = cmos_read(REG_HOUR);
	d->day = cmos_read(REG_DAY);
	d->month = cmos_read(REG_MONTH);
	d->year = cmos_read(REG_YEAR);
	d->century = cmos_read(REG_CENTURY);
}

static void check_date(const struct date *d)
{
	printf("rtc: %02x%02x-%02x-%02x %02x:%02x:%02x\n", d->century, d->year, d->month, d->day,
	       d->hour, d->min, d->sec);
	check(bcd_ok(d->sec, 0, 0x59), "seconds 0x%02x", d->sec);
	check(bcd_ok(d->min, 0, 0x59), "minutes 0x%02x", d->min);
	check(bcd_ok(d->hour, 0, 0x23), "hours 0x%02x", d->hour);
	check(bcd_ok(d->day, 1, 0x31), "day 0x%02x", d->day);
	check(bcd_ok(d->month, 1, 0x12), "month 0x%02x", d->month);
	check(bcd_ok(d->year, 0, 0x99), "year 0x%02x", d->year);
	check(bcd_ok(d->century, 0x19, 0x21), "century 0x%02x", d->century);
}

int guest_main(void)
{
	struct date first, second;
	u8 b = cmos_read(REG_B);
	u32 periodic0, ticks0, dsec;

	check(!(b & B_BINARY) && (b & B_24H), "register B 0x%02x: want BCD, 24 hours", b);
	pic_init();
	timer_start(1000);
	set_irq(8, rtc_irq);
	cmos_write(REG_A, (cmos_read(REG_A) & 0x70) | RATE_8192HZ);
	cmos_write(REG_B, b | B_PIE);
	cmos_read(REG_C);
	pic_unmask(8);
	check(pic_read_mask() == 0xFEFA, "PIC masks 0x%04x, want 0xfefa", pic_read_mask());

	cli();
	if (check(wait_update(), "no UIP edge (%u periodic interrupts)", periodic)) {
		read_date(&first);
		periodic0 = periodic;
		ticks0 = timer_ticks;
		if (check(wait_update(), "no second UIP edge")) {
			read_date(&second);
			u32 np = periodic - periodic0, nt = timer_ticks - ticks0;

			printf("rtc: one update cycle = %u periodic interrupts, %u PIT ticks\n", np,
			       nt);
			check_date(&first);
			check_date(&second);
			dsec = (bcd(second.sec) + 60 - bcd(first.sec)) % 60;
			check(dsec == 1, "seconds went 0x%02x -> 0x%02x", first.sec, second.sec);
			/* Loose: a wrong rate (1024 Hz, 2048 Hz) fails, but QEMU
			 * with -icount sleep=off delivers only ~4192 of 8192. */
			check(np >= 3000 && np <= 8192 + 256, "%u periodic interrupts in 1 s", np);
			check(nt >= 700 && nt <= 1300, "%u PIT ticks in 1 s", nt);
		}
	}
	cmos_write(REG_B, b);
	pic_mask(8);
	sti();
	timer_stop();
	return check_done("rtc");
}
