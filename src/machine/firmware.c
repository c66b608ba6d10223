/*
 * firmware.c - the machine as a PC BIOS leaves it, for kernels started with
 * -kernel (QEMU runs SeaBIOS and an option ROM for this; we build the same
 * kind of state ourselves).  With -bios the BIOS builds its own.
 *
 * In RAM (firmware_tables, before the kernel is loaded, so that a kernel
 * loaded over any of it wins):
 *   - the real-mode IVT: every vector at an IRET, IRQ 0-7 and 8-15 (vectors
 *     0x08-0x0F, 0x70-0x77) at handlers that send the EOI, IRQ 0's also
 *     counting the BIOS tick at 0x46C (18.2 Hz, with the midnight flag) and
 *     calling INT 1Ch, as a BIOS's INT 08h does;
 *   - the BIOS data area: COM1 at 0x3F8, the equipment word, 639 KiB of base
 *     memory, the EBDA segment, the keyboard buffer, ticks since midnight
 *     (from the RTC's time), the number of hard disks;
 *   - a 1 KiB EBDA at 0x9FC00 (its first word: its size in KiB);
 *   - an MP floating pointer and configuration table (MP specification
 *     1.4), and ACPI tables (RSDP, RSDT, FADT, FACS, DSDT, MADT, HPET),
 *     both describing the same machine: one CPU with its local APIC, the
 *     IOAPIC (ID 1) with ISA IRQ n on pin n except IRQ 0 on pin 2, the SCI
 *     on IRQ 9 level-triggered active high, the 8259 pair, NMI on LINT1.
 * The IVT code and the tables are in the BIOS area 0xF0000-0xFFFFF, which
 * the memory map reports as reserved (loader.h has the layout).
 *
 * Devices (firmware_devices, after the kernel is loaded), through their
 * ports and registers as firmware would program them:
 *   - the 8259s: vectors 0x08 and 0x70, IRQ 0 (timer), 1 (keyboard), 2
 *     (cascade) and 8 (RTC) unmasked, as SeaBIOS leaves them; the ELCR
 *     makes IRQ 9 (the SCI) level-triggered;
 *   - the 8254: channel 0 in mode 3 with count 65536, 18.2 Hz;
 *   - the local APIC in virtual-wire mode (MP specification 3.6.2.2, as
 *     SeaBIOS sets it): software-enabled, spurious vector 0xFF, LINT0
 *     ExtINT, LINT1 NMI; the IOAPIC's ID register 1 (unique on the APIC bus,
 *     as the MP specification wants), every entry masked;
 *   - ACPI mode on (SCI_EN): there is no SMI command port to switch to it.
 */
#include "loader.h"

#include <string.h>

/* ---- the real-mode interrupt handlers -------------------------------- */

/* Offsets of the handlers in fw_code, which goes to FW_CODE (F000:0100). */
enum { CODE_IRET = 0x00, CODE_MASTER_EOI = 0x01, CODE_SLAVE_EOI = 0x08, CODE_TIMER = 0x11 };

