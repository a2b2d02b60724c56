/* MaxMind DB files: open, check, reopen, look up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "geo.h"

/* A whole search tree is cheap to walk; data records are checked up to
 * this many distinct ones, so a big database still opens in well under a
 * second while every corrupt test database is refused. */
#define VERIFY_DATA_MAX 16384
#define VERIFY_SET_SLOTS (VERIFY_DATA_MAX * 2)

struct geo_rec_cache {
	uint32_t offset_plus1; /* 0: empty */
	struct geo_vals v;
};

const char *geo_shape_name(enum geo_shape s)
{
	switch (s) {
	case SHAPE_CITY:
		return "city";
	case SHAPE_FLAT:
		return "flat";
	case SHAPE_ISP:
		return "isp";
	case SHAPE_ASN:
		return "asn";
	default:
		return "auto";
	}
}

void file_sig_of(const char *path, struct file_sig *s)
{
	struct stat st;
	memset(s, 0, sizeof *s);
	if (stat(path, &st) < 0)
		return; /* all zero: "missing", which differs from any real file */
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

int file_sig_eq(const struct file_sig *a, const struct file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

int geo_changed(struct geo_db *db)
{
	struct file_sig s;
	if (!db->path)
		return 0;
	file_sig_of(db->path, &s);
	if (db->is_open && file_sig_eq(&s, &db->sig))
		return 0;
	if (db->has_failed && file_sig_eq(&s, &db->failed_sig))
		return 0;
	return 1;
}

/* Open-addressing set of data offsets already checked. */
struct offset_set {
	uint32_t *slot; /* offset + 1; 0 is empty */
	size_t n;
};

static int set_insert(struct offset_set *s, uint32_t off)
{
	uint32_t h = (off * 2654435761u) % VERIFY_SET_SLOTS;
	while (s->slot[h]) {
		if (s->slot[h] == off + 1)
			return 0;
		h = (h + 1) % VERIFY_SET_SLOTS;
	}
	s->slot[h] = off + 1;
	s->n++;
	return 1;
}

static int check_data(const MMDB_s *m, MMDB_entry_s *e, struct offset_set *set, const char **why)
{
	if (set->n >= VERIFY_DATA_MAX || !set_insert(set, e->offset))
		return 0;
	MMDB_entry_data_list_s *list = NULL;
	int st = MMDB_get_entry_data_list(e, &list);
	MMDB_free_entry_data_list(list);
	if (st != MMDB_SUCCESS) {
		*why = MMDB_strerror(st);
		return -1;
	}
	(void)m;
	return 0;
}

/* Walks the search tree depth first: every node reachable once, no deeper
 * than the address bits, every record a node, empty or valid data. */
static int verify(MMDB_s *m, struct rum_error *err)
{
	uint32_t n = m->metadata.node_count;
	unsigned bits = m->metadata.ip_version == 6 ? 128 : 32;
	const char *why = NULL;
	if (n == 0) {
		err_set(err, "the search tree is empty");
		return -1;
	}
	uint8_t *seen = calloc(n / 8 + 1, 1);
	struct offset_set set = {calloc(VERIFY_SET_SLOTS, sizeof(uint32_t)), 0};
	struct {
		uint32_t node;
		uint8_t depth;
	} stack[2 * 129 + 2];
	size_t sp = 0;
	int rc = -1;
	if (!seen || !set.slot) {
		err_set(err, "out of memory checking the search tree");
		goto out;
	}
	stack[sp].node = 0;
	stack[sp++].depth = 0;
	while (sp) {
		uint32_t node = stack[--sp].node;
		unsigned depth = stack[sp].depth;
		if (seen[node / 8] & (1u << (node % 8)))
			continue;
		seen[node / 8] |= (uint8_t)(1u << (node % 8));
		if (depth >= bits) {
			err_set(err, "the search tree is deeper than %u bits", bits);
			goto out;
		}
		MMDB_search_node_s sn;
		int st = MMDB_read_node(m, node, &sn);
		if (st != MMDB_SUCCESS) {
			err_set(err, "search tree node %u: %s", node, MMDB_strerror(st));
			goto out;
		}
		uint64_t rec[2] = {sn.left_record, sn.right_record};
		uint8_t type[2] = {sn.left_record_type, sn.right_record_type};
		MMDB_entry_s *ent[2] = {&sn.left_record_entry, &sn.right_record_entry};
		for (int i = 0; i < 2; i++) {
			switch (type[i]) {
			case MMDB_RECORD_TYPE_SEARCH_NODE:
				if (rec[i] >= n || sp >= sizeof stack / sizeof stack[0]) {
					err_set(err, "search tree node %u: bad record", node);
					goto out;
				}
				stack[sp].node = (uint32_t)rec[i];
				stack[sp++].depth = (uint8_t)(depth + 1);
				break;
			case MMDB_RECORD_TYPE_EMPTY:
				break;
			case MMDB_RECORD_TYPE_DATA:
				if (check_data(m, ent[i], &set, &why) < 0) {
					err_set(err, "data record at offset %u: %s", ent[i]->offset,
						why);
					goto out;
				}
				break;
			default:
				err_set(err, "search tree node %u points outside the database",
					node);
				goto out;
			}
		}
	}
	/* Nodes no address reaches still say whether the file is sound. */
	for (uint32_t node = 0; node < n; node++) {
		MMDB_search_node_s sn;
		if (MMDB_read_node(m, node, &sn) != MMDB_SUCCESS ||
		    sn.left_record_type == MMDB_RECORD_TYPE_INVALID ||
		    sn.right_record_type == MMDB_RECORD_TYPE_INVALID) {
			err_set(err, "search tree node %u points outside the database", node);
			goto out;
		}
	}
	rc = 0;
out:
	free(seen);
	free(set.slot);
	return rc;
}

static enum geo_shape shape_of(const struct geo_db *db, const char *type)
{
	if (db->forced != SHAPE_AUTO)
		return db->forced;
	if (!type)
		type = "";
	if (db->for_isp) {
		if (strstr(type, "ASN"))
			return SHAPE_ASN;
		if (strstr(type, "ISP"))
			return SHAPE_ISP;
		return SHAPE_AUTO;
	}
	if ((strstr(type, "GeoIP2") || strstr(type, "GeoLite2") || strstr(type, "DBIP")) &&
	    (strstr(type, "City") || strstr(type, "Country") || strstr(type, "Enterprise")))
		return SHAPE_CITY;
	return SHAPE_AUTO;
}

int geo_open(struct geo_db *db, struct rum_error *err)
{
	struct file_sig sig;
	MMDB_s m;
	file_sig_of(db->path, &sig);
	errno = 0;
	int st = MMDB_open(db->path, MMDB_MODE_MMAP, &m);
	if (st != MMDB_SUCCESS) {
		if ((st == MMDB_IO_ERROR || st == MMDB_FILE_OPEN_ERROR) && errno)
			err_set(err, "%s: %s", MMDB_strerror(st), strerror(errno));
		else
			err_set(err, "%s", MMDB_strerror(st));
		goto fail;
	}
	if (verify(&m, err) < 0) {
		MMDB_close(&m);
		goto fail;
	}
	if (!db->rcache)
		db->rcache = calloc(GEO_REC_CACHE, sizeof *db->rcache);
	else
		memset(db->rcache, 0, GEO_REC_CACHE * sizeof *db->rcache);
	if (db->is_open)
		MMDB_close(&db->mmdb);
	db->mmdb = m;
	db->is_open = 1;
	db->sig = sig;
	db->has_failed = 0;
	db->shape = shape_of(db, m.metadata.database_type);
	return 0;
fail:
	db->failed_sig = sig;
	db->has_failed = 1;
	err_prefix(err, "%s '%s'", db->option, db->path);
	return -1;
}

void geo_close(struct geo_db *db)
{
	if (db->is_open)
		MMDB_close(&db->mmdb);
	db->is_open = 0;
	free(db->rcache);
	db->rcache = NULL;
}

/* 1 found, 0 absent, -1 corrupt data. */
static int mmdb_str(MMDB_entry_s *e, const char *const *path, struct geo_vals *v, int which)
{
	MMDB_entry_data_s d;
	int st = MMDB_aget_value(e, &d, path);
	if (st == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
		return 0;
	if (st != MMDB_SUCCESS)
		return -1;
	if (!d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size == 0)
		return 0;
	size_t n = d.data_size;
	if (n > GEO_VAL_MAX) {
		n = GEO_VAL_MAX;
		while (n > 0 && ((unsigned char)d.utf8_string[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(v->s[which], d.utf8_string, n);
	v->len[which] = (uint16_t)n;
	return 1;
}

/* names.<lang>, then names.en. */
static int get_name(MMDB_entry_s *e, const char *a, const char *b, const char *lang,
		    struct geo_vals *v, int which)
{
	const char *path[5];
	int i = 0;
	path[i++] = a;
	if (b)
		path[i++] = b;
	path[i++] = "names";
	path[i++] = lang;
	path[i] = NULL;
	int r = mmdb_str(e, path, v, which);
	if (r == 0 && strcmp(lang, "en") != 0) {
		path[i - 1] = "en";
		r = mmdb_str(e, path, v, which);
	}
	return r;
}

static enum geo_shape sniff(MMDB_entry_s *e, int for_isp)
{
	MMDB_entry_data_s d;
	if (for_isp) {
		static const char *const p[] = {"isp", NULL};
		return MMDB_aget_value(e, &d, p) == MMDB_SUCCESS && d.has_data ? SHAPE_ISP
									       : SHAPE_ASN;
	}
	static const char *const p[] = {"city", NULL};
	if (MMDB_aget_value(e, &d, p) == MMDB_SUCCESS && d.has_data &&
	    d.type == MMDB_DATA_TYPE_UTF8_STRING)
		return SHAPE_FLAT;
	static const char *const q[] = {"country_code", NULL};
	if (MMDB_aget_value(e, &d, q) == MMDB_SUCCESS && d.has_data &&
	    d.type == MMDB_DATA_TYPE_UTF8_STRING)
		return SHAPE_FLAT;
	return SHAPE_CITY;
}

enum geo_status geo_lookup(struct geo_db *db, const struct sockaddr *sa, struct geo_vals *v)
{
	int merr = 0;
	if (!db->is_open)
		return GEO_NOT_FOUND;
	MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&db->mmdb, sa, &merr);
	if (merr == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
		return GEO_NOT_FOUND; /* a v4-only database knows nothing of v6 */
	if (merr != MMDB_SUCCESS)
		return GEO_ERROR;
	if (!r.found_entry)
		return GEO_NOT_FOUND;
	struct geo_rec_cache *rc = NULL;
	int first = db->for_isp ? GEO_ISP : GEO_CITY, last = db->for_isp ? GEO_ISP : GEO_COUNTRY;
	if (db->rcache) {
		rc = &db->rcache[(r.entry.offset * 2654435761u >> 7) & (GEO_REC_CACHE - 1)];
		if (rc->offset_plus1 == r.entry.offset + 1) {
			for (int i = first; i <= last; i++) {
				v->len[i] = rc->v.len[i];
				memcpy(v->s[i], rc->v.s[i], rc->v.len[i]);
			}
			return GEO_FOUND;
		}
	}
	enum geo_shape shape = db->shape;
	if (shape == SHAPE_AUTO)
		shape = sniff(&r.entry, db->for_isp);
	int bad = 0;
	switch (shape) {
	case SHAPE_FLAT: {
		static const char *const pc[] = {"city", NULL}, *const ps[] = {"state1", NULL},
					 *const pk[] = {"country_code", NULL};
		bad |= mmdb_str(&r.entry, pc, v, GEO_CITY) < 0;
		bad |= mmdb_str(&r.entry, ps, v, GEO_PROVINCE) < 0;
		bad |= mmdb_str(&r.entry, pk, v, GEO_COUNTRY) < 0;
		break;
	}
	case SHAPE_ISP: {
		static const char *const p[] = {"isp", NULL};
		bad |= mmdb_str(&r.entry, p, v, GEO_ISP) < 0;
		break;
	}
	case SHAPE_ASN: {
		static const char *const p[] = {"autonomous_system_organization", NULL};
		bad |= mmdb_str(&r.entry, p, v, GEO_ISP) < 0;
		break;
	}
	default: {
		static const char *const pk[] = {"country", "iso_code", NULL};
		bad |= get_name(&r.entry, "city", NULL, db->lang, v, GEO_CITY) < 0;
		bad |= get_name(&r.entry, "subdivisions", "0", db->lang, v, GEO_PROVINCE) < 0;
		bad |= mmdb_str(&r.entry, pk, v, GEO_COUNTRY) < 0;
		break;
	}
	}
	if (bad)
		return GEO_ERROR;
	if (rc) {
		rc->offset_plus1 = r.entry.offset + 1;
		for (int i = first; i <= last; i++) {
			rc->v.len[i] = v->len[i];
			memcpy(rc->v.s[i], v->s[i], v->len[i]);
		}
	}
	return GEO_FOUND;
}
