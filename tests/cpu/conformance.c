/*
 * conformance.c - runs the real-chip 80286 real-mode single-instruction
 * tests (SingleStepTests/80286, MOO format, gzip) against the CPU.
 *
 * Usage: conformance DIR [EXCLUSIONS] [-v]
 *
 * For each test: a RAM-only machine (1 MiB + 64 KiB, A20 on), the INIT
 * registers and bytes loaded, the CPU run until it has executed the HLT that
 * follows the instruction (or that sits at the jump / interrupt target),
 * then the FINA registers (flags masked by metadata.json's undefined-flag
 * mask) and bytes compared.  Known 286-vs-686 differences are listed in the
 * exclusion file; the program fails if any other test fails.  It prints the
 * pass count per file and in total.
 *
 * The tests live outside the repository (../shared/conformance/80286 beside
 * the checkout).  When DIR does not exist the program says so and exits 77,
 * which meson reports as a skipped test, never as a passed one.
 */
#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../../src/base/base.h"
#include "../../src/exec/cpu.h"
#include "../../src/memory/memory.h"

#define RAM_SIZE 0x110000u
#define UPPER	 0x12340000u /* upper halves of the 32-bit registers */

/* ---- metadata.json: just enough JSON to find the flag masks ----------- */

typedef struct Json {
	const char *p;
	char path[4][16]; /* keys from the root */
	int depth;
} Json;

static uint16_t flag_masks[256][9]; /* [opcode][reg or 8 = whole opcode] */

static void json_ws(Json *j)
{
	while (*j->p && isspace((unsigned char)*j->p))
		j->p++;
}

static void json_string(Json *j, char *out, size_t n)
{
	size_t k = 0;

	j->p++; /* opening quote */
	while (*j->p && *j->p != '"') {
		if (*j->p == '\\' && j->p[1])
			j->p++;
		if (k + 1 < n)
			out[k++] = *j->p;
		j->p++;
	}
	if (*j->p)
		j->p++;
	out[k] = 0;
}

static void json_value(Json *j, const char *key);

static void json_object(Json *j)
{
	j->p++;
	for (;;) {
		json_ws(j);
		if (*j->p == '}' || !*j->p) {
			if (*j->p)
				j->p++;
			return;
		}
		char key[16];

		json_string(j, key, sizeof(key));
		json_ws(j);
		if (*j->p == ':')
			j->p++;
		json_ws(j);
		if (j->depth < 4)
			snprintf(j->path[j->depth], sizeof(j->path[0]), "%s", key);
		j->depth++;
		json_value(j, key);
		j->depth--;
		json_ws(j);
		if (*j->p == ',')
			j->p++;
	}
}

static void json_value(Json *j, const char *key)
{
	json_ws(j);
	if (*j->p == '{') {
		json_object(j);
	} else if (*j->p == '[') {
		j->p++;
		for (;;) {
			json_ws(j);
			if (*j->p == ']' || !*j->p) {
				if (*j->p)
					j->p++;
				return;
			}
			json_value(j, "");
			json_ws(j);
			if (*j->p == ',')
				j->p++;
		}
	} else if (*j->p == '"') {
		char tmp[256];

		json_string(j, tmp, sizeof(tmp));
	} else {
		char *end;
		long v = strtol(j->p, &end, 10);

		if (end == j->p)
			end++;
		while (*end &&
		       (isalnum((unsigned char)*end) || *end == '.' || *end == '-' || *end == '+'))
			end++;
		j->p = end;
		/* opcodes.XX.flags-mask or opcodes.XX.reg.R.flags-mask */
		if (strcmp(key, "flags-mask") || strcmp(j->path[0], "opcodes"))
			return;
		unsigned op = (unsigned)strtoul(j->path[1], NULL, 16);

		if (op > 0xff)
			return;
		if (j->depth == 3)
			flag_masks[op][8] = (uint16_t)v;
		else if (j->depth == 5 && !strcmp(j->path[2], "reg"))
			flag_masks[op][atoi(j->path[3]) & 7] = (uint16_t)v;
	}
}

