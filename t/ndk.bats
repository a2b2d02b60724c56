#!/usr/bin/env bats
# NDK native crashes: tombstone parsing and splicing (tombstone.c) and DWARF
# symbolization (dwarfsym.c) through t/tools/ndktool, against LLVM's and
# elfutils' own symbolizers on libraries compiled here for the Android ABIs.

load lib/common
load lib/ndk

# Android targets clang can compile and link for without an NDK: no libc
# (-nostdlib, and the library calls nothing outside itself).
TARGETS="aarch64-linux-android21:arm64-v8a armv7a-linux-androideabi21:armeabi-v7a
i686-linux-android21:x86 x86_64-linux-android21:x86_64"

setup_file() {
	command -v clang >/dev/null && command -v llvm-symbolizer >/dev/null &&
		command -v llvm-objdump >/dev/null || skip "clang, llvm-symbolizer and llvm-objdump are needed"
	local d=$BATS_FILE_TMPDIR
	ndk_crash_source >"$d/crash.c"
	cat >"$d/engine.cpp" <<-'C'
	namespace app {
	struct Engine {
		int state;
		inline __attribute__((always_inline)) int step(int v) { state += v; return state * 5; }
		__attribute__((noinline)) int run(int v);
	};
	int Engine::run(int v)
	{
		volatile int *p = nullptr;
		*p = step(v) + 1;
		return v;
	}
	template <typename T> __attribute__((noinline)) T twice(Engine &e, T v) { return (T)e.run((int)v) * 2; }
	}
	extern "C" int crash_entry(int v)
	{
		app::Engine e{0};
		return app::twice<long>(e, v) + app::twice<int>(e, v);
	}
	C
	local t abi
	for t in $TARGETS; do
		abi=${t#*:}
		mkdir -p "$d/libs/$abi"
		ndk_build_lib "${t%%:*}" "$d/libs/$abi/libcrash.so" "$d/crash.c"
	done
	clang++ --target=aarch64-linux-android21 -fuse-ld=lld -shared -nostdlib -fPIC -g -O2 \
		-o "$d/libs/arm64-v8a/libengine.so" "$d/engine.cpp"
	# a library whose first PT_LOAD is not at 0: tombstone pcs are relative to it
	ndk_build_lib aarch64-linux-android21 "$d/libbased.so" "$d/crash.c" -Wl,--image-base=0x200000
}

# Every instruction address of LIB's code, hex with 0x.
code_addrs() {
	llvm-objdump -d --no-show-raw-insn "$1" |
		awk '/^[0-9a-f]+ <[^>]*>:$/{plt = ($2 ~ /@plt|^<\.plt/)} /^ +[0-9a-f]+:/ && !plt {sub(":", "", $1); print "0x" $1}'
}

check_same() { # LIB ADDR...: ours against llvm-symbolizer's --inlining --relative-address
	local lib=$1
	shift
	llvm-symbolizer --inlining --relative-address --obj="$lib" "$@" >"$BATS_TEST_TMPDIR/want"
	"$TOOLS/ndktool" "$lib" "$@" >"$BATS_TEST_TMPDIR/got"
	diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
}

@test "every instruction of a C library, for each Android ABI, as llvm-symbolizer --inlining has it" {
	local t abi lib
	for t in $TARGETS; do
		abi=${t#*:}
		lib=$BATS_FILE_TMPDIR/libs/$abi/libcrash.so
		mapfile -t addrs < <(code_addrs "$lib")
		[ "${#addrs[@]}" -gt 20 ]
		check_same "$lib" "${addrs[@]}" 0x0 0x7ffffff
		# the inlined chain is really there: leaf inside middle inside xc_test_call_4
		grep -A5 -x leaf "$BATS_TEST_TMPDIR/got" | grep -qx middle
		grep -A5 -x middle "$BATS_TEST_TMPDIR/got" | grep -qx xc_test_call_4
		grep -q "crash.c:15:" "$BATS_TEST_TMPDIR/got"
	done
}

@test "C++: demangled names, a member function inlined into another, template instances" {
	local lib=$BATS_FILE_TMPDIR/libs/arm64-v8a/libengine.so
	mapfile -t addrs < <(code_addrs "$lib")
	check_same "$lib" "${addrs[@]}"
	grep -qxF 'app::Engine::step(int)' "$BATS_TEST_TMPDIR/got"
	grep -qxF 'app::Engine::run(int)' "$BATS_TEST_TMPDIR/got"
	grep -qxF 'long app::twice<long>(app::Engine&, long)' "$BATS_TEST_TMPDIR/got"
}

@test "gcc's DWARF (x86_64) for our functions, as llvm-symbolizer has it" {
	command -v gcc >/dev/null || skip "no gcc"
	local lib=$BATS_TEST_TMPDIR/libgcc.so
	gcc -shared -fPIC -g -O2 -o "$lib" "$BATS_FILE_TMPDIR/crash.c"
	# only the library's own functions: crt files have neither DWARF nor sizes
	mapfile -t addrs < <(llvm-objdump -d --no-show-raw-insn "$lib" |
		awk '/^[0-9a-f]+ <[^>]*>:$/{ours = ($2 ~ /^<xc_test/)} /^ +[0-9a-f]+:/ && ours {sub(":", "", $1); print "0x" $1}')
	[ "${#addrs[@]}" -gt 10 ]
	check_same "$lib" "${addrs[@]}"
	grep -qx xc_test_call_3 "$BATS_TEST_TMPDIR/got"
}

@test "eu-addr2line -f -i agrees on functions and lines (when elfutils is installed)" {
	command -v eu-addr2line >/dev/null || skip "eu-addr2line not installed (package elfutils)"
	command -v gcc >/dev/null || skip "no gcc"
	# gcc's library: eu-addr2line 0.188 finds no line for clang's DWARF 5,
	# which has no .debug_aranges (our index does not need them)
	local lib=$BATS_TEST_TMPDIR/libgcc.so a
	gcc -shared -fPIC -g -O2 -o "$lib" "$BATS_FILE_TMPDIR/crash.c"
	for a in $(ndk_return_addrs "$lib") $(code_addrs "$lib" | head -8); do
		diff <(eu-addr2line -f -i -e "$lib" "$a" | sed 's/:\([0-9]*\):[0-9]*$/:\1/; s/ at .*//') \
			<("$TOOLS/ndktool" "$lib" "$a" | sed '/^$/d; s/:\([0-9]*\):[0-9]*$/:\1/')
	done
}

@test "a pc is an address in the ELF's own space (Android's rel_pc has the load bias in): a library linked at a non-zero base" {
	local lib=$BATS_FILE_TMPDIR/libbased.so
	llvm-readelf -l "$lib" | grep -m1 LOAD | grep -q 0x0000000000200000
	mapfile -t addrs < <(code_addrs "$lib")
	[[ "${addrs[0]}" == 0x20* ]]
	check_same "$lib" "${addrs[@]}" 0x1440 0x1460
	grep -qx xc_test_call_4 "$BATS_TEST_TMPDIR/got"
	[ "$(grep -c -x '??' "$BATS_TEST_TMPDIR/got")" -eq 2 ]
}

@test "compressed debug sections (-gz), as llvm-symbolizer reads them" {
	local lib=$BATS_TEST_TMPDIR/libz.so
	clang --target=aarch64-linux-android21 -fuse-ld=lld -shared -nostdlib -fPIC -g -gz -O2 \
		-o "$lib" "$BATS_FILE_TMPDIR/crash.c"
	llvm-readelf -S "$lib" | grep debug_info | grep -q ' C '
	mapfile -t addrs < <(code_addrs "$lib")
	check_same "$lib" "${addrs[@]}"
	grep -qx middle "$BATS_TEST_TMPDIR/got"
}

@test "symbol table fallback: a library without DWARF gives function names, ??:0:0" {
	local lib=$BATS_TEST_TMPDIR/nodebug.so
	llvm-objcopy --strip-debug "$BATS_FILE_TMPDIR/libs/x86_64/libcrash.so" "$lib"
	mapfile -t addrs < <(code_addrs "$lib")
	check_same "$lib" "${addrs[@]}"
	grep -qx xc_test_call_2 "$BATS_TEST_TMPDIR/got"
	grep -qx '??:0:0' "$BATS_TEST_TMPDIR/got"
	# stripped of .symtab too: the exported functions of .dynsym still name
	llvm-objcopy --strip-all "$BATS_FILE_TMPDIR/libs/x86_64/libcrash.so" "$BATS_TEST_TMPDIR/bare.so"
	! llvm-readelf -S "$BATS_TEST_TMPDIR/bare.so" | grep -q symtab
	check_same "$BATS_TEST_TMPDIR/bare.so" "${addrs[@]}"
	grep -qx xc_test_crash "$BATS_TEST_TMPDIR/got"
	# nothing to name code with: an error, no crash
	printf '\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0' >"$BATS_TEST_TMPDIR/empty.so"
	run "$TOOLS/ndktool" "$BATS_TEST_TMPDIR/empty.so" 0x1000
	[ "$status" -eq 1 ]
	[[ "$output" == *"ndktool: "* ]]
}

@test "tombstone: frames of the library get function and file:line:column per inlined level; the rest is byte-identical" {
	local lib=$BATS_FILE_TMPDIR/libs/arm64-v8a/libcrash.so d=$BATS_TEST_TMPDIR
	mapfile -t ra < <(ndk_return_addrs "$lib")
	[ "${#ra[@]}" -ge 3 ]
	local crash_pc
	crash_pc=$(ndk_crash_pc "$lib")
	[ -n "$crash_pc" ]
	local app=/data/app/~~Taci3mQyw7W7iWT7Jxo-ag==/com.ft-Q8m2flQFG1MbGImPiuAZmQ==/lib/arm64
	{
		ndk_backtrace "$app" /data/app/com.ft/base.apk "$crash_pc" "${ra[@]:0:3}"
		printf '    #06 pc 0000000000ffff00  %s/libcrash.so (beyond the code)\n' "$app"
	} >"$d/frames"
	ndk_write_tombstone "$d/report" arm64 "$d/frames"
	"$TOOLS/ndktool" --report "$d/report" --lib-dir "$BATS_FILE_TMPDIR/libs" >"$d/got" 2>"$d/err"
	grep -qx "abi=arm64-v8a backtrace=1 frames=7 restored=4" "$d/err"
	ndk_expected_report "$d/report" libcrash.so "$lib" >"$d/want"
	diff -u "$d/want" "$d/got"
	# DataKit's form: the frame line, then the function, then file:line:column
	grep -A2 -F '#00 pc' "$d/got" | sed -n 2p | grep -qx '    leaf'
	grep -A2 -F '#00 pc' "$d/got" | sed -n 3p | grep -qE '^    /.*/crash\.c:[45]:[0-9]+$'
	# the inserted lines removed, the report is what came in
	diff "$d/report" <(grep -vE '^    ([a-z_0-9]+|/.*:[0-9]+:[0-9]+)$' "$d/got")
}

@test "tombstone: each ABI name picks its NDK directory (arm64, arm, x86, x86_64; ABI list alone)" {
	local d=$BATS_TEST_TMPDIR t abi name
	for t in arm64:arm64-v8a arm:armeabi-v7a x86:x86 x86_64:x86_64; do
		name=${t%%:*}
		abi=${t#*:}
		local lib=$BATS_FILE_TMPDIR/libs/$abi/libcrash.so
		mapfile -t ra < <(ndk_return_addrs "$lib")
		printf '    #00 pc %016x  /data/app/x/lib/%s/libcrash.so\n' $((ra[0])) "$name" >"$d/frames"
		ndk_write_tombstone "$d/report" "$name" "$d/frames"
		"$TOOLS/ndktool" --report "$d/report" --lib-dir "$BATS_FILE_TMPDIR/libs" >"$d/got" 2>"$d/err"
		grep -q "abi=$abi backtrace=1 frames=1 restored=1" "$d/err"
		ndk_expected_report "$d/report" libcrash.so "$lib" >"$d/want"
		diff -u "$d/want" "$d/got"
	done
	# no ABI: line: the first of the ABI list
	sed "/^ABI: /d; s/^ABI list: .*/ABI list: 'x86_64,x86'/" "$d/report" >"$d/report2"
	"$TOOLS/ndktool" --report "$d/report2" --lib-dir "$BATS_FILE_TMPDIR/libs" >/dev/null 2>"$d/err"
	grep -q "abi=x86_64 backtrace=1 frames=1 restored=1" "$d/err"
}

@test "tombstone: a broken library leaves the report unchanged" {
	local d=$BATS_TEST_TMPDIR
	mkdir -p "$d/libs/arm64-v8a"
	head -c 5000 /dev/urandom >"$d/libs/arm64-v8a/libcrash.so"
	printf '    #00 pc 0000000000001440  /data/app/x/lib/arm64/libcrash.so (f+4)\n' >"$d/frames"
	ndk_write_tombstone "$d/report" arm64 "$d/frames"
	run "$TOOLS/ndktool" --report "$d/report" --lib-dir "$d/libs"
	[[ "$output" == *"not an ELF file"* ]]
	"$TOOLS/ndktool" --report "$d/report" --lib-dir "$d/libs" 2>/dev/null | cmp - "$d/report"
	# the right file for another machine still symbolizes (the engine does not check)
	cp "$BATS_FILE_TMPDIR/libs/x86/libcrash.so" "$d/libs/arm64-v8a/libcrash.so"
	"$TOOLS/ndktool" --report "$d/report" --lib-dir "$d/libs" >/dev/null 2>"$d/err"
	grep -q "frames=1" "$d/err"
}

@test "DataKit's crash fixture: ABI and all 66 frames parsed; no library, so unchanged" {
	local f=${FIXTURES:-/nonexistent}/datakit/crash
	[ -f "$f" ] || skip "no DataKit crash fixture"
	"$TOOLS/ndktool" --report "$f" --lib-dir "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/got" 2>"$BATS_TEST_TMPDIR/err"
	grep -qx "abi=arm64-v8a backtrace=1 frames=66 restored=0" "$BATS_TEST_TMPDIR/err"
	cmp "$BATS_TEST_TMPDIR/got" "$f"
	# with a library of that name in arm64-v8a/, its frames are symbolized
	mkdir -p "$BATS_TEST_TMPDIR/arm64-v8a"
	cp "$BATS_FILE_TMPDIR/libs/arm64-v8a/libcrash.so" "$BATS_TEST_TMPDIR/arm64-v8a/libft_native_exp_lib.so"
	"$TOOLS/ndktool" --report "$f" --lib-dir "$BATS_TEST_TMPDIR" >/dev/null 2>"$BATS_TEST_TMPDIR/err"
	# its code ends before the fixture's pcs (0x57fc..): found, nothing restored
	grep -qx "abi=arm64-v8a backtrace=1 frames=66 restored=0" "$BATS_TEST_TMPDIR/err"
}
