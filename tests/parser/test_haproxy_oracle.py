"""The request corpus against a live HAProxy 2.6 (the behaviour oracle), over loopback.

haproxy runs in front of a tiny backend; each corpus request goes to haproxy on its own connection.
Where we accept, haproxy must forward (the backend's 200 comes back); where we refuse, haproxy
must answer the status our error maps to (400, 422, ...). HAPROXY_DIFFERENCES in http1_corpus.py
lists the cases where we are stricter on purpose; cases whose verdict is about a chunked body are
left out (haproxy has forwarded the head by then, its answer depends on timing).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
from http1_corpus import HAPROXY_DIFFERENCES, REQUESTS, Case

from fastlb import http1

BACKEND_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
CASE_TIMEOUT = 3.0


class Backend(threading.Thread):
    """Answers 200 as soon as a request head has arrived (or the client went quiet)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = False

    def run(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    @staticmethod
    def serve(conn: socket.socket) -> None:
        conn.settimeout(1.0)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.sendall(BACKEND_REPLY)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def haproxy_port():
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if not binary:
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    backend = Backend()
    backend.start()
    port = free_port()
    cfg = f"""
global
    maxconn 200
defaults
    mode http
    timeout connect 2s
    timeout client 2s
    timeout server 2s
    timeout http-request 2s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{backend.port}
"""
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        f.write(cfg)
    proc = subprocess.Popen([binary, "-db", "-q", "-f", f.name], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("haproxy did not start")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        backend.stop()
        os.unlink(f.name)


def haproxy_status(port: int, raw: bytes) -> int | None:
    """Status of the first response haproxy sends for raw, or None if it closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=CASE_TIMEOUT) as conn:
        conn.sendall(raw)
        data = b""
        deadline = time.monotonic() + CASE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                return http1.parse_response(data).status
            except http1.IncompleteMessage:
                pass
            try:
                chunk = conn.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    try:
        return http1.parse_response(data).status
    except http1.HttpParseError:
        return None


COMPARED = [c for c in REQUESTS if not isinstance(c.body, str) and c.name not in HAPROXY_DIFFERENCES]


@pytest.mark.parametrize("case", COMPARED, ids=[c.name for c in COMPARED])
def test_same_verdict_as_haproxy(haproxy_port: int, case: Case) -> None:
    try:
        http1.parse_request(case.raw)
        ours = 200
    except http1.InvalidMessage as exc:
        ours = exc.status
    assert haproxy_status(haproxy_port, case.raw) == ours


DIFFERENT = [c for c in REQUESTS if c.name in HAPROXY_DIFFERENCES]


@pytest.mark.parametrize("case", DIFFERENT, ids=[c.name for c in DIFFERENT])
def test_listed_differences_are_real(haproxy_port: int, case: Case) -> None:
    """Each listed difference exists: haproxy answers otherwise than we would."""
    try:
        http1.parse_request(case.raw)
        ours = 200
    except http1.InvalidMessage as exc:
        ours = exc.status
    assert haproxy_status(haproxy_port, case.raw) != ours, HAPROXY_DIFFERENCES[case.name]
