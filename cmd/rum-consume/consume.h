/* rum-consume's consumer: a librdkafka high-level consumer in a group,
 * whose messages go to standard output through the output queue (outq.h),
 * with the offsets stored only for what was written, and the partitions
 * paused while standard output does not take more. */
#ifndef RUM_CONSUME_CONSUME_H
#define RUM_CONSUME_CONSUME_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "check.h"
#include "errmsg.h"
#include "kafkaurl.h"
#include "log.h"
#include "outq.h"
#include "record.h"

#define KAFKA_OPTS_MAX 64

struct consume_conf {
	const struct kafka_url *url;
	const char *kafka_opts[KAFKA_OPTS_MAX]; /* "KEY=VALUE", given order */
	size_t nkafka_opts;
	size_t buffer;	   /* bytes waiting for stdout above which partitions pause */
	unsigned drain_ms; /* SIGTERM: longest wait for stdout to take what is left */
	int exit_at_end;   /* stop once every assigned partition is read to its end */
	size_t max_line;
	int check; /* --check-config: the handle is made, then discarded, in silence */
};

/* A partition this process has been assigned at some time. gen counts its
 * assignments, so that a line written after the partition went away and
 * came back does not store an offset of the old assignment. */
struct part {
	char *topic;
	int32_t partition;
	uint32_t gen;
	int assigned;
	int at_end;	  /* the end was reached and no message came since */
	int dirty;	  /* store holds an offset not yet given to librdkafka */
	int64_t store;	  /* next offset to store: last written + 1 */
	int64_t position; /* last offset taken + 1; -1 before the first */
};

struct consume_metrics {
	uint64_t *consumed, *written, *bad_record, *bad_long, *stale;
	uint64_t *paused, *pauses, *lag, *assigned;
	uint64_t *rebalance_assign, *rebalance_revoke, *commits_ok, *commits_err;
};

struct consumer {
	const struct consume_conf *conf;
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	int wake[2]; /* the consumer queue's wake-up pipe */
	struct outq out;
	struct part *parts;
	size_t nparts, pcap, last;
	size_t high, low;	/* stop taking at high bytes pending, resume at low */
	uint64_t pause_ms;	/* how long a full queue waits before pausing */
	uint64_t blocked_since; /* when the queue was last found full; 0: not full */
	int paused, failed, stop, out_flags;
	struct record rec;
	struct checker check;
	struct log_ratelimit rl_bad, rl_kafka;
	struct consume_metrics m;
};

/* The consumer handle from conf (not yet subscribed). -1 with err: bad
 * configuration (exit 2). */
int consumer_open(struct consumer *c, const struct consume_conf *conf, struct rum_error *err);
/* Frees a consumer that did not start (--check-config, a failed start). */
void consumer_discard(struct consumer *c);
/* Subscribes and makes standard output non-blocking. -1 with err. */
int consumer_start(struct consumer *c, struct rum_error *err);
/* Until SIGTERM, --exit-at-end or a failure; then drains standard output,
 * commits, leaves the group and frees everything. Returns the exit status. */
int consumer_run(struct consumer *c);

/* consumer.c, for loop.c */
struct part *part_get(struct consumer *c, const char *topic, int32_t partition);
void parts_pause(struct consumer *c, int pause);
void offsets_done(void *ctx, const struct outq_mark *m);
void offsets_store(struct consumer *c);
void offsets_commit(struct consumer *c, const char *why);
long settle(struct consumer *c);
void consumer_close(struct consumer *c);

#endif
