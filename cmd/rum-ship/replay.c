/* Session replay uploads to a Dataway: each session_replay record is one
 * POST of its original multipart body to <dataway>/v1/write/rum/replay.
 *
 * The main thread turns records into queue entries (replay_entry.c) and
 * pushes them: a disk queue (--replay-cache-dir, else <--spool-dir>/replay)
 * or, with neither, a bounded memory queue. Pushing never waits for the
 * network, and a full queue drops its oldest uploads, so the points path is
 * never held up by replays. A thread of its own takes entries from the queue
 * and keeps up to --replay-workers requests in flight with libcurl's multi
 * interface.
 *
 * An entry is acknowledged in the disk queue only once the Dataway answered
 * 2xx (or refused it for good), in read order: a window remembers where
 * each entry read ends, and the acknowledged position moves past the oldest
 * entries that are done. After kill -9 the unacknowledged ones are sent
 * again (at least once).
 *
 * Retries: 5xx, 429 and network errors are retried with backoff
 * (--backoff-min doubling up to --backoff-max, each upload on its own). A
 * failure counts against --replay-retries only while the Dataway takes
 * other uploads: when the last answer to another upload, since this one was
 * taken from the queue, was a success. Then it is this upload the Dataway
 * does not want, and after that many retries it is dropped. Otherwise the
 * Dataway is down (or nothing else was sent, which cannot be told apart),
 * and the uploads wait in the queue however long that lasts. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "dq.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "ship.h"

#define RESP_KEEP 512	  /* bytes of an error answer kept for the log */
#define WINDOW 4096	  /* entries read past the oldest one not done */
#define IDLE_POLL_MS 1000 /* the longest the thread sleeps without news */

enum rslot_state { RS_FREE, RS_INFLIGHT, RS_WAIT };

struct rslot {
	enum rslot_state state;
	CURL *easy;
	struct curl_slist *headers;
	struct buf entry; /* the queue entry: strings, then the body */
	struct replay_entry e;
	uint64_t seq;
	struct dq_pos next; /* disk queue: position after the entry */
	unsigned fails;	    /* failures that count against --replay-retries */
	uint64_t id;	    /* of the upload, for telling it from others */
	uint64_t taken;	    /* the count of answers when it was taken */
	uint64_t backoff, retry_at;
	struct buf resp;
	char errbuf[CURL_ERROR_SIZE];
};

struct rwin {
	int used, done;
	struct dq_pos next;
};

struct mentry {
	struct mentry *next;
	struct buf b;
};

struct replay {
	const struct ship_conf *c;
	char *dir; /* disk queue directory, NULL for memory */
	struct dq *dq;

	/* memory queue: entries waiting, and the bytes of those plus the ones
	 * in slots; under mu (pushed by the main thread) */
	pthread_mutex_t mu;
	struct mentry *head, *tail;
	uint64_t mem_bytes, mem_queued, mem_dropped, mem_dropped_bytes;

	/* main thread */
	struct replay_builder rb;
	struct buf entry;
	struct log_ratelimit rl_bad, rl_queue;

	/* upload thread */
	pthread_t thread;
	int started;
	CURLM *multi;
	struct rslot *slots;
	size_t nslots, inflight;
	struct rwin *win;
	uint64_t next_seq, base_seq;
	/* the last two answers, to different uploads, newest first */
	struct answer {
		uint64_t id, ord;
		int ok;
	} last[2];
	uint64_t answers, next_id;
	uint64_t rng;
	struct buf line;
	struct log_ratelimit rl_fail, rl_drop, rl_4xx, rl_dq;
	uint64_t lost;
	uint64_t read_error_until; /* monotonic ms: no queue reads before */
	int draining;		   /* the thread has seen the drain request */
	int failed_draining;	   /* an attempt failed since */

