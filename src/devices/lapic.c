/*
 * lapic.c - the local APIC of a P6-family processor (Intel SDM vol. 3,
 * chapter 10), memory-mapped at IA32_APIC_BASE (0xFEE00000 after reset).
 *
 * Interrupts arrive in the IRR (from the IOAPIC, self-IPIs, the timer and
 * the error LVT), move to the ISR when the CPU acknowledges them and leave
 * it on EOI.  One is deliverable when its priority class (vector bits 7-4)
 * is above the processor priority class, PPR = max(TPR, highest ISR class);
 * cpu_intr is high exactly while one is.  An EOI of a vector whose TMR bit
 * is set (a level-triggered source) is reported to the eoi_notify hook so
 * the IOAPIC can clear Remote IRR.
 *
 * The timer counts down at the bus clock divided by the divide
 * configuration register.  The bus clock is 1 GHz of virtual time: one tick
 * per virtual nanosecond before division.  The count is not stepped: it is
 * computed from the virtual time since the period started, and a Timer
 * fires at the end of each period.
 *
 * Only one CPU exists: IPIs reach this APIC when they are addressed to it
 * (self or all-including-self shorthands, or a matching destination).
 * Fixed and lowest-priority IPIs are delivered; so is an NMI IPI, to the
 * CPU's NMI input (the nmi line), also while the APIC is software-disabled
 * (SDM 10.4.7.2: it still responds to NMI messages).  INIT, SIPI and SMI
 * IPIs are ignored (there is no other processor to start, no SMM).
 *
 * The local interrupt pins LINT0 and LINT1 go through their LVT entries:
 * masked, nothing; Fixed, the LVT's vector (edge, or level with Remote IRR
 * until the EOI); NMI, the CPU's NMI on a rising edge; ExtINT, SMI and
 * INIT deliver nothing from here (the machine wires the 8259 to INTR
 * itself).  With the APIC disabled in IA32_APIC_BASE, LINT1 is the CPU's
 * NMI pin as it is.  On a PC, LINT1 carries the chipset's NMI (SDM 10.1,
 * the MP specification's virtual wire mode).  The thermal and performance
 * LVTs are kept as registers; nothing drives them.
 */
#include "devices.h"

#include <string.h>

#define LAPIC_SIZE	   0x1000
#define APIC_VERSION	   0x00040014u /* max LVT entry 4, version 0x14 */

/* IA32_APIC_BASE. */
#define MSR_BSP	      (1u << 8)
#define MSR_ENABLE    (1u << 11)
#define MSR_BASE_MASK 0xFFFFF000u

/* Register indices: byte offset / 16. */
enum {
	R_ID = 0x02,
	R_VERSION = 0x03,
	R_TPR = 0x08,
	R_APR = 0x09,
	R_PPR = 0x0A,
	R_EOI = 0x0B,
	R_RRD = 0x0C,
	R_LDR = 0x0D,
	R_DFR = 0x0E,
	R_SVR = 0x0F,
	R_ISR = 0x10, /* 8 registers */
	R_TMR = 0x18,
	R_IRR = 0x20,
	R_ESR = 0x28,
	R_ICR_LO = 0x30,
	R_ICR_HI = 0x31,
	R_LVT = 0x32, /* 6 registers: timer, thermal, perf, LINT0, LINT1, error */
	R_TIMER_INITIAL = 0x38,
	R_TIMER_CURRENT = 0x39,
	R_TIMER_DIVIDE = 0x3E,
};

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_COUNT };

/* Writable bits of each LVT (delivery status and remote IRR are read-only). */
/* clang-format off */
static const uint32_t lvt_wmask[LVT_COUNT] = {
	[LVT_TIMER] = 0x000300FF,	/* vector, mask, periodic */
	[LVT_THERMAL] = 0x000107FF,	/* vector, delivery mode, mask */
	[LVT_PERF] = 0x000107FF,
	[LVT_LINT0] = 0x0001A7FF,	/* + polarity, trigger mode */
	[LVT_LINT1] = 0x0001A7FF,
	[LVT_ERROR] = 0x000100FF,
};
/* clang-format on */

#define LVT_MASKED     (1u << 16)
#define LVT_PERIODIC   (1u << 17)
#define LVT_LEVEL      (1u << 15) /* LINT0/1: level-triggered (Fixed only) */
#define LVT_REMOTE_IRR (1u << 14) /* LINT0/1: a level interrupt in service */
#define LVT_DM(v)      (((v) >> 8) & 7)

