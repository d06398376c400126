"""VRRP codec: RFC 1071 checksum, v2/v3 build and the checks keepalived applies on receipt."""
from __future__ import annotations

import struct
from ipaddress import IPv4Address as A

import pytest

from fastlb.ha.packet import (
    AUTH_NONE,
    AUTH_PASS,
    Advert,
    PacketError,
    build_packet,
    inet_checksum,
    parse_packet,
    peek_vrid,
)

GROUP = A("224.0.0.18")


def test_rfc1071_example():
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
    assert inet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def v2(**kw) -> Advert:
    base = {"version": 2, "vrid": 51, "priority": 100, "addresses": (A("192.0.2.10"),), "adver_int": 1.0,
            "auth_type": AUTH_PASS, "auth_data": b"s3cret", "src": A("192.0.2.1"), "dst": GROUP}
    base.update(kw)
    return Advert(**base)


def test_v2_layout_and_roundtrip():
    pkt = build_packet(v2())
    assert pkt[0] == 0x45 and pkt[1] == 0xC0 and pkt[8] == 255 and pkt[9] == 112
    assert struct.unpack("!H", pkt[2:4])[0] == len(pkt) == 20 + 8 + 4 + 8
    assert pkt[20] == 0x21 and pkt[21] == 51 and pkt[22] == 100 and pkt[23] == 1
    assert pkt[24] == AUTH_PASS and pkt[25] == 1
    assert pkt[-8:] == b"s3cret\0\0"
    assert inet_checksum(pkt[20:]) == 0
    adv = parse_packet(pkt, 2, 1.0, AUTH_PASS, b"s3cret", multicast=True)
    assert (adv.vrid, adv.priority, adv.addresses, adv.src) == (51, 100, (A("192.0.2.10"),), A("192.0.2.1"))
    assert peek_vrid(pkt) == 51


def test_v3_checksum_covers_the_pseudo_header():
    adv = Advert(3, 7, 200, (A("192.0.2.20"), A("192.0.2.21")), 0.25, src=A("192.0.2.2"), dst=GROUP)
    pkt = build_packet(adv)
    assert struct.unpack("!H", pkt[24:26])[0] == 25  # centiseconds, reserved bits zero
    parsed = parse_packet(pkt, 3, 1.0, AUTH_NONE, b"", multicast=True)
    assert parsed.adver_int == 0.25 and parsed.addresses == adv.addresses
    forged = pkt[:12] + A("192.0.2.99").packed + pkt[16:]  # same VRRP bytes, other source address
    with pytest.raises(PacketError, match="Invalid VRRPv3 checksum"):
        parse_packet(forged, 3, 1.0, AUTH_NONE, b"", multicast=True)


@pytest.mark.parametrize("mutate,reason,drop", [
    (lambda p: p[:8] + b"\x40" + p[9:], "invalid TTL", False),
    (lambda p: p[:-8] + b"wrongpw\0", "invalid passwd", False),
    (lambda p: p[:25] + b"\x02" + p[26:], "advertisement interval mismatch", True),
    (lambda p: p[:30] + bytes([p[30] ^ 1]) + p[31:], "Invalid VRRPv2 checksum", False),
    (lambda p: p[:24] + b"\x00" + p[25:], "received a 0 auth, expecting 1", False),
    (lambda p: p + b"\0\0\0\0", "too long", False),
])
def test_v2_rejections(mutate, reason, drop):
    with pytest.raises(PacketError, match=reason) as info:
        parse_packet(mutate(build_packet(v2())), 2, 1.0, AUTH_PASS, b"s3cret", multicast=True)
    assert info.value.drop is drop


def test_version_and_unicast_expectations():
    pkt = build_packet(v2())
    with pytest.raises(PacketError, match="wrong version"):
        parse_packet(pkt, 3, 1.0, AUTH_NONE, b"", multicast=True)
    with pytest.raises(PacketError, match="Expected unicast packet but received multicast"):
        parse_packet(pkt, 2, 1.0, AUTH_PASS, b"s3cret", multicast=False)
    unicast = build_packet(v2(dst=A("192.0.2.2"), ttl=64))
    assert parse_packet(unicast, 2, 1.0, AUTH_PASS, b"s3cret", multicast=False).ttl == 64
