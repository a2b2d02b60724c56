/* Base64: whatever the input, the scalar and vector (SSSE3, AVX2) decoders agree
 * (both refuse it, or both give the same bytes); encoding the input and
 * decoding that gives the input back, by either path, and the decoded
 * length is the one base64_decoded_len predicts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf s = BUF_INIT, v = BUF_INIT, enc = BUF_INIT, es = BUF_INIT;
	const char *in = (const char *)data;

	/* decoding arbitrary text: every level as the portable path */
	base64_set_vector(0);
	int rs = base64_decode(&s, in, size);
	for (int level = 1; level <= 2; level++) {
		buf_reset(&v);
		base64_set_vector(level);
		int rv = base64_decode(&v, in, size);
		if (rs != rv || (rs == 0 && !same(&s, &v)))
			abort();
	}

	/* encoding: every level the same text, which decodes back at every
	 * level to the input */
	base64_set_vector(0);
	if (base64_encode(&es, data, size) < 0)
		abort();
	for (int level = 1; level <= 2; level++) {
		buf_reset(&enc);
		base64_set_vector(level);
		if (base64_encode(&enc, data, size) < 0 || !same(&es, &enc))
			abort();
	}
	if (base64_decoded_len(enc.p, enc.len) != size)
		abort();
	for (int level = 0; level <= 2; level++) {
		base64_set_vector(level);
		buf_reset(&s);
		if (base64_decode(&s, enc.p, enc.len) < 0 || s.len != size ||
		    (size && memcmp(s.p, data, size) != 0))
			abort();
	}
	base64_set_vector(2);
	buf_free(&s);
	buf_free(&v);
	buf_free(&enc);
	buf_free(&es);
	return 0;
}
