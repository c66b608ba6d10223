/*
 * test_cpu.c - unit tests of the CPU on a RAM-only bus: programs assembled
 * with nasm at build time (protected mode entry, paging and #PF, interrupt
 * with a privilege change) and small byte sequences for the exact-icount
 * rules (inside REP, after STI, after a faulting instruction), HLT with an
 * interrupt wake-up, the stack-size rules (SP or ESP by SS.B, the width by
 * the operand size) of every instruction that moves the stack, and a
 * random-code fuzz run in real and protected mode (16- and 32-bit code and
 * stacks).
 *
 * Usage: test_cpu PMODE.bin PAGING.bin PRIV.bin INSN0F.bin
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/base/base.h"
#include "../../src/exec/cpu.h"
#include "../../src/memory/memory.h"
#include "../unit/unit.h"

#define RAM_SIZE (8u << 20)

static CPU *cpu;
static DMATarget *dma; /* DMA into the test machine's RAM */
static uint8_t *ram;
static MemoryRegion *ram_mr;
static AddressSpace *as;

/* the interrupt controller the tests play */
static int next_vector = 0x20;
static unsigned intacks;
static unsigned io_writes;
static uint16_t last_port;

static uint32_t io_read(void *o, uint16_t port, unsigned size)
{
	return 0xffffffffu;
}

static void io_write(void *o, uint16_t port, uint32_t v, unsigned size)
{
	io_writes++;
	last_port = port;
	if (port == 0x20) /* "EOI": drop the INTR line */
		cpu_set_intr(cpu, false);
	if (port == 0x99) /* as a memory map change would */
		cpu_flush_tlb(cpu);
}

static uint64_t mmio_read(void *o, uint64_t a, unsigned size)
{
	return ~0ull;
}

static void mmio_write(void *o, uint64_t a, uint64_t v, unsigned size)
{
}

static int intack(void *o)
{
	intacks++;
	return next_vector;
}

/* RDTSC counts from the start of a fuzz round (fuzz_setup()), so that the
 * two engines' runs of one round, one after the other, read the same */
static uint64_t tsc_base;

static uint64_t rdtsc(void *o)
{
	return (cpu_icount(cpu) - tsc_base) * 3;
}

static void machine_new(void)
{
	MemoryRegion *root = mr_container("system", 1ull << 32);

	ram_mr = mr_ram("ram", RAM_SIZE);
	mr_add(root, ram_mr, 0, 0);
	as = as_new("memory", root);
	CPUBus bus = {.memory = as,
		      .io_read = io_read,
		      .io_write = io_write,
		      .mmio_read = mmio_read,
		      .mmio_write = mmio_write,
		      .intack = intack,
		      .rdtsc = rdtsc};

	ram = mr_host(ram_mr);
	dma = dma_target_new(as);
	cpu = cpu_new(&bus);
}

/* Fresh state: zeroed RAM, CPU reset, INTR low.  RAM is written here and
 * by the tests through the host pointer, behind the CPU's back: marking it
 * all dirty makes cpu_flush_tlb() (code_pages_check) stop watching every
 * code page.  Otherwise a page watched in the previous run (its DIRTY_CODE
 * bit still clear) stays watched, and a write to it cuts the running block
 * (code_write) in one run but not in the next: fuzz_blocks() saw the two
 * engines' block ends differ by the other engine's history, not their own. */
static void machine_reset(void)
{
	memset(ram, 0, RAM_SIZE);
	ram_mark_dirty(ram_mr, 0, RAM_SIZE);
	cpu_reset(cpu);
	cpu_set_intr(cpu, false);
	cpu_flush_tlb(cpu);
	intacks = io_writes = 0;
}

static void load(const char *path, uint32_t at)
{
	char err[256];
	size_t len;
	uint8_t *buf = read_file(path, &len, err);

	if (!buf || at + len > RAM_SIZE) {
		fprintf(stderr, "%s\n", buf ? "program too large" : err);
		exit(1);
	}
	memcpy(ram + at, buf, len);
	free(buf);
}

/* Real mode at 0000:@ip, stack at 0000:0xfffe. */
static void real_at(uint16_t ip, const uint8_t *code, size_t n)
{
	machine_reset();
	memcpy(ram + ip, code, n);
	cpu_set_seg(cpu, S_CS, (SegReg){0, 0, 0xffff, 0x9b});
	cpu_set_eip(cpu, ip);
	cpu_set_reg(cpu, R_ESP, 0xfffe);
}

static void set_ivt(int vec, uint16_t seg, uint16_t off)
{
	st16(ram + vec * 4, off);
	st16(ram + vec * 4 + 2, seg);
}

static uint32_t rd32(uint32_t a)
{
	return ld32(ram + a);
}

/* ---- assembled programs ------------------------------------------------- */

static void test_pmode(const char *bin)
{
	machine_reset();
	load(bin, 0x7c00);
	cpu_set_seg(cpu, S_CS, (SegReg){0, 0, 0xffff, 0x9b});
	cpu_set_eip(cpu, 0x7c00);
	CHECK_EQ(cpu_exec(cpu, 1000), CPU_EXIT_HALT);
	CHECK(cpu_halted(cpu));
	CHECK_EQ(cpu_get_seg(cpu, S_CS).sel, 0x08);
	CHECK(cpu_get_seg(cpu, S_CS).attr & 0x4000); /* D: 32-bit code */
	CHECK_EQ(cpu_get_seg(cpu, S_SS).limit, 0xffffffff);
	CHECK_EQ(cpu_get_reg(cpu, R_EBX), 0x12345678);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x9000);
	CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 1, 1);
	CHECK_EQ(cpu_get_cr(cpu, 0) & 1, 1);
	CHECK_EQ(rd32(0x8000), 0xcafebabe);
	/* the access bits of the loaded descriptors were set in the GDT */
	CHECK(ram[0x7c00 + 0x48 - 0x48] != 0); /* program is there */
}

static void flat32(const char *bin)
{
	machine_reset();
	load(bin, 0x10000);
	cpu_set_flat32(cpu, 0x10000);
	cpu_set_reg(cpu, R_ESP, 0x90000);
}

static void test_paging(const char *bin)
{
	flat32(bin);
	CHECK_EQ(cpu_exec(cpu, 100000), CPU_EXIT_HALT);
	CHECK_EQ(rd32(0x50100), 3); /* three page faults */
	CHECK_EQ(rd32(0x50000), 2); /* write, not present */
	CHECK_EQ(rd32(0x50004), 0x200004);
	CHECK_EQ(rd32(0x50008), 3); /* write, protection (WP) */
	CHECK_EQ(rd32(0x5000c), 0x201008);
	CHECK_EQ(rd32(0x50010), 2); /* second page of a split write */
	CHECK(rd32(0x50014) >= 0x1ffffe && rd32(0x50014) <= 0x200001);
	CHECK_EQ(rd32(0x1ffffc), 0x11111111); /* nothing of it was written */
	CHECK_EQ(cpu_get_cr(cpu, 2), 0x200000 <= rd32(0x50014) ? rd32(0x50014) : 0);
	/* accessed / dirty bits */
	CHECK_EQ(rd32(0x41000 + 0x100 * 4) & 0x60, 0x60);
	CHECK_EQ(rd32(0x41000 + 0x102 * 4) & 0x60, 0x20);
	CHECK_EQ(rd32(0x41000 + 0x300 * 4) & 0x60, 0);
	CHECK_EQ(rd32(0x40000) & 0x20, 0x20);
	CHECK_EQ(rd32(0x100010), 0x77);
	/* the debugger's view goes through the page tables */
	uint32_t v = 0;

	CHECK(cpu_read_linear(cpu, 0x100010, &v, 4));
	CHECK_EQ(v, 0x77);
	CHECK(!cpu_read_linear(cpu, 0x200000, &v, 4));
}

static void test_priv(const char *bin)
{
	flat32(bin);
	CHECK_EQ(cpu_exec(cpu, 100000), CPU_EXIT_HALT);
	CHECK_EQ(rd32(0x50000), 0x80000 - 20);	/* ring-0 stack from the TSS */
	CHECK_EQ(rd32(0x50004), 0x1b);		/* old CS: ring 3 */
	CHECK_EQ(rd32(0x50008) & 0x200, 0x200); /* old EFLAGS had IF */
	CHECK_EQ(rd32(0x5000c), 0x70000);	/* old ESP */
	CHECK_EQ(rd32(0x50010), 0x23);		/* old SS */
	CHECK_EQ(rd32(0x50014), 0x42);
	CHECK_EQ(rd32(0x50018), 0x08);		 /* handler ran in ring 0 */
	CHECK_EQ(rd32(0x5001c) & 0x200, 0);	 /* interrupt gate cleared IF */
	CHECK_EQ(rd32(0x50020), 0x82 * 8 + 2);	 /* #GP error code: IDT, vector */
	CHECK_EQ(cpu_get_reg(cpu, R_EBX), 0x1b); /* CS read back in ring 3 */
	CHECK_EQ(cpu_get_seg(cpu, S_CS).sel, 0x08);
	CHECK_EQ(cpu_get_seg(cpu, S_SS).sel, 0x10);
}

static void test_insn0f(const char *bin)
{
	static const uint32_t want[] = {
	    1,
	    2,
	    0x80000000u,
	    0,
	    8,
	    20,
	    23,
	    0x11234,
	    1,
	    0xbbbb,
	    0xaaaa,
	    9,
	    (12 << 8) | 9,
	    0x44332211,
	    0x3456789a,
	    0x01234567,
	    0xffffff80u,
	    0x8080,
	    2,
	    2,
	    (uint32_t)-42,
	    (uint32_t)10000000000ull,
	    0x756e6547,
	    0x49656e69,
	    0x6c65746e,
	    0x619,
	};

	flat32(bin);
	CHECK_EQ(cpu_exec(cpu, 100000), CPU_EXIT_HALT);
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		if (rd32(0x50000 + 4 * i) != want[i])
			fprintf(stderr, "insn0f result %u: %08x, want %08x\n", i,
				rd32(0x50000 + 4 * i), want[i]);
		CHECK_EQ(rd32(0x50000 + 4 * i), want[i]);
	}
	uint32_t feat = rd32(0x50000 + 4 * 26);

	CHECK(feat & 1);	   /* FPU */
	CHECK(feat & (1 << 8));	   /* CX8 */
	CHECK(feat & (1 << 15));   /* CMOV */
	CHECK(!(feat & (1 << 1))); /* no VME */
	CHECK(!(feat & (1 << 6))); /* no PAE */
	/* RDTSC goes to the bus: 3 per instruction here */
	CHECK(rd32(0x50000 + 4 * 27) % 3 == 0 && rd32(0x50000 + 4 * 27) > 0);
	CHECK(rd32(0x50000 + 4 * 28) >= 0x1000 && rd32(0x50000 + 4 * 28) < 0x1100);
	CHECK_EQ(rd32(0x50000 + 4 * 29), 8);
	CHECK_EQ(rd32(0x50000 + 4 * 30), 0x600d);
}

