# use_backend routing: first matching rule wins. Runs of consecutive rules whose condition is a
# positive OR of string ACLs that an index can answer (exact, prefix, suffix, domain or directory
# patterns on one string fetch: path, url, base, method, query, hdr(), req.fhdr(), cook(),
# url_param(), with or without -i) become one RouteTable: one StrIndex per distinct fetch, a
# lookup returns the smallest matching rule index of the run. Any other rule (AND, negation,
# `unless`, regex, substring, integer or address matching) breaks the run and is evaluated on its
# own, in its place, so the order of evaluation is the configuration's.

# fetches whose samples are strings of the request
cdef frozenset _INDEXABLE_FETCHES = frozenset({F_PATH, F_URL, F_BASE, F_PATHQ, F_METHOD, F_QUERY, F_HDR,
                                               F_FHDR, F_COOK, F_URL_PARAM})
# below this many patterns in a run, rules are evaluated one by one (no sample object: cheaper)
DEF ROUTE_TABLE_MIN_PATTERNS = 8


cdef class RouteTable:
    """Merged rules: (Fetch, StrIndex) per distinct fetch and case mode."""
    cdef list subs
    cdef readonly Py_ssize_t first        # index of the first and last rule merged
    cdef readonly Py_ssize_t last
    cdef readonly Py_ssize_t npatterns

    cdef Py_ssize_t lookup(self, Stream s):
        cdef Py_ssize_t best = IX_NONE
        cdef Fetch f
        cdef StrIndex ix
        cdef const char *p
        cdef uint32_t n
        cdef bint http = isinstance(s, HttpStream)
        for sub in self.subs:
            f = <Fetch>(<tuple>sub)[0]
            ix = <StrIndex>(<tuple>sub)[1]
            if http:
                if request_str(<HttpStream>s, f.kind, &p, &n):
                    best = ix.best_ptr(p, n, best)
                    continue
                if (f.kind == F_HDR or f.kind == F_FHDR) and f.occ == 0:
                    best = hdr_best(<HttpStream>s, f, ix, best)
                    continue
            for v in f.samples(s):
                if isinstance(v, bytes):
                    best = ix.best(<bytes>v, best)
        return best


cdef Py_ssize_t hdr_best(HttpStream h, Fetch f, StrIndex ix, Py_ssize_t best):
    """hdr(name) / req.fhdr(name), every occurrence, looked up in the buffer: the samples
    header_samples() would build (hdr: each comma-separated value without surrounding spaces and
    tabs; fhdr: each full value), without building them."""
    cdef char *base
    cdef fl_http_msg *m = &h.req
    cdef fl_http_hdr *hd
    cdef const char *v
    cdef const char *end
    cdef const char *a
    cdef const char *b
    cdef const char *name = <const char *>f.arg
    cdef Py_ssize_t nlen = len(f.arg)
    cdef int i
    if h.rq.data == NULL or m.head_len == 0:
        return best
    base = h.rq.data + h.rq.head
    for i in range(m.nhdrs):
        hd = &m.hdrs[i]
        if hd.name_len != nlen or strncasecmp(base + hd.name_off, name, nlen) != 0:
            continue
        v = base + hd.value_off
        if f.kind == F_FHDR:
            best = ix.best_ptr(v, hd.value_len, best)
            continue
        end = v + hd.value_len
        while True:
            b = <const char *>memchr(v, b',', end - v)
            if b == NULL:
                b = end
            a = v
            while a < b and (a[0] == b' ' or a[0] == b'\t'):
                a += 1
            v = b
            while b > a and ((b - 1)[0] == b' ' or (b - 1)[0] == b'\t'):
                b -= 1
            best = ix.best_ptr(a, <uint32_t>(b - a), best)
            if v == end:
                break
            v += 1
    return best


