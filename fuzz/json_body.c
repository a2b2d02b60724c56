/* rum-listen's JSON body parser: any input is parsed without crashing, and
 * every element it accepts is written back as a record that the record codec
 * reads again with the same measurement, tags (plus ip) and fields. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbody.h"

static void check_written(const struct record *in, const struct buf *out)
{
	struct record back;
	struct rum_error err = {0};
	memset(&back, 0, sizeof back);
	if (rec_parse_line(&back, out->p, out->len, &err) < 0) {
		fprintf(stderr, "written record does not parse: %s\n%.*s\n", err.msg, (int)out->len,
			out->p);
		abort();
	}
	if (back.nfields != in->nfields || !back.has_time || back.time != 42)
		abort();
	const struct rec_kv *ip = rec_tag(&back, "ip");
	if (!ip || ip->val_len != 9 || memcmp(ip->val, "\"1.2.3.4\"", 9) != 0)
		abort();
	rec_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes, so reads past the end are caught. */
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	struct jsonbody jb;
	struct record r;
	struct rum_error err = {0};
	struct buf out = BUF_INIT, scratch = BUF_INIT;
	struct lp_tag_set ip = {"ip", "1.2.3.4", 7};
	memset(&r, 0, sizeof r);
	jsonbody_init(&jb, p, size);
	int rc;
	while ((rc = jsonbody_next(&jb, &r, &err)) == 1) {
		if (r.src < p || r.src + r.len > p + size)
			abort();
		buf_reset(&out);
		if (jsonbody_write(&r, &ip, 1, NULL, 42, &out, &scratch) == 0)
			check_written(&r, &out);
	}
	if (rc < 0 && (err.offset > size || !err.msg[0]))
		abort();
	if (rc < 0)
		(void)jsonbody_line(p, err.offset);
	rec_free(&r);
	buf_free(&out);
	buf_free(&scratch);
	free(p);
	return 0;
}
