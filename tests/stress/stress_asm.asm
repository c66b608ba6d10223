; stress_asm.asm - the instruction sequences of the stress guest (stress.c)
; whose exact placement matters: REP string instructions with a label on
; each (an interrupt or page fault in the middle of one saves that address),
; interrupt shadows with a label on the boundary they protect (no interrupt
; may ever be taken there), HLT, and the entries of the two handler tasks.
; All functions use the cdecl convention and keep EBX, ESI, EDI, EBP.

section .text

; void rep_movsd(void *dst, const void *src, u32 dwords)
global rep_movsd, rep_movsd_at
rep_movsd:
	push edi
	push esi
	mov edi, [esp + 12]
	mov esi, [esp + 16]
	mov ecx, [esp + 20]
	cld
rep_movsd_at:
	rep movsd
	pop esi
	pop edi
	ret

; void rep_movsb_down(void *dst_last, const void *src_last, u32 bytes):
; backwards (DF=1), from the last byte of each buffer.
global rep_movsb_down, rep_movsb_down_at
rep_movsb_down:
	push edi
	push esi
	mov edi, [esp + 12]
	mov esi, [esp + 16]
	mov ecx, [esp + 20]
	std
rep_movsb_down_at:
	rep movsb
	cld
	pop esi
	pop edi
	ret

; void rep_movsb(void *dst, const void *src, u32 bytes)
global rep_movsb, rep_movsb_at
rep_movsb:
	push edi
	push esi
	mov edi, [esp + 12]
	mov esi, [esp + 16]
	mov ecx, [esp + 20]
	cld
rep_movsb_at:
	rep movsb
	pop esi
	pop edi
	ret

; void rep_stosd(void *dst, u32 value, u32 dwords)
global rep_stosd, rep_stosd_at
rep_stosd:
	push edi
	mov edi, [esp + 8]
	mov eax, [esp + 12]
	mov ecx, [esp + 16]
	cld
rep_stosd_at:
	rep stosd
	pop edi
	ret

; void rep_insb(void *dst, u16 port, u32 bytes)
global rep_insb, rep_insb_at
rep_insb:
	push edi
	mov edi, [esp + 8]
	mov edx, [esp + 12]
	mov ecx, [esp + 16]
	cld
rep_insb_at:
	rep insb
	pop edi
	ret

; void rep_insw(void *dst, u16 port, u32 words)
global rep_insw, rep_insw_at
rep_insw:
	push edi
	mov edi, [esp + 8]
	mov edx, [esp + 12]
	mov ecx, [esp + 16]
	cld
rep_insw_at:
	rep insw
	pop edi
	ret

; void rep_outsb(u16 port, const void *src, u32 bytes)
global rep_outsb, rep_outsb_at
rep_outsb:
	push esi
	mov edx, [esp + 8]
	mov esi, [esp + 12]
	mov ecx, [esp + 16]
	cld
rep_outsb_at:
	rep outsb
	pop esi
	ret

; void shadows(u32 rounds): called with IF=1.  MOV SS, POP SS and STI
; (with IF clear before it) each hold off interrupts for one instruction:
; after_movss, after_popss and after_sti must never be an interrupted EIP.
; POPF and IRET set IF with no shadow: an interrupt may come right after.
global shadows, after_movss, after_popss, after_sti
shadows:
	mov ecx, [esp + 4]
shadows_top:
	mov ax, ss
	mov ss, ax
after_movss:
	add edx, 1
	push ss
	pop ss
after_popss:
	add edx, 1
	cli
	add edx, 1
	sti
after_sti:
	add edx, 1
	pushfd
	cli
	add edx, 1
	popfd
	add edx, 1
	pushfd				; IRET to the next instruction, IF set
	push cs
	push dword shadows_iret
	cli
	iretd
shadows_iret:
	dec ecx
	jnz shadows_top
	ret

; void sti_hlt_at(void): STI's shadow covers the HLT, so an interrupt that
; is already waiting wakes the HLT instead of being taken before it.
global sti_hlt_at, hlt_after_sti
sti_hlt_at:
	sti
hlt_after_sti:
	hlt
	ret

; void movss_hlt(void): called with IF=1, a HLT in a MOV SS shadow.
global movss_hlt, hlt_after_movss
movss_hlt:
	mov ax, ss
	mov ss, ax
hlt_after_movss:
	hlt
	ret

; The handler tasks: each run of a task calls its body and IRETs back to
; the task it interrupted (NT is set); the next switch into the task
; resumes after the IRET, which starts it over.
global tick_task_entry, soft_task_entry
extern tick_task_body, soft_task_body
tick_task_entry:
	call tick_task_body
	iretd
	jmp tick_task_entry

soft_task_entry:
	call soft_task_body
	iretd
	jmp soft_task_entry

section .note.GNU-stack noalloc noexec nowrite progbits
