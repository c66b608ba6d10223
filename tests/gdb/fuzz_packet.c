/*
 * fuzz_packet.c - fuzz target for the gdb stub's packet parser and
 * dispatch, with a deterministic driver so that it runs as a normal test.
 *
 * LLVMFuzzerTestOneInput() feeds arbitrary bytes to a socketless stub whose
 * target is a real CPU on 1 MiB of RAM, lets the CPU run a few instructions
 * whenever the stub allows it (so that s/c/vCont, breakpoints and
 * watchpoints are exercised too), and checks that everything the stub
 * sends is well formed: '+', '-' or "$...#xx" with the right checksum.
 *
 * Built without -DFB_LIBFUZZER, main() generates inputs from a fixed seed:
 * valid packets of every kind, the same packets mutated (bytes flipped,
 * cut, spliced, checksums right or wrong), oversized packets, and noise.
 * With clang -fsanitize=fuzzer,address -DFB_LIBFUZZER it is a libFuzzer
 * target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/base.h"
#include "../../src/gdb/gdb.h"

#define RAM_SIZE (1u << 20)

static struct {
	MemoryRegion *root, *ram;
	AddressSpace *as;
	CPU *cpu;
	uint8_t *host;
} world;

static uint32_t io_read(void *o, uint16_t port, unsigned size)
{
	return 0xffffffffu;
}
static void io_write(void *o, uint16_t port, uint32_t v, unsigned size)
{
}
static uint64_t mmio_read(void *o, uint64_t addr, unsigned size)
{
	return ~0ull;
}
static void mmio_write(void *o, uint64_t addr, uint64_t v, unsigned size)
{
}
static int intack(void *o)
{
	return 0x20;
}
static uint64_t rdtsc(void *o)
{
	return 0;
}
static bool rdmsr(void *o, uint32_t msr, uint64_t *v)
{
	return false;
}
static bool wrmsr(void *o, uint32_t msr, uint64_t v)
{
	return false;
}

/* The fuzz target's memory: flat, RAM only, the rest unmapped. */
static bool fz_read(void *o, uint32_t addr, void *buf, uint32_t len)
{
	if (addr >= RAM_SIZE || len > RAM_SIZE - addr)
		return false;
	memcpy(buf, world.host + addr, len);
	return true;
}

static bool fz_write(void *o, uint32_t addr, const void *buf, uint32_t len)
{
	if (addr >= RAM_SIZE || len > RAM_SIZE - addr)
		return false;
	memcpy(world.host + addr, buf, len);
	return true;
}

static bool fz_monitor(void *o, const char *cmd, FILE *out)
{
	if (strcmp(cmd, "fuzz") != 0)
		return false;
	fputs("fuzz monitor\n", out);
	return true;
}

static void setup(void)
{
	CPUBus bus = {.io_read = io_read,
		      .io_write = io_write,
		      .mmio_read = mmio_read,
		      .mmio_write = mmio_write,
		      .intack = intack,
		      .rdtsc = rdtsc,
		      .rdmsr = rdmsr,
		      .wrmsr = wrmsr};

	if (world.cpu)
		return;
	world.root = mr_container("system", 1ull << 32);
	world.as = as_new("memory", world.root);
	world.ram = mr_ram("ram", RAM_SIZE);
	world.host = mr_host(world.ram);
	mr_add(world.root, world.ram, 0, 0);
	bus.memory = world.as;
	world.cpu = cpu_new(&bus);
}

/* Everything the stub sends must be framed correctly. */
static void check_output(const uint8_t *out, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t sum = 0;
		unsigned want;

		if (out[i] == '+' || out[i] == '-') {
			i++;
			continue;
		}
		if (out[i] != '$') {
			fprintf(stderr, "fuzz_packet: stray byte 0x%02x in the output\n", out[i]);
			abort();
		}
		for (i++; i < n && out[i] != '#'; i++) {
			if (out[i] == '$') {
				fprintf(stderr, "fuzz_packet: unescaped '$' in a reply\n");
				abort();
			}
			sum = (uint8_t)(sum + out[i]);
		}
		if (i + 2 >= n || sscanf((const char *)out + i + 1, "%2x", &want) != 1 ||
		    want != sum) {
			fprintf(stderr, "fuzz_packet: reply with a bad or missing checksum\n");
			abort();
		}
		i += 3;
	}
}

