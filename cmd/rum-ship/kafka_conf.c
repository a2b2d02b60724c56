/* librdkafka producer configurations of the Kafka sink. Why the defaults
 * are what they are is in the man page (rum-ship(1), "Kafka"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

/* Our defaults, before the user's --kafka-opt (which may change any). */
static const char *const defaults[][2] = {
    {"client.id", "rumpipe-rum-ship"},
    /* acks=all, retries in order and without duplicates */
    {"enable.idempotence", "true"},
    {"compression.codec", "zstd"},
    /* a few ms of waiting fill batches when records come one by one */
    {"linger.ms", "5"},
    {"batch.num.messages", "10000"},
};

/* Splits KEY=VALUE into key (copied into k, of size kn) and value. */
static int split(const char *kv, char *k, size_t kn, const char **v, struct rum_error *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return err_set(err, "expected KEY=VALUE");
	size_t n = (size_t)(eq - kv);
	if (n >= kn)
		return err_set(err, "the key is too long");
	memcpy(k, kv, n);
	k[n] = '\0';
	*v = eq + 1;
	return 0;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, struct rum_error *err)
{
	char why[512];
	if (rd_kafka_conf_set(conf, k, v, why, sizeof why) != RD_KAFKA_CONF_OK)
		return err_set(err, "%s", why);
	return 0;
}

int kafka_opt_check(const char *kv, struct rum_error *err)
{
	char k[256];
	const char *v;
	if (split(kv, k, sizeof k, &v, err) < 0)
		return -1;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf)
		return err_set(err, "out of memory");
	int rc = set(conf, k, v, err);
	rd_kafka_conf_destroy(conf);
	return rc;
}

rd_kafka_conf_t *kafka_conf_new(const struct ship_conf *c, int replay, struct rum_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (!conf) {
		err_set(err, "out of memory");
		return NULL;
	}
	if (set(conf, "bootstrap.servers", c->sink.brokers, err) < 0) {
		err_prefix(err, "--sink brokers %s", c->sink.brokers);
		goto fail;
	}
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (set(conf, defaults[i][0], defaults[i][1], err) < 0) {
			err_prefix(err, "%s=%s", defaults[i][0], defaults[i][1]);
			goto fail;
		}
	for (size_t i = 0; i < c->nkafka_opts; i++) {
		char k[256];
		const char *v;
		if (split(c->kafka_opts[i], k, sizeof k, &v, err) < 0 || set(conf, k, v, err) < 0) {
			err_prefix(err, "invalid value '%s' for --kafka-opt", c->kafka_opts[i]);
			goto fail;
		}
	}
	if (replay) {
		char n[32];
		snprintf(n, sizeof n, "%" PRIu64, c->kafka_replay_max_bytes);
		if (set(conf, "message.max.bytes", n, err) < 0) {
			err_prefix(err, "invalid value '%s' for --kafka-replay-max-bytes", n);
			goto fail;
		}
	}
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}
