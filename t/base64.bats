#!/usr/bin/env bats
# common/base64.c through t/tools/base64tool, against coreutils' base64, on
# every path: AVX2 and SSSE3 when the CPU has them (the default, --ssse3)
# and the portable one (--scalar).

load lib/common
bats_require_minimum_version 1.5.0

setup() {
	B=$TOOLS/base64tool
	D=$BATS_TEST_TMPDIR
	head -c 4096 /dev/urandom >"$D/random"
}

@test "the vector paths are taken on this CPU when it has SSSE3 or AVX2" {
	if ! grep -qw ssse3 /proc/cpuinfo; then skip "no SSSE3 here"; fi
	want=1
	if grep -qw avx2 /proc/cpuinfo; then want=2; fi
	run "$B" vector
	[ "$status" -eq 0 ]
	[ "$output" = $want ]
	run "$B" --ssse3 vector
	[ "$output" = 1 ]
	run "$B" --scalar vector
	[ "$output" = 0 ]
}

@test "every length 0..100 encodes and decodes as coreutils does, on every path" {
	for n in $(seq 0 100); do
		head -c "$n" "$D/random" >"$D/in"
		base64 -w0 "$D/in" >"$D/want"
		for mode in "" --ssse3 --scalar; do
			$B $mode encode <"$D/in" >"$D/got"
			cmp "$D/want" "$D/got" || { echo "encode $n $mode"; return 1; }
			$B $mode decode <"$D/want" >"$D/back"
			cmp "$D/in" "$D/back" || { echo "decode $n $mode"; return 1; }
			[ "$($B $mode len <"$D/want")" = "$n" ] || { echo "len $n"; return 1; }
		done
	done
}

@test "random data of large sizes round-trips against coreutils, on every path" {
	for n in 1000 4095 65536 200001; do
		head -c "$n" /dev/urandom >"$D/in"
		base64 -w0 "$D/in" >"$D/want"
		for mode in "" --ssse3 --scalar; do
			$B $mode encode <"$D/in" | cmp "$D/want" - || { echo "encode $n $mode"; return 1; }
			# coreutils' own wrapped output decodes too once the newlines are gone
			$B $mode decode <"$D/want" | cmp "$D/in" - || { echo "decode $n $mode"; return 1; }
			base64 -d "$D/want" | cmp "$D/in" -
		done
	done
}

@test "padding is optional; the URL-safe alphabet decodes, mixed too" {
	for mode in "" --ssse3 --scalar; do
		[ "$(printf 'SGk' | $B $mode decode)" = Hi ]
		[ "$(printf 'SGk=' | $B $mode decode)" = Hi ]
		[ "$(printf 'SA' | $B $mode decode)" = H ]
		[ "$(printf 'SA==' | $B $mode decode)" = H ]
		printf '\xfb\xff\xbf' >"$D/bin"
		printf -- '-_-_' | $B $mode decode | cmp "$D/bin" -
		printf '+/+/' | $B $mode decode | cmp "$D/bin" -
		printf '+_-/' | $B $mode decode | cmp "$D/bin" -
		# a URL-safe digit inside a long run of standard ones
		head -c 3000 "$D/random" >"$D/in"
		base64 -w0 "$D/in" | tr '+/' '-_' | $B $mode decode | cmp "$D/in" -
	done
}

@test "a bad byte at every position of a 120-digit text is refused, on every path" {
	head -c 90 "$D/random" | base64 -w0 >"$D/good"
	[ "$(wc -c <"$D/good")" -eq 120 ]
	python3 - "$D/good" "$D" <<'PY'
import sys
good = open(sys.argv[1], "rb").read()
bad = [b"=", b"\n", b"\x00", b"\x80", b"*", b"{"]
with open(sys.argv[2] + "/cases", "wb") as f:
    for i in range(len(good)):
        for c in bad:
            # '=' in the last place is padding, and valid
            if c == b"=" and i == len(good) - 1:
                continue
            f.write((good[:i] + c + good[i + 1:]).hex().encode() + b"\n")
PY
	run "$B" refuses <"$D/cases"
	[ "$status" -eq 0 ]
	[ "$output" = 719 ]
	# and the tool does tell an accepted one
	run "$B" refuses < <(printf 'SGVsbG8=' | xxd -p)
	[ "$status" -eq 1 ]
}

@test "a lone digit at the end is refused; a text of padding alone is empty" {
	for mode in "" --ssse3 --scalar; do
		run "$B" $mode decode <<<"" # "\n": not a digit
		[ "$status" -eq 1 ]
		run -1 "$B" $mode decode < <(printf 'SGVsbG8sIHdvcmxkIQ=A')
		run -1 "$B" $mode decode < <(printf 'QUJD=A')
		run -1 "$B" $mode decode < <(printf 'QUJDR')
		run -0 "$B" $mode decode < <(printf '==')
		[ -z "$output" ]
	done
}

@test "every path decodes the same, every prefix and every byte changed" {
	head -c 600 "$D/random" | base64 -w0 >"$D/text"
	run "$B" compare <"$D/text"
	[ "$status" -eq 0 ]
	head -c 600 "$D/random" >"$D/bin"
	run "$B" compare <"$D/bin"
	[ "$status" -eq 0 ]
}
