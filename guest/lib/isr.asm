; isr.asm - one stub per interrupt vector, and the common path into C.
;
; Every stub is ISR_STUB_SIZE bytes long, so stub n sits at
; isr_stubs + n * ISR_STUB_SIZE and cpu.c can fill the IDT without a table.
; Vectors for which the CPU pushes no error code push a zero, so the frame
; isr_dispatch() sees (struct regs in guest.h) always has the same shape.

ISR_STUB_SIZE	equ 16

section .text
global isr_stubs
extern isr_dispatch

align 16
isr_stubs:
%assign vec 0
%rep 256
	; #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP, #VC, #SX push an error code.
%if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
	nop
	nop
%else
	push byte 0
%endif
	push dword vec
	jmp isr_common
	align ISR_STUB_SIZE, db 0xCC
%assign vec vec + 1
%endrep

isr_common:
	pushad
	cld
	push esp			; struct regs *
	call isr_dispatch
	add esp, 4
	popad
	add esp, 8			; vector and error code
	iretd

section .note.GNU-stack noalloc noexec nowrite progbits
