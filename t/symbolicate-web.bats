#!/usr/bin/env bats
# rum-symbolicate for web and mini-program stacks. Bundles and maps are made
# by esbuild (from npm, with real packages as sources: lodash-es, preact,
# zod), and every expected position comes from @jridgewell/trace-mapping
# (t/lib/jsbundle); both are installed by this file into a cache directory,
# pinned, and the tests that need them are skipped when npm cannot reach its
# registry. DataKit's own test map is read from ../shared/fixtures when it
# is there.

load lib/common
load lib/symbolicate
bats_require_minimum_version 1.5.0

NPM_PKGS="esbuild@0.24.2 @jridgewell/trace-mapping@0.3.25 lodash-es@4.17.21 preact@10.25.4 zod@3.23.8"

setup_file() {
	local cache=${XDG_CACHE_HOME:-$HOME/.cache}/rumpipe-npm/symbolicate-web-1
	local js=$BATS_FILE_TMPDIR/js
	mkdir -p "$cache"
	# One installer at a time (the sanitizer run may share the cache).
	(
		flock 9
		[ -f "$cache/ok" ] && exit 0
		command -v npm >/dev/null || exit 0
		cd "$cache" && echo '{"private":true}' >package.json &&
			timeout 300 npm install --no-audit --no-fund --loglevel=error $NPM_PKGS &&
			touch ok
	) 9>"$cache.lock" >"$BATS_FILE_TMPDIR/npm.log" 2>&1 || true
	if [ -f "$cache/ok" ]; then
		NODE_PATH=$cache/node_modules "$BATS_TEST_DIRNAME/lib/jsbundle" "$js" 1500
		# One zip holds them all: a and c and the index map at the
		# root, b under a top directory named like the zip (DataKit's
		# layout).
		local M=$js/maps
		"$BATS_TEST_DIRNAME/lib/mkzip" "$js/shop.zip" \
			"static/js/a.min.js.map=$M/a.min.js.map" \
			"shop-prod-1.2.3/static/js/b.min.js.map=$M/b.min.js.map" \
			"static/js/c.min.js.map=$M/c.min.js.map" \
			"static/js/idx.min.js.map=$M/idx.min.js.map" \
			"static/js/a.min.js=$js/proj/a.min.js"
	fi
}

setup() {
	symbolicate_vars
	JS=$BATS_FILE_TMPDIR/js
	DK=${FIXTURES:+$FIXTURES/datakit/mapfile.json}
	mkdir -p "$D/rum/web" "$D/rum/miniapp"
}

teardown() { stop_symbolicate; }

need_js() {
	[ -f "$JS/a.stack" ] || skip "npm packages not installed (npm unreachable?): $(tail -3 "$BATS_FILE_TMPDIR/npm.log" 2>/dev/null)"
}
need_dk() {
	[ -n "$DK" ] && [ -f "$DK" ] || skip "no ../shared/fixtures/datakit/mapfile.json"
}
# error RECORD-ARGS: an error record of the web SDK with the stack in $1.
error_rec() {
	local stack=$1 app=${2:-app} sdk=${3:-df_web_rum_sdk}
	jq -nc --arg s "$stack" --arg a "$app" --arg k "$sdk" \
		'{measurement:"error",tags:{app_id:$a,sdk_name:$k},fields:{error_stack:$s},time:1}'
}
shop_zip() { cp "$JS/shop.zip" "$D/rum/web/shop-prod-1.2.3.zip"; }

# A map written by hand: line 1, columns 0-4 → src/app.js:1:0 (name boom),
# columns 5- → src/app.js:1:5; nothing on other lines.
small_map() {
	printf '%s' '{"version":3,"file":"app.js","sources":["src/app.js"],"names":["boom"],"mappings":"AAAAA,KAAK"}' >"$T/app.js.map"
}