/* ---- exact icount ------------------------------------------------------- */

static void test_rep_icount(void)
{
	/* mov cx,100; mov si,0x1000; mov di,0x2000; rep movsb; hlt */
	static const uint8_t code[] = {0xb9, 100,  0,	 0xbe, 0x00, 0x10,
				       0xbf, 0x00, 0x20, 0xf3, 0xa4, 0xf4};

	real_at(0x7c00, code, sizeof(code));
	for (int i = 0; i < 100; i++)
		ram[0x1000 + i] = (uint8_t)(i + 1);
	uint64_t start = cpu_icount(cpu);

	/* three movs, then 37 iterations */
	CHECK_EQ(cpu_exec(cpu, start + 3 + 37), CPU_EXIT_LIMIT);
	CHECK_EQ(cpu_icount(cpu), start + 40);
	CHECK_EQ(cpu_get_reg(cpu, R_ECX) & 0xffff, 63);
	CHECK_EQ(cpu_get_eip(cpu), 0x7c09); /* still on the REP MOVSB */
	CHECK_EQ(ram[0x2000 + 36], 37);
	CHECK_EQ(ram[0x2000 + 37], 0);
	/* an exit request stops at the next iteration boundary too */
	cpu_request_exit(cpu);
	CHECK_EQ(cpu_exec(cpu, start + 1000), CPU_EXIT_REQUEST);
	CHECK_EQ(cpu_icount(cpu), start + 40);
	CHECK_EQ(cpu_exec(cpu, start + 1000), CPU_EXIT_HALT);
	CHECK_EQ(cpu_icount(cpu), start + 3 + 100 + 1);
	CHECK_EQ(ram[0x2000 + 99], 100);
	CHECK_EQ(cpu_get_reg(cpu, R_ECX) & 0xffff, 0);

	/* REP with CX=0 retires once and does nothing */
	static const uint8_t zero[] = {0x31, 0xc9, 0xf3, 0xa4, 0xf4};

	real_at(0x7c00, zero, sizeof(zero));
	start = cpu_icount(cpu);
	CHECK_EQ(cpu_exec(cpu, start + 2), CPU_EXIT_LIMIT);
	CHECK_EQ(cpu_get_eip(cpu), 0x7c04);
}

static void test_sti_shadow(void)
{
	/* sti; nop; nop; hlt   handler at 0:0x500: mov ax,0x1234; out 0x20,al; iret */
	static const uint8_t code[] = {0xfb, 0x90, 0x90, 0xf4};
	static const uint8_t handler[] = {0xb8, 0x34, 0x12, 0xe6, 0x20, 0xcf};

	real_at(0x7c00, code, sizeof(code));
	memcpy(ram + 0x500, handler, sizeof(handler));
	set_ivt(0x20, 0, 0x500);
	cpu_set_intr(cpu, true);
	uint64_t start = cpu_icount(cpu);

	CHECK_EQ(cpu_exec(cpu, start + 1), CPU_EXIT_LIMIT); /* STI */
	CHECK_EQ(intacks, 0);
	CHECK_EQ(cpu_exec(cpu, start + 2), CPU_EXIT_LIMIT); /* the shadowed NOP */
	CHECK_EQ(intacks, 0);
	CHECK_EQ(cpu_get_eip(cpu), 0x7c02);
	/* now the interrupt comes first: it counts nothing, the handler's MOV does */
	CHECK_EQ(cpu_exec(cpu, start + 3), CPU_EXIT_LIMIT);
	CHECK_EQ(intacks, 1);
	CHECK_EQ(cpu_get_eip(cpu), 0x503);
	CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xffff, 0x1234);
	/* OUT drops INTR; the IRET returns to the second NOP, then HLT */
	CHECK_EQ(cpu_exec(cpu, start + 100), CPU_EXIT_HALT);
	CHECK_EQ(intacks, 1);
	CHECK_EQ(cpu_icount(cpu), start + 3 + 2 + 2);
	CHECK_EQ(cpu_get_eip(cpu), 0x7c04);

	/* MOV SS also shadows one boundary */
	static const uint8_t movss[] = {0xfb, 0x90, 0x8e, 0xd0, 0x90, 0xf4};

	real_at(0x7c00, movss, sizeof(movss));
	memcpy(ram + 0x500, handler, sizeof(handler));
	set_ivt(0x20, 0, 0x500);
	start = cpu_icount(cpu);
	CHECK_EQ(cpu_exec(cpu, start + 3), CPU_EXIT_LIMIT); /* sti, nop, mov ss,ax */
	cpu_set_intr(cpu, true);
	CHECK_EQ(cpu_exec(cpu, start + 4), CPU_EXIT_LIMIT);
	CHECK_EQ(intacks, 0);
	CHECK_EQ(cpu_get_eip(cpu), 0x7c05);
}

static void test_fault_icount(void)
{
	/* mov ax,7; xor cx,cx; div cx; hlt     #DE handler at 0:0x600: hlt */
	static const uint8_t code[] = {0xb8, 7, 0, 0x31, 0xc9, 0xf7, 0xf1, 0xf4};

	real_at(0x7c00, code, sizeof(code));
	ram[0x600] = 0xf4;
	set_ivt(0, 0, 0x600);
	uint64_t start = cpu_icount(cpu);

	CHECK_EQ(cpu_exec(cpu, start + 2), CPU_EXIT_LIMIT);
	CHECK_EQ(cpu_get_eip(cpu), 0x7c05);
	/* DIV faults: no retirement; the handler's HLT is the next to count */
	CHECK_EQ(cpu_exec(cpu, start + 3), CPU_EXIT_LIMIT);
	CHECK_EQ(cpu_icount(cpu), start + 3);
	CHECK(cpu_halted(cpu));
	CHECK_EQ(cpu_get_eip(cpu), 0x601);
	CHECK_EQ(ld16(ram + 0xfffe - 6), 0x7c05); /* pushed IP: the DIV itself */
	CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xffff, 7);

	/* a #GP in the middle of REP STOSW keeps the finished iterations */
	static const uint8_t stos[] = {0xb9, 10,   0,	 0xbf, 0xfb, 0xff,
				       0xb8, 0xaa, 0x55, 0xf3, 0xab, 0xf4};

	real_at(0x7c00, stos, sizeof(stos));
	cpu_set_reg(cpu, R_ESP, 0x8000);
	ram[0x600] = 0xf4;
	set_ivt(13, 0, 0x600);
	start = cpu_icount(cpu);
	CHECK_EQ(cpu_exec(cpu, start + 100), CPU_EXIT_HALT);
	/* words at FFFB and FFFD are stored; the one at FFFF crosses the limit */
	CHECK_EQ(cpu_icount(cpu), start + 3 + 2 + 1);
	CHECK_EQ(cpu_get_reg(cpu, R_ECX) & 0xffff, 8);
	CHECK_EQ(cpu_get_reg(cpu, R_EDI) & 0xffff, 0xffff);
	CHECK_EQ(ld16(ram + 0xfffb), 0x55aa);
	CHECK_EQ(ld16(ram + 0xfffd), 0x55aa);
	CHECK_EQ(ram[0xffff], 0);
	CHECK_EQ(ld16(ram + 0x8000 - 6), 0x7c09); /* pushed IP: the REP prefix */
}

static void test_hlt_wakeup(void)
{
	/* sti; hlt; mov bx,5; hlt    handler: mov ax,0x77; out 0x20,al; iret */
	static const uint8_t code[] = {0xfb, 0xf4, 0xbb, 5, 0, 0xf4};
	static const uint8_t handler[] = {0xb8, 0x77, 0x00, 0xe6, 0x20, 0xcf};

	real_at(0x7c00, code, sizeof(code));
	memcpy(ram + 0x500, handler, sizeof(handler));
	set_ivt(0x21, 0, 0x500);
	next_vector = 0x21;
	uint64_t start = cpu_icount(cpu);

	CHECK_EQ(cpu_exec(cpu, start + 100), CPU_EXIT_HALT);
	CHECK_EQ(cpu_icount(cpu), start + 2);
	CHECK(cpu_halted(cpu));
	/* still halted with nothing pending */
	CHECK_EQ(cpu_exec(cpu, start + 100), CPU_EXIT_HALT);
	CHECK_EQ(cpu_icount(cpu), start + 2);
	cpu_set_intr(cpu, true);
	CHECK_EQ(cpu_exec(cpu, start + 100), CPU_EXIT_HALT);
	CHECK_EQ(intacks, 1);
	CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xffff, 0x77);
	CHECK_EQ(cpu_get_reg(cpu, R_EBX) & 0xffff, 5);
	CHECK_EQ(cpu_icount(cpu), start + 2 + 3 + 2);
	CHECK_EQ(last_port, 0x20);
	next_vector = 0x20;

	/* with IF=0 the CPU stays halted */
	static const uint8_t cli_hlt[] = {0xfa, 0xf4};

	real_at(0x7c00, cli_hlt, sizeof(cli_hlt));
	cpu_set_intr(cpu, true);
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 100), CPU_EXIT_HALT);
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 100), CPU_EXIT_HALT);
	CHECK_EQ(intacks, 0);
	/* an NMI wakes it regardless */
	set_ivt(2, 0, 0x500);
	memcpy(ram + 0x500, handler, sizeof(handler));
	cpu_nmi(cpu);
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 1), CPU_EXIT_LIMIT);
	CHECK_EQ(cpu_get_eip(cpu), 0x503);
}

static void test_triple_fault(void)
{
	/* protected mode with an empty IDT limit: #UD -> #GP -> #DF -> shutdown */
	static const uint8_t code[] = {0x0f, 0x0b};

	machine_reset();
	memcpy(ram + 0x10000, code, sizeof(code));
	cpu_set_flat32(cpu, 0x10000);
	cpu_set_idtr(cpu, (DescTable){0, 0});
	uint64_t start = cpu_icount(cpu);

	CHECK_EQ(cpu_exec(cpu, start + 10), CPU_EXIT_TRIPLE_FAULT);
	CHECK_EQ(cpu_icount(cpu), start);
}

