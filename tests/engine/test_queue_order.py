"""Server maxconn queue order over real sockets, fastlb and HAProxy 2.6 on the same configuration:
clients that arrive while the only server is busy are served first in, first out."""
from __future__ import annotations

import re
import socket
import threading
import time

from enginelib import free_port


def get(port: int, path: str, out: dict[str, bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    out[path] = data


def test_requests_queued_on_a_full_server_are_served_in_arrival_order(backends, proxy_impl):
    b = backends("http")
    port = free_port()
    proxy_impl(f"""
global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 20s
    timeout server 20s
    timeout queue 20s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{b.ports[0]} maxconn 1
""", port)
    out: dict[str, bytes] = {}
    # the first request holds the only slot; the others arrive 80 ms apart, in a known order
    # that is neither the order of their paths' names nor of their source ports
    names = ["/slow?ms=900&id=first"] + [f"/slow?ms=60&id=q{k}" for k in (3, 0, 4, 1, 2)]
    threads = []
    for path in names:
        t = threading.Thread(target=get, args=(port, path, out), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(0.08)
    deadline = time.monotonic() + 20
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    assert all(out.get(p, b"").startswith(b"HTTP/1.1 200") for p in names), out
    seen = b""
    with socket.create_connection(("127.0.0.1", b.ports[0]), timeout=5) as s:
        s.sendall(b"GET /seen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while b"\r\n\r\n" not in seen or len(seen.split(b"\r\n\r\n", 1)[1]) < int(
                re.search(rb"Content-Length: (\d+)", seen).group(1)):
            d = s.recv(65536)       # (the backend keeps /seen connections open: read by length)
            if not d:
                break
            seen += d
    order = [line for line in seen.split(b"\r\n\r\n", 1)[1].decode().splitlines() if "id=" in line]
    assert order == names, (proxy_impl.name, order)
