#!/usr/bin/env bats
# rum-listen's sourcemap API: PUT/DELETE /v1/sourcemap (token, naming,
# atomic replacement, every refusal writes nothing), GET /v1/sourcemap/check
# through rum-symbolicate.

load lib/common
load lib/listen

setup() {
	listen_vars
	DATA=$D/data
	LISTEN_OPTS=(--data-dir "$DATA")
	# A tiny hand-written map: generated line 1, column 0 → src/index.js
	# 1:0; column 4 → 2:2 (0-based line 1), name "greet".
	mkdir -p "$D/z/dist"
	printf '%s' '{"version":3,"file":"bundle.js","sources":["src/index.js"],"names":["greet"],"mappings":"AAAA,IACEA"}' >"$D/z/dist/bundle.js.map"
	mkzip "$D/a.zip" "$D/z" dist/bundle.js.map
	printf 'console.log(1)\n' >"$D/z/dist/other.js"
	mkzip "$D/b.zip" "$D/z" dist/bundle.js.map dist/other.js
}

teardown() { listen_teardown; }

# mkzip OUT DIR ENTRY...: a zip of DIR's ENTRYs (python's zipfile: no zip
# command needed).
mkzip() {
	python3 - "$@" <<'PY'
import os, sys, zipfile
out, base, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for n in names:
        z.write(os.path.join(base, n), n)
PY
}

