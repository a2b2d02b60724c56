/* The HTTP side: routing, access control, CORS, the life cycle of requests
 * with a body (writes, session replay uploads, sourcemap uploads), /v1/ping,
 * /metrics and the rest of the sourcemap API. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clientip.h"
#include "conns.h"
#include "io.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "ratelimit.h"
#include "record.h"
#include "tlscert.h"

#define CORS_METHODS "POST, GET, OPTIONS"
#define CORS_HEADERS                                                                               \
	"Content-Type, Content-Encoding, Content-Length, X-Requested-With, X-Forwarded-For, "      \
	"X-Real-IP, Authorization, Accept, Origin"
#define CORS_MAX_AGE "86400"
#define PROM_FILE_MAX ((size_t)1 << 20)

enum req_kind { REQ_WRITE, REQ_REPLAY, REQ_SOURCEMAP, REQ_CHECK };
struct check_job;

/* One request with a body in progress. Kept on a free list so that its body
 * buffer is reused by the next request. */
struct req {
	struct req *next;
	struct buf body;
	size_t ep;
	enum req_kind kind;
	size_t limit; /* of the body */
	int64_t now_ns;
	int too_large;
	int answered;	/* a response was queued before the body ended */
	size_t counted; /* bytes of this body in `buffered` */
	/* A sourcemap upload goes to a file, not to memory. */
	int fd;
	size_t fd_len;
	struct sm_target *sm;
	int refused; /* answer `refusal` once the body is in (and dropped) */
	struct intake_err refusal;
	struct check_job *job; /* a /v1/sourcemap/check in progress */
};

static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct req *free_reqs;
static unsigned free_count;
#define FREE_MAX 256
#define BODY_KEEP ((size_t)256 << 10)

static unsigned inflight;
/* Bytes of request bodies held at once, across requests: --queue times
 * --max-body-mb could be a lot of memory, so past a budget new data is
 * refused with 503 instead. */
static uint64_t buffered;
static uint64_t buffered_budget;
static volatile int stopping;
static time_t started;
static struct MHD_Response *resp_ok; /* 200, empty, for requests without Origin */

unsigned http_active_requests(void)
{
	return __atomic_load_n(&inflight, __ATOMIC_RELAXED);
}

void http_stopping(void)
{
	stopping = 1;
}

static struct req *req_get(void)
{
	pthread_mutex_lock(&free_lock);
	struct req *r = free_reqs;
	if (r) {
		free_reqs = r->next;
		free_count--;
	}
	pthread_mutex_unlock(&free_lock);
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return NULL;
	}
	buf_reset(&r->body);
	r->next = NULL;
	r->too_large = 0;
	r->answered = 0;
	r->counted = 0;
	r->fd = -1;
	r->fd_len = 0;
	r->sm = NULL;
	r->refused = 0;
	r->job = NULL;
	return r;
}

static void check_job_free(struct check_job *j);

static void req_put(struct req *r)
{
	check_job_free(r->job);
	r->job = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->sm);
	r->sm = NULL;
	if (r->body.cap > BODY_KEEP)
		buf_free(&r->body);
	pthread_mutex_lock(&free_lock);
	if (free_count < FREE_MAX) {
		r->next = free_reqs;
		free_reqs = r;
		free_count++;
		r = NULL;
	}
	pthread_mutex_unlock(&free_lock);
	if (r) {
		buf_free(&r->body);
		free(r);
	}
}

/* Per-thread buffers: the records of a request, its decompressed body. */
struct http_tls {
	struct buf out;
	struct buf dec;
	uint64_t *per_meas;
};
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_destroy(void *p)
{
	struct http_tls *t = p;
	buf_free(&t->out);
	buf_free(&t->dec);
	free(t->per_meas);
	free(t);
}

static void tls_key_init(void)
{
	if (pthread_key_create(&tls_key, tls_destroy) != 0)
		abort();
}

static struct http_tls *tls(void)
{
	pthread_once(&tls_once, tls_key_init);
	struct http_tls *t = pthread_getspecific(tls_key);
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t)
			return NULL;
		t->per_meas = calloc(cfg.measurements.n + 1, sizeof *t->per_meas);
		if (!t->per_meas || pthread_setspecific(tls_key, t) != 0) {
			free(t->per_meas);
			free(t);
			return NULL;
		}
	}
	return t;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The peer's address as 16 bytes (see cidr.h); all zero when unknown. */
static void peer_addr(struct MHD_Connection *c, uint8_t out[16])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || addr_of_sockaddr(ci->client_addr, out) < 0)
		memset(out, 0, 16);
}

/* Loopback, or an --admin-allow address: the operator's own clients. */
static int is_admin(struct MHD_Connection *c)
{
	uint8_t a[16];
	peer_addr(c, a);
	return addr_is_loopback(a) || cidr_list_match(&cfg.admin_allow, a);
}

/* DataKit's public_apis: loopback and --admin-allow clients get every path;
 * others only the listed ones, or every path when the list was given empty.
 * The peer's address decides, never a header: a proxy in front that should
 * reach the admin paths is named in --admin-allow. */
