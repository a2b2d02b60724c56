/* The iOS SDK's crash report (Apple's text format, as PLCrashReporter
 * writes it): its frame lines, its `Binary Images` section and its
 * `Code Type`, and a splice that rewrites frames in place.
 *
 * A frame is a line `N  Module  0xADDR 0xLOAD + OFFSET` (OFFSET decimal,
 * or hex with 0x; the module name may hold blanks; trailing blanks and a
 * CR are allowed). Lines already symbolized (`0xADDR symbol + 12`) are no
 * frames here. A binary image is a line of the `Binary Images:` section
 * (up to the next blank line): `0xSTART - 0xEND [+]Name ARCH <UUID> PATH`,
 * UUID with or without dashes, ARCH and UUID optional.
 *
 * Output form: the `0xLOAD + OFFSET` part of a frame is replaced by what
 * `atos -i` prints for the address, one entry per inlined level, innermost
 * first: `function (in Module) (file:line)`. The first (innermost) level
 * takes the place of `0xLOAD + OFFSET` on the frame's line; each outer
 * level follows on a line of its own whose blanks bring it under the
 * first one. So every frame keeps exactly one line starting with its
 * number (tools that count or grep frames still find them, and the
 * report minus the added lines is the report with only that part
 * replaced), the calling chain reads top to bottom as atos -i prints it,
 * and a second pass finds nothing left to symbolize. */
#ifndef RUM_SYMBOLICATE_IOSFRAME_H
#define RUM_SYMBOLICATE_IOSFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct ios_frame {
	unsigned num;
	const char *line; /* without its line ending */
	size_t line_len;
	const char *module;
	size_t module_len;
	uint64_t addr, load, offset;
	size_t repl; /* where "0xLOAD + OFFSET" starts in line; it runs to line_len */
};

/* Parses one line (no line ending) as a frame: 0, or -1. */
int ios_parse_frame(const char *line, size_t len, struct ios_frame *f);

struct ios_image {
	uint64_t start, end;
	const char *name; /* without a leading '+' */
	size_t name_len;
	const char *arch; /* or NULL */
	size_t arch_len;
	int has_uuid;
	uint8_t uuid[16];
};

/* Parses one line of the Binary Images section: 0, or -1. */
int ios_parse_image(const char *line, size_t len, struct ios_image *im);

#define IOS_MAX_IMAGES 8192

struct ios_report {
	struct ios_image *images; /* malloc'd, at most IOS_MAX_IMAGES */
	size_t nimages, cap;
	int has_images;	       /* a `Binary Images:` line was seen */
	const char *code_type; /* the arch named by `Code Type:` ("arm64"...), or NULL */
};

/* Reads the images and code type of a report; -1 on out of memory. */
int ios_report_scan(const char *report, size_t len, struct ios_report *r);
void ios_report_free(struct ios_report *r);

/* The image a frame runs in: the one loaded at the frame's 0xLOAD, else
 * the first of the frame's module name; NULL when none. */
const struct ios_image *ios_frame_image(const struct ios_report *r, const struct ios_frame *f);

/* Calls fn for each frame line in order; fn appends the text that
 * replaces line[repl..] and returns 1, or returns 0 (anything appended is
 * dropped and the line kept) or -1 to stop. Everything else is copied
 * byte for byte. frames/restored (may be NULL) are added to. */
typedef int (*ios_frame_fn)(void *ctx, const struct ios_frame *f, struct buf *out);
int ios_splice(const char *report, size_t len, ios_frame_fn fn, void *ctx, struct buf *out,
	       size_t *frames, size_t *restored);

/* Iterates the frames without writing: *pos starts at 0; 1 with the next
 * frame, 0 at the end. */
int ios_next_frame(const char *report, size_t len, size_t *pos, struct ios_frame *f);

/* One atos entry: "function (in Module) (file:line)" where file is the
 * base name of path; without a line (line 0 or no file) "function (in
 * Module) + N", N the address's distance from the function's start
 * (has_start), else just "function (in Module)". */
int ios_add_entry(struct buf *out, const char *func, size_t func_len, const char *module,
		  size_t module_len, const char *path, size_t path_len, unsigned line,
		  int has_start, uint64_t delta);

#endif
