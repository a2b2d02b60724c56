/* The cache of parsed objects: a chained hash table and an LRU list. */
#include "objcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lru.h"
#include "metrics.h"

struct ent {
	uint64_t aid, entry;
	const struct objcache_kind *kind;
	void *obj; /* NULL: a remembered failure */
	size_t mem;
	int why;
	char *err;
	struct lru_link lru;
	struct ent *hnext;
};

struct objcache {
	struct ent **tab;
	size_t mask, count;
	size_t bytes, budget;
	struct lru_list lru; /* head most recent */
	uint64_t *m_loaded, *m_failed, *m_evicted, *m_bytes, *m_entries;
};

static size_t hash(uint64_t aid, uint64_t entry, const struct objcache_kind *k)
{
	uint64_t h = aid * 0x9E3779B97F4A7C15ull ^ entry * 0xC2B2AE3D27D4EB4Full ^ (uintptr_t)k;
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	return (size_t)(h ^ (h >> 32));
}

struct objcache *objcache_new(size_t budget)
{
	struct objcache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->mask = 255;
	c->tab = calloc(c->mask + 1, sizeof *c->tab);
	if (!c->tab) {
		free(c);
		return NULL;
	}
	c->budget = budget;
	c->m_loaded = metric_get("rum_symbolicate_maps_loaded_total", NULL, METRIC_COUNTER,
				 "Maps parsed out of archives into the cache.");
	c->m_failed = metric_get("rum_symbolicate_map_failures_total", NULL, METRIC_COUNTER,
				 "Maps that could not be used (invalid, too large, unreadable).");
	c->m_evicted = metric_get("rum_symbolicate_maps_evicted_total", NULL, METRIC_COUNTER,
				  "Maps dropped from the cache to stay within --memory-mb.");
	c->m_bytes = metric_get("rum_symbolicate_cache_bytes", NULL, METRIC_GAUGE,
				"Bytes held by the maps in the cache.");
	c->m_entries = metric_get("rum_symbolicate_cache_entries", NULL, METRIC_GAUGE,
				  "Maps (and remembered failures) in the cache.");
	return c;
}

static void drop(struct objcache *c, struct ent *e)
{
	struct ent **pp = &c->tab[hash(e->aid, e->entry, e->kind) & c->mask];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(&c->lru, &e->lru);
	if (e->obj)
		e->kind->free(e->obj);
	c->bytes -= e->mem;
	c->count--;
	free(e->err);
	free(e);
}

static void update_gauges(struct objcache *c)
{
	metric_set(c->m_bytes, c->bytes);
	metric_set(c->m_entries, c->count);
}

void objcache_free(struct objcache *c)
{
	if (!c)
		return;
	while (c->lru.head)
		drop(c, LRU_ENTRY(c->lru.head, struct ent, lru));
	free(c->tab);
	free(c);
}

static void grow(struct objcache *c)
{
	size_t nmask = c->mask * 2 + 1;
	struct ent **nt = calloc(nmask + 1, sizeof *nt);
	if (!nt)
		return; /* longer chains, still correct */
	for (size_t i = 0; i <= c->mask; i++) {
		struct ent *e = c->tab[i], *nx;
		for (; e; e = nx) {
			nx = e->hnext;
			size_t b = hash(e->aid, e->entry, e->kind) & nmask;
			e->hnext = nt[b];
			nt[b] = e;
		}
	}
	free(c->tab);
	c->tab = nt;
	c->mask = nmask;
}

void *objcache_get(struct objcache *c, uint64_t aid, uint64_t entry,
		   const struct objcache_kind *kind, void *load_ctx, int *why,
		   struct rum_error *err)
{
	size_t b = hash(aid, entry, kind) & c->mask;
	for (struct ent *e = c->tab[b]; e; e = e->hnext) {
		if (e->aid != aid || e->entry != entry || e->kind != kind)
			continue;
		lru_touch(&c->lru, &e->lru);
		if (!e->obj) {
			*why = e->why;
			err_reason(err, 0, e->err);
		}
		return e->obj;
	}

	size_t mem = 0;
	*why = 0;
	err->msg[0] = '\0';
	void *obj = kind->load(load_ctx, c->budget, &mem, why, err);
	if (obj)
		metric_inc(c->m_loaded);
	else
		metric_inc(c->m_failed);
	struct ent *e = calloc(1, sizeof *e);
	char *msg = obj ? NULL : strdup(err->msg);
	if (!e || (!obj && !msg)) {
		/* Not remembered: the next record tries again. */
		free(e);
		free(msg);
		if (obj)
			kind->free(obj);
		if (!*why)
			*why = 1;
		err_set(err, "out of memory");
		return NULL;
	}
	e->aid = aid;
	e->entry = entry;
	e->kind = kind;
	e->obj = obj;
	e->why = *why;
	e->err = msg;
	e->mem = sizeof *e + mem + (msg ? strlen(msg) + 1 : 0);
	e->hnext = c->tab[b];
	c->tab[b] = e;
	lru_push(&c->lru, &e->lru);
	c->bytes += e->mem;
	c->count++;
	while (c->bytes > c->budget && c->lru.tail != &e->lru) {
		struct ent *old = LRU_ENTRY(c->lru.tail, struct ent, lru);
		log_debug("cache: dropping a %s of %zu bytes to stay within %zu", old->kind->name,
			  old->mem, c->budget);
		metric_inc(c->m_evicted);
		drop(c, old);
	}
	if (c->count > (c->mask + 1) * 2)
		grow(c);
	update_gauges(c);
	return obj;
}

void objcache_drop_archive(struct objcache *c, uint64_t aid)
{
	for (struct lru_link *l = c->lru.head, *nx; l; l = nx) {
		nx = l->next;
		struct ent *e = LRU_ENTRY(l, struct ent, lru);
		if (e->aid == aid)
			drop(c, e);
	}
	update_gauges(c);
}

size_t objcache_bytes(const struct objcache *c)
{
	return c->bytes;
}

size_t objcache_count(const struct objcache *c)
{
	return c->count;
}
