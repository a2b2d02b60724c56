/* rum-listen: HTTP intake of RUM SDK data; one JSON record per point on
 * stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conns.h"
#include "cpusched.h"
#include "dq.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "ratelimit.h"
#include "sig.h"
#include "tlscert.h"

struct listen_cfg cfg;

/* The options that need their own parsing; the others go straight into
 * cfg. */
enum {
	O_LISTEN = 1,
	O_ENDPOINT,
	O_REPLAY_ENDPOINT,
	O_MEASUREMENTS,
	O_APP_ID_ALLOW,
	O_ORIGIN_IP_HEADER,
	O_TRUSTED_PROXIES,
	O_PUBLIC_APIS,
	O_ADMIN_ALLOW,
	O_CORS_ORIGINS,
	O_RATE_LIMIT,
	O_RATE_BURST,
	O_GLOBAL_TAGS,
	O_TIME_CORRECTION,
	O_DATAWAY,
	O_CAPTURE_KEEP_HEADER,
	O_FSYNC_WHEN,
	O_FARO_ENDPOINT,
};

static struct dq_sync spool_sync; /* --fsync */

#define CFG(field) OPT_AT(struct listen_cfg, field)

/* clang-format off */
static const struct opt options[] = {
    {.name = "listen", .type = OPT_CALL, .key = O_LISTEN, .arg_name = "HOST:PORT",
     .def = "127.0.0.1:9529", .def_note = "; [::1]:9529 for IPv6",
     .help = "address to listen on"},
    {.name = "endpoint", .type = OPT_CALL, .key = O_ENDPOINT, .arg_name = "PATH",
     .def = "/v1/write/rum",
     .help = "RUM write endpoint; repeatable or a comma list"},
    {.name = "replay-endpoint", .type = OPT_CALL, .key = O_REPLAY_ENDPOINT, .arg_name = "PATH",
     .def = "/v1/write/rum/replay",
     .help = "session replay upload endpoint; repeatable or a comma list"},
    {.name = "measurements", .type = OPT_CALL, .key = O_MEASUREMENTS, .arg_name = "LIST",
     .def = "view,resource,action,long_task,error,telemetry",
     .help = "measurements accepted"},
    {.name = "app-id-allow", .type = OPT_CALL, .key = O_APP_ID_ALLOW, .arg_name = "LIST",
     .help = "app_id values accepted (default: any)"},
    {.name = "origin-ip-header", .type = OPT_CALL, .key = O_ORIGIN_IP_HEADER, .arg_name = "NAME",
     .def = "X-Forwarded-For",
     .help = "header holding the client address"},
    {.name = "trusted-proxies", .type = OPT_CALL, .key = O_TRUSTED_PROXIES, .arg_name = "CIDR...",
     .help = "peers whose address headers name the client (default: none, and the ip tag takes "
             "the headers from anyone, as DataKit does; limits then key on the peer)"},
    {.name = "public-apis", .type = OPT_CALL, .key = O_PUBLIC_APIS, .arg_name = "LIST",
     .help = "paths served to every client (default: the write and replay endpoints, "
             "/v1/ping and /v1/env_variable; empty: every path, as in DataKit)"},
    {.name = "admin-allow", .type = OPT_CALL, .key = O_ADMIN_ALLOW, .arg_name = "CIDR...",
     .help = "clients besides loopback served every path (sourcemap API, /metrics); others 403"},
    {.name = "disable-404page", .type = OPT_FLAG, CFG(disable_404),
     .help = "answer unknown paths with an empty 404 instead of a JSON error"},
    {.name = "cors-origins", .type = OPT_CALL, .key = O_CORS_ORIGINS, .arg_name = "LIST",
     .def = "*", .def_note = ": any",
     .help = "origins allowed to read the answers"},
    {.name = "tls-cert", .type = OPT_STRING, .arg_name = "FILE", CFG(tls_cert),
     .empty_why = "empty value",
     .help = "serve HTTPS with this PEM certificate chain (with --tls-key; reread on SIGHUP)"},
    {.name = "tls-key", .type = OPT_STRING, .arg_name = "FILE", CFG(tls_key),
     .empty_why = "empty value",
     .help = "the certificate's private key (PEM)"},
    {.name = "user", .type = OPT_STRING, .arg_name = "NAME", CFG(user),
     .empty_why = "empty value",
     .help = "after binding, drop root for this user and its group"},
    {.name = "max-connections", .type = OPT_UINT, .arg_name = "N", CFG(max_conns),
     .def = "10000", .def_note = ", below the descriptor limit", .min = 1, .max = 1000000,
     .help = "open connections at most; past it new ones are closed"},
    {.name = "max-connections-per-ip", .type = OPT_UINT, .arg_name = "N", CFG(max_conns_per_ip),
     .def = "256", .min = 1, .max = 1000000,
     .help = "open connections per client address, loopback and trusted proxies apart"},
    {.name = "max-header-kb", .type = OPT_UINT, .arg_name = "N", CFG(max_header),
     .def = "32", .min = 1, .max = 1024, .scale = 1024,
     .help = "request line and headers at most, past it 431"},
    {.name = "header-timeout", .type = OPT_UINT, .arg_name = "SECONDS", CFG(header_timeout),
     .def = "10", .min = 1, .max = 86400,
     .help = "to receive a request's headers, past it 408 and close"},
    {.name = "body-timeout", .type = OPT_UINT, .arg_name = "SECONDS", CFG(body_timeout),
     .def = "60", .min = 1, .max = 86400,
     .help = "to receive a request's body, past it 408 and close"},
    {.name = "keepalive-timeout", .type = OPT_UINT, .arg_name = "SECONDS", CFG(keepalive_timeout),
     .def = "60", .min = 1, .max = 86400,
     .help = "idle time between requests, and longest silence, before closing"},
    {.name = "max-requests-per-connection", .type = OPT_UINT, .arg_name = "N",
     CFG(max_requests_per_conn),
     .def = "10000", .def_note = "; 0: no limit", .min = 0, .max = 100000000,
     .help = "the last one is answered with Connection: close"},
    /* Off unless configured, as DataKit's request_rate_limit: behind a
     * load balancer not named in --trusted-proxies every request comes
     * from one address, and a default limit would refuse real traffic. */
    {.name = "rate-limit", .type = OPT_CALL, .key = O_RATE_LIMIT, .arg_name = "N",
     .def = "0", .def_note = ": no limit, as DataKit; loopback is never limited",
     .help = "requests per second per client address, past it 429"},
    {.name = "rate-burst", .type = OPT_CALL, .key = O_RATE_BURST, .arg_name = "N",
     .help = "requests a client may send at once (default 2 x rate)"},
    {.name = "rate-table", .type = OPT_UINT, .arg_name = "N", CFG(rate_table),
     .def = "65536", .min = 8, .max = 16777216,
     .help = "client addresses the rate limit remembers at most"},
    {.name = "global-tags", .type = OPT_CALL, .key = O_GLOBAL_TAGS, .arg_name = "K=V[,K=V]...",
     .help = "tags added to every point that lacks the key, as DataKit's global host tags; "
             "repeatable"},
    {.name = "time-correction", .type = OPT_CALL, .key = O_TIME_CORRECTION,
     .arg_name = "SECONDS|off", .def = "off",
     .def_note = "; DataKit's auto_timestamp_correction is 7200",
     .help = "a point further than this from our clock takes the current time, its own kept in "
             "the field __orig_time (ns)"},
    {.name = "faro-endpoint", .type = OPT_CALL, .key = O_FARO_ENDPOINT, .arg_name = "PATH",
     .def = "/collect",
     .help = "Grafana Faro Web SDK intake, PATH and PATH/<app_id>; repeatable or a comma list"},
    {.name = "faro-api-key", .type = OPT_STRING, .arg_name = "KEY", CFG(faro_api_key),
     .empty_why = "an empty key",
     .help = "the x-api-key Faro requests must carry, else 401 (default: none needed)"},
    {.name = "dataway", .type = OPT_CALL, .key = O_DATAWAY, .arg_name = "URL?token=TOKEN",
     .help = "Dataway that answers GET /v1/env_variable (without it: 404)"},
    {.name = "env-variable-ttl", .type = OPT_UINT, .arg_name = "SECONDS", CFG(env_ttl),
     .def = "60", .min = 1, .max = 86400,
     .help = "how long an app's /v1/env_variable answer is reused; past it, kept for when "
             "Dataway fails"},
    {.name = "dataway-timeout", .type = OPT_UINT, .arg_name = "SECONDS", CFG(dataway_timeout),
     .def = "5", .min = 1, .max = 60,
     .help = "longest wait for Dataway's /v1/env_variable answer"},
    {.name = "spool-dir", .type = OPT_STRING, .arg_name = "DIR", CFG(spool_dir),
     .empty_why = "empty directory name",
     .help = "accept requests to a disk queue in DIR first (needs --spool-capacity-mb)"},
    {.name = "spool-capacity-mb", .type = OPT_UINT, .arg_name = "N", CFG(spool_capacity_mb),
     .min = 1, .max = (uint64_t)1 << 24,
     .help = "size of the disk queue; the oldest requests are dropped past it"},
    {.name = "fsync", .type = OPT_CALL, .key = O_FSYNC_WHEN, .arg_name = "WHEN", .def = "never",
     .help = "when the spool is forced to disk: never (it survives a kill of rum-listen, not "
             "a power cut), batch (each request before its answer), interval:MS (at most MS "
             "of requests lost to a power cut)"},
    {.name = "max-body-mb", .type = OPT_UINT, .arg_name = "N", CFG(max_body),
     .def = "10", .min = 1, .max = 4096, .scale = (uint64_t)1 << 20,
     .help = "largest request body, as sent and decompressed"},
    {.name = "metrics-dir", .type = OPT_STRING, .arg_name = "DIR", CFG(metrics_dir),
     .empty_why = "empty directory name",
     .help = "also serve every DIR/*.prom on /metrics"},
    /* rum-collector's default, so that rum-listen alone stores archives
     * where the collector's rum-symbolicate reads them. */
    {.name = "data-dir", .type = OPT_STRING, .arg_name = "DIR", CFG(data_dir),
     .def_fn = opts_default_data_dir, .empty_why = "empty directory name",
     .help = "sourcemap archives go to DIR/rum/PLATFORM/ (default /var/lib/rumpipe as root, "
             "else $XDG_STATE_HOME/rumpipe)"},
    {.name = "token", .type = OPT_STRING, .arg_name = "TOKEN", CFG(token),
     .empty_why = "an empty token",
     .help = "token of the sourcemap upload and delete API (without it the API refuses)"},
    {.name = "symbolicate", .type = OPT_STRING, .arg_name = "PATH", CFG(symbolicate),
     .empty_why = "empty path",
     .help = "rum-symbolicate for /v1/sourcemap/check (default: next to rum-listen, else in "
             "PATH)"},
    {.name = "symbolicate-timeout", .type = OPT_UINT, .arg_name = "SECONDS",
     CFG(symbolicate_timeout),
     .def = "10", .min = 1, .max = 3600,
     .help = "longest a /v1/sourcemap/check may take"},
    {.name = "capture-dir", .type = OPT_STRING, .arg_name = "DIR", CFG(capture.dir),
     .empty_why = "empty directory name",
     .help = "write each sampled write or replay upload as it arrived to DIR, one raw HTTP "
             "message a file, for rum-replay"},
    {.name = "capture-sample", .type = OPT_UINT, .arg_name = "N", CFG(capture.sample),
     .def = "1", .min = 1, .max = 1000000000,
     .help = "capture one request in N"},
    {.name = "capture-max-mb", .type = OPT_UINT, .arg_name = "N", CFG(capture.max_bytes),
     .def = "100", .min = 1, .max = (uint64_t)1 << 24, .scale = (uint64_t)1 << 20,
     .help = "size of --capture-dir; past it the oldest files are removed"},
    {.name = "capture-keep-header", .type = OPT_CALL, .key = O_CAPTURE_KEEP_HEADER,
     .arg_name = "NAME",
     .help = "keep this header or query parameter as it came instead of redacting it (Cookie, "
             "Authorization, Proxy-Authorization, DD-API-KEY, token, dd-api-key); repeatable"},
    {.name = "capture-replay-bodies", .type = OPT_FLAG, CFG(capture.replay_bodies),
     .help = "also capture the bodies of session replay uploads (left out by default)"},
    {.name = "threads", .type = OPT_UINT, .arg_name = "N", CFG(threads),
     .def = "2", .min = 1, .max = 256,
     .help = "HTTP worker threads"},
    {.name = "queue", .type = OPT_UINT, .arg_name = "N", CFG(queue),
     .def = "1024", .min = 1, .max = 1000000,
     .help = "write requests in progress at once; past it 503"},
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info info = {
    "rum-listen",
    "[OPTION]...",
    "HTTP intake for RUM SDKs: POST line protocol or JSON to the write endpoints;\n"
    "every accepted point is written to stdout as one JSON record line, with the\n"
    "client address in the tag `ip`. Session replay uploads become session_replay\n"
    "records. Also serves the sourcemap API, /v1/ping and /metrics.",
};

static int strlist_add(struct strlist *l, const char *s, size_t n)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	char *c = strndup(s, n);
	if (!c)
		return -1;
	l->v[l->n++] = c;
	return 0;
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* s may hold NUL bytes (a name from a request): compared by length, not
 * as a C string. */
long strlist_find(const struct strlist *l, const char *s, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0)
			return (long)i;
	return -1;
}

