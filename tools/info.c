/*
 * info.c - flashback info TRACE: what a recording is of, its icount range,
 * its events by kind, its files and their sizes, and whether it is
 * complete.  Built on libflashback (fb_trace_info, fb_trace_summary): the
 * facts a program gets.  A damaged snapshot or page store found by the
 * quick header checks is one line on stderr after the summary, and exit 2.
 */
#include "tools.h"
#include "../src/base/base.h"
#include "../src/lib/flashback.h"

#include <inttypes.h>
#include <string.h>

int tools_info(int argc, char **argv)
{
	fb_trace *t;
	fb_info i;
	fb_summary d;
	FILE *out = stdout;

	if (argc != 1)
		fatal(EXIT_USAGE, "usage: flashback info TRACE");
	if (!(t = fb_open(argv[0])))
		tool_lib_failed();
	fb_trace_info(t, &i);
	fb_trace_summary(t, &d);
	fprintf(out, "trace           %s\n", argv[0]);
	fprintf(out, "recording       %s\n", i.id);
	fprintf(out, "format version  %u\n", i.format_version);
	fprintf(out, "recorded by     %s\n", i.emulator_version);
	fprintf(out, "machine         %s\n", i.machine_options);
	fprintf(out, "cpu, ram        %s, %" PRIu64 " MiB\n", i.cpu_model, i.ram_size >> 20);
	fprintf(out, "icount range    %" PRIu64 " - %" PRIu64 "\n", i.start_icount,
		d.last_event_icount);
	fprintf(out, "chunks          %u\n", i.chunks);
	fprintf(out, "events          %" PRIu64 "\n", i.events);
	for (unsigned k = 1; fb_kind_name(k); k++)
		if (i.counts[k])
			fprintf(out, "  %-13s %" PRIu64 "\n", fb_kind_name(k), i.counts[k]);
	fprintf(out, "snapshots       %u (%" PRIu64 " bytes)\n", d.snapshot_files, d.snapshot_bytes);
	fprintf(out, "pages           %" PRIu64 " distinct (%" PRIu64 " bytes)\n", d.pages,
		d.page_bytes);
	if (d.index_note[0])
		fprintf(out, "index           %s\n", d.index_note);
	fprintf(out, "size            %" PRIu64 " bytes\n", d.total_bytes);
	if (i.complete)
		fprintf(out, "state           complete, final icount %" PRIu64 " hash %016" PRIx64 "\n",
			i.end_icount, i.final_hash);
	else
		fprintf(out, "state           truncated: %s\n",
			i.truncation[0] ? i.truncation : "no end event");
	fb_close(t);
	if (d.damage[0]) {
		fflush(out);
		fprintf(stderr, "flashback: %s\n", d.damage);
		return EXIT_USAGE;
	}
	return 0;
}
