"""Proxy keywords with conditions and rules: acl, use_backend, http-request/-response, tcp-request,
redirect, stats, errorfile, health-check rules and captures."""

from __future__ import annotations

from .acl import AclError, parse_acl_expression, parse_condition
from .context import Ctx, KeywordError
from .keywords import keyword
from .model import Capture, CheckRule, Condition, HttpRule, UseBackend, UseServer

#: Status codes HAProxy 2.6 can have an errorfile for.
ERRORFILE_CODES = (200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504)


def split_condition(words: list[str]) -> tuple[list[str], list[str]]:
    """Split a rule's words at its ``if``/``unless``: (arguments, condition words)."""
    for i, w in enumerate(words):
        if w in ("if", "unless"):
            return words[:i], words[i:]
    return words, []


def condition(ctx: Ctx, cond_words: list[str], what: str) -> Condition | None:
    if not cond_words:
        return None
    warnings: list[str] = []
    try:
        cond = parse_condition(cond_words, ctx.px.acl_names, ctx.file, ctx.line, warnings)
    except AclError as exc:
        raise KeywordError(f"error detected while parsing {what} : {exc}") from None
    for w in warnings:
        ctx.warn(w)
    if not cond.terms:
        ctx.warn(f"empty condition after '{cond_words[0]}' in {what}")
    return cond