	/* between the two (atomics) */
	int drain;
	int sleeping; /* the thread is (about to be) in curl_multi_poll */
	uint64_t drain_deadline;
	uint64_t evicted_sent;		 /* evicted from the full queue, then sent */
	uint64_t bad_entries;		 /* queue entries that are not uploads */
	uint64_t too_big, too_big_bytes; /* main thread: bigger than the disk queue */

	uint64_t *m_queued, *m_invalid, *m_sent, *m_bytes, *m_rejected, *m_failed, *m_retries,
	    *m_neterr, *m_2xx, *m_4xx, *m_5xx, *m_dropped, *m_dropped_bytes, *m_queue_errors,
	    *m_lost, *m_inflight, *m_q_entries, *m_q_bytes, *m_corrupt;
};

static void init_metrics(struct replay *r)
{
#define C(var, name, labels, help) r->var = metric_get(name, labels, METRIC_COUNTER, help)
#define G(var, name, help) r->var = metric_get(name, NULL, METRIC_GAUGE, help)
	C(m_queued, "rum_ship_replay_queued_total", NULL,
	  "session_replay records queued for upload.");
	C(m_invalid, "rum_ship_replay_invalid_total", NULL,
	  "session_replay records that cannot be uploaded (no body, no content type, bad "
	  "base64), dropped.");
	C(m_sent, "rum_ship_replay_sent_total", NULL, "Uploads the Dataway accepted (2xx).");
	C(m_bytes, "rum_ship_replay_sent_bytes_total", NULL,
	  "Body bytes of the uploads the Dataway accepted.");
	C(m_rejected, "rum_ship_replay_rejected_total", NULL,
	  "Uploads refused with a 4xx other than 429 (dropped, not retried).");
	C(m_failed, "rum_ship_replay_failed_total", NULL,
	  "Uploads dropped after --replay-retries failures while others went through.");
	C(m_retries, "rum_ship_replay_retries_total", NULL,
	  "Upload attempts that failed (5xx, 429, network) and were retried.");
	C(m_neterr, "rum_ship_replay_network_errors_total", NULL,
	  "Upload attempts that got no HTTP answer (connect, timeout, reset).");
	const char *rh = "Answers to uploads by status class.";
	C(m_2xx, "rum_ship_replay_responses_total", "class=\"2xx\"", rh);
	C(m_4xx, "rum_ship_replay_responses_total", "class=\"4xx\"", rh);
	C(m_5xx, "rum_ship_replay_responses_total", "class=\"5xx\"", rh);
	C(m_dropped, "rum_ship_replay_dropped_total", NULL,
	  "Unsent uploads dropped from the full queue (oldest first) or too big for it.");
	C(m_dropped_bytes, "rum_ship_replay_dropped_bytes_total", NULL,
	  "Bytes of the uploads dropped from the full queue.");
	C(m_queue_errors, "rum_ship_replay_queue_errors_total", NULL,
	  "Uploads lost because the disk queue could not be written.");
	C(m_lost, "rum_ship_replay_lost_total", NULL,
	  "Uploads given up at exit (memory queue, Dataway down past --drain-timeout).");
	C(m_corrupt, "rum_ship_replay_queue_corrupt_total", NULL,
	  "Disk queue entries skipped as unreadable.");
	G(m_inflight, "rum_ship_replay_inflight", "Uploads in flight.");
	G(m_q_entries, "rum_ship_replay_queue_entries", "Uploads queued or in flight, not done.");
	G(m_q_bytes, "rum_ship_replay_queue_bytes",
	  "Bytes of the replay queue (on disk, or in memory without a disk queue).");
#undef C
#undef G
}

static uint64_t rnd(struct replay *r)
{
	/* xorshift64: jitter only, nothing secret */
	uint64_t x = r->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rng = x;
	return x;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct rslot *sl = ctx;
	size_t len = size * n;
	if (sl->resp.len < RESP_KEEP) {
		size_t take = RESP_KEEP - sl->resp.len;
		buf_add(&sl->resp, p, len < take ? len : take);
	}
	return len;
}

/* ---- the queue, as seen by the upload thread ------------------------- */

