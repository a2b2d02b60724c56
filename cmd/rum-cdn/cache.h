/* Answers by host: a fixed number of entries, least recently used evicted
 * first, each valid until its own expiry (answers and failures keep
 * different times). */
#ifndef RUM_CDN_CACHE_H
#define RUM_CDN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cdnmap.h"

struct cache_ent {
	uint32_t hnext, prev, next; /* bucket chain and LRU list: indexes, NIL ends */
	uint32_t hash;
	uint64_t expires_ms;
	uint8_t type, fail; /* enum cdn_type, enum cdn_fail */
	uint16_t host_len, canon_len;
	uint32_t map_gen; /* the dictionary prov was matched in */
	const struct cdn_provider *prov;
	char *str; /* host, NUL, canonical name, NUL */
};

struct cdn_cache {
	struct cache_ent *e;
	uint32_t *buckets;
	uint32_t mask;
	uint32_t cap, n;
	uint32_t head, tail; /* most / least recently used */
};

uint32_t cache_hash(const char *s, size_t n);
/* cap 0: a cache that remembers nothing. */
int cache_init(struct cdn_cache *c, uint32_t cap);
void cache_free(struct cdn_cache *c);
/* The live entry of host, made the most recently used; an expired one is
 * dropped and NULL returned. */
struct cache_ent *cache_get(struct cdn_cache *c, const char *host, size_t n, uint32_t hash,
			    uint64_t now_ms);
/* Store (or replace) host's entry; NULL when the cache is off or out of
 * memory (the answer is then simply not remembered). */
struct cache_ent *cache_put(struct cdn_cache *c, const char *host, size_t n, uint32_t hash,
			    const char *canon, size_t canon_len, uint64_t expires_ms);

#endif
