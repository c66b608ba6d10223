/*
 * test_cpu.c - unit tests of the CPU on a RAM-only bus: programs assembled
 * with nasm at build time (protected mode entry, paging and #PF, interrupt
 * with a privilege change) and small byte sequences for the exact-icount
 * rules (inside REP, after STI, after a faulting instruction), HLT with an
 * interrupt wake-up, and a random-code fuzz run in real and protected mode.
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

static uint64_t rdtsc(void *o)
{
	return cpu_icount(cpu) * 3;
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
	physmem_init(as);
	cpu = cpu_new(&bus);
}

/* Fresh state: zeroed RAM, CPU reset, INTR low. */
static void machine_reset(void)
{
	memset(ram, 0, RAM_SIZE);
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
	CHECK(cpu_physical_memory_rw(0x7c01, &v, 1, true));
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

/* ---- fuzz -------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void fuzz(bool protected_mode, unsigned rounds)
{
	unsigned triples = 0, halts = 0;

	for (unsigned r = 0; r < rounds; r++) {
		machine_reset();
		/* random code and data in the first 1 MiB */
		for (uint32_t a = 0; a < (1u << 20); a += 4)
			st32(ram + a, rnd());
		if (protected_mode) {
			/* a GDT (flat code 0x08, data 0x10) and an IDT whose every
			 * gate restarts at a fresh random place */
			st64(ram + 0x2000, 0);
			st64(ram + 0x2008, 0x00cf9a000000ffffull);
			st64(ram + 0x2010, 0x00cf92000000ffffull);
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
			cpu_set_gdtr(cpu, (DescTable){0x2000, 0x17});
			cpu_set_reg(cpu, R_ESP, 0x80000);
			if (r & 1) {
				/* paging: 4 MiB pages for the first 8 MiB, the rest of
				 * the page directory random */
				st32(ram + 0x5000, 0x83);
				st32(ram + 0x5004, 0x400083);
				cpu_set_cr(cpu, 4, CR4_PSE);
				cpu_set_cr(cpu, 3, 0x5000);
				cpu_set_cr(cpu, 0, cpu_get_cr(cpu, 0) | CR0_PG);
			}
		} else {
			cpu_set_seg(cpu, S_CS, (SegReg){0x1000, 0x10000, 0xffff, 0x9b});
			cpu_set_eip(cpu, rnd() & 0xffff);
		}
		uint64_t limit = cpu_icount(cpu) + 20000;

		for (int k = 0; k < 200 && cpu_icount(cpu) < limit; k++) {
			enum cpu_exit e = cpu_exec(cpu, limit);

			if (e == CPU_EXIT_TRIPLE_FAULT) {
				triples++;
				break;
			}
			if (e == CPU_EXIT_HALT) {
				halts++;
				/* wake it with an interrupt, or give up */
				cpu_set_intr(cpu, true);
				if (cpu_exec(cpu, limit) == CPU_EXIT_HALT)
					break;
				cpu_set_intr(cpu, false);
			}
		}
		CHECK(cpu_icount(cpu) <= limit);
	}
	printf("fuzz %s: %u rounds, %u triple faults, %u halts\n", protected_mode ? "pm" : "real",
	       rounds, triples, halts);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: test_cpu PMODE.bin PAGING.bin PRIV.bin INSN0F.bin\n");
		return 2;
	}
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
	/* FUZZ_ROUNDS=N runs a longer fuzz (by hand, e.g. under ASan) */
	unsigned rounds = getenv("FUZZ_ROUNDS") ? (unsigned)atoi(getenv("FUZZ_ROUNDS")) : 20;

	fuzz(false, rounds);
	fuzz(true, rounds);
	return unit_done("cpu");
}