static int is_public(struct MHD_Connection *c, const char *url, size_t urllen)
{
	if (cfg.public_apis_set && cfg.public_apis.n == 0)
		return 1;
	return strlist_has(&cfg.public_apis, url, urllen) || is_admin(c);
}

/* The client's address: the ip tag, the rate limit's key.
 *
 * Without --trusted-proxies, the tag is DataKit's: the first address of
 * --origin-ip-header, then X-Forwarded-For, then X-Real-IP, whoever sent
 * them, else the peer. With it, those headers count only from a peer in
 * the list (read as trusted_addr says), and other clients are their peer
 * address. Limits (rate, connections) always key on what can be trusted:
 * the peer, or the header of a trusted proxy. */
static size_t client_ip_for(struct MHD_Connection *c, char *out, size_t outlen, int for_limits)
{
	const char *names[] = {cfg.origin_ip_header, "X-Forwarded-For", "X-Real-IP"};
	uint8_t peer[16];
	peer_addr(c, peer);
	int trusted_mode = cfg.trusted_proxies.n > 0;
	int use_headers = trusted_mode ? cidr_list_match(&cfg.trusted_proxies, peer) : !for_limits;
	for (size_t i = 0; use_headers && i < 3; i++) {
		const char *v = names[i] ? header(c, names[i]) : NULL;
		size_t n;
		if (v && (n = trusted_mode ? ip_trusted_addr(v, &cfg.trusted_proxies, out, outlen)
					   : ip_first_addr(v, out, outlen)) > 0)
			return n;
	}
	out[0] = '\0';
	addr_format(peer, out, outlen);
	return strlen(out);
}

static size_t client_ip(struct MHD_Connection *c, char *out, size_t outlen)
{
	return client_ip_for(c, out, outlen, 0);
}

/* The rate limit's key (an IPv6 client's /64); 0, or -1 for a client it
 * does not apply to (loopback: the operator's own). */
static int limit_key(struct MHD_Connection *c, uint8_t key[16])
{
	char ip[INET6_ADDRSTRLEN + 8];
	size_t n = client_ip_for(c, ip, sizeof ip, 1);
	if (addr_parse(ip, n, key) < 0)
		peer_addr(c, key);
	if (addr_is_loopback(key))
		return -1;
	addr_limit_key(key);
	return 0;
}

static int is_sdk_path(const char *url)
{
	size_t n = strlen(url);
	return strlist_has(&cfg.endpoints, url, n) || strlist_has(&cfg.replay_endpoints, url, n) ||
	       strcmp(url, "/v1/ping") == 0;
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
}

/* Queue a response and count it. */
static enum MHD_Result send_resp(struct MHD_Connection *c, size_t ep, unsigned status,
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
	if (last && shared) {
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
		MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
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

/* The Retry-After of a 429, set by the caller (one request per thread). */
static _Thread_local char retry_after[16] = "1";

static enum MHD_Result send_body(struct MHD_Connection *c, size_t ep, unsigned status,
				 const char *ctype, const char *p, size_t n, int cors)
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

static enum MHD_Result send_error(struct MHD_Connection *c, size_t ep, unsigned status,
				  const char *code, int cors, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result send_error(struct MHD_Connection *c, size_t ep, unsigned status,
				  const char *code, int cors, const char *fmt, ...)
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
	enum MHD_Result rc =
	    b.err ? MHD_NO : send_body(c, ep, status, "application/json", b.p, b.len, cors);
	buf_free(&b);
	return rc;
}

/* The sourcemap API answers as DataKit's does ({"success","errorMsg",
 * "content"}, which its clients read), and its errors also carry the
 * error_code and message of rum-listen's other errors, with a status that
 * says what went wrong (DataKit answers 200 to everything). */
static enum MHD_Result sm_error(struct MHD_Connection *c, size_t ep, const struct intake_err *e)
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
	enum MHD_Result rc =
	    b.err ? MHD_NO : send_body(c, ep, e->status, "application/json", b.p, b.len, 0);
	buf_free(&b);
	return rc;
}

static enum MHD_Result sm_ok(struct MHD_Connection *c, size_t ep, const char *what,
			     const char *path)
{
	struct buf b = BUF_INIT;
	char msg[4500];
	snprintf(msg, sizeof msg, "%s [%s]!", what, path);
	buf_adds(&b, "{\"success\":true,\"errorMsg\":\"\",\"content\":");
	json_add_str(&b, msg, strlen(msg));
	buf_addc(&b, '}');
	enum MHD_Result rc =
	    b.err ? MHD_NO : send_body(c, ep, 200, "application/json", b.p, b.len, 0);
	buf_free(&b);
	return rc;
}

static enum MHD_Result preflight(struct MHD_Connection *c, size_t ep)
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

static enum MHD_Result ping(struct MHD_Connection *c)
{
	long up = (long)(time(NULL) - started);
	char body[160];
	int n;
	if (up >= 3600)
		n = snprintf(body, sizeof body,
			     "{\"content\":{\"version\":\"%s\",\"uptime\":\"%ldh%ldm%lds\"}}",
			     RUM_VERSION, up / 3600, up / 60 % 60, up % 60);
	else if (up >= 60)
		n = snprintf(body, sizeof body,
			     "{\"content\":{\"version\":\"%s\",\"uptime\":\"%ldm%lds\"}}",
			     RUM_VERSION, up / 60, up % 60);
	else
		n = snprintf(body, sizeof body,
			     "{\"content\":{\"version\":\"%s\",\"uptime\":\"%lds\"}}", RUM_VERSION,
			     up);
	return send_body(c, stats_ep_ping(), 200, "application/json", body, (size_t)n, 1);
}

static int prom_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".prom") == 0;
}

