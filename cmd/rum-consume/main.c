/* rum-consume: the head of a processing node's chain. Reads records from
 * Kafka topics in a consumer group and writes them to standard output, one
 * a line, at least once: a message's offset is stored only after its line
 * was written, and committed every second, on revoke and at exit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consume.h"
#include "cpusched.h"
#include "io.h"
#include "log.h"
#include "opts.h"
#include "sig.h"

enum { O_KAFKA_OPT = 1 };

/* clang-format off */
static const struct opt options[] = {
    {.name = "kafka-opt", .type = OPT_CALL, .key = O_KAFKA_OPT, .arg_name = "KEY=VALUE",
     .help = "a librdkafka consumer setting, passed as is (after rum-consume's own, so it "
             "wins); repeatable"},
    {.name = "buffer", .type = OPT_SIZE, .arg_name = "BYTES", OPT_AT(struct consume_conf, buffer),
     .def = "8M", .min = 64 << 10, .max = (uint64_t)1 << 30,
     .help = "bytes waiting for standard output above which the partitions are paused "
             "(resumed at a quarter of it)"},
    {.name = "drain-timeout", .type = OPT_UINT, .arg_name = "SECONDS",
     OPT_AT(struct consume_conf, drain_ms), .def = "10", .min = 0, .max = 3600, .scale = 1000,
     .help = "on SIGTERM, how long standard output may take to accept what is buffered"},
    {.name = "exit-at-end", .type = OPT_FLAG, OPT_AT(struct consume_conf, exit_at_end),
     .help = "exit 0 once every assigned partition is read to its end (as kcat -e)"},
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info info = {
    "rum-consume",
    "[OPTION]... kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...]?group=GROUP",
    "Reads the messages of the Kafka TOPICs as a member of the consumer group GROUP and "
    "writes them to standard output as records, one a line: the head of a processing "
    "node's chain, in place of rum-listen. Delivery is at least once: a message's offset "
    "is stored only after its whole line was written, and committed every second, when "
    "partitions are revoked and at exit. While more than --buffer bytes wait for standard output, "
    "the partitions are paused "
    "(the member stays in the group). A message that "
    "is not a valid record is counted, reported and skipped. SIGTERM writes what is "
    "buffered, commits, leaves the group and exits 0.",
};

static const char *on_opt(int key, const char *val, void *ctx)
{
	struct consume_conf *cf = ctx;
	if (key != O_KAFKA_OPT)
		return "unknown option";
	if (!strchr(val, '=') || val[0] == '=')
		return "expected KEY=VALUE";
	if (cf->nkafka_opts == KAFKA_OPTS_MAX)
		return "too many --kafka-opt";
	cf->kafka_opts[cf->nkafka_opts++] = val;
	return NULL;
}

int main(int argc, char **argv)
{
	static struct consume_conf cf;
	static struct kafka_url url;
	static struct consumer c;
	struct rum_error err;
	int first = opts_parse(argc, argv, &info, options, on_opt, &cf);
	if (first >= argc)
		die(2, "no source: kafka://HOST:PORT/TOPIC?group=GROUP (see --help)");
	if (first + 1 < argc)
		die(2, "unexpected argument '%s' after the source", argv[first + 1]);
	if (kafka_url_parse(&url, argv[first], &err) < 0)
		die(2, "%s: %s (at byte %zu)", argv[first], err.msg, err.offset);
	cf.url = &url;
	cf.max_line = common_opts.max_line;
	cf.check = common_opts.check_config;
	if (consumer_open(&c, &cf, &err) < 0) {
		kafka_url_free(&url);
		die(2, "%s", err.msg);
	}
	if (common_opts.check_config) {
		consumer_discard(&c);
		kafka_url_free(&url);
		opts_check_done();
	}

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	/* A 1 MiB pipe to the next stage, so that a burst of records is one
	 * wakeup of it rather than one a 64 KiB. */
	pipe_grow(STDOUT_FILENO, 1 << 20);
	if (consumer_start(&c, &err) < 0) {
		log_error("%s", err.msg);
		consumer_discard(&c);
		kafka_url_free(&url);
		return 1;
	}
	log_info("reading %s%s in group %s from %s", url.topics[0],
		 url.ntopics > 1 ? " and more" : "", url.group, url.brokers);
	int status = consumer_run(&c);
	kafka_url_free(&url);
	return status;
}
