/* The librdkafka side of rum-consume: configuration, the rebalance
 * callback, the table of partitions, storing and committing offsets. */
#include "consume.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grow.h"
#include "metrics.h"

#define PARTS_MAX 100000
#define SHOWN_PARTS 16
#define PAUSE_AFTER_MS 1000 /* partitions named in an assignment's log line */

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	const struct consumer *c = rd_kafka_opaque(rk);
	if (c->conf->check)
		return; /* the brokers are not reached for --check-config */
	enum log_level l = level <= 3 ? RLOG_ERROR : level == 4 ? RLOG_WARN : RLOG_INFO;
	log_msg(l, "librdkafka %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct consumer *c = opaque;
	if (c->conf->check)
		return;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
		log_error("fatal consumer error: %s: %s", rd_kafka_err2name(orig), why);
		c->failed = 1;
		c->stop = 1;
		return;
	}
	log_rl(&c->rl_kafka, RLOG_WARN, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

/* Auto commits (every auto.commit.interval.ms) report here. */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	(void)rk;
	(void)offsets;
	struct consumer *c = opaque;
	if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	if (err) {
		metric_inc(c->m.commits_err);
		log_rl(&c->rl_kafka, RLOG_WARN, "committing offsets: %s", rd_kafka_err2str(err));
		return;
	}
	metric_inc(c->m.commits_ok);
}

struct part *part_get(struct consumer *c, const char *topic, int32_t partition)
{
	if (c->last < c->nparts) {
		struct part *p = &c->parts[c->last];
		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return p;
	}
	for (size_t i = 0; i < c->nparts; i++) {
		struct part *p = &c->parts[i];
		if (p->partition == partition && strcmp(p->topic, topic) == 0) {
			c->last = i;
			return p;
		}
	}
	return NULL;
}

static struct part *part_add(struct consumer *c, const char *topic, int32_t partition)
{
	struct part *p = part_get(c, topic, partition);
	if (p)
		return p;
	if (ARRAY_RESERVE(c->parts, c->pcap, c->nparts + 1, PARTS_MAX) < 0)
		return NULL;
	char *t = strdup(topic);
	if (!t)
		return NULL;
	p = &c->parts[c->nparts++];
	*p = (struct part){.topic = t, .partition = partition, .store = -1, .position = -1};
	return p;
}

/* "topic[0,2,5] other[1]" into out, at most SHOWN_PARTS partitions. */
static void parts_text(const rd_kafka_topic_partition_list_t *l, char *out, size_t n)
{
	size_t at = 0;
	out[0] = '\0';
	for (int i = 0; i < l->cnt && at + 1 < n; i++) {
		const rd_kafka_topic_partition_t *t = &l->elems[i];
		int same = i > 0 && strcmp(l->elems[i - 1].topic, t->topic) == 0;
		int w;
		if (i == SHOWN_PARTS)
			w = snprintf(out + at, n - at, "] and %d more", l->cnt - i);
		else if (same)
			w = snprintf(out + at, n - at, ",%" PRId32, t->partition);
		else
			w = snprintf(out + at, n - at, "%s%s[%" PRId32, i ? "] " : "", t->topic,
				     t->partition);
		if (w < 0 || (size_t)w >= n - at)
			return;
		at += (size_t)w;
		if (i == SHOWN_PARTS)
			return;
	}
	if (l->cnt && at + 2 <= n)
		strcpy(out + at, "]");
}

