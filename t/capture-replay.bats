#!/usr/bin/env bats
# Capture in rum-listen (--capture-dir), rum-replay, and the CI recipe
# contrib/replay-check: requests posted with curl (and the captured requests
# of t/data/captured/, sent with socat) are captured, replayed into a fresh
# rum-listen, and must give the same records.

load lib/common

setup() {
	T=$BATS_TEST_TMPDIR
	C=$T/capture
}

teardown() {
	for p in ${LISTEN_PIDS:-}; do stop_pid "$p"; done
}

# listen NAME [OPTION]...: rum-listen on a port of its own, its records in
# $T/NAME.ndjson, its log in $T/NAME.err, its metrics in $T/NAME.prom (at
# the stop); sets PORT and LPID.
listen() {
	local name=$1
	shift
	PORT=$(free_port)
	"$BIN/rum-listen" --listen "127.0.0.1:$PORT" --metrics-file "$T/$name.prom" "$@" \
		>"$T/$name.ndjson" 2>"$T/$name.err" &
	LPID=$!
	LISTEN_PIDS+=" $LPID"
	wait_port "$PORT"
}

# Stops the last rum-listen: it writes everything accepted and exits 0.
stop_listen() {
	kill -TERM "$LPID"
	wait "$LPID"
}

post() { # QUERY-AND-CURL-ARGS...
	local q=$1
	shift
	curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/v1/write/rum$q" "$@"
}

# The fixture batch as curl posts it, plain and gzipped, then the captured
# requests of t/data/captured/ byte for byte; their statuses in $T/sent.
send_fixtures() {
	{
		post '?precision=ms' --data-binary @"$TOP/t/data/web-batch.lp"
		gzip -c "$TOP/t/data/web-batch.lp" >"$T/batch.gz"
		post '?precision=ms' -H 'Content-Encoding: gzip' --data-binary @"$T/batch.gz"
		for c in lp-xff json-realip gzip-peer bad-noappid; do
			socat -t 1 - "TCP:127.0.0.1:$PORT" <"$TOP/t/data/captured/$c.http" |
				head -1 | cut -d' ' -f2
		done
	} >"$T/sent"
}

