/*
 * pc.c - assembling the PC: memory map, devices, interrupt wiring, the CPU's
 * bus, and loading the guest.
 *
 * Interrupt wiring follows the PC/AT with an APIC: each ISA line goes both to
 * its 8259 input and to the IOAPIC pin of the same number (IRQ 0 to pin 2,
 * as firmware tables describe it).  The 8254's IRQ 0 and the RTC's IRQ 8
 * pass through the HPET, whose legacy replacement route takes those two
 * lines for its timers 0 and 1; its other routes are IOAPIC pins 20-23,
 * which no ISA line uses.  The ACPI SCI is ISA IRQ 9, level-triggered.
 * The CPU's INTR pin is the OR of the master 8259's output and the local
 * APIC's "interrupt deliverable" line; at INTA the local APIC is asked
 * first.  The CPU's NMI input is the local APIC's NMI output (NMI IPIs,
 * IOAPIC NMI entries, LINT1); LINT1 carries the PC's NMI line, which only
 * machine_nmi() (gdb's "monitor nmi") drives: no device of this PC raises a
 * parity or channel-check NMI.
 */
#include "loader.h"
#include "display.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The machine being run, for a stop signal (signals are the process's). */
static Machine *signalled;

/* ---- requests from devices -------------------------------------------- */

static void hook_reset(void *opaque)
{
	Machine *m = opaque;

	m->reset_requested = true;
	cpu_request_exit(m->cpu);
}

static void hook_exit(void *opaque, int status)
{
	Machine *m = opaque;

	if (!m->exit_requested) {
		m->exit_requested = true;
		m->exit_status = status;
	}
	cpu_request_exit(m->cpu);
}

static void hook_set_a20(void *opaque, bool on)
{
	Machine *m = opaque;

	cpu_set_a20(m->cpu, on);
	if (m->obs.a20)
		m->obs.a20(m->obs.opaque, on);
}

static void signal_kick(void)
{
	if (signalled)
		cpu_request_exit(signalled->cpu);
}

/* A timer became the earliest, or a bottom half is due: end the slice. */
static void clock_kick(void *opaque)
{
	Machine *m = opaque;

	cpu_request_exit(m->cpu);
}

/* ---- interrupt wiring -------------------------------------------------- */

static void update_intr(Machine *m)
{
	bool level = pic_int_output(m->pic) || lapic_has_interrupt(m->lapic);
	cpu_set_intr(m->cpu, level);
}

static void cpu_intr_changed(void *opaque, int n, int level)
{
	update_intr(opaque);
}

/* The CPU's NMI input latches a rising edge. */
static void cpu_nmi_edge(void *opaque, int n, int level)
{
	Machine *m = opaque;

	if (level)
		cpu_nmi(m->cpu);
}

void machine_nmi(Machine *m)
{
	irq_pulse(lapic_lint(m->lapic, 1));
}

/*
 * ISA line n -> 8259 input n and IOAPIC pin n (m->isa_irq); IRQ 0 (the
 * 8254) reaches IOAPIC pins 2 and 0.  Pin 2 is where our MADT's interrupt
 * source override (firmware.c) and QEMU put it; pin 0 is where SeaBIOS's MP
 * table says it is when no fw_cfg tells SeaBIOS of the override, so a
 * kernel booted by SeaBIOS on this machine finds its timer too.  A kernel
 * unmasks the one its tables name; the other stays masked.
 */

static void isa_irq_set(void *opaque, int n, int level)
{
	Machine *m = opaque;

	irq_set(pic_irq(m->pic, n), level);
	irq_set(ioapic_irq(m->ioapic, n == 0 ? 2 : n), level);
	if (n == 0)
		irq_set(ioapic_irq(m->ioapic, 0), level);
}

/*
 * x87 errors in MS-DOS compatibility mode, as on the PC/AT: the CPU's FERR#
 * going active sets a latch that drives IRQ 13; a write to port 0xF0
 * clears it.  (The IGNNE# that the same write asserts is the CPU's side:
 * see fpu_check_pending() in src/exec/system.c.)
 */
static void ferr_active(void *opaque, int n, int level)
{
	Machine *m = opaque;

	if (level)
		irq_raise(&m->isa_irq[13]);
}

static uint64_t ferr_port_read(void *opaque, uint64_t offset, unsigned size)
{
	return 0xff;
}

