/* The thread that pulls the workspace's filters from Dataway: one libcurl
 * handle, one GET per interval, the answer read by pull_answer.c and the
 * new ruleset handed to the record path through an atomic pointer. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "opts.h"
#include "pull.h"
#include "pull_answer.h"

/* Dataway URLs name the host and an optional path prefix (a Dataway
 * behind a reverse proxy), as rum-ship reads them; a URL that already
 * ends in the write path is taken for its prefix. */
static int set_pull_path(CURLU *u, struct rum_error *err)
{
	static const char write_path[] = "/v1/write/rum";
	char *path = NULL;
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	size_t n = path ? strlen(path) : 0, wl = sizeof write_path - 1;
	while (n && path[n - 1] == '/')
		n--;
	if (n >= wl && strncmp(path + n - wl, write_path, wl) == 0)
		n -= wl;
	char *full = malloc(n + sizeof PULL_PATH);
	if (!full) {
		curl_free(path);
		return err_set(err, "out of memory");
	}
	if (n)
		memcpy(full, path, n);
	memcpy(full + n, PULL_PATH, sizeof PULL_PATH);
	curl_free(path);
	CURLUcode uc = curl_url_set(u, CURLUPART_PATH, full, 0);
	free(full);
	return uc == CURLUE_OK ? 0 : err_set(err, "cannot build the pull URL");
}

static int has_token(const char *q)
{
	while (q && *q) {
		if (strncmp(q, "token=", 6) == 0 && q[6] && q[6] != '&')
			return 1;
		q = strchr(q, '&');
		q = q ? q + 1 : NULL;
	}
	return 0;
}

/* The pull URL and the same without its query, from the Dataway URL. */
static int build_urls(struct puller *pl, const char *dataway, struct rum_error *err)
{
	for (const char *c = dataway; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return err_set(err, "spaces or control characters in the URL");
	CURLU *u = curl_url();
	char *scheme = NULL, *query = NULL, *url = NULL, *shown = NULL;
	int rc = -1;
	if (!u) {
		err_set(err, "out of memory");
		goto out;
	}
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, dataway, 0);
	if (uc != CURLUE_OK) {
		err_set(err, "not a valid URL (%s)", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		err_set(err, "not an http:// or https:// URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	if (!has_token(query))
		log_warn("--pull %s has no token=: Dataway answers the workspace of a token",
			 dataway);
	if (set_pull_path(u, err) < 0)
		goto out;
	if (curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_QUERY, "filters=true", CURLU_APPENDQUERY) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &shown, 0) != CURLUE_OK) {
		err_set(err, "cannot build the pull URL");
		goto out;
	}
	pl->url = strdup(url);
	pl->shown = strdup(shown);
	if (!pl->url || !pl->shown) {
		err_set(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(query);
	curl_free(url);
	curl_free(shown);
	curl_url_cleanup(u);
	return rc;
}

int puller_init(struct puller *pl, const char *dataway, uint64_t interval_ms, struct rum_error *err)
{
	memset(pl, 0, sizeof *pl);
	pl->interval_ms = interval_ms;
	pl->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1);
	if (build_urls(pl, dataway, err) < 0) {
		err_prefix(err, "--pull %s", dataway);
		free(pl->url);
		free(pl->shown);
		pl->url = pl->shown = NULL;
		return -1;
	}
	static const char *const results[PR_COUNT] = {"new",	"unchanged", "network",
						      "status", "answer",    "rule"};
	for (int i = 0; i < PR_COUNT; i++) {
		char label[32];
		snprintf(label, sizeof label, "result=\"%s\"", results[i]);
		pl->m_pulls[i] = metric_get(
		    "rum_replay_filter_pulls_total", label, METRIC_COUNTER,
		    "Pulls of the workspace's filters from Dataway, by outcome: new (a new set "
		    "taken), unchanged, or why the set in use was kept (network, status, answer, "
		    "rule).");
	}
	return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct puller *pl = ctx;
	size_t n = size * nmemb;
	if (pl->body.len + n > PULL_ANSWER_MAX) {
		pl->too_big = 1;
		return 0; /* ends the transfer */
	}
	return buf_add(&pl->body, p, n) < 0 ? 0 : n;
}

/* Aborts a transfer in progress when the program stops. */
static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct puller *pl = ctx;
	(void)a, (void)b, (void)c, (void)d;
	return __atomic_load_n(&pl->stop, __ATOMIC_RELAXED);
}

static int setup_curl(struct puller *pl)
{
	CURL *h = curl_easy_init();
	if (!h)
		return -1;
	pl->curl = h;
	int bad = 0;
	bad |= curl_easy_setopt(h, CURLOPT_URL, pl->url) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)PULL_TIMEOUT_S) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, "rumpipe-rum-replay-filter/" RUM_VERSION) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, pl) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, pl) != CURLE_OK;
	return bad ? -1 : 0;
}

/* Network and HTTP failures repeat every interval while Dataway is away,
 * so they are rate limited; a bad answer is only read once (an unchanged
 * one is skipped), so each is told. */
static void failed(struct puller *pl, enum pull_result r, const char *why)
{
	static const char fmt[] = "pull from %s: %s; the %zu pulled rules in use stay";
	metric_inc(pl->m_pulls[r]);
	if (r == PR_NETWORK || r == PR_STATUS)
		log_rl(&pl->rl, RLOG_WARN, fmt, pl->shown, why, pl->rules_in_use);
	else
		log_warn(fmt, pl->shown, why, pl->rules_in_use);
}

