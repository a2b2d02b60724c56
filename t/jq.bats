#!/usr/bin/env bats
# rum-jq: jq programs (libjq) over records, against the jq command line
# running the same programs on the same records.

load lib/common
bats_require_minimum_version 1.5.0

APP=appid_7c1e0b9a4f2d4e8c9b6a5d3f1e2c4b7a # the app of t/data/web-batch.lp

setup_file() {
	local D=$BATS_FILE_TMPDIR
	# The fixture batch as records, with the client addresses rum-listen
	# would have added (one IPv6), and a view of a single-page app.
	"$TOOLS/lptool" tojson -p ms <"$BATS_TEST_DIRNAME/data/web-batch.lp" >"$D/batch.raw"
	awk 'NR % 3 == 0 { sub(/"tags":\{/, "\"tags\":{\"ip\":\"2001:db8:85a3::8a2e:370:7334\","); print; next }
	     { sub(/"tags":\{/, "\"tags\":{\"ip\":\"203.0.113." NR "\","); print }' "$D/batch.raw" >"$D/batch"
	printf '%s\n' '{"measurement":"view","tags":{"app_id":"a9","session_id":"s1","view_url":"https://x.test/#/orders/1234/items/5?tab=2","view_path":"/"},"fields":{"loading_time":1.0},"time":1700000000000000001}' >>"$D/batch"
	# Many sessions, apps and measurements.
	"$TOOLS/gen-records" 600 >"$D/mix"
}

setup() {
	J=$BIN/rum-jq
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
	B=$BATS_FILE_TMPDIR/batch
	EX=$TOP/share/rum-jq
}

teardown() {
	if [ -n "${F_PID:-}" ]; then
		# TERM first: a collector then stops its stages.
		kill -TERM "$F_PID" 2>/dev/null || true
		wait_for 30 eval '! kill -0 "$F_PID" 2>/dev/null' || true
		stop_pid "$F_PID" KILL
	fi
	true
}

# to FILE COMMAND...: COMMAND's standard output into FILE (for run, which
# then has its standard error).
to() {
	local out=$1
	shift
	"$@" >"$out"
}

# rec MEASUREMENT APP_ID [N]: one record.
rec() {
	printf '{"measurement":"%s","tags":{"app_id":"%s","n":"%s"},"fields":{"f":1.0,"i":3},"time":1733600000123456789}\n' \
		"$1" "$2" "${3:-0}"
}

@test "the examples give what jq -c gives on the fixture batch and a generated mix" {
	local ex input
	for ex in pii view_path_group sample_resource route_errors; do
		for input in "$B" "$BATS_FILE_TMPDIR/mix"; do
			"$J" --file "$EX/$ex.jq" <"$input" >"$T/ours" 2>"$T/err"
			jq -c -f "$EX/$ex.jq" "$input" >"$T/theirs"
			# The one documented difference: jq prints numbers its own way
			# (0.0 as 0); ours keep the record's tokens. Read by jq, the
			# same values line for line.
			jq -c . "$T/ours" >"$T/ours.jq"
			cmp "$T/ours.jq" "$T/theirs" || { echo "$ex on $input differs" >&2; diff "$T/ours.jq" "$T/theirs" | head >&2; false; }
			[ ! -s "$T/err" ]
		done
	done
	# What they did, spot-checked.
	"$J" --file "$EX/pii.jq" <"$B" >"$T/pii"
	! grep -q '"userid"' "$T/pii"
	grep -q '"ip":"203.0.113.0"' "$T/pii"
	grep -q '"ip":"2001:db8::"' "$T/pii"
	"$J" --file "$EX/view_path_group.jq" <"$B" | tail -1 | grep -q '"view_path_group":"/orders/?/items/?"'
	run -0 --separate-stderr "$J" --file "$EX/sample_resource.jq" <"$BATS_FILE_TMPDIR/mix"
	local kept
	kept=$(printf '%s\n' "$output" | grep -c '"measurement":"resource"')
	[ "$kept" -gt 0 ] && [ "$kept" -lt "$(grep -c '"measurement":"resource"' "$BATS_FILE_TMPDIR/mix")" ]
	"$J" --file "$EX/route_errors.jq" <"$B" | grep -c '"measurement":"error_checkout".*"source_measurement":"error"' | grep -qx 2
}

@test "installed under their names in --dir, the examples run on their own records" {
	mkdir "$T/d"
	cp "$EX/pii.jq" "$T/d/default.jq"
	cp "$EX/view_path_group.jq" "$T/d/view.jq"
	cp "$EX/route_errors.jq" "$T/d/${APP}_error.jq"
	run -0 to "$T/out" "$J" --dir "$T/d" --metrics-file "$M" <"$B"
	[ "$(grep -c . "$T/out")" = "$(grep -c . "$B")" ]
	# view.jq, not default.jq, for the views: their userid stays.
	[ "$(grep '"measurement":"view"' "$T/out" | grep -c '"userid"')" = 1 ]
	grep -q '"measurement":"error_checkout"' "$T/out"
	[ "$(grep -v '"measurement":"view"' "$T/out" | grep -v error_checkout | grep -c '"userid"')" = 0 ]
	[ "$(metric 'rum_jq_records_total{program="view.jq"}')" = 2 ]
	[ "$(metric "rum_jq_records_total{program=\"${APP}_error.jq\"}")" = 2 ]
	[ "$(metric 'rum_jq_records_total{program="default.jq"}')" = 6 ]
	[ "$(metric rum_jq_records_in_total)" = 10 ]
	[ "$(metric rum_jq_passed_total)" = 0 ]
}

@test "dispatch: <app_id>_<measurement>.jq, then <measurement>.jq, then default.jq, then PROGRAM" {
	mkdir "$T/d"
	echo '.tags.by = "a1_view"' >"$T/d/a1_view.jq"
	echo '.tags.by = "view"' >"$T/d/view.jq"
	echo '.tags.by = "a1_long_task"' >"$T/d/a1_long_task.jq"
	echo '.tags.by = "long_task"' >"$T/d/long_task.jq"
	echo 'this is no program' >"$T/d/.view.jq.swp"
	{ rec view a1 1; rec view a2 2; rec long_task a1 3; rec long_task a1_long 4; rec error a1 5; } >"$T/in"
	run -0 to "$T/out" "$J" --dir "$T/d" <"$T/in"
	run jq -r '.tags.n + " " + (.tags.by // "-")' "$T/out"
	[ "$output" = $'1 a1_view\n2 view\n3 a1_long_task\n4 long_task\n5 -' ]
	# No program for error: that record passed byte for byte.
	[ "$(sed -n 5p "$T/out")" = "$(sed -n 5p "$T/in")" ]

	echo '.tags.by = "default"' >"$T/d/default.jq"
	run -0 to "$T/out" "$J" --dir "$T/d" '.tags.by = "PROGRAM"' <"$T/in"
	[ "$(jq -r .tags.by "$T/out" | tr '\n' ' ')" = "a1_view view a1_long_task long_task default " ]
	rm "$T/d/default.jq"
	run -0 to "$T/out" "$J" --dir "$T/d" '.tags.by = "PROGRAM"' <"$T/in"
	[ "$(jq -r .tags.by "$T/out" | tr '\n' ' ')" = "a1_view view a1_long_task long_task PROGRAM " ]
}

@test "records no program matches pass byte for byte, whatever their spacing and escapes" {
	mkdir "$T/d"
	echo '.tags.x = "y"' >"$T/d/nothing_here.jq"
	cat "$B" "$BATS_FILE_TMPDIR/mix" >"$T/in"
	printf '%s\n' ' { "time" : 1 , "fields" : { "a\u0062" : 1.50 } , "measurement" : "vi\u0065w" , "tags" : { "app_id" : "x" } } ' \
		'{"measurement":"resource","tags":{"app_id":"a\"b"},"fields":{"big":12345678901234567890.0}}' >>"$T/in"
	run -0 to "$T/out" "$J" --dir "$T/d" --metrics-file "$M" <"$T/in"
	cmp "$T/in" "$T/out"
	[ "$(metric rum_jq_passed_total)" = "$(grep -c . "$T/in")" ]
	[ -z "$(metric 'rum_jq_records_total{program="nothing_here.jq"}')" ] || [ "$(metric 'rum_jq_records_total{program="nothing_here.jq"}')" = 0 ]
}

@test "a program emits nothing (dropped), one record or several, each counted" {
	{ rec view a1 1; rec view a1 2; rec view a1 3; } >"$T/in"
	run -0 to "$T/out" "$J" --metrics-file "$M" 'if .tags.n == "1" then empty elif .tags.n == "2" then . else (., .tags.copy = "b", .tags.copy = "c") end' <"$T/in"
	run jq -r '.tags.n + (.tags.copy // "")' "$T/out"
	[ "$output" = $'2\n3\n3b\n3c' ]
	# The record emitted unchanged is its own bytes.
	[ "$(sed -n 1p "$T/out")" = "$(sed -n 2p "$T/in")" ]
	[ "$(metric 'rum_jq_records_total{program="PROGRAM"}')" = 3 ]
	[ "$(metric 'rum_jq_transformed_total{program="PROGRAM"}')" = 3 ]
	[ "$(metric 'rum_jq_dropped_total{program="PROGRAM"}')" = 1 ]
	[ "$(metric 'rum_jq_emitted_total{program="PROGRAM"}')" = 4 ]
}

@test "numbers: the record's own tokens for unchanged values, integers for integral results" {
	rec view a1 >"$T/in"
	run -0 --separate-stderr "$J" '.fields.i += 1 | .fields.h = (.fields.i / 8) | .fields.k = 2.0 | .time |= . + 0' <"$T/in"
	[ "$output" = '{"measurement":"view","tags":{"app_id":"a1","n":"0"},"fields":{"f":1.0,"i":4,"h":0.5,"k":2},"time":1733600000123456789}' ]
	# jq itself: the float 1.0 is 1, the time loses its last digits.
	[ "$(jq -c '.fields.f, .time' "$T/in" | tr '\n' ' ')" = "1 1733600000123456800 " ]
}

@test "what a program emits must be a record: else the original passes, counted and reported" {
	{ rec view a1 1; rec view a1 2; rec view a1 3; rec view a1 4; rec view a1 5; rec view a1 6; rec view a1 7; } >"$T/in"
	cat >"$T/p.jq" <<-'EOF'
		if .tags.n == "1" then .tags.bad = 1
		elif .tags.n == "2" then .measurement = ""
		elif .tags.n == "3" then "a string"
		elif .tags.n == "4" then .fields.o = {"a": 1}
		elif .tags.n == "5" then (., del(.measurement))
		elif .tags.n == "6" then .time = 1.5
		else error("no \(.tags.n)") end
	EOF
	# Five messages a second at most: two runs.
	head -5 "$T/in" >"$T/in1"
	run -0 to "$T/out" "$J" --file "$T/p.jq" --metrics-file "$M" <"$T/in1"
	cmp "$T/in1" "$T/out"
	grep -q "$T/p.jq: line 1: tags.bad: a number, not a string; the record passes" <<<"$output"
	grep -q "line 2: measurement: an empty string" <<<"$output"
	grep -q "line 3: emitted a string, not a record" <<<"$output"
	grep -q "line 4: fields.o: an object, not a string, number or boolean" <<<"$output"
	grep -q "line 5: no measurement" <<<"$output"
	[ "$(metric "rum_jq_errors_total{program=\"$T/p.jq\",reason=\"invalid\"}")" = 5 ]
	tail -2 "$T/in" >"$T/in2"
	run -0 to "$T/out" "$J" --file "$T/p.jq" --metrics-file "$M" <"$T/in2"
	cmp "$T/in2" "$T/out"
	grep -q "line 1: time: 1.5 is not an integer" <<<"$output"
	grep -q "line 2: no 7; the record passes" <<<"$output"
	[ "$(metric "rum_jq_errors_total{program=\"$T/p.jq\",reason=\"invalid\"}")" = 1 ]
	[ "$(metric "rum_jq_errors_total{program=\"$T/p.jq\",reason=\"runtime\"}")" = 1 ]
	[ "$(metric "rum_jq_emitted_total{program=\"$T/p.jq\"}")" = 0 ]
}

@test "--on-error drop drops the records a program fails on" {
	{ rec view a1 1; rec view a1 2; rec view a1 3; } >"$T/in"
	run -0 to "$T/out" "$J" --on-error drop --metrics-file "$M" 'if .tags.n == "2" then .tags.x = [] else . end' <"$T/in"
	[ "$(jq -r .tags.n "$T/out" | tr '\n' ' ')" = "1 3 " ]
	grep -q 'PROGRAM: line 2: tags.x: an array, not a string; the record is dropped' <<<"$output"
	[ "$(metric 'rum_jq_errors_total{program="PROGRAM",reason="invalid"}')" = 1 ]
	run -2 "$J" --on-error keep .
	[[ $output == *"--on-error"*"not pass or drop"* ]]
}

@test "a program that loops is stopped after --max-ms, counted, and the next record goes on" {
	{ rec view a1 1; rec view a1 2; rec view a1 3; } >"$T/in"
	local start=$SECONDS
	run -0 to "$T/out" timeout 30 "$J" --max-ms 300 --metrics-file "$M" \
		'if .tags.n == "2" then until(false; .) elif .tags.n == "3" then .tags.x = ([range(1e9)] | length | tostring) else .tags.ok = "y" end' \
		<"$T/in"
	((SECONDS - start < 20))
	[ "$(jq -r '.tags.n + (.tags.ok // "")' "$T/out" | tr '\n' ' ')" = "1y 2 3 " ]
	[ "$(metric 'rum_jq_errors_total{program="PROGRAM",reason="timeout"}')" = 2 ]
	grep -q 'PROGRAM: line 2: stopped after --max-ms 300 ms; the record passes' <<<"$output"
}

@test "a program that does not compile at start: exit 2 with jq's message" {
	run -2 "$J" '.a |||'
	[[ $output == *"rum-jq: error: PROGRAM: jq: error: syntax error, unexpected '|'"*"line 1:"* ]]
	echo 'def f: nosuch(1); f' >"$T/p.jq"
	run -2 "$J" --file "$T/p.jq"
	[[ $output == *"--file $T/p.jq: jq: error: nosuch/1 is not defined"* ]]
	mkdir "$T/d"
	echo '.' >"$T/d/view.jq"
	echo '{' >"$T/d/error.jq"
	run -2 "$J" --dir "$T/d"
	[[ $output == *"--dir $T/d: error.jq: jq: error: syntax error"* ]]
	run -2 "$J" --check-config --dir "$T/d"
	# Many errors: the first ones, cut to a message's length.
	run -2 "$J" "$(for i in $(seq 1 40); do printf 'nosuch%d(1) | ' "$i"; done) ."
	[[ $output == *"PROGRAM: jq: error: nosuch1/1 is not defined at <top-level>, line 1:"*... ]]
	run -2 "$J"
	[[ $output == *"no program"* ]]
	run -2 "$J" --file "$T/p.jq" .
	[[ $output == *"both PROGRAM and --file"* ]]
}

@test "hot reload: a program added, changed, broken and removed under a running stage" {
	mkdir "$T/d"
	start_fifo_stage F_PID 7 "$J" --dir "$T/d" --metrics-file "$M"
	wait_for 20 grep -q -- "--dir $T/d: 0 programs" "$T/err"
	rec view a1 1 >&7
	wait_for 20 lines_are "$T/out" 1
	[ "$(sed -n 1p "$T/out")" = "$(rec view a1 1)" ]

	echo '.tags.v = "one"' >"$T/d/view.jq.tmp"
	mv "$T/d/view.jq.tmp" "$T/d/view.jq"
	wait_for 20 grep -q "view.jq added" "$T/err"
	rec view a1 2 >&7
	wait_for 20 lines_are "$T/out" 2
	[ "$(sed -n 2p "$T/out" | jq -r .tags.v)" = one ]

	echo '.tags.v = "two"' >"$T/d/view.jq"
	wait_for 20 grep -q "view.jq changed: compiled again" "$T/err"
	rec view a1 3 >&7
	wait_for 20 lines_are "$T/out" 3
	[ "$(sed -n 3p "$T/out" | jq -r .tags.v)" = two ]

	echo '.tags.v = ' >"$T/d/view.jq"
	wait_for 20 grep -q "view.jq: jq: error: syntax error.*keeping the version in use" "$T/err"
	rec view a1 4 >&7
	wait_for 20 lines_are "$T/out" 4
	[ "$(sed -n 4p "$T/out" | jq -r .tags.v)" = two ]

	rm "$T/d/view.jq"
	wait_for 20 grep -q "view.jq removed" "$T/err"
	rec view a1 5 >&7
	wait_for 20 lines_are "$T/out" 5
	[ "$(sed -n 5p "$T/out")" = "$(rec view a1 5)" ]

	# SIGHUP reads it again too: a change inotify on --dir cannot see, in
	# the file behind a symbolic link.
	echo '.tags.v = "three"' >"$T/target.jq"
	ln -s "$T/target.jq" "$T/d/view.jq"
	wait_for 20 count_at_least 2 grep -c "view.jq added" "$T/err"
	echo '.tags.v = "four"' >"$T/target.jq"
	rec view a1 6 >&7
	wait_for 20 lines_are "$T/out" 6
	[ "$(sed -n 6p "$T/out" | jq -r .tags.v)" = three ]
	kill -HUP "$F_PID"
	wait_for 20 count_at_least 2 grep -c "view.jq changed: compiled again" "$T/err"
	rec view a1 7 >&7
	wait_for 20 lines_are "$T/out" 7
	[ "$(sed -n 7p "$T/out" | jq -r .tags.v)" = four ]

	exec 7>&-
	wait "$F_PID"
	F_PID=
	[ "$(metric 'rum_jq_compile_errors_total{program="view.jq"}')" = 1 ]
	[ "$(metric rum_jq_programs)" = 1 ]
}

@test "SIGHUP reads --file again; a version that does not compile keeps the one in use" {
	echo '.tags.v = "one"' >"$T/p.jq"
	start_fifo_stage F_PID 7 "$J" --file "$T/p.jq" --metrics-file "$M"
	rec view a1 1 >&7
	wait_for 20 lines_are "$T/out" 1
	echo '.tags.v = "two"' >"$T/p.jq"
	kill -HUP "$F_PID"
	wait_for 20 grep -q "SIGHUP: --file $T/p.jq compiled again" "$T/err"
	rec view a1 2 >&7
	wait_for 20 lines_are "$T/out" 2
	echo '.tags.v = (' >"$T/p.jq"
	kill -HUP "$F_PID"
	wait_for 20 grep -q "SIGHUP: --file $T/p.jq: jq: error: syntax error.*keeping the version in use" "$T/err"
	rec view a1 3 >&7
	wait_for 20 lines_are "$T/out" 3
	[ "$(jq -r .tags.v "$T/out" | tr '\n' ' ')" = "one two two " ]
	exec 7>&-
	wait "$F_PID"
	F_PID=
	[ "$(metric "rum_jq_compile_errors_total{program=\"$T/p.jq\"}")" = 1 ]
}

@test "a program sees \$ENV and \$__loc__ as jq gives them" {
	rec view a1 >"$T/in"
	run -0 --separate-stderr env RUMJQ_TEST=hello "$J" '.tags.env = $ENV.RUMJQ_TEST | .tags.line = ($__loc__.line | tostring)' <"$T/in"
	[ "$(jq -r '.tags.env + " " + .tags.line' <<<"$output")" = "hello 1" ]
}

@test "invalid input lines are dropped and counted, as in every stage" {
	printf '%s\n' 'not json' '{"tags":{}}' >"$T/in"
	rec view a1 >>"$T/in"
	run -0 to "$T/out" "$J" --metrics-file "$M" . <"$T/in"
	[ "$(cat "$T/out")" = "$(rec view a1)" ]
	[ "$(metric 'rum_jq_invalid_lines_total{reason="record"}')" = 2 ]
}

# collector_conf: a configuration in $T/c.conf (more lines on stdin).
collector_conf() {
	{
		printf 'data_dir = "%s"\nrestart_backoff_max = 2\ndrain_timeout = 20\n' "$T/data"
		printf '[listen]\nlisten = "127.0.0.1:0"\n[ship]\nsink = "file:%s"\nflush_interval = 100\n' "$T/records.ndjson"
		cat
	} >"$T/c.conf"
}

@test "collector: [jq] places rum-jq after rum-symbolicate, before rum-ship, with its keys" {
	collector_conf <<-EOF
		[jq]
		dir = "$T/d"
		program = '.tags.x = "y"'
		on_error = "drop"
		max_ms = 50
	EOF
	run -0 "$BIN/rum-collector" -c "$T/c.conf" --dry-run
	local names
	names=$(awk '{ n = split($1, p, "/"); printf "%s ", p[n] }' <<<"$output")
	[[ $names == *"rum-symbolicate rum-jq rum-ship " ]]
	grep -q "^$BIN/rum-jq --dir $T/d \.tags\.x\\\\ =\\\\ \\\\\"y\\\\\" --on-error drop --max-ms 50 --metrics-file " <<<"$output"
	# Without the section, no rum-jq.
	collector_conf </dev/null
	run -0 "$BIN/rum-collector" -c "$T/c.conf" --dry-run
	! grep -q rum-jq <<<"$output"
	# A program that does not compile stops the start.
	collector_conf <<<"[jq]
program = '.tags.x = '"
	run -2 "$BIN/rum-collector" -c "$T/c.conf" --check-config
	[[ $output == *"rum-jq: error: PROGRAM: jq: error: syntax error"* ]]
}

@test "collector: points posted go through the [jq] program to the sink" {
	mkdir "$T/d"
	cp "$EX/pii.jq" "$T/d/default.jq"
	collector_conf <<-EOF
		[jq]
		dir = "$T/d"
	EOF
	"$BIN/rum-collector" -c "$T/c.conf" 2>"$T/stderr" &
	F_PID=$!
	wait_for 15 grep -q 'rum-listen: info: listening on' "$T/stderr"
	local port
	port=$(sed -n 's/^rum-listen: info: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/stderr" | tail -1)
	wait_port "$port" 10
	curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/v1/write/rum" \
		--data-binary "view,app_id=a1,sdk_name=df_web_rum_sdk,userid=u1 n=1i,view_url=\"http://x/\" 1700000000000000000"
	wait_for 15 count_at_least 1 lines "$T/records.ndjson"
	run jq -r '[.tags.ip, (.tags.userid // "none")] | join(" ")' "$T/records.ndjson"
	[ "$output" = "127.0.0.0 none" ]
	stop_pid "$F_PID" TERM
	F_PID=
}
