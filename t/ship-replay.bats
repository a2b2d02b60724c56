#!/usr/bin/env bats
# rum-ship's session replay uploads against the fake Dataway: the original
# multipart body re-sent byte for byte to /v1/write/rum/replay, through a
# queue of its own that outlives Dataway outages, kill -9 and restarts.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	SHIP=$BIN/rum-ship
	RECS=$TOP/t/lib/replay-records
	RCHECK=$TOP/t/lib/replay-check
	SEQ=$TOP/t/lib/seq-records
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
	SEGMENT=
	if [ -n "$FIXTURES" ] && [ -f "$FIXTURES/datakit/session_replay.dat" ]; then
		SEGMENT=$FIXTURES/datakit/session_replay.dat
	fi
	# quick retries, so that outages of a few seconds show what longer ones do
	FAST=(--backoff-min 100 --backoff-max 500 --replay-timeout 5)
}

teardown() {
	[ -n "${SHIP_PID:-}" ] && stop_pid "$SHIP_PID" KILL
	[ -n "${FEED_PID:-}" ] && stop_pid "$FEED_PID" KILL
	[ -n "${LISTEN_PID:-}" ] && stop_pid "$LISTEN_PID" KILL
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	true
}

# The fake Dataway, with a fail file for replay uploads alone
# ($REPLAY_FAIL) besides the one for every request ($FAKE_FAIL); on the
# port given, if any (to come back where it was).
start_fake() {
	REPLAY_FAIL=$T/replay.fail
	start_fake_dataway --replay-fail-file "$REPLAY_FAIL" ${1:+--port "$1"}
}

metric_ge() { [ -f "$M" ] && [ "$(metric "$1")" -ge "$2" ] 2>/dev/null; }

# records N [START] [more replay-records options]: N uploads into $T/in.ndjson,
# their bodies in $T/bodies.
records() {
	local n=$1 start=${2:-0}
	shift 2 || shift $#
	"$RECS" --count "$n" --start "$start" ${SEGMENT:+--segment "$SEGMENT"} \
		--bodies "$T/bodies" "$@"
}

# Indexes of the uploads the fake accepted, sorted and unique.
got() { "$RCHECK" got "$FAKE_LOG" | sort -n | uniq; }
got_count() { got | wc -l; }
# Replay requests the fake logged, whatever their answer.
replays_logged() { grep -c '"path": "/v1/write/rum/replay"' "$FAKE_LOG"; }
# The indexes START..START+N-1, one a line.
want() { seq "${2:-0}" $((${2:-0} + $1 - 1)); }

@test "uploads reach /v1/write/rum/replay byte for byte: Content-Type, token, X-Global-Tags, headers" {
	start_fake
	records 20 >"$T/in.ndjson"
	"$SEQ" --count 50 >>"$T/in.ndjson"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --metrics-file "$M" <"$T/in.ndjson"
	run -0 "$RCHECK" verify "$FAKE_LOG" "$T/bodies"
	[ "$output" = "20 uploads checked, 0 bad" ]
	[ "$(got)" = "$(want 20)" ]
	# each upload once, and the points apart, to /v1/write/rum
	[ "$(jq -r 'select(.path == "/v1/write/rum/replay") | .path' "$FAKE_LOG" | wc -l)" = 20 ]
	"$TOP/t/lib/dataway-check" bodies <(jq -c 'select(.path == "/v1/write/rum")' "$FAKE_LOG") |
		grep -c 'seq=' | grep -qx 50
	[ "$(metric rum_ship_replay_sent_total)" = 20 ]
	[ "$(metric rum_ship_replay_queued_total)" = 20 ]
	[ "$(metric rum_ship_replay_sent_bytes_total)" = "$(cat "$T"/bodies/*.body | wc -c)" ]
	[ "$(metric rum_ship_replay_queue_entries)" = 0 ]
	[ "$(metric rum_ship_points_sent_total)" = 50 ]
	if [ -n "$SEGMENT" ]; then # DataKit's segment itself is in every body
		python3 -c 'import sys; s = open(sys.argv[1], "rb").read()
for i in range(20):
    assert s in open("%s/%d.body" % (sys.argv[2], i), "rb").read()' "$SEGMENT" "$T/bodies"
	fi
}

