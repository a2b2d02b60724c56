/* rum-replay-filter: records on stdin → stdout, minus the session_replay
 * records (every record with --all) that match a filter rule in DataKit's
 * syntax. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpusched.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "sig.h"
#include "stageloop.h"

#define RULES_FILE_MAX ((size_t)16 << 20)
#define RULE_SHOWN_MAX 160 /* bytes of a rule quoted in a message */

enum { O_RULE = 1, O_RULES_FILE, O_ALL };

static const struct opt options[] = {
    {"rule", 0, 1, O_RULE, "RULE",
     "a filter rule in DataKit's syntax, e.g. \"{ service = 'xxx' or version IN ['v1', 'v2'] "
     "}\"; repeatable (rules are ORed)"},
    {"rules-file", 0, 1, O_RULES_FILE, "FILE",
     "more rules, one a line (blank lines and lines starting with # skipped); read again "
     "on SIGHUP"},
    {"all", 0, 0, O_ALL, NULL,
     "apply the rules to every record, not only session_replay ones (a general drop list)"},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const struct prog_info info = {
    "rum-replay-filter",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output, except the session_replay records that match one of the filter rules, which "
    "are dropped and counted by app_id. Rules are in DataKit's filter syntax and see a "
    "record's tags, then its fields. Records that do not match pass byte for byte. SIGHUP "
    "reads --rules-file again.",
};

struct cli {
	struct ruleset *fixed;
	const char *rules_file;
	int all;
};

/* "line 2, column 7: expected ..." (the line only when the rule has
 * several) into out. */
static void where(char *out, size_t outlen, const char *text, size_t n, const struct rule_error *e)
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
	static char why[640];
	switch (key) {
	case O_RULE: {
		struct rule_error e;
		if (ruleset_add(cl->fixed, val, strlen(val), &e) < 0) {
			where(why, sizeof why, val, strlen(val), &e);
			return why;
		}
		return NULL;
	}
	case O_RULES_FILE:
		cl->rules_file = *val ? val : NULL;
		return NULL;
	case O_ALL:
		cl->all = 1;
		return NULL;
	}
	return "unknown option";
}

/* The whole file (a FIFO such as <(...) too), up to RULES_FILE_MAX. */
static int read_file(const char *path, struct buf *b, char *msg, size_t msglen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msglen, "--rules-file %s: %s", path, strerror(errno));
		return -1;
	}
	const char *bad = NULL;
	b->limit = RULES_FILE_MAX + 65536 + 1;
	for (;;) {
		if (buf_reserve(b, 65536) < 0) {
			bad = "out of memory";
			break;
		}
		ssize_t r = read(fd, b->p + b->len, b->cap - b->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			bad = strerror(errno);
			break;
		}
		if (r == 0)
			break;
		b->len += (size_t)r;
		if (b->len > RULES_FILE_MAX) {
			bad = "larger than 16 MiB";
			break;
		}
	}
	close(fd);
	if (bad) {
		snprintf(msg, msglen, "--rules-file %s: %s", path, bad);
		return -1;
	}
	return 0;
}

/* Compiles every rule of the file into a new ruleset. */
static int load_rules_file(const char *path, struct ruleset **out, char *msg, size_t msglen)
{
	struct buf file = BUF_INIT;
	if (read_file(path, &file, msg, msglen) < 0) {
		buf_free(&file);
		return -1;
	}
	const char *text = file.p;
	size_t len = file.len;
	struct ruleset *rs = ruleset_new();
	if (!rs) {
		buf_free(&file);
		snprintf(msg, msglen, "--rules-file %s: out of memory", path);
		return -1;
	}
	size_t lineno = 0;
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
		struct rule_error e;
		if (ruleset_add(rs, line, n, &e) < 0) {
			char w[512], shown[RULE_SHOWN_MAX + 4];
			where(w, sizeof w, line, n, &e);
			size_t k = n < RULE_SHOWN_MAX ? n : RULE_SHOWN_MAX;
			memcpy(shown, line, k);
			strcpy(shown + k, n > k ? "..." : "");
			snprintf(msg, msglen, "--rules-file %s line %zu: rule '%s': %s", path,
				 lineno, shown, w);
			ruleset_free(rs);
			buf_free(&file);
			return -1;
		}
	}
	buf_free(&file);
	*out = rs;
	return 0;
}

struct stage {
	struct replay_filter f;
	struct stageloop loop;
	struct log_ratelimit rl_regex;
	const char *rules_file;
	uint64_t *m_rules, *m_reloads, *m_reload_failures;
	uint64_t regex_errors_logged;
};

static void set_rules_gauge(struct stage *s)
{
	metric_set(s->m_rules, ruleset_count(s->f.fixed) + ruleset_count(s->f.file));
}

static void maybe_reload(void *ctx)
{
	struct stage *s = ctx;
	if (!sig_hup)
		return;
	sig_hup = 0;
	if (!s->rules_file) {
		log_info("SIGHUP: no --rules-file to read again; the %zu --rule rules stay",
			 ruleset_count(s->f.fixed));
		return;
	}
	struct ruleset *rs;
	char msg[1024];
	if (load_rules_file(s->rules_file, &rs, msg, sizeof msg) < 0) {
		metric_inc(s->m_reload_failures);
		log_error("SIGHUP: %s; keeping the %zu rules in use", msg,
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
				  struct rec_error *err)
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
	ruleset_free(s->f.fixed);
	ruleset_free(s->f.file);
	rf_free(&s->f);
}

static const struct stageloop_hooks hooks = {one_record, maybe_reload, release};

/* Standard input as a 1 MiB pipe rather than the 64 KiB default: a replay
 * record is ~70 KB, so rum-listen blocked in the middle of every one and
 * each record cost both programs a wakeup or two. Not a pipe, or over the
 * system's limit: the pipe stays as it is. */
#define PIPE_WANT (1 << 20)
static void grow_pipe(int fd)
{
	int sz = fcntl(fd, F_GETPIPE_SZ);
	if (sz >= 0 && sz < PIPE_WANT && fcntl(fd, F_SETPIPE_SZ, PIPE_WANT) < 0)
		log_debug("cannot enlarge the input pipe: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static struct stage s;
	struct cli cl = {.fixed = ruleset_new()};
	if (!cl.fixed)
		die(1, "out of memory");
	int first = opts_parse(argc, argv, &info, options, on_opt, &cl);
	if (first < argc)
		die(2, "unexpected argument '%s' (records are read from standard input)",
		    argv[first]);
	s.f.fixed = cl.fixed;
	s.f.all = cl.all;
	s.rules_file = cl.rules_file;
	if (s.rules_file) {
		char msg[1024];
		if (load_rules_file(s.rules_file, &s.f.file, msg, sizeof msg) < 0)
			die(2, "%s", msg);
	}
	size_t nrules = ruleset_count(s.f.fixed) + ruleset_count(s.f.file);
	if (nrules == 0)
		log_info("no rules: every record passes");
	else
		log_info("%zu rule%s (%zu from --rules-file), applied to %s", nrules,
			 nrules == 1 ? "" : "s", ruleset_count(s.f.file),
			 cl.all ? "every record" : "session_replay records");
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
	set_rules_gauge(&s);
	s.rl_regex = (struct log_ratelimit)LOG_RATELIMIT_INIT(1);
	grow_pipe(STDIN_FILENO);
	stageloop_run(&s.loop, &hooks, &s);
}
