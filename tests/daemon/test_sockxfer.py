"""Listening sockets handed over between processes: HAProxy's ``_getsocks`` protocol, ``-x``,
the automatic handover to the process of ``-sf``/``-st``, and both directions with haproxy."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import threading
import time

import pytest
from daemon_lab import (
    FASTLB,
    Load,
    alive,
    children,
    free_port,
    get,
    haproxy_binary,
    listening_inodes,
    proxy_config,
    read_pidfile,
    wait_until,
)

from fastlb.runtime import sockxfer
from fastlb.runtime.listeners import group_by_key, socket_key


def _listeners(n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        out.append(s)
    return out


def test_protocol_moves_hundreds_of_sockets_in_batches():
    """More sockets than one SCM_RIGHTS message carries (253): batches with acknowledgements;
    the receiver gets the same sockets (same addresses, same order), and can accept on them."""
    socks = _listeners(300)
    server, client = socket.socketpair()
    try:
        def serve() -> None:
            line = server.recv(64)
            assert line == b"_getsocks\n"
            sockxfer.send_sockets(server, socks, timeout=5)

        t = threading.Thread(target=serve)
        t.start()
        got = sockxfer.receive_sockets(client, timeout=5)
        t.join(5)
        assert [s.getsockname() for s in got] == [s.getsockname() for s in socks]
        with socket.create_connection(socks[123].getsockname()):
            got[123].settimeout(2)
            conn, _ = got[123].accept()  # the very same accept queue
            conn.close()
        for s in got:
            s.close()
    finally:
        for s in socks:
            s.close()
        server.close()
        client.close()


def test_sockets_bound_in_a_namespace_or_to_an_interface_are_dropped():
    """HAProxy sends a namespace and an interface name per socket; fastlb binds neither, so such
    sockets cannot match a listener and are closed."""
    socks = _listeners(2)
    server, client = socket.socketpair()
    try:
        def serve() -> None:
            server.recv(64)
            fds = [s.fileno() for s in socks]
            server.sendmsg([struct.pack("=i", 2)])
            data = b"\x00\x00" + b"\x00" * 4 + b"\x03ns1\x00" + b"\x00" * 4
            server.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("=2i", *fds))])

        t = threading.Thread(target=serve)
        t.start()
        got = sockxfer.receive_sockets(client, timeout=5)
        t.join(5)
        assert [s.getsockname() for s in got] == [socks[0].getsockname()]
        got[0].close()
    finally:
        for s in socks:
            s.close()
        server.close()
        client.close()


def test_socket_keys_match_listener_descriptions():
    s4 = _listeners(1)[0]
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::1", 0))
    s6.listen(1)
    u = socket.socket(socket.AF_UNIX)
    u.bind("\0fastlb-test-key")
    u.listen(1)
    idle = socket.socket()  # bound, not listening: no use as a listener
    idle.bind(("127.0.0.1", 0))
    try:
        assert socket_key(s4) == f"127.0.0.1:{s4.getsockname()[1]}"
        assert socket_key(s6) == f"[::1]:{s6.getsockname()[1]}"
        assert socket_key(u) == "abns@fastlb-test-key"
        assert socket_key(idle) is None
        groups = group_by_key([s4.dup(), s4.dup(), idle.dup()])
        assert list(groups) == [socket_key(s4)] and len(groups[socket_key(s4)]) == 2
        for v in groups.values():
            for s in v:
                s.close()
    finally:
        for s in (s4, s6, u, idle):
            s.close()


def test_exporter_serves_root_and_its_own_user_only():
    """The abstract socket of a master answers root and its own uid; another user gets nothing
    (the sockets are the service's: they are not for any local user to take)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to try as another user")
    (sock,) = _listeners(1)
    loop = asyncio.new_event_loop()
    exporter = sockxfer.SocketExporter()
    sockxfer.set_exported(lambda: [sock])
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    try:
        loop.call_soon_threadsafe(exporter.start, loop)
        assert _count_as(65534) == 0
        assert _count_as(0) == 1
    finally:
        loop.call_soon_threadsafe(exporter.stop)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        loop.close()
        sockxfer.set_exported(None)
        sock.close()


def _count_as(uid: int) -> int:
    """How many sockets a forked child running as `uid` gets from this process's exporter."""
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if uid:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            got = sockxfer.fetch_from_pids([parent], wait=0)
            os.write(w, str(len(got)).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 100)
    os.close(r)
    os.waitpid(pid, 0)
    return int(out or b"-1")


def _serving(port: int) -> bool:
    try:
        return get(port, "/ping", timeout=2)[0] == 200
    except OSError:
        return False


def _daemon(tracker, prog: list[str], cfg: str, pidfile: str, *extra: str) -> int:
    res = tracker.run([*prog, "-f", cfg, "-D", "-p", pidfile, *extra])
    assert res.returncode == 0, res.stderr
    (pid,) = read_pidfile(pidfile)
    tracker.add(pid)
    return pid


def test_x_takes_the_sockets_from_a_stats_socket(tracker, write_cfg, port, backend, tmp_path):
    """``-x <stats socket>`` (``expose-fd listeners``), without -sf: the new process serves on
    the old one's sockets (same inodes) while the old one still runs."""
    stats = str(tmp_path / "stats.sock")
    cfg = write_cfg(proxy_config(port, backend.port,
                                 global_extra=f"    stats socket {stats} mode 600 level admin expose-fd listeners"))
    old = _daemon(tracker, FASTLB, cfg, str(tmp_path / "a.pid"))
    wait_until(lambda: _serving(port), 15, what="the first process")
    inodes = listening_inodes(port)
    new = _daemon(tracker, FASTLB, cfg, str(tmp_path / "b.pid"), "-x", stats)
    wait_until(lambda: len(children(new)) == 2, 10, what="the new workers")
    time.sleep(0.5)
    assert alive(old) and listening_inodes(port) == inodes
    os.kill(old, signal.SIGUSR1)
    wait_until(lambda: not alive(old), 10, what="the old process to leave")
    assert listening_inodes(port) == inodes and _serving(port)


def test_x_failure_refuses_to_start(tracker, cfg, tmp_path):
    res = tracker.run([*FASTLB, "-f", cfg, "-db", "-x", str(tmp_path / "nothing.sock")])
    assert res.returncode == 1
    assert "Failed to connect to the old process socket" in res.stderr
    assert "Failed to get the sockets from the old process!" in res.stderr


def test_takeover_from_haproxy_under_load(tracker, write_cfg, backend, tmp_path):
    """Migration: a running haproxy 2.6 (``expose-fd listeners``) is replaced by fastlb with
    ``-x <its stats socket> -sf <its pid>`` under client load, without a failed request: fastlb
    serves on haproxy's own socket and haproxy leaves. (A stopping haproxy closes its idle
    keep-alive connections: the clients send such a request again, as HTTP clients do.)"""
    haproxy = haproxy_binary()
    port = free_port()
    stats = str(tmp_path / "h.sock")
    cfg = write_cfg(proxy_config(port, backend.port, nbthread=1,
                                 global_extra=f"    stats socket {stats} mode 600 level admin expose-fd listeners"))
    hpid = _daemon(tracker, [haproxy], cfg, str(tmp_path / "h.pid"))
    wait_until(lambda: _serving(port), 15, what="haproxy")
    (theirs,) = listening_inodes(port)
    with Load(port, new_conn=2, keepalive=2, max_seconds=40, retry_idle_close=True) as load:
        time.sleep(0.5)
        fpid = _daemon(tracker, FASTLB, cfg, str(tmp_path / "f.pid"), "-x", stats, "-sf", str(hpid))
        wait_until(lambda: not alive(hpid), 15, what="haproxy to leave")
        time.sleep(0.5)
        stats_ = load.stop()
    assert stats_.failures == [], stats_.failures[:10]
    assert stats_.ok > 20 and stats_.ok_keepalive > 20
    assert theirs in listening_inodes(port)
    assert len(children(fpid)) == 1


def test_haproxy_takes_over_from_fastlb(tracker, write_cfg, backend, tmp_path):
    """The other way: haproxy ``-x <fastlb's stats socket> -sf <fastlb pid>`` reuses fastlb's
    listening socket."""
    haproxy = haproxy_binary()
    port = free_port()
    stats = str(tmp_path / "f.sock")
    cfg = write_cfg(proxy_config(port, backend.port, nbthread=1,
                                 global_extra=f"    stats socket {stats} mode 600 level admin expose-fd listeners"))
    fpid = _daemon(tracker, FASTLB, cfg, str(tmp_path / "f.pid"))
    wait_until(lambda: _serving(port), 15, what="fastlb")
    (ours,) = listening_inodes(port)
    hpid = _daemon(tracker, [haproxy], cfg, str(tmp_path / "h.pid"), "-x", stats, "-sf", str(fpid))
    wait_until(lambda: not alive(fpid), 15, what="fastlb to leave")
    assert listening_inodes(port) == {ours}
    assert _serving(port)
    assert alive(hpid)
