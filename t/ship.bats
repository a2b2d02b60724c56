#!/usr/bin/env bats
# rum-ship against the fake Dataway (t/lib/fake-dataway), a real HTTP peer.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	SHIP=$BIN/rum-ship
	CHECK=$TOP/t/lib/dataway-check
	SEQ=$TOP/t/lib/seq-records
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
}

teardown() {
	[ -n "${SHIP_PID:-}" ] && stop_pid "$SHIP_PID" KILL
	[ -n "${FEED_PID:-}" ] && stop_pid "$FEED_PID" KILL
	[ -n "${BG_PID:-}" ] && stop_pid "$BG_PID" KILL
	[ -n "${SHIP2_PID:-}" ] && stop_pid "$SHIP2_PID" KILL
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	true
}

# The points the fake accepted, as NDJSON records (independent reader:
# lptool's parser).
accepted_json() {
	"$CHECK" bodies "$FAKE_LOG" | "$TOOLS/lptool" tojson
}

requests() { "$CHECK" count "$FAKE_LOG"; }

# Records as line protocol can carry them: no empty tag values.
lp_expressible() {
	python3 -c 'import json, sys
for l in sys.stdin:
    o = json.loads(l)
    o["tags"] = {k: v for k, v in (o.get("tags") or {}).items() if v != ""}
    print(json.dumps(o, ensure_ascii=False))'
}

metric_is() { [ -f "$M" ] && [ "$(metric "$1")" = "$2" ]; }

# Bodies the fake accepted, back to records, equal in meaning to the input.
@test "Dataway sink: path, token, headers, gzip, and the points themselves" {
	start_fake_dataway
	"$TOOLS/gen-records" -n 2000 >"$T/in.ndjson"
	run -0 "$SHIP" --sink "http://127.0.0.1:$FAKE_PORT?token=tkn_test&extra=1" \
		--batch-size 500 --max-inflight 1 --metrics-file "$M" <"$T/in.ndjson"
	[ "$(requests)" = 4 ]
	python3 - "$FAKE_LOG" <<-'EOF'
		import json, sys
		for l in open(sys.argv[1]):
		    e = json.loads(l)
		    h = e["headers"]
		    assert e["method"] == "POST", e["method"]
		    assert e["path"] == "/v1/write/rum", e["path"]
		    assert e["query"] == "token=tkn_test&extra=1", e["query"]
		    assert h["Content-Encoding"] == "gzip", h
		    assert h["Content-Type"] == "text/plain", h
		    assert h["X-Points"] == "500", h
		    assert h["User-Agent"].startswith("rumpipe-rum-ship/"), h
		    assert e["raw_len"] * 2 < len(e["body"].encode()), "not compressed"
		    assert "error" not in e, e
	EOF
	accepted_json >"$T/out.ndjson"
	lp_expressible <"$T/in.ndjson" >"$T/want.ndjson"
	python3 "$TOP/t/lib/rec-meaning" "$T/want.ndjson" "$T/out.ndjson"
	[ "$(metric rum_ship_points_sent_total)" = 2000 ]
	[ "$(metric rum_ship_batches_sent_total)" = 4 ]
	[ "$(metric 'rum_ship_responses_total{class="2xx"}')" = 4 ]
	[ "$(metric rum_ship_records_in_total)" = 2000 ]
	bytes=$(metric rum_ship_bytes_sent_total)
	[ "$bytes" -gt 0 ]
	[ "$bytes" = "$(jq -s 'map(.raw_len) | add' "$FAKE_LOG")" ]
}

@test "Dataway sink: a path prefix is kept, /v1/write/rum added once" {
	start_fake_dataway
	"$SEQ" --count 3 | "$SHIP" --sink "http://127.0.0.1:$FAKE_PORT/dw/?token=tkn_a"
	"$SEQ" --count 3 | "$SHIP" --sink "http://127.0.0.1:$FAKE_PORT/dw/v1/write/rum?token=tkn_a"
	run -0 jq -r '.path + "?" + .query' "$FAKE_LOG"
	[ "${lines[0]}" = "/dw/v1/write/rum?token=tkn_a" ]
	[ "${lines[1]}" = "/dw/v1/write/rum?token=tkn_a" ]
}

