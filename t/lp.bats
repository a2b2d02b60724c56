#!/usr/bin/env bats
# Line protocol (common/lp.c) through t/tools/lptool: what the parser
# accepts and the JSON record it makes of it, what it refuses and where,
# the writer, and the round trip LP → JSON → LP → JSON.

load lib/common

LPTOOL=$TOOLS/lptool
NL=$'\n'

# tojson_is INPUT EXPECTED [ARGS...]: the bytes of INPUT give EXPECTED
# (NDJSON; the default time is 42), and survive the round trip.
tojson_is() {
	local input=$1 want=$2 got rc=0
	shift 2
	got=$(printf '%s' "$input" | "$LPTOOL" tojson --now 42 "$@" 2>&1) || rc=$?
	if [ "$rc" != 0 ] || [ "$got" != "$want" ]; then
		printf 'input:    %q\nexpected: %s\ngot:      %s (exit %s)\n' "$input" "$want" "$got" "$rc"
		return 1
	fi
	got=$(printf '%s' "$input" | "$LPTOOL" roundtrip --now 42 "$@" 2>&1) || {
		printf 'round trip of %q failed:\n%s\n' "$input" "$got"
		return 1
	}
}

# tojson_fails INPUT "line L, column C: reason" [ARGS...]
tojson_fails() {
	local input=$1 want=$2 got rc=0
	shift 2
	got=$(printf '%s' "$input" | "$LPTOOL" tojson --now 42 "$@" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" != 1 ] || [ "$got" != "lptool: $want" ]; then
		printf 'input:    %q\nexpected: %s\ngot:      %s (exit %s)\n' "$input" "$want" "$got" "$rc"
		return 1
	fi
}

# fromjson_is JSON EXPECTED_LP [ARGS...]
fromjson_is() {
	local input=$1 want=$2 got rc=0
	shift 2
	got=$(printf '%s\n' "$input" | "$LPTOOL" fromjson --now 42 "$@" 2>&1) || rc=$?
	if [ "$rc" != 0 ] || [ "$got" != "$want" ]; then
		printf 'input:    %s\nexpected: %q\ngot:      %q (exit %s)\n' "$input" "$want" "$got" "$rc"
		return 1
	fi
}

@test "lp: minimal points, spacing, default time" {
	tojson_is 'm f=1' '{"measurement":"m","tags":{},"fields":{"f":1.0},"time":42}'
	tojson_is 'm,t=v f=1i 5' '{"measurement":"m","tags":{"t":"v"},"fields":{"f":1},"time":5}'
	tojson_is '  m,t=v  f=1i  5  ' '{"measurement":"m","tags":{"t":"v"},"fields":{"f":1},"time":5}'
	tojson_is "m f=1i 5${NL}" '{"measurement":"m","tags":{},"fields":{"f":1},"time":5}'
	tojson_is 'm,b=2,a=1,c=3 z=1i,y=2i,x=3i 1' \
		'{"measurement":"m","tags":{"b":"2","a":"1","c":"3"},"fields":{"z":1,"y":2,"x":3},"time":1}'
	tojson_is 'm time=1i,measurement="x" 1' \
		'{"measurement":"m","tags":{},"fields":{"time":1,"measurement":"x"},"time":1}'
}

@test "lp: escapes in measurement, tag keys, tag values, field keys" {
	tojson_is 'm\,x\ y,t=v f=1i 1' '{"measurement":"m,x y","tags":{"t":"v"},"fields":{"f":1},"time":1}'
	tojson_is 'a=b f=1i 1' '{"measurement":"a=b","tags":{},"fields":{"f":1},"time":1}'
	tojson_is 'm\=x f=1i 1' '{"measurement":"m=x","tags":{},"fields":{"f":1},"time":1}'
	tojson_is 'm,k\,1\=2\ 3=v f=1i 1' '{"measurement":"m","tags":{"k,1=2 3":"v"},"fields":{"f":1},"time":1}'
	tojson_is 'm,os=Mac\ OS,a=x\,y,b=p\=q f=1i 1' \
		'{"measurement":"m","tags":{"os":"Mac OS","a":"x,y","b":"p=q"},"fields":{"f":1},"time":1}'
	tojson_is 'm f\ x\,y\=z=1i 1' '{"measurement":"m","tags":{},"fields":{"f x,y=z":1},"time":1}'
	# A backslash before any other byte is itself.
	tojson_is 'm\x,k\a=C:\dir\n f\t=1i 1' \
		'{"measurement":"m\\x","tags":{"k\\a":"C:\\dir\\n"},"fields":{"f\\t":1},"time":1}'
	# "\\," is a literal backslash then an escaped comma (DataKit's reading).
	tojson_is 'm,k=a\\,b\=1\\ 2 f=1i 1' '{"measurement":"m","tags":{"k":"a\\,b=1\\ 2"},"fields":{"f":1},"time":1}'
	tojson_is 'm,k=a\\b f=1i 1' '{"measurement":"m","tags":{"k":"a\\\\b"},"fields":{"f":1},"time":1}'
	# Quotes in tag values are plain bytes; tag values are never quoted.
	tojson_is 'm,q="x",j={"a":1} f=1i 1' \
		'{"measurement":"m","tags":{"q":"\"x\"","j":"{\"a\":1}"},"fields":{"f":1},"time":1}'
}

@test "lp: string fields" {
	tojson_is 'm s="a\"b\\c\d" 1' '{"measurement":"m","tags":{},"fields":{"s":"a\"b\\c\\d"},"time":1}'
	tojson_is 'm s="",t="a,b=c d" 1' '{"measurement":"m","tags":{},"fields":{"s":"","t":"a,b=c d"},"time":1}'
	tojson_is 'm s="x\\" 1' '{"measurement":"m","tags":{},"fields":{"s":"x\\"},"time":1}'
	tojson_is $'m s="tab\there",u="\x01" 1' \
		'{"measurement":"m","tags":{},"fields":{"s":"tab\there","u":"\u0001"},"time":1}'
	# A raw newline inside quotes belongs to the string.
	tojson_is $'m,t=v s="TypeError\n\tat f @ http://x/app.js:1:821\n\tat g @ http://x/app.js:1:900",n=1i 7\nm2 f=2i 8' \
		$'{"measurement":"m","tags":{"t":"v"},"fields":{"s":"TypeError\\n\\tat f @ http://x/app.js:1:821\\n\\tat g @ http://x/app.js:1:900","n":1},"time":7}\n{"measurement":"m2","tags":{},"fields":{"f":2},"time":8}'
	tojson_is $'m s="a\r\nb" 1' '{"measurement":"m","tags":{},"fields":{"s":"a\r\nb"},"time":1}'
	tojson_is 'm,k=日本 s="é ü" 1' '{"measurement":"m","tags":{"k":"日本"},"fields":{"s":"é ü"},"time":1}'
	# Invalid UTF-8 in strings and tag values: accepted, U+FFFD in JSON.
	tojson_is $'m,k=a\xffb s="x\xc3" 1' '{"measurement":"m","tags":{"k":"a�b"},"fields":{"s":"x�"},"time":1}'
}

@test "lp: floats as JSON floats" {
	tojson_is 'm a=1,b=1.5,c=-1e5,d=1E5,e=.5,f=5.,g=+1,h=007,i=-0.25e-3,j=0,k=-.5,l=00.10,n=1.e5,o=-0 1' \
		'{"measurement":"m","tags":{},"fields":{"a":1.0,"b":1.5,"c":-1e5,"d":1E5,"e":0.5,"f":5.0,"g":1.0,"h":7.0,"i":-0.25e-3,"j":0.0,"k":-0.5,"l":0.10,"n":1.0e5,"o":-0.0},"time":1}'
	tojson_is 'm a=1.7976931348623157e308,b=4.9e-324,c=1e-400,d=123456789012345678901234567890 1' \
		'{"measurement":"m","tags":{},"fields":{"a":1.7976931348623157e308,"b":4.9e-324,"c":1e-400,"d":123456789012345678901234567890.0},"time":1}'
}

@test "lp: integers and unsigned integers" {
	tojson_is 'm a=12i,b=-12i,c=0i,d=9223372036854775807i,e=-9223372036854775808i,f=+5i,g=007i,h=-0i 1' \
		'{"measurement":"m","tags":{},"fields":{"a":12,"b":-12,"c":0,"d":9223372036854775807,"e":-9223372036854775808,"f":5,"g":7,"h":-0},"time":1}'
	# Records hold int64: an unsigned value past it becomes a float.
	tojson_is 'm a=12u,b=0u,c=9223372036854775807u,d=9223372036854775808u,e=18446744073709551615u 1' \
		'{"measurement":"m","tags":{},"fields":{"a":12,"b":0,"c":9223372036854775807,"d":9223372036854775808.0,"e":18446744073709551615.0},"time":1}'
}

@test "lp: every spelling of the booleans" {
	tojson_is 'm a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1' \
		'{"measurement":"m","tags":{},"fields":{"a":true,"b":true,"c":true,"d":true,"e":true,"f":false,"g":false,"h":false,"i":false,"j":false},"time":1}'
}

@test "lp: precisions" {
	local p want
	for p in ns:1 n:1 us:1000 u:1000 ms:1000000 s:1000000000 m:60000000000 h:3600000000000; do
		tojson_is 'm f=1i 1' "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"f\":1},\"time\":${p#*:}}" -p "${p%%:*}"
		tojson_is 'm f=1i -3' "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"f\":1},\"time\":-$((3 * ${p#*:}))}" -p "${p%%:*}"
	done
	# Without a precision: guessed from the magnitude.
	for p in 1700000000:1700000000000000000 9223372036:9223372036000000000 \
		1700000000123:1700000000123000000 1700000000123456:1700000000123456000 \
		1700000000123456789:1700000000123456789 -1700000000:-1700000000000000000 \
		0:0 10000000000:10000000000000000 -1700000000123:-1700000000123000000; do
		tojson_is "m f=1i ${p%%:*}" "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"f\":1},\"time\":${p#*:}}" -p guess
	done
	tojson_is 'm f=1i 9223372036854775807' \
		'{"measurement":"m","tags":{},"fields":{"f":1},"time":9223372036854775807}'
	tojson_is 'm f=1i -9223372036854775808' \
		'{"measurement":"m","tags":{},"fields":{"f":1},"time":-9223372036854775808}'
	tojson_is 'm f=1i 9223372036' '{"measurement":"m","tags":{},"fields":{"f":1},"time":9223372036000000000}' -p s
}

@test "lp: line ends, blank lines, comments" {
	tojson_is $'m f=1i 5\r\nn g=2i 6\r\n' \
		$'{"measurement":"m","tags":{},"fields":{"f":1},"time":5}\n{"measurement":"n","tags":{},"fields":{"g":2},"time":6}'
	tojson_is $'m f=1i\r\n' '{"measurement":"m","tags":{},"fields":{"f":1},"time":42}'
	tojson_is $'m s="x"\r' '{"measurement":"m","tags":{},"fields":{"s":"x"},"time":42}'
	tojson_is $'# a comment\n\n   \n\t\nm f=1i 1\n  # another, f=2\n\r\n\n' \
		'{"measurement":"m","tags":{},"fields":{"f":1},"time":1}'
	tojson_is $'\n\n# only comments\n' ''
	tojson_is '' ''
}

@test "lp: tag overrides replace in place or append" {
	tojson_is 'm,a=1,ip=10.0.0.1,b=2 f=1i 1' \
		'{"measurement":"m","tags":{"a":"1","ip":"203.0.113.7","b":"2"},"fields":{"f":1},"time":1}' --set ip=203.0.113.7
	tojson_is 'm,a=1 f=1i 1' \
		'{"measurement":"m","tags":{"a":"1","ip":"203.0.113.7"},"fields":{"f":1},"time":1}' --set ip=203.0.113.7
	tojson_is 'm f=1i 1' \
		'{"measurement":"m","tags":{"ip":"a\"b","x y":"1"},"fields":{"f":1},"time":1}' --set 'ip=a"b' --set 'x y=1'
	tojson_is 'm,x\ y=0 f=1i 1' \
		'{"measurement":"m","tags":{"x y":"1"},"fields":{"f":1},"time":1}' --set 'x y=1'
}

@test "lp: bad input is refused with its line, column and reason" {
	tojson_fails ',t=v f=1' 'line 1, column 1: empty measurement'
	tojson_fails 'm' 'line 1, column 2: missing fields'
	tojson_fails 'm,t=v' 'line 1, column 6: missing fields'
	tojson_fails 'm ' 'line 1, column 3: missing fields'
	tojson_fails $'m \n' 'line 1, column 3: missing fields'
	tojson_fails 'm,=v f=1' 'line 1, column 3: empty tag key'
	tojson_fails 'm,t f=1' "line 1, column 4: tag without value (missing '=')"
	tojson_fails 'm,t=v,' "line 1, column 7: empty tag key"
	tojson_fails 'm,t= f=1' 'line 1, column 5: empty tag value'
	tojson_fails 'm,t=a=b f=1' "line 1, column 6: unescaped '=' in tag value"
	tojson_fails 'm =1' 'line 1, column 3: empty field key'
	tojson_fails 'm f' "line 1, column 4: field without value (missing '=')"
	tojson_fails 'm f=' 'line 1, column 5: missing field value'
	tojson_fails 'm f=,g=1' 'line 1, column 5: missing field value'
	tojson_fails 'm f=1,' 'line 1, column 7: empty field key'
	tojson_fails 'm f=abc' 'line 1, column 5: invalid field value'
	tojson_fails 'm f=tru' 'line 1, column 5: invalid field value'
	tojson_fails 'm f=t1' 'line 1, column 5: invalid field value'
	tojson_fails 'm f=1.2.3' 'line 1, column 5: invalid number'
	tojson_fails 'm f=1x' 'line 1, column 5: invalid number'
	tojson_fails 'm f=-' 'line 1, column 5: invalid number'
	tojson_fails 'm f=1e' 'line 1, column 5: invalid number'
	tojson_fails 'm f=.' 'line 1, column 5: invalid number'
	tojson_fails 'm f=i' 'line 1, column 5: invalid field value'
	tojson_fails 'm f=-i' 'line 1, column 5: invalid integer'
	tojson_fails 'm f=1.5i' 'line 1, column 5: invalid integer'
	tojson_fails 'm f="abc' 'line 1, column 5: unterminated string'
	tojson_fails 'm f="a\"' 'line 1, column 5: unterminated string'
	tojson_fails $'m,t=v g=1,f="abc\ndef\n' 'line 1, column 13: unterminated string'
	tojson_fails 'm f=9223372036854775808i' 'line 1, column 5: integer out of range (int64)'
	tojson_fails 'm f=-9223372036854775809i' 'line 1, column 5: integer out of range (int64)'
	tojson_fails 'm f=18446744073709551616u' 'line 1, column 5: unsigned integer out of range (uint64)'
	tojson_fails 'm f=-1u' 'line 1, column 5: negative unsigned integer'
	tojson_fails 'm f=NaN' 'line 1, column 5: NaN and Inf are not supported'
	tojson_fails 'm f=inf' 'line 1, column 5: NaN and Inf are not supported'
	tojson_fails 'm f=-Inf' 'line 1, column 5: NaN and Inf are not supported'
	tojson_fails 'm f=+infinity' 'line 1, column 5: NaN and Inf are not supported'
	tojson_fails 'm f=1e400' 'line 1, column 5: float out of range'
	tojson_fails 'm f=-1.5e309' 'line 1, column 5: float out of range'
	tojson_fails 'm f=1i 12a' 'line 1, column 8: bad timestamp'
	tojson_fails 'm f=1i 1.5' 'line 1, column 8: bad timestamp'
	tojson_fails 'm f=1i -' 'line 1, column 8: bad timestamp'
	tojson_fails 'm f=1i x=2' 'line 1, column 8: bad timestamp'
	tojson_fails 'm f=1i 9223372036854775808' 'line 1, column 8: timestamp out of range'
	tojson_fails 'm f=1i -9223372036854775809' 'line 1, column 8: timestamp out of range'
	tojson_fails 'm f=1i 9223372036854775807' 'line 1, column 8: timestamp out of range' -p ms
	tojson_fails 'm f=1i 9223372037' 'line 1, column 8: timestamp out of range' -p s
	tojson_fails 'm f=1i 153722867281' 'line 1, column 8: timestamp out of range' -p m
	tojson_fails 'm f=1i 1 2' 'line 1, column 10: unexpected text after the timestamp'
	tojson_fails $'m f=1i\rx' 'line 1, column 7: unexpected text after the fields'
	tojson_fails 'm f="a"b' "line 1, column 8: expected ',' or ' ' after string field"
	tojson_fails 'm,t=1,t=2 f=1' 'line 1, column 7: duplicate tag key'
	tojson_fails 'm f=1,g=2,f=3' 'line 1, column 11: duplicate field key'
	tojson_fails $'m,\xff=v f=1' 'line 1, column 3: invalid UTF-8 in tag key'
	tojson_fails $'m a\xc3\x28=1' 'line 1, column 3: invalid UTF-8 in field key'
	tojson_fails $'m,t=v f\xed\xa0\x80=1' 'line 1, column 7: invalid UTF-8 in field key'
}

@test "lp: errors name the right line across points and multi-line strings" {
	tojson_fails $'m f=1\nm f=2\nm f=x' 'line 3, column 5: invalid field value'
	tojson_fails $'# c\n\r\nm f=1\n\nm f=x' 'line 5, column 5: invalid field value'
	tojson_fails $'m s="a\nb"\nm f=' 'line 3, column 5: missing field value'
	tojson_fails $'m s="a\nb",g=' 'line 2, column 6: missing field value'
	tojson_fails $'m s="a\nbc\nd",f=1,s=2' 'line 3, column 8: duplicate field key'
	tojson_fails $'m f=1\r\nm f=1,f=2\r\n' 'line 2, column 7: duplicate field key'
	# Points before the bad one were produced; the parser stops at it.
	run bash -c "printf 'm f=1i 1\nm f=q 2\nm f=3i 3\n' | '$LPTOOL' tojson 2>'$BATS_TEST_TMPDIR/err'"
	[ "$status" -eq 1 ]
	[ "$output" = '{"measurement":"m","tags":{},"fields":{"f":1},"time":1}' ]
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = 'lptool: line 2, column 5: invalid field value' ]
}

