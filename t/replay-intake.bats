#!/usr/bin/env bats
# rum-listen: session replay uploads (multipart/form-data) → one
# session_replay record each, the request body kept byte for byte.

load lib/common
load lib/listen

setup() {
	listen_vars
	SEGMENT=${FIXTURES:-/nonexistent}/datakit/session_replay.dat
	if [ ! -f "$SEGMENT" ]; then
		# A stand-in: deflate-compressed JSON, binary as the SDK's is.
		SEGMENT=$D/segment.dat
		python3 -c 'import sys, zlib, json
recs = [{"type": 2, "timestamp": 1700000000000 + i, "data": {"x": i, "s": "\u00e9\r\n--"}} for i in range(300)]
sys.stdout.buffer.write(zlib.compress(json.dumps({"records": recs}).encode()))' >"$SEGMENT"
	fi
}

teardown() { listen_teardown; }

# The bytes curl sent as the request body, from its --trace.
trace_body() {
	python3 - "$1" <<'PY'
import sys
out, on = bytearray(), False
for line in open(sys.argv[1], encoding="latin-1"):
    if line.startswith("=> Send data"):
        on = True
    elif line[:2] in ("=>", "<=", "=="):
        on = False
    elif on and len(line) > 6 and line[4] == ":":
        out += bytes(int(h, 16) for h in line[6:6 + 48].split())
sys.stdout.buffer.write(out)
PY
}

# The SDK's form: the segment file part plus its metadata fields.
SDK_FIELDS=(-F app_id=appid_replay -F env=production -F version=1.2.3 -F service=shop
	-F sdk_name=df_web_rum_sdk -F sdk_version=3.1.5 -F source=browser
	-F has_full_snapshot=true -F raw_segment_size=31330 -F session_id=s-1 -F view_id=v-1
	-F start=1700000000000 -F end=1700000005000 -F records_count=12 -F index_in_view=0
	-F creation_reason=segment_duration_limit)

