/* gzip of whole batches. One z_stream is kept and reset per batch, so the
 * deflate state (a few hundred KB) is allocated once. */
#include <stdlib.h>
#include <zlib.h>

#include "ship.h"

struct gz {
	z_stream zs;
};

struct gz *gz_new(int level)
{
	struct gz *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	/* windowBits 15 + 16: a gzip header and trailer rather than zlib's. */
	if (deflateInit2(&g->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		return NULL;
	}
	return g;
}

void gz_free(struct gz *g)
{
	if (!g)
		return;
	deflateEnd(&g->zs);
	free(g);
}

int gz_compress(struct gz *g, const char *in, size_t n, struct buf *out)
{
	if (deflateReset(&g->zs) != Z_OK)
		return -1;
	/* deflateBound takes a uLong; feed at most 1 GiB per call so the
	 * uInt counters never wrap, and grow the output as needed. */
	const size_t chunk = (size_t)1 << 30;
	size_t done = 0;
	int flush;
	do {
		size_t take = n - done > chunk ? chunk : n - done;
		flush = done + take == n ? Z_FINISH : Z_NO_FLUSH;
		g->zs.next_in = (Bytef *)(in + done);
		g->zs.avail_in = (uInt)take;
		done += take;
		int zr;
		do {
			size_t want = deflateBound(&g->zs, g->zs.avail_in) + 64;
			if (want > chunk)
				want = chunk;
			if (buf_reserve(out, want) < 0)
				return -1;
			g->zs.next_out = (Bytef *)(out->p + out->len);
			g->zs.avail_out =
			    (uInt)(out->cap - out->len > chunk ? chunk : out->cap - out->len);
			uInt before = g->zs.avail_out;
			zr = deflate(&g->zs, flush);
			if (zr == Z_STREAM_ERROR)
				return -1;
			out->len += before - g->zs.avail_out;
			if (flush == Z_FINISH && zr == Z_STREAM_END)
				break;
		} while (g->zs.avail_in > 0 || g->zs.avail_out == 0 || (flush == Z_FINISH));
	} while (flush != Z_FINISH);
	return 0;
}
