/* The queue a sink delivers from: the disk queue (common/dq.h) when it has
 * a directory, else a FIFO of entries in memory. Entries are taken whole
 * into a slot's buffer (memory: the buffer itself changes hands, no copy)
 * and, in memory, counted until the slot is done with them, so that the
 * bytes held include what is in flight. A queue shared with another thread
 * (one pushes, the other takes) is opened `locked`. */
#ifndef RUM_SHIP_QUEUE_H
#define RUM_SHIP_QUEUE_H

#include <pthread.h>
#include <stdint.h>

#include "buf.h"
#include "dq.h"
#include "errmsg.h"

struct sq_ent {
	struct sq_ent *next;
	struct buf b;
	uint32_t units; /* what the entry holds (points of a batch), for the sink */
};

struct squeue {
	struct dq *dq; /* NULL: in memory */
	int locked;
	pthread_mutex_t mu;
	struct sq_ent *head, *tail;
	uint64_t bytes;	 /* of the entries waiting and of those taken, not done */
	uint64_t queued; /* entries waiting */
	uint64_t dropped, dropped_bytes;
};

/* In memory when dir is NULL, else the disk queue in dir (created) of
 * capacity bytes; err->msg is then the disk queue's reason. 0 or -1. */
int sq_open(struct squeue *q, const char *dir, uint64_t capacity, int locked,
	    struct rum_error *err);
void sq_close(struct squeue *q);
/* Memory: drops every entry waiting; returns how many. */
uint64_t sq_clear(struct squeue *q);

/* Memory: queues b's bytes, taking its memory (b is left empty). 0, or -1
 * when out of memory. */
int sq_push(struct squeue *q, struct buf *b, uint32_t units);
/* Memory: the same, first dropping the oldest waiting entries while b
 * would bring the bytes held past limit (counted in dropped). 1: queued;
 * 0: dropped all the same (what is in flight leaves no room, or out of
 * memory: *full tells which). */
int sq_push_bounded(struct squeue *q, struct buf *b, uint64_t limit, int *full);

/* The next entry into out (replacing its content), with its units and,
 * in a disk queue, its end to acknowledge. 1: got one; 0: none; -1: a
 * disk queue read error (errno). */
int sq_take(struct squeue *q, struct buf *out, uint32_t *units, struct dq_pos *next);
/* Memory: a taken entry of len bytes is done with. */
void sq_done(struct squeue *q, size_t len);
/* Nothing waits (a disk queue: nothing unacknowledged). */
int sq_empty(struct squeue *q);
/* An entry can be taken now (a cheap test, no read). */
int sq_ready(struct squeue *q);
/* Entries waiting in memory, dropped ones given back; for the gauges. */
void sq_memory_stats(struct squeue *q, uint64_t *queued, uint64_t *bytes, uint64_t *dropped,
		     uint64_t *dropped_bytes);

#endif
