/* The HTTP side of rum-ship: compressed batches are queued (in memory, or in
 * the disk queue with --spool-dir) and POSTed with libcurl's multi
 * interface, up to --max-inflight at a time over kept-alive connections.
 *
 * Order: batches get a sequence number when first sent. When one fails
 * (5xx, 429, network), no new batch is started until it has gone through:
 * the oldest failed batch alone is retried with backoff, and once it
 * succeeds the other failed ones go first, in order, before new ones. The
 * disk queue is acknowledged only up to the oldest batch not yet done, so
 * after a crash nothing unsent is skipped.
 *
 * Everything here runs on the main thread; the input loop calls
 * sender_pump often and sender_wait when it has nothing to read. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dq.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "ship.h"

/* A spool entry: this header, then the body as it is sent. */
#define SPOOL_MAGIC 0x31535352u /* "RSS1" little-endian */
#define SPOOL_HDR 16
#define SPOOL_GZIP 1u
#define RESP_KEEP 512 /* bytes of an error answer kept for the log */

enum slot_state { SLOT_FREE, SLOT_INFLIGHT, SLOT_FAILED };

struct slot {
	enum slot_state state;
	CURL *easy;
	struct curl_slist *headers;
	struct buf body; /* what is POSTed (spool: entry read, body after header) */
	size_t body_off; /* start of the HTTP body in .body */
	uint32_t npoints;
	int gzip;
	uint64_t seq;
	struct dq_pos next; /* spool: position after this entry */
	unsigned attempts;
	struct buf resp;
	char errbuf[CURL_ERROR_SIZE];
};

/* A batch waiting in memory (no spool). */
struct mbatch {
	struct mbatch *next;
	struct buf body;
	uint32_t npoints;
};

struct ackent {
	int used, done;
	struct dq_pos next;
};

struct sender {
	const struct ship_conf *c;
	CURLM *multi;
	struct gz *gz;
	struct slot *slots;
	size_t nslots;
	size_t inflight;

	/* memory queue */
	struct mbatch *head, *tail;
	uint64_t mem_bytes;   /* bodies queued, in slots included */
	uint64_t mem_points;  /* points queued or in slots */
	uint64_t mem_batches; /* batches queued, not yet in a slot */

	/* spool */
	struct dq *dq;
	struct buf entry;

	struct buf zbuf; /* compression output, reused (memory queue) */

	/* ordering and acknowledgement window, indexed by seq % nwin */
	struct ackent *win;
	size_t nwin;
	uint64_t next_seq, base_seq;

	int degraded;	   /* a batch failed; only it is retried until it passes */
	uint64_t retry_at; /* monotonic ms */
	uint64_t backoff;  /* current backoff, ms */
	uint64_t rng;

	struct log_ratelimit rl_fail, rl_4xx, rl_spool;

	uint64_t *m_batches, *m_points, *m_bytes, *m_2xx, *m_3xx, *m_4xx, *m_5xx, *m_retries,
	    *m_neterr, *m_drop4xx_batches, *m_drop4xx_points, *m_inflight, *m_memq_bytes,
	    *m_memq_batches, *m_spool_entries, *m_spool_bytes, *m_spool_dropped,
	    *m_spool_dropped_bytes, *m_spool_corrupt, *m_spool_bad, *m_spool_errors, *m_lost;
};

uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t rnd(struct sender *s)
{
	/* xorshift64: jitter only, nothing secret */
	uint64_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	return x;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct slot *sl = ctx;
	size_t len = size * n;
	if (sl->resp.len < RESP_KEEP) {
		size_t take = RESP_KEEP - sl->resp.len;
		buf_add(&sl->resp, p, len < take ? len : take);
	}
	return len;
}

