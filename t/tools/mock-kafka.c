/* A Kafka cluster for the tests: librdkafka's mock cluster (rdkafka_mock.h)
 * in a process of its own, so that rum-ship, rum-consume and kcat reach it
 * over TCP as they would reach real brokers.
 *
 *   mock-kafka [--brokers N] [--cmd-fifo PATH]
 *
 * Prints the bootstrap list ("127.0.0.1:P1,127.0.0.1:P2,…") as its first
 * line, then reads commands, one a line, from stdin, or from PATH (a FIFO,
 * opened again after each writer closes it, so `echo down 2 > PATH` works
 * from a shell). Each command is answered with one line on stdout, "ok
 * COMMAND" or "error: reason", flushed at once so a test can wait for it:
 *
 *   topic NAME PARTITIONS [REPLICATION]   create a topic
 *   down BROKER | up BROKER               take a broker down, bring it back
 *   rtt BROKER MS                         delay a broker's answers
 *   leader TOPIC PARTITION BROKER         move a partition's leader
 *   coordinator GROUP BROKER              pin a consumer group's coordinator
 *   errors API ERROR [COUNT]              fail the next COUNT (1) requests of
 *                                         API (Produce, Fetch, …, or its
 *                                         number) with ERROR (a name such as
 *                                         NOT_LEADER_FOR_PARTITION, _TRANSPORT
 *                                         to disconnect, or a number)
 *   clear API                             drop the errors still pushed for API
 *   topic-error TOPIC ERROR               every request on TOPIC fails
 *   quit                                  exit
 *
 * At the end of stdin (without --cmd-fifo) the cluster keeps serving until
 * SIGTERM or SIGINT. Topics that are not created are made on first use
 * with the mock's defaults (4 partitions). Known limits of the mock: it
 * listens on 127.0.0.1 only, `down` does not move leadership, it
 * enforces no size limits (the clients do), and it drops a re-sent
 * produce request as a duplicate only for transactional producers: an
 * idempotent producer's retry after a lost answer is written twice,
 * where a real broker would not. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static const struct {
	const char *name;
	int16_t key;
} api_names[] = {
    {"Produce", 0},	    {"Fetch", 1},	{"ListOffsets", 2},	 {"Metadata", 3},
    {"OffsetCommit", 8},    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},	    {"LeaveGroup", 13}, {"SyncGroup", 14},	 {"ApiVersions", 18},
    {"InitProducerId", 22},
};

/* An API key by name or number; -1 when neither. */
static int api_key(const char *s)
{
	for (size_t i = 0; i < sizeof api_names / sizeof api_names[0]; i++)
		if (strcasecmp(s, api_names[i].name) == 0)
			return api_names[i].key;
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= 0 && v < 100 ? (int)v : -1;
}

/* An error code by librdkafka's name (with or without its leading '_') or
 * number; 0 and *ok = 0 when neither. */
