"""`balance hash <expr>` and `balance rdp-cookie` through the proxy: the server HAProxy 2.6 picks
(the recorded vectors of tests/lb/vectors/key_extraction.json, replayed in order on a fresh proxy
so that round-robin fallbacks line up too), and the wait for the RDP cookie that
`tcp-request inspect-delay` + `tcp-request content accept if RDP_COOKIE` give."""
from __future__ import annotations

import json
import os
import re
import socket
import time

import pytest
from enginelib import RawClient, free_port

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lb", "vectors",
                       "key_extraction.json")


def vector(name: str) -> dict:
    with open(VECTORS, encoding="utf-8") as f:
        for v in json.load(f)["vectors"]:
            if v["name"] == name:
                return v
    raise KeyError(name)


def proxy_cfg(port: int, v: dict, ports: list[int], mode: str, frontend_extra: str = "",
              balance: str | None = None, ready: int = 0) -> str:
    """The vector's backend behind a frontend on `port`; `ready` is a port that only answers
    run_cfg's readiness probe (a probe on `port` would take a round-robin turn, as in HAProxy)."""
    srv = "\n".join(f"    server {s['name']} 127.0.0.1:{p} weight {s['weight']}"
                    for s, p in zip(v["servers"], ports))
    ht = f"    hash-type {v['hash_type']}" if v.get("hash_type") else ""
    return f"""
global
    nbthread 1
defaults
    mode {mode}
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
{frontend_extra}
    default_backend be
backend be
    balance {balance or v['balance']}
{ht}
{srv}
frontend ready
    bind 127.0.0.1:{ready}
    mode http
    http-request return status 200
"""


def http_srv(port: int, headers: dict, src: str = "127.0.0.1") -> int:
    c = RawClient.__new__(RawClient)
    c.sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
    c.buf = b""
    try:
        r = c.request(path="/echo", headers={"Connection": "close", **headers})
    finally:
        c.close()
    return int(re.match(rb"srv=(\d+)", r.body).group(1))