@test "esbuild bundles: stack restores every frame as trace-mapping does (sourceRoot, index map, top directory)" {
	need_js
	shop_zip
	local n
	for n in a b c idx; do
		"$S" stack --platform web --data-dir "$D" --app-id shop --env prod --version 1.2.3 \
			"$JS/$n.stack" >"$T/$n.got" 2>"$T/$n.err"
		diff -u "$JS/$n.want" "$T/$n.got" | head -20
		cmp "$JS/$n.want" "$T/$n.got"
		# Not every frame maps: some positions are before a line's
		# first segment or on lines without any.
		grep -q "frames restored" "$T/$n.err"
	done
	# Maps stored, not deflated, are streamed out of the zip the same.
	"$MKZIP" -0 "$D/rum/web/stored-none-none.zip" "static/js/c.min.js.map=$JS/maps/c.min.js.map"
	"$S" stack --platform web --data-dir "$D" --app-id stored "$JS/c.stack" 2>/dev/null | cmp - "$JS/c.want"
	# The sourceRoot is in front of c's sources, and the index map's
	# second section came from b.
	grep -q '@ webpack://orders/node_modules/zod/' "$T/c.got"
	grep -q 'node_modules/preact/hooks/' "$T/idx.got"
	# Frames in each of the four forms were rewritten.
	grep -q '^    at fn[0-9]* @ node_modules/' "$T/a.got"
	grep -q '^    at fn[0-9]* (node_modules/.*:[0-9]*:[0-9]*)$' "$T/a.got"
	grep -q '^    at node_modules/' "$T/a.got"
	grep -q '^fn[0-9]*@node_modules/' "$T/a.got"
}

@test "esbuild bundles: --names puts the map's names in place of the function names" {
	need_js
	shop_zip
	for n in a c idx; do
		"$S" stack --names --platform web --data-dir "$D" --app-id shop --env prod \
			--version 1.2.3 "$JS/$n.stack" >"$T/$n.got" 2>/dev/null
		cmp "$JS/$n.want-names" "$T/$n.got"
	done
	! cmp -s "$JS/a.want" "$JS/a.want-names"
}

@test "esbuild bundles through the stage: error_stack_source of each record as trace-mapping says" {
	need_js
	shop_zip
	cat "$JS"/{a,b,c,idx}.records >"$T/in"
	cat "$JS"/{a,b,c,idx}.records-want | jq -c . >"$T/want"
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/in" >"$T/out" 2>"$T/err"
	jq -c '.fields.error_stack_source // null' "$T/out" >"$T/got"
	diff -u "$T/want" "$T/got" | head -20
	cmp "$T/want" "$T/got"
	# Nothing else in the records changed.
	jq -c 'del(.fields.error_stack_source)' "$T/out" | cmp - <(jq -c . "$T/in")
	[ "$(metric rum_symbolicate_records_total)" = 300 ]
	[ "$(metric 'rum_symbolicate_stacks_total{platform="web"}')" = 300 ]
	[ "$(metric 'rum_symbolicate_stacks_restored_total{platform="web"}')" = "$(grep -vc null "$T/want")" ]
	[ "$(metric rum_symbolicate_frames_total)" = 6000 ]
	# Frames restored: the lines trace-mapping's answer changed.
	local restored
	restored=$(for n in a b c idx; do paste -d '\t' "$JS/$n.stack" "$JS/$n.want"; done |
		awk -F '\t' '$1 != $2' | wc -l)
	[ "$restored" -gt 4000 ]
	[ "$(metric rum_symbolicate_frames_restored_total)" = "$restored" ]
	[ "$(metric rum_symbolicate_maps_loaded_total)" = 4 ]
	[ "$(metric 'rum_symbolicate_frame_misses_total{reason="unmapped"}')" = $((6000 - restored)) ]
	[ "$(metric rum_symbolicate_archives_opened_total)" = 1 ]
}

