/* rum-ship: records on stdin → batches → a sink (Dataway, a line-protocol
 * endpoint, a file or stdout). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cpusched.h"
#include "io.h"
#include "log.h"
#include "lp.h"
#include "metrics.h"
#include "opts.h"
#include "record.h"
#include "ship.h"
#include "sig.h"

#define METRICS_EVERY_MS 2000
#define TICK_RECORDS 64 /* look at the clock every this many records */

enum {
	O_SINK = 1,
	O_BATCH_SIZE,
	O_BATCH_BYTES,
	O_FLUSH_INTERVAL,
	O_MAX_INFLIGHT,
	O_TIMEOUT,
	O_MEMORY_QUEUE,
	O_SPOOL_DIR,
	O_SPOOL_CAPACITY,
	O_DRAIN_TIMEOUT,
	O_GZIP_LEVEL,
	O_BACKOFF_MIN,
	O_BACKOFF_MAX,
	O_REPLAY_WORKERS,
	O_REPLAY_TIMEOUT,
	O_REPLAY_RETRIES,
	O_REPLAY_CACHE_DIR,
	O_REPLAY_CACHE_MB,
	O_REPLAY_CLEAR_CACHE,
	O_REPLAY_MEMORY_MB,
};

static const struct opt options[] = {
    {"sink", 0, 1, O_SINK, "URL",
     "where records go: http(s)://HOST[:PORT]/?token=TOKEN (Dataway), "
     "influx+http(s)://HOST:PORT/PATH?ARGS (line protocol), file:PATH (NDJSON), "
     "- (NDJSON on stdout, the default)"},
    {"batch-size", 0, 1, O_BATCH_SIZE, "N", "points per request at most (default 1000)"},
    {"batch-bytes", 0, 1, O_BATCH_BYTES, "BYTES",
     "line protocol per request before compression (default 1M)"},
    {"flush-interval", 0, 1, O_FLUSH_INTERVAL, "MS",
     "longest a point waits for its batch to fill (default 1000)"},
    {"max-inflight", 0, 1, O_MAX_INFLIGHT, "N", "requests in flight at once (default 4)"},
    {"timeout", 0, 1, O_TIMEOUT, "SECONDS", "connect and request timeout (default 30)"},
    {"memory-queue-mb", 0, 1, O_MEMORY_QUEUE, "N",
     "without a spool: compressed batches kept in memory before input stops (default 64)"},
    {"spool-dir", 0, 1, O_SPOOL_DIR, "DIR",
     "disk queue every batch goes through; resumed after a restart"},
    {"spool-capacity-mb", 0, 1, O_SPOOL_CAPACITY, "N",
     "size of the disk queue; the oldest batches are dropped past it"},
    {"drain-timeout", 0, 1, O_DRAIN_TIMEOUT, "SECONDS",
     "at the end, how long to keep sending what is queued (default 30)"},
    {"gzip-level", 0, 1, O_GZIP_LEVEL, "N",
     "request body compression, 1 (fast, default) to 9; 0 sends plain text"},
    {"backoff-min", 0, 1, O_BACKOFF_MIN, "MS", "first retry delay (default 250)"},
    {"backoff-max", 0, 1, O_BACKOFF_MAX, "MS", "longest retry delay (default 30000)"},
    {"replay-workers", 0, 1, O_REPLAY_WORKERS, "N",
     "session replay uploads in flight at once (default 16)"},
    {"replay-timeout", 0, 1, O_REPLAY_TIMEOUT, "SECONDS",
     "connect and request timeout of one replay upload (default 75)"},
    {"replay-retries", 0, 1, O_REPLAY_RETRIES, "N",
     "retries of a replay upload the Dataway fails while it takes others (default 3)"},
    {"replay-cache-dir", 0, 1, O_REPLAY_CACHE_DIR, "DIR",
     "disk queue of replay uploads (default: SPOOL-DIR/replay with --spool-dir, "
     "else a memory queue)"},
    {"replay-cache-mb", 0, 1, O_REPLAY_CACHE_MB, "N",
     "size of the replay disk queue; the oldest uploads are dropped past it (default 20480)"},
    {"replay-clear-cache", 0, 0, O_REPLAY_CLEAR_CACHE, NULL,
     "empty the replay disk queue at start"},
    {"replay-memory-mb", 0, 1, O_REPLAY_MEMORY_MB, "N",
     "without a replay disk queue: uploads kept in memory, oldest dropped past it "
     "(default 256)"},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const struct prog_info info = {
    "rum-ship",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and ships them: to a Guance "
    "Dataway or any line-protocol HTTP endpoint in gzip-compressed batches, with retries "
    "and an optional disk queue while the sink is down; or as NDJSON to a file or "
    "standard output.",
};

struct cli {
	struct ship_conf c;
	const char *sink_arg;
	int spool_cap_given;
};

static const char *on_opt(int key, const char *val, void *ctx)
{
	struct cli *cl = ctx;
	struct ship_conf *c = &cl->c;
	uint64_t v;
	const char *why = NULL;
	switch (key) {
	case O_SINK:
		cl->sink_arg = val;
		return NULL;
	case O_BATCH_SIZE:
		return opt_u64(val, 1, 1000000, &c->batch_size);
	case O_BATCH_BYTES:
		return opt_size(val, 1024, (uint64_t)1 << 30, &c->batch_bytes);
	case O_FLUSH_INTERVAL:
		return opt_u64(val, 1, 3600000, &c->flush_interval_ms);
	case O_MAX_INFLIGHT:
		return opt_u64(val, 1, 256, &c->max_inflight);
	case O_TIMEOUT:
		return opt_u64(val, 1, 86400, &c->timeout_s);
	case O_MEMORY_QUEUE:
		why = opt_u64(val, 1, 1 << 20, &v);
		c->memory_queue_bytes = v << 20;
		return why;
	case O_SPOOL_DIR:
		if (!*val)
			return "empty directory name";
		c->spool_dir = val;
		return NULL;
	case O_SPOOL_CAPACITY:
		why = opt_u64(val, 1, (uint64_t)1 << 30, &v);
		c->spool_capacity_bytes = v << 20;
		cl->spool_cap_given = 1;
		return why;
	case O_DRAIN_TIMEOUT:
		why = opt_u64(val, 0, 86400, &v);
		c->drain_timeout_ms = v * 1000;
		return why;
	case O_GZIP_LEVEL:
		why = opt_u64(val, 0, 9, &v);
		c->gzip_level = (int)v;
		return why;
	case O_BACKOFF_MIN:
		return opt_u64(val, 1, 3600000, &c->backoff_min_ms);
	case O_BACKOFF_MAX:
		return opt_u64(val, 1, 3600000, &c->backoff_max_ms);
	case O_REPLAY_WORKERS:
		return opt_u64(val, 1, 1024, &c->replay_workers);
	case O_REPLAY_TIMEOUT:
		return opt_u64(val, 1, 86400, &c->replay_timeout_s);
	case O_REPLAY_RETRIES:
		return opt_u64(val, 0, 1000, &c->replay_retries);
	case O_REPLAY_CACHE_DIR:
		if (!*val)
			return "empty directory name";
		c->replay_cache_dir = val;
		return NULL;
	case O_REPLAY_CACHE_MB:
		why = opt_u64(val, 1, (uint64_t)1 << 30, &v);
		c->replay_cache_bytes = v << 20;
		return why;
	case O_REPLAY_CLEAR_CACHE:
		c->replay_clear_cache = 1;
		return NULL;
	case O_REPLAY_MEMORY_MB:
		why = opt_u64(val, 1, 1 << 20, &v);
		c->replay_memory_bytes = v << 20;
		return why;
	}
	return "unknown option";
}

/* State of the input side. */
struct ship {
	struct ship_conf *c;
	struct linereader lr;
	struct record rec;
	struct log_ratelimit rl_bad;

	/* HTTP sinks */
	struct points *points;
	struct replay *replay; /* Dataway sinks */
	struct buf batch;
	uint32_t npoints;
	uint64_t deadline; /* monotonic ms when the batch must go */
	uint64_t last_pump;
	uint64_t last_metrics;
	int read_failed;

	/* file and stdout sinks */
	struct filesink *file;

	uint64_t *m_in, *m_bad_json, *m_bad_long, *m_bad_lp, *m_replay;
};

static void count_metrics(struct ship *sh)
{
	const char *bh = "Input lines dropped as invalid, by reason.";
	sh->m_in = metric_get("rum_ship_records_in_total", NULL, METRIC_COUNTER,
			      "Valid records read from standard input.");
	sh->m_bad_json =
	    metric_get("rum_ship_invalid_lines_total", "reason=\"record\"", METRIC_COUNTER, bh);
	sh->m_bad_long =
	    metric_get("rum_ship_invalid_lines_total", "reason=\"too_long\"", METRIC_COUNTER, bh);
	sh->m_bad_lp =
	    metric_get("rum_ship_invalid_lines_total", "reason=\"no_fields\"", METRIC_COUNTER, bh);
}

static void bad_line(struct ship *sh, uint64_t *counter, const char *why, size_t off)
{
	metric_inc(counter);
	log_rl(&sh->rl_bad, RLOG_WARN, "line %" PRIu64 ": %s (at byte %zu); dropped", sh->lr.lineno,
	       why, off);
}

/* Handles a status of lr_next that is not a line. 1: go on reading;
 * 0: stop (EOF, signal, read error). */
static int not_a_line(struct ship *sh, enum lr_status st)
{
	switch (st) {
	case LR_TOOLONG:
		metric_inc(sh->m_bad_long);
		log_rl(&sh->rl_bad, RLOG_WARN,
		       "line %" PRIu64 ": longer than --max-line %zu; dropped", sh->lr.lineno,
		       common_opts.max_line);
		return 1;
	case LR_EOF:
		return 0;
	case LR_ERROR:
		if (errno == EINTR)
			return !sig_term;
		log_error("reading standard input: %s", strerror(errno));
		sh->read_failed = 1;
		return 0;
	default:
		return 1;
	}
}

/* ---- file and stdout ---------------------------------------------------- */

/* After logrotate moved the file away: flush to the old one, start a new. */
static void reopen(struct ship *sh)
{
	sig_hup = 0;
	filesink_reopen(sh->file);
}

static void idle_file(void *ctx)
{
	struct ship *sh = ctx;
	filesink_idle(sh->file);
	if (sig_hup)
		reopen(sh);
	metrics_maybe_write(common_opts.metrics_file, METRICS_EVERY_MS);
}

static int run_file(struct ship *sh)
{
	struct rum_error err;
	if (filesink_open(&sh->file, sh->c, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	sh->lr.idle = idle_file;
	sh->lr.idle_ctx = sh;
	unsigned tick = 0;
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st = lr_next(&sh->lr, &line, &len);
		if (st == LR_LINE) {
			struct rec_error rerr;
			if (rec_parse_line(&sh->rec, line, len, &rerr) < 0) {
				bad_line(sh, sh->m_bad_json, rerr.reason, rerr.offset);
				continue;
			}
			metric_inc(sh->m_in);
			if (filesink_write(sh->file, line, len) < 0)
				break;
			if (++tick % TICK_RECORDS == 0) {
				filesink_tick(sh->file);
				metrics_maybe_write(common_opts.metrics_file, METRICS_EVERY_MS);
			}
		} else if (!not_a_line(sh, st)) {
			break;
		}
		if (sig_hup)
			reopen(sh);
		if (sig_term)
			break;
	}
	int status = sh->read_failed ? 1 : 0;
	if (filesink_close(sh->file) < 0)
		status = 1;
	return status;
}

/* ---- HTTP sinks ----------------------------------------------------------- */

/* The metrics file, every few seconds. */
static void periodic(struct ship *sh, uint64_t now)
{
	if (!common_opts.metrics_file || now - sh->last_metrics < METRICS_EVERY_MS)
		return;
	sh->last_metrics = now;
	points_gauges(sh->points);
	if (sh->replay)
		replay_gauges(sh->replay);
	metrics_maybe_write(common_opts.metrics_file, 0);
}

static void seal(struct ship *sh)
{
	if (!sh->npoints)
		return;
	points_submit(sh->points, sh->batch.p, sh->batch.len, sh->npoints);
	sh->npoints = 0;
	/* A batch that grew past the usual size (one huge record) gives its
	 * memory back rather than keeping it for ever. */
	if (sh->batch.cap > sh->c->batch_bytes * 2 + ((size_t)1 << 20))
		buf_free(&sh->batch);
	else
		buf_reset(&sh->batch);
	points_pump(sh->points);
	sh->last_pump = mono_ms();
	/* Back-pressure: without a spool, stop reading while memory is full. */
	while (points_full(sh->points) && !sig_term) {
		points_wait(sh->points, -1, 200);
		periodic(sh, mono_ms());
	}
}

static _Noreturn void finish_http(struct ship *sh)
{
	seal(sh);
	uint64_t deadline = mono_ms() + sh->c->drain_timeout_ms;
	if (sh->replay)
		replay_drain(sh->replay, deadline);
	uint64_t lost = points_drain(sh->points, deadline);
	int status = sh->read_failed ? 1 : 0;
	if (lost) {
		log_error("sink still failing after --drain-timeout %" PRIu64 " s: %" PRIu64
			  " points lost",
			  sh->c->drain_timeout_ms / 1000, lost);
		status = 1;
	}
	if (sh->replay && replay_close(sh->replay))
		status = 1;
	sh->replay = NULL;
	points_gauges(sh->points);
	if (common_opts.metrics_file && metrics_write_file(common_opts.metrics_file) < 0)
		log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
			 strerror(errno));
	points_close(sh->points);
	buf_free(&sh->batch);
	rec_free(&sh->rec);
	lr_free(&sh->lr);
	sink_free(&sh->c->sink);
	exit(status);
}

static int readable_now(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

/* Input would block: keep the requests moving, send a batch whose time is
 * up, and return once there is input again. */
static void idle_http(void *ctx)
{
	struct ship *sh = ctx;
	for (;;) {
		if (sig_term)
			finish_http(sh);
		sig_hup = 0; /* nothing to reload */
		uint64_t now = mono_ms();
		if (sh->npoints && now >= sh->deadline)
			seal(sh);
		uint64_t wait = METRICS_EVERY_MS;
		if (sh->npoints)
			wait = sh->deadline > now ? sh->deadline - now : 0;
		periodic(sh, now);
		if (common_opts.metrics_file) {
			uint64_t next = sh->last_metrics + METRICS_EVERY_MS;
			uint64_t left = next > now ? next - now : 0;
			if (left < wait)
				wait = left;
		}
		/* curl reports POLLIN of extra descriptors but not POLLHUP (EOF
		 * of a pipe): ask poll(2) directly as well. */
		if (points_wait(sh->points, sh->lr.fd, (int)wait) || readable_now(sh->lr.fd))
			return;
	}
}

static void tick_http(struct ship *sh)
{
	uint64_t now = mono_ms();
	if (sh->npoints && now >= sh->deadline) {
		seal(sh);
		return;
	}
	if (now - sh->last_pump >= 2) {
		points_pump(sh->points);
		sh->last_pump = now;
	}
	periodic(sh, now);
}

static _Noreturn void run_http(struct ship *sh)
{
	struct rum_error err;
	if (points_open(&sh->points, sh->c, &err) < 0)
		die(1, "%s", err.msg);
	int dataway = sh->c->sink.kind == SINK_DATAWAY;
	if (dataway && replay_open(&sh->replay, sh->c, &err) < 0)
		die(1, "%s", err.msg);
	sh->m_replay = metric_get("rum_ship_replay_skipped_total", NULL, METRIC_COUNTER,
				  "session_replay records not sent (a line-protocol sink has no "
				  "replay endpoint).");
	struct log_ratelimit rl_replay = LOG_RATELIMIT_INIT(1);
	sh->lr.idle = idle_http;
	sh->lr.idle_ctx = sh;
	sh->last_pump = mono_ms();
	unsigned tick = 0;
	static const char replay[] = "\"session_replay\"";
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st = lr_next(&sh->lr, &line, &len);
		if (st == LR_LINE) {
			struct rec_error rerr;
			if (rec_parse_line(&sh->rec, line, len, &rerr) < 0) {
				bad_line(sh, sh->m_bad_json, rerr.reason, rerr.offset);
				continue;
			}
			metric_inc(sh->m_in);
			if (sh->rec.meas_len == sizeof replay - 1 &&
			    memcmp(sh->rec.meas, replay, sizeof replay - 1) == 0) {
				/* Replays have their own endpoint and uploader. A
				 * line-protocol sink has none, and the body as a
				 * field would pass InfluxDB's 64 KiB string limit
				 * and sink the whole batch with it. */
				if (sh->replay) {
					replay_submit(sh->replay, &sh->rec, sh->lr.lineno);
				} else {
					metric_inc(sh->m_replay);
					log_rl(&rl_replay, RLOG_WARN,
					       "line %" PRIu64 ": session_replay records are not "
					       "sent to a line-protocol sink; skipped",
					       sh->lr.lineno);
				}
				continue;
			}
			size_t before = sh->batch.len;
			int64_t t = sh->rec.has_time ? 0 : now_ns();
			if (lp_write_record(&sh->rec, t, &sh->batch) < 0) {
				if (sh->batch.err)
					die(1, "out of memory building a batch");
				sh->batch.len = before;
				bad_line(sh, sh->m_bad_lp, "a record with no fields", SIZE_MAX);
				continue;
			}
			if (sh->npoints++ == 0)
				sh->deadline = mono_ms() + sh->c->flush_interval_ms;
			if (sh->npoints >= sh->c->batch_size || sh->batch.len >= sh->c->batch_bytes)
				seal(sh);
			else if (++tick % TICK_RECORDS == 0)
				tick_http(sh);
		} else if (!not_a_line(sh, st)) {
			break;
		}
		if (sig_term)
			break;
	}
	finish_http(sh);
}

int main(int argc, char **argv)
{
	struct cli cl = {
	    .c =
		{
		    .batch_size = 1000,
		    .batch_bytes = (uint64_t)1 << 20,
		    .flush_interval_ms = 1000,
		    .max_inflight = 4,
		    .timeout_s = 30,
		    .memory_queue_bytes = (uint64_t)64 << 20,
		    .drain_timeout_ms = 30000,
		    .gzip_level = 1,
		    .backoff_min_ms = 250,
		    .backoff_max_ms = 30000,
		    .replay_workers = 16,
		    .replay_timeout_s = 75,
		    .replay_retries = 3,
		    .replay_cache_bytes = (uint64_t)20480 << 20,
		    .replay_memory_bytes = (uint64_t)256 << 20,
		},
	    .sink_arg = "-",
	};
	int first = opts_parse(argc, argv, &info, options, on_opt, &cl);
	if (first < argc)
		die(2, "unexpected argument '%s' (records are read from standard input)",
		    argv[first]);
	struct ship_conf *c = &cl.c;
	struct rum_error err;
	if (sink_parse(cl.sink_arg, &c->sink, &err) < 0)
		die(2, "invalid value '%s' for --sink: %s", cl.sink_arg, err.msg);
	if (!c->spool_dir != !cl.spool_cap_given)
		die(2, "--spool-dir and --spool-capacity-mb go together (%s given alone)",
		    c->spool_dir ? "--spool-dir" : "--spool-capacity-mb");
	if (c->backoff_min_ms > c->backoff_max_ms)
		die(2, "invalid value '%" PRIu64 "' for --backoff-min: more than --backoff-max",
		    c->backoff_min_ms);
	int http = c->sink.kind == SINK_DATAWAY || c->sink.kind == SINK_INFLUX;
	opts_check_done();

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	if (c->sink.kind == SINK_DATAWAY && !c->sink.has_token)
		log_warn("--sink %s has no token= argument; a Dataway will refuse the writes",
			 c->sink.url);
	if (!http && c->spool_dir)
		log_info("--spool-dir is not used with a file or stdout sink");
	if (c->sink.kind != SINK_DATAWAY && (c->replay_cache_dir || c->replay_clear_cache))
		log_info("--replay-cache-dir and --replay-clear-cache are used with a Dataway sink "
			 "only");

	struct ship sh;
	memset(&sh, 0, sizeof sh);
	sh.c = c;
	sh.rl_bad = (struct log_ratelimit)LOG_RATELIMIT_INIT(10);
	count_metrics(&sh);
	/* Standard input as a 1 MiB pipe rather than the 64 KiB default: the
	 * stage before writes a request's records at once and blocks while the
	 * pipe is full, which leaves a core idle as soon as we fall a little
	 * behind. */
	pipe_grow(STDIN_FILENO, 1 << 20);
	if (lr_init(&sh.lr, STDIN_FILENO, common_opts.max_line) < 0)
		die(1, "out of memory");
	if (http)
		run_http(&sh);
	int status = run_file(&sh);
	if (common_opts.metrics_file && metrics_write_file(common_opts.metrics_file) < 0)
		log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
			 strerror(errno));
	rec_free(&sh.rec);
	lr_free(&sh.lr);
	sink_free(&c->sink);
	return status;
}
