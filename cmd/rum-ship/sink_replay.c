/* Session replay uploads to a Dataway: each session_replay record is one
 * POST of its original multipart body to <dataway>/v1/write/rum/replay.
 *
 * The main thread turns records into queue entries (replay_entry.c) and
 * pushes them: a disk queue (--replay-cache-dir, else <--spool-dir>/replay)
 * or, with neither, a bounded memory queue. Pushing never waits for the
 * network, and a full queue drops its oldest uploads, so the points path is
 * never held up by replays. A thread of its own drives a delivery engine
 * (engine.h) that takes entries from the queue and keeps up to
 * --replay-workers requests in flight.
 *
 * An entry is acknowledged in the disk queue only once the Dataway answered
 * 2xx (or refused it for good), in read order: a window remembers where
 * each entry read ends, and the acknowledged position moves past the oldest
 * entries that are done. After kill -9 the unacknowledged ones are sent
 * again (at least once).
 *
 * Retries (ENG_EACH_ALONE): 5xx, 429 and network errors are retried with
 * backoff (--backoff-min doubling up to --backoff-max, each upload on its
 * own). A
 * failure counts against --replay-retries only while the Dataway takes
 * other uploads: when the last answer to another upload, since this one was
 * taken from the queue, was a success. Then it is this upload the Dataway
 * does not want, and after that many retries it is dropped. Otherwise the
 * Dataway is down (or nothing else was sent, which cannot be told apart),
 * and the uploads wait in the queue however long that lasts. */
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
#include <unistd.h>

#include "clock.h"
#include "dq.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "ship.h"

#define WINDOW 4096	  /* entries read past the oldest one not done */
#define IDLE_POLL_MS 1000 /* the longest the thread sleeps without news */

/* The upload in a slot. */
struct rslot {
	struct buf entry; /* the queue entry: strings, then the body */
	struct replay_entry e;
};

struct replay {
	const struct ship_conf *c;
	char *dir; /* disk queue directory, NULL for memory */
	/* the disk queue, or a bounded memory queue (pushed by the main
	 * thread, taken by the upload thread) */
	struct squeue q;

	/* main thread */
	struct replay_builder rb;
	struct buf entry;
	struct log_ratelimit rl_bad, rl_queue;

	/* upload thread */
	pthread_t thread;
	int started;
	struct eng *eng;
	struct rslot *slots;
	struct log_ratelimit rl_fail, rl_drop, rl_4xx, rl_dq;
	uint64_t lost;
	uint64_t read_error_until; /* monotonic ms: no queue reads before */

	/* between the two (atomics) */
	int drain;
	int sleeping; /* the thread is (about to be) in its poll */
	uint64_t drain_deadline;
	uint64_t evicted_sent;		 /* evicted from the full queue, then sent */
	uint64_t bad_entries;		 /* queue entries that are not uploads */
	uint64_t too_big, too_big_bytes; /* main thread: bigger than the disk queue */

	struct eng_counters m;
	uint64_t *m_queued, *m_invalid, *m_sent, *m_bytes, *m_rejected, *m_failed, *m_dropped,
	    *m_dropped_bytes, *m_queue_errors, *m_lost, *m_q_entries, *m_q_bytes, *m_corrupt;
};

static void init_metrics(struct replay *r)
{
	char lb[128];
#define C(var, name, labels, help)                                                                 \
	r->var = metric_get(name, sink_labels(r->c, labels, lb, sizeof lb), METRIC_COUNTER, help)
#define G(var, name, help)                                                                         \
	r->var = metric_get(name, sink_labels(r->c, NULL, lb, sizeof lb), METRIC_GAUGE, help)
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
	C(m.retries, "rum_ship_replay_retries_total", NULL,
	  "Upload attempts that failed (5xx, 429, network) and were retried.");
	C(m.neterr, "rum_ship_replay_network_errors_total", NULL,
	  "Upload attempts that got no HTTP answer (connect, timeout, reset).");
	const char *rh = "Answers to uploads by status class.";
	C(m.c2xx, "rum_ship_replay_responses_total", "class=\"2xx\"", rh);
	C(m.c4xx, "rum_ship_replay_responses_total", "class=\"4xx\"", rh);
	C(m.c5xx, "rum_ship_replay_responses_total", "class=\"5xx\"", rh);
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
	G(m.inflight, "rum_ship_replay_inflight", "Uploads in flight.");
	G(m_q_entries, "rum_ship_replay_queue_entries", "Uploads queued or in flight, not done.");
	G(m_q_bytes, "rum_ship_replay_queue_bytes",
	  "Bytes of the replay queue (on disk, or in memory without a disk queue).");
#undef C
#undef G
}

