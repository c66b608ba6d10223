; stack_code.asm - the code cpu-stack runs (stack.c).
;
; st_run() loads the registers, EFLAGS and SS:ESP from st_in and jumps to
; the far pointer st_entry: a snippet s16_* (16-bit code, segment SEL_C16
; based at st16_base) or s32_* (32-bit code, KERNEL_CS).  A snippet runs
; one instruction and comes back to st_back (directly, through back16, by
; the instruction's own transfer, or as the handler of an interrupt gate),
; which stores the registers in st_out and returns from st_run() on the
; kernel stack.  Nothing between st_run and st_back touches the test stack
; except the instruction under test.

KERNEL_CS	equ 0x08
KERNEL_DS	equ 0x10
USER_CS		equ 0x1B
USER_DS		equ 0x23
SEL_C16		equ 0x30
V86_CS		equ 0x0800		; the V86 blob is copied to linear 0x8000

; struct regs, as in stack.c
R_EAX		equ 0
R_ECX		equ 4
R_EDX		equ 8
R_EBX		equ 12
R_ESP		equ 16
R_EBP		equ 20
R_ESI		equ 24
R_EDI		equ 28
R_SS		equ 32
R_EFLAGS	equ 36

section .bss
global st_in, st_out, st_entry, st_kesp_iret, st_task_esp, st_task_ss, st_resume
st_in:		resd 10
st_out:		resd 10
st_entry:	resd 2			; m16:32: offset, then selector
st_ksp:		resd 1			; the kernel ESP st_back goes back to
st_kesp_iret:	resd 1			; ESP when st_user's IRET ran
st_task_esp:	resd 1			; what the handler task found
st_task_ss:	resd 1
st_resume:	resd 1			; where the main task goes on after it

section .text
extern main_tss

bits 32
; void st_run(void)
global st_run
st_run:
	pushad
	pushfd
	mov [st_ksp], esp
	push dword [st_in + R_EFLAGS]
	popfd
	mov ss, [st_in + R_SS]
	mov esp, [st_in + R_ESP]
	mov eax, [st_in + R_EAX]
	mov ecx, [st_in + R_ECX]
	mov edx, [st_in + R_EDX]
	mov ebx, [st_in + R_EBX]
	mov ebp, [st_in + R_EBP]
	mov esi, [st_in + R_ESI]
	mov edi, [st_in + R_EDI]
	jmp far [st_entry]

; Stores the registers (DS is flat, whatever ring it is for), then back to
; the caller of st_run / st_user with the kernel's segments.
global st_back
st_back:
	mov [st_out + R_EAX], eax
	mov [st_out + R_ECX], ecx
	mov [st_out + R_EDX], edx
	mov [st_out + R_EBX], ebx
	mov [st_out + R_ESP], esp
	mov [st_out + R_EBP], ebp
	mov [st_out + R_ESI], esi
	mov [st_out + R_EDI], edi
	mov [st_out + R_SS], ss
	mov ax, KERNEL_DS
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	mov ss, ax
	mov esp, [st_ksp]
	pushfd
	pop dword [st_out + R_EFLAGS]
	popfd
	popad
	ret

; void st_user(u32 ss, u32 esp, u32 eip): IRET to ring 3 at eip with
; SS:ESP; the ring-3 code ends with an INT through a DPL-3 gate whose
; handler is st_back (or back16).
global st_user
st_user:
	pushad
	pushfd
	mov [st_ksp], esp
	mov eax, [esp + 40]
	mov ecx, [esp + 44]
	mov edx, [esp + 48]
	push eax
	push ecx
	push dword 0x2
	push dword USER_CS
	push edx
	mov [st_kesp_iret], esp
	mov ax, USER_DS
	mov ds, ax
	mov es, ax
	iretd

global st_user_int62, st_user_int63, st_user_esp_int62
st_user_int62:
	int 0x62
st_user_int63:
	int 0x63
st_user_esp_int62:
	mov esp, 0xabcd0010
	int 0x62

; The handler task of #GP (a task gate): note its SS:ESP, send the main
; task on to st_resume, go back to it.
global st_task_entry
st_task_entry:
	mov [st_task_esp], esp
	mov [st_task_ss], ss
	mov eax, [st_resume]
	mov [main_tss + 0x20], eax	; the main task's saved EIP
	iretd
	jmp st_task_entry

; void st_v86(const u32 frame[9]): IRET into virtual-8086 mode (EIP, CS,
; EFLAGS, ESP, SS, ES, DS, FS, GS).
global st_v86
st_v86:
	mov eax, [esp + 4]
	mov ecx, 9
.push:
	push dword [eax + ecx * 4 - 4]
	loop .push
	iretd

; ---- 32-bit snippets ----------------------------------------------------

%macro S32 1
global s32_%1
s32_%1:
%endmacro

S32 pushad
	pushad
	jmp st_back
S32 pushaw
	pushaw
	jmp st_back
S32 popad
	popad
	jmp st_back
S32 pushds
	push ds
	jmp st_back
S32 popds
	pop ds
	jmp st_back
S32 popss
	pop ss
	jmp st_back
S32 pushf
	pushfd
	jmp st_back
S32 popf
	popfd
	jmp st_back
S32 pushimm
	push dword 0x12345678
	jmp st_back
S32 enter80
	enter 8, 0
	jmp st_back
S32 enter43
	enter 4, 3
	jmp st_back
S32 enter01
	enter 0, 1
	jmp st_back
S32 leave
	leave
	jmp st_back
S32 callnear
	call st_back
global s32_callnear_ret
s32_callnear_ret:
S32 ret4
	ret 4
S32 callfar
	call KERNEL_CS:st_back
global s32_callfar_ret
s32_callfar_ret:
S32 retf_o16
	o16 retf 8
S32 retf_o32
	retf 8
S32 int60
	int 0x60
global s32_int60_ret
s32_int60_ret:
S32 int61
	int 0x61
global s32_int61_ret
s32_int61_ret:
S32 int3
	int3
global s32_int3_ret
s32_int3_ret:
S32 into
	into
global s32_into_ret
s32_into_ret:
S32 movds
	mov ds, ax
global s32_movds_next
s32_movds_next:
	jmp st_back
S32 iret_o16
	iretw
S32 iret_o32
	iretd

; ---- 16-bit snippets, in the segment SEL_C16 based at st16_base --------

bits 16
global st16_base, back16
st16_base:
back16:
	jmp dword KERNEL_CS:st_back

%define O16(x) ((x) - st16_base)
%macro S16 1
global s16_%1
s16_%1:
%endmacro

S16 pushad
	pushad
	jmp back16
S16 pushaw
	pushaw
	jmp back16
S16 popaw
	popaw
	jmp back16
S16 pushds
	push ds
	jmp back16
S16 pushfs32
	o32 push fs
	jmp back16
S16 popds
	pop ds
	jmp back16
S16 popss
	pop ss
	jmp back16
S16 pushf
	pushf
	jmp back16
S16 popf
	popf
	jmp back16
S16 pushimm
	push word 0x1234
	jmp back16
S16 enter80
	enter 8, 0
	jmp back16
S16 enter43
	enter 4, 3
	jmp back16
S16 enter01
	enter 0, 1
	jmp back16
S16 leave
	leave
	jmp back16
S16 callnear
	call back16
global s16_callnear_ret
s16_callnear_ret:
S16 ret4
	ret 4
S16 callfar
	call SEL_C16:O16(back16)
global s16_callfar_ret
s16_callfar_ret:
S16 retf_o16
	retf 8
S16 retf_o32
	o32 retf 8
S16 int60
	int 0x60
global s16_int60_ret
s16_int60_ret:
S16 int61
	int 0x61
global s16_int61_ret
s16_int61_ret:
S16 int3
	int3
global s16_int3_ret
s16_int3_ret:
S16 into
	into
global s16_into_ret
s16_into_ret:
S16 movds
	mov ds, ax
	jmp back16
S16 iret_o16
	iret
S16 iret_o32
	iretd

; ---- virtual-8086 mode: copied to linear 0x8000, CS = 0x0800 -----------

global v86s_blob, v86s_blob_end, v86s_callf16, v86s_callf32, v86s_target
%define OV(x) ((x) - v86s_blob)
v86s_blob:
v86s_callf16:
	call V86_CS:OV(v86s_target)
v86s_target:
	int 0x30
v86s_callf32:
	call dword V86_CS:OV(v86s_target)
v86s_blob_end:

section .note.GNU-stack noalloc noexec nowrite progbits
