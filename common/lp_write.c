/* Record to line protocol: what rum-ship writes for DataKit, from the
 * record's JSON text with as few passes over it as can be. */
#include <stdlib.h>
#include <string.h>

#include "lp.h"
#include "lp_int.h"

/* A name or tag value as line protocol: ',', '=' and ' ' escaped, a
 * newline (which would end the line) as the two characters \n, trailing
 * backslashes (which would escape the separator after them) dropped. In a
 * measurement '=' is no separator and stays as it is, as InfluxDB writes
 * it, unless a backslash before it would make "\=" of it. */
static void lp_add_name(struct buf *out, const char *s, size_t n, int is_meas)
{
	while (n && s[n - 1] == '\\')
		n--;
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = CLS(s[i]);
		if (!(c & (CL_ESCAPABLE | CL_NL)))
			continue;
		if (is_meas && s[i] == '=' && (i == 0 || s[i - 1] != '\\'))
			continue;
		buf_add(out, s + run, i - run);
		if (c & CL_NL) {
			buf_add(out, "\\n", 2);
		} else {
			buf_addc(out, '\\');
			buf_addc(out, s[i]);
		}
		run = i + 1;
	}
	buf_add(out, s + run, n - run);
}

static size_t trimmed_len(const char *s, size_t n)
{
	while (n && s[n - 1] == '\\')
		n--;
	return n;
}

static void lp_add_string(struct buf *out, const char *s, size_t n)
{
	buf_addc(out, '"');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		buf_add(out, s + run, i - run);
		buf_addc(out, '\\');
		run = i; /* the byte itself starts the next run */
	}
	buf_add(out, s + run, n - run);
	buf_addc(out, '"');
}

/* The writer looks at a record's bytes once, 16 at a time: one bit per byte
 * for backslashes (the token must be decoded first) and one for what a name
 * escapes (',', '=', ' ', a newline). A token with neither is copied as it
 * is, which is nearly every token. Longer records, whose bitmaps would not
 * fit on the stack, take the byte-by-byte path for every token. */
#define LPW_MAX 8192

struct lpw {
	const char *src;
	int mapped; /* the bitmaps below cover src */
	/* bit i of word w: byte 64 * w + i is a backslash (bsl), is either
	 * a backslash or one a name escapes (any) */
	uint64_t bsl[LPW_MAX / 64], any[LPW_MAX / 64];
};

static void lpw_map(struct lpw *w, const char *s, size_t n)
{
	size_t i = 0;
#if defined(__SSE2__)
	const __m128i bsl = _mm_set1_epi8('\\');
	const __m128i comma = _mm_set1_epi8(',');
	const __m128i eq = _mm_set1_epi8('=');
	const __m128i sp = _mm_set1_epi8(' ');
	const __m128i nl = _mm_set1_epi8('\n');
	for (; i + 64 <= n; i += 64) {
		uint64_t b = 0, e = 0;
		for (unsigned k = 0; k < 4; k++) {
			__m128i v =
			    _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16 * k));
			__m128i m = _mm_or_si128(
			    _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, eq)),
			    _mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, nl)));
			b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bsl))
			     << (16 * k);
			e |= (uint64_t)(unsigned)_mm_movemask_epi8(m) << (16 * k);
		}
		w->bsl[i / 64] = b;
		w->any[i / 64] = b | e;
	}
#endif
	for (; i < n; i += 64) {
		uint64_t b = 0, e = 0;
		for (size_t j = 0; j < 64 && i + j < n; j++) {
			unsigned c = CLS(s[i + j]);
			if (c & CL_BSL)
				b |= 1ull << j;
			if (c & (CL_ESCAPABLE | CL_NL))
				e |= 1ull << j;
		}
		w->bsl[i / 64] = b;
		w->any[i / 64] = b | e;
	}
	w->src = s;
	w->mapped = 1;
}

