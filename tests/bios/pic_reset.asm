; pic_reset.asm - a 64 KiB ROM (-bios) that sets IF right after reset,
; before it programs the 8259s, and must take no interrupt until it has.
;
; After a reset the 8259s are uninitialised: until the ICW1..ICW4 sequence
; the chip must not drive INT (8259A datasheet), and its vector base is
; undefined anyway.  The PIT is ticking from reset (mode 3, 18.2 Hz, as a
; BIOS would leave it), so an emulator that lets the 8259 interrupt before
; initialisation sends its first edge to vector 0.
;
; The ROM points every real-mode vector at a handler that says FAIL, sets
; IF and waits.  Built with -DSTRICT it first speeds the PIT up to about
; 12 kHz, so that a dozen edges arrive while it waits: the datasheet's
; rule, which QEMU does not follow (its 8259 interrupts with vector base 0
; after reset), so that build runs under flashback only.  Without STRICT
; it waits about a millisecond, shorter than the reset PIT's first edge,
; which both emulators agree on.  Then it initialises the 8259s (vectors
; 0x20 and 0x28), runs the PIT at 1 kHz and expects exactly its IRQ 0 at
; vector 0x20: PASS on COM1 and isa-debug-exit with 0 (status 1).
	bits 16
	org 0			; the ROM's last 64 KiB appear at F000:0000

COM1		equ 0x3f8
PIT_CH0		equ 0x40
PIT_CMD		equ 0x43
EXIT_PORT	equ 0xf4
IRQ_BASE	equ 0x20
WAIT_LOOPS	equ 1000000	; iterations of a32 loop: ~1 ms at shift 0

start:
	cli
	xor ax, ax
	mov ss, ax
	mov sp, 0x7000
	mov ds, ax
	mov es, ax
	cld
	xor di, di		; every vector: unexpected
	mov cx, 256
.fill:	mov ax, unexpected
	stosw
	mov ax, cs
	stosw
	loop .fill
	mov word [IRQ_BASE * 4], tick
	mov dword [ticks], 0

%ifdef STRICT
	mov al, 0x34		; channel 0, mode 2, binary
	out PIT_CMD, al
	mov al, 100		; 1193182 / 100: ~12 kHz
	out PIT_CH0, al
	xor al, al
	out PIT_CH0, al
%endif
	sti
	mov ecx, WAIT_LOOPS
.wait:	a32 loop .wait
	cli
	mov si, msg_quiet
	call puts

	; The 8259s as a BIOS programs them, with our vector base.
	mov al, 0x11
	out 0x20, al
	mov al, IRQ_BASE
	out 0x21, al
	mov al, 0x04
	out 0x21, al
	mov al, 0x01
	out 0x21, al
	mov al, 0x11
	out 0xa0, al
	mov al, IRQ_BASE + 8
	out 0xa1, al
	mov al, 0x02
	out 0xa1, al
	mov al, 0x01
	out 0xa1, al
	mov al, 0xfe		; IRQ 0 only
	out 0x21, al
	mov al, 0xff
	out 0xa1, al
	; A P6 takes the 8259's INT through LVT LINT0 of its local APIC, masked
	; from reset: like firmware, set up virtual-wire mode (APIC software
	; enabled, LINT0 ExtINT) from big real mode.  QEMU models this;
	; flashback wires the 8259 to INTR directly and does not need it.
	lgdt [cs:gdt_desc]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	mov bx, 8
	mov fs, bx		; a 4 GiB data segment ...
	and al, 0xfe
	mov cr0, eax
	xor bx, bx
	mov fs, bx		; ... whose limit real mode keeps
	mov dword [fs:dword 0xfee000f0], 0x1ff	; SVR: enabled, spurious 0xFF
	mov dword [fs:dword 0xfee00350], 0x700	; LVT LINT0: ExtINT
	mov al, 0x34		; 1 kHz
	out PIT_CMD, al
	mov ax, 1193
	out PIT_CH0, al
	mov al, ah
	out PIT_CH0, al

	sti
	hlt			; IRQ 0 ends it
	cli
	cmp dword [ticks], 1
	jne .bad
	mov si, msg_pass
	call puts
	xor al, al
	out EXIT_PORT, al
	jmp halt
.bad:	mov si, msg_count
	call puts
	jmp fail

; IRQ 0 at IRQ_BASE: count it, end of interrupt.
tick:
	push ax
	inc dword [ticks]
	mov al, 0x20
	out 0x20, al
	pop ax
	iret

unexpected:
	mov si, msg_unexpected
	call puts
fail:
	mov al, 1
	out EXIT_PORT, al
halt:
	cli
	hlt
	jmp halt

; Print the string at CS:SI on COM1.
puts:
	push ax
	push dx
.next:	mov al, [cs:si]
	test al, al
	jz .done
	mov ah, al
	mov dx, COM1 + 5
.busy:	in al, dx
	test al, 0x20
	jz .busy
	mov al, ah
	mov dx, COM1
	out dx, al
	inc si
	jmp .next
.done:	pop dx
	pop ax
	ret

msg_quiet	db 'pic_reset: no interrupt before the 8259s were initialised', 13, 10, 0
msg_pass	db 'PASS pic_reset: IRQ 0 at vector 0x20 once initialised', 13, 10, 0
msg_count	db 'FAIL pic_reset: not exactly one IRQ 0 after the HLT', 13, 10, 0
msg_unexpected	db 'FAIL pic_reset: an interrupt before the 8259s were initialised', 13, 10, 0

ticks		equ 0x6000	; a dword in RAM

	align 8
gdt:	dq 0
	dq 0x00cf93000000ffff	; flat 4 GiB data
gdt_desc:
	dw 15
	dd 0xf0000 + gdt

	times 0xfff0 - ($ - $$) db 0xff
reset:	jmp 0xf000:start	; the reset vector, F000:FFF0
	times 0x10000 - ($ - $$) db 0xff
