/* What the fuzz targets of rum-listen's SDK intakes (datadog_body.c,
 * faro_body.c) share: the mapper run as the handler runs it, all or
 * nothing. Any input ends in records or an error without reading outside
 * it; an accepted body gives whole record lines the record codec reads
 * back, each with the tags app_id and ip, an accepted measurement, and as
 * many lines as the counts say. The first byte turns on --app-id-allow,
 * the global tags and the time correction. */
#ifndef RUM_FUZZ_SDK_BODY_H
#define RUM_FUZZ_SDK_BODY_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datadog.h"
#include "record.h"

/* What main.c provides to the mappers. */
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

int intake_fail(struct intake_err *err, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->status = status;
	err->code = code;
	return -1;
}

static char *meas[] = {"view", "resource", "action", "long_task", "error", "telemetry"};
static char *apps[] = {"app-1", "11111111-2222-3333-4444-555555555555"};
#define NOW 1700000000000000000LL
#define BIAS 3600000000000LL

static struct added_tag globals[] = {
    {"host", "web-1", 5, LPF_KEY_SAFE | LPF_VAL_SAFE},
    {"a b\\", "q\"\n\xc3\xa9", 5, 0},
};

static void check_records(const struct buf *out, size_t expect, int feed)
{
	size_t lines = 0;
	for (const char *q = out->p, *end = out->p + out->len; q < end;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		if (!nl)
			abort(); /* records are whole lines */
		struct record r;
		struct rum_error re = {0};
		memset(&r, 0, sizeof r);
		if (rec_parse_line(&r, q, (size_t)(nl - q), &re) < 0) {
			fprintf(stderr, "record does not parse: %s\n%.*s\n", re.msg, (int)(nl - q),
				q);
			abort();
		}
		if (!rec_tag(&r, "ip") || !rec_tag(&r, "app_id") || !r.has_time)
			abort();
		for (size_t g = 0; feed && g < cfg.nglobal_tags; g++)
			if (!rec_tag(&r, globals[g].key) && !rec_field(&r, globals[g].key))
				abort();
		if (feed && (r.time > NOW + BIAS || r.time < NOW - BIAS))
			abort();
		rec_free(&r);
		lines++;
		q = nl + 1;
	}
	if (lines != expect)
		abort();
}

typedef int (*sdk_parse_fn)(const struct sdk_in *in, struct buf *out, uint64_t *per_meas,
			    struct sdk_tally *tally, struct intake_err *err);

/* One input through parse; faro: bit 8 of the first byte gives the
 * app_id of the path. */
static int sdk_fuzz_one(const uint8_t *data, size_t size, sdk_parse_fn parse, int faro)
{
	if (size < 1)
		return 0;
	int feed = data[0] & 1;
	cfg.measurements.v = meas;
	cfg.measurements.n = cfg.measurements.cap = sizeof meas / sizeof meas[0];
	cfg.app_allow.v = apps;
	cfg.app_allow.n = cfg.app_allow.cap = (data[0] & 2) ? 2 : 0;
	cfg.global_tags = feed ? globals : NULL;
	cfg.nglobal_tags = feed ? sizeof globals / sizeof globals[0] : 0;
	cfg.time_correction_ns = feed ? BIAS : 0;
	size_t n = size - 1;
	char *body = malloc(n ? n : 1);
	if (!body)
		abort();
	memcpy(body, data + 1, n);
	static struct buf out;
	uint64_t per_meas[sizeof meas / sizeof meas[0]] = {0};
	struct sdk_tally tally;
	memset(&tally, 0, sizeof tally);
	struct intake_err err;
	struct sdk_in in = {
	    .body = body,
	    .len = n,
	    .now_ns = NOW,
	    .ip = "203.0.113.7",
	    .ip_len = 11,
	    .app_id = faro && (data[0] & 8) ? "app-1" : NULL,
	    .ua = (data[0] & 4)
		      ? "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) Version/16.0 Safari"
		      : NULL,
	};
	buf_reset(&out);
	if (parse(&in, &out, per_meas, &tally, &err) == 0) {
		size_t sum = 0, mapped = 0;
		for (size_t i = 0; i < cfg.measurements.n; i++)
			sum += per_meas[i];
		for (size_t i = 0; i < ST_COUNT; i++)
			mapped += tally.mapped[i];
		if (sum != mapped)
			abort();
		check_records(&out, sum, feed);
	} else if (err.status < 400 || err.status > 599 || !err.code) {
		abort();
	}
	if (out.cap > ((size_t)4 << 20))
		buf_free(&out);
	free(body);
	return 0;
}

#endif
