/* The HTTP side of the other browser SDKs' intake: which requests are
 * Datadog's (by their query), their bodies decoded and mapped
 * (datadog.c), the answers the SDK needs, and their counters. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "datadog.h"
#include "faro.h"
#include "http.h"
#include "metrics.h"

/* ---- counters ---- */

enum { SDK_DATADOG, SDK_FARO, SDK_NSDKS };
static const char *const sdk_names[SDK_NSDKS] = {"datadog", "faro"};
static uint64_t *events[SDK_NSDKS][ST_COUNT], *dropped[SDK_NSDKS][ST_COUNT];
static uint64_t *map_errors[SDK_NSDKS];
static pthread_once_t counters_once = PTHREAD_ONCE_INIT;

static void counters_init(void)
{
	char labels[96];
	for (int s = 0; s < SDK_NSDKS; s++) {
		for (int i = 0; i < ST_COUNT; i++) {
			snprintf(labels, sizeof labels, "sdk=\"%s\",type=\"%s\"", sdk_names[s],
				 sdk_type_names[i]);
			events[s][i] = metric_get(
			    "rum_listen_sdk_events_total", labels, METRIC_COUNTER,
			    "events of other browser SDKs made records, by SDK and type");
			dropped[s][i] = metric_get(
			    "rum_listen_sdk_dropped_total", labels, METRIC_COUNTER,
			    "events of other browser SDKs not mapped (by design), by SDK and type");
		}
		snprintf(labels, sizeof labels, "sdk=\"%s\"", sdk_names[s]);
		map_errors[s] =
		    metric_get("rum_listen_sdk_mapping_errors_total", labels, METRIC_COUNTER,
			       "requests of other browser SDKs refused for their body");
	}
}

/* Counted once the records are passed on (not for a dry run). */
static void count_tally(int sdk, const struct sdk_tally *t)
{
	pthread_once(&counters_once, counters_init);
	for (int i = 0; i < ST_COUNT; i++) {
		if (t->mapped[i])
			metric_add(events[sdk][i], t->mapped[i]);
		if (t->dropped[i])
			metric_add(dropped[sdk][i], t->dropped[i]);
	}
}

static void count_error(int sdk)
{
	pthread_once(&counters_once, counters_init);
	metric_inc(map_errors[sdk]);
}

/* Decodes *body (enc, named what in the error) into dec and points *body
 * there. -1 when it cannot, with the answer sent (413 too large, 500, 400
 * a bad stream, counted as a mapping error of sdk) in *answer. */
static int inflate(struct MHD_Connection *c, size_t ep, enum body_enc enc, const char *what,
		   int sdk, struct buf *dec, const char **body, size_t *len,
		   enum MHD_Result *answer)
{
	const char *why;
	int rc = decode_body(enc, *body, *len, cfg.max_body, dec, &why);
	if (rc == DEC_TOOBIG) {
		*answer = send_error(c, ep, 413, "rum.bodyTooLarge", 1,
				     "decompressed body larger than %zu bytes", cfg.max_body);
		return -1;
	}
	if (rc == DEC_NOMEM) {
		*answer = send_error(c, ep, 500, "rum.internal", 1, "out of memory");
		return -1;
	}
	if (rc != DEC_OK) {
		count_error(sdk);
		*answer = send_error(c, ep, 400, "rum.badEncoding", 1, "%s body: %s", what, why);
		return -1;
	}
	*body = dec->p ? dec->p : "";
	*len = dec->len;
	return 0;
}

/* ---- Datadog ---- */

