/* A session_replay record as one entry of the replay queue: everything the
 * upload needs, decoded once when the record is read, so that a retry or a
 * restart resends the very same request. Layout (little-endian u32s):
 *
 *   magic, len(content type), len(X-Global-Tags value), len(header lines),
 *   len(app_id), 0, then those four strings and the body to the end.
 *
 * Header lines are "Name: value\n" each. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "bytes.h"
#include "record.h"
#include "ship.h"

#define ENTRY_MAGIC 0x31505252u /* "RRP1" */
#define ENTRY_HDR 24

static int unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* As URL query escaping: a ',' or '=' inside a tag cannot break the list. */
static int add_escaped(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			buf_addc(b, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_add(b, e, 3);
		}
	}
	return b->err ? -1 : 0;
}

static int token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

/* Headers the upload sets itself, or that belong to one connection only. */
static int not_forwarded(const char *name, size_t n)
{
	static const char *const skip[] = {
	    "host",
	    "content-length",
	    "content-type",
	    "transfer-encoding",
	    "connection",
	    "keep-alive",
	    "proxy-connection",
	    "te",
	    "trailer",
	    "upgrade",
	    "expect",
	    "x-global-tags",
	    "proxy-authorization",
	};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (strlen(skip[i]) == n && strncasecmp(skip[i], name, n) == 0)
			return 1;
	return 0;
}

/* Header lines from the headers field: a JSON object of strings, held in a
 * JSON string. Entries that cannot be sent as they are are left out. */
static int add_headers(struct replay_builder *rb, const char *json, size_t n, struct buf *out)
{
	buf_reset(&rb->wrap);
	buf_adds(&rb->wrap, "{\"measurement\":\"h\",\"tags\":");
	buf_add(&rb->wrap, json, n);
	buf_addc(&rb->wrap, '}');
	if (rb->wrap.err)
		return -1;
	struct rum_error e;
	if (rec_parse_line(&rb->hrec, rb->wrap.p, rb->wrap.len, &e) < 0)
		return -1;
	for (size_t i = 0; i < rb->hrec.ntags; i++) {
		const struct rec_kv *kv = &rb->hrec.tags[i];
		const char *k, *v;
		size_t kl, vl;
		if (rec_str(kv->key, kv->key_len, &rb->scratch, &k, &kl) < 0 || kl == 0)
			continue;
		int ok = 1;
		for (size_t j = 0; j < kl && ok; j++)
			ok = token_char((unsigned char)k[j]);
		if (!ok || not_forwarded(k, kl))
			continue;
		size_t at = out->len;
		buf_add(out, k, kl);
		if (rec_str(kv->val, kv->val_len, &rb->scratch, &v, &vl) < 0) {
			out->len = at;
			continue;
		}
		for (size_t j = 0; j < vl && ok; j++)
			ok = v[j] != '\r' && v[j] != '\n' && v[j] != '\0';
		if (!ok) {
			out->len = at;
			continue;
		}
		/* libcurl leaves out "Name:" with nothing after it; "Name;" is
		 * how it sends a header with an empty value */
		if (vl == 0) {
			buf_add(out, ";\n", 2);
			continue;
		}
		buf_add(out, ": ", 2);
		buf_add(out, v, vl);
		buf_addc(out, '\n');
	}
	/* a huge header set must not keep its buffer for ever */
	if (rb->wrap.cap > 65536)
		buf_free(&rb->wrap);
	return out->err ? -1 : 0;
}

void replay_builder_free(struct replay_builder *rb)
{
	buf_free(&rb->scratch);
	buf_free(&rb->wrap);
	rec_free(&rb->hrec);
}

/* A field that must be a string, decoded (into scratch when it has escapes). */
static const char *str_field(struct replay_builder *rb, const struct record *rec, const char *name,
			     const char **s, size_t *n)
{
	const struct rec_kv *kv = rec_field(rec, name);
	if (!kv)
		return "no field";
	if (kv->type != RV_STRING || rec_str(kv->val, kv->val_len, &rb->scratch, s, n) < 0)
		return "not a string";
	return NULL;
}

