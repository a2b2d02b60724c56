/* Symbolize addresses in an ELF shared library held in memory (an
 * unstripped NDK .so out of the uploaded zip), with elfutils' libdw.
 *
 * dsym_open takes the image and builds what lookups need once: the
 * address ranges of every compile unit (clang emits no .debug_aranges, and
 * the libdw of Debian 12 finds no unit without it), the ranges of every
 * function with code and of each of its inlined copies (one walk of the
 * DIEs; a lookup is then a binary search instead of dwarf_getscopes' walk
 * of a whole unit), and the function symbols for code without DWARF.
 * Line tables are decoded by libdw on first use of a unit and kept.
 * Compressed debug sections (-gz) are read.
 *
 * A lookup gives what `llvm-symbolizer --inlining --relative-address` and
 * `eu-addr2line -f -i` give: innermost function first, one entry per
 * inlined level, each with the function's name and the source position
 * (for an inlined level, the position of the inlined code; for its
 * caller, the call site). C++ names are demangled with the C++ runtime's
 * __cxa_demangle when libstdc++ can be loaded; otherwise they stay mangled.
 *
 * Not thread-safe: libdw decodes line tables and caches lazily. */
#ifndef RUM_SYMBOLICATE_DWARFSYM_H
#define RUM_SYMBOLICATE_DWARFSYM_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

struct dsym;

/* Deepest inline chain reported; deeper callers are dropped (real code
 * rarely passes 10). */
#define DSYM_MAX_INLINE 16

struct dsym_loc {
	const char *function;  /* "??" when unknown */
	const char *file;      /* "??" when unknown */
	unsigned line, column; /* 0 when unknown */
};

struct dsym_result {
	unsigned n;	 /* entries in loc, innermost first; 0: nothing found */
	int from_symtab; /* 1: only the symbol table knew the address */
	struct dsym_loc loc[DSYM_MAX_INLINE];
	/* storage for the strings above (demangled names, joined paths) */
	char text[4096];
	size_t text_used;
};

/* Opens image[0..len) as an ELF file. The image is owned by the dsym from
 * this call on, also when it fails (it is then freed): it must be a
 * malloc'd block. NULL on failure with a one-line reason in err (not an
 * ELF file, no symbols and no DWARF, ...). */
struct dsym *dsym_open(void *image, size_t len, struct rum_error *err);

/* Symbolize pc, the address as a tombstone prints it. That is Android's
 * rel_pc (libunwindstack: pc - map start + the ELF's load bias), an
 * address in the file's own virtual address space, so it is looked up as
 * it is; llvm-symbolizer (whose --relative-address changes nothing for
 * ELF) and ndk-stack do the same. Returns res->n (0 when nothing is known
 * about the address). */
unsigned dsym_lookup(struct dsym *ds, uint64_t pc, struct dsym_result *res);

/* The machine of the ELF file (EM_AARCH64, ...), for checking it against
 * the tombstone's ABI. */
unsigned dsym_machine(const struct dsym *ds);

/* Bytes the dsym holds once in use: the image, the tables built at open,
 * and libdw's decoded line tables, charged up front at 24 bytes per byte
 * of .debug_line (measured with contrib/bench/ndk on clang and gcc
 * libraries: within 3% of the heap's growth after every address was
 * looked up). */
size_t dsym_memory(const struct dsym *ds);

void dsym_free(struct dsym *ds);

#endif
