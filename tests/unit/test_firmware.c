/*
 * test_firmware.c - the machine a -kernel guest starts in (src/machine/
 * firmware.c and the multiboot loader): a whole PC built by machine_new()
 * with a tiny multiboot kernel, then read back the way a kernel or a
 * firmware table parser would: the IVT and its handlers, the BIOS data area
 * and the EBDA, the MP table, the ACPI tables (found by their signatures,
 * checksums verified, fields cross-checked with the devices), the 8259s,
 * the 8254, the local APIC in virtual-wire mode, the IOAPIC's ID, ACPI
 * mode, the GDT and segments; and all of it again after a machine reset.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/machine/machine.h"
#include "unit.h"

static Machine *m;

static const uint8_t *ram(uint32_t addr)
{
	return m->ram_host + addr;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* A multiboot ELF: one segment at 1 MiB holding the header and a HLT. */
static size_t make_kernel(uint8_t *img)
{
	static const uint8_t ident[7] = {0x7F, 'E', 'L', 'F', 1, 1, 1};
	const uint32_t magic = 0x1BADB002u, flags = 0;

	memset(img, 0, 0x200);
	memcpy(img, ident, sizeof(ident));
	st16(img + 16, 2); /* ET_EXEC */
	st16(img + 18, 3); /* EM_386 */
	st32(img + 20, 1);
	st32(img + 24, 0x10000C); /* entry: the HLT */
	st32(img + 28, 52);	  /* program headers */
	st16(img + 40, 52);
	st16(img + 42, 32);
	st16(img + 44, 1);
	st32(img + 52, 1);     /* PT_LOAD */
	st32(img + 56, 0x100); /* file offset */
	st32(img + 60, 0x100000);
	st32(img + 64, 0x100000);
	st32(img + 68, 16);
	st32(img + 72, 16);
	st32(img + 0x100, magic);
	st32(img + 0x104, flags);
	st32(img + 0x108, (uint32_t) - (magic + flags));
	img[0x10C] = 0xF4;
	return 0x110;
}

static void test_ivt_bda(void)
{
	/* 13:01:01 UTC: 46861 s after midnight, 18.2 ticks a second. */
	uint32_t ticks = (uint32_t)(46861ull * 1193182 / 65536);

	CHECK_EQ(ld32(ram(0x00 * 4)), 0xF0000100);
	CHECK_EQ(ld32(ram(0x08 * 4)), 0xF0000111);
	CHECK_EQ(ld32(ram(0x09 * 4)), 0xF0000101);
	CHECK_EQ(ld32(ram(0x0F * 4)), 0xF0000101);
	CHECK_EQ(ld32(ram(0x10 * 4)), 0xF0000100);
	CHECK_EQ(ld32(ram(0x70 * 4)), 0xF0000108);
	CHECK_EQ(ld32(ram(0x77 * 4)), 0xF0000108);
	CHECK_EQ(ld32(ram(0xFF * 4)), 0xF0000100);
	CHECK_EQ(*ram(0xF0100), 0xCF);					 /* IRET */
	CHECK(!memcmp(ram(0xF0101), "\x50\xB0\x20\xE6\x20\x58\xCF", 7)); /* EOI, IRET */
	CHECK_EQ(*ram(0xF0111), 0x1E);					 /* push ds */

	CHECK_EQ(ld16(ram(0x400)), 0x3F8);
	CHECK_EQ(ld16(ram(0x402)), 0);
	CHECK_EQ(ld16(ram(0x40E)), 0x9FC0);
	CHECK_EQ(ld16(ram(0x410)), 0x0226); /* with the VGA: 80x25 colour */
	CHECK_EQ(ld16(ram(0x413)), 639);
	CHECK_EQ(ld16(ram(0x41A)), ld16(ram(0x41C)));
	CHECK_EQ(ld32(ram(0x46C)), ticks);
	CHECK_EQ(*ram(0x475), 0);
	CHECK_EQ(ld16(ram(0x9FC00)), 1);
	CHECK_EQ(*ram(0x449), 0x03);	    /* mode 03h */
	CHECK_EQ(ld16(ram(0x44A)), 80);	    /* columns */
	CHECK_EQ(ld16(ram(0x463)), 0x3D4); /* CRTC */
	CHECK_EQ(*ram(0x484), 24);	    /* rows - 1 */
}

/* The MP floating pointer, found where the MP specification says to look. */
static uint32_t find_mp(void)
{
	for (uint32_t a = 0xF0000; a < 0x100000; a += 16)
		if (!memcmp(ram(a), "_MP_", 4) && sum(ram(a), 16) == 0)
			return a;
	return 0;
}

