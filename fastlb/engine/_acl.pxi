# ACLs and the rules that use them (use_backend, http-request, http-response, tcp-request),
# compiled once per worker from the configuration into fetch + matcher objects.
#
# Matching semantics follow HAProxy's configuration manual (7.1): str/sub/beg/end/dir/dom/reg/
# len/int/ip/found/bool, -i, several patterns OR, several `acl` lines of one name OR, a condition
# is an OR of AND-terms. Fetches read the request parsed by the C parser in place; a string sample
# becomes a bytes object only when a matcher needs one.

import re as _re

# sample fetch kinds
DEF F_PATH = 1
DEF F_URL = 2
DEF F_QUERY = 3
DEF F_BASE = 4
DEF F_METHOD = 5
DEF F_HDR = 6          # comma-separated values of a header, each one a sample
DEF F_FHDR = 7         # full header values
DEF F_HDR_CNT = 8
DEF F_COOK = 9
DEF F_COOK_CNT = 10
DEF F_URL_PARAM = 11
DEF F_SRC = 12
DEF F_DST = 13
DEF F_SRC_PORT = 14
DEF F_DST_PORT = 15
DEF F_NBSRV = 16
DEF F_CONST_BOOL = 17
DEF F_REQ_VER = 18
DEF F_REQ_LEN = 19
DEF F_FE_NAME = 20
DEF F_BE_NAME = 21
DEF F_HTTP_FIRST_REQ = 22
DEF F_FE_CONN = 23
DEF F_BE_CONN = 24
DEF F_HDR_NAMES = 25
DEF F_CONST_INT = 26
DEF F_CONST_STR = 27
DEF F_SRV_IS_UP = 28
DEF F_CONNSLOTS = 29
DEF F_QUEUE = 30
DEF F_PATHQ = 31
DEF F_STATUS = 32      # response status (http-response rules)
DEF F_RES_HDR = 33     # response header (http-response rules)
DEF F_RES_FHDR = 34
DEF F_RES_HDR_CNT = 35
DEF F_HTTP_AUTH = 36   # http_auth(userlist): Basic credentials valid
DEF F_RES_COOK = 37    # res.cook(name): a cookie the server sets (Set-Cookie)
DEF F_RDP_COOKIE = 38  # req.rdp_cookie([name]): the cookie of an RDP connection request (tcp)
DEF F_RDP_COOKIE_CNT = 39
DEF F_FHDR_CNT = 40    # req.fhdr_cnt: header lines (hdr_cnt counts comma-separated values)
DEF F_RES_FHDR_CNT = 41
DEF F_SSL_HELLO_TYPE = 42  # req.ssl_hello_type: handshake type of a TLS record (1: ClientHello)
DEF F_PROTO_HTTP = 43  # req.proto_http: an HTTP stream, or tcp bytes holding a request head
DEF F_HTTP_AUTH_GROUP = 44  # http_auth_group(userlist): groups of the user of valid Basic credentials

# three-valued ACL results while the content of a tcp stream is inspected (HAProxy's ACL_TEST_*)
DEF T_FAIL = 0
DEF T_PASS = 1
DEF T_MISS = 2         # no answer yet: wait for more data (tcp-request inspect-delay)

# how a fetch's samples are compared
DEF M_STR = 1
DEF M_SUB = 2
DEF M_BEG = 3
DEF M_END = 4
DEF M_DIR = 5
DEF M_DOM = 6
DEF M_REG = 7
DEF M_LEN = 8
DEF M_INT = 9
DEF M_IP = 10
DEF M_FOUND = 11
DEF M_BOOL = 12
DEF M_METH = 13       # method -i: see method_matcher()


