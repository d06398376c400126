"""Helpers of the stats and logs black-box tests: ports, an HTTP backend process, fastlb started
on a configuration file, plain HTTP requests and a UDP syslog receiver."""
from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}:\n{out}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


class Process:
    """A child process stopped (SIGTERM, then SIGKILL) at the end of the test."""

    def __init__(self, args: list[str]):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stdout.read() if self.proc.stdout else ""


def start_http_backends(n: int) -> tuple[Process, list[int]]:
    ports = [free_port() for _ in range(n)]
    p = Process([sys.executable, os.path.join(HERE, "http_backend.py"), *map(str, ports)])
    for port in ports:
        wait_port(port, p.proc)
    return p, ports


def start_proxy(cmd: list[str], cfg_path: str, port: int) -> Process:
    p = Process([*cmd, "-f", cfg_path, "-db"])
    wait_port(port, p.proc)
    return p


def http(port: int, method: str = "GET", target: str = "/", *, headers: dict[str, str] | None = None,
         body: bytes = b"", auth: tuple[str, str] | None = None, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """One request on a new connection (Connection: close); (status, headers, body)."""
    hdrs = {"Host": f"127.0.0.1:{port}", "Connection": "close", **(headers or {})}
    if auth:
        hdrs["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    if body or method == "POST":
        hdrs["Content-Length"] = str(len(body))
    req = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req.encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    out_headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        out_headers[k.strip().lower()] = v.strip()
    if "content-length" in out_headers:
        rest = rest[:int(out_headers["content-length"])]
    elif out_headers.get("transfer-encoding", "").lower() == "chunked":
        rest = dechunk(rest)
    return status, out_headers, rest


def dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


class SyslogReceiver:
    """A UDP socket collecting syslog datagrams."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.messages: list[bytes] = []

    def collect(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Wait until `count` messages arrived (or the timeout), return all received so far."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                break
            self.messages.append(data)
        return list(self.messages)

    def close(self) -> None:
        self.sock.close()


class Stack:
    """HTTP backends + one proxy (fastlb or haproxy) on a configuration template, formatted with
    {b0}, {b1}... (backend ports), {p0}, {p1}... (free ports for the proxy) and `extra` values."""

    def __init__(self, tmp_path, default_cmd: list[str]):
        self.tmp_path = tmp_path
        self.default_cmd = default_cmd
        self.started: list[Process] = []

    def start(self, template: str, backends: int = 2, ports: int = 2, cmd: list[str] | None = None,
              wait: int = 0, **extra) -> tuple[Process, dict]:
        be_proc, be_ports = start_http_backends(backends) if backends else (None, [])
        if be_proc is not None:
            self.started.append(be_proc)
        fe_ports = [free_port() for _ in range(ports)]
        values = {f"b{i}": p for i, p in enumerate(be_ports)} | {f"p{i}": p for i, p in enumerate(fe_ports)}
        values.update(extra)
        cfg = self.tmp_path / f"proxy{len(self.started)}.cfg"
        cfg.write_text(template.format(**values))
        proc = start_proxy(cmd or self.default_cmd, str(cfg), fe_ports[wait])
        self.started.append(proc)
        return proc, values

    def stop(self) -> None:
        for p in reversed(self.started):
            p.stop()


class ThreadBackend:
    """HTTP/1.1 backend in a thread: answers 200 after `delay` seconds; records the peer address
    and the request head of every request."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.seen: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c, peer), daemon=True).start()

    def _serve(self, c: socket.socket, peer: tuple) -> None:
        buf = b""
        with c:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        d = c.recv(65536)
                    except OSError:
                        return
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                with self.lock:
                    self.seen.append((f"{peer[0]}:{peer[1]}", head))
                if self.delay:
                    time.sleep(self.delay)
                close = b"connection: close" in head.lower()
                status = b"503 Service Unavailable" if b" /status/503 " in head else b"200 OK"
                try:
                    c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 3\r\n"
                              + (b"Connection: close\r\n" if close else b"") + b"\r\nok\n")
                except OSError:
                    return
                if close:
                    return

    def close(self) -> None:
        self.stopping = True
        self.sock.close()


def cli(path: str, command: str) -> str:
    """One command on a stats socket (UNIX path), its whole answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def show_info(path: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in cli(path, "show info").splitlines() if ": " in line)
