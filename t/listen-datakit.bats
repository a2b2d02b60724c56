#!/usr/bin/env bats
# rum-listen where DataKit's feed and HTTP API stand (issue 19): global host
# tags added where a point lacks them, the time of points far from our clock
# corrected (__orig_time), and GET /v1/env_variable answered from Dataway,
# cached, served stale when Dataway fails.

load lib/common
load lib/listen

setup() {
	listen_vars
	NOW_MS=$(date +%s%3N)
}

teardown() {
	listen_teardown
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID"
	true
}

# write BODY [CURL-ARG]...: POSTs BODY (line protocol, ms) and expects 200.
write() {
	req POST "/v1/write/rum?precision=ms" --data-binary "$1" "${@:2}"
	[ "$CODE" = 200 ] || { echo "status $CODE: $(cat "$D/resp")"; return 1; }
}

# rec N FILTER: jq FILTER on the N-th record (strings only: jq 1.6 rounds
# large integers, which raw and rtime read as written).
rec() { sed -n "$1p" "$OUT" | jq -c "$2"; }
# raw N: the N-th record as written; rtime N: its time.
raw() { sed -n "$1p" "$OUT"; }
rtime() { raw "$1" | sed 's/.*"time":\([0-9-]*\)}$/\1/'; }

# env_calls: how many env_variable requests the fake Dataway got.
env_calls() { jq -r 'select(.path == "/v1/env_variable") | .path' "$FAKE_LOG" | wc -l; }

