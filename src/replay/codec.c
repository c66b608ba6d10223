/*
 * codec.c - the journal's compact event encoding, its varints and CRC32C.
 *
 * An event is a kind byte, the icount delta from the previous event as a
 * LEB128 varint, then a payload of varints (or fixed 8-byte hashes, which
 * varints would only make longer).  Time reads are stored as the zigzag
 * delta from the previous time read, since a TSC read twice in a loop
 * differs by little.  Both deltas restart at every chunk.
 */
#include <stdio.h>
#include <string.h>

#include "../base/base.h"
#include "journal.h"

/* ---- CRC32C (Castagnoli, reflected 0x82F63B78) ----------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? 0x82F63B78u : 0);
		crc_table[i] = c;
	}
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_table[1])
		crc_init();
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- varints --------------------------------------------------------- */

size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static bool varint_get(const uint8_t **pp, const uint8_t *end, uint64_t *v, char *why)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (p == end) {
			snprintf(why, 128, "event cut short inside a varint");
			return false;
		}
		uint8_t b = *p++;
		/* The tenth byte holds bit 63 only. */
		if (shift == 63 && b > 1) {
			snprintf(why, 128, "varint overflow");
			return false;
		}
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*v = x;
			return true;
		}
	}
	snprintf(why, 128, "varint overflow");
	return false;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- the kind byte --------------------------------------------------- */

/*
 * Bits 0-3: the kind.  Bits 4-5: log2 of the access size of port and MMIO
 * reads.  Bit 6: TRACE_CHECK_RAM on a check event.  Bit 7: reserved, 0.
 */
#define KB_KIND	      0x0f
#define KB_SIZE_SHIFT 4
#define KB_RAM	      0x40

static unsigned size_code(uint32_t size)
{
	return size == 8 ? 3 : size == 4 ? 2 : size == 2 ? 1 : 0;
}

/* Which payload fields each kind carries. */
enum { P_ADDR = 1, P_VALUE = 2, P_DATA = 4, P_HASH = 8, P_TIME = 16 };
static const uint8_t payload[TEV_KIND_COUNT] = {
    [TEV_PORT_READ] = P_ADDR | P_VALUE,
    [TEV_MMIO_READ] = P_ADDR | P_VALUE,
    [TEV_INTERRUPT] = P_VALUE,
    [TEV_DMA_WRITE] = P_ADDR | P_DATA,
    [TEV_TIME_READ] = P_ADDR | P_TIME,
    [TEV_MAP_CHANGE] = P_ADDR | P_DATA,
    [TEV_CHECK] = P_HASH,
    [TEV_CONSOLE] = P_DATA,
    [TEV_SNAPSHOT] = P_VALUE,
    [TEV_END] = P_HASH,
};

static const char *const kind_names[TEV_KIND_COUNT] = {
    [TEV_PORT_READ] = "port-read", [TEV_MMIO_READ] = "mmio-read",
    [TEV_INTERRUPT] = "interrupt", [TEV_DMA_WRITE] = "dma-write",
    [TEV_TIME_READ] = "time-read", [TEV_MAP_CHANGE] = "map-change",
    [TEV_CHECK] = "check",	   [TEV_CONSOLE] = "console",
    [TEV_SNAPSHOT] = "snapshot",   [TEV_END] = "end",
};

const char *trace_kind_name(unsigned kind)
{
	return kind > 0 && kind < TEV_KIND_COUNT ? kind_names[kind] : "?";
}

size_t event_max_size(const TraceEvent *ev)
{
	/* kind byte, 4 varints, two hashes, the data. */
	return 1 + 4 * 10 + 16 + ((payload[ev->kind] & P_DATA) ? ev->size : 0);
}

size_t event_encode(EventCodec *c, const TraceEvent *ev, uint8_t *p)
{
	uint8_t *start = p;
	unsigned what = payload[ev->kind];
	uint8_t kb = ev->kind;

	if (ev->kind == TEV_PORT_READ || ev->kind == TEV_MMIO_READ)
		kb |= (uint8_t)(size_code(ev->size) << KB_SIZE_SHIFT);
	if (ev->kind == TEV_CHECK && (ev->flags & TRACE_CHECK_RAM))
		kb |= KB_RAM;
	*p++ = kb;
	p += varint_put(p, ev->icount - c->icount);
	c->icount = ev->icount;
	if (what & P_ADDR)
		p += varint_put(p, ev->addr);
	if (what & P_VALUE)
		p += varint_put(p, ev->value);
	if (what & P_TIME) {
		p += varint_put(p, zigzag((int64_t)(ev->value - c->time)));
		c->time = ev->value;
	}
	if (what & P_DATA) {
		p += varint_put(p, ev->size);
		if (ev->size)
			memcpy(p, ev->data, ev->size);
		p += ev->size;
	}
	if (what & P_HASH) {
		st64(p, ev->value);
		p += 8;
		if (kb & KB_RAM) {
			st64(p, ev->value2);
			p += 8;
		}
	}
	return (size_t)(p - start);
}

