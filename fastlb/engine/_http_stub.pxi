# mode http streams: see _http.pxi (arrives with the HTTP parser). Until then an HTTP frontend
# forwards as mode tcp would.

cdef void new_http_stream(Worker w, Listener l, int fd, sockaddr_in6 *peer, socklen_t plen) noexcept:
    new_tcp_stream(w, l, fd, peer, plen)
