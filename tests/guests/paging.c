/*
 * paging.c - 32-bit paging with 4 KiB pages: the low 8 MiB identity-mapped,
 * a window page mapped elsewhere.  Reads and writes go through both the
 * window and the identity map; the CPU must set the accessed and dirty bits;
 * a remap takes effect after INVLPG, and after a CR3 reload; the window can
 * point above the identity map, and what was written there is found at that
 * physical address once paging is off.
 */
#include "guest.h"

#define WINDOW	  0x40000000u
#define HIGH_PHYS 0x00900000u /* 9 MiB: outside the identity map */

static u8 page_a[4096] __attribute__((aligned(4096)));
static u8 page_b[4096] __attribute__((aligned(4096)));

static volatile u32 *window(u32 off)
{
	return (volatile u32 *)(WINDOW + off);
}

static void fill(u8 *p, u8 seed)
{
	for (u32 i = 0; i < 4096; i++)
		p[i] = (u8)(seed + i * 13);
}

static void check_access_bits(u32 *pte)
{
	*pte &= ~(PTE_A | PTE_D);
	invlpg(WINDOW);
	(void)*window(0x40);
	check((*pte & (PTE_A | PTE_D)) == PTE_A, "after a read the PTE is 0x%08x (want A, not D)",
	      *pte);
	*window(0x40) = 0xD1D1D1D1;
	check(*pte & PTE_D, "after a write the PTE is 0x%08x (want D)", *pte);
	check(*(u32 *)(page_a + 0x40) == 0xD1D1D1D1, "write through the window not in page A");
}

int guest_main(void)
{
	u32 *pte, word;

	fill(page_a, 1);
	fill(page_b, 7);
	paging_init();
	pte = paging_map(WINDOW, (u32)page_a, PTE_P | PTE_W);
	paging_enable();
	printf("paging: on, CR3 0x%08x, window 0x%08x -> page A 0x%08x\n", read_cr3(), WINDOW,
	       (u32)page_a);

	check(*window(0x100) == *(u32 *)(page_a + 0x100), "window read != page A");
	*window(0x200) = 0xCAFEF00D;
	check(*(volatile u32 *)(page_a + 0x200) == 0xCAFEF00D, "window write not in page A");
	*(volatile u32 *)(page_a + 0x300) = 0x600DF00D;
	check(*window(0x300) == 0x600DF00D, "identity write not seen in the window");
	check_access_bits(pte);

	/* Remap to page B with INVLPG. */
	*pte = (u32)page_b | PTE_P | PTE_W;
	invlpg(WINDOW);
	check(*window(0x100) == *(u32 *)(page_b + 0x100), "after INVLPG the window is not page B");
	*window(0x10) = 0xB0B0B0B0;
	check(*(volatile u32 *)(page_b + 0x10) == 0xB0B0B0B0, "window write not in page B");
	check(*(u32 *)(page_a + 0x10) != 0xB0B0B0B0, "window write went to page A");

	/* Back to page A by reloading CR3, which flushes the TLB too. */
	*pte = (u32)page_a | PTE_P | PTE_W;
	write_cr3(read_cr3());
	check(*window(0x200) == 0xCAFEF00D, "after a CR3 reload the window is not page A");

	/* A page above the identity map, seen later without paging. */
	*pte = HIGH_PHYS | PTE_P | PTE_W;
	invlpg(WINDOW);
	for (u32 i = 0; i < 16; i++)
		*window(i * 256) = 0x51515151 ^ i;
	paging_disable();
	word = *(volatile u32 *)(HIGH_PHYS + 15 * 256);
	check(word == (0x51515151 ^ 15), "physical 0x%08x holds 0x%08x", HIGH_PHYS + 15 * 256,
	      word);
	check(!(read_cr0() & CR0_PG), "CR0.PG still set");
	printf("paging: off again, 16 words found at physical 0x%08x\n", HIGH_PHYS);
	return check_done("paging");
}