/* The next entry into sl->entry. 1: got one; 0: none. */
static int take(struct replay *r, struct rslot *sl)
{
	if (r->dq) {
		if (r->next_seq - r->base_seq >= WINDOW)
			return 0; /* an old upload is slow: do not run too far ahead */
		if (r->read_error_until && mono_ms() < r->read_error_until)
			return 0;
		int got = dq_read(r->dq, &sl->entry, &sl->next);
		r->read_error_until = 0;
		if (got < 0) {
			log_rl(&r->rl_dq, RLOG_ERROR, "cannot read the replay queue %s: %s", r->dir,
			       strerror(errno));
			/* not again at once: an I/O error tends to last */
			r->read_error_until = mono_ms() + IDLE_POLL_MS;
		}
		if (got <= 0)
			return 0;
		sl->seq = r->next_seq++;
		r->win[sl->seq % WINDOW] = (struct rwin){1, 0, sl->next};
		return 1;
	}
	pthread_mutex_lock(&r->mu);
	struct mentry *m = r->head;
	if (m) {
		r->head = m->next;
		if (!r->head)
			r->tail = NULL;
		r->mem_queued--;
	}
	pthread_mutex_unlock(&r->mu);
	if (!m)
		return 0;
	buf_free(&sl->entry);
	sl->entry = m->b;
	free(m);
	return 1;
}

/* The upload in this slot is done with: sent, refused or given up. */
static void finish(struct replay *r, struct rslot *sl)
{
	if (r->dq) {
		r->win[sl->seq % WINDOW].done = 1;
		int advanced = 0;
		struct dq_pos pos = {0, 0};
		while (r->base_seq < r->next_seq && r->win[r->base_seq % WINDOW].done) {
			struct rwin *w = &r->win[r->base_seq % WINDOW];
			pos = w->next;
			w->used = w->done = 0;
			r->base_seq++;
			advanced = 1;
		}
		if (advanced && dq_ack(r->dq, pos) < 0)
			log_rl(&r->rl_dq, RLOG_WARN,
			       "cannot record progress in the replay queue %s: %s", r->dir,
			       strerror(errno));
	} else {
		pthread_mutex_lock(&r->mu);
		r->mem_bytes -= sl->entry.len;
		pthread_mutex_unlock(&r->mu);
	}
	if (sl->entry.cap > ((size_t)4 << 20))
		buf_free(&sl->entry);
	else
		buf_reset(&sl->entry);
	sl->state = RS_FREE;
	sl->fails = 0;
	sl->backoff = r->c->backoff_min_ms;
}

/* ---- requests ---------------------------------------------------------- */

static int add_header(struct replay *r, struct rslot *sl, const char *name, const char *v, size_t n)
{
	buf_reset(&r->line);
	buf_adds(&r->line, name);
	buf_add(&r->line, v, n);
	const char *s = buf_cstr(&r->line);
	if (!s)
		return -1;
	struct curl_slist *l = curl_slist_append(sl->headers, s);
	if (!l)
		return -1;
	sl->headers = l;
	return 0;
}

static int start(struct replay *r, struct rslot *sl)
{
	curl_slist_free_all(sl->headers);
	sl->headers = NULL;
	const struct replay_entry *e = &sl->e;
	if (add_header(r, sl, "Content-Type: ", e->ct, e->ct_len) < 0)
		return -1;
	if (e->xgt_len && add_header(r, sl, "X-Global-Tags: ", e->xgt, e->xgt_len) < 0)
		return -1;
	for (const char *p = e->hdrs, *end = e->hdrs + e->hdrs_len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (add_header(r, sl, "", p, (size_t)(nl - p)) < 0)
			return -1;
		p = nl + 1;
	}
	/* no 100-continue round trip for every upload */
	if (add_header(r, sl, "Expect:", "", 0) < 0)
		return -1;
	buf_reset(&sl->resp);
	sl->errbuf[0] = '\0';
	curl_easy_setopt(sl->easy, CURLOPT_HTTPHEADER, sl->headers);
	curl_easy_setopt(sl->easy, CURLOPT_POSTFIELDS, e->body);
	curl_easy_setopt(sl->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->body_len);
	if (curl_multi_add_handle(r->multi, sl->easy) != CURLM_OK)
		return -1;
	sl->state = RS_INFLIGHT;
	r->inflight++;
	return 0;
}

