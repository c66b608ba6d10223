/*
 * printf.c - a small printf on COM1: %d %i %u %x %X %p %s %c %%, with the
 * '0' and '-' flags and a field width.  No floating point, no long long.
 */
#include "guest.h"

static int pad(int n, char c)
{
	for (int i = 0; i < n; i++)
		serial_putc(c);
	return n > 0 ? n : 0;
}

/* Prints @s in a field of @width, right-aligned unless @left. */
static int field(const char *s, int len, int width, bool left, char fill)
{
	int out = 0;

	/* Zero padding goes after a sign. */
	if (fill == '0' && len > 0 && s[0] == '-') {
		serial_putc('-');
		s++, len--, width--, out++;
	}
	if (!left)
		out += pad(width - len, fill);
	for (int i = 0; i < len; i++)
		serial_putc(s[i]);
	out += len;
	if (left)
		out += pad(width - len, ' ');
	return out;
}

/* Formats @v in @base into the end of @buf; returns the first digit. */
static char *utoa(u32 v, unsigned base, bool upper, char *end)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;

	do {
		*--p = digits[v % base];
		v /= base;
	} while (v);
	return p;
}

int vprintf(const char *fmt, va_list ap)
{
	int out = 0;

	for (; *fmt; fmt++) {
		char buf[16], *end = buf + sizeof(buf), *s;
		bool left = false;
		char fill = ' ';
		int width = 0;

		if (*fmt != '%') {
			serial_putc(*fmt);
			out++;
			continue;
		}
		fmt++;
		for (; *fmt == '-' || *fmt == '0'; fmt++) {
			if (*fmt == '-')
				left = true;
			else
				fill = '0';
		}
		if (left)
			fill = ' ';
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		while (*fmt == 'l')
			fmt++;
		switch (*fmt) {
		case 'd':
		case 'i': {
			s32 v = va_arg(ap, s32);

			s = utoa(v < 0 ? -(u32)v : (u32)v, 10, false, end);
			if (v < 0)
				*--s = '-';
			out += field(s, end - s, width, left, fill);
			break;
		}
		case 'u':
			s = utoa(va_arg(ap, u32), 10, false, end);
			out += field(s, end - s, width, left, fill);
			break;
		case 'x':
		case 'X':
			s = utoa(va_arg(ap, u32), 16, *fmt == 'X', end);
			out += field(s, end - s, width, left, fill);
			break;
		case 'p':
			s = utoa((u32)va_arg(ap, void *), 16, false, end);
			out += field(s, end - s, 8, false, '0');
			break;
		case 's':
			s = va_arg(ap, char *);
			if (!s)
				s = "(null)";
			out += field(s, strlen(s), width, left, ' ');
			break;
		case 'c':
			buf[0] = (char)va_arg(ap, int);
			out += field(buf, 1, width, left, ' ');
			break;
		case '%':
			serial_putc('%');
			out++;
			break;
		case '\0':
			return out;
		default: /* unknown: print it as it was written */
			serial_putc('%');
			serial_putc(*fmt);
			out += 2;
			break;
		}
	}
	return out;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}
