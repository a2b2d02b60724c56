#!/usr/bin/env bats
# rum-listen: the RUM write endpoints, bodies and encodings, the ip tag,
# all-or-nothing validation, CORS, ping and metrics, spool, signals, options.

load lib/common
load lib/listen

setup() {
	listen_vars
	BATCH=$TOP/t/data/listen-batch.lp
	# The 9 measurements of the batch, in order.
	BATCH_MEAS="view resource resource resource long_task long_task error error action"
}

teardown() {
	[ -n "${READER:-}" ] && stop_pid "$READER" KILL
	listen_teardown
}

post_batch() { # [CURL-ARG]...
	req POST "/v1/write/rum?precision=ms" --data-binary @"$BATCH" "$@"
}

# drain_fifo FIFO: what a FIFO with no writer left holds, without blocking.
drain_fifo() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
while True:
    try:
        b = os.read(fd, 65536)
    except BlockingIOError:
        break
    if not b:
        break
    sys.stdout.buffer.write(b)' "$1"
}

# br_compress IN OUT: brotli through libbrotlienc (no CLI needed).
br_compress() {
	python3 - "$1" "$2" <<'PY'
import ctypes, ctypes.util, sys
lib = ctypes.CDLL(ctypes.util.find_library("brotlienc") or "libbrotlienc.so.1")
data = open(sys.argv[1], "rb").read()
out = ctypes.create_string_buffer(len(data) + 1024)
n = ctypes.c_size_t(len(out))
if not lib.BrotliEncoderCompress(11, 22, 0, ctypes.c_size_t(len(data)), data, ctypes.byref(n), out):
    sys.exit(1)
open(sys.argv[2], "wb").write(out.raw[:n.value])
PY
}

@test "DataKit's web SDK batch: 9 records, ip from X-Forwarded-For, then X-Real-IP, then the peer" {
	body=${FIXTURES:-/nonexistent}/datakit/body
	[ -f "$body" ] || skip "no DataKit fixture in ../shared"
	start_listen
	req POST "/v1/write/rum?precision=ms" --data-binary @"$body" -H 'Content-Type: text/plain' \
		-H 'X-Forwarded-For: 203.0.113.7, 10.1.2.3' -H 'X-Real-IP: 198.51.100.9'
	[ "$CODE" = 200 ]
	req POST "/v1/write/rum?precision=ms" --data-binary @"$body" -H 'X-Real-IP: 198.51.100.9'
	[ "$CODE" = 200 ]
	req POST "/v1/write/rum?precision=ms" --data-binary @"$body"
	[ "$CODE" = 200 ]
	[ "$(lines "$OUT")" -eq 27 ]
	[ "$(jq -r .tags.ip "$OUT" | uniq -c | awk '{print $1 "x" $2}' | xargs)" = \
		"9x203.0.113.7 9x198.51.100.9 9x127.0.0.1" ]
	[ "$(head -9 "$OUT" | jq -r .measurement | xargs)" = \
		"resource long_task resource resource long_task long_task error error view" ]
	# Times in nanoseconds, as the body's milliseconds said.
	[ "$(head -9 "$OUT" | sed 's/.*"time":\([0-9]*\)}$/\1/' | xargs)" = \
		"$(grep -oE ' [0-9]{13}$' "$body" | sed 's/ //; s/$/000000/' | xargs)" ]
	# The multi-line stack survives, tab and all.
	[ "$(sed -n 7p "$OUT" | jq -r .fields.error_stack)" = \
		"$(printf 'TypeError\n\tat <anonymous> @ http://localhost:5500/dist/bundle.js:1:821')" ]
	# Every tag of the body is there (plus ip), escapes decoded.
	[ "$(sed -n 1p "$OUT" | jq -r '.tags | length')" = 34 ]
	[ "$(sed -n 1p "$OUT" | jq -r '.tags.os')" = "Mac OS" ]
	[ "$(sed -n 9p "$OUT" | jq -r '.fields.time_spent')" = 23318700000 ]
	[ "$(sed -n 9p "$OUT" | jq -r '.tags.is_active')" = true ]
}

