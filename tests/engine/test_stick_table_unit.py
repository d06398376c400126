"""The shared stick table (fastlb._stk, csrc/fl_stk.c): expiry, refresh on match, the oldest entry
making room, nopurge, HAProxy's sample casts to the table type, and several processes writing the
same table at once."""
from __future__ import annotations

import os

import pytest
from fastlb._stk import StickTable


def ip(a: str) -> tuple[int, bytes]:
    import socket
    return (4, socket.inet_aton(a))


def test_expiry_and_refresh_on_match():
    t = StickTable("t", "ip", size=10, expire_ms=1000)
    assert t.store(ip("10.0.0.1"), 1, now_ms=5000)
    assert t.store(ip("10.0.0.2"), 2, now_ms=5100)
    assert t.lookup(ip("10.0.0.1"), now_ms=5900) == (1, -1)      # found, and refreshed to 6900
    assert t.lookup(ip("10.0.0.2"), now_ms=6100) is None         # 6100 >= 5100 + 1000
    assert t.lookup(ip("10.0.0.1"), now_ms=6800) == (1, -1)
    assert [e[3] for e in t.entries(now_ms=7000)] == [800]       # 6800 + 1000 - 7000
    assert t.used(now_ms=7801) == 0


def test_full_table_drops_the_least_recently_used_entry():
    t = StickTable("t", "integer", size=3, expire_ms=0)
    for k in (1, 2, 3):
        t.store(k, k, now_ms=k)
    t.lookup(1, now_ms=10)                          # 1 is now the most recent
    t.store(4, 4, now_ms=11)                        # 2 goes
    assert sorted(int.from_bytes(e[0], "big") for e in t.entries(now_ms=12)) == [1, 3, 4]
    assert all(e[3] is None for e in t.entries(now_ms=12))   # no expire: never expires


def test_nopurge_refuses_new_entries_when_full():
    t = StickTable("t", "string", length=8, size=2, expire_ms=100, nopurge=True)
    assert t.store(b"a", 1, now_ms=0) and t.store(b"b", 2, now_ms=0)
    assert not t.store(b"c", 3, now_ms=50)
    assert t.store(b"a", 5, now_ms=50)              # an existing key is still updated
    assert t.store(b"c", 3, now_ms=120)             # b expired: room again
    assert sorted(e[0] for e in t.entries(now_ms=120)) == [b"a", b"c"]


def test_keys_cast_as_haproxy():
    t4 = StickTable("a", "ip", size=1)
    assert t4.key_of(ip("1.2.3.4")) == bytes([1, 2, 3, 4])
    assert t4.key_of((6, b"\0" * 10 + b"\xff\xff" + bytes([5, 6, 7, 8]))) == bytes([5, 6, 7, 8])
    assert t4.key_of((6, b"\x20\x01" + b"\0" * 14)) is None         # not v4-mapped: no key
    assert t4.key_of(b"9.8.7.6") == bytes([9, 8, 7, 6]) and t4.key_of(b"nope") is None
    t6 = StickTable("b", "ipv6", size=1)
    assert t6.key_of(ip("1.2.3.4")) == b"\0" * 10 + b"\xff\xff" + bytes([1, 2, 3, 4])
    ts = StickTable("c", "string", length=5, size=1)
    assert ts.key_of(b"abcdefgh") == b"abcde" and ts.key_of(ip("10.1.2.3")) == b"10.1."
    assert ts.key_of(42) == b"42"
    ti = StickTable("d", "integer", size=1)
    assert ti.key_of(b"-12abc") == (-12 & 0xffffffff).to_bytes(4, "big") and ti.key_of(b"") is None
    assert ti.key_text(ti.key_of(ip("0.0.1.2"))) == "258"
    tb = StickTable("e", "binary", length=4, size=1)
    assert tb.key_of(b"ab") == b"ab\0\0" and tb.key_of(b"abcdef") == b"abcd"
    assert ts.key_text(b"a b=\\") == "a\\ b\\=\\\\"          # HAProxy's dump_text escapes


def test_processes_share_one_table():
    """Forked writers (as the workers are) all land in the same table, under its lock."""
    t = StickTable("t", "integer", size=4096, expire_ms=60000)
    writers, per = 4, 500
    pids = []
    for w in range(writers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for i in range(per):
                    t.store(w * per + i, w + 1)
                    t.lookup(i)                     # contend on entries of the others too
            except BaseException:  # noqa: BLE001 - the child must exit, never return into pytest
                code = 1
            os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    entries = t.entries()
    assert len(entries) == writers * per
    for key, sid, _, _ in entries:
        assert sid == int.from_bytes(key, "big") // per + 1


def test_bad_arguments():
    with pytest.raises(ValueError):
        StickTable("t", "foo", size=1)
    with pytest.raises(ValueError):
        StickTable("t", "ip", size=0)
    with pytest.raises(ValueError):
        StickTable("t", "string", length=100000, size=1)
