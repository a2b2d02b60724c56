#!/usr/bin/env bats
# rum-symbolicate for Android stacks, through the stage (error records of
# df_android_rum_sdk) and through `rum-symbolicate stack --platform android`:
#  - java_crash: a small Java program compiled here and obfuscated with
#    Debian's ProGuard (t/lib/proguard-demo), its real obfuscated crashes
#    retraced with the mapping.txt in the app's zip, checked frame by frame
#    against ProGuard's own retrace (retrace.jar) and the un-obfuscated run;
#  - native_crash: a C library built here with -g for arm64-v8a, a tombstone
#    in the SDK's format pointing into it, checked against llvm-symbolizer;
#    DataKit's crash report fixture, whose library is not in the zip.

load lib/common
load lib/java
load lib/ndk
load lib/symbolicate
bats_require_minimum_version 1.5.0

setup_file() {
	local w=$BATS_FILE_TMPDIR
	"$BATS_TEST_DIRNAME/lib/proguard-demo" "$w/pg" >"$w/pg.why" 2>&1 || true
	if command -v clang >/dev/null && command -v llvm-symbolizer >/dev/null &&
		command -v llvm-objdump >/dev/null; then
		ndk_crash_source >"$w/crash.c"
		mkdir -p "$w/libs/arm64-v8a" "$w/libs/x86_64"
		ndk_build_lib aarch64-linux-android21 "$w/libs/arm64-v8a/libcrash.so" "$w/crash.c"
		ndk_build_lib x86_64-linux-android21 "$w/libs/x86_64/libcrash.so" "$w/crash.c"
	fi
}

setup() {
	symbolicate_vars
	PG=$BATS_FILE_TMPDIR/pg
	LIBS=$BATS_FILE_TMPDIR/libs
	Z=$D/rum/android/$APP-$ENV-$VER.zip
	mkdir -p "$D/rum/android"
}

teardown() { stop_symbolicate; }

need_java() {
	[ -f "$PG/opt-chain.txt" ] || skip "no ProGuard demo: $(tail -3 "$BATS_FILE_TMPDIR/pg.why")"
}
need_ndk() {
	[ -f "$LIBS/arm64-v8a/libcrash.so" ] || skip "clang, llvm-symbolizer and llvm-objdump are needed"
}

# android_rec STACK-FILE ERROR-TYPE [APP]: an error record of the Android SDK.
android_rec() { mobile_error_rec df_android_rum_sdk "$2" "$1" "${3:-}"; }

jstack() { "$S" stack --platform android --error-type java_crash "$@"; }

@test "java_crash stack: real ProGuard crashes retraced as ProGuard's retrace does, frame by frame" {
	need_java
	"$MKZIP" "$Z" "mapping.txt=$PG/opt.map"
	local s
	for s in chain lambda inner overload; do
		jstack --data-dir "$D" --app-id "$APP" --env "$ENV" --version "$VER" \
			"$PG/opt-$s.txt" >"$T/ours-$s.txt"
		java -jar /usr/share/java/retrace.jar "$PG/opt.map" "$PG/opt-$s.txt" >"$T/pg-$s.txt"
		frames "$T/pg-$s.txt" >"$T/pg"
		frames "$T/ours-$s.txt" >"$T/ours"
		[ -s "$T/pg" ]
		diff "$T/pg" "$T/ours"
		frames "$PG/plain-$s.txt" >"$T/want"
		in_order "$T/want" "$T/ours"
		# --zip names the same archive directly: the same answer
		jstack --zip "$Z" "$PG/opt-$s.txt" | cmp - "$T/ours-$s.txt"
	done
	# the crash was really obfuscated and really restored (inlined frames
	# of one obfuscated line, class names in messages)
	! grep -q 'Checks' "$PG/opt-chain.txt"
	grep -q 'at demo.util.Checks.fail(Checks.java:14)' "$T/ours-chain.txt"
	[ "$(frames "$T/ours-chain.txt" | wc -l)" -gt "$(frames "$PG/opt-chain.txt" | wc -l)" ]
	grep -q 'invalid value -2 for demo.model.Order\$Validator' "$T/ours-inner.txt"
	# stdin works as a FILE does
	jstack --zip "$Z" <"$PG/opt-chain.txt" | cmp - "$T/ours-chain.txt"
}