/* Any bit set for the bytes [a, b) of the record? */
static inline int lpw_any(const uint64_t *bm, size_t a, size_t b)
{
	if (a >= b)
		return 0;
	size_t wa = a / 64, wb = (b - 1) / 64;
	uint64_t first = ~0ull << (a % 64), last = ~0ull >> (63 - (b - 1) % 64);
	if (wa == wb)
		return (bm[wa] & first & last) != 0;
	if (bm[wa] & first)
		return 1;
	for (size_t i = wa + 1; i < wb; i++)
		if (bm[i])
			return 1;
	return (bm[wb] & last) != 0;
}

enum { TOK_COPY, TOK_ESCAPE, TOK_DECODED };

/* The content of a string token, decoded: in place when it has no
 * backslash (TOK_COPY, or TOK_ESCAPE when a name would need escapes),
 * else in scratch (TOK_DECODED; a name's trailing backslashes trimmed). -1 when
 * it cannot be decoded. */
static inline __attribute__((always_inline)) int lpw_str(const struct lpw *w, const char *tok,
							 size_t n, int name, struct buf *scratch,
							 const char **s, size_t *len)
{
	if (w->mapped && n >= 2) {
		size_t a = (size_t)(tok - w->src) + 1, b = a + n - 2;
		*s = tok + 1;
		*len = n - 2;
		if (!lpw_any(w->any, a, b))
			return TOK_COPY;
		if (!lpw_any(w->bsl, a, b))
			return TOK_ESCAPE;
	}
	if (rec_str(tok, n, scratch, s, len) < 0)
		return -1;
	if (name)
		*len = trimmed_len(*s, *len);
	return TOK_DECODED;
}

/* Callers have made room for 2 * n bytes. */
/* Tokens are short: copied in one or two fixed 16-byte moves (no call)
 * when the record goes on far enough past them; the bytes stored past n
 * land in the LPW_SLACK reserved and are overwritten by what follows. */
#define LPW_SLACK 32
static inline void lpw_copy(struct buf *out, const char *s, size_t n, const char *lim)
{
	char *o = out->p + out->len;
	if (n <= 16 && lim - s >= 16)
		memcpy(o, s, 16);
	else if (n <= 32 && lim - s >= 32)
		memcpy(o, s, 32);
	else
		memcpy(o, s, n);
	out->len += n;
}

static inline void lpw_put_name(struct buf *out, const char *s, size_t n, int how, int is_meas,
				const char *lim)
{
	if (how == TOK_COPY) {
		lpw_copy(out, s, n, lim);
	} else {
		lp_add_name(out, s, n, is_meas);
	}
}

/* The measurement; -1 when it cannot be written (empty, or starting as a
 * comment or with a tab, which a reader would skip). */
static inline int lpw_measurement(const struct lpw *w, const struct record *r, const char *lim,
				  struct buf *scratch, struct buf *out)
{
	const char *s;
	size_t n;
	int how = lpw_str(w, r->meas, r->meas_len, 1, scratch, &s, &n);
	if (how < 0 || n == 0 || s[0] == '#' || s[0] == '\t')
		return -1;
	/* Decoding never makes a string longer, and escaping at most doubles
	 * it: each token needs twice its raw length and a few bytes. */
	if (room(out, 2 * n + LPW_SLACK) < 0)
		return -1;
	lpw_put_name(out, s, n, how, 1, lim);
	return 0;
}

/* The tag set, leaving out the tags with an empty key or value. */
static inline int lpw_tags(const struct lpw *w, const struct record *r, const char *lim,
			   struct buf *sk, struct buf *sv, struct buf *out)
{
	const char *s, *v;
	size_t n, vn;
	int how, vhow;
	for (size_t i = 0; i < r->ntags; i++) {
		const struct rec_kv *kv = &r->tags[i];
		if ((how = lpw_str(w, kv->key, kv->key_len, 1, sk, &s, &n)) < 0 ||
		    (vhow = lpw_str(w, kv->val, kv->val_len, 1, sv, &v, &vn)) < 0)
			return -1;
		if (!n || !vn)
			continue;
		if (room(out, 2 * (n + vn) + 2 + LPW_SLACK) < 0)
			return -1;
		out->p[out->len++] = ',';
		lpw_put_name(out, s, n, how, 0, lim);
		out->p[out->len++] = '=';
		lpw_put_name(out, v, vn, vhow, 0, lim);
	}
	return 0;
}