#define SVR_ENABLE     (1u << 8)
#define SVR_WMASK      0x000003F0u /* bits 0-3 of the vector are 1 on P6 */
#define SVR_FIXED_ONES 0x0000000Fu

#define ID_MASK	     0x0F000000u /* 4-bit APIC IDs on P6 */
#define LDR_MASK     0xFF000000u
#define DFR_MASK     0xF0000000u
#define ICR_LO_WMASK 0x000CCFFFu
#define ICR_HI_MASK  0xFF000000u
#define DCR_MASK     0x0000000Bu

/* ICR fields. */
#define ICR_DM_SHIFT	 8
#define ICR_DEST_LOGICAL (1u << 11)
#define ICR_SHORTHAND(v) (((v) >> 18) & 3)
enum { DM_FIXED = 0, DM_LOWEST = 1, DM_NMI = 4 };
enum { SH_NONE, SH_SELF, SH_ALL_INCL_SELF, SH_ALL_EXCL_SELF };

/* ESR bits. */
#define ESR_SEND_ILLEGAL_VECTOR	   (1u << 5)
#define ESR_RECEIVE_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REGISTER	   (1u << 7)

struct LAPIC {
	Clock *clk; /* the machine's virtual clock */
	MemoryRegion *mmio;
	const IRQ *cpu_intr;
	const IRQ *nmi; /* the CPU's NMI input: a rising level is one NMI */
	bool intr_level;
	IRQ lint[2];	    /* the LINT0 and LINT1 input pins */
	bool lint_level[2]; /* their levels */
	uint32_t base_msr;

	uint32_t id, tpr, ldr, dfr, svr;
	uint32_t esr, esr_pending;
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LVT_COUNT];
	uint32_t isr[8], tmr[8], irr[8];

	uint32_t timer_initial, dcr;
	int64_t timer_start; /* virtual time at which the count was initial */
	Timer *timer;

	void (*eoi_notify)(void *opaque, int vector);
	void *eoi_opaque;
};

/* ---- vector bitmaps ------------------------------------------------------ */

static void bit_set(uint32_t *map, int v)
{
	map[v >> 5] |= 1u << (v & 31);
}

static void bit_clear(uint32_t *map, int v)
{
	map[v >> 5] &= ~(1u << (v & 31));
}

static bool bit_test(const uint32_t *map, int v)
{
	return map[v >> 5] >> (v & 31) & 1;
}

/* The highest vector set in @map, or -1. */
static int bit_highest(const uint32_t *map)
{
	int i;

	for (i = 7; i >= 0; i--)
		if (map[i])
			return i * 32 + 31 - __builtin_clz(map[i]);
	return -1;
}

/* ---- priorities and the INTR line --------------------------------------- */

static bool sw_enabled(const LAPIC *a)
{
	return (a->base_msr & MSR_ENABLE) && (a->svr & SVR_ENABLE);
}

static uint32_t ppr(const LAPIC *a)
{
	int isrv = bit_highest(a->isr);

	if (isrv < 0 || (a->tpr & 0xF0) >= ((uint32_t)isrv & 0xF0))
		return a->tpr & 0xFF;
	return (uint32_t)isrv & 0xF0;
}

