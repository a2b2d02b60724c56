/* Retrace a Java/Kotlin stack trace with an R8/ProGuard mapping, natively.
 *
 * Works line by line as R8's retrace does:
 *  - "at cls.method(File:line)" frames (any prefix before "at", such as a
 *    logcat header) of a class in the map become one output frame per
 *    inlined method, innermost first; an obfuscated line that maps to several
 *    methods prints every candidate, the alternatives after the first marked
 *    "<OR> at" (R8's format). Lines come from the mapping's ranges, file
 *    names from the class's sourceFile metadata or its simple name. Frames of
 *    classes not in the map pass unchanged.
 *  - other lines (the exception line, "Caused by:", "Suppressed:", messages)
 *    get obfuscated class names replaced: the exception class, and every
 *    qualified name in the message that the map knows.
 *  - R8 metadata: synthesized frames are dropped, outline frames are folded
 *    into their call site, rewriteFrame rules are applied.
 * Output is the whole stack, line for line, appended to a struct buf.
 *
 * In a platform's restore(): parse mapping.txt once per archive with
 * r8map_parse (a zip entry's reader, the cache's budget as mem_limit),
 * charge r8map_memory to the cache, then per stack retrace_stack into the
 * output; frames/mapped give the restored counts. A parsed map is never
 * written again, so any number of threads may retrace with it at once. */
#ifndef RUMPIPE_RETRACE_H
#define RUMPIPE_RETRACE_H

#include <stddef.h>

#include "buf.h"
#include "r8map.h"

struct retrace_stats {
	size_t frames;	  /* "at" frame lines read */
	size_t mapped;	  /* of which the class was in the map */
	size_t ambiguous; /* of which more than one candidate was printed */
	size_t renamed;	  /* class names replaced outside frames */
};

/* Append the retraced text of stack[0..len) to out. Lines keep their
 * endings; a last line without '\n' stays without. stats may be NULL; its
 * counts are added to. Returns 0, or -1 when out failed (out->err set). The
 * work is bounded by the input: no allocation beyond out's growth. */
int retrace_stack(const struct r8map *map, const char *stack, size_t len, struct buf *out,
		  struct retrace_stats *stats);

#endif