/* The value of name= in a query string q (not decoded), or NULL. */
static const char *query_value(const char *q, const char *name, size_t *n)
{
	size_t kl = strlen(name);
	for (const char *p = q; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len > kl && memcmp(p, name, kl) == 0 && p[kl] == '=') {
			*n = len - kl - 1;
			return p + kl + 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

int sdk_is_datadog(struct MHD_Connection *c, const char *url)
{
	if (arg(c, "ddforward"))
		return 1;
	return strcmp(url, "/api/v2/rum") == 0 &&
	       (arg(c, "ddsource") || arg(c, "dd-api-key") || arg(c, "dd-request-id"));
}

static int arg_true(struct MHD_Connection *c, const char *name)
{
	const char *v = arg(c, name);
	if (!v)
		return 0;
	return !*v || !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 ||
			strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0);
}

/* The Datadog parameters: from ddforward's query (decoded by MHD once,
 * which is how the SDK encodes it) or from the request's own. */
struct dd_params {
	char path[64];
	int deflate;
	int browser;
	char version[32];
};

static void dd_params_of(struct MHD_Connection *c, const char *url, struct dd_params *p)
{
	memset(p, 0, sizeof p[0]);
	const char *fw = arg(c, "ddforward");
	const char *q = NULL, *v;
	size_t n;
	if (fw) {
		size_t pl = strcspn(fw, "?");
		snprintf(p->path, sizeof p->path, "%.*s", (int)pl, fw);
		q = fw[pl] ? fw + pl + 1 : "";
		p->deflate = (v = query_value(q, "dd-evp-encoding", &n)) && n == 7 &&
			     memcmp(v, "deflate", 7) == 0;
		v = query_value(q, "ddsource", &n);
		p->browser = !v || (n == 7 && memcmp(v, "browser", 7) == 0);
		if ((v = query_value(q, "dd-evp-origin-version", &n)) && n < sizeof p->version)
			snprintf(p->version, sizeof p->version, "%.*s", (int)n, v);
		return;
	}
	snprintf(p->path, sizeof p->path, "%s", url);
	p->deflate = (v = arg(c, "dd-evp-encoding")) && strcmp(v, "deflate") == 0;
	p->browser = !(v = arg(c, "ddsource")) || strcmp(v, "browser") == 0;
	if ((v = arg(c, "dd-evp-origin-version")))
		snprintf(p->version, sizeof p->version, "%s", v);
}

static enum MHD_Result accepted(struct MHD_Connection *c, size_t ep)
{
	return send_body(c, ep, 202, "application/json", "{}", 2, 1);
}

/* The body mapped by the SDK's mapper, the records passed on (unless
 * ?dry), the answer (the records with ?echo). */
static enum MHD_Result map_and_answer(struct MHD_Connection *c, struct req *r, struct http_tls *t,
				      int sdk, const struct sdk_in *in)
{
	size_t ep = r->ep;
	struct intake_err err;
	struct sdk_tally tally;
	memset(&tally, 0, sizeof tally);
	buf_reset(&t->out);
	memset(t->per_meas, 0, cfg.measurements.n * sizeof *t->per_meas);
	int rc = sdk == SDK_FARO ? faro_parse(in, &t->out, t->per_meas, &tally, &err)
				 : datadog_parse(in, &t->out, t->per_meas, &tally, &err);
	if (rc < 0) {
		if (err.status == 400)
			count_error(sdk);
		return send_error(c, ep, err.status, err.code, 1, "%s", err.msg);
	}
	int dry = arg_true(c, "dry"), echo = arg_true(c, "echo");
	if (!dry && t->out.len && output_emit(t->out.p, t->out.len) < 0)
		return send_error(c, ep, 500, "rum.internal", 1, "cannot pass the records on");
	if (!dry) {
		for (size_t i = 0; i < cfg.measurements.n; i++)
			stats_points(i, t->per_meas[i]);
		count_tally(sdk, &tally);
	}
	if (echo)
		return send_body(c, ep, 200, "application/x-ndjson", t->out.p ? t->out.p : "",
				 t->out.len, 1);
	return accepted(c, ep);
}

static enum MHD_Result dd_end(struct MHD_Connection *c, struct req *r, struct http_tls *t,
			      const char *url)
{
	size_t ep = r->ep;
	struct dd_params p;
	dd_params_of(c, url, &p);
	struct sdk_tally tally;
	memset(&tally, 0, sizeof tally);
	/* Session replay and logs through the same proxy: taken, not kept. */
	if (strcmp(p.path, "/api/v2/rum") != 0 || !p.browser) {
		tally.dropped[strcmp(p.path, "/api/v2/replay") == 0 ? ST_REPLAY
			      : strcmp(p.path, "/api/v2/logs") == 0 ? ST_LOG
								    : ST_OTHER]++;
		count_tally(SDK_DATADOG, &tally);
		return accepted(c, ep);
	}
	const char *body = r->body.p ? r->body.p : "";
	size_t len = r->body.len;
	if (len == 0)
		return send_error(c, ep, 400, "rum.emptyBody", 1, "empty body");
	enum MHD_Result answer;
	if (p.deflate && inflate(c, ep, ENC_DEFLATE, "dd-evp-encoding=deflate", SDK_DATADOG,
				 &t->dec, &body, &len, &answer) < 0)
		return answer;
	stats_bytes_in(r->body.len, len);
	char ip[256];
	struct sdk_in in = {
	    .body = body,
	    .len = len,
	    .now_ns = r->now_ns,
	    .ip = ip,
	    .ua = header(c, MHD_HTTP_HEADER_USER_AGENT),
	    .sdk_version = p.version[0] ? p.version : NULL,
	};
	in.ip_len = client_ip(c, ip, sizeof ip);
	return map_and_answer(c, r, t, SDK_DATADOG, &in);
}

/* ---- Faro ---- */

/* The <app_id> of PATH/<app_id> (one segment), "" for PATH itself; NULL
 * when url is no --faro-endpoint path. */
static const char *faro_app(const char *url)
{
	for (size_t i = 0; i < cfg.faro_endpoints.n; i++) {
		const char *e = cfg.faro_endpoints.v[i];
		size_t n = strlen(e);
		if (strncmp(url, e, n) != 0)
			continue;
		if (!url[n])
			return url + n;
		if (url[n] == '/' && url[n + 1] && !strchr(url + n + 1, '/'))
			return url + n + 1;
	}
	return NULL;
}

int sdk_is_faro(const char *url)
{
	return faro_app(url) != NULL;
}

/* Compared in constant time: the key is a secret. */
static int key_matches(const char *given, const char *want)
{
	size_t gn = strlen(given), wn = strlen(want);
	unsigned char d = gn != wn;
	for (size_t i = 0; i < wn; i++)
		d |= (unsigned char)(want[i] ^ (i < gn ? given[i] : 0));
	return d == 0;
}

static enum MHD_Result faro_end(struct MHD_Connection *c, struct req *r, struct http_tls *t,
				const char *url)
{
	size_t ep = r->ep;
	if (cfg.faro_api_key) {
		const char *k = header(c, "x-api-key");
		if (!k || !key_matches(k, cfg.faro_api_key))
			return send_error(c, ep, 401, "rum.unauthorized", 1,
					  "%s x-api-key (--faro-api-key)", k ? "wrong" : "no");
	}
	const char *body = r->body.p ? r->body.p : "";
	size_t len = r->body.len;
	if (len == 0)
		return send_error(c, ep, 400, "rum.emptyBody", 1, "empty body");
	const char *ce = header(c, MHD_HTTP_HEADER_CONTENT_ENCODING);
	enum body_enc enc = ENC_IDENTITY;
	if (ce && *ce && decode_name(ce, &enc) < 0)
		return send_error(
		    c, ep, 415, "rum.unsupportedEncoding", 1,
		    "unsupported encoding '%.32s' (gzip, deflate, zstd, br or identity)", ce);
	enum MHD_Result answer;
	if (enc != ENC_IDENTITY &&
	    inflate(c, ep, enc, ce, SDK_FARO, &t->dec, &body, &len, &answer) < 0)
		return answer;
	stats_bytes_in(r->body.len, len);
	const char *app = faro_app(url);
	char ip[256];
	struct sdk_in in = {
	    .body = body,
	    .len = len,
	    .now_ns = r->now_ns,
	    .ip = ip,
	    .ua = header(c, MHD_HTTP_HEADER_USER_AGENT),
	    .app_id = app && *app ? app : NULL,
	};
	in.ip_len = client_ip(c, ip, sizeof ip);
	return map_and_answer(c, r, t, SDK_FARO, &in);
}

enum MHD_Result sdk_body_end(struct MHD_Connection *c, struct req *r, const char *url)
{
	if (r->too_large)
		return send_error(c, r->ep, 413, "rum.bodyTooLarge", 1,
				  "body larger than %zu bytes", r->limit);
	struct http_tls *t = http_tls();
	if (!t)
		return send_error(c, r->ep, 500, "rum.internal", 1, "out of memory");
	enum MHD_Result rc = r->kind == REQ_FARO ? faro_end(c, r, t, url) : dd_end(c, r, t, url);
	if (t->out.cap > ((size_t)4 << 20))
		buf_free(&t->out);
	if (t->dec.cap > ((size_t)4 << 20))
		buf_free(&t->dec);
	return rc;
}
