#!/usr/bin/env bats
# Java/Kotlin retrace (rum-symbolicate's android java_crash engine, through
# t/tools/retracetool):
#  - a small Java program compiled here, obfuscated with Debian's ProGuard
#    (optimised, so methods are inlined; not; repackaged into the default
#    package with aggressive overloading), run obfuscated to get real
#    crashes; the retrace must give back the un-obfuscated run's frames and
#    agree with ProGuard's own retrace (retrace.jar) frame by frame;
#  - mappings in R8's format written from R8's mapping documentation
#    (doc/retrace.md) and its retrace behaviour (inline ranges, ambiguous
#    frames, frames without lines, metadata), t/data/retrace/r8/*.{map,in,out}.

load lib/common
load lib/java
bats_require_minimum_version 1.5.0

DATA=$BATS_TEST_DIRNAME/data/retrace
RT=$TOOLS/retracetool
SCENARIOS="chain lambda inner overload"

# The demo compiled, obfuscated three ways and run (t/lib/proguard-demo):
# $W/NAME.map and $W/NAME-<scenario>.txt for opt (inlined), noopt and aggr
# (repackaged, overloaded aggressively), and $W/plain-<scenario>.txt.
setup_file() {
	W=$BATS_FILE_TMPDIR
	export W
	local pg=$BATS_TEST_DIRNAME/lib/proguard-demo rc=0
	if [ ! -r /usr/share/java/retrace.jar ]; then
		echo "no /usr/share/java/retrace.jar (libproguard-java)" >"$W/java-skip"
		return 0
	fi
	"$pg" "$W" opt -optimizationpasses 5 -allowaccessmodification >"$W/pg.out" 2>&1 || rc=$?
	if [ "$rc" = 77 ]; then
		cp "$W/pg.out" "$W/java-skip"
		return 0
	fi
	[ "$rc" = 0 ] || { cat "$W/pg.out"; return 1; }
	"$pg" "$W" noopt -dontoptimize
	"$pg" "$W" aggr -optimizationpasses 5 -repackageclasses "''" -overloadaggressively
}

need_java() {
	[ ! -e "$W/java-skip" ] || skip "$(cat "$W/java-skip")"
}

@test "java: the obfuscated runs crash in obfuscated code" {
	need_java
	# the test is only worth something if ProGuard renamed and inlined
	grep -q 'demo.model.Item -> demo\.[a-z]\.[a-z]:' "$W/opt.map"
	grep -Eq '^ +[0-9]+:[0-9]+:.*demo.util.Checks.fail\(demo.model.Item\):[0-9]+:[0-9]+ -> main$' "$W/opt.map"
	grep -q 'at demo.Main.main(SourceFile:' "$W/opt-chain.txt"
	grep -q 'demo\.[a-z]\.[a-z]' "$W/opt-chain.txt"
	! grep -q 'Checks' "$W/opt-chain.txt"
	grep -Eq 'at demo\.[a-z]\.[a-z]\.[a-z]+\(SourceFile:[0-9]+\)' "$W/noopt-chain.txt"
}

@test "java: retrace gives the un-obfuscated run's frames and messages (optimised: inlined frames)" {
	need_java
	local s
	for s in $SCENARIOS; do
		"$RT" "$W/opt.map" "$W/opt-$s.txt" >"$W/ours-opt-$s.txt"
		frames "$W/plain-$s.txt" >"$W/want"
		frames "$W/ours-opt-$s.txt" >"$W/got"
		in_order "$W/want" "$W/got" || { echo "scenario $s"; cat "$W/ours-opt-$s.txt"; return 1; }
	done
	# the deep chain: eight frames inlined into one obfuscated main()
	frames "$W/ours-opt-chain.txt" >"$W/got"
	[ "$(grep -c . "$W/got")" -ge 10 ]
	grep -qx 'demo.util.Checks.fail:14' "$W/got"
	grep -qx 'demo.Main.level3:50' "$W/got"
	# obfuscated class names in messages come back as in the plain run
	for s in chain lambda inner; do
		diff <(grep -v '^[[:space:]]*\(at \|\.\.\.\)' "$W/plain-$s.txt") \
			<(grep -v '^[[:space:]]*\(at \|\.\.\.\)' "$W/ours-opt-$s.txt")
	done
	grep -q 'invalid value -2 for demo.model.Order\$Validator' "$W/ours-opt-inner.txt"
}