static rd_kafka_resp_err_t err_code(const char *s, int *ok)
{
	const struct rd_kafka_err_desc *descs;
	size_t n;
	rd_kafka_get_err_descs(&descs, &n);
	*ok = 1;
	for (size_t i = 0; i < n; i++)
		if (descs[i].name && strcasecmp(s, descs[i].name) == 0)
			return descs[i].code;
	char *end;
	long v = strtol(s, &end, 10);
	if (*s && !*end)
		return (rd_kafka_resp_err_t)v;
	*ok = 0;
	return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static int answer(const char *cmd, rd_kafka_resp_err_t err)
{
	if (err)
		printf("error: %s: %s\n", cmd, rd_kafka_err2str(err));
	else
		printf("ok %s\n", cmd);
	fflush(stdout);
	return 0;
}

/* Runs one command line; 1 for quit. */
static int run_command(rd_kafka_mock_cluster_t *mc, char *line)
{
	char *w[6];
	int n = 0;
	line[strcspn(line, "\r\n")] = '\0';
	for (char *save, *t = strtok_r(line, " \t", &save); t && n < 6;
	     t = strtok_r(NULL, " \t", &save))
		w[n++] = t;
	if (n == 0)
		return 0;
	const char *cmd = w[0];
	int ok;
	if (strcmp(cmd, "quit") == 0)
		return 1;
	if (strcmp(cmd, "topic") == 0 && (n == 3 || n == 4))
		return answer(
		    cmd, rd_kafka_mock_topic_create(mc, w[1], atoi(w[2]), n == 4 ? atoi(w[3]) : 1));
	if ((strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) && n == 2)
		return answer(cmd, cmd[0] == 'd' ? rd_kafka_mock_broker_set_down(mc, atoi(w[1]))
						 : rd_kafka_mock_broker_set_up(mc, atoi(w[1])));
	if (strcmp(cmd, "rtt") == 0 && n == 3)
		return answer(cmd, rd_kafka_mock_broker_set_rtt(mc, atoi(w[1]), atoi(w[2])));
	if (strcmp(cmd, "leader") == 0 && n == 4)
		return answer(cmd,
			      rd_kafka_mock_partition_set_leader(mc, w[1], atoi(w[2]), atoi(w[3])));
	if (strcmp(cmd, "coordinator") == 0 && n == 3)
		return answer(cmd, rd_kafka_mock_coordinator_set(mc, "group", w[1], atoi(w[2])));
	if (strcmp(cmd, "errors") == 0 && (n == 3 || n == 4)) {
		int key = api_key(w[1]);
		rd_kafka_resp_err_t e = err_code(w[2], &ok);
		long cnt = n == 4 ? atol(w[3]) : 1;
		if (key < 0 || !ok || cnt < 1 || cnt > 10000) {
			printf("error: errors: unknown API, error or count\n");
			fflush(stdout);
			return 0;
		}
		rd_kafka_resp_err_t *arr = malloc((size_t)cnt * sizeof *arr);
		if (!arr) {
			printf("error: errors: out of memory\n");
			fflush(stdout);
			return 0;
		}
		for (long i = 0; i < cnt; i++)
			arr[i] = e;
		rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)cnt, arr);
		free(arr);
		return answer(cmd, 0);
	}
	if (strcmp(cmd, "clear") == 0 && n == 2 && api_key(w[1]) >= 0) {
		rd_kafka_mock_clear_request_errors(mc, (int16_t)api_key(w[1]));
		return answer(cmd, 0);
	}
	if (strcmp(cmd, "topic-error") == 0 && n == 3) {
		rd_kafka_resp_err_t e = err_code(w[2], &ok);
		if (!ok) {
			printf("error: topic-error: unknown error %s\n", w[2]);
			fflush(stdout);
			return 0;
		}
		rd_kafka_mock_topic_set_error(mc, w[1], e);
		return answer(cmd, 0);
	}
	printf("error: unknown command or wrong arguments: %s\n", cmd);
	fflush(stdout);
	return 0;
}

/* Reads commands from f until its end; 1 for quit. */
static int serve_commands(rd_kafka_mock_cluster_t *mc, FILE *f)
{
	char line[1024];
	while (!stopping && fgets(line, sizeof line, f))
		if (run_command(mc, line))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int brokers = 3;
	const char *fifo = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
			brokers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--cmd-fifo") == 0 && i + 1 < argc)
			fifo = argv[++i];
		else {
			fprintf(stderr, "usage: mock-kafka [--brokers N] [--cmd-fifo PATH]\n");
			return 2;
		}
	}
	if (brokers < 1 || brokers > 16) {
		fprintf(stderr, "mock-kafka: --brokers: 1 to 16\n");
		return 2;
	}

	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "mock-kafka: %s\n", errstr);
		return 1;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk) {
		fprintf(stderr, "mock-kafka: %s\n", errstr);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "mock-kafka: cannot start the mock cluster\n");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	int quit = 0;
	if (!fifo) {
		quit = serve_commands(mc, stdin);
	} else {
		while (!quit && !stopping) {
			FILE *f = fopen(fifo, "r");
			if (!f) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "mock-kafka: %s: %s\n", fifo, strerror(errno));
				break;
			}
			quit = serve_commands(mc, f);
			fclose(f);
		}
	}
	while (!quit && !stopping)
		pause();

	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
