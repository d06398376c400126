# distutils: sources = csrc/fl_hash.c csrc/fl_lb.c csrc/fl_lb_key.c csrc/fl_lb_tree.c csrc/fl_lb_map.c csrc/fl_lb_chash.c csrc/fl_lb_fwrr.c csrc/fl_lb_fwlc.c
"""Server selection, bit-exact with HAProxy 2.6: the hash functions and every "balance" algorithm.

The engine uses the cdef methods of :class:`Balancer` (see ``_lb.pxd``): ``pick(&key, avoid)``,
``take(i)``, ``release(i)``, all ``nogil``, no Python object per request. Tests and the control plane
use the Python methods (``py_pick``, ``set_usable``, ``set_weight``, ``update``...).

Configuration keywords map onto the constructor as follows (``fastlb.lb.balance_kwargs`` does it
from the words of a configuration line)::

    balance roundrobin | static-rr | leastconn | first | source | random
                                         Balancer("roundrobin", servers) ...
    balance random(3)                    Balancer("random", servers, draws=3)
    balance uri len 10 depth 2 whole path-only
                                         Balancer("uri", servers, uri_len=10, uri_depth=2,
                                                  uri_whole=True, uri_path_only=True)
    balance url_param userid             Balancer("url_param", servers, name="userid")
    balance hdr(Host) use_domain_only    Balancer("hdr", servers, name="Host", use_domain_only=True)
    balance rdp-cookie[(name)]           Balancer("rdp-cookie", servers, name="name")
    balance hash <expr>                  Balancer("hash", servers)   # the caller evaluates <expr>
    hash-type consistent sdbm avalanche  hash_type="consistent", hash_function="sdbm", avalanche=True
    hash-type consistent                 hash_type="consistent" (sdbm + avalanche, as HAProxy)
    hash-balance-factor 150              hash_balance_factor=150
    option allbackups                    allbackups=True

What the engine does around a pick (the cdef methods of ``_lb.pxd``, no Python object involved):

* fill an ``fl_lb_key_t`` with what ``Balancer.needs`` asks for: NEED_SRC the client address (4 or 16
  bytes, network order); NEED_URI the request target as received (also marks the request as HTTP,
  which hdr() requires); NEED_HDR the values of the lines of header ``hdr_name`` in order (HAProxy
  2.6 only uses the first line's first value: passing the first line is enough);
  NEED_PAYLOAD the bytes received so far (rdp-cookie: wait for the cookie line, as HAProxy's
  ``tcp-request inspect-delay``); NEED_SAMPLE the value of the ``balance hash`` expression as
  bytes, or NULL when it has none. A missing key means round robin, as in HAProxy.
* ``pick(&key, avoid)``: a server index; FL_LB_NOSRV (no usable server: 503), FL_LB_FULL (all
  saturated: queue the request in the backend), FL_LB_INTERNAL (balance source without an IP
  client: HAProxy fails the request). Hash algorithms may return a server at its maxconn: queue on
  that server then. ``avoid`` is the server a retried request failed on, or -1.
* ``take(i)`` when the request gets its connection slot on server i, ``release(i)`` when it ends
  (leastconn, first, maxconn and random(N) depend on these counts); ``set_pending(i, n)`` if the
  engine queues requests per server.
* on health changes ``set_usable``, on runtime weight changes ``set_weight`` (with the helper
  fastlb.lb.parse_weight_change for "50%"), and ``update(now)`` about once a second while
  ``in_slowstart``. ``now`` is in seconds, from one clock used consistently.

Servers are given in configuration order, each as a mapping, an object with attributes, or a tuple
``(id, name, weight, backup, maxconn[, maxqueue, slowstart_ms, usable])``; ``id`` None means
HAProxy's automatic numbering (consistent hashing places servers by id); ``slowstart`` is in
milliseconds, as in the config.

Not modelled: hashing a POST body for ``url_param ... check_post`` (the option is accepted, the
body is not looked at), minconn/fullconn dynamic limits, the backend queue itself (the engine's).
"""
import ipaddress
import time

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free

