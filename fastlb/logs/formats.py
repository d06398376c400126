"""Log formats: HAProxy's ``log-format`` language compiled once into a Python function.

A format string is split into literal text, separators (spaces) and ``%`` variables with
optional flags (``%{+Q}r``, ``%{-Q}ci``, ``%{+X}Ts``, ``%{+E}...``, ``%o`` to apply flags to all
the variables after it). It compiles into one function ``fmt(f: dict) -> str`` built from an
f-string, so formatting a line costs one call and no per-variable dispatch. ``f`` is the dict the
engine hands to the log callback (see fastlb/engine: ``log_http``, ``Worker.log_tcp``) extended
by the logger with a few per-frontend values (``_fe_ip``...).

As in HAProxy, consecutive separators collapse when the variables between them printed nothing
(``%hr`` without captures), empty strings print ``-`` (``""`` when quoted), and numbers are never
quoted. Sample expressions (``%[...]``) compile through samples.py; those fastlb cannot evaluate
at log time are refused when the configuration is loaded (``parse`` raises with HAProxy's
messages, which ``fastlb -c`` prints with the file and line of the ``log-format``).

JSON: ``%{+json}o`` (HAProxy 3.0's spelling) makes the line a JSON object instead; a variable may
be named with ``%(name)var``, otherwise it gets a default name (``client_ip`` for ``%ci``...).
:data:`JSON_HTTP_FORMAT` is the httplog as JSON.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from .samples import HELPERS, SampleError, compile_sample

TCPLOG_FORMAT = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
HTTPLOG_FORMAT = ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc "
                  "%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r")
CLF_FORMAT = ("%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc "
              "%ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl")
JSON_HTTP_FORMAT = ("%{+json}o %(client_ip)ci %(client_port)cp %(request_date)tr %(frontend_name)ft "
                    "%(backend_name)b %(server_name)s %(time_request)TR %(time_queue)Tw %(time_connect)Tc "
                    "%(time_response)Tr %(time_active)Ta %(status_code)ST %(bytes_read)B "
                    "%(termination_state)tsc %(actconn)ac %(feconn)fc %(beconn)bc %(srv_conn)sc %(retries)rc "
                    "%(srv_queue)sq %(backend_queue)bq %(http_request)r")

JSON_TCP_FORMAT = ("%{+json}o %(client_ip)ci %(client_port)cp %(accept_date)t %(frontend_name)ft "
                   "%(backend_name)b %(server_name)s %(time_queue)Tw %(time_connect)Tc %(time_total)Tt "
                   "%(bytes_read)B %(termination_state)ts %(actconn)ac %(feconn)fc %(beconn)bc %(srv_conn)sc "
                   "%(retries)rc %(srv_queue)sq %(backend_queue)bq")

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class LogFormatError(ValueError):
    pass


# -- helpers used by compiled formats --------------------------------------------------------


def _tz(tm: time.struct_time) -> str:
    off = tm.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return f"{sign}{off // 3600:02d}{off % 3600 // 60:02d}"


def date_ms(us: int) -> str:
    """Local date with milliseconds: 24/Nov/2026:02:31:27.776 (%t, %tr)."""
    tm = time.localtime(us // 1_000_000)
    return (f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{tm.tm_hour:02d}:{tm.tm_min:02d}:"
            f"{tm.tm_sec:02d}.{us // 1000 % 1000:03d}")


def date_gmt(us: int) -> str:
    """GMT date: 24/Nov/2026:02:31:27 +0000 (%T, %trg)."""
    tm = time.gmtime(us // 1_000_000)
    return (f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{tm.tm_hour:02d}:{tm.tm_min:02d}:"
            f"{tm.tm_sec:02d} +0000")


def date_local(us: int) -> str:
    """Local date with the offset: 24/Nov/2026:03:31:27 +0100 (%Tl, %trl)."""
    tm = time.localtime(us // 1_000_000)
    return (f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{tm.tm_hour:02d}:{tm.tm_min:02d}:"
            f"{tm.tm_sec:02d} {_tz(tm)}")


def split_addr(text: str) -> tuple[str, str]:
    """'1.2.3.4:5' / '::1:5' -> ('1.2.3.4', '5'); 'unix' -> ('unix', '-')."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, "-"
    if host.startswith("::ffff:") and host.count(".") == 3:
        host = host[7:]
    return host, port


def _s(v: object) -> str:
    """A string variable: '-' when empty."""
    if v is None or v == "" or v == b"":
        return "-"
    return v.decode("latin-1") if isinstance(v, bytes) else str(v)


def _q(v: object) -> str:
    if v is None:
        return '""'
    s = v.decode("latin-1") if isinstance(v, bytes) else str(v)
    return '"' + s + '"'