@keyword(
    "acl",
    "dflb",
    "<name> <fetch>[(<args>)] [flags] [operator] <value>...",
    "declare an ACL",
    named_defaults_only=True,
)
def kw_acl(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3:
        raise KeywordError("'acl' expects <name> and <criterion> [<values>...] as arguments.")
    name = words[1]
    bad = [c for c in name if not (c.isalnum() or c in "-_.:")]
    if bad:
        raise KeywordError(f"character '{bad[0]}' is not permitted in acl name '{name}'.")
    warnings: list[str] = []
    try:
        acl = parse_acl_expression(name, words[2:], ctx.file, ctx.line, warnings)
    except AclError as exc:
        raise KeywordError(f"error detected while parsing ACL '{name}' : {exc}") from None
    for w in warnings:
        ctx.warn(w)
    ctx.px.lst("acls").append(acl)
    ctx.px.acl_names.add(name)


@keyword("use_backend", "fl", "<backend> [if|unless <condition>]", "switch to a backend")
def kw_use_backend(ctx: Ctx, words: list[str]) -> None:
    args, cond_words = split_condition(words[1:])
    if len(args) != 1:
        raise KeywordError("'use_backend' requires a backend name.")
    cond = condition(ctx, cond_words, "switching rule")
    name = args[0]
    ctx.px.lst("use_backends").append(
        UseBackend(backend=name, condition=cond, dynamic="%[" in name, file=ctx.file, line=ctx.line)
    )
    ctx.px.seen_use_backend = True


@keyword("default_backend", "dfl", "<backend>", "backend used when no use_backend matches")
def kw_default_backend(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError("'default_backend' expects a backend name.")
    ctx.no_more(words, 2)
    ctx.px.f["default_backend"] = words[1]
    ctx.px.f["default_backend_where"] = (ctx.file, ctx.line)


@keyword("use-server", "lb", "<server> [if|unless <condition>]", "force a server")
def kw_use_server(ctx: Ctx, words: list[str]) -> None:
    args, cond_words = split_condition(words[1:])
    if len(args) != 1:
        raise KeywordError("'use-server' requires a server name.")
    cond = condition(ctx, cond_words, "'use-server' rule")
    ctx.px.lst("use_servers").append(UseServer(args[0], cond, ctx.file, ctx.line))


def _persist_rule(name: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        args, cond_words = split_condition(words[1:])
        if args or not cond_words:
            raise KeywordError(f"'{name}' requires either 'if' or 'unless' followed by a condition.")
        cond = condition(ctx, cond_words, f"'{name}' rule")
        ctx.px.lst("persist_rules").append(HttpRule(action=name, condition=cond, file=ctx.file, line=ctx.line))

    return handler


keyword("force-persist", "lb", "if|unless <condition>",
        "use the persistence cookie's server even when it is down")(_persist_rule("force-persist"))
keyword("ignore-persist", "lb", "if|unless <condition>",
        "balance the request, ignoring its persistence cookie")(_persist_rule("ignore-persist"))


# --- rules -----------------------------------------------------------------------------------

HTTP_REQUEST_ACTIONS = (
    "wait-for-handshake",
    "set-log-level",
    "set-nice",
    "use-service",
    "sc-inc-gpc",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt",
    "sc-set-gpt0",
    "send-spoe-group",
    "do-resolve",
    "cache-use",
    "add-acl",
    "add-header",
    "allow",
    "auth",
    "capture",
    "del-acl",
    "del-header",
    "del-map",
    "deny",
    "disable-l7-retry",
    "early-hint",
    "normalize-uri",
    "redirect",
    "reject",
    "replace-header",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "replace-value",
    "return",
    "set-header",
    "set-map",
    "set-method",
    "set-path",
    "set-pathq",
    "set-query",
    "set-uri",
    "strict-mode",
    "tarpit",
    "track-sc",
    "set-timeout",
    "wait-for-body",
    "set-var-fmt",
    "set-var",
    "unset-var",
    "set-dst",
    "set-dst-port",
    "set-mark",
    "set-src",
    "set-src-port",
    "set-tos",
    "silent-drop",
    "set-priority-class",
    "set-priority-offset",
)
HTTP_RESPONSE_ACTIONS = (
    "add-acl",
    "add-header",
    "allow",
    "cache-store",
    "capture",
    "del-acl",
    "del-header",
    "del-map",
    "deny",
    "redirect",
    "replace-header",
    "replace-value",
    "return",
    "sc-inc-gpc",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-set-gpt",
    "sc-set-gpt0",
    "send-spoe-group",
    "set-header",
    "set-log-level",
    "set-map",
    "set-mark",
    "set-nice",
    "set-status",
    "set-tos",
    "set-var",
    "set-var-fmt",
    "silent-drop",
    "strict-mode",
    "track-sc",
    "unset-var",
    "wait-for-body",
)
HTTP_AFTER_RESPONSE_ACTIONS = (
    "add-header",
    "allow",
    "capture",
    "del-header",
    "replace-header",
    "replace-value",
    "set-header",
    "set-status",
    "set-var",
    "set-var-fmt",
    "strict-mode",
    "unset-var",
    "set-log-level",
    "set-map",
    "del-map",
    "del-acl",
    "add-acl",
    "sc-inc-gpc",
    "sc-set-gpt",
)
#: Actions with a parenthesised argument (``set-var(txn.x)``, ``track-sc0``...) by prefix.
_PAREN_ACTIONS = (
    "set-var",
    "set-var-fmt",
    "unset-var",
    "add-acl",
    "del-acl",
    "del-map",
    "set-map",
    "do-resolve",
    "sc-inc-gpc",
    "sc-set-gpt",
)
#: Actions implemented by fastlb's HTTP engine; the others are accepted with a warning.
IMPLEMENTED_HTTP_ACTIONS = frozenset(
    {
        "allow",
        "deny",
        "tarpit",
        "auth",
        "redirect",
        "return",
        "add-header",
        "set-header",
        "del-header",
        "replace-header",
        "replace-value",
        "set-path",
        "set-pathq",
        "set-uri",
        "set-query",
        "set-method",
        "replace-path",
        "replace-pathq",
        "replace-uri",
        "set-status",
        "set-var",
        "set-var-fmt",
        "unset-var",
        "set-log-level",
        "capture",
        "reject",
        "silent-drop",
        "set-timeout",
        "wait-for-body",
    }
)


def _action_name(word: str) -> str:
    base = word.split("(", 1)[0]
    if base.startswith("track-sc"):
        return "track-sc"
    if base in ("sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt0") or base.startswith(("sc-inc-gpc", "sc-set-gpt")):
        return base if base in HTTP_REQUEST_ACTIONS else base.rstrip("0123456789")
    return base


def _check_action_args(rule: str, action: str, args: list[str]) -> None:
    """The argument checks HAProxy makes for the common actions, with its wording."""
    prefix = f"error detected in proxy while parsing '{rule} {action}' rule : "
    if action in ("deny", "tarpit", "return"):
        i = 0
        while i < len(args):
            if args[i] in ("deny_status", "status"):
                if i + 1 >= len(args) or not args[i + 1].isdigit():
                    raise KeywordError(prefix + f"missing status code after '{args[i]}'.")
                code = int(args[i + 1])
                if not 200 <= code <= 599:
                    raise KeywordError(prefix + f"Unexpected status code '{code}'.")
                i += 2
            else:
                i += 1
    elif action in ("set-header", "add-header", "replace-path", "replace-pathq", "replace-uri"):
        if len(args) != 2:
            raise KeywordError(prefix + "expects exactly 2 arguments.")
    elif action in ("replace-header", "replace-value"):
        if len(args) != 3:
            raise KeywordError(prefix + "expects exactly 3 arguments.")
    elif action in ("del-header", "set-path", "set-pathq", "set-uri", "set-query", "set-method"):
        if len(args) < 1:
            raise KeywordError(prefix + "expects exactly 1 argument.")
    elif action == "set-status":
        if not args or not args[0].isdigit() or not 100 <= int(args[0]) <= 999:
            raise KeywordError(prefix + "expects an integer status code between 100 and 999.")
    elif action == "redirect":
        _check_redirect(args, prefix)
    elif action == "use-service":
        # fastlb has one service (no Lua): any other name is unknown, as in HAProxy without lua-load
        if not args:
            raise KeywordError(prefix + "'use-service' expects a service name.")
        if args[0] != "prometheus-exporter":
            raise KeywordError(prefix + f"'{args[0]}' unknown service name.")


_REDIRECT_OPTIONS = (
    "code",
    "prefix",
    "location",
    "scheme",
    "set-cookie",
    "clear-cookie",
    "drop-query",
    "ignore-empty",
    "append-slash",
)


def _check_redirect(args: list[str], prefix: str) -> None:
    i = 0
    kind = None
    while i < len(args):
        w = args[i]
        if w in ("prefix", "location", "scheme"):
            if i + 1 >= len(args):
                raise KeywordError(prefix + f"'{w}' expects an argument.")
            kind = w
            i += 2
        elif w == "code":
            if i + 1 >= len(args) or args[i + 1] not in ("301", "302", "303", "307", "308"):
                raise KeywordError(prefix + "'code' expects a 3xx status among 301, 302, 303, 307 and 308.")
            i += 2
        elif w in ("set-cookie", "clear-cookie"):
            i += 2
        elif w in ("drop-query", "ignore-empty", "append-slash"):
            i += 1
        else:
            raise KeywordError(
                prefix + "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', "
                "'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' "
                f"(was '{w}')."
            )
    if kind is None:
        raise KeywordError(prefix + "expects 'prefix', 'location' or 'scheme'.")


def _http_rule(rule: str, actions: tuple[str, ...], field: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        px = ctx.px
        if len(words) < 2:
            raise KeywordError(f"'{rule}' expects an action.")
        action = _action_name(words[1])
        if action not in actions:
            listed = ", ".join(f"'{a}{'(*)' if a in _PAREN_ACTIONS else ''}'" for a in actions)
            raise KeywordError(f"'{rule}' expects {listed}, but got '{words[1]}'.", style="directive")
        args, cond_words = split_condition(words[2:])
        _check_action_args(rule, action, args)
        if rule == "http-request" and px.seen_use_backend:
            ctx.warn(
                "a 'http-request' rule placed after a 'use_backend' rule will still be processed before."
            )
        cond = condition(ctx, cond_words, f"an '{rule} {action}' condition")
        if action not in IMPLEMENTED_HTTP_ACTIONS and action != "use-service":
            ctx.warn(f"'{rule} {action}' is not supported by fastlb yet, ignored.")
        px.lst(field).append(
            HttpRule(action=words[1], args=tuple(args), condition=cond, file=ctx.file, line=ctx.line)
        )

    return handler


keyword(
    "http-request",
    "dflb",
    "<action> [options...] [if|unless <condition>]",
    "HTTP request rules",
    named_defaults_only=True,
)(_http_rule("http-request", HTTP_REQUEST_ACTIONS, "http_request_rules"))
keyword(
    "http-response",
    "dflb",
    "<action> [options...] [if|unless <condition>]",
    "HTTP response rules",
    named_defaults_only=True,
)(_http_rule("http-response", HTTP_RESPONSE_ACTIONS, "http_response_rules"))
keyword(
    "http-after-response",
    "dflb",
    "<action> [options...] [if|unless <condition>]",
    "rules applied to every response, including HAProxy's own",
    named_defaults_only=True,
)(_http_rule("http-after-response", HTTP_AFTER_RESPONSE_ACTIONS, "http_after_response_rules"))

TCP_REQUEST_ACTIONS = {
    "connection": (
        "accept",
        "reject",
        "expect-proxy",
        "expect-netscaler-cip",
        "capture",
        "track-sc",
        "sc-inc-gpc",
        "sc-set-gpt",
        "set-var",
        "set-var-fmt",
        "unset-var",
        "set-src",
        "set-src-port",
        "set-dst",
        "set-dst-port",
        "set-mark",
        "set-tos",
        "silent-drop",
    ),
    "session": (
        "accept",
        "reject",
        "track-sc",
        "sc-inc-gpc",
        "sc-set-gpt",
        "set-var",
        "set-var-fmt",
        "unset-var",
        "set-mark",
        "set-tos",
        "silent-drop",
        "attach-srv",
    ),
    "content": (
        "accept",
        "reject",
        "capture",
        "do-resolve",
        "send-spoe-group",
        "set-log-level",
        "set-nice",
        "set-priority-class",
        "set-priority-offset",
        "set-var",
        "set-var-fmt",
        "unset-var",
        "switch-mode",
        "track-sc",
        "sc-inc-gpc",
        "sc-set-gpt",
        "use-service",
        "set-dst",
        "set-dst-port",
        "set-src",
        "set-src-port",
        "set-mark",
        "set-tos",
        "silent-drop",
    ),
}


def _tcp_rule(direction: str):
    field = f"tcp_{direction}_rules"

    def handler(ctx: Ctx, words: list[str]) -> None:
        px = ctx.px
        layer = words[1]
        if layer == "inspect-delay":
            if len(words) < 3:
                raise KeywordError(f"'tcp-{direction} inspect-delay' expects a time value.")
            if direction == "request":
                px.f["tcp_request_inspect_delay"] = ctx.time(words[2], f"tcp-{direction} inspect-delay")
            return
        layers = (
            TCP_REQUEST_ACTIONS
            if direction == "request"
            else {"content": ("accept", "reject", "close", "set-var", "unset-var")}
        )
        if len(words) < 3:
            raise KeywordError(f"'tcp-{direction} {layer}' expects an action.")
        action = _action_name(words[2])
        if action not in layers[layer]:
            raise KeywordError(
                f"'tcp-{direction} {layer}' expects {', '.join(repr(a) for a in layers[layer])}, "
                f"but got '{words[2]}'."
            )
        args, cond_words = split_condition(words[3:])
        cond = condition(ctx, cond_words, f"'tcp-{direction} {layer}' condition")
        if action not in ("accept", "reject", "silent-drop", "expect-proxy", "close"):
            ctx.warn(f"'tcp-{direction} {layer} {action}' is not supported by fastlb yet, ignored.")
        px.lst(field).append(
            HttpRule(
                action=f"{layer} {words[2]}", args=tuple(args), condition=cond, file=ctx.file, line=ctx.line
            )
        )

    return handler


for _layer in ("connection", "session", "content", "inspect-delay"):
    keyword(
        f"tcp-request {_layer}",
        "dflb" if _layer in ("content", "inspect-delay") else "dfl",
        "<action> [if|unless <condition>]" if _layer != "inspect-delay" else "<time>",
        f"layer-4 request rules ({_layer})",
        named_defaults_only=True,
    )(_tcp_rule("request"))
for _layer in ("content", "inspect-delay"):
    keyword(
        f"tcp-response {_layer}",
        "dlb",
        "<action> [if|unless <condition>]",
        f"layer-4 response rules ({_layer})",
        named_defaults_only=True,
    )(_tcp_rule("response"))


@keyword(
    "redirect",
    "flb",
    "location|prefix|scheme <to> [code <n>] [options] [if|unless <cond>]",
    "HTTP redirection",
)
def kw_redirect(ctx: Ctx, words: list[str]) -> None:
    args, cond_words = split_condition(words[1:])
    _check_action_args("redirect", "redirect", args)
    cond = condition(ctx, cond_words, "'redirect' condition")
    kind = next(a for a in args if a in ("prefix", "location", "scheme"))
    ctx.px.lst("redirects").append(
        HttpRule(action=kind, args=tuple(args), condition=cond, file=ctx.file, line=ctx.line)
    )


# --- errorfile -------------------------------------------------------------------------------


@keyword("errorfile", "dflb", "<code> <file>", "serve this file (a full HTTP response) for status <code>")
def kw_errorfile(ctx: Ctx, words: list[str]) -> None:
    if len(words) != 3:
        raise KeywordError("errorfile : <code> and <file> are expected.")
    if not words[1].isdigit() or int(words[1]) not in ERRORFILE_CODES:
        raise KeywordError(f"errorfile : status code '{words[1]}' not handled.")
    path = words[2]
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError:
        raise KeywordError(f"errorfile : error opening file '{path}'.") from None
    if content and not content.startswith(b"HTTP/"):
        raise KeywordError(f"errorfile : '{path}': unable to parse headers (error offset: 0)")
    if not content:
        ctx.warn(f"errorfile : ignoring empty error message file '{path}'.")
    ctx.px.sub("errorfiles")[int(words[1])] = content


def _errorloc(ctx: Ctx, words: list[str]) -> None:
    if len(words) != 3:
        raise KeywordError(f"{words[0]} : <code> and <url> are expected.")
    if not words[1].isdigit() or int(words[1]) not in ERRORFILE_CODES:
        raise KeywordError(f"{words[0]} : status code '{words[1]}' not handled.")
    ctx.px.sub("errorlocs")[int(words[1])] = (303 if words[0] == "errorloc303" else 302, words[2])


for _name in ("errorloc", "errorloc302", "errorloc303"):
    keyword(_name, "dflb", "<code> <url>", "redirect to <url> instead of returning status <code>")(_errorloc)


@keyword("errorfiles", "dflb", "<http-errors section> [<code>...]", "error files from an http-errors section")
def kw_errorfiles(ctx: Ctx, words: list[str]) -> None:
    ctx.warn("'errorfiles' : http-errors sections are not supported by fastlb yet, ignored.")


# --- stats -----------------------------------------------------------------------------------


def _stats(ctx: Ctx) -> dict:
    st = ctx.px.sub("stats")
    return st


@keyword("stats enable", "dflb", "", "enable the statistics page")
def kw_stats_enable(ctx: Ctx, words: list[str]) -> None:
    _stats(ctx)["enabled"] = True


@keyword("stats uri", "dflb", "<prefix>", "statistics page URI prefix")
def kw_stats_uri(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3:
        raise KeywordError("'uri' needs an URI prefix.")
    st = _stats(ctx)
    st["enabled"] = True
    st["uri"] = words[2]


@keyword("stats realm", "dflb", "<realm>", "HTTP authentication realm of the statistics page")
def kw_stats_realm(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3:
        raise KeywordError("'realm' needs an realm name.")
    st = _stats(ctx)
    st["enabled"] = True
    st["realm"] = " ".join(words[2:])


@keyword("stats auth", "dflb", "<user>:<password>", "credentials for the statistics page")
def kw_stats_auth(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3 or ":" not in words[2]:
        raise KeywordError("'auth' needs a user:password account.")
    user, password = words[2].split(":", 1)
    st = _stats(ctx)
    st["enabled"] = True
    st.setdefault("auths", []).append((user, password))


@keyword("stats refresh", "dflb", "<time>", "auto-refresh interval of the statistics page")
def kw_stats_refresh(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3:
        raise KeywordError("'refresh' needs a positive interval in seconds.")
    st = _stats(ctx)
    st["enabled"] = True
    st["refresh_ms"] = ctx.time(words[2], "stats refresh")


@keyword("stats admin", "flb", "if|unless <condition>", "enable admin actions on the statistics page")
def kw_stats_admin(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 4 or words[2] not in ("if", "unless"):
        raise KeywordError("'stats admin' requires either 'if' or 'unless' followed by a condition.")
    st = _stats(ctx)
    st["enabled"] = True
    # evaluated by the engine on the page's requests, like an http-request condition
    st["admin"] = condition(ctx, words[2:], "'stats admin' condition")


def _stats_flag(field: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        st = _stats(ctx)
        st["enabled"] = True
        if field in ("show_node", "show_desc"):
            st[field] = " ".join(words[2:]) if len(words) > 2 else ""
        else:
            st[field] = True

    return handler


keyword("stats hide-version", "dflb", "", "do not show the version on the statistics page")(
    _stats_flag("hide_version")
)
keyword("stats show-legends", "dflb", "", "show legends on the statistics page")(_stats_flag("show_legends"))
keyword("stats show-node", "dflb", "[<name>]", "show the node name on the statistics page")(
    _stats_flag("show_node")
)
keyword("stats show-desc", "dflb", "[<text>]", "show a description on the statistics page")(
    _stats_flag("show_desc")
)


@keyword("stats scope", "dflb", "<proxy>|.", "limit the statistics page to these proxies")
def kw_stats_scope(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 3:
        raise KeywordError("'scope' needs a proxy name.")
    st = _stats(ctx)
    st["enabled"] = True
    st.setdefault("scopes", []).append(words[2])


@keyword(
    "stats http-request",
    "flb",
    "allow|deny|auth [realm <r>] [if|unless <cond>]",
    "access rules of the statistics page",
)
def kw_stats_http_request(ctx: Ctx, words: list[str]) -> None:
    ctx.warn("'stats http-request' is not supported by fastlb yet, ignored.")


# --- health-check rules and captures ---------------------------------------------------------


def _check_rule(kind: str, group: str):
    field = "http_check_rules" if group == "http-check" else "tcp_check_rules"

    def handler(ctx: Ctx, words: list[str]) -> None:
        px = ctx.px
        if kind == "disable-on-404":
            px.f["http_check_disable_on_404"] = True
        elif kind == "send-state":
            px.f["http_check_send_state"] = True
        elif kind == "expect" and len(words) < 4 and not (len(words) == 3 and words[2].startswith("!")):
            raise KeywordError(f"'{group} expect' expects a match method and a pattern.")
        px.lst(field).append(CheckRule(kind=kind, args=tuple(words[2:]), file=ctx.file, line=ctx.line))
        if group == "tcp-check" and px.f.get("check_type") is None:
            px.f["check_type"] = "tcp-check"

    return handler


for _kind in ("comment", "connect", "disable-on-404", "expect", "send", "send-state", "set-var", "unset-var"):
    keyword(f"http-check {_kind}", "dlb", "[<arguments>]", f"HTTP health check: {_kind}")(
        _check_rule(_kind, "http-check")
    )
for _kind in (
    "comment",
    "connect",
    "expect",
    "send",
    "send-lf",
    "send-binary",
    "send-binary-lf",
    "set-var",
    "unset-var",
):
    keyword(f"tcp-check {_kind}", "dlb", "[<arguments>]", f"TCP health check: {_kind}")(
        _check_rule(_kind, "tcp-check")
    )


def _capture(kind: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        args = words[2:] if kind == "cookie" else words[3:]
        if kind != "cookie" and (len(words) < 3 or words[2] != "header"):
            raise KeywordError(f"'capture {kind}' expects 'header' <name> 'len' <length>.")
        if len(args) != 3 or args[1] != "len":
            raise KeywordError(
                f"'capture {kind}{'' if kind == 'cookie' else ' header'}' expects <name> 'len' <length>."
            )
        length = ctx.integer(args[2], "capture len", minimum=1)
        ctx.px.lst("captures").append(Capture(kind=kind, name=args[0], length=length))  # type: ignore[arg-type]

    return handler


keyword("capture request", "fl", "header <name> len <n>", "log a request header")(_capture("request"))
keyword("capture response", "fl", "header <name> len <n>", "log a response header")(_capture("response"))
keyword("capture cookie", "fl", "<name> len <n>", "log a cookie")(_capture("cookie"))
