#!/usr/bin/env bats
# rum-ship --sink kafka://: librdkafka's mock cluster (t/tools/mock-kafka,
# 3 brokers) as the Kafka, kcat as the independent reader.

load lib/common
load lib/kafka
bats_require_minimum_version 1.5.0

setup() {
	SHIP=$BIN/rum-ship
	SEQ=$TOP/t/lib/seq-records
	REPLAYS=$TOP/t/lib/replay-records
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
	start_mock_kafka 3
}

teardown() {
	[ -n "${SHIP_PID:-}" ] && stop_pid "$SHIP_PID" KILL
	[ -n "${FEED_PID:-}" ] && stop_pid "$FEED_PID" KILL
	stop_mock_kafka
	true
}

metric_is() { [ -f "$M" ] && [ "$(metric "$1")" = "$2" ]; }

# check_seq IN OUT N DUPS: OUT (kcat -f '%k\t%h\t%s\n' of the topic) holds
# every record of IN (seq-records, seq 0..N-1) byte for byte, with key the
# session_id and the measurement and app_id headers; a session's records in
# order; at most DUPS records more than once (they are counted on stdout).
check_seq() {
	python3 - "$@" <<-'EOF'
		import json, sys
		want = {}
		for l in open(sys.argv[1], encoding="utf-8"):
		    l = l.rstrip("\n")
		    want[json.loads(l)["fields"]["seq"]] = l
		n, dups_allowed = int(sys.argv[3]), int(sys.argv[4])
		seen, last = {}, {}
		for l in open(sys.argv[2], encoding="utf-8"):
		    key, hdrs, payload = l.rstrip("\n").split("\t", 2)
		    o = json.loads(payload)
		    s = o["fields"]["seq"]
		    assert payload == want[s], "seq %d not byte for byte" % s
		    assert key == o["tags"]["session_id"], (s, key)
		    assert hdrs == "measurement=%s,app_id=%s" % (o["measurement"], o["tags"]["app_id"]), hdrs
		    seen[s] = seen.get(s, 0) + 1
		    # in order within a session, except a re-sent record (a duplicate)
		    if seen[s] == 1:
		        assert last.get(key, -1) < s, "session %s: %d after %d" % (key, s, last[key])
		        last[key] = s
		missing = [s for s in range(n) if s not in seen]
		assert not missing, "%d missing, first %s" % (len(missing), missing[:5])
		dups = sum(c - 1 for c in seen.values())
		print("duplicates: %d" % dups)
		assert dups <= dups_allowed, "%d duplicates, %d allowed" % (dups, dups_allowed)
	EOF
}

read_topic() { kafka_read "$1" -f '%k\t%h\t%s\n' >"$2"; }

@test "10,000 records: each one message, byte for byte, key session_id, headers, in order" {
	kafka_cmd topic recs 6 3
	"$SEQ" --count 10000 >"$T/in.ndjson"
	run -0 "$SHIP" --sink "kafka://$KAFKA/recs" --metrics-file "$M" <"$T/in.ndjson"
	read_topic recs "$T/out.tsv"
	[ "$(lines "$T/out.tsv")" = 10000 ]
	run check_seq "$T/in.ndjson" "$T/out.tsv" 10000 0
	[ "$status" = 0 ] || { echo "$output"; false; }
	[ "$(metric 'rum_ship_kafka_delivered_total{topic="records"}')" = 10000 ]
	[ "$(metric rum_ship_records_in_total)" = 10000 ]
	[ "$(metric 'rum_ship_kafka_dropped_total{reason="too_large"}')" = 0 ]
	[ "$(metric rum_ship_kafka_inflight_messages)" = 0 ]
	[ "$(metric rum_ship_lost_records_total)" = 0 ]
	# a record without a session_id has no key, and no app_id header
	echo '{"measurement":"view","tags":{"x":"1"},"fields":{"v":1}}' |
		"$SHIP" --sink "kafka://$KAFKA/nokey"
	run -0 kafka_read nokey -f '[%k][%h]%s\n'
	[ "$output" = '[][measurement=view]{"measurement":"view","tags":{"x":"1"},"fields":{"v":1}}' ]
}