static void ferr_port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	Machine *m = opaque;

	irq_lower(&m->isa_irq[13]);
}

static const MemoryRegionOps ferr_port_ops = {ferr_port_read, ferr_port_write};

/* ---- can a halted CPU wake? ------------------------------------------------ */

/* Whether the device on ISA line @n may raise it by itself (the wiring of
 * build_devices()); the keyboard and FERR# lines rise only by what the CPU
 * does. */
static bool isa_line_may_rise(Machine *m, int n, bool host_input)
{
	switch (n) {
	case 0:
		return pit_may_interrupt(m->pit);
	case 4:
		return uart_may_interrupt(m->uart, host_input);
	case 8:
		return rtc_may_interrupt(m->rtc);
	case PC_SCI_IRQ:
		return acpipm_may_interrupt(m->acpipm);
	case 14:
		return ata_may_interrupt(m->ata, 0);
	case 15:
		return ata_may_interrupt(m->ata, 1);
	default:
		return false;
	}
}

/* Whether a request on ISA line @n (IOAPIC pin @pin, -1 for none) or on
 * IOAPIC pin @pin alone would get through: an NMI entry whatever IF says. */
static bool line_open(Machine *m, int n, int pin, bool intr)
{
	if (pin >= 0 && ioapic_pin_nmi(m->ioapic, pin))
		return true;
	if (!intr)
		return false;
	return (n >= 0 && pic_line_open(m->pic, n)) ||
	       (pin >= 0 && ioapic_pin_open(m->ioapic, pin));
}

bool machine_can_wake(Machine *m, bool host_input)
{
	bool intr = cpu_get_eflags(m->cpu) & F_IF;

	if (intr && lapic_may_interrupt(m->lapic))
		return true;
	for (int n = 0; n < 16; n++) {
		/* The HPET's legacy route leaves the 8254 and the RTC unheard. */
		if ((n == 0 || n == 8) && hpet_legacy_route(m->hpet))
			continue;
		if (isa_line_may_rise(m, n, host_input) && line_open(m, n, n == 0 ? 2 : n, intr))
			return true;
	}
	for (int t = 0; t < HPET_NUM_TIMERS; t++) {
		int isa, pin;

		if (!hpet_may_interrupt(m->hpet, t, &isa, &pin))
			continue;
		if (isa >= 0 && line_open(m, isa, isa == 0 ? 2 : isa, intr))
			return true;
		if (isa < 0 && line_open(m, -1, pin, intr))
			return true;
	}
	return false;
}

/* ---- the CPU's bus: live devices ----------------------------------------
 * The recorder wraps these same functions; the replayer replaces them.
 */

static uint32_t bus_io_read(void *opaque, uint16_t port, unsigned size)
{
	Machine *m = opaque;
	return (uint32_t)as_read(m->io, port, size);
}

static void bus_io_write(void *opaque, uint16_t port, uint32_t value, unsigned size)
{
	Machine *m = opaque;
	as_write(m->io, port, value, size);
}

static uint64_t bus_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
	Machine *m = opaque;
	return as_read(m->memory, addr, size);
}

static void bus_mmio_write(void *opaque, uint64_t addr, uint64_t value, unsigned size)
{
	Machine *m = opaque;
	as_write(m->memory, addr, value, size);
}

static int bus_intack(void *opaque)
{
	Machine *m = opaque;
	int vector;

	if (lapic_has_interrupt(m->lapic))
		vector = lapic_intack(m->lapic);
	else
		vector = pic_intack(m->pic);
	update_intr(m);
	return vector;
}

/* The TSC counts virtual nanoseconds: a 1 GHz clock, deterministic. */
static uint64_t bus_rdtsc(void *opaque)
{
	Machine *m = opaque;

	return (uint64_t)clock_ns(m->clock);
}

#define MSR_APIC_BASE 0x1b

static bool bus_rdmsr(void *opaque, uint32_t msr, uint64_t *value)
{
	Machine *m = opaque;

	if (msr != MSR_APIC_BASE)
		return false;
	*value = lapic_get_base(m->lapic);
	return true;
}

static bool bus_wrmsr(void *opaque, uint32_t msr, uint64_t value)
{
	Machine *m = opaque;

	if (msr != MSR_APIC_BASE)
		return false;
	lapic_set_base(m->lapic, value);
	return true;
}

/* ---- serial output --------------------------------------------------------- */

