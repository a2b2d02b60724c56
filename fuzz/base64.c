/* Base64: whatever the input, the scalar and the vector decoders agree
 * (both refuse it, or both give the same bytes); encoding the input and
 * decoding that gives the input back, by either path, and the decoded
 * length is the one base64_decoded_len predicts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf s = BUF_INIT, v = BUF_INIT, enc = BUF_INIT, es = BUF_INIT;
	const char *in = (const char *)data;

	base64_set_vector(0);
	int rs = base64_decode(&s, in, size);
	base64_set_vector(1);
	int rv = base64_decode(&v, in, size);
	if (rs != rv || (rs == 0 && (s.len != v.len || (s.len && memcmp(s.p, v.p, s.len) != 0))))
		abort();

	if (base64_encode(&enc, data, size) < 0)
		abort();
	base64_set_vector(0);
	if (base64_encode(&es, data, size) < 0)
		abort();
	base64_set_vector(1);
	if (es.len != enc.len || (enc.len && memcmp(es.p, enc.p, enc.len) != 0))
		abort();
	if (base64_decoded_len(enc.p, enc.len) != size)
		abort();
	for (int vec = 0; vec <= 1; vec++) {
		base64_set_vector(vec);
		buf_reset(&s);
		if (base64_decode(&s, enc.p, enc.len) < 0 || s.len != size ||
		    (size && memcmp(s.p, data, size) != 0))
			abort();
	}
	base64_set_vector(1);
	buf_free(&s);
	buf_free(&v);
	buf_free(&enc);
	buf_free(&es);
	return 0;
}
