/* Per-record enrichment and the address cache. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "enrich.h"
#include "fnv.h"
#include "log.h"
#include "metrics.h"

#define CACHE_IP_MAX 46 /* the longest textual IPv6 address is 45 bytes */

struct cache_ent {
	uint32_t gen; /* 0: empty */
	uint8_t iplen;
	char ip[CACHE_IP_MAX];
	struct geo_vals v;
};

static const char *const tag_names[GEO_NVALS] = {"city", "province", "country", "isp"};
static const char *const db_names[SRC_N] = {"city", "isp", "iploc", "isp_file"};
static const char *const isp_line_kinds[ISP_NKINDS] = {"rule", "comment", "blank", "malformed"};

int enrich_init(struct enricher *en, size_t cache_size)
{
	rec_edit_init(&en->edit);
	en->gen = 1;
	if (cache_size) {
		size_t n = 1;
		while (n * 2 <= cache_size)
			n *= 2;
		en->cache = calloc(n, sizeof *en->cache);
		if (!en->cache)
			return -1;
		en->cache_mask = n - 1;
	}
	en->m_records = metric_get("rum_enrich_records_total", NULL, METRIC_COUNTER,
				   "Valid records read from standard input.");
	en->m_no_ip = metric_get("rum_enrich_addresses_total", "kind=\"absent\"", METRIC_COUNTER,
				 "Records by the kind of their ip tag.");
	en->m_invalid =
	    metric_get("rum_enrich_addresses_total", "kind=\"invalid\"", METRIC_COUNTER, NULL);
	en->m_private =
	    metric_get("rum_enrich_addresses_total", "kind=\"private\"", METRIC_COUNTER, NULL);
	en->m_cache_hits =
	    metric_get("rum_enrich_cache_hits_total", NULL, METRIC_COUNTER,
		       "Public addresses answered from the cache of recent addresses.");
	for (int i = 0; i < SRC_N; i++) {
		char l[32];
		snprintf(l, sizeof l, "db=\"%s\"", db_names[i]);
		en->m_lookups[i] = metric_get(
		    "rum_enrich_lookups_total", l, METRIC_COUNTER,
		    "Public addresses looked up in each database (cache answers included).");
		en->m_hits[i] = metric_get("rum_enrich_hits_total", l, METRIC_COUNTER,
					   "Lookups that found the address.");
		en->m_misses[i] = metric_get("rum_enrich_misses_total", l, METRIC_COUNTER,
					     "Lookups that did not find the address.");
		en->m_errors[i] = metric_get("rum_enrich_lookup_errors_total", l, METRIC_COUNTER,
					     "Lookups that met corrupt data (tagged unknown).");
		en->m_reloads[i] = metric_get("rum_enrich_reloads_total", l, METRIC_COUNTER,
					      "Databases reopened after a change or SIGHUP.");
		en->m_reload_failures[i] =
		    metric_get("rum_enrich_reload_failures_total", l, METRIC_COUNTER,
			       "Reopenings that failed (the database in use was kept).");
	}
	for (int k = 0; k < ISP_NKINDS; k++) {
		char l[32];
		snprintf(l, sizeof l, "kind=\"%s\"", isp_line_kinds[k]);
		en->m_isp_lines[k] =
		    metric_get("rum_enrich_isp_file_lines", l, METRIC_GAUGE,
			       "Lines of the --isp-file in use, by kind (only rules are used).");
	}
	return 0;
}

void enrich_free(struct enricher *en)
{
	for (int i = 0; i < DB_N; i++)
		geo_close(&en->db[i]);
	iploc_close(&en->iploc);
	isp_file_close(&en->isp_file);
	free(en->cache);
	en->cache = NULL;
	rec_free(&en->rec);
	rec_edit_free(&en->edit);
	buf_free(&en->scratch);
}

static const char *src_path(const struct enricher *en, int i)
{
	return i < DB_N ? en->db[i].path : i == SRC_IPLOC ? en->iploc.path : en->isp_file.path;
}

static int src_changed(const struct enricher *en, int i)
{
	if (i < DB_N)
		return geo_changed((struct geo_db *)&en->db[i]);
	return i == SRC_IPLOC ? iploc_changed(&en->iploc) : isp_file_changed(&en->isp_file);
}

