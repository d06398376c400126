# results of running a rule list
DEF RULES_CONTINUE = 0
DEF RULES_STOP = 1         # allow / accept: skip the remaining rules of this list
DEF RULES_ANSWERED = 2     # a response was produced (deny, redirect, return, auth, service)

# Runtime objects of one worker: frontends, backends, servers, listeners. They are built once
# from the plan (fastlb.runtime.plan) and point into the shared-memory segment for server state
# (read) and this worker's counters (write).

cdef inline void cnt_add_bytes(fl_counters_t *c, uint64_t bin, uint64_t bout) noexcept nogil:
    c.bytes_in += bin
    c.bytes_out += bout


cdef class XffConf:
    """`option forwardfor [except <net>] [header <name>] [if-none]`, compiled: the except network
    is compared against the client's address bytes, the header line prefix is ready to insert."""
    cdef bytes name
    cdef int name_len
    cdef bytes line_start          # b"X-Forwarded-For: "
    cdef int if_none
    cdef int except_family         # AF_INET / AF_INET6
    cdef int except_plen           # prefix length; -1 = no except
    cdef uint8_t except_addr[16]

    def __init__(self, str header, bint if_none, str except_net):
        import ipaddress
        self.name = header.encode()
        self.name_len = len(self.name)
        self.line_start = self.name + b": "
        self.if_none = if_none
        self.except_plen = -1
        if except_net:
            net = ipaddress.ip_network(except_net, strict=False)
            raw = net.network_address.packed
            memcpy(self.except_addr, <char *>raw, len(raw))
            self.except_family = AF_INET if net.version == 4 else AF_INET6
            self.except_plen = net.prefixlen

    cdef bint exempt(self, sockaddr *sa) noexcept:
        cdef const uint8_t *a
        cdef int n = self.except_plen, i, bits
        if sa.sa_family == AF_INET:
            if self.except_family != AF_INET:
                return False
            a = <const uint8_t *>&(<sockaddr_in *>sa).sin_addr
        elif sa.sa_family == AF_INET6:
            a = (<sockaddr_in6 *>sa).sin6_addr.s6_addr
            if self.except_family == AF_INET:
                # IPv4-mapped IPv6 client (dual-stack listener)
                for i in range(10):
                    if a[i] != 0:
                        return False
                if a[10] != 0xff or a[11] != 0xff:
                    return False
                a = a + 12
        else:
            return False
        i = 0
        while n >= 8:
            if a[i] != self.except_addr[i]:
                return False
            i += 1
            n -= 8
        if n:
            bits = (0xff << (8 - n)) & 0xff
            if (a[i] & bits) != (self.except_addr[i] & bits):
                return False
        return True


cdef class Router
cdef class Stream
cdef class ProxyRules
cdef class Cond
cdef class CookieConf


