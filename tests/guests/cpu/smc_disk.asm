; smc_disk.asm - the disk smc.c reads code from by DMA (nasm -f bin): two
; sectors, each a routine that returns its own constant in EAX.
	bits 32
sector0:
	mov eax, 0x5EC70000
	ret
	times 512 - ($ - sector0) db 0xCC
sector1:
	mov eax, 0x5EC70001
	ret
	times 512 - ($ - sector1) db 0xCC