# put QUERY [CURL-ARG]...: an upload of $D/a.zip unless the args say otherwise.
put() {
	local q=$1
	shift
	[ $# -gt 0 ] || set -- -F "file=@$D/a.zip"
	req PUT "/v1/sourcemap?$q" "$@"
}

expect_ok() { # CONTENT-PREFIX
	[ "$CODE" = 200 ] || { echo "status $CODE: $(cat "$D/resp")"; return 1; }
	jq -e --arg c "$1" '.success == true and .errorMsg == "" and (.content | startswith($c))' \
		"$D/resp" >/dev/null || { echo "not ok: $(cat "$D/resp")"; return 1; }
}

# The sourcemap API's errors: DataKit's success/errorMsg and our
# error_code/message (for expect_error).
ERROR_SHAPE='.success == false and .error_code == $c and .errorMsg == .message
		and (.message | length > 0)'

no_files() {
	local f
	f=$(find "$DATA" -type f 2>/dev/null || true)
	[ -z "$f" ] || { echo "written: $f"; return 1; }
}

@test "upload: in place byte for byte; replaced atomically; deleted" {
	start_listen --token s3cret
	put 'app_id=app1&env=prod&version=1.0.2&platform=web&token=s3cret'
	expect_ok "uploaded to [$DATA/rum/web/app1-prod-1.0.2.zip]"
	cmp "$D/a.zip" "$DATA/rum/web/app1-prod-1.0.2.zip"
	[ "$(stat -c %a "$DATA/rum/web/app1-prod-1.0.2.zip")" = 644 ]
	# Replaced: the new bytes, under the same name, with no temporary left.
	ino=$(stat -c %i "$DATA/rum/web/app1-prod-1.0.2.zip")
	put 'app_id=app1&env=prod&version=1.0.2&platform=web&token=s3cret' -F "file=@$D/b.zip"
	expect_ok "uploaded to"
	cmp "$D/b.zip" "$DATA/rum/web/app1-prod-1.0.2.zip"
	[ "$(stat -c %i "$DATA/rum/web/app1-prod-1.0.2.zip")" != "$ino" ]
	[ "$(ls -A "$DATA/rum/web")" = app1-prod-1.0.2.zip ]
	# Naming: empty env/version → none, '/' → __, platform web by default,
	# each platform its own directory; the file part found among others.
	put 'app_id=app1&token=s3cret'
	expect_ok "uploaded to [$DATA/rum/web/app1-none-none.zip]"
	put 'app_id=team/app&env=&version=v/2&platform=miniapp&token=s3cret' \
		-F note=hello -F "file=@$D/a.zip;filename=whatever.zip"
	expect_ok "uploaded to [$DATA/rum/miniapp/team__app-none-v__2.zip]"
	cmp "$D/a.zip" "$DATA/rum/miniapp/team__app-none-v__2.zip"
	put 'app_id=a.b&env=e..x&version=1&platform=android&token=s3cret'
	cmp "$D/a.zip" "$DATA/rum/android/a.b-e..x-1.zip"
	put 'app_id=ios_app&version=9&platform=ios&token=s3cret'
	cmp "$D/a.zip" "$DATA/rum/ios/ios_app-none-9.zip"
	# An empty zip (end record only) is a zip.
	printf 'PK\005\006\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >"$D/empty.zip"
	put 'app_id=e&token=s3cret' -F "file=@$D/empty.zip"
	expect_ok "uploaded to"
	# Delete with the same arguments.
	req DELETE '/v1/sourcemap?app_id=app1&env=prod&version=1.0.2&platform=web&token=s3cret'
	expect_ok "deleted [$DATA/rum/web/app1-prod-1.0.2.zip]"
	[ ! -e "$DATA/rum/web/app1-prod-1.0.2.zip" ]
	req DELETE '/v1/sourcemap?app_id=team/app&version=v/2&platform=miniapp&token=s3cret'
	expect_ok "deleted"
	[ ! -e "$DATA/rum/miniapp/team__app-none-v__2.zip" ]
	req DELETE '/v1/sourcemap?app_id=app1&env=prod&version=1.0.2&platform=web&token=s3cret'
	expect_error 404 rum.sourcemapNotFound "app1-prod-1.0.2.zip"
	curl -s "$URL/metrics" >"$D/metrics"
	grep -q '^rum_listen_sourcemap_total{op="upload"} 7$' "$D/metrics"
	grep -q '^rum_listen_sourcemap_total{op="delete"} 2$' "$D/metrics"
	grep -q '^rum_listen_requests_total{endpoint="/v1/sourcemap",code="200"} 9$' "$D/metrics"
	# Nothing on stdout: the API makes no records.
	[ ! -s "$OUT" ]
}

@test "every bad request: its status and error, nothing written" {
	start_listen --token s3cret
	ok='app_id=app1&env=prod&version=1&platform=web'
	put "$ok&token=wrong"
	expect_error 403 rum.badToken "not correct"
	put "$ok&token=s3cre"
	expect_error 403 rum.badToken
	put "$ok&token=s3cret0"
	expect_error 403 rum.badToken
	put "$ok"
	expect_error 403 rum.badToken "no token"
	# A client that waits for 100 Continue is refused before it sends.
	head -c $((2 * 1024 * 1024)) /dev/zero >"$D/2m"
	[ "$(curl -s -o "$D/resp" -w '%{http_code} %{size_upload}' -X PUT -H 'Expect: 100-continue' \
		-F "file=@$D/2m" "$URL/v1/sourcemap?$ok&token=wrong")" = "403 0" ]
	expect_error 403 rum.badToken
	put 'app_id=app1&platform=windows&token=s3cret'
	expect_error 400 rum.badPlatform "windows"
	put 'app_id=app1&platform=Web&token=s3cret'
	expect_error 400 rum.badPlatform
	put 'env=prod&platform=web&token=s3cret'
	expect_error 400 rum.missingAppId
	put 'app_id=&token=s3cret'
	expect_error 400 rum.missingAppId
	# Path tricks: '.' and '..' segments, backslashes, control characters,
	# names too long for a file.
	for q in 'app_id=..' 'app_id=../../etc/x' 'app_id=a&env=..' 'app_id=a&version=x/../../y' \
		'app_id=.' 'app_id=a/./b' 'app_id=a&version=..%2F..' 'app_id=a%5C..%5Cb' \
		'app_id=a%0Ab' "app_id=$(printf 'x%.0s' {1..300})"; do
		put "$q&token=s3cret"
		expect_error 400 rum.badName
	done
	# Not a zip: text, a truncated zip, a zip with its end record cut off,
	# one whose end record points nowhere, a PK header and nothing else.
	printf 'this is not a zip archive, only text\n' >"$D/text"
	put "$ok&token=s3cret" -F "file=@$D/text"
	expect_error 400 rum.notZip "no zip signature"
	head -c 100 "$D/b.zip" >"$D/trunc.zip"
	put "$ok&token=s3cret" -F "file=@$D/trunc.zip"
	expect_error 400 rum.notZip "end-of-central-directory"
	size=$(stat -c %s "$D/b.zip")
	head -c $((size - 1)) "$D/b.zip" >"$D/cut.zip"
	put "$ok&token=s3cret" -F "file=@$D/cut.zip"
	expect_error 400 rum.notZip
	python3 - "$D/b.zip" "$D/bad-cd.zip" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
e = b.rfind(b"PK\x05\x06")
struct.pack_into("<I", b, e + 16, len(b))  # central directory offset past the end
open(sys.argv[2], "wb").write(b)
PY
	put "$ok&token=s3cret" -F "file=@$D/bad-cd.zip"
	expect_error 400 rum.notZip "central directory"
	printf 'PK\003\004' >"$D/pk"
	put "$ok&token=s3cret" -F "file=@$D/pk"
	expect_error 400 rum.notZip "too short"
	# No part named file; not multipart; malformed; empty.
	put "$ok&token=s3cret" -F "zip=@$D/a.zip"
	expect_error 400 rum.missingFile "'file'"
	put "$ok&token=s3cret" --data-binary @"$D/a.zip" -H 'Content-Type: application/zip'
	expect_error 400 rum.notMultipart
	printf -- '--XX\r\nContent-Disposition: form-data; name="file"\r\n\r\nPK' >"$D/trunc-form"
	put "$ok&token=s3cret" --data-binary @"$D/trunc-form" -H 'Content-Type: multipart/form-data; boundary=XX'
	expect_error 400 rum.badMultipart "truncated"
	put "$ok&token=s3cret" --data-binary '' -H 'Content-Type: multipart/form-data; boundary=XX'
	expect_error 400 rum.emptyBody
	# Over 100 MiB: refused from its Content-Length, before the body.
	truncate -s $((100 * 1024 * 1024 + 1)) "$D/big.zip"
	put "$ok&token=s3cret" -F "file=@$D/big.zip"
	expect_error 413 rum.bodyTooLarge "104857600"
	# ... and sent in chunks without a length, refused as it passes.
	CODE=$(head -c $((102 * 1024 * 1024)) /dev/zero | curl -s -o "$D/resp" -w '%{http_code}' -X PUT \
		-H 'Transfer-Encoding: chunked' -H 'Content-Type: multipart/form-data; boundary=XX' \
		--data-binary @- "$URL/v1/sourcemap?$ok&token=s3cret")
	expect_error 413 rum.bodyTooLarge
	# Other methods.
	req POST "/v1/sourcemap?$ok&token=s3cret" -F "file=@$D/a.zip"
	[ "$CODE" = 405 ]
	grep -qi '^Allow: PUT, DELETE' "$D/hdr"
	req PUT "/v1/sourcemap/check?$ok"
	[ "$CODE" = 405 ]
	# DELETE is refused alike.
	req DELETE "/v1/sourcemap?$ok&token=nope"
	expect_error 403 rum.badToken
	req DELETE '/v1/sourcemap?app_id=..&token=s3cret'
	expect_error 400 rum.badName
	req DELETE '/v1/sourcemap?app_id=a&platform=x&token=s3cret'
	expect_error 400 rum.badPlatform
	no_files
	curl -s "$URL/metrics" | grep -q '^rum_listen_rejected_total{reason="rum.badName"} 11$'
	# The connection survives a refusal: a good upload goes through after.
	put "$ok&token=s3cret"
	expect_ok "uploaded to"
}

@test "no --token: upload and delete refuse with a clear error" {
	start_listen
	put 'app_id=app1&token=anything'
	expect_error 403 rum.tokenNotConfigured "without --token"
	put 'app_id=app1'
	expect_error 403 rum.tokenNotConfigured
	req DELETE '/v1/sourcemap?app_id=app1&token=x'
	expect_error 403 rum.tokenNotConfigured
	no_files
	# The token also comes from the environment.
	stop_pid "$LPID"
	RUM_TOKEN=envtok start_listen
	put 'app_id=app1&token=envtok'
	expect_ok "uploaded to"
}

@test "check: the stack restored by a stand-in rum-symbolicate; its failures" {
	# A stand-in that shows what it was given, so that the exchange itself
	# is tested whatever rum-symbolicate does.
	cat >"$D/fake-sym" <<'EOF'
#!/bin/bash
stack=$(cat)
case $stack in
fail*) echo "rum-symbolicate: error: no archive $*" >&2; exit 1 ;;
usage*) echo "rum-symbolicate: error: bad usage" >&2; exit 2 ;;
sleep*) sleep 30 ;;
esac
printf 'ARGS %s\n' "$*"
printf 'ENV %s\n' "${RUM_TOKEN:-none}"
printf 'IN %s' "$stack"
EOF
	chmod +x "$D/fake-sym"
	RUM_TOKEN=t start_listen --symbolicate "$D/fake-sym" --symbolicate-timeout 1
	stack=$'TypeError: x\n\tat f @ http://localhost/dist/bundle.js:1:5'
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' -G "$URL/v1/sourcemap/check" \
		--data-urlencode app_id=app1 --data-urlencode env=prod --data-urlencode version=1.0 \
		--data-urlencode platform=miniapp --data-urlencode "error_stack=$stack")
	[ "$CODE" = 200 ]
	jq -e '.success == true and .errorMsg == ""' "$D/resp"
	[ "$(jq -r .content.original_error_stack "$D/resp")" = "$stack" ]
	[ "$(jq -r .content.error_stack "$D/resp")" = \
		"ARGS stack --platform miniapp --data-dir $DATA --app-id app1 --env prod --version 1.0
ENV none
IN $stack" ]
	# Key order as DataKit's clients see it.
	grep -qE '^\{"success":true,"errorMsg":"","content":\{"error_stack":.*,"original_error_stack":.*\}\}$' "$D/resp"
	# Empty env and version are passed as none; platform web by default;
	# error_type passed on.
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' \
		"$URL/v1/sourcemap/check?app_id=a&error_stack=s&error_type=java_crash")
	[ "$(jq -r .content.error_stack "$D/resp" | head -1)" = \
		"ARGS stack --platform web --data-dir $DATA --app-id a --env none --version none --error-type java_crash" ]
	# Not restored (exit 1): 200, success false, the reason.
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a&error_stack=fail")
	[ "$CODE" = 200 ]
	jq -e '.success == false and .content.error_stack == "" and .content.original_error_stack == "fail"' "$D/resp"
	[[ "$(jq -r .errorMsg "$D/resp")" == "no archive stack --platform web"* ]]
	# Bad usage (exit 2), too slow, not there: 500.
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a&error_stack=usage")
	expect_error 500 rum.symbolicateFailed "status 2: bad usage"
	start=$(date +%s)
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a&error_stack=sleep")
	expect_error 500 rum.symbolicateFailed "more than 1 s"
	[ $(($(date +%s) - start)) -lt 5 ]
	# A check waits in a thread of its own: with one worker thread, other
	# requests are served meanwhile.
	stop_pid "$LPID"
	start_listen --symbolicate "$D/fake-sym" --symbolicate-timeout 3 --threads 1
	curl -s -o "$D/slow" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a&error_stack=sleep" >"$D/slow.code" &
	slow=$!
	sleep 0.3
	t0=$(date +%s%N)
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/ping")" = 200 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -F app_id=a1 -F segment=@"$D/a.zip" "$URL/v1/write/rum/replay")" = 200 ]
	[ $((($(date +%s%N) - t0) / 1000000)) -lt 1500 ]
	wait "$slow"
	[ "$(cat "$D/slow.code")" = 500 ]
	jq -e '.error_code == "rum.symbolicateFailed"' "$D/slow"
	# Bad arguments are refused before anything runs.
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a")
	expect_error 400 rum.missingErrorStack
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?error_stack=x")
	expect_error 400 rum.missingAppId
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=..&error_stack=x")
	expect_error 400 rum.badName
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a&platform=x&error_stack=x")
	expect_error 400 rum.badPlatform
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a%00b&error_stack=x")
	expect_error 400 rum.badName "NUL"
	put 'app_id=a&version=1%00x&token=t'
	expect_error 400 rum.badName "NUL byte in version"
	stop_pid "$LPID"
	start_listen --symbolicate "$D/does-not-exist"
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' "$URL/v1/sourcemap/check?app_id=a&error_stack=x")
	expect_error 500 rum.symbolicateFailed "cannot run $D/does-not-exist"
	# No zombies left behind.
	[ -z "$(ps --ppid "$LPID" -o pid= 2>/dev/null)" ]
}

