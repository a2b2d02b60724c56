/* rum-ship: records on stdin → batches → a sink (Dataway, a line-protocol
 * endpoint, Kafka, a file or stdout). */
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
#include "journal.h"
#include "kafka.h"
#include "log.h"
#include "lp.h"
#include "metrics.h"
#include "opts.h"
#include "record.h"
#include "ship.h"
#include "sig.h"

#define METRICS_EVERY_MS 2000
#define TICK_RECORDS 64 /* look at the clock every this many records */

struct cli {
	struct ship_conf c;
	const char *sink_args[SHIP_MAX_SINKS];
	size_t nsinks;
	struct dq_sync sync; /* --fsync */
};

enum { O_KAFKA_OPT = 1, O_SINK, O_FSYNC_WHEN };

#define CONF(field) OPT_AT(struct cli, c.field)
#define MB ((uint64_t)1 << 20)

/* clang-format off */
static const struct opt options[] = {
    {.name = "sink", .type = OPT_CALL, .key = O_SINK, .arg_name = "URL",
     .def = "-",
     .help = "where records go: http(s)://HOST[:PORT]/?token=TOKEN (Dataway), "
             "influx+http(s)://HOST:PORT/PATH?ARGS (line protocol), "
             "kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?replay_topic=TOPIC] (Kafka), file:PATH "
             "(NDJSON), - (NDJSON on stdout); repeatable with Dataway URLs: every record "
             "goes to each, each with its own queue"},
    {.name = "batch-size", .type = OPT_UINT, .arg_name = "N", CONF(batch_size),
     .def = "1000", .min = 1, .max = 1000000,
     .help = "points per request at most"},
    {.name = "batch-bytes", .type = OPT_SIZE, .arg_name = "BYTES", CONF(batch_bytes),
     .def = "1M", .min = 1024, .max = (uint64_t)1 << 30,
     .help = "line protocol per request before compression"},
    {.name = "flush-interval", .type = OPT_UINT, .arg_name = "MS", CONF(flush_interval_ms),
     .def = "1000", .min = 1, .max = 3600000,
     .help = "longest a point waits for its batch to fill"},
    {.name = "max-inflight", .type = OPT_UINT, .arg_name = "N", CONF(max_inflight),
     .min = 1, .max = 256,
     .help = "requests in flight at once (default 4); Kafka: batches handed to the producer "
             "(default 32)"},
    {.name = "timeout", .type = OPT_UINT, .arg_name = "SECONDS", CONF(timeout_s),
     .def = "30", .min = 1, .max = 86400,
     .help = "connect and request timeout"},
    {.name = "memory-queue-mb", .type = OPT_UINT, .arg_name = "N", CONF(memory_queue_bytes),
     .def = "64", .min = 1, .max = 1 << 20, .scale = MB,
     .help = "without a spool: compressed batches kept in memory before input stops"},
    {.name = "spool-dir", .type = OPT_STRING, .arg_name = "DIR", CONF(spool_dir),
     .empty_why = "empty directory name",
     .help = "disk queue every batch goes through, with a journal of the input read "
             "(DIR/input); resumed after a restart"},
    {.name = "spool-capacity-mb", .type = OPT_UINT, .arg_name = "N", CONF(spool_capacity_bytes),
     .min = 1, .max = (uint64_t)1 << 30, .scale = MB,
     .help = "size of the disk queue; the oldest batches are dropped past it"},
    {.name = "fsync", .type = OPT_CALL, .key = O_FSYNC_WHEN, .arg_name = "WHEN", .def = "never",
     .help = "when the spool and the input journal are forced to disk: never (they survive a "
             "kill of rum-ship, not a power cut), batch (each entry before it counts as "
             "written), interval:MS (at most MS of entries lost to a power cut)"},
    {.name = "drain-timeout", .type = OPT_UINT, .arg_name = "SECONDS", CONF(drain_timeout_ms),
     .def = "30", .min = 0, .max = 86400, .scale = 1000,
     .help = "at the end, how long to keep sending what is queued"},
    {.name = "gzip-level", .type = OPT_UINT, .arg_name = "N", CONF(gzip_level),
     .def = "1", .min = 0, .max = 9,
     .help = "request body compression, 1 (fast) to 9; 0 sends plain text"},
    {.name = "backoff-min", .type = OPT_UINT, .arg_name = "MS", CONF(backoff_min_ms),
     .def = "250", .min = 1, .max = 3600000,
     .help = "first retry delay"},
    {.name = "backoff-max", .type = OPT_UINT, .arg_name = "MS", CONF(backoff_max_ms),
     .def = "30000", .min = 1, .max = 3600000,
     .help = "longest retry delay"},
    {.name = "replay-workers", .type = OPT_UINT, .arg_name = "N", CONF(replay_workers),
     .def = "16", .min = 1, .max = 1024,
     .help = "session replay uploads in flight at once"},
    {.name = "replay-timeout", .type = OPT_UINT, .arg_name = "SECONDS", CONF(replay_timeout_s),
     .def = "75", .min = 1, .max = 86400,
     .help = "connect and request timeout of one replay upload"},
    {.name = "replay-retries", .type = OPT_UINT, .arg_name = "N", CONF(replay_retries),
     .def = "3", .min = 0, .max = 1000,
     .help = "retries of a replay upload the Dataway fails while it takes others"},
    {.name = "replay-cache-dir", .type = OPT_STRING, .arg_name = "DIR", CONF(replay_cache_dir),
     .empty_why = "empty directory name",
     .help = "disk queue of replay uploads (default: SPOOL-DIR/replay with --spool-dir, else a "
             "memory queue)"},
    {.name = "replay-cache-mb", .type = OPT_UINT, .arg_name = "N", CONF(replay_cache_bytes),
     .def = "20480", .min = 1, .max = (uint64_t)1 << 30, .scale = MB,
     .help = "size of the replay disk queue; the oldest uploads are dropped past it"},
    {.name = "replay-clear-cache", .type = OPT_FLAG, CONF(replay_clear_cache),
     .help = "empty the replay disk queue at start"},
    {.name = "replay-memory-mb", .type = OPT_UINT, .arg_name = "N", CONF(replay_memory_bytes),
     .def = "256", .min = 1, .max = 1 << 20, .scale = MB,
     .help = "without a replay disk queue: uploads kept in memory, oldest dropped past it"},
    {.name = "kafka-opt", .type = OPT_CALL, .key = O_KAFKA_OPT, .arg_name = "KEY=VALUE",
     .help = "a librdkafka setting for the Kafka sink's producers, passed as is (after "
             "rum-ship's defaults); repeatable"},
    {.name = "kafka-replay-max-bytes", .type = OPT_SIZE, .arg_name = "BYTES",
     CONF(kafka_replay_max_bytes), .def = "48M", .min = 1024, .max = 1000000000,
     .help = "largest session_replay message (message.max.bytes of the replay_topic's "
             "producer)"},
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info info = {
    "rum-ship",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and ships them: to a Guance "
    "Dataway or any line-protocol HTTP endpoint in gzip-compressed batches, with retries "
    "and an optional disk queue while the sink is down; to Apache Kafka, one message a "
    "record; or as NDJSON to a file or standard output.",
};

/* --sink URL (kept in order, checked in main) and --kafka-opt KEY=VALUE
 * (checked with librdkafka at once, kept in order). */
static const char *on_opt(int key, const char *val, void *ctx)
{
	struct cli *cl = ctx;
	static char why[RUM_ERROR_MAX];
	struct rum_error e;
	if (key == O_FSYNC_WHEN) {
		if (dq_sync_parse(val, &cl->sync, &e) < 0) {
			snprintf(why, sizeof why, "%s", e.msg);
			return why;
		}
		return NULL;
	}
	if (key == O_SINK) {
		if (cl->nsinks == SHIP_MAX_SINKS)
			return "more than 16 sinks";
		cl->sink_args[cl->nsinks++] = val;
		return NULL;
	}
	if (key != O_KAFKA_OPT)
		return "unknown option";
	if (kafka_opt_check(val, &e) < 0) {
		snprintf(why, sizeof why, "%s", e.msg);
		return why;
	}
	const char **a = realloc(cl->c.kafka_opts, (cl->c.nkafka_opts + 1) * sizeof *a);
	if (!a)
		return "out of memory";
	a[cl->c.nkafka_opts++] = val;
	cl->c.kafka_opts = a;
	return NULL;
}

/* State of the input side. */
struct ship {
	struct ship_conf *c;
	struct linereader lr;
	struct record rec;
	struct log_ratelimit rl_bad, rl_replay;

	/* HTTP sinks: one, or several Dataways (each its points and replays) */
	struct ship_conf *sc; /* the conf of each */
	size_t nsinks;
	struct points *points[SHIP_MAX_SINKS];
	struct replay *replay[SHIP_MAX_SINKS]; /* Dataway sinks */
	struct buf batch;
	uint32_t npoints;
	uint64_t deadline; /* monotonic ms when the batch must go */
	uint64_t last_pump;
	uint64_t last_metrics;
	unsigned tick;
	int read_failed;

	/* file and stdout sinks */
	struct filesink *file;

	/* Kafka */
	struct kafka *kafka;

	/* the input journal (HTTP sinks with --spool-dir) */
	struct journal journal;
	int journaling;
	uint64_t recover_left; /* recovered bytes not yet consumed */

	uint64_t *m_in, *m_bad_json, *m_bad_long, *m_bad_lp, *m_replay;
	struct buf scratch; /* a measurement name with escapes, decoded */
};

/* session_replay records go to their own uploader or topic. */
static int is_replay(struct ship *sh)
{
	return rec_meas_is(&sh->rec, "session_replay", &sh->scratch);
}

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
			struct rum_error rerr;
			if (rec_parse_line(&sh->rec, line, len, &rerr) < 0) {
				bad_line(sh, sh->m_bad_json, rerr.msg, rerr.offset);
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
	for (size_t i = 0; i < sh->nsinks; i++) {
		points_gauges(sh->points[i]);
		if (sh->replay[i])
			replay_gauges(sh->replay[i]);
	}
	metrics_maybe_write(common_opts.metrics_file, 0);
}

/* The stream offset up to which every record read has been dealt with:
 * what was read, less what the line reader holds and what is left of the
 * bytes recovered from the journal. */
static uint64_t consumed(const struct ship *sh)
{
	return sh->journal.in_total - (sh->lr.end - sh->lr.start) - sh->recover_left;
}

/* --fsync interval:MS with input paused: the last writes go to disk too. */
static void sync_due(struct ship *sh)
{
	if (sh->journaling)
		dq_sync_due(sh->journal.dq);
	for (size_t i = 0; i < sh->nsinks; i++)
		points_sync_due(sh->points[i]);
}

/* Nothing read is held in memory only (no batch being built): the journal
 * can let go of it. */
static void settle(struct ship *sh)
{
	if (sh->journaling && !sh->npoints)
		journal_settle(&sh->journal, consumed(sh));
}

static void pump_all(struct ship *sh)
{
	for (size_t i = 0; i < sh->nsinks; i++)
		points_pump(sh->points[i]);
}

/* A sink without a spool whose memory queue is full. */
static struct points *full_sink(struct ship *sh)
{
	for (size_t i = 0; i < sh->nsinks; i++)
		if (points_full(sh->points[i]))
			return sh->points[i];
	return NULL;
}

/* With several sinks the loop sleeps in one sink's poll at most this long,
 * so that the others' answers are seen soon enough (libcurl 7.88 has no
 * descriptor set of a multi handle to wait on together). */
#define MULTI_POLL_MS 5

static void seal(struct ship *sh)
{
	if (!sh->npoints)
		return;
	for (size_t i = 0; i < sh->nsinks; i++)
		points_submit(sh->points[i], sh->batch.p, sh->batch.len, sh->npoints);
	sh->npoints = 0;
	settle(sh);
	/* A batch that grew past the usual size (one huge record) gives its
	 * memory back rather than keeping it for ever. */
	if (sh->batch.cap > sh->c->batch_bytes * 2 + ((size_t)1 << 20))
		buf_free(&sh->batch);
	else
		buf_reset(&sh->batch);
	pump_all(sh);
	sh->last_pump = mono_ms();
	/* Back-pressure: without a spool, stop reading while memory is full
	 * (with several sinks, while any one's is). */
	struct points *full;
	while ((full = full_sink(sh)) && !sig_term) {
		if (sh->nsinks > 1)
			pump_all(sh);
		points_wait(full, -1, sh->nsinks > 1 ? MULTI_POLL_MS : 200);
		periodic(sh, mono_ms());
	}
}

static _Noreturn void finish_http(struct ship *sh)
{
	seal(sh);
	uint64_t deadline = mono_ms() + sh->c->drain_timeout_ms;
	for (size_t i = 0; i < sh->nsinks; i++)
		if (sh->replay[i])
			replay_drain(sh->replay[i], deadline);
	uint64_t lost = points_drain_all(sh->points, sh->nsinks, deadline);
	int status = sh->read_failed ? 1 : 0;
	if (lost) {
		log_error("%s still failing after --drain-timeout %" PRIu64 " s: %" PRIu64
			  " points lost",
			  sh->nsinks > 1 ? "sinks" : "sink", sh->c->drain_timeout_ms / 1000, lost);
		status = 1;
	}
	for (size_t i = 0; i < sh->nsinks; i++) {
		if (sh->replay[i] && replay_close(sh->replay[i]))
			status = 1;
		sh->replay[i] = NULL;
		points_gauges(sh->points[i]);
	}
	if (common_opts.metrics_file && metrics_write_file(common_opts.metrics_file) < 0)
		log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
			 strerror(errno));
	for (size_t i = 0; i < sh->nsinks; i++) {
		points_close(sh->points[i]);
		if (i > 0)
			sink_free(&sh->sc[i].sink);
	}
	buf_free(&sh->batch);
	if (sh->journaling)
		journal_close(&sh->journal);
	rec_free(&sh->rec);
	buf_free(&sh->scratch);
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
		settle(sh);
		sync_due(sh);
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
		if (sh->nsinks > 1) {
			pump_all(sh);
			if (wait > MULTI_POLL_MS)
				wait = MULTI_POLL_MS;
		}
		/* curl reports POLLIN of extra descriptors but not POLLHUP (EOF
		 * of a pipe): ask poll(2) directly as well. */
		if (points_wait(sh->points[0], sh->lr.fd, (int)wait) || readable_now(sh->lr.fd))
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
		pump_all(sh);
		sh->last_pump = now;
	}
	settle(sh);
	periodic(sh, now);
}

