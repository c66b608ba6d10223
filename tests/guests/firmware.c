/*
 * firmware.c - what a kernel booted with -kernel finds, as a BIOS leaves it
 * (under QEMU: SeaBIOS and its multiboot option ROM), checked the way a
 * kernel would use it and before anything here reprograms it:
 *   - the BIOS data area: COM1's port, an EBDA just below base memory;
 *   - the MP table, found where the MP specification says to look, its
 *     checksums, the boot processor, the IOAPIC, ISA IRQ 0 on its pin 2;
 *   - the ACPI tables from the RSDP: checksums, the FADT's DSDT, FACS, SCI
 *     and PM timer, the MADT's local APIC, IOAPIC and IRQ 0 override, the
 *     HPET table;
 *   - real mode: with the IVT and the 8259s as left, HLT with interrupts on
 *     wakes on the timer and the BIOS's INT 08h counts its ticks at 0x46C
 *     (realmode.asm);
 *   - the 8254's channel 0 at 18.2 Hz, its IRQ 0 timed with the PM timer
 *     from the FADT (one period is 65536 clocks of 1.193182 MHz, 196608 of
 *     the PM timer's 3.579545 MHz: exactly 3 times as fast);
 *   - the HPET's counter, enabled, at the rate its capabilities say.
 */
#include "guest.h"

/* A pointer to physical @addr that the compiler cannot see through (it
 * takes the BIOS data area's low addresses for null pointer arithmetic). */
static const volatile void *phys(u32 addr)
{
	__asm__("" : "+r"(addr));
	return (const volatile void *)addr;
}

static u8 sum(u32 addr, u32 n)
{
	const volatile u8 *p = phys(addr);
	u8 s = 0;

	while (n--)
		s += *p++;
	return s;
}

static u32 rd32(u32 addr)
{
	return *(const volatile u32 *)phys(addr);
}

static u16 rd16(u32 addr)
{
	return *(const volatile u16 *)phys(addr);
}

static u8 rd8(u32 addr)
{
	return *(const volatile u8 *)phys(addr);
}

/* The @n bytes at physical @addr equal @s. */
static bool is(u32 addr, const char *s, u32 n)
{
	for (u32 i = 0; i < n; i++)
		if (rd8(addr + i) != (u8)s[i])
			return false;
	return true;
}

/* ---- the BIOS data area -------------------------------------------------- */

static void test_bda(void)
{
	u32 ebda = (u32)rd16(0x40E) << 4, base_kb = rd16(0x413);

	printf("firmware: COM1 %x, EBDA at %x, base memory %u KiB, equipment %x\n", rd16(0x400),
	       ebda, base_kb, rd16(0x410));
	check(rd16(0x400) == 0x3F8, "BDA: COM1 at %x", rd16(0x400));
	check(((rd16(0x410) >> 9) & 7) >= 1, "BDA: equipment word %x has no serial port",
	      rd16(0x410));
	check(ebda >= 0x80000 && ebda == base_kb * 1024, "BDA: EBDA at %x, base memory %u KiB",
	      ebda, base_kb);
	check(rd8(ebda) >= 1 && ebda + rd8(ebda) * 1024 <= 0xA0000, "EBDA of %u KiB at %x",
	      rd8(ebda), ebda);
}

/* ---- the MP table --------------------------------------------------------- */

static u32 scan(u32 from, u32 to, const char *sig, u32 sig_len, u32 len)
{
	for (u32 a = from; a + len <= to; a += 16)
		if (is(a, sig, sig_len) && sum(a, len) == 0)
			return a;
	return 0;
}

