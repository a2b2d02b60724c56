#!/usr/bin/env bats
# The record codec (common/record.c), driven through t/tools/rectool, with
# records from t/tools/gen-records, jq as the peer and Python's json module
# (t/lib/rec-meaning) as an independent reader.

load lib/common
bats_require_minimum_version 1.5.0

setup_file() {
	export MIX=$BATS_FILE_TMPDIR/mix.ndjson VAR=$BATS_FILE_TMPDIR/var.ndjson
	# The plain mix is what rum-listen writes; the variety mix also has
	# other key orders, spacing, unknown keys, escapes, big numbers.
	"$RUMPIPE_BUILD/tools/gen-records" -n 3000 -s 42 >"$MIX"
	"$RUMPIPE_BUILD/tools/gen-records" -n 3000 -s 43 --variety >"$VAR"
}

setup() {
	R=$TOOLS/rectool
	MEANING=$TOP/t/lib/rec-meaning
}

# reason INPUT REASON [OFFSET]: rectool check gives exactly that error (with
# that offset when given); REASON '' means the record is valid.
reason() {
	local got want
	got=$(printf '%s\n' "$1" | "$R" check)
	if [ -z "$2" ]; then
		want=ok
	elif [ -n "${3:-}" ]; then
		want="error $3: $2"
	else
		want="error $2"
		[[ $got != error* ]] || got="error ${got#*: }"
	fi
	if [ "$got" != "$want" ]; then
		echo "input:  $1"
		echo "got:    $got"
		echo "wanted: $want"
		return 1
	fi
}

# reason_bytes PRINTF-FORMAT REASON: the same for inputs made with printf.
reason_bytes() {
	local got want="error $2"
	[ -n "$2" ] || want=ok
	# shellcheck disable=SC2059
	got=$(printf "$1\n" | "$R" check | sed 's/^error [0-9]*: /error /')
	if [ "$got" != "$want" ]; then
		echo "input:  $1"
		echo "got:    $got"
		echo "wanted: $want"
		return 1
	fi
}

# edit INPUT WANT EDIT-ARGS...: rectool edit writes exactly WANT.
edit() {
	local in=$1 want=$2 got
	shift 2
	got=$(printf '%s\n' "$in" | "$R" edit "$@")
	if [ "$got" != "$want" ]; then
		echo "input:  $in"
		echo "edits:  $*"
		echo "got:    $got"
		echo "wanted: $want"
		return 1
	fi
	# The edited record is a valid record for us and for jq.
	printf '%s\n' "$got" | "$R" check | grep -qx ok
	printf '%s\n' "$got" | jq -e . >/dev/null
}

@test "the generator is deterministic and its records are valid JSON and valid records" {
	"$TOOLS/gen-records" -n 3000 -s 42 | cmp - "$MIX"
	if "$TOOLS/gen-records" -n 3000 -s 41 | cmp -s - "$MIX"; then false; fi
	[ "$(jq -c . "$MIX" | wc -l)" -eq 3000 ]
	[ "$(jq -c . "$VAR" | wc -l)" -eq 3000 ]
	run "$R" parse "$MIX"
	[ "$output" = $'valid 3000\ninvalid 0' ]
	run "$R" parse "$VAR"
	[ "$output" = $'valid 3000\ninvalid 0' ]
	# The mix is what the brief asks for: the five kinds, ~30 tags,
	# 10-40 fields, multi-line stacks with non-ASCII text.
	for m in view resource action long_task error; do
		grep -q "^{\"measurement\":\"$m\"" "$MIX"
	done
	jq -s -e 'map(.tags | length) | (min >= 29 and max <= 40)' "$MIX"
	jq -s -e 'map(.fields | length) | (min >= 10 and max <= 40)' "$MIX"
	jq -s -e 'map(select(.measurement == "error") | .fields.error_stack
		| select(test("\n(\t|  )at .*\n") and test("😱|请求"))) | length > 10' "$MIX"
}

@test "pass-through writes every record back byte for byte" {
	"$R" pass "$MIX" | cmp - "$MIX"
	"$R" pass "$VAR" | cmp - "$VAR"
	# CRLF line endings and surrounding spaces are kept too.
	printf ' {"measurement":"m"} \r\n{"measurement":"m","tags":{"a":"b"}}\r\n' >"$BATS_TEST_TMPDIR/crlf"
	"$R" pass "$BATS_TEST_TMPDIR/crlf" | cmp - "$BATS_TEST_TMPDIR/crlf"
}

