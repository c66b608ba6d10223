/*
 * stub.c - the GDB remote protocol: acknowledgements, packet dispatch and
 * the replies to each packet.
 *
 * Every packet is one row of the command table: its name, whether the name
 * must match exactly or is a prefix followed by arguments, whether it needs
 * the target stopped, and its handler.  Packets we do not know get the
 * empty reply, as the protocol asks.  A packet that needs a stopped target
 * while the guest runs gets an error reply.
 */
#include "gdb_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

/* Error numbers of our "E NN" replies (errno values, as gdbserver uses). */
#define E_BADARG  "E16" /* malformed or out-of-range argument */
#define E_FAULT	  "E14" /* memory not mapped */
#define E_BUSY	  "E10" /* the target is running */
#define E_TOOLONG "E01" /* the packet did not fit */
#define E_RDONLY  "E30" /* a recording cannot be changed */
#define E_FULL	  "E28" /* no breakpoint / watchpoint slot left */

/* ---- output ---------------------------------------------------------------- */

static void out_append(GdbStub *s, const char *data, size_t len)
{
	if (s->out_len + len > s->out_cap) {
		size_t cap = s->out_cap ? s->out_cap : 1024;

		while (cap < s->out_len + len)
			cap *= 2;
		s->out = xrealloc(s->out, cap);
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
}

/* Frame @data; '$', '#', '}' and '*' are escaped so that any bytes pass. */
void send_packet(GdbStub *s, const char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t sum = 0;
	size_t i;

	s->last_len = 0;
	if (len * 2 + 4 > s->last_cap) {
		s->last_cap = len * 2 + 4;
		s->last = xrealloc(s->last, s->last_cap);
	}
	s->last[s->last_len++] = '$';
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)data[i];

		if (c == '$' || c == '#' || c == '}' || c == '*') {
			s->last[s->last_len++] = '}';
			sum = (uint8_t)(sum + '}');
			c ^= 0x20;
		}
		s->last[s->last_len++] = (char)c;
		sum = (uint8_t)(sum + c);
	}
	s->last[s->last_len++] = '#';
	s->last[s->last_len++] = digits[sum >> 4];
	s->last[s->last_len++] = digits[sum & 15];
	out_append(s, s->last, s->last_len);
}

static void reply(GdbStub *s, const char *text)
{
	send_packet(s, text, strlen(text));
}

