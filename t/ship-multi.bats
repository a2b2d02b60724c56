#!/usr/bin/env bats
# rum-ship with several Dataway URLs (DataKit's `[dataway] urls`): every
# record goes to each, each sink with its own queue, so that one Dataway
# down does not hold up the others. Two fake Dataways (t/lib/fake-dataway).

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	SHIP=$BIN/rum-ship
	CHECK=$TOP/t/lib/dataway-check
	RCHECK=$TOP/t/lib/replay-check
	RECS=$TOP/t/lib/replay-records
	SEQ=$TOP/t/lib/seq-records
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
	FAST=(--backoff-min 100 --backoff-max 1000 --replay-timeout 5)
}

teardown() {
	[ -n "${SHIP_PID:-}" ] && stop_pid "$SHIP_PID" KILL
	[ -n "${FEED_PID:-}" ] && stop_pid "$FEED_PID" KILL
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	[ -n "${FAKE2_PID:-}" ] && stop_pid "$FAKE2_PID" KILL
	true
}

# The second fake Dataway, beside start_fake_dataway's: FAKE2_PORT,
# FAKE2_LOG, FAKE2_FAIL, FAKE2_PID; on port $1 when given (to come back).
start_fake2() {
	FAKE2_LOG=$T/dataway2.log
	FAKE2_FAIL=$T/dataway2.fail
	rm -f "$T/dataway2.port"
	python3 "$TOP/t/lib/fake-dataway" --port-file "$T/dataway2.port" --log "$FAKE2_LOG" \
		--fail-file "$FAKE2_FAIL" ${1:+--port "$1"} 2>>"$T/dataway2.err" &
	FAKE2_PID=$!
	wait_for 10 test -s "$T/dataway2.port"
	FAKE2_PORT=$(cat "$T/dataway2.port")
	wait_port "$FAKE2_PORT"
}
dw2() { echo "http://127.0.0.1:$FAKE2_PORT/?token=tkn_second"; }
# replay-check verify, of the second fake's log (whose token is its own).
verify2() { "$RCHECK" verify <(sed 's/token=tkn_second/token=tkn_test/' "$FAKE2_LOG") "$T/bodies"; }

# The bodies of the point batches a fake accepted (2xx), in order.
point_bodies() { "$CHECK" bodies <(jq -c 'select(.path == "/v1/write/rum")' "$1"); }
# Points a fake accepted, from their "seq" field: the count.
points_in() { [ -f "$1" ] && point_bodies "$1" | grep -o 'seq=[0-9]*i' | wc -l || echo 0; }
accepted() { jq -s 'map(select(.status == 200)) | length' "$1"; }

@test "two Dataways get every record: the same point bodies, every replay byte for byte" {
	start_fake_dataway
	start_fake2
	"$RECS" --count 15 --bodies "$T/bodies" >"$T/in.ndjson"
	"$SEQ" --count 1200 >>"$T/in.ndjson"
	"$RECS" --count 5 --start 15 --bodies "$T/bodies" >>"$T/in.ndjson"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --sink "$(dw2)" --batch-size 500 --max-inflight 1 \
		--metrics-file "$M" <"$T/in.ndjson"
	# points: the same batches, byte for byte, each to its own token
	point_bodies "$FAKE_LOG" >"$T/a.lp"
	point_bodies "$FAKE2_LOG" >"$T/b.lp"
	[ -s "$T/a.lp" ]
	cmp "$T/a.lp" "$T/b.lp"
	"$CHECK" seq "$FAKE_LOG" 1200 --window 3
	"$CHECK" seq "$FAKE2_LOG" 1200 --window 3
	[ "$(jq -r 'select(.path == "/v1/write/rum") | .query' "$FAKE_LOG" | sort -u)" = token=tkn_test ]
	[ "$(jq -r 'select(.path == "/v1/write/rum") | .query' "$FAKE2_LOG" | sort -u)" = token=tkn_second ]
	# replays: every upload to each, byte for byte
	run -0 "$RCHECK" verify "$FAKE_LOG" "$T/bodies"
	[ "$output" = "20 uploads checked, 0 bad" ]
	run -0 verify2
	[ "$output" = "20 uploads checked, 0 bad" ]
	[ "$("$RCHECK" got "$FAKE_LOG" | sort -n | uniq | wc -l)" = 20 ]
	[ "$("$RCHECK" got "$FAKE2_LOG" | sort -n | uniq | wc -l)" = 20 ]
	# metrics: input once, delivery per sink
	[ "$(metric rum_ship_records_in_total)" = 1220 ]
	[ "$(metric 'rum_ship_points_sent_total{sink="0"}')" = 1200 ]
	[ "$(metric 'rum_ship_points_sent_total{sink="1"}')" = 1200 ]
	[ "$(metric 'rum_ship_responses_total{sink="1",class="2xx"}')" = 3 ]
	[ "$(metric 'rum_ship_replay_sent_total{sink="0"}')" = 20 ]
	[ "$(metric 'rum_ship_replay_sent_total{sink="1"}')" = 20 ]
	[ -z "$(metric rum_ship_points_sent_total)" ]
}