@test "invalid lines are counted, reported with their line number, and dropped" {
	{
		head -2 "$MIX"
		echo '{"measurement":"m",}'
		head -3 "$MIX" | tail -1
		echo 'not json'
		echo
	} >"$BATS_TEST_TMPDIR/in"
	run "$R" parse "$BATS_TEST_TMPDIR/in"
	[ "$output" = $'valid 3\ninvalid 3' ]
	run --separate-stderr "$R" pass "$BATS_TEST_TMPDIR/in"
	[ "$output" = "$(head -3 "$MIX")" ]
	[ "${stderr_lines[0]}" = "rectool: line 3: offset 19: expected a key" ]
	[ "${stderr_lines[1]}" = "rectool: line 5: offset 0: expected '{'" ]
	[ "${stderr_lines[2]}" = "rectool: line 6: offset 0: empty record" ]
}

@test "the canonical form of rum-listen's records is the records themselves" {
	"$R" canon "$MIX" | cmp - "$MIX"
}

@test "the canonical form keeps the meaning, and the int/float distinction, of any record" {
	"$R" canon "$VAR" >"$BATS_TEST_TMPDIR/canon"
	run "$MEANING" "$VAR" "$BATS_TEST_TMPDIR/canon"
	echo "$output"
	[ "$status" -eq 0 ]
	# Canonical: key order, no spaces, no unknown keys, tags and fields always.
	jq -e -s 'all(.[]; keys_unsorted[0:3] == ["measurement","tags","fields"]
		and (keys_unsorted | length) <= 4)' "$BATS_TEST_TMPDIR/canon"
	python3 - "$BATS_TEST_TMPDIR/canon" <<'EOF'
import re, sys
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    bare = re.sub(r'"(\\.|[^"\\])*"', '""', line.rstrip("\n"))
    assert not re.search(r"\s", bare), (n, bare)
    assert '"_meta"' not in line, n
EOF
	# The canonical form of the canonical form is itself.
	"$R" canon "$BATS_TEST_TMPDIR/canon" | cmp - "$BATS_TEST_TMPDIR/canon"
}

@test "records edited by jq -c still flow, unchanged in meaning" {
	for f in "$MIX" "$VAR"; do
		"$R" canon "$f" >"$BATS_TEST_TMPDIR/a"
		jq -c . "$f" | "$R" canon >"$BATS_TEST_TMPDIR/b"
		# Equal as jq sees them (what the brief asks) ...
		jq -S -c . "$BATS_TEST_TMPDIR/a" >"$BATS_TEST_TMPDIR/a.jq"
		jq -S -c . "$BATS_TEST_TMPDIR/b" >"$BATS_TEST_TMPDIR/b.jq"
		if ! cmp -s "$BATS_TEST_TMPDIR/a.jq" "$BATS_TEST_TMPDIR/b.jq"; then
			diff "$BATS_TEST_TMPDIR/a.jq" "$BATS_TEST_TMPDIR/b.jq" | head -c 3000
			false
		fi
		# ... and as Python sees them, types included. jq 1.6 holds
		# numbers as doubles: it prints 1.0 as 1 and rounds integers
		# past 2^53, so numbers compare as doubles there (--jq). (It
		# also prints INT64_MAX as 9223372036854775807 rounded up,
		# which is out of int64's range: such a record would be
		# rejected after jq; the mix keeps its big integers below.)
		run "$MEANING" --jq "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
		echo "$output"
		[ "$status" -eq 0 ]
		# Our side of the round trip is exact.
		run "$MEANING" "$f" "$BATS_TEST_TMPDIR/a"
		[ "$status" -eq 0 ]
	done
	# Without --jq the same comparison notices what jq changed, so the
	# check above is not vacuous.
	run "$MEANING" "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$status" -eq 1 ]
}

