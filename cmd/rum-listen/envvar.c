/* GET /v1/env_variable?app_id=…: the remote configuration of an app (sample
 * rates, env) that the web and iOS SDKs ask for, answered from Dataway as
 * DataKit does (GET <dataway>/v1/env_variable?token=…&app_id=…&scope=rum,
 * Dataway's body passed on with 200, unless Dataway fails with 5xx or does
 * not answer).
 *
 * DataKit asks Dataway on every call; here an app's answer is kept for
 * --env-variable-ttl and, when Dataway fails, served stale for as long as
 * it fails. The request waits suspended while a thread asks Dataway, so the
 * HTTP threads go on serving; concurrent calls for one app wait for the same
 * fetch. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "log.h"

#define ENV_MAX_APPS 1024		 /* apps remembered; the least recently asked go first */
#define ENV_MAX_FETCHES 16		 /* requests to Dataway at once */
#define ENV_MAX_APP_ID 256		 /* bytes */
#define ENV_MAX_ANSWER ((size_t)1 << 20) /* bytes of Dataway's answer */

struct env_app {
	char *app_id; /* NULL: a free slot */
	char *body;   /* the last answer; NULL: none yet */
	size_t len;
	uint64_t fetched_ns, used_ns; /* monotonic */
	int fetching;
	struct req *waiters; /* linked by next */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fetches_done = PTHREAD_COND_INITIALIZER;
static struct env_app apps[ENV_MAX_APPS];
static unsigned fetches; /* threads asking Dataway */
static atomic_int stopping;
static char *base_url; /* scheme://host/v1/env_variable?query */

/* The parts of a Dataway URL: scheme://host, and the query. */
static const char *split_url(const char *u, size_t *origin_len, const char **query)
{
	size_t s = strncmp(u, "https://", 8) == 0 ? 8 : strncmp(u, "http://", 7) == 0 ? 7 : 0;
	if (!s)
		return "not an http:// or https:// URL";
	size_t h = strcspn(u + s, "/?#");
	if (h == 0)
		return "no host";
	*origin_len = s + h;
	const char *q = strchr(u + s + h, '?');
	*query = q ? q + 1 : "";
	/* DataKit refuses a Dataway URL without its token for this API. */
	const char *t = *query;
	while (strncmp(t, "token=", 6) != 0 || t[6] == '\0' || t[6] == '&' || t[6] == '#') {
		t = strchr(t, '&');
		if (!t)
			return "no token (URL?token=TOKEN)";
		t++;
	}
	return NULL;
}

const char *envvar_check_url(const char *url)
{
	size_t origin;
	const char *query;
	return split_url(url, &origin, &query);
}

int envvar_init(void)
{
	if (!cfg.dataway)
		return 0;
	size_t origin;
	const char *query;
	if (split_url(cfg.dataway, &origin, &query) || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -1;
	size_t qlen = strcspn(query, "#");
	size_t n = origin + sizeof "/v1/env_variable?" + qlen;
	base_url = malloc(n);
	if (!base_url)
		return -1;
	snprintf(base_url, n, "%.*s/v1/env_variable?%.*s", (int)origin, cfg.dataway, (int)qlen,
		 query);
	return 0;
}

void envvar_stopping(void)
{
	atomic_store(&stopping, 1);
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;
	if (b->len + n > ENV_MAX_ANSWER || buf_add(b, p, n) < 0)
		return 0; /* curl fails the transfer */
	return size * n;
}

static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	return atomic_load(&stopping); /* non-zero aborts */
}

/* Dataway's answer for the app into out. 0, or -1 with why. */
static int dataway_get(const char *app_id, struct buf *out, char *why, size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	char *esc = h ? curl_easy_escape(h, app_id, 0) : NULL;
	struct buf url = BUF_INIT;
	buf_adds(&url, base_url);
	buf_adds(&url, "&app_id=");
	buf_adds(&url, esc ? esc : "");
	buf_adds(&url, "&scope=rum");
	buf_addc(&url, '\0');
	int rc = -1;
	if (!esc || url.err) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url.p);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)cfg.dataway_timeout);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "rumpipe-rum-listen");
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_WRITE_ERROR)
		snprintf(why, whylen, "answer larger than %zu bytes", ENV_MAX_ANSWER);
	else if (cc != CURLE_OK)
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else if (status >= 500)
		snprintf(why, whylen, "answered %ld", status);
	else
		rc = 0;
