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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

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
};

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t entry_crc(const unsigned char *lenfield, const void *payload, size_t n)
{
	/* zlib's CRC-32 (the queues on disk have it), computed by libdeflate:
	 * several times faster with PCLMUL, and replay entries are ~50 KB */
	uint32_t c = libdeflate_crc32(0, lenfield, 4);
	if (n > 0)
		c = libdeflate_crc32(c, payload, n);
	return c;
}

static void make_hdr(unsigned char *h, const void *p, size_t n, int more)
{
	put32(h, ENTRY_MAGIC);
	put32(h + 4, (uint32_t)n | (more ? LEN_MORE : 0));
	put32(h + 8, entry_crc(h + 4, p, n));
}

/* Length of the entry whose header is h, or -1 if h cannot start an entry
 * that fits in `room` bytes (header included). */
static int64_t hdr_len(const unsigned char *h, uint64_t room, int *more)
{
	if (get32(h) != ENTRY_MAGIC)
		return -1;
	uint32_t l = get32(h + 4);
	uint32_t len = l & LEN_MASK;
	if (len > DQ_MAX_ENTRY || room < HDR || len > room - HDR)
		return -1;
	if (more)
		*more = (l & LEN_MORE) != 0;
	return len;
}

/* Entries of a batch are reported only once the batch is complete: a torn
 * batch at the end is not part of the valid prefix. */
size_t dq_scan_segment(const unsigned char *p, size_t n,
		       void (*fn)(const unsigned char *entry, size_t len, void *ctx), void *ctx)
{
	size_t valid = 0, off = 0;
	while (n - off >= HDR) {
		int more = 0;
		int64_t len = hdr_len(p + off, n - off, &more);
		if (len < 0 ||
		    entry_crc(p + off + 4, p + off + HDR, (size_t)len) != get32(p + off + 8))
			break;
		off += HDR + (size_t)len;
		if (more)
			continue;
		for (size_t o = valid; fn && o < off;) {
			size_t l = get32(p + o + 4) & LEN_MASK;
			fn(p + o + HDR, l, ctx);
			o += HDR + l;
		}
		valid = off;
	}
	return valid;
}

static void seg_name(char *name, size_t len, uint64_t num)
{
	snprintf(name, len, "%020" PRIu64 ".seg", num);
}

static int pos_cmp(struct dq_pos a, struct dq_pos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	if (a.off != b.off)
		return a.off < b.off ? -1 : 1;
	return 0;
}

/* pread until n bytes or end of file; returns bytes read or -1. */
static ssize_t pread_full(int fd, void *p, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)p + got, n - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int writev_all(int fd, struct iovec *iov, size_t cnt)
{
	while (cnt > 0 && iov->iov_len == 0) {
		iov++;
		cnt--;
	}
	while (cnt > 0) {
		int n = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		size_t left = (size_t)w;
		while (cnt > 0 && (left > 0 || iov->iov_len == 0)) {
			if (left >= iov->iov_len) {
				left -= iov->iov_len;
				iov++;
				cnt--;
			} else {
				iov->iov_base = (char *)iov->iov_base + left;
				iov->iov_len -= left;
				left = 0;
			}
		}
	}
	return 0;
}

/* Header at `off` through the read-ahead window: 1 got it, 0 end of file,
 * -1 error. After a big entry the next header is read alone: reading ahead
 * would fetch payload only. */
static int win_hdr(struct dq *q, int fd, uint64_t off, unsigned char *h, int big)
{
	if (q->win_fd != fd || off < q->win_off || off - q->win_off + HDR > q->win_len) {
		ssize_t r = pread_full(fd, q->win, big ? HDR : WIN, off);
		q->win_fd = -1;
		if (r < 0)
			return -1;
		q->win_fd = fd;
		q->win_off = off;
		q->win_len = (size_t)r;
		if ((size_t)r < HDR)
			return 0;
	}
	memcpy(h, q->win + (off - q->win_off), HDR);
	return 1;
}

/* Walks entry headers (payloads unread, unchecked) from off/ord towards
 * `stop`, never past it nor past `size`; stops at the first header that
 * cannot be right. Returns 0 with *offp and *ordp at the last boundary reached. */
