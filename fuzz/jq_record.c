/* Fuzz rum-jq's writer of what a jq program emits (cmd/rum-jq/jvrec.c).
 * The input is a JSON value (what a program might emit),
 * then optionally a newline and the record the program was given. Whatever
 * the writer accepts must be a record to the codec (it checks that itself)
 * and must read back, through jq's parser, as the same measurement, tags,
 * fields and time. */
#include <jv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "jvrec.h"
#include "record.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct jvrec w;
static struct record orig;
static struct buf out;

static void same_member(jv a, jv b, const char *key)
{
	jv x = jv_object_get(jv_copy(a), jv_string(key));
	jv y = jv_object_get(jv_copy(b), jv_string(key));
	CHECK(jv_equal(x, y));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	size_t vlen = nl ? (size_t)(nl - p) : size;
	struct rum_error err;
	const struct record *o = NULL;
	if (nl && rec_parse_line(&orig, nl + 1, size - vlen - 1, &err) == 0)
		o = &orig;
	/* rum-jq hands libjq only records the codec accepted: valid JSON.
	 * (jq 1.6's parser leaks a string that follows a value without a
	 * separator; that is its bug, on input rum-jq never gives it.) */
	struct json_fail jf;
	const char *b = json_skip_ws(p, p + vlen);
	const char *e = b < p + vlen ? json_skip_value(b, p + vlen, 0, 64, JSON_UTF8, &jf) : NULL;
	if (!e || json_skip_ws(e, p + vlen) != p + vlen)
		return 0;
	jv v = jvrec_parse(p, vlen);
	if (!jv_is_valid(v)) {
		jv_free(v);
		return 0;
	}
	out.len = 0;
	out.err = 0;
	buf_addc(&out, 'x'); /* the writer appends */
	if (jvrec_write(&w, v, o, &out, &err) == 0) {
		CHECK(out.len > 1 && out.p[1] == '{' && out.p[out.len - 1] == '}');
		jv back = jvrec_parse(out.p + 1, out.len - 1);
		CHECK(jv_is_valid(back));
		same_member(v, back, "measurement");
		same_member(v, back, "tags");
		same_member(v, back, "fields");
		same_member(v, back, "time");
		jv_free(back);
	} else {
		CHECK(out.len == 1);
		CHECK(err.msg[0] != 0);
	}
	jv_free(v);
	return 0;
}
