/* Fuzz rum-cdn's handling of what the resolver returns
 * (cmd/rum-cdn/cdn.c) with records and DNS responses: input byte 0 picks
 * the c-ares status, the bytes up to the first newline are a record (and,
 * as a JSON string, the host of another), the rest is the response. The
 * outcome must be consistent (CDN: a canonical name other than the host;
 * first-party: the host itself), and the record written with it must parse
 * with both fields set. A small cache takes every answer. */
#include <ares.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../cmd/rum-cdn/cache.h"
#include "../cmd/rum-cdn/cdn.h"
#include "buf.h"
#include "record.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct cdn_map *map;
static struct cdn_cache cache;
static struct record rec, check;
static struct rec_edit edit;
static struct buf out, line, scratch;
static uint64_t clock_ms;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct rum_error err = {0};
	map = cdnmap_parse(cdnmap_builtin, cdnmap_builtin_len, &err);
	if (!map || cache_init(&cache, 4) < 0) {
		fprintf(stderr, "fuzz-cdn_answers: the built-in map does not load\n");
		exit(1);
	}
	rec_edit_init(&edit);
	return 0;
}

static const int statuses[] = {
    ARES_SUCCESS,  ARES_ENODATA,  ARES_ENOTFOUND, ARES_ESERVFAIL,    ARES_EREFUSED,
    ARES_ETIMEOUT, ARES_EFORMERR, ARES_EBADRESP,  ARES_ECONNREFUSED, ARES_EDESTRUCTION,
};

static void one(const char *p, size_t n, int status, const unsigned char *abuf, int alen)
{
	struct rum_error err = {0};
	if (rec_parse_line(&rec, p, n, &err) < 0)
		return;
	const char *h;
	size_t hn;
	if (!cdn_record_host(&rec, &scratch, &h, &hn))
		return;
	char host[HOST_MAX];
	size_t hl = 0;
	enum cdn_type type = CDN_UNKNOWN;
	const struct cdn_provider *prov = NULL;
	if (cdn_host_parse(h, hn, host, &hl) == HOST_NAME) {
		CHECK(hl > 0 && hl <= 253 && strlen(host) == hl);
		static struct cdn_answer a;
		cdn_answer_read(host, hl, status, abuf, alen, &a);
		CHECK(a.canon_len == strlen(a.canon));
		switch (a.type) {
		case CDN_CDN:
			CHECK(a.fail == FAIL_NONE && a.canon_len > 0);
			CHECK(!(a.canon_len == hl && strncasecmp(a.canon, host, hl) == 0));
			break;
		case CDN_FIRST_PARTY:
			CHECK(a.fail == FAIL_NONE && a.canon_len == hl &&
			      memcmp(a.canon, host, hl) == 0);
			break;
		case CDN_UNKNOWN:
			CHECK(a.fail != FAIL_NONE && a.canon_len == 0);
			break;
		}
		type = a.type;
		if (type != CDN_UNKNOWN)
			prov = cdnmap_match(map, a.canon, a.canon_len);
		uint32_t hash = cache_hash(host, hl);
		clock_ms += 7;
		struct cache_ent *e = cache_put(&cache, host, hl, hash, a.canon, a.canon_len,
						clock_ms + (hl % 3) * 10);
		CHECK(e != NULL);
		e->type = (uint8_t)type;
		struct cache_ent *g = cache_get(&cache, host, hl, hash, clock_ms);
		CHECK(g == NULL || (g->type == type && g->canon_len == a.canon_len &&
				    memcmp(g->str + g->host_len + 1, a.canon, a.canon_len) == 0));
	}
	buf_reset(&out);
	CHECK(cdn_write_record(&rec, &edit, type, prov, &out) == 0);
	CHECK(out.len > 0 && out.p[out.len - 1] == '\n');
	CHECK(rec_parse_line(&check, out.p, out.len - 1, &err) == 0);
	const struct rec_kv *t = rec_field(&check, "provider_type");
	const struct rec_kv *pn = rec_field(&check, "provider_name");
	CHECK(t && pn && t->type == RV_STRING && pn->type == RV_STRING);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
	const char *p = (const char *)data + 1;
	size_t rest = size - 1;
	const char *nl = memchr(p, '\n', rest);
	size_t n = nl ? (size_t)(nl - p) : rest;
	const unsigned char *abuf = nl ? (const unsigned char *)nl + 1 : NULL;
	int alen = nl ? (int)(rest - n - 1) : 0;
	one(p, n, status, abuf, alen);
	buf_reset(&line);
	buf_adds(&line, "{\"measurement\":\"resource\",\"tags\":{\"resource_url_host\":");
	json_add_str(&line, p, n > 300 ? 300 : n);
	buf_adds(&line, "},\"fields\":{\"provider_name\":1}}");
	CHECK(!line.err);
	one(line.p, line.len, status, abuf, alen);
	return 0;
}