/* One line of input into a batch (or the replay queue). */
static void http_line(struct ship *sh, const char *line, size_t len)
{
	struct rum_error rerr;
	if (rec_parse_line(&sh->rec, line, len, &rerr) < 0) {
		bad_line(sh, sh->m_bad_json, rerr.msg, rerr.offset);
		return;
	}
	metric_inc(sh->m_in);
	if (is_replay(sh)) {
		/* Replays have their own endpoint and uploader. A line-protocol
		 * sink has none, and the body as a field would pass InfluxDB's
		 * 64 KiB string limit and sink the whole batch with it. */
		if (sh->replay[0]) {
			for (size_t i = 0; i < sh->nsinks; i++)
				replay_submit(sh->replay[i], &sh->rec, sh->lr.lineno);
		} else {
			metric_inc(sh->m_replay);
			log_rl(&sh->rl_replay, RLOG_WARN,
			       "line %" PRIu64 ": session_replay records are not sent to a "
			       "line-protocol sink; skipped",
			       sh->lr.lineno);
		}
		return;
	}
	size_t before = sh->batch.len;
	int64_t t = sh->rec.has_time ? 0 : now_ns();
	if (lp_write_record(&sh->rec, t, &sh->batch) < 0) {
		if (sh->batch.err)
			die(1, "out of memory building a batch");
		sh->batch.len = before;
		bad_line(sh, sh->m_bad_lp, "a record with no fields", SIZE_MAX);
		return;
	}
	if (sh->npoints++ == 0)
		sh->deadline = mono_ms() + sh->c->flush_interval_ms;
	if (sh->npoints >= sh->c->batch_size || sh->batch.len >= sh->c->batch_bytes)
		seal(sh);
	else if (++sh->tick % TICK_RECORDS == 0)
		tick_http(sh);
}

