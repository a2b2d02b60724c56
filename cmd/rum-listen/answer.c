/* Responses: queued once per request, counted by endpoint and status, with
 * CORS headers for the SDKs' paths, error bodies in rum-listen's shape
 * ({"error_code","message"}) or the sourcemap API's (DataKit's), and
 * "Connection: close" once the daemon is stopping or a connection has
 * reached its last request. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conns.h"
#include "http.h"
#include "log.h"
#include "record.h"

#define CORS_METHODS "POST, GET, OPTIONS"
#define CORS_HEADERS                                                                               \
	"Content-Type, Content-Encoding, Content-Length, X-Requested-With, X-Forwarded-For, "      \
	"X-Real-IP, Authorization, Accept, Origin"
#define CORS_MAX_AGE "86400"

static volatile int stopping;
static struct MHD_Response *resp_ok; /* 200, empty, for requests without Origin */
/* The Retry-After of a 429, set by the caller (one request per thread). */
static _Thread_local char retry_after[16] = "1";

void http_stopping(void)
{
	stopping = 1;
	envvar_stopping();
}

/* An empty answer that any origin may read. */
static struct MHD_Response *empty_for_any_origin(void)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return NULL;
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
	return r;
}

int answer_init(void)
{
	resp_ok = empty_for_any_origin();
	return resp_ok ? 0 : -1;
}

void answer_free(void)
{
	if (resp_ok)
		MHD_destroy_response(resp_ok);
	resp_ok = NULL;
}

void answer_retry_after(unsigned seconds)
{
	snprintf(retry_after, sizeof retry_after, "%u", seconds);
}

static int is_replay_ep(size_t ep)
{
	return ep >= stats_ep_replay(0) && ep < stats_ep_replay(cfg.replay_endpoints.n);
}

static const char *allowed_methods(size_t ep)
{
	if (ep < cfg.endpoints.n || is_replay_ep(ep))
		return "POST, OPTIONS";
	if (ep == stats_ep_sourcemap())
		return "PUT, DELETE";
	return "GET, HEAD, OPTIONS";
}

static void add_cors(struct MHD_Response *r, struct MHD_Connection *c)
{
	const char *origin = header(c, "Origin");
	if (origin && *origin) {
		/* An origin not in --cors-origins gets no Allow-Origin: the
		 * browser then keeps the answer from the page. */
		if (cfg.cors_origins.n && !strlist_has(&cfg.cors_origins, origin, strlen(origin)))
			return;
		MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
		MHD_add_response_header(r, "Vary", "Origin");
	} else {
		MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	}
	MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
	/* Faro reads the Retry-After of a 429. */
	MHD_add_response_header(r, "Access-Control-Expose-Headers", "Retry-After");
}

enum MHD_Result send_resp(struct MHD_Connection *c, size_t ep, unsigned status,
			  struct MHD_Response *r, int shared)
{
	if (!r)
		return MHD_NO;
	int last = conn_respond(conn_of(c));
	if (last < 0) {
		/* Cut off meanwhile: the 408 was the answer. */
		if (!shared)
			MHD_destroy_response(r);
		return MHD_NO;
	}
	/* The last answer of a connection says so, which a shared one cannot;
	 * once stopping every answer is a connection's last, so that a client
	 * on a kept-alive connection sends its next request elsewhere instead
	 * of having it cut off when the daemon stops. */
	if ((last || stopping) && shared) {
		r = empty_for_any_origin();
		if (!r)
			return MHD_NO;
		shared = 0;
	}
	if ((stopping || last) && !shared)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	if (!shared)
		MHD_destroy_response(r);
	/* Refused while a body is still coming: it is answered (and
	 * counted) at its end. */
	if (rc == MHD_YES)
		stats_request(ep, status);
	return rc;
}

enum MHD_Result send_body(struct MHD_Connection *c, size_t ep, unsigned status, const char *ctype,
			  const char *p, size_t n, int cors)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(n, (void *)(uintptr_t)p, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (cors)
		add_cors(r, c);
	if (status == 503)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (status == 429)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	if (status == 405)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allowed_methods(ep));
	return send_resp(c, ep, status, r, 0);
}

/* Sends the JSON object built in b, and frees b. A body that could not be
 * built (out of memory) is no answer: MHD_NO, and MHD drops the request. */
static enum MHD_Result send_json(struct MHD_Connection *c, size_t ep, unsigned status,
				 struct buf *b, int cors)
{
	enum MHD_Result rc =
	    b->err ? MHD_NO : send_body(c, ep, status, "application/json", b->p, b->len, cors);
	buf_free(b);
	return rc;
}

enum MHD_Result send_error(struct MHD_Connection *c, size_t ep, unsigned status, const char *code,
			   int cors, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	stats_reject(code);
	log_debug("%u %s: %s", status, code, msg);
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"error_code\":");
	json_add_str(&b, code, strlen(code));
	buf_adds(&b, ",\"message\":");
	json_add_str(&b, msg, strlen(msg));
	buf_addc(&b, '}');
	return send_json(c, ep, status, &b, cors);
}

/* The sourcemap API answers as DataKit's does ({"success","errorMsg",
 * "content"}, which its clients read), and its errors also carry the
 * error_code and message of rum-listen's other errors, with a status that
 * says what went wrong (DataKit answers 200 to everything). */
enum MHD_Result sm_error(struct MHD_Connection *c, size_t ep, const struct intake_err *e)
{
	stats_reject(e->code);
	log_debug("%u %s: %s", e->status, e->code, e->msg);
	struct buf b = BUF_INIT;
	buf_adds(&b, "{\"success\":false,\"errorMsg\":");
	json_add_str(&b, e->msg, strlen(e->msg));
	buf_adds(&b, ",\"error_code\":");
	json_add_str(&b, e->code, strlen(e->code));
	buf_adds(&b, ",\"message\":");
	json_add_str(&b, e->msg, strlen(e->msg));
	buf_addc(&b, '}');
	return send_json(c, ep, e->status, &b, 0);
}

enum MHD_Result sm_ok(struct MHD_Connection *c, size_t ep, const char *what, const char *path)
{
	struct buf b = BUF_INIT;
	char msg[4500];
	snprintf(msg, sizeof msg, "%s [%s]!", what, path);
	buf_adds(&b, "{\"success\":true,\"errorMsg\":\"\",\"content\":");
	json_add_str(&b, msg, strlen(msg));
	buf_addc(&b, '}');
	return send_json(c, ep, 200, &b, 0);
}

enum MHD_Result preflight(struct MHD_Connection *c, size_t ep)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	add_cors(r, c);
	MHD_add_response_header(r, "Access-Control-Allow-Methods", CORS_METHODS);
	const char *h = header(c, "Access-Control-Request-Headers");
	MHD_add_response_header(r, "Access-Control-Allow-Headers", h && *h ? h : CORS_HEADERS);
	MHD_add_response_header(r, "Access-Control-Max-Age", CORS_MAX_AGE);
	return send_resp(c, ep, 204, r, 0);
}

enum MHD_Result answer_ok(struct MHD_Connection *c, size_t ep)
{
	if (!header(c, "Origin") && !stopping)
		return send_resp(c, ep, 200, resp_ok, 1);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp)
		add_cors(resp, c);
	return send_resp(c, ep, 200, resp, 0);
}