/* Evicted from the full disk queue while it waited for a retry: the queue
 * counted it as dropped, and dropped it is. */
static int evicted(struct replay *r, struct rslot *sl)
{
	return r->dq && dq_acked(r->dq, sl->next);
}

static void label(const struct rslot *sl, char *out, size_t n)
{
	snprintf(out, n, "app_id %.*s, %zu bytes", (int)sl->e.app_len, sl->e.app, sl->e.body_len);
}

/* An answer (or a network error) to the upload in sl. */
static void heard(struct replay *r, const struct rslot *sl, int ok)
{
	if (r->last[0].id != sl->id)
		r->last[1] = r->last[0];
	r->last[0] = (struct answer){sl->id, ++r->answers, ok};
}

static void transient(struct replay *r, struct rslot *sl, const char *why)
{
	char what[200];
	label(sl, what, sizeof what);
	metric_inc(r->m_retries);
	r->failed_draining = r->draining;
	const struct answer *o = r->last[0].id != sl->id ? &r->last[0] : &r->last[1];
	if (o->ok && o->ord > sl->taken)
		sl->fails++;
	heard(r, sl, 0);
	if (sl->fails > r->c->replay_retries) {
		metric_inc(r->m_failed);
		log_rl(&r->rl_drop, RLOG_ERROR,
		       "replay upload (%s) failed (%s) %u times while others went through; "
		       "dropped",
		       what, why, sl->fails);
		finish(r, sl);
		return;
	}
	uint64_t b = sl->backoff;
	uint64_t j = b / 2 ? rnd(r) % (b / 2 + 1) : 0; /* 75% to 125% */
	uint64_t wait = b - b / 4 + j;
	sl->retry_at = mono_ms() + wait;
	sl->backoff = b * 2 > r->c->backoff_max_ms ? r->c->backoff_max_ms : b * 2;
	sl->state = RS_WAIT;
	log_rl(&r->rl_fail, RLOG_WARN, "replay upload (%s) failed (%s); retrying in %" PRIu64 " ms",
	       what, why, wait);
}

static void completed(struct replay *r, struct rslot *sl, CURLcode cc)
{
	curl_multi_remove_handle(r->multi, sl->easy);
	r->inflight--;
	if (cc != CURLE_OK) {
		metric_inc(r->m_neterr);
		transient(r, sl, sl->errbuf[0] ? sl->errbuf : curl_easy_strerror(cc));
		return;
	}
	long code = 0;
	curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300) {
		metric_inc(r->m_2xx);
		metric_inc(r->m_sent);
		metric_add(r->m_bytes, sl->e.body_len);
		heard(r, sl, 1);
		if (evicted(r, sl))
			__atomic_fetch_add(&r->evicted_sent, 1, __ATOMIC_RELAXED);
		finish(r, sl);
		return;
	}
	if (code < 200) {
		metric_inc(r->m_neterr);
		transient(r, sl, "no HTTP status");
		return;
	}
	char why[32];
	snprintf(why, sizeof why, "HTTP %ld", code);
	if (code >= 500 || code == 429) {
		metric_inc(code == 429 ? r->m_4xx : r->m_5xx);
		transient(r, sl, why);
		return;
	}
	if (code >= 400)
		metric_inc(r->m_4xx);
	metric_inc(r->m_rejected);
	char what[200];
	label(sl, what, sizeof what);
	const char *body = buf_cstr(&sl->resp);
	log_rl(&r->rl_4xx, RLOG_ERROR, "Dataway refused a replay upload (%s) with %s (dropped): %s",
	       what, why, body ? body : "");
	finish(r, sl);
}

