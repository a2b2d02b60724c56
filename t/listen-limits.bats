#!/usr/bin/env bats
# rum-listen on the public network: each limit and its status (slow clients
# 408, oversize headers 431, bodies 413, floods 429, connections per address
# and in all, requests per connection, idle keep-alive), access control
# (--public-apis, --admin-allow, --trusted-proxies, --cors-origins), TLS with
# a certificate reloaded on SIGHUP, and --user. Distinct client addresses come
# from network namespaces made (and removed) by the tests themselves.

load lib/common
load lib/listen

setup() {
	listen_vars
	BATCH=$TOP/t/data/listen-batch.lp
}

teardown() {
	for p in ${BGPIDS:-}; do stop_pid "$p" KILL; done
	listen_teardown
}

# make_netns: a server namespace (198.18.71.1) and a client namespace with
# three addresses (.2, .3, .4) on one veth pair; sets SRV and CLI. Skips
# when it cannot.
make_netns() {
	netns_pair rll 198.18.71.1/29 198.18.71.2 198.18.71.3 198.18.71.4
}

# start_listen_ns [OPTION]...: rum-listen in $SRV on 198.18.71.1; sets LPID,
# NSURL (and URL; PORT stays the loopback listener's).
start_listen_ns() {
	local PORT
	listen_at -n "$SRV" 198.18.71.1 "$OUT" "$@"
	NSURL=$URL
}

# from ADDR CURL-ARG...: curl from that client address; prints the status,
# the body in $D/resp, the headers in $D/hdr.
from() {
	local src=$1
	shift
	ip netns exec "$CLI" curl -s -m 5 --interface "$src" -o "$D/resp" -D "$D/hdr" \
		-w '%{http_code}' "$@"
}

# code_from ADDR CURL-ARG...: as from, the status appended to $D/codes as a
# line.
code_from() {
	from "$@" >>"$D/codes"
	echo >>"$D/codes"
}

# admin_metric NAME-AND-LABELS: as served_metric, from the --admin-allow
# address.
admin_metric() {
	served_metric "$1" ip netns exec "$CLI" curl --interface 198.18.71.4
}

# slow_client PORT KIND SECONDS: sends a request a byte a second (KIND
# headers: its headers never end; body: its body never does) and prints
# what it was answered and after how long: "<seconds> <status line>".
slow_client() {
	python3 - "$@" <<'PY'
import select, socket, sys, time
port, kind, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
t0 = time.time()
if kind == "body":
    s.sendall(b"POST /v1/write/rum HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    trickle = b"v" * 1000
else:
    trickle = b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
got = b""
for i in range(len(trickle)):
    if time.time() - t0 > limit:
        break
    try:
        s.send(trickle[i:i + 1])
    except OSError:
        break
    r, _, _ = select.select([s], [], [], 1.0)
    if r:
        try:
            d = s.recv(4096)
        except OSError:
            break
        if not d:
            break
        got += d
print("%.1f %s" % (time.time() - t0, got.split(b"\r\n")[0].decode() or "closed"))
PY
}

@test "a slow client (a byte a second) is cut off with 408 after the timeout; a normal client keeps its answers" {
	start_listen --header-timeout 2 --body-timeout 2
	slow_client "$PORT" headers 15 >"$D/slow.headers" &
	s1=$!
	slow_client "$PORT" body 15 >"$D/slow.body" &
	s2=$!
	BGPIDS="$s1 $s2"
	# Meanwhile a well-behaved client is answered, request after request.
	ok=0
	for i in $(seq 1 20); do
		c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' --data-binary @"$BATCH" "$URL/v1/write/rum?precision=ms")
		[ "$c" = 200 ] && ok=$((ok + 1))
		sleep 0.1
	done
	wait "$s1" "$s2"
	BGPIDS=
	cat "$D/slow.headers" "$D/slow.body"
	[ "$ok" = 20 ]
	read -r t line <"$D/slow.headers"
	[[ "$line" == "HTTP/1.1 408 Request Timeout" ]]
	# Cut at the timeout (2 s), not at the end of its 15 s.
	awk -v t="$t" 'BEGIN { exit !(t >= 1.8 && t < 4.5) }'
	read -r t line <"$D/slow.body"
	[[ "$line" == "HTTP/1.1 408 Request Timeout" ]]
	awk -v t="$t" 'BEGIN { exit !(t >= 1.8 && t < 4.5) }'
	[ "$(served_metric 'rum_listen_rejected_total{reason="rum.headerTimeout"}')" = 1 ]
	[ "$(served_metric 'rum_listen_rejected_total{reason="rum.bodyTimeout"}')" = 1 ]
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/v1/write/rum",code="408"}')" = 1 ]
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/v1/write/rum",code="200"}')" = 20 ]
	# Nothing of the cut-off body was emitted.
	[ "$(jq -r .tags.app_id "$OUT" | sort -u)" = appid_listen_bats ]
	[ "$(wc -l <"$OUT")" = $((20 * 9)) ]
}

