"""Sample expressions of log formats (``%[src]``, ``%[capture.req.hdr(0),lower]``).

HAProxy evaluates a log format's samples when the line is written, after the request and
response buffers are gone: ``haproxy -c`` refuses fetches that need headers ("may not be
reliably used here because it needs 'HTTP request headers'"). What is left are connection,
proxy and capture fetches; this module compiles those it supports into Python expressions over
the log fields (formats.py) and refuses every other one at load time with HAProxy's wording
(unknown fetch or converter, headers not available) or, for a fetch or converter HAProxy has and
fastlb does not evaluate in logs, a message that says so. Nothing prints ``-`` silently.

Supported fetches: src, src_port, fe_name, be_name, srv_name, status, method, capture.req.method,
capture.req.uri, capture.req.ver, capture.req.hdr(<n>), capture.res.hdr(<n>), unique-id,
hostname, env(<name>), str(<text>), int(<n>), date([<offset>]), uuid, always_true, always_false.
Converters: lower, upper, length, hex, base64, ipmask(<v4 mask>[,<v6 mask>]).
"""
from __future__ import annotations

import base64
import ipaddress
import os
import uuid
from collections.abc import Callable

from ..config.acl import FETCHES, UNSUPPORTED_FETCHES, AclError, split_fetch


class SampleError(ValueError):
    """A sample expression a log format cannot use; the message is HAProxy's where it has one."""


def _arg(args: tuple[str, ...], i: int, default: str | None = None) -> str | None:
    return args[i] if len(args) > i else default


def _int_arg(args: tuple[str, ...], i: int, default: int, what: str) -> int:
    text = _arg(args, i)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise SampleError(f"{what}: invalid integer argument '{text}'") from None


#: fetch -> (output kind, builder(args) -> Python expression over the log fields ``f``).
FETCH_EXPR: dict[str, tuple[str, Callable[[tuple[str, ...]], str]]] = {
    "src": ("ip", lambda a: "_sa(f['client'])[0]"),
    "src_port": ("num", lambda a: "_sa(f['client'])[1]"),
    "fe_name": ("str", lambda a: "f['frontend']"),
    "be_name": ("str", lambda a: "f['backend']"),
    "srv_name": ("str", lambda a: "_smp_srv(f['server'])"),
    "status": ("num", lambda a: "(f.get('status') or None)"),
    "method": ("str", lambda a: "_rp(f.get('request'))[0]"),
    "capture.req.method": ("str", lambda a: "_rp(f.get('request'))[0]"),
    "capture.req.uri": ("str", lambda a: "_rp(f.get('request'))[1]"),
    "capture.req.ver": ("str", lambda a: "_rp(f.get('request'))[2]"),
    "capture.req.hdr": ("str", lambda a: f"_smp_cap(f.get('req_captures'), {_int_arg(a, 0, 0, 'capture.req.hdr')})"),
    "capture.res.hdr": ("str", lambda a: f"_smp_cap(f.get('rsp_captures'), {_int_arg(a, 0, 0, 'capture.res.hdr')})"),
    "unique-id": ("str", lambda a: "f.get('unique_id')"),
    "hostname": ("str", lambda a: "_host"),
    "env": ("str", lambda a: f"_smp_env({_arg(a, 0)!r})"),
    "str": ("str", lambda a: repr(_arg(a, 0, ""))),
    "int": ("num", lambda a: str(_int_arg(a, 0, 0, "int"))),
    "date": ("num", lambda a: f"(f['accept_us'] // 1000000 + {_int_arg(a, 0, 0, 'date')})"),
    "uuid": ("str", lambda a: "_smp_uuid()"),
    "always_true": ("num", lambda a: "1"),
    "always_false": ("num", lambda a: "0"),
}


def _ipmask(args: tuple[str, ...]) -> Callable[[str], str]:
    def mask_arg(text: str | None, bits: int) -> int | None:
        if text is None or text == "":
            return None
        try:
            n = int(text) if "." not in text and ":" not in text else \
                ipaddress.ip_network(f"0.0.0.0/{text}" if "." in text else f"::/{text}").prefixlen
        except ValueError:
            raise SampleError(f"ipmask: invalid mask '{text}'") from None
        if not 0 <= n <= bits:
            raise SampleError(f"ipmask: invalid mask '{text}'")
        return n

    v4, v6 = mask_arg(_arg(args, 0), 32), mask_arg(_arg(args, 1), 128)
    if v4 is None:
        raise SampleError("ipmask: missing mask")
    return lambda e: f"_smp_ipmask({e}, {v4}, {v6})"


#: converter -> (output kind, builder(args) -> function(input expression) -> expression).
CONVERTERS: dict[str, tuple[str, Callable[[tuple[str, ...]], Callable[[str], str]]]] = {
    "lower": ("str", lambda a: lambda e: f"_smp_str({e}, str.lower)"),
    "upper": ("str", lambda a: lambda e: f"_smp_str({e}, str.upper)"),
    "length": ("num", lambda a: lambda e: f"_smp_len({e})"),
    "hex": ("str", lambda a: lambda e: f"_smp_str({e}, _smp_hex)"),
    "base64": ("str", lambda a: lambda e: f"_smp_str({e}, _smp_b64)"),
    "ipmask": ("ip", _ipmask),
}