static void journal_read(void *ctx, const char *p, size_t n)
{
	journal_append(ctx, p, n);
}

/* The complete lines of what an earlier run read and did not keep go
 * first; a partial line at the end goes in front of standard input, whose
 * rest (the pipe was kept by the supervisor) follows it. */
static void replay_recovered(struct ship *sh, struct buf *rb, size_t skip)
{
	size_t off = skip, lines = 0;
	sh->recover_left = rb->len - skip;
	for (;;) {
		const char *nl = memchr(rb->p + off, '\n', rb->len - off);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (rb->p + off));
		sh->recover_left = rb->len - (off + len + 1);
		if (len > common_opts.max_line)
			bad_line(sh, sh->m_bad_long, "longer than --max-line", SIZE_MAX);
		else
			http_line(sh, rb->p + off, len);
		off += len + 1;
		lines++;
	}
	journal_count_recovered(&sh->journal, lines);
	sh->recover_left = 0;
	if (lr_preload(&sh->lr, rb->p + off, rb->len - off) < 0)
		die(1, "out of memory");
	log_info("input journal: %zu records from a previous run read again", lines);
}

/* SPOOL-DIR/input, holding each read until its records are kept. */
static void open_journal(struct ship *sh)
{
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof dir, "%s/input", sh->c->spool_dir) >= sizeof dir)
		die(2, "invalid value '%s' for --spool-dir: too long", sh->c->spool_dir);
	/* Room for a few reads of the longest line; a segment is deleted as
	 * soon as every read in it is acknowledged, so little of it is used. */
	uint64_t cap = 4 * ((uint64_t)common_opts.max_line + 1);
	if (cap < ((uint64_t)64 << 20))
		cap = (uint64_t)64 << 20;
	struct buf rb = BUF_INIT;
	struct rum_error err;
	size_t skip;
	if (journal_open(&sh->journal, dir, cap, &rb, &skip, &err) < 0)
		die(1, "--spool-dir %s: %s", sh->c->spool_dir, err.msg);
	sh->journaling = 1;
	if (rb.len)
		replay_recovered(sh, &rb, skip);
	buf_free(&rb);
	sh->lr.on_read = journal_read;
	sh->lr.read_ctx = &sh->journal;
}

