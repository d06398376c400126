"""The runtime plan: what the workers need from a loaded configuration, resolved once.

The plan turns the configuration model (names, unresolved addresses, optional values with
HAProxy defaults) into flat, indexed records: every frontend, backend, server and listener gets
an index and a counter slot in shared memory, server addresses are resolved to socket addresses,
timeouts become plain milliseconds, and per-worker shares of the connection limits are computed.
A reload builds a new plan from a new configuration.
"""
from __future__ import annotations

import ipaddress
import os
import resource
import socket
import struct
from dataclasses import dataclass, field

from ..config.model import Address, Config, Proxy
from ..config.model import Server as ServerConf

#: Extra server slots in shared memory for servers added at run time ("add server").
SPARE_SERVER_SLOTS = 64
#: File descriptors kept for everything that is not a proxied connection (logs, sockets, pipes).
FD_RESERVE = 64


class PlanError(Exception):
    """The configuration cannot be run (as opposed to being invalid): unresolvable server, no
    address to bind, file descriptors."""


@dataclass
class ServerPlan:
    slot: int  # index in shared memory (server state)
    counter_slot: int
    backend: str
    name: str
    id: int
    family: int
    sockaddr: bytes  # packed struct sockaddr_in / sockaddr_in6 / sockaddr_un
    host: str
    port: int | None
    port_offset: int
    weight: int
    backup: bool
    maxconn: int
    maxqueue: int
    cookie: str | None
    disabled: bool
    conf: ServerConf


@dataclass
class BackendPlan:
    index: int
    counter_slot: int
    name: str
    id: int
    mode: str
    servers: list[ServerPlan]
    conf: Proxy
    t_connect: int
    t_server: int
    t_queue: int
    t_tunnel: int
    t_server_fin: int
    retries: int
    redispatch: int
    conn_mode: str


@dataclass
class ListenerPlan:
    index: int
    counter_slot: int
    frontend: str
    name: str
    family: int
    host: str
    port: int
    path: str | None
    fd: int | None
    backlog: int
    maxconn: int
    v4v6: bool
    v6only: bool
    defer_accept: bool
    reuseport: bool
    mode: int | None
    text: str


@dataclass
class FrontendPlan:
    index: int
    counter_slot: int
    name: str
    id: int
    mode: str
    listeners: list[ListenerPlan]
    maxconn: int  # 0 = global maxconn applies
    default_backend: str | None
    conf: Proxy
    t_client: int
    t_client_fin: int
    t_http_request: int
    t_http_keep_alive: int
    t_tunnel: int
    conn_mode: str


@dataclass
class StickTablePlan:
    """A stick-table, created once by the master in shared memory (fastlb._stk)."""

    name: str
    type: str
    length: int
    size: int
    expire_ms: int
    nopurge: bool
    srvkey: str
    server_keys: tuple[str, ...]  # what entries may name a server by: every server name (or address)
    stores: tuple[str, ...] = ()  # data types declared with "store" (show table prints them)


@dataclass
class Plan:
    config: Config
    nbworkers: int
    maxconn: int
    worker_maxconn: int
    bufsize: int
    maxrewrite: int
    maxhdr: int
    pipesize: int
    maxpipes: int
    frontends: list[FrontendPlan] = field(default_factory=list)
    backends: list[BackendPlan] = field(default_factory=list)
    servers: list[ServerPlan] = field(default_factory=list)
    listeners: list[ListenerPlan] = field(default_factory=list)
    stick_tables: list[StickTablePlan] = field(default_factory=list)
    server_slots: int = 0
    counter_slots: int = 0
    warnings: list[str] = field(default_factory=list)

    def backend(self, name: str) -> BackendPlan | None:
        for b in self.backends:
            if b.name == name:
                return b
        return None

    def frontend(self, name: str) -> FrontendPlan | None:
        for f in self.frontends:
            if f.name == name:
                return f
        return None


def pack_sockaddr(family: int, host: str, port: int) -> bytes:
    """A struct sockaddr_in/sockaddr_in6 in the C layout, for the data plane's connect()."""
    if family == socket.AF_INET:
        return struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_pton(socket.AF_INET, host))
    if family == socket.AF_INET6:
        return struct.pack("=HHI16sI", socket.AF_INET6, socket.htons(port), 0,
                           socket.inet_pton(socket.AF_INET6, host), 0)
    raise ValueError(f"unsupported address family {family}")


def pack_sockaddr_un(path: str) -> bytes:
    raw = path.encode()
    if len(raw) >= 108:
        raise PlanError(f"UNIX socket path too long: {path}")
    return struct.pack("=H108s", socket.AF_UNIX, raw)


