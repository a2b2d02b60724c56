/* Point to JSON record: the conversion rum-listen does for every point it
 * takes in, done on the raw text so that no digit or byte is lost. */
#include <stdlib.h>
#include <string.h>

#include "lp.h"
#include "lp_int.h"

/* True when s[0..n) can go into a JSON string as it is: no '"', '\\',
 * control or non-ASCII byte (those take json_add_str's careful path). */
static inline int json_plain(const char *s, size_t n)
{
	size_t i = 0;
#if defined(__SSE2__)
	if (n >= 16) {
		for (;; i += 16) {
			if (i + 16 > n)
				i = n - 16; /* the last block overlaps the one before */
			if (str_special16(s + i))
				return 0;
			if (i + 16 == n)
				return 1;
		}
	}
#endif
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
			return 0;
	}
	return 1;
}

/* s[0..n) between quotes, as it is: the caller knows it needs no escape. */
static inline int json_quote(struct buf *out, const char *s, size_t n)
{
	if (room(out, n + 2) < 0)
		return -1;
	char *o = out->p + out->len;
	*o++ = '"';
	memcpy(o, s, n);
	o[n] = '"';
	out->len += n + 2;
	return 0;
}

static int json_put(struct buf *out, const char *s, size_t n)
{
	if (!json_plain(s, n))
		return json_add_str(out, s, n);
	return json_quote(out, s, n);
}

/* A name, tag value or string as a JSON string; flags as for a key
 * (LPF_KEY_ESC, LPF_KEY_SAFE; values shift theirs down to these). */
static int json_raw(struct buf *out, const char *s, size_t n, unsigned flags, int is_string)
{
	if (flags & LPF_KEY_SAFE)
		return json_quote(out, s, n);
	if (!(flags & LPF_KEY_ESC))
		return json_add_str(out, s, n);
	char stackbuf[4096];
	if (n <= sizeof stackbuf) {
		/* Unescaping only shrinks. */
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '\\' && escapes_next(s, i, n, is_string))
				i++;
			stackbuf[k++] = s[i];
		}
		return json_put(out, stackbuf, k);
	}
	struct buf tmp = BUF_INIT;
	int r = lp_unescape(&tmp, s, n, is_string);
	if (r == 0)
		r = json_put(out, tmp.p, tmp.len);
	buf_free(&tmp);
	return r;
}

/* Records carry int64 integers only (record.h): a larger unsigned value
 * becomes a float, written with all its digits. */
static int above_int64(const char *d, size_t n)
{
	return n > 19 || (n == 19 && memcmp(d, "9223372036854775807", 19) > 0);
}

/* A line-protocol number as JSON: integers without '+' or leading zeros;
 * floats with a digit before and after the '.', and a '.' unless there is
 * an exponent. Done on the text, so no digit of precision is lost. */
static int json_number(struct buf *out, const struct lp_kv *kv)
{
	const char *v = kv->val;
	size_t n = kv->val_len, i = 0;
	/* At most: the literal, a '0' before and after the '.', the '.'. */
	if (room(out, n + 4) < 0)
		return -1;
	char *o = out->p + out->len;
	if (kv->flags & LPF_NUM_JSON) {
		memcpy(o, v, n);
		o += n;
		if (kv->type == LPV_UINT && above_int64(v, n)) {
			*o++ = '.';
			*o++ = '0';
		}
		out->len = (size_t)(o - out->p);
		return 0;
	}
	if (v[0] == '-' || v[0] == '+') {
		if (v[0] == '-')
			*o++ = '-';
		i++;
	}
	size_t s = i;
	while (i < n && is_digit(v[i]))
		i++;
	size_t e = i;
	while (s + 1 < e && v[s] == '0')
		s++;
	if (s == e) {
		*o++ = '0';
	} else {
		memcpy(o, v + s, e - s);
		o += e - s;
	}
	int dot = 0;
	if (kv->type == LPV_UINT && above_int64(v + s, e - s))
		dot = 2; /* as a float: add ".0" */
	if (kv->type == LPV_FLOAT && i < n && v[i] == '.') {
		dot = 1;
		i++;
		size_t f = i;
		while (i < n && is_digit(v[i]))
			i++;
		*o++ = '.';
		if (i == f) {
			*o++ = '0';
		} else {
			memcpy(o, v + f, i - f);
			o += i - f;
		}
	}
	if (kv->type == LPV_FLOAT && i < n) { /* the exponent, valid JSON as it is */
		memcpy(o, v + i, n - i);
		o += n - i;
	} else if (dot == 2 || (kv->type == LPV_FLOAT && !dot)) {
		*o++ = '.';
		*o++ = '0';
	}
	out->len = (size_t)(o - out->p);
	return 0;
}

static inline int put_lit(struct buf *out, const char *s, size_t n)
{
	if (room(out, n) < 0)
		return -1;
	memcpy(out->p + out->len, s, n);
	out->len += n;
	return 0;
}