@test "own 9-point batch: measurements, escapes, int and float fields, ns time, X-Forwarded-For port stripped" {
	start_listen
	post_batch -H 'X-Forwarded-For:  192.0.2.44:5123 , 10.0.0.1'
	[ "$CODE" = 200 ]
	[ ! -s "$D/resp" ]
	[ "$(lines "$OUT")" -eq 9 ]
	[ "$(jq -r .measurement "$OUT" | xargs)" = "$BATCH_MEAS" ]
	[ "$(jq -r .tags.ip "$OUT" | sort -u)" = 192.0.2.44 ]
	[ "$(jq -r .tags.os "$OUT" | sort -u)" = "Windows NT" ]
	[ "$(jq -r .tags.view_url "$OUT" | sort -u)" = "https://shop.example.test/cart?step=2" ]
	[ "$(jq -r .tags.view_url_query "$OUT" | sort -u)" = '{"step":"2"}' ]
	[ "$(sed -n 1p "$OUT" | sed 's/.*"time":\([0-9]*\)}$/\1/')" = 1700000000100000000 ]
	# i-suffixed integers stay integers, plain numbers are floats.
	grep -q '"resource_size":183422[,}]' "$OUT"
	grep -q '"duration":48200000\.0[,}]' "$OUT"
	grep -q '"cumulative_layout_shift":0\.0125[,}]' "$OUT"
	[ "$(sed -n 8p "$OUT" | jq -r .fields.error_message)" = "cart.items is undefined, can't read \"length\"" ]
	[ "$(sed -n 7p "$OUT" | jq -r .fields.error_stack | wc -l)" = 3 ]
	# Key order is the contract's: measurement, tags, fields, time.
	head -1 "$OUT" | grep -qE '^\{"measurement":"view","tags":\{.*\},"fields":\{.*\},"time":[0-9]+\}$'
}

@test "X-Real-IP when X-Forwarded-For is absent; --origin-ip-header first; IPv6 peers and headers" {
	start_listen --origin-ip-header X-Client-Addr
	post_batch -H 'X-Real-IP: 198.51.100.9'
	post_batch -H 'X-Client-Addr: [2001:db8::7]:443' -H 'X-Forwarded-For: 203.0.113.7'
	post_batch -H 'X-Forwarded-For: 2001:db8::8'
	[ "$(jq -r .tags.ip "$OUT" | uniq | xargs)" = "198.51.100.9 2001:db8::7 2001:db8::8" ]
	# An ip tag of the point's own is replaced, not doubled.
	: >"$OUT"
	req POST /v1/write/rum --data-binary 'view,ip=6.6.6.6,app_id=a f=1'
	[ "$(cat "$OUT" | grep -o '"ip":' | wc -l)" = 1 ]
	[ "$(jq -r .tags.ip "$OUT")" = 127.0.0.1 ]
	stop_pid "$LPID"
	# Emptied here: the background shell truncates it only when it runs,
	# and until then the grep below could read the first listener's line.
	: >"$ERR"
	"$BIN/rum-listen" --listen '[::1]:0' >"$OUT" 2>"$ERR" &
	LPID=$!
	wait_for 10 grep -q 'listening on' "$ERR"
	port=$(sed -n 's/.*listening on \[::1\]:\([0-9]*\).*/\1/p' "$ERR")
	[ -n "$port" ]
	curl -sf -g --data-binary @"$BATCH" "http://[::1]:$port/v1/write/rum?precision=ms"
	[ "$(jq -r .tags.ip "$OUT" | sort -u)" = "::1" ]
}

@test "a JSON body gives the same records as line protocol; one object; int/float as written" {
	start_listen
	post_batch
	[ "$(lines "$OUT")" -eq 9 ]
	jq -c '{measurement, tags: (.tags | del(.ip)), fields, time}' "$OUT" | jq -s -c . >"$D/body.json"
	: >"$OUT"
	req POST "/v1/write/rum?precision=ns" -H 'Content-Type: application/json; charset=utf-8' \
		-H 'X-Forwarded-For: 203.0.113.8' --data-binary @"$D/body.json"
	[ "$CODE" = 200 ]
	[ "$(lines "$OUT")" -eq 9 ]
	[ "$(jq -r .tags.ip "$OUT" | sort -u)" = 203.0.113.8 ]
	diff <(jq -c '{measurement, tags: (.tags | del(.ip)), fields, time}' "$OUT") \
		<(jq -c '.[]' "$D/body.json")
	: >"$OUT"
	req POST "/v1/write/rum?precision=ms" -H 'Content-Type: application/json' --data-binary \
		' { "time": 1700000000123, "fields": {"f": 1.0, "i": 2, "e": 1e3, "s": "a\nb", "b": true},
		    "tags": {"ip": "9.9.9.9", "app_id": "a1"}, "measurement": "view" } '
	[ "$CODE" = 200 ]
	[ "$(cat "$OUT")" = \
		'{"measurement":"view","tags":{"ip":"127.0.0.1","app_id":"a1"},"fields":{"f":1.0,"i":2,"e":1e3,"s":"a\nb","b":true},"time":1700000000123000000}' ]
	# NDJSON: records rum-listen wrote can be posted again, byte for byte.
	post_batch
	tail -9 "$OUT" >"$D/records.ndjson"
	: >"$OUT"
	req POST /v1/write/rum -H 'Content-Type: application/x-ndjson' --data-binary @"$D/records.ndjson"
	[ "$CODE" = 200 ]
	diff "$OUT" "$D/records.ndjson"
	req POST /v1/write/rum -H 'Content-Type: application/json' \
		--data-binary '{"measurement":"view","tags":{"app_id":"a1"},"fields":{"f":1}} 7'
	expect_error 400 rum.badJSON "after the object"
}