ALGORITHMS = {
    "roundrobin": FL_LB_ROUNDROBIN,
    "static-rr": FL_LB_STATIC_RR,
    "leastconn": FL_LB_LEASTCONN,
    "first": FL_LB_FIRST,
    "source": FL_LB_SOURCE,
    "uri": FL_LB_URI,
    "url_param": FL_LB_URL_PARAM,
    "hdr": FL_LB_HDR,
    "random": FL_LB_RANDOM,
    "rdp-cookie": FL_LB_RDP_COOKIE,
    "hash": FL_LB_HASH,
}
HASH_FUNCTIONS = {"sdbm": FL_HASH_SDBM, "djb2": FL_HASH_DJB2, "wt6": FL_HASH_WT6, "crc32": FL_HASH_CRC32}
HASH_TYPES = {"map-based": FL_LB_HASH_MAP_BASED, "consistent": FL_LB_HASH_CONSISTENT}

#: pick() results besides a server index
NOSRV = FL_LB_NOSRV
FULL = FL_LB_FULL
INTERNAL = FL_LB_INTERNAL

#: Balancer.needs bits: the key fields pick() reads
NEED_SRC = 1
NEED_URI = 2
NEED_HDR = 4
NEED_PAYLOAD = 8
NEED_SAMPLE = 16

STATIC_WEIGHT_ERROR = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."

_NEEDS = {
    FL_LB_SOURCE: NEED_SRC,
    FL_LB_URI: NEED_URI,
    FL_LB_URL_PARAM: NEED_URI,
    FL_LB_HDR: NEED_URI | NEED_HDR,
    FL_LB_RDP_COOKIE: NEED_PAYLOAD,
    FL_LB_HASH: NEED_SAMPLE,
}


def hash_key(function, data, avalanche=False):
    """HAProxy's hash of ``data`` (bytes or str) with ``function`` ("sdbm", "djb2", "wt6", "crc32"),
    and the avalanche modifier when asked; as the sdbm()/djb2()/wt6()/crc32() converters give it."""
    cdef bytes b = _as_bytes(data)
    cdef int fn = _hash_fn(function)
    cdef uint32_t h = fl_hash_key(fn, PyBytes_AS_STRING(b), <size_t>PyBytes_GET_SIZE(b))
    if avalanche:
        h = fl_hash_avalanche(h)
    return h


def hash_many(function, data, Py_ssize_t n, avalanche=False):
    """n hashes of the same data in a C loop without the GIL (benchmarks); returns the last one."""
    cdef bytes b = _as_bytes(data)
    cdef int fn = _hash_fn(function)
    cdef const char *p = PyBytes_AS_STRING(b)
    cdef size_t ln = <size_t>PyBytes_GET_SIZE(b)
    cdef bint av = avalanche
    cdef uint32_t h = 0
    cdef Py_ssize_t i
    with nogil:
        for i in range(n):
            h = fl_hash_key(fn, p, ln)
            if av:
                h = fl_hash_avalanche(h)
    return h


def avalanche(uint32_t value):
    """HAProxy's full_hash(): the avalanche modifier and the ring positions of consistent hashing."""
    return fl_hash_avalanche(value)


cdef int _hash_fn(object function) except -1:
    try:
        return HASH_FUNCTIONS[function]
    except KeyError:
        raise ValueError(f"unknown hash function {function!r} (expected sdbm, djb2, wt6 or crc32)") from None


cdef bytes _as_bytes(object v):
    if isinstance(v, bytes):
        return <bytes>v
    if isinstance(v, str):
        return (<str>v).encode("latin-1")
    return bytes(v)


cdef bytes _addr_bytes(object src):
    if src is None:
        return None
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    if isinstance(src, str):
        src = ipaddress.ip_address(src)
    return src.packed


cdef object _field(object srv, str name, int idx, object default):
    if isinstance(srv, dict):
        return srv.get(name, default)
    if isinstance(srv, (tuple, list)):
        return srv[idx] if idx < len(srv) else default
    return getattr(srv, name, default)


