/*
 * uart.c - a 16550A serial port (COM1 is at 0x3F8, IRQ 4).
 *
 * Transmission is instant: each byte written to THR reaches the out
 * callback at once, so THR and the transmitter are always empty again by
 * the time the guest looks (THRE and TEMT stay set) and the output does not
 * depend on any timing.  Received bytes come from the host through
 * uart_receive() into a 16-byte FIFO; the character timeout runs on the
 * virtual clock.
 *
 * The IRQ output is not gated by MCR OUT2.  On a real PC the 16550's INTR
 * pin reaches the PIC through a buffer enabled by OUT2, but QEMU and Bochs,
 * the emulators guests are commonly tested on, deliver the interrupt
 * regardless, and small kernels and test programs that never set OUT2
 * would wait forever here while working there.
 */
#include "devices.h"

#define FIFO_SIZE     16
#define UART_CLOCK_HZ 115200u /* 1.8432 MHz / 16: the baud rate of divisor 1 */

/* Register offsets. */
enum { RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR };

/* LSR */
#define LSR_DR	   0x01
#define LSR_OE	   0x02
#define LSR_PE	   0x04
#define LSR_FE	   0x08
#define LSR_BI	   0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

/* IER */
#define IER_RDA	 0x01
#define IER_THRE 0x02
#define IER_RLS	 0x04
#define IER_MSI	 0x08

/* IIR interrupt identification, highest priority first. */
#define IIR_NONE    0x01
#define IIR_RLS	    0x06
#define IIR_RDA	    0x04
#define IIR_TIMEOUT 0x0c
#define IIR_THRE    0x02
#define IIR_MSI	    0x00
#define IIR_FIFO_ON 0xc0

/* FCR */
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

/* MCR */
#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

/* MSR */
#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_CTS	   0x10
#define MSR_DSR	   0x20
#define MSR_RI	   0x40
#define MSR_DCD	   0x80
#define MSR_DELTAS 0x0f

#define LCR_DLAB 0x80

/* FCR bits 7-6 choose the receive trigger level. */
static const int rx_trigger_levels[4] = {1, 4, 8, 14};

struct UART {
	Clock *clk; /* the machine's virtual clock */
	IRQ irq;
	UARTOutFn *out;
	void *opaque;
	Timer *timeout;
	uint16_t divisor;
	uint8_t ier, lcr, mcr, lsr, msr, scr;
	bool fifo_on;
	int rx_trigger;
	uint8_t rx[FIFO_SIZE];
	int rx_head, rx_count;
	uint8_t last_rx;      /* what RBR shows once the FIFO is empty */
	bool thr_ipending;    /* THRE interrupt waiting */
	bool timeout_pending; /* character timeout interrupt waiting */
	bool irq_level;
};

/* ---- interrupts --------------------------------------------------------- */