static _Noreturn void run_http(struct ship *sh)
{
	struct rum_error err;
	int dataway = sh->c->sink.kind == SINK_DATAWAY;
	for (size_t i = 0; i < sh->nsinks; i++) {
		if (points_open(&sh->points[i], &sh->sc[i], &err) < 0)
			die(1, "%s", err.msg);
		if (dataway && replay_open(&sh->replay[i], &sh->sc[i], &err) < 0)
			die(1, "%s", err.msg);
	}
	sh->m_replay = metric_get("rum_ship_replay_skipped_total", NULL, METRIC_COUNTER,
				  "session_replay records not sent (a line-protocol sink has no "
				  "replay endpoint).");
	sh->lr.idle = idle_http;
	sh->lr.idle_ctx = sh;
	sh->last_pump = mono_ms();
	if (sh->c->spool_dir)
		open_journal(sh);
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st = lr_next(&sh->lr, &line, &len);
		if (st == LR_LINE)
			http_line(sh, line, len);
		else if (!not_a_line(sh, st))
			break;
		if (sig_term)
			break;
	}
	finish_http(sh);
}

/* ---- Kafka ------------------------------------------------------------------ */

static void periodic_kafka(struct ship *sh, uint64_t now)
{
	if (!common_opts.metrics_file || now - sh->last_metrics < METRICS_EVERY_MS)
		return;
	sh->last_metrics = now;
	kafka_gauges(sh->kafka);
	metrics_maybe_write(common_opts.metrics_file, 0);
}

