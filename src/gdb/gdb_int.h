/*
 * gdb_int.h - private header of the gdb stub: packet framing, hex helpers,
 * the register table and the stub structure shared by src/gdb/ files.
 */
#ifndef FB_GDB_INT_H
#define FB_GDB_INT_H

#include "gdb.h"

/* The largest packet we accept (advertised as PacketSize). */
#define GDB_PACKET_SIZE 4096
/* Reply bytes queued for a client that does not read: beyond this it is dropped. */
#define GDB_OUT_MAX	    (1u << 20)
#define GDB_MAX_BREAKPOINTS 64
#define GDB_MAX_WATCHPOINTS 16
#define GDB_MAX_WATCH_LEN   256

/* ---- packet framing (packet.c) ------------------------------------------ */

enum rx_state { RX_IDLE, RX_DATA, RX_CSUM1, RX_CSUM2 };

/* What one received byte completed. */
enum rx_event {
	RX_NONE,
	RX_PACKET,    /* a packet with a good checksum is in buf[0..len) */
	RX_BAD_CSUM,  /* a packet whose checksum does not match */
	RX_TOO_LONG,  /* a packet longer than GDB_PACKET_SIZE, discarded */
	RX_ACK,	      /* '+' */
	RX_NACK,      /* '-': retransmit */
	RX_INTERRUPT, /* 0x03 outside a packet */
};

typedef struct GdbRx {
	enum rx_state state;
	char buf[GDB_PACKET_SIZE + 1]; /* NUL-terminated payload */
	size_t len;
	bool overflow;
	uint8_t sum, csum;
} GdbRx;

void rx_reset(GdbRx *rx);
enum rx_event rx_byte(GdbRx *rx, uint8_t c);

int hex_digit(int c);
/* Parse hex digits at *p (at most 16); false if there are none. */
bool parse_hex(const char **p, uint64_t *v);
/* @n bytes from 2n hex digits; false on a bad digit. */
bool hex_to_bytes(const char *hex, uint8_t *out, size_t n);
void bytes_to_hex(const uint8_t *in, size_t n, char *out);
/* Undo the '}' escapes of binary data in place; returns the new length. */
size_t unescape_binary(char *buf, size_t len);

/* ---- registers (regs.c) -------------------------------------------------- */

#define GDB_NUM_REGS 32
extern const char gdb_target_xml[];
/* Size in bytes of register @n, 0 if there is none. */
unsigned reg_size(int n);
/* The registers of the CPU (a target with read_regs gives its own); register
 * @n of them in gdb's encoding. */
void regs_of_cpu(CPU *cpu, GdbRegs *r);
void reg_encode(const GdbRegs *r, int n, uint8_t *buf);
/* False if the value cannot be loaded (a selector that names no descriptor). */
bool reg_write(const GdbTarget *t, int n, const uint8_t *buf);

/* ---- the x87 registers (fpu_regs.c) -------------------------------------- */

/* gdb's st0-7 / fctrl..fop, in its order: index 0-7 st(i), 8-15 the rest. */
void fpu_regs_of_cpu(CPU *cpu, GdbRegs *r);
void fpu_reg_encode(const GdbRegs *r, int i, uint8_t *buf);
void fpu_reg_write(CPU *cpu, int i, const uint8_t *buf);

/* ---- the stub (stub.c, run.c, net.c) ------------------------------------ */

enum run_state {
	RS_STOPPED,  /* gdb holds the CPU */
	RS_RUNNING,  /* continue: until a breakpoint, watchpoint or Ctrl-C */
	RS_STEPPING, /* until icount passes step_from */
	RS_FREE,     /* no debugger in charge (not yet attached, or detached) */
};

typedef struct Breakpoint {
	uint32_t addr;
	uint8_t type; /* 0 software, 1 hardware: the same for us */
} Breakpoint;

typedef struct Watchpoint {
	uint32_t addr, len;
	uint8_t type; /* 2 write, 3 read, 4 access */
} Watchpoint;

struct GdbStub {
	GdbTarget t;
	int listen_fd, fd; /* -1 when absent */
	bool socketless;   /* gdb_new(): always "connected" */
	GdbRx rx;
	/* bytes received but not yet parsed while a packet is dispatched: a
	 * Ctrl-C right behind the packet must reach net_interrupt_pending() */
	const uint8_t *rest;
	size_t rest_len;
	bool no_ack;
	char *out; /* framed bytes not yet written */
	size_t out_len, out_cap;
	char *last; /* the last packet sent, for '-' */
	size_t last_len, last_cap;
	enum run_state state;
	uint64_t step_from;
	GdbStop stop; /* why the target is (or last was) stopped */
	Breakpoint bp[GDB_MAX_BREAKPOINTS];
	int nbp;
	Watchpoint wp[GDB_MAX_WATCHPOINTS];
	int nwp;
	bool kill, exited;
};

/* stub.c */
void stub_init(GdbStub *s, const GdbTarget *t, bool wait);
void stub_receive(GdbStub *s, const uint8_t *buf, size_t len);
void stub_connected(GdbStub *s);
void stub_disconnected(GdbStub *s);
void send_packet(GdbStub *s, const char *data, size_t len);
void send_stop(GdbStub *s);

/* run.c */
bool watch_insert(GdbStub *s, int type, uint32_t addr, uint32_t len);
bool watch_remove(GdbStub *s, int type, uint32_t addr, uint32_t len);
bool break_insert(GdbStub *s, int type, uint32_t addr);
bool break_remove(GdbStub *s, int type, uint32_t addr);
/* Drop every breakpoint and watchpoint (a client that went away). */
void stub_clear_points(GdbStub *s);
void resume(GdbStub *s, bool step);
/*
 * Hand the breakpoints and watchpoints to the target (or the CPU), with
 * the stub's watch function, which stops and sets s->stop (the replay
 * target keeps the lists and runs the session with them itself).
 */
void stub_apply_hooks(GdbStub *s);
/* Which watchpoint, if any, access @a triggers, as a stop reason. */
bool stub_watch_match(GdbStub *s, const CPUAccess *a, GdbStop *why);
/* Is there a breakpoint at @eip? */
bool breakpoint_at(GdbStub *s, uint32_t eip, GdbStop *why);
/* After CPU_EXIT_BREAKPOINT: set s->stop from the CPU's reason. */
void stub_cpu_stopped(GdbStub *s);

/* vmem.c: the live target's linear memory through the CPU's page walk, RAM/ROM only */
bool vmem_page_ok(CPU *cpu, AddressSpace *as, uint32_t lin, bool write, uint32_t *phys);
bool vmem_range_ok(CPU *cpu, AddressSpace *as, uint32_t addr, uint32_t len, bool write);
bool vmem_read(CPU *cpu, AddressSpace *as, uint32_t addr, void *buf, uint32_t len);

/* net.c: false once the client is gone */
bool net_flush(GdbStub *s);
/* Send what is queued, now, without waiting; errors are net_flush()'s. */
void net_send_now(GdbStub *s);
/* Ctrl-C (taken from the input) or a closed connection, between packets. */
bool net_interrupt_pending(GdbStub *s);

#endif