@test "precision: each unit, guessed by magnitude, and the receive time for points without one" {
	start_listen
	p() { # precision body → the time written
		: >"$OUT"
		req POST "/v1/write/rum${1:+?precision=$1}" --data-binary "view,app_id=a f=1${2:+ $2}"
		[ "$CODE" = 200 ] || { cat "$D/resp"; return 1; }
		sed -n 's/.*"time":\([0-9]*\)}$/\1/p' "$OUT"
	}
	[ "$(p s 1700000000)" = 1700000000000000000 ]
	[ "$(p ms 1700000000123)" = 1700000000123000000 ]
	[ "$(p us 1700000000123456)" = 1700000000123456000 ]
	[ "$(p ns 1700000000123456789)" = 1700000000123456789 ]
	[ "$(p m 28333333)" = 1699999980000000000 ]
	[ "$(p h 472222)" = 1699999200000000000 ]
	[ "$(p '' 1700000000)" = 1700000000000000000 ]
	[ "$(p '' 1700000000123)" = 1700000000123000000 ]
	[ "$(p '' 1700000000123456)" = 1700000000123456000 ]
	[ "$(p '' 1700000000123456789)" = 1700000000123456789 ]
	before=$(date +%s%N)
	t=$(p ms '')
	after=$(date +%s%N)
	[ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
}

@test "gzip, deflate (zlib and raw), zstd and br bodies, by header or by query" {
	start_listen
	post_batch
	gzip -c "$BATCH" >"$D/b.gz"
	python3 -c 'import sys, zlib; d = open(sys.argv[1], "rb").read(); open(sys.argv[2], "wb").write(zlib.compress(d)); c = zlib.compressobj(9, zlib.DEFLATED, -15); open(sys.argv[3], "wb").write(c.compress(d) + c.flush())' \
		"$BATCH" "$D/b.zlib" "$D/b.raw"
	zstd -q -c "$BATCH" >"$D/b.zst"
	req POST "/v1/write/rum?precision=ms" -H 'Content-Encoding: gzip' --data-binary @"$D/b.gz"
	[ "$CODE" = 200 ]
	req POST "/v1/write/rum?precision=ms&encoding=gzip" --data-binary @"$D/b.gz"
	[ "$CODE" = 200 ]
	req POST "/v1/write/rum?precision=ms" -H 'Content-Encoding: deflate' --data-binary @"$D/b.zlib"
	[ "$CODE" = 200 ]
	req POST "/v1/write/rum?precision=ms&encoding=deflate" --data-binary @"$D/b.raw"
	[ "$CODE" = 200 ]
	req POST "/v1/write/rum?precision=ms" -H 'Content-Encoding: zstd' --data-binary @"$D/b.zst"
	[ "$CODE" = 200 ]
	n=6
	if br_compress "$BATCH" "$D/b.br" 2>/dev/null; then
		req POST "/v1/write/rum?precision=ms" -H 'Content-Encoding: br' --data-binary @"$D/b.br"
		[ "$CODE" = 200 ]
		n=7
	fi
	[ "$(lines "$OUT")" -eq $((n * 9)) ]
	head -9 "$OUT" >"$D/first"
	for i in $(seq 1 $((n - 1))); do
		diff "$D/first" <(sed -n "$((i * 9 + 1)),$((i * 9 + 9))p" "$OUT")
	done
}

@test "each bad request: its status, a JSON error, and nothing emitted" {
	start_listen --app-id-allow appid_listen_bats,other_app --max-body-mb 1
	good='view,app_id=appid_listen_bats f=1 1700000000000'
	u="/v1/write/rum?precision=ms"

	req POST "$u" --data-binary "$(printf '%s\nview,app_id=appid_listen_bats f= 2\n' "$good")"
	expect_error 400 rum.badLine "line 2"
	req POST "$u" --data-binary "$(printf '%s\npageview,app_id=appid_listen_bats f=1\n' "$good")"
	expect_error 400 rum.badMeasurement "pageview"
	jq -r .message "$D/resp" | grep -q 'line 2'
	# A name that fits the message whole has no "..."; a longer one is cut.
	m76=$(printf 'm%.0s' {1..76})
	req POST "$u" --data-binary "$m76,app_id=appid_listen_bats f=1"
	expect_error 400 rum.badMeasurement "'$m76' is not"
	req POST "$u" --data-binary "${m76}m,app_id=appid_listen_bats f=1"
	expect_error 400 rum.badMeasurement "'$m76...' is not"
	req POST "$u" --data-binary "$(printf '%s\nview,env=x f=1\n%s\n' "$good" "$good")"
	expect_error 400 rum.missingAppId "line 2"
	req POST "$u" --data-binary "$(printf '%s\n%s\nerror,app_id=intruder f=1\n' "$good" "$good")"
	expect_error 400 rum.appIdNotAllowed "intruder"
	jq -r .message "$D/resp" | grep -q 'line 3'
	req POST "$u" --data-binary ''
	expect_error 400 rum.emptyBody
	req POST "$u" --data-binary $'\n# only a comment\n'
	expect_error 400 rum.emptyBody
	req POST "/v1/write/rum?precision=fortnight" --data-binary "$good"
	expect_error 400 rum.badPrecision "fortnight"
	req POST "$u" -H 'Content-Encoding: lz4' --data-binary "$good"
	expect_error 415 rum.unsupportedEncoding "lz4"
	req POST "$u&encoding=snappy" --data-binary "$good"
	expect_error 415 rum.unsupportedEncoding "snappy"
	printf '\037\213\010\000garbage-not-deflate' >"$D/bad.gz"
	req POST "$u" -H 'Content-Encoding: gzip' --data-binary @"$D/bad.gz"
	expect_error 400 rum.badEncoding gzip
	gzip -c "$BATCH" | head -c 200 >"$D/trunc.gz"
	req POST "$u" -H 'Content-Encoding: gzip' --data-binary @"$D/trunc.gz"
	expect_error 400 rum.badEncoding
	# Over the limit: by Content-Length, while streaming, and once decompressed.
	head -c $((3 << 19)) /dev/zero | tr '\0' 'x' >"$D/big"
	req POST "$u" --data-binary @"$D/big"
	expect_error 413 rum.bodyTooLarge
	req POST "$u" -H 'Transfer-Encoding: chunked' --data-binary @"$D/big"
	[ "$CODE" = 413 ]
	yes "$good" | head -n 40000 | gzip -c >"$D/bomb.gz"
	[ "$(stat -c %s "$D/bomb.gz")" -lt $((1 << 20)) ]
	req POST "$u" -H 'Content-Encoding: gzip' --data-binary @"$D/bomb.gz"
	expect_error 413 rum.bodyTooLarge decompressed
	# JSON bodies.
	req POST "$u" -H 'Content-Type: application/json' \
		--data-binary '[{"measurement":"view","tags":{"app_id":"other_app"},"fields":{"f":1}},'
	expect_error 400 rum.badJSON
	req POST "$u" -H 'Content-Type: application/json' \
		--data-binary '[{"measurement":"view","tags":{"app_id":"other_app"},"fields":{"f":1}},
{"measurement":"view","tags":{"app_id":7},"fields":{"f":1}}]'
	expect_error 400 rum.badJSON "point 2"
	req POST "$u" -H 'Content-Type: application/json' \
		--data-binary '{"measurement":"view","tags":{"env":"x"},"fields":{"f":1}}'
	expect_error 400 rum.missingAppId
	req POST "$u" -H 'Content-Type: application/json' --data-binary '[]'
	expect_error 400 rum.emptyBody
	# Nothing of all that came out, and the daemon still works.
	[ "$(lines "$OUT")" -eq 0 ]
	req POST "$u" --data-binary "$good"
	[ "$CODE" = 200 ]
	[ "$(lines "$OUT")" -eq 1 ]
}

