/*
 * test_memory.c - the region tree, flat views, dispatch, dumps, dirty pages
 * and device DMA (src/memory/), driven through memory.h only.
 *
 * Besides hand-built cases (the overlap situations the memory-API model is
 * known for: priorities, ties, containers with holes, aliases, moves), a
 * seeded random test compares every address of small random trees with a
 * straightforward recursive reference resolver.
 */
#include "unit.h"
#include "../../src/base/base.h"
#include "../../src/memory/memory.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

/* Expect the flat range covering @addr to be [start, end] of @mr at @off. */
static void check_range(AddressSpace *as, uint64_t addr, uint64_t start, uint64_t end,
			MemoryRegion *mr, uint64_t off)
{
	const FlatRange *r = as_lookup(as, addr);

	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_EQ(r->start, start);
	CHECK_EQ(r->end, end);
	CHECK(r->mr == mr);
	CHECK_EQ(r->mr_offset, off);
}

static size_t range_count(AddressSpace *as)
{
	size_t n;

	as_ranges(as, &n);
	return n;
}

/* Fill RAM/ROM host memory with one byte so reads show which region answered. */
static void paint(MemoryRegion *mr, uint8_t v)
{
	memset(mr_host(mr), v, mr_size(mr));
}

/* An MMIO device that records its last access and answers 0xA0 + offset. */
struct dev {
	uint64_t off, value;
	unsigned size;
	int reads, writes;
};

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned size)
{
	struct dev *d = opaque;

	d->off = offset;
	d->size = size;
	d->reads++;
	return 0xA0 + offset;
}

static void dev_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
	struct dev *d = opaque;

	d->off = offset;
	d->size = size;
	d->value = value;
	d->writes++;
}

static const MemoryRegionOps dev_ops = {dev_read, dev_write};

/* Capture a dump into a string (freed by the caller). */
static char *dump(AddressSpace *as, bool flat)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (flat)
		as_dump_flat(as, f);
	else
		as_dump_tree(as, f);
	fclose(f);
	return buf;
}

static void check_text(const char *got, const char *want)
{
	CHECK(strcmp(got, want) == 0);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "--- got:\n%s--- want:\n%s", got, want);
}

/* ---- overlaps ----------------------------------------------------------- */

static void test_priorities(void)
{
	MemoryRegion *root = mr_container("root", 0x10000);
	MemoryRegion *a = mr_ram("a", 0x4000);
	MemoryRegion *b = mr_ram("b", 0x1000);
	MemoryRegion *c = mr_ram("c", 0x1000);
	AddressSpace *as = as_new("t", root);

	CHECK(strcmp(mr_name(a), "a") == 0);
	CHECK(strcmp(as_name(as), "t") == 0);
	CHECK(as_root(as) == root);
	CHECK_EQ(mr_kind(root), MR_CONTAINER);
	CHECK_EQ(mr_kind(a), MR_RAM);
	CHECK_EQ(mr_size(a), 0x4000);
	CHECK(mr_host(root) == NULL);
	CHECK(mr_host(a) != NULL && mr_host(a)[0x3fff] == 0); /* zero-filled */
	paint(a, 0xaa);
	paint(b, 0xbb);
	paint(c, 0xcc);
	/* c is added after b but at lower priority: b still wins where they meet. */
	mr_add(root, a, 0, 0);
	mr_add(root, b, 0x1000, 2);
	mr_add(root, c, 0x1800, 1);
	CHECK_EQ(range_count(as), 4);
	check_range(as, 0x0, 0x0, 0xfff, a, 0);
	check_range(as, 0x1fff, 0x1000, 0x1fff, b, 0);
	check_range(as, 0x2000, 0x2000, 0x27ff, c, 0x800);
	check_range(as, 0x3000, 0x2800, 0x3fff, a, 0x2800);
	CHECK_EQ(as_read(as, 0x1800, 1), 0xbb);
	CHECK_EQ(as_read(as, 0x2000, 4), 0xcccccccc);
	CHECK_EQ(as_read(as, 0x2800, 2), 0xaaaa);
	CHECK(as_lookup(as, 0x4000) == NULL);
	as_free(as);
	mr_free(root);
}

static void test_equal_priority_later_wins(void)
{
	MemoryRegion *root = mr_container("root", 0x10000);
	MemoryRegion *x = mr_ram("x", 0x2000);
	MemoryRegion *y = mr_ram("y", 0x2000);
	MemoryRegion *z = mr_ram("z", 0x800);
	AddressSpace *as = as_new("t", root);

	mr_add(root, x, 0, 0);
	mr_add(root, y, 0x1000, 0);
	check_range(as, 0x0, 0x0, 0xfff, x, 0);
	check_range(as, 0x1000, 0x1000, 0x2fff, y, 0);
	mr_add(root, z, 0x800, 0);
	check_range(as, 0x0, 0x0, 0x7ff, x, 0);
	check_range(as, 0x800, 0x800, 0xfff, z, 0);
	check_range(as, 0x1000, 0x1000, 0x2fff, y, 0);
	/* Moving keeps the stacking: y still wins over x after the move. */
	mr_set_offset(y, 0x1800);
	check_range(as, 0x1000, 0x1000, 0x17ff, x, 0x1000);
	check_range(as, 0x1800, 0x1800, 0x37ff, y, 0);
	as_free(as);
	mr_free(root);
}

/*
 * A container at higher priority than RAM covers only where it has
 * children: in its holes the RAM below shows through.
 */
