/* The main loop of a record filter (rum-enrich, rum-replay-filter,
 * rum-symbolicate): lines from standard input, each through the program's
 * record function, out to buffered standard output; invalid and over-long
 * lines counted and dropped; output flushed whenever input would block;
 * the metrics file written while idle and at exit; SIGHUP and file changes
 * looked at by the program's reload function, SIGTERM ends the loop.
 *
 * The per-record path is inline here so that a program's record and
 * reload functions, given in a static const hooks, are called directly
 * (and can be inlined) rather than through pointers. */
#ifndef RUM_STAGELOOP_H
#define RUM_STAGELOOP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "io.h"
#include "log.h"
#include "record.h"

#define STAGELOOP_METRICS_MS 2000 /* the metrics file is written this often */

enum sl_verdict {
	SL_PASS,   /* the line goes out as it was */
	SL_EDITED, /* the record and its '\n' were appended to the output buffer */
	SL_DROP,   /* nothing goes out */
	SL_BAD,	   /* not a record (err says why): counted, logged, dropped */
	SL_NOMEM,  /* the loop stops; exit status 1 */
};

struct stageloop_hooks {
	enum sl_verdict (*record)(void *ctx, const char *line, size_t len, struct buf *out,
				  struct rum_error *err);
	/* Before every record, after a signal and while waiting for input:
	 * SIGHUP (clear sig_hup) and whatever else the program watches. */
	void (*reload)(void *ctx);
	/* At exit, after output and metrics are written. */
	void (*release)(void *ctx);
};

struct stageloop {
	struct linereader lr;
	struct outbuf out;
	struct log_ratelimit rl_bad;
	uint64_t *m_bad_record, *m_bad_long;
	int idle_ms; /* longest wait for input between calls of reload */
	int failed;
	const struct stageloop_hooks *hooks;
	void *ctx;
};

/* Standard input and output, and the counters invalid_metric{reason=...}
 * of dropped lines. -1: out of memory. */
int stageloop_init(struct stageloop *l, const char *invalid_metric);

/* Flushes the output, writes the metrics file, calls release and exits:
 * 1 when reading or writing failed, else 0. */
_Noreturn void stageloop_finish(struct stageloop *l);

/* The rarer turns of the loop, kept out of line. */
void stageloop_bad(struct stageloop *l, const struct rum_error *err);
void stageloop_too_long(struct stageloop *l);
int stageloop_read_failed(struct stageloop *l); /* 1: read on (EINTR), 0: stop */

static inline int stageloop_record(struct stageloop *l, const struct stageloop_hooks *h, void *ctx,
				   const char *line, size_t len)
{
	struct rum_error err;
	switch (h->record(ctx, line, len, &l->out.b, &err)) {
	case SL_PASS:
		if (out_write(&l->out, line, len) < 0 || out_write(&l->out, "\n", 1) < 0)
			return -1;
		return 0;
	case SL_EDITED:
		if (l->out.b.len >= l->out.flush_at)
			return out_flush(&l->out);
		return 0;
	case SL_DROP:
		return 0;
	case SL_BAD:
		stageloop_bad(l, &err);
		return 0;
	case SL_NOMEM:
		break;
	}
	l->out.err = ENOMEM;
	return -1;
}

/* Runs until end of input, SIGTERM or a failure, then stageloop_finish.
 * ctx is handed to every hook. */
static inline _Noreturn void stageloop_run(struct stageloop *l, const struct stageloop_hooks *h,
					   void *ctx)
{
	l->hooks = h;
	l->ctx = ctx;
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st = lr_next(&l->lr, &line, &len);
		if (st == LR_LINE) {
			h->reload(ctx);
			if (stageloop_record(l, h, ctx, line, len) < 0)
				break;
			continue;
		}
		if (st == LR_TOOLONG) {
			stageloop_too_long(l);
			continue;
		}
		if (st == LR_EOF || !stageloop_read_failed(l))
			break;
	}
	stageloop_finish(l);
}

#endif
