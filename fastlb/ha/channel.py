"""The sockets of one VRRP instance: raw IP protocol 112 in and out, multicast or unicast.

As keepalived: the receive socket joins 224.0.0.18 on the instance's interface (IP_ADD_MEMBERSHIP with
the interface index), is bound to the group so unicast VRRP is not mixed in (or to ``unicast_src_ip`` for
unicast instances) and to the device; IP_MULTICAST_ALL is off so groups joined elsewhere do not leak in.
The send socket builds its own IP header (IP_HDRINCL: TTL 255, TOS 0xc0), does not loop multicast back,
and sends with MSG_DONTROUTE to the group. Raw IPv4 sockets deliver the IP header, so the TTL check
reads it from the packet itself.
"""
from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address

IP_MULTICAST_ALL = 49
SO_PRIORITY_CONTROL = 6  # TC_PRIO_CONTROL


def _mreqn(group: IPv4Address, ifindex: int) -> bytes:
    return group.packed + b"\0\0\0\0" + struct.pack("=i", ifindex)


class VrrpChannel:
    def __init__(self, ifname: str | None, ifindex: int, group: IPv4Address, unicast_src: IPv4Address | None,
                 unicast: bool) -> None:
        self.ifname = ifname
        self.unicast = unicast
        self.group = group
        rx = socket.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 112)
        tx = socket.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 112)
        try:
            rx.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            if not unicast:
                rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _mreqn(group, ifindex))
                rx.bind((str(group), 0))
            elif unicast_src is not None:
                rx.bind((str(unicast_src), 0))
            if ifname:
                rx.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
                tx.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            tx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
            tx.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, SO_PRIORITY_CONTROL)
            if not unicast:
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(IPv4Address(0), ifindex))
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        except OSError:
            rx.close()
            tx.close()
            raise
        self.rx = rx
        self.tx = tx

    def send(self, packet: bytes, dst: IPv4Address) -> None:
        flags = 0 if self.unicast else socket.MSG_DONTROUTE
        self.tx.sendto(packet, flags, (str(dst), 0))

    def receive(self) -> bytes | None:
        try:
            return self.rx.recv(4096)
        except (BlockingIOError, InterruptedError):
            return None

    def close(self) -> None:
        self.rx.close()
        self.tx.close()
