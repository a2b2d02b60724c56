/* Test and benchmark tool for the NDK engine (dwarfsym.c, tombstone.c).
 *
 *   ndktool LIB.so ADDR...          symbolize, in llvm-symbolizer's
 *                                   --inlining output form
 *   ndktool --stdin LIB.so          the same for addresses read from stdin,
 *                                   one a line (as a long-lived
 *                                   llvm-symbolizer is fed)
 *   ndktool --report FILE --lib-dir DIR
 *                                   splice symbolized frames into a
 *                                   tombstone; libraries are DIR/<abi>/<lib>;
 *                                   counts on stderr
 *   ndktool --memory LIB.so ADDR... dsym_memory and the heap measured
 *                                   after open and after the lookups
 *   ndktool --bench LIB.so ADDRFILE ROUNDS
 *                                   open time, then the addresses of
 *                                   ADDRFILE looked up ROUNDS times: the
 *                                   first pass (line tables decoded on the
 *                                   way) and the median of the others */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dwarfsym.h"
#include "tombstone.h"

static void *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	struct buf b = BUF_INIT;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		if (buf_add(&b, chunk, n) < 0)
			break;
	int bad = ferror(fp) || b.err;
	fclose(fp);
	if (bad) {
		buf_free(&b);
		return NULL;
	}
	*len = b.len;
	if (!b.p)
		return calloc(1, 1);
	return b.p;
}

static struct dsym *open_lib(const char *path)
{
	size_t len;
	void *img = slurp(path, &len);
	if (!img)
		return NULL;
	struct rum_error err;
	struct dsym *ds = dsym_open(img, len, &err);
	if (!ds)
		fprintf(stderr, "ndktool: %s: %s\n", path, err.msg);
	return ds;
}

static void print_result(const struct dsym_result *r)
{
	if (r->n == 0)
		fputs("??\n??:0:0\n", stdout);
	for (unsigned i = 0; i < r->n; i++)
		printf("%s\n%s:%u:%u\n", r->loc[i].function, r->loc[i].file, r->loc[i].line,
		       r->loc[i].column);
	putchar('\n');
}

static int parse_addr(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 16);
	while (*end == ' ' || *end == '\n' || *end == '\r')
		end++;
	return errno || end == s || *end ? -1 : 0;
}

struct libs {
	const char *dir;
	char names[64][256];
	struct dsym *ds[64];
	size_t n;
};

static int frame_fn(void *ctx, const struct tomb_frame *f, struct buf *out)
{
	struct libs *L = ctx;
	if (!f->lib || f->lib_len >= 200)
		return 0;
	char name[256];
	snprintf(name, sizeof name, "%s/%.*s", f->abi ? f->abi : ".", (int)f->lib_len, f->lib);
	struct dsym *ds = NULL;
	size_t i;
	for (i = 0; i < L->n; i++)
		if (strcmp(L->names[i], name) == 0)
			break;
	if (i < L->n) {
		ds = L->ds[i];
	} else if (L->n < 64) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", L->dir, name);
		FILE *fp = fopen(path, "rb");
		if (fp) {
			fclose(fp);
			ds = open_lib(path);
		}
		snprintf(L->names[L->n], sizeof L->names[0], "%s", name);
		L->ds[L->n++] = ds;
	}
	if (!ds)
		return 0;
	struct dsym_result r;
	if (dsym_lookup(ds, f->pc, &r) == 0)
		return 0;
	return tomb_add_locations(out, f, &r) < 0 ? -1 : 1;
}

static int report(const char *file, const char *dir)
{
	size_t len;
	char *text = slurp(file, &len);
	if (!text) {
		perror(file);
		return 1;
	}
	struct libs L = {.dir = dir};
	struct buf out = BUF_INIT;
	struct tomb_stats st = {0};
	int rc = tomb_splice(text, len, frame_fn, &L, &out, &st);
	if (rc == 0)
		fwrite(out.p, 1, out.len, stdout);
	const char *abi = tomb_abi(text, len);
	fprintf(stderr, "abi=%s backtrace=%d frames=%zu restored=%zu\n", abi ? abi : "-",
		st.has_backtrace, st.frames, st.restored);
	for (size_t i = 0; i < L.n; i++)
		dsym_free(L.ds[i]);
	buf_free(&out);
	free(text);
	return rc < 0 ? 1 : 0;
}

