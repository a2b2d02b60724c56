/* rum-ship internals shared by its source files.
 *
 * Layout: main.c reads records and batches points; every sink delivers
 * through the engine (engine.h: slots, order, retries, waiting, drain) from
 * a queue (queue.h: the disk queue or memory): sink_points.c (Dataway and
 * line-protocol endpoints), sink_replay.c (session replays, on a thread of
 * their own), sink_file.c (a file or standard output, no network). A new
 * sink is one more sink_<name>.c implementing struct sink_ops, with its
 * --sink form in sinkurl.c. Several Dataway --sink: main.c gives each a
 * ship_conf of its own (queue directories, metric label) and its own
 * points and replay, and hands every record to each. */
#ifndef RUM_SHIP_H
#define RUM_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"
#include "record.h"

enum sink_kind { SINK_STDOUT, SINK_FILE, SINK_DATAWAY, SINK_INFLUX, SINK_KAFKA };

struct sink {
	enum sink_kind kind;
	char *url;	    /* HTTP sinks: the URL every batch is POSTed to */
	char *path;	    /* SINK_FILE */
	int has_token;	    /* SINK_DATAWAY: a token= query argument was given */
	char *replay_url;   /* SINK_DATAWAY: where session replays are POSTed */
	char *brokers;	    /* SINK_KAFKA: HOST:PORT[,HOST:PORT...] */
	char *topic;	    /* SINK_KAFKA */
	char *replay_topic; /* SINK_KAFKA: session_replay records; NULL: skipped */
};

struct ship_conf;

/* Parses a --sink value. 0, or -1 with the reason in err. */
int sink_parse(const char *s, struct sink *out, struct rum_error *err);
void sink_free(struct sink *s);
/* The labels of a per-sink metric: c->metric_labels before labels (either
 * may be NULL), in buf; NULL when both are. */
const char *sink_labels(const struct ship_conf *c, const char *labels, char *buf, size_t n);

/* Several --sink (Dataway URLs only): every record goes to each. */
#define SHIP_MAX_SINKS 16

struct ship_conf {
	struct sink sink;
	/* With several sinks each has a copy of the conf with its own sink,
	 * queue directories, metric label and name; with one, both are the
	 * single-sink values (no label, "sink"). */
	const char *metric_labels; /* sink="N", or NULL */
	const char *name;	   /* for log lines: "sink", "sink N" */
	uint64_t batch_size;
	uint64_t batch_bytes;
	uint64_t flush_interval_ms;
	uint64_t max_inflight;
	uint64_t timeout_s;
	uint64_t memory_queue_bytes;
	const char *spool_dir;
	uint64_t spool_capacity_bytes; /* 0: not given */
	uint64_t drain_timeout_ms;
	int gzip_level; /* 0: bodies sent uncompressed */
	uint64_t backoff_min_ms;
	uint64_t backoff_max_ms;

	/* session replay uploads (Dataway sinks) */
	uint64_t replay_workers;
	uint64_t replay_timeout_s;
	uint64_t replay_retries;
	const char *replay_cache_dir; /* NULL: <spool_dir>/replay, or memory */
	uint64_t replay_cache_bytes;
	uint64_t replay_memory_bytes;
	int replay_clear_cache;

	/* Kafka */
	const char **kafka_opts; /* KEY=VALUE for librdkafka, in order */
	size_t nkafka_opts;
	uint64_t kafka_replay_max_bytes;
};

/* gzip with one z_stream reused for every batch. */
struct gz;
struct gz *gz_new(int level);
void gz_free(struct gz *g);
/* Appends the gzip member holding in[0..n) to out. 0 or -1. */
int gz_compress(struct gz *g, const char *in, size_t n, struct buf *out);

/* Points to a Dataway or a line-protocol endpoint (sink_points.c): sealed
 * batches in, requests out through the delivery engine (engine.h). */
struct points;
int points_open(struct points **s, const struct ship_conf *c, struct rum_error *err);
void points_close(struct points *s);
/* Compresses one batch of line protocol and queues it (memory or spool). */
int points_submit(struct points *s, const char *lp, size_t len, uint32_t npoints);
/* Makes progress without blocking: completions, retries, new requests. */
void points_pump(struct points *s);
/* The spool's interval sync, when due (dq_sync_due). */
void points_sync_due(struct points *s);
/* Waits up to timeout_ms for network activity (and for fd to become
 * readable when fd >= 0), then pumps. 1 when fd is readable (or at EOF). */
int points_wait(struct points *s, int fd, int timeout_ms);
/* The in-memory queue is full: stop reading input until it is not. */
int points_full(const struct points *s);
/* Sends what is queued until it is all done or deadline_ms (monotonic)
 * passes. Returns the number of points not delivered and not kept on disk
 * (always 0 with a spool). */
