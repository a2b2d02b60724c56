/* Source map v3 (ECMA-426): parse a map, look up generated positions.
 *
 * The parser reads the map's JSON as a stream of chunks (a map can be up to
 * 4 GiB and comes out of a zip entry), decodes "mappings" as it goes and
 * skips "sourcesContent" without keeping it. Index maps ("sections") are
 * parsed recursively into one lookup structure. A map that is invalid per the
 * spec is rejected with the reason.
 *
 * Positions here are 0-based lines and 0-based columns, as in the spec; the
 * callers convert from what browsers report. */
#ifndef RUMPIPE_SOURCEMAP_H
#define RUMPIPE_SOURCEMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errmsg.h"

struct sourcemap;

/* Chunked input: read up to n bytes into buf; return the count, 0 at the
 * end, -1 on an error (the parse then fails with "read error"). */
typedef ssize_t (*sm_read_fn)(void *ctx, void *buf, size_t n);

/* Parse a whole map. mem_limit bounds the memory the parsed map may take
 * (0: no bound); past it the parse fails with a reason saying so. On failure
 * returns NULL and fills err (when not NULL): err->msg is one line
 * ("byte 1234: ..."), err->offset the byte where it went wrong. */
struct sourcemap *sm_parse(sm_read_fn read, void *ctx, size_t mem_limit, struct rum_error *err);
struct sourcemap *sm_parse_mem(const char *data, size_t len, size_t mem_limit,
			       struct rum_error *err);

struct sm_original {
	const char *source; /* sourceRoot joined with sources[i]; NULL when the
			       position maps to nothing (no segment, or a
			       1-field segment) */
	const char *name;   /* names[i] of a 5-field segment, else NULL */
	uint32_t line;	    /* 0-based */
	uint32_t column;    /* 0-based */
	int mapped;	    /* 1 when the segment found has an original
			       position (4 or 5 fields), even when its
			       source is null in "sources"; line and column
			       are then filled in */
};

/* The original position of a generated one: the segment on that generated
 * line with the greatest generated column <= column (the greatest lower
 * bound, as trace-mapping's originalPositionFor and the spec's examples).
 * Returns 0 and fills out when a segment with a source is found, -1
 * otherwise (out->source is then NULL). The strings live as long as the map. */
int sm_lookup(const struct sourcemap *map, uint32_t line, uint32_t column, struct sm_original *out);

/* Segments in the map (after flattening sections), and the generated
 * position of the i-th in (line, column) order: for tools and benchmarks
 * that want real mapped positions. sm_segment returns -1 when i is out of
 * range. */
size_t sm_segment_count(const struct sourcemap *map);
int sm_segment(const struct sourcemap *map, size_t i, uint32_t *line, uint32_t *column);

/* The "file" member, or NULL. */
const char *sm_file(const struct sourcemap *map);

/* Bytes the parsed map holds (for the cache's memory budget). */
size_t sm_memory(const struct sourcemap *map);

void sm_free(struct sourcemap *map);

#endif
