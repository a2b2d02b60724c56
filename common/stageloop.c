/* The cold half of the record filters' main loop (see stageloop.h). */
#include "stageloop.h"

#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "opts.h"
#include "sig.h"

/* Input would block: flush what is in hand, then wait for input while still
 * noticing what reload watches, SIGTERM and the metrics' turn. */
static void idle(void *p)
{
	struct stageloop *l = p;
	if (out_flush(&l->out) < 0)
		return; /* the main loop reports it */
	for (;;) {
		/* Returning would block in read(2) with the writer still there. */
		if (sig_term)
			stageloop_finish(l);
		l->hooks->reload(l->ctx);
		metrics_maybe_write(common_opts.metrics_file, STAGELOOP_METRICS_MS);
		struct pollfd pf = {.fd = l->lr.fd, .events = POLLIN};
		if (poll(&pf, 1, l->idle_ms) > 0)
			return;
	}
}

int stageloop_init(struct stageloop *l, const char *invalid_metric)
{
	l->m_bad_record = metric_get(invalid_metric, "reason=\"record\"", METRIC_COUNTER,
				     "Input lines dropped as invalid, by reason.");
	l->m_bad_long = metric_get(invalid_metric, "reason=\"too_long\"", METRIC_COUNTER, NULL);
	l->rl_bad = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	l->idle_ms = STAGELOOP_METRICS_MS;
	if (lr_init(&l->lr, STDIN_FILENO, common_opts.max_line) < 0)
		return -1;
	l->lr.idle = idle;
	l->lr.idle_ctx = l;
	out_init(&l->out, STDOUT_FILENO);
	return 0;
}

void stageloop_bad(struct stageloop *l, const struct rum_error *err)
{
	metric_inc(l->m_bad_record);
	log_rl(&l->rl_bad, RLOG_WARN, "line %" PRIu64 ": %s (at byte %zu); dropped", l->lr.lineno,
	       err->msg, err->offset);
}

void stageloop_too_long(struct stageloop *l)
{
	metric_inc(l->m_bad_long);
	log_rl(&l->rl_bad, RLOG_WARN, "line %" PRIu64 ": longer than --max-line %zu; dropped",
	       l->lr.lineno, common_opts.max_line);
}

int stageloop_read_failed(struct stageloop *l)
{
	if (errno == EINTR) {
		if (sig_term)
			return 0;
		l->hooks->reload(l->ctx);
		return 1;
	}
	log_error("reading standard input: %s", strerror(errno));
	l->failed = 1;
	return 0;
}

_Noreturn void stageloop_finish(struct stageloop *l)
{
	if (!l->out.err)
		out_flush(&l->out);
	if (l->out.err) {
		log_error("writing standard output: %s", strerror(l->out.err));
		l->failed = 1;
	}
	if (common_opts.metrics_file && metrics_write_file(common_opts.metrics_file) < 0)
		log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
			 strerror(errno));
	lr_free(&l->lr);
	out_free(&l->out);
	l->hooks->release(l->ctx);
	exit(l->failed ? 1 : 0);
}
