/* Fuzz rum-enrich's per-record work (cmd/rum-enrich/enrich.c) with small
 * City and ASN databases (fuzz/data/, made by t/lib/mkmmdb from the .json
 * beside them): every input line goes through enrich_line, and the first
 * line is also tried as the value of an ip tag. Whatever comes out for a
 * record must parse as a record again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/rum-enrich/enrich.h"
#include "buf.h"
#include "log.h"
#include "record.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct enricher en;
static struct buf out, line;
static struct record check;

static const char *db_path(const char *env, const char *def)
{
	const char *p = getenv(env);
	return p && *p ? p : def;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz-enrich");
	log_set_level("error");
	en.db[DB_CITY].path = db_path("FUZZ_ENRICH_CITY_DB", "fuzz/data/enrich-city.mmdb");
	en.db[DB_CITY].option = "--city-db";
	en.db[DB_CITY].lang = "zh-CN";
	en.db[DB_ISP].path = db_path("FUZZ_ENRICH_ISP_DB", "fuzz/data/enrich-asn.mmdb");
	en.db[DB_ISP].option = "--isp-db";
	en.db[DB_ISP].lang = "zh-CN";
	struct rum_error err = {0};
	if (enrich_init(&en, 64) < 0 || enrich_open(&en, &err) < 0) {
		fprintf(stderr, "fuzz-enrich: %s (run from the repository's top directory)\n",
			err.msg);
		exit(1);
	}
	return 0;
}

static void one(const char *p, size_t n)
{
	struct rum_error err = {0};
	buf_reset(&out);
	switch (enrich_line(&en, p, n, &out, &err)) {
	case SL_EDITED:
		CHECK(out.len > 0 && out.p[out.len - 1] == '\n');
		CHECK(rec_parse_line(&check, out.p, out.len - 1, &err) == 0);
		CHECK(rec_tag(&check, "city") && rec_tag(&check, "province") &&
		      rec_tag(&check, "country") && rec_tag(&check, "isp"));
		break;
	case SL_PASS:
	case SL_BAD:
		CHECK(out.len == 0);
		break;
	case SL_DROP: /* enrich drops nothing */
	case SL_NOMEM:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	/* A reload now and then: the cache must forget what it knew. */
	if (size && data[0] == 0x7f)
		enrich_reload(&en, 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		one(p, n);
		p += n + 1;
	}
	const char *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - (const char *)data) : size;
	if (n > 200)
		n = 200;
	buf_reset(&line);
	buf_adds(&line, "{\"measurement\":\"m\",\"tags\":{\"ip\":");
	json_add_str(&line, (const char *)data, n);
	buf_adds(&line, "}}");
	CHECK(!line.err);
	one(line.p, line.len);
	return 0;
}