@test "a broker down and up, produce errors, a disconnect: nothing lost, no duplicates" {
	kafka_cmd topic recs 6 3
	# partitions led by each of the 3 brokers
	for p in 0 1 2 3 4 5; do kafka_cmd leader recs $p $((p % 3 + 1)); done
	"$SEQ" --count 10000 >"$T/in.ndjson"
	mkfifo "$T/pipe"
	# reconnecting within a second of the broker coming back
	"$SHIP" --sink "kafka://$KAFKA/recs" --kafka-opt reconnect.backoff.max.ms=1000 \
		--metrics-file "$M" <"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	head -2000 "$T/in.ndjson" >&7
	kafka_cmd down 2
	sed -n 2001,4000p "$T/in.ndjson" >&7
	sleep 1
	kafka_cmd up 2
	kafka_cmd errors Produce NOT_LEADER_FOR_PARTITION 5
	sed -n 4001,7000p "$T/in.ndjson" >&7
	kafka_cmd errors Produce _TRANSPORT 3
	sed -n 7001,10000p "$T/in.ndjson" >&7
	exec 7>&-
	wait "$SHIP_PID"
	SHIP_PID=
	read_topic recs "$T/out.tsv"
	# rum-ship produced every record once: no delivery report failed, so
	# nothing was produced again, and each one was acknowledged once.
	[ "$(metric rum_ship_kafka_message_errors_total)" = 0 ]
	[ "$(metric 'rum_ship_kafka_delivered_total{topic="records"}')" = 10000 ]
	# After the injected disconnect librdkafka re-sends the request whose
	# answer was lost, with the same producer id and sequence numbers; a
	# broker drops it as a duplicate, but the mock of librdkafka 2.0.2
	# checks sequences only for transactional producers
	# (rd_kafka_mock_validate_records returns early without a
	# TransactionalId) and writes it twice. So the topic may hold at
	# most that one request (300 in the runs seen) twice, reported.
	run check_seq "$T/in.ndjson" "$T/out.tsv" 10000 1000
	[ "$status" = 0 ] || { echo "$output"; false; }
	echo "# $output" >&3
}

@test "Kafka down past message.timeout.ms: batches retried with backoff, in order, once each" {
	kafka_cmd topic recs 3 3
	"$SEQ" --count 3000 >"$T/in.ndjson"
	for b in 1 2 3; do kafka_cmd down $b; done
	"$SHIP" --sink "kafka://$KAFKA/recs" --kafka-opt message.timeout.ms=1000 \
		--backoff-min 200 --backoff-max 400 --metrics-file "$M" <"$T/in.ndjson" 2>"$T/err" &
	SHIP_PID=$!
	wait_for 20 grep -q "retrying them in" "$T/err"
	for b in 1 2 3; do kafka_cmd up $b; done
	wait "$SHIP_PID"
	SHIP_PID=
	read_topic recs "$T/out.tsv"
	run check_seq "$T/in.ndjson" "$T/out.tsv" 3000 0
	[ "$status" = 0 ] || { echo "$output"; false; }
	[ "$(metric rum_ship_retries_total)" -ge 1 ]
	[ "$(metric rum_ship_kafka_message_errors_total)" -ge 1 ]
}

@test "a full producer queue stops the input until Kafka takes messages again (back-pressure)" {
	kafka_cmd topic recs 3 3
	for b in 1 2 3; do kafka_cmd rtt $b 1000; done
	"$SEQ" --count 5000 >"$T/in.ndjson"
	"$SHIP" --sink "kafka://$KAFKA/recs" --kafka-opt queue.buffering.max.messages=200 \
		--batch-size 100 --max-inflight 8 --metrics-file "$M" <"$T/in.ndjson" 2>"$T/err" &
	SHIP_PID=$!
	sleep 3
	wait_for 10 test -s "$M"
	# at most what the producer, the 8 batches handed to it and the one in
	# hand hold: the rest waits in the file
	echo "# records read while Kafka was slow: $(metric rum_ship_records_in_total)" >&3
	[ "$(metric rum_ship_records_in_total)" -le 1200 ]
	for b in 1 2 3; do kafka_cmd rtt $b 0; done
	wait "$SHIP_PID"
	SHIP_PID=
	read_topic recs "$T/out.tsv"
	run check_seq "$T/in.ndjson" "$T/out.tsv" 5000 0
	[ "$status" = 0 ] || { echo "$output"; false; }
}

