/* rum-listen's counters. Every cell is looked up once at start-up, so the
 * request path only does atomic adds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dq.h"
#include "listen.h"
#include "metrics.h"

static const unsigned codes[] = {200, 202, 204, 401, 400, 403, 404, 405,
				 408, 413, 415, 429, 431, 500, 502, 503};
#define NCODES (sizeof codes / sizeof codes[0])

static uint64_t **requests; /* [endpoint * NCODES + code index] */
static size_t nendpoints;
static uint64_t **points; /* per measurement */
static uint64_t *bytes_raw, *bytes_decoded, *conns, *recv_headers, *recv_body;
static uint64_t *spool_entries, *spool_bytes, *spool_dropped, *spool_dropped_bytes;
static uint64_t *spool_corrupt;
static uint64_t *replays, *replay_bytes, *sm_uploads, *sm_deletes;
static uint64_t *env_answers[3], *env_fetch_failed;

static const char *const reasons[] = {
    "rum.badLine",
    "rum.badJSON",
    "rum.badMeasurement",
    "rum.missingAppId",
    "rum.appIdNotAllowed",
    "rum.noFields",
    "rum.badTime",
    "rum.emptyBody",
    "rum.bodyTooLarge",
    "rum.badEncoding",
    "rum.unsupportedEncoding",
    "rum.badPrecision",
    "rum.forbidden",
    "rum.notFound",
    "rum.methodNotAllowed",
    "rum.overloaded",
    "rum.internal",
    "rum.badRequest",
    "rum.notMultipart",
    "rum.badMultipart",
    "rum.missingFile",
    "rum.notZip",
    "rum.badPlatform",
    "rum.badName",
    "rum.badToken",
    "rum.tokenNotConfigured",
    "rum.sourcemapNotFound",
    "rum.missingErrorStack",
    "rum.symbolicateFailed",
    "rum.noDataway",
    "rum.datawayUnavailable",
    /* the limits of a public listener */
    "rum.rateLimited",
    "rum.headersTooLarge",
    "rum.headerTimeout",
    "rum.bodyTimeout",
    "rum.tooManyConnections",
    "rum.tooManyConnectionsPerIp",
    /* other browser SDKs */
    "rum.badEvent",
    "rum.unauthorized",
};
#define NREASONS (sizeof reasons / sizeof reasons[0])
static uint64_t *rejected[NREASONS];

size_t stats_ep_ping(void)
{
	return cfg.endpoints.n;
}
size_t stats_ep_metrics(void)
{
	return cfg.endpoints.n + 1;
}
size_t stats_ep_other(void)
{
	return cfg.endpoints.n + 2;
}
size_t stats_ep_replay(size_t i)
{
	return cfg.endpoints.n + 3 + i;
}
size_t stats_ep_sourcemap(void)
{
	return cfg.endpoints.n + 3 + cfg.replay_endpoints.n;
}
size_t stats_ep_sourcemap_check(void)
{
	return cfg.endpoints.n + 4 + cfg.replay_endpoints.n;
}

size_t stats_ep_env_variable(void)
{
	return cfg.endpoints.n + 5 + cfg.replay_endpoints.n;
}

size_t stats_ep_datadog(void)
{
	return stats_ep_env_variable() + 1;
}

size_t stats_ep_faro(void)
{
	return stats_ep_env_variable() + 2;
}

static const char *ep_name(size_t e)
{
	if (e < cfg.endpoints.n)
		return cfg.endpoints.v[e];
	if (e == stats_ep_ping())
		return "/v1/ping";
	if (e == stats_ep_metrics())
		return "/metrics";
	if (e == stats_ep_other())
		return "other";
	if (e < stats_ep_sourcemap())
		return cfg.replay_endpoints.v[e - stats_ep_replay(0)];
	if (e == stats_ep_datadog())
		return "/api/v2/rum";
	if (e == stats_ep_faro())
		return "/collect";
	if (e == stats_ep_env_variable())
		return "/v1/env_variable";
	return e == stats_ep_sourcemap() ? "/v1/sourcemap" : "/v1/sourcemap/check";
}

static void esc_label(char *out, size_t outlen, const char *s)
{
	size_t j = 0;
	for (; *s && j + 3 < outlen; s++) {
		if (*s == '"' || *s == '\\')
			out[j++] = '\\';
		out[j++] = *s == '\n' ? ' ' : *s;
	}
	out[j] = '\0';
}

