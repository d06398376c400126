"""Socket addresses as HAProxy writes them (``str2sa_range``).

Forms: ``[family@]host:port``, ``*:port``, ``:port``, ``[v6addr]:port``, ``v6addr:port`` (the
last colon separates the port), port ranges ``low-high`` (bind only), port offsets ``+N``/``-N``
(servers only), a path starting with ``/`` (UNIX socket), ``unix@path``, ``abns@name``,
``fd@N``, ``sockpair@N``, and for ``log`` targets ``stdout``/``stderr``/``ring@name``.
Host names are only checked for syntax: they are resolved when the process starts, as HAProxy
does for servers (``init-addr``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Literal

from .model import Address

Usage = Literal["bind", "server", "log", "stats", "check"]

_FAMILY_PREFIXES = {
    "ipv4": "ipv4",
    "ipv6": "ipv6",
    "tcp": None,
    "tcp4": "ipv4",
    "tcp6": "ipv6",
    "udp": None,
    "udp4": "ipv4",
    "udp6": "ipv6",
    "unix": "unix",
    "abns": "abns",
    "fd": "fd",
    "sockpair": "sockpair",
    "ring": "ring",
    "stream": None,
    "dgram": None,
    "uxst": "unix",
    "uxdg": "unix",
}
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")


class AddressError(ValueError):
    """Malformed address; the message follows HAProxy's wording."""


def _ipv4_like(host: str) -> bool:
    if not re.fullmatch(r"[0-9.]+", host):
        return False
    try:
        socket.inet_aton(host)  # accepts HAProxy's (inet_aton's) short forms like 1.2.3
    except OSError:
        return False
    return True


def parse_address(text: str, usage: Usage, default_port: int | None = None) -> Address:
    """Parse one address. ``usage`` decides what is required: a port for ``bind`` and ``stats``
    (unless UNIX/fd), optional for ``server`` and ``log``; ranges for ``bind`` only, offsets
    for ``server`` only."""
    raw = text
    if not text:
        raise AddressError(f"missing address in '{raw}'")
    family: str | None = None
    m = re.match(r"^([a-z0-9+]+)@", text)
    if m:
        prefix = m.group(1).split("+")[-1]
        if prefix not in _FAMILY_PREFIXES:
            head = text.rsplit(":", 1)[0] if ":" in text else text
            raise AddressError(f"invalid address: '{head}' in '{raw}'")
        family = _FAMILY_PREFIXES[prefix]
        text = text[m.end() :]
    if usage == "log" and family is None and text in ("stdout", "stderr"):
        return Address(family=text, text=raw)  # type: ignore[arg-type]
    if family in ("unix", "abns") or (family is None and text.startswith("/")):
        if not text:
            raise AddressError(f"missing path in '{raw}'")
        return Address(family="abns" if family == "abns" else "unix", path=text, text=raw)
    if family in ("fd", "sockpair"):
        if not text.isdigit():
            raise AddressError(f"invalid file descriptor '{text}' in '{raw}'")
        return Address(family=family, fd=int(text), text=raw)  # type: ignore[arg-type]
    if family == "ring":
        return Address(family="ring", path=text, text=raw)
    # host[:port]
    host: str
    port_text: str | None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise AddressError(f"invalid address: '{text}' in '{raw}'")
        host = text[1:end]
        rest = text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise AddressError(f"invalid address: '{text}' in '{raw}'")
        port_text = rest[1:] if rest else None
        family = family or "ipv6"
    elif ":" in text:
        host, port_text = text.rsplit(":", 1)
    else:
        host, port_text = text, None
    if host == "*":
        host = ""
    if host and family != "ipv6" and ":" in host:
        family = "ipv6"
    if host:
        if family == "ipv6" or ":" in host:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise AddressError(f"invalid address: '{host}' in '{raw}'") from None
            family = "ipv6"
        elif _ipv4_like(host):
            family = family or "ipv4"
        elif re.fullmatch(r"[0-9.]+", host) or not _HOSTNAME_RE.match(host):
            raise AddressError(f"invalid address: '{host}' in '{raw}'")
        else:
            family = family or "ipv4"  # a host name; resolved at start-up
    family = family or "ipv4"
    port_low = port_high = offset = None
    if port_text is None or port_text == "":
        if usage in ("bind", "stats"):
            raise AddressError(f"missing port specification in '{raw}'")
        port_low = default_port
    elif port_text[0] in "+-" and usage == "server":
        if not port_text[1:].isdigit():
            raise AddressError(f"invalid port offset '{port_text}'")
        offset = int(port_text)
    else:
        if "-" in port_text:
            if usage != "bind":
                raise AddressError(f"port range not allowed in '{raw}'")
            lo, hi = port_text.split("-", 1)
            if not (lo.isdigit() and hi.isdigit()) or not (1 <= int(lo) <= int(hi) <= 65535):
                raise AddressError(f"invalid port range '{port_text}'")
            port_low, port_high = int(lo), int(hi)
        else:
            if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
                raise AddressError(f"invalid port '{port_text}'")
            port_low = port_high = int(port_text)
            if port_low == 0 and usage in ("bind", "stats"):
                raise AddressError(f"invalid port '{port_text}'")
    return Address(
        family=family,
        host=host,
        port_low=port_low,
        port_high=port_high if port_low else None,  # type: ignore[arg-type]
        port_offset=offset,
        text=raw,
    )


def normalise_network(text: str) -> str:
    """``127.0.0.0/8`` or ``10.0.0.1`` (a host) into a canonical network string; raises ValueError."""
    if "/" in text:
        addr, _, mask = text.partition("/")
        if "." in mask:  # dotted netmask, as HAProxy accepts
            net = ipaddress.ip_network(f"{addr}/{mask}", strict=False)
        else:
            net = ipaddress.ip_network(text, strict=False)
    else:
        net = ipaddress.ip_network(text, strict=False)
    return str(net)
