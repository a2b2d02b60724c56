#!/usr/bin/env bats
# rum-replay-filter: DataKit's filter rules over session_replay records.
# The rule × record table is t/data/replay-filter-cases.txt.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	F=$BIN/rum-replay-filter
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
	CASES=$BATS_TEST_DIRNAME/data/replay-filter-cases.txt
}

teardown() {
	[ -n "${F_PID:-}" ] && stop_pid "$F_PID" KILL
	[ -n "${HOLD_PID:-}" ] && stop_pid "$HOLD_PID" KILL
	true
}

DOC_RULE1="{ service = 'xxx' or version IN [ 'v1', 'v2'] }"
DOC_RULE2="{ app_id = 'yyy' and env = 'production' }"

# replay TAGS [FIELDS]: a session_replay record as rum-listen writes them.
DEFAULT_FIELDS='{"content_type":"multipart/form-data; boundary=b","body":"aGVsbG8="}'
replay() {
	printf '{"measurement":"session_replay","tags":%s,"fields":%s,"time":1700000000000000000}\n' \
		"$1" "${2:-$DEFAULT_FIELDS}"
}

# to FILE COMMAND...: COMMAND's standard output into FILE (for run, which
# then has its standard error).
to() {
	local out=$1
	shift
	"$@" >"$out"
}

# run_case: runs the case in the variables rules[], rec, all, want; sets
# case_error when it fails.
run_case() {
	local args=() r out err rc
	for r in "${rules[@]}"; do args+=(--rule "$r"); done
	[ "$all" = yes ] && args+=(--all)
	printf '%s\n' "$rec" >"$T/case.in"
	rc=0
	"$F" --log-level error "${args[@]}" <"$T/case.in" >"$T/case.out" 2>"$T/case.err" || rc=$?
	out=$(cat "$T/case.out")
	err=$(cat "$T/case.err")
	case_error=
	case $want in
	drop)
		[ "$rc" = 0 ] && [ -z "$out" ] || case_error="expected drop; status $rc, output '$out', stderr '$err'" ;;
	pass)
		[ "$rc" = 0 ] && cmp -s "$T/case.in" "$T/case.out" ||
			case_error="expected the record byte for byte; status $rc, output '$out', stderr '$err'" ;;
	error\ *)
		local msg=${want#error } last=${rules[${#rules[@]}-1]}
		if [ "$rc" != 2 ]; then
			case_error="expected exit 2; status $rc, stderr '$err'"
		elif [[ $err != *"for --rule: "*"$msg"* ]]; then
			case_error="expected '$msg' in stderr '$err'"
		elif [[ $err != *"'$last'"* ]]; then
			case_error="the message does not quote the rule: '$err'"
		elif [ -n "$out" ]; then
			case_error="output on error: '$out'"
		fi ;;
	*) case_error="bad expect: '$want'" ;;
	esac
}