int strlist_has(const struct strlist *l, const char *s, size_t n)
{
	return strlist_find(l, s, n) >= 0;
}

static const char *add_item(const char *s, size_t n, void *ctx)
{
	return strlist_add(ctx, s, n) < 0 ? "out of memory" : NULL;
}

static const char *add_path(const char *s, size_t n, void *ctx)
{
	if (s[0] != '/')
		return "a path must start with '/'";
	return add_item(s, n, ctx);
}

static const char *parse_listen(struct listen_cfg *c, const char *s)
{
	char host[256];
	const char *port;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return "expected [IPV6]:PORT";
		size_t n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof host)
			return "bad address";
		memcpy(host, s + 1, n);
		host[n] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return "expected HOST:PORT";
		if (strchr(s, ':') != colon)
			return "an IPv6 address needs brackets: [ADDR]:PORT";
		size_t n = (size_t)(colon - s);
		if (n >= sizeof host)
			return "bad address";
		memcpy(host, s, n);
		host[n] = '\0';
		port = colon + 1;
	}
	uint64_t p;
	if (opt_u64(port, 0, 65535, &p))
		return "port must be a number from 0 to 65535";
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	const char *h = host[0] && strcmp(host, "*") != 0 ? host : "0.0.0.0";
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%u", (unsigned)p);
	if (getaddrinfo(h, portstr, &hints, &res) != 0 || !res)
		return "cannot parse or resolve the address";
	memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
	c->addrlen = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	return NULL;
}

