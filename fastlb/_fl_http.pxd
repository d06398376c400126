# Cython declarations of csrc/fl_http-t.h and csrc/fl_http.h, one-to-one, for the proxy's hot
# path: `from fastlb._fl_http cimport *`, then call the parser without the GIL. A Cython module
# that cimports this must also compile the C files; put this line at the top of its .pyx:
#   # distutils: sources = csrc/fl_http.c csrc/fl_http_sem.c csrc/fl_http_chunked.c csrc/fl_http_scan.c
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "<sys/types.h>" nogil:
    ctypedef long ssize_t


cdef extern from "fl_http-t.h" nogil:
    int FL_HTTP_INVALID
    int FL_HTTP_INCOMPLETE
    unsigned int FL_HTTP_DEFAULT_MAX_HEAD
    unsigned int FL_HTTP_DEFAULT_MAXHDR

    enum fl_http_meth:
        FL_HTTP_METH_OTHER
        FL_HTTP_METH_GET
        FL_HTTP_METH_HEAD
        FL_HTTP_METH_POST
        FL_HTTP_METH_PUT
        FL_HTTP_METH_DELETE
        FL_HTTP_METH_CONNECT
        FL_HTTP_METH_OPTIONS
        FL_HTTP_METH_TRACE
        FL_HTTP_METH_PATCH
        FL_HTTP_METH_COUNT

    enum fl_http_hid:
        FL_HTTP_HDR_OTHER
        FL_HTTP_HDR_HOST
        FL_HTTP_HDR_CONTENT_LENGTH
        FL_HTTP_HDR_TRANSFER_ENCODING
        FL_HTTP_HDR_CONNECTION
        FL_HTTP_HDR_UPGRADE
        FL_HTTP_HDR_EXPECT
        FL_HTTP_HDR_X_FORWARDED_FOR
        FL_HTTP_HDR_COOKIE
        FL_HTTP_HDR_SET_COOKIE
        FL_HTTP_HDR_KEEP_ALIVE
        FL_HTTP_HDR_PROXY_CONNECTION
        FL_HTTP_HDR_TE
        FL_HTTP_HDR_TRAILER
        FL_HTTP_HDR_SEC_WEBSOCKET_KEY
        FL_HTTP_HDR_AUTHORIZATION
        FL_HTTP_HDR_USER_AGENT
        FL_HTTP_HDR_REFERER
        FL_HTTP_HDR_CONTENT_TYPE
        FL_HTTP_HDR_X_FORWARDED_PROTO
        FL_HTTP_HDR_FORWARDED
        FL_HTTP_HDR_LOCATION
        FL_HTTP_HDR_X_REAL_IP
        FL_HTTP_HDR_COUNT

    enum fl_http_body:
        FL_HTTP_BODY_NONE
        FL_HTTP_BODY_LENGTH
        FL_HTTP_BODY_CHUNKED
        FL_HTTP_BODY_UNTIL_CLOSE
        FL_HTTP_BODY_TUNNEL

    enum fl_http_err:
        FL_HTTP_E_NONE
        FL_HTTP_E_METHOD
        FL_HTTP_E_REQLINE
        FL_HTTP_E_TARGET
        FL_HTTP_E_TARGET_FORM
        FL_HTTP_E_VERSION
        FL_HTTP_E_VERSION_UNSUPPORTED
        FL_HTTP_E_STATUS_LINE
        FL_HTTP_E_REASON
        FL_HTTP_E_BARE_CR
        FL_HTTP_E_HDR_NAME
        FL_HTTP_E_HDR_COLON
        FL_HTTP_E_HDR_VALUE
        FL_HTTP_E_OBS_FOLD
        FL_HTTP_E_WS_FIRST_LINE
        FL_HTTP_E_TOO_MANY_HDRS
        FL_HTTP_E_HEAD_TOO_LARGE
        FL_HTTP_E_HDR_TOO_LONG
        FL_HTTP_E_CL_INVALID
        FL_HTTP_E_CL_MISMATCH
        FL_HTTP_E_TE_INVALID
        FL_HTTP_E_TE_UNSUPPORTED
        FL_HTTP_E_HOST_MULTIPLE
        FL_HTTP_E_HOST_INVALID
        FL_HTTP_E_HOST_MISMATCH
        FL_HTTP_E_WS_KEY_MISSING
        FL_HTTP_E_CHUNK_SIZE
        FL_HTTP_E_CHUNK_EXT
        FL_HTTP_E_CHUNK_CRLF
        FL_HTTP_E_CHUNK_LINE_TOO_LONG
        FL_HTTP_E_TRAILER
        FL_HTTP_E_TRAILER_TOO_LARGE
        FL_HTTP_E_COUNT

    unsigned int FL_HTTP_HF_FOLDED
    unsigned int FL_HTTP_HF_DROP

    struct fl_http_hdr:
        uint32_t name_off
        uint32_t value_off
        uint32_t value_len
        uint16_t name_len
        uint8_t id
        uint8_t flags

    unsigned int FL_HTTP_F_KEEPALIVE
    unsigned int FL_HTTP_F_UPGRADE
    unsigned int FL_HTTP_F_WEBSOCKET
    unsigned int FL_HTTP_F_EXPECT_100
    unsigned int FL_HTTP_F_CL_IGNORED
    unsigned int FL_HTTP_F_FOLDED
    unsigned int FL_HTTP_F_ABS_URI
    unsigned int FL_HTTP_F_AUTHORITY_FORM
    unsigned int FL_HTTP_F_ASTERISK
    unsigned int FL_HTTP_F_HAS_HOST
    unsigned int FL_HTTP_F_HAS_CL
    unsigned int FL_HTTP_F_HAS_TE
    unsigned int FL_HTTP_F_TE_CHUNKED
    unsigned int FL_HTTP_F_CONN_CLOSE
    unsigned int FL_HTTP_F_CONN_KA
    unsigned int FL_HTTP_F_CONN_UPGRADE
    unsigned int FL_HTTP_F_HAS_UPGRADE
    unsigned int FL_HTTP_F_RESPONSE

    struct fl_http_limits:
        uint32_t max_head
        uint16_t maxhdr
        uint16_t reserved

    struct fl_http_msg:
        fl_http_hdr *hdrs
        uint16_t hdr_cap
        uint16_t nhdrs
        uint8_t method
        uint8_t minor
        uint8_t body
        uint8_t error
        uint16_t status
        uint16_t pad0
        uint32_t flags
        uint32_t head_len
        uint32_t start_off
        uint32_t method_off
        uint32_t method_len
        uint32_t target_off
        uint32_t target_len
        uint32_t path_off
        uint32_t path_len
        uint32_t authority_off
        uint32_t authority_len
        uint32_t host_off
        uint32_t host_len
        uint32_t reason_off
        uint32_t reason_len
        uint32_t error_off
        int64_t content_length
        uint32_t scan_resume
        uint32_t scan_seen
        uint8_t scan_phase

    unsigned int FL_HTTP_CHUNK_LINE_MAX

    struct fl_http_chunked:
        uint64_t remaining
        uint64_t total
        uint32_t line_len
        uint32_t trailer_len
        uint32_t max_trailer
        uint8_t state
        uint8_t error
        uint8_t ndigits

    enum fl_http_simd:
        FL_HTTP_SIMD_SCALAR
        FL_HTTP_SIMD_SSE42
        FL_HTTP_SIMD_AVX2