static void test_container_holes(void)
{
	MemoryRegion *root = mr_container("root", 0x100000);
	MemoryRegion *ram = mr_ram("ram", 0x10000);
	MemoryRegion *box = mr_container("box", 0x8000);
	MemoryRegion *dev = mr_mmio("dev", 0x1000, &dev_ops, NULL);
	MemoryRegion *low = mr_ram("low", 0x20000);
	AddressSpace *as = as_new("t", root);

	mr_add(root, ram, 0, 0);
	mr_add(box, dev, 0x2000, 0);
	mr_add(root, box, 0x4000, 1);
	check_range(as, 0x0, 0x0, 0x5fff, ram, 0);
	check_range(as, 0x6000, 0x6000, 0x6fff, dev, 0);
	check_range(as, 0x7000, 0x7000, 0xffff, ram, 0x7000);
	CHECK_EQ(range_count(as), 3);

	/* A sibling below the container shows through where nothing else is. */
	mr_add(root, low, 0, -1);
	check_range(as, 0x10000, 0x10000, 0x1ffff, low, 0x10000);
	check_range(as, 0xc000, 0x7000, 0xffff, ram, 0x7000);
	/* Remove the RAM: the low region now fills the container's holes. */
	mr_remove(root, ram);
	check_range(as, 0x0, 0x0, 0x5fff, low, 0);
	check_range(as, 0x6000, 0x6000, 0x6fff, dev, 0);
	check_range(as, 0x7000, 0x7000, 0x1ffff, low, 0x7000);
	mr_free(ram);
	as_free(as);
	mr_free(root);
}

static void test_nested_containers(void)
{
	MemoryRegion *root = mr_container("root", 0x100000);
	MemoryRegion *outer = mr_container("outer", 0x10000);
	MemoryRegion *inner = mr_container("inner", 0x1000);
	MemoryRegion *ram = mr_ram("ram", 0x100);
	MemoryRegion *tail = mr_ram("tail", 0x4000);
	AddressSpace *as = as_new("t", root);

	mr_add(inner, ram, 0x10, 0);
	mr_add(outer, inner, 0x100, 0);
	mr_add(root, outer, 0x10000, 0);
	check_range(as, 0x10110, 0x10110, 0x1020f, ram, 0);
	CHECK(as_lookup(as, 0x1010f) == NULL);
	CHECK(as_lookup(as, 0x10210) == NULL);
	/* Children are clipped to their container. */
	mr_add(inner, tail, 0x800, 0);
	check_range(as, 0x10900, 0x10900, 0x110ff, tail, 0);
	/* Moving the outer container moves everything inside. */
	mr_set_offset(outer, 0x20000);
	check_range(as, 0x20110, 0x20110, 0x2020f, ram, 0);
	CHECK(as_lookup(as, 0x10110) == NULL);
	/* Disabling the inner one hides all its children. */
	mr_set_enabled(inner, false);
	CHECK_EQ(range_count(as), 0);
	CHECK_EQ(as_read(as, 0x20110, 4), 0xffffffff);
	as_free(as);
	mr_free(root);
}

/* ---- aliases --------------------------------------------------------------- */

/* The PC's layout: RAM, a BIOS at the top, its last 128 KiB aliased below 1 MiB. */
static void test_aliases(void)
{
	MemoryRegion *root = mr_container("system", 1ull << 32);
	MemoryRegion *ram = mr_ram("pc.ram", 0x200000);
	MemoryRegion *bios = mr_rom("pc.bios", 0x40000);
	MemoryRegion *isa = mr_alias("isa-bios", bios, 0x20000, 0x20000);
	MemoryRegion *hi = mr_alias("ram-hi", ram, 0x80000, 0x10000);
	AddressSpace *as = as_new("t", root);
	uint8_t *h = mr_host(ram);

	CHECK_EQ(mr_kind(isa), MR_ALIAS);
	CHECK(mr_host(isa) == NULL);
	CHECK_EQ(mr_kind(bios), MR_ROM);
	CHECK(mr_host(bios) != NULL);
	mr_add(root, ram, 0, 0);
	mr_add(root, bios, 0xfffc0000, 0);
	mr_add(root, isa, 0xe0000, 1);
	mr_add(root, hi, 0x40000000, 0);
	mr_host(bios)[0x20000] = 0x11;
	mr_host(bios)[0x3fff0] = 0xea;
	check_range(as, 0xe0000, 0xe0000, 0xfffff, bios, 0x20000);
	check_range(as, 0xfffc0000, 0xfffc0000, 0xffffffff, bios, 0);
	CHECK_EQ(as_read(as, 0xffff0, 1), 0xea);
	CHECK_EQ(as_read(as, 0xfffffff0, 1), 0xea);
	CHECK_EQ(as_read(as, 0xe0000, 1), 0x11);
	/* ROM ignores writes, through the alias or not. */
	as_write(as, 0xe0000, 0x55, 1);
	as_write(as, 0xfffe0000, 0x55, 1);
	CHECK_EQ(mr_host(bios)[0x20000], 0x11);
	/* RAM below and above the alias is split around it. */
	check_range(as, 0xdffff, 0, 0xdffff, ram, 0);
	check_range(as, 0x100000, 0x100000, 0x1fffff, ram, 0x100000);

	/* Part of RAM shown elsewhere: the same bytes. */
	as_write(as, 0x40000010, 0x12345678, 4);
	CHECK_EQ(ld32(h + 0x80010), 0x12345678);
	CHECK_EQ(as_read(as, 0x80010, 4), 0x12345678);
	check_range(as, 0x4000ffff, 0x40000000, 0x4000ffff, ram, 0x80000);
	CHECK(as_lookup(as, 0x40010000) == NULL);

	/* Changing the window. */
	mr_set_alias_offset(hi, 0x80008);
	CHECK_EQ(as_read(as, 0x40000008, 4), 0x12345678);
	check_range(as, 0x40000000, 0x40000000, 0x4000ffff, ram, 0x80008);
	/* A window running past the end of its target is clipped. */
	mr_set_alias_offset(hi, 0x1f8000);
	check_range(as, 0x40000000, 0x40000000, 0x40007fff, ram, 0x1f8000);
	CHECK(as_lookup(as, 0x40008000) == NULL);

	/* Disable the ISA alias: RAM shows at 0xe0000 again; enable: BIOS again. */
	h[0xe0000] = 0x77;
	mr_set_enabled(isa, false);
	check_range(as, 0xe0000, 0, 0x1fffff, ram, 0);
	CHECK_EQ(as_read(as, 0xe0000, 1), 0x77);
	mr_set_enabled(isa, true);
	CHECK_EQ(as_read(as, 0xe0000, 1), 0x11);

	/* The BIOS is in the tree itself: the dump needs no extra section for it. */
	{
		char *text = dump(as, false);
		CHECK(
		    strstr(text, "): alias isa-bios @pc.bios 0000000000020000-000000000003ffff\n"));
		CHECK(strstr(text, "memory-region:") == NULL);
		free(text);
	}

	/* Move the alias. */
	mr_set_offset(isa, 0xc0000);
	check_range(as, 0xc0000, 0xc0000, 0xdffff, bios, 0x20000);
	CHECK_EQ(as_read(as, 0xe0000, 1), 0x77);
	as_free(as);
	mr_free(root);
}