@test "curl -F as the SDK posts, through rum-listen | rum-ship: the Dataway gets the same body and Content-Type" {
	start_fake
	seg=$SEGMENT
	if [ -z "$seg" ]; then
		seg=$T/segment.bin
		python3 -c 'import sys, zlib; open(sys.argv[1], "wb").write(zlib.compress(b"{\"records\":[]}" * 500))' "$seg"
	fi
	lport=$(free_port)
	mkfifo "$T/records"
	"$BIN/rum-listen" --listen "127.0.0.1:$lport" >"$T/records" 2>"$T/listen.err" &
	LISTEN_PID=$!
	"$SHIP" --sink "$(dw)" --metrics-file "$M" <"$T/records" 2>"$T/ship.err" &
	SHIP_PID=$!
	wait_port "$lport"
	form=(-F "segment=@$seg;filename=blob;type=application/octet-stream"
		-F app_id=appid_e2e -F env=production -F version=1.0.0 -F service=shop
		-F sdk_name=df_web_rum_sdk -F sdk_version=3.1.5 -F source=browser
		-F has_full_snapshot=true -F raw_segment_size=153600 -F session_id=sess-e2e
		-F view_id=view-e2e -F start=1700000000000 -F end=1700000005000
		-F records_count=42 -F index_in_view=0 -F creation_reason=init)
	# what curl -F sends (its boundary is random): straight to the fake first,
	# then the very same bytes through rum-listen
	curl -sf -o /dev/null "${form[@]}" "http://127.0.0.1:$FAKE_PORT/v1/write/rum/replay?token=direct"
	jq -r 'select(.query == "token=direct") | .raw_b64' "$FAKE_LOG" | base64 -d >"$T/sent.body"
	ct=$(jq -r 'select(.query == "token=direct") | .headers["Content-Type"]' "$FAKE_LOG")
	[[ $ct == "multipart/form-data; boundary="* ]]
	code=$(curl -s -o "$T/answer" -w '%{http_code}' -H "Content-Type: $ct" -H "User-Agent: e2e" \
		--data-binary @"$T/sent.body" "http://127.0.0.1:$lport/v1/write/rum/replay")
	[[ $code == 2* ]] || skip "rum-listen answers $code to POST /v1/write/rum/replay: $(cat "$T/answer")"
	wait_for 10 count_at_least 2 replays_logged
	python3 - "$FAKE_LOG" <<-'EOF'
		import json, sys
		from urllib.parse import unquote
		up = [json.loads(l) for l in open(sys.argv[1]) if "/replay" in l]
		direct = [e for e in up if e["query"] == "token=direct"][0]
		shipped = [e for e in up if e["query"] == "token=tkn_test"][0]
		assert shipped["path"] == "/v1/write/rum/replay", shipped["path"]
		assert shipped["raw_b64"] == direct["raw_b64"], "bodies differ"
		h = {k.lower(): v for k, v in shipped["headers"].items()}
		assert h["content-type"] == direct["headers"]["Content-Type"], h["content-type"]
		tags = dict(kv.split("=", 1) for kv in h["x-global-tags"].split(","))
		tags = {unquote(k): unquote(v) for k, v in tags.items()}
		assert tags["app_id"] == "appid_e2e" and tags["session_id"] == "sess-e2e", tags
		assert tags["ip"] == "127.0.0.1" and tags["creation_reason"] == "init", tags
	EOF
	stop_pid "$LISTEN_PID" TERM
	LISTEN_PID=
	wait "$SHIP_PID"
	SHIP_PID=
	[ "$(metric rum_ship_replay_sent_total)" = 1 ]
}