@test "a cache smaller than the maps: least recently used dropped, reloaded, same answers" {
	need_js
	shop_zip
	# Each map under K names, K such that all of them parsed take twice
	# a cache of 2 MB; records of every copy taken in turns, so that each
	# map comes back after the others pushed it out.
	local n i k bytes entries=() sets=()
	bytes=$(for n in a b c idx; do
		echo "at f @ https://h/static/js/$n.min.js:1:1" |
			"$S" stack --log-level debug --platform web --data-dir "$D" --app-id shop \
				--env prod --version 1.2.3 2>&1 >/dev/null
	done | sed -n 's/.*: parsed, \([0-9]*\) bytes$/\1/p' | awk '{ s += $1 } END { print s }')
	k=$((4 * 1048576 / bytes + 1))
	for ((i = 1; i <= k; i++)); do
		for n in a b c idx; do
			entries+=("static/js/$n$i.min.js.map=$JS/maps/$n.min.js.map")
			for f in records records-want; do
				sed "s#/static/js/$n.min.js#/static/js/$n$i.min.js#g" "$JS/$n.$f" >"$T/$n$i.$f"
			done
			sets+=("$n$i")
		done
	done
	"$MKZIP" "$D/rum/web/shop-prod-1.2.3.zip" "${entries[@]}"
	(cd "$T" && paste -d '\n' "${sets[@]/%/.records}") | grep . >"$T/in"
	(cd "$T" && paste -d '\n' "${sets[@]/%/.records-want}") | grep . | jq -c . >"$T/want"
	"$S" --data-dir "$D" --memory-mb 2 --metrics-file "$M" <"$T/in" >"$T/out" 2>"$T/err"
	jq -c '.fields.error_stack_source // null' "$T/out" | cmp - "$T/want"
	[ "$(metric rum_symbolicate_maps_evicted_total)" -gt 100 ]
	[ "$(metric rum_symbolicate_cache_bytes)" -le $((2 << 20)) ]
	[ "$(metric rum_symbolicate_maps_loaded_total)" -gt 100 ]
	[ "$(metric rum_symbolicate_map_failures_total)" = 0 ]
	# With room for all of them, each is parsed once.
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/in" >/dev/null 2>&1
	[ "$(metric rum_symbolicate_maps_loaded_total)" = $((4 * k)) ]
	[ "$(metric rum_symbolicate_maps_evicted_total)" = 0 ]
}

@test "DataKit's case: bundle.js:1:821 restores to src/index.js:17:4, in records and with stack" {
	need_dk
	"$MKZIP" "$D/rum/web/app1-none-none.zip" "dist/bundle.js.map=$DK"
	local st=$'ReferenceError: aa is not defined\n  at <anonymous> @ http://localhost:5500/dist/bundle.js:1:821'
	printf '%s' "$st" | "$S" stack --platform web --data-dir "$D" --app-id app1 >"$T/got"
	[ "$(cat "$T/got")" = $'ReferenceError: aa is not defined\n  at <anonymous> @ webpack:///./src/index.js:17:4' ]
	error_rec "$st" app1 | "$S" --data-dir "$D" --datakit-compat >"$T/out"
	[ "$(jq -r .fields.error_stack_source "$T/out")" = "$(cat "$T/got")" ]
	[ "$(jq -r .fields.error_stack_source_base64 "$T/out" | base64 -d)" = "$(cat "$T/got")" ]
	# --names: the map's name there is "aa"
	printf '%s' "$st" | "$S" stack --names --platform web --data-dir "$D" --app-id app1 | grep -q 'at aa @ webpack:///./src/index.js:17:4'
	# The same zip as DataKit's tests make it: under a top directory.
	rm "$D/rum/web/app1-none-none.zip"
	"$MKZIP" "$T/x.zip" "app1-none-none/dist/bundle.js.map=$DK"
	mv "$T/x.zip" "$D/rum/web/app1-none-none.zip"
	printf '%s' "$st" | "$S" stack --platform web --data-dir "$D" --app-id app1 | cmp - "$T/got"
}

