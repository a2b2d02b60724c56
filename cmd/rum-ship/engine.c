/* The delivery engine: slots, the order window, outcomes, retries, the
 * curl multi loop, waiting and draining. The interface is in engine.h. */
#include "engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"

#define RESP_KEEP 512 /* bytes of an error answer kept for the log */
#define DRAIN_STEP_MS 200
#define METRICS_EVERY_MS 2000

struct eng_req {
	CURL *easy;
	struct curl_slist *headers;
	struct buf resp;
	char errbuf[CURL_ERROR_SIZE];
};

struct winent {
	int used, done;
	struct dq_pos next;
};

struct eng {
	struct eng_conf c;
	const struct sink_ops *ops;
	void *ctx;
	struct eng_slot *slots;
	struct eng_req *reqs;
	CURLM *multi;
	size_t inflight;

	/* order window, indexed by seq % c.window */
	struct winent *win;
	uint64_t next_seq, base_seq;

	/* ENG_IN_ORDER: a failed item is retried alone until it passes */
	int degraded;
	uint64_t retry_at, backoff;

	/* ENG_EACH_ALONE: the last two answers, to different items, newest
	 * first: did the sink take other items while this one failed? */
	struct answer {
		uint64_t id, ord;
		int ok;
	} last[2];
	uint64_t answers, next_id;

	int draining, failed_draining;
	uint64_t rng;
	struct buf line; /* a header line being put together */
	struct log_ratelimit rl_start;
};

/* A counter the sink may not have (a file has no status classes). */
static void count(uint64_t *m)
{
	if (m)
		metric_inc(m);
}

static uint64_t rnd(struct eng *e)
{
	/* xorshift64: jitter only, nothing secret */
	uint64_t x = e->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	e->rng = x;
	return x;
}

/* 75% to 125% of b. */
static uint64_t jittered(struct eng *e, uint64_t b)
{
	uint64_t j = b / 2 ? rnd(e) % (b / 2 + 1) : 0;
	return b - b / 4 + j;
}

static uint64_t doubled(const struct eng *e, uint64_t b)
{
	return b * 2 > e->c.backoff_max_ms ? e->c.backoff_max_ms : b * 2;
}

/* ---- set-up ------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct eng_req *rq = ctx;
	size_t len = size * n;
	if (rq->resp.len < RESP_KEEP) {
		size_t take = RESP_KEEP - rq->resp.len;
		buf_add(&rq->resp, p, len < take ? len : take);
	}
	return len;
}

static int http_open(struct eng *e)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	e->multi = curl_multi_init();
	if (!e->multi) {
		curl_global_cleanup();
		return -1;
	}
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)e->c.slots * 2);
	for (size_t i = 0; i < e->c.slots; i++) {
		struct eng_req *rq = e->slots[i].req = &e->reqs[i];
		rq->resp.limit = RESP_KEEP + 1;
		CURL *h = rq->easy = curl_easy_init();
		if (!h)
			return -1;
		curl_easy_setopt(h, CURLOPT_URL, e->c.url);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "rumpipe-rum-ship/" RUM_VERSION);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, e->c.timeout_s);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, e->c.timeout_s);
		curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, rq);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, rq->errbuf);
		curl_easy_setopt(h, CURLOPT_PRIVATE, &e->slots[i]);
	}
	return 0;
}

int eng_open(struct eng **out, const struct eng_conf *c, const struct sink_ops *ops, void *ctx,
	     struct rum_error *err)
{
	struct eng *e = calloc(1, sizeof *e);
	if (!e)
		return err_set(err, "out of memory");
	e->c = *c;
	e->ops = ops;
	e->ctx = ctx;
	e->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ c->seed;
	e->backoff = c->backoff_min_ms;
	e->rl_start = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	e->slots = calloc(c->slots, sizeof *e->slots);
	e->win = calloc(c->window, sizeof *e->win);
	if (c->url)
		e->reqs = calloc(c->slots, sizeof *e->reqs);
	if (!e->slots || !e->win || (c->url && !e->reqs)) {
		err_set(err, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < c->slots; i++) {
		e->slots[i].index = i;
		e->slots[i].backoff = c->backoff_min_ms;
	}
	if (c->url && http_open(e) < 0) {
		err_set(err, "cannot initialise libcurl");
		goto fail;
	}
	*out = e;
	return 0;
fail:
	eng_close(e);
	return -1;
}

void eng_close(struct eng *e)
{
	if (!e)
		return;
	for (size_t i = 0; e->reqs && i < e->c.slots; i++) {
		struct eng_req *rq = &e->reqs[i];
		if (rq->easy) {
			if (e->slots[i].state == ENG_INFLIGHT)
				curl_multi_remove_handle(e->multi, rq->easy);
			curl_easy_cleanup(rq->easy);
		}
		curl_slist_free_all(rq->headers);
		buf_free(&rq->resp);
	}
	if (e->multi) {
		curl_multi_cleanup(e->multi);
		curl_global_cleanup();
	}
	buf_free(&e->line);
	free(e->reqs);
	free(e->slots);
	free(e->win);
	free(e);
}

/* ---- the order window and the end of an item ------------------------------ */

