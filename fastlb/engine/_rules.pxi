# http-request / http-response / tcp-request connection rules and `redirect` lines, compiled
# per worker. Header edits are made in place in the message buffer and the head is parsed again
# after each edit, so later rules, ACLs and the forwarding code always see consistent offsets.

import base64 as _b64

DEF R_ALLOW = 1
DEF R_DENY = 2
DEF R_REDIRECT = 3
DEF R_SET_HDR = 4
DEF R_ADD_HDR = 5
DEF R_DEL_HDR = 6
DEF R_REPLACE_HDR = 7
DEF R_REPLACE_VAL = 8
DEF R_RETURN = 9
DEF R_AUTH = 10
DEF R_SET_STATUS = 11
DEF R_USE_SERVICE = 12
DEF R_SET_PATH = 13
DEF R_SET_QUERY = 14
DEF R_SET_URI = 15
DEF R_ACCEPT = 16
DEF R_REJECT = 17
DEF R_SET_METHOD = 18



cdef class LogFmt:
    """A log-format value (`%[fetch]`, `%ci`, `%cp`, literal text) compiled once."""
    cdef list parts                # bytes | Fetch | str (a %x variable)
    cdef readonly bint constant

    cdef bytes render(self, Stream s):
        cdef list out
        cdef list vals
        if self.constant:
            return <bytes>self.parts[0] if self.parts else b""
        out = []
        for p in self.parts:
            if isinstance(p, bytes):
                out.append(p)
            elif isinstance(p, Fetch):
                vals = (<Fetch>p).samples(s)
                if vals:
                    out.append(sample_bytes(vals[0]))
            else:
                out.append(fmt_var(s, <str>p))
        return b"".join(out)


cdef bytes sample_bytes(object v):
    if isinstance(v, bytes):
        return <bytes>v
    if isinstance(v, tuple):
        return ip_text(<tuple>v)
    if isinstance(v, bool):
        return b"1" if v else b"0"
    return str(v).encode()


cdef bytes fmt_var(Stream s, str var):
    cdef sockaddr_in6 a
    cdef socklen_t alen = sizeof(a)
    if var == "ci" or var == "cp":
        txt = sockaddr_text(<sockaddr *>&s.caddr)
        host, _, port = txt.rpartition(":")
        return (host if var == "ci" else port).encode()
    if var == "fi" or var == "fp":
        if s.cep is None or s.cep.fd < 0 or getsockname(s.cep.fd, <sockaddr *>&a, &alen) < 0:
            return b"-"
        txt = sockaddr_text(<sockaddr *>&a)
        host, _, port = txt.rpartition(":")
        return (host if var == "fi" else port).encode()
    if var == "f":
        return s.fe.name.encode()
    if var == "b":
        return s.be.name.encode() if s.be is not None else b"-"
    if var == "s":
        return s.srv.name.encode() if s.srv is not None else b"<NOSRV>"
    return b""


_FMT_VARS = ("ci", "cp", "fi", "fp", "f", "b", "s")


cdef LogFmt compile_fmt(Worker w, str text):
    from fastlb.config.acl import split_fetch
    cdef LogFmt f = LogFmt()
    cdef Fetch fe
    f.parts = []
    i = 0
    lit = []
    while i < len(text):
        c = text[i]
        if c == "%" and i + 1 < len(text):
            if text[i + 1] == "%":
                lit.append("%")
                i += 2
                continue
            if text[i + 1] == "[":
                depth, j = 0, i + 1
                while j < len(text):
                    if text[j] == "[":
                        depth += 1
                    elif text[j] == "]":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if j >= len(text):
                    raise RuleCompileError(f"missing ']' in log-format expression '{text}'")
                if lit:
                    f.parts.append("".join(lit).encode())
                    lit = []
                name, args, convs = split_fetch(text[i + 2:j])
                if convs:
                    raise RuleCompileError(f"converters in '%[{text[i + 2:j]}]' are not supported by "
                                           "fastlb's engine yet")
                fe = make_fetch(w, name, tuple(args))
                f.parts.append(fe)
                i = j + 1
                continue
            for var in _FMT_VARS:
                if text.startswith(var, i + 1):
                    if lit:
                        f.parts.append("".join(lit).encode())
                        lit = []
                    f.parts.append(var)
                    i += 1 + len(var)
                    break
            else:
                raise RuleCompileError(f"log-format variable in '{text}' is not supported by fastlb's engine yet")
            continue
        lit.append(c)
        i += 1
    if lit:
        f.parts.append("".join(lit).encode())
    f.constant = len(f.parts) <= 1 and all(isinstance(p, bytes) for p in f.parts)
    return f


