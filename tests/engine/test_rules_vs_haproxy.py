"""Rules, cookie persistence and leastconn over real sockets, each test run against fastlb and
HAProxy 2.6 (fixture proxy_impl) with the same expected values: http-response del-header on a
header the server really sends and add-header, http-request allow, tcp-request connection accept
on a condition, cookie rewrite/prefix of the server's own cookie, postonly, preserve, secure,
domain, a cookie naming a server in maintenance, leastconn under long requests."""
from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from enginelib import RawClient, free_port
from test_http_mode import fields, hdr_values
from test_tcp_more import cli


def cfg(port: int, servers: list[int], sock: str, *, backend: str = "", frontend: str = "",
        balance: str = "roundrobin", cookies: bool = False) -> str:
    lines = "\n".join(f"    server s{i + 1} 127.0.0.1:{p}" + (f" cookie c{i + 1}" if cookies else "")
                      for i, p in enumerate(servers))
    return f"""
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
{frontend}
    default_backend be
backend be
    balance {balance}
{backend}
{lines}
"""


def start(proxy_impl, tmp_path, servers: list[int], **kw) -> tuple[int, str]:
    port, sock = free_port(), str(tmp_path / f"{proxy_impl.name}.sock")
    proxy_impl(cfg(port, servers, sock, **kw), port)
    return port, sock


def response_headers(r) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in r.headers if k.lower() not in ("content-length",)]


# -- http-response / http-request / tcp-request -------------------------------------------------