/* A positive number, fractions allowed (requests per second). */
static const char *parse_rate(const char *s, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > max)
		return "not a number from 0 up";
	*out = v;
	return NULL;
}

/* JSON takes it as it is: no quote, backslash, control or non-ASCII byte. */
static int json_plain_text(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ||
		    (unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static const char *add_global_tag(struct listen_cfg *c, const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n)
		return NULL;
	const char *eq = memchr(s, '=', n);
	if (!eq || eq == s || eq == s + n - 1)
		return "each item is KEY=VALUE, neither empty";
	char *key = strndup(s, (size_t)(eq - s)), *val = strndup(eq + 1, n - (size_t)(eq - s) - 1);
	if (!key || !val) {
		free(key);
		free(val);
		return "out of memory";
	}
	size_t i = 0;
	while (i < c->nglobal_tags && strcmp(c->global_tags[i].key, key) != 0)
		i++;
	if (i == MAX_GLOBAL_TAGS) {
		free(key);
		free(val);
		return "more than 64 tags";
	}
	if (i == c->nglobal_tags) {
		struct added_tag *v = realloc(c->global_tags, (i + 1) * sizeof *v);
		if (!v) {
			free(key);
			free(val);
			return "out of memory";
		}
		c->global_tags = v;
		c->nglobal_tags++;
	} else { /* a later value of a key replaces the earlier one */
		free((char *)c->global_tags[i].key);
		free((char *)c->global_tags[i].val);
	}
	c->global_tags[i] = (struct added_tag){
	    .key = key,
	    .val = val,
	    .val_len = strlen(val),
	    .lp_flags = (json_plain_text(key) ? LPF_KEY_SAFE : 0) |
			(json_plain_text(val) ? LPF_VAL_SAFE : 0),
	};
	return NULL;
}

/* Items separated by commas only: a value may hold spaces. */
static const char *parse_global_tags(struct listen_cfg *c, const char *s)
{
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *why = add_global_tag(c, s, n);
		if (why || !comma)
			return why;
		s = comma + 1;
	}
}

