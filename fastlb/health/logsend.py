"""Sending the master's event lines (server transitions, health-check results) to the log targets
and to stderr, as HAProxy does.

``emit_log(plan, level, message, proxy=...)`` sends through fastlb.logs (its targets, formats
and non-blocking senders). Two things differ from ``fastlb.logs.emit_log`` on purpose, to match
what HAProxy sends for these events (checked against it in tests/api/test_vs_haproxy.py): the
lines go to the log targets of the backend concerned (HAProxy's ``send_log(proxy, ...)``; a
backend with ``log global`` gets the global ones), and each datagram ends with a newline.
"""
from __future__ import annotations

import os
import socket
import sys
from typing import Any

from ..logs.logger import DEFAULT_TAG
from ..logs.syslog import Target, make_targets

#: Resolved targets per ``logs`` tuple of a configuration (kept with it, so ids stay unique).
_targets: dict[int, tuple[Any, list[Target]]] = {}


def _targets_of(logs: Any) -> list[Target]:
    entry = _targets.get(id(logs))
    if entry is None or entry[0] is not logs:
        entry = (logs, make_targets(logs))
        _targets[id(logs)] = entry
    return entry[1]


def dropped() -> int:
    """Lines the senders could not send (``DroppedLogs`` of ``show info``)."""
    return sum(t.sender.dropped for _logs, targets in _targets.values() for t in targets)


def emit_log(plan: Any, level: int, message: str, proxy: Any = None) -> None:
    """Send one line at syslog severity ``level`` to the log targets of ``proxy`` (a config Proxy,
    its ``log global`` already resolved) or, without a proxy, to the global targets."""
    g = plan.config.global_
    logs = proxy.logs if proxy is not None else g.logs
    if not logs:
        return
    tag = (getattr(proxy, "log_tag", None) if proxy is not None else None) or g.log_tag or DEFAULT_TAG
    hostname = None if g.log_send_hostname is None else (g.log_send_hostname or socket.gethostname())
    text = message.rstrip("\n")
    for t in _targets_of(logs):
        t.emit(level, text, tag=tag, pid=os.getpid(), hostname=hostname)  # newline-terminated by emit


class Reporter:
    """Where the master's event lines go: stderr (``[WARNING]  (pid) : ...`` unless quiet) and the
    log targets of the proxy concerned. ``notice``/``alert`` with ``cli=True`` are the messages of
    ``add server``/``del server``, which HAProxy prefixes with ``CLI : `` on stderr."""

    def __init__(self, plan: Any, quiet: bool = False, stream: Any = None):
        self.plan = plan
        self.quiet = quiet
        self.stream = stream
        self.lines: list[tuple[str, str]] = []  # (kind, text) of the last lines, for tests/debug

    def _stderr(self, kind: str, text: str, cli: bool) -> None:
        self.lines.append((kind, text))
        del self.lines[:-100]
        if self.quiet:
            return
        pad = {"WARNING": "[WARNING]  ", "ALERT": "[ALERT]    ", "NOTICE": "[NOTICE]   "}[kind]
        prefix = "CLI : " if cli else ""
        out = self.stream or sys.stderr
        try:
            out.write(f"{pad}({os.getpid()}) : {prefix}{text}\n")
            out.flush()
        except (OSError, ValueError):
            pass

    def event(self, level: int, text: str, proxy: Any = None, kind: str = "WARNING") -> None:
        """A state-change line: stderr as ``kind`` and syslog at ``level``."""
        self._stderr(kind, text, False)
        emit_log(self.plan, level, text, proxy)

    def no_server(self, proxy: Any, name: str) -> None:
        """HAProxy's alert when a backend loses its last usable server."""
        self._stderr("ALERT", f"backend '{name}' has no server available!", False)
        emit_log(self.plan, 0, f"backend {name} has no server available!", proxy)

    def notice(self, text: str, cli: bool = False) -> None:
        self._stderr("NOTICE", text, cli)

    def alert(self, text: str, cli: bool = False) -> None:
        self._stderr("ALERT", text, cli)
