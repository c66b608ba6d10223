/*
 * The init program of Flashback's Linux test guest: a tiny shell that talks
 * to /dev/console, with no libc (raw i386 system calls through int $0x80),
 * so that it is small, static and the same on every build machine.
 *
 * Commands: echo ARGS, ls [DIR], cat FILE, uname, work [ROUNDS] (a CPU
 * workload printing a checksum), exit N (writes N to the debug-exit port
 * 0xF4), reboot and poweroff (both restart the machine, which an emulator
 * run with -no-reboot turns into an exit: a PC without ACPI cannot power
 * off), help.
 *
 * Build: gcc -m32 -static -nostdlib -fno-pie -no-pie -ffreestanding
 *        -fno-stack-protector -O2 -o init init.c
 */

typedef unsigned int u32;
typedef unsigned long long u64;

/* i386 system call numbers (arch/x86/entry/syscalls/syscall_32.tbl). */
enum {
	SYS_EXIT = 1,
	SYS_READ = 3,
	SYS_WRITE = 4,
	SYS_OPEN = 5,
	SYS_CLOSE = 6,
	SYS_MOUNT = 21,
	SYS_MKDIR = 39,
	SYS_REBOOT = 88,
	SYS_IOPERM = 101,
	SYS_UNAME = 122,
	SYS_GETDENTS64 = 220,
};

enum { O_RDONLY = 0, O_DIRECTORY = 0200000 };

/* reboot(2)'s magic numbers and the restart command. */
#define REBOOT_MAGIC1 0xfee1deadu
#define REBOOT_MAGIC2 672274793u
#define REBOOT_CMD_RESTART 0x01234567u

#define DEBUG_EXIT_PORT 0xf4

static long syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}

static long syscall5(long nr, long a, long b, long c, long d, long e)
{
	long ret;

	/* Built without PIE, so %ebx is free to carry the first argument. */
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
			 : "memory");
	return ret;
}

/* gcc may emit calls to these for struct copies and zeroing. */
void *memset(void *dst, int c, unsigned long n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *dst, const void *src, unsigned long n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

static unsigned long str_len(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

static int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static void put(const char *s)
{
	syscall3(SYS_WRITE, 1, (long)s, (long)str_len(s));
}

static void put_err(const char *what, const char *name, long err)
{
	static const char digits[] = "0123456789";
	char num[12];
	int i = sizeof(num) - 1;
	unsigned long e = (unsigned long)-err;

	num[i] = 0;
	do
		num[--i] = digits[e % 10];
	while ((e /= 10) && i > 0);
	put(what);
	put(": ");
	put(name);
	put(": error ");
	put(num + i);
	put("\n");
}

static void put_hex(u32 v)
{
	char buf[11] = "0x";

	for (int i = 0; i < 8; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
	buf[10] = 0;
	put(buf);
}

static void put_dec(u32 v)
{
	char buf[12];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) && i > 0);
	put(buf + i);
}

static u32 parse_uint(const char *s, int *ok)
{
	u32 v = 0;

	*ok = *s != 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9') {
			*ok = 0;
			return 0;
		}
		v = v * 10 + (u32)(*s - '0');
	}
	return v;
}

static void cmd_echo(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		put(argv[i]);
		put(i + 1 < argc ? " " : "");
	}
	put("\n");
}

/* struct linux_dirent64: inode, offset, record length, type, name. */
struct dirent64 {
	u64 ino;
	long long off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static void cmd_ls(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/";
	static char buf[4096] __attribute__((aligned(8)));
	long fd = syscall3(SYS_OPEN, (long)dir, O_RDONLY | O_DIRECTORY, 0);
	long n;

	if (fd < 0) {
		put_err("ls", dir, fd);
		return;
	}
	while ((n = syscall3(SYS_GETDENTS64, fd, (long)buf, sizeof(buf))) > 0) {
		for (long pos = 0; pos < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + pos);

			if (!str_eq(d->name, ".") && !str_eq(d->name, "..")) {
				put(d->name);
				put(d->type == 4 ? "/\n" : "\n");
			}
			pos += d->reclen;
		}
	}
	if (n < 0)
		put_err("ls", dir, n);
	syscall3(SYS_CLOSE, fd, 0, 0);
}

static void cmd_cat(int argc, char **argv)
{
	static char buf[4096];

	for (int i = 1; i < argc; i++) {
		long fd = syscall3(SYS_OPEN, (long)argv[i], O_RDONLY, 0);
		long n;

		if (fd < 0) {
			put_err("cat", argv[i], fd);
			continue;
		}
		while ((n = syscall3(SYS_READ, fd, (long)buf, sizeof(buf))) > 0)
			syscall3(SYS_WRITE, 1, (long)buf, n);
		if (n < 0)
			put_err("cat", argv[i], n);
		syscall3(SYS_CLOSE, fd, 0, 0);
	}
}

/* struct new_utsname: six NUL-terminated fields of 65 bytes. */
struct utsname {
	char sysname[65], nodename[65], release[65], version[65], machine[65], domain[65];
};

static void cmd_uname(int argc, char **argv)
{
	struct utsname u;
	long err = syscall3(SYS_UNAME, (long)&u, 0, 0);

	if (err < 0) {
		put_err("uname", "uname", err);
		return;
	}
	put(u.sysname);
	put(" ");
	put(u.release);
	put(" ");
	put(u.machine);
	put("\n");
}

/*
 * A CPU workload whose result depends on every step: a sieve of primes
 * below 65536, a CRC-32 over the sieve, then a loop of multiplies, divides
 * and rotates seeded by the CRC.  Deterministic, so the checksum is known
 * from a native run and the same on any correct CPU.
 */
