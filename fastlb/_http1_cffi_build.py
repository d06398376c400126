"""cffi API-mode binding of the C HTTP/1 parser (``fastlb._http1_cffi``), for tools, tests and
fuzzing. The proxy's hot path uses the Cython declarations of the same header instead
(``fastlb/_fl_http.pxd``), which cost far less per call."""
from __future__ import annotations

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CSRC = os.path.join(ROOT, "csrc")

#: The C files of the parser, relative to the project root (setup.py runs from there).
SOURCES = ["csrc/fl_http.c", "csrc/fl_http_sem.c", "csrc/fl_http_chunked.c", "csrc/fl_http_scan.c"]

CDEF = """
#define FL_HTTP_INVALID ...
#define FL_HTTP_INCOMPLETE ...
#define FL_HTTP_DEFAULT_MAX_HEAD ...
#define FL_HTTP_DEFAULT_MAXHDR ...
#define FL_HTTP_HF_FOLDED ...
#define FL_HTTP_HF_DROP ...
#define FL_HTTP_F_KEEPALIVE ...
#define FL_HTTP_F_UPGRADE ...
#define FL_HTTP_F_WEBSOCKET ...
#define FL_HTTP_F_EXPECT_100 ...
#define FL_HTTP_F_CL_IGNORED ...
#define FL_HTTP_F_FOLDED ...
#define FL_HTTP_F_ABS_URI ...
#define FL_HTTP_F_AUTHORITY_FORM ...
#define FL_HTTP_F_ASTERISK ...
#define FL_HTTP_F_HAS_HOST ...
#define FL_HTTP_F_HAS_CL ...
#define FL_HTTP_F_HAS_TE ...
#define FL_HTTP_F_TE_CHUNKED ...
#define FL_HTTP_F_CONN_CLOSE ...
#define FL_HTTP_F_CONN_KA ...
#define FL_HTTP_F_CONN_UPGRADE ...
#define FL_HTTP_F_HAS_UPGRADE ...
#define FL_HTTP_F_RESPONSE ...
#define FL_HTTP_CHUNK_LINE_MAX ...

enum fl_http_meth { FL_HTTP_METH_OTHER, FL_HTTP_METH_GET, FL_HTTP_METH_HEAD, FL_HTTP_METH_POST,
    FL_HTTP_METH_PUT, FL_HTTP_METH_DELETE, FL_HTTP_METH_CONNECT, FL_HTTP_METH_OPTIONS,
    FL_HTTP_METH_TRACE, FL_HTTP_METH_PATCH, FL_HTTP_METH_COUNT };
enum fl_http_body { FL_HTTP_BODY_NONE, FL_HTTP_BODY_LENGTH, FL_HTTP_BODY_CHUNKED,
    FL_HTTP_BODY_UNTIL_CLOSE, FL_HTTP_BODY_TUNNEL };
enum fl_http_simd { FL_HTTP_SIMD_SCALAR, FL_HTTP_SIMD_SSE42, FL_HTTP_SIMD_AVX2 };
enum fl_http_hid { FL_HTTP_HDR_OTHER, FL_HTTP_HDR_HOST, FL_HTTP_HDR_CONTENT_LENGTH,
    FL_HTTP_HDR_TRANSFER_ENCODING, FL_HTTP_HDR_CONNECTION, FL_HTTP_HDR_UPGRADE, FL_HTTP_HDR_EXPECT,
    FL_HTTP_HDR_X_FORWARDED_FOR, FL_HTTP_HDR_COOKIE, FL_HTTP_HDR_SET_COOKIE, FL_HTTP_HDR_KEEP_ALIVE,
    FL_HTTP_HDR_PROXY_CONNECTION, FL_HTTP_HDR_TE, FL_HTTP_HDR_TRAILER, FL_HTTP_HDR_SEC_WEBSOCKET_KEY,
    FL_HTTP_HDR_AUTHORIZATION, FL_HTTP_HDR_USER_AGENT, FL_HTTP_HDR_REFERER, FL_HTTP_HDR_CONTENT_TYPE,
    FL_HTTP_HDR_X_FORWARDED_PROTO, FL_HTTP_HDR_FORWARDED, FL_HTTP_HDR_LOCATION, FL_HTTP_HDR_X_REAL_IP,
    FL_HTTP_HDR_COUNT };
#define FL_HTTP_E_COUNT ...

struct fl_http_hdr {
    uint32_t name_off;
    uint32_t value_off;
    uint32_t value_len;
    uint16_t name_len;
    uint8_t id;
    uint8_t flags;
};

struct fl_http_limits {
    uint32_t max_head;
    uint16_t maxhdr;
    uint16_t reserved;
};

struct fl_http_msg {
    struct fl_http_hdr *hdrs;
    uint16_t hdr_cap;
    uint16_t nhdrs;
    uint8_t method;
    uint8_t minor;
    uint8_t body;
    uint8_t error;
    uint16_t status;
    uint32_t flags;
    uint32_t head_len;
    uint32_t start_off;
    uint32_t method_off, method_len;
    uint32_t target_off, target_len;
    uint32_t path_off, path_len;
    uint32_t authority_off, authority_len;
    uint32_t host_off, host_len;
    uint32_t reason_off, reason_len;
    uint32_t error_off;
    int64_t content_length;
    ...;
};

struct fl_http_chunked {
    uint64_t remaining;
    uint64_t total;
    uint32_t max_trailer;
    uint8_t error;
    ...;
};

void fl_http_msg_init(struct fl_http_msg *m, struct fl_http_hdr *hdrs, uint16_t hdr_cap);
void fl_http_msg_reset(struct fl_http_msg *m);
void fl_http_limits_default(struct fl_http_limits *lim);
int fl_http_parse_request(const char *buf, size_t len, struct fl_http_msg *m,
                          const struct fl_http_limits *lim);
int fl_http_parse_response(const char *buf, size_t len, struct fl_http_msg *m, int req_method,
                           const struct fl_http_limits *lim);
int fl_http_parse_headers(const char *buf, size_t len, struct fl_http_msg *m,
                          const struct fl_http_limits *lim);
void fl_http_unfold(char *buf, const struct fl_http_hdr *h);
int fl_http_find_hdr(const struct fl_http_msg *m, int id, int from);
const char *fl_http_error_str(int err);
const char *fl_http_error_name(int err);
int fl_http_error_status(int err);
const char *fl_http_method_str(int method);
const char *fl_http_hdr_name(int id);
void fl_http_chunked_init(struct fl_http_chunked *d);
int fl_http_chunked_feed(struct fl_http_chunked *d, const char *in, size_t in_len, size_t *in_used,
                         char *out, size_t *out_len);
ssize_t fl_http_decode_chunked(struct fl_http_chunked *d, char *buf, size_t *len);
int fl_http_simd_level(void);
const char *fl_http_simd_name(int level);
int fl_http_simd_force(int level);
uint64_t fl_http_scan_count(void);
uint32_t fl_http_htx_size(const struct fl_http_msg *m);
const char *fl_http_build_sanitizers(void);
int fl_http_bench_parse_request(const char *buf, size_t len, struct fl_http_msg *m, long n);
int fl_http_bench_parse_response(const char *buf, size_t len, struct fl_http_msg *m, long n);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "fastlb._http1_cffi",
    '#include "fl_http.h"\n',
    sources=SOURCES,
    include_dirs=[CSRC],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