/* A field's value, after its '=' (the caller made room for twice its
 * token and a few bytes). */
static inline int lpw_value(const struct lpw *w, const struct rec_kv *kv, const char *lim,
			    struct buf *sv, struct buf *out)
{
	const char *v;
	size_t vn;
	int vhow;
	switch (kv->type) {
	case RV_STRING:
		if ((vhow = lpw_str(w, kv->val, kv->val_len, 0, sv, &v, &vn)) < 0)
			return -1;
		if (vhow == TOK_DECODED) {
			lp_add_string(out, v, vn);
		} else {
			/* no backslash and (JSON) no '"': nothing to escape */
			out->p[out->len++] = '"';
			lpw_copy(out, v, vn, lim);
			out->p[out->len++] = '"';
		}
		break;
	case RV_INT:
		lpw_copy(out, kv->val, kv->val_len, lim);
		/* rec_parse admits only int64 integers */
		out->p[out->len++] = 'i';
		break;
	case RV_FLOAT:
	case RV_BOOL:
		lpw_copy(out, kv->val, kv->val_len, lim);
		break;
	}
	return 0;
}

/* The field set, leaving out the fields with an empty key: how many were
 * written (0: none, and then the record cannot be written), or -1. */
static inline long lpw_fields(const struct lpw *w, const struct record *r, const char *lim,
			      struct buf *sk, struct buf *sv, struct buf *out)
{
	const char *s;
	size_t n;
	int how;
	long written = 0;
	for (size_t i = 0; i < r->nfields; i++) {
		const struct rec_kv *kv = &r->fields[i];
		if ((how = lpw_str(w, kv->key, kv->key_len, 1, sk, &s, &n)) < 0)
			return -1;
		if (!n)
			continue;
		/* a value is never longer in line protocol than twice its token */
		if (room(out, 2 * (n + kv->val_len) + 4 + LPW_SLACK) < 0)
			return -1;
		out->p[out->len++] = written ? ',' : ' ';
		written++;
		lpw_put_name(out, s, n, how, 0, lim);
		out->p[out->len++] = '=';
		if (lpw_value(w, kv, lim, sv, out) < 0)
			return -1;
	}
	return written;
}

/* " TIME\n", in place: buf_add_i64() would cost a call per record. */
static inline int lpw_time(struct buf *out, int64_t t)
{
	char tmp[24];
	size_t i = sizeof tmp;
	uint64_t v = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
	tmp[--i] = '\n';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (t < 0)
		tmp[--i] = '-';
	tmp[--i] = ' ';
	if (room(out, sizeof tmp) < 0)
		return -1;
	memcpy(out->p + out->len, tmp + i, sizeof tmp - i);
	out->len += sizeof tmp - i;
	return 0;
}

int lp_write_record(const struct record *r, int64_t default_time_ns, struct buf *out)
{
	size_t start = out->len;
	struct buf sk = BUF_INIT, sv = BUF_INIT; /* decoded keys and values */
	struct lpw w;
	const char *lim = r->src + r->len;
	w.mapped = 0;
	if (r->len <= LPW_MAX)
		lpw_map(&w, r->src, r->len);

	int ok = lpw_measurement(&w, r, lim, &sk, out) == 0 &&
		 lpw_tags(&w, r, lim, &sk, &sv, out) == 0 &&
		 lpw_fields(&w, r, lim, &sk, &sv, out) > 0;
	if (ok)
		ok = lpw_time(out, r->has_time ? r->time : default_time_ns) == 0;
	buf_free(&sk);
	buf_free(&sv);
	if (!ok) {
		if (out->len > start)
			out->len = start;
		return -1;
	}
	return 0;
}
