/* Fuzz the Mach-O header reader (cmd/rum-symbolicate/macho.c): any bytes
 * as a thin or universal file. Every slice it reports lies inside the
 * input and has an architecture name; a UUID formatted and parsed again
 * is the same UUID. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macho.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct macho_info mi;
	struct rum_error err = {0};
	if (macho_parse(data, size, &mi, &err) == 0) {
		CHECK(mi.nslices >= 1 && mi.nslices <= MACHO_MAX_SLICES);
		for (unsigned i = 0; i < mi.nslices; i++) {
			const struct macho_slice *s = &mi.s[i];
			CHECK(s->offset <= size && s->size <= size - s->offset);
			CHECK(s->arch[0] && memchr(s->arch, 0, sizeof s->arch));
			if (s->has_uuid) {
				char u[37];
				uint8_t back[16];
				macho_uuid_format(s->uuid, u);
				CHECK(macho_uuid_parse(u, 36, back) == 0);
				CHECK(memcmp(back, s->uuid, 16) == 0);
			}
		}
	} else {
		CHECK(err.msg[0]);
	}
	uint8_t u[16];
	if (size >= 36)
		(void)macho_uuid_parse((const char *)data, 36, u);
	if (size >= 32)
		(void)macho_uuid_parse((const char *)data, 32, u);
	return 0;
}
