#!/usr/bin/env bats
# Faults while busy: kill -9 of stages and of rum-collector itself, with a
# numbered stream of points; every point that got a 2xx must arrive
# (`make chaos`; short bounded runs).

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	DIR=$BATS_TEST_TMPDIR/c
	mkdir -p "$DIR"
	OUT=$DIR/records.ndjson
	PORT=$(free_port)
}

teardown() {
	[ -n "${CPID:-}" ] && stop_pid "$CPID" KILL
	[ -n "${CPID2:-}" ] && stop_pid "$CPID2" KILL
	[ -n "${CLIENT_PID:-}" ] && stop_pid "$CLIENT_PID" KILL
	pkill -KILL -f "$DIR/" 2>/dev/null || true
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