/* Other programs' textfile counters, as node_exporter's textfile collector
 * serves them. Files that vanish or cannot be read are skipped. */
static void add_prom_files(struct buf *b)
{
	int dfd = open(cfg.metrics_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	struct dirent **names;
	int n = scandirat(dfd, ".", &names, prom_filter, alphasort);
	for (int i = 0; i < n; i++) {
		int fd = openat(dfd, names[i]->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		free(names[i]);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			size_t start = b->len, got = 0;
			while (got < PROM_FILE_MAX && buf_reserve(b, 65536) == 0) {
				ssize_t r = read(fd, b->p + b->len, 65536);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				b->len += (size_t)r;
				got += (size_t)r;
			}
			if (b->len > start && b->p[b->len - 1] != '\n')
				buf_addc(b, '\n');
		}
		close(fd);
	}
	if (n >= 0)
		free(names);
	close(dfd);
}

static enum MHD_Result metrics_page(struct MHD_Connection *c)
{
	struct buf b = BUF_INIT;
	/* Counted before formatting so that this request shows itself. */
	stats_refresh();
	metrics_format(&b);
	if (cfg.metrics_dir)
		add_prom_files(&b);
	enum MHD_Result rc =
	    b.err ? send_error(c, stats_ep_metrics(), 500, "rum.internal", 0, "out of memory")
		  : send_body(c, stats_ep_metrics(), 200, "text/plain; version=0.0.4",
			      b.p ? b.p : "", b.len, 0);
	buf_free(&b);
	return rc;
}

static int arg_true(struct MHD_Connection *c, const char *name)
{
	const char *v = NULL;
	size_t vlen = 0;
	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
					  &vlen) != MHD_YES)
		return 0;
	if (!v || !*v)
		return 1;
	return !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
		 strcasecmp(v, "off") == 0);
}

static int is_json(struct MHD_Connection *c)
{
	const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; ");
	/* application/json and its relatives, NDJSON included. */
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n == 20 && strncasecmp(ct, "application/x-ndjson", 20) == 0) ||
	       (n == 17 && strncasecmp(ct, "application/jsonl", 17) == 0) ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0) ||
	       (n == 9 && strncasecmp(ct, "text/json", 9) == 0);
}

static int body_encoding(struct MHD_Connection *c, enum body_enc *e, const char **name)
{
	const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "encoding");
	const char *h = header(c, MHD_HTTP_HEADER_CONTENT_ENCODING);
	*name = q && *q ? q : h;
	*e = ENC_IDENTITY;
	if (!*name || !**name)
		return 0;
	return decode_name(*name, e);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sm_begin(struct MHD_Connection *c, struct req *r);

/* The request's headers are in: refuse early what can be refused. */
static enum MHD_Result body_begin(struct MHD_Connection *c, size_t ep, enum req_kind kind,
				  void **con_cls)
{
	size_t limit = kind == REQ_WRITE    ? cfg.max_body
		       : kind == REQ_REPLAY ? REPLAY_MAX_BODY
					    : SOURCEMAP_MAX_BODY;
	int cors = kind != REQ_SOURCEMAP;
	const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long len = strtoull(cl, &end, 10);
		if (errno || end == cl || len > limit) {
			if (kind == REQ_SOURCEMAP) {
				struct intake_err e = {413, "rum.bodyTooLarge", ""};
				snprintf(e.msg, sizeof e.msg,
					 "upload larger than %zu bytes (the file may be %zu)",
					 limit, SOURCEMAP_MAX_FILE);
				return sm_error(c, ep, &e);
			}
			return send_error(c, ep, 413, "rum.bodyTooLarge", cors,
					  "body larger than %zu bytes", limit);
		}
	}
	if (__atomic_add_fetch(&inflight, 1, __ATOMIC_RELAXED) > cfg.queue) {
		__atomic_sub_fetch(&inflight, 1, __ATOMIC_RELAXED);
		return send_error(c, ep, 503, "rum.overloaded", 1,
				  "too many requests in progress; retry");
	}
	struct req *r = req_get();
	if (!r) {
		__atomic_sub_fetch(&inflight, 1, __ATOMIC_RELAXED);
		return send_error(c, ep, 503, "rum.overloaded", 1, "out of memory; retry");
	}
	r->ep = ep;
	r->kind = kind;
	r->limit = limit;
	r->now_ns = now_ns();
	*con_cls = r;
	if (kind == REQ_SOURCEMAP) {
		sm_begin(c, r);
		/* A client waiting for "100 Continue" is told no at once instead
		 * of sending up to 100 MiB for nothing. */
		const char *expect = header(c, MHD_HTTP_HEADER_EXPECT);
		if (r->refused && expect && strcasecmp(expect, "100-continue") == 0 &&
		    sm_error(c, ep, &r->refusal) == MHD_YES)
			r->answered = 1;
	}
	return MHD_YES;
}