@test "wrong methods and unknown paths; --disable-404page" {
	start_listen
	req GET /v1/write/rum
	expect_error 405 rum.methodNotAllowed
	grep -qi '^Allow: POST' "$D/hdr"
	req GET /nowhere
	expect_error 404 rum.notFound
	stop_pid "$LPID"
	start_listen --disable-404page
	req GET /nowhere
	[ "$CODE" = 404 ]
	[ ! -s "$D/resp" ]
}

@test "one keep-alive connection across preflight, ping, errors and writes" {
	start_listen
	curl -sv -X OPTIONS -H 'Origin: https://a.test' "$URL/v1/write/rum" --next "$URL/v1/ping" \
		--next "$URL/nowhere" --next --data-binary 'x' "$URL/v1/write/rum?precision=zz" \
		--next --data-binary 'bad' "$URL/v1/write/rum" \
		--next --data-binary @"$BATCH" "$URL/v1/write/rum?precision=ms" 2>"$D/v" >/dev/null
	[ "$(grep -c '^< HTTP/1.1' "$D/v")" = 6 ]
	[ "$(grep -c 'Re-using existing connection' "$D/v")" = 5 ]
	! grep -qi '^< Connection: close' "$D/v"
	[ "$(lines "$OUT")" -eq 9 ]
}