cdef class Fetch:
    cdef int kind
    cdef bytes arg                 # header / cookie / parameter name (headers lower-cased)
    cdef int occ                   # hdr(name,occ): 0 = every occurrence, >0 from first, <0 from last
    cdef object const              # constant sample
    cdef object be                 # BackendRt for nbsrv(), connslots...
    cdef ServerRt srv              # srv_is_up(b/s)
    cdef readonly bint multi       # yields several samples
    cdef readonly str out          # 'str' | 'int' | 'ip' | 'bool'

    cdef list samples(self, Stream s):
        """Every sample of this fetch for stream `s` (empty list: not found)."""
        cdef HttpStream h
        cdef object v
        if self.kind == F_SRC or self.kind == F_DST or self.kind == F_SRC_PORT or self.kind == F_DST_PORT:
            return self.l4(s)
        if self.kind == F_NBSRV:
            return [len((<BackendRt>self.be).active) + len((<BackendRt>self.be).backups)
                    if self.be is not None else len(s.be.active) + len(s.be.backups)]
        if self.kind == F_CONST_BOOL or self.kind == F_CONST_INT or self.kind == F_CONST_STR:
            return [self.const]
        if self.kind == F_PROTO_HTTP:
            if isinstance(s, HttpStream):
                return [True]
            return proto_http_payload(<TcpStream>s)
        if self.kind == F_FE_NAME:
            return [s.fe.name.encode()]
        if self.kind == F_BE_NAME:
            return [s.be.name.encode()] if s.be is not None else []
        if self.kind == F_FE_CONN:
            return [s.fe.cur_conn]
        if self.kind == F_BE_CONN:
            be = self.be if self.be is not None else s.be
            return [(<BackendRt>be).cur_conn] if be is not None else []
        if self.kind == F_SRV_IS_UP:
            return [self.srv.is_up()]
        if self.kind == F_CONNSLOTS or self.kind == F_QUEUE:
            return [self.backend_number(s)]
        if isinstance(s, TcpStream) and (self.kind == F_RDP_COOKIE or self.kind == F_RDP_COOKIE_CNT or
                                         self.kind == F_REQ_LEN or self.kind == F_SSL_HELLO_TYPE):
            return payload_samples(<TcpStream>s, self)
        if not isinstance(s, HttpStream):
            return []
        h = <HttpStream>s
        return fetch_l7(h, self)

    cdef int backend_number(self, Stream s):
        cdef BackendRt be = <BackendRt>(self.be if self.be is not None else s.be)
        cdef ServerRt x
        cdef int n = 0
        if be is None:
            return 0
        if self.kind == F_QUEUE:
            n = len(be.queue)
            for x in be.servers:
                n += len(x.queue)
            return n
        for x in be.active:
            if x.state.maxconn:
                n += <int>x.state.maxconn - x.cur_conn
            else:
                return -1   # unlimited
        return n

    cdef list l4(self, Stream s):
        cdef sockaddr_in6 a
        cdef socklen_t alen = sizeof(a)
        cdef sockaddr *sa
        if self.kind == F_SRC or self.kind == F_SRC_PORT:
            sa = <sockaddr *>&s.caddr
        else:
            if s.cep is None or s.cep.fd < 0 or getsockname(s.cep.fd, <sockaddr *>&a, &alen) < 0:
                return []
            sa = <sockaddr *>&a
        if sa.sa_family == AF_INET:
            if self.kind == F_SRC_PORT or self.kind == F_DST_PORT:
                return [ntohs((<sockaddr_in *>sa).sin_port)]
            return [(4, (<char *>&(<sockaddr_in *>sa).sin_addr)[:4])]
        if sa.sa_family == AF_INET6:
            if self.kind == F_SRC_PORT or self.kind == F_DST_PORT:
                return [ntohs((<sockaddr_in6 *>sa).sin6_port)]
            return [(6, (<char *>(<sockaddr_in6 *>sa).sin6_addr.s6_addr)[:16])]
        return []


cdef class StrIndex             # _strindex.pxi