/* 200 with an empty body and CORS headers. */
static enum MHD_Result answer_ok(struct MHD_Connection *c, size_t ep)
{
	if (!header(c, "Origin") && !stopping)
		return send_resp(c, ep, 200, resp_ok, 1);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp)
		add_cors(resp, c);
	return send_resp(c, ep, 200, resp, 0);
}

static enum MHD_Result write_end(struct MHD_Connection *c, struct req *r)
{
	size_t ep = r->ep;
	if (r->too_large)
		return send_error(c, ep, 413, "rum.bodyTooLarge", 1, "body larger than %zu bytes",
				  r->limit);
	struct http_tls *t = tls();
	if (!t)
		return send_error(c, ep, 500, "rum.internal", 1, "out of memory");
	enum lp_precision prec = LP_GUESS;
	const char *p = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "precision");
	if (p && *p && lp_precision_parse(p, &prec) < 0)
		return send_error(c, ep, 400, "rum.badPrecision", 1,
				  "bad precision '%.32s' (ns, us, ms, s, m or h)", p);
	enum body_enc enc;
	const char *encname;
	if (body_encoding(c, &enc, &encname) < 0)
		return send_error(
		    c, ep, 415, "rum.unsupportedEncoding", 1,
		    "unsupported encoding '%.32s' (gzip, deflate, zstd, br or identity)", encname);

	const char *body = r->body.p ? r->body.p : "";
	size_t len = r->body.len;
	if (len == 0)
		return send_error(c, ep, 400, "rum.emptyBody", 1, "empty body");
	if (enc != ENC_IDENTITY) {
		const char *why;
		int rc = decode_body(enc, body, len, cfg.max_body, &t->dec, &why);
		if (rc == DEC_TOOBIG)
			return send_error(c, ep, 413, "rum.bodyTooLarge", 1,
					  "decompressed body larger than %zu bytes", cfg.max_body);
		if (rc == DEC_NOMEM)
			return send_error(c, ep, 500, "rum.internal", 1, "out of memory");
		if (rc != DEC_OK)
			return send_error(c, ep, 400, "rum.badEncoding", 1, "%s body: %s", encname,
					  why);
		body = t->dec.p ? t->dec.p : "";
		len = t->dec.len;
	}
	stats_bytes_in(r->body.len, len);
	char ip[256];
	struct intake_in in = {
	    .body = body,
	    .len = len,
	    .json = is_json(c),
	    .precision = prec,
	    .now_ns = r->now_ns,
	    .ip = ip,
	};
	in.ip_len = client_ip(c, ip, sizeof ip);
	struct intake_err err;
	size_t npoints;
	buf_reset(&t->out);
	memset(t->per_meas, 0, cfg.measurements.n * sizeof *t->per_meas);
	if (intake_parse(&in, &t->out, t->per_meas, &npoints, &err) < 0)
		return send_error(c, ep, err.status, err.code, 1, "%s", err.msg);
	int dry = arg_true(c, "dry"), echo = arg_true(c, "echo");
	if (!dry && output_emit(t->out.p, t->out.len) < 0)
		return send_error(c, ep, 500, "rum.internal", 1, "cannot pass the records on");
	if (!dry)
		for (size_t i = 0; i < cfg.measurements.n; i++)
			stats_points(i, t->per_meas[i]);
	enum MHD_Result rc;
	if (echo)
		rc = send_body(c, ep, 200, "application/x-ndjson", t->out.p, t->out.len, 1);
	else
		rc = answer_ok(c, ep);
	if (t->out.cap > ((size_t)4 << 20))
		buf_free(&t->out);
	if (t->dec.cap > ((size_t)4 << 20))
		buf_free(&t->dec);
	return rc;
}

/* The request headers forwarded with a replay upload (rum-ship sends them on
 * to Dataway with the body). User-Agent and Accept-Language describe the
 * browser that recorded it, Origin and Referer the site it was recorded on,
 * and the address headers (with --origin-ip-header's) let the backend see the
 * client as it would behind any proxy. Not forwarded: what belongs to this
 * one connection (Host, Connection, Content-Length, Transfer-Encoding,
 * Expect), what is a field of its own (Content-Type), and credentials for
 * this collector's site (Cookie, Authorization), which must not leak to
 * another service. */
static const char *const forwarded[] = {
    "User-Agent", "Accept-Language", "Origin", "Referer", "X-Forwarded-For", "X-Real-IP",
};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