@test "dry validates without emitting; echo answers the records" {
	start_listen
	req POST "/v1/write/rum?precision=ms&dry" --data-binary @"$BATCH"
	[ "$CODE" = 200 ]
	req POST "/v1/write/rum?precision=ms&dry=true" --data-binary 'nope,app_id=x f=1'
	expect_error 400 rum.badMeasurement
	[ "$(lines "$OUT")" -eq 0 ]
	req POST "/v1/write/rum?precision=ms&echo" --data-binary @"$BATCH"
	[ "$CODE" = 200 ]
	grep -qi '^Content-Type: application/x-ndjson' "$D/hdr"
	[ "$(lines "$OUT")" -eq 9 ]
	diff "$D/resp" "$OUT"
	req POST "/v1/write/rum?precision=ms&echo&dry" --data-binary @"$BATCH"
	[ "$CODE" = 200 ]
	diff "$D/resp" "$OUT"
	[ "$(lines "$OUT")" -eq 9 ]
}

@test "CORS: OPTIONS preflight and Allow-Origin on answers" {
	start_listen
	req OPTIONS /v1/write/rum -H 'Origin: https://shop.example.test' \
		-H 'Access-Control-Request-Method: POST' \
		-H 'Access-Control-Request-Headers: content-type,content-encoding'
	[ "$CODE" = 204 ]
	grep -qi '^Access-Control-Allow-Origin: https://shop.example.test' "$D/hdr"
	grep -qi '^Access-Control-Allow-Methods: .*POST' "$D/hdr"
	grep -qi '^Access-Control-Allow-Headers: content-type,content-encoding' "$D/hdr"
	grep -qi '^Access-Control-Allow-Credentials: true' "$D/hdr"
	grep -qi '^Access-Control-Max-Age: [1-9]' "$D/hdr"
	req OPTIONS /v1/write/rum
	[ "$CODE" = 204 ]
	grep -qi '^Access-Control-Allow-Origin: \*' "$D/hdr"
	grep -qi '^Access-Control-Allow-Headers: .*Content-Encoding' "$D/hdr"
	post_batch -H 'Origin: https://shop.example.test'
	[ "$CODE" = 200 ]
	grep -qi '^Access-Control-Allow-Origin: https://shop.example.test' "$D/hdr"
	req POST /v1/write/rum -H 'Origin: https://shop.example.test' --data-binary 'x'
	[ "$CODE" = 400 ]
	grep -qi '^Access-Control-Allow-Origin: https://shop.example.test' "$D/hdr"
	[ "$(lines "$OUT")" -eq 9 ]
}

