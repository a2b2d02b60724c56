/* The JSON body of a RUM write: an array of {measurement,tags,fields,time}
 * objects, or such objects one after another (one, or NDJSON). Depends on common/ only, so the fuzz
 * target can link it alone. */
#ifndef RUM_JSONBODY_H
#define RUM_JSONBODY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"
#include "lp.h"
#include "record.h"

struct jsonbody {
	const char *start, *p, *end;
	int array;    /* the body is an array */
	int state;    /* 0 before the first element, 1 after one, 2 done */
	size_t index; /* 1-based number of the element last returned */
};

void jsonbody_init(struct jsonbody *jb, const char *p, size_t n);
/* 1: an element parsed into r (a view into the body); 0: end; -1: error. */
int jsonbody_next(struct jsonbody *jb, struct record *r, struct rum_error *err);
/* 1-based line number of a byte offset. */
size_t jsonbody_line(const char *start, size_t offset);
/* Write r canonically (measurement, tags, fields, time; no spaces) with the
 * tags of `set` replacing tags of the same name (in place) or appended,
 * and time_ns as its time. No newline. */
int jsonbody_write(const struct record *r, const struct lp_tag_set *set, size_t nset,
		   int64_t time_ns, struct buf *out, struct buf *scratch);

#endif