def resolve_host(host: str, family_hint: str) -> tuple[int, str]:
    """Resolve a server host name once, at start-up (HAProxy's `init-addr libc`)."""
    try:
        ip = ipaddress.ip_address(host)
        return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), str(ip)
    except ValueError:
        pass
    fam = socket.AF_INET6 if family_hint == "ipv6" else socket.AF_UNSPEC
    try:
        infos = socket.getaddrinfo(host, None, fam, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PlanError(f"could not resolve address '{host}': {exc.strerror}") from None
    infos.sort(key=lambda i: 0 if i[0] == socket.AF_INET else 1)
    fam, _, _, _, sa = infos[0]
    return fam, sa[0]


def _ms(v: int | None) -> int:
    return int(v) if v else 0


def default_maxconn() -> int:
    """HAProxy derives maxconn from the file descriptor limit when it is not set."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 1 << 20
    return max(100, (limit - FD_RESERVE) // 2)


def build_plan(config: Config, nbworkers: int | None = None, maxconn_override: int | None = None,
               maxpconn: int | None = None) -> Plan:
    """`maxconn_override` is the command line's -n, `maxpconn` its -N (the maxconn of proxies that
    set none)."""
    g = config.global_
    workers = nbworkers or g.nbthread or os.cpu_count() or 1
    explicit_maxconn = maxconn_override or g.maxconn
    maxconn = explicit_maxconn or default_maxconn()
    worker_maxconn = -(-maxconn // workers)
    # HAProxy: maxpipes defaults to maxconn/4; nosplice or maxpipes 0: recv/send only (0 pipes)
    maxpipes = g.maxpipes if g.maxpipes is not None else max(4, maxconn // 4)
    if g.nosplice:
        maxpipes = 0
    plan = Plan(
        config=config,
        nbworkers=workers,
        maxconn=maxconn,
        worker_maxconn=worker_maxconn,
        bufsize=g.tune.bufsize,
        maxrewrite=g.tune.maxrewrite,
        maxhdr=g.tune.http_maxhdr,
        pipesize=g.tune.pipesize or 0,
        maxpipes=-(-maxpipes // workers),
    )
    counter = 0
    server_slot = 0
    backends_by_name: dict[str, BackendPlan] = {}
    proxy_ids = _proxy_ids(config)
    for proxy in config.proxies:
        if not proxy.has_backend or proxy.disabled:
            continue
        servers = []
        for i, s in enumerate(proxy.servers):
            sp = _server_plan(proxy, s, server_slot, i + 1)
            servers.append(sp)
            plan.servers.append(sp)
            server_slot += 1
        t = proxy.timeouts
        be = BackendPlan(
            index=len(plan.backends), counter_slot=0, name=proxy.name, id=proxy_ids[proxy.name],
            mode=proxy.mode, servers=servers, conf=proxy,
            t_connect=_ms(t.connect), t_server=_ms(t.server), t_queue=_ms(t.queue),
            t_tunnel=_ms(t.tunnel), t_server_fin=_ms(t.server_fin),
            retries=proxy.retries, redispatch=(proxy.redispatch_interval or -1) if proxy.redispatch else 0,
            conn_mode=proxy.http_connection_mode,
        )
        plan.backends.append(be)
        backends_by_name[proxy.name] = be
    for proxy in config.proxies:
        if not proxy.has_frontend or proxy.disabled:
            continue
        t = proxy.timeouts
        fe = FrontendPlan(
            index=len(plan.frontends), counter_slot=0, name=proxy.name, id=proxy_ids[proxy.name],
            mode=proxy.mode, listeners=[], maxconn=proxy.maxconn or maxpconn or 0,
            default_backend=proxy.default_backend or (proxy.name if proxy.kind == "listen" else None),
            conf=proxy, t_client=_ms(t.client), t_client_fin=_ms(t.client_fin),
            t_http_request=_ms(t.http_request), t_http_keep_alive=_ms(t.http_keep_alive),
            t_tunnel=_ms(t.tunnel), conn_mode=proxy.http_connection_mode,
        )
        for b in proxy.binds:
            for lp in _listener_plans(fe, b, proxy):
                lp.index = len(plan.listeners)
                fe.listeners.append(lp)
                plan.listeners.append(lp)
        plan.frontends.append(fe)
    # counter slots: frontends, backends, servers (plus spares), listeners
    for fe in plan.frontends:
        fe.counter_slot = counter
        counter += 1
    for be in plan.backends:
        be.counter_slot = counter
        counter += 1
    for sp in plan.servers:
        sp.counter_slot = counter
        counter += 1
    counter += SPARE_SERVER_SLOTS
    for lp in plan.listeners:
        lp.counter_slot = counter
        counter += 1
    plan.counter_slots = counter
    plan.server_slots = server_slot + SPARE_SERVER_SLOTS
    plan.stick_tables = _stick_tables(config, plan)
    _check_fd_limit(plan, explicit_maxconn is not None)
    return plan


def _stick_tables(config: Config, plan: Plan) -> list[StickTablePlan]:
    names = tuple(sorted({sp.name for sp in plan.servers}))
    addrs = tuple(sorted({f"{sp.host}:{sp.port}" for sp in plan.servers if sp.port is not None}))
    out = []
    for p in config.proxies:
        t = p.stick_table
        if t is None:
            continue
        out.append(StickTablePlan(
            name=p.name, type=t.type, length=t.length, size=t.size, expire_ms=t.expire_ms or 0,
            nopurge=t.nopurge, srvkey=t.srvkey, server_keys=addrs if t.srvkey == "addr" else names,
            stores=t.stores,
        ))
    return out


def _proxy_ids(config: Config) -> dict[str, int]:
    """HAProxy numbers proxies from 1 in declaration order (iid in the stats), unless `id` is set.
    Frontend and backend parts of a `listen` share one id."""
    ids: dict[str, int] = {}
    used = {p.id for p in config.proxies if p.id}
    nxt = 1
    for p in config.proxies:
        if p.id:
            ids[p.name] = p.id
            continue
        while nxt in used:
            nxt += 1
        ids[p.name] = nxt
        used.add(nxt)
    return ids


def _server_plan(proxy: Proxy, s: ServerConf, slot: int, default_id: int) -> ServerPlan:
    addr = s.address
    if addr is None:
        raise PlanError(f"server '{proxy.name}/{s.name}' has no address")
    port_offset = addr.port_offset or 0
    if addr.family == "unix":
        family, host, sockaddr = socket.AF_UNIX, addr.path or "", pack_sockaddr_un(addr.path or "")
        port = None
    else:
        try:
            family, host = resolve_host(addr.host or "127.0.0.1", addr.family)
        except PlanError as exc:
            raise PlanError(f"[{s.file}:{s.line}] : 'server {proxy.name}/{s.name}' : {exc}") from None
        port = addr.port_low
        sockaddr = pack_sockaddr(family, host, port or 0)
    return ServerPlan(
        slot=slot, counter_slot=0, backend=proxy.name, name=s.name, id=s.id or default_id,
        family=family, sockaddr=sockaddr, host=host, port=port, port_offset=port_offset,
        weight=s.weight, backup=s.backup, maxconn=s.maxconn, maxqueue=s.maxqueue, cookie=s.cookie,
        disabled=s.disabled, conf=s,
    )


def _listener_plans(fe: FrontendPlan, b, proxy: Proxy) -> list[ListenerPlan]:
    a: Address = b.address
    out = []
    common = dict(
        index=0, counter_slot=0, frontend=proxy.name, name=b.name or "", backlog=b.backlog or proxy.backlog or 0,
        maxconn=b.maxconn or 0, v4v6=b.v4v6, v6only=b.v6only, defer_accept=b.defer_accept,
        reuseport=b.reuseport, mode=b.mode, text=a.text,
    )
    if a.family in ("unix", "abns"):
        path = a.path or ""
        if a.family == "abns":
            path = "\0" + path
        out.append(ListenerPlan(family=socket.AF_UNIX, host="", port=0, path=path, fd=None, **common))
    elif a.family == "fd":
        out.append(ListenerPlan(family=-1, host="", port=0, path=None, fd=a.fd, **common))
    elif a.family in ("ipv4", "ipv6"):
        host = a.host or ""
        if a.family == "ipv6" or ":" in host:
            family = socket.AF_INET6
            host = host or "::"
        else:
            family = socket.AF_INET
            host = host or "0.0.0.0"
            if host != "0.0.0.0":
                try:
                    ipaddress.ip_address(host)
                except ValueError:
                    family, host = resolve_host(host, a.family)
        low = a.port_low
        high = a.port_high or low
        if low is None:
            raise PlanError(f"[{b.file}:{b.line}] : bind '{a.text}' : missing port")
        for port in range(low, (high or low) + 1):
            out.append(ListenerPlan(family=family, host=host, port=port, path=None, fd=None, **common))
    else:
        raise PlanError(f"[{b.file}:{b.line}] : bind '{a.text}' : address family '{a.family}' not supported")
    return out


def _check_fd_limit(plan: Plan, explicit: bool) -> None:
    """Raise RLIMIT_NOFILE to what maxconn needs (each proxied connection has two sockets) and,
    when the hard limit forbids it, lower this worker share and say so."""
    need = plan.worker_maxconn * 2 + plan.maxpipes * 2 + len(plan.listeners) + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < need:
        # As HAProxy: say so and go on. An idle client connection needs one descriptor, a
        # proxied one two: the limit may or may not be reached; when it is, accepting pauses
        # until descriptors free up (EMFILE is retried), nothing breaks.
        plan.warnings.append(
            f"[fastlb.main()] Cannot raise FD limit to {need}, limit is {target}: each worker may "
            f"run out of descriptors before its {plan.worker_maxconn} connections; raise 'ulimit -n' "
            f"or spread maxconn over more workers (nbthread)."
        )
