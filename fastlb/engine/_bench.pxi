# Hooks for bench/ and tests, on a built but unstarted Worker (as the master's rule check uses):
# run the routing of a real configuration on a request in a C loop, without sockets; feed heads
# to the proxy's parse path in pieces and count the bytes the C parser examined.

def route_request(Worker w, str frontend, bytes request, long n=1, str src="127.0.0.1", int src_port=0,
                  bint one_by_one=False):
    """Route `request` (a complete head) from client `src`:`src_port` through `frontend`'s
    use_backend rules `n` times in a loop; returns the backend name (None: no backend). With
    `one_by_one` the rules are evaluated one after the other, without the routing tables (tests
    compare both). For micro-benchmarks and tests."""
    cdef FrontendRt fe = None
    cdef HttpStream s = HttpStream()
    cdef BackendRt be = None
    cdef long i
    cdef int r
    cdef sockaddr_in *sin
    cdef sockaddr_in6 *sin6
    cdef bytes raw
    for x in w.frontends:
        if (<FrontendRt>x).name == frontend:
            fe = <FrontendRt>x
    if fe is None:
        raise KeyError(frontend)
    s.w = w
    s.fe = fe
    if ":" in src:
        raw = _socket.inet_pton(_socket.AF_INET6, src)
        sin6 = <sockaddr_in6 *>&s.caddr
        sin6.sin6_family = AF_INET6
        memcpy(sin6.sin6_addr.s6_addr, <char *>raw, 16)
        sin6.sin6_port = htons(src_port)
    else:
        raw = _socket.inet_aton(src)
        sin = <sockaddr_in *>&s.caddr
        sin.sin_family = AF_INET
        memcpy(&sin.sin_addr, <char *>raw, 4)
        sin.sin_port = htons(src_port)
    if not w.bufs.take(&s.rq):
        raise MemoryError()
    if len(request) > w.bufsize:
        raise ValueError("request larger than the buffer")
    memcpy(s.rq.data, <char *>request, len(request))
    s.rq.len = len(request)
    fl_http_msg_init(&s.req, w.hdrs, <uint16_t>w.hdr_cap)
    r = fl_http_parse_request(s.rq.data, s.rq.len, &s.req, NULL)
    if r <= 0:
        w.bufs.give(&s.rq)
        raise ValueError("not a complete, valid request head")
    s.nreq = 1
    try:
        for i in range(n):
            be = fe.default_backend
            if fe.router is not None:
                if one_by_one:
                    be = (<RuleRouter>fe.router).route_one_by_one(s, be)
                else:
                    be = (<Router>fe.router).route(s, be)
    finally:
        w.bufs.give(&s.rq)
        s.closed = 1
    return be.name if be is not None else None


def router_blocks(Worker w, str frontend):
    """How `frontend`'s use_backend rules were compiled: ('rule', i) for a rule evaluated alone,
    ('table', first, last, patterns, fetches) for rules merged into a routing table."""
    for x in w.frontends:
        if (<FrontendRt>x).name == frontend:
            r = (<FrontendRt>x).router
            return (<RuleRouter>r).describe() if r is not None else []
    raise KeyError(frontend)