cdef class Matcher:
    cdef int kind
    cdef bint icase
    cdef frozenset exact           # str (meth: the known method names)
    cdef frozenset other           # meth: the other methods, lower-case
    cdef tuple strs                # beg/end/sub/dir/dom patterns
    cdef StrIndex idx              # beg/end/dir/dom with many patterns: hash lookups
    cdef list regexes
    cdef list ranges               # int/len: (lo, hi) inclusive, None = open
    cdef list nets                 # ip: (version, network int, mask int)

    cdef bint test(self, object v):
        cdef bytes b
        cdef Py_ssize_t n
        if self.kind == M_FOUND:
            return True
        if self.kind == M_BOOL:
            return bool(v)
        if self.kind == M_INT:
            if isinstance(v, bytes):
                try:
                    v = int(v)
                except ValueError:
                    return False
            elif isinstance(v, bool):
                v = int(v)
            return self.in_ranges(v)
        if self.kind == M_LEN:
            if not isinstance(v, bytes):
                v = str(v).encode()
            return self.in_ranges(len(v))
        if self.kind == M_IP:
            return self.ip_match(v)
        if isinstance(v, bytes):
            b = <bytes>v
        elif isinstance(v, tuple):
            b = ip_text(v)
        else:
            b = str(v).encode()
        if self.kind == M_METH:
            if b in self.exact:
                return True
            return b not in _KNOWN_METHODS and b.lower() in self.other
        if self.kind == M_REG:
            for r in self.regexes:
                if r.search(b) is not None:
                    return True
            return False
        if self.icase:
            b = b.lower()
        if self.kind == M_STR:
            return b in self.exact
        if self.idx is not None:
            return self.idx.best(b, 1) == 0
        if self.kind == M_BEG:
            for p in self.strs:
                if b.startswith(p):
                    return True
            return False
        if self.kind == M_END:
            for p in self.strs:
                if b.endswith(p):
                    return True
            return False
        if self.kind == M_SUB:
            for p in self.strs:
                if p in b:
                    return True
            return False
        if self.kind == M_DIR:
            for p in self.strs:
                if word_match(b, p, b"/?"):
                    return True
            return False
        if self.kind == M_DOM:
            for p in self.strs:
                if word_match(b, p, b"./:?"):
                    return True
            return False
        return False

    cdef bint test_ptr(self, const char *p, uint32_t n):
        """str/beg/end/sub against a sample still in the message buffer (patterns are lower-case
        when -i): the common path_beg/path_end/url_sub/method ACLs cost no Python object."""
        cdef bytes pat
        cdef Py_ssize_t k
        cdef const char *q
        cdef uint32_t i
        for x in (self.strs if self.kind != M_STR else self.exact):
            pat = <bytes>x
            k = len(pat)
            q = <const char *>pat
            if self.kind == M_STR:
                if k == n and (strncasecmp(p, q, k) == 0 if self.icase else memcmp(p, q, k) == 0):
                    return True
            elif k > n:
                continue
            elif self.kind == M_BEG:
                if (strncasecmp(p, q, k) == 0 if self.icase else memcmp(p, q, k) == 0):
                    return True
            elif self.kind == M_END:
                if (strncasecmp(p + n - k, q, k) == 0 if self.icase else memcmp(p + n - k, q, k) == 0):
                    return True
            else:  # M_SUB
                for i in range(n - k + 1):
                    if (strncasecmp(p + i, q, k) == 0 if self.icase else memcmp(p + i, q, k) == 0):
                        return True
        return False

    cdef bint in_ranges(self, object v):
        for lo, hi in self.ranges:
            if (lo is None or v >= lo) and (hi is None or v <= hi):
                return True
        return False

    cdef bint ip_match(self, object v):
        cdef int ver
        if isinstance(v, bytes):
            v = parse_ip_sample(v)
            if v is None:
                return False
        ver, raw = v
        val = int.from_bytes(raw, "big")
        for nver, net, mask in self.nets:
            if nver == ver:
                if (val & mask) == net:
                    return True
            elif nver == 4 and ver == 6:
                # IPv4 pattern against ::ffff:a.b.c.d, ::a.b.c.d or 2002:a.b.c.d::
                if raw[:12] == b"\0" * 10 + b"\xff\xff" or raw[:12] == b"\0" * 12:
                    v4 = int.from_bytes(raw[12:], "big")
                elif raw[:2] == b"\x20\x02":
                    v4 = int.from_bytes(raw[2:6], "big")
                else:
                    continue
                if (v4 & mask) == net:
                    return True
            elif nver == 6 and ver == 4:
                v6 = (0xffff << 32) | val
                if (v6 & mask) == net:
                    return True
        return False


cdef bint word_match(bytes s, bytes p, bytes delims):
    """True if `p` occurs in `s` with a delimiter (or the string's edge) on both sides."""
    cdef Py_ssize_t i = 0, n = len(p), ls = len(s)
    if n == 0:
        return False
    while True:
        i = s.find(p, i)
        if i < 0:
            return False
        if (i == 0 or s[i - 1] in delims) and (i + n == ls or s[i + n] in delims):
            return True
        i += 1


cdef bytes ip_text(tuple v):
    import ipaddress
    return str(ipaddress.ip_address(v[1])).encode()


cdef object parse_ip_sample(bytes b):
    import ipaddress
    try:
        a = ipaddress.ip_address(b.strip().decode())
    except ValueError:
        return None
    return (a.version, a.packed)