cdef class RuleRt:
    cdef int kind
    cdef Cond cond
    cdef bytes name                # header name as written
    cdef bytes lname               # lower-case
    cdef LogFmt value
    cdef object regex
    cdef int code
    cdef bytes reason
    cdef bytes page                # complete response for deny/return/auth
    cdef int redir_type            # 0 location, 1 prefix, 2 scheme
    cdef bint drop_query
    cdef bint append_slash
    cdef bytes set_cookie
    cdef bytes clear_cookie
    cdef str service
    cdef object users              # auth: {user: (password, insecure)} of the userlist


_REDIRECT_REASONS = {301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect",
                     308: "Permanent Redirect"}


def _return_page(args, proxy):
    """Build the response of `http-request return` / `deny` with content options."""
    status = 200
    ctype = None
    body = None
    hdrs = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("status", "deny_status"):
            status = int(args[i + 1])
            i += 2
        elif a == "content-type":
            ctype = args[i + 1]
            i += 2
        elif a == "string":
            body = args[i + 1].encode()
            i += 2
        elif a in ("file", "errorfile"):
            with open(args[i + 1], "rb") as fh:
                body = fh.read()
            if a == "errorfile":
                return body, status
            i += 2
        elif a == "default-errorfiles":
            i += 1
        elif a == "hdr":
            hdrs.append((args[i + 1], args[i + 2]))
            i += 3
        elif a in ("lf-string", "lf-file", "errorfiles"):
            raise RuleCompileError(f"'{a}' in a return/deny rule is not supported by fastlb's engine yet")
        else:
            raise RuleCompileError(f"unexpected argument '{a}'")
    return (body, ctype, hdrs), status


