# mode tcp: connect to a server at once (or, with `tcp-request content` rules, once they decided
# on the client's first bytes, waiting at most `tcp-request inspect-delay`), then forward bytes
# both ways until both directions are closed. Small transfers go through a buffer with
# recv()/send(); a direction that fills a whole buffer in one read switches to splice() through a
# pooled pipe (zero-copy), as HAProxy's splice-auto does. Half-closes are propagated with
# shutdown(SHUT_WR).
#
# Timeouts are per side, as HAProxy's: each socket has a read timer (armed while its peer may
# send and nothing it sent is still waiting for the other side) and a write timer (armed while
# bytes wait to be written to it), both counted from the last activity on that socket: a read, a
# write, or the shutdown sent to it when a -fin timeout applies. The client side uses `timeout
# client` and the server side `timeout server`, both `timeout tunnel` when it is set; once fastlb
# has shut the write side of a socket (the other peer finished), that socket's read timer uses
# `timeout client-fin` / `server-fin` when set. An expired read timer ends that direction only,
# as if the peer had sent its FIN, which is forwarded to the other side; the session ends when
# both directions have. An expired write timer aborts the session.

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
    cdef uint64_t exp_idle         # while inspecting: the client's `timeout client`
    cdef uint64_t act_c            # last activity on the client socket (ms)
    cdef uint64_t act_s            # ... on the server socket
    cdef uint64_t exp_inspect      # end of the inspect-delay (0: none running)
    cdef int insp_phase            # 0: frontend content rules, 1: the backend's, 2: done

    cdef void on_io(self, Endpoint ep) noexcept:
        if self.closed:
            return
        if self.state == ST_INSPECT:
            if ep is self.cep:
                self.inspect()
            return
        if ep is self.sep and (ep.flags & EP_CONNECTING):
            if not self.check_connect(ep):
                return
            self.on_connected()
            return
        if self.state != ST_ESTABLISHED:
            # client activity before the server is connected: only notice a client that left
            if ep is self.cep and (ep.flags & (EP_HUP | EP_ERROR)):
                self.client_left_early()
            return
        self.forward()

    cdef void client_left_early(self) noexcept:
        """The client shut its side while its session waits in a queue or for the connect. As
        HAProxy: a client that sent nothing is dropped at once (no server connection is made);
        one whose data waits is dropped only with `option abortonclose`, else its data is still
        delivered."""
        cdef char tmp[1]
        cdef ssize_t r = recv(self.cep.fd, tmp, 1, MSG_PEEK | MSG_DONTWAIT)
        if r < 0 and (errno == EAGAIN or errno == EINTR):
            return                       # not a FIN after all
        if (r > 0 or self.c2s.buf.len) and not (self.cep.flags & EP_ERROR) and not self.be.abortonclose:
            return                       # (data read while inspecting waits in c2s.buf)
        self.set_term(b'C', b'Q' if self.state == ST_QUEUED else b'C')
        if self.state == ST_QUEUED or (self.cep.flags & EP_ERROR):
            # (a clean FIN during the connect or its retries is not a cli_abrt in HAProxy 2.6)
            self.fe.cnt.cli_aborts += 1
            self.be.cnt.cli_aborts += 1
            if self.srv is not None:
                self.srv.cnt.cli_aborts += 1
        self.finish(r < 0)

    # -- content inspection (tcp-request inspect-delay / tcp-request content) --------------------

    cdef void inspect(self) noexcept:
        """Read what the client sent (nothing is forwarded yet) and run the content rules of the
        current phase on it; go on once they decide, or when the data can no longer change:
        the delay is over, the buffer is full, or the client closed."""
        cdef Worker w = self.w
        cdef ssize_t r
        cdef uint32_t limit = w.bufsize - w.maxrewrite
        cdef ProxyRules pr
        cdef int res
        cdef bint final
        cdef uint64_t delay
        while (self.cep.flags & EP_CAN_READ) and not (self.cep.flags & EP_EOF) and \
                (self.c2s.buf.data == NULL or self.c2s.buf.head + self.c2s.buf.len < limit):
            if not w.bufs.take(&self.c2s.buf):
                break
            r = self.cep.recv_into(self.c2s.buf.data + self.c2s.buf.head + self.c2s.buf.len,
                                   limit - self.c2s.buf.head - self.c2s.buf.len)
            if r > 0:
                self.c2s.buf.len += <uint32_t>r
                self.refresh_idle()
            elif r == -2:
                self.set_term(b'C', b'R')
                self.fe.cnt.cli_aborts += 1
                self.finish(True)
                return
            else:
                break
        if self.c2s.buf.len == 0:
            w.bufs.give(&self.c2s.buf)
        while self.insp_phase < 2:
            pr = self.fe.rules if self.insp_phase == 0 else self.be.rules
            if pr is not None and pr.tcp_content:
                if self.exp_inspect == 0:
                    delay = self.fe.inspect_delay if self.insp_phase == 0 else self.be.inspect_delay
                    self.exp_inspect = w.now + delay
                final = (self.cep.flags & (EP_EOF | EP_ERROR)) != 0 or self.c2s.buf.len >= limit or \
                    self.exp_inspect <= w.now
                res = run_tcp_content_rules(self, pr.tcp_content, final)
                if res < 0:
                    self.update_expire()
                    return                       # wait for more bytes or the end of the delay
                if res == 0:
                    self.fe.cnt.denied_req += 1
                    if self.insp_phase == 1:
                        self.be.cnt.denied_req += 1
                    self.li.cnt.denied_req += 1
                    self.set_term(b'P', b'R')
                    self.finish(True)
                    return
            self.exp_inspect = 0
            self.insp_phase += 1
            if self.insp_phase == 1 and not self.to_backend():
                return
        self.state = ST_INIT
        self.start_backend()

    cdef bint to_backend(self) noexcept:
        """The frontend's rules passed: choose the backend (use_backend rules see the payload)."""
        if self.fe.router is not None:
            self.be = (<Router>self.fe.router).route(self, self.be)
        if self.be is None:
            self.set_term(b'P', b'R')
            self.finish(False)
            return False
        if self.be.same_proxy:
            self.insp_phase = 2            # a listen section: its content rules already ran
        return True

    cdef void start_backend(self) noexcept:
        """Count the stream in its backend, run the stick rules, pick a server."""
        self.tries_left = self.be.retries
        self.be.cnt.cum_sess += 1
        self.be.cnt.last_sess = self.t_accept_wall_us // 1000000
        self.act_s = self.w.now
        if self.be.stick_rules is not None:
            stick_request(self)
        self.assign_server()

    cdef void fill_lb_key(self, fl_lb_key_t *key) noexcept:
        """balance hash <expr> and rdp-cookie keys (the bytes received while inspecting)."""
        if self.be.lb.needs & 16:          # NEED_SAMPLE
            fill_lb_sample(self, key)
        if self.be.lb.needs & 8 and self.c2s.buf.data != NULL and self.c2s.buf.len:   # NEED_PAYLOAD
            key.payload = self.c2s.buf.data + self.c2s.buf.head
            key.payload_len = self.c2s.buf.len

    cdef void on_connected(self) noexcept:
        self.act_s = self.w.now
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
        if self.c2s.shut and self.s2c.shut:
            self.finish(False)
            return
        self.update_expire()

    cdef inline void refresh_idle(self) noexcept:
        """While the content is inspected only the client may talk: `timeout client`."""
        self.act_c = self.w.now
        self.exp_idle = self.w.now + self.fe.t_client if self.fe.t_client else 0

    cdef uint64_t side_timeout(self, bint client, bint fin) noexcept:
        """Inactivity allowed on one side; `fin`: the write side of that socket is shut."""
        cdef uint64_t t = self.be.t_tunnel if self.be.t_tunnel else self.fe.t_tunnel
        if client:
            if fin and self.fe.t_client_fin:
                return self.fe.t_client_fin
            return t if t else self.fe.t_client
        if fin and self.be.t_server_fin:
            return self.be.t_server_fin
        return t if t else self.be.t_server

    cdef void deadlines(self, uint64_t *d) noexcept:
        """d[0..3] = client read, client write, server read, server write deadlines (0: none)."""
        cdef uint64_t t
        cdef bint c2s_held = self.c2s.buf.len != 0 or self.c2s.in_pipe != 0
        cdef bint s2c_held = self.s2c.buf.len != 0 or self.s2c.in_pipe != 0
        d[0] = d[1] = d[2] = d[3] = 0
        if not (self.cep.flags & EP_EOF) and not c2s_held:
            t = self.side_timeout(True, self.s2c.shut)
            d[0] = self.act_c + t if t else 0
        if s2c_held:
            t = self.side_timeout(True, False)
            d[1] = self.act_c + t if t else 0
        if not (self.sep.flags & EP_EOF) and not s2c_held:
            t = self.side_timeout(False, self.c2s.shut)
            d[2] = self.act_s + t if t else 0
        if c2s_held:
            t = self.side_timeout(False, False)
            d[3] = self.act_s + t if t else 0

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
                    w.wstate.spliced_out += <uint64_t>r
                    self.count(d, dir, r)
                    self.touch(dir != 0)
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
                if r > 0:
                    self.touch(dir != 0)
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
                    self.touch(dir == 0)
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
                self.touch(dir == 0)
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
            if (self.fe.t_client_fin if dir != 0 else self.be.t_server_fin):
                self.touch(dir != 0)      # that side's FIN timer counts from the shutdown
        if rounds >= PUMP_ROUNDS and ((src.flags & EP_CAN_READ) or d.buf.len or d.in_pipe):
            if dst.flags & EP_CAN_WRITE:
                w.defer(src)                # more to do: come back after the others
        return <int>(moved if moved < 0x7fffffff else 0x7fffffff)

    cdef inline void touch(self, bint client) noexcept:
        if client:
            self.act_c = self.w.now
        else:
            self.act_s = self.w.now

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
        cdef uint64_t d[4]
        if self.closed:
            return
        if self.state == ST_INSPECT:
            if self.exp_idle and self.exp_idle <= now:
                self.set_term(b'c', b'R')          # the client said nothing in time
                self.finish(False)
                return
            if self.exp_inspect and self.exp_inspect <= now:
                self.inspect()                      # the delay is over: decide on what is there
                return
            self.update_expire()
            return
        if self.exp_conn and self.exp_conn <= now:
            self.on_conn_timer()
            return
        if self.state != ST_ESTABLISHED:
            self.update_expire()
            return
        self.deadlines(d)
        if (d[1] and d[1] <= now) or (d[3] and d[3] <= now):
            # a peer that does not take what it is sent: abort (HAProxy: shutw, no linger)
            self.set_term(b'c' if d[1] and d[1] <= now else b's', b'D')
            self.finish(True)
            return
        if d[0] and d[0] <= now:
            # the client said nothing for too long: end client->server as if it sent its FIN
            self.set_term(b'c', b'D')
            self.cep.flags = (self.cep.flags | EP_EOF) & ~EP_CAN_READ
        if d[2] and d[2] <= now:
            self.set_term(b's', b'D')
            self.sep.flags = (self.sep.flags | EP_EOF) & ~EP_CAN_READ
        if d[0] and d[0] <= now or d[2] and d[2] <= now:
            self.forward()             # forwards the end of the direction, finishes if both ended
            return
        self.update_expire()

    cdef void update_expire(self) noexcept:
        cdef uint64_t e = 0
        cdef uint64_t d[4]
        cdef int i
        if self.closed:
            return
        if self.state == ST_ESTABLISHED:
            self.deadlines(d)
            for i in range(4):
                if d[i] and (e == 0 or d[i] < e):
                    e = d[i]
        elif self.state == ST_INSPECT:
            e = self.exp_inspect
            if self.exp_idle and (e == 0 or self.exp_idle < e):
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
        cdef uint64_t tq, tc, tt
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
        if self.be is not None and self.srv is not None and self.srv_seen:
            # TCP sessions have queue, connect and total times (no response time), as in HAProxy
            tq = <uint64_t>(self.tw if self.tw > 0 else 0)
            tc = <uint64_t>(self.tc if self.tc > 0 else 0)
            tt = w.now - self.t_accept
            account_stream_times(self.be.cnt, tq, tc, 0, tt)
            account_stream_times(self.srv.cnt, tq, tc, 0, tt)
        if self.fe.log_on and w.log_cb is not None:
            w.log_tcp(self)


