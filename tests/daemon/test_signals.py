"""Signals and background mode of a standalone fastlb, over real sockets."""
from __future__ import annotations

import os
import re
import signal
import socket
import time

import pytest
from daemon_lab import (
    FASTLB,
    alive,
    children,
    free_port,
    get,
    haproxy_binary,
    listening_inodes,
    proxy_config,
    read_pidfile,
    read_response,
    wait_until,
)


def _wait_serving(port: int, proc=None) -> None:
    def ok() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"fastlb exited: {proc.stderr.read()}")
        try:
            return get(port, "/ping", timeout=2)[0] == 200
        except OSError:
            return False

    wait_until(ok, 15, what=f"fastlb on port {port}")


def test_daemon_mode_detaches_and_writes_its_pid(tracker, cfg, port, backend, tmp_path):
    """``-D -p``: the command returns at once with status 0, the pidfile holds one pid: a
    session leader whose stdio is /dev/null and whose children are the workers; SIGUSR1 to
    that pid stops everything."""
    pidfile = str(tmp_path / "run" / "fastlb.pid")
    os.mkdir(tmp_path / "run")
    t0 = time.monotonic()
    res = tracker.run([*FASTLB, "-f", cfg, "-D", "-p", pidfile])
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 < 10
    pids = read_pidfile(pidfile)
    assert len(pids) == 1
    pid = pids[0]
    tracker.add(pid)
    _wait_serving(port)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert int(fields[3]) == pid  # session id: setsid() made it a session leader
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
    workers = children(pid)
    assert len(workers) == 2
    os.kill(pid, signal.SIGUSR1)
    wait_until(lambda: not alive(pid) and not any(alive(w) for w in workers), 10, what="the stop")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_daemon_mode_reports_errors_before_detaching(tracker, write_cfg, tmp_path, backend):
    """A configuration that cannot run fails in the foreground with a message and status 1:
    here the port is taken by a socket without SO_REUSEPORT."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        path = write_cfg(proxy_config(port, backend.port))
        pidfile = str(tmp_path / "fastlb.pid")
        res = tracker.run([*FASTLB, "-f", path, "-D", "-p", pidfile])
        assert res.returncode == 1
        assert "cannot bind socket" in res.stderr and f"127.0.0.1:{port}" in res.stderr
        assert not os.path.exists(pidfile)
    finally:
        holder.close()


def test_daemon_mode_fails_without_forking_when_the_pidfile_cannot_be_written(tracker, cfg, port, tmp_path):
    res = tracker.run([*FASTLB, "-f", cfg, "-D", "-p", str(tmp_path / "no" / "such" / "dir" / "f.pid")])
    assert res.returncode == 1
    assert "Cannot create pidfile" in res.stderr
    time.sleep(0.5)
    with pytest.raises(OSError):  # no daemon was left behind
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_usr1_lets_in_flight_requests_finish(tracker, cfg, port, backend):
    """SIGUSR1: the listeners close at once (new connections are refused), the request in
    progress gets its whole answer, then the processes exit."""
    proc = tracker.popen([*FASTLB, "-f", cfg, "-db"])
    _wait_serving(port, proc)
    workers = children(proc.pid)
    slow = []
    for _ in range(4):  # on both workers, whichever the kernel picks
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        slow.append(s)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGUSR1)
    time.sleep(0.3)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert proc.poll() is None
    for s in slow:
        status, headers, body = read_response(s, bytearray())
        assert status == 200 and body.startswith(b"ok ") and b"/slow/1500" in body
        assert headers.get("connection") == "close"  # not kept alive by a stopping process
        s.close()
    assert proc.wait(10) == 0
    for w in workers:
        assert not alive(w)
    err = proc.stderr.read()
    assert re.search(r"\[WARNING\]  \(\d+\) : Proxy fe stopped \(cumulated conns: FE: \d+, BE: 0\)\.", err)


def test_hard_stop_after_bounds_the_drain(tracker, write_cfg, port, backend):
    """``hard-stop-after 1s``: a soft stop that still has a 10 s request after one second
    becomes a hard stop."""
    path = write_cfg(proxy_config(port, backend.port, global_extra="    hard-stop-after 1s"))
    proc = tracker.popen([*FASTLB, "-f", path, "-db"])
    _wait_serving(port, proc)
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"GET /slow/10000 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.3)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGUSR1)
    assert proc.wait(8) == 0
    took = time.monotonic() - t0
    assert 0.8 < took < 5, took
    assert s.recv(100) == b""
    s.close()
    assert "soft-stop running for too long, performing a hard-stop." in proc.stderr.read()


PAUSE_CFG = """\
global
    nbthread {nbthread}
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
listen both
    bind 127.0.0.1:{port2}
    server s2 127.0.0.1:{b1}