@test "one Dataway answers 503 for 20 s while 2000 records flow: the other gets each at once, the first all after" {
	not_under_sanitizers "tens of seconds of outage or a whole cluster"
	start_fake_dataway
	start_fake2
	echo 503 >"$FAKE_FAIL"
	mkfifo "$T/pipe"
	"$SHIP" --sink "$(dw)" --sink "$(dw2)" "${FAST[@]}" --metrics-file "$M" \
		<"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	"$SEQ" --count 2000 --over 20 >"$T/pipe" &
	FEED_PID=$!
	start=$(date +%s.%N)
	# all along, the second is at most about 2 s (its batch's 1 s, the
	# load of the machine) behind what was written
	for at in 5 10 15; do
		sleep "$(python3 -c "import sys,time; print(max(0, $start + $at - time.time()))")"
		n=$(points_in "$FAKE2_LOG")
		echo "at ${at} s: second has $n" >&3
		[ "$n" -ge $(((at - 3) * 100)) ]
		[ "$(accepted "$FAKE_LOG")" = 0 ]
	done
	wait "$FEED_PID"
	FEED_PID=
	wait_for 3 count_at_least 2000 points_in "$FAKE2_LOG"
	sleep "$(python3 -c "import sys,time; print(max(0, $start + 20 - time.time()))")"
	[ "$(accepted "$FAKE_LOG")" = 0 ]
	rm "$FAKE_FAIL"
	wait_for 10 count_at_least 2000 points_in "$FAKE_LOG"
	wait "$SHIP_PID"
	SHIP_PID=
	run -0 "$CHECK" seq "$FAKE2_LOG" 2000 --window 3
	echo "$output"
	run -0 "$CHECK" seq "$FAKE_LOG" 2000 --window 3
	echo "$output"
	grep -q "sink 0 is back" "$T/err"
	[ "$(metric 'rum_ship_points_sent_total{sink="0"}')" = 2000 ]
	[ "$(metric 'rum_ship_points_sent_total{sink="1"}')" = 2000 ]
	[ "$(metric 'rum_ship_retries_total{sink="0"}')" -ge 5 ]
	[ "$(metric 'rum_ship_retries_total{sink="1"}')" = 0 ]
	[ "$(metric 'rum_ship_lost_points_total{sink="0"}')" = 0 ]
}

@test "spool: one Dataway stopped for 20 s (points and replays): the other at once, the first all after; each its own queue" {
	not_under_sanitizers "tens of seconds of outage or a whole cluster"
	start_fake_dataway
	start_fake2
	port=$FAKE_PORT
	stop_pid "$FAKE_PID" KILL
	FAKE_PID=
	mkfifo "$T/pipe"
	"$SHIP" --sink "$(dw)" --sink "$(dw2)" "${FAST[@]}" --spool-dir "$T/spool" \
		--spool-capacity-mb 100 --metrics-file "$M" <"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$RECS" --count 10 --bodies "$T/bodies" >&7
	"$SEQ" --count 2000 --over 18 >&7
	wait_for 3 count_at_least 2000 points_in "$FAKE2_LOG"
	[ "$("$RCHECK" got "$FAKE2_LOG" | sort -n | uniq | wc -l)" = 10 ]
	# the first's queue waits on disk, in a directory of its own
	[ "$(find "$T/spool" -mindepth 1 -maxdepth 1 -name 'sink-*' | wc -l)" = 2 ]
	sleep 2
	start_fake_dataway --port "$port"
	wait_for 15 count_at_least 2000 points_in "$FAKE_LOG"
	wait_for 15 count_at_least 10 eval '"$RCHECK" got "$FAKE_LOG" | sort -un | wc -l'
	# SIGTERM: both drained, exit 0
	"$SEQ" --count 100 --start 2000 >&7
	kill -TERM "$SHIP_PID"
	rc=0
	wait "$SHIP_PID" || rc=$?
	SHIP_PID=
	exec 7>&-
	[ "$rc" = 0 ]
	run -0 "$CHECK" seq "$FAKE_LOG" 2100 --window 3
	echo "$output"
	run -0 "$CHECK" seq "$FAKE2_LOG" 2100 --window 3
	echo "$output"
	"$RCHECK" verify "$FAKE_LOG" "$T/bodies"
	verify2
	[ "$("$RCHECK" got "$FAKE_LOG" | wc -l)" = 10 ]
	[ "$(metric 'rum_ship_spool_entries{sink="0"}')" = 0 ]
	[ "$(metric 'rum_ship_spool_entries{sink="1"}')" = 0 ]
}

