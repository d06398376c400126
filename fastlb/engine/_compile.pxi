# Compiling the configuration's ACLs and conditions (fastlb.config.model) into the engine's
# Fetch / Matcher / Acl / Cond objects, once per worker at start-up.

import os as _os
import socket as _sock

class RuleCompileError(Exception):
    """A rule the engine cannot run (a fetch or converter it does not implement)."""


_BASE_FETCHES = {
    "path": (F_PATH, "str"), "url": (F_URL, "str"), "query": (F_QUERY, "str"), "base": (F_BASE, "str"),
    "pathq": (F_PATHQ, "str"), "method": (F_METHOD, "str"),
    "hdr": (F_HDR, "str"), "req.hdr": (F_HDR, "str"), "req.fhdr": (F_FHDR, "str"),
    "res.hdr": (F_RES_HDR, "str"), "shdr": (F_RES_HDR, "str"), "res.fhdr": (F_RES_FHDR, "str"),
    "hdr_cnt": (F_HDR_CNT, "int"), "req.hdr_cnt": (F_HDR_CNT, "int"), "req.fhdr_cnt": (F_FHDR_CNT, "int"),
    "res.fhdr_cnt": (F_RES_FHDR_CNT, "int"),
    "res.hdr_cnt": (F_RES_HDR_CNT, "int"), "shdr_cnt": (F_RES_HDR_CNT, "int"),
    "cook": (F_COOK, "str"), "req.cook": (F_COOK, "str"), "res.cook": (F_RES_COOK, "str"),
    "scook": (F_RES_COOK, "str"),
    "cook_cnt": (F_COOK_CNT, "int"), "req.cook_cnt": (F_COOK_CNT, "int"),
    "url_param": (F_URL_PARAM, "str"), "urlp": (F_URL_PARAM, "str"),
    "src": (F_SRC, "ip"), "dst": (F_DST, "ip"), "src_port": (F_SRC_PORT, "int"), "dst_port": (F_DST_PORT, "int"),
    "nbsrv": (F_NBSRV, "int"), "req.ver": (F_REQ_VER, "str"), "req_ver": (F_REQ_VER, "str"),
    "req.len": (F_REQ_LEN, "int"), "req_len": (F_REQ_LEN, "int"), "fe_name": (F_FE_NAME, "str"),
    "be_name": (F_BE_NAME, "str"), "http_first_req": (F_HTTP_FIRST_REQ, "bool"),
    "fe_conn": (F_FE_CONN, "int"), "be_conn": (F_BE_CONN, "int"), "req.hdr_names": (F_HDR_NAMES, "str"),
    "srv_is_up": (F_SRV_IS_UP, "bool"), "connslots": (F_CONNSLOTS, "int"), "queue": (F_QUEUE, "int"),
    "status": (F_STATUS, "int"),
    "http_auth": (F_HTTP_AUTH, "bool"), "req.proto_http": (F_PROTO_HTTP, "bool"),
    "http_auth_group": (F_HTTP_AUTH_GROUP, "str"),
    "req.rdp_cookie": (F_RDP_COOKIE, "str"), "rdp_cookie": (F_RDP_COOKIE, "str"),
    "req_rdp_cookie": (F_RDP_COOKIE, "str"), "req.rdp_cookie_cnt": (F_RDP_COOKIE_CNT, "int"),
    "rdp_cookie_cnt": (F_RDP_COOKIE_CNT, "int"),
    "req.ssl_hello_type": (F_SSL_HELLO_TYPE, "int"), "req_ssl_hello_type": (F_SSL_HELLO_TYPE, "int"),
}
# fetches that are constant for fastlb's build (no TLS termination yet)
_CONST_FETCHES = {
    "always_true": True, "always_false": False, "ssl_fc": False, "ssl_fc_has_crt": False,
    "ssl_fc_has_sni": False, "ssl_c_used": False, "stopping": False,
}
_DERIVED = ("_beg", "_end", "_sub", "_reg", "_dir", "_dom", "_len", "_cnt", "_val", "_ip")
_MATCHERS = {"str": M_STR, "sub": M_SUB, "beg": M_BEG, "end": M_END, "dir": M_DIR, "dom": M_DOM, "reg": M_REG,
             "len": M_LEN, "int": M_INT, "ip": M_IP, "found": M_FOUND, "bool": M_BOOL, "bin": M_STR,
             "meth": M_STR}


