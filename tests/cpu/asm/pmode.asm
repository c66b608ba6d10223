; pmode.asm - from real mode into 32-bit protected mode: LGDT, CR0.PE, a far
; jump into a 32-bit code segment, segment loads, a stack, a memory write.
bits 16
org 0x7c00
start:
	cli
	xor ax, ax
	mov ds, ax
	lgdt [gdt_desc]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp 0x08:pm32
bits 32
pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, 0x9000
	push dword 0x12345678
	pop ebx
	mov dword [0x8000], 0xcafebabe
	mov eax, cr0
	hlt

align 8
gdt:
	dq 0
	dq 0x00cf9a000000ffff
	dq 0x00cf92000000ffff
gdt_desc:
	dw gdt_desc - gdt - 1
	dd gdt
