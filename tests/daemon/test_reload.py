"""Reloads under load: the operations of the mission (``-D -p pidfile -sf $(cat pidfile)``,
``-st``, master-worker SIGUSR2), over real sockets with a steady client load."""
from __future__ import annotations

import os
import signal
import time

from daemon_lab import (
    FASTLB,
    Load,
    alive,
    children,
    get,
    listening_inodes,
    read_pidfile,
    stats_cmd,
    wait_until,
)

RELOADS = 20


def start_daemon(tracker, cfg: str, pidfile: str, *extra: str) -> int:
    """``fastlb -f cfg -D -p pidfile [extra]``; returns the pid the pidfile names."""
    before = read_pidfile(pidfile)
    res = tracker.run([*FASTLB, "-f", cfg, "-D", "-p", pidfile, *extra])
    assert res.returncode == 0, res.stderr
    pids = read_pidfile(pidfile)
    assert len(pids) == 1 and pids != before, pids
    tracker.add(pids[0])
    return pids[0]


def wait_serving(port: int, timeout: float = 15.0) -> None:
    wait_until(lambda: _answers(port), timeout, what=f"an answer on port {port}")


def _answers(port: int) -> bool:
    try:
        return get(port, "/ping", timeout=2)[0] == 200
    except OSError:
        return False


def test_twenty_sf_reloads_under_load_lose_nothing(tracker, cfg, port, backend, tmp_path):
    """20 x ``-D -p pidfile -sf $(cat pidfile)`` while clients open new connections and reuse
    keep-alive ones: no failed request, no reset; every old process drains and exits; the
    listening sockets are the same ones all along (handed over, never re-created)."""
    pidfile = str(tmp_path / "fastlb.pid")
    pid = start_daemon(tracker, cfg, pidfile)
    wait_serving(port)
    inodes = listening_inodes(port)
    assert len(inodes) == 2  # one SO_REUSEPORT socket per worker
    old_pids = []
    with Load(port, new_conn=2, keepalive=2, max_seconds=100) as load:
        time.sleep(0.3)
        for _ in range(RELOADS):
            old = pid
            old_workers = children(old)
            pid = start_daemon(tracker, cfg, pidfile, "-sf", str(old))
            # the old master finishes once its streams are done: keep-alive clients are told
            # "Connection: close" on their next request, so this is quick
            wait_until(lambda o=old: not alive(o), 15, what=f"old master {old} to exit")
            for w in old_workers:
                wait_until(lambda w=w: not alive(w), 5, what=f"old worker {w} to exit")
            old_pids.append(old)
            assert listening_inodes(port) == inodes
        time.sleep(0.3)
        stats = load.stop()
    assert stats.failures == [], stats.failures[:10]
    assert stats.ok > 100 and stats.ok_keepalive > 100, stats
    # keep-alive clients moved to the new processes because the old ones closed after a response
    assert stats.reconnects >= RELOADS
    assert alive(pid) and len(children(pid)) == 2
    assert not any(alive(p) for p in old_pids)


def test_st_stops_the_old_process_at_once(tracker, cfg, port, backend, tmp_path):
    """``-st``: the old process is terminated without waiting for its streams (a request in
    progress on it is cut), and the new one serves."""
    import socket

    pidfile = str(tmp_path / "fastlb.pid")
    old = start_daemon(tracker, cfg, pidfile)
    wait_serving(port)
    old_workers = children(old)
    slow = socket.create_connection(("127.0.0.1", port), timeout=20)
    slow.sendall(b"GET /slow/8000 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.3)
    t0 = time.monotonic()
    new = start_daemon(tracker, cfg, pidfile, "-st", str(old))
    wait_until(lambda: not alive(old), 5, what="the old master to exit")
    for w in old_workers:
        wait_until(lambda w=w: not alive(w), 5, what="the old workers to exit")
    assert time.monotonic() - t0 < 6  # well before the 8 s the request needed
    assert slow.recv(100) == b""  # cut, no answer
    slow.close()
    assert get(port)[0] == 200
    assert alive(new)


def test_sf_old_process_finishes_in_flight_request(tracker, cfg, port, backend, tmp_path):
    """``-sf``: a request in progress on the old process completes; the old process exits right
    after, while the new one already serves."""
    import socket

    from daemon_lab import read_response

    pidfile = str(tmp_path / "fastlb.pid")
    old = start_daemon(tracker, cfg, pidfile)
    wait_serving(port)
    slow = socket.create_connection(("127.0.0.1", port), timeout=20)
    slow.sendall(b"GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.2)
    new = start_daemon(tracker, cfg, pidfile, "-sf", str(old))
    wait_serving(port)
    assert alive(old)  # still finishing the slow request
    status, headers, body = read_response(slow, bytearray())
    assert status == 200 and body.startswith(b"ok ")
    assert headers.get("connection") == "close"
    slow.close()
    wait_until(lambda: not alive(old), 5, what="the old master to exit")
    assert alive(new)


def test_master_worker_usr2_reloads_under_load(tracker, cfg, port, backend, tmp_path):
    """``-W``: SIGUSR2 and the master CLI's ``reload`` re-execute the master (same pid), new
    workers take the same sockets, the old ones drain and leave; no failed request."""
    sock = str(tmp_path / "master.sock")
    proc = tracker.popen([*FASTLB, "-W", "-f", cfg, "-S", sock])
    wait_serving(port)
    master = proc.pid
    inodes = listening_inodes(port)
    first_workers = set(children(master))
    assert len(first_workers) == 2
    seen = set(first_workers)
    with Load(port, new_conn=2, keepalive=2, max_seconds=60) as load:
        time.sleep(0.3)
        for i in range(8):
            before = set(children(master))
            if i % 2:
                assert stats_cmd(sock, "reload") == ""
            else:
                os.kill(master, signal.SIGUSR2)
            wait_until(lambda b=before: not (set(children(master)) & b) and len(children(master)) == 2,
                       20, what="the workers to be replaced")
            seen |= set(children(master))
            assert listening_inodes(port) == inodes
        stats = load.stop()
    assert stats.failures == [], stats.failures[:10]
    assert stats.ok > 50 and stats.ok_keepalive > 50
    assert len(seen) == 2 * 9
    table = stats_cmd(sock, "show proc")
    assert f"{master}" in table and "master          8 [failed: 0]" in table
    os.kill(master, signal.SIGTERM)
    assert proc.wait(10) == 0
    err = proc.stderr.read()
    assert err.count("Loading success.") == 9
    assert "All workers exited. Exiting... (0)" in err
