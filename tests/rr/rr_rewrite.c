/*
 * rr_rewrite.c - copy a trace through the trace library, damaging one event
 * on the way, for the divergence tests (the chunks stay well-formed, with
 * valid checksums, so only the replay engine can notice).
 *
 *   rr_rewrite IN OUT MODE K
 *
 * MODE: port-value (flip bit 0 of the K-th port-read's value), drop-interrupt
 * (leave out the K-th interrupt), icount (move the K-th port-read one
 * instruction later), check-hash (flip a bit of the K-th check's hash).
 * Prints the icount of the changed event.  Snapshot files are copied.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/replay/trace.h"

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t n;

	if (!in || !out) {
		fprintf(stderr, "cannot copy %s\n", from);
		exit(1);
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

int main(int argc, char **argv)
{
	char err[TRACE_ERR_LEN];
	Trace *in, *out;
	TraceCursor *c;
	TraceEvent ev;
	const TraceInfo *info;
	TraceMeta meta;
	uint64_t k, seen = 0, changed = ~0ull, end_icount = 0, end_hash = 0;
	uint8_t want;
	const char *mode;
	DIR *d;
	struct dirent *e;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: rr_rewrite IN OUT MODE K\n");
		return 2;
	}
	mode = argv[3];
	k = strtoull(argv[4], NULL, 0);
	want = strcmp(mode, "drop-interrupt") == 0 ? TEV_INTERRUPT
	       : strcmp(mode, "check-hash") == 0   ? TEV_CHECK
						   : TEV_PORT_READ;
	in = trace_open(argv[1], err);
	if (!in) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	info = trace_info(in);
	/* The same identity: the snapshots copied below must still fit. */
	meta = (TraceMeta){.emulator_version = info->emulator_version,
			   .machine_options = info->machine_options,
			   .cpu_model = info->cpu_model,
			   .ram_size = info->ram_size,
			   .start_time = info->start_time};
	memcpy(meta.id, info->id, TRACE_ID_LEN);
	out = trace_create(argv[2], &meta, &(TraceOptions){.no_fsync = true}, err);
	if (!out) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* the snapshot files first: the index gives each marker its file's size */
	d = opendir(argv[1]);
	while (d && (e = readdir(d)) != NULL) {
		char from[4096], to[4096];

		/* the snapshots and their page store: the same recording */
		if (strncmp(e->d_name, "snap-", 5) != 0 && strcmp(e->d_name, "pages.fbp") != 0)
			continue;
		snprintf(from, sizeof(from), "%s/%s", argv[1], e->d_name);
		snprintf(to, sizeof(to), "%s/%s", argv[2], e->d_name);
		copy_file(from, to);
	}
	if (d)
		closedir(d);
	c = trace_cursor(in, 0);
	while ((rc = trace_next(c, &ev)) == 1) {
		if (ev.kind == TEV_END) {
			end_icount = ev.icount;
			end_hash = ev.value;
			break;
		}
		if (ev.kind == want && !(want == TEV_CHECK && (ev.flags & TRACE_CHECK_RAM)) &&
		    seen++ == k) {
			changed = ev.icount;
			if (strcmp(mode, "drop-interrupt") == 0)
				continue;
			if (strcmp(mode, "port-value") == 0)
				ev.value ^= 1;
			else if (strcmp(mode, "icount") == 0)
				ev.icount += 1;
			else
				ev.value ^= 0x10;
		}
		if (!trace_append(out, &ev)) {
			fprintf(stderr, "%s\n", trace_error(out));
			return 1;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "%s\n", trace_error(in));
		return 1;
	}
	if (!trace_close(out, end_icount, end_hash, err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	trace_cursor_free(c);
	trace_free(in);
	if (changed == ~0ull) {
		fprintf(stderr, "no event %" PRIu64 " of that kind\n", k);
		return 1;
	}
	printf("%" PRIu64 "\n", changed);
	return 0;
}
