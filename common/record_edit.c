/* Edits of parsed records, and the canonical writer: every byte of the
 * record that an edit does not touch is copied as it was. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

/* ---- edits ---- */

void rec_edit_init(struct rec_edit *e)
{
	memset(e, 0, sizeof *e);
}

void rec_edit_reset(struct rec_edit *e)
{
	e->nops = 0;
	buf_reset(&e->data);
}

void rec_edit_free(struct rec_edit *e)
{
	free(e->ops);
	buf_free(&e->data);
	memset(e, 0, sizeof *e);
}

/* Starts an op: its key goes into data. The caller appends the value token
 * and calls op_end. */
static struct rec_edit_op *op_begin(struct rec_edit *e, int is_field, const char *key)
{
	size_t klen = strlen(key);
	if (klen == 0 || e->data.err)
		return NULL;
	if (e->nops == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 8;
		if (ncap > REC_MAX_TAGS + REC_MAX_FIELDS)
			return NULL;
		struct rec_edit_op *n = realloc(e->ops, ncap * sizeof *n);
		if (!n)
			return NULL;
		e->ops = n;
		e->cap = ncap;
	}
	struct rec_edit_op *op = &e->ops[e->nops];
	op->is_field = is_field;
	op->key_off = e->data.len;
	op->key_len = klen;
	if (buf_add(&e->data, key, klen) < 0)
		return NULL;
	op->val_off = e->data.len;
	return op;
}

static int op_end(struct rec_edit *e, struct rec_edit_op *op, int rc)
{
	if (rc < 0 || e->data.err) {
		e->data.len = op->key_off; /* forget the half-written op */
		return -1;
	}
	op->val_len = e->data.len - op->val_off;
	e->nops++;
	return 0;
}

int rec_edit_tag(struct rec_edit *e, const char *key, const char *val, size_t val_len)
{
	struct rec_edit_op *op = op_begin(e, 0, key);
	return op ? op_end(e, op, json_add_str(&e->data, val, val_len)) : -1;
}

int rec_edit_field_str(struct rec_edit *e, const char *key, const char *val, size_t val_len)
{
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, json_add_str(&e->data, val, val_len)) : -1;
}

int rec_edit_field_int(struct rec_edit *e, const char *key, int64_t v)
{
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, buf_add_i64(&e->data, v)) : -1;
}

int rec_edit_field_double(struct rec_edit *e, const char *key, double v)
{
	if (!isfinite(v))
		return -1;
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, json_add_double(&e->data, v)) : -1;
}

int rec_edit_field_bool(struct rec_edit *e, const char *key, int v)
{
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, buf_adds(&e->data, v ? "true" : "false")) : -1;
}

enum { P_REPLACE, P_KEY, P_KEY_FIRST, P_TEXT };

struct patch {
	size_t off, del; /* bytes of src replaced at off */
	size_t seq;	 /* generation order: ties at one offset keep it */
	int kind;
	const struct rec_edit_op *op;
	const char *text;
};

/* Is op i overridden by a later op on the same key? */
static int op_shadowed(const struct rec_edit *e, size_t i)
{
	const struct rec_edit_op *a = &e->ops[i];
	for (size_t j = i + 1; j < e->nops; j++) {
		const struct rec_edit_op *b = &e->ops[j];
		if (b->is_field == a->is_field && b->key_len == a->key_len &&
		    memcmp(e->data.p + a->key_off, e->data.p + b->key_off, a->key_len) == 0)
			return 1;
	}
	return 0;
}

static int emit_patch(struct buf *out, const struct rec_edit *e, const struct patch *pt)
{
	const struct rec_edit_op *op = pt->op;
	switch (pt->kind) {
	case P_TEXT:
		return buf_adds(out, pt->text);
	case P_KEY:
	case P_KEY_FIRST:
		if (pt->kind == P_KEY && buf_addc(out, ',') < 0)
			return -1;
		if (json_add_str(out, e->data.p + op->key_off, op->key_len) < 0 ||
		    buf_addc(out, ':') < 0)
			return -1;
		break;
	}
	return buf_add(out, e->data.p + op->val_off, op->val_len);
}

/* The patches that apply e to r, into pt (room for e->nops + 4): the
 * replacements in place, then per object the new keys, in the order they
 * were given. Returns how many. */
