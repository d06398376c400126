/* fl_http_int.h: internals shared by the parser's C files (not part of the API). */
#ifndef FL_HTTP_INT_H
#define FL_HTTP_INT_H

#include <stdint.h>
#include "fl_http-t.h"

#define fl_likely(x)   __builtin_expect(!!(x), 1)
#define fl_unlikely(x) __builtin_expect(!!(x), 0)

/* Character classes (fl_http_ctab). */
#define FL_HTTP_C_TCHAR   0x01u  /* token: RFC 9110 5.6.2 */
#define FL_HTTP_C_TARGET  0x02u  /* request target: VCHAR except '#' (HAProxy 2.6 refuses '#') */
#define FL_HTTP_C_VALUE   0x04u  /* field value: VCHAR, SP, HTAB, obs-text */
#define FL_HTTP_C_HEX     0x08u
#define FL_HTTP_C_HOST    0x10u  /* Host: unreserved, sub-delims, ':', '[', ']', '%' */
#define FL_HTTP_C_QDTEXT  0x20u  /* quoted-string text: HTAB, SP, VCHAR but '"' '\\', obs-text */
#define FL_HTTP_C_DIGIT   0x40u

extern const uint8_t fl_http_ctab[256];

#define fl_http_is(c, cls) (fl_http_ctab[(unsigned char)(c)] & (cls))

/* Scanners: return the first byte in [p, end) outside the class, or end. */
typedef const char *(*fl_http_scan_fn)(const char *p, const char *end);
struct fl_http_scanners {
	fl_http_scan_fn token;   /* FL_HTTP_C_TCHAR */
	fl_http_scan_fn target;  /* FL_HTTP_C_TARGET */
	fl_http_scan_fn value;   /* FL_HTTP_C_VALUE */
	int level;               /* enum fl_http_simd */
};
extern struct fl_http_scanners fl_http_scan;

void fl_http_scan_init(void);

/* Message semantics, run once the head is complete (fl_http_sem.c). */
int fl_http_sem_request(const char *buf, struct fl_http_msg *m);
int fl_http_sem_response(const char *buf, struct fl_http_msg *m, int req_method);

/* Case-insensitive compare of p[0..n) against a lowercase literal made of letters, digits and
 * '-': OR-ing 0x20 folds the case of letters and leaves digits and '-' alone; no other byte a
 * token may hold maps onto them. */
static inline int fl_http_ieq(const char *p, const char *lower, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)(p[i] | 0x20) != (unsigned char)lower[i])
			return 0;
	return 1;
}

static inline int fl_http_set_error(struct fl_http_msg *m, int err, const char *buf, const char *at)
{
	m->error = (uint8_t)err;
	m->error_off = (uint32_t)(at - buf);
	return FL_HTTP_INVALID;
}

#endif /* FL_HTTP_INT_H */
