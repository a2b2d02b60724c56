/* UTF-8, for the JSON reader and for every writer of JSON text: one place
 * that knows which byte sequences are valid (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), how a code point is written, and how
 * UTF-16 surrogate halves (JSON's \u escapes) make one code point.
 *
 * The checks run once per non-ASCII character of every record, so all of
 * it is inline here: there is no utf8.c. */
#ifndef RUM_UTF8_H
#define RUM_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UTF8_REPLACEMENT 0xFFFDu /* U+FFFD, written for what cannot be kept */

/* Length of the valid UTF-8 sequence (2..4 bytes) that starts with the
 * non-ASCII byte at p and ends before end, or 0 when it is not one. */
static inline int utf8_seq_len(const char *p, const char *end)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t avail = (size_t)(end - p);
	unsigned c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (avail < 3)
			return 0;
		unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (avail < 4)
			return 0;
		unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

/* Whether the n bytes at p are valid UTF-8 throughout (ASCII included).
 * ASCII eight bytes at a time: names are mostly ASCII around a few
 * non-ASCII letters. */
static inline int utf8_valid(const char *p, size_t n)
{
	const char *end = p + n;
	while (p < end) {
		uint64_t word;
		if (end - p >= 8 && (memcpy(&word, p, 8), !(word & 0x8080808080808080ull))) {
			p += 8;
			continue;
		}
		if ((unsigned char)*p < 0x80) {
			p++;
			continue;
		}
		int len = utf8_seq_len(p, end);
		if (!len)
			return 0;
		p += len;
	}
	return 1;
}

/* Writes code point cp (at most U+10FFFF, not a surrogate) as 1..4 bytes at
 * o and returns how many. */
static inline int utf8_encode(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* UTF-16 surrogate halves, as \u escapes carry code points past U+FFFF. */
static inline int utf16_high(uint32_t u)
{
	return u >= 0xD800 && u <= 0xDBFF;
}

static inline int utf16_low(uint32_t u)
{
	return u >= 0xDC00 && u <= 0xDFFF;
}

static inline uint32_t utf16_join(uint32_t high, uint32_t low)
{
	return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
}

#endif