cdef class Balancer:
    """Server selection for one backend (see the module documentation for the arguments)."""

    def __cinit__(self, str algorithm, servers, *, hash_type=None, hash_function=None, avalanche=None,
                  uri_len=0, uri_depth=0, uri_whole=False, uri_path_only=False, name=None,
                  use_domain_only=False, draws=2, allbackups=False, hash_balance_factor=0, now=None,
                  seed=None):
        cdef fl_lb_conf_t conf
        cdef fl_lb_srv_conf_t *sc = NULL
        cdef const char *err = NULL
        cdef bytes bname = None
        cdef int n, i
        self.lb = NULL
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown balance algorithm {algorithm!r}")
        if hash_type is not None and hash_type not in HASH_TYPES:
            raise ValueError(f"unknown hash-type method {hash_type!r} (expected map-based or consistent)")
        self.algorithm = algorithm
        conf.algo = ALGORITHMS[algorithm]
        conf.hash_type = HASH_TYPES[hash_type or "map-based"]
        conf.hash_fn = _hash_fn(hash_function or "sdbm")
        if avalanche is None:
            # "hash-type consistent" alone means sdbm with avalanche (HAProxy's default)
            avalanche = hash_type == "consistent" and hash_function is None
        conf.avalanche = 1 if avalanche else 0
        conf.allbackups = 1 if allbackups else 0
        if uri_len < 0 or uri_depth < 0:
            raise ValueError("uri len and depth must be positive")
        conf.uri_len = uri_len
        conf.uri_depth = uri_depth
        conf.uri_whole = 1 if uri_whole else 0
        conf.uri_path_only = 1 if uri_path_only else 0
        conf.use_domain_only = 1 if use_domain_only else 0
        if draws is None or draws < 1:
            raise ValueError("random draws must be a positive integer")
        conf.random_draws = draws
        if hash_balance_factor < 0:
            raise ValueError("hash-balance-factor must be positive")
        conf.hash_balance_factor = hash_balance_factor
        if name is not None:
            bname = _as_bytes(name)
            if len(bname) == 0 or len(bname) > FL_LB_NAME_MAX:
                raise ValueError("parameter/header/cookie name must have 1 to 255 bytes")
        elif algorithm in ("url_param", "hdr"):
            raise ValueError(f"balance {algorithm} needs a name")
        conf.name = PyBytes_AS_STRING(bname) if bname is not None else NULL
        conf.name_len = len(bname) if bname is not None else 0
        self.hdr_name = bname.lower() if algorithm == "hdr" else None
        self.needs = _NEEDS.get(conf.algo, 0)

        servers = list(servers)
        n = len(servers)
        if n > FL_LB_MAX_SERVERS:
            raise ValueError("too many servers")
        names = []
        ids = []
        used = set()
        for i in range(n):
            sid = _field(servers[i], "id", 0, None)
            if sid is not None:
                sid = int(sid)
                if sid <= 0:
                    raise ValueError(f"server id must be positive, got {sid}")
                if sid in used:
                    raise ValueError(f"server id {sid} used twice")
                used.add(sid)
            ids.append(sid)
        next_id = 1
        for i in range(n):
            # HAProxy: the first unused id from a counter that every server advances, explicit ids
            # included (servers with ids 10, 3, 7 and one without: the last one gets 4)
            if ids[i] is None:
                while next_id in used:
                    next_id += 1
                ids[i] = next_id
                used.add(next_id)
            next_id += 1
            names.append(str(_field(servers[i], "name", 1, f"s{ids[i]}")))
        sc = <fl_lb_srv_conf_t *>calloc(n if n else 1, sizeof(fl_lb_srv_conf_t))
        if sc == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                weight = int(_field(servers[i], "weight", 2, 1))
                if weight < 0 or weight > 256:
                    raise ValueError(f"server {names[i]}: weight must be between 0 and 256")
                maxconn = int(_field(servers[i], "maxconn", 4, 0) or 0)
                maxqueue = int(_field(servers[i], "maxqueue", 5, 0) or 0)
                slowstart_ms = int(_field(servers[i], "slowstart", 6, 0) or 0)
                if maxconn < 0 or maxqueue < 0 or slowstart_ms < 0:
                    raise ValueError(f"server {names[i]}: negative maxconn/maxqueue/slowstart")
                sc[i].id = ids[i]
                sc[i].weight = weight
                sc[i].backup = 1 if _field(servers[i], "backup", 3, False) else 0
                sc[i].maxconn = maxconn
                sc[i].maxqueue = maxqueue
                sc[i].slowstart = (slowstart_ms + 999) // 1000
                sc[i].usable = 1 if _field(servers[i], "usable", 7, True) else 0
            self.lb = fl_lb_new(&conf, sc, n, _now(now), &err)
        finally:
            free(sc)
        if self.lb == NULL:
            raise ValueError((<bytes>err).decode() if err != NULL else "cannot build the balancer")
        if seed is not None:
            fl_lb_seed(self.lb, <uint64_t>seed)
        self.names = tuple(names)
        self.ids = tuple(ids)

    def __dealloc__(self):
        if self.lb != NULL:
            fl_lb_free(self.lb)
            self.lb = NULL

    # ---- hot path (cdef, nogil) ----

    cdef int pick(self, const fl_lb_key_t *key, int avoid) noexcept nogil:
        """A server index, or FL_LB_NOSRV / FL_LB_FULL / FL_LB_INTERNAL; avoid: -1 or the server a
        redispatched request failed on."""
        return fl_lb_pick(self.lb, key, avoid)

    cdef void take(self, int srv) noexcept nogil:
        fl_lb_take(self.lb, srv)

    cdef void release(self, int srv) noexcept nogil:
        fl_lb_release(self.lb, srv)

    cdef void set_pending(self, int srv, uint32_t pending) noexcept nogil:
        fl_lb_set_pending(self.lb, srv, pending)

    cdef int c_set_usable(self, int srv, bint usable, int64_t now) noexcept nogil:
        return fl_lb_set_usable(self.lb, srv, usable, now)

    cdef int c_set_weight(self, int srv, uint32_t weight, int64_t now) noexcept nogil:
        return fl_lb_set_weight(self.lb, srv, weight, now)

    cdef int c_update(self, int64_t now) noexcept nogil:
        return fl_lb_update(self.lb, now)

    # ---- Python API ----

    def __len__(self):
        return len(self.names)

    def index(self, name):
        """Index of the server called ``name``."""
        return self.names.index(name)

    def py_pick(self, src=None, uri=None, headers=None, payload=None, sample=None, int avoid=-1):
        """pick() from Python objects: ``src`` an IP address (str, ipaddress or packed bytes), ``uri``
        the request target, ``headers`` the values of the hdr(<name>) header lines (one value or a
        list), ``payload`` the first bytes of an RDP connection, ``sample`` the value of "balance hash
        <expr>". Returns a server index, or NOSRV / FULL / INTERNAL."""
        cdef fl_lb_key_t key
        cdef list keep = []
        cdef fl_lb_str_t *hdrs = NULL
        cdef int r
        _fill_key(&key, keep, src, uri, headers, payload, sample, &hdrs)
        try:
            r = fl_lb_pick(self.lb, &key, avoid)
        finally:
            free(hdrs)
        return r

    def pick_name(self, **kw):
        """py_pick() returning the server's name, or None when no server is returned."""
        r = self.py_pick(**kw)
        return self.names[r] if r >= 0 else None

    def pick_many(self, Py_ssize_t n, bint account=True, src=None, uri=None, headers=None, payload=None,
                  sample=None):
        """n picks of the same key in a C loop without the GIL (benchmarks): with ``account``, each
        chosen server is taken and released, as a short request would. Returns the last result."""
        cdef fl_lb_key_t key
        cdef list keep = []
        cdef fl_lb_str_t *hdrs = NULL
        cdef Py_ssize_t i
        cdef int r = FL_LB_NOSRV
        _fill_key(&key, keep, src, uri, headers, payload, sample, &hdrs)
        try:
            with nogil:
                for i in range(n):
                    r = fl_lb_pick(self.lb, &key, -1)
                    if account and r >= 0:
                        fl_lb_take(self.lb, r)
                        fl_lb_release(self.lb, r)
        finally:
            free(hdrs)
        return r

    def key_hash(self, src=None, uri=None, headers=None, payload=None, sample=None):
        """The 32-bit hash this backend computes for a key, or None when the key is absent."""
        cdef fl_lb_key_t key
        cdef list keep = []
        cdef fl_lb_str_t *hdrs = NULL
        cdef uint32_t h = 0
        cdef int ok
        _fill_key(&key, keep, src, uri, headers, payload, sample, &hdrs)
        try:
            ok = fl_lb_key_hash(self.lb, &key, &h)
        finally:
            free(hdrs)
        return h if ok else None

    def py_take(self, int srv):
        fl_lb_take(self.lb, self._check(srv))

    def py_release(self, int srv):
        fl_lb_release(self.lb, self._check(srv))

    def py_set_pending(self, int srv, uint32_t pending):
        fl_lb_set_pending(self.lb, self._check(srv), pending)

    def set_usable(self, int srv, bint usable, now=None):
        """Server up (health check passed, maintenance left) or down; starts slowstart when up."""
        fl_lb_set_usable(self.lb, self._check(srv), usable, _now(now))

    def set_state(self, int srv, bint usable, now=None):
        """Same as set_usable()."""
        self.set_usable(srv, usable, now)

    def set_weight(self, int srv, weight, now=None):
        """"set weight": an absolute weight 0..256; static algorithms only accept 0 and the
        configured weight (ValueError with HAProxy's message otherwise)."""
        if weight < 0 or weight > 256:
            raise ValueError("Absolute weight can only be between 0 and 256 inclusive.")
        r = fl_lb_set_weight(self.lb, self._check(srv), weight, _now(now))
        if r == -2:
            raise ValueError(STATIC_WEIGHT_ERROR)

    def update(self, now=None):
        """Advance slowstart ramps; returns how many servers are still ramping up."""
        return fl_lb_update(self.lb, _now(now))

    def seed(self, uint64_t value):
        """Seed "balance random" (for reproducible tests)."""
        fl_lb_seed(self.lb, value)

    def eweight(self, int srv):
        """Effective weight in use (x16 for dynamic algorithms, /GCD for map-based ones)."""
        return fl_lb_eweight(self.lb, self._check(srv))

    def weight(self, int srv):
        """The weight the stats page shows (effective weight back in user units, rounded up)."""
        return fl_lb_stats_weight(self.lb, self._check(srv))

    def served(self, int srv):
        return fl_lb_served(self.lb, self._check(srv))

    def usable(self, int srv):
        return bool(fl_lb_is_usable(self.lb, self._check(srv)))

    @property
    def total_weight(self):
        """Sum of the effective weights in use (active servers, else the backup(s) in use)."""
        return fl_lb_total_weight(self.lb)

    @property
    def stats_weight(self):
        """The backend's "weight" in the stats (total_weight back in user units)."""
        return fl_lb_stats_total_weight(self.lb)

    @property
    def in_slowstart(self):
        return fl_lb_in_slowstart(self.lb)

    @property
    def is_hash(self):
        return bool(fl_lb_algo_is_hash(ALGORITHMS[self.algorithm]))

    cdef int _check(self, int srv) except -1:
        if srv < 0 or srv >= len(self.names):
            raise IndexError(f"no server at index {srv}")
        return srv


