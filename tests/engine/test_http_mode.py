"""mode http over real sockets against real backend processes."""
from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from enginelib import RawClient, free_port, http_cfg


def fields(body: bytes) -> dict:
    first, *rest = body.decode().splitlines()
    d = dict(kv.split("=", 1) for kv in first.split(" "))
    d["headers"] = [line[2:].split(": ", 1) for line in rest if line.startswith("h:")]
    return d


def hdr_values(f: dict, name: str) -> list[str]:
    return [v for k, v in f["headers"] if k.lower() == name.lower()]


@pytest.fixture
def setup(backends, run_cfg):
    def start(nservers=1, **kw):
        b = backends(*(["http"] * nservers))
        port = free_port()
        run_cfg(http_cfg(port, b.ports, **kw), port)
        return port, b
    return start


def test_100_requests_on_one_keep_alive_connection_round_robin(setup):
    port, b = setup(2)
    c = RawClient(port)
    seen = []
    for i in range(100):
        r = c.request(path=f"/echo/{i}")
        assert r.status == 200
        f = fields(r.body)
        assert f["path"] == f"/echo/{i}"
        seen.append(int(f["srv"]))
    assert seen.count(b.ports[0]) == 50 and seen.count(b.ports[1]) == 50
    assert not c.closed_by_peer(0.2)  # still open


def test_ten_pipelined_requests_answered_in_order(setup):
    port, _ = setup(2)
    c = RawClient(port)
    c.send(b"".join(b"GET /echo/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(10)))
    for i in range(10):
        r = c.read_response()
        assert r.status == 200 and fields(r.body)["path"] == f"/echo/{i}"


def test_5mb_chunked_upload_and_chunked_response(setup):
    port, _ = setup()
    data = os.urandom(5 * 1024 * 1024)
    c = RawClient(port, timeout=30)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 100_000]), data[i:i + 100_000])
                      for i in range(0, len(data), 100_000)) + b"0\r\n\r\n"
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    r = c.read_response()
    f = fields(r.body)
    assert r.status == 200 and int(f["body_len"]) == len(data)
    assert f["body_sha"] == hashlib.sha256(data).hexdigest()
    r = c.request(path="/chunked?n=50&size=1000")
    assert r.header("transfer-encoding") == "chunked"
    assert len(r.body) == 50_000 and r.body[:1000] == b"a" * 1000


def test_large_content_length_both_ways(setup):
    port, _ = setup()
    data = os.urandom(3 * 1024 * 1024)
    c = RawClient(port, timeout=30)
    r = c.request("POST", "/echo", body=data)
    assert fields(r.body)["body_sha"] == hashlib.sha256(data).hexdigest()
    r = c.request(path="/big?size=20000000")
    assert len(r.body) == 20_000_000 and r.body[:256] == bytes(range(256))


def test_head_has_no_body_and_keeps_the_connection(setup):
    port, _ = setup()
    c = RawClient(port)
    r = c.request("HEAD", "/echo")
    assert r.status == 200 and int(r.header("content-length")) > 0
    r = c.request("GET", "/status?code=204")
    assert r.status == 204
    r = c.request("GET", "/echo/after")
    assert fields(r.body)["path"] == "/echo/after"


