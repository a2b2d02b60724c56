#!/usr/bin/env bats
# rum-collector: configuration, the running pipeline, restarts, drain.

load lib/common

setup() {
	# Port 0: rum-listen picks a free port and logs it, so tests running at
	# the same time never collide; listen_port reads the latest one.
	PORT=0
	DIR=$BATS_TEST_TMPDIR/c
	mkdir -p "$DIR"
	OUT=$DIR/records.ndjson
	cat >"$DIR/conf" <<CONF
data_dir = "$DIR/data"
restart_backoff_max = 2
drain_timeout = 20
[listen]
listen = "127.0.0.1:$PORT"
[ship]
sink = "file:$OUT"
flush_interval = 100
CONF
}

teardown() {
	[ -n "${CPID:-}" ] && stop_pid "$CPID" KILL
	pkill -KILL -f "$DIR/" 2>/dev/null || true
}

listen_port() {
	sed -n 's/^rum-listen: info: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$DIR/stderr" | tail -1
}

# Wait until the number of "listening on" lines reaches $1 and that port accepts.
wait_listening() {
	wait_for 15 count_at_least "$1" grep -c 'rum-listen: info: listening on' "$DIR/stderr"
	wait_port "$(listen_port)" 10
}

start_collector() {
	"$BIN/rum-collector" -c "$DIR/conf" 2>"$DIR/stderr" &
	CPID=$!
	wait_listening 1
}

post_view() { # n: one point with field n=N
	curl -sf -o /dev/null -X POST "http://127.0.0.1:$(listen_port)/v1/write/rum" \
		--data-binary "view,app_id=a1,sdk_name=df_web_rum_sdk n=${1}i,view_url=\"http://x/\" 1700000000000000000"
}

stage_pid() { pgrep -f "^$BIN/rum-$1 .*$DIR/" | head -1; }

@test "collector: --help and --version" {
	run "$BIN/rum-collector" --help
	[ "$status" -eq 0 ]
	[[ $output == *"Usage: rum-collector"* ]]
	run "$BIN/rum-collector" --version
	[ "$status" -eq 0 ]
	[[ $output == *"rumpipe"* ]]
}

@test "collector: unknown option exits 2 naming it" {
	run "$BIN/rum-collector" --bogus
	[ "$status" -eq 2 ]
	[[ $output == *"unknown option --bogus"* ]]
}

@test "collector: config keys become stage options; DataKit's keys are understood" {
	cat >"$DIR/dk.conf" <<'CONF'
[[inputs.rum]]
  endpoints = ["/v1/write/rum", "/rum/v2"]
  measurements = ["view", "error"]
  [inputs.rum.threads]
    buffer = 100
    threads = 8
  [inputs.rum.storage]
    path = "/tmp/rum_storage"
    capacity = 5120
[http_api]
  listen = "0.0.0.0:9530"
  disable_404page = true
  public_apis = ["/v1/write/rum"]
[dataway]
  urls = ["https://openway.example.com?token=tkn_abc"]
CONF
	run "$BIN/rum-collector" -c "$DIR/dk.conf" --dry-run
	[ "$status" -eq 0 ]
	listen=$(grep rum-listen <<<"$output")
	ship=$(grep rum-ship <<<"$output")
	[[ $listen == *"--endpoint /v1/write/rum --endpoint /rum/v2"* ]]
	[[ $listen == *"--measurements view --measurements error"* ]]
	[[ $listen == *"--queue 100"* ]]
	[[ $listen == *"--threads 8"* ]]
	[[ $listen == *"--spool-dir /tmp/rum_storage --spool-capacity-mb 5120"* ]]
	[[ $listen == *"--listen 0.0.0.0:9530"* ]]
	[[ $listen == *"--disable-404page"* ]]
	# DataKit's public_apis never restricts its RUM routes: not passed on
	[[ $listen != *"--public-apis"* ]]
	[[ $ship == *"--sink https://openway.example.com\?token=tkn_abc"* ]]
	# the Dataway token is the sourcemap API's
	[[ $listen == *"--token tkn_abc"* ]]
}

