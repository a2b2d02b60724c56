/* Records to Apache Kafka (kafka://BROKERS/TOPIC) with librdkafka, through
 * the delivery engine (engine.h) with no HTTP.
 *
 * Records are gathered into batches, each one queue entry (kafka.h), in
 * memory or in the disk queue with --spool-dir. An item of the engine is a
 * batch: send() hands its messages to the producer, one message a record
 * (the line as read, key the session_id tag, headers measurement and
 * app_id), without copying them (they stay in the slot's buffer until
 * their delivery reports are in). The batch is done when every message has
 * a report: delivered, or refused for good (too large, invalid: counted and
 * dropped, as a 4xx is); if some failed otherwise (librdkafka's own retries
 * ran out: message.timeout.ms), the batch is failed and the engine retries
 * it with its backoff, in order, and only the failed messages are produced
 * again. The engine acknowledges the disk queue past batches that are done,
 * in order.
 *
 * librdkafka writes a byte to a pipe when reports are waiting: the engine
 * sleeps on it (event_fd) and poll() serves them. Outcomes reach the engine
 * from poll() only, never from send(), so that a batch that fails at once
 * waits out the backoff like any other.
 *
 * A full producer queue (QUEUE_FULL) stalls the batch being produced; the
 * rest of it, and the batches sent after it, are produced in order once
 * reports make room, and until then kafka_full() stops the input.
 *
 * session_replay records go to the replay topic through a second producer
 * with its own message.max.bytes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "ship.h"

#define CLOSE_FLUSH_MS 5000 /* at the end, for the reports of purged messages */

/* The batch in a slot. */
struct kslot {
	struct buf body; /* the queue entry; messages point into it */
	struct kmsg *msgs;
	size_t cap;
	uint32_t n;	   /* messages */
	uint32_t next;	   /* the next one to hand to the producer */
	uint32_t inflight; /* handed over, no report yet */
	uint32_t failed;   /* reports of errors worth a retry */
	int done_queued;   /* in the list of outcomes for the engine */
	struct eng_slot *es;
	char why[160]; /* the last error worth a retry */
};

struct kafka {
	const struct ship_conf *c;
	struct eng *eng;
	rd_kafka_t *rk, *rk_replay;
	rd_kafka_topic_t *topic, *replay_topic;
	int evfd[2]; /* reports are waiting: librdkafka (or we) wrote a byte */
	struct kslot *slots;
	size_t nslots;
	/* slots with messages still to produce, in the order they were sent */
	size_t *fifo, fifo_head, fifo_len;
	int stalled; /* the producer's queue is full */
	/* batches done, to report to the engine from poll() */
	size_t *done, ndone;
	int closing; /* after the drain: reports only counted */
	int fatal;
	char fatal_why[512];

	struct squeue q;
	struct buf batch, scratch;
	struct buf spare; /* a released batch's buffer, for the next batch */
	uint32_t nrec;
	uint64_t deadline; /* monotonic ms when the batch in hand must go */

	struct log_ratelimit rl_fail, rl_drop, rl_spool, rl_kafka;
	struct eng_counters m;
	uint64_t *m_delivered, *m_delivered_replay, *m_bytes, *m_too_large, *m_invalid, *m_errors,
	    *m_inflight_msgs, *m_outq, *m_memq_bytes, *m_memq_batches, *m_spool_entries,
	    *m_spool_bytes, *m_spool_dropped, *m_spool_corrupt, *m_spool_bad, *m_spool_errors,
	    *m_lost;
};