/* ---- the sink interface, on the upload thread --------------------------- */

static int take(void *ctx, struct eng_slot *es)
{
	struct replay *r = ctx;
	struct rslot *sl = &r->slots[es->index];
	if (r->read_error_until && mono_ms() < r->read_error_until)
		return ENG_NONE;
	uint32_t units;
	int got = sq_take(&r->q, &sl->entry, &units, &es->next);
	r->read_error_until = 0;
	if (got < 0) {
		log_rl(&r->rl_dq, RLOG_ERROR, "cannot read the replay queue %s: %s", r->dir,
		       strerror(errno));
		/* not again at once: an I/O error tends to last */
		r->read_error_until = mono_ms() + IDLE_POLL_MS;
	}
	if (got <= 0)
		return ENG_NONE;
	if (replay_entry_parse(sl->entry.p, sl->entry.len, &sl->e) < 0) {
		__atomic_fetch_add(&r->bad_entries, 1, __ATOMIC_RELAXED);
		log_rl(&r->rl_dq, RLOG_WARN, "skipping an unreadable entry of the replay queue");
		return ENG_SKIP;
	}
	return ENG_GOT;
}

static int send_upload(void *ctx, struct eng_slot *es)
{
	struct replay *r = ctx;
	const struct replay_entry *e = &r->slots[es->index].e;
	if (eng_http_header_n(r->eng, es, "Content-Type: ", e->ct, e->ct_len) < 0)
		return -1;
	if (e->xgt_len && eng_http_header_n(r->eng, es, "X-Global-Tags: ", e->xgt, e->xgt_len) < 0)
		return -1;
	for (const char *p = e->hdrs, *end = e->hdrs + e->hdrs_len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (eng_http_header_n(r->eng, es, "", p, (size_t)(nl - p)) < 0)
			return -1;
		p = nl + 1;
	}
	/* no 100-continue round trip for every upload */
	if (eng_http_header(r->eng, es, "Expect:") < 0)
		return -1;
	return eng_http_post(r->eng, es, e->body, e->body_len);
}

/* Evicted from the full disk queue while it waited for a retry: the queue
 * counted it as dropped, and dropped it is. */
static int evicted(void *ctx, struct eng_slot *es)
{
	struct replay *r = ctx;
	return r->q.dq && dq_acked(r->q.dq, es->next);
}

static void label(const struct rslot *sl, char *out, size_t n)
{
	snprintf(out, n, "app_id %.*s, %zu bytes", (int)sl->e.app_len, sl->e.app, sl->e.body_len);
}

static void delivered(void *ctx, struct eng_slot *es, int was_failing)
{
	struct replay *r = ctx;
	metric_inc(r->m_sent);
	metric_add(r->m_bytes, r->slots[es->index].e.body_len);
	if (evicted(r, es))
		__atomic_fetch_add(&r->evicted_sent, 1, __ATOMIC_RELAXED);
}

static void refused(void *ctx, struct eng_slot *es, const char *why, const char *answer)
{
	struct replay *r = ctx;
	metric_inc(r->m_rejected);
	char what[200];
	label(&r->slots[es->index], what, sizeof what);
	log_rl(&r->rl_4xx, RLOG_ERROR, "Dataway refused a replay upload (%s) with %s (dropped): %s",
	       what, why, answer);
}

static void retrying(void *ctx, struct eng_slot *es, const char *why, uint64_t wait_ms)
{
	struct replay *r = ctx;
	char what[200];
	label(&r->slots[es->index], what, sizeof what);
	log_rl(&r->rl_fail, RLOG_WARN, "replay upload (%s) failed (%s); retrying in %" PRIu64 " ms",
	       what, why, wait_ms);
}

static void given_up(void *ctx, struct eng_slot *es, const char *why, unsigned fails)
{
	struct replay *r = ctx;
	char what[200];
	label(&r->slots[es->index], what, sizeof what);
	metric_inc(r->m_failed);
	log_rl(&r->rl_drop, RLOG_ERROR,
	       "replay upload (%s) failed (%s) %u times while others went through; dropped", what,
	       why, fails);
}

static void release(void *ctx, struct eng_slot *es)
{
	struct replay *r = ctx;
	struct rslot *sl = &r->slots[es->index];
	sq_done(&r->q, sl->entry.len);
	if (sl->entry.cap > ((size_t)4 << 20))
		buf_free(&sl->entry);
	else
		buf_reset(&sl->entry);
}