static bool load_metadata(const char *dir)
{
	char path[4096], err[256];
	size_t len;

	for (int i = 0; i < 256; i++)
		for (int r = 0; r < 9; r++)
			flag_masks[i][r] = 0xffff;
	snprintf(path, sizeof(path), "%s/metadata.json", dir);
	uint8_t *buf = read_file(path, &len, err);

	if (!buf) {
		fprintf(stderr, "%s\n", err);
		return false;
	}
	char *text = xmalloc(len + 1);

	memcpy(text, buf, len);
	text[len] = 0;
	free(buf);
	Json j = {.p = text};

	json_value(&j, "");
	free(text);
	return true;
}

/* ---- exclusions --------------------------------------------------------
 *
 * Lines "FILE SELECTOR reason...": FILE is a file stem ("C1.4") or "*";
 * SELECTOR is a test index, "*" (all), or a class the runner recognises:
 *   lock    LOCK on a form that is not lockable on a 386+
 *   long    the instruction with its prefixes is longer than 10 bytes
 *   ss12    the chip took #GP (13) where the CPU took #SS (12), as a 386+ does
 *   nofpu   the CPU was built without the x87 (CPUID says so)
 *   str13   a string instruction faulting with #GP (13): the 286 has already
 *           stepped SI/DI (and CX) when it faults, a 386+ restarts cleanly
 */
typedef struct Excl {
	char file[16];
	char sel[16];
	unsigned used;
} Excl;

static Excl *excls;
static size_t n_excls;

static void load_exclusions(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f) {
		fprintf(stderr, "conformance: cannot open %s\n", path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		char file[16], sel[16];

		if (line[0] == '#' || sscanf(line, "%15s %15s", file, sel) != 2)
			continue;
		excls = xrealloc(excls, (n_excls + 1) * sizeof(*excls));
		snprintf(excls[n_excls].file, sizeof(excls[0].file), "%s", file);
		snprintf(excls[n_excls].sel, sizeof(excls[0].sel), "%s", sel);
		excls[n_excls].used = 0;
		n_excls++;
	}
	fclose(f);
}

/* ---- the MOO test ------------------------------------------------------ */

enum { RAX, RBX, RCX, RDX, RCS, RSS, RDS, RES, RSP, RBP, RSI, RDI, RIP, RFL };

typedef struct Ram {
	uint32_t n;
	const uint8_t *p; /* 5 bytes per entry */
} Ram;

typedef struct Test {
	uint32_t index;
	const uint8_t *bytes;
	uint32_t nbytes;
	uint16_t init[14], fina[14];
	uint16_t fina_mask;
	Ram init_ram, fina_ram;
	bool has_excp;
	uint8_t excp_vec;
	const uint8_t *hash;
} Test;

static bool parse_regs(const uint8_t *p, uint32_t len, uint16_t *regs, uint16_t *mask)
{
	if (len < 2)
		return false;
	uint16_t m = ld16(p);
	uint32_t k = 2;

	for (int i = 0; i < 14; i++) {
		if (!(m >> i & 1))
			continue;
		if (k + 2 > len)
			return false;
		regs[i] = ld16(p + k);
		k += 2;
	}
	if (mask)
		*mask = m;
	return true;
}

static bool parse_state(const uint8_t *p, uint32_t len, uint16_t *regs, uint16_t *mask, Ram *ram)
{
	for (uint32_t o = 0; o + 8 <= len;) {
		uint32_t clen = ld32(p + o + 4);

		if (o + 8 + clen > len)
			return false;
		const uint8_t *c = p + o + 8;

		if (!memcmp(p + o, "REGS", 4) && !parse_regs(c, clen, regs, mask))
			return false;
		if (!memcmp(p + o, "RAM ", 4)) {
			if (clen < 4 || 4 + 5 * (uint64_t)ld32(c) > clen)
				return false;
			ram->n = ld32(c);
			ram->p = c + 4;
		}
		o += 8 + clen;
	}
	return true;
}

static bool parse_test(const uint8_t *p, uint32_t len, Test *t)
{
	memset(t, 0, sizeof(*t));
	if (len < 4)
		return false;
	t->index = ld32(p);
	for (uint32_t o = 4; o + 8 <= len;) {
		uint32_t clen = ld32(p + o + 4);

		if (o + 8 + clen > len)
			return false;
		const uint8_t *c = p + o + 8;

		if (!memcmp(p + o, "BYTS", 4) && clen >= 4) {
			t->nbytes = ld32(c);
			t->bytes = c + 4;
		} else if (!memcmp(p + o, "INIT", 4)) {
			if (!parse_state(c, clen, t->init, NULL, &t->init_ram))
				return false;
		} else if (!memcmp(p + o, "FINA", 4)) {
			if (!parse_state(c, clen, t->fina, &t->fina_mask, &t->fina_ram))
				return false;
		} else if (!memcmp(p + o, "EXCP", 4) && clen >= 1) {
			t->has_excp = true;
			t->excp_vec = c[0];
		} else if (!memcmp(p + o, "HASH", 4) && clen >= 20) {
			t->hash = c;
		}
		o += 8 + clen;
	}
	for (int i = 0; i < 14; i++)
		if (!(t->fina_mask >> i & 1))
			t->fina[i] = i == RFL ? t->init[i] & 0x0fff : t->init[i];
	return true;
}