static void init_metrics(struct kafka *k)
{
#define C(var, name, labels, help) k->var = metric_get(name, labels, METRIC_COUNTER, help)
#define G(var, name, help) k->var = metric_get(name, NULL, METRIC_GAUGE, help)
	const char *dh = "Messages Kafka acknowledged (delivery report without error), by topic.";
	C(m_delivered, "rum_ship_kafka_delivered_total", "topic=\"records\"", dh);
	C(m_delivered_replay, "rum_ship_kafka_delivered_total", "topic=\"replay\"", dh);
	C(m_bytes, "rum_ship_kafka_delivered_bytes_total", NULL,
	  "Bytes of the messages Kafka acknowledged (before compression).");
	const char *rh = "Messages refused for good (counted and dropped), by reason.";
	C(m_too_large, "rum_ship_kafka_dropped_total", "reason=\"too_large\"", rh);
	C(m_invalid, "rum_ship_kafka_dropped_total", "reason=\"invalid\"", rh);
	C(m_errors, "rum_ship_kafka_message_errors_total", NULL,
	  "Delivery reports with an error worth a retry (the message is produced again).");
	C(m.retries, "rum_ship_retries_total", NULL,
	  "Batches with messages that failed and were queued for a retry.");
	G(m_inflight_msgs, "rum_ship_kafka_inflight_messages",
	  "Messages handed to the producer, without a delivery report yet.");
	G(m_outq, "rum_ship_kafka_producer_queue_messages",
	  "Messages and requests in librdkafka's queues (rd_kafka_outq_len).");
	G(m_memq_bytes, "rum_ship_memory_queue_bytes",
	  "Bytes of batches waiting in memory (in flight and failed included).");
	G(m_memq_batches, "rum_ship_memory_queue_batches", "Batches waiting in memory.");
	G(m_spool_entries, "rum_ship_spool_entries",
	  "Batches in the disk queue not yet acknowledged.");
	G(m_spool_bytes, "rum_ship_spool_bytes", "Bytes of the disk queue on disk.");
	C(m_spool_dropped, "rum_ship_spool_dropped_batches_total", NULL,
	  "Unsent batches evicted from the full disk queue.");
	C(m_spool_corrupt, "rum_ship_spool_corrupt_total", NULL,
	  "Disk queue entries skipped as unreadable.");
	C(m_spool_bad, "rum_ship_spool_bad_entries_total", NULL,
	  "Disk queue entries that are not a batch of records (skipped).");
	C(m_spool_errors, "rum_ship_spool_errors_total", NULL,
	  "Batches lost because the disk queue could not be written.");
	C(m_lost, "rum_ship_lost_records_total", NULL,
	  "Records given up at exit (Kafka failing past --drain-timeout, or a fatal producer "
	  "error, without a spool).");
#undef C
#undef G
}

/* ---- the producers ------------------------------------------------------- */

/* A byte on our own pipe: poll() has outcomes to report. */
static void wake(struct kafka *k)
{
	ssize_t r = write(k->evfd[1], "k", 1);
	(void)r; /* full: a wake-up is pending anyway */
}

static int permanent(rd_kafka_resp_err_t e, int *too_large)
{
	*too_large = e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
		     e == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
		     e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
	return *too_large || e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
	       e == RD_KAFKA_RESP_ERR_INVALID_RECORD || e == RD_KAFKA_RESP_ERR__BAD_MSG ||
	       e == RD_KAFKA_RESP_ERR__INVALID_ARG;
}

/* A batch whose messages all have an outcome goes on the list for poll(). */
static void maybe_done(struct kafka *k, struct kslot *s)
{
	if (s->next < s->n || s->inflight || s->done_queued || k->closing)
		return;
	s->done_queued = 1;
	k->done[k->ndone++] = (size_t)(s - k->slots);
	wake(k);
}

/* The outcome of one message: 0 (delivered) or librdkafka's error. */
static void outcome(struct kafka *k, struct kslot *s, struct kmsg *m, rd_kafka_resp_err_t e)
{
	int too_large;
	if (!e) {
		m->state = KM_DONE;
		metric_inc(m->replay ? k->m_delivered_replay : k->m_delivered);
		metric_add(k->m_bytes, m->len);
	} else if (permanent(e, &too_large)) {
		m->state = KM_DROPPED;
		metric_inc(too_large ? k->m_too_large : k->m_invalid);
		log_rl(&k->rl_drop, RLOG_ERROR,
		       "Kafka refused a %s message of %" PRIu32 " bytes (dropped): %s",
		       m->replay ? "session_replay" : "record", m->len, rd_kafka_err2str(e));
	} else {
		m->state = KM_FAILED;
		s->failed++;
		metric_inc(k->m_errors);
		snprintf(s->why, sizeof s->why, "%s", rd_kafka_err2str(e));
	}
}