@test "influx+http sink: line protocol to the path and query given" {
	start_fake_dataway
	"$TOOLS/gen-records" -n 300 >"$T/in.ndjson"
	run -0 "$SHIP" --sink "influx+http://127.0.0.1:$FAKE_PORT/api/v2/write?org=o&bucket=rum" \
		<"$T/in.ndjson"
	[ "$(requests)" = 1 ]
	run -0 jq -r '.path, .query, .headers["Content-Encoding"], .headers["Content-Type"]' \
		"$FAKE_LOG"
	[ "${lines[*]}" = "/api/v2/write org=o&bucket=rum gzip text/plain" ]
	accepted_json >"$T/out.ndjson"
	lp_expressible <"$T/in.ndjson" >"$T/want.ndjson"
	python3 "$TOP/t/lib/rec-meaning" "$T/want.ndjson" "$T/out.ndjson"
}

@test "--gzip-level 0 sends plain line protocol; 9 compresses too" {
	start_fake_dataway
	"$SEQ" --count 200 | "$SHIP" --sink "$(dw)" --gzip-level 0
	"$SEQ" --count 200 | "$SHIP" --sink "$(dw)" --gzip-level 9
	run -0 jq -r '.headers["Content-Encoding"] // "none"' "$FAKE_LOG"
	[ "${lines[*]}" = "none gzip" ]
	run -0 jq -r '.raw_len' "$FAKE_LOG"
	[ "${lines[1]}" -lt $((lines[0] / 3)) ]
	"$CHECK" seq "$FAKE_LOG" 200 --dups 200
}

@test "file: sink appends the records byte for byte; stdout is the default" {
	"$TOOLS/gen-records" -n 3000 --variety >"$T/in.ndjson"
	echo "already here" >"$T/out.ndjson"
	run -0 "$SHIP" --sink "file:$T/out.ndjson" --metrics-file "$M" <"$T/in.ndjson"
	{ echo "already here"; cat "$T/in.ndjson"; } | cmp - "$T/out.ndjson"
	[ "$(metric rum_ship_records_out_total)" = 3000 ]
	"$SHIP" <"$T/in.ndjson" | cmp - "$T/in.ndjson"
	"$SHIP" --sink - <"$T/in.ndjson" | cmp - "$T/in.ndjson"
	RUM_SINK="file:$T/env.ndjson" "$SHIP" <"$T/in.ndjson"
	cmp "$T/in.ndjson" "$T/env.ndjson"
}

@test "file: sink reopens its file on SIGHUP (logrotate)" {
	mkfifo "$T/in"
	"$SHIP" --sink "file:$T/out.ndjson" <"$T/in" &
	SHIP_PID=$!
	exec 7>"$T/in"
	"$SEQ" --count 10 >&7
	wait_for 5 lines_are "$T/out.ndjson" 10
	mv "$T/out.ndjson" "$T/out.ndjson.1"
	kill -HUP "$SHIP_PID"
	sleep 0.2
	"$SEQ" --count 5 --start 10 >&7
	exec 7>&-
	wait "$SHIP_PID"
	SHIP_PID=
	[ "$(lines "$T/out.ndjson.1")" = 10 ]
	[ "$(lines "$T/out.ndjson")" = 5 ]
	grep -q '"seq":14' "$T/out.ndjson"
}

@test "a lone record is written while input stays open (file and Dataway sinks)" {
	start_fake_dataway
	mkfifo "$T/in" "$T/in2"
	"$SHIP" --sink "file:$T/out.ndjson" <"$T/in" &
	SHIP_PID=$!
	"$SHIP" --sink "$(dw)" --flush-interval 300 <"$T/in2" &
	SHIP2_PID=$!
	exec 7>"$T/in" 8>"$T/in2"
	"$SEQ" --count 1 >&7
	"$SEQ" --count 1 >&8
	start=$(date +%s%N)
	wait_for 3 lines_are "$T/out.ndjson" 1
	wait_for 3 lines_are "$FAKE_LOG" 1
	elapsed=$((($(date +%s%N) - start) / 1000000))
	# within the flush interval, give or take scheduling
	[ "$elapsed" -lt 1500 ]
	kill -0 "$SHIP_PID" "$SHIP2_PID"
	exec 7>&- 8>&-
	wait "$SHIP_PID"
	wait "$SHIP2_PID"
	SHIP_PID= SHIP2_PID=
}