@test "java: retrace agrees with ProGuard's retrace frame by frame" {
	need_java
	local v s
	for v in opt noopt aggr; do
		for s in $SCENARIOS; do
			"$RT" "$W/$v.map" "$W/$v-$s.txt" >"$W/ours-$v-$s.txt"
			java -jar /usr/share/java/retrace.jar "$W/$v.map" "$W/$v-$s.txt" >"$W/pg-$v-$s.txt"
			frames "$W/pg-$v-$s.txt" >"$W/pg"
			frames "$W/ours-$v-$s.txt" >"$W/ours"
			[ -s "$W/pg" ]
			diff "$W/pg" "$W/ours" || { echo "$v $s"; return 1; }
		done
	done
	# and the other builds too against the plain run (when it merges
	# classes, ProGuard's optimiser renames the methods whose descriptors
	# change to name$hash and maps them under that name: both retraces
	# print it)
	for v in noopt aggr; do
		for s in $SCENARIOS; do
			frames "$W/plain-$s.txt" >"$W/want"
			frames "$W/ours-$v-$s.txt" | sed 's/\$[0-9a-f]\{5,8\}:/:/' >"$W/got"
			in_order "$W/want" "$W/got" || { echo "$v $s"; cat "$W/$v-$s.txt" "$W/ours-$v-$s.txt"; return 1; }
		done
	done
}