@test "the table of rule × record cases (t/data/replay-filter-cases.txt)" {
	local default_tags= tags= fields= rec= all= want= line lineno=0 start=0 n=0 nerr=0 failures=()
	local -a rules=()
	flush_case() {
		[ -n "$want" ] || { [ ${#rules[@]} = 0 ] && [ -z "$tags$rec" ] && return 0; failures+=("case at line $start: no expect line"); return 0; }
		if [ -z "$rec" ] && [ -n "$fields" ]; then
			rec=$(replay "${tags:-$default_tags}" "$fields")
		elif [ -z "$rec" ]; then
			rec=$(printf '{"measurement":"session_replay","tags":%s,"time":1}' "${tags:-$default_tags}")
		fi
		run_case
		n=$((n + 1))
		[[ $want == error* ]] && nerr=$((nerr + 1))
		[ -z "$case_error" ] || failures+=("case at line $start (${rules[*]}): $case_error")
		rules=() tags= fields= rec= all= want=
	}
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		case $line in
		'#'*) continue ;;
		'') flush_case; continue ;;
		esac
		[ ${#rules[@]} = 0 ] && [ -z "$tags$rec$want" ] && start=$lineno
		local key=${line%%:*} val=${line#*:}
		val=${val# }
		case $key in
		default-tags) default_tags=$val ;;
		rule) rules+=("$val") ;;
		tags) tags=$val ;;
		fields) fields=$val ;;
		record) rec=$val ;;
		all) all=$val ;;
		expect) want=$val ;;
		*) failures+=("line $lineno: unknown key '$key'") ;;
		esac
	done <"$CASES"
	flush_case
	echo "$n cases, $nerr of them syntax errors"
	if [ ${#failures[@]} -gt 0 ]; then
		printf '%s\n' "${failures[@]}"
		return 1
	fi
	[ "$n" -ge 60 ]
	[ "$nerr" -ge 20 ]
}

@test "DataKit's two documented rules: a stream, from --rule and from --rules-file alike" {
	{
		replay '{"app_id":"a1","service":"xxx","version":"v9","env":"test"}'
		replay '{"app_id":"a2","service":"s","version":"v2","env":"test"}'
		replay '{"app_id":"yyy","service":"s","version":"v3","env":"production"}'
		replay '{"app_id":"yyy","service":"s","version":"v3","env":"test"}'
		replay '{"app_id":"a3","service":"s","version":"v10","env":"production"}'
		echo '{"measurement":"view","tags":{"app_id":"yyy","service":"xxx","env":"production"},"fields":{"n":1}}'
		echo ' { "tags" : { "service" : "keep" } , "measurement" : "session_replay" } '
	} >"$T/in"
	sed -n '4p;5p;6p;7p' "$T/in" >"$T/want"
	run -0 to "$T/out" "$F" --rule "$DOC_RULE1" --rule "$DOC_RULE2" --metrics-file "$M" <"$T/in"
	cmp "$T/want" "$T/out"
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="a1"}')" = 1 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="a2"}')" = 1 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="yyy"}')" = 1 ]
	[ "$(metric rum_replay_filter_records_total)" = 7 ]
	[ "$(metric rum_replay_filter_checked_total)" = 6 ]
	[ "$(metric rum_replay_filter_rules)" = 2 ]

	printf '# DataKit rum.conf filter_rules\r\n\r\n%s\r\n   \n  # %s\n%s' "$DOC_RULE1" "{ bad" "$DOC_RULE2" >"$T/rules"
	run -0 to "$T/out2" "$F" --rules-file "$T/rules" <"$T/in"
	cmp "$T/want" "$T/out2"
	[[ $output == *"2 rules (2 from --rules-file)"* ]]
}

@test "dropped records are counted, with their bytes and their uploads' bytes, by app_id" {
	{
		replay '{"app_id":"a1","service":"xxx"}' '{"body":"aGVsbG8gd29ybGQ="}'
		replay '{"app_id":"a1","service":"xxx"}' '{"body":"YWJj"}'
		replay '{"app_id":"q\"t\\","service":"xxx"}' '{"body":"YQ"}'
		replay '{"service":"xxx"}'
		replay '{"app_id":"a1","service":"keep"}'
		echo 'not a record'
		echo '{"measurement":"session_replay","tags":{"service":1}}'
	} >"$T/in"
	run -0 to "$T/out" "$F" --rule "{ service = 'xxx' }" --metrics-file "$M" <"$T/in"
	[ "$(wc -l <"$T/out")" = 1 ]
	grep -q '"service":"keep"' "$T/out"
	local l1 l2 l3
	l1=$(sed -n 1p "$T/in" | tr -d '\n' | wc -c)
	l2=$(sed -n 2p "$T/in" | tr -d '\n' | wc -c)
	l3=$(sed -n 3p "$T/in" | tr -d '\n' | wc -c)
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="a1"}')" = 2 ]
	[ "$(metric 'rum_replay_filter_dropped_bytes_total{app_id="a1"}')" = $((l1 + l2)) ]
	[ "$(metric 'rum_replay_filter_dropped_body_bytes_total{app_id="a1"}')" = $((11 + 3)) ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="q\"t\\"}')" = 1 ]
	[ "$(metric 'rum_replay_filter_dropped_bytes_total{app_id="q\"t\\"}')" = "$l3" ]
	[ "$(metric 'rum_replay_filter_dropped_body_bytes_total{app_id="q\"t\\"}')" = 1 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id=""}')" = 1 ]
	[ "$(metric 'rum_replay_filter_invalid_lines_total{reason="record"}')" = 2 ]
	[[ $output == *"line 6: "*"dropped"* ]]
	[[ $output == *"line 7: "*"dropped"* ]]
}

