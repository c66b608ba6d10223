/*
 * pages.h - inside src/replay: pages.fbp, the trace's page store.
 *
 * Every distinct 4 KiB page of RAM or ROM that some snapshot holds is kept
 * once, in recording order, and named by a number (its id; 0 is the page
 * of zeros, never stored).  Snapshots are tables of ids (snapshot.c), so a
 * snapshot repeats nothing an earlier one holds - whatever address the page
 * moved to - and still loads on its own, without the snapshots before it.
 *
 * Pages are written in frames of up to PS_FRAME_PAGES, one zstd frame each,
 * with a header CRC, a data CRC and the CRC of the header before (the file
 * header for frame 0), so every byte is checked and a frame from another
 * file does not fit.  Page id = frame * PS_FRAME_PAGES + slot + 1.  The
 * byte layout is in traces/FORMAT.md.
 *
 * A writer deduplicates by a 128-bit hash keyed with the recording's
 * identity: the guest never sees the key nor any hash, so it cannot aim
 * for a collision.
 */
#ifndef FB_REPLAY_PAGES_H
#define FB_REPLAY_PAGES_H

#include "trace.h"

#define PS_FILE	       "pages.fbp"
#define PS_PAGE	       4096u
#define PS_FRAME_PAGES 512u

typedef struct PageStore PageStore;

/* Create DIR/pages.fbp for writing; NULL with one line in @err. */
PageStore *ps_create(const char *dir, const uint8_t id[TRACE_ID_LEN], char *err, size_t errlen);
/* The id of the PS_PAGE bytes at @page, stored now if they are new. */
bool ps_put(PageStore *ps, const uint8_t *page, uint64_t *id);
/* Write the open frame: every id handed out so far is then in the file. */
bool ps_flush(PageStore *ps);

/*
 * Open DIR/pages.fbp for reading: the header must name recording @id; every
 * frame header is read and checked.  A partial frame at the end (a crash)
 * is left out.  NULL with one line in @err.
 */
PageStore *ps_open(const char *dir, const uint8_t id[TRACE_ID_LEN], char *err, size_t errlen);
/* How many pages the store holds (frames closed early leave gaps in the
 * ids: a frame always starts at a multiple of PS_FRAME_PAGES). */
uint64_t ps_count(const PageStore *ps);
/* Bytes after the last whole frame (a crash while writing one). */
uint64_t ps_tail_bytes(const PageStore *ps);
/* Copy page @id (0: zeros) to @out; false (message in ps_error) if damaged. */
bool ps_get(PageStore *ps, uint64_t id, uint8_t *out);
/* Read and check every frame (`replay --verify`). */
bool ps_check_all(PageStore *ps);

/*
 * The 64-bit hash of a page as the store keys it for recording @id (0 for a
 * page of zeros, never 0 otherwise), and that of a page the writer stored.
 * Snapshots fold these into a digest of all memory (snapshot.c).
 */
uint64_t ps_hash(const uint8_t id[TRACE_ID_LEN], const uint8_t *page);
uint64_t ps_id_hash(const PageStore *ps, uint64_t id);

const char *ps_error(const PageStore *ps);
void ps_close(PageStore *ps);

#endif