@test "an upload as the web SDK posts it: one session_replay record, the body byte for byte" {
	start_listen
	req POST /v1/write/rum/replay -F "segment=@$SEGMENT;filename=blob;type=application/octet-stream" \
		"${SDK_FIELDS[@]}" -H 'User-Agent: Mozilla/5.0 (X11) Firefox/120.0' \
		-H 'Origin: https://shop.example.test' -H 'Referer: https://shop.example.test/cart' \
		-H 'Accept-Language: fr-FR' -H 'Cookie: session=secret' -H 'Authorization: Bearer x' \
		--trace "$D/trace"
	[ "$CODE" = 200 ]
	[ ! -s "$D/resp" ]
	grep -qi '^Access-Control-Allow-Origin: https://shop.example.test' "$D/hdr"
	[ "$(lines "$OUT")" = 1 ]
	# The record's body is exactly what curl sent.
	trace_body "$D/trace" >"$D/sent"
	[ -s "$D/sent" ]
	jq -r .fields.body "$OUT" | base64 -d >"$D/got"
	cmp "$D/sent" "$D/got"
	# ... which holds the segment unchanged.
	python3 - "$D/got" "$SEGMENT" <<'PY'
import sys
body, seg = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
assert b"\r\n" + seg + b"\r\n--" in body, "segment not in the body"
PY
	# Tags: the form's text fields, in order, then ip; the file part is not a tag.
	[ "$(jq -r '.tags | keys_unsorted | join(" ")' "$OUT")" = \
		"app_id env version service sdk_name sdk_version source has_full_snapshot raw_segment_size session_id view_id start end records_count index_in_view creation_reason ip" ]
	[ "$(jq -r .tags.app_id "$OUT")" = appid_replay ]
	[ "$(jq -r .tags.start "$OUT")" = 1700000000000 ]
	[ "$(jq -r .tags.ip "$OUT")" = 127.0.0.1 ]
	[ "$(jq -r .measurement "$OUT")" = session_replay ]
	# content_type is the request's, boundary and all.
	ct=$(jq -r .fields.content_type "$OUT")
	[[ $ct == "multipart/form-data; boundary="* ]]
	boundary=${ct#*boundary=}
	head -c 100 "$D/got" | grep -qF -- "--$boundary"
	# The forwarded headers: what describes the client, never its credentials.
	[ "$(jq -r .fields.headers "$OUT" | jq -c .)" = \
		'{"User-Agent":"Mozilla/5.0 (X11) Firefox/120.0","Accept-Language":"fr-FR","Origin":"https://shop.example.test","Referer":"https://shop.example.test/cart"}' ]
	# Key order and time: now, in nanoseconds.
	head -1 "$OUT" | grep -qE '^\{"measurement":"session_replay","tags":\{.*\},"fields":\{"content_type":.*,"headers":.*,"body":"[A-Za-z0-9+/=]*"\},"time":[0-9]{19}\}$'
	t=$(jq -r .time "$OUT")
	now=$(date +%s%N)
	[ $((now - t)) -ge 0 ] && [ $((now - t)) -lt 60000000000 ]
}

@test "a body made by hand: preamble, quoted boundary, epilogue; record body identical" {
	start_listen
	python3 - "$SEGMENT" "$D/body" <<'PY'
import sys
seg = open(sys.argv[1], "rb").read()
b = b"b:o'u(n)d+a_r,y-./=?"
parts = [b"this preamble is ignored\r\n"]
for name, val in [(b"app_id", b"appid_hand"), (b"env", "pr\u00e9prod".encode()),
                  (b"note", b'say "hi"\r\nbye'), (b"app_id", b"second_ignored")]:
    parts.append(b"--" + b + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\"\r\n\r\n" + val + b"\r\n")
parts.append(b"--" + b + b"  \r\ncontent-disposition: Form-Data; filename=\"seg ment.bin\"; name=segment\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n" + seg + b"\r\n--" + b + b"x is not a delimiter\r\n")
parts.append(b"--" + b + b"--\r\nepilogue, ignored\r\n")
open(sys.argv[2], "wb").write(b"".join(parts))
PY
	req POST /v1/write/rum/replay --data-binary @"$D/body" \
		-H "Content-Type: multipart/form-data; boundary=\"b:o'u(n)d+a_r,y-./=?\"" \
		-H 'X-Forwarded-For: 203.0.113.9, 10.0.0.1'
	[ "$CODE" = 200 ]
	jq -r .fields.body "$OUT" | base64 -d | cmp - "$D/body"
	[ "$(jq -c '.tags' "$OUT")" = \
		'{"app_id":"appid_hand","env":"préprod","note":"say \"hi\"\r\nbye","ip":"203.0.113.9"}' ]
	[ "$(jq -r .fields.content_type "$OUT")" = "multipart/form-data; boundary=\"b:o'u(n)d+a_r,y-./=?\"" ]
	[ "$(jq -r .fields.headers "$OUT" | jq -r '."X-Forwarded-For"')" = "203.0.113.9, 10.0.0.1" ]
}

@test "every bad upload: its status, a JSON error, nothing emitted" {
	start_listen --app-id-allow appid_ok,appid_2
	post() { req POST /v1/write/rum/replay "$@"; }
	form() { printf -- '--XX\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' "$1" "$2"; }
	# post_raw BODY: BODY (printf's escapes) as a form with boundary XX.
	post_raw() {
		printf -- "$1" >"$D/raw"
		post --data-binary @"$D/raw" -H 'Content-Type: multipart/form-data; boundary=XX'
	}
	# Not multipart at all, and no Content-Type.
	post --data-binary 'app_id=appid_ok' -H 'Content-Type: application/x-www-form-urlencoded'
	expect_error 400 rum.notMultipart "not multipart/form-data"
	post --data-binary 'x' -H 'Content-Type:'
	expect_error 400 rum.notMultipart "no Content-Type"
	post --data-binary 'x' -H 'Content-Type: multipart/mixed; boundary=XX'
	expect_error 400 rum.notMultipart "another multipart type"
	# No boundary, or an empty one.
	post --data-binary "$(form app_id appid_ok)--XX--" -H 'Content-Type: multipart/form-data'
	expect_error 400 rum.badMultipart "no boundary"
	post --data-binary "$(form app_id appid_ok)--XX--" -H 'Content-Type: multipart/form-data; boundary=""'
	expect_error 400 rum.badMultipart "empty boundary"
	# A boundary that is not in the body.
	post --data-binary "$(form app_id appid_ok)--XX--" -H 'Content-Type: multipart/form-data; boundary=YY'
	expect_error 400 rum.badMultipart "no boundary delimiter"
	# Truncated: in a part, in the headers, in the first delimiter.
	post_raw '--XX\r\nContent-Disposition: form-data; name="app_id"\r\n\r\nappid_ok\r\n--XX\r\nContent-Disposition: form-data; name="segment"; filename="b"\r\n\r\nabc'
	expect_error 400 rum.badMultipart "truncated"
	post_raw '--XX\r\nContent-Disposition: form-da'
	expect_error 400 rum.badMultipart "truncated in a part's headers"
	post_raw '--XX'
	expect_error 400 rum.badMultipart "truncated"
	# Malformed: no name, no Content-Disposition, a header without ':',
	# a bare LF where CRLF was set, not form-data.
	post_raw '--XX\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XX--\r\n'
	expect_error 400 rum.badMultipart "a part without a name"
	post_raw '--XX\r\nContent-Type: text/plain\r\n\r\nv\r\n--XX--\r\n'
	expect_error 400 rum.badMultipart "without Content-Disposition"
	post_raw '--XX\r\nContent-Disposition form-data; name=a\r\n\r\nv\r\n--XX--\r\n'
	expect_error 400 rum.badMultipart "without ':'"
	post_raw '--XX\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n--XX--\r\n'
	expect_error 400 rum.badMultipart "bare LF"
	post_raw '--XX\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XX--\r\n'
	expect_error 400 rum.badMultipart "not form-data"
	post_raw '--XX\r\nContent-Disposition: form-data; name="a\r\n\r\nv\r\n--XX--\r\n'
	expect_error 400 rum.badMultipart "unterminated quoted string"
	# No app_id, an empty one, one not allowed.
	post -F "segment=@$SEGMENT;filename=blob" -F env=prod
	expect_error 400 rum.missingAppId "no app_id"
	post -F "segment=@$SEGMENT;filename=blob" -F app_id=
	expect_error 400 rum.missingAppId "empty app_id"
	post -F "segment=@$SEGMENT;filename=blob" -F app_id=intruder
	expect_error 400 rum.appIdNotAllowed "intruder"
	# app_id as a file part is no field.
	post -F "app_id=@$SEGMENT;filename=x"
	expect_error 400 rum.missingAppId
	# Empty body; compressed bodies; other methods.
	post --data-binary '' -H 'Content-Type: multipart/form-data; boundary=XX'
	expect_error 400 rum.emptyBody
	post -F app_id=appid_ok -H 'Content-Encoding: gzip'
	expect_error 415 rum.unsupportedEncoding "uncompressed"
	req GET /v1/write/rum/replay
	expect_error 405 rum.methodNotAllowed
	grep -qi '^Allow: POST, OPTIONS' "$D/hdr"
	[ ! -s "$OUT" ]
	# Each was counted by its reason.
	curl -s "$URL/metrics" >"$D/metrics"
	grep -q '^rum_listen_rejected_total{reason="rum.badMultipart"} 12$' "$D/metrics"
	grep -q '^rum_listen_rejected_total{reason="rum.notMultipart"} 3$' "$D/metrics"
	grep -q '^rum_listen_requests_total{endpoint="/v1/write/rum/replay",code="400"} 20$' "$D/metrics"
	# And a good one still goes through.
	post -F "segment=@$SEGMENT;filename=blob" -F app_id=appid_2
	[ "$CODE" = 200 ]
	[ "$(lines "$OUT")" = 1 ]
	grep -q '^rum_listen_replays_total 1$' <(curl -s "$URL/metrics")
}

@test "over 32 MiB: 413, by Content-Length and by chunks" {
	start_listen
	head -c $((32 * 1024 * 1024 + 1)) /dev/zero >"$D/big"
	req POST /v1/write/rum/replay -F "segment=@$D/big;filename=blob" -F app_id=a1
	expect_error 413 rum.bodyTooLarge "33554432"
	# Without a Content-Length (chunked), refused as it passes the limit.
	CODE=$(head -c $((33 * 1024 * 1024)) /dev/zero | curl -s -o "$D/resp" -w '%{http_code}' \
		-H 'Transfer-Encoding: chunked' -H 'Content-Type: multipart/form-data; boundary=XX' \
		--data-binary @- "$URL/v1/write/rum/replay")
	expect_error 413 rum.bodyTooLarge
	# Just under the limit passes.
	head -c $((32 * 1024 * 1024 - 400)) /dev/zero >"$D/ok"
	req POST /v1/write/rum/replay -F "segment=@$D/ok;filename=blob" -F app_id=a1
	[ "$CODE" = 200 ]
	[ "$(lines "$OUT")" = 1 ]
	[ "$(jq -r .fields.body "$OUT" | base64 -d | wc -c)" -gt $((32 * 1024 * 1024 - 400)) ]
}

@test "--replay-endpoint, CORS preflight, LF-only bodies, the spool carries replays" {
	mkdir -p "$D/spool"
	start_listen --replay-endpoint /rum/replay,/v2/replay --spool-dir "$D/spool" --spool-capacity-mb 64
	req POST /v1/write/rum/replay -F app_id=a1
	expect_error 404 rum.notFound
	req OPTIONS /rum/replay -H 'Origin: https://x.test' -H 'Access-Control-Request-Method: POST'
	[ "$CODE" = 204 ]
	grep -qi '^Access-Control-Allow-Origin: https://x.test' "$D/hdr"
	req POST /rum/replay -F "segment=@$SEGMENT;filename=blob" -F app_id=a1
	[ "$CODE" = 200 ]
	# Bare LF line ends throughout, as Go's parser (DataKit's) takes them.
	printf -- '--q\nContent-Disposition: form-data; name=app_id\n\na2\n--q\nContent-Disposition: form-data; name=segment; filename=b\n\nxyz\n--q--\n' >"$D/lf"
	req POST /v2/replay --data-binary @"$D/lf" -H 'Content-Type: multipart/form-data; boundary=q'
	[ "$CODE" = 200 ]
	wait_for 10 count_at_least 2 lines "$OUT"
	[ "$(jq -r .tags.app_id "$OUT" | xargs)" = "a1 a2" ]
	jq -r .fields.body "$OUT" | tail -1 | base64 -d | cmp - "$D/lf"
	curl -s "$URL/metrics" | grep -q '^rum_listen_requests_total{endpoint="/v2/replay",code="200"} 1$'
	# Both went through the disk queue.
	stop_pid "$LPID"
	LPID=
	[ "$(lines "$OUT")" = 2 ]
	"$BIN/rum-listen" --replay-endpoint /v1/write/rum >/dev/null 2>"$D/err2" && false
	grep -q 'also a --endpoint' "$D/err2"
}

@test "--help and the man page name the replay and sourcemap options" {
	"$BIN/rum-listen" --help >"$D/help"
	for o in replay-endpoint data-dir token symbolicate symbolicate-timeout; do
		grep -q -- "--$o" "$D/help"
		grep -q -- "\\\\-\\\\-${o//-/\\\\-}" "$TOP/share/man/rum-listen.1" || { echo "man: $o"; return 1; }
	done
	grep -q '/v1/write/rum/replay' "$TOP/share/man/rum-listen.1"
	grep -q '/v1/sourcemap/check' "$TOP/share/man/rum-listen.1"
}