@test "check with rum-symbolicate: upload, restored, replaced, deleted" {
	[ -x "$BIN/rum-symbolicate" ] || skip "rum-symbolicate is not built yet"
	# The default: the rum-symbolicate next to rum-listen.
	start_listen --token s3cret
	stack=$'TypeError: boom\n\tat greet @ http://localhost:5500/dist/bundle.js:1:5'
	check() {
		CODE=$(curl -s -o "$D/resp" -w '%{http_code}' -G "$URL/v1/sourcemap/check" \
			--data-urlencode app_id=app1 --data-urlencode env=prod --data-urlencode version=1 \
			--data-urlencode platform=web --data-urlencode "error_stack=$stack")
		[ "$CODE" = 200 ]
	}
	check
	jq -e '.success == false and (.errorMsg | length > 0) and .content.error_stack == ""' "$D/resp"
	put 'app_id=app1&env=prod&version=1&platform=web&token=s3cret'
	expect_ok "uploaded to"
	check
	jq -e '.success == true' "$D/resp"
	jq -r .content.error_stack "$D/resp" | grep -qF 'src/index.js:2:2'
	[ "$(jq -r .content.original_error_stack "$D/resp")" = "$stack" ]
	# The same as rum-symbolicate stack says.
	printf '%s' "$stack" | "$BIN/rum-symbolicate" stack --platform web --data-dir "$DATA" \
		--app-id app1 --env prod --version 1 >"$D/cli"
	[ "$(jq -r .content.error_stack "$D/resp")" = "$(cat "$D/cli")" ]
	# Replaced by a map that sends column 4 elsewhere: the new answer.
	printf '%s' '{"version":3,"sources":["src/other.js"],"names":[],"mappings":"AAAA,IAKE"}' >"$D/z/dist/bundle.js.map"
	mkzip "$D/c.zip" "$D/z" dist/bundle.js.map
	put 'app_id=app1&env=prod&version=1&platform=web&token=s3cret' -F "file=@$D/c.zip"
	expect_ok "uploaded to"
	check
	jq -r .content.error_stack "$D/resp" | grep -qF 'src/other.js:6:2'
	req DELETE '/v1/sourcemap?app_id=app1&env=prod&version=1&platform=web&token=s3cret'
	expect_ok "deleted"
	check
	jq -e '.success == false' "$D/resp"
}

