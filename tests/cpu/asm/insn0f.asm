; insn0f.asm - two-byte (0F) integer instructions the 286 suite does not
; cover; each result is stored at RES + 4*n and checked by test_cpu.c.
%include "common.inc"

%macro SAVE 1
	mov [RES + 4 * %1], eax
%endmacro

main:
	; BT/BTS/BTR/BTC with a register bit offset beyond the dword
	mov dword [bitarr], 0
	mov dword [bitarr + 4], 0
	mov dword [bitarr + 8], 0x80
	mov ecx, 71			; dword 2, bit 7
	bt [bitarr], ecx
	setc al
	movzx eax, al
	SAVE 0				; 1
	mov ecx, 33
	bts [bitarr], ecx			; dword 1 bit 1
	mov eax, [bitarr + 4]
	SAVE 1				; 2
	mov ecx, -1			; bit 31 of the dword before
	bts [bitarr + 4], ecx
	mov eax, [bitarr]
	SAVE 2				; 0x80000000
	mov ecx, 71
	btr [bitarr], ecx
	mov eax, [bitarr + 8]
	SAVE 3				; 0
	btc dword [bitarr + 8], 3		; immediate: stays in the dword
	mov eax, [bitarr + 8]
	SAVE 4				; 8
	; BSF / BSR, and ZF with a zero source (destination unchanged)
	mov ebx, 0x00f00000
	bsf eax, ebx
	SAVE 5				; 20
	bsr eax, ebx
	SAVE 6				; 23
	mov eax, 0x1234
	xor ebx, ebx
	bsf eax, ebx
	setz bl
	shl ebx, 16
	or eax, ebx
	SAVE 7				; 0x11234
	; CMPXCHG8B equal and not equal
	mov dword [q], 1
	mov dword [q + 4], 2
	mov eax, 1
	mov edx, 2
	mov ebx, 0xaaaa
	mov ecx, 0xbbbb
	cmpxchg8b [q]
	setz al
	movzx eax, al
	SAVE 8				; 1
	mov eax, [q + 4]
	SAVE 9				; 0xbbbb
	xor eax, eax
	xor edx, edx
	cmpxchg8b [q]
	SAVE 10				; 0xaaaa (loaded)
	; CMPXCHG, XADD, BSWAP
	mov dword [q], 5
	mov eax, 5
	mov ebx, 9
	cmpxchg [q], ebx
	mov eax, [q]
	SAVE 11				; 9
	mov ebx, 3
	xadd [q], ebx
	mov eax, [q]
	shl eax, 8
	or eax, ebx
	SAVE 12				; (12 << 8) | 9
	mov eax, 0x11223344
	bswap eax
	SAVE 13				; 0x44332211
	; SHLD / SHRD
	mov eax, 0x12345678
	mov ebx, 0x9abcdef0
	shld eax, ebx, 8
	SAVE 14				; 0x3456789a
	mov eax, 0x12345678
	mov cl, 4
	shrd eax, ebx, cl
	SAVE 15				; 0x01234567
	; MOVZX / MOVSX, CMOV, SETcc
	mov ebx, 0x8080
	movsx eax, bl
	SAVE 16				; 0xffffff80
	movzx eax, bx
	SAVE 17				; 0x8080
	mov eax, 1
	mov ecx, 2
	cmp eax, ecx
	cmovl eax, ecx
	SAVE 18				; 2
	cmovg eax, ebx
	SAVE 19				; 2 (not taken)
	; IMUL r, r/m, imm and 0F AF
	mov ebx, -7
	imul eax, ebx, 6
	SAVE 20				; -42
	mov eax, 100000
	imul eax, eax
	SAVE 21				; 10^10 mod 2^32
	; CPUID vendor and features
	xor eax, eax
	cpuid
	mov [RES + 4 * 22], ebx
	mov [RES + 4 * 23], edx
	mov [RES + 4 * 24], ecx
	mov eax, 1
	cpuid
	SAVE 25				; signature
	mov [RES + 4 * 26], edx		; features
	; RDTSC through the bus, WRMSR/RDMSR of the TSC
	rdtsc
	SAVE 27
	mov ecx, 0x10
	mov eax, 0x1000
	xor edx, edx
	wrmsr
	rdmsr
	SAVE 28				; a little above 0x1000
	mov ecx, 0x174
	mov eax, 0x08
	wrmsr
	xor eax, eax
	rdmsr
	SAVE 29				; 8
	; LOCK on a register destination: #UD
	mov eax, ud_handler
	mov ecx, 6
	mov edx, 0x8e00
	call set_gate
	mov dword [RES + 4 * 30], 0
	db 0xf0, 0x01, 0xc0		; lock add eax, eax
	hlt

ud_handler:
	mov dword [RES + 4 * 30], 0x600d
	add dword [esp], 3
	iret

align 4
bitarr: dd 0, 0, 0
q: dd 0, 0
