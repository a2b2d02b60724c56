/* JavaScript stack frames as browsers, mini-program runtimes and the
 * Guance/DataKit web SDK write them, one frame a line:
 *
 *   at fn @ URL:LINE:COL          the Guance web SDK (DataKit's form)
 *   at fn (URL:LINE:COL)          V8
 *   at URL:LINE:COL               V8, anonymous
 *   fn@URL:LINE:COL               Firefox, Safari (fn may be empty)
 *
 * LINE and COL are 1-based, as browsers report them. A stack is rewritten
 * line by line: a frame whose position a resolver can map gets
 * SOURCE:LINE:COLUMN in place of URL:LINE:COL (line 1-based, column
 * 0-based, as DataKit writes them), and every other byte stays as it was.
 * Nothing here knows about archives or maps, so the parser can be fuzzed
 * alone. */
#ifndef RUM_SYMBOLICATE_JSFRAME_H
#define RUM_SYMBOLICATE_JSFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Offsets are into the line given to js_frame_parse. */
struct js_frame {
	size_t fn_off, fn_len;	 /* the function name; fn_len 0: none */
	size_t loc_off, loc_len; /* URL:LINE:COL */
	size_t url_len;		 /* the URL is the first url_len bytes of the location */
	uint32_t line, col;	 /* as written (1-based; 0 when the stack says 0) */
};

/* The frame on one line (without its '\n'). Returns 1 and fills f, or 0
 * when the line holds no frame with a position. */
int js_frame_parse(const char *line, size_t n, struct js_frame *f);

/* The path of a frame's URL as a name inside an archive: scheme, host,
 * query and fragment dropped, %XX decoded, the leading '/' dropped
 * ("http://h/static/a.js?v=1" → "static/a.js"). Returns the length, or -1
 * when there is no usable path or it does not fit in cap - 1 bytes; out is
 * NUL-terminated. */
int js_url_path(const char *url, size_t n, char *out, size_t cap);

/* What a resolver found for a frame. */
struct js_original {
	const char *source;
	const char *name; /* NULL: none */
	uint32_t line;	  /* 0-based */
	uint32_t column;  /* 0-based */
};

/* Maps the 0-based generated position of the URL path `path`. Returns 0
 * and fills o, or a positive reason code (the caller's) when the frame
 * stays as it was. */
typedef int (*js_resolve_fn)(void *ctx, const char *path, uint32_t line, uint32_t col,
			     struct js_original *o);

struct js_stats {
	unsigned frames;	  /* lines with a frame */
	unsigned restored;	  /* frames rewritten */
	int first_miss;		  /* reason code of the first frame not rewritten; 0: none */
	unsigned first_miss_line; /* its line in the stack, 1-based */
};

#define JS_MISS_BAD_URL -1 /* reported as first_miss when a frame's URL has no path */
#define JS_MISS_BAD_POS -2 /* LINE 0: no position */

/* Appends the rewritten stack to out. names: also replace a frame's
 * function name by the mapping's name when it has one. Returns 0, or -1
 * when out could not grow. */
int js_stack_rewrite(const char *stack, size_t n, int names, js_resolve_fn resolve, void *ctx,
		     struct buf *out, struct js_stats *st);

#endif
