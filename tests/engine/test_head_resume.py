"""Heads that arrive slowly: the proxy resumes the C parser where it stopped (linear work), and
the result is the same as a one-shot parse, when the buffer moves and when other streams use the
worker's shared header array in between."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from enginelib import RawClient, free_port, http_cfg
from fastlb.engine._proxy import RequestHeadProbe, scan_head_in_pieces

from fastlb import http1
from fastlb.engine.offline import offline_worker

OFFLINE_CFG = """
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:8080
    default_backend be
backend be
    server s1 127.0.0.1:8081
"""

OTHER = b"GET /other HTTP/1.1\r\nHost: o\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"


@pytest.fixture(scope="module")
def worker():
    w, shm = offline_worker(OFFLINE_CFG)
    yield w
    del w, shm


def long_line(n: int) -> bytes:
    return b"GET /" + b"a" * n + b" HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"


def long_first_header(n: int) -> bytes:
    return b"GET /p HTTP/1.1\r\nX-Big: " + b"b" * n + b"\r\nHost: h\r\n\r\n"


def many_headers(k: int) -> bytes:
    return b"GET /m HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 90) for i in range(k)) + b"\r\n"


def response(k: int, reason_len: int) -> bytes:
    return (b"HTTP/1.1 200 " + b"R" * reason_len + b"\r\n"
            + b"".join(b"X-R%d: %s\r\n" % (i, b"w" * 90) for i in range(k)) + b"Content-Length: 7\r\n\r\n")


def expected_request(data: bytes):
    r = http1.parse_request(data)
    return r.consumed, (r.method, r.target, r.headers, r.content_length if r.content_length is not None else -1)


@pytest.mark.parametrize("data", [long_line(15000), long_first_header(14000), many_headers(99)],
                         ids=["request-line-15k", "first-header-14k", "99-headers"])
@pytest.mark.parametrize("step", [1, 7])
def test_request_fed_in_pieces_is_scanned_linearly(worker, data, step):
    consumed, fields = expected_request(data)
    r, scanned, got = scan_head_in_pieces(worker, data, step)
    assert r == consumed == len(data)
    assert got == fields
    # each byte: once by memchr among the new bytes, once by the line parser when its line ends
    # (a restart from the first byte on every read would cost about len^2 / (2 * step))
    assert scanned <= 3 * len(data), scanned


def test_one_shot_parse_scans_the_head_once(worker):
    data = many_headers(50)
    r, scanned, _ = scan_head_in_pieces(worker, data, len(data))
    assert r == len(data) and scanned == len(data)


@pytest.mark.parametrize("data", [long_line(9000), many_headers(60)], ids=["line", "headers"])
def test_state_survives_compaction_and_other_streams(worker, data):
    """The head starts 4000 bytes into the buffer and is moved to its start half-way; another
    stream parses into the shared header array between every two pieces."""
    _, fields = expected_request(data)
    r, scanned, got = scan_head_in_pieces(worker, data, 3, lead=4000, compact_at=len(data) // 2, other=OTHER)
    assert r == len(data)
    assert got == fields
    assert scanned <= 3 * len(data)


@pytest.mark.parametrize("k, reason_len", [(99, 10), (5, 12000)], ids=["99-headers", "long-reason"])
def test_response_fed_in_pieces_is_scanned_linearly(worker, k, reason_len):
    data = response(k, reason_len)
    want = http1.parse_response(data)
    r, scanned, got = scan_head_in_pieces(worker, data, 1, response=True, lead=100, compact_at=len(data) // 3,
                                          other=OTHER)
    assert r == want.consumed == len(data)
    assert got == (want.status, want.reason, want.headers, 7)
    assert scanned <= 3 * len(data), scanned


def test_incomplete_heads_are_refused_the_same_in_pieces(worker):
    bad = b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n"
    assert scan_head_in_pieces(worker, bad, 1)[0] == -1
    assert scan_head_in_pieces(worker, bad, len(bad))[0] == -1


def test_proxy_read_path_scans_a_trickled_request_line_linearly(worker):
    """HttpStream.read_request_head on a real socket, one byte per read: the C parser's work stays
    linear (the engine used to restart the parse while no header had been found)."""
    a, b = socket.socketpair()
    a.setblocking(False)
    probe = RequestHeadProbe(worker, a.fileno())
    try:
        line = b"GET /" + b"x" * 12000
        for i in range(len(line)):
            b.send(line[i:i + 1])
            buffered, scanned = probe.read()
            assert buffered == i + 1
        assert scanned <= 3 * len(line), scanned
    finally:
        probe.close()
        a.close()
        b.close()


# -- through the proxy -------------------------------------------------------------------------

def fields(body: bytes) -> tuple[str, list[list[str]]]:
    first, *rest = body.decode().splitlines()
    path = dict(kv.split("=", 1) for kv in first.split(" "))["path"]
    return path, [line[2:].split(": ", 1) for line in rest if line.startswith("h:")]


@pytest.fixture
def proxy(backends, run_cfg):
    b = backends("http")
    port = free_port()
    run_cfg(http_cfg(port, b.ports), port)
    return port


def trickle(sock: socket.socket, data: bytes, piece: int, gap: float) -> None:
    for i in range(0, len(data), piece):
        sock.sendall(data[i:i + piece])
        time.sleep(gap)


def test_request_sent_a_byte_at_a_time_through_the_proxy(proxy):
    c = RawClient(proxy)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = (b"GET /echo/" + b"p" * 600 + b" HTTP/1.1\r\nHost: test\r\n"
            + b"".join(b"X-Slow-%d: %s\r\n" % (i, b"s" * 20) for i in range(30)) + b"\r\n")
    trickle(c.sock, head, 1, 0.0002)
    r = c.read_response()
    assert r.status == 200
    path, hdrs = fields(r.body)
    assert path == "/echo/" + "p" * 600
    assert [h for h in hdrs if h[0].startswith("X-Slow-")] == [[f"X-Slow-{i}", "s" * 20] for i in range(30)]


def test_pipelined_slow_request_after_a_big_one_survives_compaction(proxy):
    """Request 1 (9 KB of head) and the start of request 2 arrive together; the rest of request 2
    (8 KB) trickles in. Request 2's head starts 9 KB into the buffer, so it must be moved to the
    buffer's start (tune.bufsize - tune.maxrewrite = 15 KB) while it is half parsed."""
    c = RawClient(proxy)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    first = b"GET /echo/1 HTTP/1.1\r\nHost: test\r\nX-Pad: " + b"1" * 9000 + b"\r\n\r\n"
    second = (b"GET /echo/2 HTTP/1.1\r\nHost: test\r\n"
              + b"".join(b"X-Two-%d: %s\r\n" % (i, b"2" * 80) for i in range(90)) + b"\r\n")
    c.send(first + second[:50])
    trickle(c.sock, second[50:], 40, 0.0005)
    r1 = c.read_response()
    assert r1.status == 200 and fields(r1.body)[0] == "/echo/1"
    r2 = c.read_response()
    assert r2.status == 200
    path, hdrs = fields(r2.body)
    assert path == "/echo/2"
    assert [h for h in hdrs if h[0].startswith("X-Two-")] == [[f"X-Two-{i}", "2" * 80] for i in range(90)]


