"""rtnetlink over AF_NETLINK, messages built with ``struct`` (no pyroute2): addresses and links.

Requests are synchronous (one request, wait for the kernel's ACK): adding or removing an address takes
tens of microseconds, so doing it inline in the event loop is simpler than a queue. The monitor socket
is separate and non-blocking, for the event loop's reader.
"""
from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 3, 4, 8
IFA_F_SECONDARY = 0x01
IFLA_ADDRESS, IFLA_IFNAME = 1, 3
IFF_UP, IFF_RUNNING = 0x1, 0x40
RTMGRP_LINK, RTMGRP_IPV4_IFADDR = 0x1, 0x10

_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBi")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")


class NetlinkError(OSError):
    pass


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attr(kind: int, data: bytes) -> bytes:
    length = _RTATTR.size + len(data)
    return _RTATTR.pack(length, kind) + data + b"\0" * (_align(length) - length)


def _attrs(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        out[kind] = data[offset + _RTATTR.size: offset + length]
        offset += _align(length)
    return out


@dataclass(frozen=True)
class AddressInfo:
    ifindex: int
    address: IPv4Address
    prefixlen: int
    flags: int
    scope: int
    label: str

    @property
    def secondary(self) -> bool:
        return bool(self.flags & IFA_F_SECONDARY)


@dataclass(frozen=True)
class LinkInfo:
    ifindex: int
    name: str
    flags: int
    mac: bytes

    @property
    def up(self) -> bool:
        """keepalived's IF_FLAGS_UP: administratively up and running (carrier)."""
        return bool(self.flags & IFF_UP) and bool(self.flags & IFF_RUNNING)


def parse_messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, flags, payload) for each netlink message in a datagram."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        yield kind, flags, data[offset + _NLMSGHDR.size: offset + length]
        offset += _align(length)


def parse_address(payload: bytes) -> AddressInfo | None:
    family, prefixlen, flags, scope, index = _IFADDRMSG.unpack_from(payload, 0)
    if family != socket.AF_INET:
        return None
    attrs = _attrs(payload[_IFADDRMSG.size:])
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None or len(raw) != 4:
        return None
    if IFA_FLAGS in attrs and len(attrs[IFA_FLAGS]) == 4:
        flags = struct.unpack("=I", attrs[IFA_FLAGS])[0]
    label = attrs.get(IFA_LABEL, b"").rstrip(b"\0").decode(errors="replace")
    return AddressInfo(index, IPv4Address(raw), prefixlen, flags, scope, label)


def parse_link(payload: bytes) -> LinkInfo:
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(payload, 0)
    attrs = _attrs(payload[_IFINFOMSG.size:])
    name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")
    return LinkInfo(index, name, flags, attrs.get(IFLA_ADDRESS, b""))


class Netlink:
    """A request socket for rtnetlink."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def _request(self, kind: int, flags: int, payload: bytes) -> list[tuple[int, int, bytes]]:
        self._seq += 1
        seq = self._seq
        message = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), kind, flags | NLM_F_REQUEST, seq, 0) + payload
        self.sock.sendto(message, (0, 0))
        replies: list[tuple[int, int, bytes]] = []
        while True:
            data = self.sock.recv(65536)
            for mtype, mflags, body in parse_messages(data):
                if mtype == NLMSG_ERROR:
                    code = struct.unpack_from("=i", body, 0)[0]
                    if code:
                        raise NetlinkError(-code, os.strerror(-code))
                    return replies
                if mtype == NLMSG_DONE:
                    return replies
                replies.append((mtype, mflags, body))
                if not mflags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return replies

    def addresses(self) -> list[AddressInfo]:
        out = []
        for mtype, _f, body in self._request(RTM_GETADDR, NLM_F_DUMP, _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)):
            if mtype == RTM_NEWADDR:
                info = parse_address(body)
                if info is not None:
                    out.append(info)
        return out

    def links(self) -> list[LinkInfo]:
        payload = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        return [parse_link(body) for mtype, _f, body in self._request(RTM_GETLINK, NLM_F_DUMP, payload)
                if mtype == RTM_NEWLINK]

    def _address_message(self, ifindex: int, address: IPv4Address, prefixlen: int, label: str | None,
                         broadcast: IPv4Address | None, scope: int) -> bytes:
        payload = _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, scope, ifindex)
        payload += _attr(IFA_LOCAL, address.packed) + _attr(IFA_ADDRESS, address.packed)
        if broadcast is not None:
            payload += _attr(IFA_BROADCAST, broadcast.packed)
        if label:
            payload += _attr(IFA_LABEL, label.encode()[:15] + b"\0")
        return payload

    def add_address(self, ifindex: int, address: IPv4Address, prefixlen: int, label: str | None = None,
                    broadcast: IPv4Address | None = None, scope: int = 0) -> bool:
        """Add an address; False when it was already there."""
        payload = self._address_message(ifindex, address, prefixlen, label, broadcast, scope)
        try:
            self._request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, payload)
        except NetlinkError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        return True

    def del_address(self, ifindex: int, address: IPv4Address, prefixlen: int) -> bool:
        """Remove an address; False when it was not there."""
        payload = self._address_message(ifindex, address, prefixlen, None, None, 0)
        try:
            self._request(RTM_DELADDR, NLM_F_ACK, payload)
        except NetlinkError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                return False
            raise
        return True


def monitor_socket() -> socket.socket:
    """A non-blocking socket receiving link and IPv4 address changes."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK,
                         NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
    return sock
