/*
 * smc.c - self-modifying code.  On the P6 a store to an instruction that
 * is already fetched or decoded is noticed, and the new bytes run the next
 * time that address is executed, even later in the same basic block; a
 * decoded-instruction cache has to be invalidated by the store.  Checked:
 *   - a store into the next instruction, in the same block;
 *   - the classic "modify, then jump to it";
 *   - a loop that rewrites its own immediate every iteration;
 *   - a routine on another page rewritten between calls;
 *   - code brought in by ATA bus-master DMA over code that already ran;
 *   - code written through one virtual alias of a page and run through
 *     another (paging on).
 */
#include "xlib.h"

#define ALIAS1 0x40000000u
#define ALIAS2 0x40001000u

/* MOV AL, imm8 right after the store that changes imm8. */
__asm__(".text\nsmc_next: mov 4(%esp), %ecx\nmovb %cl, smc_next_imm\n"
	"xor %eax, %eax\n.byte 0xb0\nsmc_next_imm: .byte 0\nret\n"
	/* Store, then jump to the changed MOV EAX, imm32. */
	"smc_jump: mov 4(%esp), %ecx\nmovl %ecx, smc_jump_imm\njmp 1f\n"
	"1: .byte 0xb8\nsmc_jump_imm: .long 0\nret\n"
	/* ADD EDX, imm32 whose imm32 the loop sets to ECX each time round:
	 * 0 + 1 + 2 + ... + (n - 2). */
	"smc_loop: push %ebx\nmov 8(%esp), %ebx\nxor %edx, %edx\nmov $1, %ecx\n"
	"movl $0, smc_loop_imm\n"
	"2: .byte 0x81, 0xc2\nsmc_loop_imm: .long 0\nmovl %ecx, smc_loop_imm\n"
	"inc %ecx\ncmp %ebx, %ecx\njne 2b\nmov %edx, %eax\npop %ebx\nret\n");
u32 smc_next(u32 v), smc_jump(u32 v), smc_loop(u32 n);

static u8 code_page[4096] __attribute__((aligned(4096)));
static u8 alias_page[4096] __attribute__((aligned(4096)));
static u8 dma_page[4096] __attribute__((aligned(4096)));

/* Writes "MOV EAX, @v; RET" at @p and calls it. */
static void put_ret(u8 *p, u32 v)
{
	p[0] = 0xB8;
	memcpy(p + 1, &v, 4);
	p[5] = 0xC3;
}

static u32 call_at(u32 addr)
{
	return ((u32(*)(void))addr)();
}

static void test_same_block(void)
{
	for (u32 v = 1; v <= 3; v++) {
		u32 got = smc_next(v * 0x11);

		check(got == v * 0x11, "store into the next instruction: 0x%x, want 0x%x", got,
		      v * 0x11);
		got = smc_jump(v * 0x01010101);
		check(got == v * 0x01010101, "modify then jump: 0x%x, want 0x%x", got,
		      v * 0x01010101);
	}
	for (u32 n = 3; n <= 6; n++) {
		u32 got = smc_loop(n), want = (n - 2) * (n - 1) / 2;

		check(got == want, "self-patching loop of %u: %u, want %u", n, got, want);
	}
}

static void test_other_page(void)
{
	for (u32 v = 0; v < 3; v++) {
		put_ret(code_page + 0x100, 0xC0DE0000 + v);
		u32 got = call_at((u32)code_page + 0x100);
		check(got == 0xC0DE0000 + v, "code on another page: 0x%x, want 0x%x", got,
		      0xC0DE0000 + v);
	}
	/* Only the immediate changes this time. */
	code_page[0x101] = 0x77;
	check(call_at((u32)code_page + 0x100) == 0xC0DE0077, "one-byte patch not seen");
}

static void test_dma(void)
{
	int err;

	pic_init();
	timer_start(100);
	if (!check(ata_dma_init() != 0, "no bus-master IDE"))
		return;
	for (u32 lba = 0; lba < 2; lba++) {
		err = ata_dma_read(lba, 1, dma_page, 100);
		check(err == 0, "READ DMA of sector %u: %d", lba, err);
		u32 got = call_at((u32)dma_page);
		check(got == 0x5EC70000 + lba, "code read by DMA from sector %u returned 0x%x", lba,
		      got);
	}
	/* And back to the first: the page is overwritten again. */
	err = ata_dma_read(0, 1, dma_page, 100);
	check(err == 0 && call_at((u32)dma_page) == 0x5EC70000,
	      "DMA over code that ran: stale code ran");
	timer_stop();
	cli();
}

static void test_alias(void)
{
	paging_init();
	paging_map(ALIAS1, (u32)alias_page, PTE_P | PTE_W);
	paging_map(ALIAS2, (u32)alias_page, PTE_P | PTE_W);
	paging_enable();
	for (u32 v = 0; v < 3; v++) {
		put_ret((u8 *)ALIAS2, 0xA11A5000 + v);
		u32 got = call_at(ALIAS1);
		check(got == 0xA11A5000 + v, "written at alias 2, run at alias 1: 0x%x", got);
		put_ret((u8 *)ALIAS1, 0xA11A5100 + v);
		got = call_at(ALIAS2);
		check(got == 0xA11A5100 + v, "written at alias 1, run at alias 2: 0x%x", got);
	}
	/* Remap alias 1 to another page: INVLPG, and the other code runs. */
	put_ret(code_page, 0xA11A5FFF);
	paging_map(ALIAS1, (u32)code_page, PTE_P | PTE_W);
	invlpg(ALIAS1);
	check(call_at(ALIAS1) == 0xA11A5FFF, "remapped page ran the old code");
	paging_disable();
}

int guest_main(void)
{
	xlib_init();
	test_same_block();
	test_other_page();
	test_dma();
	test_alias();
	return check_done("cpu-smc");
}