static const char *parse_time_correction(struct listen_cfg *c, const char *s)
{
	uint64_t v;
	if (strcmp(s, "off") == 0) {
		c->time_correction_ns = 0;
		return NULL;
	}
	/* Ten years at most, so that now ± it stays far inside int64. */
	if (opt_u64(s, 1, 315360000, &v))
		return "seconds from 1 to 315360000, or off";
	c->time_correction_ns = (int64_t)v * 1000000000;
	return NULL;
}

static const char *handle(int key, const char *val, void *ctx)
{
	struct listen_cfg *c = ctx;
	const char *why;
	switch (key) {
	case O_LISTEN:
		c->listen = val;
		return parse_listen(c, val);
	case O_ENDPOINT:
		return opt_list(val, add_path, &c->endpoints);
	case O_REPLAY_ENDPOINT:
		return opt_list(val, add_path, &c->replay_endpoints);
	case O_MEASUREMENTS:
		return opt_list(val, add_item, &c->measurements);
	case O_APP_ID_ALLOW:
		return opt_list(val, add_item, &c->app_allow);
	case O_ORIGIN_IP_HEADER:
		if (!*val || strpbrk(val, " \t\r\n:"))
			return "not a header name";
		c->origin_ip_header = val;
		return NULL;
	case O_ADMIN_ALLOW:
		return cidr_list_parse(&c->admin_allow, val);
	case O_TRUSTED_PROXIES:
		return cidr_list_parse(&c->trusted_proxies, val);
	case O_CORS_ORIGINS:
		return opt_list(val, add_item, &c->cors_origins);
	case O_RATE_LIMIT:
		return parse_rate(val, 1e9, &c->rate_limit);
	case O_RATE_BURST:
		c->rate_burst_set = 1;
		why = parse_rate(val, 1e9, &c->rate_burst);
		return why ? why : c->rate_burst < 1 ? "at least 1" : NULL;
	case O_GLOBAL_TAGS:
		return parse_global_tags(c, val);
	case O_TIME_CORRECTION:
		return parse_time_correction(c, val);
	case O_FARO_ENDPOINT:
		return opt_list(val, add_path, &c->faro_endpoints);
	case O_DATAWAY:
		c->dataway = val;
		return envvar_check_url(val);
	case O_CAPTURE_KEEP_HEADER:
		return capture_keep_header(val);
	case O_PUBLIC_APIS:
		c->public_apis_set = 1;
		return opt_list(val, add_path, &c->public_apis);
	case O_FSYNC_WHEN: {
		static char fsync_why[RUM_ERROR_MAX];
		struct rum_error e;
		if (dq_sync_parse(val, &spool_sync, &e) == 0)
			return NULL;
		snprintf(fsync_why, sizeof fsync_why, "%s", e.msg);
		return fsync_why;
	}
	}
	return "unknown option";
}