cdef bytes build_response(int status, bytes body, str ctype, list hdrs):
    from .errors import _REASONS
    reason = _REASONS.get(status, ("OK" if status < 300 else "Unknown",))[0]
    head = [f"HTTP/1.1 {status} {reason}", f"content-length: {len(body)}"]
    if ctype:
        head.append(f"content-type: {ctype}")
    for k, v in hdrs:
        head.append(f"{k}: {v}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


cdef RuleRt compile_rule(Worker w, rule, dict acls, proxy, int side):
    """side 0: http-request, 1: http-response, 2: tcp-request, 3: redirect line."""
    cdef RuleRt r = RuleRt()
    action = rule.action
    args = list(rule.args)
    r.cond = compile_cond(w, rule.condition, acls)
    if side == 2:
        if action in ("connection accept", "content accept", "session accept"):
            r.kind = R_ACCEPT
        elif action in ("connection reject", "content reject", "session reject"):
            r.kind = R_REJECT
        else:
            raise RuleCompileError(f"'tcp-request {action}' is not supported by fastlb's engine yet")
        return r
    if side == 3:
        action, args = "redirect", [action] + args[1:] if args and args[0] == action else [action] + args
    if action == "allow":
        r.kind = R_ALLOW
    elif action in ("deny", "reject"):
        r.kind = R_DENY
        status = 403
        content, st = _return_page(args, proxy) if args else (None, 403)
        r.code = st
        if content is not None:
            if isinstance(content, bytes):
                r.page = content
            elif content[0] is not None:
                r.page = build_response(st, content[0], content[1], content[2])
    elif action == "redirect":
        r.kind = R_REDIRECT
        r.redir_type = {"location": 0, "prefix": 1, "scheme": 2}[args[0]]
        r.value = compile_fmt(w, args[1])
        r.code = 302
        i = 2
        while i < len(args):
            a = args[i]
            if a == "code":
                r.code = int(args[i + 1])
                i += 2
            elif a == "drop-query":
                r.drop_query = True
                i += 1
            elif a == "append-slash":
                r.append_slash = True
                i += 1
            elif a == "set-cookie":
                r.set_cookie = args[i + 1].encode()
                i += 2
            elif a == "clear-cookie":
                r.clear_cookie = args[i + 1].encode()
                i += 2
            else:
                raise RuleCompileError(f"unexpected redirect argument '{a}'")
    elif action in ("set-header", "add-header"):
        r.kind = R_SET_HDR if action == "set-header" else R_ADD_HDR
        r.name = args[0].encode()
        r.lname = r.name.lower()
        r.value = compile_fmt(w, args[1] if len(args) > 1 else "")
    elif action == "del-header":
        r.kind = R_DEL_HDR
        r.name = args[0].encode()
        r.lname = r.name.lower()
        if len(args) > 1:
            raise RuleCompileError("del-header with a match method is not supported by fastlb's engine yet")
    elif action in ("replace-header", "replace-value"):
        r.kind = R_REPLACE_HDR if action == "replace-header" else R_REPLACE_VAL
        r.name = args[0].encode()
        r.lname = r.name.lower()
        r.regex = _re.compile(args[1].encode())
        r.value = compile_fmt(w, args[2])
    elif action == "return":
        r.kind = R_RETURN
        content, st = _return_page(args, proxy)
        r.code = st
        if isinstance(content, bytes):
            r.page = content
        else:
            body, ctype, hdrs = content
            r.page = build_response(st, body or b"", ctype, hdrs)
    elif action == "auth":
        r.kind = R_AUTH
        realm = proxy.name
        if len(args) >= 2 and args[0] == "realm":
            realm = args[1]
        r.page = (DEFAULT_ERRORS[401].replace(b"\r\n\r\n", b"\r\nwww-authenticate: Basic realm=\"%s\"\r\n\r\n"
                                              % realm.encode(), 1))
        r.code = 401
    elif action == "set-status":
        r.kind = R_SET_STATUS
        r.code = int(args[0])
        if len(args) >= 3 and args[1] == "reason":
            r.reason = args[2].encode()
    elif action == "use-service":
        r.kind = R_USE_SERVICE
        r.service = args[0]
    elif action in ("set-path", "set-query", "set-uri", "set-method"):
        r.kind = {"set-path": R_SET_PATH, "set-query": R_SET_QUERY, "set-uri": R_SET_URI,
                  "set-method": R_SET_METHOD}[action]
        r.value = compile_fmt(w, args[0])
    else:
        raise RuleCompileError(f"'{action}' is not supported by fastlb's engine yet")
    return r


cdef list compile_rules(Worker w, rules, dict acls, proxy, int side):
    out = []
    for rule in rules:
        try:
            out.append(compile_rule(w, rule, acls, proxy, side))
        except RuleCompileError as exc:
            raise RuleCompileError(f"[{rule.file}:{rule.line}] : '{rule.action}' : {exc}") from None
        except (IndexError, ValueError, OSError) as exc:
            raise RuleCompileError(f"[{rule.file}:{rule.line}] : '{rule.action}' : {exc}") from None
    return out


cdef class ProxyRules:
    """The compiled rules of one proxy."""
    cdef list http_req
    cdef list http_rsp
    cdef list tcp_conn
    cdef list tcp_content             # tcp-request content accept/reject
    cdef list redirects
    cdef dict acls


cdef ProxyRules compile_proxy_rules(Worker w, proxy, dict acls):
    cdef ProxyRules pr = ProxyRules()
    pr.acls = acls
    pr.http_req = compile_rules(w, proxy.http_request_rules, acls, proxy, 0)
    pr.http_rsp = compile_rules(w, proxy.http_response_rules, acls, proxy, 1)
    pr.tcp_conn = compile_rules(w, [r for r in proxy.tcp_request_rules if r.action.startswith("connection")],
                                acls, proxy, 2)
    pr.redirects = compile_rules(w, proxy.redirects, acls, proxy, 3)
    # the other content actions were reported as not supported (ignored) by the configuration;
    # mode http runs these on each request head before the http-request rules (as HAProxy's
    # AN_REQ_INSPECT_FE/BE analysers on the HTX message)
    content = [r for r in proxy.tcp_request_rules if r.action in ("content accept", "content reject")]
    if proxy.mode == "tcp":
        pr.tcp_content = compile_rules(w, content, acls, proxy, 2)
    else:
        # mode http: a rule on a fetch the engine cannot run yet (req.payload, ...) is left out
        # rather than refusing the configuration (what fastlb did before it ran these rules)
        pr.tcp_content = []
        for r in content:
            try:
                pr.tcp_content.extend(compile_rules(w, [r], acls, proxy, 2))
            except RuleCompileError as exc:
                w.load_warnings.append(f"{exc} : ignored in mode http (proxy '{proxy.name}')")
    if not (pr.http_req or pr.http_rsp or pr.tcp_conn or pr.redirects or pr.tcp_content):
        return None
    return pr


# ---------------------------------------------------------------------------------------------
# running rules

cdef int run_tcp_conn_rules(Stream s, ProxyRules pr):
    """tcp-request connection rules: False = reject."""
    cdef RuleRt r
    if pr is None:
        return 1
    for x in pr.tcp_conn:
        r = <RuleRt>x
        if r.cond is not None and not r.cond.eval(s):
            continue
        return 0 if r.kind == R_REJECT else 1
    return 1


cdef int run_tcp_content_rules(Stream s, list rules, bint final):
    """tcp-request content rules on what the client sent so far (HAProxy's
    tcp_inspect_request()): 1 accept (an accept rule, or no rule applies), 0 reject, -1 undecided
    (a condition needs more data and the inspection is not final)."""
    cdef RuleRt r
    cdef int res
    s.smp_partial = not final
    try:
        for x in rules:
            r = <RuleRt>x
            if r.cond is not None:
                res = r.cond.eval3(s)
                if res == T_MISS:
                    return -1
                if res == T_FAIL:
                    continue
            return 0 if r.kind == R_REJECT else 1
        return 1
    finally:
        s.smp_partial = 0


cdef int run_request_rules(HttpStream h, ProxyRules pr):
    cdef RuleRt r
    cdef int res
    if pr is None:
        return RULES_CONTINUE
    for x in pr.http_req:
        r = <RuleRt>x
        if r.cond is not None and not r.cond.eval(h):
            continue
        res = apply_request_rule(h, r)
        if res != RULES_CONTINUE:
            return res
        if h.closed:
            return RULES_ANSWERED
    for x in pr.redirects:
        r = <RuleRt>x
        if r.cond is not None and not r.cond.eval(h):
            continue
        return apply_request_rule(h, r)
    return RULES_CONTINUE


cdef void run_response_rules(HttpStream h, ProxyRules pr) noexcept:
    cdef RuleRt r
    if pr is None:
        return
    try:
        for x in pr.http_rsp:
            r = <RuleRt>x
            if r.cond is not None and not r.cond.eval(h):
                continue
            if r.kind == R_ALLOW:
                return
            if r.kind == R_DENY:
                h.deny_response()
                return
            apply_response_rule(h, r)
    except Exception:
        pass


cdef bytes basic_auth_user(HttpStream h, users):
    """The user name when the request's Basic credentials match `users` (a userlist), else None."""
    cdef char *base = h.rq.data + h.rq.head
    cdef int i
    cdef fl_http_hdr *hd
    for i in range(h.req.nhdrs):
        hd = &h.req.hdrs[i]
        if hd.id != FL_HTTP_HDR_AUTHORIZATION:
            continue
        v = base[hd.value_off:hd.value_off + hd.value_len]
        scheme, _, cred = v.partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            user, _, pwd = _b64.b64decode(cred.strip(), validate=True).partition(b":")
        except Exception:
            return None
        entry = users.get(user.decode("latin-1"))
        if entry is None:
            return None
        stored, insecure = entry
        if stored is None:
            return None
        if insecure:
            return user if pwd.decode("latin-1") == stored else None
        return user if crypt_check(pwd, stored) else None
    return None


cdef object _libcrypt = None


cdef bint crypt_check(bytes password, str stored):
    """crypt(3) check of a userlist `password` hash (the stdlib crypt module is gone in 3.13:
    libcrypt is called directly)."""
    global _libcrypt
    import ctypes
    import ctypes.util
    if _libcrypt is None:
        name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
        try:
            lib = ctypes.CDLL(name)
            lib.crypt.restype = ctypes.c_char_p
            lib.crypt.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
            _libcrypt = lib
        except OSError:
            _libcrypt = False
    if not _libcrypt:
        return False
    out = _libcrypt.crypt(password, stored.encode())
    return out is not None and out == stored.encode()


# ---------------------------------------------------------------------------------------------
# applying rules to a message

cdef bytes clean_value(bytes v):
    """Header values made from samples must not smuggle a line break into the head."""
    if b"\r" in v or b"\n" in v or b"\0" in v:
        return v.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"")
    return v


