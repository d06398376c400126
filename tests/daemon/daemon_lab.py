"""Helpers of the daemon tests: an HTTP backend, fastlb processes started and tracked by pid,
clients that count failures, process-state probes.

Every process a test starts is remembered and killed (by pid) at the end of the test. Loops are
bounded in time. Traffic stays on 127.0.0.1.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FASTLB = [sys.executable, "-m", "fastlb"]


def haproxy_binary() -> str:
    import shutil

    import pytest

    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if not path:
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond: Callable[[], object], timeout: float, step: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def proxy_config(port: int, backend_port: int, *, nbthread: int = 2, global_extra: str = "",
                 frontend_extra: str = "") -> str:
    return f"""\
global
    nbthread {nbthread}
{global_extra}
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend fe
    bind 127.0.0.1:{port}
{frontend_extra}
    default_backend be

backend be
    server s1 127.0.0.1:{backend_port}
"""


# -- processes -----------------------------------------------------------------------------------

def proc_state(pid: int) -> str | None:
    """The state letter of `pid` in /proc (R, S, Z...), None when it does not exist. A daemon
    whose parent exited is adopted by init, which does not always reap: Z counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    return proc_state(pid) not in (None, "Z", "X")


def children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return [c for c in out if alive(c)]


def status_ids(pid: int) -> dict[str, list[int]]:
    """Uid/Gid/Groups lines of /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(x) for x in val.split()]
    return out


def listening_inodes(port: int) -> set[int]:
    """Inodes of the listening TCP sockets on 127.0.0.1:`port` (from /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                out.add(int(parts[9]))
    return out


def read_pidfile(path: str) -> list[int]:
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


@dataclass
class Tracker:
    """Processes started by a test: killed by pid when it ends."""

    pids: set[int] = field(default_factory=set)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def add(self, pid: int) -> None:
        self.pids.add(pid)
        for c in children(pid):
            self.pids.add(c)

    def popen(self, args: list[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        self.pids.add(p.pid)
        return p

    def run(self, args: list[str], timeout: float = 20, **kw) -> subprocess.CompletedProcess:
        """Run to completion (a ``-D`` start returns once the daemon is forked)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(args, timeout=timeout, check=False, **kw)

    def cleanup(self) -> None:
        for pid in list(self.pids):
            for c in children(pid):
                self.pids.add(c)
        for pid in self.pids:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()


# -- backend ---------------------------------------------------------------------------------------

class Backend:
    """A threaded HTTP/1.1 server: keep-alive, ``/slow/<ms>`` waits before answering, every
    answer carries its own port in the body and in ``X-Backend``."""

    def __init__(self, port: int | None = None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port or 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(30)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                close = any(h.lower().startswith("connection:") and "close" in h.lower() for h in lines[1:])
                if path.startswith("/slow/"):
                    time.sleep(int(path.split("/")[2]) / 1000.0)
                self.requests += 1
                body = f"ok {self.port} {path}\n".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Backend: %d\r\n%s\r\n%s" % (
                    len(body), self.port, b"Connection: close\r\n" if close else b"", body))
                if close:
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.stopping = True
        self.sock.close()


# -- clients ---------------------------------------------------------------------------------------

class HttpError(Exception):
    pass


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response from `sock` (Content-Length framing); raises HttpError on EOF before it."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise HttpError(f"connection closed after {len(buf)} bytes of response head")
        buf += data
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            raise HttpError("connection closed in the body")
        body += data
    buf[:] = body[length:]
    return status, headers, bytes(body[:length])


def get(port: int, path: str = "/", timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_response(s, bytearray())


@dataclass
class LoadStats:
    ok: int = 0
    ok_keepalive: int = 0
    reconnects: int = 0
    retried: int = 0  # requests sent again after an idle keep-alive connection was closed
    failures: list[str] = field(default_factory=list)


class Load:
    """Steady traffic: `new_conn` threads open a connection per request, `keepalive` threads
    send request after request on one connection (a new one only when the proxy says
    ``Connection: close``). Any reset, refusal, timeout, truncated or non-200 answer is a
    failure. Bounded by `max_seconds`."""

    def __init__(self, port: int, new_conn: int = 2, keepalive: int = 2, max_seconds: float = 120.0,
                 pause: float = 0.002, retry_idle_close: bool = False):
        self.port = port
        # RFC 9112 9.3.1: a client may send an idempotent request again when the server closed a
        # reused connection before any byte of the response (what haproxy does to idle
        # connections when it stops). fastlb's own tests leave this off: it never does that.
        self.retry_idle_close = retry_idle_close
        self.stats = LoadStats()
        self.lock = threading.Lock()
        self.stop_evt = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.pause = pause
        self.threads = [threading.Thread(target=self._new_conn, daemon=True) for _ in range(new_conn)]
        self.threads += [threading.Thread(target=self._keepalive, daemon=True) for _ in range(keepalive)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def running(self) -> bool:
        return not self.stop_evt.is_set() and time.monotonic() < self.deadline

    def stop(self) -> LoadStats:
        self.stop_evt.set()
        for t in self.threads:
            t.join(15)
        return self.stats

    def _fail(self, what: str) -> None:
        with self.lock:
            self.stats.failures.append(what)

    def _new_conn(self) -> None:
        n = 0
        while self.running():
            n += 1
            try:
                status, _h, body = get(self.port, f"/n{n}", timeout=10)
                if status != 200 or not body.startswith(b"ok "):
                    self._fail(f"new-conn: status {status} body {body[:60]!r}")
                else:
                    with self.lock:
                        self.stats.ok += 1
            except (OSError, HttpError) as exc:
                self._fail(f"new-conn: {exc!r}")
            time.sleep(self.pause)

    def _keepalive(self) -> None:
        sock = None
        buf = bytearray()
        n = 0
        served = 0  # answers on the current connection
        while self.running():
            n += 1
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    buf = bytearray()
                    served = 0
                sock.sendall(f"GET /k{n} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                try:
                    status, headers, body = read_response(sock, buf)
                except HttpError:
                    if not (self.retry_idle_close and served and not buf):
                        raise
                    sock.close()
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    buf = bytearray()
                    served = 0
                    with self.lock:
                        self.stats.retried += 1
                    sock.sendall(f"GET /k{n} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                    status, headers, body = read_response(sock, buf)
                served += 1
                if status != 200 or not body.startswith(b"ok "):
                    self._fail(f"keep-alive: status {status} body {body[:60]!r}")
                else:
                    with self.lock:
                        self.stats.ok_keepalive += 1
                if headers.get("connection", "").lower() == "close":
                    sock.close()
                    sock = None
                    with self.lock:
                        self.stats.reconnects += 1
            except (OSError, HttpError) as exc:
                self._fail(f"keep-alive: {exc!r}")
                if sock is not None:
                    sock.close()
                sock = None
            time.sleep(self.pause)
        if sock is not None:
            sock.close()


def stats_cmd(path: str, command: str, timeout: float = 5.0) -> str:
    """Send one command to a UNIX CLI socket, half-close, read the whole answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        out = bytearray()
        while True:
            data = s.recv(65536)
            if not data:
                break
            out += data
        return out.decode()
    finally:
        s.close()
