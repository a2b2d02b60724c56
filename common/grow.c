#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

int array_reserve_slow(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
	if (need > max || elem == 0 || need > SIZE_MAX / 2 / elem)
		return -1;
	size_t nc = *cap ? *cap : 16;
	while (nc < need)
		nc *= 2;
	if (nc > max)
		nc = max;
	if (nc > SIZE_MAX / 2 / elem)
		nc = need;
	void *p = realloc(*arr, nc * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}
