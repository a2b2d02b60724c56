/* What a jq program emits, written as a record line: a jv object checked
 * against the record's shape (measurement a non-empty string, tags an
 * object of strings, fields an object of strings, numbers and booleans,
 * time an integer) and written in the order jq keeps its keys, the order
 * `jq -c` prints them in.
 *
 * jq 1.6 holds every number as a double. A number equal to the value the
 * same field or time had in the record the program was given is
 * written with that record's own token, so an untouched 1.0 stays 1.0 and
 * a time of 19 digits keeps every digit; another integral number within
 * int64 is written as an integer (jq cannot tell 2.0 from 2), anything
 * else as a float. */
#ifndef RUM_JQ_JVREC_H
#define RUM_JQ_JVREC_H

#include <jv.h>

#include "buf.h"
#include "errmsg.h"
#include "record.h"

struct jvrec {
	struct record check; /* the line written, parsed again by the codec */
};

void jvrec_free(struct jvrec *w);

/* The one JSON value of p[0..n), read by jq's parser; invalid, with jq's
 * message, when it is not one. (jq 1.6's jv_parse_sized would quote the
 * input with %s in its message: past the end of a buffer with no NUL.) */
jv jvrec_parse(const char *p, size_t n);

/* Appends v (not consumed) as one record, without a newline, to out.
 * orig: the record the program was given, or NULL. 0, or -1 with err
 * saying what is wrong and where ("tags.ip: a number, not a string"); out
 * is then as it was. */
int jvrec_write(struct jvrec *w, jv v, const struct record *orig, struct buf *out,
		struct rum_error *err);

#endif
