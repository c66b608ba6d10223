; start.asm - multiboot v1 header and entry point of every guest.
;
; The loader jumps here in flat 32-bit protected mode with EAX = 0x2BADB002,
; EBX = the multiboot information, interrupts off and no usable stack, GDT
; or IDT.  We take a stack of our own, clear .bss (loaders may or may not),
; keep the multiboot registers, load our descriptor tables and run
; guest_main(); its return value becomes the exit code.

MB_MAGIC	equ 0x1BADB002
MB_FLAGS	equ 0x00000003	; page-align modules, want a memory map
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
global multiboot_magic, multiboot_info
multiboot_magic: dd 0
multiboot_info: dd 0

section .text
global _start
extern guest_main, cpu_init, serial_init, exit_guest
extern __bss_start, __bss_end
_start:
	cli
	mov esp, stack_top
	mov ebp, 0
	mov esi, eax			; .bss clearing below uses EAX
	mov edi, __bss_start
	mov ecx, __bss_end
	sub ecx, edi
	xor eax, eax
	cld
	rep stosb			; the stack is in .bss: no calls before this
	mov [multiboot_magic], esi
	mov [multiboot_info], ebx
	push 0x2			; EFLAGS: only the reserved bit
	popfd
	call cpu_init
	call serial_init
	call guest_main
	push eax
	call exit_guest
.hang:	hlt
	jmp .hang

section .note.GNU-stack noalloc noexec nowrite progbits
