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

# ndk_build_lib TRIPLE OUT.so SOURCE.c [CLANG-OPTION]...: with clang for an
# Android target, linked without libc (the library calls nothing outside
# itself).
ndk_build_lib() {
	clang --target="$1" -fuse-ld=lld -shared -nostdlib -fPIC -g -O2 "${@:4}" -o "$2" "$3"
}

# Addresses just after each call (the return addresses a backtrace shows).
ndk_return_addrs() {
	llvm-objdump -d --no-show-raw-insn "$1" |
		awk '/^ +[0-9a-f]+:/{sub(":", "", $1); a = $1; if (call) print "0x" a; call = ($2 ~ /^(bl|blx|call|calll|callq)$/)}'
}

# ndk_crash_pc LIB: the address (hex, no 0x) of the store through a null
# pointer in LIB's xc_test_call_4, where the library crashes.
ndk_crash_pc() {
	llvm-objdump -d --no-show-raw-insn "$1" | awk '/<xc_test_call_4>:/{f=1} f && /str\t/ {sub(":", "", $1); print $1; exit}'
}

# ndk_backtrace APP-LIB-DIR APK CRASH-PC RA0 RA1 RA2: frames as the SDK
# writes them, into APP-LIB-DIR/libcrash.so (the crash at CRASH-PC in
# xc_test_call_4, its callers at the return addresses RA0 and RA1, one more
# at RA2 in the APK) and into system libraries.
ndk_backtrace() {
	printf '    #00 pc %016x  %s/libcrash.so (xc_test_call_4+12)\n' $((0x$3)) "$1"
	printf '    #01 pc %016x  %s/libcrash.so (xc_test_call_3+8) (BuildId: 763f64f5b706242d70cd233baaf0d75ed98a9c4f)\n' $(($4)) "$1"
	printf '    #02 pc %016x  %s/libcrash.so\n' $(($5)) "$1"
	printf '    #03 pc %016x  %s!libcrash.so (offset 0x4000) (xc_test_crash+8)\n' $(($6)) "$2"
	printf '    #04 pc 00000000002d9a44  /apex/com.android.art/lib64/libart.so (art_quick_generic_jni_trampoline+148)\n'
	printf '    #05 pc 00000000000057c4  /memfd:jit-cache (deleted)\n'
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
			# an address the library knows nothing of gets no lines
			llvm-symbolizer --inlining --relative-address --obj="$3" "0x$pc" | sed '/^$/d' |
				sed -z 's/^??\n??:0:0\n$//' | while IFS= read -r s; do printf '%s%s\n' "$ind" "$s"; done
		fi
	done <"$1"
}
