; nogdt_start.asm - the entry of the nogdt guest: start.asm without the GDT.
;
; Like every guest it takes a stack, clears .bss and keeps the multiboot
; registers, but it loads no descriptor table: it keeps the segment
; registers and the GDT the loader left, and notes them (entry_cs,
; entry_ds, entry_gdtr) for nogdt.c.

MB_MAGIC	equ 0x1BADB002
MB_FLAGS	equ 0x00000003
STACK_SIZE	equ 16384

section .multiboot
align 4
	dd MB_MAGIC
	dd MB_FLAGS
	dd -(MB_MAGIC + MB_FLAGS)

section .bss
align 16
stack_bottom:
	resb STACK_SIZE
stack_top:

section .data
global multiboot_magic, multiboot_info, entry_cs, entry_ds, entry_gdtr
multiboot_magic: dd 0
multiboot_info: dd 0
entry_cs: dd 0
entry_ds: dd 0
entry_gdtr: dw 0
	dd 0

section .text
global _start
extern guest_main, serial_init, exit_guest
extern __bss_start, __bss_end
_start:
	cli
	mov esp, stack_top
	mov ebp, 0
	mov esi, eax
	mov edi, __bss_start
	mov ecx, __bss_end
	sub ecx, edi
	xor eax, eax
	cld
	rep stosb
	mov [multiboot_magic], esi
	mov [multiboot_info], ebx
	mov ax, cs
	mov [entry_cs], ax
	mov ax, ds
	mov [entry_ds], ax
	sgdt [entry_gdtr]
	push 0x2
	popfd
	call serial_init
	call guest_main
	push eax
	call exit_guest
.hang:	hlt
	jmp .hang

section .note.GNU-stack noalloc noexec nowrite progbits
