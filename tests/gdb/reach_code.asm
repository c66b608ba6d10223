; reach_code.asm - the instructions the gdb tests of reach.c stop at.
;
; Every label a test breaks on is global and is the first byte of an
; instruction that control reaches in exactly one way: an interrupt gate, an
; exception through an interrupt or a trap gate, a task gate, IRET, a far
; CALL or JMP through a call gate or to a TSS, SYSENTER and SYSEXIT, a
; block link (the loop's own jump), and straight-line code entered in the
; middle of a block.  None starts with PUSH EBP or MOV EBP, ESP, so gdb's
; prologue analysis leaves `break LABEL` on the label itself.  The watch
; phases label every instruction that touches the watched words.
;
; The counters count arrivals: the tests read them at each stop.

	bits 32

KERNEL_CS	equ 0x08
SEL_MAIN_TSS	equ 0x28
SEL_CG_CALL	equ 0x30	; call gate to cg_call_entry
SEL_CG_JMP	equ 0x38	; call gate to cg_jmp_entry
SEL_TSS_CALL	equ 0x40	; TSS whose EIP is tss_call_entry
SEL_TSS_JMP	equ 0x48	; TSS whose EIP is tss_jmp_entry
VEC_TASK_GATE	equ 0x41	; IDT task gate to the TSS at 0x50

; the counters and buffers are reach.c's (with their C types, for gdb)
extern irq0_count, nmi_count, exc_count, task_count, iret_count, gate_count, sys_count
extern hot_count, hot_sum, mid_count, wstack, sbuf, ssrc

section .bss
saved_esp:	resd 1

section .text

; ---- IRQ 0: the IDT's gate 0x20 points here ---------------------------------
global irq0_stub
irq0_stub:
	inc dword [irq0_count]
	push eax
	mov al, 0x20		; EOI to the master 8259
	out 0x20, al
	pop eax
	iretd

; ---- NMI: the local APIC's self-IPI (phase_nmi) -----------------------------
global nmi_stub
nmi_stub:
	inc dword [nmi_count]
	iretd

; ---- exceptions: #UD through a trap gate, #DE through an interrupt gate ---------
global ud_stub, de_stub, ud_trigger, de_trigger
ud_stub:
	add dword [esp], 2	; past the UD2 (a fault: EIP points at it)
	inc dword [exc_count]
	iretd
de_stub:
	add dword [esp], 2	; past the DIV ECX
	inc dword [exc_count]
	iretd

ud_trigger:
	ud2
	ret
de_trigger:
	xor ecx, ecx
	mov eax, 1
	xor edx, edx
	div ecx
	ret

; ---- a task gate: INT 0x41 switches to a task starting at task_gate_entry -------
global task_gate_entry, int_task_gate
task_gate_entry:
	inc dword [task_count]
	iretd			; NT is set: back to the main task
int_task_gate:
	int VEC_TASK_GATE
	ret

; ---- IRET to a return address made up here --------------------------------------
global iret_jump, iret_ret
iret_jump:
	pushfd
	push dword KERNEL_CS
	push dword iret_ret
	iretd
iret_ret:
	inc dword [iret_count]
	ret

; ---- far CALL and JMP through call gates (DPL 0, from ring 0) -------------------
global far_gates, cg_call_entry, cg_jmp_entry
far_gates:
	call SEL_CG_CALL:0	; the offset is the gate's
	jmp SEL_CG_JMP:0
.back:
	ret
cg_call_entry:
	inc dword [gate_count]
	retf
cg_jmp_entry:
	inc dword [gate_count]
	jmp far_gates.back

; ---- far CALL and JMP to a TSS: task switches ------------------------------------
global far_tss, tss_call_entry, tss_jmp_entry
far_tss:
	call SEL_TSS_CALL:0
	jmp SEL_TSS_JMP:0
	ret			; the jump back to the main task lands here
tss_call_entry:
	inc dword [task_count]
	iretd			; a nested task (NT): back to the caller
tss_jmp_entry:
	inc dword [task_count]
	jmp SEL_MAIN_TSS:0	; resumes the main task after its JMP

; ---- SYSENTER from ring 3 and SYSEXIT back -------------------------------------
; run_user() enters u_sys in ring 3; sysenter_entry is MSR 0x176.
global u_sys, sysenter_entry, sysexit_ret
u_sys:
	mov ebp, esp
	sysenter
sysexit_ret:
	inc dword [sys_count]
	xor eax, eax		; SYS_EXIT: back to run_user()
	int 0x80
sysenter_entry:
	inc dword [sys_count]
	mov edx, sysexit_ret
	mov ecx, ebp
	sysexit

; ---- a hot loop: void hot_loop(u32 n) --------------------------------------------
; Its block [hot_head, jnz] is entered again and again through the block
; link of its own backward jump; hot_mid is in the middle of that block.
global hot_loop, hot_head, hot_mid
hot_loop:
	mov ecx, [esp + 4]
hot_head:
	inc dword [hot_count]
hot_mid:
	add [hot_sum], ecx
	dec ecx
	jnz hot_head
	ret

; ---- straight-line code: one block, stopped in and resumed from its middle --------
global mid_block, mid_a, mid_b, mid_c
mid_block:
	inc dword [mid_count]
	nop
mid_a:
	inc dword [mid_count]
	nop
mid_b:
	inc dword [mid_count]
	nop
mid_c:
	inc dword [mid_count]
	ret

; ---- the stack phase: PUSH writes wstack[15], POP reads it ------------------------
; u32 stack_phase(void) returns what the second POP read.
global stack_phase, w_push1, w_pop1, w_push2, w_pop2, w_stack_end
stack_phase:
	mov [saved_esp], esp
	mov esp, wstack + 64
w_push1:
	push dword 0x11111111
w_pop1:
	pop eax
w_push2:
	push dword 0x22222222
w_pop2:
	pop eax
w_stack_end:
	mov esp, [saved_esp]
	ret

; ---- the string phase: REP STOSD then REP MOVSD into sbuf --------------------------
global string_phase, w_stos, w_movs, w_str_end
string_phase:
	push edi
	push esi
	cld
	mov edi, sbuf
	mov eax, 0x33333333
	mov ecx, 8
w_stos:
	rep stosd
	mov edi, sbuf
	mov esi, ssrc
	mov ecx, 8
w_movs:
	rep movsd
w_str_end:
	pop esi
	pop edi
	ret

section .note.GNU-stack noalloc noexec nowrite progbits
