#!/usr/bin/env bats
# rum-consume: Kafka → records on stdout, at least once, in a consumer
# group, against librdkafka's mock cluster (t/tools/mock-kafka) with kcat
# as the producer.

load lib/common
load lib/kafka
bats_require_minimum_version 1.5.0

setup() {
	C=$BIN/rum-consume
	T=$BATS_TEST_TMPDIR
	TOPIC=rum
	GROUP=proc
	# The mock cluster elects a group's leader only after session.timeout.ms
	# less a second once the group has had members: a short session keeps
	# rejoins and restarts within seconds.
	KOPTS=(--kafka-opt session.timeout.ms=6000 --kafka-opt heartbeat.interval.ms=500)
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do stop_pid "$p" KILL; done
	# one a test started inside a pipeline
	pkill -KILL -f -- "--metrics-file $T/" 2>/dev/null || true
	stop_mock_kafka
	true
}

# cluster PARTITIONS: the mock cluster, the topic, the group's coordinator
# pinned on broker 1 (taking down the coordinator would stall the group).
cluster() {
	PARTS=$1
	start_mock_kafka 3
	kafka_cmd topic "$TOPIC" "$1" 3
	kafka_cmd coordinator "$GROUP" 1
}

# records FROM TO [PAD]: records numbered by their field seq, one a line,
# with PAD bytes of padding in a tag.
records() {
	awk -v a="$1" -v b="$2" -v pad="${3:-0}" 'BEGIN {
		p = sprintf("%" pad "s", ""); gsub(/ /, "x", p)
		for (i = a; i <= b; i++)
			printf "{\"measurement\":\"view\",\"tags\":{\"session_id\":\"s%d\",\"pad\":\"%s\"},\"fields\":{\"seq\":%d},\"time\":1700000000%09d}\n", i % 97, p, i, i
	}'
}

# produce FROM TO [PAD]: those records into the topic, with kcat.
produce() {
	# Without stickiness every record goes to a partition of its own
	# choosing: sticky batches could leave a member's partitions empty.
	records "$@" | kcat -P -b "$KAFKA" -t "$TOPIC" -X sticky.partitioning.linger.ms=0
}

# member NAME [OPTION]...: a rum-consume of the group writing $T/NAME.out,
# $T/NAME.err and $T/NAME.prom; its pid in the variable NAME_PID.
member() {
	local name=$1
	shift
	"$C" "${KOPTS[@]}" --metrics-file "$T/$name.prom" "$@" "kafka://$KAFKA/$TOPIC?group=$GROUP" \
		>"$T/$name.out" 2>"$T/$name.err" &
	printf -v "${name}_PID" %s $!
	PIDS+=($!)
}

# seqs FILE...: the seq of every record in the files, sorted, one a line.
seqs() { cat "$@" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | sort -n; }

# total_lines FILE...: lines in all of them.
total_lines() { cat "$@" 2>/dev/null | wc -l; }

# every_once FROM TO FILE...: each of FROM..TO is there exactly once.
every_once() {
	local a=$1 b=$2
	shift 2
	diff <(seq "$a" "$b") <(seqs "$@") >"$T/diff" || { head -20 "$T/diff" >&2; return 1; }
}

# every_at_least_once FROM TO FILE...: each of FROM..TO is there.
every_at_least_once() {
	local a=$1 b=$2
	shift 2
	diff <(seq "$a" "$b") <(seqs "$@" | uniq) >"$T/diff"
}

# exits PID STATUS: the background process PID ends with STATUS.
exits() {
	local rc=0
	wait "$1" || rc=$?
	[ "$rc" = "$2" ] || { echo "process $1 exited $rc, not $2" >&2; return 1; }
}

