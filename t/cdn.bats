#!/usr/bin/env bats
# rum-cdn against a real DNS server: Debian's dnsmasq, started here on a
# loopback port with only the names each test gives it (--no-resolv
# --no-hosts), logging every query it gets so the tests can count them.

load lib/common
bats_require_minimum_version 1.5.0

DNSMASQ=/usr/sbin/dnsmasq

setup() {
	[ -x "$DNSMASQ" ] || skip "dnsmasq is not installed (contrib/install-deps)"
	C=$BIN/rum-cdn
	T=$BATS_TEST_TMPDIR
	M=$T/metrics.prom
	DNS_LOG=$T/dnsmasq.log
}

teardown() {
	[ -n "${C_PID:-}" ] && stop_pid "$C_PID" KILL
	[ -n "${DNS_PID:-}" ] && stop_pid "$DNS_PID"
	[ -n "${MUTE_PID:-}" ] && stop_pid "$MUTE_PID"
	true
}

# start_dns DNSMASQ-ARGS...: dnsmasq on 127.0.0.1:$DNS_PORT (UDP and TCP).
start_dns() {
	local tries=0
	for ((tries = 0; tries < 5; tries++)); do
		DNS_PORT=$(free_port)
		"$DNSMASQ" --no-daemon --no-resolv --no-hosts --port="$DNS_PORT" \
			--listen-address=127.0.0.1 --bind-interfaces --pid-file= --user="$(id -un)" \
			--log-queries --log-facility="$DNS_LOG" "$@" 2>>"$T/dnsmasq.err" &
		DNS_PID=$!
		wait_port "$DNS_PORT" 3 2>/dev/null && return 0
		stop_pid "$DNS_PID"
	done
	cat "$T/dnsmasq.err" >&2
	return 1
}

# The names most tests use.
start_std_dns() {
	start_dns --cname=img.shop.test,d111.cloudfront.net \
		--cname=two.shop.test,step.shop.test --cname=step.shop.test,e1.a.akamai.net \
		--cname=kl.shop.test,x.kunlunab.com --cname=kl2.shop.test,kunluna.com \
		--cname=notglob.shop.test,kunlunab.c.com \
		--cname=other.shop.test,edge.unlisted-cdn.test \
		--address=/first.shop.test/192.0.2.1 --address=/nx.shop.test/ "$@"
}

# start_mute_dns: a UDP socket on 127.0.0.1 that reads queries and never
# answers; its port in $T/mute.port, its pid in MUTE_PID.
start_mute_dns() {
	python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    s.recvfrom(4096)
' >"$T/mute.port" &
	MUTE_PID=$!
	wait_for 5 test -s "$T/mute.port"
}

queries() { grep -c 'query\[' "$DNS_LOG" 2>/dev/null || true; }
queries_for() { grep -c "query\[A\] $1 " "$DNS_LOG" 2>/dev/null || true; }

rec() { printf '{"measurement":"resource","tags":{"resource_url_host":"%s"},"fields":{"duration":1}}\n' "$1"; }
out() {
	printf '{"measurement":"resource","tags":{"resource_url_host":"%s"},"fields":{"duration":1,"provider_type":"%s","provider_name":"%s"}}\n' "$@"
}

# check ARGS... <<TABLE: each line "host|provider_type|provider_name" is one
# record through `rum-cdn --dns-server dnsmasq ARGS`, which must give
# exactly those fields, in that order.
check() {
	local table h ty n
	table=$(cat)
	: >"$T/in" && : >"$T/want"
	while IFS='|' read -r h ty n; do
		[ -n "$h" ] || continue
		rec "$h" >>"$T/in"
		out "$h" "$ty" "$n" >>"$T/want"
	done <<<"$table"
	"$C" --dns-server "127.0.0.1:$DNS_PORT" "$@" <"$T/in" >"$T/got" 2>"$T/err" ||
		{ cat "$T/err"; return 1; }
	diff -u "$T/want" "$T/got"
}

