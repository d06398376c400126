# Sample expressions (`<fetch>[,<converter>]*` outside ACLs: stick rules, `balance hash`) and the
# stick rules of a backend (`stick match|on|store-request|store-response`), as HAProxy 2.6 runs
# them:
#   * match rules run after cookie persistence: the first entry found whose server is not stopped
#     (or any with `option persist`) pins the stream to it, like a valid cookie (queue on that
#     server, leave it only with `option redispatch`); every entry found is touched (expiry
#     refreshed), even when a cookie already chose the server;
#   * store rules only note their key (the first per table, at most 8): the entry is written once
#     the server connection is established, with the server that took it, so a client whose
#     server went down (which match skipped) gets its entry moved to the new one;
#   * another backend sharing the table finds the server by name first (HAProxy's srvkey), then
#     by id.

DEF STK_MATCH = 1
DEF STK_STORE = 2
DEF STK_MAX_STORES = 8     # HAProxy's limit of simultaneous stores per request or response

cdef class SampleExpr:
    """A fetch and its converters, giving one sample (HAProxy's sample-fetch context: the last
    occurrence of a header or cookie, the first URL parameter)."""
    cdef Fetch fetch
    cdef list convs                # (name, args)
    cdef readonly str text

    cdef object value(self, Stream s):
        cdef Fetch f = self.fetch
        cdef list vals = f.samples(s)
        if not vals:
            return None
        if (f.kind == F_HDR or f.kind == F_FHDR or f.kind == F_RES_HDR or f.kind == F_RES_FHDR) and not f.occ:
            v = vals[len(vals) - 1]
        elif (f.kind == F_COOK or f.kind == F_RES_COOK) and f.arg is not None:
            v = vals[len(vals) - 1]
        else:
            v = vals[0]
        for name, args in self.convs:
            v = convert(name, args, v)
            if v is None:
                return None
        return v


_CONVERTERS = frozenset(("lower", "upper", "ipmask", "field", "word", "length"))


