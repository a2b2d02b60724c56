#!/usr/bin/env bats
# Captured traffic: raw HTTP requests (recorded from curl with socat, kept in
# t/data/captured/*.http) are replayed byte for byte with socat into
# rum-listen | rum-ship, and what the fake Dataway receives is compared with
# a golden file.

load lib/common

CAPTURES="lp-xff json-realip gzip-peer bad-noappid"

setup() {
	start_fake_dataway
	PORT=$(free_port)
	"$BIN/rum-listen" --listen "127.0.0.1:$PORT" 2>"$BATS_TEST_TMPDIR/listen.err" |
		"$BIN/rum-ship" --sink "http://127.0.0.1:$FAKE_PORT/?token=tkn_capture" \
			--flush-interval 100 2>"$BATS_TEST_TMPDIR/ship.err" &
	PIPE_PID=$!
	wait_port "$PORT"
}

teardown() {
	pkill -f "rum-listen --listen 127.0.0.1:$PORT" 2>/dev/null || true
	stop_pid "$PIPE_PID"
	stop_pid "$FAKE_PID"
}

# The LP bodies Dataway received, in order, one point a line.
received() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["path"] == "/v1/write/rum", r["path"]
    assert "token=tkn_capture" in r["query"], r["query"]
    sys.stdout.write(r["body"])
' "$FAKE_LOG"
}

@test "capture: replayed requests give the golden statuses and points" {
	: >"$BATS_TEST_TMPDIR/statuses"
	for c in $CAPTURES; do
		socat -t 1 - "TCP:127.0.0.1:$PORT" <"$TOP/t/data/captured/$c.http" >"$BATS_TEST_TMPDIR/$c.resp"
		echo "$c $(head -1 "$BATS_TEST_TMPDIR/$c.resp" | tr -d '\r')" >>"$BATS_TEST_TMPDIR/statuses"
	done
	diff -u "$TOP/t/data/captured/golden.status" "$BATS_TEST_TMPDIR/statuses"
	grep -q '"error_code"' "$BATS_TEST_TMPDIR/bad-noappid.resp"
	# rum-listen stops, rum-ship drains on EOF and exits.
	pkill -TERM -f "rum-listen --listen 127.0.0.1:$PORT"
	wait "$PIPE_PID"
	received >"$BATS_TEST_TMPDIR/received.lp"
	diff -u "$TOP/t/data/captured/golden.lp" "$BATS_TEST_TMPDIR/received.lp"
}
