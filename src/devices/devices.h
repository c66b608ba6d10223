/*
 * devices.h - the PC's devices.
 *
 * Each device is one file in src/devices/ and is driven only through its
 * I/O ports or MMIO registers (registered as MMIO regions in the "io" or
 * "memory" address space root handed to its constructor), its interrupt
 * lines (IRQ, base.h) and the virtual clock (base.h).  No device reads host
 * time.  Devices reach guest RAM only through cpu_physical_memory_rw().
 *
 * Every device keeps its state in one struct; *_reset() puts it back to
 * the power-on state.
 *
 * While the CPU halts, the machine asks the devices whether anything could
 * still wake it (machine_can_wake(), pc.c): *_may_interrupt() says whether
 * a device may raise its interrupt line later without the CPU doing
 * anything (a timer armed for an enabled event, host input), the
 * controllers say whether a line would get through to the CPU now
 * (pic_line_open, ioapic_pin_open, lapic_may_interrupt).  Only the CPU
 * changes masks and in-service state, so these answers hold for the whole
 * halt.  They may err towards "yes", never towards "no".
 */
#ifndef FB_DEVICES_H
#define FB_DEVICES_H

#include "../base/base.h"
#include "../memory/memory.h"

/* ---- 8259A pair: master at 0x20, slave at 0xA0 (cascade on IR2), ELCR
 * at 0x4D0/0x4D1 ---- */
typedef struct PIC PIC;
PIC *pic_new(MemoryRegion *io, const IRQ *cpu_intr);
/* Power-on state: both chips uninitialised, driving no INT until the guest
 * has written their ICW1..ICW4 sequences. */
void pic_reset(PIC *p);
/* Input line @n (0-15); IRQ 2 is the cascade and is wired to IRQ 9 as on PC/AT. */
const IRQ *pic_irq(PIC *p, int n);
/* The INTA cycle: the vector to deliver (spurious IRQ 7/15 if none). */
int pic_intack(PIC *p);
/* Whether the master's INT output is asserted. */
bool pic_int_output(PIC *p);
/* Whether a request on input @n (0-15) would raise INT now: not masked, no
 * line of higher or equal priority in service, the cascade open for 8-15. */
bool pic_line_open(PIC *p, int n);

/* ---- 8254 PIT at 0x40-0x43 (1.193182 MHz), channel 0 drives @irq0;
 * port 0x61 (channel 2 gate, speaker enable, OUT2 and refresh toggle) ---- */
typedef struct PIT PIT;
PIT *pit_new(MemoryRegion *io, Clock *clk, const IRQ *irq0);
void pit_reset(PIT *p);
/* Whether channel 0 has an OUT edge ahead (IRQ 0 may rise). */
bool pit_may_interrupt(PIT *p);

/* ---- 16550A UART ---- */
typedef struct UART UART;
typedef void UARTOutFn(void *opaque, uint8_t byte);
UART *uart_new(MemoryRegion *io, Clock *clk, uint16_t base, const IRQ *irq, UARTOutFn *out,
	       void *opaque);
void uart_reset(UART *u);
/* Host input: how many bytes the receive FIFO can take now, and deliver them. */
int uart_can_receive(UART *u);
void uart_receive(UART *u, const uint8_t *buf, int len);
/* Whether the UART may raise its IRQ on its own: the character timeout is
 * armed, or @host_input (bytes may still arrive), with the receive
 * interrupts enabled. */
bool uart_may_interrupt(UART *u, bool host_input);

/* ---- MC146818 CMOS/RTC at 0x70/0x71, IRQ 8 ---- */
typedef struct RTC RTC;
/* @base_time: seconds since the Unix epoch the clock reads at virtual time 0. */
RTC *rtc_new(MemoryRegion *io, Clock *clk, const IRQ *irq8, int64_t base_time);
void rtc_reset(RTC *r);
/* Set a CMOS byte (0-127), e.g. the memory size bytes written by the machine. */
void rtc_set_cmos(RTC *r, int index, uint8_t value);
/* Whether IRQ 8 may rise: an update, alarm or periodic interrupt is enabled
 * and its timer armed, and the line is low (it stays high, with no new
 * edge, until the CPU reads register C). */
