/* Test and benchmark tool for common/base64.c.
 *   base64tool [--scalar] encode         stdin → base64 on stdout
 *   base64tool [--scalar] decode         base64 on stdin → bytes; exit 1 if refused
 *   base64tool [--scalar] len            the decoded length base64_decoded_len gives
 *   base64tool [--scalar] bench [-n N]   MB/s of encode and decode of stdin, N times
 *   base64tool compare                   each prefix and each byte change of stdin
 *                                        decoded by both paths: same result, exit 1 if not
 *   base64tool refuses                   each stdin line, in hex, must be refused by
 *                                        both paths: prints the count, exit 1 if not
 *   base64tool vector                    "1" when the vector path is in use
 * --scalar forces the portable path, --ssse3 allows SSSE3 but not AVX2 (the
 * best the CPU has is the default); compare and refuses try every level. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "buf.h"

static void usage(void)
{
	fputs("usage: base64tool [--scalar|--ssse3] encode|decode|len|bench [-n "
	      "N]|compare|refuses|vector\n",
	      stderr);
	exit(2);
}

static void read_all(struct buf *b)
{
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		if (buf_add(b, chunk, n) < 0) {
			fputs("base64tool: out of memory\n", stderr);
			exit(1);
		}
	if (ferror(stdin)) {
		perror("base64tool: stdin");
		exit(1);
	}
}

static void write_all(const char *p, size_t n)
{
	if ((n && fwrite(p, 1, n, stdout) != n) || fflush(stdout) != 0) {
		perror("base64tool: stdout");
		exit(1);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decode s by the portable path and each vector one: 0 when the results
 * (refusal or bytes) agree. */
static int agree(const char *s, size_t n, struct buf *a, struct buf *b)
{
	buf_reset(a);
	base64_set_vector(0);
	int ra = base64_decode(a, s, n);
	for (int level = 1; level <= 2; level++) {
		buf_reset(b);
		base64_set_vector(level);
		int rb = base64_decode(b, s, n);
		if (ra != rb || (ra == 0 && (a->len != b->len ||
					     (a->len && memcmp(a->p, b->p, a->len) != 0)))) {
			fprintf(stderr, "base64tool: level %d disagrees on %zu bytes (%d, %d)\n",
				level, n, ra, rb);
			return -1;
		}
	}
	return 0;
}

static int compare(struct buf *in)
{
	struct buf a = BUF_INIT, b = BUF_INIT, m = BUF_INIT;
	static const char probes[] = "A/+-_=\n\0\x80z9";
	int bad = 0;
	for (size_t n = 0; n <= in->len && !bad; n++)
		bad = agree(in->p, n, &a, &b) < 0;
	if (buf_add(&m, in->p, in->len) < 0)
		return -1;
	for (size_t i = 0; i < m.len && !bad; i++) {
		char keep = m.p[i];
		for (size_t k = 0; k < sizeof probes - 1 && !bad; k++) {
			m.p[i] = probes[k];
			bad = agree(m.p, m.len, &a, &b) < 0;
		}
		m.p[i] = keep;
	}
	buf_free(&a);
	buf_free(&b);
	buf_free(&m);
	return bad ? -1 : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int refuses(struct buf *in)
{
	struct buf text = BUF_INIT, out = BUF_INIT;
	unsigned long n = 0;
	int bad = 0;
	for (size_t i = 0; i < in->len;) {
		const char *nl = memchr(in->p + i, '\n', in->len - i);
		size_t e = nl ? (size_t)(nl - in->p) : in->len;
		buf_reset(&text);
		for (size_t k = i; k + 1 < e; k += 2) {
			int hi = hexval(in->p[k]), lo = hexval(in->p[k + 1]);
			if (hi < 0 || lo < 0 || buf_addc(&text, (char)(hi << 4 | lo)) < 0) {
				fputs("base64tool: bad hex line\n", stderr);
				return -1;
			}
		}
		for (int vec = 0; vec <= 2; vec++) {
			base64_set_vector(vec);
			buf_reset(&out);
			if (base64_decode(&out, text.p, text.len) == 0) {
				fprintf(stderr, "base64tool: accepted (vector %d): %.*s\n", vec,
					(int)(e - i), in->p + i);
				bad = 1;
			}
		}
		n++;
		i = e + 1;
	}
	printf("%lu\n", n);
	buf_free(&text);
	buf_free(&out);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	if (i < argc && strcmp(argv[i], "--scalar") == 0) {
		base64_set_vector(0);
		i++;
	} else if (i < argc && strcmp(argv[i], "--ssse3") == 0) {
		base64_set_vector(1);
		i++;
	}
	if (i >= argc)
		usage();
	const char *cmd = argv[i++];
	long iters = 100;
	if (i + 1 < argc && strcmp(argv[i], "-n") == 0) {
		iters = atol(argv[i + 1]);
		i += 2;
	}
	if (i != argc || iters < 1)
		usage();
	if (strcmp(cmd, "vector") == 0) {
		printf("%d\n", base64_vector());
		return 0;
	}
	struct buf in = BUF_INIT, out = BUF_INIT;
	read_all(&in);
	if (strcmp(cmd, "encode") == 0) {
		if (base64_encode(&out, in.p, in.len) < 0)
			return 1;
		write_all(out.p, out.len);
	} else if (strcmp(cmd, "decode") == 0) {
		if (base64_decode(&out, in.p, in.len) < 0) {
			fputs("base64tool: not base64\n", stderr);
			return 1;
		}
		write_all(out.p, out.len);
	} else if (strcmp(cmd, "len") == 0) {
		printf("%zu\n", base64_decoded_len(in.p, in.len));
	} else if (strcmp(cmd, "compare") == 0) {
		int bad = compare(&in) < 0;
		buf_free(&in);
		return bad;
	} else if (strcmp(cmd, "refuses") == 0) {
		int bad = refuses(&in) < 0;
		buf_free(&in);
		return bad;
	} else if (strcmp(cmd, "bench") == 0) {
		double t0 = now_s();
		for (long k = 0; k < iters; k++) {
			buf_reset(&out);
			if (base64_encode(&out, in.p, in.len) < 0)
				return 1;
		}
		double t1 = now_s();
		struct buf dec = BUF_INIT;
		for (long k = 0; k < iters; k++) {
			buf_reset(&dec);
			if (base64_decode(&dec, out.p, out.len) < 0)
				return 1;
		}
		double t2 = now_s();
		if (dec.len != in.len || memcmp(dec.p, in.p, in.len) != 0) {
			fputs("base64tool: round trip differs\n", stderr);
			return 1;
		}
		double mb = (double)in.len * (double)iters / 1e6;
		printf("vector %d: encode %.0f MB/s, decode %.0f MB/s\n", base64_vector(),
		       mb / (t1 - t0), mb / (t2 - t1));
		buf_free(&dec);
	} else {
		usage();
	}
	buf_free(&in);
	buf_free(&out);
	return 0;
}
