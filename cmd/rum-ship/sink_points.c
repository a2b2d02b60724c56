/* Points to a Dataway or a line-protocol endpoint: compressed batches are
 * queued (in memory, or in the disk queue with --spool-dir) and POSTed by
 * the engine (engine.h), up to --max-inflight at a time over kept-alive
 * connections.
 *
 * Order (ENG_IN_ORDER): batches are numbered when first sent. When one
 * fails (5xx, 429, network), no new batch is started until it has gone
 * through: the oldest failed batch alone is retried with backoff, and once
 * it succeeds the other failed ones go first, in order, before new ones.
 * The disk queue is acknowledged only up to the oldest batch not yet done,
 * so after a crash nothing unsent is skipped.
 *
 * Everything here runs on the main thread; the input loop calls
 * points_pump often and points_wait when it has nothing to read. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "clock.h"
#include "dq.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "queue.h"
#include "ship.h"

/* A spool entry: this header, then the body as it is sent. */
#define SPOOL_MAGIC 0x31535352u /* "RSS1" little-endian */
#define SPOOL_HDR 16
#define SPOOL_GZIP 1u

/* The batch in a slot. */
struct pslot {
	struct buf body; /* what is POSTed (spool: entry read, body after header) */
	size_t body_off; /* start of the HTTP body in .body */
	uint32_t npoints;
	int gzip;
};

struct points {
	const struct ship_conf *c;
	struct eng *eng;
	struct gz *gz;
	struct pslot *slots;
	uint64_t abandoned; /* points in slots at the end */

	/* the spool (--spool-dir), or compressed batches in memory */
	struct squeue q;
	struct buf entry; /* a spool entry being written */

	struct buf zbuf; /* compression output, reused (memory queue) */

	struct log_ratelimit rl_fail, rl_4xx, rl_spool;

	struct eng_counters m;
	uint64_t *m_batches, *m_points, *m_bytes, *m_drop4xx_batches, *m_drop4xx_points,
	    *m_inflight, *m_memq_bytes, *m_memq_batches, *m_spool_entries, *m_spool_bytes,
	    *m_spool_dropped, *m_spool_dropped_bytes, *m_spool_corrupt, *m_spool_bad,
	    *m_spool_errors, *m_lost;
};

static void init_metrics(struct points *s)
{
	char lb[128];
#define C(var, name, labels, help)                                                                 \
	s->var = metric_get(name, sink_labels(s->c, labels, lb, sizeof lb), METRIC_COUNTER, help)
#define G(var, name, help)                                                                         \
	s->var = metric_get(name, sink_labels(s->c, NULL, lb, sizeof lb), METRIC_GAUGE, help)
	C(m_batches, "rum_ship_batches_sent_total", NULL, "Batches the sink accepted (2xx).");
	C(m_points, "rum_ship_points_sent_total", NULL, "Points the sink accepted (2xx).");
	C(m_bytes, "rum_ship_bytes_sent_total", NULL,
	  "Request body bytes (compressed) the sink accepted.");
	const char *rh = "HTTP responses by status class.";
	C(m.c2xx, "rum_ship_responses_total", "class=\"2xx\"", rh);
	C(m.c3xx, "rum_ship_responses_total", "class=\"3xx\"", rh);
	C(m.c4xx, "rum_ship_responses_total", "class=\"4xx\"", rh);
	C(m.c5xx, "rum_ship_responses_total", "class=\"5xx\"", rh);
	C(m.retries, "rum_ship_retries_total", NULL,
	  "Requests that failed (5xx, 429, network) and were queued for a retry.");
	C(m.neterr, "rum_ship_network_errors_total", NULL,
	  "Requests that got no HTTP answer (connect, timeout, reset).");
	C(m_drop4xx_batches, "rum_ship_rejected_batches_total", NULL,
	  "Batches the sink refused with a 4xx other than 429 (dropped, not retried).");
	C(m_drop4xx_points, "rum_ship_rejected_points_total", NULL,
	  "Points in batches the sink refused with a 4xx other than 429.");
	G(m_inflight, "rum_ship_inflight_requests", "Requests in flight.");
	G(m_memq_bytes, "rum_ship_memory_queue_bytes",
	  "Bytes of batches waiting in memory (in flight and failed included).");
	G(m_memq_batches, "rum_ship_memory_queue_batches", "Batches waiting in memory.");
	G(m_spool_entries, "rum_ship_spool_entries",
	  "Batches in the disk queue not yet acknowledged.");
	G(m_spool_bytes, "rum_ship_spool_bytes", "Bytes of the disk queue on disk.");
	C(m_spool_dropped, "rum_ship_spool_dropped_batches_total", NULL,
	  "Unsent batches evicted from the full disk queue.");
	C(m_spool_dropped_bytes, "rum_ship_spool_dropped_bytes_total", NULL,
	  "Bytes of unsent batches evicted from the full disk queue.");
	C(m_spool_corrupt, "rum_ship_spool_corrupt_total", NULL,
	  "Disk queue entries skipped as unreadable.");
	C(m_spool_bad, "rum_ship_spool_bad_entries_total", NULL,
	  "Disk queue entries without a valid rum-ship header (skipped).");
	C(m_spool_errors, "rum_ship_spool_errors_total", NULL,
	  "Batches lost because the disk queue could not be written.");
	C(m_lost, "rum_ship_lost_points_total", NULL,
	  "Points given up at exit (sink down past --drain-timeout, no spool).");
#undef C
#undef G
}