@test "lp: tag and field limits" {
	local tags fields
	tags=$(python3 -c 'print(",".join("t%d=v" % i for i in range(1024)))')
	fields=$(python3 -c 'print(",".join("f%d=1i" % i for i in range(4096)))')
	run bash -c "printf 'm,%s %s 1' '$tags' '$fields' | '$LPTOOL' tojson | jq -c '[(.tags|length), (.fields|length)]'"
	[ "$status" -eq 0 ]
	[ "$output" = "[1024,4096]" ]
	run bash -c "printf 'm,%s,x=1 f=1' '$tags' | '$LPTOOL' tojson"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 1, column "*": too many tags" ]]
	run bash -c "printf 'm %s,x=1' '$fields' | '$LPTOOL' tojson"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 1, column "*": too many fields" ]]
	# A duplicate among many keys (the hashed check).
	tags=$(python3 -c 'print(",".join("t%d=v" % i for i in range(1023)))')
	run bash -c "printf 'm,%s,t1000=w f=1' '$tags' | '$LPTOOL' tojson"
	[ "$status" -eq 1 ]
	[[ "$output" == *": duplicate tag key" ]]
	fields=$(python3 -c 'print(",".join("f%d=1i" % i for i in range(100)))')
	run bash -c "printf 'm %s,f77=2i' '$fields' | '$LPTOOL' tojson"
	[ "$status" -eq 1 ]
	[[ "$output" == *": duplicate field key" ]]
}

