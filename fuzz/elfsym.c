/* Fuzz the ELF/DWARF symbolizer (cmd/rum-symbolicate/dwarfsym.c): the
 * input is taken for an unstripped .so out of a zip. Opening must fail
 * cleanly or give a library whose lookups stay within their bounds; the
 * first 8 bytes choose the addresses looked up (the seeds are real
 * libraries, so mutations keep most of their structure). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarfsym.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	uint64_t seed;
	memcpy(&seed, data, 8);
	void *img = malloc(size - 8);
	if (!img)
		return 0;
	memcpy(img, data + 8, size - 8);
	struct rum_error err = {0};
	struct dsym *ds = dsym_open(img, size - 8, &err);
	if (!ds) {
		CHECK(err.msg[0] && strlen(err.msg) < sizeof err.msg);
		return 0;
	}
	CHECK(dsym_memory(ds) >= size - 8);
	static struct dsym_result r;
	for (unsigned k = 0; k < 64; k++) {
		uint64_t pc = (seed & 0xffff) + k * ((seed >> 16 & 0xff) + 1);
		unsigned n = dsym_lookup(ds, pc, &r);
		CHECK(n == r.n && n <= DSYM_MAX_INLINE);
		CHECK(r.text_used <= sizeof r.text);
		for (unsigned i = 0; i < n; i++) {
			CHECK(r.loc[i].function && r.loc[i].file);
			(void)strlen(r.loc[i].function);
			(void)strlen(r.loc[i].file);
		}
	}
	dsym_free(ds);
	return 0;
}
