/* A disk queue: append-only segment files in one directory, read in order,
 * acknowledged by position. Bounded by a capacity; when a push would pass it
 * the oldest segments are deleted (unread data included) and counted.
 *
 * Durability: an entry is on disk (in the page cache) when dq_push returns,
 * so it survives kill -9 of the process. The acknowledged position is kept in
 * a small file rewritten atomically; after a crash, reading resumes from the
 * last acknowledged position, so at most the entries read but not yet
 * acknowledged are delivered twice. A torn entry at the tail (crash in the
 * middle of a write) is detected by length and checksum and cut off.
 *
 * Thread-safe: one mutex inside; dq_wait lets a consumer sleep until data. */
#ifndef RUM_DQ_H
#define RUM_DQ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"

struct dq;

struct dq_pos {
	uint64_t seg; /* segment number */
	uint64_t off; /* byte offset in it */
};

/* When appended entries are forced to the disk (fdatasync): never (the
 * page cache only: they survive a kill of the process, not a power cut);
 * batch (before every push returns: each entry survives a power cut once
 * pushed); interval (at a push or dq_sync_due at least ms after the last
 * sync: a power cut loses at most the last ms of entries, and those since
 * the last push when nothing follows). The directory is synced when a
 * segment file is made (batch, interval). Acknowledgements are not
 * synced: after a power cut some entries may be delivered again, none is
 * skipped. */
enum dq_sync_mode { DQ_SYNC_NEVER, DQ_SYNC_BATCH, DQ_SYNC_INTERVAL };
struct dq_sync {
	enum dq_sync_mode mode;
	uint64_t ms; /* DQ_SYNC_INTERVAL */
};

/* "never", "batch" or "interval:MS" (1..3600000). 0, or -1 with err. */
int dq_sync_parse(const char *s, struct dq_sync *out, struct rum_error *err);
/* The sync of every queue opened after it in this process (default never). */
void dq_sync_default(struct dq_sync s);
/* DQ_SYNC_INTERVAL: syncs what was appended since the last sync once the
 * interval has passed (for a writer with nothing more to push). */
void dq_sync_due(struct dq *q);
/* Syncs (batch, interval) counted since open, for a gauge. */
uint64_t dq_syncs(struct dq *q);

struct dq_stats {
	uint64_t entries;	  /* entries not yet acknowledged */
	uint64_t bytes;		  /* bytes on disk */
	uint64_t dropped_entries; /* evicted unacknowledged, since open */
	uint64_t dropped_bytes;
	uint64_t corrupt; /* entries skipped as corrupt, since open */
};

#define DQ_MAX_ENTRY ((size_t)1 << 30)

/* Opens (creating the directory if needed) and recovers. capacity_bytes > 0.
 * On failure returns -1 with err filled. */
int dq_open(struct dq **q, const char *dir, uint64_t capacity_bytes, struct rum_error *err);
void dq_close(struct dq *q);

/* Append one entry. -1 on I/O error (errno) or if n > DQ_MAX_ENTRY or
 * n > capacity. May evict the oldest segments to make room. */
int dq_push(struct dq *q, const void *p, size_t n);
/* dq_push, and *end is the position just after the entry: a writer that
 * never reads its entries back (a write-ahead journal) passes it to dq_ack
 * once it is done with them. */
int dq_push_at(struct dq *q, const void *p, size_t n, struct dq_pos *end);
/* dq_push of b's bytes; besides, unless too much is kept already, b's
 * memory is taken (b is left empty) and handed to the dq_read that reaches
 * the entry, which then reads no file: a consumer that keeps up does not
 * read back what was just written. */
int dq_push_keep(struct dq *q, struct buf *b);
/* Append several entries with one write (all or none). */
int dq_pushv(struct dq *q, const struct buf *entries, size_t count);

/* Read the next entry after the read position into out (replacing its
 * content); *next is the position just after it, to pass to dq_ack.
 * 1: got one; 0: nothing unread; -1: I/O error. */
int dq_read(struct dq *q, struct buf *out, struct dq_pos *next);
/* Everything before `next` is done with: persisted; segments wholly before
 * it are deleted. */
int dq_ack(struct dq *q, struct dq_pos next);
/* Whether the entry read earlier that ends at `next` is no longer in the
 * queue: acknowledged, or evicted since by a push past the capacity. */
int dq_acked(struct dq *q, struct dq_pos next);
/* The acknowledged position: where reading starts after a restart. */
struct dq_pos dq_ack_pos(struct dq *q);
/* Move the read position back to the acknowledged one (redeliver). */
void dq_rewind(struct dq *q);
/* Sleep until there is unread data or timeout_ms passes (or dq_wake).
 * 1: data; 0: timeout or woken. timeout_ms < 0: no timeout. A dq_wake that
 * comes while nobody waits makes the next dq_wait return 0 at once (so a
 * shutdown request cannot slip in between a check and the wait). */
int dq_wait(struct dq *q, int timeout_ms);
void dq_wake(struct dq *q);
void dq_get_stats(struct dq *q, struct dq_stats *st);

/* For fuzzing and checks: scan a segment's bytes, calling fn for each valid
 * entry; returns the length of the valid prefix. */
size_t dq_scan_segment(const unsigned char *p, size_t n,
		       void (*fn)(const unsigned char *entry, size_t len, void *ctx), void *ctx);

#endif
