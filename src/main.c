/*
 * main.c - the flashback command: dispatch to a subcommand.
 *
 * Each subcommand is one row of the table: its name, its one-line synopsis
 * for --help, and the function that runs it.  Exit statuses: what the guest
 * asked for (run, demo), 2 for bad usage or input, 3 for a replay
 * divergence, 4 for a host failure.
 */
#include "exec/cpu.h"
#include "machine/machine.h"
#include "replay/replay.h"
#include "gdb/gdb.h"
#include "../tools/tools.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

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
	Machine *m = machine_new(o, NULL);
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

static int cmd_run(int argc, char **argv)
{
	MachineOptions o;
	enum run_end end;

	machine_options_parse(&o, argc, argv);
	return run_machine(&o, &end);
}

/* ---- record, replay, info (src/replay/replay.h) --------------------------- */

/* A number option's value; one line and exit 2 if it is not a number. */
/* One number for option @opt (decimal or 0x hex, no sign), or exit 2. */
static uint64_t number_arg(const char *opt, const char *v)
{
	return tool_number(opt, v);
}

/* The machine options as one line, for the trace's metadata. */
static char *join_args(int argc, char **argv)
{
	size_t len = 1;
	char *s;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = xcalloc(1, len);
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/*
 * Run the machine of @o live while recording it into @ro->dir.  The guest's
 * status is returned, as for run; *rec_ok says whether the trace was closed
 * cleanly.  @console, if not NULL, gets the console bytes recorded.
 */
static int record_machine(const MachineOptions *o, const RecordOptions *ro, enum run_end *end,
			  bool *rec_ok, char **console, size_t *console_len)
{
	MachineOptions mo = *o;
	Machine *m;
	Recorder *r;
	int status;

	if (o->gdb_port)
		fatal(EXIT_USAGE, "record: -gdb/-s is not supported while recording");
	/* A recording never changes the user's disk images unless a drive says
	 * snapshot=off: what the guest wrote is in the trace anyway (the
	 * journalled port reads and DMA give it back in replay). */
	mo.snapshot_default = true;
	r = record_new();
	m = machine_new(&mo, record_observer(r));
	record_start(r, m, ro);
	status = machine_run(m);
	*end = m->end;
	*rec_ok = record_finish(r);
	if (console) {
		const uint8_t *c = record_console(r, console_len);
		*console = xmalloc(*console_len + 1);
		if (*console_len)
			memcpy(*console, c, *console_len);
	}
	machine_free(m);
	return status;
}

static int cmd_record(int argc, char **argv)
{
	MachineOptions o;
	RecordOptions ro = {0};
	char **rest = xcalloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0, status;
	enum run_end end;
	bool ok;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			if (i + 1 >= argc)
				fatal(EXIT_USAGE, "-o needs a trace directory");
			ro.dir = argv[++i];
		} else if (strcmp(argv[i], "--check-interval") == 0) {
			ro.check_interval = number_arg(argv[i], argv[i + 1]);
			i++;
		} else if (strcmp(argv[i], "--chunk-events") == 0) {
			ro.chunk_events = (uint32_t)number_arg(argv[i], argv[i + 1]);
			i++;
		} else if (strcmp(argv[i], "--snapshot-interval") == 0) {
			ro.snapshot_interval = number_arg(argv[i], argv[i + 1]);
			i++;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	if (!ro.dir)
		fatal(EXIT_USAGE, "record: give the trace directory with -o TRACE");
	machine_options_parse(&o, nrest, rest);
	ro.machine_options = join_args(nrest, rest);
	status = record_machine(&o, &ro, &end, &ok, NULL, NULL);
	free(rest);
	free((char *)ro.machine_options);
	if (!ok && status == 0)
		return EXIT_INTERNAL;
	return status;
}

/* `flashback gdb TRACE [--port P] [--host H] [--snapshot-memory MB]` */
static int cmd_gdb(int argc, char **argv)
{
	GdbReplayOptions go = {
	    .port = 1234, .history_header = history_header, .history_line = history_line};
	uint64_t v;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0) {
			v = number_arg(argv[i], argv[i + 1]);
			if (v == 0 || v > 65535)
				fatal(EXIT_USAGE, "--port %s: expected a TCP port 1-65535", argv[i + 1]);
			go.port = (int)v;
			i++;
		} else if (strcmp(argv[i], "--host") == 0) {
			if (!argv[i + 1])
				fatal(EXIT_USAGE, "--host needs an address");
			go.host = argv[++i];
		} else if (strcmp(argv[i], "--snapshot-memory") == 0) {
			v = number_arg(argv[i], argv[i + 1]);
			if (v == 0 || v > ((uint64_t)SIZE_MAX >> 21))
				fatal(EXIT_USAGE, "--snapshot-memory %s: expected megabytes (> 0)",
				      argv[i + 1]);
			go.cache_bytes = (size_t)v << 20;
			i++;
		} else if (argv[i][0] == '-') {
			fatal(EXIT_USAGE, "gdb: unknown option '%s'", argv[i]);
		} else if (!go.dir) {
			go.dir = argv[i];
		} else {
			fatal(EXIT_USAGE, "gdb: one trace at a time ('%s')", argv[i]);
		}
	}
	if (!go.dir)
		fatal(EXIT_USAGE, "usage: flashback gdb TRACE [--port P] [--host H] "
				  "[--snapshot-memory MB]");
	return gdb_replay_serve(&go);
}

