#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int too_large(struct rum_error *err, size_t max)
{
	if (max >= (1 << 20) && max % (1 << 20) == 0)
		return err_set(err, "larger than %zu MiB", max >> 20);
	if (max >= 1024 && max % 1024 == 0)
		return err_set(err, "larger than %zu KiB", max >> 10);
	return err_set(err, "larger than %zu bytes", max);
}

int read_file(const char *path, size_t max, struct buf *out, struct rum_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, "%s", strerror(errno));
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0) {
		err_set(err, "%s", strerror(errno));
		goto out;
	}
	/* A directory gets what read(2) would say of it. */
	if (S_ISDIR(st.st_mode)) {
		err_set(err, "%s", strerror(EISDIR));
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		err_set(err, "not a regular file");
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		too_large(err, max);
		goto out;
	}
	size_t start = out->len;
	for (;;) {
		/* A regular file is read in one go; a FIFO in 64 KiB steps. */
		size_t want = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
		if (buf_reserve(out, want + 1) < 0) {
			err_set(err, "out of memory");
			goto out;
		}
		ssize_t r = read(fd, out->p + out->len, out->cap - out->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(err, "%s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
		if (out->len - start > max) {
			too_large(err, max);
			goto out;
		}
	}
	out->p[out->len] = '\0';
	rc = 0;
out:
	close(fd);
	return rc;
}
