/*
 * fuzz_journal.c - a fuzz target for the journal reader.
 *
 * LLVMFuzzerTestOneInput() takes any bytes as journal.fbj and reads every
 * chunk and event; it must never crash, hang or leak, only succeed or fail
 * with a message.  Built as a plain test (without -DFB_LIBFUZZER), main()
 * feeds it deterministic mutations of a real journal: raw byte damage
 * (caught by the checksums) and damage re-sealed with correct checksums
 * and zstd frames, so that the header checks and the event decoder see it.
 * With clang: clang -fsanitize=fuzzer,address -DFB_LIBFUZZER ... runs it
 * under libFuzzer instead.
 */
#include "common.h"

#include <sys/mman.h>
#include <zstd.h>

#include "../../src/base/base.h"
#include "journal.h"

static int read_all(JournalReader *r)
{
	int events = 0;

	for (size_t i = 0; i < r->nchunks; i++) {
		const uint8_t *raw;
		if (!journal_load(r, i, &raw) || !journal_decode(r, i, raw, NULL, NULL))
			return -1;
		events += (int)r->chunks[i].events;
	}
	return events;
}

static int last_result;
static char last_err[TRACE_ERR_LEN];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	JournalReader r;
	int fd = memfd_create("journal.fbj", MFD_CLOEXEC);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) {
		perror("memfd");
		abort();
	}
	last_result = journal_open(&r, fd, "journal.fbj") ? read_all(&r) : -1;
	snprintf(last_err, sizeof(last_err), "%s", r.err);
	/* Every failure leaves one line that names the file. */
	if (last_result < 0 && (!strstr(last_err, "journal.fbj") || strchr(last_err, '\n')))
		abort();
	journal_close(&r);
	close(fd);
	return 0;
}

#ifndef FB_LIBFUZZER

#include "../unit/unit.h"

#define RUNS 3000

/* Re-seal chunk @c of @j after mutating its raw events or its header fields. */
static size_t reseal(uint8_t *out, const uint8_t *j, size_t len, uint64_t off)
{
	uint32_t csize = ld32(j + off + 28), rsize = ld32(j + off + 32);
	uint8_t *raw = malloc(rsize + 64);
	size_t n = ZSTD_decompress(raw, rsize, j + off + 48, csize);

	if (ZSTD_isError(n))
		abort();
	unsigned what = rng() % 4;
	if (what == 0) {
		/* Flip a few raw event bytes. */
		for (int k = 0; k < 1 + (int)(rng() % 4); k++)
			raw[rng() % rsize] ^= (uint8_t)(1u << (rng() % 8));
	} else if (what == 1) {
		/* Runs of 0xff: varint overflow, huge lengths. */
		size_t at = rng() % rsize, run = 1 + rng() % 12;
		for (size_t k = at; k < at + run && k < rsize; k++)
			raw[k] = 0xff;
	} else if (what == 2) {
		/* Drop or add bytes at the end. */
		if (rng() & 1 && n > 1)
			n -= 1 + rng() % (n / 2);
		else
			for (int k = 0; k < 5; k++)
				raw[n++] = (uint8_t)rng();
	}
	memcpy(out, j, off);
	uint8_t *h = out + off;
	memcpy(h, j + off, 48);
	size_t c = ZSTD_compress(h + 48, ZSTD_compressBound(n), raw, n, 1);
	st32(h + 28, (uint32_t)c);
	st32(h + 32, (uint32_t)n);
	if (what == 3) {
		/* Header fields: events, first or last icount. */
		unsigned field = (unsigned)(rng() % 3);
		if (field == 0)
			st32(h + 24, ld32(h + 24) + (rng() & 1 ? 1 : -1u));
		else
			st64(h + 8 * field, ld64(h + 8 * field) + (rng() % 5) - 2);
	}
	st32(h + 36, crc32c(0, h + 48, c));
	st32(h + 44, crc32c(0, h, 44));
	free(raw);
	/* The chunks after it, unchanged. */
	size_t rest = len - (off + 48 + csize);
	memcpy(h + 48 + c, j + off + 48 + csize, rest);
	return off + 48 + c + rest;
}

int main(void)
{
	char dir[256], err[TRACE_ERR_LEN], path[300];
	uint8_t data[300];
	uint64_t icount = 0;
	size_t len;
	TraceOptions o = {.chunk_bytes = 2048, .no_fsync = true};

	/* A good journal with every kind of event. */
	scratch(dir, sizeof(dir));
	Trace *t = trace_create(dir, NULL, &o, err);
	CHECK(t != NULL);
	for (int i = 0; t && i < 1500; i++) {
		TraceEvent ev;
		make_event(&ev, &icount, data);
		CHECK(trace_append(t, &ev));
	}
	CHECK(trace_close(t, icount + 1, 42, err));
	snprintf(path, sizeof(path), "%s/journal.fbj", dir);
	uint8_t *good = slurp(path, &len);
	rm_scratch(dir);

	/* Chunk offsets, for the re-sealed mutations. */
	uint64_t offs[256];
	int nch = 0;
	for (uint64_t off = 24 + ld32(good + 16); off + 48 <= len && nch < 256;
	     off += 48 + ld32(good + off + 28))
		offs[nch++] = off;
	CHECK(nch > 4);

	LLVMFuzzerTestOneInput(good, len);
	CHECK_EQ(last_result, 1501);

	uint8_t *buf = malloc(len * 2 + 4096);
	int failed = 0, resealed_failed = 0;
	rng_state = 12345;
	for (int run = 0; run < RUNS; run++) {
		size_t n = len;
		if (run % 2 == 0) {
			memcpy(buf, good, len);
			/* Raw damage: flips, a cut, random bytes. */
			for (int k = 0; k < 1 + (int)(rng() % 3); k++)
				buf[rng() % len] ^= (uint8_t)rng();
			if (rng() % 4 == 0)
				n = rng() % len;
		} else {
			n = reseal(buf, good, len, offs[rng() % nch]);
		}
		LLVMFuzzerTestOneInput(buf, n);
		failed += last_result < 0;
		resealed_failed += run % 2 && last_result < 0;
	}
	/* The mutations were seen as damage (most of them). */
	CHECK(failed > RUNS / 3);
	CHECK(resealed_failed > RUNS / 4);
	printf("fuzz_journal: %d runs, %d rejected (%d of the re-sealed)\n", RUNS, failed,
	       resealed_failed);
	free(buf);
	free(good);
	return unit_done("fuzz_journal");
}

#endif
