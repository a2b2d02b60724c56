# Native crash helpers for the tests (sourced): a small C library built for
# an Android ABI, the SDK's tombstone around a backtrace, and the report as
# llvm-symbolizer would restore it.

# The C source of the library: an inlined chain under xc_test_call_4.
ndk_crash_source() {
	cat <<-'C'
	static int counter;
	static inline __attribute__((always_inline)) int leaf(int v)
	{
		counter += v;
		return counter * 3;
	}
	static inline int middle(int v)
	{
		int r = leaf(v + 1);
		return r + 2;
	}
	__attribute__((noinline)) int xc_test_call_4(int v)
	{
		volatile int *a = 0;
		*a = middle(v);
		return v;
	}
	__attribute__((noinline)) int xc_test_call_3(int v)
	{
		int r = xc_test_call_4(v + 1);
		return r + 1;
	}
	__attribute__((noinline)) int xc_test_call_2(int v)
	{
		return xc_test_call_3(v * 2) - 1;
	}
	int xc_test_crash(int v)
	{
		return xc_test_call_2(v) + 7;
	}
	C
}

# ndk_build_lib TRIPLE OUT.so SOURCE.c: with clang for an Android target,
# linked without libc (the library calls nothing outside itself).
ndk_build_lib() {
	clang --target="$1" -fuse-ld=lld -shared -nostdlib -fPIC -g -O2 -o "$2" "$3"
}

# Addresses just after each call (the return addresses a backtrace shows).
ndk_return_addrs() {
	llvm-objdump -d --no-show-raw-insn "$1" |
		awk '/^ +[0-9a-f]+:/{sub(":", "", $1); a = $1; if (call) print "0x" a; call = ($2 ~ /^(bl|blx|call|calll|callq)$/)}'
}

# ndk_write_tombstone FILE ABI FRAMES-FILE: a report as the SDK writes it
# (DataKit's fixture's layout) with FRAMES as its backtrace.
ndk_write_tombstone() {
	{
		printf '*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***\n\n'
		printf "Crash type: 'native'\nAPI level: '31'\nABI list: 'arm64-v8a'\nABI: '%s'\n" "$2"
		printf '\n--- --- --- --- --- --- --- --- --- --- --- --- --- --- --- ---\n\n'
		printf 'pid: 15733, tid: 15733, name: com.ft  >>> com.ft <<<\n'
		printf 'signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0\n'
		printf "Abort message: 'abort'\n\nbacktrace:\n"
		cat "$3"
		printf '\nstack:\n    #00  0000007fee3cb7d0  0000007fee3cb7e0  [stack]\n'
		printf '\nlogcat:\n    #00 pc 0000000000000000  /x/libcrash.so (not a frame: after logcat)\n'
	} >"$1"
}

# ndk_expected_report REPORT LIBNAME LIB: the report with llvm-symbolizer's
# lines after each backtrace frame of LIBNAME, at the frame's indentation.
ndk_expected_report() {
	local line in_bt=0 ind pc s
	while IFS= read -r line; do
		printf '%s\n' "$line"
		[ "$line" = "backtrace:" ] && in_bt=1 && continue
		[ "$line" = "logcat:" ] && in_bt=0
		if ((in_bt)) && [[ "$line" =~ ^([[:space:]]*)#[0-9]+\ pc\ ([0-9a-f]+)\ +[^\ ]*[/!]$2 ]]; then
			ind=${BASH_REMATCH[1]}
			pc=${BASH_REMATCH[2]}
			llvm-symbolizer --inlining --relative-address --obj="$3" "0x$pc" | sed '/^$/d' |
				while IFS= read -r s; do printf '%s%s\n' "$ind" "$s"; done
		fi
	done <"$1"
}