@test "a tag that needs escaping in X-Global-Tags; records that are not uploads are counted" {
	start_fake
	python3 - >"$T/in.ndjson" <<-'EOF'
		import base64, json
		body = b"--b\r\nContent-Disposition: form-data; name=\"app_id\"\r\n\r\na,1\r\n--b--\r\n"
		rec = {"measurement": "session_replay",
		       "tags": {"app_id": "a,1", "env": "x=y z", "ip": "2001:db8::1"},
		       "fields": {"content_type": "multipart/form-data; boundary=b",
		                  "body": base64.b64encode(body).decode(),
		                  "headers": json.dumps({"X-Ok": "1", "Host": "evil", "X-Empty": "",
		                                         "Content-Length": "1", "Bad Name": "x"})}}
		print(json.dumps(rec))
		bad = dict(rec, fields={"content_type": "multipart/form-data; boundary=b", "body": "!!!"})
		print(json.dumps(bad))
		print(json.dumps(dict(rec, fields={"body": "eA=="})))
	EOF
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --metrics-file "$M" <"$T/in.ndjson"
	[ "$(metric rum_ship_replay_sent_total)" = 1 ]
	[ "$(metric rum_ship_replay_invalid_total)" = 2 ]
	[[ "$stderr" == *"line 2: session_replay record: body is not base64"* ]]
	[[ "$stderr" == *"line 3: session_replay record: no content_type"* ]]
	run -0 jq -r 'select(.path == "/v1/write/rum/replay") | .headers["X-Global-Tags"], .headers["X-Ok"], .headers.Host, .headers["Content-Length"], (.headers | has("Bad Name")), (.headers["X-Empty"] == "")' "$FAKE_LOG"
	[ "${lines[0]}" = "app_id=a%2C1,env=x%3Dy%20z,ip=2001%3Adb8%3A%3A1" ]
	[ "${lines[1]}" = 1 ]
	[ "${lines[2]}" = "127.0.0.1:$FAKE_PORT" ]
	[ "${lines[3]}" -gt 60 ]
	[ "${lines[4]}" = false ]
	[ "${lines[5]}" = true ]
}

@test "Dataway down (503, then its port closed) while uploads come in: all delivered after" {
	start_fake
	port=$FAKE_PORT
	echo 503 >"$FAKE_FAIL"
	mkfifo "$T/in"
	"$SHIP" --sink "$(dw)" --metrics-file "$M" --replay-cache-dir "$T/cache" "${FAST[@]}" \
		<"$T/in" 2>"$T/ship.err" &
	SHIP_PID=$!
	records 60 0 --over 6 >"$T/in" &
	FEED_PID=$!
	# 2 s of 503, 2 s with nothing listening, then back
	sleep 2
	stop_pid "$FAKE_PID" KILL
	FAKE_PID=
	sleep 2
	[ "$(got_count)" = 0 ]
	rm -f "$FAKE_FAIL"
	start_fake "$port"
	wait "$FEED_PID"
	FEED_PID=
	wait_for 30 count_at_least 60 got_count
	[ "$(got)" = "$(want 60)" ]
	stop_pid "$SHIP_PID" TERM
	SHIP_PID=
	[ "$(metric rum_ship_replay_sent_total)" = 60 ]
	[ "$(metric rum_ship_replay_failed_total)" = 0 ]
	[ "$(metric rum_ship_replay_dropped_total)" = 0 ]
	[ "$(metric rum_ship_replay_network_errors_total)" -ge 1 ]
	[ "$(metric 'rum_ship_replay_responses_total{class="5xx"}')" -ge 1 ]
	[ "$(metric rum_ship_replay_retries_total)" -ge 2 ]
	"$RCHECK" verify "$FAKE_LOG" "$T/bodies"
}

@test "kill -9 of rum-ship: the queued uploads are delivered after a restart" {
	start_fake
	echo 503 >"$FAKE_FAIL"
	records 40 >"$T/in.ndjson"
	mkfifo "$T/in"
	"$SHIP" --sink "$(dw)" --metrics-file "$M" --replay-cache-dir "$T/cache" "${FAST[@]}" \
		<"$T/in" 2>"$T/ship.err" &
	SHIP_PID=$!
	exec {feed}>"$T/in"
	cat "$T/in.ndjson" >&"$feed"
	wait_for 10 metric_ge rum_ship_replay_queued_total 40
	# every upload was tried and refused; none was acknowledged
	wait_for 10 metric_ge rum_ship_replay_retries_total 16
	stop_pid "$SHIP_PID" KILL
	SHIP_PID=
	exec {feed}>&-
	[ "$(got_count)" = 0 ]
	rm -f "$FAKE_FAIL" "$M"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --metrics-file "$M" \
		--replay-cache-dir "$T/cache" "${FAST[@]}" </dev/null
	[[ "$stderr" == *"40 uploads to send from a previous run"* ]]
	[ "$(got)" = "$(want 40)" ]
	[ "$(metric rum_ship_replay_sent_total)" = 40 ]
	"$RCHECK" verify "$FAKE_LOG" "$T/bodies"
	# acknowledged: a third run has nothing to send
	: >"$FAKE_LOG"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --replay-cache-dir "$T/cache" </dev/null
	[ "$(got_count)" = 0 ]
}

