/* Disk queue. Layout of the directory:
 *   lock                     flock()ed by the one process that has it open
 *   ack                      two 32-byte slots, the acknowledged position
 *   00000000000000000001.seg segment files, entries appended in order
 *
 * An entry is a 12-byte header (magic, length, CRC32 of the length field and
 * the payload, all little-endian) followed by the payload. The top bit of the
 * length marks an entry of a dq_pushv batch that has more entries after it, so
 * recovery can cut a batch torn by a crash back to its start (all or none).
 *
 * Positions are (segment number, byte offset). Besides positions the queue
 * counts entries: each segment knows how many entries it holds, and the read
 * and ack positions carry their ordinal within their segment, so the number
 * of unacknowledged entries is known without rescanning. */
#include "dq.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "dq_seg.h"
#include "fsutil.h"

static struct dq_sync sync_default;

int dq_sync_parse(const char *s, struct dq_sync *out, struct rum_error *err)
{
	if (strcmp(s, "never") == 0) {
		*out = (struct dq_sync){DQ_SYNC_NEVER, 0};
		return 0;
	}
	if (strcmp(s, "batch") == 0) {
		*out = (struct dq_sync){DQ_SYNC_BATCH, 0};
		return 0;
	}
	if (strncmp(s, "interval:", 9) == 0) {
		const char *v = s + 9;
		char *end;
		errno = 0;
		unsigned long long ms = strtoull(v, &end, 10);
		if (*v >= '0' && *v <= '9' && *end == 0 && errno == 0 && ms >= 1 && ms <= 3600000) {
			*out = (struct dq_sync){DQ_SYNC_INTERVAL, ms};
			return 0;
		}
		return err_set(err, "interval:MS takes 1 to 3600000 milliseconds, not '%s'", v);
	}
	return err_set(err, "not never, batch or interval:MS");
}

void dq_sync_default(struct dq_sync s)
{
	sync_default = s;
}

void dq_sync_due(struct dq *q)
{
	pthread_mutex_lock(&q->mu);
	if (dq_sync_writes(q, 0) < 0)
		log_rl(&q->drop_rl, RLOG_WARN, "disk queue %s: fdatasync: %s", q->dir,
		       strerror(errno));
	pthread_mutex_unlock(&q->mu);
}

uint64_t dq_syncs(struct dq *q)
{
	pthread_mutex_lock(&q->mu);
	uint64_t n = q->syncs;
	pthread_mutex_unlock(&q->mu);
	return n;
}

static void drop_kept(struct dq *q)
{
	struct kept *k = &q->kept[q->kept_i];
	q->kept_bytes -= k->b.cap;
	buf_free(&k->b);
	q->kept_i = (q->kept_i + 1) % KEEP_MAX;
	q->kept_n--;
}

/* The entry at the read position when dq_push_keep kept it: handed over
 * with no file read. Those behind the read position (evicted, skipped)
 * are let go. */
static int read_kept(struct dq *q, struct buf *out, struct dq_pos *next)
{
	while (q->kept_n && dq_pos_cmp(q->kept[q->kept_i].pos, q->rd) < 0)
		drop_kept(q);
	if (!q->kept_n || dq_pos_cmp(q->kept[q->kept_i].pos, q->rd) != 0)
		return 0;
	struct kept *k = &q->kept[q->kept_i];
	buf_free(out);
	*out = k->b;
	k->b = (struct buf)BUF_INIT;
	q->kept_bytes -= out->cap;
	q->kept_i = (q->kept_i + 1) % KEEP_MAX;
	q->kept_n--;
	q->rd.off += HDR + (uint64_t)out->len;
	q->rd_ord++;
	*next = q->rd;
	q->ring[q->ring_i++ % RING] = (struct ring_ent){q->rd, q->rd_ord};
	return 1;
}