cdef object convert(str name, tuple args, object v):
    """Apply one converter; None when the input does not convert (HAProxy: the sample is lost)."""
    if name == "ipmask":
        if isinstance(v, bytes):
            v = parse_ip_sample(<bytes>v)
            if v is None:
                return None
        if not isinstance(v, tuple):
            return None
        ver, raw = v
        mask = args[0] if ver == 4 else (args[1] if len(args) > 1 else None)
        if mask is None:
            return None
        bits = 32 if ver == 4 else 128
        return (ver, (int.from_bytes(raw, "big") & mask).to_bytes(bits // 8, "big"))
    b = sample_bytes(v)
    if name == "lower":
        return b.lower()
    if name == "upper":
        return b.upper()
    if name == "length":
        return len(b)
    # field(<index>,<delimiters>[,<count>]) / word(...): 1-based, negative from the end, count 0 =
    # all the remaining ones; the text between the selected parts is kept as it was
    idx, delims, count = args
    spans = []
    i0 = 0
    for i in range(len(b) + 1):
        if i == len(b) or b[i] in delims:
            if name == "field" or i > i0:
                spans.append((i0, i))
            i0 = i + 1
    n = len(spans)
    if idx > 0:
        first = idx - 1
        last = n - 1 if count == 0 else min(n - 1, first + count - 1)
    else:
        last = n + idx
        first = 0 if count == 0 else max(0, last - count + 1)
    if first >= n or last < 0 or first > last:
        return b""
    return b[spans[first][0]:spans[last][1]]


def _ipmask_arg(str text, int bits):
    if "." in text or ":" in text:
        import ipaddress
        return int(ipaddress.ip_address(text))
    n = int(text)
    if n < 0 or n > bits:
        raise RuleCompileError(f"ipmask: invalid mask '{text}'")
    return ((1 << n) - 1) << (bits - n) if n else 0


cdef SampleExpr compile_expr(Worker w, str fetch, tuple args, tuple converters, str text):
    from fastlb.config.acl import split_fetch
    cdef SampleExpr e = SampleExpr()
    e.fetch = make_fetch(w, fetch, args)
    e.text = text
    e.convs = []
    for c in converters:
        name, cargs, _ = split_fetch(c)
        if name not in _CONVERTERS:
            raise RuleCompileError(f"converter '{name}' is not supported by fastlb's engine yet")
        if name == "ipmask":
            if not cargs:
                raise RuleCompileError("ipmask expects a mask")
            conv_args = (_ipmask_arg(cargs[0], 32), _ipmask_arg(cargs[1], 128) if len(cargs) > 1 else None)
        elif name in ("field", "word"):
            if len(cargs) < 2 or not cargs[1]:
                raise RuleCompileError(f"{name} expects an index and delimiters")
            conv_args = (int(cargs[0]), cargs[1].encode(), int(cargs[2]) if len(cargs) > 2 else 1)
            if conv_args[0] == 0:
                raise RuleCompileError(f"{name}: index must not be 0")
        else:
            conv_args = ()
        e.convs.append((name, conv_args))
    return e


cdef SampleExpr compile_expr_text(Worker w, str text):
    from fastlb.config.acl import split_fetch
    name, args, convs = split_fetch(text)
    return compile_expr(w, name, tuple(args), tuple(convs), text)


cdef bytes sample_binary(object v):
    """A sample as HAProxy casts it to binary (balance hash): strings as they are, addresses in
    network order, integers as 8 big-endian bytes."""
    if isinstance(v, bytes):
        return <bytes>v
    if isinstance(v, tuple):
        return <bytes>(<tuple>v)[1]
    if isinstance(v, bool):
        v = int(v)
    return (<object>v & 0xffffffffffffffff).to_bytes(8, "big")


cdef void fill_lb_sample(Stream s, fl_lb_key_t *key) noexcept:
    """The `balance hash` sample of stream `s` into the balancer key (none: round robin)."""
    if s.be.lb_expr is None:
        return
    try:
        v = (<SampleExpr>s.be.lb_expr).value(s)
        if v is None:
            return
        s.lb_sample = sample_binary(v)
    except Exception:
        return
    key.sample = <const char *>s.lb_sample
    key.sample_len = <uint32_t>len(s.lb_sample)


cdef class StickRuleRt:
    cdef int flags                  # STK_MATCH | STK_STORE
    cdef SampleExpr expr
    cdef StickTable table
    cdef Cond cond
    cdef bint response              # store-response


cdef list compile_stick_rules(Worker w, proxy, dict acls, dict tables):
    """The backend's stick rules -> [StickRuleRt] (request side first, as written)."""
    cdef StickRuleRt r
    out = []
    for rule in proxy.stick_rules:
        name = proxy.name if rule.table is None else rule.table
        table = tables.get(name)
        where = f"[{rule.file}:{rule.line}] : 'stick {rule.kind}'"
        if table is None:
            raise RuleCompileError(f"{where} : unable to find stick-table '{name}'")
        r = StickRuleRt()
        r.flags = {"match": STK_MATCH, "on": STK_MATCH | STK_STORE}.get(rule.kind, STK_STORE)
        r.response = rule.kind == "store-response"
        r.table = table
        try:
            r.expr = compile_expr(w, rule.fetch, tuple(rule.fetch_args), tuple(rule.converters), rule.expr)
            r.cond = compile_cond(w, rule.condition, acls)
        except (RuleCompileError, ValueError) as exc:
            raise RuleCompileError(f"{where} : {exc}") from None
        out.append(r)
    return out


cdef ServerRt stick_find_server(BackendRt be, StickTable t, int32_t sid, int32_t skey):
    cdef object s = None
    if 0 <= skey < len(t.server_keys):
        if t.srvkey == "name":
            s = be.srv_by_name.get(t.server_keys[skey])
        else:
            for x in be.servers:
                if sockaddr_text(<sockaddr *>&(<ServerRt>x).addr) == t.server_keys[skey]:
                    s = x
                    break
    if s is None:
        s = be.srv_by_id.get(sid)
    return <ServerRt>s if s is not None else None


cdef void stick_request(Stream st) noexcept:
    """Run the backend's request-side stick rules on stream `st` (before server assignment)."""
    cdef BackendRt be = st.be
    cdef StickRuleRt r
    cdef ServerRt s
    cdef bytes key
    cdef int32_t sid = 0, skey = -1
    cdef bint persist = be.persist
    st.stk_pending = None
    try:
        for x in be.stick_rules:
            r = <StickRuleRt>x
            if r.response:
                continue
            if r.flags & STK_STORE and st.stk_pending is not None and _pending_has(st.stk_pending, r.table):
                continue            # only the first store of each table applies
            if r.cond is not None and not r.cond.eval(st):
                continue
            v = r.expr.value(st)
            if v is None:
                continue
            key = r.table.key_of(v)
            if key is None:
                continue
            if r.flags & STK_MATCH:
                if r.table.c_lookup(<const unsigned char *><char *>key, <uint32_t>len(key), st.w.now, &sid, &skey):
                    if st.srv is None:
                        s = stick_find_server(be, r.table, sid, skey)
                        if s is not None and persist_ok(s, persist or st.prst == 1):
                            st.srv = s
                            st.persistent = 1
                            st.direct = 1
            if r.flags & STK_STORE:
                if st.stk_pending is None:
                    st.stk_pending = []
                if len(st.stk_pending) < STK_MAX_STORES:
                    st.stk_pending.append((r.table, key))
    except Exception:
        pass


cdef bint _pending_has(list pending, StickTable t):
    for p in pending:
        if (<tuple>p)[0] is t:
            return True
    return False


cdef void stick_response(Stream st) noexcept:
    """store-response rules: note their keys (read from the response head) for stick_commit."""
    cdef BackendRt be = st.be
    cdef StickRuleRt r
    cdef bytes key
    cdef list done = []
    try:
        for x in be.stick_rules:
            r = <StickRuleRt>x
            if not r.response or r.table in done:
                continue
            if r.cond is not None and not r.cond.eval(st):
                continue
            v = r.expr.value(st)
            if v is None:
                continue
            key = r.table.key_of(v)
            if key is None:
                continue
            done.append(r.table)
            if st.stk_pending is None:
                st.stk_pending = []
            if len(st.stk_pending) < STK_MAX_STORES:
                st.stk_pending.append((r.table, key))
    except Exception:
        pass


cdef void stick_commit(Stream st) noexcept:
    """Write the noted keys with the server that serves the stream (skipped for `non-stick`
    servers, as HAProxy)."""
    cdef ServerRt s = st.srv
    cdef StickTable t
    cdef bytes key
    cdef list pending = st.stk_pending
    st.stk_pending = None
    if pending is None or s is None or s.non_stick:
        return
    try:
        for p in pending:
            t = <StickTable>(<tuple>p)[0]
            key = <bytes>(<tuple>p)[1]
            if t.srvkey == "name":
                skey = t.server_key_index(s.name)
            else:
                skey = t.server_key_index(sockaddr_text(<sockaddr *>&s.addr))
            t.c_store(<const unsigned char *><char *>key, <uint32_t>len(key), s.id, skey, st.w.now)
    except Exception:
        pass