@test "kill -9 in the middle of uploads to a slow Dataway: nothing is lost" {
	start_fake
	echo "slow 0.3" >"$REPLAY_FAIL"
	records 60 >"$T/in.ndjson"
	"$SHIP" --sink "$(dw)" --replay-cache-dir "$T/cache" --replay-workers 4 "${FAST[@]}" \
		<"$T/in.ndjson" 2>"$T/ship.err" &
	SHIP_PID=$!
	wait_for 10 count_at_least 8 got_count
	stop_pid "$SHIP_PID" KILL
	SHIP_PID=
	before=$(got_count)
	[ "$before" -lt 60 ]
	rm -f "$REPLAY_FAIL"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --replay-cache-dir "$T/cache" </dev/null
	[ "$(got)" = "$(want 60)" ]
	# sent again: at most those that were in flight or done but not yet
	# acknowledged at the kill
	total=$("$RCHECK" got "$FAKE_LOG" | wc -l)
	[ "$total" -le $((60 + 8)) ]
}

@test "replay cache full: the oldest uploads are dropped and counted" {
	start_fake
	echo 503 >"$FAKE_FAIL"
	records 60 0 --size 33000 >"$T/in.ndjson"
	mkfifo "$T/in"
	"$SHIP" --sink "$(dw)" --metrics-file "$M" --replay-cache-dir "$T/cache" \
		--replay-cache-mb 1 --replay-workers 1 "${FAST[@]}" <"$T/in" 2>"$T/ship.err" &
	SHIP_PID=$!
	exec {feed}>"$T/in"
	cat "$T/in.ndjson" >&"$feed"
	wait_for 10 metric_ge rum_ship_replay_queued_total 60
	wait_for 10 metric_ge rum_ship_replay_dropped_total 20
	[ "$(du -sk "$T/cache" | cut -f1)" -le 1100 ]
	rm -f "$FAKE_FAIL"
	exec {feed}>&-
	wait "$SHIP_PID"
	SHIP_PID=
	sent=$(metric rum_ship_replay_sent_total)
	dropped=$(metric rum_ship_replay_dropped_total)
	[ "$((sent + dropped))" = 60 ] || { echo "sent=$sent dropped=$dropped"; grep replay_ "$M" | grep -v "^#"; cat "$T/ship.err"; false; }
	[ "$sent" -ge 20 ]
	[ "$(got_count)" = "$sent" ]
	# the newest ones went: every upload delivered is newer than every one dropped
	[ "$(got)" = "$(want "$sent" $((60 - sent)))" ]
	[ "$(metric rum_ship_replay_dropped_bytes_total)" -gt $((dropped * 30000)) ]
	grep -q "over capacity" "$T/ship.err"
}

@test "--replay-clear-cache empties the queue at start, and only the queue" {
	start_fake
	echo 503 >"$FAKE_FAIL"
	records 10 >"$T/old.ndjson"
	mkdir -p "$T/cache"
	echo keep >"$T/cache/notes.txt"
	# the Dataway fails: at the end the uploads are left on disk
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --replay-cache-dir "$T/cache" \
		"${FAST[@]}" --drain-timeout 2 <"$T/old.ndjson"
	[[ "$stderr" == *"10 uploads left for the next run"* ]]
	rm -f "$FAKE_FAIL"
	: >"$FAKE_LOG"
	records 5 100 >"$T/new.ndjson"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --replay-cache-dir "$T/cache" \
		--replay-clear-cache --metrics-file "$M" <"$T/new.ndjson"
	[[ "$stderr" == *"emptied $T/cache"* ]]
	[ "$(got)" = "$(want 5 100)" ]
	[ "$(cat "$T/cache/notes.txt")" = keep ]
	# and without the flag, a queue left behind is sent
	echo 503 >"$FAKE_FAIL"
	run -0 "$SHIP" --sink "$(dw)" --replay-cache-dir "$T/cache" "${FAST[@]}" \
		--drain-timeout 1 <"$T/old.ndjson"
	rm -f "$FAKE_FAIL"
	: >"$FAKE_LOG"
	run -0 "$SHIP" --sink "$(dw)" --replay-cache-dir "$T/cache" </dev/null
	[ "$(got)" = "$(want 10)" ]
}

