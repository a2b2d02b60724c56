/* The iOS engine: LLVM's llvm-symbolizer kept running as one long-lived
 * process, fed a batch of addresses (a whole crash) at a time through its
 * stdin protocol (`"FILE[:ARCH]" 0xADDR` a line, answers one JSON line
 * each: --output-style=JSON, --inlining, --demangle); or an external atos
 * run once per module and crash (--atos).
 *
 * Why a process and not a library: libdw reads ELF only; reading Mach-O
 * and its DWARF ourselves means a Mach-O loader in front of a DWARF reader
 * that takes sections from memory (libdw's dwarf_begin_elf needs an Elf),
 * plus line tables, inlined subroutines and C++ demangling — what LLVM
 * already does for Mach-O, universal files included, in the package the
 * tests need anyway. Kept running, it opens each dSYM once and answers a
 * 40-frame crash in well under a millisecond (contrib/bench/ios).
 *
 * Names: --functions=linkage with --demangle gives C++ as atos does;
 * a name still mangled for Swift (LLVM 14 has no Swift demangler) is asked
 * again of a second process run with --functions=short, which answers the
 * DWARF name (DW_AT_name) — started only when such a name shows up. */
#ifndef RUM_SYMBOLICATE_MACHOSYM_H
#define RUM_SYMBOLICATE_MACHOSYM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"

#define MSYM_MAX_LEVELS 32

struct msym_query {
	const char *obj;  /* a file on disk */
	const char *arch; /* a slice of a universal file, or NULL */
	uint64_t addr;	  /* in the file's own VM addresses */
};

/* One inlined level; strings are offsets into the batch's text buffer. */
struct msym_level {
	size_t func, func_len, file, file_len;
	unsigned line;
	int has_start;
	uint64_t start;
};

struct msym_answer {
	unsigned n; /* 0: nothing known at the address (or an error) */
	int has_addr;
	uint64_t addr; /* the address answered, as echoed */
	struct msym_level lv[MSYM_MAX_LEVELS];
};

/* The executable to run; NULL/"" finds llvm-symbolizer (Debian's
 * /usr/bin/llvm-symbolizer, else /usr/lib/llvm-NN/bin, else PATH). */
void msym_set_program(const char *path);
const char *msym_program(void);

/* Answers n queries; text receives the strings. 0, or -1 when the
 * process could not be run or answered nothing usable (err says why). A
 * process that dies or stalls is killed and started again at the next
 * batch. */
int msym_batch(const struct msym_query *q, size_t n, struct msym_answer *a, struct buf *text,
	       struct rum_error *err);

/* A file the process may have opened was removed: restart the process
 * before its next batch, so that it lets go of the deleted files. */
void msym_forget_files(void);

/* Stops the processes (at exit). */
void msym_shutdown(void);

uint64_t msym_starts(void);

/* Parses one JSON answer line of llvm-symbolizer into a; strings go to
 * text. 0, or -1 when it is not one (fuzzed). */
int msym_parse_json(const char *line, size_t len, struct msym_answer *a, struct buf *text);

/* `atos -o OBJ -l LOAD -arch ARCH ADDR...`: one output line per address
 * into lines (each an offset/length pair into text; a line that only
 * repeats the address comes back with length 0). 0, or -1. */
int msym_atos(const char *atos, const char *obj, const char *arch, uint64_t load,
	      const uint64_t *addrs, size_t n, size_t *line_off, size_t *line_len, struct buf *text,
	      struct rum_error *err);

#endif