@test "--all: the rules apply to every record (and RUM_ALL, RUM_RULE from the environment)" {
	{
		echo '{"measurement":"view","tags":{"app_id":"a1","env":"test"},"fields":{"view_load":12}}'
		echo '{"measurement":"error","tags":{"app_id":"a1","env":"production"},"fields":{"error_stack":"x"}}'
		echo '{"measurement":"resource","tags":{"env":"production"},"fields":{"duration":3}}'
		replay '{"app_id":"a2","env":"production"}'
		replay '{"app_id":"a2","env":"test"}'
	} >"$T/in"
	run -0 to "$T/out" "$F" --all --rule "{ env = 'production' }" --metrics-file "$M" <"$T/in"
	sed -n '1p;5p' "$T/in" | cmp - "$T/out"
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="a1"}')" = 1 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="a2"}')" = 1 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id=""}')" = 1 ]
	[ "$(metric rum_replay_filter_checked_total)" = 5 ]

	RUM_ALL=1 RUM_RULE="{ env = 'production' }" run -0 to "$T/out2" "$F" <"$T/in"
	cmp "$T/out" "$T/out2"
	# without --all only the session_replay record goes
	RUM_RULE="{ env = 'production' }" run -0 to "$T/out3" "$F" <"$T/in"
	sed -n '1p;2p;3p;5p' "$T/in" | cmp - "$T/out3"
}

@test "records that match no rule pass byte for byte: any spacing, key order, CR, large bodies" {
	python3 - "$T/in" <<-'PY'
		import base64, json, random, sys
		random.seed(7)
		with open(sys.argv[1], "w", newline="") as f:
		    body = base64.b64encode(bytes(random.getrandbits(8) for _ in range(3 << 20))).decode()
		    f.write(json.dumps({"measurement": "session_replay", "tags": {"app_id": "a1", "service": "big"},
		                        "fields": {"body": body, "headers": "{\"User-Agent\":\"x\"}"}}) + "\n")
		    f.write('{"fields":{"x":1.0e3,"s":"\\u00e9\\n"},"time":1,"tags":{"app_id":"a1"},"measurement":"session_replay","extra":[1,{"a":2}]}\r\n')
		    f.write('  {"measurement":"view","tags":{},"fields":{}}  \n')
		PY
	run -0 to "$T/out" "$F" --rule "{ service = 'other' }" --rule "{ x > 5000 }" <"$T/in"
	cmp "$T/in" "$T/out"
}