static void test_mp(void)
{
	uint32_t fp = find_mp(), t, len;
	int procs = 0, buses = 0, ioapics = 0, ints = 0, lints = 0;
	const uint8_t *e;

	CHECK(fp);
	if (!fp)
		return;
	CHECK_EQ(*ram(fp + 8), 1);
	CHECK_EQ(*ram(fp + 9), 4);
	CHECK_EQ(*ram(fp + 11), 0);
	t = ld32(ram(fp + 4));
	CHECK(!memcmp(ram(t), "PCMP", 4));
	len = ld16(ram(t + 4));
	CHECK_EQ(sum(ram(t), len), 0);
	CHECK_EQ(ld32(ram(t + 36)), 0xFEE00000);
	CHECK_EQ(ld16(ram(t + 34)), 20);
	for (e = ram(t + 44); e < ram(t + len);) {
		switch (e[0]) {
		case 0:
			procs++;
			CHECK_EQ(e[3], 3); /* enabled, BSP */
			CHECK_EQ(ld32(e + 4), 0x619);
			e += 20;
			continue;
		case 1:
			buses++;
			CHECK(!memcmp(e + 2, "ISA   ", 6));
			break;
		case 2:
			ioapics++;
			CHECK_EQ(e[1], 1);
			CHECK_EQ(e[3], 1);
			CHECK_EQ(ld32(e + 4), 0xFEC00000);
			break;
		case 3:
			ints++;
			CHECK(e[5] != 2); /* the cascade */
			CHECK_EQ(e[7], e[5] == 0 ? 2 : e[5]);
			CHECK_EQ(ld16(e + 2), e[5] == 9 ? 0xD : 0);
			break;
		case 4:
			lints++;
			CHECK_EQ(e[1], lints == 1 ? 3 : 1); /* ExtINT on LINT0, NMI on LINT1 */
			CHECK_EQ(e[7], lints - 1);
			break;
		default:
			CHECK_EQ(e[0], 0);
			return;
		}
		e += 8;
	}
	CHECK_EQ(procs, 1);
	CHECK_EQ(buses, 1);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(ints, 15);
	CHECK_EQ(lints, 2);
}

/* The RSDP, in the BIOS area 0xE0000-0xFFFFF on a 16-byte boundary. */
static uint32_t find_rsdp(void)
{
	for (uint32_t a = 0xE0000; a < 0x100000; a += 16)
		if (!memcmp(ram(a), "RSD PTR ", 8) && sum(ram(a), 20) == 0)
			return a;
	return 0;
}

/* A table in the RSDT by signature, with its checksum verified. */
static uint32_t find_table(uint32_t rsdt, const char *sig)
{
	uint32_t n = (ld32(ram(rsdt + 4)) - 36) / 4;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t t = ld32(ram(rsdt + 36 + 4 * i));

		if (!memcmp(ram(t), sig, 4)) {
			CHECK_EQ(sum(ram(t), ld32(ram(t + 4))), 0);
			return t;
		}
	}
	return 0;
}

static void test_acpi(void)
{
	uint32_t rsdp = find_rsdp(), rsdt, fadt, madt, hpet, dsdt, facs;
	const uint8_t *e, *end;
	int lapics = 0, ioapics = 0, isos = 0, nmis = 0;

	CHECK(rsdp);
	if (!rsdp)
		return;
	CHECK_EQ(*ram(rsdp + 15), 0); /* revision 0: the RSDT only */
	rsdt = ld32(ram(rsdp + 16));
	CHECK(!memcmp(ram(rsdt), "RSDT", 4));
	CHECK_EQ(sum(ram(rsdt), ld32(ram(rsdt + 4))), 0);
	fadt = find_table(rsdt, "FACP");
	madt = find_table(rsdt, "APIC");
	hpet = find_table(rsdt, "HPET");
	CHECK(fadt && madt && hpet);
	if (!fadt || !madt || !hpet)
		return;

	CHECK_EQ(ld32(ram(fadt + 4)), 244);
	CHECK_EQ(*ram(fadt + 8), 3);
	facs = ld32(ram(fadt + 36));
	dsdt = ld32(ram(fadt + 40));
	CHECK(!memcmp(ram(facs), "FACS", 4) && ld32(ram(facs + 4)) == 64 && facs % 64 == 0);
	CHECK(!memcmp(ram(dsdt), "DSDT", 4));
	CHECK_EQ(sum(ram(dsdt), ld32(ram(dsdt + 4))), 0);
	CHECK_EQ(ld16(ram(fadt + 46)), 9);	    /* SCI_INT */
	CHECK_EQ(ld32(ram(fadt + 48)), 0);	    /* no SMI_CMD */
	CHECK_EQ(ld32(ram(fadt + 56)), 0x600);	    /* PM1a_EVT_BLK */
	CHECK_EQ(ld32(ram(fadt + 64)), 0x604);	    /* PM1a_CNT_BLK */
	CHECK_EQ(ld32(ram(fadt + 76)), 0x608);	    /* PM_TMR_BLK */
	CHECK_EQ(*ram(fadt + 91), 4);		    /* PM_TMR_LEN */
	CHECK_EQ(ld16(ram(fadt + 109)), 3);	    /* legacy devices, 8042 */
	CHECK_EQ(ld32(ram(fadt + 112)) & 0x100, 0); /* 24-bit PM timer */
	CHECK_EQ(ld64(ram(fadt + 120)), 0xCF9);	    /* RESET_REG */
	CHECK_EQ(*ram(fadt + 128), 6);
	CHECK_EQ(ld64(ram(fadt + 132)), 0);	/* X_FIRMWARE_CTRL */
	CHECK_EQ(ld64(ram(fadt + 140)), dsdt);	/* X_DSDT */
	CHECK_EQ(ld64(ram(fadt + 212)), 0x608); /* X_PM_TMR_BLK's address */
	CHECK_EQ(*ram(fadt + 208), 1);		/* ... in I/O space */

	CHECK_EQ(ld32(ram(madt + 36)), 0xFEE00000);
	CHECK_EQ(ld32(ram(madt + 40)), 1); /* PCAT_COMPAT */
	end = ram(madt + ld32(ram(madt + 4)));
	for (e = ram(madt + 44); e < end && e[1]; e += e[1]) {
		switch (e[0]) {
		case 0:
			lapics++;
			CHECK_EQ(e[3], 0);
			CHECK_EQ(ld32(e + 4), 1);
			break;
		case 1:
			ioapics++;
			CHECK_EQ(e[2], 1);
			CHECK_EQ(ld32(e + 4), 0xFEC00000);
			CHECK_EQ(ld32(e + 8), 0);
			break;
		case 2:
			isos++;
			CHECK_EQ(ld32(e + 4), e[3] == 0 ? 2 : e[3]);
			CHECK_EQ(ld16(e + 8), e[3] == 9 ? 0xD : 0);
			break;
		case 4:
			nmis++;
			CHECK_EQ(e[2], 0xFF);
			CHECK_EQ(e[5], 1);
			break;
		}
	}
	CHECK(e == end);
	CHECK_EQ(lapics, 1);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, 2);
	CHECK_EQ(nmis, 1);

	/* The HPET table gives the device's own capabilities and address. */
	CHECK_EQ(ld32(ram(hpet + 36)), as_read(m->memory, 0xFED00000, 4));
	CHECK_EQ(*ram(hpet + 40), 0); /* memory space */
	CHECK_EQ(ld64(ram(hpet + 44)), 0xFED00000);
}