@test "4xx: logged, dropped and counted, never retried" {
	start_fake
	echo 400 >"$REPLAY_FAIL"
	records 12 >"$T/in.ndjson"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --metrics-file "$M" \
		--replay-cache-dir "$T/cache" "${FAST[@]}" <"$T/in.ndjson"
	[ "$(metric rum_ship_replay_rejected_total)" = 12 ]
	[ "$(metric 'rum_ship_replay_responses_total{class="4xx"}')" = 12 ]
	[ "$(metric rum_ship_replay_retries_total)" = 0 ]
	[ "$(metric rum_ship_replay_sent_total)" = 0 ]
	[ "$(metric rum_ship_replay_queue_entries)" = 0 ]
	[ "$("$RCHECK" got "$FAKE_LOG" 400 | wc -l)" = 12 ]
	[[ "$stderr" == *"refused a replay upload (app_id appid_replay_test"*"HTTP 400 (dropped)"*"fake-dataway fails on purpose"* ]]
}

@test "an upload the Dataway keeps failing while it takes others is dropped after --replay-retries" {
	start_fake
	echo '500 match filename="sess-3"' >"$REPLAY_FAIL"
	records 30 >"$T/in.ndjson"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --metrics-file "$M" \
		--replay-retries 2 --backoff-min 100 --backoff-max 200 <"$T/in.ndjson"
	[ "$(metric rum_ship_replay_failed_total)" = 1 ]
	[ "$(metric rum_ship_replay_sent_total)" = 29 ]
	[ "$(got)" = "$(want 30 | grep -vx 3)" ]
	# 1 + 2 retries; one more if its first answer came before any other
	tries=$("$RCHECK" got "$FAKE_LOG" 500 | grep -cx 3)
	[ "$tries" -ge 3 ] && [ "$tries" -le 4 ]
	[[ "$stderr" == *"failed (HTTP 500) 3 times while others went through; dropped"* ]]
}

@test "points keep flowing while replay uploads fail; the uploads follow once they pass" {
	start_fake
	echo 503 >"$REPLAY_FAIL"
	mkfifo "$T/in"
	"$SHIP" --sink "$(dw)" --metrics-file "$M" "${FAST[@]}" --flush-interval 100 \
		<"$T/in" 2>"$T/ship.err" &
	SHIP_PID=$!
	exec {feed}>"$T/in"
	records 40 >&"$feed"
	"$SEQ" --count 500 >&"$feed"
	# no replay has gone through, the points all have, in order
	points() {
		jq -c 'select(.path == "/v1/write/rum")' "$FAKE_LOG" >"$T/points.log"
		"$TOP/t/lib/dataway-check" seq "$T/points.log" "$1" >/dev/null
	}
	wait_for 10 points 500
	[ "$(got_count)" = 0 ]
	[ "$(jq -r 'select(.path == "/v1/write/rum/replay") | .status' "$FAKE_LOG" | sort -u)" = 503 ]
	"$SEQ" --count 500 --start 500 >&"$feed"
	wait_for 10 points 1000
	[ "$(got_count)" = 0 ]
	rm -f "$REPLAY_FAIL"
	wait_for 20 count_at_least 40 got_count
	exec {feed}>&-
	wait "$SHIP_PID"
	SHIP_PID=
	[ "$(got)" = "$(want 40)" ]
	[ "$(metric rum_ship_replay_failed_total)" = 0 ]
	[ "$(metric rum_ship_points_sent_total)" = 1000 ]
}

