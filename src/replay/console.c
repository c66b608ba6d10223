/*
 * console.c - which port writes are the guest's console output: the one
 * place that knows, for the recorder (console events) and the replay
 * engine (the console printed again and checked against those events).
 */
#include "replay.h"

enum {
	COM1_THR = 0x3f8,
	COM1_LCR = 0x3fb,
	COM1_MCR = 0x3fc,
	LCR_DLAB = 0x80,
	MCR_LOOP = 0x10,
	DEBUGCON_E9 = 0xe9,   /* Bochs / QEMU debugcon */
	DEBUGCON_402 = 0x402, /* SeaBIOS's debug output */
};

bool rr_console_write(RRConsole *c, uint16_t port, uint8_t b)
{
	switch (port) {
	case COM1_LCR:
		c->lcr = b;
		return false;
	case COM1_MCR:
		c->mcr = b;
		return false;
	case COM1_THR:
		return !(c->lcr & LCR_DLAB) && !(c->mcr & MCR_LOOP);
	case DEBUGCON_E9:
	case DEBUGCON_402:
		return true;
	default:
		return false;
	}
}
