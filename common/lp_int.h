/* What the line-protocol files (lp.c: parser, lp_json.c: point to JSON,
 * lp_write.c: record to line protocol) share: the byte classes their
 * scanning loops look up, and the small inline helpers of their hot paths.
 * Private to them. */
#ifndef RUM_LP_INT_H
#define RUM_LP_INT_H

#include <stddef.h>

#include "buf.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Byte classes: one table lookup per byte in the scanning loops. */
enum {
	CL_NL = 1,
	CL_SP = 2,
	CL_COMMA = 4,
	CL_EQ = 8,
	CL_BSL = 16,
	CL_CR = 32,
	CL_HI = 64, /* non-ASCII: keys are checked for valid UTF-8 */
	CL_QUOTE = 128,
	CL_CTL = 256, /* control characters but '\n': JSON escapes them */
};

// clang-format off
static const unsigned short cls[256] = {
	256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 1, 256, 256, 288, 256, 256,
	256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256,
	2, 0, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};
// clang-format on

#define CLS(c) cls[(unsigned char)(c)]
/* The characters a backslash escapes in names and tag values. */
#define CL_ESCAPABLE (CL_COMMA | CL_EQ | CL_SP)

/* Whether the backslash at s[i] escapes the byte after it: in a string
 * field '"' and '\\', in names and tag values ',', '=' and ' '. */
static inline int escapes_next(const char *s, size_t i, size_t n, int is_string)
{
	return i + 1 < n && (is_string ? (s[i + 1] == '"' || s[i + 1] == '\\')
				       : (CLS(s[i + 1]) & CL_ESCAPABLE) != 0);
}

#if defined(__SSE2__)
/* Bit i set when p[i] (of 16 bytes) cannot stand as it is in a JSON string
 * nor in a string field: '"', a backslash, a control or non-ASCII byte. */
static inline unsigned str_special16(const char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	/* signed compare: non-ASCII bytes are below 0x20 too */
	__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
					      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
				 _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
	return (unsigned)_mm_movemask_epi8(m);
}
#endif

static inline int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Room for n more bytes; the common case without a call. */
static inline int room(struct buf *b, size_t n)
{
	if (!b->err && b->cap - b->len >= n)
		return 0;
	return buf_reserve(b, n);
}

#endif
