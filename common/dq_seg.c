/* The disk queue's segment files: the entry format (header, checksum,
 * batches), appends, starting and sealing segments, eviction past the
 * capacity, deletion of acknowledged segments, and the scan that recovers
 * them at open. Layout and format: dq.c's head comment. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "dq_seg.h"

uint32_t dq_entry_crc(const unsigned char *lenfield, const void *payload, size_t n)
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
	put_le32(h, ENTRY_MAGIC);
	put_le32(h + 4, (uint32_t)n | (more ? LEN_MORE : 0));
	put_le32(h + 8, dq_entry_crc(h + 4, p, n));
}

/* Length of the entry whose header is h, or -1 if h cannot start an entry
 * that fits in `room` bytes (header included). */
int64_t dq_hdr_len(const unsigned char *h, uint64_t room, int *more)
{
	if (get_le32(h) != ENTRY_MAGIC)
		return -1;
	uint32_t l = get_le32(h + 4);
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
		int64_t len = dq_hdr_len(p + off, n - off, &more);
		if (len < 0 ||
		    dq_entry_crc(p + off + 4, p + off + HDR, (size_t)len) != get_le32(p + off + 8))
			break;
		off += HDR + (size_t)len;
		if (more)
			continue;
		for (size_t o = valid; fn && o < off;) {
			size_t l = get_le32(p + o + 4) & LEN_MASK;
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

/* pread until n bytes or end of file; returns bytes read or -1. */
ssize_t dq_pread_full(int fd, void *p, size_t n, uint64_t off)
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
		ssize_t r = dq_pread_full(fd, q->win, big ? HDR : WIN, off);
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
int dq_walk(struct dq *q, int fd, uint64_t size, uint64_t stop, uint64_t *offp, uint64_t *ordp)
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
		int64_t len = dq_hdr_len(h, size - off, NULL);
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

int dq_open_seg(struct dq *q, uint64_t num, int flags)
{
	char name[32];
	seg_name(name, sizeof name, num);
	return openat(q->dirfd, name, flags | O_CLOEXEC, 0644);
}

ssize_t dq_find_seg(const struct dq *q, uint64_t num)
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

int dq_persist_ack(struct dq *q, struct dq_pos pos)
{
	unsigned char b[ACK_SLOT];
	uint64_t gen = q->ack_gen + 1;
	put_le32(b, ACK_MAGIC);
	put_le64(b + 8, gen);
	put_le64(b + 16, pos.seg);
	put_le64(b + 24, pos.off);
	put_le32(b + 4, libdeflate_crc32(0, b + 8, ACK_SLOT - 8));
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
int dq_load_ack(struct dq *q, struct dq_pos *pos)
{
	unsigned char b[2 * ACK_SLOT];
	ssize_t r = dq_pread_full(q->ackfd, b, sizeof b, 0);
	if (r < 0)
		return -1;
	int found = 0;
	for (size_t s = 0; s + ACK_SLOT <= (size_t)r; s += ACK_SLOT) {
		const unsigned char *p = b + s;
		if (get_le32(p) != ACK_MAGIC ||
		    get_le32(p + 4) != libdeflate_crc32(0, p + 8, ACK_SLOT - 8))
			continue;
		uint64_t gen = get_le64(p + 8);
		if (found && gen <= q->ack_gen)
			continue;
		found = 1;
		q->ack_gen = gen;
		pos->seg = get_le64(p + 16);
		pos->off = get_le64(p + 24);
	}
	return found;
}

void dq_remove_first(struct dq *q)
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
void dq_gc(struct dq *q)
{
	while (q->nseg > 0) {
		struct seg *s = &q->segs[0];
		if (s->num < q->ack.seg) {
			dq_remove_first(q);
			continue;
		}
		if (s->num == q->ack.seg && s->sealed && q->ack.off >= s->valid && q->nseg > 1) {
			struct dq_pos np = {q->segs[1].num, 0};
			/* persisted first: a crash now must not make the
			 * ack point at a segment that is about to vanish */
			if (dq_persist_ack(q, np) < 0)
				return;
			q->ack = np;
			q->ack_ord = 0;
			if (dq_pos_cmp(q->rd, np) < 0) {
				q->rd = np;
				q->rd_ord = 0;
			}
			dq_remove_first(q);
			continue;
		}
		break;
	}
}

void dq_evict_first(struct dq *q)
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
	if (dq_pos_cmp(q->ack, np) < 0) {
		q->ack = np;
		q->ack_ord = 0;
	}
	if (dq_pos_cmp(q->rd, np) < 0) {
		q->rd = np;
		q->rd_ord = 0;
	}
	dq_remove_first(q);
}

/* Seals the last segment and starts a new one that takes appends. */
static int new_seg(struct dq *q)
{
	/* what the old one holds goes to disk before its descriptor does */
	if (q->wfd >= 0 && q->dirty && q->sync.mode != DQ_SYNC_NEVER && dq_sync_writes(q, 1) < 0)
		return -1;
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
	int fd = dq_open_seg(q, q->next_num, O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
	if (fd < 0)
		return -1;
	q->wfd = fd;
	q->segs[q->nseg++] = (struct seg){.num = q->next_num};
	q->next_num++;
	dq_gc(q);
	/* the new file's name, so that its entries can be found after a
	 * power cut */
	if (q->sync.mode != DQ_SYNC_NEVER && fsync(q->dirfd) < 0)
		return -1;
	return 0;
}

int dq_sync_writes(struct dq *q, int force)
{
	if (!q->dirty || q->wfd < 0 || q->sync.mode == DQ_SYNC_NEVER)
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (!force && q->sync.mode == DQ_SYNC_INTERVAL && now - q->last_sync_ms < q->sync.ms)
		return 0;
	if (fdatasync(q->wfd) < 0)
		return -1;
	q->dirty = 0;
	q->last_sync_ms = now;
	q->syncs++;
	return 0;
}

/* Corrupt entry at off (ordinal ord) of segment i: the rest of that segment
 * is given up, since nothing after a bad header can be trusted. */
void dq_skip_rest(struct dq *q, size_t i, uint64_t off, uint64_t ord, const char *why)
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
		dq_evict_first(q);
	struct seg *s = &q->segs[q->nseg - 1];
	if (q->wfd < 0) {
		q->wfd = dq_open_seg(q, s->num, O_WRONLY | O_APPEND);
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
	q->dirty = 1;
	pthread_cond_broadcast(&q->cv);
	return dq_sync_writes(q, 0);
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

int dq_push_at(struct dq *q, const void *p, size_t n, struct dq_pos *end)
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
	if (r == 0) {
		/* Remembered with its ordinal, as a read's end is: acknowledging
		 * it soon after needs no walk over the headers. */
		const struct seg *s = &q->segs[q->nseg - 1];
		*end = (struct dq_pos){s->num, s->size};
		q->ring[q->ring_i++ % RING] = (struct ring_ent){*end, s->entries};
	}
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

int dq_list_segs(struct dq *q)
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

/* dq_scan_segment's callback for recovery: counts the entries. */
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

int dq_load_segs(struct dq *q)
{
	for (size_t i = 0; i < q->nseg; i++) {
		struct seg *s = &q->segs[i];
		int last = i + 1 == q->nseg;
		int fd = dq_open_seg(q, s->num, last ? O_RDWR : O_RDONLY);
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
				r = dq_walk(q, fd, s->size, s->size, &off, &ord);
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
