"""Behaviour of fastlb._lb.Balancer: distributions, state changes, limits, error codes. Exactness
against HAProxy itself is in test_vectors.py; these tests state the properties users rely on."""

from __future__ import annotations

import collections
import ipaddress
import itertools
import random

import pytest
from fastlb._lb import FULL, INTERNAL, NOSRV, STATIC_WEIGHT_ERROR, Balancer, avalanche, hash_key

from fastlb.lb import ServerSpec


def servers(*weights, **kw):
    return [ServerSpec(f"s{i + 1}", weight=w, **kw) for i, w in enumerate(weights)]


def count(b: Balancer, n: int, **key) -> collections.Counter:
    c = collections.Counter()
    for _ in range(n):
        r = b.py_pick(**key)
        c[b.names[r] if r >= 0 else r] += 1
        if r >= 0:
            b.py_take(r)
            b.py_release(r)
    return c


# ---- round robin ----


@pytest.mark.parametrize("algo", ["roundrobin", "static-rr"])
@pytest.mark.parametrize("weights", [(1, 1, 1, 1), (3, 1), (5, 2, 1), (1, 2, 3, 4), (10, 1), (256, 1, 7)])
def test_round_robin_exact_proportions(algo, weights):
    b = Balancer(algo, servers(*weights))
    total = sum(weights)
    for rounds in (1, 3):
        c = count(b, total * rounds)
        assert c == {f"s{i + 1}": w * rounds for i, w in enumerate(weights)}


@pytest.mark.parametrize("algo", ["roundrobin", "static-rr"])
def test_round_robin_is_smooth(algo):
    # weights 5/2/1: the heavy server never takes more than its share in a row, the light ones are
    # spread over the window instead of bunched together
    b = Balancer(algo, servers(5, 2, 1))
    seq = [b.pick_name() for _ in range(16)]
    runs = max(len(list(g)) for _, g in itertools.groupby(seq))
    assert runs <= 2
    assert seq[:8].count("s2") == 2 and seq[:8].count("s3") == 1


def test_roundrobin_weight_change_applies_and_static_rr_refuses():
    b = Balancer("roundrobin", servers(1, 1))
    b.set_weight(0, 3, now=0)
    assert b.weight(0) == 3 and b.eweight(0) == 48
    # after the window in progress, the new proportions hold exactly
    count(b, 2)
    assert count(b, 40) == {"s1": 30, "s2": 10}
    s = Balancer("static-rr", servers(1, 1))
    with pytest.raises(ValueError, match="only accepts weights '0%' and '100%'"):
        s.set_weight(0, 3)
    assert str(STATIC_WEIGHT_ERROR).startswith("Backend is using a static LB algorithm")
    s.set_weight(0, 0)
    assert count(s, 4) == {"s2": 4}
    s.set_weight(0, 1)
    assert count(s, 4) == {"s1": 2, "s2": 2}


def test_stats_weights_are_in_user_units():
    for algo in ("roundrobin", "static-rr", "uri"):
        b = Balancer(algo, servers(10, 20, 30))
        assert [b.weight(i) for i in range(3)] == [10, 20, 30]
        assert b.stats_weight == 60
    assert Balancer("static-rr", servers(10, 20, 30)).total_weight == 6  # map of weight/GCD slots
    assert Balancer("roundrobin", servers(10, 20, 30)).total_weight == 960  # x16


def test_weight_zero_servers_get_nothing():
    for algo in ("roundrobin", "static-rr", "leastconn", "first", "random", "source", "uri"):
        b = Balancer(algo, servers(0, 1, 0, 2))
        seen = set()
        for i in range(200):
            r = b.py_pick(src=f"10.0.{i // 256}.{i % 256}", uri=f"/k{i}")
            seen.add(b.names[r])
        assert seen <= {"s2", "s4"}, algo
        assert "s2" in seen or algo == "first"


def test_no_usable_server_and_unix_clients():
    b = Balancer("roundrobin", servers(1, 1))
    b.set_usable(0, False)
    b.set_usable(1, False)
    assert b.py_pick() == NOSRV
    assert Balancer("roundrobin", []).py_pick() == NOSRV
    # balance source needs an IP address: HAProxy fails the request (SRV_STATUS_INTERNAL)
    assert Balancer("source", servers(1, 1)).py_pick(src=None) == INTERNAL


