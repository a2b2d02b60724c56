#!/usr/bin/env bats
# Faults while busy: kill -9 of stages and of rum-collector itself, with a
# numbered stream of points; every point that got a 2xx must arrive
# (`make chaos`; short bounded runs).

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	T=$BATS_TEST_TMPDIR
	DIR=$BATS_TEST_TMPDIR/c
	# Its own target (make chaos): the whole suite (make check without T=)
	# leaves it out.
	if [ "${RUMPIPE_SUITE:-}" = all ] && [ -z "${RUMPIPE_CHAOS:-}" ]; then
		skip "run by make chaos"
	fi
	mkdir -p "$DIR"
	OUT=$DIR/records.ndjson
	PORT=$(free_port)
}

teardown() {
	[ -n "${CPID:-}" ] && stop_pid "$CPID" KILL
	[ -n "${CPID2:-}" ] && stop_pid "$CPID2" KILL
	[ -n "${CLIENT_PID:-}" ] && stop_pid "$CLIENT_PID" KILL
	# only this test's own processes (their arguments name its directory)
	[ -n "${DIR:-}" ] && pkill -KILL -f "$DIR/" 2>/dev/null
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	true
}

# file_conf: the whole chain on $PORT, records to the file $OUT.
file_conf() {
	cat >"$DIR/conf" <<-CONF
		data_dir = "$DIR/data"
		restart_backoff_max = 2
		drain_timeout = 20
		[listen]
		listen = "127.0.0.1:$PORT"
		[ship]
		sink = "file:$OUT"
		flush_interval = 100
	CONF
}

# descendants PID: every process under PID, one pid a line.
descendants() {
	local p
	for p in $(pgrep -P "$1"); do
		echo "$p"
		descendants "$p"
	done
}

all_gone() {
	local p
	for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}

post_view() { # n: one point with field n=N
	curl -sf -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/write/rum" \
		--data-binary "view,app_id=a1,sdk_name=df_web_rum_sdk n=${1}i,view_url=\"http://x/\" 1700000000000000000"
}

@test "kill -9 of rum-collector: every stage and log filter ends, draining; a new collector starts on the same port" {
	file_conf
	"$BIN/rum-collector" -c "$DIR/conf" 2>"$DIR/stderr" &
	CPID=$!
	wait_port "$PORT" 15
	for i in $(seq 1 50); do post_view "$i"; done
	kids=$(descendants "$CPID" | tr '\n' ' ')
	# six stages and six stderr filters at least
	[ "$(wc -w <<<"$kids")" -ge 12 ]
	kill -KILL "$CPID"
	wait "$CPID" 2>/dev/null || true
	CPID=
	# shellcheck disable=SC2086
	wait_for 20 all_gone $kids
	# what rum-listen had accepted went down the chain as it drained
	[ "$(jq -r .fields.n "$OUT" | sort -n | uniq | wc -l)" = 50 ]
	"$BIN/rum-collector" -c "$DIR/conf" 2>"$DIR/stderr2" &
	CPID2=$!
	wait_port "$PORT" 15
	post_view 51
	wait_for 15 count_at_least 51 lines "$OUT"
	! grep -q "exited with status" "$DIR/stderr2"
}

# dataway_conf: the whole chain on $PORT to the fake Dataway, rum-ship with
# its spool (the collector's default) under $DIR/data.
dataway_conf() {
	cat >"$DIR/conf" <<-CONF
		data_dir = "$DIR/data"
		restart_backoff_max = 1
		drain_timeout = 30
		[listen]
		listen = "127.0.0.1:$PORT"
		[ship]
		sink = "$(dw)"
		flush_interval = 200
	CONF
}

seqs_at_dataway() {
	"$TOP/t/lib/dataway-check" bodies "$FAKE_LOG" | grep -o ' seq=[0-9]*i' | tr -dc '0-9\n' | sort -n
}

# The verdict: every seq the client got a 2xx for is at the Dataway; prints
# the counts (to the TAP output) and sets LOST and DUPS.
tally() {
	sort -u "$T/ok" >"$T/ok.sorted"
	seqs_at_dataway >"$T/got"
	sort -u "$T/got" >"$T/got.sorted"
	LOST=$(comm -23 "$T/ok.sorted" "$T/got.sorted" | wc -l)
	DUPS=$(($(wc -l <"$T/got") - $(wc -l <"$T/got.sorted")))
	# delivered, yet the client saw no 2xx (a reset, say): it would send
	# them again
	UNANSWERED=$(comm -13 "$T/ok.sorted" "$T/got.sorted" | wc -l)
	echo "# $1: $(cat "$T/client"); ok $(wc -l <"$T/ok.sorted"), lost $LOST, at the Dataway $(wc -l <"$T/got.sorted") distinct, $DUPS duplicates, $UNANSWERED delivered without a 2xx" >&3
}

