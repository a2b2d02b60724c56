#include "jsonbody.h"

#include <string.h>

#include "json.h"

void jsonbody_init(struct jsonbody *jb, const char *p, size_t n)
{
	jb->start = p;
	jb->p = p;
	jb->end = p + n;
	jb->array = 0;
	jb->state = 0;
	jb->index = 0;
}

static int fail(struct jsonbody *jb, struct rum_error *err, const char *at, const char *reason)
{
	err_reason(err, (size_t)(at - jb->start), reason);
	jb->state = 2;
	return -1;
}

int jsonbody_next(struct jsonbody *jb, struct record *r, struct rum_error *err)
{
	if (jb->state == 2)
		return 0;
	const char *p = json_skip_ws(jb->p, jb->end);
	if (jb->state == 0) {
		if (p == jb->end)
			return fail(jb, err, p, "empty body");
		if (*p == '[') {
			jb->array = 1;
			p = json_skip_ws(p + 1, jb->end);
			if (p < jb->end && *p == ']') {
				p = json_skip_ws(p + 1, jb->end);
				if (p != jb->end)
					return fail(jb, err, p, "data after the array");
				jb->state = 2;
				return 0;
			}
		} else if (*p != '{') {
			return fail(jb, err, p, "expected an array or an object");
		}
	} else if (jb->array) {
		if (p == jb->end)
			return fail(jb, err, p, "unterminated array");
		if (*p == ']') {
			p = json_skip_ws(p + 1, jb->end);
			if (p != jb->end)
				return fail(jb, err, p, "data after the array");
			jb->state = 2;
			return 0;
		}
		if (*p != ',')
			return fail(jb, err, p, "expected ',' or ']' after an element");
		p = json_skip_ws(p + 1, jb->end);
	} else {
		/* Objects one after another (NDJSON) are a body too. */
		if (p == jb->end) {
			jb->state = 2;
			return 0;
		}
		if (*p != '{')
			return fail(jb, err, p, "data after the object");
	}
	if (p == jb->end)
		return fail(jb, err, p, "unterminated array");
	if (*p != '{')
		return fail(jb, err, p, "an element is not an object");
	size_t consumed = 0;
	struct rum_error re;
	re.msg[0] = '\0';
	jb->index++;
	if (rec_parse(r, p, (size_t)(jb->end - p), &consumed, &re) < 0)
		return fail(jb, err, p + re.offset, re.msg[0] ? re.msg : "bad object");
	jb->p = p + consumed;
	jb->state = 1;
	return 1;
}

size_t jsonbody_line(const char *start, size_t offset)
{
	size_t line = 1;
	const char *p = start, *end = start + offset;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p++;
	}
	return line;
}

static const struct lp_tag_set *find_set(const struct lp_tag_set *set, size_t nset, const char *k,
					 size_t n)
{
	for (size_t i = 0; i < nset; i++)
		if (strlen(set[i].key) == n && memcmp(set[i].key, k, n) == 0)
			return &set[i];
	return NULL;
}

/* Has r the key k, as a tag or a field? (DataKit's tags and fields share
 * one set of keys.) */
static int has_key(const struct record *r, const char *k)
{
	return rec_tag(r, k) || rec_field(r, k);
}

/* The added tags r lacks, and not set by the intake, after its tags; how
 * many. */
static size_t write_added_tags(const struct record *r, const struct lp_tag_set *set, size_t nset,
			       const struct point_extra *x, int first, struct buf *out)
{
	size_t n = 0;
	for (size_t i = 0; i < x->nadd; i++) {
		const struct added_tag *a = &x->add[i];
		if (find_set(set, nset, a->key, strlen(a->key)) || has_key(r, a->key))
			continue;
		if (!first)
			buf_addc(out, ',');
		first = 0;
		json_add_str(out, a->key, strlen(a->key));
		buf_addc(out, ':');
		json_add_str(out, a->val, a->val_len);
		n++;
	}
	return n;
}

int jsonbody_write(const struct record *r, const struct lp_tag_set *set, size_t nset,
		   const struct point_extra *x, int64_t time_ns, struct buf *out,
		   struct buf *scratch)
{
	/* Which `set` tags replaced an existing one; the rest are appended. */
	unsigned char used[16] = {0};
	if (nset > sizeof used)
		return -1;
	buf_add(out, "{\"measurement\":", 15);
	buf_add(out, r->meas, r->meas_len);
	buf_add(out, ",\"tags\":{", 9);
	int first = 1;
	size_t ntags = r->ntags, nfields = r->nfields;
	for (size_t i = 0; i < r->ntags; i++) {
		const struct rec_kv *kv = &r->tags[i];
		const char *k;
		size_t klen;
		if (rec_str(kv->key, kv->key_len, scratch, &k, &klen) < 0)
			return -1;
		const struct lp_tag_set *s = find_set(set, nset, k, klen);
		if (!first)
			buf_addc(out, ',');
		first = 0;
		buf_add(out, kv->key, kv->key_len);
		buf_addc(out, ':');
		if (s) {
			used[s - set] = 1;
			json_add_str(out, s->val, s->val_len);
		} else {
			buf_add(out, kv->val, kv->val_len);
		}
	}
	for (size_t i = 0; i < nset; i++) {
		if (used[i])
			continue;
		if (!first)
			buf_addc(out, ',');
		first = 0;
		json_add_str(out, set[i].key, strlen(set[i].key));
		buf_addc(out, ':');
		json_add_str(out, set[i].val, set[i].val_len);
		ntags++;
	}
	if (x && x->nadd)
		ntags += write_added_tags(r, set, nset, x, first, out);
	buf_add(out, "},\"fields\":{", 12);
	for (size_t i = 0; i < r->nfields; i++) {
		const struct rec_kv *kv = &r->fields[i];
		if (i)
			buf_addc(out, ',');
		buf_add(out, kv->key, kv->key_len);
		buf_addc(out, ':');
		buf_add(out, kv->val, kv->val_len);
	}
	/* As DataKit's point.Add: a key the point has already stays as it is. */
	if (x && x->orig_time_set && !has_key(r, ORIG_TIME_FIELD)) {
		if (r->nfields)
			buf_addc(out, ',');
		buf_add(out, "\"" ORIG_TIME_FIELD "\":", sizeof ORIG_TIME_FIELD + 2);
		buf_add_i64(out, x->orig_time_ns);
		nfields++;
	}
	buf_add(out, "},\"time\":", 9);
	buf_add_i64(out, time_ns);
	buf_addc(out, '}');
	if (ntags > REC_MAX_TAGS || nfields > REC_MAX_FIELDS)
		return -2; /* a record no stage could read */
	return out->err ? -1 : 0;
}
