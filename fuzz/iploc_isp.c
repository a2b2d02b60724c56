/* rum-enrich's reading of DataKit's ip2isp.txt (cmd/rum-enrich/isp.c): the
 * input is the file. Every line is counted as exactly one kind; rules are
 * sorted and unique; an address of each rule's network finds a rule at
 * least that long, and addresses from the input's last bytes are asked
 * too. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isp.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static enum geo_status ask(const struct isp_file *f, uint32_t ip, struct geo_vals *v)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	in.sin_addr.s_addr = htonl(ip);
	memset(v, 0, sizeof *v);
	enum geo_status st = isp_file_lookup(f, (const struct sockaddr *)&in, v);
	CHECK(st == GEO_FOUND ? v->len[GEO_ISP] > 0 : v->len[GEO_ISP] == 0);
	CHECK(v->len[GEO_ISP] <= GEO_VAL_MAX);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	struct isp_file f = {.path = "fuzz", .option = "--isp-file"};
	struct rum_error err = {0};
	size_t lines = 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	lines += size && data[size - 1] != '\n';
	if (isp_file_parse(&f, copy, size, &err) == 0) {
		CHECK(f.n > 0 && f.n <= f.lines[ISP_RULE]);
		CHECK(f.start[33] == f.n);
		struct geo_vals v;
		for (size_t i = 0; i < f.n; i++) {
			const struct isp_rule *r = &f.rules[i];
			CHECK(r->len >= 1 && r->len <= 32 && r->name_len > 0);
			if (i)
				CHECK(
				    f.rules[i - 1].len < r->len ||
				    (f.rules[i - 1].len == r->len && f.rules[i - 1].net < r->net));
			CHECK(ask(&f, r->net, &v) == GEO_FOUND);
		}
		if (size >= 4)
			ask(&f,
			    (uint32_t)data[size - 4] << 24 | (uint32_t)data[size - 3] << 16 |
				(uint32_t)data[size - 2] << 8 | data[size - 1],
			    &v);
	} else {
		CHECK(err.msg[0] != '\0');
	}
	size_t counted = 0;
	for (int k = 0; k < ISP_NKINDS; k++)
		counted += f.lines[k];
	CHECK(counted == lines);
	isp_file_close(&f);
	free(copy);
	return 0;
}
