/* A sink's queue: the disk queue, or a FIFO in memory (queue.h). */
#include "queue.h"

#include <stdlib.h>

static void lock(struct squeue *q)
{
	if (q->locked)
		pthread_mutex_lock(&q->mu);
}

static void unlock(struct squeue *q)
{
	if (q->locked)
		pthread_mutex_unlock(&q->mu);
}

int sq_open(struct squeue *q, const char *dir, uint64_t capacity, int locked, struct rum_error *err)
{
	*q = (struct squeue){.locked = locked};
	if (locked && pthread_mutex_init(&q->mu, NULL) != 0) {
		q->locked = 0;
		return err_set(err, "pthread_mutex_init failed");
	}
	if (dir && dq_open(&q->dq, dir, capacity, err) < 0)
		return -1;
	return 0;
}

uint64_t sq_clear(struct squeue *q)
{
	lock(q);
	uint64_t n = q->queued;
	while (q->head) {
		struct sq_ent *m = q->head;
		q->head = m->next;
		q->bytes -= m->b.len;
		buf_free(&m->b);
		free(m);
	}
	q->tail = NULL;
	q->queued = 0;
	unlock(q);
	return n;
}

void sq_close(struct squeue *q)
{
	sq_clear(q);
	if (q->dq)
		dq_close(q->dq);
	q->dq = NULL;
	if (q->locked)
		pthread_mutex_destroy(&q->mu);
	q->locked = 0;
}

/* Links a new entry holding b's memory; with the lock held. */
static struct sq_ent *append(struct squeue *q, struct buf *b, uint32_t units)
{
	struct sq_ent *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->b = *b;
	m->units = units;
	q->bytes += b->len;
	q->queued++;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	*b = (struct buf)BUF_INIT;
	return m;
}

int sq_push(struct squeue *q, struct buf *b, uint32_t units)
{
	lock(q);
	struct sq_ent *m = append(q, b, units);
	unlock(q);
	return m ? 0 : -1;
}

int sq_push_bounded(struct squeue *q, struct buf *b, uint64_t limit, int *full)
{
	uint64_t n = b->len;
	lock(q);
	while (q->head && q->bytes + n > limit) {
		struct sq_ent *m = q->head;
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->queued--;
		q->bytes -= m->b.len;
		q->dropped++;
		q->dropped_bytes += m->b.len;
		buf_free(&m->b);
		free(m);
	}
	*full = q->bytes + n > limit;
	struct sq_ent *m = *full ? NULL : append(q, b, 0);
	if (!m) {
		q->dropped++;
		q->dropped_bytes += n;
	}
	unlock(q);
	return m != NULL;
}

int sq_take(struct squeue *q, struct buf *out, uint32_t *units, struct dq_pos *next)
{
	if (q->dq) {
		*units = 0;
		return dq_read(q->dq, out, next);
	}
	lock(q);
	struct sq_ent *m = q->head;
	if (m) {
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		q->queued--;
	}
	unlock(q);
	if (!m)
		return 0;
	buf_free(out);
	*out = m->b;
	*units = m->units;
	free(m);
	return 1;
}

void sq_done(struct squeue *q, size_t len)
{
	if (q->dq)
		return;
	lock(q);
	q->bytes -= len;
	unlock(q);
}

int sq_empty(struct squeue *q)
{
	if (q->dq) {
		struct dq_stats st;
		dq_get_stats(q->dq, &st);
		return st.entries == 0;
	}
	lock(q);
	int none = q->head == NULL;
	unlock(q);
	return none;
}

int sq_ready(struct squeue *q)
{
	if (q->dq)
		return dq_wait(q->dq, 0) == 1;
	return !sq_empty(q);
}

void sq_memory_stats(struct squeue *q, uint64_t *queued, uint64_t *bytes, uint64_t *dropped,
		     uint64_t *dropped_bytes)
{
	lock(q);
	*queued = q->queued;
	*bytes = q->bytes;
	*dropped = q->dropped;
	*dropped_bytes = q->dropped_bytes;
	unlock(q);
}