/* Adjacent pieces of one region merge only when their offsets continue. */
static void test_merge(void)
{
	MemoryRegion *root = mr_container("root", 0x100000);
	MemoryRegion *ram = mr_ram("ram", 0x10000);
	MemoryRegion *a1 = mr_alias("a1", ram, 0x1000, 0x1000);
	MemoryRegion *a2 = mr_alias("a2", ram, 0x2000, 0x1000);
	MemoryRegion *a3 = mr_alias("a3", ram, 0x8000, 0x1000);
	AddressSpace *as = as_new("t", root);

	mr_add(root, a1, 0x40000, 0);
	mr_add(root, a2, 0x41000, 0);
	mr_add(root, a3, 0x42000, 0);
	CHECK_EQ(range_count(as), 2);
	check_range(as, 0x41800, 0x40000, 0x41fff, ram, 0x1000);
	check_range(as, 0x42000, 0x42000, 0x42fff, ram, 0x8000);
	as_free(as);
	mr_free(root);
	mr_free(ram);
}

/* An alias of a container shows the container's children, holes included. */
static void test_alias_of_container(void)
{
	MemoryRegion *root = mr_container("root", 0x100000);
	MemoryRegion *bus = mr_container("bus", 0x10000);
	MemoryRegion *dev = mr_mmio("dev", 0x100, &dev_ops, NULL);
	MemoryRegion *ram = mr_ram("ram", 0x100000);
	MemoryRegion *win = mr_alias("win", bus, 0x1000, 0x2000);
	AddressSpace *as = as_new("t", root);

	mr_add(bus, dev, 0x1800, 0);
	mr_add(root, ram, 0, 0);
	mr_add(root, win, 0x50000, 1);
	check_range(as, 0x50800, 0x50800, 0x508ff, dev, 0);
	check_range(as, 0x50000, 0, 0x507ff, ram, 0);
	check_range(as, 0x50900, 0x50900, 0xfffff, ram, 0x50900);
	/* A change inside the aliased container reaches the address space. */
	mr_set_offset(dev, 0x1000);
	check_range(as, 0x50000, 0x50000, 0x500ff, dev, 0);
	as_free(as);
	mr_free(root);
	mr_free(bus);
}

/* ---- listeners and generations ------------------------------------------------ */

struct seen {
	int calls;
	AddressSpace *as;
	uint64_t gen;
};

static void on_change(void *opaque, AddressSpace *as)
{
	struct seen *s = opaque;

	s->calls++;
	s->as = as;
	s->gen = as_generation(as);
}

static void test_listeners(void)
{
	MemoryRegion *root = mr_container("root", 0x100000);
	MemoryRegion *ioroot = mr_container("io", 0x10000);
	MemoryRegion *ram = mr_ram("ram", 0x1000);
	MemoryRegion *port = mr_mmio("port", 4, &dev_ops, NULL);
	MemoryRegion *detached = mr_container("detached", 0x1000);
	MemoryRegion *piece = mr_ram("piece", 0x100);
	AddressSpace *as = as_new("mem", root);
	AddressSpace *io = as_new("io", ioroot);
	struct seen s = {0}, sio = {0};
	uint64_t g0 = as_generation(as), gio = as_generation(io);

	CHECK_EQ(g0, 1);
	as_add_listener(as, on_change, &s);
	as_add_listener(io, on_change, &sio);
	mr_add(root, ram, 0, 0);
	CHECK_EQ(s.calls, 1);
	CHECK(s.as == as);
	CHECK_EQ(s.gen, g0 + 1);
	mr_set_offset(ram, 0x1000);
	mr_set_enabled(ram, false);
	mr_set_enabled(ram, true);
	mr_remove(root, ram);
	CHECK_EQ(s.calls, 5);
	CHECK_EQ(as_generation(as), g0 + 5);
	/* Nothing changed: no rebuild. */
	mr_set_enabled(ram, true);
	CHECK_EQ(s.calls, 5);
	/* Other trees do not disturb this one. */
	mr_add(ioroot, port, 0x60, 0);
	CHECK_EQ(s.calls, 5);
	CHECK_EQ(sio.calls, 1);
	CHECK_EQ(as_generation(io), gio + 1);
	mr_add(detached, piece, 0, 0);
	CHECK_EQ(s.calls, 5);
	CHECK_EQ(as_generation(as), g0 + 5);
	/* Plugging the built subtree in is one change. */
	mr_add(root, detached, 0x8000, 0);
	CHECK_EQ(s.calls, 6);
	check_range(as, 0x8000, 0x8000, 0x80ff, piece, 0);

	/* A batch rebuilds once, at the outermost commit. */
	mr_begin_update(root);
	mr_add(root, ram, 0, 0);
	mr_begin_update(root);
	mr_set_offset(piece, 0x10);
	mr_commit_update(root);
	mr_set_offset(ram, 0x2000);
	CHECK_EQ(s.calls, 6);
	/* another map (another machine or session) is not held back */
	mr_set_enabled(port, false);
	CHECK_EQ(sio.calls, 2);
	mr_commit_update(root);
	CHECK_EQ(s.calls, 7);
	CHECK_EQ(as_generation(as), g0 + 7);
	check_range(as, 0x2000, 0x2000, 0x2fff, ram, 0);
	check_range(as, 0x8010, 0x8010, 0x810f, piece, 0);
	/* nor does its batch hold back this one */
	mr_begin_update(ioroot);
	mr_set_enabled(port, true);
	mr_set_offset(ram, 0x3000);
	CHECK_EQ(s.calls, 8);
	CHECK_EQ(sio.calls, 2);
	mr_commit_update(ioroot);
	CHECK_EQ(sio.calls, 3);
	as_free(as);
	as_free(io);
	mr_free(root);
	mr_free(ioroot);
}