cdef bint reparse_request(HttpStream h) noexcept:
    cdef Worker w = h.w
    cdef int r
    cdef fl_http_limits lim
    lim.max_head = w.bufsize
    lim.maxhdr = <uint16_t>(w.hdr_cap + 1)   # a head edited by rules: every slot
    fl_http_msg_reset(&h.req)
    r = fl_http_parse_request(h.rq.data + h.rq.head, h.rq.len, &h.req, &lim)
    return r > 0


cdef bint reparse_response(HttpStream h) noexcept:
    cdef Worker w = h.w
    cdef int r
    cdef fl_http_limits lim
    lim.max_head = w.bufsize
    lim.maxhdr = <uint16_t>(w.hdr_cap + 1)   # a head edited by rules: every slot
    fl_http_msg_reset(&h.rsp)
    r = fl_http_parse_response(h.rs.data + h.rs.head + h.rsp_off, h.rs.len - h.rsp_off, &h.rsp,
                               h.req_method, &lim)
    return r > 0


cdef bint splice_bytes(HttpStream h, fl_buf *b, uint32_t off, uint32_t dlen, bytes ins) noexcept:
    """Replace `dlen` bytes at `off` (from b.head) with `ins`."""
    cdef uint32_t n = len(ins)
    cdef char *base
    if n > dlen and b.head + b.len + (n - dlen) > h.w.bufsize:
        h.w.bufs.compact(b)
        if b.len + (n - dlen) > h.w.bufsize:
            return False
    base = b.data + b.head
    memmove(base + off + n, base + off + dlen, b.len - off - dlen)
    if n:
        memcpy(base + off, <char *>ins, n)
    b.len = b.len + n - dlen
    return True