@test "oversize headers: 431 (ours as JSON up to the pool, microhttpd's past it); oversize body: 413" {
	start_listen --max-header-kb 4 --max-body-mb 1
	big=$(head -c 6000 /dev/zero | tr '\0' a)
	code=$(curl -s -o "$D/resp" -w '%{http_code}' -H "X-Big: $big" "$URL/v1/ping")
	[ "$code" = 431 ]
	expect_json_error "$D/resp" rum.headersTooLarge
	huge=$(head -c 100000 /dev/zero | tr '\0' a)
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $huge" "$URL/v1/ping")
	[ "$code" = 431 ]
	# Just under the limit is fine.
	ok=$(head -c 3000 /dev/zero | tr '\0' a)
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $ok" "$URL/v1/ping")" = 200 ]
	# Bodies: announced too large, and sent chunked past the limit.
	head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' v >"$D/big"
	code=$(curl -s -o "$D/resp" -w '%{http_code}' --data-binary @"$D/big" "$URL/v1/write/rum")
	[ "$code" = 413 ]
	expect_json_error "$D/resp" rum.bodyTooLarge
	code=$(curl -s -o "$D/resp" -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		--data-binary @"$D/big" "$URL/v1/write/rum")
	[ "$code" = 413 ]
	[ "$(served_metric 'rum_listen_rejected_total{reason="rum.headersTooLarge"}')" = 1 ]
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/v1/ping",code="431"}')" = 1 ]
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/v1/write/rum",code="413"}')" = 2 ]
	# Bytes received count refused requests too.
	[ "$(served_metric 'rum_listen_received_bytes_total{part="headers"}')" -gt 6000 ]
	[ "$(served_metric 'rum_listen_received_bytes_total{part="body"}')" -gt 0 ]
	[ ! -s "$OUT" ]
}

@test "requests per connection: the last is answered Connection: close; idle keep-alive connections are closed" {
	start_listen --max-requests-per-connection 3 --keepalive-timeout 1
	# Five requests on one curl: three on the first connection, two on the next.
	u=(-o /dev/null "$URL/v1/ping")
	curl -s -D "$D/hdr" -w '%{num_connects}\n' "${u[@]}" "${u[@]}" "${u[@]}" "${u[@]}" "${u[@]}" \
		>"$D/connects"
	[ "$(paste -sd' ' "$D/connects")" = "1 0 0 1 0" ]
	[ "$(grep -ci '^Connection: close' "$D/hdr")" = 1 ]
	# Idle past --keepalive-timeout: the server closes; busy, it does not.
	python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
req = b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(req)
assert s.recv(4096).startswith(b"HTTP/1.1 200"), "first answer"
time.sleep(0.5)
s.sendall(req)
assert s.recv(4096).startswith(b"HTTP/1.1 200"), "second answer, 0.5 s idle"
s.settimeout(5)
t0 = time.time()
assert s.recv(4096) == b"", "closed when idle"
waited = time.time() - t0
assert 0.8 < waited < 3, "closed after %.1f s" % waited
PY
}