@test "lp: writer escapes what the parser unescapes" {
	fromjson_is '{"measurement":"m","tags":{"a":"x y","b":"p,q=r"},"fields":{"i":1,"f":1.5,"b":true,"c":false,"s":"a\"b\\c\nd"},"time":5}' \
		$'m,a=x\\ y,b=p\\,q\\=r i=1i,f=1.5,b=true,c=false,s="a\\"b\\\\c\nd" 5'
	fromjson_is '{"measurement":"m x,y=z","tags":{"k =,":"v"},"fields":{"f g":1e5}}' \
		'm\ x\,y=z,k\ \=\,=v f\ g=1e5 42'
	fromjson_is '{"measurement":"a=b\\=c","fields":{"f":1}}' 'a=b\\=c f=1i 42'
	# Backslashes stay, and one before an escaped byte survives the trip.
	fromjson_is '{"measurement":"m","tags":{"k":"a\\ b","p":"C:\\dir"},"fields":{"f":1}}' \
		'm,k=a\\ b,p=C:\dir f=1i 42'
	# What line protocol cannot carry: empty tag values (dropped), trailing
	# backslashes (dropped), newlines in names (written as \n).
	fromjson_is '{"measurement":"m\\","tags":{"e":"","t":"v\\\\","n":"a\nb"},"fields":{"f\\":1,"g":"x"},"time":1}' \
		'm,t=v,n=a\nb f=1i,g="x" 1'
	fromjson_is '{"time":3,"fields":{"f":-1.0E-7},"tags":{},"measurement":"m"}' 'm f=-1.0E-7 3'
	fromjson_is '{ "measurement" : "m" , "fields" : { "u" : "\u00e9\ud83d\ude00" } }' 'm u="é😀" 42' --now 42
	# Not expressible: no fields, an empty measurement, one that would read as a comment.
	local j
	for j in '{"measurement":"m","tags":{"a":"b"},"fields":{}}' '{"measurement":"m","tags":{"a":"b"}}' \
		'{"measurement":"\\","fields":{"f":1}}' '{"measurement":"\\\\","fields":{"f":1}}' \
		'{"measurement":"#m","fields":{"f":1}}'; do
		run bash -c "printf '%s\n' '$j' | '$LPTOOL' fromjson"
		[ "$status" -eq 1 ]
		[ "$output" = "lptool: line 1: cannot be written as line protocol" ]
	done
}