cdef void new_tcp_stream(Worker w, Listener l, int fd, sockaddr_in6 *peer, socklen_t plen) noexcept:
    cdef TcpStream s = TcpStream()
    init_stream(s, w, l, fd, peer, plen)
    if l.fe.log_on:
        s.req_id = fl_shm_next_uniq_id(w.shm_base)  # HAProxy's uniq_id (%rt), process-wide
    s.c2s.pipe_r = -1
    s.c2s.pipe_w = -1
    s.s2c.pipe_r = -1
    s.s2c.pipe_w = -1
    s.c2s.splice_ok = 1
    s.s2c.splice_ok = 1
    s.be = l.fe.default_backend
    s.act_c = s.act_s = w.now
    set_nodelay(fd)
    w.register(s.cep, EV_IN)
    s.cep.flags |= EP_CAN_WRITE | EP_CAN_READ
    if l.fe.rules is not None and not run_tcp_conn_rules(s, l.fe.rules):
        l.fe.cnt.denied_conn += 1
        s.set_term(b'P', b'R')
        s.finish(True)
        return
    if l.fe.rules is not None and l.fe.rules.tcp_content:
        # content rules first: the client's bytes decide (routing and balancing see them too)
        s.state = ST_INSPECT
        s.refresh_idle()
        s.inspect()
        return
    s.insp_phase = 1
    if not s.to_backend():
        return
    if s.be.rules is not None and s.be.rules.tcp_content and s.insp_phase < 2:
        s.state = ST_INSPECT
        s.refresh_idle()
        s.inspect()
        return
    s.insp_phase = 2
    s.start_backend()