static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	struct kafka *k = opaque;
	struct kmsg *m = msg->_private;
	if (!m)
		return;
	struct kslot *s = &k->slots[m->slot];
	s->inflight--;
	if (k->closing) {
		m->state = msg->err ? KM_FAILED : KM_DONE;
		return;
	}
	outcome(k, s, m, msg->err);
	maybe_done(k, s);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka *k = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		if (!k->fatal) {
			rd_kafka_fatal_error(rk, k->fatal_why, sizeof k->fatal_why);
			k->fatal = 1;
		}
		return;
	}
	log_rl(&k->rl_kafka, RLOG_WARN, "Kafka: %s", reason);
}

/* librdkafka's own log lines, through ours (from its threads). Its errors
 * come through on_error as well, rate-limited: here they are only info. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	log_msg(level <= 5 ? RLOG_INFO : RLOG_DEBUG, "librdkafka %s: %s", fac, buf);
}

static rd_kafka_resp_err_t produce(struct kafka *k, struct kmsg *m)
{
	rd_kafka_vu_t vu[6];
	size_t n = 0;
	vu[n].vtype = RD_KAFKA_VTYPE_RKT;
	vu[n++].u.rkt = m->replay ? k->replay_topic : k->topic;
	vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
	vu[n].u.mem.ptr = (void *)m->p;
	vu[n++].u.mem.size = m->len;
	if (m->key) {
		vu[n].vtype = RD_KAFKA_VTYPE_KEY;
		vu[n].u.mem.ptr = (void *)m->key;
		vu[n++].u.mem.size = m->key_len;
	}
	if (m->meas) {
		vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
		vu[n].u.header.name = "measurement";
		vu[n].u.header.val = m->meas;
		vu[n++].u.header.size = m->meas_len;
	}
	if (m->app) {
		vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
		vu[n].u.header.name = "app_id";
		vu[n].u.header.val = m->app;
		vu[n++].u.header.size = m->app_len;
	}
	vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
	vu[n++].u.ptr = m;
	rd_kafka_error_t *e = rd_kafka_produceva(m->replay ? k->rk_replay : k->rk, vu, n);
	if (!e)
		return RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_resp_err_t code = rd_kafka_error_code(e);
	rd_kafka_error_destroy(e);
	return code;
}

/* Hands the pending messages of the batches sent to the producer, in order,
 * until its queue is full. */
static void produce_pending(struct kafka *k)
{
	while (k->fifo_len) {
		struct kslot *s = &k->slots[k->fifo[k->fifo_head]];
		for (; s->next < s->n; s->next++) {
			struct kmsg *m = &s->msgs[s->next];
			if (m->state != KM_PENDING)
				continue;
			rd_kafka_resp_err_t e = produce(k, m);
			if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				k->stalled = 1;
				return;
			}
			if (e) {
				outcome(k, s, m, e);
				continue;
			}
			m->state = KM_INFLIGHT;
			s->inflight++;
		}
		k->fifo_head = (k->fifo_head + 1) % k->nslots;
		k->fifo_len--;
		maybe_done(k, s);
	}
	k->stalled = 0;
}

/* ---- the sink interface ---------------------------------------------------- */