static void init_metrics(struct sender *s)
{
#define C(var, name, labels, help) s->var = metric_get(name, labels, METRIC_COUNTER, help)
#define G(var, name, help) s->var = metric_get(name, NULL, METRIC_GAUGE, help)
	C(m_batches, "rum_ship_batches_sent_total", NULL, "Batches the sink accepted (2xx).");
	C(m_points, "rum_ship_points_sent_total", NULL, "Points the sink accepted (2xx).");
	C(m_bytes, "rum_ship_bytes_sent_total", NULL,
	  "Request body bytes (compressed) the sink accepted.");
	const char *rh = "HTTP responses by status class.";
	C(m_2xx, "rum_ship_responses_total", "class=\"2xx\"", rh);
	C(m_3xx, "rum_ship_responses_total", "class=\"3xx\"", rh);
	C(m_4xx, "rum_ship_responses_total", "class=\"4xx\"", rh);
	C(m_5xx, "rum_ship_responses_total", "class=\"5xx\"", rh);
	C(m_retries, "rum_ship_retries_total", NULL,
	  "Requests that failed (5xx, 429, network) and were queued for a retry.");
	C(m_neterr, "rum_ship_network_errors_total", NULL,
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

int sender_open(struct sender **out, const struct ship_conf *c, char *err, size_t errlen)
{
	struct sender *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->c = c;
	s->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15u;
	s->backoff = c->backoff_min_ms;
	s->rl_fail = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	s->rl_4xx = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	s->rl_spool = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	init_metrics(s);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto fail;
	}
	s->multi = curl_multi_init();
	if (!s->multi) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto fail;
	}
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)c->max_inflight * 2);
	if (c->gzip_level > 0 && !(s->gz = gz_new(c->gzip_level))) {
		snprintf(err, errlen, "cannot initialise zlib");
		goto fail;
	}
	s->nslots = c->max_inflight;
	s->slots = calloc(s->nslots, sizeof *s->slots);
	/* No batch is started more than max-inflight batches after the oldest
	 * one not done: what the sink sees is in order up to the requests in
	 * flight together. */
	s->nwin = s->nslots;
	s->win = calloc(s->nwin, sizeof *s->win);
	if (!s->slots || !s->win) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		sl->resp.limit = RESP_KEEP + 1;
		CURL *e = sl->easy = curl_easy_init();
		if (!e) {
			snprintf(err, errlen, "cannot initialise libcurl");
			goto fail;
		}
		curl_easy_setopt(e, CURLOPT_URL, c->sink.url);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "rumpipe-rum-ship/" RUM_VERSION);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->timeout_s);
		curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->timeout_s);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, sl);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sl->errbuf);
		curl_easy_setopt(e, CURLOPT_PRIVATE, sl);
	}
	if (c->spool_dir) {
		char dqerr[256];
		if (dq_open(&s->dq, c->spool_dir, c->spool_capacity_bytes, dqerr, sizeof dqerr) <
		    0) {
			snprintf(err, errlen, "--spool-dir %s: %s", c->spool_dir, dqerr);
			goto fail;
		}
		struct dq_stats st;
		dq_get_stats(s->dq, &st);
		if (st.entries)
			log_info("spool %s: %" PRIu64 " batches to send from a previous run",
				 c->spool_dir, st.entries);
	}
	*out = s;
	sender_gauges(s);
	return 0;
fail:
	sender_close(s);
	return -1;
}

void sender_close(struct sender *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->slots && i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->easy) {
			if (sl->state == SLOT_INFLIGHT)
				curl_multi_remove_handle(s->multi, sl->easy);
			curl_easy_cleanup(sl->easy);
		}
		curl_slist_free_all(sl->headers);
		buf_free(&sl->body);
		buf_free(&sl->resp);
	}
	while (s->head) {
		struct mbatch *b = s->head;
		s->head = b->next;
		buf_free(&b->body);
		free(b);
	}
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->dq)
		dq_close(s->dq);
	gz_free(s->gz);
	buf_free(&s->entry);
	buf_free(&s->zbuf);
	free(s->slots);
	free(s->win);
	free(s);
	curl_global_cleanup();
}

