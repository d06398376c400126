# Hooks for bench/ and tests: run the routing of a real configuration on a request, in a C loop,
# without sockets (a built but unstarted Worker, as the master's rule check uses).

def route_request(Worker w, str frontend, bytes request, long n=1):
    """Route `request` (a complete head) through `frontend`'s use_backend rules `n` times in a
    loop; returns the backend name (None: no backend). For micro-benchmarks and tests."""
    cdef FrontendRt fe = None
    cdef HttpStream s = HttpStream()
    cdef BackendRt be = None
    cdef long i
    cdef int r
    cdef sockaddr_in *sin
    for x in w.frontends:
        if (<FrontendRt>x).name == frontend:
            fe = <FrontendRt>x
    if fe is None:
        raise KeyError(frontend)
    s.w = w
    s.fe = fe
    sin = <sockaddr_in *>&s.caddr
    sin.sin_family = AF_INET
    sin.sin_addr.s_addr = 0x0100007f   # 127.0.0.1
    if not w.bufs.take(&s.rq):
        raise MemoryError()
    if len(request) > w.bufsize:
        raise ValueError("request larger than the buffer")
    memcpy(s.rq.data, <char *>request, len(request))
    s.rq.len = len(request)
    fl_http_msg_init(&s.req, w.hdrs, <uint16_t>w.maxhdr)
    r = fl_http_parse_request(s.rq.data, s.rq.len, &s.req, NULL)
    if r <= 0:
        w.bufs.give(&s.rq)
        raise ValueError("not a complete, valid request head")
    s.nreq = 1
    try:
        for i in range(n):
            be = fe.default_backend
            if fe.router is not None:
                be = (<Router>fe.router).route(s, be)
    finally:
        w.bufs.give(&s.rq)
        s.closed = 1
    return be.name if be is not None else None
