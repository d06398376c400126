"""mode tcp and listeners over real sockets: splice and its recv/send fallback, server-first
half-close, byte counters, SO_REUSEPORT over two workers, a real connect timeout, bind maxconn,
v4v6/v6only."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import pytest
from enginelib import free_port, syn_dropping_port


def cli(sock_path: str, cmd: str) -> str:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(cmd.encode() + b"\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out.decode()


def info(sock_path: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in cli(sock_path, "show info").splitlines() if ": " in line)


def stat_rows(sock_path: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = cli(sock_path, "show stat").splitlines()
    head = lines[0].lstrip("# ").split(",")
    rows = {}
    for line in lines[1:]:
        if line:
            r = dict(zip(head, line.split(",")))
            rows[(r["pxname"], r["svname"])] = r
    return rows


def tcp_cfg(port: int, servers: list[int], sock: str, glob: str = "", bind_extra: str = "",
            timeouts: str = "timeout client 10s\n    timeout server 10s", nbthread: int = 1) -> str:
    srv = "\n".join(f"    server s{i + 1} 127.0.0.1:{p}" for i, p in enumerate(servers))
    return f"""
global
    nbthread {nbthread}
    maxconn 2000
    stats socket {sock} level admin
{glob}
defaults
    mode tcp
    timeout connect 1s
    {timeouts}
frontend fe
    bind 127.0.0.1:{port} {bind_extra}
    default_backend be
