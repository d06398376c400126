# distutils: sources = csrc/fl_http.c csrc/fl_http_sem.c csrc/fl_http_chunked.c csrc/fl_http_scan.c csrc/fl_strix.c
# cython: language_level=3
"""fastlb's data plane: one Worker per worker process, driving TCP and HTTP streams from an
epoll set of its own (see _core.pxi for why), with server state and counters in shared memory."""

import socket as _socket

from fastlb._fl_http cimport *
from fastlb._lb cimport Balancer, fl_lb_key_t, fl_lb_str_t, fl_lb_key_clear, FL_LB_NOSRV, FL_LB_FULL, FL_LB_INTERNAL
from fastlb._lb import Balancer as _Balancer
from fastlb._stk cimport StickTable

from .errors import DEFAULT_ERRORS, error_pages

include "_decl.pxi"

include "_core.pxi"
include "_objs.pxi"
include "_stream.pxi"
include "_worker.pxi"
include "_tcp.pxi"
include "_http.pxi"
include "_trace.pxi"
include "_acl.pxi"
include "_strindex.pxi"
include "_route.pxi"
include "_compile.pxi"
include "_stick.pxi"
include "_rules.pxi"
include "_cookie.pxi"
include "_bench.pxi"


cdef void build_runtime(Worker w, plan) except *:
    """Create the runtime objects of `plan` for worker `w`."""
    from fastlb.runtime.listeners import listen_backlog
    cdef FrontendRt fe
    cdef BackendRt be
    cdef ServerRt s
    cdef Listener l
    cdef fl_srv_state_t *states = fl_shm_servers(w.shm_base)
    cdef bytes sa
    conn_modes = {"keep-alive": CONN_KAL, "server-close": CONN_SCL, "close": CONN_CLO}
    for bp in plan.backends:
        be = BackendRt()
        be.index = bp.index
        be.counter_slot = bp.counter_slot
        be.name = bp.name
        be.id = bp.id
        be.http = bp.mode == "http"
        be.cnt = w.counters + <int>bp.counter_slot
        be.servers = []
        be.queue = []
        be.t_connect = bp.t_connect
        be.t_server = bp.t_server
        be.t_queue = bp.t_queue
        be.t_tunnel = bp.t_tunnel
        be.t_server_fin = bp.t_server_fin
        be.retries = bp.retries
        be.redispatch = bp.redispatch
        be.abortonclose = "abortonclose" in bp.conf.options or bp.conf.abortonclose
        be.allbackups = "allbackups" in bp.conf.options
        be.persist = "persist" in bp.conf.options
        be.inspect_delay = bp.conf.tcp_request_inspect_delay or 0
        be.conn_mode = conn_modes.get(bp.conn_mode, CONN_KAL)
        be.plan = bp
        be.xff = make_xff(bp.conf.forwardfor)
        be.errpages = dict(bp.conf.errorfiles)
        for sp in bp.servers:
            s = ServerRt()
            s.slot = sp.slot
            s.counter_slot = sp.counter_slot
            s.name = sp.name
            s.id = sp.id
            s.backend = be
            s.state = states + <int>sp.slot
            s.cnt = w.counters + <int>sp.counter_slot
            sa = sp.sockaddr
            memcpy(&s.addr, <char *>sa, len(sa))
            s.addrlen = len(sa)
            s.addr_gen_seen = s.state.addr_gen
            s.port_from_client = sp.port is None and sp.family != _socket.AF_UNIX
            s.port_offset = sp.port_offset
            s.backup = sp.backup
            s.conf_weight = sp.weight
            s.cookie = sp.cookie.encode() if sp.cookie else None
            s.non_stick = sp.conf.non_stick
            s.queue = []
            s.idle = []
            pool = IdleConnPool()
            pool.srv = s
            pool.w = w
            s.pool = pool
            be.servers.append(s)
            w.servers.append(s)
        be.rebuild()
        be.index_servers()
        make_balancer(be, w.now)
        w.backends.append(be)
        w.backends_by_name[be.name] = be
    for fp in plan.frontends:
        fe = FrontendRt()
        fe.index = fp.index
        fe.counter_slot = fp.counter_slot
        fe.name = fp.name
        fe.id = fp.id
        fe.http = fp.mode == "http"
        fe.cnt = w.counters + <int>fp.counter_slot
        fe.maxconn = -(-fp.maxconn // plan.nbworkers) if fp.maxconn else 0
        fe.t_client = fp.t_client
        fe.t_client_fin = fp.t_client_fin
        fe.t_http_request = fp.t_http_request
        fe.t_http_keep_alive = fp.t_http_keep_alive
        fe.t_tunnel = fp.t_tunnel
        fe.inspect_delay = fp.conf.tcp_request_inspect_delay or 0
        fe.conn_mode = conn_modes.get(fp.conn_mode, CONN_KAL)
        fe.default_backend = w.backends_by_name.get(fp.default_backend) if fp.default_backend else None
        fe.plan = fp
        fe.xff = make_xff(fp.conf.forwardfor)
        fe.errpages = error_pages(fp.conf.errorfiles)
        acls = compile_acls(w, fp.conf)
        fe.router = compile_router(w, fp.conf, acls)
        fe.rules = compile_proxy_rules(w, fp.conf, acls)
        fe.stats_admin = compile_stats_admin(w, fp.conf, acls)
        fe.log_on = bool(fp.conf.logs)
        fe.req_captures = [(c.name.lower().encode(), c.length) for c in fp.conf.captures if c.kind == "request"]
        fe.rsp_captures = [(c.name.lower().encode(), c.length) for c in fp.conf.captures if c.kind == "response"]
        fe.listeners = []
        for lp in fp.listeners:
            l = Listener()
            l.ep = Endpoint()
            l.ep.owner = l
            l.ep.role = 2
            l.fe = fe
            l.w = w
            l.name = lp.name
            l.cnt = w.counters + <int>lp.counter_slot
            l.maxconn = -(-lp.maxconn // plan.nbworkers) if lp.maxconn else 0
            l.backlog = listen_backlog(lp)
            l.pause_kind = LP_KEEP if lp.path is not None else LP_STOP_ACCEPT if lp.fd is not None else LP_DISCONNECT
            fe.listeners.append(l)
            w.listeners.append(l)
        w.frontends.append(fe)
    for x in w.backends:
        be = <BackendRt>x
        be.same_proxy = be.plan.conf.kind == "listen"
        acls = compile_acls(w, be.plan.conf)
        be.rules = compile_proxy_rules(w, be.plan.conf, acls)
        be.stats_admin = compile_stats_admin(w, be.plan.conf, acls)
        be.persist_rules = [(1 if r.action == "force-persist" else 2, compile_cond(w, r.condition, acls))
                            for r in be.plan.conf.persist_rules] or None
        be.stick_rules = compile_stick_rules(w, be.plan.conf, acls, w.stick_tables) or None
        be.stick_rsp = be.stick_rules is not None and any((<StickRuleRt>r).response for r in be.stick_rules)
        bal = be.plan.conf.balance
        if bal.algorithm == "hash" and bal.hash_expr:
            try:
                be.lb_expr = compile_expr_text(w, bal.hash_expr)
            except (RuleCompileError, ValueError) as exc:
                raise RuleCompileError(f"backend '{be.name}' : balance hash '{bal.hash_expr}' : {exc}") from None
        be.cookie = make_cookie_conf(be)
        if be.rules is not None:
            # a backend's tcp-request connection rules never apply (no capability)
            be.rules.tcp_conn = []
    # the states above were read while the master may already write them (a CLI command right
    # after start): refresh once more at the first round instead of trusting the build
    w.state_gen_seen = (<fl_shm_header_t *>w.shm_base).generation - 1


cdef Cond compile_stats_admin(Worker w, proxy, dict acls):
    """The `stats admin` condition of a proxy, compiled like its http-request conditions."""
    st = proxy.stats
    if st is None or not st.enabled or st.admin is None:
        return None
    try:
        return compile_cond(w, st.admin, acls)
    except RuleCompileError as exc:
        raise RuleCompileError(f"proxy '{proxy.name}' : 'stats admin' condition : {exc}") from None


cdef XffConf make_xff(ff):
    if ff is None:
        return None
    return XffConf(ff.header or "X-Forwarded-For", ff.if_none, ff.except_net)


cdef void make_balancer(BackendRt be, uint64_t now_ms) except *:
    """(Re)build the backend's balancer from its servers and its `balance`/`hash-type` lines."""
    cdef ServerRt s
    cdef int i
    conf = be.plan.conf
    bal = conf.balance
    ht = conf.hash_type
    algo = bal.algorithm
    name = None
    if algo == "url_param":
        name = bal.url_param
    elif algo == "hdr":
        name = bal.header
    elif algo == "rdp-cookie":
        name = bal.rdp_cookie
    servers = []
    for i, x in enumerate(be.servers):
        s = <ServerRt>x
        s.lb_index = i
        s.lb_usable = s.is_usable()
        s.lb_weight = s.state.eweight
        servers.append({"name": s.name, "id": s.id, "weight": s.lb_weight or s.conf_weight,
                        "backup": bool(s.backup), "maxconn": s.state.maxconn, "maxqueue": s.state.maxqueue,
                        "slowstart": 0, "usable": bool(s.lb_usable)})
    be.lb = _Balancer(algo, servers,
                      hash_type=ht.method, hash_function=ht.function,
                      avalanche=ht.avalanche if ht.function else None,
                      uri_len=bal.uri_len or 0, uri_depth=bal.uri_depth or 0, uri_whole=bal.uri_whole,
                      uri_path_only=bal.uri_path_only, name=name, use_domain_only=bal.use_domain_only,
                      draws=bal.random_draws or 2, allbackups=be.allbackups,
                      hash_balance_factor=conf.hash_balance_factor or 0, now=now_ms // 1000)
    be.lb_hash = algo in ("source", "uri", "url_param", "hdr", "rdp-cookie", "hash")
