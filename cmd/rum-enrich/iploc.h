/* An IP2Location BIN database (DataKit's iploc.bin): the file is mapped,
 * its header and index checked against the file's size when it is opened,
 * and every offset read at a lookup checked again, so a damaged or hostile
 * file can give wrong answers but never a read outside the mapping. */
#ifndef RUM_ENRICH_IPLOC_H
#define RUM_ENRICH_IPLOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "errmsg.h"
#include "geo.h"

struct iploc_table {
	uint32_t count;	   /* rows */
	uint32_t base;	   /* file offset of row 0 */
	uint32_t index;	   /* file offset of the 65536-entry index; 0: none */
	uint32_t row_size; /* bytes a row: the first address, then 4 a column */
};

struct iploc_db {
	const char *path;   /* NULL: none configured */
	const char *option; /* "--iploc": messages name it */
	int is_open;
	const uint8_t *map;
	size_t size;
	uint8_t type; /* DB1 .. DB26 */
	uint8_t cols; /* columns a row, the first address included */
	uint8_t year, month, day;
	struct iploc_table v4, v6; /* v6.count 0: an IPv4-only database */
	/* Byte offset of each value's column within a row after the first
	 * address, or -1 when this type has no such column; by GEO_*. */
	int col[GEO_NVALS];
	struct file_sig sig, failed_sig;
	int has_failed;
};

/* Maps and checks db->path, replacing the database in use only on
 * success; -1 with the reason in err (the option and path in front). */
int iploc_open(struct iploc_db *db, struct rum_error *err);
/* 1 when the file on disk is not the one open (and not one that failed). */
int iploc_changed(const struct iploc_db *db);
void iploc_close(struct iploc_db *db);

/* Fills the values of v this database has for sa and v does not have yet
 * (a length of 0); IP2Location's "-" (no value) is not a value. */
enum geo_status iploc_lookup(const struct iploc_db *db, const struct sockaddr *sa,
			     struct geo_vals *v);

/* Checks a database given as bytes (the fuzz target's way in); 0 or -1. */
int iploc_check(struct iploc_db *db, const uint8_t *p, size_t n, struct rum_error *err);

#endif
