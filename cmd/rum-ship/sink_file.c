/* Records as NDJSON to a file (file:PATH) or standard output (-). Lines go
 * into an output buffer as they come; the delivery engine sees one item,
 * "the buffer, due for a flush", taken when --flush-interval has passed
 * since the last flush or when input would block, and delivered with one
 * write(2). No network, no curl: the engine runs with no URL and this sink
 * reports every delivery itself with eng_done(). A write error is sticky
 * (the buffer's): the input loop stops and the program exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "io.h"
#include "log.h"
#include "metrics.h"
#include "ship.h"

struct filesink {
	const struct ship_conf *c;
	struct eng *eng;
	struct outbuf out;
	const char *name;
	uint64_t last_flush;
	int flush_now; /* input would block, or the end: flush whatever is due */
	uint64_t *m_out;
};

static int take(void *ctx, struct eng_slot *sl)
{
	struct filesink *f = ctx;
	(void)sl;
	if (!f->out.b.len || f->out.err)
		return ENG_NONE;
	if (!f->flush_now && mono_ms() - f->last_flush < f->c->flush_interval_ms)
		return ENG_NONE;
	return ENG_GOT;
}

static int send_buffer(void *ctx, struct eng_slot *sl)
{
	struct filesink *f = ctx;
	out_flush(&f->out); /* a failure stays in f->out.err */
	f->last_flush = mono_ms();
	eng_done(f->eng, sl, ENG_OK, NULL);
	return 0;
}

static void delivered(void *ctx, struct eng_slot *sl, int was_failing)
{
	(void)ctx;
	(void)sl;
	(void)was_failing;
}

static void release(void *ctx, struct eng_slot *sl)
{
	(void)ctx;
	(void)sl;
}

static void ack(void *ctx, struct dq_pos pos)
{
	(void)ctx;
	(void)pos;
}

static int empty(void *ctx)
{
	struct filesink *f = ctx;
	return f->out.b.len == 0 || f->out.err != 0;
}

static const struct sink_ops file_ops = {
    .take = take,
    .send = send_buffer,
    .delivered = delivered,
    .release = release,
    .ack = ack,
    .empty = empty,
};

static int open_out(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int filesink_open(struct filesink **out, const struct ship_conf *c, struct rum_error *err)
{
	int fd = STDOUT_FILENO;
	const char *name = "standard output";
	if (c->sink.kind == SINK_FILE) {
		name = c->sink.path;
		fd = open_out(name);
		if (fd < 0)
			return err_set(err, "cannot open --sink file %s: %s", name,
				       strerror(errno));
	}
	struct filesink *f = calloc(1, sizeof *f);
	if (!f) {
		if (fd != STDOUT_FILENO)
			close(fd);
		return err_set(err, "out of memory");
	}
	f->c = c;
	f->name = name;
	f->m_out = metric_get("rum_ship_records_out_total", NULL, METRIC_COUNTER,
			      "Records written to the file or standard output.");
	out_init(&f->out, fd);
	f->last_flush = mono_ms();
	struct eng_conf ec = {
	    .slots = 1,
	    .window = 1,
	    .policy = ENG_IN_ORDER,
	    .backoff_min_ms = 1,
	    .backoff_max_ms = 1,
	    .what = "a write",
	};
	if (eng_open(&f->eng, &ec, &file_ops, f, err) < 0) {
		if (fd != STDOUT_FILENO)
			close(fd);
		free(f);
		return -1;
	}
	*out = f;
	return 0;
}

int filesink_write(struct filesink *f, const char *line, size_t len)
{
	if (out_write(&f->out, line, len) < 0 || out_write(&f->out, "\n", 1) < 0)
		return -1;
	metric_inc(f->m_out);
	return 0;
}

void filesink_tick(struct filesink *f)
{
	eng_pump(f->eng);
}

void filesink_idle(struct filesink *f)
{
	f->flush_now = 1;
	eng_pump(f->eng);
	f->flush_now = 0;
	/* nothing buffered is a flush too: the interval starts again */
	f->last_flush = mono_ms();
}

void filesink_reopen(struct filesink *f)
{
	if (f->c->sink.kind != SINK_FILE)
		return;
	out_flush(&f->out);
	int fd = open_out(f->c->sink.path);
	if (fd < 0) {
		log_error("cannot reopen %s: %s (keeping the old file)", f->c->sink.path,
			  strerror(errno));
		return;
	}
	close(f->out.fd);
	f->out.fd = fd;
	log_info("reopened %s", f->c->sink.path);
}

int filesink_close(struct filesink *f)
{
	int status = 0;
	f->flush_now = 1;
	eng_drain(f->eng, UINT64_MAX);
	if (out_flush(&f->out) < 0 || f->out.err) {
		log_error("cannot write to %s: %s", f->name, strerror(f->out.err));
		status = -1;
	}
	if (f->out.fd != STDOUT_FILENO && close(f->out.fd) < 0) {
		log_error("cannot write to %s: %s", f->name, strerror(errno));
		status = -1;
	}
	out_free(&f->out);
	eng_close(f->eng);
	free(f);
	return status;
}