static u32 workload(u32 rounds)
{
	static unsigned char composite[65536];
	u32 crc = 0xffffffffu, x, primes = 0;

	for (u32 r = 0; r < rounds; r++) {
		memset(composite, 0, sizeof(composite));
		for (u32 i = 2; i < sizeof(composite); i++) {
			if (composite[i])
				continue;
			primes++;
			for (u32 j = i * 2; j < sizeof(composite); j += i)
				composite[j] = 1;
		}
		for (u32 i = 0; i < sizeof(composite); i++) {
			crc ^= composite[i] ^ (i & 0xff);
			for (int b = 0; b < 8; b++)
				crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
		}
	}
	x = crc ^ primes;
	for (u32 i = 1; i <= 100000 * rounds; i++) {
		x = x * 2654435761u + i;
		x ^= x / (i | 1);
		x = (x << 7) | (x >> 25);
	}
	return x;
}

static void cmd_work(int argc, char **argv)
{
	int ok = 1;
	u32 rounds = argc > 1 ? parse_uint(argv[1], &ok) : 1;

	if (!ok || rounds == 0 || rounds > 1000) {
		put("work: rounds must be 1 to 1000\n");
		return;
	}
	put("work: rounds ");
	put_dec(rounds);
	put(" checksum ");
	put_hex(workload(rounds));
	put("\n");
}

static void restart(void)
{
	long err = syscall3(SYS_REBOOT, (long)REBOOT_MAGIC1, (long)REBOOT_MAGIC2,
			    (long)REBOOT_CMD_RESTART);

	put_err("reboot", "reboot", err);
}

static void cmd_reboot(int argc, char **argv)
{
	put("Restarting the machine\n");
	restart();
}

static void cmd_poweroff(int argc, char **argv)
{
	/* No ACPI, so no soft-off: a restart ends an emulator run with -no-reboot. */
	put("Powering off (by a restart: this PC has no ACPI)\n");
	restart();
}

static void cmd_exit(int argc, char **argv)
{
	int ok = 1;
	u32 status = argc > 1 ? parse_uint(argv[1], &ok) : 0;
	long err;

	if (!ok || status > 255) {
		put("exit: status must be 0 to 255\n");
		return;
	}
	err = syscall3(SYS_IOPERM, DEBUG_EXIT_PORT, 4, 1);
	if (err < 0) {
		put_err("exit", "ioperm", err);
		return;
	}
	__asm__ volatile("outb %b0, %w1" : : "a"(status), "Nd"(DEBUG_EXIT_PORT));
	/* Still here: no debug-exit device on this machine. */
	put("exit: port 0xf4 did not end the machine\n");
}

static void cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	void (*run)(int argc, char **argv);
} commands[] = {
	{ "echo", cmd_echo },	  { "ls", cmd_ls },	    { "cat", cmd_cat },
	{ "uname", cmd_uname },	  { "work", cmd_work },	    { "reboot", cmd_reboot },
	{ "poweroff", cmd_poweroff }, { "exit", cmd_exit }, { "help", cmd_help },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void cmd_help(int argc, char **argv)
{
	put("commands:");
	for (unsigned i = 0; i < NCOMMANDS; i++) {
		put(" ");
		put(commands[i].name);
	}
	put("\n");
}

/* Splits line in place at blanks; returns the number of words. */
static int split(char *line, char **argv, int max)
{
	int argc = 0;

	while (*line) {
		while (*line == ' ' || *line == '\t')
			*line++ = 0;
		if (!*line)
			break;
		if (argc == max)
			return -1;
		argv[argc++] = line;
		while (*line && *line != ' ' && *line != '\t')
			line++;
	}
	return argc;
}

static void run_line(char *line)
{
	char *argv[16];
	int argc = split(line, argv, 16);

	if (argc < 0) {
		put("sh: too many words\n");
		return;
	}
	if (argc == 0)
		return;
	for (unsigned i = 0; i < NCOMMANDS; i++) {
		if (str_eq(argv[0], commands[i].name)) {
			commands[i].run(argc, argv);
			return;
		}
	}
	put("sh: ");
	put(argv[0]);
	put(": not found\n");
}

/* Reads one line (without its newline); returns -1 at end of input. */
static int read_line(char *buf, int size)
{
	int n = 0;
	char c;

	for (;;) {
		long r = syscall3(SYS_READ, 0, (long)&c, 1);

		if (r <= 0)
			return n > 0 ? n : -1;
		if (c == '\n' || c == '\r')
			break;
		if (n < size - 1)
			buf[n++] = c;
	}
	buf[n] = 0;
	return n;
}

static void mount_fs(const char *type, const char *dir)
{
	long err;

	syscall3(SYS_MKDIR, (long)dir, 0755, 0);
	err = syscall5(SYS_MOUNT, (long)type, (long)dir, (long)type, 0, 0);
	/* -EBUSY: already there (the kernel mounts devtmpfs on a disk root) */
	if (err < 0 && err != -16)
		put_err("mount", dir, err);
}

static void main_loop(void)
{
	static char line[256];

	put("\nFlashback tiny shell (init.c). Type help for the commands.\n");
	mount_fs("proc", "/proc");
	mount_fs("sysfs", "/sys");
	mount_fs("devtmpfs", "/dev");
	for (;;) {
		put("# ");
		if (read_line(line, sizeof(line)) < 0) {
			put("\nsh: end of input\n");
			restart();
			/* init must not exit: the kernel would panic. */
			for (;;)
				syscall3(SYS_READ, 0, (long)line, 1);
		}
		run_line(line);
	}
}

__attribute__((force_align_arg_pointer, noreturn)) void start_c(void)
{
	main_loop();
	for (;;)
		syscall3(SYS_EXIT, 0, 0, 0);
}

__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	call start_c\n"
	"	hlt\n");
