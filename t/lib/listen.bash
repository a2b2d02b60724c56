# Helpers for the tests of rum-listen (sourced after common.bash): start it
# and learn its port, ask it, check its JSON errors, read its /metrics, and
# network namespaces that give clients addresses of their own. The test file
# sets D (the test's directory), OUT (where the records go) and ERR (the log).

# listen_vars: for setup, D (the test's directory), OUT (the records), ERR
# (the log), and no listener (LPID) or namespaces (NETNS) yet.
listen_vars() {
	D=$BATS_TEST_TMPDIR
	OUT=$D/out.ndjson
	ERR=$D/err.log
	LPID=
	NETNS=
}

# listen_teardown: kills the listener left running (LPID) and removes the
# namespaces of netns_pair (NETNS).
listen_teardown() {
	[ -n "$LPID" ] && stop_pid "$LPID" KILL
	for ns in ${NETNS:-}; do ip netns del "$ns" 2>/dev/null; done
	true
}

# listen_at [-n NETNS] ADDR OUT [OPTION]...: rum-listen on ADDR (an IPv6
# address in brackets) on a port the kernel picks, in NETNS when given, its
# records appended to OUT (appended, so that a test may empty the file
# between requests) and its log in $ERR, emptied first so that the line of
# a listener before does not count; sets LPID, PORT, URL.
listen_at() {
	local ns=
	if [ "$1" = -n ]; then
		ns=$2
		shift 2
	fi
	local addr=$1 out=$2 re
	shift 2
	re=$(printf '%s' "$addr" | sed 's/[].[]/\\&/g')
	: >"$ERR"
	${ns:+ip netns exec "$ns"} "$BIN/rum-listen" --listen "$addr:0" "$@" >>"$out" 2>"$ERR" &
	LPID=$!
	wait_for 10 grep -q 'listening on' "$ERR"
	PORT=$(sed -n "s/.*listening on $re:\([0-9]*\).*/\1/p" "$ERR" | head -1)
	URL=http://$addr:$PORT
}

# start_listen [OPTION]...: listen_at 127.0.0.1 into $OUT, with the
# options the test file puts in the array LISTEN_OPTS before OPTIONs.
start_listen() {
	listen_at 127.0.0.1 "$OUT" ${LISTEN_OPTS[@]+"${LISTEN_OPTS[@]}"} "$@"
}

# req METHOD PATH [CURL-ARG]...: sets CODE; the body is in $D/resp, the
# headers in $D/hdr.
req() {
	CODE=$(curl -s -o "$D/resp" -D "$D/hdr" -w '%{http_code}' -X "$1" "$URL$2" "${@:3}")
}

# The shape of rum-listen's JSON errors as a jq test, $c being the
# error_code; an API with more fields (the sourcemap API) sets its own.
ERROR_SHAPE='.error_code == $c and (.message | type == "string")'

# expect_json_error FILE CODE: FILE is a JSON error with that error_code,
# in the shape $ERROR_SHAPE.
expect_json_error() {
	jq -e --arg c "$2" "$ERROR_SHAPE" "$1" >/dev/null ||
		{ echo "not the error $2: $(cat "$1")"; return 1; }
}

# expect_error STATUS CODE [MESSAGE-PART]: the last answer (req) was a JSON
# error.
expect_error() {
	[ "$CODE" = "$1" ] || { echo "status $CODE, expected $1: $(cat "$D/resp")"; return 1; }
	expect_json_error "$D/resp" "$2" || return 1
	if [ -n "${3:-}" ]; then
		jq -r .message "$D/resp" | grep -qF -- "$3" ||
			{ echo "message lacks '$3': $(cat "$D/resp")"; return 1; }
	fi
}

# served_metric NAME-AND-LABELS [COMMAND]...: its value on $URL/metrics, 0
# when absent; COMMAND (e.g. ip netns exec NS curl --interface ADDR) gets
# the page instead of curl.
served_metric() {
	local name=$1 v
	shift
	[ $# -gt 0 ] || set -- curl
	v=$("$@" -s "$URL/metrics" | metric "$name" -)
	echo "${v:-0}"
}

# netns_pair NAME SRV-ADDR/LEN CLI-ADDR...: a server namespace holding
# SRV-ADDR and a client namespace holding each CLI-ADDR (same prefix
# length), joined by a veth pair (vs, vc), loopbacks up; sets SRV, CLI and
# NETNS (which teardown removes). Skips when it cannot.
netns_pair() {
	local name=$1 srv_addr=$2 a ok=0
	shift 2
	command -v ip >/dev/null || skip "no ip(8)"
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
	SRV=${name}s$$ CLI=${name}c$$
	ip netns add "$SRV" 2>/dev/null || skip "ip netns unavailable"
	NETNS="$SRV $CLI"
	if ip netns add "$CLI" &&
		ip -n "$SRV" link add vs type veth peer name vc netns "$CLI" &&
		ip -n "$SRV" addr add "$srv_addr" dev vs && ip -n "$SRV" link set vs up; then
		ok=1
		for a in "$@"; do
			ip -n "$CLI" addr add "$a/${srv_addr#*/}" dev vc || ok=0
		done
	fi
	if ((ok)) && ip -n "$CLI" link set vc up && ip -n "$SRV" link set lo up &&
		ip -n "$CLI" link set lo up; then
		return 0
	fi
	skip "cannot make a veth pair"
}