@test "int and float stay apart: 1 is an integer, 1.0 and 1e2 are floats" {
	run "$R" dump <<<'{"measurement":"m","fields":{"i":1,"n":-0,"f":1.0,"e":1e2,"E":-2.5E-3,"z":-0.0,"b":false,"s":"1"}}'
	[ "${lines[1]}" = "field i int 1" ]
	[ "${lines[2]}" = "field n int 0" ]
	[ "${lines[3]}" = "field f float 1.0" ]
	[ "${lines[4]}" = "field e float 100.0" ]
	[ "${lines[5]}" = "field E float -0.0025" ]
	[ "${lines[6]}" = "field z float -0.0" ]
	[ "${lines[7]}" = "field b bool false" ]
	[ "${lines[8]}" = "field s string 1" ]
	# Tokens are copied as written, so a float stays a float.
	run "$R" canon <<<'{"measurement":"m","fields":{"f":1.0,"e":1e2}}'
	[ "$output" = '{"measurement":"m","tags":{},"fields":{"f":1.0,"e":1e2}}' ]
	# The peer: document what this jq does with 1.0.
	case $(jq -c . <<<'{"f":1.0}') in
	'{"f":1}') echo "# jq $(jq --version) prints 1.0 as 1: the jq round trip compares numbers as doubles" >&3 ;;
	'{"f":1.0}') ;;
	*) false ;;
	esac
	# Limits of int64.
	run "$R" dump <<<'{"measurement":"m","fields":{"max":9223372036854775807,"min":-9223372036854775808}}'
	[ "${lines[1]}" = "field max int 9223372036854775807" ]
	[ "${lines[2]}" = "field min int -9223372036854775808" ]
	run "$R" dump <<<'{"measurement":"m","time":-5}'
	[ "${lines[1]}" = "time -5" ]
}

