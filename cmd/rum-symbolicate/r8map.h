/* R8 / ProGuard mapping.txt: parse once, index for retrace.
 *
 * The format is ProGuard's (class lines "orig -> obf:", member lines
 * "[a:b:]type name(args)[:c[:d]] -> obf", fields without parentheses) with
 * R8's additions: "# {json}" metadata comments that apply to the class or
 * member line above them (R8's doc/retrace.md: mapping version, sourceFile,
 * synthesized, residualsignature, outline, outlineCallsite, rewriteFrame),
 * and several member lines with one obfuscated range meaning inlined frames,
 * innermost first.
 *
 * The map is read as a stream of chunks (it comes out of a zip entry) and is
 * indexed at load: every name interned once, classes hashed by obfuscated and
 * by original name, each class's methods sorted by obfuscated name so a frame
 * finds its candidates with one hash probe and a binary search. */
#ifndef RUMPIPE_R8MAP_H
#define RUMPIPE_R8MAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errmsg.h"

struct r8map;

/* Chunked input, as sourcemap.h's sm_read_fn: read up to n bytes; the count,
 * 0 at the end, -1 on an error (the parse then fails with "read error"). */
typedef ssize_t (*r8_read_fn)(void *ctx, void *buf, size_t n);

/* Parse a whole mapping file. mem_limit bounds the memory the parsed map may
 * take (0: no bound); past it the parse fails saying so. A line that is not
 * a mapping line fails the parse with its line number, except comments and
 * blank lines. On failure returns NULL and fills err: a one-line reason
 * ("line 12: ..."), and err->line when it is about a line. */
struct r8map *r8map_parse(r8_read_fn read, void *ctx, size_t mem_limit, struct rum_error *err);
struct r8map *r8map_parse_mem(const char *data, size_t len, size_t mem_limit,
			      struct rum_error *err);

/* Bytes the parsed map holds (for the cache's memory budget). */
size_t r8map_memory(const struct r8map *map);
/* Counts, for logs and tests. */
size_t r8map_classes(const struct r8map *map);
size_t r8map_methods(const struct r8map *map);
void r8map_free(struct r8map *map);

/* --- What retrace.c reads. Strings are offsets into the map's string pool
 * (r8map_str); offset 0 is the empty string, meaning "none". --- */

#define R8_NONE UINT32_MAX

enum {
	R8M_RANGE = 1 << 0,	 /* has an obfuscated line range */
	R8M_ORIG = 1 << 1,	 /* has an original line */
	R8M_ORIG_RANGE = 1 << 2, /* original given as c:d */
	R8M_CALLER = 1 << 3,	 /* continues the group above: an inlining caller */
	R8M_SYNTH = 1 << 4,	 /* com.android.tools.r8.synthesized */
	R8M_OUTLINE = 1 << 5,	 /* com.android.tools.r8.outline */
};

struct r8_member {
	uint32_t obf;	    /* obfuscated method name */
	uint32_t cls;	    /* original class when qualified (inlined from
			       another class), else 0: the mapped class */
	uint32_t name;	    /* original method name */
	uint32_t min_start; /* obfuscated range, when R8M_RANGE */
	uint32_t min_end;
	uint32_t orig_start; /* original line(s), when R8M_ORIG */
	uint32_t orig_end;
	uint32_t seq;	    /* file order (sort tie-break) */
	uint32_t callsite;  /* first outlineCallsite pair + 1, or 0 */
	uint16_t ncallsite; /* pairs in it */
	uint16_t flags;	    /* R8M_* */
	uint32_t rewrite;   /* rewriteFrame rule + 1, or 0 */
};

struct r8_class {
	uint32_t obf;
	uint32_t orig;
	uint32_t file;	/* sourceFile metadata, or 0 */
	uint32_t first; /* members[first .. first+count), sorted by obf name */
	uint32_t count;
	uint32_t synth;
};

struct r8_pair {
	uint32_t from, to;
};

/* rewriteFrame: when the exception thrown is `throws` (a descriptor such as
 * Ljava/lang/NullPointerException;), drop `remove_inner` innermost frames. */
struct r8_rewrite {
	uint32_t throws; /* string offset */
	uint32_t remove_inner;
};

const char *r8map_str(const struct r8map *map, uint32_t off);
/* Interned offset of a string, or 0 when the map holds no such string (then
 * nothing in the map is named so). */
uint32_t r8map_find_str(const struct r8map *map, const char *s, size_t n);
/* Class by obfuscated / original name (interned offsets), or NULL. */
const struct r8_class *r8map_class_by_obf(const struct r8map *map, uint32_t name);
const struct r8_class *r8map_class_by_orig(const struct r8map *map, uint32_t name);
/* The members of cls whose obfuscated name is `name`, in file order:
 * *first is set to the first one; returns the count (0 when none). */
size_t r8map_methods_named(const struct r8map *map, const struct r8_class *cls, uint32_t name,
			   const struct r8_member **first);
const struct r8_pair *r8map_pairs(const struct r8map *map);
const struct r8_rewrite *r8map_rewrite(const struct r8map *map, uint32_t idx);

#endif
