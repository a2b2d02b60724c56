/* Small readers of stack and map text, shared by the frame parsers
 * (jsframe.c, iosframe.c, tombstone.c) and the R8 mapping parser. */
#ifndef RUMPIPE_TEXTSCAN_H
#define RUMPIPE_TEXTSCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A space or a tab: what separates the columns of a frame line. */
static inline int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether the n bytes at p start with the string lit. */
static inline int has_prefix(const char *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && memcmp(p, lit, l) == 0;
}

/* The n bytes at s (1 to 10 decimal digits) as a number of at most max
 * into *v: 0, or -1 when they are not such a number. */
static inline int parse_u32_max(const char *s, size_t n, uint32_t max, uint32_t *v)
{
	if (n == 0 || n > 10)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > max)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

#endif
