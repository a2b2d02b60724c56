#include "base64.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define B64_X86 1
#include <immintrin.h>
#endif

static const char enc_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0-63 for the digits of both alphabets, 64 for '=', 255 for the rest: a
 * group of digits is valid when none has a bit of 0xc0. */
static const unsigned char dec_tab[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 62,  255, 62,  255, 63,  52,  53,	54,  55,  56,  57,  58,	 59,  60,
    61,	 255, 255, 255, 64,  255, 255, 255, 0,	 1,   2,   3,	4,   5,	  6,   7,   8,	 9,   10,
    11,	 12,  13,  14,	15,  16,  17,  18,  19,	 20,  21,  22,	23,  24,  25,  255, 255, 255, 255,
    63,	 255, 26,  27,	28,  29,  30,  31,  32,	 33,  34,  35,	36,  37,  38,  39,  40,	 41,  42,
    43,	 44,  45,  46,	47,  48,  49,  50,  51,	 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255,
};

/* What the CPU has (-1: not looked yet; 0: neither; 1: SSSE3; 2: AVX2 too)
 * and the most tests allow. Relaxed atomics: every thread that looks finds
 * the same. */
static int cpu_level = -1;
static int max_level = 2;

int base64_vector(void)
{
	int v = __atomic_load_n(&cpu_level, __ATOMIC_RELAXED);
	if (v < 0) {
#ifdef B64_X86
		__builtin_cpu_init();
		v = __builtin_cpu_supports("avx2") ? 2 : __builtin_cpu_supports("ssse3") ? 1 : 0;
#else
		v = 0;
#endif
		__atomic_store_n(&cpu_level, v, __ATOMIC_RELAXED);
	}
	int m = __atomic_load_n(&max_level, __ATOMIC_RELAXED);
	return v < m ? v : m;
}

void base64_set_vector(int level)
{
	__atomic_store_n(&max_level, level < 0 ? 0 : level, __ATOMIC_RELAXED);
}

#ifdef B64_X86
/* Wojciech Muła's SSSE3 encoding: 12 bytes → 16 digits a step (reading 16
 * bytes, writing only the 16 digits). Returns the bytes consumed (a multiple
 * of 12). */
__attribute__((target("ssse3"))) static size_t enc_ssse3(const unsigned char *s, size_t n, char *o)
{
	const __m128i spread = _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
	const __m128i shift_lut =
	    _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			  '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
	size_t i = 0;
	for (; i + 16 <= n; i += 12, o += 16) {
		__m128i in = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		in = _mm_shuffle_epi8(in, spread);
		/* each 32-bit lane holds 3 bytes; move each 6-bit index to a byte */
		__m128i t0 = _mm_and_si128(in, _mm_set1_epi32(0x0fc0fc00));
		__m128i t1 = _mm_mulhi_epu16(t0, _mm_set1_epi32(0x04000040));
		__m128i t2 = _mm_and_si128(in, _mm_set1_epi32(0x003f03f0));
		__m128i t3 = _mm_mullo_epi16(t2, _mm_set1_epi32(0x01000010));
		__m128i idx = _mm_or_si128(t1, t3);
		/* index → offset to its digit: 0..25 → 13, 26..51 → 0,
		 * 52..61 → 1..10, 62 → 11, 63 → 12 */
		__m128i r = _mm_subs_epu8(idx, _mm_set1_epi8(51));
		__m128i less = _mm_cmpgt_epi8(_mm_set1_epi8(26), idx);
		r = _mm_or_si128(r, _mm_and_si128(less, _mm_set1_epi8(13)));
		r = _mm_add_epi8(_mm_shuffle_epi8(shift_lut, r), idx);
		_mm_storeu_si128((__m128i *)(void *)o, r);
	}
	return i;
}

/* enc_ssse3 on 24 bytes a step, each half in a 128-bit lane (reading 28
 * bytes, writing 32 digits). Returns the bytes consumed. */
