/* smtool: drive the source map engine (cmd/rum-symbolicate/sourcemap.c)
 * from the shell, for tests and benchmarks.
 *
 *   smtool [OPTIONS] MAP [LINE:COL...]
 *       look up generated positions (0-based, as in the spec); without
 *       positions, one "LINE:COL" (or "LINE COL") per line of stdin. Prints
 *       per position "SOURCE<TAB>LINE<TAB>COLUMN<TAB>NAME" (NAME "-" when
 *       none; SOURCE "(null)" for a null entry of "sources"), or "-" when
 *       the position maps to nothing.
 *   smtool [OPTIONS] --check MAP
 *       "ok: ..." and exit 0 for a valid map; the reason on stderr and exit
 *       2 for an invalid one.
 *   smtool [OPTIONS] --bench MAP N
 *       parse MAP, then N lookups at pseudo-random mapped positions; prints
 *       "load_ms=… lookup_ms=… lookups=N mapped=… segments=… map_bytes=…".
 *   smtool [OPTIONS] --positions MAP N
 *       the N positions --bench looks up, one "LINE:COL" a line (0-based),
 *       to give a peer (node + trace-mapping) the same work.
 *
 * Options: --chunk N (the reader hands the parser at most N bytes at a time;
 * default 65536), --fail-after N (the reader fails once N bytes are read),
 * --mem-limit BYTES, --in-memory (read the whole file, then
 * sm_parse_mem), --rss (print "rss_kb=PEAK" from /proc/self/status VmHWM on
 * stderr at exit). MAP "-" is stdin. Exit 1 on usage or I/O errors. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sourcemap.h"

static size_t chunk = 65536;
static long long fail_after = -1; /* --fail-after: a read error past this many bytes */

struct fdin {
	int fd;
	long long got;
};

static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
	struct fdin *in = ctx;
	if (n > chunk)
		n = chunk;
	if (fail_after >= 0) {
		if (in->got >= fail_after)
			return -1;
		if ((long long)n > fail_after - in->got)
			n = (size_t)(fail_after - in->got);
	}
	for (;;) {
		ssize_t r = read(in->fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0)
			in->got += r;
		return r;
	}
}

static void usage(void)
{
	fputs("usage: smtool [--chunk N] [--mem-limit BYTES] [--in-memory] [--rss] MAP "
	      "[LINE:COL...]\n"
	      "       smtool [options] --check MAP\n"
	      "       smtool [options] --bench MAP N\n"
	      "       smtool [options] --positions MAP N\n",
	      stderr);
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void print_rss(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmHWM:", 6))
			fprintf(stderr, "rss_kb=%ld\n", strtol(line + 6, NULL, 10));
	fclose(f);
}

static struct sourcemap *load(const char *path, int in_memory, size_t limit)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY) : 0;
	if (fd < 0) {
		fprintf(stderr, "smtool: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	struct rum_error err;
	struct sourcemap *map;
	if (in_memory) {
		size_t cap = 1 << 16, len = 0;
		char *data = malloc(cap);
		for (;;) {
			if (!data) {
				fprintf(stderr, "smtool: out of memory\n");
				exit(1);
			}
			if (len == cap)
				data = realloc(data, cap *= 2);
			if (!data)
				continue;
			ssize_t r = read(fd, data + len, cap - len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				fprintf(stderr, "smtool: %s: %s\n", path, strerror(errno));
				exit(1);
			}
			if (r == 0)
				break;
			len += (size_t)r;
		}
		map = sm_parse_mem(data, len, limit, &err);
		free(data);
	} else {
		struct fdin in = {fd, 0};
		map = sm_parse(fd_read, &in, limit, &err);
	}
	if (fd > 0)
		close(fd);
	if (!map) {
		fprintf(stderr, "smtool: %s: %s\n", path, err.msg);
		return NULL;
	}
	return map;
}

static void lookup(const struct sourcemap *map, const char *spec)
{
	char *e;
	unsigned long line = strtoul(spec, &e, 10);
	if (e == spec || (*e != ':' && *e != ' ' && *e != '\t')) {
		fprintf(stderr, "smtool: bad position '%s' (LINE:COL)\n", spec);
		exit(1);
	}
	const char *c = e + 1;
	unsigned long col = strtoul(c, &e, 10);
	if (e == c || line > UINT32_MAX || col > UINT32_MAX) {
		fprintf(stderr, "smtool: bad position '%s' (LINE:COL)\n", spec);
		exit(1);
	}
	struct sm_original o;
	sm_lookup(map, (uint32_t)line, (uint32_t)col, &o);
	if (!o.mapped)
		puts("-");
	else
		printf("%s\t%" PRIu32 "\t%" PRIu32 "\t%s\n", o.source ? o.source : "(null)", o.line,
		       o.column, o.name ? o.name : "-");
}

/* The i-th pseudo-random mapped position (xorshift over segment indexes). */
static void next_position(const struct sourcemap *map, size_t nseg, uint64_t *x, uint32_t *line,
			  uint32_t *col)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	sm_segment(map, (size_t)(*x % nseg), line, col);
}