static enum MHD_Result replay_end(struct MHD_Connection *c, struct req *r)
{
	size_t ep = r->ep;
	if (r->too_large)
		return send_error(c, ep, 413, "rum.bodyTooLarge", 1, "body larger than %zu bytes",
				  r->limit);
	struct http_tls *t = tls();
	if (!t)
		return send_error(c, ep, 500, "rum.internal", 1, "out of memory");
	enum body_enc enc;
	const char *encname;
	if (body_encoding(c, &enc, &encname) < 0 || enc != ENC_IDENTITY)
		return send_error(c, ep, 415, "rum.unsupportedEncoding", 1,
				  "encoding '%.32s': replay uploads are taken uncompressed, as the "
				  "SDKs send them",
				  encname);
	if (r->body.len == 0)
		return send_error(c, ep, 400, "rum.emptyBody", 1, "empty body");
	stats_bytes_in(r->body.len, r->body.len);
	struct replay_header hs[NFORWARDED + 1];
	size_t nh = 0;
	int own_ip_header = 0;
	for (size_t i = 0; i < NFORWARDED; i++) {
		const char *v = header(c, forwarded[i]);
		if (v)
			hs[nh++] = (struct replay_header){forwarded[i], v};
		if (strcasecmp(forwarded[i], cfg.origin_ip_header) == 0)
			own_ip_header = 1;
	}
	const char *v = own_ip_header ? NULL : header(c, cfg.origin_ip_header);
	if (v)
		hs[nh++] = (struct replay_header){cfg.origin_ip_header, v};
	char ip[256];
	struct replay_in in = {
	    .body = r->body.p,
	    .len = r->body.len,
	    .ctype = header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
	    .headers = hs,
	    .nheaders = nh,
	    .ip = ip,
	    .now_ns = r->now_ns,
	};
	in.ip_len = client_ip(c, ip, sizeof ip);
	struct intake_err err;
	buf_reset(&t->out);
	if (replay_record(&in, &t->out, &err) < 0)
		return send_error(c, ep, err.status, err.code, 1, "%s", err.msg);
	if (output_emit(t->out.p, t->out.len) < 0)
		return send_error(c, ep, 500, "rum.internal", 1, "cannot pass the record on");
	stats_replay(r->body.len);
	enum MHD_Result rc = answer_ok(c, ep);
	if (t->out.cap > ((size_t)4 << 20))
		buf_free(&t->out);
	return rc;
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* MHD decodes %00 into the values it hands out as C strings: a NUL would
 * silently cut a name short, so it is refused. */
static int args_nul(struct MHD_Connection *c, struct intake_err *e)
{
	static const char *const names[] = {"platform", "app_id",      "env",	    "version",
					    "token",	"error_stack", "error_type"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v = NULL;
		size_t n = 0;
		if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, names[i],
						  strlen(names[i]), &v, &n) == MHD_YES &&
		    v && strlen(v) != n) {
			e->status = 400;
			e->code = "rum.badName";
			snprintf(e->msg, sizeof e->msg, "a NUL byte in %s", names[i]);
			return -1;
		}
	}
	return 0;
}

/* A sourcemap upload's headers are in: check what can be checked now, so
 * that a refused upload writes nothing; its body is then dropped. */
static void sm_begin(struct MHD_Connection *c, struct req *r)
{
	r->sm = malloc(sizeof *r->sm);
	if (!r->sm) {
		r->refused = 1;
		r->refusal = (struct intake_err){500, "rum.internal", "out of memory"};
		return;
	}
	if (args_nul(c, &r->refusal) < 0 || sm_token_check(arg(c, "token"), &r->refusal) < 0 ||
	    sm_target_of(arg(c, "platform"), arg(c, "app_id"), arg(c, "env"), arg(c, "version"),
			 r->sm, &r->refusal) < 0 ||
	    (r->fd = sm_upload_begin(r->sm, &r->refusal)) < 0)
		r->refused = 1;
}

static enum MHD_Result sm_upload_end(struct MHD_Connection *c, struct req *r)
{
	if (r->refused)
		return sm_error(c, r->ep, &r->refusal);
	if (r->too_large) {
		struct intake_err e = {413, "rum.bodyTooLarge", ""};
		snprintf(e.msg, sizeof e.msg, "upload larger than %zu bytes (the file may be %zu)",
			 r->limit, SOURCEMAP_MAX_FILE);
		return sm_error(c, r->ep, &e);
	}
	struct intake_err e;
	if (sm_upload_finish(r->fd, r->fd_len, header(c, MHD_HTTP_HEADER_CONTENT_TYPE), r->sm, &e) <
	    0)
		return sm_error(c, r->ep, &e);
	stats_bytes_in(r->fd_len, r->fd_len);
	stats_sourcemap(1);
	log_info("sourcemap stored: %s", r->sm->path);
	return sm_ok(c, r->ep, "uploaded to", r->sm->path);
}

static enum MHD_Result sm_delete_req(struct MHD_Connection *c, size_t ep)
{
	struct intake_err e;
	struct sm_target t;
	if (args_nul(c, &e) < 0 || sm_token_check(arg(c, "token"), &e) < 0 ||
	    sm_target_of(arg(c, "platform"), arg(c, "app_id"), arg(c, "env"), arg(c, "version"), &t,
			 &e) < 0 ||
	    sm_delete(&t, &e) < 0)
		return sm_error(c, ep, &e);
	stats_sourcemap(0);
	log_info("sourcemap deleted: %s", t.path);
	return sm_ok(c, ep, "deleted", t.path);
}

/* A check runs rum-symbolicate, which may take a while: its connection is
 * suspended and the child waited for in a thread of its own, so that the
 * worker thread goes on serving the SDKs' connections meanwhile. */
struct check_job {
	struct MHD_Connection *c;
	struct sm_check_in in;
	char *copy; /* the arguments */
	int rc;
	struct intake_err err;
	struct buf restored;
};