@test "--global-tags: added to every point that lacks the key (as tag or field), in line protocol and JSON" {
	start_listen --global-tags 'host=web-1,project=my shop' --global-tags 'zone=eu'
	write "view,app_id=a1 f=1i $NOW_MS
view,app_id=a1,host=phone f=1i $NOW_MS
view,app_id=a1 f=1i,project=\"p\" $NOW_MS"
	write "[{\"measurement\":\"view\",\"tags\":{\"app_id\":\"a1\",\"zone\":\"us\"},\"fields\":{\"f\":1},\"time\":$NOW_MS},
	        {\"measurement\":\"action\",\"tags\":{\"app_id\":\"a1\"},\"fields\":{\"host\":\"h\"},\"time\":$NOW_MS}]" \
		-H 'Content-Type: application/json'
	lines_are "$OUT" 5
	[ "$(rec 1 .tags)" = '{"app_id":"a1","host":"web-1","project":"my shop","zone":"eu","ip":"127.0.0.1"}' ]
	[ "$(rec 2 .tags)" = '{"app_id":"a1","host":"phone","project":"my shop","zone":"eu","ip":"127.0.0.1"}' ]
	[ "$(rec 3 .tags)" = '{"app_id":"a1","host":"web-1","zone":"eu","ip":"127.0.0.1"}' ]
	[ "$(rec 3 .fields)" = '{"f":1,"project":"p"}' ]
	[ "$(rec 4 .tags)" = '{"app_id":"a1","zone":"us","ip":"127.0.0.1","host":"web-1","project":"my shop"}' ]
	[ "$(rec 5 .tags)" = '{"app_id":"a1","ip":"127.0.0.1","project":"my shop","zone":"eu"}' ]
	[ "$(rec 5 .fields)" = '{"host":"h"}' ]
}

@test "--global-tags: a point with no room left for them (and ip) is refused, 400, in both formats" {
	start_listen --global-tags host=web-1
	tags=$(seq -f ',t%g=v' 1 1022 | tr -d '\n')
	req POST "/v1/write/rum?precision=ms" --data-binary "view,app_id=a1$tags f=1i $NOW_MS"
	expect_error 400 rum.badLine "no room for the --global-tags"
	jtags=$(seq -f '"t%g":"v",' 1 1022 | tr -d '\n')
	req POST "/v1/write/rum?precision=ms" -H 'Content-Type: application/json' \
		--data-binary "{\"measurement\":\"view\",\"tags\":{${jtags}\"app_id\":\"a1\"},\"fields\":{\"f\":1}}"
	expect_error 400 rum.badJSON "more than 1024 tags"
	[ ! -s "$OUT" ]
	# One tag fewer: there is room.
	tags=$(seq -f ',t%g=v' 1 1021 | tr -d '\n')
	write "view,app_id=a1$tags f=1i $NOW_MS"
	[ "$(rec 1 '.tags | length')" = 1024 ]
	[ "$(rec 1 .tags.host)" = '"web-1"' ]
}

@test "without --global-tags nothing is added" {
	start_listen
	write "view,app_id=a1 f=1 $NOW_MS"
	[ "$(rec 1 .tags)" = '{"app_id":"a1","ip":"127.0.0.1"}' ]
}

@test "--global-tags and --time-correction refuse bad values, saying which option" {
	run "$BIN/rum-listen" --global-tags 'host'
	[ "$status" = 2 ]
	[[ "$output" == *--global-tags* ]]
	[[ "$output" == *KEY=VALUE* ]]
	run "$BIN/rum-listen" --global-tags '=v'
	[ "$status" = 2 ]
	run "$BIN/rum-listen" --time-correction 2h
	[ "$status" = 2 ]
	[[ "$output" == *--time-correction* ]]
	run "$BIN/rum-listen" --time-correction 0
	[ "$status" = 2 ]
	run "$BIN/rum-listen" --time-correction off --check-config
	[ "$status" = 0 ]
}

@test "--time-correction 7200: a point 3 h old gets the current time and __orig_time; 1 h old unchanged" {
	start_listen --time-correction 7200
	old=$((NOW_MS - 3 * 3600 * 1000))
	hour=$((NOW_MS - 3600 * 1000))
	future=$((NOW_MS + 3 * 3600 * 1000))
	before=$(date +%s%N)
	write "view,app_id=a1 f=1i $old
view,app_id=a1 f=1i $hour
view,app_id=a1 f=1i $future"
	write "{\"measurement\":\"view\",\"tags\":{\"app_id\":\"a1\"},\"fields\":{\"f\":1},\"time\":$old}
{\"measurement\":\"view\",\"tags\":{\"app_id\":\"a1\"},\"fields\":{\"f\":1},\"time\":$hour}" \
		-H 'Content-Type: application/json'
	after=$(date +%s%N)
	lines_are "$OUT" 5
	for n in 1 3 4; do
		t=$(rtime $n)
		((t >= before && t <= after)) || { echo "record $n: time $t not now"; false; }
	done
	# The old time in nanoseconds, an integer field (DataKit's int64).
	[[ "$(raw 1)" == *'"fields":{"f":1,"__orig_time":'${old}000000'},"time":'* ]]
	[[ "$(raw 3)" == *'"fields":{"f":1,"__orig_time":'${future}000000'},"time":'* ]]
	[[ "$(raw 4)" == *'"fields":{"f":1,"__orig_time":'${old}000000'},"time":'* ]]
	[ "$(raw 2)" = '{"measurement":"view","tags":{"app_id":"a1","ip":"127.0.0.1"},"fields":{"f":1},"time":'${hour}000000'}' ]
	[ "$(raw 5)" = '{"measurement":"view","tags":{"app_id":"a1","ip":"127.0.0.1"},"fields":{"f":1},"time":'${hour}000000'}' ]
}

@test "time correction: a point that has __orig_time keeps it; a point without time is not corrected" {
	start_listen --time-correction 60
	old=$((NOW_MS - 3600 * 1000))
	write "view,app_id=a1 f=1i,__orig_time=5i $old
view,app_id=a1 f=2i"
	[ "$(rec 1 .fields)" = '{"f":1,"__orig_time":5}' ]
	(($(rtime 1) > old * 1000000 + 3000000000000))
	[ "$(rec 2 .fields)" = '{"f":2}' ]
}

@test "without --time-correction (off by default) an old point keeps its time" {
	start_listen
	write "view,app_id=a1 f=1i 1700000000000"
	[ "$(raw 1)" = '{"measurement":"view","tags":{"app_id":"a1","ip":"127.0.0.1"},"fields":{"f":1},"time":1700000000000000000}' ]
}

@test "GET /v1/env_variable: Dataway's answer, with CORS; asked once for two SDK calls" {
	printf '{"content":{"R.app.sampleRate":"50"}}' >"$D/env.json"
	start_fake_dataway --env-variable-file "$D/env.json"
	start_listen --dataway "$(dw)"
	req GET "/v1/env_variable?app_id=app_1" -H 'Origin: https://shop.example'
	[ "$CODE" = 200 ]
	[ "$(cat "$D/resp")" = '{"content":{"R.app.sampleRate":"50"}}' ]
	grep -qi '^Access-Control-Allow-Origin: https://shop.example' "$D/hdr"
	grep -qi '^Content-Type: application/json' "$D/hdr"
	# DataKit's request: GET, the Dataway URL's query, then app_id and scope.
	[ "$(jq -r 'select(.path == "/v1/env_variable") | "\(.method) \(.query)"' "$FAKE_LOG")" = \
		'GET token=tkn_test&app_id=app_1&scope=rum' ]
	printf '{"content":{"R.app.sampleRate":"10"}}' >"$D/env.json"
	req GET "/v1/env_variable?app_id=app_1"
	[ "$CODE" = 200 ]
	[ "$(cat "$D/resp")" = '{"content":{"R.app.sampleRate":"50"}}' ]
	[ "$(env_calls)" = 1 ]
	# Another app is another request; its app_id is escaped in the query.
	req GET "/v1/env_variable?app_id=a%26b"
	[ "$(cat "$D/resp")" = '{"content":{"R.app.sampleRate":"10"}}' ]
	[ "$(jq -r 'select(.path == "/v1/env_variable") | .query' "$FAKE_LOG" | tail -1)" = \
		'token=tkn_test&app_id=a%26b&scope=rum' ]
	[ "$(env_calls)" = 2 ]
	[ "$(served_metric 'rum_listen_env_variable_answers_total{source="dataway"}')" = 2 ]
	[ "$(served_metric 'rum_listen_env_variable_answers_total{source="cache"}')" = 1 ]
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/v1/env_variable",code="200"}')" = 3 ]
}

@test "GET /v1/env_variable: past the TTL asked again; Dataway down or failing: the last answer, stale" {
	printf '{"content":{"k":"1"}}' >"$D/env.json"
	start_fake_dataway --env-variable-file "$D/env.json"
	start_listen --dataway "$(dw)" --env-variable-ttl 1
	req GET "/v1/env_variable?app_id=app_1"
	[ "$(cat "$D/resp")" = '{"content":{"k":"1"}}' ]
	printf '{"content":{"k":"2"}}' >"$D/env.json"
	sleep 1.2
	req GET "/v1/env_variable?app_id=app_1"
	[ "$(cat "$D/resp")" = '{"content":{"k":"2"}}' ]
	[ "$(env_calls)" = 2 ]
	# Dataway answers 503: asked, and the last answer is served.
	echo 503 >"$FAKE_FAIL"
	sleep 1.2
	req GET "/v1/env_variable?app_id=app_1"
	[ "$CODE" = 200 ]
	[ "$(cat "$D/resp")" = '{"content":{"k":"2"}}' ]
	[ "$(env_calls)" = 3 ]
	# Dataway gone: the same.
	stop_pid "$FAKE_PID"
	FAKE_PID=
	sleep 1.2
	req GET "/v1/env_variable?app_id=app_1"
	[ "$CODE" = 200 ]
	[ "$(cat "$D/resp")" = '{"content":{"k":"2"}}' ]
	[ "$(served_metric 'rum_listen_env_variable_answers_total{source="stale"}')" = 2 ]
	[ "$(served_metric rum_listen_env_variable_fetch_failed_total)" = 2 ]
	grep -q "Dataway's /v1/env_variable for app_id app_1: answered 503; serving its last answer" "$ERR"
	# An app never answered has nothing to serve: 502.
	req GET "/v1/env_variable?app_id=app_2"
	expect_error 502 rum.datawayUnavailable "Dataway's /v1/env_variable failed"
	grep -qi '^Access-Control-Allow-Origin: \*' "$D/hdr"
	# The token does not reach the log.
	! grep -q tkn_test "$ERR"
}

@test "GET /v1/env_variable: 400 without app_id, 404 without --dataway, 405 for POST, preflight answered" {
	start_fake_dataway --env-variable-file "$D/none"
	start_listen --dataway "$(dw)" --app-id-allow app_1
	req GET "/v1/env_variable"
	expect_error 400 rum.missingAppId "no app_id"
	req GET "/v1/env_variable?app_id="
	expect_error 400 rum.missingAppId
	req GET "/v1/env_variable?app_id=other"
	expect_error 400 rum.appIdNotAllowed
	req POST "/v1/env_variable?app_id=app_1" --data x
	expect_error 405 rum.methodNotAllowed
	req OPTIONS "/v1/env_variable?app_id=app_1" -H 'Origin: https://shop.example' \
		-H 'Access-Control-Request-Method: GET'
	[ "$CODE" = 200 ] || [ "$CODE" = 204 ]
	grep -qi '^Access-Control-Allow-Origin: https://shop.example' "$D/hdr"
	[ "$(env_calls)" = 0 ]
	# Dataway's own 4xx answer is passed on as DataKit does (200, its body).
	req GET "/v1/env_variable?app_id=app_1"
	[ "$CODE" = 200 ]
	[ "$(jq -r .error_code "$D/resp")" = fake.404 ]
	stop_pid "$LPID"
	start_listen
	req GET "/v1/env_variable?app_id=app_1"
	expect_error 404 rum.noDataway "--dataway"
}

@test "GET /v1/env_variable: a slow Dataway holds neither the other requests nor the same app's second call" {
	printf '{"content":{}}' >"$D/env.json"
	start_fake_dataway --env-variable-file "$D/env.json"
	echo "slow 2" >"$FAKE_FAIL"
	start_listen --dataway "$(dw)" --threads 1
	curl -s -o "$D/a" "$URL/v1/env_variable?app_id=app_1" &
	a=$!
	curl -s -o "$D/b" "$URL/v1/env_variable?app_id=app_1" &
	b=$!
	sleep 0.3
	t0=$(date +%s%N)
	req GET /v1/ping
	[ "$CODE" = 200 ]
	write "view,app_id=a1 f=1 $NOW_MS"
	t1=$(date +%s%N)
	(((t1 - t0) < 1000000000))
	wait "$a"
	wait "$b"
	[ "$(cat "$D/a")" = '{"content":{}}' ]
	[ "$(cat "$D/b")" = '{"content":{}}' ]
	[ "$(env_calls)" = 1 ]
}

@test "GET /v1/env_variable: a stop waits for Dataway no longer than it takes to give up" {
	printf '{"content":{}}' >"$D/env.json"
	start_fake_dataway --env-variable-file "$D/env.json"
	echo "slow 30" >"$FAKE_FAIL"
	start_listen --dataway "$(dw)" --dataway-timeout 60
	curl -s -o "$D/a" -w '%{http_code}' "$URL/v1/env_variable?app_id=app_1" >"$D/code" &
	c=$!
	sleep 0.5 # the fake logs a slow request once it answers
	t0=$(date +%s)
	kill -TERM "$LPID"
	wait "$LPID"
	LPID=
	(($(date +%s) - t0 < 5))
	wait "$c" || true
	[ "$(cat "$D/code")" = 502 ]
}

@test "--dataway refuses a URL without a token or not http(s)" {
	run "$BIN/rum-listen" --dataway 'http://127.0.0.1:1/'
	[ "$status" = 2 ]
	[[ "$output" == *--dataway*token* ]]
	run "$BIN/rum-listen" --dataway 'ftp://h/?token=t'
	[ "$status" = 2 ]
	run "$BIN/rum-listen" --dataway 'https://openway.example?token=tkn_1' --check-config
	[ "$status" = 0 ]
}
