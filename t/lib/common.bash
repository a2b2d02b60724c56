# Helpers shared by the bats tests.
BIN=${RUMPIPE_BUILD:?run the tests with make check}/bin
TOOLS=$RUMPIPE_BUILD/tools
TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
SHARED=$(cd "$TOP/../shared" 2>/dev/null && pwd || true)
FIXTURES=${SHARED:+$SHARED/fixtures}

# not_under_sanitizers WHY: skips a test in the ASan+UBSan pass (make check
# SANITIZE=1). For the tests that install, package or drive whole systems
# for long (a browser, a .deb, minutes of faults): they check integration,
# which the normal pass does, and CI cannot afford them twice. The code
# they reach is covered under the sanitizers by the shorter tests. Call it
# from a test or setup(): bats 1.8 counts a skip in setup_file as a failure.
not_under_sanitizers() {
	[ "${RUMPIPE_SANITIZE:-}" != 1 ] || skip "${1:-integration test}: run in the normal pass only"
}

# A TCP port free on 127.0.0.1 right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
	local port=$1 t=$((${2:-10} * 20))
	while ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; do
		((t-- > 0)) || { echo "nothing listens on port $port" >&2; return 1; }
		sleep 0.05
	done
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	local t=$(($1 * 10))
	shift
	until "$@"; do
		((t-- > 0)) || { echo "timed out waiting for: $*" >&2; return 1; }
		sleep 0.1
	done
}

# count_at_least N COMMAND...: COMMAND prints a number >= N (for wait_for,
# which must re-run the count each time rather than take it once).
count_at_least() {
	local n=$1 got
	shift
	got=$("$@" 2>/dev/null) || true
	[ "${got:-0}" -ge "$n" ]
}

# Number of lines in a file (0 when it does not exist).
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# lines_are FILE N: FILE has N lines (for wait_for).
lines_are() { [ "$(lines "$1")" = "$2" ]; }

# metric NAME [FILE]: the value of NAME (with its labels, as written) in a
# metrics file in the text format, FILE or else $M ("-": standard input);
# nothing when it is absent. Through the environment, so that awk reads
# the backslashes of a label as they are.
metric() { K=$1 awk '$1 == ENVIRON["K"] { print $2 }' "${2:-$M}"; }

# start_fifo_stage PID-VAR FD PROGRAM [ARG]...: PROGRAM reading the FIFO
# $T/fifo, which this shell holds open for writing on FD (so that the stage
# sees no end of input until the test closes it), writing $T/out and
# $T/err; its pid in the variable named PID-VAR.
start_fifo_stage() {
	local var=$1 fd=$2
	shift 2
	mkfifo "$T/fifo"
	eval '"$@" <"$T/fifo" >"$T/out" 2>"$T/err" '"$fd"'>&- &'
	printf -v "$var" %s $!
	eval 'exec '"$fd"'>"$T/fifo"'
}

# start_fake_dataway [OPTION]...: the fake Dataway (t/lib/fake-dataway,
# given the OPTIONs) on a port of its own, or on --port P to come back
# where it was; sets FAKE_PORT, FAKE_LOG, FAKE_FAIL, FAKE_PID.
start_fake_dataway() {
	FAKE_LOG=$BATS_TEST_TMPDIR/dataway.log
	FAKE_FAIL=$BATS_TEST_TMPDIR/dataway.fail
	rm -f "$BATS_TEST_TMPDIR/dataway.port"
	python3 "$TOP/t/lib/fake-dataway" --port-file "$BATS_TEST_TMPDIR/dataway.port" \
		--log "$FAKE_LOG" --fail-file "$FAKE_FAIL" "$@" 2>>"$BATS_TEST_TMPDIR/dataway.err" &
	FAKE_PID=$!
	wait_for 10 test -s "$BATS_TEST_TMPDIR/dataway.port"
	FAKE_PORT=$(cat "$BATS_TEST_TMPDIR/dataway.port")
	wait_port "$FAKE_PORT"
}

# dw [QUERY-MORE]: the fake Dataway's URL with the test token (and
# QUERY-MORE, "&name=value", after it).
dw() { echo "http://127.0.0.1:$FAKE_PORT/?token=tkn_test${1:-}"; }

# Kill a process and wait for it, ignoring "no such process".
stop_pid() {
	local pid=$1 sig=${2:-TERM}
	kill -"$sig" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# sched_policy PID: the CPU scheduling policies of PID's threads, one a line
# (one line when they all agree)
sched_policy() {
	local t
	for t in /proc/"$1"/task/*; do
		chrt -p "${t##*/}" | awk -F': *' '/policy/ { print $2 }'
	done | sort -u
}
