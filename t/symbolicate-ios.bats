#!/usr/bin/env bats
# rum-symbolicate for iOS crash reports, through the stage (error records of
# df_ios_rum_sdk) and `rum-symbolicate stack --platform ios`, on real Mach-O
# files built here (t/lib/ios.bash: a C app with an inlined chain and a
# Swift-style mangled name, a C++ framework, a universal app from
# llvm-lipo, dSYMs from dsymutil). Every restored frame is compared with
# llvm-symbolizer's own answer on the dSYM (t/lib/ios-report writes the
# report and the expected result from it). swiftc is not in Debian 12: the
# Swift case is a C function whose linkage name is Swift-mangled, which is
# what Swift's DWARF looks like as far as names go.

load lib/common
load lib/ios
load lib/symbolicate
bats_require_minimum_version 1.5.0

setup_file() {
	local w=$BATS_FILE_TMPDIR
	if [ -z "$(ios_missing)" ]; then
		mkdir -p "$w/b1" "$w/b2"
		ios_build "$w/b1" >"$w/build.log" 2>&1 || echo "build failed: $(tail -5 "$w/build.log")" >"$w/why"
		ios_build "$w/b2" 5 >>"$w/build.log" 2>&1 || echo "build failed" >"$w/why"
	else
		ios_missing >"$w/why"
	fi
}

setup() {
	symbolicate_vars
	B=$BATS_FILE_TMPDIR/b1
	B2=$BATS_FILE_TMPDIR/b2
	REPORT=$BATS_TEST_DIRNAME/lib/ios-report
	Z=$D/rum/ios/$APP-$ENV-$VER.zip
	mkdir -p "$D/rum/ios" "$T/cache"
	export XDG_CACHE_HOME=$T/cache
	[ ! -s "$BATS_FILE_TMPDIR/why" ] || skip "$(cat "$BATS_FILE_TMPDIR/why")"
}

teardown() { stop_symbolicate; }

