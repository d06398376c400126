"""Helpers and fixtures for black-box engine tests: real backend servers in a helper process, and fastlb
started on a configuration."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = os.path.join(HERE, "backends.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def syn_dropping_port() -> Iterator[int]:
    """A port whose listener has a full accept queue (backlog 0 and four pending connects): the
    kernel drops every further SYN, so a connection attempt hangs until its timeout."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    try:
        for _ in range(4):
            f = socket.socket()
            fillers.append(f)
            f.setblocking(False)
            try:
                f.connect(full.getsockname())
            except BlockingIOError:
                pass
        yield full.getsockname()[1]
    finally:
        for f in fillers:
            f.close()
        full.close()


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}:\n{out}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port}")


class Backends:
    """Backend servers (see backends.py) run in one child process."""

    def __init__(self, specs: list[str]):
        self.ports = [free_port() for _ in specs]
        args = [f"{kind}:{port}" for kind, port in zip(specs, self.ports)]
        self.proc = subprocess.Popen([sys.executable, BACKENDS, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        for p in self.ports:
            if not specs[self.ports.index(p)].startswith("refuse"):
                wait_port(p, proc=self.proc)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def backends():
    started = []

    def start(*specs: str) -> Backends:
        b = Backends(list(specs))
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


class Proxy:
    """A running fastlb (master + workers) on a configuration."""

    def __init__(self, proc: subprocess.Popen, port: int | None):
        self.proc = proc
        self.port = port

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stdout.read() if self.proc.stdout else ""


@pytest.fixture
def run_model(tmp_path):
    """Start fastlb on a configuration built with fastlb.config.model (Python source text that
    evaluates to a Config), on the given port."""
    proxies = []

    def start(model_src: str, port: int) -> Proxy:
        script = tmp_path / f"run_{len(proxies)}.py"
        script.write_text(textwrap.dedent(f"""
            import sys
            from types import SimpleNamespace
            from fastlb.config.model import *
            from fastlb.runtime.process import run
            cfg = {model_src}
            sys.exit(run(cfg, SimpleNamespace(foreground=True, quiet=False)))
        """))
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        wait_port(port, proc=proc)
        p = Proxy(proc, port)
        proxies.append(p)
        return p

    yield start
    for p in proxies:
        p.stop()


@pytest.fixture
def run_cfg(tmp_path):
    """Start `fastlb -f <file> -db` on a configuration text; waits for `port` to listen."""
    proxies = []

    def start(text: str, port: int, extra_args: tuple[str, ...] = ()) -> Proxy:
        cfg = tmp_path / f"fastlb_{len(proxies)}.cfg"
        cfg.write_text(textwrap.dedent(text))
        proc = subprocess.Popen([sys.executable, "-m", "fastlb", "-f", str(cfg), "-db", *extra_args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_port(port, proc=proc)
        p = Proxy(proc, port)
        proxies.append(p)
        return p

    yield start
    for p in proxies:
        out = p.stop()
        if out.strip():
            print(f"--- fastlb output (port {p.port}) ---\n{out}")  # shown by pytest when a test fails


class HttpResponse:
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, raw_head: bytes):
        self.status, self.reason, self.headers, self.body, self.raw_head = status, reason, headers, body, raw_head

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class RawClient:
    """An HTTP/1.1 client over one socket, reading exactly one response per call."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        d = self.sock.recv(1 << 20)
        if not d:
            return False
        self.buf += d
        return True

    def read_response(self, head_request: bool = False) -> HttpResponse:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a response head: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        _, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = [tuple(x.split(":", 1)) for x in lines[1:]]
        headers = [(k.strip(), v.strip()) for k, v in headers]
        resp = HttpResponse(int(status), reason, headers, b"", head)
        if head_request or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        if te and te.lower().endswith("chunked"):
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
            resp.body = body
        elif cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                if not self._fill():
                    raise ConnectionError("closed in the body")
            resp.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def request(self, method: str = "GET", path: str = "/echo", headers: dict | None = None, body: bytes = b"",
                version: str = "HTTP/1.1") -> HttpResponse:
        h = {"Host": "test"}
        h.update(headers or {})
        if body and "Content-Length" not in h and "Transfer-Encoding" not in h:
            h["Content-Length"] = str(len(body))
        head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.send(head.encode() + body)
        return self.read_response(head_request=method == "HEAD")

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, TimeoutError, socket.timeout):
            return False

    def close(self) -> None:
        self.sock.close()


def http_cfg(port: int, servers: list[int], *, backend_extra: str = "", frontend_extra: str = "",
             defaults_extra: str = "", global_extra: str = "", nbthread: int = 1) -> str:
    srv = "\n".join(f"    server s{i + 1} 127.0.0.1:{p}" for i, p in enumerate(servers))
    return f"""
global
    nbthread {nbthread}
    maxconn 2000
{global_extra}
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
{defaults_extra}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
{frontend_extra}
backend be
{backend_extra}
{srv}
"""
