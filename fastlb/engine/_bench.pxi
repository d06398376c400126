# Hooks for bench/ and tests: run the routing of a real configuration on a request, in a C loop,
# without sockets (a built but unstarted Worker, as the master's rule check uses).

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