@test "floats are written shortest, with a '.' or an exponent; NaN and infinities are refused" {
	run "$R" jdouble 1 0.1 100 1e20 1e300 -0 0.30000000000000004 123456789012345678 2.5e-7 5e-324
	[ "$status" -eq 0 ]
	[ "$output" = "1.0
0.1
100.0
1e+20
1e+300
-0.0
0.30000000000000004
1.2345678901234568e+17
2.5e-07
4.94065645841247e-324" ]
	run "$R" jdouble nan
	[ "$output" = refused ]
	run "$R" jdouble inf -inf
	[ "$output" = $'refused\nrefused' ]
	# Every float of the variety mix reads back as the same double.
	python3 - "$R" "$VAR" <<'EOF'
import json, subprocess, sys
vals = []
for line in open(sys.argv[2], encoding="utf-8"):
    vals += [v for v in json.loads(line).get("fields", {}).values() if type(v) is float]
vals = [repr(v) for v in vals[:2000]]
out = subprocess.run([sys.argv[1], "jdouble"] + vals, capture_output=True, text=True, check=True).stdout.split()
assert len(out) == len(vals) and len(vals) > 1000, (len(out), len(vals))
for v, o in zip(vals, out):
    assert float(o) == float(v) and ("." in o or "e" in o), (v, o)
EOF
}

@test "json_add_str escapes quotes, backslashes and control characters, and replaces invalid UTF-8" {
	run "$R" jstr < <(printf 'a"b\\c\n\t\r\b\f\001\037 é😀/\x7f')
	[ "$output" = '"a\"b\\c\n\t\r\b\f\u0001\u001f é😀/'$'\x7f''"' ]
	# Invalid UTF-8: each bad byte becomes U+FFFD.
	run "$R" jstr < <(printf 'x\xffy\xc3\xed\xa0\x80z\xf0\x9f\x98')
	[ "$output" = '"x�y��'$'\xef\xbf\xbd\xef\xbf\xbd''z���"' ]
	# A long string of safe bytes is copied as it is; the result is valid JSON.
	head -c 3000000 /dev/zero | tr '\0' 'a' >"$BATS_TEST_TMPDIR/long"
	"$R" jstr <"$BATS_TEST_TMPDIR/long" | jq -e 'length == 3000000'
	# Arbitrary bytes always make a string that jq and the codec read.
	head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/rand"
	"$R" jstr <"$BATS_TEST_TMPDIR/rand" >"$BATS_TEST_TMPDIR/rand.json"
	jq -e 'type == "string"' "$BATS_TEST_TMPDIR/rand.json"
	printf '{"measurement":%s}\n' "$(cat "$BATS_TEST_TMPDIR/rand.json")" | "$R" check | grep -qx ok
}

@test "unicode escapes and surrogate pairs decode to UTF-8; keys match decoded" {
	run "$R" dump <<<'{"measurement":"m\u00e9","tags":{"\u0061pp":"\ud83d\ude00 \u4e2d\u6587 \"q\" \\ \/ \t|"},"fields":{"s":"a\u0000b"}}'
	[ "${lines[0]}" = "measurement mé" ]
	[ "${lines[1]}" = "tag app=😀 中文 \"q\" \\ / "$'\t'"|" ]
	"$R" dump <<<'{"measurement":"m","fields":{"s":"a\u0000b"}}' |
		python3 -c 'import sys; l = sys.stdin.buffer.read().split(b"\n")[1]; assert l == b"field s string a\0b", l' 
	# Lookups compare decoded keys, escaped or not, either side.
	run "$R" get --tag app --tag ap --field s --field "a" <<<'{"measurement":"m","tags":{"\u0061pp":"1"},"fields":{"s":2}}'
	[ "$output" = $'tag app=1\ntag ap absent\nfield s=2\nfield a absent' ]
	run "$R" get --tag 中文 --tag é <<<'{"measurement":"m","tags":{"\u4e2d\u6587":"x","é":"y"}}'
	[ "$output" = $'tag 中文=x\ntag é=y' ]
	# Escaped top-level keys are the keys they spell.
	run "$R" canon <<<'{"\u006deasurement":"m","t\u0061gs":{"a":"b"},"tim\u0065":5}'
	[ "$output" = '{"measurement":"m","tags":{"a":"b"},"fields":{},"time":5}' ]
	# Raw UTF-8 up to 4 bytes is fine.
	printf '{"measurement":"m","tags":{"k":"\xf4\x8f\xbf\xbf \xef\xbf\xbf \xe0\xa0\x80 \xc2\x80"}}\n' | "$R" check | grep -qx ok
}

@test "edits: replace and add tags and fields, copying every other byte as it was" {
	local rec='{"measurement":"m","tags":{"a":"1","b":"2"},"fields":{"x":1,"s":"v"},"time":7}'
	# Replace an existing tag in place.
	edit "$rec" '{"measurement":"m","tags":{"a":"z","b":"2"},"fields":{"x":1,"s":"v"},"time":7}' --tag a=z
	# Add a tag at the end of the tags.
	edit "$rec" '{"measurement":"m","tags":{"a":"1","b":"2","c":"3"},"fields":{"x":1,"s":"v"},"time":7}' --tag c=3
	# Replace a field, with a value of another type.
	edit "$rec" '{"measurement":"m","tags":{"a":"1","b":"2"},"fields":{"x":"now a string","s":2.5},"time":7}' \
		--field-str 'x=now a string' --field-float s=2.5
	# Several at once, in both objects, last edit of a key wins.
	edit "$rec" '{"measurement":"m","tags":{"a":"2","b":"2","n":"new"},"fields":{"x":true,"s":"v","y":-3},"time":7}' \
		--tag a=1 --field-bool x=true --tag n=new --field-int y=-3 --tag a=2
	# Values are escaped.
	edit "$rec" '{"measurement":"m","tags":{"a":"q\"\\\n\u0001","b":"2"},"fields":{"x":1,"s":"v"},"time":7}' \
		--tag a=$'q"\\\n\x01'
}

@test "edits: absent and empty tags/fields objects, spacing and unknown keys" {
	# No fields object: created before the record's final '}'.
	edit '{"measurement":"m","tags":{"a":"1"},"time":7}' \
		'{"measurement":"m","tags":{"a":"1"},"time":7,"fields":{"k":1}}' --field-int k=1
	# Neither: tags then fields, after the last member.
	edit '{"measurement":"m"}' '{"measurement":"m","tags":{"t":"v"},"fields":{"f":1.0}}' \
		--field-float f=1 --tag t=v
	# Empty objects, with and without spaces inside.
	edit '{"measurement":"m","tags":{},"fields":{ }}' '{"measurement":"m","tags":{"a":"b","c":"d"},"fields":{"x":false }}' \
		--tag a=b --field-bool x=false --tag c=d
	# Any spacing and key order; unknown keys and their bytes are kept.
	edit ' { "time" : 1 , "fields" : { "x" : 1 } ,"_u":[1, {"k" : null}], "tags" : { "a" : "1" } , "measurement" : "m" } ' \
		'{ "time" : 1 , "fields" : { "x" : 2,"y":"n" } ,"_u":[1, {"k" : null}], "tags" : { "a" : "1","b":"2" } , "measurement" : "m" }' \
		--field-int x=2 --field-str y=n --tag b=2
	# The key of the record is matched decoded.
	edit '{"measurement":"m","tags":{"\u0061":"1"}}' '{"measurement":"m","tags":{"\u0061":"2"}}' --tag a=2
	# No edits: the record as it was.
	edit ' {"measurement":"m" ,"x":1} ' '{"measurement":"m" ,"x":1}'
}

@test "edits on the whole mix: every record gets them, nothing else changes" {
	"$R" edit --tag city=Hangzhou --tag ip=192.0.2.1 --field-str provider_type=CDN --field-int duration=5 \
		"$VAR" >"$BATS_TEST_TMPDIR/edited"
	run "$R" parse "$BATS_TEST_TMPDIR/edited"
	[ "$output" = $'valid 3000\ninvalid 0' ]
	jq -e -s 'length == 3000 and all(.[]; .tags.city == "Hangzhou" and .tags.ip == "192.0.2.1"
		and .fields.provider_type == "CDN" and .fields.duration == 5)' "$BATS_TEST_TMPDIR/edited"
	run "$MEANING" --ignore-tag city --ignore-tag ip --ignore-field provider_type --ignore-field duration \
		"$VAR" "$BATS_TEST_TMPDIR/edited"
	echo "$output"
	[ "$status" -eq 0 ]
	# Untouched bytes are untouched: take the edited values out again and
	# records that had all four keys are back as they were.
	"$R" edit --tag city=X "$MIX" | "$R" edit --tag city=Y | head -50 >"$BATS_TEST_TMPDIR/twice"
	"$R" edit --tag city=Y "$MIX" | head -50 | cmp - "$BATS_TEST_TMPDIR/twice"
}

