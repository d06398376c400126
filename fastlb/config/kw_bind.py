"""``bind``, ``stats socket``, ``server`` and ``default-server``, with their option tables."""

from __future__ import annotations

import dataclasses
import difflib
import grp
import pwd
from collections.abc import Callable
from typing import Any

from .addresses import AddressError, parse_address
from .context import Ctx, KeywordError
from .keywords import keyword
from .model import Address, Bind, Server, StatsSocket

# ---------------------------------------------------------------------------------------------
# bind options: name -> (field or None when ignored, kind). Kinds: flag, int, str, time, octal,
# user, group, flag-off (sets the field False), ignore0 (flag ignored), ignore1 (1 arg ignored).
BIND_OPTIONS: dict[str, tuple[str | None, str]] = {
    "name": ("name", "str"),
    "id": ("id", "int"),
    "maxconn": ("maxconn", "lint"),
    "backlog": ("backlog", "lint"),
    "v4v6": ("v4v6", "flag"),
    "v6only": ("v6only", "flag"),
    "defer-accept": ("defer_accept", "flag"),
    "accept-proxy": ("accept_proxy", "flag"),
    "transparent": ("transparent", "flag"),
    "tfo": ("tfo", "flag"),
    "noreuseport": ("reuseport", "flag-off"),
    "interface": ("interface", "str"),
    "namespace": ("namespace", "str"),
    "mss": ("mss", "str"),
    "nice": ("nice", "int"),
    "mode": ("mode", "octal"),
    "uid": ("uid", "int"),
    "gid": ("gid", "int"),
    "user": ("user", "user"),
    "group": ("group", "group"),
    "level": ("level", "level"),
    "ssl": ("ssl", "flag"),
    "alpn": ("alpn", "str"),
    "proto": ("proto", "str"),
    "expose-fd": ("expose_fd_listeners", "expose"),
    "severity-output": (None, "ignore1"),
    "process": (None, "ignore1"),
    "thread": (None, "ignore1"),
    "shards": (None, "ignore1"),
    "tcp-ut": (None, "ignore1"),
}
# TLS and other options fastlb has no implementation for yet: accepted with a warning.
for _name in (
    "ca-file",
    "ca-ignore-err",
    "ca-sign-file",
    "ca-sign-pass",
    "ca-verify-file",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "crt-ignore-err",
    "crt-list",
    "curves",
    "ecdhe",
    "npn",
    "ssl-max-ver",
    "ssl-min-ver",
    "tls-ticket-keys",
    "verify",
    "quic-cc-algo",
):
    BIND_OPTIONS[_name] = (None, "ignore1")
for _name in (
    "accept-netscaler-cip",
    "allow-0rtt",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "generate-certificates",
    "no-ca-names",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-tls-tickets",
    "prefer-client-ciphers",
    "strict-sni",
    "quic-force-retry",
):
    BIND_OPTIONS[_name] = (None, "ignore0")
BIND_OPTIONS["accept-netscaler-cip"] = (None, "ignore1")


