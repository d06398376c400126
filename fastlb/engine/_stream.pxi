# Streams: what a frontend does with one accepted connection. This file has what TCP and HTTP
# streams share: server assignment, queueing, connecting with retries and redispatch, timers,
# and the termination bookkeeping that logs and statistics report.

# Stream states
DEF ST_INIT = 0
DEF ST_QUEUED = 1
DEF ST_TURNAROUND = 2      # waiting before a retry
DEF ST_CONNECTING = 3
DEF ST_ESTABLISHED = 4
DEF ST_INSPECT = 5         # tcp-request content rules wait for the client's first bytes
DEF ST_CLOSED = 9

# Pipe pool for splice(). A pipe holds at most `size` bytes in flight. EAGAIN from splice() means
# either "no data on the socket" or "pipe full"; callers track `in_pipe` to tell which.
cdef class PipePool:
    cdef int *fds
    cdef int nfree
    cdef int cap
    cdef int size
    cdef readonly int max_pipes
    cdef readonly int in_use

    def __cinit__(self, int size, int max_pipes):
        self.cap = 256
        self.fds = <int *>malloc(sizeof(int) * 2 * self.cap)
        self.nfree = 0
        self.size = size
        self.max_pipes = max_pipes
        self.in_use = 0

    def __dealloc__(self):
        cdef int i
        for i in range(self.nfree):
            close(self.fds[2 * i])
            close(self.fds[2 * i + 1])
        free(self.fds)

    cdef bint take(self, int *rfd, int *wfd) noexcept:
        cdef int p[2]
        if self.nfree:
            self.nfree -= 1
            rfd[0] = self.fds[2 * self.nfree]
            wfd[0] = self.fds[2 * self.nfree + 1]
            self.in_use += 1
            return True
        if self.max_pipes and self.in_use >= self.max_pipes:
            return False
        if pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0:
            return False
        if self.size:
            fcntl(p[0], F_SETPIPE_SZ, self.size)
        rfd[0] = p[0]
        wfd[0] = p[1]
        self.in_use += 1
        return True

    cdef void give(self, int rfd, int wfd, bint dirty) noexcept:
        """Return a pipe; a pipe that still holds data (`dirty`) is closed instead."""
        self.in_use -= 1
        if dirty or self.nfree >= self.cap:
            close(rfd)
            close(wfd)
            return
        self.fds[2 * self.nfree] = rfd
        self.fds[2 * self.nfree + 1] = wfd
        self.nfree += 1