/* The item in this slot is done with: delivered, refused or given up. */
static void finish(struct eng *e, struct eng_slot *sl)
{
	e->win[sl->seq % e->c.window].done = 1;
	int advanced = 0;
	struct dq_pos pos = {0, 0};
	while (e->base_seq < e->next_seq && e->win[e->base_seq % e->c.window].done) {
		struct winent *w = &e->win[e->base_seq % e->c.window];
		pos = w->next;
		w->used = w->done = 0;
		e->base_seq++;
		advanced = 1;
	}
	if (advanced)
		e->ops->ack(e->ctx, pos);
	e->ops->release(e->ctx, sl);
	sl->state = ENG_FREE;
	sl->fails = 0;
	sl->backoff = e->c.backoff_min_ms;
}

/* The next item of the sink's queue into a free slot. 1: got one. */
static int take(struct eng *e, struct eng_slot *sl)
{
	for (;;) {
		if (e->next_seq - e->base_seq >= e->c.window)
			return 0; /* an old item is slow: do not run too far ahead */
		sl->next = (struct dq_pos){0, 0};
		int r = e->ops->take(e->ctx, sl);
		if (r == ENG_NONE)
			return 0;
		sl->seq = e->next_seq++;
		e->win[sl->seq % e->c.window] = (struct winent){1, 0, sl->next};
		if (r == ENG_GOT) {
			sl->backoff = e->c.backoff_min_ms;
			sl->fails = 0;
			sl->id = ++e->next_id;
			sl->taken = e->answers;
			return 1;
		}
		finish(e, sl); /* an entry that cannot be sent: skipped for good */
	}
}

static int start(struct eng *e, struct eng_slot *sl)
{
	if (sl->req) {
		curl_slist_free_all(sl->req->headers);
		sl->req->headers = NULL;
	}
	enum eng_state was = sl->state;
	sl->state = ENG_INFLIGHT;
	e->inflight++;
	if (e->ops->send(e->ctx, sl) < 0) {
		sl->state = was;
		e->inflight--;
		log_rl(&e->rl_start, RLOG_ERROR, "cannot start %s", e->c.what);
		return -1;
	}
	return 0;
}

/* ---- outcomes --------------------------------------------------------------- */

/* An answer (or a network error) to the item in sl. */
static void heard(struct eng *e, const struct eng_slot *sl, int ok)
{
	if (e->last[0].id != sl->id)
		e->last[1] = e->last[0];
	e->last[0] = (struct answer){sl->id, ++e->answers, ok};
}

static void delivered(struct eng *e, struct eng_slot *sl)
{
	int was_failing = e->degraded;
	e->ops->delivered(e->ctx, sl, was_failing);
	if (e->c.policy == ENG_IN_ORDER) {
		/* The sink takes items again: the failed ones go first,
		 * oldest first, then new ones. */
		e->degraded = 0;
		e->backoff = e->c.backoff_min_ms;
	} else {
		heard(e, sl, 1);
	}
	finish(e, sl);
}

static void refused(struct eng *e, struct eng_slot *sl, const char *why, const char *answer)
{
	e->ops->refused(e->ctx, sl, why, answer ? answer : "");
	finish(e, sl);
}

/* A failure that came this fast (a refused connection, an at once 5xx)
 * cost the sink next to nothing: the one item retried alone is tried again
 * within FAST_RETRY_MS however long the outage, so that a sink back up is
 * found within ~2 s instead of after a backoff grown to its maximum (a
 * 20 s outage made it 16 s). One small request every 2 s does not hammer
 * a sink that is still down. Slow failures (timeouts) back off in full. */
#define FAST_FAIL_MS 1000
#define FAST_RETRY_MS 1600 /* jittered: 1.2 to 2 s */