static int read_locked(struct dq *q, struct buf *out, struct dq_pos *next)
{
	for (;;) {
		ssize_t si = dq_find_seg(q, q->rd.seg);
		if (si < 0) {
			if (q->nseg == 0 || q->rd.seg > q->segs[q->nseg - 1].num)
				return 0;
			/* cannot happen; recover rather than stall */
			q->rd = (struct dq_pos){q->segs[0].num, 0};
			q->rd_ord = 0;
			continue;
		}
		size_t i = (size_t)si;
		struct seg *s = &q->segs[i];
		if (q->rd.off >= s->valid) {
			if (i + 1 == q->nseg)
				return 0;
			q->rd = (struct dq_pos){q->segs[i + 1].num, 0};
			q->rd_ord = 0;
			continue;
		}
		if (q->kept_n && read_kept(q, out, next))
			return 1;
		if (q->rfd < 0 || q->rfd_seg != s->num) {
			if (q->rfd >= 0)
				close(q->rfd);
			q->rfd = dq_open_seg(q, s->num, O_RDONLY);
			if (q->rfd < 0) {
				if (errno != ENOENT)
					return -1;
				dq_skip_rest(q, i, q->rd.off, q->rd_ord, "file gone");
				continue;
			}
			q->rfd_seg = s->num;
		}
		unsigned char h[HDR];
		ssize_t r = dq_pread_full(q->rfd, h, HDR, q->rd.off);
		if (r < 0)
			return -1;
		int64_t len = r == HDR ? dq_hdr_len(h, s->valid - q->rd.off, NULL) : -1;
		if (len < 0) {
			dq_skip_rest(q, i, q->rd.off, q->rd_ord, "bad entry header");
			continue;
		}
		buf_reset(out);
		if (buf_reserve(out, (size_t)len + 1) < 0) {
			errno = ENOMEM;
			return -1;
		}
		r = dq_pread_full(q->rfd, out->p, (size_t)len, q->rd.off + HDR);
		if (r < 0)
			return -1;
		if (r != len || dq_entry_crc(h + 4, out->p, (size_t)len) != get_le32(h + 8)) {
			dq_skip_rest(q, i, q->rd.off, q->rd_ord, "checksum mismatch");
			continue;
		}
		out->len = (size_t)len;
		q->rd.off += HDR + (uint64_t)len;
		q->rd_ord++;
		*next = q->rd;
		q->ring[q->ring_i++ % RING] = (struct ring_ent){q->rd, q->rd_ord};
		return 1;
	}
}

int dq_read(struct dq *q, struct buf *out, struct dq_pos *next)
{
	pthread_mutex_lock(&q->mu);
	int r = read_locked(q, out, next);
	pthread_mutex_unlock(&q->mu);
	return r;
}

/* Ordinal of the entry boundary `pos` within its segment i. */
static int ord_of(struct dq *q, size_t i, struct dq_pos pos, uint64_t *ord)
{
	struct seg *s = &q->segs[i];
	if (pos.off > s->valid)
		return -1;
	if (pos.off == 0) {
		*ord = 0;
		return 0;
	}
	if (pos.off == s->valid) {
		*ord = s->entries;
		return 0;
	}
	if (dq_pos_cmp(pos, q->rd) == 0) {
		*ord = q->rd_ord;
		return 0;
	}
	for (unsigned k = 0; k < RING; k++) {
		if (dq_pos_cmp(q->ring[k].pos, pos) == 0 && q->ring[k].ord <= s->entries) {
			*ord = q->ring[k].ord;
			return 0;
		}
	}
	uint64_t off = 0, o = 0;
	if (q->ack.seg == pos.seg && q->ack.off <= pos.off) {
		off = q->ack.off;
		o = q->ack_ord;
	}
	int fd = dq_open_seg(q, s->num, O_RDONLY);
	if (fd < 0)
		return -1;
	int r = dq_walk(q, fd, s->valid, pos.off, &off, &o);
	close(fd);
	if (r < 0 || off != pos.off)
		return -1;
	*ord = o;
	return 0;
}

int dq_ack(struct dq *q, struct dq_pos next)
{
	pthread_mutex_lock(&q->mu);
	int r = 0;
	if (dq_pos_cmp(next, q->ack) <= 0)
		goto out; /* already acknowledged, or evicted meanwhile */
	ssize_t si = dq_find_seg(q, next.seg);
	uint64_t ord;
	ssize_t ai = dq_find_seg(q, q->ack.seg);
	if (si < 0 || ai < 0 || ord_of(q, (size_t)si, next, &ord) < 0) {
		errno = EINVAL;
		r = -1;
		goto out;
	}
	uint64_t done;
	if (si == ai) {
		done = ord > q->ack_ord ? ord - q->ack_ord : 0;
	} else {
		done = q->segs[ai].entries - q->ack_ord + ord;
		for (ssize_t k = ai + 1; k < si; k++)
			done += q->segs[k].entries;
	}
	if (dq_persist_ack(q, next) < 0) {
		r = -1;
		goto out;
	}
	q->entries -= done < q->entries ? done : q->entries;
	q->ack = next;
	q->ack_ord = ord;
	/* acked after a rewind (a late success): no need to send it again */
	if (dq_pos_cmp(q->rd, next) < 0) {
		q->rd = next;
		q->rd_ord = ord;
	}
	dq_gc(q);
out:
	pthread_mutex_unlock(&q->mu);
	return r;
}

