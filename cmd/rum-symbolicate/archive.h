/* One uploaded zip, read in place with libzip: nothing is extracted.
 *
 * Names are looked up as given ("static/js/app.js.map") and also under one
 * top directory named like the zip ("<app>-<env>-<version>/static/...", as
 * DataKit's zips have it). Entries whose names would escape the archive's
 * root (absolute, a ".." component, backslashes) are never served; they are
 * counted and logged when the zip is opened. An entry is streamed out of
 * the zip only after its sizes pass the limits: a declared size above the
 * caller's maximum, or a compression ratio no real file has (a zip bomb),
 * is refused before anything is inflated. */
#ifndef RUM_SYMBOLICATE_ARCHIVE_H
#define RUM_SYMBOLICATE_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <zip.h>

#include "errmsg.h"

/* Deflate cannot pass about 1032:1; source maps and mapping files reach
 * 20:1 at most. Past this ratio an entry larger than ARCHIVE_RATIO_FLOOR
 * is taken for a bomb. */
#define ARCHIVE_MAX_RATIO 200
#define ARCHIVE_RATIO_FLOOR ((uint64_t)1 << 20)

struct archive {
	zip_t *za;
	uint64_t id; /* unique for each archive opened in this process */
	char *path;  /* as opened */
	char *top;   /* "<zip name without .zip>/": the top directory tried */
	size_t top_len;
	struct stat st;	  /* of the file opened: its identity */
	uint64_t ignored; /* entries refused at open (escaping names) */
};

/* Opens path; fills ar->st from the file actually opened. -1 with the
 * reason in err (ENOENT as errno stays distinguishable: *missing is set). */
int archive_open(struct archive *ar, const char *path, int *missing, struct rum_error *err);
void archive_close(struct archive *ar);

/* Is this a name that stays inside the archive's root? */
int archive_name_safe(const char *name);

/* Index of the entry named name (or top/name), or -1. */
int64_t archive_locate(const struct archive *ar, const char *name);

/* The entry's stored name (for messages). */
const char *archive_entry_name(const struct archive *ar, uint64_t idx);

/* A deflated entry up to this size is inflated in one go with libdeflate
 * (three times zlib's speed, which is most of a map's load time), its CRC
 * checked; larger ones are streamed through libzip. */
#define ARCHIVE_WHOLE_MAX ((uint64_t)64 << 20)

struct archive_reader {
	zip_file_t *zf;
	char *mem;     /* the inflated entry, when it was inflated whole */
	uint64_t size; /* declared uncompressed size */
	uint64_t got;  /* bytes read so far */
	int failed;
	char err[160];
};

/* Opens entry idx for streaming after checking it: not a directory, not
 * encrypted, a compression method libzip can inflate, size <= max_size,
 * a sane compression ratio. -1 with the reason in err. */
int archive_reader_open(struct archive *ar, uint64_t idx, uint64_t max_size,
			struct archive_reader *rd, struct rum_error *err);
/* An sm_read_fn: up to n bytes; 0 at the end; -1 on an error (rd->err
 * says which), including an entry longer than it declared. */
ssize_t archive_read(void *rd, void *buf, size_t n);
void archive_reader_close(struct archive_reader *rd);

#endif
