#!/usr/bin/env bats
# rum-collector on DataKit's configuration (issue 19): its default
# datakit.conf and sample rum.conf, the ENV_* variables of its Kubernetes
# manifest, and what each key becomes.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	DIR=$BATS_TEST_TMPDIR/dk
	mkdir -p "$DIR"
	RUMCONF=${FIXTURES:+$FIXTURES/datakit/rum.conf}
	default_datakit_conf >"$DIR/datakit.conf"
	# The tests' own environment must not look like DataKit's.
	for v in $(compgen -e | grep '^ENV_'); do unset "$v"; done
}

teardown() {
	[ -n "${CPID:-}" ] && stop_pid "$CPID" TERM
	[ -n "${LPID:-}" ] && stop_pid "$LPID" KILL
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	pkill -KILL -f "$DIR/" 2>/dev/null || true
}

# DataKit's default datakit.conf (internal/datakit/dkconf.go, GuanceCloud/
# datakit 2025-10), its comments left out but for those inside arrays.
default_datakit_conf() {
	cat <<'CONF'
default_enabled_inputs = [
  "cpu",
  "disk",
  "diskio",
  "host_processes",
  "hostobject",
  "mem",
  "net",
  "swap",
  "system",
]
enable_pprof = true
pprof_listen = "localhost:6060" # pprof listen
protect_mode = true
datakit_user = "root"
ulimit = 64000
[point_pool]
  enable = false
  reserved_capacity = 4096
[dca]
  enable = false
  websocket_server = "ws://localhost:8000/ws"
[dk_upgrader]
  host = "0.0.0.0"
  port = 9542 
[pipeline]
  ipdb_type = "iploc"
  remote_pull_interval = "1m"
  refer_table_url = ""
  refer_table_pull_interval = "5m"
  use_sqlite = false
  sqlite_mem_mode = false
  disable_append_run_info = false
  [pipeline.default_pipeline]
  [pipeline.offload]
    receiver = "datakit-http"
    addresses = [
      # "http://<ip>:<port>"
    ]
[http_api]
  listen = "localhost:9529"
  disable_404page = false
  public_apis = []
  timeout = "30s"
  close_idle_connection = false
  request_rate_limit       = 100.0
  request_rate_limit_ttl   = "60s"
  request_rate_limit_burst = 500
  rum_origin_ip_header = "X-Forwarded-For"
  rum_app_id_white_list = []
  allowed_cors_origins = []
  [http_api.tls]
[io]
  max_cache_count = 1000
  flush_workers   = 0 # default to (cpu_core * 2)
  flush_interval  = "10s"
  feed_chan_size = 1
  global_blocking = false
  auto_timestamp_correction = true
[recorder]
  enabled = false
  encoding = "v2"  # use protobuf-json format
  duration = "30m" # record for 30 minutes
  inputs = [
    #"cpu",
    #"mem",
  ]
  category = [
    #"logging",
    #"object",
  ]
[dataway]
  urls = [
    # "https://openway.guance.com?token=<YOUR-WORKSPACE-TOKEN>"
  ]
  timeout_v2 = "30s"
  max_retry_count = 1
  retry_delay = "1s"
  http_proxy = ""
  max_idle_conns   = 0       # limit idle TCP connections for HTTP request to Dataway
  enable_httptrace = false   # enable trace HTTP metrics(connection/NDS/TLS and so on)
  idle_timeout     = "90s"   # not-set, default 90s
  content_encoding = "v2"
  gzip = true
  max_raw_body_size = 1048576 # max body size(before gizp) in bytes
  global_customer_keys = []
  enable_sinker        = false # disable sinker
  [dataway.ntp]
    enable   = true
    interval = "5m"  # sync dataway time each 5min(minimal 1min)
    diff     = "30s"  # minimal 5s
  [dataway.wal]
    max_capacity_gb = 2.0 # 2GB reserved disk space for each category(M/L/O/T/...)
[logging]
  log = "/var/log/datakit/log"
  gin_log = "/var/log/datakit/gin.log"
  level = "info"
  disable_color = false
  rotate = 32
  rotate_backups = 5
[global_host_tags]
  ip   = "$datakit_ip"
  host = "$datakit_hostname"
[election]
  enable = false
  node_whitelist = []
  namespace = "default"
  enable_namespace_tag = false
  [election.tags]
[environments]
  ENV_HOSTNAME = ""
[resource_limit]
  enable = true
  path = "/datakit"
  cpu_cores = 2.0
  mem_max_mb = 4096
[git_repos]
  pull_interval = "1m"
  [[git_repos.repo]]
    enable = false
    branch = "master"
    url = ""
    ssh_private_key_path = ""
    ssh_private_key_password = ""
[crypto]
  aes_key = ""
  aes_Key_file = ""
[remote_job]
  enable=false
  envs = ["OSS_BUCKET_HOST=host","OSS_ACCESS_KEY_ID=key","OSS_ACCESS_KEY_SECRET=secret","OSS_BUCKET_NAME=bucket"]
  interval = "30s"
  java_home=""
CONF
}

