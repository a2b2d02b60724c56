/* rum-listen's HTTP side, between its files (listen.h has what main.c
 * calls):
 *   http.c            the microhttpd daemon: options, limits, its callbacks
 *   route.c           which path a request is for, and who answers it
 *   access.c          the client: its address, what it may reach, its rate
 *   answer.c          responses: status, CORS, error bodies, counting
 *   reqpool.c         requests with a body in progress, and their budgets
 *   bodies.c          writes and session replay uploads
 *   sourcemap_http.c  the sourcemap API's requests (sourcemap_api.c works)
 *   pages.c           /v1/ping and /metrics
 *   envvar.c          /v1/env_variable, from Dataway */
#ifndef RUM_LISTEN_HTTP_H
#define RUM_LISTEN_HTTP_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "listen.h"

enum req_kind { REQ_WRITE, REQ_REPLAY, REQ_SOURCEMAP, REQ_CHECK, REQ_ENV, REQ_DATADOG, REQ_FARO };
struct check_job;

/* One request with a body in progress (or a sourcemap check). Kept on a
 * free list so that its body buffer is reused by the next request. */
struct req {
	struct req *next;
	struct buf body;
	size_t ep;
	enum req_kind kind;
	size_t limit; /* of the body */
	int64_t now_ns;
	int too_large;
	int answered;	/* a response was queued before the body ended */
	size_t counted; /* bytes of this body in the budget (reqs_buffer_take) */
	/* A sourcemap upload goes to a file, not to memory. */
	int fd;
	size_t fd_len;
	struct sm_target *sm;
	int refused; /* answer `refusal` once the body is in (and dropped) */
	struct intake_err refusal;
	struct check_job *job; /* a /v1/sourcemap/check in progress */
	/* A /v1/env_variable waiting for Dataway: its answer goes to body
	 * (or refusal), from the source env_src. */
	struct MHD_Connection *conn;
	int env_src;
};

static inline const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static inline const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- reqpool.c ---- */
/* The budget of body bytes held at once, from --max-body-mb. */
void reqs_init(size_t max_body);
/* A request from the free list (or new), reset; NULL when out of memory. */
struct req *req_get(void);
/* Back to the free list, with what it holds closed and freed. */
void req_put(struct req *r);
/* Counts a request in progress: 0, or -1 when max are already. */
int reqs_enter(unsigned max);
void reqs_leave(void);
/* Takes n bytes of the body budget for r: 0, or -1 when it is spent. */
int reqs_buffer_take(struct req *r, size_t n);
/* The request is over: its budget and its count given back, r put. */
void req_done(struct req *r);
void reqs_free(void);

/* Per-thread buffers: the records of a request, its decompressed body, its
 * points per measurement (cfg.measurements.n cells). NULL when out of
 * memory. */
struct http_tls {
	struct buf out;
	struct buf dec;
	uint64_t *per_meas;
};
struct http_tls *http_tls(void);

/* ---- access.c ---- */
/* Looks its counters up (the forwarding headers not believed). */
void access_init(void);
/* Loopback, or an --admin-allow address: may reach every path. */
int is_admin(struct MHD_Connection *c);
/* May this client reach url (--public-apis)? */
int is_public(struct MHD_Connection *c, const char *url, size_t urllen);
/* The client's address for the ip tag, into out; its length. */
size_t client_ip(struct MHD_Connection *c, char *out, size_t outlen);
/* The limits checked once the headers are in: their size, the client's
 * rate. 1 when answered (in *rc), else 0. */
int refuse_early(struct MHD_Connection *c, size_t ep, int cors, enum MHD_Result *rc);

/* ---- answer.c ---- */
/* The shared empty 200; 0 or -1. */
int answer_init(void);
void answer_free(void);
/* Queues r (NULL: MHD_NO) for status and counts it; shared: r is answer_init's
 * or another kept response, not to be destroyed. */
