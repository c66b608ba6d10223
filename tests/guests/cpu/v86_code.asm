; v86_code.asm - the 16-bit code v86.c runs in virtual-8086 mode, and the
; IRET that gets it there.
;
; v86_blob..v86_blob_end is copied to linear V86_BASE (0x8000) and run
; with CS = DS = SS = 0x0800, so every address in it is an offset from
; v86_blob.  Results are stored in the res_* words of the copy.

	bits 16
section .text
global v86_blob, v86_blob_end, v86_phase1, v86_phase2, v86_int30_ret
global res_arith, res_ror, res_seg, res_wrap, res_flags, res_int, res_in, res_in2
%define O(x) ((x) - v86_blob)

v86_blob:
; Phase 1, IOPL 3: real-mode work, then INT n through the protected-mode
; IDT, then INT 0x31 to leave.
v86_phase1:
	mov ax, 0x1234
	mov bx, 0x0FF0
	add ax, bx			; 0x2224
	mov cx, 7
	mul cx				; 0xEEFC
	mov [O(res_arith)], ax
	mov eax, 0x12345678		; 32-bit operand in 16-bit code
	ror eax, 8
	mov [O(res_ror)], eax		; 0x78123456
	; 0x1000:0x0010 and 0x1001:0x0000 are the same byte.
	mov ax, 0x1000
	mov es, ax
	mov word [es:0x0010], 0xBEEF
	mov ax, 0x1001
	mov fs, ax
	mov ax, [fs:0x0000]
	mov [O(res_seg)], ax
	; 16-bit offsets wrap: BX + SI = 0xFFFF + 2 is offset 1.
	mov byte [es:0x0001], 0x5A
	mov bx, 0xFFFF
	mov si, 2
	mov al, [es:bx + si]
	mov [O(res_wrap)], al
	; CLI/STI/PUSHF are allowed with IOPL 3.
	sti
	pushf
	pop ax
	cli
	mov [O(res_flags)], ax
	mov ax, 0x2000
	mov es, ax
	mov ax, 0x3000
	mov gs, ax
	mov bx, 0x4444
	int 0x30
v86_int30_ret:
	mov [O(res_int)], bx
	mov dx, 0x3FF			; the bitmap allows this port
	in al, dx
	mov [O(res_in)], al
	int 0x31

; Phase 2, IOPL 0: each of these traps to the #GP handler, which skips it.
v86_phase2:
	cli
	sti
	pushf
	popf
	int 0x30
	int3
	mov dx, 0x3FF			; allowed by the bitmap whatever IOPL is
	in al, dx
	mov [O(res_in2)], al
	mov dx, 0x3FE			; denied
	in al, dx
	out dx, al
	hlt				; the handler ends the phase here

align 4
res_arith:	dw 0
res_seg:	dw 0
res_ror:	dd 0
res_wrap:	dw 0
res_flags:	dw 0
res_int:	dw 0
res_in:		dw 0
res_in2:	dw 0
v86_blob_end:

	bits 32
; void enter_v86(const u32 frame[9]): IRET with the frame EIP, CS, EFLAGS,
; ESP, SS, ES, DS, FS, GS (EFLAGS.VM set).
global enter_v86
enter_v86:
	mov esi, [esp + 4]
	mov ecx, 9
.push:
	push dword [esi + ecx * 4 - 4]
	loop .push
	iretd

section .note.GNU-stack noalloc noexec nowrite progbits