# ios_zip OUT DIR:PREFIX...: a zip of the dSYM bundles DIR/*.dSYM, each
# under PREFIX/ in the archive (any depth), written then renamed into place.
ios_zip() {
	local out=$1 st=$T/zipstage.$$ a dir prefix
	shift
	rm -rf "$st" && mkdir -p "$st"
	for a in "$@"; do
		dir=${a%%:*} prefix=${a#*:}
		mkdir -p "$st/$prefix"
		cp -r "$dir" "$st/$prefix/"
	done
	(cd "$st" && zip -qr "$out.tmp.zip" .)
	mv "$out.tmp.zip" "$out"
	rm -rf "$st"
}

# The app and framework (thin arm64) and a system library, at their load addresses.
app_report() {
	"$REPORT" "$1" "$2" --module "App:$B/App:$B/App.app.dSYM:100ab0000:arm64" \
		--module "Fw:$B/Fw:$B/Fw.framework.dSYM:101000000:arm64" \
		--other libsystem_kernel.dylib:1a0000000:arm64e "${@:3}"
}

# ios_rec STACK-FILE [APP]: an error record of the iOS SDK.
ios_rec() { mobile_error_rec df_ios_rum_sdk ios_crash "$1" "${2:-}"; }

@test "stack: every frame of the app (C, inlined, Swift-style name) and the C++ framework as llvm-symbolizer says, other modules unchanged" {
	ios_zip "$Z" "$B/App.app.dSYM:build/Release-iphoneos/dSYMs" "$B/Fw.framework.dSYM:Fw/deep/er"
	app_report "$T/r" "$T/want"
	"$S" stack --platform ios --data-dir "$D" --app-id "$APP" --env "$ENV" --version "$VER" \
		--metrics-file "$M" "$T/r" >"$T/got"
	diff "$T/want" "$T/got"
	# the comparison is not empty: restored frames, inlined levels, C++
	# names demangled, the Swift-style function under its DWARF name
	grep -q '^[0-9]* *App  *0x0000000100ab4[0-9a-f]* crash_here (in App) (app.c:1[0-9])$' "$T/got"
	grep -q '^ *middle (in App) (app.c:[0-9]*)$' "$T/got"
	grep -q ' leaf (in App) (app.c:[0-9]*)$' "$T/got"
	grep -q ' shop::Cart::total(int) (in Fw) (fw.cpp:[0-9]*)$' "$T/got"
	grep -q ' shop::tax(int) (in Fw) (fw.cpp:[0-9]*)$' "$T/got"
	grep -q ' hello (in App) (app.c:2[0-9])$' "$T/got"
	! grep -q 's3App5hello.*(app.c' "$T/got"
	# other modules: as they were
	grep -q '^[0-9]* *libsystem_kernel.dylib *0x00000001a0001234 0x1a0000000 + 4660$' "$T/got"
	# the report minus the added lines is the report with only the
	# frames' tails replaced: the same number of frame lines
	[ "$(grep -c '^[0-9]' "$T/r")" = "$(grep -c '^[0-9]' "$T/got")" ]
	[ "$(metric rum_symbolicate_ios_dsyms_extracted_total)" = 2 ]
	[ "$(metric 'rum_symbolicate_frame_misses_total{reason="no_map"}')" = 3 ]
	# one process, and one for the DWARF name of the Swift-style function
	[ "$(metric rum_symbolicate_ios_symbolizer_starts)" = 2 ]
	# --zip names the same archive; stdin works as FILE does
	"$S" stack --platform ios --zip "$Z" <"$T/r" | cmp - "$T/got"
	# the private cache directory is gone once the program is
	[ -z "$(ls -A "$T/cache")" ]
}

@test "records through the stage: error_stack_source is the restored report; others pass" {
	ios_zip "$Z" "$B/App.app.dSYM:dSYMs" "$B/Fw.framework.dSYM:dSYMs"
	app_report "$T/r" "$T/want"
	{
		ios_rec "$T/r"
		echo '{"measurement":"view","tags":{"app_id":"com.demo.shop","sdk_name":"df_ios_rum_sdk"},"fields":{"view_name":"x"},"time":2}'
		ios_rec "$T/r" other.app
	} >"$T/in"
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/in" >"$T/out"
	[ "$(wc -l <"$T/out")" = 3 ]
	sed -n 1p "$T/out" | jq -j '.fields.error_stack_source' | cmp - "$T/want"
	diff <(sed -n 1p "$T/in" | jq -S .) <(sed -n 1p "$T/out" | jq -S 'del(.fields.error_stack_source)')
	sed -n 2,3p "$T/in" | cmp - <(sed -n 2,3p "$T/out")
	[ "$(metric 'rum_symbolicate_stacks_restored_total{platform="ios"}')" = 1 ]
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_archive"}')" = 1 ]
	[ -z "$(ls -A "$T/cache")" ]
}

@test "a dSYM of another build (UUID mismatch) leaves its frames unchanged, counted; a module without dSYM too" {
	# the zip holds build 2's App and build 1's Fw; the report is build 1's
	ios_zip "$Z" "$B2/App.app.dSYM:dSYMs" "$B/Fw.framework.dSYM:dSYMs"
	[ "$(ios_tool llvm-dwarfdump) --uuid "$B/App" | cut -d' ' -f2)" != "$(ios_tool llvm-dwarfdump) --uuid "$B2/App" | cut -d' ' -f2)" ]
	app_report "$T/r" "$T/want"
	run --separate-stderr -0 "$S" stack --platform ios --zip "$Z" --metrics-file "$M" "$T/r"
	printf '%s\n' "$output" >"$T/got"
	# App frames: as they were; Fw frames: restored as wanted
	diff <(grep ' App  ' "$T/r") <(grep ' App  ' "$T/got")
	diff <(grep -A3 ' Fw  ' "$T/want" | grep -v ' App  ') <(grep -A3 ' Fw  ' "$T/got" | grep -v ' App  ')
	n=$(grep -c '^[0-9]* *App ' "$T/r")
	[ "$(metric 'rum_symbolicate_frame_misses_total{reason="mismatch"}')" = "$n" ]
	[[ $stderr == *"is not for App (UUID "* ]]
	# without the Fw dSYM either, nothing is restored: exit 1, reason
	# mismatch, the report written unchanged
	ios_zip "$T/only2.zip" "$B2/App.app.dSYM:dSYMs"
	run --separate-stderr -1 "$S" stack --platform ios --zip "$T/only2.zip" --metrics-file "$M" "$T/r"
	[ "$output" = "$(cat "$T/r")" ]
	[ "$(metric 'rum_symbolicate_misses_total{reason="mismatch"}')" = 1 ]
	# the right build's dSYM beside the wrong one: chosen by UUID
	ios_zip "$T/both.zip" "$B2/App.app.dSYM:old" "$B/App.app.dSYM:new" "$B/Fw.framework.dSYM:new"
	"$S" stack --platform ios --zip "$T/both.zip" "$T/r" | diff "$T/want" -
}

