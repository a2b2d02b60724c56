/* A jv as a record line (see jvrec.h). */
#include "jvrec.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "json.h"

/* Bytes of a key quoted in a message. */
#define KEY_SHOWN 48

void jvrec_free(struct jvrec *w)
{
	rec_free(&w->check);
}

jv jvrec_parse(const char *p, size_t n)
{
	if (n > INT_MAX)
		return jv_invalid_with_msg(jv_string("longer than jq reads"));
	struct jv_parser *ps = jv_parser_new(0);
	if (!ps)
		return jv_invalid_with_msg(jv_string("out of memory"));
	jv_parser_set_buf(ps, p, (int)n, 0);
	jv v = jv_parser_next(ps);
	if (jv_is_valid(v)) {
		jv more = jv_parser_next(ps);
		if (jv_is_valid(more) || jv_invalid_has_msg(jv_copy(more))) {
			jv_free(v);
			v = jv_is_valid(more)
				? jv_invalid_with_msg(jv_string("more than one value"))
				: jv_copy(more);
		}
		jv_free(more);
	} else if (!jv_invalid_has_msg(jv_copy(v))) {
		jv_free(v);
		v = jv_invalid_with_msg(jv_string("no value"));
	}
	jv_parser_free(ps);
	return v;
}

static const char *kind_name(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		return "null";
	case JV_KIND_FALSE:
	case JV_KIND_TRUE:
		return "a boolean";
	case JV_KIND_NUMBER:
		return "a number";
	case JV_KIND_STRING:
		return "a string";
	case JV_KIND_ARRAY:
		return "an array";
	case JV_KIND_OBJECT:
		return "an object";
	default:
		return "invalid";
	}
}

/* "tags.ip: " style prefixes name the member in error messages. */
static int bad(struct rum_error *err, const char *where, jv key, const char *what)
{
	char shown[KEY_SHOWN + 4];
	if (jv_get_kind(key) == JV_KIND_STRING) {
		const char *s = jv_string_value(key);
		excerpt(shown, sizeof shown, s, strlen(s));
		return err_set(err, "%s.%s: %s", where, shown, what);
	}
	return err_set(err, "%s: %s", where, what);
}

/* The token orig has for a number equal to d, or NULL. */
static const char *same_number(const struct rec_kv *kv, double d, size_t *len)
{
	if (!kv)
		return NULL;
	if (kv->type == RV_INT) {
		int64_t i;
		if (rec_int(kv->val, kv->val_len, &i) < 0 || (double)i != d)
			return NULL;
	} else if (kv->type == RV_FLOAT) {
		double o;
		if (rec_double(kv->val, kv->val_len, &o) < 0 || o != d)
			return NULL;
	} else {
		return NULL;
	}
	*len = kv->val_len;
	return kv->val;
}

static int is_int64(double d)
{
	return d == trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
}

/* A number of fields: the original token, an integer or a float. */
static int add_number(struct buf *out, double d, const struct rec_kv *orig)
{
	size_t n;
	const char *tok = same_number(orig, d, &n);
	if (tok)
		return buf_add(out, tok, n);
	if (is_int64(d))
		return buf_add_i64(out, (int64_t)d);
	return json_add_double(out, d);
}

static int add_key(struct buf *out, jv key)
{
	const char *s = jv_string_value(key);
	return json_add_str(out, s, (size_t)jv_string_length_bytes(jv_copy(key)));
}

/* A tags or fields object; orig's array of the same (may be empty). */
static int add_kvs(struct buf *out, jv obj, const char *where, int is_field,
		   const struct rec_kv *orig, size_t norig, struct rum_error *err)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		char what[64];
		snprintf(what, sizeof what, "%s, not an object", kind_name(obj));
		return bad(err, where, jv_invalid(), what);
	}
	int rc = 0, first = 1;
	buf_addc(out, '{');
	for (int it = jv_object_iter(obj); rc == 0 && jv_object_iter_valid(obj, it);
	     it = jv_object_iter_next(obj, it)) {
		jv key = jv_object_iter_key(obj, it);
		jv val = jv_object_iter_value(obj, it);
		jv_kind kind = jv_get_kind(val);
		size_t klen = (size_t)jv_string_length_bytes(jv_copy(key));
		if (klen == 0) {
			rc = bad(err, where, jv_invalid(), "an empty key");
		} else if (kind == JV_KIND_STRING ||
			   (is_field && kind != JV_KIND_NULL && kind != JV_KIND_ARRAY &&
			    kind != JV_KIND_OBJECT)) {
			if (!first)
				buf_addc(out, ',');
			first = 0;
			add_key(out, key);
			buf_addc(out, ':');
			if (kind == JV_KIND_STRING) {
				add_key(out, val);
			} else if (kind == JV_KIND_NUMBER) {
				double d = jv_number_value(val);
				if (!isfinite(d))
					rc = bad(err, where, key, "not a finite number");
				else
					add_number(
					    out, d,
					    rec_kv_find(orig, norig, jv_string_value(key), klen));
			} else {
				buf_adds(out, kind == JV_KIND_TRUE ? "true" : "false");
			}
		} else {
			char what[64];
			snprintf(what, sizeof what, "%s, not a %s", kind_name(val),
				 is_field ? "string, number or boolean" : "string");
			rc = bad(err, where, key, what);
		}
		jv_free(key);
		jv_free(val);
	}
	buf_addc(out, '}');
	return rc;
}

