/* The parsed mapping: its string pool, arrays and class tables, and the
 * lookups retrace.c makes. Parsing mapping.txt is r8parse.c's. */
#include "r8map_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Grow an array to hold `need` elements, charging the map's budget. Not
 * common/'s array_reserve: every byte grown is charged to the map, and a
 * growth past the budget fails rather than stopping at it. */
int r8map_grow(struct r8map *m, void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 4 / elem)
			return -1;
		ncap *= 2;
	}
	size_t add = (ncap - *cap) * elem;
	if (m->limit && m->used + add > m->limit)
		return -1;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -1;
	*p = np;
	*cap = ncap;
	m->used += add;
	return 0;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15u ^ n;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdu;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
	h ^= h >> 32;
	return (uint32_t)h;
}

static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static bool str_eq(const struct r8map *m, uint32_t off, const char *s, size_t n)
{
	/* the pool must hold n bytes and a NUL from off before memcmp reads */
	if (n >= m->str_len - off)
		return false;
	const char *p = m->str + off;
	return memcmp(p, s, n) == 0 && p[n] == '\0';
}

static uint32_t find_str_h(const struct r8map *m, const char *s, size_t n, uint32_t h)
{
	if (!m->sht_cap)
		return 0;
	size_t mask = m->sht_cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct str_slot *e = &m->sht[i];
		if (!e->off)
			return 0;
		if (e->hash == h && str_eq(m, e->off, s, n))
			return e->off;
	}
}

uint32_t r8map_find_str(const struct r8map *m, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	return find_str_h(m, s, n, hash_bytes(s, n));
}

static int sht_rehash(struct r8map *m)
{
	size_t ncap = m->sht_cap ? m->sht_cap * 2 : 4096;
	size_t add = (ncap - m->sht_cap) * sizeof(struct str_slot);
	if (m->limit && m->used + add > m->limit)
		return -1;
	struct str_slot *t = calloc(ncap, sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < m->sht_cap; i++) {
		if (!m->sht[i].off)
			continue;
		size_t j = m->sht[i].hash & (ncap - 1);
		while (t[j].off)
			j = (j + 1) & (ncap - 1);
		t[j] = m->sht[i];
	}
	free(m->sht);
	m->sht = t;
	m->sht_cap = ncap;
	m->used += add;
	return 0;
}

/* Intern a string: its offset in the pool, 0 for the empty string, R8_NONE
 * when out of memory. */
uint32_t r8map_intern(struct r8map *m, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	uint32_t h = hash_bytes(s, n);
	uint32_t off = find_str_h(m, s, n, h);
	if (off)
		return off;
	if ((m->sht_n + 1) * 2 > m->sht_cap && sht_rehash(m) < 0)
		return R8_NONE;
	if (m->str_len + n + 1 >= UINT32_MAX)
		return R8_NONE;
	void *p = m->str;
	if (r8map_grow(m, &p, &m->str_cap, m->str_len + n + 1, 1) < 0)
		return R8_NONE;
	m->str = p;
	off = (uint32_t)m->str_len;
	memcpy(m->str + off, s, n);
	m->str[off + n] = '\0';
	m->str_len += n + 1;
	size_t mask = m->sht_cap - 1;
	size_t i = h & mask;
	while (m->sht[i].off)
		i = (i + 1) & mask;
	m->sht[i].off = off;
	m->sht[i].hash = h;
	m->sht_n++;
	return off;
}

const char *r8map_str(const struct r8map *m, uint32_t off)
{
	return m->str + off;
}

