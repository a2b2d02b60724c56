#!/usr/bin/env bats
# rum-replay-filter --pull: the workspace's filters pulled from (the fake)
# Dataway as DataKit pulls them, dropping every RUM record and replay they
# match; the last good set kept through failures and rules that do not
# parse.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	F=$BIN/rum-replay-filter
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
	FILTERS=$T/filters.json
	MARK=0
}

teardown() {
	exec 7>&- 2>/dev/null || true
	[ -n "${F_PID:-}" ] && stop_pid "$F_PID" KILL
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	true
}

# serve JSON: the fake Dataway answers the filter pull with JSON from now on
# (the file replaced at once, never seen half-written).
serve() {
	printf '%s\n' "$1" >"$FILTERS.tmp"
	mv "$FILTERS.tmp" "$FILTERS"
}

# rum_rules RULE...: an answer with these rules for rum (and one for a
# category rumpipe does not carry).
rum_rules() {
	jq -cn --args '{filters: {rum: $ARGS.positional, logging: ["{ status = '"'"'debug'"'"' }"]}}' "$@"
}

start() {
	start_fifo_stage F_PID 7 "$F" --pull "$(dw)" --metrics-file "$M" "$@"
}

# taken N: the record path has taken its Nth pulled set.
taken() { wait_for 15 count_at_least "$1" grep -c "rules pulled from Dataway for rum" "$T/err"; }

# rec MEASUREMENT TAGS: a record.
rec() { printf '{"measurement":"%s","tags":%s,"fields":{"n":1},"time":1}' "$1" "$2"; }

# send RECORD...: the records, then a marker that no rule drops; returns
# once the marker is out, every record before it decided.
send() {
	MARK=$((MARK + 1))
	printf '%s\n' "$@" "$(rec marker "{\"n\":\"$MARK\"}")" >&7
	wait_for 10 grep -q "\"n\":\"$MARK\"" "$T/out"
}

# out: what came out since the last `clear`, markers left out.
SEEN=0
out() { tail -n +$((SEEN + 1)) "$T/out" | grep -v '"marker"' || true; }
clear() { SEEN=$(lines "$T/out"); }

# pulls RESULT: the count of pulls with that outcome in the metrics file.
pulls() { metric "rum_replay_filter_pulls_total{result=\"$1\"}"; }

@test "pulled filters drop the RUM records and replays they match (source and category as DataKit shows them), beside --rule" {
	serve "$(rum_rules "{ source = 'view' and env = 'prod' }" "{ app_id = 'blocked' }" \
		"{ category = 'rum', version = 'v0' }")"
	start_fake_dataway --filters-file "$FILTERS"
	start --pull-interval 200 --rule "{ service = 'local' }"
	taken 1
	local keep1 keep2 keep3 keep4
	keep1=$(rec view '{"app_id":"a","env":"test"}')
	keep2=$(rec action '{"app_id":"a","env":"prod"}')
	keep3=$(rec session_replay '{"app_id":"a","env":"prod","source":"browser"}')
	keep4=$(rec view '{"app_id":"a","service":"local"}')
	send "$(rec view '{"app_id":"a","env":"prod"}')" "$keep1" "$keep2" \
		"$(rec session_replay '{"app_id":"blocked"}')" "$keep3" \
		"$(rec resource '{"app_id":"blocked"}')" \
		"$(rec session_replay '{"app_id":"a","service":"local"}')" "$keep4" \
		"$(rec error '{"app_id":"a","version":"v0"}')"
	diff <(printf '%s\n' "$keep1" "$keep2" "$keep3" "$keep4") <(out)
	exec 7>&-
	wait "$F_PID"
	F_PID=
	[ "$(metric rum_replay_filter_pulled_dropped_total)" = 4 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="blocked"}')" = 2 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="a"}')" = 3 ]
	[ "$(metric rum_replay_filter_pulled_rules)" = 3 ]
	[ "$(metric rum_replay_filter_rules)" = 1 ]
	# DataKit's request: GET /v1/datakit/pull?token=...&filters=true
	jq -e -s 'length >= 1 and all(.[]; .method == "GET" and .path == "/v1/datakit/pull"
		and .query == "token=tkn_test&filters=true")' "$FAKE_LOG"
}

@test "a pulled rule that does not parse, or an answer that is not DataKit's JSON, keeps the last good set; the next good one is taken" {
	serve "$(rum_rules "{ app_id = 'a' }")"
	start_fake_dataway --filters-file "$FILTERS"
	start --pull-interval 200
	taken 1
	serve "$(rum_rules "{ app_id = 'b' }" "{ app_id = }")"
	wait_for 10 grep -q "rule 2 of filters.rum '{ app_id = }': column 12: expected a value" "$T/err"
	grep -q "the 1 pulled rules in use stay" "$T/err"
	send "$(rec view '{"app_id":"a"}')" "$(rec view '{"app_id":"b"}')"
	diff <(rec view '{"app_id":"b"}'; echo) <(out)
	serve '{"filters": {"rum": "{ app_id = '"'"'b'"'"' }"}}'
	wait_for 10 grep -q "filters.rum is not a list" "$T/err"
	serve '{"filters": {"rum": ['
	# (the line of the answer before may say "at byte" too: count them)
	wait_for 10 count_at_least 2 pulls answer
	grep -q "pull from .*: .* at byte" "$T/err"
	clear
	send "$(rec view '{"app_id":"a"}')" "$(rec view '{"app_id":"b"}')"
	diff <(rec view '{"app_id":"b"}'; echo) <(out)
	serve "$(rum_rules "{ app_id = 'b' }" "{ env in [] }" '{ service = re(`^c[a-z]+t$`) }')"
	taken 2
	clear
	send "$(rec view '{"app_id":"a"}')" "$(rec view '{"app_id":"b"}')" "$(rec view '{"service":"cat"}')"
	diff <(rec view '{"app_id":"a"}'; echo) <(out)
	wait_for 10 count_at_least 2 pulls new
	# Each bad answer is counted at every pull that got it: at least once
	# each, more when the machine is slow to serve the next one.
	[ "$(pulls rule)" -ge 1 ]
	[ "$(pulls answer)" -ge 2 ]
	[ "$(metric rum_replay_filter_pulled_rules)" = 3 ]
}