@test "a rule that does not parse: exit 2 naming the rule, the line and column, and what was expected" {
	run -2 "$F" --rule "$DOC_RULE1" --rule "{ app_id = 'yyy' and env = }"
	[[ $output == *"error: invalid value '{ app_id = 'yyy' and env = }' for --rule: column 28: expected a value"* ]]

	run -2 "$F" --rule $'{ app_id = \'yyy\'\n  and env == \'x\' }'
	[[ $output == *"for --rule: line 2, column 12: expected a value"* ]]

	# columns count characters, not bytes
	run -2 "$F" --rule "{ 城市 = 'x' }"
	[[ $output == *"column 3: unexpected character '城' (a name of other characters is written in backquotes)"* ]]
	run -2 "$F" --rule $'{ a = 1 \xff }'
	[[ $output == *"column 9: unexpected byte 0xff"* ]]
	run -2 "$F" --rule "{ \`城市\` = 'x' = }"
	[[ $output == *"column 14: expected 'and', 'or', ',' or '}', found '='"* ]]

	local deep
	deep="{ $(printf '(%.0s' $(seq 70))a = 1$(printf ')%.0s' $(seq 70)) }"
	run -2 "$F" --rule "$deep"
	[[ $output == *"column 67: parentheses nested deeper than 64"* ]]

	printf '%s\n# comment\n\n%s\n{ version in [ "v1", }\n' "$DOC_RULE1" "$DOC_RULE2" >"$T/rules"
	run -2 "$F" --rules-file "$T/rules"
	[[ $output == *"error: --rules-file $T/rules line 5: rule '{ version in [ \"v1\", }': column 22: expected a string, a number, NULL, true or false, found '}'"* ]]

	run -2 "$F" --rules-file "$T/nonexistent"
	[[ $output == *"--rules-file $T/nonexistent: No such file or directory"* ]]
	run -2 "$F" --rules-file "$T"
	[[ $output == *"--rules-file $T: Is a directory"* ]]
	head -c 17M /dev/zero | tr '\0' ' ' >"$T/huge"
	run -2 "$F" --rules-file "$T/huge"
	[[ $output == *"--rules-file $T/huge: larger than 16 MiB"* ]]
	# a pipe is read to its end
	run -0 "$F" --check-config --rules-file <(printf '%s\n' "$DOC_RULE1" "$DOC_RULE2")
	[[ $output == *"2 rules (2 from --rules-file)"* ]]
	RUM_RULE='{ a = }' run -2 "$F"
	[[ $output == *"for RUM_RULE (--rule): column 7: expected a value"* ]]
}

@test "--check-config compiles the rules and exits; --help, --version" {
	printf '%s\n' "$DOC_RULE2" >"$T/rules"
	run -0 "$F" --check-config --rule "$DOC_RULE1" --rules-file "$T/rules" </dev/null
	run -2 "$F" --check-config --rule '{ a = re("[") }'
	[[ $output == *"invalid regular expression '['"* ]]
	run -0 "$F" --help
	[[ $output == *"--rule RULE"* && $output == *"--rules-file FILE"* && $output == *"--all"* ]]
	run -0 "$F" --version
	[[ $output == *rum-replay-filter* ]]
	run -2 "$F" extra-arg
	[[ $output == *"unexpected argument 'extra-arg'"* ]]
}

@test "a regular expression that backtracks without end counts as no match, and the stream goes on" {
	{
		replay '{"app_id":"a1","s":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"}'
		replay '{"app_id":"a1","s":"aaaa"}'
	} >"$T/in"
	run -0 to "$T/out" timeout 20 "$F" --rule '{ s match ["^(a|a)+$"] }' --metrics-file "$M" <"$T/in"
	sed -n 1p "$T/in" | cmp - "$T/out"
	[ "$(metric rum_replay_filter_regex_errors_total)" -ge 1 ]
	[[ $output == *"match limit"* ]]
}

# start_filter ARGS...: the filter on a FIFO kept open, output in $T/out.
start_filter() {
	mkfifo "$T/fifo"
	"$F" "$@" <"$T/fifo" >"$T/out" 2>"$T/err" &
	F_PID=$!
	sleep 1000 >"$T/fifo" &
	HOLD_PID=$!
	exec 7>"$T/fifo"
}

@test "lines longer than --max-line are counted and dropped; the stream goes on" {
	{
		replay "{\"app_id\":\"a1\",\"pad\":\"$(head -c 1500 /dev/zero | tr '\0' x)\"}"
		replay '{"app_id":"a1","n":"2"}'
	} >"$T/in"
	run -0 to "$T/out" "$F" --max-line 1024 --rule "{ n = 1 }" --metrics-file "$M" <"$T/in"
	sed -n 2p "$T/in" | cmp - "$T/out"
	[ "$(metric 'rum_replay_filter_invalid_lines_total{reason="too_long"}')" = 1 ]
	[[ $output == *"line 1: longer than --max-line 1024; dropped"* ]]
}