static void strlist_copy(struct strlist *to, const struct strlist *from)
{
	for (size_t i = 0; i < from->n; i++)
		if (strlist_add(to, from->v[i], strlen(from->v[i])) < 0)
			die(1, "out of memory");
}

/* The values that follow from others: what --public-apis, --rate-burst and
 * --cors-origins mean when not given, and where rum-symbolicate is. */
static void derive_config(void)
{
	if (!cfg.public_apis_set) {
		strlist_copy(&cfg.public_apis, &cfg.endpoints);
		strlist_copy(&cfg.public_apis, &cfg.replay_endpoints);
		if (strlist_add(&cfg.public_apis, "/v1/ping", 8) < 0 ||
		    strlist_add(&cfg.public_apis, "/v1/env_variable", 16) < 0)
			die(1, "out of memory");
	}
	if (!cfg.rate_burst_set)
		cfg.rate_burst = cfg.rate_limit * 2 < 1 ? 1 : cfg.rate_limit * 2;
	/* "*" alone means any origin, as the list left empty does. */
	if (cfg.cors_origins.n == 1 && strcmp(cfg.cors_origins.v[0], "*") == 0)
		strlist_free(&cfg.cors_origins);
	/* rum-symbolicate installed with us, wherever that is. */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash && (size_t)(slash - self) + 17 < sizeof cfg.symbolicate_auto)
			snprintf(cfg.symbolicate_auto, sizeof cfg.symbolicate_auto,
				 "%.*s/rum-symbolicate", (int)(slash - self), self);
	}
}

