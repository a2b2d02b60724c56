/* rum-jq: records on stdin → stdout, each through the jq program chosen for
 * it (PROGRAM or --file for every record; --dir programs named like
 * DataKit's Pipeline scripts by app_id and measurement); records no
 * program matches pass byte for byte without entering libjq. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cpusched.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "progdir.h"
#include "program.h"
#include "sig.h"
#include "stageloop.h"
#include "watchdog.h"

#define OPERAND_NAME "PROGRAM"

struct stage {
	struct stageloop loop;
	struct progdir dir;
	const char *dir_path, *file, *text;
	struct program *fixed; /* PROGRAM or --file */
	int drop_on_error;
	int inotify_fd; /* on --dir, or -1 */
	uint64_t max_ms;
	struct record rec;
	struct buf meas, app; /* decoded measurement and app_id, when escaped */
	struct run run;
	struct log_ratelimit rl_error;
	uint64_t *m_in, *m_passed, *m_programs, *m_reloads;
};

enum { O_ON_ERROR = 1 };

#define AT(field) OPT_AT(struct stage, field)

/* clang-format off */
static const struct opt options[] = {
    {.name = "file", .type = OPT_STRING, .arg_name = "FILE", AT(file),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "the program for every record, from FILE (instead of PROGRAM); read again on "
             "SIGHUP"},
    {.name = "dir", .type = OPT_STRING, .arg_name = "DIR", AT(dir_path),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "programs named <app_id>_<measurement>.jq, <measurement>.jq, default.jq: the "
             "most specific one runs (before PROGRAM or --file); watched with inotify and "
             "read again on SIGHUP"},
    {.name = "on-error", .type = OPT_CALL, .key = O_ON_ERROR, .arg_name = "pass|drop",
     .def = "pass",
     .help = "a record a program fails on (a jq error, an output that is not a record, "
             "--max-ms spent): pass it as it came, or drop it"},
    {.name = "max-ms", .type = OPT_UINT, .arg_name = "MS", AT(max_ms), .def = "100",
     .min = 1, .max = 600000,
     .help = "CPU time a program may spend on one record before it is stopped (an error)"},
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info info = {
    "rum-jq",
    "[OPTION]... [PROGRAM]",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output, each through a jq program (libjq): PROGRAM or --file for every record, or the "
    "programs of --dir named by app_id and measurement as DataKit names its Pipeline "
    "scripts. The program gets the record as `.` and may emit nothing (dropped), one "
    "record or several; what it emits must be a record, else the original passes "
    "(--on-error). Records no program matches pass byte for byte.",
};

static const char *on_opt(int key, const char *val, void *ctx)
{
	struct stage *s = ctx;
	if (key != O_ON_ERROR)
		return "unknown option";
	if (strcmp(val, "pass") == 0)
		s->drop_on_error = 0;
	else if (strcmp(val, "drop") == 0)
		s->drop_on_error = 1;
	else
		return "not pass or drop";
	return NULL;
}

/* The program for every record, compiled from the operand or --file. NULL
 * with err when it cannot be read or does not compile. */
static jq_state *compile_fixed(struct stage *s, struct rum_error *err)
{
	if (s->text) {
		jq_state *jq = program_compile(s->text, NULL, err);
		if (!jq)
			err_prefix(err, OPERAND_NAME);
		return jq;
	}
	struct buf text = BUF_INIT;
	jq_state *jq = NULL;
	if (read_file(s->file, PROGDIR_FILE_MAX, &text, err) == 0)
		jq = program_compile(text.p ? text.p : "", NULL, err);
	if (!jq)
		err_prefix(err, "--file %s", s->file);
	buf_free(&text);
	return jq;
}

static void reload_file(struct stage *s)
{
	struct rum_error err;
	jq_state *jq = compile_fixed(s, &err);
	if (!jq) {
		metric_inc(s->fixed->m_compile_errors);
		log_error("SIGHUP: %s; keeping the version in use", err.msg);
		return;
	}
	jq_teardown(&s->fixed->jq);
	s->fixed->jq = jq;
	metric_inc(s->m_reloads);
	log_info("SIGHUP: --file %s compiled again", s->file);
}

static void rescan(struct stage *s, const char *why)
{
	struct rum_error err;
	int rc = progdir_scan(&s->dir, 0, &err);
	if (rc == -2)
		die(1, "%s: %s", why, err.msg); /* out of memory: nothing kept */
	if (rc < 0) {
		log_error("%s: %s; keeping the %zu programs in use", why, err.msg,
			  progdir_count(&s->dir));
		return;
	}
	metric_inc(s->m_reloads);
	metric_set(s->m_programs, progdir_count(&s->dir));
}

static void maybe_reload(void *ctx)
{
	struct stage *s = ctx;
	int hup = sig_hup;
	if (!hup && !watchdog_dir_changed())
		return;
	sig_hup = 0;
	if (hup && s->file)
		reload_file(s);
	if (s->dir_path)
		rescan(s, hup ? "SIGHUP" : "--dir changed");
}

/* The program for the record in s->rec, or NULL. */
static struct program *choose(struct stage *s)
{
	struct program *p = NULL;
	if (s->dir.table) {
		const struct record *r = &s->rec;
		const char *meas, *app = NULL;
		size_t mlen, alen = 0;
		const struct rec_kv *kv = rec_tag(r, "app_id");
		if (rec_str(r->meas, r->meas_len, &s->meas, &meas, &mlen) < 0 ||
		    (kv && rec_str(kv->val, kv->val_len, &s->app, &app, &alen) < 0))
			return NULL; /* the codec checked both: out of memory */
		p = progdir_find(&s->dir, app, alen, meas, mlen);
	}
	if (!p && s->fixed && s->fixed->jq)
		p = s->fixed;
	return p;
}

static enum sl_verdict one_record(void *ctx, const char *line, size_t len, struct buf *out,
				  struct rum_error *err)
{
	struct stage *s = ctx;
	if (rec_parse_line(&s->rec, line, len, err) < 0)
		return SL_BAD;
	metric_inc(s->m_in);
	struct program *p = choose(s);
	if (!p) {
		metric_inc(s->m_passed);
		return SL_PASS;
	}
	struct rum_error rerr;
	switch (program_run(p, &s->run, line, len, &s->rec, &rerr)) {
	case RUN_OK:
		if (s->run.out.len == 0)
			return SL_DROP;
		if (buf_add(out, s->run.out.p, s->run.out.len) < 0)
			return SL_NOMEM;
		return SL_EDITED;
	case RUN_FAILED:
		log_rl(&s->rl_error, RLOG_WARN, "%s: line %" PRIu64 ": %s; the record %s", p->name,
		       s->loop.lr.lineno, rerr.msg, s->drop_on_error ? "is dropped" : "passes");
		return s->drop_on_error ? SL_DROP : SL_PASS;
	case RUN_NOMEM:
		break;
	}
	return SL_NOMEM;
}

static void release(void *ctx)
{
	struct stage *s = ctx;
	progdir_free(&s->dir);
	program_free(s->fixed);
	rec_free(&s->rec);
	jvrec_free(&s->run.w);
	buf_free(&s->run.out);
	buf_free(&s->meas);
	buf_free(&s->app);
}

static const struct stageloop_hooks hooks = {one_record, maybe_reload, release};

/* inotify on --dir, or -1 (then SIGHUP alone reads it again). */
static int watch_dir(const char *dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 &&
	    inotify_add_watch(fd, dir,
			      IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
				  IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) >= 0)
		return fd;
	log_warn("--dir %s: cannot watch it (%s): SIGHUP reads it again", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static void start_programs(struct stage *s, int first, int argc, char **argv)
{
	if (first < argc)
		s->text = argv[first];
	if (first + 1 < argc)
		die(2, "unexpected argument '%s' after " OPERAND_NAME, argv[first + 1]);
	if (s->text && s->file)
		die(2, "both " OPERAND_NAME " and --file %s: give one", s->file);
	if (!s->text && !s->file && !s->dir_path)
		die(2, "no program: give " OPERAND_NAME ", --file or --dir");
	struct rum_error err;
	if (s->text || s->file) {
		jq_state *jq = compile_fixed(s, &err);
		if (!jq)
			die(2, "%s", err.msg);
		s->fixed = program_new(s->text ? OPERAND_NAME : s->file, jq);
		if (!s->fixed)
			die(1, "out of memory");
	}
	s->inotify_fd = -1;
	if (s->dir_path) {
		/* Watched before it is read: no change falls in between. */
		s->inotify_fd = watch_dir(s->dir_path);
		s->dir.dir = s->dir_path;
		if (progdir_scan(&s->dir, 1, &err) < 0)
			die(2, "%s", err.msg);
		size_t n = progdir_count(&s->dir);
		log_info("--dir %s: %zu program%s%s", s->dir_path, n, n == 1 ? "" : "s",
			 n || s->fixed ? "" : " (every record passes until one is added)");
	}
}

int main(int argc, char **argv)
{
	static struct stage s;
	int first = opts_parse(argc, argv, &info, options, on_opt, &s);
	start_programs(&s, first, argc, argv);
	opts_check_done();

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	if (stageloop_init(&s.loop, "rum_jq_invalid_lines_total") < 0)
		die(1, "out of memory");
	s.m_in = metric_get("rum_jq_records_in_total", NULL, METRIC_COUNTER, "Records read.");
	s.m_passed = metric_get("rum_jq_passed_total", NULL, METRIC_COUNTER,
				"Records no program matched, passed byte for byte.");
	s.m_programs =
	    metric_get("rum_jq_programs", NULL, METRIC_GAUGE, "Programs of --dir in use.");
	s.m_reloads = metric_get("rum_jq_reloads_total", NULL, METRIC_COUNTER,
				 "Times --dir or --file was read again (SIGHUP, inotify).");
	metric_set(s.m_programs, progdir_count(&s.dir));
	s.run.max_line = common_opts.max_line;
	s.run.max_ms = (unsigned)s.max_ms;
	s.rl_error = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	struct rum_error err;
	if (watchdog_start((unsigned)s.max_ms, s.inotify_fd, &err) < 0)
		die(1, "%s", err.msg);
	stageloop_run(&s.loop, &hooks, &s);
}
