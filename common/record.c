/* The record codec's parser: every stage parses every record, so it keeps
 * raw token positions instead of copying, on json.h's scanner (inline: runs
 * of bytes 16 at a time with SSE2, validating strings, UTF-8 and numbers as
 * it goes). Keys are hashed over their decoded bytes for lookups and the
 * duplicate checks. Edits and the writer are in record_edit.c. */
#include "record.h"

#include <stdlib.h>
#include <string.h>

/* What the codec asks of strings and numbers: valid UTF-8 (strings are
 * copied out byte for byte), integers within int64_t, finite floats. */
#define REC_JSON (JSON_UTF8 | JSON_NUM_RANGE)

/* One escape, out of line: escapes are rare in records, and the string
 * scanner's loop stays smaller without it. */
__attribute__((noinline)) static int decode_escape(const char *p, const char *end, char *o,
						   size_t *adv)
{
	return json_escape(p, end, REC_JSON, o, adv);
}

/* Decoded bytes of a validated string token, one at a time: for keys with
 * escapes, which are rare enough not to deserve a buffer. */
struct sdec {
	const char *p, *end;
	char pend[4];
	int npend, ipend;
};

static void sdec_init(struct sdec *d, const char *tok, size_t n)
{
	d->p = tok + 1;
	d->end = tok + n - 1;
	d->npend = d->ipend = 0;
}

/* Next byte (0..255), or -1 at the end or on a malformed escape. */
static int sdec_next(struct sdec *d)
{
	if (d->ipend < d->npend)
		return (unsigned char)d->pend[d->ipend++];
	if (d->p >= d->end)
		return -1;
	if (*d->p != '\\')
		return (unsigned char)*d->p++;
	size_t adv;
	int k = decode_escape(d->p, d->end, d->pend, &adv);
	if (k < 0) {
		d->p = d->end;
		return -1;
	}
	d->p += adv;
	d->npend = k;
	d->ipend = 1;
	return (unsigned char)d->pend[0];
}

/* Key hash over decoded bytes: whole little-endian words, then the last
 * eight bytes again (overlapping) for what is left; a key shorter than a
 * word is read as two overlapping halves, or three bytes. No loop over the
 * bytes of a tail: that loop was a third of the codec's hashing. The plain
 * and the streaming (escaped) versions must agree. */
#define HASH_SEED 0x243F6A8885A308D3ull
static inline uint64_t hmix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 31);
}

static inline uint32_t hfinal(uint64_t h, size_t len)
{
	h = hmix(h, (uint64_t)len);
	return (uint32_t)(h ^ (h >> 32));
}

