#!/usr/bin/env bats
# rum-listen behind a proxy (issue 17): a real haproxy in front of it on the
# same host (the set-up of contrib/proxy/haproxy.cfg), its clients on the
# host or in a network namespace of their own; the table of forwarding
# headers t/data/listen-proxy-headers.tsv; rum-collector's keys for it.
# Whatever a client writes in its own headers, the ip tag, the rate limit
# and the admin decision see the client the proxy saw.

load lib/common
load lib/listen

setup() {
	listen_vars
	BATCH=$TOP/t/data/listen-batch.lp
	HPID=
	CPID=
}

teardown() {
	[ -n "$HPID" ] && stop_pid "$HPID" KILL
	[ -n "$CPID" ] && stop_pid "$CPID" TERM
	listen_teardown
}

# start_haproxy [-n NETNS] CONFIG PORT: haproxy with CONFIG until PORT (on
# 127.0.0.1, or in NETNS on BIND) accepts; sets HPID.
start_haproxy() {
	command -v haproxy >/dev/null || skip "haproxy is not installed"
	local ns=
	if [ "$1" = -n ]; then
		ns=$2
		shift 2
	fi
	${ns:+ip netns exec "$ns"} haproxy -f "$1" -db >"$D/haproxy.log" 2>&1 &
	HPID=$!
	if [ -n "$ns" ]; then
		wait_for 10 ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$BIND/$2" 2>/dev/null ||
			{ cat "$D/haproxy.log"; return 1; }
	else
		wait_port "$2" 10 || { cat "$D/haproxy.log"; return 1; }
	fi
}

# haproxy_cfg BIND:PORT SERVER-PORT: the smallest front: option forwardfor
# and a health check, nothing denied at the edge, so that what is refused
# is refused by rum-listen.
haproxy_cfg() {
	cat >"$D/haproxy.cfg" <<-CFG
		global
		  maxconn 500
		defaults
		  mode http
		  timeout connect 2s
		  timeout client 10s
		  timeout server 10s
		frontend rum
		  bind $1
		  option forwardfor
		  default_backend listen
		backend listen
		  option httpchk GET /v1/ping
		  server l1 127.0.0.1:$2 check inter 500
	CFG
}

ips() { jq -r .tags.ip "$OUT" | sort -u | paste -sd' '; }

@test "haproxy on the same host, clients from another network namespace: their own X-Forwarded-For changes nothing, /metrics is 403, a flood from one address is limited while another is served" {
	command -v haproxy >/dev/null || skip "haproxy is not installed"
	netns_pair rlp 198.18.73.1/29 198.18.73.2 198.18.73.3
	# rum-listen and haproxy share the server's namespace and talk over
	# its loopback, as on one host; the clients are elsewhere.
	listen_at -n "$SRV" 127.0.0.1 "$OUT" --trusted-proxies 127.0.0.1/32 \
		--rate-limit 0.1 --rate-burst 3
	BIND=198.18.73.1
	haproxy_cfg "$BIND:8080" "$PORT"
	start_haproxy -n "$SRV" "$D/haproxy.cfg" 8080
	front=http://$BIND:8080
	from() { # ADDR CURL-ARG...
		local src=$1
		shift
		ip netns exec "$CLI" curl -s -m 5 --interface "$src" -o "$D/resp" -w '%{http_code}' "$@"
	}
	w="$front/v1/write/rum?precision=ms"
	[ "$(from 198.18.73.2 -H 'X-Forwarded-For: 6.6.6.6' --data-binary @"$BATCH" "$w")" = 200 ]
	[ "$(ips)" = 198.18.73.2 ]
	# Not admin: neither the proxy's loopback nor a forged address opens
	# /metrics (rum-listen's own answer: nothing is denied at this edge).
	[ "$(from 198.18.73.3 "$front/metrics")" = 403 ]
	expect_json_error "$D/resp" rum.forbidden
	[ "$(from 198.18.73.3 -H 'X-Forwarded-For: 127.0.0.1' "$front/metrics")" = 403 ]
	# The flood: .2 has spent one of its 3; two more pass, then 429.
	: >"$D/codes"
	for i in 1 2 3 4 5; do
		from 198.18.73.2 -H "X-Forwarded-For: 203.0.113.$i" --data-binary @"$BATCH" "$w" >>"$D/codes"
		echo >>"$D/codes"
	done
	[ "$(paste -sd' ' "$D/codes")" = "200 200 429 429 429" ]
	jq -r .message "$D/resp" | grep -qF 'from 198.18.73.2;'
	# .3 has its own bucket (one spent on /metrics above, one here).
	[ "$(from 198.18.73.3 -H 'X-Forwarded-For: 198.18.73.2' --data-binary @"$BATCH" "$w")" = 200 ]
	[ "$(ips)" = "198.18.73.2 198.18.73.3" ]
	# The host's own: /metrics from its loopback, no headers, unlimited.
	ip netns exec "$SRV" curl -s -o "$D/metrics" -w '%{http_code}' "$URL/metrics" >"$D/code"
	[ "$(cat "$D/code")" = 200 ]
	# haproxy's health checks reached /v1/ping (from loopback, no header).
	[ "$(metric 'rum_listen_requests_total{endpoint="/v1/ping",code="200"}' "$D/metrics")" -ge 1 ]
	[ "$(metric 'rum_listen_rejected_total{reason="rum.rateLimited"}' "$D/metrics")" = 3 ]
	[ "$(metric 'rum_listen_forwarding_distrusted_total{kind="untrusted_peer"}' "$D/metrics")" = 0 ]
}