@test "--max-connections: past it new connections are closed, counted; the others are served" {
	start_listen --max-connections 3
	python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
time.sleep(0.3)
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(5)
extra.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    got = extra.recv(4096)
except ConnectionResetError:
    got = b""
assert got == b"", "the 4th connection was answered: %r" % got
held[0].sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
assert held[0].recv(4096).startswith(b"HTTP/1.1 200"), "a held one is served"
for s in held:
    s.close()
PY
	wait_for 5 count_at_least 1 served_metric 'rum_listen_rejected_total{reason="rum.tooManyConnections"}'
	# Closed ones make room again.
	wait_for 5 bash -c "curl -s -o /dev/null -w '%{http_code}' '$URL/v1/ping' | grep -q 200"
}

@test "from other addresses: flood → 429 with Retry-After while another address is served; connections per address; 403 off the public APIs unless --admin-allow" {
	make_netns
	start_listen_ns --rate-limit 0.5 --rate-burst 10 --max-connections-per-ip 2 \
		--admin-allow 198.18.71.4/32
	# A flood from .2: past the burst, 429.
	for i in $(seq 1 30); do
		code=$(from 198.18.71.2 --data-binary @"$BATCH" "$NSURL/v1/write/rum?precision=ms")
		echo "$code" >>"$D/flood"
		[ "$code" = 429 ] && cp "$D/resp" "$D/resp.429" && cp "$D/hdr" "$D/hdr.429"
	done
	c200=$(grep -c '^200$' "$D/flood")
	c429=$(grep -c '^429$' "$D/flood")
	echo "flood: $c200 x 200, $c429 x 429"
	[ "$c200" -ge 10 ] && [ "$c200" -le 16 ]
	[ $((c200 + c429)) = 30 ]
	expect_json_error "$D/resp.429" rum.rateLimited
	retry=$(sed -n 's/^Retry-After: *\([0-9]*\).*/\1/ip' "$D/hdr.429")
	[ "$retry" -ge 1 ] && [ "$retry" -le 3 ]
	# Another address is served meanwhile.
	[ "$(from 198.18.71.3 --data-binary @"$BATCH" "$NSURL/v1/write/rum?precision=ms")" = 200 ]
	# ...and the flooder again once its bucket refilled.
	sleep 2.2
	[ "$(from 198.18.71.2 "$NSURL/v1/ping")" = 200 ]
	[ "$(admin_metric 'rum_listen_rejected_total{reason="rum.rateLimited"}')" -ge "$c429" ]
	# Records carry the client's own address.
	[ "$(jq -r .tags.ip "$OUT" | sort -u | paste -sd' ')" = "198.18.71.2 198.18.71.3" ]

	# Non-public paths: 403 from .3, served to --admin-allow (.4) and to
	# the server's loopback.
	[ "$(from 198.18.71.3 "$NSURL/metrics")" = 403 ]
	expect_json_error "$D/resp" rum.forbidden
	[ "$(from 198.18.71.3 "$NSURL/v1/sourcemap/check")" = 403 ]
	[ "$(from 198.18.71.4 "$NSURL/metrics")" = 200 ]
	grep -q '^rum_listen_connections ' "$D/resp"
	[ "$(ip netns exec "$SRV" curl -s -o /dev/null -w '%{http_code}' "$NSURL/metrics")" = 403 ] # own address is not loopback

	# Connections per address: the third from .3 is closed; .4 still gets in.
	ip netns exec "$CLI" python3 - <<PY
import socket, time
url = ("198.18.71.1", int("${NSURL##*:}"))
def conn(src):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(url)
    s.settimeout(5)
    return s
req = b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n"
held = [conn("198.18.71.3"), conn("198.18.71.3")]
time.sleep(0.3)
third = conn("198.18.71.3")
third.sendall(req)
try:
    got = third.recv(4096)
except ConnectionResetError:
    got = b""
assert got == b"", "a third connection from .3 was answered: %r" % got
other = conn("198.18.71.4")
other.sendall(req)
assert other.recv(4096).startswith(b"HTTP/1.1 200"), ".4 is served"
held[1].sendall(req)
assert held[1].recv(4096).startswith(b"HTTP/1.1 200"), "a held connection is served"
PY
	[ "$(admin_metric 'rum_listen_rejected_total{reason="rum.tooManyConnectionsPerIp"}')" = 1 ]
}

