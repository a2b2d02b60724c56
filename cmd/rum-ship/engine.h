/* The delivery engine of rum-ship: one for every sink.
 *
 * A sink keeps its own queue (usually a struct squeue, queue.h: in memory
 * or in the disk queue) and knows how to deliver one item of it. The
 * engine decides when: it keeps up to `slots` items in delivery at once,
 * remembers the order they were taken in (so a disk queue is acknowledged
 * only past items that are done), sorts outcomes into delivered / refused
 * for good / failed and retried, retries with backoff and jitter, waits,
 * and drains at the end.
 *
 * The interface a sink implements (struct sink_ops, each called with ctx):
 *   take       the next item of its queue into a free slot (sl->index names
 *              the sink's own per-slot state; set sl->next to where the item
 *              ends in a disk queue): ENG_GOT, ENG_NONE, or ENG_SKIP for an
 *              unusable entry it counted and logged (it is done with at once)
 *   send       start delivering the item: an HTTP sink adds its headers with
 *              eng_http_header() and ends with eng_http_post(); a sink with
 *              another transport starts it and reports with eng_done(), at
 *              once or later from its poll. -1: could not start (retried)
 *   delivered, refused, retrying, given_up: outcomes, for its counters and
 *              its log lines (the engine counts status classes and retries)
 *   release    the item is done with: its memory, its accounting
 *   ack        every item up to pos is done with, in order: persist it
 *   empty      nothing is left in its queue to take
 * and optionally: ready (an item can be taken now, a cheap test), gone (an
 * item waiting for a retry left the queue meanwhile: drop it), abandoned (an
 * item still in a slot at the end), poll (serve its transport's events, such
 * as delivery reports, without blocking), event_fd (a descriptor readable
 * when poll has work: the engine sleeps on it), gauges (refresh them).
 *
 * HTTP is offered, not imposed: with conf.url the engine owns a libcurl
 * multi handle and one kept-alive easy handle per slot; without it no curl
 * is touched, and a sink delivers however it likes (a file, a producer
 * library with delivery reports) and calls eng_done() per item.
 *
 * Retry policies: ENG_IN_ORDER (points: after a failure only the oldest
 * failed item is retried, alone, until it passes; then the failed ones go
 * first, oldest first) and ENG_EACH_ALONE (replays: each item has its own
 * backoff, and is dropped after conf.retries failures that count, those
 * while other items went through).
 *
 * One thread drives an engine; eng_wakeup() may be called from another. */
#ifndef RUM_SHIP_ENGINE_H
#define RUM_SHIP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "dq.h"
#include "errmsg.h"

enum eng_state { ENG_FREE, ENG_INFLIGHT, ENG_WAIT };
enum eng_take { ENG_NONE = 0, ENG_GOT = 1, ENG_SKIP = 2 };
enum eng_result { ENG_OK, ENG_REFUSED, ENG_RETRY };
enum eng_policy { ENG_IN_ORDER, ENG_EACH_ALONE };

struct eng_req; /* the HTTP request of a slot (engine.c) */

struct eng_slot {
	size_t index; /* 0..slots-1: the sink's per-slot state */
	enum eng_state state;
	struct dq_pos next; /* set by take: the item's end in a disk queue */
	uint64_t seq;	    /* order of taking */
	unsigned fails;	    /* ENG_EACH_ALONE: failures that count */
	uint64_t id, taken; /* ENG_EACH_ALONE: the item, answers seen at take */
	uint64_t backoff, retry_at;
	struct eng_req *req; /* NULL without HTTP */
};

struct sink_ops {
	int (*take)(void *ctx, struct eng_slot *sl);
	int (*send)(void *ctx, struct eng_slot *sl);
	/* was_failing: ENG_IN_ORDER, the sink had failed until this one */
	void (*delivered)(void *ctx, struct eng_slot *sl, int was_failing);
	/* why: "HTTP 400" or the transport's reason; answer: what the sink
	 * said (at most 512 bytes), "" when nothing */
	void (*refused)(void *ctx, struct eng_slot *sl, const char *why, const char *answer);
	void (*retrying)(void *ctx, struct eng_slot *sl, const char *why, uint64_t wait_ms);
	void (*given_up)(void *ctx, struct eng_slot *sl, const char *why, unsigned fails);
	void (*release)(void *ctx, struct eng_slot *sl);
	void (*ack)(void *ctx, struct dq_pos pos);
	int (*empty)(void *ctx);
	int (*ready)(void *ctx);
	int (*gone)(void *ctx, struct eng_slot *sl);
	void (*abandoned)(void *ctx, struct eng_slot *sl);
	void (*poll)(void *ctx);
	int (*event_fd)(void *ctx);
	void (*gauges)(void *ctx);
};

