/* Zips read in place with libzip. */
#include "archive.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hugemem.h"
#include "log.h"

#define NAME_MAX_LEN 4096
#define IGNORED_LOGGED 5 /* escaping names named in the log per archive */

static uint64_t next_id = 1;

int archive_name_safe(const char *name)
{
	if (!*name || *name == '/' || strchr(name, '\\'))
		return 0;
	/* "C:..." is absolute to an extractor on Windows. */
	if (((name[0] | 0x20) >= 'a' && (name[0] | 0x20) <= 'z') && name[1] == ':')
		return 0;
	for (const char *p = name; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += n + (e ? 1 : 0);
	}
	return 1;
}

/* "PATH: not a readable zip: libzip's reason for code" into err. */
static int zip_open_failed(struct rum_error *err, const char *path, int code)
{
	zip_error_t ze;
	zip_error_init_with_code(&ze, code);
	err_set(err, "%s: not a readable zip: %s", path, zip_error_strerror(&ze));
	zip_error_fini(&ze);
	return -1;
}

int archive_open(struct archive *ar, const char *path, int *missing, struct rum_error *err)
{
	memset(ar, 0, sizeof *ar);
	*missing = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*missing = errno == ENOENT || errno == ENOTDIR;
		err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &ar->st) < 0 || !S_ISREG(ar->st.st_mode)) {
		err_set(err, "%s: %s", path,
			S_ISREG(ar->st.st_mode) ? strerror(errno) : "not a regular file");
		close(fd);
		return -1;
	}
	int zerr = 0;
	/* On success libzip owns fd; on failure it is still ours. */
	ar->za = zip_fdopen(fd, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
	if (!ar->za) {
		zip_open_failed(err, path, zerr);
		close(fd);
		return -1;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t blen = strlen(base);
	if (blen > 4 && strcmp(base + blen - 4, ".zip") == 0)
		blen -= 4;
	ar->top = malloc(blen + 2);
	ar->path = strdup(path);
	if (!ar->top || !ar->path) {
		free(ar->top);
		free(ar->path);
		zip_discard(ar->za);
		ar->za = NULL;
		err_set(err, "out of memory");
		return -1;
	}
	memcpy(ar->top, base, blen);
	ar->top[blen] = '/';
	ar->top[blen + 1] = '\0';
	ar->top_len = blen + 1;
	ar->id = next_id++;

	zip_int64_t n = zip_get_num_entries(ar->za, 0);
	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(ar->za, (zip_uint64_t)i, 0);
		if (!name || archive_name_safe(name))
			continue;
		if (ar->ignored++ < IGNORED_LOGGED)
			log_warn("%s: ignoring entry '%s': outside the archive's root", path, name);
	}
	if (ar->ignored > IGNORED_LOGGED)
		log_warn("%s: %" PRIu64 " entries outside the archive's root ignored in all", path,
			 ar->ignored);
	return 0;
}

void archive_close(struct archive *ar)
{
	if (ar->za)
		zip_discard(ar->za); /* read-only: nothing to write back */
	free(ar->top);
	free(ar->path);
	memset(ar, 0, sizeof *ar);
}

int64_t archive_locate(const struct archive *ar, const char *name)
{
	if (!ar->za || !archive_name_safe(name))
		return -1;
	zip_int64_t i = zip_name_locate(ar->za, name, 0);
	if (i >= 0)
		return i;
	size_t n = strlen(name);
	char tmp[NAME_MAX_LEN];
	if (!ar->top || ar->top_len + n >= sizeof tmp)
		return -1;
	memcpy(tmp, ar->top, ar->top_len);
	memcpy(tmp + ar->top_len, name, n + 1);
	return zip_name_locate(ar->za, tmp, 0);
}

const char *archive_entry_name(const struct archive *ar, uint64_t idx)
{
	const char *s = ar->za ? zip_get_name(ar->za, idx, 0) : NULL;
	return s ? s : "?";
}

static struct libdeflate_decompressor *inflater;