# settled MEMBER...: every member holds partitions (its last assignment,
# unless revoked since) and they add up to the topic's PARTS: the group is
# formed with all of them and no rebalance is pending.
settled() {
	local m n sum=0
	for m in "$@"; do
		n=$(awk '/: assigned [0-9]+ partition/ { n = $4 } /: (revoked|lost) [0-9]/ { n = 0 }
			END { print n + 0 }' "$T/$m.err")
		[ "$n" -gt 0 ] || return 1
		sum=$((sum + n))
	done
	[ "$sum" = "$PARTS" ]
}

# metric_at_least N NAME FILE (for wait_for).
metric_at_least() { [ "$(metric "$2" "$3")" -ge "$1" ] 2>/dev/null; }

@test "usage: the source, --kafka-opt and --check-config; bad ones exit 2 with the reason" {
	run -2 "$C"
	[[ $output == *"no source: kafka://"* ]]
	run -2 "$C" "kafka://127.0.0.1:9092/rum"
	[[ $output == *"no group"* ]]
	run -2 "$C" "kafka://127.0.0.1:9092/ru m?group=g"
	[[ $output == *"unexpected ' ' in a topic name"*"at byte 25"* ]]
	run -2 "$C" "kafka://127.0.0.1:99999/rum?group=g"
	[[ $output == *"the port is a number from 1 to 65535"* ]]
	run -2 "$C" "kafka://h:1/rum?group=g&partition=2"
	[[ $output == *"unknown parameter 'partition'"* ]]
	run -2 "$C" --kafka-opt no.such.setting=1 "kafka://h:1/rum?group=g"
	[[ $output == *"--kafka-opt no.such.setting=1: No such configuration property"* ]]
	run -2 "$C" --kafka-opt fetch.wait.max.ms=soon "kafka://h:1/rum?group=g"
	[[ $output == *"--kafka-opt fetch.wait.max.ms=soon: Invalid value"* ]]
	run -2 "$C" --kafka-opt enable.auto.offset.store=true "kafka://h:1/rum?group=g"
	[[ $output == *"stores offsets itself"* ]]
	run -2 "$C" --kafka-opt novalue "kafka://h:1/rum?group=g"
	[[ $output == *"expected KEY=VALUE"* ]]
	# librdkafka's checks across settings, at start-up.
	run -2 "$C" --kafka-opt session.timeout.ms=60000 --kafka-opt max.poll.interval.ms=10000 \
		"kafka://h:1/rum?group=g"
	[[ $output == *"max.poll.interval.ms"* ]]
	run -0 "$C" --check-config --kafka-opt fetch.wait.max.ms=50 "kafka://h:1,[::1]:9093/a,b.c?group=g%2F1"
	[ -z "$output" ]
	run -0 "$C" --help
	[[ $output == *"--kafka-opt KEY=VALUE"* && $output == *"--buffer BYTES"*"(default 8M)"* ]]
	run -0 "$C" --version
	[[ $output == "rum-consume (rumpipe) "* ]]
}

@test "a group of 3 over 6 partitions: every record once, each member its share" {
	cluster 6
	member a
	member b
	member c
	# The normal case is a formed group: a rebalance while records flow
	# may duplicate some (see the next test).
	wait_for 40 settled a b c
	produce 1 3000
	wait_for 40 count_at_least 3000 total_lines "$T/a.out" "$T/b.out" "$T/c.out"
	# Records produced while the group runs arrive too.
	produce 3001 4000
	wait_for 20 count_at_least 4000 total_lines "$T/a.out" "$T/b.out" "$T/c.out"
	sleep 1.5
	local m
	for m in a b c; do
		kill -TERM "$(eval echo \$${m}_PID)"
	done
	for m in a b c; do
		exits "$(eval echo \$${m}_PID)" 0
		[ -s "$T/$m.out" ] # every member had partitions
		[ "$(metric rum_consume_assigned_partitions "$T/$m.prom")" = 0 ]
		[ "$(metric 'rum_consume_invalid_total{reason="record"}' "$T/$m.prom")" = 0 ]
	done
	every_once 1 4000 "$T/a.out" "$T/b.out" "$T/c.out"
	# Records are written as produced, byte for byte.
	diff <(records 1 4000 | sort) <(sort "$T/a.out" "$T/b.out" "$T/c.out")
	[ $(($(metric rum_consume_records_written_total "$T/a.prom") +
		$(metric rum_consume_records_written_total "$T/b.prom") +
		$(metric rum_consume_records_written_total "$T/c.prom"))) = 4000 ]
}

@test "kill -9 of one member: its partitions move to the others and every record arrives" {
	cluster 6
	member a
	member b
	member c
	wait_for 40 settled a b c
	# A steady stream, 100 records every 0.1 s, with the kill halfway.
	local i
	for ((i = 0; i < 60; i++)); do
		produce $((i * 100 + 1)) $((i * 100 + 100))
		[ "$i" = 30 ] && kill -KILL "$b_PID"
		sleep 0.1
	done
	wait_for 60 every_at_least_once 1 6000 "$T/a.out" "$T/b.out" "$T/c.out"
	local total uniq dups
	total=$(seqs "$T/a.out" "$T/b.out" "$T/c.out" | wc -l)
	uniq=$(seqs "$T/a.out" "$T/b.out" "$T/c.out" | uniq | wc -l)
	dups=$((total - uniq))
	echo "# kill -9 of one of 3 members at ~1,000 records/s: $dups duplicates of 6000" >&3
	# A duplicate is a record written after its member's last commit and
	# read again by its partition's next owner: the killed member's last
	# second or so, and with the mock cluster, which refuses the commits of
	# the revoke callback once the group is rebalancing (a real broker
	# takes them), the survivors' last second too. At most about a commit
	# interval and what was in flight of the stream (1,000 records/s).
	[ "$dups" -le 2000 ]
	[ "$(seqs "$T/a.out" "$T/b.out" "$T/c.out" | uniq -d | wc -l)" = "$dups" ] # none thrice
	# The survivors took over: a second assignment each.
	wait_for 5 metric_at_least 2 'rum_consume_rebalances_total{event="assign"}' "$T/a.prom"
	wait_for 5 metric_at_least 2 'rum_consume_rebalances_total{event="assign"}' "$T/c.prom"
}

@test "SIGTERM mid-stream: exits 0 with its offsets committed; a restart reads no record twice" {
	cluster 4
	member a
	wait_for 20 metric_at_least 1 rum_consume_assigned_partitions "$T/a.prom"
	local i
	for ((i = 0; i < 40; i++)); do
		produce $((i * 500 + 1)) $((i * 500 + 500))
		[ "$i" = 20 ] && kill -TERM "$a_PID"
		sleep 0.05
	done
	exits "$a_PID" 0
	local first
	first=$(lines "$T/a.out")
	echo "# SIGTERM after $first of 20000 records" >&3
	[ "$first" -lt 20000 ]
	metric_at_least 1 'rum_consume_commits_total{result="ok"}' "$T/a.prom"
	[ "$(metric 'rum_consume_commits_total{result="error"}' "$T/a.prom")" = 0 ]
	[ "$(metric rum_consume_records_written_total "$T/a.prom")" = "$first" ]
	grep -q 'revoked 4 partitions' "$T/a.err"
	mv "$T/a.out" "$T/first.out"
	member a --exit-at-end
	exits "$a_PID" 0
	every_once 1 20000 "$T/first.out" "$T/a.out"
	# The second run started where the first stopped.
	[ "$(metric rum_consume_messages_total "$T/a.prom")" = $((20000 - first)) ]
}

@test "stdout blocked longer than max.poll.interval.ms: paused, still in the group, then delivers everything" {
	cluster 3
	produce 1 20000 200 # about 5 MB: more than the pipe and --buffer hold
	mkfifo "$T/pipe"
	# A reader that holds the FIFO open and reads nothing.
	exec {hold}<>"$T/pipe"
	KOPTS+=(--kafka-opt max.poll.interval.ms=6000)
	"$C" "${KOPTS[@]}" --buffer 64K --metrics-file "$T/a.prom" \
		"kafka://$KAFKA/$TOPIC?group=$GROUP" >"$T/pipe" 2>"$T/a.err" &
	a_PID=$!
	PIDS+=($!)
	wait_for 30 metric_at_least 1 rum_consume_paused "$T/a.prom"
	# Longer than max.poll.interval.ms, and than the session.
	sleep 10
	[ "$(metric rum_consume_paused "$T/a.prom")" = 1 ]
	[ "$(metric 'rum_consume_rebalances_total{event="revoke"}' "$T/a.prom")" = 0 ]
	! grep -qi 'poll interval' "$T/a.err"
	local before
	before=$(metric rum_consume_records_written_total "$T/a.prom")
	[ "$before" -lt 20000 ]
	cat <&"$hold" >"$T/a.out" &
	PIDS+=($!)
	wait_for 30 count_at_least 20000 lines "$T/a.out"
	every_once 1 20000 "$T/a.out"
	wait_for 5 metric_at_least 20000 rum_consume_records_written_total "$T/a.prom"
	[ "$(metric rum_consume_paused "$T/a.prom")" = 0 ]
	[ "$(metric 'rum_consume_rebalances_total{event="revoke"}' "$T/a.prom")" = 0 ]
	[ "$(metric 'rum_consume_rebalances_total{event="assign"}' "$T/a.prom")" = 1 ]
	kill -TERM "$a_PID"
	exits "$a_PID" 0
	exec {hold}>&-
}

@test "an invalid message is counted, reported and skipped, its offset stored; the next ones arrive" {
	cluster 1
	{
		records 1 1
		echo 'not json'
		records 2 2
		echo '{"measurement":"view","fields":{"seq":3},"time":"soon"}'
		records 3 3
	} | kcat -P -b "$KAFKA" -t "$TOPIC"
	# One message with a newline inside its object, one ending with a
	# producer's newline (kept as a record, written with one newline).
	printf '{"measurement":"view",\n"fields":{"seq":9}}' | kcat -P -b "$KAFKA" -t "$TOPIC" -D '\0'
	printf '%s\r\n' "$(records 4 4)" | kcat -P -b "$KAFKA" -t "$TOPIC" -D '\0'
	member a --exit-at-end
	exits "$a_PID" 0
	diff <(records 1 4) "$T/a.out"
	[ "$(metric 'rum_consume_invalid_total{reason="record"}' "$T/a.prom")" = 3 ]
	[ "$(metric rum_consume_records_written_total "$T/a.prom")" = 4 ]
	grep -q "rum \[0\] offset 1: expected '{' (at byte 0); skipped: not json" "$T/a.err"
	grep -q 'offset 3: .*time.*skipped' "$T/a.err"
	grep -q 'offset 5: a newline inside the record; skipped' "$T/a.err"
	# The invalid messages' offsets were stored and committed with the rest:
	# a restart finds nothing to read (no poison loop).
	records 5 5 | kcat -P -b "$KAFKA" -t "$TOPIC"
	member a --exit-at-end
	exits "$a_PID" 0
	diff <(records 5 5) "$T/a.out"
	[ "$(metric rum_consume_messages_total "$T/a.prom")" = 1 ]
}

@test "standard output closed: exit 1; the restart reads from the first record not written" {
	cluster 1
	produce 1 5000
	# rum-consume may have written all 5,000 into the pipe before head
	# closes it: more records after that make the next write fail.
	(
		rc=0
		"$C" "${KOPTS[@]}" --metrics-file "$T/a.prom" "kafka://$KAFKA/$TOPIC?group=$GROUP" \
			2>"$T/a.err" || rc=$?
		echo "$rc" >"$T/a.rc"
	) | head -3 >"$T/head.out" &
	PIDS+=($!)
	wait "$!"
	produce 5001 5100
	wait_for 30 test -s "$T/a.rc" || { cat "$T/a.err"; false; }
	[ "$(cat "$T/a.rc")" = 1 ]
	grep -q 'writing standard output: Broken pipe' "$T/a.err"
	diff <(records 1 3) "$T/head.out"
	# What write(2) took (into the pipe, past what head read) counts as
	# delivered, as it does between two stages: its offsets are committed.
	local written
	written=$(metric rum_consume_records_written_total "$T/a.prom")
	[ "$written" -ge 3 ] && [ "$written" -lt 5100 ]
	member b --exit-at-end
	exits "$b_PID" 0
	every_once $((written + 1)) 5100 "$T/b.out"
}