@test "capture-replay: the captured requests replay into a fresh rum-listen as the same records" {
	listen orig --capture-dir "$C"
	send_fixtures
	stop_listen
	[ "$(cat "$T/sent" | tr '\n' ' ')" = "200 200 200 200 200 400 " ]
	[ "$(lines "$T/orig.ndjson")" -eq 22 ]
	# One file a request, ls order the order sent; each says its peer and
	# arrival; bodies stay as they came (gzip).
	run ls "$C"
	[ "${#lines[@]}" -eq 6 ]
	[ "$(ls "$C" | sort)" = "$(ls "$C")" ]
	for f in "$C"/*.http; do
		sed -n 2p "$f" | grep -Eq $'^X-Rumpipe-Capture: peer=127\\.0\\.0\\.1:[0-9]+; time=[0-9]{10}\\.[0-9]{6}\r$'
	done
	first=$(ls "$C" | head -1)
	head -1 "$C/$first" | grep -q $'^POST /v1/write/rum?precision=ms HTTP/1.1\r$'
	cmp <(tail -c "$(stat -c %s "$TOP/t/data/web-batch.lp")" "$C/$first") "$TOP/t/data/web-batch.lp"
	gz=$(grep -l '^Content-Encoding: gzip' "$C"/*.http | head -1)
	cmp <(tail -c "$(stat -c %s "$T/batch.gz")" "$gz") "$T/batch.gz"
	[ "$(metric rum_listen_capture_requests_total "$T/orig.prom")" = 6 ]
	[ "$(metric rum_listen_capture_bytes_total "$T/orig.prom")" = "$(cat "$C"/*.http | wc -c)" ]
	[ "$(metric rum_listen_capture_drops_total "$T/orig.prom")" = 0 ]

	listen again
	run "$BIN/rum-replay" --expect-status 200,400 "127.0.0.1:$PORT" "$C"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '\.http 200$')" -eq 5 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '\.http 400$')" -eq 1 ]
	[[ ${lines[6]} == *"6 requests sent, 5 answered 200, 1 answered 400" ]]
	stop_listen
	diff "$T/orig.ndjson" "$T/again.ndjson"
	# The replay did not capture: the first instance had the option.
	[ "$(metric rum_listen_capture_requests_total "$T/again.prom")" = "" ]
}

@test "capture-replay: secrets are redacted, and the request still replays" {
	listen orig --capture-dir "$C" --capture-keep-header X-Api-Key
	[ "$(post '?precision=ms&token=sEcReT1&dd-api-key=sEcReT2&x=a+b%2Bc' \
		-H 'Cookie: session=sEcReT3' -H 'Authorization: Bearer sEcReT4' \
		-H 'DD-API-KEY: sEcReT5' -H 'X-Api-Key: kept-value' \
		--data-binary @"$TOP/t/data/web-batch.lp")" = 200 ]
	stop_listen
	f=$(ls "$C"/*.http)
	! grep -ri secret "$C"
	head -1 "$f" | grep -q $'^POST /v1/write/rum?precision=ms&token=redacted&dd-api-key=redacted&x=a%20b%2Bc HTTP/1.1\r$'
	grep -q $'^Cookie: redacted\r$' "$f"
	grep -q $'^Authorization: redacted\r$' "$f"
	grep -q $'^DD-API-KEY: redacted\r$' "$f"
	grep -q $'^X-Api-Key: kept-value\r$' "$f"
	[ "$(metric rum_listen_capture_redactions_total "$T/orig.prom")" = 5 ]

	listen again
	run "$BIN/rum-replay" --expect-status 200 "127.0.0.1:$PORT" "$f"
	[ "$status" -eq 0 ]
	stop_listen
	diff "$T/orig.ndjson" "$T/again.ndjson"
}

@test "capture-replay: one request in --capture-sample N; only the intake's paths" {
	listen orig --capture-dir "$C" --capture-sample 3
	for i in 1 2 3 4 5 6 7; do
		post '?precision=ms' --data-binary "view,app_id=a$i,sdk_name=s v=${i}i 1700000000000"
	done
	curl -sf "http://127.0.0.1:$PORT/v1/ping" >/dev/null
	curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null
	curl -s -X PUT -F file=@"$TOP/t/data/web-batch.lp" \
		"http://127.0.0.1:$PORT/v1/sourcemap?app_id=a&env=e&version=1&token=x" >/dev/null
	stop_listen
	run head -qn1 "$C"/*.http
	[ "$(grep -c '^POST /v1/write/rum?precision=ms ' <<<"$output")" -eq 3 ]
	run cat "$C"/*.http
	grep -q 'app_id=a1,' <<<"$output"
	grep -q 'app_id=a4,' <<<"$output"
	grep -q 'app_id=a7,' <<<"$output"
	[ "$(ls "$C" | wc -l)" -eq 3 ]
}

@test "capture-replay: --capture-max-mb keeps the newest files, across restarts" {
	head -c 300000 /dev/zero | tr '\0' 'x' >"$T/pad"
	body() { printf 'view,app_id=a%s,sdk_name=s v="' "$1"; cat "$T/pad"; printf '" 1700000000000'; }
	listen orig --capture-dir "$C" --capture-max-mb 1
	for i in 1 2 3 4 5; do
		[ "$(post '?precision=ms' --data-binary @<(body "$i"))" = 200 ]
	done
	stop_listen
	[ "$(ls "$C" | wc -l)" -eq 3 ]
	[ "$(cat "$C"/*.http | wc -c)" -le 1048576 ]
	! grep -q 'app_id=a2,' "$C"/*.http
	grep -q 'app_id=a5,' "$C"/*.http
	# A new start counts the files already there.
	listen again --capture-dir "$C" --capture-max-mb 1
	[ "$(post '?precision=ms' --data-binary @<(body 6))" = 200 ]
	stop_listen
	[ "$(ls "$C" | wc -l)" -eq 3 ]
	! grep -q 'app_id=a3,' "$C"/*.http
	grep -q 'app_id=a6,' "$C"/*.http
	[ "$(ls "$C" | tail -1)" = "$(grep -l 'app_id=a6,' "$C"/*.http | xargs basename)" ]
}

@test "capture-replay: a capture that cannot be written never fails the request; counted, logged once" {
	listen orig --capture-dir "$C"
	rm -rf "$C"
	for i in 1 2 3; do
		[ "$(post '?precision=ms' --data-binary "view,app_id=a,sdk_name=s v=${i}i 1700000000000")" = 200 ]
	done
	stop_listen
	[ "$(lines "$T/orig.ndjson")" -eq 3 ]
	[ "$(metric rum_listen_capture_drops_total "$T/orig.prom")" = 3 ]
	[ "$(grep -c 'capture-dir: cannot' "$T/orig.err")" -eq 1 ]
}

@test "capture-replay: session replay bodies only with --capture-replay-bodies; rum-replay skips the others" {
	printf 'rrweb-segment-bytes' >"$T/seg.bin"
	upload() {
		curl -s -o /dev/null -w '%{http_code}\n' -F "segment=@$T/seg.bin;filename=blob" \
			-F app_id=appid_1 -F env=prod "http://127.0.0.1:$PORT/v1/write/rum/replay"
	}
	listen orig --capture-dir "$C"
	[ "$(upload)" = 200 ]
	stop_listen
	f=$(ls "$C"/*.http)
	grep -Eq '^X-Rumpipe-Capture: .*; omitted=[0-9]+' "$f"
	! grep -q rrweb-segment-bytes "$f"
	listen again
	run "$BIN/rum-replay" --expect-status 200 "127.0.0.1:$PORT" "$f"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$f skipped" ]
	stop_listen
	[ "$(lines "$T/again.ndjson")" -eq 0 ]

	rm -rf "$C"
	listen orig --capture-dir "$C" --capture-replay-bodies
	[ "$(upload)" = 200 ]
	stop_listen
	f=$(ls "$C"/*.http)
	grep -q rrweb-segment-bytes "$f"
	listen again
	run "$BIN/rum-replay" --expect-status 200 "127.0.0.1:$PORT" "$f"
	[ "$status" -eq 0 ]
	stop_listen
	# The same record but for its time, the arrival (the SDK sends none).
	diff <(sed 's/"time":[0-9]*}$//' "$T/orig.ndjson") <(sed 's/"time":[0-9]*}$//' "$T/again.ndjson")
	grep -q rrweb-segment-bytes <(jq -r .fields.body "$T/again.ndjson" | base64 -d)
}

@test "rum-replay: keep-alive and reconnection, --forwarded-for, --expect-status, exit statuses" {
	listen orig --capture-dir "$C"
	send_fixtures
	stop_listen
	# The first capture as if it came from 192.0.2.5, through no proxy.
	first=$(ls "$C"/*.http | head -1)
	sed -i '2s/peer=127\.0\.0\.1:/peer=192.0.2.5:/' "$first"
	xff=$(grep -l '^X-Forwarded-For: 203.0.113.7' "$C"/*.http)
	sed -i '2s/peer=127\.0\.0\.1:/peer=10.9.9.9:/' "$xff"

	# Two requests a connection: rum-replay opens a new one as told.
	listen again --max-requests-per-connection 2
	run "$BIN/rum-replay" --forwarded-for --expect-status 200,400 "127.0.0.1:$PORT" "$C"
	[ "$status" -eq 0 ]
	stop_listen
	[ "$(lines "$T/again.ndjson")" -eq 22 ]
	[ "$(head -9 "$T/again.ndjson" | grep -c '"ip":"192.0.2.5"')" -eq 9 ]
	# X-Forwarded-For extended as a proxy would: its first address stays.
	[ "$(grep -c '"ip":"203.0.113.7"' "$T/again.ndjson")" -eq 2 ]
	[ "$(grep -c '"ip":"10.9.9.9"' "$T/again.ndjson")" -eq 0 ]

	# One connection for them all: the client ports seen while it runs.
	listen again
	"$BIN/rum-replay" -q --pace 5/s "127.0.0.1:$PORT" "$C" 2>/dev/null &
	rpid=$!
	while kill -0 "$rpid" 2>/dev/null; do
		ss -Htn state established "( dport = :$PORT )" | awk '{ print $3 }' >>"$T/ports"
		sleep 0.1
	done
	wait "$rpid"
	[ "$(sort -u "$T/ports" | wc -l)" -eq 1 ]
	run "$BIN/rum-replay" --expect-status 200 "127.0.0.1:$PORT" "$C"
	[ "$status" -eq 1 ]
	[[ ${lines[-1]} == *"1 not 200" ]]
	run "$BIN/rum-replay" -q --pace 50/s "127.0.0.1:$PORT" "$C"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	stop_listen
	run "$BIN/rum-replay" "127.0.0.1:$PORT" "$C"
	[ "$status" -eq 2 ]
	[[ $output == *"cannot reach 127.0.0.1:$PORT"* ]]
	run "$BIN/rum-replay" "127.0.0.1:$PORT" "$T/nothing"
	[ "$status" -eq 2 ]
	run "$BIN/rum-replay" --pace 3 "127.0.0.1:$PORT" "$C"
	[ "$status" -eq 2 ]
}

@test "rum-replay: --pace captured keeps the captured intervals" {
	listen orig --capture-dir "$C"
	post '?precision=ms' --data-binary 'view,app_id=a,sdk_name=s v=1i 1700000000000'
	sleep 1.2
	post '?precision=ms' --data-binary 'view,app_id=a,sdk_name=s v=2i 1700000000000'
	stop_listen
	listen again
	start=$EPOCHREALTIME
	run "$BIN/rum-replay" --pace captured "127.0.0.1:$PORT" "$C"
	took=$(echo "$EPOCHREALTIME - $start" | bc)
	[ "$status" -eq 0 ]
	stop_listen
	[ "$(echo "$took >= 1.1" | bc)" = 1 ]
}

# ---- the CI recipe -------------------------------------------------------------

# A capture of the fixtures, and a configuration of the whole pipeline.
ci_setup() {
	listen orig --capture-dir "$C"
	send_fixtures
	stop_listen
	mkdir -p "$T/data"
	printf 'data_dir = "%s"\n' "$T/data" >"$T/base.conf"
	"$TOP/t/lib/mkmmdb" "$T/city.mmdb" <<-'EOF'
		{"database_type": "GeoIP2-City", "ip_version": 6, "networks": [
		 ["203.0.113.0/24", {"city": {"names": {"en": "Osaka"}}, "country": {"iso_code": "JP", "names": {"en": "Japan"}}}]
		]}
	EOF
}

check() { "$TOP/contrib/replay-check" --bindir "$BIN" --capture "$C" "$@"; }

@test "replay-check: no change exit 0; a changed database shows exactly the changed fields, exit 1" {
	ci_setup
	run check -c "$T/base.conf" --golden "$T/golden.ndjson" --update-golden
	[ "$status" -eq 0 ]
	[ "$(lines "$T/golden.ndjson")" -eq 22 ]
	# Normalised: the ip of the replaying client.
	grep -q '"ip":"REPLAY-CLIENT"' "$T/golden.ndjson"
	! grep -q '"ip":"127.0.0.1"' "$T/golden.ndjson"
	run check -c "$T/base.conf" --golden "$T/golden.ndjson"
	[ "$status" -eq 0 ]
	[[ $output == *"same 22 records"* ]]

	# A City database added to rum-enrich: the two records from 203.0.113.7
	# get a city and a country, nothing else changes.
	cp "$T/base.conf" "$T/db.conf"
	printf '[enrich]\ncity_db = "%s"\n' "$T/city.mmdb" >>"$T/db.conf"
	run check -c "$T/db.conf" --golden "$T/golden.ndjson"
	[ "$status" -eq 1 ]
	diff - <(printf '%s\n' "${lines[@]}" | grep '^[-+]record') <<-'EOF'
		-record 19 (view) tags.city = "unknown"
		+record 19 (view) tags.city = "Osaka"
		-record 19 (view) tags.country = "unknown"
		+record 19 (view) tags.country = "JP"
		-record 20 (error) tags.city = "unknown"
		+record 20 (error) tags.city = "Osaka"
		-record 20 (error) tags.country = "unknown"
		+record 20 (error) tags.country = "JP"
	EOF
	[[ $output == *"the records differ"* ]]
}

@test "replay-check: a rum-replay-filter rule that drops records shows them gone; bad configurations exit 2" {
	ci_setup
	run check -c "$T/base.conf" --golden "$T/golden.ndjson" --update-golden
	[ "$status" -eq 0 ]
	cp "$T/base.conf" "$T/rule.conf"
	printf '[replay-filter]\nall = true\nrule = "{ action_type = '"'"'click'"'"' }"\n' >>"$T/rule.conf"
	run check -c "$T/rule.conf" --golden "$T/golden.ndjson"
	[ "$status" -eq 1 ]
	# The action record (of json-realip), whole; nothing else.
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^+record')" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^-record 21 (action) removed: {"measurement":"action"')" -eq 1 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^-record')" -eq 1 ]
	[[ $output == *"+++ this run: 21 records"* ]]

	printf 'no_such_key = 1\n' >>"$T/bad.conf"
	run check -c "$T/bad.conf" --golden "$T/golden.ndjson"
	[ "$status" -eq 2 ]
	printf '[enrich]\ncity_db = "%s/none.mmdb"\n' "$T" >"$T/bad2.conf"
	run check -c "$T/bad2.conf" --golden "$T/golden.ndjson"
	[ "$status" -eq 2 ]
	[[ $output == *"rum-enrich: bad configuration"* ]]
	run check -c "$T/base.conf" --golden "$T/missing.ndjson"
	[ "$status" -eq 2 ]
}