/* `flashback reindex TRACE`: the only command that writes a finished trace. */
static int cmd_reindex(int argc, char **argv)
{
	char err[TRACE_ERR_LEN];

	if (argc != 1 || argv[0][0] == '-')
		fatal(EXIT_USAGE, "usage: flashback reindex TRACE");
	if (!trace_reindex(argv[0], err))
		fatal(EXIT_USAGE, "%s", err);
	printf("%s/index.sqlite: written from the journal\n", argv[0]);
	return 0;
}

/*
 * The demo: the built-in guest prints a banner, takes timer interrupts,
 * reads a sector by DMA and echoes what is typed, then leaves through the
 * isa-debug-exit port with 0, which QEMU's convention turns into status 1.
 * It is recorded into a new $TMPDIR/flashback-demo-XXXXXX/demo.fbt (kept,
 * so that the user can replay it), then replayed, and both must agree.
 * The trace's name goes to stderr so that stdout stays the same from run
 * to run.
 */
static int cmd_demo(int argc, char **argv)
{
	MachineOptions o;
	RecordOptions rec = {.machine_options = "(the built-in demo)"};
	ToolReplay rep = {.snapshot = -1};
	enum run_end end;
	int status, rstatus;
	const char *tmp = getenv("TMPDIR"), *base;
	char dir[4096], *console, *again = NULL;
	size_t console_len, again_len = 0;
	FILE *mem;
	bool ok;

	machine_options_parse(&o, argc, argv);
	if (o.kernel || o.bios)
		fatal(EXIT_USAGE, "demo: the demo brings its own guest (no -kernel or -bios)");
	o.kernel_image = demo_kernel;
	o.kernel_image_len = demo_kernel_len;
	if (!o.drives[0].file) {
		o.disk_image = demo_disk;
		o.disk_image_len = demo_disk_len;
	}
	base = tmp && *tmp ? tmp : "/tmp";
	snprintf(dir, sizeof(dir), "%s/flashback-demo-XXXXXX", base);
	if (!mkdtemp(dir))
		fatal(EXIT_INTERNAL, "demo: cannot create a directory in %s: %s", base,
		      strerror(errno));
	strncat(dir, "/demo.fbt", sizeof(dir) - strlen(dir) - 1);
	rec.dir = dir;
	status = record_machine(&o, &rec, &end, &ok, &console, &console_len);
	if (end != RUN_EXIT && end != RUN_HALT) {
		free(console);
		return status; /* stopped on the user's word, not the guest's */
	}
	if (status != 1) {
		fprintf(stderr, "flashback: demo guest ended with status %d (expected 1)\n", status);
		free(console);
		return status ? status : 1;
	}
	if (!ok)
		fatal(EXIT_INTERNAL, "demo: the recording in %s could not be closed", dir);

	mem = open_memstream(&again, &again_len);
	rep.dir = dir;
	rep.console = mem;
	rstatus = tool_replay_run(&rep);
	fclose(mem);
	if (rstatus != 0) {
		fprintf(stderr, "flashback: demo: the replay of %s did not match (status %d)\n", dir,
			rstatus);
		return rstatus;
	}
	if (again_len != console_len || memcmp(again, console, console_len) != 0) {
		fprintf(stderr, "flashback: demo: the replay printed other console output\n");
		return EXIT_DIVERGENCE;
	}
	printf("\n"
	       "The demo guest ran to its end, recorded; replayed from the trace alone:\n"
	       "icount %" PRIu64 ", state hash %016" PRIx64 ", %zu console bytes identical.\n"
	       "Next, try (the trace's name is on stderr):\n"
	       "  flashback replay TRACE\n"
	       "  flashback replay TRACE --until %" PRIu64 "\n"
	       "  flashback info TRACE\n"
	       "  flashback run -kernel build/tests/guests/hello.elf -serial stdio\n",
	       rep.final_icount, rep.final_hash, console_len, rep.final_icount / 2);
	fflush(stdout);
	fprintf(stderr, "flashback: demo trace: %s\n", dir);
	free(console);
	free(again);
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
    {"record", "record -o TRACE [MACHINE]      run a guest and record it", cmd_record},
    {"replay", "replay TRACE [--until N] [--verify]  replay a recording", tools_replay},
    {"info", "info TRACE                     summary of a recording", tools_info},
    {"reindex", "reindex TRACE                  write the trace's index.sqlite afresh",
     cmd_reindex},
    {"gdb", "gdb TRACE [--port P] [--host H] [--snapshot-memory MB]  serve a recording to gdb",
     cmd_gdb},
    {"query", "query TRACE [--csv|--json] SQL read-only SQL over the trace's index", tools_query},
    {"events", "events TRACE [--kind K] [--port P] [--addr A] [--from N] [--to N]  recorded inputs",
     tools_events},
    {"console", "console TRACE [--grep TEXT]    the guest's console lines with their icount",
     tools_console},
    {"export", "export TRACE --perfetto FILE   a timeline for ui.perfetto.dev", tools_export},
    {"disasm", "disasm TRACE --at N [-n COUNT]  the instructions executed from icount N",
     tools_disasm},
    {"screen", "screen TRACE --at N [--color]  the VGA text screen at icount N", tools_screen},
    {"trace", "trace TRACE --from N --to M     an instruction trace of that range", tools_trace},
    {"history",
     "history TRACE --addr A [--len N] [--phys] [--from I] [--to J] [--save]  every "
     "write to that memory",
     tools_history},
    {"demo", "demo                           record and replay the built-in demo guest", cmd_demo},
    {"help", "help                           this text", cmd_help},
    {"version", "version                        print the version", cmd_version},
};

