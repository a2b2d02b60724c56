/* Base64 (RFC 4648), one implementation for every program: rum-listen
 * encodes replay bodies of tens of KB, rum-ship decodes them, so both
 * directions use SSSE3 or AVX2 when the CPU has it (chosen at run time: the build
 * targets baseline x86-64) and a table a digit otherwise. Both paths give
 * the same results for every input. */
#ifndef RUM_BASE64_H
#define RUM_BASE64_H

#include <stddef.h>

#include "buf.h"

/* The standard alphabet with '=' padding, appended to out. -1 on OOM. */
int base64_encode(struct buf *out, const void *p, size_t n);

/* The bytes of base64 text s[0..n) appended to out. Digits of the standard
 * and the URL-safe alphabet are both taken (even mixed); trailing '=' are
 * ignored, so padding is optional. Anything else, or a length that leaves
 * a lone digit, is refused: -1, with out->len unchanged (unless out of
 * memory, which sets out->err). */
int base64_decode(struct buf *out, const char *s, size_t n);

/* The number of bytes base64 text s[0..n) decodes to (up to two '=' of
 * padding or none), without looking at the digits. */
size_t base64_decoded_len(const char *s, size_t n);

/* The most vector code to use when the CPU has it: 0 none (the portable
 * path), 1 SSSE3, 2 AVX2 too (the default). For tests and fuzzing, which
 * compare the paths. */
void base64_set_vector(int level);
/* The level in use: 0, 1 or 2 as above. */
int base64_vector(void);

#endif