@test "batches by count, by bytes and by time" {
	start_fake_dataway
	"$SEQ" --count 2500 | "$SHIP" --sink "$(dw)" --batch-size 1000
	# in flight together, they may land in any order
	run -0 bash -c '"$0" xpoints "$1" | sort -n' "$CHECK" "$FAKE_LOG"
	[ "${lines[*]}" = "500 1000 1000" ]
	"$CHECK" seq "$FAKE_LOG" 2500 --window 3

	rm "$FAKE_LOG"
	"$SEQ" --count 1000 >"$T/in.ndjson"
	"$SHIP" --sink "$(dw)" --gzip-level 0 --batch-bytes 64K <"$T/in.ndjson"
	n=$(requests)
	lpsize=$("$CHECK" bodies "$FAKE_LOG" | wc -c)
	[ "$n" -ge $((lpsize / 65536)) ]
	[ "$n" -le $((lpsize / 65536 + 2)) ]
	# every batch stops at the first record that reaches 64K
	run -0 jq -r '.raw_len' "$FAKE_LOG"
	for len in "${lines[@]}"; do [ "$len" -lt $((65536 + 2000)) ]; done
	"$CHECK" seq "$FAKE_LOG" 1000 --window 3

	# 10 records a second for 2 s: with a 500 ms interval, batches of about 5
	rm "$FAKE_LOG"
	"$SEQ" --count 20 --over 2 | "$SHIP" --sink "$(dw)" --flush-interval 500
	n=$(requests)
	[ "$n" -ge 3 ] && [ "$n" -le 7 ]
	"$CHECK" seq "$FAKE_LOG" 20
}