static _Noreturn void finish_kafka(struct ship *sh)
{
	uint64_t lost = kafka_drain(sh->kafka, mono_ms() + sh->c->drain_timeout_ms);
	int status = sh->read_failed ? 1 : 0;
	const char *fatal = kafka_fatal(sh->kafka);
	if (fatal) {
		log_error("the Kafka producer failed for good: %s", fatal);
		status = 1;
	}
	if (lost) {
		log_error("Kafka still failing after --drain-timeout %" PRIu64 " s: %" PRIu64
			  " records lost",
			  sh->c->drain_timeout_ms / 1000, lost);
		status = 1;
	}
	if (common_opts.metrics_file && metrics_write_file(common_opts.metrics_file) < 0)
		log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
			 strerror(errno));
	kafka_close(sh->kafka);
	rec_free(&sh->rec);
	buf_free(&sh->scratch);
	lr_free(&sh->lr);
	sink_free(&sh->c->sink);
	free(sh->c->kafka_opts);
	exit(status);
}

/* Waits while the producer's queue (or the memory queue) is full:
 * back-pressure on the stages before, through the pipe. */
static void wait_room(struct ship *sh)
{
	while (kafka_full(sh->kafka) && !sig_term && !kafka_fatal(sh->kafka)) {
		kafka_wait(sh->kafka, -1, 200);
		periodic_kafka(sh, mono_ms());
	}
}

/* Input would block: the batch in hand goes now, and reports are served
 * until there is input again. */