@test "a universal dSYM: the slice chosen by the image's UUID, or by Code Type without Binary Images" {
	ios_zip "$Z" "$B/fat/App.app.dSYM:dSYMs"
	local arch bin ct imgs
	for arch in x86_64:App.x86_64:X86-64 arm64:App:ARM-64; do
		IFS=: read -r a bin ct <<<"$arch"
		for imgs in "" --no-images; do
			"$REPORT" "$T/r" "$T/want" $imgs --code-type "$ct" \
				--module "App:$B/$bin:$B/fat/App.app.dSYM:100ab0000:$a"
			"$S" stack --platform ios --zip "$Z" "$T/r" >"$T/got"
			diff "$T/want" "$T/got"
			grep -q ' crash_here (in App) (app.c:' "$T/got"
		done
		cp "$T/got" "$T/got-$a"
	done
	# the two slices really differ (x86_64 and arm64 code)
	! cmp -s "$T/got-x86_64" "$T/got-arm64"
	# an image UUID that no slice has: unchanged, mismatch
	"$REPORT" "$T/r" "$T/want" --module "App:$B/App:$B/fat/App.app.dSYM:100ab0000:arm64:0123456789ABCDEF0123456789ABCDEF"
	run --separate-stderr -1 "$S" stack --platform ios --zip "$Z" --metrics-file "$M" "$T/r"
	[ "$(metric 'rum_symbolicate_misses_total{reason="mismatch"}')" = 1 ]
}

@test "a zip replaced while the stage runs: the new build's dSYM is used, the old extracted files removed, the directory too at exit" {
	ios_zip "$Z" "$B/App.app.dSYM:dSYMs"
	"$REPORT" "$T/r1" "$T/want1" --module "App:$B/App:$B/App.app.dSYM:100ab0000:arm64"
	"$REPORT" "$T/r2" "$T/want2" --module "App:$B2/App:$B2/App.app.dSYM:100ab0000:arm64"
	! cmp -s "$T/want1" "$T/want2"
	mkfifo "$T/fifo"
	"$S" --data-dir "$D" --check-interval 200 --metrics-file "$M" <"$T/fifo" >"$T/out" 2>"$T/err" &
	S_PID=$!
	exec 5>"$T/fifo"
	ios_rec "$T/r1" >&5
	wait_for 10 count_at_least 1 lines "$T/out"
	local dir
	dir=$(ls -d "$T"/cache/rumpipe-dsym.*)
	[ "$(stat -c %a "$dir")" = 700 ]
	[ "$(ls "$dir" | wc -l)" = 1 ]
	old=$(ls "$dir")
	ios_zip "$Z" "$B2/App.app.dSYM:dSYMs"
	sleep 0.3
	ios_rec "$T/r2" >&5
	wait_for 10 count_at_least 2 lines "$T/out"
	# the old build's file is gone, the new one's is there
	[ "$(ls "$dir" | wc -l)" = 1 ]
	[ "$(ls "$dir")" != "$old" ]
	# the zip removed: passed unchanged, and the file goes with it
	rm "$Z"
	sleep 0.3
	ios_rec "$T/r2" >&5
	wait_for 10 count_at_least 3 lines "$T/out"
	[ -z "$(ls -A "$dir")" ]
	exec 5>&-
	wait "$S_PID"
	S_PID=
	sed -n 1p "$T/out" | jq -j .fields.error_stack_source | cmp - "$T/want1"
	sed -n 2p "$T/out" | jq -j .fields.error_stack_source | cmp - "$T/want2"
	[ "$(sed -n 3p "$T/out" | jq -r '.fields.error_stack_source // "none"')" = none ]
	[ ! -e "$dir" ]
}