@test "/v1/ping, /metrics with --metrics-dir, --metrics-file; loopback gets non-public paths" {
	mkdir -p "$D/m"
	printf '# TYPE rum_ship_sent_total counter\nrum_ship_sent_total 42\n' >"$D/m/ship.prom"
	echo 'ignored 1' >"$D/m/notes.txt"
	start_listen --metrics-dir "$D/m" --public-apis /v1/write/rum --endpoint /v1/write/rum,/rum/write \
		--metrics-file "$D/listen.prom"
	req GET /v1/ping
	[ "$CODE" = 200 ]
	jq -e '.content.version | type == "string"' "$D/resp"
	jq -e '.content.uptime | test("^[0-9]+")' "$D/resp"
	post_batch
	req POST "/rum/write?precision=ms" --data-binary @"$BATCH"
	[ "$CODE" = 200 ]
	req POST /v1/write/rum --data-binary 'bad'
	req GET /metrics
	[ "$CODE" = 200 ]
	grep -q '^rum_ship_sent_total 42$' "$D/resp"
	! grep -q '^ignored' "$D/resp"
	grep -q '^rum_listen_points_total{measurement="error"} 4$' "$D/resp"
	grep -q '^rum_listen_points_total{measurement="view"} 2$' "$D/resp"
	grep -q '^rum_listen_requests_total{endpoint="/v1/write/rum",code="200"} 1$' "$D/resp"
	grep -q '^rum_listen_requests_total{endpoint="/rum/write",code="200"} 1$' "$D/resp"
	grep -q '^rum_listen_requests_total{endpoint="/v1/write/rum",code="400"} 1$' "$D/resp"
	grep -q '^rum_listen_rejected_total{reason="rum.badLine"} 1$' "$D/resp"
	grep -qE '^rum_listen_body_bytes_total\{form="raw"\} [1-9]' "$D/resp"
	grep -qE '^rum_listen_connections [0-9]' "$D/resp"
	[ "$(lines "$OUT")" -eq 18 ]
	stop_pid "$LPID"
	LPID=
	grep -q '^rum_listen_points_total{measurement="error"} 4$' "$D/listen.prom"
}