bool rtc_may_interrupt(RTC *r);

/* ---- i8042 keyboard controller at 0x60/0x64, IRQ 1 (keyboard), IRQ 12 ---- */
typedef struct KBD KBD;
KBD *kbd_new(MemoryRegion *io, const MachineRequests *req, const IRQ *irq1, const IRQ *irq12);
void kbd_reset(KBD *k);
/* A set-1 scancode byte from the host keyboard. */
void kbd_put_scancode(KBD *k, uint8_t code);

/* ---- port 0x92 (System Control Port A: fast A20, fast reset) ---- */
typedef struct Port92 Port92;
Port92 *port92_new(MemoryRegion *io, const MachineRequests *req);
void port92_reset(Port92 *p);

/* ---- debug ports: 0x80 POST code, 0xE9 and 0x402 debug consoles, 0xF4
 * isa-debug-exit (exit status (value << 1) | 1) ---- */
typedef struct DebugPorts DebugPorts;
/* Bytes written to 0xE9 / 0x402 go to @out (may be NULL). */
DebugPorts *debugports_new(MemoryRegion *io, const MachineRequests *req, UARTOutFn *out,
			   void *opaque);
uint8_t debugports_post_code(DebugPorts *d);

/* ---- local APIC at 0xFEE00000 and IOAPIC at 0xFEC00000 ---- */
#define LAPIC_BASE_ADDR	 0xFEE00000u /* after reset; IA32_APIC_BASE moves it */
#define IOAPIC_BASE_ADDR 0xFEC00000u
#define IOAPIC_PINS	 24
typedef struct LAPIC LAPIC;
/* @cpu_intr is raised while the APIC has a deliverable interrupt; @nmi is
 * pulsed (raised, lowered) for each NMI it sends the CPU. */
LAPIC *lapic_new(MemoryRegion *memory, Clock *clk, const IRQ *cpu_intr, const IRQ *nmi);
void lapic_reset(LAPIC *a);
/* IA32_APIC_BASE MSR. */
uint64_t lapic_get_base(LAPIC *a);
void lapic_set_base(LAPIC *a, uint64_t value);
/* Whether the APIC has a fixed interrupt to deliver (above the TPR/PPR). */
bool lapic_has_interrupt(LAPIC *a);
/* Whether a fixed interrupt with @vector arriving now would be delivered
 * to the CPU (an illegal vector: the error interrupt it raises instead). */
bool lapic_would_deliver(LAPIC *a, int vector);
/* Whether the APIC timer may still interrupt the CPU: armed, its LVT entry
 * unmasked and its vector above the processor priority. */
bool lapic_may_interrupt(LAPIC *a);
/* Accept the highest pending interrupt: IRR -> ISR; returns its vector. */
int lapic_intack(LAPIC *a);
/* Deliver a fixed interrupt with @vector (from the IOAPIC or an IPI);
 * @level says whether the source is level-triggered (for the TMR). */
void lapic_deliver(LAPIC *a, int vector, bool level);
/* An NMI message (an IOAPIC entry in NMI mode): the CPU's NMI. */
void lapic_deliver_nmi(LAPIC *a);
/* The local interrupt pins LINT0 (@pin 0) and LINT1 (1), handled as their
 * LVT entries say; LINT1 is the PC's NMI line. */
const IRQ *lapic_lint(LAPIC *a, int pin);
/* Registers an EOI handler the IOAPIC uses to clear Remote IRR. */
void lapic_set_eoi_notify(LAPIC *a, void (*fn)(void *opaque, int vector), void *opaque);

typedef struct IOAPIC IOAPIC;
IOAPIC *ioapic_new(MemoryRegion *memory, LAPIC *lapic);
void ioapic_reset(IOAPIC *io);
/* Input pin @n (0-23). */
const IRQ *ioapic_irq(IOAPIC *io, int n);
/* Whether an interrupt on pin @n would reach the CPU now: unmasked, a
 * delivery mode that is delivered, no Remote IRR waiting for an EOI, and a
 * vector the local APIC would deliver. */