/* ---- the sink interface ---------------------------------------------------- */

/* The spool entry in sl: ENG_SKIP when it is not a batch of ours. */
static int spooled(struct points *s, struct pslot *sl)
{
	const unsigned char *h = (const unsigned char *)sl->body.p;
	if (sl->body.len < SPOOL_HDR || get_le32(h) != SPOOL_MAGIC || get_le32(h + 8) == 0) {
		/* Not ours (or damaged): skip it for good. */
		metric_inc(s->m_spool_bad);
		log_rl(&s->rl_spool, RLOG_WARN, "skipping an unreadable entry in --spool-dir %s",
		       s->c->spool_dir);
		sl->npoints = 0;
		return ENG_SKIP;
	}
	sl->gzip = (get_le32(h + 4) & SPOOL_GZIP) != 0;
	sl->npoints = get_le32(h + 8);
	sl->body_off = SPOOL_HDR;
	return ENG_GOT;
}

static int take(void *ctx, struct eng_slot *es)
{
	struct points *s = ctx;
	struct pslot *sl = &s->slots[es->index];
	int r = sq_take(&s->q, &sl->body, &sl->npoints, &es->next);
	if (r < 0)
		log_rl(&s->rl_spool, RLOG_ERROR, "cannot read --spool-dir %s: %s", s->c->spool_dir,
		       strerror(errno));
	if (r <= 0)
		return ENG_NONE;
	if (s->q.dq)
		return spooled(s, sl);
	sl->gzip = s->gz != NULL;
	sl->body_off = 0;
	return ENG_GOT;
}

static int send_batch(void *ctx, struct eng_slot *es)
{
	struct points *s = ctx;
	struct pslot *sl = &s->slots[es->index];
	char xp[48];
	snprintf(xp, sizeof xp, "X-Points: %" PRIu32, sl->npoints);
	const char *hs[] = {
	    "Content-Type: text/plain", sl->gzip ? "Content-Encoding: gzip" : NULL,
	    s->c->sink.kind == SINK_DATAWAY ? xp : NULL,
	    "Expect:", /* no 100-continue round trip for big bodies */
	};
	for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
		if (hs[i] && eng_http_header(s->eng, es, hs[i]) < 0)
			return -1;
	return eng_http_post(s->eng, es, sl->body.p + sl->body_off, sl->body.len - sl->body_off);
}

static void delivered(void *ctx, struct eng_slot *es, int was_failing)
{
	struct points *s = ctx;
	struct pslot *sl = &s->slots[es->index];
	metric_inc(s->m_batches);
	metric_add(s->m_points, sl->npoints);
	metric_add(s->m_bytes, sl->body.len - sl->body_off);
	if (was_failing)
		log_info("%s is back", s->c->name);
}