@test "lp: written line protocol reads back to the same records" {
	local json lp back
	json='{"measurement":"m\\ x","tags":{"k":"a\\ b","c":"x\\,y","q":"\"","u":"é"},"fields":{"s":"\\\"\n\t","i":-7,"f":0.5,"b":true},"time":-1}'
	lp=$(printf '%s\n' "$json" | "$LPTOOL" fromjson)
	back=$(printf '%s\n' "$lp" | "$LPTOOL" tojson -p ns)
	[ "$back" = "$json" ]
}

@test "lp: DataKit's web SDK batch (9 points, multi-line error_stack)" {
	local body=$FIXTURES/datakit/body
	[ -f "$body" ] || skip "no ../shared/fixtures/datakit/body"
	run bash -c "'$LPTOOL' tojson -p ms <'$body' >'$BATS_TEST_TMPDIR/fx.json'"
	[ "$status" -eq 0 ]
	run jq -r '.measurement' "$BATS_TEST_TMPDIR/fx.json"
	[ "$(echo "$output" | tr '\n' ' ')" = "resource long_task resource resource long_task long_task error error view " ]
	run jq -r 'select(.measurement == "error") | .fields.error_stack' "$BATS_TEST_TMPDIR/fx.json"
	[ "$output" = $'TypeError\n\tat <anonymous> @ http://localhost:5500/dist/bundle.js:1:821\nTypeError\n\tat <anonymous> @ http://localhost:5500/dist/bundle.js:1:821' ]
	run jq -r '"\(.tags.os)|\(.time)|\(.tags.app_id)|\(.tags|length)"' "$BATS_TEST_TMPDIR/fx.json"
	[ "${lines[0]}" = "Mac OS|1636524705407000000|appid_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|33" ]
	[ "${lines[6]}" = "Mac OS|1636524715601000000|appid_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|26" ]
	# The same with the precision guessed from the magnitude.
	run bash -c "'$LPTOOL' tojson <'$body' | cmp - '$BATS_TEST_TMPDIR/fx.json'"
	[ "$status" -eq 1 ] # ns without a precision: differs
	run bash -c "'$LPTOOL' tojson -p guess <'$body' | cmp - '$BATS_TEST_TMPDIR/fx.json'"
	[ "$status" -eq 0 ]
	run "$LPTOOL" roundtrip -p ms <"$body"
	[ "$status" -eq 0 ]
	[ "$output" = "9 points" ]
}