/* clang-format off */
static const uint8_t fw_code[] = {
	/* 00 */ 0xCF,			/* iret */
	/* 01: IRQ 1-7 */
	0x50,				/* push ax */
	0xB0, 0x20,			/* mov al, 0x20 */
	0xE6, 0x20,			/* out 0x20, al: non-specific EOI */
	0x58,				/* pop ax */
	0xCF,				/* iret */
	/* 08: IRQ 8-15 */
	0x50,				/* push ax */
	0xB0, 0x20,			/* mov al, 0x20 */
	0xE6, 0xA0,			/* out 0xa0, al */
	0xE6, 0x20,			/* out 0x20, al */
	0x58,				/* pop ax */
	0xCF,				/* iret */
	/* 11: IRQ 0, INT 08h */
	0x1E,				/* push ds */
	0x50,				/* push ax */
	0x31, 0xC0,			/* xor ax, ax */
	0x8E, 0xD8,			/* mov ds, ax */
	0xFF, 0x06, 0x6C, 0x04,		/* inc word [0x46c] */
	0x75, 0x04,			/* jnz .hi */
	0xFF, 0x06, 0x6E, 0x04,		/* inc word [0x46e] */
	0x83, 0x3E, 0x6E, 0x04, 0x18,	/* .hi: cmp word [0x46e], 0x18 */
	0x75, 0x19,			/* jne .done */
	0x81, 0x3E, 0x6C, 0x04, 0xB0, 0x00, /* cmp word [0x46c], 0xb0: 0x1800B0 ticks a day */
	0x75, 0x11,			/* jne .done */
	0xC7, 0x06, 0x6C, 0x04, 0x00, 0x00, /* mov word [0x46c], 0 */
	0xC7, 0x06, 0x6E, 0x04, 0x00, 0x00, /* mov word [0x46e], 0 */
	0xC6, 0x06, 0x70, 0x04, 0x01,	/* mov byte [0x470], 1: midnight passed */
	0xCD, 0x1C,			/* .done: int 0x1c: the user tick hook */
	0xB0, 0x20,			/* mov al, 0x20 */
	0xE6, 0x20,			/* out 0x20, al */
	0x58,				/* pop ax */
	0x1F,				/* pop ds */
	0xCF,				/* iret */
};
/* clang-format on */

#define FW_SEG 0xF000u

static void put_ivt(Machine *m)
{
	uint8_t ivt[256 * 4];

	for (int v = 0; v < 256; v++) {
		unsigned off = CODE_IRET;

		if (v == 0x08)
			off = CODE_TIMER;
		else if (v > 0x08 && v <= 0x0F)
			off = CODE_MASTER_EOI;
		else if (v >= 0x70 && v <= 0x77)
			off = CODE_SLAVE_EOI;
		st16(ivt + 4 * v, (uint16_t)(FW_CODE - (FW_SEG << 4) + off));
		st16(ivt + 4 * v + 2, FW_SEG);
	}
	loader_put(m, 0, ivt, sizeof(ivt));
	loader_put(m, FW_CODE, fw_code, sizeof(fw_code));
}

/* ---- the BIOS data area and the EBDA ---------------------------------- */

#define EBDA_ADDR 0x9FC00u
#define EBDA_KB	  1
#define PIT_HZ	  1193182ull

static int hard_disks(const Machine *m)
{
	int i, n = 0;

	for (i = 0; i < MACHINE_DRIVES; i++)
		n += m->drives[i].media && !m->drives[i].cdrom;
	return n;
}

static void put_bda(Machine *m)
{
	uint8_t bda[0x100] = {0};
	int64_t secs = m->opt.rtc_base + clock_ns(m->clock) / 1000000000;
	uint64_t day_secs = (uint64_t)((secs % 86400 + 86400) % 86400);
	uint8_t ebda[16] = {0};

	st16(bda + 0x00, 0x3F8);	   /* COM1; no COM2-4 */
	st16(bda + 0x0E, EBDA_ADDR >> 4);  /* EBDA segment */
	st16(bda + 0x10, 0x0206);	   /* equipment: x87, PS/2 mouse port, one serial port */
	st16(bda + 0x13, EBDA_ADDR >> 10); /* base memory in KiB: 639 */
	st16(bda + 0x1A, 0x1E);		   /* keyboard buffer head, tail: empty */
	st16(bda + 0x1C, 0x1E);
	st32(bda + 0x6C, (uint32_t)(day_secs * PIT_HZ / 65536)); /* ticks since midnight */
	bda[0x75] = (uint8_t)hard_disks(m);			 /* hard disks */
	st16(bda + 0x80, 0x1E);					 /* keyboard buffer start, end */
	st16(bda + 0x82, 0x3E);
	bda[0x96] = 0x10; /* a 101/102-key keyboard */
	if (m->vga) {
		/* the video fields as a VGA BIOS leaves them after mode 03h (80x25
		 * colour text, the CRTC at 0x3D4), which vga.c's registers match */
		bda[0x10] |= 0x20; /* equipment: 80x25 colour */
		bda[0x49] = 0x03;  /* video mode */
		st16(bda + 0x4A, 80);
		st16(bda + 0x4C, 0x1000); /* page size */
		st16(bda + 0x63, 0x3D4);  /* CRTC base port */
		bda[0x84] = 24;		  /* rows - 1 */
		st16(bda + 0x85, 16);	  /* character height */
	}
	loader_put(m, 0x400, bda, sizeof(bda));
	st16(ebda, EBDA_KB);
	loader_put(m, EBDA_ADDR, ebda, sizeof(ebda));
}