static void test_mp(void)
{
	u32 ebda = (u32)rd16(0x40E) << 4, base = rd16(0x413) * 1024u, fp, t, e, end;
	int procs = 0, ioapic_id = -1, irq0_pin = -1;

	fp = scan(ebda, ebda + 1024, "_MP_", 4, 16);
	if (!fp)
		fp = scan(base - 1024, base, "_MP_", 4, 16);
	if (!fp)
		fp = scan(0xF0000, 0x100000, "_MP_", 4, 16);
	if (!check(fp != 0, "no MP floating pointer"))
		return;
	t = rd32(fp + 4);
	if (!check(t && is(t, "PCMP", 4) && sum(t, rd16(t + 4)) == 0,
		   "MP configuration table at %x: bad signature or checksum", t))
		return;
	end = t + rd16(t + 4);
	for (e = t + 44; e < end;) {
		u8 type = rd8(e);

		if (type == 0) {
			procs += (rd8(e + 3) & 3) == 3; /* enabled boot processor */
			e += 20;
			continue;
		}
		if (type == 2 && rd32(e + 4) == 0xFEC00000 && (rd8(e + 3) & 1))
			ioapic_id = rd8(e + 1);
		if (type == 3 && rd8(e + 1) == 0 && rd8(e + 5) == 0 && rd8(e + 6) == ioapic_id)
			irq0_pin = rd8(e + 7);
		if (type > 4)
			break;
		e += 8;
	}
	check(e == end, "MP table: entries do not end at its length");
	check(procs == 1, "MP table: %d boot processors", procs);
	check(ioapic_id >= 0, "MP table: no IOAPIC at 0xFEC00000");
	check(irq0_pin == 2, "MP table: IRQ 0 on IOAPIC pin %d", irq0_pin);
	printf("firmware: MP table at %x: IOAPIC ID %d, IRQ 0 on its pin %d\n", t, ioapic_id,
	       irq0_pin);
}

/* ---- ACPI ------------------------------------------------------------------- */

static u32 pm_timer_port, hpet_base;

static u32 acpi_table(u32 rsdt, const char *sig)
{
	u32 n = (rd32(rsdt + 4) - 36) / 4;

	for (u32 i = 0; i < n; i++) {
		u32 t = rd32(rsdt + 36 + 4 * i);

		if (is(t, sig, 4)) {
			check(sum(t, rd32(t + 4)) == 0, "ACPI %s: bad checksum", sig);
			return t;
		}
	}
	check(false, "ACPI: no %s table", sig);
	return 0;
}

static void test_madt(u32 madt)
{
	u32 e = madt + 44, end = madt + rd32(madt + 4);
	int lapics = 0, ioapics = 0, irq0 = -1;

	for (; e < end && rd8(e + 1); e += rd8(e + 1)) {
		if (rd8(e) == 0 && (rd32(e + 4) & 1))
			lapics++;
		if (rd8(e) == 1 && rd32(e + 4) == 0xFEC00000 && rd32(e + 8) == 0)
			ioapics++;
		if (rd8(e) == 2 && rd8(e + 2) == 0 && rd8(e + 3) == 0)
			irq0 = (int)rd32(e + 4);
	}
	check(lapics == 1, "MADT: %d enabled local APICs", lapics);
	check(ioapics == 1, "MADT: no IOAPIC at 0xFEC00000 with GSI base 0");
	check(irq0 == 2, "MADT: IRQ 0 overridden to GSI %d", irq0);
	check(rd32(madt + 36) == 0xFEE00000, "MADT: local APIC at %x", rd32(madt + 36));
}

static void test_acpi(void)
{
	u32 ebda = (u32)rd16(0x40E) << 4, rsdp, rsdt, fadt, madt, hpet;

	rsdp = scan(ebda, ebda + 1024, "RSD PTR ", 8, 20);
	if (!rsdp)
		rsdp = scan(0xE0000, 0x100000, "RSD PTR ", 8, 20);
	if (!check(rsdp != 0, "no ACPI RSDP"))
		return;
	rsdt = rd32(rsdp + 16);
	if (!check(is(rsdt, "RSDT", 4) && sum(rsdt, rd32(rsdt + 4)) == 0,
		   "RSDT at %x: bad signature or checksum", rsdt))
		return;
	fadt = acpi_table(rsdt, "FACP");
	madt = acpi_table(rsdt, "APIC");
	hpet = acpi_table(rsdt, "HPET");
	if (!fadt || !madt || !hpet)
		return;
	check(is(rd32(fadt + 36), "FACS", 4), "FADT: no FACS");
	check(is(rd32(fadt + 40), "DSDT", 4) &&
		  sum(rd32(fadt + 40), rd32(rd32(fadt + 40) + 4)) == 0,
	      "FADT: no DSDT, or a bad checksum");
	check(rd16(fadt + 46) == 9, "FADT: SCI on IRQ %u", rd16(fadt + 46));
	pm_timer_port = rd32(fadt + 76);
	check(pm_timer_port && rd8(fadt + 91) == 4, "FADT: PM timer at %x, %u bytes", pm_timer_port,
	      rd8(fadt + 91));
	test_madt(madt);
	hpet_base = rd32(hpet + 44);
	check(rd8(hpet + 40) == 0 && hpet_base == 0xFED00000, "HPET table: base %x in space %u",
	      hpet_base, rd8(hpet + 40));
	printf("firmware: ACPI RSDP at %x, PM timer at port %x, HPET at %x\n", rsdp, pm_timer_port,
	       hpet_base);
}

