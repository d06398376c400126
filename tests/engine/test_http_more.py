"""mode http behaviours over real sockets, each run against fastlb and HAProxy 2.6 (fixture
proxy_impl): server connection reuse, abortonclose, maxqueue, close-delimited and 304 responses,
timeout http-keep-alive, timeout client, a real timeout connect."""
from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from enginelib import RawClient, free_port, syn_dropping_port
from test_http_mode import fields
from test_tcp_more import stat_rows


def cfg(port: int, servers: str, sock: str, backend: str = "", defaults: str = "") -> str:
    return f"""
global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{defaults}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
{backend}
{servers}
"""


def seen_by(port: int) -> list[str]:
    return RawClient(port).request(path="/seen").body.decode().splitlines()


def test_idle_server_connections_are_reused_but_never_by_a_first_request(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, sock = free_port(), str(tmp_path / "s.sock")
    proxy_impl(cfg(port, f"    server s1 127.0.0.1:{b.ports[0]}", sock), port)
    time.sleep(0.3)
    base = stat_rows(sock)[("be", "s1")]
    a = RawClient(port)
    pa = fields(a.request(path="/echo/a").body)["peer"]
    a.close()
    time.sleep(0.2)
    c = RawClient(port)
    pb = fields(c.request(path="/echo/b1").body)["peer"]
    assert pb != pa                          # http-reuse safe: a first request opens its own
    pb2 = fields(c.request(path="/echo/b2").body)["peer"]
    assert pb2 in (pa, pb)                   # later ones take an idle connection
    row = stat_rows(sock)[("be", "s1")]
    assert int(row["connect"]) - int(base["connect"]) == 2
    assert int(row["reuse"]) - int(base["reuse"]) == 1
    c.close()


@pytest.mark.parametrize("abort", [True, False])
def test_a_queued_http1_request_is_served_even_if_its_client_half_closed(backends, proxy_impl, tmp_path, abort):
    """HAProxy 2.6 does not read an HTTP/1 client while its complete request waits, so it never
    sees the FIN there: with or without `option abortonclose` the request is still sent (the
    option acts in mode tcp, see test_tcp_more.py)."""
    b = backends("http")
    port, sock = free_port(), str(tmp_path / "s.sock")
    extra = "    timeout queue 5s\n" + ("    option abortonclose\n" if abort else "")
    proxy_impl(cfg(port, f"    server s1 127.0.0.1:{b.ports[0]} maxconn 1", sock, backend=extra), port)
    with ThreadPoolExecutor(1) as ex:
        busy = ex.submit(lambda: RawClient(port).request(path="/slow?ms=800").status)
        time.sleep(0.3)
        q = socket.create_connection(("127.0.0.1", port), timeout=5)
        q.sendall(b"GET /echo/queued HTTP/1.1\r\nHost: x\r\n\r\n")
        q.shutdown(socket.SHUT_WR)             # the client stops sending while its request waits
        answer = b""
        while True:
            d = q.recv(65536)
            if not d:
                break
            answer += d
        assert busy.result() == 200
    assert answer.startswith(b"HTTP/1.1 200")
    assert "/echo/queued" in seen_by(b.ports[0])


@pytest.mark.parametrize("redispatch", [False, True])
def test_maxqueue_full_server_queue(backends, proxy_impl, tmp_path, redispatch):
    b = backends("http", "http")
    port, sock = free_port(), str(tmp_path / "s.sock")
    servers = (f"    server s1 127.0.0.1:{b.ports[0]} cookie a maxconn 1 maxqueue 1\n"
               f"    server s2 127.0.0.1:{b.ports[1]} cookie b maxconn 1")
    extra = "    cookie SRV insert\n    timeout queue 5s\n" + ("    option redispatch\n" if redispatch else "")
    proxy_impl(cfg(port, servers, sock, backend=extra), port)
    pinned = {"Cookie": "SRV=a"}

    def req(path):
        t0 = time.monotonic()
        r = RawClient(port).request(path=path, headers=pinned)
        return r, time.monotonic() - t0

    with ThreadPoolExecutor(3) as ex:
        running = ex.submit(req, "/slow?ms=1000")
        time.sleep(0.3)
        queued = ex.submit(req, "/echo/queued")
        time.sleep(0.3)
        r3, t3 = req("/echo/third")             # s1's queue is full
        assert running.result()[0].status == 200
        assert queued.result()[0].status == 200 and fields(queued.result()[0].body)["srv"] == str(b.ports[0])
    assert t3 < 0.5                              # not queued behind the others
    if redispatch:
        assert r3.status == 200 and fields(r3.body)["srv"] == str(b.ports[1])
    else:
        assert r3.status == 503


def test_close_delimited_response_and_304_without_body(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, sock = free_port(), str(tmp_path / "s.sock")
    proxy_impl(cfg(port, f"    server s1 127.0.0.1:{b.ports[0]}", sock), port)
    c = RawClient(port)
    r = c.request(path="/status?code=304")
    assert r.status == 304 and r.body == b"" and r.header("content-length") in (None, "0")
    r = c.request(path="/echo/after-304")        # same connection: nothing was left to read
    assert r.status == 200 and fields(r.body)["path"] == "/echo/after-304"
    r = c.request(path="/close?size=70000")     # no length: the body ends with the connection
    assert r.status == 200 and r.body == b"c" * 70000
    assert c.closed_by_peer(2)


def test_timeout_http_keep_alive_closes_an_idle_client(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, sock = free_port(), str(tmp_path / "s.sock")
    proxy_impl(cfg(port, f"    server s1 127.0.0.1:{b.ports[0]}", sock,
                   defaults="    timeout http-keep-alive 600ms"), port)
    c = RawClient(port)
    for _ in range(2):
        assert c.request(path="/slow?ms=300").status == 200   # long requests do not count
    t0 = time.monotonic()
    assert c.closed_by_peer(5)
    assert 0.5 <= time.monotonic() - t0 < 1.5   # counted from the end of the last response


def test_a_stalled_request_body_waits_for_timeout_server_not_timeout_client(backends, proxy_impl, tmp_path):
    """Once the request went to the server, HAProxy does not time the client out while the
    response is awaited: `timeout server` expires and answers 504."""
    b = backends("http")
    port, sock = free_port(), str(tmp_path / "s.sock")
    text = cfg(port, f"    server s1 127.0.0.1:{b.ports[0]}", sock).replace(
        "timeout client 5s", "timeout client 300ms").replace("timeout server 5s", "timeout server 1200ms")
    proxy_impl(text, port)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf")
    t0 = time.monotonic()
    answer = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        answer += d
    assert 1.1 <= time.monotonic() - t0 < 2.5
    assert answer.startswith(b"HTTP/1.1 504"), answer[:80]


def test_timeout_client_when_the_client_does_not_read_the_response(backends, proxy_impl, tmp_path):
    b = backends("http")
    port, sock = free_port(), str(tmp_path / "s.sock")
    text = cfg(port, f"    server s1 127.0.0.1:{b.ports[0]}", sock).replace("timeout client 5s",
                                                                              "timeout client 800ms")
    proxy_impl(text, port)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /big?size=50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    bport = b.ports[0]
    t0 = time.monotonic()
    # nothing is read: once the buffers are full the proxy gives up after timeout client and
    # drops the server connection too
    while time.monotonic() - t0 < 6 and server_connections(bport) == 0:
        time.sleep(0.02)
    while time.monotonic() - t0 < 6 and server_connections(bport) > 0:
        time.sleep(0.05)
    assert 0.7 <= time.monotonic() - t0 < 4.0
    s.close()


def server_connections(port: int) -> int:
    import subprocess
    out = subprocess.run(["ss", "-tnpH", f"( dport = :{port} )"], capture_output=True, text=True,
                         check=False).stdout
    return sum(1 for line in out.splitlines() if "users:" in line and "TIME-WAIT" not in line)


def test_timeout_connect_to_a_server_that_never_answers(proxy_impl, tmp_path):
    with syn_dropping_port() as dead:
        port, sock = free_port(), str(tmp_path / "s.sock")
        proxy_impl(cfg(port, f"    server s1 127.0.0.1:{dead}", sock,
                       backend="    retries 0\n    timeout connect 500ms"), port)
        time.sleep(0.8)      # the readiness probe's own attempt is over
        t0 = time.monotonic()
        r = RawClient(port).request(path="/echo")
        assert r.status == 503
        assert 0.4 <= time.monotonic() - t0 < 1.5