static int positions(const char *path, unsigned long n, int in_memory, size_t limit)
{
	struct sourcemap *map = load(path, in_memory, limit);
	if (!map)
		return 2;
	size_t nseg = sm_segment_count(map);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (unsigned long i = 0; i < n && nseg; i++) {
		uint32_t line, col;
		next_position(map, nseg, &x, &line, &col);
		printf("%" PRIu32 ":%" PRIu32 "\n", line, col);
	}
	sm_free(map);
	return 0;
}

static int bench(const char *path, unsigned long n, int in_memory, size_t limit)
{
	double t0 = now_ms();
	struct sourcemap *map = load(path, in_memory, limit);
	if (!map)
		return 2;
	double t1 = now_ms();
	size_t nseg = sm_segment_count(map);
	unsigned long mapped = 0, sum = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (unsigned long i = 0; i < n && nseg; i++) {
		uint32_t line, col;
		next_position(map, nseg, &x, &line, &col);
		struct sm_original o;
		if (sm_lookup(map, line, col, &o) == 0) {
			mapped++;
			sum += o.line + o.column;
		}
	}
	double t2 = now_ms();
	printf("load_ms=%.2f lookup_ms=%.2f total_ms=%.2f lookups=%lu mapped=%lu segments=%zu "
	       "map_bytes=%zu checksum=%lu\n",
	       t1 - t0, t2 - t1, t2 - t0, n, mapped, nseg, sm_memory(map), sum);
	sm_free(map);
	return 0;
}

int main(int argc, char **argv)
{
	int check = 0, do_bench = 0, do_positions = 0, in_memory = 0, rss = 0;
	size_t limit = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--check"))
			check = 1;
		else if (!strcmp(argv[i], "--bench"))
			do_bench = 1;
		else if (!strcmp(argv[i], "--positions"))
			do_positions = 1;
		else if (!strcmp(argv[i], "--in-memory"))
			in_memory = 1;
		else if (!strcmp(argv[i], "--rss"))
			rss = 1;
		else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--fail-after") && i + 1 < argc)
			fail_after = strtoll(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--mem-limit") && i + 1 < argc)
			limit = strtoull(argv[++i], NULL, 10);
		else
			usage();
	}
	if (i >= argc || chunk == 0)
		usage();
	const char *path = argv[i++];
	int rc = 0;
	if (do_bench || do_positions) {
		if (i + 1 != argc)
			usage();
		unsigned long n = strtoul(argv[i], NULL, 10);
		rc = do_bench ? bench(path, n, in_memory, limit)
			      : positions(path, n, in_memory, limit);
	} else {
		struct sourcemap *map = load(path, in_memory, limit);
		if (!map) {
			rc = 2;
		} else if (check) {
			const char *file = sm_file(map);
			printf("ok: %zu segments, %zu bytes, file %s\n", sm_segment_count(map),
			       sm_memory(map), file ? file : "-");
		} else if (i < argc) {
			for (; i < argc; i++)
				lookup(map, argv[i]);
		} else {
			char line[256];
			while (fgets(line, sizeof line, stdin))
				if (line[0] != '\n')
					lookup(map, line);
		}
		sm_free(map);
	}
	if (fflush(stdout) != 0)
		rc = 1;
	if (rss)
		print_rss();
	return rc;
}