__attribute__((target("avx2"))) static size_t enc_avx2(const unsigned char *s, size_t n, char *o)
{
	const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
						1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
	const __m256i shift_lut =
	    _mm256_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			     '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0,
			     'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			     '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
	size_t i = 0;
	for (; i + 28 <= n; i += 24, o += 32) {
		__m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 12));
		__m256i in = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
		in = _mm256_shuffle_epi8(in, spread);
		__m256i t0 = _mm256_and_si256(in, _mm256_set1_epi32(0x0fc0fc00));
		__m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
		__m256i t2 = _mm256_and_si256(in, _mm256_set1_epi32(0x003f03f0));
		__m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
		__m256i idx = _mm256_or_si256(t1, t3);
		__m256i r = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
		__m256i less = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx);
		r = _mm256_or_si256(r, _mm256_and_si256(less, _mm256_set1_epi8(13)));
		r = _mm256_add_epi8(_mm256_shuffle_epi8(shift_lut, r), idx);
		_mm256_storeu_si256((__m256i *)(void *)o, r);
	}
	return i;
}

/* dec_ssse3 on 32 digits a step (24 bytes, 32 written). */
__attribute__((target("avx2"))) static size_t dec_avx2(const unsigned char *s, size_t n,
						       unsigned char *o)
{
	const __m256i lut_lo =
	    _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
			     0x1B, 0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
			     0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
	const __m256i lut_hi =
	    _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
			     0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
			     0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	const __m256i lut_roll =
	    _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4,
			     -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m256i nib = _mm256_set1_epi8(0x0f);
	const __m256i slash = _mm256_set1_epi8('/');
	const __m256i pack =
	    _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5,
			     4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
	const __m256i join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
	size_t i = 0;
	for (; i + 32 <= n; i += 32, o += 24) {
		__m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
		__m256i hi = _mm256_and_si256(_mm256_srli_epi32(c, 4), nib);
		__m256i lo = _mm256_and_si256(c, nib);
		__m256i bad = _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo),
					       _mm256_shuffle_epi8(lut_hi, hi));
		if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(bad, _mm256_setzero_si256())) != -1)
			break;
		__m256i roll =
		    _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(_mm256_cmpeq_epi8(c, slash), hi));
		__m256i v = _mm256_add_epi8(c, roll);
		v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
		v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
		v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pack), join);
		_mm256_storeu_si256((__m256i *)(void *)o, v);
	}
	return i;
}

/* Alfred Klomp's SSSE3 decoding with validation: 16 digits of the
 * standard alphabet → 12 bytes a step (16 written). Stops at the first
 * block holding anything else. Returns the digits consumed (a multiple of
 * 16). */
__attribute__((target("ssse3"))) static size_t dec_ssse3(const unsigned char *s, size_t n,
							 unsigned char *o)
{
	/* a byte is a digit when lut_lo[low nibble] & lut_hi[high nibble] is 0 */
	const __m128i lut_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
					     0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
	const __m128i lut_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10,
					     0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	/* what to add to a digit by its high nibble ('/' apart) */
	const __m128i lut_roll =
	    _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m128i nib = _mm_set1_epi8(0x0f);
	const __m128i slash = _mm_set1_epi8('/');
	const __m128i pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
	size_t i = 0;
	for (; i + 16 <= n; i += 16, o += 12) {
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i hi = _mm_and_si128(_mm_srli_epi32(c, 4), nib);
		__m128i lo = _mm_and_si128(c, nib);
		__m128i bad =
		    _mm_and_si128(_mm_shuffle_epi8(lut_lo, lo), _mm_shuffle_epi8(lut_hi, hi));
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(bad, _mm_setzero_si128())) != 0xffff)
			break;
		__m128i roll =
		    _mm_shuffle_epi8(lut_roll, _mm_add_epi8(_mm_cmpeq_epi8(c, slash), hi));
		__m128i v = _mm_add_epi8(c, roll);
		/* 4 × 6 bits → 24 bits a lane, big-endian bytes out */
		v = _mm_maddubs_epi16(v, _mm_set1_epi32(0x01400140));
		v = _mm_madd_epi16(v, _mm_set1_epi32(0x00011000));
		v = _mm_shuffle_epi8(v, pack);
		_mm_storeu_si128((__m128i *)(void *)o, v);
	}
	return i;
}
#endif