def _apply_options(
    ctx: Ctx, table: dict[str, tuple[str | None, str]], words: list[str], unknown: Callable[[str], str]
) -> tuple[dict[str, Any], list[str]]:
    """Parse ``words`` as options of ``table``; returns (field values, ignored option names)."""
    values: dict[str, Any] = {}
    ignored: list[str] = []
    i = 0
    while i < len(words):
        opt = words[i]
        spec = table.get(opt)
        if spec is None:
            raise KeywordError(unknown(opt))
        field, kind = spec
        takes_arg = kind not in ("flag", "flag-off", "ignore0")
        if takes_arg and i + 1 >= len(words):
            raise KeywordError(f"'{opt}' : missing value.")
        arg = words[i + 1] if takes_arg else ""
        if kind == "flag":
            values[field] = True
        elif kind == "flag-off":
            values[field] = False
        elif kind in ("ignore0", "ignore1"):
            ignored.append(opt)
        elif kind == "str":
            values[field] = arg
        elif kind == "int":
            values[field] = ctx.integer(arg, opt)
        elif kind == "lint":
            values[field] = ctx.lenient_int(arg, opt)
        elif kind == "octal":
            try:
                values[field] = int(arg, 8)
            except ValueError:
                raise KeywordError(f"'{opt}' : invalid mode '{arg}' (octal expected).") from None
        elif kind == "user":
            values[field] = arg
            try:
                values["uid"] = pwd.getpwnam(arg).pw_uid
            except KeyError:
                ctx.warn(f"'{opt}' : unknown user '{arg}' on this machine.")
        elif kind == "group":
            values[field] = arg
            try:
                values["gid"] = grp.getgrnam(arg).gr_gid
            except KeyError:
                ctx.warn(f"'{opt}' : unknown group '{arg}' on this machine.")
        elif kind == "level":
            if arg not in ("user", "operator", "admin"):
                raise KeywordError(f"''level' only supports 'user', 'operator', and 'admin' (got '{arg}')'")
            values[field] = arg
        elif kind == "expose":
            if arg != "listeners":
                raise KeywordError(f"'expose-fd' only supports 'listeners' (got '{arg}')")
            values[field] = True
        i += 2 if takes_arg else 1
    return values, ignored


def _unknown(prefix: str, word: str, names: list[str]) -> str:
    """HAProxy's "unknown keyword" message for an option, with a suggestion when one is close."""
    best = difflib.get_close_matches(word, sorted(names), n=1, cutoff=0.75)
    hint = f"; did you mean '{best[0]}' maybe ?" if best else "."
    return f"{prefix}unknown keyword '{word}'{hint}"


def parse_stats_socket(ctx: Ctx, addr_text: str, options: list[str]) -> StatsSocket:
    try:
        address = parse_address(addr_text, "stats")
    except AddressError as exc:
        raise KeywordError(f"'stats socket' : {exc}") from None
    try:
        values, ignored = _apply_options(
            ctx, BIND_OPTIONS, options, lambda o: _unknown("", o, list(BIND_OPTIONS))
        )
    except KeywordError as exc:
        raise KeywordError(f"'stats socket' : {exc}") from None
    if ignored:
        ctx.warn(f"'stats socket' : option(s) {', '.join(ignored)} not supported by fastlb yet, ignored.")
    allowed = {f.name for f in dataclasses.fields(StatsSocket)}
    kept = {k: v for k, v in values.items() if k in allowed}
    return StatsSocket(address=address, file=ctx.file, line=ctx.line, **kept)


def make_binds(ctx: Ctx, addr_list: str, options: list[str], legacy: bool = False) -> list[Bind]:
    addresses: list[Address] = []
    for part in addr_list.split(","):
        try:
            addresses.append(parse_address(part, "bind"))
        except AddressError as exc:
            raise KeywordError(f"'bind' : {exc}") from None
    values, ignored = _apply_options(
        ctx,
        BIND_OPTIONS,
        options,
        lambda o: _unknown(f"'bind {addr_list}' in section '{ctx.section}': ", o, list(BIND_OPTIONS)),
    )
    if ignored:
        ctx.warn(f"'bind {addr_list}' : option(s) {', '.join(ignored)} not supported by fastlb yet, ignored.")
    values.pop("expose_fd_listeners", None)
    return [
        Bind(address=a, file=ctx.file, line=ctx.line, ignored_options=tuple(ignored), legacy=legacy, **values)
        for a in addresses
    ]


@keyword(
    "bind",
    "fl",
    "<addr>[,<addr>...] [options]",
    "listening address(es) of a frontend",
    capability_error=False,
)
def kw_bind(ctx: Ctx, words: list[str]) -> None:
    if len(words) < 2:
        raise KeywordError(
            "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments."
        )
    ctx.px.lst("binds").extend(make_binds(ctx, words[1], words[2:]))


