"""Syslog messages: headers in HAProxy's formats and the senders of the ``log`` targets.

Formats (``log ... format <fmt>``), as HAProxy 2.6 writes them:
  rfc3164   <PRI>Mmm dd hh:mm:ss [host ]tag[pid]: message      (the default)
  rfc5424   <PRI>1 2026-11-24T02:37:28.866693+00:00 host|- tag pid - - message
  short, priority   <PRI>message
  timed     <PRI>Mmm dd hh:mm:ss message
  iso       <PRI>2026-11-24T02:37:28.866693+00:00 message
  raw       message
A message is cut to the target's ``len`` (1024 by default), then ends with a newline, as HAProxy
2.6 sends every one (traffic logs and events alike). Targets: UDP over IPv4/IPv6
(port 514 by default), UNIX datagram sockets (``/dev/log``, ``unix@path``), ``stdout``/``stderr``.

Sending never blocks the worker: sockets are non-blocking and a message that cannot be sent now
is dropped and counted (``Sender.dropped``), like HAProxy does; for stdout/stderr a poll() with a
zero timeout checks the descriptor can take the line first.
"""
from __future__ import annotations

import os
import select
import socket
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2", "ftp",
    "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
)
LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
LEVEL = {name: i for i, name in enumerate(LEVELS)}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DEFAULT_SYSLOG_PORT = 514


def iso_time(t: float) -> str:
    tm = time.localtime(t)
    off = tm.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    us = round((t - int(t)) * 1_000_000) % 1_000_000
    return (f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:"
            f"{tm.tm_sec:02d}.{us:06d}{sign}{off // 3600:02d}:{off % 3600 // 60:02d}")


def bsd_time(t: float) -> str:
    tm = time.localtime(t)
    return f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"


def format_message(fmt: str, facility: int, level: int, message: str, *, tag: str, pid: int,
                   hostname: str | None, now: float | None = None, length: int = 1024) -> bytes:
    """One syslog message (without a newline), cut to `length` bytes."""
    pri = f"<{facility * 8 + level}>"
    if fmt == "raw":
        line = message
    elif fmt in ("short", "priority"):
        line = pri + message
    else:
        t = time.time() if now is None else now
        if fmt == "rfc5424":
            line = f"{pri}1 {iso_time(t)} {hostname or '-'} {tag} {pid} - - {message}"
        elif fmt == "timed":
            line = f"{pri}{bsd_time(t)} {message}"
        elif fmt == "iso":
            line = f"{pri}{iso_time(t)} {message}"
        else:  # rfc3164
            host = f"{hostname} " if hostname else ""
            line = f"{pri}{bsd_time(t)} {host}{tag}[{pid}]: {message}"
    raw = line.encode("utf-8", "replace")
    return raw[:length] if len(raw) > length else raw


class Sender:
    """Where messages of one target go (each one newline-terminated)."""

    dropped = 0

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class DatagramSender(Sender):
    """UDP (IPv4/IPv6) or UNIX datagram socket; unconnected so that a syslog daemon that is not
    there yet or restarts is reached again later."""

    def __init__(self, family: int, addr: object):
        self.addr = addr
        self.family = family
        self.sock: socket.socket | None = None

    def _socket(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
            self.sock.setblocking(False)
        return self.sock

    def send(self, data: bytes) -> None:
        try:
            self._socket().sendto(data, self.addr)
        except OSError:
            self.dropped += 1

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class StreamFdSender(Sender):
    """stdout / stderr: one line per message, skipped when the descriptor cannot take it now (a
    stalled reader must not stall the proxy)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.poller = select.poll()
        self.poller.register(fd, select.POLLOUT)

    def send(self, data: bytes) -> None:
        try:
            if not self.poller.poll(0):
                self.dropped += 1
                return
            os.write(self.fd, data)
        except OSError:
            self.dropped += 1


def make_sender(address) -> Sender | None:
    """The sender of a ``log`` target address (config model Address); None when the kind of
    target is not supported (``ring@``)."""
    sender = _make_sender(address)
    if sender is not None:
        _SENDERS.add(sender)
    return sender


def _make_sender(address) -> Sender | None:
    fam = address.family
    if fam == "stdout" or (fam == "fd" and address.fd == 1):
        return StreamFdSender(1)
    if fam == "stderr" or (fam == "fd" and address.fd == 2):
        return StreamFdSender(2)
    if fam in ("unix", "abns"):
        path = address.path or ""
        return DatagramSender(socket.AF_UNIX, ("\0" + path) if fam == "abns" else path)
    if fam in ("ipv4", "ipv6"):
        host = address.host or ("::1" if fam == "ipv6" else "127.0.0.1")
        port = address.port_low or DEFAULT_SYSLOG_PORT
        family = socket.AF_INET6 if fam == "ipv6" or ":" in host else socket.AF_INET
        if family == socket.AF_INET:
            try:
                socket.inet_pton(socket.AF_INET, host)
            except OSError:
                host = socket.gethostbyname(host)
        return DatagramSender(family, (host, port))
    return None


#: Every sender of this process, for the count of dropped lines (``dropped_total``).
_SENDERS: weakref.WeakSet[Sender] = weakref.WeakSet()


def dropped_total() -> int:
    """Log lines this process could not send (Prometheus ``haproxy_process_dropped_logs_total``)."""
    return sum(s.dropped for s in list(_SENDERS))


@dataclass
class Target:
    """A resolved ``log`` line: sender, facility, level filter and message format."""

    sender: Sender
    facility: int
    max_level: int  # messages above (less severe) are not sent
    min_level: int  # more severe messages are lowered to this level (keeps emerg off consoles)
    fmt: str
    length: int

    def emit(self, level: int, message: str, *, tag: str, pid: int, hostname: str | None,
             now: float | None = None) -> None:
        if level > self.max_level:
            return
        level = max(level, self.min_level)
        # HAProxy cuts the message to `len`, then ends it with a newline
        self.sender.send(format_message(self.fmt, self.facility, level, message, tag=tag, pid=pid,
                                        hostname=hostname, now=now, length=self.length) + b"\n")


def make_targets(logs: Sequence) -> list[Target]:
    """Targets of a proxy's (or the global section's) ``log`` lines; unsupported ones are skipped."""
    out = []
    for lt in logs:
        sender = make_sender(lt.address)
        if sender is None:
            continue
        fac = FACILITIES.index(lt.facility) if lt.facility in FACILITIES else FACILITIES.index("local0")
        out.append(Target(
            sender=sender, facility=fac,
            max_level=LEVEL.get(lt.level, 7) if lt.level else 7,
            min_level=LEVEL.get(lt.minlevel, 0) if lt.minlevel else 0,
            fmt=lt.format or "rfc3164", length=lt.length or 1024,
        ))
    return out