@test "IPv6 clients: the rate limit and connections per address count a /64 as one client" {
	make_netns
	ip -n "$SRV" addr add fd00:71::1/64 dev vs nodad &&
		ip -n "$SRV" addr add fd00:72::1/64 dev vs nodad &&
		ip -n "$CLI" addr add fd00:71::2/64 dev vc nodad &&
		ip -n "$CLI" addr add fd00:71::3/64 dev vc nodad &&
		ip -n "$CLI" addr add fd00:72::2/64 dev vc nodad || skip "no IPv6 on the veth pair"
	listen_at -n "$SRV" '[fd00:71::1]' "$OUT" --rate-limit 0.1 --rate-burst 2
	u="$URL/v1/write/rum?precision=ms"
	for src in fd00:71::2 fd00:71::2 fd00:71::3 fd00:72::2; do
		code_from "$src" -g --data-binary @"$BATCH" "$u"
	done
	# ::3 shares ::2's /64 and its spent bucket; fd00:72::2 has its own.
	[ "$(paste -sd' ' "$D/codes")" = "200 200 429 200" ]
	# The tag still has each whole address.
	[ "$(jq -r .tags.ip "$OUT" | sort -u | paste -sd' ')" = "fd00:71::2 fd00:72::2" ]
}

@test "--trusted-proxies: a proxy's X-Forwarded-For names the client for the tag and the rate limit; others' is ignored" {
	make_netns
	# Without it: the tag takes the header from anyone (DataKit's rule);
	# the rate limit keys on the peer.
	start_listen_ns --rate-limit 0.1 --rate-burst 2
	for ip in 203.0.113.1 203.0.113.2 203.0.113.3; do
		code_from 198.18.71.2 -H "X-Forwarded-For: $ip" --data-binary @"$BATCH" \
			"$NSURL/v1/write/rum?precision=ms"
	done
	[ "$(paste -sd' ' "$D/codes")" = "200 200 429" ]
	[ "$(jq -r .tags.ip "$OUT" | sort -u | paste -sd' ')" = "203.0.113.1 203.0.113.2" ]
	stop_pid "$LPID"
	: >"$OUT"
	: >"$D/codes"

	# With it: .2 is a proxy; each forwarded client has its own bucket,
	# and the address is read from the right, past the proxies.
	start_listen_ns --rate-limit 0.1 --rate-burst 2 --trusted-proxies 198.18.71.2,10.0.0.0/8
	for ip in 203.0.113.1 203.0.113.2 203.0.113.3 203.0.113.1 203.0.113.1; do
		code_from 198.18.71.2 -H "X-Forwarded-For: 192.0.2.99, $ip, 10.1.2.3" --data-binary @"$BATCH" \
			"$NSURL/v1/write/rum?precision=ms"
	done
	[ "$(paste -sd' ' "$D/codes")" = "200 200 200 200 429" ]
	[ "$(jq -r .tags.ip "$OUT" | sort -u | paste -sd' ')" = "203.0.113.1 203.0.113.2 203.0.113.3" ]
	# .3 is not a proxy: its header is ignored, for the tag too.
	: >"$OUT"
	[ "$(from 198.18.71.3 -H 'X-Forwarded-For: 203.0.113.50' --data-binary @"$BATCH" \
		"$NSURL/v1/write/rum?precision=ms")" = 200 ]
	[ "$(jq -r .tags.ip "$OUT" | sort -u)" = 198.18.71.3 ]
	# Nor does a trusted proxy's header open the admin paths.
	[ "$(from 198.18.71.2 -H 'X-Forwarded-For: 127.0.0.1' "$NSURL/metrics")" = 403 ]
}