static int take(void *ctx, struct eng_slot *es)
{
	struct kafka *k = ctx;
	struct kslot *s = &k->slots[es->index];
	uint32_t units;
	int r = sq_take(&k->q, &s->body, &units, &es->next);
	if (r < 0)
		log_rl(&k->rl_spool, RLOG_ERROR, "cannot read --spool-dir %s: %s", k->c->spool_dir,
		       strerror(errno));
	if (r <= 0)
		return ENG_NONE;
	s->n = s->next = s->inflight = s->failed = 0;
	s->done_queued = 0;
	if (ke_index(s->body.p, s->body.len, &s->msgs, &s->cap, &s->n) < 0) {
		/* not a batch of ours (or damaged, or no memory): skipped for good */
		s->n = 0;
		metric_inc(k->m_spool_bad);
		log_rl(&k->rl_spool, RLOG_WARN, "skipping an unreadable batch of %zu bytes%s%s",
		       s->body.len, k->q.dq ? " in --spool-dir " : "",
		       k->q.dq ? k->c->spool_dir : "");
		return ENG_SKIP;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		s->msgs[i].slot = (uint32_t)es->index;
		s->msgs[i].state = KM_PENDING;
	}
	return ENG_GOT;
}

/* Hands the batch (first time, or its failed messages on a retry) to the
 * producer, after the batches sent before it. */
static int send_batch(void *ctx, struct eng_slot *es)
{
	struct kafka *k = ctx;
	struct kslot *s = &k->slots[es->index];
	s->es = es;
	s->next = s->failed = 0;
	s->done_queued = 0;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->msgs[i].state == KM_FAILED)
			s->msgs[i].state = KM_PENDING;
	k->fifo[(k->fifo_head + k->fifo_len) % k->nslots] = es->index;
	k->fifo_len++;
	produce_pending(k);
	return 0;
}

static void delivered(void *ctx, struct eng_slot *es, int was_failing)
{
	(void)ctx;
	(void)es;
	if (was_failing)
		log_info("Kafka takes messages again");
}

static void refused(void *ctx, struct eng_slot *es, const char *why, const char *answer)
{
	/* not used: messages are refused one by one (outcome) */
	(void)ctx;
	(void)es;
	(void)why;
	(void)answer;
}

static void retrying(void *ctx, struct eng_slot *es, const char *why, uint64_t wait_ms)
{
	struct kafka *k = ctx;
	const struct kslot *s = &k->slots[es->index];
	log_rl(&k->rl_fail, RLOG_WARN,
	       "Kafka failed %" PRIu32 " of a batch of %" PRIu32 " messages (%s); retrying them in "
	       "%" PRIu64 " ms",
	       s->failed, s->n, why, wait_ms);
}

static void release(void *ctx, struct eng_slot *es)
{
	struct kafka *k = ctx;
	struct kslot *s = &k->slots[es->index];
	sq_done(&k->q, s->body.len);
	/* The buffer serves the next batch: growing a new one to the size of
	 * a batch, copy after copy, costs as much as filling it. */
	if (!k->spare.cap && s->body.cap <= k->c->batch_bytes * 2 + ((size_t)1 << 20)) {
		k->spare = s->body;
		s->body = (struct buf)BUF_INIT;
	}
	buf_free(&s->body);
	s->n = 0;
}

static void ack(void *ctx, struct dq_pos pos)
{
	struct kafka *k = ctx;
	if (k->q.dq && dq_ack(k->q.dq, pos) < 0)
		log_rl(&k->rl_spool, RLOG_WARN, "cannot record progress in --spool-dir %s: %s",
		       k->c->spool_dir, strerror(errno));
}

static int empty(void *ctx)
{
	struct kafka *k = ctx;
	return sq_empty(&k->q);
}

static int ready(void *ctx)
{
	struct kafka *k = ctx;
	return sq_ready(&k->q);
}

/* Records of the slot not delivered nor dropped, at the end. */
static void abandoned(void *ctx, struct eng_slot *es)
{
	struct kafka *k = ctx;
	const struct kslot *s = &k->slots[es->index];
	if (k->q.dq)
		return; /* still in the disk queue */
	for (uint32_t i = 0; i < s->n; i++)
		if (s->msgs[i].state != KM_DONE && s->msgs[i].state != KM_DROPPED)
			metric_inc(k->m_lost);
}

