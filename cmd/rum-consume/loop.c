/* rum-consume's main loop: messages from librdkafka's consumer queue into
 * the output queue, the output queue into standard output, offsets stored
 * behind what was written, partitions paused while it does not drain. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "consume.h"
#include "metrics.h"
#include "opts.h"
#include "sig.h"

#define BATCH 1024	/* messages taken from librdkafka at once */
#define WAIT_MS 200	/* longest sleep: keeps polling librdkafka while paused */
#define METRICS_MS 2000 /* the metrics file is written this often */
#define BAD_SHOWN 120	/* bytes of an invalid message quoted */

static void bad_message(struct consumer *c, const rd_kafka_message_t *m, uint64_t *counter,
			const char *why)
{
	char shown[BAD_SHOWN + 4];
	metric_inc(counter);
	excerpt(shown, sizeof shown, m->payload ? m->payload : "", m->len);
	log_rl(&c->rl_bad, RLOG_WARN, "%s [%" PRId32 "] offset %" PRId64 ": %s; skipped: %s",
	       rd_kafka_topic_name(m->rkt), m->partition, m->offset, why, shown);
}

/* A message that is not an error, with the check's verdict: its record to
 * the output queue, or its offset only when it is not a valid record. -1:
 * out of memory. */
static int one_message(struct consumer *c, const rd_kafka_message_t *m, struct part *p,
		       const struct check_verdict *v)
{
	uint32_t slot = (uint32_t)(p - c->parts);
	const char *s = m->payload ? m->payload : "";
	metric_inc(c->m.consumed);
	p->at_end = 0;
	p->position = m->offset + 1;
	if (v->ok)
		return outq_append(&c->out, s + v->skip, v->len, slot, p->gen, m->offset);
	if (m->len > c->conf->max_line) {
		bad_message(c, m, c->m.bad_long, "longer than --max-line");
		return outq_skip(&c->out, slot, p->gen, m->offset);
	}
	/* Checked again here for the reason. Whitespace around the object (a
	 * producer's trailing newline) is dropped; a newline inside it would
	 * split the record in two lines. */
	struct rum_error err;
	if (rec_parse_line(&c->rec, s, m->len, &err) < 0) {
		char why[RUM_ERROR_MAX + 32];
		snprintf(why, sizeof why, "%s (at byte %zu)", err.msg, err.offset);
		bad_message(c, m, c->m.bad_record, why);
	} else {
		bad_message(c, m, c->m.bad_record, "a newline inside the record");
	}
	return outq_skip(&c->out, slot, p->gen, m->offset);
}

static void kafka_event(struct consumer *c, const rd_kafka_message_t *m, struct part *p)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		if (p)
			p->at_end = 1;
		return;
	}
	if (m->rkt)
		log_rl(&c->rl_kafka, RLOG_WARN, "%s [%" PRId32 "]: %s", rd_kafka_topic_name(m->rkt),
		       m->partition, rd_kafka_message_errstr(m));
	else
		log_rl(&c->rl_kafka, RLOG_WARN, "kafka: %s", rd_kafka_message_errstr(m));
}

/* Takes what librdkafka has ready (serving its callbacks on the way, the
 * rebalance among them). Returns the number of messages, -1 on failure. */
static int take(struct consumer *c)
{
	rd_kafka_message_t *msgs[BATCH];
	ssize_t n = rd_kafka_consume_batch_queue(c->q, 0, msgs, BATCH);
	if (n < 0) {
		log_error("consuming: %s", rd_kafka_err2str(rd_kafka_last_error()));
		c->failed = 1;
		return -1;
	}
	static struct check_verdict verdicts[BATCH];
	checker_run(&c->check, &c->rec, msgs, (size_t)n, verdicts);
	int rc = 0;
	for (ssize_t i = 0; i < n; i++) {
		rd_kafka_message_t *m = msgs[i];
		struct part *p =
		    m->rkt ? part_get(c, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
		if (m->err)
			kafka_event(c, m, p);
		else if (!p || !p->assigned)
			metric_inc(c->m.stale);
		else if (rc == 0 && one_message(c, m, p, &verdicts[i]) < 0)
			rc = -1;
		rd_kafka_message_destroy(m);
	}
	if (rc < 0) {
		log_error("out of memory");
		c->failed = 1;
		return -1;
	}
	return (int)n;
}

/* Writes what standard output takes now and stores the offsets of the
 * lines finished. Returns the bytes written, -1 when writing failed. */
long settle(struct consumer *c)
{
	if (!outq_pending(&c->out))
		return 0;
	long n = outq_write(&c->out);
	if (n > 0) {
		outq_done(&c->out, offsets_done, c);
		offsets_store(c);
	}
	if (n < 0 && !c->failed) {
		log_error("writing standard output: %s", strerror(c->out.err));
		c->failed = c->stop = 1;
	}
	return n;
}

static int all_at_end(const struct consumer *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->nparts; i++) {
		if (!c->parts[i].assigned)
			continue;
		if (!c->parts[i].at_end)
			return 0;
		n++;
	}
	return n > 0;
}

