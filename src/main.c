/*
 * main.c - the flashback command: dispatch to a subcommand.
 *
 * Each subcommand is one row of the table: its name, its one-line synopsis
 * for --help, and the function that runs it.  Exit statuses: what the guest
 * asked for (run, demo), 2 for bad usage or input, 3 for a replay
 * divergence, 4 for a host failure.
 */
#include "machine/machine.h"
#include "gdb/gdb.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The built-in demo guest and its disk (guest/demo, embedded at build time). */
extern const unsigned char demo_kernel[], demo_disk[];
extern const unsigned long demo_kernel_len, demo_disk_len;

static void dump_mtree(Machine *m)
{
	as_dump_tree(m->memory, stdout);
	as_dump_tree(m->io, stdout);
	putchar('\n');
	as_dump_flat(m->memory, stdout);
	as_dump_flat(m->io, stdout);
}

static int run_machine(const MachineOptions *o, enum run_end *end)
{
	Machine *m = machine_new(o);
	int status;

	if (o->dump_mtree) {
		dump_mtree(m);
		machine_free(m);
		*end = RUN_QUIT;
		return 0;
	}
	if (o->gdb_wait && !o->gdb_port)
		fatal(EXIT_USAGE, "-S needs -s or -gdb: only gdb can start the CPU");
	if (o->gdb_port) {
		m->gdb = gdb_live_new(m, o->gdb_host, o->gdb_port, o->gdb_wait);
		fprintf(stderr, "flashback: gdb stub on %s:%d%s\n",
			o->gdb_host ? o->gdb_host : "127.0.0.1", o->gdb_port,
			o->gdb_wait ? ", waiting for gdb to start the CPU" : "");
	}
	status = machine_run(m);
	*end = m->end;
	gdb_free(m->gdb);
	m->gdb = NULL;
	machine_free(m);
	return status;
}

/*
 * The host of -gdb tcp:HOST:PORT (the options parser keeps the port).
 * An empty host, as in QEMU's tcp::PORT, means 127.0.0.1: the stub is
 * reachable from other machines only when the user names an address.
 */
static const char *gdb_host_arg(int argc, char **argv)
{
	static char host[64];
	const char *found = NULL;

	for (int i = 0; i + 1 < argc; i++) {
		const char *v = argv[i + 1], *colon;

		if (strcmp(argv[i], "-gdb") != 0 && strcmp(argv[i], "--gdb") != 0)
			continue;
		colon = strrchr(v, ':');
		found = NULL;
		if (strncmp(v, "tcp:", 4) == 0 && colon > v + 4 &&
		    (size_t)(colon - (v + 4)) < sizeof(host)) {
			snprintf(host, sizeof(host), "%.*s", (int)(colon - (v + 4)), v + 4);
			found = host;
		}
		i++;
	}
	return found;
}

static int cmd_run(int argc, char **argv)
{
	MachineOptions o;
	enum run_end end;

	machine_options_parse(&o, argc, argv);
	o.gdb_host = gdb_host_arg(argc, argv);
	return run_machine(&o, &end);
}

/*
 * The demo: the built-in guest prints a banner, takes timer interrupts,
 * reads a sector by DMA and echoes what is typed, then leaves through the
 * isa-debug-exit port with 0, which QEMU's convention turns into status 1.
 */
static int cmd_demo(int argc, char **argv)
{
	MachineOptions o;
	enum run_end end;
	int status;

	machine_options_parse(&o, argc, argv);
	o.gdb_host = gdb_host_arg(argc, argv);
	if (o.kernel || o.bios)
		fatal(EXIT_USAGE, "demo: the demo brings its own guest (no -kernel or -bios)");
	o.kernel_image = demo_kernel;
	o.kernel_image_len = demo_kernel_len;
	if (!o.hda) {
		o.disk_image = demo_disk;
		o.disk_image_len = demo_disk_len;
	}
	status = run_machine(&o, &end);
	if (end != RUN_EXIT)
		return status; /* stopped on the user's word, not the guest's */
	if (status != 1) {
		fprintf(stderr, "flashback: demo guest ended with status %d (expected 1)\n", status);
		return status ? status : 1;
	}
	printf("\n"
	       "The demo guest ran to its end.  Next, try:\n"
	       "  flashback run -kernel build/tests/guests/hello.elf -serial stdio\n"
	       "  flashback run --help\n");
	return 0;
}

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
	printf("flashback 0.1.0\n");
	return 0;
}

static const struct command {
	const char *name;
	const char *synopsis;
	int (*run)(int argc, char **argv);
} commands[] = {
	{"run", "run [MACHINE]                  run a guest live", cmd_run},
	{"demo", "demo                           run the built-in demo guest", cmd_demo},
	{"help", "help                           this text", cmd_help},
	{"version", "version                        print the version", cmd_version},
};

/* Planned subcommands: named so that users get a clear answer. */
static const char *const planned[] = {"record", "replay", "gdb",    "info", "query",
				      "events", "console", "disasm", "export", "trace"};

static int cmd_help(int argc, char **argv)
{
	size_t i;

	printf("usage: flashback COMMAND [options]\n\ncommands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		printf("  flashback %s\n", commands[i].synopsis);
	printf("\n");
	machine_options_usage(stdout);
	printf("\nExit status: the guest's (isa-debug-exit: (value << 1) | 1), 2 bad usage or\n"
	       "input, 4 host failure.  See README.md.\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *name;
	size_t i;

	if (argc < 2) {
		cmd_help(0, NULL);
		return EXIT_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		return cmd_help(0, NULL);
	if (strcmp(name, "--version") == 0)
		return cmd_version(0, NULL);
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(name, commands[i].name) == 0) {
			/* "flashback run --help" */
			if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0))
				return cmd_help(0, NULL);
			return commands[i].run(argc - 2, argv + 2);
		}
	}
	for (i = 0; i < ARRAY_SIZE(planned); i++)
		if (strcmp(name, planned[i]) == 0)
			fatal(EXIT_USAGE, "'%s' is not implemented yet (see README: status)", name);
	fatal(EXIT_USAGE, "unknown command '%s' (see flashback --help)", name);
}