@test "SIGTERM while waiting for input: what was read is written, exit 0" {
	start_filter --rule "{ n = 1 }"
	replay '{"app_id":"a1","n":"2"}' >&7
	wait_for 5 test -s "$T/out"
	kill -TERM "$F_PID"
	local rc=0
	wait "$F_PID" || rc=$?
	F_PID=
	[ "$rc" = 0 ]
	grep -q '"n":"2"' "$T/out"
	exec 7>&-
}

@test "a lone record is written while input stays open" {
	start_filter --rule "{ service = 'xxx' }"
	replay '{"app_id":"a1","service":"yyy"}' >&7
	wait_for 5 test -s "$T/out"
	grep -q '"service":"yyy"' "$T/out"
	exec 7>&-
}

@test "SIGHUP reads --rules-file again; a bad new file keeps the rules in use" {
	printf '%s\n' "{ service = 'one' }" >"$T/rules"
	start_filter --rules-file "$T/rules" --metrics-file "$M"
	replay '{"app_id":"a1","service":"one","n":"1"}' >&7
	replay '{"app_id":"a1","service":"two","n":"2"}' >&7
	wait_for 5 grep -q '"n":"2"' "$T/out"
	! grep -q '"n":"1"' "$T/out"

	printf '# now two\n%s\n' "{ service = 'two' }" >"$T/rules"
	kill -HUP "$F_PID"
	wait_for 5 grep -q 'SIGHUP: 1 rules from --rules-file' "$T/err"
	replay '{"app_id":"a1","service":"one","n":"3"}' >&7
	replay '{"app_id":"a1","service":"two","n":"4"}' >&7
	wait_for 5 grep -q '"n":"3"' "$T/out"
	! grep -q '"n":"4"' "$T/out"

	printf '%s\n%s\n' "{ service = 'one' }" "{ service = }" >"$T/rules"
	kill -HUP "$F_PID"
	wait_for 5 grep -q "SIGHUP: --rules-file $T/rules line 2: rule '{ service = }': column 13: expected a value" "$T/err"
	grep -q 'keeping the 1 rules in use' "$T/err"
	replay '{"app_id":"a1","service":"one","n":"5"}' >&7
	replay '{"app_id":"a1","service":"two","n":"6"}' >&7
	wait_for 5 grep -q '"n":"5"' "$T/out"
	! grep -q '"n":"6"' "$T/out"

	rm "$T/rules"
	kill -HUP "$F_PID"
	wait_for 5 grep -q "SIGHUP: --rules-file $T/rules: No such file" "$T/err"
	replay '{"app_id":"a1","service":"two","n":"7"}' >&7
	replay '{"app_id":"a1","service":"three","n":"8"}' >&7
	wait_for 5 grep -q '"n":"8"' "$T/out"
	! grep -q '"n":"7"' "$T/out"

	exec 7>&-
	stop_pid "$HOLD_PID"
	wait "$F_PID"
	F_PID=
	[ "$(metric rum_replay_filter_reloads_total)" = 1 ]
	[ "$(metric rum_replay_filter_reload_failures_total)" = 2 ]
	[ "$(metric 'rum_replay_filter_dropped_total{app_id="a1"}')" = 4 ]
	[ "$(grep -c . "$T/out")" = 4 ]
}