cdef extern from "fl_http.h" nogil:
    void fl_http_msg_init(fl_http_msg *m, fl_http_hdr *hdrs, uint16_t hdr_cap)
    void fl_http_msg_reset(fl_http_msg *m)
    void fl_http_limits_default(fl_http_limits *lim)
    int fl_http_parse_request(const char *buf, size_t len, fl_http_msg *m, const fl_http_limits *lim)
    int fl_http_parse_response(const char *buf, size_t len, fl_http_msg *m, int req_method,
                               const fl_http_limits *lim)
    int fl_http_parse_headers(const char *buf, size_t len, fl_http_msg *m, const fl_http_limits *lim)
    void fl_http_unfold(char *buf, const fl_http_hdr *h)
    int fl_http_find_hdr(const fl_http_msg *m, int id, int start)
    const char *fl_http_error_str(int err)
    const char *fl_http_error_name(int err)
    int fl_http_error_status(int err)
    const char *fl_http_method_str(int method)
    const char *fl_http_hdr_name(int id)
    void fl_http_chunked_init(fl_http_chunked *d)
    int fl_http_chunked_feed(fl_http_chunked *d, const char *inp, size_t in_len, size_t *in_used,
                             char *out, size_t *out_len)
    ssize_t fl_http_decode_chunked(fl_http_chunked *d, char *buf, size_t *len)
    int fl_http_simd_level()
    const char *fl_http_simd_name(int level)
    int fl_http_simd_force(int level)
    uint64_t fl_http_scan_count()
    uint32_t fl_http_htx_size(const fl_http_msg *m)
    const char *fl_http_build_sanitizers()
    int fl_http_bench_parse_request(const char *buf, size_t len, fl_http_msg *m, long n)
    int fl_http_bench_parse_response(const char *buf, size_t len, fl_http_msg *m, long n)