int base64_encode(struct buf *out, const void *p, size_t n)
{
	size_t need = (n + 2) / 3 * 4;
	if (buf_reserve(out, need) < 0)
		return -1;
	const unsigned char *s = p;
	char *o = out->p + out->len;
	size_t i = 0;
#ifdef B64_X86
	int level = base64_vector();
	if (level >= 2) {
		i = enc_avx2(s, n, o);
		o += i / 3 * 4;
	}
	if (level >= 1) {
		size_t k = enc_ssse3(s + i, n - i, o);
		i += k;
		o += k / 3 * 4;
	}
#endif
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		o[0] = enc_tab[v >> 18];
		o[1] = enc_tab[v >> 12 & 63];
		o[2] = enc_tab[v >> 6 & 63];
		o[3] = enc_tab[v & 63];
		o += 4;
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		o[0] = enc_tab[v >> 18];
		o[1] = enc_tab[v >> 12 & 63];
		o[2] = i + 1 < n ? enc_tab[v >> 6 & 63] : '=';
		o[3] = '=';
	}
	out->len += need;
	return 0;
}

int base64_decode(struct buf *out, const char *s, size_t n)
{
	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	if (buf_reserve(out, n / 4 * 3 + 2) < 0)
		return -1;
	const unsigned char *p = (const unsigned char *)s;
	unsigned char *o = (unsigned char *)out->p + out->len;
	size_t full = n / 4 * 4, i = 0;
	/* The vector path writes 16 bytes for 12: it stops 8 digits short of
	 * the end so that it never writes past the decoded bytes. */
	size_t vec_end = full >= 8 ? full - 8 : 0;
	/* and AVX2 writes 32 for 24 */
	size_t avx_end = full >= 16 ? full - 16 : 0;
#ifdef B64_X86
	int vec = base64_vector();
#else
	int vec = 0;
#endif
	while (i < full) {
#ifdef B64_X86
		if (vec >= 2) {
			size_t k = dec_avx2(p + i, avx_end > i ? avx_end - i : 0, o);
			i += k;
			o += k / 4 * 3;
		}
		if (vec) {
			size_t k = dec_ssse3(p + i, vec_end > i ? vec_end - i : 0, o);
			i += k;
			o += k / 4 * 3;
			if (i == full)
				break;
		}
#endif
		/* the vector path stopped at a block with URL-safe digits (or
		 * an error): that block one group at a time, then on */
		size_t stop = vec && full - i > 16 ? i + 16 : full;
		for (; i < stop; i += 4) {
			unsigned a = dec_tab[p[i]], b = dec_tab[p[i + 1]], c = dec_tab[p[i + 2]],
				 d = dec_tab[p[i + 3]];
			if ((a | b | c | d) & 0xc0)
				return -1;
			uint32_t v = a << 18 | b << 12 | c << 6 | d;
			o[0] = (unsigned char)(v >> 16);
			o[1] = (unsigned char)(v >> 8);
			o[2] = (unsigned char)v;
			o += 3;
		}
	}
	if (n - full >= 2) {
		unsigned a = dec_tab[p[full]], b = dec_tab[p[full + 1]];
		unsigned c = n - full == 3 ? dec_tab[p[full + 2]] : 0;
		if ((a | b | c) & 0xc0)
			return -1;
		uint32_t v = a << 18 | b << 12 | c << 6;
		*o++ = (unsigned char)(v >> 16);
		if (n - full == 3)
			*o++ = (unsigned char)(v >> 8);
	}
	out->len = (size_t)((char *)o - out->p);
	return 0;
}

size_t base64_decoded_len(const char *s, size_t n)
{
	size_t pad = 0;
	while (n > 0 && pad < 2 && s[n - 1] == '=')
		n--, pad++;
	return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}
