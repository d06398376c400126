# The worker: owns the epoll set, the timers, the buffer pool and the runtime objects, and runs
# the dispatch loop from a uvloop reader callback on the epoll fd.

DEF MAX_EVENTS = 256
DEF REWRITE_HDRS = 256


cdef str sockaddr_text(sockaddr *sa):
    """'ip:port' of an IPv4/IPv6 socket address ('unix' for UNIX sockets)."""
    cdef char buf[64]
    if sa.sa_family == AF_INET:
        inet_ntop(AF_INET, &(<sockaddr_in *>sa).sin_addr, buf, 64)
        return f"{buf.decode()}:{ntohs((<sockaddr_in *>sa).sin_port)}"
    if sa.sa_family == AF_INET6:
        inet_ntop(AF_INET6, &(<sockaddr_in6 *>sa).sin6_addr, buf, 64)
        return f"{buf.decode()}:{ntohs((<sockaddr_in6 *>sa).sin6_port)}"
    return "unix"
DEF ACCEPT_BATCH = 64
# what pausing a listener does (fastlb.runtime.pause): HAProxy 2.6's behaviour on Linux
DEF LP_DISCONNECT = 0      # TCP: shutdown(SHUT_RD) refuses new connections, listen() again on resume
DEF LP_STOP_ACCEPT = 1     # an inherited fd@ socket: not ours to disconnect, connections wait
DEF LP_KEEP = 2            # UNIX socket: HAProxy keeps accepting on it


