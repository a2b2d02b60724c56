#!/usr/bin/env bats
# Scaling out: processing nodes share one sourcemap directory (NFS, CephFS)
# mounted at DATA_DIR/rum. An archive uploaded through one node's API is
# used by every node's rum-symbolicate within a second: here inotify tells
# them; on a shared filesystem, where a file written by another machine
# raises no inotify event, every archive looked up (also one that was
# missing) is stat'ed again after --check-interval (1 s), which
# symbolicate-web.bats tests with a zip inotify does not watch.

load lib/common
load lib/listen

setup() {
	listen_vars
	T=$BATS_TEST_TMPDIR
	DATA=$T/shared
	PIDS=()
	# A map: generated line 1, column 0 → src/index.js 1:0; column 4 →
	# 2:2, name greet.
	mkdir -p "$T/z/dist" "$DATA"
	printf '%s' '{"version":3,"file":"bundle.js","sources":["src/index.js"],"names":["greet"],"mappings":"AAAA,IACEA"}' >"$T/z/dist/bundle.js.map"
	(cd "$T/z" && python3 -c 'import sys, zipfile
with zipfile.ZipFile("../a.zip", "w", zipfile.ZIP_DEFLATED) as z: z.write("dist/bundle.js.map")')
	STACK=$'TypeError: x is undefined\n  at f @ http://shop.example/dist/bundle.js:1:5'
	jq -nc --arg s "$STACK" '{measurement:"error",tags:{app_id:"app1",sdk_name:"df_web_rum_sdk"},fields:{error_stack:$s},time:1}' >"$T/rec"
}

teardown() {
	for p in "${PIDS[@]}"; do stop_pid "$p" KILL; done
	listen_teardown
}

# node N: rum-symbolicate of node N on the shared directory, fed through
# the FIFO $T/in.N held open on fd 5+N, writing $T/out.N.
node() {
	local n=$1
	mkfifo "$T/in.$n"
	"$BIN/rum-symbolicate" --data-dir "$DATA" <"$T/in.$n" >"$T/out.$n" 2>"$T/err.$n" &
	PIDS+=($!)
	eval "exec $((5 + n))>\"\$T/in.\$n\""
}

# ask N K: one record to node N, which has then written K lines; prints the
# restored stack of that line ("none" when not restored).
ask() {
	cat "$T/rec" >&$((5 + $1))
	wait_for 10 count_at_least "$2" lines "$T/out.$1"
	sed -n "$2p" "$T/out.$1" | jq -r '.fields.error_stack_source // "none"'
}

@test "two nodes on one directory: an upload through one node's API restores on both within a second; a delete stops both" {
	start_listen --data-dir "$DATA" --token s3cret
	node 1
	node 2
	[ "$(ask 1 1)" = none ]
	[ "$(ask 2 1)" = none ]
	req PUT '/v1/sourcemap?app_id=app1&platform=web&token=s3cret' -F "file=@$T/a.zip"
	[ "$CODE" = 200 ]
	sleep 1.1
	want=$(printf '%s' "$STACK" | "$BIN/rum-symbolicate" stack --platform web --data-dir "$DATA" --app-id app1)
	[[ "$want" == *"src/index.js:2:"* ]]
	[ "$(ask 2 2)" = "$want" ]
	[ "$(ask 1 2)" = "$want" ]
	req DELETE '/v1/sourcemap?app_id=app1&platform=web&token=s3cret'
	[ "$CODE" = 200 ]
	sleep 1.1
	[ "$(ask 2 3)" = none ]
	[ "$(ask 1 3)" = none ]
}