cdef Fetch make_fetch(Worker w, str name, tuple args):
    cdef Fetch f = Fetch()
    cdef str base = name
    suffix = ""
    if name in _CONST_FETCHES:
        f.kind = F_CONST_BOOL
        f.const = _CONST_FETCHES[name]
        f.out = "bool"
        return f
    if name in ("int", "bool"):
        f.kind = F_CONST_INT
        f.const = int(args[0]) if args else 0
        f.out = "int"
        return f
    if name == "str":
        f.kind = F_CONST_STR
        f.const = (args[0] if args else "").encode()
        f.out = "str"
        return f
    if name == "env":
        f.kind = F_CONST_STR
        v = _os.environ.get(args[0]) if args else None
        f.const = v.encode() if v is not None else None
        f.out = "str"
        return f
    if base not in _BASE_FETCHES:
        for sfx in _DERIVED:
            if name.endswith(sfx) and name[:-len(sfx)] in _BASE_FETCHES:
                base = name[:-len(sfx)]
                suffix = sfx
                break
        else:
            raise RuleCompileError(f"sample fetch '{name}' is not supported by fastlb's engine yet")
    kind, out = _BASE_FETCHES[base]
    if suffix == "_cnt":
        kind = {F_HDR: F_HDR_CNT, F_FHDR: F_FHDR_CNT, F_COOK: F_COOK_CNT, F_RES_HDR: F_RES_HDR_CNT,
                F_RES_FHDR: F_RES_FHDR_CNT}.get(kind, kind)
        out = "int"
    elif suffix == "_val":
        out = "int"
    elif suffix == "_ip":
        out = "ip"
    f.kind = kind
    f.out = out
    f.multi = kind in (F_HDR, F_FHDR, F_COOK, F_RES_HDR, F_RES_FHDR, F_URL_PARAM, F_RES_COOK)
    if kind in (F_HDR, F_FHDR, F_HDR_CNT, F_FHDR_CNT, F_RES_HDR, F_RES_FHDR, F_RES_HDR_CNT, F_RES_FHDR_CNT):
        if args and args[0]:
            f.arg = args[0].lower().encode()
            if len(args) > 1 and args[1]:
                f.occ = int(args[1])
        elif kind not in (F_HDR_CNT, F_FHDR_CNT, F_RES_HDR_CNT, F_RES_FHDR_CNT):
            raise RuleCompileError(f"sample fetch '{name}' needs a header name")
    elif kind in (F_COOK, F_COOK_CNT, F_URL_PARAM, F_RES_COOK, F_RDP_COOKIE, F_RDP_COOKIE_CNT):
        f.arg = args[0].encode() if args and args[0] else None
        if kind == F_URL_PARAM and f.arg is None:
            raise RuleCompileError(f"sample fetch '{name}' needs a parameter name")
    elif kind in (F_NBSRV, F_BE_CONN, F_CONNSLOTS, F_QUEUE):
        if args and args[0]:
            if args[0] not in w.backends_by_name:
                raise RuleCompileError(f"no such backend '{args[0]}' in '{name}({args[0]})'")
            f.be = w.backends_by_name[args[0]]
    elif kind == F_HTTP_AUTH:
        if not args or args[0] not in w.userlists:
            raise RuleCompileError(f"http_auth: no such userlist '{args[0] if args else ''}'")
        f.const = w.userlists[args[0]]
    elif kind == F_HTTP_AUTH_GROUP:
        if not args or args[0] not in w.userlists:
            raise RuleCompileError(f"http_auth_group: no such userlist '{args[0] if args else ''}'")
        # (users, user name bytes -> its group names as bytes): the ACL's values are groups
        f.const = (w.userlists[args[0]], w.usergroups[args[0]])
    elif kind == F_SRV_IS_UP:
        if not args or "/" not in args[0]:
            raise RuleCompileError("srv_is_up needs <backend>/<server>")
        bname, sname = args[0].split("/", 1)
        be = w.backends_by_name.get(bname)
        srv = None
        if be is not None:
            for x in (<BackendRt>be).servers:
                if (<ServerRt>x).name == sname:
                    srv = x
        if srv is None:
            raise RuleCompileError(f"no such server '{args[0]}'")
        f.srv = srv
    return f


def _int_ranges(values, operator):
    ranges = []
    for v in values:
        if operator:
            n = int(v)
            ranges.append({"eq": (n, n), "ge": (n, None), "gt": (n + 1, None), "le": (None, n),
                           "lt": (None, n - 1)}[operator])
        elif ":" in v:
            lo, hi = v.split(":", 1)
            ranges.append((int(lo) if lo else None, int(hi) if hi else None))
        else:
            ranges.append((int(v), int(v)))
    return ranges


