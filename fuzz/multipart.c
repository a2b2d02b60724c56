/* rum-listen's multipart/form-data parser. The input's first line is the
 * Content-Type value, the rest the body. Any input parses or fails without
 * reading outside the body; the parts it yields are in order, inside the
 * body, and do not overlap; an error points inside the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t clen = nl ? (size_t)(nl - data) : size;
	size_t blen = nl ? size - clen - 1 : 0;
	/* Copies of exactly their size, so reads past the end are caught. */
	char *ct = malloc(clen ? clen : 1);
	char *body = malloc(blen ? blen : 1);
	if (!ct || !body)
		abort();
	memcpy(ct, data, clen);
	if (blen)
		memcpy(body, nl + 1, blen);
	struct mp_parser mp;
	struct mp_part part;
	const char *why = NULL;
	if (mp_init(&mp, ct, clen, body, blen, &why) == 0) {
		const char *prev_end = body;
		size_t n = 0;
		int rc;
		while ((rc = mp_next(&mp, &part, &why)) == 1) {
			if (part.data < prev_end || part.data + part.len > body + blen)
				abort();
			if (part.name_len > MP_NAME_MAX || part.filename_len > MP_FILENAME_MAX)
				abort();
			if (part.ctype &&
			    (part.ctype < body || part.ctype + part.ctype_len > body + blen))
				abort();
			prev_end = part.data + part.len;
			n++;
		}
		if (rc < 0 && (!why || mp.err_off > blen))
			abort();
		if (rc == 0 && mp.nparts != n)
			abort();
		/* Finished parsers stay finished. */
		if (mp_next(&mp, &part, &why) != rc)
			abort();
	} else if (!why) {
		abort();
	}
	free(ct);
	free(body);
	return 0;
}