static void serial_out(void *opaque, uint8_t byte)
{
	Machine *m = opaque;

	if (m->serial_out)
		fputc(byte, m->serial_out);
}

/* The debug console (0xE9, 0x402) shares the serial output. */
static void debugcon_out(void *opaque, uint8_t byte)
{
	serial_out(opaque, byte);
}

/* ---- CMOS: what firmware reads to size memory -------------------------- */

/*
 * -boot: the devices the BIOS tries, as QEMU leaves them in CMOS for
 * SeaBIOS: 0x3D holds the first (bits 0-3) and second (4-7), 0x38 bits 4-7
 * the third; 1 floppy, 2 hard disk, 3 CD-ROM, 4 network.  The default is
 * the hard disk (QEMU's "cad" without a floppy).
 */
static void boot_order(Machine *m)
{
	const char *order = m->opt.boot_order ? m->opt.boot_order : "c";
	uint8_t nib[3] = {0, 0, 0};

	for (int i = 0; i < 3 && order[i]; i++)
		nib[i] = (uint8_t)(strchr("acdn", order[i]) - "acdn" + 1);
	rtc_set_cmos(m->rtc, 0x3d, (uint8_t)(nib[1] << 4 | nib[0]));
	rtc_set_cmos(m->rtc, 0x38, (uint8_t)(nib[2] << 4));
}

static void cmos_memory_size(Machine *m)
{
	uint64_t kb = m->ram_size / 1024;
	uint64_t ext_kb = kb > 1024 ? kb - 1024 : 0;
	uint64_t above16 = m->ram_size > (16u << 20) ? (m->ram_size - (16u << 20)) >> 16 : 0;

	if (ext_kb > 0xffff)
		ext_kb = 0xffff;
	if (above16 > 0xffff)
		above16 = 0xffff;
	rtc_set_cmos(m->rtc, 0x15, 640 & 0xff); /* base memory, KB */
	rtc_set_cmos(m->rtc, 0x16, 640 >> 8);
	rtc_set_cmos(m->rtc, 0x17, ext_kb & 0xff); /* memory above 1 MiB, KB */
	rtc_set_cmos(m->rtc, 0x18, ext_kb >> 8);
	rtc_set_cmos(m->rtc, 0x30, ext_kb & 0xff);
	rtc_set_cmos(m->rtc, 0x31, ext_kb >> 8);
	rtc_set_cmos(m->rtc, 0x34, above16 & 0xff); /* above 16 MiB, 64 KB units */
	rtc_set_cmos(m->rtc, 0x35, above16 >> 8);
	boot_order(m);
}

/* ---- BIOS shadowing: the 440FX PAM registers ----------------------------
 *
 * PAM0 bits 4-5 govern 0xF0000-0xFFFFF; PAM1-6 govern 0xC0000-0xEFFFF in
 * 16 KiB pieces, low nibble first.  When a piece's read-enable bit is set,
 * reads go to DRAM instead of the BIOS ROM: we then lay an alias of RAM over
 * the piece, above the isa-bios window.  (Write-protect of shadowed DRAM is
 * not modelled: with read enabled, writes reach RAM too.)
 */
#define PAM_PIECES 13

_Static_assert(PAM_PIECES == ARRAY_SIZE(((Machine *)0)->pam_shadow), "Machine.pam_shadow");

static void pam_piece(int i, uint64_t *base, uint64_t *size)
{
	if (i == PAM_PIECES - 1) {
		*base = 0xf0000;
		*size = 0x10000;
	} else {
		*base = 0xc0000 + (uint64_t)i * 0x4000;
		*size = 0x4000;
	}
}

static void pam_changed(void *opaque, const uint8_t pam[7])
{
	Machine *m = opaque;
	int i;

	mr_begin_update(m->sysmem);
	for (i = 0; i < PAM_PIECES; i++) {
		uint8_t bits = i == PAM_PIECES - 1 ? pam[0] >> 4 : pam[1 + i / 2] >> (i % 2 * 4);
		bool dram = bits & 1;
		uint64_t base, size;

		pam_piece(i, &base, &size);
		if (dram && !m->pam_shadow[i]) {
			m->pam_shadow[i] = mr_alias("pam-ram", m->ram, base, size);
			mr_add(m->sysmem, m->pam_shadow[i], base, 10);
		} else if (!dram && m->pam_shadow[i]) {
			mr_remove(m->sysmem, m->pam_shadow[i]);
			mr_free(m->pam_shadow[i]);
			m->pam_shadow[i] = NULL;
		}
	}
	mr_commit_update(m->sysmem);
}