static uint32_t apr(const LAPIC *a)
{
	uint32_t tpr_class = a->tpr & 0xF0;
	int isrv = bit_highest(a->isr), irrv = bit_highest(a->irr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;
	uint32_t irr_class = irrv < 0 ? 0 : (uint32_t)irrv & 0xF0;
	uint32_t m = tpr_class;

	if (tpr_class >= irr_class && tpr_class > isr_class)
		return a->tpr & 0xFF;
	if (isr_class > m)
		m = isr_class;
	if (irr_class > m)
		m = irr_class;
	return m;
}

/* The vector the CPU would get now, or -1. */
static int deliverable(const LAPIC *a)
{
	int irrv = bit_highest(a->irr);

	if (!sw_enabled(a) || irrv < 0)
		return -1;
	return ((uint32_t)irrv & 0xF0) > (ppr(a) & 0xF0) ? irrv : -1;
}

static void update_intr(LAPIC *a)
{
	bool level = deliverable(a) >= 0;

	if (level != a->intr_level) {
		a->intr_level = level;
		irq_set(a->cpu_intr, level);
	}
}

/* ---- accepting interrupts ------------------------------------------------- */

static void accept(LAPIC *a, int vector, bool level);

static void signal_error(LAPIC *a, uint32_t bits)
{
	uint32_t lvt = a->lvt[LVT_ERROR];
	int vector = (int)(lvt & 0xFF);

	a->esr_pending |= bits;
	/* An illegal error vector would only report itself again. */
	if (!(lvt & LVT_MASKED) && vector >= 16)
		accept(a, vector, false);
}

static void accept(LAPIC *a, int vector, bool level)
{
	if (vector < 16) {
		signal_error(a, ESR_RECEIVE_ILLEGAL_VECTOR);
		return;
	}
	bit_set(a->irr, vector);
	if (level)
		bit_set(a->tmr, vector);
	else
		bit_clear(a->tmr, vector);
	update_intr(a);
}

/* An interrupt from a local source through its LVT entry. */
static void local_deliver(LAPIC *a, int lvt_index)
{
	uint32_t lvt = a->lvt[lvt_index];

	if (!(lvt & LVT_MASKED) && sw_enabled(a))
		accept(a, (int)(lvt & 0xFF), false);
}

static void send_nmi(LAPIC *a)
{
	irq_pulse(a->nmi);
}

/* A LINT pin in level-triggered Fixed mode: deliver while it is asserted,
 * unmasked and no earlier delivery awaits its EOI (Remote IRR). */
static void lint_service_level(LAPIC *a, int pin)
{
	uint32_t *lvt = &a->lvt[LVT_LINT0 + pin];

	if (!a->lint_level[pin] || (*lvt & (LVT_MASKED | LVT_REMOTE_IRR)) ||
	    LVT_DM(*lvt) != DM_FIXED || !(*lvt & LVT_LEVEL) || !sw_enabled(a))
		return;
	*lvt |= LVT_REMOTE_IRR;
	accept(a, (int)(*lvt & 0xFF), true);
}

static void lint_set(void *opaque, int pin, int level)
{
	LAPIC *a = opaque;
	bool rising = level && !a->lint_level[pin];
	uint32_t lvt = a->lvt[LVT_LINT0 + pin];

	a->lint_level[pin] = level;
	if (!(a->base_msr & MSR_ENABLE)) {
		/* No APIC: LINT1 is the NMI pin itself (LINT0, INTR, is the
		 * machine's). */
		if (pin == 1 && rising)
			send_nmi(a);
		return;
	}
	if (lvt & LVT_MASKED)
		return;
	switch (LVT_DM(lvt)) {
	case DM_FIXED:
		if (lvt & LVT_LEVEL)
			lint_service_level(a, pin);
		else if (rising && sw_enabled(a))
			accept(a, (int)(lvt & 0xFF), false);
		break;
	case DM_NMI: /* always edge-triggered (SDM 10.5.1) */
		if (rising)
			send_nmi(a);
		break;
	default: /* ExtINT, SMI, INIT */
		break;
	}
}

/* ---- the timer ------------------------------------------------------------- */

/* Bus ticks (virtual nanoseconds) per count. */
static int64_t timer_divisor(const LAPIC *a)
{
	int code = (int)(((a->dcr >> 1) & 4) | (a->dcr & 3));

	return code == 7 ? 1 : 2ll << code;
}

static bool timer_periodic(const LAPIC *a)
{
	return a->lvt[LVT_TIMER] & LVT_PERIODIC;
}

static uint32_t timer_current(const LAPIC *a)
{
	int64_t elapsed;

	if (!a->timer_initial)
		return 0;
	elapsed = (clock_ns(a->clk) - a->timer_start) / timer_divisor(a);
	if (timer_periodic(a))
		return a->timer_initial - (uint32_t)(elapsed % a->timer_initial);
	return elapsed >= a->timer_initial ? 0 : a->timer_initial - (uint32_t)elapsed;
}

/* Arm the Timer for the end of the current period (if the timer runs). */
static void timer_arm(LAPIC *a)
{
	int64_t period = (int64_t)a->timer_initial * timer_divisor(a);
	int64_t elapsed = clock_ns(a->clk) - a->timer_start;

	if (!a->timer_initial || !(a->base_msr & MSR_ENABLE)) {
		timer_del(a->timer);
	} else if (timer_periodic(a)) {
		timer_mod(a->timer, a->timer_start + (elapsed / period + 1) * period);
	} else if (elapsed < period) {
		timer_mod(a->timer, a->timer_start + period);
	} else {
		timer_del(a->timer);
	}
}

/* Keep the current count across a change of divisor or mode. */
static void timer_rebase(LAPIC *a, uint32_t count, int64_t new_divisor)
{
	if (count)
		a->timer_start =
		    clock_ns(a->clk) - (int64_t)(a->timer_initial - count) * new_divisor;
	else if (!timer_periodic(a))
		a->timer_start = clock_ns(a->clk) - (int64_t)a->timer_initial * new_divisor;
}

static void timer_fire(void *opaque)
{
	LAPIC *a = opaque;

	local_deliver(a, LVT_TIMER);
	timer_arm(a);
}

/* ---- IPIs -------------------------------------------------------------------- */

static bool ipi_addressed_to_me(const LAPIC *a, uint32_t icr_lo, uint32_t dest)
{
	uint32_t logical_id = a->ldr >> 24;

	switch (ICR_SHORTHAND(icr_lo)) {
	case SH_SELF:
	case SH_ALL_INCL_SELF:
		return true;
	case SH_ALL_EXCL_SELF:
		return false;
	}
	if (!(icr_lo & ICR_DEST_LOGICAL))
		return dest == 0xFF || dest == (a->id >> 24);
	if ((a->dfr >> 28) == 0xF) /* flat model: one bit per APIC */
		return (dest & logical_id) != 0;
	/* Cluster model: cluster in the high nibble, members in the low one. */
	return ((dest >> 4) == 0xF || (dest >> 4) == (logical_id >> 4)) &&
	       (dest & logical_id & 0x0F) != 0;
}

static void send_ipi(LAPIC *a)
{
	int mode = (int)((a->icr_lo >> ICR_DM_SHIFT) & 7);
	int vector = (int)(a->icr_lo & 0xFF);

	if (mode == DM_NMI) {
		/* The vector is ignored; no software enable needed. */
		if (ipi_addressed_to_me(a, a->icr_lo, a->icr_hi >> 24))
			send_nmi(a);
		return;
	}
	if (mode != DM_FIXED && mode != DM_LOWEST)
		return;
	if (vector < 16) {
		signal_error(a, ESR_SEND_ILLEGAL_VECTOR);
		return;
	}
	if (ipi_addressed_to_me(a, a->icr_lo, a->icr_hi >> 24) && sw_enabled(a))
		accept(a, vector, false);
}

/* ---- EOI ------------------------------------------------------------------------ */

static void eoi(LAPIC *a)
{
	int vector = bit_highest(a->isr);

	if (vector < 0)
		return;
	bit_clear(a->isr, vector);
	update_intr(a);
	if (!bit_test(a->tmr, vector))
		return;
	for (int pin = 0; pin < 2; pin++) {
		uint32_t *lvt = &a->lvt[LVT_LINT0 + pin];

		if ((*lvt & LVT_REMOTE_IRR) && (*lvt & 0xFF) == (uint32_t)vector) {
			*lvt &= ~LVT_REMOTE_IRR;
			lint_service_level(a, pin);
		}
	}
	if (a->eoi_notify)
		a->eoi_notify(a->eoi_opaque, vector);
}

/* ---- registers ------------------------------------------------------------------- */

static uint32_t reg_read(LAPIC *a, unsigned index)
{
	if (index >= R_ISR && index < R_ISR + 8)
		return a->isr[index - R_ISR];
	if (index >= R_TMR && index < R_TMR + 8)
		return a->tmr[index - R_TMR];
	if (index >= R_IRR && index < R_IRR + 8)
		return a->irr[index - R_IRR];
	if (index >= R_LVT && index < R_LVT + LVT_COUNT)
		return a->lvt[index - R_LVT];
	switch (index) {
	case R_ID:
		return a->id;
	case R_VERSION:
		return APIC_VERSION;
	case R_TPR:
		return a->tpr;
	case R_APR:
		return apr(a);
	case R_PPR:
		return ppr(a);
	case R_EOI:
	case R_RRD:
		return 0;
	case R_LDR:
		return a->ldr;
	case R_DFR:
		return a->dfr;
	case R_SVR:
		return a->svr;
	case R_ESR:
		return a->esr;
	case R_ICR_LO:
		return a->icr_lo;
	case R_ICR_HI:
		return a->icr_hi;
	case R_TIMER_INITIAL:
		return a->timer_initial;
	case R_TIMER_CURRENT:
		return timer_current(a);
	case R_TIMER_DIVIDE:
		return a->dcr;
	default:
		a->esr_pending |= ESR_ILLEGAL_REGISTER;
		return 0;
	}
}

static void write_lvt(LAPIC *a, int n, uint32_t v)
{
	uint32_t count = timer_current(a);
	uint32_t old = a->lvt[n];

	a->lvt[n] = v & lvt_wmask[n];
	/* Remote IRR is the APIC's own; an edge-triggered entry has none. */
	if ((n == LVT_LINT0 || n == LVT_LINT1) && (v & LVT_LEVEL))
		a->lvt[n] |= old & LVT_REMOTE_IRR;
	if (!(a->svr & SVR_ENABLE))
		a->lvt[n] |= LVT_MASKED;
	if (n == LVT_TIMER && ((old ^ a->lvt[n]) & LVT_PERIODIC)) {
		timer_rebase(a, count, timer_divisor(a));
		timer_arm(a);
	}
	/* Unmasking a level-triggered LINT that is asserted delivers. */
	if (n == LVT_LINT0 || n == LVT_LINT1)
		lint_service_level(a, n - LVT_LINT0);
}

static void write_svr(LAPIC *a, uint32_t v)
{
	int i;

	a->svr = (v & SVR_WMASK) | SVR_FIXED_ONES;
	/* Software-disabled: every LVT is masked and stays so. */
	if (!(a->svr & SVR_ENABLE))
		for (i = 0; i < LVT_COUNT; i++)
			a->lvt[i] |= LVT_MASKED;
	update_intr(a);
}

static void write_divide(LAPIC *a, uint32_t v)
{
	uint32_t count = timer_current(a);
	int64_t old_divisor = timer_divisor(a);

	a->dcr = v & DCR_MASK;
	if (timer_divisor(a) != old_divisor) {
		timer_rebase(a, count, timer_divisor(a));
		timer_arm(a);
	}
}

static void reg_write(LAPIC *a, unsigned index, uint32_t v)
{
	if (index >= R_LVT && index < R_LVT + LVT_COUNT) {
		write_lvt(a, (int)(index - R_LVT), v);
		return;
	}
	switch (index) {
	case R_ID:
		a->id = v & ID_MASK;
		break;
	case R_TPR:
		a->tpr = v & 0xFF;
		update_intr(a);
		break;
	case R_EOI:
		eoi(a);
		break;
	case R_LDR:
		a->ldr = v & LDR_MASK;
		break;
	case R_DFR:
		a->dfr = (v & DFR_MASK) | ~DFR_MASK;
		break;
	case R_SVR:
		write_svr(a, v);
		break;
	case R_ESR:
		/* A write latches the errors seen since the last one. */
		a->esr = a->esr_pending;
		a->esr_pending = 0;
		break;
	case R_ICR_LO:
		a->icr_lo = v & ICR_LO_WMASK;
		send_ipi(a);
		break;
	case R_ICR_HI:
		a->icr_hi = v & ICR_HI_MASK;
		break;
	case R_TIMER_INITIAL:
		a->timer_initial = v;
		a->timer_start = clock_ns(a->clk);
		timer_arm(a);
		break;
	case R_TIMER_DIVIDE:
		write_divide(a, v);
		break;
	case R_VERSION:
	case R_APR:
	case R_PPR:
	case R_RRD:
	case R_TIMER_CURRENT:
		break; /* read-only */
	default:
		if (index < R_ISR || index >= R_IRR + 8)
			a->esr_pending |= ESR_ILLEGAL_REGISTER;
	}
}

/*
 * Registers are 32 bits at 16-byte strides.  Narrower reads see their
 * bytes; narrower writes are merged into the register (the SDM leaves them
 * undefined; merging is the gentlest choice).  Bytes 4-15 of a slot read 0.
 */
static uint64_t lapic_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
	unsigned byte = (unsigned)offset & 0xF;

	if (byte >= 4)
		return 0;
	return reg_read(opaque, (unsigned)(offset >> 4)) >> (8 * byte);
}