@test "kill -9 with a disk queue: every record arrives after the restart, duplicates within the window" {
	kafka_cmd topic recs 6 3
	# slow brokers: batches in flight when the process dies
	for b in 1 2 3; do kafka_cmd rtt $b 500; done
	"$SEQ" --count 10000 >"$T/in.ndjson"
	mkfifo "$T/pipe"
	"$SHIP" --sink "kafka://$KAFKA/recs" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--batch-size 500 --max-inflight 4 --metrics-file "$M" <"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	cat "$T/in.ndjson" >&7
	# every record read and in the disk queue (the pipe stays open)
	wait_for 20 metric_is rum_ship_records_in_total 10000
	delivered=$(metric 'rum_ship_kafka_delivered_total{topic="records"}')
	[ "$delivered" -lt 10000 ]
	kill -9 "$SHIP_PID"
	wait "$SHIP_PID" || true
	SHIP_PID=
	exec 7>&-
	for b in 1 2 3; do kafka_cmd rtt $b 0; done
	run -0 "$SHIP" --sink "kafka://$KAFKA/recs" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--metrics-file "$M" </dev/null
	[ "$(metric rum_ship_spool_entries)" = 0 ]
	read_topic recs "$T/out.tsv"
	# at least once; again at most the 4 batches of 500 that were in flight
	run check_seq "$T/in.ndjson" "$T/out.tsv" 10000 2000
	[ "$status" = 0 ] || { echo "$output"; false; }
	echo "# $output (delivered before the kill: $delivered)" >&3
}

@test "a fatal producer error: exit 1, the disk queue keeps the records for the next run" {
	kafka_cmd topic recs 3 3
	"$SEQ" --count 1000 >"$T/in.ndjson"
	# the idempotent producer cannot get its id: librdkafka's fatal error
	kafka_cmd errors InitProducerId CLUSTER_AUTHORIZATION_FAILED 1
	run -1 "$SHIP" --sink "kafka://$KAFKA/recs" --spool-dir "$T/spool" --spool-capacity-mb 10 \
		--metrics-file "$M" <"$T/in.ndjson"
	[[ "$output" == *"the Kafka producer failed for good: "*"Cluster authorization failed"* ]]
	[ "$(metric rum_ship_spool_entries)" -ge 1 ]
	# it stopped reading: what it read is on disk, the rest still unread
	read=$(metric rum_ship_records_in_total)
	[ "$read" -ge 1 ]
	run -0 "$SHIP" --sink "kafka://$KAFKA/recs" --spool-dir "$T/spool" --spool-capacity-mb 10 \
		--metrics-file "$M" </dev/null
	[ "$(metric rum_ship_spool_entries)" = 0 ]
	read_topic recs "$T/out.tsv"
	[ "$(lines "$T/out.tsv")" = "$read" ]
	run check_seq "$T/in.ndjson" "$T/out.tsv" "$read" 0
	[ "$status" = 0 ] || { echo "$output"; false; }
}

@test "session replays: over 1 MB through replay_topic byte for byte; over the limit counted and dropped" {
	kafka_cmd topic recs 3 3
	kafka_cmd topic replays 3 3
	"$REPLAYS" --count 1 --size 1500000 >"$T/big.ndjson"
	"$REPLAYS" --count 1 --start 1 --size 4000000 >"$T/huge.ndjson"
	"$SEQ" --count 10 >"$T/in.ndjson"
	[ "$(stat -c %s "$T/big.ndjson")" -gt 1048576 ]
	cat "$T/in.ndjson" "$T/big.ndjson" "$T/huge.ndjson" >"$T/all.ndjson"
	run -0 "$SHIP" --sink "kafka://$KAFKA/recs?replay_topic=replays" \
		--kafka-replay-max-bytes 3M --metrics-file "$M" <"$T/all.ndjson"
	[[ "$output" == *"Kafka refused a session_replay message of"*"(dropped)"* ]]
	kafka_read replays -f '[%k][%h]%s\n' >"$T/replays.out"
	[ "$(lines "$T/replays.out")" = 1 ]
	printf '[][measurement=session_replay,app_id=appid_replay_test]%s\n' "$(cat "$T/big.ndjson")" |
		cmp - "$T/replays.out"
	[ "$(metric 'rum_ship_kafka_delivered_total{topic="replay"}')" = 1 ]
	[ "$(metric 'rum_ship_kafka_delivered_total{topic="records"}')" = 10 ]
	[ "$(metric 'rum_ship_kafka_dropped_total{reason="too_large"}')" = 1 ]
	kafka_read recs >"$T/recs.out"
	[ "$(lines "$T/recs.out")" = 10 ]
}

