"""Sending the master's event lines (server transitions, health-check results) to the log targets
and to stderr, as HAProxy does.

``emit_log(plan, level, message, proxy=...)`` is the one entry point for syslog: it is a small
sender of its own (RFC 3164 / RFC 5424 / short / raw over UDP, UNIX datagram sockets, stdout and
stderr) until fastlb/logs/ provides the project's syslog sender; switching is a change of this one
function's body. Limits: no TCP/ring targets, no ``sample``; a target that cannot be reached drops
the line (UDP semantics) and counts it in ``dropped``.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

from .status import LOG_LEVELS

#: Syslog tag when neither the proxy nor the global section sets ``log-tag``. HAProxy uses its
#: program name; "haproxy" is kept so that existing syslog rules (Debian's rsyslog file matches
#: ``$programname startswith 'haproxy'``) keep routing fastlb's lines.
DEFAULT_LOG_TAG = "haproxy"

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "auth2": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "cron2": 15,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22,
    "local7": 23,
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_sockets: dict[int, socket.socket] = {}
dropped = 0


def _socket_for(family: int) -> socket.socket:
    s = _sockets.get(family)
    if s is None:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setblocking(False)
        _sockets[family] = s
    return s


def close_sockets() -> None:
    """Close the cached sending sockets (a forked worker does not need the master's)."""
    for s in _sockets.values():
        s.close()
    _sockets.clear()


def _rfc3164_time(now: float) -> str:
    t = time.localtime(now)
    return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def _rfc5424_time(now: float) -> str:
    t = time.localtime(now)
    off = t.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    us = int((now - int(now)) * 1_000_000)
    return (f"{time.strftime('%Y-%m-%dT%H:%M:%S', t)}.{us:06d}"
            f"{sign}{off // 3600:02d}:{(off % 3600) // 60:02d}")


def format_syslog(fmt: str, pri: int, tag: str, pid: int, message: str, hostname: str | None,
                  now: float) -> str:
    """One syslog line in HAProxy's formats (``message`` without its trailing newline)."""
    if fmt == "raw":
        return message
    if fmt == "short":
        return f"<{pri}>{message}"
    if fmt == "priority":
        return f"<{pri}>{message}"
    if fmt == "timed":
        return f"<{pri}>{_rfc3164_time(now)} {message}"
    if fmt == "iso":
        return f"{_rfc5424_time(now)} {message}"
    if fmt == "rfc5424":
        return f"<{pri}>1 {_rfc5424_time(now)} {hostname or '-'} {tag} {pid} - - {message}"
    host = f"{hostname} " if hostname else ""
    return f"<{pri}>{_rfc3164_time(now)} {host}{tag}[{pid}]: {message}"


def _send(target: Any, line: bytes) -> None:
    global dropped
    addr = target.address
    try:
        if addr.family in ("stdout", "stderr"):
            os.write(1 if addr.family == "stdout" else 2, line)
        elif addr.family == "fd":
            os.write(addr.fd, line)
        elif addr.family == "unix":
            _socket_for(socket.AF_UNIX).sendto(line, addr.path)
        elif addr.family in ("ipv4", "ipv6"):
            host = addr.host or ("::1" if addr.family == "ipv6" else "127.0.0.1")
            fam = socket.AF_INET6 if addr.family == "ipv6" or ":" in host else socket.AF_INET
            _socket_for(fam).sendto(line, (host, addr.port_low or 514))
        else:
            dropped += 1  # ring@ and friends: not supported by this sender
    except OSError:
        dropped += 1


def emit_log(plan: Any, level: int, message: str, proxy: Any = None) -> None:
    """Send one line at syslog severity ``level`` to the log targets of ``proxy`` (a config Proxy,
    its ``log global`` already resolved) or, without a proxy, to the global targets."""
    g = plan.config.global_
    targets = proxy.logs if proxy is not None else g.logs
    if not targets:
        return
    tag = (getattr(proxy, "log_tag", None) if proxy is not None else None) or g.log_tag or DEFAULT_LOG_TAG
    hostname = g.log_send_hostname
    if hostname == "":
        hostname = socket.gethostname()
    pid = os.getpid()
    now = time.time()
    text = message.rstrip("\n")
    for t in targets:
        sev = level
        if t.level is not None and sev > LOG_LEVELS.get(t.level, 7):
            continue
        if t.minlevel is not None:
            sev = max(sev, LOG_LEVELS.get(t.minlevel, 0))
        pri = FACILITIES.get(t.facility, 16) * 8 + sev
        line = format_syslog(t.format, pri, tag, pid, text, hostname, now)
        raw = line.encode("utf-8", "replace")
        limit = max(80, t.length or 1024)
        if len(raw) + 1 > limit:
            raw = raw[: limit - 1]
        _send(t, raw + b"\n")


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
