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

#define CFG(field) OPT_AT(struct stage_config, field)
#define TEN_YEARS_S (10ull * 365 * 86400)

/* clang-format off */
static const struct opt options[] = {
    {.name = "cdn-map", .type = OPT_STRING, .arg_name = "FILE|JSON", CFG(map_arg),
     .help = "CDN map replacing the built-in one: a file, or the JSON itself when it starts "
             "with '[' (DataKit's cdn_map: [{\"domain\":...,\"name\":...,\"website\":...}]); "
             "reread on SIGHUP"},
    {.name = "dns-server", .type = OPT_STRING, .arg_name = "IP[:PORT]", CFG(dns_server),
     .help = "DNS server(s) to ask, comma separated (default: the system's resolver "
             "configuration)"},
    {.name = "dns-timeout", .type = OPT_UINT, .arg_name = "MS", CFG(dns_timeout_ms),
     .def = "2000", .min = 10, .max = 600000,
     .help = "longest a record waits for its answer before it leaves as unknown"},
    {.name = "max-inflight", .type = OPT_UINT, .arg_name = "N", CFG(max_inflight),
     .def = "128", .min = 1, .max = 65536,
     .def_note = "; a few hundred queries at once overflow the socket buffers of a resolver, or "
                 "ours, and are lost",
     .help = "DNS lookups in flight at most"},
    {.name = "max-pending", .type = OPT_UINT, .arg_name = "N", CFG(max_pending),
     .def = "8192", .def_note = "; also 16 MiB at most", .min = 1, .max = 1 << 20,
     .help = "records held at most while answers are awaited"},
    {.name = "keep-order", .type = OPT_FLAG, CFG(keep_order),
     .help = "records that need no lookup (other measurements, IP hosts, cached hosts) wait "
             "behind those that do, so that the output is in the input's order; by default "
             "they leave at once (records waiting for an answer still leave in order among "
             "themselves)"},
    {.name = "cache-size", .type = OPT_UINT, .arg_name = "N", CFG(cache_size),
     .def = "16384", .def_note = "; 0: none", .min = 0, .max = 1 << 22,
     .help = "hosts remembered"},
    {.name = "cache-ttl", .type = OPT_UINT, .arg_name = "SECONDS", CFG(cache_ttl_s),
     .def = "604800", .def_note = ", 7 days", .min = 0, .max = TEN_YEARS_S,
     .help = "how long an answer is remembered"},
    {.name = "negative-ttl", .type = OPT_UINT, .arg_name = "SECONDS", CFG(negative_ttl_s),
     .def = "600", .min = 0, .max = TEN_YEARS_S,
     .help = "how long a failed lookup is remembered"},
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info info = {
    "rum-cdn",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output (in the same order with --keep-order). Each resource record whose resource_url_host is "
    "a domain name "
    "gets the fields provider_type (CDN when the name is an alias, by CNAME, of another name; "
    "first-party when it has no CNAME; unknown when the lookup failed or the host is an IP "
    "address or not a valid name) and provider_name (the CDN whose domain in the CDN map the "
    "canonical name falls under, else unknown). Lookups are asynchronous, many in flight, "
    "cached; a record waits at most --dns-timeout. Other records pass byte for byte.",
};

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
	int first = opts_parse(argc, argv, &info, options, NULL, &s.cfg);
	opts_no_operands(argc, argv, first, "records are read from standard input");
	struct rum_error err;
	s.map = stage_load_map(s.cfg.map_arg, &err);
	if (!s.map)
		die(2, "%s", err.msg);
	if (stage_init(&s, &err) < 0)
		die(1, "%s", err.msg);
	if (stage_set_dns_servers(&s, &err) < 0)
		die(2, "%s", err.msg);
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