# ---------------------------------------------------------------------------------------------
# server options: name -> (Server field, kind)
SERVER_OPTIONS: dict[str, tuple[str | None, str]] = {
    "check": ("check", "flag"),
    "no-check": ("check", "flag-off"),
    "inter": ("inter", "time"),
    "fastinter": ("fastinter", "time"),
    "downinter": ("downinter", "time"),
    "rise": ("rise", "pint"),
    "fall": ("fall", "pint"),
    "weight": ("weight", "weight"),
    "backup": ("backup", "flag"),
    "no-backup": ("backup", "flag-off"),
    "cookie": ("cookie", "str"),
    "maxconn": ("maxconn", "lint"),
    "minconn": ("minconn", "lint"),
    "maxqueue": ("maxqueue", "lint"),
    "slowstart": ("slowstart", "time"),
    "disabled": ("disabled", "flag"),
    "enabled": ("disabled", "flag-off"),
    "send-proxy": ("send_proxy", "flag"),
    "no-send-proxy": ("send_proxy", "flag-off"),
    "send-proxy-v2": ("send_proxy_v2", "flag"),
    "no-send-proxy-v2": ("send_proxy_v2", "flag-off"),
    "check-send-proxy": ("check_send_proxy", "flag"),
    "agent-check": ("agent_check", "flag"),
    "no-agent-check": ("agent_check", "flag-off"),
    "agent-port": ("agent_port", "port"),
    "agent-addr": ("agent_addr", "str"),
    "agent-inter": ("agent_inter", "time"),
    "agent-send": ("agent_send", "str"),
    "addr": ("check_addr", "str"),
    "port": ("check_port", "port"),
    "id": ("id", "pint"),
    "observe": ("observe", "observe"),
    "on-error": ("on_error", "on-error"),
    "on-marked-down": ("on_marked_down", "str"),
    "on-marked-up": ("on_marked_up", "str"),
    "error-limit": ("error_limit", "pint"),
    "redir": ("redir", "str"),
    "track": ("track", "str"),
    "source": ("source", "str"),
    "non-stick": ("non_stick", "flag"),
    "stick": ("non_stick", "flag-off"),
    "ssl": ("ssl", "flag"),
    "no-ssl": ("ssl", "flag-off"),
    "resolvers": ("resolvers", "str"),
    "init-addr": ("init_addr", "str"),
}
for _name in (
    "alpn",
    "ca-file",
    "check-alpn",
    "check-proto",
    "check-sni",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "log-proto",
    "max-reuse",
    "namespace",
    "npn",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "proto",
    "resolve-opts",
    "resolve-prefer",
    "resolve-net",
    "set-proxy-v2-tlv-fmt",
    "shard",
    "sni",
    "ssl-max-ver",
    "ssl-min-ver",
    "socks4",
    "tcp-ut",
    "verify",
    "verifyhost",
    "ws",
    "curves",
    "sigalgs",
    "client-sigalgs",
):
    SERVER_OPTIONS[_name] = (None, "ignore1")
for _name in (
    "allow-0rtt",
    "check-ssl",
    "check-via-socks4",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "no-check-ssl",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-tls-tickets",
    "no-verifyhost",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "ssl-reuse",
    "no-ssl-reuse",
    "tfo",
    "tls-tickets",
):
    SERVER_OPTIONS[_name] = (None, "ignore0")
_SERVER_FIELDS = {f.name: f.default for f in dataclasses.fields(Server)}