@test "--cors-origins: listed origins are echoed, others get no Allow-Origin" {
	start_listen --cors-origins https://shop.example.test,https://m.example.test
	curl -s -o /dev/null -D "$D/hdr" -H 'Origin: https://m.example.test' "$URL/v1/ping"
	grep -qi '^Access-Control-Allow-Origin: https://m.example.test' "$D/hdr"
	curl -s -o /dev/null -D "$D/hdr" -X OPTIONS -H 'Origin: https://evil.example.test' \
		"$URL/v1/write/rum"
	! grep -qi '^Access-Control-Allow-Origin' "$D/hdr"
	stop_pid "$LPID"
	start_listen
	curl -s -o /dev/null -D "$D/hdr" -H 'Origin: https://any.example.test' "$URL/v1/ping"
	grep -qi '^Access-Control-Allow-Origin: https://any.example.test' "$D/hdr"
}

# fingerprint PORT: the SHA-256 fingerprint of the certificate served.
fingerprint() {
	openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256
}

@test "TLS: served with a certificate made by openssl; plain HTTP refused cleanly; SIGHUP serves a new one on the same listener" {
	command -v openssl >/dev/null || skip "no openssl"
	for n in 1 2; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$D/k$n.pem" -out "$D/c$n.pem" -days 2 -subj /CN=localhost 2>/dev/null
	done
	cp "$D/c1.pem" "$D/cert.pem"
	cp "$D/k1.pem" "$D/key.pem"
	start_listen --tls-cert "$D/cert.pem" --tls-key "$D/key.pem"
	surl=https://localhost:$PORT
	resolve=(--resolve "localhost:$PORT:127.0.0.1")
	code=$(curl -s --cacert "$D/c1.pem" "${resolve[@]}" -o /dev/null -w '%{http_code}' \
		--data-binary @"$BATCH" "$surl/v1/write/rum?precision=ms")
	[ "$code" = 200 ]
	[ "$(wc -l <"$OUT")" = 9 ]
	# Plain HTTP: closed at once, no answer, no hang; TLS still served.
	start=$(date +%s)
	run curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/ping"
	[ "$status" != 0 ] && [ "$status" != 28 ]
	[ $(($(date +%s) - start)) -lt 5 ]
	[ "$(curl -s --cacert "$D/c1.pem" "${resolve[@]}" -o /dev/null -w '%{http_code}' "$surl/v1/ping")" = 200 ]
	fp1=$(fingerprint "$PORT")
	[ "$fp1" = "$(openssl x509 -in "$D/c1.pem" -noout -fingerprint -sha256)" ]
	# A keep-alive TLS connection opened before the reload...
	python3 - "$PORT" "$D/c1.pem" "$D/ka.ready" "$D/ka.go" "$D/ka.out" <<'PY' &
import http.client, os, ssl, sys, time
port, ca, ready, go, out = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("localhost", int(port), context=ctx)
c.connect()
c.request("GET", "/v1/ping", headers={"Host": "localhost"})
r = c.getresponse()
a = "%d" % r.status
r.read()
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
sock = c.sock
c.request("GET", "/v1/ping", headers={"Host": "localhost"})
r = c.getresponse()
b = "%d %s" % (r.status, "same connection" if c.sock is sock else "new connection")
r.read()
open(out, "w").write(a + "|" + b)
PY
	BGPIDS=$!
	wait_for 5 test -e "$D/ka.ready"
	cp "$D/c2.pem" "$D/cert.pem"
	cp "$D/k2.pem" "$D/key.pem"
	kill -HUP "$LPID"
	wait_for 5 grep -q 'certificate .* reloaded' "$ERR"
	fp2=$(fingerprint "$PORT")
	[ "$fp2" = "$(openssl x509 -in "$D/c2.pem" -noout -fingerprint -sha256)" ]
	[ "$fp2" != "$fp1" ]
	[ "$(curl -s --cacert "$D/c2.pem" "${resolve[@]}" -o /dev/null -w '%{http_code}' "$surl/v1/ping")" = 200 ]
	# ...is still served after it: the listener and connections stayed.
	touch "$D/ka.go"
	wait_for 5 test -s "$D/ka.out"
	cat "$D/ka.out"
	[ "$(cat "$D/ka.out")" = "200|200 same connection" ]
	kill -0 "$LPID"
	# A key that is not the certificate's: the reload is refused, the
	# certificate in use stays.
	cp "$D/k1.pem" "$D/key.pem"
	kill -HUP "$LPID"
	wait_for 5 grep -q 'keeping the certificate in use' "$ERR"
	[ "$(fingerprint "$PORT")" = "$fp2" ]
	# Half a pair, or a bad file, at start: exit 1 or 2 naming it.
	run "$BIN/rum-listen" --listen 127.0.0.1:0 --tls-cert "$D/cert.pem"
	[ "$status" = 2 ]
	run "$BIN/rum-listen" --listen 127.0.0.1:0 --tls-cert "$D/key.pem" --tls-key "$D/key.pem"
	[ "$status" = 1 ]
	[[ "$output" == *"not a certificate"* ]]
}

