# Helpers for the tests that use Kafka (sourced after common.bash): the mock
# cluster (t/tools/mock-kafka, librdkafka's rdkafka_mock.h in a process of
# its own) and kcat, the independent client.
#
# The mock keeps only about 5 MB a partition: past that it drops the oldest
# messages without a word, and `kcat -o beginning` starts after them. Spread
# a test's volume over enough partitions.

# start_mock_kafka [BROKERS]: the mock cluster with BROKERS (3) brokers on
# 127.0.0.1; sets KAFKA (the bootstrap list), KAFKA_PID, KAFKA_FIFO (its
# command FIFO) and KAFKA_OUT (its answers). Skips the test without kcat.
start_mock_kafka() {
	command -v kcat >/dev/null || skip "kcat is not installed"
	KAFKA_FIFO=$BATS_TEST_TMPDIR/kafka.cmd
	KAFKA_OUT=$BATS_TEST_TMPDIR/kafka.out
	rm -f "$KAFKA_FIFO" "$KAFKA_OUT"
	mkfifo "$KAFKA_FIFO"
	"$TOOLS/mock-kafka" --brokers "${1:-3}" --cmd-fifo "$KAFKA_FIFO" >"$KAFKA_OUT" \
		2>>"$BATS_TEST_TMPDIR/kafka.err" &
	KAFKA_PID=$!
	wait_for 10 test -s "$KAFKA_OUT"
	KAFKA=$(head -1 "$KAFKA_OUT")
}

# stop_mock_kafka: for teardown.
stop_mock_kafka() {
	[ -n "${KAFKA_PID:-}" ] && stop_pid "$KAFKA_PID" KILL
	KAFKA_PID=
}

# kafka_cmd COMMAND...: one command to the mock cluster (see mock-kafka.c:
# topic, down, up, rtt, leader, coordinator, errors, clear, topic-error);
# waits for its answer and fails when it is an error.
kafka_cmd() {
	local before answer
	before=$(lines "$KAFKA_OUT")
	echo "$*" >"$KAFKA_FIFO"
	wait_for 10 count_at_least $((before + 1)) lines "$KAFKA_OUT"
	answer=$(sed -n "$((before + 1))p" "$KAFKA_OUT")
	[ "${answer#ok }" != "$answer" ] || { echo "mock-kafka: $answer" >&2; return 1; }
}

# kafka_read TOPIC [KCAT-OPTION]...: every message of TOPIC from the
# beginning, with kcat, one a line as FORMAT (-f, default the payload).
kafka_read() {
	local topic=$1
	shift
	kcat -C -b "$KAFKA" -t "$topic" -o beginning -e -q "$@"
}
