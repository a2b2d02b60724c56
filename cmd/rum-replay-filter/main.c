/* rum-replay-filter: records on stdin → stdout, minus the session_replay
 * records (every record with --all) that match a filter rule in DataKit's
 * syntax. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpusched.h"
#include "errmsg.h"
#include "filter.h"
#include "fsutil.h"
#include "io.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "pull.h"
#include "sig.h"
#include "stageloop.h"

#define RULES_FILE_MAX ((size_t)16 << 20)
#define RULE_SHOWN_MAX 160 /* bytes of a rule quoted in a message */

struct cli {
	struct ruleset *fixed;
	const char *rules_file;
	int all;
	const char *pull;
	uint64_t pull_interval_ms;
};

enum { O_RULE = 1 };

/* clang-format off */
static const struct opt options[] = {
    {.name = "rule", .type = OPT_CALL, .key = O_RULE, .arg_name = "RULE",
     .help = "a filter rule in DataKit's syntax, e.g. \"{ service = 'xxx' or version IN ['v1', "
             "'v2'] }\"; repeatable (rules are ORed)"},
    {.name = "rules-file", .type = OPT_STRING, .arg_name = "FILE", OPT_AT(struct cli, rules_file),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "more rules, one a line (blank lines and lines starting with # skipped); read "
             "again on SIGHUP"},
    {.name = "all", .type = OPT_FLAG, OPT_AT(struct cli, all),
     .help = "apply the rules to every record, not only session_replay ones (a general drop "
             "list)"},
    {.name = "pull", .type = OPT_STRING, .arg_name = "URL", OPT_AT(struct cli, pull),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "the Dataway URL (https://host/?token=...): pull the workspace's filters for "
             "the rum category from it, as DataKit does, and drop every record they match"},
    {.name = "pull-interval", .type = OPT_UINT, .arg_name = "MS",
     OPT_AT(struct cli, pull_interval_ms), .def = "30000", .min = 100, .max = 86400000,
     .help = "how often to pull, until Dataway's answer names an interval of its own"},
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info info = {
    "rum-replay-filter",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output, except the session_replay records that match one of the filter rules, which "
    "are dropped and counted by app_id. Rules are in DataKit's filter syntax and see a "
    "record's tags, then its fields. With --pull, the workspace's filters pulled from "
    "Dataway drop every record they match as well. Records that do not match pass byte "
    "for byte. SIGHUP reads --rules-file again.",
};

/* "line 2, column 7: expected ..." (the line only when the rule has
 * several) into out. */
static void where(char *out, size_t outlen, const char *text, size_t n, const struct rum_error *e)
{
	size_t line, col;
	rule_position(text, n, e->offset, &line, &col);
	if (memchr(text, '\n', n))
		snprintf(out, outlen, "line %zu, column %zu: %s", line, col, e->msg);
	else
		snprintf(out, outlen, "column %zu: %s", col, e->msg);
}

static const char *on_opt(int key, const char *val, void *ctx)
{
	struct cli *cl = ctx;
	static char why[RUM_ERROR_MAX + 64];
	struct rum_error e;
	if (key != O_RULE)
		return "unknown option";
	if (ruleset_add(cl->fixed, val, strlen(val), &e) < 0) {
		where(why, sizeof why, val, strlen(val), &e);
		return why;
	}
	return NULL;
}

/* The whole file (a FIFO such as <(...) too), up to RULES_FILE_MAX. */
static int read_rules_file(const char *path, struct buf *b, struct rum_error *err)
{
	if (read_file(path, RULES_FILE_MAX, b, err) < 0) {
		err_prefix(err, "--rules-file %s", path);
		return -1;
	}
	return 0;
}

/* One rule that does not compile, as "--rules-file PATH line N: rule '...':
 * column C: why". */
static int bad_rule(const char *path, size_t lineno, const char *line, size_t n,
		    const struct rum_error *e, struct rum_error *err)
{
	char w[RUM_ERROR_MAX + 64], shown[RULE_SHOWN_MAX + 4];
	where(w, sizeof w, line, n, e);
	size_t k = n < RULE_SHOWN_MAX ? n : RULE_SHOWN_MAX;
	memcpy(shown, line, k);
	strcpy(shown + k, n > k ? "..." : "");
	return err_set(err, "--rules-file %s line %zu: rule '%s': %s", path, lineno, shown, w);
}

/* Compiles every rule of the file into a new ruleset. */
static int load_rules_file(const char *path, struct ruleset **out, struct rum_error *err)
{
	struct buf file = BUF_INIT;
	struct ruleset *rs = NULL;
	int rc = -1;
	if (read_rules_file(path, &file, err) < 0)
		goto out;
	rs = ruleset_new();
	if (!rs) {
		err_set(err, "--rules-file %s: out of memory", path);
		goto out;
	}
	const char *text = file.p;
	size_t len = file.len, lineno = 0;
	for (size_t at = 0; at < len;) {
		const char *line = text + at;
		const char *nl = memchr(line, '\n', len - at);
		size_t n = nl ? (size_t)(nl - line) : len - at;
		at += n + 1;
		lineno++;
		if (n && line[n - 1] == '\r')
			n--;
		size_t i = 0;
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == n || line[i] == '#')
			continue;
		struct rum_error e;
		if (ruleset_add(rs, line, n, &e) < 0) {
			bad_rule(path, lineno, line, n, &e, err);
			goto out;
		}
	}
	*out = rs;
	rs = NULL;
	rc = 0;
out:
	ruleset_free(rs);
	buf_free(&file);
	return rc;
}