cdef int64_t _now(object now) except? -1:
    if now is None:
        return <int64_t>time.monotonic()
    return <int64_t>now


cdef int _fill_key(fl_lb_key_t *key, list keep, object src, object uri, object headers, object payload,
                   object sample, fl_lb_str_t **hdrs_out) except -1:
    cdef bytes b
    cdef Py_ssize_t i, n
    cdef fl_lb_str_t *hdrs
    fl_lb_key_clear(key)
    b = _addr_bytes(src)
    if b is not None:
        keep.append(b)
        key.src = <const unsigned char *>PyBytes_AS_STRING(b)
        key.src_len = <uint32_t>PyBytes_GET_SIZE(b)
    if uri is not None:
        b = _as_bytes(uri)
        keep.append(b)
        key.uri = PyBytes_AS_STRING(b)
        key.uri_len = <uint32_t>PyBytes_GET_SIZE(b)
    if headers is not None:
        if isinstance(headers, (bytes, str)):
            headers = [headers]
        values = [_as_bytes(h) for h in headers]
        keep.append(values)
        n = len(values)
        hdrs = <fl_lb_str_t *>calloc(n if n else 1, sizeof(fl_lb_str_t))
        if hdrs == NULL:
            raise MemoryError()
        hdrs_out[0] = hdrs
        for i in range(n):
            b = values[i]
            hdrs[i].ptr = PyBytes_AS_STRING(b)
            hdrs[i].len = <uint32_t>PyBytes_GET_SIZE(b)
        key.hdrs = hdrs
        key.nhdrs = <uint32_t>n
    if payload is not None:
        b = _as_bytes(payload)
        keep.append(b)
        key.payload = PyBytes_AS_STRING(b)
        key.payload_len = <uint32_t>PyBytes_GET_SIZE(b)
    if sample is not None:
        b = _as_bytes(sample)
        keep.append(b)
        key.sample = PyBytes_AS_STRING(b)
        key.sample_len = <uint32_t>PyBytes_GET_SIZE(b)
    return 0