void sender_gauges(struct sender *s)
{
	metric_set(s->m_inflight, s->inflight);
	metric_set(s->m_memq_bytes, s->mem_bytes);
	metric_set(s->m_memq_batches, s->mem_batches);
	if (s->dq) {
		struct dq_stats st;
		dq_get_stats(s->dq, &st);
		metric_set(s->m_spool_entries, st.entries);
		metric_set(s->m_spool_bytes, st.bytes);
		metric_set(s->m_spool_dropped, st.dropped_entries);
		metric_set(s->m_spool_dropped_bytes, st.dropped_bytes);
		metric_set(s->m_spool_corrupt, st.corrupt);
	}
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Body of a batch into out (appended): gzip, or the text as it is. */
static int encode(struct sender *s, const char *lp, size_t len, struct buf *out)
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
static int encode_queued(struct sender *s, const char *lp, size_t len, struct buf *out)
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

int sender_submit(struct sender *s, const char *lp, size_t len, uint32_t npoints)
{
	if (s->dq) {
		unsigned char hdr[SPOOL_HDR] = {0};
		put32(hdr, SPOOL_MAGIC);
		put32(hdr + 4, s->gz ? SPOOL_GZIP : 0);
		put32(hdr + 8, npoints);
		buf_reset(&s->entry);
		if (buf_add(&s->entry, hdr, sizeof hdr) < 0 || encode(s, lp, len, &s->entry) < 0) {
			log_error("out of memory compressing a batch of %" PRIu32 " points",
				  npoints);
			metric_add(s->m_lost, npoints);
			return -1;
		}
		if (dq_push(s->dq, s->entry.p, s->entry.len) < 0) {
			log_rl(&s->rl_spool, RLOG_ERROR,
			       "cannot write a batch of %" PRIu32 " points to --spool-dir %s: %s",
			       npoints, s->c->spool_dir, strerror(errno));
			metric_inc(s->m_spool_errors);
			metric_add(s->m_lost, npoints);
			return -1;
		}
		/* Big entries are not worth keeping around between batches. */
		if (s->entry.cap > ((size_t)4 << 20))
			buf_free(&s->entry);
		return 0;
	}
	struct mbatch *b = calloc(1, sizeof *b);
	if (!b || encode_queued(s, lp, len, &b->body) < 0) {
		if (b)
			buf_free(&b->body);
		free(b);
		log_error("out of memory queueing a batch of %" PRIu32 " points", npoints);
		metric_add(s->m_lost, npoints);
		return -1;
	}
	/* The queue holds many of these: give back the compression slack. */
	if (b->body.cap > b->body.len + 4096) {
		char *p = realloc(b->body.p, b->body.len ? b->body.len : 1);
		if (p) {
			b->body.p = p;
			b->body.cap = b->body.len ? b->body.len : 1;
		}
	}
	b->npoints = npoints;
	if (s->tail)
		s->tail->next = b;
	else
		s->head = b;
	s->tail = b;
	s->mem_bytes += b->body.len;
	s->mem_points += npoints;
	s->mem_batches++;
	return 0;
}

int sender_full(const struct sender *s)
{
	return !s->dq && s->mem_bytes >= s->c->memory_queue_bytes;
}

static int start(struct sender *s, struct slot *sl)
{
	curl_slist_free_all(sl->headers);
	sl->headers = NULL;
	char xp[48];
	snprintf(xp, sizeof xp, "X-Points: %" PRIu32, sl->npoints);
	const char *hs[] = {
	    "Content-Type: text/plain", sl->gzip ? "Content-Encoding: gzip" : NULL,
	    s->c->sink.kind == SINK_DATAWAY ? xp : NULL,
	    "Expect:", /* no 100-continue round trip for big bodies */
	};
	for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
		if (!hs[i])
			continue;
		struct curl_slist *l = curl_slist_append(sl->headers, hs[i]);
		if (!l)
			return -1;
		sl->headers = l;
	}
	buf_reset(&sl->resp);
	sl->errbuf[0] = '\0';
	curl_easy_setopt(sl->easy, CURLOPT_HTTPHEADER, sl->headers);
	curl_easy_setopt(sl->easy, CURLOPT_POSTFIELDS, sl->body.p + sl->body_off);
	curl_easy_setopt(sl->easy, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)(sl->body.len - sl->body_off));
	if (curl_multi_add_handle(s->multi, sl->easy) != CURLM_OK)
		return -1;
	sl->state = SLOT_INFLIGHT;
	sl->attempts++;
	s->inflight++;
	return 0;
}

/* The batch in this slot is done with (sent, or refused for good). */
static void finish(struct sender *s, struct slot *sl)
{
	struct ackent *a = &s->win[sl->seq % s->nwin];
	a->done = 1;
	int advanced = 0;
	struct dq_pos pos = {0, 0};
	while (s->base_seq < s->next_seq && s->win[s->base_seq % s->nwin].done) {
		struct ackent *b = &s->win[s->base_seq % s->nwin];
		pos = b->next;
		b->used = b->done = 0;
		s->base_seq++;
		advanced = 1;
	}
	if (s->dq && advanced && dq_ack(s->dq, pos) < 0)
		log_rl(&s->rl_spool, RLOG_WARN, "cannot record progress in --spool-dir %s: %s",
		       s->c->spool_dir, strerror(errno));
	if (!s->dq) {
		s->mem_bytes -= sl->body.len;
		s->mem_points -= sl->npoints;
	}
	/* Keep a normal-sized buffer for the next batch, not a huge one. */
	if (sl->body.cap > ((size_t)8 << 20))
		buf_free(&sl->body);
	else
		buf_reset(&sl->body);
	sl->state = SLOT_FREE;
	sl->attempts = 0;
}

/* Fill a free slot with the next batch: from the spool or the memory queue.
 * 1: got one; 0: nothing to send. */