static void *check_thread(void *p)
{
	struct check_job *j = p;
	j->rc = sm_check(&j->in, &j->restored, &j->err);
	/* From here on the request may complete and free j. */
	MHD_resume_connection(j->c);
	return NULL;
}

static char *copy_arg(char **at, const char *v)
{
	if (!v)
		return NULL;
	char *d = *at;
	size_t n = strlen(v) + 1;
	memcpy(d, v, n);
	*at += n;
	return d;
}

static enum MHD_Result sm_check_req(struct MHD_Connection *c, size_t ep, void **con_cls)
{
	struct intake_err e;
	struct sm_target t;
	struct sm_check_in in = {
	    .platform = arg(c, "platform"),
	    .app_id = arg(c, "app_id"),
	    .env = arg(c, "env"),
	    .version = arg(c, "version"),
	    .error_type = arg(c, "error_type"),
	    .stack = arg(c, "error_stack"),
	};
	/* The same checks as an upload's, so that the child is only ever
	 * asked about a name the API could have stored. */
	if (args_nul(c, &e) < 0 ||
	    sm_target_of(in.platform, in.app_id, in.env, in.version, &t, &e) < 0)
		return sm_error(c, ep, &e);
	if (!in.stack || !*in.stack) {
		e = (struct intake_err){400, "rum.missingErrorStack",
					"no error_stack (query argument)"};
		return sm_error(c, ep, &e);
	}
	struct req *r = req_get();
	struct check_job *j = r ? calloc(1, sizeof *j) : NULL;
	const char *vals[] = {in.platform, in.app_id, in.env, in.version, in.error_type, in.stack};
	size_t total = 0;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		total += vals[i] ? strlen(vals[i]) + 1 : 0;
	char *copy = j ? malloc(total) : NULL;
	if (!copy) {
		free(j);
		if (r)
			req_put(r);
		return send_error(c, ep, 500, "rum.internal", 0, "out of memory");
	}
	char *at = copy;
	j->c = c;
	j->copy = copy;
	j->in.platform = copy_arg(&at, in.platform);
	j->in.app_id = copy_arg(&at, in.app_id);
	j->in.env = copy_arg(&at, in.env);
	j->in.version = copy_arg(&at, in.version);
	j->in.error_type = copy_arg(&at, in.error_type);
	j->in.stack = copy_arg(&at, in.stack);
	r->kind = REQ_CHECK;
	r->ep = ep;
	r->job = j;
	__atomic_add_fetch(&inflight, 1, __ATOMIC_RELAXED);
	*con_cls = r;
	MHD_suspend_connection(c);
	pthread_t th;
	pthread_attr_t at_;
	int started_ = pthread_attr_init(&at_) == 0 &&
		       pthread_attr_setdetachstate(&at_, PTHREAD_CREATE_DETACHED) == 0 &&
		       pthread_create(&th, &at_, check_thread, j) == 0;
	pthread_attr_destroy(&at_);
	if (!started_)
		check_thread(j); /* no thread to spare: here, then */
	return MHD_YES;
}

static void check_job_free(struct check_job *j)
{
	if (!j)
		return;
	buf_free(&j->restored);
	free(j->copy);
	free(j);
}

/* The check is done: its answer, on the resumed connection. */
static enum MHD_Result check_end(struct MHD_Connection *c, struct req *r)
{
	struct check_job *j = r->job;
	size_t ep = r->ep;
	if (j->rc < 0)
		return sm_error(c, ep, &j->err);
	struct buf b = BUF_INIT;
	buf_adds(&b,
		 j->rc ? "{\"success\":true,\"errorMsg\":" : "{\"success\":false,\"errorMsg\":");
	json_add_str(&b, j->rc ? "" : j->err.msg, j->rc ? 0 : strlen(j->err.msg));
	buf_adds(&b, ",\"content\":{\"error_stack\":");
	json_add_str(&b, j->rc ? j->restored.p : "", j->rc ? j->restored.len : 0);
	buf_adds(&b, ",\"original_error_stack\":");
	json_add_str(&b, j->in.stack, strlen(j->in.stack));
	buf_adds(&b, "}}");
	enum MHD_Result rc = b.err || j->restored.err
				 ? send_error(c, ep, 500, "rum.internal", 0, "out of memory")
				 : send_body(c, ep, 200, "application/json", b.p, b.len, 0);
	buf_free(&b);
	return rc;
}

/* Every path but a write: answered once the request (and any body, which is
 * discarded) is complete. MHD closes the connection after a response
 * queued at the first call, so waiting for the end keeps it alive. */