static inline int set_matches(const struct lp_kv *kv, const struct lp_tag_set *s)
{
	/* Most tags differ at the first byte (unless it is a backslash). */
	if (kv->key[0] != s->key[0] && kv->key[0] != '\\')
		return 0;
	return lp_key_eq(kv->key, kv->key_len, s->key);
}

/* "key":"value" of a tag whose key and value need neither unescaping nor
 * JSON escapes: the common case, in one reservation. */
static inline int json_plain_pair(struct buf *out, const struct lp_kv *kv, int comma)
{
	size_t kn = kv->key_len, vn = kv->val_len;
	if (room(out, kn + vn + 6) < 0)
		return -1;
	char *o = out->p + out->len;
	if (comma)
		*o++ = ',';
	*o++ = '"';
	memcpy(o, kv->key, kn);
	o += kn;
	memcpy(o, "\":\"", 3);
	o += 3;
	memcpy(o, kv->val, vn);
	o += vn;
	*o++ = '"';
	out->len = (size_t)(o - out->p);
	return 0;
}

/* The point's tags, with the set entries that match one in its place:
 * "key":"value" pairs, a ',' before each but the first. Returns the set
 * entries that replaced a tag (bit j for set[j], the first 64 only). */
static inline uint64_t json_tags(const struct lp_point *pt, const struct lp_tag_set *set,
				 size_t nset, struct buf *out)
{
	uint64_t matched = 0;
	for (size_t i = 0; i < pt->ntags; i++) {
		const struct lp_kv *kv = &pt->tags[i];
		const struct lp_tag_set *s = NULL;
		for (size_t j = 0; j < nset && !s; j++) {
			if (set_matches(kv, &set[j])) {
				s = &set[j];
				if (j < 64)
					matched |= 1ull << j;
			}
		}
		if (!s &&
		    (kv->flags & (LPF_KEY_SAFE | LPF_VAL_SAFE)) == (LPF_KEY_SAFE | LPF_VAL_SAFE)) {
			json_plain_pair(out, kv, i > 0);
			continue;
		}
		if (i)
			put_lit(out, ",", 1);
		json_raw(out, kv->key, kv->key_len, kv->flags, 0);
		put_lit(out, ":", 1);
		if (s)
			json_add_str(out, s->val, s->val_len);
		else
			json_raw(out, kv->val, kv->val_len, kv->flags >> 1, 0);
	}
	return matched;
}

/* The set entries that replaced no tag, after the tags (once each: a later
 * entry of the same key gives way to the first). */
static inline void json_added_tags(const struct lp_point *pt, const struct lp_tag_set *set,
				   size_t nset, uint64_t matched, struct buf *out)
{
	int first = pt->ntags == 0;
	for (size_t j = 0; j < nset; j++) {
		int seen = j < 64 ? (matched >> j) & 1 : 0;
		for (size_t i = 0; i < pt->ntags && !seen && j >= 64; i++)
			seen = set_matches(&pt->tags[i], &set[j]);
		for (size_t k = 0; k < j && !seen; k++)
			seen = strcmp(set[k].key, set[j].key) == 0;
		if (seen)
			continue;
		if (!first)
			put_lit(out, ",", 1);
		first = 0;
		json_add_str(out, set[j].key, strlen(set[j].key));
		put_lit(out, ":", 1);
		json_add_str(out, set[j].val, set[j].val_len);
	}
}

/* The point's fields, "key":value separated by ','. */
static inline void json_fields(const struct lp_point *pt, struct buf *out)
{
	for (size_t i = 0; i < pt->nfields; i++) {
		const struct lp_kv *kv = &pt->fields[i];
		if (i)
			put_lit(out, ",", 1);
		json_raw(out, kv->key, kv->key_len, kv->flags, 0);
		put_lit(out, ":", 1);
		switch (kv->type) {
		case LPV_STRING:
			json_raw(out, kv->val, kv->val_len, kv->flags >> 1, 1);
			break;
		case LPV_INT:
		case LPV_UINT:
		case LPV_FLOAT:
			json_number(out, kv);
			break;
		case LPV_BOOL:
			if (kv->bool_val)
				put_lit(out, "true", 4);
			else
				put_lit(out, "false", 5);
			break;
		}
	}
}

int lp_point_to_json(const struct lp_point *pt, const struct lp_tag_set *set, size_t nset,
		     struct buf *out)
{
	size_t start = out->len;
	put_lit(out, "{\"measurement\":", 15);
	json_raw(out, pt->meas, pt->meas_len, pt->meas_flags, 0);
	put_lit(out, ",\"tags\":{", 9);
	uint64_t matched = json_tags(pt, set, nset, out);
	json_added_tags(pt, set, nset, matched, out);
	put_lit(out, "},\"fields\":{", 12);
	json_fields(pt, out);
	put_lit(out, "},\"time\":", 9);
	buf_add_i64(out, pt->time_ns);
	put_lit(out, "}", 1);
	if (out->err) {
		if (out->len > start)
			out->len = start;
		return -1;
	}
	return 0;
}