def test_expect_100_continue(setup):
    port, _ = setup()
    c = RawClient(port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    interim = c.read_response()
    assert interim.status == 100
    c.send(b"hello")
    r = c.read_response()
    assert r.status == 200 and fields(r.body)["body_len"] == "5"


def test_websocket_upgrade_becomes_a_tunnel(setup):
    port, _ = setup()
    c = RawClient(port)
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    r = c.read_response(head_request=True)
    assert r.status == 101
    for msg in (b"ping", b"x" * 100_000):
        c.send(msg)
        got = c.buf
        c.buf = b""
        while len(got) < len(msg):
            got += c.sock.recv(1 << 20)
        assert got == msg


def test_http10_client_closes_after_response_unless_keep_alive(setup):
    port, _ = setup()
    c = RawClient(port)
    r = c.request(path="/echo/a", version="HTTP/1.0", headers={})
    assert r.status == 200
    assert c.closed_by_peer()
    c = RawClient(port)
    r = c.request(path="/echo/b", version="HTTP/1.0", headers={"Connection": "keep-alive"})
    assert r.header("connection").lower() == "keep-alive"
    r = c.request(path="/echo/c", version="HTTP/1.0", headers={"Connection": "keep-alive"})
    assert fields(r.body)["path"] == "/echo/c"


def test_forwardfor_and_server_close(setup):
    port, _ = setup(defaults_extra="    option forwardfor\n    option http-server-close")
    c = RawClient(port)
    f = fields(c.request(path="/echo").body)
    assert hdr_values(f, "x-forwarded-for") == ["127.0.0.1"]
    assert hdr_values(f, "connection") == ["close"]
    # the client side stays alive
    assert fields(c.request(path="/echo/2").body)["path"] == "/echo/2"


def test_forwardfor_except_and_if_none_and_header_name(setup):
    port, _ = setup(frontend_extra="    option forwardfor except 127.0.0.0/8")
    assert hdr_values(fields(RawClient(port).request().body), "x-forwarded-for") == []
    port, _ = setup(frontend_extra="    option forwardfor header X-Client if-none")
    f = fields(RawClient(port).request(headers={"X-Client": "1.2.3.4"}).body)
    assert hdr_values(f, "x-client") == ["1.2.3.4"]
    f = fields(RawClient(port).request().body)
    assert hdr_values(f, "x-client") == ["127.0.0.1"]


def test_httpclose_closes_both_sides(setup):
    port, _ = setup(defaults_extra="    option httpclose")
    c = RawClient(port)
    r = c.request()
    assert r.header("connection").lower() == "close"
    assert hdr_values(fields(r.body), "connection") == ["close"]
    assert c.closed_by_peer()


# -- errors, each triggered for real ----------------------------------------------------------

def test_400_malformed_and_oversized(setup):
    port, _ = setup()
    c = RawClient(port)
    c.send(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
    r = c.read_response()
    assert r.status == 400 and b"Your browser sent an invalid request." in r.body
    assert c.closed_by_peer()
    c = RawClient(port)
    c.send(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.read_response().status == 400


def test_408_when_the_request_is_too_slow(setup):
    port, _ = setup(defaults_extra="    timeout http-request 300ms")
    c = RawClient(port)
    c.send(b"GET / HTTP/1.1\r\n")
    t0 = time.monotonic()
    r = c.read_response()
    assert r.status == 408 and 0.25 < time.monotonic() - t0 < 2
    assert r.header("connection") == "close"


def test_502_on_invalid_or_missing_response(setup):
    port, _ = setup()
    for path in ("/bad", "/nothing"):
        r = RawClient(port).request(path=path)
        assert r.status == 502 and b"invalid or incomplete response" in r.body


def test_503_without_server_and_504_on_server_timeout(backends, run_cfg):
    b = backends("http", "refuse")
    port = free_port()
    cfg = http_cfg(port, [b.ports[0]], defaults_extra="    timeout server 300ms",
                   frontend_extra="    use_backend empty if { path_beg /empty }\n"
                                  "    use_backend dead if { path_beg /dead }")
    cfg += "backend empty\n\nbackend dead\n    retries 0\n    server d 127.0.0.1:%d\n" % b.ports[1]
    run_cfg(cfg, port)
    c = RawClient(port)
    r = c.request(path="/empty")
    assert r.status == 503 and b"No server is available" in r.body
    # HAProxy keeps the connection after a 503 for a complete request
    assert c.request(path="/dead").status == 503
    r = c.request(path="/slow?ms=2000")
    assert r.status == 504 and b"didn't respond in time" in r.body


def test_errorfile_replaces_a_page(backends, run_cfg, tmp_path):
    page = tmp_path / "503.http"
    page.write_bytes(b"HTTP/1.1 503 Custom\r\nContent-Length: 4\r\n\r\nnope")
    b = backends("http")
    port = free_port()
    cfg = http_cfg(port, b.ports, frontend_extra=f"    errorfile 503 {page}\n    use_backend empty if {{ path /none }}")
    run_cfg(cfg + "backend empty\n", port)
    r = RawClient(port).request(path="/none")
    assert (r.status, r.reason, r.body) == (503, "Custom", b"nope")


def test_maxconn_1_queues_requests_then_serves_them_all(setup):
    port, _ = setup(backend_extra="    timeout queue 10s\n    default-server maxconn 1")

    def one(i):
        return fields(RawClient(port).request(path=f"/slow?ms=200&i={i}").body)["path"]

    t0 = time.monotonic()
    with ThreadPoolExecutor(5) as ex:
        out = list(ex.map(one, range(5)))
    assert sorted(out) == sorted(f"/slow?ms=200&i={i}" for i in range(5))
    assert time.monotonic() - t0 >= 0.9  # served one at a time


def test_queue_timeout_gives_503(setup):
    port, _ = setup(backend_extra="    timeout queue 300ms\n    default-server maxconn 1")

    def one(i):
        return RawClient(port).request(path="/slow?ms=1000").status

    with ThreadPoolExecutor(4) as ex:
        statuses = list(ex.map(one, range(4)))
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1


def test_refusing_server_hidden_by_retries_and_redispatch(backends, run_cfg):
    b = backends("refuse", "http")
    port = free_port()
    run_cfg(http_cfg(port, b.ports, defaults_extra="    retries 3\n    option redispatch\n    timeout connect 100ms"),
            port)
    for i in range(4):
        r = RawClient(port).request(path=f"/echo/{i}")
        assert r.status == 200 and fields(r.body)["srv"] == str(b.ports[1])


def test_many_concurrent_keep_alive_clients(setup):
    port, _ = setup(2, nbthread=2)

    def client(i):
        c = RawClient(port)
        for j in range(20):
            assert fields(c.request(path=f"/echo/{i}/{j}").body)["path"] == f"/echo/{i}/{j}"
        c.close()
        return True

    with ThreadPoolExecutor(50) as ex:
        assert all(ex.map(client, range(100)))


def test_tunnel_timeout_replaces_client_and_server_timeouts(setup):
    port, _ = setup(defaults_extra="    timeout client 300ms\n    timeout server 300ms\n    timeout tunnel 1500ms")
    c = RawClient(port)
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert c.read_response(head_request=True).status == 101
    time.sleep(0.8)  # silent longer than client/server timeouts, shorter than the tunnel's
    c.send(b"still here")
    got = b""
    while len(got) < 10:
        got += c.sock.recv(100)
    assert got == b"still here"
    t0 = time.monotonic()
    assert c.closed_by_peer(5)
    assert 1.2 < time.monotonic() - t0 < 3