bool ioapic_pin_open(IOAPIC *io, int n);
/* Whether pin @n is unmasked in NMI mode: a request on it is an NMI, which
 * gets through with interrupts disabled too. */
bool ioapic_pin_nmi(IOAPIC *io, int n);

/* ---- HPET at 0xFED00000: 100 MHz counter, 3 timers, legacy replacement ---- */
#define HPET_BASE_ADDR 0xFED00000u
typedef struct HPET HPET;
/*
 * @isa0 and @isa8 are ISA IRQ 0 and 8, which legacy replacement mode gives
 * to timers 0 and 1; @route[p] is IOAPIC pin p, NULL where a timer may not
 * be routed (the pins given make up Tn_INT_ROUTE_CAP).
 */
HPET *hpet_new(MemoryRegion *memory, Clock *clk, const IRQ *isa0, const IRQ *isa8,
	       const IRQ *const route[32]);
void hpet_reset(HPET *h);
/* The 8254's IRQ 0 (@n 0) and the RTC's IRQ 8 (@n 1) enter here: they
 * reach ISA IRQ 0 and 8 unless legacy replacement takes those lines. */
const IRQ *hpet_legacy_input(HPET *h, int n);
bool hpet_legacy_route(HPET *h);
/* Whether timer @n (0-2) may raise its line by itself (counter running,
 * interrupt enabled, a match ahead), and which: *@isa the ISA line (0 or 8,
 * legacy replacement) or -1, *@pin the IOAPIC pin of its route or -1. */
bool hpet_may_interrupt(HPET *h, int n, int *isa, int *pin);
#define HPET_NUM_TIMERS 3

/* ---- ACPI fixed power-management registers (PIIX4 style): PM1a event and
 * control blocks, the 3.579545 MHz PM timer, the SCI ---- */
#define ACPIPM_PM1_EVT 0 /* offsets from the base: PM1_STS, PM1_EN */
#define ACPIPM_PM1_CNT 4
#define ACPIPM_PM_TMR  8
typedef struct ACPIPM ACPIPM;
ACPIPM *acpipm_new(MemoryRegion *io, Clock *clk, uint16_t base, const IRQ *sci);
void acpipm_reset(ACPIPM *p);
/* Whether the SCI may rise by itself (the PM timer's overflow enabled). */
bool acpipm_may_interrupt(ACPIPM *p);

/* ---- PCI host bridge: config mechanism #1 at 0xCF8/0xCFC ---- */
typedef struct PCIBus PCIBus;
typedef struct PCIDevice PCIDevice;
/* Config-space callbacks of a device; NULL means plain 256-byte storage. */
typedef struct PCIDeviceOps {
	uint32_t (*config_read)(PCIDevice *d, int offset, int size);
	void (*config_write)(PCIDevice *d, int offset, uint32_t value, int size);
} PCIDeviceOps;
struct PCIDevice {
	PCIBus *bus;
	int devfn;		/* device << 3 | function */
	uint8_t config[256];
	uint32_t wmask[64];	/* writable bits of each config dword */
	const PCIDeviceOps *ops;
	void *opaque;
	/* Called after a BAR or the command register changes. */
	void (*bars_changed)(PCIDevice *d);
	uint8_t power_on[256]; /* config as the machine built it (pci_mark_power_on) */
};
PCIBus *pci_new(MemoryRegion *io, const MachineRequests *req);
/* Adds the host bridge (00:00.0) and the ISA bridge (00:01.0). */
PCIDevice *pci_add(PCIBus *bus, int devfn, uint16_t vendor, uint16_t device, uint32_t class_rev,
		   const PCIDeviceOps *ops, void *opaque);
/* Declares BAR @n as I/O of @size bytes (writable bits follow). */
void pci_declare_io_bar(PCIDevice *d, int n, uint32_t size);
/* The I/O base BAR @n decodes, or 0 if I/O decoding is off. */
uint32_t pci_io_bar(PCIDevice *d, int n);
/* Declares an expansion ROM BAR (0x30) of @size bytes (a power of two, at
 * least 2 KiB); writes to it call bars_changed. */
void pci_declare_rom_bar(PCIDevice *d, uint32_t size);
/* Where the expansion ROM shows, or 0 (disabled, memory decoding off, or
 * never placed). */