def scan_head_in_pieces(Worker w, bytes data, long step=1, bint response=False, long lead=0,
                        long compact_at=-1, bytes other=None):
    """Feed `data` to a stream's head parser (HttpStream.scan_head, the proxy's own path) `step`
    bytes at a time, as reads would deliver them. The head starts `lead` bytes into the buffer;
    once `compact_at` bytes have arrived the buffer is compacted (the bytes move to its start),
    and `other`, if given, is parsed by another stream into the shared scratch array between
    every two pieces. Returns (result, bytes the C parser examined, fields) where fields is
    None unless the head was complete: (method or status, target or reason, [(name, value)],
    content_length)."""
    cdef HttpStream s = HttpStream()
    cdef HttpStream o = HttpStream()
    cdef fl_buf *b
    cdef fl_http_msg *m
    cdef fl_http_limits lim
    cdef long n = len(data), got = 0, k
    cdef int r = FL_HTTP_INCOMPLETE
    cdef uint64_t before, scanned = 0
    cdef const char *base
    cdef fl_http_hdr *h
    s.w = w
    o.w = w
    b = &s.rs if response else &s.rq
    m = &s.rsp if response else &s.req
    lim.max_head = w.bufsize - w.maxrewrite
    lim.maxhdr = <uint16_t>w.maxhdr
    if lead + n > w.bufsize:
        raise ValueError("data larger than the buffer")
    if not w.bufs.take(b):
        raise MemoryError()
    if other is not None and not w.bufs.take(&o.rq):
        w.bufs.give(b)
        raise MemoryError()
    b.head = <uint32_t>lead
    try:
        while got < n and r == FL_HTTP_INCOMPLETE:
            if other is not None and got:
                memcpy(o.rq.data, <const char *>other, len(other))
                o.rq.len = len(other)
                fl_http_msg_reset(&o.req)
                o.scan_head(&o.req, o.rq.data, o.rq.len, -1, &lim)
            k = min(step, n - got)
            memcpy(b.data + b.head + got, <const char *>data + got, k)
            got += k
            b.len = <uint32_t>got
            if compact_at >= 0 and got >= compact_at and b.head:
                w.bufs.compact(b)
            before = fl_http_scan_count()
            r = s.scan_head(m, b.data + b.head, b.len, FL_HTTP_METH_GET if response else -1, &lim)
            scanned += fl_http_scan_count() - before
        if r <= 0:
            return r, scanned, None
        base = b.data + b.head
        hdrs = []
        for i in range(m.nhdrs):
            h = &m.hdrs[i]
            hdrs.append((base[h.name_off:h.name_off + h.name_len], base[h.value_off:h.value_off + h.value_len]))
        if response:
            first, second = m.status, base[m.reason_off:m.reason_off + m.reason_len]
        else:
            first = base[m.method_off:m.method_off + m.method_len]
            second = base[m.target_off:m.target_off + m.target_len]
        return r, scanned, (first, second, hdrs, m.content_length)
    finally:
        w.bufs.give(b)
        if other is not None:
            w.bufs.give(&o.rq)
        s.closed = 1
        o.closed = 1


cdef class RequestHeadProbe:
    """Tests: the proxy's request-head reading path (HttpStream.read_request_head, recv into the
    stream's buffer then parse) on a connected socket given by its fd, for heads that stay
    incomplete (a complete one would be routed). `read()` returns (bytes buffered, bytes the
    C parser examined since the probe was made)."""
    cdef HttpStream s
    cdef uint64_t start

    def __cinit__(self, Worker w, int fd):
        self.s = HttpStream()
        self.s.w = w
        self.s.fe = <FrontendRt>w.frontends[0]
        self.s.cep = Endpoint()
        self.s.cep.fd = fd
        self.s.rq_state = RQ_HEAD
        self.s.rs_state = RS_IDLE
        self.start = fl_http_scan_count()

    def read(self):
        cdef HttpStream s = self.s
        s.cep.flags |= EP_CAN_READ          # what the readiness edge would do
        s.read_request_head()
        if s.closed or s.rq_state != RQ_HEAD:
            raise RuntimeError("the head was answered or taken in: the probe is for partial heads")
        return s.rq.len, fl_http_scan_count() - self.start

    def close(self):
        self.s.w.bufs.give(&self.s.rq)
        self.s.cep.fd = -1
        self.s.closed = 1


def simd_level():
    """Scanning path of this module's copy of the C parser (the one the data plane uses): it
    reads FASTLB_SIMD when the module loads, as the parser bindings' copies do."""
    return fl_http_simd_name(fl_http_simd_level()).decode()