/* Options that only make sense together. */
static void check_config(void)
{
	for (size_t i = 0; i < cfg.replay_endpoints.n; i++)
		if (strlist_has(&cfg.endpoints, cfg.replay_endpoints.v[i],
				strlen(cfg.replay_endpoints.v[i])))
			die(2, "--replay-endpoint %s is also a --endpoint",
			    cfg.replay_endpoints.v[i]);
	if (!!cfg.tls_cert != !!cfg.tls_key)
		die(2, "--tls-cert and --tls-key go together: give both or neither");
	if (cfg.tls_cert && !MHD_is_feature_supported(MHD_FEATURE_TLS))
		die(2, "--tls-cert: this libmicrohttpd is built without TLS");
	if (!!cfg.spool_dir != !!cfg.spool_capacity_mb)
		die(2, "--spool-dir and --spool-capacity-mb go together: give both or neither");
}

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
		snprintf(out, outlen, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", host, port);
	}
}

static int open_listener(void)
{
	int fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(1, "socket: %s", strerror(errno));
	int one = 1, zero = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die(1, "setsockopt: %s", strerror(errno));
	/* "[::]" takes IPv4 clients too. */
	if (cfg.addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0)
		log_warn("--listen %s: IPv4 clients may not reach it: %s", cfg.listen,
			 strerror(errno));
	if (bind(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) < 0)
		die(1, "cannot listen on %s (--listen): %s", cfg.listen, strerror(errno));
	if (listen(fd, 4096) < 0)
		die(1, "listen on %s: %s", cfg.listen, strerror(errno));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char where[INET6_ADDRSTRLEN + 16];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_str(&ss, where, sizeof where);
	else
		snprintf(where, sizeof where, "%s", cfg.listen);
	log_info("listening on %s", where);
	return fd;
}

/* Many keep-alive connections need descriptors. */
static unsigned raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1000;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;
		want.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	rlim_t n = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
	return n > 128 ? (unsigned)(n - 64) : 64;
}

static void write_metrics_file(int force)
{
	if (!common_opts.metrics_file)
		return;
	stats_refresh();
	if (force) {
		if (metrics_write_file(common_opts.metrics_file) < 0)
			log_warn("--metrics-file %s: %s", common_opts.metrics_file,
				 strerror(errno));
	} else {
		metrics_maybe_write(common_opts.metrics_file, 5000);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Root was needed to bind a port below 1024 and to read the key, both done:
 * from here on only the user's rights, its primary group alone. Checked
 * after, as a failed drop must not go unnoticed. */
static void drop_privileges(const char *name)
{
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (!pw)
		die(2, "--user %s: %s", name, errno ? strerror(errno) : "no such user");
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (geteuid() != 0) {
		if (geteuid() == uid && getegid() == gid)
			return;
		die(1, "--user %s: only root can become another user", name);
	}
	if (setgroups(1, &gid) < 0)
		die(1, "--user %s: setgroups: %s", name, strerror(errno));
	if (setgid(gid) < 0)
		die(1, "--user %s: setgid: %s", name, strerror(errno));
	if (setuid(uid) < 0)
		die(1, "--user %s: setuid: %s", name, strerror(errno));
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[2];
	int ng = getgroups(2, groups);
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid || ng != 1 ||
	    groups[0] != gid || (uid != 0 && (setuid(0) == 0 || setgid(0) == 0)))
		die(1, "--user %s: the privileges were not dropped", name);
	log_info("running as %s (uid %u, gid %u)", name, (unsigned)uid, (unsigned)gid);
}

/* Until SIGTERM or SIGINT (or stdout gone): SIGHUP rereads the
 * certificate; the metrics file is written every few seconds. */
static void serve(const sigset_t *set)
{
	while (!output_failed && !sig_term) {
		struct timespec ts = {0, 200 * 1000000L};
		int sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP && cfg.tls_cert) {
			/* The listener stays; new handshakes get the new pair. */
			if (tlscert_load(cfg.tls_cert, cfg.tls_key) == 0)
				log_info("SIGHUP: certificate %s reloaded", cfg.tls_cert);
			else
				log_warn("SIGHUP: keeping the certificate in use");
		} else if (sig == SIGHUP) {
			log_debug("SIGHUP: nothing to reload");
		}
		write_metrics_file(0);
	}
}