def tcp_srv(port: int, parts: list[bytes], pause: float = 0.0, src: str = "127.0.0.1") -> tuple[int, float]:
    """Send `parts` (pausing between them), return the echo server's port and when its greeting came."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0)) as s:
        t0 = time.monotonic()
        for i, p in enumerate(parts):
            if i:
                time.sleep(pause)
            s.sendall(p)
        data = b""
        while b":" not in data:
            d = s.recv(1024)
            if not d:
                raise ConnectionError(f"closed before the server greeting: {data!r}")
            data += d
        return int(data.split(b":")[0]), time.monotonic() - t0


@pytest.mark.parametrize("name", ["x_hash_expr_map_based_djb2", "x_hash_expr_consistent"])
def test_balance_hash_header_expression_picks_the_server_haproxy_picks(backends, run_cfg, name):
    v = vector(name)
    b = backends(*["http"] * len(v["servers"]))
    port = free_port()
    run_cfg(proxy_cfg(port, v, b.ports, "http", ready=(ready := free_port())), ready)
    names = [s["name"] for s in v["servers"]]
    for step in v["steps"]:
        assert step["op"] == "pick"
        headers = {"X-K": step["key"]["sample"]} if "sample" in step["key"] else {}
        got = http_srv(port, headers)
        assert names[b.ports.index(got)] == step["expect"], step


@pytest.mark.parametrize("mode", ["http", "tcp"])
@pytest.mark.parametrize("name", ["x_hash_src_map_based_djb2", "x_hash_src_consistent"])
def test_balance_hash_src_picks_the_server_haproxy_picks(backends, run_cfg, name, mode):
    v = vector(name)
    b = backends(*[("http" if mode == "http" else "echo")] * len(v["servers"]))
    port = free_port()
    run_cfg(proxy_cfg(port, v, b.ports, mode, ready=(ready := free_port())), ready)
    names = [s["name"] for s in v["servers"]]
    steps = [s for s in v["steps"] if s["key"]["src"].startswith("127.")]   # what loopback can send from
    assert len(steps) >= 8
    for step in steps:
        src = step["key"]["src"]
        got = http_srv(port, {}, src) if mode == "http" else tcp_srv(port, [b"x"], src=src)[0]
        assert names[b.ports.index(got)] == step["expect"], step


def test_balance_hash_with_converters_and_cookie(backends, run_cfg):
    """The expression's sample is what is hashed: a cookie lower-cased gives the same server as
    the same header value, keys differing only by case meet."""
    v = vector("x_hash_expr_consistent")
    b = backends(*["http"] * len(v["servers"]))
    port, port2 = free_port(), free_port()
    run_cfg(proxy_cfg(port, v, b.ports, "http", ready=(r1 := free_port())), r1)
    run_cfg(proxy_cfg(port2, v, b.ports, "http", balance="hash req.cook(uid),lower", ready=(r2 := free_port())), r2)
    for step in v["steps"]:
        sample = step["key"].get("sample")
        if not sample or not sample.isalnum():
            continue
        want = http_srv(port, {"X-K": sample})
        assert http_srv(port2, {"Cookie": f"a=b; uid={sample.upper()}"}) == want


RDP_FRONTEND = "    tcp-request inspect-delay 5s\n    tcp-request content accept if RDP_COOKIE"


@pytest.mark.parametrize("name", ["x_rdp_map_based_djb2", "x_rdp_consistent", "x_rdp_named_consistent"])
def test_balance_rdp_cookie_picks_the_server_haproxy_picks(backends, run_cfg, name):
    v = vector(name)
    b = backends(*["echo"] * len(v["servers"]))
    port = free_port()
    run_cfg(proxy_cfg(port, v, b.ports, "tcp", RDP_FRONTEND, ready=(ready := free_port())), ready)
    names = [s["name"] for s in v["servers"]]
    for i, step in enumerate(v["steps"]):
        payload = bytes.fromhex(step["key"]["payload_hex"])
        # every other request arrives in two segments: the proxy must wait for the cookie line
        parts = [payload[:9], payload[9:]] if i % 2 else [payload]
        got, _ = tcp_srv(port, parts, pause=0.15)
        assert names[b.ports.index(got)] == step["expect"], step


def test_rdp_cookie_without_inspect_delay_is_balanced_at_once_as_haproxy(backends, run_cfg):
    """Without the tcp-request lines HAProxy assigns the server before any byte arrives: round
    robin, whatever the cookie."""
    v = vector("x_rdp_map_based_djb2")
    b = backends(*["echo"] * len(v["servers"]))
    port = free_port()
    run_cfg(proxy_cfg(port, v, b.ports, "tcp", ready=(ready := free_port())), ready)
    payload = bytes.fromhex(v["steps"][0]["key"]["payload_hex"])
    got = [tcp_srv(port, [payload])[0] for _ in range(len(b.ports))]
    assert got == b.ports


def test_inspect_delay_bounds_the_wait_and_reject_rules(backends, run_cfg):
    v = vector("x_rdp_map_based_djb2")
    b = backends(*["echo"] * len(v["servers"]))
    port, port2 = free_port(), free_port()
    run_cfg(proxy_cfg(port, v, b.ports, "tcp", "    tcp-request inspect-delay 600ms\n"
                                               "    tcp-request content accept if RDP_COOKIE",
                      ready=(r1 := free_port())), r1)
    # a client that never completes its cookie line is sent on after the delay (round robin)
    payload = bytes.fromhex(v["steps"][0]["key"]["payload_hex"])
    srv, waited = tcp_srv(port, [payload[:20]])
    assert srv == b.ports[0] and 0.55 <= waited < 3.0
    # a complete cookie goes at once to its server
    srv, waited = tcp_srv(port, [payload])
    assert v["servers"][b.ports.index(srv)]["name"] == v["steps"][0]["expect"] and waited < 0.5
    run_cfg(proxy_cfg(port2, v, b.ports, "tcp", "    tcp-request inspect-delay 2s\n"
                                                "    tcp-request content reject unless RDP_COOKIE",
                      ready=(r2 := free_port())), r2)
    no_cookie = bytes.fromhex(v["steps"][15]["key"]["payload_hex"])
    assert b"Cookie" not in no_cookie
    with socket.create_connection(("127.0.0.1", port2), timeout=5) as s:
        t0 = time.monotonic()
        s.sendall(no_cookie)
        try:
            assert s.recv(100) == b""              # closed, never connected to a server
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 1.0        # definitely not a cookie: no need to wait
    assert tcp_srv(port2, [payload])[0] in b.ports


def test_content_rules_wait_for_a_whole_tls_client_hello(backends, run_cfg):
    """The usual TLS pass-through front: wait for the ClientHello, reject what is not TLS; the
    server gets every byte, the ones read while inspecting first."""
    b = backends("echo")
    port, ready = free_port(), free_port()
    run_cfg(f"""
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 5s
    tcp-request content reject if !{{ req_ssl_hello_type 1 }}
    default_backend be
backend be
    server s1 127.0.0.1:{b.ports[0]}
frontend ready
    bind 127.0.0.1:{ready}
    mode http
    http-request return status 200
""", ready)
    body = b"\x03\x03" + bytes(range(40))
    hello = b"\x16\x03\x01" + (len(body) + 4).to_bytes(2, "big") + b"\x01" + len(body).to_bytes(3, "big") + body
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        t0 = time.monotonic()
        s.sendall(hello[:7])
        time.sleep(0.3)
        s.sendall(hello[7:] + b"after")
        data = b""
        while len(data) < len(str(b.ports[0])) + 1 + len(hello) + 5:
            d = s.recv(4096)
            if not d:
                break
            data += d
    assert data == f"{b.ports[0]}:".encode() + hello + b"after"
    assert time.monotonic() - t0 >= 0.3
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")            # not TLS: known at once, rejected
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass


def test_http_frontend_with_tcp_content_rules_still_starts(backends, run_cfg):
    b = backends("http")
    port = free_port()
    p = run_cfg(f"""
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 1s
    tcp-request content accept if {{ req.payload(0,3) -m bin 160301 }} || TRUE
    default_backend be
backend be
    server s1 127.0.0.1:{b.ports[0]}
""", port)
    assert http_srv(port, {}) == b.ports[0]
    # the rule the engine cannot run in mode http is named with its file and line, not dropped silently
    out = p.stop()
    assert re.search(r"\[WARNING\].*fastlb_0\.cfg:10\] : 'content accept' : .* ignored in mode http "
                     r"\(proxy 'fe'\)", out), out