def _ip_nets(values, no_dns=False):
    """IP patterns -> (version, network, mask). Names are resolved once, here (HAProxy resolves
    them while parsing), except with -n, which takes addresses only."""
    nets = []
    for v in values:
        addr, _, plen = v.partition("/")
        try:
            if ":" in addr:
                raw = _sock.inet_pton(_sock.AF_INET6, addr)
                bits, ver = 128, 6
            elif no_dns:
                raw = _sock.inet_pton(_sock.AF_INET, addr)
                bits, ver = 32, 4
            else:
                try:
                    raw = _sock.inet_aton(addr)  # HAProxy accepts the abbreviated forms inet_aton does
                except OSError:
                    raw = _sock.inet_aton(_sock.gethostbyname(addr))
                bits, ver = 32, 4
            if plen:
                if "." in plen:
                    mask = int.from_bytes(_sock.inet_aton(plen), "big")
                else:
                    n = int(plen)
                    if n < 0 or n > bits:
                        raise ValueError(plen)
                    mask = ((1 << n) - 1) << (bits - n) if n else 0
            else:
                mask = (1 << bits) - 1
        except (OSError, ValueError):
            raise RuleCompileError(f"'{v}' is not a valid IPv4 or IPv6 address.") from None
        nets.append((ver, int.from_bytes(raw, "big") & mask, mask))
    return nets


def _pattern_values(acl):
    values = list(acl.values)
    for path in acl.pattern_files:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                # as HAProxy reads pattern files: '#' in the first column starts a comment,
                # leading spaces and tabs go, the rest of the line (trailing spaces too) is the
                # pattern, empty lines are skipped
                line = line.rstrip("\r\n")
                if line.startswith("#"):
                    continue
                line = line.lstrip(" \t")
                if line:
                    values.append(line)
    return values


cdef Matcher make_matcher(str method, acl, str fetch_out):
    cdef Matcher m = Matcher()
    values = _pattern_values(acl)
    m.kind = _MATCHERS[method]
    m.icase = acl.ignore_case
    if m.kind == M_STR:
        m.exact = frozenset((v.lower() if m.icase else v).encode() for v in values)
    elif m.kind in (M_SUB, M_BEG, M_END):
        m.strs = tuple((v.lower() if m.icase else v).encode() for v in values)
    elif m.kind == M_DIR:
        m.strs = tuple((v.lower() if m.icase else v).strip("/?").encode() for v in values)
    elif m.kind == M_DOM:
        m.strs = tuple((v.lower() if m.icase else v).strip("./:?").encode() for v in values)
    if m.kind in (M_BEG, M_END, M_DIR, M_DOM) and len(m.strs) > 8:
        m.idx = StrIndex(m.icase)
        for v in m.strs:
            m.idx.add(m.kind, v, 0)
    if m.kind == M_REG:
        flags = _re.IGNORECASE if m.icase else 0
        m.regexes = [_re.compile(v.encode(), flags) for v in values]
    elif m.kind in (M_INT, M_LEN):
        m.ranges = _int_ranges(values, acl.operator)
    elif m.kind == M_IP:
        m.nets = _ip_nets(values, getattr(acl, "no_dns", False))
    return m


cdef AclPart make_acl_part(Worker w, acl):
    cdef AclPart p = AclPart()
    for conv in acl.converters:
        raise RuleCompileError(f"converter '{conv}' is not supported by fastlb's engine yet")
    p.fetch = make_fetch(w, acl.fetch, tuple(acl.fetch_args))
    method = acl.matcher
    if method is None:
        if acl.fetch.endswith("_val") or p.fetch.out == "int":
            method = "int"
        elif p.fetch.out == "ip":
            method = "ip"
        elif p.fetch.out == "bool":
            method = "bool"
        elif acl.fetch.endswith("_len"):
            method = "len"
        else:
            method = "str"
    if method == "bool" and not acl.values:
        p.m = Matcher()
        p.m.kind = M_BOOL
        return p
    if method in ("found",):
        p.m = Matcher()
        p.m.kind = M_FOUND
        return p
    p.m = make_matcher(method, acl, p.fetch.out)
    if method == "meth" and p.m.icase:
        method_matcher(p.m, [v.encode() for v in _pattern_values(acl)])
    p.direct = p.fetch.kind in (F_PATH, F_PATHQ, F_URL, F_METHOD) and p.m.kind in (M_STR, M_BEG, M_END, M_SUB) \
        and len(p.m.strs if p.m.kind != M_STR else p.m.exact) <= 32
    return p


_KNOWN_METHODS = frozenset({b"OPTIONS", b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"TRACE", b"CONNECT"})


cdef void method_matcher(Matcher m, list patterns) except *:
    """`method -i ...` without -m: HAProxy matches a known method (GET, POST...) by its exact name
    whatever -i says, and only other methods by their text with -i (its "meth" matcher)."""
    m.kind = M_METH
    m.other = frozenset(p.lower() for p in patterns if p not in _KNOWN_METHODS)
    m.exact = frozenset(p for p in patterns if p in _KNOWN_METHODS)