/* ---- real mode -------------------------------------------------------------- */

void realmode_ticks(u32 n);

static void test_real_mode(void)
{
	u32 before = rd32(0x46C);

	realmode_ticks(3);
	check(rd32(0x46C) - before == 3, "real mode: BIOS ticks %u -> %u", before, rd32(0x46C));
	printf("firmware: real mode STI; HLT woke on 3 timer ticks (INT 08h counted them)\n");
}

/* ---- timers ------------------------------------------------------------------ */

static u32 pm_now(void)
{
	return inl((u16)pm_timer_port) & 0xFFFFFF;
}

static volatile u32 tick_pm[3];
static volatile u32 ticks;

static void on_tick(struct regs *r)
{
	if (ticks < 3)
		tick_pm[ticks] = pm_now();
	ticks++;
}

/* Three IRQ 0s of the 8254 as the firmware left it, timed by the PM timer
 * (the 8259s moved to vector 0x20 first: vector 8 is #DF in protected
 * mode); the CPU halts in between. */
static void test_pit_rate(void)
{
	u32 d;

	if (!pm_timer_port)
		return;
	pic_init();
	set_irq(0, on_tick);
	pic_unmask(0);
	while (ticks < 3)
		sti_hlt();
	cli();
	pic_mask(0);
	d = (tick_pm[2] - tick_pm[1]) & 0xFFFFFF;
	/* 3 * 65536 PM ticks, give or take the interrupt's latency */
	check(d > 196500 && d < 196700, "8254 channel 0: a period of %u PM timer ticks", d);
	printf("firmware: 8254 channel 0 period: %u PM timer ticks (18.2 Hz)\n", d);
}

/* Waits until the PM timer has advanced by @n, reading it now and then. */
static void pm_wait(u32 n)
{
	u32 t0 = pm_now();

	while (((pm_now() - t0) & 0xFFFFFF) < n)
		for (volatile int i = 0; i < 100; i++)
			;
}

static void test_hpet_rate(void)
{
	volatile u32 *h = (volatile u32 *)hpet_base;
	u32 period_fs, c0, c1, t0, t1;
	u64 hpet_fs, pm_fs;

	if (!hpet_base || !pm_timer_port)
		return;
	period_fs = h[1]; /* GCAP_ID's high half */
	check(period_fs > 0 && period_fs <= 100000000, "HPET period %u fs", period_fs);
	h[0x10 / 4] |= 1; /* ENABLE_CNF */
	t0 = pm_now();
	c0 = h[0xF0 / 4];
	pm_wait(7159); /* 2 ms */
	t1 = pm_now();
	c1 = h[0xF0 / 4];
	h[0x10 / 4] &= ~1u;
	hpet_fs = (u64)(c1 - c0) * period_fs;
	pm_fs = (u64)((t1 - t0) & 0xFFFFFF) * 279365115ull; /* fs per PM tick */
	check(hpet_fs > pm_fs - pm_fs / 200 && hpet_fs < pm_fs + pm_fs / 200,
	      "HPET: %u counts of %u fs while the PM timer counted %u", c1 - c0, period_fs,
	      (t1 - t0) & 0xFFFFFF);
	printf("firmware: HPET counter runs at its advertised period (%u fs)\n", period_fs);
}

int guest_main(void)
{
	test_bda();
	test_mp();
	test_acpi();
	test_real_mode();
	test_pit_rate();
	test_hpet_rate();
	return check_done("firmware");
}
