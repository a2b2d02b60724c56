#!/usr/bin/env bats
# The disk queue (common/dq.c), driven through t/tools/dqtool.

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	DQ=$TOOLS/dqtool
	D=$BATS_TEST_TMPDIR/q
}

teardown() {
	[ -n "${BGPID:-}" ] && stop_pid "$BGPID" KILL
	true
}

# lines N [WIDTH]: "00001-xxx…" … each WIDTH bytes long (default 5)
lines_n() {
	python3 -c 'import sys
n, w = int(sys.argv[1]), int(sys.argv[2])
for i in range(1, n + 1):
    s = "%05d" % i
    print((s + "-" + "x" * w)[:w] if w > 5 else s)' "$1" "${2:-5}"
}

# flip_byte FILE OFFSET: invert one byte in place
flip_byte() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

stat_of() { # stat_of NAME: one counter from `dqtool stats`
	"$DQ" stats "$D" "$CAP" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

segs() { ls "$D" | grep -c '\.seg$'; }

@test "entries come back in order, across reopen; acks persist" {
	CAP=1048576
	lines_n 1000 | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" peek "$D" $CAP 100000
	[ "$status" -eq 0 ]
	[ "$output" = "$(lines_n 1000)" ]
	[ "$(stat_of entries)" = 1000 ]
	run --separate-stderr "$DQ" pop "$D" $CAP 300
	[ "$output" = "$(lines_n 300)" ]
	[ "$(stat_of entries)" = 700 ]
	lines_n 1200 | tail -n 200 | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" pop "$D" $CAP 100000
	[ "$output" = "$(lines_n 1200 | tail -n 900)" ]
	run --separate-stderr "$DQ" peek "$D" $CAP 10
	[ -z "$output" ]
	[ "$(stat_of entries)" = 0 ]
}

@test "read but unacknowledged entries are delivered again after reopen" {
	CAP=1048576
	lines_n 5 | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" script "$D" $CAP r r r a2 s
	[ "${lines[0]}" = 00001 ]
	[ "${lines[2]}" = 00003 ]
	[[ "${lines[3]}" == entries=3\ * ]]
	run --separate-stderr "$DQ" peek "$D" $CAP 10
	[ "$output" = "$(printf '00003\n00004\n00005')" ]
}

@test "rewind redelivers from the ack; a late ack after rewind skips what it covers" {
	CAP=1048576
	lines_n 4 | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" script "$D" $CAP r r r a1 w r r
	[ "$output" = "$(printf '00001\n00002\n00003\n00002\n00003')" ]
	run --separate-stderr "$DQ" script "$D" $CAP r r r w a2 r r s
	[ "$output" = "$(printf '00002\n00003\n00004\n00004\n(none)\nentries=1 bytes=68 dropped_entries=0 dropped_bytes=0 corrupt=0')" ]
}

@test "an ack file that is garbage or missing restarts at the oldest segment" {
	CAP=1048576
	lines_n 10 | "$DQ" push "$D" $CAP
	"$DQ" pop "$D" $CAP 4 >/dev/null
	run --separate-stderr "$DQ" peek "$D" $CAP 1
	[ "$output" = 00005 ]
	head -c 64 /dev/urandom >"$D/ack"
	run --separate-stderr "$DQ" peek "$D" $CAP 1
	[ "$output" = 00001 ]
	"$DQ" pop "$D" $CAP 4 >/dev/null
	rm "$D/ack"
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(lines_n 10)" ]
}

@test "acknowledged segments are deleted" {
	CAP=524288 # 64 KiB segments
	lines_n 3000 100 | "$DQ" push "$D" $CAP
	[ "$(segs)" -ge 4 ]
	"$DQ" pop "$D" $CAP 2000 >/dev/null
	[ "$(segs)" -le 3 ]
	run --separate-stderr "$DQ" peek "$D" $CAP 1
	[ "$output" = "$(lines_n 2001 100 | tail -n 1)" ]
	"$DQ" pop "$D" $CAP 1000 >/dev/null
	[ "$(segs)" -eq 1 ]
	[ "$(stat_of entries)" = 0 ]
}

@test "over capacity the oldest segments are dropped and counted" {
	CAP=262144 # 64 KiB segments
	run --separate-stderr "$DQ" pushstats "$D" $CAP < <(lines_n 4000 100)
	[ "$status" -eq 0 ]
	echo "$output"
	eval "${output// /;}"
	[ "$dropped_entries" -gt 0 ]
	[ "$bytes" -le $CAP ]
	[ "$entries" -eq $((4000 - dropped_entries)) ]
	# 112 bytes an entry on disk: 12 of header, 100 of payload
	[ "$dropped_bytes" -eq $((dropped_entries * 112)) ]
	[ "$bytes" -eq $((entries * 112)) ]
	[ "$(cat "$D"/*.seg | wc -c)" -eq "$bytes" ]
	# what is left is the newest entries, in order
	run --separate-stderr "$DQ" peek "$D" $CAP 100000
	[ "${#lines[@]}" -eq "$entries" ]
	[ "$output" = "$(lines_n 4000 100 | tail -n "$entries")" ]
}

@test "eviction counts only what was not acknowledged" {
	CAP=262144 # 64 KiB segments, 585 entries each
	lines_n 1000 100 | "$DQ" push "$D" $CAP
	"$DQ" pop "$D" $CAP 500 >/dev/null
	run --separate-stderr "$DQ" pushstats "$D" $CAP < <(lines_n 3000 100 | tail -n 2000)
	echo "$output"
	eval "${output// /;}"
	# the first segment goes with 85 entries not yet acknowledged
	[ "$dropped_entries" -ge 85 ]
	[ $(((dropped_entries - 85) % 585)) -eq 0 ]
	[ "$dropped_bytes" -eq $((dropped_entries * 112)) ]
	[ $((dropped_entries + entries)) -eq 2500 ]
	run --separate-stderr "$DQ" peek "$D" $CAP 100000
	[ "$output" = "$(lines_n 3000 100 | tail -n "$entries")" ]
}

@test "kill -9 while pushing: every completed push is there once, in order; acked ones never come back" {
	CAP=$((1 << 30))
	P=$BATS_TEST_TMPDIR/progress
	acked=0
	next=1
	for round in 1 2 3 4; do
		rm -f "$P"
		"$DQ" pushslow "$D" $CAP "$P" 20000 300 $next &
		BGPID=$!
		wait_for 20 test -s "$P"
		sleep 0.$((RANDOM % 4 + 2))
		kill -KILL $BGPID
		wait $BGPID || true
		BGPID=
		done_push=$(tail -n 1 "$P")
		"$DQ" peek "$D" $CAP 10000000 | cut -d: -f1 >"$BATS_TEST_TMPDIR/got"
		first=$(head -n 1 "$BATS_TEST_TMPDIR/got")
		last=$(tail -n 1 "$BATS_TEST_TMPDIR/got")
		echo "round $round: acked $acked, pushed $next..$done_push, queue $first..$last"
		[ "$first" -eq $((acked + 1)) ]
		seq "$first" "$last" | cmp - "$BATS_TEST_TMPDIR/got"
		# the last push may have completed without its progress line
		[ "$last" -ge "$done_push" ]
		[ "$last" -le $((done_push + 1)) ]
		# consume some: they are gone for good
		k=$(((last - acked) / 2))
		"$DQ" pop "$D" $CAP $k | cut -d: -f1 >"$BATS_TEST_TMPDIR/popped"
		seq $((acked + 1)) $((acked + k)) | cmp - "$BATS_TEST_TMPDIR/popped"
		acked=$((acked + k))
		next=$((last + 1))
	done
	[ "$(stat_of dropped_entries)" = 0 ]
}

@test "kill -9 while consuming: nothing is lost, at most the unacknowledged one comes twice" {
	CAP=$((64 << 20))
	lines_n 3000 | "$DQ" push "$D" $CAP
	"$DQ" pop "$D" $CAP 100000 1000 >"$BATS_TEST_TMPDIR/out1" &
	BGPID=$!
	wait_for 20 has_lines "$BATS_TEST_TMPDIR/out1" 20
	sleep 0.$((RANDOM % 3 + 1))
	kill -KILL $BGPID
	wait $BGPID || true
	BGPID=
	"$DQ" pop "$D" $CAP 100000 >"$BATS_TEST_TMPDIR/out2"
	n1=$(wc -l <"$BATS_TEST_TMPDIR/out1")
	[ "$n1" -gt 10 ]
	[ "$n1" -lt 3000 ]
	l1=$(tail -n 1 "$BATS_TEST_TMPDIR/out1")
	f2=$(head -n 1 "$BATS_TEST_TMPDIR/out2")
	[ $((10#$f2)) -eq $((10#$l1)) ] || [ $((10#$f2)) -eq $((10#$l1 + 1)) ]
	sort -u "$BATS_TEST_TMPDIR/out1" "$BATS_TEST_TMPDIR/out2" | cmp - <(lines_n 3000)
}

@test "a torn tail is cut off and the queue goes on" {
	CAP=1048576
	lines_n 10 | "$DQ" push "$D" $CAP
	seg=$(ls "$D"/*.seg)
	truncate -s -3 "$seg"
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(lines_n 9)" ]
	run --separate-stderr "$DQ" script "$D" $CAP s
	[[ "$output" == *" corrupt=0" ]] # cut by the previous open
	[ "$(stat -c %s "$seg")" -eq $((9 * 17)) ]
	echo more | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(lines_n 9; echo more)" ]

	# garbage appended
	head -c 1000 /dev/urandom >>"$seg"
	run --separate-stderr "$DQ" script "$D" $CAP s r
	[[ "${lines[0]}" == *" corrupt=1" ]]
	[ "${lines[1]}" = 00001 ]
	echo again | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(lines_n 9; echo more; echo again)" ]
	# only a header
	printf 'DRQ1' >>"$seg"
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(lines_n 9; echo more; echo again)" ]
}

@test "a batch torn by a crash is dropped whole" {
	CAP=1048576
	lines_n 3 | "$DQ" push "$D" $CAP
	printf 'b1\nb2\nb3\nb4\n' | "$DQ" pushv "$D" $CAP 4
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(lines_n 3; printf 'b1\nb2\nb3\nb4')" ]
	truncate -s -1 "$(ls "$D"/*.seg)"
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(lines_n 3)" ]
	run --separate-stderr "$DQ" script "$D" $CAP s
	[[ "$output" == entries=3\ * ]]
}

@test "a corrupt byte in an old segment: the rest of that segment is skipped and counted" {
	CAP=524288 # 64 KiB segments of 100-byte entries: 585 an entry each
	lines_n 2000 100 | "$DQ" push "$D" $CAP
	first=$(ls "$D"/*.seg | head -n 1)
	run --separate-stderr "$DQ" scan "$first"
	[ "$output" = "valid=65520 entries=585" ]
	# entry 47 starts at 46 * 112; hit its payload
	flip_byte "$first" $((46 * 112 + 30))
	run --separate-stderr "$DQ" scan "$first"
	[ "$output" = "valid=5152 entries=46" ]
	run --separate-stderr "$DQ" script "$D" $CAP s
	[[ "$output" == entries=2000\ *corrupt=0 ]]
	run --separate-stderr "$DQ" pop "$D" $CAP 100000
	[ "$status" -eq 0 ]
	[ "$output" = "$(lines_n 2000 100 | sed -n '1,46p; 586,$p')" ]
	[ "$(stat_of entries)" = 0 ]

	# a bad header is found when the queue opens
	rm -rf "$D"
	lines_n 2000 100 | "$DQ" push "$D" $CAP
	flip_byte "$(ls "$D"/*.seg | head -n 1)" $((100 * 112 + 1))
	run --separate-stderr "$DQ" script "$D" $CAP s
	[[ "$output" == entries=1515\ *corrupt=1 ]]
	run --separate-stderr "$DQ" peek "$D" $CAP 100000
	[ "$output" = "$(lines_n 2000 100 | sed -n '1,100p; 586,$p')" ]
}

@test "a corrupt length in an old segment does not crash or loop" {
	CAP=524288
	lines_n 2000 100 | "$DQ" push "$D" $CAP
	first=$(ls "$D"/*.seg | head -n 1)
	# length field of entry 11 → 0x7fffff64: far past the end of the file
	flip_byte "$first" $((10 * 112 + 7))
	run --separate-stderr timeout 20 "$DQ" pop "$D" $CAP 100000
	[ "$status" -eq 0 ]
	[ "$output" = "$(lines_n 2000 100 | sed -n '1,10p; 586,$p')" ]
	run --separate-stderr "$DQ" pop "$D" $CAP 100000
	[ -z "$output" ]
}

@test "a second process cannot open the same queue" {
	CAP=1048576
	"$DQ" hold "$D" $CAP 5000 >"$BATS_TEST_TMPDIR/held" &
	BGPID=$!
	wait_for 10 grep -q held "$BATS_TEST_TMPDIR/held"
	run --separate-stderr "$DQ" stats "$D" $CAP
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"in use by another process"* ]]
	stop_pid $BGPID KILL
	BGPID=
	run --separate-stderr "$DQ" stats "$D" $CAP
	[ "$status" -eq 0 ]
}

@test "an entry bigger than a segment gets one of its own" {
	CAP=$((16 << 20)) # 2 MiB segments
	big=$BATS_TEST_TMPDIR/big
	python3 -c 'print("B" * (5 << 20))' >"$big"
	{
		echo before
		cat "$big"
		echo after
	} | "$DQ" push "$D" $CAP
	[ "$(segs)" -eq 3 ]
	run --separate-stderr "$DQ" pop "$D" $CAP 1
	[ "$output" = before ]
	"$DQ" pop "$D" $CAP 1 | cmp - "$big"
	run --separate-stderr "$DQ" pop "$D" $CAP 1
	[ "$output" = after ]
}

@test "an entry bigger than the capacity is refused; the queue stays usable" {
	CAP=100000
	echo small | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" push "$D" $CAP < <(python3 -c 'print("x" * 200000)')
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"File too large"* ]]
	# a batch over the capacity is refused whole
	run --separate-stderr "$DQ" pushv "$D" $CAP 3 < <(python3 -c 'print("a"); print("x" * 99990); print("b")')
	[ "$status" -eq 1 ]
	echo small2 | "$DQ" push "$D" $CAP
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$output" = "$(printf 'small\nsmall2')" ]
	# exactly the capacity (12 bytes of header) fits, and evicts the rest
	run --separate-stderr "$DQ" pushstats "$D" $CAP < <(python3 -c 'print("y" * (100000 - 12))')
	[ "$status" -eq 0 ]
	[[ "$output" == *"dropped_entries=2 "* ]]
	[ "$(stat_of bytes)" -eq 100000 ]
}

@test "pushv writes batches that read back in order" {
	CAP=1048576
	lines_n 1000 | "$DQ" pushv "$D" $CAP 7
	run --separate-stderr "$DQ" peek "$D" $CAP 100000
	[ "$output" = "$(lines_n 1000)" ]
	[ "$(stat_of entries)" = 1000 ]
}

@test "threads push while a consumer waits, reads and acks; dq_wake ends the wait" {
	CAP=$((256 << 20))
	run --separate-stderr "$DQ" threads "$D" $CAP 8 20000
	[ "$status" -eq 0 ]
	echo "$output"
	eval "${output// /;}"
	[ "$total" -eq 160000 ]
	[ "$wake_ms" -lt 1000 ]
	[ "$(stat_of entries)" = 0 ]
}

@test "10k pushes of 7 KB take well under a second" {
	CAP=$((256 << 20))
	run --separate-stderr "$DQ" bench "$D" $CAP 10000 7000
	[ "$status" -eq 0 ]
	echo "$output"
	eval "${output// /;}"
	limit=1000
	[[ $RUMPIPE_BUILD == *san* ]] && limit=5000
	[ "$push_ms" -lt $limit ]
}

@test "a queue smaller than a segment keeps its newest entries" {
	CAP=4096
	run --separate-stderr "$DQ" pushstats "$D" $CAP < <(lines_n 200 100)
	eval "${output// /;}"
	[ "$bytes" -le $CAP ]
	[ "$entries" -ge 18 ] # at least half the capacity is kept
	[ $((entries + dropped_entries)) -eq 200 ]
	run --separate-stderr "$DQ" peek "$D" $CAP 1000
	[ "$output" = "$(lines_n 200 100 | tail -n "$entries")" ]
}

@test "acking positions far behind the read position (rum-ship's window) counts right" {
	CAP=524288 # 64 KiB segments, 585 entries each
	lines_n 2000 100 | "$DQ" push "$D" $CAP
	reads=$(printf 'r %.0s' $(seq 1000))
	run --separate-stderr "$DQ" script "$D" $CAP $reads a1 a5 s a700 s a1000 s
	[ "${lines[1000]}" = "entries=1995 bytes=224000 dropped_entries=0 dropped_bytes=0 corrupt=0" ]
	[[ "${lines[1001]}" == entries=1300\ * ]]
	[[ "${lines[1002]}" == entries=1000\ * ]]
	run --separate-stderr "$DQ" peek "$D" $CAP 1
	[ "$output" = "$(lines_n 1001 100 | tail -n 1)" ]
}

@test "a queue written with zlib's CRC-32 (before libdeflate's) reads back whole" {
	# t/data/dq-zlib-crc: 22 entries (one of 70 KB) pushed and 3 acked by
	# dqtool when dq.c summed with zlib's crc32; its CRCs must still check.
	CAP=1048576
	cp -r "$BATS_TEST_DIRNAME/data/dq-zlib-crc" "$D"
	run "$DQ" peek "$D" 1048576 100
	[ "$status" -eq 0 ]
	diff <(printf '%s\n' "$output") "$BATS_TEST_DIRNAME/data/dq-zlib-crc.expected"
	[ "$(stat_of corrupt)" = 0 ]
	[ "$(stat_of entries)" = 19 ]
	# and what the new code writes reads back with the same sums
	printf 'after\n' | "$DQ" push "$D" 1048576
	run "$DQ" pop "$D" 1048576 100
	[ "${lines[19]}" = after ]
	[ "$(stat_of corrupt)" = 0 ]
}

@test "dq_push_keep: entries read back from memory as pushed; a rewind reads the files" {
	CAP=1048576
	run --separate-stderr "$DQ" script "$D" $CAP kone ktwo r kthree r r r w r r r a2 s
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'one\ntwo\nthree\n(none)\none\ntwo\nthree\nentries=1 bytes=47 dropped_entries=0 dropped_bytes=0 corrupt=0')" ]
	# what was kept was written too, sums and all
	run "$DQ" peek "$D" $CAP 10
	[ "$output" = three ]
	[ "$(stat_of corrupt)" = 0 ]
}

@test "dq_push_keep past the capacity: the reader gets what a reader of the files gets" {
	CAP=8192
	# 36 entries of 400 bytes (some evicted at once), 3 read, 20 more
	# (evicting the ones being read), then read to the end
	args=()
	for i in $(seq 10 45); do args+=("ke$i-*100"); done
	args+=(r r r)
	for i in $(seq 10 29); do args+=("kf$i-*100"); done
	for i in $(seq 1 25); do args+=(r); done
	run --separate-stderr "$DQ" script "$D" $CAP "${args[@]}"
	[ "$status" -eq 0 ]
	got=$(printf '%s\n' "${lines[@]}" | grep -v '^(none)$' | cut -c1-4 | tr '\n' ' ')
	[ "$got" = "e28- e29- e30- f19- f20- f21- f22- f23- f24- f25- f26- f27- f28- f29- " ]
	# nothing was acked: a fresh reader of the files sees the same ones
	run --separate-stderr "$DQ" peek "$D" $CAP 100
	[ "$(printf '%s\n' "${lines[@]}" | cut -c1-4 | tr '\n' ' ')" = "f19- f20- f21- f22- f23- f24- f25- f26- f27- f28- f29- " ]
	[ "${lines[0]}" = "$(printf 'f19-%.0s' $(seq 100))" ]
	[ "$(stat_of corrupt)" = 0 ]
}
