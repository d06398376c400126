"""Routing cost per request (use_backend with ACLs), measured through the engine's own router on
a parsed request (fastlb.engine._proxy.route_request): each benchmark call routes the request
LOOPS times in a C loop, so the time per routing is the reported time / LOOPS.

    pytest bench/test_routing_bench.py --benchmark-only --benchmark-enable

Shows that the cost stays flat as simple rules grow (runs of exact/prefix rules become one lookup
table) and what rules that cannot be indexed cost.
"""
from __future__ import annotations

import os

import pytest
from fastlb.engine._proxy import route_request

from fastlb.engine.offline import offline_worker

LOOPS = 1000
SEED = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "seed", "haproxy.cfg")


def many_rules(n: int, indexable: bool) -> str:
    lines = ["defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s", "    timeout server 1s",
             "frontend fe", "    bind :8000"]
    for i in range(n):
        cond = f"{{ path_beg /svc{i}/ }}" if indexable else f"{{ hdr_beg(host) -i svc{i}. }}"
        lines.append(f"    use_backend b{i % 10} if {cond}")
    lines.append("    default_backend b0")
    for i in range(10):
        lines += [f"backend b{i}", f"    server s 127.0.0.1:{9000 + i}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def seed_worker():
    with open(SEED) as f:
        return offline_worker(f.read())


@pytest.fixture(scope="module")
def indexed_worker():
    return offline_worker(many_rules(1000, True))


@pytest.fixture(scope="module")
def sequential_worker():
    return offline_worker(many_rules(1000, False))


def req(path: str, host: str = "www.example.com") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n".encode()


@pytest.mark.parametrize("path,backend", [("/images/logo.png", "static"), ("/index.html", "app")])
def test_mission_rules(benchmark, seed_worker, path, backend):
    w, _ = seed_worker
    assert benchmark(route_request, w, "main", req(path), LOOPS) == backend


@pytest.mark.parametrize("path,backend", [("/svc0/x", "b0"), ("/svc999/x", "b9"), ("/nothing", "b0")])
def test_1000_prefix_rules_indexed(benchmark, indexed_worker, path, backend):
    w, _ = indexed_worker
    assert benchmark(route_request, w, "fe", req(path), LOOPS) == backend


@pytest.mark.parametrize("host,backend", [("svc0.example.com", "b0"), ("svc999.example.com", "b9")])
def test_1000_header_rules_sequential(benchmark, sequential_worker, host, backend):
    w, _ = sequential_worker
    assert benchmark(route_request, w, "fe", req("/", host), LOOPS) == backend
