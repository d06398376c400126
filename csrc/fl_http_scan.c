/* fl_http_scan.c: byte-class scanners of the HTTP parser, scalar, SSE4.2 and AVX2.
 *
 * The three scanners find the first byte that leaves a class: token characters (methods,
 * header names), request-target characters, field-value characters. The SIMD versions are
 * compiled with __attribute__((target)) so the module builds for generic x86-64; the level is
 * chosen once at load time (CPUID), and FASTLB_SIMD=scalar|sse42|avx2 can lower it (never raise
 * it past what the CPU has). They only load whole 16/32-byte blocks inside [p, end) and finish
 * the tail with the scalar loop, so they never read past the caller's buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fl_http.h"
#include "fl_http_int.h"

#if defined(__x86_64__) || defined(__i386__)
#define FL_HTTP_X86 1
#include <immintrin.h>
#endif

/* Best level the CPU supports (CPUID through __builtin_cpu_supports); levels are ordered as
 * enum fl_http_simd, and a non-x86 machine only has the scalar one. */
static int fl_http_simd_best(void)
{
#ifdef FL_HTTP_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		return FL_HTTP_SIMD_AVX2;
	if (__builtin_cpu_supports("sse4.2"))
		return FL_HTTP_SIMD_SSE42;
#endif
	return FL_HTTP_SIMD_SCALAR;
}

/* Level asked for by FASTLB_SIMD (scalar|sse42|sse4.2|avx2), or -1 when unset or unknown. */
static int fl_http_simd_requested(void)
{
	const char *v = getenv("FASTLB_SIMD");

	if (!v || !*v)
		return -1;
	if (strcmp(v, "scalar") == 0)
		return FL_HTTP_SIMD_SCALAR;
	if (strcmp(v, "sse42") == 0 || strcmp(v, "sse4.2") == 0)
		return FL_HTTP_SIMD_SSE42;
	if (strcmp(v, "avx2") == 0)
		return FL_HTTP_SIMD_AVX2;
	return -1;
}

/* Generated from the RFC 9110 grammar; bits are FL_HTTP_C_*. */
const uint8_t fl_http_ctab[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  /* 00-0f */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  /* 10-1f */
	0x24, 0x37, 0x06, 0x25, 0x37, 0x37, 0x37, 0x37, 0x36, 0x36, 0x37, 0x37, 0x36, 0x37, 0x37, 0x26,  /* 20-2f */
	0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x36, 0x36, 0x26, 0x36, 0x26, 0x26,  /* 30-3f */
	0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,  /* 40-4f */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x36, 0x06, 0x36, 0x27, 0x37,  /* 50-5f */
	0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,  /* 60-6f */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x26, 0x27, 0x26, 0x37, 0x00,  /* 70-7f */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* 80-8f */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* 90-9f */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* a0-af */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* b0-bf */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* c0-cf */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* d0-df */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* e0-ef */
	0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24, 0x24,  /* f0-ff */
};

/* ---- scalar ---- */

#define FL_SCAN_SCALAR(name, cls)                                              \
	static const char *name(const char *p, const char *end)                \
	{                                                                      \
		while (end - p >= 4) {                                         \
			if (!fl_http_is(p[0], cls)) return p;                  \
			if (!fl_http_is(p[1], cls)) return p + 1;              \
			if (!fl_http_is(p[2], cls)) return p + 2;              \
			if (!fl_http_is(p[3], cls)) return p + 3;              \
			p += 4;                                                \
		}                                                              \
		while (p < end && fl_http_is(*p, cls))                         \
			p++;                                                   \
		return p;                                                      \
	}

FL_SCAN_SCALAR(fl_http_scan_token_scalar, FL_HTTP_C_TCHAR)
FL_SCAN_SCALAR(fl_http_scan_target_scalar, FL_HTTP_C_TARGET)
FL_SCAN_SCALAR(fl_http_scan_value_scalar, FL_HTTP_C_VALUE)

#ifdef FL_HTTP_X86