stage_pid() { pgrep -f "^$BIN/rum-$1 .*$DIR/" | head -1; }

# kill_busy STAGE: stopped, let go and killed within milliseconds (what it
# read and has not written is in its memory then), as the issue measured.
kill_busy() {
	local pid
	pid=$(stage_pid "$1")
	[ -n "$pid" ]
	kill -STOP "$pid"
	sleep 0.5
	kill -CONT "$pid"
	kill -KILL "$pid"
}

stop_collector() {
	kill -TERM "$CPID"
	wait "$CPID"
	CPID=
}

@test "kill -9 of rum-ship (twice) and of rum-collector while busy: points lost at most one read a kill, duplicates bounded" {
	start_fake_dataway
	dataway_conf
	"$BIN/rum-collector" -c "$DIR/conf" 2>"$DIR/stderr" &
	CPID=$!
	wait_port "$PORT" 15
	"$TOP/t/lib/numbered-client" "http://127.0.0.1:$PORT/v1/write/rum" "$T/ok" --seconds 16 >"$T/client" &
	CLIENT_PID=$!
	sleep 3
	kill -KILL "$(stage_pid ship)"
	sleep 3
	kill_busy ship
	sleep 3
	kill -KILL "$CPID"
	wait "$CPID" 2>/dev/null || true
	CPID=
	# the old chain drains and ends; a new collector takes over
	wait_for 30 bash -c "! pgrep -f '^$BIN/rum-listen .*$DIR/' >/dev/null"
	"$BIN/rum-collector" -c "$DIR/conf" 2>"$DIR/stderr2" &
	CPID=$!
	wait_port "$PORT" 15
	wait "$CLIENT_PID"
	CLIENT_PID=
	stop_collector
	tally "rum-ship killed twice, rum-collector once"
	[ "$(wc -l <"$T/ok.sorted")" -gt 500 ]
	# The one window left (rum-ship.1, Queueing): a kill between a read of
	# standard input and its append to the journal loses that read, at most
	# 1 MiB, about 1,700 of these points. The SIGSTOP of kill_busy lands in
	# it now and then: 177 and 218 points lost in 2 runs of 6; 0 otherwise.
	[ "$LOST" -le $((2 * 1700)) ]
	# rum-listen stopped (SIGTERM from the kernel) under load: answers
	# from then on close their connection, so no kept-alive request is cut
	# off by the stop (before: 40 points). Still seen under ASan, in 1 run
	# of 3: one request per client connection in progress at the stop
	# delivered without its 2xx (30 points; cause not found yet), so the
	# bound is the client's 4 connections of 10 points.
	[ "$UNANSWERED" -le 40 ]
	# Sent again: the batches in flight at each kill of rum-ship (at most
	# --max-inflight 4 + 1 of 1000 points; rum-ship.1, Queueing).
	[ "$DUPS" -le $((2 * 5 * 1000)) ]
	grep -q "rum-ship exited with status" "$DIR/stderr"
}

@test "kill -9 of each middle stage while busy: losses within the documented bound (what one read holds)" {
	start_fake_dataway
	dataway_conf
	"$BIN/rum-collector" -c "$DIR/conf" 2>"$DIR/stderr" &
	CPID=$!
	wait_port "$PORT" 15
	"$TOP/t/lib/numbered-client" "http://127.0.0.1:$PORT/v1/write/rum" "$T/ok" --seconds 14 >"$T/client" &
	CLIENT_PID=$!
	sleep 2
	for s in replay-filter enrich cdn symbolicate; do
		kill_busy "$s"
		sleep 2.5
	done
	wait "$CLIENT_PID"
	CLIENT_PID=
	stop_collector
	tally "each middle stage killed once"
	[ "$(wc -l <"$T/ok.sorted")" -gt 500 ]
	# A middle stage consumes its input when it reads it: a kill loses what
	# it had read and not yet written (rum-collector.1, DELIVERY: measured
	# up to 453 points, ~128 KiB, in 1 of 11 tries); 4 kills.
	[ "$LOST" -le $((4 * 500)) ]
	[ "$DUPS" = 0 ]
	for s in replay-filter enrich cdn symbolicate; do
		grep -q "rum-$s exited with status" "$DIR/stderr"
	done
}