static int cmp_member(const void *a, const void *b)
{
	const struct r8_member *x = a, *y = b;
	if (x->obf != y->obf)
		return x->obf < y->obf ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Give back what doubling left unused: a parsed map lives in the cache for
 * long, and the cache charges it what it holds. */
static void shrink(struct r8map *m, void **p, size_t *cap, size_t n, size_t elem)
{
	if (!n || n == *cap)
		return;
	void *np = realloc(*p, n * elem);
	if (!np)
		return;
	m->used -= (*cap - n) * elem;
	*p = np;
	*cap = n;
}

int r8map_build_index(struct r8map *m)
{
	shrink(m, (void **)&m->str, &m->str_cap, m->str_len, 1);
	shrink(m, (void **)&m->mem, &m->mem_cap, m->nmem, sizeof *m->mem);
	shrink(m, (void **)&m->cls, &m->cls_cap, m->ncls, sizeof *m->cls);
	shrink(m, (void **)&m->pairs, &m->pairs_cap, m->npairs, sizeof *m->pairs);
	shrink(m, (void **)&m->rw, &m->rw_cap, m->nrw, sizeof *m->rw);
	for (size_t i = 0; i < m->ncls; i++)
		if (m->cls[i].count > 1)
			qsort(m->mem + m->cls[i].first, m->cls[i].count, sizeof *m->mem,
			      cmp_member);
	size_t cap = 16;
	while (cap < m->ncls * 2)
		cap *= 2;
	size_t add = 2 * cap * sizeof(uint32_t);
	if (m->limit && m->used + add > m->limit)
		return -1;
	m->by_obf = calloc(cap, sizeof(uint32_t));
	m->by_orig = calloc(cap, sizeof(uint32_t));
	if (!m->by_obf || !m->by_orig)
		return -1;
	m->cht_cap = cap;
	m->used += add;
	for (size_t i = 0; i < m->ncls; i++) {
		uint32_t keys[2] = {m->cls[i].obf, m->cls[i].orig};
		uint32_t *tabs[2] = {m->by_obf, m->by_orig};
		for (int t = 0; t < 2; t++) {
			size_t j = mix32(keys[t]) & (cap - 1);
			bool dup = false;
			while (tabs[t][j]) {
				if (m->cls[tabs[t][j] - 1].obf == keys[t] && t == 0)
					dup = true;
				if (m->cls[tabs[t][j] - 1].orig == keys[t] && t == 1)
					dup = true;
				if (dup)
					break;
				j = (j + 1) & (cap - 1);
			}
			if (!dup) /* the first mapping of a name wins */
				tabs[t][j] = (uint32_t)i + 1;
		}
	}
	return 0;
}

struct r8map *r8map_new(size_t mem_limit)
{
	struct r8map *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->limit = mem_limit;
	m->used = sizeof *m;
	/* offset 0 is the empty string */
	if (r8map_grow(m, (void **)&m->str, &m->str_cap, 1, 1) < 0) {
		free(m);
		return NULL;
	}
	m->str[0] = '\0';
	m->str_len = 1;
	return m;
}

size_t r8map_memory(const struct r8map *m)
{
	return m ? m->used : 0;
}

size_t r8map_classes(const struct r8map *m)
{
	return m->ncls;
}

size_t r8map_methods(const struct r8map *m)
{
	return m->nmem;
}

void r8map_free(struct r8map *m)
{
	if (!m)
		return;
	free(m->str);
	free(m->sht);
	free(m->cls);
	free(m->by_obf);
	free(m->by_orig);
	free(m->mem);
	free(m->pairs);
	free(m->rw);
	free(m);
}

static const struct r8_class *lookup(const struct r8map *m, const uint32_t *tab, uint32_t key,
				     int orig)
{
	if (!key || !m->cht_cap)
		return NULL;
	size_t mask = m->cht_cap - 1;
	for (size_t j = mix32(key) & mask; tab[j]; j = (j + 1) & mask) {
		const struct r8_class *c = &m->cls[tab[j] - 1];
		if ((orig ? c->orig : c->obf) == key)
			return c;
	}
	return NULL;
}

const struct r8_class *r8map_class_by_obf(const struct r8map *m, uint32_t name)
{
	return lookup(m, m->by_obf, name, 0);
}

const struct r8_class *r8map_class_by_orig(const struct r8map *m, uint32_t name)
{
	return lookup(m, m->by_orig, name, 1);
}

size_t r8map_methods_named(const struct r8map *m, const struct r8_class *c, uint32_t name,
			   const struct r8_member **first)
{
	*first = NULL;
	if (!c->count)
		return 0; /* m->mem may be NULL: a map of classes only */
	const struct r8_member *base = m->mem + c->first;
	size_t lo = 0, hi = c->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (base[mid].obf < name)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < c->count && base[end].obf == name)
		end++;
	*first = base + lo;
	return end - lo;
}

const struct r8_pair *r8map_pairs(const struct r8map *m)
{
	return m->pairs;
}

const struct r8_rewrite *r8map_rewrite(const struct r8map *m, uint32_t idx)
{
	return idx && idx <= m->nrw ? &m->rw[idx - 1] : NULL;
}