static void idle_kafka(void *ctx)
{
	struct ship *sh = ctx;
	for (;;) {
		if (sig_term || kafka_fatal(sh->kafka))
			finish_kafka(sh);
		sig_hup = 0; /* nothing to reload */
		kafka_idle(sh->kafka);
		uint64_t now = mono_ms();
		periodic_kafka(sh, now);
		int wait = METRICS_EVERY_MS;
		if (common_opts.metrics_file) {
			uint64_t next = sh->last_metrics + METRICS_EVERY_MS;
			wait = next > now ? (int)(next - now) : 0;
		}
		if (kafka_full(sh->kafka)) {
			kafka_wait(sh->kafka, -1, wait < 200 ? wait : 200);
			continue;
		}
		if (kafka_wait(sh->kafka, sh->lr.fd, wait) || readable_now(sh->lr.fd))
			return;
	}
}

static _Noreturn void run_kafka(struct ship *sh)
{
	sh->m_replay = metric_get("rum_ship_replay_skipped_total", NULL, METRIC_COUNTER,
				  "session_replay records not sent (a line-protocol sink has no "
				  "replay endpoint; a Kafka sink without replay_topic).");
	struct log_ratelimit rl_replay = LOG_RATELIMIT_INIT(1);
	sh->lr.idle = idle_kafka;
	sh->lr.idle_ctx = sh;
	unsigned tick = 0;
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st = lr_next(&sh->lr, &line, &len);
		if (st == LR_LINE) {
			struct rum_error rerr;
			if (rec_parse_line(&sh->rec, line, len, &rerr) < 0) {
				bad_line(sh, sh->m_bad_json, rerr.msg, rerr.offset);
				continue;
			}
			metric_inc(sh->m_in);
			int replay = is_replay(sh);
			if (replay && !sh->c->sink.replay_topic) {
				/* A main topic is sized for small messages: a replay of
				 * megabytes would be refused there, or clog it. */
				metric_inc(sh->m_replay);
				log_rl(&rl_replay, RLOG_WARN,
				       "line %" PRIu64 ": session_replay record, and the kafka "
				       "--sink has no replay_topic; skipped",
				       sh->lr.lineno);
				continue;
			}
			if (kafka_add(sh->kafka, &sh->rec, line, len, replay) < 0)
				die(1, "out of memory building a batch");
			if (kafka_full(sh->kafka))
				wait_room(sh);
			if (++tick % TICK_RECORDS == 0) {
				kafka_tick(sh->kafka);
				periodic_kafka(sh, mono_ms());
			}
		} else if (!not_a_line(sh, st)) {
			break;
		}
		if (sig_term || kafka_fatal(sh->kafka))
			break;
	}
	finish_kafka(sh);
}

/* FNV-1a, 64 bits: the name of a sink's queue directories. */
static uint64_t url_digest(const char *s)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3u;
	return h;
}

/* DIR/sink-DIGEST, or NULL when dir is NULL. */
static char *sink_dir(const char *dir, uint64_t digest)
{
	if (!dir)
		return NULL;
	size_t n = strlen(dir) + sizeof "/sink-" + 16;
	char *p = malloc(n);
	if (!p)
		die(1, "out of memory");
	snprintf(p, n, "%s/sink-%016" PRIx64, dir, digest);
	return p;
}

/* Several --sink: each a Dataway, each a conf of its own with its queue
 * directories named by the digest of its URL (token included: two
 * workspaces on one Dataway are two sinks), so that a queue follows its
 * URL when the order of the URLs changes. Exits 2 on a bad set. The
 * allocations live until exit. */