@test "java_crash records through the stage: error_stack_source is the retraced stack; others pass unchanged" {
	need_java
	"$MKZIP" "$Z" "mapping.txt=$PG/opt.map"
	jstack --zip "$Z" "$PG/opt-chain.txt" >"$T/want"
	{
		android_rec "$PG/opt-chain.txt" java_crash
		echo '{"measurement":"view","tags":{"app_id":"com.demo.shop","sdk_name":"df_android_rum_sdk"},"fields":{"view_name":"x"},"time":2}'
		android_rec "$PG/opt-lambda.txt" java_crash
		# the web SDK's record with a Java stack: not android's to restore
		android_rec "$PG/opt-chain.txt" java_crash | jq -c '.tags.sdk_name = "df_web_rum_sdk"'
	} >"$T/in"
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/in" >"$T/out"
	[ "$(wc -l <"$T/out")" = 4 ]
	sed -n 1p "$T/out" | jq -j '.fields.error_stack_source' | cmp - "$T/want"
	# the rest of the record as it was
	diff <(sed -n 1p "$T/in" | jq -S .) <(sed -n 1p "$T/out" | jq -S 'del(.fields.error_stack_source)')
	sed -n 2p "$T/in" | cmp - <(sed -n 2p "$T/out")
	sed -n 3p "$T/out" | jq -r '.fields.error_stack_source' | grep -q 'at demo.Main.lambda'
	sed -n 4p "$T/in" | cmp - <(sed -n 4p "$T/out")
	[ "$(metric 'rum_symbolicate_stacks_total{platform="android"}')" = 2 ]
	[ "$(metric 'rum_symbolicate_stacks_restored_total{platform="android"}')" = 2 ]
	[ "$(metric 'rum_symbolicate_android_stacks_total{error_type="java_crash"}')" = 2 ]
	[ "$(metric 'rum_symbolicate_android_stacks_restored_total{error_type="java_crash"}')" = 2 ]
	[ "$(metric 'rum_symbolicate_android_stacks_restored_total{error_type="native_crash"}')" = 0 ]
	[ "$(metric 'rum_symbolicate_stacks_total{platform="web"}')" = 1 ]
	[ "$(metric rum_symbolicate_archives_opened_total)" = 1 ]
	# --datakit-compat: the base64 of the same text
	android_rec "$PG/opt-chain.txt" java_crash | "$S" --data-dir "$D" --datakit-compat |
		jq -r '.fields.error_stack_source_base64' | base64 -d | cmp - "$T/want"
}

@test "java_crash: mapping.txt under a top directory named like the zip (DataKit's layout)" {
	need_java
	"$MKZIP" "$Z" "$APP-$ENV-$VER/mapping.txt=$PG/opt.map" "$APP-$ENV-$VER/arm64-v8a/README=$PG/opt.pro"
	jstack --data-dir "$D" --app-id "$APP" --env "$ENV" --version "$VER" "$PG/opt-chain.txt" >"$T/got"
	java -jar /usr/share/java/retrace.jar "$PG/opt.map" "$PG/opt-chain.txt" >"$T/pg"
	diff <(frames "$T/pg") <(frames "$T/got")
	android_rec "$PG/opt-chain.txt" java_crash | "$S" --data-dir "$D" |
		jq -j '.fields.error_stack_source' | cmp - "$T/got"
}

