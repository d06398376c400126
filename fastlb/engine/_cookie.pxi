# Cookie persistence (`cookie <name> insert|rewrite|prefix [indirect] [nocache] [postonly]
# [preserve] [httponly] [secure] [domain d] [maxidle t] [maxlife t]...` with `server ... cookie
# <value>`), as HAProxy 2.6: a request carrying the cookie of a server that is not stopped (drain
# and weight 0 included; any server with `option persist`) goes to that server; responses get the
# cookie inserted (or the server's own cookie rewritten / prefixed) when the client did not have
# it. With maxidle/maxlife the inserted value carries dates, `<value>|<last seen>|<first seen>`,
# each a 30-bit count of 4-second units since the epoch in 5 base64 characters (HAProxy's
# s30tob64): a cookie idle or old for longer is ignored (log E / O), a valid one is refreshed at
# most every 4 seconds (log U).

DEF CK_INSERT = 1
DEF CK_REWRITE = 2
DEF CK_PREFIX = 3
DEF CK_PASSIVE = 4

# request-side cookie states for the log (%tsc first char)
DEF CKR_NONE = b'N'
DEF CKR_INVALID = b'I'
DEF CKR_DOWN = b'D'
DEF CKR_VALID = b'V'
DEF CKR_EXPIRED = b'E'      # last seen longer ago than maxidle (or more than a day ahead)
DEF CKR_OLD = b'O'          # first seen longer ago than maxlife

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64REV = {c: i for i, c in enumerate(_B64)}


cdef bytes s30tob64(int64_t v):
    """The low 30 bits of `v` as 5 base64 characters, most significant first (HAProxy's)."""
    return bytes([_B64[(v >> (24 - 6 * i)) & 0x3f] for i in range(5)])


cdef int64_t b64tos30(bytes s):
    """HAProxy's b64tos30(): the value of 5 base64 characters, -1 on a bad character."""
    cdef int64_t out = 0
    for c in s[:5]:
        d = _B64REV.get(c)
        if d is None:
            return -1
        out = (out << 6) + d
    return out

_CACHEABLE_STATUSES = frozenset((200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501))


cdef class CookieConf:
    cdef bytes name
    cdef int mode
    cdef bint indirect
    cdef bint nocache
    cdef bint postonly
    cdef bint preserve
    cdef bytes attrs               # "; path=/; domain=...; HttpOnly; Secure"
    cdef dict servers              # cookie value -> ServerRt
    cdef bint persist              # option persist: use the cookie's server even if it is down
    cdef int64_t maxidle           # seconds, 0 = none
    cdef int64_t maxlife


cdef CookieConf make_cookie_conf(BackendRt be):
    cdef CookieConf c
    ck = be.plan.conf.cookie
    if ck is None:
        return None
    c = CookieConf()
    c.name = ck.name.encode()
    c.mode = {"insert": CK_INSERT, "rewrite": CK_REWRITE, "prefix": CK_PREFIX}.get(ck.mode, CK_PASSIVE)
    c.indirect = ck.indirect
    c.nocache = ck.nocache
    c.postonly = ck.postonly
    c.preserve = ck.preserve
    c.persist = "persist" in be.plan.conf.options
    c.maxidle = ck.maxidle_s or 0
    c.maxlife = ck.maxlife_s or 0
    attrs = "; path=/"
    for d in ck.domains:
        attrs += f"; domain={d}"
    if ck.httponly:
        attrs += "; HttpOnly"
    if ck.secure:
        attrs += "; Secure"
    for a in ck.attrs:
        attrs += f"; {a}"
    c.attrs = attrs.encode()
    c.servers = {}
    for x in be.servers:
        if (<ServerRt>x).cookie is not None:
            c.servers[(<ServerRt>x).cookie] = x
    return c


