/* The disk queue's insides, shared by its two halves: dq_seg.c (the
 * segment files: entry format, appends, eviction and deletion, recovery at
 * open) and dq.c (opening, reading, acknowledging, waiting). Not for use
 * outside them: the interface is dq.h. All of these run with q->mu held
 * (or before the queue is shared, in dq_open). */
#ifndef RUM_DQ_SEG_H
#define RUM_DQ_SEG_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "dq.h"
#include "log.h"

#define HDR 12
#define ENTRY_MAGIC 0x31515244u /* "DRQ1" */
#define ACK_MAGIC 0x4b415144u	/* "DQAK" */
#define LEN_MORE 0x80000000u
#define LEN_MASK 0x7fffffffu
#define ACK_SLOT 32
#define RING 64
/* Entries kept in memory by dq_push_keep for the reader: at most this many,
 * and this many bytes. */
#define KEEP_MAX 64
#define KEEP_BYTES ((uint64_t)16 << 20)
#define WIN ((size_t)64 << 10)
#define SEG_MIN ((uint64_t)64 << 10)
#define SEG_MAX ((uint64_t)64 << 20)

struct seg {
	uint64_t num;
	uint64_t size;	  /* bytes in the file (what capacity counts) */
	uint64_t valid;	  /* bytes of it known to hold entries */
	uint64_t entries; /* entries in the valid prefix */
	int sealed;	  /* never appended to again */
};

/* Where recent reads ended, so acking one of them needs no rescan. */
struct ring_ent {
	struct dq_pos pos;
	uint64_t ord;
};

struct dq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *dir;
	int dirfd, lockfd, ackfd;
	uint64_t ack_gen;
	int wfd; /* O_APPEND fd of the last segment while it takes appends */
	int rfd; /* read fd of segment rfd_seg */
	uint64_t rfd_seg;
	uint64_t cap, seg_max;
	struct seg *segs;
	size_t nseg, segcap;
	uint64_t next_num;
	uint64_t total;
	struct dq_pos ack, rd;
	uint64_t ack_ord, rd_ord;
	struct ring_ent ring[RING];
	unsigned ring_i;
	unsigned char *win; /* read-ahead window for header walks */
	uint64_t win_off;
	size_t win_len;
	int win_fd;
	uint64_t entries, dropped_entries, dropped_bytes, corrupt;
	int woken;
	struct log_ratelimit drop_rl;
	/* Entries pushed by dq_push_keep that the reader has not reached yet,
	 * in push (so position) order: a ring of kept_n from kept_i. */
	struct kept {
		struct dq_pos pos; /* where its header starts */
		struct buf b;
	} kept[KEEP_MAX];
	size_t kept_i, kept_n;
	uint64_t kept_bytes;
	/* dq_sync: what to force to disk, when */
	struct dq_sync sync;
	uint64_t last_sync_ms; /* monotonic */
	int dirty;	       /* appended since the last sync */
	uint64_t syncs;
};

static inline int dq_pos_cmp(struct dq_pos a, struct dq_pos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	if (a.off != b.off)
		return a.off < b.off ? -1 : 1;
	return 0;
}

/* The entry format. */
uint32_t dq_entry_crc(const unsigned char *lenfield, const void *payload, size_t n);
/* Length of the entry whose header is h, or -1 if h cannot start an entry
 * that fits in room bytes (header included). */
int64_t dq_hdr_len(const unsigned char *h, uint64_t room, int *more);
/* Walks entry headers from the boundary at offp, ordp towards stop. */
int dq_walk(struct dq *q, int fd, uint64_t size, uint64_t stop, uint64_t *offp, uint64_t *ordp);

/* Forces the appended entries to disk as q->sync says; force: whatever
 * the interval. 0 or -1 (errno). */
int dq_sync_writes(struct dq *q, int force);

/* Files. */
ssize_t dq_pread_full(int fd, void *p, size_t n, uint64_t off);
int dq_open_seg(struct dq *q, uint64_t num, int flags);
ssize_t dq_find_seg(const struct dq *q, uint64_t num);
int dq_persist_ack(struct dq *q, struct dq_pos pos);
/* 1 with *pos, 0 when the ack file holds no valid position, -1. */
int dq_load_ack(struct dq *q, struct dq_pos *pos);

/* Recycling: deleting, evicting, giving up a corrupt rest. */
void dq_remove_first(struct dq *q);
void dq_gc(struct dq *q);
void dq_evict_first(struct dq *q);
void dq_skip_rest(struct dq *q, size_t i, uint64_t off, uint64_t ord, const char *why);

/* Recovery at open: the segment files found, checked and counted. */
int dq_list_segs(struct dq *q);
int dq_load_segs(struct dq *q);

#endif
