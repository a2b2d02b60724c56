#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More marks than this means messages of one byte each filling the
 * buffer; the bound is on memory, not expected to be reached. */
#define MARKS_MAX ((size_t)1 << 24)

void outq_init(struct outq *q, int fd)
{
	memset(q, 0, sizeof *q);
	q->fd = fd;
}

void outq_free(struct outq *q)
{
	free(q->p);
	free(q->marks);
	q->p = NULL;
	q->marks = NULL;
}

/* Room for n more bytes at the tail: the written bytes before head are
 * reclaimed first, then the buffer grows. */
static int room(struct outq *q, size_t n)
{
	if (q->cap - q->tail >= n)
		return 0;
	if (q->head) {
		memmove(q->p, q->p + q->head, q->tail - q->head);
		q->tail -= q->head;
		q->head = 0;
		if (q->cap - q->tail >= n)
			return 0;
	}
	size_t want = q->cap ? q->cap : 1 << 20;
	while (want - q->tail < n) {
		if (want > SIZE_MAX / 4)
			return -1;
		want *= 2;
	}
	char *p = realloc(q->p, want);
	if (!p)
		return -1;
	q->p = p;
	q->cap = want;
	return 0;
}

/* The ring grows by re-laying it out from index 0. */
static int mark_room(struct outq *q)
{
	if (q->mcount < q->mcap)
		return 0;
	size_t ncap = q->mcap ? q->mcap * 2 : 256;
	if (ncap > MARKS_MAX)
		return -1;
	struct outq_mark *m = malloc(ncap * sizeof *m);
	if (!m)
		return -1;
	for (size_t i = 0; i < q->mcount; i++)
		m[i] = q->marks[(q->mhead + i) % q->mcap];
	free(q->marks);
	q->marks = m;
	q->mcap = ncap;
	q->mhead = 0;
	return 0;
}

static int add_mark(struct outq *q, uint32_t slot, uint32_t gen, int64_t offset, int line)
{
	if (q->mcount) {
		struct outq_mark *last = &q->marks[(q->mhead + q->mcount - 1) % q->mcap];
		if (last->slot == slot && last->gen == gen) {
			last->offset = offset;
			last->end = q->appended;
			last->records += (uint64_t)line;
			return 0;
		}
	}
	if (mark_room(q) < 0)
		return -1;
	q->marks[(q->mhead + q->mcount) % q->mcap] = (struct outq_mark){.slot = slot,
									.gen = gen,
									.offset = offset,
									.end = q->appended,
									.records = (uint64_t)line};
	q->mcount++;
	return 0;
}

int outq_append(struct outq *q, const char *line, size_t len, uint32_t slot, uint32_t gen,
		int64_t offset)
{
	if (len > SIZE_MAX / 2 || room(q, len + 1) < 0)
		return -1;
	memcpy(q->p + q->tail, line, len);
	q->p[q->tail + len] = '\n';
	q->tail += len + 1;
	q->appended += len + 1;
	return add_mark(q, slot, gen, offset, 1);
}

int outq_skip(struct outq *q, uint32_t slot, uint32_t gen, int64_t offset)
{
	return add_mark(q, slot, gen, offset, 0);
}

long outq_write(struct outq *q)
{
	long total = 0;
	while (q->head < q->tail) {
		ssize_t n = write(q->fd, q->p + q->head, q->tail - q->head);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			q->err = errno;
			return -1;
		}
		q->head += (size_t)n;
		q->written += (uint64_t)n;
		total += n;
	}
	if (q->head == q->tail)
		q->head = q->tail = 0;
	return total;
}

void outq_done(struct outq *q, void (*done)(void *ctx, const struct outq_mark *m), void *ctx)
{
	while (q->mcount) {
		struct outq_mark *m = &q->marks[q->mhead];
		if (m->end > q->written)
			break;
		done(ctx, m);
		q->mhead = (q->mhead + 1) % q->mcap;
		q->mcount--;
	}
}
