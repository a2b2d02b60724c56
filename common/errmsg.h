/* How parsers and loaders report failure, in every program and in common/.
 *
 * A function that can fail takes a `struct rum_error *err` as its last
 * argument and returns -1 (or NULL) on failure after filling it in; it
 * returns 0, a count or a pointer otherwise, and then leaves err alone.
 * err->msg is one line for a person: what went wrong and with what, without
 * the program's name (log.h adds it) and without a final period. Parsers
 * also say where: the byte offset in their input and, for text in lines,
 * the 1-based line and column (0 when they do not apply). A caller that
 * knows more (which option, which file) prefixes it with err_prefix().
 *
 * Module code never exits the program: die() is for main.c, which decides
 * what a failure means at start-up (exit 2 for bad configuration) and
 * later (log and go on). */
#ifndef RUM_ERRMSG_H
#define RUM_ERRMSG_H

#include <stddef.h>

#define RUM_ERROR_MAX 768

struct rum_error {
	size_t offset;	     /* byte offset in the input where it went wrong */
	size_t line, column; /* 1-based; 0 when the input is not text in lines */
	char msg[RUM_ERROR_MAX];
};

/* Fills err->msg (printf-style); offset, line and column become 0. Returns
 * -1, so that `return err_set(err, "...")` reads as a failure. */
int err_set(struct rum_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a byte offset in the input. */
int err_at(struct rum_error *err, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same for a fixed reason (a string constant), without printf: for
 * parsers on a per-record path, where a failure may be a normal outcome. */
int err_reason(struct rum_error *err, size_t offset, const char *reason);
/* Puts "PREFIX: " (printf-style) before the message already there. */
void err_prefix(struct rum_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A printable excerpt of s[0..n) for a message: control bytes as '?', at
 * most outlen - 4 bytes of s, and "..." after them when s was longer. */
void excerpt(char *out, size_t outlen, const char *s, size_t n);

#endif