out:
	curl_free(esc);
	curl_easy_cleanup(h);
	buf_free(&url);
	return rc;
}

/* The fetch is over: its outcome to every waiting request, which is
 * resumed. Under the lock. */
static void answer_waiters(struct env_app *a, int ok, const char *why)
{
	for (struct req *r = a->waiters, *next; r; r = next) {
		next = r->next; /* r may be gone once resumed */
		buf_reset(&r->body);
		if (a->body) {
			r->env_src = ok ? ENV_FROM_DATAWAY : ENV_FROM_STALE;
			buf_add(&r->body, a->body, a->len);
		} else {
			r->refused = 1;
			intake_fail(&r->refusal, 502, "rum.datawayUnavailable",
				    "Dataway's /v1/env_variable failed: %s", why);
		}
		MHD_resume_connection(r->conn);
	}
	a->waiters = NULL;
}

static void *fetch_thread(void *arg)
{
	struct env_app *a = arg; /* a slot being fetched is not reused */
	struct buf got = BUF_INIT;
	char why[CURL_ERROR_SIZE + 64];
	int ok = dataway_get(a->app_id, &got, why, sizeof why) == 0;
	char *copy = ok ? malloc(got.len ? got.len : 1) : NULL;
	if (ok && !copy) {
		ok = 0;
		snprintf(why, sizeof why, "out of memory");
	}
	pthread_mutex_lock(&lock);
	if (ok) {
		memcpy(copy, got.p, got.len);
		free(a->body);
		a->body = copy;
		a->len = got.len;
		a->fetched_ns = mono_ns();
	} else {
		stats_env_fetch_failed();
		log_warn("Dataway's /v1/env_variable for app_id %s: %s%s", a->app_id, why,
			 a->body ? "; serving its last answer" : "");
	}
	answer_waiters(a, ok, why);
	a->fetching = 0;
	if (--fetches == 0)
		pthread_cond_broadcast(&fetches_done);
	pthread_mutex_unlock(&lock);
	buf_free(&got);
	return NULL;
}

/* The app's slot, or a new one (the least recently asked one, idle,
 * reused when all are taken); NULL when none is free. Under the lock. */
static struct env_app *app_slot(const char *app_id)
{
	struct env_app *free_slot = NULL, *oldest = NULL;
	for (size_t i = 0; i < ENV_MAX_APPS; i++) {
		struct env_app *a = &apps[i];
		if (!a->app_id) {
			if (!free_slot)
				free_slot = a;
			continue;
		}
		if (strcmp(a->app_id, app_id) == 0)
			return a;
		if (!a->fetching && (!oldest || a->used_ns < oldest->used_ns))
			oldest = a;
	}
	struct env_app *a = free_slot ? free_slot : oldest;
	if (!a)
		return NULL;
	char *id = strdup(app_id);
	if (!id)
		return NULL;
	free(a->app_id);
	free(a->body);
	*a = (struct env_app){.app_id = id};
	return a;
}

static int start_fetch(struct env_app *a)
{
	pthread_t th;
	pthread_attr_t at;
	if (pthread_attr_init(&at) != 0)
		return -1;
	int rc = pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) == 0 &&
			 pthread_create(&th, &at, fetch_thread, a) == 0
		     ? 0
		     : -1;
	pthread_attr_destroy(&at);
	return rc;
}

/* Under the lock: the app's answer now (1, into out, with its source), or
 * r put to wait for a fetch (0), or a refusal (-1, in e). */