cdef class ServerRt:
    cdef readonly int slot            # index of the server state in shared memory
    cdef readonly int counter_slot
    cdef readonly str name
    cdef readonly int id              # HAProxy "sid"
    cdef BackendRt backend
    cdef fl_srv_state_t *state
    cdef fl_counters_t *cnt
    cdef sockaddr_storage addr
    cdef socklen_t addrlen
    cdef uint32_t queue_idx           # streams taken from the queue so far (logs' %sq)
    cdef int port_from_client         # 1: no port given, use the client's destination port
    cdef int port_offset              # +N / -N relative to the client's destination port
    cdef uint32_t addr_gen_seen
    cdef readonly int cur_conn        # connections of this worker to this server
    cdef readonly int backup
    cdef int conf_weight
    cdef readonly bytes cookie        # persistence cookie value
    cdef bint non_stick               # `non-stick`: stick rules never store this server
    cdef list queue                   # streams waiting for a connection slot (FIFO)
    cdef list idle                    # idle HTTP connections (Endpoint) for reuse
    cdef int lb_index                 # index in the backend's balancer
    cdef int lb_usable                # what the balancer was last told
    cdef uint32_t lb_weight
    cdef Handler pool                 # IdleConnPool owning the idle connections

    cdef inline bint is_usable(self) noexcept:
        """UP and not in maintenance/drain, with a non-zero weight: may take new traffic."""
        cdef fl_srv_state_t *st = self.state
        return (st.oper == FL_SRV_ST_RUNNING or st.oper == FL_SRV_ST_STARTING) and \
            (st.admin & (FL_SRV_ADMF_MAINT | FL_SRV_ADMF_DRAIN)) == 0 and st.eweight > 0

    cdef inline bint is_up(self) noexcept:
        cdef fl_srv_state_t *st = self.state
        return (st.oper == FL_SRV_ST_RUNNING or st.oper == FL_SRV_ST_STARTING) and \
            (st.admin & FL_SRV_ADMF_MAINT) == 0

    cdef inline bint has_room(self) noexcept:
        """Below maxconn, counting the connections of every worker (a hint: reserve() decides)."""
        return self.state.maxconn == 0 or fl_srv_conns(self.state) < self.state.maxconn

    cdef inline bint reserve(self) noexcept:
        """Take one of the server's maxconn slots (shared by the workers), if one is free."""
        return fl_srv_reserve(self.state)

    cdef inline void unreserve(self) noexcept:
        fl_srv_unreserve(self.state, 1)

    cdef inline void refresh_addr(self) noexcept:
        if self.state.addr_gen != self.addr_gen_seen:
            if self.state.addr_len:
                memcpy(&self.addr, self.state.addr, self.state.addr_len)
                self.addrlen = self.state.addr_len
            self.addr_gen_seen = self.state.addr_gen


