# The parser state the proxy engine keeps per connection (see _fastpath.pyx).
from fastlb._fl_http cimport fl_http_hdr, fl_http_limits, fl_http_msg


cdef class Http1Head:
    cdef fl_http_msg msg
    cdef fl_http_limits limits
    cdef fl_http_hdr *hdrs
    cdef int parse_request(self, const char *buf, size_t length) noexcept nogil
    cdef int parse_response(self, const char *buf, size_t length, int req_method) noexcept nogil
    cdef void reset(self) noexcept nogil
