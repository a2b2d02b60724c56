/* IP2Location BIN files, read as their published layout describes them:
 *
 *   a 64-byte header: database type (DB1..DB26), columns a row, year,
 *   month, day (one byte each), then little-endian 32-bit words: IPv4 row
 *   count, IPv4 rows' position, IPv6 row count, IPv6 rows' position, IPv4
 *   index position, IPv6 index position (positions count from 1, 0: none);
 *   then the product code (1), the product type, the file's size;
 *
 *   rows sorted by their first address: that address (4 bytes for IPv4,
 *   16 for IPv6, little-endian), then one 32-bit word a column, each the
 *   file offset of a string (a length byte, then the bytes); a row covers
 *   its first address up to the next row's;
 *
 *   an optional index of 65536 (first row, last row) pairs, one for each
 *   value of the address's top 16 bits, that narrows the binary search.
 *
 * Which column holds what depends on the database type (the tables below).
 * Addresses in 6to4 (2002::/16) and Teredo (2001::/32) space are looked up
 * as the IPv4 address they carry, as IP2Location's own readers do. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "iploc.h"

#define HEADER_SIZE 64
#define INDEX_ENTRIES 65536
#define TYPE_MAX 26

/* Column of each value by database type (1-based; the first column is the
 * first address; 0: the type has none). */