/* ---- access ---------------------------------------------------------------------- */

static void test_mmio_access(void)
{
	MemoryRegion *root = mr_container("root", 0x100000);
	struct dev d = {0};
	MemoryRegion *dev = mr_mmio("dev", 0x100, &dev_ops, &d);
	MemoryRegion *al = mr_alias("dev-alias", dev, 0x40, 0x40);
	AddressSpace *as = as_new("t", root);

	mr_add(root, dev, 0x1000, 0);
	mr_add(root, al, 0x9000, 0);
	CHECK_EQ(as_read(as, 0x1010, 4), 0xA0 + 0x10);
	CHECK_EQ(d.off, 0x10);
	CHECK_EQ(d.size, 4);
	as_write(as, 0x1020, 0x1234, 2);
	CHECK_EQ(d.off, 0x20);
	CHECK_EQ(d.size, 2);
	CHECK_EQ(d.value, 0x1234);
	/* Values wider than the access are cut to its size. */
	as_write(as, 0x1021, 0x1ff, 1);
	CHECK_EQ(d.value, 0xff);
	as_write(as, 0x1000, 0x1122334455667788ull, 8);
	CHECK_EQ(d.value, 0x1122334455667788ull);
	CHECK_EQ(d.size, 8);
	/* Through the alias the offset is relative to the MMIO region. */
	CHECK_EQ(as_read(as, 0x9004, 1), 0xA0 + 0x44);
	CHECK_EQ(d.off, 0x44);
	as_write(as, 0x9008, 0xdeadbeef, 4);
	CHECK_EQ(d.off, 0x48);
	CHECK_EQ(d.value, 0xdeadbeef);
	CHECK_EQ(d.writes, 4);
	/* Unassigned space: all ones, writes vanish. */
	CHECK_EQ(as_read(as, 0x5000, 1), 0xff);
	CHECK_EQ(as_read(as, 0x5000, 2), 0xffff);
	CHECK_EQ(as_read(as, 0x5000, 4), 0xffffffff);
	CHECK_EQ(as_read(as, 0x5000, 8), UINT64_MAX);
	CHECK_EQ(as_read(as, UINT64_MAX, 1), 0xff);
	as_write(as, 0x5000, 1, 4);
	CHECK_EQ(d.writes, 4);
	as_free(as);
	mr_free(root);
}

/* Accesses across a range boundary become byte accesses on each side. */
static void test_split_access(void)
{
	MemoryRegion *root = mr_container("root", 0x100000);
	MemoryRegion *ram = mr_ram("ram", 0x1000);
	MemoryRegion *ram2 = mr_ram("ram2", 0x1000);
	struct dev d = {0};
	MemoryRegion *dev = mr_mmio("dev", 0x100, &dev_ops, &d);
	AddressSpace *as = as_new("t", root);
	uint8_t *h = mr_host(ram);

	mr_add(root, ram, 0, 0);
	mr_add(root, dev, 0x1000, 0);
	mr_add(root, ram2, 0x3000, 0);
	h[0xffe] = 0x12;
	h[0xfff] = 0x34;
	/* Two RAM bytes, then two one-byte MMIO reads at offsets 0 and 1. */
	CHECK_EQ(as_read(as, 0xffe, 4), 0xa1a03412);
	CHECK_EQ(d.reads, 2);
	CHECK_EQ(d.off, 1);
	CHECK_EQ(d.size, 1);
	as_write(as, 0xfff, 0xaabbccdd, 4);
	CHECK_EQ(h[0xfff], 0xdd);
	CHECK_EQ(d.writes, 3);
	CHECK_EQ(d.off, 2);
	CHECK_EQ(d.value, 0xaa);
	CHECK_EQ(d.size, 1);
	/* RAM next to a hole: the hole's bytes are 0xff, writes to it vanish. */
	mr_host(ram2)[0] = 0x5a;
	CHECK_EQ(as_read(as, 0x2ffe, 4), 0x005affff);
	as_write(as, 0x2fff, 0x0102, 2);
	CHECK_EQ(mr_host(ram2)[0], 0x01);
	/* Two RAM regions back to back are still split correctly. */
	mr_set_offset(ram2, 0x1000);
	check_range(as, 0x1000, 0x1000, 0x1fff, ram2, 0);
	CHECK_EQ(as_read(as, 0x1000, 1), 0x01);
	mr_remove(root, dev);
	mr_free(dev);
	h[0xffc] = 0x78;
	h[0xffd] = 0x56;
	mr_host(ram2)[1] = 0x9a;
	CHECK_EQ(as_read(as, 0xffc, 8), 0x00009a01dd125678ull);
	as_free(as);
	mr_free(root);
}

/* The last byte of the address space: no wrap to address 0. */
static void test_top_of_space(void)
{
	MemoryRegion *root = mr_container("root", UINT64_MAX);
	MemoryRegion *low = mr_ram("low", 0x1000);
	MemoryRegion *top = mr_ram("top", 0x1000);
	AddressSpace *as = as_new("t", root);

	mr_add(root, low, 0, 0);
	mr_add(root, top, UINT64_MAX - 0xfff, 0);
	/* The root is UINT64_MAX bytes: the very last byte is outside it. */
	check_range(as, UINT64_MAX - 1, UINT64_MAX - 0xfff, UINT64_MAX - 1, top, 0);
	CHECK(as_lookup(as, UINT64_MAX) == NULL);
	mr_host(top)[0xffe] = 0x42;
	mr_host(low)[0] = 0x17;
	/* Wraps around to 0 byte by byte, as the bytes' addresses do. */
	CHECK_EQ(as_read(as, UINT64_MAX - 1, 4), 0x0017ff42);
	as_free(as);
	mr_free(root);
}

/* ---- dumps ----------------------------------------------------------------------- */