def test_redispatch_avoids_the_failed_server():
    for algo in ("roundrobin", "static-rr", "leastconn", "first"):
        b = Balancer(algo, servers(1, 1, 1))
        for _ in range(6):
            assert b.py_pick(avoid=1) != 1, algo
        one = Balancer(algo, servers(1))
        assert one.py_pick(avoid=0) == 0  # the only server is still better than none
    # consistent hashing moves on to the next point of the ring
    c = Balancer("uri", servers(1, 1, 1), hash_type="consistent")
    first = c.py_pick(uri="/x")
    assert c.py_pick(uri="/x", avoid=first) not in (first, NOSRV)


# ---- leastconn, first ----


def test_leastconn_follows_connections_relative_to_weight():
    b = Balancer("leastconn", servers(1, 1, 1))
    held = []
    for _ in range(3):
        held.append(b.py_pick())
        b.py_take(held[-1])
    assert sorted(held) == [0, 1, 2]  # equal loads take turns
    b.py_release(held[1])
    assert b.py_pick() == held[1]  # the least loaded wins
    w = Balancer("leastconn", servers(3, 1))
    for _ in range(8):
        r = w.py_pick()
        w.py_take(r)
    assert (w.served(0), w.served(1)) == (6, 2)


def test_leastconn_ties_rotate_like_haproxy():
    b = Balancer("leastconn", servers(1, 1, 1))
    assert [b.pick_name() for _ in range(6)] == ["s1"] * 6  # nothing taken: same server
    seq = []
    for _ in range(6):  # short requests: a server moves behind its equals each time it is used
        r = b.py_pick()
        b.py_take(r)
        b.py_release(r)
        seq.append(b.names[r])
    assert seq == ["s1", "s2", "s3"] * 2


def test_first_fills_servers_in_id_order_up_to_maxconn():
    b = Balancer(
        "first",
        [
            ServerSpec("a", id=3, maxconn=2),
            ServerSpec("b", id=1, maxconn=1),
            ServerSpec("c", id=2, maxconn=2),
        ],
    )
    got = []
    for _ in range(5):
        r = b.py_pick()
        got.append(b.names[r])
        b.py_take(r)
    assert got == ["b", "c", "c", "a", "a"]
    assert b.py_pick() == FULL  # everything at maxconn: the request waits in the backend queue
    b.py_release(b.index("c"))
    assert b.pick_name() == "c"


def test_maxconn_skips_full_servers_in_round_robin():
    b = Balancer("roundrobin", servers(1, 1, 1, maxconn=1))
    a = b.py_pick()
    b.py_take(a)
    for _ in range(4):
        assert b.py_pick() != a
    for s in range(3):
        if b.served(s) == 0:
            b.py_take(s)
    assert b.py_pick() == FULL


# ---- backups ----


def test_backup_servers_only_when_no_active_one():
    srv = servers(1, 1) + [ServerSpec("b1", weight=1, backup=True), ServerSpec("b2", weight=1, backup=True)]
    for algo in ("roundrobin", "static-rr", "leastconn", "uri", "random"):
        b = Balancer(algo, srv)
        assert set(count(b, 8, uri="/x")) <= {"s1", "s2"}
        b.set_usable(0, False)
        b.set_usable(1, False)
        assert set(count(b, 8, uri="/x")) == {"b1"}, algo  # the first backup only
        ab = Balancer(algo, srv, allbackups=True)
        ab.set_usable(0, False)
        ab.set_usable(1, False)
        used = set()
        for i in range(40):
            r = ab.py_pick(uri=f"/k{i}")
            ab.py_take(r)
            ab.py_release(r)
            used.add(ab.names[r])
        assert used == {"b1", "b2"}, algo
        b.set_usable(1, True)
        assert set(count(b, 8, uri="/x")) == {"s2"}


# ---- hashing ----


def test_source_hash_ipv4_is_the_address_and_ipv6_xors_its_words():
    b = Balancer("source", servers(1, 1, 1, 1, 1))
    assert b.key_hash(src="10.0.0.7") == int(ipaddress.ip_address("10.0.0.7"))
    v6 = ipaddress.ip_address("2001:db8::1:2")
    words = [int.from_bytes(v6.packed[i : i + 4], "big") for i in range(0, 16, 4)]
    assert b.key_hash(src=str(v6)) == words[0] ^ words[1] ^ words[2] ^ words[3]
    # map-based: hash % total weight picks the slot
    assert b.py_pick(src="10.0.0.7") == int(ipaddress.ip_address("10.0.0.7")) % 5
    av = Balancer("source", servers(1, 1), hash_type="map-based", hash_function="sdbm", avalanche=True)
    assert av.key_hash(src="10.0.0.7") == avalanche(int(ipaddress.ip_address("10.0.0.7")))