cdef list find_headers(char *base, fl_http_msg *m, bytes lname):
    """(name_off, line_end, value_off, value_len) of every line of header `lname`, last first."""
    cdef int i
    cdef fl_http_hdr *hd
    cdef list out = []
    cdef Py_ssize_t n = len(lname)
    cdef char *nl
    for i in range(m.nhdrs - 1, -1, -1):
        hd = &m.hdrs[i]
        if hd.name_len == n and strncasecmp(base + hd.name_off, <const char *>lname, n) == 0:
            nl = <char *>memchr(base + hd.value_off + hd.value_len, b'\n', m.head_len - hd.value_off - hd.value_len)
            if nl != NULL:
                out.append((hd.name_off, <uint32_t>(nl - base) + 1, hd.value_off, hd.value_len))
    return out


cdef bint edit_headers(HttpStream h, bint response, RuleRt r) noexcept:
    """set/add/del/replace a header in the request or response head; False if it did not fit."""
    cdef fl_buf *b = &h.rs if response else &h.rq
    cdef fl_http_msg *m = &h.rsp if response else &h.req
    cdef uint32_t base_off = h.rsp_off if response else 0
    cdef char *base = b.data + b.head + base_off
    cdef uint32_t end_hdrs, hl
    cdef bytes val
    try:
        if r.kind == R_SET_HDR or r.kind == R_DEL_HDR:
            for name_off, line_end, _, _ in find_headers(base, m, r.lname):
                splice_bytes(h, b, base_off + name_off, line_end - name_off, b"")
            if r.kind == R_DEL_HDR:
                return reparse_response(h) if response else reparse_request(h)
            if response:
                reparse_response(h)
            else:
                reparse_request(h)
        if r.kind == R_SET_HDR or r.kind == R_ADD_HDR:
            if m.nhdrs + 1 >= h.w.hdr_cap:
                return False      # no slot left to parse the edited head: refuse before editing
            val = clean_value(r.value.render(h))
            base = b.data + b.head + base_off
            hl = m.head_len
            end_hdrs = hl - 2 if hl >= 2 and base[hl - 2] == b'\r' else hl - 1
            if not splice_bytes(h, b, base_off + end_hdrs, 0, r.name + b": " + val + b"\r\n"):
                return False
        elif r.kind == R_REPLACE_HDR or r.kind == R_REPLACE_VAL:
            fmt = r.value.render(h)
            for _, _, voff, vlen in find_headers(base, m, r.lname):
                base = b.data + b.head + base_off
                old = base[voff:voff + vlen]
                if r.kind == R_REPLACE_HDR:
                    mt = r.regex.search(old)
                    if mt is None:
                        continue
                    new = mt.expand(fmt)
                else:
                    parts = []
                    for part in old.split(b","):
                        p = part.strip(b" \t")
                        mt = r.regex.search(p)
                        parts.append(mt.expand(fmt) if mt is not None else p)
                    new = b", ".join(parts)
                if not splice_bytes(h, b, base_off + voff, vlen, clean_value(new)):
                    return False
        return reparse_response(h) if response else reparse_request(h)
    except Exception:
        return False