static int inflate_whole(struct archive *ar, uint64_t idx, const zip_stat_t *st,
			 struct archive_reader *rd, struct rum_error *err)
{
	if (!inflater && !(inflater = libdeflate_alloc_decompressor())) {
		err_set(err, "out of memory");
		return -1;
	}
	zip_file_t *zf = zip_fopen_index(ar->za, idx, ZIP_FL_COMPRESSED);
	if (!zf) {
		err_set(err, "%s", zip_strerror(ar->za));
		return -1;
	}
	char *in = malloc(st->comp_size ? st->comp_size : 1);
	char *out = malloc(st->size ? st->size : 1);
	int rc = -1;
	if (!in || !out) {
		err_set(err, "out of memory");
		goto done;
	}
	hugemem_advise(out, st->size);
	zip_uint64_t got = 0;
	while (got < st->comp_size) {
		zip_int64_t r = zip_fread(zf, in + got, st->comp_size - got);
		if (r <= 0) {
			err_set(err, "%s",
				r < 0 ? zip_file_strerror(zf) : "compressed data cut short");
			goto done;
		}
		got += (zip_uint64_t)r;
	}
	/* Exactly the declared size, no more and no less. */
	enum libdeflate_result dr =
	    libdeflate_deflate_decompress(inflater, in, st->comp_size, out, st->size, NULL);
	if (dr != LIBDEFLATE_SUCCESS) {
		err_set(err, "%s",
			dr == LIBDEFLATE_INSUFFICIENT_SPACE ? "entry longer than its declared size"
			: dr == LIBDEFLATE_SHORT_OUTPUT	    ? "entry shorter than its declared size"
							    : "invalid deflate data");
		goto done;
	}
	if (libdeflate_crc32(0, out, st->size) != st->crc) {
		err_set(err, "CRC error");
		goto done;
	}
	rd->mem = out;
	out = NULL;
	rd->size = st->size;
	rc = 0;
done:
	zip_fclose(zf);
	free(in);
	free(out);
	return rc;
}

int archive_reader_open(struct archive *ar, uint64_t idx, uint64_t max_size,
			struct archive_reader *rd, struct rum_error *err)
{
	memset(rd, 0, sizeof *rd);
	zip_stat_t st;
	zip_stat_init(&st);
	if (zip_stat_index(ar->za, idx, 0, &st) < 0) {
		err_set(err, "%s", zip_strerror(ar->za));
		return -1;
	}
	const zip_uint64_t need =
	    ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
	if ((st.valid & need) != need) {
		err_set(err, "entry without sizes or methods");
		return -1;
	}
	size_t nlen = st.valid & ZIP_STAT_NAME && st.name ? strlen(st.name) : 0;
	if (nlen && st.name[nlen - 1] == '/') {
		err_set(err, "a directory");
		return -1;
	}
	if (st.encryption_method != ZIP_EM_NONE) {
		err_set(err, "encrypted");
		return -1;
	}
	if (!zip_compression_method_supported(st.comp_method, 0)) {
		err_set(err, "compression method %d not supported", (int)st.comp_method);
		return -1;
	}
	if (st.size > max_size) {
		err_set(err, "%" PRIu64 " bytes uncompressed, above the limit of %" PRIu64,
			(uint64_t)st.size, max_size);
		return -1;
	}
	if (st.size > ARCHIVE_RATIO_FLOOR &&
	    (st.comp_size == 0 || st.size / st.comp_size > ARCHIVE_MAX_RATIO)) {
		err_set(err,
			"%" PRIu64 " bytes from %" PRIu64
			" compressed: a ratio no real file has (zip bomb?)",
			(uint64_t)st.size, (uint64_t)st.comp_size);
		return -1;
	}
	if (st.comp_method == ZIP_CM_DEFLATE && st.size <= ARCHIVE_WHOLE_MAX &&
	    (st.valid & ZIP_STAT_CRC))
		return inflate_whole(ar, idx, &st, rd, err);
	rd->zf = zip_fopen_index(ar->za, idx, 0);
	if (!rd->zf) {
		err_set(err, "%s", zip_strerror(ar->za));
		return -1;
	}
	rd->size = st.size;
	return 0;
}

ssize_t archive_read(void *ctx, void *buf, size_t n)
{
	struct archive_reader *rd = ctx;
	if (rd->failed)
		return -1;
	if (rd->mem) {
		uint64_t left = rd->size - rd->got;
		if (n > left)
			n = (size_t)left;
		memcpy(buf, rd->mem + rd->got, n);
		rd->got += n;
		return (ssize_t)n;
	}
	/* One byte past the declared size is asked for, to notice an entry
	 * that inflates to more than its header says. */
	uint64_t left = rd->size - rd->got + 1;
	if (n > left)
		n = (size_t)left;
	zip_int64_t r = zip_fread(rd->zf, buf, n);
	if (r < 0) {
		snprintf(rd->err, sizeof rd->err, "%s", zip_file_strerror(rd->zf));
		rd->failed = 1;
		return -1;
	}
	rd->got += (uint64_t)r;
	if (rd->got > rd->size) {
		snprintf(rd->err, sizeof rd->err,
			 "entry longer than its declared %" PRIu64 " bytes", rd->size);
		rd->failed = 1;
		return -1;
	}
	return (ssize_t)r;
}

void archive_reader_close(struct archive_reader *rd)
{
	if (rd->zf)
		zip_fclose(rd->zf);
	rd->zf = NULL;
	free(rd->mem);
	rd->mem = NULL;
}
