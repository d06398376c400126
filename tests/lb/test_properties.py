"""Random configurations and random sequences of picks, connections, state and weight changes
(hypothesis): whatever happens, the balancer only returns usable servers, prefers active servers to
backups, keeps exact connection counts, and says NOSRV exactly when nothing is usable. Run under
FASTLB_SANITIZE=1 this also hunts memory errors in the C code."""

from __future__ import annotations

import random

from fastlb._lb import FULL, NOSRV, Balancer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastlb.lb import ServerSpec

ALGOS = [
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "random",
    "source",
    "uri",
    "url_param",
    "hdr",
    "hash",
    "rdp-cookie",
]

server_st = st.builds(
    lambda w, backup, maxconn, ss, usable: ServerSpec(
        "x", weight=w, backup=backup, maxconn=maxconn, slowstart=ss, usable=usable
    ),
    st.sampled_from([0, 1, 1, 2, 3, 7, 16, 256]),
    st.booleans(),
    st.sampled_from([0, 0, 1, 3]),
    st.sampled_from([0, 0, 3000]),
    st.booleans(),
)

config_st = st.fixed_dictionaries(
    {
        "algo": st.sampled_from(ALGOS),
        "hash_type": st.sampled_from(["map-based", "consistent"]),
        "function": st.sampled_from(["sdbm", "djb2", "wt6", "crc32"]),
        "avalanche": st.booleans(),
        "allbackups": st.booleans(),
        "servers": st.lists(server_st, min_size=1, max_size=7),
        "draws": st.integers(1, 4),
        "factor": st.sampled_from([0, 0, 125]),
    }
)

key_st = st.fixed_dictionaries(
    {
        "uri": st.sampled_from(["/", "/a", "/a/b?id=1", "/x?id=", "/x", "http://h/p?id=9"]),
        "src": st.sampled_from(["10.0.0.1", "10.0.0.2", "2001:db8::1", "127.0.0.3"]),
        "headers": st.lists(st.sampled_from(["a", "b.example.com", "", ", z", "q"]), max_size=2),
        "sample": st.one_of(st.none(), st.binary(max_size=8)),
        "payload": st.sampled_from(
            [b"", b"\x03\x00\x00\x20\x1b\xe0\x00\x00\x00\x00\x00Cookie: mstshash=u1\r\n"]
        ),
    }
)

pick_st = st.tuples(st.just("pick"), key_st, st.integers(-1, 7))
op_st = st.one_of(
    pick_st,
    pick_st,
    pick_st,
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("usable"), st.integers(0, 6), st.booleans()),
    st.tuples(st.just("weight"), st.integers(0, 6), st.sampled_from([0, 1, 2, 5, 256])),
    st.tuples(st.just("tick"), st.integers(0, 3)),
)


def build(cfg: dict) -> Balancer:
    srv = [
        ServerSpec(
            f"s{i}",
            weight=s.weight,
            backup=s.backup,
            maxconn=s.maxconn,
            slowstart=s.slowstart,
            usable=s.usable,
        )
        for i, s in enumerate(cfg["servers"])
    ]
    kw = {}
    if cfg["algo"] in ("url_param", "hdr"):
        kw["name"] = "id" if cfg["algo"] == "url_param" else "host"
    return Balancer(
        cfg["algo"],
        srv,
        hash_type=cfg["hash_type"],
        hash_function=cfg["function"],
        avalanche=cfg["avalanche"],
        allbackups=cfg["allbackups"],
        draws=cfg["draws"],
        hash_balance_factor=cfg["factor"],
        use_domain_only=cfg["algo"] == "hdr",
        now=0,
        seed=1,
        **kw,
    )


def check_run(cfg: dict, ops: list) -> None:
    b = build(cfg)
    n = len(b)
    backup = [s.backup for s in cfg["servers"]]
    held: list[int] = []
    now = 0
    for op in ops:
        kind = op[0]
        if kind == "pick":
            key, avoid = op[1], op[2]
            r = b.py_pick(avoid=avoid, **key)
            usable = [i for i in range(n) if b.usable(i)]
            if r >= 0:
                assert r < n and b.usable(r), (cfg, op)
                if any(not backup[i] for i in usable):
                    assert not backup[r]
                b.py_take(r)
                held.append(r)
            else:
                assert r in (NOSRV, FULL)
                assert (r == NOSRV) == (not usable), (r, usable)
                if r == FULL and cfg["algo"] not in ("random",):
                    # saturation only: every usable server of the group in use has a maxconn
                    assert any(cfg["servers"][i].maxconn for i in usable)
        elif kind == "release" and held:
            b.py_release(held.pop(op[1] % len(held)))
        elif kind == "usable" and op[1] < n:
            b.set_usable(op[1], op[2], now=now)
        elif kind == "weight" and op[1] < n:
            try:
                b.set_weight(op[1], op[2], now=now)
            except ValueError:
                assert cfg["algo"] in ("static-rr", "source", "uri", "url_param", "hdr", "hash", "rdp-cookie")
                assert cfg["hash_type"] == "map-based" or cfg["algo"] == "static-rr"
        elif kind == "tick":
            now += op[1]
            b.update(now=now)
        for i in range(n):
            assert b.served(i) == held.count(i)
    for r in held:
        b.py_release(r)
    assert all(b.served(i) == 0 for i in range(n))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_st, st.lists(op_st, min_size=5, max_size=80))
def test_random_operations_keep_the_invariants(cfg, ops):
    check_run(cfg, ops)


def test_long_random_runs():
    """Longer sequences than hypothesis likes to generate: 300 configurations x 150 operations."""
    rnd = random.Random(20260)
    uris = ["/", "/a", "/a/b?id=1", "/x?id=", "/x", "http://h/p?id=9", "/k?id=2"]
    for _ in range(300):
        nsrv = rnd.randint(1, 8)
        cfg = {
            "algo": rnd.choice(ALGOS),
            "hash_type": rnd.choice(["map-based", "consistent"]),
            "function": rnd.choice(["sdbm", "djb2", "wt6", "crc32"]),
            "avalanche": rnd.random() < 0.5,
            "allbackups": rnd.random() < 0.5,
            "draws": rnd.randint(1, 3),
            "factor": rnd.choice([0, 0, 150]),
            "servers": [
                ServerSpec(
                    "x",
                    weight=rnd.choice([0, 1, 1, 2, 5, 40]),
                    backup=rnd.random() < 0.3,
                    maxconn=rnd.choice([0, 0, 2]),
                    slowstart=rnd.choice([0, 4000]),
                    usable=rnd.random() < 0.8,
                )
                for _ in range(nsrv)
            ],
        }
        ops = []
        for _ in range(150):
            x = rnd.random()
            if x < 0.55:
                key = {
                    "uri": rnd.choice(uris),
                    "src": f"10.0.{rnd.randint(0, 3)}.{rnd.randint(0, 255)}",
                    "headers": [rnd.choice(["a.example.com", "b", ""])],
                    "sample": rnd.choice([None, b"k1", b"k2"]),
                    "payload": b"",
                }
                ops.append(("pick", key, rnd.choice([-1, -1, 0, 1])))
            elif x < 0.75:
                ops.append(("release", rnd.randint(0, 50)))
            elif x < 0.87:
                ops.append(("usable", rnd.randrange(nsrv), rnd.random() < 0.6))
            elif x < 0.95:
                ops.append(("weight", rnd.randrange(nsrv), rnd.choice([0, 1, 3, 100])))
            else:
                ops.append(("tick", rnd.randint(0, 2)))
        check_run(cfg, ops)