@test "no disk queue: replays wait in a bounded memory queue; file and stdout sinks write them as records" {
	start_fake
	echo 503 >"$FAKE_FAIL"
	records 60 0 --size 33000 >"$T/in.ndjson"
	mkfifo "$T/in"
	"$SHIP" --sink "$(dw)" --metrics-file "$M" --replay-memory-mb 1 --replay-workers 1 \
		"${FAST[@]}" <"$T/in" 2>"$T/ship.err" &
	SHIP_PID=$!
	exec {feed}>"$T/in"
	cat "$T/in.ndjson" >&"$feed"
	wait_for 10 metric_ge rum_ship_replay_queued_total 60
	wait_for 10 metric_ge rum_ship_replay_dropped_total 20
	[ "$(metric rum_ship_replay_queue_bytes)" -le 1048576 ]
	rm -f "$FAKE_FAIL"
	exec {feed}>&-
	wait "$SHIP_PID"
	SHIP_PID=
	sent=$(metric rum_ship_replay_sent_total)
	[ "$((sent + $(metric rum_ship_replay_dropped_total)))" = 60 ]
	[ "$(metric rum_ship_replay_queue_bytes)" = 0 ]
	[ "$(metric rum_ship_replay_lost_total)" = 0 ]
	[ "$(got_count)" = "$sent" ]
	# the one in flight at the time, then the newest
	[ "$(got | tail -n +2)" = "$(want $((sent - 1)) $((61 - sent)))" ]

	# with --spool-dir, the replay queue is on disk beside it
	echo 503 >"$FAKE_FAIL"
	run -0 "$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 10 \
		"${FAST[@]}" --drain-timeout 1 <<<"$(head -3 "$T/in.ndjson")"
	ls "$T"/spool/replay/*.seg

	# file and stdout: the records as they came; a line-protocol sink skips them
	run -0 "$SHIP" --sink "file:$T/out.ndjson" <"$T/in.ndjson"
	cmp "$T/in.ndjson" "$T/out.ndjson"
	run -0 --separate-stderr "$SHIP" <"$T/in.ndjson"
	[ "$output" = "$(cat "$T/in.ndjson")" ]
	rm -f "$FAKE_FAIL"
	: >"$FAKE_LOG"
	run -0 --separate-stderr "$SHIP" --sink "influx+http://127.0.0.1:$FAKE_PORT/write?db=x" \
		--metrics-file "$M" < <(head -3 "$T/in.ndjson"; "$SEQ" --count 3)
	[ "$(metric rum_ship_replay_skipped_total)" = 3 ]
	[ "$(metric rum_ship_points_sent_total)" = 3 ]
	[[ "$stderr" == *"not sent to a line-protocol sink"* ]]
}

@test "bodies of every length, base64 standard or URL-safe, padded or not, arrive exactly" {
	start_fake
	python3 - >"$T/in.ndjson" <<-'PY'
		import base64, json, random
		r = random.Random(5)
		for n in list(range(0, 130)) + [r.randrange(1000, 200000) for _ in range(10)]:
		    body = r.randbytes(n)
		    enc = base64.b64encode(body) if n % 3 else base64.urlsafe_b64encode(body)
		    enc = enc.decode()
		    if n % 2:
		        enc = enc.rstrip("=")
		    print(json.dumps({"measurement": "session_replay", "tags": {"app_id": "a"},
		                      "fields": {"content_type": "application/x-test", "body": enc,
		                                 "headers": json.dumps({"X-Replay-Index": str(n)})}}))
	PY
	run -0 "$SHIP" --sink "$(dw)" --metrics-file "$M" <"$T/in.ndjson"
	[ "$(metric rum_ship_replay_sent_total)" = 140 ]
	python3 - "$FAKE_LOG" "$T/in.ndjson" <<-'PY'
		import base64, json, sys
		got = {}
		for l in open(sys.argv[1]):
		    e = json.loads(l)
		    got[e["headers"]["X-Replay-Index"]] = base64.b64decode(e["raw_b64"])
		for l in open(sys.argv[2]):
		    f = json.loads(l)["fields"]
		    enc = f["body"] + "=" * (-len(f["body"]) % 4)
		    want = base64.urlsafe_b64decode(enc) if "-" in enc or "_" in enc else base64.b64decode(enc)
		    n = json.loads(f["headers"])["X-Replay-Index"]
		    assert got[n] == want, "body of length %s differs" % n
	PY
}

@test "no disk queue, the Dataway still down after --drain-timeout: exit 1, the uploads counted as lost" {
	start_fake
	echo 503 >"$FAKE_FAIL"
	records 5 >"$T/in.ndjson"
	run --separate-stderr -1 "$SHIP" --sink "$(dw)" --metrics-file "$M" "${FAST[@]}" \
		--drain-timeout 1 <"$T/in.ndjson"
	[[ "$stderr" == *"5 replay uploads lost (no disk queue)"* ]]
	[ "$(metric rum_ship_replay_lost_total)" = 5 ]
	[ "$(metric rum_ship_replay_queue_entries)" = 0 ]
	[ "$(metric rum_ship_replay_sent_total)" = 0 ]
}