@test "lp: t/'s own web SDK batch and its round trip through JSON" {
	local body=$TOP/t/data/web-batch.lp j=$BATS_TEST_TMPDIR/wb.json
	"$LPTOOL" tojson -p ms <"$body" >"$j"
	[ "$(wc -l <"$j")" -eq 9 ]
	run jq -r '.measurement' "$j"
	[ "$(echo "$output" | tr '\n' ' ')" = "resource long_task resource resource long_task long_task error error view " ]
	run jq -r 'select(.measurement == "error") | .fields.error_stack' "$j"
	[ "${lines[0]}" = "ReferenceError: cartTotal is not defined" ]
	[ "${lines[1]}" = $'\tat updateBadge @ http://shop.example.test:8080/static/app.3f9c.js:1:821' ]
	[ "${lines[3]}" = $'\tat dispatch @ http://shop.example.test:8080/static/vendor.91ab.js:1:88213' ]
	[ "${lines[5]}" = $'\tat <anonymous> @ http://shop.example.test:8080/static/app.3f9c.js:1:821' ]
	[ "${#lines[@]}" -eq 6 ]
	run jq -r '"\(.tags.os)|\(.tags.view_url)|\(.time)|\(.fields|length)"' "$j"
	[ "${lines[0]}" = "Windows NT|http://shop.example.test:8080/cart?step=2|1700000000123000000|1" ]
	[ "${lines[8]}" = "Windows NT|http://shop.example.test:8080/cart?step=2|1700000000011000000|15" ]
	# floats stay floats, with a '.', in the record
	grep -q '"cumulative_layout_shift":0.042,' "$j"
	grep -q '"duration":0.0}' "$j"
	# JSON → LP → JSON gives the same records.
	run bash -c "'$LPTOOL' fromjson <'$j' | '$LPTOOL' tojson -p ns | cmp - '$j'"
	[ "$status" -eq 0 ]
	run "$LPTOOL" roundtrip -p ms <"$body"
	[ "$status" -eq 0 ]
	[ "$output" = "9 points" ]
}

@test "lp: a large body is parsed and converted quickly" {
	local body=$TOP/t/data/web-batch.lp
	run "$LPTOOL" bench -p ms -n 2000 <"$body"
	[ "$status" -eq 0 ]
	echo "# $output" >&3
	[[ "$output" == *" MB/s, "* ]]
}