/* ---- the machine --------------------------------------------------------- */

static uint32_t io_read(void *o, uint16_t port, unsigned size)
{
	return size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffffu;
}

static void io_write(void *o, uint16_t port, uint32_t v, unsigned size)
{
}

static uint64_t mmio_read(void *o, uint64_t a, unsigned size)
{
	return ~0ull;
}

static void mmio_write(void *o, uint64_t a, uint64_t v, unsigned size)
{
}

static CPU *cpu;
static bool has_fpu;
static uint8_t *ram;

static void setup_machine(void)
{
	MemoryRegion *root = mr_container("system", 1ull << 32);
	MemoryRegion *r = mr_ram("ram", RAM_SIZE);

	if (!r)
		fatal(EXIT_INTERNAL, "no memory for guest RAM");
	mr_add(root, r, 0, 0);
	AddressSpace *as = as_new("memory", root);
	CPUBus bus = {.memory = as,
		      .io_read = io_read,
		      .io_write = io_write,
		      .mmio_read = mmio_read,
		      .mmio_write = mmio_write};

	ram = mr_host(r);
	cpu = cpu_new(&bus);

	/* CPUID.1:EDX bit 0 says whether an x87 is linked in */
	static const uint8_t probe[] = {0x66, 0xb8, 1, 0, 0, 0, 0x0f, 0xa2, 0xf4};

	memcpy(ram + 0x1000, probe, sizeof(probe));
	cpu_set_seg(cpu, S_CS, (SegReg){0, 0, 0xffff, 0x9b});
	cpu_set_eip(cpu, 0x1000);
	cpu_exec(cpu, 10);
	has_fpu = cpu_get_reg(cpu, R_EDX) & 1;
}

static int gpr(int moo)
{
	switch (moo) {
	case RAX:
		return R_EAX;
	case RBX:
		return R_EBX;
	case RCX:
		return R_ECX;
	case RDX:
		return R_EDX;
	case RSP:
		return R_ESP;
	case RBP:
		return R_EBP;
	case RSI:
		return R_ESI;
	case RDI:
		return R_EDI;
	}
	return -1;
}

static int sreg(int moo)
{
	switch (moo) {
	case RCS:
		return S_CS;
	case RSS:
		return S_SS;
	case RDS:
		return S_DS;
	case RES:
		return S_ES;
	}
	return -1;
}

static bool took_ss; /* the last test ended in the #SS handler */

static const char *const reg_names[14] = {"AX", "BX", "CX", "DX", "CS", "SS", "DS",
					  "ES", "SP", "BP", "SI", "DI", "IP", "FLAGS"};

