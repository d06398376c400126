# Cookie persistence (`cookie <name> insert|rewrite|prefix [indirect] [nocache] [postonly]
# [preserve] [httponly] [secure] [domain d]...` with `server ... cookie <value>`), as HAProxy:
# a request carrying the cookie of a usable server goes to that server; responses get the cookie
# inserted (or the server's own cookie rewritten / prefixed) when the client did not have it.

DEF CK_INSERT = 1
DEF CK_REWRITE = 2
DEF CK_PREFIX = 3
DEF CK_PASSIVE = 4

# request-side cookie states for the log (%tsc first char)
DEF CKR_NONE = b'N'
DEF CKR_INVALID = b'I'
DEF CKR_DOWN = b'D'
DEF CKR_VALID = b'V'

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
    """Look for the persistence cookie; pin the stream to its server when usable; in indirect and
    prefix modes, take the cookie (or its prefix) out of what the server will see."""
    cdef char *base = h.rq.data + h.rq.head
    cdef int i
    cdef fl_http_hdr *hd
    cdef bytes v, val
    cdef ServerRt s = None
    cdef uint32_t voff = 0, vlen = 0, name_off = 0
    h.ck_req = CKR_NONE
    try:
        for i in range(h.req.nhdrs):
            hd = &h.req.hdrs[i]
            if hd.id != FL_HTTP_HDR_COOKIE:
                continue
            v = base[hd.value_off:hd.value_off + hd.value_len]
            pos = 0
            for part in v.split(b";"):
                stripped = part.strip()
                k, eq, val = stripped.partition(b"=")
                if eq and k == c.name:
                    name_off = hd.value_off + pos + (len(part) - len(part.lstrip()))
                    voff, vlen = hd.value_off, hd.value_len
                    if c.mode == CK_PREFIX:
                        srvpart, tilde, _ = val.partition(b"~")
                        s = c.servers.get(srvpart) if tilde else None
                    else:
                        s = c.servers.get(val)
                    h.ck_req = CKR_INVALID if s is None else CKR_VALID
                    break
                pos += len(part) + 1
            if h.ck_req != CKR_NONE:
                break
        if s is not None:
            if s.is_usable() or (c.persist and s.is_up()) or \
                    (s.state.admin & FL_SRV_ADMF_DRAIN and s.is_up()):
                h.srv = s
                h.persistent = 1
                h.ck_srv = s
            else:
                h.ck_req = CKR_DOWN
        if h.ck_req != CKR_NONE and (c.indirect or c.mode == CK_PREFIX) and c.mode != CK_PASSIVE:
            strip_request_cookie(h, c, voff, vlen)
    except Exception:
        pass


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
    h.ck_rsp = b'N'
    if s is None or s.cookie is None:
        return
    try:
        base = h.rs.data + h.rs.head + h.rsp_off
        # the server's own Set-Cookie lines for our name
        for name_off, line_end, voff, vlen in find_headers(base, &h.rsp, b"set-cookie"):
            base = h.rs.data + h.rs.head + h.rsp_off
            v = base[voff:voff + vlen]
            k, eq, rest = v.partition(b"=")
            if k.strip() != c.name:
                continue
            server_sets = True
            val, semi, tail = rest.partition(b";")
            if c.mode == CK_REWRITE:
                new = c.name + b"=" + s.cookie + semi + tail
                h.ck_rsp = b'R'
            elif c.mode == CK_PREFIX:
                new = c.name + b"=" + s.cookie + b"~" + val + semi + tail
                h.ck_rsp = b'P'
            elif c.mode == CK_INSERT and c.indirect and not c.preserve:
                # the server must not see nor set our cookie: drop its line, we insert ours
                splice_bytes(h, &h.rs, h.rsp_off + name_off, line_end - name_off, b"")
                reparse_response(h)
                server_sets = False
                continue
            else:
                continue
            splice_bytes(h, &h.rs, h.rsp_off + voff, vlen, new)
        reparse_response(h)
        if c.mode != CK_INSERT:
            return
        if h.ck_req == CKR_VALID and h.ck_srv is s:
            return                       # the client already has the right cookie
        if c.postonly and h.req_method != FL_HTTP_METH_POST:
            return
        if server_sets and c.preserve:
            return
        base = h.rs.data + h.rs.head + h.rsp_off
        hl = h.rsp.head_len
        end_hdrs = hl - 2 if hl >= 2 and base[hl - 2] == b'\r' else hl - 1
        ins = b"set-cookie: " + c.name + b"=" + s.cookie + c.attrs + b"\r\n"
        if c.nocache and rsp_cacheable(h):
            ins += b"cache-control: private\r\n"
        if splice_bytes(h, &h.rs, h.rsp_off + end_hdrs, 0, ins):
            h.ck_rsp = b'I'
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