def test_http_response_del_add_and_set_header(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, _ = start(proxy_impl, tmp_path, b.ports, backend="""
    http-response del-header X-Drop
    http-response add-header X-Added one
    http-response add-header X-Added two
    http-response set-header X-Keep replaced if { res.hdr(X-Keep) old }
""")
    r = RawClient(port).request(path="/hdrs?X-Drop=1&X-Keep=old&X-Drop=2&X-Other=3")
    assert r.status == 200
    # set-header removes the header and adds it at the end
    assert response_headers(r) == [("x-other", "3"), ("x-added", "one"), ("x-added", "two"),
                                   ("x-keep", "replaced")]
    r = RawClient(port).request(path="/hdrs?X-Keep=new")
    assert response_headers(r) == [("x-keep", "new"), ("x-added", "one"), ("x-added", "two")]


def test_http_request_allow_stops_the_rules(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, _ = start(proxy_impl, tmp_path, b.ports, frontend="""
    http-request allow if { path_beg /open }
    http-request set-header X-After-Allow yes
    http-request deny if { path_beg /closed }
    http-request allow if { path_beg /op }
    http-request deny
""")
    c = RawClient(port)
    r = c.request(path="/open/x")               # allowed by the first rule: nothing after it ran
    assert r.status == 200 and hdr_values(fields(r.body), "x-after-allow") == []
    assert c.request(path="/closed").status == 403
    r = c.request(path="/opera")                # the second allow, after set-header
    assert r.status == 200 and hdr_values(fields(r.body), "x-after-allow") == ["yes"]
    assert c.request(path="/other").status == 403


def _request_from(src: str, port: int) -> bytes:
    s = socket.socket()
    s.settimeout(3)
    s.bind((src, 0))
    data = b""
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return data


def test_tcp_request_connection_accept_on_a_condition(backends, proxy_impl, tmp_path):
    """accept ends the evaluation: the reject after it applies only to the other clients."""
    b = backends("http")
    port, _ = start(proxy_impl, tmp_path, b.ports, frontend="""
    tcp-request connection accept if { src 127.0.0.2 } || { src 127.0.0.3 }
    tcp-request connection reject
""")
    time.sleep(0.2)
    assert _request_from("127.0.0.2", port).startswith(b"HTTP/1.1 200")
    assert _request_from("127.0.0.3", port).startswith(b"HTTP/1.1 200")
    assert _request_from("127.0.0.1", port) == b""


# -- cookies ----------------------------------------------------------------------------------------

def set_cookies(r) -> list[str]:
    return [v for k, v in r.headers if k.lower() == "set-cookie"]


def test_cookie_rewrite_and_prefix_change_the_servers_cookie(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, _ = start(proxy_impl, tmp_path, b.ports, cookies=True, backend="    cookie SRV rewrite")
    r = RawClient(port).request(path="/setcookie?name=SRV&value=from-app")
    assert set_cookies(r) == ["SRV=c1; path=/"]
    r = RawClient(port).request(path="/setcookie?name=OTHER&value=v")     # not the persistence cookie
    assert set_cookies(r) == ["OTHER=v; path=/"]
    # several lines: each one rewritten in place (the name is case-sensitive)
    r = RawClient(port).request(path="/hdrs?Set-Cookie=SRV=a;%20path=/x&Set-Cookie=X=1&Set-Cookie=srv=b")
    assert set_cookies(r) == ["SRV=c1; path=/x", "X=1", "srv=b"]
    port, _ = start(proxy_impl, tmp_path, b.ports, cookies=True, backend="    cookie JSESSIONID prefix")
    c = RawClient(port)
    r = c.request(path="/setcookie?name=JSESSIONID&value=abc123")
    assert set_cookies(r) == ["JSESSIONID=c1~abc123; path=/"]
    r = c.request(path="/echo", headers={"Cookie": "JSESSIONID=c1~abc123"})   # and back
    assert hdr_values(fields(r.body), "cookie") == ["JSESSIONID=abc123"]


@pytest.mark.parametrize("opts,want", [
    ("secure", "SRV=c1; path=/; Secure"),
    ("domain .example.com", "SRV=c1; path=/; domain=.example.com"),
    ("httponly secure domain .a.org", "SRV=c1; path=/; domain=.a.org; HttpOnly; Secure"),
])
def test_cookie_insert_attributes(backends, proxy_impl, tmp_path, opts, want):
    b = backends("http")
    port, _ = start(proxy_impl, tmp_path, b.ports, cookies=True, backend=f"    cookie SRV insert {opts}")
    assert set_cookies(RawClient(port).request(path="/echo")) == [want]


def test_cookie_postonly_and_preserve(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, _ = start(proxy_impl, tmp_path, b.ports, cookies=True, backend="    cookie SRV insert postonly")
    c = RawClient(port)
    assert set_cookies(c.request(path="/echo")) == []
    assert set_cookies(c.request(method="POST", path="/echo", body=b"x")) == ["SRV=c1; path=/"]
    # without preserve the server's own SRV cookie is replaced, with it the server's one is kept
    port, _ = start(proxy_impl, tmp_path, b.ports, cookies=True, backend="    cookie SRV insert")
    assert set_cookies(RawClient(port).request(path="/setcookie?name=SRV&value=mine")) == ["SRV=c1; path=/"]
    r = RawClient(port).request(path="/hdrs?Set-Cookie=SRV=a&Set-Cookie=X=1&Set-Cookie=Srv=b")
    assert set_cookies(r) == ["X=1", "Srv=b", "SRV=c1; path=/"]
    port, _ = start(proxy_impl, tmp_path, b.ports, cookies=True, backend="    cookie SRV insert preserve")
    assert set_cookies(RawClient(port).request(path="/setcookie?name=SRV&value=mine")) == ["SRV=mine; path=/"]
    assert set_cookies(RawClient(port).request(path="/echo")) == ["SRV=c1; path=/"]


def test_cookie_of_a_server_in_maintenance(backends, proxy_impl, tmp_path):
    """`disable server`: its cookie no longer sticks (the request is balanced, a new cookie is
    set); enabled again, it sticks again."""
    b = backends("http", "http")
    port, sock = start(proxy_impl, tmp_path, b.ports, cookies=True, backend="    cookie SRV insert indirect")
    c = RawClient(port)
    for _ in range(3):
        r = c.request(path="/echo", headers={"Cookie": "SRV=c2"})
        assert int(fields(r.body)["srv"]) == b.ports[1] and set_cookies(r) == []
    assert cli(sock, "disable server be/s2") == "\n"
    for _ in range(3):
        r = c.request(path="/echo", headers={"Cookie": "SRV=c2"})
        assert int(fields(r.body)["srv"]) == b.ports[0] and set_cookies(r) == ["SRV=c1; path=/"]
    assert cli(sock, "enable server be/s2") == "\n"
    r = c.request(path="/echo", headers={"Cookie": "SRV=c2"})
    assert int(fields(r.body)["srv"]) == b.ports[1] and set_cookies(r) == []


# -- leastconn ---------------------------------------------------------------------------------------

def served_by(port: int, path: str) -> int:
    c = RawClient(port)
    srv = int(fields(c.request(path=path).body)["srv"])
    c.close()
    return srv


def test_leastconn_sends_new_requests_to_the_least_busy_server(backends, proxy_impl, tmp_path):
    b = backends("http", "http")
    port, _ = start(proxy_impl, tmp_path, b.ports, balance="leastconn")
    with ThreadPoolExecutor(4) as ex:
        slow = ex.submit(lambda: RawClient(port).request(path="/slow?ms=1500"))
        time.sleep(0.3)
        # one long request holds a server: every short one, on new connections, goes to the other
        quick = [served_by(port, f"/echo/{i}") for i in range(6)]
        busy = int(fields(slow.result().body)["srv"])
    assert quick == [b.ports[1] if busy == b.ports[0] else b.ports[0]] * 6
    # two long requests at once: one each
    with ThreadPoolExecutor(2) as ex:
        first = ex.submit(lambda: RawClient(port).request(path="/slow?ms=800"))
        time.sleep(0.2)
        second = ex.submit(lambda: RawClient(port).request(path="/slow?ms=800"))
        got = {int(fields(first.result().body)["srv"]), int(fields(second.result().body)["srv"])}
    assert got == set(b.ports)