@test "--user nobody: binds, then runs without root (uid, gid, groups)" {
	[ "$(id -u)" = 0 ] || skip "needs root to drop it"
	getent passwd nobody >/dev/null || skip "no user nobody"
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	chmod 777 "$D"
	start_listen --user nobody
	grep -q "running as nobody" "$ERR"
	[ "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$BATCH" "$URL/v1/write/rum?precision=ms")" = 200 ]
	read -r _ r e s f < <(grep '^Uid:' /proc/"$LPID"/status)
	[ "$r $e $s $f" = "$uid $uid $uid $uid" ]
	read -r _ r e s f < <(grep '^Gid:' /proc/"$LPID"/status)
	[ "$r $e $s $f" = "$gid $gid $gid $gid" ]
	[ "$(grep '^Groups:' /proc/"$LPID"/status | awk '{ $1 = ""; print }' | xargs)" = "$gid" ]
	grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/"$LPID"/status
	run "$BIN/rum-listen" --listen 127.0.0.1:0 --user no-such-user-here
	[ "$status" = 2 ]
}

@test "options of the limits: bad values exit 2 naming the option; --help lists them" {
	for bad in "--admin-allow 10.0.0.0/33" "--trusted-proxies nope" "--rate-limit -1" \
		"--rate-burst 0" "--max-header-kb 0" "--header-timeout 0" "--max-connections 0" \
		"--tls-key /dev/null" "--admin-allow 1.2.3.4/x"; do
		# shellcheck disable=SC2086
		run "$BIN/rum-listen" --listen 127.0.0.1:0 $bad
		[ "$status" = 2 ] || { echo "$bad: status $status"; return 1; }
		[[ "$output" == *"--${bad%% *}"* || "$output" == *"${bad%% *}"* ]]
	done
	run "$BIN/rum-listen" --help
	for o in tls-cert tls-key user admin-allow trusted-proxies cors-origins max-connections \
		max-connections-per-ip max-header-kb header-timeout body-timeout keepalive-timeout \
		max-requests-per-connection rate-limit rate-burst rate-table; do
		[[ "$output" == *"--$o"* ]] || { echo "missing --$o"; return 1; }
	done
}
