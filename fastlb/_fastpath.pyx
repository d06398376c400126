# distutils: sources = csrc/fl_http.c csrc/fl_http_sem.c csrc/fl_http_chunked.c csrc/fl_http_scan.c
"""Cython hot-path binding of the C HTTP/1 parser.

The engine keeps one ``Http1Head`` per connection and calls its cdef methods (or the C functions of
``_fl_http.pxd`` on ``head.msg``) with the receive buffer; nothing here builds Python objects on
that path. The def functions below are for tests and benchmarks."""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset

from fastlb._fl_http cimport *


cdef class Http1Head:
    """A request or response head parsed in place: the C message struct, its limits and a header
    array of maxhdr slots, owned by this object."""

    def __cinit__(self, unsigned int max_head=FL_HTTP_DEFAULT_MAX_HEAD,
                  unsigned int maxhdr=FL_HTTP_DEFAULT_MAXHDR):
        if maxhdr < 1 or maxhdr > 65535:
            raise ValueError("maxhdr must be in 1..65535")
        self.hdrs = <fl_http_hdr *>PyMem_Malloc(maxhdr * sizeof(fl_http_hdr))
        if self.hdrs == NULL:
            raise MemoryError()
        memset(self.hdrs, 0, maxhdr * sizeof(fl_http_hdr))
        fl_http_msg_init(&self.msg, self.hdrs, <uint16_t>maxhdr)
        self.limits.max_head = max_head
        self.limits.maxhdr = <uint16_t>maxhdr
        self.limits.reserved = 0

    def __dealloc__(self):
        PyMem_Free(self.hdrs)

    cdef int parse_request(self, const char *buf, size_t length) noexcept nogil:
        return fl_http_parse_request(buf, length, &self.msg, &self.limits)

    cdef int parse_response(self, const char *buf, size_t length, int req_method) noexcept nogil:
        return fl_http_parse_response(buf, length, &self.msg, req_method, &self.limits)

    cdef void reset(self) noexcept nogil:
        fl_http_msg_reset(&self.msg)

    def feed_request(self, const unsigned char[::1] data not None) -> int:
        """Parse (or resume parsing) a request head at the start of data: the C return code."""
        if data.shape[0] == 0:
            return fl_http_parse_request(b"", 0, &self.msg, &self.limits)
        return self.parse_request(<const char *>&data[0], <size_t>data.shape[0])

    def feed_response(self, const unsigned char[::1] data not None, int req_method=FL_HTTP_METH_GET) -> int:
        if data.shape[0] == 0:
            return fl_http_parse_response(b"", 0, &self.msg, req_method, &self.limits)
        return self.parse_response(<const char *>&data[0], <size_t>data.shape[0], req_method)

    def clear(self) -> None:
        self.reset()

    def parse(self, bytes data not None, int kind, int req_method=FL_HTTP_METH_GET) -> int:
        """Reset, then parse data whole as a request (kind 0), a response (1) or a header block (2);
        the C return code. For fastlb.http1, which builds its objects with fields()/headers()."""
        cdef const char *buf = data
        cdef size_t length = len(data)
        fl_http_msg_reset(&self.msg)
        if kind == 0:
            return fl_http_parse_request(buf, length, &self.msg, &self.limits)
        if kind == 1:
            return fl_http_parse_response(buf, length, &self.msg, req_method, &self.limits)
        return fl_http_parse_headers(buf, length, &self.msg, &self.limits)

    def fields(self) -> tuple:
        """The scalar fields of the C struct, in fastlb.http1.MSG_FIELDS order."""
        cdef fl_http_msg *m = &self.msg
        return (m.nhdrs, m.method, m.minor, m.body, m.error, m.status, m.flags, m.head_len, m.start_off,
                m.method_off, m.method_len, m.target_off, m.target_len, m.path_off, m.path_len,
                m.authority_off, m.authority_len, m.host_off, m.host_len, m.reason_off, m.reason_len,
                m.error_off, m.content_length)

    def headers(self, bytes data not None) -> list:
        """[(name, value)] as bytes, from the data that was parsed; folded values unfolded."""
        cdef const char *buf = data
        cdef size_t length = len(data)
        cdef fl_http_hdr *h
        cdef int i
        out = []
        for i in range(self.msg.nhdrs):
            h = &self.hdrs[i]
            if <size_t>h.name_off + h.name_len > length or <size_t>h.value_off + h.value_len > length:
                raise ValueError("headers() needs the bytes that were parsed")
            value = PyBytes_FromStringAndSize(buf + h.value_off, h.value_len)
            if h.flags & FL_HTTP_HF_FOLDED:
                value = value.replace(b"\r", b" ").replace(b"\n", b" ")
            out.append((PyBytes_FromStringAndSize(buf + h.name_off, h.name_len), value))
        return out

    def offsets(self) -> dict:
        """The C struct as a dict of ints (tests compare it with the cffi binding)."""
        cdef fl_http_msg *m = &self.msg
        cdef int i
        return {
            "method": m.method, "minor": m.minor, "body": m.body, "error": m.error,
            "status": m.status, "flags": m.flags, "head_len": m.head_len, "start_off": m.start_off,
            "method_off": m.method_off, "method_len": m.method_len,
            "target_off": m.target_off, "target_len": m.target_len,
            "path_off": m.path_off, "path_len": m.path_len,
            "authority_off": m.authority_off, "authority_len": m.authority_len,
            "host_off": m.host_off, "host_len": m.host_len,
            "reason_off": m.reason_off, "reason_len": m.reason_len,
            "error_off": m.error_off, "content_length": m.content_length,
            "headers": [(m.hdrs[i].name_off, m.hdrs[i].name_len, m.hdrs[i].value_off,
                         m.hdrs[i].value_len, m.hdrs[i].id, m.hdrs[i].flags) for i in range(m.nhdrs)],
        }