/* Opens source i and says what it holds; -1 with err. */
static int src_open(struct enricher *en, int i, const char *verb, struct rum_error *err)
{
	struct geo_db *db = &en->db[i < DB_N ? i : 0];
	struct iploc_db *ip = &en->iploc;
	struct isp_file *f = &en->isp_file;
	switch (i) {
	case SRC_IPLOC:
		if (iploc_open(ip, err) < 0)
			return -1;
		log_info("%s %s '%s' (IP2Location DB%u of 20%02u-%02u-%02u, %u IPv4 and %u IPv6 "
			 "ranges)",
			 verb, ip->option, ip->path, ip->type, ip->year, ip->month, ip->day,
			 ip->v4.count, ip->v6.count);
		return 0;
	case SRC_ISP_FILE:
		if (isp_file_open(f, err) < 0)
			return -1;
		for (int k = 0; k < ISP_NKINDS; k++)
			metric_set(en->m_isp_lines[k], f->lines[k]);
		log_info("%s %s '%s' (%zu rules; skipped: %zu comments, %zu blank lines, %zu "
			 "malformed lines%s%zu)",
			 verb, f->option, f->path, f->lines[ISP_RULE], f->lines[ISP_COMMENT],
			 f->lines[ISP_BLANK], f->lines[ISP_MALFORMED],
			 f->first_malformed_line ? ", the first at line " : "",
			 f->first_malformed_line);
		return 0;
	default:
		if (geo_open(db, err) < 0)
			return -1;
		log_info("%s %s '%s' (%s, shape %s)", verb, db->option, db->path,
			 db->mmdb.metadata.database_type ? db->mmdb.metadata.database_type : "?",
			 geo_shape_name(db->shape));
		return 0;
	}
}

int enrich_open(struct enricher *en, struct rum_error *err)
{
	for (int i = 0; i < DB_N; i++)
		en->db[i].for_isp = i == DB_ISP;
	for (int i = 0; i < SRC_N; i++)
		if (src_path(en, i) && src_open(en, i, "opened", err) < 0)
			return -1;
	return 0;
}

int enrich_reload(struct enricher *en, int force)
{
	int n = 0;
	struct rum_error err;
	for (int i = 0; i < SRC_N; i++) {
		if (!src_path(en, i) || (!force && !src_changed(en, i)))
			continue;
		if (src_open(en, i, "reloaded", &err) < 0) {
			metric_inc(en->m_reload_failures[i]);
			log_error("cannot reload %s; keeping the database in use", err.msg);
			continue;
		}
		metric_inc(en->m_reloads[i]);
		n++;
	}
	if (n && ++en->gen == 0)
		en->gen = 1;
	return n;
}

enum addr_kind { ADDR_PUBLIC, ADDR_PRIVATE, ADDR_INVALID };

static enum addr_kind v4_kind(const uint8_t *a)
{
	if (a[0] == 10 || a[0] == 127 || a[0] == 0 || (a[0] == 172 && (a[1] & 0xF0) == 16) ||
	    (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254))
		return ADDR_PRIVATE;
	return ADDR_PUBLIC;
}

/* IPv4-mapped IPv6 addresses are looked up as IPv4: databases need not
 * alias ::ffff:0:0/96 to their IPv4 tree. */
static enum addr_kind parse_addr(const char *s, size_t n, struct sockaddr_storage *ss)
{
	char tmp[CACHE_IP_MAX + 1];
	if (n == 0 || n > CACHE_IP_MAX || memchr(s, 0, n))
		return ADDR_INVALID;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, tmp, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		return v4_kind((const uint8_t *)&in4->sin_addr);
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, tmp, &a6) != 1)
		return ADDR_INVALID;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		in4->sin_family = AF_INET;
		memcpy(&in4->sin_addr, &a6.s6_addr[12], 4);
		return v4_kind(&a6.s6_addr[12]);
	}
	in6->sin6_family = AF_INET6;
	in6->sin6_addr = a6;
	const uint8_t *b = a6.s6_addr;
	if (IN6_IS_ADDR_UNSPECIFIED(&a6) || IN6_IS_ADDR_LOOPBACK(&a6) || (b[0] & 0xFE) == 0xFC ||
	    (b[0] == 0xFE && (b[1] & 0xC0) == 0x80))
		return ADDR_PRIVATE;
	return ADDR_PUBLIC;
}

static uint32_t hash_ip(const char *s, size_t n)
{
	uint32_t h = fnv1a(s, n);
	return h ^ (h >> 15);
}

static void count(struct enricher *en, int i, enum geo_status st, struct geo_vals *v)
{
	uint8_t bit = (uint8_t)(1u << i);
	v->looked |= bit;
	metric_inc(en->m_lookups[i]);
	switch (st) {
	case GEO_FOUND:
		v->found |= bit;
		metric_inc(en->m_hits[i]);
		break;
	case GEO_NOT_FOUND:
		metric_inc(en->m_misses[i]);
		break;
	case GEO_ERROR:
		v->failed |= bit;
		metric_inc(en->m_errors[i]);
		break;
	}
}

/* A MaxMind DB answers only the values still unknown. */
static void lookup_mmdb(struct enricher *en, int i, const struct sockaddr *sa, struct geo_vals *v)
{
	struct geo_vals t;
	memset(t.len, 0, sizeof t.len);
	count(en, i, geo_lookup(&en->db[i], sa, &t), v);
	for (int k = 0; k < GEO_NVALS; k++)
		if (!v->len[k] && t.len[k]) {
			v->len[k] = t.len[k];
			memcpy(v->s[k], t.s[k], t.len[k]);
		}
}

/* Each value from the first source that has it: ip2isp.txt, then the BIN
 * file, then the MaxMind DB files; a source is asked only while a value it
 * could give is still unknown. */
