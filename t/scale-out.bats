#!/usr/bin/env bats
# Scaled out on one machine, as issue 18 draws it: haproxy → 2 edge nodes
# (rum-collector: rum-listen | rum-replay-filter | rum-ship --sink kafka://)
# → the mock Kafka cluster (3 brokers) → 2 processing nodes in one group
# (rum-collector: rum-consume | rum-enrich | rum-cdn | rum-symbolicate |
# rum-ship) → the fake Dataway. A client numbers its points; mid-stream one
# edge node's rum-listen and one processing node's rum-consume are killed
# with -9 (their supervisors restart them). Every point that got a 2xx
# must reach the Dataway; duplicates are reported.

load lib/common
load lib/kafka
bats_require_minimum_version 1.5.0

setup() {
	command -v haproxy >/dev/null || skip "haproxy is not installed"
	T=$BATS_TEST_TMPDIR
	PIDS=()
}

teardown() {
	for p in "${PIDS[@]}"; do stop_pid "$p" TERM; done
	pkill -KILL -f "$T/" 2>/dev/null || true
	[ -n "${FAKE_PID:-}" ] && stop_pid "$FAKE_PID" KILL
	stop_mock_kafka
	true
}

# collector NAME CONFIG-TEXT: a rum-collector with that configuration in
# $T/NAME (its data and run directories there), its log in $T/NAME.err.
collector() {
	mkdir -p "$T/$1"
	printf 'data_dir = "%s"\nrestart_backoff_max = 1\ndrain_timeout = 30\n%s\n' "$T/$1/data" "$2" >"$T/$1/conf"
	"$BIN/rum-collector" -c "$T/$1/conf" >"$T/$1.out" 2>"$T/$1.err" &
	PIDS+=($!)
}

edge() { # NAME PORT
	collector "$1" "[listen]
listen = \"127.0.0.1:$2\"
[ship]
sink = \"kafka://$KAFKA/rum?replay_topic=rum-replay\"
flush_interval = 50"
}

processing() { # NAME
	collector "$1" "[consume]
source = \"kafka://$KAFKA/rum?group=rumpipe\"
kafka_opt = [\"session.timeout.ms=6000\", \"heartbeat.interval.ms=500\"]
[ship]
sink = \"$(dw)\"
flush_interval = 100"
}

# The seq numbers of the points the Dataway took (2xx), one a line, in
# comm's order (not numeric).
seqs_at_dataway() {
	"$TOP/t/lib/dataway-check" bodies "$FAKE_LOG" | grep -o ' seq=[0-9]*i' | tr -dc '0-9\n' | sort
}
all_arrived() { [ -z "$(comm -23 "$T/ok.sorted" <(seqs_at_dataway | sort -u))" ]; }

@test "haproxy → 2 edge nodes → Kafka → 2 processing nodes → Dataway: kill -9 an edge rum-listen and a rum-consume mid-stream, every 2xx point arrives" {
	not_under_sanitizers "tens of seconds of outage or a whole cluster"
	start_mock_kafka 3
	kafka_cmd topic rum 6 3
	kafka_cmd topic rum-replay 2 3
	kafka_cmd coordinator rumpipe 1
	start_fake_dataway
	local p1 p2 hp
	p1=$(free_port) p2=$(free_port) hp=$(free_port)
	edge e1 "$p1"
	edge e2 "$p2"
	processing w1
	processing w2
	# Four collectors start at once, each checking its stages' options
	# first: slow under the sanitizers on two cores.
	local n
	for n in "$p1" "$p2"; do
		wait_port "$n" 90 || { tail -n 20 "$T/e1.err" "$T/e2.err"; return 1; }
	done
	cat >"$T/haproxy.cfg" <<-CFG
		global
		  maxconn 2000
		defaults
		  mode http
		  timeout connect 2s
		  timeout client 20s
		  timeout server 20s
		  retries 3
		  option redispatch
		frontend rum
		  bind 127.0.0.1:$hp
		  default_backend edges
		backend edges
		  balance roundrobin
		  option httpchk GET /v1/ping
		  server e1 127.0.0.1:$p1 check inter 200 fall 1 rise 2
		  server e2 127.0.0.1:$p2 check inter 200 fall 1 rise 2
	CFG
	haproxy -f "$T/haproxy.cfg" -db >"$T/haproxy.log" 2>&1 &
	PIDS+=($!)
	wait_port "$hp" 10
	"$TOP/t/lib/numbered-client" "http://127.0.0.1:$hp/v1/write/rum?precision=ms" "$T/ok" --seconds 12 >"$T/client" &
	local client=$!
	sleep 4
	pkill -KILL -f "rum-listen --listen 127.0.0.1:$p1"
	sleep 3
	pkill -KILL -f "rum-consume .*$T/w1/"
	wait "$client"
	cat "$T/client"
	sort -u "$T/ok" >"$T/ok.sorted"
	[ "$(wc -l <"$T/ok.sorted")" -gt 1000 ]
	wait_for 90 all_arrived || {
		echo "missing: $(comm -23 "$T/ok.sorted" <(seqs_at_dataway | sort -u) | wc -l)"
		return 1
	}
	local got uniq
	got=$(seqs_at_dataway | wc -l)
	uniq=$(seqs_at_dataway | sort -u | wc -l)
	echo "# $(cat "$T/client"); at the Dataway: $uniq distinct, $((got - uniq)) duplicates" >&3
	# both processing nodes took part, and both restarts happened
	grep -q 'rum-listen exited with status' "$T/e1.err"
	grep -q 'rum-consume exited with status' "$T/w1.err"
	for n in e1 e2 w1 w2; do ! grep -q 'AddressSanitizer\|runtime error' "$T/$n.err"; done
}