/* Run one test; returns true if it passed.  On failure, @why says how. */
static bool run_test(const Test *t, uint16_t fmask, bool is_hlt, char *why, size_t wn,
		     int *vec_seen)
{
	cpu_reset(cpu);
	cpu_set_a20(cpu, true);
	for (int i = 0; i < 14; i++) {
		int g = gpr(i), s = sreg(i);

		if (g >= 0)
			cpu_set_reg(cpu, g, UPPER | t->init[i]);
		if (s >= 0)
			cpu_set_seg(cpu, s,
				    (SegReg){t->init[i], (uint32_t)t->init[i] << 4, 0xffff,
					     s == S_CS ? 0x9bu : 0x93u});
	}
	cpu_set_eip(cpu, t->init[RIP]);
	cpu_set_eflags(cpu, (t->init[RFL] & 0x0fff) | 2);
	cpu_set_idtr(cpu, (DescTable){0, 0x3ff});
	for (uint32_t i = 0; i < t->init_ram.n; i++) {
		uint32_t a = ld32(t->init_ram.p + 5 * i);

		if (a < RAM_SIZE)
			ram[a] = t->init_ram.p[5 * i + 4];
	}
	/* #SS (12) goes to a HLT of its own, so that a 686's #SS is seen */
	uint32_t ss_hlt = 0;

	for (uint32_t cand = 0x500; cand < 0x600 && !ss_hlt; cand++) {
		bool used = false;

		for (uint32_t i = 0; i < t->init_ram.n && !used; i++)
			used = ld32(t->init_ram.p + 5 * i) == cand;
		for (uint32_t i = 0; i < t->fina_ram.n && !used; i++)
			used = ld32(t->fina_ram.p + 5 * i) == cand;
		if (!used)
			ss_hlt = cand;
	}
	bool ivt12_used = false;

	for (uint32_t i = 0; i < t->init_ram.n; i++)
		ivt12_used |= ld32(t->init_ram.p + 5 * i) / 4 == 12;
	if (!ivt12_used && ss_hlt) {
		st16(ram + 4 * 12, (uint16_t)ss_hlt);
		st16(ram + 4 * 12 + 2, 0);
		ram[ss_hlt] = 0xf4;
	}
	cpu_flush_tlb(cpu);

	/* run until the terminating HLT has executed */
	uint64_t start = cpu_icount(cpu);
	*vec_seen = -1;
	while (!cpu_halted(cpu) && cpu_icount(cpu) - start < 300)
		cpu_exec(cpu, cpu_icount(cpu) + 1);
	(void)is_hlt;
	took_ss = !ivt12_used && ss_hlt && cpu_get_seg(cpu, S_CS).sel == 0 &&
		  cpu_get_eip(cpu) == ss_hlt + 1;
	if (!cpu_halted(cpu)) {
		snprintf(why, wn, "did not reach HLT");
		return false;
	}

	/* registers */
	for (int i = 0; i < 14; i++) {
		uint32_t got, want = t->fina[i];
		int g = gpr(i), s = sreg(i);

		if (g >= 0) {
			uint32_t v = cpu_get_reg(cpu, g);

			if ((v & 0xffff0000u) != UPPER) {
				snprintf(why, wn, "E%s upper half changed: %08x", reg_names[i], v);
				return false;
			}
			got = v & 0xffff;
		} else if (s >= 0) {
			got = cpu_get_seg(cpu, s).sel;
		} else if (i == RIP) {
			got = cpu_get_eip(cpu);
		} else {
			uint32_t m = fmask;

			got = cpu_get_eflags(cpu);
			if ((got & m & 0xffff) != (want & m)) {
				snprintf(why, wn, "FLAGS %04x, expected %04x (mask %04x)",
					 got & 0xffff, want, m);
				return false;
			}
			continue;
		}
		if (got != want) {
			snprintf(why, wn, "%s %04x, expected %04x", reg_names[i], got, want);
			return false;
		}
	}

	/* memory: FINA bytes, then INIT bytes FINA does not list */
	uint32_t flags_at = ((uint32_t)t->fina[RSS] << 4) + ((t->fina[RSP] + 4u) & 0xffff);

	for (uint32_t i = 0; i < t->fina_ram.n; i++) {
		uint32_t a = ld32(t->fina_ram.p + 5 * i);
		uint8_t want = t->fina_ram.p[5 * i + 4], got = a < RAM_SIZE ? ram[a] : 0xff;
		uint8_t m = 0xff;

		if (t->has_excp && a == flags_at)
			m = (uint8_t)fmask;
		else if (t->has_excp && a == flags_at + 1)
			m = (uint8_t)(fmask >> 8);
		if ((got & m) != (want & m)) {
			snprintf(why, wn, "byte at %06x is %02x, expected %02x", a, got, want);
			return false;
		}
	}
	for (uint32_t i = 0; i < t->init_ram.n; i++) {
		uint32_t a = ld32(t->init_ram.p + 5 * i);
		bool listed = false;

		for (uint32_t k = 0; k < t->fina_ram.n && !listed; k++)
			listed = ld32(t->fina_ram.p + 5 * k) == a;
		if (!listed && a < RAM_SIZE && ram[a] != t->init_ram.p[5 * i + 4]) {
			snprintf(why, wn, "byte at %06x changed to %02x", a, ram[a]);
			return false;
		}
	}
	return true;
}

/* ---- classification for the exclusion classes ------------------------------ */

