# distutils: sources = csrc/fl_http.c csrc/fl_http_sem.c csrc/fl_http_chunked.c csrc/fl_http_scan.c csrc/fl_cpu.c
"""Cython hot-path binding of the C HTTP/1 parser.

The engine keeps one ``Http1Head`` per connection and calls its cdef methods (or the C functions of
``_fl_http.pxd`` on ``head.msg``) with the receive buffer; nothing here builds Python objects on
that path. The def functions below are for tests and benchmarks."""
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