backend be
{srv}
"""


class Bulk:
    """One client connection to the echo backend moving `size` random bytes both ways, kept
    open once the echo is complete (so that its pipes are still held)."""

    def __init__(self, port: int, size: int):
        self.data = os.urandom(size)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.got = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.sock.sendall(self.data)

    def _read(self) -> None:
        want = None
        while want is None or len(self.got) < want:
            d = self.sock.recv(1 << 20)
            if not d:
                return
            self.got += d
            if want is None and b":" in self.got:
                want = self.got.index(b":") + 1 + len(self.data)

    def echoed(self) -> bool:
        self.reader.join(30)
        body = bytes(self.got[self.got.index(b":") + 1:])
        return hashlib.sha256(body).digest() == hashlib.sha256(self.data).digest()


@pytest.mark.parametrize("glob,pipes", [("", None), ("    nosplice", 0), ("    maxpipes 0", 0),
                                        ("    maxpipes 1", 1)])
def test_splice_and_the_recv_send_fallback_move_the_same_bytes(backends, run_cfg, tmp_path, glob, pipes):
    """Bulk transfers splice through pipes unless nosplice / maxpipes leave none; with one pipe
    for two bulk sessions, one of them falls back to recv/send. Every byte arrives either way."""
    b = backends("echo")
    port, sock = free_port(), str(tmp_path / "s.sock")
    run_cfg(tcp_cfg(port, b.ports, sock, glob=glob), port)
    a, c = Bulk(port, 8 << 20), Bulk(port, 8 << 20)
    assert a.echoed() and c.echoed()
    used = int(info(sock)["PipesUsed"])      # both sessions still open: their pipes are held
    if pipes is None:
        assert used >= 2                      # each bulk direction took a pipe
    else:
        assert used == pipes
    a.sock.close()
    c.sock.close()


def test_server_half_closes_first_and_the_client_still_talks(run_cfg, tmp_path):
    """The server says hello and shuts its side: the client gets hello then EOF, then sends a
    request that still reaches the server, and both ends close cleanly."""
    lsock = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def server():
        lsock.settimeout(10)
        while not seen:                 # the proxy's readiness probe may come first: it says nothing
            conn, _ = lsock.accept()
            conn.settimeout(5)
            buf = b""
            try:
                conn.sendall(b"hello")
                conn.shutdown(socket.SHUT_WR)
                while True:
                    d = conn.recv(65536)
                    if not d:
                        break
                    buf += d
            except OSError:           # the probe's connection, dropped by the proxy
                pass
            if buf:
                seen.append(buf)
            conn.close()

    th = threading.Thread(target=server, daemon=True)
    th.start()
    port, sock = free_port(), str(tmp_path / "s.sock")
    run_cfg(tcp_cfg(port, [lsock.getsockname()[1]], sock), port)
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    got = b""
    while True:
        d = c.recv(100)
        if not d:
            break
        got += d
    assert got == b"hello"
    c.sendall(b"late request")
    c.shutdown(socket.SHUT_WR)
    th.join(5)
    assert seen == [b"late request"]
    c.close()


def test_tcp_byte_and_session_counters(backends, run_cfg, tmp_path):
    b = backends("echo")
    port, sock = free_port(), str(tmp_path / "s.sock")
    run_cfg(tcp_cfg(port, b.ports, sock), port)
    time.sleep(0.3)
    base = stat_rows(sock)
    sizes = [1000, 70_000, 3 << 20]
    for n in sizes:
        t = Bulk(port, n)
        assert t.echoed()
        t.sock.close()
    time.sleep(0.3)
    rows = stat_rows(sock)
    greeting = len(f"{b.ports[0]}:")
    sent = sum(sizes)
    for key in (("fe", "FRONTEND"), ("be", "BACKEND"), ("be", "s1")):
        bin_ = int(rows[key]["bin"]) - int(base[key]["bin"])
        bout = int(rows[key]["bout"]) - int(base[key]["bout"])
        assert bin_ == sent, key
        assert bout == sent + greeting * len(sizes), key
    assert int(rows[("be", "s1")]["stot"]) - int(base[("be", "s1")]["stot"]) == len(sizes)


def test_reuseport_listeners_spread_connections_over_two_workers(backends, run_cfg, tmp_path):
    b = backends("echo")
    port, sock = free_port(), str(tmp_path / "s.sock")
    run_cfg(tcp_cfg(port, b.ports, sock, nbthread=2), port)
    time.sleep(0.5)
    held = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert s.recv(100) == f"{b.ports[0]}:".encode()   # served
        held.append(s)
    out = cli(sock, "show sess")
    workers = [line.rsplit("worker=", 1)[1] for line in out.splitlines() if "fe=fe" in line]
    assert len(workers) == 40
    # the kernel hashes connections over the two SO_REUSEPORT sockets: both get some
    assert workers.count("0") >= 5 and workers.count("1") >= 5, workers
    for s in held:
        s.close()


def test_connect_timeout_against_a_server_that_never_answers(run_cfg, tmp_path):
    """A listener whose accept queue is full drops new SYNs: the connection attempt hangs until
    `timeout connect` (no refused port here)."""
    with syn_dropping_port() as dead:
        time.sleep(0.2)
        port, sock = free_port(), str(tmp_path / "s.sock")
        cfg = tcp_cfg(port, [dead], sock).replace("timeout connect 1s", "timeout connect 600ms")
        run_cfg(cfg.replace("backend be\n", "backend be\n    retries 0\n"), port)
        time.sleep(1.0)   # the readiness probe's own connect attempt has timed out
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        t0 = time.monotonic()
        assert c.recv(10) == b""                  # closed once the connect timed out
        assert 0.5 <= time.monotonic() - t0 < 2.0
        rows = stat_rows(sock)
        assert int(rows[("be", "s1")]["econ"]) >= 1


def test_bind_maxconn_makes_the_excess_wait(backends, run_cfg, tmp_path):
    b = backends("echo")
    port, sock = free_port(), str(tmp_path / "s.sock")
    run_cfg(tcp_cfg(port, b.ports, sock, bind_extra="maxconn 2"), port)
    time.sleep(0.3)
    s1 = socket.create_connection(("127.0.0.1", port), timeout=5)
    s2 = socket.create_connection(("127.0.0.1", port), timeout=5)
    greet = f"{b.ports[0]}:".encode()
    assert s1.recv(100) == greet and s2.recv(100) == greet
    s3 = socket.create_connection(("127.0.0.1", port), timeout=5)   # in the backlog
    s3.settimeout(0.6)
    with pytest.raises(TimeoutError):
        s3.recv(100)
    s1.close()
    s3.settimeout(5)
    assert s3.recv(100) == greet                   # accepted once a slot freed up
    s2.close()
    s3.close()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
@pytest.mark.parametrize("opt,v4_ok", [("v4v6", True), ("v6only", False)])
def test_bind_v4v6_and_v6only(backends, run_cfg, tmp_path, opt, v4_ok):
    b = backends("echo")
    port, ready, sock = free_port(), free_port(), str(tmp_path / "s.sock")
    cfg = tcp_cfg(port, b.ports, sock).replace(f"    bind 127.0.0.1:{port} \n",
                                               f"    bind :::{port} {opt}\n    bind 127.0.0.1:{ready}\n")
    run_cfg(cfg, ready)
    greet = f"{b.ports[0]}:".encode()
    s6 = socket.create_connection(("::1", port), timeout=5)
    assert s6.recv(100) == greet
    s6.close()
    if v4_ok:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert s.recv(100) == greet
        s.close()
    else:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)


@pytest.mark.parametrize("sends,abortonclose,delivered", [
    (True, False, True),      # data waiting, no option: still delivered once a slot frees up
    (True, True, False),      # abortonclose: the queued session is dropped
    (False, False, False),    # nothing to deliver: dropped without a server connection
    (False, True, False),
])
def test_client_leaving_while_queued(proxy_impl, tmp_path, sends, abortonclose, delivered):
    """mode tcp, server maxconn 1: a second client waits in the queue, then shuts its side."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))          # listens once the proxy's readiness probe is over
    got: list[bytes] = []

    def serve():
        lsock.settimeout(6)
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return

            def one(c=c):
                c.settimeout(3)
                data = b""
                try:
                    while True:
                        d = c.recv(1000)
                        if not d:
                            break
                        data += d
                        if data == b"busy":
                            time.sleep(0.8)    # hold the only slot, then close
                            break
                except OSError:
                    pass
                got.append(data)
                c.close()
            threading.Thread(target=one, daemon=True).start()

    port = free_port()
    proxy_impl(f"""
global
    nbthread 1
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout queue 5s
    retries 0
listen l
    bind 127.0.0.1:{port}
    {"option abortonclose" if abortonclose else ""}
    server s 127.0.0.1:{lsock.getsockname()[1]} maxconn 1
""", port)
    time.sleep(0.3)
    lsock.listen(8)
    threading.Thread(target=serve, daemon=True).start()
    busy = socket.create_connection(("127.0.0.1", port), timeout=5)
    busy.sendall(b"busy")
    time.sleep(0.2)
    q = socket.create_connection(("127.0.0.1", port), timeout=5)
    if sends:
        q.sendall(b"queued")
        time.sleep(0.1)
        q.shutdown(socket.SHUT_WR)
    else:
        time.sleep(0.1)
        q.close()
    time.sleep(0.1)
    busy.shutdown(socket.SHUT_WR)         # its session ends when the server closes, freeing the slot
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(got) < (2 if delivered else 1):
        time.sleep(0.05)
    time.sleep(0.3)
    assert sorted(got) == ([b"busy", b"queued"] if delivered else [b"busy"])
    busy.close()
    q.close()
    lsock.close()
