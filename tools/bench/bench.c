/*
 * bench.c - Flashback's CPU benchmark guest.
 *
 * A deterministic, CPU-bound mix of the integer work kernels do, followed by
 * a timer-interrupt phase:
 *   crc32   table-driven CRC-32 over a buffer that changes every pass
 *   sort    quicksort with an insertion-sort tail on pseudo-random words
 *   sieve   sieve of Eratosthenes on a byte array
 *   mem     REP MOVS / REP STOS (forwards and backwards) and byte loops
 *   hash    an open-addressing hash table: clear, insert, look up
 *   calls   a bytecode interpreter (a switch: indirect jumps), recursion
 *           and calls through function pointers
 *   alu16   16-bit and 8-bit ALU, shifts, rotates, IMUL, carries
 *   muldiv  MUL / IMUL / DIV / IDIV, 64-bit division through libgcc
 *   timer   the PIT at 1 kHz; the IRQ 0 handler does a little work and the
 *           main loop halts between ticks, so interrupt delivery and halt
 *           skipping are measured too
 * Each phase prints a checksum ("bench: <phase> checksum 0x...") that only
 * depends on the work done, so two emulators that disagree on any result
 * print different lines.  The phases also print their RDTSC span
 * ("bench: <phase> tsc N"): under -icount shift=0 that is the number of
 * instructions (plus any halted time), which run_bench.py uses only when it
 * has no instruction count from flashback.
 *
 * The amount of work is PASSES_* passes times the scale, 1 unless the
 * multiboot command line says "scale=N" (N from 1 to 1000).  At scale 1 the
 * CPU phases retire about 300 million instructions.  The guest leaves
 * through port 0xF4 with code 0 (emulator status 1).
 */
#include "guest.h"

/* Passes per phase at scale 1, tuned so that each phase retires a few tens
 * of millions of instructions (see the "tsc" lines under QEMU -icount). */
#define PASSES_CRC32  550
#define PASSES_SORT   260
#define PASSES_SIEVE  70
#define PASSES_MEM    1400
#define PASSES_HASH   330
#define PASSES_CALLS  250
#define PASSES_ALU16  35
#define PASSES_MULDIV 26

#define TIMER_HZ    1000
#define TIMER_TICKS 500
#define MAX_SCALE   1000

#define MB_INFO_CMDLINE 0x004

struct multiboot_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

/* ---- pseudo-random numbers: xorshift32 (shifts and XORs only) ---- */

static inline u32 xorshift(u32 *state)
{
	u32 x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

/* ---- crc32 ---- */

#define CRC_BUF 8192
static u32 crc_table[256];
static u8 crc_buf[CRC_BUF];

/* The reflected CRC-32 polynomial, one bit at a time (runs once). */
static void crc32_init(void)
{
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? 0xEDB88320u : 0);
		crc_table[i] = c;
	}
}

