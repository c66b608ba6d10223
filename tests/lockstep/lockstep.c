/*
 * lockstep.c - the two execution engines side by side on one recording.
 *
 * usage: lockstep TRACE SEED [STOPS]
 *
 * Two libflashback sessions on TRACE, one running guest code with the
 * interpreter (the reference) and one with the host-code backend
 * (fb_session_accel), go forwards in the same random strides: windows of
 * WINDOW short strides (1 to 16 instructions mostly, up to 64: stops fall
 * at block ends, inside blocks and right after them), and between two
 * windows one long stride, so that about STOPS stops (default 20000) cover
 * the whole recording.  At every stop both must be at the same icount with
 * the same registers and CPU state hash; every RAM_EVERY stops, and at the
 * end, all of guest RAM must be equal too.  A stride cuts the backend's block at the
 * stop (the cut block is interpreted), so every block run as host code
 * before it is checked through the state it left.
 *
 * Prints one line per disagreement (at most a few) and a summary; exit 0
 * when the two agree from start to end, 1 otherwise, 2 on bad usage or a
 * trace the library refuses.
 */
#include <flashback.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_EVERY 1024
#define WINDOW	  256
#define CHUNK	  (1u << 20)

static uint64_t rng;

static uint64_t next_rand(void) /* xorshift64 */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The stride after stop @stops: short ones, and after every window one
 * of about @gap. */
static uint64_t stride(uint64_t stops, uint64_t gap)
{
	uint64_t r = next_rand();

	if (stops % WINDOW == WINDOW - 1 && gap > 64)
		return 1 + (r >> 8) % (2 * gap);
	if ((r & 3) != 0)
		return 1 + (r >> 8) % 16;
	return 1 + (r >> 8) % 64;
}

static int lib_error(const char *what)
{
	fprintf(stderr, "lockstep: %s: %s\n", what, fb_error());
	return 2;
}

/* Guest RAM below @size of the two sessions: equal?  Leaves the VGA
 * window and the BIOS area (0xA0000-0xFFFFF, not RAM) out. */
static int ram_equal(fb_session *a, fb_session *b, uint64_t size, uint8_t *x, uint8_t *y)
{
	const uint64_t range[2][2] = {{0, 0xa0000}, {0x100000, size}};

	for (unsigned k = 0; k < 2; k++) {
		for (uint64_t at = range[k][0]; at < range[k][1]; at += CHUNK) {
			uint64_t n = range[k][1] - at < CHUNK ? range[k][1] - at : CHUNK, i = 0;

			if (fb_read(a, at, x, n, 0) != FB_OK || fb_read(b, at, y, n, 0) != FB_OK)
				return lib_error("reading guest RAM");
			if (memcmp(x, y, n) == 0)
				continue;
			while (x[i] == y[i])
				i++;
			printf("lockstep: RAM differs at %#" PRIx64 " (interp %02x, jit %02x)\n",
			       at + i, x[i], y[i]);
			return 1;
		}
	}
	return 0;
}

static int regs_equal(fb_session *a, fb_session *b)
{
	fb_regs ra, rb;

	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	if (fb_regs_get(a, &ra) != FB_OK || fb_regs_get(b, &rb) != FB_OK)
		return lib_error("reading registers");
	if (memcmp(&ra, &rb, sizeof(ra)) == 0 && fb_state_hash(a) == fb_state_hash(b))
		return 0;
	printf(
	    "lockstep: CPU differs: interp eip %08x eflags %08x eax %08x esp %08x hash %016" PRIx64
	    ", jit eip %08x eflags %08x eax %08x esp %08x hash %016" PRIx64 "\n",
	    ra.eip, ra.eflags, ra.gpr[0], ra.gpr[4], fb_state_hash(a), rb.eip, rb.eflags, rb.gpr[0],
	    rb.gpr[4], fb_state_hash(b));
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t budget = 20000, gap, stops = 0, ram_checks = 0;
	fb_session *s[2];
	uint8_t *x, *y;
	fb_trace *t;
	fb_info info;
	char *end;
	int st = 0;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: lockstep TRACE SEED [STOPS]\n");
		return 2;
	}
	rng = strtoull(argv[2], &end, 0) | 1;
	if (*end || (argc == 4 && ((budget = strtoull(argv[3], &end, 0)) < WINDOW || *end))) {
		fprintf(stderr, "lockstep: SEED and STOPS are numbers (STOPS >= %d)\n", WINDOW);
		return 2;
	}
	t = fb_open(argv[1]);
	if (!t)
		return lib_error(argv[1]);
	if (fb_trace_info(t, &info) != FB_OK)
		return lib_error(argv[1]);
	s[0] = fb_session_new(t, 0);
	s[1] = fb_session_new(t, 0);
	if (!s[0] || !s[1])
		return lib_error("a session");
	if (fb_session_accel(s[0], "interp") != FB_OK || fb_session_accel(s[1], "jit") != FB_OK)
		return lib_error("choosing the engines");
	/* the short strides average about 13 instructions */
	gap = (info.end_icount - info.start_icount) / (budget / WINDOW);
	x = malloc(CHUNK);
	y = malloc(CHUNK);
	if (!x || !y)
		return lib_error("memory");

	for (;;) {
		uint64_t n = stride(stops, gap);
		int r0 = fb_step(s[0], n), r1 = fb_step(s[1], n);

		stops++;
		if (r0 == FB_ERROR || r1 == FB_ERROR) {
			printf("lockstep: a step of %" PRIu64 " from near icount %" PRIu64
			       " failed under %s: %s\n",
			       n, fb_icount(s[0]), r0 == FB_ERROR ? "interp" : "jit", fb_error());
			st = 1;
			break;
		}
		if (r0 != r1 || fb_icount(s[0]) != fb_icount(s[1])) {
			printf("lockstep: interp at icount %" PRIu64 " (%d), jit at %" PRIu64
			       " (%d)\n",
			       fb_icount(s[0]), r0, fb_icount(s[1]), r1);
			st = 1;
			break;
		}
		if ((st = regs_equal(s[0], s[1])) != 0)
			break;
		if (r0 == FB_END || stops % RAM_EVERY == 0) {
			ram_checks++;
			if ((st = ram_equal(s[0], s[1], info.ram_size, x, y)) != 0)
				break;
		}
		if (r0 == FB_END)
			break;
	}
	if (st)
		printf("lockstep: %s: disagree at icount %" PRIu64 " after %" PRIu64 " stops\n",
		       argv[1], fb_icount(s[0]), stops);
	else
		printf("lockstep: %s: %" PRIu64 " stops, %" PRIu64
		       " RAM comparisons, both at icount %" PRIu64 " (the end)\n",
		       argv[1], stops, ram_checks, fb_icount(s[0]));
	free(x);
	free(y);
	fb_session_free(s[0]);
	fb_session_free(s[1]);
	fb_close(t);
	return st;
}