cdef class Worker:
    cdef int epfd
    cdef epoll_event *events
    cdef readonly uint64_t now            # monotonic ms, updated once per dispatch round
    cdef Timers timers
    cdef BufPool bufs
    cdef PipePool pipes
    cdef list pending                     # Endpoints to run again without a new event
    cdef list deferred                    # Endpoints that used their budget: run next round
    cdef list graveyard                   # closed Endpoints, kept alive until the round ends
    cdef readonly list listeners
    cdef readonly list frontends
    cdef readonly list backends
    cdef readonly list servers
    cdef dict backends_by_name
    cdef object loop
    cdef object tick_handle
    cdef object shm                       # the mmap (kept alive)
    cdef char *shm_base
    cdef fl_counters_t *counters          # this worker's counter slots
    cdef fl_counters_t global_cnt         # process-wide counters (show info)
    cdef readonly int worker_index
    cdef readonly int cur_conn
    cdef int nqueued                      # streams of this worker waiting in a server/backend queue
    cdef uint64_t queues_tried            # `now` of the last look at the queues (retry_queues)
    cdef fl_worker_state_t *wstate        # this worker's entry in shared memory (cur_conn)
    cdef uint64_t busy_us                 # wall time spent in dispatch rounds since start (us)
    cdef uint64_t idle_samp_start         # mono_us() at the start of the current idle sample
    cdef uint64_t idle_samp_busy          # busy_us at that moment
    cdef int maxconn                      # this worker's share of global maxconn (0 = none)
    cdef readonly int stopping            # soft stop: listeners closed, finish streams
    cdef uint64_t state_gen_seen
    cdef readonly uint64_t streams_total
    cdef uint32_t bufsize
    cdef uint32_t maxrewrite
    cdef int maxhdr
    cdef int hdr_cap                      # header slots per message: maxhdr + room for rule edits
    cdef object on_idle_exit              # called once stopping and no stream is left
    cdef set streams                      # live streams (for soft stop and show sess)
    cdef object log_cb                    # Python callable for log lines, or None
    cdef object trace_cb                  # -d: callable(text) for the debug trace, or None
    cdef uint32_t trace_seq
    cdef int trace_stride                 # trace ids: seq * workers + index, unique per process group
    cdef fl_http_hdr *hdrs                # scratch header array for parsing (maxhdr entries)
    cdef dict services                    # use-service name -> callable(request) -> bytes
    cdef dict userlists                   # name -> {user: (password, insecure)}
    cdef dict usergroups                  # name -> {user (bytes): [group (bytes), ...]}
    cdef dict stick_tables                # name -> StickTable (shared by every worker)
    cdef readonly list load_warnings      # rules left out at build time (the master prints them)

    def __cinit__(self):
        self.epfd = -1
        self.events = NULL
        self.load_warnings = []

    def __init__(self, loop, plan, shm, int worker_index, stick_tables=None):
        self.loop = loop
        self.worker_index = worker_index
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise OSError(errno, "epoll_create1")
        self.events = <epoll_event *>malloc(sizeof(epoll_event) * MAX_EVENTS)
        # http-request/response rules may add headers past tune.http.maxhdr (HAProxy's limit
        # applies to what is parsed from the peer): the arrays keep REWRITE_HDRS more slots
        self.hdr_cap = min(plan.maxhdr + REWRITE_HDRS, 65000)
        self.hdrs = <fl_http_hdr *>malloc(sizeof(fl_http_hdr) * self.hdr_cap)
        self.now = mono_ms()
        self.timers = Timers(self.now)
        self.bufsize = plan.bufsize
        self.maxrewrite = plan.maxrewrite
        self.maxhdr = plan.maxhdr
        self.bufs = BufPool(plan.bufsize)
        # no pipe at all (nosplice, maxpipes 0): -1, every transfer goes through the buffers
        self.pipes = PipePool(plan.pipesize, plan.maxpipes if plan.maxpipes > 0 else -1)
        self.pending = []
        self.deferred = []
        self.graveyard = []
        self.listeners = []
        self.frontends = []
        self.backends = []
        self.servers = []
        self.backends_by_name = {}
        self.streams = set()
        self.maxconn = plan.worker_maxconn
        self.shm = shm
        cdef unsigned char[::1] view = shm
        self.shm_base = <char *>&view[0]
        self.counters = fl_shm_counters(self.shm_base, worker_index)
        self.wstate = fl_shm_workers(self.shm_base) + worker_index
        self.wstate.idle_pct = 100
        self.idle_samp_start = mono_us()
        self.log_cb = None
        self.trace_cb = None
        self.trace_stride = max(1, plan.nbworkers)
        self.services = {}
        self.userlists = {ul.name: {u.name: (u.password, u.insecure) for u in ul.users}
                          for ul in plan.config.userlists}
        self.usergroups = {ul.name: {u.name.encode("latin-1"): [
            g.encode("latin-1") for g in sorted(set(u.groups) | {g for g, names in ul.groups.items() if u.name in names})]
            for u in ul.users} for ul in plan.config.userlists}
        if stick_tables is None:
            from fastlb.runtime.shm import make_stick_tables
            stick_tables = make_stick_tables(plan.stick_tables)
        self.stick_tables = stick_tables
        build_runtime(self, plan)

    def __dealloc__(self):
        if self.epfd >= 0:
            close(self.epfd)
        if self.events != NULL:
            free(self.events)
        if self.hdrs != NULL:
            free(self.hdrs)

    # -- start / stop ---------------------------------------------------------------------------

    def start(self, listen_fds):
        """Attach the listening sockets (fd per listener, in plan order) and start serving."""
        cdef Listener l
        cdef int fd
        for l, fd in zip(self.listeners, listen_fds):
            l.ep.fd = fd
            self.register(l.ep, EPOLLIN | EPOLLET)
        self.sync_paused()               # a frontend paused before this worker started
        self.loop.add_reader(self.epfd, self._on_epoll)
        self._arm_tick()

    def _arm_tick(self):
        self.tick_handle = self.loop.call_later(TICK_MS / 1000.0, self._on_tick)

    def _on_tick(self):
        self.round(0)
        self.sample_idle()
        if self.epfd >= 0:
            self._arm_tick()

    cdef void sample_idle(self) noexcept:
        """Publish the idle percentage once a sample of at least 0.5 s is complete, as HAProxy's
        measure_idle() does per thread. Busy is the wall time inside round() (dispatching socket
        events and timers); the rest of the loop's time is spent waiting in uvloop's poller, or in
        the few Python services of the worker (master channel, timers of the control plane). A
        worker too busy to tick does not publish, as an HAProxy thread that does not poll."""
        cdef uint64_t t = mono_us()
        cdef uint64_t samp = t - self.idle_samp_start
        cdef uint64_t busy
        if samp < 500000:
            return
        busy = self.busy_us - self.idle_samp_busy
        if busy > samp:
            busy = samp
        self.wstate.idle_pct = (100 * (samp - busy) + samp // 2) // samp
        self.idle_samp_start = t
        self.idle_samp_busy = self.busy_us

    def _on_epoll(self):
        self.round(0)

    def set_log_callback(self, cb):
        """`cb(fields: dict)` is called once per finished HTTP transaction / TCP session."""
        self.log_cb = cb

    def set_trace_callback(self, cb):
        """Debug mode (-d): `cb(text)` gets HAProxy-shaped trace lines of every HTTP transaction."""
        self.trace_cb = cb

    def register_service(self, str name, cb):
        """`http-request use-service <name>` calls `cb(request: dict) -> bytes`."""
        self.services[name] = cb

    def set_backend_service(self, str backend, bytes uri_prefix, cb):
        """Serve requests routed to `backend` whose path starts with `uri_prefix` by calling
        `cb(request: dict) -> bytes` (a complete HTTP response), e.g. the statistics page."""
        cdef BackendRt be = self.backends_by_name[backend]
        be.service_uri = uri_prefix
        be.service_cb = cb

    def set_frontend_log_options(self, str frontend, bint want_bsrc=False, uid_cb=None, uid_header=None):
        """What the logs of `frontend` need besides the usual fields: the source address of server
        connections (%bi/%bp: one getsockname() per connection), and a unique id generated per
        request by `uid_cb(fields) -> str` and sent in the `uid_header` request header."""
        cdef FrontendRt fe
        for fe in self.frontends:
            if fe.name == frontend:
                fe.want_bsrc = want_bsrc
                fe.uid_cb = uid_cb
                fe.uid_header = (uid_header.encode("latin-1") + b": ") if uid_header else None
                return
        raise KeyError(frontend)

    def set_frontend_service(self, str frontend, bytes uri_prefix, cb):
        """Serve requests of `frontend` whose path starts with `uri_prefix` by calling `cb` once
        the frontend's http-request rules ran, before routing (``stats enable`` on a frontend)."""
        cdef FrontendRt fe
        for fe in self.frontends:
            if fe.name == frontend:
                fe.service_uri = uri_prefix
                fe.service_cb = cb
                return
        raise KeyError(frontend)

    def soft_stop(self, on_idle_exit=None):
        """Stop accepting (close listeners) and call `on_idle_exit` once no stream is left."""
        cdef Listener l
        self.stopping = 1
        self.on_idle_exit = on_idle_exit
        for l in self.listeners:
            self.close_listener(l)
        self._check_idle_exit()

    def apply_shared_state(self):
        """Follow the shared memory now (server states, limits, paused frontends) rather than
        at the next round (fastlb.runtime.pause after a signal)."""
        self.state_gen_seen = (<fl_shm_header_t *>self.shm_base).generation
        self.refresh_server_states()
        self.refresh_limits()
        self.round(0)

    def hard_stop(self):
        cdef Stream s
        cdef Listener l
        for s in list(self.streams):
            s.abort(0)
        for l in self.listeners:
            self.close_listener(l)
        self.stopping = 1
        self.graveyard.clear()

    cdef void close_listener(self, Listener l) noexcept:
        """Close this worker's descriptor of a listening socket. The socket itself lives on in
        the processes that share it (siblings, the master, the next process of a reload): epoll
        forgets a descriptor only once its file is closed everywhere, so it is removed from the
        interest list explicitly, or events would keep coming for a freed Endpoint."""
        if l.ep.fd < 0:
            return
        if l.ep.flags & EP_REGISTERED:
            epoll_ctl(self.epfd, EPOLL_CTL_DEL, l.ep.fd, NULL)
        self.close_ep(l.ep, 0)

    def shutdown_unstarted(self):
        """Release a worker that was built but never started (a configuration check)."""
        if self.epfd >= 0:
            close(self.epfd)
            self.epfd = -1

    def shutdown(self):
        self.loop.remove_reader(self.epfd)
        if self.tick_handle is not None:
            self.tick_handle.cancel()
        close(self.epfd)
        self.epfd = -1

    cdef void _check_idle_exit(self) noexcept:
        if self.stopping and not self.streams and self.on_idle_exit is not None:
            cb = self.on_idle_exit
            self.on_idle_exit = None
            try:
                self.loop.call_soon(cb)
            except Exception:
                pass

    # -- event loop --------------------------------------------------------------------------------

    cdef inline void register(self, Endpoint ep, uint32_t events) noexcept:
        cdef epoll_event ev
        ev.events = events
        ev.data.ptr = <void *>ep
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, ep.fd, &ev) == 0:
            Py_INCREF(ep)
            ep.flags |= EP_REGISTERED
        else:
            ep.last_errno = errno
            ep.flags |= EP_ERROR

    cdef inline void set_events(self, Endpoint ep, uint32_t events) noexcept:
        cdef epoll_event ev
        ev.events = events
        ev.data.ptr = <void *>ep
        epoll_ctl(self.epfd, EPOLL_CTL_MOD, ep.fd, &ev)

    cdef inline void after_send(self, Endpoint ep) noexcept:
        """Watch EPOLLOUT while `ep`'s output is blocked, stop once it went through."""
        if ep.fd < 0 or not (ep.flags & EP_REGISTERED):
            return
        if ep.flags & EP_CAN_WRITE:
            if ep.flags & EP_OUT_ARMED:
                ep.flags &= ~EP_OUT_ARMED
                self.set_events(ep, EV_IN)
        elif not (ep.flags & EP_OUT_ARMED):
            ep.flags |= EP_OUT_ARMED
            self.set_events(ep, EV_INOUT)

    cdef inline void close_ep(self, Endpoint ep, bint reset) noexcept:
        """Close the socket. The Endpoint stays valid until the end of the dispatch round, so that
        events of the same batch that still point at it see a closed endpoint and are ignored."""
        if ep.fd < 0:
            return
        if reset:
            set_linger0(ep.fd)
        close(ep.fd)
        ep.fd = -1
        ep.flags = (ep.flags | EP_CLOSED) & ~(EP_CAN_READ | EP_CAN_WRITE)
        if ep.flags & EP_REGISTERED:
            ep.flags &= ~EP_REGISTERED
            self.graveyard.append(ep)
            Py_DECREF(ep)

    cdef inline void wake(self, Endpoint ep) noexcept:
        """Run the endpoint's owner again in this round (work left without a new event)."""
        self.pending.append(ep)

    cdef inline void defer(self, Endpoint ep) noexcept:
        """Run the endpoint's owner again in the next round: a stream that used its budget of
        work for one event lets the others run first (edge-triggered: no new event will come)."""
        self.deferred.append(ep)

    cdef void round(self, int timeout) noexcept:
        cdef int n, i, loops = 0
        cdef Endpoint ep
        cdef list pend
        cdef uint64_t gen, t
        cdef uint64_t t0 = mono_us()
        while True:
            n = epoll_wait(self.epfd, self.events, MAX_EVENTS, timeout)
            t = mono_us()
            self.now = t // 1000        # = mono_ms(), from the same clock read
            gen = (<fl_shm_header_t *>self.shm_base).generation
            if gen != self.state_gen_seen:
                self.state_gen_seen = gen
                self.refresh_server_states()
                self.refresh_limits()
            elif self.nqueued and self.now != self.queues_tried:
                self.retry_queues()
            for i in range(n):
                ep = <Endpoint>self.events[i].data.ptr
                if ep.fd >= 0:
                    ep.on_events(self.events[i].events)
            while self.pending:
                pend = self.pending
                self.pending = []
                for ep in pend:
                    if ep.fd >= 0 and ep.owner is not None:
                        ep.owner.on_io(ep)
            self.timers.run(self.now)
            while self.pending:
                pend = self.pending
                self.pending = []
                for ep in pend:
                    if ep.fd >= 0 and ep.owner is not None:
                        ep.owner.on_io(ep)
            if self.graveyard:
                self.graveyard = []
            loops += 1
            if self.deferred:
                self.pending = self.deferred
                self.deferred = []
                if loops < 4:
                    continue
                # keep the bulk going after the loop has looked at its other sources
                self.loop.call_soon(self._on_epoll)
                break
            if n < MAX_EVENTS or loops >= 4:
                break
        if self.stopping:
            self._check_idle_exit()
        self.busy_us += mono_us() - t0

    cdef void sync_paused(self) noexcept:
        """Pause or resume listeners as the frontends' shared `paused` flags say. Only this path
        shuts a listening socket down: a reload's stop (soft_stop) closes the descriptors and
        leaves the sockets listening for the process that takes them over."""
        cdef fl_px_state_t *px = fl_shm_proxies(self.shm_base)
        cdef uint32_t nb = (<fl_shm_header_t *>self.shm_base).nb_proxies
        cdef FrontendRt fe
        cdef Listener l
        cdef bint paused
        for fe in self.frontends:
            paused = <uint32_t>fe.index < nb and (px[fe.index].flags & FL_PX_F_PAUSED) != 0
            for l in fe.listeners:
                if l.pause_kind == LP_KEEP or l.ep.fd < 0 or self.stopping:
                    continue
                if paused and not (l.paused & 4):
                    l.paused |= 4
                    if l.pause_kind == LP_DISCONNECT:
                        shutdown(l.ep.fd, SHUT_RD)   # shared sockets: ENOTCONN once another did it
                elif not paused and (l.paused & 4):
                    l.paused &= ~4
                    if l.pause_kind == LP_DISCONNECT:
                        listen(l.ep.fd, l.backlog)
                    if not l.in_pending:
                        l.in_pending = 1
                        self.wake(l.ep)

    cdef void refresh_limits(self) noexcept:
        """`set maxconn global|frontend` from the runtime API: this worker's share of the new limits;
        `disable|enable frontend`: stop or resume accepting on the frontend's listeners."""
        cdef uint64_t g = (<fl_shm_header_t *>self.shm_base).global_maxconn
        cdef uint32_t n = (<fl_shm_header_t *>self.shm_base).nb_workers
        cdef Listener l
        cdef FrontendRt fe
        cdef int share
        cdef uint32_t fmax
        cdef fl_px_state_t *px = fl_shm_proxies(self.shm_base)
        for fe in self.frontends:
            if <uint32_t>fe.index < (<fl_shm_header_t *>self.shm_base).nb_proxies:
                fmax = px[fe.index].maxconn
                share = <int>((fmax + n - 1) // n) if fmax and n else 0
                if share != fe.maxconn:
                    fe.maxconn = share
                    for l in fe.listeners:
                        if l.paused & 1 and (share == 0 or fe.cur_conn < share):
                            l.paused &= ~1
                            if not l.in_pending:
                                l.in_pending = 1
                                self.wake(l.ep)
        self.sync_paused()
        if g == 0 or n == 0:
            return
        share = <int>((g + n - 1) // n)
        if share != self.maxconn:
            self.maxconn = share
            for l in self.listeners:      # a raised limit may let paused listeners accept again
                if l.paused & 1 and self.cur_conn < self.maxconn:
                    l.paused &= ~1
                    if not l.in_pending:
                        l.in_pending = 1
                        self.wake(l.ep)

    cdef void refresh_server_states(self) noexcept:
        cdef BackendRt be
        cdef ServerRt s
        for s in self.servers:
            s.refresh_addr()
        for be in self.backends:
            be.rebuild()
            be.sync_balancer(self.now)
            # a server that came back or got room may serve queued streams
            self.dequeue_backend(be)

    # -- accepting -------------------------------------------------------------------------------

    cdef void accept_from(self, Listener l) noexcept:
        cdef int i, fd
        cdef sockaddr_in6 peer
        cdef socklen_t plen
        cdef FrontendRt fe = l.fe
        l.in_pending = 0
        if l.ep.fd < 0:
            return
        for i in range(ACCEPT_BATCH):
            if l.paused & 4:
                return
            if (self.maxconn and self.cur_conn >= self.maxconn) or \
                    (fe.maxconn and fe.cur_conn >= fe.maxconn) or \
                    (l.maxconn and l.cur_conn >= l.maxconn):
                l.paused |= 1
                return           # resumed from stream_closed() when a slot frees up
            plen = sizeof(peer)
            fd = accept4(l.ep.fd, <sockaddr *>&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC)
            if fd < 0:
                if errno == EINTR or errno == ECONNABORTED:
                    continue
                if errno == EMFILE or errno == ENFILE or errno == ENOBUFS or errno == ENOMEM:
                    # out of descriptors: retry in 100 ms rather than spinning (HAProxy waits too)
                    l.expire = self.now + 100
                    self.timers.schedule(l)
                    return
                l.ep.flags &= ~EP_CAN_READ
                return
            self.stream_opened(l)
            l.cnt.cum_conn += 1
            fe.cnt.cum_conn += 1
            self.global_cnt.cum_conn += 1
            if fe.http:
                new_http_stream(self, l, fd, &peer, plen)
            else:
                new_tcp_stream(self, l, fd, &peer, plen)
        # batch exhausted: more connections may wait, come back after other work
        if not l.in_pending:
            l.in_pending = 1
            self.wake(l.ep)

    cdef inline void stream_opened(self, Listener l) noexcept:
        cdef FrontendRt fe = l.fe
        self.cur_conn += 1
        self.wstate.cur_conn = self.cur_conn
        fe.cur_conn += 1
        l.cur_conn += 1
        self.streams_total += 1
        fe.cnt.cur_sess = fe.cur_conn
        if <uint64_t>fe.cur_conn > fe.cnt.max_sess:
            fe.cnt.max_sess = fe.cur_conn
        fe.cnt.cum_sess += 1
        l.cnt.cum_sess += 1
        l.cnt.cur_sess = l.cur_conn

    cdef inline void stream_closed(self, Listener l) noexcept:
        cdef FrontendRt fe = l.fe
        cdef Listener x
        self.cur_conn -= 1
        self.wstate.cur_conn = self.cur_conn
        fe.cur_conn -= 1
        l.cur_conn -= 1
        fe.cnt.cur_sess = fe.cur_conn
        l.cnt.cur_sess = l.cur_conn
        # a freed slot may let a listener that hit a limit accept again: its own limit, the
        # frontend's (shared by every bind and every port of a range) or the worker's
        if l.paused & 1:
            l.paused &= ~1
            if not l.in_pending:
                l.in_pending = 1
                self.wake(l.ep)
        if fe.maxconn and fe.cur_conn < fe.maxconn:
            for x in fe.listeners:
                if x.paused & 1:
                    x.paused &= ~1
                    if not x.in_pending:
                        x.in_pending = 1
                        self.wake(x.ep)
        if self.maxconn and self.cur_conn == self.maxconn - 1:
            for x in self.listeners:
                if x.paused & 1:
                    x.paused &= ~1
                    if not x.in_pending:
                        x.in_pending = 1
                        self.wake(x.ep)

    # -- queues ----------------------------------------------------------------------------------

    cdef void dequeue_server(self, ServerRt s) noexcept:
        """A connection slot of `s` freed up: hand it to the oldest stream waiting for `s` or for
        any server of its backend."""
        cdef Stream st
        cdef BackendRt be = s.backend
        cdef bint usable, own
        while s.has_room():
            # a server out of the balancing (drain, weight 0) still serves its own persistent
            # queue, as HAProxy; only usable servers take from the backend's queue
            usable = s.is_usable()
            own = len(s.queue) > 0 and (usable or persist_ok(s, be.persist))
            if not own and not (be.queue and usable):
                return
            if not s.reserve():
                return  # the other workers took the free slots
            if own:
                st = <Stream>s.queue.pop(0)
                st.unqueue()
                s.queue_idx += 1
            else:
                st = <Stream>be.queue.pop(0)
                st.unqueue()
                be.queue_idx += 1
            st.leave_queue(s)

    cdef void retry_queues(self) noexcept:
        """Streams wait in queues: a slot of a full server may have been freed by another worker
        (maxconn is shared), which this one does not hear of. Looked at once per millisecond, at
        least every tick, while something waits."""
        cdef BackendRt be
        self.queues_tried = self.now
        for be in self.backends:
            self.dequeue_backend(be)

    cdef void dequeue_backend(self, BackendRt be) noexcept:
        cdef ServerRt s
        if not be.queue:
            for s in be.servers:
                if s.queue and s.has_room():
                    self.dequeue_server(s)
            return
        for s in be.servers:
            if s.has_room() and s.is_usable():
                self.dequeue_server(s)
                if not be.queue:
                    break

    # -- logging ---------------------------------------------------------------------------------

    cdef void log_tcp(self, Stream s) noexcept:
        """Hand a finished TCP stream's log fields to the Python log callback."""
        cdef int64_t tt = <int64_t>(self.now - s.t_accept)
        try:
            self.log_cb({
                "mode": "tcp",
                "client": sockaddr_text(<sockaddr *>&s.caddr),
                "accept_us": s.t_accept_wall_us,
                "frontend": s.fe.name,
                "listener": s.li.name,
                "backend": s.be.name if s.be is not None else "<NOSRV>",
                "server": s.srv.name if s.srv is not None and s.srv_seen else "<NOSRV>",
                "Tw": s.tw, "Tc": s.tc, "Tt": tt,
                "bytes_read": s.bytes_out, "bytes_in": s.bytes_in,
                "termination": chr(s.term_cause) + chr(s.term_state),
                # called after end_accounting(): this stream no longer counts in cur_conn, while
                # HAProxy's actconn/feconn still include it and its beconn/srv_conn do not
                "actconn": fl_shm_total_conn(self.shm_base) + 1, "feconn": s.fe.cur_conn + 1,
                "beconn": s.be.cur_conn if s.be is not None else 0,
                "srv_conn": s.srv.cur_conn if s.srv is not None else 0,
                "retries": (s.be.retries - s.tries_left) if s.be is not None else 0,
                "redispatched": s.redispatched,
                "srv_queue": s.srv_qpos, "backend_queue": s.be_qpos,
                "bsrc": s.bsrc, "req_counter": s.req_id,
            })
        except Exception:
            pass

    # -- dynamic servers (runtime API "add server" / "del server") -----------------------------

    def add_server(self, str backend, int slot, int counter_slot, str name, int sid, bytes sockaddr,
                   bint port_from_client=False, bint backup=False, int weight=1, cookie=None):
        """Add a server to a backend of this worker. The master has written its state (slot) in
        shared memory first; the server starts taking traffic when that state says so."""
        cdef BackendRt be = self.backends_by_name[backend]
        cdef ServerRt s = ServerRt()
        cdef fl_srv_state_t *states = fl_shm_servers(self.shm_base)
        cdef IdleConnPool pool
        for x in be.servers:
            if (<ServerRt>x).name == name:
                raise ValueError(f"server '{backend}/{name}' already exists")
        s.slot = slot
        s.counter_slot = counter_slot
        s.name = name
        s.id = sid
        s.backend = be
        s.state = states + slot
        s.cnt = self.counters + counter_slot
        memset(s.cnt, 0, sizeof(fl_counters_t))
        if len(sockaddr) > sizeof(sockaddr_storage):
            raise ValueError("address too long")
        memcpy(&s.addr, <char *>sockaddr, len(sockaddr))
        s.addrlen = len(sockaddr)
        s.addr_gen_seen = s.state.addr_gen
        s.port_from_client = port_from_client
        s.backup = backup
        s.conf_weight = weight
        s.cookie = cookie.encode() if cookie else None
        s.non_stick = False
        s.queue = []
        s.idle = []
        pool = IdleConnPool()
        pool.srv = s
        pool.w = self
        s.pool = pool
        be.servers.append(s)
        self.servers.append(s)
        be.rebuild()
        be.index_servers()
        make_balancer(be, self.now)

    def del_server(self, str backend, str name):
        """Remove a server that is in maintenance and serves nothing (HAProxy's conditions)."""
        cdef BackendRt be = self.backends_by_name[backend]
        cdef ServerRt s
        cdef Endpoint ep
        for x in be.servers:
            s = <ServerRt>x
            if s.name != name:
                continue
            if not (s.state.admin & FL_SRV_ADMF_MAINT):
                raise ValueError("Only servers in maintenance mode can be deleted.")
            if s.cur_conn or s.queue:
                raise ValueError("Server still has connections attached to it, cannot remove it.")
            for ep in s.idle:
                self.close_ep(ep, 0)
            s.idle = []
            be.servers.remove(s)
            self.servers.remove(s)
            be.rebuild()
            be.index_servers()
            make_balancer(be, self.now)
            return
        raise KeyError(f"No such server '{backend}/{name}'.")

    def sessions(self):
        """The live streams, for "show sess"."""
        cdef Stream st
        out = []
        for x in self.streams:
            st = <Stream>x
            out.append({
                "ptr": f"0x{id(st):x}",
                "frontend": st.fe.name,
                "backend": st.be.name if st.be is not None else None,
                "server": st.srv.name if st.srv is not None else None,
                "client": sockaddr_text(<sockaddr *>&st.caddr),
                "age_ms": self.now - st.t_accept,
                "state": st.state,
                "worker": self.worker_index,
            })
        return out

    # -- introspection for tests, stats and the runtime API ------------------------------------

    def info(self):
        return {
            "cur_conn": self.cur_conn,
            "streams_total": self.streams_total,
            "buffers_allocated": self.bufs.allocated,
            "buffers_free": self.bufs.nfree,
            "pipes_free": self.pipes.nfree,
            "pipes_used": self.pipes.in_use,
            "timers": self.timers.count,
        }
