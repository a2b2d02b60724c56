/* One MaxMind DB file (libmaxminddb): opened and checked at start-up,
 * reopened when the file changes on disk or on request, and asked for the
 * location or ISP of an address. */
#ifndef RUM_ENRICH_GEO_H
#define RUM_ENRICH_GEO_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <maxminddb.h>

#include "errmsg.h"

enum geo_shape {
	SHAPE_AUTO, /* from the metadata; unknown types are sniffed per record */
	SHAPE_CITY, /* GeoIP2 / GeoLite2 City or Country, DB-IP's GeoIP2-style files */
	SHAPE_FLAT, /* city, state1, country_code (ip-location-db, DB-IP lite flat) */
	SHAPE_ISP,  /* isp */
	SHAPE_ASN,  /* autonomous_system_organization */
};

/* The values looked up, in this order; a length of 0 means unknown. */
enum { GEO_CITY, GEO_PROVINCE, GEO_COUNTRY, GEO_ISP, GEO_NVALS };
#define GEO_VAL_MAX 192 /* longer values are cut at a character boundary */
struct geo_vals {
	uint16_t len[GEO_NVALS];
	/* By source (enrich.h's SRC_*, a bit each): looked up, found, met
	 * corrupt data; kept with a cached answer so it is counted again. */
	uint8_t looked, found, failed;
	char s[GEO_NVALS][GEO_VAL_MAX];
};

struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
};

/* Which file a path names now: a different one, or one changed, is
 * reopened. All zero for a missing file. */
void file_sig_of(const char *path, struct file_sig *s);
int file_sig_eq(const struct file_sig *a, const struct file_sig *b);

struct geo_db {
	const char *path;   /* NULL: no database configured */
	const char *option; /* "--city-db": messages name it */
	int for_isp;	    /* answers GEO_ISP rather than the location */
	enum geo_shape forced;
	enum geo_shape shape; /* in effect for the open file */
	int is_open;
	MMDB_s mmdb;
	struct file_sig sig;	    /* of the file open now */
	struct file_sig failed_sig; /* of the last file that failed: not retried */
	int has_failed;
	const char *lang; /* names language; "en" is the fallback */
	/* Values decoded from a data record, by its offset: many networks
	 * share a record (one city), and decoding is most of a lookup. */
	struct geo_rec_cache *rcache;
};

enum geo_status { GEO_FOUND, GEO_NOT_FOUND, GEO_ERROR };

#define GEO_REC_CACHE 1024 /* entries, a power of two */

/* Opens db->path (checking the whole search tree and a bounded number of
 * its data records), replacing the database in use only on success.
 * Returns 0, or -1 with the reason in err. */
int geo_open(struct geo_db *db, struct rum_error *err);
/* 1 when the file on disk is not the one open (and not one that already
 * failed), so geo_open should be tried. */
int geo_changed(struct geo_db *db);
void geo_close(struct geo_db *db);

/* Fills the values this database answers (the others are left alone). */
enum geo_status geo_lookup(struct geo_db *db, const struct sockaddr *sa, struct geo_vals *v);

const char *geo_shape_name(enum geo_shape s);

#endif