def test_uri_options_select_the_hashed_bytes():
    def h(uri, **kw):
        return Balancer("uri", servers(1, 1), **kw).key_hash(uri=uri)

    assert h("/a/b?c=d") == hash_key("sdbm", "/a/b")
    assert h("/a/b?c=d", uri_whole=True) == hash_key("sdbm", "/a/b?c=d")
    assert h("/abcdef", uri_len=3) == hash_key("sdbm", "/ab")
    assert h("/a/b/c/d", uri_depth=2) == hash_key("sdbm", "/a/b")
    assert h("/a/b/c/d", uri_depth=2, uri_len=3) == hash_key("sdbm", "/a/")
    assert h("http://host:8080/p/q?x", uri_path_only=True) == hash_key("sdbm", "/p/q")
    assert h("http://host:8080/p/q?x", uri_path_only=True, uri_whole=True) == hash_key("sdbm", "/p/q?x")
    assert h("http://host?x", uri_path_only=True) == hash_key("sdbm", "")
    assert h("/p", hash_function="crc32") == hash_key("crc32", "/p")


def test_url_param_and_header_values():
    p = Balancer("url_param", servers(1, 1, 1), name="userid")
    assert p.key_hash(uri="/x?a=1&userid=bob&c=3") == hash_key("sdbm", "bob")
    assert p.key_hash(uri="/x?userid=") == hash_key("sdbm", "")
    assert p.key_hash(uri="/x?xuserid=1") is None
    assert p.key_hash(uri="/x?USERID=1") is None  # parameter names are case-sensitive
    h = Balancer("hdr", servers(1, 1, 1), name="X-User")
    assert h.hdr_name == b"x-user"
    assert h.key_hash(uri="/", headers=[" alice , bob"]) == hash_key("sdbm", "alice")
    assert h.key_hash(uri="/", headers=['"a,b", c']) == hash_key("sdbm", '"a,b"')
    assert h.key_hash(uri="/", headers=[", x", "second"]) is None  # empty first value: round robin
    assert h.key_hash(uri="/", headers=[]) is None
    d = Balancer("hdr", servers(1, 1, 1), name="Host", use_domain_only=True)
    for host, part in [
        ("haproxy.1wt.eu", "1wt"),
        ("www.example.com", "example"),
        ("localhost", "localhost"),
        ("example.com", "example"),
        ("a.b.", "b"),
    ]:
        assert d.key_hash(uri="/", headers=[host]) == hash_key("sdbm", part), host


def test_rdp_cookie_extraction():
    def pkt(line: bytes) -> bytes:
        body = b"\xe0\x00\x00\x00\x00\x00" + line + b"\x01\x00\x08\x00\x03\x00\x00\x00"
        x224 = bytes([len(body)]) + body
        return b"\x03\x00" + (4 + len(x224)).to_bytes(2, "big") + x224

    b = Balancer("rdp-cookie", servers(1, 1))
    assert b.key_hash(payload=pkt(b"Cookie: mstshash=alice\r\n")) == hash_key("sdbm", "alice")
    assert b.key_hash(payload=pkt(b"cookie:   MSTSHASH=bob\r\n")) == hash_key("sdbm", "bob")
    assert b.key_hash(payload=pkt(b"Cookie: other=x\r\n")) is None
    assert b.key_hash(payload=pkt(b"Cookie: mstshash=\r\n")) is None  # empty: round robin
    assert b.key_hash(payload=pkt(b"Cookie: mstshash=trunc")) is None
    n = Balancer("rdp-cookie", servers(1, 1), name="MyCookie")
    assert n.key_hash(payload=pkt(b"Cookie: mycookie=v\r\n")) == hash_key("sdbm", "v")


def test_missing_key_falls_back_to_round_robin():
    b = Balancer("url_param", servers(1, 1, 1), name="id")
    assert [b.pick_name(uri="/none") for _ in range(6)] == ["s1", "s2", "s3"] * 2
    # consistent: walks the ring's points in order, 16 per unit of weight, so a full turn of the
    # ring gives each server exactly its share
    c = Balancer("url_param", servers(1, 2, 1), name="id", hash_type="consistent")
    assert count(c, 64, uri="/none") == {"s1": 16, "s2": 32, "s3": 16}


def test_one_server_left_is_not_hashed():
    b = Balancer("uri", servers(1, 1, 1))
    b.set_usable(0, False)
    b.set_usable(2, False)
    assert b.key_hash(uri="/anything") == 0
    assert b.pick_name(uri="/anything") == "s2"