cdef class BackendRt:
    cdef readonly int index
    cdef readonly int counter_slot
    cdef readonly str name
    cdef readonly int id
    cdef readonly int http               # mode http
    cdef list servers                    # ServerRt, in configuration order
    cdef uint32_t queue_idx              # streams taken from the backend queue so far (logs' %bq)
    cdef list active                     # usable non-backup servers, rebuilt on state changes
    cdef list backups
    cdef int allbackups
    cdef bint persist                    # option persist
    cdef uint64_t state_gen_seen
    cdef fl_counters_t *cnt
    cdef list queue                      # streams waiting for any server
    cdef int cur_conn
    # timeouts (ms, 0 = none)
    cdef uint64_t t_connect
    cdef uint64_t t_server
    cdef uint64_t t_queue
    cdef uint64_t t_tunnel
    cdef uint64_t t_server_fin
    cdef int retries
    cdef int redispatch                  # 0 = off; else HAProxy's interval (-1 = last retry)
    cdef int abortonclose
    cdef int conn_mode                   # CONN_KAL / CONN_SCL / CONN_CLO
    cdef Balancer lb                     # server selection (fastlb._lb, HAProxy-exact)
    cdef int lb_hash                     # deterministic (hash) algorithm: queue on the server
    cdef XffConf xff                     # option forwardfor of the backend, or None
    cdef dict errpages                   # status -> full HTTP response (errorfile or default)
    cdef object plan
    cdef bytes service_uri               # requests under this path go to service_cb (stats page)
    cdef ProxyRules rules                # http-request/-response rules of the backend, or None
    cdef CookieConf cookie               # cookie persistence, or None
    cdef list persist_rules              # (1 force-persist | 2 ignore-persist, Cond), or None
    cdef uint64_t inspect_delay          # tcp-request inspect-delay (ms) for its content rules
    cdef list stick_rules                # StickRuleRt (stick match/on/store-*), or None
    cdef bint stick_rsp                  # some of them are store-response rules
    cdef dict srv_by_name                # server name -> ServerRt (stick table entries)
    cdef dict srv_by_id                  # server id -> ServerRt
    cdef object lb_expr                  # SampleExpr of `balance hash <expr>`, or None
    cdef int same_proxy                  # a listen section: rules already run as frontend
    cdef object service_cb               # callable(request: dict) -> bytes (a full HTTP response)
    cdef Cond stats_admin                # `stats admin if|unless <cond>` of the proxy, or None

    cdef void index_servers(self) noexcept:
        cdef ServerRt s
        self.srv_by_name = {s.name: s for s in self.servers}
        self.srv_by_id = {s.id: s for s in self.servers}

    cdef void rebuild(self) noexcept:
        cdef ServerRt s
        self.active = [s for s in self.servers if not s.backup and s.is_usable()]
        self.backups = [s for s in self.servers if s.backup and s.is_usable()]
        if not self.allbackups and self.backups:
            self.backups = self.backups[:1]

    cdef void sync_balancer(self, uint64_t now_ms) noexcept:
        """Tell the balancer about servers whose usability or weight changed in shared memory."""
        cdef ServerRt s
        cdef int usable
        cdef uint32_t weight
        for s in self.servers:
            usable = s.is_usable()
            weight = s.state.eweight
            if usable != s.lb_usable:
                self.lb.c_set_usable(s.lb_index, usable, <int64_t>(now_ms // 1000))
                s.lb_usable = usable
            if weight != s.lb_weight and weight > 0:
                self.lb.c_set_weight(s.lb_index, weight, <int64_t>(now_ms // 1000))
                s.lb_weight = weight


DEF CONN_KAL = 0
DEF CONN_SCL = 1
DEF CONN_CLO = 2


cdef class FrontendRt:
    cdef readonly int index
    cdef readonly int counter_slot
    cdef readonly str name
    cdef readonly int id
    cdef readonly int http
    cdef BackendRt default_backend
    cdef fl_counters_t *cnt
    cdef int maxconn                    # this worker's share, 0 = unlimited
    cdef readonly int cur_conn
    cdef list listeners
    cdef uint64_t t_client
    cdef uint64_t t_client_fin
    cdef uint64_t t_http_request
    cdef uint64_t t_http_keep_alive
    cdef uint64_t t_tunnel
    cdef int conn_mode
    cdef object router                  # routing rules (use_backend), None = default backend only
    cdef object plan                    # the FrontendPlan (Python side: errorfiles, logging, ...)
    cdef XffConf xff                    # option forwardfor of the frontend, or None
    cdef dict errpages
    cdef ProxyRules rules               # http-request/-response/tcp-request rules, or None
    cdef bint log_on                    # the frontend has log targets: build log records
    cdef list req_captures              # [(lower-case name, max length)] of "capture request header"
    cdef list rsp_captures
    cdef uint64_t inspect_delay         # tcp-request inspect-delay (ms), 0 = none
    cdef bytes service_uri              # "stats enable" on the frontend: requests under this path...
    cdef object service_cb              # ...are answered by callable(request: dict) -> bytes
    cdef Cond stats_admin               # `stats admin if|unless <cond>` of the proxy, or None
    cdef bint want_bsrc                 # logs print %bi/%bp: note server connections' source
    cdef object uid_cb                  # unique-id-header: callable(fields) -> unique id (str)
    cdef bytes uid_header               # b"<unique-id-header>: "


cdef class Listener(Handler):
    cdef readonly Endpoint ep
    cdef readonly FrontendRt fe
    cdef Worker w
    cdef readonly str name
    cdef fl_counters_t *cnt
    cdef int maxconn
    cdef readonly int cur_conn
    cdef int paused                     # 1 = limit reached, 4 = frontend paused (fastlb.runtime.pause)
    cdef int in_pending
    cdef int backlog                    # to listen() again after a pause
    cdef int pause_kind                 # LP_DISCONNECT, LP_STOP_ACCEPT or LP_KEEP (see sync_paused)

    cdef void on_io(self, Endpoint ep) noexcept:
        self.w.accept_from(self)

    cdef void on_timeout(self, uint64_t now) noexcept:
        self.expire = 0
        self.w.accept_from(self)



cdef class Router:
    """Chooses the backend of a request (use_backend rules). The rule engine subclasses it."""

    cdef BackendRt route(self, Stream s, BackendRt default):
        return default