static int add_time(struct buf *out, jv val, const struct record *orig, struct rum_error *err)
{
	if (jv_get_kind(val) != JV_KIND_NUMBER) {
		char what[64];
		snprintf(what, sizeof what, "%s, not an integer", kind_name(val));
		return err_set(err, "time: %s", what);
	}
	double d = jv_number_value(val);
	if (!is_int64(d))
		return err_set(err, "time: %.17g is not an integer of 64 bits", d);
	if (orig && orig->has_time && (double)orig->time == d)
		return buf_add_i64(out, orig->time);
	return buf_add_i64(out, (int64_t)d);
}

/* Whether a key is the name n (a key may hold a NUL: compared whole). */
static int key_is(const char *k, size_t klen, const char *n)
{
	return klen == strlen(n) && memcmp(k, n, klen) == 0;
}

static int add_member(struct buf *out, const char *k, size_t klen, jv val,
		      const struct record *orig, int *have_meas, struct rum_error *err)
{
	static const struct rec_kv none[1];
	if (key_is(k, klen, "measurement")) {
		if (jv_get_kind(val) != JV_KIND_STRING)
			return err_set(err, "measurement: %s, not a string", kind_name(val));
		if (jv_string_length_bytes(jv_copy(val)) == 0)
			return err_set(err, "measurement: an empty string");
		*have_meas = 1;
		return add_key(out, val);
	}
	if (key_is(k, klen, "tags"))
		return add_kvs(out, val, "tags", 0, orig ? orig->tags : none,
			       orig ? orig->ntags : 0, err);
	if (key_is(k, klen, "fields"))
		return add_kvs(out, val, "fields", 1, orig ? orig->fields : none,
			       orig ? orig->nfields : 0, err);
	if (key_is(k, klen, "time"))
		return add_time(out, val, orig, err);
	/* Other keys pass as jq prints them; the codec skips them. */
	jv s = jv_dump_string(jv_copy(val), 0);
	int rc = buf_add(out, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
	return rc;
}

int jvrec_write(struct jvrec *w, jv v, const struct record *orig, struct buf *out,
		struct rum_error *err)
{
	size_t start = out->len;
	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return err_set(err, "emitted %s, not a record (an object)", kind_name(v));
	int rc = 0, first = 1, have_meas = 0;
	buf_addc(out, '{');
	for (int it = jv_object_iter(v); rc == 0 && jv_object_iter_valid(v, it);
	     it = jv_object_iter_next(v, it)) {
		jv key = jv_object_iter_key(v, it);
		jv val = jv_object_iter_value(v, it);
		if (!first)
			buf_addc(out, ',');
		first = 0;
		add_key(out, key);
		buf_addc(out, ':');
		rc = add_member(out, jv_string_value(key),
				(size_t)jv_string_length_bytes(jv_copy(key)), val, orig, &have_meas,
				err);
		jv_free(key);
		jv_free(val);
	}
	buf_addc(out, '}');
	if (rc == 0 && !have_meas)
		rc = err_set(err, "no measurement");
	if (rc == 0 && out->err)
		rc = err_set(err, "out of memory");
	/* Limits the shape does not show (tag and field counts, nesting of
	 * other keys) are the codec's own: it reads the line back. */
	if (rc == 0) {
		struct rum_error perr;
		if (rec_parse_line(&w->check, out->p + start, out->len - start, &perr) < 0)
			rc = err_set(err, "not a record: %s", perr.msg);
	}
	if (rc < 0) {
		out->len = start;
		out->err = 0;
	}
	return rc;
}