static const uint8_t country_col[TYPE_MAX + 1] = {0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
						  2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
static const uint8_t region_col[TYPE_MAX + 1] = {0, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
						 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
static const uint8_t isp_col[TYPE_MAX + 1] = {0, 0, 3, 0, 5, 0, 7, 5, 7, 0, 8, 0, 9, 0,
					      9, 0, 9, 0, 9, 7, 9, 0, 9, 7, 9, 9, 9};
/* The city is column 4 wherever the region is column 3. */

struct u128 {
	uint64_t hi, lo;
};

static struct u128 le128(const uint8_t *p)
{
	struct u128 v = {0, 0};
	for (int i = 15; i >= 8; i--)
		v.hi = v.hi << 8 | p[i];
	for (int i = 7; i >= 0; i--)
		v.lo = v.lo << 8 | p[i];
	return v;
}

static int cmp128(struct u128 a, struct u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/* The address at the start of row i (its bytes are known to be there). */
static struct u128 row_from(const struct iploc_db *db, const struct iploc_table *t, int v6,
			    uint64_t i)
{
	const uint8_t *p = db->map + t->base + i * t->row_size;
	struct u128 v = {0, 0};
	if (v6)
		return le128(p);
	v.lo = get_le32(p);
	return v;
}

/* Position (1-based, as the header says it) to a file offset of n bytes
 * that lie inside the file; -1 when they do not. */
static int64_t at(const struct iploc_db *db, uint32_t pos, uint64_t n)
{
	if (pos == 0 || (uint64_t)pos - 1 > db->size || n > db->size - ((uint64_t)pos - 1))
		return -1;
	return (int64_t)pos - 1;
}

static int check_table(struct iploc_db *db, const uint8_t *h, int v6, struct rum_error *err)
{
	struct iploc_table *t = v6 ? &db->v6 : &db->v4;
	const char *name = v6 ? "IPv6" : "IPv4";
	unsigned first = v6 ? 16 : 4;
	t->count = get_le32(h + (v6 ? 13 : 5));
	t->row_size = first + 4u * (db->cols - 1u);
	t->index = 0;
	if (t->count == 0)
		return v6 ? 0 : err_set(err, "the header says there are no IPv4 rows");
	int64_t off = at(db, get_le32(h + (v6 ? 17 : 9)), (uint64_t)t->count * t->row_size);
	if (off < HEADER_SIZE)
		return err_set(err, "%u %s rows of %u bytes do not fit in the file (%zu bytes)",
			       t->count, name, t->row_size, db->size);
	t->base = (uint32_t)off;
	uint32_t ipos = get_le32(h + (v6 ? 25 : 21));
	if (ipos) {
		int64_t ioff = at(db, ipos, (uint64_t)INDEX_ENTRIES * 8);
		if (ioff < HEADER_SIZE)
			return err_set(err, "the %s index does not fit in the file", name);
		t->index = (uint32_t)ioff;
		for (uint32_t i = 0; i < INDEX_ENTRIES; i++) {
			const uint8_t *e = db->map + t->index + (size_t)i * 8;
			if (get_le32(e) > t->count || get_le32(e + 4) > t->count)
				return err_set(err, "%s index entry %u points past the %u rows",
					       name, i, t->count);
		}
	}
	return 0;
}

/* Every row in address order, and every string a used column points to
 * inside the file: a truncated file fails here rather than at a lookup. */
static int check_rows(const struct iploc_db *db, int v6, struct rum_error *err)
{
	const struct iploc_table *t = v6 ? &db->v6 : &db->v4;
	unsigned first = v6 ? 16 : 4;
	for (uint64_t i = 0; i < t->count; i++) {
		const uint8_t *row = db->map + t->base + i * t->row_size;
		if (i && cmp128(row_from(db, t, v6, i), row_from(db, t, v6, i - 1)) < 0)
			return err_set(err, "%s row %llu is out of address order",
				       v6 ? "IPv6" : "IPv4", (unsigned long long)i);
		for (int k = 0; k < GEO_NVALS; k++) {
			if (db->col[k] < 0)
				continue;
			uint32_t s = get_le32(row + first + db->col[k]);
			if (s >= db->size || db->map[s] > db->size - s - 1)
				return err_set(
				    err,
				    "%s row %llu: a string at offset %u lies outside the "
				    "file (%zu bytes; truncated?)",
				    v6 ? "IPv6" : "IPv4", (unsigned long long)i, s, db->size);
		}
	}
	return 0;
}

int iploc_check(struct iploc_db *db, const uint8_t *p, size_t n, struct rum_error *err)
{
	db->map = p;
	db->size = n;
	if (n < HEADER_SIZE)
		return err_set(err, "%zu bytes: shorter than the %d-byte header", n, HEADER_SIZE);
	if (p[0] == 'P' && p[1] == 'K')
		return err_set(err, "a zip archive, not the BIN file inside it");
	db->type = p[0];
	db->cols = p[1];
	db->year = p[2];
	db->month = p[3];
	db->day = p[4];
	if (db->type < 1 || db->type > TYPE_MAX)
		return err_set(err, "not an IP2Location BIN file (database type %u)", db->type);
	if (p[29] != 1 && db->year >= 21)
		return err_set(err, "not an IP2Location BIN file (product code %u)", p[29]);
	uint32_t declared = get_le32(p + 31);
	if (declared && declared != n)
		return err_set(err, "the header says %u bytes, the file has %zu (truncated?)",
			       declared, n);
	int type = db->type;
	int cols[GEO_NVALS] = {region_col[type] ? 4 : 0, region_col[type], country_col[type],
			       isp_col[type]};
	unsigned need = 1;
	for (int k = 0; k < GEO_NVALS; k++) {
		/* A byte offset within the row after the first address. */
		db->col[k] = cols[k] ? (cols[k] - 2) * 4 : -1;
		if (cols[k] > (int)need)
			need = (unsigned)cols[k];
	}
	if (db->cols < need)
		return err_set(err, "DB%u needs %u columns, the header says %u", db->type, need,
			       db->cols);
	if (check_table(db, p, 0, err) < 0 || check_table(db, p, 1, err) < 0)
		return -1;
	return check_rows(db, 0, err) < 0 || check_rows(db, 1, err) < 0 ? -1 : 0;
}

int iploc_changed(const struct iploc_db *db)
{
	struct file_sig s;
	if (!db->path)
		return 0;
	file_sig_of(db->path, &s);
	if (db->is_open && file_sig_eq(&s, &db->sig))
		return 0;
	return !(db->has_failed && file_sig_eq(&s, &db->failed_sig));
}

int iploc_open(struct iploc_db *db, struct rum_error *err)
{
	struct iploc_db n = *db;
	struct file_sig sig;
	struct stat st;
	void *m = MAP_FAILED;
	file_sig_of(db->path, &sig);
	int fd = open(db->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err_set(err, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		err_set(err, S_ISREG(st.st_mode) ? "empty file" : "not a regular file");
		goto fail;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		err_set(err, "mmap: %s", strerror(errno));
		goto fail;
	}
	if (iploc_check(&n, m, (size_t)st.st_size, err) < 0)
		goto fail;
	close(fd);
	iploc_close(db);
	*db = n;
	db->is_open = 1;
	db->sig = sig;
	db->has_failed = 0;
	return 0;
fail:
	if (m != MAP_FAILED)
		munmap(m, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	db->failed_sig = sig;
	db->has_failed = 1;
	err_prefix(err, "%s '%s'", db->option, db->path);
	return -1;
}

void iploc_close(struct iploc_db *db)
{
	if (db->is_open)
		munmap((void *)db->map, db->size);
	db->is_open = 0;
	db->map = NULL;
	db->size = 0;
}

/* The number searched for and the table it is searched in. */
static const struct iploc_table *key_of(const struct iploc_db *db, const struct sockaddr *sa,
					struct u128 *key, int *v6)
{
	*v6 = 0;
	key->hi = 0;
	key->lo = 0;
	if (sa->sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		key->lo = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: 2002:AABB:CCDD:: */
			key->lo = (uint32_t)a[2] << 24 | (uint32_t)a[3] << 16 |
				  (uint32_t)a[4] << 8 | a[5];
		} else if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) {
			/* Teredo: the client's address, inverted, last. */
			key->lo = (uint32_t)(uint8_t)~a[12] << 24 |
				  (uint32_t)(uint8_t)~a[13] << 16 | (uint32_t)(uint8_t)~a[14] << 8 |
				  (uint8_t)~a[15];
		} else {
			*v6 = 1;
			for (int i = 0; i < 8; i++) {
				key->hi = key->hi << 8 | a[i];
				key->lo = key->lo << 8 | a[i + 8];
			}
		}
	} else {
		return NULL;
	}
	/* The last address of the space is looked up as the one before it:
	 * the last row ends (exclusive) at the last address. */
	if (*v6 && key->hi == UINT64_MAX && key->lo == UINT64_MAX)
		key->lo--;
	else if (!*v6 && key->lo == UINT32_MAX)
		key->lo--;
	return *v6 ? &db->v6 : &db->v4;
}

/* Copies the string at offset s into value k of v unless v has one.
 * 1 when it is a value (not empty, not "-"), 0 when not, -1 when it lies
 * outside the file. */
static int take(const struct iploc_db *db, uint32_t s, struct geo_vals *v, int k)
{
	if (s >= db->size || db->map[s] > db->size - s - 1)
		return -1;
	size_t n = db->map[s];
	const char *p = (const char *)db->map + s + 1;
	if (n == 0 || (n == 1 && p[0] == '-'))
		return 0;
	if (v->len[k])
		return 1;
	if (n > GEO_VAL_MAX) {
		n = GEO_VAL_MAX;
		while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(v->s[k], p, n);
	v->len[k] = (uint16_t)n;
	return 1;
}

enum geo_status iploc_lookup(const struct iploc_db *db, const struct sockaddr *sa,
			     struct geo_vals *v)
{
	struct u128 key;
	int v6;
	if (!db->is_open && !db->map)
		return GEO_NOT_FOUND;
	const struct iploc_table *t = key_of(db, sa, &key, &v6);
	if (!t || t->count == 0)
		return GEO_NOT_FOUND; /* an IPv4-only database knows nothing of IPv6 */
	unsigned first = v6 ? 16 : 4;
	int64_t low = 0, high = t->count;
	if (t->index) {
		uint32_t b = v6 ? (uint32_t)(key.hi >> 48) : (uint32_t)(key.lo >> 16);
		const uint8_t *e = db->map + t->index + (size_t)b * 8;
		low = get_le32(e);
		high = get_le32(e + 4);
	}
	while (low <= high) {
		int64_t mid = low + (high - low) / 2;
		uint64_t off = t->base + (uint64_t)mid * t->row_size;
		if (off > db->size || (uint64_t)t->row_size > db->size - off)
			return GEO_ERROR;
		struct u128 from = row_from(db, t, v6, (uint64_t)mid);
		if (cmp128(key, from) < 0) {
			high = mid - 1;
			continue;
		}
		/* The row ends where the next one starts; past the file's end
		 * (a file without the closing row), at the end of the space. */
		if (off + t->row_size + first <= db->size &&
		    cmp128(key, row_from(db, t, v6, (uint64_t)mid + 1)) >= 0) {
			low = mid + 1;
			continue;
		}
		const uint8_t *cols = db->map + off + first;
		int bad = 0, any = 0;
		for (int k = 0; k < GEO_NVALS; k++) {
			if (db->col[k] < 0)
				continue;
			int r = take(db, get_le32(cols + db->col[k]), v, k);
			bad |= r < 0;
			any |= r > 0;
		}
		/* A row of "-" is IP2Location's way of saying it knows nothing. */
		return bad ? GEO_ERROR : any ? GEO_FOUND : GEO_NOT_FOUND;
	}
	return GEO_NOT_FOUND;
}
