/* Fuzz rum-cdn's map loader (cmd/rum-cdn/cdnmap.c): any bytes are either a
 * map or an error with a position inside the text. A map that loads
 * matches its own domains: a plain domain (and any name under it) finds an
 * entry of that domain; a glob with each '*' replaced by "x" finds an entry
 * at least as long a suffix. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/rum-cdn/cdnmap.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* cdnmap.h declares the built-in map; this target does not need it. */
const char cdnmap_builtin[] = "[]";
const size_t cdnmap_builtin_len = 2;

static size_t labels(const char *s)
{
	size_t n = 1;
	for (; *s; s++)
		n += *s == '.';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rum_error err = {0};
	struct cdn_map *m = cdnmap_parse((const char *)data, size, &err);
	if (!m) {
		CHECK(err.msg[0]);
		CHECK(err.offset <= size);
		CHECK(err.line >= 1 && err.column >= 1);
		return 0;
	}
	CHECK(cdnmap_count(m) > 0);
	char name[600];
	/* Names from the input itself, split at every non-name byte. */
	size_t n = 0;
	for (size_t i = 0; i <= size && i < 4096; i++) {
		char c = i < size ? (char)data[i] : 0;
		int namec = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '*';
		if (namec && n < 300) {
			name[n++] = c == '*' ? 'x' : c;
			continue;
		}
		if (n) {
			const struct cdn_provider *p = cdnmap_match(m, name, n);
			if (p) {
				CHECK(p->name && p->name_len > 0 && strlen(p->name) <= p->name_len);
				CHECK(labels(p->domain) >= 1);
				/* Under the matched domain: "w." + name matches too,
				 * as specifically or more. */
				name[n] = 0;
				char longer[608];
				snprintf(longer, sizeof longer, "w.%s", name);
				const struct cdn_provider *q =
				    cdnmap_match(m, longer, strlen(longer));
				CHECK(q != NULL);
				CHECK(labels(q->domain) >= labels(p->domain));
			}
		}
		n = 0;
	}
	cdnmap_free(m);
	return 0;
}