/* A new set for the record path; one it has not taken yet is replaced. */
static void hand_over(struct puller *pl, struct ruleset *rs)
{
	struct ruleset *old = __atomic_exchange_n(&pl->pending, rs, __ATOMIC_ACQ_REL);
	ruleset_free(old);
	pl->rules_in_use = ruleset_count(rs);
}

/* The answer read: a new set handed over, or why not. */
static void take_answer(struct puller *pl)
{
	if (pl->have_last && pl->last.len == pl->body.len &&
	    (pl->body.len == 0 || memcmp(pl->last.p, pl->body.p, pl->body.len) == 0)) {
		metric_inc(pl->m_pulls[PR_UNCHANGED]); /* as DataKit: read once */
		return;
	}
	struct pull_answer a;
	struct rum_error err;
	enum pull_answer_status st =
	    pull_answer_parse(pl->body.p ? pl->body.p : "", pl->body.len, &a, &err);
	if (st != PA_NOMEM) { /* a bad answer is reported once, too */
		buf_reset(&pl->last);
		pl->have_last = buf_add(&pl->last, pl->body.p, pl->body.len) == 0;
	}
	if (st != PA_OK) {
		failed(pl, st == PA_BAD_RULE ? PR_RULE : PR_ANSWER, err.msg);
		return;
	}
	if (a.interval_ns > 0) {
		uint64_t ms = (uint64_t)a.interval_ns / 1000000u;
		ms = ms < PULL_INTERVAL_MIN_MS	 ? PULL_INTERVAL_MIN_MS
		     : ms > PULL_INTERVAL_MAX_MS ? PULL_INTERVAL_MAX_MS
						 : ms;
		if (ms != pl->interval_ms)
			log_info("pull from %s: Dataway sets the interval to %" PRIu64 " ms",
				 pl->shown, ms);
		pl->interval_ms = ms;
	}
	metric_inc(pl->m_pulls[PR_NEW]);
	hand_over(pl, a.rum);
}

static void pull_once(struct puller *pl)
{
	buf_reset(&pl->body);
	pl->too_big = 0;
	CURLcode rc = curl_easy_perform(pl->curl);
	if (__atomic_load_n(&pl->stop, __ATOMIC_RELAXED))
		return;
	char why[RUM_ERROR_MAX];
	if (pl->too_big) {
		snprintf(why, sizeof why, "an answer over %zu bytes", PULL_ANSWER_MAX);
		failed(pl, PR_ANSWER, why);
		return;
	}
	if (rc != CURLE_OK || pl->body.err) {
		failed(pl, PR_NETWORK, pl->body.err ? "out of memory" : curl_easy_strerror(rc));
		return;
	}
	long status = 0;
	curl_easy_getinfo(pl->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		char ex[120];
		excerpt(ex, sizeof ex, pl->body.p ? pl->body.p : "", pl->body.len);
		snprintf(why, sizeof why, "HTTP %ld %s", status, ex);
		failed(pl, PR_STATUS, why);
		return;
	}
	take_answer(pl);
}

/* Waits the interval, or until the program stops: 1 when it stops. */
static int wait_interval(struct puller *pl)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(pl->interval_ms / 1000);
	until.tv_nsec += (long)(pl->interval_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pl->mu);
	while (!pl->stop && pthread_cond_timedwait(&pl->cv, &pl->mu, &until) != ETIMEDOUT)
		;
	int stop = pl->stop;
	pthread_mutex_unlock(&pl->mu);
	return stop;
}

static void *pull_thread(void *ctx)
{
	struct puller *pl = ctx;
	do
		pull_once(pl);
	while (!wait_interval(pl));
	return NULL;
}

int puller_start(struct puller *pl, struct rum_error *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(err, "--pull: cannot initialise libcurl");
	if (setup_curl(pl) < 0)
		return err_set(err, "--pull: cannot set up libcurl");
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&pl->cv, &ca) != 0 || pthread_mutex_init(&pl->mu, NULL) != 0)
		return err_set(err, "--pull: cannot set up the thread's lock");
	pthread_condattr_destroy(&ca);
	/* Signals stay with the main thread, whose loop looks at them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&pl->thread, NULL, pull_thread, pl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return err_set(err, "--pull: cannot start the thread: %s", strerror(rc));
	pl->started = 1;
	return 0;
}

void puller_stop(struct puller *pl)
{
	if (pl->started) {
		pthread_mutex_lock(&pl->mu);
		__atomic_store_n(&pl->stop, 1, __ATOMIC_RELAXED);
		pthread_cond_signal(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
		pthread_join(pl->thread, NULL);
		pthread_cond_destroy(&pl->cv);
		pthread_mutex_destroy(&pl->mu);
		pl->started = 0;
	}
	if (pl->curl) {
		curl_easy_cleanup(pl->curl);
		curl_global_cleanup();
	}
	pl->curl = NULL;
	ruleset_free(__atomic_exchange_n(&pl->pending, NULL, __ATOMIC_ACQ_REL));
	buf_free(&pl->body);
	buf_free(&pl->last);
	free(pl->url);
	free(pl->shown);
	pl->url = pl->shown = NULL;
}
