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

/* A tag every point gets unless it has the key already, as a tag or a field
 * (DataKit's global host tags). Key and value plain (unescaped) text. */
struct added_tag {
	const char *key, *val;
	size_t val_len;
	unsigned lp_flags; /* LPF_KEY_SAFE | LPF_VAL_SAFE when both are plain */
};

/* What DataKit's feed adds to a point, beyond the intake's `set`. */
struct point_extra {
	const struct added_tag *add; /* where the point lacks the key */
	size_t nadd;
	int orig_time_set; /* the time was corrected: the field __orig_time */
	int64_t orig_time_ns;
};

/* The field that keeps a corrected point's time (nanoseconds, an integer),
 * as DataKit's auto_timestamp_correction names it. */
#define ORIG_TIME_FIELD "__orig_time"

/* Write r canonically (measurement, tags, fields, time; no spaces) with the
 * tags of `set` replacing tags of the same name (in place) or appended,
 * then x's (x may be NULL), and time_ns as its time. No newline. 0; -1 out
 * of memory; -2 when the tags or fields added make more than a record
 * holds (REC_MAX_TAGS, REC_MAX_FIELDS). */
int jsonbody_write(const struct record *r, const struct lp_tag_set *set, size_t nset,
		   const struct point_extra *x, int64_t time_ns, struct buf *out,
		   struct buf *scratch);

#endif
