#!/usr/bin/env bats
# The real browser SDKs in real headless Chromium, through rum-listen:
# @datadog/browser-rum 7.16.2 (its CDN bundle, `proxy` pointed at the
# collector) and @grafana/faro-web-sdk 2.12.1 (its IIFE bundle posting to
# /collect/<app>), the page and the collector on different ports
# (cross-origin). An esbuild bundle whose source map zip is in the data
# directory throws the errors, and rum-symbolicate restores them. The SDKs
# and esbuild are installed from npm into a cache directory, pinned; the
# tests are skipped without chromium or npm.

load lib/common
load lib/listen

NPM_PKGS="@datadog/browser-rum@7.16.2 @grafana/faro-web-sdk@2.12.1 esbuild@0.24.2"

setup_file() {
	# bats 1.8 cannot skip from here: setup() skips (not_under_sanitizers)
	[ "${RUMPIPE_SANITIZE:-}" != 1 ] || return 0
	local cache=${XDG_CACHE_HOME:-$HOME/.cache}/rumpipe-npm/browser-sdk-1
	mkdir -p "$cache"
	(
		flock 9
		[ -f "$cache/ok" ] && exit 0
		command -v npm >/dev/null || exit 0
		cd "$cache" && echo '{"private":true}' >package.json &&
			timeout 300 npm install --no-audit --no-fund --loglevel=error $NPM_PKGS &&
			touch ok
	) 9>"$cache.lock" >"$BATS_FILE_TMPDIR/npm.log" 2>&1 || true
	[ -f "$cache/ok" ] || return 0
	local www=$BATS_FILE_TMPDIR/www src=$BATS_FILE_TMPDIR/src nm=$cache/node_modules
	mkdir -p "$www/api" "$src"
	cp "$nm/@datadog/browser-rum/bundle/datadog-rum.js" "$nm/@grafana/faro-web-sdk/dist/bundle/faro-web-sdk.iife.js" "$www/"
	echo '{"ok":true}' >"$www/api/data"
	echo '<!doctype html><title>two</title><p>two</p>' >"$www/page2.html"
	cat >"$src/app.js" <<'JS'
export function failDatadog(where) {
	window.DD_RUM.addError(new Error('boom in bundle'), { where });
}
export function failFaro() {
	throw new TypeError('faro boom in bundle');
}
globalThis.app = { failDatadog, failFaro };
JS
	(cd "$src" && "$nm/.bin/esbuild" app.js --bundle --minify --sourcemap --outfile="$www/app.min.js") \
		>>"$BATS_FILE_TMPDIR/npm.log" 2>&1 || rm -f "$www/app.min.js"
}

setup() {
	not_under_sanitizers "a browser driving the intake for half a minute"
	listen_vars
	WWW=$BATS_FILE_TMPDIR/www
	[ -f "$WWW/app.min.js" ] || skip "npm packages not installed (npm unreachable?): $(tail -3 "$BATS_FILE_TMPDIR/npm.log" 2>/dev/null)"
	command -v chromium >/dev/null || skip "no chromium (Debian package chromium)"
	HPID= CPID=
	# The page's server, on a port of its own.
	python3 -m http.server 0 --bind 127.0.0.1 --directory "$WWW" >"$D/http.log" 2>&1 &
	HPID=$!
	wait_for 10 grep -q 'Serving HTTP' "$D/http.log"
	PAGE=http://127.0.0.1:$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$D/http.log" | head -1)
	start_listen
}

teardown() {
	[ -n "${CPID:-}" ] && stop_pid "$CPID" KILL
	[ -n "${HPID:-}" ] && stop_pid "$HPID" KILL
	listen_teardown
}

# browse PAGE-FILE: headless Chromium on $PAGE/PAGE-FILE, left running (CPID).
browse() {
	chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
		--user-data-dir="$D/chrome" "$PAGE/$1" >"$D/chrome.log" 2>&1 &
	CPID=$!
}

has_rec() { # JQ-TEST: a record of $OUT passes it
	jq -e "select($1)" "$OUT" 2>/dev/null | grep -q .
}

# restore ZIPNAME: the records through rum-symbolicate, the bundle's map in
# DIR/rum/web/ZIPNAME.
restore() {
	mkdir -p "$D/data/rum/web"
	"$TOP/t/lib/mkzip" "$D/data/rum/web/$1.zip" "app.min.js.map=$WWW/app.min.js.map"
	"$BIN/rum-symbolicate" --data-dir "$D/data" <"$OUT" >"$D/restored"
}

datadog_page() { # COMPRESS-OPTION
	cat >"$WWW/dd.html" <<EOF2
<!doctype html><html><head><meta charset="utf-8"><title>dd</title>
<script src="/datadog-rum.js"></script>
<script>
DD_RUM.init({ applicationId: 'app-dd', clientToken: 'pubSECRET0123', site: 'datadoghq.com',
  service: 'shop-web', env: 'prod', version: '1.2.3', sessionSampleRate: 100,
  sessionReplaySampleRate: 0, trackResources: true, trackUserInteractions: true,
  trackLongTasks: true, $1 proxy: 'http://127.0.0.1:$PORT/dd' });
</script><script src="/app.min.js"></script></head><body><p>dd</p>
<script>
setTimeout(async () => {
  DD_RUM.addAction('checkout', { cart_items: 3, coupon: 'SAVE10' });
  app.failDatadog('bundle');
  await fetch('/api/data?x=1');
  setTimeout(() => { location.href = '/page2.html'; }, 300);
}, 800);
</script></body></html>
EOF2
}

