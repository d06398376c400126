"""Micro-benchmarks of the balancer: the hash functions and one pick per algorithm.

    pytest bench/test_lb_bench.py --benchmark-only

Each round runs a C loop of LOOP operations without the GIL (Balancer.pick_many, hash_many), so
the figures are the C cost the engine pays through the cdef methods, not Python call overhead;
``extra_info.ns_per_op`` gives the cost of one operation. test_py_pick_overhead shows what a
Python-level call costs on top, for comparison.
"""

from __future__ import annotations

import pytest
from fastlb._lb import Balancer, hash_many

from fastlb.lb import ServerSpec

LOOP = 2000
URI = "/static/img/products/2024/item-12345.jpg?size=large"  # a realistic 50-byte target


def servers(n: int, weights=None, **kw):
    return [ServerSpec(f"s{i + 1}", weight=(weights[i] if weights else 1 + i % 4), **kw) for i in range(n)]


def per_op(benchmark, n: int = LOOP) -> None:
    benchmark.extra_info["ns_per_op"] = round(benchmark.stats.stats.mean / n * 1e9, 1)


@pytest.mark.parametrize("fn", ["sdbm", "djb2", "wt6", "crc32"])
@pytest.mark.parametrize("avalanche", [False, True], ids=["raw", "avalanche"])
def test_hash(benchmark, fn, avalanche):
    benchmark(hash_many, fn, URI, LOOP, avalanche)
    per_op(benchmark)


PICKS = {
    "roundrobin": ({"algorithm": "roundrobin"}, {}),
    "static-rr": ({"algorithm": "static-rr"}, {}),
    "leastconn": ({"algorithm": "leastconn"}, {}),
    "first": ({"algorithm": "first"}, {}),
    "random(2)": ({"algorithm": "random"}, {}),
    "source map-based": ({"algorithm": "source"}, {"src": "192.0.2.44"}),
    "source consistent": ({"algorithm": "source", "hash_type": "consistent"}, {"src": "192.0.2.44"}),
    "uri map-based": ({"algorithm": "uri"}, {"uri": URI}),
    "uri consistent": ({"algorithm": "uri", "hash_type": "consistent"}, {"uri": URI}),
    "url_param": ({"algorithm": "url_param", "name": "id"}, {"uri": "/x?a=1&b=2&id=12345"}),
    "hdr(host) use_domain_only": (
        {"algorithm": "hdr", "name": "host", "use_domain_only": True},
        {"uri": "/", "headers": ["www.example.com"]},
    ),
}


@pytest.mark.parametrize("nsrv", [4, 32])
@pytest.mark.parametrize("name", list(PICKS))
def test_pick(benchmark, name, nsrv):
    kw, key = PICKS[name]
    kw = dict(kw)
    b = Balancer(kw.pop("algorithm"), servers(nsrv), seed=1, **kw)
    # each pick is followed by take/release, as a short request: leastconn repositions the server
    benchmark(b.pick_many, LOOP, True, **key)
    per_op(benchmark)


def test_pick_under_load_leastconn(benchmark):
    b = Balancer("leastconn", servers(32))
    for i in range(32 * 50):  # 50 long connections per server in progress
        b.py_take(i % 32)
    benchmark(b.pick_many, LOOP, True)
    per_op(benchmark)


def test_py_pick_overhead(benchmark):
    b = Balancer("uri", servers(8))
    benchmark(b.py_pick, uri=URI)