/* Range checks a decoder applies so that damage is caught, not replayed. */
static bool event_valid(const TraceEvent *ev, char *why)
{
	switch (ev->kind) {
	case TEV_PORT_READ:
		if (ev->addr > 0xffff || ev->size > 4) {
			snprintf(why, 128, "port read of port 0x%llx size %u",
				 (unsigned long long)ev->addr, ev->size);
			return false;
		}
		/* fall through */
	case TEV_MMIO_READ:
		if (ev->size < 8 && ev->value >> (ev->size * 8)) {
			snprintf(why, 128, "%s value 0x%llx wider than %u bytes",
				 trace_kind_name(ev->kind), (unsigned long long)ev->value,
				 ev->size);
			return false;
		}
		return true;
	case TEV_INTERRUPT:
		if (ev->value > TRACE_SMI) {
			snprintf(why, 128, "interrupt vector 0x%llx",
				 (unsigned long long)ev->value);
			return false;
		}
		return true;
	default:
		return true;
	}
}

bool event_decode(EventCodec *c, const uint8_t **pp, const uint8_t *end, TraceEvent *ev, char *why)
{
	const uint8_t *p = *pp;
	uint64_t delta, v;

	memset(ev, 0, sizeof(*ev));
	if (p == end) {
		snprintf(why, 128, "event cut short");
		return false;
	}
	uint8_t kb = *p++;
	ev->kind = kb & KB_KIND;
	if (ev->kind == 0 || ev->kind >= TEV_KIND_COUNT || (kb & 0x80)) {
		snprintf(why, 128, "unknown event kind byte 0x%02x", kb);
		return false;
	}
	unsigned what = payload[ev->kind];
	if (!varint_get(&p, end, &delta, why))
		return false;
	if (c->icount + delta < c->icount) {
		snprintf(why, 128, "icount overflows 64 bits");
		return false;
	}
	ev->icount = c->icount += delta;
	if (ev->kind == TEV_PORT_READ || ev->kind == TEV_MMIO_READ)
		ev->size = 1u << ((kb >> KB_SIZE_SHIFT) & 3);
	else if (kb & 0x30) {
		snprintf(why, 128, "size bits set on a %s event", trace_kind_name(ev->kind));
		return false;
	}
	if ((kb & KB_RAM) && ev->kind != TEV_CHECK) {
		snprintf(why, 128, "RAM-hash bit set on a %s event", trace_kind_name(ev->kind));
		return false;
	}
	if ((what & P_ADDR) && !varint_get(&p, end, &ev->addr, why))
		return false;
	if ((what & P_VALUE) && !varint_get(&p, end, &ev->value, why))
		return false;
	if (what & P_TIME) {
		if (!varint_get(&p, end, &v, why))
			return false;
		ev->value = c->time += (uint64_t)unzigzag(v);
	}
	if (what & P_DATA) {
		if (!varint_get(&p, end, &v, why))
			return false;
		if (v > TRACE_MAX_DATA || v > (uint64_t)(end - p)) {
			snprintf(why, 128, "%s of %llu bytes runs past the chunk",
				 trace_kind_name(ev->kind), (unsigned long long)v);
			return false;
		}
		ev->size = (uint32_t)v;
		ev->data = p;
		p += v;
	}
	if (what & P_HASH) {
		size_t n = (kb & KB_RAM) ? 16 : 8;
		if ((size_t)(end - p) < n) {
			snprintf(why, 128, "event cut short inside a hash");
			return false;
		}
		ev->value = ld64(p);
		if (kb & KB_RAM) {
			ev->flags = TRACE_CHECK_RAM;
			ev->value2 = ld64(p + 8);
		}
		p += n;
	}
	if (!event_valid(ev, why))
		return false;
	*pp = p;
	return true;
}
