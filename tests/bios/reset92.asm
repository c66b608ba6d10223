; reset92.asm - a boot sector that resets the PC through port 0x92 twice.
;
; The whole path of a fast reset: bit 0 of System Control Port A going
; 0 -> 1 must reset the machine, the BIOS must start again from its ROM
; (the chipset's shadow RAM mapping goes back to ROM; the shadow copy itself
; is gone with the rest of RAM) and boot this sector again.  Boots are
; counted in a CMOS byte, which a reset leaves alone: boot 1 and boot 2
; reset, boot 3 passes.  The second reset also checks that port 0x92 reads
; back with bit 0 clear after a reset, or "in; or 1; out" would make no
; edge.  The reset is asynchronous on hardware and in QEMU, so we wait for
; it; if the machine is still running after the wait, that is a failure.
	bits 16
	org 0x7c00

COM1		equ 0x3f8
CMOS_INDEX	equ 0x70
CMOS_DATA	equ 0x71
CMOS_BOOTS	equ 0x4a	; a CMOS byte neither SeaBIOS nor QEMU uses
PORT_A		equ 0x92

start:
	cli
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7c00

	mov al, CMOS_BOOTS
	out CMOS_INDEX, al
	in al, CMOS_DATA
	inc al
	mov bl, al
	mov al, CMOS_BOOTS
	out CMOS_INDEX, al
	mov al, bl
	out CMOS_DATA, al

	mov si, msg_boot
	call puts
	mov al, bl
	add al, '0'
	call putc
	mov si, msg_eol
	call puts

	cmp bl, 3
	jae pass
	in al, PORT_A
	test al, 1
	mov al, 2
	jnz fail			; bit 0 still set from the last reset
	in al, PORT_A
	or al, 1
	out PORT_A, al
	mov ecx, 200000000		; long enough for QEMU to act on it
.wait:	a32 loop .wait
	mov al, 3			; no reset came
	jmp fail

pass:
	mov si, msg_pass
	call puts
	xor al, al
fail:
	out 0xf4, al
	cli
	hlt
	jmp fail

; Print the NUL-terminated string at DS:SI, or the byte in AL, on COM1.
puts:
	lodsb
	test al, al
	jz .done
	call putc
	jmp puts
.done:
	ret

putc:
	mov ah, al
	mov dx, COM1 + 5
.wait:
	in al, dx
	test al, 0x20
	jz .wait
	mov dx, COM1
	mov al, ah
	out dx, al
	ret

msg_boot: db "reset92: boot ", 0
msg_eol: db 13, 10, 0
msg_pass: db "PASS reset92", 13, 10, 0

	times 510 - ($ - $$) db 0
	dw 0xaa55
; The rest of a small disk: 64 sectors in all.
	times 64 * 512 - ($ - $$) db 0