/* ---- SSE4.2: pcmpestri with the allowed byte ranges, negative polarity: the index of the first
 * byte outside every range (16 when all are inside). ---- */

#define FL_SIDD_MODE (_SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_NEGATIVE_POLARITY | _SIDD_LEAST_SIGNIFICANT)

/* tchar needs 9 ranges and pcmpestri holds 8: '|' '}' '~' are merged into one range and the
 * '}' that it wrongly admits is caught by a byte compare. */
__attribute__((target("sse4.2")))
static const char *fl_http_scan_token_sse42(const char *p, const char *end)
{
	const __m128i ranges = _mm_setr_epi8('!', '!', '#', '\'', '*', '+', '-', '.',
	                                     '0', '9', 'A', 'Z', '^', 'z', '|', '~');
	const __m128i brace = _mm_set1_epi8('}');

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)p);
		int i = _mm_cmpestri(ranges, 16, v, 16, FL_SIDD_MODE);
		unsigned br = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, brace));

		if (br) {
			int j = __builtin_ctz(br);
			if (j < i)
				i = j;
		}
		if (i != 16)
			return p + i;
		p += 16;
	}
	return fl_http_scan_token_scalar(p, end);
}

__attribute__((target("sse4.2")))
static const char *fl_http_scan_target_sse42(const char *p, const char *end)
{
	const __m128i ranges = _mm_setr_epi8(0x21, 0x22, 0x24, 0x7e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)p);
		int i = _mm_cmpestri(ranges, 4, v, 16, FL_SIDD_MODE);

		if (i != 16)
			return p + i;
		p += 16;
	}
	return fl_http_scan_target_scalar(p, end);
}

__attribute__((target("sse4.2")))
static const char *fl_http_scan_value_sse42(const char *p, const char *end)
{
	const __m128i ranges = _mm_setr_epi8(0x09, 0x09, 0x20, 0x7e, (char)0x80, (char)0xff,
	                                     0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)p);
		int i = _mm_cmpestri(ranges, 6, v, 16, FL_SIDD_MODE);

		if (i != 16)
			return p + i;
		p += 16;
	}
	return fl_http_scan_value_scalar(p, end);
}

/* ---- AVX2: 32 bytes per step. Tokens use a nibble lookup: for an ASCII byte with high nibble
 * h and low nibble l, tok_lo[l] has bit h set when the byte is a tchar, tok_hi[h] = 1 << h
 * (0 for h >= 8, so non-ASCII bytes never match). Both tables are built from fl_http_ctab. ---- */

static uint8_t fl_http_tok_lo[16], fl_http_tok_hi[16];

__attribute__((target("avx2")))
static const char *fl_http_scan_token_avx2(const char *p, const char *end)
{
	const __m256i lo_t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fl_http_tok_lo));
	const __m256i hi_t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fl_http_tok_hi));
	const __m256i m0f = _mm256_set1_epi8(0x0f);
	const __m256i zero = _mm256_setzero_si256();

	while (end - p >= 32) {
		__m256i v = _mm256_loadu_si256((const __m256i *)p);
		__m256i lo = _mm256_and_si256(v, m0f);
		__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
		__m256i ok = _mm256_and_si256(_mm256_shuffle_epi8(lo_t, lo), _mm256_shuffle_epi8(hi_t, hi));
		unsigned bad = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(ok, zero));

		if (bad)
			return p + __builtin_ctz(bad);
		p += 32;
	}
	return fl_http_scan_token_scalar(p, end);
}