cdef class Stream(Handler):
    cdef Worker w
    cdef Listener li
    cdef FrontendRt fe
    cdef BackendRt be
    cdef ServerRt srv
    cdef ServerRt failed_srv
    cdef Endpoint cep
    cdef Endpoint sep
    cdef sockaddr_in6 caddr
    cdef socklen_t caddrlen
    cdef int state
    cdef int tries_left
    cdef int srv_assigned          # counted in srv.cur_conn
    cdef int srv_seen              # a connection to srv was attempted (logs name it)
    cdef int persistent            # server chosen by persistence (cookie/hash): queue on it
    cdef bint direct               # chosen by a cookie or a stick table (HAProxy's SF_DIRECT)
    cdef int prst                  # 1 force-persist, 2 ignore-persist matched (SF_FORCE/IGNORE_PRST)
    cdef int queued                # 1: in srv.queue, 2: in be.queue
    cdef uint32_t q_idx_at         # queue's queue_idx when this stream entered it, minus one
    cdef uint32_t srv_qpos         # %sq: streams served from the server queue while this one waited
    cdef uint32_t be_qpos          # %bq: same for the backend queue
    cdef int redispatched          # sent to another server after a failed connection
    cdef uint64_t req_id           # HAProxy's uniq_id (%rt)
    cdef object bsrc               # "ip:port" of the server connection's source (%bi/%bp), or None
    cdef uint64_t t_accept         # monotonic ms
    cdef uint64_t t_accept_wall_us # wall clock µs (log date)
    cdef uint64_t t_queue_start
    cdef uint64_t t_conn_start
    cdef uint64_t t_connected      # when the server connection became usable
    cdef int64_t tw                # ms spent in queues, -1 = never reached
    cdef int64_t tc                # ms to connect, -1 = never reached
    cdef uint64_t exp_conn         # connect / queue / turnaround deadline
    cdef uint64_t bytes_in         # from the client
    cdef uint64_t bytes_out        # to the client
    cdef char term_cause           # HAProxy termination state, first char ('-' normal)
    cdef char term_state           # second char
    cdef list stk_pending          # stick-table stores to write once connected: [(table, key)]
    cdef bint smp_partial          # content inspection not final: payload fetches may change
    cdef bint smp_may_change       # a fetch of the last ACL test could give another answer later
    cdef bytes lb_sample           # `balance hash` sample, kept alive while the balancer reads it
    cdef int closed

    # -- to be provided by TCP and HTTP streams ---------------------------------------------
    cdef void on_connected(self) noexcept:
        pass

    cdef void on_connect_error(self) noexcept:
        """No connection could be made (after retries), or no server, or queue timeout."""
        pass

    cdef void abort(self, bint reset) noexcept:
        pass

    # -- server assignment -------------------------------------------------------------------

    cdef void assign_server(self) noexcept:
        """Pick a server and connect, or queue, or fail with `on_connect_error`."""
        cdef ServerRt s
        cdef BackendRt be = self.be
        cdef int r
        if self.srv is None:
            if be.queue and not be.lb_hash:
                # others wait already: keep the order (HAProxy does not let a newcomer pass)
                self.enqueue_backend()
                return
            r = self.lb_pick(self.failed_srv.lb_index if self.failed_srv is not None else -1)
            if r == FL_LB_FULL:
                self.enqueue_backend()
                return
            if r < 0:
                # every server down (or none configured): HAProxy's 503 / "SC" termination
                self.set_term(b'S', b'C')
                be.cnt.failed_conns += 1
                self.on_connect_error()
                return
            s = <ServerRt>be.servers[r]
            self.srv = s
            self.persistent = be.lb_hash
            be.cnt.cum_lbconn += 1
            s.cnt.cum_lbconn += 1
        if not self.take_server_slot(False):
            # the server has maxconn connections (all workers together)
            if not self.persistent:
                # let the balancer look for a server with room first
                s = self.pick_with_room()
                if s is not None:
                    self.srv = s
                    if self.take_server_slot(False):
                        self.connect_server()
                        return
            self.enqueue()
            return
        self.connect_server()

    cdef int lb_pick(self, int avoid) noexcept:
        """Ask the backend's balancer for a server index, with the key its algorithm needs."""
        cdef fl_lb_key_t key
        cdef sockaddr *sa = <sockaddr *>&self.caddr
        fl_lb_key_clear(&key)
        if self.be.lb.needs & 1:      # NEED_SRC
            if sa.sa_family == AF_INET:
                key.src = <const unsigned char *>&(<sockaddr_in *>sa).sin_addr
                key.src_len = 4
            elif sa.sa_family == AF_INET6:
                key.src = (<sockaddr_in6 *>sa).sin6_addr.s6_addr
                key.src_len = 16
        self.fill_lb_key(&key)
        return self.be.lb.pick(&key, avoid)

    cdef void fill_lb_key(self, fl_lb_key_t *key) noexcept:
        pass

    cdef ServerRt pick_with_room(self):
        cdef ServerRt s
        cdef list pool = self.be.active if self.be.active else self.be.backups
        for s in pool:
            if s.has_room():
                return s
        return None

    cdef inline bint take_server_slot(self, bint reserved) noexcept:
        """Count this stream on its server; False (nothing counted) when the server has no free
        slot. `reserved`: the slot was taken already (dequeue_server)."""
        cdef ServerRt s = self.srv
        if self.srv_assigned:
            return True
        if not reserved and not s.reserve():
            return False
        self.srv_assigned = 1
        self.be.lb.take(s.lb_index)
        s.cnt.cum_sess += 1
        s.cnt.last_sess = self.t_accept_wall_us // 1000000
        s.cur_conn += 1
        self.be.cur_conn += 1
        s.cnt.cur_sess = s.cur_conn
        if <uint64_t>s.cur_conn > s.cnt.max_sess:
            s.cnt.max_sess = s.cur_conn
        self.be.cnt.cur_sess = self.be.cur_conn
        if <uint64_t>self.be.cur_conn > self.be.cnt.max_sess:
            self.be.cnt.max_sess = self.be.cur_conn
        return True

    cdef void release_server_slot(self) noexcept:
        cdef ServerRt s = self.srv
        if not self.srv_assigned:
            return
        self.srv_assigned = 0
        s.unreserve()
        self.be.lb.release(s.lb_index)
        s.cur_conn -= 1
        self.be.cur_conn -= 1
        s.cnt.cur_sess = s.cur_conn
        self.be.cnt.cur_sess = self.be.cur_conn
        if s.queue or self.be.queue:
            self.w.dequeue_server(s)

    # -- queueing ----------------------------------------------------------------------------

    cdef void enqueue(self) noexcept:
        cdef ServerRt s = self.srv
        cdef BackendRt be = self.be
        if self.persistent:
            if s.state.maxqueue and <uint32_t>len(s.queue) >= s.state.maxqueue:
                # the server's queue is full: go elsewhere if allowed, else fail
                if be.redispatch:
                    # a server with room takes it at once, else it waits in the backend queue
                    self.persistent = 0
                    self.direct = 0
                    self.srv = self.pick_with_room()
                    if self.srv is None or not self.take_server_slot(False):
                        self.srv = None
                        self.enqueue_backend()
                        return
                    self.connect_server()
                    return
                self.set_term(b's', b'Q')
                self.on_connect_error()
                return
            s.queue.append(self)
            self.q_idx_at = s.queue_idx - 1
            self.queued = 1
            self.w.nqueued += 1
            s.cnt.cur_queue = len(s.queue)
            if s.cnt.cur_queue > s.cnt.max_queue:
                s.cnt.max_queue = s.cnt.cur_queue
        else:
            self.srv = None
            self.enqueue_backend()
            return
        self._start_queue_timer()

    cdef void enqueue_backend(self) noexcept:
        cdef BackendRt be = self.be
        be.queue.append(self)
        self.q_idx_at = be.queue_idx - 1
        self.queued = 2
        self.w.nqueued += 1
        be.cnt.cur_queue = len(be.queue)
        if be.cnt.cur_queue > be.cnt.max_queue:
            be.cnt.max_queue = be.cnt.cur_queue
        self._start_queue_timer()

    cdef void _start_queue_timer(self) noexcept:
        cdef uint64_t tq = self.be.t_queue if self.be.t_queue else self.be.t_connect
        self.state = ST_QUEUED
        self.t_queue_start = self.w.now
        self.exp_conn = self.w.now + tq if tq else 0
        self.update_expire()

    cdef void leave_queue(self, ServerRt s) noexcept:
        """Called by the worker: `s` has a free slot for this stream, reserved for it."""
        self.unqueue()
        self.srv = s
        self.tw = <int64_t>(self.w.now - self.t_queue_start)
        self.take_server_slot(True)
        self.connect_server()

    cdef void unqueue(self) noexcept:
        """Leave the queue (served, timed out or aborted), counting as HAProxy the streams that
        were served from it meanwhile (the log's %sq/%bq; 1 for a stream served at once)."""
        if self.queued == 1:
            if self in self.srv.queue:
                self.srv.queue.remove(self)
            self.srv.cnt.cur_queue = len(self.srv.queue)
            self.srv_qpos += self.srv.queue_idx - self.q_idx_at
        elif self.queued == 2:
            if self in self.be.queue:
                self.be.queue.remove(self)
            self.be.cnt.cur_queue = len(self.be.queue)
            self.be_qpos += self.be.queue_idx - self.q_idx_at
        if self.queued:
            self.w.nqueued -= 1
        self.queued = 0

    # -- connecting --------------------------------------------------------------------------

    cdef void connect_server(self) noexcept:
        cdef ServerRt s = self.srv
        cdef int fd, r
        cdef Endpoint ep
        cdef sockaddr_in6 dst
        cdef socklen_t dlen
        cdef int port
        self.state = ST_CONNECTING
        self.srv_seen = 1
        if self.tw < 0:
            self.tw = 0
        self.t_conn_start = self.w.now
        fd = socket((<sockaddr *>&s.addr).sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
        if fd < 0:
            self.connect_failed(errno)
            return
        if (<sockaddr *>&s.addr).sa_family != AF_UNIX:
            set_nodelay(fd)
        if s.port_from_client or s.port_offset:
            memcpy(&dst, &s.addr, s.addrlen)
            port = self.client_dst_port()
            port = port + s.port_offset
            (<sockaddr_in *>&dst).sin_port = htons(<uint16_t>port)
            r = connect(fd, <sockaddr *>&dst, s.addrlen)
        else:
            r = connect(fd, <sockaddr *>&s.addr, s.addrlen)
        if r < 0 and errno != EINPROGRESS:
            close(fd)
            self.connect_failed(errno)
            return
        ep = Endpoint()
        ep.fd = fd
        ep.owner = self
        ep.role = 1
        ep.flags = EP_CONNECTING
        self.sep = ep
        self.w.register(ep, EV_INOUT)   # EPOLLOUT tells when the connection is established
        ep.flags |= EP_OUT_ARMED
        if ep.flags & EP_ERROR:
            self.w.close_ep(ep, 0)
            self.sep = None
            self.connect_failed(ep.last_errno)
            return
        s.cnt.connect_new += 1
        self.exp_conn = self.w.now + self.be.t_connect if self.be.t_connect else 0
        self.update_expire()

    cdef void note_bsrc(self, int fd) noexcept:
        cdef sockaddr_in6 a
        cdef socklen_t alen = sizeof(a)
        if getsockname(fd, <sockaddr *>&a, &alen) == 0:
            self.bsrc = sockaddr_text(<sockaddr *>&a)

    cdef int client_dst_port(self) noexcept:
        cdef sockaddr_in6 a
        cdef socklen_t alen = sizeof(a)
        if self.cep is None or getsockname(self.cep.fd, <sockaddr *>&a, &alen) < 0:
            return 0
        return ntohs(a.sin6_port)

    cdef bint check_connect(self, Endpoint ep) noexcept:
        """Called on an event for a connecting server endpoint. True once connected (the caller
        goes on forwarding), False if still connecting or failed (failure handled here)."""
        cdef int err = 0
        cdef socklen_t elen = sizeof(err)
        if not (ep.flags & (EP_CAN_WRITE | EP_ERROR | EP_HUP)):
            return False
        if getsockopt(ep.fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0:
            err = errno
        if err == 0 and (ep.flags & EP_HUP) and not (ep.flags & EP_CAN_WRITE):
            err = ECONNRESET
        if err != 0:
            self.w.close_ep(ep, 0)
            self.sep = None
            self.connect_failed(err)
            return False
        ep.flags &= ~EP_CONNECTING
        if self.fe.want_bsrc:
            self.note_bsrc(ep.fd)
        ep.flags |= EP_CAN_WRITE
        self.w.after_send(ep)            # established: back to watching input only
        self.state = ST_ESTABLISHED
        self.tc = <int64_t>(self.w.now - self.t_conn_start)
        self.t_connected = self.w.now
        self.exp_conn = 0
        self.record_connect_time()
        return True

    cdef inline void record_connect_time(self) noexcept:
        cdef int i
        cdef uint64_t tc = <uint64_t>self.tc
        for i in range(FL_HIST_BUCKETS - 1):
            if tc <= fl_hist_bounds_ms[i]:
                break
        else:
            i = FL_HIST_BUCKETS - 1
        self.srv.cnt.conn_time_hist[i] += 1
        self.be.cnt.conn_time_hist[i] += 1

    cdef void connect_failed(self, int err) noexcept:
        """One connection attempt failed: retry (after a turn-around delay on the same server),
        redispatch on the retry chosen by `option redispatch`, or give up."""
        cdef ServerRt s = self.srv
        cdef uint64_t delay
        cdef int redispatch_now = 0
        if self.tries_left > 0:
            self.tries_left -= 1
            self.be.cnt.retries += 1
            if s is not None:
                s.cnt.retries += 1
            if self.be.redispatch and not self.persistent_locked():
                if self.be.redispatch < 0:
                    # -N: redispatch on the Nth retry before the last one (-1 = the last)
                    redispatch_now = self.tries_left == -self.be.redispatch - 1
                else:
                    redispatch_now = ((self.be.retries - self.tries_left) % self.be.redispatch) == 0
            if redispatch_now and s is not None and len(self.be.active) + len(self.be.backups) > 1:
                self.release_server_slot()
                self.failed_srv = s
                self.srv = None
                self.persistent = 0
                self.direct = 0
                self.be.cnt.redispatches += 1
                s.cnt.redispatches += 1
                self.redispatched = 1
                self.assign_server()
                return
            # same server again after min(timeout connect, 1s), as HAProxy does
            delay = self.be.t_connect if self.be.t_connect and self.be.t_connect < 1000 else 1000
            self.state = ST_TURNAROUND
            self.exp_conn = self.w.now + delay
            self.update_expire()
            return
        # out of retries
        if s is not None:
            s.cnt.failed_conns += 1
        self.be.cnt.failed_conns += 1
        if err == ETIMEDOUT:
            self.set_term(b's', b'C')
        else:
            self.set_term(b'S', b'C')
        self.on_connect_error()

    cdef bint persistent_locked(self) noexcept:
        """A stream pinned by persistence is only redispatched when `option redispatch` says so
        (connect_failed checks be.redispatch first), never otherwise."""
        return False

    cdef void on_conn_timer(self) noexcept:
        """The connect/queue/turn-around deadline passed."""
        self.exp_conn = 0
        if self.state == ST_QUEUED:
            self.unqueue()
            self.tw = <int64_t>(self.w.now - self.t_queue_start)
            self.set_term(b's', b'Q')
            self.on_connect_error()
        elif self.state == ST_TURNAROUND:
            if self.srv is not None and (self.srv.is_usable() or
                                         (self.direct and persist_ok(self.srv, self.be.persist))):
                self.connect_server()
            else:
                self.release_server_slot()
                self.srv = None
                self.assign_server()
        elif self.state == ST_CONNECTING:
            if self.sep is not None:
                self.w.close_ep(self.sep, 0)
                self.sep = None
            self.connect_failed(ETIMEDOUT)

    # -- timers ------------------------------------------------------------------------------

    cdef void update_expire(self) noexcept:
        pass

    cdef inline void set_term(self, char cause, char st) noexcept:
        if self.term_cause == b'-':
            self.term_cause = cause
            self.term_state = st

    cdef inline void end_accounting(self) noexcept:
        """Common end of a stream: free the server slot, leave queues, count."""
        if self.queued:
            self.unqueue()
        self.release_server_slot()
        self.expire = 0
        self.w.streams.discard(self)
        self.w.stream_closed(self.li)


cdef inline void account_stream_times(fl_counters_t *c, uint64_t tq, uint64_t tc, uint64_t tr,
                                     uint64_t tt) noexcept:
    """Sums (for the qtime/ctime/rtime/ttime averages) and maxima of one stream's times (ms)."""
    c.q_time_sum += tq
    c.c_time_sum += tc
    c.r_time_sum += tr
    c.t_time_sum += tt
    c.time_samples += 1
    if tq > c.q_time_max:
        c.q_time_max = tq
    if tc > c.c_time_max:
        c.c_time_max = tc
    if tr > c.r_time_max:
        c.r_time_max = tr
    if tt > c.t_time_max:
        c.t_time_max = tt


cdef inline void init_stream(Stream s, Worker w, Listener l, int fd, sockaddr_in6 *peer,
                             socklen_t plen) noexcept:
    cdef Endpoint ep = Endpoint()
    s.w = w
    s.li = l
    s.fe = l.fe
    s.term_cause = b'-'
    s.term_state = b'-'
    s.tw = -1
    s.tc = -1
    s.t_accept = w.now
    s.t_accept_wall_us = wall_us()
    memcpy(&s.caddr, peer, plen if plen <= sizeof(sockaddr_in6) else sizeof(sockaddr_in6))
    s.caddrlen = plen
    ep.fd = fd
    ep.owner = s
    ep.role = 0
    s.cep = ep
    w.streams.add(s)