@test "archives added, replaced and removed while the stage runs take effect at the next record" {
	need_js
	jq -nc --rawfile s "$JS/swap.stack" \
		'{measurement:"error",tags:{app_id:"hot",sdk_name:"df_web_rum_sdk"},fields:{error_stack:$s}}' >"$T/rec"
	local Z=$D/rum/web/hot-none-none.zip
	start_fifo_stage S_PID 5 "$S" --data-dir "$D" --metrics-file "$M"
	local n=0
	send() { cat "$T/rec" >&5; n=$((n + 1)); wait_for 10 count_at_least "$n" lines "$T/out"; }
	got() { sed -n "${n}p" "$T/out" | jq -r '.fields.error_stack_source // "none"'; }
	send
	[ "$(got)" = none ]
	"$MKZIP" "$T/a.zip" "static/js/app.min.js.map=$JS/maps/a.min.js.map"
	"$MKZIP" "$T/b.zip" "static/js/app.min.js.map=$JS/maps/b.min.js.map"
	cp "$T/a.zip" "$T/new.zip" && mv "$T/new.zip" "$Z" # added
	send
	[ "$(got)" = "$(cat "$JS/swap.want-a")" ]
	cp "$T/b.zip" "$T/new.zip" && mv "$T/new.zip" "$Z" # replaced by rename
	send
	[ "$(got)" = "$(cat "$JS/swap.want-b")" ]
	cat "$T/a.zip" >"$Z" # rewritten in place
	send
	[ "$(got)" = "$(cat "$JS/swap.want-a")" ]
	rm "$Z" # removed
	send
	[ "$(got)" = none ]
	cp "$T/b.zip" "$Z" # back again
	send
	[ "$(got)" = "$(cat "$JS/swap.want-b")" ]
	exec 5>&-
	wait "$S_PID"
	S_PID=
	[ "$(metric rum_symbolicate_archives_opened_total)" = 4 ]
	[ "$(metric rum_symbolicate_archives_removed_total)" = 1 ]
	[ "$(metric 'rum_symbolicate_misses_total{reason="no_archive"}')" = 2 ]
}

@test "mini programs: their own archive first, the web one when there is none" {
	need_js
	local st
	st=$(cat "$JS/swap.stack")
	"$MKZIP" "$D/rum/web/mp-none-none.zip" "static/js/app.min.js.map=$JS/maps/a.min.js.map"
	{
		error_rec "$st" mp df_miniapp_rum_sdk
		error_rec "$st" mp df_uniapp_rum_sdk
	} >"$T/in"
	"$S" --data-dir "$D" <"$T/in" >"$T/out"
	[ "$(jq -r .fields.error_stack_source "$T/out")" = "$(cat "$JS/swap.want-a"; echo; cat "$JS/swap.want-a")" ]
	"$MKZIP" "$D/rum/miniapp/mp-none-none.zip" "static/js/app.min.js.map=$JS/maps/b.min.js.map"
	"$S" --data-dir "$D" <"$T/in" >"$T/out"
	[ "$(jq -r .fields.error_stack_source "$T/out")" = "$(cat "$JS/swap.want-b"; echo; cat "$JS/swap.want-b")" ]
	# ... and the web SDK never reads the mini-program one.
	[ "$(error_rec "$st" mp df_web_rum_sdk | "$S" --data-dir "$D" | jq -r .fields.error_stack_source)" = "$(cat "$JS/swap.want-a")" ]
	"$S" stack --platform miniapp --data-dir "$D" --app-id mp "$JS/swap.stack" | cmp - "$JS/swap.want-b"
	rm "$D/rum/miniapp/mp-none-none.zip"
	"$S" stack --platform miniapp --data-dir "$D" --app-id mp "$JS/swap.stack" | cmp - "$JS/swap.want-a"
}

@test "archive names: empty env and version are none, '/' is __" {
	small_map
	"$MKZIP" "$D/rum/web/app-none-none.zip" "app.js.map=$T/app.js.map"
	"$MKZIP" "$D/rum/web/a__b-prod-feature__x.zip" "app.js.map=$T/app.js.map"
	local f='at f @ https://h/app.js:1:7'
	printf '%s' "$f" | "$S" stack --platform web --data-dir "$D" --app-id app | grep -qx 'at f @ src/app.js:1:5'
	printf '%s' "$f" | "$S" stack --platform web --data-dir "$D" --app-id app --env '' --version '' | grep -q src/app.js
	printf '%s' "$f" | "$S" stack --platform web --data-dir "$D" --app-id a/b --env prod --version feature/x | grep -q src/app.js
	jq -nc --arg s "$f" '{measurement:"error",tags:{app_id:"a/b",env:"prod",version:"feature/x",sdk_name:"df_web_rum_sdk"},fields:{error_stack:$s}}' |
		"$S" --data-dir "$D" | jq -r .fields.error_stack_source | grep -qx 'at f @ src/app.js:1:5'
	# Columns are 1-based in, 0-based out: column 5 is the first segment's.
	printf 'at f @ https://h/app.js:1:5' | "$S" stack --platform web --data-dir "$D" --app-id app | grep -qx 'at f @ src/app.js:1:0'
	printf 'at f @ https://h/app.js:1:6' | "$S" stack --platform web --data-dir "$D" --app-id app | grep -qx 'at f @ src/app.js:1:5'
	# URL paths: query and fragment dropped, %XX decoded, any host.
	"$MKZIP" "$D/rum/web/sp-none-none.zip" "my js/app.js.map=$T/app.js.map"
	printf 'g@http://x:8080/my%%20js/app.js?v=1#h:1:1' | "$S" stack --platform web --data-dir "$D" --app-id sp | grep -qx 'g@src/app.js:1:0'
}