static void test_dumps(void)
{
	MemoryRegion *root = mr_container("sys", 0x100000);
	MemoryRegion *ram = mr_ram("ram", 0xa0000);
	MemoryRegion *bios = mr_rom("bios", 0x20000);
	MemoryRegion *isa = mr_alias("isa-bios", bios, 0x10000, 0x10000);
	MemoryRegion *vga = mr_mmio("vga", 0x20000, &dev_ops, NULL);
	MemoryRegion *pci = mr_container("pci", 0x10000);
	MemoryRegion *bar = mr_mmio("bar0", 0x100, &dev_ops, NULL);
	AddressSpace *as = as_new("memory", root);
	char *text;

	mr_add(root, ram, 0, 0);
	mr_add(root, vga, 0xa0000, 1);
	mr_add(root, isa, 0xf0000, 1);
	mr_add(pci, bar, 0x200, 0);
	mr_add(root, pci, 0xc0000, 0);
	mr_set_enabled(vga, false);

	text = dump(as, false);
	check_text(text,
		   "address-space: memory\n"
		   "  0000000000000000-00000000000fffff (prio 0, container): sys\n"
		   "    0000000000000000-000000000009ffff (prio 0, ram): ram\n"
		   "    00000000000a0000-00000000000bffff (prio 1, i/o): vga [disabled]\n"
		   "    00000000000c0000-00000000000cffff (prio 0, container): pci\n"
		   "      00000000000c0200-00000000000c02ff (prio 0, i/o): bar0\n"
		   "    00000000000f0000-00000000000fffff (prio 1, rom): alias isa-bios @bios "
		   "0000000000010000-000000000001ffff\n"
		   "\n"
		   "memory-region: bios\n"
		   "  0000000000000000-000000000001ffff (prio 0, rom): bios\n");
	free(text);

	text = dump(as, true);
	check_text(text,
		   "FlatView for memory\n"
		   "  0000000000000000-000000000009ffff (prio 0, ram): ram\n"
		   "  00000000000c0200-00000000000c02ff (prio 0, i/o): bar0\n"
		   "  00000000000f0000-00000000000fffff (prio 0, rom): bios @0000000000010000\n");
	free(text);

	mr_set_enabled(vga, true);
	text = dump(as, true);
	CHECK(strstr(text, "  00000000000a0000-00000000000bffff (prio 1, i/o): vga\n") != NULL);
	free(text);
	as_free(as);
	mr_free(root);
	mr_free(bios);

	root = mr_container("empty", 0x10);
	as = as_new("nothing", root);
	text = dump(as, true);
	check_text(text, "FlatView for nothing\n  (empty)\n");
	free(text);
	as_free(as);
	mr_free(root);
}

/* ---- dirty pages and DMA ---------------------------------------------------------- */

static void test_dirty(void)
{
	MemoryRegion *root = mr_container("root", 0x1000000);
	MemoryRegion *ram = mr_ram("ram", 0x100000);
	AddressSpace *as = as_new("t", root);
	DMATarget *dma;
	uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint64_t p;

	mr_add(root, ram, 0x100000, 0);
	for (p = 0; p < 0x100000; p += PAGE_SIZE) {
		CHECK(!ram_is_dirty(ram, p, DIRTY_SNAPSHOT));
		CHECK(!ram_is_dirty(ram, p, DIRTY_CODE));
	}
	as_write(as, 0x103ffe, 0x11223344, 4); /* pages 3 and 4 */
	CHECK(ram_is_dirty(ram, 0x3000, DIRTY_SNAPSHOT));
	CHECK(ram_is_dirty(ram, 0x4fff, DIRTY_CODE));
	CHECK(!ram_is_dirty(ram, 0x2fff, DIRTY_SNAPSHOT));
	CHECK(!ram_is_dirty(ram, 0x5000, DIRTY_SNAPSHOT));
	/* Clearing one client leaves the other. */
	CHECK(ram_test_and_clear_dirty(ram, 0, 0x100000, DIRTY_SNAPSHOT));
	CHECK(!ram_is_dirty(ram, 0x3000, DIRTY_SNAPSHOT));
	CHECK(ram_is_dirty(ram, 0x3000, DIRTY_CODE));
	CHECK(!ram_test_and_clear_dirty(ram, 0, 0x100000, DIRTY_SNAPSHOT));
	/* A range that misses the dirty pages reports clean and clears nothing. */
	CHECK(!ram_test_and_clear_dirty(ram, 0x5000, 0x1000, DIRTY_CODE));
	CHECK(ram_test_and_clear_dirty(ram, 0x4000, 1, DIRTY_CODE));
	CHECK(ram_is_dirty(ram, 0x3000, DIRTY_CODE));
	CHECK(!ram_is_dirty(ram, 0x4000, DIRTY_CODE));

	/* Reads do not dirty; DMA writes do. */
	as_read(as, 0x110000, 4);
	dma = dma_target_new(as);
	CHECK(dma_target_space(dma) == as);
	cpu_physical_memory_rw(dma, 0x110000, buf, 8, false);
	CHECK(!ram_is_dirty(ram, 0x10000, DIRTY_SNAPSHOT));
	CHECK(cpu_physical_memory_rw(dma, 0x110ffc, buf, 8, true));
	CHECK(ram_is_dirty(ram, 0x10000, DIRTY_SNAPSHOT));
	CHECK(ram_is_dirty(ram, 0x11000, DIRTY_CODE));
	CHECK(!ram_is_dirty(ram, 0x12000, DIRTY_CODE));

	/* Spans across bitmap words (64 pages each), marked by the CPU's call. */
	ram_test_and_clear_dirty(ram, 0, UINT64_MAX, DIRTY_SNAPSHOT);
	ram_mark_dirty(ram, 60 * PAGE_SIZE, 140 * PAGE_SIZE);
	CHECK(!ram_is_dirty(ram, 59 * PAGE_SIZE, DIRTY_SNAPSHOT));
	for (p = 60; p < 200; p++)
		CHECK(ram_is_dirty(ram, p * PAGE_SIZE, DIRTY_SNAPSHOT));
	CHECK(!ram_is_dirty(ram, 200 * PAGE_SIZE, DIRTY_SNAPSHOT));
	CHECK(ram_test_and_clear_dirty(ram, 199 * PAGE_SIZE, 1, DIRTY_SNAPSHOT));
	CHECK(ram_test_and_clear_dirty(ram, 0, 0x100000, DIRTY_SNAPSHOT));
	for (p = 0; p < 256; p++)
		CHECK(!ram_is_dirty(ram, p * PAGE_SIZE, DIRTY_SNAPSHOT));
	/* Out of range requests are harmless. */
	ram_mark_dirty(ram, 0x100000, 16);
	ram_mark_dirty(ram, UINT64_MAX - 1, UINT64_MAX);
	ram_mark_dirty(ram, 0xff000, UINT64_MAX);
	CHECK(ram_is_dirty(ram, 0xfffff, DIRTY_SNAPSHOT));
	CHECK(!ram_is_dirty(ram, 0x100000, DIRTY_SNAPSHOT));
	CHECK(!ram_test_and_clear_dirty(ram, 0x100000, 0x1000, DIRTY_SNAPSHOT));
	/* Clearing RAM, large (page-mapped) and small (heap) alike. */
	as_write(as, 0x100010, 0xabcd, 2);
	ram_test_and_clear_dirty(ram, 0, 0x100000, DIRTY_CODE);
	ram_clear(ram);
	CHECK_EQ(as_read(as, 0x100010, 2), 0);
	CHECK(ram_is_dirty(ram, 0x80000, DIRTY_CODE));
	{
		MemoryRegion *small = mr_ram("small", 0x2000);

		uint64_t clears = ram_clears(small);

		mr_host(small)[0x1fff] = 7;
		ram_test_and_clear_dirty(small, 0, 0x2000, DIRTY_SNAPSHOT);
		ram_clear(small);
		CHECK_EQ(mr_host(small)[0x1fff], 0);
		/* code is stale; a snapshot writer learns of it by the count */
		CHECK(ram_is_dirty(small, 0x1000, DIRTY_CODE));
		CHECK(!ram_is_dirty(small, 0x1000, DIRTY_SNAPSHOT));
		CHECK_EQ(ram_clears(small), clears + 1);
		mr_free(small);
	}
	dma_target_free(dma);
	as_free(as);
	mr_free(root);
}

