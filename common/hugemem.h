/* Large buffers filled once from end to end (an inflated archive entry, a
 * parsed source map's tables, a whole output) take a page fault every 4 KiB;
 * in `rum-symbolicate stack` on a 13 MiB map those faults were a fifth of
 * the run. Transparent huge pages make that one fault per 2 MiB, where the
 * system enables them on request (Debian's default, "madvise"). */
#ifndef RUM_HUGEMEM_H
#define RUM_HUGEMEM_H

#include <stddef.h>

/* Below this, a buffer is left as it is. */
#define HUGEMEM_MIN ((size_t)4 << 20)

/* Asks for huge pages under the 2 MiB-aligned part of [p, p + n) when n is
 * at least HUGEMEM_MIN. A hint: nothing changes if it is refused. */
void hugemem_advise(void *p, size_t n);

#endif
