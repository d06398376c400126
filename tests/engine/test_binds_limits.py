"""bind address forms and connection limits, over real sockets."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from enginelib import RawClient, free_port, wait_port
from test_http_mode import fields


def cfg_with_binds(binds: str, backend_port: int, fe_extra: str = "", glob: str = "") -> str:
    return f"""
global
    nbthread 1
{glob}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
{binds}
{fe_extra}
    default_backend be
backend be
    server s1 127.0.0.1:{backend_port}
"""


def unix_request(path: str) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"GET /echo/unix HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d


def test_bind_forms(backends, run_cfg, tmp_path):
    b = backends("http")
    p1, p2 = free_port(), free_port()
    lo = free_port()
    while True:  # a small free range
        try:
            socks = [socket.create_server(("127.0.0.1", lo + i)) for i in range(3)]
            break
        except OSError:
            lo = free_port()
    for s in socks:
        s.close()
    v6 = free_port()
    unix_path = str(tmp_path / "fe.sock")
    binds = (f"    bind :{p1} name any\n    bind 127.0.0.1:{lo}-{lo + 2} maxconn 10 backlog 64\n"
             f"    bind [::1]:{v6}\n    bind unix@{unix_path}\n    bind *:{p2} defer-accept\n")
    run_cfg(cfg_with_binds(binds, b.ports[0]), p1)
    for port in (p1, lo, lo + 1, lo + 2, p2):
        assert RawClient(port).request(path="/echo/x").status == 200
    s6 = socket.create_connection(("::1", v6), timeout=5)
    s6.sendall(b"GET /echo/v6 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert s6.recv(100).startswith(b"HTTP/1.1 200")
    assert unix_request(unix_path).startswith(b"HTTP/1.1 200")


def test_bind_inherited_fd(backends, tmp_path):
    b = backends("http")
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    fd = lsock.fileno()
    cfg = tmp_path / "fd.cfg"
    cfg.write_text(cfg_with_binds(f"    bind fd@{fd}", b.ports[0]))
    proc = subprocess.Popen([sys.executable, "-m", "fastlb", "-f", str(cfg), "-db"], pass_fds=(fd,),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)
        lsock.close()  # only fastlb holds it now
        wait_port(port, proc=proc)
        assert fields(RawClient(port).request(path="/echo/fd").body)["path"] == "/echo/fd"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_frontend_maxconn_makes_the_excess_wait(backends, run_cfg):
    b = backends("http")
    port = free_port()
    run_cfg(cfg_with_binds(f"    bind 127.0.0.1:{port}", b.ports[0], fe_extra="    maxconn 2"), port)

    def one(i):
        t0 = time.monotonic()
        r = RawClient(port).request(path=f"/slow?ms=600&i={i}", headers={"Connection": "close"})
        return r.status, time.monotonic() - t0

    with ThreadPoolExecutor(3) as ex:
        res = list(ex.map(one, range(3)))
    assert all(st == 200 for st, _ in res)
    # two are served at once, the third only once a slot frees up
    assert max(t for _, t in res) >= 1.1


def test_global_maxconn_and_runtime_change(backends, run_cfg, tmp_path):
    b = backends("http")
    port = free_port()
    sock = tmp_path / "admin.sock"
    run_cfg(cfg_with_binds(f"    bind 127.0.0.1:{port}", b.ports[0],
                           glob=f"    maxconn 10\n    stats socket {sock} level admin"), port)

    def timed(n):
        def one(i):
            t0 = time.monotonic()
            assert RawClient(port).request(path=f"/slow?ms=500&i={i}", headers={"Connection": "close"}).status == 200
            return time.monotonic() - t0
        with ThreadPoolExecutor(n) as ex:
            return max(ex.map(one, range(n)))

    def cli(cmd):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        s.sendall(cmd.encode() + b"\n")
        out = s.recv(100)
        s.close()
        time.sleep(0.2)
        return out

    assert timed(2) < 0.95            # both at once
    assert cli("set maxconn global 1") == b"\n"
    assert timed(2) >= 0.95           # one at a time: accepting stops at the limit, resumes below
    cli("set maxconn global 10")
    assert timed(2) < 0.95
    assert cli("set maxconn frontend fe 1") == b"\n"
    assert timed(2) >= 0.95
    cli("set maxconn frontend fe 0")
    assert timed(2) < 0.95


def test_frontend_maxconn_shared_by_two_binds_wakes_the_other_bind(backends, run_cfg):
    """A slot freed on one bind lets a connection waiting in the other bind's backlog in."""
    b = backends("http")
    p1, p2 = free_port(), free_port()
    run_cfg(cfg_with_binds(f"    bind 127.0.0.1:{p1}\n    bind 127.0.0.1:{p2}", b.ports[0],
                           fe_extra="    maxconn 1"), p1)
    wait_port(p2)
    time.sleep(0.3)  # the probe connections of wait_port are closed and counted out

    def one(port, ms):
        t0 = time.monotonic()
        r = RawClient(port, timeout=8).request(path=f"/slow?ms={ms}", headers={"Connection": "close"})
        return r.status, time.monotonic() - t0

    with ThreadPoolExecutor(2) as ex:
        first = ex.submit(one, p1, 700)
        time.sleep(0.25)
        second = ex.submit(one, p2, 10)  # waits in p2's backlog: the frontend is full
        st1, _ = first.result()
        st2, t2 = second.result()
    assert st1 == 200 and st2 == 200
    # served once the first one left (~0.45 s later), not after a timeout or a new SYN on p2
    assert 0.3 <= t2 < 2.0