static int load(struct sender *s, struct slot *sl)
{
	if (s->dq) {
		for (;;) {
			struct dq_pos next;
			int r = dq_read(s->dq, &sl->body, &next);
			if (r < 0) {
				log_rl(&s->rl_spool, RLOG_ERROR, "cannot read --spool-dir %s: %s",
				       s->c->spool_dir, strerror(errno));
				return 0;
			}
			if (r == 0)
				return 0;
			const unsigned char *h = (const unsigned char *)sl->body.p;
			if (sl->body.len < SPOOL_HDR || get32(h) != SPOOL_MAGIC ||
			    get32(h + 8) == 0) {
				/* Not ours (or damaged): skip it for good. */
				metric_inc(s->m_spool_bad);
				log_rl(&s->rl_spool, RLOG_WARN,
				       "skipping an unreadable entry in --spool-dir %s",
				       s->c->spool_dir);
				sl->seq = s->next_seq++;
				s->win[sl->seq % s->nwin] = (struct ackent){1, 0, next};
				finish(s, sl);
				if (s->next_seq - s->base_seq >= s->nwin)
					return 0;
				continue;
			}
			sl->gzip = (get32(h + 4) & SPOOL_GZIP) != 0;
			sl->npoints = get32(h + 8);
			sl->body_off = SPOOL_HDR;
			sl->next = next;
			break;
		}
	} else {
		struct mbatch *b = s->head;
		if (!b)
			return 0;
		s->head = b->next;
		if (!s->head)
			s->tail = NULL;
		s->mem_batches--;
		buf_free(&sl->body);
		sl->body = b->body;
		sl->npoints = b->npoints;
		sl->gzip = s->gz != NULL;
		sl->body_off = 0;
		free(b);
	}
	sl->seq = s->next_seq++;
	s->win[sl->seq % s->nwin] = (struct ackent){1, 0, sl->next};
	sl->attempts = 0;
	return 1;
}

static struct slot *oldest_failed(struct sender *s)
{
	struct slot *best = NULL;
	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->state == SLOT_FAILED && (!best || sl->seq < best->seq))
			best = sl;
	}
	return best;
}

static void dispatch(struct sender *s)
{
	if (s->degraded) {
		/* One probe at a time until the sink takes a batch again. */
		if (s->inflight || mono_ms() < s->retry_at)
			return;
		struct slot *sl = oldest_failed(s);
		if (!sl) {
			s->degraded = 0;
		} else {
			if (start(s, sl) < 0)
				log_rl(&s->rl_fail, RLOG_ERROR, "cannot start a request");
			return;
		}
	}
	for (;;) {
		struct slot *sl = oldest_failed(s);
		if (!sl) {
			if (s->next_seq - s->base_seq >= s->nwin)
				return; /* an old batch is slow: do not run too far ahead */
			for (size_t i = 0; i < s->nslots && !sl; i++)
				if (s->slots[i].state == SLOT_FREE)
					sl = &s->slots[i];
			if (!sl || !load(s, sl))
				return;
		}
		if (start(s, sl) < 0) {
			log_rl(&s->rl_fail, RLOG_ERROR, "cannot start a request");
			sl->state = SLOT_FAILED;
			return;
		}
	}
}

static void failed(struct sender *s, struct slot *sl, const char *why)
{
	metric_inc(s->m_retries);
	sl->state = SLOT_FAILED;
	uint64_t now = mono_ms();
	if (!s->degraded || now >= s->retry_at) {
		/* jitter: 75% to 125% of the backoff */
		uint64_t b = s->backoff;
		uint64_t j = b / 2 ? rnd(s) % (b / 2 + 1) : 0;
		s->retry_at = now + b - b / 4 + j;
		s->backoff =
		    s->backoff * 2 > s->c->backoff_max_ms ? s->c->backoff_max_ms : s->backoff * 2;
		log_rl(&s->rl_fail, RLOG_WARN,
		       "sink failed (%s) for a batch of %" PRIu32 " points; retrying in %" PRIu64
		       " ms",
		       why, sl->npoints, s->retry_at - now);
	}
	s->degraded = 1;
}

