/* rum-listen: the pieces shared between its files. */
#ifndef RUM_LISTEN_H
#define RUM_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "archname.h"
#include "buf.h"
#include "capture.h"
#include "cidr.h"
#include "jsonbody.h"
#include "lp.h"

struct strlist {
	char **v;
	size_t n, cap;
};

struct listen_cfg {
	const char *listen;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct strlist endpoints;
	struct strlist measurements;
	struct strlist app_allow; /* empty: every app_id */
	const char *origin_ip_header;
	struct strlist public_apis;
	int public_apis_set;
	int disable_404;
	const char *spool_dir;
	uint64_t spool_capacity_mb;
	size_t max_body; /* bytes, raw and decompressed */
	const char *metrics_dir;
	unsigned threads;
	unsigned queue;
	struct strlist replay_endpoints;
	const char *data_dir;
	const char *token;	      /* NULL: the sourcemap upload and delete refuse */
	const char *symbolicate;      /* --symbolicate, or NULL */
	char symbolicate_auto[4096];  /* rum-symbolicate next to our executable */
	unsigned symbolicate_timeout; /* seconds */
	/* Exposure to the public network (issue 9). */
	struct cidr_list admin_allow;	  /* besides loopback: every path */
	struct cidr_list trusted_proxies; /* peers whose address headers count */
	struct strlist cors_origins;	  /* empty: any origin */
	const char *tls_cert, *tls_key;
	const char *user;
	unsigned max_conns, max_conns_per_ip;
	size_t max_header; /* bytes of the request line and headers */
	unsigned header_timeout, body_timeout, keepalive_timeout; /* seconds */
	unsigned max_requests_per_conn;
	double rate_limit, rate_burst; /* requests/s per client; 0: off */
	int rate_burst_set;
	unsigned rate_table;
	/* DataKit's feed (issue 19): tags added where a point lacks them,
	 * and the time of points further than this from our clock (0: off)
	 * corrected. */
#define MAX_GLOBAL_TAGS 64
	struct added_tag *global_tags;
	size_t nglobal_tags;
	int64_t time_correction_ns;
	/* GET /v1/env_variable, answered from Dataway (envvar.c). */
	/* Other browser SDKs (sdkhttp.c): Faro's paths and its key. */
	struct strlist faro_endpoints;
	const char *faro_api_key;	   /* NULL: none needed */
	const char *dataway;		   /* NULL: 404 */
	unsigned env_ttl, dataway_timeout; /* seconds */
	struct capture_cfg capture; /* --capture-dir... (capture.c) */
};

extern struct listen_cfg cfg;

int strlist_has(const struct strlist *l, const char *s, size_t n);
/* Index of s in l, or -1. */
long strlist_find(const struct strlist *l, const char *s, size_t n);

/* ---- counters (stats.c) ---- */
enum { EP_WRITE_FIRST = 0 }; /* endpoint index: 0..n-1 the write endpoints, then: */
size_t stats_ep_ping(void);
size_t stats_ep_metrics(void);
size_t stats_ep_other(void);
size_t stats_ep_replay(size_t i); /* i-th --replay-endpoint */
size_t stats_ep_sourcemap(void);
size_t stats_ep_sourcemap_check(void);
size_t stats_ep_env_variable(void);
size_t stats_ep_datadog(void); /* Datadog requests, whatever their path */
size_t stats_ep_faro(void);
void stats_replay(uint64_t bytes);
enum env_source { ENV_FROM_CACHE, ENV_FROM_DATAWAY, ENV_FROM_STALE };
void stats_env_answer(enum env_source src);
void stats_env_fetch_failed(void);
void stats_sourcemap(int uploaded); /* 1 an upload stored, 0 a deletion */
/* Looks every counter up; -1 when out of memory. */
int stats_init(void);
void stats_request(size_t ep, unsigned code);
void stats_reject(const char *error_code);
void stats_points(size_t meas_index, uint64_t n);
void stats_bytes_in(uint64_t raw, uint64_t decoded);
/* Every byte of requests as received: their headers, their bodies. */
void stats_received(uint64_t headers, uint64_t body);
void stats_conn(int delta);
/* Spool gauges, refreshed before the metrics are formatted. */
void stats_refresh(void);

/* ---- output (output.c): stdout, or the spool in front of it ---- */
int output_start(void);
/* Emits one request's records (complete lines). 0 ok, -1 failure. */
int output_emit(const char *p, size_t n);
/* Drains the spool for at most timeout_ms; stops the consumer. */
void output_stop(int timeout_ms);
struct dq;
struct dq *output_spool(void); /* NULL without --spool-dir */
/* Set when stdout is gone (EPIPE...): the daemon stops with status 1. */
extern volatile int output_failed;