enum MHD_Result send_resp(struct MHD_Connection *c, size_t ep, unsigned status,
			  struct MHD_Response *r, int shared);
/* A body (copied), with its Content-Type and CORS headers when cors. */
enum MHD_Result send_body(struct MHD_Connection *c, size_t ep, unsigned status, const char *ctype,
			  const char *p, size_t n, int cors);
/* {"error_code","message"}, counted under code. */
enum MHD_Result send_error(struct MHD_Connection *c, size_t ep, unsigned status, const char *code,
			   int cors, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The Retry-After of the next 429 this thread sends. */
void answer_retry_after(unsigned seconds);
/* 200 with an empty body and CORS headers. */
enum MHD_Result answer_ok(struct MHD_Connection *c, size_t ep);
/* The answer to a CORS preflight (OPTIONS). */
enum MHD_Result preflight(struct MHD_Connection *c, size_t ep);
/* The sourcemap API's answers, DataKit's shape: a refusal, a success. */
enum MHD_Result sm_error(struct MHD_Connection *c, size_t ep, const struct intake_err *e);
enum MHD_Result sm_ok(struct MHD_Connection *c, size_t ep, const char *what, const char *path);

/* ---- bodies.c ---- */
/* The headers of a request with a body are in: refuses early what it can,
 * else starts r (in *con_cls). */
enum MHD_Result body_begin(struct MHD_Connection *c, size_t ep, enum req_kind kind, void **con_cls);
/* A piece of the body. */
enum MHD_Result body_chunk(struct MHD_Connection *c, struct req *r, const char *p, size_t n);
/* The body of a write or replay upload is in: the answer. */
enum MHD_Result body_end(struct MHD_Connection *c, struct req *r);

/* ---- sourcemap_http.c ---- */
/* An upload's headers are in (r->sm, r->fd, or r->refused). */
void sm_upload_begin_req(struct MHD_Connection *c, struct req *r);
enum MHD_Result sm_upload_chunk(struct MHD_Connection *c, struct req *r, const char *p, size_t n);
enum MHD_Result sm_upload_end(struct MHD_Connection *c, struct req *r);
/* 413 for an upload over limit bytes. */
enum MHD_Result sm_too_large(struct MHD_Connection *c, size_t ep, size_t limit);
enum MHD_Result sm_delete_req(struct MHD_Connection *c, size_t ep);
/* Starts a check (the connection suspended until it is done, then
 * check_end answers). */
enum MHD_Result sm_check_req(struct MHD_Connection *c, size_t ep, void **con_cls);
enum MHD_Result check_end(struct MHD_Connection *c, struct req *r);
void check_job_free(struct check_job *j);

/* ---- envvar.c ---- */
/* Fetches in progress give up (the stop has begun). */
void envvar_stopping(void);
/* Answers from the cache, or suspends the request until Dataway answers
 * (then env_variable_end answers). */
enum MHD_Result env_variable_req(struct MHD_Connection *c, size_t ep, void **con_cls);
enum MHD_Result env_variable_end(struct MHD_Connection *c, struct req *r);

/* ---- sdkhttp.c: other browser SDKs ---- */
/* A request of Datadog's SDK (through its proxy option, or to its path)? */
int sdk_is_datadog(struct MHD_Connection *c, const char *url);
/* A path of --faro-endpoint (PATH, or PATH/<app_id>)? */
int sdk_is_faro(const char *url);
/* The body of either is in: the answer. */
enum MHD_Result sdk_body_end(struct MHD_Connection *c, struct req *r, const char *url);

/* ---- pages.c ---- */
void pages_init(void); /* the uptime starts */
enum MHD_Result ping(struct MHD_Connection *c);
enum MHD_Result metrics_page(struct MHD_Connection *c);

/* ---- route.c ---- */
/* MHD's request handler and completion callback. */
enum MHD_Result route_request(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls);
void route_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		     enum MHD_RequestTerminationCode toe);

#endif