struct stage {
	struct replay_filter f;
	struct stageloop loop;
	struct log_ratelimit rl_regex;
	const char *rules_file;
	struct puller puller;
	int pulling;
	uint64_t *m_rules, *m_reloads, *m_reload_failures, *m_pulled_rules;
	uint64_t regex_errors_logged;
};

static void set_rules_gauge(struct stage *s)
{
	metric_set(s->m_rules, ruleset_count(s->f.fixed) + ruleset_count(s->f.file));
}

/* A set the puller thread has pulled since the last record replaces the
 * one in use. */
static void take_pulled(struct stage *s)
{
	struct ruleset *rs = puller_take(&s->puller);
	if (!rs)
		return;
	size_t was = ruleset_count(s->f.pulled);
	ruleset_free(s->f.pulled);
	s->f.pulled = rs;
	metric_set(s->m_pulled_rules, ruleset_count(rs));
	log_info("%zu rules pulled from Dataway for rum (%zu before), applied to every record",
		 ruleset_count(rs), was);
}

static void maybe_reload(void *ctx)
{
	struct stage *s = ctx;
	if (s->pulling)
		take_pulled(s);
	if (!sig_hup)
		return;
	sig_hup = 0;
	if (!s->rules_file) {
		log_info("SIGHUP: no --rules-file to read again; the %zu --rule rules stay",
			 ruleset_count(s->f.fixed));
		return;
	}
	struct ruleset *rs;
	struct rum_error err;
	if (load_rules_file(s->rules_file, &rs, &err) < 0) {
		metric_inc(s->m_reload_failures);
		log_error("SIGHUP: %s; keeping the %zu rules in use", err.msg,
			  ruleset_count(s->f.fixed) + ruleset_count(s->f.file));
		return;
	}
	ruleset_free(s->f.file);
	s->f.file = rs;
	metric_inc(s->m_reloads);
	set_rules_gauge(s);
	log_info("SIGHUP: %zu rules from --rules-file %s (%zu in all)", ruleset_count(rs),
		 s->rules_file, ruleset_count(s->f.fixed) + ruleset_count(rs));
}

