"""Test lab for health checks and the runtime API: controllable backends running in threads of
the test process, a syslog (UDP) receiver, and fastlb (or HAProxy, the oracle) started on a
configuration file.

Every wait is bounded in time; every server binds 127.0.0.1 only.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HAPROXY = "/usr/sbin/haproxy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred: Callable[[], object], timeout: float = 10.0, step: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class _ThreadingTCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Proxies close check connections with a reset: not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HttpBackend:
    """HTTP/1.1 server answering ``srv=<name>`` with a settable status; counts requests per path
    (``hits``), keeps the raw bytes of the last requests (``raw``) and when each request arrived
    with the status it got (``times``: (monotonic time, path, status))."""

    def __init__(self, name: str, port: int | None = None, status: int = 200, host: str = "127.0.0.1"):
        self.name = name
        self.host = host
        self.port = port or free_port()
        self.status = status
        self.reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}
        self.hits: dict[str, int] = {}
        self.raw: list[bytes] = []
        self.times: list[tuple[float, str, int]] = []
        self.active = 0  # requests being answered now, and the most at once
        self.max_active = 0
        self.delay = 0.0
        self.fail_prefix: str | None = None  # requests under this path get 500
        self.server: socketserver.TCPServer | None = None
        self.lock = threading.Lock()

    def traffic(self) -> int:
        """Requests other than health checks (paths not starting with /health)."""
        with self.lock:
            return sum(n for p, n in self.hits.items() if not p.startswith("/health") and p != "/")

    def start(self) -> HttpBackend:
        backend = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            return
                        head += chunk
                        if len(head) > 65536:
                            return
                    hdr, _, rest = head.partition(b"\r\n\r\n")
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", hdr)
                    need = int(m.group(1)) if m else 0
                    while len(rest) < need:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            break
                        rest += chunk
                    line = hdr.split(b"\r\n", 1)[0].decode("latin-1")
                    parts = line.split(" ")
                    path = parts[1] if len(parts) > 1 else "?"
                    status = backend.status
                    if backend.fail_prefix and path.startswith(backend.fail_prefix):
                        status = 500
                    with backend.lock:
                        backend.hits[path] = backend.hits.get(path, 0) + 1
                        backend.raw.append(head)
                        del backend.raw[:-20]
                        backend.times.append((time.monotonic(), path, status))
                        backend.active += 1
                        backend.max_active = max(backend.max_active, backend.active)
                    if backend.delay:
                        time.sleep(backend.delay)
                    with backend.lock:
                        backend.active -= 1
                    body = f"srv={backend.name} path={path}\n".encode()
                    reason = backend.reason.get(status, "Unknown")
                    keep = b"connection: close" not in hdr.lower() and parts[-1] == "HTTP/1.1"
                    resp = (f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
                            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n").encode() + body
                    if parts[0] == "HEAD":
                        resp = resp[: resp.index(b"\r\n\r\n") + 4]
                    try:
                        self.request.sendall(resp)
                    except OSError:
                        return
                    if not keep:
                        return

        self.server = _ThreadingTCP((self.host, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class AgentServer:
    """Answers every connection with ``reply`` (settable) and closes; records what it received."""

    def __init__(self, reply: str = "up\n", port: int | None = None):
        self.port = port or free_port()
        self.reply = reply
        self.received: list[bytes] = []
        self.server: socketserver.TCPServer | None = None

    def start(self) -> AgentServer:
        agent = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(0.2)
                try:
                    agent.received.append(self.request.recv(1024))
                except OSError:
                    agent.received.append(b"")
                self.request.sendall(agent.reply.encode())

        self.server = _ThreadingTCP(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class SyslogReceiver:
    """UDP syslog sink; ``lines`` are the decoded datagrams, ``stamped`` the same with the
    monotonic time each one arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self.stamped: list[tuple[float, str]] = []
        self.running = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while self.running:
            try:
                data, _ = self.sock.recvfrom(65536)
            except OSError:
                continue
            line = data.decode("utf-8", "replace")
            self.stamped.append((time.monotonic(), line))
            self.lines.append(line)

    def messages(self) -> list[str]:
        """The message part (after ``tag[pid]: ``) of every line."""
        out = []
        for line in list(self.lines):
            m = re.match(r"<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+\[\d+\]: (.*)\n$", line, re.DOTALL)
            if m:
                out.append(m.group(1))
        return out

    def wait(self, pattern: str, timeout: float = 10.0) -> str:
        rx = re.compile(pattern)

        def find() -> str | None:
            for line in list(self.lines):
                if rx.search(line):
                    return line
            return None

        return wait_for(find, timeout, what=f"syslog line matching {pattern!r}")

    def wait_stamped(self, pattern: str, timeout: float = 10.0) -> tuple[float, str]:
        """(arrival time, line) of the first line matching ``pattern``."""
        rx = re.compile(pattern)
        return wait_for(lambda: next((x for x in list(self.stamped) if rx.search(x[1])), None), timeout,
                        what=f"syslog line matching {pattern!r}")

    def close(self) -> None:
        self.running = False
        self.sock.close()