/* The gauges computed from librdkafka's cached watermarks (no request). */
static void gauges(struct consumer *c)
{
	uint64_t lag = 0, nassigned = 0;
	for (size_t i = 0; i < c->nparts; i++) {
		struct part *p = &c->parts[i];
		int64_t lo, hi;
		if (!p->assigned)
			continue;
		nassigned++;
		if (p->position >= 0 &&
		    rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) ==
			RD_KAFKA_RESP_ERR_NO_ERROR &&
		    hi > p->position)
			lag += (uint64_t)(hi - p->position);
	}
	metric_set(c->m.lag, lag);
	metric_set(c->m.assigned, nassigned);
}

static void metrics_turn(struct consumer *c, int now)
{
	static uint64_t last;
	const char *path = common_opts.metrics_file;
	uint64_t t = mono_ms();
	if (!path || (!now && t - last < METRICS_MS))
		return;
	last = t;
	if (c->rk)
		gauges(c);
	if (metrics_write_file(path) < 0)
		log_warn("cannot write --metrics-file %s: %s", path, strerror(errno));
}

/* Sleeps until standard output takes more (when something waits for it),
 * a message comes (unless paused), a signal, or WAIT_MS. */
static void wait_io(struct consumer *c)
{
	struct pollfd pf[2] = {
	    {.fd = outq_pending(&c->out) ? STDOUT_FILENO : -1, .events = POLLOUT},
	    {.fd = c->paused ? -1 : c->wake[0], .events = POLLIN},
	};
	if (poll(pf, 2, WAIT_MS) > 0 && (pf[1].revents & POLLIN)) {
		char drain[64];
		while (read(c->wake[0], drain, sizeof drain) > 0)
			;
	}
}

/* Standard output holds --buffer bytes: nothing more is taken. A short
 * block is the next stage's pace and costs nothing (librdkafka keeps what
 * it fetched ahead, within queued.max.messages.kbytes); one that lasts
 * pause_ms pauses the partitions, so that polling can go on without
 * taking messages. Returns 1 while the loop is to wait for stdout only. */
static int full(struct consumer *c)
{
	if (outq_pending(&c->out) < c->high) {
		c->blocked_since = 0;
		if (c->paused && outq_pending(&c->out) <= c->low)
			parts_pause(c, 0);
		return 0;
	}
	if (c->paused)
		return 0;
	uint64_t now = mono_ms();
	if (!c->blocked_since)
		c->blocked_since = now;
	if (now - c->blocked_since >= c->pause_ms) {
		parts_pause(c, 1);
		return 0;
	}
	struct pollfd pf = {.fd = STDOUT_FILENO, .events = POLLOUT};
	poll(&pf, 1, (int)(c->pause_ms - (now - c->blocked_since)));
	return 1;
}

/* SIGTERM or the end: what is in the output queue goes out, within
 * --drain-timeout; librdkafka is still polled meanwhile. */
static void drain(struct consumer *c)
{
	if (!c->paused)
		parts_pause(c, 1);
	uint64_t deadline = mono_ms() + c->conf->drain_ms;
	while (!c->out.err && outq_pending(&c->out)) {
		if (settle(c) < 0 || !outq_pending(&c->out))
			break;
		uint64_t now = mono_ms();
		if (now >= deadline)
			break;
		struct pollfd pf = {.fd = STDOUT_FILENO, .events = POLLOUT};
		uint64_t left = deadline - now;
		poll(&pf, 1, left < WAIT_MS ? (int)left : WAIT_MS);
		take(c);
	}
	if (outq_pending(&c->out) && !c->out.err) {
		log_error("%zu bytes still not taken by standard output after --drain-timeout; "
			  "their records will be read again from Kafka",
			  outq_pending(&c->out));
		c->failed = 1;
	}
}

int consumer_run(struct consumer *c)
{
	while (!sig_term && !c->stop) {
		if (settle(c) < 0)
			break;
		metrics_turn(c, 0);
		if (full(c))
			continue;
		/* Paused, this still serves librdkafka's callbacks and counts
		 * as a poll for max.poll.interval.ms. */
		int took = take(c);
		if (took < 0)
			break;
		if (took > 0)
			continue;
		if (c->conf->exit_at_end && !outq_pending(&c->out) && all_at_end(c)) {
			log_info("every assigned partition read to its end");
			break;
		}
		wait_io(c);
	}
	if (!c->out.err)
		drain(c);
	offsets_commit(c, "at exit");
	gauges(c);
	consumer_close(c);
	metric_set(c->m.assigned, 0);
	metric_set(c->m.paused, 0);
	metrics_turn(c, 1);
	return c->failed ? 1 : 0;
}