@test "--atos runs the given atos once per module and crash, as DataKit does (a stand-in that records its arguments)" {
	ios_zip "$Z" "$B/App.app.dSYM:dSYMs" "$B/Fw.framework.dSYM:dSYMs"
	cat >"$T/atos" <<-EOF
	#!/bin/sh
	printf '%s\n' "\$*" >>"$T/atos.calls"
	# each address: a made-up answer, or the address for the last one
	shift 6
	n=0
	for a in "\$@"; do
		n=\$((n + 1))
		if [ \$n -eq \$# ]; then echo "\$a"; else echo "fn_\$a (in stand-in) (x.c:\$n)"; fi
	done
	EOF
	chmod +x "$T/atos"
	"$REPORT" "$T/r" "$T/want" --limit 4 --module "App:$B/App:$B/App.app.dSYM:100ab0000:arm64" \
		--module "Fw:$B/Fw:$B/Fw.framework.dSYM:101000000:arm64"
	"$S" stack --platform ios --zip "$Z" --atos "$T/atos" --metrics-file "$M" "$T/r" >"$T/got"
	# two runs: App's four addresses, Fw's four
	[ "$(wc -l <"$T/atos.calls")" = 2 ]
	read -r o obj l load ar arch a1 a2 a3 a4 rest <"$T/atos.calls"
	[ "$o $l $load $ar $arch" = "-o -l 0x100ab0000 -arch arm64" ]
	[ "$a1 $a2 $a3 $a4" = "0x100ab4000 0x100ab4004 0x100ab4008 0x100ab400c" ]
	[ -z "$rest" ]
	# the DWARF file extracted from the zip
	[[ $obj == "$T/cache/rumpipe-dsym."*/* ]]
	sed -n 2p "$T/atos.calls" | grep -q -- '-l 0x101000000 -arch arm64 0x101004000 '
	grep -q '^0   App  *0x0000000100ab4000 fn_0x100ab4000 (in stand-in) (x.c:1)$' "$T/got"
	grep -q '^2   App  *0x0000000100ab4008 fn_0x100ab4008 (in stand-in) (x.c:3)$' "$T/got"
	# the address echoed back: atos knew nothing, the frame is unchanged
	grep -q '^3   App  *0x0000000100ab400c 0x100ab0000 + 16396$' "$T/got"
	[ "$(metric 'rum_symbolicate_frame_misses_total{reason="unmapped"}')" = 2 ]
	# an atos that cannot be run: unchanged, reason engine
	run --separate-stderr -1 "$S" stack --platform ios --zip "$Z" --atos "$T/nonexistent" --metrics-file "$M" "$T/r"
	[ "$(metric 'rum_symbolicate_misses_total{reason="engine"}')" = 1 ]
}

@test "a broken llvm-symbolizer: stacks pass unchanged (reason engine); a bad dSYM entry: bad_map" {
	ios_zip "$Z" "$B/App.app.dSYM:dSYMs"
	"$REPORT" "$T/r" "$T/want" --limit 3 --module "App:$B/App:$B/App.app.dSYM:100ab0000:arm64"
	run --separate-stderr -1 "$S" stack --platform ios --zip "$Z" --llvm-symbolizer /bin/false --metrics-file "$M" "$T/r"
	[ "$(metric 'rum_symbolicate_misses_total{reason="engine"}')" = 1 ]
	# a "dSYM" that is no Mach-O file
	mkdir -p "$T/bad/X.app.dSYM/Contents/Resources/DWARF"
	echo 'not mach-o' >"$T/bad/X.app.dSYM/Contents/Resources/DWARF/App"
	ios_zip "$T/bad.zip" "$T/bad/X.app.dSYM:d"
	run --separate-stderr -1 "$S" stack --platform ios --zip "$T/bad.zip" --metrics-file "$M" "$T/r"
	[[ $stderr == *"not a Mach-O file"* ]]
	[ "$(metric 'rum_symbolicate_misses_total{reason="bad_map"}')" = 1 ]
}

@test "two dSYMs larger than half of --memory-mb evict each other: each extracted file deleted on eviction; SIGTERM removes the directory" {
	# an app of 3000 functions: a dSYM of about 650 KB
	python3 -c "
print('int sink;')
for i in range(3000): print('__attribute__((noinline)) int f%d(int x) { int y = x * %d; sink += y; return y + %d; }' % (i, i, i))
print('int main(int c, char **v) { (void)v; return f0(c) + f2999(c); }')" >"$T/big.c"
	"$(ios_tool clang)" -target arm64-apple-ios14.0 -nostdinc -g -O1 -c "$T/big.c" -o "$T/big.o"
	"$(ios_tool ld64.lld)" -arch arm64 -platform_version ios 14.0 14.0 -undefined dynamic_lookup \
		-e _main "$T/big.o" -o "$T/Big"
	"$(ios_tool dsymutil)" "$T/Big" -o "$T/Big.dSYM"
	[ "$(stat -c %s "$T/Big.dSYM/Contents/Resources/DWARF/Big")" -gt 600000 ]
	# the same DWARF as two modules, A and B
	local m
	for m in A B; do
		mkdir -p "$T/$m/$m.app.dSYM/Contents/Resources/DWARF"
		cp "$T/Big.dSYM/Contents/Resources/DWARF/Big" "$T/$m/$m.app.dSYM/Contents/Resources/DWARF/$m"
		"$REPORT" "$T/r$m" "$T/want$m" --limit 40 --module "$m:$T/Big:$T/$m/$m.app.dSYM:100ab0000:arm64"
	done
	ios_zip "$Z" "$T/A/A.app.dSYM:d" "$T/B/B.app.dSYM:d"
	mkfifo "$T/fifo"
	"$S" --data-dir "$D" --memory-mb 1 --metrics-file "$M" <"$T/fifo" >"$T/out" 2>"$T/err" &
	S_PID=$!
	exec 5>"$T/fifo"
	local i dir
	for i in 1 2 3 4; do
		m=$( ((i % 2)) && echo A || echo B)
		ios_rec "$T/r$m" >&5
		wait_for 10 count_at_least "$i" lines "$T/out"
		dir=$(ls -d "$T"/cache/rumpipe-dsym.*)
		# the other module's file went when this one came in
		[ "$(ls "$dir" | wc -l)" = 1 ]
		sed -n "${i}p" "$T/out" | jq -j .fields.error_stack_source | cmp - "$T/want$m"
	done
	kill -TERM "$S_PID"
	wait "$S_PID"
	S_PID=
	exec 5>&-
	[ "$(metric rum_symbolicate_ios_dsyms_extracted_total)" = 4 ]
	[ "$(metric rum_symbolicate_maps_evicted_total)" -ge 3 ]
	[ ! -e "$dir" ]
}

@test "module names with blanks, hex offsets and CRLF line endings" {
	mkdir -p "$T/m/My App.app.dSYM/Contents/Resources/DWARF"
	cp "$B/App.app.dSYM/Contents/Resources/DWARF/App" "$T/m/My App.app.dSYM/Contents/Resources/DWARF/My App"
	ios_zip "$Z" "$T/m/My App.app.dSYM:dSYMs"
	"$REPORT" "$T/r" "$T/want" --limit 12 --module "My App:$B/App:$T/m/My App.app.dSYM:100ab0000:arm64"
	grep -q '^2   My App  *0x0000000100ab4008 0x100ab0000 + 0x4008$' "$T/r"
	"$S" stack --platform ios --zip "$Z" "$T/r" | diff "$T/want" -
	grep -q ' (in My App) (app.c:' "$T/want"
	sed 's/$/\r/' "$T/r" >"$T/r.crlf"
	sed 's/$/\r/' "$T/want" >"$T/want.crlf"
	"$S" stack --platform ios --zip "$Z" "$T/r.crlf" | cmp - "$T/want.crlf"
}

# ---- rum-collector on DataKit's sample rum.conf (issue: its atos_bin_path)

DK_RUM_CONF=${FIXTURES:+$FIXTURES/datakit/rum.conf}

# dk_collector RUM-CONF: rum-collector on a configuration of the test's own
# (a free port, a file sink, data in $D) followed by RUM-CONF, in the
# background (S_PID); waits until rum-listen listens and sets PORT.
dk_collector() {
	{
		printf 'data_dir = "%s"\nrestart_backoff_max = 2\ndrain_timeout = 20\n' "$D"
		printf '[listen]\nlisten = "127.0.0.1:0"\n[ship]\nsink = "file:%s"\nflush_interval = 100\n' "$T/records"
		cat "$1"
	} >"$T/dk.conf"
	"$BIN/rum-collector" -c "$T/dk.conf" >"$T/cout" 2>"$T/cerr" 3>&- &
	S_PID=$!
	if wait_for 30 grep -q 'rum-listen: info: listening on' "$T/cerr"; then
		PORT=$(sed -n 's/^rum-listen: info: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/cerr" | tail -1)
		wait_port "$PORT" 10 && return 0
	fi
	dk_stop
	return 1
}

# dk_post REPORT: the crash report as the iOS SDK posts an error point.
dk_post() {
	local s
	s=$(sed 's/[\\"]/\\&/g' "$1")
	curl -sf -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/write/rum" --data-binary \
		"error,app_id=$APP,env=$ENV,version=$VER,sdk_name=df_ios_rum_sdk,error_type=ios_crash error_stack=\"$s\",error_message=\"boom\" 1700000000000000000"
}

# The stages run in sessions of their own: only the collector's SIGTERM
# stops them, so every test stops it before any assertion can fail.
dk_stop() {
	kill -TERM "$S_PID"
	wait "$S_PID" || true
	S_PID=
}

@test "collector on DataKit's sample rum.conf: its atosl is not here, the built-in engine restores the iOS crash; said once, counted" {
	[ -f "$DK_RUM_CONF" ] || skip "no ../shared/fixtures/datakit/rum.conf"
	local atosl
	atosl=$(sed -n 's/^ *atos_bin_path *= *"\(.*\)"$/\1/p' "$DK_RUM_CONF")
	[ -n "$atosl" ]
	[ ! -e "$atosl" ] || skip "$atosl is installed here"
	ios_zip "$Z" "$B/App.app.dSYM:dSYMs" "$B/Fw.framework.dSYM:dSYMs"
	app_report "$T/r" "$T/want"
	dk_collector "$DK_RUM_CONF"
	dk_post "$T/r" || true
	wait_for 30 grep -q error_stack_source "$T/records" || true
	dk_stop
	jq -r .fields.error_stack_source "$T/records" | diff "$T/want" -
	grep -q ' crash_here (in App) (app.c:' "$T/records"
	[ "$(grep -c -- "--atos-if-present $atosl: No such file or directory; iOS stacks go to llvm-symbolizer instead" "$T/cerr")" = 1 ]
	! grep -q 'pass unchanged' "$T/cerr"
	M=$D/run/metrics/symbolicate.prom
	[ "$(metric rum_symbolicate_ios_atos_fallbacks_total)" = 1 ]
	[ "$(metric 'rum_symbolicate_stacks_restored_total{platform="ios"}')" = 1 ]
}

@test "collector on DataKit's sample rum.conf with an atos_bin_path that runs: that atos is used" {
	[ -f "$DK_RUM_CONF" ] || skip "no ../shared/fixtures/datakit/rum.conf"
	ios_zip "$Z" "$B/App.app.dSYM:dSYMs" "$B/Fw.framework.dSYM:dSYMs"
	# the stand-in of the --atos test: a made-up answer for each address
	cat >"$T/atosl" <<-EOF
	#!/bin/sh
	printf '%s\n' "\$*" >>"$T/atos.calls"
	shift 6
	for a in "\$@"; do echo "fn_\$a (in stand-in) (x.c:1)"; done
	EOF
	chmod +x "$T/atosl"
	sed "s|^\( *atos_bin_path *= *\).*|\1\"$T/atosl\"|" "$DK_RUM_CONF" >"$T/rum.conf"
	grep -q "atos_bin_path = \"$T/atosl\"" "$T/rum.conf"
	"$REPORT" "$T/r" "$T/want" --limit 4 --module "App:$B/App:$B/App.app.dSYM:100ab0000:arm64" \
		--module "Fw:$B/Fw:$B/Fw.framework.dSYM:101000000:arm64"
	dk_collector "$T/rum.conf"
	dk_post "$T/r" || true
	wait_for 30 grep -q error_stack_source "$T/records" || true
	dk_stop
	[ "$(wc -l <"$T/atos.calls")" = 2 ]
	jq -r .fields.error_stack_source "$T/records" >"$T/got"
	grep -q '^0   App  *0x0000000100ab4000 fn_0x100ab4000 (in stand-in) (x.c:1)$' "$T/got"
	! grep -q 'atos-if-present' "$T/cerr"
	M=$D/run/metrics/symbolicate.prom
	[ "$(metric rum_symbolicate_ios_atos_fallbacks_total)" = 0 ]
}
