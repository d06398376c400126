"""Head size and header count limits at the proxy, as HAProxy 2.6 applies them: a request head
too large or with too many headers gets a 400, a response head too large a 502, and
tune.bufsize, tune.maxrewrite and tune.http.maxhdr move the limits. The exact boundary comes
from `htx_size` below (HAProxy's measure, see fl_http_htx_size in csrc/fl_http.h); where
haproxy is installed the same boundaries are checked on it, so that the rule is HAProxy's
and not only ours.

Deliberate difference: a head whose raw bytes exceed tune.bufsize - tune.maxrewrite only
because of optional whitespace around values is accepted by HAProxy (it counts the head
without it, and reads up to the whole buffer) and refused by fastlb, which keeps the maxrewrite
reserve of the buffer free for its in-place rewrites."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

import pytest
from enginelib import free_port, wait_port

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
PROGRAMS = [("fastlb", [sys.executable, "-m", "fastlb"])] + ([("haproxy", [HAPROXY])] if HAPROXY else [])
TUNES = {  # name: (global lines, bufsize, maxrewrite, maxhdr)
    "defaults": ("", 16384, 1024, 101),
    "bufsize 8k maxrewrite 512": ("    tune.bufsize 8192\n    tune.maxrewrite 512\n", 8192, 512, 101),
    "bufsize 4k maxrewrite 0, maxhdr 10": ("    tune.bufsize 4096\n    tune.maxrewrite 0\n    tune.http.maxhdr 10\n",
                                           4096, 0, 10),
}


def htx_size(start: tuple[bytes, ...], headers: list[tuple[bytes, bytes]]) -> int:
    """HAProxy's measure of a head: start line parts, names and values, 8 bytes per header,
    85 fixed."""
    return 85 + sum(len(p) for p in start) + sum(8 + len(n) + len(v.strip(b" \t")) for n, v in headers)


def request(target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"


def padded_request(limit: int, extra_headers: int, pad_in: str, over: int) -> bytes:
    """A request whose HTX size is `limit + over`, padded in the target or in a header."""
    headers = [(b"Host", b"example")] + [(b"X-H%d" % i, b"v") for i in range(extra_headers)]
    target = b"/"
    if pad_in == "header":
        headers.append((b"X-Pad", b""))
    size = htx_size((b"GET", target, b"HTTP/1.1"), headers)
    fill = b"a" * (limit + over - size)
    if pad_in == "header":
        headers[-1] = (b"X-Pad", fill)
    else:
        target = b"/" + fill
    data = request(target, headers)
    assert htx_size((b"GET", target, b"HTTP/1.1"), headers) == limit + over
    return data


def status_of(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        try:
            c.sendall(data)
        except OSError:  # the proxy may answer and close before taking everything
            pass
        head = b""
        while b"\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                break
            head += chunk
    return head.split(b"\r\n")[0][:12]


class _BigHeads(socketserver.BaseRequestHandler):
    """Answers each request with a response head of the size the request's X-Want asks for."""

    def handle(self) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = self.request.recv(65536)
            if not data:
                return
            buf += data
        want = int([line for line in buf.split(b"\r\n") if line.lower().startswith(b"x-want:")][0].split(b":")[1])
        headers = [(b"Content-Length", b"2"), (b"X-Pad", b"")]
        fill = want - htx_size((b"HTTP/1.1", b"200", b"OK"), headers)
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: " + b"a" * fill + b"\r\n\r\nok")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def big_heads():
    srv = _Server(("127.0.0.1", 0), _BigHeads)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module", params=list(TUNES))
def proxies(request, big_heads, tmp_path_factory):
    """fastlb (and haproxy) on one tune setting: frontend `fe` answers locally, `fr` relays to
    the big-heads server."""
    tune, bufsize, maxrewrite, maxhdr = TUNES[request.param]
    tmp = tmp_path_factory.mktemp("limits")
    running = []
    for name, program in PROGRAMS:
        port, rport = free_port(), free_port()
        cfg = tmp / f"{name}.cfg"
        cfg.write_text(f"""global
    nbthread 1
{tune}
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200
frontend fr
    bind 127.0.0.1:{rport}
    default_backend be
backend be
    server s1 127.0.0.1:{big_heads}
""")
        proc = subprocess.Popen([*program, "-db", "-f", str(cfg)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        wait_port(port, proc=proc)
        wait_port(rport, proc=proc)
        running.append((name, port, rport, proc))
    yield bufsize - maxrewrite, maxhdr, [(name, port, rport) for name, port, rport, _ in running], bufsize
    for _, _, _, proc in running:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("extra_headers, pad_in", [(0, "header"), (0, "target"), (7, "header")])
def test_request_head_at_the_limit_passes_one_byte_more_is_400(proxies, extra_headers, pad_in):
    limit, _, running, _ = proxies
    for name, port, _ in running:
        assert status_of(port, padded_request(limit, extra_headers, pad_in, 0)) == b"HTTP/1.1 200", name
        assert status_of(port, padded_request(limit, extra_headers, pad_in, 1)) == b"HTTP/1.1 400", name


def test_request_head_that_never_ends_is_400(proxies):
    _, _, running, bufsize = proxies
    for name, port, _ in running:
        data = b"GET /" + b"a" * (bufsize + 100)  # no end of line: more than a buffer holds
        assert status_of(port, data) == b"HTTP/1.1 400", name
        slow = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"b" * (bufsize + 100)
        assert status_of(port, slow) == b"HTTP/1.1 400", name


def test_header_count_limit_is_maxhdr(proxies):
    """tune.http.maxhdr counts the headers a request may have, minus one (HAProxy keeps a slot)."""
    _, maxhdr, running, _ = proxies
    for name, port, _ in running:
        def with_headers(n: int) -> bytes:
            return request(b"/", [(b"Host", b"x")] + [(b"X-%d" % i, b"v") for i in range(n - 1)])

        assert status_of(port, with_headers(maxhdr - 1)) == b"HTTP/1.1 200", name
        assert status_of(port, with_headers(maxhdr)) == b"HTTP/1.1 400", name


def test_response_head_at_the_limit_passes_one_byte_more_is_502(proxies):
    limit, _, running, _ = proxies
    for name, _, rport in running:
        for want, status in ((limit, b"HTTP/1.1 200"), (limit + 1, b"HTTP/1.1 502")):
            got = status_of(rport, b"GET / HTTP/1.1\r\nHost: x\r\nX-Want: %d\r\n\r\n" % want)
            assert got == status, (name, want)


def test_whitespace_around_values_is_not_counted(proxies):
    """Optional whitespace is not part of the measure (within the raw limit)."""
    limit, _, running, _ = proxies
    for name, port, _ in running:
        base = padded_request(limit - 40, 0, "header", 0)
        spaced = base.replace(b"X-Pad: ", b"X-Pad:" + b" " * 20).replace(b"\r\n\r\n", b" " * 19 + b"\r\n\r\n")
        assert status_of(port, spaced) == b"HTTP/1.1 200", name


def test_limits_hold_at_once_when_the_head_arrives_in_pieces(proxies):
    limit, _, running, _ = proxies
    for name, port, _ in running:
        for over, status in ((0, b"HTTP/1.1 200"), (1, b"HTTP/1.1 400")):
            data = padded_request(limit, 2, "header", over)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                for i in range(0, len(data), 1000):
                    try:
                        c.sendall(data[i:i + 1000])
                    except OSError:
                        break
                    time.sleep(0.002)
                assert c.recv(4096).split(b"\r\n")[0][:12] == status, (name, over)