static int walk(struct dq *q, int fd, uint64_t size, uint64_t stop, uint64_t *offp, uint64_t *ordp)
{
	uint64_t off = *offp, ord = *ordp;
	unsigned char h[HDR];
	int big = 0;
	q->win_fd = -1; /* the fd number may have been reused for another file */
	while (off < stop && size - off >= HDR) {
		int r = win_hdr(q, fd, off, h, big);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		int64_t len = hdr_len(h, size - off, NULL);
		if (len < 0 || off + HDR + (uint64_t)len > stop)
			break;
		off += HDR + (uint64_t)len;
		ord++;
		big = (uint64_t)len >= WIN / 4;
	}
	*offp = off;
	*ordp = ord;
	return 0;
}

static int open_seg(struct dq *q, uint64_t num, int flags)
{
	char name[32];
	seg_name(name, sizeof name, num);
	return openat(q->dirfd, name, flags | O_CLOEXEC, 0644);
}

static ssize_t find_seg(const struct dq *q, uint64_t num)
{
	size_t lo = 0, hi = q->nseg;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->segs[mid].num == num)
			return (ssize_t)mid;
		if (q->segs[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int is_write_seg(const struct dq *q, size_t i)
{
	return i + 1 == q->nseg && !q->segs[i].sealed;
}

static int persist_ack(struct dq *q, struct dq_pos pos)
{
	unsigned char b[ACK_SLOT];
	uint64_t gen = q->ack_gen + 1;
	put32(b, ACK_MAGIC);
	put64(b + 8, gen);
	put64(b + 16, pos.seg);
	put64(b + 24, pos.off);
	put32(b + 4, libdeflate_crc32(0, b + 8, ACK_SLOT - 8));
	/* One small pwrite cannot be torn by killing the process; two slots
	 * keep the previous value should a power loss tear it. */
	ssize_t w = pwrite(q->ackfd, b, sizeof b, (off_t)((gen & 1) * ACK_SLOT));
	if (w != (ssize_t)sizeof b) {
		if (w >= 0)
			errno = EIO;
		return -1;
	}
	q->ack_gen = gen;
	return 0;
}

/* Reads the ack file: 1 with *pos, 0 if there is no valid one. */
static int load_ack(struct dq *q, struct dq_pos *pos)
{
	unsigned char b[2 * ACK_SLOT];
	ssize_t r = pread_full(q->ackfd, b, sizeof b, 0);
	if (r < 0)
		return -1;
	int found = 0;
	for (size_t s = 0; s + ACK_SLOT <= (size_t)r; s += ACK_SLOT) {
		const unsigned char *p = b + s;
		if (get32(p) != ACK_MAGIC ||
		    get32(p + 4) != libdeflate_crc32(0, p + 8, ACK_SLOT - 8))
			continue;
		uint64_t gen = get64(p + 8);
		if (found && gen <= q->ack_gen)
			continue;
		found = 1;
		q->ack_gen = gen;
		pos->seg = get64(p + 16);
		pos->off = get64(p + 24);
	}
	return found;
}

static void remove_first(struct dq *q)
{
	struct seg *s = &q->segs[0];
	char name[32];
	seg_name(name, sizeof name, s->num);
	if (unlinkat(q->dirfd, name, 0) < 0 && errno != ENOENT)
		log_warn("%s/%s: cannot delete: %s", q->dir, name, strerror(errno));
	if (q->rfd >= 0 && q->rfd_seg == s->num) {
		close(q->rfd);
		q->rfd = -1;
	}
	if (q->nseg == 1 && q->wfd >= 0) {
		close(q->wfd);
		q->wfd = -1;
	}
	q->total -= s->size < q->total ? s->size : q->total;
	memmove(q->segs, q->segs + 1, (q->nseg - 1) * sizeof *q->segs);
	q->nseg--;
}

/* Deletes the leading segments that hold nothing unacknowledged. */
static void gc(struct dq *q)
{
	while (q->nseg > 0) {
		struct seg *s = &q->segs[0];
		if (s->num < q->ack.seg) {
			remove_first(q);
			continue;
		}
		if (s->num == q->ack.seg && s->sealed && q->ack.off >= s->valid && q->nseg > 1) {
			struct dq_pos np = {q->segs[1].num, 0};
			/* persisted first: a crash now must not make the
			 * ack point at a segment that is about to vanish */
			if (persist_ack(q, np) < 0)
				return;
			q->ack = np;
			q->ack_ord = 0;
			if (pos_cmp(q->rd, np) < 0) {
				q->rd = np;
				q->rd_ord = 0;
			}
			remove_first(q);
			continue;
		}
		break;
	}
}

static void evict_first(struct dq *q)
{
	struct seg *s = &q->segs[0];
	uint64_t de = 0, db = 0;
	if (q->ack.seg == s->num) {
		de = s->entries > q->ack_ord ? s->entries - q->ack_ord : 0;
		db = s->size > q->ack.off ? s->size - q->ack.off : 0;
	} else if (q->ack.seg < s->num) {
		de = s->entries;
		db = s->size;
	}
	if (de > 0) {
		q->dropped_entries += de;
		q->dropped_bytes += db;
		q->entries -= de < q->entries ? de : q->entries;
		log_rl(&q->drop_rl, RLOG_WARN,
		       "%s: over capacity: dropped %" PRIu64 " unsent entries (%" PRIu64 " bytes)",
		       q->dir, de, db);
	}
	struct dq_pos np = {q->nseg > 1 ? q->segs[1].num : q->next_num, 0};
	if (pos_cmp(q->ack, np) < 0) {
		q->ack = np;
		q->ack_ord = 0;
	}
	if (pos_cmp(q->rd, np) < 0) {
		q->rd = np;
		q->rd_ord = 0;
	}
	remove_first(q);
}

/* Seals the last segment and starts a new one that takes appends. */
static int new_seg(struct dq *q)
{
	if (q->wfd >= 0) {
		close(q->wfd);
		q->wfd = -1;
	}
	if (q->nseg > 0)
		q->segs[q->nseg - 1].sealed = 1;
	if (q->nseg == q->segcap) {
		size_t nc = q->segcap ? q->segcap * 2 : 16;
		struct seg *ns = realloc(q->segs, nc * sizeof *ns);
		if (!ns)
			return -1;
		q->segs = ns;
		q->segcap = nc;
	}
	int fd = open_seg(q, q->next_num, O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
	if (fd < 0)
		return -1;
	q->wfd = fd;
	q->segs[q->nseg++] = (struct seg){.num = q->next_num};
	q->next_num++;
	gc(q);
	return 0;
}

/* Corrupt entry at off (ordinal ord) of segment i: the rest of that segment
 * is given up, since nothing after a bad header can be trusted. */
static void skip_rest(struct dq *q, size_t i, uint64_t off, uint64_t ord, const char *why)
{
	struct seg *s = &q->segs[i];
	uint64_t lost = s->entries > ord ? s->entries - ord : 0;
	log_warn("%s: segment %" PRIu64 ": %s at offset %" PRIu64
		 "; skipping the rest of it (%" PRIu64 " entries)",
		 q->dir, s->num, why, off, lost);
	q->corrupt++;
	q->entries -= lost < q->entries ? lost : q->entries;
	s->entries = ord;
	s->valid = off;
	if (is_write_seg(q, i)) {
		s->sealed = 1;
		if (q->wfd >= 0) {
			close(q->wfd);
			q->wfd = -1;
		}
	}
}

static int push_locked(struct dq *q, struct iovec *iov, size_t niov, size_t count, uint64_t need)
{
	if (need > q->cap) {
		errno = EFBIG;
		return -1;
	}
	size_t last = q->nseg - 1;
	int fresh = q->nseg == 0 || q->segs[last].sealed ||
		    (q->segs[last].size > 0 && q->segs[last].size + need > q->seg_max) ||
		    q->segs[last].size + need > q->cap; /* evicting the others would not do */
	if (fresh && new_seg(q) < 0)
		return -1;
	while (q->total + need > q->cap && q->nseg > 1)
		evict_first(q);
	struct seg *s = &q->segs[q->nseg - 1];
	if (q->wfd < 0) {
		q->wfd = open_seg(q, s->num, O_WRONLY | O_APPEND);
		if (q->wfd < 0)
			return -1;
	}
	if (writev_all(q->wfd, iov, niov) < 0) {
		int e = errno;
		/* cut the partial write so the batch is all or none */
		if (ftruncate(q->wfd, (off_t)s->size) < 0) {
			s->sealed = 1;
			close(q->wfd);
			q->wfd = -1;
		}
		errno = e;
		return -1;
	}
	s->size += need;
	s->valid = s->size;
	s->entries += count;
	q->total += need;
	q->entries += count;
	pthread_cond_broadcast(&q->cv);
	return 0;
}

int dq_push(struct dq *q, const void *p, size_t n)
{
	if (n > DQ_MAX_ENTRY) {
		errno = EFBIG;
		return -1;
	}
	unsigned char h[HDR];
	make_hdr(h, p, n, 0);
	struct iovec iov[2] = {{h, HDR}, {(void *)p, n}};
	pthread_mutex_lock(&q->mu);
	int r = push_locked(q, iov, 2, 1, HDR + (uint64_t)n);
	pthread_mutex_unlock(&q->mu);
	return r;
}

int dq_push_keep(struct dq *q, struct buf *b)
{
	size_t n = b->len;
	if (n > DQ_MAX_ENTRY) {
		errno = EFBIG;
		return -1;
	}
	unsigned char h[HDR];
	make_hdr(h, b->p, n, 0);
	struct iovec iov[2] = {{h, HDR}, {b->p, n}};
	pthread_mutex_lock(&q->mu);
	int r = push_locked(q, iov, 2, 1, HDR + (uint64_t)n);
	if (r == 0 && q->kept_n < KEEP_MAX && q->kept_bytes + b->cap <= KEEP_BYTES) {
		const struct seg *s = &q->segs[q->nseg - 1];
		struct kept *k = &q->kept[(q->kept_i + q->kept_n) % KEEP_MAX];
		k->pos = (struct dq_pos){s->num, s->size - (HDR + (uint64_t)n)};
		k->b = *b;
		*b = (struct buf)BUF_INIT;
		q->kept_n++;
		q->kept_bytes += k->b.cap;
	}
	pthread_mutex_unlock(&q->mu);
	return r;
}

int dq_pushv(struct dq *q, const struct buf *entries, size_t count)
{
	if (count == 0)
		return 0;
	uint64_t need = 0;
	for (size_t i = 0; i < count; i++) {
		if (entries[i].len > DQ_MAX_ENTRY) {
			errno = EFBIG;
			return -1;
		}
		need += HDR + entries[i].len;
		if (need > q->cap) {
			errno = EFBIG;
			return -1;
		}
	}
	/* count is bounded by cap / HDR here */
	unsigned char *hdrs = malloc(count * HDR);
	struct iovec *iov = malloc(count * 2 * sizeof *iov);
	if (!hdrs || !iov) {
		free(hdrs);
		free(iov);
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		make_hdr(hdrs + i * HDR, entries[i].p, entries[i].len, i + 1 < count);
		iov[2 * i] = (struct iovec){hdrs + i * HDR, HDR};
		iov[2 * i + 1] = (struct iovec){entries[i].p, entries[i].len};
	}
	pthread_mutex_lock(&q->mu);
	int r = push_locked(q, iov, count * 2, count, need);
	pthread_mutex_unlock(&q->mu);
	free(hdrs);
	free(iov);
	return r;
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
	while (q->kept_n && pos_cmp(q->kept[q->kept_i].pos, q->rd) < 0)
		drop_kept(q);
	if (!q->kept_n || pos_cmp(q->kept[q->kept_i].pos, q->rd) != 0)
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
		ssize_t si = find_seg(q, q->rd.seg);
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
			q->rfd = open_seg(q, s->num, O_RDONLY);
			if (q->rfd < 0) {
				if (errno != ENOENT)
					return -1;
				skip_rest(q, i, q->rd.off, q->rd_ord, "file gone");
				continue;
			}
			q->rfd_seg = s->num;
		}
		unsigned char h[HDR];
		ssize_t r = pread_full(q->rfd, h, HDR, q->rd.off);
		if (r < 0)
			return -1;
		int64_t len = r == HDR ? hdr_len(h, s->valid - q->rd.off, NULL) : -1;
		if (len < 0) {
			skip_rest(q, i, q->rd.off, q->rd_ord, "bad entry header");
			continue;
		}
		buf_reset(out);
		if (buf_reserve(out, (size_t)len + 1) < 0) {
			errno = ENOMEM;
			return -1;
		}
		r = pread_full(q->rfd, out->p, (size_t)len, q->rd.off + HDR);
		if (r < 0)
			return -1;
		if (r != len || entry_crc(h + 4, out->p, (size_t)len) != get32(h + 8)) {
			skip_rest(q, i, q->rd.off, q->rd_ord, "checksum mismatch");
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
	if (pos_cmp(pos, q->rd) == 0) {
		*ord = q->rd_ord;
		return 0;
	}
	for (unsigned k = 0; k < RING; k++) {
		if (pos_cmp(q->ring[k].pos, pos) == 0 && q->ring[k].ord <= s->entries) {
			*ord = q->ring[k].ord;
			return 0;
		}
	}
	uint64_t off = 0, o = 0;
	if (q->ack.seg == pos.seg && q->ack.off <= pos.off) {
		off = q->ack.off;
		o = q->ack_ord;
	}
	int fd = open_seg(q, s->num, O_RDONLY);
	if (fd < 0)
		return -1;
	int r = walk(q, fd, s->valid, pos.off, &off, &o);
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
	if (pos_cmp(next, q->ack) <= 0)
		goto out; /* already acknowledged, or evicted meanwhile */
	ssize_t si = find_seg(q, next.seg);
	uint64_t ord;
	ssize_t ai = find_seg(q, q->ack.seg);
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
	if (persist_ack(q, next) < 0) {
		r = -1;
		goto out;
	}
	q->entries -= done < q->entries ? done : q->entries;
	q->ack = next;
	q->ack_ord = ord;
	/* acked after a rewind (a late success): no need to send it again */
	if (pos_cmp(q->rd, next) < 0) {
		q->rd = next;
		q->rd_ord = ord;
	}
	gc(q);
out:
	pthread_mutex_unlock(&q->mu);
	return r;
}

int dq_acked(struct dq *q, struct dq_pos next)
{
	pthread_mutex_lock(&q->mu);
	int r = pos_cmp(next, q->ack) <= 0;
	pthread_mutex_unlock(&q->mu);
	return r;
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
	ssize_t si = find_seg(q, q->rd.seg);
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

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	uint64_t x = ((const struct seg *)a)->num, y = ((const struct seg *)b)->num;
	return x < y ? -1 : x > y;
}

static int parse_seg_name(const char *name, uint64_t *num)
{
	if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		unsigned d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*num = v;
	return 0;
}

static int list_segs(struct dq *q)
{
	int fd = openat(q->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	int r = 0;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		uint64_t num;
		if (parse_seg_name(e->d_name, &num) < 0 || num == UINT64_MAX)
			continue;
		if (q->nseg == q->segcap) {
			size_t nc = q->segcap ? q->segcap * 2 : 16;
			struct seg *ns = realloc(q->segs, nc * sizeof *ns);
			if (!ns) {
				r = -1;
				break;
			}
			q->segs = ns;
			q->segcap = nc;
		}
		q->segs[q->nseg++] = (struct seg){.num = num, .sealed = 1};
		errno = 0;
	}
	if (r == 0 && errno != 0)
		r = -1;
	closedir(d);
	if (q->nseg > 1)
		qsort(q->segs, q->nseg, sizeof *q->segs, cmp_seg);
	return r;
}

/* The last segment may end in an entry torn by a crash: check every
 * checksum and cut the file at the end of the last complete batch. */
static void count_entry(const unsigned char *entry, size_t len, void *ctx)
{
	(void)entry;
	(void)len;
	(*(uint64_t *)ctx)++;
}

/* The last segment may end in an entry torn by a crash: check every
 * checksum and cut the file at the end of the last complete batch. */
static int recover_last(struct dq *q, struct seg *s, int fd)
{
	uint64_t n = 0;
	size_t valid = 0;
	if (s->size > 0) {
		if (s->size > SIZE_MAX) {
			errno = EFBIG;
			return -1;
		}
		void *m = mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED)
			return -1;
		valid = dq_scan_segment(m, (size_t)s->size, count_entry, &n);
		munmap(m, (size_t)s->size);
	}
	if (valid < s->size) {
		log_warn("%s: segment %" PRIu64 ": cutting a torn or corrupt tail at offset %zu "
			 "(%" PRIu64 " bytes)",
			 q->dir, s->num, valid, s->size - valid);
		if (ftruncate(fd, (off_t)valid) < 0)
			return -1;
		q->corrupt++;
		s->size = valid;
	}
	s->valid = valid;
	s->entries = n;
	s->sealed = 0;
	return 0;
}

static int load_segs(struct dq *q)
{
	for (size_t i = 0; i < q->nseg; i++) {
		struct seg *s = &q->segs[i];
		int last = i + 1 == q->nseg;
		int fd = open_seg(q, s->num, last ? O_RDWR : O_RDONLY);
		if (fd < 0)
			return -1;
		struct stat st;
		int r = fstat(fd, &st);
		if (r == 0) {
			s->size = (uint64_t)st.st_size;
			if (last) {
				r = recover_last(q, s, fd);
			} else {
				uint64_t off = 0, ord = 0;
				r = walk(q, fd, s->size, s->size, &off, &ord);
				s->valid = off;
				s->entries = ord;
				if (r == 0 && off < s->size) {
					log_warn("%s: segment %" PRIu64
						 ": corrupt at offset %" PRIu64
						 "; skipping the rest of it",
						 q->dir, s->num, off);
					q->corrupt++;
				}
			}
		}
		int e = errno;
		close(fd);
		errno = e;
		if (r < 0)
			return -1;
		q->total += s->size;
	}
	return 0;
}

/* Places the ack position from the ack file onto the segments found. */
static int place_ack(struct dq *q, int have, struct dq_pos a)
{
	if (have) {
		while (q->nseg > 0 && q->segs[0].num < a.seg)
			remove_first(q); /* acked; a crash came before their deletion */
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
			int fd = open_seg(q, s->num, O_RDONLY);
			if (fd < 0)
				return -1;
			int r = walk(q, fd, s->valid, a.off, &off, &ord);
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

int dq_open(struct dq **qp, const char *dir, uint64_t capacity_bytes, char *err, size_t errlen)
{
	*qp = NULL;
	if (capacity_bytes == 0) {
		snprintf(err, errlen, "%s: capacity must be > 0", dir);
		return -1;
	}
	struct dq *q = calloc(1, sizeof *q);
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	q->dirfd = q->lockfd = q->ackfd = q->wfd = q->rfd = q->win_fd = -1;
	q->cap = capacity_bytes;
	q->drop_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	q->seg_max = capacity_bytes / 8;
	if (q->seg_max < SEG_MIN)
		q->seg_max = SEG_MIN;
	if (q->seg_max > SEG_MAX)
		q->seg_max = SEG_MAX;
	/* eviction goes a segment at a time: keep at least two in a small
	 * queue, or one eviction would empty it */
	if (q->seg_max > capacity_bytes / 2)
		q->seg_max = capacity_bytes / 2 > HDR ? capacity_bytes / 2 : HDR;
	q->dir = strdup(dir);
	q->win = malloc(WIN);
	pthread_condattr_t ca;
	int locks = 0;
	if (!q->dir || !q->win) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (pthread_mutex_init(&q->mu, NULL) != 0) {
		snprintf(err, errlen, "pthread_mutex_init failed");
		goto fail;
	}
	locks = 1;
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&q->cv, &ca) != 0) {
		snprintf(err, errlen, "pthread_cond_init failed");
		goto fail;
	}
	pthread_condattr_destroy(&ca);
	locks = 2;
	if (mkdir_p(dir) < 0 || (q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	q->lockfd = openat(q->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (q->lockfd < 0) {
		snprintf(err, errlen, "%s/lock: %s", dir, strerror(errno));
		goto fail;
	}
	if (flock(q->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "%s: queue in use by another process", dir);
		else
			snprintf(err, errlen, "%s/lock: %s", dir, strerror(errno));
		goto fail;
	}
	q->ackfd = openat(q->dirfd, "ack", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (q->ackfd < 0) {
		snprintf(err, errlen, "%s/ack: %s", dir, strerror(errno));
		goto fail;
	}
	struct dq_pos a = {0, 0};
	int have = load_ack(q, &a);
	if (have < 0) {
		snprintf(err, errlen, "%s/ack: %s", dir, strerror(errno));
		goto fail;
	}
	if (list_segs(q) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (load_segs(q) < 0 || place_ack(q, have, a) < 0) {
		snprintf(err, errlen, "%s: recovering the queue: %s", dir, strerror(errno));
		goto fail;
	}
	/* the capacity may have been lowered since the last run */
	while (q->total > q->cap && q->nseg > 1)
		evict_first(q);
	*qp = q;
	return 0;
fail:
	if (locks == 1)
		pthread_mutex_destroy(&q->mu);
	if (locks == 2) {
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
	}
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
	if (q->wfd >= 0)
		close(q->wfd);
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
