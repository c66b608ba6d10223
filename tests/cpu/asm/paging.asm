; paging.asm - 4 KiB paging with CR0.WP: #PF error codes and CR2 for a write
; to a not-present page, a write to a read-only page, a write that crosses
; into a not-present page (nothing may be written), and accessed/dirty bits.
; The #PF handler stores [error code, CR2] pairs from RES and resumes at
; the address in [resume].
%include "common.inc"

PD	equ 0x40000
PT	equ 0x41000

main:
	mov eax, pf_handler
	mov ecx, 14
	mov edx, 0x8e00
	call set_gate
	; identity-map the first 4 MiB, user + writable
	mov edi, PT
	mov eax, 7
	mov ecx, 1024
.fill:
	mov [edi], eax
	add edi, 4
	add eax, 0x1000
	loop .fill
	mov dword [PT + 0x200 * 4], 0		; 0x200000 not present
	mov dword [PT + 0x201 * 4], 0x201001	; 0x201000 read-only, supervisor
	mov dword [PD], PT + 7
	mov eax, PD
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80010000			; PG | WP
	mov cr0, eax
	xor esi, esi

	mov dword [resume], .r1
	mov dword [0x200004], 0x55		; #PF 2, CR2 0x200004
.r1:
	mov dword [resume], .r2
	mov dword [0x201008], 0x66		; #PF 3, CR2 0x201008
.r2:
	mov dword [0x1ffffc], 0x11111111
	mov dword [resume], .r3
	mov dword [0x1ffffe], 0xaabbccdd	; crosses into 0x200000: #PF 2
.r3:
	mov eax, [0x201000]			; read-only page reads fine
	mov dword [0x100010], 0x77		; sets A and D
	mov ebx, [0x102000]			; sets A only
	mov [RES + 0x100], esi			; number of faults
	hlt

pf_handler:
	pop eax
	mov [RES + esi * 8], eax
	mov eax, cr2
	mov [RES + esi * 8 + 4], eax
	inc esi
	mov eax, [resume]
	mov [esp], eax
	iret

resume: dd 0