cdef class RuleRouter(Router):
    """use_backend rules, first match wins (see the top of this file)."""
    cdef list rules                # (Cond or None, BackendRt)
    cdef list blocks               # int (a rule evaluated alone) or RouteTable

    cdef BackendRt route(self, Stream s, BackendRt default):
        cdef Cond c
        cdef Py_ssize_t i
        for blk in self.blocks:
            if isinstance(blk, RouteTable):
                i = (<RouteTable>blk).lookup(s)
                if i != IX_NONE:
                    return <BackendRt>(<tuple>self.rules[i])[1]
            else:
                c = <Cond>(<tuple>self.rules[<Py_ssize_t>blk])[0]
                if c is None or c.eval(s):
                    return <BackendRt>(<tuple>self.rules[<Py_ssize_t>blk])[1]
        return default

    cdef BackendRt route_one_by_one(self, Stream s, BackendRt default):
        """The same decision without the tables (tests compare both)."""
        cdef Cond c
        for rule in self.rules:
            c = <Cond>(<tuple>rule)[0]
            if c is None or c.eval(s):
                return <BackendRt>(<tuple>rule)[1]
        return default

    def describe(self):
        """The blocks, for tests: ('rule', i) or ('table', first, last, patterns, fetches)."""
        out = []
        for blk in self.blocks:
            if isinstance(blk, RouteTable):
                out.append(("table", (<RouteTable>blk).first, (<RouteTable>blk).last,
                            (<RouteTable>blk).npatterns, len((<RouteTable>blk).subs)))
            else:
                out.append(("rule", blk))
        return out


cdef list indexable_parts(Cond c):
    """The ACL lines of condition `c` when the rule is a positive OR of indexable string ACL
    lines (`if a`, `if a || b`, `if { hdr(host) -i x y }`), None otherwise."""
    cdef AclPart p
    cdef list parts = []
    if c is None or c.unless:
        return None
    for conj in c.terms:
        if len(<tuple>conj) != 1:
            return None
        neg, a = (<tuple>conj)[0]
        if neg:
            return None
        for x in (<Acl>a).parts:
            p = <AclPart>x
            if p.fetch.kind not in _INDEXABLE_FETCHES or not StrIndex.supports(p.m.kind):
                return None
            parts.append(p)
    return parts


cdef tuple fetch_key(Fetch f, bint icase):
    return (f.kind, f.arg, f.occ, icase)


cdef Py_ssize_t part_patterns(AclPart p):
    return len(p.m.exact) if p.m.kind == M_STR else len(p.m.strs)


cdef RouteTable make_table(list run, list rules):
    """One RouteTable from a run of (rule index, parts)."""
    cdef RouteTable t = RouteTable()
    cdef dict by_key = {}
    cdef AclPart p
    cdef StrIndex ix
    cdef Py_ssize_t i
    t.subs = []
    t.first = run[0][0]
    t.last = run[len(run) - 1][0]
    for i, parts in run:
        for x in parts:
            p = <AclPart>x
            key = fetch_key(p.fetch, p.m.icase)
            ix = by_key.get(key)
            if ix is None:
                ix = StrIndex(p.m.icase)
                by_key[key] = ix
                t.subs.append((p.fetch, ix))
            for pat in (p.m.exact if p.m.kind == M_STR else p.m.strs):
                ix.add(p.m.kind, <bytes>pat, i)
    t.npatterns = 0
    for sub in t.subs:
        t.npatterns += fl_strix_size((<StrIndex>(<tuple>sub)[1]).ix)
    return t


cdef list route_blocks(list rules):
    """rules [(Cond, BackendRt)] -> blocks (see RuleRouter)."""
    cdef list blocks = []
    cdef list run = []
    cdef Py_ssize_t npat = 0
    for i, rule in enumerate(rules):
        parts = indexable_parts(<Cond>(<tuple>rule)[0])
        if parts is not None:
            run.append((i, parts))
            for p in parts:
                npat += part_patterns(<AclPart>p)
            continue
        flush_run(blocks, run, npat, rules)
        run = []
        npat = 0
        blocks.append(i)
    flush_run(blocks, run, npat, rules)
    return blocks


cdef void flush_run(list blocks, list run, Py_ssize_t npat, list rules) except *:
    if not run:
        return
    if npat < ROUTE_TABLE_MIN_PATTERNS:
        for i, _ in run:
            blocks.append(i)
    else:
        blocks.append(make_table(run, rules))
