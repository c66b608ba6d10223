; realmode.asm - a round trip to real mode for the firmware guest.
;
; void realmode_ticks(u32 n): leaves protected mode, and in real mode, with
; the IVT and the 8259s as the firmware left them, halts with interrupts on
; until the BIOS tick count at 0x46C has grown by n (the firmware's INT 08h
; handler counts it), then comes back to protected mode with the guest's
; GDT and IDT.  Real-mode code must run below 1 MiB: the 16-bit part is
; copied to REAL_BASE (its addresses are REAL_BASE + the offset in the
; blob) together with the GDT it uses on the way (SDM vol. 3, 9.9.2).

REAL_BASE	equ 0x7000
%define LOW(x)	(REAL_BASE + (x) - blob)

section .text
bits 32
global realmode_ticks
realmode_ticks:
	push ebp
	push ebx
	push esi
	push edi
	mov eax, [esp + 20]
	mov [count], eax
	mov esi, blob
	mov edi, REAL_BASE
	mov ecx, blob_end - blob
	cld
	rep movsb
	mov eax, [count]
	mov [LOW(rm_count)], eax
	mov [saved_esp], esp
	sgdt [saved_gdt]
	sidt [saved_idt]
	cli
	lgdt [LOW(gdt_desc)]
	jmp 0x18:LOW(pm16)		; 16-bit protected mode, in low memory
back32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov fs, ax
	mov gs, ax
	mov esp, [saved_esp]
	lgdt [saved_gdt]		; the guest's own: code 0x08, data 0x10 too
	jmp 0x08:.cs
.cs:	lidt [saved_idt]
	pop edi
	pop esi
	pop ebx
	pop ebp
	ret

bits 16
blob:
pm16:
	mov ax, 0x20
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov fs, ax
	mov gs, ax
	lidt [LOW(ivt_desc)]
	mov eax, cr0
	and eax, ~1
	mov cr0, eax
	jmp 0:LOW(real)
real:
	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov sp, REAL_BASE
	mov ebx, [0x46c]
	add ebx, [LOW(rm_count)]
.wait:	sti
	hlt
	cli
	cmp [0x46c], ebx
	jb .wait
	lgdt [LOW(gdt_desc)]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp dword 0x08:back32

align 8
gdt:	dq 0
	dq 0x00CF9A000000FFFF		; 0x08: 32-bit code
	dq 0x00CF92000000FFFF		; 0x10: 32-bit data
	dq 0x00009A000000FFFF		; 0x18: 16-bit code, 64 KiB
	dq 0x000092000000FFFF		; 0x20: 16-bit data, 64 KiB
gdt_desc:
	dw 5 * 8 - 1
	dd LOW(gdt)
ivt_desc:
	dw 0x3ff
	dd 0
rm_count:
	dd 0
blob_end:

section .bss
count:		resd 1
saved_esp:	resd 1
saved_gdt:	resb 6
saved_idt:	resb 6

section .note.GNU-stack noalloc noexec nowrite progbits
