/*
 * net.c - the stub's TCP transport, never blocking the machine.
 *
 * One listening socket (127.0.0.1 unless the user names another address)
 * and at most one client.  Everything is non-blocking and driven by
 * gdb_poll(): accept, read what is there, write what the socket takes.
 * A client that closes, errors, or stops reading while more than
 * GDB_OUT_MAX bytes wait for it is dropped; the stub keeps listening.
 */
#include "gdb_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../base/base.h"

static bool set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static void drop_client(GdbStub *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	stub_disconnected(s);
}

GdbStub *gdb_listen(const GdbTarget *t, const char *host, int port, bool wait, char *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	const char *h = host && *host ? host : "127.0.0.1";
	GdbStub *s;
	int fd, one = 1;

	if (strcmp(h, "localhost") == 0)
		h = "127.0.0.1";
	if (inet_pton(AF_INET, h, &sa.sin_addr) != 1) {
		snprintf(err, 256, "-gdb: '%s' is not an IPv4 address", h);
		return NULL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0 ||
	    !set_nonblock(fd)) {
		snprintf(err, 256, "gdb stub: cannot listen on %s:%d: %s", h, port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	s = xmalloc(sizeof(*s));
	stub_init(s, t, wait);
	s->listen_fd = fd;
	return s;
}

static void try_accept(GdbStub *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), one = 1;

	if (fd < 0)
		return;
	if (s->fd >= 0) {
		close(fd); /* one debugger at a time */
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd = fd;
	stub_connected(s);
}

bool net_flush(GdbStub *s)
{
	size_t done = 0;

	if (s->socketless || s->fd < 0)
		return true;
	while (done < s->out_len) {
		ssize_t n = send(s->fd, s->out + done, s->out_len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			drop_client(s);
			return false;
		}
		done += (size_t)n;
	}
	memmove(s->out, s->out + done, s->out_len - done);
	s->out_len -= done;
	if (s->out_len > GDB_OUT_MAX) {
		warn("gdb stub: the client does not read its replies; dropping it");
		drop_client(s);
		return false;
	}
	return true;
}

void net_send_now(GdbStub *s)
{
	ssize_t n;

	if (s->socketless || s->fd < 0 || !s->out_len)
		return;
	n = send(s->fd, s->out, s->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		memmove(s->out, s->out + n, s->out_len - (size_t)n);
		s->out_len -= (size_t)n;
	}
}

static void read_client(GdbStub *s)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = recv(s->fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			drop_client(s);
			return;
		}
		stub_receive(s, buf, (size_t)n);
		if (!net_flush(s) || s->kill)
			return;
	}
}

void gdb_poll(GdbStub *s, int timeout_ms)
{
	struct pollfd pfd[2];
	int n = 0;

	if (s->socketless)
		return;
	pfd[n++] = (struct pollfd){s->listen_fd, POLLIN, 0};
	if (s->fd >= 0)
		pfd[n++] = (struct pollfd){s->fd, (short)(POLLIN | (s->out_len ? POLLOUT : 0)), 0};
	if (poll(pfd, (nfds_t)n, timeout_ms) <= 0) {
		net_flush(s);
		return;
	}
	/* The client first: when it has gone and a new one is knocking, the
	 * old one is dropped before the new one is accepted, not the other
	 * way round (one debugger at a time). */
	if (n > 1 && s->fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
		read_client(s);
	if (pfd[0].revents & POLLIN)
		try_accept(s);
	if (s->fd >= 0)
		net_flush(s);
}

/*
 * During a long operation inside a packet (a reverse-continue): did gdb
 * send Ctrl-C, or go away?  Only a 0x03 at the head of the input is taken;
 * anything else stays for the packet layer.
 */
bool net_interrupt_pending(GdbStub *s)
{
	uint8_t c;
	ssize_t n;

	/* first what came in with the packet being served (acks may precede) */
	while (s->rest_len && s->rest[0] == '+' && s->rx.state == RX_IDLE) {
		s->rest++;
		s->rest_len--;
	}
	if (s->rest_len && s->rest[0] == 0x03 && s->rx.state == RX_IDLE) {
		s->rest++;
		s->rest_len--;
		return true;
	}
	if (s->socketless || s->fd < 0)
		return false;
	n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return true; /* the client is gone: no one waits for the answer */
	if (n == 1 && c == 0x03) {
		n = recv(s->fd, &c, 1, MSG_DONTWAIT);
		return n == 1;
	}
	return false;
}

GdbStub *gdb_new(const GdbTarget *t, bool wait)
{
	GdbStub *s = xmalloc(sizeof(*s));

	stub_init(s, t, wait);
	s->socketless = true;
	stub_connected(s);
	return s;
}

void gdb_feed(GdbStub *s, const void *buf, size_t len)
{
	stub_receive(s, buf, len);
}

size_t gdb_take_output(GdbStub *s, void *buf, size_t max)
{
	size_t n = s->out_len < max ? s->out_len : max;

	if (n == 0)
		return 0; /* s->out may be NULL before any output */
	memcpy(buf, s->out, n);
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
	return n;
}

/* The guest ended: gdb hears "W" with the low 8 bits of the status. */
void gdb_guest_exited(GdbStub *s, int status)
{
	char pkt[8];

	if (s->exited || s->kill)
		return;
	s->exited = true;
	if (s->fd < 0 && !s->socketless)
		return;
	snprintf(pkt, sizeof(pkt), "W%02x", status & 0xff);
	send_packet(s, pkt, strlen(pkt));
	for (int tries = 0; s->fd >= 0 && s->out_len && tries < 100; tries++) {
		struct pollfd pfd = {s->fd, POLLOUT, 0};

		poll(&pfd, 1, 10); /* a moment for the last reply to leave */
		net_flush(s);
	}
}

bool gdb_kill_requested(const GdbStub *s)
{
	return s->kill;
}

void gdb_free(GdbStub *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s->out);
	free(s->last);
	free(s);
}