struct dma_log {
	int calls;
	uint64_t addr[8];
	size_t len[8];
	uint8_t first[8];
};

static void dma_hook(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct dma_log *l = opaque;

	if (l->calls < 8) {
		l->addr[l->calls] = addr;
		l->len[l->calls] = len;
		l->first[l->calls] = *(const uint8_t *)buf;
	}
	l->calls++;
}

static void test_dma(void)
{
	MemoryRegion *root = mr_container("root", UINT64_MAX);
	MemoryRegion *ram = mr_ram("ram", 0x10000);
	MemoryRegion *ram2 = mr_ram("ram2", 0x1000);
	MemoryRegion *rom = mr_rom("rom", 0x1000);
	struct dev d = {0};
	MemoryRegion *dev = mr_mmio("dev", 0x1000, &dev_ops, &d);
	MemoryRegion *top = mr_ram("top", 0x1000);
	AddressSpace *as = as_new("t", root);
	DMATarget *dma;
	struct dma_log log = {0};
	uint8_t buf[32], out[32];
	size_t i;

	mr_add(root, ram, 0, 0);
	mr_add(root, ram2, 0x10000, 0); /* RAM continues in a second region */
	mr_add(root, rom, 0x20000, 0);
	mr_add(root, dev, 0x21000, 0);
	mr_add(root, top, UINT64_MAX - 0xfff, 0);
	dma = dma_target_new(as);
	dma_set_hook(dma, dma_hook, &log);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0x40 + i);

	/* Plain write and read back; the hook sees address and bytes. */
	CHECK(cpu_physical_memory_rw(dma, 0x100, buf, 16, true));
	CHECK(memcmp(mr_host(ram) + 0x100, buf, 16) == 0);
	CHECK_EQ(log.calls, 1);
	CHECK_EQ(log.addr[0], 0x100);
	CHECK_EQ(log.len[0], 16);
	CHECK_EQ(log.first[0], 0x40);
	memset(out, 0, sizeof(out));
	CHECK(cpu_physical_memory_rw(dma, 0x100, out, 16, false));
	CHECK(memcmp(out, buf, 16) == 0);
	CHECK_EQ(log.calls, 1); /* reads are not reported */

	/* Across two RAM regions: one hook call per piece. */
	log.calls = 0;
	CHECK(cpu_physical_memory_rw(dma, 0xfff8, buf, 16, true));
	CHECK_EQ(log.calls, 2);
	CHECK_EQ(log.addr[0], 0xfff8);
	CHECK_EQ(log.len[0], 8);
	CHECK_EQ(log.addr[1], 0x10000);
	CHECK_EQ(log.len[1], 8);
	CHECK_EQ(log.first[1], 0x48);
	CHECK(memcmp(mr_host(ram2), buf + 8, 8) == 0);

	/* Clipped at the end of RAM: the hole after it drops bytes. */
	log.calls = 0;
	CHECK(!cpu_physical_memory_rw(dma, 0x10ff8, buf, 16, true));
	CHECK_EQ(log.calls, 1);
	CHECK_EQ(log.len[0], 8);
	CHECK(memcmp(mr_host(ram2) + 0xff8, buf, 8) == 0);
	memset(out, 0, sizeof(out));
	CHECK(!cpu_physical_memory_rw(dma, 0x10ff8, out, 16, false));
	CHECK(memcmp(out, buf, 8) == 0);
	for (i = 8; i < 16; i++)
		CHECK_EQ(out[i], 0xff);

	/* ROM and MMIO take no DMA; the device is never called. */
	log.calls = 0;
	memset(mr_host(rom), 0x33, 0x1000);
	CHECK(!cpu_physical_memory_rw(dma, 0x20ff0, buf, 32, true));
	CHECK_EQ(mr_host(rom)[0xff0], 0x33);
	CHECK_EQ(d.reads + d.writes, 0);
	CHECK_EQ(log.calls, 0);
	memset(out, 0, sizeof(out));
	CHECK(!cpu_physical_memory_rw(dma, 0x20ff0, out, 32, false));
	for (i = 0; i < 32; i++)
		CHECK_EQ(out[i], 0xff);
	CHECK_EQ(d.reads + d.writes, 0);
	CHECK(!cpu_physical_memory_rw(dma, 0x80000, out, 4, false));
	CHECK_EQ(ld32(out), 0xffffffff);

	/*
	 * A huge length from a small buffer: only the bytes that land on RAM
	 * are read from it (with no RAM above, just the first 4).
	 */
	log.calls = 0;
	mr_set_enabled(top, false);
	CHECK(!cpu_physical_memory_rw(dma, 0x10ffc, buf, SIZE_MAX, true));
	CHECK_EQ(log.calls, 1);
	CHECK_EQ(log.addr[0], 0x10ffc);
	CHECK_EQ(log.len[0], 4);
	CHECK(!cpu_physical_memory_rw(dma, UINT64_MAX - 2, buf, SIZE_MAX, true));
	CHECK_EQ(log.calls, 1);
	mr_set_enabled(top, true);

	/*
	 * Addresses near 2^64 do not wrap around to 0.  The root holds
	 * UINT64_MAX bytes, so the last byte (2^64 - 1) is always a hole.
	 */
	log.calls = 0;
	mr_host(ram)[0] = 0x99;
	CHECK(!cpu_physical_memory_rw(dma, UINT64_MAX - 3, buf, 16, true));
	CHECK_EQ(log.calls, 1);
	CHECK_EQ(log.addr[0], UINT64_MAX - 3);
	CHECK_EQ(log.len[0], 3);
	CHECK_EQ(mr_host(ram)[0], 0x99);
	CHECK(memcmp(mr_host(top) + 0xffc, buf, 3) == 0);
	CHECK_EQ(mr_host(top)[0xfff], 0);
	memset(out, 0, sizeof(out));
	CHECK(!cpu_physical_memory_rw(dma, UINT64_MAX - 1, out, 8, false));
	CHECK_EQ(out[0], buf[2]);
	for (i = 1; i < 8; i++)
		CHECK_EQ(out[i], 0xff);
	CHECK(!cpu_physical_memory_rw(dma, UINT64_MAX, out, 1, true));

	/* No address space: nothing is reachable. */
	CHECK(!cpu_physical_memory_rw(NULL, 0, out, 4, false));
	CHECK_EQ(ld32(out), 0xffffffff);
	dma_target_free(dma);
	as_free(as);
	mr_free(root);
}