def test_response_head_a_byte_at_a_time_while_other_streams_run(proxy):
    """The server writes the response head one byte at a time while other clients' heads go
    through the same worker (its shared header array): the trickled head keeps its fields, the
    proxy's Connection rewrite and the Content-Length body come out right."""
    stop = threading.Event()
    errors: list[str] = []
    done = [0]

    def busy() -> None:
        c = RawClient(proxy)
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            r = c.request(path="/echo/busy", headers={"X-Busy": "1", "X-More": "2"})
            if r.status != 200 or fields(r.body)[0] != "/echo/busy":
                errors.append(f"{r.status} {r.body[:80]!r}")
            done[0] += 1
        c.close()

    t = threading.Thread(target=busy)
    t.start()
    try:
        c = RawClient(proxy)
        r = c.request(path="/trickle?headers=25&us=300", headers={"Connection": "close"})
    finally:
        stop.set()
        t.join(30)
    assert not errors
    assert done[0] > 10              # the other stream really ran in between
    assert r.status == 200 and r.body == b"trickled\n"
    assert [(k, v) for k, v in r.headers if k.startswith("X-Trickle-")] == \
        [(f"X-Trickle-{i}", "v" * i) for i in range(25)]
    # the server's keep-alive was removed and close added, once
    assert [v for k, v in r.headers if k.lower() == "connection"] == ["close"]
    assert r.header("content-length") == "9"