static uint32_t rnd(void);

/* ---- lazy flags: SETcc after CMP/SUB/TEST/ADD against the pushed flags - */

static bool cond_of(uint16_t f, unsigned cc)
{
	bool cf = f & 1, pf = f & 4, zf = f & 0x40, sf = f & 0x80, of = f & 0x800, r;

	switch (cc >> 1) {
	case 0:
		r = of;
		break;
	case 1:
		r = cf;
		break;
	case 2:
		r = zf;
		break;
	case 3:
		r = cf || zf;
		break;
	case 4:
		r = sf;
		break;
	case 5:
		r = pf;
		break;
	case 6:
		r = sf != of;
		break;
	default:
		r = zf || sf != of;
		break;
	}
	return r != (cc & 1);
}

static void test_lazy_conditions(void)
{
	/* forms: cmp, sub, test, add, sbb (with CF set), 8/16/32-bit */
	static const uint8_t ops[][3] = {
	    {0x39, 0, 16}, {0x29, 0, 16}, {0x85, 0, 16}, {0x01, 0, 16}, {0x19, 1, 16}, {0x38, 0, 8},
	    {0x28, 0, 8},  {0x84, 0, 8},  {0x39, 0, 32}, {0x85, 0, 32}, {0x19, 1, 32},
	};
	static const uint32_t edge[] = {0,	1,	0x7f,	    0x80,	 0xff,	     0x7fff,
					0x8000, 0xffff, 0x7fffffff, 0x80000000u, 0xffffffffu};
	unsigned bad = 0;

	for (unsigned t = 0; t < 600; t++) {
		uint8_t code[128];
		size_t n = 0;
		unsigned k = t % ARRAY_SIZE(ops);
		uint32_t a = t < 121 ? edge[t % 11] : rnd(),
			 b = t < 121 ? edge[t / 11 % 11] : rnd();

		if (rnd() & 1)
			b = a; /* equal operands now and then */
		/* mov eax,a; mov ebx,b; stc or clc */
		code[n++] = 0x66, code[n++] = 0xb8, st32(code + n, a), n += 4;
		code[n++] = 0x66, code[n++] = 0xbb, st32(code + n, b), n += 4;
		code[n++] = ops[k][1] ? 0xf9 : 0xf8;
		for (int pass = 0; pass < 2; pass++) {
			if (ops[k][2] == 32)
				code[n++] = 0x66;
			code[n++] = ops[k][0];
			code[n++] = 0xd8; /* op eax/ax/al, ebx/bx/bl */
			if (pass == 0) {
				for (unsigned cc = 0; cc < 16; cc++) {
					code[n++] = 0x0f, code[n++] = 0x90 + cc, code[n++] = 0x06;
					code[n++] = (uint8_t)cc, code[n++] = 0x10;
				}
				/* restore EAX and CF for the second pass */
				code[n++] = 0x66, code[n++] = 0xb8, st32(code + n, a), n += 4;
				code[n++] = ops[k][1] ? 0xf9 : 0xf8;
			}
		}
		code[n++] = 0x9c; /* pushf; pop dx; hlt */
		code[n++] = 0x5a;
		code[n++] = 0xf4;
		real_at(0x7c00, code, n);
		cpu_exec(cpu, cpu_icount(cpu) + 100);
		uint16_t f = (uint16_t)cpu_get_reg(cpu, R_EDX);

		for (unsigned cc = 0; cc < 16; cc++)
			if (ram[0x1000 + cc] != cond_of(f, cc))
				bad++;
	}
	CHECK_EQ(bad, 0);
}

/* ---- self-modifying code and the decode cache ------------------------ */

static void test_smc(void)
{
	/* mov cx,2; L: mov al,0x11; mov [0x7c04],cl; loop L; hlt */
	static const uint8_t code[] = {0xb9, 2,	   0,	 0xb0, 0x11, 0x88,
				       0x0e, 0x04, 0x7c, 0xe2, 0xf8, 0xf4};

	real_at(0x7c00, code, sizeof(code));
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 100), CPU_EXIT_HALT);
	CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xff, 2); /* the patched immediate ran */
	CHECK_EQ(ram[0x7c04], 1);

	/* DMA into code that already ran: seen at the next cpu_exec */
	static const uint8_t code2[] = {0xb0, 0x11, 0xf4};
	uint8_t v = 0x33;

	real_at(0x7c00, code2, sizeof(code2));
	for (int i = 0; i < 2; i++) { /* the second time from the decode cache */
		cpu_set_eip(cpu, 0x7c00);
		CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 10), CPU_EXIT_HALT);
		CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xff, 0x11);
	}
	CHECK(cpu_physical_memory_rw(dma, 0x7c01, &v, 1, true));
	cpu_set_eip(cpu, 0x7c00);
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 10), CPU_EXIT_HALT);
	CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xff, 0x33);

	/* a device flushing everything in the middle of REP OUTSB: the
	 * instruction goes on (its decoded form must survive) */
	static const uint8_t outs[] = {0xb9, 3,	   0,	 0xbe, 0x00, 0x10,
				       0xba, 0x99, 0x00, 0xf3, 0x6e, 0xf4};

	real_at(0x7c00, outs, sizeof(outs));
	for (int i = 0; i < 2; i++) {
		cpu_set_eip(cpu, 0x7c00);
		io_writes = 0;
		CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 100), CPU_EXIT_HALT);
		CHECK_EQ(io_writes, 3);
		CHECK_EQ(cpu_get_reg(cpu, R_ESI) & 0xffff, 0x1003);
		CHECK_EQ(cpu_get_eip(cpu), 0x7c0c);
	}

	/* the same RAM through a paging alias: write at one linear address,
	 * execute at another */
	static const uint8_t code3[] = {0xb0, 0x11, 0xf4};

	machine_reset();
	memcpy(ram + 0x20000, code3, sizeof(code3));
	for (uint32_t i = 0; i < 1024; i++)
		st32(ram + 0x41000 + 4 * i, i * 0x1000 | 3);
	st32(ram + 0x41000 + 0x300 * 4, 0x20000 | 3); /* 0x300000 -> 0x20000 */
	st32(ram + 0x40000, 0x41000 | 3);
	cpu_set_flat32(cpu, 0x20000);
	cpu_set_cr(cpu, 3, 0x40000);
	cpu_set_cr(cpu, 0, cpu_get_cr(cpu, 0) | CR0_PG);
	for (int i = 0; i < 2; i++) {
		cpu_set_eip(cpu, 0x20000);
		CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 10), CPU_EXIT_HALT);
		CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xff, 0x11);
	}
	/* mov byte [0x300001],0x44; jmp 0x20000 */
	static const uint8_t patch[] = {0xc6, 0x05, 0x01, 0x00, 0x30, 0x00,
					0x44, 0xe9, 0xf4, 0xff, 0xfe, 0xff};

	memcpy(ram + 0x30000, patch, sizeof(patch)); /* a page not run yet */
	cpu_set_eip(cpu, 0x30000);
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 10), CPU_EXIT_HALT);
	CHECK_EQ(ram[0x20001], 0x44);
	CHECK_EQ(cpu_get_reg(cpu, R_EAX) & 0xff, 0x44);
}

/* A #UD handler that is itself an invalid opcode: exceptions forever, no
 * instruction retires; cpu_exec() must still come back. */
static void test_fault_loop(void)
{
	static const uint8_t code[] = {0x0f, 0x0b};

	real_at(0x7c00, code, sizeof(code));
	set_ivt(6, 0, 0x7c00);
	/* the stack wraps in its own 64 KiB, never over the code */
	cpu_set_seg(cpu, S_SS, (SegReg){0x2000, 0x20000, 0xffff, 0x93});
	uint64_t start = cpu_icount(cpu);

	CHECK_EQ(cpu_exec(cpu, start + 1000), CPU_EXIT_TRIPLE_FAULT);
	CHECK_EQ(cpu_icount(cpu), start);
}

/* ---- stack size against operand size --------------------------------------
 *
 * SS.B says whether SP or ESP moves (a 16-bit stack wraps at 64 KiB and
 * keeps ESP's upper half), the operand size how many bytes are pushed.  Each
 * case runs one instruction in protected mode in 16- or 32-bit code on a
 * 16- or 32-bit stack (both stack segments at STK_BASE, so a POP SS between
 * them sees the same bytes) and checks ESP and the bytes on the stack.
 */
#define STK_BASE  0x20000u
#define STK_CODE  0x10000u /* base of both code segments; code at 0x100 */
#define STK_GDT	  0x1000u
#define STK_IDT	  0x1800u
#define STK_TSS	  0x3000u
#define STK_HLT	  0x400u /* offset of the HLT every transfer goes to */
#define SEL_C32	  0x08
#define SEL_DATA  0x10
#define SEL_C16	  0x18
#define SEL_S16	  0x20
#define SEL_S32	  0x28
#define SEL_TSS32 0x30
#define SEL_UC32  0x38 /* ring 3 */
#define SEL_US32  0x40 /* ring 3 */
#define VEC_GP	  13