/* ---- big RAM ---------------------------------------------------------------------- */

static void test_big_ram(void)
{
	MemoryRegion *big = mr_ram("big", 3584ull << 20);
	MemoryRegion *absurd = mr_ram("absurd", 1ull << 62);
	MemoryRegion *root = mr_container("root", 1ull << 32);
	AddressSpace *as;

	CHECK(big != NULL);
	CHECK(absurd == NULL);
	if (!big)
		return;
	CHECK(mr_host(big) != NULL);
	as = as_new("t", root);
	mr_add(root, big, 0, 0);
	as_write(as, (3584ull << 20) - 4, 0xcafef00d, 4);
	CHECK_EQ(as_read(as, (3584ull << 20) - 4, 4), 0xcafef00d);
	CHECK_EQ(as_read(as, 3584ull << 20, 4), 0xffffffff);
	CHECK(ram_is_dirty(big, (3584ull << 20) - 1, DIRTY_CODE));
	/* A reset clears it, making every page's code stale and counting. */
	ram_test_and_clear_dirty(big, 0, UINT64_MAX, DIRTY_CODE);
	as_write(as, 0x1000, 0x1234, 2);
	ram_clear(big);
	CHECK_EQ(as_read(as, (3584ull << 20) - 4, 4), 0);
	CHECK_EQ(as_read(as, 0x1000, 2), 0);
	CHECK(ram_is_dirty(big, 0, DIRTY_CODE));
	CHECK(ram_is_dirty(big, 2000ull << 20, DIRTY_CODE));
	CHECK(ram_clears(big) > 0);
	as_free(as);
	mr_free(root);
}

/* Many small port regions: the binary search finds each. */
static void test_many_ranges(void)
{
	MemoryRegion *root = mr_container("io", 0x10000);
	struct dev d = {0};
	MemoryRegion *ports[200];
	AddressSpace *as = as_new("io", root);
	size_t i;

	mr_begin_update(root);
	for (i = 0; i < ARRAY_SIZE(ports); i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%zu", i);
		ports[i] = mr_mmio(name, 2, &dev_ops, &d);
		mr_add(root, ports[i], 0x100 + 4 * i, 0);
	}
	mr_commit_update(root);
	CHECK_EQ(range_count(as), ARRAY_SIZE(ports));
	for (i = 0; i < ARRAY_SIZE(ports); i++) {
		check_range(as, 0x101 + 4 * i, 0x100 + 4 * i, 0x101 + 4 * i, ports[i], 0);
		CHECK(as_lookup(as, 0x102 + 4 * i) == NULL);
	}
	for (i = ARRAY_SIZE(ports); i-- > 0;)
		check_range(as, 0x100 + 4 * i, 0x100 + 4 * i, 0x101 + 4 * i, ports[i], 0);
	CHECK(as_lookup(as, 0xff) == NULL);
	CHECK(as_lookup_next(as, 0xff) != NULL && as_lookup_next(as, 0xff)->mr == ports[0]);
	CHECK(as_lookup_next(as, 0x102) != NULL && as_lookup_next(as, 0x102)->mr == ports[1]);
	CHECK(as_lookup_next(as, 0x100 + 4 * 200) == NULL);
	as_free(as);
	mr_free(root);
}

/* ---- random trees against a reference resolver ------------------------------------- */

#define NODES 24
#define SPACE 256

struct node {
	MemoryRegion *mr;
	enum mr_kind kind;
	int parent; /* -1: the root, -2: not placed */
	uint64_t offset, size;
	int prio, order;
	int target;
	uint64_t alias_off;
	bool enabled;
};

static struct node nodes[NODES + 1]; /* nodes[NODES] is the root */
static uint32_t rng = 12345;

static uint32_t rnd(uint32_t n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) % n;
}