/* Stop taking connections, let the requests in progress finish, then
 * pass on what was accepted. Returns only when all went well. */
static void stop(struct MHD_Daemon *d)
{
	http_stopping();
	/* The quiesced socket may still be looked at by the pool threads
	 * until the daemon stops, so it is only shut down (new connections
	 * are refused) and closed after. */
	int lfd = MHD_quiesce_daemon(d);
	if (lfd >= 0)
		shutdown(lfd, SHUT_RDWR);
	int waited = 0;
	while (http_active_requests() && !output_failed && waited < 10000) {
		sleep_ms(10);
		waited += 10;
	}
	if (http_active_requests() && !output_failed) {
		log_error("%u requests still in progress after 10 s; exiting",
			  http_active_requests());
		write_metrics_file(1);
		_exit(1);
	}
	if (!output_failed) {
		MHD_stop_daemon(d);
		if (lfd >= 0)
			close(lfd);
		conns_stop();
	}
	output_stop(5000);
	capture_free(); /* writes what it holds: counted in the metrics */
	write_metrics_file(1);
	if (output_failed) {
		fflush(stderr);
		_exit(1);
	}
}

static void free_config(void)
{
	strlist_free(&cfg.endpoints);
	strlist_free(&cfg.replay_endpoints);
	strlist_free(&cfg.faro_endpoints);
	strlist_free(&cfg.measurements);
	strlist_free(&cfg.app_allow);
	strlist_free(&cfg.public_apis);
	strlist_free(&cfg.cors_origins);
	cidr_list_free(&cfg.admin_allow);
	cidr_list_free(&cfg.trusted_proxies);
	for (size_t i = 0; i < cfg.nglobal_tags; i++) {
		free((char *)cfg.global_tags[i].key);
		free((char *)cfg.global_tags[i].val);
	}
	free(cfg.global_tags);
}

int main(int argc, char **argv)
{
	int first = opts_parse(argc, argv, &info, options, handle, &cfg);
	opts_no_operands(argc, argv, first, "rum-listen takes options only");
	check_config();
	derive_config();
	if (cfg.tls_cert && tlscert_load(cfg.tls_cert, cfg.tls_key) < 0)
		die(1, "cannot use --tls-cert %s --tls-key %s", cfg.tls_cert, cfg.tls_key);
	opts_check_done();
	dq_sync_default(spool_sync);
	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot set up signals: %s", strerror(errno));
	/* Signals are taken synchronously by the main thread only; the
	 * threads started below inherit the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		die(1, "cannot block signals");

	unsigned conn_limit = raise_fd_limit();
	if (stats_init() < 0)
		die(1, "out of memory");
	if (envvar_init() < 0)
		die(1, "cannot set up the Dataway client (--dataway)");
	int fd = open_listener();
	if (cfg.user)
		drop_privileges(cfg.user);
	/* As the user the captures belong to. */
	struct rum_error err;
	if (capture_start(&cfg.capture, &err) < 0)
		die(1, "%s", err.msg);
	if (output_start() < 0)
		return 1;
	struct MHD_Daemon *d = http_start(fd, conn_limit);
	if (!d)
		die(1, "cannot start the HTTP server on %s", cfg.listen);
	serve(&set);
	stop(d);
	envvar_free();
	http_free();
	free_config();
	rl_free();
	tlscert_free();
	log_info("stopped");
	return 0;
}