def _e(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _x_ip(ip: str) -> str:
    try:
        raw = socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
    except OSError:
        return ip
    return raw.hex().upper()


def _caps(values: object, style: str) -> str:
    """Captured headers: '{a|b}' (default style, nothing when no capture) or '"a" "b"' (CLF)."""
    if not values:
        return ""
    vals = ["" if v is None else (v.decode("latin-1") if isinstance(v, bytes) else str(v)) for v in values]
    if style == "brace":
        return "{" + "|".join(vals) + "}"
    return " ".join(f'"{v}"' for v in vals)


def _req_parts(req: object) -> tuple[str, str, str]:
    line = req.decode("latin-1") if isinstance(req, bytes) else (req or "")
    parts = line.split(" ")
    if len(parts) >= 3:
        return parts[0], " ".join(parts[1:-1]), parts[-1]
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return line, "", ""


# -- variables ---------------------------------------------------------------------------------

#: var -> (default JSON name, kind, Python expression over the fields dict ``f``).
#: kind: "num" (never quoted), "str", "ip", "date", "raw" (already formatted, e.g. captures).
VARIABLES: dict[str, tuple[str, str, str]] = {
    "ci": ("client_ip", "ip", "_sa(f['client'])[0]"),
    "cp": ("client_port", "num", "_sa(f['client'])[1]"),
    "fi": ("frontend_ip", "ip", "f.get('_fe_ip', '-')"),
    "fp": ("frontend_port", "num", "f.get('_fe_port', '-')"),
    "si": ("server_ip", "ip", "f.get('_srv_ip', '-')"),
    "sp": ("server_port", "num", "f.get('_srv_port', '-')"),
    "bi": ("backend_source_ip", "ip", "_sa(f.get('bsrc') or '-')[0]"),
    "bp": ("backend_source_port", "num", "_sa(f.get('bsrc') or '-')[1]"),
    "f": ("frontend_name", "str", "f['frontend']"),
    "ft": ("frontend_name_transport", "str", "f['frontend']"),
    "b": ("backend_name", "str", "f['backend']"),
    "s": ("server_name", "str", "f['server']"),
    "t": ("date", "date", "_dms(f['accept_us'])"),
    "tr": ("request_date", "date", "_dms(f['accept_us'] + f.get('Ti', 0) * 1000)"),
    "trg": ("request_date_gmt", "date", "_dgmt(f['accept_us'] + f.get('Ti', 0) * 1000)"),
    "trl": ("request_date_local", "date", "_dloc(f['accept_us'] + f.get('Ti', 0) * 1000)"),
    "T": ("gmt_date", "date", "_dgmt(f['accept_us'])"),
    "Tl": ("local_date", "date", "_dloc(f['accept_us'])"),
    "Ts": ("timestamp", "num", "f['accept_us'] // 1000000"),
    "ms": ("accept_ms", "num", "'%03d' % (f['accept_us'] // 1000 % 1000)"),
    "H": ("hostname", "str", "_host"),
    "pid": ("pid", "num", "_pid"),
    "ID": ("unique_id", "str", "f.get('unique_id')"),
    "Th": ("time_handshake", "num", "0"),
    "Ti": ("time_idle", "num", "f.get('Ti', 0)"),
    "TR": ("time_request", "num", "f.get('TR', -1)"),
    "Tq": ("time_request_total", "num", "(f.get('Ti', 0) + f['TR']) if f.get('TR', -1) >= 0 else -1"),
    "Tw": ("time_queue", "num", "f['Tw']"),
    "Tc": ("time_connect", "num", "f['Tc']"),
    "Tr": ("time_response", "num", "f.get('Tr', -1)"),
    "Ta": ("time_active", "num", "f.get('Ta', f['Tt'])"),
    "Tt": ("time_total", "num", "f['Tt']"),
    "Tu": ("time_user", "num", "f['Tt'] - f.get('Ti', 0)"),
    "Td": ("time_data", "num", "_td(f)"),
    "ST": ("status_code", "num", "f.get('status') or -1"),
    "B": ("bytes_read", "num", "f['bytes_read']"),
    "U": ("bytes_uploaded", "num", "f['bytes_in']"),
    "CC": ("captured_request_cookie", "str", "f.get('cookie_req')"),
    "CS": ("captured_response_cookie", "str", "f.get('cookie_rsp')"),
    "ts": ("termination_state", "raw", "f['termination'][:2]"),
    "tsc": ("termination_state_cookie", "raw", "(f['termination'] + f.get('cookie_flags', '--'))[:4]"),
    "ac": ("actconn", "num", "f['actconn']"),
    "fc": ("feconn", "num", "f['feconn']"),
    "bc": ("beconn", "num", "f['beconn']"),
    "sc": ("srv_conn", "num", "f['srv_conn']"),
    "rc": ("retries", "num", "('+' if f.get('redispatched') else '') + str(f['retries'])"),
    "rt": ("request_counter", "num", "f.get('req_counter', 0)"),
    "lc": ("log_counter", "num", "f.get('_lc', 0)"),
    "sq": ("srv_queue", "num", "f.get('srv_queue', 0)"),
    "bq": ("backend_queue", "num", "f.get('backend_queue', 0)"),
    "hr": ("captured_request_headers", "raw", "_caps(f.get('req_captures'), 'brace')"),
    "hs": ("captured_response_headers", "raw", "_caps(f.get('rsp_captures'), 'brace')"),
    "hrl": ("captured_request_headers", "raw", "_caps(f.get('req_captures'), 'clf')"),
    "hsl": ("captured_response_headers", "raw", "_caps(f.get('rsp_captures'), 'clf')"),
    "r": ("http_request", "str", "f.get('request')"),
    "HM": ("http_method", "str", "_rp(f.get('request'))[0]"),
    "HU": ("http_uri", "str", "_rp(f.get('request'))[1]"),
    "HP": ("http_path", "str", "_rp(f.get('request'))[1].partition('?')[0]"),
    "HPO": ("http_path_only", "str", "_path_only(_rp(f.get('request'))[1])"),
    "HQ": ("http_query", "str", "_query(_rp(f.get('request'))[1])"),
    "HV": ("http_version", "str", "_rp(f.get('request'))[2]"),
    "sslc": ("ssl_ciphers", "str", "None"),
    "sslv": ("ssl_version", "str", "None"),
}


def _td(f: dict) -> int:
    parts = [f.get("Ti", 0), f.get("TR", 0), f.get("Tw", 0), f.get("Tc", 0), f.get("Tr", 0)]
    if any(p is None or p < 0 for p in parts):
        return -1
    return f["Tt"] - sum(parts)


def _path_only(uri: str) -> str:
    path = uri.partition("?")[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return path


def _query(uri: str) -> str:
    q = uri.partition("?")
    return "?" + q[2] if q[1] else ""


_ENV = {
    "_sa": split_addr, "_dms": date_ms, "_dgmt": date_gmt, "_dloc": date_local, "_s": _s, "_q": _q, "_e": _e,
    "_x_ip": _x_ip, "_caps": _caps, "_rp": _req_parts, "_td": _td, "_path_only": _path_only, "_query": _query,
    "_json": json.dumps,
    **HELPERS,
}


@dataclass(frozen=True)
class Node:
    kind: str  # "lit", "sep", "var"
    text: str = ""
    flags: frozenset[str] = frozenset()
    name: str | None = None  # %(name)var
    code: str = ""           # sample expressions: the compiled Python expression...
    skind: str = ""          # ...and its output kind (see VARIABLES)


def parse(fmt: str) -> list[Node]:
    """Split a log-format string into literal, separator and variable nodes."""
    nodes: list[Node] = []
    i, n = 0, len(fmt)
    lit: list[str] = []
    global_flags: set[str] = set()

    def flush() -> None:
        if lit:
            nodes.append(Node("lit", "".join(lit)))
            lit.clear()

    while i < n:
        c = fmt[i]
        if c == " ":
            flush()
            while i < n and fmt[i] == " ":
                i += 1
            nodes.append(Node("sep"))
            continue
        if c == "\\" and i + 1 < n:
            lit.append(fmt[i + 1])
            i += 2
            continue
        if c != "%":
            lit.append(c)
            i += 1
            continue
        if i + 1 < n and fmt[i + 1] == "%":
            lit.append("%")
            i += 2
            continue
        i += 1
        flags = set(global_flags)
        name = None
        if i < n and fmt[i] == "(":
            end = fmt.find(")", i)
            if end < 0:
                raise LogFormatError(f"missing ')' in log-format at position {i}")
            name = fmt[i + 1:end]
            i = end + 1
        if i < n and fmt[i] == "{":
            end = fmt.find("}", i)
            if end < 0:
                raise LogFormatError(f"truncated line after '{fmt[i + 1:]}'.")
            for flag in fmt[i + 1:end].split(","):
                flag = flag.strip()
                if flag.startswith("+"):
                    flags.add(flag[1:])
                elif flag.startswith("-"):
                    flags.discard(flag[1:])
            i = end + 1
        if i < n and fmt[i] == "[":
            end = fmt.find("]", i)
            if end < 0:
                raise LogFormatError(f"missing ']' after '{fmt[i + 1:]}'.")
            try:
                code, skind = compile_sample(fmt[i + 1:end], fmt[i + 1:])
            except SampleError as exc:
                raise LogFormatError(str(exc)) from None
            flush()
            nodes.append(Node("var", "[" + fmt[i + 1:end] + "]", frozenset(flags), name, code, skind))
            i = end + 1
            continue
        j = i
        while j < n and fmt[j].isalnum():
            j += 1
        var = fmt[i:j]
        if var not in VARIABLES and var != "o":
            raise LogFormatError(f"no such format variable '{var}'. If you wanted to emit the '%' character "
                                 "verbatim, you need to use '%%'.")
        i = j
        if var == "o":
            global_flags = flags
            continue
        flush()
        nodes.append(Node("var", var, frozenset(flags), name))
    flush()
    return nodes


def uses(fmt: str, *names: str) -> bool:
    """Whether a (valid) log format prints one of the variables `names`."""
    return any(n.kind == "var" and n.text in names for n in parse(fmt))


def _var_expr(node: Node) -> tuple[str, str]:
    """(Python expression producing the printed text, kind)."""
    if node.text.startswith("["):
        kind, expr = node.skind, node.code
    else:
        _, kind, expr = VARIABLES[node.text]
    flags = node.flags
    if kind == "num":
        if "X" in flags:
            return f"('%04X' % int({expr}) if str({expr}).lstrip('-').isdigit() else str({expr}))", kind
        return (f"_s({expr})" if node.code else f"str({expr})"), kind
    if kind == "raw":
        return f"({expr})", kind
    if kind == "date":  # dates are never quoted either
        return f"({expr})", kind
    if kind == "ip" and "X" in flags:
        expr = f"_x_ip({expr})"
    if "E" in flags:
        expr = f"_e(_s({expr}))"
    if "Q" in flags:
        return f"_q({expr})", kind
    return f"_s({expr})", kind


def compile_format(fmt: str, *, hostname: str | None = None, pid: int | None = None) -> Callable[[dict], str]:
    """Compile a log-format string into ``fmt(fields) -> str``."""
    nodes = parse(fmt)
    env = dict(_ENV)
    env["_host"] = hostname or socket.gethostname()
    env["_pid"] = os.getpid() if pid is None else pid
    if any("json" in n.flags for n in nodes if n.kind == "var"):
        return _compile_json(nodes, env)
    # Separators print only after something was printed. When no variable can print nothing
    # (captures can), that is decided here and the line is one concatenation; otherwise the
    # function checks at run time.
    dynamic = any(n.kind == "var" and n.text in ("hr", "hs", "hrl", "hsl") for n in nodes)
    if not dynamic:
        pieces: list[str] = []
        pending_sep = False
        for node in nodes:
            if node.kind == "sep":
                pending_sep = bool(pieces)
                continue
            if pending_sep:
                pieces.append("' '")
                pending_sep = False
            pieces.append(repr(node.text) if node.kind == "lit" else _var_expr(node)[0])
        src = "def _fmt(f):\n    return " + (" + ".join(pieces) or "''") + "\n"
    else:
        lines = ["def _fmt(f):", "    out = []", "    sp = False"]
        for node in nodes:
            if node.kind == "sep":
                lines.append("    sp = bool(out)")
            elif node.kind == "lit":
                lines.append("    if sp: out.append(' '); sp = False")
                lines.append(f"    out.append({node.text!r})")
            else:
                lines.append(f"    v = {_var_expr(node)[0]}")
                lines.append("    if v:")
                lines.append("        if sp: out.append(' '); sp = False")
                lines.append("        out.append(v)")
        lines.append("    return ''.join(out)")
        src = "\n".join(lines) + "\n"
    code = compile(src, f"<log-format {fmt[:40]!r}>", "exec")
    exec(code, env)  # noqa: S102 - source built from the variable table above, not from user text
    return env["_fmt"]


def _compile_json(nodes: list[Node], env: dict) -> Callable[[dict], str]:
    items = []
    for node in nodes:
        if node.kind != "var":
            continue
        if node.text.startswith("["):
            default_name, kind, expr = node.text, node.skind, node.code
        else:
            default_name, kind, expr = VARIABLES[node.text]
        key = node.name or default_name
        if kind == "num":
            items.append(f"    v = {expr}\n    d[{key!r}] = int(v) if str(v).lstrip('-').isdigit() else v")
        elif kind == "raw":
            items.append(f"    d[{key!r}] = {expr}")
        else:
            items.append(f"    v = {expr}\n    d[{key!r}] = v.decode('latin-1') if isinstance(v, bytes) else v")
    src = "def _fmt(f):\n    d = {}\n" + "\n".join(items) + "\n    return _json(d, separators=(',', ':'))\n"
    exec(compile(src, "<log-format json>", "exec"), env)  # noqa: S102 - built from the variable table
    return env["_fmt"]