@test "long lines: a 20 MB record passes, converts and takes edits" {
	python3 - "$BATS_TEST_TMPDIR/long" <<'EOF'
import json, sys
body = ("QUJD" * 5_000_000)
stack = "Error: x\n\tat \"f\" 😀\n" * 100_000
rec = {"measurement": "session_replay", "tags": {"app_id": "a1"},
       "fields": {"body": body, "stack": stack}, "time": 1}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
EOF
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/long")" -gt 20000000 ]
	"$R" pass "$BATS_TEST_TMPDIR/long" | cmp - "$BATS_TEST_TMPDIR/long"
	"$R" canon "$BATS_TEST_TMPDIR/long" | cmp - "$BATS_TEST_TMPDIR/long"
	"$R" edit --tag ip=1.2.3.4 "$BATS_TEST_TMPDIR/long" | jq -e '.tags.ip == "1.2.3.4" and (.fields.body | length) == 20000000'
}

@test "invalid records are rejected with the right reason" {
	reason '' 'empty record' 0
	reason '   ' 'empty record' 3
	reason '[]' "expected '{'" 0
	reason '"m"' "expected '{'" 0
	reason '{}' 'missing measurement' 0
	reason '{"tags":{"a":"b"}}' 'missing measurement' 0
	reason '{"measurement":1}' 'measurement is not a string' 15
	reason '{"measurement":null}' 'measurement is not a string'
	reason '{"measurement":["m"]}' 'measurement is not a string'
	reason '{"measurement":""}' 'empty measurement'
	reason '{"measurement":"m","measurement":"n"}' 'duplicate key "measurement"' 19
	reason '{"measurement":"m","tags":{},"t\u0061gs":{}}' 'duplicate key "tags"'
	reason '{"measurement":"m","fields":{},"fields":{}}' 'duplicate key "fields"'
	reason '{"measurement":"m","time":1,"time":1}' 'duplicate key "time"'
	reason '{"measurement":"m","x":1,"y":2,"x":3}' 'duplicate top-level key' 31
	reason '{"measurement":"m","tags":[]}' 'tags is not an object'
	reason '{"measurement":"m","tags":null}' 'tags is not an object'
	reason '{"measurement":"m","fields":"x"}' 'fields is not an object'
	reason '{"measurement":"m","tags":{"a":1}}' 'tag value is not a string' 31
	reason '{"measurement":"m","tags":{"a":true}}' 'tag value is not a string'
	reason '{"measurement":"m","tags":{"a":null}}' 'tag value is null'
	reason '{"measurement":"m","tags":{"a":["b"]}}' 'tag value is an array'
	reason '{"measurement":"m","tags":{"a":{}}}' 'tag value is an object'
	reason '{"measurement":"m","fields":{"x":null}}' 'field value is null'
	reason '{"measurement":"m","fields":{"x":[1]}}' 'field value is an array'
	reason '{"measurement":"m","fields":{"x":{"y":1}}}' 'field value is an object'
	reason '{"measurement":"m","tags":{"a":"1","b":"2","a":"3"}}' 'duplicate tag key' 43
	reason '{"measurement":"m","tags":{"a":"1","\u0061":"3"}}' 'duplicate tag key'
	reason '{"measurement":"m","fields":{"x":1,"x":1}}' 'duplicate field key'
	reason '{"measurement":"m","tags":{"":"v"}}' 'empty tag key'
	reason '{"measurement":"m","fields":{"":1}}' 'empty field key'
	reason '{"measurement":"m","time":"1"}' 'time is not an integer'
	reason '{"measurement":"m","time":1.0}' 'time is not an integer' 26
	reason '{"measurement":"m","time":1e9}' 'time is not an integer'
	reason '{"measurement":"m","time":null}' 'time is not an integer'
	reason '{"measurement":"m","time":99999999999999999999}' 'integer out of range'
}