static void refused(void *ctx, struct eng_slot *es, const char *why, const char *answer)
{
	struct points *s = ctx;
	struct pslot *sl = &s->slots[es->index];
	metric_inc(s->m_drop4xx_batches);
	metric_add(s->m_drop4xx_points, sl->npoints);
	log_rl(&s->rl_4xx, RLOG_ERROR,
	       "%s refused a batch of %" PRIu32 " points with %s (dropped): %s", s->c->name,
	       sl->npoints, why, answer);
}

static void retrying(void *ctx, struct eng_slot *es, const char *why, uint64_t wait_ms)
{
	struct points *s = ctx;
	log_rl(&s->rl_fail, RLOG_WARN,
	       "%s failed (%s) for a batch of %" PRIu32 " points; retrying in %" PRIu64 " ms",
	       s->c->name, why, s->slots[es->index].npoints, wait_ms);
}

static void release(void *ctx, struct eng_slot *es)
{
	struct points *s = ctx;
	struct pslot *sl = &s->slots[es->index];
	sq_done(&s->q, sl->body.len);
	/* Keep a normal-sized buffer for the next batch, not a huge one. */
	if (sl->body.cap > ((size_t)8 << 20))
		buf_free(&sl->body);
	else
		buf_reset(&sl->body);
}

static void ack(void *ctx, struct dq_pos pos)
{
	struct points *s = ctx;
	if (s->q.dq && dq_ack(s->q.dq, pos) < 0)
		log_rl(&s->rl_spool, RLOG_WARN, "cannot record progress in --spool-dir %s: %s",
		       s->c->spool_dir, strerror(errno));
}

static int empty(void *ctx)
{
	struct points *s = ctx;
	return sq_empty(&s->q);
}

static void abandoned(void *ctx, struct eng_slot *es)
{
	struct points *s = ctx;
	s->abandoned += s->slots[es->index].npoints;
}

static void gauges(void *ctx)
{
	points_gauges(ctx);
}

static const struct sink_ops points_ops = {
    .take = take,
    .send = send_batch,
    .delivered = delivered,
    .refused = refused,
    .retrying = retrying,
    .release = release,
    .ack = ack,
    .empty = empty,
    .abandoned = abandoned,
    .gauges = gauges,
};

/* ---- set-up ------------------------------------------------------------------- */

static int open_spool(struct points *s, struct rum_error *err)
{
	const struct ship_conf *c = s->c;
	if (sq_open(&s->q, c->spool_dir, c->spool_capacity_bytes, 0, err) < 0) {
		err_prefix(err, "--spool-dir %s", c->spool_dir);
		return -1;
	}
	struct dq_stats st;
	dq_get_stats(s->q.dq, &st);
	if (st.entries)
		log_info("spool %s: %" PRIu64 " batches to send from a previous run", c->spool_dir,
			 st.entries);
	return 0;
}

int points_open(struct points **out, const struct ship_conf *c, struct rum_error *err)
{
	struct points *s = calloc(1, sizeof *s);
	if (!s)
		return err_set(err, "out of memory");
	s->c = c;
	s->rl_fail = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	s->rl_4xx = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	s->rl_spool = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	init_metrics(s);
	s->slots = calloc(c->max_inflight, sizeof *s->slots);
	if (!s->slots) {
		err_set(err, "out of memory");
		goto fail;
	}
	/* No batch is started more than max-inflight batches after the oldest
	 * one not done: what the sink sees is in order up to the requests in
	 * flight together. */
	struct eng_conf ec = {
	    .slots = c->max_inflight,
	    .window = c->max_inflight,
	    .policy = ENG_IN_ORDER,
	    .backoff_min_ms = c->backoff_min_ms,
	    .backoff_max_ms = c->backoff_max_ms,
	    .seed = 0x9e3779b97f4a7c15u,
	    .durable = c->spool_dir != NULL,
	    .what = "a request",
	    .m = s->m,
	    .url = c->sink.url,
	    .timeout_s = (long)c->timeout_s,
	};
	if (eng_open(&s->eng, &ec, &points_ops, s, err) < 0)
		goto fail;
	if (c->gzip_level > 0 && !(s->gz = gz_new(c->gzip_level))) {
		err_set(err, "cannot initialise zlib");
		goto fail;
	}
	if (c->spool_dir ? open_spool(s, err) < 0 : sq_open(&s->q, NULL, 0, 0, err) < 0)
		goto fail;
	*out = s;
	points_gauges(s);
	return 0;
fail:
	points_close(s);
	return -1;
}