static enum MHD_Result other_request(struct MHD_Connection *c, const char *url, const char *method,
				     size_t ep, int post_only, void **con_cls)
{
	size_t urllen = strlen(url);
	int sdk = is_sdk_path(url);
	if (!is_public(c, url, urllen))
		return send_error(c, ep, 403, "rum.forbidden", sdk, "%s is not a public API", url);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (sdk && strcmp(method, "OPTIONS") == 0)
		return preflight(c, ep);
	if (post_only)
		return send_error(c, ep, 405, "rum.methodNotAllowed", 1,
				  "%s takes POST (and OPTIONS), not %s", url, method);
	if (ep == stats_ep_sourcemap()) {
		if (strcmp(method, "DELETE") == 0)
			return sm_delete_req(c, ep);
		return send_error(c, ep, 405, "rum.methodNotAllowed", 0,
				  "%s takes PUT and DELETE, not %s", url, method);
	}
	if (ep == stats_ep_sourcemap_check()) {
		if (!get)
			return send_error(c, ep, 405, "rum.methodNotAllowed", 0,
					  "%s takes GET, not %s", url, method);
		return sm_check_req(c, ep, con_cls);
	}
	if (ep == stats_ep_ping() || ep == stats_ep_metrics()) {
		if (!get)
			return send_error(c, ep, 405, "rum.methodNotAllowed", sdk,
					  "%s takes GET, not %s", url, method);
		return ep == stats_ep_ping() ? ping(c) : metrics_page(c);
	}
	if (cfg.disable_404) {
		stats_reject("rum.notFound");
		return send_resp(c, ep, 404,
				 MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
				 0);
	}
	return send_error(c, ep, 404, "rum.notFound", 0, "no such path: %s", url);
}

static char other_marker; /* con_cls of a request without a body we keep */

/* A piece of a sourcemap upload: to its file, unless it was refused. */
static enum MHD_Result sm_chunk(struct MHD_Connection *c, struct req *r, const char *p, size_t n)
{
	if (r->refused || r->too_large)
		return MHD_YES;
	if (r->fd_len + n > r->limit) {
		r->too_large = 1;
		struct intake_err e = {413, "rum.bodyTooLarge", ""};
		snprintf(e.msg, sizeof e.msg, "upload larger than %zu bytes (the file may be %zu)",
			 r->limit, SOURCEMAP_MAX_FILE);
		if (sm_error(c, r->ep, &e) == MHD_YES)
			r->answered = 1;
		return MHD_YES;
	}
	if (write_all(r->fd, p, n) < 0) {
		r->refused = 1;
		r->refusal.status = 500;
		r->refusal.code = "rum.internal";
		snprintf(r->refusal.msg, sizeof r->refusal.msg, "writing the upload in %.300s: %s",
			 r->sm->dir, strerror(errno));
		return MHD_YES;
	}
	r->fd_len += n;
	return MHD_YES;
}

/* The counters' index of a path; *kind the kind of body it takes by
 * POST/PUT, or -1. */
static size_t endpoint_of(const char *url, int *kind)
{
	size_t n = strlen(url);
	long i = strlist_find(&cfg.endpoints, url, n);
	*kind = -1;
	if (i >= 0) {
		*kind = REQ_WRITE;
		return (size_t)i;
	}
	i = strlist_find(&cfg.replay_endpoints, url, n);
	if (i >= 0) {
		*kind = REQ_REPLAY;
		return stats_ep_replay((size_t)i);
	}
	if (strcmp(url, "/v1/sourcemap") == 0) {
		*kind = REQ_SOURCEMAP;
		return stats_ep_sourcemap();
	}
	return strcmp(url, "/v1/ping") == 0		 ? stats_ep_ping()
	       : strcmp(url, "/metrics") == 0		 ? stats_ep_metrics()
	       : strcmp(url, "/v1/sourcemap/check") == 0 ? stats_ep_sourcemap_check()
							 : stats_ep_other();
}

/* The limits checked once the headers are in: their size, the client's
 * rate. 1 when answered (in *rc). An answer at this first call closes the
 * connection after it, which is what a client over a limit deserves. */