@test "misses pass byte for byte and are counted by reason" {
	small_map
	printf '{not a map' >"$T/broken.js.map"
	"$MKZIP" "$D/rum/web/app-none-none.zip" "app.js.map=$T/app.js.map" "broken.js.map=$T/broken.js.map"
	echo "not a zip" >"$D/rum/web/junk-none-none.zip"
	{
		error_rec 'at f @ https://h/app.js:1:1' nosuch                  # no_archive
		jq -nc '{measurement:"error",tags:{sdk_name:"df_web_rum_sdk"},fields:{error_stack:"at f @ https://h/app.js:1:1"}}' # no_app_id
		error_rec 'at f @ https://h/other.js:1:1'                       # no_map
		error_rec 'at f @ https://h/app.js:2:1'                         # unmapped
		error_rec 'no frames here, only words'                          # no_frames
		error_rec 'at f @ https://h/broken.js:1:1'                      # bad_map
		error_rec 'at f @ https://h/app.js:1:1' junk                    # bad_archive
		jq -nc '{measurement:"error",tags:{app_id:"a\u0000b",sdk_name:"df_web_rum_sdk"},fields:{error_stack:"at f @ https://h/app.js:1:1"}}' # bad_name
		# not for this stage at all:
		printf '%s\n' '{"measurement":"view","tags":{"app_id":"app","sdk_name":"df_web_rum_sdk"},"fields":{"error_stack":"at f @ https://h/app.js:1:1"}}'
		printf '%s\n' '{"measurement":"error","tags":{"app_id":"app","sdk_name":"df_android_rum_sdk"},"fields":{"error_stack":"at f @ https://h/app.js:1:1"}}'
		printf '%s\n' '{"measurement":"error","tags":{"app_id":"app","sdk_name":"df_web_rum_sdk"},"fields":{"error_message":"x"}}'
		printf '%s\n' ' { "time" : 1 , "measurement" : "error" , "tags" : { "app_id" : "app" } , "fields" : { "error_stack" : 1 } } '
	} >"$T/in"
	"$S" --data-dir "$D" --metrics-file "$M" <"$T/in" >"$T/out" 2>"$T/err"
	cmp "$T/in" "$T/out"
	for r in no_archive no_app_id no_map unmapped no_frames bad_map bad_archive bad_name; do
		[ "$(metric "rum_symbolicate_misses_total{reason=\"$r\"}")" = 1 ] || { echo "$r"; false; }
	done
	[ "$(metric 'rum_symbolicate_stacks_total{platform="web"}')" = 8 ]
	[ "$(metric rum_symbolicate_records_total)" = 12 ]
	[ "$(metric rum_symbolicate_map_failures_total)" = 1 ]
	[ "$(metric rum_symbolicate_archive_failures_total)" = 1 ]
	grep -q 'broken.js.map in .*app-none-none.zip: ' "$T/err"
	grep -q 'junk-none-none.zip: not a readable zip' "$T/err"
	# A broken map is parsed once, not at every record.
	for i in 1 2 3; do error_rec 'at f @ https://h/broken.js:1:1'; done |
		"$S" --data-dir "$D" --metrics-file "$M" >/dev/null 2>&1
	[ "$(metric rum_symbolicate_map_failures_total)" = 1 ]
	[ "$(metric 'rum_symbolicate_misses_total{reason="bad_map"}')" = 3 ]
}

@test "zip entries outside the root are ignored and logged; zip bombs and maps past --max-map-mb refused" {
	small_map
	"$MKZIP" "$D/rum/web/evil-none-none.zip" "../evil.js.map=$T/app.js.map" \
		"/abs.js.map=$T/app.js.map" "ok/../../up.js.map=$T/app.js.map" \
		"app.js.map=$T/app.js.map" "bomb.js.map=spaces:50000000" "big.js.map=random:3000000"
	local st=$'at a @ https://h/../evil.js:1:1\nat b @ https://h/app.js:1:1\nat c @ https://h/ok/../../up.js:1:1'
	printf '%s' "$st" | "$S" stack --platform web --data-dir "$D" --app-id evil >"$T/got" 2>"$T/err"
	[ "$(cat "$T/got")" = $'at a @ https://h/../evil.js:1:1\nat b @ src/app.js:1:0\nat c @ https://h/ok/../../up.js:1:1' ]
	grep -q "ignoring entry '../evil.js.map': outside the archive's root" "$T/err"
	grep -q "ignoring entry '/abs.js.map'" "$T/err"
	grep -q "ignoring entry 'ok/../../up.js.map'" "$T/err"
	run -1 "$S" stack --platform web --data-dir "$D" --app-id evil <<<'at f @ https://h/bomb.js:1:1'
	[[ $output == *"bomb.js.map in "*"50000000 bytes from "*"zip bomb"* ]]
	run -1 "$S" stack --platform web --data-dir "$D" --app-id evil --max-map-mb 2 <<<'at f @ https://h/big.js:1:1'
	[[ $output == *"big.js.map in "*"3000000 bytes uncompressed, above the limit of 2097152"* ]]
	# Within the limit it is read, and refused as what it is: not JSON.
	run -1 "$S" stack --platform web --data-dir "$D" --app-id evil <<<'at f @ https://h/big.js:1:1'
	[[ $output == *"big.js.map in "* ]]
	[[ $output != *"limit"* ]]
	error_rec "$st" evil | "$S" --data-dir "$D" --metrics-file "$M" >/dev/null 2>&1
	[ "$(metric rum_symbolicate_archive_entries_ignored_total)" = 3 ]
}

@test "stack: usage, input, --zip, and the exit status" {
	small_map
	"$MKZIP" "$T/mine.zip" "app.js.map=$T/app.js.map"
	run -2 "$S" stack --app-id x
	[[ $output == *"--platform is required"* ]]
	run -2 "$S" stack --platform desktop --app-id x
	[[ $output == *"invalid value 'desktop' for --platform"* ]]
	run -2 "$S" stack --platform web
	[[ $output == *"--app-id (or --zip) is required"* ]]
	run -2 "$S" stack --platform web --app-id x a b
	run -2 "$S" stack --platform web --app-id x "$T/nonexistent"
	run -1 "$S" stack --platform ios --app-id x --data-dir "$T/none" </dev/null
	[[ $output == *"nothing restored"* ]]
	run -0 "$S" stack --help
	[[ $output == *"Usage: rum-symbolicate stack --platform"* ]]
	# --zip: no data dir needed; FILE, "-" and standard input.
	printf 'Error\n  at f (https://h/app.js:1:9)\n' >"$T/st"
	"$S" stack --platform web --zip "$T/mine.zip" "$T/st" >"$T/got"
	[ "$(cat "$T/got")" = $'Error\n  at f (src/app.js:1:5)' ]
	"$S" stack --platform web --zip "$T/mine.zip" - <"$T/st" | cmp - "$T/got"
	"$S" stack --platform web --zip "$T/mine.zip" <"$T/st" | cmp - "$T/got"
	# Nothing restored: exit 1, the stack unchanged on stdout (byte for
	# byte, without a newline added), the reason last on stderr.
	run --separate-stderr -1 "$S" stack --platform web --zip "$T/mine.zip" <<<'at f (https://h/other.js:1:1)'
	[ "$output" = 'at f (https://h/other.js:1:1)' ]
	printf 'Error\n  at f (https://h/other.js:1:1)' >"$T/other"
	local rc=0
	"$S" stack --platform web --zip "$T/mine.zip" "$T/other" >"$T/out" 2>"$T/reason" || rc=$?
	[ "$rc" = 1 ]
	cmp "$T/other" "$T/out"
	[ "$(tail -n 1 "$T/reason")" = "rum-symbolicate: error: nothing restored: no other.js.map in $T/mine.zip" ]
	[[ ${stderr_lines[-1]} == "rum-symbolicate: error: nothing restored: no other.js.map in $T/mine.zip" ]]
	run --separate-stderr -1 "$S" stack --platform web --data-dir "$D" --app-id none <<<'at f (https://h/app.js:1:1)'
	[[ ${stderr_lines[-1]} == *"no archive $D/rum/web/none-none-none.zip" ]]
	run --separate-stderr -1 "$S" stack --platform web --zip "$T/mine.zip" <<<'just words'
	[[ ${stderr_lines[-1]} == *"no stack frame with a position" ]]
}

@test "--help, --version, --check-config, and the man page" {
	run -0 "$S" --help
	[[ $output == *"--memory-mb N"* && $output == *"--datakit-compat"* && $output == *"rum-symbolicate stack"* ]]
	run -0 "$S" --version
	[[ $output == "rum-symbolicate (rumpipe) "* ]]
	run -0 "$S" --check-config --data-dir "$D"
	run -2 "$S" --memory-mb 0
	[[ $output == *"--memory-mb"* ]]
	RUM_MEMORY_MB=x run -2 "$S"
	[[ $output == *"RUM_MEMORY_MB"* ]]
	run -2 "$S" extra
	man -l "$BATS_TEST_DIRNAME/../share/man/rum-symbolicate.1" 2>/dev/null | grep -q "error_stack_source" ||
		grep -q "error_stack_source" "$BATS_TEST_DIRNAME/../share/man/rum-symbolicate.1"
}

@test "signals: SIGHUP keeps the stage going; SIGTERM while idle exits 0 with everything written" {
	small_map
	"$MKZIP" "$D/rum/web/app-none-none.zip" "app.js.map=$T/app.js.map"
	start_fifo_stage S_PID 5 "$S" --data-dir "$D" --metrics-file "$M"
	error_rec 'at f @ https://h/app.js:1:7' >&5
	wait_for 10 count_at_least 1 lines "$T/out"
	kill -HUP "$S_PID"
	error_rec 'at f @ https://h/app.js:1:1' >&5
	wait_for 10 count_at_least 2 lines "$T/out"
	kill -TERM "$S_PID"
	local rc=0
	wait "$S_PID" || rc=$?
	S_PID=
	exec 5>&-
	[ "$rc" = 0 ]
	[ "$(jq -r .fields.error_stack_source "$T/out")" = $'at f @ src/app.js:1:5\nat f @ src/app.js:1:0' ]
	grep -q "SIGHUP" "$T/err"
	[ "$(metric rum_symbolicate_records_total)" = 2 ]
}

@test "a zip replaced where inotify does not look (behind a symlink) is seen within --check-interval" {
	need_js
	jq -nc --rawfile s "$JS/swap.stack" \
		'{measurement:"error",tags:{app_id:"link",sdk_name:"df_web_rum_sdk"},fields:{error_stack:$s}}' >"$T/rec"
	mkdir "$T/elsewhere"
	"$MKZIP" "$T/elsewhere/real.zip" "static/js/app.min.js.map=$JS/maps/a.min.js.map"
	"$MKZIP" "$T/b.zip" "static/js/app.min.js.map=$JS/maps/b.min.js.map"
	ln -s "$T/elsewhere/real.zip" "$D/rum/web/link-none-none.zip"
	start_fifo_stage S_PID 5 "$S" --data-dir "$D" --check-interval 300
	cat "$T/rec" >&5
	wait_for 10 count_at_least 1 lines "$T/out"
	cp "$T/b.zip" "$T/elsewhere/new.zip" && mv "$T/elsewhere/new.zip" "$T/elsewhere/real.zip"
	sleep 0.5
	cat "$T/rec" >&5
	wait_for 10 count_at_least 2 lines "$T/out"
	exec 5>&-
	wait "$S_PID"
	S_PID=
	[ "$(sed -n 1p "$T/out" | jq -r .fields.error_stack_source)" = "$(cat "$JS/swap.want-a")" ]
	[ "$(sed -n 2p "$T/out" | jq -r .fields.error_stack_source)" = "$(cat "$JS/swap.want-b")" ]
}