static size_t plan_patches(const struct record *r, const struct rec_edit *e, struct patch *pt)
{
	size_t np = 0;
	for (int obj = 0; obj < 2; obj++) {
		const struct rec_kv *kvs = obj ? r->fields : r->tags;
		size_t nkv = obj ? r->nfields : r->ntags;
		size_t o_off = obj ? r->fields_off : r->tags_off;
		size_t o_end = obj ? r->fields_end : r->tags_end;
		size_t ins;
		int first;
		if (o_end) {
			ins = nkv ? (size_t)(kvs[nkv - 1].val - r->src) + kvs[nkv - 1].val_len
				  : o_off + 1;
			first = nkv == 0;
		} else {
			ins = r->last_end;
			first = 1;
		}
		int opened = 0;
		for (size_t i = 0; i < e->nops; i++) {
			const struct rec_edit_op *op = &e->ops[i];
			if (op->is_field != obj || op_shadowed(e, i))
				continue;
			const struct rec_kv *kv =
			    rec_kv_find(kvs, nkv, e->data.p + op->key_off, op->key_len);
			if (kv) {
				pt[np] = (struct patch){(size_t)(kv->val - r->src),
							kv->val_len,
							np,
							P_REPLACE,
							op,
							NULL};
				np++;
				continue;
			}
			if (!o_end && !opened) {
				pt[np] = (struct patch){
				    ins,    0,	  np,
				    P_TEXT, NULL, obj ? ",\"fields\":{" : ",\"tags\":{"};
				np++;
				opened = 1;
			}
			pt[np] = (struct patch){ins, 0, np, first ? P_KEY_FIRST : P_KEY, op, NULL};
			np++;
			first = 0;
		}
		if (opened) {
			pt[np] = (struct patch){ins, 0, np, P_TEXT, NULL, "}"};
			np++;
		}
	}
	return np;
}

/* By offset; patches at one offset stay in the order they were made. */
static void sort_patches(struct patch *pt, size_t np)
{
	for (size_t i = 1; i < np; i++) {
		struct patch x = pt[i];
		size_t j = i;
		while (j > 0 && (pt[j - 1].off > x.off ||
				 (pt[j - 1].off == x.off && pt[j - 1].seq > x.seq))) {
			pt[j] = pt[j - 1];
			j--;
		}
		pt[j] = x;
	}
}

int rec_edit_apply(const struct record *r, const struct rec_edit *e, struct buf *out)
{
	if (e->data.err || out->err)
		return -1;
	if (e->nops == 0)
		return buf_add(out, r->src, r->len);

	struct patch stack[64], *pt = stack;
	size_t maxp = e->nops + 4;
	if (maxp > sizeof stack / sizeof stack[0] && !(pt = malloc(maxp * sizeof *pt)))
		return -1;

	size_t np = plan_patches(r, e, pt);
	sort_patches(pt, np);

	int rc = buf_reserve(out, r->len + e->data.len + 64);
	size_t pos = 0;
	for (size_t i = 0; i < np && rc == 0; i++) {
		rc = buf_add(out, r->src + pos, pt[i].off - pos);
		if (rc == 0)
			rc = emit_patch(out, e, &pt[i]);
		pos = pt[i].off + pt[i].del;
	}
	if (rc == 0)
		rc = buf_add(out, r->src + pos, r->len - pos);
	if (pt != stack)
		free(pt);
	return rc;
}

static int write_kvs(struct buf *out, const struct rec_kv *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(out, ',');
		buf_add(out, a[i].key, a[i].key_len);
		buf_addc(out, ':');
		buf_add(out, a[i].val, a[i].val_len);
	}
	return out->err ? -1 : 0;
}

int rec_write(const struct record *r, struct buf *out)
{
	if (buf_reserve(out, r->len + 48) < 0)
		return -1;
	buf_add(out, "{\"measurement\":", 15);
	buf_add(out, r->meas, r->meas_len);
	buf_add(out, ",\"tags\":{", 9);
	write_kvs(out, r->tags, r->ntags);
	buf_add(out, "},\"fields\":{", 12);
	write_kvs(out, r->fields, r->nfields);
	buf_addc(out, '}');
	if (r->has_time) {
		buf_add(out, ",\"time\":", 8);
		buf_add_i64(out, r->time);
	}
	buf_addc(out, '}');
	return out->err ? -1 : 0;
}
