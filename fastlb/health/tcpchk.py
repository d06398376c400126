"""``option tcp-check`` rule sequences: ``connect [port N]``, ``send``, ``send-binary``, ``expect
[!] string|rstring|binary|rbinary <pattern>``, ``comment``.

Steps are numbered as HAProxy numbers them in its messages (every rule counts, comments included,
the implicit first connection does not), and failures read as HAProxy's::

    Layer7 invalid response, info: "TCPCHK did not match content '+PONG' at step 2"
    Layer7 timeout, info: " at step 2 of tcp-check (expect string '+PONG')"

Limits: one connection per check (a ``connect`` rule after the first step only sets the port of
the first connection), no ``send-lf``/log-format, no ``set-var``, no ``min-recv``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..config.model import Proxy
from .status import CheckStatus


@dataclass(frozen=True)
class TcpStep:
    index: int                  # HAProxy's step number
    kind: str                   # send | expect | connect
    data: bytes = b""           # what to send
    match: str = ""             # string | rstring | binary | rbinary
    pattern: str = ""
    negate: bool = False
    comment: str | None = None


@dataclass(frozen=True)
class TcpCheckPlan:
    steps: tuple[TcpStep, ...]
    port: int | None            # from a leading "connect port N"


def _unescape(text: str) -> bytes:
    """HAProxy's tcp-check strings take \\r \\n \\t \\\\ escapes."""
    return text.encode("latin-1", "replace").decode("unicode_escape").encode("latin-1", "replace")


def build_tcp_check(proxy: Proxy) -> TcpCheckPlan | None:
    """The steps of ``proxy``'s tcp-check rules, or None (a plain TCP connect check)."""
    rules = proxy.tcp_check_rules
    if not rules:
        return None
    steps: list[TcpStep] = []
    port = None
    comment = None
    for n, rule in enumerate(rules, start=1):
        args = list(rule.args)
        if rule.kind == "comment":
            comment = " ".join(args).strip('"')
            continue
        if rule.kind == "connect":
            if "port" in args and args.index("port") + 1 < len(args) and n == 1:
                port = int(args[args.index("port") + 1])
            continue
        if rule.kind in ("send", "send-lf"):
            steps.append(TcpStep(n, "send", _unescape(" ".join(args)), comment=comment))
        elif rule.kind in ("send-binary", "send-binary-lf"):
            steps.append(TcpStep(n, "send", bytes.fromhex("".join(args)), comment=comment))
        elif rule.kind == "expect":
            negate = False
            while args and args[0] in ("min-recv", "comment", "ok-status", "error-status", "tout-status",
                                       "on-success", "on-error", "status-code"):
                args = args[2:]
            if args and args[0].startswith("!"):
                negate = True
                args = args[1:] if args[0] == "!" else [args[0][1:], *args[1:]]
            if len(args) >= 2 and args[0] in ("string", "rstring", "binary", "rbinary"):
                steps.append(TcpStep(n, "expect", match=args[0], pattern=" ".join(args[1:]), negate=negate,
                                     comment=comment))
        comment = None
    return TcpCheckPlan(tuple(steps), port)


def expect_found(step: TcpStep, data: bytes) -> bool:
    if step.match == "string":
        return _unescape(step.pattern) in data
    if step.match == "binary":
        return bytes.fromhex(step.pattern) in data
    if step.match == "rstring":
        return re.search(step.pattern, data.decode("latin-1")) is not None
    return re.search(step.pattern.encode("latin-1"), data) is not None  # rbinary (pattern on raw bytes)


def mismatch(step: TcpStep, found: bool) -> tuple[CheckStatus, str]:
    """The failure of an ``expect`` step (``found`` says what the data showed)."""
    verb = "matched unwanted" if found else "did not match"
    if step.match == "string":
        what = f"content '{step.pattern}'"
    elif step.match == "binary":
        what = f"binary '{step.pattern}'"
    else:
        what = "content (regex)"
    info = f"TCPCHK {verb} {what} at step {step.index}"
    if step.comment:
        info += f" comment: '{step.comment}'"
    return CheckStatus.L7RSP, info


def timeout_info(step: TcpStep) -> str:
    what = f"expect {step.match} '{step.pattern}'" if step.kind == "expect" else step.kind
    return f" at step {step.index} of tcp-check ({what})"