static uint64_t desc(uint32_t base, uint32_t limit, unsigned access, unsigned flags)
{
	return (limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 | (uint64_t)access << 40 |
	       (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)flags << 52 |
	       (uint64_t)(base >> 24) << 56;
}

/* The descriptor cache a load of @sel gives. */
static SegReg seg_of(uint16_t sel)
{
	uint32_t lo = ld32(ram + STK_GDT + (sel & ~7u)), hi = ld32(ram + STK_GDT + (sel & ~7u) + 4);
	uint32_t limit = (lo & 0xffff) | (hi & 0xf0000);

	return (SegReg){sel, (lo >> 16) | (hi & 0xff) << 16 | (hi & 0xff000000u),
			hi & 0x800000 ? limit << 12 | 0xfff : limit, ((hi >> 8) & 0xffff) | 1};
}

static void gate(int vec, uint16_t sel, uint32_t off, unsigned type)
{
	st32(ram + STK_IDT + vec * 8, (uint32_t)sel << 16 | (off & 0xffff));
	st32(ram + STK_IDT + vec * 8 + 4, (off & 0xffff0000u) | type << 8);
}

/* Protected mode, CPL 0, @code at CS:0x100 then HLT, ESP = @esp; the
 * general registers hold 0x11111111 * (n + 1), the stack bytes 0xa5. */
static void stk_setup(bool c32, bool s32, uint32_t esp, const uint8_t *code, size_t n)
{
	machine_reset();
	st64(ram + STK_GDT + SEL_C32, desc(STK_CODE, 0xfffff, 0x9a, 4));
	st64(ram + STK_GDT + SEL_DATA, desc(0, 0xfffff, 0x92, 0xc));
	st64(ram + STK_GDT + SEL_C16, desc(STK_CODE, 0xffff, 0x9a, 0));
	st64(ram + STK_GDT + SEL_S16, desc(STK_BASE, 0xffff, 0x92, 0));
	st64(ram + STK_GDT + SEL_S32, desc(STK_BASE, 0xfffff, 0x92, 4));
	st64(ram + STK_GDT + SEL_TSS32, desc(STK_TSS, 0x67, 0x89, 0));
	st64(ram + STK_GDT + SEL_UC32, desc(STK_CODE, 0xfffff, 0xfa, 4));
	st64(ram + STK_GDT + SEL_US32, desc(STK_BASE, 0xfffff, 0xf2, 4));
	gate(0x41, SEL_C32, STK_HLT, 0x8e); /* 32-bit interrupt gate */
	gate(0x42, SEL_C16, STK_HLT, 0x86); /* 16-bit interrupt gate */
	gate(0x43, SEL_C32, STK_HLT, 0xee); /* 32-bit, DPL 3 */
	gate(VEC_GP, SEL_C32, STK_HLT, 0x8e);
	memcpy(ram + STK_CODE + 0x100, code, n);
	ram[STK_CODE + 0x100 + n] = 0xf4;
	ram[STK_CODE + STK_HLT] = 0xf4;
	memset(ram + STK_BASE, 0xa5, 0x20000);
	cpu_set_flat32(cpu, 0x100);
	cpu_set_gdtr(cpu, (DescTable){STK_GDT, 0x47});
	cpu_set_idtr(cpu, (DescTable){STK_IDT, 0x7ff});
	for (int s = 0; s < 6; s++)
		cpu_set_seg(cpu, s, seg_of(SEL_DATA));
	cpu_set_seg(cpu, S_CS, seg_of(c32 ? SEL_C32 : SEL_C16));
	cpu_set_seg(cpu, S_SS, seg_of(s32 ? SEL_S32 : SEL_S16));
	for (int r = 0; r < 8; r++)
		cpu_set_reg(cpu, r, 0x11111111u * (r + 1));
	cpu_set_reg(cpu, R_ESP, esp);
}

static void stk_run(void)
{
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 100), CPU_EXIT_HALT);
}

static uint32_t stk32(uint32_t off)
{
	return ld32(ram + STK_BASE + off);
}

static uint16_t stk16(uint32_t off)
{
	return ld16(ram + STK_BASE + off);
}

static void test_stack_pusha(void)
{
	static const uint8_t pushad[] = {0x60}, pushad16[] = {0x66, 0x60};

	/* PUSHAD on a 16-bit stack: eight slots from SP = 4 down through the
	 * wrap; the ESP slot holds all of ESP, not SP */
	for (int c32 = 0; c32 < 2; c32++) {
		stk_setup(c32, false, 0xabcd0004, c32 ? pushad : pushad16, c32 ? 1 : 2);
		stk_run();
		CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdffe4);
		CHECK_EQ(stk32(0x0000), 0x11111111);
		CHECK_EQ(stk32(0xfffc), 0x22222222);
		CHECK_EQ(stk32(0xfff0), 0xabcd0004);
		CHECK_EQ(stk32(0xffe4), 0x88888888);
	}
	/* PUSHA on a 32-bit stack: 16-bit slots below ESP, not below SP */
	stk_setup(false, true, 0x00010004, pushad, 1);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x0000fff4);
	CHECK_EQ(stk16(0x10002), 0x1111);
	CHECK_EQ(stk16(0xfffa), 0x0004);
	CHECK_EQ(stk16(0xfff4), 0x8888);

	/* POPAD on a 16-bit stack from SP = 0xfff0: the slots wrap, ESP's
	 * slot is skipped and its upper half stays */
	static const uint8_t popad[] = {0x61};

	stk_setup(true, false, 0xabcdfff0, popad, 1);
	for (uint32_t i = 0; i < 8; i++)
		st32(ram + STK_BASE + ((0xfff0 + 4 * i) & 0xffff), 0x01010101u * (8 - i));
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0010);
	CHECK_EQ(cpu_get_reg(cpu, R_EDI), 0x08080808);
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0x06060606);
	CHECK_EQ(cpu_get_reg(cpu, R_EBX), 0x04040404);
	CHECK_EQ(cpu_get_reg(cpu, R_EAX), 0x01010101);
}

static void test_stack_segs(void)
{
	/* POP SS moves the stack pointer by the size of the stack it popped
	 * from, whatever the B bit of the new SS; each pops its operand size */
	static const uint8_t pop_ss[] = {0x17};

	stk_setup(false, false, 0xabcdfffe, pop_ss, 1);
	st16(ram + STK_BASE + 0xfffe, SEL_S32);
	stk_run();
	CHECK_EQ(cpu_get_seg(cpu, S_SS).sel, SEL_S32);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000); /* SP wrapped, not ESP + 2 */

	stk_setup(true, false, 0xabcdfffc, pop_ss, 1);
	st32(ram + STK_BASE + 0xfffc, SEL_S32);
	stk_run();
	CHECK_EQ(cpu_get_seg(cpu, S_SS).sel, SEL_S32);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000);

	stk_setup(false, true, 0x0001fffe, pop_ss, 1);
	st16(ram + STK_BASE + 0x1fffe, SEL_S16);
	stk_run();
	CHECK_EQ(cpu_get_seg(cpu, S_SS).sel, SEL_S16);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x00020000); /* ESP + 2, not SP */

	stk_setup(true, true, 0x0001fffc, pop_ss, 1);
	st32(ram + STK_BASE + 0x1fffc, SEL_S16);
	stk_run();
	CHECK_EQ(cpu_get_seg(cpu, S_SS).sel, SEL_S16);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x00020000);

	/* PUSH ESP pushes ESP as it was, all of it; POP ESP leaves what it
	 * read; POP SP on a 32-bit stack: ESP + 2, then SP <- the word */
	static const uint8_t push_esp[] = {0x54}, pop_esp[] = {0x5c};

	stk_setup(true, false, 0xabcd0004, push_esp, 1);
	stk_run();
	CHECK_EQ(stk32(0), 0xabcd0004);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000);

	stk_setup(true, false, 0xabcdfffc, pop_esp, 1);
	st32(ram + STK_BASE + 0xfffc, 0x12345678);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x12345678);

	stk_setup(false, true, 0x00010004, push_esp, 1);
	stk_run();
	CHECK_EQ(stk16(0x10002), 0x0004);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x00010002);

	stk_setup(false, true, 0x0001fff0, pop_esp, 1);
	st16(ram + STK_BASE + 0x1fff0, 0xbeef);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x0001beef);

	/* POP DS with a 32-bit operand on a 16-bit stack */
	static const uint8_t pop_ds[] = {0x1f};

	stk_setup(true, false, 0xabcdfffc, pop_ds, 1);
	st32(ram + STK_BASE + 0xfffc, SEL_DATA);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000);

	/* PUSH DS / PUSH FS with a 32-bit operand: a 4-byte slot of which a
	 * P6 writes the selector's word only (the SDM allows that or a
	 * zero-extended dword) */
	static const uint8_t push_ds[] = {0x1e}, push_fs32[] = {0x66, 0x0f, 0xa0};

	for (int c32 = 0; c32 < 2; c32++) {
		stk_setup(c32, false, 0xabcd0004, c32 ? push_ds : push_fs32, c32 ? 1 : 3);
		stk_run();
		CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000);
		CHECK_EQ(stk16(0), SEL_DATA);
		CHECK_EQ(stk16(2), 0xa5a5);
	}
	/* PUSH SS with a 16-bit operand on a 32-bit stack */
	static const uint8_t push_ss[] = {0x16};

	stk_setup(false, true, 0x00010000, push_ss, 1);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x0000fffe);
	CHECK_EQ(stk16(0xfffe), SEL_S32);
}

