"""`tcp-request content` rules in mode http and `force-persist`/`ignore-persist`, over real sockets,
each test run against fastlb and HAProxy 2.6 (fixture proxy_impl) with the same expected values."""
from __future__ import annotations

import socket
import time

from enginelib import RawClient
from test_http_mode import fields, hdr_values
from test_rules_vs_haproxy import set_cookies, start
from test_tcp_more import cli


def exchange(port: int, *requests: bytes) -> bytes:
    """Send the requests one after the other on one connection and read until the proxy closes
    it (a reset raises: HAProxy closes a rejected request's connection with a FIN)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    out = b""
    try:
        for r in requests:
            s.sendall(r)
            time.sleep(0.2)
        while d := s.recv(65536):
            out += d
    finally:
        s.close()
    return out


def get(path: str, extra: str = "", close: bool = False) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}" + ("Connection: close\r\n" if close else "")
            + "\r\n").encode()


def test_tcp_request_content_rules_in_http_mode(backends, proxy_impl, tmp_path):
    """They run on each request head before the http-request rules, with HTTP fetches, first
    match wins; a reject closes the connection without any response; the backend's run after
    the switching; the inspect-delay does not hold a complete request."""
    b = backends("http")
    port, _ = start(proxy_impl, tmp_path, b.ports, frontend="""
    tcp-request inspect-delay 2s
    tcp-request content reject if { path_beg /bad }
    tcp-request content accept if { hdr(x-ok) yes }
    tcp-request content reject if { hdr(x-no) yes }
    http-request deny if { path_beg /denied }
""", backend="""
    tcp-request content reject if { path_beg /beb }
""")
    t0 = time.monotonic()
    assert exchange(port, get("/bad")) == b""
    r = RawClient(port).request(path="/echo/fine")
    assert r.status == 200 and fields(r.body)["path"] == "/echo/fine"
    assert time.monotonic() - t0 < 1.5                      # no inspect-delay wait
    # keep-alive: every request is inspected, the second one closes the connection
    out = exchange(port, get("/echo/1"), get("/bad"), get("/echo/2"))
    assert out.startswith(b"HTTP/1.1 200") and out.count(b"HTTP/1.1 ") == 1
    assert exchange(port, get("/echo", "x-ok: yes\r\nx-no: yes\r\n", True)).startswith(b"HTTP/1.1 200")
    assert exchange(port, get("/echo", "x-no: yes\r\n", True)) == b""
    assert exchange(port, get("/beb", close=True)) == b""
    assert exchange(port, get("/denied", close=True)).startswith(b"HTTP/1.1 403")


def test_force_persist_and_ignore_persist(backends, proxy_impl, tmp_path):
    """force-persist: the cookie's server is used even in maintenance (no new cookie);
    ignore-persist: the request is balanced despite the cookie, the cookie is still taken out
    (indirect) and no cookie is inserted; the first matching rule wins."""
    b = backends("http", "http")
    port, sock = start(proxy_impl, tmp_path, b.ports, cookies=True, backend="""
    cookie SRV insert indirect
    force-persist if { hdr(x-force) 1 }
    ignore-persist if { hdr(x-ign) 1 }
""")
    c = RawClient(port)

    def ask(**h: str) -> tuple[int, list[str], list[str]]:
        r = c.request(path="/echo", headers={"Cookie": "SRV=c2", **h})
        assert r.status == 200
        return int(fields(r.body)["srv"]), set_cookies(r), hdr_values(fields(r.body), "cookie")

    s1, s2 = b.ports
    assert ask() == (s2, [], [])
    assert ask(**{"X-Force": "1"}) == (s2, [], [])
    ignored = [ask(**{"X-Ign": "1"}) for _ in range(4)]      # round robin over both servers
    assert {x[0] for x in ignored} == {s1, s2} and all(x[1:] == ([], []) for x in ignored)
    assert ask(**{"X-Ign": "1", "X-Force": "1"}) == (s2, [], [])     # force-persist is first
    assert cli(sock, "disable server be/s2") == "\n"
    assert ask() == (s1, ["SRV=c1; path=/"], [])
    for _ in range(3):
        assert ask(**{"X-Force": "1"}) == (s2, [], [])
        assert ask(**{"X-Ign": "1"}) == (s1, [], [])
    # a server marked DOWN (not in maintenance) is forced the same way
    assert cli(sock, "enable server be/s2") == "\n"
    assert cli(sock, "set server be/s2 health down") == "\n"
    time.sleep(0.2)
    assert ask() == (s1, ["SRV=c1; path=/"], [])
    assert ask(**{"X-Force": "1"}) == (s2, [], [])
    assert ask(**{"X-Ign": "1"}) == (s1, [], [])
