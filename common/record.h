/* The record codec: one JSON object per line,
 *   {"measurement":"m","tags":{"k":"v"},"fields":{"f":1},"time":123}
 * Parsing yields a view into the caller's bytes (nothing copied); tokens are
 * kept raw (strings with their quotes and escapes) so that unchanged parts can
 * be written out byte for byte. Keys may come in any order with any JSON
 * spacing; unknown top-level keys are skipped (and kept by edits). */
#ifndef RUM_RECORD_H
#define RUM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"
#include "json.h"

enum rec_vtype { RV_STRING, RV_INT, RV_FLOAT, RV_BOOL };

struct rec_kv {
	const char *key; /* raw JSON string token, quotes included */
	size_t key_len;
	const char *val; /* raw JSON token: "string" | 123 | 1.5 | true | false */
	size_t val_len;
	enum rec_vtype type;
	uint32_t hash; /* of the decoded key: lookups and duplicate checks */
};

/* Start from {0}; the tags/fields arrays grow once and are reused by later
 * parses (up to REC_MAX_TAGS / REC_MAX_FIELDS), and rec_free frees them. */
struct record {
	const char *src; /* the object parsed: src[0] == '{', src[len-1] == '}' */
	size_t len;
	const char *meas; /* raw JSON string token of "measurement" */
	size_t meas_len;
	struct rec_kv *tags;
	size_t ntags;
	struct rec_kv *fields;
	size_t nfields;
	int64_t time;
	int has_time;
	/* Offsets in src of the tags / fields objects, from '{' to just past
	 * '}'; both 0 when the object is absent. */
	size_t tags_off, tags_end, fields_off, fields_end;
	/* Offset in src just past the value of the last top-level member:
	 * where edits create an absent tags / fields object. */
	size_t last_end;
	size_t tags_cap, fields_cap; /* storage owned by the record */
};

/* Limits that keep hostile input from allocating without bound. */
#define REC_MAX_TAGS 1024
#define REC_MAX_FIELDS 4096
#define REC_MAX_DEPTH 64 /* nesting inside skipped unknown keys */

/* Parse the JSON object that starts at p (after optional whitespace).
 * *consumed gets the number of bytes up to and including its closing '}'.
 * Returns 0, or -1 with err filled. Requires measurement (a string), tags
 * (when present) an object of strings, fields (when present) an object of
 * string | number | boolean, time (when present) an integer. */
int rec_parse(struct record *r, const char *p, size_t n, size_t *consumed, struct rum_error *err);
/* Same, but the object must be all of p[0..n) apart from surrounding
 * whitespace (a '\r' before the newline is whitespace too). */
int rec_parse_line(struct record *r, const char *p, size_t n, struct rum_error *err);
void rec_free(struct record *r);

/* Find a tag / field by its decoded key. NULL when absent. */
const struct rec_kv *rec_tag(const struct record *r, const char *key);
const struct rec_kv *rec_field(const struct record *r, const char *key);
/* The same in an array of n tags or fields, for a key of klen bytes. */
const struct rec_kv *rec_kv_find(const struct rec_kv *a, size_t n, const char *key, size_t klen);

/* Decode a raw JSON string token (with quotes) to UTF-8. When the token has
 * no escapes the result points into the token itself and scratch is unused;
 * otherwise it is decoded into scratch (reset first). Returns 0 or -1. */
int rec_str(const char *tok, size_t n, struct buf *scratch, const char **s, size_t *len);
/* Whether the record's measurement decodes to name: a comparison of the
 * raw token, decoded into scratch only when it holds escapes. */
int rec_meas_is(const struct record *r, const char *name, struct buf *scratch);
/* Numeric values of RV_INT / RV_FLOAT tokens. Return 0, or -1 (out of range). */
int rec_int(const char *tok, size_t n, int64_t *v);
int rec_double(const char *tok, size_t n, double *v);

/* The JSON writers json_add_str and json_add_double are in json.h. */

/* Edits: set tags and fields on a record, copying every untouched byte of
 * it as it was. An existing key's value is replaced in place; a new key is
 * appended at the end of its object (the object is created if absent).
 * Keys are plain (decoded) non-empty C strings; of two edits of one key the
 * later wins. One rec_edit can be applied to many records. After a failed
 * allocation every call fails until rec_edit_reset. */
struct rec_edit_op {
	int is_field;
	size_t key_off, key_len; /* decoded key, in ops_data */
	size_t val_off, val_len; /* raw JSON token to write, in ops_data */
};
struct rec_edit {
	struct rec_edit_op *ops;
	size_t nops, cap;
	struct buf data;
};

void rec_edit_init(struct rec_edit *e);
void rec_edit_reset(struct rec_edit *e);
void rec_edit_free(struct rec_edit *e);
int rec_edit_tag(struct rec_edit *e, const char *key, const char *val, size_t val_len);
int rec_edit_field_str(struct rec_edit *e, const char *key, const char *val, size_t val_len);
int rec_edit_field_int(struct rec_edit *e, const char *key, int64_t v);
int rec_edit_field_double(struct rec_edit *e, const char *key, double v);
int rec_edit_field_bool(struct rec_edit *e, const char *key, int v);
/* Writes the edited record (no newline) to out. */
int rec_edit_apply(const struct record *r, const struct rec_edit *e, struct buf *out);

/* Write r in the canonical form (measurement, tags, fields, time; no
 * spaces), tokens copied raw. time is written when r->has_time. */
int rec_write(const struct record *r, struct buf *out);

#endif
