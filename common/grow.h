/* Arrays that grow by doubling, with a bound on their length: no input can
 * make one allocate without limit, and no size computation overflows. */
#ifndef RUM_GROW_H
#define RUM_GROW_H

#include <stddef.h>

/* Makes *arr (of *cap elements of elem bytes) hold at least need elements:
 * 0, or -1 when need passes max or memory runs out (*arr is then kept). */
int array_reserve_slow(void **arr, size_t *cap, size_t need, size_t elem, size_t max);

static inline int array_reserve(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
	if (need <= *cap)
		return 0;
	return array_reserve_slow(arr, cap, need, elem, max);
}

/* ARRAY_RESERVE(a, cap, need, max) for a typed pointer a. */
#define ARRAY_RESERVE(a, cap, need, max)                                                           \
	array_reserve((void **)&(a), &(cap), (need), sizeof *(a), (max))

#endif