cdef bint edit_target(HttpStream h, RuleRt r) noexcept:
    cdef char *base = h.rq.data + h.rq.head
    cdef bytes val = clean_value(r.value.render(h)).replace(b" ", b"%20")
    cdef bytes path = base[h.req.path_off:h.req.path_off + h.req.path_len]
    q = path.find(b"?")
    if r.kind == R_SET_METHOD:
        ok = splice_bytes(h, &h.rq, h.req.method_off, h.req.method_len, val)
    elif r.kind == R_SET_URI:
        ok = splice_bytes(h, &h.rq, h.req.target_off, h.req.target_len, val)
    elif r.kind == R_SET_PATH:
        plen = q if q >= 0 else len(path)
        ok = splice_bytes(h, &h.rq, h.req.path_off, plen, val)
    else:  # R_SET_QUERY
        if q >= 0:
            ok = splice_bytes(h, &h.rq, h.req.path_off + q, len(path) - q, (b"?" + val) if val else b"")
        else:
            ok = splice_bytes(h, &h.rq, h.req.path_off + len(path), 0, (b"?" + val) if val else b"")
    return ok and reparse_request(h)


cdef int apply_request_rule(HttpStream h, RuleRt r):
    cdef uint32_t head_len = h.req.head_len
    cdef bytes loc
    if r.kind == R_ALLOW:
        return RULES_STOP
    if r.kind == R_DENY:
        h.fe.cnt.denied_req += 1
        h.set_term(b'P', b'R')
        h.take_request_locally(head_len)
        if r.page is not None:
            h.send_local(r.page, r.code, 1)
        else:
            h.send_error(r.code, 1)
        return RULES_ANSWERED
    if r.kind == R_RETURN or r.kind == R_AUTH:
        h.fe.cnt.intercepted += 1
        h.set_term(b'P' if r.kind == R_AUTH else b'L', b'R')  # HAProxy: "return" is a local answer
        h.take_request_locally(head_len)
        h.send_local(r.page, r.code, 1)
        return RULES_ANSWERED
    if r.kind == R_REDIRECT:
        h.fe.cnt.intercepted += 1
        h.set_term(b'L', b'R')
        h.take_request_locally(head_len)
        h.send_local(redirect_response(h, r), r.code, 1)
        return RULES_ANSWERED
    if r.kind == R_USE_SERVICE:
        cb = h.w.services.get(r.service)
        if cb is None:
            h.fe.cnt.intercepted += 1
            h.take_request_locally(head_len)
            h.send_error(500, 1)
        else:
            h.svc_label = "<PROMEX>" if r.service == "prometheus-exporter" else f"<{r.service.upper()}>"
            h.run_service_cb(cb, head_len)
        return RULES_ANSWERED
    if r.kind in (R_SET_PATH, R_SET_QUERY, R_SET_URI, R_SET_METHOD):
        if not edit_target(h, r):
            h.fe.cnt.failed_rewrites += 1
        return RULES_CONTINUE
    if not edit_headers(h, False, r):
        h.fe.cnt.failed_rewrites += 1
        if h.req.head_len == 0:
            # the edited head no longer parses: it must not be forwarded (HAProxy answers 500)
            h.set_term(b'P', b'R')
            h.send_error(500, 0)
            return RULES_ANSWERED
    return RULES_CONTINUE