static bool has_prefix(const Test *t, uint8_t p)
{
	for (uint32_t i = 0; i < t->nbytes; i++) {
		uint8_t b = t->bytes[i];

		if (b == p)
			return true;
		if (b != 0x26 && b != 0x2e && b != 0x36 && b != 0x3e && b != 0xf0 && b != 0xf2 &&
		    b != 0xf3)
			return false;
	}
	return false;
}

/* LOCK in front of a form a 386+ refuses (#UD): not a read-modify-write
 * of memory by ADD..XOR, INC, DEC, NOT, NEG, XCHG. */
static bool lock_invalid(const Test *t)
{
	uint32_t i = 0;

	if (!has_prefix(t, 0xf0))
		return false;
	while (i < t->nbytes && (t->bytes[i] == 0x26 || t->bytes[i] == 0x2e ||
				 t->bytes[i] == 0x36 || t->bytes[i] == 0x3e ||
				 t->bytes[i] == 0xf0 || t->bytes[i] == 0xf2 || t->bytes[i] == 0xf3))
		i++;
	if (i + 1 >= t->nbytes)
		return true;
	unsigned op = t->bytes[i], modrm = t->bytes[i + 1], reg = (modrm >> 3) & 7;

	if ((modrm >> 6) == 3)
		return true;
	if (op < 0x40)
		return !((op & 7) < 2 && (op & 0x38) != 0x38);
	if (op >= 0x80 && op <= 0x83)
		return reg == 7;
	if (op == 0x86 || op == 0x87)
		return false;
	if (op == 0xf6 || op == 0xf7)
		return reg != 2 && reg != 3;
	if (op == 0xfe || op == 0xff)
		return reg > 1;
	return true;
}

static bool string_op(const Test *t)
{
	uint32_t i = 0;

	while (i < t->nbytes && (t->bytes[i] == 0x26 || t->bytes[i] == 0x2e ||
				 t->bytes[i] == 0x36 || t->bytes[i] == 0x3e ||
				 t->bytes[i] == 0xf0 || t->bytes[i] == 0xf2 || t->bytes[i] == 0xf3))
		i++;
	if (i >= t->nbytes)
		return false;
	uint8_t op = t->bytes[i];

	return (op >= 0x6c && op <= 0x6f) || (op >= 0xa4 && op <= 0xa7) ||
	       (op >= 0xaa && op <= 0xaf);
}

static bool excluded(const char *stem, const Test *t)
{
	char idx[16];

	snprintf(idx, sizeof(idx), "%u", t->index);
	for (size_t i = 0; i < n_excls; i++) {
		Excl *e = &excls[i];
		bool fmatch = !strcmp(e->file, "*") || !strcmp(e->file, stem);
		bool smatch =
		    !strcmp(e->sel, "*") || !strcmp(e->sel, idx) ||
		    (!strcmp(e->sel, "lock") && lock_invalid(t)) ||
		    (!strcmp(e->sel, "long") && t->nbytes - 1 > 10) ||
		    (!strcmp(e->sel, "ss12") && t->has_excp && t->excp_vec == 13 && took_ss) ||
		    (!strcmp(e->sel, "nofpu") && !has_fpu) ||
		    (!strcmp(e->sel, "str13") && t->has_excp && t->excp_vec == 13 && string_op(t));

		if (fmatch && smatch) {
			e->used++;
			return true;
		}
	}
	return false;
}

/* ---- files ----------------------------------------------------------- */