@pytest.mark.parametrize("n", [4, 7, 10])
@pytest.mark.parametrize("fn", ["sdbm", "wt6"])
def test_consistent_hashing_moves_only_the_removed_servers_keys(n, fn):
    keys = [f"/object/{i}" for i in range(5000)]
    b = Balancer("uri", servers(*[1] * n), hash_type="consistent", hash_function=fn, avalanche=True)
    before = {k: b.py_pick(uri=k) for k in keys}
    b.set_usable(2, False)
    after = {k: b.py_pick(uri=k) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert all(before[k] == 2 for k in moved)  # only the removed server's keys move...
    assert len(moved) == sum(1 for k in keys if before[k] == 2)
    assert 0.4 / n < len(moved) / len(keys) < 1.8 / n  # ...which are about 1/N of them
    b.set_usable(2, True)
    assert {k: b.py_pick(uri=k) for k in keys} == before  # and come back to it
    m = Balancer("uri", servers(*[1] * n))  # map-based, for contrast: most keys move
    mb = {k: m.py_pick(uri=k) for k in keys}
    m.set_usable(2, False)
    assert sum(1 for k in keys if m.py_pick(uri=k) != mb[k]) > len(keys) / 2


def test_consistent_weights_and_ids():
    keys = [f"k{i}" for i in range(20000)]
    b = Balancer("hash", servers(1, 3), hash_type="consistent")
    c = collections.Counter(b.py_pick(sample=k) for k in keys)
    assert 0.6 < c[1] / len(keys) < 0.9
    # placement depends on the server ids, not on their order or names
    x = Balancer("hash", [ServerSpec("a", id=5), ServerSpec("b", id=9)], hash_type="consistent")
    y = Balancer("hash", [ServerSpec("B", id=9), ServerSpec("A", id=5)], hash_type="consistent")
    assert all(
        x.names[x.py_pick(sample=k)].lower() == y.names[y.py_pick(sample=k)].lower() for k in keys[:500]
    )


def test_hash_balance_factor_bounds_the_load():
    b = Balancer("uri", servers(1, 1, 1, 1), hash_type="consistent", hash_balance_factor=125)
    for _ in range(40):  # one hot key: without the bound it would all go to one server
        r = b.py_pick(uri="/hot")
        b.py_take(r)
    loads = [b.served(i) for i in range(4)]
    assert max(loads) <= (40 * 125 + 99) // 100 // 4 + 1
    assert sum(loads) == 40


# ---- random ----


def test_random_respects_weights_and_prefers_the_least_loaded():
    b = Balancer("random", servers(1, 2, 5), draws=1, seed=12345)
    c = count(b, 16000)
    # weight x16 points per server on the ring: proportional to the weights, roughly
    assert c["s1"] < c["s2"] < c["s3"] and 0.5 < c["s3"] / 16000 < 0.75
    two = Balancer("random", servers(1, 1, 1, 1), seed=7)  # random(2): never the most loaded of two
    for _ in range(400):
        r = two.py_pick()
        two.py_take(r)
    loads = sorted(two.served(i) for i in range(4))
    assert loads[-1] - loads[0] <= 12
    one = Balancer("random", servers(1, 1, 1, 1), draws=1, seed=7)
    for _ in range(400):
        one.py_take(one.py_pick())
    spread1 = max(one.served(i) for i in range(4)) - min(one.served(i) for i in range(4))
    assert loads[-1] - loads[0] < spread1


def test_random_seed_is_reproducible():
    a = Balancer("random", servers(1, 1, 1), seed=99)
    b = Balancer("random", servers(1, 1, 1), seed=99)
    assert [a.py_pick() for _ in range(50)] == [b.py_pick() for _ in range(50)]


# ---- slowstart ----


def test_slowstart_ramps_the_weight_over_time():
    srv = [ServerSpec("s1", weight=10, slowstart=10_000), ServerSpec("s2", weight=10)]
    b = Balancer("roundrobin", srv, now=1000)
    assert b.eweight(0) == 160 and b.in_slowstart == 0  # never at startup
    b.set_usable(0, False, now=1000)
    b.set_usable(0, True, now=1000)
    assert b.in_slowstart == 1
    # HAProxy: eweight = uweight * ((16 * elapsed + slowstart) / slowstart), in whole seconds
    for t, expect in [(0, 10), (1, 20), (3, 50), (5, 90), (9, 150)]:
        b.update(now=1000 + t)
        assert b.eweight(0) == expect, t
    assert b.update(now=1010) == 0 and b.eweight(0) == 160
    assert b.weight(0) == 10


def test_slowstart_shifts_traffic_progressively():
    srv = [ServerSpec("s1", weight=1, slowstart=20_000), ServerSpec("s2", weight=1)]
    b = Balancer("roundrobin", srv, now=0)
    b.set_usable(0, False, now=0)
    b.set_usable(0, True, now=0)
    shares = []
    for t in (0, 5, 10, 19):
        b.update(now=t)
        c = count(b, 340)
        shares.append(c["s1"] / 340)
    assert shares == sorted(shares) and shares[0] < 0.1 and shares[-1] > 0.45


def test_static_algorithms_have_no_slowstart_ramp():
    b = Balancer("static-rr", [ServerSpec("s1", slowstart=10_000), ServerSpec("s2")], now=0)
    b.set_usable(0, False, now=0)
    b.set_usable(0, True, now=0)
    assert count(b, 4) == {"s1": 2, "s2": 2}


# ---- construction ----


def test_bad_arguments():
    with pytest.raises(ValueError):
        Balancer("nope", servers(1))
    with pytest.raises(ValueError):
        Balancer("roundrobin", servers(257))
    with pytest.raises(ValueError):
        Balancer("url_param", servers(1))
    with pytest.raises(ValueError):
        Balancer("uri", servers(1), hash_function="md5")
    with pytest.raises(ValueError, match="used twice"):
        Balancer("roundrobin", [ServerSpec("a", id=1), ServerSpec("b", id=1)])
    with pytest.raises(IndexError):
        Balancer("roundrobin", servers(1)).py_take(3)


def test_automatic_ids_follow_haproxy():
    b = Balancer(
        "roundrobin",
        [
            ServerSpec("a", id=10),
            ServerSpec("b", id=3),
            ServerSpec("c", id=7),
            ServerSpec("d"),
            ServerSpec("e"),
        ],
    )
    assert b.ids == (10, 3, 7, 4, 5)
    assert Balancer(
        "roundrobin", [(None, "x", 1, False, 0), (2, "y", 1, False, 0), (None, "z", 1, False, 0)]
    ).ids == (1, 2, 3)


def test_hash_functions_known_values():
    # published values of the classic functions (CRC-32 is zlib's)
    import zlib

    data = random.Random(1).randbytes(300)
    assert hash_key("crc32", data) == zlib.crc32(data)
    assert hash_key("djb2", b"") == 5381 and hash_key("sdbm", b"") == 0
    assert hash_key("djb2", b"a") == 5381 * 33 + 97
    assert hash_key("sdbm", b"ab") == (98 + 97 * 65599) & 0xFFFFFFFF


def test_config_words_map_onto_the_balancer():
    from fastlb.lb import BalanceError, balance_kwargs, parse_weight_change

    assert balance_kwargs("uri len 10 depth 2 whole", "consistent sdbm avalanche") == {
        "algorithm": "uri",
        "uri_len": 10,
        "uri_depth": 2,
        "uri_whole": True,
        "hash_type": "consistent",
        "hash_function": "sdbm",
        "avalanche": True,
    }
    assert balance_kwargs("hdr(Host) use_domain_only") == {
        "algorithm": "hdr",
        "name": "Host",
        "use_domain_only": True,
    }
    assert balance_kwargs("url_param userid check_post") == {"algorithm": "url_param", "name": "userid"}
    assert balance_kwargs("random(3)") == {"algorithm": "random", "draws": 3}
    assert balance_kwargs("random") == {"algorithm": "random", "draws": 2}
    assert balance_kwargs("rdp-cookie") == {"algorithm": "rdp-cookie", "name": "mstshash"}
    assert balance_kwargs("hash req.cookie(id)", "consistent") == {
        "algorithm": "hash",
        "hash_type": "consistent",
    }
    for bad in ("uri len 0", "uri depth x", "uri foo", "url_param", "hdr", "random(0)", "nope", ""):
        with pytest.raises(BalanceError):
            balance_kwargs(bad)
    for bad in ("avalanche", "consistent md5", "map-based sdbm foo", "foo"):
        with pytest.raises(BalanceError):
            balance_kwargs("uri", bad)
    # every mapped form builds a working balancer
    for line in (
        "roundrobin",
        "static-rr",
        "leastconn",
        "first",
        "source",
        "uri path-only",
        "random(2)",
        "url_param u",
        "hdr(x-a)",
        "rdp-cookie(c)",
        "hash src",
    ):
        b = Balancer(servers=servers(1, 2), **balance_kwargs(line, "map-based djb2"))
        assert b.py_pick(src="10.0.0.1", uri="/?u=1", headers=["v"], sample=b"k") in (0, 1)
    assert parse_weight_change("50%", 10) == 5
    assert parse_weight_change("300%", 100) == 256
    assert parse_weight_change("7", 1) == 7
    for bad in ("", "-1", "257", "5x", "x", "-5%"):
        with pytest.raises(BalanceError):
            parse_weight_change(bad, 10)