static void drain(GdbStub *s)
{
	static uint8_t out[1 << 16];
	size_t n;

	while ((n = gdb_take_output(s, out, sizeof(out))) > 0)
		check_output(out, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GdbTarget t = {.read_mem = fz_read,
		       .write_mem = fz_write,
		       .monitor = fz_monitor,
		       .monitor_help = "monitor fuzz\n"};
	GdbStub *s;

	setup();
	t.cpu = world.cpu;
	cpu_reset(world.cpu);
	cpu_set_flat32(world.cpu, 0x1000);
	memset(world.host, 0x90, 0x2000); /* NOPs, then zeros: add [eax], al */
	s = gdb_new(&t, true);
	/* Feed in uneven pieces so that packets straddle reads. */
	for (size_t off = 0, piece = 1; off < size; off += piece, piece = piece * 3 % 97 + 1) {
		size_t n = size - off < piece ? size - off : piece;

		gdb_feed(s, data + off, n);
		if (gdb_may_run(s))
			gdb_exec(s, cpu_icount(world.cpu) + 8);
		drain(s);
		if (gdb_kill_requested(s))
			break;
	}
	gdb_guest_exited(s, 1);
	drain(s);
	gdb_free(s);
	return 0;
}

#ifndef FB_LIBFUZZER

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static const char *const seeds[] = {
    "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vContSupported+",
    "QStartNoAckMode",
    "qXfer:features:read:target.xml:0,ffb",
    "qXfer:features:read:x:0,10",
    "?",
    "g",
    "G00112233",
    "p8",
    "p1f",
    "p20",
    "P0=44332211",
    "P10=00000000000000803fff",
    "m1000,40",
    "m0,0",
    "mfffff000,2000",
    "M1000,4:90909090",
    "M1000,2:zz",
    "X1000,3:\x7d\x03\x01\x02",
    "X1000,0:",
    "Z0,1004,1",
    "z0,1004,1",
    "Z1,1008,1",
    "Z2,2000,4",
    "Z3,1000,4",
    "Z4,2000,100",
    "z2,2000,4",
    "Z2,ffffffff,8",
    "Z9,0,0",
    "vCont?",
    "vCont;s:1",
    "vCont;c",
    "vCont;C05:1;c",
    "vCont;x",
    "s",
    "c",
    "c1000",
    "S05",
    "C05;1000",
    "bs",
    "bc",
    "qRcmd,69636f756e74",
    "qRcmd,68656c70",
    "qRcmd,696e666f207265676973746572730a",
    "qRcmd,66757a7a",
    "qRcmd,zz",
    "qRcmd,6",
    "qAttached",
    "qC",
    "qfThreadInfo",
    "qsThreadInfo",
    "qOffsets",
    "Hg0",
    "Hc-1",
    "Hx",
    "T1",
    "T2",
    "vMustReplyEmpty",
    "qTStatus",
    "D",
    "D;1",
    "k",
    "vKill;1",
};

static size_t frame(char *out, const char *payload, size_t len, bool good_sum)
{
	uint8_t sum = 0;
	size_t n = 0;

	out[n++] = '$';
	for (size_t i = 0; i < len; i++) {
		out[n++] = payload[i];
		sum = (uint8_t)(sum + (uint8_t)payload[i]);
	}
	if (!good_sum)
		sum = (uint8_t)(sum + 1 + next() % 255);
	n += (size_t)sprintf(out + n, "#%02x", sum);
	return n;
}

static void mutate(char *p, size_t *len, size_t cap)
{
	unsigned k = next() % 4;

	if (*len == 0)
		return;
	if (k == 0) {
		p[next() % *len] = (char)next();
	} else if (k == 1) {
		*len = next() % *len;
	} else if (k == 2 && *len < cap) {
		size_t at = next() % *len;
		memmove(p + at + 1, p + at, *len - at);
		p[at] = "0123456789abcdef,:;=#$}*-+\x03"[next() % 27];
		(*len)++;
	} else {
		const char *s = seeds[next() % ARRAY_SIZE(seeds)];
		size_t n = strlen(s), at = next() % *len;
		if (at + n > cap)
			n = cap - at;
		memcpy(p + at, s, n);
		if (at + n > *len)
			*len = at + n;
	}
}

/* One input: a few packets, some mutated, with acks and noise between. */
static size_t make_input(uint8_t *buf, size_t cap)
{
	char payload[8192];
	size_t n = 0;
	int packets = 1 + (int)(next() % 8);

	for (int i = 0; i < packets && n + sizeof(payload) * 2 + 8 < cap; i++) {
		const char *s = seeds[next() % ARRAY_SIZE(seeds)];
		size_t len = strlen(s);
		unsigned r = next() % 16;

		memcpy(payload, s, len);
		if (r < 6)
			mutate(payload, &len, 200);
		if (r == 7) { /* longer than PacketSize */
			len = 4000 + next() % 4000;
			memset(payload, 'm', len);
		}
		if (r == 8)
			buf[n++] = "+-\x03"[next() % 3];
		if (r == 9) { /* a packet cut off before its checksum */
			buf[n++] = '$';
			memcpy(buf + n, payload, len);
			n += len;
			continue;
		}
		n += frame((char *)buf + n, payload, len, r != 10);
	}
	return n;
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	long iterations = argc > 1 ? atol(argv[1]) : 30000;

	/* Every seed alone, framed correctly: each handler is reached. */
	for (size_t i = 0; i < ARRAY_SIZE(seeds); i++) {
		size_t n = frame((char *)buf, seeds[i], strlen(seeds[i]), true);
		LLVMFuzzerTestOneInput(buf, n);
	}
	for (long i = 0; i < iterations; i++) {
		size_t n = make_input(buf, sizeof(buf));
		LLVMFuzzerTestOneInput(buf, n);
	}
	/* Pure noise. */
	for (int i = 0; i < 200; i++) {
		size_t n = next() % 2048;
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)next();
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("fuzz_packet: %zu seeds, %ld generated inputs, 200 noise inputs: no crash, "
	       "all replies well formed\n",
	       ARRAY_SIZE(seeds), iterations);
	return 0;
}
#endif