/* ---- request bodies (decode.c) ---- */
enum body_enc { ENC_IDENTITY, ENC_GZIP, ENC_DEFLATE, ENC_ZSTD, ENC_BR };
enum { DEC_OK = 0, DEC_TOOBIG = 1, DEC_CORRUPT = 2, DEC_NOMEM = 3 };
/* Case-insensitive name (gzip, x-gzip, deflate, zstd, br, identity). */
int decode_name(const char *s, enum body_enc *e);
/* Decompress in[0..n) into out (reset first), at most limit bytes. */
int decode_body(enum body_enc e, const char *in, size_t n, size_t limit, struct buf *out,
		const char **why);

/* ---- validation and conversion (intake.c) ---- */
struct intake_in {
	const char *body;
	size_t len;
	int json;
	enum lp_precision precision;
	int64_t now_ns;
	const char *ip;
	size_t ip_len;
};

struct intake_err {
	unsigned status;
	const char *code;
	char msg[512];
};

/* Fills err (msg from fmt) and returns -1, for `return intake_fail(...)`. */
int intake_fail(struct intake_err *err, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends one JSON record line per point to out; counts points per
 * measurement into per_meas (cfg.measurements.n cells, zeroed by the caller).
 * 0 when every point is good; -1 with err filled (out then holds garbage). */
int intake_parse(const struct intake_in *in, struct buf *out, uint64_t *per_meas, size_t *npoints,
		 struct intake_err *err);

/* ---- session replay uploads (replay.c) ---- */
#define REPLAY_MAX_BODY ((size_t)32 << 20)
#define REPLAY_MAX_FIELDS 1000 /* tags of a record stay below REC_MAX_TAGS */

struct replay_header {
	const char *name; /* as it is forwarded */
	const char *value;
};

struct replay_in {
	const char *body;
	size_t len;
	const char *ctype; /* the request's Content-Type, or NULL */
	const struct replay_header *headers;
	size_t nheaders;
	const char *ip;
	size_t ip_len;
	int64_t now_ns;
};

/* Appends the session_replay record line of an upload to out. 0, or -1
 * with err filled (out then holds garbage). */
int replay_record(const struct replay_in *in, struct buf *out, struct intake_err *err);

/* ---- sourcemap API (sourcemap_api.c) ---- */
#define SOURCEMAP_MAX_FILE ((size_t)100 << 20)
/* The body may carry the form's framing around the file. */
#define SOURCEMAP_MAX_BODY (SOURCEMAP_MAX_FILE + ((size_t)1 << 20))

struct sm_target {
	char platform[8];
	char dir[4096];		     /* <data-dir>/rum/<platform> */
	char name[ARCHIVE_NAME_MAX]; /* <app_id>-<env>-<version>.zip (archname.h) */
	char path[4352];	     /* dir/name */
};

/* The token check, in constant time. 0 or -1 with err. */
int sm_token_check(const char *given, struct intake_err *err);
/* Checks the arguments and names the archive. platform may be NULL or ""
 * (web). 0 or -1 with err. */
int sm_target_of(const char *platform, const char *app_id, const char *env, const char *version,
		 struct sm_target *t, struct intake_err *err);
/* A nameless file in the target's directory (created if needed) to take an
 * upload's body. The descriptor, or -1 with err. */
int sm_upload_begin(const struct sm_target *t, struct intake_err *err);
/* The body is in fd (len bytes): finds the part `file`, checks it is a zip
 * and puts it in place atomically. 0 or -1 with err. Closes nothing. */
int sm_upload_finish(int fd, size_t len, const char *ctype, const struct sm_target *t,
		     struct intake_err *err);
int sm_delete(const struct sm_target *t, struct intake_err *err);

struct sm_check_in {
	const char *platform, *app_id, *env, *version, *error_type;
	const char *stack;
};
/* Runs `rum-symbolicate stack` on the stack. 1: restored (into out);
 * 0: not restored (the reason in err->msg); -1: could not run, err filled. */
int sm_check(const struct sm_check_in *in, struct buf *out, struct intake_err *err);

/* ---- GET /v1/env_variable (envvar.c) ---- */
/* NULL when the --dataway URL can be used, else why not. */
const char *envvar_check_url(const char *url);
/* Before any thread starts: 0, or -1 (out of memory). */
int envvar_init(void);
/* Waits for the fetches to end, then frees the cache. */
void envvar_free(void);

/* ---- HTTP (http.c, and the files http.h lists) ---- */
struct MHD_Daemon;
struct MHD_Daemon *http_start(int listen_fd, unsigned conn_limit);
/* From now on responses close their connection. */
void http_stopping(void);
void http_free(void);
/* Requests between their first byte and their answer. */
unsigned http_active_requests(void);

#endif