/* ---- building ------------------------------------------------------------ */

static void build_devices(Machine *m)
{
	const IRQ *hpet_route[32] = {0};
	int i;

	m->cpu_pin = (IRQ){cpu_intr_changed, m, 0};
	m->nmi_pin = (IRQ){cpu_nmi_edge, m, 0};
	for (i = 0; i < 16; i++)
		m->isa_irq[i] = (IRQ){isa_irq_set, m, i};

	m->pic = pic_new(m->sysio, &m->cpu_pin);
	m->lapic = lapic_new(m->sysmem, m->clock, &m->cpu_pin, &m->nmi_pin);
	m->ioapic = ioapic_new(m->sysmem, m->lapic);
	for (i = 20; i < IOAPIC_PINS; i++)
		hpet_route[i] = ioapic_irq(m->ioapic, i);
	m->hpet = hpet_new(m->sysmem, m->clock, &m->isa_irq[0], &m->isa_irq[8], hpet_route);
	m->pit = pit_new(m->sysio, m->clock, hpet_legacy_input(m->hpet, 0));
	m->kbd = kbd_new(m->sysio, &m->req, &m->isa_irq[1], &m->isa_irq[12]);
	m->uart = uart_new(m->sysio, m->clock, 0x3f8, &m->isa_irq[4], serial_out, m);
	m->rtc = rtc_new(m->sysio, m->clock, hpet_legacy_input(m->hpet, 1), m->opt.rtc_base);
	m->acpipm = acpipm_new(m->sysio, m->clock, PC_ACPI_PM_BASE, &m->isa_irq[PC_SCI_IRQ]);
	m->port92 = port92_new(m->sysio, &m->req);
	m->debug = debugports_new(m->sysio, &m->req, debugcon_out, m);
	m->pci = pci_new(m->sysio, &m->req);
	pci_set_pam_hook(m->pci, pam_changed, m);
	m->ata = ata_new(m->sysio, m->clock, m->pci, m->dma, &m->isa_irq[14], &m->isa_irq[15],
			 m->drives);
	if (!m->opt.no_vga)
		m->vga = vga_new(m->sysio, m->clock, m->sysmem, m->ram_host + 0xA0000, m->pci,
				 m->vga_rom, m->vga_rom_len);
	mr_add(m->sysio, mr_mmio("ferr", 1, &ferr_port_ops, m), 0xf0, 0);
	pci_mark_power_on(m->pci);
	cmos_memory_size(m);
}

static void open_serial(Machine *m)
{
	switch (m->opt.serial) {
	case SERIAL_STDIO:
		m->serial_out = stdout;
		break;
	case SERIAL_FILE:
		m->serial_out = fopen(m->opt.serial_path, "wb");
		if (!m->serial_out)
			fatal(EXIT_USAGE, "-serial file:%s: cannot create the file", m->opt.serial_path);
		break;
	case SERIAL_NULL:
		m->serial_out = NULL;
		break;
	}
}

/*
 * Open drive @i as its options say.  The image is mapped, not read: a disk
 * with snapshot off is mapped shared, so the guest's writes reach the
 * file (QEMU's default for run); with snapshot on (record's default, or
 * -snapshot, or snapshot=on) it is mapped private: writes stay in this
 * process's copy of the pages they touch, and the file never changes.  A
 * CD-ROM is read only.  Any problem is one line and exit 2.
 */
