#!/usr/bin/env bats
# End to end: rum-listen | rum-ship → the fake Dataway. A web SDK batch goes
# in over HTTP; the same points (plus the ip tag) must come out at the
# Dataway, with their measurement, tags, fields and nanosecond time.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	T=$BATS_TEST_TMPDIR
	CHECK=$TOP/t/lib/dataway-check
	WEB_BATCH=$TOP/t/data/web-batch.lp
	DK_BATCH=${FIXTURES:+$FIXTURES/datakit/body}
}

teardown() {
	[ -n "${LISTEN_PID:-}" ] && stop_pid "$LISTEN_PID" KILL
	[ -n "${SHIP_PID:-}" ] && stop_pid "$SHIP_PID" KILL
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	true
}

# rum-listen --listen 127.0.0.1:0 | rum-ship --sink <the fake>; sets URL.
start_pipeline() {
	start_fake_dataway
	mkfifo "$T/pipe"
	"$BIN/rum-ship" --sink "http://127.0.0.1:$FAKE_PORT?token=tkn_test" \
		--flush-interval 100 <"$T/pipe" 2>"$T/ship.err" &
	SHIP_PID=$!
	"$BIN/rum-listen" --listen 127.0.0.1:0 >"$T/pipe" 2>"$T/listen.err" &
	LISTEN_PID=$!
	wait_for 10 grep -q 'listening on' "$T/listen.err"
	local port
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/listen.err" | head -1)
	URL="http://127.0.0.1:$port/v1/write/rum"
}

# Stop rum-listen; rum-ship then sees the end of its input, sends what it
# holds and exits 0.
stop_pipeline() {
	kill -TERM "$LISTEN_PID"
	wait "$LISTEN_PID" || { echo "rum-listen failed: $(cat "$T/listen.err")"; return 1; }
	LISTEN_PID=
	local rc=0
	wait "$SHIP_PID" || rc=$?
	SHIP_PID=
	[ "$rc" = 0 ] || { echo "rum-ship exit $rc: $(cat "$T/ship.err")"; return 1; }
}

# post FILE [CURL-ARG]...: POST the body with precision=ms; expects 2xx.
post() {
	local file=$1 code
	shift
	code=$(curl -s -o "$T/resp" -w '%{http_code}' --data-binary @"$file" \
		"$URL?precision=ms" "$@")
	[[ "$code" == 2* ]] || { echo "HTTP $code: $(cat "$T/resp")"; return 1; }
}

points_at_dataway() { "$CHECK" bodies "$FAKE_LOG" | "$TOOLS/lptool" tojson | wc -l; }
dataway_has() { [ "$(points_at_dataway)" = "$1" ]; }

# expect_points BATCH=IP...: what the fake Dataway accepted, as records, is
# each batch's points (parsed independently with lptool, ms precision) with
# the ip tag, in order.
expect_points() {
	: >"$T/want.ndjson"
	local spec
	for spec in "$@"; do
		"$TOOLS/lptool" tojson -p ms --set "ip=${spec##*=}" <"${spec%=*}" >>"$T/want.ndjson"
	done
	"$CHECK" bodies "$FAKE_LOG" | "$TOOLS/lptool" tojson >"$T/got.ndjson"
	python3 "$TOP/t/lib/rec-meaning" "$T/want.ndjson" "$T/got.ndjson"
	# the multi-line stacks arrive as sent, raw newlines and tabs included
	python3 - "$T/got.ndjson" <<-'EOF'
		import json, sys
		stacks = [json.loads(l)["fields"].get("error_stack") for l in open(sys.argv[1])]
		stacks = [s for s in stacks if s]
		assert stacks and all("\n\tat " in s for s in stacks), stacks
	EOF
	jq -e -s 'all(.[]; .path == "/v1/write/rum" and .query == "token=tkn_test"
		and .headers["Content-Encoding"] == "gzip")' "$FAKE_LOG" >/dev/null
}

# The ip tag: X-Forwarded-For first, then X-Real-IP, then the peer.
three_requests() {
	local batch=$1
	post "$batch" -H 'X-Forwarded-For: 203.0.113.7, 10.1.1.1' -H 'X-Real-IP: 198.51.100.1'
	post "$batch" -H 'X-Real-IP: 198.51.100.9'
	post "$batch"
	wait_for 10 dataway_has 27
	stop_pipeline
	expect_points "$batch=203.0.113.7" "$batch=198.51.100.9" "$batch=127.0.0.1"
}

@test "t/ web SDK batch: 9 points × 3 requests arrive at the Dataway with ip and ns time" {
	[ "$(wc -l <"$WEB_BATCH")" -gt 9 ] # multi-line error stacks inside
	[ "$("$TOOLS/lptool" tojson -p ms <"$WEB_BATCH" | wc -l)" = 9 ]
	start_pipeline
	three_requests "$WEB_BATCH"
	# times went from ms to ns
	jq -e -s 'all(.[]; .time > 1000000000000000000)' "$T/got.ndjson" >/dev/null
}

@test "DataKit's web SDK batch: 9 points × 3 requests arrive at the Dataway" {
	[ -f "$DK_BATCH" ] || skip "no $DK_BATCH"
	start_pipeline
	three_requests "$DK_BATCH"
}

@test "the same points as a JSON body" {
	# python keeps 1.0 a float (jq would not); times back to ms
	"$TOOLS/lptool" tojson -p ms <"$WEB_BATCH" | python3 -c 'import json, sys
pts = [json.loads(l) for l in sys.stdin]
for p in pts:
    p["time"] //= 1000000
json.dump(pts, sys.stdout, ensure_ascii=False)' >"$T/batch.json"
	[ "$(jq length "$T/batch.json")" = 9 ]
	start_pipeline
	post "$T/batch.json" -H 'Content-Type: application/json' -H 'X-Real-IP: 198.51.100.9'
	wait_for 10 dataway_has 9
	stop_pipeline
	expect_points "$WEB_BATCH=198.51.100.9"
}

@test "gzip, deflate and zstd request bodies" {
	gzip -c <"$WEB_BATCH" >"$T/b.gz"
	python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' \
		<"$WEB_BATCH" >"$T/b.deflate"
	zstd -q -c <"$WEB_BATCH" >"$T/b.zst"
	start_pipeline
	post "$T/b.gz" -H 'Content-Encoding: gzip' -H 'X-Forwarded-For: 203.0.113.1'
	post "$T/b.deflate" -H 'Content-Encoding: deflate' -H 'X-Forwarded-For: 203.0.113.2'
	post "$T/b.zst" -H 'Content-Encoding: zstd' -H 'X-Forwarded-For: 203.0.113.3'
	wait_for 10 dataway_has 27
	stop_pipeline
	expect_points "$WEB_BATCH=203.0.113.1" "$WEB_BATCH=203.0.113.2" "$WEB_BATCH=203.0.113.3"
}
