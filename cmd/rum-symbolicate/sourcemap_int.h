/* Inside the source map parser (not for other files): the decoded map,
 * the parser's state, and what its three files share.
 *   sourcemap_json.c   JSON read from a stream of chunks: input, errors,
 *                      memory, strings, numbers, skipped values, arrays
 *   sourcemap_segments.c  "mappings": VLQ decoding into packed segments,
 *                      and the lookup in them
 *   sourcemap.c        the map object: members, checks, index maps */
#ifndef RUMPIPE_SOURCEMAP_INT_H
#define RUMPIPE_SOURCEMAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"
#include "sourcemap.h"

#define NONE UINT32_MAX
#define NOSTR SIZE_MAX
#define READ_CHUNK (64 * 1024)
/* Maps nest only sections → map → offset; the rest is unknown members we
 * skip, which may nest but never need to deeply. */
#define MAX_DEPTH 512
/* A JSON number longer than this is refused where its value matters (a
 * version, an offset, an ignoreList index); elsewhere only its syntax. */
#define MAX_NUMBER 64
/* Index maps within index maps, at most. */
#define MAX_NEST 32
/* Keys longer than this are no member we know; only a prefix is kept. */
#define MAX_KEY 32

/* A segment is its generated column (in gcols, searched alone so the
 * binary search touches 4 bytes a step) and where it points (in origs, at
 * the same index, packed: see pack()). */
struct orig {
	uint32_t src; /* NONE: a 1-field segment */
	uint32_t oline;
	uint32_t ocol;
	uint32_t name; /* NONE: no name */
};

struct seg {
	uint32_t gcol;
	struct orig o;
};

struct sbuf {
	char *d;
	size_t len, cap;
};

/* Decoded contents of one map (a section's map while it is parsed, the
 * whole flattened map at the end). */
struct body {
	uint32_t *gcols;
	uint64_t *origs;
	size_t nsegs, gcolcap, origcap;
	struct orig *wide; /* segments whose fields do not fit in 8 bytes */
	size_t nwide, widecap;
	uint32_t *lines; /* index of each line's first segment */
	size_t nlines, linecap;
	size_t *srcs; /* offsets into str; NOSTR for a null source */
	size_t nsrcs, srccap;
	size_t *names;
	size_t nnames, namecap;
	struct sbuf str;
	size_t file; /* offset into str, or NOSTR */
};

/* Where a segment points, in 8 bytes when its fields are small enough (a
 * source index below 4096, a name index below 2^18 - 1, an original line
 * below 2^20, an original column below 4096: nearly all segments), else an
 * index into the body's wide array. 12 bytes a segment with its column
 * instead of 20: more maps in the cache, fewer pages to touch. */
#define P_TAG_SHIFT 62
#define P_NOSOURCE (1ull << P_TAG_SHIFT)
#define P_WIDE (2ull << P_TAG_SHIFT)
#define P_SRC_BITS 12
#define P_NAME_BITS 18
#define P_LINE_BITS 20
#define P_COL_BITS 12
#define P_MASK(bits) ((1ull << (bits)) - 1)

static inline struct orig unpack(const struct body *b, uint64_t p)
{
	struct orig o;
	if (p & P_NOSOURCE) {
		o.src = o.name = NONE;
		o.oline = o.ocol = 0;
		return o;
	}
	if (p & P_WIDE)
		return b->wide[p & P_MASK(P_TAG_SHIFT)];
	o.src = (uint32_t)(p & P_MASK(P_SRC_BITS));
	p >>= P_SRC_BITS;
	o.name = (uint32_t)(p & P_MASK(P_NAME_BITS)) - 1; /* 0: none */
	p >>= P_NAME_BITS;
	o.oline = (uint32_t)(p & P_MASK(P_LINE_BITS));
	o.ocol = (uint32_t)(p >> P_LINE_BITS);
	return o;
}