_PREDEFINED = {
    "TRUE": ("always_true", (), "bool", ()), "FALSE": ("always_false", (), "bool", ()),
    "HTTP": ("req.proto_http", (), "bool", ()),
    "HTTP_1.0": ("req.ver", (), "str", ("1.0",)), "HTTP_1.1": ("req.ver", (), "str", ("1.1",)),
    "HTTP_CONTENT": ("hdr_val", ("content-length",), "int", ("1:",)),
    "HTTP_URL_ABS": ("url", (), "reg", ("^[^/:]*://",)), "HTTP_URL_SLASH": ("url", (), "beg", ("/",)),
    "HTTP_URL_STAR": ("url", (), "str", ("*",)),
    "LOCALHOST": ("src", (), "ip", ("127.0.0.1/8", "::1")),
    "METH_CONNECT": ("method", (), "str", ("CONNECT",)), "METH_DELETE": ("method", (), "str", ("DELETE",)),
    "METH_GET": ("method", (), "str", ("GET", "HEAD")), "METH_HEAD": ("method", (), "str", ("HEAD",)),
    "METH_OPTIONS": ("method", (), "str", ("OPTIONS",)), "METH_POST": ("method", (), "str", ("POST",)),
    "METH_PUT": ("method", (), "str", ("PUT",)), "METH_TRACE": ("method", (), "str", ("TRACE",)),
    "RDP_COOKIE": ("req.rdp_cookie_cnt", (), "int", ("1:",)), "REQ_CONTENT": ("req.len", (), "int", ("1:",)),
    "WAIT_END": ("always_true", (), "bool", ()),
}


class _PredefAcl:
    def __init__(self, fetch, args, matcher, values):
        self.fetch, self.fetch_args, self.matcher, self.values = fetch, args, matcher, values
        self.converters, self.ignore_case, self.pattern_files, self.operator = (), False, (), None


cdef dict compile_acls(Worker w, proxy):
    """Named ACLs of a proxy: name -> Acl (lines of the same name OR together)."""
    cdef dict acls = {}
    cdef Acl a
    for d in proxy.acls:
        a = acls.get(d.name)
        if a is None:
            a = Acl()
            a.name = d.name
            a.parts = []
            acls[d.name] = a
        try:
            a.parts.append(make_acl_part(w, d))
        except RuleCompileError as exc:
            raise RuleCompileError(f"[{d.file}:{d.line}] : acl '{d.name}' : {exc}") from None
    return acls


cdef Acl predefined_acl(Worker w, str name):
    cdef Acl a = Acl()
    fetch, args, matcher, values = _PREDEFINED[name]
    a.name = name
    a.parts = [make_acl_part(w, _PredefAcl(fetch, args, matcher, values))]
    return a


cdef Cond compile_cond(Worker w, cond, dict acls):
    """A config Condition -> Cond (None stays None: the rule always applies)."""
    cdef Cond c
    cdef Acl a
    if cond is None:
        return None
    c = Cond()
    c.unless = cond.negate_unless
    c.text = cond.text
    c.terms = []
    for conj in cond.terms:
        terms = []
        for t in conj:
            if t.anonymous is not None:
                a = Acl()
                a.name = ""
                a.parts = [make_acl_part(w, t.anonymous)]
            elif t.acl in acls:
                a = acls[t.acl]
            elif t.acl in _PREDEFINED:
                a = predefined_acl(w, t.acl)
            else:
                raise RuleCompileError(f"no such ACL : '{t.acl}'")
            terms.append((bool(t.negate), a))
        c.terms.append(tuple(terms))
    return c


cdef object compile_router(Worker w, proxy, dict acls):
    """use_backend rules of a frontend -> RuleRouter, or None when there are none."""
    cdef RuleRouter r
    cdef Cond c
    if not proxy.use_backends:
        return None
    r = RuleRouter()
    r.rules = []
    for ub in proxy.use_backends:
        if ub.dynamic:
            raise RuleCompileError(f"[{ub.file}:{ub.line}] : dynamic use_backend '{ub.backend}' is not "
                                   "supported by fastlb's engine yet")
        be = w.backends_by_name.get(ub.backend)
        if be is None:
            raise RuleCompileError(f"[{ub.file}:{ub.line}] : use_backend : no such backend '{ub.backend}'")
        try:
            c = compile_cond(w, ub.condition, acls)
        except RuleCompileError as exc:
            raise RuleCompileError(f"[{ub.file}:{ub.line}] : use_backend : {exc}") from None
        r.rules.append((c, be))
    r.blocks = route_blocks(r.rules)
    return r
