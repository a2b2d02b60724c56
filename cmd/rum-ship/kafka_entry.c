/* Batches of records as queue entries of the Kafka sink (format: kafka.h). */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "kafka.h"

int ke_begin(struct buf *b)
{
	unsigned char h[KE_HDR];
	put_le32(h, KE_MAGIC);
	put_le32(h + 4, 0);
	buf_reset(b);
	return buf_add(b, h, sizeof h);
}

/* The decoded value of a string token appended to b; its length, or
 * KE_ABSENT when there is none or it is too long to be a header or a key
 * (a session_id or measurement of 64 KiB is not one). -1: out of memory. */
static long add_value(struct buf *b, const struct rec_kv *kv, struct buf *scratch)
{
	const char *s;
	size_t n;
	if (!kv || kv->type != RV_STRING || rec_str(kv->val, kv->val_len, scratch, &s, &n) < 0 ||
	    n >= KE_ABSENT)
		return KE_ABSENT;
	return buf_add(b, s, n) < 0 ? -1 : (long)n;
}

int ke_add(struct buf *b, const struct record *rec, const char *line, size_t len, int replay,
	   struct buf *scratch)
{
	if (len > UINT32_MAX)
		return -1;
	size_t at = b->len;
	unsigned char h[KE_REC_HDR] = {0};
	if (buf_add(b, h, sizeof h) < 0 || buf_add(b, line, len) < 0)
		return -1;
	/* The measurement token is a JSON string: decoded like a tag value. */
	struct rec_kv meas = {.val = rec->meas, .val_len = rec->meas_len, .type = RV_STRING};
	long key = replay ? KE_ABSENT : add_value(b, rec_tag(rec, "session_id"), scratch);
	long m = key < 0 ? -1 : add_value(b, &meas, scratch);
	long app = m < 0 ? -1 : add_value(b, rec_tag(rec, "app_id"), scratch);
	if (app < 0)
		return -1;
	unsigned char *p = (unsigned char *)b->p + at;
	put_le32(p, (uint32_t)len);
	p[4] = (unsigned char)key, p[5] = (unsigned char)(key >> 8);
	p[6] = (unsigned char)m, p[7] = (unsigned char)(m >> 8);
	p[8] = (unsigned char)app, p[9] = (unsigned char)(app >> 8);
	p[10] = replay ? KE_REPLAY : 0;
	return 0;
}

void ke_seal(struct buf *b, uint32_t count)
{
	if (b->len >= KE_HDR)
		put_le32((unsigned char *)b->p + 4, count);
}

/* A value of length n (KE_ABSENT: none) at *at, inside end. 0 or -1. */
static int value(const char *base, size_t *at, size_t end, uint16_t n, const char **v)
{
	if (n == KE_ABSENT) {
		*v = NULL;
		return 0;
	}
	if (end - *at < n)
		return -1;
	*v = base + *at;
	*at += n;
	return 0;
}

int ke_index(const char *p, size_t n, struct kmsg **msgs, size_t *cap, uint32_t *count)
{
	const unsigned char *u = (const unsigned char *)p;
	if (n < KE_HDR || get_le32(u) != KE_MAGIC)
		return -1;
	uint32_t cnt = get_le32(u + 4);
	/* every record takes a header at least: a count past that is damage */
	if (cnt > (n - KE_HDR) / KE_REC_HDR)
		return -1;
	if (cnt > *cap) {
		struct kmsg *m = realloc(*msgs, (size_t)cnt * sizeof *m);
		if (!m)
			return -1;
		*msgs = m;
		*cap = cnt;
	}
	size_t at = KE_HDR;
	for (uint32_t i = 0; i < cnt; i++) {
		struct kmsg *m = &(*msgs)[i];
		if (n - at < KE_REC_HDR)
			return -1;
		const unsigned char *h = u + at;
		uint32_t len = get_le32(h);
		*m = (struct kmsg){.len = len,
				   .key_len = get_le16(h + 4),
				   .meas_len = get_le16(h + 6),
				   .app_len = get_le16(h + 8),
				   .replay = (h[10] & KE_REPLAY) != 0};
		at += KE_REC_HDR;
		if (n - at < len)
			return -1;
		m->p = p + at;
		at += len;
		if (value(p, &at, n, m->key_len, &m->key) < 0 ||
		    value(p, &at, n, m->meas_len, &m->meas) < 0 ||
		    value(p, &at, n, m->app_len, &m->app) < 0)
			return -1;
	}
	if (at != n)
		return -1;
	*count = cnt;
	return 0;
}