/* ---- tables: a buffer, and checksums ---------------------------------- */

typedef struct Table {
	uint8_t b[512];
	size_t len;
} Table;

static uint8_t *tput(Table *t, size_t n)
{
	uint8_t *p = t->b + t->len;

	t->len += n;
	return p;
}

static void t8(Table *t, uint8_t v)
{
	*tput(t, 1) = v;
}
static void t16(Table *t, uint16_t v)
{
	st16(tput(t, 2), v);
}
static void t32(Table *t, uint32_t v)
{
	st32(tput(t, 4), v);
}
static void t64(Table *t, uint64_t v)
{
	st64(tput(t, 8), v);
}
/* @s padded with spaces to @n bytes (MP and ACPI identification strings). */
static void tstr(Table *t, const char *s, size_t n)
{
	uint8_t *p = tput(t, n);

	memset(p, ' ', n);
	memcpy(p, s, strlen(s) < n ? strlen(s) : n);
}

/* Makes bytes [0, len) of @p sum to 0 through the byte at @at. */
static void checksum(uint8_t *p, size_t len, size_t at)
{
	uint8_t sum = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	p[at] = (uint8_t)-sum;
}

/* ---- the MP table (MP specification 1.4, chapter 4) ------------------- */

#define IOAPIC_ID  1
#define APIC_VER   0x14 /* the local APIC's version register */
#define IOAPIC_VER 0x11
#define SCI_FLAGS  0x000D /* active high (01), level (11) */
#define MP_INT	   0	  /* I/O and local interrupt types */
#define MP_NMI	   1
#define MP_EXTINT  3

static void mp_intsrc(Table *t, uint8_t type, uint8_t kind, uint16_t flags, uint8_t src,
		      uint8_t dst_id, uint8_t dst_pin)
{
	t8(t, type);
	t8(t, kind);
	t16(t, flags);
	t8(t, 0); /* source bus: ISA */
	t8(t, src);
	t8(t, dst_id);
	t8(t, dst_pin);
}

static void put_mp(Machine *m)
{
	Table t = {0}, fp = {0};
	uint16_t entries = 0;

	tstr(&t, "PCMP", 4);
	t16(&t, 0); /* base table length, below */
	t8(&t, 4);  /* specification 1.4 */
	t8(&t, 0);  /* checksum */
	tstr(&t, "FLASHBCK", 8);
	tstr(&t, "PC", 12);
	t32(&t, 0); /* no OEM table */
	t16(&t, 0);
	t16(&t, 0); /* entry count, below */
	t32(&t, LAPIC_BASE_ADDR);
	t16(&t, 0); /* no extended table */
	t8(&t, 0);
	t8(&t, 0);
	/* The processor: enabled, the bootstrap processor. */
	t8(&t, 0);
	t8(&t, 0); /* local APIC ID */
	t8(&t, APIC_VER);
	t8(&t, 0x03);
	t32(&t, cpu_signature());
	t32(&t, cpu_feature_flags());
	t32(&t, 0);
	t32(&t, 0);
	entries++;
	/* The ISA bus, the IOAPIC. */
	t8(&t, 1);
	t8(&t, 0);
	tstr(&t, "ISA", 6);
	t8(&t, 2);
	t8(&t, IOAPIC_ID);
	t8(&t, IOAPIC_VER);
	t8(&t, 0x01); /* enabled */
	t32(&t, IOAPIC_BASE_ADDR);
	entries += 2;
	/* ISA IRQ n on pin n (IRQ 0 on pin 2; IRQ 2 is the cascade). */
	for (uint8_t irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue;
		mp_intsrc(&t, 3, MP_INT, irq == PC_SCI_IRQ ? SCI_FLAGS : 0, irq, IOAPIC_ID,
			  irq == 0 ? 2 : irq);
		entries++;
	}
	/* Virtual wire: the 8259 on LINT0, NMI on LINT1, of every processor. */
	mp_intsrc(&t, 4, MP_EXTINT, 0, 0, 0xFF, 0);
	mp_intsrc(&t, 4, MP_NMI, 0, 0, 0xFF, 1);
	entries += 2;
	st16(t.b + 4, (uint16_t)t.len);
	st16(t.b + 34, entries);
	checksum(t.b, t.len, 7);

	tstr(&fp, "_MP_", 4);
	t32(&fp, FW_MP_TABLE);
	t8(&fp, 1); /* 16 bytes */
	t8(&fp, 4);
	t8(&fp, 0); /* checksum */
	t8(&fp, 0); /* a configuration table is present */
	t8(&fp, 0); /* no IMCR: virtual wire mode */
	t8(&fp, 0);
	t16(&fp, 0);
	checksum(fp.b, fp.len, 10);
	loader_put(m, FW_MP_FLOAT, fp.b, fp.len);
	loader_put(m, FW_MP_TABLE, t.b, t.len);
}

