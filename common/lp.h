/* InfluxDB line protocol: parser (a whole request body at a time, string
 * fields may hold raw newlines inside quotes) and writer (from a record). */
#ifndef RUM_LP_H
#define RUM_LP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"
#include "record.h"

enum lp_precision { LP_NS, LP_US, LP_MS, LP_S, LP_M, LP_H, LP_GUESS };

/* "ns", "n", "us", "u", "ms", "s", "m", "h" (DataKit's spellings); -1 otherwise. */
int lp_precision_parse(const char *s, enum lp_precision *p);
/* Nanoseconds from a timestamp in the given precision; LP_GUESS decides from
 * the magnitude of |t| (< 1e10 s, < 1e13 ms, < 1e16 us, else ns). -1 on
 * overflow. */
int lp_time_to_ns(int64_t t, enum lp_precision p, int64_t *ns);

enum lp_vtype { LPV_STRING, LPV_INT, LPV_UINT, LPV_FLOAT, LPV_BOOL };

struct lp_kv {
	const char *key; /* raw, with line-protocol escapes */
	size_t key_len;
	const char *val; /* string: between the quotes, escapes kept; int/uint:
			  * digits without the suffix; float: as written;
			  * bool: as written */
	size_t val_len;
	enum lp_vtype type;
	int bool_val;
	unsigned flags; /* LPF_*: lets writers skip work on plain tokens */
};

#define LPF_KEY_ESC 1u	/* key holds a backslash: unescape it */
#define LPF_VAL_ESC 2u	/* tag value / string holds a backslash */
#define LPF_NUM_JSON 4u /* int/uint/float literal is already JSON as written */
/* Key / value goes into a JSON string as it is: no backslash, '"', control
 * or non-ASCII byte. LPF_VAL_* is LPF_KEY_* << 1 (writers rely on it). */
#define LPF_KEY_SAFE 8u
#define LPF_VAL_SAFE 16u

struct lp_point {
	const char *meas; /* raw, with escapes */
	size_t meas_len;
	struct lp_kv *tags;
	size_t ntags, tags_cap;
	struct lp_kv *fields;
	size_t nfields, fields_cap;
	int64_t time_ns;     /* the point's time, or the parser's `now` */
	size_t line;	     /* 1-based line of the body where the point starts */
	unsigned meas_flags; /* LPF_KEY_ESC when meas holds a backslash */
	uint32_t *dup_tab;   /* scratch for duplicate-key checks */
	size_t dup_cap;
};

struct lp_parser {
	const char *start, *p, *end;
	size_t line;
	enum lp_precision precision;
	int64_t now_ns;
	const char *line_start; /* of the line p is on: error columns */
	int failed;		/* after an error every call repeats it */
	struct rum_error err;
};

#define LP_MAX_TAGS 1024
#define LP_MAX_FIELDS 4096

void lp_parser_init(struct lp_parser *ps, const char *p, size_t n, enum lp_precision precision,
		    int64_t now_ns);
/* 1: a point; 0: end of input; -1: error (the parser stops): err->msg
 * says what is wrong, err->line and err->column (1-based, the column in
 * bytes) where, err->offset is the same place as a byte offset in the body.
 * pt must start zeroed ({0}); its arrays are reused from point to point,
 * so the views in it are valid until the next call.
 * Escapes (DataKit's, i.e. InfluxDB 1.x's): in the measurement, keys and
 * tag values a backslash before ',' '=' or ' ' makes that character
 * literal, any other backslash is itself literal; in string fields only
 * \" and \\ are escapes. Keys must be valid UTF-8 and unique within the
 * point; tag values and strings may hold any bytes (JSON gets U+FFFD). */
int lp_next(struct lp_parser *ps, struct lp_point *pt, struct rum_error *err);

void lp_point_free(struct lp_point *pt);

/* Unescape a measurement / key / tag value (is_string 0) or a string field
 * (is_string 1: only \" and \\ are escapes) into out (appended). */
int lp_unescape(struct buf *out, const char *s, size_t n, int is_string);
/* Compare a raw key with a plain name. */
int lp_key_eq(const char *raw, size_t raw_len, const char *name);

/* An extra tag to set when writing JSON (replaces a tag of that name). */
struct lp_tag_set {
	const char *key;
	const char *val;
	size_t val_len;
};

/* Append the point as one JSON record (no newline). */
int lp_point_to_json(const struct lp_point *pt, const struct lp_tag_set *set, size_t nset,
		     struct buf *out);

/* Append the record as one line of line protocol (with '\n'). Records
 * without time get default_time_ns. Returns -1 if it cannot be expressed
 * (no fields: line protocol needs at least one; an empty measurement or one
 * starting with '#' or a tab), with out unchanged. What line protocol cannot
 * carry is adapted as InfluxDB writers do: tags with an empty key or value
 * and fields with an empty key are left out, trailing backslashes of names
 * and tag values are dropped, a newline in them becomes the two characters
 * \n. Integers beyond int64 (JSON has no unsigned) are written with 'u'. */
int lp_write_record(const struct record *r, int64_t default_time_ns, struct buf *out);

#endif