static int refuse_early(struct MHD_Connection *c, size_t ep, int kind, enum MHD_Result *rc)
{
	int cors = kind != REQ_SOURCEMAP;
	const union MHD_ConnectionInfo *hi =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (hi)
		stats_received(hi->header_size, 0);
	if (hi && hi->header_size > cfg.max_header) {
		*rc = send_error(c, ep, 431, "rum.headersTooLarge", cors,
				 "request line and headers larger than %zu bytes", cfg.max_header);
		return 1;
	}
	uint8_t key[16];
	if (cfg.rate_limit > 0 && limit_key(c, key) == 0) {
		unsigned wait = rl_take(key, now_ns());
		if (wait) {
			snprintf(retry_after, sizeof retry_after, "%u", wait);
			*rc = send_error(c, ep, 429, "rum.rateLimited", cors,
					 "more than %g requests/s from this address; retry in %u s",
					 cfg.rate_limit, wait);
			return 1;
		}
	}
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct conn *k = conn_of(c);
	if (*con_cls && conn_is_cut(k))
		return MHD_NO;
	if (*con_cls && *upload_size)
		stats_received(0, *upload_size);
	if (*con_cls && !*upload_size && conn_body_done(k) < 0)
		return MHD_NO;
	if (*con_cls == &other_marker) {
		if (*upload_size) {
			*upload_size = 0;
			return MHD_YES;
		}
		int kind;
		size_t ep = endpoint_of(url, &kind);
		return other_request(c, url, method, ep, kind == REQ_WRITE || kind == REQ_REPLAY,
				     con_cls);
	}
	struct req *r = *con_cls;
	if (r) {
		if (*upload_size) {
			size_t n = *upload_size;
			*upload_size = 0;
			if (r->answered)
				return MHD_YES;
			if (r->kind == REQ_SOURCEMAP)
				return sm_chunk(c, r, upload, n);
			if (!r->too_large && r->body.len + n > r->limit) {
				r->too_large = 1;
				buf_free(&r->body);
				/* Answer now; MHD closes the connection after it. */
				if (send_error(c, r->ep, 413, "rum.bodyTooLarge", 1,
					       "body larger than %zu bytes", r->limit) == MHD_YES)
					r->answered = 1;
			}
			if (r->too_large)
				return MHD_YES;
			if (__atomic_add_fetch(&buffered, n, __ATOMIC_RELAXED) > buffered_budget) {
				__atomic_sub_fetch(&buffered, n, __ATOMIC_RELAXED);
				buf_free(&r->body);
				r->too_large = 1;
				if (send_error(c, r->ep, 503, "rum.overloaded", 1,
					       "too much request data in progress; retry") ==
				    MHD_YES)
					r->answered = 1;
				return MHD_YES;
			}
			r->counted += n;
			if (buf_add(&r->body, upload, n) < 0) {
				r->too_large = 1;
				buf_free(&r->body);
			}
			return MHD_YES;
		}
		if (r->answered)
			return MHD_YES;
		return r->kind == REQ_WRITE	  ? write_end(c, r)
		       : r->kind == REQ_REPLAY	  ? replay_end(c, r)
		       : r->kind == REQ_SOURCEMAP ? sm_upload_end(c, r)
						  : check_end(c, r);
	}

	int kind;
	size_t ep = endpoint_of(url, &kind);
	if (conn_headers_done(k, ep) < 0)
		return MHD_NO;
	enum MHD_Result early;
	if (refuse_early(c, ep, kind, &early))
		return early;
	if (kind >= 0 && strcmp(method, kind == REQ_SOURCEMAP ? "PUT" : "POST") == 0 &&
	    is_public(c, url, strlen(url)))
		return body_begin(c, ep, (enum req_kind)kind, con_cls);
	*con_cls = &other_marker;
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;
	conn_request_done(conn_of(c));
	if (!r || *con_cls == &other_marker)
		return;
	*con_cls = NULL;
	__atomic_sub_fetch(&buffered, r->counted, __ATOMIC_RELAXED);
	req_put(r);
	__atomic_sub_fetch(&inflight, 1, __ATOMIC_RELAXED);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		conn_opened(c, socket_context);
	else
		conn_closed(socket_context);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	conn_request_line(conn_of(c));
	return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("microhttpd: %s", msg);
}

struct MHD_Daemon *http_start(int listen_fd, unsigned conn_limit)
{
	started = time(NULL);
	buffered_budget = (uint64_t)cfg.max_body * 8;
	if (buffered_budget < ((uint64_t)256 << 20))
		buffered_budget = (uint64_t)256 << 20;
	resp_ok = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp_ok)
		return NULL;
	MHD_add_response_header(resp_ok, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(resp_ok, "Access-Control-Allow-Credentials", "true");
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_USE_TURBO | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (cfg.tls_cert)
		flags |= MHD_USE_TLS;
	if (cfg.rate_limit > 0 && rl_init(cfg.rate_limit, cfg.rate_burst, cfg.rate_table) < 0)
		return NULL;
	if (conns_start() < 0)
		return NULL;
	/* MHD's pool holds the headers and the read buffer: room for the
	 * largest headers we take, so that we answer 431 ourselves, and a
	 * little more. No more than that: MHD zeroes the whole pool after
	 * every request, and with 32 KiB extra that memset alone was ~4% of
	 * the intake's CPU; bodies are read in pieces whatever its size. */
	size_t pool = cfg.max_header + ((size_t)8 << 10);
	/* Ours refuses first, counting it; MHD's is the backstop. Both stay
	 * below the descriptors there are. */
	if (cfg.max_conns + 64 > conn_limit)
		cfg.max_conns = conn_limit > 128 ? conn_limit - 64 : conn_limit / 2;
	/* Ours refuses first, counting it; MHD's is the backstop. */
	unsigned hard_limit = cfg.max_conns + 64 < conn_limit ? cfg.max_conns + 64 : conn_limit;
	struct MHD_OptionItem ops[] = {
	    {MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL},
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
	    /* Inactivity in any state; the deadlines of each state are
	     * conns.c's. */
	    {MHD_OPTION_CONNECTION_TIMEOUT, cfg.keepalive_timeout, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, hard_limit, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)pool, NULL},
	    {cfg.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg.threads, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	if (cfg.tls_cert)
		return MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_ARRAY,
					ops, MHD_OPTION_HTTPS_CERT_CALLBACK2, tlscert_callback(),
					MHD_OPTION_END);
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_ARRAY, ops,
				MHD_OPTION_END);
}

void http_free(void)
{
	if (resp_ok)
		MHD_destroy_response(resp_ok);
	resp_ok = NULL;
	while (free_reqs) {
		struct req *r = free_reqs;
		free_reqs = r->next;
		buf_free(&r->body);
		free(r);
	}
}
