/* fl_http.h: HTTP/1.x parser, stateless and zero-copy (types in fl_http-t.h).
 *
 * Strict by default, as a proxy at an edge must be (RFC 9110/9112): tokens in methods and
 * header names, no whitespace before a header's colon, no control characters in values, no
 * obs-fold in requests, bare LF only as a line end of the start line and header lines, head
 * size and header count limits. The message semantics (Content-Length, Transfer-Encoding,
 * Connection, Expect, Upgrade, Host against an absolute target) are derived in the same call.
 *
 * Every function is reentrant and allocation-free; the only global is the SIMD scanner choice,
 * made once when the library loads (CPUID, FASTLB_SIMD=scalar|sse42|avx2 can lower it).
 */
#ifndef FL_HTTP_H
#define FL_HTTP_H

#include <sys/types.h>
#include "fl_http-t.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Set hdrs/hdr_cap and clear everything else. */
void fl_http_msg_init(struct fl_http_msg *m, struct fl_http_hdr *hdrs, uint16_t hdr_cap);
/* Clear the results and incremental state, keep the header array: before the next message. */
void fl_http_msg_reset(struct fl_http_msg *m);
void fl_http_limits_default(struct fl_http_limits *lim);

/* Parse a request head from buf[0..len). Returns the head length (bytes consumed, > 0),
 * FL_HTTP_INCOMPLETE or FL_HTTP_INVALID (m->error, m->error_off). Leading empty lines before
 * the request line are skipped, as RFC 9112 2.2 asks. */
int fl_http_parse_request(const char *buf, size_t len, struct fl_http_msg *m,
                          const struct fl_http_limits *lim);

/* Parse a response head; req_method (enum fl_http_meth) is the method of the request it
 * answers, which decides the body kind (HEAD, CONNECT). */
int fl_http_parse_response(const char *buf, size_t len, struct fl_http_msg *m, int req_method,
                           const struct fl_http_limits *lim);

/* Parse a header block alone (field lines through the empty line), e.g. a trailer section or
 * a message/http fragment. No start line, no semantics: fields and ids only. */
int fl_http_parse_headers(const char *buf, size_t len, struct fl_http_msg *m,
                          const struct fl_http_limits *lim);

/* Replace the CR and LF bytes of a folded response value by spaces, in place (RFC 9112 5.2:
 * a proxy forwarding obs-fold replaces each one with SP). No-op for unfolded headers. */
void fl_http_unfold(char *buf, const struct fl_http_hdr *h);

/* Find a header by id from index 'from'; returns its index or -1. */
int fl_http_find_hdr(const struct fl_http_msg *m, int id, int from);

/* Error texts and the status a proxy answers an invalid request with. */
const char *fl_http_error_str(int err);
const char *fl_http_error_name(int err);
int fl_http_error_status(int err);
const char *fl_http_method_str(int method);
const char *fl_http_hdr_name(int id);

/* Chunked transfer coding, incremental. fl_http_chunked_feed() consumes in[0..in_len) and, if
 * out is not NULL, writes the chunk data to out (out may alias in: data only ever moves
 * towards the start; out needs room for in_len bytes). Returns 0 at the end of the body
 * (trailer section included; *in_used is where the body ends), FL_HTTP_INCOMPLETE when all input
 * was consumed and more is needed, FL_HTTP_INVALID (d->error). With out == NULL it only
 * validates and finds the end: a proxy forwarding chunks unchanged uses it that way. */
void fl_http_chunked_init(struct fl_http_chunked *d);
int fl_http_chunked_feed(struct fl_http_chunked *d, const char *in, size_t in_len, size_t *in_used,
                         char *out, size_t *out_len);
/* In-place form (picohttpparser's shape): decodes buf[0..*len) to its start and sets *len to the
 * decoded size. Returns the number of bytes after the end of the body (they follow the decoded
 * data, moved down), FL_HTTP_INCOMPLETE or FL_HTTP_INVALID. */
ssize_t fl_http_decode_chunked(struct fl_http_chunked *d, char *buf, size_t *len);

/* SIMD scanner in use, chosen when the library loads: the best the CPU has (CPUID), or a lower
 * one named by FASTLB_SIMD=scalar|sse42|avx2. Force another (tests, benchmarks): returns the
 * level applied, never one the CPU lacks. */
int fl_http_simd_level(void);
const char *fl_http_simd_name(int level);
int fl_http_simd_force(int level);

/* Bytes the head parsers of this copy of the library examined so far (an upper bound, all
 * calls together): tests use it to check that resumed parsing is linear. */
uint64_t fl_http_scan_count(void);

/* Size of a parsed head in HAProxy 2.6's internal form (HTX), the size HAProxy compares with
 * tune.bufsize - tune.maxrewrite when it takes a head in: the start line's parts without their
 * separators, each header's name and value (without the whitespace around it) plus 8 bytes,
 * and 85 bytes of fixed overhead, as measured against haproxy 2.6.12. Content-Length headers
 * dropped beside chunked are not counted. A proxy enforces this on complete heads; the parse
 * limit (max_head) stays on raw bytes, which never exceed this size for the same head but for
 * unusual whitespace. */
uint32_t fl_http_htx_size(const struct fl_http_msg *m);

/* Sanitizers this copy was built with, as a -fsanitize list ("address,undefined"), "" if none. */
const char *fl_http_build_sanitizers(void);

/* Benchmark helpers: parse the same head n times in a C loop; return the last result. */
int fl_http_bench_parse_request(const char *buf, size_t len, struct fl_http_msg *m, long n);
int fl_http_bench_parse_response(const char *buf, size_t len, struct fl_http_msg *m, long n);

#ifdef __cplusplus
}
#endif
#endif /* FL_HTTP_H */
