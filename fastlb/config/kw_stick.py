"""Stickiness keywords: ``stick-table`` and ``stick match|on|store-request|store-response``."""

from __future__ import annotations

from .acl import FETCHES, UNSUPPORTED_FETCHES, AclError, split_fetch
from .context import Ctx, KeywordError
from .keywords import keyword
from .kw_rules import condition, split_condition
from .model import StickRule, StickTableConf

TABLE_TYPES = ("ip", "ipv6", "integer", "string", "binary")
#: data types a table may store (HAProxy 2.6); only server_id (and server_key) serve stick rules
STORE_TYPES = frozenset((
    "server_id", "server_key", "server_name", "gpc", "gpc_rate", "gpc0", "gpc0_rate", "gpc1", "gpc1_rate",
    "gpt", "gpt0", "conn_cnt", "conn_cur", "conn_rate", "sess_cnt", "sess_rate", "http_req_cnt",
    "http_req_rate", "http_err_cnt", "http_err_rate", "http_fail_cnt", "http_fail_rate", "bytes_in_cnt",
    "bytes_in_rate", "bytes_out_cnt", "bytes_out_rate",
))
#: stick-table "len" upper bound (key bytes held in the shared segment)
MAX_KEY_LEN = 4096
#: stick-table "expire" upper bound: HAProxy's timer limit
MAX_EXPIRE_MS = 2147483647


@keyword(
    "stick-table",
    "flb",
    "type {ip|ipv6|integer|string [len <n>]|binary [len <n>]} size <n> [expire <t>] [nopurge] "
    "[peers <p>] [srvkey name|addr] [store <type>[,<type>]*]*",
    "table of client keys -> server for stick rules",
)
def kw_stick_table(ctx: Ctx, words: list[str]) -> None:
    px = ctx.px
    prev = px.f.get("stick_table")
    if prev is not None:
        raise KeywordError(
            f"stick-table name '{px.name}' conflicts with table declared in {px.kind} '{px.name}' at "
            f"{prev.file}:{prev.line}."
        )
    t: dict = {"stores": [], "file": ctx.file, "line": ctx.line}
    i = 1
    while i < len(words):
        w = words[i]
        arg = words[i + 1] if i + 1 < len(words) else None
        if w in ("type", "size", "expire", "peers", "srvkey", "store", "len") and arg is None:
            if w == "type":
                raise KeywordError("stick-table: missing type.")
            raise KeywordError(f"stick-table: missing argument after '{w}'.")
        if w == "type":
            if arg not in TABLE_TYPES:
                raise KeywordError(f"stick-table: unknown type '{arg}'.")
            t["type"] = arg
            i += 2
            if arg in ("string", "binary") and i < len(words) and words[i] == "len":
                if i + 1 >= len(words):
                    raise KeywordError("stick-table: missing argument after 'len'.")
                n = ctx.size(words[i + 1], "stick-table len")
                if n < 1 or n > MAX_KEY_LEN:
                    raise KeywordError(f"stick-table: invalid length '{words[i + 1]}'.")
                t["length"] = n
                i += 2
            continue
        if w == "size":
            try:
                t["size"] = ctx.size(arg, "size")
            except KeywordError:
                raise KeywordError(f"stick-table: unexpected character '{arg[:1]}' in argument of 'size'.") \
                    from None
        elif w == "expire":
            try:
                ms = ctx.time(arg, "expire")
            except KeywordError as exc:
                if "overflow" not in str(exc):
                    raise
                ms = MAX_EXPIRE_MS + 1
            if ms > MAX_EXPIRE_MS:
                raise KeywordError(
                    f"stick-table: timer overflow in argument <{arg}> to <expire>, maximum value is "
                    "2147483647 ms (~24.8 days)."
                )
            t["expire_ms"] = ms
        elif w == "nopurge":
            t["nopurge"] = True
            i += 1
            continue
        elif w == "peers":
            t["peers"] = arg
            ctx.warn(f"stick-table: 'peers {arg}' is not supported by fastlb yet, the table is not replicated.")
        elif w == "srvkey":
            if arg not in ("name", "addr"):
                raise KeywordError(f"stick-table: unknown srvkey '{arg}'.")
            t["srvkey"] = arg
        elif w == "store":
            for item in arg.split(","):
                base = item.split("(", 1)[0]
                if base not in STORE_TYPES:
                    raise KeywordError(f"stick-table: unknown store option '{item}'.")
                t["stores"].append(item)
        else:
            raise KeywordError(f"stick-table: unknown argument '{w}'.")
        i += 2
    if "type" not in t:
        raise KeywordError("stick-table: missing type.")
    if not t.get("size"):
        raise KeywordError("stick-table: missing size.")
    if t.get("nopurge") and not t.get("expire_ms"):
        ctx.warn("stick-table: 'nopurge' without 'expire': once full, the table takes no new entry.")
    t["stores"] = tuple(t["stores"])
    px.f["stick_table"] = StickTableConf(**t)


def _stick(kind: str):
    def handler(ctx: Ctx, words: list[str]) -> None:
        args, cond_words = split_condition(words[2:])
        if not args:
            raise KeywordError("'stick' expects a fetch method.")
        expr = args[0]
        try:
            fetch, fetch_args, converters = split_fetch(expr)
        except AclError as exc:
            raise KeywordError(f"'stick': {exc}") from None
        if fetch in UNSUPPORTED_FETCHES:
            raise KeywordError(f"'stick': fetch method '{fetch}' is a HAProxy fetch that fastlb does not support yet")
        if fetch not in FETCHES:
            raise KeywordError(f"'stick': unknown fetch method '{fetch}'")
        table = None
        rest = args[1:]
        while rest:
            if rest[0] != "table":
                raise KeywordError(f"'stick': unknown keyword '{rest[0]}'.")
            table = rest[1] if len(rest) > 1 else ""
            rest = rest[2:]
        cond = condition(ctx, cond_words, "sticking condition") if cond_words else None
        ctx.px.lst("stick_rules").append(
            StickRule(kind=kind, expr=expr, fetch=fetch, fetch_args=tuple(fetch_args),  # type: ignore[arg-type]
                      converters=tuple(converters), table=table, condition=cond, file=ctx.file, line=ctx.line)
        )

    return handler


for _kind, _help in (
    ("match", "send a request to the server a table entry names"),
    ("on", "stick match + stick store-request"),
    ("store-request", "record the request's key -> server once connected"),
    ("store-response", "record a key from the response -> server"),
):
    keyword(f"stick {_kind}", "lb", "<expr> [table <table>] [if|unless <condition>]", _help)(_stick(_kind))