@test "java_crash: a zip replaced, removed and added while the stage runs gives the new answer at the next record" {
	need_java
	# a second build of the same classes under other names: the same
	# crash text means something else with it
	sed 's/^demo\.util\.Checks -> /demo.util.Guards -> /' "$PG/opt.map" >"$T/v2.map"
	! cmp -s "$PG/opt.map" "$T/v2.map"
	"$MKZIP" "$T/v1.zip" "mapping.txt=$PG/opt.map"
	"$MKZIP" "$T/v2.zip" "mapping.txt=$T/v2.map"
	android_rec "$PG/opt-overload.txt" java_crash >"$T/rec"
	jstack --zip "$T/v1.zip" "$PG/opt-overload.txt" >"$T/want1"
	jstack --zip "$T/v2.zip" "$PG/opt-overload.txt" >"$T/want2"
	! cmp -s "$T/want1" "$T/want2"
	start_fifo_stage S_PID 5 "$S" --data-dir "$D" --metrics-file "$M"
	local n=0
	send() { cat "$T/rec" >&5; n=$((n + 1)); wait_for 10 count_at_least "$n" lines "$T/out"; }
	got() { sed -n "${n}p" "$T/out" | jq -j '.fields.error_stack_source // "none"'; }
	send
	[ "$(got)" = none ]
	cp "$T/v1.zip" "$T/new.zip" && mv "$T/new.zip" "$Z" # added
	send
	got | cmp - "$T/want1"
	send # the parsed map cached: the same answer
	got | cmp - "$T/want1"
	cp "$T/v2.zip" "$T/new.zip" && mv "$T/new.zip" "$Z" # replaced
	send
	got | cmp - "$T/want2"
	rm "$Z"
	send
	[ "$(got)" = none ]
	exec 5>&-
	wait "$S_PID"
	S_PID=
	[ "$(metric 'rum_symbolicate_stacks_restored_total{platform="android"}')" = 3 ]
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_archive"}')" = 2 ]
}

@test "java_crash: no zip, no mapping.txt, a broken one, a map of other classes: unchanged, counted by reason" {
	need_java
	android_rec "$PG/opt-chain.txt" java_crash >"$T/rec"
	run_stage() { "$S" --data-dir "$D" --metrics-file "$M" <"$T/rec" >"$T/out" 2>"$T/err"; cmp "$T/rec" "$T/out"; }
	run_stage
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_archive"}')" = 1 ]
	"$MKZIP" "$Z" "other.txt=$PG/opt.pro"
	run_stage
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_map"}')" = 1 ]
	run -1 jstack --zip "$Z" "$PG/opt-chain.txt"
	[[ "$output" == *"no mapping.txt in"* ]]
	# the stack written unchanged all the same
	run --separate-stderr -1 jstack --zip "$Z" "$PG/opt-chain.txt"
	[ "$output" = "$(cat "$PG/opt-chain.txt")" ]
	printf 'demo.Main -> demo.Main:\n    this is not a mapping line\n' >"$T/bad.map"
	"$MKZIP" "$Z" "mapping.txt=$T/bad.map"
	run_stage
	[ "$(metric 'rum_symbolicate_misses_total{reason="bad_map"}')" = 1 ]
	grep -q 'mapping.txt in .*: line 2' "$T/err"
	printf 'other.Thing -> a.b:\n    void run() -> a\n' >"$T/other.map"
	"$MKZIP" "$Z" "mapping.txt=$T/other.map"
	run_stage
	[ "$(metric 'rum_symbolicate_misses_total{reason="unmapped"}')" = 1 ]
	# a map larger than --max-map-mb: bad_map, the stage goes on
	head -c 2000000 /dev/zero | tr '\0' '#' >"$T/big.map"
	"$MKZIP" "$Z" "mapping.txt=$T/big.map"
	"$S" --data-dir "$D" --max-map-mb 1 --metrics-file "$M" <"$T/rec" | cmp - "$T/rec"
	[ "$(metric 'rum_symbolicate_misses_total{reason="bad_map"}')" = 1 ]
}

@test "android error types other than java_crash and native_crash pass unchanged, counted as unsupported" {
	printf 'ANR in com.demo.shop\n\tat a.b.c(SourceFile:1)\n' >"$T/anr"
	android_rec "$T/anr" anr_error >"$T/rec"
	android_rec "$T/anr" "" | jq -c 'del(.tags.error_type)' >>"$T/rec"
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/rec" | cmp - "$T/rec"
	[ "$(metric 'rum_symbolicate_misses_total{reason="unsupported"}')" = 2 ]
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_archive"}')" = 0 ]
	[ "$(metric 'rum_symbolicate_android_stacks_total{error_type="other"}')" = 2 ]
	run -2 "$S" stack --platform android --zip "$T/none.zip" "$T/anr"
	[[ "$output" == *"--error-type is required"* ]]
	run -1 "$S" stack --platform android --error-type anr_error --zip "$T/none.zip" "$T/anr"
	[[ "$output" == *"not restored"* ]]
	"$S" stack --help | grep -q 'android'
	"$S" --help | grep -q 'native_crash'
}