static struct ship_conf *several_sinks(struct cli *cl, size_t *n)
{
	struct ship_conf *sc = calloc(cl->nsinks, sizeof *sc);
	char(*labels)[32] = calloc(cl->nsinks, sizeof *labels);
	char(*names)[32] = calloc(cl->nsinks, sizeof *names);
	uint64_t digest[SHIP_MAX_SINKS];
	if (!sc || !labels || !names)
		die(1, "out of memory");
	for (size_t i = 0; i < cl->nsinks; i++) {
		struct rum_error err;
		sc[i] = cl->c;
		if (i && sink_parse(cl->sink_args[i], &sc[i].sink, &err) < 0)
			die(2, "invalid value '%s' for --sink: %s", cl->sink_args[i], err.msg);
		if (sc[i].sink.kind != SINK_DATAWAY)
			die(2,
			    "invalid value '%s' for --sink: --sink is given %zu times, and only "
			    "Dataway sinks (http(s)://HOST/?token=TOKEN) can be several",
			    cl->sink_args[i], cl->nsinks);
		digest[i] = url_digest(sc[i].sink.url);
		for (size_t j = 0; j < i; j++)
			if (digest[j] == digest[i])
				die(2,
				    "invalid value '%s' for --sink: the same Dataway URL as "
				    "--sink '%s'",
				    cl->sink_args[i], cl->sink_args[j]);
		snprintf(labels[i], sizeof labels[i], "sink=\"%zu\"", i);
		snprintf(names[i], sizeof names[i], "sink %zu", i);
		sc[i].metric_labels = labels[i];
		sc[i].name = names[i];
		sc[i].spool_dir = sink_dir(cl->c.spool_dir, digest[i]);
		sc[i].replay_cache_dir = sink_dir(cl->c.replay_cache_dir, digest[i]);
	}
	*n = cl->nsinks;
	return sc;
}

int main(int argc, char **argv)
{
	struct cli cl = {0};
	int first = opts_parse(argc, argv, &info, options, on_opt, &cl);
	opts_no_operands(argc, argv, first, "records are read from standard input");
	struct ship_conf *c = &cl.c;
	struct rum_error err;
	if (sink_parse(cl.sink_args[0], &c->sink, &err) < 0)
		die(2, "invalid value '%s' for --sink: %s", cl.sink_args[0], err.msg);
	c->name = "sink";
	/* A Kafka batch in flight is only a few ms of librdkafka's linger, so
	 * 4 of them starve the producer (0.75x kcat -P; 32: 1.1x). */
	if (!c->max_inflight)
		c->max_inflight = c->sink.kind == SINK_KAFKA ? 32 : 4;
	struct ship_conf *sc = c;
	size_t nsinks = 1;
	if (cl.nsinks > 1)
		sc = several_sinks(&cl, &nsinks);
	if (!c->spool_dir != !c->spool_capacity_bytes)
		die(2, "--spool-dir and --spool-capacity-mb go together (%s given alone)",
		    c->spool_dir ? "--spool-dir" : "--spool-capacity-mb");
	if (c->backoff_min_ms > c->backoff_max_ms)
		die(2, "invalid value '%" PRIu64 "' for --backoff-min: more than --backoff-max",
		    c->backoff_min_ms);
	int http = c->sink.kind == SINK_DATAWAY || c->sink.kind == SINK_INFLUX;
	struct kafka *kafka = NULL;
	if (c->sink.kind == SINK_KAFKA) {
		int rc = kafka_open(&kafka, c, &err);
		if (rc < 0)
			die(rc == -2 ? 2 : 1, "%s", err.msg);
	} else if (c->nkafka_opts) {
		log_info("--kafka-opt is used with a kafka:// sink only");
	}
	opts_check_done();
	dq_sync_default(cl.sync);

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	for (size_t i = 0; i < nsinks; i++)
		if (sc[i].sink.kind == SINK_DATAWAY && !sc[i].sink.has_token)
			log_warn(
			    "--sink %s has no token= argument; a Dataway will refuse the writes",
			    sc[i].sink.url);
	if (!http && !kafka && c->spool_dir)
		log_info("--spool-dir is not used with a file or stdout sink");
	if (c->sink.kind != SINK_DATAWAY && (c->replay_cache_dir || c->replay_clear_cache))
		log_info("--replay-cache-dir and --replay-clear-cache are used with a Dataway sink "
			 "only");

	struct ship sh;
	memset(&sh, 0, sizeof sh);
	sh.c = c;
	sh.sc = sc;
	sh.nsinks = nsinks;
	sh.rl_bad = (struct log_ratelimit)LOG_RATELIMIT_INIT(10);
	sh.rl_replay = (struct log_ratelimit)LOG_RATELIMIT_INIT(1);
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
	if (kafka) {
		sh.kafka = kafka;
		run_kafka(&sh);
	}
	int status = run_file(&sh);
	if (common_opts.metrics_file && metrics_write_file(common_opts.metrics_file) < 0)
		log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
			 strerror(errno));
	rec_free(&sh.rec);
	buf_free(&sh.scratch);
	lr_free(&sh.lr);
	sink_free(&c->sink);
	return status;
}