/* ---- ACPI (the ACPI specification, 6.x, chapter 5) --------------------- */

#define ACPI_OEM       "FLASHB"
#define ACPI_OEM_TABLE "FLASHBCK"

/* Where each table goes, in the order written. */
enum {
	ACPI_RSDP = FW_ACPI,
	ACPI_RSDT = FW_ACPI + 0x40,
	ACPI_FADT = FW_ACPI + 0x80,
	ACPI_FACS = FW_ACPI + 0x180, /* 64-byte aligned */
	ACPI_DSDT = FW_ACPI + 0x1C0,
	ACPI_MADT = FW_ACPI + 0x200,
	ACPI_HPET = FW_ACPI + 0x280,
	ACPI_END = FW_ACPI + 0x300,
};

static void acpi_header(Table *t, const char *sig, uint8_t revision)
{
	tstr(t, sig, 4);
	t32(t, 0); /* length, set by acpi_put */
	t8(t, revision);
	t8(t, 0); /* checksum */
	tstr(t, ACPI_OEM, 6);
	tstr(t, ACPI_OEM_TABLE, 8);
	t32(t, 1);	    /* OEM revision */
	tstr(t, "FLBK", 4); /* creator */
	t32(t, 1);
}

static void acpi_put(Machine *m, Table *t, uint32_t at)
{
	st32(t->b + 4, (uint32_t)t->len);
	checksum(t->b, t->len, 9);
	loader_put(m, at, t->b, t->len);
}

/* A Generic Address Structure. */
static void gas(Table *t, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
	t8(t, space);
	t8(t, bits);
	t8(t, 0);
	t8(t, access);
	t64(t, addr);
}

#define GAS_MEMORY 0
#define GAS_IO	   1