@test "collector: DataKit's CDN map, session replay and origin-IP keys reach their stages" {
	cat >"$DIR/dk2.conf" <<'CONF'
data_dir = "/srv/rum"
[[inputs.rum]]
  session_replay_endpoints = ["/v1/write/rum/replay"]
  proguard_home = "/usr/local/datakit/data/rum/tools/proguard"
  cdn_map = '''
  [
    {"domain":"15cdn.com","name":"Some CDN","website":"https://www.15cdn.com"}
  ]
  '''
  [inputs.rum.session_replay]
    cache_path = "/tmp/sr-cache"
    cache_capacity_mb = 2048
    clear_cache_on_start = true
    upload_workers = 4
    send_timeout = "1m15s"
    send_retry_count = 5
    filter_rules = [
        "{ service = 'xxx' or version IN [ 'v1', 'v2'] }",
        "{ app_id = 'yyy' and env = 'production' }"
    ]
[http_api]
  rum_origin_ip_header = "X-Real-IP"
  request_rate_limit = 1000.0
  rum_app_id_white_list = ["app1", "app2"]
CONF
	run "$BIN/rum-collector" -c "$DIR/dk2.conf" --dry-run
	[ "$status" -eq 0 ]
	listen=$(grep rum-listen <<<"$output")
	ship=$(grep rum-ship <<<"$output")
	filter=$(grep rum-replay-filter <<<"$output")
	cdn=$(grep rum-cdn <<<"$output")
	sym=$(grep rum-symbolicate <<<"$output")
	[[ $listen == *"--replay-endpoint /v1/write/rum/replay"* ]]
	[[ $listen == *"--origin-ip-header X-Real-IP"* ]]
	# DataKit's request_rate_limit never reaches its RUM routes
	[[ $listen != *"--rate-limit"* ]]
	[[ $output == *"request_rate_limit = 1000.0: ignored for RUM"* ]]
	[[ $listen == *"--app-id-allow app1 --app-id-allow app2"* ]]
	# the sourcemap API writes where rum-symbolicate reads
	[[ $listen == *"--data-dir /srv/rum"* ]]
	[[ $sym == *"--data-dir /srv/rum"* ]]
	[[ $ship == *"--replay-cache-dir /tmp/sr-cache --replay-cache-mb 2048 --replay-clear-cache --replay-workers 4 --replay-timeout 75 --replay-retries 5"* ]]
	[[ $filter == *"--rule \{\ service\ =\ \'xxx\'\ or\ version\ IN\ \[\ \'v1\'\,\ \'v2\'\]\ \} --rule \{\ app_id\ =\ \'yyy\'\ and\ env\ =\ \'production\'\ \}"* ]]
	[[ $cdn == *"--cdn-map"*15cdn.com*"Some\ CDN"* ]]
	# every stage accepts what it was given
	run "$BIN/rum-collector" -c "$DIR/dk2.conf" --check-config
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "collector: bad configuration is exit 2 with the reason" {
	printf 'bogus_key = 1\n' >"$DIR/bad1"
	run "$BIN/rum-collector" -c "$DIR/bad1"
	[ "$status" -eq 2 ]
	[[ $output == *"unknown key 'bogus_key'"* ]]

	printf '[listen]\nlisten = "unterminated\n' >"$DIR/bad2"
	run "$BIN/rum-collector" -c "$DIR/bad2"
	[ "$status" -eq 2 ]
	[[ $output == *"bad2:2: unterminated string"* ]]

	# A value the stage itself refuses stops the start, naming the option.
	printf '[listen]\nlisten = "127.0.0.1:99999"\n' >"$DIR/bad3"
	run "$BIN/rum-collector" -c "$DIR/bad3"
	[ "$status" -eq 2 ]
	[[ $output == *"--listen"* ]]

	run "$BIN/rum-collector" -c "$DIR/missing.conf"
	[ "$status" -eq 2 ]
}

@test "collector: points posted to rum-listen land in the sink file" {
	start_collector
	post_view 1
	post_view 2
	wait_for 10 count_at_least 2 lines "$OUT"
	run jq -r '.fields.n' "$OUT"
	[ "$output" = "$(printf '1\n2')" ]
	run jq -r '.tags.ip' "$OUT"
	[[ ${lines[0]} == 127.0.0.1 ]]
}

@test "collector: every stage runs under SCHED_BATCH; top-level sched = \"other\" reaches them all" {
	start_collector
	for s in listen ship; do
		[ "$(sched_policy "$(stage_pid $s)")" = SCHED_BATCH ]
	done
	stop_pid "$CPID" TERM
	CPID=
	sed -i '1i sched = "other"' "$DIR/conf"
	run "$BIN/rum-collector" -c "$DIR/conf" --dry-run
	[ "$status" -eq 0 ]
	[ "$(grep -c -- '--sched other' <<<"$output")" -ge 2 ]
	start_collector
	for s in listen ship; do
		[ "$(sched_policy "$(stage_pid $s)")" = SCHED_OTHER ]
	done
}

@test "collector: a sourcemap uploaded through the API restores the next web error" {
	cat >>"$DIR/conf" <<CONF
[listen]
token = "tkn-test"
CONF
	mkdir -p "$DIR/zip/static"
	printf '{"version":3,"sources":["src/app.js"],"names":["hello"],"mappings":"AAAA,IAAIA"}' >"$DIR/zip/static/app.min.js.map"
	(cd "$DIR/zip" && zip -qr ../a.zip static)
	start_collector
	local base=http://127.0.0.1:$(listen_port)
	run curl -s -X PUT -F "file=@$DIR/a.zip" "$base/v1/sourcemap?app_id=a1&env=prod&version=1.0&platform=web&token=tkn-test"
	[[ $output == *'"success":true'* ]] || { echo "$output"; false; }
	[ -f "$DIR/data/rum/web/a1-prod-1.0.zip" ]
	curl -sf -o /dev/null -X POST "$base/v1/write/rum" --data-binary \
		'error,app_id=a1,env=prod,version=1.0,sdk_name=df_web_rum_sdk error_stack="TypeError: x
    at f @ http://h/static/app.min.js:1:6" 1700000000000000000'
	wait_for 15 grep -q error_stack_source "$OUT"
	run jq -r .fields.error_stack_source "$OUT"
	[ "$output" = "TypeError: x
    at f @ src/app.js:1:4" ]
}

@test "collector: a killed stage is restarted and points keep flowing" {
	start_collector
	post_view 1
	wait_for 10 count_at_least 1 lines "$OUT"
	# Every stage of the chain, the last first (rum-listen last: it gets a
	# new port); rum-consume runs only on a processing node, rum-jq only
	# with a [jq] section; rum-replay is a client, not a stage.
	for stage in $(cd "$BIN" && ls rum-* | sed 's/^rum-//' | grep -vx collector | grep -vx listen | grep -vx consume | grep -vx jq | grep -vx replay) listen; do
		pid=$(stage_pid $stage)
		[ -n "$pid" ]
		kill -KILL "$pid"
		wait_for 15 bash -c "p=\$(pgrep -f '^$BIN/rum-$stage .*$DIR/' | head -1); [ -n \"\$p\" ] && [ \"\$p\" != $pid ]"
	done
	wait_listening 2
	post_view 2
	post_view 3
	wait_for 10 count_at_least 3 lines "$OUT"
	run jq -r '.fields.n' "$OUT"
	[[ $output == *2*3* ]]
	for stage in $(cd "$BIN" && ls rum-* | sed 's/^rum-//' | grep -vx collector | grep -vx consume | grep -vx jq | grep -vx replay); do
		grep -q "rum-$stage exited" "$DIR/stderr"
	done
}

@test "collector: SIGTERM delivers every point accepted before it, then exits 0" {
	start_collector
	n=200
	for i in $(seq 1 $n); do post_view "$i" || { echo "post $i failed"; false; }; done
	kill -TERM "$CPID"
	wait "$CPID"
	status=$?
	CPID=
	[ "$status" -eq 0 ]
	[ "$(lines "$OUT")" -eq $n ]
	[ "$(jq -r .fields.n "$OUT" | sort -n | uniq | wc -l)" -eq $n ]
	# Nothing left running.
	! pgrep -f "$DIR/" >/dev/null
}

@test "collector: SIGHUP is forwarded (the file sink is reopened)" {
	start_collector
	post_view 1
	wait_for 10 count_at_least 1 lines "$OUT"
	mv "$OUT" "$OUT.1"
	kill -HUP "$CPID"
	sleep 0.5
	post_view 2
	wait_for 10 test -s "$OUT"
	[ "$(jq -r .fields.n "$OUT")" = 2 ]
	[ "$(jq -r .fields.n "$OUT.1")" = 1 ]
}

@test "collector: a second collector on the same run directory is refused" {
	start_collector
	run "$BIN/rum-collector" -c "$DIR/conf"
	[ "$status" -eq 1 ]
	[[ $output == *"another rum-collector"* ]]
}

@test "collector: with sink '-' records go to the collector's own stdout, which is not reopened" {
	sed -i 's|^sink = .*|sink = "-"|' "$DIR/conf"
	echo "line before" >"$DIR/stdout"
	"$BIN/rum-collector" -c "$DIR/conf" >>"$DIR/stdout" 2>"$DIR/stderr" &
	CPID=$!
	wait_listening 1
	post_view 7
	wait_for 10 count_at_least 2 lines "$DIR/stdout"
	[ "$(head -1 "$DIR/stdout")" = "line before" ]
	[ "$(tail -1 "$DIR/stdout" | jq -r .fields.n)" = 7 ]
}

@test "collector: the sample configuration is valid for every stage" {
	run "$BIN/rum-collector" -c "$TOP/share/rum-collector.conf" --dry-run
	[ "$status" -eq 0 ]
	[ "$(grep -c . <<<"$output")" -ge 2 ]
	while read -r line; do
		eval "cmd=($line)"
		"${cmd[@]}" --check-config
	done <<<"$output"
}

@test "collector: DataKit's sample rum.conf: atos_bin_path is used if present (--atos-if-present), the other tool paths ignored; every stage accepts it" {
	local rc=${FIXTURES:+$FIXTURES/datakit/rum.conf}
	[ -f "$rc" ] || skip "no ../shared/fixtures/datakit/rum.conf"
	run "$BIN/rum-collector" -c "$rc" --dry-run
	[ "$status" -eq 0 ]
	sym=$(grep rum-symbolicate <<<"$output")
	[[ $sym == *"--atos-if-present /usr/local/datakit/data/rum/tools/atosl"* ]]
	[[ $sym != *"--atos "* ]]
	[[ $output != *"/usr/local/datakit/data/rum/tools/proguard"* ]]
	[[ $output != *"/usr/local/datakit/data/rum/tools/android-ndk"* ]]
	[[ $output != *"/usr/local/datakit/data/rum/tools/cmdline-tools"* ]]
	# a tool that is not here is no bad configuration
	run "$BIN/rum-collector" -c "$rc" --check-config
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# [symbolicate] atos names one by choice: one that cannot be run is
	printf '[symbolicate]\natos = "%s"\n' "$DIR/no-such-atos" >"$DIR/atos.conf"
	run "$BIN/rum-collector" -c "$DIR/atos.conf" --check-config
	[ "$status" -eq 2 ]
	[[ $output == *"invalid value '$DIR/no-such-atos' for --atos: No such file or directory"* ]]
}