/* Completions, due retries, new uploads. */
static void pump(struct replay *r)
{
	for (int round = 0; round < 4; round++) {
		int running = 0;
		curl_multi_perform(r->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(r->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct rslot *sl = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
			if (sl)
				completed(r, sl, m->data.result);
		}
		size_t before = r->inflight;
		uint64_t now = mono_ms();
		for (size_t i = 0; i < r->nslots; i++) {
			struct rslot *sl = &r->slots[i];
			if (sl->state == RS_WAIT && now >= sl->retry_at) {
				if (evicted(r, sl)) {
					finish(r, sl);
				} else if (start(r, sl) < 0) {
					log_rl(&r->rl_fail, RLOG_ERROR, "cannot start an upload");
					sl->retry_at = now + r->c->backoff_max_ms;
				}
			}
			while (sl->state == RS_FREE && take(r, sl)) {
				if (replay_entry_parse(sl->entry.p, sl->entry.len, &sl->e) < 0) {
					__atomic_fetch_add(&r->bad_entries, 1, __ATOMIC_RELAXED);
					log_rl(&r->rl_dq, RLOG_WARN,
					       "skipping an unreadable entry of the replay queue");
					finish(r, sl);
					continue;
				}
				sl->backoff = r->c->backoff_min_ms;
				sl->fails = 0;
				sl->id = ++r->next_id;
				sl->taken = r->answers;
				if (start(r, sl) < 0) {
					log_rl(&r->rl_fail, RLOG_ERROR, "cannot start an upload");
					sl->state = RS_WAIT;
					sl->retry_at = now + r->c->backoff_max_ms;
				}
			}
		}
		metric_set(r->m_inflight, r->inflight);
		if (r->inflight == before)
			break;
	}
}

static int busy(const struct replay *r, int *waiting)
{
	int any = 0;
	*waiting = 0;
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i].state != RS_FREE)
			any = 1;
		if (r->slots[i].state == RS_WAIT)
			*waiting = 1;
	}
	return any;
}

static int queue_empty(struct replay *r)
{
	if (r->dq) {
		struct dq_stats st;
		dq_get_stats(r->dq, &st);
		return st.entries == 0;
	}
	pthread_mutex_lock(&r->mu);
	int empty = r->head == NULL;
	pthread_mutex_unlock(&r->mu);
	return empty;
}

/* A free slot and an upload for it. */
static int can_take(struct replay *r)
{
	int free_slot = 0;
	for (size_t i = 0; i < r->nslots && !free_slot; i++)
		free_slot = r->slots[i].state == RS_FREE;
	if (!free_slot)
		return 0;
	if (r->dq)
		return r->next_seq - r->base_seq < WINDOW && !r->read_error_until &&
		       dq_wait(r->dq, 0) == 1;
	pthread_mutex_lock(&r->mu);
	int any = r->head != NULL;
	pthread_mutex_unlock(&r->mu);
	return any;
}