@test "invalid numbers, literals and structure are rejected with the right reason" {
	local f='{"measurement":"m","fields":{"x":'
	reason "${f}01}}" 'invalid number' 33
	reason "${f}-01}}" 'invalid number'
	reason "${f}1.}}" 'invalid number'
	reason "${f}1.e5}}" 'invalid number'
	reason "${f}1e}}" 'invalid number'
	reason "${f}1e+}}" 'invalid number'
	reason "${f}-}}" 'invalid number'
	reason "${f}.5}}" 'invalid field value'
	reason "${f}+1}}" 'invalid field value'
	reason "${f}NaN}}" 'invalid field value'
	reason "${f}Infinity}}" 'invalid field value'
	reason "${f}0x10}}" "expected ',' or '}'"
	reason "${f}9223372036854775808}}" 'integer out of range'
	reason "${f}-9223372036854775809}}" 'integer out of range'
	reason "${f}123456789012345678901234567890}}" 'integer out of range'
	reason "${f}1e400}}" 'number out of range'
	reason "${f}-1234567890e300}}" 'number out of range'
	reason "${f}tru}}" 'invalid literal'
	reason "${f}True}}" 'invalid field value'
	reason "${f}falsey}}" "expected ',' or '}'"
	reason '{"measurement":"m","u":nul}' 'invalid literal'
	reason '{"measurement":"m",}' 'expected a key' 19
	reason '{"measurement":"m" "x":1}' "expected ',' or '}'" 19
	reason '{"measurement" "m"}' "expected ':'" 15
	reason '{measurement:"m"}' 'expected a key' 1
	reason "{'measurement':'m'}" 'expected a key'
	reason '{"measurement":"m","x":[1,2}' "expected ',' or ']'"
	reason '{"measurement":"m","x":{"a" 1}}' "expected ':'"
	reason '{"measurement":"m","x":' 'unexpected end of input'
	reason '{"measurement":"m"' 'unexpected end of input'
	reason '{"measurement":"m"} x' 'trailing characters after the record' 20
	reason '{"measurement":"m"}{}' 'trailing characters after the record'
	reason '{"measurement":"m","x":-}' 'invalid number'
	reason '{"measurement":"m","x":@}' 'invalid value'
	# JSON whitespace is space, tab, CR, LF; not form feed or vertical tab.
	reason_bytes '{"measurement":"m",\f"x":1}' 'expected a key'
	reason_bytes '{"measurement":"m",\v"x":1}' 'expected a key'
	reason_bytes '{\t"measurement"\r:\t"m"\r}' ''
}

