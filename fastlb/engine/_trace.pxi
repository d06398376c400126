# Debug mode (-d): HAProxy's per-transaction trace lines on stdout, in its shape. One id per
# transaction (a keep-alive connection gives one per request, as HAProxy's streams do):
#   <id>:<frontend>.accept(<listener fd>)=<client fd> from [<addr>] ALPN=<none>
#   <id>:<frontend>.clireq[<cfd>:<sfd>]: <request line>        then one .clihdr line per header
#   <id>:<backend>.srvrep[<cfd>:<sfd>]: <status line>          then one .srvhdr line per header
#   <id>:<backend>.srvcls[...] / .clicls[...] / .closed[...]   when the transaction ends
# Header names are printed in lower case; Content-Length headers dropped beside chunked and the
# close/keep-alive tokens of Connection are left out, as HAProxy shows its internal form (an
# invalid request head is answered 400 without any line, as HAProxy's HTTP/1 layer does). fds are 4 hex digits: a missing server fd is
# ffffffff on the head lines and ffff on the end lines, as in HAProxy's output.


cdef inline str trace_proxy(HttpStream s, bint response):
    return s.be.name if (response or s.traced == 2) and s.be is not None else s.fe.name


cdef str trace_connection(str value):
    """A Connection value without its close/keep-alive tokens ('' when none is left)."""
    return ", ".join([t.strip() for t in value.split(",") if t.strip() and t.strip().lower() not in
                      ("close", "keep-alive")])


cdef void trace_emit(Worker w, list lines) noexcept:
    try:
        w.trace_cb("".join(lines))
    except BaseException:
        pass


cdef void trace_begin(HttpStream s) noexcept:
    """The 'accept' line of a new transaction (once)."""
    cdef Worker w = s.w
    if s.traced:
        return
    s.traced = 1
    s.trace_id = w.trace_seq * <uint32_t>w.trace_stride + <uint32_t>w.worker_index
    w.trace_seq += 1
    trace_emit(w, [f"{s.trace_id:08x}:{s.fe.name}.accept({<uint32_t>s.li.ep.fd:04x})="
                   f"{<uint32_t>s.cep.fd:04x} from [{sockaddr_text(<sockaddr *>&s.caddr)}] ALPN=<none>\n"])


cdef void trace_head(HttpStream s, bint response) noexcept:
    """clireq/clihdr (request head just parsed) or srvrep/srvhdr (response head)."""
    cdef fl_http_msg *m = &s.rsp if response else &s.req
    cdef char *base
    cdef fl_http_hdr *h
    cdef int i
    cdef int sfd = s.sep.fd if s.sep is not None else -1
    if response:
        base = s.rs.data + s.rs.head + s.rs_fwd
    else:
        base = s.rq.data + s.rq.head
        trace_begin(s)
    try:
        tag = f"{s.trace_id:08x}:{trace_proxy(s, response)}.{'srv' if response else 'cli'}"
        fds = f"[{<uint32_t>s.cep.fd:04x}:{<uint32_t>sfd:04x}]: "
        if response:
            first = f"HTTP/1.{m.minor} {m.status} " + base[m.reason_off:m.reason_off + m.reason_len].decode("latin-1")
        else:
            first = (base[m.method_off:m.method_off + m.method_len].decode("latin-1") + " " +
                     base[m.target_off:m.target_off + m.target_len].decode("latin-1") + f" HTTP/1.{m.minor}")
        lines = [tag, "rep" if response else "req", fds, first, "\n"]
        for i in range(m.nhdrs):
            h = &m.hdrs[i]
            if h.flags & FL_HTTP_HF_DROP:
                continue
            name = base[h.name_off:h.name_off + h.name_len].decode("latin-1").lower()
            value = base[h.value_off:h.value_off + h.value_len].decode("latin-1")
            if name == "connection":
                value = trace_connection(value)
                if not value:
                    continue
            lines += [tag, "hdr", fds, name, ": ", value, "\n"]
    except BaseException:
        return
    trace_emit(s.w, lines)


cdef void trace_end(HttpStream s, int sfd, bint keep_client) noexcept:
    """srvcls (when a server connection took part), clicls and closed: the transaction is over.
    HAProxy lets go of the client side first when the connection stays open for the next
    request, and of the server side first when everything closes."""
    if not s.traced:
        return
    tag = f"{s.trace_id:08x}:{trace_proxy(s, 0)}."
    s.traced = 0
    fds = f"[{<uint16_t>s.cep.fd:04x}:{<uint16_t>sfd:04x}]\n"
    srv = [tag, "srvcls", fds] if sfd >= 0 else []
    cli = [tag, "clicls", fds]
    trace_emit(s.w, (cli + srv if keep_client else srv + cli) + [tag, "closed", fds])