static void ack(void *ctx, struct dq_pos pos)
{
	struct replay *r = ctx;
	if (r->q.dq && dq_ack(r->q.dq, pos) < 0)
		log_rl(&r->rl_dq, RLOG_WARN, "cannot record progress in the replay queue %s: %s",
		       r->dir, strerror(errno));
}

static int empty(void *ctx)
{
	struct replay *r = ctx;
	return sq_empty(&r->q);
}

/* An upload is waiting to be taken: a cheap test, no read. */
static int ready(void *ctx)
{
	struct replay *r = ctx;
	return !r->read_error_until && sq_ready(&r->q);
}

/* Still in a slot at the end: on disk it stays for the next run; in memory
 * it is lost. */
static void abandoned(void *ctx, struct eng_slot *es)
{
	struct replay *r = ctx;
	if (r->q.dq)
		return;
	r->lost++;
	sq_done(&r->q, r->slots[es->index].entry.len);
}

static const struct sink_ops replay_ops = {
    .take = take,
    .send = send_upload,
    .delivered = delivered,
    .refused = refused,
    .retrying = retrying,
    .given_up = given_up,
    .release = release,
    .ack = ack,
    .empty = empty,
    .ready = ready,
    .gone = evicted,
    .abandoned = abandoned,
};

/* The upload thread: the engine until the drain is over. */
static void *run(void *arg)
{
	struct replay *r = arg;
	int draining = 0;
	for (;;) {
		eng_pump(r->eng);
		uint64_t now = mono_ms();
		int drain = __atomic_load_n(&r->drain, __ATOMIC_ACQUIRE);
		if (drain && !draining) {
			draining = 1;
			eng_drain_begin(r->eng);
			continue;
		}
		if (drain && eng_drain_over(r->eng, now, r->drain_deadline))
			break;
		uint64_t wait = IDLE_POLL_MS;
		if (drain && r->drain_deadline > now && r->drain_deadline - now < wait)
			wait = r->drain_deadline - now;
		/* Records come in faster than a wake-up each is worth: the
		 * main thread wakes this one only when it may be asleep, and
		 * an upload queued after this check finds the flag set. */
		__atomic_store_n(&r->sleeping, 1, __ATOMIC_SEQ_CST);
		if (eng_can_take(r->eng))
			wait = 0;
		eng_poll(r->eng, -1, (int)wait);
		__atomic_store_n(&r->sleeping, 0, __ATOMIC_SEQ_CST);
	}
	eng_abandon(r->eng);
	return NULL;
}

/* ---- set-up and the main thread's side -------------------------------- */

/* --replay-clear-cache: the queue's own files only, never the directory's
 * other contents, and not while another process has the queue open. */
static int clear_cache(const char *dir, struct rum_error *err)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, "%s: %s", dir, strerror(errno));
	}
	int lfd = openat(dfd, "lock", O_RDWR | O_CLOEXEC);
	if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		err_set(err, "%s: %s", dir,
			errno == EWOULDBLOCK ? "queue in use by another process" : strerror(errno));
		close(lfd);
		close(dfd);
		return -1;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		err_set(err, "%s: %s", dir, strerror(errno));
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
			err_set(err, "%s/%s: %s", dir, n, strerror(errno));
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

/* The disk queue: --replay-cache-dir, else <--spool-dir>/replay. NULL dir
 * with neither: the memory queue. */
static int open_queue(struct replay *r, struct rum_error *err)
{
	const struct ship_conf *c = r->c;
	if (c->replay_cache_dir) {
		r->dir = strdup(c->replay_cache_dir);
	} else if (c->spool_dir) {
		size_t n = strlen(c->spool_dir) + sizeof "/replay";
		if ((r->dir = malloc(n)))
			snprintf(r->dir, n, "%s/replay", c->spool_dir);
	}
	if ((c->replay_cache_dir || c->spool_dir) && !r->dir)
		return err_set(err, "out of memory");
	if (!r->dir) {
		if (c->replay_clear_cache)
			log_info("--replay-clear-cache: no disk queue (replays are queued in "
				 "memory)");
		return sq_open(&r->q, NULL, 0, 1, err);
	}
	if (c->replay_clear_cache && clear_cache(r->dir, err) < 0)
		return -1;
	if (sq_open(&r->q, r->dir, c->replay_cache_bytes, 1, err) < 0) {
		err_prefix(err, "replay cache");
		return -1;
	}
	struct dq_stats st;
	dq_get_stats(r->q.dq, &st);
	if (st.entries)
		log_info("replay cache %s: %" PRIu64 " uploads to send from a previous run", r->dir,
			 st.entries);
	return 0;
}