@test "fixtures: a multipart body as the SDK sends it, in a record, is matched on its tags" {
	local seg=${FIXTURES:+$FIXTURES/datakit/session_replay.dat}
	[ -n "$seg" ] && [ -f "$seg" ] || skip "no ../shared/fixtures/datakit/session_replay.dat"
	python3 - "$seg" "$T/in" <<-'PY'
		import base64, json, sys
		seg = open(sys.argv[1], "rb").read()
		b = "----b0undary"
		tags = {"app_id": "appid_1", "env": "production", "version": "1.0.0", "service": "web",
		        "sdk_name": "df_web_rum_sdk", "has_full_snapshot": "true", "raw_segment_size": str(len(seg))}
		body = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (b.encode(), k.encode(), v.encode())
		                for k, v in tags.items())
		body += b"--%s\r\nContent-Disposition: form-data; name=\"segment\"; filename=\"blob\"\r\nContent-Type: application/octet-stream\r\n\r\n" % b.encode()
		body += seg + b"\r\n--%s--\r\n" % b.encode()
		with open(sys.argv[2], "w") as f:
		    for t in (dict(tags, ip="203.0.113.7"), dict(tags, env="test", ip="203.0.113.8")):
		        f.write(json.dumps({"measurement": "session_replay", "tags": t,
		                            "fields": {"content_type": "multipart/form-data; boundary=" + b,
		                                       "body": base64.b64encode(body).decode(),
		                                       "headers": json.dumps({"User-Agent": "Mozilla/5.0"})},
		                            "time": 1700000000000000000}, separators=(",", ":")) + "\n")
		PY
	run -0 to "$T/out" "$F" --rule "{ env = 'production' and raw_segment_size > 0 and ip match ['^203\\.'] }" \
		--metrics-file "$M" <"$T/in"
	sed -n 2p "$T/in" | cmp - "$T/out"
	local body
	body=$(sed -n 1p "$T/in" | jq -r .fields.body | base64 -d | wc -c)
	[ "$(metric 'rum_replay_filter_dropped_body_bytes_total{app_id="appid_1"}')" = "$body" ]
}

@test "records of 10 B to 700 KB in any order pass byte for byte; past --max-line dropped alone" {
	python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, random, sys
random.seed(7)
d = sys.argv[1]
lines = []
for i in range(160):
    n = random.choice([10, 1000, 16000, 68000, 70000, 131072, 300000, 700000]) + random.randint(0, 999)
    lines.append(json.dumps({"measurement": "session_replay" if i % 2 else "view",
                             "tags": {"app_id": "a%d" % i}, "fields": {"body": "x" * n},
                             "time": i}, separators=(",", ":")) + "\n")
open(d + "/in", "w").write("".join(lines))
open(d + "/short", "w").write("".join(l for l in lines if len(l) - 1 <= 200000))
PY
	"$F" --rule "{ app_id = 'none' }" <"$BATS_TEST_TMPDIR/in" | cmp - "$BATS_TEST_TMPDIR/in"
	cat "$BATS_TEST_TMPDIR/in" | "$F" --max-line 200000 --rule "{ app_id = 'none' }" 2>/dev/null |
		cmp - "$BATS_TEST_TMPDIR/short"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/short")" -lt 160 ]
}

@test "the rules of issue 19 that DataKit accepts start, from --rule and --rules-file, and filter as DataKit does" {
	local rules=("{ env in [] }" "{ env not_in [] }" "{ env match [] }" "{ env notmatch [] }"
		'{ service = re(`^c[a-z]+t$`) }' "{ service = env }")
	local r
	for r in "${rules[@]}"; do
		run -0 "$F" --check-config --rule "$r" </dev/null
	done
	printf '%s\n' "${rules[@]}" >"$T/rules"
	run -0 "$F" --check-config --rules-file "$T/rules" </dev/null
	{
		replay '{"app_id":"a1","service":"cat","env":"e"}'
		replay '{"app_id":"a2","service":"cut1","env":"e"}'
		replay '{"app_id":"a3","service":"e","env":"e"}'
	} >"$T/in"
	# the cat goes by the regular expression; the rest by nothing but
	# not_in [], which holds for every record
	run -0 to "$T/out" "$F" --rules-file <(grep -v not_in "$T/rules") <"$T/in"
	sed -n '2p;3p' "$T/in" | cmp - "$T/out"
	run -0 to "$T/out" "$F" --rules-file "$T/rules" <"$T/in"
	[ ! -s "$T/out" ]
}