@test "check with rum-symbolicate: DataKit's map restores DataKit's stack" {
	[ -x "$BIN/rum-symbolicate" ] || skip "rum-symbolicate is not built yet"
	map=${FIXTURES:-/nonexistent}/datakit/mapfile.json
	[ -f "$map" ] || skip "no DataKit fixture in ../shared"
	mkdir -p "$D/dk/dist"
	cp "$map" "$D/dk/dist/bundle.js.map"
	mkzip "$D/dk.zip" "$D/dk" dist/bundle.js.map
	start_listen --token s3cret
	put 'app_id=appid_dk&env=production&version=1.0.0&platform=web&token=s3cret' -F "file=@$D/dk.zip"
	expect_ok "uploaded to"
	stack=$'TypeError: Cannot read properties of undefined
	at <anonymous> @ http://localhost:5500/dist/bundle.js:1:821'
	CODE=$(curl -s -o "$D/resp" -w '%{http_code}' -G "$URL/v1/sourcemap/check" \
		--data-urlencode app_id=appid_dk --data-urlencode env=production \
		--data-urlencode version=1.0.0 --data-urlencode "error_stack=$stack")
	[ "$CODE" = 200 ]
	jq -e '.success == true' "$D/resp"
	jq -r .content.error_stack "$D/resp" | grep -qE 'src/index\.js:17:4$'
}