# with_dataway URL FILE: the configuration's [dataway] urls set to URL.
with_dataway() {
	sed -i "s|^    # \"https://openway.guance.com?token=<YOUR-WORKSPACE-TOKEN>\"|    \"$1\"|" "$2"
	grep -qF "\"$1\"" "$2"
}

# stage_line STAGE: its command line in $output, without an env prefix.
stage_line() { grep -E "^(env [^ ]* [^ ]* )?[^ ]*rum-$1 " <<<"$output" | sed 's/^env [^ ]* [^ ]* //'; }

# The host's address that is not loopback (rum-listen never limits loopback).
host_addr() { ip -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([^ ]*\).*/\1/p'; }

@test "datakit: the default datakit.conf and rum.conf: no rate limit, the host tag, time correction, Dataway for env_variable, filters and the sourcemap token" {
	[ -f "$RUMCONF" ] || skip "no ../shared/fixtures/datakit/rum.conf"
	with_dataway "https://openway.guance.com?token=tkn_0123456789abcdef" "$DIR/datakit.conf"
	run --separate-stderr "$BIN/rum-collector" -c "$DIR/datakit.conf" -c "$RUMCONF" --dry-run
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	listen=$(stage_line listen)
	ship=$(stage_line ship)
	filter=$(stage_line replay-filter)
	# request_rate_limit = 100.0 does not reach DataKit's RUM routes
	[[ $listen != *--rate-limit* && $listen != *--rate-burst* ]]
	[ "$(grep -c 'request_rate_limit = 100.0, request_rate_limit_ttl = 60s, request_rate_limit_burst = 500: ignored for RUM' <<<"$stderr")" = 1 ]
	[[ $listen != *--public-apis* ]]
	# [global_host_tags]: host is the hostname, ip the host's address
	[[ $listen == *"--global-tags host=$(uname -n)"* ]]
	[[ $listen == *"--time-correction 7200"* ]]
	[[ $listen == *"--dataway https://openway.guance.com\?token=tkn_0123456789abcdef"* ]]
	[[ $listen == *"--token tkn_0123456789abcdef"* ]]
	[[ $listen == *"--listen localhost:9529"* ]]
	[[ $listen == *"--origin-ip-header X-Forwarded-For"* ]]
	[[ $listen == *"--body-timeout 30 "* ]]
	[[ $filter == *"--pull https://openway.guance.com\?token=tkn_0123456789abcdef"* ]]
	[[ $ship == *"--sink https://openway.guance.com\?token=tkn_0123456789abcdef"* ]]
	[[ $ship == *"--batch-size 1000 --flush-interval 10000 "* ]]
	[[ $ship == *"--timeout 30 --backoff-min 1000 --batch-bytes 1048576 "* ]]
	[[ $ship == *"--spool-capacity-mb 2048"* ]]
	# every other key reported once, with why; no section left unknown
	[[ $stderr != *"no installed stage uses it"* ]]
	# DataKit's default IP database: rum-enrich's --iploc where it is installed
	[[ $stderr == *"DataKit's IP database /usr/local/datakit/data/ipdb/iploc/iploc.bin is not there"* ]]
	[[ $(stage_line enrich) == *"--region-map datakit"* ]]
	for k in enable_pprof '\[dataway\] max_retry_count' '\[election\] enable' \
		'\[io\] feed_chan_size' '\[dataway.ntp\] diff' '\[logging\] gin_log' '\[resource_limit\] cpu_cores' \
		'\[git_repos.repo\] url' '\[dataway\] enable_sinker'; do
		[ "$(grep -c "$k\\b.*: not \(applicable to\|supported by\) rumpipe: " <<<"$stderr")" = 1 ] || { echo "$k: $stderr"; false; }
	done
	[ "$(grep -o '\[election\] enable\b' <<<"$stderr" | wc -l)" = 1 ]
}

@test "datakit: the ENV_* set of DataKit's Kubernetes manifest gives the pipeline of the equivalent datakit.conf" {
	local rc=()
	[ -f "$RUMCONF" ] && rc=(-c "$RUMCONF")
	cat >"$DIR/k8s.conf" <<'CONF'
[http_api]
  listen = "0.0.0.0:9529"
[dataway]
  urls = ["https://openway.guance.com?token=tkn_0123456789abcdef"]
[global_host_tags]
  host = "__datakit_hostname"
  host_ip = "__datakit_ip"
  cluster_name_k8s = "default"
[environments]
  ENV_HOSTNAME = "node-1"
[election]
  enable = true
CONF
	# datakit.yaml (templates/datakit.template.yaml), rum added to the inputs
	ENV_K8S_NODE_IP=10.0.0.5 ENV_K8S_NODE_NAME=node-1 \
		ENV_DATAWAY='https://openway.guance.com?token=tkn_0123456789abcdef' \
		ENV_CLUSTER_NAME_K8S=default ENV_GLOBAL_HOST_TAGS=host=__datakit_hostname,host_ip=__datakit_ip \
		ENV_GLOBAL_ELECTION_TAGS= \
		ENV_DEFAULT_ENABLED_INPUTS=statsd,dk,cpu,disk,diskio,mem,swap,system,hostobject,net,host_processes,container,kubernetesprometheus,rum \
		ENV_ENABLE_ELECTION=enable ENV_HTTP_LISTEN=0.0.0.0:9529 \
		run --separate-stderr "$BIN/rum-collector" "${rc[@]}" --dry-run
	[ "$status" -eq 0 ]
	from_env=$output
	[[ $stderr == *"no datakit.conf: read DataKit's ENV_* variables in its place"* ]]
	[[ $stderr == *"ENV_K8S_NODE_IP: not applicable to rumpipe"* ]]
	[[ $stderr == *"[election] enable: not applicable to rumpipe"* ]]
	run --separate-stderr "$BIN/rum-collector" -c "$DIR/k8s.conf" "${rc[@]}" --dry-run
	[ "$status" -eq 0 ]
	[ "$from_env" = "$output" ] || { diff <(echo "$from_env") <(echo "$output"); false; }
	listen=$(stage_line listen)
	[[ $listen == *"--listen 0.0.0.0:9529"* ]]
	[[ $listen == *"--global-tags cluster_name_k8s=default\\,host=node-1\\,host_ip=$(host_addr) "* ]]
	[[ $listen == *"--time-correction 7200"* ]]
	[[ $listen == *"--token tkn_0123456789abcdef"* ]]
}

@test "datakit: ENV_* variables are read as DataKit reads them" {
	touch "$DIR/cert.pem" "$DIR/key.pem"
	ENV_HTTP_LISTEN=0.0.0.0:9531 ENV_RUM_ORIGIN_IP_HEADER=X-Real-IP ENV_RUM_APP_ID_WHITE_LIST=app1,app2 \
		ENV_HTTP_PUBLIC_APIS=/v1/write/metric ENV_REQUEST_RATE_LIMIT=10 \
		ENV_HTTP_ENABLE_TLS=yes ENV_HTTP_TLS_CRT=$DIR/cert.pem ENV_HTTP_TLS_KEY=$DIR/key.pem \
		ENV_HTTP_TIMEOUT=45s ENV_HTTP_CLOSE_IDLE_CONNECTION=on \
		ENV_HTTP_ALLOWED_CORS_ORIGINS=https://x ENV_ALLOWED_CORS_ORIGINS=https://a,https://b ENV_DISABLE_404PAGE=1 \
		ENV_DATAWAY='https://dw1.example.com?token=tkn_one,https://dw2.example.com?token=tkn_two' \
		ENV_DATAWAY_TIMEOUT=1m ENV_DATAWAY_RETRY_DELAY=500ms ENV_DATAWAY_HTTP_PROXY=http://proxy:3128 \
		ENV_DATAWAY_MAX_RETRY_COUNT=3 ENV_IO_AUTO_TIMESTAMP_CORRECTION=false ENV_IPDB=iploc \
		ENV_HOSTNAME=h1 ENV_GLOBAL_TAGS='project=p1,bad' ENV_LOG_LEVEL=debug \
		ENV_DEFAULT_ENABLED_INPUTS='cpu mem' \
		ENV_DATAKIT_INPUTS=$'[[inputs.rum]]\n  endpoints = ["/v1/write/rum", "/rum/v2"]' \
		run --separate-stderr "$BIN/rum-collector" --dry-run
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	listen=$(stage_line listen)
	ship=$(grep rum-ship <<<"$output")
	[[ $listen == *"--endpoint /v1/write/rum --endpoint /rum/v2"* ]]
	[[ $listen == *"--listen 0.0.0.0:9531"* ]]
	[[ $listen == *"--origin-ip-header X-Real-IP"* ]]
	[[ $listen == *"--app-id-allow app1 --app-id-allow app2"* ]]
	[[ $listen == *"--cors-origins https://a --cors-origins https://b"* && $listen != *https://x* ]]
	[[ $listen == *"--disable-404page"* ]]
	[[ $listen == *"--body-timeout 45 --keepalive-timeout 45"* ]]
	[[ $listen == *"--tls-cert $DIR/cert.pem --tls-key $DIR/key.pem"* ]]
	[[ $listen != *--rate-limit* && $listen != *--public-apis* ]]
	[[ $listen == *"--global-tags host=h1\\,project=p1 "* ]]
	[[ $listen == *"--time-correction off"* ]]
	[[ $listen == *"--log-level debug"* ]]
	[[ $listen == *"--token tkn_one"* ]]
	[[ $ship == "env http_proxy=http://proxy:3128 https_proxy=http://proxy:3128 "*"rum-ship "* ]]
	[[ $ship == *"--timeout 60 --backoff-min 500"* ]]
	[[ $ship == *"--sink https://dw1.example.com\\?token=tkn_one --sink https://dw2.example.com\\?token=tkn_two "* ]]
	[[ $stderr != *"first only"* ]]
	[[ $stderr != *tkn_two* ]]
	[[ $stderr == *"request_rate_limit = 10: ignored for RUM"* ]]
	[[ $stderr == *"[dataway] max_retry_count: not applicable to rumpipe"* ]]
	[[ $(grep rum-enrich <<<"$output") == *"--region-map datakit"* ]]
	[[ $stderr == *"DataKit's IP database /usr/local/datakit/data/ipdb/iploc/iploc.bin is not there"* ]]
	[[ $stderr == *"ENV_GLOBAL_TAGS: 'bad' is not KEY=VALUE; skipped"* ]]
	# ENV_DATAKIT_INPUTS enables rum even though the default inputs lack it
	[[ $stderr != *"rum is not among them"* ]]
}

@test "datakit: a datakit.conf given, ENV_* are ignored, as DataKit does outside a container" {
	ENV_HTTP_LISTEN=0.0.0.0:1234 ENV_DATAWAY='https://dw.example.com?token=tkn_env' \
		run --separate-stderr "$BIN/rum-collector" -c "$DIR/datakit.conf" --dry-run
	[ "$status" -eq 0 ]
	[[ $output != *1234* && $output != *tkn_env* ]]
	[[ $stderr == *"ENV_DATAWAY ENV_HTTP_LISTEN: ignored: a datakit.conf is given"* ]]
	[[ $stderr == *"default_enabled_inputs: rum is not among them and no [[inputs.rum]] is given"* ]]
	# no Dataway: records to the file, nothing pulled, no sourcemap token
	[[ $output == *"--sink file:"* && $output != *--pull* && $output != *--token* ]]
}

@test "datakit: TLS files that are not there: plain HTTP, as DataKit; rumpipe's own section wins over DataKit's key" {
	cat >>"$DIR/datakit.conf" <<CONF
[listen]
listen = "127.0.0.1:7777"
token = "own-token"
[ship]
sink = "http://127.0.0.1:9/?token=tkn_own"
CONF
	sed -i "s|^  \[http_api.tls\]|  [http_api.tls]\n    cert = \"$DIR/none.pem\"\n    privkey = \"$DIR/none.key\"|" "$DIR/datakit.conf"
	with_dataway "https://openway.guance.com?token=tkn_dk" "$DIR/datakit.conf"
	run --separate-stderr "$BIN/rum-collector" -c "$DIR/datakit.conf" --dry-run
	[ "$status" -eq 0 ]
	listen=$(stage_line listen)
	[[ $listen != *--tls-cert* ]]
	[[ $stderr == *"[http_api.tls] cert '$DIR/none.pem', privkey '$DIR/none.key': not both files; plain HTTP, as DataKit does"* ]]
	[[ $listen == *"--listen 127.0.0.1:7777"* && $listen != *localhost:9529* ]]
	[[ $listen == *"--token own-token"* && $listen != *tkn_dk* ]]
	# the Dataway is the sink's, whichever section named it
	[[ $listen == *"--dataway http://127.0.0.1:9/\\?token=tkn_own"* ]]
	[[ $(stage_line replay-filter) == *"--pull http://127.0.0.1:9/\\?token=tkn_own"* ]]
	[[ $output != *tkn_dk* ]]
}

@test "datakit: DataKit's keys pass every stage's --check-config" {
	with_dataway "https://openway.guance.com?token=tkn_0123456789abcdef" "$DIR/datakit.conf"
	local rc=()
	[ -f "$RUMCONF" ] && rc=(-c "$RUMCONF")
	run "$BIN/rum-collector" -c "$DIR/datakit.conf" "${rc[@]}" --check-config
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "datakit: 500 requests/s from one address get no 429 on the default datakit.conf (and do on rate_limit = 100)" {
	[ -f "$RUMCONF" ] || skip "no ../shared/fixtures/datakit/rum.conf"
	local addr
	addr=$(host_addr)
	[ -n "$addr" ] || skip "no address but loopback"
	start_fake_dataway
	with_dataway "$(dw)" "$DIR/datakit.conf"
	cat >"$DIR/own.conf" <<CONF
data_dir = "$DIR/data"
[listen]
listen = "0.0.0.0:0"
[ship]
sink = "file:$DIR/records.ndjson"
flush_interval = 100
CONF
	"$BIN/rum-collector" -c "$DIR/datakit.conf" -c "$RUMCONF" -c "$DIR/own.conf" 2>"$DIR/stderr" &
	CPID=$!
	wait_for 20 grep -q "rum-listen: info: listening on" "$DIR/stderr" || { cat "$DIR/stderr"; false; }
	port=$(sed -n 's/^rum-listen: info: listening on 0\.0\.0\.0:\([0-9]*\)$/\1/p' "$DIR/stderr" | tail -1)
	wait_port "$port" 10
	burst() { # port → the status codes of 1000 requests at 500/s, counted
		local i
		for i in $(seq 1000); do printf 'url = "http://%s:%s/v1/write/rum"\noutput = "/dev/null"\n' "$addr" "$1"; done >"$DIR/urls"
		curl -s --rate 500/s -K "$DIR/urls" -w '%{http_code}\n' --data-binary \
			"view,app_id=a1,sdk_name=df_web_rum_sdk n=1i,view_url=\"http://x/\" $(date +%s)000000000" | sort | uniq -c
	}
	run burst "$port"
	[ "$output" = "   1000 200" ] || { echo "$output"; false; }
	# the points carry DataKit's host tag
	wait_for 20 count_at_least 1000 lines "$DIR/records.ndjson"
	[ "$(jq -r .tags.host "$DIR/records.ndjson" | sort -u)" = "$(uname -n)" ]
	# The same address is limited when a limit is asked for: the test can fail.
	"$BIN/rum-listen" --listen 0.0.0.0:0 --rate-limit 100 >/dev/null 2>"$DIR/l.err" &
	LPID=$!
	wait_for 10 grep -q 'listening on' "$DIR/l.err"
	run burst "$(sed -n 's/.*listening on 0\.0\.0\.0:\([0-9]*\)$/\1/p' "$DIR/l.err")"
	[[ $output == *429* ]]
}

@test "datakit: an input's configuration takes \$NAME and \${NAME} from the environment, as DataKit's feedEnvs" {
	cat >"$DIR/rum.conf" <<'CONF'
[[inputs.rum]]
  endpoints = ["$RUM_EP", "${RUM_EP2}", "$RUM_UNSET"]
  [inputs.rum.session_replay]
    filter_rules = ["{ service = '$RUM_SVC' }"]
CONF
	RUM_EP=/a RUM_EP2=/b RUM_SVC='s"v\1' run --separate-stderr "$BIN/rum-collector" -c "$DIR/rum.conf" --dry-run
	[ "$status" -eq 0 ]
	[[ $(stage_line listen) == *'--endpoint /a --endpoint /b --endpoint \$RUM_UNSET '* ]]
	[[ $(stage_line replay-filter) == *"--rule \\{\\ service\\ =\\ \\'s\\\"v\\\\1\\'\\ \\}"* ]]
	# rumpipe's own sections are not an input's: left as written
	printf '[listen]\nendpoint = ["$RUM_EP"]\n' >"$DIR/own.conf"
	RUM_EP=/a run --separate-stderr "$BIN/rum-collector" -c "$DIR/own.conf" --dry-run
	[[ $(stage_line listen) == *'--endpoint \$RUM_EP '* ]]
}

@test "datakit: DataKit's IP database (iploc.bin, ip2isp.txt under data/ipdb/iploc) goes to rum-enrich, with the TW/HK/MO rewrite" {
	local root=$DIR/datakit ip=$DIR/datakit/data/ipdb/iploc
	mkdir -p "$root/conf.d" "$ip"
	printf '[pipeline]\n  ipdb_type = "iploc"\n' >"$root/conf.d/datakit.conf"
	echo '{"type": 3, "ranges": [["1.0.0.0", "1.0.0.255", {"country": "TW", "region": "Taipei", "city": "Taipei"}]]}' |
		"$TOP/t/lib/mkiploc" "$ip/iploc.bin"
	printf '1.0.0.0/24 chinanet\n' >"$ip/ip2isp.txt"
	run --separate-stderr "$BIN/rum-collector" -c "$root/conf.d/datakit.conf" --dry-run
	[ "$status" -eq 0 ]
	enrich=$(stage_line enrich)
	[[ $enrich == *"--region-map datakit"* ]]
	[[ $enrich == *"--iploc $ip/iploc.bin"* ]]
	[[ $enrich == *"--isp-file $ip/ip2isp.txt"* ]]
	# the stage takes them, and tags as DataKit does
	run "$BIN/rum-collector" -c "$root/conf.d/datakit.conf" --check-config
	[ "$status" -eq 0 ]
	echo '{"measurement":"view","tags":{"ip":"1.0.0.7"},"fields":{"n":1},"time":1}' |
		"$BIN/rum-enrich" --region-map datakit --iploc "$ip/iploc.bin" --isp-file "$ip/ip2isp.txt" >"$DIR/out"
	[ "$(jq -c '[.tags.country, .tags.province, .tags.isp]' "$DIR/out")" = '["CN","Taiwan","chinanet"]' ]
	# ENV_IPDB in a container, DataKit's directory named; no file: said, not passed
	printf 'datakit_dir = "%s"\n' "$DIR/elsewhere" >"$DIR/own.conf"
	ENV_IPDB=iploc ENV_DATAWAY='https://openway.guance.com?token=tkn_x' \
		run --separate-stderr "$BIN/rum-collector" -c "$DIR/own.conf" --dry-run
	[ "$status" -eq 0 ]
	enrich=$(stage_line enrich)
	[[ $enrich == *"--region-map datakit"* ]]
	[[ $enrich != *"--iploc"* ]]
	[[ $stderr == *"DataKit's IP database $DIR/elsewhere/data/ipdb/iploc/iploc.bin is not there"* ]]
	# another type: reported, nothing passed but the rewrite
	printf '[pipeline]\n  ipdb_type = "geolite2"\n' >"$root/conf.d/datakit.conf"
	run --separate-stderr "$BIN/rum-collector" -c "$root/conf.d/datakit.conf" --dry-run
	[ "$status" -eq 0 ]
	[[ $(stage_line enrich) != *"--iploc"* ]]
	[[ $stderr == *"[pipeline] ipdb_type = geolite2: not supported by rumpipe: this IP database type"* ]]
}