int dq_acked(struct dq *q, struct dq_pos next)
{
	pthread_mutex_lock(&q->mu);
	int r = dq_pos_cmp(next, q->ack) <= 0;
	pthread_mutex_unlock(&q->mu);
	return r;
}

struct dq_pos dq_ack_pos(struct dq *q)
{
	pthread_mutex_lock(&q->mu);
	struct dq_pos p = q->ack;
	pthread_mutex_unlock(&q->mu);
	return p;
}

void dq_rewind(struct dq *q)
{
	pthread_mutex_lock(&q->mu);
	q->rd = q->ack;
	q->rd_ord = q->ack_ord;
	pthread_mutex_unlock(&q->mu);
}

static int has_unread(const struct dq *q)
{
	ssize_t si = dq_find_seg(q, q->rd.seg);
	if (si < 0)
		return q->nseg > 0 && q->rd.seg < q->segs[0].num;
	if (q->rd.off < q->segs[si].valid)
		return 1;
	for (size_t k = (size_t)si + 1; k < q->nseg; k++)
		if (q->segs[k].valid > 0)
			return 1;
	return 0;
}

int dq_wait(struct dq *q, int timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms > 0) {
		dl.tv_sec += timeout_ms / 1000;
		dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&q->mu);
	int r = 0;
	for (;;) {
		if (has_unread(q)) {
			r = 1;
			break;
		}
		if (q->woken) {
			q->woken = 0;
			break;
		}
		if (timeout_ms == 0)
			break;
		int e = timeout_ms < 0 ? pthread_cond_wait(&q->cv, &q->mu)
				       : pthread_cond_timedwait(&q->cv, &q->mu, &dl);
		if (e == ETIMEDOUT) {
			r = has_unread(q);
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return r;
}

void dq_wake(struct dq *q)
{
	pthread_mutex_lock(&q->mu);
	q->woken = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void dq_get_stats(struct dq *q, struct dq_stats *st)
{
	pthread_mutex_lock(&q->mu);
	st->entries = q->entries;
	st->bytes = q->total;
	st->dropped_entries = q->dropped_entries;
	st->dropped_bytes = q->dropped_bytes;
	st->corrupt = q->corrupt;
	pthread_mutex_unlock(&q->mu);
}

/* Places the ack position from the ack file onto the segments found. */
static int place_ack(struct dq *q, int have, struct dq_pos a)
{
	if (have) {
		while (q->nseg > 0 && q->segs[0].num < a.seg)
			dq_remove_first(q); /* acked; a crash came before their deletion */
	}
	q->next_num = q->nseg > 0 ? q->segs[q->nseg - 1].num + 1 : 1;
	if (have && a.seg < UINT64_MAX && a.seg + 1 > q->next_num)
		q->next_num = a.seg + 1;
	if (q->nseg == 0) {
		q->ack = (struct dq_pos){q->next_num, 0};
		q->ack_ord = 0;
	} else if (!have || a.seg != q->segs[0].num) {
		q->ack = (struct dq_pos){q->segs[0].num, 0};
		q->ack_ord = 0;
	} else {
		struct seg *s = &q->segs[0];
		uint64_t off = 0, ord = 0;
		if (a.off >= s->valid) {
			off = s->valid;
			ord = s->entries;
		} else {
			/* not on a boundary: resume at the one before
			 * (redeliver rather than lose) */
			int fd = dq_open_seg(q, s->num, O_RDONLY);
			if (fd < 0)
				return -1;
			int r = dq_walk(q, fd, s->valid, a.off, &off, &ord);
			close(fd);
			if (r < 0)
				return -1;
		}
		q->ack = (struct dq_pos){s->num, off};
		q->ack_ord = ord;
	}
	q->rd = q->ack;
	q->rd_ord = q->ack_ord;
	q->entries = 0;
	for (size_t i = 0; i < q->nseg; i++)
		q->entries += q->segs[i].entries;
	q->entries -= q->ack_ord;
	return 0;
}

/* Segments hold at most an eighth of the capacity (within SEG_MIN and
 * SEG_MAX), and at most half of it: eviction goes a segment at a time, and
 * with a single segment one eviction would empty a small queue. */
static uint64_t seg_max_for(uint64_t capacity_bytes)
{
	uint64_t m = capacity_bytes / 8;
	if (m < SEG_MIN)
		m = SEG_MIN;
	if (m > SEG_MAX)
		m = SEG_MAX;
	if (m > capacity_bytes / 2)
		m = capacity_bytes / 2 > HDR ? capacity_bytes / 2 : HDR;
	return m;
}

/* The directory, its lock, the ack file and the segments, recovered. */
static int open_dir(struct dq *q, const char *dir, struct rum_error *err)
{
	if (mkdir_p(dir, 0755) < 0 ||
	    (q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		err_set(err, "%s: %s", dir, strerror(errno));
		return -1;
	}
	q->lockfd = openat(q->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (q->lockfd < 0) {
		err_set(err, "%s/lock: %s", dir, strerror(errno));
		return -1;
	}
	if (flock(q->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			err_set(err, "%s: queue in use by another process", dir);
		else
			err_set(err, "%s/lock: %s", dir, strerror(errno));
		return -1;
	}
	q->ackfd = openat(q->dirfd, "ack", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (q->ackfd < 0) {
		err_set(err, "%s/ack: %s", dir, strerror(errno));
		return -1;
	}
	struct dq_pos a = {0, 0};
	int have = dq_load_ack(q, &a);
	if (have < 0) {
		err_set(err, "%s/ack: %s", dir, strerror(errno));
		return -1;
	}
	if (dq_list_segs(q) < 0) {
		err_set(err, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (dq_load_segs(q) < 0 || place_ack(q, have, a) < 0) {
		err_set(err, "%s: recovering the queue: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int dq_open(struct dq **qp, const char *dir, uint64_t capacity_bytes, struct rum_error *err)
{
	*qp = NULL;
	if (capacity_bytes == 0) {
		err_set(err, "%s: capacity must be > 0", dir);
		return -1;
	}
	struct dq *q = calloc(1, sizeof *q);
	if (!q) {
		err_set(err, "out of memory");
		return -1;
	}
	q->dirfd = q->lockfd = q->ackfd = q->wfd = q->rfd = q->win_fd = -1;
	q->cap = capacity_bytes;
	q->sync = sync_default;
	q->drop_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	q->seg_max = seg_max_for(capacity_bytes);
	q->dir = strdup(dir);
	q->win = malloc(WIN);
	pthread_condattr_t ca;
	int locks = 0;
	if (!q->dir || !q->win) {
		err_set(err, "out of memory");
		goto fail;
	}
	if (pthread_mutex_init(&q->mu, NULL) != 0) {
		err_set(err, "pthread_mutex_init failed");
		goto fail;
	}
	locks = 1;
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&q->cv, &ca) != 0) {
		err_set(err, "pthread_cond_init failed");
		goto fail;
	}
	pthread_condattr_destroy(&ca);
	locks = 2;
	if (open_dir(q, dir, err) < 0)
		goto fail;
	/* the capacity may have been lowered since the last run */
	while (q->total > q->cap && q->nseg > 1)
		dq_evict_first(q);
	*qp = q;
	return 0;
fail:
	if (locks >= 1)
		pthread_mutex_destroy(&q->mu);
	if (locks == 2)
		pthread_cond_destroy(&q->cv);
	q->nseg = 0;
	if (q->dirfd >= 0)
		close(q->dirfd);
	if (q->lockfd >= 0)
		close(q->lockfd);
	if (q->ackfd >= 0)
		close(q->ackfd);
	free(q->segs);
	free(q->win);
	free(q->dir);
	free(q);
	return -1;
}

void dq_close(struct dq *q)
{
	if (!q)
		return;
	if (q->wfd >= 0) {
		if (q->sync.mode != DQ_SYNC_NEVER && dq_sync_writes(q, 1) < 0)
			log_warn("disk queue %s: fdatasync: %s", q->dir, strerror(errno));
		close(q->wfd);
	}
	if (q->rfd >= 0)
		close(q->rfd);
	close(q->ackfd);
	close(q->lockfd); /* releases the flock */
	close(q->dirfd);
	while (q->kept_n)
		drop_kept(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->segs);
	free(q->win);
	free(q->dir);
	free(q);
}