static void *run(void *arg)
{
	struct replay *r = arg;
	for (;;) {
		pump(r);
		uint64_t now = mono_ms();
		int waiting;
		if (__atomic_load_n(&r->drain, __ATOMIC_ACQUIRE)) {
			if (!r->draining) {
				/* one more try for each upload at once: the
				 * Dataway may be back */
				r->draining = 1;
				for (size_t i = 0; i < r->nslots; i++)
					r->slots[i].retry_at = now;
				continue;
			}
			int any = busy(r, &waiting);
			if (!any && queue_empty(r))
				break;
			if (now >= r->drain_deadline)
				break;
			/* the Dataway is failing: what is left is safe on disk */
			if (r->dq && waiting && !r->inflight && r->failed_draining)
				break;
		}
		uint64_t wait = IDLE_POLL_MS;
		for (size_t i = 0; i < r->nslots; i++) {
			const struct rslot *sl = &r->slots[i];
			if (sl->state == RS_WAIT)
				wait = sl->retry_at <= now	   ? 0
				       : sl->retry_at - now < wait ? sl->retry_at - now
								   : wait;
		}
		if (__atomic_load_n(&r->drain, __ATOMIC_ACQUIRE) && r->drain_deadline > now &&
		    r->drain_deadline - now < wait)
			wait = r->drain_deadline - now;
		/* Records come in faster than a wake-up each is worth: the
		 * main thread wakes this one only when it may be asleep, and
		 * an upload queued after this check finds the flag set. */
		__atomic_store_n(&r->sleeping, 1, __ATOMIC_SEQ_CST);
		if (can_take(r))
			wait = 0;
		curl_multi_poll(r->multi, NULL, 0, (int)wait, NULL);
		__atomic_store_n(&r->sleeping, 0, __ATOMIC_SEQ_CST);
	}
	/* What is still in a slot: on disk it stays for the next run; in
	 * memory it is lost. */
	for (size_t i = 0; i < r->nslots; i++) {
		struct rslot *sl = &r->slots[i];
		if (sl->state == RS_INFLIGHT) {
			curl_multi_remove_handle(r->multi, sl->easy);
			r->inflight--;
		}
		if (sl->state != RS_FREE && !r->dq) {
			r->lost++;
			pthread_mutex_lock(&r->mu);
			r->mem_bytes -= sl->entry.len;
			pthread_mutex_unlock(&r->mu);
		}
		sl->state = RS_FREE;
	}
	metric_set(r->m_inflight, 0);
	return NULL;
}

/* ---- set-up and the main thread's side -------------------------------- */

/* --replay-clear-cache: the queue's own files only, never the directory's
 * other contents, and not while another process has the queue open. */
static int clear_cache(const char *dir, char *err, size_t errlen)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	int lfd = openat(dfd, "lock", O_RDWR | O_CLOEXEC);
	if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: %s", dir,
			 errno == EWOULDBLOCK ? "queue in use by another process"
					      : strerror(errno));
		close(lfd);
		close(dfd);
		return -1;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		close(dfd);
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	unsigned removed = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		int seg = len == 24 && strcmp(n + 20, ".seg") == 0 && strspn(n, "0123456789") == 20;
		if (!seg && strcmp(n, "ack") != 0)
			continue;
		if (unlinkat(dirfd(d), n, 0) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s/%s: %s", dir, n, strerror(errno));
			rc = -1;
			break;
		}
		removed++;
	}
	closedir(d);
	if (lfd >= 0)
		close(lfd);
	if (rc == 0 && removed)
		log_info("--replay-clear-cache: emptied %s", dir);
	return rc;
}

