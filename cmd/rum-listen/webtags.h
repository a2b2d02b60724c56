/* What the mappers of other browser SDKs (datadog.c, faro.c) share: an
 * event read into dotted paths (jflat), the record they write (recw), and
 * the tags the Guance web SDK derives from a view or resource URL, the
 * User-Agent and the connection type (SDK-MAPPING.md, "Rules for both
 * SDKs"). Depends on common/ only, so the fuzz targets link it alone. */
#ifndef RUM_WEBTAGS_H
#define RUM_WEBTAGS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"

/* ---- an event as paths ---- */
enum jkind { JK_STRING, JK_NUMBER, JK_TRUE, JK_FALSE, JK_NULL, JK_OBJECT, JK_ARRAY };

/* One value of the event: its dotted path ("view.id"), its raw JSON token
 * (a string with its quotes; an object or array whole). */
struct jent {
	uint32_t path_off, path_len; /* in jflat.paths */
	uint32_t hash;
	int depth; /* 0: a member of the event itself */
	enum jkind kind;
	const char *val;
	size_t vlen;
};

#define JFLAT_MAX_ENTRIES 2048
#define JFLAT_MAX_DEPTH 4 /* objects deeper than this are kept whole */
#define JFLAT_SLOTS 4096  /* the lookup table, twice the entries */

struct jflat {
	struct jent *e;
	size_t n, cap;
	struct buf paths;
	struct buf cur; /* the path being read */
	struct jslot {
		uint32_t gen, idx; /* an entry of this parse when gen is f->gen */
	} * slot;
	uint32_t gen;
	/* Objects kept whole, not read into paths (set by the caller: what
	 * a mapper never looks into). NULL-terminated, or NULL. */
	const char *const *whole;
	const char *src, *end;
};

/* Reads the JSON object at p..end (whitespace around it allowed) into f.
 * 0; -1 with *why (a static message) and *at (the byte) on a syntax error,
 * too deep a nesting or too many members; -2 out of memory. */
int jflat_parse(struct jflat *f, const char *p, const char *end, const char **why, const char **at);
void jflat_free(struct jflat *f);
/* The entry of a path, or NULL. */
const struct jent *jflat_get(const struct jflat *f, const char *path);
/* A string entry's value decoded (into scratch when it has escapes). 0, or
 * -1 when e is not a string. */
int jent_str(const struct jent *e, struct buf *scratch, const char **s, size_t *n);
/* A number entry's value. 0, or -1 when e is not a number. */
int jent_num(const struct jent *e, double *v);
/* e's path as a C string (in f.paths). */
static inline const char *jent_path(const struct jflat *f, const struct jent *e)
{
	return f->paths.p + e->path_off;
}

/* ---- the record being written ---- */
#define RECW_SLOTS 1024

/* Tags and fields are gathered apart, then written as one record line. A
 * key is written once: later writes of a key already there are ignored. */
struct recw {
	struct buf tags, fields, keys, scratch, derived;
	size_t ntags, nfields;
	uint32_t gen;
	uint32_t slot_gen[RECW_SLOTS];
	uint32_t slot_hash[RECW_SLOTS];
	uint32_t slot_off[RECW_SLOTS]; /* in keys */
	uint32_t slot_len[RECW_SLOTS];
	int failed; /* out of memory, or past the limits */
};

void recw_begin(struct recw *w);
void recw_free(struct recw *w);
int recw_has(struct recw *w, const char *key, size_t klen);
/* Each returns 0, or -1 once the record failed (w->failed). Empty strings
 * and absent entries write nothing. */
int recw_tag(struct recw *w, const char *key, const char *s, size_t n);
int recw_field_str(struct recw *w, const char *key, const char *s, size_t n);
int recw_field_num(struct recw *w, const char *key, double v);
int recw_field_int(struct recw *w, const char *key, int64_t v);
int recw_field_bool(struct recw *w, const char *key, int v);
/* Entries: a tag takes a string or a number's text; a field takes a string,
 * a number (as a float), a boolean, or an object or array (as its JSON
 * text). NULL and null write nothing. klen: the key's length, key need not
 * end there (custom keys point into the event). */
int recw_tag_ent(struct recw *w, const char *key, const struct jent *e);
int recw_field_ent(struct recw *w, const char *key, size_t klen, const struct jent *e);
/* What a record holds so far, kept to start later records alike (the
 * tags every event of a request shares are worked out once). */
struct recw_snap {
	struct buf tags, fields, keys; /* keys: NUL-terminated, one after another */
	size_t ntags, nfields;
	int valid;
};
int recw_save(const struct recw *w, struct recw_snap *s);
/* recw_begin, then what s holds. */
int recw_restore(struct recw *w, const struct recw_snap *s);
void recw_snap_free(struct recw_snap *s);
/* The line {"measurement":..,"tags":{..},"fields":{..},"time":..}\n. */
int recw_finish(struct recw *w, const char *meas, int64_t time_ns, struct buf *out);

/* ---- derived tags ---- */
/* view_url and the tags and fields derived from it (view_host, view_path,
 * view_path_group, view_url_query); path (pathcap bytes) gets view_path
 * as a C string, for view_name's default. */
int web_view_url(struct recw *w, const char *url, size_t n, char *path, size_t pathcap);
/* resource_url and resource_url_host, _path, _path_group, _query. */
int web_resource_url(struct recw *w, const char *url, size_t n);
/* resource_status and resource_status_group ("2xx"). */
int web_status(struct recw *w, double status);
/* browser, browser_version(_major), os, os_version(_major), device. */
int web_user_agent(struct recw *w, const char *ua);
/* The Guance SDK's network_type of a connection type or effective type. */
const char *web_network_type(const char *s, size_t n);

#endif