static void test_devices(void)
{
	SegReg cs = cpu_get_seg(m->cpu, S_CS);

	CHECK_EQ(as_read(m->io, 0x21, 1), 0xF8);  /* IRQ 0, 1, 2 */
	CHECK_EQ(as_read(m->io, 0xA1, 1), 0xFE);  /* IRQ 8 */
	CHECK_EQ(as_read(m->io, 0x4D1, 1), 0x02); /* IRQ 9 level */
	CHECK(pic_line_open(m->pic, 0) && pic_line_open(m->pic, 8) && !pic_line_open(m->pic, 3));
	as_write(m->io, 0x43, 0xE2, 1); /* read back channel 0's status */
	CHECK_EQ(as_read(m->io, 0x40, 1) & 0x3F, 0x36);
	CHECK_EQ(as_read(m->memory, 0xFEE000F0, 4), 0x1FF);
	CHECK_EQ(as_read(m->memory, 0xFEE00350, 4), 0x8700);
	CHECK_EQ(as_read(m->memory, 0xFEE00360, 4), 0x400);
	as_write(m->memory, 0xFEC00000, 0, 4);
	CHECK_EQ(as_read(m->memory, 0xFEC00010, 4), 0x01000000);
	CHECK_EQ(as_read(m->io, 0x604, 2) & 1, 1); /* SCI_EN */
	CHECK_EQ(cs.sel, 0x08);
	CHECK_EQ(cpu_get_seg(m->cpu, S_SS).sel, 0x10);
	CHECK_EQ(cpu_get_gdtr(m->cpu).base, 0xF0000);

	/* The 8254's first edge reaches the CPU at vector 0x08. */
	clock_warp(m->clock, 60000000);
	timers_run(m->clock);
	CHECK(pic_int_output(m->pic));
	CHECK_EQ(pic_intack(m->pic), 0x08);
	as_write(m->io, 0x20, 0x20, 1);
}

int main(void)
{
	static uint8_t img[0x200];
	MachineOptions o = {0};

	o.ram_mb = 16;
	o.serial = SERIAL_NULL;
	o.rtc_base = 1704067200 + 13 * 3600 + 61; /* 2024-01-01 13:01:01 */
	o.kernel_image = img;
	o.kernel_image_len = make_kernel(img);
	m = machine_new(&o, NULL);

	test_ivt_bda();
	test_mp();
	test_acpi();
	test_devices();
	/* A reset clears RAM and the devices: all of it is built again. */
	machine_reset(m);
	CHECK_EQ(ld32(ram(0x08 * 4)), 0xF0000111);
	test_mp();
	test_acpi();
	test_devices();
	machine_free(m);
	return unit_done("firmware");
}