@test "records without a time get the time they were read; session_replay goes apart from points" {
	start_fake_dataway
	before=$(date +%s%N)
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --metrics-file "$M" <<-'EOF'
		{"measurement":"view","tags":{"app_id":"a"},"fields":{"seq":0}}
		{"measurement":"session_replay","tags":{"app_id":"a"},"fields":{"body":"eA=="}}
		{"fields":{"seq":1},"measurement":"error","time":1636524715601000000}
		{"measurement":"session\u005freplay","tags":{"app_id":"a"},"fields":{"body":"eA=="}}
	EOF
	after=$(date +%s%N)
	"$CHECK" seq "$FAKE_LOG" 2
	t=$("$CHECK" bodies "$FAKE_LOG" | "$TOOLS/lptool" tojson | jq -s '.[0].time')
	[ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
	[ "$("$CHECK" bodies "$FAKE_LOG" | "$TOOLS/lptool" tojson | jq -s '.[1].time')" = 1636524715601000000 ]
	# not in a batch of points: the replay uploader takes them, the name
	# escaped or not (and finds no content_type in them; t/ship-replay.bats
	# sends real ones)
	[ "$(metric rum_ship_replay_invalid_total)" = 2 ]
	[[ "$stderr" == *"line 2: session_replay"* ]]
	[[ "$stderr" == *"line 4: session_replay"* ]]
}

@test "a sink that does not answer within --timeout is retried" {
	start_fake_dataway
	echo "slow 3" >"$FAKE_FAIL"
	(sleep 1.5 && rm -f "$FAKE_FAIL") &
	BG_PID=$!
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --timeout 1 --backoff-max 300 \
		--metrics-file "$M" < <("$SEQ" --count 100)
	wait "$BG_PID"
	[[ "$stderr" == *"imed out"* ]]
	[ "$(metric rum_ship_network_errors_total)" -ge 1 ]
	# the slow answers were logged by the fake too: delivered at least once
	"$CHECK" seq "$FAKE_LOG" 100 --dups 200
	[ "$(metric rum_ship_points_sent_total)" = 100 ]
}

@test "invalid and over-long lines are counted, reported with their line number, skipped" {
	start_fake_dataway
	{
		"$SEQ" --count 2
		echo 'not json'
		"$SEQ" --count 1 --start 2
		echo '{"measurement":"view","tags":{},"fields":{}}'
		python3 -c 'print("{\"measurement\":\"view\",\"fields\":{\"x\":\"" + "a" * 5000 + "\"}}")'
		echo '{"measurement":"view","tags":{"a":1},"fields":{"x":1}}'
		"$SEQ" --count 2 --start 3
	} >"$T/in.ndjson"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --max-line 4096 --metrics-file "$M" \
		<"$T/in.ndjson"
	[[ "$stderr" == *"line 3:"* ]]
	[[ "$stderr" == *"line 5:"* ]]
	[[ "$stderr" == *"line 6:"*"--max-line"* ]]
	[[ "$stderr" == *"line 7:"* ]]
	"$CHECK" seq "$FAKE_LOG" 5
	[ "$(metric 'rum_ship_invalid_lines_total{reason="record"}')" = 2 ]
	[ "$(metric 'rum_ship_invalid_lines_total{reason="too_long"}')" = 1 ]
	[ "$(metric 'rum_ship_invalid_lines_total{reason="no_fields"}')" = 1 ]
	[ "$(metric rum_ship_records_in_total)" = 6 ]
	[ "$(metric rum_ship_points_sent_total)" = 5 ]
}

@test "a 4xx answer is logged with its body and counted, the batch dropped, not retried" {
	start_fake_dataway
	echo 400 >"$FAKE_FAIL"
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --batch-size 100 --metrics-file "$M" \
		< <("$SEQ" --count 300)
	[ "$(requests)" = 3 ]
	[[ "$stderr" == *"HTTP 400"*"fake.400"* ]]
	[ "$(metric rum_ship_rejected_batches_total)" = 3 ]
	[ "$(metric rum_ship_rejected_points_total)" = 300 ]
	[ "$(metric 'rum_ship_responses_total{class="4xx"}')" = 3 ]
	[ "$(metric rum_ship_retries_total)" = 0 ]
	[ "$(metric rum_ship_points_sent_total)" = 0 ]
}

@test "5xx, 429 and dropped connections are retried until the sink takes the batch" {
	start_fake_dataway
	for how in 503 429 close; do
		rm -f "$FAKE_LOG"
		echo "$how" >"$FAKE_FAIL"
		(sleep 1.5 && rm -f "$FAKE_FAIL") &
		BG_PID=$!
		run -0 "$SHIP" --sink "$(dw)" --batch-size 100 --backoff-max 400 \
			--metrics-file "$M" < <("$SEQ" --count 1000)
		wait "$BG_PID"
		"$CHECK" seq "$FAKE_LOG" 1000 --window 3
		[ "$(jq -s 'map(select(.status != 200)) | length' "$FAKE_LOG")" -ge 2 ]
		[ "$(metric rum_ship_retries_total)" -ge 2 ]
		[ "$(metric rum_ship_points_sent_total)" = 1000 ]
	done
	[ "$(metric rum_ship_network_errors_total)" -ge 2 ]
}

@test "the sink refuses for 30 s under load: every point arrives once, in order, after it recovers" {
	not_under_sanitizers "tens of seconds of outage or a whole cluster"
	start_fake_dataway
	echo 503 >"$FAKE_FAIL"
	mkfifo "$T/pipe"
	"$SEQ" --count 50000 --over 30 >"$T/pipe" &
	FEED_PID=$!
	"$SHIP" --sink "$(dw)" --backoff-max 3000 --metrics-file "$M" <"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	sleep 30
	# still refusing: nothing accepted, the points wait in memory
	[ "$(jq -s 'map(select(.status == 200)) | length' "$FAKE_LOG")" = 0 ]
	[ "$(jq -s 'length' "$FAKE_LOG")" -ge 5 ]
	rm "$FAKE_FAIL"
	wait "$FEED_PID"
	FEED_PID=
	wait "$SHIP_PID"
	SHIP_PID=
	grep -q "sink is back" "$T/err"
	# in flight together, up to 4 requests may land in any order
	run -0 "$CHECK" seq "$FAKE_LOG" 50000 --window 3
	echo "$output"
	[ "$(metric rum_ship_points_sent_total)" = 50000 ]
	[ "$(metric rum_ship_lost_points_total)" = 0 ]
}

@test "recovery: after a 20 s outage of quick 503s the first retry reaches the sink within 3 s, without hammering it" {
	start_fake_dataway
	echo 503 >"$FAKE_FAIL"
	mkfifo "$T/pipe"
	"$SHIP" --sink "$(dw)" --batch-size 100 --metrics-file "$M" <"$T/pipe" 2>"$T/err" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$SEQ" --count 1000 >&7
	sleep 20
	back=$(date +%s.%N)
	rm "$FAKE_FAIL"
	wait_for 10 metric_is rum_ship_points_sent_total 1000
	exec 7>&-
	wait "$SHIP_PID"
	SHIP_PID=
	"$CHECK" seq "$FAKE_LOG" 1000 --window 4
	# The backoff grown over 20 s (16 s and more) would wait out most of
	# that again; a sink that failed fast is tried again every 1.2-2 s.
	python3 - "$FAKE_LOG" "$back" <<-'EOF'
		import json, sys
		log = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
		back = float(sys.argv[2])
		first = min(e["t"] for e in log if e["status"] == 200)
		failed = sum(1 for e in log if e["status"] != 200)
		print("first 2xx %.2f s after the sink was back; %d refused requests" % (first - back, failed))
		assert first - back <= 3, first - back
		# the 4 in flight at first, then one retry at a time, >= 1.2 s apart
		assert failed <= 4 + 20 / 1.2 + 1, failed
	EOF
}

@test "one request in flight: strictly in order through an outage" {
	start_fake_dataway
	echo close >"$FAKE_FAIL"
	(sleep 2 && echo 503 >"$FAKE_FAIL" && sleep 2 && rm -f "$FAKE_FAIL") &
	BG_PID=$!
	"$SEQ" --count 5000 --over 5 |
		"$SHIP" --sink "$(dw)" --max-inflight 1 --batch-size 200 --backoff-max 500
	wait "$BG_PID"
	"$CHECK" seq "$FAKE_LOG" 5000
}

@test "without a spool, a full memory queue stops the input (back-pressure)" {
	start_fake_dataway
	echo 503 >"$FAKE_FAIL"
	mkfifo "$T/pipe"
	"$SEQ" --count 40000 >"$T/pipe" &
	FEED_PID=$!
	"$SHIP" --sink "$(dw)" --memory-queue-mb 1 --gzip-level 0 --backoff-max 300 \
		--metrics-file "$M" <"$T/pipe" &
	SHIP_PID=$!
	sleep 3
	# 40000 records are ~28 MB of line protocol: far more than 1 MB
	wait_for 5 test -s "$M"
	in=$(metric rum_ship_records_in_total)
	[ "$in" -lt 20000 ]
	[ "$(metric rum_ship_memory_queue_bytes)" -ge 1048576 ]
	kill -0 "$FEED_PID" # the feeder is blocked on the pipe
	rm "$FAKE_FAIL"
	wait "$FEED_PID"
	FEED_PID=
	wait "$SHIP_PID"
	SHIP_PID=
	"$CHECK" seq "$FAKE_LOG" 40000 --window 3
}

@test "without a spool, the sink still down after --drain-timeout: exit 1 with the loss" {
	start_fake_dataway
	echo 503 >"$FAKE_FAIL"
	run --separate-stderr -1 "$SHIP" --sink "$(dw)" --drain-timeout 1 --batch-size 100 \
		--metrics-file "$M" < <("$SEQ" --count 250)
	[[ "$stderr" == *"250 points lost"* ]]
	[ "$(metric rum_ship_lost_points_total)" = 250 ]
}

@test "SIGTERM: the batch in hand is sent, exit 0" {
	start_fake_dataway
	mkfifo "$T/pipe"
	"$SHIP" --sink "$(dw)" --flush-interval 60000 <"$T/pipe" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$SEQ" --count 123 >&7
	sleep 0.5
	[ "$(lines "$FAKE_LOG")" = 0 ]
	kill -TERM "$SHIP_PID"
	rc=0
	wait "$SHIP_PID" || rc=$?
	SHIP_PID=
	[ "$rc" = 0 ]
	exec 7>&-
	"$CHECK" seq "$FAKE_LOG" 123
}

@test "spool: batches wait on disk while the sink is down, sent in order when it is back" {
	start_fake_dataway
	echo close >"$FAKE_FAIL"
	(sleep 2 && rm -f "$FAKE_FAIL") &
	BG_PID=$!
	"$SEQ" --count 20000 --over 5 |
		"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
			--backoff-max 500 --metrics-file "$M"
	wait "$BG_PID"
	run -0 "$CHECK" seq "$FAKE_LOG" 20000 --window 3
	[ "$(metric rum_ship_spool_entries)" = 0 ]
	[ "$(metric rum_ship_spool_dropped_batches_total)" = 0 ]
}

@test "spool: at the end with the sink down, exit 0 at once; the next run sends the rest" {
	start_fake_dataway
	echo 503 >"$FAKE_FAIL"
	start=$(date +%s)
	run --separate-stderr -0 "$SHIP" --sink "$(dw)" --spool-dir "$T/spool" \
		--spool-capacity-mb 100 < <("$SEQ" --count 3000)
	[ $(($(date +%s) - start)) -lt 10 ] # not the 30 s of --drain-timeout
	[[ "$stderr" == *"3 batches left"* ]]
	rm "$FAKE_FAIL"
	"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 </dev/null
	"$CHECK" seq "$FAKE_LOG" 3000 --window 3
}

@test "file: sink, SIGTERM: what was read is written, exit 0" {
	mkfifo "$T/pipe"
	"$SHIP" --sink "file:$T/out.ndjson" --flush-interval 60000 <"$T/pipe" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$SEQ" --count 100 >&7
	wait_for 5 lines_are "$T/out.ndjson" 100
	kill -TERM "$SHIP_PID"
	rc=0
	wait "$SHIP_PID" || rc=$?
	SHIP_PID=
	exec 7>&-
	[ "$rc" = 0 ]
}

@test "spool: the oldest batches are dropped and counted when it is full" {
	start_fake_dataway
	echo 503 >"$FAKE_FAIL"
	# ~700 bytes a point, 500 points a batch, gzip-level 0: ~350 KB a batch
	"$SEQ" --count 20000 | "$SHIP" --sink "$(dw)" --spool-dir "$T/spool" \
		--spool-capacity-mb 4 --batch-size 500 --gzip-level 0 --drain-timeout 0 \
		--metrics-file "$M"
	dropped=$(metric rum_ship_spool_dropped_batches_total)
	[ "$dropped" -gt 0 ]
	rm "$FAKE_FAIL"
	"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 4 --max-inflight 1 </dev/null
	# what is left is the newest batches, in order, up to the last point
	"$CHECK" bodies "$FAKE_LOG" | grep -o 'seq=[0-9]*i' | tr -dc '0-9\n' >"$T/got"
	[ "$(tail -1 "$T/got")" = 19999 ]
	sort -n -c "$T/got"
	[ "$(head -1 "$T/got")" -ge $((dropped * 500)) ]
}

@test "kill -9 with a queue on disk: restarted with the same spool, everything delivered" {
	start_fake_dataway
	echo 503 >"$FAKE_FAIL"
	mkfifo "$T/pipe"
	# Batches by count only: a timer flush while a slow (sanitizer) build
	# reads would cut a 21st batch and the count below would never hold.
	"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--batch-size 500 --flush-interval 60000 --metrics-file "$M" <"$T/pipe" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$SEQ" --count 10000 >&7
	# every point read and its batch on disk (the pipe stays open)
	wait_for 10 metric_is rum_ship_spool_entries 20
	kill -9 "$SHIP_PID"
	wait "$SHIP_PID" || true
	SHIP_PID=
	exec 7>&-
	rm "$FAKE_FAIL"
	run -0 "$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--metrics-file "$M" </dev/null
	"$CHECK" seq "$FAKE_LOG" 10000 --window 3
	[ "$(metric rum_ship_spool_entries)" = 0 ]
}

@test "kill -9 while sending: restarted, everything delivered, duplicates at most one window" {
	start_fake_dataway
	echo "slow 0.3" >"$FAKE_FAIL" # 4 requests in flight: ~13 batches a second
	mkfifo "$T/pipe"
	"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--batch-size 500 --flush-interval 100 --metrics-file "$M" <"$T/pipe" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$SEQ" --count 30000 >&7
	# all read and on disk (60 batches), some sent, some in flight
	wait_for 10 metric_is rum_ship_records_in_total 30000
	[ "$(lines "$FAKE_LOG")" -lt 60 ]
	kill -9 "$SHIP_PID"
	wait "$SHIP_PID" || true
	SHIP_PID=
	exec 7>&-
	before=$(lines "$FAKE_LOG")
	[ "$before" -ge 4 ]
	rm "$FAKE_FAIL"
	run -0 "$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 </dev/null
	# at least once; sent twice at most the 4 batches that were in flight
	"$CHECK" seq "$FAKE_LOG" 30000 --dups 2000 --window 4
}

@test "kill -9 with a batch half built: the input journal keeps what was read, the restart sends it" {
	start_fake_dataway
	mkfifo "$T/pipe"
	# Two batches of 500 go out; the last 250 records were read (out of the
	# pipe: gone from it) and wait in a batch in memory for a minute.
	"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--batch-size 500 --flush-interval 60000 --metrics-file "$M" <"$T/pipe" &
	SHIP_PID=$!
	exec 7>"$T/pipe"
	"$SEQ" --count 1250 >&7
	wait_for 10 metric_is rum_ship_records_in_total 1250
	wait_for 10 metric_is rum_ship_points_sent_total 1000
	kill -9 "$SHIP_PID"
	wait "$SHIP_PID" || true
	SHIP_PID=
	exec 7>&-
	[ "$("$CHECK" count "$FAKE_LOG")" = 2 ]
	run -0 --separate-stderr "$SHIP" --sink "$(dw)" --spool-dir "$T/spool" \
		--spool-capacity-mb 100 --metrics-file "$M" </dev/null
	[[ "$stderr" == *"input journal: "*" records from a previous run read again"* ]]
	# exactly the 250: the journal knows where in its reads the sealed
	# batches end, so none is sent twice and no half line is read
	[ "$(metric rum_ship_journal_recovered_records_total)" = 250 ]
	[ "$(metric 'rum_ship_invalid_lines_total{reason="record"}')" = 0 ]
	"$CHECK" seq "$FAKE_LOG" 1250 --window 4
	[ "$(metric rum_ship_journal_errors_total)" = 0 ]
	# and the journal is empty now: a third run sends nothing
	run -0 "$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 </dev/null
	"$CHECK" seq "$FAKE_LOG" 1250 --window 4
}

@test "input journal: a record split over two reads, the first half kept at a kill, joined with the rest" {
	start_fake_dataway
	mkfifo "$T/pipe"
	"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--batch-size 500 --flush-interval 60000 --metrics-file "$M" <"$T/pipe" &
	SHIP_PID=$!
	exec 7<>"$T/pipe"
	"$SEQ" --count 3 >"$T/in"
	head -c 1000 "$T/in" >&7
	wait_for 10 test -n "$(find "$T/spool/input" -name '*.seg' -size +900c)"
	kill -9 "$SHIP_PID"
	wait "$SHIP_PID" || true
	# the pipe (held by this shell) goes on with the rest of the record
	tail -c +1001 "$T/in" >&7
	"$SHIP" --sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 \
		--metrics-file "$M" <"$T/pipe" 7>&- &
	SHIP_PID=$!
	wait_for 10 metric_is rum_ship_records_in_total 3
	exec 7>&-
	wait "$SHIP_PID"
	SHIP_PID=
	"$CHECK" seq "$FAKE_LOG" 3
	[ "$(metric 'rum_ship_invalid_lines_total{reason="record"}')" = 0 ]
}

@test "--fsync batch: every append to the spool and the journal is fdatasync'ed before more input is read" {
	command -v strace >/dev/null || skip "no strace"
	start_fake_dataway
	"$SEQ" --count 1000 >"$T/in"
	# What this proves: the order of the system calls (each write of an
	# entry is followed by fdatasync of its file before the next read of
	# standard input), not that the disk honours fdatasync; a file system
	# that drops unsynced writes (dm-flakey) needs root and a block device.
	# (LeakSanitizer cannot run under ptrace: off for this run)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run -0 strace -f -y -o "$T/trace" -e trace=read,writev,fdatasync,fsync "$SHIP" \
		--sink "$(dw)" --spool-dir "$T/spool" --spool-capacity-mb 100 --fsync batch \
		--batch-size 100 <"$T/in"
	"$CHECK" seq "$FAKE_LOG" 1000 --window 4
	python3 - "$T/trace" <<-'EOF'
		import re, sys
		pending = {}  # pid -> segment written and not yet synced
		writes = syncs = 0
		for l in open(sys.argv[1]):
		    m = re.match(r"(\d+)\s+(\w+)\((\d+)<([^>]*)>", l)
		    if not m:
		        continue
		    pid, call, path = m.group(1), m.group(2), m.group(4)
		    if call == "writev" and path.endswith(".seg"):
		        assert pid not in pending, "two writes without a sync: " + l
		        pending[pid] = path
		        writes += 1
		    elif call == "fdatasync" and path.endswith(".seg"):
		        assert pending.get(pid) == path, "sync of another file: " + l
		        del pending[pid]
		        syncs += 1
		    elif call == "read" and m.group(3) == "0":
		        assert pid not in pending, "input read before the sync: " + l
		assert not pending, pending
		assert writes >= 11 and syncs == writes, (writes, syncs)  # 10 batches + the journal
		print("writes", writes, "syncs", syncs)
	EOF
	run -2 "$SHIP" --fsync sometimes
	[[ "$output" == *"--fsync"*"never, batch or interval:MS"* ]]
	run -2 "$SHIP" --fsync interval:0
	[[ "$output" == *"--fsync"* ]]
}

@test "bad options exit 2 naming the option" {
	run -2 "$SHIP" --batch-size 0
	[[ "$output" == *"--batch-size"* ]]
	run -2 "$SHIP" --batch-size lots
	[[ "$output" == *"--batch-size"* ]]
	run -2 "$SHIP" --sink ftp://example.com/
	[[ "$output" == *"--sink"* ]]
	run -2 "$SHIP" --sink "http://"
	[[ "$output" == *"--sink"* ]]
	run -2 "$SHIP" --sink "http://127.0.0.1:99999/?token=x"
	[[ "$output" == *"--sink"* ]]
	run -2 "$SHIP" --sink "file:"
	[[ "$output" == *"--sink"* ]]
	run -2 "$SHIP" --spool-dir "$T/s"
	[[ "$output" == *"--spool-capacity-mb"* ]]
	run -2 "$SHIP" --spool-capacity-mb 10
	[[ "$output" == *"--spool-dir"* ]]
	run -2 "$SHIP" --gzip-level 10
	[[ "$output" == *"--gzip-level"* ]]
	run -2 "$SHIP" --max-inflight 0
	[[ "$output" == *"--max-inflight"* ]]
	run -2 "$SHIP" --flush-interval -5
	[[ "$output" == *"--flush-interval"* ]]
	run -2 "$SHIP" --no-such-option
	[[ "$output" == *"--no-such-option"* ]]
	RUM_BATCH_BYTES=huge run -2 "$SHIP"
	[[ "$output" == *"RUM_BATCH_BYTES"* ]]
	run -2 "$SHIP" extra-operand
	[[ "$output" == *"extra-operand"* ]]
	run -0 "$SHIP" --sink "http://127.0.0.1:1/?token=x" --check-config
	run -2 "$SHIP" --sink "gopher://x" --check-config
}

@test "--help and the man page name every option" {
	run -0 "$SHIP" --help
	opts=$(grep -o -- '--[a-z][a-z-]*' <<<"$output" | sort -u)
	[ -n "$opts" ]
	for o in $opts; do
		grep -q -- "$(sed 's/-/\\\\-/g' <<<"$o")" "$TOP/share/man/rum-ship.1" ||
			{ echo "man page lacks $o"; false; }
	done
	for o in --sink --batch-size --batch-bytes --flush-interval --spool-dir \
		--spool-capacity-mb --max-inflight --timeout --drain-timeout --memory-queue-mb \
		--metrics-file --max-line --log-level --version; do
		grep -q -- "$o" <<<"$opts"
	done
	run -0 "$SHIP" --version
	[[ "$output" == "rum-ship "* ]]
}