/* Every BLOCK-th generated column again, apart: a lookup in a long line
 * (a minified bundle is a few lines of many thousand segments each) first
 * finds its block among these, which stay in cache, then searches the
 * block's 256 bytes, instead of touching a cache line far away at each of
 * twenty steps. */
#define BLOCK 64

struct sourcemap {
	struct body b;
	uint32_t *blocks; /* blocks[j] = b.gcols[j * BLOCK] */
	size_t mem;
};

struct parser {
	sm_read_fn read;
	void *ctx;
	const unsigned char *p, *end, *start;
	unsigned char *buf;	 /* NULL for input in memory */
	unsigned long long base; /* stream offset of *start */
	bool eof;
	bool failed;
	size_t mem, limit;
	struct rum_error *err; /* NULL: the caller wants no reason */
	struct sbuf key;
};

/* Where a source or name index too large for its list was first seen:
 * known only when the object ends, as "sources" may follow "mappings". */
struct refs {
	long long maxsrc, maxname; /* -1: none */
	unsigned long long srcat, nameat;
};

static inline unsigned long long pos(const struct parser *ps)
{
	return ps->base + (unsigned long long)(ps->p - ps->start);
}

#define fail(ps, ...) smp_fail_at((ps), pos(ps), __VA_ARGS__)

/* sourcemap_json.c: reading JSON from the chunks (each says more where it
 * is defined). They fail through smp_fail_at, which keeps the first
 * reason; the fail() macro says "at the current position". */
typedef bool (*item_fn)(struct parser *ps, void *arg, size_t index);
bool smp_array(struct parser *ps, const char *member, item_fn item, void *arg);
long smp_escape1(struct parser *ps);
bool smp_expect(struct parser *ps, char c, const char *what);
bool smp_fail_at(struct parser *ps, unsigned long long at, const char *fmt, ...);
bool smp_grow(struct parser *ps, void **ptr, size_t *cap, size_t need, size_t elem);
bool smp_key_is(const struct parser *ps, const char *name);
void smp_key_reset(struct parser *ps);
bool smp_literal(struct parser *ps, const char *word);
bool smp_refill(struct parser *ps);
bool smp_resize(struct parser *ps, void **ptr, size_t *cap, size_t ncap, size_t elem);
bool smp_sbuf_add(struct parser *ps, struct sbuf *s, const void *d, size_t n);
bool smp_skip_string(struct parser *ps);
bool smp_skip_value(struct parser *ps, int depth);
bool smp_string_to(struct parser *ps, struct sbuf *out, size_t max, bool *truncated);
const char *smp_type_ahead(struct parser *ps);
int smp_uint_value(struct parser *ps, const char *what, uint32_t *out);
bool smp_unexpected(struct parser *ps, const char *what);
void smp_ws(struct parser *ps);

/* sourcemap_segments.c: segments and "mappings". */
void smp_body_free(struct parser *ps, struct body *b);
bool smp_mappings(struct parser *ps, struct body *b, struct refs *refs);
bool smp_put_orig(struct parser *ps, struct body *b, size_t at, struct orig o);

/* The next byte without taking it, -1 at the end (or after a failure). */
static inline int peek(struct parser *ps)
{
	if (ps->p == ps->end && !smp_refill(ps))
		return -1;
	return *ps->p;
}

/* After a member of an object or an item of an array (close: '}' or ']'),
 * white space first: a ',' is taken and says another follows (1), close is
 * taken and says the container ended (0), anything else is reported as
 * unexpected (-1). */
static inline int smp_next_member(struct parser *ps, char close)
{
	smp_ws(ps);
	int c = peek(ps);
	if (c == ',') {
		ps->p++;
		return 1;
	}
	if (c == (unsigned char)close) {
		ps->p++;
		return 0;
	}
	smp_unexpected(ps, close == '}' ? "',' or '}'" : "',' or ']'");
	return -1;
}

#endif
