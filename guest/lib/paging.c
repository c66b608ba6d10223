/*
 * paging.c - two-level 32-bit paging with 4 KiB pages: the low 8 MiB
 * identity-mapped (where the guest, its stack and the multiboot data live),
 * plus whatever guests map with paging_map() from a small pool of tables.
 */
#include "guest.h"

#define PAGE		4096u
#define IDENTITY_TABLES 2 /* 2 x 4 MiB */
#define POOL_TABLES	4

static u32 page_dir[1024] __attribute__((aligned(4096)));
static u32 tables[IDENTITY_TABLES + POOL_TABLES][1024] __attribute__((aligned(4096)));
static int tables_used;

static u32 *new_table(void)
{
	u32 *t;

	if (tables_used == ARRAY_SIZE(tables)) {
		printf("FAIL paging: out of page tables\n");
		exit_guest(EXIT_EXCEPTION);
	}
	t = tables[tables_used++];
	memset(t, 0, PAGE);
	return t;
}

void paging_init(void)
{
	memset(page_dir, 0, sizeof(page_dir));
	tables_used = 0;
	for (u32 va = 0; va < IDENTITY_TABLES * 0x400000u; va += PAGE)
		paging_map(va, va, PTE_P | PTE_W);
}

u32 *paging_pte(u32 va)
{
	u32 pde = page_dir[va >> 22];

	if (!(pde & PTE_P))
		return NULL;
	return (u32 *)(pde & ~0xFFFu) + ((va >> 12) & 0x3FF);
}

u32 *paging_map(u32 va, u32 pa, u32 flags)
{
	u32 *pte = paging_pte(va);

	if (!pte) {
		/* Directory entries grant everything; the PTEs decide. */
		page_dir[va >> 22] = (u32)new_table() | PTE_P | PTE_W;
		pte = paging_pte(va);
	}
	*pte = (pa & ~0xFFFu) | flags;
	return pte;
}

void paging_enable(void)
{
	write_cr3((u32)page_dir);
	write_cr0(read_cr0() | CR0_PG);
}

void paging_disable(void)
{
	write_cr0(read_cr0() & ~CR0_PG);
}
