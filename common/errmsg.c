#include "errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vset(struct rum_error *err, size_t offset, const char *fmt, va_list ap)
{
	err->offset = offset;
	err->line = err->column = 0;
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int err_set(struct rum_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int err_at(struct rum_error *err, size_t offset, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, offset, fmt, ap);
	va_end(ap);
	return -1;
}

int err_reason(struct rum_error *err, size_t offset, const char *reason)
{
	size_t n = strnlen(reason, sizeof err->msg - 1);
	memcpy(err->msg, reason, n);
	err->msg[n] = '\0';
	err->offset = offset;
	err->line = err->column = 0;
	return -1;
}

void err_prefix(struct rum_error *err, const char *fmt, ...)
{
	char prefix[RUM_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	/* The prefix first, then as much of the old message as still fits. */
	char was[RUM_ERROR_MAX];
	memcpy(was, err->msg, sizeof was);
	size_t n = strlen(prefix);
	if (n > sizeof err->msg - 3)
		n = sizeof err->msg - 3;
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	size_t left = sizeof err->msg - n - 2;
	size_t m = strnlen(was, left - 1);
	memcpy(err->msg + n + 2, was, m);
	err->msg[n + 2 + m] = '\0';
}

void excerpt(char *out, size_t outlen, const char *s, size_t n)
{
	if (!outlen)
		return;
	size_t j = 0;
	for (size_t i = 0; i < n && j + 4 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		out[j++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (n > j && j + 3 < outlen) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
}