@test "Dataway failing, closing or down: the last good set kept; back up, the changed list taken within the interval" {
	serve "$(rum_rules "{ app_id = 'a' }")"
	start_fake_dataway --filters-file "$FILTERS"
	local port=$FAKE_PORT
	start --pull-interval 300
	taken 1
	echo 503 >"$FAKE_FAIL"
	wait_for 10 grep -q "HTTP 503" "$T/err"
	echo close >"$FAKE_FAIL"
	wait_for 10 count_at_least 1 pulls network
	stop_pid "$FAKE_PID"
	FAKE_PID=
	rm -f "$FAKE_FAIL"
	local n
	n=$(pulls network)
	wait_for 10 count_at_least $((n + 2)) pulls network
	send "$(rec view '{"app_id":"a"}')" "$(rec view '{"app_id":"b"}')"
	diff <(rec view '{"app_id":"b"}'; echo) <(out)
	# back, serving another list: taken at the next pull
	serve "$(rum_rules "{ app_id = 'b' }")"
	start_fake_dataway --filters-file "$FILTERS" --port "$port"
	local t0
	t0=$(date +%s.%N)
	taken 2
	jq -e -s --argjson t0 "$t0" '[.[] | select(.status == 200)] | .[0].t - $t0 < 1.5' "$FAKE_LOG"
	clear
	send "$(rec view '{"app_id":"a"}')" "$(rec view '{"app_id":"b"}')"
	diff <(rec view '{"app_id":"a"}'; echo) <(out)
	[ "$(pulls status)" -ge 1 ]
}

@test "a change of the served list takes effect within the interval" {
	serve "$(rum_rules "{ app_id = 'a' }")"
	start_fake_dataway --filters-file "$FILTERS"
	start --pull-interval 500
	taken 1
	local t0
	t0=$(date +%s.%N)
	serve "$(rum_rules "{ app_id = 'c' }")"
	# the first answer with the new list goes out within the interval
	wait_for 10 grep -q "app_id = 'c'" "$FAKE_LOG"
	jq -e -s --argjson t0 "$t0" '[.[] | select(.answer | contains("app_id = '"'"'c'"'"'"))]
		| .[0].t - $t0 < 0.5 + 1' "$FAKE_LOG"
	# and the next record meets it
	taken 2
	send "$(rec view '{"app_id":"a"}')" "$(rec view '{"app_id":"c"}')"
	diff <(rec view '{"app_id":"a"}'; echo) <(out)
	# the same answer again is not a new set
	sleep 1.2
	[ "$(grep -c "rules pulled from Dataway for rum" "$T/err")" = 2 ]
}

@test "Dataway's pull_interval replaces --pull-interval, as in DataKit" {
	serve '{"filters": {"rum": []}, "pull_interval": 1000000000}'
	start_fake_dataway --filters-file "$FILTERS"
	start --pull-interval 60000
	taken 1
	wait_for 10 count_at_least 3 jq -s length "$FAKE_LOG"
	grep -q "Dataway sets the interval to 1000 ms" "$T/err"
}

@test "SIGTERM while a pull hangs: the program ends at once" {
	start_fake_dataway --filters-file "$FILTERS"
	echo "slow 30" >"$FAKE_FAIL"
	start --pull-interval 200
	wait_for 10 count_at_least 1 jq -s length "$FAKE_LOG"
	send "$(rec view '{"app_id":"a"}')"
	local t0=$SECONDS rc=0
	kill -TERM "$F_PID"
	wait "$F_PID" || rc=$?
	F_PID=
	[ "$rc" = 0 ]
	[ $((SECONDS - t0)) -le 5 ] # the hanging answer would take 30 s
	[ "$(out)" = "$(rec view '{"app_id":"a"}')" ]
}

@test "--pull takes a Dataway URL: bad ones are refused at start with the reason" {
	run -2 "$F" --check-config --pull "ftp://dataway.test/?token=x" </dev/null
	[[ $output == *"--pull ftp://dataway.test/?token=x: not an http:// or https:// URL"* ]]
	run -2 "$F" --check-config --pull "http://" </dev/null
	[[ $output == *"--pull http://: not a valid URL"* ]]
	run -2 "$F" --check-config --pull "http://dw.test/?token=x" --pull-interval 10 </dev/null
	[[ $output == *"pull-interval"* ]]
	run -0 "$F" --check-config --pull "https://dw.test/prefix/v1/write/rum?token=x" </dev/null
}
