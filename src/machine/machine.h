/*
 * machine.h - the PC: options, assembly of devices and memory, loaders and
 * the main loop.
 *
 * A Machine is built from MachineOptions (the QEMU-style command line),
 * loads its guest (multiboot / Linux kernel, BIOS image, disk) and runs the
 * single-threaded loop: CPU slices up to the next deadline, host descriptor
 * polling, timers and bottom halves.
 */
#ifndef FB_MACHINE_H
#define FB_MACHINE_H

#include "../base/base.h"
#include "../memory/memory.h"
#include "../devices/devices.h"
#include "../exec/cpu.h"

enum serial_kind { SERIAL_STDIO, SERIAL_FILE, SERIAL_NULL };
/* -display: the text screen in the terminal (curses), nowhere (none), or
 * curses when stdout is a terminal that -serial leaves free (auto). */
enum display_kind { DISPLAY_AUTO, DISPLAY_NONE, DISPLAY_CURSES };

/* The four IDE positions: index 0-1 primary master/slave, 2-3 secondary. */
#define MACHINE_DRIVES 4
enum snapshot_mode { SNAPSHOT_DEFAULT, SNAPSHOT_ON, SNAPSHOT_OFF };
typedef struct DriveOptions {
	const char *file;	     /* NULL: no drive at this index */
	bool cdrom;		     /* media=cdrom: an ATAPI CD-ROM (-cdrom) */
	enum snapshot_mode snapshot; /* snapshot=on|off; default: see snapshot_default */
	const char *spelling;	     /* the option that gave it, for messages ("-hdb", "-drive") */
} DriveOptions;

typedef struct MachineOptions {
	const char *kernel, *initrd, *append, *bios;
	DriveOptions drives[MACHINE_DRIVES];
	/* -snapshot: every disk keeps its writes in memory.  snapshot_default:
	 * what a disk without snapshot= does (record sets it: a recording
	 * never changes the user's image unless snapshot=off says so). */
	bool snapshot_all, snapshot_default;
	bool no_vga;		/* -vga none */
	const char *boot_order; /* -boot: "c", "d", "dc", ... (NULL: c) */
	enum display_kind display;
	uint64_t ram_mb;	/* -m */
	enum serial_kind serial;
	const char *serial_path; /* -serial file:PATH */
	int gdb_port;		/* -gdb tcp::PORT or -s (1234); 0 = none */
	const char *gdb_host;	/* -gdb tcp:HOST:PORT; NULL = 127.0.0.1 */
	bool gdb_wait;		/* -S */
	int icount_shift;	/* -icount shift=N */
	int64_t rtc_base;	/* -rtc base=...: seconds since the epoch */
	bool no_reboot;
	uint64_t max_insns;	/* --max-insns, 0 = no limit */
	bool dump_mtree;	/* --dump-mtree: print the memory tree and exit */
	bool stats;		/* --stats: print icount and virtual time at the end */
	/* A kernel image already in memory (the embedded demo) instead of -kernel. */
	const uint8_t *kernel_image;
	size_t kernel_image_len;
	/* A disk image already in memory instead of -hda (the demo). */
	const uint8_t *disk_image;
	size_t disk_image_len;
} MachineOptions;

/* Where the PC's ACPI power-management registers are (PIIX4's PMBA as
 * QEMU's firmware sets it) and the ISA line of the SCI: the FADT says so. */
#define PC_ACPI_PM_BASE 0x600
#define PC_SCI_IRQ	9

/* The largest -m we accept: RAM stays below the PCI/APIC hole at 3.5 GiB. */
#define MACHINE_MAX_RAM_MB 3584u

/* How a run ended. */
enum run_end {
	RUN_EXIT,	/* guest exited (isa-debug-exit, power off): see exit_status */
	RUN_MAX_INSNS,	/* --max-insns reached, or a halt reached its bound */
	RUN_RESET,	/* guest reset with -no-reboot, or before running an instruction */
	RUN_QUIT,	/* the user quit (Ctrl-A x) */
	RUN_HALT,	/* the CPU halted with nothing left to wake it */
	RUN_SIGNAL,	/* SIGINT or SIGTERM */
};

typedef struct Machine Machine;

/* ---- observers (the recorder, src/replay/record.c) ----------------------
 * Given to machine_new() with the options, so nothing has to be set up
 * before it in a particular order.  bus: the live bus before the CPU is
 * created, to wrap.  reset: at the end of machine_reset(), once RAM and the
 * CPU hold the reloaded guest.  a20: the A20 gate changed (after the CPU
 * follows it).  Any may be NULL.
 */