void points_close(struct points *s)
{
	if (!s)
		return;
	eng_close(s->eng);
	for (size_t i = 0; s->slots && i < s->c->max_inflight; i++)
		buf_free(&s->slots[i].body);
	sq_close(&s->q);
	gz_free(s->gz);
	buf_free(&s->entry);
	buf_free(&s->zbuf);
	free(s->slots);
	free(s);
}

void points_gauges(struct points *s)
{
	metric_set(s->m_inflight, eng_inflight(s->eng));
	metric_set(s->m_memq_bytes, s->q.bytes);
	metric_set(s->m_memq_batches, s->q.queued);
	if (s->q.dq) {
		struct dq_stats st;
		dq_get_stats(s->q.dq, &st);
		metric_set(s->m_spool_entries, st.entries);
		metric_set(s->m_spool_bytes, st.bytes);
		metric_set(s->m_spool_dropped, st.dropped_entries);
		metric_set(s->m_spool_dropped_bytes, st.dropped_bytes);
		metric_set(s->m_spool_corrupt, st.corrupt);
	}
}

/* ---- batches in ---------------------------------------------------------------- */

/* Body of a batch into out (appended): gzip, or the text as it is. */
static int encode(struct points *s, const char *lp, size_t len, struct buf *out)
{
	if (s->gz)
		return gz_compress(s->gz, lp, len, out);
	return buf_add(out, lp, len);
}

/* A batch for the memory queue, in a buffer of its exact size. Compressed
 * first into one kept from batch to batch: a fresh buffer of the
 * compression bound (about the batch's size) for every batch comes from
 * mmap(2), and its pages were faulted in and zeroed each time, for a body
 * a tenth that size. */
static int encode_queued(struct points *s, const char *lp, size_t len, struct buf *out)
{
	if (!s->gz)
		return buf_add(out, lp, len);
	buf_reset(&s->zbuf);
	int rc = gz_compress(s->gz, lp, len, &s->zbuf);
	if (rc == 0) {
		size_t n = s->zbuf.len;
		if (!(out->p = malloc(n ? n : 1)))
			rc = -1;
		else {
			memcpy(out->p, s->zbuf.p, n);
			out->len = out->cap = n;
		}
	}
	if (s->zbuf.cap > ((size_t)8 << 20))
		buf_free(&s->zbuf);
	return rc;
}

static int submit_spooled(struct points *s, const char *lp, size_t len, uint32_t npoints)
{
	unsigned char hdr[SPOOL_HDR] = {0};
	put_le32(hdr, SPOOL_MAGIC);
	put_le32(hdr + 4, s->gz ? SPOOL_GZIP : 0);
	put_le32(hdr + 8, npoints);
	buf_reset(&s->entry);
	if (buf_add(&s->entry, hdr, sizeof hdr) < 0 || encode(s, lp, len, &s->entry) < 0) {
		log_error("out of memory compressing a batch of %" PRIu32 " points", npoints);
		metric_add(s->m_lost, npoints);
		return -1;
	}
	if (dq_push(s->q.dq, s->entry.p, s->entry.len) < 0) {
		log_rl(&s->rl_spool, RLOG_ERROR,
		       "cannot write a batch of %" PRIu32 " points to --spool-dir %s: %s", npoints,
		       s->c->spool_dir, strerror(errno));
		metric_inc(s->m_spool_errors);
		metric_add(s->m_lost, npoints);
		return -1;
	}
	/* Big entries are not worth keeping around between batches. */
	if (s->entry.cap > ((size_t)4 << 20))
		buf_free(&s->entry);
	return 0;
}