static enum sl_verdict one_record(void *ctx, const char *line, size_t len, struct buf *out,
				  struct rum_error *err)
{
	struct stage *s = ctx;
	enum sl_verdict v = SL_PASS;
	switch (rf_line(&s->f, line, len, err)) {
	case RF_PASS:
		break;
	case RF_DROP:
		v = SL_DROP;
		break;
	case RF_BAD:
		/* Not parsed: no rule ran. */
		return SL_BAD;
	}
	if (s->f.ev.regex_errors != s->regex_errors_logged) {
		s->regex_errors_logged = s->f.ev.regex_errors;
		log_rl(&s->rl_regex, RLOG_WARN,
		       "line %" PRIu64 ": a regular expression hit PCRE2's match limit; taken "
		       "as not matching",
		       s->loop.lr.lineno);
	}
	return v;
}

static void release(void *ctx)
{
	struct stage *s = ctx;
	if (s->pulling)
		puller_stop(&s->puller);
	ruleset_free(s->f.fixed);
	ruleset_free(s->f.file);
	ruleset_free(s->f.pulled);
	rf_free(&s->f);
}

static const struct stageloop_hooks hooks = {one_record, maybe_reload, release};

int main(int argc, char **argv)
{
	static struct stage s;
	struct cli cl = {.fixed = ruleset_new()};
	if (!cl.fixed)
		die(1, "out of memory");
	int first = opts_parse(argc, argv, &info, options, on_opt, &cl);
	opts_no_operands(argc, argv, first, "records are read from standard input");
	s.f.fixed = cl.fixed;
	s.f.all = cl.all;
	s.rules_file = cl.rules_file;
	if (s.rules_file) {
		struct rum_error err;
		if (load_rules_file(s.rules_file, &s.f.file, &err) < 0)
			die(2, "%s", err.msg);
	}
	size_t nrules = ruleset_count(s.f.fixed) + ruleset_count(s.f.file);
	if (nrules == 0 && !cl.pull)
		log_info("no rules: every record passes");
	else if (nrules == 0)
		log_info("no local rules: only the rules pulled from Dataway apply");
	else
		log_info("%zu rule%s (%zu from --rules-file), applied to %s", nrules,
			 nrules == 1 ? "" : "s", ruleset_count(s.f.file),
			 cl.all ? "every record" : "session_replay records");
	if (cl.pull) {
		struct rum_error err;
		if (puller_init(&s.puller, cl.pull, cl.pull_interval_ms, &err) < 0)
			die(2, "%s", err.msg);
		s.pulling = 1;
	}
	opts_check_done();

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	if (rf_init(&s.f) < 0)
		die(1, "out of memory");
	if (stageloop_init(&s.loop, "rum_replay_filter_invalid_lines_total") < 0)
		die(1, "out of memory");
	s.m_rules = metric_get("rum_replay_filter_rules", NULL, METRIC_GAUGE, "Rules in use.");
	s.m_reloads = metric_get("rum_replay_filter_reloads_total", NULL, METRIC_COUNTER,
				 "Times --rules-file was read again (SIGHUP).");
	s.m_reload_failures =
	    metric_get("rum_replay_filter_reload_failures_total", NULL, METRIC_COUNTER,
		       "Readings of --rules-file that failed (the rules in use were kept).");
	s.m_pulled_rules = metric_get(
	    "rum_replay_filter_pulled_rules", NULL, METRIC_GAUGE,
	    "Rules pulled from Dataway in use (--pull), beside rum_replay_filter_rules.");
	set_rules_gauge(&s);
	if (s.pulling) {
		struct rum_error err;
		if (puller_start(&s.puller, &err) < 0)
			die(1, "%s", err.msg);
		log_info("pulling the workspace's filters from %s every %" PRIu64 " ms",
			 s.puller.shown, cl.pull_interval_ms);
	}
	s.rl_regex = (struct log_ratelimit)LOG_RATELIMIT_INIT(1);
	/* Standard input as a 1 MiB pipe rather than the 64 KiB default: a
	 * replay record is ~70 KB, so rum-listen blocked in the middle of
	 * every one and each record cost both programs a wakeup or two. */
	pipe_grow(STDIN_FILENO, 1 << 20);
	stageloop_run(&s.loop, &hooks, &s);
}