static void replyf(GdbStub *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void replyf(GdbStub *s, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	reply(s, buf);
}

/* ---- stop replies ------------------------------------------------------------ */

void send_stop(GdbStub *s)
{
	static const char *const watch_kind[] = {
	    [GDB_STOP_WATCH] = "watch", [GDB_STOP_RWATCH] = "rwatch", [GDB_STOP_AWATCH] = "awatch"};
	const GdbStop *st = &s->stop;

	switch (st->kind) {
	case GDB_STOP_TRAP:
		reply(s, "T05thread:01;");
		break;
	case GDB_STOP_INTERRUPT:
		reply(s, "T02thread:01;");
		break;
	case GDB_STOP_SWBREAK:
		reply(s, "T05swbreak:;thread:01;");
		break;
	case GDB_STOP_HWBREAK:
		reply(s, "T05hwbreak:;thread:01;");
		break;
	case GDB_STOP_WATCH:
	case GDB_STOP_RWATCH:
	case GDB_STOP_AWATCH:
		replyf(s, "T05%s:%08" PRIx32 ";thread:01;", watch_kind[st->kind], st->addr);
		break;
	case GDB_STOP_HISTORY_BEGIN:
		reply(s, "T05replaylog:begin;thread:01;");
		break;
	case GDB_STOP_HISTORY_END:
		reply(s, "T05replaylog:end;thread:01;");
		break;
	}
}

/* ---- registers ----------------------------------------------------------------- */

/* The registers now: the target's, or its CPU's. */
static void read_regs(GdbStub *s, GdbRegs *r)
{
	if (s->t.read_regs)
		s->t.read_regs(s->t.opaque, r);
	else
		regs_of_cpu(s->t.cpu, r);
}

static void h_read_regs(GdbStub *s, char *args)
{
	char hex[GDB_NUM_REGS * 10 * 2 + 1], *p = hex;
	uint8_t buf[10];
	GdbRegs r;

	read_regs(s, &r);
	for (int n = 0; n < GDB_NUM_REGS; n++) {
		reg_encode(&r, n, buf);
		bytes_to_hex(buf, reg_size(n), p);
		p += 2 * reg_size(n);
	}
	reply(s, hex);
}

static void h_write_regs(GdbStub *s, char *args)
{
	size_t have = strlen(args) / 2, off = 0;
	uint8_t buf[10];

	if (s->t.read_only)
		return reply(s, E_RDONLY);
	/* gdb may send fewer registers than we have: write those it sent. */
	for (int n = 0; n < GDB_NUM_REGS && off + reg_size(n) <= have; n++) {
		if (!hex_to_bytes(args + 2 * off, buf, reg_size(n)))
			return reply(s, E_BADARG);
		off += reg_size(n);
	}
	off = 0;
	for (int n = 0; n < GDB_NUM_REGS && off + reg_size(n) <= have; n++) {
		hex_to_bytes(args + 2 * off, buf, reg_size(n));
		if (!reg_write(&s->t, n, buf))
			return reply(s, E_BADARG);
		off += reg_size(n);
	}
	reply(s, "OK");
}

static void h_read_reg(GdbStub *s, char *args)
{
	const char *p = args;
	uint64_t n;
	uint8_t buf[10];
	char hex[21];
	GdbRegs r;

	if (!parse_hex(&p, &n) || *p || n >= GDB_NUM_REGS)
		return reply(s, E_BADARG);
	read_regs(s, &r);
	reg_encode(&r, (int)n, buf);
	bytes_to_hex(buf, reg_size((int)n), hex);
	reply(s, hex);
}

static void h_write_reg(GdbStub *s, char *args)
{
	const char *p = args;
	uint64_t n;
	uint8_t buf[10];

	if (s->t.read_only)
		return reply(s, E_RDONLY);
	if (!parse_hex(&p, &n) || *p++ != '=' || n >= GDB_NUM_REGS)
		return reply(s, E_BADARG);
	if (strlen(p) != 2 * reg_size((int)n) || !hex_to_bytes(p, buf, reg_size((int)n)))
		return reply(s, E_BADARG);
	reply(s, reg_write(&s->t, (int)n, buf) ? "OK" : E_BADARG);
}

/* ---- memory ---------------------------------------------------------------------- */

/* "ADDR,LEN" followed by @end (':' or NUL). */
static bool parse_addr_len(char **args, char end, uint32_t *addr, uint32_t *len)
{
	const char *p = *args;
	uint64_t a, l;

	if (!parse_hex(&p, &a) || *p++ != ',' || !parse_hex(&p, &l) || *p != end)
		return false;
	if (a > UINT32_MAX || l > GDB_PACKET_SIZE || a + l > (uint64_t)UINT32_MAX + 1)
		return false;
	*addr = (uint32_t)a;
	*len = (uint32_t)l;
	*args = (char *)p + (end ? 1 : 0);
	return true;
}

/* Read page by page: a read that runs into an unmapped page returns what
 * came before it, which gdb accepts as a short read. */
static void h_read_mem(GdbStub *s, char *args)
{
	static uint8_t buf[GDB_PACKET_SIZE / 2];
	static char hex[GDB_PACKET_SIZE + 1];
	uint32_t addr, len, done = 0;

	if (!parse_addr_len(&args, '\0', &addr, &len))
		return reply(s, E_BADARG);
	if (len > sizeof(buf))
		len = sizeof(buf);
	while (done < len) {
		uint32_t a = addr + done, n = 4096 - (a & 4095);

		if (n > len - done)
			n = len - done;
		if (!s->t.read_mem(s->t.opaque, a, buf + done, n))
			break;
		done += n;
	}
	if (done == 0 && len > 0)
		return reply(s, E_FAULT);
	bytes_to_hex(buf, done, hex);
	reply(s, hex);
}

static void write_mem(GdbStub *s, uint32_t addr, const uint8_t *data, uint32_t len)
{
	if (s->t.read_only || !s->t.write_mem)
		return reply(s, E_RDONLY);
	if (len && !s->t.write_mem(s->t.opaque, addr, data, len))
		return reply(s, E_FAULT);
	reply(s, "OK");
}

static void h_write_mem_hex(GdbStub *s, char *args)
{
	static uint8_t buf[GDB_PACKET_SIZE / 2];
	uint32_t addr, len;

	if (!parse_addr_len(&args, ':', &addr, &len) || len > sizeof(buf) ||
	    strlen(args) != 2 * (size_t)len || !hex_to_bytes(args, buf, len))
		return reply(s, E_BADARG);
	write_mem(s, addr, buf, len);
}

static void h_write_mem_bin(GdbStub *s, char *args, size_t arglen)
{
	char *end = args + arglen;
	uint32_t addr, len;
	size_t n;

	if (!memchr(args, ':', arglen)) /* parse_addr_len stops at ':' or NUL */
		return reply(s, E_BADARG);
	if (!parse_addr_len(&args, ':', &addr, &len))
		return reply(s, E_BADARG);
	n = unescape_binary(args, (size_t)(end - args));
	if (n != len)
		return reply(s, E_BADARG);
	write_mem(s, addr, (const uint8_t *)args, len);
}

/* ---- breakpoints and watchpoints ---------------------------------------------------- */

static void h_point(GdbStub *s, char *args, bool insert)
{
	const char *p = args;
	uint64_t type, addr, kind;
	bool ok;

	if (!parse_hex(&p, &type) || *p++ != ',' || !parse_hex(&p, &addr) || *p++ != ',' ||
	    !parse_hex(&p, &kind) || (*p && *p != ';') || addr > UINT32_MAX)
		return reply(s, E_BADARG);
	if (type > 4)
		return reply(s, ""); /* not a kind we know */
	if (type <= 1) {
		ok = insert ? break_insert(s, (int)type, (uint32_t)addr)
			    : break_remove(s, (int)type, (uint32_t)addr);
	} else {
		if (kind == 0 || kind > GDB_MAX_WATCH_LEN || addr + kind > (uint64_t)UINT32_MAX + 1)
			return reply(s, E_BADARG);
		ok = insert ? watch_insert(s, (int)type, (uint32_t)addr, (uint32_t)kind)
			    : watch_remove(s, (int)type, (uint32_t)addr, (uint32_t)kind);
	}
	reply(s, ok ? "OK" : insert ? E_FULL : E_BADARG);
}

static void h_insert(GdbStub *s, char *args)
{
	h_point(s, args, true);
}

static void h_remove(GdbStub *s, char *args)
{
	h_point(s, args, false);
}

/* ---- execution ------------------------------------------------------------------------ */

/* An optional resume address: "c ADDR", "s ADDR". */
static bool resume_at(GdbStub *s, const char *p)
{
	uint64_t addr;

	if (!*p)
		return true;
	if (!parse_hex(&p, &addr) || *p || addr > UINT32_MAX || s->t.read_only)
		return false;
	cpu_set_eip(s->t.cpu, (uint32_t)addr);
	return true;
}

static void h_continue(GdbStub *s, char *args)
{
	if (!resume_at(s, args))
		return reply(s, E_BADARG);
	resume(s, false);
}

static void h_step(GdbStub *s, char *args)
{
	if (!resume_at(s, args))
		return reply(s, E_BADARG);
	resume(s, true);
}

/* "C sig[;addr]" / "S sig[;addr]": we cannot deliver host signals to a
 * bare machine, so the signal is ignored. */
static bool skip_signal(char **args)
{
	const char *p = *args;
	uint64_t sig;

	if (!parse_hex(&p, &sig) || (*p && *p != ';'))
		return false;
	*args = (char *)(*p ? p + 1 : p);
	return true;
}

static void h_continue_sig(GdbStub *s, char *args)
{
	if (!skip_signal(&args))
		return reply(s, E_BADARG);
	h_continue(s, args);
}

static void h_step_sig(GdbStub *s, char *args)
{
	if (!skip_signal(&args))
		return reply(s, E_BADARG);
	h_step(s, args);
}

/* Does a vCont thread-id suffix (":TID") name our one thread? */
static bool names_our_thread(const char *tid)
{
	const char *p = tid;
	uint64_t v;

	if (!*tid)
		return true;
	if (strcmp(tid, "-1") == 0)
		return true;
	if (*p == 'p')
		return strcmp(p, "p1.1") == 0 || strcmp(p, "p1.-1") == 0 ||
		       strcmp(p, "p-1.-1") == 0;
	return parse_hex(&p, &v) && !*p && v == 1;
}

/* "vCont;ACTION[:TID];ACTION..." - the first action for our thread wins. */
static void h_vcont(GdbStub *s, char *args)
{
	char *save = NULL, *act;

	for (act = strtok_r(args, ";", &save); act; act = strtok_r(NULL, ";", &save)) {
		char *colon = strchr(act, ':');
		char *tid = colon ? colon + 1 : act + strlen(act);
		char op = act[0];

		if (colon)
			*colon = '\0';
		if (!strchr("cCsS", op) || (islower((unsigned char)op) && act[1]) ||
		    (isupper((unsigned char)op) && (hex_digit((unsigned char)act[1]) < 0)))
			return reply(s, E_BADARG);
		if (!names_our_thread(tid))
			continue;
		resume(s, op == 's' || op == 'S');
		return;
	}
	reply(s, E_BADARG);
}

static void reverse(GdbStub *s, bool step)
{
	if (!s->t.can_reverse || !s->t.reverse)
		return reply(s, "");
	s->stop = s->t.reverse(s->t.opaque, s, step);
	send_stop(s);
}

static void h_reverse_step(GdbStub *s, char *args)
{
	reverse(s, true);
}

static void h_reverse_continue(GdbStub *s, char *args)
{
	reverse(s, false);
}

static void h_detach(GdbStub *s, char *args)
{
	stub_clear_points(s);
	s->state = RS_FREE;
	reply(s, "OK");
}

static void h_kill(GdbStub *s, char *args)
{
	s->kill = true;
	s->state = RS_STOPPED;
}

/* vKill wants an answer before the connection goes; k does not. */
static void h_vkill(GdbStub *s, char *args)
{
	reply(s, "OK");
	h_kill(s, args);
}

static void h_status(GdbStub *s, char *args)
{
	send_stop(s);
}

/* ---- queries ------------------------------------------------------------------------------ */

static void h_supported(GdbStub *s, char *args)
{
	replyf(s,
	       "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+;"
	       "vContSupported+%s",
	       GDB_PACKET_SIZE, s->t.can_reverse ? ";ReverseStep+;ReverseContinue+" : "");
}

static void h_no_ack(GdbStub *s, char *args)
{
	reply(s, "OK"); /* still acknowledged: the switch takes effect after it */
	s->no_ack = true;
}

/* "qXfer:features:read:ANNEX:OFFSET,LENGTH" */
static void h_xfer_features(GdbStub *s, char *args)
{
	static char chunk[GDB_PACKET_SIZE + 2];
	size_t total = strlen(gdb_target_xml);
	char *colon = strchr(args, ':');
	uint32_t off, len;

	if (!colon)
		return reply(s, E_BADARG);
	*colon = '\0';
	if (strcmp(args, "target.xml") != 0)
		return reply(s, "E00");
	args = colon + 1;
	if (!parse_addr_len(&args, '\0', &off, &len))
		return reply(s, E_BADARG);
	if (off >= total)
		return reply(s, "l");
	if (len > total - off)
		len = (uint32_t)(total - off);
	if (len > GDB_PACKET_SIZE)
		len = GDB_PACKET_SIZE;
	chunk[0] = off + len < total ? 'm' : 'l';
	memcpy(chunk + 1, gdb_target_xml + off, len);
	send_packet(s, chunk, len + 1);
}

static void h_attached(GdbStub *s, char *args)
{
	reply(s, "1");
}

static void h_current_thread(GdbStub *s, char *args)
{
	reply(s, "QC01");
}

static void h_first_thread(GdbStub *s, char *args)
{
	reply(s, "m01");
}

static void h_next_thread(GdbStub *s, char *args)
{
	reply(s, "l");
}

static void h_set_thread(GdbStub *s, char *args)
{
	const char *p = args + 1;

	if (!strchr("gcm", args[0]) || !(names_our_thread(p) || strcmp(p, "0") == 0))
		return reply(s, E_BADARG);
	reply(s, "OK");
}

static void h_thread_alive(GdbStub *s, char *args)
{
	reply(s, names_our_thread(args) ? "OK" : E_BADARG);
}

static void h_offsets(GdbStub *s, char *args)
{
	reply(s, "Text=0;Data=0;Bss=0");
}

static void h_vcont_query(GdbStub *s, char *args)
{
	reply(s, "vCont;c;C;s;S");
}

/* ---- monitor ------------------------------------------------------------------------------- */

static void monitor_help(GdbStub *s, FILE *out)
{
	fprintf(out, "monitor icount           the instruction count\n"
		     "monitor info registers   all CPU registers, control registers included\n"
		     "monitor help             this text\n");
	if (s->t.monitor_help)
		fputs(s->t.monitor_help, out);
}

static void run_monitor(GdbStub *s, const char *cmd, FILE *out)
{
	if (strcmp(cmd, "help") == 0)
		monitor_help(s, out);
	else if (s->t.monitor && s->t.monitor(s->t.opaque, cmd, out))
		return;
	else if (strcmp(cmd, "icount") == 0 && s->t.cpu)
		fprintf(out, "%" PRIu64 "\n", cpu_icount(s->t.cpu));
	else if (strcmp(cmd, "info registers") == 0 && s->t.cpu)
		cpu_dump(s->t.cpu, out);
	else
		fprintf(out, "unknown monitor command '%s' (try 'monitor help')\n", cmd);
}

/* Send @text as console output ("O" packets of hex), then "OK". */
static void send_console(GdbStub *s, const char *text, size_t len)
{
	static char pkt[1 + 2 * 1024 + 1];

	for (size_t off = 0; off < len; off += 1024) {
		size_t n = len - off < 1024 ? len - off : 1024;

		pkt[0] = 'O';
		bytes_to_hex((const uint8_t *)text + off, n, pkt + 1);
		send_packet(s, pkt, 1 + 2 * n);
	}
	reply(s, "OK");
}

static void h_rcmd(GdbStub *s, char *args)
{
	size_t n = strlen(args) / 2;
	char cmd[GDB_PACKET_SIZE / 2 + 1], *text = NULL;
	size_t text_len = 0;
	FILE *out;

	if (strlen(args) % 2 || !hex_to_bytes(args, (uint8_t *)cmd, n) || memchr(cmd, 0, n))
		return reply(s, E_BADARG);
	cmd[n] = '\0';
	while (n && (cmd[n - 1] == ' ' || cmd[n - 1] == '\n'))
		cmd[--n] = '\0';
	out = open_memstream(&text, &text_len);
	if (!out)
		fatal(EXIT_INTERNAL, "out of memory");
	run_monitor(s, cmd, out);
	fclose(out);
	send_console(s, text, text_len);
	free(text);
}

/* ---- dispatch ---------------------------------------------------------------------------------
 */

enum match { EXACT, PREFIX };

static const struct command {
	const char *name;
	enum match match;
	bool needs_stop; /* only while the target is stopped */
	void (*fn)(GdbStub *s, char *args);
} commands[] = {
    {"?", EXACT, false, h_status},
    {"g", EXACT, true, h_read_regs},
    {"G", PREFIX, true, h_write_regs},
    {"p", PREFIX, true, h_read_reg},
    {"P", PREFIX, true, h_write_reg},
    {"m", PREFIX, true, h_read_mem},
    {"M", PREFIX, true, h_write_mem_hex},
    {"Z", PREFIX, true, h_insert},
    {"z", PREFIX, true, h_remove},
    {"c", PREFIX, true, h_continue},
    {"C", PREFIX, true, h_continue_sig},
    {"s", PREFIX, true, h_step},
    {"S", PREFIX, true, h_step_sig},
    {"bs", EXACT, true, h_reverse_step},
    {"bc", EXACT, true, h_reverse_continue},
    {"vCont?", EXACT, false, h_vcont_query},
    {"vCont;", PREFIX, true, h_vcont},
    {"D", PREFIX, false, h_detach},
    {"k", EXACT, false, h_kill},
    {"vKill;", PREFIX, false, h_vkill},
    {"H", PREFIX, false, h_set_thread},
    {"T", PREFIX, false, h_thread_alive},
    {"qSupported", PREFIX, false, h_supported},
    {"QStartNoAckMode", EXACT, false, h_no_ack},
    {"qXfer:features:read:", PREFIX, false, h_xfer_features},
    {"qAttached", PREFIX, false, h_attached},
    {"qC", EXACT, false, h_current_thread},
    {"qfThreadInfo", EXACT, false, h_first_thread},
    {"qsThreadInfo", EXACT, false, h_next_thread},
    {"qOffsets", EXACT, false, h_offsets},
    {"qRcmd,", PREFIX, true, h_rcmd},
};

static void dispatch(GdbStub *s, char *pkt, size_t len)
{
	bool stopped = s->state == RS_STOPPED;

	/* X carries binary data (NULs included): it gets the length. */
	if (pkt[0] == 'X') {
		if (!stopped)
			return reply(s, E_BUSY);
		return h_write_mem_bin(s, pkt + 1, len - 1);
	}
	if (strlen(pkt) != len)
		return reply(s, E_BADARG); /* a NUL inside a text packet */
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];
		size_t n = strlen(c->name);

		if (c->match == EXACT ? strcmp(pkt, c->name) != 0 : strncmp(pkt, c->name, n) != 0)
			continue;
		if (c->needs_stop && !stopped)
			return reply(s, E_BUSY);
		c->fn(s, pkt + n);
		return;
	}
	reply(s, ""); /* unknown packet */
}