uint64_t points_drain(struct points *s, uint64_t deadline_ms);
/* The same for several sinks at once, so that a sink that is down does not
 * use up the time of the others. Returns the points lost, all sinks. */
uint64_t points_drain_all(struct points **s, size_t n, uint64_t deadline_ms);
/* Refreshes the gauges (in flight, queue, spool). */
void points_gauges(struct points *s);

/* session_replay records → replay queue entries (replay_entry.c). */
struct replay_builder {
	struct buf scratch, wrap;
	struct record hrec;
};
struct replay_entry {
	const char *ct, *xgt, *hdrs, *app, *body;
	size_t ct_len, xgt_len, hdrs_len, app_len, body_len;
};
/* The upload a record stands for, as a queue entry in out. 0, or -1 with
 * the reason in err. */
int replay_entry_build(struct replay_builder *rb, const struct record *rec, struct buf *out,
		       struct rum_error *err);
/* A view of an entry's parts. 0, or -1 when it is not an entry. */
int replay_entry_parse(const char *p, size_t n, struct replay_entry *e);
void replay_builder_free(struct replay_builder *rb);

/* The replay uploader (sink_replay.c): its own queue (disk or memory) and
 * its own thread driving a delivery engine with --replay-workers requests in
 * flight, apart from the points. */
struct replay;
int replay_open(struct replay **r, const struct ship_conf *c, struct rum_error *err);
/* Queues the upload of one session_replay record; never waits for the
 * network. 0, or -1 when the record cannot be uploaded (counted, logged). */
int replay_submit(struct replay *r, const struct record *rec, uint64_t lineno);
/* No more records: send what is queued until deadline_ms (monotonic). */
void replay_drain(struct replay *r, uint64_t deadline_ms);
/* Waits for the uploader to stop and frees it; returns the uploads lost
 * (memory queue only: a disk queue keeps them for the next run). */
uint64_t replay_close(struct replay *r);
void replay_gauges(struct replay *r);

/* Records as NDJSON to a file or standard output (sink_file.c), written
 * through the delivery engine with no network: the engine flushes the
 * output buffer every --flush-interval and when input would block. */
struct filesink;
/* Opens the file (or takes standard output). 0, or -1 with err. */
int filesink_open(struct filesink **f, const struct ship_conf *c, struct rum_error *err);
/* One record's line. -1: the output failed (the error is kept for
 * filesink_close). */
int filesink_write(struct filesink *f, const char *line, size_t len);
/* Flushes when --flush-interval has passed since the last flush. */
void filesink_tick(struct filesink *f);
/* Input would block: flush what is buffered. */
void filesink_idle(struct filesink *f);
/* SIGHUP: flush to the old file and start a new one (logrotate). */
void filesink_reopen(struct filesink *f);
/* Flushes, closes and frees; 0, or -1 when the output failed (logged). */
int filesink_close(struct filesink *f);

/* Records to Kafka (sink_kafka.c): batches of records in a queue (memory
 * or the disk queue), one message a record, through the delivery engine. */
struct kafka;
/* 0; -1 with err (exit 1: the spool, memory); -2 with err when librdkafka
 * refuses the configuration (exit 2). */
int kafka_open(struct kafka **k, const struct ship_conf *c, struct rum_error *err);
void kafka_close(struct kafka *k);
/* One record (rec parsed from line[0..len)) into the batch in hand; replay:
 * a session_replay record, for the replay topic. 0, or -1 when out of
 * memory. The batch is queued when it is full. */
int kafka_add(struct kafka *k, const struct record *rec, const char *line, size_t len, int replay);
/* Queues the batch in hand (the end). */
void kafka_seal(struct kafka *k);
/* Input would block: queues the batch in hand when the producer would
 * take it at once. */
void kafka_idle(struct kafka *k);
/* Queues the batch in hand when --flush-interval is up; makes progress. */
void kafka_tick(struct kafka *k);
/* Waits up to timeout_ms for reports (and fd readable when fd >= 0), then
 * makes progress. 1 when fd is readable. */
int kafka_wait(struct kafka *k, int fd, int timeout_ms);
/* The producer's queue is full, or the memory queue: stop reading input. */
int kafka_full(const struct kafka *k);
/* librdkafka's reason when the producer failed for good, else NULL. */
const char *kafka_fatal(const struct kafka *k);
/* Sends what is queued until it is all delivered or deadline_ms passes (or
 * at once after a fatal error); then stops the producers. Returns the
 * records lost (not delivered and not kept on disk; 0 with a spool). */
uint64_t kafka_drain(struct kafka *k, uint64_t deadline_ms);
void kafka_gauges(struct kafka *k);

#endif
