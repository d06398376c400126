# mode tcp: connect to a server at once, then forward bytes both ways until both directions are
# closed. Small transfers go through a buffer with recv()/send(); a direction that fills a whole
# buffer in one read switches to splice() through a pooled pipe (zero-copy), as HAProxy's
# splice-auto does. Half-closes are propagated with shutdown(SHUT_WR).

DEF SPLICE_CHUNK = 1 << 20
DEF PUMP_ROUNDS = 16           # at most this many read+write rounds per event (fairness)

cdef struct fl_dir:
    fl_buf buf
    int pipe_r
    int pipe_w
    uint32_t in_pipe
    uint64_t total
    uint8_t splice_ok          # allowed to switch to splice
    uint8_t shut               # EOF forwarded (shutdown sent to the destination)


cdef class TcpStream(Stream):
    cdef fl_dir c2s
    cdef fl_dir s2c
    cdef uint64_t exp_idle

    cdef void on_io(self, Endpoint ep) noexcept:
        if self.closed:
            return
        if ep is self.sep and (ep.flags & EP_CONNECTING):
            if not self.check_connect(ep):
                return
            self.on_connected()
            return
        if self.state != ST_ESTABLISHED:
            # client activity before the server is connected: only notice a client that left
            if ep is self.cep and (ep.flags & EP_HUP) and self.state != ST_CONNECTING:
                pass
            return
        self.forward()

    cdef void on_connected(self) noexcept:
        if self.stk_pending is not None:
            stick_commit(self)
        self.forward()

    cdef void on_connect_error(self) noexcept:
        # mode tcp has nothing to tell the client: close its connection (with a FIN)
        if self.cep is not None and self.cep.fd >= 0:
            drain_input(self.cep.fd)
        self.finish(False)

    cdef void forward(self) noexcept:
        cdef int r1, r2
        r1 = self.pump(self.cep, self.sep, &self.c2s, 0)
        if r1 < 0:
            return
        r2 = self.pump(self.sep, self.cep, &self.s2c, 1)
        if r2 < 0:
            return
        if r1 > 0 or r2 > 0:
            self.refresh_idle()
        if self.c2s.shut and self.s2c.shut:
            self.finish(False)
            return
        self.update_expire()

    cdef inline void refresh_idle(self) noexcept:
        cdef uint64_t t = self.idle_timeout()
        self.exp_idle = self.w.now + t if t else 0

    cdef uint64_t idle_timeout(self) noexcept:
        """Inactivity allowed: `timeout tunnel` if set, else the smaller of client and server
        timeouts; after a half-close, the matching `-fin` timeout when set."""
        cdef uint64_t t
        cdef uint64_t tc = self.fe.t_client, ts = self.be.t_server
        if self.c2s.shut and self.fe.t_client_fin:
            tc = self.fe.t_client_fin
        if self.s2c.shut and self.be.t_server_fin:
            ts = self.be.t_server_fin
        t = self.be.t_tunnel if self.be.t_tunnel else self.fe.t_tunnel
        if t and not (self.c2s.shut or self.s2c.shut):
            return t
        if tc and ts:
            return tc if tc < ts else ts
        return tc if tc else ts

    cdef int pump(self, Endpoint src, Endpoint dst, fl_dir *d, int dir) noexcept:
        """Move bytes from src to dst. Returns bytes moved (>= 0), or -1 if the stream ended."""
        cdef ssize_t r
        cdef uint64_t moved = 0
        cdef int rounds = 0
        cdef Worker w = self.w
        cdef uint32_t room
        while rounds < PUMP_ROUNDS:
            rounds += 1
            # 1. flush what is held
            if d.in_pipe:
                r = splice(d.pipe_r, NULL, dst.fd, NULL, d.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
                if r > 0:
                    d.in_pipe -= <uint32_t>r
                    self.count(d, dir, r)
                    moved += r
                    if d.in_pipe:
                        dst.flags &= ~EP_CAN_WRITE
                elif r < 0 and errno == EAGAIN:
                    dst.flags &= ~EP_CAN_WRITE
                elif r < 0 and errno != EINTR:
                    dst.last_errno = errno
                    self.io_error(dir, 1)
                    return -1
                w.after_send(dst)
            elif d.buf.len:
                r = dst.send_from(d.buf.data + d.buf.head, d.buf.len)
                if r < 0:
                    self.io_error(dir, 1)
                    return -1
                w.after_send(dst)
                d.buf.head += <uint32_t>r
                d.buf.len -= <uint32_t>r
                self.count(d, dir, r)
                moved += r
                if d.buf.len == 0:
                    d.buf.head = 0
            if d.in_pipe or d.buf.len:
                break                        # destination full: wait for EPOLLOUT
            # 2. read more
            if (src.flags & EP_EOF) or not (src.flags & EP_CAN_READ):
                break
            if d.pipe_r >= 0:
                r = splice(src.fd, NULL, d.pipe_w, NULL, SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
                if r > 0:
                    d.in_pipe += <uint32_t>r
                elif r == 0:
                    src.flags |= EP_EOF
                    src.flags &= ~EP_CAN_READ
                elif errno == EAGAIN:
                    src.flags &= ~EP_CAN_READ   # the pipe was empty, so the socket is drained
                elif errno != EINTR:
                    src.last_errno = errno
                    self.io_error(dir, 0)
                    return -1
                continue
            if not w.bufs.take(&d.buf):
                break
            room = w.bufsize - d.buf.head - d.buf.len
            r = src.recv_into(d.buf.data + d.buf.head + d.buf.len, room)
            if r > 0:
                d.buf.len += <uint32_t>r
                if <uint32_t>r == room and d.splice_ok and w.pipes.max_pipes >= 0:
                    # a full buffer in one read: bulk transfer, go zero-copy after this flush
                    if w.pipes.take(&d.pipe_r, &d.pipe_w):
                        pass
            elif r == -2:
                self.io_error(dir, 0)
                return -1
        if d.buf.len == 0:
            w.bufs.give(&d.buf)
        # 3. forward an EOF once everything before it went out
        if (src.flags & EP_EOF) and not d.shut and d.buf.len == 0 and d.in_pipe == 0:
            d.shut = 1
            dst.shut_wr()
        if rounds >= PUMP_ROUNDS and ((src.flags & EP_CAN_READ) or d.buf.len or d.in_pipe):
            if dst.flags & EP_CAN_WRITE:
                w.defer(src)                # more to do: come back after the others
        return <int>(moved if moved < 0x7fffffff else 0x7fffffff)

    cdef inline void count(self, fl_dir *d, int dir, ssize_t n) noexcept:
        d.total += n
        if dir == 0:
            self.bytes_in += n
            self.fe.cnt.bytes_in += n
            self.be.cnt.bytes_in += n
            self.srv.cnt.bytes_in += n
            self.li.cnt.bytes_in += n
        else:
            self.bytes_out += n
            self.fe.cnt.bytes_out += n
            self.be.cnt.bytes_out += n
            self.srv.cnt.bytes_out += n
            self.li.cnt.bytes_out += n

    cdef void io_error(self, int dir, int on_dst) noexcept:
        """A socket error (reset, broken pipe) on one side: abort both, resetting the other side
        so that the peer sees the failure too."""
        cdef bint client_side = (dir == 0) != (on_dst != 0)
        if client_side:
            self.set_term(b'C', b'D')
            self.fe.cnt.cli_aborts += 1
            self.be.cnt.cli_aborts += 1
            if self.srv is not None:
                self.srv.cnt.cli_aborts += 1
        else:
            self.set_term(b'S', b'D')
            self.be.cnt.srv_aborts += 1
            if self.srv is not None:
                self.srv.cnt.srv_aborts += 1
        self.finish(True)

    cdef void on_timeout(self, uint64_t now) noexcept:
        if self.closed:
            return
        if self.exp_conn and self.exp_conn <= now:
            self.on_conn_timer()
            return
        if self.exp_idle and self.exp_idle <= now:
            # which side was expected to talk? HAProxy reports a client timeout ('c') unless the
            # client already closed or data was waiting for the server.
            if self.c2s.shut or self.c2s.buf.len or self.c2s.in_pipe:
                self.set_term(b's', b'D')
            else:
                self.set_term(b'c', b'D')
            self.finish(False)
            return
        self.update_expire()

    cdef void update_expire(self) noexcept:
        cdef uint64_t e = 0
        if self.closed:
            return
        if self.state == ST_ESTABLISHED:
            e = self.exp_idle
        else:
            e = self.exp_conn
        self.expire = e
        self.w.timers.schedule(self)

    cdef void abort(self, bint reset) noexcept:
        self.set_term(b'K', b'D')
        self.finish(reset)

    cdef void finish(self, bint reset) noexcept:
        cdef Worker w = self.w
        if self.closed:
            return
        self.closed = 1
        self.state = ST_CLOSED
        if self.c2s.pipe_r >= 0:
            w.pipes.give(self.c2s.pipe_r, self.c2s.pipe_w, self.c2s.in_pipe != 0)
            self.c2s.pipe_r = -1
        if self.s2c.pipe_r >= 0:
            w.pipes.give(self.s2c.pipe_r, self.s2c.pipe_w, self.s2c.in_pipe != 0)
            self.s2c.pipe_r = -1
        w.bufs.give(&self.c2s.buf)
        w.bufs.give(&self.s2c.buf)
        if self.sep is not None:
            w.close_ep(self.sep, reset)
        if self.cep is not None:
            w.close_ep(self.cep, reset)
        self.end_accounting()
        if self.fe.log_on and w.log_cb is not None:
            w.log_tcp(self)


cdef void new_tcp_stream(Worker w, Listener l, int fd, sockaddr_in6 *peer, socklen_t plen) noexcept:
    cdef TcpStream s = TcpStream()
    init_stream(s, w, l, fd, peer, plen)
    s.c2s.pipe_r = -1
    s.c2s.pipe_w = -1
    s.s2c.pipe_r = -1
    s.s2c.pipe_w = -1
    s.c2s.splice_ok = 1
    s.s2c.splice_ok = 1
    s.be = l.fe.default_backend
    set_nodelay(fd)
    w.register(s.cep, EV_IN)
    s.cep.flags |= EP_CAN_WRITE | EP_CAN_READ
    if l.fe.rules is not None and not run_tcp_conn_rules(s, l.fe.rules):
        l.fe.cnt.denied_conn += 1
        s.set_term(b'P', b'R')
        s.finish(True)
        return
    if l.fe.router is not None:
        s.be = (<Router>l.fe.router).route(s, s.be)
    if s.be is None:
        s.set_term(b'P', b'R')   # no backend: HAProxy closes ("PR"? it answers nothing in tcp)
        s.finish(False)
        return
    s.tries_left = s.be.retries
    s.be.cnt.cum_sess += 1
    s.be.cnt.last_sess = s.t_accept_wall_us // 1000000
    s.refresh_idle()
    if s.be.stick_rules is not None:
        stick_request(s)
    s.assign_server()