/* ENG_IN_ORDER: one backoff for the sink, which is failing as a whole. */
static void retry_in_order(struct eng *e, struct eng_slot *sl, const char *why, int fast)
{
	sl->state = ENG_WAIT;
	uint64_t now = mono_ms();
	if (!e->degraded || now >= e->retry_at) {
		uint64_t b = e->backoff;
		if (fast && b > FAST_RETRY_MS)
			b = FAST_RETRY_MS;
		e->retry_at = now + jittered(e, b);
		e->backoff = doubled(e, e->backoff);
		e->ops->retrying(e->ctx, sl, why, e->retry_at - now);
	}
	e->degraded = 1;
}

/* ENG_EACH_ALONE: a failure counts against the item only while the sink
 * takes other items: when the last answer to another one, since this one
 * was taken, was a success. Otherwise the sink is down (or nothing else
 * was sent, which cannot be told apart) and the item waits however long. */
static void retry_alone(struct eng *e, struct eng_slot *sl, const char *why)
{
	e->failed_draining = e->draining;
	const struct answer *o = e->last[0].id != sl->id ? &e->last[0] : &e->last[1];
	if (o->ok && o->ord > sl->taken)
		sl->fails++;
	heard(e, sl, 0);
	if (sl->fails > e->c.retries) {
		e->ops->given_up(e->ctx, sl, why, sl->fails);
		finish(e, sl);
		return;
	}
	uint64_t wait = jittered(e, sl->backoff);
	sl->retry_at = mono_ms() + wait;
	sl->backoff = doubled(e, sl->backoff);
	sl->state = ENG_WAIT;
	e->ops->retrying(e->ctx, sl, why, wait);
}

/* fast: the sink failed within FAST_FAIL_MS (and did not ask us to slow
 * down with a 429) */
static void retry(struct eng *e, struct eng_slot *sl, const char *why, int fast)
{
	count(e->c.m.retries);
	if (e->c.policy == ENG_IN_ORDER)
		retry_in_order(e, sl, why, fast);
	else
		retry_alone(e, sl, why);
}

void eng_done(struct eng *e, struct eng_slot *sl, enum eng_result r, const char *why)
{
	e->inflight--;
	if (r == ENG_OK)
		delivered(e, sl);
	else if (r == ENG_RETRY)
		retry(e, sl, why, 0);
	else
		refused(e, sl, why, NULL);
}

/* Status classes: 2xx delivered; 5xx, 429 and no answer retried; any other
 * answer refused for good. */
static void http_completed(struct eng *e, struct eng_slot *sl, CURLcode cc)
{
	struct eng_req *rq = sl->req;
	curl_multi_remove_handle(e->multi, rq->easy);
	e->inflight--;
	curl_off_t us = 0;
	int fast = curl_easy_getinfo(rq->easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK &&
		   us < (curl_off_t)FAST_FAIL_MS * 1000;
	if (cc != CURLE_OK) {
		count(e->c.m.neterr);
		retry(e, sl, rq->errbuf[0] ? rq->errbuf : curl_easy_strerror(cc), fast);
		return;
	}
	long code = 0;
	curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300) {
		count(e->c.m.c2xx);
		delivered(e, sl);
		return;
	}
	if (code < 200) {
		/* not an HTTP answer we understand: as good as none */
		count(e->c.m.neterr);
		retry(e, sl, "no HTTP status", fast);
		return;
	}
	char why[32];
	snprintf(why, sizeof why, "HTTP %ld", code);
	if (code >= 500 || code == 429) {
		count(code == 429 ? e->c.m.c4xx : e->c.m.c5xx);
		retry(e, sl, why, fast && code != 429);
		return;
	}
	if (code >= 400)
		count(e->c.m.c4xx);
	else
		count(e->c.m.c3xx);
	refused(e, sl, why, buf_cstr(&rq->resp));
}

/* ---- HTTP requests ------------------------------------------------------------ */

int eng_http_header(struct eng *e, struct eng_slot *sl, const char *line)
{
	(void)e;
	struct curl_slist *l = curl_slist_append(sl->req->headers, line);
	if (!l)
		return -1;
	sl->req->headers = l;
	return 0;
}

int eng_http_header_n(struct eng *e, struct eng_slot *sl, const char *name, const char *v, size_t n)
{
	buf_reset(&e->line);
	buf_adds(&e->line, name);
	buf_add(&e->line, v, n);
	const char *s = buf_cstr(&e->line);
	return s ? eng_http_header(e, sl, s) : -1;
}