int replay_open(struct replay **out, const struct ship_conf *c, struct rum_error *err)
{
	struct replay *r = calloc(1, sizeof *r);
	if (!r)
		return err_set(err, "out of memory");
	r->c = c;
	r->rl_bad = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	r->rl_queue = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	r->rl_fail = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	r->rl_4xx = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	r->rl_drop = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	r->rl_dq = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	init_metrics(r);
	if (open_queue(r, err) < 0)
		goto fail;
	r->slots = calloc(c->replay_workers, sizeof *r->slots);
	if (!r->slots) {
		err_set(err, "out of memory");
		goto fail;
	}
	struct eng_conf ec = {
	    .slots = c->replay_workers,
	    .window = WINDOW,
	    .policy = ENG_EACH_ALONE,
	    .backoff_min_ms = c->backoff_min_ms,
	    .backoff_max_ms = c->backoff_max_ms,
	    .retries = c->replay_retries,
	    .seed = 0x2545f4914f6cdd1du,
	    .durable = r->q.dq != NULL,
	    .what = "an upload",
	    .m = r->m,
	    .url = c->sink.replay_url,
	    .timeout_s = (long)c->replay_timeout_s,
	};
	if (eng_open(&r->eng, &ec, &replay_ops, r, err) < 0)
		goto fail;
	/* Signals are the main thread's business: its reads must see EINTR. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&r->thread, NULL, run, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		err_set(err, "cannot start the replay upload thread: %s", strerror(e));
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
	int full;
	if (sq_push_bounded(&r->q, &r->entry, r->c->replay_memory_bytes, &full))
		metric_inc(r->m_queued);
	else
		log_rl(&r->rl_queue, RLOG_WARN,
		       full ? "replay memory queue full with uploads in flight; upload dropped"
			    : "out of memory queueing a replay upload; dropped");
}

int replay_submit(struct replay *r, const struct record *rec, uint64_t lineno)
{
	struct rum_error err;
	if (replay_entry_build(&r->rb, rec, &r->entry, &err) < 0) {
		metric_inc(r->m_invalid);
		log_rl(&r->rl_bad, RLOG_WARN,
		       "line %" PRIu64 ": session_replay record: %s; dropped", lineno, err.msg);
		return -1;
	}
	if (r->q.dq) {
		/* the upload thread takes the entry from memory, with no read
		 * back of what was just written, when it keeps up */
		size_t len = r->entry.len;
		if (dq_push_keep(r->q.dq, &r->entry) < 0) {
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
		eng_wakeup(r->eng);
	return 0;
}

void replay_drain(struct replay *r, uint64_t deadline_ms)
{
	r->drain_deadline = deadline_ms;
	__atomic_store_n(&r->drain, 1, __ATOMIC_RELEASE);
	eng_wakeup(r->eng);
}

void replay_gauges(struct replay *r)
{
	uint64_t bad = __atomic_load_n(&r->bad_entries, __ATOMIC_RELAXED);
	if (r->q.dq) {
		struct dq_stats st;
		dq_get_stats(r->q.dq, &st);
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
	uint64_t queued, bytes, dropped, dropped_bytes;
	sq_memory_stats(&r->q, &queued, &bytes, &dropped, &dropped_bytes);
	metric_set(r->m_q_entries, queued);
	metric_set(r->m_q_bytes, bytes);
	metric_set(r->m_dropped, dropped);
	metric_set(r->m_dropped_bytes, dropped_bytes);
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
	/* the upload thread is gone: what waits in memory is lost */
	uint64_t lost = r->lost + sq_clear(&r->q);
	if (lost) {
		metric_add(r->m_lost, lost);
		log_error("Dataway still failing after --drain-timeout: %" PRIu64
			  " replay uploads lost (no disk queue)",
			  lost);
	}
	replay_gauges(r);
	if (r->q.dq) {
		struct dq_stats st;
		dq_get_stats(r->q.dq, &st);
		if (st.entries)
			log_warn("replay cache %s: %" PRIu64 " uploads left for the next run",
				 r->dir, st.entries);
	}
	eng_close(r->eng);
	for (size_t i = 0; r->slots && i < r->c->replay_workers; i++)
		buf_free(&r->slots[i].entry);
	sq_close(&r->q);
	replay_builder_free(&r->rb);
	buf_free(&r->entry);
	free(r->slots);
	free(r->dir);
	free(r);
	return lost;
}