def _words(text: str) -> list[str]:
    return text.split()


#: HAProxy 2.6 converters fastlb does not evaluate in log formats.
HAPROXY_CONVERTERS = frozenset(_words("""
    add aes_gcm_dec and b64dec base2 be2dec be2hex bool bytes concat cpl crc32 crc32c cut_crlf debug
    digest div djb2 even field fix_is_valid fix_tag_value hex2i hmac htonl http_date in_table json
    json_query language ltime ltrim map map_beg map_dir map_dom map_end map_int map_ip map_reg map_str
    map_sub mod mqtt_field_value mqtt_is_valid mul nbsrv neg not odd or protobuf regsub rtrim sdbm
    secure_memcmp set-var sha1 sha2 srv_queue strcmp sub table_bytes_in_rate table_conn_cnt
    table_conn_cur table_gpc0 table_http_req_cnt table_http_req_rate table_server_id table_trackers
    ub64dec ub64enc ungrpc unset-var url_dec utime word wt6 xor x509_v_err_str
"""))

#: Fetches HAProxy refuses in log formats, with what they would need.
_REQ, _RSP = "HTTP request headers", "HTTP response headers"


def _needs_headers(name: str) -> str | None:
    base = name.split("_", 1)[0] if not name.startswith(("req.", "res.")) else name
    if name.startswith(("res.", "shdr", "scook")) or name in ("resp_ver",):
        return _RSP
    if base in ("hdr",):
        return f"{_REQ},{_RSP}"
    if name.startswith(("req.hdr", "req.fhdr", "req.cook", "req.body", "req.ver", "req_ver", "req.hdrs",
                        "path", "url", "base", "query", "cook", "http_auth")) or name in ("pathq", "urlp"):
        return _REQ
    return None


def _helpers() -> dict[str, object]:
    def smp_str(v: object, fn: Callable[[str], str]) -> str | None:
        if v is None or v == "":
            return None
        return fn(v.decode("latin-1") if isinstance(v, bytes) else str(v))

    def smp_ipmask(v: object, v4: int, v6: int | None) -> str | None:
        try:
            ip = ipaddress.ip_address(str(v))
        except ValueError:
            return None
        if ip.version == 6:
            if v6 is None:
                return None
            return str(ipaddress.ip_network(f"{ip}/{v6}", strict=False).network_address)
        return str(ipaddress.ip_network(f"{ip}/{v4}", strict=False).network_address)

    def smp_cap(values: object, n: int) -> object:
        if not values or n < 0 or n >= len(values):  # type: ignore[arg-type]
            return None
        return values[n]  # type: ignore[index]

    return {
        "_smp_str": smp_str,
        "_smp_len": lambda v: 0 if v is None else len(v if isinstance(v, (bytes, str)) else str(v)),
        "_smp_hex": lambda s: s.encode("latin-1", "replace").hex().upper(),
        "_smp_b64": lambda s: base64.b64encode(s.encode("latin-1", "replace")).decode(),
        "_smp_ipmask": smp_ipmask,
        "_smp_cap": smp_cap,
        "_smp_srv": lambda s: None if not s or s.startswith("<") else s,
        "_smp_env": lambda name: os.environ.get(name) if name else None,
        "_smp_uuid": lambda: str(uuid.uuid4()),
    }


HELPERS = _helpers()


def compile_sample(expr: str, rest: str) -> tuple[str, str]:
    """(Python expression, output kind) of a sample expression; `rest` is the format text from
    the expression on (HAProxy quotes it in its messages)."""
    try:
        name, args, converters = split_fetch(expr)
    except AclError as exc:
        raise SampleError(f"failed to parse sample expression <{rest}> : {exc}") from None
    if name not in FETCH_EXPR:
        if name not in FETCHES and name not in UNSUPPORTED_FETCHES:
            raise SampleError(f"failed to parse sample expression <{rest}> : unknown fetch method '{name}'.")
        needs = _needs_headers(name)
        if needs:
            raise SampleError(f"sample fetch <{rest}> may not be reliably used here because it needs "
                              f"'{needs}' which is not available here.")
        raise SampleError(f"sample fetch '{name}' is not supported in log formats by fastlb "
                          f"(supported: {', '.join(sorted(FETCH_EXPR))}).")
    kind, build = FETCH_EXPR[name]
    code = build(args)
    for conv in converters:
        cname, cargs, _ = split_fetch(conv)
        if cname not in CONVERTERS:
            if cname in HAPROXY_CONVERTERS:
                raise SampleError(f"converter '{cname}' is not supported in log formats by fastlb "
                                  f"(supported: {', '.join(sorted(CONVERTERS))}).")
            raise SampleError(f"failed to parse sample expression <{rest}> : unknown converter '{cname}'.")
        kind, make = CONVERTERS[cname]
        code = make(cargs)(code)
    return code, kind