static void completed(struct sender *s, struct slot *sl, CURLcode cc)
{
	curl_multi_remove_handle(s->multi, sl->easy);
	s->inflight--;
	long code = 0;
	if (cc != CURLE_OK) {
		metric_inc(s->m_neterr);
		char why[CURL_ERROR_SIZE + 64];
		snprintf(why, sizeof why, "%s",
			 sl->errbuf[0] ? sl->errbuf : curl_easy_strerror(cc));
		failed(s, sl, why);
		return;
	}
	curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300) {
		metric_inc(s->m_2xx);
		metric_inc(s->m_batches);
		metric_add(s->m_points, sl->npoints);
		metric_add(s->m_bytes, sl->body.len - sl->body_off);
		if (s->degraded) {
			/* The sink takes batches again: the failed ones go
			 * first, oldest first, then new ones. */
			s->degraded = 0;
			log_info("sink is back");
		}
		s->backoff = s->c->backoff_min_ms;
		finish(s, sl);
		return;
	}
	if (code < 200) {
		/* not an HTTP answer we understand: as good as none */
		metric_inc(s->m_neterr);
		failed(s, sl, "no HTTP status");
		return;
	}
	if (code >= 500 || code == 429) {
		metric_inc(code == 429 ? s->m_4xx : s->m_5xx);
		char why[32];
		snprintf(why, sizeof why, "HTTP %ld", code);
		failed(s, sl, why);
		return;
	}
	metric_inc(code >= 400 ? s->m_4xx : s->m_3xx);
	metric_inc(s->m_drop4xx_batches);
	metric_add(s->m_drop4xx_points, sl->npoints);
	const char *body = buf_cstr(&sl->resp);
	log_rl(&s->rl_4xx, RLOG_ERROR,
	       "sink refused a batch of %" PRIu32 " points with HTTP %ld (dropped): %s",
	       sl->npoints, code, body ? body : "");
	finish(s, sl);
}

void sender_pump(struct sender *s)
{
	int running = 0;
	for (int round = 0; round < 4; round++) {
		curl_multi_perform(s->multi, &running);
		CURLMsg *m;
		int left, any = 0;
		while ((m = curl_multi_info_read(s->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct slot *sl = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
			CURLcode cc = m->data.result;
			if (sl) {
				completed(s, sl, cc);
				any = 1;
			}
		}
		size_t before = s->inflight;
		dispatch(s);
		/* New requests: let curl start them right away. */
		if (!any && s->inflight == before)
			break;
	}
}

int sender_wait(struct sender *s, int fd, int timeout_ms)
{
	if (s->degraded && !s->inflight) {
		uint64_t now = mono_ms();
		uint64_t left = s->retry_at > now ? s->retry_at - now : 0;
		if (left < (uint64_t)timeout_ms)
			timeout_ms = (int)left;
	}
	struct curl_waitfd wfd = {.fd = fd, .events = CURL_WAIT_POLLIN, .revents = 0};
	int n = 0;
	curl_multi_poll(s->multi, fd >= 0 ? &wfd : NULL, fd >= 0 ? 1 : 0, timeout_ms, &n);
	sender_pump(s);
	return fd >= 0 && wfd.revents != 0;
}

static int idle_now(struct sender *s)
{
	if (s->inflight)
		return 0;
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].state != SLOT_FREE)
			return 0;
	if (s->dq) {
		struct dq_stats st;
		dq_get_stats(s->dq, &st);
		return st.entries == 0;
	}
	return s->head == NULL;
}

uint64_t sender_drain(struct sender *s, uint64_t deadline_ms)
{
	sender_pump(s);
	uint64_t last_metrics = 0;
	while (!idle_now(s)) {
		uint64_t now = mono_ms();
		if (now >= deadline_ms)
			break;
		/* With a spool the rest is safe on disk: no use waiting out the
		 * backoff of a sink that is down. */
		if (s->dq && s->degraded && !s->inflight)
			break;
		uint64_t left = deadline_ms - now;
		sender_wait(s, -1, left > 200 ? 200 : (int)left);
		if (common_opts.metrics_file && now - last_metrics >= 2000) {
			last_metrics = now;
			sender_gauges(s);
			metrics_maybe_write(common_opts.metrics_file, 0);
		}
	}
	if (idle_now(s))
		return 0;
	/* Out of time: stop what is in flight. With a spool it stays on disk
	 * for the next run; without one it is lost. */
	uint64_t lost = 0;
	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->state == SLOT_INFLIGHT) {
			curl_multi_remove_handle(s->multi, sl->easy);
			s->inflight--;
		}
		if (sl->state != SLOT_FREE)
			lost += sl->npoints;
		sl->state = SLOT_FREE;
	}
	if (s->dq) {
		struct dq_stats st;
		dq_get_stats(s->dq, &st);
		log_warn("sink %s: %" PRIu64 " batches left in --spool-dir %s for the next run",
			 s->degraded ? "failing" : "slow", st.entries, s->c->spool_dir);
		return 0;
	}
	for (struct mbatch *b = s->head; b; b = b->next)
		lost += b->npoints;
	metric_add(s->m_lost, lost);
	return lost;
}