/* Reports in; the pending messages out; outcomes to the engine. */
static void serve(void *ctx)
{
	struct kafka *k = ctx;
	char drain[64];
	while (read(k->evfd[0], drain, sizeof drain) > 0)
		;
	rd_kafka_poll(k->rk, 0);
	if (k->rk_replay)
		rd_kafka_poll(k->rk_replay, 0);
	if (k->fifo_len)
		produce_pending(k);
	/* eng_done may free slots: take the list first */
	size_t n = k->ndone;
	k->ndone = 0;
	for (size_t i = 0; i < n; i++) {
		struct kslot *s = &k->slots[k->done[i]];
		s->done_queued = 0;
		eng_done(k->eng, s->es, s->failed ? ENG_RETRY : ENG_OK, s->why);
	}
}

static int event_fd(void *ctx)
{
	struct kafka *k = ctx;
	return k->evfd[0];
}

static void gauges(void *ctx)
{
	kafka_gauges(ctx);
}

static const struct sink_ops kafka_ops = {
    .take = take,
    .send = send_batch,
    .delivered = delivered,
    .refused = refused,
    .retrying = retrying,
    .release = release,
    .ack = ack,
    .empty = empty,
    .ready = ready,
    .abandoned = abandoned,
    .poll = serve,
    .event_fd = event_fd,
    .gauges = gauges,
};

/* ---- set-up ------------------------------------------------------------------- */

/* A producer for topic, reporting to k. NULL with err; *usage when it is
 * the configuration that is refused. */
static rd_kafka_t *producer(struct kafka *k, int replay, const char *topic, rd_kafka_topic_t **rkt,
			    int *usage, struct rum_error *err)
{
	*usage = 1;
	rd_kafka_conf_t *conf = kafka_conf_new(k->c, replay, err);
	if (!conf)
		return NULL;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_dr_msg_cb(conf, on_report);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		err_set(err, "the Kafka producer refuses its settings (--kafka-opt): %s", why);
		return NULL;
	}
	*rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (!*rkt) {
		err_set(err, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_destroy(rk);
		return NULL;
	}
	rd_kafka_queue_t *q = rd_kafka_queue_get_main(rk);
	rd_kafka_queue_io_event_enable(q, k->evfd[1], "k", 1);
	rd_kafka_queue_destroy(q);
	*usage = 0;
	return rk;
}

static int open_queue(struct kafka *k, struct rum_error *err)
{
	const struct ship_conf *c = k->c;
	if (sq_open(&k->q, c->spool_dir, c->spool_capacity_bytes, 0, err) < 0) {
		if (c->spool_dir)
			err_prefix(err, "--spool-dir %s", c->spool_dir);
		return -1;
	}
	if (k->q.dq) {
		struct dq_stats st;
		dq_get_stats(k->q.dq, &st);
		if (st.entries)
			log_info("spool %s: %" PRIu64 " batches to send from a previous run",
				 c->spool_dir, st.entries);
	}
	return 0;
}

int kafka_open(struct kafka **out, const struct ship_conf *c, struct rum_error *err)
{
	struct kafka *k = calloc(1, sizeof *k);
	if (!k)
		return err_set(err, "out of memory");
	k->c = c;
	k->evfd[0] = k->evfd[1] = -1;
	k->rl_fail = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	k->rl_drop = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	k->rl_spool = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	k->rl_kafka = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	init_metrics(k);
	int usage = 0;
	k->nslots = c->max_inflight;
	k->slots = calloc(k->nslots, sizeof *k->slots);
	k->fifo = calloc(k->nslots, sizeof *k->fifo);
	k->done = calloc(k->nslots, sizeof *k->done);
	if (!k->slots || !k->fifo || !k->done) {
		err_set(err, "out of memory");
		goto fail;
	}
	if (pipe2(k->evfd, O_NONBLOCK | O_CLOEXEC) < 0) {
		err_set(err, "pipe: %s", strerror(errno));
		goto fail;
	}
	struct eng_conf ec = {
	    .slots = k->nslots,
	    .window = k->nslots,
	    .policy = ENG_IN_ORDER,
	    .backoff_min_ms = c->backoff_min_ms,
	    .backoff_max_ms = c->backoff_max_ms,
	    .seed = 0x4b61666b61u,
	    .durable = c->spool_dir != NULL,
	    .what = "a batch",
	    .m = k->m,
	};
	if (eng_open(&k->eng, &ec, &kafka_ops, k, err) < 0 || open_queue(k, err) < 0)
		goto fail;
	k->rk = producer(k, 0, c->sink.topic, &k->topic, &usage, err);
	if (!k->rk)
		goto fail;
	if (c->sink.replay_topic) {
		k->rk_replay = producer(k, 1, c->sink.replay_topic, &k->replay_topic, &usage, err);
		if (!k->rk_replay)
			goto fail;
	}
	*out = k;
	kafka_gauges(k);
	return 0;
fail:
	kafka_close(k);
	return usage ? -2 : -1;
}