@test "non-loopback clients get 403 off the public APIs (network namespaces)" {
	# Two namespaces of our own joined by a veth pair: the server in one,
	# the client in the other; nothing changes outside them.
	netns_pair rl 198.18.71.1/30 198.18.71.2
	listen_at -n "$SRV" 198.18.71.1 "$OUT"
	base=$URL
	remote() { ip netns exec "$CLI" curl -s -m 5 -o "$D/resp" -w '%{http_code}' "$@"; }
	c_metrics=$(remote "$base/metrics")
	cp "$D/resp" "$D/resp.metrics"
	c_ping=$(remote "$base/v1/ping")
	c_write=$(remote --data-binary @"$BATCH" "$base/v1/write/rum?precision=ms")
	c_other=$(remote "$base/nowhere")
	c_self=$(ip netns exec "$SRV" curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/metrics")
	stop_pid "$LPID"
	# An empty list opens every path, as DataKit's empty public_apis does.
	listen_at -n "$SRV" 198.18.71.1 "$OUT" --public-apis ''
	c_open=$(remote "$URL/metrics")
	stop_pid "$LPID"
	LPID=
	[ "$c_metrics" = 403 ]
	jq -e '.error_code == "rum.forbidden"' "$D/resp.metrics"
	[ "$c_ping" = 200 ]
	[ "$c_write" = 200 ]
	[ "$c_other" = 403 ]
	[ "$(jq -r .tags.ip "$OUT" | sort -u)" = 198.18.71.2 ]
	# The server's own non-loopback address is not loopback either.
	[ "$c_self" = 403 ]
	[ "$c_open" = 200 ]
}

@test "concurrent requests never interleave on stdout" {
	start_listen --threads 4
	seq 1 200 | xargs -P 8 -I{} curl -sf -o /dev/null --data-binary @"$BATCH" \
		-H 'X-Forwarded-For: 192.0.2.{}' "$URL/v1/write/rum?precision=ms"
	[ "$(lines "$OUT")" -eq 1800 ]
	jq -c . "$OUT" >/dev/null
	# Each request's 9 records are together, in order.
	[ "$(jq -r .tags.ip "$OUT" | uniq -c | awk '$1 != 9' | wc -l)" = 0 ]
	[ "$(jq -r .tags.ip "$OUT" | sort -u | wc -l)" = 200 ]
}

@test "--queue: past it, 503 with Retry-After" {
	start_listen --queue 1
	# A request whose body never finishes holds the only slot.
	python3 - "$PORT" "$D/held" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/write/rum HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nview,")
open(sys.argv[2], "w").close()
time.sleep(10)
PY
	hold=$!
	wait_for 5 test -e "$D/held"
	wait_for 5 bash -c "curl -s -o /dev/null -w '%{http_code}' --data-binary @'$BATCH' '$URL/v1/write/rum' | grep -q 503"
	post_batch
	stop_pid "$hold" KILL
	expect_error 503 rum.overloaded
	grep -qi '^Retry-After: 1' "$D/hdr"
	wait_for 5 bash -c "curl -s -o /dev/null -w '%{http_code}' --data-binary @'$BATCH' '$URL/v1/write/rum' | grep -q 200"
}

@test "SIGTERM: requests in hand are finished and written, exit 0" {
	start_listen
	for i in 1 2 3 4 5; do post_batch; done
	kill -HUP "$LPID"
	sleep 0.2
	post_batch
	[ "$CODE" = 200 ]
	# A slow upload in progress when the signal comes is still answered.
	python3 - "$PORT" "$BATCH" "$D/started" >"$D/slow" <<'PY' &
import socket, sys, time
body = open(sys.argv[2], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/write/rum?precision=ms HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
s.sendall(body[:100])
open(sys.argv[3], "w").close()
time.sleep(1)
s.sendall(body[100:])
print(s.recv(4096).split(b"\r\n")[0].decode())
PY
	slow=$!
	wait_for 5 test -e "$D/started"
	sleep 0.3
	kill -TERM "$LPID"
	sleep 0.2
	# Draining: new connections are refused, the slow request goes on.
	! curl -s -m 2 -o /dev/null "$URL/v1/ping"
	wait "$slow"
	st=0
	wait "$LPID" || st=$?
	LPID=
	[ "$st" -eq 0 ]
	grep -q ' 200 ' "$D/slow"
	[ "$(lines "$OUT")" -eq 63 ]
	! curl -s -o /dev/null "$URL/v1/ping"
}

@test "stdout closed (EPIPE): logged, exit 1" {
	mkfifo "$D/fifo"
	"$BIN/rum-listen" --listen 127.0.0.1:0 >"$D/fifo" 2>"$ERR" &
	LPID=$!
	# A reader that opens the FIFO and goes away without reading.
	(exec 3<"$D/fifo"; sleep 0.2) &
	wait $!
	wait_for 10 grep -q 'listening on' "$ERR"
	PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$ERR")
	URL=http://127.0.0.1:$PORT
	post_batch
	[ "$CODE" = 500 ]
	st=0
	wait "$LPID" || st=$?
	LPID=
	[ "$st" -eq 1 ]
	grep -qi 'stdout' "$ERR"
}

@test "spool: accepted while stdout is blocked, kept across kill -9, sent at restart" {
	mkfifo "$D/fifo"
	# A reader that holds the FIFO open and never reads: stdout blocks once
	# the pipe is full.
	sleep 600 <"$D/fifo" &
	READER=$!
	listen_at 127.0.0.1 "$D/fifo" --spool-dir "$D/spool" --spool-capacity-mb 64
	for i in $(seq 1 40); do
		sed "s/session_id=[^,]*/session_id=req$i/" "$BATCH" >"$D/b"
		req POST "/v1/write/rum?precision=ms" --data-binary @"$D/b" -m 5
		[ "$CODE" = 200 ]
	done
	req GET /metrics
	grep -qE '^rum_listen_spool_entries [1-9]' "$D/resp"
	stop_pid "$LPID" KILL
	# What reached the pipe before it filled, then what the spool kept.
	drain_fifo "$D/fifo" >"$D/piped"
	[ -s "$D/piped" ]
	stop_pid "$READER" KILL
	READER=
	start_listen --spool-dir "$D/spool" --spool-capacity-mb 64
	wait_for 10 bash -c "[ \$(cat '$D/piped' '$OUT' | grep -c '}\$') -ge 360 ]"
	for i in $(seq 1 40); do
		n=$(cat "$D/piped" "$OUT" | grep -E '\}$' | grep -c "\"session_id\":\"req$i\"")
		[ "$n" -ge 9 ] || { echo "request $i: $n records"; return 1; }
	done
	# At most the one entry being written at the kill comes twice.
	total=$(cat "$D/piped" "$OUT" | grep -cE '\}$')
	[ "$total" -le 369 ]
	grep -q 'holds' "$ERR"
}

@test "spool: SIGTERM sends everything accepted, exit 0" {
	start_listen --spool-dir "$D/spool" --spool-capacity-mb 8
	for i in $(seq 1 20); do post_batch; done
	kill -TERM "$LPID"
	st=0
	wait "$LPID" || st=$?
	LPID=
	[ "$st" -eq 0 ]
	[ "$(lines "$OUT")" -eq 180 ]
	jq -c . "$OUT" >/dev/null
}

@test "spool: SIGTERM while stdout is blocked exits 0 in bounded time; the rest goes out at the next start" {
	mkfifo "$D/fifo"
	sleep 600 <"$D/fifo" &
	READER=$!
	listen_at 127.0.0.1 "$D/fifo" --spool-dir "$D/spool" --spool-capacity-mb 64
	for i in $(seq 1 30); do post_batch -m 5; [ "$CODE" = 200 ]; done
	start=$SECONDS
	kill -TERM "$LPID"
	st=0
	wait "$LPID" || st=$?
	LPID=
	[ "$st" -eq 0 ]
	[ $((SECONDS - start)) -le 9 ]
	grep -q 'stay in the spool' "$ERR"
	drain_fifo "$D/fifo" >"$D/piped"
	stop_pid "$READER" KILL
	READER=
	start_listen --spool-dir "$D/spool" --spool-capacity-mb 64
	# Complete records from the pipe plus the restart: all 270, give or
	# take the one batch being written at the stop.
	wait_for 10 bash -c "[ \$(cat '$D/piped' '$OUT' | grep -c '}\$') -ge 270 ]"
}

@test "spool full: the oldest requests are dropped and counted, new ones accepted" {
	mkfifo "$D/fifo"
	sleep 600 <"$D/fifo" &
	READER=$!
	listen_at 127.0.0.1 "$D/fifo" --spool-dir "$D/spool" --spool-capacity-mb 1
	seq 1 200 | xargs -P 4 -I{} curl -s -o /dev/null -w '%{http_code}\n' -m 5 \
		--data-binary @"$BATCH" "$URL/v1/write/rum?precision=ms" >"$D/codes"
	[ "$(sort -u "$D/codes")" = 200 ]
	req GET /metrics
	grep -qE '^rum_listen_spool_dropped_total [1-9]' "$D/resp"
	bytes=$(sed -n 's/^rum_listen_spool_bytes //p' "$D/resp")
	[ "$bytes" -le $((1 << 20)) ]
}

@test "bad options and values exit 2 naming the option" {
	run "$BIN/rum-listen" --no-such-option
	[ "$status" -eq 2 ]
	[[ "$output" == *no-such-option* ]]
	run "$BIN/rum-listen" --listen 127.0.0.1:65536
	[ "$status" -eq 2 ]
	[[ "$output" == *--listen* ]]
	run "$BIN/rum-listen" --listen not-an-address
	[ "$status" -eq 2 ]
	[[ "$output" == *--listen* ]]
	run "$BIN/rum-listen" --listen 999.1.1.1:80
	[ "$status" -eq 2 ]
	run "$BIN/rum-listen" --threads 0
	[ "$status" -eq 2 ]
	[[ "$output" == *--threads* ]]
	run "$BIN/rum-listen" --max-body-mb lots
	[ "$status" -eq 2 ]
	[[ "$output" == *--max-body-mb* ]]
	run "$BIN/rum-listen" --endpoint no-slash
	[ "$status" -eq 2 ]
	[[ "$output" == *--endpoint* ]]
	run "$BIN/rum-listen" --spool-dir "$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 2 ]
	[[ "$output" == *--spool-capacity-mb* ]]
	run "$BIN/rum-listen" --log-level loud
	[ "$status" -eq 2 ]
	[[ "$output" == *--log-level* ]]
	RUM_QUEUE=many run "$BIN/rum-listen"
	[ "$status" -eq 2 ]
	[[ "$output" == *RUM_QUEUE* ]]
	run "$BIN/rum-listen" stray-operand
	[ "$status" -eq 2 ]
	run "$BIN/rum-listen" --listen 127.0.0.1:1 --spool-dir "$BATS_TEST_TMPDIR/s" \
		--spool-capacity-mb 1 --check-config
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run "$BIN/rum-listen" --listen 127.0.0.1:1 --queue 0 --check-config
	[ "$status" -eq 2 ]
	[[ "$output" == *--queue* ]]
}

@test "--help lists every option; --version; environment fallback" {
	run "$BIN/rum-listen" --help
	[ "$status" -eq 0 ]
	for o in listen endpoint measurements app-id-allow origin-ip-header public-apis \
		disable-404page spool-dir spool-capacity-mb max-body-mb metrics-dir threads queue \
		metrics-file max-line log-level check-config help version; do
		[[ "$output" == *"--$o"* ]] || { echo "missing --$o"; return 1; }
	done
	run "$BIN/rum-listen" --version
	[ "$status" -eq 0 ]
	[[ "$output" == rum-listen* ]]
	# RUM_MEASUREMENTS narrows the list when no flag is given.
	RUM_MEASUREMENTS=view start_listen
	req POST "/v1/write/rum?precision=ms" --data-binary @"$BATCH"
	expect_error 400 rum.badMeasurement resource
}
