; disks.asm - a boot sector whose data is on other disks: the BIOS boots it
; from -hda (primary master), and it reads the primary slave (-hdb, BIOS
; drive 81h) and the secondary slave (-hdd, drive 82h) through INT 13h, as
; a small OS keeps its root on a second disk.
;
; Checks: the BIOS counts three hard disks (BDA 0475h); AH=08h gives each
; data disk a geometry; an extended read (AH=42h) of 4 sectors from LBA 1
; of each data disk finds "disk N sector L" in every sector (the images
; are made by disks-data.py); a CHS read (AH=02h) of sector 1 agrees.
; The text read from the disks goes to COM1; the boot sector leaves through
; isa-debug-exit (0xF4) with 0 (emulator status 1), or the failing check's
; number.
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
	mov si, msg_hello
	call puts

	mov al, 1
	cmp byte [0x475], 3		; hard disks the BIOS found
	jne fail

	mov dl, 0x81
	mov byte [digit], '2'
	call check_disk
	mov dl, 0x82
	mov byte [digit], '4'
	call check_disk

	mov si, msg_pass
	call puts
	xor al, al
fail:
	out 0xf4, al
	cli
	hlt
	jmp fail

; Check the data disk in DL, whose sectors say "disk <digit> sector L".
check_disk:
	mov [drive], dl
	mov ah, 0x08			; geometry
	int 0x13
	mov al, 2
	jc fail
	mov al, 3
	test cl, 0x3f
	jz fail
	mov si, dap			; LBA 1-4 to 0:8000
	mov ah, 0x42
	mov dl, [drive]
	int 0x13
	mov al, 4
	jc fail
	mov bx, 0x8000
	mov byte [lba], '1'
.sector:
	mov si, bx
	mov di, expect
	mov cx, expect_len
	repe cmpsb
	mov al, 5
	jne fail
	mov si, bx
	call puts
	add bx, 512
	inc byte [lba]
	cmp byte [lba], '5'
	jne .sector
	mov ax, 0x0201			; CHS: 1 sector, cylinder 0, head 0, sector 2
	mov cx, 0x0002
	xor dh, dh
	mov dl, [drive]
	mov bx, 0x9000
	int 0x13
	mov al, 6
	jc fail
	mov si, 0x9000
	mov di, 0x8000
	mov cx, 512
	repe cmpsb
	mov al, 7
	jne fail
	ret

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

drive:	db 0
dap:	db 16, 0
	dw 4			; sectors
	dw 0x8000, 0		; buffer offset, segment
	dq 1			; LBA

msg_hello: db "disks: booted from the first disk", 13, 10, 0
msg_pass: db "PASS disks", 13, 10, 0
expect:	db "disk "
digit:	db "2 sector "
lba:	db "1"
expect_len equ $ - expect

	times 510 - ($ - $$) db 0
	dw 0xaa55
	times 64 * 512 - ($ - $$) db 0
