/* Fuzz the record codec. Whatever parses must survive a rec_write and an
 * edit: both outputs must parse again and say the same thing. And any bytes
 * made into a JSON string by json_add_str must read back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "record.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct record r, r2;
static struct buf out, out2, scratch, scratch2;
static struct rec_edit e;

static int same_str(const char *a, size_t an, const char *b, size_t bn)
{
	const char *s1, *s2;
	size_t l1, l2;
	CHECK(rec_str(a, an, &scratch, &s1, &l1) == 0);
	CHECK(rec_str(b, bn, &scratch2, &s2, &l2) == 0);
	return l1 == l2 && memcmp(s1, s2, l1) == 0;
}

static void same_kvs(const struct rec_kv *a, size_t na, const struct rec_kv *b, size_t nb)
{
	CHECK(na == nb);
	for (size_t i = 0; i < na; i++) {
		CHECK(a[i].type == b[i].type);
		CHECK(a[i].hash == b[i].hash);
		CHECK(a[i].val_len == b[i].val_len && !memcmp(a[i].val, b[i].val, a[i].val_len));
		CHECK(same_str(a[i].key, a[i].key_len, b[i].key, b[i].key_len));
	}
}

/* An independent UTF-8 check: decode code points, then range-check them. */
static int valid_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t c = s[i], cp;
		size_t len = c < 0x80	      ? 1
			     : (c >> 5) == 6  ? 2
			     : (c >> 4) == 14 ? 3
			     : (c >> 3) == 30 ? 4
					      : 0;
		if (!len || i + len > n)
			return 0;
		cp = len == 1 ? c : c & (0x7F >> len);
		for (size_t j = 1; j < len; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

/* json_add_str output is one valid string token; valid UTF-8 reads back. */
static void check_jstr(const uint8_t *data, size_t size)
{
	struct rum_error err = {0};
	buf_reset(&out);
	CHECK(buf_adds(&out, "{\"measurement\":\"m\",\"fields\":{\"s\":") == 0);
	size_t tok = out.len;
	CHECK(json_add_str(&out, (const char *)data, size) == 0);
	size_t toklen = out.len - tok;
	CHECK(buf_adds(&out, "}}") == 0);
	CHECK(rec_parse_line(&r2, out.p, out.len, &err) == 0);
	CHECK(r2.nfields == 1 && r2.fields[0].val_len == toklen);
	const char *s;
	size_t len;
	CHECK(rec_str(out.p + tok, toklen, &scratch, &s, &len) == 0);
	CHECK(valid_utf8((const uint8_t *)s, len));
	if (valid_utf8(data, size))
		CHECK(len == size && !memcmp(s, data, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rum_error err = {0};
	const char *p = (const char *)data;

	check_jstr(data, size);

	size_t used = 0;
	if (rec_parse(&r, p, size, &used, &err) == 0)
		CHECK(used <= size && r.src >= p && r.src + r.len == p + used);
	if (rec_parse_line(&r, p, size, &err) < 0) {
		CHECK(err.msg[0] && err.offset <= size);
		return 0;
	}
	CHECK(r.len >= 2 && r.src[0] == '{' && r.src[r.len - 1] == '}');
	CHECK(r.meas && r.meas_len >= 2);

	/* Canonical form: the same record. */
	buf_reset(&out);
	CHECK(rec_write(&r, &out) == 0);
	if (rec_parse_line(&r2, out.p, out.len, &err) < 0) {
		fprintf(stderr, "rec_write output does not parse: %s at %zu\n%.*s\n", err.msg,
			err.offset, (int)out.len, out.p);
		abort();
	}
	CHECK(r2.meas_len == r.meas_len && !memcmp(r2.meas, r.meas, r.meas_len));
	same_kvs(r.tags, r.ntags, r2.tags, r2.ntags);
	same_kvs(r.fields, r.nfields, r2.fields, r2.nfields);
	CHECK(r2.has_time == r.has_time && r2.time == r.time);

	/* Edits: replace the first tag (found by its decoded key), add a tag,
	 * add or replace fields of every type. */
	rec_edit_reset(&e);
	size_t ntags = r.ntags, nfields = r.nfields;
	int replaced = 0;
	if (r.ntags) {
		const char *k;
		size_t kl;
		CHECK(rec_str(r.tags[0].key, r.tags[0].key_len, &scratch, &k, &kl) == 0);
		/* fz_tag is set below: the later edit of a key wins. */
		if (!memchr(k, 0, kl) && !(kl == 6 && !memcmp(k, "fz_tag", 6))) {
			char *key = malloc(kl + 1);
			CHECK(key);
			memcpy(key, k, kl);
			key[kl] = 0;
			CHECK(rec_edit_tag(&e, key, "re\"placed\n", 10) == 0);
			free(key);
			replaced = 1;
		}
	}
	CHECK(rec_edit_tag(&e, "fz_tag", "é\x01\xff", 4) == 0);
	CHECK(rec_edit_field_int(&e, "fz_int", INT64_MIN) == 0);
	CHECK(rec_edit_field_double(&e, "fz_float", 1e300) == 0);
	CHECK(rec_edit_field_bool(&e, "fz_bool", 1) == 0);
	CHECK(rec_edit_field_str(&e, "fz_str", p, size < 64 ? size : 64) == 0);
	buf_reset(&out2);
	CHECK(rec_edit_apply(&r, &e, &out2) == 0);
	if (rec_parse_line(&r2, out2.p, out2.len, &err) < 0) {
		fprintf(stderr, "edited record does not parse: %s at %zu\n%.*s\n", err.msg,
			err.offset, (int)out2.len, out2.p);
		abort();
	}
	CHECK(r2.ntags == ntags + !rec_tag(&r, "fz_tag"));
	size_t added = 0;
	static const char *const fk[] = {"fz_int", "fz_float", "fz_bool", "fz_str"};
	for (int i = 0; i < 4; i++)
		added += !rec_field(&r, fk[i]);
	CHECK(r2.nfields == nfields + added);
	const struct rec_kv *kv = rec_tag(&r2, "fz_tag");
	static const char want[] = "\"é\\u0001\xEF\xBF\xBD\"";
	CHECK(kv && kv->val_len == sizeof want - 1 && !memcmp(kv->val, want, sizeof want - 1));
	kv = rec_field(&r2, "fz_int");
	CHECK(kv && kv->type == RV_INT && kv->val_len == 20);
	kv = rec_field(&r2, "fz_float");
	CHECK(kv && kv->type == RV_FLOAT);
	kv = rec_field(&r2, "fz_bool");
	CHECK(kv && kv->type == RV_BOOL);
	if (replaced) {
		kv = &r2.tags[0];
		CHECK(kv->val_len == 14 && !memcmp(kv->val, "\"re\\\"placed\\n\"", 14));
	}
	CHECK(r2.has_time == r.has_time && r2.time == r.time);
	CHECK(r2.meas_len == r.meas_len && !memcmp(r2.meas, r.meas, r.meas_len));
	return 0;
}
