"""Gratuitous ARP through AF_PACKET, in keepalived's form: a broadcast ARP request "who-has VIP tell
VIP" from the interface's MAC, target hardware address ff:ff:ff:ff:ff:ff. Neighbours that know the VIP
update their entry to the new master's MAC (Linux does so by default; it does not create new entries)."""
from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address

ETH_P_ARP = 0x0806
ARPOP_REQUEST = 1
BROADCAST = b"\xff" * 6


def build_garp(mac: bytes, address: IPv4Address) -> bytes:
    ether = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, ARPOP_REQUEST) + mac + address.packed + BROADCAST + address.packed
    return ether + arp


def parse_garp(frame: bytes) -> tuple[bytes, IPv4Address, IPv4Address] | None:
    """(sender MAC, sender IP, target IP) of an ARP request frame, else None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, ARPOP_REQUEST):
        return None
    return frame[22:28], IPv4Address(frame[28:32]), IPv4Address(frame[38:42])


class GarpSender:
    """One AF_PACKET socket per interface, opened lazily."""

    def __init__(self) -> None:
        self._socks: dict[str, socket.socket] = {}

    def send(self, ifname: str, mac: bytes, address: IPv4Address, count: int = 1) -> int:
        sock = self._socks.get(ifname)
        if sock is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.htons(ETH_P_ARP))
            sock.bind((ifname, ETH_P_ARP))
            self._socks[ifname] = sock
        frame = build_garp(mac, address)
        sent = 0
        for _ in range(count):
            try:
                sock.send(frame)
                sent += 1
            except OSError:
                break  # link down: the next transition will send them again
        return sent

    def close(self) -> None:
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