static u32 crc32(u32 crc, const u8 *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

static u32 phase_crc32(u32 passes)
{
	u32 seed = 0x12345678, crc = 0;

	for (size_t i = 0; i < CRC_BUF; i++)
		crc_buf[i] = (u8)xorshift(&seed);
	for (u32 pass = 0; pass < passes; pass++) {
		crc = crc32(crc, crc_buf, CRC_BUF);
		/* Change the buffer so that no pass repeats the last one. */
		crc_buf[crc % CRC_BUF] ^= (u8)pass;
	}
	return crc;
}

/* ---- sort ---- */

#define SORT_N 1024
static u32 sort_a[SORT_N];

static void insertion_sort(u32 *a, int n)
{
	for (int i = 1; i < n; i++) {
		u32 v = a[i];
		int j = i - 1;

		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
}

static inline void swap_u32(u32 *a, u32 *b)
{
	u32 t = *a;

	*a = *b;
	*b = t;
}

/* Hoare partition around the median of three; recursion on the smaller
 * side keeps the stack shallow. */
static void quick_sort(u32 *a, int n)
{
	while (n > 16) {
		int mid = n / 2, i = -1, j = n;

		if (a[mid] < a[0])
			swap_u32(&a[mid], &a[0]);
		if (a[n - 1] < a[0])
			swap_u32(&a[n - 1], &a[0]);
		if (a[n - 1] < a[mid])
			swap_u32(&a[n - 1], &a[mid]);
		u32 pivot = a[mid];

		for (;;) {
			do
				i++;
			while (a[i] < pivot);
			do
				j--;
			while (a[j] > pivot);
			if (i >= j)
				break;
			swap_u32(&a[i], &a[j]);
		}
		if (j + 1 < n - j - 1) {
			quick_sort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			quick_sort(a + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	insertion_sort(a, n);
}

static u32 phase_sort(u32 passes)
{
	u32 sum = 0, unsorted = 0;

	for (u32 pass = 0; pass < passes; pass++) {
		u32 seed = 0x9E3779B9u + pass;

		for (int i = 0; i < SORT_N; i++)
			sort_a[i] = xorshift(&seed) % 100000;
		quick_sort(sort_a, SORT_N);
		for (int i = 1; i < SORT_N; i++)
			unsorted += sort_a[i - 1] > sort_a[i];
		for (int i = 0; i < SORT_N; i += 37)
			sum = sum * 31 + sort_a[i];
	}
	/* A broken sort changes the checksum even if the samples agree. */
	return sum ^ unsorted << 24;
}

/* ---- sieve ---- */

#define SIEVE_N 32768
static u8 sieve[SIEVE_N];

static u32 phase_sieve(u32 passes)
{
	u32 total = 0, last = 0;

	for (u32 pass = 0; pass < passes; pass++) {
		u32 limit = SIEVE_N - (pass & 255);

		for (u32 i = 0; i < limit; i++)
			sieve[i] = 1;
		sieve[0] = sieve[1] = 0;
		for (u32 p = 2; p * p < limit; p++)
			if (sieve[p])
				for (u32 k = p * p; k < limit; k += p)
					sieve[k] = 0;
		for (u32 i = 0; i < limit; i++)
			if (sieve[i]) {
				total++;
				last = i;
			}
	}
	return total * 65599 + last;
}

/* ---- mem: string instructions and byte loops ---- */

#define MEM_N 4096
static u8 mem_src[MEM_N], mem_dst[MEM_N + 64];

static inline void rep_movsl(void *d, const void *s, size_t n)
{
	__asm__ volatile("rep movsl" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static inline void rep_movsb(void *d, const void *s, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static inline void rep_stosl(void *d, u32 v, size_t n)
{
	__asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(v) : "memory");
}

/* memmove to a higher, overlapping address: copy backwards with DF set. */
static inline void rep_movsb_backwards(void *d, const void *s, size_t n)
{
	u8 *dl = (u8 *)d + n - 1;
	const u8 *sl = (const u8 *)s + n - 1;

	__asm__ volatile("std; rep movsb; cld" : "+D"(dl), "+S"(sl), "+c"(n) : : "memory", "cc");
}

static void byte_copy(u8 *d, const u8 *s, size_t n)
{
	while (n--)
		*d++ = *s++;
}

/* Sums the buffer as 16-bit words with an end-around carry (the IP
 * checksum), a loop kernels run on every packet. */
static u16 ip_checksum(const u8 *p, size_t n)
{
	u32 sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (u16)(p[i] | p[i + 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (u16)~sum;
}

static u32 phase_mem(u32 passes)
{
	u32 seed = 0xC0FFEE, sum = 0;

	for (size_t i = 0; i < MEM_N; i++)
		mem_src[i] = (u8)xorshift(&seed);
	for (u32 pass = 0; pass < passes; pass++) {
		u32 off = pass & 15;

		rep_stosl(mem_dst, 0x01010101u * (pass & 0xFF), (MEM_N + 64) / 4);
		rep_movsl(mem_dst, mem_src, MEM_N / 4);
		rep_movsb(mem_dst + off, mem_src + 7, MEM_N / 2);
		rep_movsb_backwards(mem_dst + off + 5, mem_dst + off, MEM_N / 4);
		byte_copy(mem_dst + MEM_N / 2 + off, mem_src + off, MEM_N / 4);
		mem_src[pass % MEM_N] ^= mem_dst[(pass * 7) % MEM_N];
		sum = (sum << 3 | sum >> 29) ^ ip_checksum(mem_dst, MEM_N + 32);
	}
	return sum;
}

/* ---- hash: open addressing with linear probing ---- */

#define HASH_SLOTS 2048
#define HASH_KEYS  1200
struct slot {
	u32 key, value;
};
static struct slot table[HASH_SLOTS];

static inline u32 hash_of(u32 key)
{
	return (key * 0x9E3779B1u) >> 21; /* 11 bits: HASH_SLOTS */
}

static void hash_put(u32 key, u32 value)
{
	u32 i = hash_of(key);

	while (table[i].key && table[i].key != key)
		i = (i + 1) & (HASH_SLOTS - 1);
	table[i].key = key;
	table[i].value = value;
}

static bool hash_get(u32 key, u32 *value)
{
	for (u32 i = hash_of(key); table[i].key; i = (i + 1) & (HASH_SLOTS - 1)) {
		if (table[i].key == key) {
			*value = table[i].value;
			return true;
		}
	}
	return false;
}

static u32 phase_hash(u32 passes)
{
	u32 found = 0, sum = 0;

	for (u32 pass = 0; pass < passes; pass++) {
		u32 seed = 0xBADC0DE + pass, v;

		rep_stosl(table, 0, sizeof(table) / 4);
		for (u32 i = 0; i < HASH_KEYS; i++)
			hash_put((xorshift(&seed) & 0xFFFFF) | 1, i);
		/* Half of these keys are the ones above (same seed), half not. */
		seed = 0xBADC0DE + pass;
		for (u32 i = 0; i < 2 * HASH_KEYS; i++) {
			u32 key = i & 1 ? (xorshift(&seed) & 0xFFFFF) | 1 : (i * 2654435761u) & ~1u;

			if (key && hash_get(key, &v)) {
				found++;
				sum += v ^ key;
			}
		}
	}
	return sum ^ found * 0x01000193u;
}

/* ---- calls: a bytecode interpreter, recursion, function pointers ---- */

enum op {
	OP_PUSH,
	OP_ADD,
	OP_SUB,
	OP_MUL,
	OP_DUP,
	OP_SWAP,
	OP_OVER,
	OP_ROT,
	OP_DROP,
	OP_XOR,
	OP_SHL,
	OP_DEC,
	OP_JNZ,
	OP_HALT
};

/* The interpreter proper: a switch the compiler turns into a jump table. */
static u32 interpret(const u8 *code, u32 *stack, int sp)
{
	int pc = 0;

	for (;;) {
		u32 a;

		switch (code[pc++]) {
		case OP_PUSH:
			stack[sp++] = code[pc++];
			break;
		case OP_ADD:
			sp--;
			stack[sp - 1] += stack[sp];
			break;
		case OP_SUB:
			sp--;
			stack[sp - 1] -= stack[sp];
			break;
		case OP_MUL:
			sp--;
			stack[sp - 1] *= stack[sp];
			break;
		case OP_DUP:
			stack[sp] = stack[sp - 1];
			sp++;
			break;
		case OP_SWAP:
			a = stack[sp - 1];
			stack[sp - 1] = stack[sp - 2];
			stack[sp - 2] = a;
			break;
		case OP_OVER:
			stack[sp] = stack[sp - 2];
			sp++;
			break;
		case OP_ROT: /* a b c -> b c a */
			a = stack[sp - 3];
			stack[sp - 3] = stack[sp - 2];
			stack[sp - 2] = stack[sp - 1];
			stack[sp - 1] = a;
			break;
		case OP_DROP:
			sp--;
			break;
		case OP_XOR:
			sp--;
			stack[sp - 1] ^= stack[sp];
			break;
		case OP_SHL:
			sp--;
			stack[sp - 1] <<= stack[sp] & 31;
			break;
		case OP_DEC:
			stack[sp - 1]--;
			break;
		case OP_JNZ:
			sp--;
			pc = stack[sp] ? code[pc] : pc + 1;
			break;
		default:
			return stack[sp - 1];
		}
	}
}

/* With "acc k" on the stack (k > 0), adds (k * 7) ^ (k << 2) to acc for k
 * down to 1 and leaves acc. */
static const u8 loop_program[] = {
    /* 0 */ OP_DUP,   OP_PUSH, 7,      OP_MUL, /* acc k 7k */
    /* 4 */ OP_OVER,  OP_PUSH, 2,      OP_SHL, /* acc k 7k 4k */
    /* 8 */ OP_XOR,   OP_ROT,  OP_ADD,	       /* k acc+f */
    /* 11 */ OP_SWAP, OP_DEC,		       /* acc' k-1 */
    /* 13 */ OP_DUP,  OP_JNZ,  0,	       /* loop while k-1 != 0 */
    /* 16 */ OP_DROP, OP_HALT,		       /* acc' */
};

static __attribute__((noinline)) u32 fib(u32 n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static __attribute__((noinline)) u32 f_add(u32 a, u32 b)
{
	return a + b;
}
static __attribute__((noinline)) u32 f_rot(u32 a, u32 b)
{
	return a << (b & 31) | a >> (-b & 31);
}
static __attribute__((noinline)) u32 f_mix(u32 a, u32 b)
{
	return (a ^ b) * 0x01000193u;
}
static __attribute__((noinline)) u32 f_sub(u32 a, u32 b)
{
	return a - (b | 1);
}
static u32 (*const ops[])(u32, u32) = {f_add, f_rot, f_mix, f_sub};

static u32 phase_calls(u32 passes)
{
	u32 stack[32], sum = 0, seed = 0xFEEDFACE;

	for (u32 pass = 0; pass < passes; pass++) {
		stack[0] = sum;
		stack[1] = 400 + (pass & 63);
		sum ^= interpret(loop_program, stack, 2);
		sum += fib(16 + (pass & 1));
		for (u32 i = 0; i < 2000; i++) {
			u32 r = xorshift(&seed);

			sum = ops[r & 3](sum, r >> 8);
		}
	}
	return sum;
}

/* ---- alu16: 16- and 8-bit operations (operand-size prefixes, high-byte
 * registers, partial-register flags) ---- */

static u32 alu_small(u32 n, u32 seed)
{
	u32 a = seed, b = seed ^ 0x5A5A, d = 0x1234, s = 0;

	/* "Q": registers with a high byte (%ah..%dh). */
	__asm__ volatile("1:\n\t"
			 "addw %w[b], %w[a]\n\t"
			 "rolw $3, %w[a]\n\t"
			 "xorb %h[a], %b[d]\n\t"
			 "adcb %b[a], %h[d]\n\t"
			 "subw %w[d], %w[b]\n\t"
			 "incw %w[s]\n\t"
			 "shrb $1, %b[b]\n\t"
			 "negw %w[d]\n\t"
			 "sbbw %w[a], %w[s]\n\t"
			 "imulw $0x2F, %w[b], %w[b]\n\t"
			 "movzbw %h[b], %w[d]\n\t"
			 "rcrw $1, %w[a]\n\t"
			 "xchgb %b[a], %h[b]\n\t"
			 "orw $0x101, %w[b]\n\t"
			 "sarb $2, %h[d]\n\t"
			 "testb $4, %b[a]\n\t"
			 "setnz %b[b]\n\t"
			 "movsbw %b[d], %w[s]\n\t"
			 "addb %h[a], %b[s]\n\t"
			 "decl %[n]\n\t"
			 "jnz 1b"
			 : [a] "+Q"(a), [b] "+Q"(b), [d] "+Q"(d), [s] "+r"(s), [n] "+r"(n)
			 :
			 : "cc");
	return a ^ b << 8 ^ d << 16 ^ s << 24;
}

static u32 phase_alu16(u32 passes)
{
	u32 sum = 0;

	for (u32 pass = 0; pass < passes; pass++)
		sum = (sum << 5 | sum >> 27) ^ alu_small(50000, sum + pass);
	return sum;
}

/* ---- muldiv ---- */

static inline u32 div64(u32 hi, u32 lo, u32 d, u32 *rem)
{
	u32 q;

	__asm__("divl %4" : "=a"(q), "=d"(*rem) : "a"(lo), "d"(hi), "rm"(d) : "cc");
	return q;
}

static inline s32 idiv32(s32 x, s32 d, s32 *rem)
{
	s32 q;

	__asm__("cltd; idivl %3" : "=a"(q), "=&d"(*rem) : "a"(x), "rm"(d) : "cc");
	return q;
}

/* 64-bit division by shifting and subtracting, as kernels do it without
 * libgcc (whose __udivdi3 would also bring CET's ENDBR32 into the mix). */
static u64 div_u64(u64 n, u64 d)
{
	u64 q = 0, r = 0;

	for (int bit = 63; bit >= 0; bit--) {
		r = r << 1 | (n >> bit & 1);
		if (r >= d) {
			r -= d;
			q |= (u64)1 << bit;
		}
	}
	return q;
}

static u32 phase_muldiv(u32 passes)
{
	u32 seed = 0x31415926, sum = 0;

	for (u32 pass = 0; pass < passes; pass++) {
		for (u32 i = 0; i < 20000; i++) {
			u32 x = xorshift(&seed), y = xorshift(&seed), r;
			u32 d = (y & 0xFFFF) | 3;
			u64 p = (u64)x * y; /* MUL r/m32 */
			s32 sr;

			sum += x / d + x % (d >> 1 | 1);
			sum ^= div64((u32)(p >> 32) % d, (u32)p, d, &r) + r;
			sum += (u32)idiv32((s32)x, -(s32)(d >> 2 | 1), &sr) ^ (u32)sr;
			sum += (u32)((s32)x * (s32)y >> 7);
			if ((i & 63) == 0)
				sum += (u32)div_u64((u64)x << 20 | y, (u64)d << 9 | 5);
		}
	}
	return sum;
}

/* ---- timer: interrupts and halts ---- */

static volatile u32 tick_sum;
static u32 work_buf[16];

/* Runs in the IRQ 0 handler: a little work that depends only on the tick
 * number, so the checksum does not depend on when the tick arrived. */
static void tick_work(void)
{
	u32 t = timer_ticks;

	if (t > TIMER_TICKS)
		return;
	for (int i = 0; i < 16; i++)
		work_buf[i] = t * 0x01000193u + (u32)i;
	tick_sum ^= crc32(t, (const u8 *)work_buf, sizeof(work_buf));
}

static u32 phase_timer(void)
{
	u32 done = 0, wakeups = 0, bottom = 0;

	pic_init();
	timer_hook = tick_work;
	timer_start(TIMER_HZ);
	cli();
	while (done < TIMER_TICKS) {
		/* Deferred work for every tick since the last wake-up. */
		while (done < timer_ticks && done < TIMER_TICKS) {
			done++;
			bottom = crc32(bottom, (const u8 *)&done, sizeof(done));
		}
		if (done < TIMER_TICKS) {
			sti_hlt();
			cli();
			wakeups++;
		}
	}
	timer_stop();
	timer_hook = NULL;
	sti();
	printf("bench: timer %u ticks, %u wake-ups, %u unexpected interrupts\n", done, wakeups,
	       unhandled_irqs);
	return tick_sum ^ bottom ^ unhandled_irqs << 28;
}

/* ---- the driver ---- */

/* "scale=N" anywhere in the multiboot command line (QEMU puts the kernel's
 * file name first), else 1. */
static u32 read_scale(void)
{
	const struct multiboot_info *mbi = (const void *)multiboot_info;
	const char *p;
	u32 n = 0;

	if (!mbi || !(mbi->flags & MB_INFO_CMDLINE) || !mbi->cmdline)
		return 1;
	for (p = (const char *)mbi->cmdline; *p; p++)
		if (p[0] == 's' && p[1] == 'c' && p[2] == 'a' && p[3] == 'l' && p[4] == 'e' &&
		    p[5] == '=')
			break;
	if (!*p)
		return 1;
	for (p += 6; *p >= '0' && *p <= '9' && n <= MAX_SCALE; p++)
		n = n * 10 + (u32)(*p - '0');
	if (n < 1 || n > MAX_SCALE) {
		printf("bench: scale=%u out of range 1..%u, using 1\n", n, MAX_SCALE);
		return 1;
	}
	return n;
}

static const struct phase {
	const char *name;
	u32 (*run)(u32 passes);
	u32 passes;
} phases[] = {
    {"crc32", phase_crc32, PASSES_CRC32}, {"sort", phase_sort, PASSES_SORT},
    {"sieve", phase_sieve, PASSES_SIEVE}, {"mem", phase_mem, PASSES_MEM},
    {"hash", phase_hash, PASSES_HASH},	  {"calls", phase_calls, PASSES_CALLS},
    {"alu16", phase_alu16, PASSES_ALU16}, {"muldiv", phase_muldiv, PASSES_MULDIV},
};

static void report(const char *name, u32 sum, u64 t0)
{
	u64 span = rdtsc() - t0;

	u32 billions, units;

	/* span / 10^9 with DIV (no libgcc); the high half is < 10^9. */
	billions = div64((u32)(span >> 32) % 1000000000u, (u32)span, 1000000000u, &units);
	printf("bench: %s checksum 0x%08x\n", name, sum);
	if (billions)
		printf("bench: %s tsc %u%09u\n", name, billions, units);
	else
		printf("bench: %s tsc %u\n", name, units);
}

int guest_main(void)
{
	u32 scale = read_scale(), all = 0;
	u64 t0;

	printf("bench: start, scale %u\n", scale);
	crc32_init();
	t0 = rdtsc();
	for (size_t i = 0; i < ARRAY_SIZE(phases); i++) {
		u64 t = rdtsc();
		u32 sum = phases[i].run(phases[i].passes * scale);

		report(phases[i].name, sum, t);
		all = crc32(all, (const u8 *)&sum, sizeof(sum));
	}
	report("cpu", all, t0);
	t0 = rdtsc();
	report("timer", phase_timer(), t0);
	printf("bench: done\n");
	return 0;
}