@test "without replay_topic, session_replay records are counted and skipped with a warning" {
	"$REPLAYS" --count 3 >"$T/replays.ndjson"
	"$SEQ" --count 5 >"$T/in.ndjson"
	cat "$T/replays.ndjson" "$T/in.ndjson" >"$T/all.ndjson"
	run -0 "$SHIP" --sink "kafka://$KAFKA/recs" --metrics-file "$M" <"$T/all.ndjson"
	[[ "$output" == *"line 1: session_replay record, and the kafka --sink has no replay_topic; skipped"* ]]
	[ "$(metric rum_ship_replay_skipped_total)" = 3 ]
	[ "$(kafka_read recs | wc -l)" = 5 ]
}

@test "SIGTERM: the records read are delivered, exit 0; Kafka down past --drain-timeout: exit 1, loss counted" {
	kafka_cmd topic recs 3 3
	"$SEQ" --count 500 >"$T/in.ndjson"
	mkfifo "$T/pipe"
	"$SHIP" --sink "kafka://$KAFKA/recs" --flush-interval 60000 --metrics-file "$M" \
		<"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	cat "$T/in.ndjson" >&7
	wait_for 20 metric_is rum_ship_records_in_total 500
	kill -TERM "$SHIP_PID"
	wait "$SHIP_PID"
	SHIP_PID=
	exec 7>&-
	[ "$(kafka_read recs | wc -l)" = 500 ]

	for b in 1 2 3; do kafka_cmd down $b; done
	"$SEQ" --count 300 >"$T/more.ndjson"
	run -1 "$SHIP" --sink "kafka://$KAFKA/recs" --drain-timeout 1 --metrics-file "$M" \
		<"$T/more.ndjson"
	[[ "$output" == *"Kafka still failing after --drain-timeout 1 s: 300 records lost"* ]]
	[ "$(metric rum_ship_lost_records_total)" = 300 ]
}

@test "bad --kafka-opt and kafka URLs exit 2 with the reason" {
	run -2 "$SHIP" --sink "kafka://$KAFKA/recs" --kafka-opt no.such.setting=1
	[[ "$output" == *"invalid value 'no.such.setting=1' for --kafka-opt: No such configuration property: \"no.such.setting\""* ]]
	run -2 "$SHIP" --sink "kafka://$KAFKA/recs" --kafka-opt linger.ms=soon
	[[ "$output" == *"invalid value 'linger.ms=soon' for --kafka-opt: Invalid value for configuration property \"queue.buffering.max.ms\""* ]]
	run -2 "$SHIP" --kafka-opt linger.ms
	[[ "$output" == *"--kafka-opt"*"expected KEY=VALUE"* ]]
	RUM_KAFKA_OPT=bogus=1 run -2 "$SHIP" --sink "kafka://$KAFKA/recs"
	[[ "$output" == *"RUM_KAFKA_OPT"*"bogus"* ]]
	# librdkafka refuses the combination when the producer is made
	run -2 "$SHIP" --sink "kafka://$KAFKA/recs" --kafka-opt acks=1
	[[ "$output" == *"--kafka-opt"*"acks"* ]]
	run -2 "$SHIP" --sink "kafka://$KAFKA/recs" --kafka-replay-max-bytes 2G
	[[ "$output" == *"--kafka-replay-max-bytes"* ]]
	for bad in "kafka://127.0.0.1/recs" "kafka://127.0.0.1:9092" "kafka://127.0.0.1:9092/" \
		"kafka://127.0.0.1:0/recs" "kafka://a:1,/recs" "kafka://a:1/re cs" "kafka://a:1/r#s" \
		"kafka://a:1/recs?replay_topic=" "kafka://a:1/recs?acks=1"; do
		run -2 "$SHIP" --sink "$bad"
		[[ "$output" == *"invalid value '$bad' for --sink"* ]] || { echo "$bad: $output"; false; }
	done
	run -0 "$SHIP" --sink "kafka://$KAFKA/recs?replay_topic=replays" --kafka-opt linger.ms=20 \
		--check-config
}