static void test_stack_enter(void)
{
	/* ENTER 8,0 with a 32-bit operand on a 16-bit stack: FrameTemp is
	 * ESP after the push of EBP, upper half included */
	static const uint8_t e8_0[] = {0xc8, 8, 0, 0};

	stk_setup(true, false, 0xabcd0004, e8_0, sizeof(e8_0));
	cpu_set_reg(cpu, R_EBP, 0x12345678);
	stk_run();
	CHECK_EQ(stk32(0), 0x12345678);
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0xabcd0000);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfff8);

	/* ENTER 4,3: two frame pointers copied from [BP-4] and [BP-8], then
	 * FrameTemp; every slot wraps in the 16-bit stack */
	static const uint8_t e4_3[] = {0xc8, 4, 0, 3};

	stk_setup(true, false, 0xabcd0004, e4_3, sizeof(e4_3));
	cpu_set_reg(cpu, R_EBP, 0xabcd0010);
	st32(ram + STK_BASE + 0x0c, 0x1111);
	st32(ram + STK_BASE + 0x08, 0x2222);
	stk_run();
	CHECK_EQ(stk32(0x0000), 0xabcd0010);
	CHECK_EQ(stk32(0xfffc), 0x1111);
	CHECK_EQ(stk32(0xfff8), 0x2222);
	CHECK_EQ(stk32(0xfff4), 0xabcd0000);
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0xabcd0000);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfff0);

	/* ENTER 0,1 with a 32-bit operand in 16-bit code */
	static const uint8_t e0_1[] = {0x66, 0xc8, 0, 0, 1};

	stk_setup(false, false, 0xabcd0008, e0_1, sizeof(e0_1));
	stk_run();
	CHECK_EQ(stk32(4), 0x66666666);
	CHECK_EQ(stk32(0), 0xabcd0004);
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0xabcd0004);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000);

	/* ENTER 2,2 with a 16-bit operand on a 32-bit stack: the copy comes
	 * from [EBP-2], FrameTemp is SP, BP alone changes, ESP moves */
	static const uint8_t e2_2[] = {0xc8, 2, 0, 2};

	stk_setup(false, true, 0x00010004, e2_2, sizeof(e2_2));
	cpu_set_reg(cpu, R_EBP, 0x00010020);
	st16(ram + STK_BASE + 0x1001e, 0x3333);
	stk_run();
	CHECK_EQ(stk16(0x10002), 0x0020);
	CHECK_EQ(stk16(0x10000), 0x3333);
	CHECK_EQ(stk16(0x0fffe), 0x0002);
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0x00010002);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x0000fffc);

	/* ENTER 16,0 with a 16-bit operand on a 16-bit stack at SP = 0 */
	static const uint8_t e16_0[] = {0xc8, 16, 0, 0};

	stk_setup(false, false, 0xabcd0000, e16_0, sizeof(e16_0));
	cpu_set_reg(cpu, R_EBP, 0x77770042);
	stk_run();
	CHECK_EQ(stk16(0xfffe), 0x0042);
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0x7777fffe);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdffee);

	/* ENTER 0,31 with a 16-bit operand on a 16-bit stack: BP, 30 words
	 * copied from [BP-2] down (wrapping below BP = 0x20), FrameTemp; the
	 * level byte counts modulo 32, so ENTER 0,33 nests one level */
	static const uint8_t e0_31[] = {0xc8, 0, 0, 31}, e0_33[] = {0xc8, 0, 0, 33};

	stk_setup(false, false, 0xabcd8000, e0_31, sizeof(e0_31));
	cpu_set_reg(cpu, R_EBP, 0x99990020);
	for (uint32_t i = 1; i <= 30; i++)
		st16(ram + STK_BASE + ((0x20 - 2 * i) & 0xffff), (uint16_t)(0x100 + i));
	stk_run();
	CHECK_EQ(stk16(0x7ffe), 0x0020);
	CHECK_EQ(stk16(0x7ffc), 0x101);
	CHECK_EQ(stk16(0x7fc2), 0x100 + 30); /* read at 0xffe4 */
	CHECK_EQ(stk16(0x7fc0), 0x7ffe);
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0x99997ffe);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd7fc0);

	stk_setup(false, false, 0xabcd8000, e0_33, sizeof(e0_33));
	stk_run();
	CHECK_EQ(stk16(0x7ffc), 0x7ffe);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd7ffc);

	/* LEAVE: SP <- BP on a 16-bit stack, ESP <- EBP on a 32-bit one */
	static const uint8_t leave[] = {0xc9};

	stk_setup(true, false, 0xabcd1234, leave, 1);
	cpu_set_reg(cpu, R_EBP, 0x1111fffc);
	st32(ram + STK_BASE + 0xfffc, 0xcafef00d);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0xcafef00d);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000);

	stk_setup(false, true, 0x5, leave, 1);
	cpu_set_reg(cpu, R_EBP, 0x00010010);
	st16(ram + STK_BASE + 0x10010, 0xbeef);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_EBP), 0x0001beef);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x00010012);
}

static void test_stack_calls(void)
{
	/* CALL rel32 with a 32-bit operand in 16-bit code, 16-bit stack at 0 */
	static const uint8_t call32[] = {0x66, 0xe8, 0xfa, 0x02, 0, 0}; /* to 0x400 */

	stk_setup(false, false, 0xabcd0000, call32, sizeof(call32));
	stk_run();
	CHECK_EQ(cpu_get_eip(cpu), STK_HLT + 1);
	CHECK_EQ(stk32(0xfffc), 0x106);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfffc);

	/* RET 4 (32-bit) on a 16-bit stack: SP wraps past 0 */
	static const uint8_t ret4[] = {0xc2, 4, 0};

	stk_setup(true, false, 0xabcdfffc, ret4, sizeof(ret4));
	st32(ram + STK_BASE + 0xfffc, STK_HLT);
	stk_run();
	CHECK_EQ(cpu_get_eip(cpu), STK_HLT + 1);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0004);

	/* RET (16-bit) on a 32-bit stack: ESP past 64 KiB */
	static const uint8_t ret[] = {0xc3};

	stk_setup(false, true, 0x0000fffe, ret, 1);
	st16(ram + STK_BASE + 0xfffe, STK_HLT);
	stk_run();
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x00010000);

	/* CALL FAR ptr16:16 at SP = 2: CS at 0, IP at 0xfffe */
	static const uint8_t callf[] = {0x9a, STK_HLT & 0xff, STK_HLT >> 8, SEL_C16, 0};

	stk_setup(false, false, 0xabcd0002, callf, sizeof(callf));
	stk_run();
	CHECK_EQ(cpu_get_seg(cpu, S_CS).sel, SEL_C16);
	CHECK_EQ(stk16(0), SEL_C16);
	CHECK_EQ(stk16(0xfffe), 0x105);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfffe);

	/* RETF 8 (32-bit) on a 16-bit stack */
	static const uint8_t retf8[] = {0xca, 8, 0};

	stk_setup(true, false, 0xabcdfff8, retf8, sizeof(retf8));
	st32(ram + STK_BASE + 0xfff8, STK_HLT);
	st32(ram + STK_BASE + 0xfffc, SEL_C32);
	stk_run();
	CHECK_EQ(cpu_get_eip(cpu), STK_HLT + 1);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0008);

	/* real mode: CALL FAR with SP = 0 and SP = 2 needs no more room than
	 * the 64 KiB the stack has */
	for (uint32_t sp = 0; sp <= 2; sp += 2) {
		static const uint8_t rcallf[] = {0x9a, 0x00, 0x04, 0x00, 0x10};

		machine_reset();
		memcpy(ram + 0x10100, rcallf, sizeof(rcallf));
		ram[0x10400] = 0xf4;
		cpu_set_seg(cpu, S_CS, (SegReg){0x1000, 0x10000, 0xffff, 0x9b});
		cpu_set_seg(cpu, S_SS, (SegReg){0x2000, STK_BASE, 0xffff, 0x93});
		cpu_set_eip(cpu, 0x100);
		cpu_set_reg(cpu, R_ESP, 0xabcd0000 | sp);
		stk_run();
		CHECK_EQ(cpu_get_eip(cpu), 0x401);
		CHECK_EQ(stk16((sp - 2) & 0xffff), 0x1000);
		CHECK_EQ(stk16((sp - 4) & 0xffff), 0x105);
		CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0000 | ((sp - 4) & 0xffff));
	}
}

static void test_stack_interrupts(void)
{
	/* INT through a 32-bit gate on a 16-bit stack at SP = 4 */
	static const uint8_t int41[] = {0xcd, 0x41}, int42[] = {0xcd, 0x42};

	stk_setup(true, false, 0xabcd0004, int41, sizeof(int41));
	stk_run();
	CHECK_EQ(stk32(0) & 0xffff, 0x0002);
	CHECK_EQ(stk32(0xfffc), SEL_C32);
	CHECK_EQ(stk32(0xfff8), 0x102);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfff8);

	/* through a 16-bit gate from 16-bit code at SP = 2 */
	stk_setup(false, false, 0xabcd0002, int42, sizeof(int42));
	stk_run();
	CHECK_EQ(stk16(0), 0x0002);
	CHECK_EQ(stk16(0xfffe), SEL_C16);
	CHECK_EQ(stk16(0xfffc), 0x102);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfffc);

	/* #GP with an error code (MOV DS of a selector beyond the GDT) through
	 * a 32-bit gate and through a 16-bit one */
	static const uint8_t mov_ds[] = {0x8e, 0xd8};

	stk_setup(true, false, 0xabcd0008, mov_ds, sizeof(mov_ds));
	cpu_set_reg(cpu, R_EAX, 0x100);
	stk_run();
	CHECK_EQ(stk32(0), SEL_C32);
	CHECK_EQ(stk32(0xfffc), 0x100);
	CHECK_EQ(stk32(0xfff8), 0x100);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfff8);

	stk_setup(true, false, 0xabcd0004, mov_ds, sizeof(mov_ds));
	gate(VEC_GP, SEL_C32, STK_HLT, 0x86);
	cpu_set_reg(cpu, R_EAX, 0x100);
	stk_run();
	CHECK_EQ(stk16(0), SEL_C32);
	CHECK_EQ(stk16(0xfffe), 0x100);
	CHECK_EQ(stk16(0xfffc), 0x100);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcdfffc);

	/* IRET (32-bit) on a 16-bit stack, IRET (16-bit) on a 32-bit one */
	static const uint8_t iret[] = {0xcf};

	stk_setup(true, false, 0xabcdfff8, iret, 1);
	st32(ram + STK_BASE + 0xfff8, STK_HLT);
	st32(ram + STK_BASE + 0xfffc, SEL_C32);
	st32(ram + STK_BASE + 0x0000, 0x2);
	stk_run();
	CHECK_EQ(cpu_get_eip(cpu), STK_HLT + 1);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0xabcd0004);

	stk_setup(false, true, 0x0000fffc, iret, 1);
	st16(ram + STK_BASE + 0xfffc, STK_HLT);
	st16(ram + STK_BASE + 0xfffe, SEL_C16);
	st16(ram + STK_BASE + 0x10000, 0x2);
	stk_run();
	CHECK_EQ(cpu_get_eip(cpu), STK_HLT + 1);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x00010002);

	/* from ring 3 to a 16-bit ring-0 stack: ESP comes from the TSS, the
	 * pushes move SP alone, so the upper half is the TSS's */
	static const uint8_t ltr[] = {0x0f, 0x00, 0xd8}, int43[] = {0xcd, 0x43};

	stk_setup(true, true, 0x10000, ltr, sizeof(ltr));
	st32(ram + STK_TSS + 4, 0x5a5a0008); /* ESP0 */
	st32(ram + STK_TSS + 8, SEL_S16);    /* SS0 */
	cpu_set_reg(cpu, R_EAX, SEL_TSS32);
	stk_run();
	memcpy(ram + STK_CODE + 0x200, int43, sizeof(int43));
	cpu_set_seg(cpu, S_CS, seg_of(SEL_UC32 | 3));
	cpu_set_seg(cpu, S_SS, seg_of(SEL_US32 | 3));
	cpu_set_eip(cpu, 0x200);
	cpu_set_reg(cpu, R_ESP, 0x00010000);
	stk_run();
	CHECK_EQ(cpu_get_seg(cpu, S_SS).sel, SEL_S16);
	CHECK_EQ(cpu_get_reg(cpu, R_ESP), 0x5a5afff4);
	CHECK_EQ(stk32(0x0004), SEL_US32 | 3);
	CHECK_EQ(stk32(0x0000), 0x00010000);
	CHECK_EQ(stk32(0xfff8), SEL_UC32 | 3);
	CHECK_EQ(stk32(0xfff4), 0x202);
}

