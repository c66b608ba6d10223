/*
 * common.h - helpers the trace tests share: scratch directories, a
 * deterministic event stream, whole-file read and write.
 */
#ifndef FB_TEST_REPLAY_COMMON_H
#define FB_TEST_REPLAY_COMMON_H

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/replay/trace.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rng(void)
{
	/* xorshift64*: deterministic across hosts. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static inline void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh scratch directory; the trace goes in DIR/t.fbt. */
static inline char *scratch(char *buf, size_t len)
{
	char tmpl[] = "/tmp/fbtrace-XXXXXX";
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(buf, len, "%s/t.fbt", tmpl);
	return buf;
}

static inline void rm_scratch(const char *trace_dir)
{
	char parent[256];
	snprintf(parent, sizeof(parent), "%s", trace_dir);
	*strrchr(parent, '/') = 0;
	rm_rf(parent);
}

static inline uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc(*len + 1);
	if (fread(p, 1, *len, f) != *len)
		*len = 0;
	fclose(f);
	return p;
}

static inline void spit(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

/*
 * Event @i of a stream with every kind but the end event; payload bytes go
 * into @data (at least 300 bytes).  icounts advance by small random steps
 * and sometimes repeat.
 */
static inline void make_event(TraceEvent *ev, uint64_t *icount, uint8_t *data)
{
	static const uint8_t kinds[] = {TEV_PORT_READ, TEV_MMIO_READ, TEV_INTERRUPT,
					TEV_DMA_WRITE, TEV_TIME_READ, TEV_MAP_CHANGE,
					TEV_CHECK,     TEV_CONSOLE,   TEV_SNAPSHOT};
	static const uint8_t psize[] = {1, 2, 4};
	uint64_t r = rng();

	memset(ev, 0, sizeof(*ev));
	ev->kind = kinds[r % sizeof(kinds)];
	*icount += (r >> 8) % 4 == 0 ? 0 : (r >> 10) % 5000;
	ev->icount = *icount;
	r = rng();
	switch (ev->kind) {
	case TEV_PORT_READ:
		ev->addr = r & 0xffff;
		ev->size = psize[(r >> 16) % 3];
		ev->value = (r >> 24) & ((1ull << (8 * ev->size)) - 1);
		break;
	case TEV_MMIO_READ:
		ev->addr = (r & 0xfffff) | 0xfee00000;
		ev->size = 1u << ((r >> 20) % 4);
		ev->value = ev->size == 8 ? rng() : (r >> 24) & ((1ull << (8 * ev->size)) - 1);
		break;
	case TEV_INTERRUPT:
		ev->value = r % 259;
		break;
	case TEV_TIME_READ:
		ev->addr = r & 1 ? 0x10 : 0;
		ev->value = *icount * 3 + (r >> 40);
		break;
	case TEV_CHECK:
		ev->value = rng();
		if (r & 1) {
			ev->flags = TRACE_CHECK_RAM;
			ev->value2 = rng();
		}
		break;
	case TEV_SNAPSHOT:
		ev->value = r % 100;
		break;
	default: /* DMA, map change, console: bytes */
		ev->addr = ev->kind == TEV_CONSOLE ? 0 : r & 0xffffff;
		ev->size = (uint32_t)((r >> 32) % 300);
		for (uint32_t i = 0; i < ev->size; i++)
			data[i] = ev->kind == TEV_CONSOLE ? "hello world\n"[(r + i) % 12]
							  : (uint8_t)rng();
		ev->data = data;
		break;
	}
}

static inline bool same_event(const TraceEvent *a, const TraceEvent *b)
{
	bool has_data =
	    a->kind == TEV_DMA_WRITE || a->kind == TEV_MAP_CHANGE || a->kind == TEV_CONSOLE;
	return a->kind == b->kind && a->icount == b->icount && a->addr == b->addr &&
	       a->size == b->size && a->value == b->value && a->value2 == b->value2 &&
	       a->flags == b->flags &&
	       (!has_data || !a->size || memcmp(a->data, b->data, a->size) == 0);
}

#endif