static void lookup(struct enricher *en, const struct sockaddr *sa, struct geo_vals *v)
{
	if (en->isp_file.path)
		count(en, SRC_ISP_FILE, isp_file_lookup(&en->isp_file, sa, v), v);
	if (en->iploc.path)
		count(en, SRC_IPLOC, iploc_lookup(&en->iploc, sa, v), v);
	if (en->db[DB_CITY].path &&
	    !(v->len[GEO_CITY] && v->len[GEO_PROVINCE] && v->len[GEO_COUNTRY]))
		lookup_mmdb(en, DB_CITY, sa, v);
	if (en->db[DB_ISP].path && !v->len[GEO_ISP])
		lookup_mmdb(en, DB_ISP, sa, v);
}

/* DataKit's CheckData: Guance's dashboards count Taiwan, Hong Kong and
 * Macao under CN, with the region as the province. */
static void map_region(struct geo_vals *v)
{
	static const struct {
		char code[3];
		const char *province;
	} map[] = {{"TW", "Taiwan"}, {"HK", "Hong Kong"}, {"MO", "Macao"}};
	if (v->len[GEO_COUNTRY] != 2)
		return;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (memcmp(v->s[GEO_COUNTRY], map[i].code, 2) == 0) {
			memcpy(v->s[GEO_COUNTRY], "CN", 2);
			v->len[GEO_PROVINCE] = (uint16_t)strlen(map[i].province);
			memcpy(v->s[GEO_PROVINCE], map[i].province, v->len[GEO_PROVINCE]);
			return;
		}
}

/* The cached answer still counts as a lookup, hit, miss or error of each
 * source asked, so the figures do not depend on the cache. */
static void count_cached(struct enricher *en, const struct geo_vals *v)
{
	metric_inc(en->m_cache_hits);
	for (int i = 0; i < SRC_N; i++) {
		if (!(v->looked >> i & 1))
			continue;
		metric_inc(en->m_lookups[i]);
		metric_inc(v->found >> i & 1	? en->m_hits[i]
			   : v->failed >> i & 1 ? en->m_errors[i]
						: en->m_misses[i]);
	}
}

static const struct geo_vals *lookup_ip(struct enricher *en, const char *ip, size_t n,
					struct geo_vals *tmp)
{
	static const struct geo_vals unknown;
	struct sockaddr_storage ss;
	switch (parse_addr(ip, n, &ss)) {
	case ADDR_INVALID:
		metric_inc(en->m_invalid);
		return &unknown;
	case ADDR_PRIVATE:
		metric_inc(en->m_private);
		return &unknown;
	case ADDR_PUBLIC:
		break;
	}
	if (!en->db[DB_CITY].path && !en->db[DB_ISP].path && !en->iploc.path && !en->isp_file.path)
		return &unknown;
	struct cache_ent *ce = NULL;
	if (en->cache) {
		ce = &en->cache[hash_ip(ip, n) & en->cache_mask];
		if (ce->gen == en->gen && ce->iplen == n && memcmp(ce->ip, ip, n) == 0) {
			count_cached(en, &ce->v);
			return &ce->v;
		}
	}
	memset(tmp->len, 0, sizeof tmp->len);
	tmp->looked = tmp->found = tmp->failed = 0;
	lookup(en, (const struct sockaddr *)&ss, tmp);
	if (en->region_map == REGION_MAP_DATAKIT)
		map_region(tmp);
	if (ce) {
		ce->gen = en->gen;
		ce->iplen = (uint8_t)n;
		memcpy(ce->ip, ip, n);
		ce->v = *tmp; /* only len[] and the used bytes matter; a copy is simplest */
	}
	return tmp;
}

enum sl_verdict enrich_line(struct enricher *en, const char *line, size_t len, struct buf *out,
			    struct rum_error *err)
{
	if (rec_parse_line(&en->rec, line, len, err) < 0)
		return SL_BAD;
	metric_inc(en->m_records);
	const struct rec_kv *t = rec_tag(&en->rec, "ip");
	if (!t) {
		metric_inc(en->m_no_ip);
		return SL_PASS;
	}
	const char *ip;
	size_t n;
	struct geo_vals tmp;
	const struct geo_vals *v;
	if (rec_str(t->val, t->val_len, &en->scratch, &ip, &n) < 0) {
		metric_inc(en->m_invalid);
		static const struct geo_vals unknown;
		v = &unknown;
	} else {
		v = lookup_ip(en, ip, n, &tmp);
	}
	rec_edit_reset(&en->edit);
	for (int i = 0; i < GEO_NVALS; i++) {
		if (v->len[i])
			rec_edit_tag(&en->edit, tag_names[i], v->s[i], v->len[i]);
		else
			rec_edit_tag(&en->edit, tag_names[i], "unknown", 7);
	}
	if (rec_edit_apply(&en->rec, &en->edit, out) < 0 || buf_addc(out, '\n') < 0)
		return SL_NOMEM;
	return SL_EDITED;
}