/* ---- input -------------------------------------------------------------------------------- */

static void on_interrupt(GdbStub *s)
{
	if (s->state != RS_RUNNING && s->state != RS_STEPPING)
		return;
	s->state = RS_STOPPED;
	s->stop = (GdbStop){GDB_STOP_INTERRUPT, 0};
	send_stop(s);
}

void stub_receive(GdbStub *s, const uint8_t *buf, size_t len)
{
	s->rest = buf;
	s->rest_len = len;
	while (s->rest_len && !s->kill) {
		uint8_t c = *s->rest++;

		s->rest_len--;
		switch (rx_byte(&s->rx, c)) {
		case RX_NONE:
		case RX_ACK:
			break;
		case RX_NACK:
			if (!s->no_ack && s->last_len)
				out_append(s, s->last, s->last_len);
			break;
		case RX_INTERRUPT:
			on_interrupt(s);
			break;
		case RX_BAD_CSUM:
			if (!s->no_ack)
				out_append(s, "-", 1);
			break;
		case RX_TOO_LONG:
			if (!s->no_ack)
				out_append(s, "+", 1);
			reply(s, E_TOOLONG);
			break;
		case RX_PACKET:
			if (!s->no_ack) {
				/* before the handler, which may run long (a reverse
				 * continue, monitor history): a client waits for the
				 * ack before anything else, Ctrl-C included, and gdb
				 * sends the packet again after remotetimeout */
				out_append(s, "+", 1);
				net_send_now(s);
			}
			dispatch(s, s->rx.buf, s->rx.len);
			break;
		}
	}
	s->rest_len = 0;
}

void stub_init(GdbStub *s, const GdbTarget *t, bool wait)
{
	memset(s, 0, sizeof(*s));
	s->t = *t;
	s->listen_fd = s->fd = -1;
	rx_reset(&s->rx);
	s->state = wait ? RS_STOPPED : RS_FREE;
	s->stop = (GdbStop){GDB_STOP_TRAP, 0};
}

/* A new client: a guest that runs free is stopped for it, as gdb expects
 * a stopped target after "target remote". */
void stub_connected(GdbStub *s)
{
	rx_reset(&s->rx);
	s->no_ack = false;
	s->out_len = 0;
	s->last_len = 0;
	if (s->state != RS_STOPPED) {
		s->state = RS_STOPPED;
		s->stop = (GdbStop){GDB_STOP_INTERRUPT, 0};
	}
}

/*
 * The client went away without detaching.  Its breakpoints go with it; a
 * stopped guest stays stopped for the next client, a running one runs on.
 */
void stub_disconnected(GdbStub *s)
{
	stub_clear_points(s);
	if (s->state != RS_STOPPED)
		s->state = RS_FREE;
	s->out_len = 0;
	rx_reset(&s->rx);
}