# start ARGS...: rum-cdn reading the FIFO $T/fifo (held open on fd 7),
# writing $T/out.
start() { start_fifo_stage C_PID 7 "$C" "$@"; }
stop() {
	exec 7>&-
	wait "$C_PID"
	C_PID=
}

@test "records that are not resource records, or have no host, pass byte for byte" {
	start_std_dns
	printf '%s\n' '{"measurement":"view","tags":{"resource_url_host":"img.shop.test"},"fields":{"f":1.50},"time":1}' \
		' { "time" : 2 , "measurement" : "action" , "tags" : { "a" : "b" } } ' \
		'{"measurement":"resource","tags":{"resource_url":"https://x/"},"x":[1,{"y":null}]}' \
		'{"measurement":"resource","fields":{"resource_url_host":5}}' >"$T/in"
	printf '{"measurement":"error","tags":{"a":"1"}}\r\n' >>"$T/in"
	"$C" --dns-server "127.0.0.1:$DNS_PORT" --metrics-file "$M" <"$T/in" >"$T/out"
	cmp "$T/in" "$T/out"
	[ "$(queries)" = 0 ]
	[ "$(metric rum_cdn_passed_total)" = 5 ]
}

@test "CNAME to a listed CDN, a two-step chain, kunlun globs, first-party, an unlisted CDN, NXDOMAIN" {
	start_std_dns
	check --metrics-file "$M" <<-'EOF'
		img.shop.test|CDN|AWS CloudFront
		two.shop.test|CDN|Akamai CDN
		kl.shop.test|CDN|阿里云 CDN
		kl2.shop.test|CDN|阿里云 CDN
		notglob.shop.test|CDN|unknown
		other.shop.test|CDN|unknown
		first.shop.test|first-party|unknown
		www.first.shop.test|first-party|unknown
		nx.shop.test|unknown|unknown
		IMG.Shop.Test|CDN|AWS CloudFront
		img.shop.test:8443|CDN|AWS CloudFront
		img.shop.test.|CDN|AWS CloudFront
	EOF
	# One query per host, whatever its spelling.
	[ "$(queries_for img.shop.test)" = 1 ]
	[ "$(queries)" = 9 ]
	[ "$(metric rum_cdn_lookups_total)" = 9 ]
	[ "$(metric 'rum_cdn_failures_total{kind="nxdomain"}')" = 1 ]
	[ "$(metric 'rum_cdn_provider_types_total{type="CDN"}')" = 9 ]
	[ "$(metric 'rum_cdn_provider_types_total{type="first-party"}')" = 2 ]
	[ "$(metric rum_cdn_matches_total)" = 7 ]
}

@test "a first-party host that falls under a listed domain is named after it" {
	start_dns --address=/static.alicdn.com/192.0.2.7
	check <<-'EOF'
		static.alicdn.com|first-party|阿里云 CDN
	EOF
}

@test "IP literals and invalid hosts are unknown and send no query" {
	start_std_dns
	check --metrics-file "$M" <<-'EOF'
		192.0.2.1|unknown|unknown
		192.0.2.1:8080|unknown|unknown
		[2001:db8::1]|unknown|unknown
		[2001:db8::1]:443|unknown|unknown
		2001:db8::1|unknown|unknown
		bad..shop.test|unknown|unknown
		-bad.shop.test|unknown|unknown
		bad-.shop.test|unknown|unknown
		bad host.test|unknown|unknown
		img.shop.test:port|unknown|unknown
		img.shop.test:99999|unknown|unknown
		123.456|unknown|unknown
		a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.abc|unknown|unknown
		xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.test|unknown|unknown
	EOF
	printf '%s\n' '{"measurement":"resource","tags":{"resource_url_host":""}}' |
		"$C" --dns-server "127.0.0.1:$DNS_PORT" >"$T/got"
	[ "$(jq -r .fields.provider_type "$T/got")" = unknown ]
	[ "$(queries)" = 0 ]
	[ "$(metric 'rum_cdn_hosts_total{kind="ip"}')" = 5 ]
	[ "$(metric 'rum_cdn_hosts_total{kind="invalid"}')" = 9 ]
}