cdef class AclPart:
    """One `acl` line: a fetch and a matcher."""
    cdef Fetch fetch
    cdef Matcher m
    cdef bint direct               # string compare in the buffer, no sample object (see eval)

    cdef int eval3(self, Stream s):
        """eval() for content inspection: T_MISS when nothing matched yet but a payload fetch
        may still change its answer."""
        s.smp_may_change = 0
        if self.eval(s):
            return T_PASS
        return T_MISS if s.smp_may_change and s.smp_partial else T_FAIL

    cdef bint eval(self, Stream s):
        cdef const char *p
        cdef uint32_t n
        if self.direct and isinstance(s, HttpStream) and request_str(<HttpStream>s, self.fetch.kind, &p, &n):
            return self.m.test_ptr(p, n)
        cdef list vals = self.fetch.samples(s)
        for v in vals:
            if self.m.test(v):
                return True
        return False


cdef class Acl:
    """All the `acl` lines of one name (OR)."""
    cdef readonly str name
    cdef list parts

    cdef bint eval(self, Stream s):
        cdef AclPart p
        for p in self.parts:
            if p.eval(s):
                return True
        return False

    cdef int eval3(self, Stream s):
        cdef AclPart p
        cdef int r, res = T_FAIL
        for p in self.parts:
            r = p.eval3(s)
            if r == T_PASS:
                return T_PASS
            if r == T_MISS:
                res = T_MISS
        return res


cdef class Cond:
    """`if`/`unless` condition: OR of AND-terms of (negated?, Acl)."""
    cdef list terms                # list of tuples ((negate, Acl), ...)
    cdef bint unless
    cdef readonly str text

    cdef bint eval(self, Stream s):
        cdef bint ok = False
        cdef Acl a
        for conj in self.terms:
            ok = True
            for neg, a in conj:
                if a.eval(s) == neg:
                    ok = False
                    break
            if ok:
                break
        return ok != self.unless

    cdef int eval3(self, Stream s):
        """Three-valued eval (HAProxy's acl_exec_cond): an AND is its weakest term, an OR its
        strongest; negation keeps T_MISS; T_MISS before `unless` stays T_MISS."""
        cdef int res = T_FAIL, term, r
        cdef Acl a
        for conj in self.terms:
            term = T_PASS
            for neg, a in conj:
                r = a.eval3(s)
                if neg and r != T_MISS:
                    r = T_PASS if r == T_FAIL else T_FAIL
                if r == T_FAIL:
                    term = T_FAIL
                    break
                if r == T_MISS:
                    term = T_MISS
            if term == T_PASS:
                res = T_PASS
                break
            if term == T_MISS:
                res = T_MISS
        if res == T_MISS:
            return T_MISS
        return T_PASS if (res == T_PASS) != self.unless else T_FAIL


# ---------------------------------------------------------------------------------------------
# Layer-7 fetches: read the request (or response) head in place.

cdef bint request_str(HttpStream h, int kind, const char **p, uint32_t *n) noexcept:
    """Pointer and length of a single-valued string fetch of the request, in the buffer."""
    cdef char *base = h.rq.data + h.rq.head
    cdef fl_http_msg *m = &h.req
    cdef const char *q
    if h.rq.data == NULL or m.head_len == 0:
        return False
    if kind == F_PATH:
        p[0] = base + m.path_off
        q = <const char *>memchr(p[0], b'?', m.path_len)
        n[0] = <uint32_t>(q - p[0]) if q != NULL else m.path_len
        return True
    if kind == F_PATHQ:
        p[0] = base + m.path_off
        n[0] = m.path_len
        return True
    if kind == F_URL:
        p[0] = base + m.target_off
        n[0] = m.target_len
        return True
    if kind == F_METHOD:
        p[0] = base + m.method_off
        n[0] = m.method_len
        return True
    return False


cdef inline bytes head_slice(char *base, uint32_t off, uint32_t n):
    return base[off:off + n]


