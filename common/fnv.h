/* FNV-1a, 32 bits: the hash of the stages' small tables of short keys
 * (app ids, hosts, addresses, JSON paths, program names). A path's hash
 * continues its parent's, so fnv1a_more takes the hash so far. */
#ifndef RUM_FNV_H
#define RUM_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 2166136261u

static inline uint32_t fnv1a_more(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static inline uint32_t fnv1a(const char *s, size_t n)
{
	return fnv1a_more(FNV1A_INIT, s, n);
}

#endif