static void destroy_producer(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	if (rk)
		rd_kafka_destroy(rk);
}

void kafka_close(struct kafka *k)
{
	if (!k)
		return;
	destroy_producer(k->rk, k->topic);
	destroy_producer(k->rk_replay, k->replay_topic);
	eng_close(k->eng);
	for (size_t i = 0; k->slots && i < k->nslots; i++) {
		buf_free(&k->slots[i].body);
		free(k->slots[i].msgs);
	}
	sq_close(&k->q);
	buf_free(&k->batch);
	buf_free(&k->spare);
	buf_free(&k->scratch);
	for (int i = 0; i < 2; i++)
		if (k->evfd[i] >= 0)
			close(k->evfd[i]);
	free(k->slots);
	free(k->fifo);
	free(k->done);
	free(k);
}

void kafka_gauges(struct kafka *k)
{
	uint64_t inflight = 0;
	for (size_t i = 0; i < k->nslots; i++)
		inflight += k->slots[i].inflight;
	metric_set(k->m_inflight_msgs, inflight);
	uint64_t outq = (uint64_t)rd_kafka_outq_len(k->rk);
	if (k->rk_replay)
		outq += (uint64_t)rd_kafka_outq_len(k->rk_replay);
	metric_set(k->m_outq, outq);
	metric_set(k->m_memq_bytes, k->q.bytes);
	metric_set(k->m_memq_batches, k->q.queued);
	if (k->q.dq) {
		struct dq_stats st;
		dq_get_stats(k->q.dq, &st);
		metric_set(k->m_spool_entries, st.entries);
		metric_set(k->m_spool_bytes, st.bytes);
		metric_set(k->m_spool_dropped, st.dropped_entries);
		metric_set(k->m_spool_corrupt, st.corrupt);
	}
}

/* ---- records in ------------------------------------------------------------------ */

int kafka_add(struct kafka *k, const struct record *rec, const char *line, size_t len, int replay)
{
	if (!k->nrec) {
		if (!k->batch.cap && k->spare.cap) {
			k->batch = k->spare;
			k->spare = (struct buf)BUF_INIT;
		} else if (!k->batch.cap) {
			/* a batch's size at once, not by doubling and copying */
			buf_reserve(&k->batch, k->c->batch_bytes + ((size_t)64 << 10));
		}
		if (ke_begin(&k->batch) < 0)
			return -1;
		k->deadline = mono_ms() + k->c->flush_interval_ms;
	}
	size_t before = k->batch.len;
	if (ke_add(&k->batch, rec, line, len, replay, &k->scratch) < 0) {
		k->batch.len = before;
		k->batch.err = 0;
		return -1;
	}
	k->nrec++;
	if (k->nrec >= k->c->batch_size || k->batch.len >= k->c->batch_bytes)
		kafka_seal(k);
	return 0;
}

/* Memory: the batch's buffer changes hands; trimmed to its size when it
 * is mostly empty (sealed early), as the queue may hold many of those. */