/* The source IIR reports now (IIR_NONE if none). */
static uint8_t uart_iir_source(const UART *u)
{
	if ((u->ier & IER_RLS) && (u->lsr & LSR_ERRORS))
		return IIR_RLS;
	if ((u->ier & IER_RDA) && u->timeout_pending)
		return IIR_TIMEOUT;
	if ((u->ier & IER_RDA) && u->rx_count >= (u->fifo_on ? u->rx_trigger : 1))
		return IIR_RDA;
	if ((u->ier & IER_THRE) && u->thr_ipending)
		return IIR_THRE;
	if ((u->ier & IER_MSI) && (u->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NONE;
}

static void uart_update_irq(UART *u)
{
	bool level = uart_iir_source(u) != IIR_NONE;

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_set(&u->irq, level);
	}
}

/* ---- the character timeout ------------------------------------------------ */

/* Nanoseconds of 4 character times at the current divisor and format. */
static int64_t timeout_ns(const UART *u)
{
	int data_bits = 5 + (u->lcr & 3);
	int parity = (u->lcr & 0x08) ? 1 : 0;
	/* Counted in half bits: 5-bit characters with "2 stop bits" use 1.5. */
	int stop_half = !(u->lcr & 0x04) ? 2 : data_bits == 5 ? 3 : 4;
	int half_bits = 2 * (1 + data_bits + parity) + stop_half;
	uint64_t divisor = u->divisor ? u->divisor : 65536;

	return (int64_t)(4 * (uint64_t)half_bits * divisor * 1000000000u / (2 * UART_CLOCK_HZ));
}

/* Restart the timeout: called whenever a byte enters or leaves the FIFO. */
static void timeout_restart(UART *u)
{
	u->timeout_pending = false;
	if (u->fifo_on && u->rx_count)
		timer_mod(u->timeout, clock_ns(u->clk) + timeout_ns(u));
	else
		timer_del(u->timeout);
}

static void timeout_fire(void *opaque)
{
	UART *u = opaque;

	if (u->fifo_on && u->rx_count) {
		u->timeout_pending = true;
		uart_update_irq(u);
	}
}

/* ---- receive ---------------------------------------------------------- */

static void rx_clear(UART *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->lsr &= (uint8_t)~LSR_DR;
	timeout_restart(u);
}

static void rx_push(UART *u, uint8_t byte)
{
	int cap = u->fifo_on ? FIFO_SIZE : 1;

	if (u->rx_count == cap) {
		u->lsr |= LSR_OE;
		if (u->fifo_on)
			return; /* the byte in the shift register is lost */
		/* 16450 mode: the new character overwrites RBR. */
		u->rx[u->rx_head] = byte;
	} else {
		u->rx[(u->rx_head + u->rx_count) % FIFO_SIZE] = byte;
		u->rx_count++;
	}
	u->lsr |= LSR_DR;
	timeout_restart(u);
}

static uint8_t rx_pop(UART *u)
{
	if (u->rx_count) {
		u->last_rx = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
		u->rx_count--;
		if (!u->rx_count)
			u->lsr &= (uint8_t)~LSR_DR;
		timeout_restart(u);
	}
	return u->last_rx;
}

bool uart_may_interrupt(UART *u, bool host_input)
{
	/* A byte that overruns the FIFO is a line status interrupt. */
	if (host_input && (u->ier & (IER_RDA | IER_RLS)))
		return true;
	return (u->ier & IER_RDA) && timer_pending(u->timeout);
}

int uart_can_receive(UART *u)
{
	/* In loopback the receiver is cut off from the line. */
	if (u->mcr & MCR_LOOP)
		return 0;
	return (u->fifo_on ? FIFO_SIZE : 1) - u->rx_count;
}

void uart_receive(UART *u, const uint8_t *buf, int len)
{
	if (u->mcr & MCR_LOOP)
		return;
	for (int i = 0; i < len; i++)
		rx_push(u, buf[i]);
	uart_update_irq(u);
}

/* ---- transmit ------------------------------------------------------------ */

static void transmit(UART *u, uint8_t byte)
{
	/* Writing THR clears the THRE interrupt... */
	u->thr_ipending = false;
	uart_update_irq(u);
	if (u->mcr & MCR_LOOP)
		rx_push(u, byte);
	else if (u->out)
		u->out(u->opaque, byte);
	/* ...and the byte leaves at once, so THR is empty again: a new THRE
	 * interrupt (a fresh edge on the line) asks for the next byte. */
	u->thr_ipending = true;
	uart_update_irq(u);
}

/* ---- modem status ------------------------------------------------------ */

/* The modem inputs: a connected terminal, or the MCR outputs in loopback. */
static uint8_t modem_inputs(const UART *u)
{
	uint8_t m = u->mcr;

	if (!(m & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	return (uint8_t)((m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) |
			 (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0));
}

static void update_msr(UART *u)
{
	uint8_t old = u->msr, now = modem_inputs(u);
	uint8_t changed = (uint8_t)((old ^ now) & 0xf0);
	uint8_t deltas = u->msr & MSR_DELTAS;

	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	if ((old & MSR_RI) && !(now & MSR_RI))
		deltas |= MSR_TERI; /* trailing edge of RI */
	u->msr = now | deltas;
}

/* ---- registers ---------------------------------------------------------- */

static void write_fcr(UART *u, uint8_t v)
{
	bool on = v & FCR_ENABLE;

	if (on != u->fifo_on) {
		/* Switching the FIFOs on or off empties them. */
		u->fifo_on = on;
		rx_clear(u);
	}
	if (!on)
		return;
	if (v & FCR_CLEAR_RX)
		rx_clear(u);
	/* FCR_CLEAR_TX: the transmit FIFO is always empty already. */
	u->rx_trigger = rx_trigger_levels[v >> 6];
}

static void write_ier(UART *u, uint8_t v)
{
	uint8_t old = u->ier;

	u->ier = v & 0x0f;
	/* Enabling THRE while THR is empty interrupts at once. */
	if ((u->ier & IER_THRE) && !(old & IER_THRE))
		u->thr_ipending = true;
}

static void uart_write_reg(UART *u, int reg, uint8_t v)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case RBR_THR:
		if (dlab)
			u->divisor = (uint16_t)((u->divisor & 0xff00) | v);
		else
			transmit(u, v);
		break;
	case IER:
		if (dlab)
			u->divisor = (uint16_t)((u->divisor & 0x00ff) | v << 8);
		else
			write_ier(u, v);
		break;
	case IIR_FCR:
		write_fcr(u, v);
		break;
	case LCR:
		u->lcr = v;
		break;
	case MCR:
		u->mcr = v & 0x1f;
		update_msr(u);
		break;
	case SCR:
		u->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
	uart_update_irq(u);
}

static uint8_t read_iir(UART *u)
{
	uint8_t src = uart_iir_source(u);

	/* Reading IIR acknowledges a THRE interrupt it reports. */
	if (src == IIR_THRE)
		u->thr_ipending = false;
	return (uint8_t)(src | (u->fifo_on ? IIR_FIFO_ON : 0));
}

static uint8_t read_lsr(UART *u)
{
	uint8_t v = u->lsr;

	/* Error bits clear when read. */
	u->lsr &= (uint8_t)~LSR_ERRORS;
	return v;
}

static uint8_t read_msr(UART *u)
{
	uint8_t v = u->msr;

	u->msr &= (uint8_t)~MSR_DELTAS;
	return v;
}

static uint8_t uart_read_reg(UART *u, int reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t v;

	switch (reg) {
	case RBR_THR:
		v = dlab ? (uint8_t)u->divisor : rx_pop(u);
		break;
	case IER:
		v = dlab ? (uint8_t)(u->divisor >> 8) : u->ier;
		break;
	case IIR_FCR:
		v = read_iir(u);
		break;
	case LCR:
		v = u->lcr;
		break;
	case MCR:
		v = u->mcr;
		break;
	case LSR:
		v = read_lsr(u);
		break;
	case MSR:
		v = read_msr(u);
		break;
	default:
		v = u->scr;
		break;
	}
	uart_update_irq(u);
	return v;
}

/* A wider access covers consecutive registers, one byte each. */
static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size && off + i < 8; i++)
		v |= (uint64_t)uart_read_reg(opaque, (int)(off + i)) << (8 * i);
	return v;
}

