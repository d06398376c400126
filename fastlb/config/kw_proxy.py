"""Proxy keywords: mode, options, timeouts, balance, hash-type, cookie and small settings."""

from __future__ import annotations

from .addresses import normalise_network
from .context import Ctx, KeywordError
from .keywords import add, keyword, unsupported

TIMEOUT_FIELDS = {
    "client": ("client", "dfl"),
    "server": ("server", "dlb"),
    "connect": ("connect", "dlb"),
    "check": ("check", "dlb"),
    "queue": ("queue", "dlb"),
    "http-keep-alive": ("http_keep_alive", "dflb"),
    "http-request": ("http_request", "dflb"),
    "tunnel": ("tunnel", "dlb"),
    "tarpit": ("tarpit", "dflb"),
    "client-fin": ("client_fin", "dfl"),
    "server-fin": ("server_fin", "dlb"),
}
TIMEOUT_SUPPORTS = (
    "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', "
    "'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin'"
)


@keyword("mode", "dflb", "http|tcp", "layer 7 (http) or layer 4 (tcp) proxying")
def kw_mode(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError("'mode' expects one argument: 'http' or 'tcp'.")
    ctx.no_more(words, 2)
    if words[1] == "health":
        raise KeywordError(
            "'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead."
        )
    if words[1] not in ("http", "tcp"):
        raise KeywordError(f"unknown proxy mode '{words[1]}'.")
    ctx.px.f["mode"] = words[1]


def _timeout_handler(kind: str, field: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        what = f"timeout {kind}"
        if len(words) < 3:
            raise KeywordError(f"'{what}' expects an integer value (in milliseconds)")
        if len(words) > 3:
            raise KeywordError(f"'{what}' cannot handle unexpected argument '{words[3]}'.")
        ctx.px.sub("timeouts")[field] = ctx.time(words[2], what)

    return handler


for _kind, (_field, _sections) in TIMEOUT_FIELDS.items():
    add(f"timeout {_kind}", _sections, _timeout_handler(_kind, _field), "<time>", f"{_kind} timeout")
# Legacy spellings from HAProxy 1.x, removed in 2.1: reported by name rather than as unknown.
_LEGACY_TIMEOUTS = {"clitimeout": "client", "srvtimeout": "server", "contimeout": "connect"}
for _legacy, _modern in _LEGACY_TIMEOUTS.items():

    def _removed(ctx: Ctx, words: list[str], _legacy: str = _legacy, _modern: str = _modern) -> None:
        raise KeywordError(
            f"the '{_legacy}' directive is not supported anymore since HAProxy 2.1. Use 'timeout {_modern}'."
        )

    add(_legacy, "dflb", _removed, help=f"removed in HAProxy 2.1: use 'timeout {_modern}'")


@keyword("retries", "dlb", "<n>", "connection retries to a server")
def kw_retries(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError("'retries' expects an integer argument.")
    ctx.no_more(words, 2)
    ctx.px.f["retries"] = ctx.lenient_int(words[1])


@keyword("fullconn", "dlb", "<n>", "backend load at which servers reach maxconn (dynamic minconn)")
def kw_fullconn(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError("'fullconn' expects an integer argument.")
    ctx.px.f["fullconn"] = ctx.lenient_int(words[1])


@keyword("backlog", "dfl", "<n>", "listen backlog of the binds")
def kw_backlog(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError("'backlog' expects an integer argument.")
    ctx.px.f["backlog"] = ctx.lenient_int(words[1])


@keyword("id", "flb", "<n>", "numeric proxy id (stats iid)")
def kw_id(ctx: Ctx, words: list[str]) -> None:
    ctx.px.f["id"] = ctx.integer(words[1] if len(words) > 1 else None, "id", minimum=1)


@keyword("disabled", "dflb", "", "the proxy is not started")
def kw_disabled(ctx: Ctx, words: list[str]) -> None:
    ctx.px.f["disabled"] = True


@keyword("enabled", "dflb", "", "cancel a 'disabled' inherited from defaults")
def kw_enabled(ctx: Ctx, words: list[str]) -> None:
    ctx.px.f["disabled"] = False


@keyword("log-format", "dfl", "<format>", "custom log line format")
def kw_log_format(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError("log-format expects one argument")
    if len(words) > 2:
        raise KeywordError("log-format expects only one argument, don't forget to escape spaces!")
    ctx.px.f["log_format"] = words[1]
    ctx.px.f["log_format_where"] = (ctx.file, ctx.line)  # checked once the proxy is complete


@keyword("unique-id-format", "dfl", "<format>", "format of the unique request id")
def kw_unique_id_format(ctx: Ctx, words: list[str]) -> None:
    if len(words) != 2:
        raise KeywordError("unique-id-format expects exactly one argument")
    ctx.px.f["unique_id_format"] = words[1]
    ctx.px.f["unique_id_format_where"] = (ctx.file, ctx.line)


@keyword("unique-id-header", "dfl", "<name>", "header carrying the unique request id")
def kw_unique_id_header(ctx: Ctx, words: list[str]) -> None:
    if len(words) != 2:
        raise KeywordError("unique-id-header expects exactly one argument")
    ctx.px.f["unique_id_header"] = words[1]


@keyword("monitor-uri", "dfl", "<uri>", "URI answered 200 for external monitors")
def kw_monitor_uri(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2 or not words[1].startswith("/"):
        raise KeywordError("'monitor-uri' expects an URI beginning with a slash.")
    ctx.px.f["monitor_uri"] = words[1]


@keyword("http-reuse", "dlb", "never|safe|aggressive|always", "idle server connection sharing")
def kw_http_reuse(ctx: Ctx, words: list[str]) -> None:
    if len(words) != 2 or words[1] not in ("never", "safe", "aggressive", "always"):
        raise KeywordError("'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'")
    ctx.px.f["http_reuse"] = words[1]


@keyword("hash-balance-factor", "dlb", "<factor>", "bounded-load consistent hashing (0 = off)")
def kw_hash_balance_factor(ctx: Ctx, words: list[str]) -> None:
    value = ctx.integer(words[1] if len(words) > 1 else None, minimum=0, maximum=65535)
    if 0 < value < 100:
        raise KeywordError("'hash-balance-factor' must be 0 or at least 100.")
    ctx.px.f["hash_balance_factor"] = value


# --- balance / hash-type / cookie ------------------------------------------------------------

BALANCE_ERROR = (
    "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', "
    "'url_param', 'hdr(name)' and 'rdp-cookie(name)' options."
)


@keyword("balance", "dlb", "<algorithm> [<arguments>]", "load-balancing algorithm")
def kw_balance(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError(BALANCE_ERROR)
    algo = words[1]
    args = words[2:]
    b: dict = {"args": tuple(words[1:])}
    if algo in ("roundrobin", "static-rr", "leastconn", "first", "source"):
        b["algorithm"] = algo
        if args:
            raise KeywordError(f"'balance {algo}' cannot handle unexpected argument '{args[0]}'.")
    elif algo == "uri":
        b["algorithm"] = "uri"
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("len", "depth"):
                if i + 1 >= len(args):
                    raise KeywordError(f"balance uri '{a}' expects a positive integer (got '').")
                b[f"uri_{a}"] = ctx.integer(args[i + 1], f"balance uri {a}", minimum=0)
                i += 2
            elif a == "whole":
                b["uri_whole"] = True
                i += 1
            elif a == "path-only":
                b["uri_path_only"] = True
                i += 1
            else:
                raise KeywordError(
                    "balance uri only accepts parameters 'len', 'depth', 'path-only', and "
                    f"'whole' (got '{a}')."
                )
    elif algo == "url_param":
        if not args:
            raise KeywordError("'balance url_param' requires an URL parameter name.")
        b["algorithm"] = "url_param"
        b["url_param"] = args[0]
        if len(args) > 1:
            if args[1] != "check_post":
                raise KeywordError(f"'balance url_param' only accepts check_post modifier (got '{args[1]}').")
            b["check_post"] = ctx.integer(args[2], "check_post", minimum=0) if len(args) > 2 else 0
    elif algo.startswith("hdr(") and algo.endswith(")") and len(algo) > 5:
        b["algorithm"] = "hdr"
        b["header"] = algo[4:-1]
        if args:
            if args[0] != "use_domain_only":
                raise KeywordError(
                    f"'balance hdr()' only accepts 'use_domain_only' modifier (got '{args[0]}')."
                )
            b["use_domain_only"] = True
    elif algo == "rdp-cookie" or (algo.startswith("rdp-cookie(") and algo.endswith(")")):
        b["algorithm"] = "rdp-cookie"
        b["rdp_cookie"] = algo[11:-1] if "(" in algo else "mstshash"
    elif algo == "random" or (algo.startswith("random(") and algo.endswith(")")):
        b["algorithm"] = "random"
        if "(" in algo:
            b["random_draws"] = ctx.integer(algo[7:-1], "balance random", minimum=1)
    elif algo == "hash":
        if not args:
            raise KeywordError("'balance hash' expects a sample expression.")
        b["algorithm"] = "hash"
        b["hash_expr"] = " ".join(args)
    else:
        raise KeywordError(BALANCE_ERROR)
    ctx.px.f["balance"] = b


@keyword(
    "hash-type",
    "dlb",
    "map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]",
    "how hash-based algorithms map hashes to servers",
)
def kw_hash_type(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2 or words[1] not in ("map-based", "consistent"):
        raise KeywordError("'hash-type' only supports 'consistent' and 'map-based'.")
    h: dict = {"method": words[1]}
    if len(words) > 2:
        if words[2] not in ("sdbm", "djb2", "wt6", "crc32"):
            raise KeywordError("'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.")
        h["function"] = words[2]
    if len(words) > 3:
        if words[3] != "avalanche":
            raise KeywordError(
                f"'hash-type {words[1]}' only supports 'avalanche' as a modifier for hash functions."
            )
        h["avalanche"] = True
    ctx.no_more(words, 4)
    ctx.px.f["hash_type"] = h


COOKIE_OPTIONS_ERROR = (
    "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', "
    "'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options."
)


@keyword(
    "cookie",
    "dlb",
    "<name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve] "
    "[httponly] [secure] [domain <d>]* [maxidle <t>] [maxlife <t>] [dynamic] [attr <v>]*",
    "cookie-based server persistence",
)
def kw_cookie(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError("'cookie' expects <cookie_name> as argument.")
    c: dict = {"name": words[1], "domains": [], "attrs": []}
    i = 2
    while i < len(words):
        w = words[i]
        if w in ("rewrite", "insert", "prefix"):
            if c.get("mode") and c["mode"] != w:
                raise KeywordError("cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.")
            c["mode"] = w
        elif w in ("indirect", "nocache", "postonly", "preserve", "httponly", "secure", "dynamic"):
            c[w] = True
        elif w in ("domain", "maxidle", "maxlife", "attr"):
            if i + 1 >= len(words):
                raise KeywordError(f"'cookie' : '{w}' requires an argument.")
            v = words[i + 1]
            if w == "domain":
                if not v.startswith("."):
                    ctx.warn(
                        f"cookie domain '{v}' does not start with a dot; browsers may ignore it "
                        "for sub-domains."
                    )
                c["domains"].append(v)
            elif w == "attr":
                c["attrs"].append(v)
            else:
                c[f"{w}_s"] = ctx.time(v, f"cookie {w}") // 1000
            i += 1
        else:
            raise KeywordError(COOKIE_OPTIONS_ERROR)
        i += 1
    mode = c.get("mode")
    if mode not in ("insert", "rewrite", "prefix") and (c.get("nocache") or c.get("postonly")):
        raise KeywordError(
            f"cookie '{'nocache' if c.get('nocache') else 'postonly'}' option is only valid in 'insert' mode."
        )
    if (c.get("maxidle_s") or c.get("maxlife_s")) and mode != "insert":
        raise KeywordError("cookie 'maxidle' and 'maxlife' options are only valid in 'insert' mode.")
    ctx.px.f["cookie"] = c


# --- option ----------------------------------------------------------------------------------

#: Simple boolean options: name -> (Proxy field or None, sections). They can be negated.
BOOL_OPTIONS: dict[str, tuple[str | None, str]] = {
    "redispatch": ("redispatch", "dlb"),
    "abortonclose": ("abortonclose", "dlb"),
    "dontlognull": ("dontlognull", "dfl"),
    "dontlog-normal": ("dontlog_normal", "dfl"),
    "log-separate-errors": ("log_separate_errors", "dfl"),
    "log-health-checks": ("log_health_checks", "dlb"),
    "logasap": ("logasap", "dfl"),
    "http-pretend-keepalive": ("http_pretend_keepalive", "dlb"),
    "allbackups": (None, "dlb"),
    "checkcache": (None, "dlb"),
    "clitcpka": (None, "dfl"),
    "contstats": (None, "dfl"),
    "disable-h2-upgrade": (None, "dfl"),
    "h1-case-adjust-bogus-client": (None, "dfl"),
    "h1-case-adjust-bogus-server": (None, "dlb"),
    "http-buffer-request": (None, "dflb"),
    "http-ignore-probes": (None, "dfl"),
    "http-no-delay": (None, "dflb"),
    "http-use-proxy-header": (None, "dfl"),
    "independent-streams": (None, "dflb"),
    "nolinger": (None, "dflb"),
    "persist": (None, "dlb"),
    "prefer-last-server": (None, "dlb"),
    "socket-stats": (None, "dfl"),
    "splice-auto": (None, "dflb"),
    "splice-request": (None, "dflb"),
    "splice-response": (None, "dflb"),
    "srvtcpka": (None, "dlb"),
    "tcp-smart-accept": (None, "dfl"),
    "tcp-smart-connect": (None, "dlb"),
    "transparent": (None, "dlb"),
    "idle-close-on-response": (None, "dfl"),
    "accept-invalid-http-request": (None, "dfl"),
    "accept-invalid-http-response": (None, "dlb"),
    "tcpka": (None, "dflb"),
}
#: Options fastlb implements as a behaviour switch that it reads from ``Proxy.options``.
IMPLEMENTED_PLAIN = {
    "redispatch",
    "abortonclose",
    "dontlognull",
    "dontlog-normal",
    "log-separate-errors",
    "log-health-checks",
    "logasap",
    "http-pretend-keepalive",
    "allbackups",
    "splice-auto",
    "splice-request",
    "splice-response",
    "http-buffer-request",
    "prefer-last-server",
    "persist",
    "nolinger",
    "tcpka",
    "clitcpka",
    "srvtcpka",
    "contstats",
    "http-ignore-probes",
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "independent-streams",
    "http-no-delay",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "socket-stats",
}
CHECK_OPTIONS = {
    "ssl-hello-chk",
    "smtpchk",
    "mysql-check",
    "pgsql-check",
    "redis-check",
    "ldap-check",
    "spop-check",
    "tcp-check",
    "external-check",
}


def _bool_option(name: str, field: str | None):
    def handler(ctx: Ctx, words: list[str]) -> None:
        px = ctx.px
        negate = words[0] == "no"
        reset = words[0] == "default"
        args = words[3:] if negate or reset else words[2:]
        value = not (negate or reset)
        if name == "redispatch" and args and not (negate or reset):
            px.f["redispatch_interval"] = ctx.integer(args[0], "option redispatch")
            args = args[1:]
        if args:
            raise KeywordError(f"'option {name}' cannot handle unexpected argument '{args[0]}'.")
        if field is not None:
            px.f[field] = value
        opts = px.options()
        (opts.add if value else opts.discard)(name)
        if name not in IMPLEMENTED_PLAIN and value:
            ctx.warn(f"'option {name}' is not supported by fastlb yet, ignored.")

    return handler


for _name, (_field, _sections) in BOOL_OPTIONS.items():
    add(
        f"option {_name}",
        _sections,
        _bool_option(_name, _field),
        "",
        f"option {_name}",
        negatable=True,
        extra={} if _name in IMPLEMENTED_PLAIN else {"status": "accepted, ignored (warning)"},
    )


def _conn_mode(mode: str, name: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        px = ctx.px
        negate = words[0] in ("no", "default")
        if len(words) > (3 if negate else 2):
            raise KeywordError(f"'option {name}' cannot handle unexpected argument '{words[-1]}'.")
        opts = px.options()
        for other in ("http-keep-alive", "http-server-close", "httpclose"):
            opts.discard(other)
        if negate:
            px.f["http_connection_mode"] = "keep-alive"
        else:
            px.f["http_connection_mode"] = mode
            opts.add(name)

    return handler


add(
    "option http-keep-alive",
    "dflb",
    _conn_mode("keep-alive", "http-keep-alive"),
    "",
    "keep client and server connections open (HTTP default)",
    negatable=True,
)
add(
    "option http-server-close",
    "dflb",
    _conn_mode("server-close", "http-server-close"),
    "",
    "close the server connection after each response, keep the client's",
    negatable=True,
)
add(
    "option httpclose",
    "dflb",
    _conn_mode("close", "httpclose"),
    "",
    "close both connections after each response",
    negatable=True,
)


@keyword("option httplog", "dfl", "[clf|json]",
         "HTTP log format (json: fastlb's JSON line of the same fields)")
def kw_option_httplog(ctx: Ctx, words: list[str]) -> None:
    px = ctx.px
    if words[0] in ("no", "default"):
        px.f["httplog"] = False
        px.options().discard("httplog")
        return
    if len(words) > 2 and words[2] not in ("clf", "json"):
        raise KeywordError("keyword 'httplog' only supports option 'clf'.")  # (HAProxy's words)
    ctx.no_more(words, 3)
    px.f["httplog"] = True
    px.f["httplog_clf"] = len(words) > 2 and words[2] == "clf"
    px.f["log_json"] = len(words) > 2 and words[2] == "json"
    px.f["tcplog"] = False
    px.options().add("httplog")
    px.options().discard("tcplog")


@keyword("option tcplog", "dflb", "[json]",
         "TCP log format (json: fastlb's JSON line of the same fields)")
def kw_option_tcplog(ctx: Ctx, words: list[str]) -> None:
    px = ctx.px
    # HAProxy takes no argument; fastlb's "json" picks the JSON line
    ctx.no_more(words, 3 if len(words) > 2 and words[2] == "json" else 2)
    px.f["log_json"] = len(words) > 2
    px.f["tcplog"] = True
    px.f["httplog"] = False
    px.options().add("tcplog")
    px.options().discard("httplog")


@keyword("option httpslog", "dfl", "", "HTTPS log format (no TLS in fastlb yet: logged as httplog)")
def kw_option_httpslog(ctx: Ctx, words: list[str]) -> None:
    kw_option_httplog(ctx, ["option", "httplog"])
    ctx.px.options().add("httpslog")


def _network_options(ctx: Ctx, words: list[str], name: str, default_header: str) -> dict:
    if words[0] in ("no", "default"):
        raise KeywordError(f"negation/default is not supported for option '{name}'.", style="directive")
    result: dict = {"header": default_header}
    i = 2
    while i < len(words):
        w = words[i]
        if w == "except":
            if i + 1 >= len(words):
                raise KeywordError(f"'option {name} except' expects <address>[/mask] as argument.")
            try:
                result["except_net"] = normalise_network(words[i + 1])
            except ValueError:
                raise KeywordError(f"'option {name} except' expects <address>[/mask] as argument.") from None
            i += 2
        elif w == "header":
            if i + 1 >= len(words):
                raise KeywordError(f"'option {name} header' requires a header field name.")
            result["header"] = words[i + 1]
            i += 2
        elif w == "if-none" and name == "forwardfor":
            result["if_none"] = True
            i += 1
        else:
            if name == "forwardfor":
                raise KeywordError(
                    "'option forwardfor' only supports optional values: 'except', 'header' and 'if-none'."
                )
            raise KeywordError(f"'option {name}' only supports optional values: 'except' and 'header'.")
    return result


@keyword(
    "option forwardfor",
    "dflb",
    "[except <network>] [header <name>] [if-none]",
    "add X-Forwarded-For with the client address",
)
def kw_option_forwardfor(ctx: Ctx, words: list[str]) -> None:
    ctx.px.f["forwardfor"] = _network_options(ctx, words, "forwardfor", "X-Forwarded-For")
    ctx.px.options().add("forwardfor")


@keyword(
    "option originalto",
    "dflb",
    "[except <network>] [header <name>]",
    "add X-Original-To with the original destination address",
)
def kw_option_originalto(ctx: Ctx, words: list[str]) -> None:
    ctx.px.f["originalto"] = _network_options(ctx, words, "originalto", "X-Original-To")
    ctx.px.options().add("originalto")


@keyword("option httpchk", "dlb", "[<method>] [<uri>] [<version>]", "HTTP health checks")
def kw_option_httpchk(ctx: Ctx, words: list[str]) -> None:
    px = ctx.px
    args = words[2:]
    if len(args) > 3:
        raise KeywordError(f"'option httpchk' cannot handle unexpected argument '{args[3]}'.")
    chk: dict = {}
    if len(args) == 1:
        chk["uri"] = args[0]
    elif len(args) >= 2:
        chk["method"], chk["uri"] = args[0], args[1]
    if len(args) == 3:
        version = args[2]
        if "\r\n" in version or "\n" in version:
            ctx.warn(
                "'option httpchk' : hiding headers or body at the end of the version string is "
                "deprecated. Please, consider to use 'http-check send' directive instead.",
                style="directive",
            )
            first, *rest = version.replace("\r\n", "\n").split("\n")
            version = first
            headers = []
            for h in rest:
                if ":" in h:
                    k, v = h.split(":", 1)
                    headers.append((k.strip(), v.strip()))
            chk["headers"] = headers
        chk["version"] = version
    px.f["httpchk"] = chk
    px.f["check_type"] = "httpchk"
    px.options().add("httpchk")


def _check_option(name: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        px = ctx.px
        px.f["check_type"] = name
        px.options().add(name)
        if name != "tcp-check":
            ctx.warn(
                f"'option {name}' is not supported by fastlb yet: servers will be checked with a "
                "TCP connect only."
            )

    return handler


for _name in sorted(CHECK_OPTIONS):
    add(
        f"option {_name}",
        "dlb",
        _check_option(_name),
        "[<arguments>]",
        f"{_name} health checks",
        extra={}
        if _name == "tcp-check"
        else {"status": "accepted, checks fall back to TCP connect (warning)"},
    )


# Real HAProxy 2.6 proxy keywords without an implementation in fastlb yet.
unsupported(
    [
        "bind-process",
        "compression",
        "email-alert from",
        "email-alert level",
        "email-alert mailers",
        "email-alert myhostname",
        "email-alert to",
        "http-error",
        "load-server-state-from-file",
        "server-state-file-name",
        "filter",
        "use-fcgi-app",
        "external-check command",
        "external-check path",
        "persist rdp-cookie",
        "source",
        "declare capture",
        "error-log-format",
        "log-format-sd",
        "max-keep-alive-queue",
        "retry-on",
        "http-send-name-header",
        "clitcpka-cnt",
        "clitcpka-idle",
        "clitcpka-intvl",
        "srvtcpka-cnt",
        "srvtcpka-idle",
        "srvtcpka-intvl",
        "rate-limit sessions",
        "dispatch",
        "server-template",
        "monitor fail",
        "option http-restrict-req-hdr-names",
    ],
    "dflb",
)
