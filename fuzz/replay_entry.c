/* rum-ship's session_replay record → upload: any record is turned into a
 * queue entry or refused without crashing; an entry reads back into parts
 * that stay inside it, whose header lines cannot break a request (no CR, no
 * NUL, one line each) and whose X-Global-Tags needs no escaping. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ship.h"

static void check_line(const char *p, size_t n, int allow_nl)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\0' || (!allow_nl && p[i] == '\n'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	static struct replay_builder rb;
	struct record rec;
	struct rum_error err = {0};
	struct buf out = BUF_INIT;
	memset(&rec, 0, sizeof rec);
	struct rum_error why;
	if (rec_parse_line(&rec, p, size, &err) == 0 &&
	    replay_entry_build(&rb, &rec, &out, &why) == 0) {
		struct replay_entry e;
		if (replay_entry_parse(out.p, out.len, &e) < 0)
			abort();
		if (e.body + e.body_len != out.p + out.len || e.ct_len == 0)
			abort();
		check_line(e.ct, e.ct_len, 0);
		check_line(e.hdrs, e.hdrs_len, 1);
		if (e.hdrs_len && e.hdrs[e.hdrs_len - 1] != '\n')
			abort();
		for (size_t i = 0; i < e.xgt_len; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
				    "-._~%=,",
				    e.xgt[i]) ||
			    e.xgt[i] == '\0')
				abort();
	}
	/* the entry parser alone, on anything */
	struct replay_entry e;
	if (replay_entry_parse(p, size, &e) == 0 && e.body + e.body_len != p + size)
		abort();
	buf_free(&out);
	rec_free(&rec);
	free(p);
	return 0;
}