static void open_drive(Machine *m, int i)
{
	const DriveOptions *d = &m->opt.drives[i];
	bool snapshot =
	    d->cdrom || d->snapshot == SNAPSHOT_ON ||
	    (d->snapshot == SNAPSHOT_DEFAULT && (m->opt.snapshot_all || m->opt.snapshot_default));
	uint64_t unit = d->cdrom ? 2048 : 512;
	struct stat st;
	void *p;
	int fd = open(d->file, snapshot ? O_RDONLY : O_RDWR);

	if (fd < 0)
		fatal(EXIT_USAGE, "%s %s: cannot open%s: %s", d->spelling, d->file,
		      snapshot ? "" : " for writing (snapshot=on leaves it as it is)",
		      strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		fatal(EXIT_USAGE, "%s %s: not a regular file", d->spelling, d->file);
	}
	if (st.st_size == 0 || (uint64_t)st.st_size % unit != 0) {
		close(fd);
		fatal(EXIT_USAGE, "%s %s: size %lld is not a whole number of %llu-byte sectors%s",
		      d->spelling, d->file, (long long)st.st_size, (unsigned long long)unit,
		      d->cdrom ? " (an ISO 9660 image is)" : "");
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		 snapshot ? MAP_PRIVATE : MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		fatal(EXIT_USAGE, "%s %s: cannot map the image: %s", d->spelling, d->file,
		      strerror(errno));
	m->drives[i] = (ATADrive){p, (uint64_t)st.st_size, d->cdrom};
}

static void load_disks(Machine *m)
{
	const MachineOptions *o = &m->opt;

	for (int i = 0; i < MACHINE_DRIVES; i++)
		if (o->drives[i].file)
			open_drive(m, i);
	/* The demo's built-in disk: a private copy. */
	if (!o->drives[0].file && o->disk_image) {
		uint8_t *img = xmalloc(o->disk_image_len);

		memcpy(img, o->disk_image, o->disk_image_len);
		m->drives[0] = (ATADrive){img, o->disk_image_len, false};
		m->disk_copy = img;
	}
}

/*
 * The VGA BIOS: with -bios FILE, the SeaBIOS VGA BIOS for this adapter,
 * vgabios-stdvga.bin, from the same directory, as QEMU takes both from its
 * firmware directory (Debian: /usr/share/seabios).  It is what puts the
 * BIOS's messages, the boot loader's and the kernel's early ones on the
 * screen (INT 10h).  Without it the adapter works, but nothing answers
 * INT 10h; one line says so.
 */
static void load_vga_rom(Machine *m)
{
	const char *bios = m->opt.bios, *slash;
	char path[4096], err[256];
	size_t len;

	if (!bios || m->opt.no_vga)
		return;
	slash = strrchr(bios, '/');
	snprintf(path, sizeof(path), "%.*s%svgabios-stdvga.bin", slash ? (int)(slash - bios) : 0,
		 bios, slash ? "/" : "");
	if (access(path, F_OK) != 0) {
		warn("no VGA BIOS: %s is missing; the screen stays as the guest writes it", path);
		return;
	}
	m->vga_rom = read_file(path, &len, err);
	if (!m->vga_rom || len == 0 || len > (1u << 20))
		fatal(EXIT_USAGE, "VGA BIOS %s: %s", path, m->vga_rom ? "not a ROM image" : err);
	m->vga_rom_len = len;
}

/* Load (or, after a reset, reload) the guest into RAM and set the CPU. */
static void load_guest(Machine *m)
{
	const MachineOptions *o = &m->opt;
	uint8_t *kernel = NULL, *initrd = NULL;
	const uint8_t *kimg = o->kernel_image;
	size_t klen = o->kernel_image_len, ilen = 0;
	char err[256];

	cpu_reset(m->cpu);
	if (o->kernel) {
		kernel = read_file(o->kernel, &klen, err);
		if (!kernel)
			fatal(EXIT_USAGE, "-kernel %s", err);
		kimg = kernel;
	}
	if (o->initrd) {
		initrd = read_file(o->initrd, &ilen, err);
		if (!initrd)
			fatal(EXIT_USAGE, "-initrd %s", err);
	}
	if (kimg) {
		/* The machine as a BIOS leaves it (firmware.c), the kernel over it. */
		firmware_tables(m);
		if (!load_kernel(m, o->kernel ? o->kernel : "(built-in demo)", kimg, klen, initrd,
				 ilen, o->append ? o->append : "", err))
			fatal(EXIT_USAGE, "%s", err);
		firmware_devices(m);
	}
	free(kernel);
	free(initrd);
}

/*
 * The screen goes to the terminal with -display curses, and by default
 * when stdout is a terminal that -serial does not use (QEMU shows its
 * window then).  -display none and -nographic turn it off.
 */
static void open_display(Machine *m)
{
	bool on = m->opt.display == DISPLAY_CURSES ||
		  (m->opt.display == DISPLAY_AUTO && m->opt.serial != SERIAL_STDIO &&
		   isatty(STDOUT_FILENO));

	if (on && m->vga)
		m->display = display_new(m->vga, stdout);
}

Machine *machine_new(const MachineOptions *o, const MachineObserver *obs)
{
	Machine *m = xcalloc(1, sizeof(*m));
	CPUBus bus;
	char err[256];

	m->opt = *o;
	if (obs)
		m->obs = *obs;
	m->req = (MachineRequests){m, hook_reset, hook_exit, hook_set_a20};
	signalled = m;
	stop_signal_kick = signal_kick;

	if (!o->kernel && !o->kernel_image && !o->bios)
		fatal(EXIT_USAGE, "no guest to run: give -kernel FILE or -bios FILE (see --help)");
	if (o->kernel && o->bios)
		fatal(EXIT_USAGE,
		      "-kernel and -bios: a kernel is started directly, with the state "
		      "a BIOS leaves built for it, so no BIOS would run; give one of them");

	m->sysmem = mr_container("system", 1ull << 32);
	m->sysio = mr_container("io", 1u << 16);
	m->memory = as_new("memory", m->sysmem);
	m->io = as_new("I/O", m->sysio);
	m->dma = dma_target_new(m->memory);

	m->ram_size = o->ram_mb << 20;
	m->ram = mr_ram("pc.ram", m->ram_size);
	if (!m->ram)
		fatal(EXIT_USAGE, "-m %llu: the host cannot provide that much memory",
		      (unsigned long long)o->ram_mb);
	m->ram_host = mr_host(m->ram);
	mr_add(m->sysmem, m->ram, 0, 0);

	bus = (CPUBus){
		.opaque = m,
		.memory = m->memory,
		.io_read = bus_io_read,
		.io_write = bus_io_write,
		.mmio_read = bus_mmio_read,
		.mmio_write = bus_mmio_write,
		.intack = bus_intack,
		.rdtsc = bus_rdtsc,
		.rdmsr = bus_rdmsr,
		.wrmsr = bus_wrmsr,
	};
	if (m->obs.bus)
		m->obs.bus(m->obs.opaque, m, &bus);
	m->cpu = cpu_new(&bus);
	m->ferr_line = (IRQ){ferr_active, m, 0};
	cpu_set_ferr_line(m->cpu, &m->ferr_line);
	m->clock = clock_new(cpu_icount_ptr(m->cpu), o->icount_shift);
	clock_set_kick(m->clock, clock_kick, m);

	load_disks(m);
	if (o->bios) {
		size_t len;
		uint8_t *img = read_file(o->bios, &len, err);
		if (!img)
			fatal(EXIT_USAGE, "-bios %s", err);
		if (!load_bios(m, o->bios, img, len, err))
			fatal(EXIT_USAGE, "%s", err);
		free(img);
	}
	load_vga_rom(m);
	open_serial(m);
	build_devices(m);

	load_guest(m);
	open_display(m);
	return m;
}

/* A system reset: devices and CPU to power-on state, RAM cleared, guest reloaded. */
void machine_reset(Machine *m)
{
	ram_clear(m->ram);
	pic_reset(m->pic);
	pit_reset(m->pit);
	uart_reset(m->uart);
	rtc_reset(m->rtc);
	kbd_reset(m->kbd);
	port92_reset(m->port92);
	pci_reset(m->pci); /* the BIOS from ROM again: RAM, its shadow, is cleared */
	lapic_reset(m->lapic);
	ioapic_reset(m->ioapic);
	hpet_reset(m->hpet);
	acpipm_reset(m->acpipm);
	ata_reset(m->ata);
	if (m->vga)
		vga_reset(m->vga);
	cmos_memory_size(m);
	cpu_set_a20(m->cpu, true);
	load_guest(m);
	m->reset_requested = false;
	if (m->obs.reset)
		m->obs.reset(m->obs.opaque, m);
}

void machine_free(Machine *m)
{
	if (!m)
		return;
	if (m->serial_out && m->serial_out != stdout)
		fclose(m->serial_out);
	else if (m->serial_out)
		fflush(m->serial_out);
	for (int i = 0; i < MACHINE_DRIVES; i++)
		if (m->drives[i].media && m->drives[i].media != m->disk_copy)
			munmap(m->drives[i].media, (size_t)m->drives[i].size);
	free(m->disk_copy);
	free(m->vga_rom);
	cpu_free(m->cpu);
	dma_target_free(m->dma);
	if (signalled == m) {
		signalled = NULL;
		stop_signal_kick = NULL;
	}
	/* The address spaces and regions live until exit: the process ends here. */
	free(m);
}
