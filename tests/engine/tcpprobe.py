"""Timeline of one mode-tcp session through a proxy: when the client and the server each see the
end of the other direction (EOF) or a reset, and when the proxy no longer holds a socket to the
server. The backend runs in a thread of the test process so that its events share the clock."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
from enginelib import free_port, wait_port

HORIZON = 6.0  # seconds a scenario may last


def owned_sockets_to(port: int) -> int:
    out = subprocess.run(["ss", "-tnpH", f"( dport = :{port} )"], capture_output=True, text=True,
                         check=False).stdout
    return sum(1 for line in out.splitlines() if "users:" in line and "TIME-WAIT" not in line)


class TcpTimeline:
    """Run one session. `server`: greet (send b"hi"), fin_at=T (half-close after T s), push (send
    as fast as taken). `client`: fin_at=T (half-close), noread (never read)."""

    def __init__(self, proxy_port: int, backend: socket.socket):
        self.proxy_port = proxy_port
        self.backend = backend
        self.events: dict[str, float] = {}
        self.t0 = 0.0

    def mark(self, name: str) -> None:
        self.events.setdefault(name, round(time.monotonic() - self.t0, 2))

    def _server(self, conn: socket.socket, greet: bool, fin_at: float | None, push: bool) -> None:
        conn.settimeout(0.02)
        if greet:
            conn.sendall(b"hi")
        block = b"p" * 65536
        while time.monotonic() - self.t0 < HORIZON:
            if fin_at is not None and time.monotonic() - self.t0 >= fin_at:
                conn.shutdown(socket.SHUT_WR)
                fin_at = None
            try:
                if push:
                    conn.send(block)
                d = conn.recv(65536)
                if not d:
                    self.mark("srv_eof")
                    time.sleep(0.02)
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:
                self.mark("srv_reset")
                break
        conn.close()

    def warm_up(self) -> None:
        w = socket.create_connection(("127.0.0.1", self.proxy_port), timeout=5)
        w.sendall(b"warm")
        while True:
            conn = self.backend.accept()[0]
            conn.settimeout(5)
            if conn.recv(4) == b"warm":
                break
            conn.close()          # a late probe: the proxy connected for a client already gone
        conn.close()
        w.close()

    def run(self, *, greet: bool = False, server_fin_at: float | None = None, push: bool = False,
            client_fin_at: float | None = None, noread: bool = False) -> dict[str, float]:
        # bound but not listening until now: the proxy's readiness probe found no server; a
        # warm-up session then flushes any probe the proxy had not handled yet (a slow start)
        self.backend.listen(8)
        self.backend.settimeout(5)
        self.warm_up()
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", self.proxy_port))
        self.t0 = time.monotonic()
        conn = self.backend.accept()[0]
        th = threading.Thread(target=self._server, args=(conn, greet, server_fin_at, push), daemon=True)
        th.start()
        c.settimeout(0.02)
        bport = self.backend.getsockname()[1]
        seen = False
        while time.monotonic() - self.t0 < HORIZON:
            if client_fin_at is not None and time.monotonic() - self.t0 >= client_fin_at:
                c.shutdown(socket.SHUT_WR)
                client_fin_at = None
            if not noread and "cli_eof" not in self.events:
                try:
                    if not c.recv(65536):
                        self.mark("cli_eof")
                except TimeoutError:
                    pass
                except OSError:
                    self.mark("cli_reset")
            if owned_sockets_to(bport):
                seen = True
            elif seen:
                self.mark("closed")
                if not noread and "cli_eof" not in self.events:
                    c.settimeout(0.5)
                    try:
                        if not c.recv(65536):
                            self.mark("cli_eof")
                    except OSError:
                        self.mark("cli_reset")
                break
            time.sleep(0.02)
        c.close()
        th.join(HORIZON)
        return self.events


@pytest.fixture(params=["fastlb", "haproxy"])
def tcp_proxy(request, run_cfg, tmp_path):
    """start(timeouts: str) -> TcpTimeline, for fastlb, then for HAProxy 2.6 (the reference)."""
    procs = []

    def start(timeouts: str, extra: str = "") -> TcpTimeline:
        backend = socket.socket()
        backend.bind(("127.0.0.1", 0))
        port = free_port()
        lines = "\n".join(f"    timeout {t.strip()}" for t in timeouts.split(","))
        cfg = (f"global\n    nbthread 1\n{extra}\ndefaults\n    mode tcp\n    retries 0\n    timeout connect 1s\n{lines}\n"
               f"listen l\n    bind 127.0.0.1:{port}\n    server s 127.0.0.1:{backend.getsockname()[1]}\n")
        if request.param == "fastlb":
            run_cfg(cfg, port)
        else:
            path = tmp_path / f"haproxy{len(procs)}.cfg"
            path.write_text(cfg)
            proc = subprocess.Popen(["haproxy", "-f", str(path), "-db"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            procs.append(proc)
            wait_port(port, proc=proc)
        time.sleep(0.2)
        return TcpTimeline(port, backend)

    if request.param == "haproxy":
        import shutil
        if shutil.which("haproxy") is None:
            pytest.skip("haproxy (the reference) is not installed")
    if sys.platform != "linux":
        pytest.skip("uses ss(8)")
    yield start
    for p in procs:
        p.terminate()
        p.communicate(timeout=10)