int points_submit(struct points *s, const char *lp, size_t len, uint32_t npoints)
{
	if (s->q.dq)
		return submit_spooled(s, lp, len, npoints);
	struct buf body = BUF_INIT;
	int rc = encode_queued(s, lp, len, &body);
	/* The queue holds many of these: give back the compression slack. */
	if (rc == 0 && body.cap > body.len + 4096) {
		char *p = realloc(body.p, body.len ? body.len : 1);
		if (p) {
			body.p = p;
			body.cap = body.len ? body.len : 1;
		}
	}
	if (rc < 0 || sq_push(&s->q, &body, npoints) < 0) {
		buf_free(&body);
		log_error("out of memory queueing a batch of %" PRIu32 " points", npoints);
		metric_add(s->m_lost, npoints);
		return -1;
	}
	return 0;
}

int points_full(const struct points *s)
{
	return !s->q.dq && s->q.bytes >= s->c->memory_queue_bytes;
}

void points_sync_due(struct points *s)
{
	if (s->q.dq)
		dq_sync_due(s->q.dq);
}

void points_pump(struct points *s)
{
	eng_pump(s->eng);
}

int points_wait(struct points *s, int fd, int timeout_ms)
{
	return eng_wait(s->eng, fd, timeout_ms);
}

/* ---- the end -------------------------------------------------------------------- */

/* The drain of s is over and not everything went: what now. */
static uint64_t drain_left(struct points *s)
{
	/* Out of time: stop what is in flight. With a spool it stays on disk
	 * for the next run; without one it is lost. */
	int failing = eng_failing(s->eng);
	s->abandoned = 0;
	eng_abandon(s->eng);
	if (s->q.dq) {
		struct dq_stats st;
		dq_get_stats(s->q.dq, &st);
		log_warn("%s %s: %" PRIu64 " batches left in --spool-dir %s for the next run",
			 s->c->name, failing ? "failing" : "slow", st.entries, s->c->spool_dir);
		return 0;
	}
	uint64_t lost = s->abandoned;
	for (const struct sq_ent *b = s->q.head; b; b = b->next)
		lost += b->units;
	metric_add(s->m_lost, lost);
	return lost;
}

uint64_t points_drain(struct points *s, uint64_t deadline_ms)
{
	if (eng_drain(s->eng, deadline_ms))
		return 0;
	return drain_left(s);
}

#define DRAIN_ALL_STEP_MS 10

/* One loop for every sink: each is pumped at least every 10 ms, and the
 * drain is over when every sink's is. */
uint64_t points_drain_all(struct points **s, size_t n, uint64_t deadline_ms)
{
	if (n == 1)
		return points_drain(s[0], deadline_ms);
	for (size_t i = 0; i < n; i++) {
		eng_drain_begin(s[i]->eng);
		eng_pump(s[i]->eng);
	}
	uint64_t last_metrics = mono_ms();
	for (;;) {
		uint64_t now = mono_ms();
		struct points *busy = NULL;
		for (size_t i = 0; i < n; i++)
			if (!eng_drain_over(s[i]->eng, now, deadline_ms)) {
				eng_pump(s[i]->eng);
				busy = s[i];
			}
		if (!busy)
			break;
		uint64_t left = deadline_ms > now ? deadline_ms - now : 0;
		eng_wait(busy->eng, -1, left > DRAIN_ALL_STEP_MS ? DRAIN_ALL_STEP_MS : (int)left);
		if (common_opts.metrics_file && now - last_metrics >= 2000) {
			last_metrics = now;
			for (size_t i = 0; i < n; i++)
				points_gauges(s[i]);
			metrics_maybe_write(common_opts.metrics_file, 0);
		}
	}
	uint64_t lost = 0;
	for (size_t i = 0; i < n; i++)
		if (!eng_idle(s[i]->eng))
			lost += drain_left(s[i]);
	return lost;
}
