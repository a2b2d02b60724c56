/* rum-listen's handling of a write request's body, as the handler runs it:
 * decompression (the first byte picks identity, gzip, deflate, zstd or br),
 * then line protocol or JSON (the second byte) into records. Any input ends
 * in a result or an error without reading outside it or growing past the
 * limit; an accepted body gives one record line per point, each one the
 * record codec reads back, with the tag ip and an accepted measurement.
 * The third bit of the second byte turns on the global tags (every record
 * then has their keys) and the time correction (every record's time is
 * then within the bias of now). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "record.h"

/* What main.c provides to intake.c and decode.c. */
struct listen_cfg cfg;

long strlist_find(const struct strlist *l, const char *s, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0)
			return (long)i;
	return -1;
}

int strlist_has(const struct strlist *l, const char *s, size_t n)
{
	return strlist_find(l, s, n) >= 0;
}

static char *meas[] = {"view", "resource", "action", "long_task", "error", "telemetry"};
#define LIMIT ((size_t)1 << 20)
#define NOW 1700000000000000000LL
#define BIAS 3600000000000LL

static struct added_tag globals[] = {
    {"host", "web-1", 5, LPF_KEY_SAFE | LPF_VAL_SAFE},
    {"a b\\", "q\"\n\xc3\xa9", 5, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	cfg.measurements.v = meas;
	cfg.measurements.n = cfg.measurements.cap = sizeof meas / sizeof meas[0];
	cfg.max_body = LIMIT;
	static const enum body_enc encs[] = {ENC_IDENTITY, ENC_GZIP, ENC_DEFLATE, ENC_ZSTD, ENC_BR};
	enum body_enc enc = encs[data[0] % 5];
	int json = data[1] & 1;
	enum lp_precision prec = (data[1] >> 1) & 1 ? LP_GUESS : LP_MS;
	int feed = (data[1] >> 2) & 1;
	cfg.global_tags = feed ? globals : NULL;
	cfg.nglobal_tags = feed ? sizeof globals / sizeof globals[0] : 0;
	cfg.time_correction_ns = feed ? BIAS : 0;
	size_t n = size - 2;
	char *body = malloc(n ? n : 1);
	if (!body)
		abort();
	memcpy(body, data + 2, n);

	static struct buf dec, out;
	const char *p = body;
	size_t len = n;
	if (enc != ENC_IDENTITY) {
		const char *why = NULL;
		int rc = decode_body(enc, body, n, LIMIT, &dec, &why);
		if (rc == DEC_OK && dec.len > LIMIT)
			abort();
		if (rc != DEC_OK) {
			free(body);
			return 0;
		}
		p = dec.p ? dec.p : "";
		len = dec.len;
	}
	uint64_t per_meas[sizeof meas / sizeof meas[0]] = {0};
	size_t npoints = 0;
	struct intake_err err;
	struct intake_in in = {
	    .body = p,
	    .len = len,
	    .json = json,
	    .precision = prec,
	    .now_ns = NOW,
	    .ip = "203.0.113.7",
	    .ip_len = 11,
	};
	buf_reset(&out);
	if (intake_parse(&in, &out, per_meas, &npoints, &err) == 0) {
		size_t lines = 0, sum = 0;
		for (size_t i = 0; i < cfg.measurements.n; i++)
			sum += per_meas[i];
		for (const char *q = out.p, *end = out.p + out.len; q < end;) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			if (!nl)
				abort(); /* records are whole lines */
			struct record r;
			struct rum_error re = {0};
			memset(&r, 0, sizeof r);
			if (rec_parse_line(&r, q, (size_t)(nl - q), &re) < 0) {
				fprintf(stderr, "record does not parse: %s\n%.*s\n", re.msg,
					(int)(nl - q), q);
				abort();
			}
			const struct rec_kv *ip = rec_tag(&r, "ip");
			if (!ip)
				abort();
			for (size_t g = 0; g < cfg.nglobal_tags; g++)
				if (!rec_tag(&r, globals[g].key) && !rec_field(&r, globals[g].key))
					abort();
			if (feed && r.has_time && (r.time > NOW + BIAS || r.time < NOW - BIAS))
				abort();
			rec_free(&r);
			lines++;
			q = nl + 1;
		}
		if (lines != npoints || sum != npoints)
			abort();
	} else if (err.status < 400 || err.status > 599 || !err.code) {
		abort();
	}
	if (out.cap > ((size_t)4 << 20))
		buf_free(&out);
	if (dec.cap > ((size_t)4 << 20))
		buf_free(&dec);
	free(body);
	return 0;
}
