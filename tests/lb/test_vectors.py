"""Our balancer against what HAProxy 2.6 did, recorded in tests/lb/vectors/ by
tools/gen_lb_vectors.py: same backend, same requests in the same order, same runtime changes,
same server chosen, for every step. No haproxy needed here (see test_live_haproxy.py)."""

import pytest
import replay
from fastlb._lb import Balancer, hash_key

from fastlb.lb import ServerSpec

FILES = ("hash_lookup.json", "key_extraction.json", "backups.json", "sequences.json")
CASES = [(f, c) for f in FILES for c in replay.load(f)["vectors"]]


def test_vectors_come_from_haproxy_26():
    for f in FILES + ("hash_functions.json", "slowstart.json"):
        doc = replay.load(f)
        assert doc["haproxy"].startswith("HAProxy version 2.6."), f
        assert doc["vectors"], f


@pytest.mark.parametrize("fn", ["sdbm", "djb2", "wt6", "crc32"])
@pytest.mark.parametrize("avalanche", [False, True])
def test_hash_functions(fn, avalanche):
    vectors = replay.load("hash_functions.json")["vectors"]
    field = fn + ("_avalanche" if avalanche else "")
    wrong = [
        (v["data_hex"], v[field], hash_key(fn, bytes.fromhex(v["data_hex"]), avalanche))
        for v in vectors
        if hash_key(fn, bytes.fromhex(v["data_hex"]), avalanche) != v[field]
    ]
    assert not wrong, wrong[:5]
    # every single byte value is covered, so signedness or table bugs cannot hide
    assert {bytes.fromhex(v["data_hex"]) for v in vectors} >= {bytes([b]) for b in range(256)}


@pytest.mark.parametrize("fname,case", CASES, ids=[f"{f[:-5]}:{c['name']}" for f, c in CASES])
def test_same_server_as_haproxy(fname, case):
    assert replay.replay(case) == []


def test_issue_example_uri_4_servers():
    # the example of the issue: 4 equal servers, balance uri
    case = {"name": "x", "balance": "uri", "servers": [{"name": f"s{i}"} for i in range(1, 5)], "steps": []}
    b = replay.build(case)
    assert [b.pick_name(uri=f"/url{i}") for i in range(1, 5)] == ["s2", "s3", "s4", "s1"]


def _slowstart_weight_at(v: dict, t: int) -> int:
    """Our stats weight <t> seconds after the server of slowstart vector <v> came back."""
    b = Balancer(
        v["algorithm"],
        [
            ServerSpec("s1", weight=v["weight"], slowstart=v["slowstart_ms"]),
            ServerSpec("s2", weight=v["weight"]),
        ],
        now=0,
    )
    b.set_usable(0, False, now=0)
    b.set_usable(0, True, now=0)
    b.update(now=t)
    return b.weight(0)


def test_slowstart_ramp_matches_haproxy():
    """HAProxy's "show stat" weight of a server leaving maintenance with slowstart, sampled every
    0.25 s: its warmup task recomputes the weight once a second, so a sample may lag one step."""
    for v in replay.load("slowstart.json")["vectors"]:
        ramp = []
        for t, w in v["observations"]:
            if w == v["weight"]:
                break  # full weight: the server is RUNNING (HAProxy then restarts "lastchg" at 0)
            ramp.append((t, w))
        assert len({w for _, w in ramp}) >= 3, v  # the ramp was observed, not just its end
        for t, w in ramp:
            assert w in {_slowstart_weight_at(v, t), _slowstart_weight_at(v, max(t - 1, 0))}, (
                v["algorithm"],
                t,
                w,
            )
        assert _slowstart_weight_at(v, v["slowstart_ms"] // 1000) == v["weight"]
        assert all(w == v["weight"] for _, w in v["observations"][len(ramp) :])