int stats_init(void)
{
	nendpoints = stats_ep_faro() + 1;
	requests = calloc(nendpoints * NCODES, sizeof *requests);
	points = calloc(cfg.measurements.n ? cfg.measurements.n : 1, sizeof *points);
	if (!requests || !points)
		return -1;
	char labels[600], esc[512];
	for (size_t e = 0; e < nendpoints; e++) {
		esc_label(esc, sizeof esc, ep_name(e));
		for (size_t c = 0; c < NCODES; c++) {
			snprintf(labels, sizeof labels, "endpoint=\"%s\",code=\"%u\"", esc,
				 codes[c]);
			requests[e * NCODES + c] =
			    metric_get("rum_listen_requests_total", labels, METRIC_COUNTER,
				       "HTTP requests answered, by endpoint and status");
		}
	}
	for (size_t m = 0; m < cfg.measurements.n; m++) {
		esc_label(esc, sizeof esc, cfg.measurements.v[m]);
		snprintf(labels, sizeof labels, "measurement=\"%s\"", esc);
		points[m] = metric_get("rum_listen_points_total", labels, METRIC_COUNTER,
				       "points accepted, by measurement");
	}
	for (size_t r = 0; r < NREASONS; r++) {
		snprintf(labels, sizeof labels, "reason=\"%s\"", reasons[r]);
		rejected[r] = metric_get("rum_listen_rejected_total", labels, METRIC_COUNTER,
					 "requests refused, by error code");
	}
	bytes_raw = metric_get("rum_listen_body_bytes_total", "form=\"raw\"", METRIC_COUNTER,
			       "request body bytes received, as sent and decompressed");
	bytes_decoded =
	    metric_get("rum_listen_body_bytes_total", "form=\"decoded\"", METRIC_COUNTER, NULL);
	replays = metric_get("rum_listen_replays_total", NULL, METRIC_COUNTER,
			     "session replay uploads accepted");
	replay_bytes = metric_get("rum_listen_replay_bytes_total", NULL, METRIC_COUNTER,
				  "bytes of the session replay uploads accepted");
	sm_uploads = metric_get("rum_listen_sourcemap_total", "op=\"upload\"", METRIC_COUNTER,
				"sourcemap archives stored and deleted");
	sm_deletes =
	    metric_get("rum_listen_sourcemap_total", "op=\"delete\"", METRIC_COUNTER, NULL);
	static const char *const sources[] = {"source=\"cache\"", "source=\"dataway\"",
					      "source=\"stale\""};
	for (size_t i = 0; i < 3; i++)
		env_answers[i] =
		    metric_get("rum_listen_env_variable_answers_total", sources[i], METRIC_COUNTER,
			       "/v1/env_variable answers, by where they came from");
	env_fetch_failed =
	    metric_get("rum_listen_env_variable_fetch_failed_total", NULL, METRIC_COUNTER,
		       "requests to Dataway's /v1/env_variable that failed");
	conns = metric_get("rum_listen_connections", NULL, METRIC_GAUGE, "open HTTP connections");
	recv_headers =
	    metric_get("rum_listen_received_bytes_total", "part=\"headers\"", METRIC_COUNTER,
		       "bytes received in requests, refused ones included (TLS framing apart)");
	recv_body =
	    metric_get("rum_listen_received_bytes_total", "part=\"body\"", METRIC_COUNTER, NULL);
	if (cfg.spool_dir) {
		spool_entries = metric_get("rum_listen_spool_entries", NULL, METRIC_GAUGE,
					   "requests in the spool not yet written to stdout");
		spool_bytes = metric_get("rum_listen_spool_bytes", NULL, METRIC_GAUGE,
					 "bytes of the spool on disk");
		spool_dropped = metric_get("rum_listen_spool_dropped_total", NULL, METRIC_COUNTER,
					   "requests evicted unsent from the full spool");
		spool_dropped_bytes =
		    metric_get("rum_listen_spool_dropped_bytes_total", NULL, METRIC_COUNTER,
			       "bytes evicted unsent from the full spool");
		spool_corrupt = metric_get("rum_listen_spool_corrupt_total", NULL, METRIC_COUNTER,
					   "spool entries skipped as corrupt");
	}
	return 0;
}

void stats_request(size_t ep, unsigned code)
{
	if (ep >= nendpoints)
		ep = stats_ep_other();
	for (size_t c = 0; c < NCODES; c++) {
		if (codes[c] == code) {
			metric_inc(requests[ep * NCODES + c]);
			return;
		}
	}
}

void stats_reject(const char *code)
{
	for (size_t r = 0; r < NREASONS; r++) {
		if (strcmp(reasons[r], code) == 0) {
			metric_inc(rejected[r]);
			return;
		}
	}
}

void stats_points(size_t m, uint64_t n)
{
	if (m < cfg.measurements.n && n)
		metric_add(points[m], n);
}

void stats_replay(uint64_t bytes)
{
	metric_inc(replays);
	metric_add(replay_bytes, bytes);
}

void stats_sourcemap(int uploaded)
{
	metric_inc(uploaded ? sm_uploads : sm_deletes);
}

void stats_env_answer(enum env_source src)
{
	metric_inc(env_answers[src]);
}

void stats_env_fetch_failed(void)
{
	metric_inc(env_fetch_failed);
}

void stats_bytes_in(uint64_t raw, uint64_t decoded)
{
	metric_add(bytes_raw, raw);
	metric_add(bytes_decoded, decoded);
}

void stats_received(uint64_t headers, uint64_t body)
{
	if (headers)
		metric_add(recv_headers, headers);
	if (body)
		metric_add(recv_body, body);
}

void stats_conn(int delta)
{
	metric_add(conns, (uint64_t)(int64_t)delta);
}

void stats_refresh(void)
{
	struct dq *q = output_spool();
	if (!q || !spool_entries)
		return;
	struct dq_stats st;
	dq_get_stats(q, &st);
	metric_set(spool_entries, st.entries);
	metric_set(spool_bytes, st.bytes);
	metric_set(spool_dropped, st.dropped_entries);
	metric_set(spool_dropped_bytes, st.dropped_bytes);
	metric_set(spool_corrupt, st.corrupt);
}