static void uart_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
	for (unsigned i = 0; i < size && off + i < 8; i++)
		uart_write_reg(opaque, (int)(off + i), (uint8_t)(value >> (8 * i)));
}

static const MemoryRegionOps uart_ops = {uart_read, uart_write};

/* ---- life cycle --------------------------------------------------------- */

void uart_reset(UART *u)
{
	u->divisor = 12; /* 9600 baud until the guest says otherwise */
	u->ier = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->lsr = LSR_THRE | LSR_TEMT;
	u->scr = 0;
	u->fifo_on = false;
	u->rx_trigger = 1;
	u->thr_ipending = false;
	u->last_rx = 0;
	u->msr = modem_inputs(u);
	rx_clear(u);
	uart_update_irq(u);
}

UART *uart_new(MemoryRegion *io, Clock *clk, uint16_t base, const IRQ *irq, UARTOutFn *out,
	       void *opaque)
{
	UART *u = xcalloc(1, sizeof(*u));

	if (irq)
		u->irq = *irq;
	u->out = out;
	u->opaque = opaque;
	u->clk = clk;
	u->timeout = timer_new(clk, timeout_fire, u);
	uart_reset(u);
	mr_add(io, mr_mmio("serial", 8, &uart_ops, u), base, 0);
	return u;
}