# dd_check ZIPNAME: the records of one Datadog page, as SDK-MAPPING.md says.
dd_check() {
	wait_for 30 has_rec '.measurement == "error" and .fields.error_message == "boom in bundle"' ||
		{ cat "$OUT" "$ERR"; false; }
	wait_for 10 has_rec '.measurement == "view" and .fields.time_spent != null'
	has_rec '.measurement == "action" and .tags.action_type == "custom" and .fields.action_name == "checkout" and .fields.cart_items == 3 and .fields.coupon == "SAVE10"'
	has_rec '.measurement == "resource" and .fields.resource_type == "fetch" and .fields.resource_url_path == "/api/data" and .fields.resource_url_query == "{\"x\":\"1\"}" and .tags.resource_status == "200" and .tags.resource_method == "GET" and (.fields.duration | type) == "number"'
	has_rec '.measurement == "view" and .tags.view_loading_type == "initial_load" and .tags.view_path == "/dd.html"'
	jq -e '.tags.app_id == "app-dd" and .tags.env == "prod" and .tags.service == "shop-web" and
		.tags.version == "1.2.3" and .tags.sdk_version == "7.16.2" and .tags.sdk_name == "df_web_rum_sdk" and
		.fields.sdk_origin == "datadog" and .tags.browser == "Chrome" and .tags.os == "Linux" and
		(.tags.session_id | length) > 0' "$OUT" >/dev/null
	restore "$1"
	jq -e 'select(.measurement == "error" and .fields.error_message == "boom in bundle") |
		(.fields.error_stack | test("app.min.js:1:[0-9]+")) and
		(.fields.error_stack_source | test("app.js:2:")) and .fields.where == "bundle"' "$D/restored" |
		grep -q true || { grep 'boom in bundle' "$D/restored"; false; }
	! grep -q pubSECRET0123 "$ERR"
}

@test "Datadog: page load, addAction, addError from a bundle (restored), fetch; the exit beacon" {
	datadog_page ""
	browse dd.html
	dd_check app-dd-prod-1.2.3
	[ "$(served_metric 'rum_listen_sdk_mapping_errors_total{sdk="datadog"}')" = 0 ]
	raw=$(served_metric 'rum_listen_body_bytes_total{form="raw"}')
	[ "$raw" = "$(served_metric 'rum_listen_body_bytes_total{form="decoded"}')" ]
}

@test "Datadog with compressIntakeRequests: the same records" {
	datadog_page "compressIntakeRequests: true,"
	browse dd.html
	dd_check app-dd-prod-1.2.3
	# The timer batch came deflated (the exit beacon may not).
	raw=$(served_metric 'rum_listen_body_bytes_total{form="raw"}')
	dec=$(served_metric 'rum_listen_body_bytes_total{form="decoded"}')
	[ "$raw" -lt "$dec" ] || { echo "raw $raw decoded $dec"; false; }
}

@test "Faro: pushError from the bundle (restored), pushEvent, fetch; preflight answered" {
	cat >"$WWW/faro.html" <<EOF2
<!doctype html><html><head><meta charset="utf-8"><title>faro</title>
<script src="/faro-web-sdk.iife.js"></script>
<script>
window.faro = GrafanaFaroWebSdk.initializeFaro({ url: 'http://127.0.0.1:$PORT/collect/app-faro',
  app: { name: 'shop-faro', version: '1.0.0', environment: 'prod' },
  batching: { enabled: true, sendTimeout: 200 } });
</script><script src="/app.min.js"></script></head><body><p>faro</p>
<script>
setTimeout(async () => {
  faro.api.pushEvent('checkout_done', { total: '9.99' });
  try { app.failFaro(); } catch (e) { faro.api.pushError(e); }
  await fetch('/api/data?x=2');
}, 800);
</script></body></html>
EOF2
	browse faro.html
	wait_for 30 has_rec '.measurement == "error"' || { cat "$OUT" "$ERR"; false; }
	wait_for 10 has_rec '.measurement == "action" and .fields.action_name == "checkout_done"'
	has_rec '.measurement == "action" and .tags.action_type == "custom" and .fields.total == "9.99"'
	jq -e 'select(.measurement == "error") | .tags.error_type == "TypeError" and
		.fields.error_message == "faro boom in bundle" and
		(.fields.error_stack | startswith("TypeError: faro boom in bundle\n  at ")) and
		(.fields.error_stack | test("app.min.js:1:[0-9]+"))' "$OUT" | grep -q true
	jq -e '.tags.app_id == "app-faro" and .tags.service == "shop-faro" and .tags.version == "1.0.0" and
		.tags.env == "prod" and .fields.sdk_origin == "faro" and .tags.view_path == "/faro.html" and
		.tags.browser == "Chrome"' "$OUT" >/dev/null
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/collect",code="204"}')" -ge 1 ]
	restore app-faro-prod-1.0.0
	jq -e 'select(.measurement == "error") | .fields.error_stack_source | test("app.js:5:")' "$D/restored" |
		grep -q true || { grep '"error"' "$D/restored"; false; }
}