/* RESET leaves no interrupt pending: an INTR level from before it is not
 * taken once the guest sets IF. */
static void test_reset_intr(void)
{
	static const uint8_t code[] = {0xfb, 0x90, 0x90, 0xf4}; /* sti; nop; nop; hlt */

	machine_reset();
	cpu_set_intr(cpu, true);
	cpu_reset(cpu);
	memcpy(ram + 0x7c00, code, sizeof(code));
	cpu_set_seg(cpu, S_CS, (SegReg){0, 0, 0xffff, 0x9b});
	cpu_set_eip(cpu, 0x7c00);
	CHECK_EQ(cpu_exec(cpu, cpu_icount(cpu) + 10), CPU_EXIT_HALT);
	CHECK_EQ(intacks, 0);
}

/* ---- fuzz -------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

enum fuzz_mode { FZ_REAL, FZ_PM, FZ_V86 };
static const char *const fuzz_names[] = {"real", "pm", "v86"};

/* When set, the first 1 MiB is not random bytes but random instructions of
 * the forms the host-code backend runs inline or calls bare (register ALU,
 * MOV, TEST, PUSH/POP, INC/DEC, shifts, loads and stores through a random
 * register, 16-bit forms), with readers of the flags among them (Jcc,
 * SETcc, ADC, PUSHF), and the near transfers that end blocks (JMP, CALL,
 * RET, JMP/CALL through registers and the stack) with targets that mostly
 * lie in that code: long runs of them, which random bytes rarely give. */
static bool fuzz_dense;
/* protected mode: change DS or ES between some stops (fuzz_run) */
static bool fuzz_seg_flips;

static uint8_t *gen_insn(uint8_t *p)
{
	static const uint8_t alu[] = {0x01, 0x03, 0x09, 0x0b, 0x11, 0x21, 0x23, 0x29,
				      0x2b, 0x31, 0x33, 0x39, 0x3b, 0x85, 0x89, 0x8b};
	static const uint8_t memop[] = {0x89, 0x89, 0x01, 0x09, 0x21, 0x29, 0x31, 0x39};
	uint32_t x = rnd(), rm = 0xc0 | (x >> 8 & 63);

	if ((x >> 16) % 8 == 0)
		*p++ = 0x66;
	switch (x % 23) {
	case 0:
	case 1:
	case 2:
	case 3:
		*p++ = alu[(x >> 4) % 16], *p++ = (uint8_t)rm;
		break;
	case 4:
		*p++ = 0x83, *p++ = (uint8_t)rm, *p++ = (uint8_t)(x >> 20);
		break;
	case 5: /* op r, imm32 or op eAX, imm32 */
		if ((x >> 20) & 1)
			*p++ = 0x81, *p++ = (uint8_t)rm;
		else
			*p++ = (uint8_t)(0x05 | (x >> 8 & 0x38));
		st32(p, rnd()), p += 4;
		break;
	case 6:
		*p++ = (uint8_t)(0xb8 + (x >> 4) % 8), st32(p, rnd() & 0x7ffff), p += 4;
		break;
	case 7:
	case 8:
		*p++ = (uint8_t)(0x50 + (x >> 4) % 16);
		break;
	case 9:
		*p++ = (uint8_t)(0x40 + (x >> 4) % 16);
		break;
	case 10:
		*p++ = 0xc1, *p++ = (uint8_t)(rm | 0x20), *p++ = (uint8_t)(x >> 20);
		break;
	case 11: /* load, store or ALU m, r through a register, now and then
		  * with disp8 */
		*p++ = (x >> 4) & 1 ? 0x8b : memop[rnd() % 8];
		*p++ = (uint8_t)((x >> 5) % 4 == 0 ? 0x40 : 0) | (rm & 0x38) | 3 | ((x >> 7) & 4);
		if ((x >> 5) % 4 == 0)
			*p++ = (uint8_t)(x >> 24);
		break;
	case 12:
		*p++ = (uint8_t)(0x70 + (x >> 4) % 16), *p++ = (uint8_t)((x >> 20) % 8);
		break;
	case 13:
		*p++ = 0x0f, *p++ = (uint8_t)(0x90 + (x >> 4) % 16),
		*p++ = (uint8_t)(0xc0 | (x >> 8 & 7));
		break;
	case 14:
		*p++ = (x >> 4) & 1 ? 0x9c : 0x9d;
		break;
	case 15:
		*p++ = 0x8d, *p++ = (uint8_t)(0x80 | (rm & 0x3f)), st32(p, rnd() & 0xfff), p += 4;
		break;
	/* near transfers to places nearby, to return addresses and to
	 * addresses in registers and on the stack: valid targets mostly */
	case 16:
		*p++ = 0xeb, *p++ = (uint8_t)(x >> 20);
		break;
	case 17:
	case 18:
		*p++ = x % 23 == 17 ? 0xe9 : 0xe8;
		st32(p, (uint32_t)((int32_t)(x >> 20) - 0x800)), p += 4;
		break;
	case 19:
		*p++ = 0xc3;
		break;
	case 20: /* mov r, imm; call/jmp r */
		*p++ = (uint8_t)(0xb8 + (x >> 4) % 8), st32(p, rnd() & 0xfffff), p += 4;
		*p++ = 0xff, *p++ = (uint8_t)((x >> 7) & 1 ? 0xd0 : 0xe0) | ((x >> 4) % 8);
		break;
	case 22: /* now and then DS, ES or SS = flat data, a 16-bit data
		  * segment or code (protected mode): the blocks compiled
		  * for flat segments meet others (jit_flat_state) */
		if ((x >> 12) % 4) { /* or an 8-bit ALU form */
			*p++ = alu[(x >> 4) % 16] & 0xfe, *p++ = (uint8_t)rm;
			break;
		}
		{
			/* SS only flat: a 16-bit stack under ESP 0x80000 would
			 * end the round in a triple fault */
			bool ss = (x >> 6) % 4 == 0;

			*p++ = 0x66, *p++ = 0xb8;
			*p++ = ss ? 0x10 : (uint8_t)(0x08 + (x >> 4) % 3 * 8), *p++ = 0;
			*p++ = 0x8e, *p++ = ss ? 0xd0 : (x >> 6) % 2 ? 0xd8 : 0xc0;
		}
		break;
	default: /* call/jmp [esp], [esp+disp8], [reg+disp8] */
		*p++ = 0xff;
		if ((x >> 8) % 4 == 3) {
			*p++ = (uint8_t)((x >> 7) & 1 ? 0x50 : 0x60) | ((x >> 4) % 8);
		} else {
			*p++ = (uint8_t)((x >> 7) & 1 ? 0x54 : 0x64), *p++ = 0x24;
		}
		*p++ = (uint8_t)((x >> 10) % 4 * 4);
		break;
	}
	return p;
}

/* When set (with fuzz_dense), the dense code is of the register forms of
 * every size the backend also runs inline: 8-bit (AH..BH too) and 16-bit
 * ALU, ADC/SBB chains, TEST, NOT, NEG, INC/DEC, MOVZX/MOVSX, XCHG, shifts
 * and rotates, SHLD/SHRD, MUL/IMUL/DIV/IDIV, with flag writers and readers
 * (CLC/STC/CMC, SETcc, Jcc, PUSHF) and CDQ / XOR EDX,EDX before divisions. */
static bool fuzz_dense_alu;

static uint8_t *gen_insn_alu(uint8_t *p)
{
	uint32_t x = rnd(), y = rnd(), rm = 0xc0 | (x >> 8 & 63);
	bool o16 = (x >> 16) % 4 == 0;
	unsigned iv = o16 ? 2 : 4; /* bytes of a full-size immediate */

	if (o16)
		*p++ = 0x66;
	switch (x % 24) {
	case 0:
	case 1:
	case 2:
	case 3: /* 00-3B, every operation, size and direction */
		*p++ = (uint8_t)((y % 8) << 3 | (y >> 3) % 4), *p++ = (uint8_t)rm;
		break;
	case 4: /* op AL/eAX, imm */
		*p++ = (uint8_t)((y % 8) << 3 | 4 | (y >> 3) % 2);
		st32(p, rnd()), p += (y >> 3) % 2 ? iv : 1;
		break;
	case 5: /* 80-83 op E, imm */
		*p++ = (uint8_t)(0x80 + y % 4), *p++ = (uint8_t)rm;
		st32(p, rnd()), p += y % 4 == 1 ? iv : 1;
		break;
	case 6: /* TEST, XCHG, MOV r8 */
		*p++ = (uint8_t)(0x84 + y % 8 - (y % 8 == 5 || y % 8 == 7 ? 1 : 0)),
		*p++ = (uint8_t)rm;
		break;
	case 7: /* F6/F7: TEST NOT NEG MUL IMUL DIV IDIV; TEST and DIV/IDIV of
		 * [disp32] too (RAM in protected mode; [DI] in 16-bit code) */
		if ((((rm >> 3) & 7) >= 6 || ((rm >> 3) & 7) < 2) && (y & 4)) {
			*p++ = (uint8_t)(0xf6 + y % 2), *p++ = (uint8_t)((rm & 0x38) | 5);
			st32(p, 0x90000 | (y >> 8 & 0xffc)), p += 4;
		} else {
			*p++ = (uint8_t)(0xf6 + y % 2), *p++ = (uint8_t)rm;
		}
		if (((rm >> 3) & 7) < 2)
			st32(p, rnd()), p += y % 2 ? iv : 1;
		break;
	case 8: /* INC/DEC r, FE/FF /0 /1 */
		if (y & 1)
			*p++ = (uint8_t)(0x40 + (y >> 1) % 16);
		else
			*p++ = (uint8_t)(0xfe + (y >> 1) % 2), *p++ = (uint8_t)(rm & 0xcf);
		break;
	case 9: /* MOV r8, imm8; XCHG eAX, r */
		if (y & 1)
			*p++ = (uint8_t)(0xb0 + (y >> 1) % 8), *p++ = (uint8_t)(y >> 8);
		else
			*p++ = (uint8_t)(0x91 + (y >> 1) % 7);
		break;
	case 10: /* MOVZX / MOVSX */
		*p++ = 0x0f, *p++ = (uint8_t)(0xb6 + (y % 2) + (y & 2 ? 8 : 0)), *p++ = (uint8_t)rm;
		break;
	case 11:
	case 12: /* shifts and rotates: by imm, 1, CL */
		*p++ = (uint8_t)(0xc0 + (y % 6 < 2 ? y % 2 : 0x10 + y % 4)), *p++ = (uint8_t)rm;
		if (y % 6 < 2)
			*p++ = (uint8_t)(y >> 8) % 40;
		break;
	case 13: /* SHLD / SHRD, imm and CL */
		*p++ = 0x0f, *p++ = (uint8_t)(0xa4 + y % 2 + (y & 2 ? 8 : 0)), *p++ = (uint8_t)rm;
		if (!(y % 2))
			*p++ = (uint8_t)(y >> 8) % 40;
		break;
	case 14: /* IMUL r, r, imm; IMUL r, r */
		if (y % 3 == 2) {
			*p++ = 0x0f, *p++ = 0xaf, *p++ = (uint8_t)rm;
			break;
		}
		*p++ = y % 3 ? 0x6b : 0x69, *p++ = (uint8_t)rm;
		st32(p, rnd()), p += y % 3 ? 1 : iv;
		break;
	case 15: /* CLC STC CMC; CDQ, XOR EDX, EDX, MOV ECX, small */
		switch (y % 6) {
		case 0:
			*p++ = 0xf8;
			break;
		case 1:
			*p++ = 0xf9;
			break;
		case 2:
			*p++ = 0xf5;
			break;
		case 3:
			*p++ = 0x99;
			break;
		case 4:
			*p++ = 0x31, *p++ = 0xd2;
			break;
		default:
			*p++ = 0xb1, *p++ = (uint8_t)(y >> 8) % 40;
			break;
		}
		break;
	case 16: /* SETcc */
		*p++ = 0x0f, *p++ = (uint8_t)(0x90 + y % 16), *p++ = (uint8_t)(0xc0 | (y >> 4) % 8);
		break;
	case 17: /* Jcc short, a little way on */
		*p++ = (uint8_t)(0x70 + y % 16), *p++ = (uint8_t)((y >> 4) % 8);
		break;
	case 18: /* PUSHF, POP r (not POPF: a random TF would step everything) */
		*p++ = (y & 1) ? 0x9c : (uint8_t)(0x58 + "\0\1\2\3\5\6\7\0"[(y >> 1) % 8]);
		break;
	default: /* the 32-bit inline ALU forms, which leave flags for the next */
		*p++ = (uint8_t)((y % 8) << 3 | 1 | (y & 8 ? 2 : 0)), *p++ = (uint8_t)rm;
		break;
	}
	return p;
}