int eng_http_post(struct eng *e, struct eng_slot *sl, const void *body, size_t len)
{
	struct eng_req *rq = sl->req;
	buf_reset(&rq->resp);
	rq->errbuf[0] = '\0';
	curl_easy_setopt(rq->easy, CURLOPT_HTTPHEADER, rq->headers);
	curl_easy_setopt(rq->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(rq->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	return curl_multi_add_handle(e->multi, rq->easy) == CURLM_OK ? 0 : -1;
}

/* ---- dispatch ------------------------------------------------------------------ */

static struct eng_slot *oldest_failed(struct eng *e)
{
	struct eng_slot *best = NULL;
	for (size_t i = 0; i < e->c.slots; i++) {
		struct eng_slot *sl = &e->slots[i];
		if (sl->state == ENG_WAIT && (!best || sl->seq < best->seq))
			best = sl;
	}
	return best;
}

static struct eng_slot *free_slot(struct eng *e)
{
	for (size_t i = 0; i < e->c.slots; i++)
		if (e->slots[i].state == ENG_FREE)
			return &e->slots[i];
	return NULL;
}

static void dispatch_in_order(struct eng *e)
{
	if (e->degraded) {
		/* One probe at a time until the sink takes an item again. */
		if (e->inflight || mono_ms() < e->retry_at)
			return;
		struct eng_slot *sl = oldest_failed(e);
		if (sl) {
			start(e, sl);
			return;
		}
		e->degraded = 0;
	}
	for (;;) {
		struct eng_slot *sl = oldest_failed(e);
		if (!sl) {
			sl = free_slot(e);
			if (!sl || !take(e, sl))
				return;
		}
		if (start(e, sl) < 0) {
			sl->state = ENG_WAIT; /* to be retried before any other */
			return;
		}
	}
}

static void dispatch_each_alone(struct eng *e)
{
	uint64_t now = mono_ms();
	for (size_t i = 0; i < e->c.slots; i++) {
		struct eng_slot *sl = &e->slots[i];
		if (sl->state == ENG_WAIT && now >= sl->retry_at) {
			if (e->ops->gone && e->ops->gone(e->ctx, sl))
				finish(e, sl);
			else if (start(e, sl) < 0)
				sl->retry_at = now + e->c.backoff_max_ms;
		}
		while (sl->state == ENG_FREE && take(e, sl)) {
			if (start(e, sl) < 0) {
				sl->state = ENG_WAIT;
				sl->retry_at = now + e->c.backoff_max_ms;
			}
		}
	}
}

/* Completions of the transport, without blocking. 1 when any. */
static int reap(struct eng *e)
{
	int any = 0;
	if (e->ops->poll)
		e->ops->poll(e->ctx);
	if (!e->multi)
		return 0;
	int running = 0;
	curl_multi_perform(e->multi, &running);
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(e->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct eng_slot *sl = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
		if (sl) {
			http_completed(e, sl, m->data.result);
			any = 1;
		}
	}
	return any;
}

void eng_pump(struct eng *e)
{
	for (int round = 0; round < 4; round++) {
		int any = reap(e);
		size_t before = e->inflight;
		if (e->c.policy == ENG_IN_ORDER)
			dispatch_in_order(e);
		else
			dispatch_each_alone(e);
		if (e->c.m.inflight)
			metric_set(e->c.m.inflight, e->inflight);
		/* New requests: let the transport start them right away. In
		 * order, completions alone earn another round too (a failed
		 * item may be due); each on its own, only new requests do. */
		if (e->inflight == before && (!any || e->c.policy == ENG_EACH_ALONE))
			break;
	}
}

/* ---- waiting ------------------------------------------------------------------- */

/* The longest wait before a retry is due, at most max_ms. */
static uint64_t until_retry(const struct eng *e, uint64_t now, uint64_t max_ms)
{
	uint64_t wait = max_ms;
	if (e->c.policy == ENG_IN_ORDER) {
		if (e->degraded && !e->inflight)
			wait = e->retry_at > now ? e->retry_at - now : 0;
		return wait < max_ms ? wait : max_ms;
	}
	for (size_t i = 0; i < e->c.slots; i++) {
		const struct eng_slot *sl = &e->slots[i];
		if (sl->state != ENG_WAIT)
			continue;
		uint64_t left = sl->retry_at > now ? sl->retry_at - now : 0;
		if (left < wait)
			wait = left;
	}
	return wait;
}

int eng_poll(struct eng *e, int fd, int timeout_ms)
{
	if (timeout_ms >= 0)
		timeout_ms = (int)until_retry(e, mono_ms(), (uint64_t)timeout_ms);
	int efd = e->ops->event_fd ? e->ops->event_fd(e->ctx) : -1;
	if (e->multi) {
		struct curl_waitfd w[2];
		unsigned n = 0;
		if (fd >= 0)
			w[n++] = (struct curl_waitfd){.fd = fd, .events = CURL_WAIT_POLLIN};
		if (efd >= 0)
			w[n++] = (struct curl_waitfd){.fd = efd, .events = CURL_WAIT_POLLIN};
		curl_multi_poll(e->multi, n ? w : NULL, n, timeout_ms, NULL);
		return fd >= 0 && w[0].revents != 0;
	}
	struct pollfd p[2];
	nfds_t n = 0;
	if (fd >= 0)
		p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
	if (efd >= 0)
		p[n++] = (struct pollfd){.fd = efd, .events = POLLIN};
	if (poll(p, n, timeout_ms) < 0)
		return 0;
	return fd >= 0 && p[0].revents != 0;
}

int eng_wait(struct eng *e, int fd, int timeout_ms)
{
	int r = eng_poll(e, fd, timeout_ms);
	eng_pump(e);
	return r;
}

void eng_wakeup(struct eng *e)
{
	if (e->multi)
		curl_multi_wakeup(e->multi);
}

int eng_can_take(struct eng *e)
{
	if (!free_slot(e) || e->next_seq - e->base_seq >= e->c.window)
		return 0;
	return e->ops->ready ? e->ops->ready(e->ctx) : !e->ops->empty(e->ctx);
}

int eng_idle(struct eng *e)
{
	for (size_t i = 0; i < e->c.slots; i++)
		if (e->slots[i].state != ENG_FREE)
			return 0;
	return e->ops->empty(e->ctx);
}

size_t eng_inflight(const struct eng *e)
{
	return e->inflight;
}

int eng_failing(const struct eng *e)
{
	if (e->c.policy == ENG_IN_ORDER)
		return e->degraded;
	for (size_t i = 0; i < e->c.slots; i++)
		if (e->slots[i].state == ENG_WAIT)
			return 1;
	return 0;
}

/* ---- the end ------------------------------------------------------------------- */

void eng_drain_begin(struct eng *e)
{
	e->draining = 1;
	if (e->c.policy == ENG_EACH_ALONE) {
		/* one more try for each item at once: the sink may be back */
		uint64_t now = mono_ms();
		for (size_t i = 0; i < e->c.slots; i++)
			e->slots[i].retry_at = now;
	}
}

/* Failing, with nothing on the way that could say otherwise. */
static int failing(const struct eng *e)
{
	if (e->inflight)
		return 0;
	if (e->c.policy == ENG_IN_ORDER)
		return e->degraded;
	return e->failed_draining && eng_failing(e);
}

int eng_drain_over(struct eng *e, uint64_t now, uint64_t deadline_ms)
{
	if (eng_idle(e) || now >= deadline_ms)
		return 1;
	/* what is left is safe on disk: no use waiting out the backoff of a
	 * sink that is down */
	return e->c.durable && failing(e);
}

int eng_drain(struct eng *e, uint64_t deadline_ms)
{
	eng_drain_begin(e);
	eng_pump(e);
	uint64_t last_metrics = 0;
	for (;;) {
		uint64_t now = mono_ms();
		if (eng_drain_over(e, now, deadline_ms))
			break;
		uint64_t left = deadline_ms - now;
		eng_wait(e, -1, left > DRAIN_STEP_MS ? DRAIN_STEP_MS : (int)left);
		if (common_opts.metrics_file && now - last_metrics >= METRICS_EVERY_MS) {
			last_metrics = now;
			if (e->ops->gauges)
				e->ops->gauges(e->ctx);
			metrics_maybe_write(common_opts.metrics_file, 0);
		}
	}
	return eng_idle(e);
}

void eng_abandon(struct eng *e)
{
	for (size_t i = 0; i < e->c.slots; i++) {
		struct eng_slot *sl = &e->slots[i];
		if (sl->state == ENG_INFLIGHT) {
			if (sl->req)
				curl_multi_remove_handle(e->multi, sl->req->easy);
			e->inflight--;
		}
		if (sl->state != ENG_FREE && e->ops->abandoned)
			e->ops->abandoned(e->ctx, sl);
		sl->state = ENG_FREE;
	}
	if (e->c.m.inflight)
		metric_set(e->c.m.inflight, 0);
}