@test "SIGTERM with one Dataway down and a spool: the other gets everything, the next run sends the rest to the first" {
	start_fake_dataway
	start_fake2
	echo 503 >"$FAKE_FAIL"
	mkfifo "$T/pipe"
	"$SHIP" --sink "$(dw)" --sink "$(dw2)" --flush-interval 60000 --spool-dir "$T/spool" \
		--spool-capacity-mb 100 <"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$SEQ" --count 321 >&7
	sleep 0.5
	[ "$(lines "$FAKE2_LOG")" = 0 ]
	start=$(date +%s)
	kill -TERM "$SHIP_PID"
	rc=0
	wait "$SHIP_PID" || rc=$?
	SHIP_PID=
	exec 7>&-
	[ "$rc" = 0 ]
	[ $(($(date +%s) - start)) -lt 10 ] # not the 30 s of --drain-timeout
	"$CHECK" seq "$FAKE2_LOG" 321
	[ "$(accepted "$FAKE_LOG")" = 0 ]
	grep -q "sink 0 failing: 1 batches left" "$T/err"
	rm "$FAKE_FAIL"
	# the URLs the other way round: each queue follows its URL
	"$SHIP" --sink "$(dw2)" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		</dev/null
	"$CHECK" seq "$FAKE_LOG" 321
	"$CHECK" seq "$FAKE2_LOG" 321
}

@test "without a spool, the down Dataway still down after --drain-timeout: the other has everything, exit 1" {
	start_fake_dataway
	start_fake2
	echo 503 >"$FAKE2_FAIL"
	start=$(date +%s)
	run --separate-stderr -1 "$SHIP" --sink "$(dw)" --sink "$(dw2)" --drain-timeout 3 \
		--metrics-file "$M" < <("$SEQ" --count 700)
	[ $(($(date +%s) - start)) -lt 10 ]
	[[ "$stderr" == *"sinks still failing after --drain-timeout 3 s: 700 points lost"* ]]
	"$CHECK" seq "$FAKE_LOG" 700
	[ "$(metric 'rum_ship_lost_points_total{sink="1"}')" = 700 ]
	[ "$(metric 'rum_ship_lost_points_total{sink="0"}')" = 0 ]
}

@test "several --sink: Dataway URLs only, each once" {
	start_fake_dataway
	run --separate-stderr -2 "$SHIP" --sink "$(dw)" --sink "file:$T/out"
	[[ "$stderr" == *"invalid value 'file:$T/out' for --sink: --sink is given 2 times, and only Dataway sinks"* ]]
	run --separate-stderr -2 "$SHIP" --sink "kafka://127.0.0.1:9/t" --sink "$(dw)"
	[[ "$stderr" == *"for --sink: --sink is given 2 times, and only Dataway sinks"* ]]
	run --separate-stderr -2 "$SHIP" --sink "$(dw)" --sink "influx+http://127.0.0.1:9/w"
	[[ "$stderr" == *"only Dataway sinks"* ]]
	run --separate-stderr -2 "$SHIP" --sink "$(dw)" --sink "$(dw)" --check-config
	[[ "$stderr" == *"the same Dataway URL as --sink"* ]]
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --sink "$(dw '&x=1')" --check-config
	[ ! -e "$FAKE_LOG" ] || [ "$(lines "$FAKE_LOG")" = 0 ]
}