static void put_fadt(Machine *m)
{
	Table t = {0};
	const uint32_t pm = PC_ACPI_PM_BASE;

	acpi_header(&t, "FACP", 3);
	t32(&t, ACPI_FACS);
	t32(&t, ACPI_DSDT);
	t8(&t, 0); /* reserved */
	t8(&t, 0); /* preferred power-management profile: unspecified */
	t16(&t, PC_SCI_IRQ);
	t32(&t, 0); /* no SMI command port: always in ACPI mode */
	t8(&t, 0);
	t8(&t, 0);
	t8(&t, 0);
	t8(&t, 0);
	t32(&t, pm + ACPIPM_PM1_EVT);
	t32(&t, 0);
	t32(&t, pm + ACPIPM_PM1_CNT);
	t32(&t, 0);
	t32(&t, 0); /* no PM2 block */
	t32(&t, pm + ACPIPM_PM_TMR);
	t32(&t, 0); /* no GPE blocks */
	t32(&t, 0);
	t8(&t, 4); /* PM1_EVT_LEN */
	t8(&t, 2); /* PM1_CNT_LEN */
	t8(&t, 0);
	t8(&t, 4); /* PM_TMR_LEN */
	t8(&t, 0);
	t8(&t, 0);
	t8(&t, 0);
	t8(&t, 0);
	t16(&t, 101);  /* P_LVL2_LAT > 100: no C2 */
	t16(&t, 1001); /* P_LVL3_LAT > 1000: no C3 */
	t16(&t, 0);
	t16(&t, 0);
	t8(&t, 0);
	t8(&t, 0);
	t8(&t, 0);
	t8(&t, 0);
	t8(&t, 0x32);	 /* the RTC's century byte */
	t16(&t, 0x0003); /* IAPC_BOOT_ARCH: ISA devices, an 8042 */
	t8(&t, 0);
	/* WBINVD, C1 on every processor, no fixed power or sleep button, RTC
	 * wake not fixed, 24-bit PM timer, reset register. */
	t32(&t, 1u << 0 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 10);
	gas(&t, GAS_IO, 8, 1, 0xCF9); /* the PIIX3 reset control register */
	t8(&t, 0x06);		      /* system reset, CPU reset */
	t8(&t, 0);
	t16(&t, 0);
	t64(&t, 0); /* X_FIRMWARE_CTRL: only for a FACS above 4 GiB */
	t64(&t, ACPI_DSDT);
	gas(&t, GAS_IO, 32, 2, pm + ACPIPM_PM1_EVT);
	gas(&t, 0, 0, 0, 0);
	gas(&t, GAS_IO, 16, 2, pm + ACPIPM_PM1_CNT);
	gas(&t, 0, 0, 0, 0);
	gas(&t, 0, 0, 0, 0);
	gas(&t, GAS_IO, 32, 3, pm + ACPIPM_PM_TMR);
	gas(&t, 0, 0, 0, 0);
	gas(&t, 0, 0, 0, 0);
	acpi_put(m, &t, ACPI_FADT);
}

static void put_facs(Machine *m)
{
	Table t = {0};

	tstr(&t, "FACS", 4);
	t32(&t, 64);
	tput(&t, 24); /* hardware signature, waking vectors, global lock, flags: 0 */
	t8(&t, 1);    /* version */
	tput(&t, 31);
	loader_put(m, ACPI_FACS, t.b, t.len);
}

static void put_madt(Machine *m)
{
	Table t = {0};

	acpi_header(&t, "APIC", 1);
	t32(&t, LAPIC_BASE_ADDR);
	t32(&t, 1); /* PCAT_COMPAT: the 8259s are there too */
	/* Processor local APIC: UID 0, APIC ID 0, enabled. */
	t8(&t, 0);
	t8(&t, 8);
	t8(&t, 0);
	t8(&t, 0);
	t32(&t, 1);
	/* The IOAPIC: GSIs 0-23. */
	t8(&t, 1);
	t8(&t, 12);
	t8(&t, IOAPIC_ID);
	t8(&t, 0);
	t32(&t, IOAPIC_BASE_ADDR);
	t32(&t, 0);
	/* Interrupt source overrides: IRQ 0 on GSI 2; the SCI level, high. */
	for (int i = 0; i < 2; i++) {
		t8(&t, 2);
		t8(&t, 10);
		t8(&t, 0); /* ISA */
		t8(&t, i == 0 ? 0 : PC_SCI_IRQ);
		t32(&t, i == 0 ? 2 : PC_SCI_IRQ);
		t16(&t, i == 0 ? 0 : SCI_FLAGS);
	}
	/* Local APIC NMI: LINT1 of every processor. */
	t8(&t, 4);
	t8(&t, 6);
	t8(&t, 0xFF);
	t16(&t, 0);
	t8(&t, 1);
	acpi_put(m, &t, ACPI_MADT);
}

