; priv.asm - an interrupt through an IDT gate with a privilege change: IRET
; to ring 3, INT 0x80 through a DPL-3 interrupt gate switches to the TSS
; ring-0 stack; the handler records what it sees; back in ring 3, INT 0x81
; halts in ring 0.  A ring-3 INT to a DPL-0 gate gives #GP(vector*8+2).
%include "common.inc"

main:
	mov dword [TSS + 4], 0x80000		; ESP0
	mov dword [TSS + 8], 0x10		; SS0
	mov ax, 0x28
	ltr ax
	mov eax, sys_handler
	mov ecx, 0x80
	mov edx, 0xee00				; DPL 3 interrupt gate
	call set_gate
	mov eax, halt_handler
	mov ecx, 0x81
	mov edx, 0xee00
	call set_gate
	mov eax, gp_handler
	mov ecx, 13
	mov edx, 0x8e00
	call set_gate
	mov eax, halt_handler			; DPL 0: ring 3 may not use it
	mov ecx, 0x82
	mov edx, 0x8e00
	call set_gate
	push dword 0x23				; SS
	push dword 0x70000			; ESP
	push dword 0x202			; EFLAGS
	push dword 0x1b				; CS
	push dword user
	iret

user:
	mov eax, 0x42
	int 0x82				; #GP(0x82 * 8 + 2)
	int 0x80
	mov ebx, cs
	int 0x81

sys_handler:
	mov cx, 0x10
	mov ds, cx
	mov [RES + 0x00], esp
	mov ecx, [esp + 4]
	mov [RES + 0x04], ecx			; old CS
	mov ecx, [esp + 8]
	mov [RES + 0x08], ecx			; old EFLAGS
	mov ecx, [esp + 12]
	mov [RES + 0x0c], ecx			; old ESP
	mov ecx, [esp + 16]
	mov [RES + 0x10], ecx			; old SS
	mov [RES + 0x14], eax
	mov ecx, cs
	mov [RES + 0x18], ecx
	pushfd
	pop dword [RES + 0x1c]			; IF cleared by the interrupt gate
	iret

gp_handler:
	mov cx, 0x10
	mov ds, cx
	mov ecx, [esp]
	mov [RES + 0x20], ecx			; error code
	add dword [esp + 4], 2			; skip the INT
	add esp, 4
	iret

halt_handler:
	hlt
