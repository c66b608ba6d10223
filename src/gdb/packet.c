/*
 * packet.c - framing of the GDB remote protocol and hex helpers.
 *
 * A packet is "$payload#cs" where cs is the modulo-256 sum of the payload
 * bytes in two hex digits.  Outside packets the client sends '+' / '-'
 * (acknowledgements) and 0x03 (interrupt).  The receiver is a byte-at-a-time
 * state machine with a fixed buffer: a payload longer than GDB_PACKET_SIZE
 * is counted but not stored, and reported as RX_TOO_LONG once its checksum
 * has been read, so no input can overrun anything.
 */
#include "gdb_int.h"

#include <string.h>

void rx_reset(GdbRx *rx)
{
	rx->state = RX_IDLE;
	rx->len = 0;
	rx->overflow = false;
	rx->sum = 0;
	rx->buf[0] = '\0';
}

int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void start_packet(GdbRx *rx)
{
	rx_reset(rx);
	rx->state = RX_DATA;
}

static enum rx_event rx_idle(GdbRx *rx, uint8_t c)
{
	switch (c) {
	case '$':
		start_packet(rx);
		return RX_NONE;
	case '+':
		return RX_ACK;
	case '-':
		return RX_NACK;
	case 0x03:
		return RX_INTERRUPT;
	default:
		return RX_NONE; /* line noise between packets */
	}
}

static enum rx_event rx_data(GdbRx *rx, uint8_t c)
{
	if (c == '#') {
		rx->state = RX_CSUM1;
		return RX_NONE;
	}
	if (c == '$') {
		/* A new start inside a packet: the old one was cut off. */
		start_packet(rx);
		return RX_NONE;
	}
	rx->sum = (uint8_t)(rx->sum + c);
	if (rx->len < GDB_PACKET_SIZE)
		rx->buf[rx->len++] = (char)c;
	else
		rx->overflow = true;
	return RX_NONE;
}

enum rx_event rx_byte(GdbRx *rx, uint8_t c)
{
	int d;

	switch (rx->state) {
	case RX_IDLE:
		return rx_idle(rx, c);
	case RX_DATA:
		return rx_data(rx, c);
	case RX_CSUM1:
		d = hex_digit(c);
		if (d < 0) {
			rx_reset(rx);
			return RX_BAD_CSUM;
		}
		rx->csum = (uint8_t)(d << 4);
		rx->state = RX_CSUM2;
		return RX_NONE;
	case RX_CSUM2:
		d = hex_digit(c);
		rx->state = RX_IDLE;
		rx->buf[rx->len] = '\0';
		if (d < 0 || (uint8_t)(rx->csum | d) != rx->sum)
			return RX_BAD_CSUM;
		return rx->overflow ? RX_TOO_LONG : RX_PACKET;
	}
	return RX_NONE;
}

bool parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0, d;

	while ((d = hex_digit((unsigned char)*s)) >= 0) {
		if (++n > 16)
			return false;
		x = x << 4 | (uint64_t)d;
		s++;
	}
	if (n == 0)
		return false;
	*p = s;
	*v = x;
	return true;
}

bool hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit((unsigned char)hex[2 * i]);
		int lo = hi < 0 ? -1 : hex_digit((unsigned char)hex[2 * i + 1]);

		if (lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void bytes_to_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

size_t unescape_binary(char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (buf[i] == '}' && i + 1 < len)
			buf[o++] = (char)(buf[++i] ^ 0x20);
		else
			buf[o++] = buf[i];
	}
	return o;
}