static uint8_t *gunzip(const char *path, size_t *len)
{
	gzFile f = gzopen(path, "rb");
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf;

	if (!f)
		return NULL;
	buf = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		int r = gzread(f, buf + n, (unsigned)(cap - n));

		if (r < 0) {
			gzclose(f);
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	gzclose(f);
	*len = n;
	return buf;
}

static void dump_test(const Test *t)
{
	fprintf(stderr, "   init:");
	for (int i = 0; i < 14; i++)
		fprintf(stderr, " %s=%04x", reg_names[i], t->init[i]);
	fprintf(stderr, "\n   fina:");
	for (int i = 0; i < 14; i++)
		fprintf(stderr, " %s=%04x", reg_names[i], t->fina[i]);
	if (t->has_excp)
		fprintf(stderr, " EXCP %u", t->excp_vec);
	fprintf(stderr, "\n   got: ");
	for (int i = 0; i < 14; i++) {
		int g = gpr(i), s = sreg(i);
		uint32_t v = g >= 0	? cpu_get_reg(cpu, g) & 0xffff
			     : s >= 0	? cpu_get_seg(cpu, s).sel
			     : i == RIP ? cpu_get_eip(cpu)
					: cpu_get_eflags(cpu) & 0xffff;

		fprintf(stderr, " %s=%04x", reg_names[i], v);
	}
	fprintf(stderr, "\n");
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int verbose;
static unsigned total, passed, failed_hard, excluded_fail;

static void run_file(const char *dir, const char *name)
{
	char path[4096], stem[16];
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(stem, sizeof(stem), "%.*s", (int)(strstr(name, ".MOO") - name), name);
	uint8_t *buf = gunzip(path, &len);

	if (!buf) {
		fprintf(stderr, "%s: cannot read\n", path);
		failed_hard++;
		return;
	}
	unsigned op = (unsigned)strtoul(stem, NULL, 16) & 0xff;
	int reg = strlen(stem) > 3 ? stem[3] - '0' : 8;
	uint16_t fmask = flag_masks[op][reg >= 0 && reg < 8 ? reg : 8];
	unsigned n = 0, ok = 0, excl = 0;

	if (!strcmp(stem, "9D") || !strcmp(stem, "CF"))
		fmask &= 0x0fff;
	for (size_t o = 0; o + 8 <= len;) {
		uint32_t clen = ld32(buf + o + 4);

		if (o + 8 + clen > len) {
			fprintf(stderr, "%s: truncated chunk at offset %zu\n", path, o);
			failed_hard++;
			break;
		}
		if (!memcmp(buf + o, "TEST", 4)) {
			Test t;
			char why[160];
			int vec;

			if (!parse_test(buf + o + 8, clen, &t)) {
				fprintf(stderr, "%s: bad test at offset %zu\n", path, o);
				failed_hard++;
			} else {
				n++;
				if (run_test(&t, fmask, op == 0xf4, why, sizeof(why), &vec)) {
					ok++;
				} else if (excluded(stem, &t)) {
					excl++;
				} else {
					failed_hard++;
					if (verbose || failed_hard <= 40) {
						fprintf(stderr, "FAIL %s #%u:", stem, t.index);
						for (uint32_t i = 0; i + 1 < t.nbytes; i++)
							fprintf(stderr, " %02x", t.bytes[i]);
						fprintf(stderr, ": %s\n", why);
						if (verbose > 1)
							dump_test(&t);
					}
				}
			}
		}
		o += 8 + clen;
	}
	free(buf);
	printf("%-6s %3u/%3u passed%s\n", stem, ok, n, excl ? " (rest excluded)" : "");
	if (excl && ok + excl != n)
		printf("       %u excluded\n", excl);
	total += n;
	passed += ok;
	excluded_fail += excl;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *excl = NULL, *only = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "-vv"))
			verbose = 2;
		else if (!strcmp(argv[i], "-f") && i + 1 < argc)
			only = argv[++i];
		else if (!dir)
			dir = argv[i];
		else
			excl = argv[i];
	}
	if (!dir) {
		fprintf(stderr, "usage: conformance DIR [EXCLUSIONS] [-v] [-f STEM]\n");
		return 2;
	}
	struct stat st;

	if (stat(dir, &st) != 0 && errno == ENOENT) {
		printf("conformance: %s does not exist (the tests live outside the "
		       "repository); skipped\n", dir);
		return 77;
	}
	if (!load_metadata(dir))
		return 2;
	if (excl)
		load_exclusions(excl);
	setup_machine();

	DIR *d = opendir(dir);
	char **names = NULL;
	size_t nn = 0;

	if (!d) {
		fprintf(stderr, "conformance: cannot open %s\n", dir);
		return 2;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strstr(e->d_name, ".MOO.gz"))
			continue;
		if (only && strncmp(e->d_name, only, strlen(only)))
			continue;
		names = xrealloc(names, (nn + 1) * sizeof(*names));
		names[nn++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, nn, sizeof(*names), cmp_names);
	for (size_t i = 0; i < nn; i++) {
		run_file(dir, names[i]);
		free(names[i]);
	}
	free(names);
	printf("total: %u/%u passed, %u excluded (286 vs 686), %u failed\n", passed, total,
	       excluded_fail, failed_hard);
	if (!nn)
		return 1;
	return failed_hard ? 1 : 0;
}