static int cmd_help(int argc, char **argv)
{
	size_t i;

	printf("usage: flashback COMMAND [options]\n\ncommands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		printf("  flashback %s\n", commands[i].synopsis);
	printf("\n");
	machine_options_usage(stdout);
	printf("\nEvery command: -accel jit|interp  run guest code as host code (the default on\n"
	       "x86-64 hosts) or interpret it; the results are the same.\n");
	printf("\nExit status: the guest's (isa-debug-exit: (value << 1) | 1), 2 bad usage or\n"
	       "input, 3 replay divergence, 4 host failure.  See README.md.\n");
	return 0;
}

/* "-accel interp|jit" anywhere after the command: the execution engine of
 * every CPU the command makes (src/exec/cpu.h).  Taken out of argv. */
static int take_accel(int argc, char **argv)
{
	int out = 2;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-accel") != 0 && strcmp(argv[i], "--accel") != 0) {
			argv[out++] = argv[i];
			continue;
		}
		enum cpu_accel a;

		if (i + 1 >= argc)
			fatal(EXIT_USAGE, "option -accel: expected interp or jit");
		if (!cpu_accel_parse(argv[i + 1], &a))
			fatal(EXIT_USAGE,
			      "option -accel: invalid value '%s': expected interp or jit",
			      argv[i + 1]);
		cpu_set_default_accel(a);
		i++;
	}
	argv[out] = NULL;
	return out;
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
	argc = take_accel(argc, argv);
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
	fatal(EXIT_USAGE, "unknown command '%s' (see flashback --help)", name);
}