/* The leaf at local offset @off of node @i, or -1; *leaf_off gets its offset. */
static int resolve(int i, uint64_t off, uint64_t *leaf_off, int depth)
{
	struct node *n = &nodes[i];
	int best = -1, j;

	if (!n->enabled || off >= n->size || depth > 8)
		return -1;
	if (n->kind == MR_ALIAS)
		return resolve(n->target, off + n->alias_off, leaf_off, depth + 1);
	if (n->kind != MR_CONTAINER) {
		*leaf_off = off;
		return i;
	}
	/* Children from the highest (priority, order) down; the first that answers wins. */
	for (;;) {
		int pick = -1, r;
		for (j = 0; j < NODES; j++) {
			struct node *c = &nodes[j];
			if (c->parent != i || (best >= 0 && (c->prio > nodes[best].prio ||
							     (c->prio == nodes[best].prio &&
							      c->order >= nodes[best].order))))
				continue;
			if (pick < 0 || c->prio > nodes[pick].prio ||
			    (c->prio == nodes[pick].prio && c->order > nodes[pick].order))
				pick = j;
		}
		if (pick < 0)
			return -1;
		best = pick;
		if (off >= nodes[pick].offset &&
		    (r = resolve(pick, off - nodes[pick].offset, leaf_off, depth + 1)) >= 0)
			return r;
	}
}

static void compare_all(AddressSpace *as, int round)
{
	uint64_t a;
	int bad = 0;

	for (a = 0; a < SPACE + 16; a++) {
		uint64_t loff = 0;
		int leaf = resolve(NODES, a, &loff, 0);
		const FlatRange *r = as_lookup(as, a);
		bool ok = leaf < 0 ? r == NULL
				   : r && r->mr == nodes[leaf].mr &&
					 r->mr_offset + (a - r->start) == loff;
		if (!ok && bad++ == 0)
			fprintf(stderr, "round %d: address 0x%" PRIx64 " differs\n", round, a);
	}
	CHECK_EQ(bad, 0);
}

/* Does node @from reach node @to through children or alias targets? */
static bool node_reaches(int from, int to, int depth)
{
	int j;

	if (from == to)
		return true;
	if (depth > 8)
		return true; /* treat as a cycle: never place there */
	if (nodes[from].kind == MR_ALIAS)
		return node_reaches(nodes[from].target, to, depth + 1);
	for (j = 0; j < NODES; j++)
		if (nodes[j].parent == from && node_reaches(j, to, depth + 1))
			return true;
	return false;
}

static void test_random_trees(void)
{
	int round, i, order = 0;

	for (round = 0; round < 40; round++) {
		AddressSpace *as;
		MemoryRegion *loose[NODES];
		int nloose = 0;

		memset(nodes, 0, sizeof(nodes));
		nodes[NODES] = (struct node){
		    .kind = MR_CONTAINER, .parent = -2, .size = SPACE, .enabled = true};
		nodes[NODES].mr = mr_container("root", SPACE);
		as = as_new("rand", nodes[NODES].mr);
		for (i = 0; i < NODES; i++) {
			struct node *n = &nodes[i];
			uint32_t k = rnd(10);
			char name[8];

			snprintf(name, sizeof(name), "n%d", i);
			n->size = 1 + rnd(96);
			n->enabled = true;
			n->parent = -2;
			if (k < 3) {
				n->kind = MR_CONTAINER;
				n->mr = mr_container(name, n->size);
			} else if (k < 6) {
				n->kind = MR_RAM;
				n->mr = mr_ram(name, n->size);
			} else if (k < 8 || i == 0) {
				n->kind = MR_MMIO;
				n->mr = mr_mmio(name, n->size, &dev_ops, NULL);
			} else {
				/* Aliases point at earlier nodes: no cycles. */
				n->kind = MR_ALIAS;
				n->target = (int)rnd((uint32_t)i);
				n->alias_off = rnd(64);
				n->mr = mr_alias(name, nodes[n->target].mr, n->alias_off, n->size);
			}
		}
		/* Place most nodes in the root or in a placed container. */
		for (i = 0; i < NODES; i++) {
			struct node *n = &nodes[i];
			int p = NODES, tries;

			if (rnd(6) == 0) {
				loose[nloose++] = n->mr;
				continue;
			}
			for (tries = 0; tries < 4; tries++) {
				int c = (int)rnd(NODES);
				/* Never inside something @i reaches: that would be a cycle. */
				if (nodes[c].kind == MR_CONTAINER && nodes[c].parent != -2 &&
				    !node_reaches(i, c, 0)) {
					p = c;
					break;
				}
			}
			n->parent = p;
			n->offset = rnd(SPACE);
			n->prio = (int)rnd(3) - 1;
			n->order = ++order;
			mr_add(nodes[p].mr, n->mr, n->offset, n->prio);
		}
		compare_all(as, round);
		/* Then some changes, each checked. */
		for (i = 0; i < 12; i++) {
			int j = (int)rnd(NODES);
			struct node *n = &nodes[j];

			if (n->parent == -2)
				continue;
			switch (rnd(4)) {
			case 0:
				n->enabled = !n->enabled;
				mr_set_enabled(n->mr, n->enabled);
				break;
			case 1:
				n->offset = rnd(SPACE);
				mr_set_offset(n->mr, n->offset);
				break;
			case 2:
				if (n->kind == MR_ALIAS) {
					n->alias_off = rnd(64);
					mr_set_alias_offset(n->mr, n->alias_off);
				}
				break;
			case 3: /* remove, and add again on top of the root's list */
				mr_remove(nodes[n->parent].mr, n->mr);
				n->parent = NODES;
				n->prio = (int)rnd(3) - 1;
				n->order = ++order;
				mr_add(nodes[NODES].mr, n->mr, n->offset, n->prio);
				break;
			}
			compare_all(as, round);
		}
		as_free(as);
		/* Children go with their containers; loose ones (and nodes placed under them)
		 * separately. */
		mr_free(nodes[NODES].mr);
		for (i = 0; i < nloose; i++)
			mr_free(loose[i]);
	}
}

int main(void)
{
	test_priorities();
	test_equal_priority_later_wins();
	test_container_holes();
	test_nested_containers();
	test_aliases();
	test_merge();
	test_alias_of_container();
	test_listeners();
	test_mmio_access();
	test_split_access();
	test_top_of_space();
	test_dumps();
	test_dirty();
	test_dma();
	test_big_ram();
	test_many_ranges();
	test_random_trees();
	return unit_done("memory");
}