cdef void cookie_request(HttpStream h, CookieConf c) noexcept:
    """Look for the persistence cookie; pin the stream to its server when allowed; in indirect and
    prefix modes, take the cookie (or its prefix) out of what the server will see."""
    cdef char *base = h.rq.data + h.rq.head
    cdef int i
    cdef fl_http_hdr *hd
    cdef bytes v, val, srvpart, rest
    cdef ServerRt s = None
    cdef uint32_t voff = 0, vlen = 0
    cdef int64_t now, d, last = 0, first = 0
    h.ck_req = CKR_NONE
    try:
        for i in range(h.req.nhdrs):
            hd = &h.req.hdrs[i]
            if hd.id != FL_HTTP_HDR_COOKIE:
                continue
            v = base[hd.value_off:hd.value_off + hd.value_len]
            for part in v.split(b";"):
                k, eq, val = part.strip().partition(b"=")
                if eq and k == c.name:
                    voff, vlen = hd.value_off, hd.value_len
                    break
            else:
                continue
            h.ck_req = CKR_INVALID
            if c.mode == CK_PREFIX:
                srvpart, tilde, _ = val.partition(b"~")
                if not tilde:
                    srvpart = b""
            else:
                srvpart, bar, rest = val.partition(b"|")
                if bar:
                    # "<server>|<last seen>[|<first seen>]": dates in 4-second units
                    if len(rest) >= 5:
                        d = b64tos30(rest[:5])
                        if d > 0:
                            last = d << 2
                    j = rest.find(b"|")
                    if j >= 0 and len(rest) - j > 5:
                        d = b64tos30(rest[j + 1:j + 6])
                        if d > 0:
                            first = d << 2
                now = <int64_t>(wall_us() // 1000000)
                if first and c.maxlife and (now - first > c.maxlife or first - now > 86400):
                    h.ck_req = CKR_OLD
                    srvpart = b""
                    first = last = 0
                elif last and c.maxidle and (now - last > c.maxidle or last - now > 86400):
                    h.ck_req = CKR_EXPIRED
                    srvpart = b""
                    first = last = 0
            h.ck_last = last
            h.ck_first = first
            s = c.servers.get(srvpart) if srvpart else None
            break
        if s is not None and h.prst == 2:
            s = None                     # ignore-persist: balanced (the cookie is still removed)
        if s is not None:
            if persist_ok(s, c.persist or h.prst == 1):
                h.srv = s
                h.persistent = 1
                h.direct = 1
                h.ck_srv = s
                h.ck_req = CKR_VALID if persist_ok(s, False) else CKR_DOWN
            else:
                h.ck_req = CKR_DOWN
        if h.ck_req != CKR_NONE and (c.indirect or c.mode == CK_PREFIX) and c.mode != CK_PASSIVE:
            strip_request_cookie(h, c, voff, vlen)
    except Exception:
        pass


cdef inline bint persist_ok(ServerRt s, bint persist) noexcept:
    """HAProxy sends persistent traffic (cookie, stick table) to any server that is not stopped:
    drain and weight 0 keep their clients, maintenance does not; `option persist` allows any."""
    return persist or (s.state.oper != FL_SRV_ST_STOPPED and (s.state.admin & FL_SRV_ADMF_MAINT) == 0)


cdef void strip_request_cookie(HttpStream h, CookieConf c, uint32_t voff, uint32_t vlen) noexcept:
    """Remove our cookie from the Cookie header (the whole line if it was alone); in prefix mode
    give the server its own value back."""
    cdef char *base = h.rq.data + h.rq.head
    cdef bytes v = base[voff:voff + vlen]
    parts = [p.strip() for p in v.split(b";")]
    out = []
    for p in parts:
        k, eq, val = p.partition(b"=")
        if eq and k == c.name:
            if c.mode == CK_PREFIX:
                _, tilde, rest = val.partition(b"~")
                if tilde:
                    out.append(k + b"=" + rest)
            continue
        if p:
            out.append(p)
    if out:
        splice_bytes(h, &h.rq, voff, vlen, b"; ".join(out))
    else:
        for name_off, line_end, vo, vl in find_headers(base, &h.req, b"cookie"):
            if vo == voff:
                splice_bytes(h, &h.rq, name_off, line_end - name_off, b"")
                break
    reparse_request(h)


cdef void cookie_response(HttpStream h, CookieConf c) noexcept:
    """Insert, rewrite or prefix the persistence cookie in the response head at rs_off."""
    cdef ServerRt s = h.srv
    cdef char *base
    cdef uint32_t hl, end_hdrs
    cdef bint server_sets = False
    cdef int64_t now
    cdef bint direct
    h.ck_rsp = b'N'
    if s is None:
        return
    try:
        base = h.rs.data + h.rs.head + h.rsp_off
        # the server's own Set-Cookie lines for our name (last first: an edit never moves the
        # lines still to be seen)
        for name_off, line_end, voff, vlen in find_headers(base, &h.rsp, b"set-cookie"):
            base = h.rs.data + h.rs.head + h.rsp_off
            v = base[voff:voff + vlen]
            k, eq, rest = v.partition(b"=")
            if k.strip() != c.name:      # case matters, as in HAProxy
                continue
            server_sets = True
            val, semi, tail = rest.partition(b";")
            if c.preserve:
                continue                 # the server's cookie is left alone (and not replaced)
            if c.mode == CK_INSERT or (h.direct and c.indirect):
                # as HAProxy: we insert ours instead, or the client must not get the server's
                splice_bytes(h, &h.rs, h.rsp_off + name_off, line_end - name_off, b"")
                h.ck_rsp = b'D'
                continue
            if s.cookie is None:
                continue                 # rewrite/prefix need the server's value
            if c.mode == CK_REWRITE:
                new = c.name + b"=" + s.cookie + semi + tail
                h.ck_rsp = b'R'
            elif c.mode == CK_PREFIX:
                new = c.name + b"=" + s.cookie + b"~" + val + semi + tail
                h.ck_rsp = b'P'
            else:
                continue
            splice_bytes(h, &h.rs, h.rsp_off + voff, vlen, new)
        reparse_response(h)
        if c.mode != CK_INSERT or h.prst == 2:
            return                       # (ignore-persist: HAProxy inserts no cookie)
        now = <int64_t>(wall_us() // 1000000)
        direct = h.direct and h.srv is s      # cookie (or stick table) chose it, no redispatch
        if direct and not ((c.maxidle or h.ck_last) and (not h.ck_last or h.ck_last < now)) and \
                not (c.maxlife and not h.ck_first) and not (not c.maxlife and h.ck_first):
            return                       # the client has the right cookie, its dates are fresh
        if c.postonly and h.req_method != FL_HTTP_METH_POST:
            return
        if server_sets and c.preserve:
            return
        if s.cookie is None:
            # a server without a cookie value: HAProxy asks the client to drop the cookie
            value = c.name + b"=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/" + c.attrs[len(b"; path=/"):]
        else:
            value = c.name + b"=" + s.cookie
            if c.maxidle or c.maxlife:
                value += b"|" + s30tob64((now + 3) >> 2)
                if c.maxlife:
                    value += b"|" + s30tob64(h.ck_first >> 2 if h.ck_first else (now + 3) >> 2)
            value += c.attrs
        base = h.rs.data + h.rs.head + h.rsp_off
        hl = h.rsp.head_len
        end_hdrs = hl - 2 if hl >= 2 and base[hl - 2] == b'\r' else hl - 1
        ins = b"set-cookie: " + value + b"\r\n"
        if c.nocache and rsp_cacheable(h):
            ins += b"cache-control: private\r\n"
        if splice_bytes(h, &h.rs, h.rsp_off + end_hdrs, 0, ins):
            h.ck_rsp = b'U' if direct else b'I'
        reparse_response(h)
    except Exception:
        pass


cdef bint rsp_cacheable(HttpStream h):
    """HAProxy's view of a response a shared cache may keep: a cacheable status with explicit
    freshness (max-age, s-maxage, public, Expires) and nothing forbidding it."""
    cdef char *base = h.rs.data + h.rs.head + h.rsp_off
    cdef int i
    cdef fl_http_hdr *hd
    fresh = False
    if h.rsp.status not in _CACHEABLE_STATUSES:
        return False
    for i in range(h.rsp.nhdrs):
        hd = &h.rsp.hdrs[i]
        name = base[hd.name_off:hd.name_off + hd.name_len].lower()
        v = base[hd.value_off:hd.value_off + hd.value_len].lower()
        if name == b"cache-control":
            if b"private" in v or b"no-cache" in v or b"no-store" in v:
                return False
            if b"max-age" in v or b"s-maxage" in v or b"public" in v:
                fresh = True
        elif name == b"expires":
            fresh = True
    return fresh
