/* The CDN dictionary: DataKit's cdn_map form,
 *   [{"domain":"alicdn.com","name":"Alibaba Cloud CDN","website":"..."}, ...]
 * A domain is a name (matching itself and every name under it) or a glob
 * where '*' matches within one label. */
#ifndef RUM_CDN_CDNMAP_H
#define RUM_CDN_CDNMAP_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

struct cdn_provider {
	const char *domain; /* lower case, no trailing dot; NUL-terminated */
	const char *name;   /* UTF-8 as the map gave it; NUL-terminated */
	size_t name_len;
};

struct cdn_map;

/* Maps larger than this are refused (the built-in one is 25 KiB). */
#define CDNMAP_MAX_BYTES ((size_t)16 << 20)

/* Parse a map. NULL with err filled when the text is not valid JSON, not
 * an array of entries, an entry lacks a domain or name, a domain is not a
 * domain name or glob, or there are no entries (err->msg "out of
 * memory" when that is why). */
struct cdn_map *cdnmap_parse(const char *text, size_t len, struct rum_error *err);
void cdnmap_free(struct cdn_map *m);
size_t cdnmap_count(const struct cdn_map *m);

/* The most specific entry matching name (any case, an optional trailing
 * dot): the longest suffix of whole labels of name that equals an entry's
 * domain or matches its glob; at the same suffix a plain domain wins over
 * a glob, then the glob with the most literal characters, then the entry
 * listed first. NULL when none matches. */
const struct cdn_provider *cdnmap_match(const struct cdn_map *m, const char *name, size_t len);

/* The dictionary built into the program (share/cdn-map.json at build time). */
extern const char cdnmap_builtin[];
extern const size_t cdnmap_builtin_len;

#endif