static inline uint64_t load64le(const char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static inline uint64_t load32le(const char *p)
{
	uint32_t w;
	memcpy(&w, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap32(w);
#endif
	return w;
}

/* The word of a key of 1 to 3 bytes: its first, middle and last bytes. */
static inline uint64_t short_word(unsigned a, unsigned b, unsigned c)
{
	return (uint64_t)a | (uint64_t)b << 8 | (uint64_t)c << 16;
}

static uint32_t hash_plain(const char *p, size_t n)
{
	uint64_t h = HASH_SEED;
	if (n >= 8) {
		size_t i = 0;
		for (; i + 8 <= n; i += 8)
			h = hmix(h, load64le(p + i));
		if (i < n)
			h = hmix(h, load64le(p + n - 8));
	} else if (n >= 4) {
		h = hmix(h, load32le(p) | load32le(p + n - 4) << 32);
	} else if (n > 0) {
		h = hmix(h, short_word((unsigned char)p[0], (unsigned char)p[n / 2],
				       (unsigned char)p[n - 1]));
	}
	return hfinal(h, n);
}

static int tok_has_esc(const char *tok, size_t n)
{
	return memchr(tok + 1, '\\', n - 2) != NULL;
}

/* The hash of a key with escapes, out of line: the plain case then saves no
 * registers on its way to hash_plain. */
__attribute__((noinline)) static uint32_t hash_escaped(const char *tok, size_t n)
{
	struct sdec d;
	sdec_init(&d, tok, n);
	/* w gathers the current word; last keeps the last eight bytes. */
	uint64_t h = HASH_SEED, w = 0, last = 0;
	size_t len = 0;
	int c;
	while ((c = sdec_next(&d)) >= 0) {
		last = last >> 8 | (uint64_t)c << 56;
		w |= (uint64_t)c << (8 * (len & 7));
		if ((++len & 7) == 0) {
			h = hmix(h, w);
			w = 0;
		}
	}
	if (len >= 8) {
		if (len & 7)
			h = hmix(h, last);
	} else if (len >= 4) {
		h = hmix(h, (w & 0xFFFFFFFFu) | (last >> 32) << 32);
	} else if (len > 0) {
		h = hmix(h,
			 short_word((unsigned)(w & 0xFF), (unsigned)(w >> (8 * (len / 2)) & 0xFF),
				    (unsigned)(w >> (8 * (len - 1)) & 0xFF)));
	}
	return hfinal(h, len);
}

static uint32_t tok_hash(const char *tok, size_t n, int esc)
{
	return esc ? hash_escaped(tok, n) : hash_plain(tok + 1, n - 2);
}

/* Does the raw token decode to s[0..len)? */
static int key_eq(const char *tok, size_t n, const char *s, size_t len)
{
	if (!tok_has_esc(tok, n))
		return n - 2 == len && memcmp(tok + 1, s, len) == 0;
	struct sdec d;
	sdec_init(&d, tok, n);
	for (size_t i = 0; i < len; i++)
		if (sdec_next(&d) != (unsigned char)s[i])
			return 0;
	return sdec_next(&d) == -1;
}

static int tok_eq(const char *a, size_t an, const char *b, size_t bn)
{
	if (!tok_has_esc(a, an))
		return key_eq(b, bn, a + 1, an - 2);
	if (!tok_has_esc(b, bn))
		return key_eq(a, an, b + 1, bn - 2);
	struct sdec da, db;
	sdec_init(&da, a, an);
	sdec_init(&db, b, bn);
	for (;;) {
		int ca = sdec_next(&da), cb = sdec_next(&db);
		if (ca != cb)
			return 0;
		if (ca < 0)
			return 1;
	}
}

/* ---- the scanner ---- */

struct pctx {
	const char *base; /* start of the caller's input: error offsets */
	const char *end;
	struct rum_error *err;
	struct json_fail jf; /* the scanner's last failure */
};

static const char *fail(struct pctx *c, const char *at, const char *reason)
{
	err_reason(c->err, (size_t)(at - c->base), reason);
	return NULL;
}

static int failn(struct pctx *c, const char *at, const char *reason)
{
	fail(c, at, reason);
	return -1;
}

/* The scanner's failure, in the codec's words. Out of line: the wrappers
 * below then keep no more than the scanner in registers. */
__attribute__((cold, noinline)) static const char *json_failed(struct pctx *c)
{
	return fail(c, c->jf.at, json_strerror(c->jf.code));
}

/* q is at the opening quote. Returns the position past the closing quote;
 * *esc is set when the string has escapes. This is json_scan_string() with
 * the failure written straight into the codec's context and the escapes
 * out of line: measured, the generic one through a wrapper cost the codec
 * 5 % more instructions, from registers saved at every string. */
static const char *scan_string(struct pctx *c, const char *q, int *esc)
{
	const char *end = c->end;
	q++;
	for (;;) {
		q = json_plain_end(q, end, 1);
		if (q >= end)
			return fail(c, end, "unterminated string");
		unsigned char ch = (unsigned char)*q;
		if (ch == '"')
			return q + 1;
		if (ch == '\\') {
			char tmp[4];
			size_t adv;
			int k = decode_escape(q, end, tmp, &adv);
			if (k < 0)
				return fail(c, q, json_strerror((enum json_err) - k));
			*esc = 1;
			q += adv;
			continue;
		}
		if (ch < 0x20)
			return fail(c, q, "control character in string");
		int l = utf8_seq_len(q, end);
		if (!l)
			return fail(c, q, "invalid UTF-8");
		q += l;
	}
}

/* q is at '-' or a digit. RV_INT when there is no fraction and no exponent;
 * such a number must fit int64_t. */
static const char *scan_number(struct pctx *c, const char *q, enum rec_vtype *type, int64_t *iv)
{
	struct json_num num;
	const char *e = json_scan_number(q, c->end, REC_JSON, &num, &c->jf);
	if (!e) {
		/* Every syntax error is reported at the number's start. */
		if (c->jf.code == JSON_E_NUMBER)
			c->jf.at = q;
		return json_failed(c);
	}
	*type = num.is_int ? RV_INT : RV_FLOAT;
	if (num.is_int)
		*iv = num.i;
	return e;
}

static const char *scan_lit(struct pctx *c, const char *q)
{
	const char *e = json_scan_literal(q, c->end, &c->jf);
	return e ? e : json_failed(c);
}

/* Any JSON value, validated and skipped (unknown top-level keys). */
static const char *skip_value(struct pctx *c, const char *q, int depth)
{
	const char *e = json_skip_value(q, c->end, depth, REC_MAX_DEPTH, REC_JSON, &c->jf);
	return e ? e : json_failed(c);
}

static int grow_kvs(struct rec_kv **a, size_t *cap, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap > max)
		ncap = max;
	struct rec_kv *na = realloc(*a, ncap * sizeof *na);
	if (!na)
		return -1;
	*a = na;
	*cap = ncap;
	return 0;
}

/* The tags or fields object; q is at its '{'. */
static const char *parse_kvs(struct pctx *c, struct record *r, const char *q, int is_field)
{
	const char *end = c->end;
	struct rec_kv **arr = is_field ? &r->fields : &r->tags;
	size_t *cnt = is_field ? &r->nfields : &r->ntags;
	size_t *cap = is_field ? &r->fields_cap : &r->tags_cap;
	size_t max = is_field ? REC_MAX_FIELDS : REC_MAX_TAGS;
	/* A Bloom filter of the keys seen: the duplicate check compares keys
	 * only when a bit says it might be needed. */
	uint64_t seen[16] = {0};

	q = json_skip_ws(q + 1, end);
	if (q < end && *q == '}')
		return q + 1;
	for (;;) {
		if (q >= end || *q != '"')
			return fail(c, q, q >= end ? "unexpected end of input" : "expected a key");
		const char *k = q;
		int kesc = 0, vesc = 0;
		if (!(q = scan_string(c, q, &kesc)))
			return NULL;
		size_t klen = (size_t)(q - k);
		if (klen == 2)
			return fail(c, k, is_field ? "empty field key" : "empty tag key");
		q = json_skip_ws(q, end);
		if (q >= end || *q != ':')
			return fail(c, q, "expected ':'");
		q = json_skip_ws(q + 1, end);
		if (q >= end)
			return fail(c, q, "unexpected end of input");
		const char *v = q;
		enum rec_vtype t = RV_STRING;
		int64_t iv;
		switch (*q) {
		case '"':
			q = scan_string(c, q, &vesc);
			break;
		case 'n':
			return fail(c, q, is_field ? "field value is null" : "tag value is null");
		case '[':
			return fail(c, q,
				    is_field ? "field value is an array" : "tag value is an array");
		case '{':
			return fail(
			    c, q, is_field ? "field value is an object" : "tag value is an object");
		default:
			if (!is_field)
				return fail(c, q, "tag value is not a string");
			if (*q == 't') {
				q = scan_lit(c, q);
				t = RV_BOOL;
			} else if (*q == 'f') {
				q = scan_lit(c, q);
				t = RV_BOOL;
			} else if (*q == '-' || json_is_digit(*q)) {
				q = scan_number(c, q, &t, &iv);
			} else {
				return fail(c, q, "invalid field value");
			}
		}
		if (!q)
			return NULL;
		if (*cnt == *cap) {
			if (*cap >= max)
				return fail(c, k, is_field ? "too many fields" : "too many tags");
			if (grow_kvs(arr, cap, max) < 0)
				return fail(c, k, "out of memory");
		}
		uint32_t h = tok_hash(k, klen, kesc);
		unsigned bit = h & 1023;
		struct rec_kv *a = *arr;
		if (seen[bit >> 6] & (1ull << (bit & 63))) {
			for (size_t i = 0; i < *cnt; i++)
				if (a[i].hash == h && tok_eq(a[i].key, a[i].key_len, k, klen))
					return fail(c, k,
						    is_field ? "duplicate field key"
							     : "duplicate tag key");
		}
		seen[bit >> 6] |= 1ull << (bit & 63);
		struct rec_kv *kv = &a[(*cnt)++];
		kv->key = k;
		kv->key_len = klen;
		kv->val = v;
		kv->val_len = (size_t)(q - v);
		kv->type = t;
		kv->hash = h;
		q = json_skip_ws(q, end);
		if (q < end && *q == ',') {
			q = json_skip_ws(q + 1, end);
			continue;
		}
		if (q < end && *q == '}')
			return q + 1;
		return fail(c, q, q >= end ? "unexpected end of input" : "expected ',' or '}'");
	}
}

enum { K_OTHER, K_MEAS, K_TAGS, K_FIELDS, K_TIME };

static int top_key(const char *k, size_t n, int esc)
{
	const char *s = k + 1;
	size_t len = n - 2;
	char tmp[12];
	if (esc) {
		struct sdec d;
		int ch;
		sdec_init(&d, k, n);
		len = 0;
		while ((ch = sdec_next(&d)) >= 0) {
			if (len == sizeof tmp)
				return K_OTHER;
			tmp[len++] = (char)ch;
		}
		s = tmp;
	}
	switch (len) {
	case 4:
		if (memcmp(s, "tags", 4) == 0)
			return K_TAGS;
		if (memcmp(s, "time", 4) == 0)
			return K_TIME;
		break;
	case 6:
		if (memcmp(s, "fields", 6) == 0)
			return K_FIELDS;
		break;
	case 11:
		if (memcmp(s, "measurement", 11) == 0)
			return K_MEAS;
		break;
	}
	return K_OTHER;
}

#define REC_MAX_OTHER 64 /* unknown top-level keys remembered for duplicates */

static int parse_record(struct pctx *c, struct record *r, const char *p, size_t *consumed)
{
	static const char *const dup_reason[] = {
	    [K_MEAS] = "duplicate key \"measurement\"",
	    [K_TAGS] = "duplicate key \"tags\"",
	    [K_FIELDS] = "duplicate key \"fields\"",
	    [K_TIME] = "duplicate key \"time\"",
	};
	struct {
		const char *k;
		size_t n;
		uint32_t h;
	} other[REC_MAX_OTHER];
	size_t nother = 0;
	const char *end = c->end;
	const char *q = json_skip_ws(p, end);

	r->src = q;
	r->len = 0;
	r->meas = NULL;
	r->meas_len = 0;
	r->ntags = r->nfields = 0;
	r->time = 0;
	r->has_time = 0;
	r->tags_off = r->tags_end = r->fields_off = r->fields_end = 0;
	r->last_end = 0;
	if (q >= end)
		return failn(c, q, "empty record");
	if (*q != '{')
		return failn(c, q, "expected '{'");
	const char *src = q;
	unsigned seen = 0;
	q = json_skip_ws(q + 1, end);
	if (q < end && *q == '}')
		return failn(c, src, "missing measurement");
	for (;;) {
		if (q >= end || *q != '"')
			return failn(c, q, q >= end ? "unexpected end of input" : "expected a key");
		const char *k = q;
		int kesc = 0, vesc = 0;
		if (!(q = scan_string(c, q, &kesc)))
			return -1;
		size_t klen = (size_t)(q - k);
		int kid = top_key(k, klen, kesc);
		if (kid != K_OTHER) {
			if (seen & (1u << kid))
				return failn(c, k, dup_reason[kid]);
			seen |= 1u << kid;
		}
		q = json_skip_ws(q, end);
		if (q >= end || *q != ':')
			return failn(c, q, "expected ':'");
		q = json_skip_ws(q + 1, end);
		if (q >= end)
			return failn(c, q, "unexpected end of input");
		const char *v = q;
		switch (kid) {
		case K_MEAS:
			if (*q != '"')
				return failn(c, q, "measurement is not a string");
			if (!(q = scan_string(c, q, &vesc)))
				return -1;
			if (q - v == 2)
				return failn(c, v, "empty measurement");
			r->meas = v;
			r->meas_len = (size_t)(q - v);
			break;
		case K_TAGS:
		case K_FIELDS:
			if (*q != '{')
				return failn(c, q,
					     kid == K_TAGS ? "tags is not an object"
							   : "fields is not an object");
			if (!(q = parse_kvs(c, r, q, kid == K_FIELDS)))
				return -1;
			if (kid == K_TAGS) {
				r->tags_off = (size_t)(v - src);
				r->tags_end = (size_t)(q - src);
			} else {
				r->fields_off = (size_t)(v - src);
				r->fields_end = (size_t)(q - src);
			}
			break;
		case K_TIME: {
			enum rec_vtype t;
			int64_t iv;
			if (*q != '-' && !json_is_digit(*q))
				return failn(c, q, "time is not an integer");
			if (!(q = scan_number(c, q, &t, &iv)))
				return -1;
			if (t != RV_INT)
				return failn(c, v, "time is not an integer");
			r->time = iv;
			r->has_time = 1;
			break;
		}
		default: {
			uint32_t h = tok_hash(k, klen, kesc);
			for (size_t i = 0; i < nother; i++)
				if (other[i].h == h && tok_eq(other[i].k, other[i].n, k, klen))
					return failn(c, k, "duplicate top-level key");
			if (nother == REC_MAX_OTHER)
				return failn(c, k, "too many top-level keys");
			other[nother].k = k;
			other[nother].n = klen;
			other[nother].h = h;
			nother++;
			if (!(q = skip_value(c, q, 1)))
				return -1;
		}
		}
		r->last_end = (size_t)(q - src);
		q = json_skip_ws(q, end);
		if (q < end && *q == ',') {
			q = json_skip_ws(q + 1, end);
			continue;
		}
		if (q < end && *q == '}')
			break;
		return failn(c, q, q >= end ? "unexpected end of input" : "expected ',' or '}'");
	}
	if (!(seen & (1u << K_MEAS)))
		return failn(c, src, "missing measurement");
	r->len = (size_t)(q + 1 - src);
	*consumed = (size_t)(q + 1 - p);
	return 0;
}

int rec_parse(struct record *r, const char *p, size_t n, size_t *consumed, struct rum_error *err)
{
	struct rum_error dummy;
	struct pctx c = {p, p + n, err ? err : &dummy, {NULL, JSON_OK}};
	size_t used = 0;
	if (parse_record(&c, r, p, &used) < 0)
		return -1;
	if (consumed)
		*consumed = used;
	return 0;
}

int rec_parse_line(struct record *r, const char *p, size_t n, struct rum_error *err)
{
	struct rum_error dummy;
	struct pctx c = {p, p + n, err ? err : &dummy, {NULL, JSON_OK}};
	size_t used = 0;
	if (parse_record(&c, r, p, &used) < 0)
		return -1;
	const char *q = json_skip_ws(p + used, p + n);
	if (q != p + n) {
		fail(&c, q, "trailing characters after the record");
		return -1;
	}
	return 0;
}

void rec_free(struct record *r)
{
	free(r->tags);
	free(r->fields);
	memset(r, 0, sizeof *r);
}

const struct rec_kv *rec_kv_find(const struct rec_kv *a, size_t n, const char *key, size_t klen)
{
	uint32_t h = hash_plain(key, klen);
	for (size_t i = 0; i < n; i++)
		if (a[i].hash == h && key_eq(a[i].key, a[i].key_len, key, klen))
			return &a[i];
	return NULL;
}

const struct rec_kv *rec_tag(const struct record *r, const char *key)
{
	return rec_kv_find(r->tags, r->ntags, key, strlen(key));
}

const struct rec_kv *rec_field(const struct record *r, const char *key)
{
	return rec_kv_find(r->fields, r->nfields, key, strlen(key));
}

int rec_str(const char *tok, size_t n, struct buf *scratch, const char **s, size_t *len)
{
	return json_unescape(tok, n, REC_JSON, scratch, s, len);
}

int rec_meas_is(const struct record *r, const char *name, struct buf *scratch)
{
	size_t len = strlen(name);
	if (r->meas_len == len + 2 && memcmp(r->meas + 1, name, len) == 0)
		return 1;
	if (!memchr(r->meas, '\\', r->meas_len))
		return 0;
	const char *s;
	size_t n;
	return rec_str(r->meas, r->meas_len, scratch, &s, &n) == 0 && n == len &&
	       memcmp(s, name, len) == 0;
}

int rec_int(const char *tok, size_t n, int64_t *v)
{
	struct rum_error e;
	struct pctx c = {tok, tok + n, &e, {NULL, JSON_OK}};
	enum rec_vtype t;
	if (n == 0 || (*tok != '-' && !json_is_digit(*tok)))
		return -1;
	const char *q = scan_number(&c, tok, &t, v);
	if (!q || q != tok + n || t != RV_INT)
		return -1;
	return 0;
}

int rec_double(const char *tok, size_t n, double *v)
{
	return json_double(tok, n, v);
}