class Proc:
    """fastlb or haproxy running on a configuration, with its output collected."""

    def __init__(self, argv: list[str], sock_path: str | None, pass_fds: tuple[int, ...] = ()):
        self.sock_path = sock_path
        self.out: list[str] = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=ROOT, pass_fds=pass_fds)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)

    def output(self) -> str:
        return "".join(self.out)

    def wait_output(self, pattern: str, timeout: float = 10.0) -> str:
        rx = re.compile(pattern)
        return wait_for(lambda: next((line for line in list(self.out) if rx.search(line)), None), timeout,
                        what=f"output matching {pattern!r}; got:\n{self.output()}")

    def cli(self, command: str, path: str | None = None, timeout: float = 5.0) -> str:
        """One command on the stats socket, HAProxy's one-shot mode; the answer with its final
        empty line removed."""
        raw = cli_raw(path or self.sock_path, (command + "\n").encode(), timeout)
        text = raw.decode()
        return text.removesuffix("\n")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cli_raw(target: str | tuple[str, int] | None, data: bytes, timeout: float = 5.0,
            shut: bool = False) -> bytes:
    """Send ``data`` to a stats socket (path or (host, port)) and read until it closes."""
    if isinstance(target, tuple):
        s = socket.create_connection(target, timeout=timeout)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(target or "")
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = s.recv(1 << 20)
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def http_get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, str]:
    """One request on a new connection (so each one is balanced again)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read().decode("latin-1")
    finally:
        c.close()


def spread(port: int, n: int, path: str = "/x") -> dict[str, int]:
    """``n`` requests; how many each server answered (``status:<code>`` for errors)."""
    seen: dict[str, int] = {}
    for _ in range(n):
        status, body = http_get(port, path)
        key = (
            body.split()[0].split("=", 1)[1]
            if status == 200 and body.startswith("srv=")
            else f"status:{status}"
        )
        seen[key] = seen.get(key, 0) + 1
    return seen


class Lab:
    """Everything one test starts, stopped at the end."""

    def __init__(self, tmp_path) -> None:
        self.tmp = tmp_path
        self.items: list = []
        self.syslog = SyslogReceiver()
        self.items.append(self.syslog)

    def http(self, name: str, status: int = 200, port: int | None = None,
             host: str = "127.0.0.1") -> HttpBackend:
        b = HttpBackend(name, port, status, host).start()
        self.items.append(b)
        return b

    def agent(self, reply: str = "up\n") -> AgentServer:
        a = AgentServer(reply).start()
        self.items.append(a)
        return a

    def write(self, text: str, name: str = "fastlb.cfg") -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    def fastlb(
        self,
        cfg_text: str,
        sock: str | None = None,
        ready_port: int | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> Proc:
        cfg = self.write(cfg_text)
        p = Proc([sys.executable, "-m", "fastlb", "-f", cfg, "-db"], sock, pass_fds)
        self.items.append(p)
        self._wait_ready(p, sock, ready_port)
        return p

    def haproxy(self, cfg_text: str, sock: str | None = None, ready_port: int | None = None) -> Proc:
        if not os.path.exists(HAPROXY):
            pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
        cfg = self.write(cfg_text, "haproxy.cfg")
        p = Proc([HAPROXY, "-f", cfg, "-db"], sock)
        self.items.append(p)
        self._wait_ready(p, sock, ready_port)
        return p

    def _wait_ready(self, p: Proc, sock: str | None, port: int | None) -> None:
        def ready() -> bool:
            if p.proc.poll() is not None:
                raise RuntimeError(f"exited with {p.proc.returncode}:\n{p.output()}")
            try:
                if sock:
                    cli_raw(sock, b"show backend\n", 1.0)
                if port:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                return False
            return True

        wait_for(ready, 15.0, what="the proxy to listen")

    def close(self) -> None:
        for item in reversed(self.items):
            try:
                (item.close if hasattr(item, "close") else item.stop)()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on with the other items
                print(f"lab cleanup: {item!r}: {exc!r}")


@pytest.fixture
def lab(tmp_path):
    lb = Lab(tmp_path)
    yield lb
    lb.close()


def config(syslog_port: int, sock: str, body: str, nbthread: int = 2, extra_global: str = "") -> str:
    """A configuration with a syslog target, a stats socket and short timeouts around ``body``."""
    return f"""
global
    log 127.0.0.1:{syslog_port} local0
    stats socket {sock} mode 600 level admin
    nbthread {nbthread}
{extra_global}
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 2s
{body}
"""