static void lapic_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	LAPIC *a = opaque;
	unsigned index = (unsigned)(offset >> 4), byte = (unsigned)offset & 0xF;
	uint32_t v = (uint32_t)value, mask;

	if (byte >= 4)
		return;
	if (size < 4 || byte) {
		mask = (size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1) << (8 * byte);
		v = (reg_read(a, index) & ~mask) | ((v << (8 * byte)) & mask);
	}
	reg_write(a, index, v);
}

static const MemoryRegionOps lapic_ops = {
	.read = lapic_mmio_read,
	.write = lapic_mmio_write,
};

/* ---- interface --------------------------------------------------------------------- */

/* The register state of power-up (and of a global disable). */
static void reset_registers(LAPIC *a)
{
	int i;

	a->id = 0;
	a->tpr = a->ldr = 0;
	a->dfr = 0xFFFFFFFFu;
	a->svr = 0xFF;
	a->esr = a->esr_pending = 0;
	a->icr_lo = a->icr_hi = 0;
	for (i = 0; i < LVT_COUNT; i++)
		a->lvt[i] = LVT_MASKED;
	memset(a->isr, 0, sizeof(a->isr));
	memset(a->tmr, 0, sizeof(a->tmr));
	memset(a->irr, 0, sizeof(a->irr));
	a->timer_initial = 0;
	a->dcr = 0;
	a->timer_start = clock_ns(a->clk);
	timer_del(a->timer);
	update_intr(a);
}

