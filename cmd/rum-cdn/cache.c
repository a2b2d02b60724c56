/* LRU cache of answers: entries in one array linked by index, a chained
 * hash over them. */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "fnv.h"

#define NIL UINT32_MAX

uint32_t cache_hash(const char *s, size_t n)
{
	uint32_t h = fnv1a(s, n);
	return h ^ (h >> 15);
}

int cache_init(struct cdn_cache *c, uint32_t cap)
{
	memset(c, 0, sizeof *c);
	c->head = c->tail = NIL;
	if (!cap)
		return 0;
	uint32_t nb = 16;
	while (nb < cap * 2u && nb < (1u << 30))
		nb *= 2;
	c->e = calloc(cap, sizeof *c->e);
	c->buckets = malloc(nb * sizeof *c->buckets);
	if (!c->e || !c->buckets) {
		cache_free(c);
		return -1;
	}
	memset(c->buckets, 0xFF, nb * sizeof *c->buckets);
	c->mask = nb - 1;
	c->cap = cap;
	return 0;
}

void cache_free(struct cdn_cache *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->e[i].str);
	free(c->e);
	free(c->buckets);
	memset(c, 0, sizeof *c);
}

static void lru_index_unlink(struct cdn_cache *c, uint32_t i)
{
	struct cache_ent *e = &c->e[i];
	if (e->prev != NIL)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next != NIL)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void lru_index_front(struct cdn_cache *c, uint32_t i)
{
	struct cache_ent *e = &c->e[i];
	e->prev = NIL;
	e->next = c->head;
	if (c->head != NIL)
		c->e[c->head].prev = i;
	c->head = i;
	if (c->tail == NIL)
		c->tail = i;
}

static void bucket_unlink(struct cdn_cache *c, uint32_t i)
{
	uint32_t *pp = &c->buckets[c->e[i].hash & c->mask];
	while (*pp != i)
		pp = &c->e[*pp].hnext;
	*pp = c->e[i].hnext;
}

static uint32_t find(struct cdn_cache *c, const char *host, size_t n, uint32_t hash)
{
	for (uint32_t i = c->buckets[hash & c->mask]; i != NIL; i = c->e[i].hnext) {
		const struct cache_ent *e = &c->e[i];
		if (e->hash == hash && e->host_len == n && memcmp(e->str, host, n) == 0)
			return i;
	}
	return NIL;
}

struct cache_ent *cache_get(struct cdn_cache *c, const char *host, size_t n, uint32_t hash,
			    uint64_t now_ms)
{
	if (!c->cap)
		return NULL;
	uint32_t i = find(c, host, n, hash);
	if (i == NIL)
		return NULL;
	if (c->e[i].expires_ms <= now_ms) {
		/* Left in place, off the hash: the LRU tail is reused first. */
		bucket_unlink(c, i);
		lru_index_unlink(c, i);
		c->e[i].hash = 0;
		c->e[i].host_len = 0;
		c->e[i].expires_ms = 0;
		/* Put it at the tail so it is the next one reused. */
		c->e[i].next = NIL;
		c->e[i].prev = c->tail;
		if (c->tail != NIL)
			c->e[c->tail].next = i;
		c->tail = i;
		if (c->head == NIL)
			c->head = i;
		c->e[i].hnext = NIL;
		c->e[i].type = 0;
		free(c->e[i].str);
		c->e[i].str = NULL;
		return NULL;
	}
	if (c->head != i) {
		lru_index_unlink(c, i);
		lru_index_front(c, i);
	}
	return &c->e[i];
}

struct cache_ent *cache_put(struct cdn_cache *c, const char *host, size_t n, uint32_t hash,
			    const char *canon, size_t canon_len, uint64_t expires_ms)
{
	if (!c->cap || n > UINT16_MAX || canon_len > UINT16_MAX)
		return NULL;
	char *str = malloc(n + canon_len + 2);
	if (!str)
		return NULL;
	memcpy(str, host, n);
	str[n] = 0;
	memcpy(str + n + 1, canon, canon_len);
	str[n + 1 + canon_len] = 0;

	uint32_t i = find(c, host, n, hash);
	if (i != NIL) {
		bucket_unlink(c, i);
		lru_index_unlink(c, i);
	} else if (c->n < c->cap) {
		i = c->n++;
	} else {
		i = c->tail;
		lru_index_unlink(c, i);
		if (c->e[i].str) /* NULL: an expired entry already off the hash */
			bucket_unlink(c, i);
	}
	struct cache_ent *e = &c->e[i];
	free(e->str);
	memset(e, 0, sizeof *e);
	e->str = str;
	e->hash = hash;
	e->host_len = (uint16_t)n;
	e->canon_len = (uint16_t)canon_len;
	e->expires_ms = expires_ms;
	e->hnext = c->buckets[hash & c->mask];
	c->buckets[hash & c->mask] = i;
	lru_index_front(c, i);
	return e;
}
