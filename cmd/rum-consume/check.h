/* The record check of a batch of messages on two threads: the main thread
 * and one worker each take half. The check (the record codec) is half of
 * rum-consume's CPU and kcat makes none, so on its own it kept rum-consume
 * under kcat's pace; halved, it does not. */
#ifndef RUM_CONSUME_CHECK_H
#define RUM_CONSUME_CHECK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "record.h"

/* The verdict on one message: a record at payload + skip, len bytes long
 * (whitespace around it left out), or not (ok = 0: the main thread checks
 * it again for the reason, which is rare). */
struct check_verdict {
	uint32_t skip;
	uint32_t ok;
	size_t len;
};

struct checker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running, quit;
	uint64_t posted, done; /* jobs given to the worker, and finished */
	rd_kafka_message_t **msgs;
	struct check_verdict *out;
	size_t n;
	size_t max_line;
	struct record rec; /* the worker's */
};

/* 0, or -1 with errno when the thread cannot start (then everything is
 * checked on the calling thread). */
int checker_start(struct checker *k, size_t max_line);
/* The verdicts on msgs[0..n) (messages with an error are left alone), own
 * being the calling thread's record. */
void checker_run(struct checker *k, struct record *own, rd_kafka_message_t **msgs, size_t n,
		 struct check_verdict *out);
void checker_stop(struct checker *k);

#endif