static void assigned(struct consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l,
		     int coop)
{
	for (int i = 0; i < l->cnt; i++) {
		struct part *p = part_add(c, l->elems[i].topic, l->elems[i].partition);
		if (!p) {
			log_error("out of memory");
			c->failed = c->stop = 1;
			return;
		}
		p->assigned = 1;
		p->at_end = 0;
		p->dirty = 0;
		p->store = -1;
		p->position = -1;
	}
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (coop) {
		rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, l);
		if (e) {
			log_error("assigning partitions: %s", rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
	} else {
		err = rd_kafka_assign(rk, l);
	}
	if (err)
		log_error("assigning partitions: %s", rd_kafka_err2str(err));
	if (c->paused)
		rd_kafka_pause_partitions(rk, l);
	metric_inc(c->m.rebalance_assign);
	char text[512];
	parts_text(l, text, sizeof text);
	log_info("assigned %d partition%s: %s", l->cnt, l->cnt == 1 ? "" : "s", text);
}

static void revoked(struct consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l,
		    int coop, int lost)
{
	/* What stdout takes now is written and its offsets stored and
	 * committed while the partitions are still ours; what stays in the
	 * queue is read again by the new owner (the duplicate window). */
	settle(c);
	if (!lost)
		offsets_commit(c, "on revoke");
	for (int i = 0; i < l->cnt; i++) {
		struct part *p = part_get(c, l->elems[i].topic, l->elems[i].partition);
		if (p) {
			p->assigned = 0;
			p->gen++;
			p->dirty = 0;
		}
	}
	if (coop) {
		rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, l);
		if (e) {
			log_error("unassigning partitions: %s", rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
	} else {
		rd_kafka_resp_err_t err = rd_kafka_assign(rk, NULL);
		if (err)
			log_error("unassigning partitions: %s", rd_kafka_err2str(err));
	}
	metric_inc(c->m.rebalance_revoke);
	char text[512];
	parts_text(l, text, sizeof text);
	log_info("%s %d partition%s: %s", lost ? "lost" : "revoked", l->cnt, l->cnt == 1 ? "" : "s",
		 text);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *l, void *opaque)
{
	struct consumer *c = opaque;
	int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		assigned(c, rk, l, coop);
	} else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		revoked(c, rk, l, coop, rd_kafka_assignment_lost(rk));
	} else {
		log_error("rebalance: %s", rd_kafka_err2str(err));
		revoked(c, rk, l, coop, 1);
	}
}

void offsets_done(void *ctx, const struct outq_mark *m)
{
	struct consumer *c = ctx;
	metric_add(c->m.written, m->records);
	if (m->slot >= c->nparts)
		return;
	struct part *p = &c->parts[m->slot];
	if (!p->assigned || p->gen != m->gen)
		return; /* the partition went away meanwhile: not ours to store */
	p->store = m->offset + 1;
	p->dirty = 1;
}

void offsets_store(struct consumer *c)
{
	int n = 0;
	for (size_t i = 0; i < c->nparts; i++)
		n += c->parts[i].dirty;
	if (!n)
		return;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
	if (!l) {
		log_error("out of memory");
		c->failed = c->stop = 1;
		return;
	}
	for (size_t i = 0; i < c->nparts; i++) {
		struct part *p = &c->parts[i];
		if (!p->dirty)
			continue;
		rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->store;
		p->dirty = 0;
	}
	rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, l);
	/* __STATE: a partition revoked meanwhile, whose new owner reads
	 * the rest; nothing to report. */
	if (err && err != RD_KAFKA_RESP_ERR__STATE)
		log_rl(&c->rl_kafka, RLOG_WARN, "storing offsets: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
}

void offsets_commit(struct consumer *c, const char *why)
{
	offsets_store(c);
	rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
	if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	if (err) {
		metric_inc(c->m.commits_err);
		log_warn("committing offsets %s: %s", why, rd_kafka_err2str(err));
		return;
	}
	metric_inc(c->m.commits_ok);
	log_debug("offsets committed %s", why);
}

void parts_pause(struct consumer *c, int pause)
{
	rd_kafka_topic_partition_list_t *l = NULL;
	rd_kafka_resp_err_t err = rd_kafka_assignment(c->rk, &l);
	if (!err && l->cnt)
		err = pause ? rd_kafka_pause_partitions(c->rk, l)
			    : rd_kafka_resume_partitions(c->rk, l);
	if (err)
		log_warn("%s partitions: %s", pause ? "pausing" : "resuming",
			 rd_kafka_err2str(err));
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	c->paused = pause;
	metric_set(c->m.paused, (uint64_t)pause);
	if (pause)
		metric_inc(c->m.pauses);
	log_debug("standard output %s: partitions %s", pause ? "blocked" : "drained",
		  pause ? "paused" : "resumed");
}

