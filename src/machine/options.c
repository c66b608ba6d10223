/*
 * options.c - the MACHINE options of the command line, in QEMU's spelling.
 *
 * Every option is one row of the table below: its name, whether it takes a
 * value, and the function that stores it.  A bad option or value ends the
 * program with one line naming it and exit status 2, before anything runs.
 */
#include "machine.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The RTC's default start: fixed, so that two runs see the same dates. */
#define DEFAULT_RTC_BASE 1704067200 /* 2024-01-01T00:00:00Z */

static _Noreturn void bad(const char *opt, const char *val, const char *why)
{
	if (val)
		fatal(EXIT_USAGE, "option %s: invalid value '%s': %s", opt, val, why);
	fatal(EXIT_USAGE, "option %s: %s", opt, why);
}

/* A decimal number with no sign and no junk after it. */
static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* -m: "128", "128M", "1G", "size=128M" (QEMU's forms); megabytes. */
static void opt_mem(MachineOptions *o, const char *opt, const char *val)
{
	const char *s = strncmp(val, "size=", 5) == 0 ? val + 5 : val;
	char num[32];
	size_t n = strspn(s, "0123456789");
	uint64_t v, mul = 1;

	if (n == 0 || n >= sizeof(num))
		bad(opt, val, "expected a size in megabytes, e.g. 128 or 1G");
	memcpy(num, s, n);
	num[n] = 0;
	if (s[n] == 'G' || s[n] == 'g')
		mul = 1024;
	else if (s[n] && s[n] != 'M' && s[n] != 'm')
		bad(opt, val, "unknown size suffix (use M or G)");
	if (s[n] && s[n + 1])
		bad(opt, val, "junk after the size");
	if (!parse_u64(num, &v) || v > UINT32_MAX)
		bad(opt, val, "size out of range");
	v *= mul;
	if (v == 0)
		bad(opt, val, "the machine needs some RAM (at least 1 MB)");
	if (v > MACHINE_MAX_RAM_MB)
		bad(opt, val, "more RAM than a 32-bit PC can map below the I/O hole (max 3584 MB)");
	o->ram_mb = v;
}

static void opt_serial(MachineOptions *o, const char *opt, const char *val)
{
	if (strcmp(val, "stdio") == 0 || strcmp(val, "mon:stdio") == 0) {
		o->serial = SERIAL_STDIO;
	} else if (strcmp(val, "null") == 0 || strcmp(val, "none") == 0) {
		o->serial = SERIAL_NULL;
	} else if (strncmp(val, "file:", 5) == 0 && val[5]) {
		o->serial = SERIAL_FILE;
		o->serial_path = val + 5;
	} else {
		bad(opt, val, "expected stdio, file:PATH or null");
	}
}

static int parse_port(const char *opt, const char *val, const char *s)
{
	uint64_t p;

	if (!parse_u64(s, &p) || p == 0 || p > 65535)
		bad(opt, val, "expected a TCP port 1-65535");
	return (int)p;
}

/*
 * -gdb tcp::PORT or tcp:HOST:PORT.  An empty host, as in QEMU's tcp::PORT,
 * leaves gdb_host NULL (127.0.0.1): the stub is reachable from other
 * machines only when the user names an address.
 */
static void opt_gdb(MachineOptions *o, const char *opt, const char *val)
{
	static char host[64];
	const char *colon;
	size_t len;

	if (strncmp(val, "tcp:", 4) != 0)
		bad(opt, val, "expected tcp::PORT");
	colon = strrchr(val, ':');
	o->gdb_port = parse_port(opt, val, colon + 1);
	len = colon > val + 4 ? (size_t)(colon - (val + 4)) : 0; /* "tcp:PORT": none */
	if (len >= sizeof(host))
		bad(opt, val, "the host name is too long");
	memcpy(host, val + 4, len);
	host[len] = '\0';
	o->gdb_host = len ? host : NULL;
}

/* -icount shift=N, or just N, as QEMU takes it. */
static void opt_icount(MachineOptions *o, const char *opt, const char *val)
{
	const char *s = strncmp(val, "shift=", 6) == 0 ? val + 6 : val;
	uint64_t v;

	if (!parse_u64(s, &v) || v > 10)
		bad(opt, val, "expected shift=N with N from 0 to 10");
	o->icount_shift = (int)v;
}

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* -rtc base=utc|localtime|YYYY-MM-DD[THH:MM:SS] */
static void opt_rtc(MachineOptions *o, const char *opt, const char *val)
{
	int y, mo, d, h = 0, mi = 0, s = 0, n = 0, t = 0;
	const char *b;

	if (strncmp(val, "base=", 5) != 0)
		bad(opt, val, "expected base=utc, base=localtime or base=YYYY-MM-DDTHH:MM:SS");
	b = val + 5;
	if (strcmp(b, "utc") == 0 || strcmp(b, "localtime") == 0) {
		time_t now = time(NULL);
		if (strcmp(b, "localtime") == 0) {
			struct tm tm;
			localtime_r(&now, &tm);
			now += tm.tm_gmtoff;
		}
		o->rtc_base = now;
		return;
	}
	if (sscanf(b, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		bad(opt, val, "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
	if (b[n] && (sscanf(b + n, "T%2d:%2d:%2d%n", &h, &mi, &s, &t) != 3 || b[n + t]))
		bad(opt, val, "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
	if (y < 1970 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    s > 59 || h < 0 || mi < 0 || s < 0)
		bad(opt, val, "date out of range (1970-2099)");
	o->rtc_base = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static void opt_max_insns(MachineOptions *o, const char *opt, const char *val)
{
	if (!parse_u64(val, &o->max_insns) || o->max_insns == 0)
		bad(opt, val, "expected a positive instruction count");
}

/* Options that store a string. */
#define STR_OPT(field)                                                               \
	static void opt_##field(MachineOptions *o, const char *opt, const char *val) \
	{                                                                            \
		if (!*val)                                                           \
			bad(opt, NULL, "needs a non-empty value");                   \
		o->field = val;                                                      \
	}
STR_OPT(kernel)
STR_OPT(initrd)
STR_OPT(bios)

/* ---- drives: -hda..-hdd, -cdrom, -drive ------------------------------------ */

static void set_drive(MachineOptions *o, const char *opt, int index, const DriveOptions *d)
{
	if (o->drives[index].file)
		fatal(EXIT_USAGE, "option %s: IDE index %d is taken already (by %s %s)", opt, index,
		      o->drives[index].spelling, o->drives[index].file);
	o->drives[index] = *d;
}

/* -hda FILE is -drive file=FILE,index=0 (and so on); -cdrom is index 2. */
static void opt_hdx(MachineOptions *o, const char *opt, const char *val)
{
	const char *name = opt + (opt[1] == '-' ? 2 : 1);
	DriveOptions d = {.file = val, .spelling = opt};

	if (!*val)
		bad(opt, NULL, "needs a file name");
	if (strcmp(name, "cdrom") == 0) {
		d.cdrom = true;
		set_drive(o, opt, 2, &d);
	} else {
		set_drive(o, opt, name[2] - 'a', &d);
	}
}

/* A yes/no value of -drive as QEMU spells them. */
static bool parse_onoff(const char *opt, const char *val, const char *key, const char *v)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0)
		return true;
	if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0)
		return false;
	fatal(EXIT_USAGE, "option %s: invalid value '%s': %s must be on or off", opt, val, key);
}

/*
 * Split the next key=value of a -drive string into @buf (",," stands for a
 * comma in a value, as in QEMU); returns the rest, or NULL at the end.
 */
static const char *next_pair(const char *p, char *buf, size_t size, const char *opt,
			     const char *val)
{
	size_t n = 0;

	if (!*p)
		return NULL;
	while (*p && !(*p == ',' && p[1] != ',')) {
		if (*p == ',')
			p++; /* ",," */
		if (n + 1 >= size)
			bad(opt, val, "a value is too long");
		buf[n++] = *p++;
	}
	buf[n] = 0;
	return *p ? p + 1 : p;
}

/* -drive file=F[,format=raw][,if=ide][,index=N][,media=disk|cdrom][,snapshot=on|off] */
static void opt_drive(MachineOptions *o, const char *opt, const char *val)
{
	static char store[MACHINE_DRIVES * 2][4096];
	static int used;
	char pair[4096];
	DriveOptions d = {.spelling = opt};
	int index = -1;
	const char *p = val;

	while ((p = next_pair(p, pair, sizeof(pair), opt, val)) != NULL) {
		char *eq = strchr(pair, '='), *v;
		uint64_t n;

		if (!eq)
			fatal(EXIT_USAGE, "option %s: '%s' is not key=value", opt, pair);
		*eq = 0;
		v = eq + 1;
		if (strcmp(pair, "file") == 0) {
			if (!*v || used == ARRAY_SIZE(store))
				bad(opt, val, "file= needs a file name (one per drive)");
			d.file = strcpy(store[used++], v);
		} else if (strcmp(pair, "format") == 0) {
			if (strcmp(v, "raw") != 0)
				bad(opt, val, "only format=raw images are supported");
		} else if (strcmp(pair, "if") == 0) {
			if (strcmp(v, "ide") != 0)
				bad(opt, val, "only if=ide drives exist on this PC");
		} else if (strcmp(pair, "index") == 0) {
			if (!parse_u64(v, &n) || n >= MACHINE_DRIVES)
				bad(opt, val,
				    "index must be 0-3 (primary master, slave, secondary master, "
				    "slave)");
			index = (int)n;
		} else if (strcmp(pair, "media") == 0) {
			if (strcmp(v, "cdrom") == 0)
				d.cdrom = true;
			else if (strcmp(v, "disk") != 0)
				bad(opt, val, "media must be disk or cdrom");
		} else if (strcmp(pair, "snapshot") == 0) {
			d.snapshot =
			    parse_onoff(opt, val, "snapshot", v) ? SNAPSHOT_ON : SNAPSHOT_OFF;
		} else {
			fatal(EXIT_USAGE,
			      "option %s: unknown key '%s' (known: file, format, if, index, media, "
			      "snapshot)",
			      opt, pair);
		}
	}
	if (!d.file)
		bad(opt, val, "file=FILE is missing");
	if (index < 0) {
		/* As QEMU: the first free index. */
		for (index = 0; index < MACHINE_DRIVES && o->drives[index].file; index++)
			;
		if (index == MACHINE_DRIVES)
			bad(opt, val, "all four IDE positions are taken");
	}
	set_drive(o, opt, index, &d);
}

static void opt_snapshot(MachineOptions *o, const char *opt, const char *val)
{
	o->snapshot_all = true;
}

/* -boot [order=]DRIVES: up to three of a (floppy), c (disk), d (CD-ROM), n (network). */
static void opt_boot(MachineOptions *o, const char *opt, const char *val)
{
	const char *s = strncmp(val, "order=", 6) == 0 ? val + 6 : val;
	size_t n = strlen(s);

	if (n == 0 || n > 3 || strspn(s, "acdn") != n)
		bad(opt, val, "expected up to three of a, c, d, n (e.g. -boot d for the CD-ROM)");
	o->boot_order = s;
}

static void opt_vga(MachineOptions *o, const char *opt, const char *val)
{
	if (strcmp(val, "none") == 0)
		o->no_vga = true;
	else if (strcmp(val, "std") == 0)
		o->no_vga = false;
	else
		bad(opt, val, "expected std or none");
}

static void opt_append(MachineOptions *o, const char *opt, const char *val)
{
	o->append = val;
}

static void opt_s(MachineOptions *o, const char *opt, const char *val)
{
	o->gdb_port = 1234;
	o->gdb_host = NULL;
}

static void opt_S(MachineOptions *o, const char *opt, const char *val)
{
	o->gdb_wait = true;
}

static void opt_no_reboot(MachineOptions *o, const char *opt, const char *val)
{
	o->no_reboot = true;
}

static void opt_dump_mtree(MachineOptions *o, const char *opt, const char *val)
{
	o->dump_mtree = true;
}

static void opt_stats(MachineOptions *o, const char *opt, const char *val)
{
	o->stats = true;
}

/* As QEMU: the serial port on stdio and no display. */
static void opt_nographic(MachineOptions *o, const char *opt, const char *val)
{
	o->serial = SERIAL_STDIO;
	o->display = DISPLAY_NONE;
}

static void opt_display(MachineOptions *o, const char *opt, const char *val)
{
	if (strcmp(val, "none") == 0)
		o->display = DISPLAY_NONE;
	else if (strcmp(val, "curses") == 0)
		o->display = DISPLAY_CURSES;
	else
		bad(opt, val, "expected curses (the text screen in the terminal) or none");
}

static const struct option_row {
	const char *name;
	bool has_value;
	void (*set)(MachineOptions *o, const char *opt, const char *val);
	const char *help;
} options[] = {
    {"kernel", true, opt_kernel, "FILE     multiboot or Linux bzImage kernel"},
    {"initrd", true, opt_initrd, "FILE     initial ramdisk (Linux) or module (multiboot)"},
    {"append", true, opt_append, "STR      kernel command line"},
    {"bios", true, opt_bios, "FILE       BIOS image started from the reset vector"},
    {"m", true, opt_mem, "MB            RAM size (default 128; suffix M or G)"},
    {"hda", true, opt_hdx, "FILE        raw disk image, primary master (IDE index 0)"},
    {"hdb", true, opt_hdx, "FILE        raw disk image, primary slave (index 1)"},
    {"hdc", true, opt_hdx, "FILE        raw disk image, secondary master (index 2)"},
    {"hdd", true, opt_hdx, "FILE        raw disk image, secondary slave (index 3)"},
    {"cdrom", true, opt_hdx, "FILE      ISO image in an ATAPI CD-ROM, secondary master"},
    {"drive", true, opt_drive, "file=F[,index=N][,media=cdrom][,snapshot=on|off]  an IDE drive"},
    {"boot", true, opt_boot, "[order=]DRIVES  boot order: c disk, d CD-ROM (default c)"},
    {"snapshot", false, opt_snapshot,
     "       disks keep their writes in memory (the image stays as it is)"},
    {"serial", true, opt_serial, "DEV      stdio (default), file:PATH or null"},
    {"nographic", false, opt_nographic, "        -serial stdio and no display"},
    {"display", true, opt_display, "curses|none  the text screen in the terminal, or not"},
    {"vga", true, opt_vga, "std|none     a VGA adapter (default) or none"},
    {"gdb", true, opt_gdb, "tcp::PORT   wait for gdb connections on PORT"},
    {"s", false, opt_s, "               same as -gdb tcp::1234"},
    {"S", false, opt_S, "               do not start the CPU until gdb says so"},
    {"icount", true, opt_icount, "shift=N  virtual ns per instruction = 2^N (default 0)"},
    {"rtc", true, opt_rtc, "base=utc|DATE  RTC start (default 2024-01-01T00:00:00)"},
    {"no-reboot", false, opt_no_reboot, "        exit instead of rebooting on reset"},
    {"max-insns", true, opt_max_insns, "N     stop after N instructions (or a halt that long)"},
    {"dump-mtree", false, opt_dump_mtree, "      print the memory map and exit"},
    {"stats", false, opt_stats, "           at the end, print the icount and virtual time"},
};

void machine_options_usage(FILE *out)
{
	size_t i;

	fputs("MACHINE options:\n", out);
	for (i = 0; i < ARRAY_SIZE(options); i++)
		fprintf(out, "  -%s %s\n", options[i].name, options[i].help);
}

static void defaults(MachineOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->ram_mb = 128;
	o->serial = SERIAL_STDIO;
	o->rtc_base = DEFAULT_RTC_BASE;
}

void machine_options_parse(MachineOptions *o, int argc, char **argv)
{
	int i;

	defaults(o);
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *name;
		size_t k;

		if (arg[0] != '-' || !arg[1])
			fatal(EXIT_USAGE, "unexpected argument '%s' (options start with -)", arg);
		/* QEMU accepts -opt and --opt alike. */
		name = arg + (arg[1] == '-' ? 2 : 1);
		for (k = 0; k < ARRAY_SIZE(options); k++)
			if (strcmp(name, options[k].name) == 0)
				break;
		if (k == ARRAY_SIZE(options))
			fatal(EXIT_USAGE, "unknown option '%s' (see flashback --help)", arg);
		if (options[k].has_value) {
			if (i + 1 >= argc)
				fatal(EXIT_USAGE, "option %s needs a value", arg);
			options[k].set(o, arg, argv[++i]);
		} else {
			options[k].set(o, arg, NULL);
		}
	}
	if (o->initrd && !o->kernel)
		fatal(EXIT_USAGE, "-initrd needs -kernel");
	if (o->append && !o->kernel)
		fatal(EXIT_USAGE, "-append needs -kernel");
	if (o->display == DISPLAY_CURSES && o->serial == SERIAL_STDIO)
		fatal(EXIT_USAGE,
		      "-display curses needs the terminal that -serial stdio uses: give "
		      "-serial file:PATH or -serial null");
	if (o->display == DISPLAY_CURSES && o->no_vga)
		fatal(EXIT_USAGE,
		      "-display curses shows the VGA text screen: it does not go with -vga none");
}