static void fuzz_densify(void)
{
	uint8_t *p = ram, *end = ram + (1u << 20) - 16;

	while (p < end)
		p = fuzz_dense_alu ? gen_insn_alu(p) : gen_insn(p);
}

/* Random code and data in the first 1 MiB, and the machine in @mode (round
 * @r picks the variant: paging, a 16-bit stack, 16-bit code). */
static void fuzz_setup(enum fuzz_mode mode, unsigned r)
{
	machine_reset();
	tsc_base = cpu_icount(cpu);
	for (uint32_t a = 0; a < (1u << 20); a += 4)
		st32(ram + a, rnd());
	if (fuzz_dense)
		fuzz_densify();
	if (mode == FZ_REAL) {
		cpu_set_seg(cpu, S_CS, (SegReg){0x1000, 0x10000, 0xffff, 0x9b});
		cpu_set_eip(cpu, rnd() & 0xffff);
		return;
	}
	/* a GDT (flat code 0x08, data 0x10) and an IDT whose every gate
	 * restarts at a fresh random place */
	st64(ram + 0x2000, 0);
	st64(ram + 0x2008, 0x00cf9a000000ffffull);
	st64(ram + 0x2010, 0x00cf92000000ffffull);
	/* 0x18: a 16-bit stack at 0x70000, 0x20: 16-bit code at 0x10000, for
	 * rounds that start on them; 0x28: a 32-bit TSS at 0x4000 (ring 0
	 * stack 0x10:0x80000, no I/O bitmap) for virtual-8086 mode */
	st64(ram + 0x2018, 0x000092070000ffffull);
	st64(ram + 0x2020, 0x00009a010000ffffull);
	st64(ram + 0x2028, 0x0000890040000067ull);
	memset(ram + 0x4000, 0, 0x68);
	st32(ram + 0x4004, 0x80000);
	st32(ram + 0x4008, 0x10);
	st32(ram + 0x4064, 0x00680000);
	for (int v = 0; v < 256; v++) {
		st32(ram + 0x1000 + v * 8, 0x00083000);
		st32(ram + 0x1000 + v * 8 + 4, 0x00008e00);
	}
	static const uint8_t restart[] = {0xbc, 0x00, 0x00, 0x08, 0x00, 0xe9};

	memcpy(ram + 0x3000, restart, sizeof(restart));
	st32(ram + 0x3006, 0x10000 + (rnd() & 0xffff) - 0x300a);
	cpu_set_flat32(cpu, 0x10000 + (rnd() & 0xfff));
	cpu_set_seg(cpu, S_CS, (SegReg){0x08, 0, 0xffffffff, 0xc09b});
	cpu_set_idtr(cpu, (DescTable){0x1000, 0x7ff});
	cpu_set_gdtr(cpu, (DescTable){0x2000, 0x2f});
	cpu_set_reg(cpu, R_ESP, 0x80000);
	if (mode == FZ_V86) {
		/* LTR, then every gate IRETs into virtual-8086 mode at 1000:random
		 * with IOPL 0 (so INT n, CLI, STI and I/O fault back to ring 0) */
		uint8_t v86[64], *p = v86;
		uint32_t frame[9] = {rnd() & 0xffff, 0x1000, 0x00020202, 0xfffe, 0x7000,
				     0x2000,	     0x3000, 0x4000,	 0x5000};

		*p++ = 0x66, *p++ = 0xb8, *p++ = 0x28, *p++ = 0x00; /* mov ax, 0x28 */
		*p++ = 0x0f, *p++ = 0x00, *p++ = 0xd8;		    /* ltr ax */
		*p++ = 0xbc, st32(p, 0x80000), p += 4;		    /* mov esp, 0x80000 */
		for (int i = 8; i >= 0; i--)
			*p++ = 0x68, st32(p, frame[i]), p += 4; /* push imm32 */
		*p++ = 0xcf;					/* iretd */
		memcpy(ram + 0x3100, v86, (size_t)(p - v86));
		for (int v = 0; v < 256; v++)
			st32(ram + 0x1000 + v * 8, 0x00083107);
		cpu_set_eip(cpu, 0x3100);
	} else {
		if (r & 2) {
			/* a 16-bit stack under a random ESP (its upper half must
			 * stay): pushes, pops and frames wrap in 64 KiB */
			cpu_set_seg(cpu, S_SS, (SegReg){0x18, 0x70000, 0xffff, 0x93});
			cpu_set_reg(cpu, R_ESP, rnd());
		}
		if (r & 4) {
			cpu_set_seg(cpu, S_CS, (SegReg){0x20, 0x10000, 0xffff, 0x9b});
			cpu_set_eip(cpu, rnd() & 0xffff);
		}
	}
	if (r & 1) {
		/* paging: 4 MiB pages for the first 8 MiB, the rest of the page
		 * directory random */
		st32(ram + 0x5000, 0x83);
		st32(ram + 0x5004, 0x400083);
		cpu_set_cr(cpu, 4, CR4_PSE);
		cpu_set_cr(cpu, 3, 0x5000);
		cpu_set_cr(cpu, 0, cpu_get_cr(cpu, 0) | CR0_PG);
	}
}

static uint64_t ram_hash(void)
{
	uint64_t h = 0;

	for (size_t i = 0; i < RAM_SIZE; i += 8)
		h = (h ^ ld64(ram + i)) * 0x100000001b3ull;
	return h;
}

/* One stop of a fuzz run, for comparing the engines. */
typedef struct FuzzStop {
	uint64_t icount, cpu, ram;
	enum cpu_exit exit;
} FuzzStop;
#define FUZZ_STOPS 256

/*
 * Run the machine fuzz_setup() left, up to 20000 instructions, in steps
 * whose limits come from @stops_seed: mostly far (whole blocks), often
 * only a few instructions on (exact stops inside blocks).  Notes each stop
 * in @out (when not NULL); returns how many.
 */
static unsigned fuzz_run(uint64_t stops_seed, FuzzStop *out, unsigned *triples, unsigned *halts)
{
	uint64_t start = cpu_icount(cpu), limit = start + 20000, s = stops_seed | 1;
	unsigned n = 0;

	for (int k = 0; k < 200 && cpu_icount(cpu) < limit; k++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		uint64_t to = (s & 7) == 0  ? limit
			      : (s & 7) < 3 ? cpu_icount(cpu) + 1 + (s >> 8) % 2000
					    : cpu_icount(cpu) + 1 + (s >> 8) % 97;
		enum cpu_exit e = cpu_exec(cpu, to < limit ? to : limit);

		if (out && n < FUZZ_STOPS)
			out[n++] = (FuzzStop){cpu_icount(cpu) - start, cpu_state_hash(cpu),
					      k % 8 == 0 ? ram_hash() : 0, e};
		if (fuzz_seg_flips && (s >> 40) % 4 == 0) {
			/* DS or ES flat or not under code compiled for either:
			 * the host code's segment guard (jit_flat_state) */
			static const SegReg flat = {0x10, 0, 0xffffffff, 0xc093},
					    small = {0x18, 0x70000, 0xffff, 0x93};

			cpu_set_seg(cpu, (s >> 42) & 1 ? S_DS : S_ES, (s >> 43) & 1 ? small : flat);
		}
		if (e == CPU_EXIT_TRIPLE_FAULT) {
			(*triples)++;
			break;
		}
		if (e == CPU_EXIT_HALT) {
			(*halts)++;
			/* wake it with an interrupt, or give up */
			cpu_set_intr(cpu, true);
			if (cpu_exec(cpu, limit) == CPU_EXIT_HALT)
				break;
			cpu_set_intr(cpu, false);
		}
	}
	CHECK(cpu_icount(cpu) <= limit);
	if (out && n < FUZZ_STOPS)
		out[n++] = (FuzzStop){cpu_icount(cpu) - start, cpu_state_hash(cpu), ram_hash(), 0};
	return n;
}

