# iOS helpers for the tests and the benchmark (sourced): a small app and
# framework built as real Mach-O files with Debian's clang, ld64.lld and
# dsymutil (TOOLCHAINS.md in the shared notes), their dSYMs, and a
# universal (fat) app made with llvm-lipo.

# The first of NAME, NAME-14, /usr/lib/llvm-14/bin/NAME that runs.
ios_tool() {
	local c
	for c in "$1" "$1-14" "/usr/lib/llvm-14/bin/$1"; do
		command -v "$c" 2>/dev/null && return 0
	done
	return 1
}

# Why the toolchain cannot build the app, or nothing.
ios_missing() {
	local t
	for t in clang ld64.lld dsymutil llvm-lipo llvm-objdump llvm-dwarfdump llvm-symbolizer; do
		ios_tool "$t" >/dev/null || { echo "no $t"; return 0; }
	done
}

ios_sources() {
	cat >"$1/app.c" <<-'C'
	static int counter;
	static inline __attribute__((always_inline)) int leaf(int v)
	{
		counter += v;
		return counter * 3;
	}
	static inline __attribute__((always_inline)) int middle(int v)
	{
		int r = leaf(v + 1);
		return r + 2;
	}
	__attribute__((noinline)) int crash_here(int v)
	{
		volatile int *a = 0;
		*a = middle(v);
		return v;
	}
	int fw_entry(int);
	__attribute__((noinline)) int app_call(int v)
	{
		return crash_here(v + 1) + fw_entry(v) + 1;
	}
	/* Swift's DWARF as far as names go: a mangled linkage name, the
	 * source name in DW_AT_name (swiftc is not in Debian) */
	int hello(int) __asm__("_$s3App5helloyySiF");
	__attribute__((noinline)) int hello(int x)
	{
		return app_call(x) * 2;
	}
	int main(int c, char **v)
	{
		(void)v;
		return hello(c);
	}
	C
	cat >"$1/fw.cpp" <<-'C'
	namespace shop {
	struct Cart {
		int n;
		__attribute__((noinline)) int total(int a);
	};
	static inline __attribute__((always_inline)) int tax(int a)
	{
		return a * 7 / 3;
	}
	int Cart::total(int a)
	{
		return tax(a) + n;
	}
	template <typename T> __attribute__((noinline)) T twice(T t)
	{
		Cart c{1};
		return c.total(t) * 2;
	}
	} // namespace shop
	extern "C" __attribute__((noinline)) int fw_entry(int a)
	{
		return shop::twice<int>(a) + 1;
	}
	C
}

# ios_build DIR [VARIANT]: DIR/App (arm64), DIR/Fw (arm64 framework),
# DIR/App.x86_64 (simulator), DIR/fat/App (both); their dSYMs
# DIR/App.app.dSYM, DIR/Fw.framework.dSYM, DIR/fat/App.app.dSYM.
# VARIANT (a number) changes the app's code: another build, another UUID.
ios_build() {
	local d=$1 v=${2:-0} cc ld
	cc=$(ios_tool clang) ld=$(ios_tool ld64.lld)
	ios_sources "$d"
	[ "$v" = 0 ] || sed -i "s/return counter \* 3;/return counter * 3 + $v;/" "$d/app.c"
	"$cc" -target arm64-apple-ios14.0 -nostdinc -g -O1 -c "$d/app.c" -o "$d/app.o"
	"$cc" -target x86_64-apple-ios14.0-simulator -nostdinc -g -O1 -c "$d/app.c" -o "$d/app.x86_64.o"
	"$cc" -target arm64-apple-ios14.0 -nostdinc -nostdinc++ -g -O1 -c "$d/fw.cpp" -o "$d/fw.o"
	"$ld" -arch arm64 -platform_version ios 14.0 14.0 -undefined dynamic_lookup -e _main \
		"$d/app.o" -o "$d/App"
	"$ld" -arch x86_64 -platform_version ios-simulator 14.0 14.0 -undefined dynamic_lookup \
		-e _main "$d/app.x86_64.o" -o "$d/App.x86_64"
	"$ld" -arch arm64 -platform_version ios 14.0 14.0 -undefined dynamic_lookup -dylib \
		-install_name @rpath/Fw.framework/Fw "$d/fw.o" -o "$d/Fw"
	mkdir -p "$d/fat" "$d/bin"
	"$(ios_tool llvm-lipo)" -create "$d/App" "$d/App.x86_64" -output "$d/fat/App"
	# dsymutil runs `lipo` for a universal file
	ln -sf "$(ios_tool llvm-lipo)" "$d/bin/lipo"
	local ds
	ds=$(ios_tool dsymutil)
	"$ds" "$d/App" -o "$d/App.app.dSYM"
	"$ds" "$d/Fw" -o "$d/Fw.framework.dSYM"
	PATH=$d/bin:$PATH "$ds" "$d/fat/App" -o "$d/fat/App.app.dSYM"
}
