"""Process figures of ``show info`` and the exporter over real sockets, by fastlb and by
HAProxy 2.6 on the same configuration: ``TotalSplicdedBytesOut`` (bytes sent from splice pipes)
after a bulk transfer through a mode tcp proxy, and ``Idle_pct`` idle, under a bounded load and
after it."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest
from statlib import http, show_info

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
IMPLS = ["fastlb", "haproxy"] if HAPROXY else ["fastlb"]
BUFSIZE = 16384  # tune.bufsize: fastlb copies the first full buffer of a direction, then splices

CONFIG = """
global
    nbthread 1
    stats socket {sock} level admin
{glob}
defaults
    timeout client 10s
    timeout server 10s
    timeout connect 1s
frontend metrics
    mode http
    bind 127.0.0.1:{p0}
    http-request use-service prometheus-exporter
listen bulk
    mode tcp
    # HAProxy splices only with these (its splice-auto did not here); fastlb ignores them and
    # splices once a read fills a buffer
    option splice-request
    option splice-response
    bind 127.0.0.1:{p1}
    server s1 127.0.0.1:{srv}
"""


class BulkServer:
    """Each connection: read until the client's FIN, then send `size` bytes and close; with
    `endless`, send blocks at once, until close()."""

    def __init__(self, size: int = 0, endless: bool = False) -> None:
        self.size, self.endless = size, endless
        self.received: list[int] = []
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        with c:
            try:
                if self.endless:
                    block = b"x" * (1 << 16)
                    while not self.stopping.is_set():
                        c.sendall(block)
                    return
                got = 0
                while chunk := c.recv(1 << 20):
                    got += len(chunk)
                self.received.append(got)
                c.sendall(b"y" * self.size)
            except OSError:
                return

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()


def start(stack, tmp_path, impl: str, srv: BulkServer, glob: str = "") -> tuple[dict, str]:
    sock = str(tmp_path / f"{impl}.sock")
    _, v = stack.start(CONFIG, backends=0, ports=2, cmd=[HAPROXY] if impl == "haproxy" else None,
                       sock=sock, srv=srv.port, glob=glob)
    deadline = time.monotonic() + 5
    while not os.path.exists(sock) and time.monotonic() < deadline:  # bound after the listeners
        time.sleep(0.02)
    return v, sock


def metric(port: int, name: str) -> float:
    for line in http(port, target="/metrics")[2].decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


@pytest.mark.parametrize("glob", ["", "    nosplice"])
@pytest.mark.parametrize("impl", IMPLS)
def test_spliced_bytes_out_counts_both_directions(stack, tmp_path, impl, glob):
    size = 8 << 20
    srv = BulkServer(size)
    try:
        v, sock = start(stack, tmp_path, impl, srv, glob)
        assert show_info(sock)["TotalSplicdedBytesOut"] == "0"
        with socket.create_connection(("127.0.0.1", v["p1"]), timeout=10) as c:
            c.sendall(os.urandom(size))            # client -> server
            c.shutdown(socket.SHUT_WR)
            got = 0
            while chunk := c.recv(1 << 20):        # server -> client
                got += len(chunk)
        assert got == size and srv.received == [size]
        deadline = time.monotonic() + 5
        while True:   # the last splice may be counted just after the client saw the bytes
            spliced = int(show_info(sock)["TotalSplicdedBytesOut"])
            if spliced >= 2 * (size - BUFSIZE) or glob or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if glob:
            assert spliced == 0
        else:
            assert 2 * (size - BUFSIZE) <= spliced <= 2 * size
        assert metric(v["p0"], "haproxy_process_spliced_bytes_out_total") == spliced
    finally:
        srv.close()


def idle_pct(sock: str) -> int:
    return int(show_info(sock)["Idle_pct"])


def wait_idle(sock: str, floor: int, timeout: float = 5.0) -> int:
    """Idle_pct once it reached `floor` (a sample lasts at least 0.5 s), or its last value."""
    deadline = time.monotonic() + timeout
    while (value := idle_pct(sock)) < floor and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


@pytest.mark.parametrize("impl", IMPLS)
def test_idle_pct_idle_under_load_and_after(stack, tmp_path, impl):
    srv = BulkServer(endless=True)
    try:
        # copying through the buffers (nosplice) keeps the proxy busiest per byte
        v, sock = start(stack, tmp_path, impl, srv, glob="    nosplice")
        time.sleep(0.6)              # past the first sample
        before = wait_idle(sock, 90)
        assert before >= 90
        assert metric(v["p0"], "haproxy_process_idle_time_percent") >= 90
        during: list[int] = []
        got = 0
        with socket.create_connection(("127.0.0.1", v["p1"]), timeout=10) as c:
            t0 = time.monotonic()
            next_look = t0 + 0.7         # the first sample that lies wholly inside the load
            while time.monotonic() - t0 < 2.5:
                got += len(c.recv(1 << 20))
                if time.monotonic() >= next_look:
                    during.append(idle_pct(sock))
                    next_look += 0.25
            srv.stopping.set()
        assert got > 0 and during
        assert min(during) < before, (before, during)
        after = wait_idle(sock, 90)
        assert after > min(during), (during, after)
    finally:
        srv.close()
