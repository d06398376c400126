"""Routing cost per request (use_backend with ACLs), measured through the engine's own router on
a parsed request (fastlb.engine._proxy.route_request): each benchmark call routes the request
LOOPS times in a C loop, so the time per routing is the reported time / LOOPS.

    pytest bench/test_routing_bench.py --benchmark-only --benchmark-enable

Shows that the cost stays flat as rules grow: runs of string rules (exact, prefix, suffix, domain
patterns on path, url, Host, ...; with or without -i) become one routing table (a few hash
lookups), whatever the number of rules. Rules that no table can answer (regex, substring, AND of
ACLs) are evaluated one by one: the last group shows what 1,000 of those cost.
"""
from __future__ import annotations

import os

import pytest
from fastlb.engine._proxy import route_request, router_blocks

from fastlb.engine.offline import offline_worker

LOOPS = 1000
N = 1000
SEED = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "seed", "haproxy.cfg")

# rule kind -> (condition of rule i, request host, request path) that rule i (and no earlier one) matches
KINDS = {
    "path_beg": (lambda i: f"{{ path_beg /svc{i}/ }}", lambda i: "www.example.com", lambda i: f"/svc{i}/x"),
    "path_beg_i": (lambda i: f"{{ path_beg -i /Svc{i}/ }}", lambda i: "www.example.com", lambda i: f"/SVC{i}/x"),
    "path_end": (lambda i: f"{{ path_end .t{i} }}", lambda i: "www.example.com", lambda i: f"/f/x.t{i}"),
    "hdr_host": (lambda i: f"{{ hdr(host) -i svc{i}.example.com }}", lambda i: f"SVC{i}.example.com",
                 lambda i: "/"),
    "hdr_beg": (lambda i: f"{{ hdr_beg(host) -i svc{i}. }}", lambda i: f"svc{i}.example.com", lambda i: "/"),
    "hdr_end": (lambda i: f"{{ hdr_end(host) -i .svc{i}.com }}", lambda i: f"www.svc{i}.com", lambda i: "/"),
    "hdr_dom": (lambda i: f"{{ hdr_dom(host) -i svc{i}.net }}", lambda i: f"a.svc{i}.net", lambda i: "/"),
    # not indexable: evaluated rule by rule
    "hdr_sub": (lambda i: f"{{ hdr_sub(host) -i svc{i}x }}", lambda i: f"svc{i}x.example.com", lambda i: "/"),
}


def many_rules(n: int, kind: str) -> str:
    cond = KINDS[kind][0]
    lines = ["defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s", "    timeout server 1s",
             "frontend fe", "    bind :8000"]
    lines += [f"    use_backend b{i % 10} if {cond(i)}" for i in range(n)]
    lines.append("    default_backend b0")
    for i in range(10):
        lines += [f"backend b{i}", f"    server s 127.0.0.1:{9000 + i}"]
    return "\n".join(lines) + "\n"


def req(path: str, host: str = "www.example.com") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n".encode()


@pytest.fixture(scope="module")
def seed_worker():
    with open(SEED) as f:
        return offline_worker(f.read())


_workers: dict[str, tuple] = {}


def worker(kind: str):
    if kind not in _workers:
        _workers[kind] = offline_worker(many_rules(N, kind))
    return _workers[kind][0]


@pytest.mark.parametrize("path,backend", [("/images/logo.png", "static"), ("/index.html", "app")])
def test_mission_rules(benchmark, seed_worker, path, backend):
    w, _ = seed_worker
    assert benchmark(route_request, w, "main", req(path), LOOPS) == backend


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "hdr_sub"])
@pytest.mark.parametrize("which", ["first", "last", "none"])
def test_1000_rules_in_one_table(benchmark, kind, which):
    w = worker(kind)
    assert router_blocks(w, "fe") == [("table", 0, N - 1, N, 1)]
    _, host, path = KINDS[kind]
    i = {"first": 0, "last": N - 1, "none": N}[which]
    r = req(path(i), host(i)) if which != "none" else req("/nothing", "nothing.invalid")
    assert benchmark(route_request, w, "fe", r, LOOPS) == f"b{i % 10 if which != 'none' else 0}"


@pytest.mark.parametrize("which", ["first", "last"])
def test_1000_substring_rules_one_by_one(benchmark, which):
    w = worker("hdr_sub")
    assert router_blocks(w, "fe") == [("rule", i) for i in range(N)]
    _, host, path = KINDS["hdr_sub"]
    i = 0 if which == "first" else N - 1
    assert benchmark(route_request, w, "fe", req(path(i), host(i)), LOOPS) == f"b{i % 10}"