def simd_level() -> str:
    return fl_http_simd_name(fl_http_simd_level()).decode()


def bench_c_loop(bytes data not None, long n) -> int:
    """Parse data n times in a C loop (fl_http_bench_parse_request); returns the last result."""
    cdef Http1Head head = Http1Head()
    cdef const char *buf = data
    cdef size_t length = len(data)
    cdef int ret
    with nogil:
        ret = fl_http_bench_parse_request(buf, length, &head.msg, n)
    return ret


def bench_cython_loop(bytes data not None, long n) -> int:
    """Parse data n times the way the engine does: a Cython loop calling the head's cdef methods
    (reset + parse per request); returns the last result."""
    cdef Http1Head head = Http1Head()
    cdef const char *buf = data
    cdef size_t length = len(data)
    cdef long i
    cdef int ret = 0
    for i in range(n):
        head.reset()
        ret = head.parse_request(buf, length)
    return ret


def set_simd_level(str level) -> str:
    """Force this module's scanning path (benchmarks): 'scalar', 'sse4.2', 'avx2' or 'best'."""
    cdef int want = {"scalar": 0, "sse4.2": 1, "sse42": 1, "avx2": 2, "best": -1}[level]
    return fl_http_simd_name(fl_http_simd_force(want)).decode()


def bench_c_response_loop(bytes data not None, long n) -> int:
    """Parse a response head n times in a C loop (fl_http_bench_parse_response)."""
    cdef Http1Head head = Http1Head()
    cdef const char *buf = data
    cdef size_t length = len(data)
    cdef int ret
    with nogil:
        ret = fl_http_bench_parse_response(buf, length, &head.msg, n)
    return ret


def bench_cython_response_loop(bytes data not None, long n) -> int:
    cdef Http1Head head = Http1Head()
    cdef const char *buf = data
    cdef size_t length = len(data)
    cdef long i
    cdef int ret = 0
    for i in range(n):
        head.reset()
        ret = head.parse_response(buf, length, FL_HTTP_METH_GET)
    return ret


def bench_chunked_loop(bytes data not None, long n) -> int:
    """Decode a whole chunked body n times into a scratch buffer (input left intact); returns the
    decoded size of the last run, or the error."""
    cdef fl_http_chunked d
    cdef const char *buf = data
    cdef size_t length = len(data)
    cdef size_t used = 0, olen = 0
    cdef char *out = <char *>PyMem_Malloc(length if length else 1)
    cdef long i
    cdef int ret = 0
    if out == NULL:
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                fl_http_chunked_init(&d)
                ret = fl_http_chunked_feed(&d, buf, length, &used, out, &olen)
    finally:
        PyMem_Free(out)
    return <int>olen if ret == 0 else ret