@test "a server that does not answer: unknown after --dns-timeout, nothing reordered or delayed longer" {
	start_mute_dns
	start --dns-server "127.0.0.1:$(cat "$T/mute.port")" --dns-timeout 600 --metrics-file "$M" \
		--keep-order
	local t0 t1
	t0=$(date +%s%N)
	{
		rec slow.shop.test
		echo '{"measurement":"view","tags":{"n":"2"}}'
		rec 192.0.2.9
		rec slow2.shop.test
	} >&7
	wait_for 5 lines_are "$T/out" 4
	t1=$(date +%s%N)
	# Out after the timeout, and not much later (the input stays open).
	local ms=$(((t1 - t0) / 1000000))
	echo "took $ms ms" >&2
	[ "$ms" -ge 550 ]
	[ "$ms" -lt 1500 ]
	jq -c '[.measurement, .fields.provider_type // .tags.n]' "$T/out" >"$T/seen"
	printf '%s\n' '["resource","unknown"]' '["view","2"]' '["resource","unknown"]' '["resource","unknown"]' |
		diff -u - "$T/seen"
	jq -r '.tags.resource_url_host // empty' "$T/out" | paste -sd' ' >"$T/order"
	[ "$(cat "$T/order")" = "slow.shop.test 192.0.2.9 slow2.shop.test" ]
	stop
	# Whichever saw it first: the record's deadline or the resolver's own.
	[ $(($(metric 'rum_cdn_failures_total{kind="deadline"}') + $(metric 'rum_cdn_failures_total{kind="timeout"}'))) -ge 1 ]
}

@test "without --keep-order, records that need no lookup do not wait behind one" {
	start_mute_dns
	start --dns-server "127.0.0.1:$(cat "$T/mute.port")" --dns-timeout 3000
	{
		rec slow.shop.test
		echo '{"measurement":"view","tags":{"n":"2"}}'
		rec 192.0.2.9
		rec slow2.shop.test
	} >&7
	# the view and the IP literal at once, the two lookups after 3 s
	wait_for 2 lines_are "$T/out" 2
	[ "$(jq -c '[.measurement, .tags.n // .tags.resource_url_host]' "$T/out" | paste -sd' ')" = '["view","2"] ["resource","192.0.2.9"]' ]
	wait_for 6 lines_are "$T/out" 4
	[ "$(jq -r '.tags.resource_url_host // empty' "$T/out" | paste -sd' ')" = "192.0.2.9 slow.shop.test slow2.shop.test" ]
	stop
}

@test "a server that does not answer, one lookup slot: records still leave in order, none much later than the timeout" {
	start_mute_dns
	for h in a b c d; do rec "$h.shop.test"; done >"$T/in"
	local t0 t1
	t0=$(date +%s%N)
	"$C" --dns-server "127.0.0.1:$(cat "$T/mute.port")" --dns-timeout 400 --max-inflight 1 \
		--metrics-file "$M" <"$T/in" >"$T/out"
	t1=$(date +%s%N)
	echo "took $(((t1 - t0) / 1000000)) ms" >&2
	[ $(((t1 - t0) / 1000000)) -lt 2500 ]
	[ "$(jq -r .tags.resource_url_host "$T/out" | paste -sd' ')" = "a.shop.test b.shop.test c.shop.test d.shop.test" ]
	[ "$(grep -c '"unknown","provider_name":"unknown"' "$T/out")" = 4 ]
}

@test "SIGTERM while a lookup is unanswered: the record still leaves, unknown, and the stage exits 0" {
	start_mute_dns
	start --dns-server "127.0.0.1:$(cat "$T/mute.port")" --dns-timeout 800 --keep-order
	{ rec slow.shop.test; rec 192.0.2.9; } >&7
	sleep 0.2
	[ "$(lines "$T/out")" = 0 ]
	kill -TERM "$C_PID"
	wait "$C_PID"
	C_PID=
	[ "$(lines "$T/out")" = 2 ]
	[ "$(jq -r .fields.provider_type "$T/out" | paste -sd,)" = unknown,unknown ]
}