int replay_open(struct replay **out, const struct ship_conf *c, char *err, size_t errlen)
{
	struct replay *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->c = c;
	r->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x2545f4914f6cdd1du;
	r->rl_bad = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	r->rl_queue = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	r->rl_fail = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	r->rl_4xx = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	r->rl_drop = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	r->rl_dq = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	init_metrics(r);
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		snprintf(err, errlen, "pthread_mutex_init failed");
		free(r);
		return -1;
	}
	if (c->replay_cache_dir) {
		r->dir = strdup(c->replay_cache_dir);
	} else if (c->spool_dir) {
		size_t n = strlen(c->spool_dir) + sizeof "/replay";
		if ((r->dir = malloc(n)))
			snprintf(r->dir, n, "%s/replay", c->spool_dir);
	}
	if ((c->replay_cache_dir || c->spool_dir) && !r->dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (r->dir) {
		if (c->replay_clear_cache && clear_cache(r->dir, err, errlen) < 0)
			goto fail;
		char dqerr[256];
		if (dq_open(&r->dq, r->dir, c->replay_cache_bytes, dqerr, sizeof dqerr) < 0) {
			snprintf(err, errlen, "replay cache %s", dqerr);
			goto fail;
		}
		struct dq_stats st;
		dq_get_stats(r->dq, &st);
		if (st.entries)
			log_info("replay cache %s: %" PRIu64 " uploads to send from a previous run",
				 r->dir, st.entries);
		r->win = calloc(WINDOW, sizeof *r->win);
		if (!r->win) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	} else if (c->replay_clear_cache) {
		log_info("--replay-clear-cache: no disk queue (replays are queued in memory)");
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(r->multi = curl_multi_init())) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto fail;
	}
	curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)c->replay_workers * 2);
	r->nslots = c->replay_workers;
	r->slots = calloc(r->nslots, sizeof *r->slots);
	if (!r->slots) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < r->nslots; i++) {
		struct rslot *sl = &r->slots[i];
		sl->resp.limit = RESP_KEEP + 1;
		sl->backoff = c->backoff_min_ms;
		CURL *e = sl->easy = curl_easy_init();
		if (!e) {
			snprintf(err, errlen, "cannot initialise libcurl");
			goto fail;
		}
		curl_easy_setopt(e, CURLOPT_URL, c->sink.replay_url);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_USERAGENT, "rumpipe-rum-ship/" RUM_VERSION);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)c->replay_timeout_s);
		curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->replay_timeout_s);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, sl);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sl->errbuf);
		curl_easy_setopt(e, CURLOPT_PRIVATE, sl);
	}
	/* Signals are the main thread's business: its reads must see EINTR. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&r->thread, NULL, run, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the replay upload thread: %s", strerror(e));
		goto fail;
	}
	r->started = 1;
	replay_gauges(r);
	*out = r;
	return 0;
fail:
	replay_close(r);
	return -1;
}

static void mem_push(struct replay *r)
{
	uint64_t n = r->entry.len;
	pthread_mutex_lock(&r->mu);
	while (r->head && r->mem_bytes + n > r->c->replay_memory_bytes) {
		struct mentry *m = r->head;
		r->head = m->next;
		if (!r->head)
			r->tail = NULL;
		r->mem_queued--;
		r->mem_bytes -= m->b.len;
		r->mem_dropped++;
		r->mem_dropped_bytes += m->b.len;
		buf_free(&m->b);
		free(m);
	}
	int fits = r->mem_bytes + n <= r->c->replay_memory_bytes;
	struct mentry *m = fits ? calloc(1, sizeof *m) : NULL;
	if (m) {
		m->b = r->entry;
		r->mem_bytes += n;
		r->mem_queued++;
		if (r->tail)
			r->tail->next = m;
		else
			r->head = m;
		r->tail = m;
	} else {
		r->mem_dropped++;
		r->mem_dropped_bytes += n;
	}
	pthread_mutex_unlock(&r->mu);
	if (m) {
		r->entry = (struct buf)BUF_INIT;
		metric_inc(r->m_queued);
	} else {
		log_rl(&r->rl_queue, RLOG_WARN,
		       fits ? "out of memory queueing a replay upload; dropped"
			    : "replay memory queue full with uploads in flight; upload dropped");
	}
}

int replay_submit(struct replay *r, const struct record *rec, uint64_t lineno)
{
	const char *why = NULL;
	if (replay_entry_build(&r->rb, rec, &r->entry, &why) < 0) {
		metric_inc(r->m_invalid);
		log_rl(&r->rl_bad, RLOG_WARN,
		       "line %" PRIu64 ": session_replay record: %s; dropped", lineno, why);
		return -1;
	}
	if (r->dq) {
		/* the upload thread takes the entry from memory, with no read
		 * back of what was just written, when it keeps up */
		size_t len = r->entry.len;
		if (dq_push_keep(r->dq, &r->entry) < 0) {
			if (errno == EFBIG) {
				r->too_big++;
				r->too_big_bytes += len;
				log_rl(&r->rl_queue, RLOG_WARN,
				       "line %" PRIu64
				       ": a replay upload of %zu bytes is bigger than "
				       "--replay-cache-mb; dropped",
				       lineno, len);
			} else {
				metric_inc(r->m_queue_errors);
				log_rl(&r->rl_queue, RLOG_ERROR,
				       "cannot write a replay upload to %s: %s; dropped", r->dir,
				       strerror(errno));
			}
			return -1;
		}
		metric_inc(r->m_queued);
		if (r->entry.cap > ((size_t)4 << 20))
			buf_free(&r->entry);
	} else {
		mem_push(r);
	}
	if (__atomic_exchange_n(&r->sleeping, 0, __ATOMIC_SEQ_CST))
		curl_multi_wakeup(r->multi);
	return 0;
}