void lapic_reset(LAPIC *a)
{
	a->base_msr = LAPIC_BASE_ADDR | MSR_BSP | MSR_ENABLE;
	mr_set_offset(a->mmio, LAPIC_BASE_ADDR);
	mr_set_enabled(a->mmio, true);
	reset_registers(a);
}

uint64_t lapic_get_base(LAPIC *a)
{
	return a->base_msr;
}

void lapic_set_base(LAPIC *a, uint64_t value)
{
	uint32_t old = a->base_msr;
	uint32_t v = ((uint32_t)value & (MSR_BASE_MASK | MSR_ENABLE)) | (old & MSR_BSP);

	a->base_msr = v;
	if ((v ^ old) & MSR_BASE_MASK)
		mr_set_offset(a->mmio, v & MSR_BASE_MASK);
	if ((old & MSR_ENABLE) && !(v & MSR_ENABLE)) {
		/* Globally disabled: the APIC is gone until it is enabled again. */
		mr_set_enabled(a->mmio, false);
		reset_registers(a);
	} else if (!(old & MSR_ENABLE) && (v & MSR_ENABLE)) {
		mr_set_enabled(a->mmio, true);
	}
}

bool lapic_has_interrupt(LAPIC *a)
{
	return deliverable(a) >= 0;
}