@test "a lone record is written while input stays open" {
	start_std_dns
	start --dns-server "127.0.0.1:$DNS_PORT"
	rec img.shop.test >&7
	wait_for 5 lines_are "$T/out" 1
	[ "$(jq -r .fields.provider_name "$T/out")" = "AWS CloudFront" ]
	stop
}

@test "the cache: a second pass sends no queries; failures are retried after --negative-ttl" {
	start_std_dns
	start --dns-server "127.0.0.1:$DNS_PORT" --negative-ttl 1 --metrics-file "$M"
	local hosts="img.shop.test two.shop.test first.shop.test kl.shop.test nx.shop.test"
	for h in $hosts; do rec "$h"; done >&7
	wait_for 5 lines_are "$T/out" 5
	[ "$(queries)" = 5 ]
	for h in $hosts; do rec "$h"; done >&7
	wait_for 5 lines_are "$T/out" 10
	[ "$(queries)" = 5 ]
	diff <(head -5 "$T/out") <(tail -5 "$T/out")
	# The negative entry expires; the answers stay.
	sleep 1.2
	for h in $hosts; do rec "$h"; done >&7
	wait_for 5 lines_are "$T/out" 15
	[ "$(queries)" = 6 ]
	[ "$(queries_for nx.shop.test)" = 2 ]
	stop
	[ "$(metric rum_cdn_cache_hits_total)" = 9 ]
	[ "$(metric rum_cdn_lookups_total)" = 6 ]
}

@test "--cache-size 0 remembers nothing; --cache-size 1 remembers the last host" {
	start_std_dns
	{ rec img.shop.test; } >"$T/in"
	for i in 1 2 3; do "$C" --dns-server "127.0.0.1:$DNS_PORT" --cache-size 0 <"$T/in" >/dev/null; done
	[ "$(queries)" = 3 ]
	start --dns-server "127.0.0.1:$DNS_PORT" --cache-size 1
	n=0
	for h in img.shop.test img.shop.test two.shop.test img.shop.test two.shop.test; do
		rec "$h" >&7
		n=$((n + 1))
		wait_for 5 lines_are "$T/out" "$n"
	done
	stop
	[ "$(queries)" = $((3 + 4)) ]
}

@test "many hosts in flight at once: every record comes out, in order" {
	start_dns --address=/many.test/192.0.2.3 --cname=c.many.test,x.cloudfront.net
	for i in $(seq 1 600); do
		rec "h$i.many.test"
		[ $((i % 50)) = 0 ] && rec c.many.test && echo '{"measurement":"view","tags":{}}'
	done >"$T/in"
	"$C" --dns-server "127.0.0.1:$DNS_PORT" --max-inflight 32 --max-pending 100 --metrics-file "$M" \
		--keep-order <"$T/in" >"$T/out"
	[ "$(lines "$T/out")" = "$(lines "$T/in")" ]
	diff <(jq -r '.tags.resource_url_host // "view"' "$T/in") <(jq -r '.tags.resource_url_host // "view"' "$T/out")
	[ "$(grep -c '"first-party"' "$T/out")" = 600 ]
	[ "$(grep -c '"AWS CloudFront"' "$T/out")" = 12 ]
	[ "$(metric rum_cdn_lookups_total)" = 601 ]
}