static void put_hpet(Machine *m)
{
	Table t = {0};

	acpi_header(&t, "HPET", 1);
	/* Its ID is its capabilities register's low half (spec 1.0a, 3.2.4). */
	t32(&t, m->memory ? (uint32_t)as_read(m->memory, HPET_BASE_ADDR, 4) : 0);
	gas(&t, GAS_MEMORY, 64, 0, HPET_BASE_ADDR);
	t8(&t, 0);    /* HPET number */
	t16(&t, 128); /* minimum clock ticks in periodic mode */
	t8(&t, 0);    /* no page protection */
	acpi_put(m, &t, ACPI_HPET);
}

static void put_acpi(Machine *m)
{
	static const uint32_t tables[] = {ACPI_FADT, ACPI_MADT, ACPI_HPET};
	Table rsdt = {0}, dsdt = {0}, rsdp = {0};

	_Static_assert(ACPI_END <= FW_ACPI_END, "ACPI tables overflow their area");
	put_fadt(m);
	put_facs(m);
	put_madt(m);
	put_hpet(m);
	/* An empty DSDT: no devices to describe, no sleep states. */
	acpi_header(&dsdt, "DSDT", 1);
	acpi_put(m, &dsdt, ACPI_DSDT);
	acpi_header(&rsdt, "RSDT", 1);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		t32(&rsdt, tables[i]);
	acpi_put(m, &rsdt, ACPI_RSDT);
	/* ACPI 1.0's RSDP (revision 0): the RSDT only. */
	tstr(&rsdp, "RSD PTR ", 8);
	t8(&rsdp, 0);
	tstr(&rsdp, ACPI_OEM, 6);
	t8(&rsdp, 0);
	t32(&rsdp, ACPI_RSDT);
	checksum(rsdp.b, rsdp.len, 8);
	loader_put(m, ACPI_RSDP, rsdp.b, rsdp.len);
}

void firmware_tables(Machine *m)
{
	put_ivt(m);
	put_bda(m);
	put_mp(m);
	put_acpi(m);
}

/* ---- devices ---------------------------------------------------------- */

static void outb(Machine *m, uint16_t port, uint8_t v)
{
	as_write(m->io, port, v, 1);
}

static void mmio32(Machine *m, uint32_t addr, uint32_t v)
{
	as_write(m->memory, addr, v, 4);
}

void firmware_devices(Machine *m)
{
	static const uint8_t pic[][2] = {
	    {0x20, 0x11}, {0x21, 0x08}, {0x21, 0x04}, {0x21, 0x01}, /* master */
	    {0xA0, 0x11}, {0xA1, 0x70}, {0xA1, 0x02}, {0xA1, 0x01}, /* slave */
	    {0x21, 0xF8}, {0xA1, 0xFE},				    /* IRQ 0, 1, 2, 8 open */
	};

	for (size_t i = 0; i < ARRAY_SIZE(pic); i++)
		outb(m, pic[i][0], pic[i][1]);
	outb(m, 0x4D1, 1u << (PC_SCI_IRQ - 8)); /* ELCR: the SCI is level-triggered */
	outb(m, 0x43, 0x36);			/* channel 0, mode 3, both bytes */
	outb(m, 0x40, 0);			/* 65536: 18.2 Hz */
	outb(m, 0x40, 0);
	mmio32(m, LAPIC_BASE_ADDR + 0xF0, 0x1FF);   /* SVR: enabled, spurious 0xFF */
	mmio32(m, LAPIC_BASE_ADDR + 0x350, 0x8700); /* LINT0: ExtINT */
	mmio32(m, LAPIC_BASE_ADDR + 0x360, 0x0400); /* LINT1: NMI */
	mmio32(m, IOAPIC_BASE_ADDR, 0);		    /* IOREGSEL: ID */
	mmio32(m, IOAPIC_BASE_ADDR + 0x10, IOAPIC_ID << 24);
	as_write(m->io, PC_ACPI_PM_BASE + ACPIPM_PM1_CNT, 1, 2); /* SCI_EN */
}
