#!/usr/bin/env bats
# rum-collector's roles: one node alone, an edge node (a kafka:// sink), a
# processing node ([consume]); what each runs, from its --dry-run.

load lib/common

setup() {
	DIR=$BATS_TEST_TMPDIR
	C=$BIN/rum-collector
}

# stages: the program names of the dry run's command lines, in order.
stages() { awk '{ n = split($1, p, "/"); printf "%s ", p[n] } END { print "" }' "$DIR/dry"; }

@test "edge node: a kafka:// sink runs rum-listen | rum-replay-filter | rum-ship, with a disk queue; other stages' keys reported" {
	cat >"$DIR/conf" <<-CONF
		data_dir = "$DIR/data"
		[listen]
		listen = "127.0.0.1:0"
		[enrich]
		city_db = "/nowhere.mmdb"
		[ship]
		sink = "kafka://127.0.0.1:9092,127.0.0.1:9093/rum?replay_topic=rum-replay"
		kafka_opt = ["linger.ms=7", "client.id=edge-1"]
	CONF
	"$C" -c "$DIR/conf" --dry-run >"$DIR/dry" 2>"$DIR/err"
	[ "$(stages)" = "rum-listen rum-replay-filter rum-ship " ]
	grep -q -- "--sink kafka://127.0.0.1:9092\\\\,127.0.0.1:9093/rum\\\\?replay_topic=rum-replay" "$DIR/dry"
	grep -q -- "--kafka-opt linger.ms=7 --kafka-opt client.id=edge-1" "$DIR/dry"
	grep -q -- "--spool-dir $DIR/data/ship-spool" "$DIR/dry"
	grep -q "\[enrich\] city_db: rum-enrich does not run on an edge node; ignored" "$DIR/err"
}

@test "processing node: [consume] runs rum-consume URL | rum-enrich | rum-cdn | rum-symbolicate | rum-ship" {
	[ -x "$BIN/rum-consume" ] || skip "rum-consume is not built"
	cat >"$DIR/conf" <<-CONF
		data_dir = "$DIR/data"
		[consume]
		source = "kafka://127.0.0.1:9092/rum,rum-replay?group=rumpipe"
		kafka_opt = ["session.timeout.ms=6000"]
		[listen]
		listen = "127.0.0.1:0"
		[ship]
		sink = "file:$DIR/out"
	CONF
	"$C" -c "$DIR/conf" --dry-run >"$DIR/dry" 2>"$DIR/err"
	[ "$(stages)" = "rum-consume rum-enrich rum-cdn rum-symbolicate rum-ship " ]
	head -1 "$DIR/dry" | grep -q -- "kafka://127.0.0.1:9092/rum\\\\,rum-replay\\\\?group=rumpipe"
	head -1 "$DIR/dry" | grep -q -- "--kafka-opt session.timeout.ms=6000"
	grep -q "\[listen\] listen: rum-listen does not run on a processing node; ignored" "$DIR/err"
	# the archives the symbolicate stage reads: DATA_DIR/rum, as on one node
	grep -q -- "rum-symbolicate .*--data-dir $DIR/data" "$DIR/dry"
}

@test "processing node without a source: exit 2 saying what is missing" {
	[ -x "$BIN/rum-consume" ] || skip "rum-consume is not built"
	printf '[consume]\nkafka_opt = ["a=b"]\n' >"$DIR/conf"
	run "$C" -c "$DIR/conf" --dry-run
	[ "$status" = 2 ]
	[[ "$output" == *'[consume] needs source = "kafka://BROKERS/TOPIC?group=G"'* ]]
}

@test "the shipped samples: edge-node.conf and processing-node.conf give their roles" {
	"$C" -c "$TOP/share/edge-node.conf" --dry-run >"$DIR/dry"
	[ "$(stages)" = "rum-listen rum-replay-filter rum-ship " ]
	[ -x "$BIN/rum-consume" ] || skip "rum-consume is not built"
	"$C" -c "$TOP/share/processing-node.conf" --dry-run >"$DIR/dry"
	[ "$(stages)" = "rum-consume rum-enrich rum-cdn rum-symbolicate rum-ship " ]
}
