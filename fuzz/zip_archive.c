/* Fuzz rum-symbolicate's archive reading (cmd/rum-symbolicate/archive.c)
 * with arbitrary bytes as a zip: open it as the stage does (libzip, in
 * place, from a memfd), look entries up by name, and stream every .map
 * entry that passes the size and ratio checks into the source map parser,
 * as the web restorer does. Names that leave the root must never be
 * found. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "archive.h"
#include "log.h"
#include "sourcemap.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define MAX_ENTRIES 32
#define MAX_MAP ((uint64_t)1 << 20)

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz-zip-archive");
	log_set_level("error");
	fd = memfd_create("zip", MFD_CLOEXEC);
	if (fd < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	struct archive ar;
	int missing;
	struct rum_error e = {0};
	if (archive_open(&ar, path, &missing, &e) < 0) {
		CHECK(!missing);
		return 0;
	}
	static const char *const evil[] = {"../x.js.map",  "/x.js.map",	  "a/../../x.js.map",
					   "..\\x.js.map", "C:/x.js.map", ".."};
	for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++)
		CHECK(archive_locate(&ar, evil[i]) < 0);

	zip_int64_t n = zip_get_num_entries(ar.za, 0);
	for (zip_int64_t i = 0; i < n && i < MAX_ENTRIES; i++) {
		const char *name = zip_get_name(ar.za, (zip_uint64_t)i, 0);
		if (!name)
			continue;
		int64_t at = archive_locate(&ar, name);
		if (!archive_name_safe(name)) {
			CHECK(at < 0);
			continue;
		}
		CHECK(at >= 0);
		if (!ends_with(name, ".map"))
			continue;
		struct archive_reader rd;
		if (archive_reader_open(&ar, (uint64_t)i, MAX_MAP, &rd, &e) < 0)
			continue;
		struct sourcemap *m = sm_parse(archive_read, &rd, 8 << 20, &e);
		/* Past its declared size an entry is refused, not read on. */
		CHECK(rd.got <= rd.size || (rd.failed && !m && rd.got == rd.size + 1));
		archive_reader_close(&rd);
		if (m) {
			struct sm_original o;
			(void)sm_lookup(m, 0, 0, &o);
			sm_free(m);
		}
	}
	archive_close(&ar);
	return 0;
}