/* Counters the engine bumps; the sink registers them (its metric names). */
struct eng_counters {
	uint64_t *c2xx, *c3xx, *c4xx, *c5xx; /* c3xx may be NULL: not counted */
	uint64_t *neterr;		     /* no answer (connect, timeout, reset) */
	uint64_t *retries;		     /* failures queued for a retry */
	uint64_t *inflight;		     /* a gauge set after every pump, or NULL */
};

struct eng_conf {
	size_t slots;
	size_t window; /* items taken past the oldest one not done, at most */
	enum eng_policy policy;
	uint64_t backoff_min_ms, backoff_max_ms;
	uint64_t retries; /* ENG_EACH_ALONE */
	uint64_t seed;	  /* of the jitter */
	int durable;	  /* what is left at the end stays in a disk queue */
	const char *what; /* "a request": for "cannot start a request" */
	struct eng_counters m;
	/* HTTP: POSTs to url; NULL for a sink that does not use it */
	const char *url;
	long timeout_s;
};

struct eng;

/* 0, or -1 with err->msg "out of memory" or "cannot initialise libcurl". */
int eng_open(struct eng **e, const struct eng_conf *c, const struct sink_ops *ops, void *ctx,
	     struct rum_error *err);
void eng_close(struct eng *e);

/* Makes progress without blocking: completions, due retries, new items. */
void eng_pump(struct eng *e);
/* Sleeps up to timeout_ms (less when a retry is due sooner) for network
 * activity, eng_wakeup, or fd readable (fd >= 0); does not pump. 1 when fd
 * is readable. */
int eng_poll(struct eng *e, int fd, int timeout_ms);
/* eng_poll, then eng_pump. */
int eng_wait(struct eng *e, int fd, int timeout_ms);
/* Ends an eng_poll of another thread early (HTTP engines). */
void eng_wakeup(struct eng *e);

/* A free slot and room in the order window, and the sink has an item. */
int eng_can_take(struct eng *e);
/* No item in a slot, and the sink's queue is empty. */
int eng_idle(struct eng *e);
size_t eng_inflight(const struct eng *e);
/* Items wait for a retry because the sink failed them. */
int eng_failing(const struct eng *e);

/* The end: every item gets one more try now (ENG_EACH_ALONE), and from
 * then on eng_drain_over says when to stop: all done, deadline_ms passed,
 * or (durable sinks) the sink is failing and what is left is safe on disk. */
void eng_drain_begin(struct eng *e);
int eng_drain_over(struct eng *e, uint64_t now, uint64_t deadline_ms);
/* The whole drain on the calling thread (sinks without a thread of their
 * own): begin, then wait and pump until over, with the gauges and the
 * metrics file written every 2 s. 1 when everything is done. */
int eng_drain(struct eng *e, uint64_t deadline_ms);
/* Stops what is in flight; ops->abandoned for each item still in a slot. */
void eng_abandon(struct eng *e);

/* The outcome of an item sent by a transport other than HTTP. */
void eng_done(struct eng *e, struct eng_slot *sl, enum eng_result r, const char *why);

/* HTTP sinks, from send: one header line ("Name: value", "Name:" to drop
 * one of curl's), name and value apart, then the POST of body (not copied:
 * it must live until the item is released). 0 or -1. */
int eng_http_header(struct eng *e, struct eng_slot *sl, const char *line);
int eng_http_header_n(struct eng *e, struct eng_slot *sl, const char *name, const char *v,
		      size_t n);
int eng_http_post(struct eng *e, struct eng_slot *sl, const void *body, size_t len);

#endif