/* Target: refuse <= 0x20, >= 0x7f (unsigned) and '#'. */
__attribute__((target("avx2")))
static const char *fl_http_scan_target_avx2(const char *p, const char *end)
{
	const __m256i sp = _mm256_set1_epi8(0x20);
	const __m256i del = _mm256_set1_epi8(0x7f);
	const __m256i hash = _mm256_set1_epi8('#');

	while (end - p >= 32) {
		__m256i v = _mm256_loadu_si256((const __m256i *)p);
		__m256i low = _mm256_cmpeq_epi8(_mm256_min_epu8(v, sp), v);
		__m256i high = _mm256_cmpeq_epi8(_mm256_max_epu8(v, del), v);
		__m256i bad = _mm256_or_si256(_mm256_or_si256(low, high), _mm256_cmpeq_epi8(v, hash));
		unsigned mask = (unsigned)_mm256_movemask_epi8(bad);

		if (mask)
			return p + __builtin_ctz(mask);
		p += 32;
	}
	return fl_http_scan_target_scalar(p, end);
}

/* Value: refuse control characters but HTAB: <= 0x1f except 0x09, and 0x7f. */
__attribute__((target("avx2")))
static const char *fl_http_scan_value_avx2(const char *p, const char *end)
{
	const __m256i c1f = _mm256_set1_epi8(0x1f);
	const __m256i tab = _mm256_set1_epi8(0x09);
	const __m256i del = _mm256_set1_epi8(0x7f);

	while (end - p >= 32) {
		__m256i v = _mm256_loadu_si256((const __m256i *)p);
		__m256i ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(v, c1f), v);
		__m256i bad = _mm256_or_si256(_mm256_andnot_si256(_mm256_cmpeq_epi8(v, tab), ctl),
		                              _mm256_cmpeq_epi8(v, del));
		unsigned mask = (unsigned)_mm256_movemask_epi8(bad);

		if (mask)
			return p + __builtin_ctz(mask);
		p += 32;
	}
	return fl_http_scan_value_scalar(p, end);
}

#endif /* FL_HTTP_X86 */

struct fl_http_scanners fl_http_scan = {
	fl_http_scan_token_scalar, fl_http_scan_target_scalar, fl_http_scan_value_scalar, FL_HTTP_SIMD_SCALAR
};

static void fl_http_scan_select(int level)
{
	switch (level) {
#ifdef FL_HTTP_X86
	case FL_HTTP_SIMD_AVX2:
		fl_http_scan.token = fl_http_scan_token_avx2;
		fl_http_scan.target = fl_http_scan_target_avx2;
		fl_http_scan.value = fl_http_scan_value_avx2;
		break;
	case FL_HTTP_SIMD_SSE42:
		fl_http_scan.token = fl_http_scan_token_sse42;
		fl_http_scan.target = fl_http_scan_target_sse42;
		fl_http_scan.value = fl_http_scan_value_sse42;
		break;
#endif
	default:
		level = FL_HTTP_SIMD_SCALAR;
		fl_http_scan.token = fl_http_scan_token_scalar;
		fl_http_scan.target = fl_http_scan_target_scalar;
		fl_http_scan.value = fl_http_scan_value_scalar;
	}
	fl_http_scan.level = level;
}

/* Runs when the shared object is loaded, before any parse. */
__attribute__((constructor))
void fl_http_scan_init(void)
{
	int best = fl_http_simd_best();
	int want = fl_http_simd_requested();

	for (int h = 0; h < 16; h++) {
		fl_http_tok_hi[h] = h < 8 ? (uint8_t)(1u << h) : 0;
		fl_http_tok_lo[h] = 0;
	}
	for (int c = 0; c < 128; c++)
		if (fl_http_ctab[c] & FL_HTTP_C_TCHAR)
			fl_http_tok_lo[c & 15] |= (uint8_t)(1u << (c >> 4));
	fl_http_scan_select(want >= 0 && want < best ? want : best);
}

int fl_http_simd_level(void)
{
	return fl_http_scan.level;
}

const char *fl_http_simd_name(int level)
{
	switch (level) {
	case FL_HTTP_SIMD_AVX2: return "avx2";
	case FL_HTTP_SIMD_SSE42: return "sse4.2";
	default: return "scalar";
	}
}

int fl_http_simd_force(int level)
{
	int best = fl_http_simd_best();

	fl_http_scan_select(level < 0 ? best : (level > best ? best : level));
	return fl_http_scan.level;
}