@test "admin paths: the API is not public by default, the replay endpoint is (network namespaces)" {
	netns_pair sm 198.18.73.1/30 198.18.73.2
	serve() {
		listen_at -n "$SRV" 198.18.73.1 "$OUT" --data-dir "$DATA" --token s3cret "$@"
		base=$URL
	}
	remote() { ip netns exec "$CLI" curl -s -m 5 -o "$D/resp" -w '%{http_code}' "$@"; }
	serve
	q='app_id=app1&env=prod&version=1&token=s3cret'
	[ "$(remote -X PUT -F "file=@$D/a.zip" "$base/v1/sourcemap?$q")" = 403 ]
	jq -e '.error_code == "rum.forbidden"' "$D/resp"
	[ "$(remote -X DELETE "$base/v1/sourcemap?$q")" = 403 ]
	[ "$(remote "$base/v1/sourcemap/check?app_id=a&error_stack=x")" = 403 ]
	[ "$(remote -F app_id=a1 -F "segment=@$D/a.zip;filename=blob" "$base/v1/write/rum/replay")" = 200 ]
	[ "$(jq -r .tags.ip "$OUT")" = 198.18.73.2 ]
	no_files
	stop_pid "$LPID"
	# Listed, it is served to everyone (with its token).
	serve --public-apis /v1/sourcemap
	[ "$(remote -X PUT -F "file=@$D/a.zip" "$base/v1/sourcemap?$q")" = 200 ]
	cmp "$D/a.zip" "$DATA/rum/web/app1-prod-1.zip"
	stop_pid "$LPID"
	LPID=
}