uint32_t pci_rom_bar(PCIDevice *d);
/* The device at @devfn, or NULL. */
PCIDevice *pci_find(PCIBus *bus, int devfn);
/* Subsystem vendor / ID (default: the device's own vendor and device ID). */
void pci_set_subsystem(PCIDevice *d, uint16_t vendor, uint16_t id);
/* Plain config storage with the write mask applied; config ops that
 * override only some registers fall back to these. */
uint32_t pci_default_config_read(PCIDevice *d, int offset, int size);
void pci_default_config_write(PCIDevice *d, int offset, uint32_t value, int size);
/* Called after one of the 440FX PAM registers (0x59-0x5F) changes. */
void pci_set_pam_hook(PCIBus *bus, void (*fn)(void *opaque, const uint8_t pam[7]), void *opaque);
/* Keep every device's configuration as it is now as its power-on state; the
 * machine calls this once, when all its devices are built. */
void pci_mark_power_on(PCIBus *bus);
/* System reset: the address latch, the reset control register and every
 * configuration space back to the power-on state, with bars_changed and the
 * PAM hook called for what that changes. */
void pci_reset(PCIBus *bus);

/* ---- the PIIX3 IDE controller: primary channel 0x1F0-0x1F7, 0x3F6, IRQ
 * 14; secondary 0x170-0x177, 0x376, IRQ 15; master and slave on each (drive
 * index 0-3: primary master, primary slave, secondary master, secondary
 * slave); bus-master DMA for both channels through PCI function 00:01.1 ---- */
typedef struct ATA ATA;
typedef struct ATADrive {
	uint8_t *media; /* the medium's bytes, NULL: no drive; a disk writes here */
	uint64_t size;	/* whole 512-byte sectors (disk) or 2048-byte ones (CD) count */
	bool cdrom;	/* an ATAPI CD-ROM (read only) instead of a hard disk */
} ATADrive;
/* @drives: four entries by drive index (NULL: no drives); @pci NULL: no bus
 * master; @dma: the machine's way into guest RAM. */
ATA *ata_new(MemoryRegion *io, Clock *clk, PCIBus *pci, DMATarget *dma, const IRQ *irq14,
	     const IRQ *irq15, const ATADrive drives[4]);
void ata_reset(ATA *a);
/* Whether a bus-master transfer is under way on @channel (0, 1): its end
 * raises IRQ 14 or 15. */
bool ata_may_interrupt(ATA *a, int channel);

/* ---- VGA: registers at 0x3B0-0x3DF, the text buffer in RAM at 0xB8000,
 * with a VGA BIOS a PCI display function (00:02.0) whose ROM holds it ---- */
typedef struct VGA VGA;
#define VGA_WINDOW_SIZE 0x20000 /* 0xA0000-0xBFFFF */
#define VGA_MAX_COLS	132
#define VGA_MAX_ROWS	60
/* What the screen shows, as the registers say now. */
typedef struct VGAText {
	bool text;	       /* an alphanumeric mode (else graphics) */
	uint32_t base;	       /* physical address of the window: 0xB8000 (colour) */
	unsigned cols, rows;   /* characters shown (at most VGA_MAX_*) */
	unsigned pitch;	       /* characters from one row to the next */
	uint32_t start;	       /* CRTC start address: first character shown */
	uint32_t cursor;       /* CRTC cursor location (characters from the window) */
	bool cursor_on;	       /* cursor shape not disabled */
	const uint8_t *memory; /* host view of the window at base (char, attribute pairs) */
	uint32_t memory_size;  /* bytes from base to the end of the legacy window */
} VGAText;
/* @window: the host view of guest RAM at 0xA0000 (128 KiB), which the CPU
 * writes directly.  @rom (may be NULL): a VGA BIOS for the system BIOS to
 * find through the PCI function's expansion ROM. */
VGA *vga_new(MemoryRegion *io, Clock *clk, MemoryRegion *sysmem, const uint8_t *window, PCIBus *pci,
	     const uint8_t *rom, size_t rom_len);
void vga_reset(VGA *v);
void vga_text_state(VGA *v, VGAText *t);

#endif
