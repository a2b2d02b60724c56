/* Growable byte buffer. Appends never fail silently: on allocation failure or
 * when the buffer would pass its limit the call returns -1 and the error is
 * sticky in ->err, so a long sequence of appends can be checked once. */
#ifndef RUM_BUF_H
#define RUM_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;
	size_t len;
	size_t cap;
	size_t limit; /* 0: no limit of its own (still bounded by SIZE_MAX/2) */
	int err;      /* sticky: 1 after a failed append */
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		0                                                                                  \
	}

int buf_reserve(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addc(struct buf *b, char c);
int buf_adds(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
int buf_add_u64(struct buf *b, uint64_t v);
int buf_add_i64(struct buf *b, int64_t v);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b); /* len = 0, err = 0, keeps memory */
void buf_free(struct buf *b);
/* Returns a NUL-terminated view (reserves one byte past len). NULL on OOM. */
const char *buf_cstr(struct buf *b);

#endif