static int lookup(const char *app_id, struct req *r, struct buf *out, enum env_source *src,
		  struct intake_err *e)
{
	uint64_t now = mono_ns();
	struct env_app *a = app_slot(app_id);
	if (!a)
		return intake_fail(e, 503, "rum.overloaded", "too many apps being fetched at once");
	a->used_ns = now;
	int fresh = a->body && now - a->fetched_ns < (uint64_t)cfg.env_ttl * 1000000000u;
	int can_fetch = a->fetching || fetches < ENV_MAX_FETCHES;
	if (fresh || (a->body && !can_fetch)) {
		*src = fresh ? ENV_FROM_CACHE : ENV_FROM_STALE;
		buf_reset(out);
		return buf_add(out, a->body, a->len) < 0
			   ? intake_fail(e, 500, "rum.internal", "out of memory")
			   : 1;
	}
	if (!can_fetch)
		return intake_fail(e, 503, "rum.overloaded", "too many Dataway requests at once");
	if (!a->fetching) {
		if (start_fetch(a) < 0)
			return intake_fail(e, 503, "rum.overloaded", "cannot start a thread");
		a->fetching = 1;
		fetches++;
	}
	r->next = a->waiters;
	a->waiters = r;
	return 0;
}

enum MHD_Result env_variable_req(struct MHD_Connection *c, size_t ep, void **con_cls)
{
	if (!base_url)
		return send_error(c, ep, 404, "rum.noDataway", 1,
				  "no Dataway configured (--dataway): no remote configuration");
	const char *app_id = arg(c, "app_id");
	if (!app_id || !*app_id)
		return send_error(c, ep, 400, "rum.missingAppId", 1, "no app_id (query argument)");
	size_t n = strlen(app_id);
	if (n > ENV_MAX_APP_ID)
		return send_error(c, ep, 400, "rum.badRequest", 1, "app_id longer than %d bytes",
				  ENV_MAX_APP_ID);
	if (cfg.app_allow.n && !strlist_has(&cfg.app_allow, app_id, n))
		return send_error(c, ep, 400, "rum.appIdNotAllowed", 1,
				  "app_id '%.80s' is not allowed", app_id);
	struct http_tls *t = http_tls();
	struct req *r = t ? req_get() : NULL;
	if (!r)
		return send_error(c, ep, 500, "rum.internal", 1, "out of memory");
	r->kind = REQ_ENV;
	r->ep = ep;
	r->conn = c;
	struct intake_err e;
	enum env_source src = ENV_FROM_CACHE;
	pthread_mutex_lock(&lock);
	int rc = lookup(app_id, r, &t->out, &src, &e);
	if (rc == 0) {
		/* Suspended before the fetch can resume it: the lock is held. */
		reqs_enter(UINT_MAX); /* counted, so that a stop waits for it */
		*con_cls = r;
		MHD_suspend_connection(c);
	}
	pthread_mutex_unlock(&lock);
	if (rc == 0)
		return MHD_YES;
	req_put(r);
	if (rc < 0)
		return send_error(c, ep, e.status, e.code, 1, "%s", e.msg);
	stats_env_answer(src);
	return send_body(c, ep, 200, "application/json", t->out.p ? t->out.p : "", t->out.len, 1);
}

enum MHD_Result env_variable_end(struct MHD_Connection *c, struct req *r)
{
	if (r->refused)
		return send_error(c, r->ep, r->refusal.status, r->refusal.code, 1, "%s",
				  r->refusal.msg);
	if (r->body.err)
		return send_error(c, r->ep, 500, "rum.internal", 1, "out of memory");
	stats_env_answer((enum env_source)r->env_src);
	return send_body(c, r->ep, 200, "application/json", r->body.p ? r->body.p : "", r->body.len,
			 1);
}

void envvar_free(void)
{
	pthread_mutex_lock(&lock);
	while (fetches)
		pthread_cond_wait(&fetches_done, &lock);
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < ENV_MAX_APPS; i++) {
		free(apps[i].app_id);
		free(apps[i].body);
		apps[i] = (struct env_app){0};
	}
	free(base_url);
	base_url = NULL;
	if (cfg.dataway)
		curl_global_cleanup();
}