/* malloc'd bytes, mmapped blocks included (libdw's large tables) */
static size_t heap(const struct mallinfo2 *m)
{
	return m->uordblks + m->hblkhd;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int bench(const char *lib, const char *addr_file, int rounds)
{
	FILE *fp = fopen(addr_file, "r");
	if (!fp) {
		perror(addr_file);
		return 1;
	}
	size_t n = 0, cap = 0;
	uint64_t *addrs = NULL;
	char line[256];
	while (fgets(line, sizeof line, fp)) {
		uint64_t a;
		if (parse_addr(line, &a) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			uint64_t *p = realloc(addrs, cap * sizeof *p);
			if (!p) {
				fclose(fp);
				free(addrs);
				return 1;
			}
			addrs = p;
		}
		addrs[n++] = a;
	}
	fclose(fp);
	if (!n || rounds < 2 || rounds > 1000) {
		free(addrs);
		return 2;
	}
	struct mallinfo2 m0 = mallinfo2();
	double t0 = now();
	struct dsym *ds = open_lib(lib);
	double t1 = now();
	if (!ds) {
		free(addrs);
		return 1;
	}
	struct mallinfo2 m1 = mallinfo2();
	static struct dsym_result r;
	double *rate = calloc((size_t)rounds, sizeof *rate);
	size_t found = 0;
	for (int k = 0; k < rounds && rate; k++) {
		double a = now();
		for (size_t i = 0; i < n; i++)
			found += dsym_lookup(ds, addrs[i], &r) > 0;
		rate[k] = (double)n / (now() - a);
	}
	struct mallinfo2 m2 = mallinfo2();
	if (rate) {
		double first = rate[0];
		qsort(rate + 1, (size_t)rounds - 1, sizeof *rate, cmp_double);
		printf(
		    "open %.1f ms; first pass %.0f frames/s; warm %.0f frames/s (%zu frames, "
		    "%zu found); memory: dsym_memory %zu, heap after open %zu, after lookups %zu\n",
		    (t1 - t0) * 1e3, first, rate[1 + (rounds - 1) / 2], n, found / (size_t)rounds,
		    dsym_memory(ds), heap(&m1) - heap(&m0), heap(&m2) - heap(&m0));
	}
	free(rate);
	free(addrs);
	dsym_free(ds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--bench") == 0)
		return bench(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 5 && strcmp(argv[1], "--report") == 0 && strcmp(argv[3], "--lib-dir") == 0)
		return report(argv[2], argv[4]);
	int from_stdin = 0, memory = 0;
	if (argc >= 2 && strcmp(argv[1], "--stdin") == 0)
		from_stdin = 1, argv++, argc--;
	else if (argc >= 2 && strcmp(argv[1], "--memory") == 0)
		memory = 1, argv++, argc--;
	if (argc < 2 || (argc < 3 && !from_stdin)) {
		fprintf(stderr, "usage: ndktool [--memory] LIB.so ADDR... | --stdin LIB.so | "
				"--report FILE --lib-dir DIR\n");
		return 2;
	}
	struct mallinfo2 m0 = mallinfo2();
	struct dsym *ds = open_lib(argv[1]);
	if (!ds)
		return 1;
	struct mallinfo2 m1 = mallinfo2();
	static struct dsym_result r;
	if (from_stdin) {
		char line[256];
		while (fgets(line, sizeof line, stdin)) {
			uint64_t a;
			if (parse_addr(line, &a) < 0) {
				r.n = 0;
				print_result(&r);
				continue;
			}
			dsym_lookup(ds, a, &r);
			print_result(&r);
		}
	} else {
		for (int i = 2; i < argc; i++) {
			uint64_t a;
			if (parse_addr(argv[i], &a) < 0) {
				fprintf(stderr, "ndktool: bad address %s\n", argv[i]);
				dsym_free(ds);
				return 2;
			}
			dsym_lookup(ds, a, &r);
			if (!memory)
				print_result(&r);
		}
	}
	if (memory) {
		struct mallinfo2 m2 = mallinfo2();
		printf("dsym_memory=%zu heap_after_open=%zu heap_after_lookups=%zu\n",
		       dsym_memory(ds), heap(&m1) - heap(&m0), heap(&m2) - heap(&m0));
	}
	dsym_free(ds);
	return 0;
}
