"""HTTP health checks: the request ``option httpchk`` / ``http-check send`` produce, and the
verdict ``http-check expect`` rules give on the response.

The request bytes are HAProxy 2.6's (observed on the wire)::

    OPTIONS / HTTP/1.0\\r\\n\\r\\n
    GET /health HTTP/1.1\\r\\nconnection: close\\r\\n\\r\\n
    HEAD /h HTTP/1.1\\r\\nhost: example.com\\r\\ncontent-length: 5\\r\\nconnection: close\\r\\n\\r\\nhello

Supported ``expect`` matches: ``status``, ``rstatus``, ``string``, ``rstring`` and ``hdr name <n>
[value <v>]``, each optionally negated with ``!``. Several ``expect`` rules must all pass. Log-format
variants (``uri-lf``, ``body-lf``) are sent literally. Limits: responses are read up to 16 KiB
(HAProxy's check buffer); ``min-recv``, ``on-success``/``on-error`` formats and status overrides
are parsed and ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..config.model import CheckRule, HttpCheck, Proxy
from .status import CheckStatus

MAX_RESPONSE = 16384


@dataclass(frozen=True)
class Expect:
    match: str             # status | rstatus | string | rstring | hdr
    pattern: str
    negate: bool = False
    value: str | None = None  # hdr value


@dataclass(frozen=True)
class HttpCheckPlan:
    request: bytes
    expects: tuple[Expect, ...]
    disable_on_404: bool
    method: str


def build_http_check(proxy: Proxy) -> HttpCheckPlan:
    """What to send and expect for the servers of ``proxy`` (``option httpchk`` set)."""
    base = proxy.httpchk or HttpCheck()
    method, uri, version = base.method, base.uri, base.version
    headers: list[tuple[str, str]] = list(base.headers)
    body = b""
    expects: list[Expect] = []
    sent = False
    for rule in proxy.http_check_rules:
        if rule.kind == "send" and not sent:
            sent = True
            method, uri, version, extra, body = _parse_send(rule, method, uri, version)
            headers.extend(extra)
        elif rule.kind == "expect":
            e = parse_expect(rule)
            if e is not None:
                expects.append(e)
    lines = [f"{method} {uri} {version}"]
    lines += [f"{k.lower()}: {v}" for k, v in headers]
    if body:
        lines.append(f"content-length: {len(body)}")
    if version.upper() not in ("HTTP/1.0", "HTTP/0.9"):
        lines.append("connection: close")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
    return HttpCheckPlan(request=request, expects=tuple(expects),
                         disable_on_404=proxy.http_check_disable_on_404, method=method.upper())


def _parse_send(rule: CheckRule, method: str, uri: str, version: str):
    args = list(rule.args)
    headers: list[tuple[str, str]] = []
    body = b""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "meth" and i + 1 < len(args):
            method = args[i + 1]
            i += 2
        elif a in ("uri", "uri-lf") and i + 1 < len(args):
            uri = args[i + 1]
            i += 2
        elif a == "ver" and i + 1 < len(args):
            version = args[i + 1]
            i += 2
        elif a == "hdr" and i + 2 < len(args):
            headers.append((args[i + 1], args[i + 2]))
            i += 3
        elif a in ("body", "body-lf") and i + 1 < len(args):
            body = args[i + 1].encode("latin-1", "replace")
            i += 2
        else:
            i += 1
    return method, uri, version, headers, body


_EXPECT_OPTS_WITH_ARG = {"min-recv", "comment", "ok-status", "error-status", "tout-status", "on-success",
                         "on-error", "status-code"}


def parse_expect(rule: CheckRule) -> Expect | None:
    args = list(rule.args)
    i = 0
    while i < len(args) and args[i] in _EXPECT_OPTS_WITH_ARG:
        i += 2
    negate = False
    if i < len(args) and args[i].startswith("!"):
        negate = True
        if args[i] == "!":
            i += 1
        else:
            args[i] = args[i][1:]
    if i >= len(args):
        return None
    match = args[i]
    rest = args[i + 1:]
    if match == "hdr":
        name = value = None
        j = 0
        while j + 1 < len(rest):
            if rest[j] == "name":
                name = rest[j + 1]
            elif rest[j] == "value":
                value = rest[j + 1]
            j += 2
        return Expect("hdr", name or "", negate, value) if name else None
    if match not in ("status", "rstatus", "string", "rstring") or not rest:
        return None
    return Expect(match, rest[0], negate)


def status_matches(expr: str, code: int) -> bool:
    """``200``, ``200-399``, ``200,301-302``: HAProxy's status list syntax."""
    for part in expr.split(","):
        part = part.strip()
        if "-" in part:
            lo, _, hi = part.partition("-")
            if lo.isdigit() and hi.isdigit() and int(lo) <= code <= int(hi):
                return True
        elif part.isdigit() and int(part) == code:
            return True
    return False


@dataclass(frozen=True)
class HttpResponse:
    code: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def parse_response(data: bytes) -> HttpResponse | None:
    """The status line, headers and body of a (possibly truncated) response; None if invalid."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    lines = head.split(b"\n")
    m = re.match(rb"HTTP/\d\.\d (\d{3})(?: ([^\r]*))?\r?$", lines[0])
    if not m:
        return None
    headers = []
    for raw in lines[1:]:
        k, colon, v = raw.rstrip(b"\r").partition(b":")
        if colon:
            headers.append((k.strip().decode("latin-1").lower(), v.strip().decode("latin-1")))
    reason = (m.group(2) or b"").decode("latin-1")
    return HttpResponse(int(m.group(1)), reason, tuple(headers), body)


def response_complete(data: bytes, head_only: bool) -> bool:
    """True once the response is whole (headers, and a Content-Length body unless HEAD)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    if head_only:
        return True
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", data[:end])
    if m is None:
        return False  # close-delimited or chunked: read until the server closes
    return len(data) - end - 4 >= int(m.group(1))


def evaluate(plan: HttpCheckPlan, data: bytes) -> tuple[CheckStatus, int | None, str]:
    """(status, code, info) of a response, HAProxy's wording for the info."""
    rsp = parse_response(data)
    if rsp is None:
        return CheckStatus.L7RSP, None, ""
    if not plan.expects:
        if plan.disable_on_404 and rsp.code == 404:
            return CheckStatus.L7OKC, rsp.code, ""
        if 200 <= rsp.code < 400:
            return CheckStatus.L7OK, rsp.code, ""
        return CheckStatus.L7STS, rsp.code, rsp.reason
    for e in plan.expects:
        if e.match in ("status", "rstatus"):
            ok = (status_matches(e.pattern, rsp.code) if e.match == "status"
                  else re.search(e.pattern, str(rsp.code)) is not None)
            if ok == e.negate:
                return CheckStatus.L7STS, rsp.code, rsp.reason
        elif e.match in ("string", "rstring"):
            text = rsp.body.decode("latin-1")
            found = (e.pattern in text) if e.match == "string" else re.search(e.pattern, text) is not None
            if found and e.negate:
                return CheckStatus.L7RSP, None, "HTTP check matched unwanted content"
            if not found and not e.negate:
                return CheckStatus.L7RSP, None, "HTTP content check did not match"
        elif e.match == "hdr":
            values = [v for k, v in rsp.headers if k == e.pattern.lower()]
            found = bool(values) if e.value is None else e.value in values
            if found == e.negate:
                return CheckStatus.L7STS, rsp.code, "HTTP header check failed"
    if plan.disable_on_404 and rsp.code == 404:
        return CheckStatus.L7OKC, rsp.code, ""
    return CheckStatus.L7OK, rsp.code, ""