@test "invalid strings and invalid UTF-8 are rejected with the right reason" {
	reason '{"measurement":"m' 'unterminated string' 17
	reason '{"measurement":"m\' 'unterminated string'
	reason '{"measurement":"m\x"}' 'invalid escape in string' 17
	reason '{"measurement":"m\U0041"}' 'invalid escape in string'
	reason "{\"measurement\":\"m\\'\"}" 'invalid escape in string'
	reason '{"measurement":"\u12"}' 'invalid \u escape'
	reason '{"measurement":"\u12g4"}' 'invalid \u escape'
	reason '{"measurement":"\ud800"}' 'unpaired surrogate in \u escape'
	reason '{"measurement":"\udc00\ud800"}' 'unpaired surrogate in \u escape'
	reason '{"measurement":"\ud800\u0041"}' 'unpaired surrogate in \u escape'
	reason '{"measurement":"\ud800\ud800"}' 'unpaired surrogate in \u escape'
	reason '{"measurement":"\ud83d\ude00"}' ''
	reason_bytes '{"measurement":"a\tb"}' 'control character in string'
	reason_bytes '{"measurement":"a\001"}' 'control character in string'
	reason_bytes '{"measurement":"\xff"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\x80"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xc0\xaf"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xc1\xbf"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xe0\x80\xaf"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xed\xa0\x80"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xf0\x80\x80\xaf"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xf4\x90\x80\x80"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xf5\x80\x80\x80"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"\xe4\xb8"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"m","tags":{"k\xe4":"v"}}' 'invalid UTF-8'
	reason_bytes '{"measurement":"m","x":"\xfe"}' 'invalid UTF-8'
	reason_bytes '{"measurement":"m"}\xc2\xa0' 'trailing characters after the record'
	# Long strings: the byte at the end of a 16-byte block is seen too.
	local pad
	for n in 13 14 15 16 17 30 31 32 33; do
		pad=$(printf "%${n}s" | tr ' ' a)
		reason_bytes "{\"measurement\":\"$pad\\xff\"}" 'invalid UTF-8'
		reason_bytes "{\"measurement\":\"$pad\\001\"}" 'control character in string'
		reason_bytes "{\"measurement\":\"$pad\"}" ''
	done
}

@test "limits: tags, fields, unknown keys and nesting" {
	local n
	gen() { # KIND COUNT
		python3 -c 'import json, sys
kind, n = sys.argv[1], int(sys.argv[2])
if kind == "tags":
    r = {"measurement": "m", "tags": {"t%d" % i: "v" for i in range(n)}}
elif kind == "fields":
    r = {"measurement": "m", "fields": {"f%d" % i: i for i in range(n)}}
else:
    r = {"measurement": "m", **{"u%d" % i: i for i in range(n)}}
print(json.dumps(r, separators=(",", ":")))' "$@"
	}
	[ "$(gen tags 1024 | "$R" check)" = ok ]
	gen tags 1025 | "$R" check | grep -q ': too many tags$'
	[ "$(gen fields 4096 | "$R" check)" = ok ]
	gen fields 4097 | "$R" check | grep -q ': too many fields$'
	[ "$(gen other 64 | "$R" check)" = ok ]
	gen other 65 | "$R" check | grep -q ': too many top-level keys$'
	# Nesting inside unknown keys: up to REC_MAX_DEPTH (64) levels.
	n=63
	reason "{\"measurement\":\"m\",\"x\":$(printf '[%.0s' $(seq $n))$(printf ']%.0s' $(seq $n))}" ''
	n=64
	reason "{\"measurement\":\"m\",\"x\":$(printf '[%.0s' $(seq $n))$(printf ']%.0s' $(seq $n))}" 'nesting too deep'
	reason "{\"measurement\":\"m\",\"x\":$(printf '{"a":%.0s' $(seq 100))1$(printf '}%.0s' $(seq 100))}" 'nesting too deep'
	# Many records with many keys: storage is reused, lookups by hash
	# still find every key.
	gen fields 4000 >"$BATS_TEST_TMPDIR/big"
	run "$R" get --field f0 --field f3999 --field f4000 "$BATS_TEST_TMPDIR/big"
	[ "$output" = $'field f0=0\nfield f3999=3999\nfield f4000 absent' ]
}

@test "keys with escapes are the same keys as without, at every length and position (duplicates, lookups)" {
	local n pos k esc
	for n in 1 2 3 4 5 6 7 8 9 11 15 16 17 24 31; do
		k=$(printf 'abcdefghijklmnopqrstuvwxyz0123456789' | head -c "$n")
		for pos in 0 $((n / 2)) $((n - 1)); do
			# the byte at pos written as \u00XX
			esc=${k:0:pos}$(printf '\\u%04x' "'${k:pos:1}")${k:pos+1}
			reason "{\"measurement\":\"m\",\"tags\":{\"$k\":\"1\",\"$esc\":\"2\"},\"fields\":{\"f\":1}}" 'duplicate tag key'
			reason "{\"measurement\":\"m\",\"fields\":{\"$esc\":1,\"$k\":2}}" 'duplicate field key'
			[ "$(printf '{"measurement":"m","tags":{"%s":"v"},"fields":{"f":1}}\n' "$esc" | "$R" get --tag "$k")" = "tag $k=v" ]
		done
	done
}
