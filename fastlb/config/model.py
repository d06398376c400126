"""The parsed configuration: immutable dataclasses that the rest of fastlb builds its plan from.

Everything here is frozen and built of tuples, frozensets and read-only mappings, so a loaded
``Config`` can be shared by the master and handed to workers without defensive copies; a reload
builds a new one. ``defaults`` sections do not appear: their values are resolved into each proxy
at load time (HAProxy semantics: the last ``defaults`` before the proxy, or the one named by
``from``), so consumers read a proxy's own fields only.

Times are integers in milliseconds (``None`` = not set, HAProxy's own default applies), sizes
are integers in bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

ProxyKind = Literal["frontend", "backend", "listen"]
ProxyMode = Literal["http", "tcp"]
AddressFamily = Literal["ipv4", "ipv6", "unix", "fd", "abns", "sockpair", "stdout", "stderr", "ring"]
HttpConnectionMode = Literal["keep-alive", "server-close", "close"]

EMPTY_MAPPING: Mapping = MappingProxyType({})


def _empty_mapping() -> Mapping:
    return EMPTY_MAPPING


@dataclass(frozen=True)
class Address:
    """A socket address as HAProxy writes it: ``[family@]host[:port[-port]]``, a path, ``fd@N``.

    ``host`` is ``None`` or ``""`` for the wildcard (``*:80``, ``:80``); HAProxy's wildcard binds
    IPv4 ``0.0.0.0`` unless ``ipv6@`` or ``:::80`` says otherwise. ``port_low`` is ``None`` when no
    port was given (a server then uses the client's destination port); ``port_offset`` is set for
    a server's ``+N``/``-N`` form (port relative to the client's destination port).
    """

    family: AddressFamily
    host: str | None = None
    port_low: int | None = None
    port_high: int | None = None
    path: str | None = None
    fd: int | None = None
    port_offset: int | None = None
    text: str = ""  # as written in the configuration, for messages

    @property
    def port(self) -> int | None:
        return self.port_low

    def __str__(self) -> str:
        return self.text or repr(self)


@dataclass(frozen=True)
class LogTarget:
    """One ``log`` line: where to send syslog messages and which ones."""

    address: Address
    facility: str
    level: str | None = None  # max level sent (None = all)
    minlevel: str | None = None
    format: str = "rfc3164"
    length: int = 1024
    sample: str | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Tune:
    """``tune.*`` values of the global section (only those fastlb uses get a field)."""

    bufsize: int = 16384
    maxrewrite: int = 1024
    http_maxhdr: int = 101
    maxaccept: int | None = None
    pipesize: int | None = None
    other: Mapping[str, tuple[str, ...]] = field(
        default_factory=_empty_mapping
    )  # every other tune.* keyword, raw


@dataclass(frozen=True)
class StatsSocket:
    """``stats socket <address> [options]``: the runtime API listener."""

    address: Address
    mode: int | None = None  # permissions of a UNIX socket
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    group: str | None = None
    level: Literal["user", "operator", "admin"] = "operator"  # HAProxy 2.6 default
    expose_fd_listeners: bool = False
    maxconn: int | None = None
    name: str | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class GlobalSection:
    """The merged ``global`` sections."""

    logs: tuple[LogTarget, ...] = ()
    log_tag: str | None = None
    log_send_hostname: str | None = None
    chroot: str | None = None  # existence is checked when the process chroots, not here
    pidfile: str | None = None
    maxconn: int | None = None
    user: str | None = None
    group: str | None = None
    uid: int | None = None  # resolved from ``user`` when it exists on this machine
    gid: int | None = None
    #: False when ``user``/``group`` names no account on this machine: a warning in check mode,
    #: an error only when the process must switch to it (the runtime decides).
    user_exists: bool = True
    group_exists: bool = True
    daemon: bool = False
    master_worker: bool = False
    nbthread: int | None = None  # None = default (one worker per CPU is the runtime's choice)
    cpu_maps: tuple[str, ...] = ()
    stats_sockets: tuple[StatsSocket, ...] = ()
    stats_timeout_ms: int = 10000
    stats_maxconn: int = 10
    hard_stop_after_ms: int | None = None
    grace_ms: int | None = None
    spread_checks: int = 0
    max_spread_checks_ms: int | None = None
    ulimit_n: int | None = None
    maxpipes: int | None = None  # None = maxconn / 4
    nosplice: bool = False
    node: str | None = None
    description: str | None = None
    server_state_file: str | None = None
    server_state_base: str | None = None
    ca_base: str | None = None
    crt_base: str | None = None
    tune: Tune = field(default_factory=Tune)
    unsupported: tuple[str, ...] = ()  # keywords accepted and ignored (with a warning)


@dataclass(frozen=True)
class Timeouts:
    """``timeout <kind>`` values in milliseconds; ``None`` = not set."""

    client: int | None = None
    server: int | None = None
    connect: int | None = None
    queue: int | None = None
    http_request: int | None = None
    http_keep_alive: int | None = None
    tunnel: int | None = None
    client_fin: int | None = None
    server_fin: int | None = None
    check: int | None = None
    tarpit: int | None = None


@dataclass(frozen=True)
class Bind:
    """One listening address of a ``bind`` line (a line listing several addresses gives several)."""

    address: Address
    name: str | None = None
    id: int | None = None
    maxconn: int | None = None
    backlog: int | None = None
    v4v6: bool = False
    v6only: bool = False
    defer_accept: bool = False
    accept_proxy: bool = False
    transparent: bool = False
    tfo: bool = False
    reuseport: bool = True  # ``noreuseport`` turns it off
    interface: str | None = None
    namespace: str | None = None
    mss: str | None = None
    nice: int | None = None
    mode: int | None = None  # UNIX socket permissions
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    group: str | None = None
    level: str | None = None  # for binds of the stats socket kind
    ssl: bool = False
    alpn: str | None = None
    proto: str | None = None
    ignored_options: tuple[str, ...] = ()  # real HAProxy options fastlb does not implement yet
    legacy: bool = False  # from the ``frontend name addr`` form
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class ForwardFor:
    """``option forwardfor [except <network>] [header <name>] [if-none]``."""

    except_net: str | None = None  # normalised network, e.g. "127.0.0.0/8"
    header: str = "X-Forwarded-For"
    if_none: bool = False


@dataclass(frozen=True)
class OriginalTo:
    """``option originalto [except <network>] [header <name>]``."""

    except_net: str | None = None
    header: str = "X-Original-To"


@dataclass(frozen=True)
class AclDef:
    """An ACL: ``acl <name> <fetch>[(<args>)][,<converter>...] [flags] [operator] <values>...``.

    Anonymous ACLs written inside a condition (``{ path_beg /x }``) have ``name`` ``""``.
    Several ``acl`` lines with the same name OR together (each keeps its own ``AclDef``).
    """

    name: str
    fetch: str
    fetch_args: tuple[str, ...] = ()
    converters: tuple[str, ...] = ()  # raw ",conv(args)" parts, in order
    ignore_case: bool = False  # -i
    no_dns: bool = False  # -n
    matcher: str | None = None  # -m <method>, or implied by the fetch suffix (path_beg -> beg)
    pattern_files: tuple[str, ...] = ()  # -f <file>
    map_file: str | None = None  # -M
    unique_id: str | None = None  # -u
    operator: str | None = None  # eq/ge/gt/le/lt for integer matches
    values: tuple[str, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class ConditionTerm:
    """One ACL reference of a condition: a named ACL (possibly predefined) or an anonymous one."""

    acl: str  # ACL name; "" for an anonymous ACL
    negate: bool = False  # written with "!"
    anonymous: AclDef | None = None
    predefined: bool = False  # TRUE, FALSE, METH_GET...


@dataclass(frozen=True)
class Condition:
    """``if``/``unless`` condition: an OR of AND-terms. ``negate_unless`` is True for ``unless``
    (the whole result is inverted)."""

    terms: tuple[tuple[ConditionTerm, ...], ...]
    negate_unless: bool = False
    text: str = ""

    def acl_names(self) -> set[str]:
        return {t.acl for conj in self.terms for t in conj if t.acl}


@dataclass(frozen=True)
class UseBackend:
    backend: str  # may be a log-format expression ("%[...]"): then ``dynamic`` is True
    condition: Condition | None = None
    dynamic: bool = False
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class UseServer:
    server: str
    condition: Condition | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Balance:
    """``balance <algorithm> [arguments]``."""

    algorithm: str = "roundrobin"  # roundrobin static-rr leastconn first source uri url_param hdr
    # random rdp-cookie hash
    header: str | None = None  # hdr(<name>)
    use_domain_only: bool = False  # hdr(host) use_domain_only
    url_param: str | None = None
    check_post: int | None = None  # url_param check_post [<max_wait>]
    rdp_cookie: str | None = None
    uri_whole: bool = False
    uri_path_only: bool = False
    uri_len: int | None = None
    uri_depth: int | None = None
    random_draws: int = 2
    hash_expr: str | None = None  # balance hash <expr>
    args: tuple[str, ...] = ()  # as written


@dataclass(frozen=True)
class HashType:
    """``hash-type <method> <function> [<modifier>]``."""

    method: Literal["map-based", "consistent"] = "map-based"
    #: None when the line names no function: sdbm, plus avalanche for "consistent" (HAProxy)
    function: Literal["sdbm", "djb2", "wt6", "crc32"] | None = None
    avalanche: bool = False


@dataclass(frozen=True)
class CookieSettings:
    """``cookie <name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] ...``."""

    name: str
    mode: Literal["rewrite", "insert", "prefix"] | None = None  # None: passive (server's own cookie)
    indirect: bool = False
    nocache: bool = False
    postonly: bool = False
    preserve: bool = False
    httponly: bool = False
    secure: bool = False
    domains: tuple[str, ...] = ()
    maxidle_s: int | None = None
    maxlife_s: int | None = None
    dynamic: bool = False
    attrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StickTableConf:
    """``stick-table type <t> [len <n>] size <n> [expire <t>] [nopurge] [peers <p>] [srvkey <k>]
    [store <types>]*`` of a proxy; the table is named after the proxy."""

    type: Literal["ip", "ipv6", "integer", "string", "binary"]
    size: int
    length: int = 32  # "len": characters of a string key, bytes of a binary key
    expire_ms: int | None = None  # None: entries never expire (the oldest go when full)
    nopurge: bool = False
    peers: str | None = None
    srvkey: Literal["name", "addr"] = "name"
    stores: tuple[str, ...] = ()  # data types as written ("server_id", "conn_cur", "http_req_rate(10s)")
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class StickRule:
    """``stick match|on|store-request|store-response <expr> [table <t>] [if|unless <cond>]``."""

    kind: Literal["match", "on", "store-request", "store-response"]
    expr: str  # sample expression as written
    fetch: str
    fetch_args: tuple[str, ...] = ()
    converters: tuple[str, ...] = ()
    table: str | None = None  # None: the proxy's own table
    condition: Condition | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Server:
    """``server <name> <address> [options]`` after ``default-server`` values were applied."""

    name: str
    address: Address | None  # None only for ``server-template`` placeholders resolved later
    file: str = ""
    line: int = 0
    id: int | None = None
    check: bool = False
    inter: int = 2000
    fastinter: int | None = None  # None = inter
    downinter: int | None = None  # None = inter
    rise: int = 2
    fall: int = 3
    weight: int = 1
    backup: bool = False
    cookie: str | None = None
    maxconn: int = 0  # 0 = unlimited
    minconn: int = 0
    maxqueue: int = 0
    slowstart: int = 0  # ms
    disabled: bool = False
    send_proxy: bool = False
    send_proxy_v2: bool = False
    check_send_proxy: bool = False
    agent_check: bool = False
    agent_port: int | None = None
    agent_addr: str | None = None
    agent_inter: int | None = None
    agent_send: str | None = None
    check_addr: str | None = None  # ``addr``
    check_port: int | None = None  # ``port``
    observe: str | None = None
    on_error: str | None = None
    on_marked_down: str | None = None
    on_marked_up: str | None = None
    error_limit: int = 10
    redir: str | None = None
    track: str | None = None
    source: str | None = None
    non_stick: bool = False
    ssl: bool = False
    resolvers: str | None = None
    init_addr: str | None = None
    ignored_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatsSettings:
    """``stats *`` keywords of a proxy: the HTML/CSV statistics page."""

    enabled: bool = False
    uri: str = "/haproxy?stats"
    realm: str | None = None
    auths: tuple[tuple[str, str], ...] = ()  # (user, password)
    refresh_ms: int | None = None
    admin: Condition | None = None
    hide_version: bool = False
    show_legends: bool = False
    show_node: str | None = None
    show_desc: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpRule:
    """An ``http-request``/``http-response``/``http-after-response``/``tcp-request`` rule:
    the action keyword, its arguments as written, and its condition."""

    action: str
    args: tuple[str, ...] = ()
    condition: Condition | None = None
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class HttpCheck:
    """``option httpchk [<method>] [<uri>] [<version>]``."""

    method: str = "OPTIONS"
    uri: str = "/"
    version: str = "HTTP/1.0"
    headers: tuple[tuple[str, str], ...] = ()  # from the legacy "HTTP/1.1\r\nHost: x" form


@dataclass(frozen=True)
class CheckRule:
    """``http-check``/``tcp-check`` directive: ``kind`` is send, expect, connect, comment...."""

    kind: str
    args: tuple[str, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Capture:
    """``capture request|response header <name> len <n>`` or ``capture cookie <name> len <n>``."""

    kind: Literal["request", "response", "cookie"]
    name: str
    length: int


@dataclass(frozen=True)
class Proxy:
    """A ``frontend``, ``backend`` or ``listen`` section with its ``defaults`` resolved in."""

    name: str
    kind: ProxyKind
    file: str = ""
    line: int = 0
    id: int | None = None
    defaults_name: str | None = None  # the defaults section it took its values from
    mode: ProxyMode = "tcp"
    disabled: bool = False
    description: str | None = None
    binds: tuple[Bind, ...] = ()
    maxconn: int | None = None
    backlog: int | None = None
    fullconn: int | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    retries: int = 3
    redispatch: bool = False
    redispatch_interval: int = -1
    abortonclose: bool = False
    http_connection_mode: HttpConnectionMode = "keep-alive"
    http_pretend_keepalive: bool = False
    forwardfor: ForwardFor | None = None
    originalto: OriginalTo | None = None
    httplog: bool = False
    httplog_clf: bool = False
    log_json: bool = False  # fastlb: `option httplog json` / `option tcplog json`
    tcplog: bool = False
    dontlognull: bool = False
    dontlog_normal: bool = False
    log_separate_errors: bool = False
    log_health_checks: bool = False
    logasap: bool = False
    logs: tuple[LogTarget, ...] = ()  # ``log global`` is resolved into the global targets
    log_format: str | None = None
    log_tag: str | None = None
    unique_id_format: str | None = None
    unique_id_header: str | None = None
    acls: tuple[AclDef, ...] = ()
    use_backends: tuple[UseBackend, ...] = ()
    default_backend: str | None = None
    use_servers: tuple[UseServer, ...] = ()
    balance: Balance = field(default_factory=Balance)
    hash_type: HashType = field(default_factory=HashType)
    hash_balance_factor: int = 0
    cookie: CookieSettings | None = None
    stick_table: StickTableConf | None = None
    stick_rules: tuple[StickRule, ...] = ()
    servers: tuple[Server, ...] = ()
    errorfiles: Mapping[int, bytes] = field(
        default_factory=_empty_mapping
    )  # status code -> full HTTP response
    errorlocs: Mapping[int, tuple[int, str]] = field(
        default_factory=_empty_mapping
    )  # status -> (302|303, location)
    stats: StatsSettings | None = None
    http_request_rules: tuple[HttpRule, ...] = ()
    http_response_rules: tuple[HttpRule, ...] = ()
    http_after_response_rules: tuple[HttpRule, ...] = ()
    tcp_request_rules: tuple[HttpRule, ...] = ()  # action is "<layer> <action>" e.g. "content accept"
    tcp_response_rules: tuple[HttpRule, ...] = ()
    tcp_request_inspect_delay: int | None = None
    redirects: tuple[HttpRule, ...] = ()  # ``redirect`` lines, action "location"/"prefix"/"scheme"
    persist_rules: tuple[HttpRule, ...] = ()  # ``force-persist``/``ignore-persist``, first match wins
    httpchk: HttpCheck | None = None
    http_check_rules: tuple[CheckRule, ...] = ()
    tcp_check_rules: tuple[CheckRule, ...] = ()
    check_type: str | None = None  # httpchk, tcp-check, ssl-hello-chk, mysql-check, ... (last wins)
    http_check_disable_on_404: bool = False
    http_check_send_state: bool = False
    captures: tuple[Capture, ...] = ()
    monitor_uri: str | None = None
    http_reuse: str = "safe"
    options: frozenset[str] = frozenset()  # every ``option x`` in effect (after ``no option x``)
    ignored: tuple[str, ...] = ()  # real HAProxy keywords accepted and ignored (with a warning)

    @property
    def has_frontend(self) -> bool:
        return self.kind in ("frontend", "listen")

    @property
    def has_backend(self) -> bool:
        return self.kind in ("backend", "listen")

    def server(self, name: str) -> Server | None:
        for srv in self.servers:
            if srv.name == name:
                return srv
        return None


@dataclass(frozen=True)
class User:
    name: str
    password: str | None  # crypt(3) hash for ``password``, clear text for ``insecure-password``
    insecure: bool = False
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Userlist:
    name: str
    users: tuple[User, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=_empty_mapping)  # group -> user names
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Config:
    """A whole loaded configuration."""

    global_: GlobalSection = field(default_factory=GlobalSection)
    proxies: tuple[Proxy, ...] = ()  # in file order
    userlists: tuple[Userlist, ...] = ()
    files: tuple[str, ...] = ()  # configuration files read, in order
    #: Sections fastlb accepts but does not implement yet (resolvers, peers, mailers, ...):
    #: (kind, name) pairs, for the runtime to warn about or refuse.
    unimplemented_sections: tuple[tuple[str, str], ...] = ()

    @property
    def frontends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.has_frontend)

    @property
    def backends(self) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.has_backend)

    def proxy(self, name: str) -> Proxy | None:
        for p in self.proxies:
            if p.name == name:
                return p
        return None

    def userlist(self, name: str) -> Userlist | None:
        for u in self.userlists:
            if u.name == name:
                return u
        return None
