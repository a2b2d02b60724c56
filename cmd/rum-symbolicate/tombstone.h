/* The Android SDK's native crash report (an xCrash/debuggerd tombstone):
 * find its ABI and its backtrace frames, and splice a symbolized backtrace
 * back into it.
 *
 * Frames are the lines `#NN pc ADDR  PATH [(offset 0x..)] [(SYM+OFF)]
 * [(BuildId: ..)]` after the line `backtrace:` and before the line
 * `logcat:` (or the end of the report when it has none). Every other byte of
 * the report passes unchanged.
 *
 * Output form, decided from DataKit's documented example (its RUM
 * sourcemap doc, "C/C++ native code"): after each frame come, per inlined
 * level innermost first, a line with the function's name and a line
 * `file:line:column`, at the frame line's indentation — what ndk-stack
 * prints from llvm-symbolizer --inlining, which is what DataKit runs. Two
 * things of DataKit's example are not kept, because they are side effects
 * of its tool rather than symbolization: ndk-stack rewrites the frame line
 * itself (`#00 0x00000000000057fc /path (sym+off)`, dropping "pc" and the
 * column alignment) and moves the "Abort message" line to the top of the
 * backtrace. Here the frame line stays byte for byte as the device wrote
 * it, so the report minus the inserted lines is the original, and people
 * and tools that grep for `pc 00000000000057fc` still find it. A frame
 * whose library is not in the zip, or whose address is unknown, gets no
 * lines (as with DataKit). Unknown files and lines print as
 * llvm-symbolizer prints them: `??:0:0`. */
#ifndef RUM_SYMBOLICATE_TOMBSTONE_H
#define RUM_SYMBOLICATE_TOMBSTONE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dwarfsym.h"

struct tomb_frame {
	unsigned num;	  /* the NN of #NN */
	uint64_t pc;	  /* relative to the library's load base */
	const char *line; /* the whole line, without its line ending */
	size_t line_len;
	size_t indent; /* leading blanks of the line */
	const char *path;
	size_t path_len;
	const char *lib; /* the file name of a ".so" path (after a '/' or an
			    APK's '!'), else NULL */
	size_t lib_len;
	const char *sym; /* "xc_test_call_4+12" as printed, or NULL */
	size_t sym_len;
	const char *build_id; /* hex, or NULL */
	size_t build_id_len;
	const char *abi; /* the report's ABI directory (see tomb_abi), or NULL */
};

/* Parses one line as a frame; 0 on success, -1 when it is not one. */
int tomb_parse_frame(const char *line, size_t len, struct tomb_frame *f);

/* The NDK ABI directory name of a tombstone ABI name: "arm64" →
 * "arm64-v8a", "arm" → "armeabi-v7a", "x86", "x86_64", "riscv64"; NDK
 * names map to themselves. NULL for anything else. */
const char *tomb_abi_dir(const char *name, size_t len);

/* The ABI of the crashed process: the `ABI: '...'` line, else the first of
 * `ABI list: '...'`, mapped by tomb_abi_dir; NULL when neither is there or
 * known. Only the header before `backtrace:` is read. */
const char *tomb_abi(const char *report, size_t len);

/* Called for each frame in the backtrace; appends the frame's symbolized
 * lines to out, each one starting with '\n' (the frame line's own ending
 * follows them). Returns 1 when it restored the frame, 0 when not, -1 to
 * stop on an error. */
typedef int (*tomb_frame_fn)(void *ctx, const struct tomb_frame *f, struct buf *out);

struct tomb_stats {
	size_t frames;	   /* frame lines in the backtrace */
	size_t restored;   /* of which fn restored */
	int has_backtrace; /* a `backtrace:` line was found */
};

/* Appends the report with fn's lines spliced in after each frame. stats
 * may be NULL; its counts are added to. -1 when out failed or fn did. */
int tomb_splice(const char *report, size_t len, tomb_frame_fn fn, void *ctx, struct buf *out,
		struct tomb_stats *stats);

/* Appends a lookup's result in the form above: per level,
 * "\n<indent>function\n<indent>file:line:column". */
int tomb_add_locations(struct buf *out, const struct tomb_frame *f, const struct dsym_result *r);

#endif