cdef list fetch_l7(HttpStream h, Fetch f):
    cdef char *base = h.rq.data + h.rq.head
    cdef fl_http_msg *m = &h.req
    cdef bytes path, v
    cdef int i, k
    cdef fl_http_hdr *hd
    cdef list out
    cdef Py_ssize_t q
    if f.kind == F_STATUS:
        return [h.rsp.status] if h.rsp.status else []
    if f.kind == F_RES_HDR or f.kind == F_RES_FHDR or f.kind == F_RES_HDR_CNT:
        return header_samples(h.rs.data + h.rs.head + h.rsp_off, &h.rsp, f, f.kind - F_RES_HDR + F_HDR)
    if f.kind == F_RES_COOK or f.kind == F_RES_FHDR_CNT:
        return header_samples(h.rs.data + h.rs.head + h.rsp_off, &h.rsp, f,
                              F_RES_COOK if f.kind == F_RES_COOK else F_FHDR_CNT)
    if h.rq.data == NULL or m.head_len == 0:
        return []
    if f.kind == F_PATH or f.kind == F_QUERY or f.kind == F_BASE or f.kind == F_URL_PARAM or f.kind == F_PATHQ:
        path = head_slice(base, m.path_off, m.path_len)
        q = path.find(b"?")
        if f.kind == F_PATHQ:
            return [path]
        if f.kind == F_QUERY:
            return [path[q + 1:]] if q >= 0 else []
        if f.kind == F_URL_PARAM:
            if q < 0:
                return []
            return url_params(path[q + 1:], f.arg)
        if q >= 0:
            path = path[:q]
        if f.kind == F_BASE:
            if m.host_len == 0:
                return [path]
            return [head_slice(base, m.host_off, m.host_len) + path]
        return [path]
    if f.kind == F_URL:
        return [head_slice(base, m.target_off, m.target_len)]
    if f.kind == F_METHOD:
        return [head_slice(base, m.method_off, m.method_len)]
    if f.kind == F_HDR or f.kind == F_FHDR or f.kind == F_HDR_CNT or f.kind == F_FHDR_CNT or f.kind == F_COOK \
            or f.kind == F_COOK_CNT or f.kind == F_HDR_NAMES:
        return header_samples(base, m, f, f.kind)
    if f.kind == F_REQ_VER:
        return [b"1.1" if m.minor else b"1.0"]
    if f.kind == F_REQ_LEN:
        return [h.rq.len]
    if f.kind == F_HTTP_FIRST_REQ:
        return [h.nreq == 1]
    if f.kind == F_HTTP_AUTH:
        return [basic_auth_user(h, f.const) is not None]
    if f.kind == F_HTTP_AUTH_GROUP:
        user = basic_auth_user(h, f.const[0])
        return [] if user is None else f.const[1].get(user, [])
    return []


cdef list header_samples(char *base, fl_http_msg *m, Fetch f, int kind):
    cdef int i, cnt = 0
    cdef fl_http_hdr *hd
    cdef list vals = []
    cdef bytes v, name = f.arg
    cdef Py_ssize_t nlen = len(name) if name is not None else 0
    if kind == F_HDR_NAMES:
        return [b",".join([base[m.hdrs[i].name_off:m.hdrs[i].name_off + m.hdrs[i].name_len]
                           for i in range(m.nhdrs)])]
    for i in range(m.nhdrs):
        hd = &m.hdrs[i]
        if kind == F_COOK or kind == F_COOK_CNT:
            if hd.id != FL_HTTP_HDR_COOKIE:
                continue
        elif kind == F_RES_COOK:
            if hd.name_len != 10 or strncasecmp(base + hd.name_off, "set-cookie", 10) != 0:
                continue
        elif name is None:
            pass                           # hdr_cnt() / fhdr_cnt() without a name: every header
        elif hd.name_len != nlen or strncasecmp(base + hd.name_off, <const char *>name, nlen) != 0:
            continue
        v = base[hd.value_off:hd.value_off + hd.value_len]
        if kind == F_FHDR:
            vals.append(v)
        elif kind == F_FHDR_CNT:
            cnt += 1
        elif kind == F_RES_COOK:
            k, eq, val = v.partition(b";")[0].strip().partition(b"=")
            if eq and (name is None or k.strip() == name):
                vals.append(val.strip())
        elif kind == F_COOK or kind == F_COOK_CNT:
            for part in v.split(b";"):
                k, eq, val = part.strip().partition(b"=")
                if eq and (name is None or k == name):
                    vals.append(val)
        else:
            for part in v.split(b","):
                vals.append(part.strip(b" \t"))
    if kind == F_FHDR_CNT:
        return [cnt]
    if kind == F_HDR_CNT or kind == F_COOK_CNT:
        return [len(vals)]
    if f.occ and vals:
        idx = f.occ - 1 if f.occ > 0 else len(vals) + f.occ
        return [vals[idx]] if 0 <= idx < len(vals) else []
    return vals


