"""VRRP advertisements: building and checking them as keepalived 2.2.7 does (IPv4 only).

Wire formats: RFC 3768 section 5.1 (v2: auth type, advertisement interval in seconds, 8 bytes of
authentication data after the addresses, checksum over the VRRP message) and RFC 5798 section 5.1 (v3:
12-bit maximum advertisement interval in centiseconds, checksum including the IPv4 pseudo-header).
The IP header is built here too (sent with IP_HDRINCL, as keepalived does): TOS 0xc0 (network control),
TTL 255, protocol 112. The kernel fills in the IP checksum and identification.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address

IPPROTO_VRRP = 112
VRRP_TTL = 255
VRRP_TYPE_ADVERT = 1
AUTH_NONE = 0
AUTH_PASS = 1
AUTH_AH = 2
IP_TOS_NETWORK_CONTROL = 0xC0
_IP_HEADER = struct.Struct("!BBHHHBBH4s4s")
_VRRP_HEADER = struct.Struct("!BBBBBBH")  # vers_type vrid prio naddr | auth/adv (v2) or adv hi/lo (v3) | csum


def inet_checksum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 ones' complement sum, returned complemented (0 means 'verifies' when summed with it)."""
    if len(data) % 2:
        data += b"\0"
    total = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: IPv4Address, dst: IPv4Address, length: int) -> bytes:
    return src.packed + dst.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, length)


@dataclass(frozen=True)
class Advert:
    """A received (or to be sent) VRRP advertisement."""

    version: int
    vrid: int
    priority: int
    addresses: tuple[IPv4Address, ...]
    adver_int: float  # seconds (v2: whole seconds; v3: centisecond resolution)
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    src: IPv4Address = field(default_factory=lambda: IPv4Address(0))
    dst: IPv4Address = field(default_factory=lambda: IPv4Address(0))
    ttl: int = VRRP_TTL


def build_vrrp(adv: Advert) -> bytes:
    """The VRRP message (no IP header) with its checksum."""
    if adv.version == 2:
        tail = struct.pack("!BB", adv.auth_type, int(adv.adver_int) & 0xFF)
    else:
        tail = struct.pack("!H", round(adv.adver_int * 100) & 0x0FFF)
    body = bytes([(adv.version << 4) | VRRP_TYPE_ADVERT, adv.vrid, adv.priority, len(adv.addresses)]) + tail
    addrs = b"".join(a.packed for a in adv.addresses)
    auth = adv.auth_data.ljust(8, b"\0")[:8] if adv.version == 2 else b""
    message = body + b"\0\0" + addrs + auth
    if adv.version == 3:
        csum = inet_checksum(_pseudo_header(adv.src, adv.dst, len(message)) + message)
    else:
        csum = inet_checksum(message)
    return message[:6] + struct.pack("!H", csum) + message[8:]


def build_packet(adv: Advert) -> bytes:
    """IP header + VRRP message, for a raw socket with IP_HDRINCL."""
    message = build_vrrp(adv)
    header = _IP_HEADER.pack(0x45, IP_TOS_NETWORK_CONTROL, 20 + len(message), 0, 0, adv.ttl, IPPROTO_VRRP, 0,
                             adv.src.packed, adv.dst.packed)
    return header + message


class PacketError(Exception):
    """An advertisement keepalived would refuse. ``drop`` marks those it ignores without counting them as
    errors (different interval in v2: another router on the VRID)."""

    def __init__(self, reason: str, drop: bool = False) -> None:
        super().__init__(reason)
        self.drop = drop


def peek_vrid(packet: bytes) -> int | None:
    """The VRID of a raw IPv4 packet carrying VRRP, or None when it is not one."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != IPPROTO_VRRP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8:
        return None
    return packet[ihl + 1]


def parse_packet(packet: bytes, version: int, adver_int: float, auth_type: int, auth_data: bytes,
                 multicast: bool) -> Advert:
    """Check a raw IPv4 packet as keepalived's vrrp_check_packet does and decode it.

    ``version``/``adver_int``/``auth_*`` are the receiving instance's; raises :class:`PacketError`."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise PacketError("not an IPv4 packet")
    ihl = (packet[0] & 0x0F) * 4
    (_, _, tot_len, _, _, ttl, proto, _, src, dst) = _IP_HEADER.unpack_from(packet, 0)
    if proto == 51:
        raise PacketError("Received AH header but auth type not AH")
    if proto != IPPROTO_VRRP:
        raise PacketError("not a VRRP packet", drop=True)
    if len(packet) < ihl + 8:
        raise PacketError("vrrp packet too short")
    vers_type, vrid, prio, naddr, b4, b5, _csum = _VRRP_HEADER.unpack_from(packet, ihl)
    pkt_version = vers_type >> 4
    expected = ihl + 8 + 4 * naddr + (8 if pkt_version == 2 else 0)
    if len(packet) != expected:
        raise PacketError(f"vrrp packet too {'long' if len(packet) > expected else 'short'}, length "
                          f"{len(packet)} and expect {expected}")
    if multicast and ttl != VRRP_TTL:
        raise PacketError(f"invalid TTL/HL. Received {ttl} and expect {VRRP_TTL}")
    if pkt_version != version:
        raise PacketError(f"wrong version. Received {pkt_version} and expect {version}")
    if version == 2:
        if b4 not in (AUTH_NONE, AUTH_PASS, AUTH_AH):
            raise PacketError(f"Invalid auth type: {b4}")
        if b4 != auth_type:
            raise PacketError(f"received a {b4} auth, expecting {auth_type}!")
        if auth_type == AUTH_PASS and packet[tot_len - 8:tot_len] != auth_data.ljust(8, b"\0")[:8]:
            raise PacketError("received an invalid passwd!")
        if b5 != int(adver_int):
            raise PacketError(f"advertisement interval mismatch mine={int(adver_int)} sec rcv'd={b5} sec",
                              drop=True)
        pkt_adver = float(b5)
    else:
        pkt_adver = (((b4 << 8) | b5) & 0x0FFF) / 100.0
    if vers_type & 0x0F != VRRP_TYPE_ADVERT:
        raise PacketError(f"Invalid packet type. {vers_type & 0x0F} and expect {VRRP_TYPE_ADVERT}")
    if tot_len != len(packet):
        raise PacketError(f"ip_tot_len mismatch against received length. {tot_len} and received {len(packet)}")
    vrrp_len = 8 + 4 * naddr
    if version == 3:
        message = packet[ihl:ihl + vrrp_len]
        if inet_checksum(_pseudo_header(IPv4Address(src), IPv4Address(dst), vrrp_len) + message) != 0:
            raise PacketError("Invalid VRRPv3 checksum")
    else:
        if inet_checksum(packet[ihl:ihl + vrrp_len + 8]) != 0:
            raise PacketError("Invalid VRRPv2 checksum")
    dst_addr = IPv4Address(dst)
    if dst_addr.is_multicast != multicast:
        raise PacketError(f"Expected {'mult' if multicast else 'un'}icast packet but received "
                          f"{'un' if multicast else 'mult'}icast packet")
    addrs = tuple(IPv4Address(packet[ihl + 8 + 4 * k: ihl + 12 + 4 * k]) for k in range(naddr))
    auth = packet[tot_len - 8:tot_len] if version == 2 else b""
    return Advert(version=pkt_version, vrid=vrid, priority=prio, addresses=addrs, adver_int=pkt_adver,
                  auth_type=b4 if version == 2 else AUTH_NONE, auth_data=auth, src=IPv4Address(src),
                  dst=dst_addr, ttl=ttl)
