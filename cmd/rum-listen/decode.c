/* Request body decompression, bounded by the body limit so that a small
 * compressed body cannot expand without end. Decoder states live per thread
 * and are reset, not rebuilt, between requests. */
#include <brotli/decode.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#include "listen.h"
#include "perthread.h"

#define CHUNK ((size_t)64 << 10)

int decode_name(const char *s, enum body_enc *e)
{
	static const struct {
		const char *name;
		enum body_enc enc;
	} names[] = {
	    {"identity", ENC_IDENTITY}, {"gzip", ENC_GZIP}, {"x-gzip", ENC_GZIP},
	    {"deflate", ENC_DEFLATE},	{"zstd", ENC_ZSTD}, {"br", ENC_BR},
	};
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strlen(names[i].name) == n && strncasecmp(s, names[i].name, n) == 0) {
			*e = names[i].enc;
			return 0;
		}
	}
	return -1;
}

struct decoders {
	z_stream z;
	int z_ready;
	ZSTD_DCtx *zstd;
};

static void dec_destroy(void *p)
{
	struct decoders *d = p;
	if (d->z_ready)
		inflateEnd(&d->z);
	ZSTD_freeDCtx(d->zstd);
	free(d);
}

static struct perthread dec_slot = PERTHREAD_INIT(struct decoders, dec_destroy);

/* Room for the next piece of output, up to the limit (*avail bytes at
 * out->p + out->len); DEC_TOOBIG when the limit is reached. */
static int out_room(struct buf *out, size_t limit, size_t *avail)
{
	if (out->len >= limit)
		return DEC_TOOBIG;
	size_t want = limit - out->len < CHUNK ? limit - out->len : CHUNK;
	if (out->cap - out->len < want && buf_reserve(out, want) < 0)
		return DEC_NOMEM;
	*avail = out->cap - out->len;
	if (*avail > limit - out->len)
		*avail = limit - out->len;
	return DEC_OK;
}

static int zlib_run(struct decoders *d, int bits, const char *in, size_t n, size_t limit,
		    struct buf *out, const char **why)
{
	if (!d->z_ready) {
		memset(&d->z, 0, sizeof d->z);
		if (inflateInit2(&d->z, bits) != Z_OK)
			return DEC_NOMEM;
		d->z_ready = 1;
	} else if (inflateReset2(&d->z, bits) != Z_OK) {
		return DEC_NOMEM;
	}
	z_stream *z = &d->z;
	const char *end = in + n;
	z->next_in = (Bytef *)(uintptr_t)in;
	for (;;) {
		size_t left = (size_t)(end - (const char *)z->next_in);
		size_t avail = 0;
		unsigned char probe;
		int g = out_room(out, limit, &avail);
		int probing = g == DEC_TOOBIG;
		if (g != DEC_OK && !probing)
			return g;
		/* At the limit, one more byte of output would be too much;
		 * the stream may still end there. */
		if (probing) {
			z->next_out = &probe;
			z->avail_out = 1;
		} else {
			z->next_out = (Bytef *)out->p + out->len;
			z->avail_out = avail > UINT32_MAX ? UINT32_MAX : (uInt)avail;
		}
		z->avail_in = left > UINT32_MAX ? UINT32_MAX : (uInt)left;
		int rc = inflate(z, Z_NO_FLUSH);
		if (probing) {
			if (z->avail_out == 0)
				return DEC_TOOBIG;
		} else {
			out->len += avail - z->avail_out;
		}
		if (rc == Z_STREAM_END) {
			left = (size_t)(end - (const char *)z->next_in);
			if (!left)
				return DEC_OK;
			/* Concatenated gzip members are one body. */
			if (bits > 15) {
				if (inflateReset2(z, bits) != Z_OK)
					return DEC_NOMEM;
				continue;
			}
			*why = "data after the end of the compressed stream";
			return DEC_CORRUPT;
		}
		if (rc == Z_MEM_ERROR)
			return DEC_NOMEM;
		if (rc == Z_BUF_ERROR || (rc == Z_OK && z->avail_in == 0 && z->avail_out != 0)) {
			*why = "truncated compressed data";
			return DEC_CORRUPT;
		}
		if (rc != Z_OK) {
			*why = z->msg ? z->msg : "corrupt compressed data";
			return DEC_CORRUPT;
		}
	}
}