# A backtrace into libcrash.so (the crash in xc_test_call_4, two callers,
# one frame in an APK) and into system libraries.
native_frames() {
	local lib=$LIBS/arm64-v8a/libcrash.so crash_pc
	mapfile -t ra < <(ndk_return_addrs "$lib")
	crash_pc=$(ndk_crash_pc "$lib")
	[ -n "$crash_pc" ] && [ "${#ra[@]}" -ge 3 ]
	ndk_backtrace /data/app/~~Taci3mQyw7W7iWT7Jxo-ag==/com.demo.shop-Q8m2==/lib/arm64 \
		/data/app/com.demo.shop/base.apk "$crash_pc" "${ra[@]:0:3}"
}

@test "native_crash: backtrace frames symbolized from <abi>/libcrash.so in the zip as llvm-symbolizer does, the rest of the report unchanged" {
	need_ndk
	native_frames >"$T/frames"
	ndk_write_tombstone "$T/report" arm64 "$T/frames"
	"$MKZIP" "$Z" "arm64-v8a/libcrash.so=$LIBS/arm64-v8a/libcrash.so" "x86_64/libcrash.so=$LIBS/x86_64/libcrash.so"
	ndk_expected_report "$T/report" libcrash.so "$LIBS/arm64-v8a/libcrash.so" >"$T/want"
	! cmp -s "$T/want" "$T/report"
	"$S" stack --platform android --error-type native_crash --data-dir "$D" --app-id "$APP" \
		--env "$ENV" --version "$VER" --metrics-file "$M" "$T/report" >"$T/got" 2>"$T/err"
	diff -u "$T/want" "$T/got"
	grep -q 'leaf' "$T/got"
	grep -q 'xc_test_call_3' "$T/got"
	[ "$(metric rum_symbolicate_frames_total)" = 6 ]
	[ "$(metric rum_symbolicate_frames_restored_total)" = 4 ]
	[ "$(metric 'rum_symbolicate_frame_misses_total{reason="no_map"}')" = 2 ]
	# through the stage: the same text as error_stack_source
	android_rec "$T/report" native_crash >"$T/rec"
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/rec" >"$T/out"
	jq -j '.fields.error_stack_source' "$T/out" | cmp - "$T/want"
	[ "$(metric 'rum_symbolicate_android_stacks_total{error_type="native_crash"}')" = 1 ]
	[ "$(metric 'rum_symbolicate_android_stacks_restored_total{error_type="native_crash"}')" = 1 ]
	[ "$(metric 'rum_symbolicate_stacks_restored_total{platform="android"}')" = 1 ]
	# the x86_64 report picks the x86_64 library
	printf '    #00 pc %016x  /data/app/x/lib/x86_64/libcrash.so\n' "$(ndk_return_addrs "$LIBS/x86_64/libcrash.so" | head -1)" >"$T/frames64"
	ndk_write_tombstone "$T/report64" x86_64 "$T/frames64"
	ndk_expected_report "$T/report64" libcrash.so "$LIBS/x86_64/libcrash.so" >"$T/want64"
	"$S" stack --platform android --error-type native_crash --zip "$Z" "$T/report64" | diff -u "$T/want64" -
}