frontend v6
    bind [::1]:{port3}
    default_backend be
frontend fu
    bind unix@{usock}
    default_backend be
backend be
    server s1 127.0.0.1:{b1}
"""


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False  # the SYN met the listener while it was being shut down: not refused yet
    return False


def _pause_lines(path: str) -> list[str]:
    with open(path) as f:
        return [m.group(1) for m in re.finditer(r"\[WARNING\]  \(\d+\) : ((?:Paused|Resumed) .*)", f.read())]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("impl", ["fastlb", "haproxy"])
def test_ttou_pauses_and_ttin_resumes_the_listeners(tracker, write_cfg, backend, tmp_path, impl):
    """SIGTTOU: new connections are refused (HAProxy disconnects its TCP listeners), an open one
    is still served, each frontend says "Paused frontend <name>." ("proxy" for a listen section)
    in HAProxy's order; SIGTTIN: served again, "Resumed ...". Same run with HAProxy 2.6."""
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    prog = FASTLB if impl == "fastlb" else [haproxy_binary()]
    port, port2, port3 = free_port(), free_port(), free_port()
    usock = str(tmp_path / f"{impl}-fu.sock")
    path = write_cfg(PAUSE_CFG.format(nbthread=1, sock=tmp_path / f"{impl}.sock", port=port, port2=port2,
                                      port3=port3, usock=usock, b1=backend.port), name=f"{impl}.cfg")
    err = str(tmp_path / f"{impl}.err")
    with open(err, "w") as errf:
        proc = tracker.popen([*prog, "-f", path, "-db"], stderr=errf)
    _wait_serving(port, proc)
    kept = socket.create_connection(("127.0.0.1", port), timeout=5)
    buf = bytearray()
    kept.sendall(b"GET /before HTTP/1.1\r\nHost: t\r\n\r\n")
    assert read_response(kept, buf)[0] == 200
    os.kill(proc.pid, signal.SIGTTOU)
    wait_until(lambda: _refused(port) and _refused(port2), 5, what="refused connections")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", port3), timeout=2)
    kept.sendall(b"GET /during HTTP/1.1\r\nHost: t\r\n\r\n")   # an established connection lives on
    status, _h, body = read_response(kept, buf)
    assert status == 200 and b"/during" in body
    u = socket.socket(socket.AF_UNIX)   # HAProxy 2.6 does not pause UNIX listeners
    u.settimeout(5)
    u.connect(usock)
    u.sendall(b"GET /unix HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    status, _h, body = read_response(u, bytearray())
    u.close()
    assert status == 200 and b"/unix" in body
    os.kill(proc.pid, signal.SIGTTIN)
    wait_until(lambda: not _refused(port), 5, what="the resume")
    for p in (port, port2):
        assert get(p, "/after")[0] == 200
    kept.close()
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(10)
    assert _pause_lines(err) == [
        "Paused frontend v6.", "Paused frontend fe.", "Paused proxy both.", "Paused frontend GLOBAL.",
        "Paused frontend fu.", "Resumed frontend v6.", "Resumed frontend fe.", "Resumed proxy both.",
        "Resumed frontend GLOBAL.", "Resumed frontend fu.",
    ]


def test_ttou_and_ttin_reach_the_workers_of_a_master_worker(tracker, write_cfg, backend, tmp_path):
    """``-W``, 2 workers: SIGTTOU sent to the master makes every worker's SO_REUSEPORT socket
    refuse (none is left listening); SIGTTIN: the same sockets listen again and serve."""
    port = free_port()
    text = PAUSE_CFG.split("listen both")[0] + "backend be\n" + PAUSE_CFG.split("\nbackend be\n")[1]
    path = write_cfg(text.format(nbthread=2, sock=tmp_path / "w.sock", port=port, b1=backend.port))
    err = str(tmp_path / "w.err")
    with open(err, "w") as errf:
        proc = tracker.popen([*FASTLB, "-W", "-f", path], stderr=errf)
    _wait_serving(port, proc)
    wait_until(lambda: len(children(proc.pid)) == 2, 10, what="the workers")
    sockets = listening_inodes(port)
    assert len(sockets) == 2
    os.kill(proc.pid, signal.SIGTTOU)
    wait_until(lambda: not listening_inodes(port), 5, what="no listening socket")
    for _ in range(6):
        assert _refused(port)
    os.kill(proc.pid, signal.SIGTTIN)
    wait_until(lambda: listening_inodes(port) == sockets, 5, what="both sockets listening again")
    for i in range(8):
        status, _h, body = get(port, f"/resumed{i}")
        assert status == 200 and f"/resumed{i}".encode() in body
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0
    assert _pause_lines(err) == ["Paused frontend fe.", "Paused frontend GLOBAL.",
                                 "Resumed frontend fe.", "Resumed frontend GLOBAL."]


def test_term_and_int_stop_at_once(tracker, cfg, port, backend):
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = tracker.popen([*FASTLB, "-f", cfg, "-db"])
        _wait_serving(port, proc)
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"GET /slow/8000 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        t0 = time.monotonic()
        os.kill(proc.pid, sig)
        assert proc.wait(5) == 0
        assert time.monotonic() - t0 < 4
        assert s.recv(100) == b""
        s.close()
        proc.stderr.close()
        proc.stdout.close()


def _sighup_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        m = re.match(r"\[WARNING\]  \(\d+\) : (SIGHUP.*)", line)
        if m and "GLOBAL" not in line and "<HTTPCLIENT>" not in line:
            out.append(m.group(1))
    return out


def test_sighup_dumps_states_like_haproxy(tracker, write_cfg, port, backend):
    """SIGHUP: the state dump has HAProxy 2.6's lines (compared with haproxy itself on the
    same configuration, without traffic so that the counters agree)."""
    haproxy = haproxy_binary()
    text = """\
global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{b1}
    server s2 127.0.0.1:{b1} backup
backend empty
listen both
    bind 127.0.0.1:{port2}
    server s3 127.0.0.1:{b1} disabled
"""
    outputs = []
    for prog, p1, p2 in ((FASTLB, port, free_port()), ([haproxy], free_port(), free_port())):
        path = write_cfg(text.format(port=p1, port2=p2, b1=backend.port), name=f"h{p1}.cfg")
        proc = tracker.popen([*prog, "-f", path, "-db"])
        _wait_serving(p1, proc)  # one request answered: the workers run (same traffic for both)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGHUP)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
        outputs.append(_sighup_lines(proc.stderr.read()))
    ours, theirs = outputs
    assert ours and ours == theirs


def test_sighup_dump_reaches_the_log_targets_like_haproxy(tracker, write_cfg, backend):
    """SIGHUP: every proxy's log targets get the dump of that proxy, opened by "SIGHUP received,
    dumping servers states for proxy X." (compared with haproxy's datagrams on the same
    configuration, minus its internal <HTTPCLIENT> proxy)."""
    haproxy = haproxy_binary()
    received = []
    for prog in (FASTLB, [haproxy]):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.5)
        p1 = free_port()
        text = f"""\
global
    log 127.0.0.1:{udp.getsockname()[1]} local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{p1}
    default_backend be
backend be
    server s1 127.0.0.1:{backend.port}
    server s2 127.0.0.1:{backend.port} backup
"""
        path = write_cfg(text, name=f"l{p1}.cfg")
        proc = tracker.popen([*prog, "-f", path, "-db", "-q"])
        _wait_serving(p1, proc)  # one request answered: the workers run (same traffic for both)
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGHUP)
        lines = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                data = udp.recv(4096).decode()
            except TimeoutError:
                if lines:
                    break
                continue
            msg = data.split("]: ", 1)[1]
            if "SIGHUP" in msg and "<HTTPCLIENT>" not in msg:  # (not the probe request's log)
                assert data.startswith("<133>") and data.endswith("\n"), data  # local0.notice
                lines.append(msg)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
        udp.close()
        received.append(lines)
    ours, theirs = received
    assert "SIGHUP received, dumping servers states for proxy be.\n" in ours
    assert ours == theirs