bool lapic_would_deliver(LAPIC *a, int vector)
{
	if (!sw_enabled(a))
		return false;
	if (vector < 16) {
		uint32_t lvt = a->lvt[LVT_ERROR];

		if ((lvt & LVT_MASKED) || (lvt & 0xFF) < 16)
			return false;
		vector = (int)(lvt & 0xFF);
	}
	return ((uint32_t)vector & 0xF0) > (ppr(a) & 0xF0);
}

bool lapic_may_interrupt(LAPIC *a)
{
	uint32_t lvt = a->lvt[LVT_TIMER];

	return timer_pending(a->timer) && !(lvt & LVT_MASKED) &&
	       lapic_would_deliver(a, (int)(lvt & 0xFF));
}

int lapic_intack(LAPIC *a)
{
	int vector = deliverable(a);

	/* Nothing above the priority any more: the spurious vector, no ISR bit. */
	if (vector < 0)
		return (int)(a->svr & 0xFF);
	bit_clear(a->irr, vector);
	bit_set(a->isr, vector);
	update_intr(a);
	return vector;
}

void lapic_deliver(LAPIC *a, int vector, bool level)
{
	if (vector < 0 || vector > 255 || !sw_enabled(a))
		return;
	accept(a, vector, level);
}

void lapic_deliver_nmi(LAPIC *a)
{
	if (a->base_msr & MSR_ENABLE)
		send_nmi(a);
}

const IRQ *lapic_lint(LAPIC *a, int pin)
{
	return pin == 0 || pin == 1 ? &a->lint[pin] : NULL;
}

void lapic_set_eoi_notify(LAPIC *a, void (*fn)(void *opaque, int vector), void *opaque)
{
	a->eoi_notify = fn;
	a->eoi_opaque = opaque;
}

LAPIC *lapic_new(MemoryRegion *memory, Clock *clk, const IRQ *cpu_intr, const IRQ *nmi)
{
	LAPIC *a = xcalloc(1, sizeof(*a));

	a->cpu_intr = cpu_intr;
	a->nmi = nmi;
	for (int pin = 0; pin < 2; pin++)
		a->lint[pin] = (IRQ){lint_set, a, pin};
	a->clk = clk;
	a->timer = timer_new(clk, timer_fire, a);
	a->mmio = mr_mmio("lapic", LAPIC_SIZE, &lapic_ops, a);
	mr_add(memory, a->mmio, LAPIC_BASE_ADDR, 1);
	lapic_reset(a);
	return a;
}