cdef bytes redirect_response(HttpStream h, RuleRt r):
    cdef char *base = h.rq.data + h.rq.head
    cdef bytes path = base[h.req.path_off:h.req.path_off + h.req.path_len]
    cdef bytes target = r.value.render(h)
    if r.drop_query:
        q = path.find(b"?")
        if q >= 0:
            path = path[:q]
    if r.append_slash and not path.endswith(b"/") and r.redir_type != 0:
        q = path.find(b"?")
        path = path[:q] + b"/" + path[q:] if q >= 0 else path + b"/"
    if r.redir_type == 0:
        loc = target
    elif r.redir_type == 1:
        loc = path if target == b"/" else target.rstrip(b"/") + path if target else path
    else:
        host = base[h.req.host_off:h.req.host_off + h.req.host_len]
        loc = target + b"://" + host + path
    reason = _REDIRECT_REASONS.get(r.code, "Found")
    lines = [b"HTTP/1.1 %d %s" % (r.code, reason.encode()), b"content-length: 0", b"location: " + clean_value(loc)]
    if r.code not in (301, 308):
        lines.append(b"cache-control: no-cache")
    if r.set_cookie is not None:
        lines.append(b"set-cookie: " + r.set_cookie + (b"" if b"=" in r.set_cookie else b"=") + b"; path=/")
    if r.clear_cookie is not None:
        lines.append(b"set-cookie: " + r.clear_cookie + b"; path=/; Max-Age=0; Expires=Thu, 01-Jan-1970 00:00:01 GMT")
    return b"\r\n".join(lines) + b"\r\n\r\n"


cdef void apply_response_rule(HttpStream h, RuleRt r):
    cdef char *base
    if r.kind == R_SET_STATUS:
        base = h.rs.data + h.rs.head + h.rsp_off
        # status line: "HTTP/1.x NNN reason"
        reason = r.reason
        if reason is None:
            from .errors import _REASONS
            reason = _REASONS.get(r.code, ("OK" if r.code < 300 else "Unknown",))[0].encode()
        nl = <char *>memchr(base + h.rsp.start_off, b'\n', h.rsp.head_len - h.rsp.start_off)
        if nl == NULL:
            return
        line_end = <uint32_t>(nl - base)
        if line_end > h.rsp.start_off and base[line_end - 1] == b'\r':
            line_end -= 1
        code_off = h.rsp.start_off + 9        # "HTTP/1.x " then the status code
        if splice_bytes(h, &h.rs, h.rsp_off + code_off, line_end - code_off, b"%d %s" % (r.code, reason)):
            reparse_response(h)
        return
    if not edit_headers(h, True, r):
        h.be.cnt.failed_rewrites += 1