static int push_memory(struct kafka *k, uint32_t n)
{
	if (k->batch.cap / 2 > k->batch.len + 4096) {
		char *p = realloc(k->batch.p, k->batch.len);
		if (p) {
			k->batch.p = p;
			k->batch.cap = k->batch.len;
		}
	}
	return sq_push(&k->q, &k->batch, n);
}

void kafka_seal(struct kafka *k)
{
	uint32_t n = k->nrec;
	if (!n)
		return;
	k->nrec = 0;
	ke_seal(&k->batch, n);
	if (k->q.dq) {
		if (dq_push_keep(k->q.dq, &k->batch) < 0) {
			log_rl(&k->rl_spool, RLOG_ERROR,
			       "cannot write a batch of %" PRIu32 " records to --spool-dir %s: %s",
			       n, k->c->spool_dir, strerror(errno));
			metric_inc(k->m_spool_errors);
			metric_add(k->m_lost, n);
		}
	} else if (push_memory(k, n) < 0) {
		log_error("out of memory queueing a batch of %" PRIu32 " records", n);
		metric_add(k->m_lost, n);
	}
	buf_reset(&k->batch);
	eng_pump(k->eng);
}

void kafka_idle(struct kafka *k)
{
	/* A small batch now rather than a full one later when the producer
	 * would take it at once; else it keeps filling until a batch is done
	 * with or --flush-interval is up: a window of tiny batches would hold
	 * the throughput down. */
	if (k->nrec && eng_inflight(k->eng) < k->nslots && !sq_ready(&k->q))
		kafka_seal(k);
}

void kafka_tick(struct kafka *k)
{
	if (k->nrec && mono_ms() >= k->deadline)
		kafka_seal(k);
	else
		eng_pump(k->eng);
}

int kafka_wait(struct kafka *k, int fd, int timeout_ms)
{
	if (k->nrec) {
		uint64_t now = mono_ms();
		uint64_t left = k->deadline > now ? k->deadline - now : 0;
		if (timeout_ms < 0 || left < (uint64_t)timeout_ms)
			timeout_ms = (int)left;
	}
	int r = eng_wait(k->eng, fd, timeout_ms);
	if (k->nrec && mono_ms() >= k->deadline)
		kafka_seal(k);
	return r;
}

int kafka_full(const struct kafka *k)
{
	return k->stalled || (!k->q.dq && k->q.bytes >= k->c->memory_queue_bytes);
}

const char *kafka_fatal(const struct kafka *k)
{
	return k->fatal ? k->fatal_why : NULL;
}

/* ---- the end ----------------------------------------------------------------------- */

/* Stops the producers: what they hold is purged, and their reports
 * (served here) come back before the slots' memory goes. */
static void stop_producers(struct kafka *k)
{
	k->closing = 1;
	rd_kafka_t *rks[2] = {k->rk, k->rk_replay};
	for (int i = 0; i < 2; i++) {
		if (!rks[i])
			continue;
		rd_kafka_purge(rks[i], RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		if (rd_kafka_flush(rks[i], CLOSE_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
			log_warn("Kafka: %d messages still held by the producer at exit",
				 rd_kafka_outq_len(rks[i]));
	}
}

uint64_t kafka_drain(struct kafka *k, uint64_t deadline_ms)
{
	kafka_seal(k);
	uint64_t lost_before = metric_read(k->m_lost);
	if (!k->fatal && eng_drain(k->eng, deadline_ms)) {
		kafka_gauges(k);
		return 0;
	}
	int failing = eng_failing(k->eng);
	stop_producers(k);
	eng_abandon(k->eng);
	if (k->q.dq) {
		struct dq_stats st;
		dq_get_stats(k->q.dq, &st);
		log_warn("Kafka %s: %" PRIu64 " batches left in --spool-dir %s for the next run",
			 k->fatal  ? "producer failed"
			 : failing ? "failing"
				   : "slow",
			 st.entries, k->c->spool_dir);
	} else {
		for (const struct sq_ent *b = k->q.head; b; b = b->next)
			metric_add(k->m_lost, b->units);
	}
	kafka_gauges(k);
	return metric_read(k->m_lost) - lost_before;
}