@test "haproxy on the same host, clients on it: the ip tag is the client's, a loopback peer's headers make it no admin, contrib/proxy/haproxy.cfg denies the admin paths at the edge" {
	command -v haproxy >/dev/null || skip "haproxy is not installed"
	start_listen --trusted-proxies 127.0.0.1/32
	hp=$(free_port)
	haproxy_cfg "127.0.0.1:$hp" "$PORT"
	start_haproxy "$D/haproxy.cfg" "$hp"
	front=http://127.0.0.1:$hp
	# Clients on the host, at addresses that are not the trusted proxy's
	# (one at 127.0.0.1 would be read past like a proxy).
	curl -s -o /dev/null --interface 127.0.0.8 -H 'X-Forwarded-For: 6.6.6.6' --data-binary @"$BATCH" \
		"$front/v1/write/rum?precision=ms"
	curl -s -o /dev/null --interface 127.0.0.7 -H 'X-Forwarded-For: 6.6.6.6' \
		-H 'X-Forwarded-For: 6.6.6.7' --data-binary @"$BATCH" "$front/v1/write/rum?precision=ms"
	[ "$(ips)" = "127.0.0.7 127.0.0.8" ]
	# The issue's request, straight to rum-listen: the address it names is
	# the client's, not the host's own.
	req GET /metrics -H 'X-Forwarded-For: 6.6.6.6'
	expect_error 403 rum.forbidden
	req GET /metrics
	[ "$CODE" = 200 ]
	stop_pid "$LPID"
	# Without --trusted-proxies a loopback peer that forwards is no admin
	# either, and the headers it carries are counted.
	start_listen
	haproxy_cfg "127.0.0.1:$hp" "$PORT"
	stop_pid "$HPID"
	start_haproxy "$D/haproxy.cfg" "$hp"
	[ "$(curl -s -o "$D/resp" -w '%{http_code}' "$front/metrics")" = 403 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 6.6.6.6' "$URL/metrics")" = 403 ]
	[ "$(served_metric 'rum_listen_forwarding_distrusted_total{kind="untrusted_peer"}')" = 2 ]
	stop_pid "$HPID"
	stop_pid "$LPID"
	# The sample configuration, its ports made the test's.
	: >"$OUT"
	start_listen --trusted-proxies 127.0.0.1/32
	sed -e "s/^\([[:space:]]*bind\) .*/\1 127.0.0.1:$hp/" \
		-e "s/127\.0\.0\.1:9529/127.0.0.1:$PORT/" \
		-e '/^[[:space:]]*\(daemon\|log\|chroot\|user\|group\|stats socket\)\b/d' \
		"$TOP/contrib/proxy/haproxy.cfg" >"$D/sample.cfg"
	start_haproxy "$D/sample.cfg" "$hp"
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 6.6.6.6' \
		--interface 127.0.0.9 --data-binary @"$BATCH" "$front/v1/write/rum?precision=ms")" = 200 ]
	[ "$(ips)" = 127.0.0.9 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$front/v1/ping")" = 200 ]
	for p in /metrics /v1/sourcemap /v1/sourcemap/check '/v1/sourcemap?app_id=a' /METRICS; do
		[ "$(curl -s -o "$D/resp" -w '%{http_code}' "$front$p")" = 403 ] || { echo "$p"; false; }
		! grep -q error_code "$D/resp" # haproxy's answer, not rum-listen's
	done
}

@test "nginx on the same host with contrib/proxy/nginx.conf: the ip tag is the client's whatever its own headers, the admin paths are denied at the edge" {
	command -v nginx >/dev/null || skip "nginx is not installed"
	start_listen --trusted-proxies 127.0.0.1/32
	local np
	np=$(free_port)
	mkdir -p "$D/nginx/logs"
	sed -e "s/^\([[:space:]]*listen\) 80;/\1 127.0.0.1:$np;/" -e "s/127\.0\.0\.1:9529/127.0.0.1:$PORT/" \
		"$TOP/contrib/proxy/nginx.conf" >"$D/nginx/rum.conf"
	cat >"$D/nginx/nginx.conf" <<-EOF
		daemon off;
		master_process off;
		pid $D/nginx/nginx.pid;
		error_log $D/nginx/logs/error.log;
		events { worker_connections 64; }
		http {
		  access_log off;
		  client_body_temp_path $D/nginx/body;
		  proxy_temp_path $D/nginx/proxy;
		  include $D/nginx/rum.conf;
		}
	EOF
	# One process, so that killing it leaves no worker holding bats' output.
	nginx -p "$D/nginx" -c "$D/nginx/nginx.conf" >"$D/nginx/logs/stdout" 2>&1 &
	HPID=$!
	wait_port "$np" 10 || { cat "$D/nginx/logs/error.log"; return 1; }
	front=http://127.0.0.1:$np
	[ "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.5 -H 'X-Forwarded-For: 6.6.6.6' \
		-H 'X-Real-IP: 6.6.6.6' --data-binary @"$BATCH" "$front/v1/write/rum?precision=ms")" = 200 ]
	[ "$(ips)" = 127.0.0.5 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$front/v1/ping")" = 200 ]
	for p in /metrics /v1/sourcemap/check; do
		[ "$(curl -s -o "$D/resp" -w '%{http_code}' "$front$p")" = 403 ]
		! grep -q error_code "$D/resp"
	done
	[ "$(served_metric 'rum_listen_forwarding_distrusted_total{kind="conflict"}')" = 0 ]
}

@test "a loopback connection that forwards without being trusted counts against --max-connections-per-ip; the host's own do not" {
	start_listen --max-connections-per-ip 1
	python3 - "$PORT" >"$D/answers" <<-'PY'
		import socket, sys
		port = int(sys.argv[1])
		def ask(s, xff):
		    h = b"X-Forwarded-For: 203.0.113.5\r\n" if xff else b""
		    s.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n" + h + b"\r\n")
		    print(s.recv(4096).split(b"\r\n")[0].decode())
		# Three of the host's own at once: loopback is not limited.
		own = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
		for s in own:
		    ask(s, False)
		# A forwarding one is counted from its first request: the first
		# fits the limit of 1, the second is past it.
		a = socket.create_connection(("127.0.0.1", port))
		ask(a, True)
		b = socket.create_connection(("127.0.0.1", port))
		ask(b, True)
	PY
	[ "$(sort "$D/answers" | uniq -c | awk '{print $1 "x" $3}' | paste -sd' ')" = "4x200 1x429" ]
	[ "$(served_metric 'rum_listen_rejected_total{reason="rum.tooManyConnectionsPerIp"}')" = 1 ]
}

# table_row TRUSTED IP KEY ADMIN KINDS HEADERS: one row of the table (see
# the file's head) against a rum-listen of its own.
table_row() {
	local trusted=$1 ip=$2 key=$3 admin=$4 kinds=$5 hdrs=$6 h
	local args=() opts=(--rate-limit 0.001 --rate-burst 2)
	[ "$trusted" = - ] || opts+=(--trusted-proxies "$trusted")
	while [ -n "$hdrs" ]; do
		h=${hdrs%% | *}
		[ "$h" = "$hdrs" ] && hdrs= || hdrs=${hdrs#* | }
		# curl sends "Name;" as an empty header ("Name:" would remove it).
		[[ $h == *: ]] && h="${h%:};"
		args+=(-H "$h")
	done
	: >"$OUT"
	start_listen "${opts[@]}"
	local got_admin c1 c2 got_kinds
	got_admin=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "$URL/metrics")
	c1=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" --data-binary @"$BATCH" "$URL/v1/write/rum")
	c2=$(curl -s -o "$D/resp" -w '%{http_code}' "${args[@]}" --data-binary @"$BATCH" "$URL/v1/write/rum")
	curl -s "$URL/metrics" >"$D/metrics"
	got_kinds=$(awk -F'[{}"]' '/^rum_listen_forwarding_distrusted_total/ && $NF + 0 > 0 { print $3 }' \
		"$D/metrics" | sort | paste -sd,)
	stop_pid "$LPID"
	LPID=
	local want_c2=429 got_key=-
	[ "$key" = - ] && want_c2=200
	[ "$c2" = 429 ] && got_key=$(jq -r .message "$D/resp" | sed -n 's/.* from \(.*\); retry.*/\1/p')
	local got="ip=$(ips) codes=$c1,$c2 key=$got_key admin=$got_admin kinds=${got_kinds:--}"
	local want="ip=$ip codes=200,$want_c2 key=$key admin=$admin kinds=$kinds"
	[ "$got" = "$want" ] || { echo "row [$trusted] $6: got $got, want $want"; return 1; }
}

@test "forwarding headers, a table: several lines, Forwarded with quoted IPv6 and ports, garbage, more hops than proxies, empty values: the ip tag, the limit's key, admin or not, what is counted" {
	local n=0 bad=0
	while IFS=$'\t' read -r trusted ip key admin kinds hdrs; do
		[[ $trusted == \#* || -z $trusted ]] && continue
		n=$((n + 1))
		table_row "$trusted" "$ip" "$key" "$admin" "$kinds" "$hdrs" || bad=$((bad + 1))
	done <"$TOP/t/data/listen-proxy-headers.tsv"
	[ "$n" -ge 30 ]
	[ "$bad" = 0 ]
}

@test "rum-collector: [listen] trusted_proxies with DataKit's rum_origin_ip_header" {
	local p
	p=$(free_port)
	mkdir -p "$D/c"
	cat >"$D/c/datakit.conf" <<-EOF
		[http_api]
		  listen = "127.0.0.1:$p"
		  rum_origin_ip_header = "X-Client-IP"
	EOF
	cat >"$D/c/rumpipe.conf" <<-EOF
		data_dir = "$D/c/data"
		[listen]
		trusted_proxies = ["127.0.0.1/32", "10.0.0.0/8"]
	EOF
	run "$BIN/rum-collector" -c "$D/c/datakit.conf" -c "$D/c/rumpipe.conf" --dry-run
	[ "$status" -eq 0 ]
	[[ $output == *"--trusted-proxies 127.0.0.1/32 --trusted-proxies 10.0.0.0/8 "* ]]
	[[ $output == *"--origin-ip-header X-Client-IP "* ]]
	"$BIN/rum-collector" -c "$D/c/datakit.conf" -c "$D/c/rumpipe.conf" >"$D/c/out" 2>"$D/c/err" &
	CPID=$!
	wait_port "$p" 60 || { cat "$D/c/err"; return 1; }
	# The header DataKit names is the one believed from a trusted proxy.
	curl -sf -o /dev/null -H 'X-Client-IP: 203.0.113.20, 10.9.8.7' -H 'X-Forwarded-For: 6.6.6.6' \
		--data-binary @"$BATCH" "http://127.0.0.1:$p/v1/write/rum?precision=ms"
	wait_for 30 test -s "$D/c/data/records.ndjson"
	[ "$(jq -r .tags.ip "$D/c/data/records.ndjson" | sort -u)" = 203.0.113.20 ]
	stop_pid "$CPID" TERM
	CPID=
}