@test "long records held behind a lookup come out whole and in order" {
	start_std_dns
	python3 -c '
import json
big = "x" * (3 << 20)
print(json.dumps({"measurement": "resource", "tags": {"resource_url_host": "img.shop.test"}}, separators=(",", ":")))
for i in range(3):
    print(json.dumps({"measurement": "session_replay", "tags": {"n": str(i)}, "fields": {"body": big}}, separators=(",", ":")))
    print(json.dumps({"measurement": "resource", "tags": {"resource_url_host": "h%d.first.shop.test" % i}}, separators=(",", ":")))
' >"$T/in"
	"$C" --dns-server "127.0.0.1:$DNS_PORT" --max-pending 3 --keep-order <"$T/in" >"$T/out"
	[ "$(lines "$T/out")" = 7 ]
	diff <(grep session_replay "$T/in") <(grep session_replay "$T/out")
	jq -r '.tags.n // .tags.resource_url_host' "$T/out" | paste -sd' ' >"$T/order"
	[ "$(cat "$T/order")" = "img.shop.test 0 h0.first.shop.test 1 h1.first.shop.test 2 h2.first.shop.test" ]
	[ "$(jq -r '.fields.provider_type // empty' "$T/out" | paste -sd,)" = CDN,first-party,first-party,first-party ]
}

@test "--cdn-map as a file or as JSON; the most specific entry wins" {
	start_dns --cname=a.shop.test,x.edge.example.net --cname=b.shop.test,y.example.net \
		--cname=c.shop.test,img-7.pics.example.net --cname=d.shop.test,z.other.test \
		--cname=e.shop.test,x.edge.kunlunab.com
	cat >"$T/map.json" <<-'EOF'
		[
		  {"domain": "example.net", "name": "Example", "website": "https://example.net"},
		  {"domain": "EDGE.example.net.", "name": "Example Edge"},
		  {"domain": "img-*.pics.example.net", "name": "Pics glob", "extra": [1, {"x": null}]},
		  {"domain": "*.pics.example.net", "name": "Any pics"}
		]
	EOF
	check --cdn-map "$T/map.json" <<-'EOF'
		a.shop.test|CDN|Example Edge
		b.shop.test|CDN|Example
		c.shop.test|CDN|Pics glob
		d.shop.test|CDN|unknown
		e.shop.test|CDN|unknown
	EOF
	check --cdn-map '[{"domain":"other.test","name":"Other \"CDN\" \u00e9"}]' <<-'EOF'
		a.shop.test|CDN|unknown
		d.shop.test|CDN|Other \"CDN\" é
	EOF
	RUM_CDN_MAP="$T/map.json" check <<-'EOF'
		b.shop.test|CDN|Example
	EOF
}

@test "a bad map: exit 2 with the position and the reason" {
	bad() {
		run -2 "$C" --cdn-map "$1" </dev/null
		echo "$output"
		[[ $output == *"$2"* ]]
	}
	printf '[\n  {"domain": "a.com", "name": "A"},\n  {"domain": "b.com" "name": "B"}\n]\n' >"$T/bad1.json"
	bad "$T/bad1.json" "line 3, column 22"
	bad "$T/bad1.json" "expected ',' or '}'"
	bad '[]' 'no entries'
	bad '[{"name":"x"}]' 'without "domain"'
	bad '[{"domain":"x.com"}]' 'without "name"'
	bad '[{"domain":"x y.com","name":"x"}]' "line 1, column 12"
	bad '[{"domain":"a..com","name":"x"}]' 'empty label'
	bad '[{"domain":5,"name":"x"}]' '"domain" is not a string'
	bad '[{"domain":"a.com","name":"x"}' "expected ',' or ']'"
	bad '[{"domain":"a.com","name":"x"}] x' 'text after the map'
	printf '{"domain":"a.com","name":"x"}' >"$T/obj.json"
	bad "$T/obj.json" "expected '['"
	bad "$T/missing.json" "No such file"
	: >"$T/empty.json"
	bad "$T/empty.json" "line 1, column 1"
	run -2 "$C" --dns-server 1.2.3 </dev/null
	[[ $output == *"--dns-server '1.2.3'"* ]]
	run -2 "$C" --dns-server 127.0.0.1:70000 </dev/null
	run -2 "$C" --dns-timeout 0 </dev/null
	run -0 "$C" --check-config --cdn-map '[{"domain":"a.com","name":"A"}]' --dns-server '[::1]:53,127.0.0.1'
}

