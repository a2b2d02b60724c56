#!/usr/bin/env bats
# Every stage moves itself to SCHED_BATCH unless a policy was chosen for it.
load lib/common

setup() {
	D=$(mktemp -d)
	PIDS=()
}

teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$D"
}

# start_stage NAME COMMAND...: runs COMMAND reading a FIFO that stays open,
# and waits until it has set itself up; its PID in $P
start_stage() {
	local name=$1
	shift
	mkfifo "$D/in.$name"
	exec {keep}<>"$D/in.$name"
	"$@" <"$D/in.$name" >/dev/null 2>"$D/err.$name" &
	P=$!
	PIDS+=("$P")
	# the policy is set before the signal handlers: wait for those
	wait_for 5 grep -q '^SigCgt:.*[1-9a-f]' /proc/"$P"/status
}

@test "each stage runs under SCHED_BATCH, in all its threads" {
	start_stage ship "$BIN/rum-ship" --sink -
	S=$P
	start_stage filter "$BIN/rum-replay-filter" --rule "{ service = 'x' }"
	F=$P
	start_stage enrich "$BIN/rum-enrich"
	E=$P
	port=$(free_port)
	"$BIN/rum-listen" --listen "127.0.0.1:$port" --threads 2 >/dev/null 2>"$D/err.listen" &
	L=$!
	PIDS+=("$L")
	wait_port "$port"
	for p in $S $F $E $L; do
		[ "$(sched_policy "$p")" = SCHED_BATCH ]
	done
	# rum-listen's HTTP threads are there and inherited it
	[ "$(ls /proc/"$L"/task | wc -l)" -ge 3 ]
}

@test "a policy chosen with chrt is kept" {
	start_stage idle chrt --idle 0 "$BIN/rum-ship" --sink -
	[ "$(sched_policy "$P")" = SCHED_IDLE ]
	# SCHED_OTHER is the default: choosing it cannot be told from no choice
	start_stage other chrt --other 0 "$BIN/rum-ship" --sink -
	[ "$(sched_policy "$P")" = SCHED_BATCH ]
}

@test "--sched other (or RUM_SCHED=other) keeps the default policy; a bad value exits 2" {
	start_stage flag "$BIN/rum-ship" --sink - --sched other
	[ "$(sched_policy "$P")" = SCHED_OTHER ]
	RUM_SCHED=other start_stage env "$BIN/rum-replay-filter" --rule "{ service = 'x' }"
	[ "$(sched_policy "$P")" = SCHED_OTHER ]
	start_stage batch "$BIN/rum-enrich" --sched batch
	[ "$(sched_policy "$P")" = SCHED_BATCH ]
	run "$BIN/rum-listen" --sched fifo
	[ "$status" -eq 2 ]
	[[ $output == *"--sched"*"expected batch or other"* ]]
}