static void fuzz(enum fuzz_mode mode, unsigned rounds)
{
	unsigned triples = 0, halts = 0;

	for (unsigned r = 0; r < rounds; r++) {
		fuzz_setup(mode, r);
		fuzz_run(rnd(), NULL, &triples, &halts);
	}
	printf("fuzz %s (%s): %u rounds, %u triple faults, %u halts\n", fuzz_names[mode],
	       cpu_get_accel(cpu) == CPU_ACCEL_JIT ? "jit" : "interp", rounds, triples, halts);
}

/*
 * The differential test of the engines: each round runs the same random
 * code from the same state with the interpreter and with the host-code
 * backend, stopping at the same random icounts; CPU state, icount, exit
 * reason and RAM must agree at every stop.
 */
static void fuzz_diff(enum fuzz_mode mode, unsigned rounds)
{
	static FuzzStop a[FUZZ_STOPS], b[FUZZ_STOPS];
	unsigned triples = 0, halts = 0, stops = 0;

	for (unsigned r = 0; r < rounds; r++) {
		uint64_t seed = rng, stops_seed = rnd();
		unsigned na, nb;

		cpu_set_accel(cpu, CPU_ACCEL_INTERP);
		fuzz_setup(mode, r);
		na = fuzz_run(stops_seed, a, &triples, &halts);
		rng = seed;
		rnd();
		cpu_set_accel(cpu, CPU_ACCEL_JIT);
		fuzz_setup(mode, r);
		nb = fuzz_run(stops_seed, b, &triples, &halts);
		CHECK_EQ(na, nb);
		for (unsigned i = 0; i < na && i < nb; i++) {
			if (a[i].icount == b[i].icount && a[i].cpu == b[i].cpu &&
			    a[i].ram == b[i].ram && a[i].exit == b[i].exit)
				continue;
			fprintf(stderr,
				"fuzz-diff %s round %u stop %u: interp icount %llu exit %d "
				"hash %016llx ram %016llx, jit icount %llu exit %d hash %016llx "
				"ram %016llx\n",
				fuzz_names[mode], r, i, (unsigned long long)a[i].icount, a[i].exit,
				(unsigned long long)a[i].cpu, (unsigned long long)a[i].ram,
				(unsigned long long)b[i].icount, b[i].exit,
				(unsigned long long)b[i].cpu, (unsigned long long)b[i].ram);
			CHECK(false);
			break;
		}
		stops += na;
	}
	cpu_set_accel(cpu, cpu_default_accel());
	printf("fuzz-diff %s%s: %u rounds, %u stops agree (interp and jit)\n", fuzz_names[mode],
	       fuzz_dense_alu ? " (dense alu)"
	       : fuzz_dense   ? " (dense)"
			      : "",
	       rounds, stops);
}

/* Every block end of a run (cpu_set_block_hook): icount, CPU state hash,
 * and the RAM hash at every BLOCK_RAM_EVERY-th (hashing 8 MiB each time
 * would take the test minutes). */
#define BLOCK_ENDS 16384
#define BLOCK_RAM_EVERY 128
typedef struct BlockEnds {
	FuzzStop *v;
	unsigned n;
	uint64_t start;
} BlockEnds;

static void note_block_end(void *opaque, CPU *c)
{
	BlockEnds *b = opaque;

	if (b->n < BLOCK_ENDS)
		b->v[b->n] = (FuzzStop){cpu_icount(c) - b->start, cpu_state_hash(c),
					b->n % BLOCK_RAM_EVERY == 0 ? ram_hash() : 0, 0};
	b->n++;
}

/*
 * The engines compared at every block end: both cut the code into the same
 * blocks (dcache.c) at the same limits, so each run, the host code's
 * without chaining while the hook looks, must pass the same block ends
 * with the same state.  fuzz_diff() covers the chained runs.
 */
static void fuzz_blocks(enum fuzz_mode mode, unsigned rounds)
{
	static FuzzStop a[BLOCK_ENDS], b[BLOCK_ENDS];
	unsigned triples = 0, halts = 0;
	uint64_t ends = 0;

	for (unsigned r = 0; r < rounds; r++) {
		uint64_t seed = rng, stops_seed = rnd();
		BlockEnds ba = {a, 0, 0}, bb = {b, 0, 0};

		cpu_set_accel(cpu, CPU_ACCEL_INTERP);
		fuzz_setup(mode, r);
		ba.start = cpu_icount(cpu);
		cpu_set_block_hook(cpu, note_block_end, &ba);
		fuzz_run(stops_seed, NULL, &triples, &halts);
		rng = seed;
		rnd();
		cpu_set_accel(cpu, CPU_ACCEL_JIT);
		fuzz_setup(mode, r);
		bb.start = cpu_icount(cpu);
		cpu_set_block_hook(cpu, note_block_end, &bb);
		fuzz_run(stops_seed, NULL, &triples, &halts);
		cpu_set_block_hook(cpu, NULL, NULL);
		CHECK_EQ(ba.n, bb.n);
		for (unsigned i = 0; i < ba.n && i < bb.n && i < BLOCK_ENDS; i++) {
			if (a[i].icount == b[i].icount && a[i].cpu == b[i].cpu && a[i].ram == b[i].ram)
				continue;
			fprintf(stderr,
				"fuzz-blocks %s round %u block end %u: interp icount %llu hash "
				"%016llx ram %016llx, jit icount %llu hash %016llx ram %016llx\n",
				fuzz_names[mode], r, i, (unsigned long long)a[i].icount,
				(unsigned long long)a[i].cpu, (unsigned long long)a[i].ram,
				(unsigned long long)b[i].icount, (unsigned long long)b[i].cpu,
				(unsigned long long)b[i].ram);
			CHECK(false);
			break;
		}
		ends += ba.n;
	}
	cpu_set_accel(cpu, cpu_default_accel());
	printf("fuzz-blocks %s%s: %u rounds, %llu block ends agree (interp and jit)\n",
	       fuzz_names[mode], fuzz_dense_alu ? " (dense alu)" : fuzz_dense ? " (dense)" : "",
	       rounds, (unsigned long long)ends);
}

/*
 * A loop compiled for a flat DS, run on with DS based elsewhere, then flat
 * again: the host code's entry check (jit_flat_state) must send the block
 * back to the interpreter and have it compiled again each time; both
 * engines must leave the same state and RAM at every stop.
 */
static void seg_guard_run(enum cpu_accel a, uint64_t *out)
{
	static const uint8_t loop[] = {
	    0x8b, 0x03,	      /* mov eax, [ebx] */
	    0x89, 0x43, 0x04, /* mov [ebx+4], eax */
	    0x40,	      /* inc eax */
	    0x89, 0x03,	      /* mov [ebx], eax */
	    0x49,	      /* dec ecx */
	    0x75, 0xf5,	      /* jnz loop */
	    0xf4,	      /* hlt */
	};
	static const SegReg flat = {0x10, 0, 0xffffffff, 0xc093},
			    small = {0x18, 0x70000, 0xffff, 0x93};
	uint64_t seed = rng, start;

	cpu_set_accel(cpu, a);
	fuzz_setup(FZ_PM, 0);
	rng = seed;
	memcpy(ram + 0x20000, loop, sizeof(loop));
	cpu_set_eip(cpu, 0x20000);
	cpu_set_reg(cpu, R_EBX, 0x100);
	cpu_set_reg(cpu, R_ECX, 1000);
	start = cpu_icount(cpu);
	for (int k = 0; k < 6; k++) {
		cpu_set_seg(cpu, S_DS, k % 2 ? small : flat);
		cpu_exec(cpu, cpu_icount(cpu) + 600 + 7 * (uint64_t)k);
		out[k] = cpu_state_hash(cpu) ^ ram_hash() ^ (cpu_icount(cpu) - start);
	}
	cpu_set_accel(cpu, cpu_default_accel());
}

static void test_seg_guard(void)
{
	uint64_t a[6], b[6];

	seg_guard_run(CPU_ACCEL_INTERP, a);
	seg_guard_run(CPU_ACCEL_JIT, b);
	for (int k = 0; k < 6; k++)
		CHECK_EQ(a[k], b[k]);
	CHECK(cpu_get_reg(cpu, R_ECX) < 1000);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: test_cpu PMODE.bin PAGING.bin PRIV.bin INSN0F.bin\n");
		return 2;
	}
	/* every block gets host code at once (jit.c) */
	setenv("FB_JIT_HOT", "0", 0);
	machine_new();
	test_pmode(argv[1]);
	test_paging(argv[2]);
	test_priv(argv[3]);
	test_insn0f(argv[4]);
	test_rep_icount();
	test_sti_shadow();
	test_fault_icount();
	test_hlt_wakeup();
	test_triple_fault();
	test_smc();
	test_lazy_conditions();
	test_fault_loop();
	test_stack_pusha();
	test_stack_segs();
	test_stack_enter();
	test_stack_calls();
	test_stack_interrupts();
	test_reset_intr();
	test_seg_guard();
	/* FUZZ_ROUNDS=N runs a longer fuzz (by hand, e.g. under ASan) */
	unsigned rounds = getenv("FUZZ_ROUNDS") ? (unsigned)atoi(getenv("FUZZ_ROUNDS")) : 20;

	for (enum fuzz_mode m = FZ_REAL; m <= FZ_V86; m++) {
		cpu_set_accel(cpu, CPU_ACCEL_INTERP);
		fuzz(m, rounds);
		cpu_set_accel(cpu, CPU_ACCEL_JIT);
		fuzz(m, rounds);
		fuzz_diff(m, rounds);
		fuzz_blocks(m, rounds / 2);
	}
	/* the inline forms in long runs, with every variant of fuzz_setup() */
	fuzz_dense = true;
	fuzz_seg_flips = true;
	fuzz_diff(FZ_PM, 2 * rounds);
	fuzz_blocks(FZ_PM, rounds);
	fuzz_seg_flips = false;
	fuzz_diff(FZ_REAL, rounds);
	fuzz_dense_alu = true;
	fuzz_diff(FZ_PM, 2 * rounds);
	fuzz_diff(FZ_REAL, rounds);
	fuzz_blocks(FZ_PM, rounds);
	fuzz_blocks(FZ_REAL, rounds / 2);
	fuzz_dense_alu = false;
	fuzz_dense = false;
	return unit_done("cpu");
}
