#include "buf.h"
#include "hugemem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_HARD_LIMIT (SIZE_MAX / 2)

int buf_reserve(struct buf *b, size_t extra)
{
	if (b->err)
		return -1;
	size_t limit = b->limit ? b->limit : BUF_HARD_LIMIT;
	if (extra > limit || b->len > limit - extra) {
		b->err = 1;
		return -1;
	}
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > BUF_HARD_LIMIT / 2 ? need : cap * 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->err = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	hugemem_advise(p, cap);
	return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return b->err ? -1 : 0;
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_addc(struct buf *b, char c)
{
	if (b->len < b->cap && !b->err) {
		b->p[b->len++] = c;
		return 0;
	}
	return buf_add(b, &c, 1);
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n + 1) < 0) {
		b->err = 1;
		return -1;
	}
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int buf_add_u64(struct buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_add(b, tmp + i, sizeof tmp - i);
}

int buf_add_i64(struct buf *b, int64_t v)
{
	if (v < 0) {
		if (buf_addc(b, '-') < 0)
			return -1;
		return buf_add_u64(b, (uint64_t)0 - (uint64_t)v);
	}
	return buf_add_u64(b, (uint64_t)v);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

const char *buf_cstr(struct buf *b)
{
	if (buf_reserve(b, 1) < 0)
		return NULL;
	b->p[b->len] = '\0';
	return b->p;
}