/* One conf setting; a bad one is a configuration error. */
static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, const char *from,
		    struct rum_error *err)
{
	char why[512];
	if (rd_kafka_conf_set(conf, key, val, why, sizeof why) != RD_KAFKA_CONF_OK)
		return err_set(err, "%s%s: %s", from, from[0] ? "" : key, why);
	return 0;
}

/* --kafka-opt KEY=VALUE, after our defaults so that it wins. */
static int conf_user(rd_kafka_conf_t *conf, const char *kv, struct rum_error *err)
{
	const char *eq = strchr(kv, '=');
	char key[256], from[320];
	snprintf(from, sizeof from, "--kafka-opt %s", kv);
	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
		return err_set(err, "%s: expected KEY=VALUE", from);
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	if (strcmp(key, "enable.auto.offset.store") == 0)
		return err_set(err,
			       "%s: rum-consume stores offsets itself, after writing (it is "
			       "what makes delivery at-least-once)",
			       from);
	return conf_set(conf, key, eq + 1, from, err);
}

static rd_kafka_conf_t *make_conf(struct consumer *c, struct rum_error *err)
{
	const struct consume_conf *cf = c->conf;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	static const char *const defaults[][2] = {
	    {"client.id", "rum-consume"},      {"enable.auto.offset.store", "false"},
	    {"enable.auto.commit", "true"},    {"auto.commit.interval.ms", "1000"},
	    {"auto.offset.reset", "earliest"}, {"log.connection.close", "false"},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (conf_set(conf, defaults[i][0], defaults[i][1], "", err) < 0)
			goto bad;
	if (conf_set(conf, "bootstrap.servers", cf->url->brokers, "", err) < 0 ||
	    conf_set(conf, "group.id", cf->url->group, "", err) < 0 ||
	    conf_set(conf, "enable.partition.eof", cf->exit_at_end ? "true" : "false", "", err) < 0)
		goto bad;
	for (size_t i = 0; i < cf->nkafka_opts; i++)
		if (conf_user(conf, cf->kafka_opts[i], err) < 0)
			goto bad;
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	return conf;
bad:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static void metrics_init(struct consume_metrics *m)
{
	m->consumed = metric_get("rum_consume_messages_total", NULL, METRIC_COUNTER,
				 "Messages taken from Kafka.");
	m->written = metric_get("rum_consume_records_written_total", NULL, METRIC_COUNTER,
				"Records written to standard output (write(2) returned).");
	m->bad_record = metric_get("rum_consume_invalid_total", "reason=\"record\"", METRIC_COUNTER,
				   "Messages skipped as not a record, by reason (their offsets "
				   "stored).");
	m->bad_long =
	    metric_get("rum_consume_invalid_total", "reason=\"too_long\"", METRIC_COUNTER, NULL);
	m->stale = metric_get("rum_consume_unassigned_total", NULL, METRIC_COUNTER,
			      "Messages dropped because their partition was revoked before "
			      "they were taken (its new owner reads them).");
	m->paused = metric_get("rum_consume_paused", NULL, METRIC_GAUGE,
			       "1 while the partitions are paused because standard output does "
			       "not take more.");
	m->pauses = metric_get("rum_consume_pauses_total", NULL, METRIC_COUNTER,
			       "Times the partitions were paused.");
	m->lag = metric_get("rum_consume_lag_messages", NULL, METRIC_GAUGE,
			    "Messages behind the end of the assigned partitions, as last known.");
	m->assigned = metric_get("rum_consume_assigned_partitions", NULL, METRIC_GAUGE,
				 "Partitions assigned to this member.");
	m->rebalance_assign = metric_get("rum_consume_rebalances_total", "event=\"assign\"",
					 METRIC_COUNTER, "Rebalance events, by kind.");
	m->rebalance_revoke =
	    metric_get("rum_consume_rebalances_total", "event=\"revoke\"", METRIC_COUNTER, NULL);
	m->commits_ok = metric_get("rum_consume_commits_total", "result=\"ok\"", METRIC_COUNTER,
				   "Offset commits, by result.");
	m->commits_err =
	    metric_get("rum_consume_commits_total", "result=\"error\"", METRIC_COUNTER, NULL);
}

/* A full output queue pauses the partitions after a quarter of
 * max.poll.interval.ms, at most PAUSE_AFTER_MS: long before librdkafka
 * would count the member as gone. */
static uint64_t pause_after(rd_kafka_t *rk)
{
	char v[32];
	size_t n = sizeof v;
	uint64_t ms = PAUSE_AFTER_MS;
	if (rd_kafka_conf_get(rd_kafka_conf(rk), "max.poll.interval.ms", v, &n) ==
	    RD_KAFKA_CONF_OK) {
		uint64_t quarter = strtoull(v, NULL, 10) / 4;
		if (quarter < ms)
			ms = quarter ? quarter : 1;
	}
	return ms;
}

int consumer_open(struct consumer *c, const struct consume_conf *conf, struct rum_error *err)
{
	memset(c, 0, sizeof *c);
	c->conf = conf;
	c->wake[0] = c->wake[1] = -1;
	c->high = conf->buffer;
	c->low = conf->buffer / 4;
	c->rl_bad = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	c->rl_kafka = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	metrics_init(&c->m);
	outq_init(&c->out, STDOUT_FILENO);
	rd_kafka_conf_t *kconf = make_conf(c, err);
	if (!kconf)
		return -1;
	char why[512];
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, why, sizeof why);
	if (!c->rk) {
		rd_kafka_conf_destroy(kconf);
		return err_set(err, "%s", why);
	}
	c->pause_ms = pause_after(c->rk);
	return 0;
}

void consumer_discard(struct consumer *c)
{
	if (c->q) {
		rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
		rd_kafka_queue_destroy(c->q);
		c->q = NULL;
	}
	for (int i = 0; i < 2; i++)
		if (c->wake[i] >= 0)
			close(c->wake[i]);
	rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	c->rk = NULL;
	checker_stop(&c->check);
	outq_free(&c->out);
}

int consumer_start(struct consumer *c, struct rum_error *err)
{
	const struct kafka_url *u = c->conf->url;
	rd_kafka_poll_set_consumer(c->rk);
	c->q = rd_kafka_queue_get_consumer(c->rk);
	if (!c->q)
		return err_set(err, "no consumer queue");
	if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) < 0)
		return err_set(err, "pipe: %s", strerror(errno));
	rd_kafka_queue_io_event_enable(c->q, c->wake[1], "w", 1);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)u->ntopics);
	for (size_t i = 0; i < u->ntopics; i++)
		rd_kafka_topic_partition_list_add(l, u->topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e)
		return err_set(err, "subscribing: %s", rd_kafka_err2str(e));
	c->out_flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (c->out_flags < 0 || fcntl(STDOUT_FILENO, F_SETFL, c->out_flags | O_NONBLOCK) < 0)
		return err_set(err, "standard output: %s", strerror(errno));
	if (checker_start(&c->check, c->conf->max_line) < 0)
		log_warn("no second thread for the record check: %s; one does it all",
			 strerror(errno));
	return 0;
}

void consumer_close(struct consumer *c)
{
	/* Leaves the group: the rebalance callback runs for the last
	 * revoke (which commits what is stored) and unassigns. */
	rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
	if (err)
		log_warn("leaving the group: %s", rd_kafka_err2str(err));
	rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
	rd_kafka_queue_destroy(c->q);
	rd_kafka_destroy(c->rk);
	c->rk = NULL;
	close(c->wake[0]);
	close(c->wake[1]);
	if (c->out_flags >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, c->out_flags);
	for (size_t i = 0; i < c->nparts; i++)
		free(c->parts[i].topic);
	free(c->parts);
	outq_free(&c->out);
	rec_free(&c->rec);
	checker_stop(&c->check);
}