@test "native_crash: frames alternating between two libraries, each alone filling the cache: same answers" {
	need_ndk
	# 600 KB of data in each: with --memory-mb 1 one library evicts the other
	{ cat "$BATS_FILE_TMPDIR/crash.c"; echo 'const char pad[600000] = {1};'; } >"$T/big.c"
	sed 's/xc_test_/zeta_/g' "$T/big.c" >"$T/zeta.c"
	ndk_build_lib aarch64-linux-android21 "$T/libcrash.so" "$T/big.c"
	ndk_build_lib aarch64-linux-android21 "$T/libzeta.so" "$T/zeta.c"
	mapfile -t ra < <(ndk_return_addrs "$T/libcrash.so")
	mapfile -t rz < <(ndk_return_addrs "$T/libzeta.so")
	local i
	for ((i = 0; i < 6; i++)); do
		printf '    #%02d pc %016x  /data/app/x/lib/arm64/libcrash.so\n' $((2 * i)) $((ra[i % ${#ra[@]}]))
		printf '    #%02d pc %016x  /data/app/x/lib/arm64/libzeta.so\n' $((2 * i + 1)) $((rz[i % ${#rz[@]}]))
	done >"$T/frames"
	ndk_write_tombstone "$T/report" arm64 "$T/frames"
	ndk_expected_report "$T/report" libcrash.so "$T/libcrash.so" >"$T/want1"
	ndk_expected_report "$T/want1" libzeta.so "$T/libzeta.so" >"$T/want"
	grep -q zeta_call_3 "$T/want"
	"$MKZIP" "$Z" "arm64-v8a/libcrash.so=$T/libcrash.so" "arm64-v8a/libzeta.so=$T/libzeta.so"
	android_rec "$T/report" native_crash >"$T/rec"
	cat "$T/rec" "$T/rec" | "$S" --data-dir "$D" --memory-mb 1 --metrics-file "$M" >"$T/out"
	[ "$(wc -l <"$T/out")" = 2 ]
	sed -n 1p "$T/out" | jq -j '.fields.error_stack_source' | diff -u "$T/want" -
	sed -n 2p "$T/out" | jq -j '.fields.error_stack_source' | cmp - "$T/want"
	[ "$(metric rum_symbolicate_maps_evicted_total)" -ge 20 ]
	# a large enough cache: each library loaded once
	cat "$T/rec" "$T/rec" | "$S" --data-dir "$D" --metrics-file "$M" >"$T/out"
	[ "$(metric rum_symbolicate_maps_loaded_total)" = 2 ]
	[ "$(metric rum_symbolicate_maps_evicted_total)" = 0 ]
}

@test "native_crash: the top directory layout; a zip replaced gives the new library's answer" {
	need_ndk
	native_frames >"$T/frames"
	ndk_write_tombstone "$T/report" arm64 "$T/frames"
	"$MKZIP" "$Z" "$APP-$ENV-$VER/arm64-v8a/libcrash.so=$LIBS/arm64-v8a/libcrash.so"
	ndk_expected_report "$T/report" libcrash.so "$LIBS/arm64-v8a/libcrash.so" >"$T/want"
	android_rec "$T/report" native_crash >"$T/rec"
	start_fifo_stage S_PID 5 "$S" --data-dir "$D" --metrics-file "$M"
	local n=0
	send() { cat "$T/rec" >&5; n=$((n + 1)); wait_for 10 count_at_least "$n" lines "$T/out"; }
	got() { sed -n "${n}p" "$T/out" | jq -j '.fields.error_stack_source // "none"'; }
	send
	got | diff -u "$T/want" -
	# a library built from other source lines: other lines in the answer
	{ printf '\n\n\n'; cat "$BATS_FILE_TMPDIR/crash.c"; } >"$T/crash2.c"
	ndk_build_lib aarch64-linux-android21 "$T/libcrash.so" "$T/crash2.c"
	cmp -s "$T/libcrash.so" "$LIBS/arm64-v8a/libcrash.so" && false
	"$MKZIP" "$T/new.zip" "arm64-v8a/libcrash.so=$T/libcrash.so"
	mv "$T/new.zip" "$Z"
	ndk_expected_report "$T/report" libcrash.so "$T/libcrash.so" >"$T/want2"
	grep -q '/crash2\.c:' "$T/want2"
	send
	got | diff -u "$T/want2" -
	! got | grep -q '/crash\.c:'
	exec 5>&-
	wait "$S_PID"
	S_PID=
}

@test "native_crash: a library missing, broken or for another machine leaves the report unchanged, counted" {
	need_ndk
	native_frames >"$T/frames"
	ndk_write_tombstone "$T/report" arm64 "$T/frames"
	android_rec "$T/report" native_crash >"$T/rec"
	run_stage() { "$S" --data-dir "$D" --metrics-file "$M" <"$T/rec" >"$T/out" 2>"$T/err"; cmp "$T/rec" "$T/out"; }
	"$MKZIP" "$Z" "x86_64/libcrash.so=$LIBS/x86_64/libcrash.so"
	run_stage
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_map"}')" = 1 ]
	head -c 5000 /dev/urandom >"$T/junk.so"
	"$MKZIP" "$Z" "arm64-v8a/libcrash.so=$T/junk.so"
	run_stage
	[ "$(metric 'rum_symbolicate_misses_total{reason="bad_map"}')" = 1 ]
	grep -q 'not an ELF file' "$T/err"
	# an x86_64 library under arm64-v8a/ would give wrong names: refused
	"$MKZIP" "$Z" "arm64-v8a/libcrash.so=$LIBS/x86_64/libcrash.so"
	run_stage
	[ "$(metric 'rum_symbolicate_misses_total{reason="bad_map"}')" = 1 ]
	grep -q 'not for arm64-v8a' "$T/err"
	# a report without a backtrace, or with no ABI
	"$MKZIP" "$Z" "arm64-v8a/libcrash.so=$LIBS/arm64-v8a/libcrash.so"
	sed '/^backtrace:/d' "$T/report" >"$T/nobt"
	run -1 "$S" stack --platform android --error-type native_crash --zip "$Z" "$T/nobt"
	[[ "$output" == *"no 'backtrace:' line"* ]]
	sed "/^ABI/d" "$T/report" >"$T/noabi"
	run -1 "$S" stack --platform android --error-type native_crash --zip "$Z" "$T/noabi"
	[[ "$output" == *"no known ABI"* ]]
}

@test "native_crash: DataKit's crash report fixture, without its library in the zip: unchanged, counted" {
	local f=${FIXTURES:-/nonexistent}/datakit/crash
	[ -f "$f" ] || skip "no DataKit crash fixture"
	need_ndk
	"$MKZIP" "$Z" "arm64-v8a/libother.so=$LIBS/arm64-v8a/libcrash.so"
	android_rec "$f" native_crash >"$T/rec"
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/rec" | cmp - "$T/rec"
	[ "$(metric rum_symbolicate_frames_total)" = 66 ]
	[ "$(metric 'rum_symbolicate_frame_misses_total{reason="no_map"}')" = 66 ]
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_map"}')" = 1 ]
	run -1 "$S" stack --platform android --error-type native_crash --zip "$Z" "$f"
	[[ "$output" == *"no arm64-v8a/libft_native_exp_lib.so in"* ]]
}

@test "java_crash: R8 metadata written as R8's documentation writes it (single quotes, bare keys, nested values) is read" {
	local m=$T/lenient.map
	{
		echo "# { id: 'com.android.tools.r8.mapping', version: '2.0' }"
		echo 'shop.Cart -> shop.Cart:'
		echo "# { extra: { 'a': [1, 'b', { x: null }], \"q\": \"w\\\"x\" }, id: 'sourceFile', fileName: 'Kart.kt' }"
		echo '    1:1:void checkout(java.util.List):20:20 -> a'
	} >"$m"
	"$MKZIP" "$Z" "mapping.txt=$m"
	printf 'java.lang.IllegalStateException: boom\n\tat shop.Cart.a(SourceFile:1)\n' >"$T/st"
	run --separate-stderr -0 jstack --zip "$Z" "$T/st"
	[ "$output" = $'java.lang.IllegalStateException: boom\n\tat shop.Cart.checkout(Kart.kt:20)' ]
	# a metadata line that is not JSON even to a lenient reader is a comment
	sed -i "3s/.*/# { id: 'sourceFile', extra: { 'a' 'b' }, fileName: 'Kart.kt' }/" "$m"
	"$MKZIP" "$Z" "mapping.txt=$m"
	run --separate-stderr -0 jstack --zip "$Z" "$T/st"
	[ "$output" = $'java.lang.IllegalStateException: boom\n\tat shop.Cart.checkout(Cart.java:20)' ]
}
