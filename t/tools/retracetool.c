/* Test and benchmark tool for rum-symbolicate's Java retrace.
 *   retracetool [--mem-mb N] [--chunk N|--whole] MAPPING [STACK]
 *                                              retraced STACK (or stdin) on stdout
 *   retracetool --stats MAPPING                classes, methods, bytes of the parsed map
 *   retracetool --bench MAPPING STACK N        parse MAPPING, retrace STACK N times:
 *                                              load MB/s and crashes/s on stdout
 * The map is read in 64 KiB chunks through the streaming parser, as the
 * program reads it out of a zip (--chunk N: N bytes a read, to test lines
 * cut across reads; --whole: the whole file through r8map_parse_mem). A map that does not parse:
 * the reason on stderr, exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "r8map.h"
#include "retrace.h"

static size_t chunk;
static int whole;

static ssize_t fd_read(void *ctx, void *p, size_t n)
{
	int fd = *(int *)ctx;
	if (chunk && n > chunk)
		n = chunk;
	for (;;) {
		ssize_t r = read(fd, p, n);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct r8map *load(const char *path, size_t mem, size_t *bytes)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "retracetool: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	struct rum_error err;
	struct r8map *m;
	if (whole) {
		struct buf all = BUF_INIT;
		char tmp[65536];
		ssize_t r;
		while ((r = fd_read(&fd, tmp, sizeof tmp)) > 0)
			buf_add(&all, tmp, (size_t)r);
		if (r < 0 || all.err) {
			fprintf(stderr, "retracetool: %s: cannot read\n", path);
			exit(1);
		}
		m = r8map_parse_mem(all.p ? all.p : "", all.len, mem, &err);
		buf_free(&all);
	} else {
		m = r8map_parse(fd_read, &fd, mem, &err);
	}
	if (bytes)
		*bytes = (size_t)lseek(fd, 0, SEEK_CUR);
	close(fd);
	if (!m) {
		fprintf(stderr, "retracetool: %s: %s\n", path, err.msg);
		exit(1);
	}
	return m;
}

static void slurp(const char *path, struct buf *b)
{
	FILE *f = path ? fopen(path, "rb") : stdin;
	if (!f) {
		fprintf(stderr, "retracetool: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		if (buf_add(b, tmp, n) < 0) {
			fputs("retracetool: out of memory\n", stderr);
			exit(1);
		}
	if (f != stdin)
		fclose(f);
}

static int usage(void)
{
	fputs("usage: retracetool [--mem-mb N] [--chunk N|--whole] MAPPING [STACK]\n"
	      "       retracetool --stats MAPPING\n"
	      "       retracetool --bench MAPPING STACK N\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	size_t mem = 0;
	int i = 1;
	for (;;) {
		if (i + 1 < argc && strcmp(argv[i], "--mem-mb") == 0) {
			mem = (size_t)strtoul(argv[i + 1], NULL, 10) << 20;
			i += 2;
		} else if (i + 1 < argc && strcmp(argv[i], "--chunk") == 0) {
			chunk = (size_t)strtoul(argv[i + 1], NULL, 10);
			i += 2;
		} else if (i < argc && strcmp(argv[i], "--whole") == 0) {
			whole = 1;
			i++;
		} else {
			break;
		}
	}
	if (i < argc && strcmp(argv[i], "--stats") == 0) {
		if (i + 2 != argc)
			return usage();
		struct r8map *m = load(argv[i + 1], mem, NULL);
		printf("classes %zu methods %zu bytes %zu\n", r8map_classes(m), r8map_methods(m),
		       r8map_memory(m));
		r8map_free(m);
		return 0;
	}
	if (i < argc && strcmp(argv[i], "--bench") == 0) {
		if (i + 4 != argc)
			return usage();
		long n = strtol(argv[i + 3], NULL, 10);
		if (n <= 0)
			return usage();
		size_t bytes = 0;
		double t0 = now();
		struct r8map *m = load(argv[i + 1], mem, &bytes);
		double t1 = now();
		struct buf stack = BUF_INIT, out = BUF_INIT;
		slurp(argv[i + 2], &stack);
		struct retrace_stats st = {0};
		double t2 = now();
		for (long k = 0; k < n; k++) {
			buf_reset(&out);
			if (retrace_stack(m, stack.p, stack.len, &out, &st) < 0) {
				fputs("retracetool: out of memory\n", stderr);
				return 1;
			}
		}
		double t3 = now();
		printf("load %.1f MB in %.3f s: %.1f MB/s, %zu classes, %zu methods, %.1f MB "
		       "parsed\n",
		       (double)bytes / 1e6, t1 - t0, (double)bytes / 1e6 / (t1 - t0),
		       r8map_classes(m), r8map_methods(m), (double)r8map_memory(m) / 1e6);
		printf("retrace %ld crashes (%zu frames each) in %.3f s: %.0f crashes/s\n", n,
		       st.frames / (size_t)n, t3 - t2, (double)n / (t3 - t2));
		buf_free(&stack);
		buf_free(&out);
		r8map_free(m);
		return 0;
	}
	if (i >= argc || argc - i > 2 || argv[i][0] == '-')
		return usage();
	struct r8map *m = load(argv[i], mem, NULL);
	struct buf stack = BUF_INIT, out = BUF_INIT;
	slurp(i + 1 < argc ? argv[i + 1] : NULL, &stack);
	if (retrace_stack(m, stack.p ? stack.p : "", stack.len, &out, NULL) < 0) {
		fputs("retracetool: out of memory\n", stderr);
		return 1;
	}
	fwrite(out.p ? out.p : "", 1, out.len, stdout);
	buf_free(&stack);
	buf_free(&out);
	r8map_free(m);
	return 0;
}