@test "java: the stream parser, in any chunk size, and the whole-buffer parser read the real map alike" {
	need_java
	run -0 "$RT" --stats "$W/opt.map"
	[[ $output =~ ^classes\ [0-9]+\ methods\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -ge 50 ]
	local want o
	want=$("$RT" "$W/opt.map" "$W/opt-chain.txt")
	for o in "--chunk 1" "--chunk 7" "--chunk 4096" "--whole"; do
		[ "$("$RT" $o "$W/opt.map" "$W/opt-chain.txt")" = "$want" ]
	done
}

@test "r8: a line longer than a read buffer parses; one over 1 MiB fails" {
	local m=$BATS_TEST_TMPDIR/long.map args
	args=$(head -c 200000 /dev/zero | tr '\0' 'x')
	printf 'x.Y -> a:\n  1:1:void f(%s):7 -> a\n' "$args" >"$m"
	run -0 "$RT" "$m" <<<'	at a.a(SourceFile:1)'
	[ "$output" = '	at x.Y.f(Y.java:7)' ]
	run -0 "$RT" --chunk 1000 "$m" <<<'	at a.a(SourceFile:1)'
	[ "$output" = '	at x.Y.f(Y.java:7)' ]
	args=$(head -c 1100000 /dev/zero | tr '\0' 'x')
	printf 'x.Y -> a:\n  1:1:void f(%s):7 -> a\n' "$args" >"$m"
	run -1 "$RT" "$m" </dev/null
	[[ $output == *"line 2: line longer than 1048576 bytes"* ]]
}

r8_case() {
	run -0 "$RT" "$DATA/r8/$1.map" "$DATA/r8/$1.in"
	diff <(printf '%s\n' "$output") "$DATA/r8/$1.out"
}

@test "r8: inlined frames with line ranges, sourceFile metadata, inlining from another class" {
	r8_case inline
	# the inlined frame from shop.Tax takes Tax's own sourceFile
	grep -qx '	at shop.Tax.apply(Tax.kt:13)' "$DATA/r8/inline.out"
}

@test "r8: lines: ranges to one line, whole-method mappings, :0 and 0:0, line 0 outside ranges, Kotlin file facades" {
	r8_case lines
}

@test "r8: ambiguous obfuscated names print every candidate, the others as <OR>" {
	r8_case ambiguous
	[ "$(grep -c '<OR> at' "$DATA/r8/ambiguous.out")" -eq 3 ]
}

@test "r8: frames without a line number (0:0 ranges, single mappings, whole-method mappings)" {
	r8_case noline
}

@test "r8: metadata from doc/retrace.md: outline and call site, rewriteFrame, synthesized, residual signature" {
	r8_case metadata
}

@test "r8: metadata of a later version than the file declares is a plain comment" {
	r8_case version
}

@test "r8: class names in exception lines and messages, logcat prefixes, native and Kotlin frames, unknown classes" {
	r8_case names
}

@test "r8: DataKit's Unknown Source:N frame of a kept class with an obfuscated method" {
	run -0 "$RT" "$DATA/r8/names.map" <<<'	at prof.wang.activity.TeamInvitationActivity.o0(Unknown Source:1)'
	[ "${lines[0]}" = '	at prof.wang.activity.TeamInvitationActivity.lambda$initView$3(TeamInvitationActivity.java:210)' ]
	[ "${lines[1]}" = '	at prof.wang.activity.TeamInvitationActivity.onInviteClicked(TeamInvitationActivity.java:118)' ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "r8: a stack with nothing from the map passes through byte for byte" {
	printf 'java.lang.Error: x\r\n\tat a.b.c(d.java:1)\r\n\tat e.f(Unknown Source)\nno newline at the end' >"$BATS_TEST_TMPDIR/in"
	"$RT" "$DATA/r8/inline.map" "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}

@test "r8: a mapping with a byte order mark and CRLF lines; CRLF stacks keep their line ends" {
	printf '\xef\xbb\xbfx.Y -> a:\r\n  1:1:void f():7 -> a\r\n' >"$BATS_TEST_TMPDIR/crlf.map"
	printf 'java.lang.Error\r\n\tat a.a(SourceFile:1)\r\n' >"$BATS_TEST_TMPDIR/in"
	"$RT" "$BATS_TEST_TMPDIR/crlf.map" "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out"
	printf 'java.lang.Error\r\n\tat x.Y.f(Y.java:7)\r\n' | cmp - "$BATS_TEST_TMPDIR/out"
}

@test "r8: lines built to be slow (millions of 'at ', a huge unclosed frame) take linear time" {
	python3 -c "import sys; sys.stdout.write('x ' + 'at ' * 2000000 + '\\n' + ' at a.b' * 1000000 + '(\\n')" >"$BATS_TEST_TMPDIR/in"
	timeout 10 "$RT" "$DATA/r8/names.map" "$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	python3 -c "print('x.Y -> a:'); print('  1:1:void f(' + 'x' * 300000 + '):7 -> a')" >"$BATS_TEST_TMPDIR/long.map"
	run -0 timeout 10 "$RT" --chunk 1 "$BATS_TEST_TMPDIR/long.map" <<<'	at a.a(SourceFile:1)'
	[ "$output" = '	at x.Y.f(Y.java:7)' ]
}

@test "r8: broken mappings fail with the line and the reason" {
	local m=$BATS_TEST_TMPDIR/bad.map
	# bad_map TEXT: a mapping (printf's escapes) that retracetool refuses.
	bad_map() { printf "$1" >"$m"; run -1 "$RT" "$m" </dev/null; }
	bad_map 'x.Y -> a:\n  1:2:void (int) -> a\n'
	[[ $output == *"line 2: method mapping without a return type or name"* ]]
	bad_map 'x.Y -> a:\n  9:3:void f() -> a\n'
	[[ $output == *"line 2: obfuscated line range ends before it starts"* ]]
	bad_map '# comment\n  void f() -> a\n'
	[[ $output == *"line 2: member mapping before any class"* ]]
	bad_map 'x.Y -> a:\nhello world\n'
	[[ $output == *"line 2: not a mapping line"* ]]
	bad_map 'x.Y -> a:\n  1:99999999999:void f() -> a\n'
	[[ $output == *"line 2: bad obfuscated line range"* ]]
	# a comment that is not metadata, or metadata not understood, is fine
	printf '# compiler: R8\n# {"id":"com.example.future","x":[1,{"y":2}]}\nx.Y -> a:\n# {broken\n' >"$m"
	run -0 "$RT" "$m" </dev/null
}

@test "r8: the parsed map stays under the memory bound or the parse says why" {
	"$BATS_TEST_DIRNAME/lib/gen-mapping" 3 "$BATS_TEST_TMPDIR/m.txt" "$BATS_TEST_TMPDIR/s.txt"
	run -1 "$RT" --mem-mb 1 "$BATS_TEST_TMPDIR/m.txt" "$BATS_TEST_TMPDIR/s.txt"
	[[ $output == *"needs more memory than allowed"* ]]
	run -0 "$RT" --mem-mb 16 --stats "$BATS_TEST_TMPDIR/m.txt"
	[[ $output =~ bytes\ ([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -le $((16 << 20)) ]
	[ "${BASH_REMATCH[1]}" -ge $((1 << 20)) ]
	# and the generated stack retraces completely
	run -0 "$RT" "$BATS_TEST_TMPDIR/m.txt" "$BATS_TEST_TMPDIR/s.txt"
	[ "$(printf '%s\n' "$output" | grep -c 'at com.example.feature')" -ge 28 ]
	! printf '%s\n' "$output" | grep -q 'SourceFile'
}
