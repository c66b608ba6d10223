/*
 * guest.h - the runtime shared by Flashback's bare-metal i386 guests.
 *
 * A guest is a multiboot v1 ELF loaded at 1 MiB.  start.asm sets up a stack
 * and calls guest_main(); the library gives it a flat GDT, an IDT whose
 * exception stubs report faults on COM1, the 8259 PICs, the 8254 PIT, the
 * 16550A UART, PCI configuration space, the ATA disk and the isa-debug-exit
 * port (0xF4: writing v ends the emulator with status (v << 1) | 1).
 */
#ifndef GUEST_H
#define GUEST_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed int s32;
typedef unsigned int size_t;

#define NULL	      ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define bool _Bool
#define true 1
#define false 0

/* ---- port I/O ---- */
static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
/* A write to an unused port: a short delay for slow ISA devices. */
static inline void io_delay(void)
{
	outb(0x80, 0);
}

static inline void cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}
static inline void sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}
static inline void hlt(void)
{
	__asm__ volatile("hlt" ::: "memory");
}
/* STI's interrupt shadow makes "sti; hlt" atomic: no wake-up is lost. */
static inline void sti_hlt(void)
{
	__asm__ volatile("sti; hlt" ::: "memory");
}
static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline u32 read_cr0(void)
{
	u32 v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}
static inline u32 read_cr2(void)
{
	u32 v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}
static inline u32 read_cr3(void)
{
	u32 v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}
static inline void write_cr0(u32 v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}
static inline void write_cr3(u32 v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}
static inline void invlpg(u32 va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/* ---- entry, exit ---- */
#define MULTIBOOT_MAGIC 0x2BADB002u
extern u32 multiboot_magic, multiboot_info;
/* Each guest defines this; returning from it exits with its value. */
int guest_main(void);
/* Write @code to the isa-debug-exit port: the emulator exits with status
 * (code << 1) | 1.  Halts forever if no such device is there. */
__attribute__((noreturn)) void exit_guest(u32 code);
/* Exit code used when an exception nobody handles arrives (status 0xFF). */
#define EXIT_EXCEPTION 0x7F

/* ---- strings ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* ---- UART (COM1, 0x3F8, IRQ 4) ---- */
#define COM1 0x3F8
enum {
	UART_RBR = 0,
	UART_THR = 0,
	UART_DLL = 0,
	UART_IER = 1,
	UART_DLM = 1,
	UART_IIR = 2,
	UART_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7
};
#define LSR_DR	 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
void serial_init(void);
void serial_putc(char c); /* polled; '\n' becomes "\r\n" */
void serial_puts(const char *s);
int serial_getc_nowait(void); /* -1 if nothing is waiting */
void serial_flush(void);      /* waits until the transmitter is empty */

/* ---- printf: %d %i %u %x %X %s %c %p %%, '0' / '-' flags and a width ---- */
typedef __builtin_va_list va_list;
#define va_start(ap, last) __builtin_va_start(ap, last)
#define va_arg(ap, type)   __builtin_va_arg(ap, type)
#define va_end(ap)	   __builtin_va_end(ap)
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);

/* ---- descriptor tables and interrupts ---- */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
/* What the common interrupt stub pushes (see isr.asm), lowest address first. */
struct regs {
	u32 edi, esi, ebp, esp0, ebx, edx, ecx, eax; /* PUSHAD */
	u32 vector, error;
	u32 eip, cs, eflags; /* pushed by the CPU */
};
typedef void (*isr_fn)(struct regs *r);
/* Loads the GDT and the IDT (all 256 vectors have stubs). */
void cpu_init(void);
/* Routes @vector to @fn (NULL: the default, fatal for exceptions). */
void set_isr(int vector, isr_fn fn);
/* Number of interrupts the library dropped for lack of a handler. */
extern volatile u32 unhandled_irqs;

/* ---- 8259A PICs: IRQ n arrives at vector IRQ_BASE + n ---- */
#define IRQ_BASE 0x20
void pic_init(void);	  /* remap to 0x20-0x2F, everything masked */
void pic_unmask(int irq); /* (also opens the cascade for 8-15) */
void pic_mask(int irq);
void pic_eoi(int irq);
u16 pic_read_isr(void);
u16 pic_read_irr(void);
u16 pic_read_mask(void);
/* An IRQ handler; the library sends the EOI after it returns. */
void set_irq(int irq, isr_fn fn);

/* ---- 8254 PIT, channel 0 on IRQ 0 ---- */
#define PIT_HZ 1193182u
/* Starts channel 0 at @hz (mode 2) with a handler that counts timer_ticks. */
void timer_start(u32 hz);
void timer_stop(void);
extern volatile u32 timer_ticks;
/* Called from the tick handler after timer_ticks is incremented. */
extern void (*timer_hook)(void);
/* Latches and reads the count of channel @ch. */
u16 pit_read_count(int ch);
/* Halts until *@flag is nonzero or @ticks timer ticks pass (0: no limit;
 * the limit needs timer_start()).  Returns true if the flag was set.
 * Interrupts are enabled when it returns. */
bool wait_flag(volatile int *flag, u32 ticks);

/* ---- PCI configuration mechanism #1 ---- */
#define PCI_BDF(b, d, f) (((b) << 8) | ((d) << 3) | (f))
u32 pci_read32(int bdf, int off);
u16 pci_read16(int bdf, int off);
u8 pci_read8(int bdf, int off);
void pci_write32(int bdf, int off, u32 v);
void pci_write16(int bdf, int off, u16 v);
/* The first function on bus 0 with this class/subclass, or -1. */
int pci_find_class(u8 cls, u8 subclass);

/* ---- ATA, primary channel master (0x1F0, 0x3F6, IRQ 14) ---- */
#define ATA_SECTOR 512
/* Returns 0 or a negative error (-1 time out, -2 device error). */
int ata_identify(u16 id[256]);
int ata_pio_read(u32 lba, int count, void *buf);
int ata_pio_write(u32 lba, int count, const void *buf);
int ata_flush(void);
/* Finds the PIIX IDE function, enables I/O decoding and bus mastering and
 * returns the bus-master base from BAR4 (0 if there is none). */
u16 ata_dma_init(void);
/* READ DMA of @count sectors at @lba into @buf (physically contiguous, must
 * not cross a 64 KiB boundary), waiting for IRQ 14 with HLT.  Needs
 * pic_init(); @timeout_ticks needs timer_start().  */
int ata_dma_read(u32 lba, int count, void *buf, u32 timeout_ticks);

/* ---- paging: 4 KiB pages, identity map of the low 8 MiB ---- */
#define PTE_P  0x001
#define PTE_W  0x002
#define PTE_A  0x020
#define PTE_D  0x040
#define CR0_WP 0x00010000u
#define CR0_PG 0x80000000u
/* Builds the identity map; does not enable paging. */
void paging_init(void);
/* Maps virtual page @va to @pa with @flags (PTE_P...), allocating page
 * tables from a small pool; returns the PTE. */
u32 *paging_map(u32 va, u32 pa, u32 flags);
u32 *paging_pte(u32 va); /* NULL if no page table covers @va */
void paging_enable(void);
void paging_disable(void);

/* ---- checks: print "PASS name" / "FAIL name: ..." ---- */
extern int check_failures;
/* Prints "FAIL: <message>" if !@ok; returns @ok. */
bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "PASS @name" and returns 0, or "FAIL @name (n checks)" and 1. */
int check_done(const char *name);

#endif
