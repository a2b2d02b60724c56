#!/usr/bin/env bats
# The source map engine of rum-symbolicate (cmd/rum-symbolicate/sourcemap.c)
# through smtool: the TC39 conformance suite when ../shared/fixtures has it,
# hand-made maps with known answers, maps that must be refused with their
# reason, random maps read in chunks of every size against an independent
# reading (t/lib/smgen), and the memory a map costs.

load lib/common
bats_require_minimum_version 1.5.0

SMTOOL=$TOOLS/smtool
SMGEN=$BATS_TEST_DIRNAME/lib/smgen

# map NAME: stdin (a smgen spec) encoded into $BATS_TEST_TMPDIR/NAME.
map() { "$SMGEN" encode >"$BATS_TEST_TMPDIR/$1"; }

# bad JSON REASON: smtool refuses the map (exit 2) with a "byte N: " reason
# containing REASON.
bad() {
	local json=$1 reason=$2
	run -2 "$SMTOOL" --check - < <(printf '%s' "$json")
	[[ $output == "smtool: -: byte "[0-9]*": "* ]] || { echo "no byte offset: $output"; return 1; }
	[[ $output == *"$reason"* ]] || { echo "for $json: expected '$reason', got: $output"; return 1; }
}

@test "TC39 source map conformance suite" {
	local suite=${FIXTURES:-/nonexistent}/source-map-tests
	[ -f "$suite/source-map-spec-tests.json" ] || skip "no ../shared/fixtures/source-map-tests"
	run "$BATS_TEST_DIRNAME/lib/sourcemap-conformance" "$SMTOOL" "$suite"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"failures: 0"* ]]
	# Every valid map, every invalid one, every mapping action of the suite
	# as it is today (a newer suite only adds).
	[[ $output =~ "valid maps loaded: "([0-9]+)", invalid maps refused: "([0-9]+)", checkMapping held: "([0-9]+)", checkMappingTransitive held: "([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -ge 32 ] && [ "${BASH_REMATCH[2]}" -ge 67 ]
	[ "${BASH_REMATCH[3]}" -ge 77 ] && [ "${BASH_REMATCH[4]}" -ge 16 ]
	echo "# ${output##*$'\n'}" >&3
}

@test "TC39 suite read one byte at a time" {
	local suite=${FIXTURES:-/nonexistent}/source-map-tests
	[ -f "$suite/source-map-spec-tests.json" ] || skip "no ../shared/fixtures/source-map-tests"
	run "$BATS_TEST_DIRNAME/lib/sourcemap-conformance" "$SMTOOL" "$suite" --chunk 1
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "1-, 4- and 5-field segments, empty lines, positions outside any segment" {
	# Encoded by hand: line 0 [0,a.js,0,0] [4] [8,b.js,2,3,bar] [12,a.js,5,6];
	# line 1 empty; line 2 [2,b.js,7,0,foo].
	local m=$BATS_TEST_TMPDIR/m.json
	echo '{"version":3,"sources":["a.js","b.js"],"names":["foo","bar"],"mappings":"AAAA,I,ICEGC,IDGG;;ECEND"}' >"$m"
	run "$SMTOOL" "$m" 0:0 0:3 0:4 0:7 0:8 0:11 0:12 0:1000 1:0 2:0 2:1 2:2 2:9 3:0 99:5
	[ "$status" -eq 0 ]
	diff -u <(printf '%b\n' 'a.js\t0\t0\t-' 'a.js\t0\t0\t-' '-' '-' 'b.js\t2\t3\tbar' \
		'b.js\t2\t3\tbar' 'a.js\t5\t6\t-' 'a.js\t5\t6\t-' '-' '-' '-' 'b.js\t7\t0\tfoo' \
		'b.js\t7\t0\tfoo' '-' '-') <(echo "$output")
	# t/lib/smgen writes the same mappings from absolute segments.
	echo '{"segments":[[[0,0,0,0],[4],[8,1,2,3,1],[12,0,5,6]],[],[[2,1,7,0,0]]]}' | map s.json
	grep -q '"mappings": "AAAA,I,ICEGC,IDGG;;ECEND"' "$BATS_TEST_TMPDIR/s.json"
	# Positions also come on stdin, as LINE:COL or LINE COL.
	run "$SMTOOL" "$m" <<<$'0:8\n2 2'
	[ "${lines[0]}" = $'b.js\t2\t3\tbar' ] && [ "${lines[1]}" = $'b.js\t7\t0\tfoo' ]
}

@test "sourceRoot joined as the spec says; null sources keep their position" {
	printf '%s\n' '{"version":3,"sourceRoot":"src","sources":["a.js",null,"/abs/b.js"],"names":[],' \
		'"segments":[[[0,0,1,2],[5,1,3,4],[9,2,5,6]]]}' | map root.json
	run "$SMTOOL" "$BATS_TEST_TMPDIR/root.json" 0:0 0:5 0:9
	diff -u <(printf '%b\n' 'src/a.js\t1\t2\t-' '(null)\t3\t4\t-' 'src//abs/b.js\t5\t6\t-') <(echo "$output")
	local root
	for root in 'webpack:///' 'https://cdn.example/app/'; do
		echo "{\"version\":3,\"sourceRoot\":\"$root\",\"sources\":[\"./x.js\"],\"segments\":[[[0,0,0,0]]]}" | map r2.json
		run "$SMTOOL" "$BATS_TEST_TMPDIR/r2.json" 0:0
		[ "$output" = "${root}./x.js"$'\t0\t0\t-' ]
	done
	# An empty sourceRoot adds nothing (not the spec's lone "/").
	echo '{"version":3,"sourceRoot":"","sources":["webpack:///./src/index.js"],"segments":[[[0,0,16,4]]]}' | map r3.json
	run "$SMTOOL" "$BATS_TEST_TMPDIR/r3.json" 0:3
	[ "$output" = $'webpack:///./src/index.js\t16\t4\t-' ]
}

@test "JSON escapes in names, sources and mappings decode right" {
	local m=$BATS_TEST_TMPDIR/esc.json
	# 'Q' written as \u0051 and '/' as \/ inside mappings; a surrogate pair;
	# a lone surrogate (U+FFFD); escaped quote and backslash.
	cat >"$m" <<-'EOF'
		{"version":3,"sources":["dir\/caf\u00e9.js"],"names":["caf\u00e9","\ud83d\ude00x","q\"b\\s","lone\ud800end","t\tab"],
		 "mappings":"AAAAA,\u0051AAAC,QAAAC,QAAAC,QAAAC,gBAAAD,+\/\/\/\/DAAAA"}
	EOF
	run "$SMTOOL" "$m" 0:0 0:8 0:16 0:24 0:32 0:48
	[ "$status" -eq 0 ]
	diff -u <(printf '%s\t0\t0\t%s\n' 'dir/café.js' 'café' 'dir/café.js' '😀x' 'dir/café.js' 'q"b\s' \
		'dir/café.js' 'lone�end' 'dir/café.js' $'t\tab' 'dir/café.js' 'lone�end') <(echo "$output")
	# 2^31-1 columns away, the last segment (written with \/) is still there.
	run "$SMTOOL" "$m" 0:2147483695
	[ "$output" = $'dir/café.js\t0\t0\tlone�end' ]
	# Surrogates pair only when adjacent, as JSON.parse pairs them.
	run "$SMTOOL" - 0:0 < <(printf '%s' '{"version":3,"sources":["a"],"names":["\ud83d\ud83d\ude00|\ude00\ud83d|\ud83d\n|\ud83d"],"mappings":"AAAAA"}')
	[ "$output" = $'a\t0\t0\t\xef\xbf\xbd\xf0\x9f\x98\x80|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\n|\xef\xbf\xbd' ]
}

@test "strings scanned in blocks: quotes, backslashes, control bytes and UTF-8 at every offset" {
	local m=$BATS_TEST_TMPDIR/s.json
	python3 - "$m" <<-'EOF'
		import json, sys
		names = []
		for k in range(40):
		    for special in ('"', '\\', '\u00e9', '\x7f', '\u4e2d'):
		        names.append("\u00e9" * (k % 3) + "a" * k + special + "b" * (k % 17))
		segs = [[i, 0, i, 0, i] for i in range(len(names))]
		json.dump({"version": 3, "sources": ["s"], "names": names, "segments": [segs]},
		          open(sys.argv[1], "w"), ensure_ascii=False)
	EOF
	"$SMGEN" encode <"$m" >"$m.map"
	seq 0 199 | sed 's/^/0:/' >"$BATS_TEST_TMPDIR/pos"
	"$SMGEN" expect "$m.map" <"$BATS_TEST_TMPDIR/pos" >"$BATS_TEST_TMPDIR/want"
	"$SMTOOL" "$m.map" <"$BATS_TEST_TMPDIR/pos" | diff -u "$BATS_TEST_TMPDIR/want" -
	"$SMTOOL" --in-memory "$m.map" <"$BATS_TEST_TMPDIR/pos" | diff -u "$BATS_TEST_TMPDIR/want" -
	# A control byte is found wherever it is.
	local k
	for k in 0 1 7 8 9 15 16 17 31 32 33 47; do
		run -2 "$SMTOOL" --check - < <(printf '{"version":3,"x":"%s\001"}' "$(printf '%*s' $k '' | tr ' ' a)")
		[[ $output == *"byte $((18 + k)): control character 0x01 in string" ]]
	done
}

@test "segments whose fields are too large to pack, at each field's limit" {
	# Packed: source < 4096, name < 2^18 - 1, original line < 2^20,
	# original column < 4096; one past any of these goes apart.
	local m=$BATS_TEST_TMPDIR/wide.json
	python3 - "$m" <<-'EOF'
		import json, sys
		names = ["n%d" % i for i in range(1 << 18)]
		srcs = ["s%d.js" % i for i in range(4097)]
		segs, col = [], 0
		for src in (0, 4095, 4096):
		    for name in (None, 0, (1 << 18) - 2, (1 << 18) - 1):
		        for line in (0, (1 << 20) - 1, 1 << 20, (1 << 31) - 1):
		            for ocol in (0, 4095, 4096):
		                segs.append([col, src, line, ocol] + ([] if name is None else [name]))
		                col += 3
		segs.append([col])
		json.dump({"version": 3, "sources": srcs, "names": names, "segments": [segs, segs[::-1]]},
		          open(sys.argv[1], "w"))
	EOF
	"$SMGEN" encode <"$m" >"$m.map"
	local n=$(( 3 * 4 * 4 * 3 + 1 ))
	{ seq 0 $((n * 3)) | sed 's/^/0:/'; seq 0 $((n * 3)) | sed 's/^/1:/'; } >"$BATS_TEST_TMPDIR/pos"
	"$SMGEN" expect "$m.map" <"$BATS_TEST_TMPDIR/pos" >"$BATS_TEST_TMPDIR/want"
	[ "$(grep -c $'^s4096.js\t2147483647\t4096\tn262143$' "$BATS_TEST_TMPDIR/want")" -gt 0 ]
	"$SMTOOL" "$m.map" <"$BATS_TEST_TMPDIR/pos" | diff -u "$BATS_TEST_TMPDIR/want" -
	# And through an index map, where indexes are rebased.
	printf '{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sources":["x"],"mappings":"AAAA"}},{"offset":{"line":5,"column":0},"map":%s}]}' \
		"$(cat "$m.map")" >"$m.idx"
	"$SMGEN" expect "$m.idx" < <(sed 's/^0:/5:/; s/^1:/6:/' "$BATS_TEST_TMPDIR/pos") >"$BATS_TEST_TMPDIR/want2"
	sed 's/^0:/5:/; s/^1:/6:/' "$BATS_TEST_TMPDIR/pos" | "$SMTOOL" "$m.idx" | diff -u "$BATS_TEST_TMPDIR/want2" -
}

@test "segments out of column order: sorted stably; equal columns as trace-mapping" {
	echo '{"version":3,"sources":["a","b","c"],"segments":[[[10,0,1,1],[0,1,2,2],[10,2,3,3],[5,0,9,9]]]}' | map u.json
	run "$SMTOOL" "$BATS_TEST_TMPDIR/u.json" 0:0 0:4 0:5 0:9 0:10 0:11
	# At 10 exactly, the first segment at 10; past it, the last one at 10.
	diff -u <(printf '%b\n' 'b\t2\t2\t-' 'b\t2\t2\t-' 'a\t9\t9\t-' 'a\t9\t9\t-' 'a\t1\t1\t-' 'c\t3\t3\t-') <(echo "$output")
}

@test "index map: sections with line and column offsets flattened into one, nested ones too" {
	cat <<-'EOF' | map idx.json
		{"version":3,"file":"bundle.js","sections":[
		 {"offset":{"line":0,"column":0},"map":{"version":3,"sources":["a.js"],"names":["x"],
		   "segments":[[[0,0,0,0,0],[10,0,0,5]],[[0,0,1,0]]]}},
		 {"offset":{"line":1,"column":20},"map":{"version":3,"sourceRoot":"lib","sources":["b.js"],"names":["y"],
		   "segments":[[[0,0,3,0,0]],[[5,0,4,4]]]}},
		 {"map":{"version":3,"sources":["c.js",null],"names":["z"],"segments":[[[1,0,9,9,0]],[],[[0,1,1,1]]]},
		  "x_extra":[1,{"a":null}],"offset":{"column":0,"line":5}}
		]}
	EOF
	local m=$BATS_TEST_TMPDIR/idx.json
	run "$SMTOOL" "$m" 0:0 0:12 1:0 1:19 1:20 1:25 2:4 2:5 3:0 5:0 5:1 7:3 8:0
	[ "$status" -eq 0 ]
	diff -u <(printf '%b\n' 'a.js\t0\t0\tx' 'a.js\t0\t5\t-' 'a.js\t1\t0\t-' 'a.js\t1\t0\t-' \
		'lib/b.js\t3\t0\ty' 'lib/b.js\t3\t0\ty' '-' 'lib/b.js\t4\t4\t-' '-' '-' 'c.js\t9\t9\tz' \
		'(null)\t1\t1\t-' '-') <(echo "$output")
	run "$SMTOOL" --check "$m"
	[[ $output == "ok: 7 segments,"*"file bundle.js" ]]
	# The same, one byte at a time.
	run "$SMTOOL" --chunk 1 "$m" 1:25 5:1
	[ "${lines[0]}" = $'lib/b.js\t3\t0\ty' ] && [ "${lines[1]}" = $'c.js\t9\t9\tz' ]
	# An index map in a section: flattened too, at its section's offset.
	cat <<-'EOF' | map nest.json
		{"version":3,"sections":[
		 {"offset":{"line":0,"column":0},"map":{"version":3,"sources":["a.js"],"segments":[[[0,0,0,0]]]}},
		 {"offset":{"line":2,"column":10},"map":{"version":3,"sections":[
		   {"offset":{"line":0,"column":5},"map":{"version":3,"sourceRoot":"in/","sources":["b.js"],"segments":[[[0,0,1,1]],[[3,0,2,2]]]}},
		   {"offset":{"line":1,"column":7},"map":{"version":3,"sources":["c.js"],"names":["n"],"segments":[[[0,0,3,3,0]]]}}]}}]}
	EOF
	run "$SMTOOL" "$BATS_TEST_TMPDIR/nest.json" 0:9 2:14 2:15 3:2 3:3 3:6 3:7 3:99
	# Nothing carries over from one line to the next.
	diff -u <(printf '%b\n' 'a.js\t0\t0\t-' '-' 'in/b.js\t1\t1\t-' '-' 'in/b.js\t2\t2\t-' \
		'in/b.js\t2\t2\t-' 'c.js\t3\t3\tn' 'c.js\t3\t3\tn') <(echo "$output")
	"$SMGEN" expect "$BATS_TEST_TMPDIR/nest.json" <<<$'0:9\n2:14\n2:15\n3:2\n3:3\n3:6\n3:7\n3:99' | diff -u - <(echo "$output")
	# An empty "sections" is a valid map that maps nothing.
	run "$SMTOOL" - 0:0 <<<'{"version":3,"sections":[]}'
	[ "$output" = "-" ]
}

@test "invalid maps are refused with the reason and where" {
	local ok='"version":3,"sources":["a"],"names":["n"]'
	bad 'not json' 'a source map is a JSON object'
	bad '' 'a source map is a JSON object, not nothing'
	bad '[]' 'a source map is a JSON object, not an array'
	bad "{$ok,\"mappings\":\"AAAA\"} x" "unexpected 'x', expected the end of input"
	bad "{$ok,\"mappings\":\"AAAA\"" 'unexpected end of input'
	bad "{$ok,\"mappings\":\"AAAA" 'unterminated mappings string'
	bad '{"sources":[],"mappings":""}' 'no "version"'
	bad '{"version":2,"sources":[],"mappings":""}' 'unsupported version 2'
	bad '{"version":"3","sources":[],"mappings":""}' '"version" must be the number 3, not a string'
	bad '{"version":3.5,"sources":[],"mappings":""}' 'version must be a non-negative integer'
	bad '{"version":3,"sources":[]}' 'no "mappings"'
	bad '{"version":3,"mappings":""}' 'no "sources"'
	bad '{"version":3,"sources":{},"mappings":""}' '"sources" must be an array, not an object'
	bad '{"version":3,"sources":[1],"mappings":""}' 'sources[0] must be a string or null, not a number'
	bad '{"version":3,"sources":[],"names":[null],"mappings":""}' 'names[0] must be a string, not null'
	bad '{"version":3,"sources":[],"sourcesContent":["x",2],"mappings":""}' 'sourcesContent[1] must be a string or null'
	bad '{"version":3,"sources":[],"mappings":"","file":7}' '"file" must be a string, not a number'
	bad '{"version":3,"sources":[],"mappings":"","sourceRoot":null}' '"sourceRoot" must be a string, not null'
	bad '{"version":3,"sources":["a"],"mappings":"","ignoreList":[1]}' 'ignoreList index 1 out of range (1 sources)'
	bad '{"version":3,"sources":["a"],"mappings":"","ignoreList":["0"]}' 'ignoreList[0] must be a number'
	bad '{"version":3,"sources":[],"mappings":5}' '"mappings" must be a string, not a number'
	bad "{$ok,\"mappings\":\"AAAA,ACAA\"}" 'source index 1 out of range (1 sources)'
	bad "{\"mappings\":\"AAAAC\",$ok}" 'name index 1 out of range (1 names)'
	bad "{$ok,\"mappings\":\"AA!A\"}" "'!' in mappings is not a base64 digit or separator"
	bad "{$ok,\"mappings\":\"AAAA=\"}" "'=' in mappings (base64 padding is not allowed)"
	bad "{$ok,\"mappings\":\"AAAg\"}" 'VLQ ends with a continuation digit'
	bad "{$ok,\"mappings\":\"AA\"}" 'segment with 2 fields (1, 4 or 5 expected)'
	bad "{$ok,\"mappings\":\"AAA;\"}" 'segment with 3 fields'
	bad "{$ok,\"mappings\":\"AAAAAA\"}" 'segment with more than 5 fields'
	bad "{$ok,\"mappings\":\"AAAA,,AAAA\"}" 'empty segment'
	bad "{$ok,\"mappings\":\"AAAA,;\"}" 'empty segment'
	bad "{$ok,\"mappings\":\",AAAA\"}" 'empty segment'
	bad "{$ok,\"mappings\":\"ggggggE\"}" 'VLQ value exceeds 32 bits'
	bad "{$ok,\"mappings\":\"+/////D,+/////D,+/////D\"}" 'generated column exceeds 32 bits'
	bad "{$ok,\"mappings\":\"D\"}" 'generated column is negative (-1)'
	bad "{$ok,\"mappings\":\"ADAA\"}" 'source index is negative (-1)'
	bad "{$ok,\"mappings\":\"AAAA,AAAD\"}" 'original column is negative (-1)'
	bad "{$ok,\"mappings\":\"AAAA\",\"mappings\":\"AAAA\"}" 'duplicate member "mappings"'
	bad "{$ok,\"mappings\":\"AAAA\",\"x\":\"a$(printf '\001')b\"}" 'control character 0x01 in string'
	bad "{$ok,\"mappings\":\"AAAA\",\"x\":\"\\x\"}" "bad escape '\\x'"
	bad "{$ok,\"mappings\":\"AAAA\",\"x\":\"\\u12G4\"}" 'expected a hex digit'
	bad "{$ok,\"mappings\":\"AAAA\",\"x\":01}" "unexpected '1', expected ',' or '}'"
	bad "{$ok,\"mappings\":\"AAAA\",\"x\":[1,]}" "unexpected ']', expected a value"
	bad "{$ok,\"mappings\":\"AAAA\",\"x\":tru}" 'expected true'
	bad "{$ok,\"mappings\":\"AAAA\",\"x\":$(printf '[%.0s' {1..600})}" 'nesting deeper than 512'
	# Index maps.
	local sec='{"offset":{"line":0,"column":0},"map":{"version":3,"sources":["a"],"mappings":"AAAA"}}'
	bad "{\"version\":3,\"sections\":[$sec],\"mappings\":\"\"}" 'an index map ("sections") with "mappings" too'
	bad '{"version":3,"sections":{}}' '"sections" must be an array, not an object'
	bad '{"version":3,"sections":[1]}' 'sections[0] must be an object, not a number'
	bad '{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"a.map"}]}' 'has a "url" (not supported) and no "map"'
	bad '{"version":3,"sections":[{"map":{"version":3,"sources":[],"mappings":""}}]}' 'sections[0] has no "offset"'
	bad '{"version":3,"sections":[{"offset":{"line":0},"map":{"version":3,"sources":[],"mappings":""}}]}' 'section offset has no "column"'
	bad '{"version":3,"sections":[{"offset":{"line":-1,"column":0},"map":{"version":3,"sources":[],"mappings":""}}]}' 'offset line must be a non-negative integer'
	bad '{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":"x.map"}]}' 'section "map" must be an object, not a string'
	bad "{\"version\":3,\"sections\":[{\"offset\":{\"line\":0,\"column\":0},\"map\":{\"version\":3,\"sections\":[${sec/\"line\":0/\"line\":1},$sec]}}]}" 'sections[1] at 0:0 comes before the previous section (1:0)'
	local deep=$sec i
	for i in {1..33}; do deep="{\"offset\":{\"line\":0,\"column\":0},\"map\":{\"version\":3,\"sections\":[$deep]}}"; done
	bad "{\"version\":3,\"sections\":[$deep]}" 'index maps nested deeper than 32'
	bad "{\"version\":3,\"sections\":[{\"offset\":{\"line\":0,\"column\":0},\"map\":{\"version\":3,\"sources\":[],\"mappings\":\"AAAA\"}}]}" 'source index 0 out of range (0 sources)'
	bad "{\"version\":3,\"sections\":[${sec/\"line\":0/\"line\":2},$sec]}" 'sections[1] at 0:0 comes before the previous section (2:0)'
	bad "{\"version\":3,\"sections\":[${sec/AAAA/AAAA,UAAA},${sec/\"column\":0/\"column\":10}]}" 'sections[1] at 0:10 overlaps the previous section (mapping at 0:10)'
	bad "{\"version\":3,\"sections\":[$sec,$sec]}" 'overlaps the previous section (mapping at 0:0)'
	# The reader failing: where it failed.
	local m=$BATS_TEST_TMPDIR/ok.json
	echo "{$ok,\"mappings\":\"AAAA\"}" >"$m"
	run -2 "$SMTOOL" --chunk 5 --fail-after 20 --check "$m"
	[[ $output == *"byte 20: read error" ]]
	run "$SMTOOL" --chunk 5 --fail-after 1000 --check "$m"
	[ "$status" -eq 0 ]
	# Where: the offset of the first bad byte.
	run -2 "$SMTOOL" --check - <<<"{$ok,\"mappings\":\"AA!A\"}"
	[[ $output == *"byte 57: "* ]]
	run -2 "$SMTOOL" --check - <<<'{"version":3,"sources":[],"mappings":";;;ACAA"}'
	[[ $output == *"byte 41: source index 1 out of range (0 sources)"* ]]
}

@test "valid odds and ends: version 3.0 and 3e0, BOM, the )]}' prefix, unknown members" {
	local m='"sources":["a"],"mappings":"AAAA"'
	run "$SMTOOL" - 0:0 <<<"{\"version\":3.0,$m}"
	[ "$output" = $'a\t0\t0\t-' ]
	run "$SMTOOL" - 0:0 <<<"{\"version\":3e0,$m}"
	[ "$output" = $'a\t0\t0\t-' ]
	run "$SMTOOL" - 0:0 < <(printf '\xef\xbb\xbf{"version":3,%s}' "$m")
	[ "$output" = $'a\t0\t0\t-' ]
	run "$SMTOOL" - 0:0 < <(printf ")]}'garbage\n{\"version\":3,%s}" "$m")
	[ "$output" = $'a\t0\t0\t-' ]
	# Member names are decoded: an escaped letter is the same name, an
	# escaped NUL makes another one.
	run "$SMTOOL" - 0:0 <<<"{\"\\u0076ersion\":3,$m,\"version\\u0000\":2}"
	[ "$output" = $'a\t0\t0\t-' ]
	run -2 "$SMTOOL" - 0:0 < <(printf '\xef\xbb{}')
	[[ $output == *"byte 2: a byte order mark cut short" ]]
	run "$SMTOOL" - 0:0 <<<"{\"x_google_ignoreList\":[0],\"scopes\":\"AB\",\"x\":{\"y\":[true,false,null,-1.5e-3,\"\\ud83d\"]},\"version\":3,$m,\"ignoreList\":[0,null]}"
	[ "$output" = $'a\t0\t0\t-' ]
}

@test "random maps and index maps read in chunks of 1, 2, 7 and 64 KiB bytes, and from memory, agree with smgen" {
	local seed m=$BATS_TEST_TMPDIR/r.json p=$BATS_TEST_TMPDIR/pos
	for seed in 1 2 3 i4 i5; do
		# iN: an index map, sections nested up to three deep.
		if [[ $seed == i* ]]; then
			seed=${seed#i}
			"$SMGEN" random-index $seed 300 >"$m"
			[ "$(grep -o '"sections"' "$m" | wc -l)" -gt 1 ]
		else
			"$SMGEN" random $seed 300 >"$m"
		fi
		"$SMGEN" positions $seed 3000 "$m" >"$p"
		"$SMGEN" expect "$m" <"$p" >"$p.want"
		[ "$(grep -cv '^-$' "$p.want")" -gt 1000 ]
		"$SMTOOL" "$m" <"$p" | diff -u "$p.want" -
		"$SMTOOL" --in-memory "$m" <"$p" | diff -u "$p.want" -
		local c
		for c in 1 2 7; do
			"$SMTOOL" --chunk $c "$m" <"$p" | diff -u "$p.want" -
		done
	done
}

@test "sourcesContent of 60 MB is read past, not kept" {
	local m=$BATS_TEST_TMPDIR/big.json
	python3 - "$m" <<-'EOF'
		import json, sys
		body = ("function f() { return \"\\u00e9\\\"\"; }\n" * 500000)[:20_000_000]
		with open(sys.argv[1], "w") as f:
		    f.write('{"version":3,"sources":["a.js","b.js","c.js"],"sourcesContent":[')
		    f.write(",".join(json.dumps(body) for _ in range(3)))
		    f.write('],"names":["n"],"mappings":"AAAAA;ACAA;ACAA"}')
	EOF
	[ "$(stat -c %s "$m")" -gt 60000000 ]
	run "$SMTOOL" --rss "$m" 0:0 2:0
	[ "${lines[0]}" = $'a.js\t0\t0\tn' ] && [ "${lines[1]}" = $'c.js\t0\t0\t-' ]
	local rss=${output##*rss_kb=}
	echo "peak RSS ${rss} kB"
	[ "$rss" -lt 16000 ]
	run "$SMTOOL" --check "$m"
	[[ $output =~ "ok: 3 segments, "([0-9]+)" bytes" ]]
	[ "${BASH_REMATCH[1]}" -lt 2000 ]
}

@test "the memory limit is enforced, and sm_memory stays under it" {
	local m=$BATS_TEST_TMPDIR/r.json
	"$SMGEN" random 5 2000 >"$m"
	run -2 "$SMTOOL" --mem-limit 100000 --check "$m"
	[[ $output == *"map needs more than the memory limit (100000 bytes)"* ]]
	run "$SMTOOL" --check "$m"
	[[ $output =~ "ok: "([0-9]+)" segments, "([0-9]+)" bytes" ]]
	local need=${BASH_REMATCH[2]}
	# 12 bytes a segment (small fields packed), and little else.
	[ "$need" -lt $((BASH_REMATCH[1] * 12 + 100000)) ]
	run "$SMTOOL" --mem-limit $((need * 2 + 100000)) --check "$m"
	[ "$status" -eq 0 ]
}

@test "--bench: load and lookups at mapped positions" {
	local m=$BATS_TEST_TMPDIR/r.json
	"$SMGEN" random 9 500 >"$m"
	run "$SMTOOL" --bench "$m" 20000
	[ "$status" -eq 0 ]
	[[ $output =~ load_ms=[0-9.]+\ lookup_ms=[0-9.]+\ total_ms=[0-9.]+\ lookups=20000\ mapped=([0-9]+)\ segments=([0-9]+) ]]
	# About 10% of segments are 1-field ones, unmapped.
	[ "${BASH_REMATCH[1]}" -gt 15000 ] && [ "${BASH_REMATCH[1]}" -lt 20000 ]
	run -2 "$SMTOOL" --bench - 10 <<<'{}'
	[[ $output == *'no "version"'* ]]
	# --positions: the same positions, for a peer to look up too; each a
	# segment's own position.
	run "$SMTOOL" --positions "$m" 300
	[ "${#lines[@]}" -eq 300 ]
	"$SMTOOL" --positions "$m" 300 | "$SMGEN" expect "$m" | grep -vc '^-$' >"$BATS_TEST_TMPDIR/n"
	[ "$(cat "$BATS_TEST_TMPDIR/n")" -gt 200 ]
}

@test "DataKit's mapfile.json: bundle.js:1:821 is src/index.js:17:4" {
	local m=${FIXTURES:-/nonexistent}/datakit/mapfile.json
	[ -f "$m" ] || skip "no ../shared/fixtures/datakit/mapfile.json"
	# 1-based line and column as the browser reports them, 0-based here.
	run "$SMTOOL" "$m" 0:820
	[ "$output" = $'webpack:///./src/index.js\t16\t4\taa' ]
}