typedef struct MachineObserver {
	void *opaque;
	void (*bus)(void *opaque, Machine *m, CPUBus *bus);
	void (*reset)(void *opaque, Machine *m);
	void (*a20)(void *opaque, bool on);
} MachineObserver;

typedef struct Machine {
	MachineOptions opt;
	CPU *cpu;
	MemoryRegion *sysmem, *sysio; /* roots of the two address spaces */
	AddressSpace *memory, *io;
	DMATarget *dma; /* devices' way into RAM (the recorder hooks it) */
	Clock *clock;	/* the virtual clock its devices and loop read */
	MemoryRegion *ram;
	uint8_t *ram_host;
	uint64_t ram_size;
	PIC *pic;
	PIT *pit;
	UART *uart;
	RTC *rtc;
	KBD *kbd;
	Port92 *port92;
	DebugPorts *debug;
	LAPIC *lapic;
	IOAPIC *ioapic;
	HPET *hpet;
	ACPIPM *acpipm;
	PCIBus *pci;
	ATA *ata;
	ATADrive drives[MACHINE_DRIVES]; /* the media, mapped (pc.c) */
	uint8_t *disk_copy;		 /* the demo's disk, copied */
	VGA *vga;			 /* NULL with -vga none */
	uint8_t *vga_rom;		 /* the VGA BIOS, or NULL */
	size_t vga_rom_len;
	struct Display *display; /* the text screen in the terminal (display.c), or NULL */
	FILE *serial_out;
	bool reset_requested, exit_requested;
	int exit_status;
	enum run_end end;
	struct GdbStub *gdb;	/* the gdb stub (src/gdb/gdb.h), NULL without -gdb/-s */
	MachineObserver obs;	/* the recorder, or all NULL */
	/* pc.c's wiring, per machine: devices' requests, the ISA lines, the
	 * CPU's pins, FERR#, the PAM shadow aliases */
	MachineRequests req;
	IRQ isa_irq[16], cpu_pin, nmi_pin, ferr_line;
	MemoryRegion *pam_shadow[13];
} Machine;

/* Parse the MACHINE options in argv[0..argc); prints one line and exits 2 on error. */
void machine_options_parse(MachineOptions *o, int argc, char **argv);
void machine_options_usage(FILE *out);

/* Build the PC and load the guest; one line and exit 2 on a bad input file. */
/* @obs: NULL for a plain run. */
Machine *machine_new(const MachineOptions *o, const MachineObserver *obs);
void machine_free(Machine *m);
/* System reset: devices and CPU to power-on state, RAM cleared, guest reloaded. */
void machine_reset(Machine *m);
/* Run the main loop until the guest exits or halts for good, --max-insns,
 * reset with -no-reboot, SIGINT/SIGTERM, or the user quits.  Returns the
 * process exit status. */
int machine_run(Machine *m);
/*
 * Whether anything could still wake the halted CPU without its help: an
 * interrupt line that a device may raise (a timer armed for an enabled
 * event; COM1 input when @host_input) on a path the 8259 or the APICs
 * leave open, with IF set; or, whatever IF says, on an IOAPIC entry in NMI
 * mode.  Masks, lines in service and priorities change only by the CPU, so
 * the answer holds until the CPU runs again.  (gdb's "monitor nmi" is not
 * counted: a guest that waits for it must not halt for good meanwhile.)
 */
bool machine_can_wake(Machine *m, bool host_input);
/* An NMI on the PC's NMI line (the local APIC's LINT1), as QEMU's monitor
 * command "nmi" sends one. */
void machine_nmi(Machine *m);

/* ---- loaders (src/machine/loader_*.c) ----------------------------------
 * Each returns false with a one-line reason naming the file in @err (256
 * bytes) when the image is not what it must be.
 */
/* A multiboot v1 kernel or a Linux bzImage, recognised by content. */
bool load_kernel(Machine *m, const char *name, const uint8_t *img, size_t len,
		 const uint8_t *initrd, size_t initrd_len, const char *cmdline, char *err);
/* A BIOS image mapped at the top of 4 GiB, its last 128 KiB also at 0xE0000. */
bool load_bios(Machine *m, const char *name, const uint8_t *img, size_t len, char *err);

#endif
