/*
 * journal.h - inside src/replay: the journal file and the event encoding.
 *
 * Not part of the module's interface (that is trace.h); trace.c, index.c
 * and the tests of tests/replay/ use it.  The byte layout is in
 * traces/FORMAT.md.
 */
#ifndef FB_REPLAY_JOURNAL_H
#define FB_REPLAY_JOURNAL_H

#include "trace.h"

#define JOURNAL_MAGIC	    "FBTRACE\0"
#define JOURNAL_HEADER_SIZE 24	  /* fixed part, before the metadata text */
#define JOURNAL_MAX_META    65536 /* metadata text */
#define CHUNK_MAGIC	    "FBCK"
#define CHUNK_HEADER_SIZE   48
#define CHUNK_MAX_RAW	    (64u << 20) /* refuse larger chunks as damaged */

/* ---- checksums and varints (codec.c) --------------------------------- */

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Append @v as LEB128 to @p; returns the number of bytes (at most 10). */
size_t varint_put(uint8_t *p, uint64_t v);

/* ---- events (codec.c) ------------------------------------------------ */

/* Encoder / decoder state: reset at every chunk so chunks stand alone. */
typedef struct EventCodec {
	uint64_t icount; /* of the previous event (the chunk's first icount at start) */
	uint64_t time;	 /* previous time-read value, 0 at start */
} EventCodec;

/* Upper bound of the encoded size of @ev. */
size_t event_max_size(const TraceEvent *ev);
/* Encode @ev at @p (event_max_size() bytes available); returns its length. */
size_t event_encode(EventCodec *c, const TraceEvent *ev, uint8_t *p);
/*
 * Decode one event from [*p, end): advances *p.  false with a reason
 * ("varint overflow", ...) in @why (128 bytes) on malformed input.
 */
bool event_decode(EventCodec *c, const uint8_t **p, const uint8_t *end, TraceEvent *ev, char *why);

/* ---- the journal file (journal.c) ------------------------------------ */

typedef struct ChunkInfo {
	uint32_t number;
	uint32_t events;
	uint64_t first_icount, last_icount;
	uint64_t offset; /* of the chunk header in the file */
	uint32_t csize, rsize;
	uint32_t crc; /* CRC32C of the compressed bytes */
	uint32_t header_crc; /* of this chunk's header: the next one names it */
} ChunkInfo;

typedef struct JournalReader {
	int fd;
	const char *name; /* for messages */
	uint32_t version, flags;
	uint32_t header_crc; /* links chunk 0 to the header */
	char *meta; /* the header's metadata text, NUL-terminated */
	uint64_t file_size;
	ChunkInfo *chunks;
	size_t nchunks;
	/* The scan stopped at a partial chunk (the file ends inside it). */
	bool truncated;
	uint64_t end_offset; /* where the complete chunks end */
	uint8_t *cbuf, *rbuf;
	size_t cbuf_cap, rbuf_cap;
	void *dctx;
	char err[TRACE_ERR_LEN];
} JournalReader;

/*
 * Read the header and scan every chunk header of the journal open on @fd
 * (not closed by the reader).  false with a message in r->err when the file
 * is not a journal, is of a newer version, or a chunk header is damaged.
 */
bool journal_open(JournalReader *r, int fd, const char *name);
/* Read, verify and decompress chunk @i: *raw is valid until the next call. */
bool journal_load(JournalReader *r, size_t i, const uint8_t **raw);
/*
 * Decode every event of loaded chunk @i, checking counts and icounts
 * against its header; @fn is called for each (may be NULL).
 */
bool journal_decode(JournalReader *r, size_t i, const uint8_t *raw,
		    bool (*fn)(void *opaque, const TraceEvent *ev), void *opaque);
void journal_close(JournalReader *r);

typedef struct JournalWriter {
	int fd;
	const char *name;
	uint64_t offset; /* end of the last complete chunk */
	uint32_t next_chunk;
	uint32_t prev_crc; /* header CRC of the last chunk (of the file header at first) */
	uint8_t *raw, *cbuf;
	size_t raw_len, raw_cap, cbuf_cap;
	uint32_t events;
	uint64_t first_icount, last_icount;
	EventCodec codec;
	TraceOptions opt;
	void *cctx;
	bool failed;
	char err[TRACE_ERR_LEN];
} JournalWriter;

/* Create the journal at @path with header metadata @meta_text. */
bool journal_create(JournalWriter *w, const char *path, const char *meta_text,
		    const TraceOptions *opt);
/* Encode @ev into the open chunk; *full says the chunk should be flushed. */
bool journal_append(JournalWriter *w, const TraceEvent *ev, bool *full);
/*
 * Write the open chunk (if any events) and fsync; fills @out.  Returns
 * 1 written, 0 nothing to write, -1 error (the file is cut back to its last
 * complete chunk).
 */
int journal_flush(JournalWriter *w, ChunkInfo *out);
void journal_writer_close(JournalWriter *w);

#endif