static int zstd_run(struct decoders *d, const char *in, size_t n, size_t limit, struct buf *out,
		    const char **why)
{
	if (!d->zstd) {
		d->zstd = ZSTD_createDCtx();
		if (!d->zstd)
			return DEC_NOMEM;
		/* A window no larger than the body limit needs: a frame asking
		 * for more could only be over the limit, and its window alone
		 * would cost that much memory. */
		int wlog = 20;
		while (wlog < 27 && ((size_t)1 << wlog) < limit)
			wlog++;
		if (ZSTD_isError(ZSTD_DCtx_setParameter(d->zstd, ZSTD_d_windowLogMax, wlog)))
			return DEC_NOMEM;
	} else if (ZSTD_isError(ZSTD_DCtx_reset(d->zstd, ZSTD_reset_session_only))) {
		return DEC_NOMEM;
	}
	ZSTD_inBuffer ib = {in, n, 0};
	size_t last = 1;
	for (;;) {
		size_t avail;
		int g = out_room(out, limit, &avail);
		if (g == DEC_TOOBIG && ib.pos == ib.size && last == 0)
			return DEC_OK;
		if (g != DEC_OK)
			return g;
		ZSTD_outBuffer ob = {out->p + out->len, avail, 0};
		last = ZSTD_decompressStream(d->zstd, &ob, &ib);
		out->len += ob.pos;
		if (ZSTD_isError(last)) {
			*why = ZSTD_getErrorName(last);
			return DEC_CORRUPT;
		}
		if (ib.pos == ib.size && ob.pos < ob.size) {
			if (last != 0) {
				*why = "truncated compressed data";
				return DEC_CORRUPT;
			}
			return DEC_OK;
		}
	}
}

static int br_run(const char *in, size_t n, size_t limit, struct buf *out, const char **why)
{
	BrotliDecoderState *s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
	if (!s)
		return DEC_NOMEM;
	const uint8_t *next_in = (const uint8_t *)in;
	size_t avail_in = n;
	int ret = DEC_OK;
	for (;;) {
		size_t avail;
		int g = out_room(out, limit, &avail);
		if (g != DEC_OK) {
			if (g == DEC_TOOBIG && BrotliDecoderIsFinished(s) && avail_in == 0)
				break;
			ret = g;
			break;
		}
		uint8_t *next_out = (uint8_t *)out->p + out->len;
		size_t avail_out = avail;
		BrotliDecoderResult r = BrotliDecoderDecompressStream(s, &avail_in, &next_in,
								      &avail_out, &next_out, NULL);
		out->len += avail - avail_out;
		if (r == BROTLI_DECODER_RESULT_SUCCESS) {
			if (avail_in) {
				*why = "data after the end of the compressed stream";
				ret = DEC_CORRUPT;
			}
			break;
		}
		if (r == BROTLI_DECODER_RESULT_ERROR) {
			*why = BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s));
			ret = DEC_CORRUPT;
			break;
		}
		if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
			*why = "truncated compressed data";
			ret = DEC_CORRUPT;
			break;
		}
	}
	BrotliDecoderDestroyInstance(s);
	return ret;
}

int decode_body(enum body_enc e, const char *in, size_t n, size_t limit, struct buf *out,
		const char **why)
{
	buf_reset(out);
	*why = "corrupt compressed data";
	if (e == ENC_BR)
		return br_run(in, n, limit, out, why);
	struct decoders *d = perthread_get(&dec_slot);
	if (!d)
		return DEC_NOMEM;
	switch (e) {
	case ENC_GZIP:
		return zlib_run(d, 15 + 16, in, n, limit, out, why);
	case ENC_DEFLATE: {
		/* HTTP's "deflate" is zlib-wrapped, but some clients send raw
		 * deflate: a zlib header is recognisable from its first two
		 * bytes (CMF/FLG check), so pick the format up front. */
		int zlib = n >= 2 && ((unsigned char)in[0] & 0x0f) == 8 &&
			   (((unsigned char)in[0] << 8) | (unsigned char)in[1]) % 31 == 0;
		return zlib_run(d, zlib ? 15 : -15, in, n, limit, out, why);
	}
	case ENC_ZSTD:
		return zstd_run(d, in, n, limit, out, why);
	default:
		if (n > limit)
			return DEC_TOOBIG;
		return buf_add(out, in, n) < 0 ? DEC_NOMEM : DEC_OK;
	}
}
