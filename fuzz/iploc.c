/* rum-enrich's IP2Location BIN reader (cmd/rum-enrich/iploc.c): the input
 * is a whole file. A file the check accepts is then asked for the first
 * address of each of its rows and for addresses taken from the input's
 * last bytes: every answer stays inside the input (ASan watches a copy of
 * exactly its size) and every value is within bounds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iploc.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void ask(const struct iploc_db *db, const struct sockaddr *sa)
{
	struct geo_vals v;
	memset(&v, 0, sizeof v);
	enum geo_status st = iploc_lookup(db, sa, &v);
	CHECK(st == GEO_FOUND || st == GEO_NOT_FOUND || st == GEO_ERROR);
	for (int k = 0; k < GEO_NVALS; k++) {
		CHECK(v.len[k] <= GEO_VAL_MAX);
		/* "-" is no value. */
		CHECK(!(v.len[k] == 1 && v.s[k][0] == '-'));
	}
}

static void ask4(const struct iploc_db *db, const uint8_t *a)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	memcpy(&in.sin_addr, a, 4);
	ask(db, (const struct sockaddr *)&in);
}

static void ask6(const struct iploc_db *db, const uint8_t *a)
{
	struct sockaddr_in6 in = {.sin6_family = AF_INET6};
	memcpy(&in.sin6_addr, a, 16);
	ask(db, (const struct sockaddr *)&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	struct iploc_db db = {.path = "fuzz", .option = "--iploc"};
	struct rum_error err = {0};
	if (iploc_check(&db, copy, size, &err) == 0) {
		for (uint32_t i = 0; i < db.v4.count && i < 64; i++) {
			const uint8_t *r = copy + db.v4.base + (size_t)i * db.v4.row_size;
			uint8_t a[4] = {r[3], r[2], r[1], r[0]};
			ask4(&db, a);
		}
		for (uint32_t i = 0; i < db.v6.count && i < 64; i++) {
			const uint8_t *r = copy + db.v6.base + (size_t)i * db.v6.row_size;
			uint8_t a[16];
			for (int k = 0; k < 16; k++)
				a[k] = r[15 - k];
			ask6(&db, a);
		}
		static const uint8_t fixed4[][4] = {
		    {0, 0, 0, 0}, {1, 2, 3, 4}, {8, 8, 8, 8}, {255, 255, 255, 255}};
		for (size_t i = 0; i < sizeof fixed4 / sizeof fixed4[0]; i++)
			ask4(&db, fixed4[i]);
		uint8_t a6[16] = {0x20, 0x02, 8, 8, 8, 8}; /* 6to4 */
		ask6(&db, a6);
		memset(a6, 0xff, sizeof a6);
		ask6(&db, a6);
		if (size >= 16) {
			ask4(&db, data + size - 4);
			ask6(&db, data + size - 16);
		}
	} else {
		CHECK(err.msg[0] != '\0');
	}
	free(copy);
	return 0;
}
