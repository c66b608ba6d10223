; xstubs.asm - interrupt stubs of the CPU test guests, the unwinding behind
; xcatch() and the way into ring 3.
;
; Unlike the runtime's stubs these save DS, ES, FS and GS and load the
; kernel data selector before calling C: after an interrupt from ring 3 they
; hold user selectors, after one from virtual-8086 mode they hold null.

XSTUB_SIZE	equ 16
KERNEL_DS	equ 0x10
USER_CS		equ 0x1B
USER_DS		equ 0x23

section .text
global xstubs, catch_esp, xcatch_run, xcatch_unwind, enter_user
extern xdispatch

align 16
xstubs:
%assign vec 0
%rep 256
%if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17
	nop
	nop
%else
	push byte 0
%endif
	push dword vec
	jmp xcommon
	align XSTUB_SIZE, db 0xCC
%assign vec vec + 1
%endrep

xcommon:
	pushad
	xor eax, eax
	mov ax, ds
	push eax
	mov ax, es
	push eax
	mov ax, fs
	push eax
	mov ax, gs
	push eax
	mov ax, KERNEL_DS
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	cld
	push esp			; struct xregs *
	call xdispatch
	add esp, 4
	pop eax
	mov gs, ax
	pop eax
	mov fs, ax
	pop eax
	mov es, ax
	pop eax
	mov ds, ax
	popad
	add esp, 8			; vector and error code
	iretd

; int xcatch_run(void (*fn)(u32), u32 arg): calls fn(arg) and returns 0,
; or 1 when xcatch_unwind() abandons it, with EFLAGS as they were at the
; call (the handler's frame, which held them, is dropped; NT matters to a
; task that catches an exception and then IRETs).  Nests: the outer
; catch's stack pointer is kept on the stack.
section .bss
catch_esp:	resd 1
section .text
xcatch_run:
	push ebp
	push ebx
	push esi
	push edi
	push dword [catch_esp]
	pushfd
	mov [catch_esp], esp
	push dword [esp + 32]		; arg
	call [esp + 32]			; fn (shifted by the push)
	add esp, 8			; arg, saved EFLAGS
	xor eax, eax
.out:
	pop dword [catch_esp]
	pop edi
	pop esi
	pop ebx
	pop ebp
	ret

; void xcatch_unwind(void): back to the innermost xcatch_run with flat
; kernel segments, whatever state the abandoned code left.
xcatch_unwind:
	mov ax, KERNEL_DS
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	mov ss, ax
	mov esp, [catch_esp]
	popfd
	mov eax, 1
	jmp xcatch_run.out

; void enter_user(u32 eip, u32 esp, u32 eflags): IRET to ring 3.
enter_user:
	mov eax, [esp + 4]
	mov ecx, [esp + 8]
	mov edx, [esp + 12]
	push USER_DS
	push ecx
	push edx
	push USER_CS
	push eax
	mov ax, USER_DS
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	iretd

section .note.GNU-stack noalloc noexec nowrite progbits
