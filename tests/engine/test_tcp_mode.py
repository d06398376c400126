"""mode tcp over real sockets: forwarding, half-close, concurrency, retries and redispatch."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from enginelib import free_port


def tcp_config(port, servers, *, nbthread=1, retries=3, redispatch=False, timeouts="client=10000, server=10000, connect=1000"):
    srv = ", ".join(f'Server("s{i + 1}", Address("ipv4", "127.0.0.1", {p}, {p}))' for i, p in enumerate(servers))
    return (f'Config(global_=GlobalSection(nbthread={nbthread}, maxconn=2000), proxies=('
            f'Proxy(name="fe", kind="frontend", mode="tcp", default_backend="be", timeouts=Timeouts({timeouts}), '
            f'binds=(Bind(address=Address("ipv4", "127.0.0.1", {port}, {port}, text="127.0.0.1:{port}")),)),'
            f'Proxy(name="be", kind="backend", mode="tcp", retries={retries}, redispatch={redispatch}, '
            f'timeouts=Timeouts({timeouts}), servers=({srv},)),))')


def exchange(port, payload: bytes, timeout=20.0) -> bytes:
    """Send payload, half-close, read everything until EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = []

    def reader():
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got.append(d)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    t.join(timeout)
    s.close()
    return b"".join(got)


def test_100mb_round_trip_with_checksum(backends, run_model):
    b = backends("echo")
    port = free_port()
    run_model(tcp_config(port, b.ports), port)
    data = os.urandom(100 * 1024 * 1024)
    out = exchange(port, data, timeout=60)
    prefix = f"{b.ports[0]}:".encode()
    assert out[:len(prefix)] == prefix
    assert len(out) == len(prefix) + len(data)
    assert hashlib.sha256(out[len(prefix):]).digest() == hashlib.sha256(data).digest()


def test_half_close_reaches_server_and_answer_still_arrives(backends, run_model):
    b = backends("echo")
    port = free_port()
    run_model(tcp_config(port, b.ports), port)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"first part")
    s.shutdown(socket.SHUT_WR)  # the echo server only answers EOF after seeing ours
    buf = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    assert buf == f"{b.ports[0]}:first part".encode()


def test_200_concurrent_clients_round_robin(backends, run_model):
    b = backends("echo", "echo")
    port = free_port()
    run_model(tcp_config(port, b.ports), port)

    def one(i):
        msg = f"client-{i}-".encode() * 100
        out = exchange(port, msg)
        tag, _, body = out.partition(b":")
        assert body == msg
        return int(tag)

    with ThreadPoolExecutor(max_workers=200) as ex:
        tags = list(ex.map(one, range(200)))
    assert sorted(set(tags)) == sorted(b.ports)
    assert abs(tags.count(b.ports[0]) - tags.count(b.ports[1])) <= 2


def test_refusing_server_hidden_by_retries_and_redispatch(backends, run_model):
    b = backends("refuse", "echo")
    port = free_port()
    run_model(tcp_config(port, b.ports, retries=3, redispatch=True,
                         timeouts="client=10000, server=10000, connect=100"), port)
    for i in range(6):
        out = exchange(port, b"ping%d" % i)
        assert out == f"{b.ports[1]}:ping{i}".encode()


def test_no_retry_left_closes_client(backends, run_model):
    b = backends("refuse")
    port = free_port()
    run_model(tcp_config(port, b.ports, retries=1, timeouts="client=10000, server=10000, connect=100"), port)
    t0 = time.monotonic()
    assert exchange(port, b"x") == b""
    assert time.monotonic() - t0 >= 0.09  # one turn-around before the retry


def test_client_timeout_closes_idle_connection(backends, run_model):
    b = backends("echo")
    port = free_port()
    run_model(tcp_config(port, b.ports, timeouts="client=300, server=300, connect=1000"), port)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert s.recv(100) == f"{b.ports[0]}:".encode()
    t0 = time.monotonic()
    assert s.recv(100) == b""  # closed by the proxy
    assert 0.2 < time.monotonic() - t0 < 2.0


def test_two_workers_share_the_load(backends, run_model):
    b = backends("echo")
    port = free_port()
    run_model(tcp_config(port, b.ports, nbthread=2), port)
    with ThreadPoolExecutor(max_workers=50) as ex:
        outs = list(ex.map(lambda i: exchange(port, b"w%d" % i), range(100)))
    assert all(o == f"{b.ports[0]}:w{i}".encode() for i, o in enumerate(outs))
