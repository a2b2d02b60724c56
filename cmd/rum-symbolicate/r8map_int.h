/* What the mapping parser (r8parse.c) and the parsed map (r8map.c) share:
 * the map's layout and the calls that fill it. Private to those two files;
 * everyone else reads a map through r8map.h. */
#ifndef RUMPIPE_R8MAP_INT_H
#define RUMPIPE_R8MAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "r8map.h"

struct str_slot {
	uint32_t off;
	uint32_t hash;
};

struct r8map {
	char *str;
	size_t str_len, str_cap;
	struct str_slot *sht;
	size_t sht_cap, sht_n;
	struct r8_class *cls;
	size_t ncls, cls_cap;
	uint32_t *by_obf, *by_orig; /* class index + 1; 0 empty */
	size_t cht_cap;
	struct r8_member *mem;
	size_t nmem, mem_cap;
	struct r8_pair *pairs;
	size_t npairs, pairs_cap;
	struct r8_rewrite *rw;
	size_t nrw, rw_cap;
	size_t used, limit;
};
/* An empty map (the string pool holds "" at offset 0) whose memory may
 * reach mem_limit (0: no bound); NULL when out of memory. */
struct r8map *r8map_new(size_t mem_limit);
/* Makes *p (of *cap elements of elem bytes) hold need elements, charging
 * the map's budget: -1 past the budget or out of memory. */
int r8map_grow(struct r8map *m, void **p, size_t *cap, size_t need, size_t elem);
/* Interns s[0..n): its offset in the pool, 0 for the empty string,
 * R8_NONE past the budget or out of memory. */
uint32_t r8map_intern(struct r8map *m, const char *s, size_t n);
/* Once every line is in: the arrays trimmed, each class's members sorted,
 * the class tables built. -1 past the budget or out of memory. */
int r8map_build_index(struct r8map *m);

#endif