@test "the built-in map is DataKit's list, in share/, and works without share/ installed" {
	[ "$(jq length "$TOP/share/cdn-map.json")" = 266 ]
	if [ -f "$FIXTURES/cdn/builtin-cdn.json" ]; then
		jq -e --slurpfile a "$FIXTURES/cdn/builtin-cdn.json" '. == $a[0]' "$TOP/share/cdn-map.json"
	fi
	start_dns --cname=a.shop.test,x.alikunlun.com --cname=b.shop.test,y.kunlunca.com
	cp "$C" "$T/rum-cdn"
	C=$T/rum-cdn check <<-'EOF'
		a.shop.test|CDN|阿里云 CDN
		b.shop.test|CDN|阿里云 CDN
	EOF
}

@test "SIGHUP rereads the map (cached answers take the new names); a bad map keeps the old one" {
	start_std_dns
	echo '[{"domain":"cloudfront.net","name":"First name"}]' >"$T/map.json"
	start --dns-server "127.0.0.1:$DNS_PORT" --cdn-map "$T/map.json" --metrics-file "$M"
	rec img.shop.test >&7
	wait_for 5 lines_are "$T/out" 1
	echo '[{"domain":"cloudfront.net","name":"Second name"}]' >"$T/map.json"
	kill -HUP "$C_PID"
	wait_for 5 grep -q 'map reloaded' "$T/err"
	rec img.shop.test >&7
	wait_for 5 lines_are "$T/out" 2
	echo '[{"domain":' >"$T/map.json"
	kill -HUP "$C_PID"
	wait_for 5 grep -q 'cannot reload the map' "$T/err"
	rec img.shop.test >&7
	wait_for 5 lines_are "$T/out" 3
	stop
	jq -r .fields.provider_name "$T/out" | paste -sd, >"$T/names"
	[ "$(cat "$T/names")" = "First name,Second name,Second name" ]
	[ "$(queries)" = 1 ]
	grep -q 'line 2, column 1 (byte 12)' "$T/err"
	[ "$(metric rum_cdn_reloads_total)" = 1 ]
	[ "$(metric rum_cdn_reload_failures_total)" = 1 ]
}

@test "invalid lines are counted, reported with their line number and dropped; SIGTERM drains" {
	start_std_dns
	start --dns-server "127.0.0.1:$DNS_PORT" --metrics-file "$M"
	{
		rec img.shop.test
		echo 'not json'
		rec first.shop.test
	} >&7
	wait_for 5 lines_are "$T/out" 2
	grep -q 'line 2: ' "$T/err"
	kill -TERM "$C_PID"
	wait "$C_PID"
	C_PID=
	[ "$(metric 'rum_cdn_invalid_lines_total{reason="record"}')" = 1 ]
	[ "$(metric rum_cdn_records_total)" = 2 ]
}

@test "the sample mix: every record comes out, only resource records changed" {
	start_dns --cname=static.alicdn.com,static.alicdn.com.danuoyi.alicdn.com \
		--cname=fonts.gstatic.com,gstaticadssl.l.google.com --address=/example.com/192.0.2.5 \
		--cname=cdn.example.net,cdn.example.net.cdn.cloudflare.net
	"$TOOLS/gen-records" 3000 >"$T/in"
	"$C" --dns-server "127.0.0.1:$DNS_PORT" --keep-order <"$T/in" >"$T/out"
	[ "$(lines "$T/out")" = 3000 ]
	jq -c 'if .measurement == "resource" then .fields |= del(.provider_type, .provider_name) else . end' "$T/out" >"$T/stripped"
	jq -c . "$T/in" | diff -q - "$T/stripped"
	grep -v '"measurement":"resource"' "$T/in" >"$T/a"
	grep -v '"measurement":"resource"' "$T/out" >"$T/b"
	cmp "$T/a" "$T/b"
	[ "$(jq -r 'select(.measurement == "resource") | "\(.tags.resource_url_host) \(.fields.provider_type) \(.fields.provider_name)"' "$T/out" | sort -u | wc -l)" = 5 ]
	[ "$(queries)" = 5 ]
}