void replay_drain(struct replay *r, uint64_t deadline_ms)
{
	r->drain_deadline = deadline_ms;
	__atomic_store_n(&r->drain, 1, __ATOMIC_RELEASE);
	curl_multi_wakeup(r->multi);
}

void replay_gauges(struct replay *r)
{
	uint64_t bad = __atomic_load_n(&r->bad_entries, __ATOMIC_RELAXED);
	if (r->dq) {
		struct dq_stats st;
		dq_get_stats(r->dq, &st);
		metric_set(r->m_q_entries, st.entries);
		metric_set(r->m_q_bytes, st.bytes);
		metric_set(r->m_corrupt, st.corrupt + bad);
		/* the queue counts what it evicted unacknowledged; some of
		 * that was in flight and went through after all */
		uint64_t es = __atomic_load_n(&r->evicted_sent, __ATOMIC_RELAXED);
		uint64_t d = st.dropped_entries > es ? st.dropped_entries - es : 0;
		metric_set(r->m_dropped, d + r->too_big);
		metric_set(r->m_dropped_bytes, st.dropped_bytes + r->too_big_bytes);
		return;
	}
	metric_set(r->m_corrupt, bad);
	pthread_mutex_lock(&r->mu);
	metric_set(r->m_q_entries, r->mem_queued);
	metric_set(r->m_q_bytes, r->mem_bytes);
	metric_set(r->m_dropped, r->mem_dropped);
	metric_set(r->m_dropped_bytes, r->mem_dropped_bytes);
	pthread_mutex_unlock(&r->mu);
}

uint64_t replay_close(struct replay *r)
{
	if (!r)
		return 0;
	if (r->started) {
		if (!__atomic_load_n(&r->drain, __ATOMIC_ACQUIRE))
			replay_drain(r, mono_ms());
		pthread_join(r->thread, NULL);
	}
	uint64_t lost = r->lost;
	for (struct mentry *m = r->head; m;) {
		struct mentry *n = m->next;
		lost++;
		r->mem_bytes -= m->b.len;
		buf_free(&m->b);
		free(m);
		m = n;
	}
	r->head = r->tail = NULL;
	r->mem_queued = 0;
	if (lost) {
		metric_add(r->m_lost, lost);
		log_error("Dataway still failing after --drain-timeout: %" PRIu64
			  " replay uploads lost (no disk queue)",
			  lost);
	}
	replay_gauges(r);
	if (r->dq) {
		struct dq_stats st;
		dq_get_stats(r->dq, &st);
		if (st.entries)
			log_warn("replay cache %s: %" PRIu64 " uploads left for the next run",
				 r->dir, st.entries);
	}
	for (size_t i = 0; r->slots && i < r->nslots; i++) {
		struct rslot *sl = &r->slots[i];
		if (sl->easy)
			curl_easy_cleanup(sl->easy);
		curl_slist_free_all(sl->headers);
		buf_free(&sl->entry);
		buf_free(&sl->resp);
	}
	if (r->multi) {
		curl_multi_cleanup(r->multi);
		curl_global_cleanup();
	}
	if (r->dq)
		dq_close(r->dq);
	replay_builder_free(&r->rb);
	buf_free(&r->entry);
	buf_free(&r->line);
	free(r->slots);
	free(r->win);
	free(r->dir);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return lost;
}
