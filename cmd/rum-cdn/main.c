/* rum-cdn: records on stdin → the same records, resource records with
 * provider_type and provider_name from the CNAME chain of their host and a
 * CDN map → stdout. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpusched.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "sig.h"
#include "stage.h"

enum {
	O_CDN_MAP = 1,
	O_DNS_SERVER,
	O_DNS_TIMEOUT,
	O_MAX_INFLIGHT,
	O_MAX_PENDING,
	O_CACHE_SIZE,
	O_CACHE_TTL,
	O_NEGATIVE_TTL,
};

static const struct opt options[] = {
    {"cdn-map", 0, 1, O_CDN_MAP, "FILE|JSON",
     "CDN map replacing the built-in one: a file, or the JSON itself when it starts with '[' "
     "(DataKit's cdn_map: [{\"domain\":...,\"name\":...,\"website\":...}]); reread on SIGHUP"},
    {"dns-server", 0, 1, O_DNS_SERVER, "IP[:PORT]",
     "DNS server(s) to ask, comma separated (default: the system's resolver configuration)"},
    {"dns-timeout", 0, 1, O_DNS_TIMEOUT, "MS",
     "longest a record waits for its answer before it leaves as unknown (default 2000)"},
    {"max-inflight", 0, 1, O_MAX_INFLIGHT, "N",
     "DNS lookups in flight at most (default 128; a few hundred queries at once overflow the "
     "socket buffers of a resolver, or ours, and are lost)"},
    {"max-pending", 0, 1, O_MAX_PENDING, "N",
     "records held at most while answers are awaited (default 8192; also 16 MiB at most)"},
    {"cache-size", 0, 1, O_CACHE_SIZE, "N", "hosts remembered (default 16384; 0: none)"},
    {"cache-ttl", 0, 1, O_CACHE_TTL, "SECONDS",
     "how long an answer is remembered (default 604800, 7 days)"},
    {"negative-ttl", 0, 1, O_NEGATIVE_TTL, "SECONDS",
     "how long a failed lookup is remembered (default 600)"},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const struct prog_info info = {
    "rum-cdn",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output in the same order. Each resource record whose resource_url_host is a domain name "
    "gets the fields provider_type (CDN when the name is an alias, by CNAME, of another name; "
    "first-party when it has no CNAME; unknown when the lookup failed or the host is an IP "
    "address or not a valid name) and provider_name (the CDN whose domain in the CDN map the "
    "canonical name falls under, else unknown). Lookups are asynchronous, many in flight, "
    "cached; a record waits at most --dns-timeout. Other records pass byte for byte.",
};

static const char *on_opt(int key, const char *val, void *ctx)
{
	struct stage_config *c = ctx;
	switch (key) {
	case O_CDN_MAP:
		c->map_arg = val;
		return NULL;
	case O_DNS_SERVER:
		c->dns_server = val;
		return NULL;
	case O_DNS_TIMEOUT:
		return opt_u64(val, 10, 600000, &c->dns_timeout_ms);
	case O_MAX_INFLIGHT:
		return opt_u64(val, 1, 65536, &c->max_inflight);
	case O_MAX_PENDING:
		return opt_u64(val, 1, 1 << 20, &c->max_pending);
	case O_CACHE_SIZE:
		return opt_u64(val, 0, 1 << 22, &c->cache_size);
	case O_CACHE_TTL:
		return opt_u64(val, 0, 10ull * 365 * 86400, &c->cache_ttl_s);
	case O_NEGATIVE_TTL:
		return opt_u64(val, 0, 10ull * 365 * 86400, &c->negative_ttl_s);
	}
	return "unknown option";
}

static _Noreturn void finish(struct stage *s)
{
	stage_drain(s);
	if (!s->out.err)
		out_flush(&s->out);
	if (s->out.err) {
		log_error("writing standard output: %s", strerror(s->out.err));
		s->failed = 1;
	}
	stage_write_metrics(s, 1);
	int failed = s->failed;
	stage_free(s);
	exit(failed ? 1 : 0);
}

static _Noreturn void run(struct stage *s)
{
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st = lr_next(&s->lr, &line, &len);
		if (st == LR_LINE) {
			if (stage_line(s, line, len) < 0 || sig_term)
				break;
			continue;
		}
		if (st == LR_TOOLONG) {
			metric_inc(s->m_bad_long);
			log_rl(&s->rl_bad, RLOG_WARN,
			       "line %" PRIu64 ": longer than --max-line %zu; dropped",
			       s->lr.lineno, common_opts.max_line);
			continue;
		}
		if (st == LR_EOF)
			break;
		if (errno == EINTR) {
			if (sig_term)
				break;
			if (sig_hup)
				stage_reload(s);
			continue;
		}
		log_error("reading standard input: %s", strerror(errno));
		s->failed = 1;
		break;
	}
	finish(s);
}

int main(int argc, char **argv)
{
	static struct stage s;
	s.cfg = (struct stage_config){
	    .dns_timeout_ms = 2000,
	    .cache_ttl_s = 7 * 86400,
	    .negative_ttl_s = 600,
	    .cache_size = 16384,
	    .max_inflight = 128,
	    .max_pending = 8192,
	};
	int first = opts_parse(argc, argv, &info, options, on_opt, &s.cfg);
	if (first < argc)
		die(2, "unexpected argument '%s' (records are read from standard input)",
		    argv[first]);
	char msg[512];
	s.map = stage_load_map(s.cfg.map_arg, msg, sizeof msg);
	if (!s.map)
		die(2, "%s", msg);
	stage_init(&s);
	log_info("CDN map: %zu entries (%s)", cdnmap_count(s.map),
		 s.cfg.map_arg && *s.cfg.map_arg ? "--cdn-map" : "built in");
	opts_check_done();

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	if (lr_init(&s.lr, STDIN_FILENO, common_opts.max_line) < 0)
		die(1, "out of memory");
	s.lr.idle = stage_idle;
	s.lr.idle_ctx = &s;
	s.finish = finish;
	out_init(&s.out, STDOUT_FILENO);
	run(&s);
}
