/* Line protocol: every point the parser accepts must become a JSON record
 * that rec_parse_line accepts, be written back as line protocol by
 * lp_write_record, and read back as one point with the same tags and fields
 * and the same JSON, byte for byte. The precision comes from the input's
 * length, so every one gets exercised.
 * Input that starts with '{' is also read as NDJSON records: whatever
 * lp_write_record writes of one must parse as one point (a duplicate key is
 * the one thing allowed to fail: the writer's adaptations can make two
 * keys one) with no more tags or fields than the record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errmsg.h"
#include "lp.h"
#include "record.h"

static const enum lp_precision precs[] = {LP_NS, LP_US, LP_MS, LP_S, LP_M, LP_H, LP_GUESS};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void json_lines(const char *p, size_t n, struct record *rec, struct buf *lp,
		       struct lp_point *pt)
{
	const char *end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct rum_error rerr = {0};
		if (rec_parse_line(rec, p, (size_t)(le - p), &rerr) == 0) {
			buf_reset(lp);
			if (lp_write_record(rec, -5, lp) == 0) {
				struct lp_parser ps;
				struct rum_error err = {0};
				lp_parser_init(&ps, lp->p, lp->len, LP_NS, 0);
				int r = lp_next(&ps, pt, &err);
				if (r == 1) {
					if (pt->ntags > rec->ntags || pt->nfields > rec->nfields ||
					    pt->nfields == 0 ||
					    pt->time_ns != (rec->has_time ? rec->time : -5))
						abort();
					if (lp_next(&ps, pt, &err) != 0)
						abort();
				} else if (r != -1 || !strstr(err.msg, "duplicate")) {
					abort();
				}
			}
		}
		p = nl ? nl + 1 : end;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lp_point pt, pt2;
	static struct record rec;
	static struct buf j1, j2, lp, tmp;
	struct lp_parser ps, ps2;
	struct rum_error err = {0};
	struct rum_error rerr = {0};
	enum lp_precision prec = precs[size % 7];
	const struct lp_tag_set set = {"ip", "203.0.113.7", 11};
	int r;

	lp_parser_init(&ps, (const char *)data, size, prec, 1636524705407000000);
	while ((r = lp_next(&ps, &pt, &err)) == 1) {
		if (pt.nfields == 0 || pt.meas_len == 0)
			abort();
		/* The raw keys compare equal to their unescaped form. */
		for (size_t i = 0; i < pt.ntags; i++) {
			buf_reset(&tmp);
			if (lp_unescape(&tmp, pt.tags[i].key, pt.tags[i].key_len, 0) < 0)
				abort();
			const char *k = buf_cstr(&tmp);
			if (!k)
				abort();
			if (!memchr(tmp.p, 0, tmp.len) &&
			    !lp_key_eq(pt.tags[i].key, pt.tags[i].key_len, k))
				abort();
		}
		/* rum-listen adds the ip tag; records take at most REC_MAX_TAGS. */
		size_t nset = pt.ntags < REC_MAX_TAGS ? 1 : 0;
		buf_reset(&j1);
		if (lp_point_to_json(&pt, &set, nset, &j1) < 0)
			abort();
		if (rec_parse_line(&rec, j1.p, j1.len, &rerr) < 0)
			abort();
		if (rec.nfields != pt.nfields || rec.ntags < pt.ntags || !rec.has_time ||
		    rec.time != pt.time_ns)
			abort();
		buf_reset(&lp);
		if (lp_write_record(&rec, 0, &lp) < 0)
			abort();
		if (lp.len == 0 || lp.p[lp.len - 1] != '\n')
			abort();
		lp_parser_init(&ps2, lp.p, lp.len, LP_NS, 0);
		if (lp_next(&ps2, &pt2, &err) != 1)
			abort();
		if (pt2.nfields != pt.nfields || pt2.ntags != rec.ntags)
			abort();
		buf_reset(&j2);
		if (lp_point_to_json(&pt2, &set, nset, &j2) < 0)
			abort();
		if (j1.len != j2.len || memcmp(j1.p, j2.p, j1.len) != 0)
			abort();
		if (lp_next(&ps2, &pt2, &err) != 0)
			abort();
	}
	if (r < 0 && (!err.msg[0] || err.line == 0 || err.column == 0 || err.offset > size))
		abort();
	if (size && data[0] == '{')
		json_lines((const char *)data, size, &rec, &lp, &pt2);
	return 0;
}