cdef list payload_samples(TcpStream t, Fetch f):
    """req.len and req.rdp_cookie[_cnt] on the bytes a tcp stream received so far. They may
    change with more data (smp_may_change), as HAProxy marks them SMP_F_MAY_CHANGE."""
    cdef const char *val = NULL
    cdef uint32_t vlen = 0
    cdef int r
    cdef char *p = t.c2s.buf.data + t.c2s.buf.head if t.c2s.buf.data != NULL else NULL
    cdef uint32_t n = t.c2s.buf.len if t.c2s.buf.data != NULL else 0
    if f.kind == F_REQ_LEN:
        t.smp_may_change = 1
        return [n]
    if f.kind == F_SSL_HELLO_TYPE:
        r = ssl_hello_type(<const unsigned char *>p, n)
        if r == -1:
            t.smp_may_change = 1
        return [r] if r >= 0 else []
    r = rdp_cookie_find(p, n, f.arg, &val, &vlen) if n else -1
    if r < 0:
        t.smp_may_change = 1
        return []
    if f.kind == F_RDP_COOKIE_CNT:
        return [r]
    return [val[:vlen]] if r else []


cdef list proto_http_payload(TcpStream t):
    """HTTP / req.proto_http in mode tcp, as HAProxy's: true once the bytes received so far hold
    a complete and valid HTTP/1 request head; no sample while the head is incomplete (it may
    change: an inspecting rule waits) or when it is invalid or fills the buffer."""
    cdef Worker w = t.w
    cdef fl_http_msg m
    cdef fl_http_limits lim
    cdef int r
    cdef uint32_t n = t.c2s.buf.len if t.c2s.buf.data != NULL else 0
    if n == 0:
        t.smp_may_change = 1
        return []
    lim.max_head = w.bufsize - w.maxrewrite
    lim.maxhdr = <uint16_t>w.maxhdr
    fl_http_msg_init(&m, w.hdrs, <uint16_t>w.hdr_cap)
    r = fl_http_parse_request(t.c2s.buf.data + t.c2s.buf.head, n, &m, &lim)
    if r == FL_HTTP_INCOMPLETE:
        if n < lim.max_head:
            t.smp_may_change = 1
        return []
    if r == FL_HTTP_INVALID:
        return []
    return [True]


cdef int ssl_hello_type(const unsigned char *d, uint32_t n) noexcept:
    """HAProxy's req.ssl_hello_type: the handshake type of an SSLv3+/TLS handshake record once
    the whole handshake message is there; -1 too short yet, -2 not a TLS hello."""
    cdef uint32_t hs_len
    if n == 0:
        return -1
    if not ((0x14 <= d[0] <= 0x17) or d[0] == 0xff):
        return -2
    if n < 9:
        return -1
    if (d[1] << 16) + d[2] < 0x030000 or (d[3] << 8) + d[4] < 4:
        return -2
    hs_len = (d[6] << 16) + (d[7] << 8) + d[8]
    if n < 9 + hs_len:
        return -1
    return d[5]


cdef int rdp_cookie_find(const char *buf, uint32_t n, bytes name, const char **val, uint32_t *vlen) noexcept:
    """HAProxy's fetch_rdp_cookie_name(): the value of "Cookie: <name>=<value>\\r\\n" after the
    11 bytes of TPKT and X.224 headers (any name when `name` is None). 1 found, 0 not an RDP
    cookie, -1 not enough bytes to tell yet."""
    cdef const char *p
    cdef const char *cname = NULL
    cdef uint32_t left, clen = 0
    if name is not None:
        cname = <const char *>name
        clen = <uint32_t>len(name)
    if n <= 11:
        return -1
    p = buf + 11
    left = n - 11
    if left <= 7:
        return -1
    if strncasecmp(p, "Cookie:", 7) != 0:
        return 0
    p += 7
    left -= 7
    while left > 0 and p[0] == b' ':
        p += 1
        left -= 1
    if clen:
        if left <= clen:
            return -1
        if p[clen] != b'=' or strncasecmp(cname, p, clen) != 0:
            return 0
        p += clen + 1
        left -= clen + 1
    else:
        while left > 0 and p[0] != b'=':
            if p[0] == b'\r' or p[0] == b'\n':
                return 0
            p += 1
            left -= 1
        if left < 1:
            return -1
        p += 1
        left -= 1
    val[0] = p
    while left > 0 and p[0] != b'\r':
        p += 1
        left -= 1
    if left < 2:
        return -1
    if p[1] != b'\n':
        return 0
    vlen[0] = <uint32_t>(p - val[0])
    return 1


cdef list url_params(bytes query, bytes name):
    cdef list out = []
    for part in query.split(b"&"):
        k, eq, v = part.partition(b"=")
        if k == name:
            out.append(v)
    return out