int replay_entry_build(struct replay_builder *rb, const struct record *rec, struct buf *out,
		       struct rum_error *err)
{
	buf_reset(out);
	unsigned char hdr[ENTRY_HDR] = {0};
	buf_add(out, hdr, sizeof hdr);

	const char *s;
	size_t n;
	const char *bad = str_field(rb, rec, "content_type", &s, &n);
	if (bad || n == 0) {
		return err_set(err, "no content_type field (a string)");
	}
	for (size_t j = 0; j < n; j++)
		if (s[j] == '\r' || s[j] == '\n' || s[j] == '\0') {
			return err_set(err, "a line break in content_type");
		}
	buf_add(out, s, n);
	uint32_t ct_len = (uint32_t)n;

	size_t at = out->len;
	for (size_t i = 0; i < rec->ntags; i++) {
		const struct rec_kv *kv = &rec->tags[i];
		if (rec_str(kv->key, kv->key_len, &rb->scratch, &s, &n) < 0 || n == 0)
			continue;
		if (out->len > at)
			buf_addc(out, ',');
		add_escaped(out, s, n);
		buf_addc(out, '=');
		if (rec_str(kv->val, kv->val_len, &rb->scratch, &s, &n) == 0)
			add_escaped(out, s, n);
	}
	uint32_t xgt_len = (uint32_t)(out->len - at);

	at = out->len;
	if (rec_field(rec, "headers")) {
		if (str_field(rb, rec, "headers", &s, &n) || add_headers(rb, s, n, out) < 0) {
			return err_set(err,
				       "headers field is not a JSON object of strings in a string");
		}
	}
	uint32_t hdrs_len = (uint32_t)(out->len - at);

	at = out->len;
	const struct rec_kv *app = rec_tag(rec, "app_id");
	if (app && rec_str(app->val, app->val_len, &rb->scratch, &s, &n) == 0)
		buf_add(out, s, n > 128 ? 128 : n);
	uint32_t app_len = (uint32_t)(out->len - at);

	bad = str_field(rb, rec, "body", &s, &n);
	if (bad) {
		return err_set(err, "no body field (a string)");
	}
	if (base64_decode(out, s, n) < 0) {
		return err_set(err, "%s", out->err ? "out of memory" : "body is not base64");
	}
	if (out->err) {
		return err_set(err, "out of memory");
	}
	unsigned char *h = (unsigned char *)out->p;
	put_le32(h, ENTRY_MAGIC);
	put_le32(h + 4, ct_len);
	put_le32(h + 8, xgt_len);
	put_le32(h + 12, hdrs_len);
	put_le32(h + 16, app_len);
	if (rb->scratch.cap > ((size_t)1 << 20))
		buf_free(&rb->scratch);
	return 0;
}

int replay_entry_parse(const char *p, size_t n, struct replay_entry *e)
{
	const unsigned char *h = (const unsigned char *)p;
	if (n < ENTRY_HDR || get_le32(h) != ENTRY_MAGIC)
		return -1;
	uint64_t l[4];
	uint64_t sum = ENTRY_HDR;
	for (int i = 0; i < 4; i++) {
		l[i] = get_le32(h + 4 + 4 * i);
		sum += l[i];
	}
	if (sum > n || l[0] == 0)
		return -1;
	const char *s = p + ENTRY_HDR;
	e->ct = s;
	e->ct_len = (size_t)l[0];
	s += l[0];
	e->xgt = s;
	e->xgt_len = (size_t)l[1];
	s += l[1];
	e->hdrs = s;
	e->hdrs_len = (size_t)l[2];
	s += l[2];
	e->app = s;
	e->app_len = (size_t)l[3];
	s += l[3];
	e->body = s;
	e->body_len = n - (size_t)sum;
	return 0;
}
