; mbr.asm - a boot sector that the BIOS (SeaBIOS, -bios) loads from -hda.
;
; It checks the path from the reset vector to a booted disk: the BIOS loads
; this sector at 0:7C00 and jumps to it in real mode; we print on COM1, read
; sector 2 of the disk through INT 13h (AH=42h, LBA packet) and check its
; signature, count the E820 memory map entries through INT 15h, and leave
; through isa-debug-exit (port 0xF4) with 0, so the emulator exits with 1.
; Any check that fails writes its number instead.
	bits 16
	org 0x7c00

COM1	equ 0x3f8

start:
	cli
	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov sp, 0x7c00
	sti
	mov [boot_drive], dl

	mov si, msg_hello
	call puts

	; INT 13h extensions present?
	mov ah, 0x41
	mov bx, 0x55aa
	mov dl, [boot_drive]
	int 0x13
	mov al, 2
	jc fail
	cmp bx, 0xaa55
	jne fail

	; Read LBA 1 to 0:8000 with an extended read.
	mov si, dap
	mov ah, 0x42
	mov dl, [boot_drive]
	int 0x13
	mov al, 3
	jc fail
	mov si, 0x8000
	mov di, signature
	mov cx, signature_len
	repe cmpsb
	mov al, 4
	jne fail
	mov si, 0x8000
	call puts

	; E820: count the entries.
	xor ebx, ebx
	xor bp, bp
.e820:
	mov eax, 0xe820
	mov edx, 0x534d4150		; 'SMAP'
	mov ecx, 20
	mov di, 0x9000
	int 0x15
	jc .e820_done
	cmp eax, 0x534d4150
	mov al, 5
	jne fail
	inc bp
	test ebx, ebx
	jnz .e820
.e820_done:
	cmp bp, 3
	mov al, 6
	jb fail
	mov si, msg_e820
	call puts

	mov si, msg_pass
	call puts
	xor al, al
fail:
	out 0xf4, al
	cli
	hlt
	jmp fail

; Print the NUL-terminated string at DS:SI on COM1 (polled).
puts:
	lodsb
	test al, al
	jz .done
	mov ah, al
	mov dx, COM1 + 5
.wait:
	in al, dx
	test al, 0x20
	jz .wait
	mov dx, COM1
	mov al, ah
	out dx, al
	jmp puts
.done:
	ret

boot_drive: db 0
dap:	db 16, 0
	dw 1			; sectors
	dw 0x8000, 0		; buffer offset, segment
	dq 1			; LBA

msg_hello: db "mbr: booted by the BIOS", 13, 10, 0
msg_e820: db "mbr: e820 map read", 13, 10, 0
msg_pass: db "PASS mbr", 13, 10, 0
signature: db "sector 2:"
signature_len equ $ - signature

	times 510 - ($ - $$) db 0
	dw 0xaa55

; LBA 1: the sector the boot sector reads.
	db "sector 2: read through INT 13h by the boot sector", 13, 10, 0
	times 1024 - ($ - $$) db 0
; The rest of a small disk: 64 sectors in all.
	times 64 * 512 - ($ - $$) db 0
