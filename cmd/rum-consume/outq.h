/* rum-consume's standard output: a bounded byte queue written without
 * blocking, and beside it the Kafka offsets of what it holds. A message's
 * offset becomes "done" only once write(2) has returned for the last byte
 * of its line, so that an offset is never stored for a record a crash
 * could still lose inside this process. */
#ifndef RUM_CONSUME_OUTQ_H
#define RUM_CONSUME_OUTQ_H

#include <stddef.h>
#include <stdint.h>

/* The last offset of a run of messages of one partition (one assignment
 * of it: gen) whose bytes end at stream position `end`. Consecutive
 * messages of one partition share a mark. */
struct outq_mark {
	uint32_t slot, gen;
	int64_t offset;
	uint64_t end;
	uint64_t records; /* lines in the run */
};

struct outq {
	int fd;
	char *p;
	size_t cap, head, tail;	    /* p[head..tail): bytes not written yet */
	uint64_t appended, written; /* stream positions since the start */
	struct outq_mark *marks;    /* a ring of mcap */
	size_t mcap, mhead, mcount;
	int err; /* errno of a failed write, sticky */
};

void outq_init(struct outq *q, int fd);
void outq_free(struct outq *q);

/* Appends line, then '\n', for the message (slot, gen, offset). -1: out
 * of memory. */
int outq_append(struct outq *q, const char *line, size_t len, uint32_t slot, uint32_t gen,
		int64_t offset);
/* A message that writes nothing (an invalid one): its offset is done once
 * everything before it is written. -1: out of memory. */
int outq_skip(struct outq *q, uint32_t slot, uint32_t gen, int64_t offset);

static inline size_t outq_pending(const struct outq *q)
{
	return q->tail - q->head;
}

/* write(2) until the queue is empty or the descriptor would block (it is
 * non-blocking). Returns the bytes written, or -1 with q->err set. */
long outq_write(struct outq *q);

/* Calls done(ctx, mark) for each mark whose bytes are all written, oldest
 * first, and forgets it. */
void outq_done(struct outq *q, void (*done)(void *ctx, const struct outq_mark *m), void *ctx);

#endif