def _server_options(ctx: Ctx, who: str, words: list[str]) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    ignored: list[str] = []
    i = 0
    while i < len(words):
        opt = words[i]
        spec = SERVER_OPTIONS.get(opt)
        if spec is None:
            raise KeywordError(_unknown(f"'{who}' : ", opt, list(SERVER_OPTIONS)), style="bracket")
        field, kind = spec
        takes_arg = kind not in ("flag", "flag-off", "ignore0")
        if takes_arg and i + 1 >= len(words):
            raise KeywordError(f"'{who}' : '{opt}' expects an argument.", style="bracket")
        arg = words[i + 1] if takes_arg else ""
        try:
            if kind == "flag":
                values[field] = True
            elif kind == "flag-off":
                values[field] = False
            elif kind in ("ignore0", "ignore1"):
                ignored.append(opt)
            elif kind == "str":
                values[field] = arg
            elif kind == "time":
                values[field] = ctx.time(arg, opt)
                if values[field] == 0 and opt in ("inter", "fastinter", "downinter"):
                    raise KeywordError(f"invalid value 0 for argument '{opt}'")
            elif kind == "pint":
                values[field] = ctx.integer(arg, opt, minimum=1)
            elif kind == "lint":
                values[field] = ctx.lenient_int(arg, opt)
            elif kind == "weight":
                w = ctx.lenient_int(arg, opt)
                if not 0 <= w <= 256:
                    raise KeywordError(
                        f"weight of server {who.split('/')[-1]} is not within 0 and 256 ({w})."
                    )
                values[field] = w
            elif kind == "port":
                values[field] = ctx.integer(arg, opt, minimum=1, maximum=65535)
            elif kind == "observe":
                if arg not in ("none", "layer4", "layer7"):
                    raise KeywordError(f"'observe' expects one of 'none', 'layer4', 'layer7' but got '{arg}'")
                values[field] = arg
            elif kind == "on-error":
                if arg not in ("fastinter", "fail-check", "sudden-death", "mark-down"):
                    raise KeywordError(
                        "'on-error' expects one of 'fastinter', 'fail-check', "
                        f"'sudden-death' or 'mark-down' but got '{arg}'"
                    )
                values[field] = arg
        except KeywordError as exc:
            raise KeywordError(f"'{who}' : {exc}", style="bracket") from None
        i += 2 if takes_arg else 1
    return values, ignored


@keyword("server", "lb", "<name> <addr>[:<port>] [options]", "a server of the backend", capability_error=True)
def kw_server(ctx: Ctx, words: list[str]) -> None:
    px = ctx.px
    if len(words) < 3:
        raise KeywordError("'server' expects <name> and <addr>[:<port>] as arguments.", style="bracket")
    name = words[1]
    who = f"server {px.name}/{name}"
    if words[2] in SERVER_OPTIONS:
        raise KeywordError("'server' expects <name> and <addr>[:<port>] as arguments.", style="bracket")
    try:
        address = parse_address(words[2], "server")
    except AddressError as exc:
        raise KeywordError(f"'{who}' : {exc}", style="bracket") from None
    values = dict(px.defsrv)
    opts, ignored = _server_options(ctx, who, words[3:])
    values.update(opts)
    if ignored:
        ctx.warn(
            f"'{who}' : option(s) {', '.join(ignored)} not supported by fastlb yet, ignored.", style="bracket"
        )
    if values.get("track") and values.get("check"):
        pass  # HAProxy rejects check+track only when the tracked server checks too; left to the runtime
    prev = px.server_lines.get(name)
    if prev is not None:
        ctx.error(
            f"backend '{px.name}', another server named '{name}' was already defined at line {prev}, "
            "please use distinct names."
        )
    else:
        px.server_lines[name] = ctx.line
    values = {k: v for k, v in values.items() if k in _SERVER_FIELDS}
    values["ignored_options"] = tuple(ignored)
    px.lst("servers").append(Server(name=name, address=address, file=ctx.file, line=ctx.line, **values))


@keyword(
    "default-server", "dlb", "[options]", "default options of the servers that follow", capability_error=True
)
def kw_default_server(ctx: Ctx, words: list[str]) -> None:
    px = ctx.px
    who = f"default-server {px.name}" if px.name else "default-server"
    opts, ignored = _server_options(ctx, who, words[1:])
    px.defsrv.update(opts)
    if ignored:
        ctx.warn(
            f"'{who}' : option(s) {', '.join(ignored)} not supported by fastlb yet, ignored.", style="bracket"
        )
